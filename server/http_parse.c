/*
 * http_parse.c: the request side and the handler helpers of the HTTP core (see srv_int.h):
 * request target and query parsing, cookies, routing, JSON bodies, error replies and the small
 * helpers every api_*.c handler uses (times in queries and bodies, transactions, audit).
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

/* ---- request target ---- */

/* Percent-decode s[0..n) into u->buf at *o (strictly: a bad escape or a control byte is an
 * error) and advance *o past it; the decoded text, or NULL. It always fits: decoding shortens. */
static char *decode_into(struct srv_uri *u, size_t *o, const char *s, size_t n)
{
    char *out = u->buf + *o;

    if (cv_pct_decode(s, n, out, sizeof(u->buf) - *o, true) < 0)
        return NULL;
    *o += strlen(out) + 1;
    return out;
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
        if (!(u->seg[u->nseg++] = decode_into(u, &o, p, n)))
            return cv_errf(err, CV_EINVAL, "bad percent-encoding in the path");
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
        if (!(u->qname[u->nq] = decode_into(u, &o, p, kn)))
            return cv_errf(err, CV_EINVAL, "bad percent-encoding in the query");
        if (!(u->qval[u->nq] = decode_into(u, &o, eq ? eq + 1 : p + n, eq ? n - kn - 1 : 0)))
            return cv_errf(err, CV_EINVAL, "bad percent-encoding in query parameter '%.40s'",
                           u->qname[u->nq]);
        u->nq++;
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

int srv_query_range(struct srv_req *r, int64_t max_us, const char *too_long, int64_t *from,
                    int64_t *to)
{
    if (srv_query_time(r, "from", true, from) < 0 || srv_query_time(r, "to", true, to) < 0)
        return -1;
    if (*to <= *from)
        return srv_error(r, 400, "'to' must be after 'from'"), -1;
    if (*to - *from > max_us)
        return srv_error(r, 400, "%s", too_long), -1;
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

/* srv_read and srv_write: a transaction of the request's index, or answered and -1. */
static int begin(struct srv_req *r, bool write, struct idx_txn **t)
{
    struct cv_err err = {""};
    int rc = idx_begin(r->srv->idx, write, t, &err);

    if (rc < 0) {
        srv_fail(r, rc, &err);
        return -1;
    }
    return 0;
}

int srv_read(struct srv_req *r, struct idx_txn **t)
{
    return begin(r, false, t);
}

int srv_write(struct srv_req *r, struct idx_txn **t)
{
    return begin(r, true, t);
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
        .area = r->authed ? r->user.area : NULL,
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
    cv_json_time_or_null(b, "created", u->created_us);
    cv_buf_u8(b, ',');
    cv_json_time_or_null(b, "last_login", u->last_login_us);
    srv_user_area_json(b, u);
    cv_buf_u8(b, '}');
}

/* ---- JSON bodies ---- */

int srv_parse_body(struct srv_req *r)
{
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    struct cv_json_limits lim = {0};
    struct cv_err err = {""};
    size_t n;

    if (r->body.len == 0)
        return 0;
    n = ct ? strcspn(ct, "; ") : 0;
    if (!ct || n != strlen("application/json") || strncasecmp(ct, "application/json", n) != 0)
        return srv_error(r, 415, "the body must be JSON (Content-Type: application/json)"), -1;
    if (r->route && (r->route->flags & SRV_LONG_STRINGS))
        lim.max_string = SRV_BODY_MAX;
    if (cv_json_parse((const char *)r->body.data, r->body.len, &lim, &r->json, &err) < 0)
        return srv_error(r, 400, "%s", err.msg), -1;
    r->in = cv_json_root(r->json);
    return 0;
}
