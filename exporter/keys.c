/*
 * keys.c: site keys and certificates with OpenSSL 3.0, and ECDSA signatures.
 *
 * Every OpenSSL failure is turned into one line with the queue's first error
 * (ERR_error_string_n), where it happens.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "exporter/keys.h"
#include "exporter/exp_int.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "storage-layout/layout.h"
#include "common/banned.h"

#define ROOT_DAYS (20 * 366)
#define SIGNING_DAYS (5 * 366)


static int key_path(const char *root, const char *name, char *out, size_t n, struct cv_err *err)
{
    char dir[PATH_MAX];

    if (lay_dir(root, "keys", dir, sizeof(dir), err) < 0)
        return CV_ELIMIT;
    return cv_path_join(out, n, dir, name, err);
}

/* PEM of a key or certificate into a durable file. */
static int write_pem(const char *path, EVP_PKEY *key, X509 *cert, struct cv_err *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long len;
    int rc;

    if (!b)
        return exp_ssl_err(err, "BIO_new");
    if ((key && !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) ||
        (cert && !PEM_write_bio_X509(b, cert))) {
        BIO_free(b);
        return exp_ssl_err(err, "writing PEM");
    }
    len = BIO_get_mem_data(b, &data);
    rc = cv_write_atomic(path, data, (size_t)len, key ? 0600 : 0644, err);
    BIO_free(b);
    return rc;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return 0;
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* A certificate for `key` with common name `cn`, signed by issuer_key (self-signed if NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       long days, bool ca, long serial)
{
    X509 *c = X509_new();
    X509_NAME *name;

    if (!c)
        return NULL;
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), days * 86400L);
    X509_set_pubkey(c, key);
    name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"camvault", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    if (ca) {
        if (!add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE") ||
            !add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") ||
            !add_ext(c, c, NID_subject_key_identifier, "hash"))
            goto fail;
    } else {
        if (!add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
            !add_ext(c, issuer, NID_key_usage, "critical,digitalSignature,nonRepudiation") ||
            !add_ext(c, issuer, NID_subject_key_identifier, "hash") ||
            !add_ext(c, issuer, NID_authority_key_identifier, "keyid:always"))
            goto fail;
    }
    if (!X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()))
        goto fail;
    return c;
fail:
    X509_free(c);
    return NULL;
}

int exp_keys_create(const char *root, const char *site_id, int *created, struct cv_err *err)
{
    char rk[PATH_MAX], rc_[PATH_MAX], sk[PATH_MAX], sc[PATH_MAX], cn[128];
    EVP_PKEY *root_key = NULL, *sign_key = NULL;
    X509 *root_cert = NULL, *sign_cert = NULL;
    struct stat st;
    int rc = 0;

    *created = 0;
    if (key_path(root, "root.key", rk, sizeof(rk), err) < 0 ||
        key_path(root, "root.pem", rc_, sizeof(rc_), err) < 0 ||
        key_path(root, "signing.key", sk, sizeof(sk), err) < 0 ||
        key_path(root, "signing.pem", sc, sizeof(sc), err) < 0)
        return CV_ELIMIT;
    if (stat(sk, &st) == 0 && stat(sc, &st) == 0 && stat(rc_, &st) == 0)
        return 0;
    root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    sign_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!root_key || !sign_key) {
        rc = exp_ssl_err(err, "generating ECDSA P-256 keys");
        goto out;
    }
    snprintf(cn, sizeof(cn), "camvault site %s root", site_id);
    root_cert = make_cert(root_key, cn, NULL, NULL, ROOT_DAYS, true, 1);
    if (!root_cert) {
        rc = exp_ssl_err(err, "making the root certificate");
        goto out;
    }
    snprintf(cn, sizeof(cn), "camvault site %s signing", site_id);
    sign_cert = make_cert(sign_key, cn, root_cert, root_key, SIGNING_DAYS, false, 2);
    if (!sign_cert) {
        rc = exp_ssl_err(err, "making the signing certificate");
        goto out;
    }
    if ((rc = write_pem(rk, root_key, NULL, err)) < 0 ||
        (rc = write_pem(rc_, NULL, root_cert, err)) < 0 ||
        (rc = write_pem(sk, sign_key, NULL, err)) < 0 ||
        (rc = write_pem(sc, NULL, sign_cert, err)) < 0)
        goto out;
    *created = 1;
out:
    X509_free(root_cert);
    X509_free(sign_cert);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(sign_key);
    return rc;
}

