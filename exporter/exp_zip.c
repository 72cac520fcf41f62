/*
 * exp_zip.c: the package writer: a ZIP written with libarchive into a temporary file, every
 * entry hashed on the way for SHA256SUMS, closed by a CMS detached signature over SHA256SUMS and
 * made durable (fsync, rename, fsync directory) only when complete. Entries are stored, not
 * deflated: segments are already compressed video, and a stored ZIP is easy to inspect.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "exporter/clip.h"
#include "exporter/exp_int.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "storage-layout/layout.h"
#include "common/banned.h"

#define SUMS_MAX_ENTRIES 100000
#define COPY_CHUNK (1u << 20)

static int zip_err(struct exp_zip *z, struct cv_err *err, const char *what)
{
    const char *m = archive_error_string(z->a);

    return cv_errf(err, CV_EIO, "%s '%s': %s", what, z->out, m ? m : "unknown libarchive error");
}

int exp_zip_open(struct exp_zip *z, const char *out_path, const char *folder, int64_t now_us,
                 struct cv_err *err)
{
    memset(z, 0, sizeof(*z));
    z->fd = -1;
    z->mtime_s = now_us / 1000000;
    if (cv_strlcpy(z->out, out_path, sizeof(z->out)) < 0 ||
        snprintf(z->tmp, sizeof(z->tmp), "%s.tmp", out_path) >= (int)sizeof(z->tmp) ||
        snprintf(z->prefix, sizeof(z->prefix), "%s/", folder) >= (int)sizeof(z->prefix))
        return cv_errf(err, CV_ELIMIT, "output path '%s' is too long", out_path);
    if (access(out_path, F_OK) == 0)
        return cv_errf(err, CV_EEXIST, "'%s' already exists", out_path);
    z->fd = open(z->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (z->fd < 0) {
        int e = errno;
        z->tmp[0] = 0; /* not ours: never unlink it */
        return cv_errf(err, cv_errno_code(e), "cannot create '%s.tmp': %s%s", out_path, strerror(e),
                       e == EEXIST ? " (another export running? remove it)" : "");
    }
    z->a = archive_write_new();
    if (!z->a)
        return cv_errf(err, CV_ENOMEM, "out of memory starting '%s'", out_path);
    if (archive_write_set_format_zip(z->a) != ARCHIVE_OK ||
        archive_write_set_options(z->a, "zip:compression=store") != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(z->a, 1) != ARCHIVE_OK ||
        archive_write_open_fd(z->a, z->fd) != ARCHIVE_OK)
        return zip_err(z, err, "cannot start ZIP");
    return 0;
}

static int add_sum(struct exp_zip *z, const char *rel, const uint8_t md[32], struct cv_err *err)
{
    if (z->nsums == z->cap) {
        size_t cap = z->cap ? z->cap * 2 : 64;
        struct exp_sum *s;
        if (cap > SUMS_MAX_ENTRIES || !(s = realloc(z->sums, cap * sizeof(*s))))
            return cv_errf(err, CV_ELIMIT, "too many files in package '%s'", z->out);
        z->sums = s;
        z->cap = cap;
    }
    if (cv_strlcpy(z->sums[z->nsums].path, rel, EXP_SUM_PATH_MAX) < 0)
        return cv_errf(err, CV_ELIMIT, "package path '%s' is too long", rel);
    cv_hex(md, 32, z->sums[z->nsums].hex);
    z->nsums++;
    return 0;
}

static int write_header(struct exp_zip *z, const char *rel, uint64_t size, struct cv_err *err)
{
    struct archive_entry *e = archive_entry_new();
    char full[EXP_SUM_PATH_MAX + 320];
    int rc = 0;

    if (!e)
        return cv_errf(err, CV_ENOMEM, "out of memory writing '%s'", z->out);
    snprintf(full, sizeof(full), "%s%s", z->prefix, rel);
    archive_entry_set_pathname(e, full);
    archive_entry_set_size(e, (la_int64_t)size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, (time_t)z->mtime_s, 0);
    if (archive_write_header(z->a, e) != ARCHIVE_OK)
        rc = zip_err(z, err, "cannot write an entry header to");
    archive_entry_free(e);
    return rc;
}

static int write_data(struct exp_zip *z, const void *p, size_t n, struct cv_err *err)
{
    la_ssize_t w = archive_write_data(z->a, p, n);

    if (w < 0 || (size_t)w != n)
        return zip_err(z, err, "cannot write to");
    return 0;
}

int exp_zip_add_mem(struct exp_zip *z, const char *rel, const void *data, size_t len,
                    struct cv_err *err)
{
    uint8_t md[32];
    unsigned int mdlen = 32;
    int rc;

    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
        return itg_ssl_err(err, "SHA-256");
    rc = write_header(z, rel, len, err);
    if (rc == 0 && len)
        rc = write_data(z, data, len, err);
    if (rc == 0)
        rc = add_sum(z, rel, md, err);
    return rc;
}

