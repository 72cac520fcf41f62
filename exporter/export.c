/*
 * export.c: gather what an evidence package holds (segments, gaps, tombstones, chain links and
 * the checkpoints that sign them) in one read transaction, then write it with exp_zip (format
 * in export.h). The manifest and the chain files are built here; copying, hashing, SHA256SUMS
 * and the CMS signature live in exp_zip.c.
 */
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/log.h"
#include "integrity/audit_chain.h"
#include "exporter/clip.h"
#include "exporter/export.h"
#include "exporter/exp_int.h"
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "storage-layout/layout.h"
#include "common/banned.h"

#define LEDGER_MAX (256u << 20)
#define LIST_MAX 1000000 /* records of one kind for one camera in one export */
#define TEXT_MAX (64u << 20)
#define EXP_NOTE_MAX 512

/* A growable array of records (segments, gaps, tombstones) filled by index callbacks. */
struct list {
    void *v;
    size_t n, cap, size;
    bool oom;
};

static void *list_add(struct list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        void *v = cap <= LIST_MAX ? realloc(l->v, cap * l->size) : NULL;
        if (!v) {
            l->oom = true;
            return NULL;
        }
        l->v = v;
        l->cap = cap;
    }
    return (char *)l->v + l->size * l->n++;
}

static int add_seg(void *ctx, const struct idx_segment *s)
{
    struct idx_segment *d = list_add(ctx);
    if (d)
        *d = *s;
    return d ? 0 : 1;
}

static int add_gap(void *ctx, const struct idx_gap *g)
{
    struct idx_gap *d = list_add(ctx);
    if (d)
        *d = *g;
    return d ? 0 : 1;
}

static int add_tomb(void *ctx, const struct idx_tombstone *t)
{
    struct idx_tombstone *d = list_add(ctx);
    if (d)
        *d = *t;
    return d ? 0 : 1;
}

static int keep_seg(void *ctx, const struct idx_segment *s)
{
    *(struct idx_segment *)ctx = *s;
    return 0;
}

static int keep_tomb(void *ctx, const struct idx_tombstone *t)
{
    *(struct idx_segment *)ctx = t->seg;
    return 0;
}

/* One checkpoint block of the ledger: its text and signature line, borrowed from the file. */
struct cp {
    uint64_t seq;
    const char *p;
    size_t len;
    bool needed;
};

/* One source of a working copy: the segment (index into the camera's segs) and what was used. */
struct work_src {
    size_t seg;
    uint64_t offset, bytes;
    uint32_t fragments;
};

/* One working copy: a clip (exporter/clip.h) of one recorder run of one camera. */
struct work {
    char path[EXP_SUM_PATH_MAX];
    uint64_t run_id, bytes;
    int64_t first_us, end_us, origin_us;
    uint8_t sha[32];
    size_t src0, nsrc; /* in the camera's srcs list */
};

struct cam_exp {
    struct idx_camera cam;
    struct list works, srcs;       /* working copies and their sources */
    struct list notes;             /* char[EXP_NOTE_MAX]: working copies that could not be made */
    struct list segs, gaps, tombs; /* in the requested range */
    struct list links, dead;       /* chain: present segments and tombstones to the checkpoint */
    uint8_t prev[32];
    bool covered;
    uint64_t cp_seq;
    int64_t chain_to_us; /* start of the last chain link exported */
};

/* The start µs of `camera`'s head in checkpoint block c, or -1 when it names none. */
static int64_t cp_head(const struct cp *c, const char *camera)
{
    size_t clen = strlen(camera);
    const char *p = c->p, *end = c->p + c->len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        if ((size_t)(nl - p) > 6 + clen && strncmp(p, "head ", 5) == 0 &&
            strncmp(p + 5, camera, clen) == 0 && p[5 + clen] == ' ') {
            char num[24];
            int64_t v;
            const char *s = p + 6 + clen, *sp = memchr(s, ' ', (size_t)(nl - s));
            if (sp && (size_t)(sp - s) < sizeof(num)) {
                memcpy(num, s, (size_t)(sp - s));
                num[sp - s] = 0;
                if (cv_parse_i64(num, 0, INT64_MAX, &v) == 0)
                    return v;
            }
        }
        p = nl + 1;
    }
    return -1;
}

