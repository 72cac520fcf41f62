/*
 * http.c: the libmicrohttpd glue of `camvault serve`: listening socket, limits, authentication,
 * roles, CSRF, dispatch and the signal-driven stop. Request parsing, routing, JSON bodies and
 * replies are in http_parse.c, static files in static.c. Handlers (api_*.c) see only struct
 * srv_req (srv_int.h).
 *
 * Request life: the URI log callback (first to see a request) allocates its struct srv_req and
 * keeps the raw request target; the access handler checks limits on the first call, collects
 * the body on the following ones, then dispatches once; the completion callback frees it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/log.h"
#include "server/alerts.h"
#include "server/audit.h"
#include "server/guard.h"
#include "server/livehub.h"
#include "server/jobs.h"
#include "server/srv_int.h"
#include "common/banned.h"

/* Defaults of the camvault.conf keys (docs/operations.md, "HTTP limits"). */
#define CONN_MAX 1024
#define CONN_PER_IP_MAX 32
#define THREADS 32 /* above the logins that may wait for a hash at once (users.h): 8 + 16 */
#define REQUEST_TIMEOUT_S 10
#define IDLE_TIMEOUT_S 30
/* Per connection: request line, headers, buffers. libmicrohttpd zeroes the part of the read
 * buffer (half the pool) it gives back when a response starts, so this is what a live viewer
 * holds resident (issue 17: 32 KiB, ~100 KB per viewer with 128 KiB); headers stay under 8 KiB. */
#define CONN_MEMORY (32 * 1024)
#define FD_RESERVE 256           /* descriptors besides connections: index, segments, logs */
#define CERT_MAX (1 << 20)
#define DISCARD_MAX (1 << 20) /* body bytes read past the limit before giving up on a client */

/* Per-request state beyond what handlers see. */
struct req_state {
    struct srv_req r;
    char raw[SRV_URI_MAX + 2]; /* raw request target (one byte more to detect "too long") */
    size_t rawlen;
    const char *rawptr; /* where libmicrohttpd has the request target (its read buffer) */
    bool started, responded, body_too_big;
    size_t discarded;
};

/* ---- authentication, roles, CSRF ---- */

static int authenticate(struct srv_req *r)
{
    struct MHD_Connection *c = r->conn;
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *cookie = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie");
    char token[SRV_TOKEN_LEN + 2];
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    int rc;

    if (authz) {
        if (strncasecmp(authz, "Bearer ", 7) != 0)
            return srv_error(r, 401, "unsupported Authorization scheme (use 'Bearer TOKEN')"), -1;
        if (cv_strlcpy(token, authz + 7, sizeof(token)) < 0)
            return srv_error(r, 401, "invalid session"), -1;
        r->bearer = true;
    } else if (!cookie || srv_cookie_find(cookie, "cv_session", token, sizeof(token)) < 0) {
        return srv_error(r, 401, "not logged in (no session cookie or bearer token)"), -1;
    }
    if (srv_read(r, &t) < 0)
        return -1;
    rc = srv_session_lookup(t, token, cv_now_us(), &r->sess, &err);
    if (rc == 0 && r->sess.kind != (r->bearer ? SRV_SESSION_BEARER : SRV_SESSION_COOKIE))
        rc = cv_errf(&err, CV_ENOENT, "invalid session");
    if (rc == 0) {
        rc = srv_user_get(t, r->sess.user, &r->user, &err);
        if (rc == CV_ENOENT)
            rc = cv_errf(&err, CV_ENOENT, "invalid session");
        else if (rc == 0 && r->user.disabled)
            rc = cv_errf(&err, CV_ESTATE, "account disabled");
    }
    idx_abort(t);
    if (rc == CV_ENOENT || rc == CV_ETIMEDOUT || rc == CV_ESTATE)
        return srv_error(r, 401, "%s", err.msg), -1;
    if (rc < 0)
        return srv_fail(r, rc, &err), -1;
    r->authed = true;
    return 0;
}

