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
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "integrity/keys.h"
#include "integrity/chain.h"
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
        return itg_ssl_err(err, "BIO_new");
    if ((key && !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) ||
        (cert && !PEM_write_bio_X509(b, cert))) {
        BIO_free(b);
        return itg_ssl_err(err, "writing PEM");
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

int itg_keys_create(const char *root, const char *site_id, int *created, struct cv_err *err)
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
        rc = itg_ssl_err(err, "generating ECDSA P-256 keys");
        goto out;
    }
    snprintf(cn, sizeof(cn), "camvault site %s root", site_id);
    root_cert = make_cert(root_key, cn, NULL, NULL, ROOT_DAYS, true, 1);
    if (!root_cert) {
        rc = itg_ssl_err(err, "making the root certificate");
        goto out;
    }
    snprintf(cn, sizeof(cn), "camvault site %s signing", site_id);
    sign_cert = make_cert(sign_key, cn, root_cert, root_key, SIGNING_DAYS, false, 2);
    if (!sign_cert) {
        rc = itg_ssl_err(err, "making the signing certificate");
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

/* Every certificate in PEM file `path` (at least one). */
static STACK_OF(X509) *read_certs(const char *path, struct cv_err *err)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    BIO *b = BIO_new_file(path, "r");
    X509 *c;

    if (!sk || !b) {
        sk_X509_free(sk);
        BIO_free(b);
        itg_ssl_err(err, path);
        return NULL;
    }
    while ((c = PEM_read_bio_X509(b, NULL, NULL, NULL)))
        if (!sk_X509_push(sk, c)) {
            X509_free(c);
            break;
        }
    ERR_clear_error(); /* the end of the file */
    BIO_free(b);
    if (sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        cv_errf(err, CV_ECRYPTO, "'%s' holds no PEM certificate", path);
        return NULL;
    }
    return sk;
}

static int read_key(const char *path, EVP_PKEY **out, struct cv_err *err)
{
    BIO *b = BIO_new_file(path, "r");

    *out = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return *out ? 0 : itg_ssl_err(err, path);
}

/* A key camvault can sign checkpoints and CMS with (Ed25519 cannot be verified in CMS by
 * OpenSSL 3.0; small RSA keys are not evidence-grade). */
static int key_usable(EVP_PKEY *k, const char *path, struct cv_err *err)
{
    if (EVP_PKEY_is_a(k, "EC")) {
        char group[64] = "";
        size_t gl = 0;
        EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), &gl);
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "secp384r1") == 0)
            return 0;
        return cv_errf(err, CV_EINVAL, "'%s': EC key on curve '%s'; use P-256 or P-384", path,
                       group[0] ? group : "?");
    }
    if (EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048)
        return 0;
    return cv_errf(err, CV_EINVAL, "'%s': a %s key of %d bits; camvault signs with ECDSA P-256 "
                   "or P-384 or RSA of at least 2048 bits (Ed25519 does not verify inside CMS with "
                   "OpenSSL 3.0)", path, EVP_PKEY_get0_type_name(k), EVP_PKEY_get_bits(k));
}

/* PEM of all certificates of sk into a durable file (an empty file for none). */
static int write_certs(const char *path, STACK_OF(X509) *sk, int from, int to,
                       struct cv_err *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    int rc;

    if (!b)
        return itg_ssl_err(err, "BIO_new");
    for (int i = from; i < to; i++)
        if (!PEM_write_bio_X509(b, sk_X509_value(sk, i))) {
            BIO_free(b);
            return itg_ssl_err(err, "writing PEM");
        }
    len = BIO_get_mem_data(b, &data);
    rc = cv_write_atomic(path, len > 0 ? data : "", len > 0 ? (size_t)len : 0, 0644, err);
    BIO_free(b);
    return rc;
}

