/*
 * chain.c: the segment and audit chain steps of chain.h.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "integrity/chain.h"
#include "common/buf.h"
#include "common/banned.h"

int itg_ssl_err(struct cv_err *err, const char *what)
{
    char buf[256] = "unknown OpenSSL error";
    unsigned long e = ERR_get_error();

    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return cv_errf(err, CV_ECRYPTO, "%s: %s", what, buf);
}

int itg_chain_next(const uint8_t prev[32], const char *camera, int64_t start_us, int64_t end_us,
                   const uint8_t sha256[32], uint8_t out[32], struct cv_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char what[128];
    uint8_t t[2][8];
    unsigned int len = 0;
    int ok;

    cv_put_be64(t[0], (uint64_t)start_us);
    cv_put_be64(t[1], (uint64_t)end_us);
    ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(ctx, prev, 32) == 1 &&
         EVP_DigestUpdate(ctx, camera, strlen(camera) + 1) == 1 && /* NUL as separator */
         EVP_DigestUpdate(ctx, t[0], 8) == 1 && EVP_DigestUpdate(ctx, t[1], 8) == 1 &&
         EVP_DigestUpdate(ctx, sha256, 32) == 1 && EVP_DigestFinal_ex(ctx, out, &len) == 1 &&
         len == 32;
    EVP_MD_CTX_free(ctx);
    if (ok)
        return 0;
    memset(out, 0, 32); /* never a half-made link */
    if (!ERR_peek_error()) {
        ERR_clear_error();
        return cv_errf(err, CV_ECRYPTO, "camera '%s': cannot compute the chain link: out of "
                       "memory", camera);
    }
    snprintf(what, sizeof(what), "camera '%s': cannot compute the chain link", camera);
    return itg_ssl_err(err, what);
}

int itg_audit_link(const uint8_t prev[32], const void *line, size_t len, uint8_t out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok;

    ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(c, prev, 32) == 1 &&
         EVP_DigestUpdate(c, line, len) == 1 && EVP_DigestFinal_ex(c, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(c);
    if (ok)
        return 0;
    memset(out, 0, 32);
    ERR_clear_error();
    return CV_ECRYPTO;
}
