/*
 * test_idx.c: the LMDB index (indexer/idx.h) in a fresh data root under /tmp.
 *
 * The index is camvault's record of what footage exists, so every record must come back field
 * for field, range queries must include exactly the segments that overlap (half-open ranges),
 * the hash chain must follow its documented formula (recomputed here with OpenSSL directly),
 * and everything must survive closing and reopening the environment.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/cvtime.h"
#include "indexer/idx.h"
#include "storage-layout/layout.h"
#include "integrity/chain.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define S CV_US_PER_S
#define T0 FX_START_US

/* Begin a transaction or record why not (then NULL). */
static struct idx_txn *begin(struct fx_env *e, bool write)
{
    struct idx_txn *t = NULL;
    struct cv_err err = {""};

    if (idx_begin(e->idx, write, &t, &err) < 0)
        unit_fail(__FILE__, __LINE__, "idx_begin: %s", err.msg);
    return t;
}

static void commit(struct idx_txn *t)
{
    struct cv_err err = {""};

    if (t && idx_commit(t, &err) < 0)
        unit_fail(__FILE__, __LINE__, "idx_commit: %s", err.msg);
}

static void camera_fill(struct idx_camera *c, const char *id, int variant)
{
    memset(c, 0, sizeof(*c));
    cv_strlcpy(c->id, id, sizeof(c->id));
    snprintf(c->url, sizeof(c->url), "rtsp://user:p%%40ss@10.0.0.%d:554/live?ch=%d", 7 + variant,
             variant);
    snprintf(c->name, sizeof(c->name), "Camera \"%s\" \xc3\xa9", id);
    snprintf(c->location, sizeof(c->location), "North fence, post %d", variant);
    c->enabled = variant % 2 == 0;
    c->is_public = variant % 3 == 1;
    c->transport = variant % 2 ? IDX_TRANSPORT_UDP : IDX_TRANSPORT_TCP;
    c->retention_days = variant % 2 ? 7.5 : 30;
    cv_strlcpy(c->volume, variant % 2 ? "main" : "v2", sizeof(c->volume));
    c->created_us = T0 + variant * 1234567;
}

/* A fresh environment (fx_env_open) and a write transaction on it with camera "cam1"
 * (camera_fill's variant 1) added as *c; NULL (the environment closed again, a failure
 * recorded) when not. */
/* The one-camera fixture: an empty index with camera "cam1" (number 1, camera_fill) added in
 * the write transaction t, which the test commits or aborts; err for the calls of a test. */
struct cam1_fx {
    struct fx_env e;
    struct idx_txn *t;
    struct idx_camera c;
    struct cv_err err;
};

/* Open the fixture: true, or false with the failure recorded (the test then returns). */
static bool cam1_open(struct cam1_fx *x)
{
    memset(x, 0, sizeof(*x));
    if (fx_env_open(&x->e) < 0)
        return false;
    x->t = begin(&x->e, true);
    if (!x->t) {
        fx_env_close(&x->e);
        return false;
    }
    camera_fill(&x->c, "cam1", 1);
    if (idx_camera_add(x->t, &x->c, &x->err) < 0) {
        unit_fail(__FILE__, __LINE__, "idx_camera_add: %s", x->err.msg);
        idx_abort(x->t);
        fx_env_close(&x->e);
        return false;
    }
    return true;
}

/* Add *c on t: it must succeed, get number `num` and bring the config generation to `gen`. */
static void camera_add_ok(struct idx_txn *t, struct idx_camera *c, int num, uint64_t gen)
{
    struct cv_err err = {""};

    CHECK_OK(idx_camera_add(t, c, &err), &err);
    CHECK_EQ_INT(c->num, num);
    CHECK_EQ_U64(idx_config_gen(t), gen);
}

/* The configuration generation of t must be `gen`; then commit t (keep) or abort it. */
static void end_at_gen(struct idx_txn *t, uint64_t gen, bool keep)
{
    CHECK_EQ_U64(idx_config_gen(t), gen);
    if (keep)
        commit(t);
    else
        idx_abort(t);
}

static void check_camera(const struct idx_camera *got, const struct idx_camera *want)
{
    CHECK_EQ_STR(got->id, want->id);
    CHECK_EQ_INT(got->num, want->num);
    CHECK_EQ_STR(got->url, want->url);
    CHECK_EQ_STR(got->name, want->name);
    CHECK_EQ_STR(got->location, want->location);
    CHECK_EQ_INT(got->enabled, want->enabled);
    CHECK_EQ_INT(got->is_public, want->is_public);
    CHECK_EQ_INT(got->transport, want->transport);
    CHECK_MSG(got->retention_days == want->retention_days, "retention %.9f, want %.9f",
              got->retention_days, want->retention_days);
    CHECK_EQ_STR(got->volume, want->volume);
    CHECK_EQ_INT(got->created_us, want->created_us);
}

void test_idx_open_uninitialized(void)
{
    char tmp[PATH_MAX], root[PATH_MAX], site[33], site2[33];
    struct cv_err err = {""};
    struct idx *idx = (struct idx *)&err;
    struct idx_txn *t = NULL;

    if (fx_tmpdir(tmp) < 0)
        return;
    /* A directory that is not a data root, and a root whose index was never created. */
    CHECK_EQ_INT(idx_open(&idx, tmp, 0, &err), CV_ENOENT);
    CHECK(idx == NULL);
    CHECK_CONTAINS(err.msg, tmp);
    CHECK_CONTAINS(err.msg, "camvault init");
    snprintf(root, sizeof(root), "%s/root", tmp);
    CHECK_OK(lay_root_create(root, &err), &err);
    err.msg[0] = '\0';
    CHECK_EQ_INT(idx_open(&idx, root, 0, &err), CV_ENOENT);
    CHECK_CONTAINS(err.msg, "camvault init");

    /* Created: a site id of 32 hex digits that stays the same across opens. */
    CHECK_OK(idx_open(&idx, root, IDX_CREATE, &err), &err);
    if (idx && idx_begin(idx, false, &t, &err) == 0) {
        CHECK_OK(idx_site_id(t, site, &err), &err);
        CHECK_EQ_INT(strlen(site), 32);
        CHECK_EQ_INT(strspn(site, "0123456789abcdef"), 32);
        CHECK_EQ_U64(idx_config_gen(t), 1);
        idx_abort(t);
    }
    idx_close(idx);
    idx = NULL;
    CHECK_OK(lay_root_check(root, &err), &err);
    CHECK_OK(idx_open(&idx, root, 0, &err), &err);
    if (idx && idx_begin(idx, false, &t, &err) == 0) {
        CHECK_OK(idx_site_id(t, site2, &err), &err);
        CHECK_EQ_STR(site2, site);
        idx_abort(t);
    }
    idx_close(idx);
    idx_close(NULL);
    idx_abort(NULL);
    fx_rmtree(tmp);
}

