/*
 * test_recover.c: crash recovery of a segment file into the index (indexer/recover.h).
 *
 * The recorder died while writing ROOT/volumes/main/cam1/2026-11-22/093000-0.mp4: three complete
 * fragments and 100 bytes of a fourth. Recovery must cut the file back to the three fragments,
 * index exactly them (times, counts, hash of the cut file, first chain link), drop the pending
 * entry, refuse to index the file twice, and move a file without any complete fragment to
 * ROOT/quarantine/.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/fileio.h"
#include "indexer/recover.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define REL "volumes/main/cam1/2026-11-22/093000-0.mp4"
#define REL_HDR "volumes/main/cam1/2026-11-22/093500-0.mp4"

struct renv {
    char root[PATH_MAX];
    struct idx *idx;
    struct idx_camera cam;
};

/* A data root with an index, camera cam1, and `len` bytes of `data` at ROOT/<rel>. */
static int renv_open(struct renv *e, const char *rel, const void *data, size_t len)
{
    struct cv_err err = {""};
    struct idx_txn *t = NULL;
    char path[PATH_MAX], dir[PATH_MAX];
    int rc;

    if (fx_root_open(e->root, &e->idx) < 0)
        return -1;
    fx_camera(&e->cam, FX_CAMERA, "main", 0);
    snprintf(path, sizeof(path), "%s/%s", e->root, rel);
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    rc = idx_begin(e->idx, true, &t, &err);
    if (rc == 0)
        rc = idx_camera_add(t, &e->cam, &err);
    if (rc == 0)
        rc = idx_pending_put(t, e->cam.num, rel, &err);
    if (rc == 0)
        rc = cv_mkdir_p(dir, 0755, &err);
    if (rc == 0 && fx_write_file(path, data, len) < 0)
        rc = cv_errf(&err, CV_EIO, "cannot write '%s'", path);
    return fx_setup_end(t, rc, &err, e->root, e->idx);
}

static void renv_close(struct renv *e)
{
    fx_root_close(e->root, e->idx);
}

static void abs_path(const struct renv *e, const char *rel, char *out)
{
    snprintf(out, PATH_MAX, "%s/%s", e->root, rel);
}

/* The bytes of a file (malloc'd, caller frees), or NULL. */
static char *slurp(const char *path, size_t *len)
{
    char *data = NULL;

    if (cv_read_file(path, 64u << 20, &data, len, NULL) < 0)
        return NULL;
    return data;
}

/* A segment of 3 complete fragments and 100 bytes of a 4th; *keep is where the 3rd ends. */
static void torn_segment(struct fx_segment *s, size_t *keep, size_t *len)
{
    fx_segment_build(s, 4, true);
    *keep = (size_t)(s->frags[2].offset + s->frags[2].size);
    *len = (size_t)s->frags[3].offset + 100;
}

/* A root whose pending segment REL is a torn_segment (*keep: where its 3rd fragment ends, *len
 * its size), its absolute path in path[PATH_MAX]; -1 (and s released) when it cannot be made. */
static int open_torn(struct renv *e, struct fx_segment *s, size_t *keep, size_t *len, char *path)
{
    torn_segment(s, keep, len);
    if (renv_open(e, REL, s->buf.data, *len) < 0) {
        fx_segment_release(s);
        return -1;
    }
    abs_path(e, REL, path);
    return 0;
}

void test_recover_torn_segment(void)
{
    static const uint8_t zeros[32];
    struct fx_segment s;
    struct renv e;
    struct idx_segment out, stored;
    struct cv_err err = {""};
    struct idx_txn *t = NULL;
    char path[PATH_MAX], pend[LAY_RELPATH_MAX];
    uint8_t sha[32], chain[32];
    size_t keep, len, flen = 0;
    char *data;
    int rc;

    if (open_torn(&e, &s, &keep, &len, path) < 0)
        return;
    rc = idx_recover_segment(e.idx, e.root, &e.cam, REL, &out, &err);
    CHECK_OK(rc, &err);
    if (rc < 0)
        goto out;

    /* The file: cut back to its last complete fragment, bytes unchanged up to there. */
    CHECK_EQ_INT(fx_file_size(path), keep);
    data = slurp(path, &flen);
    CHECK(data && flen == keep && memcmp(data, s.buf.data, keep) == 0);
    free(data);

    /* The record. */
    fx_sha256(s.buf.data, keep, sha);
    CHECK_EQ_INT(out.cam, e.cam.num);
    CHECK_EQ_STR(out.path, REL);
    CHECK(out.flags & IDX_SEG_RECOVERED);
    CHECK_EQ_INT(out.fragments, 3);
    CHECK_EQ_INT(out.start_us, FX_START_US);
    CHECK_EQ_INT(out.start_us, s.frags[0].wall_us);
    CHECK_EQ_INT(out.end_us,
                 s.frags[2].wall_us + (int64_t)(s.frags[2].dur * 1000000 / FX_TIMESCALE));
    CHECK_EQ_U64(out.bytes, keep);
    CHECK_EQ_INT(out.frames, FX_SAMPLES(0) + FX_SAMPLES(1) + FX_SAMPLES(2));
    CHECK_EQ_INT(out.keyframes, 3);
    CHECK_EQ_INT(out.audio_frames, 0);
    CHECK_EQ_STR(out.video, "h264 1280x720");
    CHECK_EQ_STR(out.audio, "none");
    CHECK_EQ_U64(out.run_id, FX_RUN_ID);
    CHECK_EQ_INT(out.run_seq, 7);
    CHECK_EQ_MEM(out.sha256, sha, 32);
    CHECK_EQ_INT(idx_chain_next(zeros, FX_CAMERA, out.start_us, out.end_us, sha, chain, NULL), 0);
    CHECK_EQ_MEM(out.chain, chain, 32);

    /* The index: the same record, and no pending file any more. */
    if (idx_begin(e.idx, false, &t, &err) == 0) {
        CHECK_OK(idx_segment_get(t, e.cam.num, FX_START_US, &stored, &err), &err);
        CHECK_EQ_STR(stored.path, REL);
        CHECK_EQ_U64(stored.bytes, keep);
        CHECK_EQ_INT(stored.fragments, 3);
        CHECK_EQ_INT(stored.end_us, out.end_us);
        CHECK_EQ_MEM(stored.sha256, sha, 32);
        CHECK_EQ_MEM(stored.chain, chain, 32);
        CHECK(stored.flags & IDX_SEG_RECOVERED);
        CHECK_EQ_INT(idx_pending_get(t, e.cam.num, pend, &err), CV_ENOENT);
        idx_abort(t);
        t = NULL;
    }

    /* Twice: already indexed. */
    err.msg[0] = '\0';
    CHECK_EQ_INT(idx_recover_segment(e.idx, e.root, &e.cam, REL, &out, &err), CV_EEXIST);
    CHECK_CONTAINS(err.msg, REL);
    CHECK_EQ_INT(fx_file_size(path), keep);

    /* A file that is not there. */
    err.msg[0] = '\0';
    CHECK_EQ_INT(idx_recover_segment(e.idx, e.root, &e.cam,
                                     "volumes/main/cam1/2026-11-22/120000-0.mp4", &out, &err),
                 CV_ENOENT);
    CHECK_CONTAINS(err.msg, "120000-0.mp4");
out:
    renv_close(&e);
    fx_segment_release(&s);
}

