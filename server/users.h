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
 * Login throttling (by address, by name and address, by name) and the bound on concurrent
 * password hashing are described with struct srv_throttle below.
 *
 * Record layouts (all integers big-endian, strings be16 length + bytes):
 *   user:    u8 1, name, u8 role, u8 disabled, be64 created µs, be64 last login µs, pwhash,
 *            be32 failures, be64 first failure µs, be64 locked until µs, then (newer, absent
 *            in older records) area, address
 *   session: u8 1, user, u8 kind, be64 created µs, be64 expires µs, csrf token
 *
 * Threads: functions taking a txn follow idx.h's rules; struct srv_throttle is thread-safe.
 */
#ifndef SRV_USERS_H
#define SRV_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
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
    /* Throttling state of older versions: kept in the record, no longer used (throttling is in
     * struct srv_throttle, alike for every name); zeroed at each login. */
    uint32_t fails;
    int64_t fail_since_us;
    int64_t locked_until_us;
    /* Issue 13: the user's area (server/areas.h; "" none: the whole site) and, for residents,
     * the household's address. */
    char area[LAY_ID_MAX + 1];
    char address[IDX_TEXT_MAX];
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
/* The members a USER object (API and `user list --json`) ends with, each after a comma:
 * "area" (null: none) and, for residents, "address" (null: none). */
void srv_user_area_json(struct cv_buf *b, const struct srv_user *u);

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

/* ---- login throttling and the bound on password hashing ---- */
/*
 * The throttling rule. Three failure counters, all in memory (a restart forgets them), kept alike
 * for names that are accounts and names that are not, so that no answer tells which names exist:
 *   address A:        failed logins from A for any name;
 *   pair (N, A):      failed logins for name N from address A;
 *   name N:           failed logins for N from any address.
 * Each counter counts failures within SRV_THROTTLE_WINDOW_US of the first; at its limit it locks
 * for 60 s, doubling with each further failure up to 15 minutes (srv_throttle_rule). A login for
 * N from A is refused (429, even with the right password) while
 *   A is locked (SRV_THROTTLE_ADDR_FAILS), or
 *   (N, A) is locked (SRV_THROTTLE_PAIR_FAILS), or
 *   N is locked (SRV_THROTTLE_NAME_FAILS) and (N, A) has failed within the window.
 * So a stranger who fails for N locks out only himself: the real user, from an address that has
 * not failed for N, always gets to try. A successful login clears (N, A) only. Refused attempts
 * are not counted. Bearer tokens are never throttled (they do not log in).
 */
#define SRV_THROTTLE_WINDOW_US (INT64_C(15) * 60 * 1000000)
#define SRV_THROTTLE_PAIR_FAILS 5  /* one name from one address */
#define SRV_THROTTLE_NAME_FAILS 10 /* one name from all addresses */
#define SRV_THROTTLE_ADDR_FAILS 20 /* one address, all names */
#define SRV_THROTTLE_SLOTS 8192    /* counters kept; the stalest are recycled (about 1 MiB) */

/*
 * The bound on password hashing (each scrypt takes 32 MiB): at most `hashes` at once (default:
 * the number of online processors, 1 to 8), at most SRV_HASH_WAITING more waiting for a turn (at
 * most SRV_HASH_WAIT_US each), and at most SRV_HASH_PER_ADDR running or waiting per client
 * address. A login past these is refused at once (503, Retry-After: 1). When a hash ends, the
 * turn goes to the waiter whose address has the fewest hashes running, then to one whose address
 * has no recent failures, then to one whose address asked for the fewest turns within the window
 * (refused asks count), then the longest waiting: a flood from a few addresses cannot starve a
 * quiet one, which waits for one running hash at most.
 */
#define SRV_HASH_WAITING 16
#define SRV_HASH_PER_ADDR 2
#define SRV_HASH_WAIT_US (INT64_C(10) * 1000000)

/* One failure counter. */
struct srv_throttle_count {
    uint32_t fails;   /* failures in the current window */
    int64_t since_us; /* start of the window */
    int64_t until_us; /* locked before this time (0: not locked) */
};

/*
 * The counting rule for one counter: note a failure at now_us and return the new lock end (0:
 * not locked).
 */
int64_t srv_throttle_rule(uint32_t *fails, int64_t *since_us, int64_t *until_us, uint32_t limit,
                          int64_t now_us);
/*
 * The refusal rule above, as a pure function of the three counters (all-zero when absent): µs
 * until a login for the name from the address may be tried (0: now).
 */
int64_t srv_throttle_check(const struct srv_throttle_count *addr,
                           const struct srv_throttle_count *name,
                           const struct srv_throttle_count *pair, int64_t now_us);

/* The counters and the hashing bound: in memory, bounded, thread-safe. */
struct srv_throttle;
/* With the default hashing bound; _with: at most `hashes` at once (0: the default). */
int srv_throttle_open(struct srv_throttle **out, struct cv_err *err);
int srv_throttle_open_with(struct srv_throttle **out, unsigned hashes, struct cv_err *err);
void srv_throttle_close(struct srv_throttle *th); /* NULL-safe */
/* µs until `name` may be tried from `addr` (0: now). th or addr NULL: 0. */
int64_t srv_throttle_wait(struct srv_throttle *th, const char *name, const char *addr,
                          int64_t now_us);
/* Count a failure for `name` from `addr`; srv_throttle_ok: a success (clears the pair). */
void srv_throttle_fail(struct srv_throttle *th, const char *name, const char *addr,
                       int64_t now_us);
void srv_throttle_ok(struct srv_throttle *th, const char *name, const char *addr);

/*
 * Take a turn to run one password hash for a client at `addr` (NULL: no per-address limit),
 * waiting for one if needed (see above). 0: the caller must call srv_hash_leave with the same
 * addr once the hash is done; CV_ETIMEDOUT "too many logins at once: try again in a second" when
 * refused. th NULL: always 0.
 */
int srv_hash_enter(struct srv_throttle *th, const char *addr, struct cv_err *err);
void srv_hash_leave(struct srv_throttle *th, const char *addr);

/* What /metrics shows. */
struct srv_throttle_stats {
    uint64_t refused_throttled; /* logins answered 429 */
    uint64_t refused_busy;      /* hashes refused by the bound (503) */
    unsigned running, waiting;  /* hashes now */
    unsigned hashes;            /* the bound */
};
void srv_throttle_stats(struct srv_throttle *th, struct srv_throttle_stats *out);

/*
 * A whole login: throttling, a turn to hash, the password check (scrypt, run outside the write
 * lock; an unknown name hashes a dummy and is throttled the same), then in one write transaction
 * the last login, a new cookie session and a `login` / `login-failed` audit record (detail: the
 * client address). Returns 0 with *sess, token[SRV_TOKEN_LEN + 1] and *user filled; CV_EINVAL
 * "wrong user name or password"; CV_ESTATE "account disabled"; CV_ELIMIT "too many failed logins:
 * try again in N s" with *retry_after_us; CV_ETIMEDOUT when no turn to hash (retry in 1 s); other
 * codes for index errors. th may be NULL (no throttling, no bound).
 */
int srv_login(struct idx *idx, struct srv_throttle *th, const char *name, const char *password,
              const char *addr, int64_t now_us, struct srv_session *sess, char *token,
              struct srv_user *user, int64_t *retry_after_us, struct cv_err *err);

#endif
