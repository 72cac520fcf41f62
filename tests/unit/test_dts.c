/*
 * test_dts.c: decode times rebuilt from presentation times (recorder/dts.h).
 *
 * Presentation times in decode order, as cameras send them (in frames of 10 ticks): the rebuilt
 * decode times must increase, never pass a frame's presentation time, and need no repair when
 * the depth is right; a wrong depth or a clock that steps back is repaired and counted.
 */
#include <stdbool.h>
#include <stdint.h>

#include "recorder/dts.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

/* Feed pts[0..n) with `depth`; check increasing dts <= pts; returns the repairs. */
static uint64_t run(const int64_t *pts, int n, int depth, const int64_t *want)
{
    struct rec_dts g;
    int64_t last = INT64_MIN;

    rec_dts_init(&g, depth, 10);
    for (int i = 0; i < n; i++) {
        bool rep;
        int64_t p = pts[i];
        int64_t d = rec_dts_next(&g, &p, &rep);
        CHECK_MSG(d > last, "frame %d: dts %lld after %lld", i, (long long)d, (long long)last);
        if (!rep)
            CHECK_MSG(d <= p, "frame %d: dts %lld > pts %lld", i, (long long)d, (long long)p);
        if (want)
            CHECK_EQ_INT(d, want[i]);
        last = d;
    }
    return g.repaired;
}

void test_dts_rebuild(void)
{
    /* no B-frames: dts = pts */
    static const int64_t p0[] = {0, 10, 20, 30, 40};
    /* I P B B: depth 1 */
    static const int64_t p1[] = {0, 30, 10, 20, 60, 40, 50, 90, 70, 80};
    static const int64_t w1[] = {-10, 0, 10, 20, 30, 40, 50, 60, 70, 80};
    /* b-pyramid I P B b b: depth 2 */
    static const int64_t p2[] = {0, 40, 20, 10, 30, 80, 60, 50, 70};

    CHECK_EQ_U64(run(p0, 5, 0, p0), 0);
    CHECK_EQ_U64(run(p1, 10, 1, w1), 0);
    CHECK_EQ_U64(run(p2, 9, 2, NULL), 0);
    CHECK_EQ_INT(rec_dts_depth_of(p0, 5), 0);
    CHECK_EQ_INT(rec_dts_depth_of(p1, 10), 1);
    CHECK_EQ_INT(rec_dts_depth_of(p2, 9), 2);
    /* an open GOP's leading pictures (shown before the keyframe) do not count */
    static const int64_t po[] = {30, 10, 20, 60, 40, 50};
    CHECK_EQ_INT(rec_dts_depth_of(po, 6), 1);
}

void test_dts_repair(void)
{
    /* depth declared 0 for a B-frame stream: repaired, then settles at depth 1 */
    static const int64_t p1[] = {0, 30, 10, 20, 60, 40, 50, 90, 70, 80, 120, 100, 110};
    /* a clock that steps back 1 tick */
    static const int64_t pb[] = {0, 10, 20, 19, 30, 40};
    struct rec_dts g;
    bool rep;

    uint64_t r = run(p1, 13, 0, NULL);

    CHECK_MSG(r > 0 && r <= 4, "%llu repairs", (unsigned long long)r);
    /* a clock that steps back 1 tick, no B-frames: that frame moves 7/8 of a frame clear of the
     * one before, and the shift is spread over the next frames (a quarter frame each) */
    static const int64_t pb8[] = {0, 10, 20, 19, 30, 40, 50, 60};
    static const int64_t wb[] = {0, 10, 20, 29, 38, 45, 53, 60};
    CHECK_EQ_U64(run(pb8, 8, 0, wb), 1);
    (void)pb;
    rec_dts_init(&g, 1, 10);
    int64_t p = 100;
    rec_dts_next(&g, &p, &rep);
    rec_dts_reset(&g);
    p = 5;
    CHECK_EQ_INT(rec_dts_next(&g, &p, &rep), -5); /* a new run starts over */
    CHECK(!rep);
}

