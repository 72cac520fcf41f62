/*
 * users.c: accounts, scrypt password hashes, sessions and login throttling (users.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "common/buf.h"
#include "common/cvtime.h"
#include "server/audit.h"
#include "server/records.h"
#include "server/users.h"
#include "common/banned.h"

#define REC_VERSION 1
#define SALT_LEN 16
#define HASH_LEN 32

const struct srv_kdf srv_kdf_default = {15, 8, 1};

const char *srv_role_name(unsigned role)
{
    switch (role) {
    case SRV_ROLE_ADMIN: return "admin";
    case SRV_ROLE_OFFICER: return "officer";
    case SRV_ROLE_MEDIATOR: return "mediator";
    case SRV_ROLE_RESIDENT: return "resident";
    default: return "?";
    }
}

int srv_role_parse(const char *s, enum srv_role *out, struct cv_err *err)
{
    static const enum srv_role all[] = {SRV_ROLE_ADMIN, SRV_ROLE_OFFICER, SRV_ROLE_MEDIATOR,
                                        SRV_ROLE_RESIDENT};

    for (size_t i = 0; s && i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(s, srv_role_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return cv_errf(err, CV_EINVAL, "unknown role '%.40s' (admin, officer, mediator or resident)",
                   s ? s : "");
}

int srv_user_name_check(const char *name, struct cv_err *err)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > SRV_NAME_MAX)
        return cv_errf(err, CV_EINVAL, "user name must be 1 to %d characters", SRV_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return cv_errf(err, CV_EINVAL, "bad user name '%.40s': use a-z, 0-9, '.', '_' and "
                           "'-', starting with a letter or digit", name);
    }
    return 0;
}

int srv_password_check(const char *pw, struct cv_err *err)
{
    size_t n = pw ? strlen(pw) : 0;

    if (n < SRV_PASSWORD_MIN || n > SRV_PASSWORD_MAX)
        return cv_errf(err, CV_EINVAL, "a password must be %d to %d bytes long",
                       SRV_PASSWORD_MIN, SRV_PASSWORD_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)pw[i] < 0x20 || pw[i] == 0x7f)
            return cv_errf(err, CV_EINVAL, "a password must not contain control characters");
    return 0;
}

static int scrypt(const char *pw, const uint8_t *salt, size_t saltlen, const struct srv_kdf *k,
                  uint8_t out[HASH_LEN], struct cv_err *err)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    uint64_t n = UINT64_C(1) << k->log2n, maxmem = UINT64_C(1) << 30;
    uint32_t r = k->r, p = k->p;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pw, strlen(pw)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    int rc = 0;

    if (!ctx || EVP_KDF_derive(ctx, out, HASH_LEN, params) != 1)
        rc = cv_errf(err, CV_ECRYPTO, "scrypt (N=2^%u, r=%u, p=%u) failed in OpenSSL", k->log2n,
                     k->r, k->p);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rc;
}

int srv_password_hash(const char *pw, const struct srv_kdf *k, char *out, struct cv_err *err)
{
    uint8_t salt[SALT_LEN], hash[HASH_LEN];
    char salthex[2 * SALT_LEN + 1], hashhex[2 * HASH_LEN + 1];
    int rc;

    if (!k)
        k = &srv_kdf_default;
    if (k->log2n < 1 || k->log2n > 20 || k->r < 1 || k->r > 32 || k->p < 1 || k->p > 16)
        return cv_errf(err, CV_EINVAL, "scrypt cost out of range");
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return cv_errf(err, CV_ECRYPTO, "cannot draw random bytes for a salt");
    rc = scrypt(pw, salt, sizeof(salt), k, hash, err);
    if (rc < 0)
        return rc;
    cv_hex(salt, sizeof(salt), salthex);
    cv_hex(hash, sizeof(hash), hashhex);
    snprintf(out, SRV_PWHASH_MAX, "scrypt$%u$%u$%u$%s$%s", k->log2n, k->r, k->p, salthex, hashhex);
    OPENSSL_cleanse(hash, sizeof(hash));
    return 0;
}

int srv_password_verify(const char *pw, const char *stored, bool *ok, struct cv_err *err)
{
    unsigned log2n, r, p;
    char salthex[2 * SALT_LEN + 1], hashhex[2 * HASH_LEN + 1];
    uint8_t salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
    struct srv_kdf k;
    int rc, used = 0;

    *ok = false;
    if (sscanf(stored, "scrypt$%2u$%2u$%2u$%32[0-9a-f]$%64[0-9a-f]%n", &log2n, &r, &p, salthex,
               hashhex, &used) != 5 ||
        (size_t)used != strlen(stored) || cv_unhex(salthex, salt, SALT_LEN) < 0 ||
        cv_unhex(hashhex, want, HASH_LEN) < 0 || log2n < 1 || log2n > 20 || r < 1 || r > 32 ||
        p < 1 || p > 16)
        return cv_errf(err, CV_EINVAL, "malformed password hash");
    k = (struct srv_kdf){log2n, r, p};
    rc = scrypt(pw, salt, SALT_LEN, &k, got, err);
    if (rc < 0)
        return rc;
    *ok = CRYPTO_memcmp(got, want, HASH_LEN) == 0;
    OPENSSL_cleanse(got, sizeof(got));
    return 0;
}

int srv_password_generate(char out[21], struct cv_err *err)
{
    /* 32 symbols without 0/O, 1/l/I: 20 of them are 100 bits. */
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
    uint8_t rnd[20];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return cv_errf(err, CV_ECRYPTO, "cannot draw random bytes for a password");
    for (int i = 0; i < 20; i++)
        out[i] = alphabet[rnd[i] & 31];
    out[20] = 0;
    return 0;
}

