/*
 * idx_int.h: what the idx_*.c files share and nothing outside indexer/idx_*.c may include: the
 * database numbering, the handle structs and the helpers of idx_env.c. The thread and lifetime
 * rules of idx.h hold here too: every MDB_val these helpers return dies with the transaction.
 */
#ifndef IDX_IDX_INT_H
#define IDX_IDX_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "indexer/idx.h"
#include "common/buf.h"
#include "common/error.h"

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
    DB_AREAS, /* from here on added within schema 3: a read-write open creates them; a read-only
               * open of an index no newer camvault has opened yet finds them absent (empty) */
    DB_REPORTS,
    DB_ALERTS,
    DB_PHOTOS,
    DB_COUNT
};
#define DB_FIRST_OPTIONAL DB_AREAS

struct idx {
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
    bool absent[DB_COUNT]; /* read-only open: an optional database not there (reads as empty) */
    char root[PATH_MAX];
};

struct idx_txn {
    struct idx *idx;
    MDB_txn *txn;
    bool write;
};

/* The LMDB name of each database, indexed by DB_*. */
extern const char *const idx_db_names[DB_COUNT];

/* Fill err from LMDB code rc (MDB_MAP_FULL is CV_ENOSPC) for action `what`; returns the code. */
int idx_db_err(struct cv_err *err, int rc, const char *what);
/* Store v under k in database db; a v past its limit is CV_ELIMIT. 0 or a CV_E* code. */
int idx_put(struct idx_txn *t, int db, const void *k, size_t klen, const struct cv_buf *v,
            struct cv_err *err, const char *what);
/* Look k up in db: 0 (val points into the map until the transaction ends) or an MDB_* code. */
int idx_get(struct idx_txn *t, int db, const void *k, size_t klen, MDB_val *val);
/*
 * Look k up in db and start *r on its value (valid until the transaction ends): 0; CV_ENOENT
 * (no message) when there is none; else the LMDB error as "<what>: ..." (idx_db_err).
 */
int idx_get_rd(struct idx_txn *t, int db, const void *k, size_t klen, struct cv_rd *r,
               const char *what, struct cv_err *err);
/* Read the 8-byte meta value `name`: 0, MDB_NOTFOUND, or MDB_CORRUPTED if not 8 bytes. */
int idx_meta_get_u64(struct idx_txn *t, const char *name, uint64_t *out);
/* Write the 8-byte meta value `name`: 0 or a CV_E* code. */
int idx_meta_put_u64(struct idx_txn *t, const char *name, uint64_t value, struct cv_err *err);
/* Advance meta config_gen so that running recorders reload their configuration. */
int idx_bump_config_gen(struct idx_txn *t, struct cv_err *err);

/* Decode one record (key k, value v) into *item: 0 or a CV_E* code. */
typedef int (*idx_decode_fn)(const MDB_val *k, const MDB_val *v, void *item, struct cv_err *err);
/*
 * Read every record of database `db` into a malloc'd array of `elem`-byte items, decoded by
 * `decode` (which returns 0 or a CV_E* code). *out is freed and NULL on error.
 */
int idx_list_db(struct idx_txn *t, int db, size_t elem, idx_decode_fn decode, void **out,
                size_t *n, struct cv_err *err);

/* Schema 1 to 2 (idx_segments.c): fill chain heads and volume statistics from the segments. */
int idx_migrate_1_to_2(struct idx_txn *t, struct cv_err *err);

#endif
