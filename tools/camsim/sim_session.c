/*
 * sim_session.c: RTSP methods, session state and real-time media pacing for camsim.
 *
 * A session walks clip->packets from its PLAY: packet i of loop k is due at
 * start + k * duration + time_us and carries timestamp ts_base + k * loop_ts + rtp_ts, so time
 * runs on across loops and the receiver sees one unbroken stream that starts at an IDR frame.
 * Each session has its own SSRC, first sequence number and timestamp base per track. Sender
 * reports go out at PLAY (before the first media packet) and every SIM_SR_INTERVAL_US, mapping
 * the RTP timestamp of "now" to the wall clock, so a client can recover the camera's clock.
 *
 * Responses, RTCP and interleaved media share the connection's output queue, so a response always
 * precedes the media it starts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <libavutil/mathematics.h>

#include "tools/camsim/sim_server_impl.h"
#include "tools/camsim/sim_util.h"

#include "common/banned.h"

#define NTP_UNIX_OFFSET 2208988800ull

static const char *reason(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 453:
        return "Not Enough Bandwidth";
    case 454:
        return "Session Not Found";
    case 455:
        return "Method Not Valid in This State";
    case 459:
        return "Aggregate Operation Not Allowed";
    case 461:
        return "Unsupported Transport";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 505:
        return "RTSP Version Not Supported";
    }
    return "Error";
}

/* Queues a response. headers: extra header lines, each ending in CRLF (may be ""). */
static void respond(struct sim_server *srv, struct sim_conn *c, const struct sim_rtsp_req *req,
                    int code, const char *headers, const char *body, size_t body_len)
{
    char head[2048];
    struct iovec iov[2];
    int n;

    n = snprintf(head, sizeof(head), "RTSP/1.0 %d %s\r\nCSeq: %ld\r\nServer: camsim\r\n%s", code,
                 reason(code), req->cseq, headers);
    if (n > 0 && (size_t)n < sizeof(head) && body != NULL)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", body_len);
    if (n > 0 && (size_t)n < sizeof(head))
        n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
    if (n < 0 || (size_t)n >= sizeof(head)) {
        /* Our own headers are bounded well below this; fall back to a bare error. */
        n = snprintf(head, sizeof(head), "RTSP/1.0 500 Internal Server Error\r\nCSeq: %ld\r\n\r\n",
                     req->cseq);
        body = NULL;
    }
    iov[0].iov_base = head;
    iov[0].iov_len = (size_t)n;
    iov[1].iov_base = (void *)body;
    iov[1].iov_len = body ? body_len : 0;
    sim_conn_queue(srv, c, iov, body ? 2 : 1);
}

static struct sim_session *find_session(struct sim_conn *c, const char *id)
{
    for (int i = 0; i < SIM_CONN_SESSIONS; i++) {
        if (c->sessions[i].in_use && strcmp(c->sessions[i].id, id) == 0)
            return &c->sessions[i];
    }
    return NULL;
}

/* The aggregate URL of a request: without query, stream segment and trailing slash. */
static void base_url(const struct sim_rtsp_req *req, char *out, size_t size)
{
    size_t len = strcspn(req->url, "?");
    const char *s;

    if (len >= size)
        len = size - 1;
    memcpy(out, req->url, len);
    out[len] = '\0';
    s = strrchr(out, '/');
    if (s && (strncasecmp(s, "/streamid=", 10) == 0 || strncasecmp(s, "/trackID=", 9) == 0))
        out[s - out] = '\0';
    len = strlen(out);
    while (len > 0 && out[len - 1] == '/')
        out[--len] = '\0';
}

static void do_options(struct sim_server *srv, struct sim_conn *c, const struct sim_rtsp_req *req)
{
    respond(srv, c, req, 200, "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n",
            NULL, 0);
}

static void do_describe(struct sim_server *srv, struct sim_conn *c, const struct sim_rtsp_req *req)
{
    char headers[1400], base[1100];
    int cam, stream;

    if (sim_rtsp_parse_target(req->url, srv->cfg.name, srv->cfg.cameras, &cam, &stream) != 0 ||
        stream >= 0) {
        respond(srv, c, req, 404, "", NULL, 0);
        return;
    }
    base_url(req, base, sizeof(base));
    snprintf(headers, sizeof(headers), "Content-Type: application/sdp\r\nContent-Base: %s/\r\n",
             base);
    respond(srv, c, req, 200, headers, srv->clip->sdp, srv->clip->sdp_len);
}