/* ---- accounts ---- */

/* A user is a kind of record (server/records.h): its name is the key; the fields follow the
 * version byte in this order, area and address added later (older records end before them). */
static void user_encode(struct cv_buf *b, const void *rec)
{
    const struct srv_user *u = rec;

    cv_buf_str16(b, u->name);
    cv_buf_u8(b, (uint8_t)u->role);
    cv_buf_u8(b, u->disabled);
    cv_buf_be64(b, (uint64_t)u->created_us);
    cv_buf_be64(b, (uint64_t)u->last_login_us);
    cv_buf_str16(b, u->pwhash);
    cv_buf_be32(b, u->fails);
    cv_buf_be64(b, (uint64_t)u->fail_since_us);
    cv_buf_be64(b, (uint64_t)u->locked_until_us);
    cv_buf_str16(b, u->area);
    cv_buf_str16(b, u->address);
}

static bool user_decode(struct cv_rd *r, void *rec)
{
    struct srv_user *u = rec;

    cv_rd_str16(r, u->name, sizeof(u->name));
    u->role = cv_rd_u8(r);
    u->disabled = cv_rd_u8(r) != 0;
    u->created_us = (int64_t)cv_rd_be64(r);
    u->last_login_us = (int64_t)cv_rd_be64(r);
    cv_rd_str16(r, u->pwhash, sizeof(u->pwhash));
    u->fails = cv_rd_be32(r);
    u->fail_since_us = (int64_t)cv_rd_be64(r);
    u->locked_until_us = (int64_t)cv_rd_be64(r);
    if (r->off < r->len) { /* records written before areas end here */
        cv_rd_str16(r, u->area, sizeof(u->area));
        cv_rd_str16(r, u->address, sizeof(u->address));
    }
    return r->off == r->len && strcmp(srv_role_name(u->role), "?") != 0;
}

static const struct srv_rec_kind user_kind = {
    .store = IDX_USERS, .what = "user", .size = sizeof(struct srv_user), .max_bytes = 1024,
    .id_max = SRV_NAME_MAX + 1, .id_off = offsetof(struct srv_user, name),
    .encode = user_encode, .decode = user_decode,
};

static int user_write(struct idx_txn *t, const struct srv_user *u, bool add, struct cv_err *err)
{
    int rc = srv_user_name_check(u->name, err);

    if (rc == 0)
        rc = srv_rec_store(t, &user_kind, u, add, err);
    if (rc == CV_EEXIST)
        rc = cv_errf(err, CV_EEXIST, "user '%s' exists already", u->name);
    return rc;
}

