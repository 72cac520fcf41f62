/*
 * idx_holds.c: camera status, storage volumes and their statistics, holds, and signed
 * checkpoints.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "indexer/idx.h"
#include "indexer/idx_int.h"
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/banned.h"

/* ---- status ---- */

int idx_status_put(struct idx_txn *t, uint32_t cam, const struct idx_status *st,
                   struct cv_err *err)
{
    uint8_t key[4];
    struct cv_buf b;
    int rc;

    cv_put_be32(key, cam);
    cv_buf_init(&b, REC_MAX);
    cv_buf_u8(&b, 1);
    cv_buf_u8(&b, st->online);
    cv_buf_str16(&b, st->reason);
    cv_buf_be64(&b, (uint64_t)st->since_us);
    cv_buf_be64(&b, (uint64_t)st->last_frame_us);
    cv_buf_be64(&b, st->bitrate_bps);
    cv_buf_be64(&b, st->frames);
    cv_buf_be64(&b, st->segments);
    cv_buf_be64(&b, st->reconnects);
    cv_buf_be64(&b, (uint64_t)st->updated_us);
    cv_buf_str16(&b, st->codec);
    cv_buf_be64(&b, st->not_durable); /* optional trailing fields: older records end before */
    cv_buf_be64(&b, st->ts_repaired);
    cv_buf_str16(&b, st->transport);
    cv_buf_str16(&b, st->picture);
    cv_buf_be64(&b, (uint64_t)st->picture_since_us);
    cv_buf_be64(&b, st->frames_dropped);
    rc = idx_put(t, DB_STATUS, key, 4, &b, err, "writing status");
    cv_buf_release(&b);
    return rc;
}

int idx_status_get(struct idx_txn *t, uint32_t cam, struct idx_status *st, struct cv_err *err)
{
    uint8_t key[4];
    struct cv_rd r;
    int rc;

    memset(st, 0, sizeof(*st));
    cv_put_be32(key, cam);
    rc = idx_get_rd(t, DB_STATUS, key, 4, &r, "reading status", err);
    if (rc)
        return rc;
    if (cv_rd_u8(&r) != 1)
        return cv_errf(err, CV_ECORRUPT, "index: status record of unknown version");
    st->online = cv_rd_u8(&r);
    cv_rd_str16(&r, st->reason, sizeof(st->reason));
    st->since_us = (int64_t)cv_rd_be64(&r);
    st->last_frame_us = (int64_t)cv_rd_be64(&r);
    st->bitrate_bps = cv_rd_be64(&r);
    st->frames = cv_rd_be64(&r);
    st->segments = cv_rd_be64(&r);
    st->reconnects = cv_rd_be64(&r);
    st->updated_us = (int64_t)cv_rd_be64(&r);
    cv_rd_str16(&r, st->codec, sizeof(st->codec));
    if (!r.bad && r.len - r.off >= 8)
        st->not_durable = cv_rd_be64(&r);
    if (!r.bad && r.len - r.off >= 10) {
        st->ts_repaired = cv_rd_be64(&r);
        cv_rd_str16(&r, st->transport, sizeof(st->transport));
    }
    if (!r.bad && r.len - r.off >= 10) {
        cv_rd_str16(&r, st->picture, sizeof(st->picture));
        st->picture_since_us = (int64_t)cv_rd_be64(&r);
    }
    if (!r.bad && r.len - r.off >= 8)
        st->frames_dropped = cv_rd_be64(&r);
    if (r.bad)
        return cv_errf(err, CV_ECORRUPT, "index: status record is corrupt");
    return 0;
}

/* ---- volumes ---- */

static void volstats_read(struct idx_txn *t, struct idx_volume *v)
{
    MDB_val val;

    v->used_bytes = v->segments = 0;
    if (idx_get(t, DB_VOLSTATS, v->name, strlen(v->name), &val) == 0 && val.mv_size == 16) {
        v->used_bytes = cv_get_be64(val.mv_data);
        v->segments = cv_get_be64((const uint8_t *)val.mv_data + 8);
    }
}

