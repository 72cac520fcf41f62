/*
 * camera_int.h: one camera's thread and its session, shared by camera.c's parts (not an API:
 * everything here belongs to the camera's thread, except what rec_cam's comments say).
 */
#ifndef REC_CAMERA_INT_H
#define REC_CAMERA_INT_H

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <libavformat/avformat.h>

#include "recorder/clk.h"
#include "recorder/dts.h"
#include "recorder/loop.h"
#include "recorder/rec_int.h"
#include "recorder/rtsp.h"

#define AQ_MAX 256 /* audio packets held until the video catches up (5 s of 48-kHz AAC) */
#define CUTQ_MAX 32 /* video frames held at a cut until the audio catches up (1.3 s at 25 fps) */

struct rec_cam {
    struct idx_camera cfg;
    char root[PATH_MAX];
    char url_safe[IDX_URL_MAX]; /* URL without user:password, for messages */
    const struct rec_config *rc;
    struct rec_sink *sink;
    struct rec_notes *notes;
    struct rec_pic_cam *pic; /* picture health (picture.h); NULL: always "unknown" */
    volatile sig_atomic_t *gstop;
    pthread_t thread;
    atomic_bool retire, done;
    atomic_llong deadline; /* mono µs; blocking calls give up past it */
    pthread_mutex_t lock;
    pthread_cond_t cond;

    /* where the last recorded footage ended, and why the next hole happens */
    int64_t last_end_us;
    uint8_t gap_reason;
    char gap_detail[IDX_TEXT_MAX];

    struct idx_status st;
    char durability[IDX_TEXT_MAX]; /* the last "not durable" reason, kept in every status */
    int64_t rate_t0;
    uint64_t rate_bytes;
    int64_t last_status_push;
    int64_t stagger_us; /* shortens the first segment so cameras do not all rotate together */
    bool use_libav;     /* the own client cannot record this camera: libavformat does */
    bool use_udp;       /* the server refused RTP over TCP: libavformat over UDP */
    struct rec_loop *loop; /* NULL: the camera's thread reads the own client itself */
    atomic_ullong dropped_queue; /* video frames the loop's queue dropped (loop.h) */
};

/* One connection and the run being recorded on it. */
struct session {
    struct rec_rtsp *rtsp; /* the own client, or */
    AVFormatContext *ic;   /* libavformat's, or */
    void *src;             /* rec_config.source's (srcops): a GB/T 28181 device */
    const struct rec_source *srcops;
    bool fallback;         /* the own client gave up on this stream: reconnect with libavformat */
    int vi, ai;
    AVRational tb[2];
    AVCodecParameters *par[2];
    bool mov;
    char vdesc[LAY_SEG_CODEC_MAX], adesc[LAY_SEG_CODEC_MAX];
    int64_t default_dur[2];

    bool active;
    uint64_t run_id;
    uint32_t seq;
    int64_t origin_ts[2];
    int64_t off;     /* wall = media µs + off; see the top of this file */
    int64_t seg_floor; /* end of the run's last closed segment: the next starts no earlier */
    int64_t win_min; /* smallest receive - media since the current segment began */
    struct rec_seg *seg;
    int64_t seg_first_m;
    char seg_rel[LAY_RELPATH_MAX]; /* the open segment's path, for seal requests */
    /* Each segment's decode times start at 0 (see seg_write): the run-relative time of the
     * segment's first video decode time, per stream in its time base (audio rounded down). */
    int64_t seg_base[2];
    int64_t open_cto; /* pts - dts of the keyframe that opens the next segment */
    bool gap_pending; /* the hole before this run is not indexed yet */
    AVPacket *pend[2];
    int64_t pend_m[2], pend_recv[2], last_dur[2];
    /* audio ahead of the video, waiting for it (see write_pending) */
    AVPacket *aq[AQ_MAX];
    int64_t aq_recv[AQ_MAX];
    int aq_head, aq_n;
    int64_t vfront; /* run-relative µs where the video written so far ends */
    /* decode times, rebuilt from presentation times (see video_times) */
    struct rec_dts dts;
    struct rec_clk clk[2]; /* libavformat's times kept on each stream's own clock (clk.h) */
    int64_t lead_pts; /* presentation time of the run's first keyframe */
    bool first_gop;   /* no second keyframe yet in this run */
    /* libavformat's untimed first frame and the frames after it, until it can be dated */
    AVPacket *hold[REC_DTS_DEPTH_MAX + 2];
    int64_t hold_recv[REC_DTS_DEPTH_MAX + 2];
    int nhold;
    /* a due cut's keyframe and the video after it, held until the audio before it has come */
    AVPacket *cutq[CUTQ_MAX];
    int64_t cutq_recv[CUTQ_MAX];
    int ncutq;
    bool cut_now; /* replaying them: cut without waiting */
};

/*
 * A packet of the own client or a source into the run (camera.c): counted, then cut and written.
 * On the camera's thread, or a writer's while the camera's waits in rec_loop_record (loop.h).
 * after_drop: the loop's queue dropped frames before this keyframe; the run ends first, and the
 * hole is a gap. The caller keeps pkt.
 */
int rec_cam_packet(struct rec_cam *c, struct session *s, AVPacket *pkt, int64_t recv,
                   bool after_drop, struct cv_err *err);

/* Record the own client's connection through the loop (camera_loop.c): rec_loop_record's
 * errors, never 0. */
int rec_cam_loop(struct rec_cam *c, struct session *s, struct cv_err *err);

#endif
