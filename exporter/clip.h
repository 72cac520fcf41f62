/*
 * clip.h: playable MP4 "working copies" assembled from stored segment files without re-encoding,
 * and JPEG snapshots.
 *
 * A clip is the run of complete fragments (GOPs) of one camera's segment files that overlap a
 * requested wall-clock range [from_us, to_us): the first is the fragment holding from_us (or the
 * first one after it), the last the fragment holding the instant just before to_us (or the last
 * one before it), so the copy covers the whole requested range, cut on GOP boundaries and
 * clipped to what exists. The output is one fragmented MP4:
 *
 *   ftyp  moov'  sidx  ( prft  uuid[camvault.fraginf]  moof'  mdat )*  mfra
 *
 * ftyp and moov come from the first source used (moov' has real durations and an mehd); every
 * fragment is copied byte for byte except mfhd sequence numbers (1..n), tfdt decode times (the
 * clip starts at 0), the prft media_time (moved with its tfdt) and, where a source uses one, the
 * tfhd base_data_offset. Sources from one recorder run keep their continuous decode times; the
 * first fragment of each later run is placed by its wall-clock distance from the clip's start,
 * so gaps stay gaps and currentTime + exp_clip_origin_us() ~ wall time. The exact procedure is
 * docs/working-copies.md: the bytes depend only on the sources' bytes and (from_us, to_us).
 *
 * exp_clip_open only plans: it scans the sources (lay_seg_scan), reads the fragment headers it
 * needs and keeps the rewritten header and trailer plus a small patch list per fragment.
 * exp_clip_read then produces any byte range on demand by reading the sources at the planned
 * offsets, so an HTTP range request never builds the whole file. A source that is still being
 * written may be among the paths: only the fragments complete at planning time are used.
 *
 * Threads: a struct exp_clip belongs to one thread at a time (exp_clip_read and exp_clip_write
 * move its cached file descriptor); separate handles are independent. exp_snapshot_jpeg is
 * reentrant.
 */
#ifndef EXP_CLIP_H
#define EXP_CLIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

#define EXP_CLIP_SOURCES_MAX 100000 /* segment files per clip */
#define EXP_CLIP_FRAGS_MAX 1000000  /* fragments (GOPs) per clip */

struct exp_clip;

/* One source file that contributes to a clip (for the manifest's "source segments"). */
struct exp_clip_source {
    const char *path;      /* as given to exp_clip_open (a copy owned by the clip) */
    uint64_t run_id;       /* from its camvault.segment header, 0 when it has none */
    uint64_t header_bytes; /* bytes [0, header_bytes) (ftyp .. moov) used for the clip's moov;
                              nonzero only for the first source */
    uint64_t offset;       /* the fragments used are bytes [offset, offset + bytes) */
    uint64_t bytes;
    uint32_t fragments;
    int64_t first_us, end_us; /* wall clock of its first used frame and of the end of its last */
};

/*
 * The sources of a clip of camera `cam` over [from_us, to_us) (`camvault clip` and the API's
 * video.mp4 collect them alike): the absolute paths of the segment files that overlap it, in
 * time order, and each one's run id, read in t (a read transaction of the caller). At most
 * EXP_CLIP_SOURCES_MAX: past it `truncated` is set and the rest left out. CV_ENOENT "camera
 * 'x': nothing recorded in this range" when none. Release with exp_clip_sources_release (also
 * after a failure).
 */
struct idx_txn;
struct idx_camera;
struct exp_clip_sources {
    char **paths;
    uint64_t *runs;
    size_t n, cap;
    bool truncated;
};
int exp_clip_sources_collect(struct idx_txn *t, const char *root, const struct idx_camera *cam,
                             int64_t from_us, int64_t to_us, struct exp_clip_sources *out,
                             struct cv_err *err);
void exp_clip_sources_release(struct exp_clip_sources *s);

/*
 * Plan the clip of the segment files `paths[0..n)` (absolute; one camera; in time order) for
 * [from_us, to_us). Out: *out, a handle to free with exp_clip_free (NULL on failure). The
 * strings are copied. Errors: CV_EINVAL (bad range, no paths), CV_ENOENT (no complete fragment
 * overlaps the range), CV_ECORRUPT naming the file (not a segment, malformed fragment, a
 * fragment without prft or tfdt, decode times that do not fit), CV_EMEDIA naming the file (its
 * tracks or sample descriptions differ from the first source's: codec parameters changed; make
 * one clip per run then), CV_ELIMIT (too many sources or fragments), CV_EIO, CV_ENOMEM.
 */
int exp_clip_open(struct exp_clip **out, const char *const *paths, size_t n, int64_t from_us,
                  int64_t to_us, struct cv_err *err);

/* Total size of the clip file in bytes. */
uint64_t exp_clip_size(const struct exp_clip *c);

/* Wall-clock µs UTC of the clip's first video frame (*first_us) and of the end of its last
 * (*end_us); either pointer may be NULL. */
void exp_clip_times(const struct exp_clip *c, int64_t *first_us, int64_t *end_us);

/* Wall-clock µs UTC of presentation time 0 of the clip (<= first_us): a player's currentTime
 * plus this is the wall time, exactly at the start of each run and within the camera clock's
 * drift elsewhere. */
int64_t exp_clip_origin_us(const struct exp_clip *c);

/* The source files used, in order: count, and the i-th (i < count; borrowed, valid until
 * exp_clip_free). */
size_t exp_clip_source_count(const struct exp_clip *c);
const struct exp_clip_source *exp_clip_source_at(const struct exp_clip *c, size_t i);

/*
 * Copy bytes [off, off + len) of the clip into buf. The range must lie inside the clip
 * (CV_EINVAL otherwise). Reads the sources at their planned offsets; CV_ECORRUPT naming the file
 * when a source is now shorter than planned (deleted or cut since), CV_EIO on read errors.
 */
int exp_clip_read(struct exp_clip *c, uint64_t off, void *buf, size_t len, struct cv_err *err);

/*
 * Write the whole clip to `fd` (at its current position) and, when sha256_out is not NULL, its
 * SHA-256 into sha256_out[32]. The caller owns fd (and fsyncs it if it wants durability).
 */
int exp_clip_write(struct exp_clip *c, int fd, uint8_t sha256_out[32], struct cv_err *err);

/* Release the handle and close its files. NULL-safe. */
void exp_clip_free(struct exp_clip *c);

/*
 * Decode the video frame shown at wall-clock `at_us` in the segment file `segment_path`: the
 * decoder starts at the keyframe of the fragment holding at_us and stops at the last frame whose
 * presentation time is at or before at_us. The frame is converted (libswscale) and encoded as
 * one baseline JPEG (FFmpeg's mjpeg encoder) at the stream's resolution, appended to *out
 * (initialized by the caller; its limit applies: CV_ELIMIT). Errors: CV_ENOENT when the segment
 * does not cover at_us, CV_ECORRUPT for a bad file, CV_EMEDIA for decoder or encoder errors.
 */
int exp_snapshot_jpeg(const char *segment_path, int64_t at_us, struct cv_buf *out,
                      struct cv_err *err);

#endif
