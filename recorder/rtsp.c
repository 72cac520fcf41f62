/*
 * rtsp.c: the recorder's own RTSP client (see rtsp.h): the connection and the media timeline.
 * Text parsing is in rtsp_text.c, choosing the streams from the SDP in rtsp_streams.c, and the
 * struct they share in rtsp_int.h.
 *
 * One receive buffer per connection holds whatever the socket had: interleaved frames ('$',
 * channel, 16-bit length, RTP or RTCP) and RTSP messages (answers to our keep-alives, the odd
 * request from the server). step() takes one complete item from its front; fill() and
 * wait_data() read more. During the RTSP exchange reads wait in poll() under the connect
 * deadline; once playing, the socket's SO_RCVLOWAT and SO_RCVTIMEO make each recv() return a
 * large block, or what there is after WAKE_MS, so a 4 Mbit/s camera costs about twenty system
 * calls a second instead of two thousand. rec_rtsp_pump reads the same way without blocking,
 * for the recorder's event loops (loop.c), whose epoll honours SO_RCVLOWAT too.
 *
 * Depacketized access units and audio frames go into a small queue of AVPackets, which
 * rec_rtsp_read (or rec_rtsp_pump) hands out one at a time; the buffer is only parsed further when the queue is
 * empty, so the queue never holds more than one RTP packet's worth.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libavutil/channel_layout.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "recorder/dts.h"
#include "recorder/rtp.h"
#include "recorder/rtsp.h"
#include "recorder/rtsp_int.h"
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/log.h"
#include "common/url.h"
#include "common/banned.h"

#define RBUF_CAP (128 * 1024) /* > one interleaved frame (4 + 65535) plus LOWAT */
#define LOWAT (32 * 1024)
#define WAKE_MS 100
#define RR_US (5 * INT64_C(1000000))
#define GARBAGE_MAX (1u << 20)
#define NTP_UNIX_OFFSET UINT64_C(2208988800)

static bool stopped(struct rec_rtsp *c)
{
    return c->stop && c->stop(c->stop_ctx);
}

