/*
 * sim_rtsp.c: find and decode RTSP requests in a byte buffer.
 *
 * Deliberately small: camsim answers a handful of methods, so only the headers it uses are kept
 * and the rest are skipped. Header names compare case-insensitively (RFC 2326 follows HTTP);
 * lines may end in CRLF or a bare LF, as some clients send.
 */
#include "tools/camsim/sim_rtsp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

/* Copies [s, s+n) into dst (size bytes) as a string; -1 if it does not fit. */
static int copy_field(char *dst, size_t size, const char *s, size_t n)
{
    if (n >= size)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
        (*e)--;
}

/* End of the head: the offset just past the blank line, or 0 if there is none yet. */
static size_t head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static int parse_request_line(const char *s, const char *e, struct sim_rtsp_req *req)
{
    const char *sp1, *sp2;

    trim(&s, &e);
    sp1 = memchr(s, ' ', (size_t)(e - s));
    if (sp1 == NULL)
        return -1;
    sp2 = memchr(sp1 + 1, ' ', (size_t)(e - sp1 - 1));
    if (sp2 == NULL)
        return -1;
    if (copy_field(req->method, sizeof(req->method), s, (size_t)(sp1 - s)) != 0 ||
        copy_field(req->url, sizeof(req->url), sp1 + 1, (size_t)(sp2 - sp1 - 1)) != 0 ||
        copy_field(req->version, sizeof(req->version), sp2 + 1, (size_t)(e - sp2 - 1)) != 0)
        return -1;
    if (req->method[0] == '\0' || req->url[0] == '\0')
        return -1;
    return 0;
}

