/*
 * devstream.c: a GB/T 28181 device's live stream for the recorder (gb.h, gb_dev_*), on the
 * camera's thread: INVITE (section 9.2: recvonly, PS/90000, y= SSRC, RTP over UDP to a port
 * of ours), the ACK is the agent's (device.c, on the 200), RTP read from that port, its
 * payloads (PS, annex C) demuxed (psdemux.h) into access units, BYE at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libavutil/channel_layout.h>

#include "common/cvtime.h"
#include "common/log.h"
#include "gb/device_int.h"
#include "gb/psdemux.h"
#include "common/banned.h"

#define RTP_MAX 65536

struct gb_dev_stream {
    struct gb_agent *a;
    struct gb_dev_dialog dlg;
    int slot; /* in a->devs->dlg; -1 when not listed */
    int rtp;
    int64_t stall_us, last_rtp;
    bool (*stop)(void *);
    void *stop_ctx;
    struct gb_psd psd;
    bool have_seq;
    uint16_t seq;
    AVCodecParameters *par[2];
    struct gb_dev_media media;
    uint8_t atype;
    uint8_t asc[2];        /* AAC: the AudioSpecificConfig of the first ADTS header */
    int arate;             /* the audio's sample rate */
    struct gb_psd_frame aac; /* an AAC PES being handed out ADTS frame by frame */
    size_t aac_off;
    int64_t aac_t;           /* the next frame's time (arate) */
    int64_t base;          /* unwrapped pts of the first keyframe */
    uint64_t last_raw;     /* the last 33-bit time seen, for unwrapping */
    int64_t wrap;
    bool have_first;
    struct gb_psd_frame first; /* the first keyframe, delivered by the first read */
    uint8_t buf[RTP_MAX];
};

const struct gb_dev_media *gb_dev_media(const struct gb_dev_stream *s)
{
    return &s->media;
}

static bool stopping(struct gb_dev_stream *s)
{
    return s->stop && s->stop(s->stop_ctx);
}

/* A 33-bit PS time on a 64-bit line (wraps every 26.5 hours). */
static int64_t unwrap(struct gb_dev_stream *s, uint64_t raw)
{
    const int64_t period = INT64_C(1) << 33;

    if (s->last_raw && raw + (period >> 1) < s->last_raw)
        s->wrap += period;
    else if (s->last_raw && raw > s->last_raw + (period >> 1))
        s->wrap -= period;
    s->last_raw = raw;
    return (int64_t)raw + s->wrap;
}

/* Whether an Annex B access unit holds an IDR picture (H.264 5; H.265 16-21). */
static bool has_idr(const uint8_t *p, size_t n, bool hevc)
{
    for (size_t i = 0; i + 3 < n; i++)
        if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1) {
            int t = hevc ? p[i + 3] >> 1 & 0x3F : p[i + 3] & 0x1F;
            if ((!hevc && t == 5) || (hevc && t >= 16 && t <= 21))
                return true;
            i += 2;
        }
    return false;
}

/* The parameter sets of an Annex B keyframe (SPS/PPS; H.265 also VPS), with start codes. */
static int param_sets(const uint8_t *p, size_t n, bool hevc, struct cv_buf *out)
{
    size_t i = 0;

    while (i + 3 < n) {
        size_t s, e;
        int t;
        if (!(p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1)) {
            i++;
            continue;
        }
        s = i + 3;
        for (e = s; e + 2 < n && !(p[e] == 0 && p[e + 1] == 0 && (p[e + 2] == 1 ||
                                                                 p[e + 2] == 0)); e++)
            ;
        if (e + 2 >= n)
            e = n;
        t = hevc ? p[s] >> 1 & 0x3F : p[s] & 0x1F;
        if ((!hevc && (t == 7 || t == 8)) || (hevc && t >= 32 && t <= 34)) {
            cv_buf_be32(out, 1);
            cv_buf_put(out, p + s, e - s);
        }
        i = e;
    }
    return out->len > 0 && cv_buf_ok(out) ? 0 : -1;
}

