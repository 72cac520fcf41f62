/*
 * test_clip.c: working copies (exporter/clip.h).
 *
 * Sources are synthetic segments (tests/unit/fixtures.c) whose every offset, decode time and
 * wall time is known: one camera, runs of several segments whose decode times continue, and a
 * second run after a gap. The clip is read back box by box (storage-layout/bmff.h) and
 * compared with the sources: which fragments were taken, mfhd 1..n, tfdt and prft rebased,
 * mdat bytes unchanged, durations, sidx and mfra consistent; two plans give the same bytes;
 * random-access reads equal the whole file; bad and torn sources give errors, not crashes.
 * Playback in FFmpeg of clips of real recordings is tests/e2e/test_92_clip.py.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavutil/log.h>

#include "exporter/clip.h"
#include "storage-layout/bmff.h"
#include "storage-layout/segfile.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define SEGS_MAX 6
#define RUN2_ID (FX_RUN_ID + 1000000)

/* One source file: its bytes and where its fragments are. */
struct src {
    struct cv_buf buf;
    char path[PATH_MAX];
    size_t nfrags;
    struct fx_frag frags[FX_MAX_FRAGS];
};

struct set {
    char dir[PATH_MAX];
    struct src s[SEGS_MAX];
    size_t n;
    const char *paths[SEGS_MAX];
    struct cv_err err; /* for the test's calls */
};

/* Start a segment file of run `run` (header box only, no fragments). */
static struct src *seg_begin(struct set *set, uint64_t run)
{
    struct src *s = &set->s[set->n];
    struct fx_segment tmp;
    struct lay_seg_header h;

    fx_segment_build(&tmp, 0, false);
    s->buf = tmp.buf; /* takes the buffer over */
    s->nfrags = 0;
    memset(&h, 0, sizeof(h));
    cv_strlcpy(h.camera, FX_CAMERA, sizeof(h.camera));
    h.run_id = run;
    cv_strlcpy(h.container, "mp4", sizeof(h.container));
    cv_strlcpy(h.video, "h264 1280x720", sizeof(h.video));
    cv_strlcpy(h.audio, "none", sizeof(h.audio));
    lay_seg_header_box(&s->buf, &h);
    {
        char dir[PATH_MAX];
        memcpy(dir, set->dir, sizeof(dir));
        snprintf(s->path, sizeof(s->path), "%s/seg%zu.mp4", dir, set->n);
    }
    set->paths[set->n] = s->path;
    set->n++;
    return s;
}

static void seg_frag(struct src *s, int64_t wall_us, uint64_t dts, uint32_t samples)
{
    struct fx_frag *f = &s->frags[s->nfrags++];

    f->offset = s->buf.len;
    f->wall_us = wall_us;
    f->dts = dts;
    f->samples = samples;
    f->dur = (uint64_t)samples * FX_SAMPLE_DUR;
    fx_fragment(&s->buf, wall_us, dts, samples);
    f->size = s->buf.len - f->offset;
}

static void set_write(struct set *set)
{
    for (size_t i = 0; i < set->n; i++)
        if (!cv_buf_ok(&set->s[i].buf) ||
            fx_write_file(set->s[i].path, set->s[i].buf.data, set->s[i].buf.len) < 0)
            unit_fail(__FILE__, __LINE__, "cannot write '%s'", set->s[i].path);
}

static int64_t us_of(uint64_t dts)
{
    return (int64_t)(dts * 1000000 / FX_TIMESCALE);
}

/*
 * Three segments of one run, two fragments each (50 and 30 samples: 2 s and 1.2 s), decode
 * times and wall times continuous; with `run2`, two more segments of a second run starting
 * 10 s after the first run ends, its decode times restarting at 0.
 */
