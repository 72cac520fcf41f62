/*
 * idx.c: the LMDB schema of camvault (version 3) and its record encodings.
 *
 * Every record starts with a version byte so that later schemas can read old records; values
 * are written with struct cv_buf (bounded) and read back with struct cv_rd (bounds-checked), so
 * a corrupt record is an error, never a crash.
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
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/banned.h"

#define IDX_MAPSIZE ((size_t)64 << 30) /* virtual; the file grows as needed */
#define REC_MAX (64u << 10)

enum {
    DB_META,
    DB_CAMERAS,
    DB_SEGMENTS,
    DB_FRAGMENTS,
    DB_GAPS,
    DB_STATUS,
    DB_PENDING,
    DB_TOMBSTONES, /* schema 2 from here on */
    DB_CHAINHEAD,
    DB_DELETING,
    DB_HOLDS,
    DB_VOLUMES,
    DB_VOLSTATS,
    DB_CHECKPOINTS,
    DB_USERS, /* schema 3 from here on: the generic record stores, in enum idx_store order */
    DB_SESSIONS,
    DB_REQUESTS,
    DB_CASES,
    DB_JOBS,
    DB_AUDIT,
    DB_COUNT
};
static const char *const db_names[DB_COUNT] = {
    "meta",       "cameras",   "segments", "fragments", "gaps",    "status",  "pending",
    "tombstones", "chainhead", "deleting", "holds",     "volumes", "volstats", "checkpoints",
    "users",      "sessions",  "requests", "cases",     "jobs",    "audit"};

struct idx {
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
    char root[PATH_MAX];
};

struct idx_txn {
    struct idx *idx;
    MDB_txn *txn;
    bool write;
};

static int db_err(struct cv_err *err, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL)
        return cv_errf(err, CV_ENOSPC, "index: %s: the index map is full (%zu GiB)", what,
                       IDX_MAPSIZE >> 30);
    return cv_errf(err, CV_EDB, "index: %s: %s", what, mdb_strerror(rc));
}

static void seg_key(uint8_t k[12], uint32_t cam, int64_t start)
{
    cv_put_be32(k, cam);
    cv_put_be64(k + 4, (uint64_t)start ^ (UINT64_C(1) << 63)); /* sorts negatives first */
}

static int64_t key_start(const uint8_t *k)
{
    return (int64_t)(cv_get_be64(k + 4) ^ (UINT64_C(1) << 63));
}

static int put(struct idx_txn *t, int db, const void *k, size_t klen, const struct cv_buf *v,
               struct cv_err *err, const char *what)
{
    MDB_val key = {klen, (void *)k}, val;
    int rc;

    if (!cv_buf_ok(v))
        return cv_errf(err, CV_ELIMIT, "index: %s: record too large", what);
    val.mv_size = v->len;
    val.mv_data = v->data;
    rc = mdb_put(t->txn, t->idx->dbi[db], &key, &val, 0);
    return rc ? db_err(err, rc, what) : 0;
}

static int get(struct idx_txn *t, int db, const void *k, size_t klen, MDB_val *val)
{
    MDB_val key = {klen, (void *)k};
    return mdb_get(t->txn, t->idx->dbi[db], &key, val);
}

static int meta_get_u64(struct idx_txn *t, const char *name, uint64_t *out)
{
    MDB_val v;
    int rc = get(t, DB_META, name, strlen(name), &v);

    if (rc)
        return rc;
    if (v.mv_size != 8)
        return MDB_CORRUPTED;
    *out = cv_get_be64(v.mv_data);
    return 0;
}

static int meta_put_u64(struct idx_txn *t, const char *name, uint64_t value, struct cv_err *err)
{
    struct cv_buf b;
    int rc;

    cv_buf_init(&b, 8);
    cv_buf_be64(&b, value);
    rc = put(t, DB_META, name, strlen(name), &b, err, name);
    cv_buf_release(&b);
    return rc;
}

static int migrate_1_to_2(struct idx_txn *t, struct cv_err *err);
static int migrate_2_to_3(struct idx_txn *t, struct cv_err *err);

