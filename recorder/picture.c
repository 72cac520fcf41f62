/*
 * picture.c: picture health (picture.h): the detector on sampled luma points, its hysteresis,
 * and the one worker thread that decodes the keyframes the camera threads hand it, with
 * decoders it keeps open.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/pixdesc.h>

#include "recorder/picture.h"
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/log.h"
#include "common/thread.h"
#include "common/banned.h"

#define BLOCKS_X 16
#define BLOCKS_Y 9
#define ID_MAX 64
#define WORKER_NICE 10
#define DECODERS 4 /* decoders kept open by the worker, for as many sets of parameters */

const char *rec_pic_state_name(enum rec_pic_state s)
{
    switch (s) {
    case REC_PIC_OK:
        return "ok";
    case REC_PIC_BLACK:
        return "black";
    case REC_PIC_FROZEN:
        return "frozen";
    default:
        return "unknown";
    }
}

/* ---- the detector ---- */

int rec_pic_measure(const uint8_t *plane, int width, int height, int stride, int bytes, int depth,
                    struct rec_pic_sample *out)
{
    double sum = 0, sq = 0;
    int n;

    if (width < 16 || height < 16 || (bytes != 1 && bytes != 2) || depth < 8 || depth > 16 ||
        (bytes == 1 && depth != 8))
        return CV_EINVAL;
    out->gw = width < REC_PIC_GRID_W ? width : REC_PIC_GRID_W;
    out->gh = height < REC_PIC_GRID_H ? height : REC_PIC_GRID_H;
    for (int j = 0; j < out->gh; j++) {
        const uint8_t *row = plane + (size_t)((2 * j + 1) * height / (2 * out->gh)) * stride;
        for (int i = 0; i < out->gw; i++) {
            int x = (2 * i + 1) * width / (2 * out->gw);
            unsigned v = bytes == 1 ? row[x]
                                    : (unsigned)(row[2 * x] | row[2 * x + 1] << 8) >> (depth - 8);
            v = v > 255 ? 255 : v;
            out->luma[j * out->gw + i] = (uint8_t)v;
            sum += v;
            sq += (double)v * v;
        }
    }
    n = out->gw * out->gh;
    out->mean = sum / n;
    out->stddev = sqrt(fmax(0.0, sq / n - out->mean * out->mean));
    return 0;
}

double rec_pic_still_share(const struct rec_pic_sample *cur, const struct rec_pic_sample *prev)
{
    int still = 0;

    if (cur->gw != prev->gw || cur->gh != prev->gh)
        return 0;
    for (int by = 0; by < BLOCKS_Y; by++) {
        int y0 = by * cur->gh / BLOCKS_Y, y1 = (by + 1) * cur->gh / BLOCKS_Y;
        for (int bx = 0; bx < BLOCKS_X; bx++) {
            int x0 = bx * cur->gw / BLOCKS_X, x1 = (bx + 1) * cur->gw / BLOCKS_X;
            long sad = 0;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                    sad += labs((long)cur->luma[y * cur->gw + x] - prev->luma[y * cur->gw + x]);
            if ((double)sad < REC_PIC_STILL_MAD * (double)((y1 - y0) * (x1 - x0)))
                still++;
        }
    }
    return (double)still / (BLOCKS_X * BLOCKS_Y);
}

enum rec_pic_state rec_pic_verdict(const struct rec_pic_sample *cur,
                                   const struct rec_pic_sample *prev)
{
    if (cur->mean < REC_PIC_BLACK_MEAN && cur->stddev < REC_PIC_BLACK_STDDEV)
        return REC_PIC_BLACK;
    if (prev && rec_pic_still_share(cur, prev) >= REC_PIC_FROZEN_SHARE)
        return REC_PIC_FROZEN;
    return REC_PIC_OK;
}

void rec_pic_track_reset(struct rec_pic_track *t, int64_t now_us)
{
    t->state = t->cand = REC_PIC_UNKNOWN;
    t->ncand = 0;
    t->since_us = now_us;
    t->have_prev = false;
}