static int set_build(struct set *set, bool run2)
{
    uint64_t dts = 0;

    memset(set, 0, sizeof(*set));
    if (fx_tmpdir(set->dir) < 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        struct src *s = seg_begin(set, FX_RUN_ID);
        for (int j = 0; j < 2; j++) {
            seg_frag(s, FX_START_US + us_of(dts), dts, FX_SAMPLES(j));
            dts += FX_SAMPLES(j) * FX_SAMPLE_DUR;
        }
    }
    if (run2) {
        int64_t wall = FX_START_US + us_of(dts) + 10000000;
        uint64_t d2 = 0;
        for (int i = 0; i < 2; i++) {
            struct src *s = seg_begin(set, RUN2_ID);
            for (int j = 0; j < 2; j++) {
                seg_frag(s, wall + us_of(d2), d2, FX_SAMPLES(j));
                d2 += FX_SAMPLES(j) * FX_SAMPLE_DUR;
            }
        }
    }
    set_write(set);
    return 0;
}

static void set_release(struct set *set)
{
    for (size_t i = 0; i < set->n; i++)
        cv_buf_release(&set->s[i].buf);
    fx_rmtree(set->dir);
}

/* The whole clip in memory (malloc'd), via exp_clip_write into a file. */
static uint8_t *clip_bytes(struct exp_clip *c, const char *dir, size_t *len, uint8_t sha[32])
{
    char path[PATH_MAX];
    uint8_t *data = NULL;
    struct cv_err err = {""};
    int fd;

    snprintf(path, sizeof(path), "%s/clip.mp4", dir);
    unlink(path);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        unit_fail(__FILE__, __LINE__, "cannot create '%s'", path);
        return NULL;
    }
    CHECK_OK(exp_clip_write(c, fd, sha, &err), &err);
    *len = (size_t)exp_clip_size(c);
    data = malloc(*len ? *len : 1);
    if (!data || pread(fd, data, *len, 0) != (ssize_t)*len) {
        unit_fail(__FILE__, __LINE__, "cannot read the clip back");
        free(data);
        data = NULL;
    }
    CHECK_EQ_INT(fx_file_size(path), (long long)*len);
    close(fd);
    return data;
}

/* ---- the clip's boxes as offsets, for the checks (read with storage-layout/bmff.h) ---- */

struct tbox {
    char type[5];
    size_t off, size, body; /* body: offset of the body */
};

/* Children of [from, to) in data, at most max; returns the count (or SIZE_MAX if malformed). */
static size_t walk(const uint8_t *data, size_t from, size_t to, struct tbox *out, size_t max)
{
    struct lay_box_cur c;
    struct lay_box b;
    size_t n = 0;
    int r;

    lay_box_init(&c, data + from, to - from);
    while ((r = lay_box_next(&c, &b, NULL)) == 1) {
        if (n == max)
            return SIZE_MAX;
        memcpy(out[n].type, b.type, 5);
        out[n].off = (size_t)(b.start - data);
        out[n].size = b.size;
        out[n].body = (size_t)(b.body - data);
        n++;
    }
    return r == 0 ? n : SIZE_MAX;
}

static const struct tbox *find(const struct tbox *b, size_t n, const char *type)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(b[i].type, type) == 0)
            return &b[i];
    return NULL;
}

/* Check one clip of `set` against the source fragments it should hold: global fragment
 * indexes [first, last] in order over the files (each file holding set->s[i].nfrags). */
