/*
 * openseg.h: the segment being written, as readers see it.
 *
 * A camera's open segment is in the index only as its pending note (the file it is writing,
 * idx_pending_get); the recorder writes no record per fragment. Readers find its footage in the
 * file itself: lay_seg_scan reads the box headers of the growing file and returns its complete
 * fragments (a torn last one is left out), so the newest fragment is visible as soon as the
 * recorder has written it, with no index write on the recorder's path.
 *
 * The functions here find that open segment after the camera's indexed ones, for every reader
 * that reaches up to "now": query and the timeline (as a separate "open" object, so that
 * "segments" stay the hashed, chained records), video.mp4, snapshot.jpg and clip. The open
 * segment's record is made from the scan (idx_segment_from_scan): bytes are its complete bytes,
 * end_us the end of its newest complete fragment, and flags carry IDX_SEG_OPEN; it has no
 * SHA-256 and no chain link yet (both are made when the recorder closes it), so evidence exports
 * never take it from here (see docs/operations.md, "Exporting the last minutes").
 *
 * Cost: one pending lookup and, when the camera is recording, one open + header scan of its
 * file (a few preads per fragment). Called inside the caller's read transaction; the file I/O
 * holds it open a little longer, which LMDB readers tolerate.
 *
 * Threads: reentrant; the transaction rules of idx.h apply.
 */
#ifndef IDX_OPENSEG_H
#define IDX_OPENSEG_H

#include "indexer/idx.h"

/* In idx_segment.flags of a record made by idx_open_segment; never stored in the index. */
#define IDX_SEG_OPEN 0x80000000u

/*
 * The open segment of camera `cam` (data root `root`): its record in *out (IDX_SEG_OPEN) and,
 * when frags is not NULL, its complete fragments (*frags malloc'd, caller frees; *nfrags).
 * CV_ENOENT when the camera writes no file now, the file has no complete fragment yet, or the
 * file is already indexed (closed and committed: the note is a moment behind). CV_ECORRUPT or
 * CV_EIO naming the file when it cannot be read.
 */
int idx_open_segment(struct idx_txn *txn, const char *root, uint32_t cam, struct idx_segment *out,
                     struct lay_seg_frag **frags, size_t *nfrags, struct cv_err *err);

/*
 * The open segment (as idx_open_segment, no fragments) when it overlaps [from_us, to_us) and
 * starts after the camera's newest indexed segment (a note left behind by a killed recorder is
 * fsck's business, and footage is never shown twice); CV_ENOENT otherwise.
 */
int idx_open_segment_in(struct idx_txn *txn, const char *root, uint32_t cam, int64_t from_us,
                        int64_t to_us, struct idx_segment *out, struct cv_err *err);

/*
 * idx_segment_iter, then the open segment when idx_open_segment_in finds it. The callback
 * sees it like any record (check IDX_SEG_OPEN). An open segment that cannot be read is left out
 * (a log line at debug level), never an error: the indexed footage is still answered.
 */
int idx_segment_iter_open(struct idx_txn *txn, const char *root, uint32_t cam, int64_t from_us,
                          int64_t to_us, idx_segment_cb cb, void *ctx, struct cv_err *err);

/*
 * idx_locate, and when no indexed segment covers at_us, the open segment's fragment that holds
 * it. CV_ENOENT when neither covers the instant.
 */
int idx_locate_open(struct idx_txn *txn, const char *root, uint32_t cam, int64_t at_us,
                    struct idx_segment *seg, uint64_t *offset, int64_t *frag_us,
                    struct cv_err *err);

#endif
