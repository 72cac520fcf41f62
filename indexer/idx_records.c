/*
 * idx_records.c: cameras and the generic record stores of schema 3 (users, sessions, requests,
 * cases, jobs, audit) with their counters; the stores keep bytes, their owners define formats.
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

/* ---- cameras ---- */

static void camera_encode(struct cv_buf *b, const struct idx_camera *c)
{
    cv_buf_u8(b, 1);
    cv_buf_str16(b, c->id);
    cv_buf_be32(b, c->num);
    cv_buf_str16(b, c->url);
    cv_buf_str16(b, c->name);
    cv_buf_str16(b, c->location);
    cv_buf_u8(b, (uint8_t)(c->enabled | c->is_public << 1));
    cv_buf_u8(b, c->transport);
    cv_buf_be64(b, (uint64_t)(c->retention_days * 86400.0 * 1e3)); /* milliseconds */
    cv_buf_str16(b, c->volume);
    cv_buf_be64(b, (uint64_t)c->created_us);
    cv_buf_str16(b, c->area);
    if (c->gb_id[0])
        cv_buf_str16(b, c->gb_id);
}

static int camera_decode(const MDB_val *v, struct idx_camera *c, struct cv_err *err)
{
    struct cv_rd r;
    uint8_t fl;

    memset(c, 0, sizeof(*c));
    cv_rd_init(&r, v->mv_data, v->mv_size);
    if (cv_rd_u8(&r) != 1)
        return cv_errf(err, CV_ECORRUPT, "index: camera record of unknown version");
    cv_rd_str16(&r, c->id, sizeof(c->id));
    c->num = cv_rd_be32(&r);
    cv_rd_str16(&r, c->url, sizeof(c->url));
    cv_rd_str16(&r, c->name, sizeof(c->name));
    cv_rd_str16(&r, c->location, sizeof(c->location));
    fl = cv_rd_u8(&r);
    c->enabled = fl & 1;
    c->is_public = fl & 2;
    c->transport = cv_rd_u8(&r);
    c->retention_days = (double)cv_rd_be64(&r) / (86400.0 * 1e3);
    cv_rd_str16(&r, c->volume, sizeof(c->volume));
    c->created_us = (int64_t)cv_rd_be64(&r);
    if (r.off < r.len) /* records written before areas end here */
        cv_rd_str16(&r, c->area, sizeof(c->area));
    if (!r.bad && r.off < r.len) /* and those before GB/T 28181 channel IDs here */
        cv_rd_str16(&r, c->gb_id, sizeof(c->gb_id));
    if (r.bad)
        return cv_errf(err, CV_ECORRUPT, "index: camera record is corrupt");
    return 0;
}

static int camera_write(struct idx_txn *t, const struct idx_camera *c, unsigned flags,
                        struct cv_err *err)
{
    MDB_val key = {strlen(c->id), (void *)c->id}, val;
    struct cv_buf b;
    int rc;

    cv_buf_init(&b, REC_MAX);
    camera_encode(&b, c);
    if (!cv_buf_ok(&b)) {
        cv_buf_release(&b);
        return cv_errf(err, CV_ELIMIT, "camera '%s': record too large", c->id);
    }
    val.mv_size = b.len;
    val.mv_data = b.data;
    rc = mdb_put(t->txn, t->idx->dbi[DB_CAMERAS], &key, &val, flags);
    cv_buf_release(&b);
    if (rc == MDB_KEYEXIST)
        return cv_errf(err, CV_EEXIST, "camera '%s' already exists", c->id);
    if (rc)
        return idx_db_err(err, rc, "writing camera");
    return idx_bump_config_gen(t, err);
}

int idx_camera_add(struct idx_txn *t, struct idx_camera *c, struct cv_err *err)
{
    uint64_t next = 1;
    int rc;

    rc = idx_meta_get_u64(t, "next_camnum", &next);
    if (rc && rc != MDB_NOTFOUND)
        return idx_db_err(err, rc, "next_camnum");
    if (next > UINT32_MAX)
        return cv_errf(err, CV_ELIMIT, "index: too many cameras");
    c->num = (uint32_t)next;
    rc = camera_write(t, c, MDB_NOOVERWRITE, err);
    if (rc < 0)
        return rc;
    return idx_meta_put_u64(t, "next_camnum", next + 1, err);
}

int idx_camera_update(struct idx_txn *t, const struct idx_camera *c, struct cv_err *err)
{
    struct idx_camera old;
    int rc = idx_camera_get(t, c->id, &old, err);

    if (rc < 0)
        return rc;
    if (old.num != c->num)
        return cv_errf(err, CV_EINVAL, "camera '%s': its number cannot change", c->id);
    return camera_write(t, c, 0, err);
}

int idx_camera_get(struct idx_txn *t, const char *id, struct idx_camera *out, struct cv_err *err)
{
    MDB_val v;
    int rc = idx_get(t, DB_CAMERAS, id, strlen(id), &v);

    if (rc == MDB_NOTFOUND)
        return cv_errf(err, CV_ENOENT, "unknown camera '%s'", id);
    if (rc)
        return idx_db_err(err, rc, "reading camera");
    return camera_decode(&v, out, err);
}

