/*
 * dts.h: decode times rebuilt from presentation times (rec_dts_*).
 *
 * RTP carries presentation times only. Without B-frames decode order is presentation order and
 * a frame's decode time is its presentation time; with them, a frame may be shown after frames
 * decoded later. With a reorder depth d (no frame is shown more than d positions before its
 * place in decode order, what the SPS's max_num_reorder_frames bounds) the i-th decode time is
 * the (i-d)-th smallest presentation time: then every frame's decode time is at or before its
 * presentation time and decode times increase. The first d frames get the first presentation
 * time minus (d - i) frame durations.
 *
 * A camera clock that steps back is repaired, not followed. Through libavformat the times of a
 * stream are re-anchored at every RTCP sender report, and a server that sends its reports late
 * (VLC under load) makes them step by tens of ms either way, at any frame of a GOP; clk.h takes
 * such steps out before they reach here, all but the whole frames of a B-frame stream's step
 * that it cannot place (a connection's first GOPs, adaptive B-frames). A frame
 * stepped back lands on or near (within half a frame of) a frame seen lately, or before all of
 * them: it and the frames after it are moved on by the least amount that puts
 * it clear of them (half a frame) and after the last decode time, and that shift is spread out
 * over the frames shown after the latest one seen so far: each is shown a quarter of a frame
 * early until the shift is used up. So no decode time is squeezed, the reorder depth stays,
 * presentation order is kept, and the times come back to the camera's clock (which its audio
 * keeps) within four times the step. A step forward is a longer frame, kept as it is.
 * A frame shown before the last decode time and clear of every frame seen is a reorder deeper
 * than declared (B-frames the depth did not announce): the decode time is the previous one plus
 * one tick and the depth grows by one, so the stream settles after a few frames.
 * Every repaired frame is counted (repaired).
 * Whether a large step is an outage or a clock reset is the caller's decision (rec_dts_reset).
 *
 * Plain struct, no allocation; one per video stream, used by one thread.
 */
#ifndef REC_DTS_H
#define REC_DTS_H

#include <stdbool.h>
#include <stdint.h>

#define REC_DTS_DEPTH_MAX 16
#define REC_DTS_RECENT (2 * REC_DTS_DEPTH_MAX + 2)

struct rec_dts {
    int depth;           /* reorder depth in frames (0: decode order is presentation order) */
    int64_t frame_dur;   /* one frame, in the stream's time base (> 0) */
    int64_t pending[REC_DTS_DEPTH_MAX + 1]; /* presentation times not yet used, sorted */
    int npending;
    uint64_t n;          /* frames seen since the last reset */
    int64_t first_pts, last_dts;
    int64_t max_pts;     /* the latest presentation time so far */
    int64_t shift;       /* a step back being spread out: added in full up to shift_at, */
    int64_t shift_at;    /* and a quarter of a frame less per frame's time after it */
    int64_t recent[REC_DTS_RECENT]; /* the latest presentation times given out (ring by n) */
    uint64_t repaired;   /* decode times repaired since init (not reset by rec_dts_reset) */
};

/* depth is clamped to 0..REC_DTS_DEPTH_MAX; frame_dur < 1 is taken as 1. */
void rec_dts_init(struct rec_dts *g, int depth, int64_t frame_dur);

/* Forget the frames seen (a new run); depth, frame_dur and the repair count stay. */
void rec_dts_reset(struct rec_dts *g);

/* The decode time of the next frame in decode order, whose presentation time is *pts (moved
 * after a clock step, see above). Sets *repaired when a value had to be repaired. */
int64_t rec_dts_next(struct rec_dts *g, int64_t *pts, bool *repaired);

/*
 * Reorder depth seen in presentation times listed in decode order: the largest number of
 * frames that come earlier in decode order and are shown later than a frame. Frames shown
 * before the first (leading pictures of an open GOP) are not counted.
 */
int rec_dts_depth_of(const int64_t *pts, int n);

/*
 * A connection's first frames can straddle libavformat's sync (the second stream's first RTCP
 * report re-times its stream by whole frames; seen with VLC: a P-frame shown in the slot of a
 * B-frame after it). Given the presentation times of n frames in decode order (frame `dur`
 * long), the later frames are taken to be on the mapping that stays: a frame in the slot of a
 * later one moves to the free slot nearest it between the first and the last shown (the lower
 * one first). Returns how many moved.
 */
int rec_dts_untangle(int64_t *pts, int n, int64_t dur);

#endif