int srv_user_add(struct idx_txn *t, const struct srv_user *u, struct cv_err *err)
{
    return user_write(t, u, true, err);
}

int srv_user_put(struct idx_txn *t, const struct srv_user *u, struct cv_err *err)
{
    return user_write(t, u, false, err);
}

void srv_user_area_json(struct cv_buf *b, const struct srv_user *u)
{
    cv_json_add_str(b, "area", u->area, true);
    if (u->role == SRV_ROLE_RESIDENT)
        cv_json_add_str(b, "address", u->address, true);
}

int srv_user_get(struct idx_txn *t, const char *name, struct srv_user *out, struct cv_err *err)
{
    return srv_rec_load(t, &user_kind, name ? name : "", out, err);
}

int srv_user_list(struct idx_txn *t, struct srv_user **out, size_t *n, struct cv_err *err)
{
    *out = NULL;
    *n = 0;
    return srv_rec_list(t, &user_kind, (void **)out, n, NULL, err);
}

/* ---- sessions ---- */

static void b64url(const uint8_t *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;

    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }
    if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
    } else if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
    }
    out[o] = 0;
}

static int random_token(char out[SRV_TOKEN_LEN + 1], struct cv_err *err)
{
    uint8_t rnd[32];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return cv_errf(err, CV_ECRYPTO, "cannot draw random bytes for a token");
    b64url(rnd, sizeof(rnd), out);
    return 0;
}

static void token_key(const char *token, uint8_t key[32])
{
    unsigned int n = 32;

    if (!EVP_Digest(token, strlen(token), key, &n, EVP_sha256(), NULL))
        memset(key, 0, 32);
}

static void session_encode(struct cv_buf *b, const struct srv_session *s)
{
    cv_buf_u8(b, REC_VERSION);
    cv_buf_str16(b, s->user);
    cv_buf_u8(b, s->kind);
    cv_buf_be64(b, (uint64_t)s->created_us);
    cv_buf_be64(b, (uint64_t)s->expires_us);
    cv_buf_str16(b, s->csrf);
}

static int session_decode(const void *k, const void *v, size_t len, struct srv_session *s,
                          struct cv_err *err)
{
    struct cv_rd r;

    memset(s, 0, sizeof(*s));
    memcpy(s->key, k, 32);
    cv_rd_init(&r, v, len);
    if (cv_rd_u8(&r) != REC_VERSION)
        return cv_errf(err, CV_ECORRUPT, "index: session record of unknown version");
    cv_rd_str16(&r, s->user, sizeof(s->user));
    s->kind = cv_rd_u8(&r);
    s->created_us = (int64_t)cv_rd_be64(&r);
    s->expires_us = (int64_t)cv_rd_be64(&r);
    cv_rd_str16(&r, s->csrf, sizeof(s->csrf));
    if (r.bad || r.off != r.len)
        return cv_errf(err, CV_ECORRUPT, "index: session record is malformed");
    return 0;
}

int srv_session_create(struct idx_txn *t, const char *user, enum srv_session_kind kind,
                       int64_t now_us, int64_t lifetime_us, char *token, struct srv_session *out,
                       struct cv_err *err)
{
    struct cv_buf b;
    int rc;

    memset(out, 0, sizeof(*out));
    if (cv_strlcpy(out->user, user, sizeof(out->user)) < 0)
        return cv_errf(err, CV_EINVAL, "user name too long");
    out->kind = (uint8_t)kind;
    out->created_us = now_us;
    out->expires_us = now_us + lifetime_us;
    rc = random_token(token, err);
    if (rc == 0 && kind == SRV_SESSION_COOKIE)
        rc = random_token(out->csrf, err);
    if (rc < 0)
        return rc;
    token_key(token, out->key);
    cv_buf_init(&b, 512);
    session_encode(&b, out);
    rc = cv_buf_ok(&b) ? idx_rec_add(t, IDX_SESSIONS, out->key, 32, b.data, b.len, err)
                       : cv_errf(err, CV_ELIMIT, "session record too large");
    cv_buf_release(&b);
    return rc;
}

int srv_session_lookup(struct idx_txn *t, const char *token, int64_t now_us,
                       struct srv_session *out, struct cv_err *err)
{
    uint8_t key[32];
    struct cv_buf b;
    size_t n = token ? strlen(token) : 0;
    int rc;

