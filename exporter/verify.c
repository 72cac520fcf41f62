/*
 * verify.c: check an evidence package (contract in verify.h).
 *
 * The ZIP is read once, in archive order, under hard limits: every entry is hashed as it
 * streams by, and the small metadata files (everything outside native/) are kept in memory for
 * the checks that follow. Nothing is written to disk. Each check reports one line; a package
 * that cannot be read or lacks SHA256SUMS or manifest.json is an error (exit 2), not a FAIL.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "exporter/verify.h"
#include "exporter/exp_int.h"
#include "exporter/verify_int.h"
#include "integrity/chain.h"
#include "integrity/checkpoint.h"
#include "integrity/tsa.h"
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/json.h"
#include "common/banned.h"

#define MAX_ENTRIES 100000
#define MAX_ENTRY_BYTES (UINT64_C(4) << 30)
#define MAX_META_BYTES (16u << 20)

void exp_ver_report(struct ver *v, bool ok, const char *check, const char *fmt, ...)
{
    char detail[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (!ok)
        v->failed++;
    if (v->json) {
        cv_buf_printf(&v->js, "%s{\"check\":", v->checks ? "," : "");
        cv_json_str(&v->js, check);
        cv_buf_printf(&v->js, ",\"ok\":%s,\"detail\":", ok ? "true" : "false");
        cv_json_str(&v->js, detail);
        cv_buf_u8(&v->js, '}');
    } else {
        fprintf(v->out, "%s %s: %s\n", ok ? "ok" : "FAIL", check, detail);
    }
    v->checks++;
}

/* 64 hex digits at p (followed by anything) into out; -1 when they are not. */
static int unhex64(const char *p, uint8_t out[32])
{
    char h[65];

    if (strnlen(p, 64) < 64)
        return -1;
    memcpy(h, p, 64);
    h[64] = 0;
    return cv_unhex(h, out, 32);
}

struct ent *exp_ver_find(struct ver *v, const char *rel)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->e[i].rel, rel) == 0)
            return &v->e[i];
    return NULL;
}

/* Whether a path component is "..". */
static bool has_dotdot(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")); p += 2)
        if ((p == path || p[-1] == '/') && (p[2] == 0 || p[2] == '/'))
            return true;
    return false;
}

/* Split `path` into the top folder (must match the others) and rel; refuse unsafe names. */
static int check_path(struct ver *v, const char *zip, const char *path, char *rel,
                      struct cv_err *err)
{
    const char *slash = strchr(path, '/');
    size_t tlen;

    if (path[0] == '/' || has_dotdot(path) || strchr(path, '\\'))
        return cv_errf(err, CV_ECORRUPT, "'%s': unsafe entry name '%s'", zip, path);
    if (!slash || !slash[1])
        return cv_errf(err, CV_ECORRUPT,
                       "'%s' is not a camvault package: entry '%s' outside "
                       "a top folder",
                       zip, path);
    tlen = (size_t)(slash - path);
    if (tlen >= sizeof(v->top))
        return cv_errf(err, CV_ELIMIT, "'%s': entry name too long", zip);
    if (!v->top[0]) {
        memcpy(v->top, path, tlen);
        v->top[tlen] = 0;
    } else if (strlen(v->top) != tlen || strncmp(v->top, path, tlen) != 0) {
        return cv_errf(err, CV_ECORRUPT,
                       "'%s' is not a camvault package: more than one top "
                       "folder ('%s', '%.*s')",
                       zip, v->top, (int)tlen, path);
    }
    if (cv_strlcpy(rel, slash + 1, EXP_SUM_PATH_MAX) < 0)
        return cv_errf(err, CV_ELIMIT, "'%s': entry name '%s' too long", zip, path);
    return 0;
}

