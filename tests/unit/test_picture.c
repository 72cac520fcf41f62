/*
 * test_picture.c: the picture health detector (recorder/picture.h) on synthetic luma planes.
 *
 * Pictures are 640 x 360, 8-bit, built from a seeded generator: black (covered lens, with sensor
 * noise), a dark night without infrared and with one small light, a dim but lit scene, a
 * textured scene as a live camera sees it (the same scene with fresh noise in every frame), the
 * same picture again (frozen), again with re-quantisation error (frozen, re-encoded), again with
 * a small burned-in clock changing (frozen), and with a large moving region (ok). The hysteresis
 * is fed verdicts in sequences and must change only after two agreeing samples. The worker
 * thread takes encoded keyframes from a slot as a camera thread offers them, and says black, ok
 * and frozen in turn, unknown after the stream ends; slots are freed with a keyframe queued.
 * Cameras of different parameters share the worker's kept decoders, each with its own verdict;
 * the budget stretches the interval between looks as they cost more.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recorder/picture.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define W 640
#define H 360

static uint8_t clamp8(int v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Noise of about `sd` levels (sum of uniforms), from the generator state. */
static int noise(uint64_t *rng, double sd)
{
    int s = 0;

    if (sd <= 0)
        return 0;
    for (int i = 0; i < 4; i++)
        s += (int)(fx_rand(rng) % 1001) - 500;
    return (int)lround(s / 1000.0 * sd * 1.7); /* 4 uniforms of sd 0.289: total sd ~0.58 */
}

/* A textured scene: a gradient with a grid of squares and diagonal stripes. */
static int scene(int x, int y)
{
    int v = 60 + (x * 100) / W + (y * 40) / H;

    if (((x / 40) + (y / 40)) % 2)
        v += 30;
    if (((x + y) / 7) % 3 == 0)
        v += 15;
    return v;
}

/* Fill p with `base` (a level, or -1 for the scene) plus noise of sd. */
static void fill(uint8_t *p, int base, double sd, uint64_t *rng)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            p[y * W + x] = clamp8((base < 0 ? scene(x, y) : base) + noise(rng, sd));
}

static void measure(const uint8_t *p, struct rec_pic_sample *s)
{
    CHECK_EQ_INT(rec_pic_measure(p, W, H, W, 1, 8, s), 0);
}

void test_picture_black(void)
{
    uint8_t *p = malloc(W * H);
    struct rec_pic_sample *s = malloc(sizeof(*s));
    uint64_t rng = 13;

    if (!p || !s)
        goto out;
    fill(p, 16, 2, &rng); /* covered lens: limited-range black and sensor noise */
    measure(p, s);
    CHECK(s->mean > 15 && s->mean < 17 && s->stddev < 3);
    CHECK_EQ_INT(rec_pic_verdict(s, NULL), REC_PIC_BLACK);
    fill(p, 0, 1, &rng); /* full-range black */
    measure(p, s);
    CHECK_EQ_INT(rec_pic_verdict(s, NULL), REC_PIC_BLACK);
    fill(p, 22, 6, &rng); /* night, infrared broken: dark with heavy gain noise */
    measure(p, s);
    CHECK_EQ_INT(rec_pic_verdict(s, NULL), REC_PIC_BLACK);
    for (int y = 100; y < 112; y++) /* one small street light: still black */
        memset(p + y * W + 300, 235, 12);
    measure(p, s);
    CHECK_MSG(rec_pic_verdict(s, NULL) == REC_PIC_BLACK, "mean %.1f sd %.1f", s->mean, s->stddev);
    fill(p, 70, 5, &rng); /* a dim but lit scene (infrared working): ok */
    measure(p, s);
    CHECK_EQ_INT(rec_pic_verdict(s, NULL), REC_PIC_OK);
    fill(p, 30, 2, &rng); /* dark, with bright lights over a fifth of it: a picture, ok */
    for (int y = 0; y < H / 5; y++)
        memset(p + y * W, 200, W);
    measure(p, s);
    CHECK_EQ_INT(rec_pic_verdict(s, NULL), REC_PIC_OK);
    fill(p, -1, 2, &rng); /* a textured scene */
    measure(p, s);
    CHECK_EQ_INT(rec_pic_verdict(s, NULL), REC_PIC_OK);
out:
    free(s);
    free(p);
}

