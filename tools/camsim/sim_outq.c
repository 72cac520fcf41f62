/*
 * sim_outq.c: bounded byte queue plus a ring of delivery markers; see sim_outq.h.
 *
 * The bytes live in one linear buffer [head, head+len). It grows by doubling up to the limit and
 * is compacted (moved to the front) when the free tail is too short, so a connection that keeps
 * up holds only a few kilobytes however long it plays.
 */
#include "tools/camsim/sim_outq.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/banned.h"

#define SIM_OUTQ_MIN 16384

void sim_outq_init(struct sim_outq *q, size_t limit)
{
    memset(q, 0, sizeof(*q));
    q->limit = limit;
}

void sim_outq_release(struct sim_outq *q)
{
    free(q->buf);
    free(q->marks);
    memset(q, 0, sizeof(*q));
}

/* Makes room for `need` more bytes at the tail. */
static int reserve(struct sim_outq *q, size_t need)
{
    size_t cap;
    uint8_t *p;

    if (q->head + q->len + need <= q->cap)
        return 0;
    if (q->len + need <= q->cap) {
        memmove(q->buf, q->buf + q->head, q->len);
        q->head = 0;
        return 0;
    }
    cap = q->cap ? q->cap : SIM_OUTQ_MIN;
    while (cap < q->len + need)
        cap *= 2;
    if (cap > q->limit)
        cap = q->limit;
    p = malloc(cap);
    if (p == NULL)
        return -1;
    if (q->len)
        memcpy(p, q->buf + q->head, q->len);
    free(q->buf);
    q->buf = p;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int sim_outq_append(struct sim_outq *q, const struct iovec *iov, int n)
{
    size_t total = 0;
    uint8_t *dst;

    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (total > q->limit - q->len || reserve(q, total) != 0)
        return -1;
    dst = q->buf + q->head + q->len;
    for (int i = 0; i < n; i++) {
        memcpy(dst, iov[i].iov_base, iov[i].iov_len);
        dst += iov[i].iov_len;
    }
    q->len += total;
    q->appended += total;
    return 0;
}

int sim_outq_mark(struct sim_outq *q, uint64_t end, int cam, unsigned video, unsigned audio)
{
    struct sim_outq_mark *m;

    if (q->mark_len == q->mark_cap) {
        size_t cap = q->mark_cap ? q->mark_cap * 2 : 64;
        struct sim_outq_mark *p;
        if (cap > q->limit / 64 + 64)
            return -1;
        p = malloc(cap * sizeof(*p));
        if (p == NULL)
            return -1;
        /* Unwrap the ring into the new array. */
        for (size_t i = 0; i < q->mark_len; i++)
            p[i] = q->marks[(q->mark_head + i) % q->mark_cap];
        free(q->marks);
        q->marks = p;
        q->mark_cap = cap;
        q->mark_head = 0;
    }
    m = &q->marks[(q->mark_head + q->mark_len) % q->mark_cap];
    m->end = end;
    m->cam = cam;
    m->video = (uint16_t)video;
    m->audio = (uint16_t)audio;
    q->mark_len++;
    return 0;
}

int sim_outq_flush(struct sim_outq *q, int fd)
{
    while (q->len > 0) {
        ssize_t n = send(fd, q->buf + q->head, q->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            return -1;
        }
        q->head += (size_t)n;
        q->len -= (size_t)n;
        q->written += (uint64_t)n;
    }
    q->head = 0;
    return 0;
}

int sim_outq_sendv(struct sim_outq *q, int fd, const struct iovec *iov, int n)
{
    struct iovec rest[SIM_OUTQ_IOV_MAX];
    struct msghdr msg;
    size_t sent = 0;
    int r, k = 0;

    assert(n <= SIM_OUTQ_IOV_MAX);
    if (q->len > 0 && (r = sim_outq_flush(q, fd)) != 0) {
        if (r < 0)
            return -2;
        return sim_outq_append(q, iov, n) == 0 ? 1 : -1; /* still backed up: keep the order */
    }
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = (struct iovec *)iov;
    msg.msg_iovlen = (size_t)n;
    for (;;) {
        ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0) {
            sent = (size_t)w;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -2;
        break;
    }
    q->appended += sent;
    q->written += sent;
    /* Skip what went out; queue the rest (a copy, only when the socket is full). */
    for (int i = 0; i < n; i++) {
        if (sent >= iov[i].iov_len) {
            sent -= iov[i].iov_len;
            continue;
        }
        rest[k].iov_base = (uint8_t *)iov[i].iov_base + sent;
        rest[k].iov_len = iov[i].iov_len - sent;
        sent = 0;
        k++;
    }
    if (k == 0)
        return 0;
    return sim_outq_append(q, rest, k) == 0 ? 1 : -1;
}

int sim_outq_consumed(struct sim_outq *q, struct sim_outq_mark *out)
{
    struct sim_outq_mark *m;

    if (q->mark_len == 0)
        return 0;
    m = &q->marks[q->mark_head];
    if (m->end > q->written)
        return 0;
    *out = *m;
    q->mark_head = (q->mark_head + 1) % q->mark_cap;
    q->mark_len--;
    return 1;
}
