/*
 * idx_segments.c: footage in the index: segments and their fragment tables, chain heads, gaps,
 * pending segments, tombstones and the deleting queue, locating an instant, and the upgrade from
 * schema 1 (which derives chain heads and volume statistics from the segments).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "indexer/idx.h"
#include "indexer/idx_int.h"
#include "integrity/chain.h"
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/banned.h"

static void seg_key(uint8_t k[12], uint32_t cam, int64_t start)
{
    cv_put_be32(k, cam);
    cv_put_be64(k + 4, (uint64_t)start ^ (UINT64_C(1) << 63)); /* sorts negatives first */
}

static int64_t key_start(const uint8_t *k)
{
    return (int64_t)(cv_get_be64(k + 4) ^ (UINT64_C(1) << 63));
}

/*
 * Open a cursor on db and seek it to the first key at or after (cam, start) (key: the caller's
 * buffer, which k points into until the seek moves it). Returns the seek's mdb_cursor_get result
 * with *cur open (the caller closes it); or, with *cur NULL, the error of opening it.
 */
static int cam_seek(struct idx_txn *t, int db, uint32_t cam, int64_t start, uint8_t key[12],
                    MDB_cursor **cur, MDB_val *k, MDB_val *v)
{
    int rc = mdb_cursor_open(t->txn, t->idx->dbi[db], cur);

    if (rc) {
        *cur = NULL;
        return rc;
    }
    seg_key(key, cam, start);
    k->mv_size = 12;
    k->mv_data = key;
    return mdb_cursor_get(*cur, k, v, MDB_SET_RANGE);
}

/*
 * A walk over one camera's records of a database keyed (camera, start), in key order:
 * cam_scan_open seeks, cam_scan_next steps to each record of the camera (s->k, s->v), and
 * cam_scan_close closes the cursor and turns a cursor failure into the caller's error.
 */
struct cam_scan {
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t key[12];
    uint32_t cam;
    int mrc;      /* the cursor's last result: 0, MDB_NOTFOUND or an error */
    bool started; /* cam_scan_next has been called: the next call moves on */
};

/* Seek to the first record at or after (cam, start_us). 0, or the error "<what>: ...". */
static int cam_scan_open(struct cam_scan *s, struct idx_txn *t, int db, uint32_t cam,
                         int64_t start_us, const char *what, struct cv_err *err)
{
    s->cam = cam;
    s->started = false;
    s->mrc = cam_seek(t, db, cam, start_us, s->key, &s->cur, &s->k, &s->v);
    return s->cur ? 0 : idx_db_err(err, s->mrc, what);
}

/* The next record of the camera (the current one on the first call): true with s->k and s->v,
 * false when the camera's records end (or the cursor failed: cam_scan_close reports it). */
static bool cam_scan_next(struct cam_scan *s)
{
    if (s->started && s->mrc == 0)
        s->mrc = mdb_cursor_get(s->cur, &s->k, &s->v, MDB_NEXT);
    s->started = true;
    for (; s->mrc == 0; s->mrc = mdb_cursor_get(s->cur, &s->k, &s->v, MDB_NEXT)) {
        if (s->k.mv_size == 12 && cv_get_be32(s->k.mv_data) == s->cam)
            return true;
        if (s->k.mv_size >= 4 && cv_get_be32(s->k.mv_data) > s->cam)
            break;
    }
    return false;
}

/* Close the walk; returns rc, or the cursor's failure "<what>: ..." when rc is 0. */
static int cam_scan_close(struct cam_scan *s, int rc, const char *what, struct cv_err *err)
{
    if (rc == 0 && s->mrc != 0 && s->mrc != MDB_NOTFOUND)
        rc = idx_db_err(err, s->mrc, what);
    mdb_cursor_close(s->cur);
    return rc;
}

/* ---- segments ---- */

static void segment_encode(struct cv_buf *b, const struct idx_segment *s)
{
    cv_buf_u8(b, 1);
    cv_buf_be64(b, (uint64_t)s->end_us);
    cv_buf_str16(b, s->path);
    cv_buf_be64(b, s->bytes);
    cv_buf_be32(b, s->frames);
    cv_buf_be32(b, s->keyframes);
    cv_buf_be32(b, s->audio_frames);
    cv_buf_be32(b, s->fragments);
    cv_buf_str16(b, s->video);
    cv_buf_str16(b, s->audio);
    cv_buf_put(b, s->sha256, 32);
    cv_buf_put(b, s->chain, 32);
    cv_buf_be64(b, s->run_id);
    cv_buf_be32(b, s->run_seq);
    cv_buf_be32(b, s->flags);
    if (s->flags & IDX_SEG_SHIFTED) /* only then: older records end at the flags */
        cv_buf_be64(b, (uint64_t)s->recv_start_us);
}

