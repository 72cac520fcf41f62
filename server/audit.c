/*
 * audit.c: the hash-chained audit log of audit.h over the index's `audit` store.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/cvtime.h"
#include "common/json.h"
#include "server/audit.h"
#include "common/banned.h"

#define REC_VERSION 1

static void sha256_chain(const uint8_t prev[32], const char *line, size_t len, uint8_t out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int n = 32;

    /* EVP on a fixed algorithm cannot fail but for memory; a zero hash then fails verify. */
    memset(out, 0, 32);
    if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, prev, 32) &&
        EVP_DigestUpdate(c, line, len))
        EVP_DigestFinal_ex(c, out, &n);
    EVP_MD_CTX_free(c);
}

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
    char detail[SRV_AUDIT_DETAIL_MAX + 1], ts[48];

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
    cv_buf_u8(b, '}');
}

int srv_audit_append(struct idx_txn *t, const struct srv_audit_entry *e, uint64_t *seq_out,
                     struct cv_err *err)
{
    struct cv_buf key, val, line, rec;
    uint8_t prev[32] = {0}, hash[32], k[8];
    uint64_t seq = 1;
    struct cv_err why = {""};
    int rc;

    cv_buf_init(&key, 16);
    cv_buf_init(&val, SRV_AUDIT_LINE_MAX + 64);
    cv_buf_init(&line, SRV_AUDIT_LINE_MAX);
    cv_buf_init(&rec, SRV_AUDIT_LINE_MAX + 64);
    rc = idx_rec_last(t, IDX_AUDIT, &key, &val, &why);
    if (rc == 0) {
        if (key.len != 8 || val.len < 33 || val.data[0] != REC_VERSION) {
            rc = cv_errf(err, CV_ECORRUPT, "audit: the newest record is malformed (run "
                         "'camvault audit --verify')");
            goto out;
        }
        seq = cv_get_be64(key.data) + 1;
        memcpy(prev, val.data + 1, 32);
    } else if (rc != CV_ENOENT) {
        rc = cv_errf(err, rc, "audit: %s", why.msg);
        goto out;
    }
    build_line(&line, seq, e, e->time_us ? e->time_us : cv_now_us());
    if (!cv_buf_ok(&line)) {
        rc = cv_errf(err, CV_ELIMIT, "audit: record too long");
        goto out;
    }
    sha256_chain(prev, (const char *)line.data, line.len, hash);
    cv_buf_u8(&rec, REC_VERSION);
    cv_buf_put(&rec, hash, 32);
    cv_buf_put(&rec, line.data, line.len);
    cv_put_be64(k, seq);
    rc = cv_buf_ok(&rec) ? idx_rec_add(t, IDX_AUDIT, k, 8, rec.data, rec.len, err)
                         : cv_errf(err, CV_ELIMIT, "audit: record too long");
    if (rc == 0 && seq_out)
        *seq_out = seq;
out:
    cv_buf_release(&key);
    cv_buf_release(&val);
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

/* Decode one stored record (key, value) into *r, parsing its line into *doc (caller frees). */
static int decode(const void *k, size_t klen, const void *v, size_t vlen,
                  struct srv_audit_rec *r, struct cv_json **doc, char **linebuf, struct cv_err *err)
{
    static const struct cv_json_limits lim = {.max_bytes = SRV_AUDIT_LINE_MAX,
                                              .max_string = SRV_AUDIT_LINE_MAX,
                                              .max_items = 16,
                                              .max_depth = 2};
    const uint8_t *p = v;
    const struct cv_jv *root;
    int64_t seq, tus;
    const char **fields[] = {&r->user, &r->role, &r->action, &r->target, &r->case_id, &r->detail};
    const char *names[] = {"user", "role", "action", "target", "case", "detail"};

