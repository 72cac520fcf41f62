/*
 * clip.c: working copies (format and procedure in docs/working-copies.md, API in clip.h).
 *
 * Planning reads only box headers: lay_seg_scan finds the complete fragments of every source,
 * the fragments that overlap the range are selected, their prft/moof boxes are parsed to find
 * the fields that change (mfhd sequence, tfdt, prft media_time, tfhd base_data_offset), the
 * timeline is laid out run by run, and the new header (ftyp, moov, sidx) and trailer (mfra) are
 * built in memory. Each output fragment is then "source bytes at [src_off, src_off + size) with
 * these few big-endian fields replaced", which is what exp_clip_read (clip_read.c) produces on
 * demand.
 *
 * Everything is computed with integers from the sources' bytes and (from_us, to_us), so two
 * plans of the same input give the same bytes on any machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "exporter/clip.h"
#include "exporter/clip_int.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "storage-layout/bmff.h"
#include "storage-layout/segfile.h"
#include "common/banned.h"

#define BOX_MAX LAY_BOX_LOAD_MAX /* any box we load (moov, moof, prft, ...) */
#define HEAD_MAX (40u << 20)     /* ftyp + moov + sidx of the clip */
#define TAIL_MAX (64u << 20)     /* mfra of the clip */
#define TRACKS_MAX 8
#define SIDX_REFS_MAX 65535      /* reference_count is 16 bits */
#define TIME_MAX (INT64_C(1) << 62) /* decode times and µs beyond this are treated as corrupt */

/* ---- small integer helpers ---- */

static int64_t floor_div(__int128 a, int64_t b)
{
    __int128 q = a / b;

    if (a % b != 0 && (a < 0) != (b < 0))
        q--;
    return q > TIME_MAX ? TIME_MAX : q < -TIME_MAX ? -TIME_MAX : (int64_t)q;
}

static int64_t ceil_div(__int128 a, int64_t b)
{
    return -floor_div(-a, b);
}

/* ---- boxes in memory ---- */

static bool is(const struct lay_box *b, const char *type)
{
    return lay_box_is(b->type, type);
}

static void be16(struct cv_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    cv_buf_put(b, x, 2);
}

/* ---- the plan ---- */

struct track {
    uint32_t id, timescale;
    uint32_t def_dur; /* from trex */
    bool video;
};

/* What planning learns about one selected fragment. */
struct fa {
    uint32_t file; /* index into the paths */
    uint64_t off, size;
    int64_t wall_us;
    uint64_t vdur;
    bool key; /* starts with a keyframe */
    bool cont; /* a later CMAF chunk of the fragment before it: off/size set by parse_group */
    uint64_t rest; /* bytes of the selected fragment after this chunk (its later chunks) */
    uint32_t moof_rel, mfhd_at;
    bool has_prft;
    uint8_t prft_w;
    uint32_t prft_at, prft_track;
    uint64_t prft_mt;
    bool present[TRACKS_MAX], has_bdo[TRACKS_MAX];
    uint8_t trafno[TRACKS_MAX], tfdt_w[TRACKS_MAX];
    uint32_t tfdt_at[TRACKS_MAX], bdo_at[TRACKS_MAX];
    uint64_t tfdt[TRACKS_MAX], dur[TRACKS_MAX], bdo[TRACKS_MAX];
    int64_t min_pt; /* earliest video presentation time relative to tfdt */
    int64_t shift[TRACKS_MAX]; /* source decode time - clip decode time */
};

struct planner {
    const char *const *paths;
    size_t n;
    struct lay_seg_info *infos;
    struct track tracks[TRACKS_MAX];
    size_t ntracks, vt;
    uint32_t movie_ts;
    uint8_t *ftyp, *moov; /* whole boxes of the first source */
    size_t ftyp_len, moov_len;
    uint64_t header_bytes;
    struct cv_buf sig; /* compatibility signature of the first source */
    struct fa *fa;
    size_t nfa;
    uint8_t *buf;
    size_t cap;
    uint64_t track_end[TRACKS_MAX]; /* clip decode time of each track's end */
};

static int track_index(const struct planner *pl, uint32_t id)
{
    for (size_t i = 0; i < pl->ntracks; i++)
        if (pl->tracks[i].id == id)
            return (int)i;
    return -1;
}

/* Load ftyp and moov (the file starts with ftyp; free/skip may sit before moov). */
static int load_header(int fd, uint64_t file_len, const char *path, uint8_t **ftyp,
                       size_t *ftyp_len, uint8_t **moov, size_t *moov_len, uint64_t *end,
                       struct cv_err *err)
{
    uint64_t off = 0;
    struct lay_box_hdr h;
    int rc;

    *ftyp = *moov = NULL;
    while (!*moov) {
        size_t cap = 0;
        rc = lay_box_read(fd, off, file_len, &h, err);
        if (rc == 0)
            return cv_errf(err, CV_ECORRUPT, "'%s': malformed box at offset %llu before moov",
                           path, (unsigned long long)off);
        if (rc < 0)
            return cv_errwrap(err, rc, "'%s'", path);
        if (off == 0 && !lay_box_is(h.type, "ftyp"))
            return cv_errf(err, CV_ECORRUPT, "'%s': not a segment file (no ftyp)", path);
        if (off == 0 || lay_box_is(h.type, "moov")) {
            rc = lay_box_load(fd, off, h.size, off == 0 ? ftyp : moov, &cap, err);
            if (rc < 0)
                return cv_errwrap(err, rc, "'%s'", path);
            *(off == 0 ? ftyp_len : moov_len) = (size_t)h.size;
        } else if (!lay_box_is(h.type, "free") && !lay_box_is(h.type, "skip")) {
            return cv_errf(err, CV_ECORRUPT, "'%s': '%s' box before moov", path, h.type);
        }
        off += h.size;
    }
    *end = off;
    return 0;
}

