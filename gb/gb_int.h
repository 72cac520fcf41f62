/*
 * gb_int.h: what the files of the GB/T 28181 agent share (agent.c: transport, registration,
 * keepalive, dispatch; query.c: MANSCDP answers; media.c: INVITE sessions; ps.c: MPEG-PS over
 * RTP). Not part of gb.h's interface.
 */
#ifndef GB_GB_INT_H
#define GB_GB_INT_H

#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>

#include "common/buf.h"
#include "gb/gb.h"

#define GB_SESSIONS_MAX 32
#define GB_CATALOG_PER_MESSAGE 4 /* Items per Catalog MESSAGE: each datagram stays < 2 KiB */

struct gb_media;

/* How RTP goes to the platform: UDP, or TCP with RFC 4571 framing where camvault connects
 * (the offer's a=setup:passive, or none) or accepts (a=setup:active). */
enum gb_rtp_mode { GB_RTP_UDP, GB_RTP_TCP_CONNECT, GB_RTP_TCP_ACCEPT };

/* One INVITE dialog (session.c). */
struct gb_session {
    bool used;
    char call_id[128];
    char channel[GB_ID_LEN + 1];
    struct idx_camera cam;
    int sock;                   /* RTP out; the media's once it is started */
    enum gb_rtp_mode mode;
    struct sockaddr_in dest;    /* the platform's RTP address (c=, m=) */
    uint32_t ssrc;              /* y= */
    bool playback;              /* s=Playback or s=Download: an archived range */
    int speed;                  /* 1; a download: 0 over TCP, a=downloadspeed over UDP */
    char sname[16];             /* s= of the offer */
    int64_t from_us, to_us;     /* playback range */
    char answer[768];           /* our SDP, sent again for a retransmitted INVITE */
    struct gb_media *media;     /* started at ACK */
    int64_t invited_us;         /* cv_mono_us of the INVITE: no ACK in 32 s ends the session */
};

struct gb_agent {
    struct gb_config cfg;
    char root[PATH_MAX];
    struct idx *idx;
    int sock;
    struct sockaddr_in up;
    char local_ip[48];
    pthread_t thread;
    bool started;
    atomic_int stop;
    /* registration */
    int reg_state; /* REG_IDLE, REG_SENT, REG_OK */
    bool reg_authed;      /* the REGISTER in flight carries our Digest answer */
    bool registered_once; /* logged "registered" already (re-registrations log at debug) */
    bool unregistering;
    char reg_call_id[64], reg_tag[24];
    atomic_uint cseq; /* media threads send MESSAGEs too (MediaStatus) */
    uint32_t nc;
    int64_t reg_sent_at, reg_next_at, reg_retx_at, backoff_us, expires_s;
    int reg_retx;
    struct cv_buf reg_msg; /* the REGISTER in flight, for retransmission */
    /* keepalive */
    int64_t ka_next;
    int ka_unanswered;
    char ka_call_id[64];
    uint32_t sn;
    struct gb_session sessions[GB_SESSIONS_MAX];
    struct gb_devices *devs; /* GB devices registered to us (device.c) */
    struct gb_tcp *tcp;      /* SIP over TCP (tcp.c) */
};

/* ---- SIP over TCP (tcp.c) ---- */

#define GB_TCP_CONNS_MAX 64                   /* connections from peers at once */
#define GB_TCP_POLLFDS (GB_TCP_CONNS_MAX + 2) /* gb_tcp_pollfds' most */

struct pollfd;

/* Bind and listen on `me` (gb_listen): 0, or CV_ENET naming gb_listen and the cause. */
int gb_tcp_open(struct gb_agent *a, const struct sockaddr_in *me, struct cv_err *err);
void gb_tcp_close(struct gb_agent *a); /* every connection and the listener; NULL-safe */
/* The descriptors to poll into pfd (GB_TCP_POLLFDS): the listener first, then connections. */
size_t gb_tcp_pollfds(struct gb_agent *a, struct pollfd *pfd);
/* After poll: accept, read, frame and dispatch (gb_sip_dispatch), finish the upstream's
 * connect. Agent thread. */
void gb_tcp_events(struct gb_agent *a, const struct pollfd *pfd, size_t n);
/* Close connections that are silent, stuck in a message, or failed a send. Agent thread. */
void gb_tcp_timers(struct gb_agent *a);
/* gb_transport = tcp: start connecting to the platform (gb_up_connected or gb_up_lost
 * follow); 0 not connected, 1 connecting, 2 connected. Agent thread. */
void gb_tcp_up_connect(struct gb_agent *a);
int gb_tcp_up_state(const struct gb_agent *a);
/* Whether messages to `to` go over TCP (for Via): a connection with that peer, or the
 * upstream platform under gb_transport = tcp. Any thread. */
bool gb_tcp_has(struct gb_agent *a, const struct sockaddr_in *to);
/* Send one SIP message to `to`: on the TCP connection whose peer is `to` when there is one
 * (the upstream's under gb_transport = tcp, dropped while it is not connected), else as a
 * UDP datagram from gb_listen. Any thread. */
void gb_sip_send(struct gb_agent *a, const struct sockaddr_in *to, const void *p, size_t n);

/* agent.c, for tcp.c: one message (a datagram or framed from a connection) from `from`; the
 * upstream connection is made (register now), or lost or refused (one line, back off). */
void gb_sip_dispatch(struct gb_agent *a, const uint8_t *p, size_t n,
                     const struct sockaddr_in *from);
void gb_up_connected(struct gb_agent *a);
void gb_up_lost(struct gb_agent *a, const char *why);

/* Random lower-case hex (2 * nbytes digits) into out. */
void gb_random_hex(char *out, size_t nbytes);

