/*
 * buf.h: bounded byte buffers for building and parsing records, text and JSON.
 *
 * struct cv_buf grows on the heap up to a hard `limit` chosen by its owner; past it (or when
 * malloc fails) the buffer turns "failed" and ignores further writes, so a builder can write a
 * whole record and check once at the end (cv_buf_ok). struct cv_rd reads from borrowed memory
 * with bounds checks; a read past the end sets `bad` and returns zeros, again checked once.
 * Big-endian integers make index keys sort in numeric order. Not thread-safe: one owner each.
 */
#ifndef CV_BUF_H
#define CV_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cv_buf {
    uint8_t *data; /* owned; NUL-terminated after every text write */
    size_t len;
    size_t cap;
    size_t limit; /* hard maximum of len */
    bool failed;
};

/* Embedded-struct lifecycle: init sets the limit, release frees. */
void cv_buf_init(struct cv_buf *b, size_t limit);
void cv_buf_release(struct cv_buf *b);
void cv_buf_reset(struct cv_buf *b); /* len = 0, failed = false; keeps memory */
static inline bool cv_buf_ok(const struct cv_buf *b)
{
    return !b->failed;
}
/* The text (always NUL-terminated, "" when empty or failed). */
const char *cv_buf_str(const struct cv_buf *b);

void cv_buf_put(struct cv_buf *b, const void *p, size_t n);
void cv_buf_u8(struct cv_buf *b, uint8_t v);
void cv_buf_be32(struct cv_buf *b, uint32_t v);
void cv_buf_be64(struct cv_buf *b, uint64_t v);
void cv_buf_varint(struct cv_buf *b, uint64_t v); /* LEB128 */
void cv_buf_str16(struct cv_buf *b, const char *s); /* 16-bit length, then bytes */
void cv_buf_printf(struct cv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* JSON helpers: a quoted, escaped string (s may be NULL: null); "key": prefix. */
void cv_json_str(struct cv_buf *b, const char *s);
void cv_json_key(struct cv_buf *b, const char *key);
/* The opening of an object whose first member is its id: `{"id":"id"` (s may be NULL: null);
 * the writer goes on with cv_json_add_* and closes with '}'. */
void cv_json_open_id(struct cv_buf *b, const char *id);
/* A member after an object's first: `,"key":"s"` (`,"key":null` when s is NULL or, with
 * empty_null, ""); and `,"key":["a","b"]` of n strings stride bytes apart from first (the
 * rows of a char[n][stride] array). */
void cv_json_add_str(struct cv_buf *b, const char *key, const char *s, bool empty_null);
void cv_json_add_strv(struct cv_buf *b, const char *key, const char *first, size_t stride,
                      size_t n);

struct cv_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    bool bad;
};

static inline void cv_rd_init(struct cv_rd *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
    r->bad = false;
}
uint8_t cv_rd_u8(struct cv_rd *r);
uint32_t cv_rd_be32(struct cv_rd *r);
uint64_t cv_rd_be64(struct cv_rd *r);
uint64_t cv_rd_varint(struct cv_rd *r);
/* Skip n bytes (fields not needed); past the end sets bad. */
void cv_rd_skip(struct cv_rd *r, size_t n);
/* Copy bytes out; the copy is exactly n bytes or, past the end, zeros and bad = true. */
void cv_rd_bytes(struct cv_rd *r, void *out, size_t n);
/* A str16 into out[cap]; bad when it does not fit or runs past the end. */
void cv_rd_str16(struct cv_rd *r, char *out, size_t cap);

/* Encoding helpers for fixed buffers (keys). */
void cv_put_be32(uint8_t *p, uint32_t v);
void cv_put_be64(uint8_t *p, uint64_t v);
uint32_t cv_get_be32(const uint8_t *p);
uint64_t cv_get_be64(const uint8_t *p);

/* Lowercase hex of n bytes into out (2n+1 bytes). Parse back: 0, or -1 on bad input. */
void cv_hex(const uint8_t *in, size_t n, char *out);
int cv_unhex(const char *in, uint8_t *out, size_t n);

/* Percent-decode src[0..n) (RFC 3986 2.1) into out[cap], NUL-terminated; the one decoder of the
 * project (URL user info, request targets). A '%' not followed by two hex digits is kept as it
 * is (FFmpeg's ff_urldecode) unless strict. Returns 0, or -1 when the result does not fit in cap,
 * holds a NUL, or, when strict, has a bad escape or any control byte (< 0x20, 0x7f). */
int cv_pct_decode(const char *src, size_t n, char *out, size_t cap, bool strict);

/* Room for `need` elements of `elem` bytes in the heap array *p of *cap elements: when need is
 * over *cap, *p is reallocated to the first power-of-two multiple of *cap (of `first` when *cap is
 * 0) that holds need, and *cap says the new size. The one growth rule of the project's arrays.
 * Returns 0, or -1 when out of memory or need * elem would not fit in a size_t (then *p and
 * *cap are as they were). */
int cv_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first);

/* Bounded copy: copies at most cap-1 bytes and terminates; returns -1 when it truncated. */
int cv_strlcpy(char *dst, const char *src, size_t cap);

/* strtoll/strtod with full-string and range checks: 0, or -1 on any bad input. */
int cv_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
int cv_parse_double(const char *s, double min, double max, double *out);

#endif