void test_idx_cameras(void)
{
    struct idx_camera a, b, c, got, dup, upd, gone, *list = NULL;
    struct cv_err err = {""};
    struct idx_txn *t;
    struct fx_env e;
    size_t n = 0;
    uint64_t gen;

    if (fx_env_open(&e) < 0)
        return;
    camera_fill(&a, "gate-3", 1);
    camera_fill(&b, "lobby", 2);
    camera_fill(&c, "a-cam", 3);
    t = begin(&e, true);
    if (!t)
        goto out;
    gen = idx_config_gen(t);
    camera_add_ok(t, &a, 1, gen + 1);
    camera_add_ok(t, &b, 2, gen + 2);
    commit(t);

    /* Taken id: refused, nothing changes, no number used up. */
    t = begin(&e, true);
    if (!t)
        goto out;
    camera_fill(&dup, "gate-3", 4);
    err.msg[0] = '\0';
    CHECK_EQ_INT(idx_camera_add(t, &dup, &err), CV_EEXIST);
    CHECK_CONTAINS(err.msg, "'gate-3'");
    CHECK_EQ_U64(idx_config_gen(t), gen + 2);
    camera_add_ok(t, &c, 3, gen + 3);
    commit(t);

    t = begin(&e, false);
    if (!t)
        goto out;
    CHECK_OK(idx_camera_get(t, "gate-3", &got, &err), &err);
    check_camera(&got, &a);
    CHECK_OK(idx_camera_get(t, "lobby", &got, &err), &err);
    check_camera(&got, &b);
    err.msg[0] = '\0';
    CHECK_EQ_INT(idx_camera_get(t, "x", &got, &err), CV_ENOENT);
    CHECK_EQ_STR(err.msg, "unknown camera 'x'");
    CHECK_EQ_INT(idx_camera_get(t, "gate", &got, &err), CV_ENOENT); /* no prefix match */
    CHECK_OK(idx_camera_list(t, &list, &n, &err), &err);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        check_camera(&list[0], &c); /* id order: a-cam, gate-3, lobby */
        check_camera(&list[1], &a);
        check_camera(&list[2], &b);
    }
    free(list);
    end_at_gen(t, gen + 3, false);

    /* Update every field but the id and number. */
    t = begin(&e, true);
    if (!t)
        goto out;
    camera_fill(&upd, "gate-3", 6);
    upd.num = a.num;
    upd.retention_days = 0.5;
    upd.created_us = a.created_us;
    CHECK_OK(idx_camera_update(t, &upd, &err), &err);
    CHECK_EQ_U64(idx_config_gen(t), gen + 4);
    CHECK_OK(idx_camera_get(t, "gate-3", &got, &err), &err);
    check_camera(&got, &upd);
    CHECK(got.enabled != a.enabled && strcmp(got.url, a.url) != 0);
    upd.num = 99;
    CHECK_EQ_INT(idx_camera_update(t, &upd, &err), CV_EINVAL);
    CHECK_CONTAINS(err.msg, "gate-3");
    camera_fill(&upd, "ghost", 1);
    CHECK_EQ_INT(idx_camera_update(t, &upd, &err), CV_ENOENT);
    CHECK_EQ_STR(err.msg, "unknown camera 'ghost'");
    end_at_gen(t, gen + 4, true);

    /* An aborted write leaves nothing behind. */
    t = begin(&e, true);
    if (!t)
        goto out;
    camera_fill(&gone, "gone", 1);
    CHECK_OK(idx_camera_add(t, &gone, &err), &err);
    idx_abort(t);
    t = begin(&e, false);
    if (t) {
        CHECK_EQ_INT(idx_camera_get(t, "gone", &got, &err), CV_ENOENT);
        end_at_gen(t, gen + 4, false);
    }
out:
    fx_env_close(&e);
}

/* A segment of camera `cam` over [start, end) with every field set from `i`. */
static void segment_fill(struct idx_segment *s, uint32_t cam, const char *camera, int64_t start,
                         int64_t end, int i)
{
    uint64_t rng = (uint64_t)start ^ cam;

    memset(s, 0, sizeof(*s));
    s->cam = cam;
    s->start_us = start;
    s->end_us = end;
    snprintf(s->path, sizeof(s->path), "volumes/main/%s/2026-11-22/%06d-0.mp4", camera, 93000 + i);
    s->bytes = 1000000 + (uint64_t)i;
    s->frames = 1500 + (uint32_t)i;
    s->keyframes = 30 + (uint32_t)i;
    s->audio_frames = 2800 + (uint32_t)i;
    s->fragments = 30;
    cv_strlcpy(s->video, "h264 1920x1080", sizeof(s->video));
    cv_strlcpy(s->audio, i % 2 ? "aac 48000Hz 1ch" : "none", sizeof(s->audio));
    for (int k = 0; k < 32; k++)
        s->sha256[k] = (uint8_t)fx_rand(&rng);
    s->run_id = (uint64_t)T0;
    s->run_seq = (uint32_t)i;
    s->flags = i == 3 ? IDX_SEG_RECOVERED : 0;
}

static void check_segment(const struct idx_segment *got, const struct idx_segment *want)
{
    CHECK_EQ_INT(got->cam, want->cam);
    fx_check_segment(got, want);
}

/* Two fragments covering a segment. */
static void frags_fill(struct lay_seg_frag f[2], const struct idx_segment *s)
{
    memset(f, 0, 2 * sizeof(*f));
    f[0].offset = 1200;
    f[0].size = 400000;
    f[0].wall_us = s->start_us;
    f[0].starts_with_key = true;
    f[1].offset = f[0].offset + f[0].size;
    f[1].size = 380000;
    f[1].wall_us = s->start_us + (s->end_us - s->start_us) / 2;
    f[1].starts_with_key = true;
}

