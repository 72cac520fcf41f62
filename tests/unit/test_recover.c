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
#include "integrity/chain.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define REL "volumes/main/cam1/2026-11-22/093000-0.mp4"
#define REL_HDR "volumes/main/cam1/2026-11-22/093500-0.mp4"

static void abs_path(const struct fx_pending_root *e, const char *rel, char *out)
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

/*
 * Build the torn segment (torn_segment) into a pending root as REL, set path to its file and
 * recover it into *out; *rc is idx_recover_segment's result, which must be 0. Returns false when
 * the root could not be made (s is released then); else the caller closes e and releases s.
 */
static bool recover_torn(struct fx_segment *s, struct fx_pending_root *e, char *path,
                         size_t *keep, size_t *len, struct idx_segment *out, int *rc)
{
    struct cv_err err = {""};

    torn_segment(s, keep, len);
    if (fx_pending_root_open(e, REL, s->buf.data, *len) < 0) {
        fx_segment_release(s);
        return false;
    }
    abs_path(e, REL, path);
    *rc = idx_recover_segment(e->idx, e->root, &e->cam, REL, out, &err);
    CHECK_OK(*rc, &err);
    return true;
}

void test_recover_torn_segment(void)
{
    static const uint8_t zeros[32];
    struct fx_segment s;
    struct fx_pending_root e;
    struct idx_segment out, stored;
    char path[PATH_MAX], pend[LAY_RELPATH_MAX];
    uint8_t sha[32], chain[32];
    size_t keep, len, flen = 0;
    char *data;
    int rc;

    if (!recover_torn(&s, &e, path, &keep, &len, &out, &rc))
        return;
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
    CHECK_EQ_INT(itg_chain_next(zeros, FX_CAMERA, out.start_us, out.end_us, sha, chain, NULL), 0);
    CHECK_EQ_MEM(out.chain, chain, 32);

    /* The index: the same record, and no pending file any more. */
    if (idx_begin(e.idx, false, &e.t, &e.err) == 0) {
        CHECK_OK(idx_segment_get(e.t, e.cam.num, FX_START_US, &stored, &e.err), &e.err);
        CHECK_EQ_STR(stored.path, REL);
        CHECK_EQ_U64(stored.bytes, keep);
        CHECK_EQ_INT(stored.fragments, 3);
        CHECK_EQ_INT(stored.end_us, out.end_us);
        CHECK_EQ_MEM(stored.sha256, sha, 32);
        CHECK_EQ_MEM(stored.chain, chain, 32);
        CHECK(stored.flags & IDX_SEG_RECOVERED);
        CHECK_EQ_INT(idx_pending_get(e.t, e.cam.num, pend, &e.err), CV_ENOENT);
        idx_abort(e.t);
        e.t = NULL;
    }

    /* Twice: already indexed. */
    e.err.msg[0] = '\0';
    CHECK_EQ_INT(idx_recover_segment(e.idx, e.root, &e.cam, REL, &out, &e.err), CV_EEXIST);
    CHECK_CONTAINS(e.err.msg, REL);
    CHECK_EQ_INT(fx_file_size(path), keep);

    /* A file that is not there. */
    e.err.msg[0] = '\0';
    CHECK_EQ_INT(idx_recover_segment(e.idx, e.root, &e.cam,
                                     "volumes/main/cam1/2026-11-22/120000-0.mp4", &out, &e.err),
                 CV_ENOENT);
    CHECK_CONTAINS(e.err.msg, "120000-0.mp4");
out:
    fx_pending_root_close(&e);
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
    struct fx_pending_root e;
    struct idx_segment out;
    struct cv_err err = {""};
    char path[PATH_MAX];
    size_t keep, len;
    int rc;

    if (!recover_torn(&s, &e, path, &keep, &len, &out, &rc))
        return;
    if (rc == 0) {
        CHECK_EQ_INT(fx_file_size(path), keep);
        /* The same file grows again (here: the torn fragment written once more). */
        CHECK_EQ_INT(fx_write_file(path, s.buf.data, len), 0);
        CHECK_EQ_INT(idx_recover_segment(e.idx, e.root, &e.cam, REL, &out, &err), CV_EEXIST);
        CHECK_MSG(fx_file_size(path) == (long long)len,
                  "CV_EEXIST but the file was cut from %zu to %lld bytes", len,
                  fx_file_size(path));
    }
    fx_pending_root_close(&e);
    fx_segment_release(&s);
}

void test_recover_header_only(void)
{
    static const char qname[] = "quarantine/volumes_main_cam1_2026-11-22_093500-0.mp4";
    struct fx_segment s;
    struct fx_pending_root e;
    struct idx_segment out, last;
    char path[PATH_MAX], qpath[PATH_MAX];
    size_t qlen = 0;
    char *q;

    fx_segment_build(&s, 0, false); /* ftyp + moov only */
    if (fx_pending_root_open(&e, REL_HDR, s.buf.data, s.buf.len) < 0) {
        fx_segment_release(&s);
        return;
    }
    abs_path(&e, REL_HDR, path);
    abs_path(&e, qname, qpath);
    CHECK_EQ_INT(idx_recover_segment(e.idx, e.root, &e.cam, REL_HDR, &out, &e.err), CV_ENOENT);
    CHECK_CONTAINS(e.err.msg, REL_HDR);
    CHECK_CONTAINS(e.err.msg, "quarantine");
    CHECK_EQ_INT(fx_file_size(path), -1);
    q = slurp(qpath, &qlen);
    CHECK_MSG(q != NULL, "'%s' is missing", qname);
    CHECK(q && qlen == s.buf.len && memcmp(q, s.buf.data, qlen) == 0);
    free(q);
    if (idx_begin(e.idx, false, &e.t, &e.err) == 0) {
        CHECK_EQ_INT(idx_segment_last(e.t, e.cam.num, &last, &e.err), CV_ENOENT);
        idx_abort(e.t);
    }
    fx_pending_root_close(&e);

    /* A file torn inside moov is no segment at all: quarantined too. */
    if (fx_pending_root_open(&e, REL_HDR, s.buf.data, (size_t)s.moov_end - 10) < 0) {
        fx_segment_release(&s);
        return;
    }
    abs_path(&e, REL_HDR, path);
    abs_path(&e, qname, qpath);
    CHECK_EQ_INT(idx_recover_segment(e.idx, e.root, &e.cam, REL_HDR, &out, &e.err), CV_ENOENT);
    CHECK_EQ_INT(fx_file_size(path), -1);
    CHECK_EQ_INT(fx_file_size(qpath), s.moov_end - 10);
    fx_pending_root_close(&e);
    fx_segment_release(&s);
}
