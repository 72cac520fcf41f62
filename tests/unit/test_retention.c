/*
 * test_retention.c: the retention pass (indexer/retention.h) in a fresh data root under /tmp.
 *
 * Retention is the one code path that deletes footage, so the tests pin down its promise: held
 * footage survives, even when the hold is placed while a pass is already running (between the
 * read that chose what to delete and the write that deletes it), and everything unheld and old
 * goes, record and file.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "common/fileio.h"
#include "indexer/idx.h"
#include "indexer/retention.h"
#include "storage-layout/layout.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define S CV_US_PER_S
#define T0 FX_START_US
#define NSEG 10
#define SEG_S 10

struct renv {
    char root[PATH_MAX];
    struct idx *idx;
    struct idx_camera cam;
    struct idx_segment seg[NSEG];
};

/* ROOT/<rel> with a few bytes in it (retention only unlinks; it never reads the file). */
static int touch(const char *root, const char *rel)
{
    char path[PATH_MAX], dir[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    cv_strlcpy(dir, path, sizeof(dir));
    *strrchr(dir, '/') = '\0';
    if (cv_mkdir_p(dir, 0755, NULL) < 0)
        return -1;
    return fx_write_file(path, "segment", 7);
}

static bool file_exists(const struct renv *e, const char *rel)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", e->root, rel);
    return access(path, F_OK) == 0;
}

/* cam1 (1 day of retention) with NSEG indexed 10-s segments from T0, each with its file. */
static int renv_open_on(struct renv *e, const char *vol, int nvols)
{
    struct cv_err err = {""};
    struct idx_txn *t = NULL;
    int rc;

    memset(e, 0, sizeof(*e));
    if (fx_root_open(e->root, &e->idx) < 0)
        return -1;
    fx_camera(&e->cam, FX_CAMERA, vol, 1);
    rc = idx_begin(e->idx, true, &t, &err);
    for (int v = 0; rc == 0 && v < nvols; v++) {
        struct idx_volume iv;
        memset(&iv, 0, sizeof(iv));
        snprintf(iv.name, sizeof(iv.name), "v%02d", v);
        iv.max_bytes = 20; /* room for two of the 7-byte segments */
        rc = idx_volume_put(t, &iv, &err);
    }
    if (rc == 0)
        rc = idx_camera_add(t, &e->cam, &err);
    for (int i = 0; rc == 0 && i < NSEG; i++) {
        struct idx_segment *s = &e->seg[i];
        struct lay_seg_frag f;
        fx_segment_rec(s, &f, e->cam.num, T0 + (int64_t)i * SEG_S * S, SEG_S * S, 7);
        snprintf(s->path, sizeof(s->path), "volumes/%s/%s/2026-11-22/09%02d%02d-0.mp4", vol,
                 FX_CAMERA, 30 + i * SEG_S / 60, i * SEG_S % 60);
        if (touch(e->root, s->path) < 0)
            rc = cv_errf(&err, CV_EIO, "cannot write '%s'", s->path);
        else
            rc = idx_segment_put(t, FX_CAMERA, s, &f, 1, &err);
    }
    return fx_setup_end(t, rc, &err, e->root, e->idx);
}

static int renv_open(struct renv *e)
{
    return renv_open_on(e, "main", 0);
}

static void renv_close(struct renv *e)
{
    fx_root_close(e->root, e->idx);
}

static bool indexed(struct renv *e, const struct idx_segment *s)
{
    struct cv_err err = {""};
    struct idx_txn *t = NULL;
    struct idx_segment got;
    bool present = false;

    if (idx_begin(e->idx, false, &t, &err) == 0) {
        present = idx_segment_get(t, s->cam, s->start_us, &got, &err) == 0;
        idx_abort(t);
    }
    return present;
}

/* The hook: on its first call, place a hold over segments 3..6 as `camvault hold add` would. */
struct late_hold {
    struct renv *e;
    int calls;
    int rc;
    struct cv_err err;
};

static void place_hold(void *ctx)
{
    struct late_hold *h = ctx;
    struct idx_txn *t = NULL;
    struct idx_hold hold;

    if (h->calls++ > 0)
        return;
    memset(&hold, 0, sizeof(hold));
    cv_strlcpy(hold.case_id, "K-late", sizeof(hold.case_id));
    cv_strlcpy(hold.cameras[0], FX_CAMERA, sizeof(hold.cameras[0]));
    hold.ncameras = 1;
    hold.from_us = h->e->seg[3].start_us;
    hold.to_us = h->e->seg[6].end_us - 1;
    cv_strlcpy(hold.who, "unit", sizeof(hold.who));
    cv_strlcpy(hold.why, "placed during a retention pass", sizeof(hold.why));
    hold.created_us = T0 + 2 * 86400 * S;
    h->rc = idx_begin(h->e->idx, true, &t, &h->err);
    if (h->rc == 0)
        h->rc = idx_hold_add(t, &hold, &h->err);
    if (h->rc == 0)
        h->rc = idx_commit(t, &h->err);
    else
        idx_abort(t);
}

