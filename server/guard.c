/*
 * guard.c: connection limits, the request deadline and the live-stream timer of the HTTP
 * server (guard.h).
 *
 * Every connection has one struct gconn, made in the connection-notify callback (its "socket
 * context") and freed when libmicrohttpd reports the connection closed, which it does before it
 * closes the socket: so while a gconn is on the list, shutdown() on its descriptor reaches that
 * connection and no other. shutdown() (never close()) is how the guard ends a connection from
 * its own thread: libmicrohttpd then reads end-of-file and closes it the ordinary way.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "common/cvtime.h"
#include "common/log.h"
#include "common/thread.h"
#include "server/guard.h"
#include "common/banned.h"

#define TICK_MS 100
#define LOG_EVERY_US (60 * CV_US_PER_S)

static const char *const reason_name[SRV_SHED_NREASONS] = {
    "per_address", "full", "evicted", "request_timeout", "keepalive_idle", "stalled",
};

struct gconn {
    LIST_ENTRY(gconn) link; /* on the guard's conns */
    struct MHD_Connection *conn;
    int fd;
    uint8_t key[16]; /* client address (IPv4 or IPv6 bytes) */
    uint8_t keylen;
    int64_t wait_since_us; /* waiting for a request since (monotonic); 0 while busy */
    uint64_t requests;     /* requests completed on this connection */
    int64_t wake_us;       /* suspended by resume_later until then; 0 when not suspended */
    bool shed;             /* shut down by the guard, libmicrohttpd has yet to close it */
};

struct srv_guard {
    struct srv_guard_limits lim;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool thread_started, quit, stopping;
    LIST_HEAD(, gconn) conns;
    unsigned open;      /* connections on the list */
    unsigned suspended; /* of them suspended by resume_later */
    unsigned peak;      /* most open at once */
    uint64_t shed[SRV_SHED_NREASONS];
    uint64_t logged[SRV_SHED_NREASONS]; /* counts at the last log line */
    int64_t logged_us;
};

static int addr_key(const struct sockaddr *sa, uint8_t key[16])
{
    if (sa && sa->sa_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 4;
    }
    if (sa && sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 16;
    }
    return 0;
}

static struct gconn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

/* Shut a connection down from this thread (g->mu held). */
static void shed_locked(struct srv_guard *g, struct gconn *e, enum srv_guard_reason why)
{
    e->shed = true;
    g->shed[why]++;
    shutdown(e->fd, SHUT_RDWR);
}

enum MHD_Result srv_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct srv_guard *g = cls;
    uint8_t key[16];
    int kl = addr_key(addr, key);
    unsigned same = 0, live = 0;
    struct gconn *victim = NULL, *own = NULL;
    enum MHD_Result ok = MHD_YES;

    (void)addrlen;
    pthread_mutex_lock(&g->mu);
    struct gconn *e;
    LIST_FOREACH(e, &g->conns, link) {
        if (e->shed)
            continue; /* on its way out */
        live++;
        if (kl && e->keylen == kl && memcmp(e->key, key, (size_t)kl) == 0) {
            same++;
            if (e->wait_since_us && (!own || e->wait_since_us < own->wait_since_us))
                own = e;
        }
        if (e->wait_since_us && (!victim || e->wait_since_us < victim->wait_since_us))
            victim = e;
    }
    if (g->lim.max_per_addr && same >= g->lim.max_per_addr) {
        /* The address's own connection that has waited longest for a request makes room (an
         * idle keep-alive, a slow client, or one whose close libmicrohttpd has not reported
         * yet: a busy client that reconnects after every response has many of those); the
         * newcomer is refused only when every connection of its address is being served. */
        if (own) {
            shed_locked(g, own, SRV_SHED_PER_ADDRESS);
        } else {
            g->shed[SRV_SHED_PER_ADDRESS]++;
            ok = MHD_NO;
        }
    } else if (live >= g->lim.max_conns) {
        /* Full: make room by closing the connection that has waited longest for a request
         * (idle keep-alive or a slow client); refuse only when all of them are being served. */
        if (victim) {
            shed_locked(g, victim, SRV_SHED_EVICTED);
        } else {
            g->shed[SRV_SHED_FULL]++;
            ok = MHD_NO;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return ok;
}

void srv_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    struct srv_guard *g = cls;
    struct gconn *e = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        e = calloc(1, sizeof(*e));
        if (!e || !fi) {
            /* Untracked: no deadline would apply, so do not keep it. */
            free(e);
            if (fi)
                shutdown(fi->connect_fd, SHUT_RDWR);
            return;
        }
        e->conn = c;
        e->fd = fi->connect_fd;
        e->keylen = (uint8_t)addr_key(ai ? ai->client_addr : NULL, e->key);
        e->wait_since_us = cv_mono_us();
        pthread_mutex_lock(&g->mu);
        LIST_INSERT_HEAD(&g->conns, e, link);
        if (++g->open > g->peak)
            g->peak = g->open;
        pthread_mutex_unlock(&g->mu);
        *socket_context = e;
        return;
    }
    if (code != MHD_CONNECTION_NOTIFY_CLOSED || !e)
        return;
    pthread_mutex_lock(&g->mu);
    LIST_REMOVE(e, link);
    g->open--;
    if (e->wake_us)
        g->suspended--; /* cannot happen (a suspended connection is not processed); be safe */
    pthread_mutex_unlock(&g->mu);
    free(e);
    *socket_context = NULL;
}