int idx_volume_put(struct idx_txn *t, const struct idx_volume *v, struct cv_err *err)
{
    struct cv_buf b;
    int rc;

    cv_buf_init(&b, REC_MAX);
    cv_buf_u8(&b, 1);
    cv_buf_str16(&b, v->path);
    cv_buf_be64(&b, v->max_bytes);
    rc = idx_put(t, DB_VOLUMES, v->name, strlen(v->name), &b, err, "writing volume");
    cv_buf_release(&b);
    return rc == 0 ? idx_bump_config_gen(t, err) : rc;
}

int idx_volume_get(struct idx_txn *t, const char *name, struct idx_volume *out,
                   struct cv_err *err)
{
    MDB_val v;
    struct cv_rd r;
    int rc;

    memset(out, 0, sizeof(*out));
    if (cv_strlcpy(out->name, name, sizeof(out->name)) < 0)
        return cv_errf(err, CV_ENOENT, "unknown volume '%s'", name);
    rc = idx_get(t, DB_VOLUMES, name, strlen(name), &v);
    if (rc == MDB_NOTFOUND) {
        if (strcmp(name, LAY_DEFAULT_VOLUME) != 0)
            return cv_errf(err, CV_ENOENT, "unknown volume '%s'", name);
        volstats_read(t, out); /* the default volume exists without a record */
        return 0;
    }
    if (rc)
        return idx_db_err(err, rc, "reading volume");
    cv_rd_init(&r, v.mv_data, v.mv_size);
    if (cv_rd_u8(&r) != 1)
        return cv_errf(err, CV_ECORRUPT, "index: volume record of unknown version");
    cv_rd_str16(&r, out->path, sizeof(out->path));
    out->max_bytes = cv_rd_be64(&r);
    if (r.bad)
        return cv_errf(err, CV_ECORRUPT, "index: volume record is corrupt");
    volstats_read(t, out);
    return 0;
}

static int volume_item(const MDB_val *k, const MDB_val *v, void *item, struct cv_err *err)
{
    struct idx_volume *vol = item;
    struct cv_rd r;

    memset(vol, 0, sizeof(*vol));
    if (k->mv_size == 0 || k->mv_size > LAY_ID_MAX)
        return cv_errf(err, CV_ECORRUPT, "index: volume key is corrupt");
    memcpy(vol->name, k->mv_data, k->mv_size);
    cv_rd_init(&r, v->mv_data, v->mv_size);
    if (cv_rd_u8(&r) != 1)
        return cv_errf(err, CV_ECORRUPT, "index: volume record of unknown version");
    cv_rd_str16(&r, vol->path, sizeof(vol->path));
    vol->max_bytes = cv_rd_be64(&r);
    return r.bad ? cv_errf(err, CV_ECORRUPT, "index: volume record is corrupt") : 0;
}

int idx_volume_list(struct idx_txn *t, struct idx_volume **out, size_t *n, struct cv_err *err)
{
    struct idx_volume *arr = NULL, *na;
    bool have_default = false;
    size_t cnt = 0;
    int rc;

    rc = idx_list_db(t, DB_VOLUMES, sizeof(*arr), volume_item, (void **)&arr, &cnt, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < cnt; i++) {
        volstats_read(t, &arr[i]);
        have_default |= strcmp(arr[i].name, LAY_DEFAULT_VOLUME) == 0;
    }
    if (!have_default) {
        /* The default volume exists without a record; it always comes first. */
        na = realloc(arr, (cnt + 1) * sizeof(*na));
        if (!na) {
            free(arr);
            return cv_errf(err, CV_ENOMEM, "out of memory");
        }
        arr = na;
        memmove(arr + 1, arr, cnt * sizeof(*arr));
        rc = idx_volume_get(t, LAY_DEFAULT_VOLUME, &arr[0], err);
        if (rc < 0) {
            free(arr);
            return rc;
        }
        cnt++;
    }
    *out = arr;
    *n = cnt;
    return 0;
}