/* Collects the start times an iteration visits; stops with `stop_at` after that many. */
struct seen {
    int n, stop_at;
    uint32_t cam;
    int64_t starts[16];
    bool wrong_cam;
};

static int seen_cb(void *ctx, const struct idx_segment *seg)
{
    struct seen *s = ctx;

    if (seg->cam != s->cam)
        s->wrong_cam = true;
    if (s->n < 16)
        s->starts[s->n] = seg->start_us;
    s->n++;
    return s->stop_at && s->n >= s->stop_at ? 7 : 0;
}

#define NSEG1 5
#define NSEG2 3

/* cam1: [T0 + 60 s * i, + 50 s): 10 s gaps. cam2: [T0 + 100 s * i + 5 s, + 100 s): contiguous. */
static int64_t seg1_start(int i)
{
    return T0 + i * 60 * S;
}

static void put_segments(struct fx_env *e, struct idx_segment s1[NSEG1], struct idx_segment s2[NSEG2])
{
    struct cv_err err = {""};
    struct lay_seg_frag f[2];
    struct idx_txn *t = begin(e, true);
    struct idx_camera c1, c2;

    if (!t)
        return;
    camera_fill(&c1, "cam1", 1);
    camera_fill(&c2, "cam2", 2);
    CHECK_OK(idx_camera_add(t, &c1, &err), &err);
    CHECK_OK(idx_camera_add(t, &c2, &err), &err);
    /* Interleave the cameras, as the recorder does. */
    for (int i = 0; i < NSEG1; i++) {
        segment_fill(&s1[i], c1.num, "cam1", seg1_start(i), seg1_start(i) + 50 * S, i);
        frags_fill(f, &s1[i]);
        CHECK_OK(idx_segment_put(t, "cam1", &s1[i], f, 2, &err), &err);
        if (i < NSEG2) {
            int64_t st = T0 + i * 100 * S + 5 * S;
            segment_fill(&s2[i], c2.num, "cam2", st, st + 100 * S, i + 10);
            frags_fill(f, &s2[i]);
            CHECK_OK(idx_segment_put(t, "cam2", &s2[i], f, 2, &err), &err);
        }
    }
    commit(t);
}

/* A fresh environment (fx_env_open) with put_segments' two cameras and a read transaction on
 * it; NULL (the environment closed again, a failure recorded) when not. */
/* The two-camera fixture: an index holding put_segments' segments (s1 of camera 1, s2 of
 * camera 2, interleaved in time), open for reading in t; err for the calls of a test. */
struct two_cams {
    struct fx_env e;
    struct idx_txn *t;
    struct idx_segment s1[NSEG1], s2[NSEG2];
    struct cv_err err;
};

/* Open the fixture: true, or false with the failure recorded (the test then returns). */
static bool two_cams_open(struct two_cams *c)
{
    memset(c, 0, sizeof(*c));
    if (fx_env_open(&c->e) < 0)
        return false;
    put_segments(&c->e, c->s1, c->s2);
    c->t = begin(&c->e, false);
    if (!c->t)
        fx_env_close(&c->e);
    return c->t != NULL;
}

static void two_cams_close(struct two_cams *c)
{
    idx_abort(c->t);
    fx_env_close(&c->e);
}

void test_idx_segments(void)
{
    static const struct {
        int64_t from, to;
        int first, count; /* cam1 segments expected: first index and how many */
    } ranges[] = {
        {T0 - 1000 * S, T0 + 1000 * S, 0, 5}, /* everything */
        {T0 + 10 * S, T0 + 20 * S, 0, 1},     /* inside segment 0 */
        {T0 + 50 * S, T0 + 60 * S, 0, 0},     /* exactly the gap: [end0, start1) */
        {T0 + 50 * S, T0 + 60 * S + 1, 1, 1}, /* one µs into segment 1 */
        {T0 + 50 * S - 1, T0 + 60 * S, 0, 1}, /* the last µs of segment 0 */
        {T0, T0 + 60 * S, 0, 1},              /* [start0, start1) */
        {T0 + 49 * S, T0 + 121 * S, 0, 3},    /* from inside 0 to inside 2 */
        {T0 + 61 * S, T0 + 62 * S, 1, 1},     /* inside 1 */
        {T0 + 289 * S, T0 + 10000 * S, 4, 1}, /* the end of the last */
        {T0 + 290 * S, T0 + 10000 * S, 0, 0}, /* [end4, ...) */
        {T0 - 100 * S, T0, 0, 0},             /* [..., start0) */
        {T0 + 300 * S, INT64_MAX, 0, 0},      /* after everything */
        {INT64_MIN, INT64_MAX, 0, 5},         /* open range */
    };
    struct idx_segment got;
    struct two_cams c;

    if (!two_cams_open(&c))
        return;
    for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
        struct seen sn = {0, 0, c.s1[0].cam, {0}, false};
        int rc = idx_segment_iter(c.t, c.s1[0].cam, ranges[r].from, ranges[r].to, seen_cb, &sn, &c.err);
        bool same = rc == 0 && sn.n == ranges[r].count && !sn.wrong_cam;
        for (int i = 0; same && i < sn.n; i++)
            same = sn.starts[i] == c.s1[ranges[r].first + i].start_us;
        CHECK_MSG(same,
                  "range %zu [T0%+lld s, T0%+lld s): rc %d, %d segments (first %+lld s), "
                  "want %d from #%d",
                  r, (long long)((ranges[r].from - T0) / S), (long long)((ranges[r].to - T0) / S),
                  rc, sn.n, sn.n ? (long long)((sn.starts[0] - T0) / S) : 0LL, ranges[r].count,
                  ranges[r].first);
    }
    /* Camera 2, whose segments interleave in time with camera 1's, and an unknown camera. */
    {
        struct seen sn = {0, 0, c.s2[0].cam, {0}, false};
        CHECK_OK(idx_segment_iter(c.t, c.s2[0].cam, INT64_MIN, INT64_MAX, seen_cb, &sn, &c.err), &c.err);
        CHECK_EQ_INT(sn.n, NSEG2);
        CHECK(!sn.wrong_cam);
        sn.n = 0;
        CHECK_OK(idx_segment_iter(c.t, c.s2[0].cam, T0 + 106 * S, T0 + 107 * S, seen_cb, &sn, &c.err),
                 &c.err);
        CHECK_EQ_INT(sn.n, 1);
        CHECK_EQ_INT(sn.starts[0], c.s2[1].start_us);
        sn.n = 0;
        sn.cam = 3;
        CHECK_OK(idx_segment_iter(c.t, 3, INT64_MIN, INT64_MAX, seen_cb, &sn, &c.err), &c.err);
        CHECK_EQ_INT(sn.n, 0);
        sn.cam = 0;
        CHECK_OK(idx_segment_iter(c.t, 0, INT64_MIN, INT64_MAX, seen_cb, &sn, &c.err), &c.err);
        CHECK_EQ_INT(sn.n, 0);
    }
    /* A callback's nonzero return stops the iteration and is returned. */
    {
        struct seen sn = {0, 2, c.s1[0].cam, {0}, false};
        CHECK_EQ_INT(idx_segment_iter(c.t, c.s1[0].cam, INT64_MIN, INT64_MAX, seen_cb, &sn, &c.err), 7);
        CHECK_EQ_INT(sn.n, 2);
    }
    /* Records come back field for field. */
    for (int i = 0; i < NSEG1; i++) {
        CHECK_OK(idx_segment_get(c.t, c.s1[i].cam, c.s1[i].start_us, &got, &c.err), &c.err);
        check_segment(&got, &c.s1[i]);
    }
    CHECK_EQ_INT(idx_segment_get(c.t, c.s1[0].cam, c.s1[0].start_us + 1, &got, &c.err), CV_ENOENT);
    CHECK_OK(idx_segment_last(c.t, c.s1[0].cam, &got, &c.err), &c.err);
    check_segment(&got, &c.s1[NSEG1 - 1]);
    CHECK_OK(idx_segment_last(c.t, c.s2[0].cam, &got, &c.err), &c.err);
    check_segment(&got, &c.s2[NSEG2 - 1]);
    CHECK_EQ_INT(idx_segment_last(c.t, 3, &got, &c.err), CV_ENOENT);
    CHECK_EQ_INT(idx_segment_last(c.t, 0, &got, &c.err), CV_ENOENT);
    two_cams_close(&c);
}

