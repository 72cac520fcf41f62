/*
 * audit.h: camvault's hash-chained audit log (the `audit` store of the index).
 *
 * Every login, view of footage, export, hold, release, request decision and configuration change
 * is one record: sequence (1, 2, 3, ...), time (µs UTC), user, role, action, target, case and
 * detail. A record is stored as one canonical text line, a JSON object with the members in this
 * fixed order and no spaces:
 *
 *   {"seq":41,"time":"2026-11-22T09:30:00.123456Z","time_us":1795339800123456,"user":"alice",
 *    "role":"officer","action":"view-timeline","target":"camera gate-3 ...","case":"",
 *    "detail":""}
 *
 * and, when the acting user has an area (issue 13), one more member at the end: ,"area":"town-1".
 *
 * plus hash_n = SHA-256(hash_{n-1} || line_n), hash_0 = 32 zero bytes. Editing, removing or
 * reordering a record breaks the chain at that record (itg_audit_verify names it); appending is
 * the only change the API offers. Value layout in the store: u8 version (1), hash[32], line.
 *
 * Threads and processes: appends take the index's write lock (LMDB: one writer across
 * processes), so the server and the command line can append concurrently; sequence numbers are
 * dense and ordered by commit. Pointers in callbacks die when the callback returns.
 */
#ifndef SRV_AUDIT_H
#define SRV_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "integrity/audit_chain.h"
#include "indexer/idx.h"

#define SRV_AUDIT_USER_MAX 64
#define SRV_AUDIT_ACTION_MAX 32
#define SRV_AUDIT_TARGET_MAX 512
#define SRV_AUDIT_CASE_MAX 128
#define SRV_AUDIT_DETAIL_MAX 1024
#define SRV_AUDIT_LINE_MAX ITG_AUDIT_LINE_MAX /* escaping can grow the fields six-fold */

/* What to record. NULL strings are "". Longer strings are cut at the limits above (target and
 * detail get a trailing "..." so the cut is visible). time_us 0: now. */
struct srv_audit_entry {
    int64_t time_us;
    const char *user;   /* account name, or the OS user for the command line */
    const char *role;   /* admin | officer | mediator | resident | cli | - (not logged in) */
    const char *action; /* "view-timeline", "hold-add", ... (docs/api.md lists them) */
    const char *target; /* what was acted on: "camera gate-3 <from>..<to>", "hold 7", ... */
    const char *case_id;
    const char *detail;
    const char *area; /* the acting user's area (areas.h); NULL or "": none, not written */
};

/* A stored record as read back: struct itg_audit_rec (integrity/audit_chain.h); in callbacks
 * its strings die when the callback returns. */

/*
 * Append one record inside the caller's write transaction, so that a change and its audit
 * record commit together (or not at all). *seq (may be NULL) gets its sequence number.
 */
int srv_audit_append(struct idx_txn *txn, const struct srv_audit_entry *e, uint64_t *seq,
                     struct cv_err *err);
/* The same in a write transaction of its own. The server appends views (which change nothing
 * else) through a writer instead (below), which shares transactions between requests. */
int srv_audit_log(struct idx *idx, const struct srv_audit_entry *e, uint64_t *seq,
                  struct cv_err *err);

/*
 * Group commit for records that need a write transaction of their own (views of footage, which
 * change nothing else). Each LMDB commit syncs the index to disk, and the write lock serializes
 * commits across threads and processes, so with one transaction per record the rate of views is
 * the rate of syncs. A writer lets concurrent callers share one: a caller queues its record and
 * waits; whichever caller finds no commit under way takes every queued record (up to
 * SRV_AUDIT_BATCH_MAX, oldest first), appends them in one write transaction in queue order and
 * commits it, then wakes the callers whose records it committed. Records that arrive meanwhile
 * wait for the next transaction, so the more callers wait, the more share a sync.
 *
 * srv_audit_writer_log returns only once the caller's own record is committed (synced, like
 * srv_audit_log), so a view answered after it returned 0 is never lost. The chain is unchanged:
 * within the transaction each record follows the one before it. If a shared transaction fails
 * (a record cannot be appended, or the commit fails), nothing of it is stored and every record
 * of the batch is retried in a transaction of its own, so each caller gets its own record's
 * outcome, as with srv_audit_log.
 *
 * Threads: srv_audit_writer_log may be called from any number of threads at once; the entry's
 * strings are read by whichever thread commits, while their owner waits. Open and close from
 * one thread, close only when no call is under way.
 */