static int video_params(struct gb_dev_stream *s, const struct gb_psd_frame *f, struct cv_err *err)
{
    bool hevc = f->type == 0x24;
    enum AVCodecID id = hevc ? AV_CODEC_ID_HEVC : AV_CODEC_ID_H264;
    AVCodecParserContext *pc = av_parser_init(id);
    AVCodecContext *avc = avcodec_alloc_context3(NULL);
    AVCodecParameters *p = s->par[0] = avcodec_parameters_alloc();
    uint8_t *data = NULL, *o = NULL;
    struct cv_buf ps;
    int on = 0, rc = 0;

    cv_buf_init(&ps, 8192);
    if (!pc || !avc || !p || !(data = av_mallocz(f->len + AV_INPUT_BUFFER_PADDING_SIZE))) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    if (param_sets(f->data, f->len, hevc, &ps) < 0) {
        rc = cv_errf(err, CV_EMEDIA, "GB device %s: the first keyframe has no parameter sets",
                     s->dlg.device);
        goto out;
    }
    memcpy(data, f->data, f->len);
    pc->flags |= PARSER_FLAG_COMPLETE_FRAMES;
    av_parser_parse2(pc, avc, &o, &on, data, (int)f->len, AV_NOPTS_VALUE, AV_NOPTS_VALUE, 0);
    if (pc->width <= 0 || pc->height <= 0 ||
        !(p->extradata = av_mallocz(ps.len + AV_INPUT_BUFFER_PADDING_SIZE))) {
        rc = cv_errf(err, CV_EMEDIA, "GB device %s: cannot read the picture size from the "
                     "stream's parameter sets", s->dlg.device);
        goto out;
    }
    memcpy(p->extradata, ps.data, ps.len);
    p->extradata_size = (int)ps.len;
    p->codec_type = AVMEDIA_TYPE_VIDEO;
    p->codec_id = id;
    p->width = pc->width;
    p->height = pc->height;
    s->media.par[0] = p;
    s->media.tb[0] = (AVRational){1, 90000};
    s->media.frame_dur = 90000 / 25;
out:
    av_free(data);
    cv_buf_release(&ps);
    av_parser_close(pc);
    avcodec_free_context(&avc);
    return rc;
}

static const int aac_rates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                  22050, 16000, 12000, 11025, 8000, 7350};

/* An ADTS header at p (n bytes): its header and frame lengths, or false. */
static bool adts(const uint8_t *p, size_t n, size_t *hl, size_t *fl)
{
    if (n < 7 || p[0] != 0xFF || (p[1] & 0xF6) != 0xF0)
        return false;
    *hl = p[1] & 1 ? 7 : 9;
    *fl = (size_t)(p[3] & 3) << 11 | (size_t)p[4] << 3 | p[5] >> 5;
    return *fl > *hl && *fl <= n && (p[2] >> 2 & 0xF) < 13;
}

/* AAC (0x0F): the AudioSpecificConfig from the first ADTS header seen before the keyframe. */
static void note_aac(struct gb_dev_stream *s, const struct gb_psd_frame *f)
{
    size_t hl, fl;

    if (f->video || f->type != 0x0F || s->arate || !adts(f->data, f->len, &hl, &fl))
        return;
    s->arate = aac_rates[f->data[2] >> 2 & 0xF];
    s->asc[0] = (uint8_t)(((f->data[2] >> 6) + 1) << 3 | (f->data[2] >> 3 & 7));
    s->asc[1] = (uint8_t)((f->data[2] >> 2 & 1) << 7 | ((f->data[2] & 1) << 2 |
                                                         f->data[3] >> 6) << 3);
}

/* The audio the PSM declares: G.711 and AAC (with a frame before the keyframe) kept; others
 * named in audio_skipped. */
