/*
 * loop.h: the recorder's network reading and segment writing for cameras on the own RTSP client
 * (rtsp.h), without a thread per camera doing either.
 *
 * Readers: a few event-loop threads (one per online CPU, at most REC_LOOP_READERS_MAX), each an
 * epoll set of the connections of the cameras it reads. A connection is readable when 32 KB have
 * come (the socket's SO_RCVLOWAT) or it ended; a timer tick reads every connection that has not
 * been read for 100 ms (what there is; and the keep-alives, receiver reports and stall timeout
 * run then, rec_rtsp_pump). Readers never write a file: each packet goes into its camera's
 * bounded queue (struct rec_fq), so a stalled disk never stops a socket from being drained.
 *
 * Writers: a fixed pool of threads (REC_LOOP_WRITERS) takes cameras with queued packets in
 * turn (more threads than cores: closing a segment waits for its fsync, 50-200 ms on a busy
 * disk, and 200 cameras close 20 segments a second; idle writers sleep and cost nothing) and
 * hands each packet, in order, to the camera's write callback (camera.c: cut, hash,
 * write segments). A camera is served by at most one writer at a time, so its packets are
 * written in the order they came; a writer serves a camera for at most a batch, then the next.
 *
 * Overflow: a camera whose queue is full (rec_loop_cam.queue_bytes of packets not yet written:
 * camvault.conf's write_queue_mb, default REC_FQ_BYTES; or REC_FQ_ITEMS packets) drops what
 * comes until the next video keyframe that fits, so what is lost always ends at a keyframe and
 * everything kept decodes; the keyframe after the hole is marked (after_drop) and the camera
 * ends its run there, so the index shows the hole as a gap. Frames dropped are counted per
 * camera and each episode is logged once (one warning naming the camera and the cause). Other
 * cameras' queues are not affected.
 *
 * The camera's thread keeps the connection's life (connect, handshake, end of run, backoff,
 * retire): rec_loop_record hands the connection to a reader and sleeps until the stream ends,
 * writing fails or the camera stops, and returns only when the reader has let go of the
 * connection and every queued packet is written (or, after a write failure, dropped).
 */
#ifndef REC_LOOP_H
#define REC_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>

#include "recorder/rtsp.h"
#include "common/error.h"

#define REC_LOOP_READERS_MAX 4
#define REC_LOOP_WRITERS 16 /* a segment's close waits for fsync: several may at once */
#define REC_FQ_BYTES (8u << 20) /* a camera's queue: 16 s of 4 Mbit/s */
#define REC_FQ_ITEMS 4096       /* and at most this many packets */

/* ---- a camera's queue (one lock outside guards it; exposed for the unit tests) ---- */

struct rec_fq_item {
    AVPacket *pkt;
    int64_t recv_us;
    bool after_drop; /* the first packet after frames were dropped: a keyframe */
};

struct rec_fq {
    struct rec_fq_item *it; /* ring, grown on demand up to max_items */
    size_t cap, head, n;
    size_t bytes, max_bytes, max_items;
    bool dropping;    /* full: drop until a video keyframe fits */
    bool gap;         /* the next packet queued follows dropped ones */
    uint64_t dropped; /* video frames dropped, in all */
    uint64_t dropped_other; /* audio frames dropped */
};

enum { REC_FQ_QUEUED = 0, REC_FQ_DROPPED = 1, REC_FQ_DROP_STARTED = 2 };

void rec_fq_init(struct rec_fq *q, size_t max_bytes, size_t max_items);
/* Frees the packets still queued. */
void rec_fq_release(struct rec_fq *q);
/*
 * Queue pkt (stream_index 0 video, AV_PKT_FLAG_KEY on keyframes; else audio), taking ownership:
 * REC_FQ_QUEUED; or it was dropped and freed: REC_FQ_DROP_STARTED when this began an episode
 * (the caller logs it), REC_FQ_DROPPED otherwise. An empty queue takes any packet.
 */
int rec_fq_push(struct rec_fq *q, AVPacket *pkt, int64_t recv_us);
/* The oldest packet into *out (the caller owns out->pkt); false when empty. */
bool rec_fq_pop(struct rec_fq *q, struct rec_fq_item *out);

/* ---- the loops ---- */

struct rec_loop;

/* Start the readers and writers. CV_ENOMEM or CV_EIO (epoll, eventfd, threads) naming the cause. */
int rec_loop_start(struct rec_loop **out, struct cv_err *err);
/* After every rec_loop_record has returned: stop and join the threads. NULL-safe. */
void rec_loop_stop(struct rec_loop *l);

/* A packet for the camera's run (called on a writer thread, one at a time per camera, in the
 * order the packets came); <0 ends the recording with err (the rest of the queue is dropped). */
typedef int (*rec_loop_write_fn)(void *ctx, AVPacket *pkt, int64_t recv_us, bool after_drop,
                                 struct cv_err *err);

struct rec_loop_cam {
    const char *name;         /* the camera's id, for the log */
    struct rec_rtsp *rtsp;    /* open and playing (rec_rtsp_open); the caller closes it after */
    rec_loop_write_fn write;
    void *ctx;
    bool (*stop)(void *ctx);  /* polled; true ends the recording (queued packets still written) */
    void *stop_ctx;
    atomic_ullong *dropped;   /* video frames dropped by the queue, added to as it happens */
    size_t queue_bytes;       /* the camera's queue holds at most this much; 0: REC_FQ_BYTES */
};

/*
 * Record one connection until the stream ends (its error, as rec_rtsp_read's), a write fails
 * (that error), or stop (CV_ECANCELED). Blocks the calling thread; returns when the loop no
 * longer touches cam->rtsp and every queued packet has been handed to cam->write.
 */
int rec_loop_record(struct rec_loop *l, const struct rec_loop_cam *cam, struct cv_err *err);

#endif