int itg_keys_import(const char *root, const char *key_pem, const char *cert_pem,
                    const char *chain_pem, struct cv_err *err)
{
    char dir[PATH_MAX], retired[PATH_MAX], p[PATH_MAX], q[PATH_MAX], when[40], stamp[24];
    STACK_OF(X509) *leaf = NULL, *chain = NULL, *inter = NULL;
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert, *rootc;
    int n, rc;

    if ((rc = lay_dir(root, "keys", dir, sizeof(dir), err)) < 0 ||
        (rc = read_key(key_pem, &key, err)) < 0 || (rc = key_usable(key, key_pem, err)) < 0)
        goto out;
    if (!(leaf = read_certs(cert_pem, err)) || !(chain = read_certs(chain_pem, err))) {
        rc = CV_ECRYPTO;
        goto out;
    }
    cert = sk_X509_value(leaf, 0);
    n = sk_X509_num(chain);
    rootc = sk_X509_value(chain, n - 1);
    if (X509_check_private_key(cert, key) != 1) {
        rc = cv_errf(err, CV_EINVAL, "'%s' is not the certificate of the key in '%s'", cert_pem,
                     key_pem);
        ERR_clear_error();
        goto out;
    }
    if (X509_check_issued(rootc, rootc) != X509_V_OK) {
        rc = cv_errf(err, CV_EINVAL, "'%s': its last certificate must be the self-signed root",
                     chain_pem);
        goto out;
    }
    if ((X509_get_extension_flags(cert) & EXFLAG_KUSAGE) &&
        !(X509_get_key_usage(cert) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))) {
        rc = cv_errf(err, CV_EINVAL, "'%s': its key usage allows no digital signature", cert_pem);
        goto out;
    }
    inter = sk_X509_new_null();
    for (int i = 0; inter && i < n - 1; i++)
        if (X509_up_ref(sk_X509_value(chain, i)) != 1 ||
            !sk_X509_push(inter, sk_X509_value(chain, i)))
            break;
    store = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    if (!inter || !store || !ctx || X509_STORE_add_cert(store, rootc) != 1 ||
        X509_STORE_CTX_init(ctx, store, cert, inter) != 1) {
        rc = itg_ssl_err(err, "checking the certificate chain");
        goto out;
    }
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY);
    if (X509_verify_cert(ctx) != 1) {
        rc = cv_errf(err, CV_EINVAL, "'%s' does not verify against '%s': %s", cert_pem, chain_pem,
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    /* Everything checks: retire the current certificates, then write the new identity. */
    cv_time_format_utc(cv_now_us(), when, sizeof(when), 0);
    snprintf(stamp, sizeof(stamp), "%.4s%.2s%.2sT%.2s%.2s%.2sZ", when, when + 5, when + 8,
             when + 11, when + 14, when + 17);
    if ((rc = cv_path_join(retired, sizeof(retired), dir, "retired", err)) < 0 ||
        (rc = cv_mkdir_p(retired, 0755, err)) < 0)
        goto out;
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "signing" : "root";
        char file[64];
        snprintf(file, sizeof(file), "%s.pem", name);
        if ((rc = cv_path_join(p, sizeof(p), dir, file, err)) < 0)
            goto out;
        snprintf(file, sizeof(file), "%s-%s.pem", stamp, name);
        if ((rc = cv_path_join(q, sizeof(q), retired, file, err)) < 0)
            goto out;
        if (access(p, F_OK) == 0 && link(p, q) < 0) {
            rc = cv_errf(err, cv_errno_code(errno), "cannot keep '%s' as '%s': %s", p, q,
                         strerror(errno));
            goto out;
        }
    }
    if ((rc = cv_fsync_parent(q, err)) < 0 ||
        (rc = cv_path_join(p, sizeof(p), dir, "signing.key", err)) < 0 ||
        (rc = write_pem(p, key, NULL, err)) < 0 ||
        (rc = cv_path_join(p, sizeof(p), dir, "signing.pem", err)) < 0 ||
        (rc = write_certs(p, leaf, 0, 1, err)) < 0 ||
        (rc = cv_path_join(p, sizeof(p), dir, "chain.pem", err)) < 0 ||
        (rc = write_certs(p, chain, 0, n - 1, err)) < 0 ||
        (rc = cv_path_join(p, sizeof(p), dir, "root.pem", err)) < 0 ||
        (rc = write_certs(p, chain, n - 1, n, err)) < 0)
        goto out;
    /* The site's own root key signed nothing but the old signing certificate: it goes. */
    if (cv_path_join(p, sizeof(p), dir, "root.key", NULL) == 0)
        unlink(p);
    rc = cv_fsync_parent(p, err);
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_pop_free(inter, X509_free);
    sk_X509_pop_free(leaf, X509_free);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
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
        itg_ssl_err(err, path);
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

static int describe(const char *path, struct itg_key_info *info, struct cv_err *err)
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

int itg_keys_info(const char *root, struct itg_key_info *root_cert, struct itg_key_info *signing,
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

struct itg_signer {
    EVP_PKEY *key;
    char *tsa_url;
};

int itg_signer_set_tsa(struct itg_signer *s, const char *url, struct cv_err *err)
{
    char *copy = url && url[0] ? strdup(url) : NULL;

    if (url && url[0] && !copy)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    free(s->tsa_url);
    s->tsa_url = copy;
    return 0;
}

const char *itg_signer_tsa(const struct itg_signer *s)
{
    return s->tsa_url;
}

int itg_signer_open(struct itg_signer **out, const char *root, struct cv_err *err)
{
    struct itg_signer *s;
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
        return itg_ssl_err(err, p);
    }
    *out = s;
    return 0;
}

void itg_signer_close(struct itg_signer *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->key);
    free(s->tsa_url);
    free(s);
}

int itg_sign(struct itg_signer *s, const void *data, size_t len, struct cv_buf *sig,
             struct cv_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char buf[256];
    size_t siglen = sizeof(buf);
    int rc = 0;

    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->key) != 1 ||
        EVP_DigestSign(ctx, buf, &siglen, data, len) != 1)
        rc = itg_ssl_err(err, "signing");
    else
        cv_buf_put(sig, buf, siglen);
    EVP_MD_CTX_free(ctx);
    return rc;
}

int itg_verify_file(const char *cert_pem, const void *data, size_t len, const uint8_t *sig,
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
        rc = itg_ssl_err(err, "starting verification");
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