/* Read every entry: hash it, keep metadata in memory. */
static int read_zip(struct ver *v, const char *zip, struct cv_err *err)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ae;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t *buf = malloc(CHUNK);
    int rc = 0, r;

    if (!a || !ctx || !buf) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory reading '%s'", zip);
        goto out;
    }
    archive_read_support_format_zip(a);
    if (archive_read_open_filename(a, zip, 65536) != ARCHIVE_OK) {
        rc = cv_errf(err, CV_EIO, "cannot read '%s': %s", zip, archive_error_string(a));
        goto out;
    }
    while ((r = archive_read_next_header(a, &ae)) != ARCHIVE_EOF) {
        struct ent *e;
        uint64_t total = 0;
        unsigned int mdlen = 32;
        bool meta;
        if (r != ARCHIVE_OK) {
            rc = cv_errf(err, CV_ECORRUPT, "cannot read '%s': %s", zip, archive_error_string(a));
            goto out;
        }
        if (archive_entry_filetype(ae) == AE_IFDIR)
            continue;
        if (v->n == MAX_ENTRIES) {
            rc = cv_errf(err, CV_ELIMIT, "'%s': more than %d entries", zip, MAX_ENTRIES);
            goto out;
        }
        if (v->n == v->cap) {
            size_t cap = v->cap ? v->cap * 2 : 64;
            struct ent *ne = realloc(v->e, cap * sizeof(*ne));
            if (!ne) {
                rc = cv_errf(err, CV_ENOMEM, "out of memory reading '%s'", zip);
                goto out;
            }
            v->e = ne;
            v->cap = cap;
        }
        e = &v->e[v->n];
        memset(e, 0, sizeof(*e));
        rc = check_path(v, zip, archive_entry_pathname(ae), e->rel, err);
        if (rc < 0)
            goto out;
        if (archive_entry_filetype(ae) != AE_IFREG) {
            rc = cv_errf(err, CV_ECORRUPT, "'%s': entry '%s' is not a regular file", zip, e->rel);
            goto out;
        }
        if (archive_entry_size_is_set(ae) && (uint64_t)archive_entry_size(ae) > MAX_ENTRY_BYTES) {
            rc = cv_errf(err, CV_ELIMIT, "'%s': entry '%s' is larger than 4 GiB", zip, e->rel);
            goto out;
        }
        v->n++;
        /* footage (native and working copies) is hashed as it streams by; the text entries
         * are kept for parsing, under their own limit */
        meta = strncmp(e->rel, "native/", 7) != 0 && strncmp(e->rel, "working/", 8) != 0;
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        for (;;) {
            la_ssize_t n = archive_read_data(a, buf, CHUNK);
            if (n == ARCHIVE_WARN) { /* a bad CRC: the bytes are there but not as stored */
                exp_ver_report(v, false, "zip", "%s: %s", e->rel, archive_error_string(a));
                break;
            }
            if (n < 0) {
                rc = cv_errf(err, CV_ECORRUPT, "cannot read '%s' entry '%s': %s", zip, e->rel,
                             archive_error_string(a));
                goto out;
            }
            if (n == 0)
                break;
            total += (uint64_t)n;
            if (total > MAX_ENTRY_BYTES || (meta && total > MAX_META_BYTES)) {
                rc = cv_errf(err, CV_ELIMIT, "'%s': entry '%s' is too large", zip, e->rel);
                goto out;
            }
            EVP_DigestUpdate(ctx, buf, (size_t)n);
            if (meta) {
                char *d = realloc(e->data, (size_t)total + 1);
                if (!d) {
                    rc = cv_errf(err, CV_ENOMEM, "out of memory reading '%s'", e->rel);
                    goto out;
                }
                memcpy(d + e->len, buf, (size_t)n);
                e->data = d;
                e->len = (size_t)total;
                d[total] = 0;
            }
        }
        if (meta && !e->data && !(e->data = calloc(1, 1))) {
            rc = cv_errf(err, CV_ENOMEM, "out of memory reading '%s'", e->rel);
            goto out;
        }
        EVP_DigestFinal_ex(ctx, e->sha, &mdlen);
        e->bytes = total;
    }
out:
    archive_read_free(a);
    EVP_MD_CTX_free(ctx);
    free(buf);
    return rc;
}

/* SHA256SUMS: every line's file present with that hash; no unlisted file. */
static void check_sums(struct ver *v, const struct ent *sums)
{
    unsigned bad = v->failed, nfiles = 0;
    const char *p = sums->data;

    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char rel[EXP_SUM_PATH_MAX], hex[65];
        uint8_t md[32];
        struct ent *e;
        if (len < 67 || len - 66 >= sizeof(rel) || p[64] != ' ' || p[65] != ' ' ||
            unhex64(p, md) < 0) {
            exp_ver_report(v, false, "sums", "SHA256SUMS: malformed line '%.*s'",
                   (int)(len < 80 ? len : 80), p);
        } else {
            memcpy(rel, p + 66, len - 66);
            rel[len - 66] = 0;
            e = exp_ver_find(v, rel);
            nfiles++;
            if (!e) {
                exp_ver_report(v, false, "sums", "%s: listed in SHA256SUMS but missing", rel);
            } else if (memcmp(e->sha, md, 32) != 0) {
                cv_hex(e->sha, 32, hex);
                exp_ver_report(v, false, "sums", "%s: SHA-256 %s differs from SHA256SUMS", rel, hex);
                e->listed = true;
            } else {
                e->listed = true;
            }
        }
        p += len + (nl ? 1 : 0);
    }
    for (size_t i = 0; i < v->n; i++)
        if (!v->e[i].listed && strcmp(v->e[i].rel, "SHA256SUMS") != 0 &&
            strcmp(v->e[i].rel, "SHA256SUMS.p7s") != 0)
            exp_ver_report(v, false, "sums", "%s: not listed in SHA256SUMS", v->e[i].rel);
    if (v->failed == bad)
        exp_ver_report(v, true, "sums", "all %u files match SHA256SUMS, none unlisted", nfiles);
}