/* Reads the next *n bytes (at most) of an entry's source at offset off into buf; sets *n to
 * what it read (at least 1). 0 or an error in err. */
typedef int (*zip_read_fn)(void *src, uint64_t off, uint8_t *buf, size_t *n, struct cv_err *err);

/*
 * Write entry `rel` of `size` bytes read from src by rd, COPY_CHUNK at a time, and its SHA-256
 * into md. Out of memory is "out of memory <verb> '<name>'".
 */
static int add_streamed(struct exp_zip *z, const char *rel, uint64_t size, zip_read_fn rd,
                        void *src, const char *verb, const char *name, uint8_t md[32],
                        struct cv_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t *buf = malloc(COPY_CHUNK);
    unsigned int mdlen = 32;
    uint64_t done = 0;
    int rc;

    if (!ctx || !buf) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory %s '%s'", verb, name);
        goto out;
    }
    if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        rc = itg_ssl_err(err, "SHA-256");
        goto out;
    }
    rc = write_header(z, rel, size, err);
    while (rc == 0 && done < size) {
        size_t n = size - done < COPY_CHUNK ? (size_t)(size - done) : COPY_CHUNK;
        rc = rd(src, done, buf, &n, err);
        if (rc == 0) {
            EVP_DigestUpdate(ctx, buf, n);
            rc = write_data(z, buf, n, err);
        }
        done += n;
    }
    if (rc == 0 && !EVP_DigestFinal_ex(ctx, md, &mdlen))
        rc = itg_ssl_err(err, "SHA-256");
out:
    EVP_MD_CTX_free(ctx);
    free(buf);
    return rc;
}

/* A segment file copied into a package: read in order from fd. */
struct file_src {
    int fd;
    const char *path;
};

static int file_read(void *src, uint64_t off, uint8_t *buf, size_t *n, struct cv_err *err)
{
    struct file_src *f = src;
    ssize_t r;

    (void)off; /* read in order */
    do
        r = read(f->fd, buf, *n);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return cv_errf(err, CV_EIO, "cannot read segment '%s': %s", f->path,
                       r < 0 ? strerror(errno) : "file shrank while copying");
    *n = (size_t)r;
    return 0;
}

int exp_zip_add_file(struct exp_zip *z, const char *rel, const char *abspath,
                     const uint8_t expect[32], uint64_t *bytes, struct cv_err *err)
{
    struct file_src f = {open(abspath, O_RDONLY | O_CLOEXEC), abspath};
    uint8_t md[32];
    struct stat st;
    int rc;

    if (f.fd < 0 || fstat(f.fd, &st) < 0) {
        rc = cv_errf(err, cv_errno_code(errno), "cannot read segment '%s': %s", abspath,
                     strerror(errno));
        goto out;
    }
    rc = add_streamed(z, rel, (uint64_t)st.st_size, file_read, &f, "copying", abspath, md, err);
    if (rc < 0)
        goto out;
    if (memcmp(md, expect, 32) != 0) {
        char want[65], got[65];
        cv_hex(expect, 32, want);
        cv_hex(md, 32, got);
        rc = cv_errf(err, CV_ECORRUPT,
                     "segment '%s' does not match the index: SHA-256 %s, index says %s", abspath,
                     got, want);
        goto out;
    }
    rc = add_sum(z, rel, md, err);
    *bytes = (uint64_t)st.st_size;
out:
    if (f.fd >= 0)
        close(f.fd);
    return rc;
}

static int clip_read(void *src, uint64_t off, uint8_t *buf, size_t *n, struct cv_err *err)
{
    return exp_clip_read(src, off, buf, *n, err);
}

int exp_zip_add_clip(struct exp_zip *z, const char *rel, struct exp_clip *c, uint8_t sha_out[32],
                     struct cv_err *err)
{
    int rc = add_streamed(z, rel, exp_clip_size(c), clip_read, c, "writing", rel, sha_out, err);

    if (rc == 0)
        rc = add_sum(z, rel, sha_out, err);
    return rc;
}

static int sum_cmp(const void *a, const void *b)
{
    return strcmp(((const struct exp_sum *)a)->path, ((const struct exp_sum *)b)->path);
}

/* CMS detached signature (DER) of `data` with ROOT/keys/signing.key, signing.pem embedded and
 * root.pem as an extra certificate. */
static int cms_sign(const char *root, const void *data, size_t len, struct cv_buf *der,
                    struct cv_err *err)
{
    char dir[PATH_MAX], path[PATH_MAX];
    const char *names[3] = {"signing.key", "signing.pem", "root.pem"};
    EVP_PKEY *key = NULL;
    X509 *cert = NULL, *rootc = NULL;
    STACK_OF(X509) *extra = NULL;
    BIO *in = NULL, *out = NULL;
    CMS_ContentInfo *cms = NULL;
    char *p;
    long n;
    int rc = 0;

