/*
 * rec_int.h: pieces shared by the recorder's own files (not an API for other modules).
 *
 *   segwriter.c  rec_seg_*: one segment file being written
 *   sink.c       rec_sink_*: the thread that owns index writes
 *   camera.c     rec_cam_*: one camera's ingest thread
 *   retainer.c   rec_retainer_*: the retention thread; rec_notes_*: what it tells cameras
 *   recorder.c   rec_run: start-up recovery and camera supervision
 */
#ifndef REC_INT_H
#define REC_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "indexer/idx.h"
#include "recorder/picture.h"
#include "recorder/rec.h"

/* ---- segment writer ---- */

struct rec_seg;

struct rec_seg_params {
    const char *root, *volume, *camera;
    const AVCodecParameters *vpar; /* H.264 or H.265 */
    const AVCodecParameters *apar; /* NULL: no audio */
    AVRational vtb, atb;           /* time bases of the packets that will be written */
    bool mov;                      /* QuickTime brand (G.711 audio); else MP4 */
    uint64_t run_id;
    uint32_t run_seq;
    int64_t start_wall_us; /* names the file */
    const char *video_desc, *audio_desc;
    /* Wall-clock µs of a run-relative video dts (params' vtb), asked when a fragment is
     * flushed, so that it uses the camera's best clock estimate at that time. */
    int64_t (*wall_of)(void *ctx, int64_t video_dts);
    void *wall_ctx;
    /* No fragment starts before this (the end of the run's previous segment; 0: none), and no
     * fragment before the end of the one before it: times never go back within a run. */
    int64_t min_wall_us;
    /* Video packets carry start codes (Annex B), as from libavformat's RTSP input; else 4-byte
     * NAL lengths, as stored. */
    bool annexb;
    /* Write each fragment as CMAF chunks of about this much video (prft + moof + mdat each),
     * for live viewers of the growing file; 0: one moof + mdat per fragment. */
    int64_t chunk_us;
    /* Where the segment's presentation starts, after its first video decode time (the first
     * keyframe's pts - dts; vtb): the video's edit list starts there; audio's at 0 (the
     * caller's audio times start there). */
    int64_t video_start;
};

/*
 * segedit.c: copy the init part `init` (ftyp, moov, ...) to `out` with an edit list in each of
 * the first `ntracks` traks: one edit from media_time[t] (the trak's timescale) to the end.
 * 0, CV_ECORRUPT (not boxes, or fewer traks), CV_ENOMEM (out's limit).
 */
int rec_seg_edit_lists(const uint8_t *init, size_t len, const int64_t *media_time, int ntracks,
                       struct cv_buf *out);

/* Whether a segment can carry this audio codec; *mov: only in a QuickTime-branded file. */
bool rec_seg_audio_storable(enum AVCodecID id, bool *mov);

/*
 * Create the file (O_EXCL) and write ftyp, moov and the camvault header box. *relpath receives
 * the path relative to ROOT (LAY_RELPATH_MAX). The writer owns its file until close/abort.
 */
int rec_seg_open(struct rec_seg **out, const struct rec_seg_params *p, char *relpath,
                 struct cv_err *err);

/*
 * Write one packet: stream_index 0 is video, 1 audio; dts/pts/duration are run-relative in
 * the params' time base and duration must be set. A video keyframe (or 10 s without one) ends
 * the current fragment first, and with chunk_us set a video packet chunk_us after the open
 * chunk's first writes that chunk; `recv_us` (when the video packet arrived) goes into the new
 * fragment's fraginfo box. The caller keeps the packet.
 */
int rec_seg_write(struct rec_seg *s, AVPacket *pkt, int64_t recv_us, struct cv_err *err);

/*
 * Finish the segment: last fragment, trailer, fsync of file and directory, final hash. Fills
 * *rec (cam must be set by the caller) and hands over the fragment table (*frags, malloc'd,
 * caller frees). Frees s in every case. If a write failed earlier (disk full), the file is cut
 * back to its last complete fragment and that part is returned (flag IDX_SEG_RECOVERED); if
 * nothing complete was written, the file is removed and CV_ENOENT returned. If an fsync of the
 * file or its directory failed, the segment is still returned (0), with IDX_SEG_NOT_DURABLE in
 * rec->flags and the reason in *err: the caller must say so (status, log, metrics).
 */