void srv_guard_busy(struct srv_guard *g, struct MHD_Connection *c, bool busy)
{
    struct gconn *e = conn_of(c);

    if (!e)
        return;
    pthread_mutex_lock(&g->mu);
    if (busy) {
        e->wait_since_us = 0;
    } else {
        e->wait_since_us = cv_mono_us();
        e->requests++;
    }
    pthread_mutex_unlock(&g->mu);
}

void srv_guard_count(struct srv_guard *g, enum srv_guard_reason reason)
{
    pthread_mutex_lock(&g->mu);
    g->shed[reason]++;
    pthread_mutex_unlock(&g->mu);
}

bool srv_guard_resume_later(struct srv_guard *g, struct MHD_Connection *c, int64_t after_us)
{
    struct gconn *e = conn_of(c);
    bool ok;

    if (!e)
        return false;
    pthread_mutex_lock(&g->mu);
    ok = !g->stopping;
    if (ok) {
        /* Suspend before the guard's thread can see the wake time: resuming a connection that
         * is not suspended is undefined. Suspending under the mutex is fine: libmicrohttpd
         * calls none of our callbacks from it. */
        MHD_suspend_connection(c);
        e->wake_us = cv_mono_us() + (after_us > 0 ? after_us : 1);
        g->suspended++;
    }
    pthread_mutex_unlock(&g->mu);
    return ok;
}

void srv_guard_wake(struct srv_guard *g, struct MHD_Connection *c)
{
    pthread_mutex_lock(&g->mu);
    struct gconn *e;
    LIST_FOREACH(e, &g->conns, link) {
        if (e->conn != c || !e->wake_us)
            continue;
        e->wake_us = 0;
        g->suspended--;
        MHD_resume_connection(c);
        break;
    }
    pthread_mutex_unlock(&g->mu);
}

void srv_guard_wake_open(struct srv_guard *g, struct MHD_Connection *c)
{
    struct gconn *e = conn_of(c);

    if (!e)
        return;
    pthread_mutex_lock(&g->mu);
    if (e->wake_us) {
        e->wake_us = 0;
        g->suspended--;
        MHD_resume_connection(c);
    }
    pthread_mutex_unlock(&g->mu);
}