static void check_clip(const struct set *set, const uint8_t *d, size_t len, size_t first,
                       size_t last, bool sidx)
{
    struct tbox top[64], moof[8], traf[8];
    size_t n = walk(d, 0, len, top, 64), k = 0, want = last - first + 1, at, g = 0;
    uint64_t base_dts = 0, seq = 1;

    CHECK(n != SIZE_MAX);
    if (n == SIZE_MAX)
        return;
    CHECK_EQ_STR(top[0].type, "ftyp");
    CHECK_EQ_STR(top[1].type, "moov");
    at = 2;
    if (sidx) {
        CHECK_EQ_STR(top[2].type, "sidx");
        if (strcmp(top[2].type, "sidx") == 0)
            CHECK_EQ_U64(cv_get_be32(d + top[2].body + 28) & 0xffff, want);
        at = 3;
    }
    CHECK_EQ_INT(n, at + 4 * want + 1);
    CHECK_EQ_STR(top[n - 1].type, "mfra");
    CHECK_EQ_U64(cv_get_be32(d + len - 4), top[n - 1].size); /* mfro */
    for (size_t f = 0; f < set->n; f++)
        for (size_t j = 0; j < set->s[f].nfrags; j++, g++) {
            const struct fx_frag *src = &set->s[f].frags[j];
            const uint8_t *sb = set->s[f].buf.data + src->offset;
            size_t i = at + 4 * k, nm, nt;
            const struct tbox *tfdt, *mdat;
            uint64_t dts;
            if (g < first || g > last)
                continue;
            if (k == 0)
                base_dts = src->dts;
            k++;
            if (i + 3 >= n)
                return;
            CHECK_EQ_STR(top[i].type, "prft");
            CHECK_EQ_STR(top[i + 1].type, "uuid");
            CHECK_EQ_STR(top[i + 2].type, "moof");
            CHECK_EQ_STR(top[i + 3].type, "mdat");
            /* the wall clock and the fraginf box survive byte for byte */
            CHECK_EQ_MEM(d + top[i].body + 8, sb + 16, 8);
            CHECK_EQ_MEM(d + top[i + 1].off, sb + 32, top[i + 1].size);
            nm = walk(d, top[i + 2].body, top[i + 2].off + top[i + 2].size, moof, 8);
            CHECK(nm == 2);
            if (nm != 2)
                return;
            CHECK_EQ_U64(cv_get_be32(d + moof[0].body + 4), seq++);
            nt = walk(d, moof[1].body, moof[1].off + moof[1].size, traf, 8);
            tfdt = nt == SIZE_MAX ? NULL : find(traf, nt, "tfdt");
            CHECK(tfdt != NULL);
            if (!tfdt)
                return;
            dts = cv_get_be64(d + tfdt->body + 4);
            if (f < 3)
                CHECK_EQ_U64(dts, src->dts - base_dts); /* first run: continuous */
            CHECK_EQ_U64(cv_get_be64(d + top[i].body + 16), dts); /* prft media_time */
            /* the mdat, and the moof apart from mfhd and tfdt, are the source's bytes */
            mdat = &top[i + 3];
            CHECK_EQ_U64(mdat->size, src->size - (mdat->off - top[i].off));
            CHECK_EQ_MEM(d + mdat->off, sb + (mdat->off - top[i].off), mdat->size);
            CHECK_EQ_MEM(d + moof[1].off, sb + (moof[1].off - top[i].off),
                         tfdt->body + 4 - moof[1].off);
        }
    CHECK_EQ_INT(k, want);
}

