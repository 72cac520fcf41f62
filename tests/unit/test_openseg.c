/*
 * test_openseg.c: the segment being written, as readers see it (indexer/openseg.h), and seal
 * requests (storage-layout/seal.h, recorder/sealer.h).
 *
 * The recorder is writing ROOT/<REL>: its pending note names it and it is not indexed. Readers
 * must see its complete fragments (a torn last one never), see each new fragment as soon as it
 * is in the file, never see footage twice once the file is indexed, and find the fragment of an
 * instant in it.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "indexer/openseg.h"
#include "recorder/sealer.h"
#include "storage-layout/seal.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define REL "volumes/main/cam1/2026-11-22/093000-0.mp4"

/* The pending file of a fx_pending_root at REL, with its absolute path in path[]. */
static int oenv_open(struct fx_pending_root *e, char *path, const void *data, size_t len)
{
    if (fx_pending_root_open(e, REL, data, len) < 0)
        return -1;
    snprintf(path, PATH_MAX, "%s/%s", e->root, REL);
    return 0;
}

static int64_t frag_end(const struct fx_frag *f)
{
    return f->wall_us + (int64_t)(f->dur * 1000000 / FX_TIMESCALE);
}

struct seen {
    size_t n, open;
    int64_t end_us;
};

static int count(void *ctx, const struct idx_segment *s)
{
    struct seen *c = ctx;

    c->n++;
    c->open += (s->flags & IDX_SEG_OPEN) != 0;
    c->end_us = s->end_us;
    return 0;
}

/* Readers see the complete fragments of a growing file, and each new one once it is written. */
void test_openseg_growing_file(void)
{
    struct fx_segment s;
    struct fx_pending_root e;
    char path[PATH_MAX];
    struct idx_segment seg;
    struct lay_seg_frag *frags = NULL;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct seen c = {0};
    uint64_t off = 0;
    int64_t frag_us = 0;
    size_t n = 0;
    int rc;

    fx_segment_build(&s, 4, true);
    /* three complete fragments and 100 bytes of the fourth: the recorder is writing it */
    if (oenv_open(&e, path, s.buf.data, (size_t)s.frags[3].offset + 100) < 0) {
        fx_segment_release(&s);
        return;
    }
    CHECK_OK(idx_begin(e.idx, false, &t, &err), &err);
    rc = idx_open_segment(t, e.root, e.cam.num, &seg, &frags, &n, &err);
    CHECK_OK(rc, &err);
    CHECK_EQ_INT(n, 3);
    CHECK(seg.flags & IDX_SEG_OPEN);
    CHECK_EQ_STR(seg.path, REL);
    CHECK_EQ_INT(seg.start_us, s.frags[0].wall_us);
    CHECK_EQ_INT(seg.end_us, frag_end(&s.frags[2]));
    CHECK_EQ_U64(seg.bytes, s.frags[2].offset + s.frags[2].size);
    CHECK_EQ_INT(seg.fragments, 3);
    CHECK_EQ_INT(seg.frames, FX_SAMPLES(0) + FX_SAMPLES(1) + FX_SAMPLES(2));
    CHECK_EQ_U64(seg.run_id, FX_RUN_ID);
    CHECK_EQ_STR(seg.video, "h264 1280x720");
    free(frags);

    /* iteration: the open segment after the (no) indexed ones, only when it overlaps */
    CHECK_OK(idx_segment_iter_open(t, e.root, e.cam.num, 0, INT64_MAX, count, &c, &err), &err);
    CHECK(c.n == 1 && c.open == 1 && c.end_us == frag_end(&s.frags[2]));
    c = (struct seen){0};
    CHECK_OK(idx_segment_iter_open(t, e.root, e.cam.num, 0, s.frags[0].wall_us, count, &c, &err),
             &err);
    CHECK_EQ_INT(c.n, 0);
    c = (struct seen){0};
    CHECK_OK(idx_segment_iter_open(t, e.root, e.cam.num, frag_end(&s.frags[2]), INT64_MAX, count,
                                   &c, &err), &err);
    CHECK_EQ_INT(c.n, 0);

    /* locate: the fragment holding an instant; nothing in the torn fragment */
    rc = idx_locate_open(t, e.root, e.cam.num, s.frags[1].wall_us + 500000, &seg, &off, &frag_us,
                         &err);
    CHECK_OK(rc, &err);
    CHECK_EQ_U64(off, s.frags[1].offset);
    CHECK_EQ_INT(frag_us, s.frags[1].wall_us);
    CHECK_EQ_INT(idx_locate_open(t, e.root, e.cam.num, s.frags[3].wall_us + 1000, &seg, &off,
                                 &frag_us, &err), CV_ENOENT);
    idx_abort(t);
    t = NULL;

    /* the recorder completes the fourth fragment: readers see it at once, no index write */
    CHECK_EQ_INT(fx_write_file(path, s.buf.data, s.buf.len), 0);
    CHECK_OK(idx_begin(e.idx, false, &t, &err), &err);
    CHECK_OK(idx_open_segment(t, e.root, e.cam.num, &seg, NULL, NULL, &err), &err);
    CHECK_EQ_INT(seg.fragments, 4);
    CHECK_EQ_INT(seg.end_us, frag_end(&s.frags[3]));
    CHECK_OK(idx_locate_open(t, e.root, e.cam.num, s.frags[3].wall_us + 1000, &seg, &off,
                             &frag_us, &err), &err);
    CHECK_EQ_U64(off, s.frags[3].offset);
    idx_abort(t);
    fx_pending_root_close(&e);
    fx_segment_release(&s);
}