/* Create the schema in a fresh environment, or check the version of an existing one. */
static int schema_init(struct idx *idx, bool create, struct cv_err *err)
{
    struct idx_txn *t = NULL;
    uint64_t version = 0;
    int rc;

    rc = idx_begin(idx, true, &t, err);
    if (rc < 0)
        return rc;
    rc = meta_get_u64(t, "schema", &version);
    if (rc == MDB_NOTFOUND) {
        uint8_t site[16];
        char hex[33];
        struct cv_buf b;
        if (!create) {
            idx_abort(t);
            return cv_errf(err, CV_ESTATE, "index in '%s' has no schema (run 'camvault init')",
                           idx->root);
        }
        if (RAND_bytes(site, sizeof(site)) != 1) {
            idx_abort(t);
            return cv_errf(err, CV_ECRYPTO, "cannot draw random bytes for the site id");
        }
        cv_hex(site, sizeof(site), hex);
        cv_buf_init(&b, 64);
        cv_buf_put(&b, hex, 32);
        rc = put(t, DB_META, "site_id", 7, &b, err, "site_id");
        cv_buf_release(&b);
        if (rc == 0)
            rc = meta_put_u64(t, "schema", IDX_SCHEMA_VERSION, err);
        if (rc == 0)
            rc = meta_put_u64(t, "config_gen", 1, err);
        if (rc == 0)
            rc = meta_put_u64(t, "next_camnum", 1, err);
        if (rc == 0)
            rc = meta_put_u64(t, "next_hold", 1, err);
        if (rc < 0) {
            idx_abort(t);
            return rc;
        }
        return idx_commit(t, err);
    }
    if (rc == 0 && version < IDX_SCHEMA_VERSION) {
        uint64_t from = version;
        /* One transaction for the whole way up: a crash leaves the old schema intact. */
        if (version == 1) {
            rc = migrate_1_to_2(t, err);
            if (rc == 0)
                version = 2;
        }
        if (rc == 0 && version == 2) {
            rc = migrate_2_to_3(t, err);
            if (rc == 0)
                version = 3;
        }
        if (rc == 0)
            rc = meta_put_u64(t, "schema", version, err);
        if (rc < 0) {
            idx_abort(t);
            return cv_errwrap(err, rc, "upgrading index schema %llu to %d",
                              (unsigned long long)from, IDX_SCHEMA_VERSION);
        }
        rc = idx_commit(t, err);
        if (rc == 0)
            cv_info("index in '%s' upgraded from schema %llu to %d", idx->root,
                    (unsigned long long)from, IDX_SCHEMA_VERSION);
        return rc;
    }
    idx_abort(t);
    if (rc)
        return db_err(err, rc, "reading schema version");
    if (version > IDX_SCHEMA_VERSION)
        return cv_errf(err, CV_ESTATE,
                       "index in '%s' has schema %llu, newer than this camvault (%d): upgrade "
                       "camvault",
                       idx->root, (unsigned long long)version, IDX_SCHEMA_VERSION);
    return 0;
}

int idx_open(struct idx **out, const char *root, unsigned flags, struct cv_err *err)
{
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    char dir[PATH_MAX];
    int rc, dead = 0;

    *out = NULL;
    if (!(flags & IDX_CREATE)) {
        rc = lay_root_check(root, err);
        if (rc < 0)
            return rc;
    }
    rc = lay_dir(root, "index", dir, sizeof(dir), err);
    if (rc < 0)
        return rc;
    idx = calloc(1, sizeof(*idx));
    if (!idx)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    cv_strlcpy(idx->root, root, sizeof(idx->root));
    if ((rc = mdb_env_create(&idx->env)) || (rc = mdb_env_set_maxdbs(idx->env, 32)) ||
        (rc = mdb_env_set_maxreaders(idx->env, 512)) ||
        (rc = mdb_env_set_mapsize(idx->env, IDX_MAPSIZE))) {
        rc = db_err(err, rc, "creating environment");
        goto fail;
    }
    rc = mdb_env_open(idx->env, dir, MDB_NOTLS | (flags & IDX_RDONLY ? MDB_RDONLY : 0), 0644);
    if (rc) {
        rc = cv_errf(err, rc == ENOENT ? CV_ENOENT : CV_EDB, "cannot open index '%s': %s", dir,
                     mdb_strerror(rc));
        goto fail;
    }
    mdb_reader_check(idx->env, &dead);
    rc = idx_begin(idx, !(flags & IDX_RDONLY), &t, err);
    if (rc < 0)
        goto fail;
    for (int i = 0; i < DB_COUNT; i++) {
        int r = mdb_dbi_open(t->txn, db_names[i], flags & IDX_RDONLY ? 0 : MDB_CREATE,
                             &idx->dbi[i]);
        if (r == MDB_NOTFOUND && (flags & IDX_RDONLY)) {
            idx_abort(t);
            rc = cv_errf(err, CV_ESTATE, "index in '%s' has an older schema: start the recorder "
                         "or run 'camvault init' once to upgrade it", root);
            goto fail;
        }
        if (r) {
            idx_abort(t);
            rc = db_err(err, r, db_names[i]);
            goto fail;
        }
    }
    rc = idx_commit(t, err); /* makes the handles usable beyond this transaction */
    if (rc < 0)
        goto fail;
    if (flags & IDX_RDONLY) {
        uint64_t version = 0;
        rc = idx_begin(idx, false, &t, err);
        if (rc < 0)
            goto fail;
        meta_get_u64(t, "schema", &version);
        idx_abort(t);
        rc = version == IDX_SCHEMA_VERSION
                 ? 0
                 : cv_errf(err, CV_ESTATE, "index in '%s' has schema %llu, this camvault reads %d "
                           "(start the recorder once to upgrade it)", root,
                           (unsigned long long)version, IDX_SCHEMA_VERSION);
    } else {
        rc = schema_init(idx, flags & IDX_CREATE, err);
    }
    if (rc < 0)
        goto fail;
    *out = idx;
    return 0;
fail:
    idx_close(idx);
    return rc;
}

