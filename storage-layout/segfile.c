/*
 * segfile.c: camvault's own boxes in segment files and a bounded ISO BMFF reader for them.
 *
 * The reader walks top-level boxes with pread, loads moov and each moof (bounded), and skips
 * mdat by its size. It trusts nothing in the file: every length is checked against the box that
 * contains it before it is used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "storage-layout/segfile.h"
#include "storage-layout/bmff.h"
#include "common/fileio.h"
#include "common/banned.h"

#define NTP_UNIX_OFFSET UINT64_C(2208988800) /* seconds from 1900 to 1970 */

/*
 * NTP seconds wrap every 2^32 s (next in 2036). As RFC 4330 suggests, a seconds field with the
 * top bit clear is read as the era after 2036, which covers 1968 to 2104 without ambiguity.
 */
uint64_t lay_ntp_from_us(int64_t us)
{
    uint64_t secs = ((uint64_t)(us / 1000000) + NTP_UNIX_OFFSET) & 0xffffffffu;
    uint64_t frac = ((uint64_t)(us % 1000000) << 32) / 1000000;

    /* Round up so that the reverse conversion (which truncates) lands on the same µs. */
    if ((((uint64_t)(us % 1000000) << 32) % 1000000) != 0)
        frac++;
    return secs << 32 | frac;
}

int64_t lay_us_from_ntp(uint64_t ntp)
{
    uint64_t secs = ntp >> 32, frac = ntp & 0xffffffffu;

    if (!(secs & 0x80000000u))
        secs += UINT64_C(1) << 32;
    return (int64_t)(secs - NTP_UNIX_OFFSET) * 1000000 + (int64_t)((frac * 1000000) >> 32);
}

void lay_seg_header_box(struct cv_buf *b, const struct lay_seg_header *h)
{
    size_t mark;

    lay_box_begin(b, "uuid", &mark);
    cv_buf_put(b, LAY_SEG_UUID_HEADER, 16);
    cv_buf_printf(b,
                  "version=1\ncamera=%s\nrun=%llu\nrun_seq=%u\ncontainer=%s\nvideo=%s\naudio=%s\n",
                  h->camera, (unsigned long long)h->run_id, h->run_seq, h->container, h->video,
                  h->audio);
    lay_box_end(b, mark);
}

void lay_seg_prft_box(struct cv_buf *b, uint32_t track_id, int64_t wall_us, uint64_t media_time)
{
    size_t mark;

    lay_box_begin(b, "prft", &mark);
    cv_buf_be32(b, 1u << 24); /* version 1, flags 0 */
    cv_buf_be32(b, track_id);
    cv_buf_be64(b, lay_ntp_from_us(wall_us));
    cv_buf_be64(b, media_time);
    lay_box_end(b, mark);
}

void lay_seg_fraginfo_box(struct cv_buf *b, int64_t recv_us, int64_t camera_us)
{
    size_t mark;

    lay_box_begin(b, "uuid", &mark);
    cv_buf_put(b, LAY_SEG_UUID_FRAGINFO, 16);
    cv_buf_be64(b, (uint64_t)recv_us);
    cv_buf_be64(b, (uint64_t)camera_us);
    lay_box_end(b, mark);
}

void lay_seg_info_release(struct lay_seg_info *info)
{
    if (!info)
        return;
    free(info->frags);
    info->frags = NULL;
    info->nfrags = 0;
}

struct trex {
    uint32_t track, dur, size, flags;
};