/* Once the file is indexed (the note lags a moment), it is seen once, as the indexed record;
 * with no note, or a file without a complete fragment, there is no open segment. */
void test_openseg_indexed_or_absent(void)
{
    struct fx_segment s;
    struct fx_pending_root e;
    char path[PATH_MAX];
    struct idx_segment seg, rec;
    struct lay_seg_frag *frags = NULL;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct seen c = {0};
    size_t n = 0;

    fx_segment_build(&s, 2, true);
    if (oenv_open(&e, path, s.buf.data, (size_t)s.frags[0].offset + 10) < 0) {
        fx_segment_release(&s);
        return;
    }
    CHECK_OK(idx_begin(e.idx, false, &t, &err), &err);
    CHECK_EQ_INT(idx_open_segment(t, e.root, e.cam.num, &seg, NULL, NULL, &err), CV_ENOENT);
    CHECK_CONTAINS(err.msg, "no complete fragment");
    idx_abort(t);
    t = NULL;

    /* the whole file, indexed: the pending note still names it */
    CHECK_EQ_INT(fx_write_file(path, s.buf.data, s.buf.len), 0);
    CHECK_OK(idx_begin(e.idx, true, &t, &err), &err);
    CHECK_OK(idx_open_segment(t, e.root, e.cam.num, &rec, &frags, &n, &err), &err);
    rec.flags = 0;
    CHECK_OK(idx_segment_put(t, e.cam.id, &rec, frags, n, &err), &err);
    free(frags);
    CHECK_OK(idx_pending_put(t, e.cam.num, REL, &err), &err);
    CHECK_EQ_INT(idx_open_segment(t, e.root, e.cam.num, &seg, NULL, NULL, &err), CV_ENOENT);
    CHECK_OK(idx_segment_iter_open(t, e.root, e.cam.num, 0, INT64_MAX, count, &c, &err), &err);
    CHECK(c.n == 1 && c.open == 0);
    CHECK_OK(idx_pending_del(t, e.cam.num, &err), &err);
    CHECK_EQ_INT(idx_open_segment(t, e.root, e.cam.num, &seg, NULL, NULL, &err), CV_ENOENT);
    idx_abort(t);
    fx_pending_root_close(&e);
    fx_segment_release(&s);
}

struct listed {
    size_t n;
    char camera[LAY_ID_MAX + 1], rel[LAY_RELPATH_MAX];
};