static bool writes(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

static int check_csrf(struct srv_req *r)
{
    const char *h;

    if (r->bearer || !writes(r->method))
        return 0;
    h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-CSRF-Token");
    if (!h || !*h)
        return srv_error(r, 403, "missing X-CSRF-Token header (send the csrf_token from login "
                                 "or /api/v1/me)"), -1;
    if (strlen(h) != strlen(r->sess.csrf) || !r->sess.csrf[0] ||
        CRYPTO_memcmp(h, r->sess.csrf, strlen(h)) != 0)
        return srv_error(r, 403, "wrong X-CSRF-Token"), -1;
    return 0;
}

/* ---- dispatch ---- */

static void dispatch(struct srv_req *r)
{
    char allow[128];
    struct cv_err err = {""};
    int rc;

    r->route = srv_route_find(r->method, &r->uri, r->params, &r->nparams, allow, sizeof(allow));
    if (!r->route) {
        bool api = r->uri.nseg >= 1 && strcmp(r->uri.seg[0], "api") == 0;
        if (allow[0]) {
            srv_header(r, "Allow", "%s", allow);
            srv_error(r, 405, "method %s not allowed here (allowed: %s)", r->method, allow);
        } else if (api) {
            srv_error(r, 404, "no such endpoint");
        } else {
            srv_serve_static(r);
        }
        return;
    }
    if (!(r->route->flags & SRV_PUBLIC)) {
        if (authenticate(r) < 0)
            return;
        if (!(r->route->roles & r->user.role)) {
            srv_error(r, 403, "your role (%s) may not do this", srv_role_name(r->user.role));
            return;
        }
        if (check_csrf(r) < 0 || srv_scope_path(r) < 0)
            return;
    }
    if (srv_parse_body(r) < 0)
        return;
    rc = r->route->fn(r);
    if (rc < 0 && r->status == 0)
        srv_fail(r, rc, &err);
    if (r->status == 0 && !r->resp)
        srv_error(r, 500, "the handler gave no answer");
}

static enum MHD_Result respond(struct req_state *st)
{
    struct srv_req *r = &st->r;
    struct MHD_Response *resp = r->resp;
    enum MHD_Result ret;
    bool json = !resp;

    if (!resp) {
        if (!cv_buf_ok(&r->out))
            srv_error(r, 500, "response too large");
        resp = MHD_create_response_from_buffer(r->out.len, r->out.data, MHD_RESPMEM_MUST_COPY);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, "Content-Type",
                                r->ctype ? r->ctype : "application/json; charset=utf-8");
    }
    r->resp = NULL;
    if (json)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    for (int i = 0; i < r->nhdr; i++)
        MHD_add_response_header(resp, r->hname[i], r->hval[i]);
    if (r->status < 100 || r->status > 599)
        r->status = 500;
    atomic_fetch_add(&r->srv->status_count[r->status], 1);
    cv_debug("%s %s %d %s", r->method, st->raw, r->status, r->authed ? r->user.name : "-");
    ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    st->responded = true;
    srv_guard_busy(r->srv->guard, r->conn, true); /* the request deadline is met */
    return ret;
}

struct hdr_sum {
    size_t total, longest;
};

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    struct hdr_sum *s = cls;
    size_t n = strlen(k) + (v ? strlen(v) : 0) + 4;

    (void)kind;
    s->total += n;
    if (n > s->longest)
        s->longest = n;
    return MHD_YES;
}

/*
 * Whether the request target held a NUL byte. libmicrohttpd hands the target over as a C
 * string, so "/api/v1/cameras/cam1\0/../../users" arrives as "/api/v1/cameras/cam1". It parses
 * the request line in place: the target starts at `url` (the pointer the URI callback saw) and
 * the HTTP version follows the space that ends it, so the target's real length is
 * version - url - 1. (libmicrohttpd 0.9.75, connection.c, parse_initial_message_line.)
 */
static bool target_has_nul(const struct req_state *st, const char *url, const char *version)
{
    if (!url || url != st->rawptr || !version || !version[0] || version <= url)
        return false; /* no version (HTTP/0.9-like line) or not the same buffer: cannot tell */
    return (size_t)(version - url - 1) != st->rawlen;
}

