/*
 * test_keys.c: the site's signing identity (integrity/keys.h): creating it, its file modes,
 * loading and signing with it, and importing an agency-issued key, where every bad key,
 * certificate or chain is refused with one line naming the file and nothing on disk changes.
 *
 * The agency identities are made here with OpenSSL directly (a root, a signing certificate it
 * issues), so the test depends on nothing but the library under test.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/fileio.h"
#include "integrity/keys.h"
#include "storage-layout/layout.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

static EVP_PKEY *keygen(const char *kind)
{
    if (strcmp(kind, "ed25519") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (strcmp(kind, "rsa1024") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    if (strcmp(kind, "secp256k1") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* A certificate for `key` named `cn`, issued by (issuer, issuer_key) or self-signed; `ku` the
 * key usage extension value or NULL for none. */
static X509 *cert_for(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                      const char *ku, long serial)
{
    X509 *c = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509V3_CTX v3;
    X509_EXTENSION *ext = NULL;

    if (!c || !name)
        goto bad;
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 365);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(c, name);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(c, key);
    X509V3_set_ctx(&v3, issuer ? issuer : c, c, NULL, NULL, 0);
    if (!issuer) {
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
        X509_add_ext(c, ext, -1);
        X509_EXTENSION_free(ext);
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
        X509_add_ext(c, ext, -1);
        X509_EXTENSION_free(ext);
    } else if (ku) {
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, ku);
        X509_add_ext(c, ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (!X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()))
        goto bad;
    X509_NAME_free(name);
    return c;
bad:
    X509_NAME_free(name);
    X509_free(c);
    return NULL;
}

static int write_key(const char *path, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    int ok = f && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);

    if (f)
        fclose(f);
    return ok ? 0 : -1;
}

static int write_certs(const char *path, X509 *a, X509 *b)
{
    FILE *f = fopen(path, "w");
    int ok = f && (!a || PEM_write_X509(f, a)) && (!b || PEM_write_X509(f, b));

    if (f)
        fclose(f);
    return ok ? 0 : -1;
}

struct blob {
    char *data;
    size_t len;
};

/* The bytes of ROOT/keys/<name> (at most 64 KiB; free out->data); 0 or -1 when missing. */
static int slurp(const char *root, const char *name, struct blob *out)
{
    char p[PATH_MAX];
    struct cv_err err = {""};

    snprintf(p, sizeof(p), "%s/keys/%s", root, name);
    out->data = NULL;
    out->len = 0;
    return cv_read_file(p, 1 << 16, &out->data, &out->len, &err) == 0 ? 0 : -1;
}