void idx_close(struct idx *idx)
{
    if (!idx)
        return;
    if (idx->env)
        mdb_env_close(idx->env);
    free(idx);
}

int idx_begin(struct idx *idx, bool write, struct idx_txn **out, struct cv_err *err)
{
    struct idx_txn *t = calloc(1, sizeof(*t));
    int rc;

    *out = NULL;
    if (!t)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    rc = mdb_txn_begin(idx->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (rc) {
        free(t);
        return db_err(err, rc, write ? "beginning a write" : "beginning a read");
    }
    t->idx = idx;
    t->write = write;
    *out = t;
    return 0;
}

int idx_commit(struct idx_txn *t, struct cv_err *err)
{
    int rc = mdb_txn_commit(t->txn);

    free(t);
    return rc ? db_err(err, rc, "commit") : 0;
}

void idx_abort(struct idx_txn *t)
{
    if (!t)
        return;
    mdb_txn_abort(t->txn);
    free(t);
}

int idx_site_id(struct idx_txn *t, char out[33], struct cv_err *err)
{
    MDB_val v;
    int rc = get(t, DB_META, "site_id", 7, &v);

    if (rc)
        return db_err(err, rc, "site_id");
    if (v.mv_size != 32)
        return cv_errf(err, CV_ECORRUPT, "index: site_id is corrupt");
    memcpy(out, v.mv_data, 32);
    out[32] = 0;
    return 0;
}

uint64_t idx_config_gen(struct idx_txn *t)
{
    uint64_t gen = 0;

    meta_get_u64(t, "config_gen", &gen);
    return gen;
}

static int bump_config_gen(struct idx_txn *t, struct cv_err *err)
{
    return meta_put_u64(t, "config_gen", idx_config_gen(t) + 1, err);
}

/*
 * Read every record of database `db` into a malloc'd array of `elem`-byte items, decoded by
 * `decode` (which returns 0 or a CV_E* code). *out is freed and NULL on error.
 */
typedef int (*decode_fn)(const MDB_val *k, const MDB_val *v, void *item, struct cv_err *err);

static int list_db(struct idx_txn *t, int db, size_t elem, decode_fn decode, void **out, size_t *n,
                   struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    char *arr = NULL;
    size_t cnt = 0, cap = 0;
    int rc, op = MDB_FIRST;

    *out = NULL;
    *n = 0;
    rc = mdb_cursor_open(t->txn, t->idx->dbi[db], &cur);
    if (rc)
        return db_err(err, rc, db_names[db]);
    while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
        op = MDB_NEXT;
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char *na = realloc(arr, ncap * elem);
            if (!na) {
                rc = cv_errf(err, CV_ENOMEM, "out of memory");
                goto out;
            }
            arr = na;
            cap = ncap;
        }
        rc = decode(&k, &v, arr + cnt * elem, err);
        if (rc < 0)
            goto out;
        cnt++;
    }
    rc = rc == MDB_NOTFOUND ? 0 : db_err(err, rc, db_names[db]);
out:
    mdb_cursor_close(cur);
    if (rc < 0) {
        free(arr);
        return rc;
    }
    *out = arr;
    *n = cnt;
    return 0;
}

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
        return db_err(err, rc, "writing camera");
    return bump_config_gen(t, err);
}

