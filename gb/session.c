/*
 * session.c: INVITE, ACK and BYE of the upper platform (GB/T 28181-2016 sections 9.2, 9.8):
 * the SDP offer read (s=Play or s=Playback, c=, m=video PORT RTP/AVP or TCP/RTP/AVP with
 * a=setup, y= SSRC, t= for playback), the answer (sendonly, PS/90000, the offered y=; over TCP
 * a=setup:active when the platform is passive or says nothing, passive when it is active), the
 * stream started at ACK and stopped at BYE. Every stream is one audit record (who: the platform's ID).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "common/log.h"
#include "gb/gb_int.h"
#include "common/banned.h"

/* What the platform's SDP offer asks for. */
struct offer {
    char name[16];      /* s=: Play, Playback, Download */
    char ip[48];        /* c=IN IP4 */
    int port;           /* m=video */
    bool tcp;           /* m=video ... TCP/RTP/AVP */
    bool platform_active; /* a=setup:active: the platform connects, we listen */
    bool ps;            /* a=rtpmap:N PS/90000 among the offered types */
    char ssrc[16];      /* y= */
    int speed;          /* a=downloadspeed: (s=Download) */
    int64_t start, end; /* t= (Unix seconds) */
};

static int read_offer(const char *sdp, size_t len, struct offer *o, struct cv_err *err)
{
    const char *p = sdp, *end = sdp + len;

    memset(o, 0, sizeof(*o));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = (size_t)((nl ? nl : end) - p);
        char line[256];
        if (ll && p[ll - 1] == '\r')
            ll--;
        if (ll < sizeof(line)) {
            memcpy(line, p, ll);
            line[ll] = 0;
            if (strncmp(line, "s=", 2) == 0)
                cv_strlcpy(o->name, line + 2, sizeof(o->name));
            else if (strncmp(line, "c=IN IP4 ", 9) == 0)
                cv_strlcpy(o->ip, line + 9, sizeof(o->ip));
            else if (strncmp(line, "m=video ", 8) == 0) {
                char proto[32] = "";
                if (sscanf(line + 8, "%d %31s", &o->port, proto) != 2)
                    o->port = 0;
                o->tcp = strncasecmp(proto, "TCP", 3) == 0;
            } else if (strncmp(line, "a=rtpmap:", 9) == 0 && strcasestr(line, " PS/90000"))
                o->ps = true;
            else if (strncmp(line, "a=downloadspeed:", 16) == 0)
                o->speed = (int)strtol(line + 16, NULL, 10);
            else if (strcmp(line, "a=setup:active") == 0)
                o->platform_active = true;
            else if (strncmp(line, "y=", 2) == 0)
                cv_strlcpy(o->ssrc, line + 2, sizeof(o->ssrc));
            else if (strncmp(line, "t=", 2) == 0) {
                long long s = 0, e = 0;
                if (sscanf(line + 2, "%lld %lld", &s, &e) == 2) {
                    o->start = s;
                    o->end = e;
                }
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (!o->ip[0] || o->port < 1 || o->port > 65535)
        return cv_errf(err, CV_EINVAL, "the SDP offer has no c=IN IP4 address or m=video port");
    if (!o->ps)
        return cv_errf(err, CV_EINVAL, "the SDP offer does not offer PS/90000");
    if (o->ssrc[0] && (strlen(o->ssrc) > 10 || strspn(o->ssrc, "0123456789") != strlen(o->ssrc)))
        return cv_errf(err, CV_EINVAL, "y= '%s' is not an SSRC of up to 10 digits", o->ssrc);
    if (strcasecmp(o->name, "Play") != 0 && strcasecmp(o->name, "Playback") != 0 &&
        strcasecmp(o->name, "Download") != 0)
        return cv_errf(err, CV_EINVAL, "s=%s is not implemented (Play, Playback and Download "
                       "are)", o->name);
    if (strcasecmp(o->name, "Play") != 0 && (o->start <= 0 || o->end <= o->start))
        return cv_errf(err, CV_EINVAL, "s=%s without a t=START END range", o->name);
    if (o->speed < 1 || o->speed > 16)
        o->speed = 4; /* over UDP a download cannot wait for the reader: 4 times real time */
    return 0;
}

static struct gb_session *find_session(struct gb_agent *a, const char *call_id)
{
    for (size_t i = 0; i < GB_SESSIONS_MAX; i++)
        if (a->sessions[i].used && strcmp(a->sessions[i].call_id, call_id) == 0)
            return &a->sessions[i];
    return NULL;
}

static void session_end(struct gb_session *s)
{
    gb_media_stop(s->media);
    if (s->sock >= 0 && !s->media)
        close(s->sock);
    memset(s, 0, sizeof(*s));
    s->sock = -1;
}

/* A socket for the session's RTP, bound to the listen address and any port: UDP, TCP to
 * connect from, or TCP listening for the platform. */
static int rtp_socket(struct gb_agent *a, enum gb_rtp_mode mode, uint16_t *port)
{
    struct sockaddr_in me = {0};
    socklen_t ml = sizeof(me);
    int s = socket(AF_INET, (mode == GB_RTP_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    int sz = 4 << 20;

    me.sin_family = AF_INET;
    inet_pton(AF_INET, a->cfg.listen_addr, &me.sin_addr);
    if (s < 0 || bind(s, (const struct sockaddr *)&me, sizeof(me)) < 0 ||
        (mode == GB_RTP_TCP_ACCEPT && listen(s, 1) < 0) ||
        getsockname(s, (struct sockaddr *)&me, &ml) < 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    *port = ntohs(me.sin_port);
    return s;
}

void gb_on_invite(struct gb_agent *a, const struct gb_sip_msg *m, const struct sockaddr_in *from)
{
    struct gb_session *s = find_session(a, m->call_id);
    struct offer o;
    struct cv_err err = {""};
    char channel[64] = "", sdp[768], contact[128];
    uint16_t port = 0;
    int n;

    if (s) { /* a retransmission or re-INVITE: the session stays as it is */
        gb_respond(a, m, from, 200, "OK", NULL, "application/sdp", s->answer, strlen(s->answer));
        return;
    }
    if (gb_sip_uri_user(m->uri, channel, sizeof(channel)) < 0 ||
        gb_camera_by_channel(a, channel, &(struct idx_camera){0}) < 0) {
        cv_warn("gb: INVITE from %s for unknown channel '%.24s'", a->cfg.up_id, channel);
        gb_respond(a, m, from, 404, "Not Found", NULL, NULL, NULL, 0);
        return;
    }
    if (read_offer(m->body, m->body_len, &o, &err) < 0) {
        cv_warn("gb: INVITE from %s for channel %s: %s", a->cfg.up_id, channel, err.msg);
        gb_respond(a, m, from, 488, "Not Acceptable Here", NULL, NULL, NULL, 0);
        return;
    }
    for (size_t i = 0; i < GB_SESSIONS_MAX && !s; i++)
        if (!a->sessions[i].used)
            s = &a->sessions[i];
    if (!s) {
        cv_warn("gb: INVITE from %s refused: %d streams already", a->cfg.up_id, GB_SESSIONS_MAX);
        gb_respond(a, m, from, 486, "Busy Here", NULL, NULL, NULL, 0);
        return;
    }
    memset(s, 0, sizeof(*s));
    s->mode = !o.tcp ? GB_RTP_UDP : o.platform_active ? GB_RTP_TCP_ACCEPT : GB_RTP_TCP_CONNECT;
    s->sock = rtp_socket(a, s->mode, &port);
    if (s->sock < 0) {
        cv_error("gb: no port for RTP on %s: %s", a->cfg.listen_addr, strerror(errno));
        s->sock = -1;
        gb_respond(a, m, from, 500, "Server Internal Error", NULL, NULL, NULL, 0);
        return;
    }
    s->used = true;
    s->invited_us = cv_mono_us();
    gb_camera_by_channel(a, channel, &s->cam);
    cv_strlcpy(s->call_id, m->call_id, sizeof(s->call_id));
    cv_strlcpy(s->channel, channel, sizeof(s->channel));
    s->dest.sin_family = AF_INET;
    s->dest.sin_port = htons((uint16_t)o.port);
    inet_pton(AF_INET, o.ip, &s->dest.sin_addr);
    s->ssrc = (uint32_t)strtoul(o.ssrc, NULL, 10);
    s->playback = strcasecmp(o.name, "Play") != 0;
    s->speed = strcasecmp(o.name, "Download") != 0 ? 1 : o.tcp ? 0 : o.speed;
    cv_strlcpy(s->sname, strcasecmp(o.name, "Download") == 0 ? "Download"
                         : s->playback ? "Playback" : "Play", sizeof(s->sname));
    s->from_us = o.start * CV_US_PER_S;
    s->to_us = o.end * CV_US_PER_S;
    n = snprintf(sdp, sizeof(sdp),
                 "v=0\r\no=%s 0 0 IN IP4 %s\r\ns=%s\r\nc=IN IP4 %s\r\nt=%lld %lld\r\n"
                 "m=video %u %sRTP/AVP 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\n%s%s"
                 "y=%s\r\n",
                 channel, a->local_ip, s->sname, a->local_ip,
                 (long long)o.start, (long long)o.end, (unsigned)port, o.tcp ? "TCP/" : "",
                 !o.tcp ? "" : o.platform_active ? "a=setup:passive\r\n" : "a=setup:active\r\n",
                 o.tcp ? "a=connection:new\r\n" : "", o.ssrc[0] ? o.ssrc : "0");
    cv_strlcpy(s->answer, sdp, sizeof(s->answer));
    snprintf(contact, sizeof(contact), "Contact: <sip:%s@%s:%u>\r\n", channel, a->local_ip,
             (unsigned)a->cfg.listen_port);
    gb_respond(a, m, from, 200, "OK", contact, "application/sdp", sdp, (size_t)n);
}

void gb_on_ack(struct gb_agent *a, const struct gb_sip_msg *m)
{
    struct gb_session *s = find_session(a, m->call_id);
    struct cv_err err = {""};
    char detail[96], f[32], t[32];

    if (!s || s->media)
        return;
    if (gb_media_start(&s->media, a, &s->cam, s->sock, s->mode, &s->dest, s->ssrc,
                       s->playback ? s->from_us : 0, s->playback ? s->to_us : 0, s->speed,
                       &err) < 0) {
        cv_error("gb: camera '%s': %s", s->cam.id, err.msg);
        return;
    }
    if (s->playback) {
        cv_time_format_utc(s->from_us, f, sizeof(f), 0);
        cv_time_format_utc(s->to_us, t, sizeof(t), 0);
        snprintf(detail, sizeof(detail), "channel %s %s..%s", s->channel, f, t);
    } else {
        snprintf(detail, sizeof(detail), "channel %s live", s->channel);
    }
    cv_info("gb: %s streams camera '%s' (%s) to %s over %s", a->cfg.up_id, s->cam.id, detail,
            inet_ntoa(s->dest.sin_addr),
            s->mode == GB_RTP_UDP ? "UDP" : s->mode == GB_RTP_TCP_CONNECT
                                                ? "TCP (camvault connects)"
                                                : "TCP (the platform connects)");
    if (a->cfg.audit)
        a->cfg.audit(a->cfg.audit_ctx, !s->playback ? "gb-live" : s->speed == 1 ? "gb-playback"
                                                                   : "gb-download", a->cfg.up_id,
                     s->cam.id, detail);
}

void gb_on_bye(struct gb_agent *a, const struct gb_sip_msg *m, const struct sockaddr_in *from)
{
    struct gb_session *s = find_session(a, m->call_id);

    if (!s) {
        gb_respond(a, m, from, 481, "Call/Transaction Does Not Exist", NULL, NULL, NULL, 0);
        return;
    }
    cv_info("gb: %s ended the stream of camera '%s' (BYE)", a->cfg.up_id, s->cam.id);
    session_end(s);
    gb_respond(a, m, from, 200, "OK", NULL, NULL, NULL, 0);
}

/*
 * MANSRTSP (GB/T 28181-2016 annex B): "PLAY MANSRTSP/1.0" (with an optional "Scale: 0.25..16")
 * or "PAUSE MANSRTSP/1.0", CSeq lines and the rest ignored. A Range (seeking) is not applied:
 * the playback goes on where it is (docs/gb28181.md).
 */
void gb_on_info(struct gb_agent *a, const struct gb_sip_msg *m, const struct sockaddr_in *from)
{
    struct gb_session *s = find_session(a, m->call_id);
    char body[512];
    const char *sc;
    double scale = 0;
    int pause;

    if (!s) {
        gb_respond(a, m, from, 481, "Call/Transaction Does Not Exist", NULL, NULL, NULL, 0);
        return;
    }
    snprintf(body, sizeof(body), "%.*s", (int)(m->body_len < 511 ? m->body_len : 511), m->body);
    if (strncmp(body, "PLAY MANSRTSP/1.0", 17) == 0)
        pause = 0;
    else if (strncmp(body, "PAUSE MANSRTSP/1.0", 18) == 0)
        pause = 1;
    else {
        cv_warn("gb: INFO from %s: not a MANSRTSP PLAY or PAUSE", a->cfg.up_id);
        gb_respond(a, m, from, 400, "Bad Request", NULL, NULL, NULL, 0);
        return;
    }
    sc = strcasestr(body, "\nScale:");
    if (sc && (sscanf(sc + 7, "%lf", &scale) != 1 || scale < 0.25 || scale > 16)) {
        cv_warn("gb: INFO from %s: Scale out of 0.25 to 16", a->cfg.up_id);
        gb_respond(a, m, from, 400, "Bad Request", NULL, NULL, NULL, 0);
        return;
    }
    if (s->media && s->playback)
        gb_media_control(s->media, pause, (int)(scale * 1000));
    cv_info("gb: %s %s camera '%s'%s", a->cfg.up_id, pause ? "paused" : "plays", s->cam.id,
            scale > 0 ? " at a new scale" : "");
    gb_respond(a, m, from, 200, "OK", NULL, NULL, NULL, 0);
}

void gb_sessions_close(struct gb_agent *a)
{
    for (size_t i = 0; i < GB_SESSIONS_MAX; i++)
        if (a->sessions[i].used)
            session_end(&a->sessions[i]);
}

void gb_sessions_reap(struct gb_agent *a)
{
    for (size_t i = 0; i < GB_SESSIONS_MAX; i++) {
        struct gb_session *s = &a->sessions[i];
        if (s->used && s->media && gb_media_ended(s->media) && s->playback)
            continue; /* a finished playback waits for the platform's BYE */
        if (s->used && s->media && gb_media_ended(s->media))
            session_end(s);
        else if (s->used && !s->media && cv_mono_us() - s->invited_us > 32 * CV_US_PER_S) {
            cv_warn("gb: no ACK for the INVITE of camera '%s' in 32 s: session ended", s->cam.id);
            session_end(s); /* RFC 3261 timer H */
        }
    }
}
