/*
 * test_audit.c: the hash-chained audit log (server/audit.h) and the index's generic record
 * stores under it (indexer/idx.h, schema 3), in a fresh data root. The chain is recomputed here
 * with OpenSSL directly, and a tampered, removed or reordered record must fail verification at
 * exactly that record. The group-commit writer is driven by many threads at once, and with the
 * write lock held by the test so that callers queue up in a known way.
 */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cvtime.h"
#include "integrity/audit_chain.h"
#include "integrity/checkpoint.h"
#include "integrity/keys.h"
#include "indexer/idx.h"
#include "server/audit.h"
#include "storage-layout/layout.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

/* Append `n` records; every third belongs to case "K-1". Times are T0 + i seconds. */
static void fill(struct fx_env *e, int n)
{
    for (int i = 1; i <= n; i++) {
        char target[32];
        struct cv_err err = {""};
        uint64_t seq = 0;
        struct srv_audit_entry en = {.time_us = FX_START_US + i * CV_US_PER_S,
                                     .user = "alice",
                                     .role = "officer",
                                     .action = "view-timeline",
                                     .target = target,
                                     .case_id = i % 3 == 0 ? "K-1" : "",
                                     .detail = "quote \" and newline \n inside"};
        snprintf(target, sizeof(target), "camera c%d", i);
        CHECK_OK(srv_audit_log(e->idx, &en, &seq, &err), &err);
        CHECK_EQ_U64(seq, (uint64_t)i);
    }
}

struct collect {
    uint64_t seqs[64];
    size_t n;
    uint8_t prev_ok;
    uint8_t last[32];
};

static int collect(void *ctx, const struct itg_audit_rec *r)
{
    struct collect *c = ctx;
    uint8_t h[32];
    struct cv_buf b;

    /* hash = SHA-256(prev || line), recomputed independently. */
    cv_buf_init(&b, 1 << 16);
    cv_buf_put(&b, r->prev, 32);
    cv_buf_put(&b, r->line, strlen(r->line));
    fx_sha256(b.data, b.len, h);
    cv_buf_release(&b);
    if (memcmp(h, r->hash, 32) != 0)
        c->prev_ok = 0;
    if (c->n < 64)
        c->seqs[c->n++] = r->seq;
    return 0;
}

void test_audit_chain(void)
{
    struct fx_env e;
    struct collect c = {.prev_ok = 1};
    struct srv_audit_filter f = {0};
    uint64_t n = 0, bad = 0;

    if (fx_env_open(&e) < 0)
        return;
    fill(&e, 10);
    CHECK_OK(idx_begin(e.idx, false, &e.t, &e.err), &e.err);
    CHECK_OK(itg_audit_verify(e.t, &n, &bad, &e.err), &e.err);
    CHECK_EQ_U64(n, 10);
    CHECK_OK(srv_audit_iter(e.t, &f, collect, &c, &e.err), &e.err);
    CHECK_EQ_INT(c.n, 10);
    CHECK(c.prev_ok);
    /* Filters: a case, a time, paging. */
    memset(&c, 0, sizeof(c));
    c.prev_ok = 1;
    f = (struct srv_audit_filter){.case_id = "K-1"};
    CHECK_OK(srv_audit_iter(e.t, &f, collect, &c, &e.err), &e.err);
    CHECK_EQ_INT(c.n, 3);
    CHECK_EQ_U64(c.seqs[0], 3);
    CHECK_EQ_U64(c.seqs[2], 9);
    CHECK(c.prev_ok); /* prev is right also for records given after skipped ones */
    memset(&c, 0, sizeof(c));
    c.prev_ok = 1;
    f = (struct srv_audit_filter){.since_us = FX_START_US + 8 * CV_US_PER_S};
    CHECK_OK(srv_audit_iter(e.t, &f, collect, &c, &e.err), &e.err);
    CHECK_EQ_INT(c.n, 3);
    memset(&c, 0, sizeof(c));
    c.prev_ok = 1;
    f = (struct srv_audit_filter){.after_seq = 4, .limit = 2};
    CHECK_OK(srv_audit_iter(e.t, &f, collect, &c, &e.err), &e.err);
    CHECK_EQ_INT(c.n, 2);
    CHECK_EQ_U64(c.seqs[0], 5);
    CHECK_EQ_U64(c.seqs[1], 6);
    CHECK(c.prev_ok);
    idx_abort(e.t);
    fx_env_close(&e);
}

