/*
 * clip_read.c: a planned working copy's bytes, on demand (API in clip.h, plan in clip_int.h).
 *
 * Output = head (ftyp, moov, sidx) + each output fragment (source bytes with their patches
 * applied) + tail (mfra). Sources are opened one at a time and kept open while read in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "exporter/clip.h"
#include "exporter/clip_int.h"
#include "common/fileio.h"
#include "common/banned.h"

#define COPY_CHUNK (1u << 20)

/* ---- reading ---- */

uint64_t exp_clip_size(const struct exp_clip *c)
{
    return c->size;
}

void exp_clip_times(const struct exp_clip *c, int64_t *first_us, int64_t *end_us)
{
    if (first_us)
        *first_us = c->first_us;
    if (end_us)
        *end_us = c->end_us;
}

int64_t exp_clip_origin_us(const struct exp_clip *c)
{
    return c->origin_us;
}

size_t exp_clip_source_count(const struct exp_clip *c)
{
    return c->nsrcs;
}

const struct exp_clip_source *exp_clip_source_at(const struct exp_clip *c, size_t i)
{
    return i < c->nsrcs ? &c->srcs[i] : NULL;
}

/* Make c->fd the descriptor of source s, checking it still holds what the plan needs. */
static int source_fd(struct exp_clip *c, size_t s, struct cv_err *err)
{
    struct stat st;
    int rc;

    if (c->fd >= 0 && c->fd_src == s)
        return 0;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    rc = exp_clip_open_ro(c->srcs[s].path, &c->fd, err);
    if (rc < 0)
        return rc;
    if (fstat(c->fd, &st) < 0 || (uint64_t)st.st_size < c->need[s]) {
        close(c->fd);
        c->fd = -1;
        return cv_errf(err, CV_ECORRUPT, "'%s' is shorter than when the clip was planned",
                       c->srcs[s].path);
    }
    c->fd_src = s;
    return 0;
}

/* Bytes [rel, rel + n) of output fragment i into buf. */
static int read_frag(struct exp_clip *c, size_t i, uint64_t rel, uint8_t *buf, size_t n,
                     struct cv_err *err)
{
    const struct ofrag *f = &c->frags[i];
    int rc = source_fd(c, f->src, err);

    if (rc == 0)
        rc = cv_pread_all(c->fd, buf, n, (off_t)(f->src_off + rel), err);
    if (rc < 0)
        return cv_errwrap(err, rc, "'%s'", c->srcs[f->src].path);
    for (uint32_t k = 0; k < f->npatch; k++) {
        const struct patch *p = &c->patches[f->patch0 + k];
        uint8_t v[8];
        for (int b = 0; b < p->width; b++)
            v[b] = (uint8_t)(p->value >> (8 * (p->width - 1 - b)));
        for (int b = 0; b < p->width; b++)
            if (p->at + (uint64_t)b >= rel && p->at + (uint64_t)b < rel + n)
                buf[p->at + b - rel] = v[b];
    }
    return 0;
}

int exp_clip_read(struct exp_clip *c, uint64_t off, void *buf, size_t len, struct cv_err *err)
{
    uint8_t *p = buf;

    if (off > c->size || len > c->size - off)
        return cv_errf(err, CV_EINVAL, "clip: range %llu+%zu outside the clip (%llu bytes)",
                       (unsigned long long)off, len, (unsigned long long)c->size);
    while (len > 0) {
        size_t n;
        if (off < c->head.len) {
            n = c->head.len - off < len ? (size_t)(c->head.len - off) : len;
            memcpy(p, c->head.data + off, n);
        } else if (off >= c->tail_off) {
            n = len;
            memcpy(p, c->tail.data + (off - c->tail_off), n);
        } else {
            size_t lo = 0, hi = c->nfrags;
            int rc;
            while (hi - lo > 1) { /* the last fragment starting at or before off */
                size_t mid = lo + (hi - lo) / 2;
                if (c->frags[mid].out_off <= off)
                    lo = mid;
                else
                    hi = mid;
            }
            n = c->frags[lo].out_off + c->frags[lo].size - off < len
                    ? (size_t)(c->frags[lo].out_off + c->frags[lo].size - off)
                    : len;
            rc = read_frag(c, lo, off - c->frags[lo].out_off, p, n, err);
            if (rc < 0)
                return rc;
        }
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

int exp_clip_write(struct exp_clip *c, int fd, uint8_t sha256_out[32], struct cv_err *err)
{
    EVP_MD_CTX *md = sha256_out ? EVP_MD_CTX_new() : NULL;
    uint8_t *buf = malloc(COPY_CHUNK);
    unsigned int mdlen = 32;
    uint64_t off = 0;
    int rc = 0;

    if (!buf || (sha256_out && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1))) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    while (off < c->size) {
        size_t n = c->size - off < COPY_CHUNK ? (size_t)(c->size - off) : COPY_CHUNK;
        rc = exp_clip_read(c, off, buf, n, err);
        if (rc < 0)
            goto out;
        rc = cv_write_all(fd, buf, n);
        if (rc < 0) {
            rc = cv_errf(err, cv_errno_code(-rc), "cannot write the clip: %s", strerror(-rc));
            goto out;
        }
        if (md)
            EVP_DigestUpdate(md, buf, n);
        off += n;
    }
    if (md)
        EVP_DigestFinal_ex(md, sha256_out, &mdlen);
out:
    EVP_MD_CTX_free(md);
    free(buf);
    return rc;
}

void exp_clip_free(struct exp_clip *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    for (size_t i = 0; i < c->nsrcs; i++)
        free((char *)c->srcs[i].path);
    free(c->srcs);
    free(c->need);
    free(c->frags);
    free(c->patches);
    cv_buf_release(&c->head);
    cv_buf_release(&c->tail);
    free(c);
}