bool rec_pic_track_feed(struct rec_pic_track *t, const struct rec_pic_sample *s, int64_t now_us,
                        enum rec_pic_state *old)
{
    enum rec_pic_state v = rec_pic_verdict(s, t->have_prev ? &t->prev : NULL);

    t->prev = *s;
    t->have_prev = true;
    if (v == t->state) {
        t->cand = v;
        t->ncand = 0;
        return false;
    }
    if (v == t->cand) {
        t->ncand++;
    } else {
        t->cand = v;
        t->ncand = 1;
    }
    /* The first look decides at once: "unknown" is no state to hold on to. */
    if (t->state != REC_PIC_UNKNOWN && t->ncand < REC_PIC_REPEAT)
        return false;
    *old = t->state;
    t->state = v;
    t->ncand = 0;
    t->since_us = now_us;
    return true;
}

/* ---- the worker ---- */

struct rec_pic {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool started, stop;
    int64_t every_us;
    uint64_t serials;         /* slots made, under lock */
    int nlive;                /* slots with a stream (offered since made or stopped), under lock */
    uint64_t looks;           /* keyframes decoded (or tried), under lock */
    int64_t looks_cpu_us;     /* the worker's CPU time for them, under lock */
    struct rec_pic_cam *head; /* the slots, under lock */
};

struct rec_pic_cam {
    struct rec_pic *p;
    struct rec_pic_cam *next;
    char id[ID_MAX];
    uint64_t serial; /* 1, 2, ...: which slot a kept decoder served last */
    /* mono µs: no look before (the camera's thread; the worker sets 0 for a look at once) */
    _Atomic int64_t next_due;
    /* under p->lock */
    int64_t cost_us; /* the worker's CPU time for one of this camera's looks (moving average) */
    bool live;       /* counted in p->nlive */
    AVPacket *job;
    AVCodecParameters *par;
    bool annexb; /* the job's NAL units follow start codes, else 4-byte lengths */
    bool queued, busy, dead;
    uint64_t epoch; /* a decode begun before the last stop is not counted */
    uint32_t failures, failed_in_row;
    struct rec_pic_track track;
};

/*
 * The own RTSP client gives H.265 parameter sets in Annex B form with length-prefixed packets
 * (recorder/rtp.h): a decoder reads packets the way it reads the parameter sets, so such a
 * packet's 4-byte lengths become start codes (the same size), in place (pkt made writable).
 */
static int to_annexb(AVPacket *pkt, struct cv_err *err)
{
    size_t off = 0, n = (size_t)pkt->size;

    if (av_packet_make_writable(pkt) < 0)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    while (off + 4 <= n) {
        size_t len = (size_t)pkt->data[off] << 24 | (size_t)pkt->data[off + 1] << 16 |
                     (size_t)pkt->data[off + 2] << 8 | pkt->data[off + 3];
        if (len == 0 || len > n - off - 4)
            return cv_errf(err, CV_EMEDIA, "a keyframe's NAL unit lengths are broken");
        pkt->data[off] = pkt->data[off + 1] = pkt->data[off + 2] = 0;
        pkt->data[off + 3] = 1;
        off += 4 + len;
    }
    return off == n ? 0 : cv_errf(err, CV_EMEDIA, "a keyframe's NAL unit lengths are broken");
}

/*
 * The worker's decoders, kept open between looks. Opening a decoder and its first 1080p picture
 * cost more than a third of a look (its frame pool and tables come from fresh memory, ~870 page
 * faults a look); a kept decoder is flushed after each keyframe and decodes the next one into
 * the buffers it already has. One decoder serves every camera whose parameters (codec, size,
 * pixel format, extradata) are the same, usually all cameras of one model and setting; up to
 * DECODERS different sets are kept, the least recently used one closed for a new set (more sets
 * than that in turn: a decoder opened per look, as before). One thread at a time (picture.h).
 */