/* The documented chain step, computed here without camvault's code. */
static void chain_ref(const uint8_t prev[32], const char *camera, int64_t start, int64_t end,
                      const uint8_t sha[32], uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t be[16];
    unsigned int n = 32;

    cv_put_be64(be, (uint64_t)start);
    cv_put_be64(be + 8, (uint64_t)end);
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, prev, 32);
    EVP_DigestUpdate(ctx, camera, strlen(camera));
    EVP_DigestUpdate(ctx, "", 1);
    EVP_DigestUpdate(ctx, be, 16);
    EVP_DigestUpdate(ctx, sha, 32);
    EVP_DigestFinal_ex(ctx, out, &n);
    EVP_MD_CTX_free(ctx);
}

/* Collects tombstones (the first one's record kept). */
struct tombs {
    int n;
    struct idx_tombstone first;
};

static int tomb_cb(void *ctx, const struct idx_tombstone *ts)
{
    struct tombs *t = ctx;

    if (t->n++ == 0)
        t->first = *ts;
    return 0;
}

/*
 * Every segment is indexed, whatever its times: one that starts before the end of the camera's
 * previous segment (the recorder's clock stepped back) is moved, whole, to start at that end and
 * flagged IDX_SEG_SHIFTED with its real start kept; keys stay unique and in order, the chain
 * covers the moved times, the fragment table keeps the real spacing. A small overlap (anchor
 * corrections) is left as it is.
 */
