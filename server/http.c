/*
 * http.c: the HTTP core of `camvault serve` on libmicrohttpd: listening socket, limits, request
 * target parsing, routing, authentication, roles, CSRF, JSON bodies, responses, static files and
 * the signal-driven stop. Handlers (api_*.c) see only struct srv_req (srv_int.h).
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
#include "server/audit.h"
#include "server/guard.h"
#include "server/jobs.h"
#include "server/srv_int.h"
#include "common/banned.h"

/* Defaults of the camvault.conf keys (docs/operations.md, "HTTP limits"). */
#define CONN_MAX 1024
#define CONN_PER_IP_MAX 32
#define THREADS 32 /* above the logins that may wait for a hash at once (users.h): 8 + 16 */
#define REQUEST_TIMEOUT_S 10
#define IDLE_TIMEOUT_S 30
#define CONN_MEMORY (128 * 1024) /* per connection: request line, headers, buffers */
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

/* ---- request target ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into out (NUL-terminated); -1 on a bad escape or a control char. */
static int pct_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0)
                return -1;
            c = (unsigned char)(h << 4 | l);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return 0;
}

int srv_uri_parse(const char *raw, struct srv_uri *u, struct cv_err *err)
{
    size_t len = raw ? strlen(raw) : 0, pathlen, o = 0;
    const char *q, *p;

    memset(u, 0, sizeof(*u));
    if (len > SRV_URI_MAX)
        return cv_errf(err, CV_ELIMIT, "request target longer than %d bytes", SRV_URI_MAX);
    if (len == 0 || raw[0] != '/')
        return cv_errf(err, CV_EINVAL, "request target must start with '/'");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)raw[i] <= 0x20 || raw[i] == 0x7f)
            return cv_errf(err, CV_EINVAL, "control character or space in the request target");
    q = strchr(raw, '?');
    pathlen = q ? (size_t)(q - raw) : len;
    /* Path segments between slashes; a trailing slash is ignored, "//" inside is an error. */
    p = raw + 1;
    while (p < raw + pathlen) {
        const char *e = memchr(p, '/', (size_t)(raw + pathlen - p));
        size_t n = e ? (size_t)(e - p) : (size_t)(raw + pathlen - p);
        if (n == 0) {
            if (!e || e + 1 == raw + pathlen)
                break;
            return cv_errf(err, CV_EINVAL, "empty segment ('//') in the path");
        }
        if (u->nseg == SRV_SEGS_MAX)
            return cv_errf(err, CV_ELIMIT, "more than %d path segments", SRV_SEGS_MAX);
        if (pct_decode(p, n, u->buf + o) < 0)
            return cv_errf(err, CV_EINVAL, "bad percent-encoding in the path");
        u->seg[u->nseg++] = u->buf + o;
        o += strlen(u->buf + o) + 1;
        if (!e)
            break;
        p = e + 1;
    }
    if (!q)
        return 0;
    p = q + 1;
    while (*p) {
        const char *e = strchr(p, '&'), *eq;
        size_t n = e ? (size_t)(e - p) : strlen(p), kn;
        if (n == 0) {
            p += e ? 1 : 0;
            if (!e)
                break;
            continue;
        }
        if (u->nq == SRV_QUERY_MAX)
            return cv_errf(err, CV_ELIMIT, "more than %d query parameters", SRV_QUERY_MAX);
        eq = memchr(p, '=', n);
        kn = eq ? (size_t)(eq - p) : n;
        if (pct_decode(p, kn, u->buf + o) < 0)
            return cv_errf(err, CV_EINVAL, "bad percent-encoding in the query");
        u->qname[u->nq] = u->buf + o;
        o += strlen(u->buf + o) + 1;
        if (pct_decode(eq ? eq + 1 : p + n, eq ? n - kn - 1 : 0, u->buf + o) < 0)
            return cv_errf(err, CV_EINVAL, "bad percent-encoding in query parameter '%.40s'",
                           u->qname[u->nq]);
        u->qval[u->nq++] = u->buf + o;
        o += strlen(u->buf + o) + 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

const char *srv_uri_query(const struct srv_uri *u, const char *name)
{
    for (int i = 0; i < u->nq; i++)
        if (strcmp(u->qname[i], name) == 0)
            return u->qval[i];
    return NULL;
}

int srv_cookie_find(const char *h, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);

    while (h && *h) {
        const char *end;
        size_t vl;
        while (*h == ' ' || *h == ';' || *h == '\t')
            h++;
        end = strchr(h, ';');
        if (!end)
            end = h + strlen(h);
        if ((size_t)(end - h) > nl && strncmp(h, name, nl) == 0 && h[nl] == '=') {
            const char *v = h + nl + 1;
            vl = (size_t)(end - v);
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                v++;
                vl -= 2;
            }
            if (vl >= cap)
                return -1;
            memcpy(out, v, vl);
            out[vl] = 0;
            return 0;
        }
        h = end;
    }
    return -1;
}

