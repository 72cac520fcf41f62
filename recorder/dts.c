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
    g->pts_shift = 0;
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

int64_t rec_dts_next(struct rec_dts *g, int64_t *ppts, bool *repaired)
{
    int64_t dts, pts = *ppts + g->pts_shift;
    bool deeper;

    *repaired = false;
    if (g->n > 0 && pts <= g->last_dts && !g->reordered) {
        /* the clock stepped back: go on a frame after the latest */
        g->pts_shift += g->max_pts + g->frame_dur - pts;
        pts = g->max_pts + g->frame_dur;
        *repaired = true;
        g->repaired++;
    }
    if (g->n > 0 && pts < g->max_pts && pts > g->last_dts)
        g->reordered = true;
    deeper = g->n > 0 && pts <= g->last_dts && g->depth < REC_DTS_DEPTH_MAX;
    *ppts = pts;
    if (g->n == 0)
        g->first_pts = g->max_pts = pts;
    if (pts > g->max_pts)
        g->max_pts = pts;
    if (deeper)
        g->depth++; /* this frame is shown before one already decoded: reorder is deeper */
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
