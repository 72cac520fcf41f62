/*
 * clk.c: a stream's own clock kept through libavformat's RTCP re-anchoring; see clk.h for why
 * and for the rule.
 */
#include <string.h>

#include "recorder/clk.h"
#include "common/banned.h"

void rec_clk_init(struct rec_clk *k, int64_t hz, int64_t unit, bool phase_only)
{
    memset(k, 0, sizeof(*k));
    k->hz = hz > 0 ? hz : 1;
    k->unit = unit > 0 ? unit : 0;
    k->phase_only = phase_only && k->unit > 0;
}

/* v modulo m, centred on 0: in (-m/2, m/2]. */
static int64_t centred_mod(int64_t v, int64_t m)
{
    int64_t r = v % m;

    if (r < 0)
        r += m;
    return r > m / 2 ? r - m : r;
}

/* Whether dev is a whole number of grid units (within tol): a loss, a skipped or reordered
 * frame, never a report's step. */
static bool on_grid(int64_t dev, int64_t grid, int64_t tol)
{
    int64_t r = centred_mod(dev, grid);

    return (r < 0 ? -r : r) <= tol;
}

/* The stream left its grid again too soon for a report: follow libavformat's times. */
static void give_up(struct rec_clk *k)
{
    k->off_grid = true;
    k->d = k->applied = k->low[0] = k->low[1] = 0;
}

/* The i-th latest own-clock presentation time (i >= 1), B-frame streams. */
static int64_t hist_at(const struct rec_clk *k, int i)
{
    return k->hist[(k->n - (uint64_t)i) % REC_CLK_HIST];
}

/*
 * B-frames: the whole frames of a step at a frame whose time, its phase put back on the grid,
 * is pts. If each of the last REC_CLK_REGULAR frames was shown exactly p frames after the frame
 * p places before it in decode order (a fixed GOP pattern, x264 without adaptive B-frames:
 * I P B B P B B ... has p = 3), this one is too, and the step is its distance from there. Else
 * (adaptive B-frames, a frame lost, a GOP's end) 0: the whole frames are left to rec_dts.
 */
static int64_t whole_frames(const struct rec_clk *k, int64_t pts, int64_t tol)
{
    for (int p = 1; p <= REC_CLK_PERIOD_MAX; p++) {
        bool regular = k->n >= (uint64_t)(p + REC_CLK_REGULAR);
        for (int i = 1; regular && i <= REC_CLK_REGULAR; i++) {
            int64_t e = hist_at(k, i) - hist_at(k, i + p) - p * k->unit;
            regular = (e < 0 ? -e : e) <= tol;
        }
        if (regular) {
            int64_t diff = pts - (hist_at(k, p) + p * k->unit);
            return (diff + (diff >= 0 ? k->unit / 2 : -k->unit / 2)) / k->unit * k->unit;
        }
    }
    return 0;
}

int64_t rec_clk_next(struct rec_clk *k, int64_t raw, int64_t dur, bool *stepped,
                     bool *reanchored)
{
    /* RTP times are sample-exact: a quarter ms, and one tick with B-frames (whose steps can be
     * whole frames but for a few ticks: VLC's reports follow its sending in decode order) */
    int64_t tol = k->phase_only ? 1 : k->hz / 4000, grid, dev, own;

    *stepped = *reanchored = false;
    grid = k->unit > 0 ? k->unit : dur;
    if (!k->started) {
        k->started = true;
        k->next = raw + grid;
        k->half_at = raw;
        k->hist[k->n++ % REC_CLK_HIST] = raw;
        k->last_step = raw - REC_CLK_MIN_GAP_MS * k->hz / 1000;
        return raw;
    }
    if (k->off_grid)
        return raw;
    if (grid <= 0) { /* a packet of no known length: nothing to expect */
        k->next = raw;
        return raw - k->d + k->applied;
    }
    /* ordered: where the packet should have started; B-frames: the nearest slot of the grid,
     * and the whole frames the GOP's pattern tells */
    dev = k->phase_only ? centred_mod(raw - k->d - k->next, grid) : raw - k->next;
    if (k->phase_only && (dev < 0 ? -dev : dev) > tol)
        dev += whole_frames(k, raw - k->d - dev, tol);
    own = raw - k->d;
    if ((dev < 0 ? -dev : dev) > tol && !on_grid(dev, grid, tol)) {
        if (dev > REC_CLK_STEP_MAX_MS * k->hz / 1000 ||
            -dev > REC_CLK_STEP_MAX_MS * k->hz / 1000) {
            /* not a report's step: left as it is, for the caller's run logic */
        } else if (own - k->last_step < REC_CLK_MIN_GAP_MS * k->hz / 1000) {
            give_up(k);
            *reanchored = true;
            k->reanchors++;
            return raw;
        } else {
            k->d += dev;
            own = raw - k->d;
            k->last_step = own;
            *stepped = true;
            k->steps++;
        }
    }
    if (k->phase_only) {
        k->next = raw - k->d - centred_mod(raw - k->d - k->next, grid); /* a slot of the grid */
        k->hist[k->n++ % REC_CLK_HIST] = raw - k->d;
    } else
        k->next = raw + grid;
    /* the least late report of the last one to two half windows; a mapping no report has
     * moved for REC_CLK_STABLE_S is the server's (reports on time): followed from then */
    if (own - k->last_step >= REC_CLK_STABLE_S * k->hz)
        k->low[0] = k->low[1] = k->d;
    if (k->phase_only) { /* B-frames: steps are not lateness only (clk.h) */
        k->applied = k->low[0];
        return raw - k->d + k->applied;
    }
    if (own - k->half_at >= REC_CLK_WINDOW_S * k->hz / 2) {
        k->low[1] = k->low[0];
        k->low[0] = k->d;
        k->half_at = own;
    }
    if (k->d < k->low[0])
        k->low[0] = k->d;
    k->applied = k->low[0] < k->low[1] ? k->low[0] : k->low[1];
    return raw - k->d + k->applied;
}