/* Split the ledger text into checkpoint blocks (separated by an empty line). *out malloc'd. */
static int ledger_parse(char *text, size_t len, struct cp **out, size_t *n, struct cv_err *err)
{
    struct list l = {.size = sizeof(struct cp)};

    for (size_t off = 0; off < len;) {
        const char *p = text + off;
        const char *e = memmem(p, len - off, "\n\n", 2);
        size_t blen = e ? (size_t)(e - p) + 1 : len - off;
        struct cp *c;
        /* a block cut short by a crash (no signature line) is never used */
        if (blen > 1 && strncmp(p, "camvault checkpoint 1\n", 22) == 0 &&
            memmem(p, blen, "\nsignature ", 11)) {
            const char *s = strstr(p, "\nseq ");
            c = list_add(&l);
            if (!c) {
                free(l.v);
                return cv_errf(err, CV_ENOMEM, "too many checkpoints in the ledger");
            }
            c->p = p;
            c->len = blen;
            c->needed = false;
            c->seq = s ? strtoull(s + 5, NULL, 10) : 0;
        }
        off += blen + (e ? 1 : 0);
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

/*
 * The checkpoints made during the range that show its clock states (common/clock.h): the first
 * and last, and each whose clock line differs in state from the one before it, so the package
 * tells `verify` every change of synchronisation without carrying each minute's checkpoint.
 */
static void mark_clock(struct cp *cps, size_t n, int64_t from, int64_t to)
{
    const char *was = NULL;
    size_t last = n;

    for (size_t i = 0; i < n; i++) {
        const char *tl = memmem(cps[i].p, cps[i].len, "\ntime ", 6);
        const char *cl = memmem(cps[i].p, cps[i].len, "\nclock ", 7);
        char ts[40] = "";
        int64_t us;
        if (!tl || sscanf(tl + 6, "%39s", ts) != 1 || cv_time_parse(ts, &us, NULL) < 0 ||
            us < from || us > to)
            continue;
        if (!was || (cl && strncmp(cl + 7, was, 4) != 0))
            cps[i].needed = true;
        was = cl ? cl + 7 : "none";
        last = i;
    }
    if (last < n)
        cps[last].needed = true;
}

/* Gather one camera: range contents, the link before it and the links up to its checkpoint. */
static int gather(struct idx_txn *t, const struct exp_request *req, struct cam_exp *c,
                  struct cp *cps, size_t ncps, struct cv_err *err)
{
    struct idx_segment before = {0}, tbefore = {0}, last;
    const struct idx_segment *first;
    int rc;

    rc = idx_camera_get(t, c->cam.id, &c->cam, err);
    if (rc == 0)
        rc = idx_segment_iter(t, c->cam.num, req->from_us, req->to_us, add_seg, &c->segs, err);
    if (rc == 0)
        rc = idx_gap_iter(t, c->cam.num, req->from_us, req->to_us, add_gap, &c->gaps, err);
    if (rc == 0)
        rc = idx_tombstone_iter(t, c->cam.num, req->from_us, req->to_us, add_tomb, &c->tombs, err);
    if (rc < 0 || c->segs.n == 0)
        return rc;
    first = c->segs.v;
    last = ((struct idx_segment *)c->segs.v)[c->segs.n - 1];
    rc = idx_segment_iter(t, c->cam.num, 0, first->start_us, keep_seg, &before, err);
    if (rc == 0)
        rc = idx_tombstone_iter(t, c->cam.num, 0, first->start_us, keep_tomb, &tbefore, err);
    if (rc < 0)
        return rc;
    if (tbefore.start_us > before.start_us)
        before = tbefore;
    memcpy(c->prev, before.chain, 32); /* zeros when this is the camera's first segment */
    c->chain_to_us = -1;
    for (size_t i = 0; i < ncps && c->chain_to_us < 0; i++) {
        int64_t h = cp_head(&cps[i], c->cam.id);
        if (h >= last.start_us) {
            c->chain_to_us = h;
            c->covered = true;
            c->cp_seq = cps[i].seq;
            cps[i].needed = true;
        }
    }
    if (c->chain_to_us < 0) {
        struct idx_segment head;
        rc = idx_segment_last(t, c->cam.num, &head, err);
        if (rc < 0)
            return rc;
        c->chain_to_us = head.start_us;
    }
    rc = idx_segment_iter(t, c->cam.num, first->start_us, c->chain_to_us + 1, add_seg, &c->links,
                          err);
    if (rc == 0)
        rc = idx_tombstone_iter(t, c->cam.num, first->start_us, c->chain_to_us + 1, add_tomb,
                                &c->dead, err);
    return rc;
}

/* Package path of a segment: native/<camera>/<YYYY-MM-DD>/<file> (the day keeps names unique). */
static void native_path(const struct cam_exp *c, const struct idx_segment *s, char *out, size_t n)
{
    const char *base = strrchr(s->path, '/'), *day = base;

    while (day && day > s->path && day[-1] != '/')
        day--;
    snprintf(out, n, "native/%s/%s", c->cam.id, day ? day : s->path);
}

static bool in_range(const struct cam_exp *c, int64_t start)
{
    const struct idx_segment *s = c->segs.v;
    return c->segs.n && start >= s[0].start_us && start <= s[c->segs.n - 1].start_us;
}

/* integrity/<camera>.chain: "prev <hex>", then "start end sha256 chain path|-" per link. */
static void chain_text(const struct cam_exp *c, struct cv_buf *b)
{
    const struct idx_segment *s = c->links.v;
    const struct idx_tombstone *d = c->dead.v;
    size_t i = 0, j = 0;
    char hex[65], sha[65], path[EXP_SUM_PATH_MAX];

    cv_hex(c->prev, 32, hex);
    cv_buf_printf(b, "prev %s\n", hex);
    while (i < c->links.n || j < c->dead.n) {
        bool seg = j >= c->dead.n || (i < c->links.n && s[i].start_us < d[j].seg.start_us);
        const struct idx_segment *x = seg ? &s[i++] : &d[j++].seg;
        /* the iteration also returns an earlier segment whose end overlaps the first start */
        if (x->start_us < ((const struct idx_segment *)c->segs.v)[0].start_us)
            continue;
        if (seg && in_range(c, x->start_us))
            native_path(c, x, path, sizeof(path));
        else
            cv_strlcpy(path, "-", sizeof(path));
        cv_hex(x->sha256, 32, sha);
        cv_hex(x->chain, 32, hex);
        cv_buf_printf(b, "%lld %lld %s %s %s\n", (long long)x->start_us, (long long)x->end_us, sha,
                      hex, path);
    }
}


static void json_kv(struct cv_buf *b, const char *key, const char *val, bool comma)
{
    cv_json_key(b, key);
    cv_json_str(b, val);
    if (comma)
        cv_buf_u8(b, ',');
}

static void manifest_camera(struct cv_buf *b, const struct cam_exp *c,
                            const struct exp_request *req)
{
    const struct idx_segment *s = c->segs.v;
    const struct idx_gap *g = c->gaps.v;
    const struct idx_tombstone *d = c->tombs.v;
    char path[EXP_SUM_PATH_MAX], sha[65], chain[65];

    cv_buf_u8(b, '{');
    json_kv(b, "id", c->cam.id, true);
    json_kv(b, "name", c->cam.name, true);
    json_kv(b, "location", c->cam.location, true);
    cv_buf_printf(b, "\"requested\":{");
    cv_json_time(b, "from", req->from_us);
    cv_buf_u8(b, ',');
    cv_json_time(b, "to", req->to_us);
    cv_buf_printf(b, "},\"delivered\":");
    if (c->segs.n) {
        cv_buf_u8(b, '{');
        cv_json_time(b, "first", s[0].start_us);
        cv_buf_u8(b, ',');
        cv_json_time(b, "last", s[c->segs.n - 1].end_us);
        cv_buf_u8(b, '}');
    } else {
        cv_buf_printf(b, "null");
    }
    cv_buf_printf(b, ",\"segments\":[");
    for (size_t i = 0; i < c->segs.n; i++) {
        native_path(c, &s[i], path, sizeof(path));
        cv_hex(s[i].sha256, 32, sha);
        cv_hex(s[i].chain, 32, chain);
        cv_buf_printf(b, "%s{\"role\":\"native\",", i ? "," : "");
        json_kv(b, "path", path, true);
        cv_json_time(b, "start", s[i].start_us);
        cv_buf_u8(b, ',');
        cv_json_time(b, "end", s[i].end_us);
        cv_buf_printf(b, ",\"bytes\":%llu,\"sha256\":\"%s\",\"chain\":\"%s\",\"frames\":%u,",
                      (unsigned long long)s[i].bytes, sha, chain, s[i].frames);
        json_kv(b, "video", s[i].video, true);
        json_kv(b, "audio", s[i].audio, true);
        cv_buf_printf(b, "\"recovered\":%s}", s[i].flags & IDX_SEG_RECOVERED ? "true" : "false");
    }
    cv_buf_printf(b, "],\"gaps\":[");
    for (size_t i = 0; i < c->gaps.n; i++) {
        cv_buf_printf(b, "%s{", i ? "," : "");
        cv_json_time(b, "start", g[i].start_us);
        cv_buf_u8(b, ',');
        cv_json_time(b, "end", g[i].end_us);
        cv_buf_u8(b, ',');
        json_kv(b, "reason", idx_gap_reason_name(g[i].reason), true);
        json_kv(b, "detail", g[i].detail, false);
        cv_buf_u8(b, '}');
    }
    cv_buf_printf(b, "],\"tombstones\":[");
    for (size_t i = 0; i < c->tombs.n; i++) {
        cv_hex(d[i].seg.sha256, 32, sha);
        cv_hex(d[i].seg.chain, 32, chain);
        cv_buf_printf(b, "%s{", i ? "," : "");
        cv_json_time(b, "start", d[i].seg.start_us);
        cv_buf_u8(b, ',');
        cv_json_time(b, "end", d[i].seg.end_us);
        cv_buf_printf(b, ",\"sha256\":\"%s\",\"chain\":\"%s\",", sha, chain);
        cv_json_time(b, "deleted", d[i].deleted_us);
        cv_buf_u8(b, ',');
        json_kv(b, "reason", idx_gap_reason_name(d[i].reason), true);
        json_kv(b, "why", d[i].detail, false);
        cv_buf_u8(b, '}');
    }
    if (!c->segs.n) {
        cv_buf_printf(b, "],\"integrity\":null}");
        return;
    }
    cv_buf_printf(b,
                  "],\"integrity\":{\"chain\":\"integrity/%s.chain\",\"covered_by_checkpoint\":"
                  "%s",
                  c->cam.id, c->covered ? "true" : "false");
    if (c->covered)
        cv_buf_printf(b, ",\"checkpoint_seq\":%llu", (unsigned long long)c->cp_seq);
    cv_buf_printf(b, ",\"chain_to_us\":%lld}}", (long long)c->chain_to_us);
}

/* A working copy: what it shows, how it was made (range and sources), its hash. */
static void manifest_working(struct cv_buf *b, const struct cam_exp *c, const struct work *w,
                             const struct exp_request *req, bool comma)
{
    const struct work_src *ws = (const struct work_src *)c->srcs.v + w->src0;
    const struct idx_segment *s = c->segs.v;
    char path[EXP_SUM_PATH_MAX], sha[65];

    cv_hex(w->sha, 32, sha);
    cv_buf_printf(b, "%s{\"role\":\"working\",", comma ? "," : "");
    json_kv(b, "camera", c->cam.id, true);
    json_kv(b, "path", w->path, true);
    cv_buf_printf(b, "\"bytes\":%llu,\"sha256\":\"%s\",\"run_id\":%llu,",
                  (unsigned long long)w->bytes, sha, (unsigned long long)w->run_id);
    cv_json_time(b, "first", w->first_us);
    cv_buf_u8(b, ',');
    cv_json_time(b, "end", w->end_us);
    cv_buf_u8(b, ',');
    cv_json_time(b, "origin", w->origin_us);
    cv_buf_printf(b, ",\"procedure\":\"camvault clip 1\",\"built_for\":{");
    cv_json_time(b, "from", req->from_us);
    cv_buf_u8(b, ',');
    cv_json_time(b, "to", req->to_us);
    cv_buf_printf(b, "},\"sources\":[");
    for (size_t i = 0; i < w->nsrc; i++) {
        native_path(c, &s[ws[i].seg], path, sizeof(path));
        cv_buf_printf(b, "%s{", i ? "," : "");
        json_kv(b, "path", path, true);
        cv_buf_printf(b, "\"offset\":%llu,\"bytes\":%llu,\"fragments\":%u}",
                      (unsigned long long)ws[i].offset, (unsigned long long)ws[i].bytes,
                      ws[i].fragments);
    }
    cv_buf_printf(b, "]}");
}

static void manifest(struct cv_buf *b, const struct exp_request *req, const struct exp_result *r,
                     const char *site, int64_t now, const struct cam_exp *cams)
{
    cv_buf_u8(b, '{');
    cv_buf_printf(b, "\"format\":\"camvault export 1\",");
    json_kv(b, "export_id", r->export_id, true);
    json_kv(b, "case", req->case_id, true);
    json_kv(b, "reason", req->reason, true);
    json_kv(b, "requester", req->requester, true);
    json_kv(b, "approver", NULL, true);
    json_kv(b, "operator", req->operator_name, true);
    json_kv(b, "site", site, true);
    json_kv(b, "software", EXP_VERSION, true);
    cv_json_time(b, "created", now);
    cv_buf_printf(b, ",\"cameras\":[");
    for (size_t i = 0; i < req->ncameras; i++) {
        if (i)
            cv_buf_u8(b, ',');
        manifest_camera(b, &cams[i], req);
    }
    cv_buf_printf(b, "],\"working\":[");
    for (size_t i = 0, n = 0; i < req->ncameras; i++)
        for (size_t j = 0; j < cams[i].works.n; j++)
            manifest_working(b, &cams[i], &((const struct work *)cams[i].works.v)[j], req,
                             n++ > 0);
    cv_buf_printf(b, "],\"notes\":[");
    for (size_t i = 0, n = 0; i < req->ncameras; i++)
        for (size_t j = 0; j < cams[i].notes.n; j++) {
            if (n++)
                cv_buf_u8(b, ',');
            cv_json_str(b, (const char *)cams[i].notes.v + j * EXP_NOTE_MAX);
        }
    cv_buf_printf(b, "]}\n");
}

static const char readme[] =
    "camvault evidence export / camvault 证据导出包\n"
    "\n"
    "This package holds recorded video exactly as stored (native/), a manifest of what was\n"
    "requested and delivered, with gaps and deleted footage (manifest.json), the hash-chain links\n"
    "and signed checkpoints that prove the footage was recorded as is (integrity/), and the site\n"
    "certificates (certs/). SHA256SUMS lists every file; SHA256SUMS.p7s signs that list.\n"
    "\n"
    "本包包含按原样存储的录像（native/）、请求与交付内容的清单（含缺失时段与已删除录像，\n"
    "manifest.json）、证明录像自录制以来未被改动的哈希链与已签名检查点（integrity/），以及本站\n"
    "证书（certs/）。SHA256SUMS 列出每个文件的哈希；SHA256SUMS.p7s 是对该列表的签名。\n"
    "\n"
    "Verify by hand, inside the unpacked folder / 手工验证（在解压后的目录中运行）：\n"
    "\n"
    "  sha256sum -c SHA256SUMS\n"
    "  openssl cms -verify -binary -inform DER -in SHA256SUMS.p7s -content SHA256SUMS "
    "-CAfile certs/root.pem -purpose any\n"
    "\n"
    "Both must succeed (\"OK\" for every file, \"Verification successful\"). Compare the\n"
    "fingerprint of certs/root.pem (openssl x509 -in certs/root.pem -noout -fingerprint -sha256)\n"
    "with the one the site published. `camvault verify PACKAGE.zip` also checks the chain and\n"
    "the checkpoints.\n"
    "两项都必须成功（每个文件显示 \"OK\"，并显示 \"Verification successful\"）。请将\n"
    "certs/root.pem 的指纹与本站公布的指纹核对。`camvault verify PACKAGE.zip` 还会检查哈希链与\n"
    "检查点。\n";

static int add_cert_file(struct exp_zip *z, const char *path, const char *rel, struct cv_err *err)
{
    char *data = NULL;
    size_t len;
    int rc = cv_read_file(path, 1u << 20, &data, &len, err);

    if (rc == 0)
        rc = exp_zip_add_mem(z, rel, data, len, err);
    free(data);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* certs/: root.pem, signing.pem, chain.pem (intermediates of an imported identity), tsa.pem
 * (the CA of the time-stamp authority, when the operator put one in keys/) and retired/ (certificates replaced by `camvault keys import`: older checkpoints name them). */
static int add_keys(struct exp_zip *z, const char *root, struct cv_err *err)
{
    const char *names[4] = {"root.pem", "signing.pem", "chain.pem", "tsa.pem"};
    char dir[PATH_MAX], path[PATH_MAX], rel[EXP_SUM_PATH_MAX];
    char *files[64];
    size_t nfiles = 0;
    struct dirent *de;
    DIR *d;
    int rc = lay_dir(root, "keys", dir, sizeof(dir), err);

    for (int i = 0; rc == 0 && i < 4; i++) {
        rc = cv_path_join(path, sizeof(path), dir, names[i], err);
        if (rc == 0 && i >= 2 && access(path, F_OK) != 0)
            continue; /* no intermediates (the site's own identity); no time-stamp authority */
        snprintf(rel, sizeof(rel), "certs/%s", names[i]);
        if (rc == 0)
            rc = add_cert_file(z, path, rel, err);
    }
    if (rc < 0 || cv_path_join(path, sizeof(path), dir, "retired", err) < 0 ||
        !(d = opendir(path)))
        return rc;
    while ((de = readdir(d)) && nfiles < 64) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] != '.' && l > 4 && strcmp(de->d_name + l - 4, ".pem") == 0 &&
            (files[nfiles] = strdup(de->d_name)))
            nfiles++;
    }
    closedir(d);
    qsort(files, nfiles, sizeof(files[0]), name_cmp);
    for (size_t i = 0; i < nfiles; i++) {
        char file[PATH_MAX];
        snprintf(rel, sizeof(rel), "certs/retired/%s", files[i]);
        if (rc == 0 && cv_path_join(file, sizeof(file), path, files[i], err) == 0)
            rc = add_cert_file(z, file, rel, err);
        free(files[i]);
    }
    return rc;
}