static int segment_decode(const MDB_val *k, const MDB_val *v, struct idx_segment *s,
                          struct cv_err *err)
{
    struct cv_rd r;

    memset(s, 0, sizeof(*s));
    if (k->mv_size != 12)
        return cv_errf(err, CV_ECORRUPT, "index: segment key is corrupt");
    s->cam = cv_get_be32(k->mv_data);
    s->start_us = key_start(k->mv_data);
    cv_rd_init(&r, v->mv_data, v->mv_size);
    if (cv_rd_u8(&r) != 1)
        return cv_errf(err, CV_ECORRUPT, "index: segment record of unknown version");
    s->end_us = (int64_t)cv_rd_be64(&r);
    cv_rd_str16(&r, s->path, sizeof(s->path));
    s->bytes = cv_rd_be64(&r);
    s->frames = cv_rd_be32(&r);
    s->keyframes = cv_rd_be32(&r);
    s->audio_frames = cv_rd_be32(&r);
    s->fragments = cv_rd_be32(&r);
    cv_rd_str16(&r, s->video, sizeof(s->video));
    cv_rd_str16(&r, s->audio, sizeof(s->audio));
    cv_rd_bytes(&r, s->sha256, 32);
    cv_rd_bytes(&r, s->chain, 32);
    s->run_id = cv_rd_be64(&r);
    s->run_seq = cv_rd_be32(&r);
    s->flags = cv_rd_be32(&r);
    if (s->flags & IDX_SEG_SHIFTED)
        s->recv_start_us = (int64_t)cv_rd_be64(&r);
    if (r.bad)
        return cv_errf(err, CV_ECORRUPT, "index: segment record is corrupt");
    return 0;
}

/*
 * Fragment table: version, count, then per fragment varints of (offset delta from the end of
 * the previous fragment, size, start relative to the segment start in µs, flags).
 */
static void frags_encode(struct cv_buf *b, int64_t seg_start, const struct lay_seg_frag *f,
                         size_t n)
{
    uint64_t prev_end = 0;

    cv_buf_u8(b, 1);
    cv_buf_varint(b, n);
    for (size_t i = 0; i < n; i++) {
        int64_t rel = f[i].wall_us == INT64_MIN ? 0 : f[i].wall_us - seg_start;
        cv_buf_varint(b, f[i].offset - prev_end);
        cv_buf_varint(b, f[i].size);
        cv_buf_varint(b, (uint64_t)(rel < 0 ? 0 : rel));
        cv_buf_varint(b, f[i].starts_with_key ? 1 : 0);
        prev_end = f[i].offset + f[i].size;
    }
}

int idx_segment_last(struct idx_txn *t, uint32_t cam, struct idx_segment *out, struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t key[12];
    int rc;

    rc = cam_seek(t, DB_SEGMENTS, cam + 1, INT64_MIN, key, &cur, &k, &v); /* past this camera */
    if (!cur)
        return idx_db_err(err, rc, "reading segments");
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && (k.mv_size != 12 || cv_get_be32(k.mv_data) != cam))
        rc = MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND)
        rc = CV_ENOENT;
    else if (rc)
        rc = idx_db_err(err, rc, "reading segments");
    else
        rc = segment_decode(&k, &v, out, err);
    mdb_cursor_close(cur);
    return rc;
}

int idx_segment_get(struct idx_txn *t, uint32_t cam, int64_t start_us, struct idx_segment *out,
                    struct cv_err *err)
{
    uint8_t key[12];
    MDB_val k = {12, key}, v;
    int rc;