/* ---- routing ---- */

static bool path_matches(const char *pattern, const struct srv_uri *u, const char **params,
                         int *nparams)
{
    const char *p = pattern + 1;
    int i = 0, np = 0;

    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (i >= u->nseg)
            return false;
        if (n == 2 && p[0] == '{' && p[1] == '}') {
            if (np < 4)
                params[np++] = u->seg[i];
        } else if (strlen(u->seg[i]) != n || strncmp(u->seg[i], p, n) != 0) {
            return false;
        }
        i++;
        p += n;
        if (*p == '/')
            p++;
    }
    if (i != u->nseg)
        return false;
    *nparams = np;
    return true;
}

const struct srv_route *srv_route_find(const char *method, const struct srv_uri *u,
                                       const char **params, int *nparams, char *allow,
                                       size_t allowcap)
{
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    const struct srv_route *found = NULL;
    size_t al = 0;

    allow[0] = 0;
    *nparams = 0;
    for (size_t i = 0; i < srv_nroutes; i++) {
        const struct srv_route *rt = &srv_routes[i];
        const char *tmp[4];
        int nt = 0;
        if (!path_matches(rt->pattern, u, tmp, &nt))
            continue;
        if (!strstr(allow, rt->method) && al + strlen(rt->method) + 3 < allowcap)
            al += (size_t)snprintf(allow + al, allowcap - al, "%s%s", al ? ", " : "", rt->method);
        if (!found && strcmp(rt->method, m) == 0) {
            found = rt;
            memcpy(params, tmp, sizeof(tmp));
            *nparams = nt;
        }
    }
    return found;
}

/* ---- responses ---- */

int srv_error(struct srv_req *r, int status, const char *fmt, ...)
{
    char msg[CV_ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->status = status;
    r->ctype = NULL;
    cv_buf_reset(&r->out);
    cv_buf_printf(&r->out, "{\"error\":");
    cv_json_str(&r->out, msg);
    cv_buf_printf(&r->out, "}\n");
    return 0;
}

int srv_fail(struct srv_req *r, int code, const struct cv_err *err)
{
    int status;

    switch (code) {
    case CV_ENOENT: status = 404; break;
    case CV_EINVAL:
    case CV_EUSAGE: status = 400; break;
    case CV_EEXIST:
    case CV_ESTATE: status = 409; break;
    case CV_ELIMIT: status = 413; break;
    default: status = 500; break;
    }
    if (status == 500)
        cv_warn("%s %s: %s", r->method, r->route ? r->route->pattern : "?", err->msg);
    return srv_error(r, status, "%s", err->msg[0] ? err->msg : cv_strerror(code));
}

void srv_header(struct srv_req *r, const char *name, const char *fmt, ...)
{
    va_list ap;

    if (r->nhdr >= SRV_HDRS_OUT)
        return;
    cv_strlcpy(r->hname[r->nhdr], name, sizeof(r->hname[0]));
    va_start(ap, fmt);
    vsnprintf(r->hval[r->nhdr], sizeof(r->hval[0]), fmt, ap);
    va_end(ap);
    r->nhdr++;
}

void srv_json_time(struct cv_buf *b, const char *key, int64_t us)
{
    if (us == 0) {
        cv_json_key(b, key);
        cv_buf_printf(b, "null");
        return;
    }
    cv_json_time(b, key, us);
}

int srv_query_time(struct srv_req *r, const char *name, bool required, int64_t *out)
{
    const char *v = srv_uri_query(&r->uri, name);
    struct cv_err err = {""};

    if (!v || !*v) {
        if (!required)
            return 1;
        srv_error(r, 400, "missing query parameter '%s' (RFC 3339 or @UNIXSECONDS)", name);
        return -1;
    }
    if (cv_time_parse(v, out, &err) < 0) {
        srv_error(r, 400, "query parameter '%s': %s", name, err.msg);
        return -1;
    }
    return 0;
}

int srv_body_time(struct srv_req *r, const char *name, bool required, int64_t *out)
{
    const char *v = NULL;
    struct cv_err err = {""};
    int rc = cv_json_get_str(r->in, name, required, &v, &err);

    if (rc < 0) {
        srv_error(r, 400, "%s (RFC 3339 or @UNIXSECONDS)", err.msg);
        return -1;
    }
    if (rc == 1)
        return 1;
    if (cv_time_parse(v, out, &err) < 0) {
        srv_error(r, 400, "field '%s': %s", name, err.msg);
        return -1;
    }
    return 0;
}

int srv_body_fields(struct srv_req *r, const char *const *allowed)
{
    struct cv_err err = {""};

    if (!r->in) {
        srv_error(r, 400, "this request needs a JSON object body");
        return -1;
    }
    if (cv_json_only(r->in, allowed, &err) < 0) {
        srv_error(r, 400, "%s", err.msg);
        return -1;
    }
    return 0;
}

int srv_read(struct srv_req *r, struct idx_txn **t)
{
    struct cv_err err = {""};
    int rc = idx_begin(r->srv->idx, false, t, &err);

    if (rc < 0) {
        srv_fail(r, rc, &err);
        return -1;
    }
    return 0;
}

int srv_write(struct srv_req *r, struct idx_txn **t)
{
    struct cv_err err = {""};
    int rc = idx_begin(r->srv->idx, true, t, &err);

    if (rc < 0) {
        srv_fail(r, rc, &err);
        return -1;
    }
    return 0;
}

int srv_audit(struct srv_req *r, struct idx_txn *t, const char *action, const char *target,
              const char *case_id, const char *detail, struct cv_err *err)
{
    struct srv_audit_entry e = {
        .user = r->authed ? r->user.name : "",
        .role = r->authed ? srv_role_name(r->user.role) : "-",
        .action = action,
        .target = target,
        .case_id = case_id,
        .detail = detail,
    };

    return t ? srv_audit_append(t, &e, NULL, err)
             : srv_audit_writer_log(r->srv->audit, &e, NULL, err);
}

void srv_user_json(struct cv_buf *b, const struct srv_user *u)
{
    cv_buf_printf(b, "{\"name\":");
    cv_json_str(b, u->name);
    cv_buf_printf(b, ",\"role\":\"%s\",\"disabled\":%s,", srv_role_name(u->role),
                  u->disabled ? "true" : "false");
    srv_json_time(b, "created", u->created_us);
    cv_buf_u8(b, ',');
    srv_json_time(b, "last_login", u->last_login_us);
    cv_buf_u8(b, '}');
}

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

static int parse_body(struct srv_req *r)
{
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    struct cv_err err = {""};
    size_t n;

    if (r->body.len == 0)
        return 0;
    n = ct ? strcspn(ct, "; ") : 0;
    if (!ct || n != strlen("application/json") || strncasecmp(ct, "application/json", n) != 0)
        return srv_error(r, 415, "the body must be JSON (Content-Type: application/json)"), -1;
    if (cv_json_parse((const char *)r->body.data, r->body.len, NULL, &r->json, &err) < 0)
        return srv_error(r, 400, "%s", err.msg), -1;
    r->in = cv_json_root(r->json);
    return 0;
}

/* ---- static files ---- */

static const char *content_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
        {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".ico", "image/x-icon"},
        {".woff2", "font/woff2"}, {".txt", "text/plain; charset=utf-8"},
        {".webmanifest", "application/manifest+json"}, {".map", "application/json"},
    };
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