    if (n != SRV_TOKEN_LEN)
        return cv_errf(err, CV_ENOENT, "invalid session");
    for (size_t i = 0; i < n; i++) {
        char c = token[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return cv_errf(err, CV_ENOENT, "invalid session");
    }
    token_key(token, key);
    cv_buf_init(&b, 1024);
    rc = idx_rec_get(t, IDX_SESSIONS, key, 32, &b, err);
    if (rc == CV_ENOENT)
        rc = cv_errf(err, CV_ENOENT, "invalid session");
    if (rc == 0)
        rc = session_decode(key, b.data, b.len, out, err);
    cv_buf_release(&b);
    if (rc == 0 && now_us >= out->expires_us)
        rc = cv_errf(err, CV_ETIMEDOUT, "session expired");
    return rc;
}

int srv_session_delete(struct idx_txn *t, const uint8_t key[32], struct cv_err *err)
{
    return idx_rec_del(t, IDX_SESSIONS, key, 32, err);
}

/* Collect keys of sessions matching a user (or expired before a time), then delete them. */
struct sel_ctx {
    const char *user;
    int64_t before_us;
    uint8_t (*keys)[32];
    size_t n, cap;
    bool oom;
};

static int sel_one(void *vctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct sel_ctx *c = vctx;
    struct srv_session s;

    if (klen != 32)
        return 0;
    if (session_decode(k, v, vlen, &s, NULL) < 0)
        return 0; /* a malformed session is never accepted; purge leaves it for inspection */
    if (c->user ? strcmp(s.user, c->user) != 0 : s.expires_us >= c->before_us)
        return 0;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? 2 * c->cap : 16;
        uint8_t(*na)[32] = realloc(c->keys, ncap * 32);
        if (!na) {
            c->oom = true;
            return 1;
        }
        c->keys = na;
        c->cap = ncap;
    }
    memcpy(c->keys[c->n++], k, 32);
    return 0;
}

static int delete_selected(struct idx_txn *t, struct sel_ctx *c, size_t *n, struct cv_err *err)
{
    int rc = idx_rec_iter(t, IDX_SESSIONS, NULL, 0, false, sel_one, c, err);

    if (rc == 0 && c->oom)
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < c->n; i++)
        rc = idx_rec_del(t, IDX_SESSIONS, c->keys[i], 32, err);
    if (n)
        *n = rc == 0 ? c->n : 0;
    free(c->keys);
    return rc;
}

int srv_session_delete_user(struct idx_txn *t, const char *user, struct cv_err *err)
{
    struct sel_ctx c = {.user = user};
    return delete_selected(t, &c, NULL, err);
}

int srv_session_purge(struct idx_txn *t, int64_t now_us, size_t *n, struct cv_err *err)
{
    struct sel_ctx c = {.before_us = now_us};
    return delete_selected(t, &c, n, err);
}

/* ---- throttling ---- */

int64_t srv_throttle_rule(uint32_t *fails, int64_t *since_us, int64_t *until_us, uint32_t limit,
                          int64_t now_us)
{
    int64_t lock;
    uint32_t over;

    if (*fails == 0 || now_us - *since_us > SRV_THROTTLE_WINDOW_US) {
        *fails = 0;
        *since_us = now_us;
    }
    if (*fails < UINT32_MAX)
        (*fails)++;
    if (*fails < limit)
        return *until_us = 0;
    over = *fails - limit; /* 0 at the limit: 60 s, then 120 s, ... up to 15 minutes */
    lock = over >= 4 ? 15 * 60 * CV_US_PER_S : (60 * CV_US_PER_S) << over;
    if (lock > 15 * 60 * CV_US_PER_S)
        lock = 15 * 60 * CV_US_PER_S;
    /* Keep the window open while locked so the count is not forgotten mid-lock. */
    *since_us = now_us;
    return *until_us = now_us + lock;
}

static bool count_recent(const struct srv_throttle_count *c, int64_t now_us)
{
    return c->fails > 0 && now_us - c->since_us <= SRV_THROTTLE_WINDOW_US;
}