    if (lay_dir(root, "keys", dir, sizeof(dir), err) < 0)
        return CV_ELIMIT;
    for (int i = 0; i < 3; i++) {
        BIO *b;
        if (cv_path_join(path, sizeof(path), dir, names[i], err) < 0) {
            rc = CV_ELIMIT;
            goto out;
        }
        b = BIO_new_file(path, "r");
        if (!b) {
            rc = itg_ssl_err(err, path);
            goto out;
        }
        if (i == 0)
            key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        else if (i == 1)
            cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
        else
            rootc = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
        if ((i == 0 && !key) || (i == 1 && !cert) || (i == 2 && !rootc)) {
            rc = itg_ssl_err(err, path);
            goto out;
        }
    }
    extra = sk_X509_new_null();
    in = BIO_new_mem_buf(data, (int)len);
    out = BIO_new(BIO_s_mem());
    if (!extra || !in || !out || !sk_X509_push(extra, rootc)) {
        rc = itg_ssl_err(err, "CMS signature: out of memory");
        goto out;
    }
    rootc = NULL; /* owned by extra now */
    if (cv_path_join(path, sizeof(path), dir, "chain.pem", NULL) == 0) {
        BIO *b = BIO_new_file(path, "r"); /* intermediates of an imported identity, if any */
        X509 *c;
        while (b && (c = PEM_read_bio_X509(b, NULL, NULL, NULL)))
            if (!sk_X509_push(extra, c))
                X509_free(c);
        BIO_free(b);
        ERR_clear_error();
    }
    cms = CMS_sign(cert, key, extra, in, CMS_DETACHED | CMS_BINARY);
    if (!cms || !i2d_CMS_bio(out, cms)) {
        rc = itg_ssl_err(err, "cannot sign SHA256SUMS");
        goto out;
    }
    n = BIO_get_mem_data(out, &p);
    cv_buf_put(der, p, (size_t)n);
out:
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    BIO_free(out);
    sk_X509_pop_free(extra, X509_free);
    X509_free(rootc);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

int exp_zip_finish(struct exp_zip *z, const char *root, struct cv_err *err)
{
    struct cv_buf sums, der;
    int rc;

    cv_buf_init(&sums, 64u << 20);
    cv_buf_init(&der, 1u << 20);
    qsort(z->sums, z->nsums, sizeof(z->sums[0]), sum_cmp);
    for (size_t i = 0; i < z->nsums; i++)
        cv_buf_printf(&sums, "%s  %s\n", z->sums[i].hex, z->sums[i].path);
    if (!cv_buf_ok(&sums)) {
        rc = cv_errf(err, CV_ELIMIT, "SHA256SUMS of '%s' is too large", z->out);
        goto out;
    }
    rc = cms_sign(root, sums.data, sums.len, &der, err);
    if (rc == 0 && !cv_buf_ok(&der))
        rc = cv_errf(err, CV_ELIMIT, "CMS signature too large");
    if (rc == 0)
        rc = exp_zip_add_mem(z, "SHA256SUMS", sums.data, sums.len, err);
    if (rc == 0)
        rc = exp_zip_add_mem(z, "SHA256SUMS.p7s", der.data, der.len, err);
    if (rc < 0)
        goto out;
    if (archive_write_close(z->a) != ARCHIVE_OK) {
        rc = zip_err(z, err, "cannot finish");
        goto out;
    }
    if (fsync(z->fd) < 0 || close(z->fd) < 0) {
        z->fd = -1;
        rc = cv_errf(err, CV_EIO, "cannot write '%s': %s", z->tmp, strerror(errno));
        goto out;
    }
    z->fd = -1;
    if (rename(z->tmp, z->out) < 0) {
        rc = cv_errf(err, cv_errno_code(errno), "cannot rename '%s' to '%s': %s", z->tmp, z->out,
                     strerror(errno));
        goto out;
    }
    z->tmp[0] = 0;
    rc = cv_fsync_parent(z->out, err);
out:
    cv_buf_release(&sums);
    cv_buf_release(&der);
    exp_zip_abort(z);
    return rc;
}

void exp_zip_abort(struct exp_zip *z)
{
    if (z->a)
        archive_write_free(z->a); /* also closes the archive; the fd stays ours */
    z->a = NULL;
    if (z->fd >= 0)
        close(z->fd);
    z->fd = -1;
    if (z->tmp[0])
        unlink(z->tmp);
    z->tmp[0] = 0;
    free(z->sums);
    z->sums = NULL;
    z->nsums = z->cap = 0;
}