void test_clip_layout(void)
{
    struct set set;
    struct exp_clip *c = NULL;
    uint8_t sha[32], *d;
    size_t len = 0;
    int64_t first, end;
    const struct fx_frag *f1, *s3;

    if (set_build(&set, false) < 0)
        return;
    f1 = &set.s[0].frags[1]; /* 2.0 s .. 3.2 s */
    s3 = &set.s[2].frags[0];
    /* from inside the second fragment of segment 1 to inside the first of segment 3 */
    CHECK_OK(exp_clip_open(&c, set.paths, set.n, f1->wall_us + 500000, s3->wall_us + 700000,
                           &set.err),
             &set.err);
    if (!c)
        goto out;
    exp_clip_times(c, &first, &end);
    CHECK_EQ_INT(first, f1->wall_us);
    CHECK_EQ_INT(end, s3->wall_us + us_of(s3->dur));
    CHECK_EQ_INT(exp_clip_origin_us(c), f1->wall_us);
    CHECK_EQ_INT(exp_clip_source_count(c), 3);
    if (exp_clip_source_count(c) == 3) {
        const struct exp_clip_source *a = exp_clip_source_at(c, 0), *b = exp_clip_source_at(c, 1),
                                     *e = exp_clip_source_at(c, 2);
        CHECK_EQ_STR(a->path, set.s[0].path);
        CHECK(a->header_bytes > 0 && b->header_bytes == 0);
        CHECK_EQ_U64(a->offset, f1->offset);
        CHECK_EQ_U64(a->bytes, f1->size);
        CHECK_EQ_INT(a->fragments, 1);
        CHECK_EQ_INT(a->run_id, FX_RUN_ID);
        CHECK_EQ_INT(b->fragments, 2);
        CHECK_EQ_U64(b->offset, set.s[1].frags[0].offset);
        CHECK_EQ_U64(e->bytes, s3->size);
        CHECK_EQ_INT(e->end_us, end);
        CHECK(exp_clip_source_at(c, 3) == NULL);
    }
    d = clip_bytes(c, set.dir, &len, sha);
    if (d) {
        struct tbox top[64], moov[8], mvex[4];
        size_t n = walk(d, 0, len, top, 64), nm, nx;
        /* durations: 4 fragments, 30+50+30+50 samples of 40 ms = 6.4 s */
        uint64_t total = (30 + 50 + 30 + 50) * FX_SAMPLE_DUR;
        check_clip(&set, d, len, 1, 4, true);
        CHECK(n != SIZE_MAX && n > 2);
        if (n != SIZE_MAX && n > 2) {
            nm = walk(d, top[1].body, top[1].off + top[1].size, moov, 8);
            CHECK(nm != SIZE_MAX && find(moov, nm, "mvhd") && find(moov, nm, "mvex"));
            if (nm != SIZE_MAX && find(moov, nm, "mvhd") && find(moov, nm, "mvex")) {
                const struct tbox *mvhd = find(moov, nm, "mvhd"), *x = find(moov, nm, "mvex");
                CHECK_EQ_U64(cv_get_be32(d + mvhd->body + 16), total * 1000 / FX_TIMESCALE);
                nx = walk(d, x->body, x->off + x->size, mvex, 4);
                CHECK(nx == 2 && strcmp(mvex[0].type, "mehd") == 0);
                if (nx == 2)
                    CHECK_EQ_U64(cv_get_be32(d + mvex[0].body + 4), 6400);
            }
            /* sidx: video track, 90 kHz, first reference = fragment 1's moof */
            CHECK_EQ_U64(cv_get_be32(d + top[2].body + 4), 1);
            CHECK_EQ_U64(cv_get_be32(d + top[2].body + 8), FX_TIMESCALE);
            CHECK_EQ_U64(cv_get_be64(d + top[2].body + 20),
                         top[5].off - (top[2].off + top[2].size));
            CHECK_EQ_U64(cv_get_be32(d + top[2].body + 32), top[9].off - top[5].off);
            CHECK_EQ_U64(cv_get_be32(d + top[2].body + 36), 30 * FX_SAMPLE_DUR);
            CHECK_EQ_U64(cv_get_be32(d + top[2].body + 40), 0x90000000u);
        }
        free(d);
    }
out:
    exp_clip_free(c);
    set_release(&set);
}