void test_picture_frozen(void)
{
    uint8_t *a = malloc(W * H), *b = malloc(W * H);
    struct rec_pic_sample *sa = malloc(sizeof(*sa)), *sb = malloc(sizeof(*sb));
    uint64_t rng = 7;

    if (!a || !b || !sa || !sb)
        goto out;
    /* A live static scene: the same scene, fresh sensor noise in each frame. Not frozen. */
    fill(a, -1, 1.5, &rng);
    fill(b, -1, 1.5, &rng);
    measure(a, sa);
    measure(b, sb);
    CHECK_MSG(rec_pic_still_share(sb, sa) < 0.5, "still %.3f", rec_pic_still_share(sb, sa));
    CHECK_EQ_INT(rec_pic_verdict(sb, sa), REC_PIC_OK);
    /* The same picture again (the camera repeats its keyframe): frozen. */
    memcpy(b, a, W * H);
    measure(b, sb);
    CHECK(rec_pic_still_share(sb, sa) == 1.0);
    CHECK_EQ_INT(rec_pic_verdict(sb, sa), REC_PIC_FROZEN);
    CHECK_EQ_INT(rec_pic_verdict(sb, NULL), REC_PIC_OK); /* nothing to compare with yet */
    /* Re-encoded at another quantiser: one level off at one point in twenty. Frozen. */
    for (int i = 0; i < W * H; i++)
        if (fx_rand(&rng) % 20 == 0)
            b[i] = clamp8(a[i] + (fx_rand(&rng) % 2 ? 1 : -1));
    measure(b, sb);
    CHECK_EQ_INT(rec_pic_verdict(sb, sa), REC_PIC_FROZEN);
    /* A clock burned in at the top left (200 x 30) changes: still frozen. */
    memcpy(b, a, W * H);
    for (int y = 10; y < 40; y++)
        for (int x = 10; x < 210; x++)
            b[y * W + x] = (x / 3 + y) % 2 ? 235 : 16;
    measure(b, sb);
    CHECK_MSG(rec_pic_verdict(sb, sa) == REC_PIC_FROZEN, "still %.3f",
              rec_pic_still_share(sb, sa));
    /* Something moving over a tenth of the picture, the rest identical: ok. */
    memcpy(b, a, W * H);
    for (int y = 120; y < 240; y++)
        for (int x = 200; x < 392; x++)
            b[y * W + x] = clamp8(a[y * W + x] + 40);
    measure(b, sb);
    CHECK_EQ_INT(rec_pic_verdict(sb, sa), REC_PIC_OK);
    /* A black frozen picture is black. */
    fill(a, 16, 0, &rng);
    measure(a, sa);
    CHECK_EQ_INT(rec_pic_verdict(sa, sa), REC_PIC_BLACK);
out:
    free(sb);
    free(sa);
    free(b);
    free(a);
}

void test_picture_measure(void)
{
    uint16_t *p10 = malloc(W * H * 2);
    uint8_t *p8 = malloc(W * H);
    struct rec_pic_sample *s = malloc(sizeof(*s));

    if (!p10 || !p8 || !s)
        goto out;
    /* 10-bit samples (HEVC Main 10), little-endian: 64 is black, 940 white; as 8-bit 16, 235 */
    for (int i = 0; i < W * H; i++)
        p10[i] = i % W < W / 2 ? 64 : 940;
    CHECK_EQ_INT(rec_pic_measure((const uint8_t *)p10, W, H, W * 2, 2, 10, s), 0);
    CHECK_EQ_INT(s->gw, REC_PIC_GRID_W);
    CHECK_EQ_INT(s->gh, REC_PIC_GRID_H);
    CHECK_MSG(fabs(s->mean - (16 + 235) / 2.0) < 0.6, "mean %.2f", s->mean);
    CHECK_MSG(fabs(s->stddev - (235 - 16) / 2.0) < 0.6, "stddev %.2f", s->stddev);
    /* a picture smaller than the grid: every pixel is a point */
    memset(p8, 50, W * H);
    CHECK_EQ_INT(rec_pic_measure(p8, 64, 48, 64, 1, 8, s), 0);
    CHECK_EQ_INT(s->gw, 64);
    CHECK_EQ_INT(s->gh, 48);
    CHECK(s->mean == 50 && s->stddev == 0);
    /* refused: too small, a bad sample size */
    CHECK_EQ_INT(rec_pic_measure(p8, 8, 8, 8, 1, 8, s), CV_EINVAL);
    CHECK_EQ_INT(rec_pic_measure(p8, W, H, W, 3, 8, s), CV_EINVAL);
    CHECK_EQ_INT(rec_pic_measure(p8, W, H, W, 1, 10, s), CV_EINVAL);
    /* grids of different sizes never compare as still */
    {
        struct rec_pic_sample *t = malloc(sizeof(*t));
        if (t && rec_pic_measure(p8, W, H, W, 1, 8, t) == 0)
            CHECK(rec_pic_still_share(s, t) == 0);
        free(t);
    }
    CHECK_EQ_STR(rec_pic_state_name(REC_PIC_FROZEN), "frozen");
    CHECK_EQ_STR(rec_pic_state_name(REC_PIC_UNKNOWN), "unknown");
out:
    free(s);
    free(p8);
    free(p10);
}

