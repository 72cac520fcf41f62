/*
 * records.c: workflow records in the index's record stores (contract in records.h).
 */
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "server/records.h"
#include "common/banned.h"

int srv_rec_store(struct idx_txn *t, const struct srv_rec_kind *k, const char *id,
                  const void *rec, bool add, struct cv_err *err)
{
    struct cv_buf b;
    int rc;

    cv_buf_init(&b, k->max_bytes);
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
        rc = k->decode(b.data, b.len, out, err);
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
    w->rc = w->k->decode(val, vlen, w->v + w->n * w->k->size, w->err);
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

static int iter_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct walk *w = ctx;

    (void)key;
    (void)klen;
    w->rc = w->k->decode(val, vlen, w->v, w->err);
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

void srv_json_time_or_null(struct cv_buf *b, const char *key, int64_t us)
{
    if (us == 0) {
        cv_json_key(b, key);
        cv_buf_printf(b, "null");
    } else {
        cv_json_time(b, key, us);
    }
}