static unsigned mode_of(const char *root, const char *name)
{
    char p[PATH_MAX];
    struct stat st;

    snprintf(p, sizeof(p), "%s/keys/%s", root, name);
    return stat(p, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
}

static bool exists(const char *root, const char *name)
{
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/keys/%s", root, name);
    return access(p, F_OK) == 0;
}

/* A fresh data root with its site keys. */
static int keyed_root(char *root)
{
    struct cv_err err = {""};
    int created = 0;

    if (fx_tmpdir(root) < 0)
        return -1;
    CHECK_OK(lay_root_create(root, &err), &err);
    CHECK_OK(itg_keys_create(root, "unit-site", &created, &err), &err);
    CHECK_EQ_INT(created, 1);
    return unit_failures() ? -1 : 0;
}

/* Create: four files, private keys 0600, certificates 0644, the signing certificate issued by
 * the root; a second create changes nothing. */
void test_keys_create(void)
{
    char root[PATH_MAX], p[PATH_MAX];
    struct cv_err err = {""};
    struct blob before, after;
    struct itg_key_info ri, si;
    int created = -1;
    X509 *rc = NULL, *sc = NULL;
    FILE *f;

    if (keyed_root(root) < 0)
        return;
    CHECK_EQ_INT(mode_of(root, "root.key"), 0600);
    CHECK_EQ_INT(mode_of(root, "signing.key"), 0600);
    CHECK_EQ_INT(mode_of(root, "root.pem"), 0644);
    CHECK_EQ_INT(mode_of(root, "signing.pem"), 0644);

    CHECK_EQ_INT(slurp(root, "signing.key", &before), 0);
    CHECK_OK(itg_keys_create(root, "unit-site", &created, &err), &err);
    CHECK_EQ_INT(created, 0);
    CHECK_EQ_INT(slurp(root, "signing.key", &after), 0);
    CHECK(before.len == after.len && before.len > 0);
    if (before.len == after.len)
        CHECK_EQ_MEM(after.data, before.data, before.len);
    free(before.data);
    free(after.data);

    CHECK_OK(itg_keys_info(root, &ri, &si, &err), &err);
    CHECK_CONTAINS(ri.subject, "camvault site unit-site root");
    CHECK_CONTAINS(si.subject, "camvault site unit-site signing");
    CHECK_EQ_INT(strlen(si.fingerprint), 32 * 3 - 1); /* hex pairs with colons */
    CHECK(strcmp(ri.fingerprint, si.fingerprint) != 0);

    snprintf(p, sizeof(p), "%s/keys/root.pem", root);
    if ((f = fopen(p, "r"))) {
        rc = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    snprintf(p, sizeof(p), "%s/keys/signing.pem", root);
    if ((f = fopen(p, "r"))) {
        sc = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    CHECK(rc && sc);
    if (rc && sc) {
        CHECK_EQ_INT(X509_verify(sc, X509_get0_pubkey(rc)), 1);
        CHECK_EQ_INT(X509_verify(rc, X509_get0_pubkey(rc)), 1);
    }
    X509_free(rc);
    X509_free(sc);
    fx_rmtree(root);
}

/* Load and sign: the signature verifies with signing.pem, and not after any change. */
void test_keys_sign_verify(void)
{
    static const char msg[] = "camvault checkpoint 1\nsite unit-site\n";
    char root[PATH_MAX], sp[PATH_MAX], rp[PATH_MAX], empty[PATH_MAX];
    struct cv_err err = {""};
    struct itg_signer *s = NULL;
    struct cv_buf sig;
    char tampered[sizeof(msg)];

    if (keyed_root(root) < 0)
        return;
    snprintf(sp, sizeof(sp), "%s/keys/signing.pem", root);
    snprintf(rp, sizeof(rp), "%s/keys/root.pem", root);
    cv_buf_init(&sig, 4096);
    CHECK_OK(itg_signer_open(&s, root, &err), &err);
    if (!s)
        goto out;
    CHECK_OK(itg_sign(s, msg, sizeof(msg) - 1, &sig, &err), &err);
    CHECK(sig.len > 0);
    CHECK_OK(itg_verify_file(sp, msg, sizeof(msg) - 1, sig.data, sig.len, &err), &err);

    memcpy(tampered, msg, sizeof(msg));
    tampered[20] ^= 1;
    err.msg[0] = '\0';
    CHECK_EQ_INT(itg_verify_file(sp, tampered, sizeof(msg) - 1, sig.data, sig.len, &err),
                 CV_ECRYPTO);
    CHECK_CONTAINS(err.msg, "signature does not match");
    CHECK_EQ_INT(itg_verify_file(sp, msg, sizeof(msg) - 2, sig.data, sig.len, &err), CV_ECRYPTO);
    CHECK_EQ_INT(itg_verify_file(rp, msg, sizeof(msg) - 1, sig.data, sig.len, &err), CV_ECRYPTO);
    sig.data[sig.len / 2] ^= 0x40;
    CHECK_EQ_INT(itg_verify_file(sp, msg, sizeof(msg) - 1, sig.data, sig.len, &err), CV_ECRYPTO);

    /* A root without keys: the error says what to run. */
    if (fx_tmpdir(empty) == 0) {
        struct itg_signer *none = NULL;
        err.msg[0] = '\0';
        CHECK(itg_signer_open(&none, empty, &err) < 0);
        CHECK(none == NULL);
        CHECK_CONTAINS(err.msg, "signing.key");
        CHECK_CONTAINS(err.msg, "camvault init");
        fx_rmtree(empty);
    }
out:
    itg_signer_close(s);
    cv_buf_release(&sig);
    fx_rmtree(root);
}

/* Import: each bad key, certificate or chain is refused with a line naming the file and the
 * cause, and the site's keys stay exactly as they were. */
void test_keys_import_refused(void)
{
    char root[PATH_MAX], dir[PATH_MAX];
    char good_key[PATH_MAX], good_cert[PATH_MAX], good_chain[PATH_MAX];
    char ed_key[PATH_MAX], rsa_key[PATH_MAX], k1_key[PATH_MAX], junk[PATH_MAX];
    char other_cert[PATH_MAX], no_root_chain[PATH_MAX], other_chain[PATH_MAX], nocert[PATH_MAX];
    char nosign_cert[PATH_MAX];
    EVP_PKEY *ca = keygen("p256"), *ca2 = keygen("p256"), *k = keygen("p256");
    EVP_PKEY *other = keygen("p256"), *ed = keygen("ed25519"), *rsa = keygen("rsa1024");
    EVP_PKEY *k1 = keygen("secp256k1");
    X509 *cac = NULL, *ca2c = NULL, *kc = NULL, *oc = NULL, *nsc = NULL;
    struct blob before, after;

    if (keyed_root(root) < 0)
        goto out0;
    CHECK(ca && ca2 && k && other && ed && rsa && k1);
    if (unit_failures())
        goto out;
    cac = cert_for(ca, "agency root", NULL, NULL, NULL, 1);
    ca2c = cert_for(ca2, "another root", NULL, NULL, NULL, 1);
    kc = cert_for(k, "agency signing", cac, ca, "critical,digitalSignature,nonRepudiation", 2);
    oc = cert_for(other, "someone else", cac, ca, "critical,digitalSignature", 3);
    nsc = cert_for(k, "agency encryption", cac, ca, "critical,keyEncipherment", 4);
    CHECK(cac && ca2c && kc && oc && nsc);
    if (unit_failures())
        goto out;
    snprintf(dir, sizeof(dir), "%s/agency", root);
    CHECK_OK(cv_mkdir_p(dir, 0700, NULL), &(struct cv_err){""});
#define P(var, name) snprintf(var, sizeof(var), "%s/" name, dir)
    P(good_key, "signing.key");
    P(good_cert, "signing.pem");
    P(good_chain, "chain.pem");
    P(ed_key, "ed25519.key");
    P(rsa_key, "rsa1024.key");
    P(k1_key, "secp256k1.key");
    P(junk, "junk.key");
    P(other_cert, "other.pem");
    P(no_root_chain, "noroot.pem");
    P(other_chain, "otherroot.pem");
    P(nocert, "nocert.pem");
    P(nosign_cert, "nosign.pem");
#undef P
    CHECK_EQ_INT(write_key(good_key, k), 0);
    CHECK_EQ_INT(write_certs(good_cert, kc, NULL), 0);
    CHECK_EQ_INT(write_certs(good_chain, cac, NULL), 0);
    CHECK_EQ_INT(write_key(ed_key, ed), 0);
    CHECK_EQ_INT(write_key(rsa_key, rsa), 0);
    CHECK_EQ_INT(write_key(k1_key, k1), 0);
    CHECK_EQ_INT(fx_write_file(junk, "-----BEGIN PRIVATE KEY-----\nnot base64\n", 40), 0);
    CHECK_EQ_INT(write_certs(other_cert, oc, NULL), 0);
    CHECK_EQ_INT(write_certs(no_root_chain, kc, NULL), 0); /* the leaf, not a root */
    CHECK_EQ_INT(write_certs(other_chain, ca2c, NULL), 0);
    CHECK_EQ_INT(fx_write_file(nocert, "no certificate here\n", 20), 0);
    CHECK_EQ_INT(write_certs(nosign_cert, nsc, NULL), 0);

    const struct {
        const char *what, *key, *cert, *chain;
        int code;
        const char *names, *cause;
    } cases[] = {
        {"not a PEM key", junk, good_cert, good_chain, CV_ECRYPTO, junk, ""},
        {"missing key file", "/nonexistent/k.pem", good_cert, good_chain, CV_ECRYPTO,
         "/nonexistent/k.pem", ""},
        {"Ed25519", ed_key, good_cert, good_chain, CV_EINVAL, ed_key, "Ed25519"},
        {"RSA of 1024 bits", rsa_key, good_cert, good_chain, CV_EINVAL, rsa_key, "1024 bits"},
        {"EC on secp256k1", k1_key, good_cert, good_chain, CV_EINVAL, k1_key, "secp256k1"},
        {"certificate of another key", good_key, other_cert, good_chain, CV_EINVAL, other_cert,
         "is not the certificate of the key"},
        {"no certificate in the file", good_key, nocert, good_chain, CV_ECRYPTO, nocert,
         "holds no PEM certificate"},
        {"chain without its root", good_key, good_cert, no_root_chain, CV_EINVAL, no_root_chain,
         "self-signed root"},
        {"chain of another root", good_key, good_cert, other_chain, CV_EINVAL, other_chain,
         "does not verify against"},
        {"certificate not for signatures", good_key, nosign_cert, good_chain, CV_EINVAL,
         nosign_cert, "allows no digital signature"},
    };
    CHECK_EQ_INT(slurp(root, "signing.key", &before), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cv_err err = {""};
        int rc = itg_keys_import(root, cases[i].key, cases[i].cert, cases[i].chain, &err);

        CHECK_MSG(rc == cases[i].code, "%s: rc %d, want %d (%s)", cases[i].what, rc,
                  cases[i].code, err.msg);
        CHECK_MSG(strstr(err.msg, cases[i].names) != NULL, "%s: message does not name '%s': %s",
                  cases[i].what, cases[i].names, err.msg);
        CHECK_MSG(strstr(err.msg, cases[i].cause) != NULL, "%s: message lacks '%s': %s",
                  cases[i].what, cases[i].cause, err.msg);
        CHECK_MSG(strchr(err.msg, '\n') == NULL, "%s: more than one line: %s", cases[i].what,
                  err.msg);
        CHECK_MSG(!exists(root, "retired") && exists(root, "root.key"),
                  "%s: the site's keys were touched", cases[i].what);
    }
    CHECK_EQ_INT(slurp(root, "signing.key", &after), 0);
    CHECK(before.len == after.len);
    if (before.len == after.len)
        CHECK_EQ_MEM(after.data, before.data, before.len);
    free(before.data);
    free(after.data);

    /* The good identity is accepted: new signing key 0600, old certificates retired, the site's
     * own root key gone, and signatures verify with the new certificate. */
    {
        struct cv_err err = {""};
        struct itg_signer *s = NULL;
        struct cv_buf sig;
        char sp[PATH_MAX];

        CHECK_OK(itg_keys_import(root, good_key, good_cert, good_chain, &err), &err);
        CHECK_EQ_INT(mode_of(root, "signing.key"), 0600);
        CHECK(!exists(root, "root.key"));
        CHECK(exists(root, "retired"));
        CHECK(exists(root, "chain.pem"));
        cv_buf_init(&sig, 4096);
        CHECK_OK(itg_signer_open(&s, root, &err), &err);
        if (s)
            CHECK_OK(itg_sign(s, "x", 1, &sig, &err), &err);
        snprintf(sp, sizeof(sp), "%s/keys/signing.pem", root);
        CHECK_OK(itg_verify_file(sp, "x", 1, sig.data, sig.len, &err), &err);
        itg_signer_close(s);
        cv_buf_release(&sig);
    }
out:
    fx_rmtree(root);
out0:
    X509_free(cac);
    X509_free(ca2c);
    X509_free(kc);
    X509_free(oc);
    X509_free(nsc);
    EVP_PKEY_free(ca);
    EVP_PKEY_free(ca2);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(k1);
}