/* Feed the track a sample of level `lvl` (< 40: black; -1: the textured scene, noise `sd`). */
static bool feed(struct rec_pic_track *t, uint8_t *p, int lvl, double sd, int64_t now,
                 uint64_t *rng, enum rec_pic_state *old)
{
    struct rec_pic_sample *s = malloc(sizeof(*s));
    bool changed = false;

    if (!s)
        return false;
    fill(p, lvl, sd, rng);
    measure(p, s);
    changed = rec_pic_track_feed(t, s, now, old);
    free(s);
    return changed;
}

void test_picture_hysteresis(void)
{
    struct rec_pic_track *t = malloc(sizeof(*t));
    uint8_t *p = malloc(W * H);
    enum rec_pic_state old = REC_PIC_OK;
    uint64_t rng = 99;

    if (!t || !p)
        goto out;
    rec_pic_track_reset(t, 1000);
    CHECK_EQ_INT(t->state, REC_PIC_UNKNOWN);
    CHECK_EQ_INT(t->since_us, 1000);
    /* the first look decides at once */
    CHECK(feed(t, p, -1, 2, 2000, &rng, &old));
    CHECK_EQ_INT(old, REC_PIC_UNKNOWN);
    CHECK_EQ_INT(t->state, REC_PIC_OK);
    CHECK_EQ_INT(t->since_us, 2000);
    /* one black sample is not enough; a live one in between starts the count again */
    CHECK(!feed(t, p, 16, 1, 3000, &rng, &old));
    CHECK(!feed(t, p, -1, 2, 4000, &rng, &old));
    CHECK(!feed(t, p, 16, 1, 5000, &rng, &old));
    CHECK_EQ_INT(t->state, REC_PIC_OK);
    CHECK(feed(t, p, 16, 1, 6000, &rng, &old));
    CHECK_EQ_INT(old, REC_PIC_OK);
    CHECK_EQ_INT(t->state, REC_PIC_BLACK);
    CHECK_EQ_INT(t->since_us, 6000);
    /* back: two live samples clear it */
    CHECK(!feed(t, p, -1, 2, 7000, &rng, &old));
    CHECK(feed(t, p, -1, 2, 8000, &rng, &old));
    CHECK_EQ_INT(old, REC_PIC_BLACK);
    CHECK_EQ_INT(t->state, REC_PIC_OK);
    /* frozen: the same picture three times (the first compares with a live one) */
    CHECK(!feed(t, p, -1, 0, 9000, &rng, &old));
    CHECK(!feed(t, p, -1, 0, 10000, &rng, &old));
    CHECK(feed(t, p, -1, 0, 11000, &rng, &old));
    CHECK_EQ_INT(t->state, REC_PIC_FROZEN);
    CHECK(!feed(t, p, -1, 0, 12000, &rng, &old)); /* staying frozen is no change */
    CHECK_EQ_INT(t->since_us, 11000);
    /* the stream ends: unknown, and the next look decides at once */
    rec_pic_track_reset(t, 13000);
    CHECK_EQ_INT(t->state, REC_PIC_UNKNOWN);
    CHECK(feed(t, p, 16, 1, 14000, &rng, &old));
    CHECK_EQ_INT(t->state, REC_PIC_BLACK);
out:
    free(p);
    free(t);
}