static X509 *cert_of(const struct ent *e)
{
    BIO *b = e ? BIO_new_mem_buf(e->data, (int)e->len) : NULL;
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

    BIO_free(b);
    return x;
}

/* Every certificate of a PEM entry (intermediates); an empty stack when e is NULL. */
static STACK_OF(X509) *certs_of(const struct ent *e)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    BIO *b = e ? BIO_new_mem_buf(e->data, (int)e->len) : NULL;
    X509 *x;

    while (sk && b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
        if (!sk_X509_push(sk, x))
            X509_free(x);
    ERR_clear_error();
    BIO_free(b);
    return sk;
}

/* The signingTime attribute of the CMS signature as Unix seconds; -1 when it has none. */
static time_t signing_time(CMS_ContentInfo *cms)
{
    STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
    CMS_SignerInfo *si = sis && sk_CMS_SignerInfo_num(sis) > 0 ? sk_CMS_SignerInfo_value(sis, 0)
                                                                : NULL;
    int at = si ? CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1) : -1;
    X509_ATTRIBUTE *a = at >= 0 ? CMS_signed_get_attr(si, at) : NULL;
    ASN1_TYPE *t = a ? X509_ATTRIBUTE_get0_type(a, 0) : NULL;
    struct tm tm;

    if (!t || (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME) ||
        ASN1_TIME_to_tm(t->value.asn1_string, &tm) != 1)
        return -1;
    return (time_t)(cv_days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                                       (unsigned)tm.tm_mday) * 86400 +
                    tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
}

/*
 * The CMS signature over SHA256SUMS against certs/root.pem, with certs/chain.pem as
 * intermediates; the certificates are checked as of the signature's signing time, so a
 * certificate that expired since does not fail an old package.
 */
static void check_cms(struct ver *v, const struct ent *sums)
{
    const struct ent *p7 = exp_ver_find(v, "SHA256SUMS.p7s");
    X509 *root = cert_of(exp_ver_find(v, "certs/root.pem"));
    X509 *sign = cert_of(exp_ver_find(v, "certs/signing.pem"));
    STACK_OF(X509) *inter = certs_of(exp_ver_find(v, "certs/chain.pem"));
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    BIO *der = NULL, *content = NULL;
    CMS_ContentInfo *cms = NULL;
    struct cv_err e = {""};
    char when[40] = "no signing time";
    time_t t = -1;

    if (!p7 || !root || !sign || !store || !ctx || !inter) {
        exp_ver_report(v, false, "signature", "%s",
                       !p7     ? "SHA256SUMS.p7s: missing"
                       : !root ? "certs/root.pem: missing or not a certificate"
                       : !sign ? "certs/signing.pem: missing or not a certificate"
                               : "out of memory");
        goto out;
    }
    der = BIO_new_mem_buf(p7->data, (int)p7->len);
    content = BIO_new_mem_buf(sums->data, (int)sums->len);
    cms = der ? d2i_CMS_bio(der, NULL) : NULL;
    if (cms && (t = signing_time(cms)) >= 0)
        cv_time_format_utc((int64_t)t * CV_US_PER_S, when, sizeof(when), 0);
    X509_STORE_add_cert(store, root);
    X509_STORE_set_purpose(store, X509_PURPOSE_ANY);
    if (t >= 0)
        X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), t);
    else
        X509_STORE_set_flags(store, X509_V_FLAG_NO_CHECK_TIME);
    if (X509_STORE_CTX_init(ctx, store, sign, inter) != 1 || X509_verify_cert(ctx) != 1)
        exp_ver_report(v, false, "certs", "certs/signing.pem does not chain to certs/root.pem "
                       "(as of %s): %s", when,
                       X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    else
        exp_ver_report(v, true, "certs", "certs/signing.pem chains to certs/root.pem%s (as of "
                       "the signing time, %s)", sk_X509_num(inter) ? " via certs/chain.pem" : "",
                       when);
    ERR_clear_error();
    if (!cms) {
        itg_ssl_err(&e, "SHA256SUMS.p7s: not a CMS signature");
        exp_ver_report(v, false, "signature", "%s", e.msg);
    } else if (CMS_verify(cms, inter, store, content, NULL, CMS_BINARY) != 1) {
        itg_ssl_err(&e, "SHA256SUMS.p7s: signature over SHA256SUMS does not verify");
        exp_ver_report(v, false, "signature", "%s", e.msg);
    } else {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        char fp[3 * EVP_MAX_MD_SIZE + 1] = "";
        if (X509_digest(root, EVP_sha256(), md, &mdlen) == 1)
            for (unsigned i = 0; i < mdlen; i++) /* "AB:CD:...", as openssl x509 prints it */
                snprintf(fp + (i ? 3 * i - 1 : 0), sizeof(fp) - 3 * i, "%s%02X", i ? ":" : "",
                         md[i]);
        exp_ver_report(v, true, "signature",
                       "SHA256SUMS.p7s signs SHA256SUMS (certs/root.pem, SHA-256 fingerprint %s: "
                       "compare it with the one the site publishes)", fp);
    }
out:
    CMS_ContentInfo_free(cms);
    BIO_free(der);
    BIO_free(content);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_pop_free(inter, X509_free);
    X509_free(root);
    X509_free(sign);
}