struct dec {
    AVCodecContext *ctx; /* NULL: a free entry */
    enum AVCodecID codec;
    int width, height, format;
    uint8_t *extra; /* the extradata it was opened with */
    int nextra;
    uint64_t user; /* the slot (serial) whose keyframe it decoded last */
    uint64_t used; /* when it was used last, on the worker's clock of looks */
};

struct rec_pic_dec {
    struct dec d[DECODERS];
    uint64_t clock;
    AVFrame *f; /* holds no picture between decodes */
};

static void dec_release(struct dec *d)
{
    avcodec_free_context(&d->ctx);
    av_freep(&d->extra);
    d->nextra = 0;
}

struct rec_pic_dec *rec_pic_dec_new(void)
{
    struct rec_pic_dec *ds = calloc(1, sizeof(*ds));

    if (ds && !(ds->f = av_frame_alloc())) {
        free(ds);
        return NULL;
    }
    return ds;
}

void rec_pic_dec_free(struct rec_pic_dec *ds)
{
    if (!ds)
        return;
    for (int i = 0; i < DECODERS; i++)
        dec_release(&ds->d[i]);
    av_frame_free(&ds->f);
    free(ds);
}

static bool dec_fits(const struct dec *d, const AVCodecParameters *par)
{
    return d->ctx && d->codec == par->codec_id && d->width == par->width &&
           d->height == par->height && d->format == par->format &&
           d->nextra == par->extradata_size &&
           (d->nextra == 0 || memcmp(d->extra, par->extradata, (size_t)d->nextra) == 0);
}

/* The kept decoder for par, or a new one in place of a free or the least recently used entry.
 * 0, or an error with why in err. */
static int dec_get(struct rec_pic_dec *ds, const AVCodecParameters *par, struct dec **out,
                   struct cv_err *err)
{
    const AVCodec *codec;
    struct dec *d = &ds->d[0];
    int r;

    for (int i = 0; i < DECODERS; i++) {
        if (dec_fits(&ds->d[i], par)) {
            d = &ds->d[i];
            goto found;
        }
        if (!ds->d[i].ctx || (d->ctx && ds->d[i].used < d->used))
            d = &ds->d[i];
    }
    dec_release(d);
    if (!(codec = avcodec_find_decoder(par->codec_id)))
        return cv_errf(err, CV_EMEDIA, "no decoder for %s", avcodec_get_name(par->codec_id));
    if (!(d->ctx = avcodec_alloc_context3(codec)) ||
        (par->extradata_size > 0 && !(d->extra = av_memdup(par->extradata,
                                                            (size_t)par->extradata_size)))) {
        dec_release(d);
        return cv_errf(err, CV_ENOMEM, "out of memory");
    }
    /* One keyframe, one thread, no loop filter: enough to see black or the same picture. */
    d->ctx->thread_count = 1;
    d->ctx->skip_loop_filter = AVDISCARD_ALL;
    d->ctx->flags2 |= AV_CODEC_FLAG2_FAST | AV_CODEC_FLAG2_SHOW_ALL; /* also a non-IDR keyframe */
    if ((r = avcodec_parameters_to_context(d->ctx, par)) < 0 ||
        (r = avcodec_open2(d->ctx, codec, NULL)) < 0) {
        dec_release(d);
        return cv_errf(err, CV_EMEDIA, "cannot open the %s decoder: %s", codec->name,
                       av_err2str(r));
    }
    d->codec = par->codec_id;
    d->width = par->width;
    d->height = par->height;
    d->format = par->format;
    d->nextra = par->extradata_size;
    d->user = 0;
found:
    d->used = ++ds->clock;
    *out = d;
    return 0;
}

/* With a kept decoder, flushed after the keyframe (closed after a failure: a broken keyframe
 * leaves nothing behind). */
