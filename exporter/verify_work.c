/*
 * verify_work.c: the manifest checks of `camvault verify` and the rebuild of working copies
 * (contract in verify_int.h; the procedure is docs/working-copies.md).
 *
 * A working copy is trusted only because it can be made again: from the native files it names,
 * for the range it was built for, exporter/clip.c must produce exactly its bytes. The natives are
 * in the ZIP, so they are extracted (only those needed) into a private temporary directory for
 * the rebuild and removed afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "common/fileio.h"
#include "common/json.h"
#include "exporter/clip.h"
#include "exporter/verify_int.h"
#include "common/banned.h"

#define FORMAT "camvault export 1"
#define MAX_SOURCES 100000

int exp_ver_manifest_parse(const char *zip, const struct ent *manifest, struct cv_json **doc,
                           struct cv_err *err)
{
    const struct cv_json_limits lim = {.max_bytes = 16u << 20,
                                       .max_depth = 8,
                                       .max_string = 4096,
                                       .max_items = 1000000,
                                       .max_nodes = 2000000};
    const struct cv_jv *root, *fmt, *cams, *work;
    struct cv_err e = {""};

    *doc = NULL;
    if (cv_json_parse(manifest->data, manifest->len, &lim, doc, &e) < 0)
        return cv_errf(err, CV_ECORRUPT, "'%s': manifest.json is not valid: %s", zip, e.msg);
    root = cv_json_root(*doc);
    fmt = cv_json_get(root, "format");
    cams = cv_json_get(root, "cameras");
    work = cv_json_get(root, "working");
    if (!fmt || fmt->type != CV_JSON_STR || strcmp(fmt->str, FORMAT) != 0 || !cams ||
        cams->type != CV_JSON_ARR || (work && work->type != CV_JSON_ARR)) {
        cv_json_free(*doc);
        *doc = NULL;
        return cv_errf(err, CV_ECORRUPT,
                       "'%s': manifest.json is not a camvault manifest (needs \"format\": \"%s\" "
                       "and a \"cameras\" list)",
                       zip, FORMAT);
    }
    return 0;
}

/* One file the manifest describes: present, same size, same SHA-256. */
static void check_file(struct ver *v, const struct cv_jv *f, const char *what, unsigned *bad)
{
    const char *path = NULL, *sha = NULL;
    int64_t bytes = 0;
    uint8_t want[32];
    struct ent *e;
    struct cv_err err = {""};

    if (cv_json_get_str(f, "path", true, &path, &err) < 0 ||
        cv_json_get_str(f, "sha256", true, &sha, &err) < 0 ||
        cv_json_get_i64(f, "bytes", true, 0, INT64_MAX, &bytes, &err) < 0 ||
        cv_unhex(sha, want, 32) < 0) {
        exp_ver_report(v, false, "manifest", "manifest.json: a %s entry is malformed: %s", what,
                       err.msg[0] ? err.msg : "sha256 is not 64 hex digits");
        (*bad)++;
        return;
    }
    e = exp_ver_find(v, path);
    if (!e) {
        exp_ver_report(v, false, "manifest", "%s: in manifest.json but not in the package", path);
        (*bad)++;
        return;
    }
    e->described = true;
    if (memcmp(e->sha, want, 32) != 0 || e->bytes != (uint64_t)bytes) {
        exp_ver_report(v, false, "manifest", "%s: %s differs from manifest.json", path,
                       e->bytes != (uint64_t)bytes ? "size" : "SHA-256");
        (*bad)++;
    }
}

/* ---- rebuilding working copies ---- */

struct extract {
    char dir[PATH_MAX];
    struct ent **want; /* natives to extract, and their temporary paths */
    char (*tmp)[PATH_MAX];
    bool *done;
    size_t n, cap;
};

static long want_index(const struct extract *x, const struct ent *e)
{
    for (size_t i = 0; i < x->n; i++)
        if (x->want[i] == e)
            return (long)i;
    return -1;
}

static int want_add(struct extract *x, struct ent *e)
{
    if (want_index(x, e) >= 0)
        return 0;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        struct ent **w = cap <= MAX_SOURCES ? realloc(x->want, cap * sizeof(*w)) : NULL;
        if (!w)
            return -1;
        x->want = w;
        x->cap = cap;
    }
    x->want[x->n++] = e;
    return 0;
}

static void extract_release(struct extract *x)
{
    for (size_t i = 0; x->tmp && i < x->n; i++)
        if (x->done[i])
            unlink(x->tmp[i]);
    if (x->dir[0])
        rmdir(x->dir);
    free(x->want);
    free(x->tmp);
    free(x->done);
}