static X509 *read_cert(const char *path, struct cv_err *err)
{
    FILE *f = fopen(path, "r");
    X509 *c;

    if (!f) {
        cv_errf(err, cv_errno_code(errno), "cannot open certificate '%s': %s", path,
                strerror(errno));
        return NULL;
    }
    c = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!c)
        exp_ssl_err(err, path);
    return c;
}

static void asn1_time(const ASN1_TIME *t, char *out, size_t n)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(t, &tm) == 1)
        cv_time_format_utc(((int64_t)cv_days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                                                        (unsigned)tm.tm_mday) *
                                86400 +
                            tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec) *
                               CV_US_PER_S,
                           out, n, 0);
    else
        cv_strlcpy(out, "?", n);
}

static int describe(const char *path, struct exp_key_info *info, struct cv_err *err)
{
    X509 *c = read_cert(path, err);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t o = 0;

    if (!c)
        return CV_ECRYPTO;
    X509_NAME_oneline(X509_get_subject_name(c), info->subject, sizeof(info->subject));
    asn1_time(X509_get0_notBefore(c), info->not_before, sizeof(info->not_before));
    asn1_time(X509_get0_notAfter(c), info->not_after, sizeof(info->not_after));
    X509_digest(c, EVP_sha256(), md, &mdlen);
    for (unsigned int i = 0; i < mdlen && o + 3 < sizeof(info->fingerprint); i++)
        o += (size_t)snprintf(info->fingerprint + o, sizeof(info->fingerprint) - o, "%s%02X",
                              i ? ":" : "", md[i]);
    X509_free(c);
    return 0;
}

int exp_keys_info(const char *root, struct exp_key_info *root_cert, struct exp_key_info *signing,
                  struct cv_err *err)
{
    char p[PATH_MAX];
    int rc;

    if (key_path(root, "root.pem", p, sizeof(p), err) < 0)
        return CV_ELIMIT;
    rc = describe(p, root_cert, err);
    if (rc == 0 && key_path(root, "signing.pem", p, sizeof(p), err) == 0)
        rc = describe(p, signing, err);
    return rc;
}

struct exp_signer {
    EVP_PKEY *key;
};

int exp_signer_open(struct exp_signer **out, const char *root, struct cv_err *err)
{
    struct exp_signer *s;
    char p[PATH_MAX];
    FILE *f;

    *out = NULL;
    if (key_path(root, "signing.key", p, sizeof(p), err) < 0)
        return CV_ELIMIT;
    f = fopen(p, "r");
    if (!f)
        return cv_errf(err, cv_errno_code(errno), "cannot open signing key '%s': %s (run "
                       "'camvault init')", p, strerror(errno));
    s = calloc(1, sizeof(*s));
    if (!s) {
        fclose(f);
        return cv_errf(err, CV_ENOMEM, "out of memory");
    }
    s->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!s->key) {
        free(s);
        return exp_ssl_err(err, p);
    }
    *out = s;
    return 0;
}

void exp_signer_close(struct exp_signer *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->key);
    free(s);
}

int exp_sign(struct exp_signer *s, const void *data, size_t len, struct cv_buf *sig,
             struct cv_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char buf[256];
    size_t siglen = sizeof(buf);
    int rc = 0;

    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->key) != 1 ||
        EVP_DigestSign(ctx, buf, &siglen, data, len) != 1)
        rc = exp_ssl_err(err, "signing");
    else
        cv_buf_put(sig, buf, siglen);
    EVP_MD_CTX_free(ctx);
    return rc;
}

int exp_verify_file(const char *cert_pem, const void *data, size_t len, const uint8_t *sig,
                    size_t siglen, struct cv_err *err)
{
    X509 *c = read_cert(cert_pem, err);
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY *pub;
    int rc, ok;

    if (!c)
        return CV_ECRYPTO;
    pub = X509_get0_pubkey(c);
    ctx = EVP_MD_CTX_new();
    if (!pub || !ctx || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) != 1) {
        rc = exp_ssl_err(err, "starting verification");
        goto out;
    }
    ok = EVP_DigestVerify(ctx, sig, siglen, data, len);
    ERR_clear_error();
    rc = ok == 1 ? 0 : cv_errf(err, CV_ECRYPTO, "signature does not match (key of '%s')", cert_pem);
out:
    EVP_MD_CTX_free(ctx);
    X509_free(c);
    return rc;
}