static int camera_item(const MDB_val *k, const MDB_val *v, void *item, struct cv_err *err)
{
    (void)k;
    return camera_decode(v, item, err);
}

int idx_camera_list(struct idx_txn *t, struct idx_camera **out, size_t *n, struct cv_err *err)
{
    return idx_list_db(t, DB_CAMERAS, sizeof(**out), camera_item, (void **)out, n, err);
}

/* ---- generic record stores (schema 3: users, sessions, requests, cases, jobs, audit) ---- */

static const char *const store_names[IDX_STORE_COUNT] = {"users", "sessions", "requests",
                                                         "cases", "jobs",     "audit",
                                                         "areas", "reports", "alerts", "photos"};

const char *idx_store_name(enum idx_store s)
{
    return (unsigned)s < IDX_STORE_COUNT ? store_names[s] : "?";
}

static int store_check(enum idx_store s, size_t klen, struct cv_err *err)
{
    if ((unsigned)s >= IDX_STORE_COUNT)
        return cv_errf(err, CV_EINVAL, "index: unknown record store %d", (int)s);
    if (klen == 0 || klen > IDX_REC_KEY_MAX)
        return cv_errf(err, CV_EINVAL, "index: %s: key of %zu bytes (1 to %d allowed)",
                       store_names[s], klen, IDX_REC_KEY_MAX);
    return 0;
}

static int rec_write(struct idx_txn *t, enum idx_store s, const void *key, size_t klen,
                     const void *val, size_t vlen, unsigned flags, struct cv_err *err)
{
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = store_check(s, klen, err);

    if (rc < 0)
        return rc;
    if (!t->write)
        return cv_errf(err, CV_EINVAL, "index: %s: write in a read transaction", store_names[s]);
    if (vlen > IDX_REC_VAL_MAX)
        return cv_errf(err, CV_ELIMIT, "index: %s: record of %zu bytes (at most %d)",
                       store_names[s], vlen, IDX_REC_VAL_MAX);
    rc = mdb_put(t->txn, t->idx->dbi[DB_USERS + s], &k, &v, flags);
    if (rc == MDB_KEYEXIST)
        return cv_errf(err, CV_EEXIST, "index: %s: the key exists already", store_names[s]);
    return rc ? idx_db_err(err, rc, store_names[s]) : 0;
}

int idx_rec_put(struct idx_txn *t, enum idx_store s, const void *key, size_t klen,
                const void *val, size_t vlen, struct cv_err *err)
{
    return rec_write(t, s, key, klen, val, vlen, 0, err);
}

int idx_rec_add(struct idx_txn *t, enum idx_store s, const void *key, size_t klen,
                const void *val, size_t vlen, struct cv_err *err)
{
    return rec_write(t, s, key, klen, val, vlen, MDB_NOOVERWRITE, err);
}

/* A store a read-only open did not find (idx_int.h, DB_FIRST_OPTIONAL): it reads as empty. */
static bool absent(const struct idx_txn *t, enum idx_store s)
{
    return (unsigned)s < IDX_STORE_COUNT && t->idx->absent[DB_USERS + s];
}

int idx_rec_get(struct idx_txn *t, enum idx_store s, const void *key, size_t klen,
                struct cv_buf *out, struct cv_err *err)
{
    MDB_val k = {klen, (void *)key}, v;
    int rc = store_check(s, klen, err);

    if (rc < 0)
        return rc;
    rc = absent(t, s) ? MDB_NOTFOUND : mdb_get(t->txn, t->idx->dbi[DB_USERS + s], &k, &v);
    if (rc == MDB_NOTFOUND)
        return cv_errf(err, CV_ENOENT, "index: %s: no such record", store_names[s]);
    if (rc)
        return idx_db_err(err, rc, store_names[s]);
    cv_buf_reset(out);
    cv_buf_put(out, v.mv_data, v.mv_size);
    if (!cv_buf_ok(out))
        return cv_errf(err, CV_ELIMIT, "index: %s: record of %zu bytes does not fit", store_names[s],
                       v.mv_size);
    return 0;
}

int idx_rec_del(struct idx_txn *t, enum idx_store s, const void *key, size_t klen,
                struct cv_err *err)
{
    MDB_val k = {klen, (void *)key};
    int rc = store_check(s, klen, err);

    if (rc < 0)
        return rc;
    rc = mdb_del(t->txn, t->idx->dbi[DB_USERS + s], &k, NULL);
    if (rc == MDB_NOTFOUND)
        return cv_errf(err, CV_ENOENT, "index: %s: no such record", store_names[s]);
    return rc ? idx_db_err(err, rc, store_names[s]) : 0;
}