/* "20261122T091500Z" of µs UTC t. */
static void compact_utc(int64_t t, char out[20])
{
    char iso[40];

    cv_time_format_utc(t, iso, sizeof(iso), 0);
    snprintf(out, 20, "%.4s%.2s%.2sT%.2s%.2s%.2sZ", iso, iso + 5, iso + 8, iso + 11, iso + 14,
             iso + 17);
}

/*
 * The working copy of segs[a..b) (one recorder run of camera c) for the requested range, added
 * to the package as working/<camera>_<first>_<end>.mp4 and recorded in c->works / c->srcs.
 * Built by exporter/clip.c from the very files copied to native/, so `camvault verify` can
 * rebuild it from the package (docs/working-copies.md).
 */
static int add_working(struct exp_zip *z, const struct exp_request *req, struct cam_exp *c,
                       size_t a, size_t b, struct cv_err *err)
{
    const struct idx_segment *s = c->segs.v;
    char (*abs)[PATH_MAX] = calloc(b - a, sizeof(*abs));
    const char **paths = calloc(b - a, sizeof(*paths));
    struct exp_clip *clip = NULL;
    struct work *w = NULL;
    char from[20], to[20];
    int rc = 0;

    if (!abs || !paths) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = a; rc == 0 && i < b; i++) {
        rc = lay_abs(req->root, s[i].path, abs[i - a], sizeof(abs[0]), err);
        paths[i - a] = abs[i - a];
    }
    if (rc == 0)
        rc = exp_clip_open(&clip, paths, b - a, req->from_us, req->to_us, err);
    if (rc == CV_ENOENT) { /* the run only touches the range between two GOPs: nothing to play */
        rc = 0;
        goto out;
    }
    if (rc == CV_ECORRUPT || rc == CV_EMEDIA) {
        /* The natives are the evidence and go in as they are; only the convenience copy is
         * missing, and the manifest says why. */
        char *note = list_add(&c->notes);
        if (note)
            snprintf(note, EXP_NOTE_MAX, "no working copy of camera '%s' for run %llu: %s",
                     c->cam.id, (unsigned long long)s[a].run_id, err->msg);
        cv_warn("export: camera '%s': no working copy for run %llu: %s", c->cam.id,
                (unsigned long long)s[a].run_id, err->msg);
        rc = note ? 0 : cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    if (rc < 0)
        goto out;
    w = list_add(&c->works);
    if (!w) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    memset(w, 0, sizeof(*w));
    w->run_id = s[a].run_id;
    exp_clip_times(clip, &w->first_us, &w->end_us);
    w->origin_us = exp_clip_origin_us(clip);
    compact_utc(w->first_us, from);
    compact_utc(w->end_us, to);
    snprintf(w->path, sizeof(w->path), "working/%s_%s_%s.mp4", c->cam.id, from, to);
    if (c->works.n > 1 && strcmp(w[-1].path, w->path) == 0) /* two runs within one second */
        snprintf(w->path, sizeof(w->path), "working/%s_%s_%s-%zu.mp4", c->cam.id, from, to,
                 c->works.n);
    w->bytes = exp_clip_size(clip);
    w->src0 = c->srcs.n;
    for (size_t i = 0; i < exp_clip_source_count(clip); i++) {
        const struct exp_clip_source *cs = exp_clip_source_at(clip, i);
        struct work_src *ws = list_add(&c->srcs);
        size_t k = 0;
        while (k < b - a && strcmp(abs[k], cs->path) != 0)
            k++;
        if (!ws || k == b - a) {
            rc = cv_errf(err, ws ? CV_ESTATE : CV_ENOMEM, "working copy of '%s': source '%s' %s",
                         c->cam.id, cs->path, ws ? "is not among the segments" : "out of memory");
            goto out;
        }
        ws->seg = a + k;
        ws->offset = cs->offset;
        ws->bytes = cs->bytes;
        ws->fragments = cs->fragments;
        w->nsrc++;
    }
    rc = exp_zip_add_clip(z, w->path, clip, w->sha, err);
out:
    exp_clip_free(clip);
    free(paths);
    free(abs);
    return rc;
}

