/*
 * seal.h: requests to close ("seal") a camera's open segment early, so that an export can hold
 * footage up to a moment ago.
 *
 * An evidence package holds only footage that is hashed, chained and covered by a signed
 * checkpoint, and the segment being written is none of these until the recorder closes it (up to
 * a segment length later) and signs the next checkpoint (up to a checkpoint interval after that).
 * The server and the recorder are separate processes, so an exporter asks through a small file:
 *
 *   ROOT/seal/<camera>        one line: the relative path of the segment file to seal
 *
 * - the exporter writes it (lay_seal_request) naming the camera's pending file (or its newest
 *   indexed one, when only a checkpoint is missing);
 * - the camera thread, at each video keyframe, checks whether the request names the file it is
 *   writing (lay_seal_wanted: one open() that fails in the common case) and, if so, ends the
 *   segment at that keyframe, as if it had reached its target length;
 * - the recorder's main thread looks at the requests a few times a second (lay_seal_list): once
 *   the named file is no longer the camera's pending one (closed and committed, or the camera
 *   stopped), it signs a checkpoint and removes the request (lay_seal_done).
 * So the wait is bounded by one GOP plus a commit and a signature, not by the segment length.
 * A request nobody acts on (no recorder running) is harmless and is replaced by the next one.
 *
 * Threads: reentrant.
 */
#ifndef LAY_SEAL_H
#define LAY_SEAL_H

#include <stdbool.h>

#include "common/error.h"
#include "storage-layout/layout.h"

/* Ask for `relpath` (of camera `camera`) to be sealed; replaces an earlier request. */
int lay_seal_request(const char *root, const char *camera, const char *relpath,
                     struct cv_err *err);

/* Whether a request names `relpath` for `camera`. Cheap when there is none (one open()). */
bool lay_seal_wanted(const char *root, const char *camera, const char *relpath);

/* Called for each request; return nonzero to stop (that value is returned by lay_seal_list). */
typedef int (*lay_seal_cb)(void *ctx, const char *camera, const char *relpath);
/* Every request, in no particular order; 0 when there are none (or no ROOT/seal yet). */
int lay_seal_list(const char *root, lay_seal_cb cb, void *ctx, struct cv_err *err);

/* Remove camera's request if it still names `relpath` (a newer one is kept). */
void lay_seal_done(const char *root, const char *camera, const char *relpath);

#endif
