/*
 * rendition.h: an H.264 rendition of stored footage, for players that cannot decode the
 * original (H.265 in a browser without HEVC support).
 *
 * The input is a fragmented MP4 as a byte stream (a working copy, or a segment's header boxes
 * followed by its fragments as they are written). Its video track is decoded (libavcodec),
 * scaled to at most max_height lines (libswscale, aspect kept, even sizes), encoded by libx264
 * (through libavcodec's "libx264" encoder: veryfast, zero latency, one keyframe a second) and
 * muxed as a fragmented MP4 (ftyp, moov, then one moof+mdat per keyframe) that is handed to the
 * caller's write callback as it is produced, so a viewer can start playing at once. Audio is not
 * carried. Presentation times keep their distances and start at 0 with the first frame.
 *
 * This is a derived view for watching only: never stored, never part of an evidence package
 * (working copies stay byte copies, docs/working-copies.md).
 *
 * Threads: exp_rendition_run blocks the calling thread for the whole stream and calls the
 * callbacks on it; separate calls are independent.
 */
#ifndef EXP_RENDITION_H
#define EXP_RENDITION_H

#include <stdint.h>

#include "common/error.h"

#define EXP_RENDITION_HEIGHT_DEFAULT 720
#define EXP_RENDITION_HEIGHT_MIN 144
#define EXP_RENDITION_HEIGHT_MAX 2160

/* Where the bytes come from and go. */
struct exp_rendition_io {
    /* Read up to size bytes of the input into buf: bytes read (> 0), 0 at its end, or a negative
     * CV_E* code (CV_ECANCELED when the viewer left) with err filled. Blocking is fine. */
    int (*read)(void *ctx, uint8_t *buf, int size, struct cv_err *err);
    /* Move the input to byte `off` (from its start), or NULL when the input only streams. */
    int (*seek)(void *ctx, int64_t off, struct cv_err *err);
    /* Input size in bytes, for seekable inputs (else unused). */
    int64_t size;
    /* Take `size` bytes of output: 0, or a negative CV_E* code to stop (err filled). */
    int (*write)(void *ctx, const uint8_t *buf, int size, struct cv_err *err);
    void *ctx; /* passed to all three */
};

/* What a run did (for logs, tests, metrics). */
struct exp_rendition_stats {
    uint64_t frames_in;  /* video frames decoded */
    uint64_t frames_out; /* video frames encoded */
    int width, height;   /* of the output */
};

/*
 * Transcode io's input to H.264 of at most max_height lines (0: EXP_RENDITION_HEIGHT_DEFAULT)
 * until the input ends, then finish the output; *st (may be NULL) says what was done.
 * Returns 0, or: a callback's code (CV_ECANCELED ...), CV_EMEDIA naming the cause (input not
 * an MP4 with a video track, no decoder, libx264 missing, a decode or encode error),
 * CV_ENOMEM.
 */
int exp_rendition_run(const struct exp_rendition_io *io, int max_height,
                      struct exp_rendition_stats *st, struct cv_err *err);

#endif