    *doc = NULL;
    memset(r, 0, sizeof(*r));
    if (klen != 8)
        return cv_errf(err, CV_ECORRUPT, "audit: a key of %zu bytes", klen);
    r->seq = cv_get_be64(k);
    if (vlen < 34 || p[0] != REC_VERSION)
        return cv_errf(err, CV_ECORRUPT, "audit record %llu: malformed value",
                       (unsigned long long)r->seq);
    memcpy(r->hash, p + 1, 32);
    *linebuf = malloc(vlen - 33 + 1);
    if (!*linebuf)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    memcpy(*linebuf, p + 33, vlen - 33);
    (*linebuf)[vlen - 33] = 0;
    r->line = *linebuf;
    if (strlen(r->line) != vlen - 33 || cv_json_parse(r->line, vlen - 33, &lim, doc, err) < 0)
        return cv_errf(err, CV_ECORRUPT, "audit record %llu: the line is not valid JSON",
                       (unsigned long long)r->seq);
    root = cv_json_root(*doc);
    if (cv_json_get_i64(root, "seq", true, 1, INT64_MAX, &seq, err) != 0 ||
        cv_json_get_i64(root, "time_us", true, INT64_MIN, INT64_MAX, &tus, err) != 0)
        return cv_errf(err, CV_ECORRUPT, "audit record %llu: the line lacks seq or time_us",
                       (unsigned long long)r->seq);
    if ((uint64_t)seq != r->seq)
        return cv_errf(err, CV_ECORRUPT, "audit record %llu: the line says it is record %lld",
                       (unsigned long long)r->seq, (long long)seq);
    r->time_us = tus;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (cv_json_get_str(root, names[i], true, fields[i], err) != 0)
            return cv_errf(err, CV_ECORRUPT, "audit record %llu: the line lacks '%s'",
                           (unsigned long long)r->seq, names[i]);
    return 0;
}

struct iter_ctx {
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
    struct srv_audit_rec r;
    struct cv_json *doc = NULL;
    char *linebuf = NULL;
    int rc = decode(k, klen, v, vlen, &r, &doc, &linebuf, c->err), stop = 0;

