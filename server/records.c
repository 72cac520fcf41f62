/*
 * records.c: workflow records in the index's record stores (contract in records.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "server/records.h"
#include "common/banned.h"

#define VERSION 1

static const char *id_of(const struct srv_rec_kind *k, const void *rec)
{
    return (const char *)rec + k->id_off;
}

static void fields_encode(struct cv_buf *b, const struct srv_field *f, const void *rec)
{
    const char *p = rec;
    uint64_t v;

    for (; f->kind != SRV_FIELD_END; f++) {
        switch (f->kind) {
        case SRV_FIELD_STR:
        case SRV_FIELD_STR_NEWER:
            cv_buf_str16(b, p + f->off);
            break;
        case SRV_FIELD_U8:
            cv_buf_u8(b, (uint8_t)p[f->off]);
            break;
        case SRV_FIELD_BE64:
            memcpy(&v, p + f->off, 8);
            cv_buf_be64(b, v);
            break;
        case SRV_FIELD_STRS: {
            uint32_t n;
            memcpy(&n, p + f->count_off, sizeof(n));
            cv_buf_u8(b, (uint8_t)n);
            for (uint32_t i = 0; i < n; i++)
                cv_buf_str16(b, p + f->off + i * f->size);
            break;
        }
        case SRV_FIELD_END:
            break;
        }
    }
}

static bool fields_decode(struct cv_rd *r, const struct srv_field *f, void *rec)
{
    char *p = rec;
    uint64_t v;

    for (; f->kind != SRV_FIELD_END && !r->bad; f++) {
        switch (f->kind) {
        case SRV_FIELD_STR:
            cv_rd_str16(r, p + f->off, f->size);
            break;
        case SRV_FIELD_STR_NEWER:
            if (r->off < r->len)
                cv_rd_str16(r, p + f->off, f->size);
            break;
        case SRV_FIELD_U8:
            p[f->off] = (char)cv_rd_u8(r);
            if ((uint8_t)p[f->off] > f->max)
                return false;
            break;
        case SRV_FIELD_BE64:
            v = cv_rd_be64(r);
            memcpy(p + f->off, &v, 8);
            break;
        case SRV_FIELD_STRS: {
            uint32_t n = cv_rd_u8(r);
            if (n > f->max)
                return false;
            memcpy(p + f->count_off, &n, sizeof(n));
            for (uint32_t i = 0; i < n && !r->bad; i++)
                cv_rd_str16(r, p + f->off + i * f->size, f->size);
            break;
        }
        case SRV_FIELD_END:
            break;
        }
    }
    return true;
}

/* Decode one stored record into out (k->size bytes). */
static int decode(const struct srv_rec_kind *k, const void *p, size_t len, void *out,
                  struct cv_err *err)
{
    struct cv_rd r;
    bool ok;

    memset(out, 0, k->size);
    cv_rd_init(&r, p, len);
    if (cv_rd_u8(&r) != VERSION)
        return cv_errf(err, CV_ECORRUPT, "%s record has an unknown version", k->what);
    ok = k->fields ? fields_decode(&r, k->fields, out) : k->decode(&r, out);
    ((char *)out)[k->id_off + k->id_max - 1] = 0;
    if (!ok || r.bad)
        return cv_errf(err, CV_ECORRUPT, "%s record '%s' is malformed", k->what, id_of(k, out));
    return 0;
}

int srv_rec_store(struct idx_txn *t, const struct srv_rec_kind *k, const void *rec, bool add,
                  struct cv_err *err)
{
    const char *id = id_of(k, rec);
    struct cv_buf b;
    int rc;

    cv_buf_init(&b, k->max_bytes);
    cv_buf_u8(&b, VERSION);
    if (k->fields)
        fields_encode(&b, k->fields, rec);
    else
        k->encode(&b, rec);
    if (!cv_buf_ok(&b))
        rc = cv_errf(err, CV_ELIMIT, "%s record too large", k->what);
    else if (add)
        rc = idx_rec_add(t, k->store, id, strlen(id), b.data, b.len, err);
    else
        rc = idx_rec_put(t, k->store, id, strlen(id), b.data, b.len, err);
    cv_buf_release(&b);
    return rc;
}