int rec_seg_close(struct rec_seg *s, struct idx_segment *rec, struct lay_seg_frag **frags,
                  size_t *nfrags, struct cv_err *err);

/* Bytes written so far (for bitrate and logs). */
uint64_t rec_seg_bytes(const struct rec_seg *s);

/*
 * idr.c: whether an access unit holds an IDR picture (H.264 NAL type 5; H.265 19 or 20), its
 * NAL units after start codes (annexb) or 4-byte lengths. A malformed unit ends the search.
 */
bool rec_au_has_idr(const uint8_t *data, size_t size, bool hevc, bool annexb);

/* ---- index sink ---- */

struct rec_sink;

int rec_sink_open(struct rec_sink **out, struct idx *idx, const struct rec_config *cfg,
                  struct cv_err *err);
/* Drain the queue, write the last statuses, stop the thread. NULL-safe. */
void rec_sink_close(struct rec_sink *sink);

/* Queue a closed segment (takes ownership of frags). Never blocks for long. */
void rec_sink_segment(struct rec_sink *sink, const char *camera, const struct idx_segment *seg,
                      struct lay_seg_frag *frags, size_t nfrags);
void rec_sink_gap(struct rec_sink *sink, const struct idx_gap *gap);
void rec_sink_pending(struct rec_sink *sink, uint32_t cam, const char *relpath);
/* Latest status of a camera; written at the next status interval. */
void rec_sink_status(struct rec_sink *sink, uint32_t cam, const struct idx_status *st);

/* ---- retention thread and its notes to the cameras ---- */

/* Warnings the retention thread publishes (volume full of held footage, retention shortfall),
 * read by camera threads for their status and their choice of volume. Thread-safe. */
struct rec_notes;

int rec_notes_open(struct rec_notes **out, struct cv_err *err);
void rec_notes_free(struct rec_notes *n);
/* The note for camera `camera` writing to volume `vol` ("" when none) into out[n]. */
void rec_notes_get(struct rec_notes *n, const char *camera, const char *vol, char *out, size_t len);
/* The volume a new segment should go to: `preferred`, unless it is full and another has room. */
void rec_notes_pick_volume(struct rec_notes *n, const char *preferred, char *out, size_t len);

struct rec_retainer;

/* Start the thread: a retention pass at once (finishing deletions a crash interrupted), then one
 * every cfg->retention_us. */
int rec_retainer_start(struct rec_retainer **out, struct idx *idx, const char *root,
                       const struct rec_config *cfg, struct rec_notes *notes, struct cv_err *err);
void rec_retainer_stop(struct rec_retainer *r); /* NULL-safe; waits for a running pass */

/* ---- camera thread ---- */

struct rec_cam;
struct rec_loop;

struct rec_cam_params {
    const char *root;
    const struct rec_config *cfg;
    struct rec_sink *sink;
    volatile sig_atomic_t *stop;
    int64_t last_end_us;     /* end of the camera's newest indexed segment, 0 if none */
    const char *resume_note; /* why there is a hole before this start ("recorder was not running") */
    struct rec_notes *notes;
    struct rec_pic *pic; /* the picture check worker (picture.h); outlives the camera */
    struct rec_loop *loop; /* readers and writers (loop.h); outlive the camera; NULL: none */
};

int rec_cam_start(struct rec_cam **out, const struct idx_camera *cam,
                  const struct rec_cam_params *p, struct cv_err *err);
/* Ask the thread to finish (closing its segment) without waiting. */
void rec_cam_retire(struct rec_cam *c);
bool rec_cam_done(const struct rec_cam *c);
/* Join and free (NULL-safe). Retires first if still running. */
void rec_cam_free(struct rec_cam *c);
const struct idx_camera *rec_cam_config(const struct rec_cam *c);

#endif