    if (rc < 0) {
        c->rc = rc;
        stop = 1;
    } else {
        memcpy(r.prev, c->prev, 32);
        memcpy(c->prev, r.hash, 32);
        if ((!c->f->case_id || strcmp(c->f->case_id, r.case_id) == 0) &&
            r.time_us >= c->f->since_us && r.seq > c->f->after_seq) {
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
    cv_json_free(doc);
    free(linebuf);
    return stop;
}

int srv_audit_iter(struct idx_txn *t, const struct srv_audit_filter *f, srv_audit_cb cb,
                   void *ctx, struct cv_err *err)
{
    struct srv_audit_filter none = {0};
    struct iter_ctx c = {.f = f ? f : &none, .cb = cb, .ctx = ctx, .err = err};
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

struct verify_ctx {
    uint64_t expect;
    uint8_t prev[32];
    uint64_t *first_bad;
    struct cv_err *err;
    int rc;
};

static int verify_one(void *vctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct verify_ctx *c = vctx;
    struct srv_audit_rec r;
    struct cv_json *doc = NULL;
    char *linebuf = NULL;
    uint8_t h[32];
    int rc = decode(k, klen, v, vlen, &r, &doc, &linebuf, c->err);

    if (rc < 0) {
        *c->first_bad = klen == 8 ? cv_get_be64(k) : c->expect;
    } else if (r.seq != c->expect) {
        *c->first_bad = c->expect;
        rc = cv_errf(c->err, CV_ECORRUPT, "audit record %llu is missing (next stored: %llu)",
                     (unsigned long long)c->expect, (unsigned long long)r.seq);
    } else {
        sha256_chain(c->prev, r.line, strlen(r.line), h);
        if (memcmp(h, r.hash, 32) != 0) {
            *c->first_bad = r.seq;
            rc = cv_errf(c->err, CV_ECORRUPT, "audit record %llu: its hash does not match its "
                         "line and the previous record's hash", (unsigned long long)r.seq);
        }
        memcpy(c->prev, r.hash, 32);
    }
    if (rc < 0)
        c->rc = CV_ECORRUPT;
    else
        c->expect++;
    cv_json_free(doc);
    free(linebuf);
    return rc < 0 ? 1 : 0;
}

int srv_audit_verify(struct idx_txn *t, uint64_t *records, uint64_t *first_bad,
                     struct cv_err *err)
{
    struct verify_ctx c = {.expect = 1, .first_bad = first_bad, .err = err};
    int rc;

    *records = 0;
    *first_bad = 0;
    rc = idx_rec_iter(t, IDX_AUDIT, NULL, 0, false, verify_one, &c, err);
    *records = c.expect - 1;
    if (rc < 0)
        return rc;
    return c.rc;
}

int srv_audit_check_head(struct idx_txn *t, uint64_t cp_seq, uint64_t seq,
                         const uint8_t hash[32], struct cv_err *err)
{
    struct cv_buf key, val;
    struct cv_err why = {""};
    uint64_t last = 0;
    uint8_t k[8];
    int rc;

    if (seq == 0)
        return 0;
    cv_buf_init(&key, 16);
    cv_buf_init(&val, SRV_AUDIT_LINE_MAX + 64);
    rc = idx_rec_last(t, IDX_AUDIT, &key, &val, &why);
    if (rc == 0 && key.len == 8)
        last = cv_get_be64(key.data);
    else if (rc < 0 && rc != CV_ENOENT) {
        rc = cv_errf(err, rc, "audit: %s", why.msg);
        goto out;
    }
    if (last < seq) {
        rc = cv_errf(err, CV_ECORRUPT, "audit log ends at record %llu but checkpoint %llu signed "
                     "record %llu: records were deleted from its end",
                     (unsigned long long)last, (unsigned long long)cp_seq,
                     (unsigned long long)seq);
        goto out;
    }
    cv_put_be64(k, seq);
    rc = idx_rec_get(t, IDX_AUDIT, k, 8, &val, &why);
    if (rc == CV_ENOENT) {
        rc = cv_errf(err, CV_ECORRUPT, "audit record %llu is missing but checkpoint %llu signed "
                     "it", (unsigned long long)seq, (unsigned long long)cp_seq);
    } else if (rc < 0) {
        rc = cv_errf(err, rc, "audit: %s", why.msg);
    } else if (val.len < 33 || memcmp(val.data + 1, hash, 32) != 0) {
        rc = cv_errf(err, CV_ECORRUPT, "audit record %llu: hash differs from the one checkpoint "
                     "%llu signed (the log was rewritten at or below record %llu)",
                     (unsigned long long)seq, (unsigned long long)cp_seq,
                     (unsigned long long)seq);
    }
out:
    cv_buf_release(&key);
    cv_buf_release(&val);
    return rc;
}

int srv_audit_verify_signed(struct idx_txn *t, const char *root, uint64_t *records,
                            uint64_t *first_bad, struct exp_cp_audit *cp, struct cv_err *err)
{
    int rc = srv_audit_verify(t, records, first_bad, err);

    memset(cp, 0, sizeof(*cp));
    if (rc < 0)
        return rc;
    rc = exp_checkpoint_audit_last(t, root, cp, err);
    if (rc == CV_ENOENT)
        return 0;
    if (rc < 0 || !cp->has_audit)
        return rc;
    return srv_audit_check_head(t, cp->cp_seq, cp->seq, cp->hash, err);
}

struct case_ctx {
    struct cv_buf *out;
};

static int case_one(void *vctx, const struct srv_audit_rec *r)
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

void srv_audit_json(struct cv_buf *b, const struct srv_audit_rec *r)
{
    char hash[65];

    cv_hex(r->hash, 32, hash);
    cv_buf_printf(b, "{\"seq\":%llu,", (unsigned long long)r->seq);
    cv_json_time(b, "time", r->time_us);
    cv_buf_printf(b, ",\"user\":");
    cv_json_str(b, r->user);
    cv_buf_printf(b, ",\"role\":");
    cv_json_str(b, r->role);
    cv_buf_printf(b, ",\"action\":");
    cv_json_str(b, r->action);
    cv_buf_printf(b, ",\"target\":");
    cv_json_str(b, r->target);
    cv_buf_printf(b, ",\"case\":");
    cv_json_str(b, r->case_id);
    cv_buf_printf(b, ",\"detail\":");
    cv_json_str(b, r->detail);
    cv_buf_printf(b, ",\"hash\":\"%s\"}", hash);
}
