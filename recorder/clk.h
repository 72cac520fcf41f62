/*
 * clk.h: a stream's own clock kept through libavformat's RTCP re-anchoring (rec_clk_*).
 *
 * libavformat's RTSP input maps each stream's RTP timestamps onto one timeline through the
 * server's RTCP sender reports, re-anchoring the stream at every report. A report is the
 * server's wall time when it sent it, beside the RTP time of the packet it sent then; a server
 * that sends late (VLC under load) makes the mapping, and so every timestamp after it, step by
 * tens of ms (seen: up to 0.16 s) either way, each stream at its own reports. Between reports
 * the RTP timestamps themselves are exact: an AAC packet is 1024 samples after the one before,
 * a 25-fps frame 3600 ticks of 90 kHz. Followed as they come, the steps put audio and video up
 * to 0.15 s apart for seconds, and make frames longer or shorter than they were.
 *
 * So a stream whose packets follow each other on a grid (audio: each packet starts where the
 * one before ended; video without B-frames at a constant rate) is kept on its own clock:
 *
 *   - a packet off the grid (deviation not a multiple of the grid) is a report's step: the step
 *     is taken out (counted: steps), so the stream stays continuous;
 *   - a packet a whole number of units late is a loss (UDP) or a skipped frame: kept as a gap,
 *     unless it arrived ahead of its time (its arrival minus its time REC_CLK_ARRIVAL_MS below
 *     the least seen: the packets after a loss come on time): then it is a step of whole
 *     packets (VLC's audio, after a stall), taken out, also when the packets after it within
 *     a second show it (the step came while they were late). One a whole number of units early
 *     is a step;
 *   - a step of up to REC_CLK_FOLLOW_US is followed as it is: a camera's clock drifting
 *     against its wall time (its reports keep audio and video together), a report's jitter;
 *   - the steps taken out add up to the stream's offset from the reports' mapping, kept for
 *     the run: audio and video, which libavformat synchronised at the start (both streams'
 *     first reports come while it probes the stream), stay together. The mapping is never
 *     followed back: a late report moves it later (VLC stalled: audio 40 ms late for good
 *     after one), and a B-frame stream's reports step by the frame they were sent at (a
 *     P-frame's time is up to 4 frames ahead of its sending), so no later mapping is better
 *     than the first (test_21 saw markers move by +38 ms and -0.13 s when both were followed);
 *   - a deviation past REC_CLK_STEP_MAX, or a stream that leaves its grid more than once in
 *     REC_CLK_MIN_GAP (variable frame rate, a server without a grid), is followed as it is
 *     (counted: reanchors), and the caller's run logic judges it.
 *
 * A stream with B-frames has presentation times out of order, with no next value to expect
 * (phase_only). VLC's reports there step by whole frames give or take a few ticks (a report
 * pairs its sending time, which follows decode order, with the presentation time of the frame
 * it sends then), often by whole frames exactly. Each frame is shown in a slot of the grid that
 * no other frame takes, at most `depth` slots before the latest shown: a frame off the grid by
 * even one tick (RTP times are exact: only a report moves them off), or landing in a slot taken
 * or too early (a step of whole frames), has stepped. So has a keyframe that did not go as far
 * past the latest shown as the last one did, where the GOP's pattern puts it (each frame shown
 * g frames after the frame g places before it in decode order, g frames from one keyframe to
 * the next, x264 without adaptive B-frames; used only when every frame kept follows it). Its
 * part off the grid is taken out, and it is placed (place in clk.c): where the GOP's pattern
 * puts it, else in the lowest free slot below the latest shown (x264's B-frames come in order),
 * else a keyframe as far past it as the last one went, else as far as the stream's P-frames go
 * past their B-frames. A lost frame (UDP) leaves a free slot and is kept as a gap. The first
 * REC_CLK_SETTLE frames are not placed (no history yet): a step among them (libavformat's sync
 * at a connection's first reports, which hold_untimed in camera.c sees whole) is left to the
 * caller and to rec_dts (dts.h).
 *
 * Plain struct, no allocation; one per stream, used by the camera's thread. Times are in the
 * stream's time base; `hz` is its ticks per second.
 */
#ifndef REC_CLK_H
#define REC_CLK_H

#include <stdbool.h>
#include <stdint.h>

#define REC_CLK_STEP_MAX_MS 500  /* a larger deviation is not a report's step */
#define REC_CLK_FOLLOW_US 2000   /* a step this small is followed (a clock's drift, jitter) */
#define REC_CLK_MIN_GAP_MS 900   /* reports come seconds apart: steps closer than this are not */
#define REC_CLK_PERIOD_MAX 64    /* B-frames: the longest pattern looked for (a GOP) */
#define REC_CLK_REGULAR 6        /* frames that must follow a pattern for it to be used */
#define REC_CLK_ARRIVAL_MS 10    /* a packet this much ahead of the least arrival lag moved on */
#define REC_CLK_SETTLE 8         /* B-frames: frames seen before steps of whole frames are placed */
#define REC_CLK_HIST (2 * REC_CLK_PERIOD_MAX + REC_CLK_REGULAR) /* frames kept */

struct rec_clk {
    int64_t hz;        /* ticks per second of the stream's time base (> 0) */
    int64_t unit;      /* the grid: one frame (video) or 0 (audio: each packet's own length) */
    bool phase_only;   /* B-frames: presentation times out of order, steps placed by slots */
    int depth;         /* B-frames: reorder depth (frames shown before one decoded earlier) */
    int64_t jump;      /* B-frames: the furthest a P-frame went past the latest shown (frames) */
    int64_t key_jump;  /* B-frames: how far the last keyframe went past it (frames) */
    uint64_t key_n;    /* B-frames: the number of the last keyframe + 1 (0: none yet) */
    int gop;           /* B-frames: frames between the last two keyframes (0: unknown) */
    bool started;
    bool off_grid;     /* the stream left its grid too often: followed as it comes */
    int64_t next;      /* raw time where the next packet should start (ordered streams) */
    int64_t d;         /* the sum of the steps taken out: raw = own clock + d */
    int64_t last_step; /* own-clock time of the last step off the grid taken out */
    int64_t hist[REC_CLK_HIST]; /* B-frames: the latest own-clock times, in decode order */
    uint64_t n;                 /* frames seen (B-frames) */
    int64_t t0_us;              /* arrival of the first packet (INT64_MIN: arrivals not given) */
    int64_t least;              /* the least arrival minus own time seen, in ticks */
    int64_t loss, loss_at;      /* the last gap taken for a loss, and its own-clock time */
    uint64_t steps, reanchors;
};

/* unit: one frame in ticks for video (0 for audio); depth: the reorder depth of video with
 * B-frames (0: none; presentation order is decode order). */
void rec_clk_init(struct rec_clk *k, int64_t hz, int64_t unit, int depth);

/*
 * The time to use for a packet that libavformat timed `raw` and that lasts `dur` ticks (audio:
 * its samples; ignored for video); key: a video keyframe; recv_us: when it arrived (any clock
 * that does not step; INT64_MIN: unknown, a late whole packet is then a loss). Returns the
 * corrected time; *stepped
 * is set when a report's step was taken out at this packet, *reanchored when the stream was
 * put back on the reports' mapping (a step too large, or no grid).
 */
int64_t rec_clk_next(struct rec_clk *k, int64_t raw, int64_t dur, bool key, int64_t recv_us,
                     bool *stepped, bool *reanchored);

#endif
