/*
 * sim_server_impl.h: the server's internal state, shared by sim_server.c (event loop, sockets,
 * stats) and sim_session.c (RTSP methods, sessions, media pacing). Not an API: nothing outside
 * these two files includes it.
 *
 * Ownership: the server owns connections (a doubly linked list); a connection owns up to
 * SIM_CONN_SESSIONS sessions, which end when it closes. A connection that must go is only marked
 * dead and is freed after the current batch of epoll events, so no event refers to freed memory.
 */
#ifndef CAMSIM_SIM_SERVER_IMPL_H
#define CAMSIM_SIM_SERVER_IMPL_H

#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tools/camsim/sim_clip.h"
#include "tools/camsim/sim_config.h"
#include "tools/camsim/sim_outq.h"
#include "tools/camsim/sim_rtsp.h"
#include "tools/camsim/sim_server.h"
#include "tools/camsim/sim_stats.h"

#define SIM_MAX_CONNS 8192         /* concurrent RTSP connections */
#define SIM_CONN_SESSIONS 4        /* sessions one connection may hold */
#define SIM_SNDBUF (256 << 10)     /* kernel send buffer per connection (doubled by Linux) */
#define SIM_SESSION_TIMEOUT_S 60   /* advertised in the Session header */
#define SIM_TICK_US 5000           /* pacing granularity */
#define SIM_SR_INTERVAL_US 2000000 /* RTCP sender report period */
#define SIM_PUMP_BUDGET 4096       /* packets per session per tick, bounds a catch-up burst */
#define SIM_UDP_BATCH 64           /* datagrams per sendmmsg */

enum sim_watch_kind { SIM_W_LISTEN, SIM_W_TIMER, SIM_W_SIGNAL, SIM_W_UDP, SIM_W_CONN };

/* What an epoll event's data.ptr points at. */
struct sim_watch {
    enum sim_watch_kind kind;
};

/* One set-up stream of a session. */
struct sim_track_out {
    int setup;
    int tcp;                    /* interleaved on the RTSP connection, else UDP */
    uint8_t channel[2];         /* TCP: RTP and RTCP channel numbers */
    struct sockaddr_in addr[2]; /* UDP: RTP and RTCP destinations */
    uint32_t ssrc;
    uint16_t seq;             /* next sequence number */
    uint32_t ts_base;         /* RTP timestamp of media time 0 of loop 0 */
    uint32_t packets, octets; /* sent so far, for sender reports */
};

struct sim_session {
    int in_use;
    int playing;
    char id[17]; /* 16 hex digits */
    int cam;     /* 0-based camera index */
    struct sim_track_out tracks[SIM_CLIP_MAX_TRACKS];
    int64_t start_us;      /* monotonic time of media time 0, loop 0 */
    int64_t wall_start_us; /* wall clock at start_us, for RTCP NTP times */
    size_t cursor;         /* next packet in clip->packets */
    uint64_t loop;         /* completed loops */
    int64_t next_sr_us;    /* monotonic time of the next sender report */
};

struct sim_conn {
    struct sim_watch watch; /* kind SIM_W_CONN; must stay first */
    int fd;
    int dead;     /* close after the current event batch */
    int dropped;  /* the server ended it (overflow, timeout) */
    int want_out; /* EPOLLOUT is registered */
    struct sim_conn *prev, *next;
    struct sockaddr_in peer;
    char in[SIM_RTSP_REQUEST_MAX]; /* received, not yet parsed */
    size_t in_len;
    size_t skip; /* bytes of an interleaved frame from the client to discard */
    struct sim_outq out;
    int64_t last_rx_us;
    struct sim_session sessions[SIM_CONN_SESSIONS];
};

/* Datagrams collected during one tick, sent with sendmmsg. */
struct sim_udp_batch {
    struct mmsghdr msgs[SIM_UDP_BATCH];
    struct iovec iov[SIM_UDP_BATCH][2];
    uint8_t hdr[SIM_UDP_BATCH][SIM_RTP_HEADER];
    struct sockaddr_in addr[SIM_UDP_BATCH];
    int cam[SIM_UDP_BATCH];
    uint8_t video[SIM_UDP_BATCH], audio[SIM_UDP_BATCH];
    int n;
};

struct sim_server {
    struct sim_config cfg;
    const struct sim_clip *clip;
    int ep, listen_fd, timer_fd, signal_fd;
    int udp_fd[2]; /* RTP, RTCP */
    int udp_port[2];
    int listen_paused; /* accept hit the fd limit; re-armed each second */
    struct sim_watch w_listen, w_timer, w_signal, w_udp;
    struct sim_conn *conns;
    int n_conns;
    struct sim_stats stats;
    struct sim_udp_batch batch;
    uint64_t udp_dropped; /* datagrams the kernel would not take */
    uint64_t rng;
    int64_t now_us; /* monotonic, refreshed at each wake-up */
    int stop;
};

/* sim_session.c: handles one parsed request on c; body is content_length bytes. */
void sim_session_request(struct sim_server *srv, struct sim_conn *c,
                         const struct sim_rtsp_req *req);

/* sim_session.c: sends what is due for a playing session (sender reports first). */
void sim_session_pump(struct sim_server *srv, struct sim_conn *c, struct sim_session *s);

/* sim_session.c: ends a session and updates the counters. dropped: the server ended it. */
void sim_session_end(struct sim_server *srv, struct sim_session *s, int dropped);

/* sim_session.c: sends the datagrams collected in srv->batch. */
void sim_udp_flush(struct sim_server *srv);

/* sim_server.c: queues bytes on c. On overflow marks c dead and dropped and returns -1. */
int sim_conn_queue(struct sim_server *srv, struct sim_conn *c, const struct iovec *iov, int n);

/* sim_server.c: marks c dead and dropped (a slow or silent client); freed after the batch. */
void sim_conn_drop(struct sim_server *srv, struct sim_conn *c);

/* sim_server.c: writes what c's socket takes now and counts delivered frames. */
void sim_conn_flush(struct sim_server *srv, struct sim_conn *c);

#endif