int rec_pic_dec_sample(struct rec_pic_dec *ds, const AVCodecParameters *par, AVPacket *pkt,
                       bool annexb, uint64_t cam, struct rec_pic_sample *s, struct cv_err *err)
{
    AVFrame *f = ds->f;
    const AVPixFmtDescriptor *d;
    struct dec *dec = NULL;
    int r, rc;

    /* avcC or hvcC (version 1) tells the decoder about lengths; Annex B parameter sets do not */
    if (!annexb && !(par->extradata_size > 0 && par->extradata[0] == 1) &&
        (rc = to_annexb(pkt, err)) < 0)
        return rc;
    if ((rc = dec_get(ds, par, &dec, err)) < 0)
        return rc;
    /* Another camera's keyframe may have carried parameter sets of its own (H.264, H.265) with
     * the ids of this camera's: its extradata again, as a fresh decoder would have them. */
    if (dec->user != cam && par->extradata_size > 0) {
        uint8_t *x = av_packet_new_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA,
                                             (size_t)par->extradata_size);
        if (!x) {
            rc = cv_errf(err, CV_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(x, par->extradata, (size_t)par->extradata_size);
    }
    dec->user = cam;
    if ((r = avcodec_send_packet(dec->ctx, pkt)) < 0 ||
        (r = avcodec_send_packet(dec->ctx, NULL)) < 0 ||
        (r = avcodec_receive_frame(dec->ctx, f)) < 0) {
        rc = cv_errf(err, CV_EMEDIA, "cannot decode a keyframe: %s", av_err2str(r));
        goto out;
    }
    d = av_pix_fmt_desc_get((enum AVPixelFormat)f->format);
    if (!d || (d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_BE)) || d->comp[0].plane != 0 ||
        d->comp[0].shift != 0 ||
        rec_pic_measure(f->data[0], f->width, f->height, f->linesize[0], d->comp[0].step,
                        d->comp[0].depth, s) < 0) {
        rc = cv_errf(err, CV_EMEDIA, "cannot read the luma of a %dx%d %s picture", f->width,
                     f->height, d ? d->name : "?");
        goto out;
    }
    rc = 0;
out:
    av_frame_unref(f);
    if (rc < 0)
        dec_release(dec);
    else
        avcodec_flush_buffers(dec->ctx); /* out of draining, ready for the next keyframe */
    return rc;
}

static void unlink_slot(struct rec_pic *p, struct rec_pic_cam *c)
{
    if (c->live)
        p->nlive--;
    for (struct rec_pic_cam **q = &p->head; *q; q = &(*q)->next)
        if (*q == c) {
            *q = c->next;
            break;
        }
    av_packet_free(&c->job);
    avcodec_parameters_free(&c->par);
    free(c);
}

/* The next slot with a keyframe queued, after `after` in the list (round robin); NULL: none. */
static struct rec_pic_cam *next_job(struct rec_pic *p, const struct rec_pic_cam *after)
{
    struct rec_pic_cam *start = after ? after->next : NULL;

    for (struct rec_pic_cam *c = start; c; c = c->next)
        if (c->queued && !c->dead)
            return c;
    for (struct rec_pic_cam *c = p->head; c && c != start; c = c->next)
        if (c->queued && !c->dead)
            return c;
    return NULL;
}

/* A slot that was just looked at. Under p->lock. */
static void slot_result(struct rec_pic_cam *c, int rc, const struct rec_pic_sample *s,
                        const struct cv_err *err)
{
    enum rec_pic_state old;

    if (rc < 0) {
        c->failures++;
        if ((c->failures & (c->failures - 1)) == 0) /* 1, 2, 4, ...: not a flood */
            cv_warn("camera '%s': picture check: %s (%u so far)", c->id, err->msg, c->failures);
        /* No picture to judge is no judgement: an old verdict must not stand for long. */
        if (++c->failed_in_row >= REC_PIC_REPEAT && c->track.state != REC_PIC_UNKNOWN) {
            cv_info("camera '%s': picture %s -> unknown (its keyframes do not decode)", c->id,
                    rec_pic_state_name(c->track.state));
            rec_pic_track_reset(&c->track, cv_now_us());
        } else if (c->track.state != REC_PIC_UNKNOWN) {
            atomic_store(&c->next_due, 0); /* the next keyframe says whether it stands */
        }
        return;
    }
    c->failed_in_row = 0;
    if (rec_pic_track_feed(&c->track, s, cv_now_us(), &old))
        cv_info("camera '%s': picture %s -> %s (mean luma %.1f, deviation %.1f)", c->id,
                rec_pic_state_name(old), rec_pic_state_name(c->track.state), s->mean,
                s->stddev);
    /* A new verdict waits for its repeat: the next keyframe confirms or drops it, instead of
     * the next look on the camera's interval (picture.h, detection). */
    if (c->track.ncand > 0)
        atomic_store(&c->next_due, 0);
}