    seg_key(key, cam, start_us);
    rc = mdb_get(t->txn, t->idx->dbi[DB_SEGMENTS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return CV_ENOENT;
    if (rc)
        return idx_db_err(err, rc, "reading segment");
    return segment_decode(&k, &v, out, err);
}

/* The volume a segment path lives on ("volumes/<vol>/..."); "" when the path is not one. */
static void path_volume(const char *path, char out[LAY_ID_MAX + 1])
{
    struct lay_segname n;

    out[0] = 0;
    if (lay_segment_parse(path, &n) == 0)
        cv_strlcpy(out, n.volume, LAY_ID_MAX + 1);
}

static int volstats_add(struct idx_txn *t, const char *vol, int64_t bytes, int64_t count,
                        struct cv_err *err)
{
    MDB_val v;
    uint64_t used = 0, segs = 0;
    struct cv_buf b;
    int rc;

    if (!vol[0])
        return 0;
    rc = idx_get(t, DB_VOLSTATS, vol, strlen(vol), &v);
    if (rc == 0 && v.mv_size == 16) {
        used = cv_get_be64(v.mv_data);
        segs = cv_get_be64((const uint8_t *)v.mv_data + 8);
    } else if (rc && rc != MDB_NOTFOUND) {
        return idx_db_err(err, rc, "reading volume statistics");
    }
    used = bytes < 0 && (uint64_t)-bytes > used ? 0 : used + (uint64_t)bytes;
    segs = count < 0 && (uint64_t)-count > segs ? 0 : segs + (uint64_t)count;
    cv_buf_init(&b, 16);
    cv_buf_be64(&b, used);
    cv_buf_be64(&b, segs);
    rc = idx_put(t, DB_VOLSTATS, vol, strlen(vol), &b, err, "writing volume statistics");
    cv_buf_release(&b);
    return rc;
}

/* The camera's newest chain link: start and hash; CV_ENOENT when it has none. */
static int chainhead_get(struct idx_txn *t, uint32_t cam, int64_t *start, uint8_t chain[32])
{
    uint8_t key[4];
    MDB_val v;

    cv_put_be32(key, cam);
    if (idx_get(t, DB_CHAINHEAD, key, 4, &v) != 0 || v.mv_size != 40)
        return CV_ENOENT;
    *start = (int64_t)cv_get_be64(v.mv_data);
    memcpy(chain, (const uint8_t *)v.mv_data + 8, 32);
    return 0;
}

static int chainhead_put(struct idx_txn *t, uint32_t cam, int64_t start, const uint8_t chain[32],
                         struct cv_err *err)
{
    uint8_t key[4];
    struct cv_buf b;
    int rc;

    cv_put_be32(key, cam);
    cv_buf_init(&b, 40);
    cv_buf_be64(&b, (uint64_t)start);
    cv_buf_put(&b, chain, 32);
    rc = idx_put(t, DB_CHAINHEAD, key, 4, &b, err, "writing chain head");
    cv_buf_release(&b);
    return rc;
}

/*
 * The end of the camera's chain-head segment (it starts at `start`), present or tombstoned;
 * start + 1 when neither record is readable, so a successor still sorts after it.
 */
static int64_t chainhead_end(struct idx_txn *t, uint32_t cam, int64_t start)
{
    struct idx_segment s;
    uint8_t key[12];
    MDB_val k = {12, key}, v;

    seg_key(key, cam, start);
    if ((idx_get(t, DB_SEGMENTS, key, 12, &v) == 0 ||
         idx_get(t, DB_TOMBSTONES, key, 12, &v) == 0) &&
        segment_decode(&k, &v, &s, NULL) == 0 && s.end_us > start) /* a prefix of a tombstone */
        return s.end_us;
    return start + 1;
}

/*
 * Flag and place a segment about to be put after a chain head that starts at prev_start (none:
 * has_prev false). See idx_segment_put. Returns how far the segment was moved (µs, >= 0).
 */
static int64_t segment_place(struct idx_txn *t, struct idx_segment *seg, bool has_prev,
                             int64_t prev_start, const struct lay_seg_frag *frags, size_t nfrags)
{
    int64_t floor, shift = 0;

    if (nfrags > 0 && frags[0].recv_us > 0 && frags[0].wall_us != INT64_MIN &&
        frags[0].wall_us - frags[0].recv_us > IDX_SHIFT_MIN_US &&
        !(seg->flags & IDX_SEG_SHIFTED)) {
        seg->flags |= IDX_SEG_SHIFTED;
        seg->recv_start_us = frags[0].recv_us;
    }
    if (!has_prev)
        return 0;
    floor = chainhead_end(t, seg->cam, prev_start);
    if (seg->start_us > prev_start && seg->start_us >= floor - IDX_OVERLAP_US)
        return 0;
    shift = floor - seg->start_us;
    if (!(seg->flags & IDX_SEG_SHIFTED)) {
        seg->flags |= IDX_SEG_SHIFTED;
        seg->recv_start_us = nfrags > 0 && frags[0].recv_us > 0 ? frags[0].recv_us
                                                                 : seg->start_us;
    }
    seg->start_us += shift;
    seg->end_us = seg->end_us > INT64_MAX - shift ? INT64_MAX : seg->end_us + shift;
    return shift;
}

int idx_segment_put(struct idx_txn *t, const char *camera, struct idx_segment *seg,
                    const struct lay_seg_frag *frags, size_t nfrags, struct cv_err *err)
{
    uint8_t zero[32] = {0}, key[12], prev[32];
    char vol[LAY_ID_MAX + 1];
    int64_t prev_start = 0, shift;
    bool has_prev;
    struct cv_buf b;
    int rc;

    has_prev = chainhead_get(t, seg->cam, &prev_start, prev) == 0;
    shift = segment_place(t, seg, has_prev, prev_start, frags, nfrags);
    rc = itg_chain_next(has_prev ? prev : zero, camera, seg->start_us, seg->end_us, seg->sha256,
                        seg->chain, err);
    if (rc < 0)
        return rc; /* nothing written: a segment is never stored with a made-up link */
    seg_key(key, seg->cam, seg->start_us);
    cv_buf_init(&b, REC_MAX);
    segment_encode(&b, seg);
    rc = idx_put(t, DB_SEGMENTS, key, 12, &b, err, "writing segment");
    if (rc == 0) {
        cv_buf_release(&b);
        cv_buf_init(&b, 16u << 20);
        /* relative to where the file's own times put the segment: its real spacing */
        frags_encode(&b, seg->start_us - shift, frags, nfrags);
        rc = idx_put(t, DB_FRAGMENTS, key, 12, &b, err, "writing fragment table");
    }
    cv_buf_release(&b);
    if (rc == 0)
        rc = chainhead_put(t, seg->cam, seg->start_us, seg->chain, err);
    path_volume(seg->path, vol);
    if (rc == 0)
        rc = volstats_add(t, vol, (int64_t)seg->bytes, 1, err);
    if (rc < 0)
        return rc;
    {
        char pending[LAY_RELPATH_MAX];
        if (idx_pending_get(t, seg->cam, pending, NULL) == 0 && strcmp(pending, seg->path) == 0)
            rc = idx_pending_del(t, seg->cam, err);
    }
    return rc;
}

int idx_segment_update(struct idx_txn *t, const struct idx_segment *seg, struct cv_err *err)
{
    struct idx_segment old;
    char vol[LAY_ID_MAX + 1];
    uint8_t key[12];
    struct cv_buf b;
    int rc;

    rc = idx_segment_get(t, seg->cam, seg->start_us, &old, err);
    if (rc < 0)
        return rc;
    seg_key(key, seg->cam, seg->start_us);
    cv_buf_init(&b, REC_MAX);
    segment_encode(&b, seg);
    rc = idx_put(t, DB_SEGMENTS, key, 12, &b, err, "writing segment");
    cv_buf_release(&b);
    path_volume(seg->path, vol);
    if (rc == 0)
        rc = volstats_add(t, vol, (int64_t)seg->bytes - (int64_t)old.bytes, 0, err);
    return rc;
}

int idx_segment_iter(struct idx_txn *t, uint32_t cam, int64_t from_us, int64_t to_us,
                     idx_segment_cb cb, void *ctx, struct cv_err *err)
{
    struct cam_scan sc;
    struct idx_segment s;
    int rc = cam_scan_open(&sc, t, DB_SEGMENTS, cam, from_us, "reading segments", err);

    if (rc < 0)
        return rc;
    /* The segment that starts before `from` may still overlap it: step back once. */
    if (sc.mrc == 0 || sc.mrc == MDB_NOTFOUND) {
        int r2 = mdb_cursor_get(sc.cur, &sc.k, &sc.v, sc.mrc == 0 ? MDB_PREV : MDB_LAST);
        if (r2 == 0 && !(sc.k.mv_size == 12 && cv_get_be32(sc.k.mv_data) == cam))
            r2 = mdb_cursor_get(sc.cur, &sc.k, &sc.v, MDB_NEXT);
        else if (r2 == MDB_NOTFOUND)
            r2 = mdb_cursor_get(sc.cur, &sc.k, &sc.v, MDB_FIRST);
        sc.mrc = r2;
    }
    while (rc == 0 && cam_scan_next(&sc)) {
        rc = segment_decode(&sc.k, &sc.v, &s, err);
        if (rc < 0 || s.start_us >= to_us)
            break;
        if (s.end_us > from_us)
            rc = cb(ctx, &s);
    }
    return cam_scan_close(&sc, rc, "reading segments", err);
}

/* ---- gaps ---- */

const char *idx_gap_reason_name(int reason)
{
    static const char *const names[] = {[IDX_GAP_OFFLINE] = "camera-offline",
                                        [IDX_GAP_RECORDER_STOPPED] = "recorder-stopped",
                                        [IDX_GAP_RETENTION] = "retention",
                                        [IDX_GAP_DISK] = "disk",
                                        [IDX_GAP_MISSING] = "file-missing"};

    if (reason > 0 && (size_t)reason < sizeof(names) / sizeof(names[0]) && names[reason])
        return names[reason];
    return "unknown";
}

int idx_gap_put(struct idx_txn *t, const struct idx_gap *g, struct cv_err *err)
{
    uint8_t key[12];
    struct cv_buf b;
    int rc;

    seg_key(key, g->cam, g->start_us);
    cv_buf_init(&b, REC_MAX);
    cv_buf_u8(&b, 1);
    cv_buf_be64(&b, (uint64_t)g->end_us);
    cv_buf_u8(&b, g->reason);
    cv_buf_str16(&b, g->detail);
    rc = idx_put(t, DB_GAPS, key, 12, &b, err, "writing gap");
    cv_buf_release(&b);
    return rc;
}

int idx_gap_iter(struct idx_txn *t, uint32_t cam, int64_t from_us, int64_t to_us, idx_gap_cb cb,
                 void *ctx, struct cv_err *err)
{
    struct cam_scan sc;
    struct idx_gap g;
    /* Gaps may be long (a camera off for a week): scan this camera's gaps from its first. */
    int rc = cam_scan_open(&sc, t, DB_GAPS, cam, INT64_MIN, "reading gaps", err);

    if (rc < 0)
        return rc;
    while (rc == 0 && cam_scan_next(&sc)) {
        struct cv_rd r;
        memset(&g, 0, sizeof(g));
        g.cam = cam;
        g.start_us = key_start(sc.k.mv_data);
        if (g.start_us >= to_us)
            break;
        cv_rd_init(&r, sc.v.mv_data, sc.v.mv_size);
        if (cv_rd_u8(&r) != 1) {
            rc = cv_errf(err, CV_ECORRUPT, "index: gap record of unknown version");
            break;
        }
        g.end_us = (int64_t)cv_rd_be64(&r);
        g.reason = cv_rd_u8(&r);
        cv_rd_str16(&r, g.detail, sizeof(g.detail));
        if (r.bad)
            rc = cv_errf(err, CV_ECORRUPT, "index: gap record is corrupt");
        else if (g.end_us > from_us)
            rc = cb(ctx, &g);
    }
    return cam_scan_close(&sc, rc, "reading gaps", err);
}

/* ---- pending ---- */

int idx_pending_put(struct idx_txn *t, uint32_t cam, const char *relpath, struct cv_err *err)
{
    uint8_t key[4];
    struct cv_buf b;
    int rc;

    cv_put_be32(key, cam);
    cv_buf_init(&b, LAY_RELPATH_MAX + 4);
    cv_buf_str16(&b, relpath);
    rc = idx_put(t, DB_PENDING, key, 4, &b, err, "writing pending segment");
    cv_buf_release(&b);
    return rc;
}

int idx_pending_del(struct idx_txn *t, uint32_t cam, struct cv_err *err)
{
    uint8_t key[4];
    MDB_val k = {4, key};
    int rc;

    cv_put_be32(key, cam);
    rc = mdb_del(t->txn, t->idx->dbi[DB_PENDING], &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return idx_db_err(err, rc, "deleting pending segment");
    return 0;
}

int idx_pending_get(struct idx_txn *t, uint32_t cam, char *relpath, struct cv_err *err)
{
    uint8_t key[4];
    struct cv_rd r;
    int rc;

    cv_put_be32(key, cam);
    rc = idx_get_rd(t, DB_PENDING, key, 4, &r, "reading pending segment", err);
    if (rc)
        return rc;
    cv_rd_str16(&r, relpath, LAY_RELPATH_MAX);
    if (r.bad)
        return cv_errf(err, CV_ECORRUPT, "index: pending record is corrupt");
    return 0;
}

/* ---- schema 1 to 2; tombstones and the deleting queue ---- */

/*
 * Schema 1 had no chain heads, volume statistics, tombstones, holds or volumes. The new
 * databases exist already (idx_open creates them); fill chain heads and volume statistics from
 * the segments, and start the hold counter. Segment records themselves are unchanged.
 */
struct migrate_ctx {
    struct idx_txn *t;
    struct cv_err *err;
};

static int migrate_segment(void *ctx, const struct idx_segment *s)
{
    struct migrate_ctx *m = ctx;
    char vol[LAY_ID_MAX + 1];
    int rc = chainhead_put(m->t, s->cam, s->start_us, s->chain, m->err); /* last one wins */

    path_volume(s->path, vol);
    if (rc == 0)
        rc = volstats_add(m->t, vol, (int64_t)s->bytes, 1, m->err);
    return rc;
}

int idx_migrate_1_to_2(struct idx_txn *t, struct cv_err *err)
{
    struct migrate_ctx m = {t, err};
    int rc = idx_segment_iter_all(t, migrate_segment, &m, err);

    if (rc == 0)
        rc = idx_meta_put_u64(t, "next_hold", 1, err);
    return rc;
}

int idx_segment_iter_all(struct idx_txn *t, idx_segment_cb cb, void *ctx, struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct idx_segment s;
    int rc, op = MDB_FIRST;

    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_SEGMENTS], &cur);
    if (rc)
        return idx_db_err(err, rc, "reading segments");
    while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
        op = MDB_NEXT;
        rc = segment_decode(&k, &v, &s, err);
        if (rc == 0)
            rc = cb(ctx, &s);
        if (rc)
            goto out;
    }
    rc = rc == MDB_NOTFOUND ? 0 : idx_db_err(err, rc, "reading segments");
out:
    mdb_cursor_close(cur);
    return rc;
}