/* Read one trak of moov into info. */
static int parse_trak(const struct lay_box *trak, struct lay_seg_info *info)
{
    struct lay_box tkhd, mdia, mdhd, hdlr, minf, stbl, stsd;
    uint32_t track_id, timescale;
    struct cv_rd r;
    char handler[5] = "", fourcc[5] = "";

    if (lay_box_find(trak->body, trak->len, "tkhd", &tkhd) != 1 ||
        lay_box_find(trak->body, trak->len, "mdia", &mdia) != 1 ||
        lay_box_find(mdia.body, mdia.len, "mdhd", &mdhd) != 1 ||
        lay_box_find(mdia.body, mdia.len, "hdlr", &hdlr) != 1)
        return -1;
    if (lay_box_u32_after_times(&tkhd, &track_id) < 0 ||
        lay_box_u32_after_times(&mdhd, &timescale) < 0 || timescale == 0 || track_id == 0)
        return -1;
    cv_rd_init(&r, hdlr.body, hdlr.len);
    cv_rd_skip(&r, 8); /* version, flags, pre_defined */
    cv_rd_bytes(&r, handler, 4);
    if (r.bad)
        return -1;
    if (lay_box_find(mdia.body, mdia.len, "minf", &minf) == 1 &&
        lay_box_find(minf.body, minf.len, "stbl", &stbl) == 1 &&
        lay_box_find(stbl.body, stbl.len, "stsd", &stsd) == 1 && stsd.len >= 16) {
        memcpy(fourcc, stsd.body + 12, 4); /* version/flags, entry count, entry size, type */
        if (memcmp(handler, "vide", 4) == 0 && stsd.len >= 8 + 8 + 24 + 4) {
            const uint8_t *e = stsd.body + 8; /* the first sample entry */
            info->width = (uint32_t)e[32] << 8 | e[33];
            info->height = (uint32_t)e[34] << 8 | e[35];
        }
    }
    if (memcmp(handler, "vide", 4) == 0 && !info->video_track) {
        info->video_track = track_id;
        info->video_timescale = timescale;
        memcpy(info->video_fourcc, fourcc, 5);
    } else if (memcmp(handler, "soun", 4) == 0 && !info->audio_track) {
        info->audio_track = track_id;
        info->audio_timescale = timescale;
        memcpy(info->audio_fourcc, fourcc, 5);
    }
    return 0;
}

static int parse_moov(const uint8_t *p, size_t len, struct lay_seg_info *info, struct trex *trex,
                      size_t ntrex_max, size_t *ntrex)
{
    struct lay_box_cur c, q;
    struct lay_box b, t;
    int r;

    *ntrex = 0;
    lay_box_init(&c, p, len);
    while ((r = lay_box_next(&c, &b, NULL)) == 1) {
        if (lay_box_is(b.type, "trak")) {
            if (parse_trak(&b, info) < 0)
                return -1;
        } else if (lay_box_is(b.type, "mvex")) {
            lay_box_enter(&q, &b);
            while (lay_box_next(&q, &t, NULL) == 1) {
                struct cv_rd rd;
                if (!lay_box_is(t.type, "trex") || *ntrex >= ntrex_max)
                    continue;
                cv_rd_init(&rd, t.body, t.len);
                cv_rd_skip(&rd, 4);
                trex[*ntrex].track = cv_rd_be32(&rd);
                cv_rd_skip(&rd, 4); /* default sample description index */
                trex[*ntrex].dur = cv_rd_be32(&rd);
                trex[*ntrex].size = cv_rd_be32(&rd);
                trex[*ntrex].flags = cv_rd_be32(&rd);
                if (!rd.bad)
                    (*ntrex)++;
            }
        }
    }
    return r < 0 || !info->video_track ? -1 : 0;
}

/* An optional 32-bit or 64-bit field of a box, present when its flag bit is set. */
struct flagged {
    uint32_t bit;
    uint8_t size; /* bytes */
    uint32_t *to; /* where a 32-bit field is stored; NULL: skipped */
};

/* Read or skip, in order, the fields of `fields` whose bits are set in `flags`. */
static void read_flagged(struct cv_rd *r, uint32_t flags, const struct flagged *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!(flags & fields[i].bit))
            continue;
        if (fields[i].to)
            *fields[i].to = cv_rd_be32(r);
        else
            cv_rd_skip(r, fields[i].size);
    }
}