static int audio_params(struct gb_dev_stream *s, struct cv_err *err)
{
    AVCodecParameters *p;
    bool aac;

    for (int id = 0xC0; id <= 0xDF && !s->atype; id++)
        s->atype = s->psd.type[id];
    aac = s->atype == 0x0F && s->arate;
    if (s->atype == 0x0F && !aac)
        snprintf(s->media.audio_skipped, sizeof(s->media.audio_skipped),
                 "AAC (no ADTS frame before the keyframe)");
    if (s->atype != 0x90 && s->atype != 0x91 && !aac) {
        s->atype = 0;
        return 0;
    }
    p = s->par[1] = avcodec_parameters_alloc();
    if (!p || (aac && !(p->extradata = av_mallocz(2 + AV_INPUT_BUFFER_PADDING_SIZE))))
        return cv_errf(err, CV_ENOMEM, "out of memory");
    p->codec_type = AVMEDIA_TYPE_AUDIO;
    if (aac) {
        memcpy(p->extradata, s->asc, 2);
        p->extradata_size = 2;
        p->codec_id = AV_CODEC_ID_AAC;
        p->frame_size = 1024;
        p->sample_rate = s->arate;
        av_channel_layout_default(&p->ch_layout, (s->asc[1] >> 3 & 0xF) ? s->asc[1] >> 3 & 0xF
                                                                         : 1);
    } else {
        p->codec_id = s->atype == 0x90 ? AV_CODEC_ID_PCM_ALAW : AV_CODEC_ID_PCM_MULAW;
        p->bits_per_coded_sample = 8;
        p->block_align = 1;
        p->sample_rate = s->arate = 8000;
        av_channel_layout_default(&p->ch_layout, 1);
    }
    s->media.par[1] = p;
    s->media.tb[1] = (AVRational){1, s->arate};
    return 0;
}

/* The next ADTS frame of the AAC PES in hand into pkt (without its header): 1, or 0 when
 * the PES is used up (or malformed: the rest is dropped). */
static int next_aac(struct gb_dev_stream *s, AVPacket *pkt, struct cv_err *err)
{
    size_t hl, fl;

    if (!s->aac.data || !adts(s->aac.data + s->aac_off, s->aac.len - s->aac_off, &hl, &fl)) {
        free(s->aac.data);
        s->aac.data = NULL;
        return 0;
    }
    if (av_new_packet(pkt, (int)(fl - hl)) < 0)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    memcpy(pkt->data, s->aac.data + s->aac_off + hl, fl - hl);
    pkt->stream_index = 1;
    pkt->pts = pkt->dts = s->aac_t;
    s->aac_t += 1024;
    s->aac_off += fl;
    return 1;
}

/* Wait for one RTP packet (up to 100 ms) and feed its payload to the demuxer. 0 (also when
 * none came), or CV_ENET when the dialog ended or the device went silent. */
static int pump(struct gb_dev_stream *s, struct cv_err *err)
{
    struct pollfd pfd = {s->rtp, POLLIN, 0};
    ssize_t n;
    size_t at;
    int state;

    pthread_mutex_lock(&s->a->devs->lock);
    state = s->dlg.state;
    if (state == GB_DLG_ENDED)
        cv_errf(err, CV_ENET, "%s", s->dlg.why);
    pthread_mutex_unlock(&s->a->devs->lock);
    if (state == GB_DLG_ENDED)
        return CV_ENET;
    if (cv_mono_us() - s->last_rtp > s->stall_us)
        return cv_errf(err, CV_ENET, "GB device %s: no media (RTP) for %lld s", s->dlg.device,
                       (long long)(s->stall_us / CV_US_PER_S));
    if (poll(&pfd, 1, 100) <= 0)
        return 0;
    n = recv(s->rtp, s->buf, sizeof(s->buf), 0);
    if (n < 12 || (s->buf[0] & 0xC0) != 0x80)
        return 0; /* not RTP version 2 */
    s->last_rtp = cv_mono_us();
    at = 12 + 4 * (size_t)(s->buf[0] & 0x0F);
    if (s->buf[0] & 0x10) { /* header extension */
        if (at + 4 > (size_t)n)
            return 0;
        at += 4 + 4 * ((size_t)s->buf[at + 2] << 8 | s->buf[at + 3]);
    }
    if (s->buf[0] & 0x20 && n > 12) /* padding */
        n -= s->buf[n - 1];
    if (at > (size_t)n)
        return 0;
    {
        uint16_t seq = (uint16_t)(s->buf[2] << 8 | s->buf[3]);
        if (s->have_seq && seq != (uint16_t)(s->seq + 1))
            gb_psd_lost(&s->psd);
        s->seq = seq;
        s->have_seq = true;
    }
    gb_psd_feed(&s->psd, s->buf + at, (size_t)n - at);
    return 0;
}