/*
 * Describe the tracks of a moov: the signature (what must be equal in every source: movie
 * timescale, per trak its id, handler, media timescale and whole stsd, and every trex) and,
 * when tracks is not NULL, the track table. -1 when malformed.
 */
static int moov_describe(const uint8_t *moov, size_t len, struct cv_buf *sig, struct track *tracks,
                         size_t *ntracks, uint32_t *movie_ts)
{
    struct lay_box_cur p;
    struct lay_box b, c, d, e;
    size_t nt = 0;
    int r;

    if (len < 8)
        return -1;
    lay_box_init(&p, moov + 8, len - 8);
    while ((r = lay_box_next(&p, &b, NULL)) == 1) {
        if (is(&b, "mvhd")) {
            if (lay_box_u32_after_times(&b, movie_ts) < 0 || *movie_ts == 0)
                return -1;
            cv_buf_be32(sig, *movie_ts);
        } else if (is(&b, "trak")) {
            struct lay_box_cur q;
            uint32_t id = 0, ts = 0;
            char handler[4] = {0};
            const uint8_t *stsd = NULL;
            size_t stsd_len = 0;
            lay_box_enter(&q, &b);
            while ((r = lay_box_next(&q, &c, NULL)) == 1) {
                if (is(&c, "tkhd")) {
                    if (lay_box_u32_after_times(&c, &id) < 0)
                        return -1;
                } else if (is(&c, "mdia")) {
                    struct lay_box_cur m;
                    lay_box_enter(&m, &c);
                    while ((r = lay_box_next(&m, &d, NULL)) == 1) {
                        if (is(&d, "mdhd")) {
                            if (lay_box_u32_after_times(&d, &ts) < 0)
                                return -1;
                        } else if (is(&d, "hdlr") && d.len >= 12) {
                            memcpy(handler, d.body + 8, 4);
                        } else if (is(&d, "minf")) {
                            struct lay_box_cur s;
                            lay_box_enter(&s, &d);
                            while ((r = lay_box_next(&s, &e, NULL)) == 1) {
                                struct lay_box_cur t;
                                struct lay_box f;
                                if (!is(&e, "stbl"))
                                    continue;
                                lay_box_enter(&t, &e);
                                while ((r = lay_box_next(&t, &f, NULL)) == 1)
                                    if (is(&f, "stsd")) {
                                        stsd = f.start;
                                        stsd_len = f.size;
                                    }
                                if (r < 0)
                                    return -1;
                            }
                            if (r < 0)
                                return -1;
                        }
                    }
                    if (r < 0)
                        return -1;
                }
            }
            if (r < 0 || id == 0 || ts == 0 || !stsd)
                return -1;
            cv_buf_be32(sig, id);
            cv_buf_put(sig, handler, 4);
            cv_buf_be32(sig, ts);
            cv_buf_be32(sig, (uint32_t)stsd_len);
            cv_buf_put(sig, stsd, stsd_len);
            if (tracks) {
                if (nt == TRACKS_MAX)
                    return -1;
                memset(&tracks[nt], 0, sizeof(tracks[nt]));
                tracks[nt].id = id;
                tracks[nt].timescale = ts;
                tracks[nt].video = memcmp(handler, "vide", 4) == 0;
                nt++;
            }
        } else if (is(&b, "mvex")) {
            struct lay_box_cur q;
            lay_box_enter(&q, &b);
            while ((r = lay_box_next(&q, &c, NULL)) == 1) {
                if (!is(&c, "trex"))
                    continue;
                cv_buf_put(sig, c.start, c.size);
                if (tracks && c.len >= 24) {
                    uint32_t id = cv_get_be32(c.body + 4);
                    for (size_t i = 0; i < nt; i++)
                        if (tracks[i].id == id)
                            tracks[i].def_dur = cv_get_be32(c.body + 12);
                }
            }
            if (r < 0)
                return -1;
        }
    }
    if (r < 0)
        return -1;
    if (ntracks)
        *ntracks = nt;
    return 0;
}

/* ---- fragments ---- */