static int serve_static(struct srv_req *r)
{
    char path[PATH_MAX], real[PATH_MAX];
    const char *last = "index.html";
    size_t o, wl = strlen(r->srv->webdir);
    struct stat st;
    struct MHD_Response *resp;
    int fd;

    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        srv_header(r, "Allow", "GET, HEAD");
        return srv_error(r, 405, "static files are read-only (GET)");
    }
    if (!r->srv->webdir[0])
        return srv_error(r, 404, "not found (no web directory)");
    o = (size_t)snprintf(path, sizeof(path), "%s", r->srv->webdir);
    for (int i = 0; i < r->uri.nseg; i++) {
        const char *s = r->uri.seg[i];
        /* No dot-files (., .., .git), no separators smuggled in by %2F or backslashes. */
        if (s[0] == '.' || strchr(s, '/') || strchr(s, '\\'))
            return srv_error(r, 404, "not found");
        if (o + 1 + strlen(s) >= sizeof(path))
            return srv_error(r, 404, "not found");
        o += (size_t)snprintf(path + o, sizeof(path) - o, "/%s", s);
        last = s;
    }
    if (r->uri.nseg == 0)
        snprintf(path + o, sizeof(path) - o, "/index.html");
    /* Symlinks may not lead out of the web directory. */
    if (!realpath(path, real) || strncmp(real, r->srv->webdir, wl) != 0 || real[wl] != '/')
        return srv_error(r, 404, "not found");
    fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return srv_error(r, 404, "not found");
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return srv_error(r, 404, "not found");
    }
    resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd); /* owns fd from here */
    if (!resp) {
        close(fd);
        return srv_error(r, 500, "cannot serve '%s'", last);
    }
    MHD_add_response_header(resp, "Content-Type", content_type(real));
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    r->resp = resp;
    r->status = 200;
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
            serve_static(r);
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
        if (check_csrf(r) < 0)
            return;
    }
    if (parse_body(r) < 0)
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

/* The default web directory: <dir of the binary>/../server/web (build/camvault in the tree). */
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
    srv_guard_close(s->guard);
    srv_throttle_close(s->throttle);
    srv_audit_writer_close(s->audit); /* after the daemon: no request is waiting in it */
    idx_close(s->idx);
    free(s);
    return rc;
}
