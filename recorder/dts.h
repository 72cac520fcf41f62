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
 * A decode time that would not increase is repaired and counted. In a stream that has shown no
 * reordering it is the camera's clock stepping back (VLC does, by a frame or two): the times
 * from there on are moved on to follow the latest one by a frame (the presentation times
 * returned through *pts). In a stream with B-frames it is a reorder deeper than declared: the
 * decode time is the previous one plus one tick and the depth grows by one, so the stream
 * settles after a few frames.
 * Whether a large step is an outage or a clock reset is the caller's decision (rec_dts_reset).
 *
 * Plain struct, no allocation; one per video stream, used by one thread.
 */
#ifndef REC_DTS_H
#define REC_DTS_H

#include <stdbool.h>
#include <stdint.h>

#define REC_DTS_DEPTH_MAX 16

struct rec_dts {
    int depth;           /* reorder depth in frames (0: decode order is presentation order) */
    int64_t frame_dur;   /* one frame, in the stream's time base (> 0) */
    int64_t pending[REC_DTS_DEPTH_MAX + 1]; /* presentation times not yet used, sorted */
    int npending;
    uint64_t n;          /* frames seen since the last reset */
    int64_t first_pts, last_dts;
    int64_t max_pts;     /* the latest presentation time so far */
    int64_t pts_shift;   /* added to every presentation time: clock steps back (see below) */
    bool reordered;      /* a frame was shown before one decoded earlier: B-frames */
    uint64_t repaired;   /* decode times repaired since init (not reset by rec_dts_reset) */
};

/* depth is clamped to 0..REC_DTS_DEPTH_MAX; frame_dur < 1 is taken as 1. */
void rec_dts_init(struct rec_dts *g, int depth, int64_t frame_dur);

/* Forget the frames seen (a new run); depth, frame_dur and the repair count stay. */
void rec_dts_reset(struct rec_dts *g);

/* The decode time of the next frame in decode order, whose presentation time is *pts (moved
 * on after a clock step, see above). Sets *repaired when a value had to be repaired. */
int64_t rec_dts_next(struct rec_dts *g, int64_t *pts, bool *repaired);

/*
 * Reorder depth seen in presentation times listed in decode order: the largest number of
 * frames that come earlier in decode order and are shown later than a frame. Frames shown
 * before the first (leading pictures of an open GOP) are not counted.
 */
int rec_dts_depth_of(const int64_t *pts, int n);

#endif