/* Parse one traf (at group offset `base` of its first byte) into fa. -1 when malformed. */
static int parse_traf(const struct planner *pl, const struct lay_box *traf, uint32_t base,
                      uint8_t trafno, struct fa *fa)
{
    struct lay_box_cur p;
    uint32_t def_dur = 0;
    uint64_t cum = 0;
    bool have_tfhd = false, have_tfdt = false;
    int t = -1, r;
    struct lay_box b;

    lay_box_enter(&p, traf);
    while ((r = lay_box_next(&p, &b, NULL)) == 1) {
        struct cv_rd rd;
        uint32_t vf, at = base + (uint32_t)(b.body - traf->start);
        cv_rd_init(&rd, b.body, b.len);
        vf = cv_rd_be32(&rd);
        if (is(&b, "tfhd")) {
            t = track_index(pl, cv_rd_be32(&rd));
            if (t < 0 || fa->present[t])
                return -1;
            def_dur = pl->tracks[t].def_dur;
            if (vf & 0x01) {
                fa->has_bdo[t] = true;
                fa->bdo_at[t] = at + (uint32_t)rd.off;
                fa->bdo[t] = cv_rd_be64(&rd);
            }
            if (vf & 0x02)
                cv_rd_skip(&rd, 4);
            if (vf & 0x08)
                def_dur = cv_rd_be32(&rd);
            have_tfhd = true;
        } else if (is(&b, "tfdt")) {
            if (!have_tfhd)
                return -1;
            fa->tfdt_w[t] = (vf >> 24) == 1 ? 8 : 4;
            fa->tfdt_at[t] = at + 4;
            fa->tfdt[t] = fa->tfdt_w[t] == 8 ? cv_rd_be64(&rd) : cv_rd_be32(&rd);
            have_tfdt = true;
        } else if (is(&b, "trun")) {
            uint32_t count = cv_rd_be32(&rd);
            bool v1 = (vf >> 24) == 1;
            if (!have_tfhd || count > 1000000)
                return -1;
            if (vf & 0x01)
                cv_rd_skip(&rd, 4);
            if (vf & 0x04)
                cv_rd_skip(&rd, 4);
            for (uint32_t i = 0; i < count && !rd.bad; i++) {
                uint32_t d = def_dur;
                int64_t cts = 0;
                if (vf & 0x100)
                    d = cv_rd_be32(&rd);
                if (vf & 0x200)
                    cv_rd_skip(&rd, 4);
                if (vf & 0x400)
                    cv_rd_skip(&rd, 4);
                if (vf & 0x800) {
                    uint32_t raw = cv_rd_be32(&rd);
                    cts = v1 ? (int64_t)(int32_t)raw : (int64_t)raw;
                }
                if ((size_t)t == pl->vt && (int64_t)cum + cts < fa->min_pt)
                    fa->min_pt = (int64_t)cum + cts;
                cum += d;
            }
        }
        if (rd.bad)
            return -1;
    }
    if (r < 0 || !have_tfhd || !have_tfdt)
        return -1;
    fa->present[t] = true;
    fa->trafno[t] = trafno;
    fa->dur[t] = cum;
    return 0;
}

static int parse_moof(const struct planner *pl, const uint8_t *moof, size_t len, uint32_t base,
                      struct fa *fa)
{
    struct lay_box_cur p;
    uint8_t trafno = 0;
    bool have_mfhd = false;
    struct lay_box b;
    int r;

    lay_box_init(&p, moof, len);
    /* `moof` points at the box body; base is the group offset of that body. */
    while ((r = lay_box_next(&p, &b, NULL)) == 1) {
        uint32_t at = base + (uint32_t)(b.start - moof);
        if (is(&b, "mfhd") && b.len >= 8) {
            fa->mfhd_at = at + (uint32_t)(b.body - b.start) + 4;
            have_mfhd = true;
        } else if (is(&b, "traf")) {
            if (trafno == 255 || parse_traf(pl, &b, at, ++trafno, fa) < 0)
                return -1;
        }
    }
    return r < 0 || !have_mfhd || !fa->present[pl->vt] ? -1 : 0;
}

/* Read the boxes of one fragment group (prft, uuid, moof) up to its mdat into fa. */
static int parse_group(struct planner *pl, int fd, struct fa *fa, struct cv_err *err)
{
    const char *path = pl->paths[fa->file];
    uint64_t off = fa->off, end = fa->off + fa->size, size, hsize;
    bool have_moof = false;
    struct lay_box_hdr h;
    const char *type = h.type;
    int rc = 0;

    fa->min_pt = INT64_MAX;
    while (off < end) {
        uint32_t rel = (uint32_t)(off - fa->off);
        rc = lay_box_read(fd, off, end, &h, err);
        if (rc <= 0)
            goto bad;
        size = h.size;
        hsize = h.hsize;
        if (strcmp(type, "mdat") == 0) {
            /* a chunked fragment: this group is its first (or next) chunk; the rest follow */
            fa->rest = off + size < end ? end - (off + size) : 0;
            fa->size -= fa->rest;
            break;
        }
        if (size > LAY_BOX_LOAD_MAX)
            goto bad;
        rc = lay_box_load(fd, off, size, &pl->buf, &pl->cap, err);
        if (rc < 0)
            return cv_errwrap(err, rc, "'%s'", path);
        if (strcmp(type, "prft") == 0) {
            struct cv_rd rd;
            uint32_t vf;
            cv_rd_init(&rd, pl->buf + hsize, (size_t)(size - hsize));
            vf = cv_rd_be32(&rd);
            fa->prft_track = cv_rd_be32(&rd);
            if (fa->cont) /* a continuation chunk's own time; a fragment's comes from the scan */
                fa->wall_us = lay_us_from_ntp(cv_rd_be64(&rd));
            else
                cv_rd_skip(&rd, 8);
            fa->prft_w = (vf >> 24) == 1 ? 8 : 4;
            fa->prft_at = rel + (uint32_t)(hsize + rd.off);
            fa->prft_mt = fa->prft_w == 8 ? cv_rd_be64(&rd) : cv_rd_be32(&rd);
            if (rd.bad || track_index(pl, fa->prft_track) < 0)
                goto bad;
            fa->has_prft = true;
        } else if (strcmp(type, "moof") == 0) {
            if (have_moof)
                goto bad;
            fa->moof_rel = rel;
            if (parse_moof(pl, pl->buf + hsize, (size_t)(size - hsize), rel + (uint32_t)hsize,
                           fa) < 0)
                goto bad;
            have_moof = true;
        }
        off += size;
    }
    if (!have_moof || off >= end)
        goto bad;
    if (fa->min_pt == INT64_MAX || fa->min_pt < 0)
        fa->min_pt = 0;
    return 0;
bad:
    if (rc < 0)
        return cv_errwrap(err, rc, "'%s'", path);
    return cv_errf(err, CV_ECORRUPT, "'%s': malformed fragment at offset %llu", path,
                   (unsigned long long)fa->off);
}

/* ---- timeline ---- */

static uint64_t run_of(const struct planner *pl, const struct fa *fa)
{
    return pl->infos[fa->file].hdr.run_id;
}

