/*
 * users.h: accounts, passwords, sessions, bearer tokens and login throttling of camvault's
 * HTTP server and command line (`camvault user ...`).
 *
 * Accounts live in the index's `users` store (key: the name), sessions and bearer tokens in
 * `sessions` (key: SHA-256 of the token; the token itself is never stored). Passwords are
 * hashed with scrypt through OpenSSL 3's EVP_KDF (default N = 2^15, r = 8, p = 1: 32 MiB and
 * about 0.1 s per check, a fresh 16-byte salt per password) and stored as
 * "scrypt$<log2 N>$<r>$<p>$<salt hex>$<hash hex>"; checks compare in constant time.
 *
 * Login throttling: a user name with 5 failures within 15 minutes is locked for 60 s, doubling
 * per further failure up to 15 minutes (kept in the account, so it survives restarts); a client
 * address with 20 failures within 15 minutes likewise (kept in memory by struct srv_throttle).
 * While locked even the right password is refused.
 *
 * Record layouts (all integers big-endian, strings be16 length + bytes):
 *   user:    u8 1, name, u8 role, u8 disabled, be64 created µs, be64 last login µs, pwhash,
 *            be32 failures, be64 first failure µs, be64 locked until µs
 *   session: u8 1, user, u8 kind, be64 created µs, be64 expires µs, csrf token
 *
 * Threads: functions taking a txn follow idx.h's rules; struct srv_throttle is thread-safe.
 */
#ifndef SRV_USERS_H
#define SRV_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "indexer/idx.h"

/* Roles are bits so that a route can allow a set of them. */
enum srv_role {
    SRV_ROLE_ADMIN = 1,
    SRV_ROLE_OFFICER = 2,
    SRV_ROLE_MEDIATOR = 4,
    SRV_ROLE_RESIDENT = 8,
};
#define SRV_ROLES_ALL (SRV_ROLE_ADMIN | SRV_ROLE_OFFICER | SRV_ROLE_MEDIATOR | SRV_ROLE_RESIDENT)

const char *srv_role_name(unsigned role); /* "admin", ...; "?" for anything else */
/* 0 and *out, or CV_EINVAL "unknown role 'x' (admin, officer, mediator or resident)". */
int srv_role_parse(const char *s, enum srv_role *out, struct cv_err *err);

#define SRV_NAME_MAX 32
#define SRV_PWHASH_MAX 160
#define SRV_PASSWORD_MIN 10
#define SRV_PASSWORD_MAX 256

struct srv_user {
    char name[SRV_NAME_MAX + 1];
    enum srv_role role;
    bool disabled;
    int64_t created_us, last_login_us;
    char pwhash[SRV_PWHASH_MAX];
    uint32_t fails;          /* failed logins in the current window */
    int64_t fail_since_us;   /* start of that window */
    int64_t locked_until_us; /* logins refused before this time */
};

/* 1-32 of [a-z0-9._-], starting with a letter or digit; CV_EINVAL naming the problem. */
int srv_user_name_check(const char *name, struct cv_err *err);
/* SRV_PASSWORD_MIN..SRV_PASSWORD_MAX bytes, no NUL/control characters. */
int srv_password_check(const char *pw, struct cv_err *err);

/* scrypt cost; srv_kdf_default is N = 2^15, r = 8, p = 1. */
struct srv_kdf {
    unsigned log2n, r, p;
};
extern const struct srv_kdf srv_kdf_default;

/* Hash pw with a fresh salt into out[SRV_PWHASH_MAX]; kdf NULL: the default cost. */
int srv_password_hash(const char *pw, const struct srv_kdf *kdf, char *out, struct cv_err *err);
/* *ok = whether pw matches `stored` (constant-time compare). CV_EINVAL for a malformed hash. */
int srv_password_verify(const char *pw, const char *stored, bool *ok, struct cv_err *err);
/* A random password of 20 characters from an unambiguous alphabet, into out[21]. */
int srv_password_generate(char out[21], struct cv_err *err);