/* One checkpoint block "text...signature <b64>": 1 valid, 0 not. */
static int cp_valid(EVP_PKEY *pub, const char *block, size_t len)
{
    const char *s = NULL;
    unsigned char sig[256];
    EVP_MD_CTX *ctx;
    int n, ok = 0;

    for (const char *p = block; p < block + len; p = strchr(p, '\n') + 1) {
        if (strncmp(p, "signature ", 10) == 0) {
            s = p;
            break;
        }
        if (!memchr(p, '\n', (size_t)(block + len - p)))
            break;
    }
    if (!s)
        return 0;
    {
        const char *b = s + 10, *e = memchr(b, '\n', (size_t)(block + len - b));
        size_t blen = e ? (size_t)(e - b) : (size_t)(block + len - b);
        if (blen == 0 || blen > 340 || blen % 4)
            return 0;
        n = EVP_DecodeBlock(sig, (const unsigned char *)b, (int)blen);
        if (n < 0)
            return 0;
        n -= (b[blen - 1] == '=') + (b[blen - 2] == '=');
    }
    ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
        EVP_DigestVerify(ctx, sig, (size_t)n, (const unsigned char *)block, (size_t)(s - block)) ==
            1)
        ok = 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Find `head <camera> <start> <chain>` among the valid checkpoints: chain hex in out. */
static bool head_in(const char *log, const bool *valid, size_t nblocks, const char *camera,
                    const char *start, char out[65], unsigned long long *seq)
{
    char pat[160];
    const char *p = log;
    size_t b = 0;

    snprintf(pat, sizeof(pat), "head %s %s ", camera, start);
    while (p && *p && b < nblocks) {
        const char *end = strstr(p, "\n\n");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *h = valid[b] ? strstr(p, pat) : NULL;
        if (h && h < p + len && (h == p || h[-1] == '\n')) {
            const char *sq = strstr(p, "\nseq ");
            *seq = sq ? strtoull(sq + 5, NULL, 10) : 0;
            snprintf(out, 65, "%.64s", h + strlen(pat));
            return true;
        }
        p = end ? end + 2 : NULL;
        b++;
    }
    return false;
}