/* ---- the worker, end to end: keyframes encoded here (MJPEG: FFmpeg's own intra encoder; the
 * worker decodes whatever codec par names) are offered as a camera thread does ---- */

#define EW 160
#define EH 96

/* Encode a picture of level `lvl` (-1: the scene) with noise sd into *pkt; par describes it. */
static int encode(AVCodecContext *enc, AVFrame *f, int lvl, double sd, uint64_t *rng,
                  AVPacket *pkt)
{
    for (int y = 0; y < EH; y++)
        for (int x = 0; x < EW; x++)
            f->data[0][y * f->linesize[0] + x] =
                clamp8((lvl < 0 ? scene(x * 4, y * 4) : lvl) + noise(rng, sd));
    for (int p = 1; p < 3; p++)
        for (int y = 0; y < EH / 2; y++)
            memset(f->data[p] + y * f->linesize[p], 128, EW / 2);
    f->pts++;
    if (avcodec_send_frame(enc, f) < 0 || avcodec_receive_packet(enc, pkt) < 0)
        return -1;
    pkt->flags |= AV_PKT_FLAG_KEY;
    return 0;
}

/* Offer a packet from `pkts` (in turn) every 2 ms until the slot's state is want; 15 s at most
 * (a bound for a loaded machine, not a speed assertion). */
