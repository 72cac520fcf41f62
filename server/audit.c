/*
 * audit.c: the hash-chained audit log of audit.h over the index's `audit` store.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "common/json.h"
#include "integrity/chain.h"
#include "server/areas.h"
#include "server/audit.h"
#include "common/banned.h"

/* Copy s (NULL: "") into out[cap], marking a cut with "...". */
static void bounded(char *out, size_t cap, const char *s, bool mark)
{
    if (cv_strlcpy(out, s ? s : "", cap) < 0 && mark && cap > 4)
        memcpy(out + cap - 4, "...", 4);
}

static void build_line(struct cv_buf *b, uint64_t seq, const struct srv_audit_entry *e,
                       int64_t now)
{
    char user[SRV_AUDIT_USER_MAX + 1], role[SRV_AUDIT_USER_MAX + 1], act[SRV_AUDIT_ACTION_MAX + 1];
    char target[SRV_AUDIT_TARGET_MAX + 1], cs[SRV_AUDIT_CASE_MAX + 1];
    char detail[SRV_AUDIT_DETAIL_MAX + 1], ts[48], area[SRV_AUDIT_USER_MAX + 1];

    bounded(user, sizeof(user), e->user, false);
    bounded(role, sizeof(role), e->role, false);
    bounded(act, sizeof(act), e->action, false);
    bounded(target, sizeof(target), e->target, true);
    bounded(cs, sizeof(cs), e->case_id, false);
    bounded(detail, sizeof(detail), e->detail, true);
    cv_time_format_utc(now, ts, sizeof(ts), 6);
    cv_buf_printf(b, "{\"seq\":%llu,\"time\":\"%s\",\"time_us\":%lld,\"user\":",
                  (unsigned long long)seq, ts, (long long)now);
    cv_json_str(b, user);
    cv_buf_printf(b, ",\"role\":");
    cv_json_str(b, role);
    cv_buf_printf(b, ",\"action\":");
    cv_json_str(b, act);
    cv_buf_printf(b, ",\"target\":");
    cv_json_str(b, target);
    cv_buf_printf(b, ",\"case\":");
    cv_json_str(b, cs);
    cv_buf_printf(b, ",\"detail\":");
    cv_json_str(b, detail);
    if (e->area && *e->area) {
        bounded(area, sizeof(area), e->area, false);
        cv_buf_printf(b, ",\"area\":");
        cv_json_str(b, area);
    }
    cv_buf_u8(b, '}');
}

int srv_audit_append(struct idx_txn *t, const struct srv_audit_entry *e, uint64_t *seq_out,
                     struct cv_err *err)
{
    struct cv_buf line, rec;
    uint8_t prev[32], hash[32], k[8];
    uint64_t seq = 0;
    int rc;

    cv_buf_init(&line, SRV_AUDIT_LINE_MAX);
    cv_buf_init(&rec, SRV_AUDIT_LINE_MAX + 64);
    rc = itg_audit_head(t, &seq, prev, err); /* 0 and zeros for an empty log */
    if (rc < 0)
        goto out;
    seq++;
    build_line(&line, seq, e, e->time_us ? e->time_us : cv_now_us());
    if (!cv_buf_ok(&line)) {
        rc = cv_errf(err, CV_ELIMIT, "audit: record too long");
        goto out;
    }
    rc = itg_audit_link(prev, line.data, line.len, hash);
    if (rc < 0) {
        rc = cv_errf(err, rc, "audit: cannot compute the record's hash");
        goto out;
    }
    cv_buf_u8(&rec, ITG_AUDIT_REC_VERSION);
    cv_buf_put(&rec, hash, 32);
    cv_buf_put(&rec, line.data, line.len);
    cv_put_be64(k, seq);
    rc = cv_buf_ok(&rec) ? idx_rec_add(t, IDX_AUDIT, k, 8, rec.data, rec.len, err)
                         : cv_errf(err, CV_ELIMIT, "audit: record too long");
    if (rc == 0 && seq_out)
        *seq_out = seq;
out:
    cv_buf_release(&line);
    cv_buf_release(&rec);
    return rc;
}

int srv_audit_log(struct idx *idx, const struct srv_audit_entry *e, uint64_t *seq,
                  struct cv_err *err)
{
    struct idx_txn *t = NULL;
    int rc = idx_begin(idx, true, &t, err);

    if (rc == 0)
        rc = srv_audit_append(t, e, seq, err);
    if (rc == 0)
        return idx_commit(t, err);
    idx_abort(t);
    return rc;
}

/* ---- group commit ---- */

/* One caller's record while it waits. Lives on the caller's stack; the committing thread fills
 * rc, seq and err, and sets done under the writer's mutex, after which it no longer touches it. */