int64_t srv_throttle_check(const struct srv_throttle_count *addr,
                           const struct srv_throttle_count *name,
                           const struct srv_throttle_count *pair, int64_t now_us)
{
    int64_t until = 0;

    if (addr->until_us > now_us)
        until = addr->until_us;
    if (pair->until_us > now_us && pair->until_us > until)
        until = pair->until_us;
    /* A name under attack is closed only to the addresses that have failed for it. */
    if (name->until_us > now_us && count_recent(pair, now_us) && name->until_us > until)
        until = name->until_us;
    return until ? until - now_us : 0;
}

#define ADDR_MAX 64
#define KEY_NAME_MAX (SRV_NAME_MAX + 1) /* longer names are cut here: never an account's name */

enum th_kind { TH_FREE, TH_ADDR, TH_NAME, TH_PAIR, TH_ASKS };

struct th_slot {
    uint8_t kind;
    char name[KEY_NAME_MAX + 1];
    char addr[ADDR_MAX];
    struct srv_throttle_count c;
};

struct th_waiter {
    bool used, granted;
    char addr[ADDR_MAX];
    bool clean;     /* its address had no recent failures when it came */
    uint32_t asks;  /* turns its address asked for within the window (kept up to date) */
    uint64_t seq;
};

struct srv_throttle {
    pthread_mutex_t mu;
    pthread_cond_t turn;
    struct th_slot slots[SRV_THROTTLE_SLOTS];
    /* the hashing bound */
    unsigned hashes, nrunning, nwaiting;
    char running[8][ADDR_MAX]; /* "" = free */
    struct th_waiter waiters[SRV_HASH_WAITING];
    uint64_t seq;
    uint64_t refused_throttled, refused_busy;
};

int srv_throttle_open_with(struct srv_throttle **out, unsigned hashes, struct cv_err *err)
{
    struct srv_throttle *th = calloc(1, sizeof(*th));
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    *out = NULL;
    if (!th)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    if (!hashes)
        hashes = ncpu < 1 ? 1 : (unsigned)ncpu;
    th->hashes = hashes > 8 ? 8 : hashes;
    pthread_mutex_init(&th->mu, NULL);
    pthread_cond_init(&th->turn, NULL);
    *out = th;
    return 0;
}

int srv_throttle_open(struct srv_throttle **out, struct cv_err *err)
{
    return srv_throttle_open_with(out, 0, err);
}

void srv_throttle_close(struct srv_throttle *th)
{
    if (!th)
        return;
    pthread_cond_destroy(&th->turn);
    pthread_mutex_destroy(&th->mu);
    free(th);
}

/* Keys as stored: an over-long name is cut to KEY_NAME_MAX (so it still differs from every
 * account's name), an over-long address to ADDR_MAX - 1. */
static bool slot_is(const struct th_slot *s, enum th_kind kind, const char *name, const char *addr)
{
    if (s->kind != kind)
        return false;
    if (kind != TH_ADDR && strncmp(s->name, name, KEY_NAME_MAX) != 0)
        return false;
    return kind == TH_NAME || strncmp(s->addr, addr, ADDR_MAX - 1) == 0;
}

/* A slot no longer matters once its window and lock are over. */
static bool slot_stale(const struct th_slot *s, int64_t now)
{
    return s->kind == TH_FREE || (s->c.until_us <= now && !count_recent(&s->c, now));
}

/*
 * The counter for a key, or NULL; with create, a new one in a free or stale slot, else in the
 * one whose window started longest ago. Caller holds mu.
 */
static struct th_slot *slot_find(struct srv_throttle *th, enum th_kind kind, const char *name,
                                 const char *addr, bool create, int64_t now)
{
    struct th_slot *best = NULL;

    for (int i = 0; i < SRV_THROTTLE_SLOTS; i++) {
        struct th_slot *s = &th->slots[i];
        if (slot_is(s, kind, name, addr))
            return s;
        if (!create || (best && slot_stale(best, now)))
            continue;
        if (!best || slot_stale(s, now) || s->c.since_us < best->c.since_us)
            best = s;
    }
    if (best) {
        memset(best, 0, sizeof(*best));
        best->kind = (uint8_t)kind;
        if (kind != TH_ADDR)
            snprintf(best->name, sizeof(best->name), "%s", name);
        if (kind != TH_NAME)
            snprintf(best->addr, sizeof(best->addr), "%s", addr);
    }
    return best;
}

