/*
 * keys.h: the site's signing identity, and signatures over checkpoints.
 *
 * `camvault init` creates ROOT/keys/: an ECDSA P-256 root key and self-signed root certificate
 * (published by its SHA-256 fingerprint: `camvault keys show`), and an ECDSA P-256 signing key
 * with a certificate issued by that root (digitalSignature, nonRepudiation). Keys are PEM files
 * with mode 0600 written through cv_write_atomic; certificates are PEM. Ed25519 is not used:
 * OpenSSL 3.0 cannot verify Ed25519 inside CMS, and exports will be CMS-signed.
 *
 * Threads: functions are reentrant; a struct itg_signer may be used by one thread at a time.
 */
#ifndef ITG_KEYS_H
#define ITG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

/* Create root and signing keys and certificates in ROOT/keys for site `site_id`, unless they
 * exist (then 0 and *created = 0). */
int itg_keys_create(const char *root, const char *site_id, int *created, struct cv_err *err);

/*
 * Replace the site identity with an agency-issued one: key_pem (an ECDSA P-256/P-384 or RSA of
 * at least 2048 bits private key, unencrypted PEM), cert_pem (its certificate, valid now, usable
 * for digital signatures) and chain_pem (the issuing chain: any intermediates and, last, the
 * self-signed root; the certificate must verify against it). The current certificates move to
 * ROOT/keys/retired/<UTC time>-root.pem and -signing.pem, so that checkpoints signed before
 * stay verifiable (exports carry them in certs/retired/); the old private keys are deleted. The
 * new files are ROOT/keys/signing.key (0600), signing.pem, chain.pem (intermediates, maybe
 * none) and root.pem. A running recorder signs with the old key until it is restarted.
 * Errors name the file and the cause; nothing is changed unless everything checks.
 */
int itg_keys_import(const char *root, const char *key_pem, const char *cert_pem,
                    const char *chain_pem, struct cv_err *err);

struct itg_key_info {
    char subject[256];
    char not_before[40], not_after[40]; /* RFC 3339 UTC */
    char fingerprint[96];               /* SHA-256 of the DER certificate, hex with colons */
};

/* Describe ROOT/keys/root.pem and ROOT/keys/signing.pem. */
int itg_keys_info(const char *root, struct itg_key_info *root_cert, struct itg_key_info *signing,
                  struct cv_err *err);

struct itg_signer;

/* Load ROOT/keys/signing.key for signing. */
int itg_signer_open(struct itg_signer **out, const char *root, struct cv_err *err);
void itg_signer_close(struct itg_signer *s); /* NULL-safe */

/* Have every checkpoint signed by s also time-stamped by the RFC 3161 authority at `url`
 * (integrity/tsa.h); NULL or "" for none. The string is copied. */
int itg_signer_set_tsa(struct itg_signer *s, const char *url, struct cv_err *err);
/* The URL set with itg_signer_set_tsa, or NULL. */
const char *itg_signer_tsa(const struct itg_signer *s);

/* ECDSA-SHA256 signature (DER) of `len` bytes into sig (cv_buf, appended). */
int itg_sign(struct itg_signer *s, const void *data, size_t len, struct cv_buf *sig,
             struct cv_err *err);

/* Verify a DER ECDSA-SHA256 signature with the public key of certificate file `cert_pem`:
 * 0 valid, CV_ECRYPTO invalid (message says why). */
int itg_verify_file(const char *cert_pem, const void *data, size_t len, const uint8_t *sig,
                    size_t siglen, struct cv_err *err);

#endif