void test_retention_hold_during_pass(void)
{
    struct renv e;
    struct late_hold h = {0};
    struct idx_ret_opts o = {.max_delete = 1000, .before_batch = place_hold, .ctx = &h};
    struct idx_ret_report rep;
    struct cv_err err = {""};

    if (renv_open(&e) < 0)
        return;
    h.e = &e;
    /* Two days later, all ten segments are past their one day and none is held yet. */
    CHECK_OK(idx_retention_run(e.idx, e.root, T0 + 2 * 86400 * S, &o, &rep, &err), &err);
    CHECK_OK(h.rc, &h.err);
    CHECK_MSG(h.calls >= 1, "the hook was never called");
    for (int i = 0; i < NSEG; i++) {
        bool is_held = i >= 3 && i <= 6;
        CHECK_MSG(indexed(&e, &e.seg[i]) == is_held, "segment %d: indexed %d, held %d", i,
                  indexed(&e, &e.seg[i]), is_held);
        CHECK_MSG(file_exists(&e, e.seg[i].path) == is_held, "segment %d: file %d, held %d", i,
                  file_exists(&e, e.seg[i].path), is_held);
    }
    CHECK_EQ_U64(rep.deleted, NSEG - 4);
    CHECK_EQ_U64(rep.held_skipped, 4);
    idx_ret_report_release(&rep);
    renv_close(&e);
}

/* Without a late hold the same pass deletes everything old: the hook itself changes nothing. */
static void no_hold(void *ctx)
{
    (*(int *)ctx)++;
}

void test_retention_age_deletes_unheld(void)
{
    struct renv e;
    int calls = 0;
    struct idx_ret_opts o = {.max_delete = 1000, .before_batch = no_hold, .ctx = &calls};
    struct idx_ret_report rep;
    struct cv_err err = {""};

    if (renv_open(&e) < 0)
        return;
    CHECK_OK(idx_retention_run(e.idx, e.root, T0 + 2 * 86400 * S, &o, &rep, &err), &err);
    CHECK(calls >= 1);
    for (int i = 0; i < NSEG; i++) {
        CHECK_MSG(!indexed(&e, &e.seg[i]), "segment %d still indexed", i);
        CHECK_MSG(!file_exists(&e, e.seg[i].path), "segment %d: file still there", i);
    }
    CHECK_EQ_U64(rep.deleted, NSEG);
    idx_ret_report_release(&rep);
    renv_close(&e);
}

/*
 * Space retention covers every volume, however many: with 20 volumes of 20 bytes each, the
 * footage on the last one (70 bytes of it) is trimmed to its newest two segments like any other.
 */
void test_retention_space_every_volume(void)
{
    struct renv e;
    struct idx_ret_opts o = {.max_delete = 1000};
    struct idx_ret_report rep;
    struct cv_err err = {""};
    const struct idx_ret_volume *last = NULL;

    if (renv_open_on(&e, "v19", 20) < 0)
        return;
    /* An hour later: far within the camera's one day, so only space can delete anything. */
    CHECK_OK(idx_retention_run(e.idx, e.root, T0 + 3600 * S, &o, &rep, &err), &err);
    CHECK_MSG(rep.nvolumes >= 21, "%zu volumes in the report", rep.nvolumes);
    for (size_t i = 0; i < rep.nvolumes; i++)
        if (strcmp(rep.volumes[i].name, "v19") == 0)
            last = &rep.volumes[i];
    CHECK_MSG(last != NULL, "volume v19 missing from the report");
    if (last) {
        CHECK_EQ_U64(last->limit_bytes, 20);
        CHECK(!last->over_limit);
    }
    CHECK_EQ_U64(rep.deleted, NSEG - 2);
    for (int i = 0; i < NSEG; i++)
        CHECK_MSG(indexed(&e, &e.seg[i]) == (i >= NSEG - 2), "segment %d: indexed %d", i,
                  indexed(&e, &e.seg[i]));
    idx_ret_report_release(&rep);
    renv_close(&e);
}

/* The one definition of a volume's high-water mark: 95 % of its filesystem, or a lower --max-bytes. */
void test_retention_volume_limit(void)
{
    char dir[PATH_MAX];
    struct lay_volume_space sp, sp2;

    if (fx_tmpdir(dir) < 0)
        return;
    CHECK_EQ_INT(lay_volume_space(dir, 0, &sp), 0);
    CHECK(sp.fs_total > 0);
    CHECK_EQ_U64(sp.limit, (uint64_t)((double)sp.fs_total * LAY_VOLUME_HIGH_WATER));
    CHECK_EQ_INT(lay_volume_space(dir, 1000, &sp2), 0);
    CHECK_EQ_U64(sp2.limit, 1000);
    /* A --max-bytes above the filesystem's mark cannot raise it: the disk would fill first. */
    CHECK_EQ_INT(lay_volume_space(dir, sp.fs_total * 2, &sp2), 0);
    CHECK_EQ_U64(sp2.limit, sp.limit);
    /* A volume whose directory is missing keeps its --max-bytes. */
    CHECK_EQ_INT(lay_volume_space("/nonexistent/camvault", 5000, &sp2), -1);
    CHECK_EQ_U64(sp2.limit, 5000);
    fx_rmtree(dir);
}
