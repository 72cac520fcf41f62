/*
 * buf.c: bounded growable buffers, a bounds-checked reader, hex and checked number parsing.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/banned.h"

void cv_buf_init(struct cv_buf *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit;
}

void cv_buf_release(struct cv_buf *b)
{
    if (!b)
        return;
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void cv_buf_reset(struct cv_buf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = 0;
}

const char *cv_buf_str(const struct cv_buf *b)
{
    return b->data && !b->failed ? (const char *)b->data : "";
}

/* Make room for n more bytes plus a terminating NUL. */
static bool reserve(struct cv_buf *b, size_t n)
{
    size_t need, cap;
    uint8_t *p;

    if (b->failed)
        return false;
    if (n > b->limit || b->len > b->limit - n) {
        b->failed = true;
        return false;
    }
    need = b->len + n + 1;
    if (need <= b->cap)
        return true;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void cv_buf_put(struct cv_buf *b, const void *p, size_t n)
{
    if (!reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void cv_buf_u8(struct cv_buf *b, uint8_t v)
{
    cv_buf_put(b, &v, 1);
}

void cv_buf_be32(struct cv_buf *b, uint32_t v)
{
    uint8_t t[4];

    cv_put_be32(t, v);
    cv_buf_put(b, t, 4);
}

void cv_buf_be64(struct cv_buf *b, uint64_t v)
{
    uint8_t t[8];

    cv_put_be64(t, v);
    cv_buf_put(b, t, 8);
}

void cv_buf_varint(struct cv_buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;

    do {
        t[n] = v & 0x7f;
        v >>= 7;
        if (v)
            t[n] |= 0x80;
        n++;
    } while (v);
    cv_buf_put(b, t, n);
}

void cv_buf_str16(struct cv_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n > 0xffff) {
        b->failed = true;
        return;
    }
    cv_buf_u8(b, (uint8_t)(n >> 8));
    cv_buf_u8(b, (uint8_t)n);
    cv_buf_put(b, s, n);
}

void cv_buf_printf(struct cv_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cv_json_str(struct cv_buf *b, const char *s)
{
    static const char hexd[] = "0123456789abcdef";
    /* The characters with a two-character escape (RFC 8259); other controls are \u00XX. */
    static const char esc[128][2] = {
        ['"'] = {'\\', '"'}, ['\\'] = {'\\', '\\'}, ['\n'] = {'\\', 'n'},
        ['\r'] = {'\\', 'r'}, ['\t'] = {'\\', 't'},
    };

    if (!s) {
        cv_buf_put(b, "null", 4);
        return;
    }
    cv_buf_u8(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 128 && esc[*p][0]) {
            cv_buf_put(b, esc[*p], 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hexd[*p >> 4], hexd[*p & 15]};
            cv_buf_put(b, e, 6);
        } else {
            cv_buf_u8(b, *p);
        }
    }
    cv_buf_u8(b, '"');
    if (!b->failed)
        b->data[b->len] = 0;
}

void cv_json_key(struct cv_buf *b, const char *key)
{
    cv_json_str(b, key);
    cv_buf_u8(b, ':');
    if (!b->failed)
        b->data[b->len] = 0;
}

void cv_json_open_id(struct cv_buf *b, const char *id)
{
    cv_buf_u8(b, '{');
    cv_json_key(b, "id");
    cv_json_str(b, id);
}

void cv_json_add_str(struct cv_buf *b, const char *key, const char *s, bool empty_null)
{
    cv_buf_u8(b, ',');
    cv_json_key(b, key);
    cv_json_str(b, s && (s[0] || !empty_null) ? s : NULL);
}

void cv_json_add_strv(struct cv_buf *b, const char *key, const char *first, size_t stride,
                      size_t n)
{
    cv_buf_u8(b, ',');
    cv_json_key(b, key);
    cv_buf_u8(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            cv_buf_u8(b, ',');
        cv_json_str(b, first + i * stride);
    }
    cv_buf_u8(b, ']');
}

static const uint8_t *take(struct cv_rd *r, size_t n)
{
    const uint8_t *p;

    if (r->bad || r->off > r->len || n > r->len - r->off) {
        r->bad = true;
        return NULL;
    }
    p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t cv_rd_u8(struct cv_rd *r)
{
    const uint8_t *p = take(r, 1);
    return p ? p[0] : 0;
}

uint32_t cv_rd_be32(struct cv_rd *r)
{
    const uint8_t *p = take(r, 4);
    return p ? cv_get_be32(p) : 0;
}

uint64_t cv_rd_be64(struct cv_rd *r)
{
    const uint8_t *p = take(r, 8);
    return p ? cv_get_be64(p) : 0;
}

uint64_t cv_rd_varint(struct cv_rd *r)
{
    uint64_t v = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        const uint8_t *p = take(r, 1);
        if (!p)
            return 0;
        v |= (uint64_t)(p[0] & 0x7f) << shift;
        if (!(p[0] & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

void cv_rd_skip(struct cv_rd *r, size_t n)
{
    take(r, n);
}

void cv_rd_bytes(struct cv_rd *r, void *out, size_t n)
{
    const uint8_t *p = take(r, n);

    if (p)
        memcpy(out, p, n);
    else
        memset(out, 0, n);
}

void cv_rd_str16(struct cv_rd *r, char *out, size_t cap)
{
    size_t n = (size_t)cv_rd_u8(r) << 8;
    const uint8_t *p;

    n |= cv_rd_u8(r);
    out[0] = 0;
    if (r->bad)
        return;
    if (n >= cap) {
        r->bad = true;
        return;
    }
    p = take(r, n);
    if (!p)
        return;
    memcpy(out, p, n);
    out[n] = 0;
}

void cv_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void cv_put_be64(uint8_t *p, uint64_t v)
{
    cv_put_be32(p, (uint32_t)(v >> 32));
    cv_put_be32(p + 4, (uint32_t)v);
}

uint32_t cv_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t cv_get_be64(const uint8_t *p)
{
    return (uint64_t)cv_get_be32(p) << 32 | cv_get_be32(p + 4);
}

void cv_hex(const uint8_t *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = 0;
}

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

int cv_pct_decode(const char *src, size_t n, char *out, size_t cap, bool strict)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)src[i];
        if (ch == '%') {
            int hi = i + 2 < n ? hexval(src[i + 1]) : -1, lo = i + 2 < n ? hexval(src[i + 2]) : -1;
            if (hi >= 0 && lo >= 0) {
                ch = hi << 4 | lo;
                i += 2;
            } else if (strict) {
                return -1;
            }
        }
        if (ch == 0 || (strict && (ch < 0x20 || ch == 0x7f)) || o + 1 >= cap)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = 0;
    return 0;
}

int cv_unhex(const char *in, uint8_t *out, size_t n)
{
    if (strlen(in) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int cv_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
    size_t ncap = *cap ? *cap : first;
    void *np;

    if (need <= *cap)
        return 0;
    if (elem == 0 || ncap == 0 || need > SIZE_MAX / elem)
        return -1;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / elem / 2 ? need : ncap * 2; /* never past what fits */
    np = realloc(*p, ncap * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = ncap;
    return 0;
}

int cv_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);

    if (cap == 0)
        return -1;
    if (n >= cap) {
        memcpy(dst, src, cap - 1);
        dst[cap - 1] = 0;
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

int cv_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    long long v;

    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cv_parse_double(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    double v;

    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end != '\0' || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}
