/*
 * test_server.c: the server's pure parts and its account logic: request-target parsing, cookies,
 * the route table, scrypt hashes, sessions, throttling and a whole login, plus a short fuzz run
 * of the request parsers (URI, cookie, routing, JSON body) on mutated inputs.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "common/json.h"
#include "indexer/idx.h"
#include "server/audit.h"
#include "server/srv_int.h"
#include "server/users.h"
#include "storage-layout/layout.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

static const struct srv_kdf cheap = {10, 8, 1}; /* fast for tests; same code path */

void test_server_uri_parse(void)
{
    static const struct {
        const char *raw;
        int rc;
        int nseg;
        const char *seg1; /* second segment, or NULL */
        const char *from; /* query 'from', or NULL */
    } cases[] = {
        {"/", 0, 0, NULL, NULL},
        {"/api/v1/cameras/", 0, 3, "v1", NULL},
        {"/api/v1/cameras/gate%2D3/timeline?from=2026-11-22T09:30:00+08:00&to=@1", 0, 5, "v1",
         "2026-11-22T09:30:00+08:00"},
        {"/a/b%20c?from=%40123&&x", 0, 2, "b c", "@123"},
        {"/a/%2e%2e/b", 0, 3, "..", NULL},
        {"/a%2Fb", 0, 1, NULL, NULL},
        {"/a?from", 0, 1, NULL, ""},
        {"", CV_EINVAL, 0, NULL, NULL},
        {"api/v1", CV_EINVAL, 0, NULL, NULL},
        {"/a//b", CV_EINVAL, 0, NULL, NULL},
        {"/a/%zz", CV_EINVAL, 0, NULL, NULL},
        {"/a/%2", CV_EINVAL, 0, NULL, NULL},
        {"/a/%00", CV_EINVAL, 0, NULL, NULL},
        {"/a/%0a", CV_EINVAL, 0, NULL, NULL},
        {"/a b", CV_EINVAL, 0, NULL, NULL},
        {"/a?x=%ff%0d", CV_EINVAL, 0, NULL, NULL},
        {"/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", CV_ELIMIT, 0, NULL, NULL},
    };
    char longer[SRV_URI_MAX + 8];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct srv_uri u;
        struct cv_err err = {""};
        int rc = srv_uri_parse(cases[i].raw, &u, &err);
        CHECK_MSG(rc == cases[i].rc, "'%s': rc %d, want %d (%s)", cases[i].raw, rc, cases[i].rc,
                  err.msg);
        if (rc != 0 || cases[i].rc != 0)
            continue;
        CHECK_EQ_INT(u.nseg, cases[i].nseg);
        if (cases[i].seg1)
            CHECK_EQ_STR(u.nseg > 1 ? u.seg[1] : NULL, cases[i].seg1);
        CHECK_EQ_STR(srv_uri_query(&u, "from"), cases[i].from);
    }
    memset(longer, 'a', sizeof(longer) - 1);
    longer[0] = '/';
    longer[sizeof(longer) - 1] = 0;
    {
        struct srv_uri u;
        struct cv_err err = {""};
        CHECK_EQ_INT(srv_uri_parse(longer, &u, &err), CV_ELIMIT);
        longer[SRV_URI_MAX] = 0;
        CHECK_OK(srv_uri_parse(longer, &u, &err), &err);
    }
}

void test_server_cookie(void)
{
    char v[64];

    CHECK_EQ_INT(srv_cookie_find("cv_session=abc", "cv_session", v, sizeof(v)), 0);
    CHECK_EQ_STR(v, "abc");
    CHECK_EQ_INT(srv_cookie_find("x=1; cv_session=\"q\" ; y=2", "cv_session", v, sizeof(v)), 0);
    CHECK_EQ_STR(v, "q");
    CHECK_EQ_INT(srv_cookie_find("xcv_session=1; cv_session2=2", "cv_session", v, sizeof(v)), -1);
    CHECK_EQ_INT(srv_cookie_find("", "cv_session", v, sizeof(v)), -1);
    CHECK_EQ_INT(srv_cookie_find("cv_session=0123456789", "cv_session", v, 5), -1);
}

