/*
 * sim_server.c: camsim's event loop: sockets, connections, the pacing tick, signals and stats.
 *
 * One epoll set watches the RTSP listener, a 5 ms timerfd, a signalfd for SIGINT/SIGTERM, the
 * two UDP sockets (only to drain incoming RTCP) and every connection. Playing sessions wait in a
 * timer wheel (one slot per tick, SIM_WHEEL_SLOTS ticks around) in the slot of their next packet
 * or sender report, so a tick touches only the sessions with something due, not all of them
 * (a 25 fps session is due in one tick out of eight). A due session's interleaved packets go out
 * with one sendmsg() straight from the clip (sim_gather_commit, sim_outq_sendv); only what a
 * full socket does not take is copied into the connection's queue, which EPOLLOUT drains. UDP
 * datagrams go out with sendmmsg() once per tick. Once a second it writes the stats file, closes
 * connections idle past the session timeout and checks --duration.
 *
 * Connections are never freed while an epoll batch is being handled: they are marked dead and
 * reaped after it.
 */
#include "tools/camsim/sim_server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "tools/camsim/sim_server_impl.h"
#include "tools/camsim/sim_util.h"

#include "common/banned.h"

#define SIM_EVENTS 256

/* epoll_ctl op (EPOLL_CTL_ADD or _MOD) of fd for events, with w as its data. */
static int watch_ctl(struct sim_server *srv, int op, int fd, uint32_t events, struct sim_watch *w)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.ptr = w;
    return epoll_ctl(srv->ep, op, fd, &ev);
}

static int watch_add(struct sim_server *srv, int fd, uint32_t events, struct sim_watch *w)
{
    return watch_ctl(srv, EPOLL_CTL_ADD, fd, events, w);
}

static int watch_mod(struct sim_server *srv, int fd, uint32_t events, struct sim_watch *w)
{
    return watch_ctl(srv, EPOLL_CTL_MOD, fd, events, w);
}