/* First look at a request: limits that do not need the body. 0: go on; -1: answered. */
static int first_checks(struct req_state *st, const char *url, const char *version)
{
    struct srv_req *r = &st->r;
    struct hdr_sum hs = {0, 0};
    const char *cl;
    struct cv_err err = {""};
    int rc;

    if (st->rawlen > SRV_URI_MAX)
        return srv_error(r, 414, "request target longer than %d bytes", SRV_URI_MAX), -1;
    if (target_has_nul(st, url, version))
        return srv_error(r, 400, "NUL byte in the request target"), -1;
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, sum_header, &hs);
    if (hs.longest > SRV_HEADER_MAX)
        return srv_error(r, 431, "a request header is longer than %d bytes", SRV_HEADER_MAX), -1;
    if (hs.total > SRV_HEADERS_MAX)
        return srv_error(r, 431, "request headers longer than %d bytes in total",
                         SRV_HEADERS_MAX), -1;
    rc = srv_uri_parse(st->raw, &r->uri, &err);
    if (rc == CV_ELIMIT)
        return srv_error(r, 414, "%s", err.msg), -1;
    if (rc < 0)
        return srv_error(r, 400, "%s", err.msg), -1;
    cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        int64_t n;
        if (cv_parse_i64(cl, 0, INT64_MAX, &n) < 0)
            return srv_error(r, 400, "bad Content-Length"), -1;
        if (n > SRV_BODY_MAX)
            return srv_error(r, 413, "request body of %lld bytes is over the limit of %d",
                             (long long)n, SRV_BODY_MAX), -1;
    }
    return 0;
}

static void client_addr(struct srv_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    snprintf(r->addr, sizeof(r->addr), "?");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->addr, sizeof(r->addr));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->addr,
                  sizeof(r->addr));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upsize, void **con_cls)
{
    struct req_state *st = *con_cls;
    struct srv_req *r;

    (void)cls;
    if (!st)
        return MHD_NO; /* the URI callback could not allocate: drop the connection */
    r = &st->r;
    if (st->responded) {
        *upsize = 0;
        return MHD_YES;
    }
    if (!st->started) {
        st->started = true;
        r->conn = c;
        r->method = method;
        client_addr(r);
        if (first_checks(st, url, version) < 0)
            return respond(st);
        if (writes(method))
            return MHD_YES; /* the body (if any) comes in the next calls */
    }
    if (*upsize) {
        /* libmicrohttpd cannot answer in the middle of an upload: past the limit the rest is
         * read and dropped (up to DISCARD_MAX more, then the connection is closed), and the 413
         * goes out when the body ends. A declared Content-Length over the limit is refused
         * before any of it is read (first_checks). */
        if (!st->body_too_big) {
            cv_buf_put(&r->body, upload, *upsize);
            if (!cv_buf_ok(&r->body))
                st->body_too_big = true;
        } else {
            st->discarded += *upsize;
            if (st->discarded > DISCARD_MAX)
                return MHD_NO;
        }
        *upsize = 0;
        return MHD_YES;
    }
    if (st->body_too_big) {
        srv_error(r, 413, "request body over the limit of %d bytes", SRV_BODY_MAX);
        return respond(st);
    }
    /* Complete: its handler runs, the request deadline no longer applies (nor eviction). */
    srv_guard_busy(r->srv->guard, c, true);
    dispatch(r);
    return respond(st);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct req_state *st = calloc(1, sizeof(*st));
    size_t n = strlen(uri);

    (void)c;
    if (!st)
        return NULL;
    st->r.srv = cls;
    st->rawlen = n;
    st->rawptr = uri;
    /* Keep at most SRV_URI_MAX + 1 bytes: enough to know it was too long. */
    memcpy(st->raw, uri, n > SRV_URI_MAX + 1 ? SRV_URI_MAX + 1 : n);
    cv_buf_init(&st->r.body, SRV_BODY_MAX);
    cv_buf_init(&st->r.out, 64u << 20);
    return st;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct srv *s = cls;
    struct req_state *st = *con_cls;

    if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
        srv_guard_count(s->guard, SRV_SHED_STALLED);
    srv_guard_busy(s->guard, c, false); /* waits for its next request from now */
    if (!st)
        return;
    if (st->r.resp)
        MHD_destroy_response(st->r.resp);
    cv_json_free(st->r.json);
    cv_buf_release(&st->r.body);
    cv_buf_release(&st->r.out);
    free(st);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    size_t n;

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = 0;
    cv_debug("libmicrohttpd: %s", line);
}