/* The worker thread's CPU time so far, µs. */
static int64_t thread_cpu_us(void)
{
    struct timespec t;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0)
        return 0;
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int64_t rec_pic_interval(int64_t every_us, int64_t cost_us, int ncams)
{
    double share = fmin(REC_PIC_CPU_CAMERA, REC_PIC_CPU_ALL / (ncams > 0 ? ncams : 1));
    double us = (double)cost_us / share;

    if (us <= (double)every_us)
        return every_us;
    return us < (double)REC_PIC_INTERVAL_MAX ? (int64_t)llround(us)
                                             : (every_us > REC_PIC_INTERVAL_MAX ? every_us
                                                                                : REC_PIC_INTERVAL_MAX);
}

static void *worker_main(void *arg)
{
    struct rec_pic *p = arg;
    struct rec_pic_sample *s = malloc(sizeof(*s));
    AVPacket *pkt = av_packet_alloc();
    AVCodecParameters *par = avcodec_parameters_alloc();
    struct rec_pic_dec *ds = rec_pic_dec_new();
    struct rec_pic_cam *c = NULL;

    /* Below the camera threads: a look at a picture can wait, a write cannot. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE);
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        struct cv_err err = {""};
        AVCodecParameters *tmp;
        uint64_t epoch, serial;
        int64_t cpu;
        bool annexb;
        int rc;

        c = next_job(p, c);
        if (!c) {
            pthread_cond_wait(&p->cond, &p->lock);
            continue;
        }
        av_packet_move_ref(pkt, c->job);
        tmp = par;
        par = c->par;
        c->par = tmp;
        annexb = c->annexb;
        c->queued = false;
        c->busy = true;
        epoch = c->epoch;
        serial = c->serial;
        pthread_mutex_unlock(&p->lock);
        cpu = thread_cpu_us();
        rc = !s || !par || !ds ? cv_errf(&err, CV_ENOMEM, "out of memory")
                               : rec_pic_dec_sample(ds, par, pkt, annexb, serial, s, &err);
        av_packet_unref(pkt);
        cpu = thread_cpu_us() - cpu;
        pthread_mutex_lock(&p->lock);
        c->busy = false;
        c->cost_us = c->cost_us ? c->cost_us + (cpu - c->cost_us) / 4 : (cpu > 0 ? cpu : 1);
        p->looks++;
        p->looks_cpu_us += cpu;
        if (c->dead) {
            unlink_slot(p, c);
            c = NULL;
            continue;
        }
        if (epoch == c->epoch)
            slot_result(c, rc, s, &err);
    }
    pthread_mutex_unlock(&p->lock);
    rec_pic_dec_free(ds);
    avcodec_parameters_free(&par);
    av_packet_free(&pkt);
    free(s);
    return NULL;
}

int rec_pic_open(struct rec_pic **out, int64_t every_us, struct cv_err *err)
{
    struct rec_pic *p = calloc(1, sizeof(*p));
    int r;

    *out = NULL;
    if (!p)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    p->every_us = every_us;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (every_us > 0) {
        r = pthread_create(&p->thread, NULL, worker_main, p);
        if (r) {
            rec_pic_close(p);
            return cv_errf(err, CV_ENOMEM, "cannot start the picture check thread: %s",
                           strerror(r));
        }
        pthread_setname_np(p->thread, "cv-picture"); /* top -H, the benchmark */
        p->started = true;
    }
    *out = p;
    return 0;
}

