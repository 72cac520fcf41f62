/*
 * tcp.c: SIP over TCP for the GB/T 28181 agent (RFC 3261 section 18): the listening socket on
 * gb_listen beside the UDP one, the connections devices and platforms open to it, and the one
 * camvault opens to the upstream platform when gb_transport = tcp. Each connection's bytes are
 * cut into messages by Content-Length (gb_sip_frame) and handed to the agent's dispatch like
 * datagrams, from the connection's peer address; whatever the agent sends to that address goes
 * back on the connection.
 *
 * Limits: GB_TCP_CONNS_MAX connections from peers (more are closed at once, with a line), one
 * message of GB_SIP_MAX bytes buffered per connection (a larger one, a missing Content-Length
 * or bytes that are not SIP close the connection with a line), no complete message within
 * GB_TCP_MSG_S of the connection or of a message's first byte closes it, and so does silence
 * longer than three keepalive intervals (a device keeps its connection busy with keepalives).
 *
 * Threads: the agent thread reads, accepts, connects and closes; any thread sends
 * (gb_sip_send: media threads' MediaStatus, camera threads' INVITE and BYE). The table's lock
 * covers each send, so a connection is never closed under a writer; a send that fails marks
 * the connection for the agent thread to close.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "common/log.h"
#include "gb/gb_int.h"
#include "common/banned.h"

#define GB_TCP_MSG_S 5     /* a connection's first message, and each message, within 5 s */
#define GB_TCP_SEND_MS 2000 /* a peer that takes nothing for 2 s loses its connection */
#define GB_TCP_CONNECT_S 5

struct gb_tcp_conn {
    int fd; /* -1: free */
    struct sockaddr_in peer;
    bool upstream;   /* ours, to the platform */
    bool connecting; /* upstream: connect() under way */
    bool dead;       /* a send failed: the agent thread closes it */
    uint8_t *rx;     /* GB_SIP_MAX bytes */
    size_t rxlen;
    unsigned msgs;
    int64_t opened, last_rx, partial_since; /* cv_mono_us; partial_since 0: no partial message */
};

struct gb_tcp {
    pthread_mutex_t lock; /* fd, peer and dead of every connection, for senders */
    int listen_fd;
    struct gb_tcp_conn conn[GB_TCP_CONNS_MAX + 1]; /* the last is the upstream's */
};

static bool same_addr(const struct sockaddr_in *x, const struct sockaddr_in *y)
{
    return x->sin_addr.s_addr == y->sin_addr.s_addr && x->sin_port == y->sin_port;
}

static void peer_name(const struct sockaddr_in *p, char *out, size_t n)
{
    char ip[INET_ADDRSTRLEN] = "?";

    inet_ntop(AF_INET, &p->sin_addr, ip, sizeof(ip));
    snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(p->sin_port));
}