/* One working copy per recorder run among the camera's exported segments. */
static int add_workings(struct exp_zip *z, const struct exp_request *req, struct cam_exp *c,
                        struct cv_err *err)
{
    const struct idx_segment *s = c->segs.v;
    int rc = 0;

    for (size_t a = 0, b; rc == 0 && a < c->segs.n; a = b) {
        for (b = a + 1; b < c->segs.n && s[b].run_id == s[a].run_id; b++)
            ;
        rc = add_working(z, req, c, a, b, err);
    }
    return rc;
}

/*
 * custody/audit.chain (docs/evidence.md): "checkpoint <seq>|none", then the audit chain's hashes
 * from the first custody line's record to the record that checkpoint signs, so that a verifier
 * can check the case's lines against the signed head without the other cases' lines. The
 * checkpoint is the ledger's newest; it goes into integrity/checkpoints.log.
 */
static int custody_chain(struct idx_txn *t, const struct exp_request *req, struct cp *cps,
                         size_t ncps, struct cv_buf *out, struct cv_err *err)
{
    struct cp *c = ncps ? &cps[ncps - 1] : NULL;
    uint64_t first = 0, signed_seq = 0;
    uint8_t hash[32];
    int rc;

    if (!c) {
        cv_buf_printf(out, "checkpoint none\n");
        return 0;
    }
    c->needed = true;
    cv_buf_printf(out, "checkpoint %llu\n", (unsigned long long)c->seq);
    rc = itg_checkpoint_audit(c->p, c->len, &signed_seq, hash);
    if (rc == CV_ENOENT) /* an older camvault's checkpoint: nothing to chain to */
        return 0;
    if (rc < 0)
        return cv_errf(err, CV_ECORRUPT, "checkpoint %llu: malformed audit line",
                       (unsigned long long)c->seq);
    if (req->custody && req->custody_len && req->custody[0] >= '1' && req->custody[0] <= '9')
        first = strtoull(req->custody, NULL, 10);
    if (first == 0 || first > signed_seq)
        return 0;
    rc = itg_audit_chain(t, first, signed_seq, out, err);
    if (rc == 0 && !cv_buf_ok(out))
        rc = cv_errf(err, CV_ELIMIT, "custody/audit.chain too long");
    return rc;
}