void test_clip_deterministic_random_access(void)
{
    struct set set;
    struct exp_clip *a = NULL, *b = NULL;
    uint8_t sha_a[32], sha_b[32], *da = NULL, *db = NULL, buf[4096];
    size_t la = 0, lb = 0;
    uint64_t rng = 42;

    if (set_build(&set, true) < 0)
        return;
    CHECK_OK(exp_clip_open(&a, set.paths, set.n, FX_START_US, FX_START_US + 3600000000LL, &set.err),
             &set.err);
    CHECK_OK(exp_clip_open(&b, set.paths, set.n, FX_START_US, FX_START_US + 3600000000LL, &set.err),
             &set.err);
    if (!a || !b)
        goto out;
    da = clip_bytes(a, set.dir, &la, sha_a);
    db = clip_bytes(b, set.dir, &lb, sha_b);
    if (!da || !db)
        goto out;
    CHECK_EQ_U64(la, lb);
    CHECK(la == lb && memcmp(da, db, la) == 0);
    CHECK_EQ_MEM(sha_a, sha_b, 32);
    /* random ranges, read in a random order, on the handle that already wrote the file */
    for (int i = 0; i < 2000 && unit_failures() == 0; i++) {
        uint64_t off = fx_rand(&rng) % la;
        size_t n = (size_t)(fx_rand(&rng) % sizeof(buf)) + 1;
        if (n > la - off)
            n = (size_t)(la - off);
        CHECK_OK(exp_clip_read(b, off, buf, n, &set.err), &set.err);
        CHECK_MSG(memcmp(buf, da + off, n) == 0, "bytes %llu+%zu differ",
                  (unsigned long long)off, n);
    }
    /* every byte once, one at a time near the fragment seams */
    for (uint64_t off = 0; off < la && unit_failures() == 0; off += 1 + off % 7) {
        CHECK_OK(exp_clip_read(a, off, buf, 1, &set.err), &set.err);
        CHECK_EQ_INT(buf[0], da[off]);
    }
    CHECK_OK(exp_clip_read(a, 0, buf, 0, &set.err), &set.err);
    CHECK_OK(exp_clip_read(a, la, buf, 0, &set.err), &set.err);
    CHECK_EQ_INT(exp_clip_read(a, la - 1, buf, 2, &set.err), CV_EINVAL);
    CHECK_EQ_INT(exp_clip_read(a, UINT64_MAX, buf, 1, &set.err), CV_EINVAL);
out:
    free(da);
    free(db);
    exp_clip_free(a);
    exp_clip_free(b);
    set_release(&set);
}

void test_clip_two_runs_keep_gap(void)
{
    struct set set;
    struct exp_clip *c = NULL;
    uint8_t sha[32], *d = NULL;
    size_t len = 0;
    const struct fx_frag *r1 = &set.s[3].frags[0], *last1 = &set.s[2].frags[1];

    if (set_build(&set, true) < 0)
        return;
    CHECK_OK(exp_clip_open(&c, set.paths, set.n, set.s[2].frags[1].wall_us + 1,
                           r1->wall_us + 1, &set.err),
             &set.err);
    if (!c)
        goto out;
    CHECK_EQ_INT(exp_clip_source_count(c), 2);
    d = clip_bytes(c, set.dir, &len, sha);
    if (d) {
        struct tbox top[16], moof[4], traf[8];
        size_t n = walk(d, 0, len, top, 16);
        CHECK_EQ_INT(n, 3 + 8 + 1);
        if (n == 12) {
            size_t nm = walk(d, top[9].body, top[9].off + top[9].size, moof, 4);
            size_t nt = nm == 2 ? walk(d, moof[1].body, moof[1].off + moof[1].size, traf, 8) : 0;
            const struct tbox *tfdt = nt && nt != SIZE_MAX ? find(traf, nt, "tfdt") : NULL;
            /* run 2 starts 10 s after run 1 ended: its tfdt is its wall distance from the
             * clip's start, run 1 took 30 samples */
            uint64_t want = (uint64_t)(r1->wall_us - last1->wall_us) * FX_TIMESCALE / 1000000;
            CHECK(tfdt != NULL);
            if (tfdt) {
                CHECK_EQ_U64(cv_get_be64(d + tfdt->body + 4), want);
                CHECK(want >= 30 * FX_SAMPLE_DUR + 10 * FX_TIMESCALE - FX_TIMESCALE / 100);
                CHECK_EQ_U64(cv_get_be64(d + top[7].body + 16), want);
            }
            CHECK_EQ_U64(cv_get_be32(d + moof[0].body + 4), 2);
        }
    }
    /* across the whole second run only: it starts at 0 */
    exp_clip_free(c);
    c = NULL;
    CHECK_OK(exp_clip_open(&c, set.paths + 3, 2, r1->wall_us, r1->wall_us + 60000000, &set.err), &set.err);
    if (c)
        CHECK_EQ_INT(exp_clip_origin_us(c), r1->wall_us);
out:
    free(d);
    exp_clip_free(c);
    set_release(&set);
}