int idx_camera_add(struct idx_txn *t, struct idx_camera *c, struct cv_err *err)
{
    uint64_t next = 1;
    int rc;

    rc = meta_get_u64(t, "next_camnum", &next);
    if (rc && rc != MDB_NOTFOUND)
        return db_err(err, rc, "next_camnum");
    if (next > UINT32_MAX)
        return cv_errf(err, CV_ELIMIT, "index: too many cameras");
    c->num = (uint32_t)next;
    rc = camera_write(t, c, MDB_NOOVERWRITE, err);
    if (rc < 0)
        return rc;
    return meta_put_u64(t, "next_camnum", next + 1, err);
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
    int rc = get(t, DB_CAMERAS, id, strlen(id), &v);

    if (rc == MDB_NOTFOUND)
        return cv_errf(err, CV_ENOENT, "unknown camera '%s'", id);
    if (rc)
        return db_err(err, rc, "reading camera");
    return camera_decode(&v, out, err);
}

static int camera_item(const MDB_val *k, const MDB_val *v, void *item, struct cv_err *err)
{
    (void)k;
    return camera_decode(v, item, err);
}

int idx_camera_list(struct idx_txn *t, struct idx_camera **out, size_t *n, struct cv_err *err)
{
    return list_db(t, DB_CAMERAS, sizeof(**out), camera_item, (void **)out, n, err);
}

/* ---- segments ---- */

int idx_chain_next(const uint8_t prev[32], const char *camera, int64_t start_us, int64_t end_us,
                   const uint8_t sha256[32], uint8_t out[32], struct cv_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char why[256] = "out of memory";
    unsigned long e;
    uint8_t t[2][8];
    unsigned int len = 0;
    int ok;

    cv_put_be64(t[0], (uint64_t)start_us);
    cv_put_be64(t[1], (uint64_t)end_us);
    ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(ctx, prev, 32) == 1 &&
         EVP_DigestUpdate(ctx, camera, strlen(camera) + 1) == 1 && /* NUL as separator */
         EVP_DigestUpdate(ctx, t[0], 8) == 1 && EVP_DigestUpdate(ctx, t[1], 8) == 1 &&
         EVP_DigestUpdate(ctx, sha256, 32) == 1 && EVP_DigestFinal_ex(ctx, out, &len) == 1 &&
         len == 32;
    EVP_MD_CTX_free(ctx);
    if (ok)
        return 0;
    memset(out, 0, 32); /* never a half-made link */
    if ((e = ERR_get_error()) != 0)
        ERR_error_string_n(e, why, sizeof(why));
    ERR_clear_error();
    return cv_errf(err, CV_ECRYPTO, "camera '%s': cannot compute the chain link: %s", camera, why);
}

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

    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_SEGMENTS], &cur);
    if (rc)
        return db_err(err, rc, "reading segments");
    seg_key(key, cam + 1, INT64_MIN); /* first key past this camera */
    k.mv_size = 12;
    k.mv_data = key;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && (k.mv_size != 12 || cv_get_be32(k.mv_data) != cam))
        rc = MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND)
        rc = CV_ENOENT;
    else if (rc)
        rc = db_err(err, rc, "reading segments");
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
        return db_err(err, rc, "reading segment");
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
    rc = get(t, DB_VOLSTATS, vol, strlen(vol), &v);
    if (rc == 0 && v.mv_size == 16) {
        used = cv_get_be64(v.mv_data);
        segs = cv_get_be64((const uint8_t *)v.mv_data + 8);
    } else if (rc && rc != MDB_NOTFOUND) {
        return db_err(err, rc, "reading volume statistics");
    }
    used = bytes < 0 && (uint64_t)-bytes > used ? 0 : used + (uint64_t)bytes;
    segs = count < 0 && (uint64_t)-count > segs ? 0 : segs + (uint64_t)count;
    cv_buf_init(&b, 16);
    cv_buf_be64(&b, used);
    cv_buf_be64(&b, segs);
    rc = put(t, DB_VOLSTATS, vol, strlen(vol), &b, err, "writing volume statistics");
    cv_buf_release(&b);
    return rc;
}

