/*
 * fsck.h: compare the index with the segment files on disk, repair what is safe, or rebuild the
 * index from the files alone.
 *
 * The index is authoritative, but files can be damaged, removed or added behind camvault's back
 * (a disk error, a careless operator, someone altering evidence). fsck finds every disagreement
 * and names the file. It never deletes a file that holds footage: what cannot be indexed is
 * moved to ROOT/quarantine/, and a record whose file was altered stays as it is (rewriting the
 * record to match the file would launder tampering).
 *
 * Findings, one report line each, "<path relative to ROOT>: <what>":
 *   - "file without record ..."       a segment file no record names (valid or not)
 *   - "not a segment file"            anything else under ROOT/volumes/ (lost+found excepted)
 *   - "record without file ..."       a segment record whose file is missing
 *   - "truncated: index says N bytes, file has M", "size mismatch: ..." (file longer)
 *   - "hash mismatch: index says <sha256>, file is <sha256>"
 *   - "not a readable segment: ..."   the file matches its record but the reader rejects it
 *   - "record disagrees with the file: ..."   start, end or frames differ from the file's scan
 *   - "overlaps <previous path> by N ms"      a camera's records overlap by more than 100 ms
 * Not findings: the file each camera is writing (its pending file, when newer than every
 * record of the camera), and files whose deletion is queued (`deleting`: tombstone committed,
 * unlink not yet done; retention finishes them, crash-safely, on its next pass). A tombstoned
 * file that is not queued is a file without record.
 *
 * Counts: findings counts problems found; repaired counts those fixed. A run leaves
 * findings - repaired problems, which is what `camvault fsck` turns into its exit status.
 * Lines that only say what was done (finishing a queued deletion, "index rebuilt") are not
 * counted.
 *
 * Thread rules: one call at a time per data root; the report callback runs on the calling thread.
 */
#ifndef IDX_FSCK_H
#define IDX_FSCK_H

#include <stddef.h>

#include "common/error.h"

enum idx_fsck_mode {
    /*
     * Read-only; safe alongside a running recorder and server: reads in short transactions,
     * every "missing" or "unknown" answer checked again in a fresh one, and while another
     * process has the index open, a file newer than its camera's records and modified in the
     * last minute counts as being written (the recorder notes pending files via a queue).
     */
    IDX_FSCK_CHECK,
    /*
     * Check, then fix what is safe, each fix in its own write transaction:
     *   queued deletions are finished (unlink, then forget);
     *   a file without record newer than its camera's newest record is indexed
     *   (idx_recover_segment: a torn tail is cut); any other file without record, a file of an
     *   unknown camera, an unreadable unknown file and a stray file are moved to
     *   ROOT/quarantine/<path with '/' as '_'>[.N] (never over another file);
     *   a record without file becomes a tombstone with reason IDX_GAP_MISSING (its chain link
     *   stays; nothing is queued for deletion), unless its whole volume has no file at all
     *   (an unmounted disk is not lost footage): then it is reported and left;
     *   size and hash mismatches, unreadable indexed files, disagreeing records and overlaps
     *   are reported "not repairable" and left as they are;
     *   a camera's pending file newer than its records is left to the recorder's start-up
     *   recovery.
     * Refused (CV_ESTATE) while another process has the index open: stop `camvault record`,
     * `serve` and `run` first.
     */
    IDX_FSCK_REPAIR,
    /*
     * Recreate the index from the segment files: build a fresh index in ROOT/tmp/, then move
     * ROOT/index to ROOT/index.old-<UTC time> (kept, never deleted) and the new one into its
     * place, so a crash leaves the old index in place. Cameras (numbers kept where they were
     * dense), volumes, holds and gaps are copied from the old index when it can be read;
     * otherwise each camera found on disk is created disabled, url "rtsp://unknown/",
     * retention 36500 days, for the operator to set. Each camera's files are indexed in time
     * order (prft start, then name), a torn tail cut as recovery does (a finding, repaired);
     * the old index's tombstones are replayed in their places, so every chain link is computed
     * over the same sequence as before: for an unchanged set of files every record (start, end,
     * bytes, sha256, frames, chain, fragment table) equals the old one, after retention too.
     * Findings, left as they are: unreadable and stray files; a file whose bytes or hash differ
     * from the old index's record for it (it is indexed as it is now: a rebuild must not hide
     * an alteration); an old record whose file is gone (not carried over: run --repair first,
     * which keeps it as a tombstone).
     * Refused (CV_ESTATE) while another process has the index open.
     */
    IDX_FSCK_REBUILD,
};

struct idx_fsck_counts {
    size_t files;    /* entries found under ROOT/volumes/ */
    size_t records;  /* segment records checked (rebuild: written) */
    size_t findings; /* problems found */
    size_t repaired; /* of those, fixed */
};

/* Called once per finding or action with one line (valid during the call only). */
typedef void (*idx_fsck_report)(void *ctx, const char *line);

/*
 * Compare index and disk of data root `root`. The index must not be open in the caller's
 * process (fsck opens it itself; LMDB forbids two opens of one environment in a process).
 * `report` may be NULL. *out (output) is filled also when the run stops on an error.
 * Returns 0 when the run completed (findings are counted, not errors); <0 with *err when it
 * could not run or had to stop (index unreadable in CHECK/REPAIR, disk errors, in use).
 * Memory: one entry per file under ROOT/volumes/ (its path), plus bounded batches of records.
 */
int idx_fsck(const char *root, enum idx_fsck_mode mode, idx_fsck_report report, void *ctx,
             struct idx_fsck_counts *out, struct cv_err *err);

#endif