/*
 * Decide the shifts of the timeline piece starting at fragment `f`: the clip decode time D of
 * its video starts at its wall-clock distance from the origin (0 for the first piece), or at
 * `at` (>= 0) when the piece goes on from the one before (the next segment of the same run,
 * whose decode times start again at 0), and moves later until no track starts before the
 * previous piece ended (or before 0).
 */
static int piece_shifts(struct planner *pl, struct fa *f, bool first, int64_t origin_us,
                        int64_t at, const char *path, struct cv_err *err)
{
    const struct track *v = &pl->tracks[pl->vt];
    int64_t vdts = (int64_t)f->tfdt[pl->vt], d = 0;
    bool changed = true;

    if (!first && at >= 0) {
        d = at;
    } else if (!first) {
        d = floor_div((__int128)(f->wall_us - origin_us) * v->timescale, 1000000);
        for (size_t t = 0; t < pl->ntracks; t++) {
            int64_t e = ceil_div((__int128)pl->track_end[t] * v->timescale,
                                 pl->tracks[t].timescale);
            if (d < e)
                d = e;
        }
    }
    for (int iter = 0; changed; iter++) {
        if (iter > 2 * TRACKS_MAX)
            return cv_errf(err, CV_ECORRUPT, "'%s': cannot place the fragment at offset %llu",
                           path, (unsigned long long)f->off);
        changed = false;
        for (size_t t = 0; t < pl->ntracks; t++) {
            const struct track *tr = &pl->tracks[t];
            int64_t s = t == pl->vt ? vdts - d
                                    : floor_div((__int128)(vdts - d) * tr->timescale, v->timescale);
            int64_t need;
            f->shift[t] = s;
            if (!f->present[t])
                continue;
            need = (int64_t)pl->track_end[t] - ((int64_t)f->tfdt[t] - s);
            if (need > 0) {
                d += ceil_div((__int128)need * v->timescale, tr->timescale);
                changed = true;
            }
        }
    }
    return 0;
}

/* ---- output ---- */

/* Rewrite a mvhd/mdhd (or tkhd when `tkhd`) with `duration`; version 1 when a value needs it. */
static void put_timed(struct cv_buf *o, const struct lay_box *b, bool tkhd, uint64_t duration)
{
    struct cv_rd rd;
    uint8_t v;
    uint32_t flags;
    uint64_t ctime, mtime;
    uint8_t mid[8];
    size_t nmid = tkhd ? 8 : 4, mark;
    bool v1;

    cv_rd_init(&rd, b->body, b->len);
    v = cv_rd_u8(&rd);
    flags = (uint32_t)cv_rd_u8(&rd) << 16;
    flags |= (uint32_t)cv_rd_u8(&rd) << 8;
    flags |= cv_rd_u8(&rd);
    ctime = v == 1 ? cv_rd_be64(&rd) : cv_rd_be32(&rd);
    mtime = v == 1 ? cv_rd_be64(&rd) : cv_rd_be32(&rd);
    cv_rd_bytes(&rd, mid, nmid);
    if (v == 1)
        cv_rd_be64(&rd);
    else
        cv_rd_be32(&rd);
    if (rd.bad) { /* checked by moov_describe; keep the box as it was */
        cv_buf_put(o, b->start, b->size);
        return;
    }
    v1 = v == 1 || duration > UINT32_MAX;
    lay_box_begin(o, b->type, &mark);
    cv_buf_be32(o, (v1 ? 1u << 24 : 0) | flags);
    if (v1) {
        cv_buf_be64(o, ctime);
        cv_buf_be64(o, mtime);
        cv_buf_put(o, mid, nmid);
        cv_buf_be64(o, duration);
    } else {
        cv_buf_be32(o, (uint32_t)ctime);
        cv_buf_be32(o, (uint32_t)mtime);
        cv_buf_put(o, mid, nmid);
        cv_buf_be32(o, (uint32_t)duration);
    }
    cv_buf_put(o, b->body + rd.off, b->len - rd.off);
    lay_box_end(o, mark);
}

static uint64_t movie_dur(const struct planner *pl, size_t t)
{
    return (uint64_t)ceil_div((__int128)pl->track_end[t] * pl->movie_ts,
                              pl->tracks[t].timescale);
}

/* The clip's moov: the first source's, with durations and an mehd. */
static void put_moov(struct cv_buf *o, const struct planner *pl)
{
    struct lay_box_cur p;
    uint64_t total = 0;
    struct lay_box b, c, d;
    size_t mark, mark2, mark3;

    lay_box_init(&p, pl->moov + 8, pl->moov_len - 8);
    for (size_t t = 0; t < pl->ntracks; t++)
        if (movie_dur(pl, t) > total)
            total = movie_dur(pl, t);
    lay_box_begin(o, "moov", &mark);
    while (lay_box_next(&p, &b, NULL) == 1) {
        if (is(&b, "mvhd")) {
            put_timed(o, &b, false, total);
        } else if (is(&b, "trak")) {
            struct lay_box_cur q;
            int t = -1;
            lay_box_enter(&q, &b);
            while (lay_box_next(&q, &c, NULL) == 1)
                if (is(&c, "tkhd") && c.len >= 24)
                    t = track_index(pl, cv_get_be32(c.body + (c.body[0] == 1 ? 20 : 12)));
            lay_box_enter(&q, &b);
            lay_box_begin(o, "trak", &mark2);
            while (lay_box_next(&q, &c, NULL) == 1) {
                if (is(&c, "tkhd") && t >= 0) {
                    put_timed(o, &c, true, movie_dur(pl, (size_t)t));
                } else if (is(&c, "mdia") && t >= 0) {
                    struct lay_box_cur m;
                    lay_box_enter(&m, &c);
                    lay_box_begin(o, "mdia", &mark3);
                    while (lay_box_next(&m, &d, NULL) == 1) {
                        if (is(&d, "mdhd"))
                            put_timed(o, &d, false, pl->track_end[t]);
                        else
                            cv_buf_put(o, d.start, d.size);
                    }
                    lay_box_end(o, mark3);
                } else {
                    cv_buf_put(o, c.start, c.size);
                }
            }
            lay_box_end(o, mark2);
        } else if (is(&b, "mvex")) {
            struct lay_box_cur q;
            lay_box_enter(&q, &b);
            lay_box_begin(o, "mvex", &mark2);
            lay_box_begin(o, "mehd", &mark3);
            if (total > UINT32_MAX) {
                cv_buf_be32(o, 1u << 24);
                cv_buf_be64(o, total);
            } else {
                cv_buf_be32(o, 0);
                cv_buf_be32(o, (uint32_t)total);
            }
            lay_box_end(o, mark3);
            while (lay_box_next(&q, &c, NULL) == 1)
                if (!is(&c, "mehd"))
                    cv_buf_put(o, c.start, c.size);
            lay_box_end(o, mark2);
        } else {
            cv_buf_put(o, b.start, b.size);
        }
    }
    lay_box_end(o, mark);
}