void test_idx_segment_order(void)
{
    struct idx_segment a, b, c2, d, got;
    struct lay_seg_frag f[2];
    struct tombs tb = {0};
    uint8_t want[32];
    uint64_t off = 0;
    int64_t frag_us = 0;
    struct cam1_fx fx;

    if (!cam1_open(&fx))
        return;
    segment_fill(&a, fx.c.num, "cam1", T0 + 60 * S, T0 + 120 * S, 1);
    frags_fill(f, &a);
    CHECK_OK(idx_segment_put(fx.t, "cam1", &a, f, 2, &fx.err), &fx.err);
    CHECK_EQ_INT(a.flags & IDX_SEG_SHIFTED, 0);
    /* Before the last one: indexed after it, flagged, its real start kept. */
    segment_fill(&b, fx.c.num, "cam1", T0, T0 + 60 * S, 0);
    frags_fill(f, &b);
    CHECK_OK(idx_segment_put(fx.t, "cam1", &b, f, 2, &fx.err), &fx.err);
    CHECK_EQ_INT(b.start_us, T0 + 120 * S);
    CHECK_EQ_INT(b.end_us, T0 + 180 * S);
    CHECK_EQ_INT(b.flags, IDX_SEG_SHIFTED);
    CHECK_EQ_INT(b.recv_start_us, T0);
    chain_ref(a.chain, "cam1", T0 + 120 * S, T0 + 180 * S, b.sha256, want);
    CHECK_EQ_MEM(b.chain, want, 32);
    CHECK_EQ_INT(idx_segment_get(fx.t, fx.c.num, T0, &got, &fx.err), CV_ENOENT);
    CHECK_OK(idx_segment_last(fx.t, fx.c.num, &got, &fx.err), &fx.err);
    check_segment(&got, &b);
    CHECK_EQ_INT(got.recv_start_us, T0);
    /* Its fragments keep their spacing from the moved start. */
    CHECK_OK(idx_locate(fx.t, fx.c.num, T0 + 150 * S, &got, &off, &frag_us, &fx.err), &fx.err);
    CHECK_EQ_STR(got.path, b.path);
    CHECK_EQ_U64(off, f[1].offset);
    CHECK_EQ_INT(frag_us, T0 + 150 * S);
    /* The same start as an earlier one: after the last again. */
    segment_fill(&c2, fx.c.num, "cam1", T0 + 60 * S, T0 + 70 * S, 2);
    frags_fill(f, &c2);
    CHECK_OK(idx_segment_put(fx.t, "cam1", &c2, f, 2, &fx.err), &fx.err);
    CHECK_EQ_INT(c2.start_us, T0 + 180 * S);
    CHECK_EQ_INT(c2.end_us, T0 + 190 * S);
    CHECK_EQ_INT(c2.recv_start_us, T0 + 60 * S);
    /* 50 ms of overlap is an anchor correction, not a clock step: left as it is. */
    segment_fill(&d, fx.c.num, "cam1", T0 + 190 * S - 50000, T0 + 250 * S, 4);
    frags_fill(f, &d);
    CHECK_OK(idx_segment_put(fx.t, "cam1", &d, f, 2, &fx.err), &fx.err);
    CHECK_EQ_INT(d.start_us, T0 + 190 * S - 50000);
    CHECK_EQ_INT(d.flags, 0);
    /* Another camera has its own order. */
    segment_fill(&d, fx.c.num + 1, "cam2", T0, T0 + 60 * S, 0);
    frags_fill(f, &d);
    CHECK_OK(idx_segment_put(fx.t, "cam2", &d, f, 2, &fx.err), &fx.err);
    CHECK_EQ_INT(d.start_us, T0);
    commit(fx.t);
    /* The flag and the real start survive the record's encoding, also as a tombstone. */
    fx.t = begin(&fx.e, true);
    if (!fx.t)
        goto out;
    CHECK_OK(idx_segment_get(fx.t, fx.c.num, T0 + 120 * S, &got, &fx.err), &fx.err);
    check_segment(&got, &b);
    CHECK_EQ_INT(got.recv_start_us, T0);
    CHECK_OK(idx_segment_tombstone(fx.t, fx.c.num, T0 + 120 * S, IDX_GAP_RETENTION, "old", T0 + 999 * S,
                                   NULL, &fx.err),
             &fx.err);
    CHECK_OK(idx_tombstone_iter(fx.t, fx.c.num, INT64_MIN, INT64_MAX, tomb_cb, &tb, &fx.err), &fx.err);
    CHECK_EQ_INT(tb.n, 1);
    check_segment(&tb.first.seg, &b);
    CHECK_EQ_INT(tb.first.seg.recv_start_us, T0);
    CHECK_EQ_STR(tb.first.detail, "old");
    CHECK_EQ_INT(tb.first.deleted_us, T0 + 999 * S);
    /* The tombstoned segment's end still bounds the next one. */
    segment_fill(&d, fx.c.num, "cam1", T0 + 100 * S, T0 + 110 * S, 5);
    frags_fill(f, &d);
    CHECK_OK(idx_segment_put(fx.t, "cam1", &d, f, 2, &fx.err), &fx.err);
    CHECK_EQ_INT(d.start_us, T0 + 250 * S);
    commit(fx.t);
out:
    fx_env_close(&fx.e);
}

/*
 * A segment whose first fragment is timed more than IDX_SHIFT_MIN_US after the recorder
 * received it (the recorder kept it after the camera's previous segment: its clock stepped
 * back) is flagged with that receipt; within the limit it is not.
 */
void test_idx_segment_shifted_by_receipt(void)
{
    struct idx_segment a, b, got;
    struct lay_seg_frag f[2];
    struct cam1_fx fx;

    if (!cam1_open(&fx))
        return;
    segment_fill(&a, fx.c.num, "cam1", T0, T0 + 60 * S, 0);
    frags_fill(f, &a);
    f[0].recv_us = T0 + 2 * S / 10; /* received a little after: the usual case */
    CHECK_OK(idx_segment_put(fx.t, "cam1", &a, f, 2, &fx.err), &fx.err);
    CHECK_EQ_INT(a.flags, 0);
    segment_fill(&b, fx.c.num, "cam1", T0 + 60 * S, T0 + 120 * S, 2);
    frags_fill(f, &b);
    f[0].recv_us = T0 + 60 * S - 45 * S; /* the clock had stepped back 45 s */
    CHECK_OK(idx_segment_put(fx.t, "cam1", &b, f, 2, &fx.err), &fx.err);
    CHECK_EQ_INT(b.start_us, T0 + 60 * S);
    CHECK_EQ_INT(b.flags, IDX_SEG_SHIFTED);
    CHECK_EQ_INT(b.recv_start_us, T0 + 15 * S);
    commit(fx.t);
    fx.t = begin(&fx.e, false);
    if (fx.t)
        CHECK_OK(idx_segment_get(fx.t, fx.c.num, T0 + 60 * S, &got, &fx.err), &fx.err);
    idx_abort(fx.t);
    check_segment(&got, &b);
    CHECK_EQ_INT(got.recv_start_us, T0 + 15 * S);
    fx_env_close(&fx.e);
}


void test_idx_chain(void)
{
    static const uint8_t zeros[32];
    struct idx_segment got;
    uint8_t want[32], lib[32], prev1[32], prev2[32];
    struct two_cams c;

    /* The step function alone, against the formula. */
    {
        uint8_t sha[32];
        memset(sha, 0xab, sizeof(sha));
        chain_ref(zeros, "gate-3", T0, T0 + 60 * S, sha, want);
        CHECK_EQ_INT(itg_chain_next(zeros, "gate-3", T0, T0 + 60 * S, sha, lib, NULL), 0);
        CHECK_EQ_MEM(lib, want, 32);
        /* Each input matters. */
        CHECK_EQ_INT(itg_chain_next(zeros, "gate-4", T0, T0 + 60 * S, sha, lib, NULL), 0);
        CHECK(memcmp(lib, want, 32) != 0);
        CHECK_EQ_INT(itg_chain_next(zeros, "gate-3", T0, T0 + 60 * S + 1, sha, lib, NULL), 0);
        CHECK(memcmp(lib, want, 32) != 0);
        /* The NUL separator: ("ab", start) and ("a", ...) cannot collide by shifting bytes. */
        CHECK_EQ_INT(itg_chain_next(zeros, "gate-", T0, T0 + 60 * S, sha, lib, NULL), 0);
        CHECK(memcmp(lib, want, 32) != 0);
    }

    if (!two_cams_open(&c))
        return;
    memcpy(prev1, zeros, 32);
    for (int i = 0; i < NSEG1; i++) {
        chain_ref(prev1, "cam1", c.s1[i].start_us, c.s1[i].end_us, c.s1[i].sha256, want);
        CHECK_MSG(memcmp(c.s1[i].chain, want, 32) == 0, "cam1 link %d differs from the formula", i);
        CHECK_OK(idx_segment_get(c.t, c.s1[i].cam, c.s1[i].start_us, &got, &c.err), &c.err);
        CHECK_EQ_MEM(got.chain, want, 32);
        memcpy(prev1, want, 32);
    }
    memcpy(prev2, zeros, 32);
    for (int i = 0; i < NSEG2; i++) {
        chain_ref(prev2, "cam2", c.s2[i].start_us, c.s2[i].end_us, c.s2[i].sha256, want);
        CHECK_MSG(memcmp(c.s2[i].chain, want, 32) == 0, "cam2 link %d differs from the formula", i);
        memcpy(prev2, want, 32);
    }
    two_cams_close(&c);
}

