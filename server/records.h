/*
 * records.h: the one way the server's workflow records (footage requests, cases, export jobs)
 * are kept in the index's record stores (indexer/idx.h, idx_rec_*).
 *
 * Each kind of record is described once by a struct srv_rec_kind (its store, its name for
 * messages, the size of its decoded struct, a bound on its encoding and the two codec
 * functions); storing, loading, listing and iterating are then the same code for every kind, so
 * a size check or an error message is never right for one kind and wrong for another.
 *
 * Threads: as idx_txn (one thread per transaction). Records are copied out of the index.
 */
#ifndef SRV_RECORDS_H
#define SRV_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "indexer/idx.h"

/*
 * A kind's fields as a table, in stored order: one encoder and one decoder serve every kind
 * described this way (srv_rec_kind.fields). Strings are cv_buf_str16 (be16 length, bytes),
 * integers big-endian; a string array is a count byte and then the rows.
 */
enum srv_field_kind {
    SRV_FIELD_END,
    SRV_FIELD_STR,  /* char[size] */
    SRV_FIELD_U8,   /* uint8_t, at most max (a larger stored value is malformed) */
    SRV_FIELD_BE64, /* int64_t or uint64_t */
    SRV_FIELD_STRS, /* char[max][size] rows, their count a uint32_t at count_off */
    SRV_FIELD_STR_NEWER, /* char[size], added at the end later: older records end before it */
};
struct srv_field {
    enum srv_field_kind kind;
    size_t off, size, count_off;
    unsigned max;
};
#define SRV_F_MEMBER(T, m) (((T *)0)->m)
#define SRV_F_STR(T, m) {SRV_FIELD_STR, offsetof(T, m), sizeof(SRV_F_MEMBER(T, m)), 0, 0}
#define SRV_F_U8(T, m, most) {SRV_FIELD_U8, offsetof(T, m), 1, 0, (most)}
#define SRV_F_BE64(T, m) {SRV_FIELD_BE64, offsetof(T, m), 8, 0, 0}
#define SRV_F_STRS(T, m, n)                                                                     \
    {SRV_FIELD_STRS, offsetof(T, m), sizeof(SRV_F_MEMBER(T, m)[0]), offsetof(T, n),              \
     sizeof(SRV_F_MEMBER(T, m)) / sizeof(SRV_F_MEMBER(T, m)[0])}
#define SRV_F_STR_NEWER(T, m) {SRV_FIELD_STR_NEWER, offsetof(T, m), sizeof(SRV_F_MEMBER(T, m)), 0, 0}
#define SRV_F_END {SRV_FIELD_END, 0, 0, 0, 0}

/* A record is one version byte (1) and the fields the kind's codec writes; the id is a string
 * in the decoded struct at id_off, and the store's key. */
struct srv_rec_kind {
    enum idx_store store;
    const char *what;    /* "footage request": "unknown footage request 'R-9'" */
    size_t size;         /* of the decoded struct */
    size_t max_bytes;    /* of one encoded record */
    size_t id_max;       /* ids are 1 .. id_max - 1 bytes */
    size_t id_off;       /* offsetof the id (char[id_max]) in the struct */
    const char *counter; /* srv_rec_add_numbered: the idx counter ("next_case") */
    const char *prefix;  /* and the id's prefix before the number ("C-") */
    /* The fields after the version byte: a table (fields, ended by SRV_F_END), or, for a
     * layout a table cannot say, a codec: decode reads them into a zeroed struct and returns
     * false when a value is out of range (r->bad, a read past the end, is checked after). */
    const struct srv_field *fields;
    void (*encode)(struct cv_buf *b, const void *rec);
    bool (*decode)(struct cv_rd *r, void *out);
};

/* The members of a struct srv_rec_kind that every store sets, for records of type T whose id is
 * its member `id`; the initializer adds counter, prefix and fields or the codec. */
#define SRV_REC_KIND(store_, what_, T, max_bytes_, id_max_)                                      \
    .store = (store_), .what = (what_), .size = sizeof(T), .max_bytes = (max_bytes_),            \
    .id_max = (id_max_), .id_off = offsetof(T, id)