/* Write everything into the open package z. */
static int write_all(struct exp_zip *z, const struct exp_request *req, struct exp_result *res,
                     const char *site, int64_t now, struct cam_exp *cams, const struct cp *cps,
                     size_t ncps, const struct cv_buf *chain, struct cv_err *err)
{
    struct cv_buf b;
    char path[EXP_SUM_PATH_MAX], abs[PATH_MAX];
    size_t total = 0;
    uint64_t total_bytes = 0;
    int rc = 0;

    cv_buf_init(&b, TEXT_MAX);
    for (size_t i = 0; i < req->ncameras; i++) {
        total += cams[i].segs.n;
        for (size_t j = 0; j < cams[i].segs.n; j++)
            total_bytes += ((const struct idx_segment *)cams[i].segs.v)[j].bytes;
    }
    for (size_t i = 0; rc == 0 && i < req->ncameras; i++) {
        const struct idx_segment *s = cams[i].segs.v;
        for (size_t j = 0; rc == 0 && j < cams[i].segs.n; j++) {
            uint64_t bytes = 0;
            native_path(&cams[i], &s[j], path, sizeof(path));
            rc = lay_abs(req->root, s[j].path, abs, sizeof(abs), err);
            if (rc == 0)
                rc = exp_zip_add_file(z, path, abs, s[j].sha256, &bytes, err);
            res->bytes += bytes;
            res->segments++;
            if (req->progress)
                fprintf(stderr, "\rcamvault export: %zu/%zu segments, %llu MB", res->segments,
                        total, (unsigned long long)(res->bytes >> 20));
            if (rc == 0 && req->progress_fn &&
                req->progress_fn(req->progress_ctx, res->bytes, total_bytes) != 0)
                rc = cv_errf(err, CV_ECANCELED, "export canceled");
        }
        if (rc == 0)
            rc = add_workings(z, req, &cams[i], err);
        if (rc == 0 && cams[i].segs.n) {
            cv_buf_reset(&b);
            chain_text(&cams[i], &b);
            snprintf(path, sizeof(path), "integrity/%s.chain", cams[i].cam.id);
            rc = cv_buf_ok(&b) ? exp_zip_add_mem(z, path, b.data, b.len, err)
                               : cv_errf(err, CV_ELIMIT, "chain of '%s' too long", path);
        }
    }
    if (req->progress)
        fputc('\n', stderr);
    cv_buf_reset(&b);
    for (size_t i = 0; i < ncps; i++)
        if (cps[i].needed)
            cv_buf_printf(&b, "%.*s\n", (int)cps[i].len, cps[i].p);
    if (rc == 0)
        rc = exp_zip_add_mem(z, "integrity/checkpoints.log", b.data, b.len, err);
    if (rc == 0)
        rc = add_keys(z, req->root, err);
    if (rc == 0)
        rc = exp_zip_add_mem(z, "README.txt", readme, sizeof(readme) - 1, err);
    if (rc == 0)
        rc = exp_zip_add_mem(z, "custody/audit.log", req->custody ? req->custody : "",
                             req->custody ? req->custody_len : 0, err);
    if (rc == 0)
        rc = exp_zip_add_mem(z, "custody/audit.chain", chain->data, chain->len, err);
    cv_buf_reset(&b);
    {
        struct exp_request r2 = *req;
        struct passwd *pw = r2.operator_name && r2.operator_name[0] ? NULL : getpwuid(getuid());
        if (pw)
            r2.operator_name = pw->pw_name;
        manifest(&b, &r2, res, site, now, cams);
    }
    if (rc == 0 && !cv_buf_ok(&b))
        rc = cv_errf(err, CV_ELIMIT, "manifest too large");
    if (rc == 0)
        rc = exp_zip_add_mem(z, "manifest.json", b.data, b.len, err);
    if (rc == 0) {
        struct cv_buf html;
        cv_buf_init(&html, TEXT_MAX + (256u << 10));
        exp_viewer_html(&html, (const char *)b.data, b.len);
        rc = cv_buf_ok(&html) ? exp_zip_add_mem(z, "index.html", html.data, html.len, err)
                              : cv_errf(err, CV_ELIMIT, "index.html too large");
        cv_buf_release(&html);
    }
    res->files = z->nsums + 2;
    cv_buf_release(&b);
    return rc;
}

