/*
 * checkpoint.h: signed checkpoints of every camera's hash chain head.
 *
 * A checkpoint is this text (LF line ends, no trailing spaces), then an ECDSA-SHA256 signature
 * of exactly those bytes with the site signing key:
 *
 *   camvault checkpoint 1
 *   site <site id>
 *   seq <n>                      1, 2, 3, ...
 *   time <RFC 3339 UTC, µs>
 *   prev <SHA-256 hex of the previous checkpoint's text, or 64 zeros for the first>
 *   audit <n> <hash hex>         the audit log's head: its newest record's sequence and
 *                                hash (integrity/audit_chain.h; "audit 0 <64 zeros>" while
 *                                the log is empty)
 *   clock <synchronized|unsynchronized> esterror_us <n> maxerror_us <n> source <s>
 *                                the system clock's state when it was made (common/clock.h);
 *                                checkpoints of an older camvault lack it
 *   head <camera id> <start µs of its newest segment> <chain hash hex>     one per camera
 *
 * It is stored in the index (checkpoints) and appended to ROOT/ledger/checkpoints.log as the
 * text followed by "signature <base64 DER>" and an empty line, so outside witnesses can keep
 * copies. Verify by hand: the text into t.txt, the signature base64-decoded into s.der, then
 * `openssl dgst -sha256 -verify <(openssl x509 -in keys/signing.pem -pubkey -noout)
 * -signature s.der t.txt`. The index is written first; after a crash the ledger can lack the
 * last checkpoint, never hold one the index lacks.
 *
 * The audit line makes cutting the audit log short detectable: records can be deleted from the
 * end of a hash chain without breaking it, but not below a head that a checkpoint signed
 * (`camvault audit --verify` and, for a package's custody lines, `camvault verify`). Checkpoints
 * written before the audit line existed lack it; they stay valid and are reported as such.
 */
#ifndef ITG_CHECKPOINT_H
#define ITG_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "integrity/keys.h"
#include "indexer/idx.h"

/* Make, sign and store one checkpoint at `now_us`; *seq receives its number. */
int itg_checkpoint_make(struct idx *idx, const char *root, struct itg_signer *signer,
                        int64_t now_us, uint64_t *seq, struct cv_err *err);

/*
 * The "audit <n> <hash>" line of checkpoint text `text` (len bytes, up to its signature line):
 * 0 with *seq and hash[] set; CV_ENOENT when the checkpoint has none (an older camvault wrote
 * it); CV_ECORRUPT when the line is malformed.
 */
int itg_checkpoint_audit(const char *text, size_t len, uint64_t *seq, uint8_t hash[32]);

/* What the newest checkpoint of the index signs about the audit log. */
struct itg_cp_audit {
    uint64_t cp_seq;   /* the checkpoint's sequence */
    bool has_audit;    /* false: written by an older camvault, no audit line */
    uint64_t seq;      /* the audit record it signs (0: the log was empty) */
    uint8_t hash[32];  /* that record's hash */
};
/*
 * The newest checkpoint in the index, its signature checked with ROOT/keys/signing.pem, and its
 * audit line. CV_ENOENT: no checkpoint yet; CV_ECRYPTO: the signature does not verify (the
 * message names the checkpoint); CV_ECORRUPT: its audit line is malformed. Read-only txn is fine.
 */
int itg_checkpoint_audit_last(struct idx_txn *txn, const char *root, struct itg_cp_audit *out,
                              struct cv_err *err);

#endif