/* Send the INVITE (again, same CSeq: a retransmission). */
static void send_invite(struct gb_dev_stream *s, uint16_t port, const char *ssrc)
{
    struct gb_agent *a = s->a;
    char sdp[768], subject[160];

    snprintf(sdp, sizeof(sdp),
             "v=0\r\no=%s 0 0 IN IP4 %s\r\ns=Play\r\nc=IN IP4 %s\r\nt=0 0\r\n"
             "m=video %u RTP/AVP 96\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\ny=%s\r\n",
             a->cfg.id, a->local_ip, a->local_ip, (unsigned)port, ssrc);
    snprintf(subject, sizeof(subject), "Subject: %s:%s,%s:0\r\n", s->dlg.channel, ssrc,
             a->cfg.id);
    gb_dev_send(a, &s->dlg.addr, "INVITE", s->dlg.channel, s->dlg.call_id, s->dlg.from_tag, "",
                s->dlg.cseq, subject, "APPLICATION/SDP", sdp);
}

/* Wait (locked) up to 100 ms for a change of a device or dialog. */
static void wait_a_little(struct gb_devices *ds)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&ds->cond, &ds->lock, &ts);
}

/* Wait (locked) until the device is online and, when no channel is set, its Catalog came. */
static int wait_device(struct gb_dev_stream *s, const char *dev, const char *channel,
                       int64_t until, struct cv_err *err)
{
    struct gb_devices *ds = s->a->devs;
    struct gb_device *d;
    int64_t catalog_until = 0;

    for (;;) {
        d = gb_dev_find(ds, dev);
        if (d && d->online) {
            if (!catalog_until)
                catalog_until = cv_mono_us() + 3 * CV_US_PER_S;
            if (channel[0] || d->channel[0] || cv_mono_us() >= catalog_until)
                break;
        }
        if (stopping(s))
            return CV_ECANCELED;
        if (cv_mono_us() >= until) {
            if (d && d->reason[0])
                return cv_errf(err, CV_ENET, "GB device %s is offline: %s", dev, d->reason);
            return cv_errf(err, CV_ENET, "GB device %s has not registered (to gb_listen %s)",
                           dev, s->a->cfg.listen);
        }
        wait_a_little(ds);
    }
    cv_strlcpy(s->dlg.channel, channel[0] ? channel : d->channel[0] ? d->channel : dev,
               sizeof(s->dlg.channel));
    s->dlg.addr = d->addr;
    for (int i = 0; i < GB_DEV_STREAMS_MAX; i++)
        if (!ds->dlg[i]) {
            ds->dlg[i] = &s->dlg;
            s->slot = i;
            return 0;
        }
    return cv_errf(err, CV_ELIMIT, "GB device %s: %d device streams open already", dev,
                   GB_DEV_STREAMS_MAX);
}

