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
    /* a clock that steps back 1 tick, no B-frames: later times follow the latest by a frame */
    static const int64_t wb[] = {0, 10, 20, 30, 41, 51};
    CHECK_EQ_U64(run(pb, 6, 0, wb), 1);
    rec_dts_init(&g, 1, 10);
    int64_t p = 100;
    rec_dts_next(&g, &p, &rep);
    rec_dts_reset(&g);
    p = 5;
    CHECK_EQ_INT(rec_dts_next(&g, &p, &rep), -5); /* a new run starts over */
    CHECK(!rep);
}
