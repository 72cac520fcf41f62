/*
 * url.c: camera URLs split one way for connecting (cv_url_parse) and for showing
 * (cv_url_redact). The rules are in url.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/url.h"
#include "common/banned.h"

/* Where the part after "scheme://" starts, or 0 when s has no valid "scheme://". */
static size_t after_scheme(const char *s)
{
    const char *p = strstr(s, "://");

    if (!p || p == s || !isalpha((unsigned char)s[0]))
        return 0;
    for (const char *q = s; q < p; q++)
        if (!isalnum((unsigned char)*q) && *q != '+' && *q != '-' && *q != '.')
            return 0;
    return (size_t)(p - s) + 3;
}

/* The last '@' in s[from..), or NULL: the end of the userinfo (url.h says why the last). */
static const char *last_at(const char *s, size_t from)
{
    return strrchr(s + from, '@');
}

int cv_url_parse(const char *url, struct cv_url *out, struct cv_err *err)
{
    size_t a = after_scheme(url);
    const char *at, *h, *hend, *colon;

    memset(out, 0, sizeof(*out));
    if (a == 0)
        return cv_errf(err, CV_EINVAL, "not a URL (no scheme://)");
    if (a - 3 >= sizeof(out->scheme))
        return cv_errf(err, CV_EINVAL, "the URL's scheme is too long");
    for (size_t i = 0; i < a - 3; i++)
        out->scheme[i] = (char)tolower((unsigned char)url[i]);
    at = last_at(url, a);
    h = url + a;
    if (at) {
        const char *sep = memchr(h, ':', (size_t)(at - h));
        size_t ul = sep ? (size_t)(sep - h) : (size_t)(at - h);
        out->has_user = true;
        if (cv_pct_decode(h, ul, out->user, sizeof(out->user), false) != 0 ||
            (sep && cv_pct_decode(sep + 1, (size_t)(at - sep - 1), out->pass, sizeof(out->pass),
                                  false) != 0))
            return cv_errf(err, CV_EINVAL, "the user name or password in the URL is too long "
                           "(over %zu bytes) or holds %%00", sizeof(out->user) - 1);
        h = at + 1;
    }
    hend = h + strcspn(h, "/?#");
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(hend - h));
        if (!rb || rb == h + 1 || (size_t)(rb - h - 1) >= sizeof(out->host))
            return cv_errf(err, CV_EINVAL, "bad IPv6 host in the URL");
        memcpy(out->host, h + 1, (size_t)(rb - h - 1));
        if (rb + 1 < hend && rb[1] != ':')
            return cv_errf(err, CV_EINVAL, "bad host in the URL (text after ']')");
        colon = rb + 1 < hend ? rb + 1 : NULL;
    } else {
        colon = memchr(h, ':', (size_t)(hend - h));
        size_t hl = (size_t)((colon ? colon : hend) - h);
        if (hl == 0)
            return cv_errf(err, CV_EINVAL, "no host in the URL");
        if (hl >= sizeof(out->host))
            return cv_errf(err, CV_EINVAL, "the URL's host is too long");
        memcpy(out->host, h, hl);
        for (size_t i = 0; i < hl; i++)
            if ((unsigned char)h[i] <= ' ' || h[i] == '%' || h[i] == '\\')
                return cv_errf(err, CV_EINVAL, "bad character in the URL's host");
    }
    if (colon) {
        size_t pl = (size_t)(hend - colon - 1);
        long v = 0;
        for (size_t i = 0; i < pl; i++) {
            if (colon[1 + i] < '0' || colon[1 + i] > '9')
                return cv_errf(err, CV_EINVAL, "bad port in the URL (not a number)");
            v = v * 10 + (colon[1 + i] - '0');
            if (v > 65535)
                break;
        }
        if (pl == 0 || v < 1 || v > 65535)
            return cv_errf(err, CV_EINVAL, "bad port in the URL (not 1-65535)");
        snprintf(out->port, sizeof(out->port), "%ld", v);
    }
    if (cv_strlcpy(out->rest, hend, sizeof(out->rest)) != 0)
        return cv_errf(err, CV_EINVAL, "the URL is too long (over %d bytes)", CV_URL_MAX - 1);
    return 0;
}

