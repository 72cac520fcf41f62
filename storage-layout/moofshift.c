/*
 * moofshift.c: a fragment's decode times moved by a per-track amount; see moofshift.h.
 */
#include <stdbool.h>
#include <string.h>

#include "storage-layout/bmff.h"
#include "storage-layout/moofshift.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/banned.h"

static int64_t shift_of(uint32_t id, const uint32_t *track, const int64_t *shift, int n)
{
    for (int i = 0; i < n; i++)
        if (track[i] == id)
            return shift[i];
    return 0;
}

/* The time field at p (8 bytes when v1, else 4) moved by d. */
static int move_time(uint8_t *p, size_t avail, bool v1, int64_t d)
{
    int64_t t;

    if (avail < (v1 ? 8u : 4u))
        return CV_ECORRUPT;
    t = v1 ? (int64_t)cv_get_be64(p) : (int64_t)cv_get_be32(p);
    if (t < 0 || (d > 0 && t > INT64_MAX - d) || t + d < 0 || (!v1 && t + d > UINT32_MAX))
        return CV_ECORRUPT;
    if (v1)
        cv_put_be64(p, (uint64_t)(t + d));
    else
        cv_put_be32(p, (uint32_t)(t + d));
    return 0;
}

static int shift_traf(const struct lay_box *traf, const uint32_t *track, const int64_t *shift,
                      int n)
{
    struct lay_box_cur c;
    struct lay_box b;
    int64_t d = 0;
    int r;

    lay_box_enter(&c, traf);
    while ((r = lay_box_next(&c, &b, NULL)) == 1) {
        if (lay_box_is(b.type, "tfhd") && b.len >= 8)
            d = shift_of(cv_get_be32(b.body + 4), track, shift, n);
        else if (lay_box_is(b.type, "tfdt") && b.len >= 4 && d != 0 &&
                 move_time((uint8_t *)b.body + 4, b.len - 4, b.body[0] == 1, d) < 0)
            return CV_ECORRUPT;
    }
    return r < 0 ? CV_ECORRUPT : 0;
}

int lay_moof_shift(uint8_t *box, size_t len, const uint32_t *track, const int64_t *shift, int n)
{
    struct lay_box_cur c;
    struct lay_box b, t;
    int r;

    lay_box_init(&c, box, len);
    if (lay_box_next(&c, &b, NULL) != 1 || b.size != len)
        return CV_ECORRUPT;
    if (lay_box_is(b.type, "prft")) {
        /* version, flags, reference_track_ID, NTP time (8), media time */
        if (b.len < 16)
            return CV_ECORRUPT;
        return move_time((uint8_t *)b.body + 16, b.len - 16, b.body[0] == 1,
                         shift_of(cv_get_be32(b.body + 4), track, shift, n));
    }
    if (!lay_box_is(b.type, "moof"))
        return 0;
    lay_box_enter(&c, &b);
    while ((r = lay_box_next(&c, &t, NULL)) == 1)
        if (lay_box_is(t.type, "traf") && shift_traf(&t, track, shift, n) < 0)
            return CV_ECORRUPT;
    return r < 0 ? CV_ECORRUPT : 0;
}