struct pending {
    const struct srv_audit_entry *e;
    struct pending *next;
    bool done;
    int rc;
    uint64_t seq;
    struct cv_err err;
};

struct srv_audit_writer {
    struct idx *idx;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* signalled when a transaction ends */
    struct pending *head, *tail;
    bool committing; /* a caller is writing a batch (outside the mutex) */
    struct srv_audit_writer_stats st;
};

int srv_audit_writer_open(struct srv_audit_writer **out, struct idx *idx, struct cv_err *err)
{
    struct srv_audit_writer *w = calloc(1, sizeof(*w));

    *out = NULL;
    if (!w)
        return cv_errf(err, CV_ENOMEM, "audit: out of memory");
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        free(w);
        return cv_errf(err, CV_ENOMEM, "audit: cannot create a mutex");
    }
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return cv_errf(err, CV_ENOMEM, "audit: cannot create a condition variable");
    }
    w->idx = idx;
    *out = w;
    return 0;
}

void srv_audit_writer_close(struct srv_audit_writer *w)
{
    if (!w)
        return;
    assert(!w->head && !w->committing);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/*
 * Store the records of `batch` (a NULL-terminated list) in one write transaction, filling each
 * one's rc, seq and err; returns how many were retried alone. Runs without the writer's mutex.
 */
static uint64_t write_batch(struct idx *idx, struct pending *batch)
{
    struct idx_txn *t = NULL;
    struct cv_err why = {""};
    struct pending *p;
    uint64_t retried = 0;
    int rc = idx_begin(idx, true, &t, &why);

    for (p = batch; rc == 0 && p; p = p->next)
        rc = srv_audit_append(t, p->e, &p->seq, &why);
    if (rc == 0)
        rc = idx_commit(t, &why); /* syncs: from here every record of the batch is durable */
    else
        idx_abort(t);
    if (rc == 0 || !batch->next) {
        for (p = batch; p; p = p->next) {
            p->rc = rc;
            if (rc < 0)
                cv_errf(&p->err, rc, "%s", why.msg);
        }
        return 0;
    }
    /* Nothing of the shared transaction was stored. Whose record failed, or whether the commit
     * would fail for anyone, is not known: each record alone, so each caller gets its own
     * outcome. */
    for (p = batch; p; p = p->next, retried++)
        p->rc = srv_audit_log(idx, p->e, &p->seq, &p->err);
    return retried;
}

/* Take up to SRV_AUDIT_BATCH_MAX queued records, store them, wake their callers. Called with
 * the mutex held and no transaction under way; returns with it held. */
static void commit_queued(struct srv_audit_writer *w)
{
    struct pending *batch = w->head, *last = w->head, *p, *next;
    uint64_t n = 1, retried;

    while (last->next && n < SRV_AUDIT_BATCH_MAX) {
        last = last->next;
        n++;
    }
    w->head = last->next;
    if (!w->head)
        w->tail = NULL;
    last->next = NULL;
    w->st.queued -= n;
    w->st.writing = n;
    w->committing = true;
    pthread_mutex_unlock(&w->mu);

    retried = write_batch(w->idx, batch);

    pthread_mutex_lock(&w->mu);
    w->committing = false;
    w->st.writing = 0;
    w->st.retried += retried;
    w->st.transactions += !retried && batch->rc == 0;
    for (p = batch; p; p = next) {
        next = p->next; /* p's owner may return as soon as the mutex is released */
        w->st.records += p->rc == 0;
        w->st.transactions += retried && p->rc == 0;
        p->done = true;
    }
    pthread_cond_broadcast(&w->cv);
}

int srv_audit_writer_log(struct srv_audit_writer *w, const struct srv_audit_entry *e, uint64_t *seq,
                         struct cv_err *err)
{
    struct pending me = {.e = e};

    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = &me;
    else
        w->head = &me;
    w->tail = &me;
    w->st.queued++;
    /* Until a transaction has stored this record: wait while another caller writes one, else
     * write the queued records (this one among them, or older ones first). */
    while (!me.done) {
        if (w->committing)
            pthread_cond_wait(&w->cv, &w->mu);
        else
            commit_queued(w);
    }
    pthread_mutex_unlock(&w->mu);
    if (me.rc < 0)
        return cv_errf(err, me.rc, "%s", me.err.msg);
    if (seq)
        *seq = me.seq;
    return 0;
}

void srv_audit_writer_stats(struct srv_audit_writer *w, struct srv_audit_writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->st;
    pthread_mutex_unlock(&w->mu);
}

struct iter_ctx {
    struct idx_txn *t;
    const struct srv_audit_filter *f;
    srv_audit_cb cb;
    void *ctx;
    uint64_t given;
    uint8_t prev[32];
    int rc;
    struct cv_err *err;
};

static int iter_one(void *vctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct iter_ctx *c = vctx;
    struct itg_audit_rec r;
    int rc = itg_audit_decode(k, klen, v, vlen, &r, c->err), stop = 0;

    if (rc < 0) {
        c->rc = rc;
        stop = 1;
    } else {
        memcpy(r.prev, c->prev, 32);
        memcpy(c->prev, r.hash, 32);
        if ((!c->f->case_id || strcmp(c->f->case_id, r.case_id) == 0) &&
            r.time_us >= c->f->since_us && r.seq > c->f->after_seq &&
            (!c->f->area || !*c->f->area || srv_area_within(c->t, r.area, c->f->area))) {
            rc = c->cb(c->ctx, &r);
            c->given++;
            if (rc) {
                c->rc = rc;
                stop = 1;
            } else if (c->f->limit && c->given >= c->f->limit) {
                stop = 1;
            }
        }
    }
    itg_audit_rec_release(&r);
    return stop;
}

int srv_audit_iter(struct idx_txn *t, const struct srv_audit_filter *f, srv_audit_cb cb,
                   void *ctx, struct cv_err *err)
{
    struct srv_audit_filter none = {0};
    struct iter_ctx c = {.t = t, .f = f ? f : &none, .cb = cb, .ctx = ctx, .err = err};
    uint8_t from[8];
    int rc;

    /* Start at record after_seq itself (skipped by the filter) so that the first record given
     * knows its previous hash. */
    cv_put_be64(from, c.f->after_seq);
    rc = idx_rec_iter(t, IDX_AUDIT, c.f->after_seq ? from : NULL, c.f->after_seq ? 8 : 0, false,
                      iter_one, &c, err);
    if (rc < 0)
        return rc;
    return c.rc;
}

struct json_list {
    struct cv_buf *b;
    size_t n;
    uint64_t last;
};

static int json_one(void *vctx, const struct itg_audit_rec *r)
{
    struct json_list *l = vctx;

    if (l->n++)
        cv_buf_u8(l->b, ',');
    srv_audit_json(l->b, r);
    l->last = r->seq;
    return cv_buf_ok(l->b) ? 0 : 1;
}

int srv_audit_json_list(struct idx_txn *t, const struct srv_audit_filter *f, struct cv_buf *b,
                        size_t *n, uint64_t *last, struct cv_err *err)
{
    struct json_list l = {b, 0, *last};
    int rc = srv_audit_iter(t, f, json_one, &l, err);

    *n = l.n;
    *last = l.last;
    return rc < 0 ? rc : 0;
}

struct case_ctx {
    struct cv_buf *out;
};

static int case_one(void *vctx, const struct itg_audit_rec *r)
{
    struct case_ctx *c = vctx;
    char prev[65], hash[65];

    cv_hex(r->prev, 32, prev);
    cv_hex(r->hash, 32, hash);
    cv_buf_printf(c->out, "%llu %s %s %s\n", (unsigned long long)r->seq, prev, hash, r->line);
    return 0;
}

int srv_audit_case_lines(struct idx_txn *t, const char *case_id, struct cv_buf *out,
                         struct cv_err *err)
{
    struct srv_audit_filter f = {.case_id = case_id};
    struct case_ctx c = {out};
    int rc;

    if (!case_id || !*case_id)
        return cv_errf(err, CV_EINVAL, "audit: no case given");
    rc = srv_audit_iter(t, &f, case_one, &c, err);
    if (rc == 0 && !cv_buf_ok(out))
        rc = cv_errf(err, CV_ELIMIT, "audit: the lines of case '%s' do not fit", case_id);
    return rc;
}

void srv_audit_json(struct cv_buf *b, const struct itg_audit_rec *r)
{
    char hash[65];

    cv_hex(r->hash, 32, hash);
    cv_buf_printf(b, "{\"seq\":%llu,", (unsigned long long)r->seq);
    cv_json_time(b, "time", r->time_us);
    cv_json_add_str(b, "user", r->user, false);
    cv_json_add_str(b, "role", r->role, false);
    cv_json_add_str(b, "action", r->action, false);
    cv_json_add_str(b, "target", r->target, false);
    cv_json_add_str(b, "case", r->case_id, false);
    cv_json_add_str(b, "detail", r->detail, false);
    cv_buf_printf(b, ",\"hash\":\"%s\"", hash);
    cv_json_add_str(b, "area", r->area, true);
    cv_buf_u8(b, '}');
}