/* ---- start and stop ---- */

/* "ADDR:PORT" / "[V6]:PORT" into a bound, listening socket. */
static int listen_socket(const char *spec, int *fd_out, char *shown, size_t shown_cap,
                         struct cv_err *err)
{
    char host[128], port[16];
    const char *colon;
    struct addrinfo hints = {0}, *ai = NULL;
    int fd = -1, one = 1, rc;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    if (spec[0] == '[') {
        const char *e = strchr(spec, ']');
        if (!e || e[1] != ':' || (size_t)(e - spec - 1) >= sizeof(host))
            return cv_errf(err, CV_EUSAGE, "bad listen address '%s' (ADDR:PORT or [V6]:PORT)",
                           spec);
        memcpy(host, spec + 1, (size_t)(e - spec - 1));
        host[e - spec - 1] = 0;
        colon = e + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof(host) || colon == spec)
            return cv_errf(err, CV_EUSAGE, "bad listen address '%s' (ADDR:PORT or [V6]:PORT)",
                           spec);
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = 0;
    }
    if (cv_strlcpy(port, colon + 1, sizeof(port)) < 0 || !port[0] ||
        strspn(port, "0123456789") != strlen(port))
        return cv_errf(err, CV_EUSAGE, "bad port in listen address '%s'", spec);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0)
        return cv_errf(err, CV_EUSAGE, "listen address '%s': %s", spec, gai_strerror(rc));
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        rc = cv_errf(err, cv_errno_code(errno), "cannot listen on %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return rc;
    }
    freeaddrinfo(ai);
    /* The port actually bound (port 0 picks one). */
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        char a[INET6_ADDRSTRLEN] = "?";
        unsigned p = 0;
        if (ss.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a));
            p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            snprintf(shown, shown_cap, "%s:%u", a, p);
        } else {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a));
            p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            snprintf(shown, shown_cap, "[%s]:%u", a, p);
        }
    }
    *fd_out = fd;
    return 0;
}

/* The default web directory: <dir of the binary>/../server/web (build/camvault in the tree), else
 * <dir of the binary>/../share/camvault/web (PREFIX/bin/camvault after `make install`). */