int idx_rec_iter(struct idx_txn *t, enum idx_store s, const void *from, size_t flen, bool reverse,
                 idx_rec_cb cb, void *ctx, struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k = {flen, (void *)from}, v;
    int rc, op;

    if ((unsigned)s >= IDX_STORE_COUNT)
        return cv_errf(err, CV_EINVAL, "index: unknown record store %d", (int)s);
    if (absent(t, s))
        return 0;
    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_USERS + s], &cur);
    if (rc)
        return idx_db_err(err, rc, store_names[s]);
    if (!from || flen == 0) {
        rc = mdb_cursor_get(cur, &k, &v, reverse ? MDB_LAST : MDB_FIRST);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (reverse) {
            /* Start at the last key <= from. */
            if (rc == MDB_NOTFOUND)
                rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
            else if (rc == 0 && (k.mv_size != flen || memcmp(k.mv_data, from, flen) != 0))
                rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
        }
    }
    op = reverse ? MDB_PREV : MDB_NEXT;
    while (rc == 0) {
        int r = cb(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        if (r) {
            mdb_cursor_close(cur);
            return r;
        }
        rc = mdb_cursor_get(cur, &k, &v, op);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : idx_db_err(err, rc, store_names[s]);
}

int idx_rec_last(struct idx_txn *t, enum idx_store s, struct cv_buf *key, struct cv_buf *val,
                 struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc;

    if ((unsigned)s >= IDX_STORE_COUNT)
        return cv_errf(err, CV_EINVAL, "index: unknown record store %d", (int)s);
    if (absent(t, s))
        return cv_errf(err, CV_ENOENT, "index: %s is empty", store_names[s]);
    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_USERS + s], &cur);
    if (rc)
        return idx_db_err(err, rc, store_names[s]);
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0) {
        cv_buf_reset(key);
        cv_buf_put(key, k.mv_data, k.mv_size);
        cv_buf_reset(val);
        cv_buf_put(val, v.mv_data, v.mv_size);
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return cv_errf(err, CV_ENOENT, "index: %s is empty", store_names[s]);
    if (rc)
        return idx_db_err(err, rc, store_names[s]);
    if (!cv_buf_ok(key) || !cv_buf_ok(val))
        return cv_errf(err, CV_ELIMIT, "index: %s: last record does not fit", store_names[s]);
    return 0;
}

int idx_rec_count(struct idx_txn *t, enum idx_store s, uint64_t *out, struct cv_err *err)
{
    MDB_stat st;
    int rc;

    if ((unsigned)s >= IDX_STORE_COUNT)
        return cv_errf(err, CV_EINVAL, "index: unknown record store %d", (int)s);
    if (absent(t, s)) {
        *out = 0;
        return 0;
    }
    rc = mdb_stat(t->txn, t->idx->dbi[DB_USERS + s], &st);
    if (rc)
        return idx_db_err(err, rc, store_names[s]);
    *out = st.ms_entries;
    return 0;
}

int idx_counter_next(struct idx_txn *t, const char *name, uint64_t *out, struct cv_err *err)
{
    char key[64];
    uint64_t v = 0;
    int rc;

    if (!t->write)
        return cv_errf(err, CV_EINVAL, "index: counter '%s': needs a write transaction", name);
    if (strlen(name) > 40)
        return cv_errf(err, CV_EINVAL, "index: counter name '%s' too long", name);
    snprintf(key, sizeof(key), "counter.%s", name);
    rc = idx_meta_get_u64(t, key, &v);
    if (rc == MDB_NOTFOUND)
        v = 0;
    else if (rc)
        return idx_db_err(err, rc, key);
    v++;
    rc = idx_meta_put_u64(t, key, v, err);
    if (rc < 0)
        return rc;
    *out = v;
    return 0;
}

int idx_rec_copy_all(struct idx_txn *from, struct idx_txn *to, struct cv_err *err)
{
    static const char prefix[] = "counter.";
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc = 0;

    if (!to->write)
        return cv_errf(err, CV_EINVAL, "index: copying records needs a write transaction");
    for (int s = 0; s <= IDX_STORE_COUNT && rc == 0; s++) {
        /* The stores, then meta's counters (s == IDX_STORE_COUNT). */
        int db = s < IDX_STORE_COUNT ? DB_USERS + s : DB_META;
        int op = MDB_FIRST;
        if (from->idx->absent[db])
            continue; /* absent in an index opened read-only: nothing to copy */
        if (s == IDX_STORE_COUNT) {
            k.mv_size = sizeof(prefix) - 1;
            k.mv_data = (void *)prefix;
            op = MDB_SET_RANGE;
        }
        rc = mdb_cursor_open(from->txn, from->idx->dbi[db], &cur);
        if (rc)
            return idx_db_err(err, rc, idx_db_names[db]);
        while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
            op = MDB_NEXT;
            if (db == DB_META &&
                (k.mv_size < sizeof(prefix) - 1 || memcmp(k.mv_data, prefix, sizeof(prefix) - 1)))
                break;
            rc = mdb_put(to->txn, to->idx->dbi[db], &k, &v, 0);
            if (rc)
                break;
        }
        mdb_cursor_close(cur);
        rc = rc == MDB_NOTFOUND || rc == 0 ? 0 : idx_db_err(err, rc, idx_db_names[db]);
    }
    return rc;
}