/* ---- accounts (index `users` store) ---- */
int srv_user_add(struct idx_txn *txn, const struct srv_user *u, struct cv_err *err); /* EEXIST */
int srv_user_put(struct idx_txn *txn, const struct srv_user *u, struct cv_err *err);
/* CV_ENOENT "unknown user 'x'". */
int srv_user_get(struct idx_txn *txn, const char *name, struct srv_user *out, struct cv_err *err);
/* All accounts in name order; *out malloc'd, caller frees. */
int srv_user_list(struct idx_txn *txn, struct srv_user **out, size_t *n, struct cv_err *err);

/* ---- sessions and bearer tokens ---- */
#define SRV_TOKEN_LEN 43 /* 32 random bytes, base64url without padding */
#define SRV_SESSION_COOKIE_US (INT64_C(12) * 3600 * 1000000)

enum srv_session_kind { SRV_SESSION_COOKIE = 1, SRV_SESSION_BEARER = 2 };

struct srv_session {
    uint8_t key[32]; /* SHA-256 of the token: the store's key */
    char user[SRV_NAME_MAX + 1];
    uint8_t kind;
    int64_t created_us, expires_us;
    char csrf[SRV_TOKEN_LEN + 1]; /* "" for bearer tokens */
};

/*
 * Create a session (or bearer token) for `user` valid for lifetime_us from now_us. The token is
 * written to token[SRV_TOKEN_LEN + 1] (show it once; only its hash is stored), the record to *out.
 */
int srv_session_create(struct idx_txn *txn, const char *user, enum srv_session_kind kind,
                       int64_t now_us, int64_t lifetime_us, char *token, struct srv_session *out,
                       struct cv_err *err);
/*
 * The session of a presented token: CV_ENOENT "invalid session" when malformed or unknown,
 * CV_ETIMEDOUT "session expired" when past its expiry (*out is filled in both success and
 * expiry cases).
 */
int srv_session_lookup(struct idx_txn *txn, const char *token, int64_t now_us,
                       struct srv_session *out, struct cv_err *err);
int srv_session_delete(struct idx_txn *txn, const uint8_t key[32], struct cv_err *err);
/* Delete every session and token of `user` (password or role change, disabling). */
int srv_session_delete_user(struct idx_txn *txn, const char *user, struct cv_err *err);
/* Delete sessions that expired before now_us; *n (may be NULL) gets how many. */
int srv_session_purge(struct idx_txn *txn, int64_t now_us, size_t *n, struct cv_err *err);

/* ---- login throttling ---- */
#define SRV_THROTTLE_WINDOW_US (INT64_C(15) * 60 * 1000000)
#define SRV_THROTTLE_USER_FAILS 5
#define SRV_THROTTLE_ADDR_FAILS 20

/*
 * The throttling rule for one counter: note a failure at now_us (*fails, *since and *until are
 * the counter's state) and return the new lock end (0: not locked).
 */
int64_t srv_throttle_rule(uint32_t *fails, int64_t *since_us, int64_t *until_us, uint32_t limit,
                          int64_t now_us);

struct srv_throttle; /* per client address, in memory, bounded (oldest entries recycled) */
int srv_throttle_open(struct srv_throttle **out, struct cv_err *err);
void srv_throttle_close(struct srv_throttle *th); /* NULL-safe */
/* µs until `addr` may try again (0: now). */
int64_t srv_throttle_wait(struct srv_throttle *th, const char *addr, int64_t now_us);
void srv_throttle_fail(struct srv_throttle *th, const char *addr, int64_t now_us);

/*
 * A whole login: throttling, password check (scrypt, run outside the write lock; an unknown user
 * costs the same), then in one write transaction the user's failure count or last login, a new
 * cookie session and a `login` / `login-failed` audit record (detail: the client address).
 * Returns 0 with *sess, token[SRV_TOKEN_LEN + 1] and *user filled; CV_EINVAL "wrong user name or
 * password"; CV_ESTATE "account disabled"; CV_ELIMIT "too many failed logins ..." with
 * *retry_after_us; other codes for index errors. th may be NULL (no per-address throttling).
 */
int srv_login(struct idx *idx, struct srv_throttle *th, const char *name, const char *password,
              const char *addr, int64_t now_us, struct srv_session *sess, char *token,
              struct srv_user *user, int64_t *retry_after_us, struct cv_err *err);

#endif