/* Copy the wanted entries out of the ZIP into x->dir. */
static int extract(struct ver *v, const char *zip, struct extract *x, struct cv_err *err)
{
    const char *tmpdir = getenv("TMPDIR");
    struct archive *a = NULL;
    struct archive_entry *ae;
    uint8_t *buf = NULL;
    int rc = 0, r;

    if (snprintf(x->dir, sizeof(x->dir), "%s/camvault-verify-XXXXXX",
                 tmpdir && tmpdir[0] ? tmpdir : "/tmp") >= (int)sizeof(x->dir) ||
        !mkdtemp(x->dir)) {
        x->dir[0] = 0;
        return cv_errf(err, CV_EIO, "cannot make a temporary directory: %s", strerror(errno));
    }
    x->tmp = calloc(x->n, sizeof(*x->tmp));
    x->done = calloc(x->n, sizeof(*x->done));
    buf = malloc(CHUNK);
    a = archive_read_new();
    if (!x->tmp || !x->done || !buf || !a) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    archive_read_support_format_zip(a);
    if (archive_read_open_filename(a, zip, 65536) != ARCHIVE_OK) {
        rc = cv_errf(err, CV_EIO, "cannot read '%s': %s", zip, archive_error_string(a));
        goto out;
    }
    while (rc == 0 && (r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(ae);
        size_t tl = strlen(v->top);
        struct ent *e;
        long i;
        int fd;
        if (!name || strncmp(name, v->top, tl) != 0 || name[tl] != '/' ||
            !(e = exp_ver_find(v, name + tl + 1)) || (i = want_index(x, e)) < 0 || x->done[i])
            continue;
        snprintf(x->tmp[i], sizeof(x->tmp[i]), "%s/%ld.mp4", x->dir, i);
        fd = open(x->tmp[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = cv_errf(err, CV_EIO, "cannot create '%s': %s", x->tmp[i], strerror(errno));
            break;
        }
        x->done[i] = true;
        for (;;) {
            la_ssize_t n = archive_read_data(a, buf, CHUNK);
            if (n == 0 || n == ARCHIVE_WARN) /* a bad CRC was reported by the first pass */
                break;
            if (n < 0) {
                rc = cv_errf(err, CV_ECORRUPT, "cannot read '%s': %s", e->rel,
                             archive_error_string(a));
                break;
            }
            if (cv_write_all(fd, buf, (size_t)n) < 0) {
                rc = cv_errf(err, CV_EIO, "cannot write '%s': %s", x->tmp[i], strerror(errno));
                break;
            }
        }
        close(fd);
    }
out:
    archive_read_free(a);
    free(buf);
    return rc;
}

/* Rebuild working copy w from the extracted natives and compare. */
static void rebuild(struct ver *v, const struct cv_jv *w, const struct extract *x)
{
    const struct cv_jv *built = cv_json_get(w, "built_for"), *srcs = cv_json_get(w, "sources");
    const char *path = NULL, **paths = NULL;
    int64_t from = 0, to = 0;
    struct exp_clip *clip = NULL;
    struct cv_err err = {""};
    struct ent *e;
    uint8_t sha[32];
    size_t n = 0;
    int fd = -1;

    if (cv_json_get_str(w, "path", true, &path, &err) < 0 || !(e = exp_ver_find(v, path)))
        return; /* reported by the manifest check */
    if (!built || cv_json_get_i64(built, "from_us", true, INT64_MIN, INT64_MAX, &from, &err) < 0 ||
        cv_json_get_i64(built, "to_us", true, INT64_MIN, INT64_MAX, &to, &err) < 0 || !srcs ||
        srcs->type != CV_JSON_ARR || srcs->len == 0) {
        exp_ver_report(v, false, "working", "%s: manifest.json does not say how it was built%s%s",
                       path, err.msg[0] ? ": " : "", err.msg);
        return;
    }
    paths = calloc(srcs->len, sizeof(*paths));
    if (!paths) {
        exp_ver_report(v, false, "working", "%s: out of memory", path);
        return;
    }
    for (const struct cv_jv *s = srcs->child; s; s = s->next) {
        const char *sp = NULL;
        const struct ent *se;
        long i;
        if (cv_json_get_str(s, "path", true, &sp, &err) < 0 || !(se = exp_ver_find(v, sp)) ||
            strncmp(sp, "native/", 7) != 0 || (i = want_index(x, se)) < 0 || !x->done[i]) {
            exp_ver_report(v, false, "working", "%s: source '%s' is not a native file of the "
                           "package", path, sp ? sp : "?");
            goto out;
        }
        paths[n++] = x->tmp[i];
    }
    fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || exp_clip_open(&clip, paths, n, from, to, &err) < 0 ||
        exp_clip_write(clip, fd, sha, &err) < 0) {
        exp_ver_report(v, false, "working", "%s: cannot be rebuilt from its native files: %s",
                       path, err.msg[0] ? err.msg : strerror(errno));
        goto out;
    }
    if (exp_clip_source_count(clip) != n)
        exp_ver_report(v, false, "working", "%s: manifest.json names %zu native files, the "
                       "rebuild uses %zu", path, n, exp_clip_source_count(clip));
    else if (memcmp(sha, e->sha, 32) != 0)
        exp_ver_report(v, false, "working", "%s: differs from its rebuild from native/ "
                       "(SHA-256)", path);
    else
        exp_ver_report(v, true, "working", "%s: rebuilt byte for byte from %zu native files",
                       path, n);
out:
    if (fd >= 0)
        close(fd);
    exp_clip_free(clip);
    free(paths);
}

void exp_ver_manifest_check(struct ver *v, const char *zip, const struct cv_json *doc)
{
    const struct cv_jv *root = cv_json_root(doc);
    const struct cv_jv *cams = cv_json_get(root, "cameras"), *work = cv_json_get(root, "working");
    struct extract x;
    struct cv_err err = {""};
    unsigned bad = 0, files = 0;

    memset(&x, 0, sizeof(x));
    for (const struct cv_jv *c = cams->child; c; c = c->next) {
        const struct cv_jv *segs = cv_json_get(c, "segments");
        for (const struct cv_jv *s = segs && segs->type == CV_JSON_ARR ? segs->child : NULL; s;
             s = s->next, files++)
            check_file(v, s, "segment", &bad);
    }
    for (const struct cv_jv *w = work ? work->child : NULL; w; w = w->next, files++)
        check_file(v, w, "working", &bad);
    for (size_t i = 0; i < v->n; i++) {
        const char *rel = v->e[i].rel;
        if ((strncmp(rel, "native/", 7) == 0 || strncmp(rel, "working/", 8) == 0) &&
            !v->e[i].described) {
            exp_ver_report(v, false, "manifest", "%s: not described in manifest.json", rel);
            bad++;
        }
    }
    if (!bad)
        exp_ver_report(v, true, "manifest", "manifest.json describes all %u footage files", files);

    for (const struct cv_jv *w = work ? work->child : NULL; w; w = w->next) {
        const struct cv_jv *srcs = cv_json_get(w, "sources");
        for (const struct cv_jv *s = srcs && srcs->type == CV_JSON_ARR ? srcs->child : NULL; s;
             s = s->next) {
            const char *sp = NULL;
            struct ent *se;
            if (cv_json_get_str(s, "path", true, &sp, NULL) == 0 && strncmp(sp, "native/", 7) == 0 &&
                (se = exp_ver_find(v, sp)) && want_add(&x, se) < 0) {
                exp_ver_report(v, false, "working", "too many native sources");
                goto out;
            }
        }
    }
    if (!work || !work->child)
        goto out;
    if (x.n && extract(v, zip, &x, &err) < 0) {
        exp_ver_report(v, false, "working", "cannot rebuild the working copies: %s", err.msg);
        goto out;
    }
    for (const struct cv_jv *w = work->child; w; w = w->next)
        rebuild(v, w, &x);
out:
    extract_release(&x);
}

void exp_ver_custody(struct ver *v)
{
    const struct ent *c = exp_ver_find(v, "custody/audit.log");
    unsigned long long last = 0, n = 0;
    unsigned line = 0;

    if (!c) {
        exp_ver_report(v, false, "custody", "custody/audit.log: missing");
        return;
    }
    for (const char *p = c->data; *p; line++) {
        const char *nl = strchr(p, '\n');
        unsigned long long seq;
        uint8_t prev[32], hash[32], md[32];
        unsigned int mdlen = 32;
        char ph[65], hh[65];
        int used = 0;
        if (!nl || sscanf(p, "%llu %64s %64s %n", &seq, ph, hh, &used) != 3 || used == 0 ||
            p + used > nl || cv_unhex(ph, prev, 32) < 0 || cv_unhex(hh, hash, 32) < 0) {
            exp_ver_report(v, false, "custody", "custody/audit.log line %u: malformed", line + 1);
            return;
        }
        {
            EVP_MD_CTX *ctx = EVP_MD_CTX_new();
            int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
                     EVP_DigestUpdate(ctx, prev, 32) &&
                     EVP_DigestUpdate(ctx, p + used, (size_t)(nl - (p + used))) &&
                     EVP_DigestFinal_ex(ctx, md, &mdlen);
            EVP_MD_CTX_free(ctx);
            if (!ok || memcmp(md, hash, 32) != 0 || seq <= last) {
                exp_ver_report(v, false, "custody", "custody/audit.log line %u (audit record "
                               "%llu): %s", line + 1, seq, seq <= last ? "out of order"
                               : "hash does not recompute from its line");
                return;
            }
        }
        last = seq;
        n++;
        p = nl + 1;
    }
    exp_ver_report(v, true, "custody", "custody/audit.log: %llu audit records, each hash "
                   "recomputes", n);
}