static bool offer_until(struct rec_pic_cam *c, AVPacket **pkts, int n,
                        const AVCodecParameters *par, enum rec_pic_state want)
{
    int64_t since;

    for (int i = 0; i < 7500; i++) {
        if (rec_pic_cam_state(c, &since) == want)
            return true;
        rec_pic_cam_offer(c, pkts[i % n], par, true);
        struct timespec d = {0, 2 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    return rec_pic_cam_state(c, &since) == want;
}

void test_picture_worker(void)
{
    const AVCodec *mj = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *enc = mj ? avcodec_alloc_context3(mj) : NULL;
    AVCodecParameters *par = avcodec_parameters_alloc();
    AVFrame *f = av_frame_alloc();
    AVPacket *black = av_packet_alloc(), *live[2] = {av_packet_alloc(), av_packet_alloc()};
    AVPacket *garbage = av_packet_alloc();
    struct rec_pic *p = NULL;
    struct rec_pic_cam *c = NULL, *idle = NULL;
    struct cv_err err = {""};
    uint64_t rng = 5;
    int64_t since = -1;

    if (!enc || !par || !f || !black || !live[0] || !live[1] || !garbage) {
        CHECK_MSG(0, "setup: no MJPEG encoder or out of memory");
        goto out;
    }
    enc->width = EW;
    enc->height = EH;
    enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
    enc->time_base = (AVRational){1, 25};
    f->format = enc->pix_fmt;
    f->width = EW;
    f->height = EH;
    if (avcodec_open2(enc, mj, NULL) < 0 || av_frame_get_buffer(f, 0) < 0 ||
        avcodec_parameters_from_context(par, enc) < 0 ||
        encode(enc, f, 16, 1, &rng, black) < 0 || encode(enc, f, -1, 3, &rng, live[0]) < 0 ||
        encode(enc, f, -1, 3, &rng, live[1]) < 0 || av_packet_ref(garbage, live[0]) < 0) {
        CHECK_MSG(0, "setup: cannot encode the test pictures");
        goto out;
    }
    CHECK_OK(rec_pic_open(&p, 1000, &err), &err);
    if (!p)
        goto out;
    c = rec_pic_cam_new(p, "t1");
    idle = rec_pic_cam_new(p, "t2"); /* never offered anything: unknown, and freed after close */
    CHECK(c && idle);
    CHECK_EQ_INT(rec_pic_cam_state(c, &since), REC_PIC_UNKNOWN);
    CHECK(since > 0);
    CHECK_MSG(offer_until(c, &black, 1, par, REC_PIC_BLACK), "black never seen");
    CHECK_MSG(offer_until(c, live, 2, par, REC_PIC_OK), "live never seen");
    CHECK_MSG(offer_until(c, live, 1, par, REC_PIC_FROZEN), "frozen never seen");
    /* keyframes that do not decode (cut short): no verdict stands, unknown */
    garbage->size = 40;
    CHECK_MSG(offer_until(c, &garbage, 1, par, REC_PIC_UNKNOWN), "a stale verdict stood");
    garbage->size = live[0]->size;
    CHECK_MSG(offer_until(c, live, 2, par, REC_PIC_OK), "ok never seen after the garbage");
    rec_pic_cam_stop(c); /* the stream ended */
    CHECK_EQ_INT(rec_pic_cam_state(c, &since), REC_PIC_UNKNOWN);
    CHECK_EQ_INT(rec_pic_cam_state(idle, &since), REC_PIC_UNKNOWN);
    rec_pic_cam_offer(c, black, par, true); /* queued, and the slot freed with it queued */
    rec_pic_cam_free(c);
    rec_pic_cam_free(idle);
    CHECK_EQ_INT(rec_pic_cam_state(NULL, &since), REC_PIC_UNKNOWN);
    CHECK_EQ_INT(since, 0);
out:
    rec_pic_close(p);
    av_packet_free(&garbage);
    av_packet_free(&live[1]);
    av_packet_free(&live[0]);
    av_packet_free(&black);
    av_frame_free(&f);
    avcodec_parameters_free(&par);
    avcodec_free_context(&enc);
}

void test_picture_worker_off(void)
{
    struct rec_pic *p = NULL;
    struct rec_pic_cam *c;
    struct cv_err err = {""};
    AVPacket *pkt = av_packet_alloc();
    AVCodecParameters *par = avcodec_parameters_alloc();
    int64_t since;

    CHECK_OK(rec_pic_open(&p, 0, &err), &err); /* picture_check_s = 0: no thread, no looks */
    c = rec_pic_cam_new(p, "t");
    CHECK(c != NULL);
    if (pkt && par && av_new_packet(pkt, 16) == 0) {
        par->codec_id = AV_CODEC_ID_H264;
        rec_pic_cam_offer(c, pkt, par, true);
    }
    CHECK_EQ_INT(rec_pic_cam_state(c, &since), REC_PIC_UNKNOWN);
    rec_pic_cam_free(c);
    rec_pic_close(p);
    rec_pic_close(NULL);
    rec_pic_cam_free(NULL);
    av_packet_free(&pkt);
    avcodec_parameters_free(&par);
}

/* The budget (picture.h): the interval stays every_us while a camera's looks fit its share of
 * one core, and grows with the look's cost, and with the cameras past REC_PIC_CPU_ALL's part. */
void test_picture_budget(void)
{
    static const struct {
        int64_t every, cost;
        int ncams;
        int64_t want;
    } cases[] = {
        {5000000, 0, 50, 5000000},       /* no look timed yet */
        {5000000, 1000, 50, 5000000},    /* 1 ms every 5 s: 0.02 %, within 0.04 % */
        {5000000, 2000, 50, 5000000},    /* exactly 0.04 % */
        {5000000, 4500, 50, 11250000},   /* camsim's 1080p keyframe: 0.04 % takes 11.25 s */
        {5000000, 4500, 1, 11250000},    /* the camera's own share binds alone */
        {5000000, 4500, 250, 11250000},  /* 250 x 0.04 % = the 10 % of all cameras */
        {5000000, 4500, 300, 13500000},  /* past it: 0.033 % each; */
        {5000000, 4500, 500, 15000000},  /* 0.02 % would be 22.5 s: at most 15 s apart */
        {5000000, 17000, 50, 15000000},  /* a large keyframe: 42.5 s at 0.04 %, 15 s */
        {1000000, 100, 4, 1000000},      /* small pictures at picture_check_s 1 */
        {1000, 100, 1, 250000},          /* the unit tests' worker: 100 us at 0.04 % */
        {5000000, 4500, 0, 11250000},    /* no camera counted yet: as one */
    };

    for (size_t i = 0; i < NELEM(cases); i++)
        CHECK_MSG(rec_pic_interval(cases[i].every, cases[i].cost, cases[i].ncams) ==
                      cases[i].want,
                  "case %zu: %" PRId64 " us", i,
                  rec_pic_interval(cases[i].every, cases[i].cost, cases[i].ncams));
}

/* ---- cameras of different parameters through the worker's kept decoders ---- */

#define NCAMS 6

/* One camera's stream: MPEG-4 part 2 with its header only in the extradata (a global header),
 * so a keyframe decodes only with this camera's parameters; a size of its own. */
struct cam_stream {
    AVCodecContext *enc;
    AVCodecParameters *par;
    AVFrame *f;
    AVPacket *pic[2]; /* black or two live pictures */
};

static int cam_stream_open(struct cam_stream *cs, int w, int h, bool black, uint64_t *rng)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);

    if (!codec || !(cs->enc = avcodec_alloc_context3(codec)) ||
        !(cs->par = avcodec_parameters_alloc()) || !(cs->f = av_frame_alloc()) ||
        !(cs->pic[0] = av_packet_alloc()) || !(cs->pic[1] = av_packet_alloc()))
        return -1;
    cs->enc->width = w;
    cs->enc->height = h;
    cs->enc->pix_fmt = AV_PIX_FMT_YUV420P;
    cs->enc->time_base = (AVRational){1, 25};
    cs->enc->gop_size = 1;
    cs->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER | AV_CODEC_FLAG_QSCALE; /* fine: noise kept */
    cs->enc->global_quality = FF_QP2LAMBDA * 2;
    cs->f->format = AV_PIX_FMT_YUV420P;
    cs->f->width = w;
    cs->f->height = h;
    if (avcodec_open2(cs->enc, codec, NULL) < 0 || av_frame_get_buffer(cs->f, 0) < 0 ||
        avcodec_parameters_from_context(cs->par, cs->enc) < 0 || cs->par->extradata_size <= 0)
        return -1;
    for (int k = 0; k < 2; k++) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                cs->f->data[0][y * cs->f->linesize[0] + x] =
                    clamp8((black ? 16 : scene(x * W / w, y * H / h)) + noise(rng, 3));
        for (int p = 1; p < 3; p++)
            for (int y = 0; y < h / 2; y++)
                memset(cs->f->data[p] + y * cs->f->linesize[p], 128, (size_t)w / 2);
        cs->f->pts = k;
        cs->f->quality = cs->enc->global_quality;
        if (avcodec_send_frame(cs->enc, cs->f) < 0 ||
            avcodec_receive_packet(cs->enc, cs->pic[k]) < 0)
            return -1;
        cs->pic[k]->flags |= AV_PKT_FLAG_KEY;
    }
    return 0;
}