void test_clip_errors(void)
{
    struct set set;
    struct exp_clip *c = NULL;
    char bad[PATH_MAX], other[PATH_MAX];
    const char *paths[2];
    uint8_t buf[64];
    struct src *s;

    if (set_build(&set, false) < 0)
        return;
    /* no footage in the range, an empty range, no paths */
    CHECK_EQ_INT(exp_clip_open(&c, set.paths, set.n, FX_START_US - 100000000,
                               FX_START_US - 50000000, &set.err),
                 CV_ENOENT);
    CHECK(c == NULL);
    CHECK_EQ_INT(exp_clip_open(&c, set.paths, set.n, FX_START_US, FX_START_US, &set.err), CV_EINVAL);
    CHECK_EQ_INT(exp_clip_open(&c, set.paths, 0, FX_START_US, FX_START_US + 1, &set.err), CV_EINVAL);
    /* a missing file and a file that is not a segment name the file */
    snprintf(bad, sizeof(bad), "%s/missing.mp4", set.dir);
    paths[0] = set.paths[0];
    paths[1] = bad;
    CHECK_EQ_INT(exp_clip_open(&c, paths, 2, FX_START_US, FX_START_US + 60000000, &set.err),
                 CV_ENOENT);
    CHECK_CONTAINS(set.err.msg, "missing.mp4");
    fx_write_file(bad, "not an mp4 file at all", 22);
    CHECK_EQ_INT(exp_clip_open(&c, paths, 2, FX_START_US, FX_START_US + 60000000, &set.err),
                 CV_ECORRUPT);
    CHECK_CONTAINS(set.err.msg, "missing.mp4");
    /* a source whose sample description differs (another resolution) */
    s = &set.s[1];
    {
        size_t at = 0, stsd = 0;
        for (size_t i = 0; i + 4 <= s->buf.len && !stsd; i++)
            if (memcmp(s->buf.data + i, "stsd", 4) == 0)
                stsd = i;
        for (size_t i = stsd; stsd && i + 4 <= s->buf.len; i++)
            if (memcmp(s->buf.data + i, "avc1", 4) == 0) {
                at = i;
                break;
            }
        CHECK(at > 0);
        snprintf(other, sizeof(other), "%s/other.mp4", set.dir);
        s->buf.data[at + 4 + 24] ^= 0x01; /* width */
        fx_write_file(other, s->buf.data, s->buf.len);
        s->buf.data[at + 4 + 24] ^= 0x01;
        paths[1] = other;
        CHECK_EQ_INT(exp_clip_open(&c, paths, 2, FX_START_US, FX_START_US + 60000000, &set.err),
                     CV_EMEDIA);
        CHECK_CONTAINS(set.err.msg, "other.mp4");
        /* the same file alone is fine: only sources that contribute are compared */
        CHECK_OK(exp_clip_open(&c, paths + 1, 1, FX_START_US, FX_START_US + 60000000, &set.err),
                 &set.err);
        exp_clip_free(c);
        c = NULL;
    }
    /* a source that shrinks after planning: reads fail naming it, nothing crashes */
    CHECK_OK(exp_clip_open(&c, set.paths, set.n, FX_START_US, FX_START_US + 60000000, &set.err),
             &set.err);
    if (c) {
        CHECK(truncate(set.paths[2], (off_t)set.s[2].frags[0].offset + 10) == 0);
        CHECK_EQ_INT(exp_clip_read(c, exp_clip_size(c) - 200, buf, 10, &set.err), CV_ECORRUPT);
        CHECK_CONTAINS(set.err.msg, "seg2.mp4");
        CHECK_OK(exp_clip_read(c, 0, buf, sizeof(buf), &set.err), &set.err);
    }
    exp_clip_free(c);
    exp_clip_free(NULL);
    set_release(&set);
}