int gb_tcp_open(struct gb_agent *a, const struct sockaddr_in *me, struct cv_err *err)
{
    struct gb_tcp *t = calloc(1, sizeof(*t));
    int one = 1, e;

    if (!t)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    pthread_mutex_init(&t->lock, NULL);
    for (size_t i = 0; i <= GB_TCP_CONNS_MAX; i++)
        t->conn[i].fd = -1;
    t->conn[GB_TCP_CONNS_MAX].upstream = true;
    t->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (t->listen_fd < 0 ||
        setsockopt(t->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(t->listen_fd, (const struct sockaddr *)me, sizeof(*me)) < 0 ||
        listen(t->listen_fd, 16) < 0) {
        e = errno;
        if (t->listen_fd >= 0)
            close(t->listen_fd);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return cv_errf(err, CV_ENET, "gb_listen '%s': cannot bind TCP: %s", a->cfg.listen,
                       strerror(e));
    }
    a->tcp = t;
    return 0;
}

/* Close connection c (agent thread). */
static void conn_close(struct gb_tcp *t, struct gb_tcp_conn *c)
{
    pthread_mutex_lock(&t->lock);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    pthread_mutex_unlock(&t->lock);
    free(c->rx);
    c->rx = NULL;
    c->rxlen = 0;
    c->connecting = c->dead = false;
}

void gb_tcp_close(struct gb_agent *a)
{
    struct gb_tcp *t = a->tcp;

    if (!t)
        return;
    for (size_t i = 0; i <= GB_TCP_CONNS_MAX; i++)
        conn_close(t, &t->conn[i]);
    close(t->listen_fd);
    pthread_mutex_destroy(&t->lock);
    free(t);
    a->tcp = NULL;
}

/* Take connection fd from peer into slot c. */
static int conn_init(struct gb_tcp_conn *c, int fd, const struct sockaddr_in *peer)
{
    c->rx = malloc(GB_SIP_MAX);
    if (!c->rx)
        return -1;
    c->rxlen = 0;
    c->peer = *peer;
    c->msgs = 0;
    c->opened = c->last_rx = cv_mono_us();
    c->partial_since = 0;
    c->dead = false;
    c->fd = fd; /* under the table's lock: senders look slots up by fd and peer */
    return 0;
}

static void accept_one(struct gb_agent *a)
{
    struct gb_tcp *t = a->tcp;
    struct sockaddr_in peer;
    socklen_t pl = sizeof(peer);
    char name[64];
    int fd = accept4(t->listen_fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    size_t i;

    if (fd < 0)
        return;
    peer_name(&peer, name, sizeof(name));
    for (i = 0; i < GB_TCP_CONNS_MAX && t->conn[i].fd >= 0; i++)
        ;
    if (i == GB_TCP_CONNS_MAX) {
        cv_warn("gb: SIP/TCP connection from %s refused: %d connections open already", name,
                GB_TCP_CONNS_MAX);
        close(fd);
        return;
    }
    pthread_mutex_lock(&t->lock);
    if (conn_init(&t->conn[i], fd, &peer) < 0) {
        pthread_mutex_unlock(&t->lock);
        close(fd);
        return;
    }
    pthread_mutex_unlock(&t->lock);
    cv_debug("gb: SIP/TCP connection from %s", name);
}

/* The upstream connection is gone or could not be made: close it, one line, back off. */
static void up_lost(struct gb_agent *a, const char *why)
{
    conn_close(a->tcp, &a->tcp->conn[GB_TCP_CONNS_MAX]);
    gb_up_lost(a, why);
}

void gb_tcp_up_connect(struct gb_agent *a)
{
    struct gb_tcp *t = a->tcp;
    struct gb_tcp_conn *c = &t->conn[GB_TCP_CONNS_MAX];
    struct sockaddr_in me = {0};
    char why[160];
    int fd;

    if (c->fd >= 0)
        return;
    me.sin_family = AF_INET;
    inet_pton(AF_INET, a->cfg.listen_addr, &me.sin_addr);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (const struct sockaddr *)&me, sizeof(me)) < 0 ||
        (connect(fd, (const struct sockaddr *)&a->up, sizeof(a->up)) < 0 &&
         errno != EINPROGRESS)) {
        snprintf(why, sizeof(why), "cannot connect over TCP: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        gb_up_lost(a, why);
        return;
    }
    pthread_mutex_lock(&t->lock);
    if (conn_init(c, fd, &a->up) < 0) {
        pthread_mutex_unlock(&t->lock);
        close(fd);
        gb_up_lost(a, "out of memory");
        return;
    }
    c->connecting = true;
    pthread_mutex_unlock(&t->lock);
}

int gb_tcp_up_state(const struct gb_agent *a)
{
    const struct gb_tcp_conn *c = &a->tcp->conn[GB_TCP_CONNS_MAX];

    return c->fd < 0 ? 0 : c->connecting ? 1 : 2;
}

size_t gb_tcp_pollfds(struct gb_agent *a, struct pollfd *pfd)
{
    struct gb_tcp *t = a->tcp;
    size_t n = 0;

    pfd[n++] = (struct pollfd){t->listen_fd, POLLIN, 0};
    for (size_t i = 0; i <= GB_TCP_CONNS_MAX; i++)
        if (t->conn[i].fd >= 0 && !t->conn[i].dead)
            pfd[n++] = (struct pollfd){t->conn[i].fd, t->conn[i].connecting ? POLLOUT : POLLIN,
                                       0};
    return n;
}

/* Cut c's buffer into messages and dispatch them; a framing error closes c. */
static void conn_messages(struct gb_agent *a, struct gb_tcp_conn *c)
{
    char name[64];

    for (;;) {
        struct cv_err err = {""};
        size_t skip, len;
        int rc = gb_sip_frame(c->rx, c->rxlen, &skip, &len, &err);
        if (rc < 0) {
            peer_name(&c->peer, name, sizeof(name));
            if (c->upstream) {
                char why[200];
                snprintf(why, sizeof(why), "%s; connection closed", err.msg);
                up_lost(a, why);
            } else {
                cv_warn("gb: SIP/TCP from %s: %s; connection closed", name, err.msg);
                conn_close(a->tcp, c);
            }
            return;
        }
        memmove(c->rx, c->rx + skip, c->rxlen - skip);
        c->rxlen -= skip;
        if (rc == 0) {
            c->partial_since = !c->rxlen ? 0 : c->partial_since ? c->partial_since
                                                                : cv_mono_us();
            return;
        }
        {
            /* the peer from a copy: dispatch may send on c (under the lock) but never closes
             * it: only this thread closes connections, and not from dispatch */
            struct sockaddr_in peer = c->peer;
            c->msgs++;
            gb_sip_dispatch(a, c->rx, len, &peer);
        }
        memmove(c->rx, c->rx + len, c->rxlen - len);
        c->rxlen -= len;
        c->partial_since = 0;
    }
}

static void conn_read(struct gb_agent *a, struct gb_tcp_conn *c)
{
    char name[64];
    ssize_t n;

    if (c->rxlen >= GB_SIP_MAX) /* gb_sip_frame refuses a full buffer without a message */
        return;
    n = recv(c->fd, c->rx + c->rxlen, GB_SIP_MAX - c->rxlen, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        char why[160];
        snprintf(why, sizeof(why), "the SIP/TCP connection was closed%s%s",
                 n < 0 ? ": " : " by the platform", n < 0 ? strerror(errno) : "");
        peer_name(&c->peer, name, sizeof(name));
        if (c->upstream) {
            up_lost(a, why);
        } else {
            cv_debug("gb: SIP/TCP connection from %s closed (%u messages)", name, c->msgs);
            conn_close(a->tcp, c);
        }
        return;
    }
    c->rxlen += (size_t)n;
    c->last_rx = cv_mono_us();
    if (!c->partial_since)
        c->partial_since = c->last_rx;
    conn_messages(a, c);
}

/* The upstream's connect() finished: connected, or the cause. */
static void conn_connected(struct gb_agent *a, struct gb_tcp_conn *c)
{
    int e = 0;
    socklen_t el = sizeof(e);
    char why[160];

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
        e = errno;
    if (e) {
        snprintf(why, sizeof(why), "cannot connect over TCP: %s", strerror(e));
        up_lost(a, why);
        return;
    }
    c->connecting = false;
    c->last_rx = cv_mono_us();
    gb_up_connected(a);
}

void gb_tcp_events(struct gb_agent *a, const struct pollfd *pfd, size_t n)
{
    struct gb_tcp *t = a->tcp;

    for (size_t k = 1; k < n; k++) {
        if (!pfd[k].revents)
            continue;
        for (size_t i = 0; i <= GB_TCP_CONNS_MAX; i++) {
            struct gb_tcp_conn *c = &t->conn[i];
            if (c->fd != pfd[k].fd || c->dead)
                continue;
            if (c->connecting)
                conn_connected(a, c);
            else
                conn_read(a, c);
            break;
        }
    }
    if (n && pfd[0].revents & POLLIN)
        accept_one(a);
}

void gb_tcp_timers(struct gb_agent *a)
{
    struct gb_tcp *t = a->tcp;
    int64_t now = cv_mono_us(), lim = GB_TCP_MSG_S * CV_US_PER_S,
            idle = 3 * a->cfg.keepalive_us + lim;
    char name[64];

    for (size_t i = 0; i <= GB_TCP_CONNS_MAX; i++) {
        struct gb_tcp_conn *c = &t->conn[i];
        if (c->fd < 0)
            continue;
        peer_name(&c->peer, name, sizeof(name));
        if (c->upstream) {
            if (c->dead)
                up_lost(a, "the platform took nothing on the SIP/TCP connection for 2 s");
            else if (c->connecting && now - c->opened > GB_TCP_CONNECT_S * CV_US_PER_S)
                up_lost(a, "cannot connect over TCP: no answer within 5 s");
            continue;
        }
        if (c->dead)
            cv_warn("gb: SIP/TCP connection from %s took nothing for 2 s; closed", name);
        else if (!c->msgs && now - c->opened > lim)
            cv_warn("gb: SIP/TCP connection from %s sent no complete message within %d s; "
                    "closed", name, GB_TCP_MSG_S);
        else if (c->partial_since && now - c->partial_since > lim)
            cv_warn("gb: SIP/TCP connection from %s: a message still incomplete after %d s "
                    "(%zu bytes); closed", name, GB_TCP_MSG_S, c->rxlen);
        else if (now - c->last_rx > idle)
            cv_info("gb: SIP/TCP connection from %s closed: idle for %lld s", name,
                    (long long)((now - c->last_rx) / CV_US_PER_S));
        else
            continue;
        conn_close(t, c);
    }
}

/* Write all of p on fd within GB_TCP_SEND_MS: 0, or -1. */
static int send_all(int fd, const uint8_t *p, size_t n)
{
    int64_t until = cv_mono_us() + GB_TCP_SEND_MS * 1000;

    while (n) {
        ssize_t w = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        {
            struct pollfd pfd = {fd, POLLOUT, 0};
            int64_t left = until - cv_mono_us();
            if (left <= 0)
                return -1;
            poll(&pfd, 1, (int)(left / 1000) + 1);
        }
    }
    return 0;
}

bool gb_tcp_has(struct gb_agent *a, const struct sockaddr_in *to)
{
    struct gb_tcp *t = a->tcp;
    bool has = false;

    if (a->cfg.up_tcp && same_addr(to, &a->up))
        return true;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < GB_TCP_CONNS_MAX && !has; i++)
        has = t->conn[i].fd >= 0 && same_addr(&t->conn[i].peer, to);
    pthread_mutex_unlock(&t->lock);
    return has;
}

void gb_sip_send(struct gb_agent *a, const struct sockaddr_in *to, const void *p, size_t n)
{
    struct gb_tcp *t = a->tcp;
    bool up = a->cfg.up_tcp && same_addr(to, &a->up);
    size_t i;

    pthread_mutex_lock(&t->lock);
    for (i = up ? GB_TCP_CONNS_MAX : 0; i <= GB_TCP_CONNS_MAX; i++) {
        struct gb_tcp_conn *c = &t->conn[i];
        if (c->fd >= 0 && !c->connecting && !c->dead && same_addr(&c->peer, to))
            break;
    }
    if (i <= GB_TCP_CONNS_MAX) {
        if (send_all(t->conn[i].fd, p, n) < 0)
            t->conn[i].dead = true; /* a message cut short breaks the stream */
        pthread_mutex_unlock(&t->lock);
        return;
    }
    pthread_mutex_unlock(&t->lock);
    if (up) {
        cv_debug("gb: not connected to the upstream platform: a message of %zu bytes dropped", n);
        return;
    }
    if (sendto(a->sock, p, n, 0, (const struct sockaddr *)to, sizeof(*to)) < 0)
        cv_debug("gb: sendto: %s", strerror(errno));
}