static struct srv_throttle_count slot_count(struct srv_throttle *th, enum th_kind kind,
                                            const char *name, const char *addr, int64_t now)
{
    struct th_slot *s = slot_find(th, kind, name, addr, false, now);
    struct srv_throttle_count zero = {0, 0, 0};

    return s ? s->c : zero;
}

int64_t srv_throttle_wait(struct srv_throttle *th, const char *name, const char *addr,
                          int64_t now_us)
{
    struct srv_throttle_count a, n, p;
    int64_t wait;

    if (!th || !addr)
        return 0;
    if (!name)
        name = "";
    pthread_mutex_lock(&th->mu);
    a = slot_count(th, TH_ADDR, name, addr, now_us);
    n = slot_count(th, TH_NAME, name, addr, now_us);
    p = slot_count(th, TH_PAIR, name, addr, now_us);
    wait = srv_throttle_check(&a, &n, &p, now_us);
    if (wait > 0)
        th->refused_throttled++;
    pthread_mutex_unlock(&th->mu);
    return wait;
}

void srv_throttle_fail(struct srv_throttle *th, const char *name, const char *addr,
                       int64_t now_us)
{
    static const struct {
        enum th_kind kind;
        uint32_t limit;
    } counters[] = {{TH_ADDR, SRV_THROTTLE_ADDR_FAILS}, {TH_NAME, SRV_THROTTLE_NAME_FAILS},
                    {TH_PAIR, SRV_THROTTLE_PAIR_FAILS}};

    if (!th || !addr)
        return;
    if (!name)
        name = "";
    pthread_mutex_lock(&th->mu);
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        struct th_slot *s = slot_find(th, counters[i].kind, name, addr, true, now_us);
        if (s)
            srv_throttle_rule(&s->c.fails, &s->c.since_us, &s->c.until_us, counters[i].limit,
                              now_us);
    }
    pthread_mutex_unlock(&th->mu);
}

void srv_throttle_ok(struct srv_throttle *th, const char *name, const char *addr)
{
    struct th_slot *s;

    if (!th || !addr || !name)
        return;
    pthread_mutex_lock(&th->mu);
    s = slot_find(th, TH_PAIR, name, addr, false, 0);
    if (s)
        memset(s, 0, sizeof(*s));
    pthread_mutex_unlock(&th->mu);
}

/* ---- the hashing bound ---- */

/* Hashes running and waiting for addr; caller holds mu. */
static unsigned addr_running(const struct srv_throttle *th, const char *addr)
{
    unsigned n = 0;

    for (unsigned i = 0; i < th->hashes; i++)
        n += th->running[i][0] && strncmp(th->running[i], addr, ADDR_MAX - 1) == 0;
    return n;
}

static unsigned addr_inflight(const struct srv_throttle *th, const char *addr)
{
    unsigned n = addr_running(th, addr);

    for (int i = 0; i < SRV_HASH_WAITING; i++)
        n += th->waiters[i].used && strncmp(th->waiters[i].addr, addr, ADDR_MAX - 1) == 0;
    return n;
}

/* Count a request for a turn from addr (TH_ASKS: fails = requests within the window, since =
 * the first) and return the count; the address's waiters see it. Caller holds mu. */
static uint32_t addr_ask(struct srv_throttle *th, const char *addr, int64_t now)
{
    struct th_slot *s = slot_find(th, TH_ASKS, "", addr, true, now);
    uint32_t n = 1;

    if (s) {
        if (s->c.fails == 0 || now - s->c.since_us > SRV_THROTTLE_WINDOW_US) {
            s->c.fails = 0;
            s->c.since_us = now;
        }
        if (s->c.fails < UINT32_MAX)
            s->c.fails++;
        n = s->c.fails;
    }
    for (int i = 0; i < SRV_HASH_WAITING; i++)
        if (th->waiters[i].used && strncmp(th->waiters[i].addr, addr, ADDR_MAX - 1) == 0)
            th->waiters[i].asks = n;
    return n;
}