static void find_webdir(const struct srv_config *conf, char *out, size_t cap)
{
    char exe[PATH_MAX], cand[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    out[0] = 0;
    if (n <= 0) {
        if (!conf->exe[0])
            return;
        cv_strlcpy(exe, conf->exe, sizeof(exe));
    } else {
        exe[n] = 0;
    }
    slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = 0;
    snprintf(cand, sizeof(cand), "%s/../server/web", exe);
    if (realpath(cand, out) && strlen(out) < cap)
        return;
    snprintf(cand, sizeof(cand), "%s/../share/camvault/web", exe);
    if (!realpath(cand, out) || strlen(out) >= cap)
        out[0] = 0;
}

struct conf_key {
    const char *name;
    size_t off;
    int64_t min, max;
};

static const struct conf_key conf_keys[] = {
    {"http_max_connections", offsetof(struct srv_config, max_conns), 16, 65536},
    {"http_max_connections_per_address", offsetof(struct srv_config, max_per_addr), 1, 65536},
    {"http_threads", offsetof(struct srv_config, threads), 1, 256},
    {"http_request_timeout_seconds", offsetof(struct srv_config, request_timeout_s), 1, 3600},
    {"http_idle_timeout_seconds", offsetof(struct srv_config, idle_timeout_s), 1, 3600},
};

int srv_config_set(struct srv_config *c, const char *key, const char *value, struct cv_err *err)
{
    for (size_t i = 0; i < sizeof(conf_keys) / sizeof(conf_keys[0]); i++) {
        const struct conf_key *k = &conf_keys[i];
        int64_t v;
        if (strcmp(key, k->name) != 0)
            continue;
        if (cv_parse_i64(value, k->min, k->max, &v) < 0)
            return cv_errf(err, CV_EINVAL, "%s: '%s' is not a whole number from %lld to %lld",
                           key, value, (long long)k->min, (long long)k->max);
        *(unsigned *)((char *)c + k->off) = (unsigned)v;
        return 0;
    }
    if (strncmp(key, "http_", 5) == 0)
        return cv_errf(err, CV_EINVAL, "unknown key '%s'", key);
    return 1;
}

/* The limits in force: camvault.conf's or the defaults, and enough file descriptors for them
 * (the soft limit is raised up to the hard one; with too few, fewer connections). */
static void effective_limits(struct srv_config *c)
{
    struct rlimit rl;
    rlim_t need;

    if (!c->max_conns)
        c->max_conns = CONN_MAX;
    if (!c->max_per_addr)
        c->max_per_addr = CONN_PER_IP_MAX;
    if (!c->threads)
        c->threads = THREADS;
    if (!c->request_timeout_s)
        c->request_timeout_s = REQUEST_TIMEOUT_S;
    if (!c->idle_timeout_s)
        c->idle_timeout_s = IDLE_TIMEOUT_S;
    /* A connection has its socket and, streaming, a segment file or two. */
    need = (rlim_t)c->max_conns * 2 + FD_RESERVE;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need) {
        unsigned fit = rl.rlim_cur > 2 * FD_RESERVE ? (unsigned)((rl.rlim_cur - FD_RESERVE) / 2)
                                                    : 16;
        cv_warn("open-file limit %llu is too low for http_max_connections = %u: serving at most "
                "%u connections (raise LimitNOFILE / ulimit -n)",
                (unsigned long long)rl.rlim_cur, c->max_conns, fit);
        c->max_conns = fit;
    }
}