/* INVITE until the 200 (the agent ACKs it) or a refusal. */
static int invite(struct gb_dev_stream *s, int64_t until, struct cv_err *err)
{
    struct gb_devices *ds = s->a->devs;
    struct sockaddr_in me;
    socklen_t ml = sizeof(me);
    char ssrc[16];
    int64_t next = 0, step = 500 * 1000;
    int rc = 0;

    if (getsockname(s->rtp, (struct sockaddr *)&me, &ml) < 0)
        return cv_errf(err, CV_ENET, "RTP socket: %s", strerror(errno));
    /* y=: 0 (live), digits 4-8 of the realm, then 4 digits of ours */
    snprintf(ssrc, sizeof(ssrc), "0%.5s%04u", s->a->cfg.realm + 3,
             (unsigned)(cv_mono_us() / 1000 % 10000));
    pthread_mutex_lock(&ds->lock);
    while (s->dlg.state == GB_DLG_INVITING) {
        if (cv_mono_us() >= next) {
            pthread_mutex_unlock(&ds->lock);
            send_invite(s, ntohs(me.sin_port), ssrc);
            pthread_mutex_lock(&ds->lock);
            /* over TCP (the device's connection) no retransmission: RFC 3261 17.1.1.2 */
            next = gb_tcp_has(s->a, &s->dlg.addr) ? INT64_MAX : cv_mono_us() + step;
            step = step * 2 > 4 * CV_US_PER_S ? 4 * CV_US_PER_S : step * 2;
        }
        if (stopping(s) || cv_mono_us() >= until) {
            rc = stopping(s) ? CV_ECANCELED
                             : cv_errf(err, CV_ENET, "GB device %s: no answer to the INVITE of "
                                       "channel %s", s->dlg.device, s->dlg.channel);
            break;
        }
        wait_a_little(ds);
    }
    if (rc == 0 && s->dlg.state != GB_DLG_PLAYING)
        rc = cv_errf(err, CV_ENET, "%s", s->dlg.why);
    pthread_mutex_unlock(&ds->lock);
    return rc;
}

/* Read up to the first keyframe after a PSM; its parameters make the media. */
static int first_keyframe(struct gb_dev_stream *s, int64_t until, struct cv_err *err)
{
    struct gb_psd_frame f;
    int rc;

    s->last_rtp = cv_mono_us();
    while (!stopping(s)) {
        while (gb_psd_next(&s->psd, &f)) {
            if (f.video && has_idr(f.data, f.len, f.type == 0x24)) {
                s->first = f;
                s->have_first = true;
                s->base = unwrap(s, f.pts);
                rc = video_params(s, &f, err);
                return rc < 0 ? rc : audio_params(s, err);
            }
            note_aac(s, &f);
            free(f.data);
        }
        if (cv_mono_us() >= until)
            return cv_errf(err, CV_EMEDIA, "GB device %s: no H.264/H.265 keyframe in a "
                           "program stream with a PSM within %lld s", s->dlg.device,
                           (long long)(s->stall_us / CV_US_PER_S));
        if ((rc = pump(s, err)) < 0)
            return rc;
    }
    return CV_ECANCELED;
}

int gb_dev_open(struct gb_dev_stream **out, struct gb_agent *a, const struct idx_camera *cam,
                int64_t timeout_us, int64_t stall_us, bool (*stop)(void *), void *stop_ctx,
                struct cv_err *err)
{
    struct gb_dev_stream *s = calloc(1, sizeof(*s));
    char dev[GB_ID_LEN + 1];
    struct sockaddr_in me = {0};
    int64_t until = cv_mono_us() + timeout_us, rcvbuf = 4 << 20;
    int rc;