static uint64_t moof_out(const struct exp_clip *c, const struct fa *fa, size_t i)
{
    return c->frags[i].out_off + fa[i].moof_rel;
}

/* The sidx over the video track, or nothing when the clip does not fit one (see the doc). */
static bool sidx_fits(const struct planner *pl, const struct exp_clip *c, const int64_t *ept)
{
    if (pl->nfa > SIDX_REFS_MAX)
        return false;
    for (size_t i = 0; i < pl->nfa; i++) {
        uint64_t next = i + 1 < pl->nfa ? moof_out(c, pl->fa, i + 1) : c->tail_off;
        int64_t dur = i + 1 < pl->nfa ? ept[i + 1] - ept[i] : (int64_t)pl->fa[i].vdur;
        if (next - moof_out(c, pl->fa, i) >= (1u << 31) || dur < 0 || dur > UINT32_MAX)
            return false;
    }
    return true;
}

static void put_sidx(struct cv_buf *o, const struct planner *pl, const struct exp_clip *c,
                     const int64_t *ept, uint64_t sidx_end)
{
    const struct track *v = &pl->tracks[pl->vt];
    size_t mark;

    lay_box_begin(o, "sidx", &mark);
    cv_buf_be32(o, 1u << 24);
    cv_buf_be32(o, v->id);
    cv_buf_be32(o, v->timescale);
    cv_buf_be64(o, (uint64_t)ept[0]);
    cv_buf_be64(o, moof_out(c, pl->fa, 0) - sidx_end);
    be16(o, 0);
    be16(o, (uint16_t)pl->nfa);
    for (size_t i = 0; i < pl->nfa; i++) {
        const struct fa *f = &pl->fa[i];
        uint64_t next = i + 1 < pl->nfa ? moof_out(c, pl->fa, i + 1) : c->tail_off;
        int64_t dur = i + 1 < pl->nfa ? ept[i + 1] - ept[i] : (int64_t)f->vdur;
        cv_buf_be32(o, (uint32_t)(next - moof_out(c, pl->fa, i)));
        cv_buf_be32(o, (uint32_t)dur);
        cv_buf_be32(o, f->key ? 0x90000000u : 0); /* starts_with_SAP, SAP_type 1 */
    }
    lay_box_end(o, mark);
}

static void put_mfra(struct cv_buf *o, const struct planner *pl, const struct exp_clip *c)
{
    size_t mark, mark2;

    lay_box_begin(o, "mfra", &mark);
    for (size_t t = 0; t < pl->ntracks; t++) {
        uint32_t n = 0;
        for (size_t i = 0; i < pl->nfa; i++)
            n += pl->fa[i].present[t];
        if (n == 0)
            continue;
        lay_box_begin(o, "tfra", &mark2);
        cv_buf_be32(o, 1u << 24);
        cv_buf_be32(o, pl->tracks[t].id);
        cv_buf_be32(o, 0); /* 1-byte traf, trun and sample numbers */
        cv_buf_be32(o, n);
        for (size_t i = 0; i < pl->nfa; i++) {
            const struct fa *f = &pl->fa[i];
            if (!f->present[t])
                continue;
            cv_buf_be64(o, f->tfdt[t] - (uint64_t)f->shift[t]);
            cv_buf_be64(o, moof_out(c, pl->fa, i));
            cv_buf_u8(o, f->trafno[t]);
            cv_buf_u8(o, 1);
            cv_buf_u8(o, 1);
        }
        lay_box_end(o, mark2);
    }
    lay_box_begin(o, "mfro", &mark2);
    cv_buf_be32(o, 0);
    cv_buf_be32(o, (uint32_t)(o->len - mark + 4));
    lay_box_end(o, mark2);
    lay_box_end(o, mark);
}

/* ---- planning ---- */

static void planner_release(struct planner *pl)
{
    if (pl->infos)
        for (size_t i = 0; i < pl->n; i++)
            lay_seg_info_release(&pl->infos[i]);
    free(pl->infos);
    free(pl->ftyp);
    free(pl->moov);
    cv_buf_release(&pl->sig);
    free(pl->fa);
    free(pl->buf);
}

static int64_t frag_end_us(const struct lay_seg_info *info, const struct lay_seg_frag *f)
{
    return f->wall_us + (int64_t)(f->video_dur * 1000000 / info->video_timescale);
}

int exp_clip_open_ro(const char *path, int *fd, struct cv_err *err)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return cv_errf(err, cv_errno_code(errno), "cannot open '%s': %s", path, strerror(errno));
    return 0;
}