/* ---- holds ---- */

static void hold_encode(struct cv_buf *b, const struct idx_hold *h)
{
    cv_buf_u8(b, 1);
    cv_buf_str16(b, h->case_id);
    cv_buf_u8(b, (uint8_t)h->ncameras);
    for (uint32_t i = 0; i < h->ncameras; i++)
        cv_buf_str16(b, h->cameras[i]);
    cv_buf_be64(b, (uint64_t)h->from_us);
    cv_buf_be64(b, (uint64_t)h->to_us);
    cv_buf_be64(b, (uint64_t)h->until_us);
    cv_buf_str16(b, h->who);
    cv_buf_str16(b, h->why);
    cv_buf_be64(b, (uint64_t)h->created_us);
    cv_buf_be64(b, (uint64_t)h->released_us);
    cv_buf_str16(b, h->released_by);
}

static int hold_decode(const MDB_val *k, const MDB_val *v, struct idx_hold *h, struct cv_err *err)
{
    struct cv_rd r;

    memset(h, 0, sizeof(*h));
    if (k->mv_size != 8)
        return cv_errf(err, CV_ECORRUPT, "index: hold key is corrupt");
    h->id = cv_get_be64(k->mv_data);
    cv_rd_init(&r, v->mv_data, v->mv_size);
    if (cv_rd_u8(&r) != 1)
        return cv_errf(err, CV_ECORRUPT, "index: hold record of unknown version");
    cv_rd_str16(&r, h->case_id, sizeof(h->case_id));
    h->ncameras = cv_rd_u8(&r);
    if (h->ncameras > IDX_HOLD_CAMERAS)
        return cv_errf(err, CV_ECORRUPT, "index: hold record is corrupt");
    for (uint32_t i = 0; i < h->ncameras; i++)
        cv_rd_str16(&r, h->cameras[i], sizeof(h->cameras[i]));
    h->from_us = (int64_t)cv_rd_be64(&r);
    h->to_us = (int64_t)cv_rd_be64(&r);
    h->until_us = (int64_t)cv_rd_be64(&r);
    cv_rd_str16(&r, h->who, sizeof(h->who));
    cv_rd_str16(&r, h->why, sizeof(h->why));
    h->created_us = (int64_t)cv_rd_be64(&r);
    h->released_us = (int64_t)cv_rd_be64(&r);
    cv_rd_str16(&r, h->released_by, sizeof(h->released_by));
    if (r.bad)
        return cv_errf(err, CV_ECORRUPT, "index: hold record is corrupt");
    return 0;
}

int idx_hold_put(struct idx_txn *t, const struct idx_hold *h, struct cv_err *err)
{
    uint8_t key[8];
    uint64_t next = 1;
    struct cv_buf b;
    int rc;

    cv_put_be64(key, h->id);
    cv_buf_init(&b, REC_MAX);
    hold_encode(&b, h);
    rc = idx_put(t, DB_HOLDS, key, 8, &b, err, "writing hold");
    cv_buf_release(&b);
    /* A hold stored under a given id (fsck copying holds) must not be reused by hold_add. */
    if (rc == 0 && idx_meta_get_u64(t, "next_hold", &next) != 0)
        next = 1;
    if (rc == 0 && h->id >= next)
        rc = idx_meta_put_u64(t, "next_hold", h->id + 1, err);
    return rc;
}

int idx_hold_add(struct idx_txn *t, struct idx_hold *h, struct cv_err *err)
{
    uint64_t next = 1;
    int rc = idx_meta_get_u64(t, "next_hold", &next);

    if (rc && rc != MDB_NOTFOUND)
        return idx_db_err(err, rc, "next_hold");
    h->id = next;
    return idx_hold_put(t, h, err);
}