/* Parse one traf into the fragment's per-track sums. */
static int parse_traf(const struct lay_box *traf, const struct trex *trex, size_t ntrex,
                      const struct lay_seg_info *info, struct lay_seg_frag *f)
{
    uint32_t track = 0, def_dur = 0, def_flags = 0;
    uint64_t base = 0, dur_sum = 0;
    uint32_t samples = 0, keys = 0;
    bool first_is_key = false, have_first = false;
    struct lay_box_cur c;
    struct lay_box b;
    struct cv_rd r;
    int rc;

    lay_box_enter(&c, traf);
    while ((rc = lay_box_next(&c, &b, NULL)) == 1) {
        uint32_t vf;
        cv_rd_init(&r, b.body, b.len);
        vf = cv_rd_be32(&r);
        if (memcmp(b.type, "tfhd", 4) == 0) {
            track = cv_rd_be32(&r);
            for (size_t i = 0; i < ntrex; i++)
                if (trex[i].track == track) {
                    def_dur = trex[i].dur;
                    def_flags = trex[i].flags;
                }
            /* base_data_offset, sample_description_index, default duration, size, flags */
            const struct flagged fields[] = {
                {0x01, 8, NULL}, {0x02, 4, NULL}, {0x08, 4, &def_dur}, {0x10, 4, NULL},
                {0x20, 4, &def_flags}};
            read_flagged(&r, vf, fields, sizeof(fields) / sizeof(fields[0]));
        } else if (memcmp(b.type, "tfdt", 4) == 0) {
            base = (vf >> 24) == 1 ? cv_rd_be64(&r) : cv_rd_be32(&r);
        } else if (memcmp(b.type, "trun", 4) == 0) {
            uint32_t count = cv_rd_be32(&r), first_flags = def_flags, d, fl;
            bool has_first = vf & 0x04;
            /* per sample: duration, size, flags, composition time offset */
            const struct flagged fields[] = {
                {0x100, 4, &d}, {0x200, 4, NULL}, {0x400, 4, &fl}, {0x800, 4, NULL}};
            if (vf & 0x01)
                cv_rd_skip(&r, 4);
            if (has_first)
                first_flags = cv_rd_be32(&r);
            if (count > 1000000)
                return -1;
            for (uint32_t i = 0; i < count && !r.bad; i++) {
                d = def_dur;
                fl = i == 0 && has_first ? first_flags : def_flags;
                read_flagged(&r, vf, fields, sizeof(fields) / sizeof(fields[0]));
                dur_sum += d;
                if (!(fl & 0x10000))
                    keys++;
                if (!have_first) {
                    have_first = true;
                    first_is_key = !(fl & 0x10000);
                }
            }
            samples += count;
        }
        if (r.bad)
            return -1;
    }
    if (rc < 0)
        return -1;
    if (track && track == info->video_track) {
        f->video_dts = base;
        f->video_dur += dur_sum;
        f->video_samples += samples;
        f->keyframes += keys;
        f->starts_with_key = first_is_key;
    } else if (track && track == info->audio_track) {
        f->audio_samples += samples;
    }
    return 0;
}

static int parse_moof(const uint8_t *p, size_t len, const struct trex *trex, size_t ntrex,
                      const struct lay_seg_info *info, struct lay_seg_frag *f)
{
    struct lay_box_cur c;
    struct lay_box b;
    int r;

    lay_box_init(&c, p, len);
    while ((r = lay_box_next(&c, &b, NULL)) == 1)
        if (lay_box_is(b.type, "traf") && parse_traf(&b, trex, ntrex, info, f) < 0)
            return -1;
    return r < 0 ? -1 : 0;
}

static void parse_header_text(const uint8_t *p, size_t len, struct lay_seg_header *h)
{
    char text[1024], *save = NULL;

    if (len >= sizeof(text))
        len = sizeof(text) - 1;
    memcpy(text, p, len);
    text[len] = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        int64_t v;
        if (!eq)
            continue;
        *eq++ = 0;
        if (strcmp(line, "camera") == 0)
            cv_strlcpy(h->camera, eq, sizeof(h->camera));
        else if (strcmp(line, "run") == 0 && cv_parse_i64(eq, 0, INT64_MAX, &v) == 0)
            h->run_id = (uint64_t)v;
        else if (strcmp(line, "run_seq") == 0 && cv_parse_i64(eq, 0, UINT32_MAX, &v) == 0)
            h->run_seq = (uint32_t)v;
        else if (strcmp(line, "container") == 0)
            cv_strlcpy(h->container, eq, sizeof(h->container));
        else if (strcmp(line, "video") == 0)
            cv_strlcpy(h->video, eq, sizeof(h->video));
        else if (strcmp(line, "audio") == 0)
            cv_strlcpy(h->audio, eq, sizeof(h->audio));
    }
}

