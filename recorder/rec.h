/*
 * rec.h: the recorder. Pulls every enabled camera of a data root at once and writes its stream,
 * without transcoding, into segment files indexed in LMDB.
 *
 * Each camera has a thread for its connection's life (connect, end of run, backoff, retire).
 * Cameras on the own client (recorder/rtsp.c: RTSP over TCP with the common codecs) are read by
 * a few epoll threads and written by a small writer pool through bounded per-camera queues
 * (recorder/loop.h), while their own thread sleeps; the rest (libavformat's input: UDP, rtsps://
 * and the codecs the own client does not carry; GB/T 28181 sources) are read and written by the
 * camera's thread itself (recorder/camera.c). One sink thread owns all index writes and batches
 * them into few commits, so a camera never waits for the index and a dead or slow camera never
 * delays the others. The main thread watches the index for camera changes (added, disabled,
 * edited) and starts or retires camera threads.
 *
 * Segment life (docs/storage-layout.md): created with O_EXCL in its final directory and noted as
 * "pending" in the index; one fragment per GOP written as the GOP completes and hashed on the
 * way; closed at the first keyframe after the target length with fsync of the file and its
 * directory; only then committed (record, fragment table, chain link). On start-up the pending
 * file of each camera is recovered to its last complete fragment before recording resumes.
 */
#ifndef REC_REC_H
#define REC_REC_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

struct idx;
struct idx_camera;
struct AVPacket;
struct AVCodecParameters;

/*
 * A frame source other than RTSP, for cameras whose URL starts with `scheme`: how `record`
 * feeds GB/T 28181 devices' streams (gb/gb.h) through the camera threads without the recorder
 * knowing GB/T 28181. The contract is rec_rtsp's (recorder/rtsp.h): open blocks until the first
 * video keyframe (or an error naming the camera's source and the cause, CV_ECANCELED when
 * stop(stop_ctx)); media gives the codec parameters ([0] video, [1] audio or NULL), the time
 * bases as num/den and a frame's duration; read gives the next packet (stream_index 0 or 1,
 * pts = dts, Annex B video, AV_PKT_FLAG_KEY on keyframes) and its receive time; close ends it.
 * Called on the camera's thread; ctx is shared by all cameras.
 */
struct rec_source_media {
    const struct AVCodecParameters *par[2];
    int tb_num[2], tb_den[2];
    int64_t frame_dur;
    const char *audio_skipped; /* "" or the audio stream not delivered */
};

struct rec_source {
    const char *scheme; /* "gb28181://" */
    int (*open)(void *ctx, const struct idx_camera *cam, int64_t timeout_us, int64_t stall_us,
                bool (*stop)(void *), void *stop_ctx, void **handle, struct rec_source_media *m,
                struct cv_err *err);
    int (*read)(void *handle, struct AVPacket *pkt, int64_t *recv_us, struct cv_err *err);
    void (*close)(void *handle);
    void *ctx;
};

struct rec_config {
    int64_t segment_us;         /* target segment length; default 60 s */
    int64_t connect_timeout_us; /* RTSP open and stream probing; default 10 s */
    int64_t stall_timeout_us;   /* no packet for this long = camera lost; default 10 s */
    int64_t backoff_max_us;     /* longest wait between reconnects; default 5 s */
    int64_t poll_us;            /* how often camera changes are looked for; default 2 s */
    int64_t status_us;          /* how often camera status is written; default 2 s */
    int64_t retention_us;       /* how often retention runs; default 10 s */
    int64_t checkpoint_us;      /* how often chain heads are signed; default 60 s */
    int64_t live_chunk_us;      /* CMAF chunk length in segment files; default 200 ms, 0 off */
    int64_t picture_us;         /* each camera's picture checked this often (picture.h); 5 s */
    size_t queue_bytes;         /* a camera's frames waiting for the disk (loop.h); 8 MB */
    char tsa_url[512];          /* RFC 3161 authority stamping each checkpoint; "" for none */
    /* Called on rec_run's thread with its open index once recording starts, and with NULL
     * before the index closes (NULL hook: none). How `camvault record` runs the GB/T 28181
     * agent (gb/gb.h) on the recorder's index without the recorder knowing it: one process
     * must not open the LMDB environment twice. */
    void (*index_hook)(void *ctx, struct idx *idx);
    void *index_hook_ctx;
    const struct rec_source *source; /* NULL: RTSP only */
};

void rec_config_defaults(struct rec_config *cfg);

/*
 * Run the recorder on data root `root` until *stop becomes nonzero (set it from a SIGTERM or
 * SIGINT handler), then close every open segment properly and return 0. Returns an error only
 * when recording cannot start at all (no index, index unreadable); camera failures are never
 * errors here: they are camera status and gaps. Call from the main thread; it blocks signals
 * in the threads it starts so that the caller's handlers run on the calling thread.
 */
int rec_run(const char *root, const struct rec_config *cfg, volatile sig_atomic_t *stop,
            struct cv_err *err);

#endif