int idx_hold_get(struct idx_txn *t, uint64_t id, struct idx_hold *out, struct cv_err *err)
{
    uint8_t key[8];
    MDB_val k = {8, key}, v;
    int rc;

    cv_put_be64(key, id);
    rc = mdb_get(t->txn, t->idx->dbi[DB_HOLDS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return cv_errf(err, CV_ENOENT, "unknown hold %llu", (unsigned long long)id);
    if (rc)
        return idx_db_err(err, rc, "reading hold");
    return hold_decode(&k, &v, out, err);
}

static int hold_item(const MDB_val *k, const MDB_val *v, void *item, struct cv_err *err)
{
    return hold_decode(k, v, item, err);
}

int idx_hold_list(struct idx_txn *t, struct idx_hold **out, size_t *n, struct cv_err *err)
{
    return idx_list_db(t, DB_HOLDS, sizeof(**out), hold_item, (void **)out, n, err);
}

bool idx_hold_touches(const struct idx_hold *h, const char *camera, int64_t from_us,
                      int64_t to_us)
{
    if (h->to_us <= from_us || h->from_us >= to_us)
        return false;
    for (uint32_t i = 0; i < h->ncameras; i++)
        if (strcmp(h->cameras[i], camera) == 0)
            return true;
    return false;
}

bool idx_hold_covers(const struct idx_hold *h, const char *camera, int64_t from_us, int64_t to_us,
                     int64_t now_us)
{
    if (h->released_us || (h->until_us && h->until_us <= now_us))
        return false;
    return idx_hold_touches(h, camera, from_us, to_us);
}

void idx_checkpoint_release(struct idx_checkpoint *c)
{
    if (!c)
        return;
    free(c->text);
    c->text = NULL;
}

int idx_checkpoint_put(struct idx_txn *t, const struct idx_checkpoint *c, struct cv_err *err)
{
    uint8_t key[8];
    struct cv_buf b;
    size_t len = strlen(c->text);
    int rc;

    cv_put_be64(key, c->seq);
    cv_buf_init(&b, len + 256);
    cv_buf_u8(&b, 1);
    cv_buf_be32(&b, (uint32_t)len);
    cv_buf_put(&b, c->text, len);
    cv_buf_u8(&b, (uint8_t)c->siglen);
    cv_buf_put(&b, c->sig, c->siglen);
    rc = idx_put(t, DB_CHECKPOINTS, key, 8, &b, err, "writing checkpoint");
    cv_buf_release(&b);
    return rc;
}

int idx_checkpoint_last(struct idx_txn *t, struct idx_checkpoint *c, struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct cv_rd r;
    uint32_t len;
    int rc;

    memset(c, 0, sizeof(*c));
    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_CHECKPOINTS], &cur);
    if (rc)
        return idx_db_err(err, rc, "reading checkpoints");
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return CV_ENOENT;
    if (rc)
        return idx_db_err(err, rc, "reading checkpoints");
    if (k.mv_size != 8)
        return cv_errf(err, CV_ECORRUPT, "index: checkpoint key is corrupt");
    c->seq = cv_get_be64(k.mv_data);
    cv_rd_init(&r, v.mv_data, v.mv_size);
    cv_rd_u8(&r);
    len = cv_rd_be32(&r);
    if (r.bad || len > v.mv_size)
        return cv_errf(err, CV_ECORRUPT, "index: checkpoint record is corrupt");
    c->text = malloc((size_t)len + 1);
    if (!c->text)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    cv_rd_bytes(&r, c->text, len);
    c->text[len] = 0;
    c->siglen = cv_rd_u8(&r);
    if (c->siglen > sizeof(c->sig))
        r.bad = true;
    else
        cv_rd_bytes(&r, c->sig, c->siglen);
    if (r.bad) {
        idx_checkpoint_release(c);
        return cv_errf(err, CV_ECORRUPT, "index: checkpoint record is corrupt");
    }
    return 0;
}