static void run_add(struct srv_throttle *th, const char *addr)
{
    for (unsigned i = 0; i < th->hashes; i++)
        if (!th->running[i][0]) {
            snprintf(th->running[i], ADDR_MAX, "%s", addr[0] ? addr : "-");
            break;
        }
    th->nrunning++;
}

/* Hand free turns to waiters: fewest hashes running for their address first, then addresses
 * without recent failures, then those that asked for the fewest turns lately, then the longest
 * waiting.
 * Caller holds mu. */
static bool waiter_before(const struct th_waiter *a, unsigned arun, const struct th_waiter *b,
                          unsigned brun)
{
    if (arun != brun)
        return arun < brun;
    if (a->clean != b->clean)
        return a->clean;
    if (a->asks != b->asks)
        return a->asks < b->asks;
    return a->seq < b->seq;
}

static void grant_turns(struct srv_throttle *th)
{
    bool any = false;

    while (th->nrunning < th->hashes) {
        struct th_waiter *best = NULL;
        unsigned best_run = 0;
        for (int i = 0; i < SRV_HASH_WAITING; i++) {
            struct th_waiter *w = &th->waiters[i];
            unsigned run;
            if (!w->used || w->granted)
                continue;
            run = addr_running(th, w->addr);
            if (!best || waiter_before(w, run, best, best_run)) {
                best = w;
                best_run = run;
            }
        }
        if (!best)
            break;
        best->granted = true;
        run_add(th, best->addr);
        any = true;
    }
    if (any)
        pthread_cond_broadcast(&th->turn);
}

int srv_hash_enter(struct srv_throttle *th, const char *addr, struct cv_err *err)
{
    struct th_waiter *w = NULL;
    struct timespec deadline;
    uint32_t asks;
    int rc = 0;

    if (!th)
        return 0;
    if (!addr)
        addr = "";
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += SRV_HASH_WAIT_US / CV_US_PER_S;
    pthread_mutex_lock(&th->mu);
    asks = addr[0] ? addr_ask(th, addr, cv_now_us()) : 0;
    if (addr[0] && addr_inflight(th, addr) >= SRV_HASH_PER_ADDR)
        goto busy;
    if (th->nrunning < th->hashes && th->nwaiting == 0) {
        run_add(th, addr);
        goto out;
    }
    for (int i = 0; i < SRV_HASH_WAITING && !w; i++)
        if (!th->waiters[i].used)
            w = &th->waiters[i];
    if (!w)
        goto busy;
    memset(w, 0, sizeof(*w));
    w->used = true;
    snprintf(w->addr, sizeof(w->addr), "%s", addr[0] ? addr : "-");
    {
        struct th_slot *s = addr[0] ? slot_find(th, TH_ADDR, "", addr, false, 0) : NULL;
        w->clean = !s || s->c.fails == 0;
        w->asks = asks;
    }
    w->seq = th->seq++;
    th->nwaiting++;
    grant_turns(th);
    while (!w->granted)
        if (pthread_cond_timedwait(&th->turn, &th->mu, &deadline) == ETIMEDOUT && !w->granted)
            break;
    th->nwaiting--;
    w->used = false;
    if (w->granted)
        goto out;
busy:
    th->refused_busy++;
    rc = cv_errf(err, CV_ETIMEDOUT, "too many logins at once: try again in a second");
out:
    pthread_mutex_unlock(&th->mu);
    return rc;
}

void srv_hash_leave(struct srv_throttle *th, const char *addr)
{
    if (!th)
        return;
    if (!addr || !addr[0])
        addr = "-";
    pthread_mutex_lock(&th->mu);
    for (unsigned i = 0; i < th->hashes; i++)
        if (strncmp(th->running[i], addr, ADDR_MAX - 1) == 0) {
            th->running[i][0] = 0;
            break;
        }
    th->nrunning--;
    grant_turns(th);
    pthread_mutex_unlock(&th->mu);
}