static const struct srv_route *find(const char *method, const char *raw, char *allow,
                                    const char **p0)
{
    struct srv_uri u;
    struct cv_err err = {""};
    const char *params[4] = {NULL};
    int np = 0;
    static struct srv_uri keep;
    const struct srv_route *rt;

    if (srv_uri_parse(raw, &u, &err) < 0) {
        unit_fail(__FILE__, __LINE__, "%s: %s", raw, err.msg);
        return NULL;
    }
    keep = u;
    rt = srv_route_find(method, &keep, params, &np, allow, 128);
    *p0 = np ? params[0] : NULL;
    return rt;
}

void test_server_routes(void)
{
    char allow[128];
    const char *p0;
    const struct srv_route *rt;

    rt = find("GET", "/api/v1/cameras/gate-3/timeline?from=x", allow, &p0);
    CHECK(rt && rt->fn == api_timeline);
    CHECK_EQ_STR(p0, "gate-3");
    CHECK(rt && !(rt->roles & SRV_ROLE_RESIDENT) && (rt->roles & SRV_ROLE_MEDIATOR));
    rt = find("HEAD", "/api/v1/cameras", allow, &p0);
    CHECK(rt && rt->fn == api_cameras_list);
    rt = find("DELETE", "/api/v1/cameras", allow, &p0);
    CHECK(rt == NULL);
    CHECK_EQ_STR(allow, "GET, POST");
    rt = find("GET", "/api/v1/nothing", allow, &p0);
    CHECK(rt == NULL);
    CHECK_EQ_STR(allow, "");
    rt = find("POST", "/api/v1/login", allow, &p0);
    CHECK(rt && (rt->flags & SRV_PUBLIC));
    /* Every route: a known method, a pattern under / and, unless public, some role. */
    for (size_t i = 0; i < srv_nroutes; i++) {
        const struct srv_route *r = &srv_routes[i];
        CHECK(r->pattern[0] == '/');
        CHECK((r->flags & SRV_PUBLIC) || (r->roles & SRV_ROLES_ALL));
        CHECK_MSG(strstr("GET POST PUT PATCH DELETE", r->method) != NULL, "%s", r->method);
        for (size_t j = 0; j < i; j++)
            CHECK_MSG(strcmp(r->pattern, srv_routes[j].pattern) != 0 ||
                          strcmp(r->method, srv_routes[j].method) != 0,
                      "duplicate route %s %s", r->method, r->pattern);
    }
}

void test_server_passwords(void)
{
    char h1[SRV_PWHASH_MAX], h2[SRV_PWHASH_MAX], gen[21];
    struct cv_err err = {""};
    bool ok = true;

    CHECK_OK(srv_password_hash("correct horse", &cheap, h1, &err), &err);
    CHECK_OK(srv_password_hash("correct horse", &cheap, h2, &err), &err);
    CHECK(strncmp(h1, "scrypt$10$8$1$", 14) == 0);
    CHECK(strcmp(h1, h2) != 0); /* a fresh salt each time */
    CHECK_OK(srv_password_verify("correct horse", h1, &ok, &err), &err);
    CHECK(ok);
    CHECK_OK(srv_password_verify("correct horsE", h1, &ok, &err), &err);
    CHECK(!ok);
    CHECK_EQ_INT(srv_password_verify("x", "scrypt$10$8$1$zz$00", &ok, &err), CV_EINVAL);
    CHECK_EQ_INT(srv_password_verify("x", "md5$abc", &ok, &err), CV_EINVAL);
    CHECK(!ok);
    /* The default cost is memory-hard: N = 2^15, r = 8 (32 MiB). */
    CHECK_EQ_INT(srv_kdf_default.log2n, 15);
    CHECK_EQ_INT(srv_kdf_default.r, 8);
    CHECK_OK(srv_password_generate(gen, &err), &err);
    CHECK_EQ_INT(strlen(gen), 20);
    CHECK_OK(srv_password_check(gen, &err), &err);
    CHECK_EQ_INT(srv_password_check("short", &err), CV_EINVAL);
    CHECK_EQ_INT(srv_password_check("long enough\x01", &err), CV_EINVAL);
    CHECK_OK(srv_user_name_check("a.b_c-1", &err), &err);
    CHECK_EQ_INT(srv_user_name_check("Alice", &err), CV_EINVAL);
    CHECK_EQ_INT(srv_user_name_check("-x", &err), CV_EINVAL);
    CHECK_EQ_INT(srv_user_name_check("", &err), CV_EINVAL);
}

