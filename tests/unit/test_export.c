/*
 * test_export.c: evidence packages from a synthetic data root (index, keys, segment files, one
 * signed checkpoint): an export verifies; bad requests and a damaged segment fail with the
 * right code and leave no file; what is not a package is refused. The end-to-end checks with
 * stock tools (sha256sum, openssl cms) and tampering live in tests/e2e/test_90_export.py.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "common/fileio.h"
#include "integrity/checkpoint.h"
#include "exporter/export.h"
#include "integrity/keys.h"
#include "exporter/verify.h"
#include "indexer/idx.h"
#include "storage-layout/layout.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define NSEG 4
#define SEG_US (3 * CV_US_PER_S)

struct xenv {
    char root[PATH_MAX];
    struct idx *idx;
    char seg_path[NSEG][PATH_MAX];
    /* one export at a time (request()): its request, package path, result and error */
    struct exp_request r;
    char out[PATH_MAX + 16];
    struct exp_result res;
    struct cv_err err;
    /* what verified() last said of the package: its report (malloc'd) and failed checks */
    char *text;
    unsigned failed;
};

/* A root with camera cam1: NSEG segments of 3 s from FX_START_US, then a checkpoint. */
static int xenv_open(struct xenv *e)
{
    struct cv_err err = {""};
    struct idx_txn *t = NULL;
    struct idx_camera cam = {.enabled = true};
    struct itg_signer *signer = NULL;
    uint64_t rng = 42, seq = 0;
    int created = 0, rc;

    memset(e, 0, sizeof(*e));
    if (fx_root_open(e->root, &e->idx) < 0)
        return -1;
    rc = itg_keys_create(e->root, "unit-site", &created, &err);
    if (rc == 0)
        rc = idx_begin(e->idx, true, &t, &err);
    cv_strlcpy(cam.id, FX_CAMERA, sizeof(cam.id));
    cv_strlcpy(cam.name, "Front door", sizeof(cam.name));
    cv_strlcpy(cam.volume, LAY_DEFAULT_VOLUME, sizeof(cam.volume));
    if (rc == 0)
        rc = idx_camera_add(t, &cam, &err);
    for (int i = 0; rc == 0 && i < NSEG; i++) {
        struct idx_segment s = {.cam = cam.num};
        struct lay_seg_frag f = {.offset = 0, .starts_with_key = true};
        uint8_t data[4096];
        int fd = -1;
        for (size_t k = 0; k < sizeof(data); k++)
            data[k] = (uint8_t)fx_rand(&rng);
        s.start_us = FX_START_US + i * SEG_US;
        s.end_us = s.start_us + SEG_US;
        rc = lay_segment_create(e->root, LAY_DEFAULT_VOLUME, FX_CAMERA, s.start_us, "mp4", &fd,
                                s.path, &err);
        if (rc < 0)
            break;
        rc = cv_write_all(fd, data, sizeof(data)) < 0 ? CV_EIO : 0;
        close(fd);
        s.bytes = sizeof(data);
        s.frames = 75;
        s.fragments = 1;
        fx_sha256(data, sizeof(data), s.sha256);
        f.size = sizeof(data);
        f.wall_us = s.start_us;
        lay_abs(e->root, s.path, e->seg_path[i], PATH_MAX, &err);
        if (rc == 0)
            rc = idx_segment_put(t, FX_CAMERA, &s, &f, 1, &err);
    }
    if (rc == 0) {
        rc = idx_commit(t, &err);
        t = NULL;
    }
    if (rc == 0)
        rc = itg_signer_open(&signer, e->root, &err);
    if (rc == 0)
        rc = itg_checkpoint_make(e->idx, e->root, signer, FX_START_US + 20 * CV_US_PER_S, &seq,
                                 &err);
    itg_signer_close(signer);
    idx_abort(t);
    if (rc < 0) {
        unit_fail(__FILE__, __LINE__, "cannot build a root in '%s': %s", e->root, err.msg);
        fx_root_close(e->root, e->idx);
        return -1;
    }
    return 0;
}