void srv_throttle_stats(struct srv_throttle *th, struct srv_throttle_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!th)
        return;
    pthread_mutex_lock(&th->mu);
    out->refused_throttled = th->refused_throttled;
    out->refused_busy = th->refused_busy;
    out->running = th->nrunning;
    out->waiting = th->nwaiting;
    out->hashes = th->hashes;
    pthread_mutex_unlock(&th->mu);
}

/* ---- login ---- */

static int login_audit(struct idx_txn *t, const char *name, const char *role, const char *action,
                       const char *addr, const char *why, const char *area, struct cv_err *err)
{
    char detail[160];
    struct srv_audit_entry e = {.user = name, .role = role, .action = action,
                                .target = name, .detail = detail, .area = area};

    snprintf(detail, sizeof(detail), "from %s%s%s", addr ? addr : "?", why ? ": " : "",
             why ? why : "");
    return srv_audit_append(t, &e, NULL, err);
}

int srv_login(struct idx *idx, struct srv_throttle *th, const char *name, const char *password,
              const char *addr, int64_t now, struct srv_session *sess, char *token,
              struct srv_user *user, int64_t *retry_after_us, struct cv_err *err)
{
    /* A hash of a random password at the default cost, so an unknown user costs the same. */
    static const char dummy[] = "scrypt$15$8$1$00000000000000000000000000000000$"
                                "0000000000000000000000000000000000000000000000000000000000000000";
    struct idx_txn *t = NULL;
    struct srv_user u;
    bool known, ok = false;
    int64_t wait;
    int rc;

    *retry_after_us = 0;
    if (!name)
        name = "";
    /* Known and unknown names take the same path up to the write: same answers, same time. */
    wait = srv_throttle_wait(th, name, addr, now);
    if (wait > 0) {
        *retry_after_us = wait;
        return cv_errf(err, CV_ELIMIT, "too many failed logins: try again in %lld s",
                       (long long)((wait + CV_US_PER_S - 1) / CV_US_PER_S));
    }
    rc = idx_begin(idx, false, &t, err);
    if (rc < 0)
        return rc;
    rc = srv_user_get(t, name, &u, err);
    idx_abort(t);
    t = NULL;
    if (rc < 0 && rc != CV_ENOENT)
        return rc;
    known = rc == 0;
    rc = srv_hash_enter(th, addr, err);
    if (rc < 0) {
        *retry_after_us = CV_US_PER_S;
        return rc;
    }
    rc = srv_password_verify(password ? password : "", known ? u.pwhash : dummy, &ok, err);
    srv_hash_leave(th, addr);
    if (rc < 0)
        return rc;
    ok = ok && known;

    /* The outcome, in one write transaction: session and audit record. */
    rc = idx_begin(idx, true, &t, err);
    if (rc < 0)
        return rc;
    if (known && (rc = srv_user_get(t, name, &u, err)) < 0)
        goto out;
    if (!ok) {
        srv_throttle_fail(th, name, addr, now);
        /* The name tried is recorded only when it is an account (a mistyped password in the
         * name field must not end up in the log). */
        rc = login_audit(t, known ? u.name : "", known ? srv_role_name(u.role) : "-",
                         "login-failed", addr, known ? "wrong password" : "unknown user",
                         known ? u.area : NULL, err);
        if (rc == 0)
            rc = idx_commit(t, err);
        else
            idx_abort(t);
        t = NULL;
        if (rc < 0)
            return rc;
        return cv_errf(err, CV_EINVAL, "wrong user name or password");
    }
    srv_throttle_ok(th, name, addr);
    if (u.disabled) {
        rc = cv_errf(err, CV_ESTATE, "account disabled");
        goto out;
    }
    u.fails = 0;
    u.fail_since_us = 0;
    u.locked_until_us = 0;
    u.last_login_us = now;
    rc = srv_user_put(t, &u, err);
    if (rc == 0)
        rc = srv_session_create(t, u.name, SRV_SESSION_COOKIE, now, SRV_SESSION_COOKIE_US, token,
                                sess, err);
    if (rc == 0)
        rc = login_audit(t, u.name, srv_role_name(u.role), "login", addr, NULL, u.area, err);
    if (rc == 0) {
        rc = idx_commit(t, err);
        t = NULL;
    }
    if (rc == 0)
        *user = u;
out:
    idx_abort(t);
    return rc;
}