static void add_user(struct fx_env *e, const char *name, enum srv_role role, const char *pw,
                     const struct srv_kdf *k)
{
    struct srv_user u;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};

    memset(&u, 0, sizeof(u));
    cv_strlcpy(u.name, name, sizeof(u.name));
    u.role = role;
    CHECK_OK(srv_password_hash(pw, k, u.pwhash, &err), &err);
    CHECK_OK(idx_begin(e->idx, true, &t, &err), &err);
    CHECK_OK(srv_user_add(t, &u, &err), &err);
    CHECK_EQ_INT(srv_user_add(t, &u, &err), CV_EEXIST);
    CHECK_OK(idx_commit(t, &err), &err);
}

void test_server_sessions(void)
{
    struct fx_env e;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct srv_session s, got;
    char tok[SRV_TOKEN_LEN + 1], tok2[SRV_TOKEN_LEN + 1], forged[SRV_TOKEN_LEN + 1];
    int64_t now = FX_START_US;
    size_t n = 0;

    if (fx_env_open(&e) < 0)
        return;
    add_user(&e, "alice", SRV_ROLE_OFFICER, "alice's password", &cheap);
    CHECK_OK(idx_begin(e.idx, true, &t, &err), &err);
    CHECK_OK(srv_session_create(t, "alice", SRV_SESSION_COOKIE, now, 60 * CV_US_PER_S, tok, &s,
                                &err), &err);
    CHECK_OK(srv_session_create(t, "alice", SRV_SESSION_BEARER, now, 3600 * CV_US_PER_S, tok2,
                                &got, &err), &err);
    CHECK_EQ_INT(strlen(tok), SRV_TOKEN_LEN);
    CHECK_EQ_INT(strlen(s.csrf), SRV_TOKEN_LEN);
    CHECK_EQ_STR(got.csrf, ""); /* bearer tokens carry no CSRF token */
    CHECK_OK(idx_commit(t, &err), &err);

    CHECK_OK(idx_begin(e.idx, false, &t, &err), &err);
    CHECK_OK(srv_session_lookup(t, tok, now + 1, &got, &err), &err);
    CHECK_EQ_STR(got.user, "alice");
    CHECK_EQ_STR(got.csrf, s.csrf);
    CHECK_EQ_INT(srv_session_lookup(t, tok, now + 60 * CV_US_PER_S, &got, &err), CV_ETIMEDOUT);
    CHECK_CONTAINS(err.msg, "session expired");
    cv_strlcpy(forged, tok, sizeof(forged));
    forged[5] = forged[5] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(srv_session_lookup(t, forged, now, &got, &err), CV_ENOENT);
    CHECK_CONTAINS(err.msg, "invalid session");
    CHECK_EQ_INT(srv_session_lookup(t, "short", now, &got, &err), CV_ENOENT);
    CHECK_EQ_INT(srv_session_lookup(t, "../../../../../../../../../../../../../etc/pw", now, &got,
                                    &err), CV_ENOENT);
    idx_abort(t);

    CHECK_OK(idx_begin(e.idx, true, &t, &err), &err);
    CHECK_OK(srv_session_purge(t, now + 120 * CV_US_PER_S, &n, &err), &err);
    CHECK_EQ_INT(n, 1); /* the cookie session expired, the bearer token did not */
    CHECK_OK(srv_session_lookup(t, tok2, now + 120 * CV_US_PER_S, &got, &err), &err);
    CHECK_OK(srv_session_delete_user(t, "alice", &err), &err);
    CHECK_EQ_INT(srv_session_lookup(t, tok2, now, &got, &err), CV_ENOENT);
    CHECK_OK(idx_commit(t, &err), &err);
    fx_env_close(&e);
}

void test_server_throttle_rule(void)
{
    uint32_t fails = 0;
    int64_t since = 0, until = 0, t = FX_START_US, lock;

    for (int i = 1; i < SRV_THROTTLE_PAIR_FAILS; i++)
        CHECK_EQ_INT(srv_throttle_rule(&fails, &since, &until, SRV_THROTTLE_PAIR_FAILS, t + i), 0);
    lock = srv_throttle_rule(&fails, &since, &until, SRV_THROTTLE_PAIR_FAILS, t + 10);
    CHECK_EQ_INT(lock - (t + 10), 60 * CV_US_PER_S);
    lock = srv_throttle_rule(&fails, &since, &until, SRV_THROTTLE_PAIR_FAILS, t + 20);
    CHECK_EQ_INT(lock - (t + 20), 120 * CV_US_PER_S);
    for (int i = 0; i < 10; i++)
        lock = srv_throttle_rule(&fails, &since, &until, SRV_THROTTLE_PAIR_FAILS, t + 30);
    CHECK_EQ_INT(lock - (t + 30), 15 * 60 * CV_US_PER_S);
    /* A failure after the window is a fresh start. */
    t += 60 * 60 * CV_US_PER_S;
    CHECK_EQ_INT(srv_throttle_rule(&fails, &since, &until, SRV_THROTTLE_PAIR_FAILS, t), 0);
    CHECK_EQ_INT(fails, 1);
}