/* Picks the session for SETUP: the one named in the request, or a new one. */
static int setup_session(struct sim_server *srv, struct sim_conn *c, const struct sim_rtsp_req *req,
                         int cam, struct sim_session **out)
{
    struct sim_session *s;

    if (req->session[0]) {
        s = find_session(c, req->session);
        if (s == NULL)
            return 454;
        if (s->cam != cam)
            return 459;
        if (s->playing)
            return 455;
        *out = s;
        return 0;
    }
    for (int i = 0; i < SIM_CONN_SESSIONS; i++) {
        s = &c->sessions[i];
        if (s->in_use)
            continue;
        memset(s, 0, sizeof(*s));
        s->in_use = 1;
        s->conn = c;
        s->cam = cam;
        snprintf(s->id, sizeof(s->id), "%016llx", (unsigned long long)sim_rand_next(&srv->rng));
        *out = s;
        return 0;
    }
    return 453;
}

static void do_setup(struct sim_server *srv, struct sim_conn *c, const struct sim_rtsp_req *req)
{
    struct sim_transport tp;
    struct sim_session *s = NULL;
    struct sim_track_out *t;
    char headers[512];
    int cam, stream, code;

    if (sim_rtsp_parse_target(req->url, srv->cfg.name, srv->cfg.cameras, &cam, &stream) != 0) {
        respond(srv, c, req, 404, "", NULL, 0);
        return;
    }
    if (stream < 0 && srv->clip->n_tracks == 1)
        stream = 0;
    if (stream < 0 || stream >= srv->clip->n_tracks) {
        respond(srv, c, req, stream < 0 ? 459 : 404, "", NULL, 0);
        return;
    }
    if (sim_rtsp_parse_transport(req->transport, &tp) != 0) {
        respond(srv, c, req, 461, "", NULL, 0);
        return;
    }
    code = setup_session(srv, c, req, cam, &s);
    if (code != 0) {
        respond(srv, c, req, code, "", NULL, 0);
        return;
    }
    t = &s->tracks[stream];
    memset(t, 0, sizeof(*t));
    t->setup = 1;
    t->tcp = tp.tcp;
    t->ssrc = (uint32_t)sim_rand_next(&srv->rng);
    t->seq = (uint16_t)sim_rand_next(&srv->rng);
    t->ts_base = (uint32_t)sim_rand_next(&srv->rng);
    if (tp.tcp) {
        t->channel[0] = (uint8_t)(tp.interleaved[0] >= 0 ? tp.interleaved[0] : 2 * stream);
        t->channel[1] = (uint8_t)(tp.interleaved[0] >= 0 ? tp.interleaved[1] : 2 * stream + 1);
        snprintf(headers, sizeof(headers),
                 "Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d;ssrc=%08X\r\n"
                 "Session: %s;timeout=%d\r\n",
                 t->channel[0], t->channel[1], t->ssrc, s->id, SIM_SESSION_TIMEOUT_S);
    } else {
        for (int i = 0; i < 2; i++) {
            t->addr[i] = c->peer;
            t->addr[i].sin_port = htons((uint16_t)tp.client_port[i]);
        }
        snprintf(headers, sizeof(headers),
                 "Transport: RTP/AVP;unicast;client_port=%d-%d;server_port=%d-%d;ssrc=%08X\r\n"
                 "Session: %s;timeout=%d\r\n",
                 tp.client_port[0], tp.client_port[1], srv->udp_port[0], srv->udp_port[1], t->ssrc,
                 s->id, SIM_SESSION_TIMEOUT_S);
    }
    respond(srv, c, req, 200, headers, NULL, 0);
}

static void start_playing(struct sim_server *srv, struct sim_session *s)
{
    s->playing = 1;
    s->start_us = srv->now_us;
    s->wall_start_us = sim_wall_us();
    s->cursor = 0;
    s->loop = 0;
    s->next_sr_us = srv->now_us; /* the first report goes out before the first packet */
    srv->stats.sessions_total++;
    srv->stats.sessions_active++;
    srv->stats.cams[s->cam].sessions++;
    srv->stats.cams[s->cam].sessions_active++;
}

