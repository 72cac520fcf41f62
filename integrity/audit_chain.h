/*
 * audit_chain.h: the audit log's hash chain over the index's `audit` store: the stored record's
 * layout, reading it back, the head a checkpoint signs, and the checks that the chain holds.
 *
 * The audit log itself (what is recorded, the canonical line, appending, group commit, the HTTP
 * and command-line views) is server/audit.h; this is the part that recording, export and
 * verification need too, so it sits below them all (docs/architecture.md).
 *
 * A record is key be64 sequence (1, 2, 3, ...) -> value "u8 version (ITG_AUDIT_REC_VERSION),
 * hash[32], canonical line" with hash_n = SHA-256(hash_{n-1} || line_n), hash_0 = 32 zero bytes
 * (itg_audit_link, integrity/chain.h). The line is a JSON object that names its own sequence:
 * {"seq":41,"time":"...","time_us":...,"user":"...","role":"...","action":"...","target":"...",
 * "case":"...","detail":"..."}. Editing, removing or reordering a record breaks the chain at that
 * record; removing records from the end does not, which is why checkpoints sign the head.
 *
 * Threads: reentrant; each function works inside the caller's transaction (a read transaction
 * is enough for all but appending) and keeps nothing after it returns.
 */
#ifndef ITG_AUDIT_CHAIN_H
#define ITG_AUDIT_CHAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/json.h"
#include "indexer/idx.h"
#include "integrity/checkpoint.h" /* struct itg_cp_audit */

#define ITG_AUDIT_REC_VERSION 1
#define ITG_AUDIT_LINE_MAX 16384 /* longest canonical line (escaping grows fields six-fold) */

/* A stored record as read back by itg_audit_decode. The strings point into memory the struct
 * owns until itg_audit_rec_release. */
struct itg_audit_rec {
    uint64_t seq;
    int64_t time_us;
    const char *user, *role, *action, *target, *case_id, *detail;
    const char *area; /* the acting user's area, "" when the line has none (a newer member) */
    const char *line; /* the canonical line (NUL-terminated) */
    uint8_t hash[32];
    uint8_t prev[32]; /* the previous record's hash (zeros for seq 1); set by the reader */
    struct cv_json *doc_; /* private: the parsed line */
    char *buf_;           /* private: the line's copy */
};

/*
 * Decode one stored record (key k, value v as the store holds them) into *r: 0, or CV_ECORRUPT
 * naming the sequence and what is wrong (malformed value, the line is not JSON, lacks a member,
 * names another sequence), CV_ENOMEM. r->prev is left zero. Release *r in either case.
 */
int itg_audit_decode(const void *k, size_t klen, const void *v, size_t vlen,
                     struct itg_audit_rec *r, struct cv_err *err);
void itg_audit_rec_release(struct itg_audit_rec *r); /* NULL-safe; safe on a zeroed struct */

/* The newest record's sequence and hash: 0 and 32 zeros when the log is empty; CV_ECORRUPT when
 * the newest record is malformed. */
int itg_audit_head(struct idx_txn *txn, uint64_t *seq, uint8_t hash[32], struct cv_err *err);

/*
 * The lines of a package's custody/audit.chain for records from..to (docs/evidence.md):
 * "<seq> <hash hex>\n" per record, each link recomputed on the way; at the first record that is
 * missing or does not recompute, "broken <seq>\n" and stop. A log that ends before `to` simply
 * ends (the verifier names it). Appended to *out (check cv_buf_ok).
 */
int itg_audit_chain(struct idx_txn *txn, uint64_t from, uint64_t to, struct cv_buf *out,
                    struct cv_err *err);

/*
 * Check the whole chain: dense sequence numbers from 1, each record decodes and names its own
 * sequence, each hash is SHA-256(previous hash || line). Returns 0 with *records set when it
 * holds; CV_ECORRUPT when it does not, with *first_bad the first bad sequence and a message
 * saying what is wrong with it ("audit record 17: its hash does not match ...").
 */
int itg_audit_verify(struct idx_txn *txn, uint64_t *records, uint64_t *first_bad,
                     struct cv_err *err);

/*
 * Check the log against the head a signed checkpoint holds (integrity/checkpoint.h: checkpoint
 * `cp_seq` signed record `seq` with hash `hash`): the log must reach record `seq` and that
 * record's hash must be `hash`. Deleting records from the end of the log leaves a chain that
 * itg_audit_verify accepts; this catches it. Returns 0 when it holds; CV_ECORRUPT naming what
 * is wrong ("audit log ends at record 40 but checkpoint 7 signed record 45", or "audit record
 * 45: hash differs from the one checkpoint 7 signed ..."). seq 0 (an empty log signed) holds.
 */
int itg_audit_check_head(struct idx_txn *txn, uint64_t cp_seq, uint64_t seq,
                         const uint8_t hash[32], struct cv_err *err);

/*
 * itg_audit_verify, then the log against the newest checkpoint of the index (its signature
 * checked with ROOT/keys/signing.pem, integrity/checkpoint.h) with itg_audit_check_head. *cp
 * gets that checkpoint: cp->cp_seq 0 when there is none yet, !cp->has_audit when an older
 * camvault wrote it (both hold: the log's end is then simply not signed yet). CV_ECORRUPT as
 * the two functions say (*first_bad 0 when the chain held but not up to the signed head).
 */
int itg_audit_verify_signed(struct idx_txn *txn, const char *root, uint64_t *records,
                            uint64_t *first_bad, struct itg_cp_audit *cp, struct cv_err *err);

#endif