static int count_actions(void *ctx, const struct itg_audit_rec *r)
{
    int *c = ctx;
    if (strcmp(r->action, "login") == 0)
        c[0]++;
    else if (strcmp(r->action, "login-failed") == 0)
        c[1]++;
    return 0;
}

/* The refusal rule as a table: which counters are locked or have failed, and the wait. */
void test_server_throttle_check(void)
{
    const int64_t now = FX_START_US, s = CV_US_PER_S;
    const struct srv_throttle_count none = {0, 0, 0}, failed = {2, now - 10 * s, 0},
                                    old = {2, now - SRV_THROTTLE_WINDOW_US - s, 0},
                                    lock60 = {5, now, now + 60 * s},
                                    lock90 = {20, now, now + 90 * s},
                                    over = {5, now - 120 * s, now - 60 * s};
    static const struct {
        const char *why;
        /* 0 none, 1 failed, 2 old failures, 3 locked 60 s, 4 locked 90 s, 5 lock over */
        int a, n, p;
        int64_t wait_s;
    } cases[] = {
        {"nothing recorded", 0, 0, 0, 0},
        {"failures below the limits", 1, 1, 1, 0},
        {"address locked: every name from it", 3, 0, 0, 60},
        {"pair locked: this name from this address", 0, 0, 3, 60},
        {"name locked, address never failed for it: may try", 0, 3, 0, 0},
        {"name locked, address failed for another name only", 1, 3, 0, 0},
        {"name locked, address failed for it", 1, 3, 1, 60},
        {"name locked, the pair's failures are out of the window", 0, 3, 2, 0},
        {"the longest lock wins", 4, 3, 3, 90},
        {"a lock that is over", 5, 5, 5, 0},
    };
    const struct srv_throttle_count *pick[] = {&none, &failed, &old, &lock60, &lock90, &over};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_MSG(srv_throttle_check(pick[cases[i].a], pick[cases[i].n], pick[cases[i].p], now) ==
                      cases[i].wait_s * s,
                  "%s", cases[i].why);
}

/* The counters in struct srv_throttle: a stranger locks himself, not the name's real user. */
void test_server_throttle_table(void)
{
    struct srv_throttle *th = NULL;
    struct cv_err err = {""};
    int64_t now = FX_START_US;

    CHECK_OK(srv_throttle_open_with(&th, 1, &err), &err);
    for (int i = 0; i < 50; i++)
        if (srv_throttle_wait(th, "admin", "10.6.6.6", now + i) == 0)
            srv_throttle_fail(th, "admin", "10.6.6.6", now + i);
    CHECK(srv_throttle_wait(th, "admin", "10.6.6.6", now + 60) > 0);
    CHECK_EQ_INT(srv_throttle_wait(th, "admin", "10.0.0.1", now + 60), 0);
    CHECK_EQ_INT(srv_throttle_wait(th, "bob", "10.6.6.6", now + 60), 0);
    /* Many strangers lock the name for those that failed for it; a fresh address still tries. */
    for (int a = 0; a < SRV_THROTTLE_NAME_FAILS; a++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "10.7.0.%d", a);
        srv_throttle_fail(th, "admin", addr, now + 100);
    }
    CHECK(srv_throttle_wait(th, "admin", "10.7.0.1", now + 101) > 0);
    CHECK_EQ_INT(srv_throttle_wait(th, "admin", "10.0.0.1", now + 101), 0);
    /* Unknown names are counted alike; a success clears only its pair. */
    for (int i = 0; i < SRV_THROTTLE_PAIR_FAILS; i++) {
        srv_throttle_fail(th, "carol", "10.8.0.1", now + 200);
        srv_throttle_fail(th, "no-such-user", "10.8.0.2", now + 200);
    }
    CHECK(srv_throttle_wait(th, "carol", "10.8.0.1", now + 201) > 0);
    CHECK_EQ_INT(srv_throttle_wait(th, "carol", "10.8.0.1", now + 201),
                 srv_throttle_wait(th, "no-such-user", "10.8.0.2", now + 201));
    srv_throttle_ok(th, "carol", "10.8.0.1");
    CHECK_EQ_INT(srv_throttle_wait(th, "carol", "10.8.0.1", now + 202), 0);
    /* Over-long names are kept apart from the account names they start with. */
    for (int i = 0; i < SRV_THROTTLE_PAIR_FAILS; i++)
        srv_throttle_fail(th, "abcdefghijklmnopqrstuvwxyz0123456789", "10.9.0.1", now + 300);
    CHECK_EQ_INT(srv_throttle_wait(th, "abcdefghijklmnopqrstuvwxyz012345", "10.9.0.1", now + 301),
                 0);
    /* The table is bounded: a flood of names recycles the stalest counters. */
    for (int i = 0; i < 3 * SRV_THROTTLE_SLOTS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "n%d", i);
        srv_throttle_fail(th, name, "10.10.0.1", now + 400 + i);
    }
    srv_throttle_close(th);
}