/* integrity/<camera>.chain: links recompute, native files match, a checkpoint signs the end. */
static void check_chain(struct ver *v, struct ent *c, const char *log, const bool *valid,
                        size_t nblocks, const struct ent *manifest)
{
    char camera[LAY_ID_MAX + 1], hex[65], cphex[65], last_start[24] = "", last_chain[65] = "";
    uint8_t prev[32];
    unsigned bad = v->failed, line = 1, links = 0;
    const char *p = c->data;
    bool covered = false;
    unsigned long long seq = 0;

    snprintf(camera, sizeof(camera), "%.*s", (int)(strlen(c->rel) - 16), c->rel + 10);
    if (strncmp(p, "prev ", 5) != 0 || unhex64(p + 5, prev) < 0 || p[69] != '\n') {
        exp_ver_report(v, false, "chain", "%s line 1: expected 'prev <64 hex>'", c->rel);
        return;
    }
    for (p += 70; *p; line++) {
        char path[EXP_SUM_PATH_MAX], shahex[65], chhex[65];
        long long start, end;
        uint8_t sha[32], ch[32], want[32];
        const char *nl = strchr(p, '\n');
        struct ent *f;
        if (!nl || nl - p > 600 ||
            sscanf(p, "%lld %lld %64s %64s %511s", &start, &end, shahex, chhex, path) != 5 ||
            cv_unhex(shahex, sha, 32) < 0 || cv_unhex(chhex, ch, 32) < 0) {
            exp_ver_report(v, false, "chain", "%s line %u: malformed", c->rel, line + 1);
            return;
        }
        if (itg_chain_next(prev, camera, start, end, sha, want, NULL) < 0)
            exp_ver_report(v, false, "chain", "%s line %u: cannot compute SHA-256", c->rel,
                           line + 1);
        else if (memcmp(want, ch, 32) != 0)
            exp_ver_report(v, false, "chain", "%s line %u: link does not recompute from the one before",
                   c->rel, line + 1);
        if (strcmp(path, "-") != 0) {
            f = exp_ver_find(v, path);
            if (!f)
                exp_ver_report(v, false, "chain", "%s line %u: '%s' missing", c->rel, line + 1, path);
            else if (memcmp(f->sha, sha, 32) != 0)
                exp_ver_report(v, false, "chain", "%s: SHA-256 differs from %s line %u", path, c->rel,
                       line + 1);
            if (f)
                f->chained = true;
        }
        snprintf(last_start, sizeof(last_start), "%lld", start);
        memcpy(prev, ch, 32);
        links++;
        if (head_in(log, valid, nblocks, camera, last_start, cphex, &seq)) {
            cv_hex(ch, 32, hex);
            covered = true;
            snprintf(last_chain, sizeof(last_chain), "%s", cphex);
            if (strcmp(cphex, hex) != 0)
                exp_ver_report(v, false, "checkpoint", "%s line %u: chain differs from checkpoint %llu",
                       c->rel, line + 1, seq);
        }
        p = nl + 1;
    }
    if (v->failed == bad)
        exp_ver_report(v, true, "chain", "%s: %u links recompute", c->rel, links);
    if (covered && v->failed == bad)
        exp_ver_report(v, true, "checkpoint", "%s: signed checkpoint %llu confirms its links", c->rel, seq);
    else if (!covered && strstr(manifest->data, "\"covered_by_checkpoint\":false"))
        exp_ver_report(v, true, "checkpoint",
               "%s: not yet covered by a signed checkpoint (as the "
               "manifest says)",
               c->rel);
    else if (!covered)
        exp_ver_report(v, false, "checkpoint", "%s: no signed checkpoint names any of its links", c->rel);
}

/*
 * A "timestamp <base64>" line in checkpoint block `no` (integrity/tsa.h): the RFC 3161 token
 * must cover the block's bytes before that line, and chain to certs/tsa.pem when the package
 * has it.
 */
static void check_timestamp(struct ver *v, const char *block, size_t len, size_t no)
{
    const struct ent *ca = exp_ver_find(v, "certs/tsa.pem");
    const char *t = NULL, *b64, *nl;
    char when[40] = "", who[256] = "";
    struct cv_err e = {""};
    unsigned char *tok;
    size_t blen;
    int n;

    for (const char *q = block; q < block + len; q = nl + 1) {
        nl = memchr(q, '\n', (size_t)(block + len - q));
        if (!nl)
            break;
        if (strncmp(q, "timestamp ", 10) == 0) {
            t = q;
            break;
        }
    }
    if (!t)
        return;
    b64 = t + 10;
    blen = (size_t)(nl - b64);
    tok = blen && blen % 4 == 0 && blen < (2u << 20) ? malloc(blen) : NULL;
    n = tok ? EVP_DecodeBlock(tok, (const unsigned char *)b64, (int)blen) : -1;
    if (n > 0)
        n -= (b64[blen - 1] == '=') + (b64[blen - 2] == '=');
    if (n <= 0 || itg_tsa_check(block, (size_t)(t - block), tok, (size_t)n, ca ? ca->data : NULL,
                                ca ? ca->len : 0, when, sizeof(when), who, sizeof(who), &e) < 0)
        exp_ver_report(v, false, "timestamp", "integrity/checkpoints.log block %zu: %s", no,
                       n <= 0 ? "timestamp line is not base64" : e.msg);
    else
        exp_ver_report(v, true, "timestamp",
                       "integrity/checkpoints.log block %zu: time-stamped at %s by %s%s", no, when,
                       who, ca ? " (chains to certs/tsa.pem)"
                               : " (no certs/tsa.pem: the authority is not checked)");
    free(tok);
}

static bool has_retired(struct ver *v)
{
    for (size_t i = 0; i < v->n; i++)
        if (strncmp(v->e[i].rel, "certs/retired/", 14) == 0)
            return true;
    return false;
}

/*
 * A checkpoint signed before `camvault keys import` replaced the site identity: valid when a
 * certs/retired/<stamp>-signing.pem issued by certs/retired/<stamp>-root.pem verifies it. The
 * retired certificate's name goes to name[] (with a closing parenthesis, for the report).
 */
