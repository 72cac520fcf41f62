/*
 * tsa.c: RFC 3161 requests over HTTP (OpenSSL's TS and HTTP client) and token checks (tsa.h).
 */
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "common/cvtime.h"
#include "common/url.h"
#include "integrity/chain.h"
#include "integrity/tsa.h"
#include "common/banned.h"

#define TSA_TIMEOUT_S 5
#define TSA_MAX_REPLY (256u << 10)

/* The request: SHA-256 imprint, a 64-bit random nonce, and "send your certificate". */
static TS_REQ *make_request(const void *data, size_t len)
{
    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
    X509_ALGOR *alg = X509_ALGOR_new();
    BIGNUM *bn = BN_new();
    ASN1_INTEGER *nonce = NULL;
    unsigned char md[32];
    unsigned int mdlen = 32;
    int ok = req && mi && alg && bn && EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) &&
             X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) &&
             TS_MSG_IMPRINT_set_algo(mi, alg) && TS_MSG_IMPRINT_set_msg(mi, md, 32) &&
             TS_REQ_set_version(req, 1) && TS_REQ_set_msg_imprint(req, mi) &&
             BN_rand(bn, 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
             (nonce = BN_to_ASN1_INTEGER(bn, NULL)) && TS_REQ_set_nonce(req, nonce) &&
             TS_REQ_set_cert_req(req, 1);

    X509_ALGOR_free(alg); /* the setters copied what they keep */
    TS_MSG_IMPRINT_free(mi);
    ASN1_INTEGER_free(nonce);
    BN_free(bn);
    if (!ok) {
        TS_REQ_free(req);
        return NULL;
    }
    return req;
}

int itg_tsa_stamp(const char *url, const void *data, size_t len, struct cv_buf *token,
                  struct cv_err *err)
{
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    TS_REQ *req = NULL;
    TS_RESP *resp = NULL;
    TS_VERIFY_CTX *vctx = NULL;
    BIO *body = NULL, *reply = NULL;
    unsigned char *der = NULL;
    char safe[CV_URL_MAX]; /* url without secrets, the only form in messages */
    int rc = 0, n;

    cv_url_redact(url, safe, sizeof(safe));
    if (!OSSL_parse_url(url, &scheme, NULL, &host, &port, NULL, &path, NULL, NULL) ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        ERR_clear_error();
        rc = cv_errf(err, CV_EINVAL, "time-stamp authority '%s': not an http(s) URL", safe);
        goto out;
    }
    req = make_request(data, len);
    body = BIO_new(BIO_s_mem());
    if (!req || !body || i2d_TS_REQ_bio(body, req) != 1) {
        rc = itg_ssl_err(err, "time-stamp request");
        goto out;
    }
    reply = OSSL_HTTP_transfer(NULL, host, port, path, strcmp(scheme, "https") == 0, NULL, NULL,
                               NULL, NULL, NULL, NULL, 0, NULL, "application/timestamp-query",
                               body, "application/timestamp-reply", 1, TSA_MAX_REPLY,
                               TSA_TIMEOUT_S, 0);
    if (!reply) {
        char why[256] = "no answer";
        unsigned long e = ERR_peek_last_error();
        if (e)
            ERR_error_string_n(e, why, sizeof(why));
        ERR_clear_error();
        rc = cv_errf(err, CV_EIO, "time-stamp authority '%s': %s", safe, why);
        goto out;
    }
    resp = d2i_TS_RESP_bio(reply, NULL);
    if (!resp) {
        rc = itg_ssl_err(err, "time-stamp authority's answer is not a TimeStampResp");
        goto out;
    }
    {
        long status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp)));
        if (status != 0 && status != 1) { /* granted, grantedWithMods */
            rc = cv_errf(err, CV_ECRYPTO, "time-stamp authority '%s' refused (status %ld)", safe,
                         status);
            goto out;
        }
    }
    /* Same imprint and nonce as asked; the signature is checked later, against the TSA's CA. */
    vctx = TS_REQ_to_TS_VERIFY_CTX(req, NULL);
    if (vctx)
        TS_VERIFY_CTX_set_flags(vctx, TS_VFY_VERSION | TS_VFY_IMPRINT | TS_VFY_NONCE);
    if (!vctx || TS_RESP_verify_response(vctx, resp) != 1) {
        rc = itg_ssl_err(err, "time-stamp answer does not match the request");
        goto out;
    }
    n = i2d_PKCS7(TS_RESP_get_token(resp), &der);
    if (n <= 0) {
        rc = itg_ssl_err(err, "time-stamp token");
        goto out;
    }
    cv_buf_put(token, der, (size_t)n);