int idx_fragments_get(struct idx_txn *t, uint32_t cam, int64_t start_us,
                      struct lay_seg_frag **out, size_t *n, struct cv_err *err)
{
    uint8_t key[12];
    struct cv_rd r;
    struct lay_seg_frag *f = NULL;
    uint64_t count, end = 0;
    int rc;

    *out = NULL;
    *n = 0;
    seg_key(key, cam, start_us);
    rc = idx_get_rd(t, DB_FRAGMENTS, key, 12, &r, "reading fragment table", err);
    if (rc)
        return rc;
    if (cv_rd_u8(&r) != 1)
        return cv_errf(err, CV_ECORRUPT, "index: fragment table of unknown version");
    count = cv_rd_varint(&r);
    if (r.bad || count > r.len)
        return cv_errf(err, CV_ECORRUPT, "index: fragment table is corrupt");
    f = calloc(count ? count : 1, sizeof(*f));
    if (!f)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < count; i++) {
        f[i].offset = end + cv_rd_varint(&r);
        f[i].size = cv_rd_varint(&r);
        f[i].wall_us = start_us + (int64_t)cv_rd_varint(&r);
        f[i].starts_with_key = cv_rd_varint(&r) & 1;
        end = f[i].offset + f[i].size;
    }
    if (r.bad) {
        free(f);
        return cv_errf(err, CV_ECORRUPT, "index: fragment table is corrupt");
    }
    *out = f;
    *n = (size_t)count;
    return 0;
}