/*
 * Regression (fixed): recover.h says a file already indexed under its start time "returns CV_EEXIST and
 * changes nothing", but idx_recover_segment truncates the file (and fsyncs it) before it looks
 * the start time up in the index: bytes appended after indexing are cut even though the call
 * fails with CV_EEXIST.
 */
void test_recover_existing_changes_nothing(void)
{
    struct fx_segment s;
    struct renv e;
    struct idx_segment out;
    struct cv_err err = {""};
    char path[PATH_MAX];
    size_t keep, len;
    int rc;

    if (open_torn(&e, &s, &keep, &len, path) < 0)
        return;
    rc = idx_recover_segment(e.idx, e.root, &e.cam, REL, &out, &err);
    CHECK_OK(rc, &err);
    if (rc == 0) {
        CHECK_EQ_INT(fx_file_size(path), keep);
        /* The same file grows again (here: the torn fragment written once more). */
        CHECK_EQ_INT(fx_write_file(path, s.buf.data, len), 0);
        CHECK_EQ_INT(idx_recover_segment(e.idx, e.root, &e.cam, REL, &out, &err), CV_EEXIST);
        CHECK_MSG(fx_file_size(path) == (long long)len,
                  "CV_EEXIST but the file was cut from %zu to %lld bytes", len,
                  fx_file_size(path));
    }
    renv_close(&e);
    fx_segment_release(&s);
}

void test_recover_header_only(void)
{
    static const char qname[] = "quarantine/volumes_main_cam1_2026-11-22_093500-0.mp4";
    struct fx_segment s;
    struct renv e;
    struct idx_segment out, last;
    struct cv_err err = {""};
    struct idx_txn *t = NULL;
    char path[PATH_MAX], qpath[PATH_MAX];
    size_t qlen = 0;
    char *q;

    fx_segment_build(&s, 0, false); /* ftyp + moov only */
    if (renv_open(&e, REL_HDR, s.buf.data, s.buf.len) < 0) {
        fx_segment_release(&s);
        return;
    }
    abs_path(&e, REL_HDR, path);
    abs_path(&e, qname, qpath);
    CHECK_EQ_INT(idx_recover_segment(e.idx, e.root, &e.cam, REL_HDR, &out, &err), CV_ENOENT);
    CHECK_CONTAINS(err.msg, REL_HDR);
    CHECK_CONTAINS(err.msg, "quarantine");
    CHECK_EQ_INT(fx_file_size(path), -1);
    q = slurp(qpath, &qlen);
    CHECK_MSG(q != NULL, "'%s' is missing", qname);
    CHECK(q && qlen == s.buf.len && memcmp(q, s.buf.data, qlen) == 0);
    free(q);
    if (idx_begin(e.idx, false, &t, &err) == 0) {
        CHECK_EQ_INT(idx_segment_last(t, e.cam.num, &last, &err), CV_ENOENT);
        idx_abort(t);
    }
    renv_close(&e);

    /* A file torn inside moov is no segment at all: quarantined too. */
    if (renv_open(&e, REL_HDR, s.buf.data, (size_t)s.moov_end - 10) < 0) {
        fx_segment_release(&s);
        return;
    }
    abs_path(&e, REL_HDR, path);
    abs_path(&e, qname, qpath);
    CHECK_EQ_INT(idx_recover_segment(e.idx, e.root, &e.cam, REL_HDR, &out, &err), CV_ENOENT);
    CHECK_EQ_INT(fx_file_size(path), -1);
    CHECK_EQ_INT(fx_file_size(qpath), s.moov_end - 10);
    renv_close(&e);
    fx_segment_release(&s);
}