static void do_play(struct sim_server *srv, struct sim_conn *c, const struct sim_rtsp_req *req)
{
    struct sim_session *s = req->session[0] ? find_session(c, req->session) : NULL;
    char headers[4096], base[1100];
    size_t n;
    int any = 0;

    if (s == NULL) {
        respond(srv, c, req, 454, "", NULL, 0);
        return;
    }
    for (int i = 0; i < srv->clip->n_tracks; i++)
        any |= s->tracks[i].setup;
    if (!any) {
        respond(srv, c, req, 455, "", NULL, 0);
        return;
    }
    n = (size_t)snprintf(headers, sizeof(headers),
                         "Session: %s;timeout=%d\r\nRange: npt=0.000-\r\n", s->id,
                         SIM_SESSION_TIMEOUT_S);
    if (!s->playing) {
        const char *sep = "RTP-Info: ";
        base_url(req, base, sizeof(base));
        start_playing(srv, s);
        /* Every track's first packet has rtp_ts 0, so it carries ts_base. */
        for (int i = 0; i < srv->clip->n_tracks && n < sizeof(headers); i++) {
            if (!s->tracks[i].setup)
                continue;
            n += (size_t)snprintf(headers + n, sizeof(headers) - n,
                                  "%surl=%s/streamid=%d;seq=%u;rtptime=%u", sep, base, i,
                                  s->tracks[i].seq, s->tracks[i].ts_base);
            sep = ",";
        }
        if (n < sizeof(headers))
            n += (size_t)snprintf(headers + n, sizeof(headers) - n, "\r\n");
    }
    if (n >= sizeof(headers)) {
        respond(srv, c, req, 500, "", NULL, 0);
        return;
    }
    respond(srv, c, req, 200, headers, NULL, 0);
    if (!c->dead)
        sim_session_pump(srv, c, s);
}

static void do_teardown(struct sim_server *srv, struct sim_conn *c, const struct sim_rtsp_req *req)
{
    struct sim_session *s = req->session[0] ? find_session(c, req->session) : NULL;

    if (s == NULL) {
        respond(srv, c, req, 454, "", NULL, 0);
        return;
    }
    sim_session_end(srv, s, 0);
    respond(srv, c, req, 200, "", NULL, 0);
}

static void do_keepalive(struct sim_server *srv, struct sim_conn *c, const struct sim_rtsp_req *req)
{
    char headers[256] = "";

    if (req->session[0]) {
        struct sim_session *s = find_session(c, req->session);
        if (s == NULL) {
            respond(srv, c, req, 454, "", NULL, 0);
            return;
        }
        snprintf(headers, sizeof(headers), "Session: %s;timeout=%d\r\n", s->id,
                 SIM_SESSION_TIMEOUT_S);
    }
    respond(srv, c, req, 200, headers, NULL, 0);
}

void sim_session_request(struct sim_server *srv, struct sim_conn *c, const struct sim_rtsp_req *req)
{
    if (req->cseq < 0) {
        respond(srv, c, req, 400, "", NULL, 0);
        return;
    }
    if (strcmp(req->version, "RTSP/1.0") != 0) {
        respond(srv, c, req, 505, "", NULL, 0);
        return;
    }
    if (strcmp(req->method, "OPTIONS") == 0)
        do_options(srv, c, req);
    else if (strcmp(req->method, "DESCRIBE") == 0)
        do_describe(srv, c, req);
    else if (strcmp(req->method, "SETUP") == 0)
        do_setup(srv, c, req);
    else if (strcmp(req->method, "PLAY") == 0)
        do_play(srv, c, req);
    else if (strcmp(req->method, "TEARDOWN") == 0)
        do_teardown(srv, c, req);
    else if (strcmp(req->method, "GET_PARAMETER") == 0 || strcmp(req->method, "SET_PARAMETER") == 0)
        do_keepalive(srv, c, req);
    else
        respond(srv, c, req, 501, "", NULL, 0);
}