/* The camera's newest chain link: start and hash; CV_ENOENT when it has none. */
static int chainhead_get(struct idx_txn *t, uint32_t cam, int64_t *start, uint8_t chain[32])
{
    uint8_t key[4];
    MDB_val v;

    cv_put_be32(key, cam);
    if (get(t, DB_CHAINHEAD, key, 4, &v) != 0 || v.mv_size != 40)
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
    rc = put(t, DB_CHAINHEAD, key, 4, &b, err, "writing chain head");
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
    if ((get(t, DB_SEGMENTS, key, 12, &v) == 0 || get(t, DB_TOMBSTONES, key, 12, &v) == 0) &&
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
    rc = idx_chain_next(has_prev ? prev : zero, camera, seg->start_us, seg->end_us, seg->sha256,
                        seg->chain, err);
    if (rc < 0)
        return rc; /* nothing written: a segment is never stored with a made-up link */
    seg_key(key, seg->cam, seg->start_us);
    cv_buf_init(&b, REC_MAX);
    segment_encode(&b, seg);
    rc = put(t, DB_SEGMENTS, key, 12, &b, err, "writing segment");
    if (rc == 0) {
        cv_buf_release(&b);
        cv_buf_init(&b, 16u << 20);
        /* relative to where the file's own times put the segment: its real spacing */
        frags_encode(&b, seg->start_us - shift, frags, nfrags);
        rc = put(t, DB_FRAGMENTS, key, 12, &b, err, "writing fragment table");
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
    rc = put(t, DB_SEGMENTS, key, 12, &b, err, "writing segment");
    cv_buf_release(&b);
    path_volume(seg->path, vol);
    if (rc == 0)
        rc = volstats_add(t, vol, (int64_t)seg->bytes - (int64_t)old.bytes, 0, err);
    return rc;
}

int idx_segment_iter(struct idx_txn *t, uint32_t cam, int64_t from_us, int64_t to_us,
                     idx_segment_cb cb, void *ctx, struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t key[12];
    struct idx_segment s;
    int rc;

    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_SEGMENTS], &cur);
    if (rc)
        return db_err(err, rc, "reading segments");
    seg_key(key, cam, from_us);
    k.mv_size = 12;
    k.mv_data = key;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    /* The segment that starts before `from` may still overlap it: step back once. */
    if (rc == 0 || rc == MDB_NOTFOUND) {
        int r2 = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV)
                         : mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (r2 == 0 && !(k.mv_size == 12 && cv_get_be32(k.mv_data) == cam))
            r2 = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        else if (r2 == MDB_NOTFOUND)
            r2 = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        rc = r2;
    }
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 12 || cv_get_be32(k.mv_data) != cam) {
            if (cv_get_be32(k.mv_data) > cam)
                break;
            continue;
        }
        rc = segment_decode(&k, &v, &s, err);
        if (rc < 0)
            goto out;
        if (s.start_us >= to_us)
            break;
        if (s.end_us <= from_us)
            continue;
        rc = cb(ctx, &s);
        if (rc)
            goto out;
    }
    rc = rc == MDB_NOTFOUND || rc == 0 ? 0 : db_err(err, rc, "reading segments");
out:
    mdb_cursor_close(cur);
    return rc;
}

/* ---- gaps ---- */

const char *idx_gap_reason_name(int reason)
{
    switch (reason) {
    case IDX_GAP_OFFLINE:
        return "camera-offline";
    case IDX_GAP_RECORDER_STOPPED:
        return "recorder-stopped";
    case IDX_GAP_RETENTION:
        return "retention";
    case IDX_GAP_DISK:
        return "disk";
    case IDX_GAP_MISSING:
        return "file-missing";
    }
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
    rc = put(t, DB_GAPS, key, 12, &b, err, "writing gap");
    cv_buf_release(&b);
    return rc;
}

int idx_gap_iter(struct idx_txn *t, uint32_t cam, int64_t from_us, int64_t to_us, idx_gap_cb cb,
                 void *ctx, struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t key[12];
    struct idx_gap g;
    int rc;

    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_GAPS], &cur);
    if (rc)
        return db_err(err, rc, "reading gaps");
    /* Gaps may be long (a camera off for a week): scan this camera's gaps from its first. */
    seg_key(key, cam, INT64_MIN);
    k.mv_size = 12;
    k.mv_data = key;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct cv_rd r;
        if (k.mv_size != 12 || cv_get_be32(k.mv_data) != cam)
            break;
        memset(&g, 0, sizeof(g));
        g.cam = cam;
        g.start_us = key_start(k.mv_data);
        if (g.start_us >= to_us)
            break;
        cv_rd_init(&r, v.mv_data, v.mv_size);
        if (cv_rd_u8(&r) != 1) {
            rc = cv_errf(err, CV_ECORRUPT, "index: gap record of unknown version");
            goto out;
        }
        g.end_us = (int64_t)cv_rd_be64(&r);
        g.reason = cv_rd_u8(&r);
        cv_rd_str16(&r, g.detail, sizeof(g.detail));
        if (r.bad) {
            rc = cv_errf(err, CV_ECORRUPT, "index: gap record is corrupt");
            goto out;
        }
        if (g.end_us <= from_us)
            continue;
        rc = cb(ctx, &g);
        if (rc)
            goto out;
    }
    rc = rc == MDB_NOTFOUND || rc == 0 ? 0 : db_err(err, rc, "reading gaps");