/* Scan every source and select the fragments that overlap [from, to) into pl->fa. */
static int select_frags(struct planner *pl, int64_t from_us, int64_t to_us, struct cv_err *err)
{
    size_t f0 = 0, j0 = 0, f1 = 0, j1 = 0, count = 0;
    bool found = false;
    int rc;

    for (size_t f = 0; f < pl->n; f++) {
        int fd;
        rc = exp_clip_open_ro(pl->paths[f], &fd, err);
        if (rc < 0)
            return rc;
        rc = lay_seg_scan(fd, &pl->infos[f], err);
        close(fd);
        if (rc < 0)
            return cv_errwrap(err, rc, "'%s'", pl->paths[f]);
        for (size_t j = 0; j < pl->infos[f].nfrags; j++) {
            const struct lay_seg_frag *fr = &pl->infos[f].frags[j];
            if (fr->wall_us == INT64_MIN || fr->wall_us < -TIME_MAX || fr->wall_us > TIME_MAX)
                return cv_errf(err, CV_ECORRUPT, "'%s': fragment at offset %llu has no prft "
                               "(wall-clock time)", pl->paths[f], (unsigned long long)fr->offset);
            if (fr->wall_us < to_us && frag_end_us(&pl->infos[f], fr) > from_us) {
                if (!found) {
                    f0 = f;
                    j0 = j;
                    found = true;
                }
                f1 = f;
                j1 = j;
            }
        }
    }
    if (!found)
        return cv_errf(err, CV_ENOENT, "no recorded fragment overlaps the requested range");
    /* Start on a keyframe when the first fragment lacks one (a cut after FRAG_MAX_US). */
    while (!pl->infos[f0].frags[j0].starts_with_key) {
        size_t pf = f0, pj = j0;
        if (pj == 0) {
            while (pf > 0 && pl->infos[pf - 1].nfrags == 0)
                pf--;
            if (pf == 0)
                break;
            pf--;
            pj = pl->infos[pf].nfrags;
        }
        pj--;
        if (pl->infos[pf].hdr.run_id != pl->infos[f0].hdr.run_id)
            break;
        f0 = pf;
        j0 = pj;
    }
    for (size_t f = f0; f <= f1; f++)
        for (size_t j = f == f0 ? j0 : 0; j < (f == f1 ? j1 + 1 : pl->infos[f].nfrags); j++)
            count += pl->infos[f].frags[j].chunks ? pl->infos[f].frags[j].chunks : 1;
    if (count > EXP_CLIP_FRAGS_MAX)
        return cv_errf(err, CV_ELIMIT, "the range holds %zu fragments, more than the %d a clip "
                       "may hold; ask for a shorter range", count, EXP_CLIP_FRAGS_MAX);
    pl->fa = calloc(count, sizeof(*pl->fa));
    if (!pl->fa)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    for (size_t f = f0; f <= f1; f++)
        for (size_t j = f == f0 ? j0 : 0; j < (f == f1 ? j1 + 1 : pl->infos[f].nfrags); j++) {
            struct fa *a = &pl->fa[pl->nfa++];
            const struct lay_seg_frag *fr = &pl->infos[f].frags[j];
            a->file = (uint32_t)f;
            a->off = fr->offset;
            a->size = fr->size;
            a->wall_us = fr->wall_us;
            a->key = fr->starts_with_key;
            for (uint32_t k = 1; k < fr->chunks; k++) { /* its later CMAF chunks */
                a = &pl->fa[pl->nfa++];
                a->file = (uint32_t)f;
                a->wall_us = INT64_MIN;
                a->cont = true;
            }
        }
    return 0;
}