#define SRV_AUDIT_BATCH_MAX 256 /* records per shared transaction; more wait for the next */

struct srv_audit_writer;

int srv_audit_writer_open(struct srv_audit_writer **out, struct idx *idx, struct cv_err *err);
void srv_audit_writer_close(struct srv_audit_writer *w); /* NULL-safe */
/* Append one record as srv_audit_log does, sharing the transaction with concurrent callers. */
int srv_audit_writer_log(struct srv_audit_writer *w, const struct srv_audit_entry *e, uint64_t *seq,
                         struct cv_err *err);

/* What a writer has done since it was opened (for /metrics and tests). */
struct srv_audit_writer_stats {
    uint64_t records;      /* committed */
    uint64_t transactions; /* committed (records / transactions: the mean batch) */
    uint64_t retried;      /* records retried alone after a shared transaction failed */
    uint64_t queued;       /* records waiting now, not yet taken by a transaction */
    uint64_t writing;      /* records in the transaction under way now (0: none) */
};
void srv_audit_writer_stats(struct srv_audit_writer *w, struct srv_audit_writer_stats *out);

/* Which records srv_audit_iter gives: all matching filters, in sequence order. */
struct srv_audit_filter {
    const char *case_id; /* NULL: any case */
    int64_t since_us;    /* records at or after this time; 0: all */
    uint64_t after_seq;  /* records with a greater sequence; 0: from the first */
    uint64_t limit;      /* stop after this many (0: no limit) */
    const char *area;    /* NULL or "": any; else records whose area lies within it */
};
/* Called per record; nonzero stops the iteration and is returned. */
typedef int (*srv_audit_cb)(void *ctx, const struct itg_audit_rec *r);
/* A record that cannot be decoded is CV_ECORRUPT naming its sequence (run verify). */
int srv_audit_iter(struct idx_txn *txn, const struct srv_audit_filter *f, srv_audit_cb cb,
                   void *ctx, struct cv_err *err);

/* The chain's checks (the whole chain, the head a checkpoint signed) are itg_audit_verify,
 * itg_audit_check_head and itg_audit_verify_signed in integrity/audit_chain.h. */

/*
 * The audit lines of one case as text, for an export package's custody/ folder: one line per
 * record, "<seq> <previous hash hex> <hash hex> <canonical line>\n", in sequence order, appended
 * to *out. Each can be checked by hand: hash = SHA-256(bytes of previous hash || line).
 */
int srv_audit_case_lines(struct idx_txn *txn, const char *case_id, struct cv_buf *out,
                         struct cv_err *err);

/* The record as one JSON object for the API and `camvault audit --json`: the line's members
 * plus "time_local", "hash" and "area" (null when the record has none). */
void srv_audit_json(struct cv_buf *b, const struct itg_audit_rec *r);
/* The records f selects as srv_audit_json objects separated by commas, appended to b (the caller
 * writes the brackets around them): 0 with *n the number written and *last the sequence of the
 * last one (unchanged when none), or srv_audit_iter's error. It stops when b is full (b then
 * says so: cv_buf_ok is false). */
int srv_audit_json_list(struct idx_txn *txn, const struct srv_audit_filter *f, struct cv_buf *b,
                        size_t *n, uint64_t *last, struct cv_err *err);

#endif