out:
    mdb_cursor_close(cur);
    return rc;
}

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
    cv_buf_be64(&b, st->not_durable); /* optional trailing field: older records end before it */
    rc = put(t, DB_STATUS, key, 4, &b, err, "writing status");
    cv_buf_release(&b);
    return rc;
}

int idx_status_get(struct idx_txn *t, uint32_t cam, struct idx_status *st, struct cv_err *err)
{
    uint8_t key[4];
    MDB_val v;
    struct cv_rd r;
    int rc;

    memset(st, 0, sizeof(*st));
    cv_put_be32(key, cam);
    rc = get(t, DB_STATUS, key, 4, &v);
    if (rc == MDB_NOTFOUND)
        return CV_ENOENT;
    if (rc)
        return db_err(err, rc, "reading status");
    cv_rd_init(&r, v.mv_data, v.mv_size);
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
    if (r.bad)
        return cv_errf(err, CV_ECORRUPT, "index: status record is corrupt");
    return 0;
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
    rc = put(t, DB_PENDING, key, 4, &b, err, "writing pending segment");
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
        return db_err(err, rc, "deleting pending segment");
    return 0;
}

int idx_pending_get(struct idx_txn *t, uint32_t cam, char *relpath, struct cv_err *err)
{
    uint8_t key[4];
    MDB_val v;
    struct cv_rd r;
    int rc;

    cv_put_be32(key, cam);
    rc = get(t, DB_PENDING, key, 4, &v);
    if (rc == MDB_NOTFOUND)
        return CV_ENOENT;
    if (rc)
        return db_err(err, rc, "reading pending segment");
    cv_rd_init(&r, v.mv_data, v.mv_size);
    cv_rd_str16(&r, relpath, LAY_RELPATH_MAX);
    if (r.bad)
        return cv_errf(err, CV_ECORRUPT, "index: pending record is corrupt");
    return 0;
}

/* ---- schema 2: migration, tombstones, volumes, holds ---- */

/*
 * Schema 1 had no chain heads, volume statistics, tombstones, holds or volumes. The new
 * databases exist already (idx_open creates them); fill chain heads and volume statistics from
 * the segments, and start the hold counter. Segment records themselves are unchanged.
 */
static int migrate_1_to_2(struct idx_txn *t, struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct idx_segment s;
    int rc, op = MDB_FIRST;

    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_SEGMENTS], &cur);
    if (rc)
        return db_err(err, rc, "reading segments");
    while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
        char vol[LAY_ID_MAX + 1];
        op = MDB_NEXT;
        rc = segment_decode(&k, &v, &s, err);
        if (rc == 0)
            rc = chainhead_put(t, s.cam, s.start_us, s.chain, err); /* last one wins */
        path_volume(s.path, vol);
        if (rc == 0)
            rc = volstats_add(t, vol, (int64_t)s.bytes, 1, err);
        if (rc < 0)
            goto out;
    }
    rc = rc == MDB_NOTFOUND ? 0 : db_err(err, rc, "reading segments");
    if (rc == 0)
        rc = meta_put_u64(t, "next_hold", 1, err);
out:
    mdb_cursor_close(cur);
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
        return db_err(err, rc, "reading segments");
    while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
        op = MDB_NEXT;
        rc = segment_decode(&k, &v, &s, err);
        if (rc == 0)
            rc = cb(ctx, &s);
        if (rc)
            goto out;
    }
    rc = rc == MDB_NOTFOUND ? 0 : db_err(err, rc, "reading segments");
out:
    mdb_cursor_close(cur);
    return rc;
}

int idx_fragments_get(struct idx_txn *t, uint32_t cam, int64_t start_us,
                      struct lay_seg_frag **out, size_t *n, struct cv_err *err)
{
    uint8_t key[12];
    MDB_val v;
    struct cv_rd r;
    struct lay_seg_frag *f = NULL;
    uint64_t count, end = 0;
    int rc;

