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
 *   - a packet a whole number of units late is a loss (UDP) or a skipped frame: kept as a gap;
 *   - a step of up to REC_CLK_FOLLOW_US is followed as it is: a camera's clock drifting
 *     against its wall time (its reports keep audio and video together), a report's jitter;
 *   - the steps taken out add up to the stream's offset from the reports' mapping. Late
 *     reports step either way around the server's clock (with B-frames by whole frames too,
 *     below), so the stream keeps to its own clock; audio and video, which started together,
 *     stay together. When no report has moved either stream's mapping for REC_CLK_STABLE_S
 *     the caller follows both mappings (rec_clk_settled, rec_clk_follow): that server's
 *     reports are on time (a camera), and its one step was the second stream's first report,
 *     where libavformat's sync starts (before it, each stream starts at 0 at its first
 *     packet, whatever their capture times). Not one stream alone: VLC's audio reports, once
 *     they settle, can be 0.16 s off its video's, which never settle with B-frames;
 *   - a deviation past REC_CLK_STEP_MAX, or a stream that leaves its grid more than once in
 *     REC_CLK_MIN_GAP (variable frame rate, a server without a grid), is followed as it is
 *     (counted: reanchors), and the caller's run logic judges it.
 *
 * A stream with B-frames has presentation times out of order, with no next value to expect
 * (phase_only). VLC's reports there step by whole frames give or take a few ticks (a report
 * pairs its sending time, which follows decode order, with the presentation time of the frame
 * it sends then): a frame off the grid by even one tick is a step; its part off the grid is
 * taken out, and its whole frames too when the stream's pattern is fixed (each frame shown p
 * frames after the frame p places before it in decode order, for at least REC_CLK_REGULAR
 * frames back: x264 without adaptive B-frames has p = 3 within a GOP and the GOP's length
 * across its ends, which holds further back and is taken); otherwise the whole frames are left
 * to rec_dts (dts.h), which spreads a step back.
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
#define REC_CLK_STABLE_S 8       /* a mapping unmoved this long is followed (reports on time) */
#define REC_CLK_MIN_GAP_MS 900   /* reports come seconds apart: steps closer than this are not */
#define REC_CLK_PERIOD_MAX 64    /* B-frames: the longest pattern looked for (a GOP) */
#define REC_CLK_REGULAR 6        /* frames that must follow a pattern for it to be used */
#define REC_CLK_HIST (2 * REC_CLK_PERIOD_MAX + REC_CLK_REGULAR) /* frames kept */

struct rec_clk {
    int64_t hz;        /* ticks per second of the stream's time base (> 0) */
    int64_t unit;      /* the grid: one frame (video) or 0 (audio: each packet's own length) */
    bool phase_only;   /* B-frames: only the off-grid part of a step is taken out */
    bool started;
    bool off_grid;     /* the stream left its grid too often: followed as it comes */
    int64_t next;      /* raw time where the next packet should start (ordered streams) */
    int64_t d;         /* the sum of the steps taken out: raw = own clock + d */
    int64_t last_step; /* own-clock time of the last step taken out */
    int64_t last_own;  /* own-clock time of the latest packet */
    int64_t applied;   /* the offset applied: out = raw - d + applied */
    int64_t hist[REC_CLK_HIST]; /* B-frames: the latest own-clock times, in decode order */
    uint64_t n;                 /* frames seen (B-frames) */
    uint64_t steps, reanchors;
};

/* unit: one frame in ticks for video (0 for audio); phase_only for video with B-frames. */
void rec_clk_init(struct rec_clk *k, int64_t hz, int64_t unit, bool phase_only);

/*
 * The time to use for a packet that libavformat timed `raw` and that lasts `dur` ticks (audio:
 * its samples; ignored for video). Returns the corrected time; *stepped is set when a report's
 * step was taken out at this packet, *reanchored when the stream was put back on the reports'
 * mapping (a step too large, or no grid).
 */
int64_t rec_clk_next(struct rec_clk *k, int64_t raw, int64_t dur, bool *stepped,
                     bool *reanchored);

/* Whether no report has moved the stream's mapping for REC_CLK_STABLE_S (nor a step taken
 * out). */
bool rec_clk_settled(const struct rec_clk *k);

/* Follow the reports' mapping from the next packet on (a jump by the steps taken out). */
void rec_clk_follow(struct rec_clk *k);

#endif