static int list_one(void *ctx, const char *camera, const char *rel)
{
    struct listed *l = ctx;

    l->n++;
    cv_strlcpy(l->camera, camera, sizeof(l->camera));
    cv_strlcpy(l->rel, rel, sizeof(l->rel));
    return 0;
}

/* A seal request names one file of one camera; it is replaced, listed and removed by path. */
void test_seal_requests(void)
{
    char root[PATH_MAX];
    struct cv_err err = {""};
    struct listed l = {0};

    if (fx_tmpdir(root) < 0)
        return;
    CHECK(!lay_seal_wanted(root, "cam1", REL));
    CHECK_OK(lay_seal_list(root, list_one, &l, &err), &err); /* no ROOT/seal yet */
    CHECK_EQ_INT(l.n, 0);
    CHECK_OK(lay_seal_request(root, "cam1", "volumes/main/cam1/old.mp4", &err), &err);
    CHECK_OK(lay_seal_request(root, "cam1", REL, &err), &err); /* replaces */
    CHECK(lay_seal_wanted(root, "cam1", REL));
    CHECK(!lay_seal_wanted(root, "cam1", "volumes/main/cam1/old.mp4"));
    CHECK(!lay_seal_wanted(root, "cam2", REL));
    CHECK_OK(lay_seal_list(root, list_one, &l, &err), &err);
    CHECK(l.n == 1 && strcmp(l.camera, "cam1") == 0 && strcmp(l.rel, REL) == 0);
    lay_seal_done(root, "cam1", "volumes/main/cam1/old.mp4"); /* not the one asked for: kept */
    CHECK(lay_seal_wanted(root, "cam1", REL));
    lay_seal_done(root, "cam1", REL);
    CHECK(!lay_seal_wanted(root, "cam1", REL));
    CHECK_EQ_INT(lay_seal_request(root, "../x", REL, &err), CV_EINVAL);
    CHECK_CONTAINS(err.msg, "bad camera id");
    CHECK_EQ_INT(lay_seal_request(root, "cam1", "a\nb", &err), CV_EINVAL);
    fx_rmtree(root);
}

/* The recorder's side: a request is ready once its file is no longer the camera's pending one;
 * finishing removes it. */
void test_seal_ready(void)
{
    struct fx_segment s;
    struct fx_pending_root e;
    struct rec_sealed out[REC_SEAL_BATCH];
    struct idx_txn *t = NULL;
    struct cv_err err = {""};

    fx_segment_build(&s, 1, true);
    if (fx_pending_root_open(&e, REL, s.buf.data, s.buf.len) < 0) {
        fx_segment_release(&s);
        return;
    }
    CHECK_EQ_INT(rec_seal_ready(e.idx, e.root, out, REC_SEAL_BATCH), 0); /* no request */
    CHECK_OK(lay_seal_request(e.root, FX_CAMERA, REL, &err), &err);
    CHECK_EQ_INT(rec_seal_ready(e.idx, e.root, out, REC_SEAL_BATCH), 0); /* still written */
    CHECK_OK(idx_begin(e.idx, true, &t, &err), &err);
    CHECK_OK(idx_pending_put(t, e.cam.num, "volumes/main/cam1/2026-11-22/093100-0.mp4", &err),
             &err);
    CHECK_OK(idx_commit(t, &err), &err);
    CHECK_EQ_INT(rec_seal_ready(e.idx, e.root, out, REC_SEAL_BATCH), 1); /* the camera moved on */
    CHECK(strcmp(out[0].camera, FX_CAMERA) == 0 && strcmp(out[0].rel, REL) == 0);
    rec_seal_finish(e.root, out, 1);
    CHECK(!lay_seal_wanted(e.root, FX_CAMERA, REL));
    CHECK_EQ_INT(rec_seal_ready(e.idx, e.root, out, REC_SEAL_BATCH), 0);
    fx_pending_root_close(&e);
    fx_segment_release(&s);
}