int srv_serve(const char *root, const struct srv_config *conf, struct cv_err *err)
{
    struct srv *s = calloc(1, sizeof(*s));
    struct MHD_Daemon *d = NULL;
    char *cert = NULL, *key = NULL, shown[128] = "?";
    size_t certlen = 0, keylen = 0;
    const char *listen_spec = conf->listen[0] ? conf->listen : SRV_DEFAULT_LISTEN;
    sigset_t set, old;
    unsigned flags;
    int fd = -1, rc;

    if (!s)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    s->conf = *conf;
    effective_limits(&s->conf);
    s->started_us = cv_now_us();
    cv_strlcpy(s->root, root, sizeof(s->root));
    if ((conf->cert[0] != 0) != (conf->key[0] != 0)) {
        rc = cv_errf(err, CV_EUSAGE, "--cert and --key go together (HTTPS needs both)");
        goto out;
    }
    if (conf->cert[0]) {
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
            rc = cv_errf(err, CV_ESTATE, "this libmicrohttpd is built without TLS: HTTPS is not "
                         "available (serve plain HTTP behind a TLS proxy instead)");
            goto out;
        }
        rc = cv_read_file(conf->cert, CERT_MAX, &cert, &certlen, err);
        if (rc == 0)
            rc = cv_read_file(conf->key, CERT_MAX, &key, &keylen, err);
        if (rc < 0)
            goto out;
        s->tls = true;
    }
    if (conf->web[0]) {
        struct stat st;
        if (!realpath(conf->web, s->webdir) || stat(s->webdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            rc = cv_errf(err, CV_ENOENT, "web directory '%s' is not a directory", conf->web);
            goto out;
        }
    } else {
        find_webdir(conf, s->webdir, sizeof(s->webdir));
        if (!s->webdir[0])
            cv_warn("no web directory found next to the binary (use --web DIR): only the API is "
                    "served");
    }
    rc = idx_open(&s->idx, root, 0, err);
    if (rc == 0)
        rc = srv_audit_writer_open(&s->audit, s->idx, err);
    if (rc == 0)
        rc = srv_throttle_open(&s->throttle, err);
    if (rc == 0)
        rc = srv_jobs_open(&s->jobs, s->idx, s->root, err);
    if (rc == 0) {
        struct srv_guard_limits lim = {s->conf.max_conns, s->conf.max_per_addr,
                                       s->conf.request_timeout_s};
        rc = srv_guard_open(&s->guard, &lim, err);
    }
    if (rc == 0)
        rc = srv_alerts_open(&s->alerts, s->idx, s->guard, true, err);
    if (rc == 0)
        rc = srv_livehubs_open(&s->livehubs, s, err);
    if (rc == 0)
        rc = listen_socket(listen_spec, &fd, shown, sizeof(shown), err);
    if (rc < 0)
        goto out;

    /* Every thread libmicrohttpd starts inherits this mask; the signals come to sigtimedwait. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    signal(SIGPIPE, SIG_IGN);
    /* A pool of threads polls all connections (epoll): a connection costs a thread only while
     * a handler runs for it. Handlers block (index, scrypt, clip assembly), so the pool is
     * larger than the cores; a live stream waiting for the camera suspends its connection
     * (srv_guard_resume_later), it never sleeps in a pool thread. The guard enforces the
     * connection limits (libmicrohttpd's own limit splits across the pool's threads, so it is
     * set above the guard's and only catches what the guard lets slip), the request deadline,
     * and counts what it sheds. The idle timeout ends connections where nothing moves, also
     * responses a client stopped reading. */
    flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
            (s->tls ? MHD_USE_TLS : 0);
    d = MHD_start_daemon(
        flags, 0, srv_guard_accept, s->guard, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)s->conf.threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(2 * s->conf.max_conns + s->conf.threads), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONN_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->conf.idle_timeout_s,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1u << 20), MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, s, MHD_OPTION_NOTIFY_CONNECTION, srv_guard_notify,
        s->guard,
        s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert, MHD_OPTION_HTTPS_MEM_KEY, key,
        MHD_OPTION_END);
    if (!d) {
        rc = cv_errf(err, CV_ENET, "cannot start the HTTP server on %s%s", shown,
                     s->tls ? " (is the certificate or key unreadable or mismatched?)" : "");
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        goto out;
    }
    fd = -1; /* the daemon owns it */
    /* On stdout, one line: supervisors and tests wait for it. */
    printf("camvault: serving %s://%s/ (data root %s, web %s)\n", s->tls ? "https" : "http", shown,
           root, s->webdir[0] ? s->webdir : "none");
    fflush(stdout);
    for (;;) {
        struct timespec ts = {60, 0};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig < 0 && errno == EAGAIN) {
            /* Once a minute: forget expired sessions. */
            struct idx_txn *t = NULL;
            struct cv_err e2 = {""};
            size_t n = 0;
            if (idx_begin(s->idx, true, &t, &e2) == 0 &&
                srv_session_purge(t, cv_now_us(), &n, &e2) == 0)
                idx_commit(t, &e2);
            else
                idx_abort(t);
        }
    }
    atomic_store(&s->stopping, true);
    cv_info("stopping the HTTP server");
    srv_guard_stop(s->guard); /* libmicrohttpd must not find suspended connections */
    MHD_stop_daemon(d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (key)
        OPENSSL_cleanse(key, keylen);
    free(cert);
    free(key);
    srv_jobs_close(s->jobs); /* after the daemon: no handler can kick it any more */
    srv_alerts_close(s->alerts); /* after the daemon: no stream is left */
    srv_livehubs_close(s->livehubs); /* after the daemon: no viewer is left */
    srv_guard_close(s->guard);
    srv_throttle_close(s->throttle);
    srv_audit_writer_close(s->audit); /* after the daemon: no request is waiting in it */
    idx_close(s->idx);
    free(s);
    return rc;
}
