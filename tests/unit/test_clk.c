/*
 * test_clk.c: a stream's own clock kept through RTCP re-anchoring (recorder/clk.h).
 *
 * The figures are VLC's, as libavformat times them over UDP (measured on a loaded machine):
 * AAC at 48 kHz, 1024 samples a packet, and 25-fps video at 90 kHz, each stream re-anchored
 * at its own reports every 5 s by +146, -156, +23, -23 ms (audio) and +89.5, +57, -157 ms
 * (video). Kept on their own clocks, audio and video stay within a few ms of each other; a
 * lost packet stays a gap; a stream without a grid is followed as it comes.
 */
#include <stdbool.h>
#include <stdint.h>

#include "recorder/clk.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

/* The mapping error libavformat adds at t seconds: a report every 5 s, each late by `late`. */
static int64_t report_error(const double *late, int nlate, double t, int64_t hz, double first)
{
    int k = t < first ? -1 : (int)((t - first) / 5.0);

    if (k < 0)
        return 0;
    if (k >= nlate)
        k = nlate - 1;
    return (int64_t)(late[k] * (double)hz);
}

/* Feed `secs` of a stream with steps; returns the largest distance of the output from the
 * true time (plus the offset the stream ends at, *end), in ms. */
static double feed(struct rec_clk *k, int64_t hz, int64_t unit, double secs, const double *late,
                   int nlate, double first, double *end)
{
    double worst = 0;
    int64_t prev = INT64_MIN;

    for (int64_t t = 0; t < (int64_t)(secs * (double)hz); t += unit) {
        bool st, re;
        int64_t raw = t + report_error(late, nlate, (double)t / (double)hz, hz, first);
        int64_t out = rec_clk_next(k, raw, unit, false, INT64_MIN, &st, &re);
        double err = (double)(out - t) * 1000.0 / (double)hz;
        CHECK(!re);
        if (prev != INT64_MIN)
            CHECK_MSG(out > prev, "t=%lld: %lld after %lld", (long long)t,
                      (long long)out, (long long)prev);
        prev = out;
        if ((err < 0 ? -err : err) > worst)
            worst = err < 0 ? -err : err;
        *end = err;
    }
    return worst;
}

void test_clk_vlc_report_steps(void)
{
    /* cumulative lateness of the reports (s): late at start-up, then the machine settles */
    static const double la[] = {0, 0.146, -0.010, 0.013, -0.010, -0.0025, -0.008, -0.0103};
    static const double lv[] = {0.0895, 0.1465, -0.0105, -0.0105, 0.004, -0.0105, -0.0095};
    struct rec_clk a, v;
    double ea, ev, wa, wv;

    rec_clk_init(&a, 48000, 0, 0);
    rec_clk_init(&v, 90000, 3600, 0);
    wa = feed(&a, 48000, 1024, 40, la, 8, 2.3, &ea);
    wv = feed(&v, 90000, 3600, 40, lv, 7, 2.1, &ev);
    /* followed as they came, the streams were up to 0.15 s off; kept on their own clocks they
     * move only by the steps small enough to follow (2 ms, at most two of them here) */
    CHECK_MSG(wa < 3 && wv < 3, "worst audio %.1f ms, video %.1f ms", wa, wv);
    CHECK_MSG(ea - ev < 2 && ev - ea < 2, "audio ends %.1f ms, video %.1f ms", ea, ev);
    CHECK(a.steps >= 5 && v.steps >= 5);
    CHECK_EQ_INT(a.reanchors, 0);
}

