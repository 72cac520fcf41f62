/*
 * bmff.c: ISO BMFF box headers read from memory or a file, and written (API in bmff.h).
 *
 * Both readers decode a header with one function, head(), from the bytes in hand and the room
 * the box may take, so memory and file walking check sizes in exactly the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "storage-layout/bmff.h"
#include "common/fileio.h"
#include "common/banned.h"

/*
 * Decode the box header in h[0 .. have) for a box that may take `room` bytes (have <= room).
 * Fills type, *hsize and *size. 0 when the box is whole; CV_ECORRUPT with the cause in err.
 * Size 0 takes the whole room when zero_to_end, else it is refused.
 */
static int head(const uint8_t *h, size_t have, uint64_t room, bool zero_to_end, char type[5],
                uint64_t *hsize, uint64_t *size, uint64_t at, struct cv_err *err)
{
    type[0] = 0;
    if (have < 8)
        return cv_errf(err, CV_ECORRUPT, "box header at offset %llu: %llu bytes left, 8 needed",
                       (unsigned long long)at, (unsigned long long)room);
    memcpy(type, h + 4, 4);
    type[4] = 0;
    *size = cv_get_be32(h);
    *hsize = 8;
    if (*size == 1) {
        if (have < 16)
            return cv_errf(err, CV_ECORRUPT,
                           "box '%s' at offset %llu: %llu bytes left, 16 needed for its largesize",
                           type, (unsigned long long)at, (unsigned long long)room);
        *size = cv_get_be64(h + 8);
        *hsize = 16;
    } else if (*size == 0) {
        if (!zero_to_end)
            return cv_errf(err, CV_ECORRUPT,
                           "box '%s' at offset %llu: size 0 (to the end) is not allowed here", type,
                           (unsigned long long)at);
        *size = room;
    }
    if (*size < *hsize)
        return cv_errf(err, CV_ECORRUPT,
                       "box '%s' at offset %llu: size %llu is smaller than its %llu-byte header",
                       type, (unsigned long long)at, (unsigned long long)*size,
                       (unsigned long long)*hsize);
    if (*size > room) /* compared without overflow: size may be near 2^64 */
        return cv_errf(err, CV_ECORRUPT,
                       "box '%s' at offset %llu: size %llu runs past the end (%llu bytes left)",
                       type, (unsigned long long)at, (unsigned long long)*size,
                       (unsigned long long)room);
    return 0;
}

void lay_box_init(struct lay_box_cur *c, const void *data, size_t len)
{
    c->base = c->p = data;
    c->end = c->p + len;
}

void lay_box_enter(struct lay_box_cur *c, const struct lay_box *box)
{
    lay_box_init(c, box->body, box->len);
}

int lay_box_next(struct lay_box_cur *c, struct lay_box *out, struct cv_err *err)
{
    size_t avail = (size_t)(c->end - c->p);
    uint64_t hsize, size;
    int rc;

    if (avail == 0)
        return 0;
    rc = head(c->p, avail, avail, true, out->type, &hsize, &size, (uint64_t)(c->p - c->base), err);
    if (rc < 0)
        return rc;
    out->start = c->p;
    out->body = c->p + hsize;
    out->hsize = (size_t)hsize;
    out->size = (size_t)size;
    out->len = (size_t)(size - hsize);
    c->p += size;
    return 1;
}

int lay_box_find(const void *data, size_t len, const char *type, struct lay_box *out)
{
    struct lay_box_cur c;
    int r;

    lay_box_init(&c, data, len);
    while ((r = lay_box_next(&c, out, NULL)) == 1)
        if (lay_box_is(out->type, type))
            return 1;
    return r;
}

int lay_box_u32_after_times(const struct lay_box *box, uint32_t *out)
{
    struct cv_rd r;
    uint8_t version;

    cv_rd_init(&r, box->body, box->len);
    version = cv_rd_u8(&r);
    cv_rd_skip(&r, 3 + (version == 1 ? 16 : 8));
    *out = cv_rd_be32(&r);
    return r.bad ? -1 : 0;
}

bool lay_box_is(const char *type, const char *want)
{
    return memcmp(type, want, 4) == 0;
}

int lay_box_read(int fd, uint64_t off, uint64_t limit, struct lay_box_hdr *out, struct cv_err *err)
{
    uint8_t h[16];
    uint64_t room = off < limit ? limit - off : 0;
    size_t have = room < sizeof(h) ? (size_t)room : sizeof(h);
    int rc;

    out->off = off;
    if (have >= 8) {
        rc = cv_pread_all(fd, h, have, (off_t)off, err);
        if (rc < 0)
            return rc;
    }
    rc = head(h, have, room, false, out->type, &out->hsize, &out->size, off, err);
    return rc < 0 ? 0 : 1;
}

int lay_box_load(int fd, uint64_t off, uint64_t len, uint8_t **buf, size_t *cap, struct cv_err *err)
{
    if (len > LAY_BOX_LOAD_MAX)
        return cv_errf(err, CV_ECORRUPT, "box of %llu bytes at offset %llu is too large",
                       (unsigned long long)len, (unsigned long long)off);
    if (len > *cap) {
        uint8_t *p = realloc(*buf, (size_t)len);
        if (!p)
            return cv_errf(err, CV_ENOMEM, "out of memory");
        *buf = p;
        *cap = (size_t)len;
    }
    return cv_pread_all(fd, *buf, (size_t)len, (off_t)off, err);
}

void lay_box_begin(struct cv_buf *b, const char *type, size_t *mark)
{
    *mark = b->len;
    cv_buf_be32(b, 0);
    cv_buf_put(b, type, 4);
}

void lay_box_end(struct cv_buf *b, size_t mark)
{
    if (cv_buf_ok(b))
        cv_put_be32(b->data + mark, (uint32_t)(b->len - mark));
}

void lay_box_full(struct cv_buf *b, uint8_t version, uint32_t flags)
{
    cv_buf_be32(b, (uint32_t)version << 24 | (flags & 0xffffff));
}