struct gaps_seen {
    int n;
    struct idx_gap g[8];
};

static int gap_cb(void *ctx, const struct idx_gap *g)
{
    struct gaps_seen *s = ctx;

    if (s->n < 8)
        s->g[s->n] = *g;
    s->n++;
    return 0;
}

void test_idx_gaps(void)
{
    static const struct {
        uint32_t cam;
        int64_t start, end;
        uint8_t reason;
        const char *detail;
    } gaps[] = {
        {1, T0, T0 + 10 * S, IDX_GAP_OFFLINE, "cannot connect to rtsp://10.0.0.7/live: refused"},
        {1, T0 + 100 * S, T0 + 200 * S, IDX_GAP_RECORDER_STOPPED, ""},
        {1, T0 + 1000 * S, T0 + 5000 * S, IDX_GAP_RETENTION, "retention 30 days"},
        {2, T0, T0 + S, IDX_GAP_DISK, "no space left on volume 'main'"},
    };
    static const struct {
        int64_t from, to;
        int first, count; /* into gaps[] (camera 1) */
    } ranges[] = {
        {INT64_MIN, INT64_MAX, 0, 3},         {T0 + 5 * S, T0 + 150 * S, 0, 2},
        {T0 + 10 * S, T0 + 100 * S, 0, 0},    /* between two gaps, boundaries excluded */
        {T0 + 4000 * S, T0 + 4001 * S, 2, 1}, /* inside a long gap that started earlier */
        {T0 + 5000 * S, INT64_MAX, 0, 0},
    };
    struct cv_err err = {""};
    struct idx_txn *t;
    struct fx_env e;

    CHECK_EQ_STR(idx_gap_reason_name(IDX_GAP_OFFLINE), "camera-offline");
    CHECK_EQ_STR(idx_gap_reason_name(IDX_GAP_RECORDER_STOPPED), "recorder-stopped");
    CHECK_EQ_STR(idx_gap_reason_name(IDX_GAP_RETENTION), "retention");
    CHECK_EQ_STR(idx_gap_reason_name(IDX_GAP_DISK), "disk");
    CHECK_EQ_STR(idx_gap_reason_name(IDX_GAP_MISSING), "file-missing");
    CHECK_EQ_STR(idx_gap_reason_name(-1), "unknown");
    CHECK_EQ_STR(idx_gap_reason_name(0), "unknown");
    CHECK_EQ_STR(idx_gap_reason_name(99), "unknown");

    if (fx_env_open(&e) < 0)
        return;
    t = begin(&e, true);
    if (!t)
        goto out;
    for (size_t i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++) {
        struct idx_gap g;
        memset(&g, 0, sizeof(g));
        g.cam = gaps[i].cam;
        g.start_us = gaps[i].start;
        g.end_us = gaps[i].end;
        g.reason = gaps[i].reason;
        cv_strlcpy(g.detail, gaps[i].detail, sizeof(g.detail));
        CHECK_OK(idx_gap_put(t, &g, &err), &err);
    }
    commit(t);
    t = begin(&e, false);
    if (!t)
        goto out;
    for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
        struct gaps_seen sn;
        memset(&sn, 0, sizeof(sn));
        CHECK_OK(idx_gap_iter(t, 1, ranges[r].from, ranges[r].to, gap_cb, &sn, &err), &err);
        CHECK_MSG(sn.n == ranges[r].count, "gap range %zu: %d gaps, want %d", r, sn.n,
                  ranges[r].count);
        for (int i = 0; i < sn.n && i < ranges[r].count; i++) {
            int k = ranges[r].first + i;
            CHECK_EQ_INT(sn.g[i].cam, 1);
            CHECK_EQ_INT(sn.g[i].start_us, gaps[k].start);
            CHECK_EQ_INT(sn.g[i].end_us, gaps[k].end);
            CHECK_EQ_INT(sn.g[i].reason, gaps[k].reason);
            CHECK_EQ_STR(sn.g[i].detail, gaps[k].detail);
        }
    }
    {
        struct gaps_seen sn;
        memset(&sn, 0, sizeof(sn));
        CHECK_OK(idx_gap_iter(t, 2, INT64_MIN, INT64_MAX, gap_cb, &sn, &err), &err);
        CHECK_EQ_INT(sn.n, 1);
        CHECK_EQ_INT(sn.g[0].reason, IDX_GAP_DISK);
        CHECK_EQ_STR(idx_gap_reason_name(sn.g[0].reason), "disk");
        memset(&sn, 0, sizeof(sn));
        CHECK_OK(idx_gap_iter(t, 3, INT64_MIN, INT64_MAX, gap_cb, &sn, &err), &err);
        CHECK_EQ_INT(sn.n, 0);
    }
    idx_abort(t);
out:
    fx_env_close(&e);
}