void test_audit_case_lines(void)
{
    struct fx_env e;
    struct cv_buf out;
    const char *p;
    int lines = 0;

    if (fx_env_open(&e) < 0)
        return;
    fill(&e, 6);
    cv_buf_init(&out, 1 << 20);
    CHECK_OK(idx_begin(e.idx, false, &e.t, &e.err), &e.err);
    CHECK_OK(srv_audit_case_lines(e.t, "K-1", &out, &e.err), &e.err);
    CHECK_EQ_INT(srv_audit_case_lines(e.t, "", &out, &e.err), CV_EINVAL);
    idx_abort(e.t);
    /* "<seq> <prev hex> <hash hex> <line>\n", each line checkable by hand. */
    for (p = cv_buf_str(&out); *p; lines++) {
        const char *nl = strchr(p, '\n');
        unsigned long long seq = 0;
        char prev[65], hash[65];
        uint8_t pb[32], hb[32], h[32];
        int used = 0;
        struct cv_buf b;
        if (!nl || sscanf(p, "%llu %64s %64s %n", &seq, prev, hash, &used) != 3) {
            unit_fail(__FILE__, __LINE__, "malformed custody line: %s", p);
            break;
        }
        CHECK(seq == 3 || seq == 6);
        CHECK(cv_unhex(prev, pb, 32) == 0 && cv_unhex(hash, hb, 32) == 0);
        cv_buf_init(&b, 1 << 16);
        cv_buf_put(&b, pb, 32);
        cv_buf_put(&b, p + used, (size_t)(nl - p - used));
        fx_sha256(b.data, b.len, h);
        cv_buf_release(&b);
        CHECK_EQ_MEM(h, hb, 32);
        CHECK(strstr(p, "\"case\":\"K-1\"") != NULL);
        p = nl + 1;
    }
    CHECK_EQ_INT(lines, 2);
    cv_buf_release(&out);
    fx_env_close(&e);
}

/* Replace the stored value of record `seq` with `line` (keeping its stored hash) or delete it. */
static void tamper(struct fx_env *e, uint64_t seq, const char *from, const char *to)
{
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct cv_buf v, nv;
    uint8_t k[8];
    char *hit;

    cv_put_be64(k, seq);
    cv_buf_init(&v, 1 << 16);
    cv_buf_init(&nv, 1 << 16);
    CHECK_OK(idx_begin(e->idx, true, &t, &err), &err);
    if (!from) {
        CHECK_OK(idx_rec_del(t, IDX_AUDIT, k, 8, &err), &err);
    } else {
        CHECK_OK(idx_rec_get(t, IDX_AUDIT, k, 8, &v, &err), &err);
        hit = strstr((char *)v.data + 33, from);
        CHECK(hit != NULL);
        if (hit) {
            cv_buf_put(&nv, v.data, (size_t)(hit - (char *)v.data));
            cv_buf_put(&nv, to, strlen(to));
            cv_buf_put(&nv, hit + strlen(from), strlen(hit + strlen(from)));
            CHECK_OK(idx_rec_put(t, IDX_AUDIT, k, 8, nv.data, nv.len, &err), &err);
        }
    }
    CHECK_OK(idx_commit(t, &err), &err);
    cv_buf_release(&v);
    cv_buf_release(&nv);
}