    *out = NULL;
    if (!s)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    s->a = a;
    s->slot = -1;
    s->rtp = -1;
    s->stall_us = stall_us;
    s->stop = stop;
    s->stop_ctx = stop_ctx;
    gb_psd_init(&s->psd);
    if (!gb_device_of(cam->url, dev, NULL, 0)) {
        rc = cv_errf(err, CV_EINVAL, "camera '%s' is not a GB device's", cam->id);
        goto out;
    }
    cv_strlcpy(s->dlg.device, dev, sizeof(s->dlg.device));
    gb_random_hex(s->dlg.call_id, 16);
    gb_random_hex(s->dlg.from_tag, 8);
    s->dlg.cseq = 1;
    s->dlg.state = GB_DLG_INVITING;
    me.sin_family = AF_INET;
    inet_pton(AF_INET, a->cfg.listen_addr, &me.sin_addr);
    s->rtp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->rtp < 0 || bind(s->rtp, (const struct sockaddr *)&me, sizeof(me)) < 0) {
        rc = cv_errf(err, CV_ENET, "GB device %s: cannot open an RTP port: %s", dev,
                     strerror(errno));
        goto out;
    }
    setsockopt(s->rtp, SOL_SOCKET, SO_RCVBUF, &(int){(int)rcvbuf}, sizeof(int));
    pthread_mutex_lock(&a->devs->lock);
    rc = wait_device(s, dev, cam->gb_id, until, err);
    pthread_mutex_unlock(&a->devs->lock);
    if (rc == 0)
        rc = invite(s, until, err);
    if (rc == 0)
        rc = first_keyframe(s, cv_mono_us() + stall_us, err);
    if (rc == 0) {
        socklen_t ml = sizeof(me);
        getsockname(s->rtp, (struct sockaddr *)&me, &ml);
        cv_info("gb: device %s: channel %s streaming to RTP port %u", dev, s->dlg.channel,
                (unsigned)ntohs(me.sin_port));
    }
out:
    if (rc < 0) {
        gb_dev_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int gb_dev_read(struct gb_dev_stream *s, AVPacket *pkt, int64_t *recv_us, struct cv_err *err)
{
    struct gb_psd_frame f;
    int rc;

    for (;;) {
        if (s->aac.data && (rc = next_aac(s, pkt, err)) != 0) {
            *recv_us = cv_now_us();
            return rc < 0 ? rc : 0;
        }
        if (s->have_first) {
            f = s->first;
            s->have_first = false;
        } else if (!gb_psd_next(&s->psd, &f)) {
            if (stopping(s))
                return CV_ECANCELED;
            if ((rc = pump(s, err)) < 0)
                return rc;
            continue;
        }
        if (!f.video && !s->atype) {
            free(f.data);
            continue;
        }
        {
            int64_t t = unwrap(s, f.pts) - s->base;
            if (t < 0) { /* audio from before the first keyframe */
                free(f.data);
                continue;
            }
            if (!f.video && s->atype == 0x0F) { /* one or more ADTS frames */
                s->aac = f;
                s->aac_off = 0;
                s->aac_t = av_rescale(t, s->arate, 90000);
                continue;
            }
            if (av_new_packet(pkt, (int)f.len) < 0) {
                free(f.data);
                return cv_errf(err, CV_ENOMEM, "out of memory");
            }
            memcpy(pkt->data, f.data, f.len);
            pkt->stream_index = f.video ? 0 : 1;
            pkt->pts = pkt->dts = f.video ? t : av_rescale(t, s->arate, 90000);
            pkt->duration = 0;
            if (f.video && has_idr(f.data, f.len, f.type == 0x24))
                pkt->flags |= AV_PKT_FLAG_KEY;
            free(f.data);
            *recv_us = cv_now_us();
            return 0;
        }
    }
}

void gb_dev_close(struct gb_dev_stream *s)
{
    bool bye;

    if (!s)
        return;
    pthread_mutex_lock(&s->a->devs->lock);
    bye = s->dlg.state == GB_DLG_PLAYING;
    if (s->slot >= 0)
        s->a->devs->dlg[s->slot] = NULL;
    pthread_mutex_unlock(&s->a->devs->lock);
    if (bye)
        gb_dev_send(s->a, &s->dlg.addr, "BYE", s->dlg.channel, s->dlg.call_id, s->dlg.from_tag,
                    s->dlg.to_tag, s->dlg.cseq + 1, NULL, NULL, NULL);
    if (s->have_first)
        free(s->first.data);
    free(s->aac.data);
    if (s->rtp >= 0)
        close(s->rtp);
    gb_psd_release(&s->psd);
    for (int i = 0; i < 2; i++)
        avcodec_parameters_free(&s->par[i]);
    free(s);
}
