/*
 * idx_env.c: the index environment: open and close, transactions, the meta database, schema
 * creation and upgrades, and the helpers the other idx_*.c files share (indexer/idx_int.h).
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
#include "indexer/idx_int.h"
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/banned.h"

const char *const idx_db_names[DB_COUNT] = {
    "meta",       "cameras",   "segments", "fragments", "gaps",    "status",  "pending",
    "tombstones", "chainhead", "deleting", "holds",     "volumes", "volstats", "checkpoints",
    "users",      "sessions",  "requests", "cases",     "jobs",    "audit",
    "areas",     "reports",    "alerts",    "photos"};

int idx_db_err(struct cv_err *err, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL)
        return cv_errf(err, CV_ENOSPC, "index: %s: the index map is full (%zu GiB)", what,
                       IDX_MAPSIZE >> 30);
    return cv_errf(err, CV_EDB, "index: %s: %s", what, mdb_strerror(rc));
}

int idx_put(struct idx_txn *t, int db, const void *k, size_t klen, const struct cv_buf *v,
            struct cv_err *err, const char *what)
{
    MDB_val key = {klen, (void *)k}, val;
    int rc;

    if (!cv_buf_ok(v))
        return cv_errf(err, CV_ELIMIT, "index: %s: record too large", what);
    val.mv_size = v->len;
    val.mv_data = v->data;
    rc = mdb_put(t->txn, t->idx->dbi[db], &key, &val, 0);
    return rc ? idx_db_err(err, rc, what) : 0;
}

int idx_get(struct idx_txn *t, int db, const void *k, size_t klen, MDB_val *val)
{
    MDB_val key = {klen, (void *)k};
    return mdb_get(t->txn, t->idx->dbi[db], &key, val);
}

int idx_get_rd(struct idx_txn *t, int db, const void *k, size_t klen, struct cv_rd *r,
               const char *what, struct cv_err *err)
{
    MDB_val v;
    int rc = idx_get(t, db, k, klen, &v);

    if (rc == MDB_NOTFOUND)
        return CV_ENOENT;
    if (rc)
        return idx_db_err(err, rc, what);
    cv_rd_init(r, v.mv_data, v.mv_size);
    return 0;
}

int idx_meta_get_u64(struct idx_txn *t, const char *name, uint64_t *out)
{
    MDB_val v;
    int rc = idx_get(t, DB_META, name, strlen(name), &v);

    if (rc)
        return rc;
    if (v.mv_size != 8)
        return MDB_CORRUPTED;
    *out = cv_get_be64(v.mv_data);
    return 0;
}

int idx_meta_put_u64(struct idx_txn *t, const char *name, uint64_t value,
                     struct cv_err *err)
{
    struct cv_buf b;
    int rc;

    cv_buf_init(&b, 8);
    cv_buf_be64(&b, value);
    rc = idx_put(t, DB_META, name, strlen(name), &b, err, name);
    cv_buf_release(&b);
    return rc;
}

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
    rc = idx_meta_get_u64(t, "schema", &version);
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
        rc = idx_put(t, DB_META, "site_id", 7, &b, err, "site_id");
        cv_buf_release(&b);
        if (rc == 0)
            rc = idx_meta_put_u64(t, "schema", IDX_SCHEMA_VERSION, err);
        if (rc == 0)
            rc = idx_meta_put_u64(t, "config_gen", 1, err);
        if (rc == 0)
            rc = idx_meta_put_u64(t, "next_camnum", 1, err);
        if (rc == 0)
            rc = idx_meta_put_u64(t, "next_hold", 1, err);
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
            rc = idx_migrate_1_to_2(t, err);
            if (rc == 0)
                version = 2;
        }
        if (rc == 0 && version == 2) {
            rc = migrate_2_to_3(t, err);
            if (rc == 0)
                version = 3;
        }
        if (rc == 0)
            rc = idx_meta_put_u64(t, "schema", version, err);
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
        return idx_db_err(err, rc, "reading schema version");
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
        rc = idx_db_err(err, rc, "creating environment");
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
        int r = mdb_dbi_open(t->txn, idx_db_names[i], flags & IDX_RDONLY ? 0 : MDB_CREATE,
                             &idx->dbi[i]);
        if (r == MDB_NOTFOUND && (flags & IDX_RDONLY) && i >= DB_FIRST_OPTIONAL) {
            idx->absent[i] = true;
            continue;
        }
        if (r == MDB_NOTFOUND && (flags & IDX_RDONLY)) {
            idx_abort(t);
            rc = cv_errf(err, CV_ESTATE, "index in '%s' has an older schema: start the recorder "
                         "or run 'camvault init' once to upgrade it", root);
            goto fail;
        }
        if (r) {
            idx_abort(t);
            rc = idx_db_err(err, r, idx_db_names[i]);
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
        idx_meta_get_u64(t, "schema", &version);
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
        return idx_db_err(err, rc, write ? "beginning a write" : "beginning a read");
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
    return rc ? idx_db_err(err, rc, "commit") : 0;
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
    int rc = idx_get(t, DB_META, "site_id", 7, &v);

    if (rc)
        return idx_db_err(err, rc, "site_id");
    if (v.mv_size != 32)
        return cv_errf(err, CV_ECORRUPT, "index: site_id is corrupt");
    memcpy(out, v.mv_data, 32);
    out[32] = 0;
    return 0;
}

uint64_t idx_config_gen(struct idx_txn *t)
{
    uint64_t gen = 0;

    idx_meta_get_u64(t, "config_gen", &gen);
    return gen;
}

int idx_bump_config_gen(struct idx_txn *t, struct cv_err *err)
{
    return idx_meta_put_u64(t, "config_gen", idx_config_gen(t) + 1, err);
}

int idx_list_db(struct idx_txn *t, int db, size_t elem, idx_decode_fn decode, void **out,
                size_t *n, struct cv_err *err)
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
        return idx_db_err(err, rc, idx_db_names[db]);
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
    rc = rc == MDB_NOTFOUND ? 0 : idx_db_err(err, rc, idx_db_names[db]);
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

/* ---- schema 2 to 3 ---- */

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