static bool cp_valid_retired(struct ver *v, const char *block, size_t len, char *name, size_t n)
{
    for (size_t i = 0; i < v->n; i++) {
        const char *rel = v->e[i].rel;
        size_t l = strlen(rel);
        char rootrel[EXP_SUM_PATH_MAX];
        X509 *sign, *root;
        bool ok;
        if (strncmp(rel, "certs/retired/", 14) != 0 || l < 26 ||
            strcmp(rel + l - 12, "-signing.pem") != 0)
            continue;
        snprintf(rootrel, sizeof(rootrel), "%.*s-root.pem", (int)(l - 12), rel);
        sign = cert_of(&v->e[i]);
        root = cert_of(exp_ver_find(v, rootrel));
        ok = sign && root && X509_verify(sign, X509_get0_pubkey(root)) == 1 &&
             cp_valid(X509_get0_pubkey(sign), block, len) == 1;
        ERR_clear_error();
        X509_free(sign);
        X509_free(root);
        if (ok) {
            snprintf(name, n, "%s)", rel);
            return true;
        }
    }
    return false;
}

static void check_integrity(struct ver *v, const struct ent *manifest)
{
    char retired[EXP_SUM_PATH_MAX + 2];
    const struct ent *log = exp_ver_find(v, "integrity/checkpoints.log");
    X509 *sign = cert_of(exp_ver_find(v, "certs/signing.pem"));
    bool *valid = NULL;
    size_t nblocks = 0;

    if (!log || !sign) {
        exp_ver_report(v, false, "checkpoint", "%s: missing",
               log ? "certs/signing.pem" : "integrity/checkpoints.log");
        goto out;
    }
    for (const char *p = log->data; p && *p; nblocks++) {
        const char *end = strstr(p, "\n\n");
        size_t len = end ? (size_t)(end - p) + 1 : strlen(p);
        bool *nv = realloc(valid, (nblocks + 1) * sizeof(*nv));
        if (!nv)
            goto out;
        valid = nv;
        valid[nblocks] = cp_valid(X509_get0_pubkey(sign), p, len) == 1;
        check_timestamp(v, p, len, nblocks + 1);
        retired[0] = 0;
        if (!valid[nblocks])
            valid[nblocks] = cp_valid_retired(v, p, len, retired, sizeof(retired));
        if (!valid[nblocks])
            exp_ver_report(v, false, "checkpoint",
                           "integrity/checkpoints.log block %zu: signature does not verify with "
                           "certs/signing.pem%s", nblocks + 1,
                           has_retired(v) ? " nor a certificate in certs/retired/" : "");
        else
            exp_ver_report(v, true, "checkpoint",
                           "integrity/checkpoints.log block %zu: signature valid%s%s", nblocks + 1,
                           retired[0] ? " (earlier site key " : "", retired[0] ? retired : "");
        p = end ? end + 2 : NULL;
    }
    for (size_t i = 0; i < v->n; i++) {
        size_t l = strlen(v->e[i].rel);
        if (strncmp(v->e[i].rel, "integrity/", 10) == 0 && l > 16 &&
            strcmp(v->e[i].rel + l - 6, ".chain") == 0)
            check_chain(v, &v->e[i], log->data, valid, nblocks, manifest);
    }
    for (size_t i = 0; i < v->n; i++)
        if (strncmp(v->e[i].rel, "native/", 7) == 0 && !v->e[i].chained)
            exp_ver_report(v, false, "chain", "%s: in no integrity/*.chain", v->e[i].rel);
out:
    free(valid);
    X509_free(sign);
}

/* The checkpoint block of integrity/checkpoints.log with sequence `seq` (*len its bytes up to
 * and including its signature line), or NULL. */
static const char *cp_block(const char *log, unsigned long long seq, size_t *len)
{
    char pat[40];

    snprintf(pat, sizeof(pat), "\nseq %llu\n", seq);
    for (const char *p = log; p && *p;) {
        const char *end = strstr(p, "\n\n");
        size_t l = end ? (size_t)(end - p) + 1 : strlen(p);
        if (memmem(p, l, pat, strlen(pat))) { /* within the block: linear in the log */
            *len = l;
            return p;
        }
        p = end ? end + 2 : NULL;
    }
    return NULL;
}

/* The custody/audit.chain lines: sequences from[0..n) dense, hashes. */
struct achain {
    unsigned long long first, n, broken;
    uint8_t (*hash)[32];
};