int exp_export_id(int64_t now_us, char out[32], struct cv_err *err)
{
    uint8_t rnd[4];
    char rhex[9], when[40];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return itg_ssl_err(err, "random export id");
    cv_hex(rnd, 4, rhex);
    cv_time_format_utc(now_us, when, sizeof(when), 0); /* 2026-11-22T09:15:00Z */
    snprintf(out, 32, "%.4s%.2s%.2sT%.2s%.2s%.2sZ-%s", when, when + 5, when + 8, when + 11,
             when + 14, when + 17, rhex);
    return 0;
}

int exp_export(struct idx *idx, const struct exp_request *req, struct exp_result *res,
               struct cv_err *err)
{
    struct cam_exp *cams = NULL;
    struct idx_txn *t = NULL;
    struct exp_zip z = {.fd = -1};
    struct cp *cps = NULL;
    struct cv_buf chain;
    size_t ncps = 0, nsegs = 0, ledger_len = 0;
    char *ledger = NULL, site[33], dir[PATH_MAX], path[PATH_MAX];
    int64_t now = cv_now_us();
    int rc;

    memset(res, 0, sizeof(*res));
    if (req->ncameras == 0 || req->ncameras > EXP_MAX_CAMERAS)
        return cv_errf(err, CV_EINVAL, "expected 1 to %d cameras", EXP_MAX_CAMERAS);
    if (req->export_id && req->export_id[0]) {
        if (lay_id_check("export id", req->export_id, err) < 0 ||
            cv_strlcpy(res->export_id, req->export_id, sizeof(res->export_id)) < 0)
            return cv_errf(err, CV_EINVAL, "bad export id '%s'", req->export_id);
    } else if ((rc = exp_export_id(now, res->export_id, err)) < 0) {
        return rc;
    }
    snprintf(res->folder, sizeof(res->folder), "%s-%s", req->case_id, res->export_id);