void test_audit_tampered(void)
{
    static const struct {
        uint64_t seq;
        const char *from, *to;
        uint64_t first_bad;
        const char *why;
    } cases[] = {
        {4, "alice", "mallory", 4, "hash does not match"},
        {7, "\"seq\":7", "\"seq\":8", 7, "says it is record 8"},
        {5, NULL, NULL, 5, "record 5 is missing"},
        {2, "\"time_us\"", "\"tim_us\"", 2, "lacks seq or time_us"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fx_env e;
        uint64_t n = 0, bad = 0;
        if (fx_env_open(&e) < 0)
            return;
        fill(&e, 8);
        tamper(&e, cases[i].seq, cases[i].from, cases[i].to);
        CHECK_OK(idx_begin(e.idx, false, &e.t, &e.err), &e.err);
        CHECK_EQ_INT(itg_audit_verify(e.t, &n, &bad, &e.err), CV_ECORRUPT);
        CHECK_EQ_U64(bad, cases[i].first_bad);
        CHECK_CONTAINS(e.err.msg, cases[i].why);
        idx_abort(e.t);
        fx_env_close(&e);
    }
}

static int count_cb(void *ctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    (void)k;
    (void)v;
    (void)vlen;
    ((size_t *)ctx)[0]++;
    ((size_t *)ctx)[1] = klen;
    return 0;
}

void test_idx_records(void)
{
    struct fx_env e;
    struct cv_buf v, k2;
    uint64_t id = 0, cnt = 0;
    size_t seen[2] = {0, 0};

    if (fx_env_open(&e) < 0)
        return;
    cv_buf_init(&v, 1024);
    cv_buf_init(&k2, 1024);
    CHECK_OK(idx_begin(e.idx, true, &e.t, &e.err), &e.err);
    CHECK_OK(idx_rec_add(e.t, IDX_USERS, "bob", 3, "v1", 2, &e.err), &e.err);
    CHECK_EQ_INT(idx_rec_add(e.t, IDX_USERS, "bob", 3, "v2", 2, &e.err), CV_EEXIST);
    CHECK_OK(idx_rec_put(e.t, IDX_USERS, "bob", 3, "v3", 2, &e.err), &e.err);
    CHECK_OK(idx_rec_put(e.t, IDX_USERS, "amy", 3, "v4", 2, &e.err), &e.err);
    CHECK_OK(idx_rec_put(e.t, IDX_CASES, "amy", 3, "other store", 11, &e.err), &e.err);
    CHECK_EQ_INT(idx_rec_put(e.t, IDX_USERS, "", 0, "x", 1, &e.err), CV_EINVAL);
    CHECK_OK(idx_counter_next(e.t, "cases", &id, &e.err), &e.err);
    CHECK_EQ_U64(id, 1);
    CHECK_OK(idx_counter_next(e.t, "cases", &id, &e.err), &e.err);
    CHECK_EQ_U64(id, 2);
    CHECK_OK(idx_commit(e.t, &e.err), &e.err);

    CHECK_OK(idx_begin(e.idx, false, &e.t, &e.err), &e.err);
    CHECK_OK(idx_rec_get(e.t, IDX_USERS, "bob", 3, &v, &e.err), &e.err);
    CHECK_EQ_INT(v.len, 2);
    CHECK_EQ_MEM(v.data, "v3", 2);
    CHECK_EQ_INT(idx_rec_get(e.t, IDX_USERS, "eve", 3, &v, &e.err), CV_ENOENT);
    CHECK_OK(idx_rec_last(e.t, IDX_USERS, &k2, &v, &e.err), &e.err);
    CHECK_EQ_MEM(k2.data, "bob", 3);
    CHECK_EQ_INT(idx_rec_last(e.t, IDX_JOBS, &k2, &v, &e.err), CV_ENOENT);
    CHECK_OK(idx_rec_count(e.t, IDX_USERS, &cnt, &e.err), &e.err);
    CHECK_EQ_U64(cnt, 2);
    CHECK_OK(idx_rec_iter(e.t, IDX_USERS, "b", 1, false, count_cb, seen, &e.err), &e.err);
    CHECK_EQ_INT(seen[0], 1); /* only "bob" is >= "b" */
    seen[0] = 0;
    CHECK_OK(idx_rec_iter(e.t, IDX_USERS, "b", 1, true, count_cb, seen, &e.err), &e.err);
    CHECK_EQ_INT(seen[0], 1); /* only "amy" is <= "b" */
    CHECK_EQ_INT(idx_counter_next(e.t, "x", &id, &e.err), CV_EINVAL); /* read transaction */
    idx_abort(e.t);

    CHECK_OK(idx_begin(e.idx, true, &e.t, &e.err), &e.err);
    CHECK_OK(idx_rec_del(e.t, IDX_USERS, "bob", 3, &e.err), &e.err);
    CHECK_EQ_INT(idx_rec_del(e.t, IDX_USERS, "bob", 3, &e.err), CV_ENOENT);
    CHECK_OK(idx_commit(e.t, &e.err), &e.err);
    /* Survives closing and reopening. */
    idx_close(e.idx);
    CHECK_OK(idx_open(&e.idx, e.root, 0, &e.err), &e.err);
    CHECK_OK(idx_begin(e.idx, false, &e.t, &e.err), &e.err);
    CHECK_OK(idx_rec_get(e.t, IDX_CASES, "amy", 3, &v, &e.err), &e.err);
    CHECK_EQ_INT(v.len, 11);
    CHECK_EQ_INT(idx_rec_get(e.t, IDX_USERS, "bob", 3, &v, &e.err), CV_ENOENT);
    idx_abort(e.t);
    cv_buf_release(&v);
    cv_buf_release(&k2);
    fx_env_close(&e);
}

/* ---- group commit (srv_audit_writer) ---- */

#define GC_THREADS 16
#define GC_EACH 100

struct gc_thread {
    pthread_t th;
    struct srv_audit_writer *w;
    struct idx *idx;
    int id, n;
    uint64_t seqs[GC_EACH];
    /* What went wrong, found in this thread and checked in the main one (CHECK is not meant
     * for several threads at once). */
    int failed, not_visible, out_of_order;
    struct cv_err err;
};

/* Append n records through the writer; after each, a fresh read transaction must already see
 * it: the writer returns only once the record is committed. */
static void *gc_appender(void *arg)
{
    struct gc_thread *g = arg;

    for (int i = 0; i < g->n; i++) {
        char user[16], target[32];
        struct srv_audit_entry en = {
            .user = user, .role = "officer", .action = "view-timeline", .target = target};
        struct idx_txn *t = NULL;
        struct cv_buf v;
        uint8_t k[8];
        snprintf(user, sizeof(user), "t%d", g->id);
        snprintf(target, sizeof(target), "camera c%d record %d", g->id, i);
        if (srv_audit_writer_log(g->w, &en, &g->seqs[i], &g->err) != 0) {
            g->failed++;
            continue;
        }
        if (i > 0 && g->seqs[i] <= g->seqs[i - 1])
            g->out_of_order++;
        cv_put_be64(k, g->seqs[i]);
        cv_buf_init(&v, 1 << 16);
        if (idx_begin(g->idx, false, &t, &g->err) != 0 ||
            idx_rec_get(t, IDX_AUDIT, k, 8, &v, &g->err) != 0 || v.len < 33 ||
            !memmem(v.data + 33, v.len - 33, target, strlen(target)))
            g->not_visible++;
        idx_abort(t);
        cv_buf_release(&v);
    }
    return NULL;
}

/* Start appenders g[from .. to - 1] (ids from .. to - 1), n records each, on w and idx. */
static void gc_start(struct gc_thread *g, int from, int to, int n, struct srv_audit_writer *w,
                     struct idx *idx)
{
    for (int i = from; i < to; i++) {
        g[i] = (struct gc_thread){.w = w, .idx = idx, .id = i, .n = n};
        CHECK(pthread_create(&g[i].th, NULL, gc_appender, &g[i]) == 0);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Many threads at once: every record stored exactly once, numbered densely, the chain intact,
 * each thread's records in its own order, and each visible as soon as its call returned. */
void test_audit_group_commit(void)
{
    static struct gc_thread g[GC_THREADS];
    static uint64_t all[GC_THREADS * GC_EACH];
    struct fx_env e;
    struct srv_audit_writer *w = NULL;
    struct srv_audit_writer_stats st;
    uint64_t n = 0, bad = 0;
    size_t k = 0;

    if (fx_env_open(&e) < 0)
        return;
    fill(&e, 3); /* records from before the writer: the chain goes on from them */
    CHECK_OK(srv_audit_writer_open(&w, e.idx, &e.err), &e.err);
    gc_start(g, 0, GC_THREADS, GC_EACH, w, e.idx);
    for (int i = 0; i < GC_THREADS; i++) {
        pthread_join(g[i].th, NULL);
        CHECK_MSG(!g[i].failed, "thread %d: %d appends failed: %s", i, g[i].failed, g[i].err.msg);
        CHECK_MSG(!g[i].not_visible, "thread %d: %d records not visible after the call returned", i,
                  g[i].not_visible);
        CHECK_EQ_INT(g[i].out_of_order, 0);
        for (int j = 0; j < GC_EACH; j++)
            all[k++] = g[i].seqs[j];
    }
    /* The sequence numbers given out are exactly 4 .. 3 + all records, each once. */
    qsort(all, k, sizeof(all[0]), cmp_u64);
    for (size_t i = 0; i < k && unit_failures() < 5; i++)
        CHECK_EQ_U64(all[i], 4 + i);
    srv_audit_writer_stats(w, &st);
    CHECK_EQ_U64(st.records, GC_THREADS * GC_EACH);
    CHECK_EQ_U64(st.queued, 0);
    CHECK_EQ_U64(st.retried, 0);
    CHECK(st.transactions >= 1 && st.transactions <= st.records);
    CHECK_OK(idx_begin(e.idx, false, &e.t, &e.err), &e.err);
    CHECK_OK(itg_audit_verify(e.t, &n, &bad, &e.err), &e.err);
    CHECK_EQ_U64(n, 3 + GC_THREADS * GC_EACH);
    idx_abort(e.t);
    srv_audit_writer_close(w);
    fx_env_close(&e);
}

/* Wait until the writer has `queued` records queued and `writing` in a transaction under way
 * (20 s is no time limit on the code: it means something is stuck). */
static void wait_writer(struct srv_audit_writer *w, uint64_t queued, uint64_t writing)
{
    struct srv_audit_writer_stats st;

    for (int i = 0; i < 20000; i++) {
        srv_audit_writer_stats(w, &st);
        if (st.queued == queued && st.writing == writing)
            return;
        usleep(1000);
    }
    unit_fail(__FILE__, __LINE__,
              "%" PRIu64 " records queued and %" PRIu64 " being written, want %" PRIu64
              " and %" PRIu64,
              st.queued, st.writing, queued, writing);
}

#define GB_THREADS 8

/* The test's write transaction e->t holds the database while GB_THREADS appenders of w queue
 * behind it: wait until all but one are queued and one is writing, commit e->t, join them all. */
static void gb_commit_and_join(struct fx_env *e, struct srv_audit_writer *w, struct gc_thread *g)
{
    wait_writer(w, GB_THREADS - 1, 1);
    CHECK_OK(idx_commit(e->t, &e->err), &e->err);
    for (int i = 0; i < GB_THREADS; i++)
        pthread_join(g[i].th, NULL);
}

/*
 * While another writer (here the test, as the command line would from another process) holds
 * the write lock, the first caller takes its own record and waits for the lock; everyone after
 * it queues. When the lock is free, the first commits alone and the other seven share one
 * transaction: 8 records, 2 commits, the test's record first in the chain.
 */
void test_audit_group_commit_batches(void)
{
    static struct gc_thread g[GB_THREADS];
    struct fx_env e;
    struct srv_audit_writer *w = NULL;
    struct srv_audit_writer_stats st;
    struct srv_audit_entry cli = {
        .user = "root", .role = "cli", .action = "camera-add", .target = "c9"};
    uint64_t n = 0, bad = 0, seq = 0;

    if (fx_env_open(&e) < 0)
        return;
    CHECK_OK(srv_audit_writer_open(&w, e.idx, &e.err), &e.err);
    CHECK_OK(idx_begin(e.idx, true, &e.t, &e.err), &e.err);
    CHECK_OK(srv_audit_append(e.t, &cli, &seq, &e.err), &e.err);
    gc_start(g, 0, 1, 1, w, e.idx);
    wait_writer(w, 0, 1); /* taken by its own caller, who now waits for the lock */
    gc_start(g, 1, GB_THREADS, 1, w, e.idx);
    gb_commit_and_join(&e, w, g);
    for (int i = 0; i < GB_THREADS; i++) {
        CHECK_EQ_INT(g[i].failed, 0);
        CHECK_EQ_INT(g[i].not_visible, 0);
    }
    CHECK_EQ_U64(seq, 1);
    CHECK_EQ_U64(g[0].seqs[0], 2);
    srv_audit_writer_stats(w, &st);
    CHECK_EQ_U64(st.records, GB_THREADS);
    CHECK_EQ_U64(st.transactions, 2);
    CHECK_OK(idx_begin(e.idx, false, &e.t, &e.err), &e.err);
    CHECK_OK(itg_audit_verify(e.t, &n, &bad, &e.err), &e.err);
    CHECK_EQ_U64(n, 1 + GB_THREADS);
    idx_abort(e.t);
    srv_audit_writer_close(w);
    fx_env_close(&e);
}

/*
 * A shared transaction that fails stores nothing and each record is retried alone, so each
 * caller gets its own answer: here the newest record is malformed (as if tampered with while
 * the callers waited), so every append fails, every caller is told so, and none hangs.
 */
void test_audit_group_commit_errors(void)
{
    static struct gc_thread g[GB_THREADS];
    struct fx_env e;
    struct srv_audit_writer *w = NULL;
    struct srv_audit_writer_stats st;
    uint8_t k[8];

    if (fx_env_open(&e) < 0)
        return;
    fill(&e, 2);
    CHECK_OK(srv_audit_writer_open(&w, e.idx, &e.err), &e.err);
    CHECK_OK(idx_begin(e.idx, true, &e.t, &e.err), &e.err);
    cv_put_be64(k, 2);
    CHECK_OK(idx_rec_put(e.t, IDX_AUDIT, k, 8, "x", 1, &e.err), &e.err);
    gc_start(g, 0, GB_THREADS, 1, w, e.idx);
    gb_commit_and_join(&e, w, g);
    for (int i = 0; i < GB_THREADS; i++) {
        CHECK_EQ_INT(g[i].failed, 1);
        CHECK_CONTAINS(g[i].err.msg, "newest record is malformed");
    }
    srv_audit_writer_stats(w, &st);
    CHECK_EQ_U64(st.records, 0);
    CHECK_EQ_U64(st.transactions, 0);
    CHECK_EQ_U64(st.retried, GB_THREADS - 1); /* the first caller's batch was its record alone */
    CHECK_EQ_U64(st.queued, 0);
    srv_audit_writer_close(w);
    fx_env_close(&e);
}

/*
 * Issue 11, finding 7: a checkpoint signs the audit head ("audit <seq> <hash>"), so that
 * records deleted from the end of the log, which leave a chain that still verifies, fail
 * itg_audit_check_head against it; a rewrite below the signed record fails too.
 */
void test_audit_signed_head(void)
{
    struct fx_env e;
    struct itg_signer *signer = NULL;
    struct itg_cp_audit cp;
    struct idx_checkpoint last;
    struct cv_buf chain;
    char site[33], hex[65], want[256];
    uint8_t head[32], h5[32];
    uint64_t seq = 0, n = 0, bad = 0, cpseq = 0;
    int created = 0;

    if (fx_env_open(&e) < 0)
        return;
    memset(&last, 0, sizeof(last));
    cv_buf_init(&chain, 1 << 16);
    fill(&e, 6);
    CHECK_OK(idx_begin(e.idx, false, &e.t, &e.err), &e.err);
    CHECK_OK(idx_site_id(e.t, site, &e.err), &e.err);
    CHECK_OK(itg_audit_head(e.t, &seq, head, &e.err), &e.err);
    CHECK_EQ_U64(seq, 6);
    /* the package's chain lines: records 2..4, each link recomputed */
    CHECK_OK(itg_audit_chain(e.t, 2, 4, &chain, &e.err), &e.err);
    CHECK_EQ_INT(cv_buf_ok(&chain), 1);
    idx_abort(e.t);
    CHECK(strncmp((const char *)chain.data, "2 ", 2) == 0 &&
          strstr(cv_buf_str(&chain), "\n4 ") != NULL && !strstr(cv_buf_str(&chain), "\n5 "));
    CHECK_OK(itg_keys_create(e.root, site, &created, &e.err), &e.err);
    CHECK_OK(itg_signer_open(&signer, e.root, &e.err), &e.err);
    CHECK_OK(itg_checkpoint_make(e.idx, e.root, signer, FX_START_US + 60 * CV_US_PER_S, &cpseq,
                                 &e.err), &e.err);
    CHECK_EQ_U64(cpseq, 1);
    CHECK_OK(idx_begin(e.idx, false, &e.t, &e.err), &e.err);
    CHECK_OK(idx_checkpoint_last(e.t, &last, &e.err), &e.err);
    cv_hex(head, 32, hex);
    snprintf(want, sizeof(want), "\naudit 6 %s\n", hex);
    CHECK_CONTAINS(last.text, want);
    CHECK_OK(itg_checkpoint_audit_last(e.t, e.root, &cp, &e.err), &e.err);
    CHECK(cp.has_audit && cp.cp_seq == 1 && cp.seq == 6 && memcmp(cp.hash, head, 32) == 0);
    CHECK_OK(itg_audit_check_head(e.t, cp.cp_seq, cp.seq, cp.hash, &e.err), &e.err);
    idx_abort(e.t);

    /* The last two records deleted: the chain holds, the signed head does not. */
    CHECK_OK(idx_begin(e.idx, true, &e.t, &e.err), &e.err);
    for (uint64_t s = 5; s <= 6; s++) {
        uint8_t k[8];
        cv_put_be64(k, s);
        CHECK_OK(idx_rec_del(e.t, IDX_AUDIT, k, 8, &e.err), &e.err);
    }
    CHECK_OK(itg_audit_verify(e.t, &n, &bad, &e.err), &e.err);
    CHECK_EQ_U64(n, 4);
    CHECK_EQ_INT(itg_audit_check_head(e.t, cp.cp_seq, cp.seq, cp.hash, &e.err), CV_ECORRUPT);
    CHECK_CONTAINS(e.err.msg, "audit log ends at record 4 but checkpoint 1 signed record 6");
    CHECK_EQ_INT(itg_audit_verify_signed(e.t, e.root, &n, &bad, &cp, &e.err), CV_ECORRUPT);
    CHECK(n == 4 && bad == 0 && cp.cp_seq == 1 && cp.seq == 6);
    CHECK_CONTAINS(e.err.msg, "audit log ends at record 4 but checkpoint 1 signed record 6");
    /* A rewritten head (same sequence, other hash) fails too. */
    memcpy(h5, cp.hash, 32);
    h5[0] ^= 1;
    CHECK_EQ_INT(itg_audit_check_head(e.t, 1, 4, h5, &e.err), CV_ECORRUPT);
    CHECK_CONTAINS(e.err.msg, "audit record 4: hash differs from the one checkpoint 1 signed");
    idx_abort(e.t);

    /* A checkpoint of an older camvault has no audit line: absent, not an error. */
    CHECK_EQ_INT(itg_checkpoint_audit("camvault checkpoint 1\nseq 1\nhead c 1 00\n", 40, &seq,
                                      head), CV_ENOENT);
    CHECK_EQ_INT(itg_checkpoint_audit("camvault checkpoint 1\naudit 1 zz\n", 33, &seq, head),
                 CV_ECORRUPT);
    idx_checkpoint_release(&last);
    itg_signer_close(signer);
    cv_buf_release(&chain);
    fx_env_close(&e);
}