/* Check each used source's tracks against the first one's and parse its fragments. */
static int read_fragments(struct planner *pl, struct cv_err *err)
{
    int rc = 0, fd = -1;
    size_t i = 0;

    while (i < pl->nfa && rc == 0) {
        uint32_t file = pl->fa[i].file;
        const char *path = pl->paths[file];
        uint8_t *ftyp = NULL, *moov = NULL;
        size_t flen = 0, mlen = 0;
        uint64_t hend = 0;
        uint32_t mts = 0;
        struct cv_buf sig;

        cv_buf_init(&sig, BOX_MAX);
        rc = exp_clip_open_ro(path, &fd, err);
        if (rc == 0)
            rc = load_header(fd, pl->infos[file].file_bytes, path, &ftyp, &flen, &moov, &mlen,
                             &hend, err);
        if (rc == 0 && moov_describe(moov, mlen, &sig, i == 0 ? pl->tracks : NULL,
                                     i == 0 ? &pl->ntracks : NULL, &mts) < 0)
            rc = cv_errf(err, CV_ECORRUPT, "'%s': malformed moov box", path);
        if (rc == 0 && !cv_buf_ok(&sig))
            rc = cv_errf(err, CV_ELIMIT, "'%s': moov box too large", path);
        if (rc == 0 && i == 0) {
            pl->ftyp = ftyp;
            pl->moov = moov;
            pl->ftyp_len = flen;
            pl->moov_len = mlen;
            pl->header_bytes = hend;
            pl->movie_ts = mts;
            ftyp = moov = NULL;
            pl->vt = SIZE_MAX;
            for (size_t t = 0; t < pl->ntracks && pl->vt == SIZE_MAX; t++)
                if (pl->tracks[t].video)
                    pl->vt = t;
            if (pl->vt == SIZE_MAX)
                rc = cv_errf(err, CV_ECORRUPT, "'%s': no video track", path);
            else
                cv_buf_put(&pl->sig, sig.data, sig.len);
        } else if (rc == 0 && (sig.len != pl->sig.len || memcmp(sig.data, pl->sig.data, sig.len))) {
            rc = cv_errf(err, CV_EMEDIA, "'%s' has other tracks or codec parameters than '%s' "
                         "(the camera's stream changed): make one clip per run", path,
                         pl->paths[pl->fa[0].file]);
        }
        free(ftyp);
        free(moov);
        cv_buf_release(&sig);
        for (; rc == 0 && i < pl->nfa && pl->fa[i].file == file; i++) {
            struct fa *a = &pl->fa[i];
            if (a->cont && a->size == 0)
                rc = cv_errf(err, CV_ECORRUPT, "'%s': a chunk of the fragment before offset "
                             "%llu is missing", path, (unsigned long long)a[-1].off);
            if (rc == 0)
                rc = parse_group(pl, fd, a, err);
            if (rc == 0 && a->cont && a->wall_us == INT64_MIN)
                rc = cv_errf(err, CV_ECORRUPT, "'%s': chunk at offset %llu has no prft", path,
                             (unsigned long long)a->off);
            a->vdur = a->dur[pl->vt];
            if (rc == 0 && a->rest && (i + 1 == pl->nfa || !a[1].cont))
                rc = cv_errf(err, CV_ECORRUPT, "'%s': fragment at offset %llu has more chunks "
                             "than it had when scanned", path, (unsigned long long)a->off);
            if (rc == 0 && a->rest) {
                a[1].off = a->off + a->size;
                a[1].size = a->rest;
            }
        }
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    return rc;
}

/* Lay out the timeline: the shifts of every fragment and the end of every track. */
static int timeline(struct planner *pl, int64_t *origin_us, struct cv_err *err)
{
    const struct track *v = &pl->tracks[pl->vt];
    int rc;

    for (size_t i = 0; i < pl->nfa; i++) {
        struct fa *f = &pl->fa[i], *prev = i ? &pl->fa[i - 1] : NULL;
        const char *path = pl->paths[f->file];
        if (!prev || run_of(pl, f) != run_of(pl, prev) || f->file != prev->file ||
            f->tfdt[pl->vt] < prev->tfdt[pl->vt]) {
            /* the next file of the same run: its video goes on where the last one ended */
            int64_t at = prev && run_of(pl, f) == run_of(pl, prev)
                             ? (int64_t)prev->tfdt[pl->vt] - prev->shift[pl->vt] +
                                   (int64_t)prev->vdur
                             : -1;
            if (f->tfdt[pl->vt] > (uint64_t)TIME_MAX)
                return cv_errf(err, CV_ECORRUPT, "'%s': decode time out of range at offset %llu",
                               path, (unsigned long long)f->off);
            rc = piece_shifts(pl, f, !prev, prev ? *origin_us : 0, at, path, err);
            if (rc < 0)
                return rc;
            if (!prev)
                *origin_us = f->wall_us -
                             floor_div((__int128)((int64_t)f->tfdt[pl->vt] - f->shift[pl->vt]) *
                                           1000000, v->timescale);
        } else {
            memcpy(f->shift, prev->shift, sizeof(f->shift));
        }
        for (size_t t = 0; t < pl->ntracks; t++) {
            int64_t nd = (int64_t)f->tfdt[t] - f->shift[t];
            if (!f->present[t])
                continue;
            if (f->tfdt[t] > (uint64_t)TIME_MAX || nd < 0 || nd > TIME_MAX ||
                (f->tfdt_w[t] == 4 && nd > UINT32_MAX) || f->dur[t] > (uint64_t)TIME_MAX)
                return cv_errf(err, CV_ECORRUPT, "'%s': decode time of track %u out of range "
                               "in the fragment at offset %llu", path, pl->tracks[t].id,
                               (unsigned long long)f->off);
            if ((uint64_t)nd + f->dur[t] > pl->track_end[t])
                pl->track_end[t] = (uint64_t)nd + f->dur[t];
        }
        if (f->has_prft) {
            int t = track_index(pl, f->prft_track);
            int64_t mt = (int64_t)f->prft_mt - f->shift[t];
            if (f->prft_mt > (uint64_t)TIME_MAX || mt < 0 || (f->prft_w == 4 && mt > UINT32_MAX))
                return cv_errf(err, CV_ECORRUPT, "'%s': prft media time out of range in the "
                               "fragment at offset %llu", path, (unsigned long long)f->off);
        }
    }
    return 0;
}

static int add_patch(struct exp_clip *c, size_t *cap, uint32_t at, uint8_t width, uint64_t value)
{
    if (cv_grow((void **)&c->patches, cap, c->npatches + 1, sizeof(*c->patches), 16) < 0)
        return -1;
    c->patches[c->npatches++] = (struct patch){at, width, value};
    return 0;
}

/* Sources, output fragments and their patches, header and trailer. */
static int build(struct exp_clip *c, struct planner *pl, struct cv_err *err)
{
    size_t pcap = 0, sidx_len = 40 + 12 * pl->nfa;
    uint64_t off;
    int64_t *ept = NULL;
    int rc = 0;

    c->srcs = calloc(pl->nfa, sizeof(*c->srcs));
    c->need = calloc(pl->nfa, sizeof(*c->need));
    c->frags = calloc(pl->nfa, sizeof(*c->frags));
    ept = calloc(pl->nfa, sizeof(*ept));
    if (!c->srcs || !c->need || !c->frags || !ept) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    cv_buf_put(&c->head, pl->ftyp, pl->ftyp_len);
    put_moov(&c->head, pl);
    off = c->head.len + sidx_len;
    for (size_t i = 0; i < pl->nfa; i++) {
        const struct fa *f = &pl->fa[i];
        struct exp_clip_source *s = c->nsrcs ? &c->srcs[c->nsrcs - 1] : NULL;
        int64_t end = f->wall_us + (int64_t)(f->vdur * 1000000 / pl->tracks[pl->vt].timescale);
        if (!s || pl->fa[i - 1].file != f->file) {
            s = &c->srcs[c->nsrcs++];
            s->path = strdup(pl->paths[f->file]);
            if (!s->path) {
                rc = cv_errf(err, CV_ENOMEM, "out of memory");
                goto out;
            }
            s->run_id = pl->infos[f->file].hdr.run_id;
            s->header_bytes = c->nsrcs == 1 ? pl->header_bytes : 0;
            s->offset = f->off;
            s->first_us = f->wall_us;
        }
        s->bytes = f->off + f->size - s->offset;
        s->fragments++;
        s->end_us = end;
        c->need[c->nsrcs - 1] = s->offset + s->bytes;
        c->frags[i] = (struct ofrag){(uint32_t)(c->nsrcs - 1), f->off, f->size, off,
                                     (uint32_t)c->npatches, 0};
        off += f->size;
        ept[i] = (int64_t)f->tfdt[pl->vt] - f->shift[pl->vt] + f->min_pt;
        if (add_patch(c, &pcap, f->mfhd_at, 4, i + 1) < 0)
            goto oom;
        for (size_t t = 0; t < pl->ntracks; t++) {
            if (!f->present[t])
                continue;
            if (add_patch(c, &pcap, f->tfdt_at[t], f->tfdt_w[t],
                          f->tfdt[t] - (uint64_t)f->shift[t]) < 0)
                goto oom;
            if (f->has_bdo[t]) {
                if (f->bdo[t] < f->off) {
                    rc = cv_errf(err, CV_ECORRUPT, "'%s': base data offset before its fragment "
                                 "at offset %llu", pl->paths[f->file],
                                 (unsigned long long)f->off);
                    goto out;
                }
                if (add_patch(c, &pcap, f->bdo_at[t], 8,
                              f->bdo[t] - f->off + c->frags[i].out_off) < 0)
                    goto oom;
            }
        }
        if (f->has_prft &&
            add_patch(c, &pcap, f->prft_at, f->prft_w,
                      f->prft_mt - (uint64_t)f->shift[track_index(pl, f->prft_track)]) < 0)
            goto oom;
        c->frags[i].npatch = (uint32_t)c->npatches - c->frags[i].patch0;
    }
    c->nfrags = pl->nfa;
    c->tail_off = off;
    if (!sidx_fits(pl, c, ept)) {
        /* No sidx: shift everything back by its size (base data offsets move with it). */
        for (size_t i = 0; i < pl->nfa; i++) {
            c->frags[i].out_off -= sidx_len;
            for (uint32_t k = 0; k < c->frags[i].npatch; k++) {
                struct patch *p = &c->patches[c->frags[i].patch0 + k];
                for (size_t t = 0; t < pl->ntracks; t++)
                    if (pl->fa[i].has_bdo[t] && p->at == pl->fa[i].bdo_at[t])
                        p->value -= sidx_len;
            }
        }
        c->tail_off -= sidx_len;
    } else {
        put_sidx(&c->head, pl, c, ept, c->head.len + sidx_len);
    }
    put_mfra(&c->tail, pl, c);
    if (!cv_buf_ok(&c->head) || !cv_buf_ok(&c->tail)) {
        rc = cv_errf(err, CV_ELIMIT, "clip header or index too large; ask for a shorter range");
        goto out;
    }
    if (c->head.len != c->frags[0].out_off) {
        rc = cv_errf(err, CV_ECORRUPT, "internal error: clip layout mismatch");
        goto out;
    }
    c->size = c->tail_off + c->tail.len;
    goto out;
oom:
    rc = cv_errf(err, CV_ENOMEM, "out of memory");
out:
    free(ept);
    return rc;
}

int exp_clip_open(struct exp_clip **out, const char *const *paths, size_t n, int64_t from_us,
                  int64_t to_us, struct cv_err *err)
{
    struct planner pl = {.paths = paths, .n = n};
    struct exp_clip *c = NULL;
    int64_t origin = 0;
    int rc;

    *out = NULL;
    cv_buf_init(&pl.sig, BOX_MAX);
    if (!paths || n == 0 || to_us <= from_us) {
        rc = cv_errf(err, CV_EINVAL, "clip: need segment files and a range with from < to");
        goto out;
    }
    if (n > EXP_CLIP_SOURCES_MAX) {
        rc = cv_errf(err, CV_ELIMIT, "clip: %zu segment files, more than %d", n,
                     EXP_CLIP_SOURCES_MAX);
        goto out;
    }
    pl.infos = calloc(n, sizeof(*pl.infos));
    c = calloc(1, sizeof(*c));
    if (!pl.infos || !c) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    c->fd = -1;
    cv_buf_init(&c->head, HEAD_MAX);
    cv_buf_init(&c->tail, TAIL_MAX);
    rc = select_frags(&pl, from_us, to_us, err);
    if (rc == 0)
        rc = read_fragments(&pl, err);
    if (rc == 0)
        rc = timeline(&pl, &origin, err);
    if (rc == 0)
        rc = build(c, &pl, err);
    if (rc == 0) {
        const struct fa *l = &pl.fa[pl.nfa - 1];
        c->first_us = pl.fa[0].wall_us;
        c->end_us = l->wall_us + (int64_t)(l->vdur * 1000000 / pl.tracks[pl.vt].timescale);
        c->origin_us = origin;
    }
out:
    planner_release(&pl);
    if (rc < 0) {
        exp_clip_free(c);
        return rc;
    }
    *out = c;
    return 0;
}