/*
 * VLC over UDP (through libavformat, which re-anchors a stream's times at every RTCP sender
 * report): I P B B with a depth of 2, frames of 10 ticks, the clock steps back by `step` ticks
 * at decode position `at` (then, with `fwd`, forward again at 2 * at, as VLC does). The frames
 * must be at least half a frame apart and, when the step comes at a B-frame, keep their
 * presentation order (a P-frame stepped back is given out before the B-frames that show the
 * step: those are shown after it); the depth must stay 2 (a deeper one would leave decode times
 * lagging: fewer frames' time than frames stored); the times must come back to the camera's
 * clock. Returns the repairs.
 */
static uint64_t vlc_step(int at, int64_t step, bool fwd)
{
    enum { N = 120 };
    int64_t truth[N], out[N], cam[N];
    struct rec_dts g;
    int64_t last = INT64_MIN;

    for (int i = 0; i < N; i++) { /* decode order 0, 3, 1, 2, 6, 4, 5, ... */
        int k = i == 0 ? 0 : (i - 1) % 3 == 0 ? i + 2 : i - 1;
        truth[i] = 10 * k;
        cam[i] = truth[i] - (i >= at ? step : 0) + (fwd && i >= 2 * at ? step : 0);
    }
    rec_dts_init(&g, 2, 10);
    for (int i = 0; i < N; i++) {
        bool rep;
        out[i] = cam[i];
        int64_t d = rec_dts_next(&g, &out[i], &rep);
        CHECK_MSG(d > last, "frame %d: dts %lld after %lld", i, (long long)d, (long long)last);
        CHECK_MSG(d <= out[i], "frame %d: dts %lld > pts %lld", i, (long long)d,
                  (long long)out[i]);
        last = d;
    }
    bool p_frame = (at - 1) % 3 == 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (p_frame ? out[j] > out[i] : truth[j] > truth[i])
                CHECK_MSG(out[j] - out[i] >= 5, "step %lld at %d: frames %d (%lld) and %d "
                          "(%lld) out of order or too close", (long long)step, at, i,
                          (long long)out[i], j, (long long)out[j]);
    CHECK_EQ_INT(g.depth, 2);
    CHECK_EQ_INT(out[N - 1], cam[N - 1]); /* back on the camera's clock */
    return g.repaired;
}

void test_dts_vlc_clock_steps(void)
{
    /* at a B-frame and at a P-frame, by less than a frame, more, and more than the depth */
    static const int64_t steps[] = {1, 4, 13, 25, 47};
    static const int ats[] = {20, 22, 23};

    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++)
        for (size_t a = 0; a < sizeof(ats) / sizeof(ats[0]); a++) {
            uint64_t r = vlc_step(ats[a], steps[s], false);
            CHECK_MSG((r >= 1 || 2 * steps[s] < 10) && r <= 4, "step %lld at %d: %llu repairs", (long long)steps[s],
                      ats[a], (unsigned long long)r);
            vlc_step(ats[a], steps[s], true);
        }
}

void test_dts_untangle(void)
{
    /* VLC's first frames over UDP (test_21): the keyframe untimed, then a P-frame timed on the
     * mapping before libavformat's sync and the frames after it on the mapping after (one
     * frame earlier): P4 B1 B2 P6 B4 B5 is I0 P3 B1 B2 P6 B4 B5 */
    int64_t pts[] = {4 * 3600, 3600, 7200, 6 * 3600, 4 * 3600, 5 * 3600};
    static const int64_t want[] = {3 * 3600, 3600, 7200, 6 * 3600, 4 * 3600, 5 * 3600};
    /* frames in their own slots (a lost one leaves a hole) stay */
    int64_t fine[] = {3 * 3600, 3600, 6 * 3600, 4 * 3600, 5 * 3600};
    static const int64_t fine_want[] = {3 * 3600, 3600, 6 * 3600, 4 * 3600, 5 * 3600};

    CHECK_EQ_INT(rec_dts_untangle(pts, 6, 3600), 1);
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(pts[i], want[i]);
    CHECK_EQ_INT(rec_dts_untangle(fine, 5, 3600), 0);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(fine[i], fine_want[i]);
}