/* Extend the gap that ends where this one starts, if it says the same; else add a new one. */
static int gap_put_merged(struct idx_txn *t, const struct idx_gap *g, struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t key[12];
    int rc;

    rc = cam_seek(t, DB_GAPS, g->cam, g->start_us, key, &cur, &k, &v);
    if (!cur)
        return idx_db_err(err, rc, "reading gaps");
    rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV) : mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 12 && cv_get_be32(k.mv_data) == g->cam) {
        struct cv_rd r;
        struct idx_gap prev;
        memset(&prev, 0, sizeof(prev));
        prev.cam = g->cam;
        prev.start_us = key_start(k.mv_data);
        cv_rd_init(&r, v.mv_data, v.mv_size);
        cv_rd_u8(&r);
        prev.end_us = (int64_t)cv_rd_be64(&r);
        prev.reason = cv_rd_u8(&r);
        cv_rd_str16(&r, prev.detail, sizeof(prev.detail));
        if (!r.bad && prev.reason == g->reason && strcmp(prev.detail, g->detail) == 0 &&
            prev.end_us >= g->start_us - 1000 && prev.end_us < g->end_us) {
            prev.end_us = g->end_us;
            mdb_cursor_close(cur);
            return idx_gap_put(t, &prev, err);
        }
    }
    mdb_cursor_close(cur);
    return idx_gap_put(t, g, err);
}

