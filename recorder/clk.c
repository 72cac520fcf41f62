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
    k->d = k->applied = 0;
}

/* The i-th latest own-clock presentation time (i >= 1), B-frame streams. */
static int64_t hist_at(const struct rec_clk *k, int i)
{
    return k->hist[(k->n - (uint64_t)i) % REC_CLK_HIST];
}

/*
 * B-frames: the whole frames of a step at a frame whose time, its phase put back on the grid,
 * is pts. A stream with a fixed pattern shows each frame exactly p frames after the frame p
 * places before it in decode order (x264 without adaptive B-frames: I P B B P B B ... has p = 3
 * within a GOP, the GOP's length across its ends); this frame is taken to do so too, and the
 * step is its distance from there. Of the p that hold for at least REC_CLK_REGULAR frames back,
 * one that holds as far back as the frames kept go is taken first (the pattern of 3 breaks at
 * every GOP's end, the GOP's does not), then the one that holds furthest back. None (adaptive
 * B-frames, a frame lost, a GOP's end in the first GOPs): 0, the whole frames are rec_dts's.
 */
static int64_t whole_frames(const struct rec_clk *k, int64_t pts, int64_t tol)
{
    int best = 0, best_run = 0;
    bool best_all = false;

    for (int p = 1; p <= REC_CLK_PERIOD_MAX; p++) {
        int run = 0, most = (int)(k->n < REC_CLK_HIST ? k->n : REC_CLK_HIST) - p;
        while (run < most) {
            int64_t e = hist_at(k, run + 1) - hist_at(k, run + 1 + p) - p * k->unit;
            if ((e < 0 ? -e : e) > tol)
                break;
            run++;
        }
        if (run >= REC_CLK_REGULAR && ((run == most && !best_all) ||
                                       ((run == most) == best_all && run > best_run))) {
            best = p;
            best_run = run;
            best_all = run == most;
        }
    }
    if (best == 0)
        return 0;
    int64_t diff = pts - (hist_at(k, best) + best * k->unit);
    return (diff + (diff >= 0 ? k->unit / 2 : -k->unit / 2)) / k->unit * k->unit;
}

int64_t rec_clk_next(struct rec_clk *k, int64_t raw, int64_t dur, bool *stepped,
                     bool *reanchored)
{
    /* RTP times are sample-exact: off the grid by more than a quarter ms is a report's step,
     * with B-frames by more than a tick (their steps can be whole frames but for a few ticks:
     * VLC's reports follow its sending, in decode order); steps up to `follow` are followed */
    int64_t tick = k->phase_only ? 1 : k->hz / 4000;
    int64_t follow = REC_CLK_FOLLOW_US * k->hz / 1000000, grid = k->unit > 0 ? k->unit : dur;
    int64_t dev, own;

    *stepped = *reanchored = false;
    if (!k->started) {
        k->started = true;
        k->next = raw + grid;
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
    if (k->phase_only) { /* the nearest slot of the grid, and the whole frames the pattern tells */
        int64_t phase = centred_mod(raw - k->d - k->next, grid);
        int64_t size = phase < 0 ? -phase : phase;
        dev = size > tick ? whole_frames(k, raw - k->d - phase, follow) : 0;
        dev += size > follow ? phase : 0;
    } else { /* where the packet should have started; a loss leaves whole packets out */
        dev = raw - k->next;
        dev = (dev < 0 ? -dev : dev) <= follow || on_grid(dev, grid, tick) ? 0 : dev;
    }
    if (dev > REC_CLK_STEP_MAX_MS * k->hz / 1000 || -dev > REC_CLK_STEP_MAX_MS * k->hz / 1000) {
        dev = 0; /* not a report's step: left as it is, for the caller's run logic */
    } else if (dev != 0 && raw - k->d - k->last_step < REC_CLK_MIN_GAP_MS * k->hz / 1000) {
        give_up(k);
        *reanchored = true;
        k->reanchors++;
        return raw;
    } else if (dev != 0) {
        k->d += dev;
        k->last_step = raw - k->d;
        *stepped = true;
        k->steps++;
    }
    own = raw - k->d;
    if (k->phase_only) {
        k->next = own; /* a slot of the grid from now on */
        k->hist[k->n++ % REC_CLK_HIST] = own;
    } else {
        k->next = raw + grid;
    }
    k->last_own = own;
    return own + k->applied;
}

bool rec_clk_settled(const struct rec_clk *k)
{
    return k->started && !k->off_grid && k->last_own - k->last_step >= REC_CLK_STABLE_S * k->hz;
}

void rec_clk_follow(struct rec_clk *k)
{
    k->applied = k->d;
}