    *out = NULL;
    *n = 0;
    seg_key(key, cam, start_us);
    rc = get(t, DB_FRAGMENTS, key, 12, &v);
    if (rc == MDB_NOTFOUND)
        return CV_ENOENT;
    if (rc)
        return db_err(err, rc, "reading fragment table");
    cv_rd_init(&r, v.mv_data, v.mv_size);
    if (cv_rd_u8(&r) != 1)
        return cv_errf(err, CV_ECORRUPT, "index: fragment table of unknown version");
    count = cv_rd_varint(&r);
    if (r.bad || count > v.mv_size)
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

    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_GAPS], &cur);
    if (rc)
        return db_err(err, rc, "reading gaps");
    seg_key(key, g->cam, g->start_us);
    k.mv_size = 12;
    k.mv_data = key;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
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
    rc = put(t, DB_TOMBSTONES, key, 12, &b, err, "writing tombstone");
    if (rc == 0) {
        cv_buf_reset(&b);
        cv_buf_str16(&b, ts.seg.path);
        rc = put(t, DB_DELETING, key, 12, &b, err, "queueing file deletion");
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
        return db_err(err, rc, "deleting segment record");
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
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t key[12];
    int rc;

    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_TOMBSTONES], &cur);
    if (rc)
        return db_err(err, rc, "reading tombstones");
    seg_key(key, cam, INT64_MIN);
    k.mv_size = 12;
    k.mv_data = key;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct idx_tombstone ts;
        struct cv_rd r;
        size_t seglen;
        MDB_val sv;
        if (k.mv_size != 12 || cv_get_be32(k.mv_data) != cam)
            break;
        /* The segment record is a prefix; decode it from a copy bounded by its own fields. */
        sv = v;
        rc = segment_decode(&k, &sv, &ts.seg, err);
        if (rc < 0)
            goto out;
        if (ts.seg.start_us >= to_us)
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
        if (r.bad || v.mv_size < seglen) {
            rc = cv_errf(err, CV_ECORRUPT, "index: tombstone record is corrupt");
            goto out;
        }
        if (ts.seg.end_us <= from_us)
            continue;
        rc = cb(ctx, &ts);
        if (rc)
            goto out;
    }
    rc = rc == MDB_NOTFOUND || rc == 0 ? 0 : db_err(err, rc, "reading tombstones");
out:
    mdb_cursor_close(cur);
    return rc;
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
        return db_err(err, rc, "reading deletions");
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
        return db_err(err, rc, "reading deletions");
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
    return rc && rc != MDB_NOTFOUND ? db_err(err, rc, "forgetting a deletion") : 0;
}

/* ---- volumes ---- */

static void volstats_read(struct idx_txn *t, struct idx_volume *v)
{
    MDB_val val;

    v->used_bytes = v->segments = 0;
    if (get(t, DB_VOLSTATS, v->name, strlen(v->name), &val) == 0 && val.mv_size == 16) {
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
    rc = put(t, DB_VOLUMES, v->name, strlen(v->name), &b, err, "writing volume");
    cv_buf_release(&b);
    return rc == 0 ? bump_config_gen(t, err) : rc;
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
    rc = get(t, DB_VOLUMES, name, strlen(name), &v);
    if (rc == MDB_NOTFOUND) {
        if (strcmp(name, LAY_DEFAULT_VOLUME) != 0)
            return cv_errf(err, CV_ENOENT, "unknown volume '%s'", name);
        volstats_read(t, out); /* the default volume exists without a record */
        return 0;
    }
    if (rc)
        return db_err(err, rc, "reading volume");
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

    rc = list_db(t, DB_VOLUMES, sizeof(*arr), volume_item, (void **)&arr, &cnt, err);
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
    rc = put(t, DB_HOLDS, key, 8, &b, err, "writing hold");
    cv_buf_release(&b);
    /* A hold stored under a given id (fsck copying holds) must not be reused by hold_add. */
    if (rc == 0 && meta_get_u64(t, "next_hold", &next) != 0)
        next = 1;
    if (rc == 0 && h->id >= next)
        rc = meta_put_u64(t, "next_hold", h->id + 1, err);
    return rc;
}

int idx_hold_add(struct idx_txn *t, struct idx_hold *h, struct cv_err *err)
{
    uint64_t next = 1;
    int rc = meta_get_u64(t, "next_hold", &next);

    if (rc && rc != MDB_NOTFOUND)
        return db_err(err, rc, "next_hold");
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
        return db_err(err, rc, "reading hold");
    return hold_decode(&k, &v, out, err);
}

static int hold_item(const MDB_val *k, const MDB_val *v, void *item, struct cv_err *err)
{
    return hold_decode(k, v, item, err);
}

int idx_hold_list(struct idx_txn *t, struct idx_hold **out, size_t *n, struct cv_err *err)
{
    return list_db(t, DB_HOLDS, sizeof(**out), hold_item, (void **)out, n, err);
}

bool idx_hold_covers(const struct idx_hold *h, const char *camera, int64_t from_us, int64_t to_us,
                     int64_t now_us)
{
    if (h->released_us)
        return false;
    if (h->until_us && h->until_us <= now_us)
        return false;
    if (h->to_us <= from_us || h->from_us >= to_us)
        return false;
    for (uint32_t i = 0; i < h->ncameras; i++)
        if (strcmp(h->cameras[i], camera) == 0)
            return true;
    return false;
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

    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_SEGMENTS], &cur);
    if (rc)
        return db_err(err, rc, "reading segments");
    /* The last segment starting at or before the instant. */
    seg_key(key, cam, at_us);
    k.mv_size = 12;
    k.mv_data = key;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
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
        return db_err(err, rc, "reading segments");
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
    rc = put(t, DB_CHECKPOINTS, key, 8, &b, err, "writing checkpoint");
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
        return db_err(err, rc, "reading checkpoints");
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return CV_ENOENT;
    if (rc)
        return db_err(err, rc, "reading checkpoints");
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