/*
 * A continuation chunk (no fraginfo box, not starting with a keyframe) right after fragment f:
 * f grows by it. Its prft and tfdt are the chunk's own; f keeps its first chunk's.
 */
static void chunk_append(struct lay_seg_frag *f, const struct lay_seg_frag *c)
{
    f->size += c->size;
    f->video_dur += c->video_dur;
    f->video_samples += c->video_samples;
    f->keyframes += c->keyframes;
    f->audio_samples += c->audio_samples;
    f->chunks++;
}

/* The fragment group being read: from its first prft, fraginfo or moof to its mdat. */
struct frag_group {
    struct lay_seg_frag cur;
    uint64_t start; /* file offset of its first box */
    bool open, has_fraginfo;
};

/* Open a group at file offset `off` unless one is open. */
static void group_open(struct frag_group *g, uint64_t off)
{
    if (g->open)
        return;
    memset(&g->cur, 0, sizeof(g->cur));
    g->cur.wall_us = INT64_MIN;
    g->start = off;
    g->open = true;
    g->has_fraginfo = false;
}

int lay_seg_scan(int fd, struct lay_seg_info *info, struct cv_err *err)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t cap = 0, ntrex = 0, fcap = 0;
    struct trex trex[4];
    struct frag_group g = {.open = false};
    uint64_t off = 0;
    bool have_ftyp = false, have_moov = false, pending_moof = false;
    int rc = 0;

    memset(info, 0, sizeof(*info));
    memset(&g.cur, 0, sizeof(g.cur));
    if (fstat(fd, &st) < 0)
        return cv_errf(err, CV_EIO, "cannot stat: %s", strerror(errno));
    info->file_bytes = (uint64_t)st.st_size;
    for (;;) {
        struct lay_box_hdr bh;
        struct cv_err why = {""}; /* not err: a torn end is not an error of the scan */
        uint64_t size, hsize;
        const char *type = bh.type;

        rc = lay_box_read(fd, off, info->file_bytes, &bh, &why);
        if (rc < 0) {
            rc = cv_errf(err, rc, "%s", why.msg);
            goto out;
        }
        if (rc == 0)
            break; /* garbage, a torn header or a torn box: the good part ends here */
        rc = 0;
        size = bh.size;
        hsize = bh.hsize;
        if (!have_ftyp) {
            if (strcmp(type, "ftyp") != 0) {
                rc = cv_errf(err, CV_ECORRUPT, "not a segment file: no ftyp box at the start");
                goto out;
            }
            have_ftyp = true;
        } else if (strcmp(type, "moov") == 0) {
            rc = lay_box_load(fd, off + hsize, size - hsize, &buf, &cap, err);
            if (rc < 0)
                goto out;
            if (parse_moov(buf, (size_t)(size - hsize), info, trex, 4, &ntrex) < 0) {
                rc = cv_errf(err, CV_ECORRUPT, "malformed moov box (no usable video track)");
                goto out;
            }
            have_moov = true;
            info->complete_bytes = off + size;
        } else if (!have_moov) {
            if (strcmp(type, "free") != 0 && strcmp(type, "skip") != 0) {
                rc = cv_errf(err, CV_ECORRUPT, "not a segment file: '%s' box before moov", type);
                goto out;
            }
        } else if (strcmp(type, "uuid") == 0 || strcmp(type, "prft") == 0) {
            rc = lay_box_load(fd, off + hsize, size - hsize, &buf, &cap, err);
            if (rc < 0)
                goto out;
            if (strcmp(type, "uuid") == 0 && size - hsize >= 16 &&
                memcmp(buf, LAY_SEG_UUID_HEADER, 16) == 0) {
                parse_header_text(buf + 16, (size_t)(size - hsize - 16), &info->hdr);
                info->has_header = true;
                if (!g.open)
                    info->complete_bytes = off + size;
            } else {
                group_open(&g, off);
                if (strcmp(type, "prft") == 0 && size - hsize >= 24)
                    g.cur.wall_us = lay_us_from_ntp(cv_get_be64(buf + 8));
                else if (size - hsize >= 32 && memcmp(buf, LAY_SEG_UUID_FRAGINFO, 16) == 0) {
                    g.cur.recv_us = (int64_t)cv_get_be64(buf + 16);
                    g.has_fraginfo = true;
                }
            }
        } else if (strcmp(type, "moof") == 0) {
            group_open(&g, off);
            rc = lay_box_load(fd, off + hsize, size - hsize, &buf, &cap, err);
            if (rc < 0)
                goto out;
            if (parse_moof(buf, (size_t)(size - hsize), trex, ntrex, info, &g.cur) < 0)
                break; /* a malformed moof ends the good part */
            pending_moof = true;
        } else if (strcmp(type, "mdat") == 0 && pending_moof) {
            g.cur.size = off + size - g.start;
            info->video_samples += g.cur.video_samples;
            info->keyframes += g.cur.keyframes;
            info->audio_samples += g.cur.audio_samples;
            info->complete_bytes = off + size;
            g.open = pending_moof = false;
            if (info->nfrags > 0 && !g.has_fraginfo && !g.cur.starts_with_key) {
                chunk_append(&info->frags[info->nfrags - 1], &g.cur);
                off += size;
                continue;
            }
            if (info->nfrags == fcap) {
                size_t ncap = fcap ? fcap * 2 : 64;
                struct lay_seg_frag *nf = realloc(info->frags, ncap * sizeof(*nf));
                if (!nf) {
                    rc = cv_errf(err, CV_ENOMEM, "out of memory");
                    goto out;
                }
                info->frags = nf;
                fcap = ncap;
            }
            g.cur.offset = g.start;
            g.cur.chunks = 1;
            info->frags[info->nfrags++] = g.cur;
        } else if (strcmp(type, "mfra") == 0) {
            if (!g.open) {
                info->closed = off + size == info->file_bytes;
                info->complete_bytes = off + size;
            }
            break;
        } else if (strcmp(type, "free") != 0 && strcmp(type, "skip") != 0) {
            break; /* anything unexpected ends the good part */
        }
        off += size;
    }
    if (!have_moov) {
        rc = cv_errf(err, CV_ECORRUPT, "not a segment file: ftyp and moov are incomplete");
        goto out;
    }
    if (info->nfrags > 0) {
        const struct lay_seg_frag *first = &info->frags[0], *last = &info->frags[info->nfrags - 1];
        info->start_us = first->wall_us;
        info->end_us = last->wall_us == INT64_MIN
                           ? INT64_MIN
                           : last->wall_us + (int64_t)(last->video_dur * 1000000 /
                                                       info->video_timescale);
    }
out:
    free(buf);
    if (rc < 0)
        lay_seg_info_release(info);
    return rc;
}

int lay_sha256_fd(int fd, uint64_t len, uint8_t out[32], struct cv_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t *buf = malloc(1 << 20);
    uint64_t off = 0;
    unsigned int olen = 32;
    int rc = 0;

    if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = cv_errf(err, CV_ENOMEM, "cannot start SHA-256");
        goto out;
    }
    while (off < len) {
        size_t n = len - off > (1 << 20) ? (1 << 20) : (size_t)(len - off);
        rc = cv_pread_all(fd, buf, n, (off_t)off, err);
        if (rc < 0)
            goto out;
        EVP_DigestUpdate(ctx, buf, n);
        off += n;
    }
    EVP_DigestFinal_ex(ctx, out, &olen);
out:
    free(buf);
    EVP_MD_CTX_free(ctx);
    return rc;
}