static void xenv_close(struct xenv *e)
{
    free(e->text);
    fx_root_close(e->root, e->idx);
}

/* Set up e's next export: of FX_CAMERA over [from, to) into the package <root>/<name>, for
 * case CASE-1; e->err cleared. */
static void request(struct xenv *e, const char *name, int64_t from, int64_t to)
{
    struct exp_request *r = &e->r;

    snprintf(e->out, sizeof(e->out), "%s/%s", e->root, name);
    memset(&e->err, 0, sizeof(e->err));
    memset(r, 0, sizeof(*r));
    r->root = e->root;
    r->cameras[0] = FX_CAMERA;
    r->ncameras = 1;
    r->from_us = from;
    r->to_us = to;
    r->case_id = "CASE-1";
    r->reason = "unit test";
    r->out_path = e->out;
}

/* request() and run it: the export must succeed (e->res says what it wrote). */
static void export_ok(struct xenv *e, const char *name, int64_t from, int64_t to)
{
    request(e, name, from, to);
    CHECK_OK(exp_export(e->idx, &e->r, &e->res, &e->err), &e->err);
}

/* What exp_verify says of package `out` (text or JSON; malloc'd, the caller frees it): the call
 * must succeed; *failed is its count of failed checks. */
static char *verify_report(const char *out, bool json, unsigned *failed)
{
    struct cv_err err = {""};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    *failed = 99;
    if (!f) {
        unit_fail(__FILE__, __LINE__, "open_memstream failed");
        return NULL;
    }
    CHECK_OK(exp_verify(out, json, f, failed, &err), &err);
    fclose(f);
    return text;
}

/* Verify e's package (text or JSON report) into e->text and e->failed; exp_verify must run. */
static void verified(struct xenv *e, bool json)
{
    free(e->text);
    e->text = verify_report(e->out, json, &e->failed);
}

void test_export_round_trip(void)
{
    struct xenv e;
    char tmp[PATH_MAX + 32];

    if (xenv_open(&e) < 0)
        return;
    /* the middle: from inside segment 1 to inside segment 2 */
    export_ok(&e, "p.zip", FX_START_US + SEG_US + 1000, FX_START_US + 2 * SEG_US + 1000);
    snprintf(tmp, sizeof(tmp), "%s.tmp", e.out);
    CHECK_EQ_INT(e.res.segments, 2);
    CHECK_EQ_U64(e.res.bytes, 2 * 4096);
    CHECK(strncmp(e.res.folder, "CASE-1-", 7) == 0 && strlen(e.res.export_id) == 25);
    CHECK(access(e.out, F_OK) == 0 && access(tmp, F_OK) != 0);

    verified(&e, false);
    CHECK_EQ_INT(e.failed, 0);
    CHECK_CONTAINS(e.text, "ok signature:");
    /* two exported segments and the newer one the checkpoint names */
    CHECK_CONTAINS(e.text, "ok chain: integrity/cam1.chain: 3 links recompute");
    CHECK_CONTAINS(e.text, "ok checkpoint: integrity/cam1.chain: signed checkpoint 1");

    verified(&e, true);
    CHECK_CONTAINS(e.text, "\"valid\":true");

    /* The same output again: refused, the first package untouched. */
    CHECK_EQ_INT(exp_export(e.idx, &e.r, &e.res, &e.err), CV_EEXIST);
    CHECK_CONTAINS(e.err.msg, "p.zip");
    xenv_close(&e);
}

