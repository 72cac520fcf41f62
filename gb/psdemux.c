/*
 * psdemux.c: the MPEG-2 program stream reader of psdemux.h (what GB/T 28181 devices send).
 */
#include <stdlib.h>
#include <string.h>

#include "gb/psdemux.h"
#include "common/banned.h"

void gb_psd_init(struct gb_psd *d)
{
    memset(d, 0, sizeof(*d));
    cv_buf_init(&d->in, GB_PSD_IN_MAX + 65536);
    cv_buf_init(&d->au, GB_PSD_AU_MAX);
}

void gb_psd_release(struct gb_psd *d)
{
    struct gb_psd_frame f;

    while (gb_psd_next(d, &f))
        free(f.data);
    cv_buf_release(&d->in);
    cv_buf_release(&d->au);
}

static void queue(struct gb_psd *d, bool video, uint8_t type, const uint8_t *p, size_t n,
                  uint64_t pts, uint64_t dts)
{
    struct gb_psd_frame *f;
    uint8_t *copy;

    if (d->qn == GB_PSD_QUEUE || n == 0 || !(copy = malloc(n))) {
        d->dropped++;
        return;
    }
    memcpy(copy, p, n);
    f = &d->q[(d->qhead + d->qn++) % GB_PSD_QUEUE];
    *f = (struct gb_psd_frame){video, type, copy, n, pts, dts};
}

static void au_flush(struct gb_psd *d)
{
    if (d->au_open && cv_buf_ok(&d->au))
        queue(d, true, d->au_type, d->au.data, d->au.len, d->au_pts, d->au_dts);
    else if (d->au_open)
        d->dropped++;
    d->au_open = false;
    cv_buf_reset(&d->au);
}

void gb_psd_lost(struct gb_psd *d)
{
    if (d->au_open)
        d->dropped++;
    d->au_open = false;
    cv_buf_reset(&d->au);
}

bool gb_psd_next(struct gb_psd *d, struct gb_psd_frame *f)
{
    if (d->qn == 0)
        return false;
    *f = d->q[d->qhead];
    d->qhead = (d->qhead + 1) % GB_PSD_QUEUE;
    d->qn--;
    return true;
}

static uint64_t read_ts(const uint8_t *p)
{
    return (uint64_t)(p[0] >> 1 & 7) << 30 | (uint64_t)p[1] << 22 | (uint64_t)(p[2] >> 1) << 15 |
           (uint64_t)p[3] << 7 | (uint64_t)(p[4] >> 1);
}

/* The PSM (section 2.5.4): stream types by elementary stream id. */
static void read_psm(struct gb_psd *d, const uint8_t *p, size_t n)
{
    size_t info, map, at, end;

    if (n < 16)
        return;
    info = (size_t)p[8] << 8 | p[9];
    if (10 + info + 2 > n)
        return;
    map = (size_t)p[10 + info] << 8 | p[11 + info];
    at = 12 + info;
    end = at + map;
    if (end > n - 4) /* the CRC_32 follows the map */
        return;
    memset(d->type, 0, sizeof(d->type));
    while (at + 4 <= end) {
        uint8_t type = p[at], id = p[at + 1];
        size_t el = (size_t)p[at + 2] << 8 | p[at + 3];
        d->type[id] = type;
        at += 4 + el;
    }
    d->have_psm = true;
}

static bool known_video(uint8_t t)
{
    return t == 0x1B || t == 0x24;
}

static bool known_audio(uint8_t t)
{
    return t == 0x90 || t == 0x91 || t == 0x0F;
}

/* One PES packet of n bytes (section 2.4.3.6, the MPEG-2 form). */
static void read_pes(struct gb_psd *d, const uint8_t *p, size_t n)
{
    uint8_t id = p[3], type = d->type[id];
    size_t hl, at;
    uint64_t pts = 0, dts = 0;
    bool has_pts = false;

    if (n < 9 || (p[6] & 0xC0) != 0x80)
        return; /* MPEG-1 PES or padding: GB/T 28181 uses the MPEG-2 form */
    hl = p[8];
    at = 9 + hl;
    if (at > n)
        return;
    if ((p[7] & 0x80) && hl >= 5) {
        pts = dts = read_ts(p + 9);
        has_pts = true;
        if ((p[7] & 0x40) && hl >= 10)
            dts = read_ts(p + 14);
    }
    if (id >= 0xE0 && id <= 0xEF && known_video(type)) {
        if (has_pts) {
            au_flush(d);
            d->au_open = true;
            d->au_type = type;
            d->au_pts = pts;
            d->au_dts = dts;
        }
        if (d->au_open)
            cv_buf_put(&d->au, p + at, n - at);
    } else if (id >= 0xC0 && id <= 0xDF && known_audio(type) && has_pts) {
        queue(d, false, type, p + at, n - at, pts, pts);
    }
}

/* Whether p (4 bytes) starts a unit this reader knows. */
static bool start_code(const uint8_t *p)
{
    return p[0] == 0 && p[1] == 0 && p[2] == 1 && p[3] >= 0xB9;
}

/* The length of the unit at p (avail bytes), 0 when more bytes are needed, -1 when p is no
 * unit. */
static long unit_len(const uint8_t *p, size_t avail)
{
    if (avail < 6)
        return 0;
    if (p[3] == 0xB9)
        return 4;
    if (p[3] == 0xBA) {
        if ((p[4] & 0xC0) == 0x40) {
            if (avail < 14)
                return 0;
            return 14 + (p[13] & 7);
        }
        if ((p[4] & 0xF0) == 0x20)
            return 12;
        return -1;
    }
    return 6 + ((long)p[4] << 8 | p[5]);
}

void gb_psd_feed(struct gb_psd *d, const uint8_t *p, size_t n)
{
    size_t at = 0;

    if (d->in.len + n > GB_PSD_IN_MAX) { /* a unit that never completes: start again */
        d->skipped += d->in.len;
        cv_buf_reset(&d->in);
        gb_psd_lost(d);
        if (n > GB_PSD_IN_MAX) {
            d->skipped += n;
            return;
        }
    }
    cv_buf_put(&d->in, p, n);
    if (!cv_buf_ok(&d->in)) {
        cv_buf_reset(&d->in);
        return;
    }
    while (d->in.len - at >= 4) {
        const uint8_t *u = d->in.data + at;
        size_t avail = d->in.len - at;
        long l;
        if (!start_code(u)) {
            at++;
            d->skipped++;
            continue;
        }
        l = unit_len(u, avail);
        if (l < 0) {
            at++;
            d->skipped++;
            continue;
        }
        if (l == 0 || (size_t)l > avail)
            break; /* wait for the rest of the unit */
        d->units++;
        if (u[3] == 0xBC)
            read_psm(d, u, (size_t)l);
        else if ((u[3] >= 0xC0 && u[3] <= 0xEF) && d->have_psm)
            read_pes(d, u, (size_t)l);
        at += (size_t)l;
    }
    if (at) {
        memmove(d->in.data, d->in.data + at, d->in.len - at);
        d->in.len -= at;
    }
}