void sim_session_end(struct sim_server *srv, struct sim_session *s, int dropped)
{
    sim_wheel_remove(srv, s);
    if (s->in_use && s->playing) {
        srv->stats.sessions_active--;
        srv->stats.cams[s->cam].sessions_active--;
        if (dropped)
            srv->stats.sessions_dropped++;
    }
    memset(s, 0, sizeof(*s));
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Builds an RTCP compound packet (SR + SDES CNAME) for track i into buf; returns its size. */
static size_t build_sr(const struct sim_server *srv, const struct sim_session *s, int i,
                       uint8_t buf[48])
{
    const struct sim_track_out *t = &s->tracks[i];
    int64_t elapsed = srv->now_us - s->start_us;
    int64_t wall = s->wall_start_us + elapsed;
    uint64_t sec = (uint64_t)(wall / 1000000) + NTP_UNIX_OFFSET;
    uint64_t frac = ((uint64_t)(wall % 1000000) << 32) / 1000000;
    uint32_t ts =
        t->ts_base + (uint32_t)av_rescale(elapsed, srv->clip->tracks[i].clock_rate, 1000000);

    buf[0] = 0x80;
    buf[1] = 200; /* SR */
    buf[2] = 0;
    buf[3] = 6;
    put32(buf + 4, t->ssrc);
    put32(buf + 8, (uint32_t)sec);
    put32(buf + 12, (uint32_t)frac);
    put32(buf + 16, ts);
    put32(buf + 20, t->packets);
    put32(buf + 24, t->octets);
    /* SDES with one chunk: SSRC, CNAME "camsim", end, padded to 32 bits (16 bytes). */
    buf[28] = 0x81;
    buf[29] = 202;
    buf[30] = 0;
    buf[31] = 4;
    put32(buf + 32, t->ssrc);
    buf[36] = 1;
    buf[37] = 6;
    memcpy(buf + 38, "camsim", 6);
    memset(buf + 44, 0, 4);
    return 48;
}

static void send_reports(struct sim_server *srv, struct sim_conn *c, struct sim_session *s)
{
    for (int i = 0; i < srv->clip->n_tracks && !c->dead; i++) {
        struct sim_track_out *t = &s->tracks[i];
        uint8_t pkt[4 + 48];
        size_t len;

        if (!t->setup)
            continue;
        len = build_sr(srv, s, i, pkt + 4);
        if (t->tcp) {
            struct iovec iov = {pkt, 4 + len};
            pkt[0] = '$';
            pkt[1] = t->channel[1];
            pkt[2] = (uint8_t)(len >> 8);
            pkt[3] = (uint8_t)len;
            sim_conn_queue(srv, c, &iov, 1);
        } else {
            /* Rare enough (every 2 s) to go straight out; a lost report is harmless. */
            sendto(srv->udp_fd[1], pkt + 4, len, MSG_DONTWAIT, (struct sockaddr *)&t->addr[1],
                   sizeof(t->addr[1]));
        }
    }
}

static void queue_udp(struct sim_server *srv, const struct sim_track_out *t, const uint8_t *hdr,
                      const uint8_t *payload, size_t payload_len, int cam, int video, int frames)
{
    struct sim_udp_batch *b = &srv->batch;
    int k;

    if (b->n == SIM_UDP_BATCH)
        sim_udp_flush(srv);
    k = b->n++;
    memcpy(b->hdr[k], hdr, SIM_RTP_HEADER);
    b->addr[k] = t->addr[0];
    b->iov[k][0].iov_base = b->hdr[k];
    b->iov[k][0].iov_len = SIM_RTP_HEADER;
    b->iov[k][1].iov_base = (void *)payload;
    b->iov[k][1].iov_len = payload_len;
    memset(&b->msgs[k], 0, sizeof(b->msgs[k]));
    b->msgs[k].msg_hdr.msg_name = &b->addr[k];
    b->msgs[k].msg_hdr.msg_namelen = sizeof(b->addr[k]);
    b->msgs[k].msg_hdr.msg_iov = b->iov[k];
    b->msgs[k].msg_hdr.msg_iovlen = 2;
    b->cam[k] = cam;
    b->video[k] = (uint8_t)(video ? frames : 0);
    b->audio[k] = (uint8_t)(video ? 0 : frames);
}

void sim_udp_flush(struct sim_server *srv)
{
    struct sim_udp_batch *b = &srv->batch;
    int off = 0;

    while (off < b->n) {
        int r = sendmmsg(srv->udp_fd[0], b->msgs + off, (unsigned)(b->n - off), MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* Socket buffer full or a bad destination: UDP media is lossy anyway. */
            srv->udp_dropped += (uint64_t)(b->n - off);
            break;
        }
        for (int k = off; k < off + r; k++) {
            srv->stats.cams[b->cam[k]].video_frames_sent += b->video[k];
            srv->stats.cams[b->cam[k]].audio_frames_sent += b->audio[k];
        }
        off += r;
    }
    b->n = 0;
}

/* Adds one interleaved packet to srv->gather (committing it first when full or when it holds
 * another connection's packets); the payload stays in the clip. */
static void gather_tcp(struct sim_server *srv, struct sim_conn *c,
                       const uint8_t hdr[4 + SIM_RTP_HEADER], const uint8_t *payload,
                       size_t payload_len, int cam, int video, int frames)
{
    struct sim_gather *g = &srv->gather;
    int k;

    if (g->conn != c || g->n_iov + 2 > SIM_OUTQ_IOV_MAX)
        sim_gather_commit(srv);
    g->conn = c;
    k = g->n_iov / 2;
    memcpy(g->hdr[k], hdr, 4 + SIM_RTP_HEADER);
    g->iov[g->n_iov].iov_base = g->hdr[k];
    g->iov[g->n_iov++].iov_len = 4 + SIM_RTP_HEADER;
    g->iov[g->n_iov].iov_base = (void *)payload;
    g->iov[g->n_iov++].iov_len = payload_len;
    g->bytes += 4 + SIM_RTP_HEADER + payload_len;
    if (frames) {
        g->marks[g->n_marks].end = g->bytes;
        g->marks[g->n_marks].cam = cam;
        g->marks[g->n_marks].video = (uint16_t)(video ? frames : 0);
        g->marks[g->n_marks].audio = (uint16_t)(video ? 0 : frames);
        g->n_marks++;
    }
}

/* Sends packet p of the clip on session s. */
static void send_packet(struct sim_server *srv, struct sim_conn *c, struct sim_session *s,
                        const struct sim_clip_packet *p)
{
    const struct sim_clip *clip = srv->clip;
    struct sim_track_out *t = &s->tracks[p->track];
    const uint8_t *src = clip->data + p->offset;
    int video = clip->tracks[p->track].is_video;
    uint8_t hdr[4 + SIM_RTP_HEADER];
    uint32_t ts = t->ts_base + (uint32_t)(s->loop * clip->tracks[p->track].loop_ts) + p->rtp_ts;
    size_t payload_len = p->size - SIM_RTP_HEADER;

    /* Keep V/P/X/CC and M/PT from the muxer; rewrite sequence, timestamp and SSRC. */
    hdr[4] = src[0];
    hdr[5] = src[1];
    hdr[6] = (uint8_t)(t->seq >> 8);
    hdr[7] = (uint8_t)t->seq;
    put32(hdr + 8, ts);
    put32(hdr + 12, t->ssrc);
    t->seq++;
    t->packets++;
    t->octets += (uint32_t)payload_len;
    if (!t->tcp) {
        queue_udp(srv, t, hdr + 4, src + SIM_RTP_HEADER, payload_len, s->cam, video, p->frames);
        return;
    }
    hdr[0] = '$';
    hdr[1] = t->channel[0];
    hdr[2] = (uint8_t)(p->size >> 8);
    hdr[3] = (uint8_t)p->size;
    gather_tcp(srv, c, hdr, src + SIM_RTP_HEADER, payload_len, s->cam, video, p->frames);
}

void sim_session_pump(struct sim_server *srv, struct sim_conn *c, struct sim_session *s)
{
    const struct sim_clip *clip = srv->clip;
    int64_t elapsed = srv->now_us - s->start_us;
    int64_t due = 0;
    int budget;

    if (srv->now_us >= s->next_sr_us) {
        send_reports(srv, c, s);
        s->next_sr_us += SIM_SR_INTERVAL_US;
        if (s->next_sr_us <= srv->now_us)
            s->next_sr_us = srv->now_us + SIM_SR_INTERVAL_US;
    }
    for (budget = SIM_PUMP_BUDGET; budget > 0 && !c->dead; budget--) {
        const struct sim_clip_packet *p = &clip->packets[s->cursor];

        due = (int64_t)s->loop * clip->duration_us + p->time_us;
        if (due > elapsed)
            break;
        if (s->tracks[p->track].setup)
            send_packet(srv, c, s, p);
        if (++s->cursor == clip->n_packets) {
            s->cursor = 0;
            s->loop++;
        }
    }
    /* One sendmsg for everything due (and whatever the queue held before it). */
    sim_conn_flush(srv, c);
    if (c->dead || !s->playing)
        return;
    /* Wait for the next packet (now, if the budget ran out) or the next report. */
    s->wake_us = budget == 0 ? srv->now_us : s->start_us + due;
    if (s->next_sr_us < s->wake_us)
        s->wake_us = s->next_sr_us;
    if (s->wheel_slot == 0)
        sim_wheel_insert(srv, s);
}