/* ---- schema 3: generic record stores (users, sessions, requests, cases, jobs, audit) ---- */

/*
 * Schema 2 had none of these stores; idx_open has created them empty. Nothing else changes, so
 * the upgrade only records the new version (the caller writes it).
 */
static int migrate_2_to_3(struct idx_txn *t, struct cv_err *err)
{
    (void)t;
    (void)err;
    return 0;
}

static const char *const store_names[IDX_STORE_COUNT] = {"users", "sessions", "requests",
                                                         "cases", "jobs",     "audit"};

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
    return rc ? db_err(err, rc, store_names[s]) : 0;
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

int idx_rec_get(struct idx_txn *t, enum idx_store s, const void *key, size_t klen,
                struct cv_buf *out, struct cv_err *err)
{
    MDB_val k = {klen, (void *)key}, v;
    int rc = store_check(s, klen, err);

    if (rc < 0)
        return rc;
    rc = mdb_get(t->txn, t->idx->dbi[DB_USERS + s], &k, &v);
    if (rc == MDB_NOTFOUND)
        return cv_errf(err, CV_ENOENT, "index: %s: no such record", store_names[s]);
    if (rc)
        return db_err(err, rc, store_names[s]);
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
    return rc ? db_err(err, rc, store_names[s]) : 0;
}

int idx_rec_iter(struct idx_txn *t, enum idx_store s, const void *from, size_t flen, bool reverse,
                 idx_rec_cb cb, void *ctx, struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k = {flen, (void *)from}, v;
    int rc, op;

    if ((unsigned)s >= IDX_STORE_COUNT)
        return cv_errf(err, CV_EINVAL, "index: unknown record store %d", (int)s);
    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_USERS + s], &cur);
    if (rc)
        return db_err(err, rc, store_names[s]);
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
    return rc == MDB_NOTFOUND ? 0 : db_err(err, rc, store_names[s]);
}

int idx_rec_last(struct idx_txn *t, enum idx_store s, struct cv_buf *key, struct cv_buf *val,
                 struct cv_err *err)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc;

    if ((unsigned)s >= IDX_STORE_COUNT)
        return cv_errf(err, CV_EINVAL, "index: unknown record store %d", (int)s);
    rc = mdb_cursor_open(t->txn, t->idx->dbi[DB_USERS + s], &cur);
    if (rc)
        return db_err(err, rc, store_names[s]);
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
        return db_err(err, rc, store_names[s]);
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
    rc = mdb_stat(t->txn, t->idx->dbi[DB_USERS + s], &st);
    if (rc)
        return db_err(err, rc, store_names[s]);
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
    rc = meta_get_u64(t, key, &v);
    if (rc == MDB_NOTFOUND)
        v = 0;
    else if (rc)
        return db_err(err, rc, key);
    v++;
    rc = meta_put_u64(t, key, v, err);
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
        if (s == IDX_STORE_COUNT) {
            k.mv_size = sizeof(prefix) - 1;
            k.mv_data = (void *)prefix;
            op = MDB_SET_RANGE;
        }
        rc = mdb_cursor_open(from->txn, from->idx->dbi[db], &cur);
        if (rc)
            return db_err(err, rc, db_names[db]);
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
        rc = rc == MDB_NOTFOUND || rc == 0 ? 0 : db_err(err, rc, db_names[db]);
    }
    return rc;
}
