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
 *   head <camera id> <start µs of its newest segment> <chain hash hex>     one per camera
 *
 * It is stored in the index (checkpoints) and appended to ROOT/ledger/checkpoints.log as the
 * text followed by "signature <base64 DER>" and an empty line, so outside witnesses can keep
 * copies. Verify by hand: the text into t.txt, the signature base64-decoded into s.der, then
 * `openssl dgst -sha256 -verify <(openssl x509 -in keys/signing.pem -pubkey -noout)
 * -signature s.der t.txt`. The index is written first; after a crash the ledger can lack the
 * last checkpoint, never hold one the index lacks.
 */
#ifndef EXP_CHECKPOINT_H
#define EXP_CHECKPOINT_H

#include "exporter/keys.h"
#include "indexer/idx.h"

/* Make, sign and store one checkpoint at `now_us`; *seq receives its number. */
int exp_checkpoint_make(struct idx *idx, const char *root, struct exp_signer *signer,
                        int64_t now_us, uint64_t *seq, struct cv_err *err);

#endif