/* Parse the lines after the header; -1 with a FAIL reported when malformed. */
static int achain_parse(struct ver *v, const char *p, struct achain *a)
{
    unsigned line = 2;
    size_t cap = 0;

    for (; *p; line++) {
        const char *nl = strchr(p, '\n');
        unsigned long long seq;
        char hex[65];
        int used = 0;
        if (nl && sscanf(p, "broken %llu%n", &seq, &used) == 1 && p + used == nl) {
            a->broken = seq;
            return 0;
        }
        if (!nl || sscanf(p, "%llu %64s%n", &seq, hex, &used) != 2 || p + used != nl ||
            strlen(hex) != 64 || (a->n && seq != a->first + a->n) || seq == 0) {
            exp_ver_report(v, false, "custody", "custody/audit.chain line %u: malformed", line);
            return -1;
        }
        if (a->n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            uint8_t (*nh)[32] = nc <= (16u << 20) ? realloc(a->hash, nc * 32) : NULL;
            if (!nh) {
                exp_ver_report(v, false, "custody", "custody/audit.chain: too many lines");
                return -1;
            }
            a->hash = nh;
            cap = nc;
        }
        if (!a->n)
            a->first = seq;
        if (cv_unhex(hex, a->hash[a->n], 32) < 0) {
            exp_ver_report(v, false, "custody", "custody/audit.chain line %u: malformed", line);
            return -1;
        }
        a->n++;
        p = nl + 1;
    }
    return 0;
}

/* The chain's hash of record seq, or NULL when it lacks it. */
static const uint8_t *achain_at(const struct achain *a, unsigned long long seq)
{
    return seq >= a->first && seq - a->first < a->n ? a->hash[seq - a->first] : NULL;
}

/*
 * custody/audit.chain against the audit head that its checkpoint signs (docs/evidence.md): the
 * chain reaches the signed record with the signed hash, and every custody line up to it sits in
 * the chain at its sequence (its hash, and its previous hash when the chain has it). Packages
 * of an older camvault lack the file, old checkpoints lack the audit line: said, not failed.
 */
static void check_custody_chain(struct ver *v)
{
    const struct ent *ch = exp_ver_find(v, "custody/audit.chain");
    const struct ent *cu = exp_ver_find(v, "custody/audit.log");
    const struct ent *log = exp_ver_find(v, "integrity/checkpoints.log");
    X509 *sign = NULL;
    struct achain a = {0};
    unsigned long long cpseq, first = 0, covered = 0;
    uint64_t sseq;
    uint8_t shash[32];
    const char *blk, *nl;
    char retired[EXP_SUM_PATH_MAX + 2];
    unsigned bad = v->failed, line = 0;
    size_t blen = 0;
    int used = 0;

    if (!ch) {
        exp_ver_report(v, true, "custody", "custody/audit.chain: absent (a package of an older "
                       "camvault): the custody lines are not checked against a signed audit head");
        return;
    }
    if (!cu)
        return; /* exp_ver_custody reported it */
    nl = strchr(ch->data, '\n');
    if (nl && strncmp(ch->data, "checkpoint none\n", 16) == 0) {
        exp_ver_report(v, true, "custody", "no signed checkpoint existed when the package was "
                       "made: the custody lines are not yet covered by one");
        return;
    }
    if (!nl || sscanf(ch->data, "checkpoint %llu%n", &cpseq, &used) != 1 ||
        ch->data + used != nl) {
        exp_ver_report(v, false, "custody", "custody/audit.chain line 1: expected 'checkpoint "
                       "<seq>'");
        return;
    }
    blk = log ? cp_block(log->data, cpseq, &blen) : NULL;
    sign = cert_of(exp_ver_find(v, "certs/signing.pem"));
    if (!blk) {
        exp_ver_report(v, false, "custody", "custody/audit.chain names checkpoint %llu, which "
                       "integrity/checkpoints.log lacks", cpseq);
        goto out;
    }
    if (!(sign && cp_valid(X509_get0_pubkey(sign), blk, blen) == 1) &&
        !cp_valid_retired(v, blk, blen, retired, sizeof(retired))) {
        exp_ver_report(v, false, "custody", "checkpoint %llu (named by custody/audit.chain): "
                       "signature does not verify", cpseq);
        goto out;
    }
    if (itg_checkpoint_audit(blk, blen, &sseq, shash) == CV_ENOENT) {
        exp_ver_report(v, true, "custody", "checkpoint %llu has no audit head (written by an "
                       "older camvault): the custody lines are not checked against it", cpseq);
        goto out;
    } else if (itg_checkpoint_audit(blk, blen, &sseq, shash) < 0) {
        exp_ver_report(v, false, "custody", "checkpoint %llu: malformed audit line", cpseq);
        goto out;
    }
    if (achain_parse(v, nl + 1, &a) < 0)
        goto out;
    if (cu->data[0] >= '1' && cu->data[0] <= '9')
        first = strtoull(cu->data, NULL, 10);
    if (first == 0 || first > sseq) {
        exp_ver_report(v, true, "custody", "the custody lines begin after audit record %llu, "
                       "the last that checkpoint %llu signs: not yet covered by a checkpoint",
                       (unsigned long long)sseq, cpseq);
        goto out;
    }
    if (a.broken) {
        exp_ver_report(v, false, "custody", "custody/audit.chain: audit record %llu was missing "
                       "or did not recompute from its line when the package was made (the "
                       "site's audit log is damaged; checkpoint %llu signed record %llu)",
                       a.broken, cpseq, (unsigned long long)sseq);
        goto out;
    }
    if (!a.n || a.first != first || a.first + a.n - 1 < sseq) {
        exp_ver_report(v, false, "custody", "audit log ends at record %llu but checkpoint %llu "
                       "signed record %llu (custody/audit.chain: records were deleted from the "
                       "log's end)", a.n ? a.first + a.n - 1 : first - 1, cpseq,
                       (unsigned long long)sseq);
        goto out;
    }
    for (const char *p = cu->data; *p; line++) {
        const char *e = strchr(p, '\n');
        unsigned long long seq;
        char ph[65], hh[65];
        uint8_t prev[32], hash[32];
        const uint8_t *want, *wprev;
        if (!e || sscanf(p, "%llu %64s %64s", &seq, ph, hh) != 3 || cv_unhex(ph, prev, 32) < 0 ||
            cv_unhex(hh, hash, 32) < 0)
            goto out; /* exp_ver_custody reported it */
        if (seq > sseq)
            break;
        want = achain_at(&a, seq);
        wprev = achain_at(&a, seq - 1);
        if (!want || memcmp(want, hash, 32) != 0 || (wprev && memcmp(wprev, prev, 32) != 0))
            exp_ver_report(v, false, "custody", "custody/audit.log line %u (audit record %llu): "
                           "not the record custody/audit.chain holds at %llu", line + 1, seq, seq);
        covered = line + 1;
        p = e + 1;
    }
    if (memcmp(achain_at(&a, sseq), shash, 32) != 0)
        exp_ver_report(v, false, "custody", "custody/audit.log lines 1-%llu (audit records %llu.."
                       "%llu) do not lead to the audit head that checkpoint %llu signed: a record "
                       "at or below %llu was rewritten", covered, first, (unsigned long long)sseq,
                       cpseq, (unsigned long long)sseq);
    if (v->failed == bad)
        exp_ver_report(v, true, "custody", "custody/audit.log lines 1-%llu lead to audit record "
                       "%llu, which checkpoint %llu signs", covered, (unsigned long long)sseq,
                       cpseq);
out:
    free(a.hash);
    X509_free(sign);
}