void test_clk_loss_and_no_grid(void)
{
    struct rec_clk k;
    bool st, re;

    /* a lost AAC packet (UDP) is a gap of whole packets: kept, not taken for a step */
    rec_clk_init(&k, 48000, 0, 0);
    CHECK_EQ_INT(rec_clk_next(&k, 0, 1024, false, INT64_MIN, &st, &re), 0);
    CHECK_EQ_INT(rec_clk_next(&k, 1024, 1024, false, INT64_MIN, &st, &re), 1024);
    CHECK_EQ_INT(rec_clk_next(&k, 4096, 1024, false, INT64_MIN, &st, &re), 4096);
    CHECK(!st && !re);
    /* a step of 23 ms is taken out: the packet stays where its samples put it */
    CHECK_EQ_INT(rec_clk_next(&k, 5120 + 1104, 1024, false, INT64_MIN, &st, &re), 5120);
    CHECK(st && !re);
    /* a jump past REC_CLK_STEP_MAX is the caller's (outage, reset): left as it is */
    CHECK_EQ_INT(rec_clk_next(&k, 6144 + 1104 + 48000, 1024, false, INT64_MIN, &st, &re),
                 6144 + 48000);
    CHECK(!st && !re);

    /* a variable frame rate leaves the grid at every frame: followed as it comes */
    rec_clk_init(&k, 90000, 3600, 0);
    int64_t t = 0;
    for (int i = 0; i < 10; i++) {
        int64_t out = rec_clk_next(&k, t, 0, false, INT64_MIN, &st, &re);
        if (i >= 3)
            CHECK_EQ_INT(out, t);
        t += i % 2 ? 3000 : 4500;
    }
    CHECK_EQ_INT(k.reanchors, 1);

    /* B-frames: only the part of a step off the frame grid is taken out */
    rec_clk_init(&k, 90000, 3600, 2);
    static const int64_t pts[] = {0, 10800, 3600, 7200, 21600, 14400, 18000};
    for (int i = 0; i < 7; i++)
        CHECK_EQ_INT(rec_clk_next(&k, pts[i] + (i >= 4 ? 8055 : 0), 0, false, INT64_MIN, &st, &re),
                     pts[i] + (i >= 4 ? 7200 : 0));
    CHECK_EQ_INT(k.steps, 1);
}

/* Decode order of x264's fixed pattern I P B B P B B ... (p = 3), in frames. */
static int64_t ipbb(int f)
{
    int m = (f - 1) / 3, r = (f - 1) % 3;

    return f == 0 ? 0 : r == 0 ? 3 * m + 3 : r == 1 ? 3 * m + 1 : 3 * m + 2;
}

void test_clk_bframes_whole_frames(void)
{
    /* VLC's steps at a P-frame (-157 ms: 4 frames less 2.8 ms), a B-frame (3 frames less 3
     * ticks: a report sent at a B-frame) and another P-frame (+57 ms): each taken out whole,
     * the stream on its own clock throughout */
    static const struct { int at; int64_t step; } steps[] = {
        {61, -14146}, {202, 10797}, {334, 5130}};
    struct rec_clk k;
    int64_t sum = 0, low = 0; /* followed: none */

    rec_clk_init(&k, 90000, 3600, 2);
    for (int f = 0, s = 0; f < 480; f++) {
        bool st, re;
        if (s < 3 && f == steps[s].at) {
            sum += steps[s++].step;
        }
        int64_t out = rec_clk_next(&k, ipbb(f) * 3600 + sum, 0, f == 0, INT64_MIN, &st, &re);
        int64_t off = out - (ipbb(f) * 3600 + low); /* but the few ticks followed */
        CHECK_MSG(off >= -180 && off <= 180, "frame %d: %lld, want %lld", f, (long long)out,
                  (long long)(ipbb(f) * 3600 + low));
        CHECK(!re);
        if (unit_failures() > 3)
            break;
    }
    CHECK_EQ_INT(k.steps, 3);
}

/* Decode order of x264's GOP of 50 with 2 B-frames (I, 16 times P B B, a last P), in frames. */
static int64_t gop50(int f)
{
    int r = f % 50, m = (r - 1) / 3, q = (r - 1) % 3;

    return f / 50 * 50 +
           (r == 0 ? 0 : r == 49 ? 49 : q == 0 ? 3 * m + 3 : q == 1 ? 3 * m + 1 : 3 * m + 2);
}

struct clk_step {
    int at;       /* from this frame (decode order) on */
    int64_t step; /* the reports' mapping moved by this much more */
};

/* Feed `frames` frames of gop50 with steps (the frame numbers in `lost` not fed): each must come
 * out at its own time, but the few ticks followed. Returns the steps counted. */
