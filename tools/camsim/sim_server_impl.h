/*
 * sim_server_impl.h: the server's internal state, shared by sim_server.c (event loop, sockets,
 * stats) and sim_session.c (RTSP methods, sessions, media pacing). Not an API: nothing outside
 * these two files includes it.
 *
 * Ownership: the server owns connections (a doubly linked list); a connection owns up to
 * SIM_CONN_SESSIONS sessions, which end when it closes. A connection that must go is only marked
 * dead and is freed after the current batch of epoll events, so no event refers to freed memory.
 * A playing session also sits in the server's timer wheel until it ends (sim_session_end takes
 * it out), so each 5 ms tick visits only the sessions that have something due.
 */
#ifndef CAMSIM_SIM_SERVER_IMPL_H
#define CAMSIM_SIM_SERVER_IMPL_H

#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <sys/queue.h>
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
#define SIM_WHEEL_SLOTS 512        /* timer wheel: 512 ticks of 5 ms = 2.56 s > any wait */

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

struct sim_conn;

struct sim_session {
    int in_use;
    int playing;
    struct sim_conn *conn; /* the connection that holds it */
    char id[17];           /* 16 hex digits */
    int cam;               /* 0-based camera index */
    struct sim_track_out tracks[SIM_CLIP_MAX_TRACKS];
    int64_t start_us;      /* monotonic time of media time 0, loop 0 */
    int64_t wall_start_us; /* wall clock at start_us, for RTCP NTP times */
    size_t cursor;         /* next packet in clip->packets */
    uint64_t loop;         /* completed loops */
    int64_t next_sr_us;    /* monotonic time of the next sender report */
    /* Timer wheel links: a playing session waits in the slot of its next packet or report. */
    int wheel_slot; /* slot + 1 while in the wheel (SIM_WHEEL_SLOTS + 1: due list), else 0 */
    int64_t wake_us;
    struct sim_session *wheel_prev, *wheel_next;
};

struct sim_conn {
    struct sim_watch watch; /* kind SIM_W_CONN; must stay first */
    int fd;
    int dead;     /* close after the current event batch */
    int dropped;  /* the server ended it (overflow, timeout) */
    int want_out; /* EPOLLOUT is registered */
    LIST_ENTRY(sim_conn) link; /* in srv->conns */
    struct sockaddr_in peer;
    char in[SIM_RTSP_REQUEST_MAX]; /* received, not yet parsed */
    size_t in_len;
    size_t skip; /* bytes of an interleaved frame from the client to discard */
    struct sim_outq out;
    int64_t last_rx_us;
    struct sim_session sessions[SIM_CONN_SESSIONS];
};

/*
 * Interleaved RTP packets of one session collected during one pump and sent with one sendmsg()
 * straight from the clip (sim_outq_sendv): a 4-byte '$' header plus a rewritten RTP header per
 * packet in hdr, the payload referenced in place. marks: frames completed, at byte offsets
 * relative to the start of the batch.
 */
struct sim_gather {
    struct sim_conn *conn;
    struct iovec iov[SIM_OUTQ_IOV_MAX];
    uint8_t hdr[SIM_OUTQ_IOV_MAX / 2][4 + SIM_RTP_HEADER];
    struct {
        uint64_t end;
        int cam;
        uint16_t video, audio;
    } marks[SIM_OUTQ_IOV_MAX / 2];
    int n_iov, n_marks;
    size_t bytes;
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
    LIST_HEAD(, sim_conn) conns; /* <sys/queue.h> */
    int n_conns;
    struct sim_stats stats;
    struct sim_udp_batch batch;
    struct sim_gather gather;
    /* Timer wheel of playing sessions; heads[SIM_WHEEL_SLOTS] is the list being run. */
    struct sim_session *wheel[SIM_WHEEL_SLOTS + 1];
    int64_t wheel_tick;   /* last tick (now / SIM_TICK_US) whose slot was run */
    int reap_due;         /* a connection was marked dead since the last reap */
    uint64_t udp_dropped; /* datagrams the kernel would not take */
    uint64_t rng;
    int64_t now_us; /* monotonic, refreshed at each wake-up */
    int stop;
};

/* sim_session.c: handles one parsed request on c; body is content_length bytes. */
void sim_session_request(struct sim_server *srv, struct sim_conn *c,
                         const struct sim_rtsp_req *req);

/* sim_session.c: sends what is due for a playing session (sender reports first) and puts it
 * back in the timer wheel at its next packet or report. */
void sim_session_pump(struct sim_server *srv, struct sim_conn *c, struct sim_session *s);

/* sim_session.c: ends a session and updates the counters. dropped: the server ended it. */
void sim_session_end(struct sim_server *srv, struct sim_session *s, int dropped);

/* sim_session.c: sends the datagrams collected in srv->batch. */
void sim_udp_flush(struct sim_server *srv);

/* sim_server.c: puts a playing session in the wheel slot of s->wake_us (never one already run). */
void sim_wheel_insert(struct sim_server *srv, struct sim_session *s);

/* sim_server.c: takes s out of the wheel if it is in it. */
void sim_wheel_remove(struct sim_server *srv, struct sim_session *s);

/* sim_server.c: sends srv->gather (queued bytes of its connection first); on overflow marks the
 * connection dead and dropped. Empties the gather. */
void sim_gather_commit(struct sim_server *srv);

/* sim_server.c: marks c dead (closed after the event batch); dropped: the server ended it. */
void sim_conn_kill(struct sim_server *srv, struct sim_conn *c, int dropped);

/* sim_server.c: queues bytes on c. On overflow marks c dead and dropped and returns -1. */
int sim_conn_queue(struct sim_server *srv, struct sim_conn *c, const struct iovec *iov, int n);

/* sim_server.c: marks c dead and dropped (a slow or silent client); freed after the batch. */
void sim_conn_drop(struct sim_server *srv, struct sim_conn *c);

/* sim_server.c: writes what c's socket takes now and counts delivered frames. */
void sim_conn_flush(struct sim_server *srv, struct sim_conn *c);

#endif
