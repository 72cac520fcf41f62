/*
 * fixtures.h: what several unit tests share: temporary directories, small file helpers, a
 * seeded random generator, and a builder of synthetic segment files.
 *
 * The segment builder writes by hand, box by box, what the recorder's muxer writes: ftyp, a
 * moov with one H.264 video track (timescale 90000) and its trex, camvault's header box, then
 * per fragment prft + camvault.fraginf + moof (mfhd, traf: tfhd, tfdt, trun) + mdat. It records
 * where every fragment starts and ends and what it holds, so tests can compare lay_seg_scan's
 * answer with the truth instead of with a second parser.
 */
#ifndef UNIT_FIXTURES_H
#define UNIT_FIXTURES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "indexer/idx.h"
#include "storage-layout/bmff.h"

/* ---- files ---- */

/* A fresh directory under unit_tmp_base() into out[PATH_MAX]; 0 or -1 (and a recorded failure). */
int fx_tmpdir(char *out);
/* rm -rf path (no symlinks followed); NULL-safe and quiet when it does not exist. */
void fx_rmtree(const char *path);
/* Create or replace path with exactly len bytes; 0 or -1. */
int fx_write_file(const char *path, const void *data, size_t len);
/* Size of path, or -1 when it cannot be stat'ed. */
long long fx_file_size(const char *path);
/* SHA-256 of a memory block, computed with OpenSSL's EVP interface. */
void fx_sha256(const void *data, size_t len, uint8_t out[32]);

/* ---- a data root with an index ---- */

/* A data root (lay_root_create) in a fresh temp dir, root[PATH_MAX], with its index opened
 * (IDX_CREATE) into *idx; 0, or -1 with the failure recorded and nothing left behind. */
int fx_root_open(char *root, struct idx **idx);
/* Close idx (NULL-safe) and remove the root. */
void fx_root_close(const char *root, struct idx *idx);

/* The same as one struct: what most index tests start from, with room for the test's one
 * transaction at a time (t, NULL after open; the test begins and ends it) and its calls' err. */
struct fx_env {
    char root[PATH_MAX];
    struct idx *idx;
    struct idx_txn *t;
    struct cv_err err;
};
int fx_env_open(struct fx_env *e);
void fx_env_close(struct fx_env *e); /* also sets e->idx to NULL */

/* The end of a setup that wrote in t (NULL-safe) after opening root and idx: commit when rc is
 * 0, abort otherwise; on any failure record "setup: <err>" and fx_root_close. 0, or -1. */
int fx_setup_end(struct idx_txn *t, int rc, struct cv_err *err, const char *root,
                 struct idx *idx);

/* A camera record `id` on `volume`, enabled, rtsp://10.0.0.7/live, kept `days` days. */
void fx_camera(struct idx_camera *c, const char *id, const char *volume, double days);

/* An index record of a synthetic segment of camera cam (num) over [start_us, start_us + dur_us):
 * `bytes` long, one fragment (*f) that starts with a keyframe, 250 frames, 5 of them keys.
 * The path and hash are the caller's. */
void fx_segment_rec(struct idx_segment *s, struct lay_seg_frag *f, uint32_t cam, int64_t start_us,
                    int64_t dur_us, uint64_t bytes);

/* Record a failure for each field of segment record got that differs from want (all but cam). */
void fx_check_segment(const struct idx_segment *got, const struct idx_segment *want);

/* ---- random: xorshift64*, deterministic for a seed so that failures reproduce ---- */
uint64_t fx_rand(uint64_t *state);

/* ISO BMFF boxes are written with storage-layout/bmff.h (lay_box_begin, _full, _end). */

/* ---- synthetic segments ---- */

#define FX_MAX_FRAGS 8
#define FX_TIMESCALE 90000
#define FX_SAMPLE_DUR 3600 /* 40 ms at 90 kHz: 25 frames per second */
#define FX_CAMERA "cam1"
#define FX_RUN_ID UINT64_C(1795339700000000)
#define FX_START_US INT64_C(1795339800000000) /* 2026-11-22T09:30:00Z */
#define FX_WIDTH 1280
#define FX_HEIGHT 720

struct fx_frag {
    uint64_t offset, size; /* from prft to the end of mdat */
    int64_t wall_us, recv_us;
    uint64_t dts, dur; /* video timescale */
    uint32_t samples;  /* the first is a keyframe, the others not */
};

struct fx_segment {
    struct cv_buf buf;   /* the file's bytes */
    uint64_t moov_end;   /* end of ftyp+moov */
    uint64_t header_end; /* end of the camvault.segment box (== moov_end without one) */
    size_t nfrags;
    struct fx_frag frags[FX_MAX_FRAGS];
};

/*
 * Build a segment of `nfrags` (<= FX_MAX_FRAGS) fragments starting at FX_START_US; with_header
 * adds the camvault.segment box. Fragment i has FX_SAMPLES(i) samples of FX_SAMPLE_DUR each and
 * starts where the previous one ended (plus i µs, so that every wall time is distinct from a
 * round number). Release with fx_segment_release.
 */
#define FX_SAMPLES(i) (uint32_t)((i) % 2 ? 30 : 50)
void fx_segment_build(struct fx_segment *s, size_t nfrags, bool with_header);
void fx_segment_release(struct fx_segment *s);

/*
 * Open a moof of sequence number `seq` on b: moof, its mfhd, and a traf with the tfhd of track 1
 * (default-base-is-moof); *moof and *traf are the open boxes' marks, for lay_box_end (traf first).
 */
void fx_moof_begin(struct cv_buf *b, uint32_t seq, size_t *moof, size_t *traf);

/* Append one fragment group (prft, fraginf, moof, mdat) to b, as fx_segment_build does. */
void fx_fragment(struct cv_buf *b, int64_t wall_us, uint64_t dts, uint32_t samples);

/* ---- a data root whose camera is writing a file ---- */

/*
 * A fresh data root with an index, camera FX_CAMERA (volume main) whose pending note names
 * `rel`, and `len` bytes of `data` at ROOT/<rel>: what the recorder leaves while it writes (or
 * when it died writing). 0, or -1 with a recorded failure. Close with fx_pending_root_close.
 */
struct fx_pending_root {
    char root[PATH_MAX];
    struct idx *idx;
    struct idx_camera cam;
    struct idx_txn *t;  /* the test's one transaction at a time (NULL after open) */
    struct cv_err err;  /* for the test's calls */
};
int fx_pending_root_open(struct fx_pending_root *e, const char *rel, const void *data,
                         size_t len);
void fx_pending_root_close(struct fx_pending_root *e);

/* Video stream parameters (codec_id an enum AVCodecID, width x height) whose extradata is a copy
 * of cfg (an avcC or hvcC record), as a demuxer would give them; avcodec_parameters_free them. */
struct AVCodecParameters;
struct AVCodecParameters *fx_video_params(int codec_id, int width, int height,
                                          const struct cv_buf *cfg);

#endif