void rec_pic_close(struct rec_pic *p)
{
    if (!p)
        return;
    if (p->started)
        cv_thread_stop(&p->lock, &p->cond, &p->stop, p->thread);
    if (p->looks > 0) /* what the checks cost (docs/performance.md) */
        cv_info("picture checks: %llu keyframes decoded, %.2f ms of CPU each on average",
                (unsigned long long)p->looks, (double)p->looks_cpu_us / 1000.0 / (double)p->looks);
    while (p->head) /* slots a camera did not free (not the rule): do not leak them */
        unlink_slot(p, p->head);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

struct rec_pic_cam *rec_pic_cam_new(struct rec_pic *p, const char *id)
{
    struct rec_pic_cam *c;

    if (!p || !(c = calloc(1, sizeof(*c))))
        return NULL;
    c->p = p;
    cv_strlcpy(c->id, id, sizeof(c->id));
    c->job = av_packet_alloc();
    c->par = avcodec_parameters_alloc();
    if (!c->job || !c->par) {
        av_packet_free(&c->job);
        avcodec_parameters_free(&c->par);
        free(c);
        return NULL;
    }
    rec_pic_track_reset(&c->track, cv_now_us());
    pthread_mutex_lock(&p->lock);
    c->serial = ++p->serials;
    c->next = p->head;
    p->head = c;
    pthread_mutex_unlock(&p->lock);
    return c;
}

void rec_pic_cam_free(struct rec_pic_cam *c)
{
    struct rec_pic *p;

    if (!c)
        return;
    p = c->p;
    pthread_mutex_lock(&p->lock);
    if (c->busy)
        c->dead = true; /* the worker frees it when its decode is done */
    else
        unlink_slot(p, c);
    pthread_mutex_unlock(&p->lock);
}

void rec_pic_cam_offer(struct rec_pic_cam *c, const AVPacket *pkt, const AVCodecParameters *par,
                       bool annexb)
{
    int64_t now;

    if (!c || c->p->every_us <= 0 ||
        (now = cv_mono_us()) < atomic_load_explicit(&c->next_due, memory_order_relaxed))
        return;
    pthread_mutex_lock(&c->p->lock);
    if (!c->live) {
        c->live = true;
        c->p->nlive++;
    }
    if (!c->queued && av_packet_ref(c->job, pkt) == 0) {
        if (avcodec_parameters_copy(c->par, par) < 0) {
            av_packet_unref(c->job);
        } else {
            c->queued = true;
            c->annexb = annexb;
            atomic_store(&c->next_due,
                         now + rec_pic_interval(c->p->every_us, c->cost_us, c->p->nlive));
            pthread_cond_signal(&c->p->cond);
        }
    }
    pthread_mutex_unlock(&c->p->lock);
}

void rec_pic_cam_stop(struct rec_pic_cam *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->p->lock);
    if (c->queued)
        av_packet_unref(c->job);
    c->queued = false;
    c->epoch++;
    atomic_store(&c->next_due, 0);
    if (c->live) {
        c->live = false;
        c->p->nlive--;
    }
    if (c->track.state != REC_PIC_UNKNOWN)
        cv_info("camera '%s': picture %s -> unknown (no stream)", c->id,
                rec_pic_state_name(c->track.state));
    rec_pic_track_reset(&c->track, cv_now_us());
    pthread_mutex_unlock(&c->p->lock);
}

enum rec_pic_state rec_pic_cam_state(struct rec_pic_cam *c, int64_t *since_us)
{
    enum rec_pic_state s;

    if (!c) {
        *since_us = 0;
        return REC_PIC_UNKNOWN;
    }
    pthread_mutex_lock(&c->p->lock);
    s = c->track.state;
    *since_us = c->track.since_us;
    pthread_mutex_unlock(&c->p->lock);
    return s;
}