static uint64_t feed_gop50(const struct clk_step *steps, int nsteps, int frames, const int *lost,
                           int nlost)
{
    struct rec_clk k;
    int64_t sum = 0;

    rec_clk_init(&k, 90000, 3600, 2);
    for (int f = 0, s = 0, l = 0; f < frames; f++) {
        bool st, re;
        if (s < nsteps && f == steps[s].at)
            sum += steps[s++].step;
        if (l < nlost && f == lost[l]) {
            l++;
            continue; /* lost (UDP) */
        }
        int64_t want = gop50(f) * 3600;
        int64_t out = rec_clk_next(&k, want + sum, 0, f % 50 == 0, INT64_MIN, &st, &re);
        CHECK_MSG(out - want >= -180 && out - want <= 180, "frame %d: %lld, want %lld", f,
                  (long long)out, (long long)want);
        CHECK(!re);
        if (unit_failures() > 3)
            break;
    }
    return k.steps;
}

void test_clk_bframes_gop_ends(void)
{
    /* steps of whole frames give or take a few ticks at a GOP's last frame, its keyframe, the
     * P-frame after it and a B-frame: the GOP's pattern places each (the pattern of 3 would put
     * the first two a frame off) */
    static const struct clk_step steps[] = {
        {149, -10797}, {200, 10803}, {251, -7198}, {302, 14402}};

    CHECK_EQ_INT(feed_gop50(steps, 4, 400, NULL, 0), 4);
}

void test_clk_bframes_whole_steps(void)
{
    /* VLC's steps as test_21 recorded them: whole frames exactly (no tick off the grid: only the
     * slot they land in shows them) into a slot taken at a B-frame (-2 frames, then +1), at a
     * keyframe (-1); off the grid at P-frames where the pattern of 3 breaks (the GOP's second P,
     * the frame before a keyframe); +2 frames exactly at a keyframe, into a free slot but
     * further than keyframes go; +3 frames less a tick at a P-frame, into a free slot. Each is
     * placed in its own slot, the stream on its own clock throughout; a frame lost (a B-frame,
     * the P-frame before a keyframe) stays a gap */
    static const struct clk_step steps[] = {
        {20, -7200}, {45, 3600}, {75, 10797}, {149, -7198}, {150, -3600}, {202, -14403},
        {250, 7200}, {381, 10799}};
    static const int lost[] = {335, 349};

    CHECK_EQ_INT(feed_gop50(steps, 8, 420, lost, 2), 8);
}

void test_clk_audio_whole_packets(void)
{
    /* VLC's audio after a stall: a report's step of 2 packets less 3 samples, then one of -1
     * packet exactly; packets arrive on time (every 1024 samples at 48 kHz, 21.33 ms), so the
     * step is taken out; a loss of 2 packets, whose followers arrive on time, stays a gap */
    struct rec_clk k;
    int64_t step = 0;
    bool st, re;

    rec_clk_init(&k, 48000, 0, 0);
    for (int i = 0; i < 400; i++) {
        int64_t t = (int64_t)i * 1024, recv = 5000000 + t * 1000000 / 48000;
        step += i == 100 ? 2045 : i == 250 ? -1024 : 0;
        if (i == 330 || i == 331)
            continue; /* lost (UDP) */
        int64_t out = rec_clk_next(&k, t + step, 1024, false, recv, &st, &re);
        CHECK_MSG(out == t, "packet %d: %lld, want %lld", i, (long long)out, (long long)t);
        CHECK(!re);
        if (unit_failures() > 3)
            break;
    }
    CHECK_EQ_INT(k.steps, 2);
}

void test_clk_audio_step_while_late(void)
{
    /* the same step of 2 packets less 3 samples, but at a packet that came late with the 5
     * after it (VLC sends what it held through a stall at once): at first it looks like a loss;
     * the packets after the burst, on time, show it was a step, and it is taken out */
    struct rec_clk k;
    bool st, re;

    rec_clk_init(&k, 48000, 0, 0);
    for (int i = 0; i < 200; i++) {
        int64_t t = (int64_t)i * 1024, recv = 5000000 + t * 1000000 / 48000;
        int64_t step = i >= 100 ? 2045 : 0;
        if (i >= 100 && i < 106)
            recv += 120000 - (i - 100) * 20000; /* late, then caught up */
        int64_t out = rec_clk_next(&k, t + step, 1024, false, recv, &st, &re);
        if (i < 100 || i >= 110)
            CHECK_MSG(out == t, "packet %d: %lld, want %lld", i, (long long)out, (long long)t);
        CHECK(!re);
        if (unit_failures() > 3)
            break;
    }
    CHECK_EQ_INT(k.steps, 1);
}
