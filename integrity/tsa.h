/*
 * tsa.h: RFC 3161 time stamps for signed checkpoints.
 *
 * When camvault.conf names a time-stamp authority (`tsa_url = http://host:port/path`), the
 * recorder's checkpoint thread (integrity/checkpointer.h) asks it to stamp every checkpoint
 * right after signing it: the stamped bytes are the checkpoint block up to and including its
 * "signature <base64>\n" line, and the token (the TSA's signed TimeStampToken, DER) is appended
 * to the block in the ledger as a line "timestamp <base64>". Anyone can then show that the
 * checkpoint, and every chain head it names, existed at the TSA's time, independently of the
 * site's clock. A TSA that does not answer
 * (5 s) or refuses costs the stamp, never the checkpoint: the block is kept without it and the
 * recorder logs why ("checkpoint not time-stamped: ...").
 *
 * The TSA's CA certificate, put by the operator at ROOT/keys/tsa.pem, goes into every package as
 * certs/tsa.pem; verify checks each token against it (or, without it, only that the token
 * matches the block, and says so). Plain HTTP is what RFC 3161 over HTTP uses; the token is
 * itself signed, so the transport needs no protection.
 *
 * Threads: reentrant.
 */
#ifndef ITG_TSA_H
#define ITG_TSA_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

/*
 * Ask the TSA at `url` for a token over SHA-256(data[0..len)), with a random nonce, asking for
 * its certificate; check the answer (granted, same imprint, same nonce) and append the token
 * (DER) to *token. Errors name the URL and the cause (CV_EIO unreachable or no answer within 5 s,
 * CV_ECRYPTO refused or malformed answer).
 */
int itg_tsa_stamp(const char *url, const void *data, size_t len, struct cv_buf *token,
                  struct cv_err *err);

/*
 * Check token[0..toklen) over data[0..len): the imprint, the TSA's signature and, when ca_pem
 * (PEM text, ca_len bytes) is given, that the TSA's certificate chains to it for time stamping.
 * On success fills when[] (RFC 3339 UTC of the stamp) and who[] (the TSA's subject).
 */
int itg_tsa_check(const void *data, size_t len, const uint8_t *token, size_t toklen,
                  const char *ca_pem, size_t ca_len, char *when, size_t when_n, char *who,
                  size_t who_n, struct cv_err *err);

#endif