/* Every truncation and random corruption of a source: an error or a clip, never a crash. */
void test_clip_hostile_sources(void)
{
    struct set set;
    struct src *s;
    uint8_t *copy;
    uint64_t rng = 7;
    size_t len;

    if (set_build(&set, false) < 0)
        return;
    s = &set.s[1];
    len = s->buf.len;
    copy = malloc(len);
    if (!copy)
        goto out;
    for (size_t cut = 0; cut <= len; cut += 1 + cut / 64) {
        struct exp_clip *c = NULL;
        int rc;
        fx_write_file(s->path, s->buf.data, cut);
        rc = exp_clip_open(&c, set.paths, set.n, FX_START_US, FX_START_US + 60000000, &set.err);
        CHECK_MSG(rc == 0 || rc == CV_ECORRUPT, "cut at %zu: rc %d: %s", cut, rc, set.err.msg);
        if (c) {
            uint8_t *d;
            size_t l = 0;
            uint8_t sha[32];
            d = clip_bytes(c, set.dir, &l, sha);
            free(d);
        }
        exp_clip_free(c);
    }
    for (int i = 0; i < 3000 && unit_failures() == 0; i++) {
        struct exp_clip *c = NULL;
        memcpy(copy, s->buf.data, len);
        for (int k = 0; k < 1 + (int)(fx_rand(&rng) % 4); k++)
            copy[fx_rand(&rng) % len] = (uint8_t)fx_rand(&rng);
        fx_write_file(s->path, copy, len);
        if (exp_clip_open(&c, set.paths, set.n, FX_START_US, FX_START_US + 60000000, &set.err) == 0) {
            uint8_t buf[8192];
            for (uint64_t off = 0; off < exp_clip_size(c); off += sizeof(buf)) {
                size_t n = exp_clip_size(c) - off < sizeof(buf) ? exp_clip_size(c) - off
                                                                 : sizeof(buf);
                if (exp_clip_read(c, off, buf, n, &set.err) < 0)
                    break;
            }
        }
        exp_clip_free(c);
    }
    free(copy);
out:
    set_release(&set);
}

void test_snapshot_errors(void)
{
    struct set set;
    struct cv_buf out;
    char missing[PATH_MAX];

    av_log_set_level(AV_LOG_QUIET);
    if (set_build(&set, false) < 0)
        return;
    cv_buf_init(&out, 1u << 20);
    CHECK_EQ_INT(exp_snapshot_jpeg(set.paths[0], FX_START_US - 1, &out, &set.err), CV_ENOENT);
    CHECK_EQ_INT(exp_snapshot_jpeg(set.paths[0], FX_START_US + 3600000000LL, &out, &set.err),
                 CV_ENOENT);
    snprintf(missing, sizeof(missing), "%s/none.mp4", set.dir);
    CHECK_EQ_INT(exp_snapshot_jpeg(missing, FX_START_US, &out, &set.err), CV_ENOENT);
    CHECK_CONTAINS(set.err.msg, "none.mp4");
    /* the synthetic samples are not H.264: the decoder fails with an error, not a crash */
    CHECK(exp_snapshot_jpeg(set.paths[0], FX_START_US + 500000, &out, &set.err) < 0);
    CHECK_EQ_INT(out.len, 0);
    cv_buf_release(&out);
    set_release(&set);
}

/* The segment being written (a torn last fragment): the clip uses its complete fragments only,
 * so live view can clip a growing file. */
void test_clip_growing_source(void)
{
    struct set set;
    struct exp_clip *c = NULL;
    const struct fx_frag *torn;
    uint8_t sha[32], *d;
    size_t len = 0;

    if (set_build(&set, false) < 0)
        return;
    torn = &set.s[2].frags[1];
    CHECK(truncate(set.paths[2], (off_t)(torn->offset + torn->size - 5)) == 0);
    CHECK_OK(exp_clip_open(&c, set.paths, set.n, FX_START_US, torn->wall_us + 1000000, &set.err),
             &set.err);
    if (c) {
        int64_t end;
        exp_clip_times(c, NULL, &end);
        CHECK_EQ_INT(end, set.s[2].frags[0].wall_us + us_of(set.s[2].frags[0].dur));
        CHECK_EQ_INT(exp_clip_source_at(c, 2)->fragments, 1);
        d = clip_bytes(c, set.dir, &len, sha);
        if (d)
            check_clip(&set, d, len, 0, 4, true);
        free(d);
    }
    exp_clip_free(c);
    set_release(&set);
}