out:
    OPENSSL_free(der);
    TS_VERIFY_CTX_free(vctx);
    TS_RESP_free(resp);
    TS_REQ_free(req);
    BIO_free(body);
    BIO_free(reply);
    OPENSSL_free(scheme);
    OPENSSL_free(host);
    OPENSSL_free(port);
    OPENSSL_free(path);
    return rc;
}

int itg_tsa_check(const void *data, size_t len, const uint8_t *token, size_t toklen,
                  const char *ca_pem, size_t ca_len, char *when, size_t when_n, char *who,
                  size_t who_n, struct cv_err *err)
{
    const unsigned char *p = token;
    PKCS7 *p7 = toklen < (1u << 20) ? d2i_PKCS7(NULL, &p, (long)toklen) : NULL;
    TS_TST_INFO *tst = p7 ? PKCS7_to_TS_TST_INFO(p7) : NULL;
    TS_VERIFY_CTX *ctx = TS_VERIFY_CTX_new();
    STACK_OF(X509) *signers = NULL;
    X509_STORE *store = NULL;
    BIO *in = NULL;
    struct tm tm;
    int rc = 0;

    if (!p7 || !tst || !ctx) {
        rc = itg_ssl_err(err, "not a time-stamp token");
        goto out;
    }
    in = BIO_new_mem_buf(data, (int)len);
    if (!in || !TS_VERIFY_CTX_set_data(ctx, in)) {
        rc = itg_ssl_err(err, "time-stamp check");
        goto out;
    }
    in = NULL; /* the context owns it now */
    if (ca_pem) {
        BIO *b = BIO_new_mem_buf(ca_pem, (int)ca_len);
        X509 *c;
        store = X509_STORE_new();
        while (b && store && (c = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
            X509_STORE_add_cert(store, c);
            X509_free(c);
        }
        BIO_free(b);
        ERR_clear_error();
        if (!store || !TS_VERIFY_CTX_set_store(ctx, store)) {
            rc = itg_ssl_err(err, "time-stamp check");
            goto out;
        }
        store = NULL; /* the context owns it now */
    }
    TS_VERIFY_CTX_set_flags(ctx, TS_VFY_VERSION | TS_VFY_DATA | (ca_pem ? TS_VFY_SIGNATURE : 0));
    if (TS_RESP_verify_token(ctx, p7) != 1) {
        rc = itg_ssl_err(err, ca_pem ? "time-stamp token does not verify against certs/tsa.pem"
                                     : "time-stamp token does not match its checkpoint");
        goto out;
    }
    if (ASN1_TIME_to_tm(TS_TST_INFO_get_time(tst), &tm) == 1)
        cv_time_format_utc((cv_days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                                               (unsigned)tm.tm_mday) * 86400 +
                            tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec) * CV_US_PER_S,
                           when, when_n, 0);
    else
        snprintf(when, when_n, "?");
    signers = PKCS7_get0_signers(p7, NULL, 0);
    if (signers && sk_X509_num(signers) > 0)
        X509_NAME_oneline(X509_get_subject_name(sk_X509_value(signers, 0)), who, (int)who_n);
    else
        snprintf(who, who_n, "an unnamed authority");
    ERR_clear_error();
out:
    sk_X509_free(signers);
    X509_STORE_free(store);
    BIO_free(in);
    TS_VERIFY_CTX_free(ctx);
    TS_TST_INFO_free(tst);
    PKCS7_free(p7);
    return rc;
}