static void tombstone_encode(struct cv_buf *b, const struct idx_tombstone *ts)
{
    segment_encode(b, &ts->seg);
    cv_buf_be64(b, (uint64_t)ts->deleted_us);
    cv_buf_u8(b, ts->reason);
    cv_buf_str16(b, ts->detail);
}

int idx_segment_tombstone(struct idx_txn *t, uint32_t cam, int64_t start_us, uint8_t reason,
                          const char *detail, int64_t now_us, struct idx_segment *out,
                          struct cv_err *err)
{
    struct idx_tombstone ts;
    struct idx_gap g;
    char vol[LAY_ID_MAX + 1];
    uint8_t key[12];
    MDB_val k = {12, key};
    struct cv_buf b;
    int rc;

    rc = idx_segment_get(t, cam, start_us, &ts.seg, err);
    if (rc < 0)
        return rc;
    ts.deleted_us = now_us;
    ts.reason = reason;
    cv_strlcpy(ts.detail, detail, sizeof(ts.detail));
    seg_key(key, cam, start_us);
    cv_buf_init(&b, REC_MAX);
    tombstone_encode(&b, &ts);
    rc = idx_put(t, DB_TOMBSTONES, key, 12, &b, err, "writing tombstone");
    if (rc == 0) {
        cv_buf_reset(&b);
        cv_buf_str16(&b, ts.seg.path);
        rc = idx_put(t, DB_DELETING, key, 12, &b, err, "queueing file deletion");
    }
    cv_buf_release(&b);
    if (rc < 0)
        return rc;
    rc = mdb_del(t->txn, t->idx->dbi[DB_SEGMENTS], &k, NULL);
    if (rc == 0) {
        rc = mdb_del(t->txn, t->idx->dbi[DB_FRAGMENTS], &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc)
        return idx_db_err(err, rc, "deleting segment record");
    path_volume(ts.seg.path, vol);
    rc = volstats_add(t, vol, -(int64_t)ts.seg.bytes, -1, err);
    if (rc < 0)
        return rc;
    memset(&g, 0, sizeof(g));
    g.cam = cam;
    g.start_us = ts.seg.start_us;
    g.end_us = ts.seg.end_us;
    g.reason = reason;
    cv_strlcpy(g.detail, detail, sizeof(g.detail));
    rc = gap_put_merged(t, &g, err);
    if (rc == 0 && out)
        *out = ts.seg;
    return rc;
}

int idx_tombstone_iter(struct idx_txn *t, uint32_t cam, int64_t from_us, int64_t to_us,
                       idx_tombstone_cb cb, void *ctx, struct cv_err *err)
{
    struct cam_scan sc;
    int rc = cam_scan_open(&sc, t, DB_TOMBSTONES, cam, INT64_MIN, "reading tombstones", err);

    if (rc < 0)
        return rc;
    while (rc == 0 && cam_scan_next(&sc)) {
        const MDB_val v = sc.v;
        struct idx_tombstone ts;
        struct cv_rd r;
        size_t seglen;
        MDB_val sv;
        /* The segment record is a prefix; decode it from a copy bounded by its own fields. */
        sv = v;
        rc = segment_decode(&sc.k, &sv, &ts.seg, err);
        if (rc < 0 || ts.seg.start_us >= to_us)
            break;
        {
            struct cv_buf probe;
            cv_buf_init(&probe, REC_MAX);
            segment_encode(&probe, &ts.seg);
            seglen = probe.len;
            cv_buf_release(&probe);
        }
        cv_rd_init(&r, (const uint8_t *)v.mv_data + seglen,
                   v.mv_size > seglen ? v.mv_size - seglen : 0);
        ts.deleted_us = (int64_t)cv_rd_be64(&r);
        ts.reason = cv_rd_u8(&r);
        cv_rd_str16(&r, ts.detail, sizeof(ts.detail));
        if (r.bad || v.mv_size < seglen)
            rc = cv_errf(err, CV_ECORRUPT, "index: tombstone record is corrupt");
        else if (ts.seg.end_us > from_us)
            rc = cb(ctx, &ts);
    }
    return cam_scan_close(&sc, rc, "reading tombstones", err);
}

int idx_deleting_list(struct idx_txn *t, size_t max, struct idx_deleting **out, size_t *n,
                      struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct idx_deleting *arr;
    size_t cnt = 0;
    int rc, op = MDB_FIRST;

    *out = NULL;
    *n = 0;
    arr = calloc(max ? max : 1, sizeof(*arr));
    if (!arr)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_DELETING], &cur);
    if (rc) {
        free(arr);
        return idx_db_err(err, rc, "reading deletions");
    }
    while (cnt < max && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
        struct cv_rd r;
        op = MDB_NEXT;
        if (k.mv_size != 12)
            continue;
        arr[cnt].cam = cv_get_be32(k.mv_data);
        arr[cnt].start_us = key_start(k.mv_data);
        cv_rd_init(&r, v.mv_data, v.mv_size);
        cv_rd_str16(&r, arr[cnt].path, sizeof(arr[cnt].path));
        if (!r.bad)
            cnt++;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) {
        free(arr);
        return idx_db_err(err, rc, "reading deletions");
    }
    *out = arr;
    *n = cnt;
    return 0;
}