int exp_verify(const char *zip_path, bool json, FILE *out, unsigned *failed, struct cv_err *err)
{
    struct ver v = {.json = json, .out = out};
    const struct ent *sums, *manifest;
    struct cv_json *doc = NULL;
    int rc;

    cv_buf_init(&v.js, 64u << 20);
    *failed = 0;
    rc = read_zip(&v, zip_path, err);
    if (rc < 0)
        goto out;
    sums = exp_ver_find(&v, "SHA256SUMS");
    manifest = exp_ver_find(&v, "manifest.json");
    if (!sums || !manifest) {
        rc = cv_errf(err, CV_ECORRUPT, "'%s' is not a camvault package: no %s", zip_path,
                     sums ? "manifest.json" : "SHA256SUMS");
        goto out;
    }
    rc = exp_ver_manifest_parse(zip_path, manifest, &doc, err);
    if (rc < 0)
        goto out;
    check_sums(&v, sums);
    check_cms(&v, sums);
    check_integrity(&v, manifest);
    exp_ver_manifest_check(&v, zip_path, doc);
    exp_ver_custody(&v);
    check_custody_chain(&v);
    exp_ver_clock(&v);
    *failed = v.failed;
    if (json) {
        struct cv_buf h;
        cv_buf_init(&h, 8192);
        cv_json_str(&h, zip_path);
        fprintf(out, "{\"package\":%s,\"valid\":%s,\"checks\":[%s]}\n", cv_buf_str(&h),
                v.failed ? "false" : "true", cv_buf_str(&v.js));
        cv_buf_release(&h);
    } else {
        fprintf(out, "%s: %s (%u checks, %u failed)\n", zip_path, v.failed ? "NOT VALID" : "valid",
                v.checks, v.failed);
    }
out:
    cv_json_free(doc);
    for (size_t i = 0; i < v.n; i++)
        free(v.e[i].data);
    free(v.e);
    cv_buf_release(&v.js);
    return rc;
}