static int parse_number(const char *s, const char *e, long max, long *out)
{
    char tmp[24];
    char *end = NULL;
    long v;

    if (copy_field(tmp, sizeof(tmp), s, (size_t)(e - s)) != 0)
        return -1;
    errno = 0;
    v = strtol(tmp, &end, 10);
    if (errno != 0 || end == tmp || *end != '\0' || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_header(const char *s, const char *e, struct sim_rtsp_req *req)
{
    const char *colon = memchr(s, ':', (size_t)(e - s));
    const char *name_end, *v;
    size_t name_len;
    long n;

    if (colon == NULL)
        return -1;
    name_end = colon;
    v = colon + 1;
    trim(&s, &name_end);
    trim(&v, &e);
    name_len = (size_t)(name_end - s);
#define IS(h) (name_len == sizeof(h) - 1 && strncasecmp(s, h, name_len) == 0)
    if (IS("CSeq")) {
        if (parse_number(v, e, 0x7fffffff, &n) != 0)
            return -1;
        req->cseq = n;
    } else if (IS("Content-Length")) {
        if (parse_number(v, e, SIM_RTSP_REQUEST_MAX, &n) != 0)
            return -1;
        req->content_length = (size_t)n;
    } else if (IS("Session")) {
        const char *semi = memchr(v, ';', (size_t)(e - v));
        const char *id_end = semi ? semi : e;
        trim(&v, &id_end);
        return copy_field(req->session, sizeof(req->session), v, (size_t)(id_end - v));
    } else if (IS("Transport")) {
        return copy_field(req->transport, sizeof(req->transport), v, (size_t)(e - v));
    }
#undef IS
    return 0;
}

long sim_rtsp_parse(const char *buf, size_t len, struct sim_rtsp_req *req)
{
    size_t end = head_end(buf, len);
    const char *p, *stop;
    int first = 1;

    if (end == 0)
        return len >= SIM_RTSP_REQUEST_MAX ? -1 : 0;
    if (end > SIM_RTSP_REQUEST_MAX)
        return -1;
    memset(req, 0, sizeof(*req));
    req->cseq = -1;
    p = buf;
    stop = buf + end;
    while (p < stop) {
        const char *nl = memchr(p, '\n', (size_t)(stop - p));
        const char *line_end = nl ? nl : stop;
        const char *e = line_end;
        const char *s = p;
        trim(&s, &e);
        if (s < e) {
            if (first ? parse_request_line(p, line_end, req) != 0
                      : parse_header(p, line_end, req) != 0)
                return -1;
            first = 0;
        }
        p = line_end + 1;
    }
    if (first)
        return -1;
    if (end + req->content_length > SIM_RTSP_REQUEST_MAX)
        return -1;
    if (len < end + req->content_length)
        return 0;
    return (long)(end + req->content_length);
}

/* Parses "a" or "a-b" into two non-negative numbers (b = a + 1 if absent). */
static int parse_pair(const char *s, const char *e, int max, int out[2])
{
    const char *dash = memchr(s, '-', (size_t)(e - s));
    long a, b;

    if (parse_number(s, dash ? dash : e, max, &a) != 0)
        return -1;
    if (dash) {
        if (parse_number(dash + 1, e, max, &b) != 0)
            return -1;
    } else {
        b = a + 1;
    }
    if (b > max)
        return -1;
    out[0] = (int)a;
    out[1] = (int)b;
    return 0;
}

/* Parses one transport spec ("RTP/AVP/TCP;unicast;interleaved=0-1"). */
static int parse_one_transport(const char *s, const char *e, struct sim_transport *t)
{
    const char *p = s;
    int first = 1;

    t->tcp = 0;
    t->interleaved[0] = t->interleaved[1] = -1;
    t->client_port[0] = t->client_port[1] = -1;
    while (p <= e) {
        const char *semi = memchr(p, ';', (size_t)(e - p));
        const char *pe = semi ? semi : e;
        const char *ps = p;
        size_t n;
        trim(&ps, &pe);
        n = (size_t)(pe - ps);
        if (first) {
            if (n == 11 && strncasecmp(ps, "RTP/AVP/TCP", n) == 0)
                t->tcp = 1;
            else if (!((n == 7 && strncasecmp(ps, "RTP/AVP", n) == 0) ||
                       (n == 11 && strncasecmp(ps, "RTP/AVP/UDP", n) == 0)))
                return -1;
            first = 0;
        } else if (n == 9 && strncasecmp(ps, "multicast", n) == 0) {
            return -1;
        } else if (n > 12 && strncasecmp(ps, "interleaved=", 12) == 0) {
            if (parse_pair(ps + 12, pe, 255, t->interleaved) != 0)
                return -1;
        } else if (n > 12 && strncasecmp(ps, "client_port=", 12) == 0) {
            if (parse_pair(ps + 12, pe, 65535, t->client_port) != 0 || t->client_port[0] == 0)
                return -1;
        }
        if (semi == NULL)
            break;
        p = semi + 1;
    }
    if (!t->tcp && t->client_port[0] < 0)
        return -1;
    return 0;
}

int sim_rtsp_parse_transport(const char *value, struct sim_transport *out)
{
    const char *p = value;
    const char *end = value + strlen(value);

    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        if (parse_one_transport(p, e, out) == 0)
            return 0;
        p = e + 1;
    }
    return -1;
}

int sim_rtsp_parse_target(const char *url, const char *name, int cameras, int *cam, int *stream)
{
    const char *path = url;
    const char *end, *seg_end, *p;
    size_t name_len = strlen(name);
    long n = 0;

    if (strncasecmp(url, "rtsp://", 7) == 0) {
        path = strchr(url + 7, '/');
        if (path == NULL)
            return -1;
    }
    if (*path != '/')
        return -1;
    path++;
    end = path + strcspn(path, "?");
    seg_end = memchr(path, '/', (size_t)(end - path));
    if (seg_end == NULL)
        seg_end = end;
    /* "<name><n>" with n a decimal number without leading zeros, 1..cameras. */
    if ((size_t)(seg_end - path) <= name_len || strncmp(path, name, name_len) != 0)
        return -1;
    p = path + name_len;
    if (*p == '0')
        return -1;
    for (; p < seg_end; p++) {
        if (*p < '0' || *p > '9' || n > cameras)
            return -1;
        n = n * 10 + (*p - '0');
    }
    if (n < 1 || n > cameras)
        return -1;
    *cam = (int)(n - 1);
    *stream = -1;
    if (seg_end == end || seg_end + 1 == end)
        return 0;
    /* A stream segment, possibly followed by a trailing slash. */
    p = seg_end + 1;
    {
        size_t rest = (size_t)(end - p);
        const char *digits = NULL;
        long s = 0;
        if (rest > 9 && strncasecmp(p, "streamid=", 9) == 0)
            digits = p + 9;
        else if (rest > 8 && strncasecmp(p, "trackID=", 8) == 0)
            digits = p + 8;
        if (digits == NULL)
            return -1;
        for (p = digits; p < end && *p != '/'; p++) {
            if (*p < '0' || *p > '9' || s > 1000)
                return -1;
            s = s * 10 + (*p - '0');
        }
        if (p == digits || (p < end && p + 1 != end))
            return -1;
        *stream = (int)s;
    }
    return 0;
}