void test_export_errors(void)
{
    static const struct {
        const char *camera;
        int64_t from_s, to_s; /* relative to FX_START_US */
        int damage;           /* segment to corrupt first, or -1 */
        int want;
        const char *msg;
    } cases[] = {
        {"nope", 0, 12, -1, CV_ENOENT, "nope"},
        {FX_CAMERA, 100, 200, -1, CV_ENOENT, "no footage"},
        {FX_CAMERA, -100, -50, -1, CV_ENOENT, "no footage"},
        {FX_CAMERA, 0, 12, 2, CV_ECORRUPT, "does not match the index"},
    };
    struct xenv e;

    if (xenv_open(&e) < 0)
        return;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char name[32], tmp[PATH_MAX + 32];
        snprintf(name, sizeof(name), "e%zu.zip", i);
        if (cases[i].damage >= 0)
            fx_write_file(e.seg_path[cases[i].damage], "x", 1);
        request(&e, name, FX_START_US + cases[i].from_s * CV_US_PER_S,
                FX_START_US + cases[i].to_s * CV_US_PER_S);
        snprintf(tmp, sizeof(tmp), "%s.tmp", e.out);
        e.r.cameras[0] = cases[i].camera;
        CHECK_EQ_INT(exp_export(e.idx, &e.r, &e.res, &e.err), cases[i].want);
        CHECK_CONTAINS(e.err.msg, cases[i].msg);
        CHECK_MSG(access(e.out, F_OK) != 0 && access(tmp, F_OK) != 0, "case %zu left a file", i);
    }
    xenv_close(&e);
}

void test_verify_not_a_package(void)
{
    static const struct unit_bytes_case cases[] = {
        {"", 0, "cannot read"},
        {"hello, not a zip\n", 17, "cannot read"},
        {"PK\003\004\024\000\000\000", 8, "cannot read"},
    };
    char dir[PATH_MAX], path[PATH_MAX + 16];

    if (fx_tmpdir(dir) < 0)
        return;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cv_err err = {""};
        unsigned failed = 0;
        snprintf(path, sizeof(path), "%s/n%zu.zip", dir, i);
        fx_write_file(path, cases[i].bytes, cases[i].n);
        CHECK_MSG(exp_verify(path, false, stdout, &failed, &err) < 0, "case %zu accepted", i);
        CHECK_CONTAINS(err.msg, cases[i].want);
    }
    fx_rmtree(dir);
}

/* A segment deleted by retention inside the range: a tombstone in the manifest, a "-" link in
 * the chain, and the package still verifies. */
void test_export_with_tombstone(void)
{
    struct xenv e;
    struct idx_txn *t = NULL;
    struct idx_segment gone;

    if (xenv_open(&e) < 0)
        return;
    CHECK_OK(idx_begin(e.idx, true, &t, &e.err), &e.err);
    CHECK_OK(idx_segment_tombstone(t, 1, FX_START_US + SEG_US, IDX_GAP_RETENTION, "unit: 0 days",
                                   FX_START_US + 30 * CV_US_PER_S, &gone, &e.err),
             &e.err);
    CHECK_OK(idx_commit(t, &e.err), &e.err);
    export_ok(&e, "t.zip", FX_START_US, FX_START_US + NSEG * SEG_US);
    CHECK_EQ_INT(e.res.segments, NSEG - 1);
    verified(&e, false);
    CHECK_EQ_INT(e.failed, 0);
    CHECK_CONTAINS(e.text, "ok chain: integrity/cam1.chain: 4 links recompute");
    xenv_close(&e);
}

/* No checkpoint covers the footage yet (empty ledger): the manifest says so, the chain runs to
 * the camera's head, and verify accepts it as "not yet covered". */
void test_export_not_covered(void)
{
    struct xenv e;
    char ledger[PATH_MAX + 32];

    if (xenv_open(&e) < 0)
        return;
    snprintf(ledger, sizeof(ledger), "%s/ledger/checkpoints.log", e.root);
    CHECK(unlink(ledger) == 0);
    export_ok(&e, "u.zip", FX_START_US, FX_START_US + SEG_US);
    verified(&e, false);
    CHECK_EQ_INT(e.failed, 0);
    CHECK_CONTAINS(e.text, "ok chain: integrity/cam1.chain: 4 links recompute");
    CHECK_CONTAINS(e.text, "not yet covered by a signed checkpoint");
    xenv_close(&e);
}
