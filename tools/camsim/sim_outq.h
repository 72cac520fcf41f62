/*
 * sim_outq.h: a bounded output byte queue for one non-blocking socket, with delivery markers.
 *
 * Each RTSP connection owns one. Responses and interleaved RTP/RTCP are appended; the server
 * writes from the front when the socket accepts data. The queue has a hard byte limit: an append
 * that would pass it fails, and the server drops the connection rather than block or grow.
 *
 * Markers tie an event to a byte position: "the access unit of camera 3 is complete once
 * everything appended so far has been written". sim_outq_consumed() hands back the markers whose
 * bytes have all left the queue, which is how video_frames_sent counts frames actually handed to
 * the kernel, not merely queued.
 *
 * Not thread-safe; camsim has one thread.
 */
#ifndef CAMSIM_SIM_OUTQ_H
#define CAMSIM_SIM_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define SIM_OUTQ_IOV_MAX 512 /* iovecs per sim_outq_sendv (Linux takes up to 1024) */

struct sim_outq_mark {
    uint64_t end;   /* absolute byte position (count of bytes ever appended) */
    int32_t cam;    /* camera index */
    uint16_t video; /* frames completed at this position */
    uint16_t audio;
};

struct sim_outq {
    uint8_t *buf;
    size_t head, len, cap, limit;
    uint64_t appended, written;  /* absolute byte counts */
    struct sim_outq_mark *marks; /* ring */
    size_t mark_head, mark_len, mark_cap;
};

/* Initialises an empty queue that may hold at most limit bytes. Allocates nothing yet. */
void sim_outq_init(struct sim_outq *q, size_t limit);

/* Frees the buffers; the queue is empty and can be reused after sim_outq_init. */
void sim_outq_release(struct sim_outq *q);

/*
 * Appends the concatenation of iov[0..n) as one unit (all or nothing). Returns 0, or -1 if it
 * would pass the limit or memory runs out (the queue is then unchanged).
 */
int sim_outq_append(struct sim_outq *q, const struct iovec *iov, int n);

/* Records a marker at absolute byte position end (>= every pending marker's; may lie past what
 * is appended yet, when the bytes follow in sim_outq_sendv). Returns 0, or -1 if out of memory
 * or if more than the marker limit (one per 64 bytes of the byte limit) are pending. */
int sim_outq_mark(struct sim_outq *q, uint64_t end, int cam, unsigned video, unsigned audio);

/*
 * Sends the concatenation of iov[0..n) on the non-blocking socket fd behind what is queued,
 * without copying it when it can: if the queue is empty (or empties with one send), the iovecs
 * go out with one sendmsg() straight from the caller's memory, and only what the socket does not
 * take is copied into the queue. The caller's memory need not outlive the call. Returns 0 if
 * everything was written, 1 if bytes remain queued (the socket would block), -1 if the rest would
 * pass the limit (nothing of iov is queued then; the connection must go), or -2 on a socket error
 * (errno set).
 */
int sim_outq_sendv(struct sim_outq *q, int fd, const struct iovec *iov, int n);

/*
 * Writes as much as the non-blocking socket fd takes. Returns 0 if the queue is now empty, 1 if
 * data remains (the socket would block), or -1 on a socket error (errno set).
 */
int sim_outq_flush(struct sim_outq *q, int fd);

/* Pops the next marker whose bytes have all been written into *out. Returns 1 if one was
 * popped, 0 if none is due. */
int sim_outq_consumed(struct sim_outq *q, struct sim_outq_mark *out);

static inline size_t sim_outq_pending(const struct sim_outq *q)
{
    return q->len;
}

#endif