/* Resume due connections, shed overdue requests, log (g->mu held). */
static void sweep_locked(struct srv_guard *g, int64_t now, bool all)
{
    int64_t limit = (int64_t)g->lim.request_timeout_s * CV_US_PER_S;
    bool changed = false;

    struct gconn *e;
    LIST_FOREACH(e, &g->conns, link) {
        if (e->wake_us && (all || now >= e->wake_us)) {
            e->wake_us = 0;
            g->suspended--;
            MHD_resume_connection(e->conn);
        }
        if (!all && !e->shed && e->wait_since_us && now - e->wait_since_us > limit)
            shed_locked(g, e, e->requests ? SRV_SHED_KEEPALIVE : SRV_SHED_REQUEST_TIMEOUT);
    }
    if (all || now - g->logged_us < LOG_EVERY_US)
        return;
    for (int i = 0; i < SRV_SHED_NREASONS; i++)
        if (i != SRV_SHED_KEEPALIVE && g->shed[i] != g->logged[i])
            changed = true;
    if (changed) {
        char line[512];
        size_t o = 0;
        for (int i = 0; i < SRV_SHED_NREASONS; i++)
            if (g->shed[i] != g->logged[i] && o < sizeof(line))
                o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%llu %s", o ? ", " : "",
                                      (unsigned long long)(g->shed[i] - g->logged[i]),
                                      reason_name[i]);
        cv_warn("HTTP limits shed connections: %s (since the previous such line; open now %u of "
                "%u, at most %u per address)",
                line, g->open, g->lim.max_conns, g->lim.max_per_addr);
        g->logged_us = now; /* the next line a minute later at the earliest */
    }
    memcpy(g->logged, g->shed, sizeof(g->logged));
}

static void *guard_main(void *arg)
{
    struct srv_guard *g = arg;

    pthread_mutex_lock(&g->mu);
    while (!g->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        if (!g->quit)
            sweep_locked(g, cv_mono_us(), g->stopping);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

int srv_guard_open(struct srv_guard **out, const struct srv_guard_limits *lim, struct cv_err *err)
{
    struct srv_guard *g = calloc(1, sizeof(*g));
    pthread_condattr_t ca;
    int rc;

    *out = NULL;
    if (!g)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    g->lim = *lim;
    g->logged_us = cv_mono_us() - LOG_EVERY_US; /* the first shedding is logged at once */
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    rc = pthread_create(&g->thread, NULL, guard_main, g);
    if (rc != 0) {
        srv_guard_close(g);
        return cv_errf(err, CV_EIO, "cannot start the connection guard thread: %s", strerror(rc));
    }
    g->thread_started = true;
    *out = g;
    return 0;
}

void srv_guard_stop(struct srv_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stopping = true;
    sweep_locked(g, cv_mono_us(), true);
    pthread_mutex_unlock(&g->mu);
}

void srv_guard_close(struct srv_guard *g)
{
    if (!g)
        return;
    if (g->thread_started) {
        cv_thread_stop(&g->mu, &g->cv, &g->quit, g->thread);
    }
    /* libmicrohttpd has reported every connection closed by now; anything left is a leak of
     * its own, not ours to free twice. */
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void srv_guard_metrics(struct srv_guard *g, struct cv_buf *b)
{
    uint64_t shed[SRV_SHED_NREASONS];
    unsigned open, peak, suspended;

    pthread_mutex_lock(&g->mu);
    memcpy(shed, g->shed, sizeof(shed));
    open = g->open;
    peak = g->peak;
    suspended = g->suspended;
    pthread_mutex_unlock(&g->mu);
    cv_buf_printf(b,
                  "# HELP camvault_http_connections Open HTTP connections.\n"
                  "# TYPE camvault_http_connections gauge\ncamvault_http_connections %u\n"
                  "# HELP camvault_http_connections_peak Most HTTP connections open at once.\n"
                  "# TYPE camvault_http_connections_peak gauge\n"
                  "camvault_http_connections_peak %u\n"
                  "# HELP camvault_http_connections_limit http_max_connections.\n"
                  "# TYPE camvault_http_connections_limit gauge\n"
                  "camvault_http_connections_limit %u\n"
                  "# HELP camvault_http_live_waiting Live streams waiting for the camera.\n"
                  "# TYPE camvault_http_live_waiting gauge\ncamvault_http_live_waiting %u\n"
                  "# HELP camvault_http_shed_total Connections refused or closed by the "
                  "server's limits, by reason.\n# TYPE camvault_http_shed_total counter\n",
                  open, peak, g->lim.max_conns, suspended);
    for (int i = 0; i < SRV_SHED_NREASONS; i++)
        cv_buf_printf(b, "camvault_http_shed_total{reason=\"%s\"} %llu\n", reason_name[i],
                      (unsigned long long)shed[i]);
}