static void status_fill(struct idx_status *st, int v)
{
    memset(st, 0, sizeof(*st));
    st->online = v % 2;
    snprintf(st->reason, sizeof(st->reason), "reason %d: connection refused", v);
    st->since_us = T0 + v;
    st->last_frame_us = T0 + 1000 * v;
    st->bitrate_bps = 4000000 + (uint64_t)v;
    st->frames = UINT64_C(1) << 40 | (uint64_t)v;
    st->segments = 77 + (uint64_t)v;
    st->reconnects = (uint64_t)v;
    st->updated_us = T0 + 5 * S + v;
    snprintf(st->codec, sizeof(st->codec), "h264 1920x1080 + aac 48000Hz %dch", v);
    cv_strlcpy(st->picture, v % 2 ? "frozen" : "black", sizeof(st->picture));
    st->picture_since_us = T0 + 7 * S + v;
    st->ts_repaired = 3 + (uint64_t)v;
    st->frames_dropped = (UINT64_C(1) << 33) + (uint64_t)v;
}

static void check_status(const struct idx_status *got, const struct idx_status *want)
{
    CHECK_EQ_INT(got->online, want->online);
    CHECK_EQ_STR(got->reason, want->reason);
    CHECK_EQ_INT(got->since_us, want->since_us);
    CHECK_EQ_INT(got->last_frame_us, want->last_frame_us);
    CHECK_EQ_U64(got->bitrate_bps, want->bitrate_bps);
    CHECK_EQ_U64(got->frames, want->frames);
    CHECK_EQ_U64(got->segments, want->segments);
    CHECK_EQ_U64(got->reconnects, want->reconnects);
    CHECK_EQ_INT(got->updated_us, want->updated_us);
    CHECK_EQ_STR(got->codec, want->codec);
    CHECK_EQ_STR(got->picture, want->picture);
    CHECK_EQ_INT(got->picture_since_us, want->picture_since_us);
    CHECK_EQ_U64(got->ts_repaired, want->ts_repaired);
    CHECK_EQ_U64(got->frames_dropped, want->frames_dropped);
}

void test_idx_status(void)
{
    struct idx_status a, b, got;
    struct cv_err err = {""};
    struct idx_txn *t;
    struct fx_env e;

    if (fx_env_open(&e) < 0)
        return;
    t = begin(&e, true);
    if (!t)
        goto out;
    status_fill(&a, 1);
    status_fill(&b, 2);
    CHECK_OK(idx_status_put(t, 1, &a, &err), &err);
    CHECK_OK(idx_status_put(t, 2, &b, &err), &err);
    commit(t);
    t = begin(&e, true);
    if (!t)
        goto out;
    CHECK_OK(idx_status_get(t, 1, &got, &err), &err);
    check_status(&got, &a);
    CHECK_OK(idx_status_get(t, 2, &got, &err), &err);
    check_status(&got, &b);
    CHECK_EQ_INT(idx_status_get(t, 3, &got, &err), CV_ENOENT);
    /* A newer status replaces the old one. */
    status_fill(&a, 4);
    CHECK_OK(idx_status_put(t, 1, &a, &err), &err);
    CHECK_OK(idx_status_get(t, 1, &got, &err), &err);
    check_status(&got, &a);
    commit(t);
out:
    fx_env_close(&e);
}

void test_idx_pending(void)
{
    static const char p1[] = "volumes/main/cam1/2026-11-22/093000-0.mp4";
    static const char p2[] = "volumes/main/cam1/2026-11-22/093100-0.mp4";
    char got[LAY_RELPATH_MAX];
    struct idx_segment s;
    struct lay_seg_frag f[2];
    struct cam1_fx fx;

    if (!cam1_open(&fx))
        return;
    CHECK_EQ_INT(idx_pending_get(fx.t, fx.c.num, got, &fx.err), CV_ENOENT);
    CHECK_OK(idx_pending_put(fx.t, fx.c.num, p1, &fx.err), &fx.err);
    CHECK_OK(idx_pending_get(fx.t, fx.c.num, got, &fx.err), &fx.err);
    CHECK_EQ_STR(got, p1);
    CHECK_EQ_INT(idx_pending_get(fx.t, fx.c.num + 1, got, &fx.err), CV_ENOENT);
    commit(fx.t);

    fx.t = begin(&fx.e, true);
    if (!fx.t)
        goto out;
    /* A segment with another path leaves the pending entry alone... */
    segment_fill(&s, fx.c.num, "cam1", T0 - 60 * S, T0, 0);
    cv_strlcpy(s.path, p2, sizeof(s.path));
    frags_fill(f, &s);
    CHECK_OK(idx_segment_put(fx.t, "cam1", &s, f, 2, &fx.err), &fx.err);
    CHECK_OK(idx_pending_get(fx.t, fx.c.num, got, &fx.err), &fx.err);
    CHECK_EQ_STR(got, p1);
    /* ...the segment it names removes it. */
    segment_fill(&s, fx.c.num, "cam1", T0, T0 + 60 * S, 1);
    cv_strlcpy(s.path, p1, sizeof(s.path));
    CHECK_OK(idx_segment_put(fx.t, "cam1", &s, f, 2, &fx.err), &fx.err);
    CHECK_EQ_INT(idx_pending_get(fx.t, fx.c.num, got, &fx.err), CV_ENOENT);
    commit(fx.t);

    fx.t = begin(&fx.e, true);
    if (!fx.t)
        goto out;
    CHECK_EQ_INT(idx_pending_get(fx.t, fx.c.num, got, &fx.err), CV_ENOENT);
    CHECK_OK(idx_pending_put(fx.t, fx.c.num, p2, &fx.err), &fx.err);
    CHECK_OK(idx_pending_put(fx.t, fx.c.num, p1, &fx.err), &fx.err); /* replaces */
    CHECK_OK(idx_pending_get(fx.t, fx.c.num, got, &fx.err), &fx.err);
    CHECK_EQ_STR(got, p1);
    CHECK_OK(idx_pending_del(fx.t, fx.c.num, &fx.err), &fx.err);
    CHECK_EQ_INT(idx_pending_get(fx.t, fx.c.num, got, &fx.err), CV_ENOENT);
    CHECK_OK(idx_pending_del(fx.t, fx.c.num, &fx.err), &fx.err); /* deleting nothing is fine */
    commit(fx.t);
out:
    fx_env_close(&fx.e);
}