/* ---- the hashing bound, with real waiting threads ---- */

struct hb_arg {
    struct srv_throttle *th;
    char addr[32];
    int rc;
    int order;
    atomic_int *next;
    pthread_t tid;
};

static void *hb_thread(void *v)
{
    struct hb_arg *a = v;
    struct cv_err err = {""};

    a->rc = srv_hash_enter(a->th, a->addr, &err);
    if (a->rc == 0) {
        a->order = atomic_fetch_add(a->next, 1);
        srv_hash_leave(a->th, a->addr);
    }
    return NULL;
}

/* Wait (up to 10 s) until `waiting` hashes wait for a turn. */
static bool hb_wait_waiting(struct srv_throttle *th, unsigned waiting)
{
    struct srv_throttle_stats st;

    for (int i = 0; i < 10000; i++) {
        srv_throttle_stats(th, &st);
        if (st.waiting == waiting)
            return true;
        usleep(1000);
    }
    return false;
}

static void hb_start(struct hb_arg *a, struct srv_throttle *th, const char *addr, atomic_int *next)
{
    a->th = th;
    a->next = next;
    a->rc = 1;
    a->order = -1;
    snprintf(a->addr, sizeof(a->addr), "%s", addr);
    CHECK(pthread_create(&a->tid, NULL, hb_thread, a) == 0);
}

/* Past the per-address and the waiting limits a hash is refused at once; waiters get turns. */
void test_server_hash_bound(void)
{
    struct srv_throttle *th = NULL;
    struct srv_throttle_stats st;
    struct cv_err err = {""};
    struct hb_arg w[SRV_HASH_WAITING];
    atomic_int next = 0;

    CHECK_OK(srv_throttle_open_with(&th, 1, &err), &err);
    CHECK_OK(srv_hash_enter(th, "10.0.0.100", &err), &err);
    for (int i = 0; i < SRV_HASH_PER_ADDR; i++) {
        hb_start(&w[i], th, "10.2.0.1", &next);
        CHECK(hb_wait_waiting(th, (unsigned)i + 1));
    }
    CHECK_EQ_INT(srv_hash_enter(th, "10.2.0.1", &err), CV_ETIMEDOUT);
    CHECK_CONTAINS(err.msg, "too many logins at once");
    for (int i = SRV_HASH_PER_ADDR; i < SRV_HASH_WAITING; i++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "10.4.0.%d", i);
        hb_start(&w[i], th, addr, &next);
        CHECK(hb_wait_waiting(th, (unsigned)i + 1));
    }
    CHECK_EQ_INT(srv_hash_enter(th, "10.3.0.1", &err), CV_ETIMEDOUT);
    srv_throttle_stats(th, &st);
    CHECK_EQ_INT(st.running, 1);
    CHECK_EQ_INT(st.refused_busy, 2);
    srv_hash_leave(th, "10.0.0.100");
    for (int i = 0; i < SRV_HASH_WAITING; i++) {
        pthread_join(w[i].tid, NULL);
        CHECK_EQ_INT(w[i].rc, 0);
    }
    srv_throttle_stats(th, &st);
    CHECK_EQ_INT(st.running, 0);
    CHECK_EQ_INT(st.waiting, 0);
    srv_throttle_close(th);
}

/* When a turn frees, a quiet address goes before addresses that have failed, though it came
 * last. */