static int bind_tcp(struct sim_server *srv, const struct sockaddr_in *addr, char *err,
                    size_t errlen)
{
    int one = 1;

    srv->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (srv->listen_fd < 0)
        return sim_errf(err, errlen, "cannot create socket: %s", strerror(errno));
    setsockopt(srv->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(srv->listen_fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 ||
        listen(srv->listen_fd, 1024) != 0)
        return sim_errf(err, errlen, "cannot listen on %s:%d: %s", srv->cfg.listen, srv->cfg.port,
                        strerror(errno));
    return 0;
}

/* Binds an even RTP port and the odd RTCP port after it, as RFC 3550 asks, on an ephemeral
 * pair: retries until the kernel hands out an even port whose successor is free. */
static int bind_udp_pair(struct sim_server *srv, struct sockaddr_in addr, char *err, size_t errlen)
{
    int sndbuf = 4 << 20;

    for (int attempt = 0; attempt < 100; attempt++) {
        struct sockaddr_in got;
        socklen_t len = sizeof(got);
        int fd[2];

        fd[0] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        fd[1] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd[0] < 0 || fd[1] < 0) {
            if (fd[0] >= 0)
                close(fd[0]);
            if (fd[1] >= 0)
                close(fd[1]);
            return sim_errf(err, errlen, "cannot create UDP socket: %s", strerror(errno));
        }
        addr.sin_port = 0;
        if (bind(fd[0], (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
            getsockname(fd[0], (struct sockaddr *)&got, &len) == 0 &&
            ntohs(got.sin_port) % 2 == 0 && ntohs(got.sin_port) < 65535) {
            addr.sin_port = htons((uint16_t)(ntohs(got.sin_port) + 1));
            if (bind(fd[1], (struct sockaddr *)&addr, sizeof(addr)) == 0) {
                srv->udp_fd[0] = fd[0];
                srv->udp_fd[1] = fd[1];
                srv->udp_port[0] = ntohs(got.sin_port);
                srv->udp_port[1] = srv->udp_port[0] + 1;
                setsockopt(fd[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
                return 0;
            }
        }
        close(fd[0]);
        close(fd[1]);
    }
    return sim_errf(err, errlen, "cannot find a free UDP port pair on %s", srv->cfg.listen);
}

/* Lets one process hold thousands of connections: raise the fd limit to the hard limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int sim_server_open(struct sim_server **out, const struct sim_config *cfg, char *err, size_t errlen)
{
    struct sim_server *srv;
    struct sockaddr_in addr;

    *out = NULL;
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return sim_errf(err, errlen, "out of memory");
    srv->cfg = *cfg;
    srv->ep = srv->listen_fd = srv->timer_fd = srv->signal_fd = -1;
    srv->udp_fd[0] = srv->udp_fd[1] = -1;
    srv->w_listen.kind = SIM_W_LISTEN;
    srv->w_timer.kind = SIM_W_TIMER;
    srv->w_signal.kind = SIM_W_SIGNAL;
    srv->w_udp.kind = SIM_W_UDP;
    sim_rand_seed(&srv->rng);
    raise_fd_limit();

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->listen, &addr.sin_addr) != 1) {
        sim_errf(err, errlen, "bad listen address '%s'", cfg->listen);
        goto fail;
    }
    if (sim_stats_init(&srv->stats, cfg->cameras) != 0) {
        sim_errf(err, errlen, "out of memory");
        goto fail;
    }
    if (bind_tcp(srv, &addr, err, errlen) != 0 || bind_udp_pair(srv, addr, err, errlen) != 0)
        goto fail;
    *out = srv;
    return 0;
fail:
    sim_server_close(srv);
    return -1;
}

static void conn_free(struct sim_server *srv, struct sim_conn *c)
{
    for (int i = 0; i < SIM_CONN_SESSIONS; i++) {
        if (c->sessions[i].in_use)
            sim_session_end(srv, &c->sessions[i], c->dropped);
    }
    if (c->fd >= 0)
        close(c->fd); /* also removes it from the epoll set */
    sim_outq_release(&c->out);
    LIST_REMOVE(c, link);
    srv->n_conns--;
    free(c);
}

void sim_conn_kill(struct sim_server *srv, struct sim_conn *c, int dropped)
{
    c->dead = 1;
    c->dropped |= dropped;
    srv->reap_due = 1;
}

void sim_conn_drop(struct sim_server *srv, struct sim_conn *c)
{
    sim_conn_kill(srv, c, 1);
}

int sim_conn_queue(struct sim_server *srv, struct sim_conn *c, const struct iovec *iov, int n)
{
    if (srv->gather.conn == c)
        sim_gather_commit(srv); /* media gathered so far goes first */
    if (c->dead)
        return -1;
    if (sim_outq_append(&c->out, iov, n) != 0) {
        sim_conn_drop(srv, c);
        return -1;
    }
    return 0;
}

/* After a write: credits the frames whose bytes all left, and watches for EPOLLOUT exactly while
 * bytes remain queued. r: the write's result (0 all written, 1 some queued, <0 socket error). */
static void after_write(struct sim_server *srv, struct sim_conn *c, int r)
{
    struct sim_outq_mark m;

    while (sim_outq_consumed(&c->out, &m)) {
        srv->stats.cams[m.cam].video_frames_sent += m.video;
        srv->stats.cams[m.cam].audio_frames_sent += m.audio;
    }
    if (r < 0) {
        sim_conn_kill(srv, c, 0); /* the peer went away: not a drop */
        return;
    }
    if ((r == 1) != c->want_out) {
        c->want_out = r == 1;
        watch_mod(srv, c->fd, EPOLLIN | EPOLLRDHUP | (c->want_out ? EPOLLOUT : 0), &c->watch);
    }
}

void sim_conn_flush(struct sim_server *srv, struct sim_conn *c)
{
    if (srv->gather.conn == c)
        sim_gather_commit(srv);
    if (c->dead || sim_outq_pending(&c->out) == 0)
        return;
    after_write(srv, c, sim_outq_flush(&c->out, c->fd));
}

void sim_gather_commit(struct sim_server *srv)
{
    struct sim_gather *g = &srv->gather;
    struct sim_conn *c = g->conn;
    uint64_t base;
    int r;

    g->conn = NULL;
    if (c == NULL || c->dead || g->n_iov == 0) {
        g->n_iov = g->n_marks = 0;
        g->bytes = 0;
        return;
    }
    /* The batch's bytes start where everything appended so far ends. */
    base = c->out.appended;
    for (int i = 0; i < g->n_marks; i++) {
        if (sim_outq_mark(&c->out, base + g->marks[i].end, g->marks[i].cam, g->marks[i].video,
                          g->marks[i].audio) != 0) {
            sim_conn_drop(srv, c); /* too many undelivered frames is an overflow too */
            break;
        }
    }
    if (!c->dead) {
        r = sim_outq_sendv(&c->out, c->fd, g->iov, g->n_iov);
        if (r == -1)
            sim_conn_drop(srv, c);
        else
            after_write(srv, c, r == -2 ? -1 : r);
    }
    g->n_iov = g->n_marks = 0;
    g->bytes = 0;
}

void sim_wheel_insert(struct sim_server *srv, struct sim_session *s)
{
    int64_t tick = s->wake_us / SIM_TICK_US;
    int slot;

    assert(s->wheel_slot == 0);
    if (tick <= srv->wheel_tick)
        tick = srv->wheel_tick + 1; /* that slot has been run: the next one */
    slot = (int)(tick % SIM_WHEEL_SLOTS);
    s->wheel_prev = NULL;
    s->wheel_next = srv->wheel[slot];
    if (s->wheel_next)
        s->wheel_next->wheel_prev = s;
    srv->wheel[slot] = s;
    s->wheel_slot = slot + 1;
}

void sim_wheel_remove(struct sim_server *srv, struct sim_session *s)
{
    if (s->wheel_slot == 0)
        return;
    if (s->wheel_prev)
        s->wheel_prev->wheel_next = s->wheel_next;
    else
        srv->wheel[s->wheel_slot - 1] = s->wheel_next;
    if (s->wheel_next)
        s->wheel_next->wheel_prev = s->wheel_prev;
    s->wheel_prev = s->wheel_next = NULL;
    s->wheel_slot = 0;
}

/* Runs the sessions waiting in one slot: those due now are pumped (which re-inserts them), those
 * that wait for a later turn of the wheel go back. The slot's list is first moved to the due list
 * so that a session put back into this same slot is not seen again in this run. */
static void run_slot(struct sim_server *srv, int slot)
{
    struct sim_session **due = &srv->wheel[SIM_WHEEL_SLOTS];
    struct sim_session *s;

    *due = srv->wheel[slot];
    srv->wheel[slot] = NULL;
    for (s = *due; s; s = s->wheel_next)
        s->wheel_slot = SIM_WHEEL_SLOTS + 1;
    while ((s = *due) != NULL) {
        sim_wheel_remove(srv, s);
        if (s->conn->dead || !s->playing)
            continue; /* ended with its connection at the next reap */
        if (s->wake_us > srv->now_us)
            sim_wheel_insert(srv, s);
        else
            sim_session_pump(srv, s->conn, s);
    }
}

static void on_accept(struct sim_server *srv)
{
    for (;;) {
        struct sockaddr_in peer;
        socklen_t len = sizeof(peer);
        struct sim_conn *c;
        int one = 1, sndbuf = SIM_SNDBUF;
        int fd =
            accept4(srv->listen_fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* Stop listening until the next housekeeping pass, or we would spin. */
                srv->listen_paused = 1;
                watch_mod(srv, srv->listen_fd, 0, &srv->w_listen);
            }
            return;
        }
        if (srv->n_conns >= SIM_MAX_CONNS || peer.sin_family != AF_INET ||
            (c = calloc(1, sizeof(*c))) == NULL) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        /* A fixed send buffer instead of autotuning (up to megabytes per socket): with many
         * sessions the kernel would otherwise hold far more than our own queue limit. */
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        c->watch.kind = SIM_W_CONN;
        c->fd = fd;
        c->peer = peer;
        c->last_rx_us = srv->now_us;
        sim_outq_init(&c->out, (size_t)srv->cfg.max_queue);
        if (watch_add(srv, fd, EPOLLIN | EPOLLRDHUP, &c->watch) != 0) {
            close(fd);
            free(c);
            continue;
        }
        LIST_INSERT_HEAD(&srv->conns, c, link);
        srv->n_conns++;
    }
}

/* Handles every complete request in c->in and keeps the incomplete rest. */
static void process_input(struct sim_server *srv, struct sim_conn *c)
{
    size_t off = 0;

    while (off < c->in_len && !c->dead) {
        struct sim_rtsp_req req;
        long n;

        if (c->skip > 0) {
            size_t k = c->in_len - off < c->skip ? c->in_len - off : c->skip;
            off += k;
            c->skip -= k;
            continue;
        }
        if (c->in[off] == '$') {
            /* Interleaved RTCP from the client (receiver reports): skip it. */
            if (c->in_len - off < 4)
                break;
            c->skip = (size_t)((uint8_t)c->in[off + 2] << 8 | (uint8_t)c->in[off + 3]);
            off += 4;
            continue;
        }
        n = sim_rtsp_parse(c->in + off, c->in_len - off, &req);
        if (n == 0)
            break;
        if (n < 0) {
            static const char bad[] = "RTSP/1.0 400 Bad Request\r\nServer: camsim\r\n\r\n";
            struct iovec iov = {(void *)bad, sizeof(bad) - 1};
            sim_conn_queue(srv, c, &iov, 1);
            sim_conn_flush(srv, c);
            sim_conn_kill(srv, c, 0);
            break;
        }
        sim_session_request(srv, c, &req);
        off += (size_t)n;
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

static void on_readable(struct sim_server *srv, struct sim_conn *c)
{
    while (!c->dead) {
        ssize_t n;

        if (c->in_len == sizeof(c->in)) {
            /* A full buffer that parses as nothing is an oversized request. */
            sim_conn_kill(srv, c, 0);
            break;
        }
        n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
            sim_conn_kill(srv, c, 0);
            break;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        c->in_len += (size_t)n;
        c->last_rx_us = srv->now_us;
        process_input(srv, c);
    }
    sim_conn_flush(srv, c);
}

static void drain_udp(int fd)
{
    char buf[2048];

    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
        ;
}

static void write_stats(struct sim_server *srv)
{
    char err[512];

    if (srv->cfg.stats[0] &&
        sim_stats_write(&srv->stats, srv->cfg.name, srv->cfg.stats, err, sizeof(err)) != 0)
        fprintf(stderr, "camsim: %s\n", err);
}

/* Drops connections silent past the session timeout, unless they carry TCP media (whose
 * liveness shows in the writes) and re-arms a paused listener. */
static void housekeeping(struct sim_server *srv)
{
    int64_t limit = (int64_t)SIM_SESSION_TIMEOUT_S * 1000000;
    struct sim_conn *c;

    LIST_FOREACH(c, &srv->conns, link) {
        int tcp_media = 0;
        for (int i = 0; i < SIM_CONN_SESSIONS; i++) {
            struct sim_session *s = &c->sessions[i];
            for (int k = 0; s->playing && k < SIM_CLIP_MAX_TRACKS; k++)
                tcp_media |= s->tracks[k].setup && s->tracks[k].tcp;
        }
        if (!c->dead && !tcp_media && srv->now_us - c->last_rx_us > limit)
            sim_conn_drop(srv, c);
    }
    if (srv->listen_paused) {
        srv->listen_paused = 0;
        watch_mod(srv, srv->listen_fd, EPOLLIN, &srv->w_listen);
    }
    write_stats(srv);
}

/* Runs the wheel slots of every tick up to now (more than one after a stall; at most one turn),
 * then sends the UDP datagrams collected on the way. */
static void on_tick(struct sim_server *srv)
{
    int64_t now_tick = srv->now_us / SIM_TICK_US;
    uint64_t expirations;

    if (read(srv->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
        return;
    if (now_tick - srv->wheel_tick > SIM_WHEEL_SLOTS)
        srv->wheel_tick = now_tick - SIM_WHEEL_SLOTS;
    while (srv->wheel_tick < now_tick) {
        srv->wheel_tick++;
        run_slot(srv, (int)(srv->wheel_tick % SIM_WHEEL_SLOTS));
    }
    sim_udp_flush(srv);
}

static void reap(struct sim_server *srv)
{
    struct sim_conn *c = LIST_FIRST(&srv->conns);

    srv->reap_due = 0;
    while (c) {
        struct sim_conn *next = LIST_NEXT(c, link);
        if (c->dead)
            conn_free(srv, c);
        c = next;
    }
}

static void dispatch(struct sim_server *srv, const struct epoll_event *ev)
{
    struct sim_watch *w = ev->data.ptr;

    switch (w->kind) {
    case SIM_W_LISTEN:
        on_accept(srv);
        break;
    case SIM_W_TIMER:
        on_tick(srv);
        break;
    case SIM_W_SIGNAL: {
        struct signalfd_siginfo si;
        if (read(srv->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
            srv->stop = 1;
        break;
    }
    case SIM_W_UDP:
        drain_udp(srv->udp_fd[0]);
        drain_udp(srv->udp_fd[1]);
        break;
    case SIM_W_CONN: {
        struct sim_conn *c = (struct sim_conn *)w;
        if (c->dead)
            break;
        if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            on_readable(srv, c);
        if (ev->events & EPOLLOUT)
            sim_conn_flush(srv, c);
        break;
    }
    }
}

/* Creates the epoll set, the pacing timer and the signalfd, and registers all sockets. */
static int setup_loop(struct sim_server *srv, char *err, size_t errlen)
{
    struct itimerspec its;
    sigset_t mask;

    srv->ep = epoll_create1(EPOLL_CLOEXEC);
    if (srv->ep < 0)
        return sim_errf(err, errlen, "epoll_create1: %s", strerror(errno));
    srv->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (srv->timer_fd < 0)
        return sim_errf(err, errlen, "timerfd_create: %s", strerror(errno));
    memset(&its, 0, sizeof(its));
    its.it_interval.tv_nsec = SIM_TICK_US * 1000;
    its.it_value.tv_nsec = SIM_TICK_US * 1000;
    if (timerfd_settime(srv->timer_fd, 0, &its, NULL) != 0)
        return sim_errf(err, errlen, "timerfd_settime: %s", strerror(errno));
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
        return sim_errf(err, errlen, "sigprocmask: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    srv->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (srv->signal_fd < 0)
        return sim_errf(err, errlen, "signalfd: %s", strerror(errno));
    if (watch_add(srv, srv->listen_fd, EPOLLIN, &srv->w_listen) != 0 ||
        watch_add(srv, srv->timer_fd, EPOLLIN, &srv->w_timer) != 0 ||
        watch_add(srv, srv->signal_fd, EPOLLIN, &srv->w_signal) != 0 ||
        watch_add(srv, srv->udp_fd[0], EPOLLIN, &srv->w_udp) != 0 ||
        watch_add(srv, srv->udp_fd[1], EPOLLIN, &srv->w_udp) != 0)
        return sim_errf(err, errlen, "epoll_ctl: %s", strerror(errno));
    return 0;
}

int sim_server_run(struct sim_server *srv, const struct sim_clip *clip, char *err, size_t errlen)
{
    struct epoll_event events[SIM_EVENTS];
    int64_t end_us, next_house_us;
    int rc = -1;

    srv->clip = clip;
    if (setup_loop(srv, err, errlen) != 0)
        goto out;
    srv->now_us = sim_mono_us();
    srv->wheel_tick = srv->now_us / SIM_TICK_US;
    end_us = srv->cfg.duration > 0 ? srv->now_us + (int64_t)(srv->cfg.duration * 1e6) : INT64_MAX;
    next_house_us = srv->now_us + 1000000;
    write_stats(srv);
    while (!srv->stop) {
        int n = epoll_wait(srv->ep, events, SIM_EVENTS, 1000);
        if (n < 0 && errno != EINTR) {
            sim_errf(err, errlen, "epoll_wait: %s", strerror(errno));
            goto out;
        }
        srv->now_us = sim_mono_us();
        for (int i = 0; i < n; i++)
            dispatch(srv, &events[i]);
        if (srv->reap_due)
            reap(srv);
        if (srv->now_us >= end_us)
            srv->stop = 1;
        if (srv->now_us >= next_house_us) {
            next_house_us = srv->now_us + 1000000;
            housekeeping(srv);
            reap(srv);
        }
    }
    rc = 0;
out:
    /* Whatever queued data the kernel takes now goes out; then everything closes. */
    for (struct sim_conn *c = LIST_FIRST(&srv->conns); c; c = LIST_NEXT(c, link)) {
        sim_conn_flush(srv, c);
        c->dead = 1;
    }
    sim_udp_flush(srv);
    reap(srv);
    write_stats(srv);
    return rc;
}

void sim_server_close(struct sim_server *srv)
{
    if (srv == NULL)
        return;
    while (!LIST_EMPTY(&srv->conns)) {
        LIST_FIRST(&srv->conns)->dead = 1;
        reap(srv);
    }
    if (srv->signal_fd >= 0)
        close(srv->signal_fd);
    if (srv->timer_fd >= 0)
        close(srv->timer_fd);
    if (srv->ep >= 0)
        close(srv->ep);
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    for (int i = 0; i < 2; i++) {
        if (srv->udp_fd[i] >= 0)
            close(srv->udp_fd[i]);
    }
    sim_stats_release(&srv->stats);
    free(srv);
}