    cams = calloc(req->ncameras, sizeof(*cams));
    if (!cams)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    cv_buf_init(&chain, TEXT_MAX);
    rc = lay_dir(req->root, "ledger", dir, sizeof(dir), err);
    if (rc == 0)
        rc = cv_path_join(path, sizeof(path), dir, "checkpoints.log", err);
    if (rc == 0) {
        rc = cv_read_file(path, LEDGER_MAX, &ledger, &ledger_len, err);
        if (rc == CV_ENOENT)
            rc = 0; /* no checkpoint yet: nothing is covered */
    }
    if (rc == 0 && ledger)
        rc = ledger_parse(ledger, ledger_len, &cps, &ncps, err);
    if (rc == 0)
        rc = idx_begin(idx, false, &t, err);
    if (rc == 0)
        rc = idx_site_id(t, site, err);
    for (size_t i = 0; rc == 0 && i < req->ncameras; i++) {
        struct cam_exp *c = &cams[i];
        c->segs.size = c->links.size = sizeof(struct idx_segment);
        c->gaps.size = sizeof(struct idx_gap);
        c->works.size = sizeof(struct work);
        c->notes.size = EXP_NOTE_MAX;
        c->srcs.size = sizeof(struct work_src);
        c->tombs.size = c->dead.size = sizeof(struct idx_tombstone);
        cv_strlcpy(c->cam.id, req->cameras[i], sizeof(c->cam.id));
        rc = gather(t, req, c, cps, ncps, err);
        if (rc == 0 && (c->segs.oom || c->gaps.oom || c->tombs.oom || c->links.oom || c->dead.oom))
            rc = cv_errf(err, CV_ELIMIT, "camera '%s': too many records in range", c->cam.id);
        nsegs += c->segs.n;
    }
    if (rc == 0)
        mark_clock(cps, ncps, req->from_us, req->to_us);
    if (rc == 0)
        rc = custody_chain(t, req, cps, ncps, &chain, err);
    idx_abort(t);
    if (rc == 0 && nsegs == 0)
        rc = cv_errf(err, CV_ENOENT, "no footage of the requested cameras in the range");
    if (rc == 0)
        rc = exp_zip_open(&z, req->out_path, res->folder, now, err);
    if (rc == 0)
        rc = write_all(&z, req, res, site, now, cams, cps, ncps, &chain, err);
    if (rc == 0)
        rc = exp_zip_finish(&z, req->root, err);
    else
        exp_zip_abort(&z);
    for (size_t i = 0; cams && i < req->ncameras; i++) {
        free(cams[i].works.v);
        free(cams[i].notes.v);
        free(cams[i].srcs.v);
        free(cams[i].segs.v);
        free(cams[i].gaps.v);
        free(cams[i].tombs.v);
        free(cams[i].links.v);
        free(cams[i].dead.v);
    }
    free(cams);
    free(cps);
    free(ledger);
    cv_buf_release(&chain);
    return rc;
}