void test_server_hash_fair(void)
{
    struct srv_throttle *th = NULL;
    struct cv_err err = {""};
    struct hb_arg w[3];
    static const char *const addrs[] = {"10.5.0.1", "10.5.0.2", "10.0.0.1"};
    atomic_int next = 0;

    CHECK_OK(srv_throttle_open_with(&th, 1, &err), &err);
    srv_throttle_fail(th, "x", "10.5.0.1", FX_START_US);
    srv_throttle_fail(th, "x", "10.5.0.2", FX_START_US);
    CHECK_OK(srv_hash_enter(th, "10.5.0.1", &err), &err);
    for (int i = 0; i < 3; i++) {
        hb_start(&w[i], th, addrs[i], &next);
        CHECK(hb_wait_waiting(th, (unsigned)i + 1));
    }
    srv_hash_leave(th, "10.5.0.1");
    for (int i = 0; i < 3; i++)
        pthread_join(w[i].tid, NULL);
    CHECK_EQ_INT(w[2].order, 0); /* the quiet address */
    CHECK_EQ_INT(w[0].order, 1); /* then by arrival */
    CHECK_EQ_INT(w[1].order, 2);
    srv_throttle_close(th);
}

void test_server_login(void)
{
    struct fx_env e;
    struct srv_throttle *th = NULL;
    struct srv_session s;
    struct srv_user u;
    struct idx_txn *t = NULL;
    struct cv_err err = {""}, err2 = {""};
    char tok[SRV_TOKEN_LEN + 1];
    int64_t now = cv_now_us(), retry = 0, retry2 = 0;
    int counts[2] = {0, 0};

    if (fx_env_open(&e) < 0)
        return;
    add_user(&e, "bob", SRV_ROLE_RESIDENT, "bob's long password", &cheap);
    CHECK_OK(srv_throttle_open(&th, &err), &err);
    CHECK_OK(srv_login(e.idx, th, "bob", "bob's long password", "10.0.0.1", now, &s, tok, &u,
                       &retry, &err), &err);
    CHECK_EQ_STR(u.name, "bob");
    CHECK_EQ_INT(u.last_login_us, now);
    CHECK_EQ_INT(srv_login(e.idx, th, "nobody", "x", "10.0.0.1", now, &s, tok, &u, &retry, &err),
                 CV_EINVAL);
    CHECK_CONTAINS(err.msg, "wrong user name or password");
    /* Five wrong passwords from one address lock the name for that address only, and an
     * unknown name the same way. */
    for (int i = 0; i < SRV_THROTTLE_PAIR_FAILS; i++) {
        CHECK_EQ_INT(srv_login(e.idx, th, "bob", "wrong", "10.0.0.2", now + i, &s, tok, &u,
                               &retry, &err), CV_EINVAL);
        CHECK_EQ_INT(srv_login(e.idx, th, "nobody", "wrong", "10.0.0.2", now + i, &s, tok, &u,
                               &retry, &err), CV_EINVAL);
    }
    CHECK_EQ_INT(srv_login(e.idx, th, "bob", "bob's long password", "10.0.0.2", now + 10, &s, tok,
                           &u, &retry, &err), CV_ELIMIT);
    CHECK_EQ_INT(srv_login(e.idx, th, "nobody", "bob's long password", "10.0.0.2", now + 10, &s,
                           tok, &u, &retry2, &err2), CV_ELIMIT);
    CHECK_EQ_STR(err.msg, err2.msg);
    CHECK_EQ_INT(retry, retry2);
    CHECK(retry > 50 * CV_US_PER_S && retry <= 60 * CV_US_PER_S);
    CHECK_OK(srv_login(e.idx, th, "bob", "bob's long password", "10.0.0.3", now + 10, &s, tok, &u,
                       &retry, &err), &err);
    /* After the lock the right password works from the failing address too. */
    CHECK_OK(srv_login(e.idx, th, "bob", "bob's long password", "10.0.0.2",
                       now + 100 * CV_US_PER_S, &s, tok, &u, &retry, &err), &err);
    CHECK_EQ_INT(u.fails, 0);
    /* An address that keeps failing is throttled whatever names it tries. */
    for (int i = 0; i < SRV_THROTTLE_ADDR_FAILS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "guess%d", i);
        srv_throttle_fail(th, name, "10.9.9.9", now);
    }
    CHECK_EQ_INT(srv_login(e.idx, th, "bob", "bob's long password", "10.9.9.9", now + 1, &s, tok,
                           &u, &retry, &err), CV_ELIMIT);
    CHECK_CONTAINS(err.msg, "too many failed logins");
    CHECK_OK(idx_begin(e.idx, false, &t, &err), &err);
    CHECK_OK(srv_audit_iter(t, NULL, count_actions, counts, &err), &err);
    idx_abort(t);
    CHECK_EQ_INT(counts[0], 3);
    CHECK_EQ_INT(counts[1], 1 + 2 * SRV_THROTTLE_PAIR_FAILS);
    srv_throttle_close(th);
    fx_env_close(&e);
}