static void cam_stream_close(struct cam_stream *cs)
{
    av_packet_free(&cs->pic[1]);
    av_packet_free(&cs->pic[0]);
    av_frame_free(&cs->f);
    avcodec_parameters_free(&cs->par);
    avcodec_free_context(&cs->enc);
}

/* Offer each camera's pictures in turn (frozen: always its first) every 2 ms until each camera
 * says want[i]; 20 s at most (a bound for a loaded machine, not a speed assertion). */
static bool offer_all_until(struct rec_pic_cam **c, struct cam_stream *cs, bool frozen,
                            const enum rec_pic_state *want)
{
    int64_t since;

    for (int i = 0; i < 10000; i++) {
        int done = 0;
        for (int k = 0; k < NCAMS; k++) {
            if (rec_pic_cam_state(c[k], &since) == want[k])
                done++;
            rec_pic_cam_offer(c[k], cs[k].pic[frozen ? 0 : i % 2], cs[k].par, true);
        }
        if (done == NCAMS)
            return true;
        struct timespec d = {0, 2 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    return false;
}

/* Six cameras in one worker, every other one black: m0 and m1 of the same size (the same
 * parameters: one kept decoder for both, one black and one live), m2..m5 of four more sizes
 * (five sets, more than the worker keeps decoders for). Each camera's keyframes decode with its
 * own parameters (a keyframe decoded with another camera's header fails or gives another
 * picture), and each says its own state: black, ok, then frozen. */
void test_picture_worker_cameras(void)
{
    struct cam_stream cs[NCAMS] = {0};
    struct rec_pic_cam *c[NCAMS] = {0};
    enum rec_pic_state want[NCAMS];
    struct rec_pic *p = NULL;
    struct cv_err err = {""};
    uint64_t rng = 11;
    char id[16];

    for (int k = 0; k < NCAMS; k++) { /* m0 and m1 of the same size: the same parameters */
        int size = k == 0 ? 0 : k - 1;
        if (cam_stream_open(&cs[k], 160 + 16 * size, 96 + 16 * size, k % 2 == 0, &rng) < 0) {
            CHECK_MSG(0, "setup: cannot encode the test pictures (MPEG-4 encoder)");
            goto out;
        }
    }
    CHECK_OK(rec_pic_open(&p, 1000, &err), &err);
    if (!p)
        goto out;
    for (int k = 0; k < NCAMS; k++) {
        snprintf(id, sizeof(id), "m%d", k);
        c[k] = rec_pic_cam_new(p, id);
        CHECK(c[k] != NULL);
        want[k] = k % 2 == 0 ? REC_PIC_BLACK : REC_PIC_OK;
    }
    CHECK_MSG(offer_all_until(c, cs, false, want), "not every camera said its own state");
    for (int k = 1; k < NCAMS; k += 2)
        want[k] = REC_PIC_FROZEN;
    CHECK_MSG(offer_all_until(c, cs, true, want), "the live cameras never froze");
out:
    for (int k = 0; k < NCAMS; k++)
        rec_pic_cam_free(c[k]);
    rec_pic_close(p);
    for (int k = 0; k < NCAMS; k++)
        cam_stream_close(&cs[k]);
}

/* Six cameras' keyframes (the streams of test_picture_worker_cameras: five sets of parameters,
 * more than are kept) decoded in turn, three rounds, through one set of kept decoders: each
 * sample is the one a decoder opened for that keyframe alone gives, point for point. */
void test_picture_decoders(void)
{
    struct cam_stream cs[NCAMS] = {0};
    struct rec_pic_sample *want = calloc(NCAMS * 2, sizeof(*want)), *got = malloc(sizeof(*got));
    struct rec_pic_dec *kept = rec_pic_dec_new();
    struct cv_err err = {""};
    uint64_t rng = 11;

    if (!want || !got || !kept) {
        CHECK_MSG(0, "setup: out of memory");
        goto out;
    }
    for (int k = 0; k < NCAMS; k++) {
        int size = k == 0 ? 0 : k - 1;
        if (cam_stream_open(&cs[k], 160 + 16 * size, 96 + 16 * size, k % 2 == 0, &rng) < 0) {
            CHECK_MSG(0, "setup: cannot encode the test pictures (MPEG-4 encoder)");
            goto out;
        }
        for (int j = 0; j < 2; j++) {
            struct rec_pic_dec *fresh = rec_pic_dec_new();
            AVPacket *pkt = av_packet_clone(cs[k].pic[j]);
            CHECK(fresh && pkt);
            if (fresh && pkt)
                CHECK_OK(rec_pic_dec_sample(fresh, cs[k].par, pkt, true, 1, &want[2 * k + j],
                                            &err),
                         &err);
            av_packet_free(&pkt);
            rec_pic_dec_free(fresh);
        }
    }
    for (int round = 0; round < 3 && unit_failures() == 0; round++)
        for (int k = 0; k < NCAMS; k++)
            for (int j = 0; j < 2; j++) {
                const struct rec_pic_sample *w = &want[2 * k + j];
                AVPacket *pkt = av_packet_clone(cs[k].pic[j]);
                int rc = pkt ? rec_pic_dec_sample(kept, cs[k].par, pkt, true, 1 + (uint64_t)k,
                                                  got, &err)
                             : CV_ENOMEM;
                av_packet_free(&pkt);
                CHECK_MSG(rc == 0 && got->gw == w->gw && got->gh == w->gh &&
                              memcmp(got->luma, w->luma, (size_t)(w->gw * w->gh)) == 0,
                          "round %d camera m%d picture %d: rc %d (%s), mean %.2f, alone %.2f",
                          round, k, j, rc, err.msg, got->mean, w->mean);
            }
out:
    rec_pic_dec_free(kept);
    for (int k = 0; k < NCAMS; k++)
        cam_stream_close(&cs[k]);
    free(got);
    free(want);
}