int idx_deleting_del(struct idx_txn *t, uint32_t cam, int64_t start_us, struct cv_err *err)
{
    uint8_t key[12];
    MDB_val k = {12, key};
    int rc;

    seg_key(key, cam, start_us);
    rc = mdb_del(t->txn, t->idx->dbi[DB_DELETING], &k, NULL);
    return rc && rc != MDB_NOTFOUND ? idx_db_err(err, rc, "forgetting a deletion") : 0;
}

int idx_locate(struct idx_txn *t, uint32_t cam, int64_t at_us, struct idx_segment *seg,
               uint64_t *offset, int64_t *frag_us, struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t key[12];
    struct lay_seg_frag *f = NULL;
    size_t n = 0;
    int rc;

    /* The last segment starting at or before the instant. */
    rc = cam_seek(t, DB_SEGMENTS, cam, at_us, key, &cur, &k, &v);
    if (!cur)
        return idx_db_err(err, rc, "reading segments");
    if (rc == 0 && !(k.mv_size == 12 && cv_get_be32(k.mv_data) == cam && key_start(k.mv_data) == at_us))
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && (k.mv_size != 12 || cv_get_be32(k.mv_data) != cam))
        rc = MDB_NOTFOUND;
    if (rc == 0)
        rc = segment_decode(&k, &v, seg, err);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return CV_ENOENT;
    if (rc > 0)
        return idx_db_err(err, rc, "reading segments");
    if (rc < 0)
        return rc;
    if (at_us >= seg->end_us)
        return CV_ENOENT;
    rc = idx_fragments_get(t, cam, seg->start_us, &f, &n, err);
    if (rc < 0)
        return rc;
    *offset = 0;
    *frag_us = seg->start_us;
    for (size_t i = 0; i < n && f[i].wall_us <= at_us; i++) {
        *offset = f[i].offset;
        *frag_us = f[i].wall_us;
    }
    free(f);
    return 0;
}

/* ---- checkpoints ---- */

int idx_heads(struct idx_txn *t, struct idx_head **out, size_t *n, struct cv_err *err)
{
    struct idx_camera *cams = NULL;
    struct idx_head *h;
    size_t nc = 0, k = 0;
    int rc;

    *out = NULL;
    *n = 0;
    rc = idx_camera_list(t, &cams, &nc, err);
    if (rc < 0)
        return rc;
    h = calloc(nc ? nc : 1, sizeof(*h));
    if (!h) {
        free(cams);
        return cv_errf(err, CV_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nc; i++) {
        if (chainhead_get(t, cams[i].num, &h[k].start_us, h[k].chain) != 0)
            continue;
        cv_strlcpy(h[k].camera, cams[i].id, sizeof(h[k].camera));
        k++;
    }
    free(cams);
    *out = h;
    *n = k;
    return 0;
}