static void set_fatal(struct rec_rtsp *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_fatal(struct rec_rtsp *c, int code, const char *fmt, ...)
{
    va_list ap;

    if (c->fatal)
        return;
    c->fatal = code;
    va_start(ap, fmt);
    vsnprintf(c->ferr.msg, sizeof(c->ferr.msg), fmt, ap);
    va_end(ap);
}

/* ---- URLs ---- */

/* Split url with common/url.h's parser (the same split the redaction uses). */
static int parse_url(const char *url, struct url *u, struct cv_err *err)
{
    int rc;

    memset(u, 0, sizeof(*u));
    rc = cv_url_parse(url, &u->p, err);
    if (rc < 0)
        return rc;
    if (strcmp(u->p.scheme, "rtsp") != 0)
        return cv_errf(err, CV_EINVAL, "not an rtsp:// URL");
    u->cred = u->p.has_user;
    if (u->p.rest[0] != '/') { /* "rtsp://h" and "rtsp://h?q" ask for "/" and "/?q" */
        char rest[sizeof(u->p.rest)];
        if (snprintf(rest, sizeof(rest), "/%s", u->p.rest) >= (int)sizeof(rest))
            return cv_errf(err, CV_EINVAL, "URL too long");
        memcpy(u->p.rest, rest, sizeof(rest));
    }
    if (cv_url_format(&u->p, false, u->clean, sizeof(u->clean)) < 0)
        return cv_errf(err, CV_EINVAL, "URL too long");
    if (!u->p.port[0])
        cv_strlcpy(u->p.port, "554", sizeof(u->p.port));
    return 0;
}

/* ---- authentication ---- */

/* Take the challenge of a 401; false when there is nothing (new) to answer it with. */
static bool take_challenge(struct rec_rtsp *c, const struct resp *r, struct cv_err *err,
                           const char *method)
{
    if (!c->u.cred) {
        cv_errf(err, CV_ENET, "cannot connect to %s: %s answered 401 Unauthorized: the camera "
                "needs a user and password in its URL", c->url_safe, method);
        return false;
    }
    if (r->auth_digest[0]) {
        char nonce[256], algo[32], qop[64], stale[16];
        rec_auth_param(r->auth_digest, "nonce", nonce, sizeof(nonce));
        rec_auth_param(r->auth_digest, "stale", stale, sizeof(stale));
        rec_auth_param(r->auth_digest, "algorithm", algo, sizeof(algo));
        if (algo[0] && strcasecmp(algo, "MD5") != 0) {
            cv_errf(err, CV_ENET, "cannot connect to %s: %s asks for Digest %s authentication, "
                    "which is not supported (MD5 is)", c->url_safe, method, algo);
            return false;
        }
        if (c->auth == 2 && strcmp(nonce, c->nonce) == 0 && strcasecmp(stale, "true") != 0)
            goto refused;
        c->auth = 2;
        cv_strlcpy(c->nonce, nonce, sizeof(c->nonce));
        rec_auth_param(r->auth_digest, "realm", c->realm, sizeof(c->realm));
        rec_auth_param(r->auth_digest, "opaque", c->opaque, sizeof(c->opaque));
        rec_auth_param(r->auth_digest, "qop", qop, sizeof(qop));
        c->qop_auth = false;
        for (char *save = NULL, *t = strtok_r(qop, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
            c->qop_auth |= strcasecmp(t, "auth") == 0; /* not auth-int, which we do not do */
        c->nc = 0;
        return true;
    }
    if (r->auth_basic[0] && c->auth != 1) {
        c->auth = 1;
        return true;
    }
refused:
    cv_errf(err, CV_ENET, "cannot connect to %s: %s answered 401 Unauthorized: wrong user or "
            "password", c->url_safe, method);
    return false;
}

static void auth_header(struct rec_rtsp *c, const char *method, const char *uri,
                        struct cv_buf *b)
{
    if (c->auth == 1) {
        char plain[520], enc[700];
        int n = snprintf(plain, sizeof(plain), "%s:%s", c->u.p.user, c->u.p.pass);
        EVP_EncodeBlock((unsigned char *)enc, (const unsigned char *)plain,
                        n < (int)sizeof(plain) ? n : (int)sizeof(plain) - 1);
        cv_buf_printf(b, "Authorization: Basic %s\r\n", enc);
    } else if (c->auth == 2) {
        char resp[33], nc[9], cnonce[17];
        uint8_t rnd[8] = {0};
        if (c->qop_auth) {
            if (RAND_bytes(rnd, sizeof(rnd)) != 1) { /* never a guessable cnonce */
                c->no_cnonce = true;
                return;
            }
            cv_hex(rnd, sizeof(rnd), cnonce);
            snprintf(nc, sizeof(nc), "%08x", ++c->nc);
        }
        rec_digest_response(c->u.p.user, c->realm, c->u.p.pass, method, uri, c->nonce,
                            c->qop_auth ? "auth" : NULL, nc, cnonce, resp);
        cv_buf_printf(b, "Authorization: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", "
                      "uri=\"%s\", response=\"%s\"", c->u.p.user, c->realm, c->nonce, uri, resp);
        if (c->opaque[0])
            cv_buf_printf(b, ", opaque=\"%s\"", c->opaque);
        if (c->qop_auth)
            cv_buf_printf(b, ", qop=auth, nc=%s, cnonce=\"%s\"", nc, cnonce);
        cv_buf_printf(b, "\r\n");
    }
}

/* ---- the connection ---- */

static int connect_to(struct rec_rtsp *c, int64_t deadline, struct cv_err *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    int r, last = ECONNREFUSED;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    r = getaddrinfo(c->u.p.host, c->u.p.port, &hints, &res);
    if (r != 0)
        return cv_errf(err, CV_ENET, "cannot connect to %s: %s", c->url_safe, gai_strerror(r));
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            int soerr = ETIMEDOUT;
            socklen_t sl = sizeof(soerr);
            while (!stopped(c) && cv_mono_us() < deadline) {
                struct pollfd pfd = {fd, POLLOUT, 0};
                if (poll(&pfd, 1, WAKE_MS) > 0) {
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                    break;
                }
            }
            if (soerr == 0) {
                c->fd = fd;
                rec_recv_stamp_on(fd); /* before any media comes (rtsp_recv.c) */
                break;
            }
            last = soerr;
        } else {
            last = errno;
        }
        close(fd);
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        if (stopped(c))
            return cv_errf(err, CV_ECANCELED, "stopped");
        return cv_errf(err, CV_ENET, "cannot connect to %s: %s", c->url_safe, strerror(last));
    }
    /* blocking from here on: handshake reads wait in poll, stream reads in SO_RCVTIMEO */
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
    {
        struct timeval tv = {2, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    return 0;
}

static int send_all(struct rec_rtsp *c, const void *p, size_t n, struct cv_err *err)
{
    const uint8_t *b = p;

    while (n > 0) {
        ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return cv_errf(err, CV_ENET, "lost %s: cannot send: %s", c->url_safe,
                           w < 0 ? strerror(errno) : "connection closed");
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_request(struct rec_rtsp *c, const char *method, const char *uri,
                        const char *extra, uint32_t *cseq, struct cv_err *err)
{
    struct cv_buf b;
    int rc;

    cv_buf_init(&b, 8192);
    *cseq = ++c->cseq;
    cv_buf_printf(&b, "%s %s RTSP/1.0\r\nCSeq: %u\r\nUser-Agent: camvault\r\n", method, uri,
                  *cseq);
    if (c->session[0])
        cv_buf_printf(&b, "Session: %s\r\n", c->session);
    c->no_cnonce = false;
    auth_header(c, method, uri, &b);
    cv_buf_printf(&b, "%s\r\n", extra ? extra : "");
    if (c->no_cnonce)
        rc = cv_errf(err, CV_ECRYPTO, "%s: cannot make a Digest cnonce: RAND_bytes failed",
                     c->url_safe);
    else
        rc = cv_buf_ok(&b) ? send_all(c, b.data, b.len, err)
                           : cv_errf(err, CV_ELIMIT, "%s request too long", method);
    cv_buf_release(&b);
    return rc;
}

/* Read more into the buffer, waiting in poll() until deadline (the RTSP exchange). */
static int fill(struct rec_rtsp *c, int64_t deadline, struct cv_err *err)
{
    if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rlen == RBUF_CAP)
        return cv_errf(err, CV_ENET, "%s: the server's answer is not valid RTSP/RTP (too long)",
                       c->url_safe);
    for (;;) {
        struct pollfd pfd = {c->fd, POLLIN, 0};
        ssize_t n;
        if (stopped(c))
            return cv_errf(err, CV_ECANCELED, "stopped");
        if (cv_mono_us() >= deadline)
            return cv_errf(err, CV_ETIMEDOUT, "timed out");
        if (poll(&pfd, 1, WAKE_MS) <= 0)
            continue;
        n = rec_recv_stamped(c->fd, c->rbuf + c->rlen, RBUF_CAP - c->rlen, MSG_DONTWAIT,
                             &c->recv_wall);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0)
            return cv_errf(err, CV_ENET, "%s: %s", c->url_safe, strerror(errno));
        if (n == 0)
            return cv_errf(err, CV_ENET, "%s: the server closed the connection", c->url_safe);
        c->rlen += (size_t)n;
        return 0;
    }
}

/* ---- media ---- */

static int enqueue(struct rec_rtsp *c, int si, const uint8_t *data, size_t len, int64_t ts,
                   bool key, int64_t recv_wall)
{
    AVPacket *pkt;

    if (c->qlen == QCAP) {
        set_fatal(c, CV_ELIMIT, "%s: packet queue full", c->url_safe);
        return -1;
    }
    pkt = av_packet_alloc();
    if (!pkt || av_new_packet(pkt, (int)len) < 0) {
        av_packet_free(&pkt);
        set_fatal(c, CV_ENOMEM, "out of memory");
        return -1;
    }
    memcpy(pkt->data, data, len);
    pkt->stream_index = si;
    pkt->dts = pkt->pts = ts;
    if (key)
        pkt->flags |= AV_PKT_FLAG_KEY;
    /* the receive time rides in pos, which the caller never sees set otherwise */
    pkt->pos = recv_wall;
    c->q[(c->qhead + c->qlen) % QCAP] = pkt;
    c->qlen++;
    return 0;
}

/* The picture size, by letting libavcodec's parser read the parameter sets and the keyframe. */
static int probe_size(struct rec_rtsp *c, const struct rec_au *au, int *w, int *h)
{
    enum AVCodecID id = c->vcodec == REC_VC_H264 ? AV_CODEC_ID_H264 : AV_CODEC_ID_HEVC;
    AVCodecParserContext *pc = av_parser_init(id);
    AVCodecContext *avc = avcodec_alloc_context3(NULL);
    struct cv_buf b;
    const struct rec_ps *ps[3] = {&c->vd.vps, &c->vd.sps, &c->vd.pps};
    uint8_t *out = NULL;
    int outn = 0, rc = -1;

    cv_buf_init(&b, REC_AU_MAX + 4096);
    if (!pc || !avc)
        goto out;
    pc->flags |= PARSER_FLAG_COMPLETE_FRAMES;
    for (int i = c->vcodec == REC_VC_H264 ? 1 : 0; i < 3; i++) {
        cv_buf_be32(&b, 1);
        cv_buf_put(&b, ps[i]->data, ps[i]->len);
    }
    {
        size_t at = b.len;
        cv_buf_put(&b, au->data, au->len);
        /* the units carry 4-byte lengths: the parser wants start codes, of the same size */
        for (size_t off = at; cv_buf_ok(&b) && off + 4 <= b.len;) {
            uint32_t l = cv_get_be32(b.data + off);
            cv_put_be32(b.data + off, 1);
            off += 4 + l;
        }
    }
    for (int i = 0; i < AV_INPUT_BUFFER_PADDING_SIZE; i++)
        cv_buf_u8(&b, 0);
    if (!cv_buf_ok(&b))
        goto out;
    av_parser_parse2(pc, avc, &out, &outn, b.data, (int)(b.len - AV_INPUT_BUFFER_PADDING_SIZE),
                     AV_NOPTS_VALUE, AV_NOPTS_VALUE, 0);
    *w = pc->width;
    *h = pc->height;
    rc = *w > 0 && *h > 0 ? 0 : -1;
out:
    cv_buf_release(&b);
    av_parser_close(pc);
    avcodec_free_context(&avc);
    return rc;
}

/* The first keyframe: build the video codec parameters from the parameter sets in hand. */
static int start_delivery(struct rec_rtsp *c, const struct rec_au *au)
{
    AVCodecParameters *p;
    struct cv_buf cfg;
    int w = 0, h = 0, rc = -1;

    cv_buf_init(&cfg, 4096);
    if (rec_vconfig(c->vcodec, &c->vd.vps, &c->vd.sps, &c->vd.pps, &cfg) != 0) {
        set_fatal(c, CV_EMEDIA, "%s: the keyframe came without its parameter sets (%s), and the "
                  "SDP has none", c->url_safe,
                  c->vcodec == REC_VC_H264 ? "SPS/PPS" : "VPS/SPS/PPS");
        goto out;
    }
    if (probe_size(c, au, &w, &h) != 0) {
        set_fatal(c, CV_EMEDIA, "%s: cannot read the picture size from the stream's parameter "
                  "sets", c->url_safe);
        goto out;
    }
    p = c->par[0] = avcodec_parameters_alloc();
    if (!p || !(p->extradata = av_mallocz(cfg.len + AV_INPUT_BUFFER_PADDING_SIZE))) {
        set_fatal(c, CV_ENOMEM, "out of memory");
        goto out;
    }
    p->codec_type = AVMEDIA_TYPE_VIDEO;
    p->codec_id = c->vcodec == REC_VC_H264 ? AV_CODEC_ID_H264 : AV_CODEC_ID_HEVC;
    p->width = w;
    p->height = h;
    memcpy(p->extradata, cfg.data, cfg.len);
    p->extradata_size = (int)cfg.len;
    c->cfg_sps = c->vd.sps;
    c->media.par[0] = p;
    rc = 0;
out:
    cv_buf_release(&cfg);
    return rc;
}

static void flush_preroll(struct rec_rtsp *c);

static void on_au(void *ctx, const struct rec_au *au)
{
    struct rec_rtsp *c = ctx;
    struct stream *s = &c->st[0];
    int64_t ext = rec_rtp_unwrap(&s->clk, au->ts);

    if (c->fatal)
        return;
    if (!c->delivering) {
        if (!au->key || start_delivery(c, au) != 0)
            return; /* a run starts at a keyframe */
        s->base = ext;
        s->anchored = true;
        c->epoch_mono = cv_mono_us();
        c->delivering = true;
        c->last_vts = ext;
        c->open_pts[0] = 0;
        c->nvideo++;
        enqueue(c, 0, au->data, au->len, 0, true, c->au_recv);
        flush_preroll(c);
        return;
    }
    if (au->key && c->vd.sps.len &&
        (c->vd.sps.len != c->cfg_sps.len ||
         memcmp(c->vd.sps.data, c->cfg_sps.data, c->cfg_sps.len) != 0)) {
        /* new stream parameters (another resolution): a new session, hence a new run */
        set_fatal(c, CV_ENET, "%s: the camera changed its video parameters (new SPS)",
                  c->url_safe);
        return;
    }
    c->last_vts = ext;
    if (c->nvideo < OPEN_FRAMES)
        c->open_pts[c->nvideo] = ext - s->base;
    c->nvideo++;
    enqueue(c, 0, au->data, au->len, ext - s->base, au->key, c->au_recv);
}

/*
 * Place the audio stream on the timeline, at its first frame (which arrived at `mono`): with the
 * sender's reports when both streams have had one, else by arrival.
 */
static void anchor_audio(struct rec_rtsp *c, int64_t ext, int64_t mono)
{
    struct stream *v = &c->st[0], *a = &c->st[1];

    if (v->have_sr && a->have_sr) {
        int64_t v_sr = rec_rtp_extend(&v->clk, v->sr_ts), a_sr = rec_rtp_extend(&a->clk, a->sr_ts);
        int64_t zero_ntp = v->sr_ntp_us + av_rescale(v->base - v_sr, 1000000, v->clock);
        a->base = a_sr + av_rescale(zero_ntp - a->sr_ntp_us, a->clock, 1000000);
    } else {
        a->base = ext - av_rescale(mono - c->epoch_mono, a->clock, 1000000);
    }
    a->anchored = true;
}

static void deliver_audio(struct rec_rtsp *c, const uint8_t *data, size_t len, int64_t ext,
                          int64_t mono, int64_t wall)
{
    struct stream *a = &c->st[1];

    if (!a->anchored)
        anchor_audio(c, ext, mono);
    if (ext - a->base < 0)
        return; /* from before the first keyframe */
    enqueue(c, 1, data, len, ext - a->base, false, wall);
}

/* The audio frames that arrived while the first keyframe was still incomplete. */
static void flush_preroll(struct rec_rtsp *c)
{
    for (int i = 0; i < c->npre; i++) {
        struct preroll *p = &c->pre[i];
        deliver_audio(c, p->data, p->len, p->ext, p->mono, p->wall);
        free(p->data);
    }
    c->npre = 0;
}

static void on_audio_frame(struct rec_rtsp *c, const uint8_t *data, size_t len, uint32_t ts)
{
    int64_t ext = rec_rtp_unwrap(&c->st[1].clk, ts);
    struct preroll *p;

    if (c->fatal)
        return;
    if (c->delivering) {
        deliver_audio(c, data, len, ext, cv_mono_us(), c->recv_wall);
        return;
    }
    if (c->npre == PREROLL) { /* keep the newest */
        free(c->pre[0].data);
        memmove(c->pre, c->pre + 1, (PREROLL - 1) * sizeof(c->pre[0]));
        c->npre--;
    }
    p = &c->pre[c->npre];
    p->data = malloc(len);
    if (!p->data)
        return;
    memcpy(p->data, data, len);
    p->len = len;
    p->ext = ext;
    p->mono = cv_mono_us();
    p->wall = c->recv_wall;
    c->npre++;
}

static void on_aac(void *ctx, const struct rec_aframe *f)
{
    on_audio_frame(ctx, f->data, f->len, f->ts);
}

static void track_seq(struct stream *s, uint16_t seq)
{
    if (!s->seq_started) {
        s->seq_started = true;
        s->base_seq = seq;
        s->max_seq = seq;
    } else if ((uint16_t)(seq - s->max_seq) < 0x8000) {
        if (seq < s->max_seq)
            s->cycles += 65536;
        s->max_seq = seq;
    }
    s->received++;
}

static void on_rtp(struct rec_rtsp *c, int si, const uint8_t *p, size_t n)
{
    struct stream *s = &c->st[si];
    struct rec_rtp_hdr h;

    if (rec_rtp_parse(p, n, &h) != 0 || h.pt != s->pt) {
        c->stats.malformed++;
        return;
    }
    c->stats.rtp_packets++;
    c->stats.bytes += h.len;
    c->last_media = cv_mono_us();
    s->ssrc = h.ssrc;
    s->ssrc_known = true;
    track_seq(s, h.seq);
    if (si == 0) {
        c->au_recv = c->vrecv_last; /* an access unit ends with the packet before this one */
        rec_vdepay_push(&c->vd, &h, on_au, c);
        c->vrecv_last = c->recv_wall;
    } else if (c->acodec == AC_AAC) {
        rec_aac_push(&c->ad, &h, on_aac, c);
    } else if (h.len > 0) {
        on_audio_frame(c, h.payload, h.len, h.ts);
    }
}

static void on_rtcp(struct rec_rtsp *c, int si, const uint8_t *p, size_t n)
{
    struct stream *s = &c->st[si];

    while (n >= 4) {
        size_t len = 4 + 4 * (((size_t)p[2] << 8) | p[3]);
        if ((p[0] >> 6) != 2 || len > n)
            return;
        if (p[1] == 200 && len >= 28) { /* sender report */
            uint32_t sec = cv_get_be32(p + 8), frac = cv_get_be32(p + 12);
            s->have_sr = true;
            s->sr_ntp_us = ((int64_t)sec - (int64_t)NTP_UNIX_OFFSET) * 1000000 +
                           (int64_t)(((uint64_t)frac * 1000000) >> 32);
            s->sr_ts = cv_get_be32(p + 16);
            s->sr_mid = (sec << 16) | (frac >> 16);
            s->sr_mono = cv_mono_us();
        } else if (p[1] == 203 && si == 0) { /* BYE */
            set_fatal(c, CV_ENET, "lost %s: the server ended the stream (RTCP BYE)",
                      c->url_safe);
        }
        p += len;
        n -= len;
    }
}

/* Receiver reports, for cameras that take them as a sign of life. */
static int send_reports(struct rec_rtsp *c, struct cv_err *err)
{
    int64_t now = cv_mono_us();

    c->next_rr = now + RR_US;
    for (int i = 0; i < 2; i++) {
        struct stream *s = &c->st[i];
        uint8_t b[4 + 32];
        uint32_t ext_max, expected, lost, exp_int, rec_int, lost_int, frac = 0, dlsr = 0;

        if (!s->used || !s->ssrc_known)
            continue;
        ext_max = s->cycles + s->max_seq;
        expected = ext_max - s->base_seq + 1;
        lost = expected > s->received ? expected - (uint32_t)s->received : 0;
        exp_int = expected - s->expected_prior;
        rec_int = (uint32_t)s->received - s->received_prior;
        lost_int = exp_int > rec_int ? exp_int - rec_int : 0;
        if (exp_int && lost_int)
            frac = (lost_int << 8) / exp_int;
        s->expected_prior = expected;
        s->received_prior = (uint32_t)s->received;
        if (s->have_sr)
            dlsr = (uint32_t)(((uint64_t)(now - s->sr_mono) << 16) / 1000000);
        b[0] = '$';
        b[1] = (uint8_t)s->ch[1];
        b[2] = 0;
        b[3] = 32;
        b[4] = 0x81;
        b[5] = 201;
        b[6] = 0;
        b[7] = 7;
        cv_put_be32(b + 8, c->my_ssrc);
        cv_put_be32(b + 12, s->ssrc);
        cv_put_be32(b + 16, (frac << 24) | (lost & 0xffffff));
        cv_put_be32(b + 20, ext_max);
        cv_put_be32(b + 24, 0); /* jitter: not measured */
        cv_put_be32(b + 28, s->have_sr ? s->sr_mid : 0);
        cv_put_be32(b + 32, dlsr);
        if (send_all(c, b, sizeof(b), err) < 0)
            return CV_ENET;
    }
    return 0;
}

static int keepalive(struct rec_rtsp *c, struct cv_err *err)
{
    c->next_keepalive = cv_mono_us() + c->keepalive_us;
    return send_request(c, c->get_parameter ? "GET_PARAMETER" : "OPTIONS", c->u.clean, NULL,
                        &c->ka_cseq, err);
}

static void answer_request(struct rec_rtsp *c, const struct resp *r)
{
    char b[128];
    struct cv_err ignored;
    bool known = strncmp(r->first, "OPTIONS ", 8) == 0 ||
                 strncmp(r->first, "GET_PARAMETER ", 14) == 0 ||
                 strncmp(r->first, "SET_PARAMETER ", 14) == 0;
    int n = snprintf(b, sizeof(b), "RTSP/1.0 %s\r\nCSeq: %d\r\n\r\n",
                     known ? "200 OK" : "501 Not Implemented", r->cseq);

    send_all(c, b, (size_t)n, &ignored);
}

/*
 * Take one item from the front of the buffer: 1 an item was taken (a response goes into *r if r
 * is not NULL, else it is checked as a keep-alive answer), 2 a response was put into *r, 0 more
 * data is needed, <0 error.
 */
static int step(struct rec_rtsp *c, struct resp *r, struct cv_err *err)
{
    const uint8_t *p = c->rbuf + c->rpos;
    size_t avail = c->rlen - c->rpos;
    int rc;

    if (avail == 0)
        return 0;
    if (p[0] == '$') {
        size_t len;
        if (avail < 4)
            return 0;
        len = ((size_t)p[2] << 8) | p[3];
        if (avail < 4 + len)
            return 0;
        for (int i = 0; i < 2; i++) {
            if (!c->st[i].used)
                continue;
            if (p[1] == c->st[i].ch[0])
                on_rtp(c, i, p + 4, len);
            else if (p[1] == c->st[i].ch[1])
                on_rtcp(c, i, p + 4, len);
        }
        c->rpos += 4 + len;
        c->garbage = 0;
        return 1;
    }
    rc = rec_looks_rtsp(p, avail);
    if (rc == 1 || !c->playing) {
        struct resp tmp;
        struct resp *m = r ? r : &tmp;
        if (rc == 0)
            goto garbage;
        rc = rec_take_message(c, m, err);
        if (rc <= 0)
            return rc;
        if (m->request) {
            answer_request(c, m);
            rec_resp_release(m);
            return 1;
        }
        if (r)
            return 2;
        if (tmp.status == 454)
            rc = cv_errf(err, CV_ENET, "lost %s: the server dropped the session (%s)",
                         c->url_safe, tmp.first);
        else if (tmp.cseq == (int)c->ka_cseq && tmp.status >= 400 && c->get_parameter)
            c->get_parameter = false; /* keep the session alive with OPTIONS instead */
        rec_resp_release(&tmp);
        return rc;
    }
    if (rc < 0)
        return 0;
garbage:
    if (!c->playing) {
        char first[48];
        rec_printable(p, avail, first, sizeof(first));
        return cv_errf(err, CV_ENET, "%s: the server's answer is not valid RTSP/RTP (it began "
                       "'%s')", c->url_safe, first);
    }
    {
        /* resynchronise on the next '$' */
        const uint8_t *d = memchr(p + 1, '$', avail - 1);
        size_t skip = d ? (size_t)(d - p) : avail;
        c->rpos += skip;
        c->garbage += skip;
        if (c->garbage > GARBAGE_MAX)
            return cv_errf(err, CV_ENET, "lost %s: the stream is not valid RTSP/RTP (%zu bytes "
                           "that are neither)", c->url_safe, c->garbage);
    }
    return 1;
}

/* One request and its answer, answering one authentication challenge on the way. */
static int transact(struct rec_rtsp *c, const char *method, const char *uri, const char *extra,
                    int64_t deadline, struct resp *r, struct cv_err *err)
{
    /* Every caller releases *r, also when sending failed before any answer (found by
     * tests/fuzz/fuzz_rtsp.c: free() of a stack garbage body pointer). */
    memset(r, 0, sizeof(*r));
    for (int attempt = 0; attempt < 2; attempt++) {
        uint32_t cseq;
        int rc = send_request(c, method, uri, extra, &cseq, err);
        if (rc < 0)
            return rc;
        for (;;) {
            rc = step(c, r, err);
            if (rc == 2 && r->cseq == (int)cseq)
                break;
            if (rc == 2) {
                rec_resp_release(r);
                continue;
            }
            if (rc == 1)
                continue;
            if (rc < 0)
                return rc;
            rc = fill(c, deadline, err);
            if (rc == CV_ETIMEDOUT)
                return cv_errf(err, CV_ENET, "cannot connect to %s: no valid RTSP answer within "
                               "%lld s (server silent or talking garbage)", c->url_safe,
                               (long long)(c->connect_timeout_us / 1000000));
            if (rc < 0)
                return rc;
        }
        if (r->status == 401 && attempt == 0) {
            if (!take_challenge(c, r, err, method))
                return CV_ENET;
            rec_resp_release(r);
            continue;
        }
        break;
    }
    if (r->status == 401) /* the second refusal, with the credentials we have */
        return cv_errf(err, CV_ENET, "cannot connect to %s: %s answered 401 Unauthorized: wrong "
                       "user or password", c->url_safe, method);
    if (r->status != 200)
        return cv_errf(err, CV_ENET, "cannot connect to %s: %s answered '%s'", c->url_safe,
                       method, r->first);
    return 0;
}

static int setup_stream(struct rec_rtsp *c, int si, const char *base, const char *control,
                        int64_t deadline, struct cv_err *err)
{
    struct stream *s = &c->st[si];
    struct resp r;
    char extra[128];
    const char *il;
    int rc, a = 2 * si, b = 2 * si + 1;

    rec_join_url(base, control, s->control, sizeof(s->control));
    snprintf(extra, sizeof(extra), "Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d\r\n", a, b);
    rc = transact(c, "SETUP", s->control, extra, deadline, &r, err);
    if (rc < 0 && r.status == 461) {
        if (c->tcp_refused)
            *c->tcp_refused = true;
        rc = cv_errf(err, CV_ESTATE, "the server refuses RTP over TCP (SETUP answered '%s')",
                     r.first);
    }
    if (rc == 0) {
        if (r.session[0] && !c->session[0]) {
            char *semi = strchr(r.session, ';'), *t;
            if (semi) {
                *semi = 0;
                t = strcasestr(semi + 1, "timeout=");
                if (t && strtol(t + 8, NULL, 10) > 0)
                    c->keepalive_us = strtol(t + 8, NULL, 10) * INT64_C(1000000) / 2;
            }
            cv_strlcpy(c->session, r.session, sizeof(c->session));
        }
        il = strcasestr(r.transport, "interleaved=");
        if (il) {
            int k = sscanf(il + 12, "%d-%d", &a, &b);
            if (k < 1 || a < 0 || a > 255) {
                a = 2 * si;
                b = a + 1;
            } else if (k == 1 || b < 0 || b > 255) {
                b = a + 1;
            }
        }
        if (!strcasestr(r.transport, "TCP"))
            rc = cv_errf(err, CV_ESTATE, "the server offers no TCP transport");
    }
    s->used = rc == 0;
    s->ch[0] = a;
    s->ch[1] = b;
    rec_resp_release(&r);
    return rc;
}

static int handshake(struct rec_rtsp *c, int64_t deadline, struct cv_err *err)
{
    struct resp r;
    struct rec_sdp *sdp = NULL;
    char base[1024], play_url[1024];
    const struct rec_sdp_media *vm = NULL, *am = NULL;
    int rc;

    rc = transact(c, "OPTIONS", c->u.clean, NULL, deadline, &r, err);
    if (rc < 0)
        goto out; /* a refusal may have come with a body (leak found by fuzz_rtsp) */
    c->get_parameter = strcasestr(r.public_, "GET_PARAMETER") != NULL;
    rec_resp_release(&r);
    rc = transact(c, "DESCRIBE", c->u.clean, "Accept: application/sdp\r\n", deadline, &r, err);
    if (rc < 0)
        goto out;
    sdp = malloc(sizeof(*sdp));
    if (!sdp) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    if (!r.body || rec_sdp_parse(r.body, r.body_len, sdp) != 0) {
        rc = cv_errf(err, CV_ENET, "cannot connect to %s: DESCRIBE answered without a media "
                     "description (SDP)", c->url_safe);
        goto out;
    }
    cv_strlcpy(base, r.content_base[0] ? r.content_base : c->u.clean, sizeof(base));
    for (int i = 0; i < sdp->nmedia; i++) {
        const struct rec_sdp_media *m = &sdp->m[i];
        if (!vm && strcmp(m->type, "video") == 0 &&
            (strcasecmp(m->encoding, "H264") == 0 || strcasecmp(m->encoding, "H265") == 0))
            vm = m;
        else if (!am && strcmp(m->type, "audio") == 0)
            am = m;
    }
    if (!vm) {
        rc = cv_errf(err, CV_ESTATE, "no H.264 or H.265 video in the SDP");
        goto out;
    }
    rc = rec_choose_video(c, vm, err);
    if (rc == 0 && am)
        rc = rec_choose_audio(c, am, err);
    if (rc < 0)
        goto out;
    rc = setup_stream(c, 0, base, vm->control, deadline, err);
    if (rc == 0 && c->media.par[1]) {
        struct cv_err aerr;
        if (setup_stream(c, 1, base, am->control, deadline, &aerr) < 0) {
            cv_info("%s: audio not recorded: %s", c->url_safe, aerr.msg);
            snprintf(c->media.audio_skipped, sizeof(c->media.audio_skipped), "%s (SETUP failed)",
                     am->encoding);
            c->media.par[1] = NULL;
        }
    }
    if (rc < 0)
        goto out;
    rec_resp_release(&r);
    rec_join_url(base, sdp->control, play_url, sizeof(play_url));
    rc = transact(c, "PLAY", play_url, "Range: npt=0.000-\r\n", deadline, &r, err);
out:
    rec_resp_release(&r);
    free(sdp);
    return rc;
}

/*
 * Read what the socket has into the buffer: blocking, a large block or what came within WAKE_MS
 * (SO_RCVLOWAT, SO_RCVTIMEO); with MSG_DONTWAIT in flags, what is there now. 0 read (or timed
 * out), 1 nothing there (MSG_DONTWAIT), <0 lost.
 */
static int wait_data(struct rec_rtsp *c, int flags, struct cv_err *err)
{
    ssize_t n;

    if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    /* stamped with the kernel's receive time, not this read's (rtsp_recv.c) */
    n = rec_recv_stamped(c->fd, c->rbuf + c->rlen, RBUF_CAP - c->rlen, flags, &c->recv_wall);
    if (n > 0) {
        /* a short read emptied the socket: the caller need not ask again before it wakes */
        c->drained = (size_t)n < RBUF_CAP - c->rlen;
        c->rlen += (size_t)n;
        return 0;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return flags & MSG_DONTWAIT ? 1 : 0;
    if (n == 0)
        return cv_errf(err, CV_ENET, "lost %s: the server closed the stream", c->url_safe);
    return cv_errf(err, CV_ENET, "lost %s: %s", c->url_safe, strerror(errno));
}

int rec_rtsp_open(struct rec_rtsp **out, const struct rec_rtsp_opts *o, struct cv_err *err)
{
    struct rec_rtsp *c = calloc(1, sizeof(*c));
    int64_t deadline = cv_mono_us() + o->connect_timeout_us;
    int rc;

    *out = NULL;
    if (!c || !(c->rbuf = malloc(RBUF_CAP))) {
        free(c);
        return cv_errf(err, CV_ENOMEM, "out of memory");
    }
    c->fd = -1;
    cv_strlcpy(c->url_safe, o->url_safe, sizeof(c->url_safe));
    c->connect_timeout_us = o->connect_timeout_us;
    c->stall_timeout_us = o->stall_timeout_us;
    c->stop = o->stop;
    c->stop_ctx = o->stop_ctx;
    c->tcp_refused = o->tcp_refused;
    c->keepalive_us = 30 * INT64_C(1000000); /* half the default session timeout of 60 s */
    if (RAND_bytes((unsigned char *)&c->my_ssrc, sizeof(c->my_ssrc)) != 1) {
        rc = cv_errf(err, CV_ECRYPTO, "%s: cannot draw a random RTCP SSRC: RAND_bytes failed",
                     o->url_safe);
        goto fail;
    }
    rc = parse_url(o->url, &c->u, err);
    if (rc < 0) {
        cv_errwrap(err, rc, "%s", c->url_safe);
        goto fail;
    }
    rc = connect_to(c, deadline, err);
    if (rc == 0)
        rc = handshake(c, deadline, err);
    if (rc < 0)
        goto fail;
    c->playing = true;
    c->last_media = cv_mono_us();
    c->next_keepalive = c->last_media + c->keepalive_us;
    c->next_rr = c->last_media + RR_US;
    {
        int lowat = LOWAT;
        struct timeval tv = {0, WAKE_MS * 1000};
        setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    /*
     * Until the first keyframe and OPEN_FRAMES - 1 frames after it, under the connect deadline:
     * B-frames show their reorder depth within those (media.reorder). The frames wait in the
     * queue; a slow camera with chatty audio
     * (1 fps and G.711's 50 packets a second) stops the wait at half the queue, not at its end.
     */
    while (c->nvideo < OPEN_FRAMES && c->qlen < QCAP / 2) {
        int64_t now = cv_mono_us();
        if (c->fatal) {
            rc = cv_errf(err, c->fatal, "%s", c->ferr.msg);
            goto fail;
        }
        rc = step(c, NULL, err);
        if (rc < 0)
            goto fail;
        if (rc > 0)
            continue;
        if (now >= deadline && c->nvideo > 0)
            break; /* a very slow camera: go with what it sent */
        if (now >= deadline) {
            rc = cv_errf(err, CV_ENET, "cannot record %s: no video keyframe within %lld s",
                         c->url_safe, (long long)(c->connect_timeout_us / 1000000));
            goto fail;
        }
        rc = wait_data(c, 0, err);
        if (rc < 0)
            goto fail;
    }
    c->drained = false;
    c->media.reorder = rec_dts_depth_of(c->open_pts, c->nvideo < OPEN_FRAMES ? c->nvideo
                                                                             : OPEN_FRAMES);
    *out = c;
    return 0;
fail:
    rec_rtsp_close(c);
    /* Text from the peer (SDP values) may be in the message: keep it one printable line. */
    for (char *m = err ? err->msg : NULL; m && *m; m++)
        if ((unsigned char)*m < ' ' || *m == 0x7f)
            *m = '?';
    return rc;
}

const struct rec_rtsp_media *rec_rtsp_media(const struct rec_rtsp *c)
{
    return &c->media;
}

/*
 * The next packet into *out (owned by the caller), its receive time in *recv_us. Blocks unless
 * nb: then 1 when none is ready without waiting. The timers (stall, keep-alive, receiver
 * reports) run whenever the buffer is used up.
 */
static int next_packet(struct rec_rtsp *c, AVPacket **out, int64_t *recv_us, bool nb,
                       struct cv_err *err)
{
    for (;;) {
        int64_t now;
        int rc;

        if (c->qlen > 0) {
            *out = c->q[c->qhead];
            c->qhead = (c->qhead + 1) % QCAP;
            c->qlen--;
            *recv_us = (*out)->pos;
            (*out)->pos = -1;
            return 0;
        }
        if (c->fatal)
            return cv_errf(err, c->fatal, "%s", c->ferr.msg);
        if (stopped(c))
            return cv_errf(err, CV_ECANCELED, "stopped");
        rc = step(c, NULL, err);
        if (rc < 0)
            return rc;
        if (rc > 0)
            continue;
        now = cv_mono_us();
        if (now - c->last_media > c->stall_timeout_us)
            rc = cv_errf(err, CV_ENET, "no data from %s for %lld s", c->url_safe,
                         (long long)(c->stall_timeout_us / 1000000));
        else if (now >= c->next_keepalive && keepalive(c, err) < 0)
            rc = CV_ENET;
        else if (now >= c->next_rr && send_reports(c, err) < 0)
            rc = CV_ENET;
        else if (nb && c->drained)
            rc = 1; /* the socket was emptied this round: the next call reads again */
        else
            rc = wait_data(c, nb ? MSG_DONTWAIT : 0, err);
        if (rc == 1) {
            c->drained = false;
            return 1;
        }
        if (rc < 0) {
            /* the stream ended: its last frame is complete, deliver it before saying so */
            c->au_recv = c->vrecv_last;
            rec_vdepay_flush(&c->vd, on_au, c);
            set_fatal(c, rc, "%s", err->msg);
        }
    }
}

int rec_rtsp_read(struct rec_rtsp *c, AVPacket *pkt, int64_t *recv_us, struct cv_err *err)
{
    AVPacket *q = NULL;
    int rc = next_packet(c, &q, recv_us, false, err);

    if (rc < 0)
        return rc;
    av_packet_move_ref(pkt, q);
    av_packet_free(&q);
    return 0;
}

int rec_rtsp_pump(struct rec_rtsp *c, AVPacket **pkt, int64_t *recv_us, struct cv_err *err)
{
    *pkt = NULL;
    return next_packet(c, pkt, recv_us, true, err);
}

int rec_rtsp_fd(const struct rec_rtsp *c)
{
    return c->fd;
}

void rec_rtsp_stats(const struct rec_rtsp *c, struct rec_rtsp_stats *out)
{
    *out = c->stats;
    out->lost_packets = c->vd.lost;
    out->malformed += c->vd.malformed + (c->ad_init ? c->ad.malformed : 0);
    out->oversize = c->vd.oversize;
}

void rec_rtsp_close(struct rec_rtsp *c)
{
    if (!c)
        return;
    if (c->fd >= 0) {
        if (c->session[0]) {
            char b[1400];
            int n = snprintf(b, sizeof(b), "TEARDOWN %s RTSP/1.0\r\nCSeq: %u\r\nSession: %s\r\n"
                             "User-Agent: camvault\r\n\r\n", c->u.clean, c->cseq + 1, c->session);
            if (n > 0 && n < (int)sizeof(b))
                (void)!send(c->fd, b, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        close(c->fd);
    }
    while (c->qlen > 0) {
        av_packet_free(&c->q[c->qhead]);
        c->qhead = (c->qhead + 1) % QCAP;
        c->qlen--;
    }
    rec_vdepay_release(&c->vd);
    if (c->ad_init)
        rec_aac_release(&c->ad);
    for (int i = 0; i < c->npre; i++)
        free(c->pre[i].data);
    for (int i = 0; i < 2; i++)
        avcodec_parameters_free(&c->par[i]);
    free(c->rbuf);
    free(c);
}