/* ---- fuzz: mutated requests into the parsers, for a couple of seconds ---- */

static void mutate(uint64_t *rng, const char *seed, char *out, size_t cap)
{
    size_t n = strlen(seed);
    int rounds = 1 + (int)(fx_rand(rng) % 6);

    if (n >= cap)
        n = cap - 1;
    memcpy(out, seed, n);
    for (int r = 0; r < rounds; r++) {
        uint64_t x = fx_rand(rng);
        size_t pos = n ? (size_t)(x >> 8) % n : 0;
        static const char interesting[] = "%/?&=.\\\"{}[]:,\0\x01\xff\xc3+-0e";
        switch (x % 5) {
        case 0: /* flip */
            if (n)
                out[pos] = (char)(fx_rand(rng) & 0xff);
            break;
        case 1: /* insert an interesting byte */
            if (n + 1 < cap) {
                memmove(out + pos + 1, out + pos, n - pos);
                out[pos] = interesting[fx_rand(rng) % (sizeof(interesting) - 1)];
                n++;
            }
            break;
        case 2: /* truncate */
            n = pos;
            break;
        case 3: /* duplicate a chunk */
            if (n && n * 2 < cap) {
                memcpy(out + n, out, n);
                n *= 2;
            }
            break;
        default: /* delete */
            if (n) {
                memmove(out + pos, out + pos + 1, n - pos - 1);
                n--;
            }
        }
    }
    out[n] = 0;
}

void test_server_fuzz_parsers(void)
{
    static const char *const uris[] = {
        "/api/v1/cameras/gate-3/timeline?from=2026-11-22T09:30:00Z&to=%40179",
        "/api/v1/holds/12/release", "/static/%2e%2e/%2e%2e/etc/passwd", "/api/v1/audit?limit=5",
    };
    static const char *const bodies[] = {
        "{\"user\":\"alice\",\"password\":\"pw\\u00e9\"}",
        "{\"case\":\"K\",\"cameras\":[\"a\",\"b\"],\"from\":\"@1\",\"to\":\"@2\",\"n\":-1.5e3}",
        "[[[{\"a\":[true,false,null]}]]]",
    };
    static const char *const cookies[] = {"a=1; cv_session=\"abc\"; b", "cv_session=x;;;"};
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int64_t end = cv_mono_us() + 2 * CV_US_PER_S;
    unsigned long iters = 0;
    char buf[4 * SRV_URI_MAX];

    while (cv_mono_us() < end) {
        for (int k = 0; k < 100; k++, iters++) {
            struct srv_uri u;
            struct cv_err err = {""};
            struct cv_json *doc = NULL;
            const char *params[4];
            char allow[128], v[64];
            int np;
            mutate(&rng, uris[fx_rand(&rng) % 4], buf, sizeof(buf));
            if (srv_uri_parse(buf, &u, &err) == 0) {
                for (int i = 0; i < u.nseg; i++)
                    for (const char *p = u.seg[i]; *p; p++)
                        CHECK_MSG((unsigned char)*p >= 0x20, "control char in segment of %s",
                                  buf);
                srv_route_find(fx_rand(&rng) & 1 ? "GET" : "POST", &u, params, &np, allow,
                               sizeof(allow));
            }
            mutate(&rng, bodies[fx_rand(&rng) % 3], buf, sizeof(buf));
            if (cv_json_parse(buf, strlen(buf), NULL, &doc, &err) == 0)
                CHECK(cv_json_root(doc) != NULL);
            cv_json_free(doc);
            mutate(&rng, cookies[fx_rand(&rng) % 2], buf, sizeof(buf));
            srv_cookie_find(buf, "cv_session", v, sizeof(v));
        }
        if (unit_failures())
            break;
    }
    CHECK(iters > 1000);
}