/* Send a MESSAGE with a MANSCDP body to the upstream platform (agent.c). */
int gb_send_message(struct gb_agent *a, const char *body, size_t len);

/* Send the answer to request `req` (status, reason), with extra header lines `extra`
 * ("Name: value\r\n"..., or NULL), an optional body of content type ctype, to `to`. */
void gb_respond(struct gb_agent *a, const struct gb_sip_msg *req, const struct sockaddr_in *to,
                int status, const char *reason, const char *extra, const char *ctype,
                const char *body, size_t blen);

/* The MANSCDP body of MESSAGE m into *q: 0; or it logs "gb: MESSAGE from <who>: <cause>",
 * answers 400 Bad Request to `from` and returns -1 (agent.c). */
int gb_message_parse(struct gb_agent *a, const struct gb_sip_msg *m, const struct sockaddr_in *from,
                     const char *who, struct gb_manscdp *q);

/* Answer a MANSCDP query (the 200 to its MESSAGE is already sent) (query.c). */
void gb_query_answer(struct gb_agent *a, const struct gb_manscdp *q);

/* Find the camera whose channel ID is `channel`; 0 or CV_ENOENT (query.c). */
int gb_camera_by_channel(struct gb_agent *a, const char *channel, struct idx_camera *out);

/* INVITE, ACK, BYE of the platform (session.c). */
void gb_on_invite(struct gb_agent *a, const struct gb_sip_msg *m, const struct sockaddr_in *from);
void gb_on_ack(struct gb_agent *a, const struct gb_sip_msg *m);
void gb_on_bye(struct gb_agent *a, const struct gb_sip_msg *m, const struct sockaddr_in *from);
/* INFO with a MANSRTSP body (PLAY, PAUSE, Scale) in a playback or download dialog. */
void gb_on_info(struct gb_agent *a, const struct gb_sip_msg *m, const struct sockaddr_in *from);
/* End every session (stop). */
void gb_sessions_close(struct gb_agent *a);
/* Forget sessions whose stream ended by itself (playback end, camera gone). */
void gb_sessions_reap(struct gb_agent *a);

/* ---- GB devices registering to camvault (device.c, devstream.c) ---- */

struct gb_dev_stream;

/* Allocate and free the device table (agent start and stop). */
int gb_devices_open(struct gb_agent *a, struct cv_err *err);
void gb_devices_free(struct gb_agent *a);
/* A request of a device (REGISTER, or anything whose From is not the upstream platform):
 * answered, true; false when it is the upstream's. Agent thread. */
bool gb_dev_request(struct gb_agent *a, const struct gb_sip_msg *m,
                    const struct sockaddr_in *from);
/* A response to a request we sent a device (Catalog, INVITE, BYE): true when it was one. */
bool gb_dev_response(struct gb_agent *a, const struct gb_sip_msg *m);
/* Registrations that expired and devices whose keepalives stopped go offline. */
void gb_dev_timers(struct gb_agent *a);

/* ---- media (media.c) ---- */

/* Stream camera `cam` as PS over RTP to dest with `ssrc`: live from the newest complete
 * fragment when to_us == 0, else the archived [from_us, to_us) at `speed` times real time (0:
 * as fast as the socket takes it, a download over TCP). sock: UDP,
 * a bound TCP socket to connect to dest, or a listening one to accept the platform on (mode);
 * the media's from here on. */
int gb_media_start(struct gb_media **out, struct gb_agent *a, const struct idx_camera *cam,
                   int sock, enum gb_rtp_mode mode, const struct sockaddr_in *dest, uint32_t ssrc,
                   int64_t from_us, int64_t to_us, int speed, struct cv_err *err);
void gb_media_stop(struct gb_media *m); /* NULL-safe: stop, join, close the socket, free */
/* MANSRTSP: pause 1 (PAUSE), 0 (PLAY), -1 (as it is); scale_milli the Scale times 1000, 0 as
 * it is (an unpaced download stays unpaced). Any thread; the media thread paces on from its
 * next frame. */
void gb_media_control(struct gb_media *m, int pause, int scale_milli);
bool gb_media_ended(struct gb_media *m);

/* ---- MPEG-PS over RTP (ps.c) ---- */

enum gb_ps_codec { GB_PS_H264 = 0x1B, GB_PS_H265 = 0x24 };

struct gb_ps {
    int sock;
    struct sockaddr_in dest;
    uint32_t ssrc;
    uint16_t seq;
    enum gb_ps_codec video;
    bool g711; /* an audio stream is declared (G.711, 0x90) */
    bool tcp;  /* sock is a TCP connection: each RTP packet after a 2-byte length (RFC 4571) */
    struct cv_buf out;
    uint64_t packets, bytes, frames;
};

void gb_ps_init(struct gb_ps *ps, int sock, const struct sockaddr_in *dest, uint32_t ssrc,
                enum gb_ps_codec video, bool g711);
void gb_ps_release(struct gb_ps *ps);

/* One video access unit (Annex B) at pts/dts (90 kHz): pack header (+ system header and PSM
 * before a keyframe), PES packets, then RTP packets (payload type 96, marker on the last).
 * 0, or CV_ENET when the socket refuses. */
int gb_ps_video(struct gb_ps *ps, const uint8_t *au, size_t len, uint64_t pts, uint64_t dts,
                bool key, struct cv_err *err);
/* One G.711 audio frame (stream 0xC0). */
int gb_ps_audio(struct gb_ps *ps, const uint8_t *data, size_t len, uint64_t pts,
                struct cv_err *err);

/* The PS bytes of one access unit (no RTP), for tests and the fuzz target: into *out. */
void gb_ps_pack(struct cv_buf *out, const struct gb_ps *ps, uint8_t stream_id,
                const uint8_t *au, size_t len, uint64_t pts, uint64_t dts, bool key);

#endif