/*
 * The typed put and get of a kind, which its header declares and documents:
 *   int PREFIX_put(struct idx_txn *t, const T *rec, struct cv_err *err): srv_rec_store, replacing;
 *   int PREFIX_get(struct idx_txn *t, const char *id, T *out, struct cv_err *err): srv_rec_load.
 * `SRV_REC_PUT_GET(srv_job, struct srv_job, kind)` in jobs.c defines srv_job_put and srv_job_get
 * over its static kind.
 */
#define SRV_REC_PUT_GET(prefix, T, kind_)                                                         \
    int prefix##_put(struct idx_txn *t, const T *rec, struct cv_err *err)                        \
    {                                                                                            \
        return srv_rec_store(t, &(kind_), rec, false, err);                                      \
    }                                                                                            \
    int prefix##_get(struct idx_txn *t, const char *id, T *out, struct cv_err *err)              \
    {                                                                                            \
        return srv_rec_load(t, &(kind_), id, out, err);                                          \
    }

/*
 * The typed functions of a numbered kind (ids "<counter prefix><n>"), which its header declares
 * and documents: SRV_REC_PUT_GET's put and get, and
 *   int PREFIX_add(struct idx_txn *t, T *rec, struct cv_err *err): srv_rec_add_numbered;
 *   int PREFIX_list(struct idx_txn *t, T **out, size_t *n, struct cv_err *err): every record, by
 *   its member created_us in `order` (srv_rec_list_by_created).
 */
#define SRV_REC_NUMBERED(prefix, T, kind_, order)                                                 \
    int prefix##_add(struct idx_txn *t, T *rec, struct cv_err *err)                              \
    {                                                                                            \
        return srv_rec_add_numbered(t, &(kind_), rec, err);                                      \
    }                                                                                            \
    SRV_REC_PUT_GET(prefix, T, kind_)                                                            \
    int prefix##_list(struct idx_txn *t, T **out, size_t *n, struct cv_err *err)                 \
    {                                                                                            \
        void *v = NULL;                                                                          \
        size_t off = offsetof(T, created_us);                                                    \
        int rc = srv_rec_list_by_created(t, &(kind_), off, (order), &v, n, err);                 \
        *out = v;                                                                                \
        return rc;                                                                               \
    }

/* Encode rec and store it under its id: add (CV_EEXIST if the id is taken) or put (replace).
 * CV_ELIMIT "<what> record too large" past max_bytes. */
int srv_rec_store(struct idx_txn *t, const struct srv_rec_kind *k, const void *rec, bool add,
                  struct cv_err *err);

/* Give rec the next id of the kind's counter ("<prefix><n>", written into rec) and add it. */
int srv_rec_add_numbered(struct idx_txn *t, const struct srv_rec_kind *k, void *rec,
                         struct cv_err *err);

/* Load record `id` into out (k->size bytes). CV_ENOENT "unknown <what> '<id>'" when there is
 * none (also for ids that cannot exist: empty or too long); CV_ECORRUPT "<what> record '<id>'
 * is malformed" (or "has an unknown version") when its bytes do not decode. */
int srv_rec_load(struct idx_txn *t, const struct srv_rec_kind *k, const char *id, void *out,
                 struct cv_err *err);

/* Every record of the kind, decoded into a malloc'd array (*out, *n; free() it), sorted with
 * cmp when it is not NULL, else in the kind's order. */
int srv_rec_list(struct idx_txn *t, const struct srv_rec_kind *k, void **out, size_t *n,
                 int (*cmp)(const void *, const void *), struct cv_err *err);

/* srv_rec_list sorted by each record's creation time, the int64 at created_off. */
enum srv_rec_order { SRV_REC_OLDEST_FIRST, SRV_REC_NEWEST_FIRST };
int srv_rec_list_by_created(struct idx_txn *t, const struct srv_rec_kind *k, size_t created_off,
                            enum srv_rec_order order, void **out, size_t *n, struct cv_err *err);

/* Call cb(ctx, record) for every record in id order, the record decoded into one scratch copy
 * valid during the call; a nonzero return stops the iteration and is returned. */
int srv_rec_iter(struct idx_txn *t, const struct srv_rec_kind *k,
                 int (*cb)(void *ctx, const void *rec), void *ctx, struct cv_err *err);

#endif
