/*
 * sealwait.h: before an export whose range reaches the live edge, get that footage hashed,
 * chained and signed, waiting seconds rather than a segment length.
 *
 * For each camera of the export, what the range needs is one of:
 *   - the open segment (the file being written, indexer/openseg.h) overlaps the range: ask the
 *     recorder to seal it at its next keyframe (storage-layout/seal.h), then wait for a signed
 *     checkpoint whose head for the camera starts at or after it;
 *   - the newest indexed segment in the range is not yet covered by the newest checkpoint (they
 *     are signed every checkpoint interval, 60 s by default): ask for a seal of that closed file,
 *     which the recorder answers with a checkpoint at once;
 *   - nothing: the range is covered already (the usual case for older footage; no wait at all),
 *     or the camera is not being recorded now (its status is older than 8 s, or its open file
 *     has not grown for 12 s: no recorder could seal anything, so nothing is waited for).
 * The wait ends when the index's newest checkpoint and the ledger (which exp_export reads) both
 * show it: about one GOP, a commit and a signature. So the package then holds only footage that
 * is hashed, chained and covered; the segment opened after the seal is not in it (its footage
 * is after the requested range).
 *
 * Threads: reentrant; uses its own short read transactions (the caller must hold none).
 */
#ifndef EXP_SEALWAIT_H
#define EXP_SEALWAIT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "indexer/idx.h"

#define EXP_SEAL_TIMEOUT_US (INT64_C(30) * 1000000) /* GOPs up to 10 s, then a checkpoint */
#define EXP_SEAL_POLL_US 100000

/*
 * Seal what [from_us, to_us) of cameras[0..n) needs (see above) and wait for it. `tick` (may be
 * NULL) is called at every poll with the µs waited so far; nonzero stops with CV_ECANCELED.
 * Out: *waited (may be NULL): 1 when it had to wait for the recorder, 0 when nothing was needed.
 * Returns 0 when every camera's range is covered (or needs nothing); CV_ETIMEDOUT naming the
 * camera when the recorder did not seal and sign within timeout_us (not running?): the caller
 * may still export what is indexed, which exp_export marks as not covered where it is not;
 * CV_ENOENT for an unknown camera; CV_EIO when a request cannot be written.
 */
int exp_seal_wait(struct idx *idx, const char *root, const char *const *cameras, size_t n,
                  int64_t from_us, int64_t to_us, int64_t timeout_us,
                  int (*tick)(void *ctx, int64_t waited_us), void *ctx, int *waited,
                  struct cv_err *err);

#endif