int cv_url_check(const char *url, struct cv_err *err)
{
    struct cv_url u;
    size_t a;
    const char *at;
    int rc = cv_url_parse(url, &u, err);

    if (rc < 0)
        return rc;
    if (strcmp(u.scheme, "rtsp") != 0 && strcmp(u.scheme, "rtsps") != 0)
        return cv_errf(err, CV_EINVAL, "must start with rtsp:// or rtsps://");
    /* A userinfo without ':' that holds a path character is a path with a raw '@' in it. */
    a = after_scheme(url);
    at = last_at(url, a);
    if (at && !memchr(url + a, ':', (size_t)(at - url - a)) &&
        strcspn(url + a, "/?#") < (size_t)(at - url - a))
        return cv_errf(err, CV_EINVAL, "a raw '@' after the host: write an '@' in the path or "
                       "query as %%40");
    return 0;
}

/* ---- redaction ---- */

struct out {
    char *p;
    size_t cap, n;
};

static void put(struct out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n && o->n + 1 < o->cap; i++)
        o->p[o->n++] = s[i];
    o->p[o->n] = 0;
}

/* Whether a parameter name names a credential (see url.h). */
static bool secret_name(const char *k, size_t n)
{
    static const char *const exact_end[] = {"pwd", "pass", "key", "auth"};
    static const char *const inside[] = {"password", "passwd", "token", "secret", "apikey"};
    char low[64];

    if (n == 0 || n >= sizeof(low))
        return false;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)k[i]);
    low[n] = 0;
    for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++)
        if (strstr(low, inside[i]))
            return true;
    for (size_t i = 0; i < sizeof(exact_end) / sizeof(exact_end[0]); i++) {
        size_t l = strlen(exact_end[i]);
        if (n >= l && strcmp(low + n - l, exact_end[i]) == 0)
            return true;
    }
    return false;
}

/* s (path, query, fragment) with the values of credential parameters replaced by ***. */
static void redact_params(struct out *o, const char *s)
{
    const char *p = s;

    while (*p) {
        size_t kl = strcspn(p, "=?&;/#");
        if (p[kl] == '=' && secret_name(p, kl)) {
            put(o, p, kl + 1);
            put(o, "***", 3);
            p += kl + 1;
            p += strcspn(p, "&;"); /* not '#': a raw '#' in a password is no fragment */
            continue;
        }
        put(o, p, kl + (p[kl] ? 1 : 0));
        p += kl + (p[kl] ? 1 : 0);
    }
}

void cv_url_redact(const char *url, char *out, size_t cap)
{
    struct out o = {out, cap, 0};
    size_t a;
    const char *at, *h;

    if (cap == 0)
        return;
    out[0] = 0;
    a = after_scheme(url);
    put(&o, url, a);
    at = last_at(url, a);
    h = url + a;
    if (at) {
        const char *sep = memchr(h, ':', (size_t)(at - h));
        if (sep) {
            put(&o, h, (size_t)(sep - h));
            put(&o, ":***@", 5);
        } else {
            put(&o, "***@", 4);
        }
        h = at + 1;
    }
    put(&o, h, strcspn(h, "/?#"));
    redact_params(&o, h + strcspn(h, "/?#"));
}

/* ---- writing back ---- */

static void pct_encode(struct cv_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
            cv_buf_u8(b, c);
        else
            cv_buf_printf(b, "%%%02X", c);
    }
}

int cv_url_format(const struct cv_url *u, bool with_cred, char *out, size_t cap)
{
    struct cv_buf b;
    int rc = 0;

    cv_buf_init(&b, cap > 0 ? cap - 1 : 0);
    cv_buf_printf(&b, "%s://", u->scheme);
    if (with_cred && u->has_user) {
        pct_encode(&b, u->user);
        if (u->pass[0]) {
            cv_buf_u8(&b, ':');
            pct_encode(&b, u->pass);
        }
        cv_buf_u8(&b, '@');
    }
    cv_buf_printf(&b, strchr(u->host, ':') ? "[%s]" : "%s", u->host);
    if (u->port[0])
        cv_buf_printf(&b, ":%s", u->port);
    cv_buf_printf(&b, "%s", u->rest);
    if (!cv_buf_ok(&b) || cap == 0)
        rc = CV_ELIMIT;
    else
        memcpy(out, cv_buf_str(&b), b.len + 1);
    if (rc < 0 && cap > 0)
        out[0] = 0;
    cv_buf_release(&b);
    return rc;
}
