/*
 * dts.c: decode times rebuilt from presentation times; see dts.h for the rule and its proof
 * in one line.
 */
#include <string.h>

#include "recorder/dts.h"
#include "common/banned.h"

void rec_dts_init(struct rec_dts *g, int depth, int64_t frame_dur)
{
    memset(g, 0, sizeof(*g));
    g->depth = depth < 0 ? 0 : depth > REC_DTS_DEPTH_MAX ? REC_DTS_DEPTH_MAX : depth;
    g->frame_dur = frame_dur > 0 ? frame_dur : 1;
}

void rec_dts_reset(struct rec_dts *g)
{
    g->npending = 0;
    g->n = 0;
    g->shift = 0;
}

/* Insert into the sorted pending list (at most depth + 1 entries). */
static void pending_add(struct rec_dts *g, int64_t pts)
{
    int i = g->npending;

    while (i > 0 && g->pending[i - 1] > pts) {
        g->pending[i] = g->pending[i - 1];
        i--;
    }
    g->pending[i] = pts;
    g->npending++;
}

static int64_t pending_take_min(struct rec_dts *g)
{
    int64_t v = g->pending[0];

    memmove(g->pending, g->pending + 1, (size_t)(g->npending - 1) * sizeof(g->pending[0]));
    g->npending--;
    return v;
}

/* The part of a step back not yet spread out, at this (camera) presentation time. */
static int64_t shift_at(const struct rec_dts *g, int64_t pts)
{
    int64_t used = pts > g->shift_at ? (pts - g->shift_at) / 4 : 0;

    return used < g->shift ? g->shift - used : 0;
}

/* Distance from pts to the nearest presentation time given out lately; *before_all when pts is
 * before all of them. INT64_MAX when there is none. */
static int64_t nearest(const struct rec_dts *g, int64_t pts, bool *before_all)
{
    int n = g->n < REC_DTS_RECENT ? (int)g->n : REC_DTS_RECENT;
    int64_t best = INT64_MAX;

    *before_all = n > 0;
    for (int i = 0; i < n; i++) {
        int64_t d = pts - g->recent[i];
        *before_all = *before_all && d < 0;
        d = d < 0 ? -d : d;
        if (d < best)
            best = d;
    }
    return best;
}

/*
 * Whether a frame is a step back (dts.h): within half a frame of a
 * frame seen lately, before all of them, or before the last decode time but not on a free slot
 * of the frame grid (seven eighths of a frame from the nearest: a reorder deeper than declared
 * puts its frame a whole frame or more from the others).
 */
static bool stepped_back(const struct rec_dts *g, int64_t pts)
{
    bool before_all;
    int64_t d = nearest(g, pts, &before_all);

    return before_all || 2 * d < g->frame_dur ||
           (pts <= g->last_dts && d < g->frame_dur - g->frame_dur / 8);
}

/* The least amount that moves pts after the last decode time and seven eighths of a frame clear
 * of every frame seen lately: the free slot it came from, give or take an eighth. */
static int64_t step_over(const struct rec_dts *g, int64_t pts)
{
    int n = g->n < REC_DTS_RECENT ? (int)g->n : REC_DTS_RECENT;
    int64_t clear = g->frame_dur - g->frame_dur / 8;
    int64_t to = pts > g->last_dts ? pts : g->last_dts + 1;
    bool moved = true;

    while (moved) { /* each pass moves past one frame: at most n + 1 passes */
        moved = false;
        for (int i = 0; i < n; i++) {
            int64_t d = to - g->recent[i];
            if ((d < 0 ? -d : d) < clear) {
                to = g->recent[i] + clear;
                moved = true;
            }
        }
    }
    return to - pts;
}

int64_t rec_dts_next(struct rec_dts *g, int64_t *ppts, bool *repaired)
{
    int64_t dts, cam = *ppts, pts = cam + shift_at(g, cam);
    bool deeper = false;

    *repaired = false;
    if (g->n > 0 && stepped_back(g, pts)) {
        /* the clock stepped back: this frame and the ones after it move on, and the shift is
         * spread over the frames shown after the latest one (dts.h) */
        int64_t add = step_over(g, pts);
        g->shift = shift_at(g, cam) + add;
        g->shift_at = g->max_pts + g->frame_dur - g->shift;
        if (g->shift_at < cam)
            g->shift_at = cam;
        pts += add;
        *repaired = true;
        g->repaired++;
    }
    if (g->n > 0 && pts <= g->last_dts)
        deeper = g->depth < REC_DTS_DEPTH_MAX;
    *ppts = pts;
    if (g->n == 0)
        g->first_pts = g->max_pts = pts;
    if (pts > g->max_pts)
        g->max_pts = pts;
    if (deeper)
        g->depth++; /* this frame is shown before one already decoded: reorder is deeper */
    g->recent[g->n % REC_DTS_RECENT] = pts;
    pending_add(g, pts);
    if (g->npending > g->depth)
        dts = pending_take_min(g);
    else if (!deeper && g->n < (uint64_t)g->depth)
        dts = g->first_pts - (g->depth - (int64_t)g->n) * g->frame_dur;
    else
        dts = g->last_dts; /* the depth just grew: repaired below */
    if (g->n > 0 && dts <= g->last_dts) {
        dts = g->last_dts + 1;
        if (!*repaired)
            g->repaired++;
        *repaired = true;
    }
    g->last_dts = dts;
    g->n++;
    return dts;
}

int rec_dts_depth_of(const int64_t *pts, int n)
{
    int depth = 0;

    for (int i = 1; i < n; i++) {
        int later = 0;
        if (pts[i] < pts[0])
            continue; /* a leading picture: shown before the keyframe, dropped at a run start */
        for (int j = 0; j < i; j++)
            later += pts[j] > pts[i];
        if (later > depth)
            depth = later;
    }
    return depth > REC_DTS_DEPTH_MAX ? REC_DTS_DEPTH_MAX : depth;
}

/* Whether a time of pts other than the skip-th is within half a frame of t. */
static bool taken(const int64_t *pts, int n, int64_t t, int skip, int64_t dur)
{
    for (int i = 0; i < n; i++)
        if (i != skip && (pts[i] - t < 0 ? t - pts[i] : pts[i] - t) < dur / 2)
            return true;
    return false;
}

int rec_dts_untangle(int64_t *pts, int n, int64_t dur)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    int moved = 0;

    for (int i = 0; i < n; i++) {
        lo = pts[i] < lo ? pts[i] : lo;
        hi = pts[i] > hi ? pts[i] : hi;
    }
    for (int a = 0; a < n; a++) {
        int64_t to = INT64_MIN;
        if (!taken(pts, n, pts[a], a, dur))
            continue;
        for (int m = 1; m < n && to == INT64_MIN; m++)
            for (int sign = -1; sign <= 1 && to == INT64_MIN; sign += 2) {
                int64_t t = pts[a] + sign * m * dur;
                if (t >= lo && t <= hi && !taken(pts, n, t, a, dur))
                    to = t;
            }
        if (to != INT64_MIN) {
            pts[a] = to;
            moved++;
        }
    }
    return moved;
}