int srv_rec_add_numbered(struct idx_txn *t, const struct srv_rec_kind *k, void *rec,
                         struct cv_err *err)
{
    uint64_t n;
    int rc = idx_counter_next(t, k->counter, &n, err);

    if (rc < 0)
        return rc;
    snprintf((char *)rec + k->id_off, k->id_max, "%s%llu", k->prefix, (unsigned long long)n);
    return srv_rec_store(t, k, rec, true, err);
}

int srv_rec_load(struct idx_txn *t, const struct srv_rec_kind *k, const char *id, void *out,
                 struct cv_err *err)
{
    struct cv_buf b;
    size_t n = strlen(id);
    int rc;

    if (n == 0 || n >= k->id_max)
        return cv_errf(err, CV_ENOENT, "unknown %s '%.40s'", k->what, id);
    cv_buf_init(&b, k->max_bytes);
    rc = idx_rec_get(t, k->store, id, n, &b, err);
    if (rc == CV_ENOENT)
        rc = cv_errf(err, CV_ENOENT, "unknown %s '%s'", k->what, id);
    if (rc == 0)
        rc = decode(k, b.data, b.len, out, err);
    cv_buf_release(&b);
    return rc;
}

struct walk {
    const struct srv_rec_kind *k;
    int (*cb)(void *ctx, const void *rec);
    void *ctx;
    char *v; /* list: the array; iter: one scratch record */
    size_t n, cap;
    int rc;
    struct cv_err *err;
};

static int list_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct walk *w = ctx;

    (void)key;
    (void)klen;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        char *v = realloc(w->v, cap * w->k->size);
        if (!v)
            return w->rc = cv_errf(w->err, CV_ENOMEM, "out of memory");
        w->v = v;
        w->cap = cap;
    }
    w->rc = decode(w->k, val, vlen, w->v + w->n * w->k->size, w->err);
    if (w->rc < 0)
        return w->rc;
    w->n++;
    return 0;
}

int srv_rec_list(struct idx_txn *t, const struct srv_rec_kind *k, void **out, size_t *n,
                 int (*cmp)(const void *, const void *), struct cv_err *err)
{
    struct walk w = {.k = k, .err = err};
    int rc = idx_rec_iter(t, k->store, NULL, 0, false, list_one, &w, err);

    if (rc == 0 && w.rc < 0)
        rc = w.rc;
    if (rc < 0) {
        free(w.v);
        return rc;
    }
    if (cmp && w.n > 1)
        qsort(w.v, w.n, k->size, cmp);
    *out = w.v;
    *n = w.n;
    return 0;
}

struct created_order {
    size_t off;
    enum srv_rec_order order;
};

static int by_created(const void *a, const void *b, void *arg)
{
    const struct created_order *o = arg;
    int64_t x, y;

    memcpy(&x, (const char *)a + o->off, sizeof(x));
    memcpy(&y, (const char *)b + o->off, sizeof(y));
    if (o->order == SRV_REC_NEWEST_FIRST)
        return x > y ? -1 : x < y;
    return x < y ? -1 : x > y;
}

int srv_rec_list_by_created(struct idx_txn *t, const struct srv_rec_kind *k, size_t created_off,
                            enum srv_rec_order order, void **out, size_t *n, struct cv_err *err)
{
    struct created_order o = {created_off, order};
    int rc = srv_rec_list(t, k, out, n, NULL, err);

    if (rc == 0 && *n > 1)
        qsort_r(*out, *n, k->size, by_created, &o);
    return rc;
}

static int iter_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct walk *w = ctx;

    (void)key;
    (void)klen;
    w->rc = decode(w->k, val, vlen, w->v, w->err);
    if (w->rc < 0)
        return w->rc;
    return w->cb(w->ctx, w->v);
}

int srv_rec_iter(struct idx_txn *t, const struct srv_rec_kind *k,
                 int (*cb)(void *ctx, const void *rec), void *ctx, struct cv_err *err)
{
    struct walk w = {.k = k, .cb = cb, .ctx = ctx, .err = err, .v = calloc(1, k->size)};
    int rc;

    if (!w.v)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    rc = idx_rec_iter(t, k->store, NULL, 0, false, iter_one, &w, err);
    free(w.v);
    return rc;
}
