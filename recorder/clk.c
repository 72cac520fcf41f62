/*
 * clk.c: a stream's own clock kept through libavformat's RTCP re-anchoring; see clk.h for why
 * and for the rule.
 */
#include <string.h>

#include "recorder/clk.h"
#include "common/banned.h"

void rec_clk_init(struct rec_clk *k, int64_t hz, int64_t unit, int depth)
{
    memset(k, 0, sizeof(*k));
    k->hz = hz > 0 ? hz : 1;
    k->unit = unit > 0 ? unit : 0;
    k->phase_only = depth > 0 && k->unit > 0;
    k->depth = depth > 0 ? depth : 0;
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
    k->d = 0;
}

/* The i-th latest own-clock presentation time (i >= 1), B-frame streams. */
static int64_t hist_at(const struct rec_clk *k, int i)
{
    return k->hist[(k->n - (uint64_t)i) % REC_CLK_HIST];
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* Whether a frame of the latest REC_CLK_HIST is shown in the slot of the grid at t. */
static bool slot_taken(const struct rec_clk *k, int64_t t)
{
    int n = (int)(k->n < REC_CLK_HIST ? k->n : REC_CLK_HIST);

    for (int i = 1; i <= n; i++)
        if (abs64(hist_at(k, i) - t) < k->unit / 2)
            return true;
    return false;
}

/* The latest time shown by the last frames (a P-frame's or keyframe's, at most a GOP back). */
static int64_t shown_max(const struct rec_clk *k)
{
    int n = (int)(k->n < REC_CLK_PERIOD_MAX ? k->n : REC_CLK_PERIOD_MAX);
    int64_t m = hist_at(k, 1);

    for (int i = 2; i <= n; i++)
        if (hist_at(k, i) > m)
            m = hist_at(k, i);
    return m;
}

/* The lowest free slot of the `depth` below the latest time shown (a B-frame's), or
 * INT64_MIN when all are taken. */
static int64_t lowest_hole(const struct rec_clk *k, int64_t max)
{
    for (int j = k->depth; j >= 1; j--)
        if (!slot_taken(k, max - j * k->unit))
            return max - j * k->unit;
    return INT64_MIN;
}

/* Whether a frame at the grid slot t is impossible: a slot taken already, or shown before the
 * frames the reorder depth lets it (a frame decoded now is shown at most `depth` frames before
 * the latest shown). A lost frame leaves a free slot, never one of these. */
static bool slot_bad(const struct rec_clk *k, int64_t t)
{
    return slot_taken(k, t) || t < shown_max(k) - k->depth * k->unit - k->unit / 2;
}

/*
 * The GOP's pattern: in a stream whose GOP has a fixed pattern (x264 without adaptive B-frames)
 * every frame is shown exactly g frames after the frame g places before it in decode order, g
 * the number of frames from one keyframe to the next. The slot this holds for the next frame
 * when it held for every frame kept (and the last two keyframes were g apart), else INT64_MIN:
 * no pattern (adaptive B-frames, a frame lost in the frames kept, a GOP longer than
 * REC_CLK_PERIOD_MAX, the first GOP).
 */
static int64_t gop_slot(const struct rec_clk *k)
{
    int g = k->gop, run = 0, most = (int)(k->n < REC_CLK_HIST ? k->n : REC_CLK_HIST) - g;

    if (g < k->depth + 2 || g > REC_CLK_PERIOD_MAX || most < REC_CLK_REGULAR)
        return INT64_MIN;
    while (run < most &&
           abs64(hist_at(k, run + 1) - hist_at(k, run + 1 + g) - g * k->unit) < k->unit / 2)
        run++;
    return run == most ? hist_at(k, g) + g * k->unit : INT64_MIN;
}

/*
 * Whether a keyframe at slot t is not where keyframes go: as far past the latest shown as the
 * last keyframe went (the next slot in a closed GOP) when no slot below is free, and where the
 * GOP's pattern `g` puts it. A frame lost just before it (UDP) leaves it a slot further, but the
 * pattern then is one off or broken (the frames g back are not those of the GOP before, or a
 * frame lost earlier is among them): kept as a gap.
 */
static bool key_off(const struct rec_clk *k, int64_t t, bool key, int64_t g)
{
    int64_t max = shown_max(k), want = max + k->key_jump * k->unit;

    return key && k->key_jump > 0 && lowest_hole(k, max) == INT64_MIN &&
           abs64(t - want) >= k->unit / 2 && g != INT64_MIN && abs64(g - want) < k->unit / 2;
}

/*
 * B-frames: the slot of a frame that stepped (off the grid, into an impossible slot, or off the
 * GOP's pattern `g`: a report's step of whole frames), t its slot before the step is taken out.
 * Where the GOP's pattern puts it, if that is a free slot the reorder depth allows; else a frame
 * shown before the latest one fills the lowest free slot below it (x264's B-frames come in
 * order); with none free it is shown after: a keyframe as far as the last keyframe went (the
 * next slot in a closed GOP), else as far as the stream's P-frames go past their B-frames.
 */
static int64_t place(const struct rec_clk *k, int64_t t, bool key, int64_t g)
{
    int64_t max = shown_max(k), hole = lowest_hole(k, max);

    if (g != INT64_MIN && !slot_taken(k, g) && g >= max - k->depth * k->unit - k->unit / 2 &&
        g <= max + (k->depth + 1) * k->unit + k->unit / 2)
        return g;
    if (hole != INT64_MIN)
        return hole;
    if (key)
        return max + (k->key_jump > 0 ? k->key_jump : 1) * k->unit;
    return k->jump > 0 ? max + k->jump * k->unit : t;
}

/* The packet's arrival minus its time, in ticks (arrivals counted from the stream's first). */
static int64_t lead(const struct rec_clk *k, int64_t own, int64_t recv_us)
{
    return (recv_us - k->t0_us) * k->hz / 1000000 - own;
}

/*
 * Whether a packet whole packets later than the one before arrived too early for it: a loss
 * leaves the packets after it on time, so their arrival minus their time stays at or above the
 * least seen (networks only delay); a report's step of whole packets (VLC's audio, after a
 * stall: +2 packets less 3 samples) moves their times on, not their arrival.
 */
static bool ahead_of_arrival(const struct rec_clk *k, int64_t own, int64_t recv_us)
{
    return recv_us != INT64_MIN && k->least != INT64_MAX &&
           lead(k, own, recv_us) < k->least - REC_CLK_ARRIVAL_MS * k->hz / 1000;
}

int64_t rec_clk_next(struct rec_clk *k, int64_t raw, int64_t dur, bool key, int64_t recv_us,
                     bool *stepped, bool *reanchored)
{
    /* RTP times are sample-exact: off the grid by more than a quarter ms is a report's step,
     * with B-frames by more than a tick (their steps can be whole frames but for a few ticks:
     * VLC's reports follow its sending, in decode order); steps up to `follow` are followed */
    int64_t tick = k->phase_only ? 0 : k->hz / 4000;
    int64_t follow = REC_CLK_FOLLOW_US * k->hz / 1000000, grid = k->unit > 0 ? k->unit : dur;
    int64_t dev, own, max = 0;
    bool phased = true;

    *stepped = *reanchored = false;
    if (!k->started) {
        k->started = true;
        k->t0_us = recv_us;
        k->least = recv_us != INT64_MIN ? lead(k, raw, recv_us) : INT64_MAX;
        k->next = raw + grid;
        k->hist[k->n++ % REC_CLK_HIST] = raw;
        k->last_step = raw - REC_CLK_MIN_GAP_MS * k->hz / 1000;
        return raw;
    }
    if (k->off_grid)
        return raw;
    if (grid <= 0) { /* a packet of no known length: nothing to expect */
        k->next = raw;
        return raw - k->d;
    }
    if (k->phase_only) { /* the nearest slot of the grid, and the whole frames its place tells */
        int64_t phase = centred_mod(raw - k->d - k->next, grid), t = raw - k->d - phase;
        int64_t g = gop_slot(k);
        phased = abs64(phase) > tick;
        max = shown_max(k);
        dev = abs64(phase) > follow ? phase : 0;
        if (k->n >= REC_CLK_SETTLE && (phased || slot_bad(k, t) || key_off(k, t, key, g)))
            dev += t - place(k, t, key, g);
    } else { /* where the packet should have started; a loss leaves whole packets out */
        dev = raw - k->next;
        if (dev > follow && on_grid(dev, grid, tick) && !ahead_of_arrival(k, raw - k->d, recv_us)) {
            k->loss = dev; /* a loss, unless the packets after it turn out ahead of arrival */
            k->loss_at = raw - k->d;
            dev = 0;
        } else if (abs64(dev) <= follow) {
            dev = 0;
        }
    }
    if (dev > REC_CLK_STEP_MAX_MS * k->hz / 1000 || -dev > REC_CLK_STEP_MAX_MS * k->hz / 1000) {
        dev = 0; /* not a report's step: left as it is, for the caller's run logic */
    } else if (dev != 0 && phased &&
               raw - k->d - k->last_step < REC_CLK_MIN_GAP_MS * k->hz / 1000) {
        give_up(k);
        *reanchored = true;
        k->reanchors++;
        return raw;
    } else if (dev != 0) {
        k->d += dev;
        if (phased)
            k->last_step = raw - k->d;
        *stepped = true;
        k->steps++;
    }
    own = raw - k->d;
    if (k->loss > 0 && own - k->loss_at > k->hz)
        k->loss = 0;
    if (k->loss > 0 && ahead_of_arrival(k, own, recv_us)) {
        /* the gap judged a loss came while the packets were late (VLC just after a stall): the
         * packets after it are ahead of their arrival, so it was a step of whole packets */
        k->d += k->loss;
        own -= k->loss;
        k->loss = 0;
        *stepped = true;
        k->steps++;
    }
    if (recv_us != INT64_MIN && k->least != INT64_MAX && lead(k, own, recv_us) < k->least)
        k->least = lead(k, own, recv_us);
    if (k->phase_only) {
        /* how far a frame shown after the latest goes: a P-frame past its B-frames */
        int64_t jump = (own - max + k->unit / 2) / k->unit;
        if (!key && jump > k->jump && jump <= k->depth + 1)
            k->jump = jump;
        if (key && jump >= 1 && jump <= k->depth + 1)
            k->key_jump = jump;
        if (key && k->key_n > 0)
            k->gop = (int)(k->n + 1 - k->key_n);
        if (key)
            k->key_n = k->n + 1;
        k->next = own; /* a slot of the grid from now on */
        k->hist[k->n++ % REC_CLK_HIST] = own;
    } else {
        k->next = raw + grid;
    }
    return own;
}
