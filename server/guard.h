/*
 * guard.h: the HTTP server's defence against clients that hold connections without using them
 * (issue 19: slow headers, slow or absent readers, many connections from few addresses).
 *
 * libmicrohttpd runs a small pool of threads that poll all connections (epoll), so an idle or
 * slow connection costs a socket and a little memory, not a thread. The guard sees every
 * connection (libmicrohttpd's accept-policy and connection-notify callbacks) and enforces what
 * libmicrohttpd alone does not:
 *
 *   - a total and a per-address connection limit; at the total limit it first closes the
 *     connection that has waited longest for a request (idle or slow, never one being served),
 *     and refuses the newcomer only when every connection is busy;
 *   - a deadline for a whole request (headers and body): libmicrohttpd's timeout is an idle
 *     timeout, which a client sending one header line every few seconds never trips;
 *   - the timer of live streams: a stream at the live edge suspends its connection and the guard
 *     resumes it a moment later, so no pool thread ever sleeps for a camera;
 *   - counters for /metrics and at most one log line a minute with what it shed.
 *
 * Threads: every function may be called from any thread (one mutex); the guard runs one thread
 * of its own (the timer and the deadline sweep).
 */
#ifndef SRV_GUARD_H
#define SRV_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "common/buf.h"
#include "common/error.h"

struct srv_guard;

struct srv_guard_limits {
    unsigned max_conns;         /* open connections in all */
    unsigned max_per_addr;      /* open connections from one client address */
    unsigned request_timeout_s; /* from connect (or the end of the previous response) until
                                 * the request (headers and body) is complete */
};

/* Why a connection was refused or closed (the label of camvault_http_shed_total). */
enum srv_guard_reason {
    SRV_SHED_PER_ADDRESS,     /* refused: its address already has max_per_addr connections */
    SRV_SHED_FULL,            /* refused: max_conns connections, all busy */
    SRV_SHED_EVICTED,         /* closed to make room: waited longest for a request */
    SRV_SHED_REQUEST_TIMEOUT, /* closed: request not complete within request_timeout_s */
    SRV_SHED_KEEPALIVE,       /* closed: idle keep-alive connection past request_timeout_s */
    SRV_SHED_STALLED,         /* closed by libmicrohttpd: nothing moved for the idle timeout */
    SRV_SHED_NREASONS
};

/* Start the guard and its thread. *out is NULL on failure. */
int srv_guard_open(struct srv_guard **out, const struct srv_guard_limits *lim, struct cv_err *err);
/* Resume every suspended connection and suspend none from now on (srv_guard_resume_later
 * returns false). Call before MHD_stop_daemon, which must not find suspended connections. */
void srv_guard_stop(struct srv_guard *g);
/* Stop the thread and free the guard; after MHD_stop_daemon (no callback can come). NULL-safe. */
void srv_guard_close(struct srv_guard *g);

/* libmicrohttpd callbacks, cls = the guard: MHD_OPTION_ACCEPT_POLICY_CALLBACK (passed to
 * MHD_start_daemon) and MHD_OPTION_NOTIFY_CONNECTION. */
enum MHD_Result srv_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void srv_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);

/* The request on c is complete (busy = true: the deadline stops) or its response is over
 * (false: the connection waits for the next request, the deadline restarts). */
void srv_guard_busy(struct srv_guard *g, struct MHD_Connection *c, bool busy);
/* Count one connection closed for `reason` by someone else (libmicrohttpd's idle timeout). */
void srv_guard_count(struct srv_guard *g, enum srv_guard_reason reason);

/*
 * From a content reader of c only: suspend c and resume it after_us later; the reader then
 * returns 0 and is called again after the resume. False (nothing suspended) once the guard is
 * stopping: the reader should end the stream.
 */
bool srv_guard_resume_later(struct srv_guard *g, struct MHD_Connection *c, int64_t after_us);
/* Resume c now if srv_guard_resume_later suspended it (else nothing): an event its reader
 * waits for has come (the alert stream, server/alerts.h). c need not be open any more: a
 * connection the guard no longer lists is left alone. */
void srv_guard_wake(struct srv_guard *g, struct MHD_Connection *c);

/* The same for a connection known to be open (its response not freed yet: the live hub's
 * viewers, server/livehub.h); no search, so waking thousands of viewers stays cheap. */
void srv_guard_wake_open(struct srv_guard *g, struct MHD_Connection *c);

/* The guard's metrics in Prometheus text format (open connections, limits, shed counters). */
void srv_guard_metrics(struct srv_guard *g, struct cv_buf *b);

#endif