void test_idx_reopen(void)
{
    struct idx_segment s1[NSEG1], s2[NSEG2], got;
    struct idx_camera c, cam;
    struct idx_status st, stgot;
    struct idx_gap g;
    struct gaps_seen gs;
    struct cv_err err = {""};
    char site[33], site2[33], pend[LAY_RELPATH_MAX];
    uint64_t gen = 0;
    struct idx_txn *t;
    struct fx_env e;

    if (fx_env_open(&e) < 0)
        return;
    put_segments(&e, s1, s2);
    t = begin(&e, true);
    if (!t)
        goto out;
    memset(&g, 0, sizeof(g));
    g.cam = 1;
    g.start_us = T0 + 290 * S;
    g.end_us = T0 + 400 * S;
    g.reason = IDX_GAP_OFFLINE;
    cv_strlcpy(g.detail, "stream ended", sizeof(g.detail));
    CHECK_OK(idx_gap_put(t, &g, &err), &err);
    status_fill(&st, 3);
    CHECK_OK(idx_status_put(t, 1, &st, &err), &err);
    CHECK_OK(idx_pending_put(t, 2, "volumes/main/cam2/2026-11-22/093500-0.mp4", &err), &err);
    CHECK_OK(idx_site_id(t, site, &err), &err);
    gen = idx_config_gen(t);
    commit(t);

    idx_close(e.idx);
    e.idx = NULL;
    CHECK_OK(idx_open(&e.idx, e.root, 0, &err), &err);
    if (!e.idx)
        goto out;
    t = begin(&e, true);
    if (!t)
        goto out;
    CHECK_OK(idx_site_id(t, site2, &err), &err);
    CHECK_EQ_STR(site2, site);
    CHECK_EQ_U64(idx_config_gen(t), gen);
    camera_fill(&c, "cam1", 1);
    c.num = 1;
    CHECK_OK(idx_camera_get(t, "cam1", &cam, &err), &err);
    check_camera(&cam, &c);
    for (int i = 0; i < NSEG1; i++) {
        CHECK_OK(idx_segment_get(t, 1, s1[i].start_us, &got, &err), &err);
        check_segment(&got, &s1[i]);
    }
    CHECK_OK(idx_segment_last(t, 2, &got, &err), &err);
    check_segment(&got, &s2[NSEG2 - 1]);
    memset(&gs, 0, sizeof(gs));
    CHECK_OK(idx_gap_iter(t, 1, INT64_MIN, INT64_MAX, gap_cb, &gs, &err), &err);
    CHECK_EQ_INT(gs.n, 1);
    CHECK_EQ_STR(gs.g[0].detail, "stream ended");
    CHECK_OK(idx_status_get(t, 1, &stgot, &err), &err);
    check_status(&stgot, &st);
    CHECK_OK(idx_pending_get(t, 2, pend, &err), &err);
    CHECK_EQ_STR(pend, "volumes/main/cam2/2026-11-22/093500-0.mp4");
    /* Numbers continue after a reopen; the chain continues from the stored last link. */
    camera_fill(&c, "cam3", 3);
    CHECK_OK(idx_camera_add(t, &c, &err), &err);
    CHECK_EQ_INT(c.num, 3);
    {
        struct lay_seg_frag f[2];
        struct idx_segment s;
        uint8_t want[32];
        segment_fill(&s, 1, "cam1", T0 + 400 * S, T0 + 460 * S, 9);
        frags_fill(f, &s);
        CHECK_OK(idx_segment_put(t, "cam1", &s, f, 2, &err), &err);
        chain_ref(s1[NSEG1 - 1].chain, "cam1", s.start_us, s.end_us, s.sha256, want);
        CHECK_EQ_MEM(s.chain, want, 32);
    }
    commit(t);
out:
    fx_env_close(&e);
}

/* Instant -> segment and GOP byte offset: one lookup, right at every boundary. */
void test_idx_locate(void)
{
    static const struct {
        int64_t at;
        int seg;      /* cam1 segment index expected, -1: nothing recorded there */
        int frag;     /* fragment index expected (0 or 1) */
    } cases[] = {
        {T0, 0, 0},                  /* the first µs */
        {T0 + 24 * S, 0, 0},         /* inside the first GOP */
        {T0 + 25 * S - 1, 0, 0},     /* the last µs of the first GOP */
        {T0 + 25 * S, 0, 1},         /* the first µs of the second GOP */
        {T0 + 50 * S - 1, 0, 1},     /* the last µs of segment 0 */
        {T0 + 50 * S, -1, 0},        /* the gap between segments */
        {T0 + 59 * S, -1, 0},
        {T0 + 60 * S, 1, 0},         /* the start of segment 1 */
        {T0 + 4 * 60 * S + 30 * S, 4, 1},
        {T0 + 290 * S, -1, 0},       /* after the end */
        {T0 - 1, -1, 0},             /* before the start */
    };
    struct idx_segment got;
    struct two_cams c;

    if (!two_cams_open(&c))
        return;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t off = 0;
        int64_t fus = 0;
        int rc = idx_locate(c.t, c.s1[0].cam, cases[i].at, &got, &off, &fus, &c.err);
        if (cases[i].seg < 0) {
            CHECK_MSG(rc == CV_ENOENT, "case %zu: want nothing, got rc %d", i, rc);
            continue;
        }
        CHECK_MSG(rc == 0, "case %zu: rc %d (%s)", i, rc, c.err.msg);
        if (rc)
            continue;
        CHECK_EQ_INT(got.start_us, c.s1[cases[i].seg].start_us);
        CHECK_EQ_INT(off, cases[i].frag == 0 ? 1200 : 1200 + 400000);
        CHECK_EQ_INT(fus, cases[i].frag == 0 ? got.start_us
                                             : got.start_us + (got.end_us - got.start_us) / 2);
    }
    /* Camera 2's segments interleave with camera 1's: a lookup never strays across cameras. */
    {
        uint64_t off;
        int64_t fus;
        CHECK_OK(idx_locate(c.t, c.s2[0].cam, T0 + 105 * S, &got, &off, &fus, &c.err), &c.err);
        CHECK_EQ_INT(got.start_us, c.s2[1].start_us);
        CHECK_EQ_INT(idx_locate(c.t, 3, T0 + 105 * S, &got, &off, &fus, &c.err), CV_ENOENT);
    }
    two_cams_close(&c);
}
