/*
 * picture.h: picture health. Beside online/offline, the recorder looks at each camera's picture
 * cheaply and says whether it is "ok", "black" (lens covered, infrared broken at night) or
 * "frozen" (the camera sends the same picture over and over); "unknown" before the first look,
 * while the camera is offline, and after two keyframes in a row that did not decode.
 *
 * Cost: one keyframe per camera every `picture_check_s` (camvault.conf, default 5 s) at most is
 * decoded, nothing else. The camera thread hands the keyframe it already holds (a packet
 * reference, no copy) to one shared worker thread through a queue of at most one keyframe per
 * camera, and goes on: a slow decode delays the next look, never a write. The worker runs at a
 * lower priority (nice 10), decodes with decoders it keeps open (one per set of stream
 * parameters, flushed after each keyframe), without the loop filter, and keeps of each picture
 * only a grid of at most 160 x 90 luma points. What is left of a look's cost is decoding the
 * keyframe's entropy-coded data: ~4.5 ms of CPU for camsim's 50-KB 1080p H.264 keyframes in the
 * recorder, ~17 ms for 200-KB ones (docs/performance.md).
 *
 * Budget: the worker times each look (its own CPU time, a moving average per camera), and a
 * camera's next look is due after picture_check_s or after the time that keeps its looks within
 * its share of one core, whichever is longer, but never more than REC_PIC_INTERVAL_MAX (15 s):
 * the share is REC_PIC_CPU_CAMERA, or an equal part of REC_PIC_CPU_ALL when that is less (more
 * than 250 cameras). So the checks cost at most 0.04 % of a core per camera and 10 % of one core
 * in all, until the 15 s bind: a 4.5-ms keyframe is looked at every 11.25 s (12 s with 2-s GOPs)
 * up to 250 cameras, every 15 s past 333 (0.03 % each, 15 % of a core at 500); a 17-ms one every
 * 15 s (0.11 %). Detection within issue 13's 60 s comes before the budget.
 *
 * Detection (rec_pic_verdict), on the sampled points:
 *   black   mean luma below 40 and its standard deviation below 12 (8-bit levels; black is 16
 *           in the limited range cameras use, 0 in full range). A covered lens gives a mean near
 *           black with a deviation of a few levels of sensor noise; a night scene with the
 *           infrared light broken is the same, at most with a few small lights. A usable night
 *           picture (infrared working) has a mean well above 60, and any lit scene a spread of
 *           tens of levels.
 *   frozen  compared with the previous sample, point by point in 16 x 9 blocks: at least 95 % of
 *           the blocks have a mean absolute difference below 0.25 levels. The same encoded
 *           keyframe decodes to the same points; the same raw picture encoded again at another
 *           quantiser differs by a fraction of a level, and is still >= 95 % from the second
 *           comparison on. A live static scene differs by its sensor noise wherever the encoder
 *           kept texture, because the points are not averaged (averaging would hide the noise):
 *           a still test picture with faint noise (about 1 level) at 1 Mbit/s in 1080p keeps
 *           8-12 % of its blocks moving, at 2 Mbit/s with 2 levels 80 % and more. Up to 5 % of
 *           moving blocks allow for a clock the camera burns into a frozen picture. Limit: a
 *           static, flat, noiseless scene (a white wall, heavy noise reduction) looks frozen.
 * A verdict changes the state only once the same verdict came twice in a row (hysteresis, so a
 * borderline picture does not flap). A verdict that differs from the state (or a keyframe that
 * did not decode) is confirmed or dropped at the camera's next keyframe, not after a whole
 * interval. With an interval I between looks and keyframes every G, black (and ok again) shows
 * within I + G and frozen within 2 I + G (its first look after the freeze still compares with a
 * live picture), plus the wait for the keyframe after each due time: with 1080p cameras like
 * camsim's at N <= 250 (I = 12 s, G = 2 s) within 14 and 26 s (on average 8 and 20 s), at
 * N = 500 (I = 15 s, REC_PIC_INTERVAL_MAX) within ~17 and ~32 s; at picture_check_s 5 with small pictures
 * (the budget not binding, I = 6 s) within 8 and 14 s. Each confirmation is one more look, at
 * most one per regular look (a picture that flaps between two verdicts costs twice; so does a
 * source that repeats itself, like camsim's 10-s loop, when looks fall a whole number of its
 * periods apart: each look sees the last one's picture, and the next keyframe clears it).
 *
 * Threads: rec_pic_measure, rec_pic_verdict and the rec_pic_track functions are pure (the caller
 * owns the structs). The worker (rec_pic_open) and its per-camera slots are thread-safe as
 * stated at each function.
 */
#ifndef REC_PICTURE_H
#define REC_PICTURE_H

#include <stdbool.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>

#include "common/error.h"

enum rec_pic_state { REC_PIC_UNKNOWN, REC_PIC_OK, REC_PIC_BLACK, REC_PIC_FROZEN };

/* "unknown", "ok", "black", "frozen" (the JSON values of docs/api.md). */
const char *rec_pic_state_name(enum rec_pic_state s);

#define REC_PIC_GRID_W 160
#define REC_PIC_GRID_H 90
#define REC_PIC_BLACK_MEAN 40.0   /* 8-bit luma levels */
#define REC_PIC_BLACK_STDDEV 12.0
#define REC_PIC_STILL_MAD 0.25    /* a block is still below this mean absolute difference */
#define REC_PIC_FROZEN_SHARE 0.95 /* frozen: at least this share of still blocks */
#define REC_PIC_REPEAT 2          /* the same new verdict this many times changes the state */
#define REC_PIC_CPU_CAMERA 0.0004 /* share of one core a camera's looks take at most */
#define REC_PIC_CPU_ALL 0.10      /* share of one core all cameras' looks take at most */
/* ... but the budget never spaces a camera's looks further apart than this, the most
 * picture_check_s allows: black or frozen must show within 60 s (2 x 15 s + a GOP and the
 * waits for keyframes), whatever the looks cost. */
#define REC_PIC_INTERVAL_MAX (15 * INT64_C(1000000))

/* What is kept of one picture: the luma at a grid of points (no averaging), its statistics. */
struct rec_pic_sample {
    int gw, gh; /* grid size: REC_PIC_GRID_W x _H, fewer for a smaller picture */
    uint8_t luma[REC_PIC_GRID_W * REC_PIC_GRID_H];
    double mean, stddev;
};

/*
 * Sample the luma plane `plane` (width x height, `stride` bytes a row; `bytes` 1 for 8-bit
 * samples, 2 for 16-bit little-endian ones holding `depth` bits) into *out. 0, or CV_EINVAL for
 * a picture smaller than 16 x 16 or a bad sample size.
 */
int rec_pic_measure(const uint8_t *plane, int width, int height, int stride, int bytes, int depth,
                    struct rec_pic_sample *out);

/* The verdict on sample cur, after prev (NULL: none yet, then never frozen): black first. */
enum rec_pic_state rec_pic_verdict(const struct rec_pic_sample *cur,
                                   const struct rec_pic_sample *prev);

/* Share (0..1) of the blocks that did not change from prev to cur (grids of the same size; 0
 * when they differ). Exposed for tests and tuning. */
double rec_pic_still_share(const struct rec_pic_sample *cur, const struct rec_pic_sample *prev);

/* The time (µs) from one look at a camera to its next: every_us, or longer when looks that often
 * would take more of one core than the camera's share of the budget (above), looks costing
 * cost_us of CPU each and ncams cameras being looked at. Exposed for tests and tuning. */
int64_t rec_pic_interval(int64_t every_us, int64_t cost_us, int ncams);

/* The state of one camera's picture over its samples, with hysteresis. */
struct rec_pic_track {
    enum rec_pic_state state, cand;
    int ncand;        /* how many verdicts in a row said cand */
    int64_t since_us; /* wall-clock µs of the last change of state */
    bool have_prev;
    struct rec_pic_sample prev;
};

/* Start at "unknown" since now_us; no previous sample. */
void rec_pic_track_reset(struct rec_pic_track *t, int64_t now_us);
/* Take one sample taken at now_us; returns whether the state changed (then *old is the state
 * before, since_us now_us). */
bool rec_pic_track_feed(struct rec_pic_track *t, const struct rec_pic_sample *s, int64_t now_us,
                        enum rec_pic_state *old);

/* ---- decoding keyframes: the worker's part, exposed for tests ---- */

/* Decoders kept open for the keyframes of any cameras: up to 4 (one per set of parameters:
 * codec, size, pixel format, extradata), the least recently used one closed for a new set. */
struct rec_pic_dec;

/* Kept decoders, none open yet; NULL when out of memory. Free with rec_pic_dec_free (NULL-safe).
 * One thread at a time. */
struct rec_pic_dec *rec_pic_dec_new(void);
void rec_pic_dec_free(struct rec_pic_dec *ds);

/*
 * Decode the keyframe pkt of camera `cam` (the caller's nonzero number for it) alone into *out,
 * as a decoder opened for it alone would: pkt's stream is described by par, its NAL units follow
 * start codes when annexb, else 4-byte lengths (as for rec_pic_cam_offer). pkt is the caller's
 * and may be changed (made writable, lengths turned into start codes, side data added). 0, or
 * CV_EMEDIA (no decoder, the keyframe does not decode, no luma to read) or CV_ENOMEM, with why
 * in err.
 */
int rec_pic_dec_sample(struct rec_pic_dec *ds, const AVCodecParameters *par, AVPacket *pkt,
                       bool annexb, uint64_t cam, struct rec_pic_sample *out, struct cv_err *err);

/* ---- the worker: one thread for all cameras ---- */

struct rec_pic;
struct rec_pic_cam;

/* Start the worker; every_us is how often at most each camera's picture is looked at (longer
 * when the budget says so, above; 0: never, then every state stays "unknown" and no thread is
 * started). */
int rec_pic_open(struct rec_pic **out, int64_t every_us, struct cv_err *err);
/* Stop the worker and free it (NULL-safe). Every slot must have been freed first. */
void rec_pic_close(struct rec_pic *p);

/* A slot for camera `id` (copied, for the log), or NULL when out of memory or p is NULL: then
 * the camera's picture stays "unknown". Owned by the camera; free with rec_pic_cam_free. */
struct rec_pic_cam *rec_pic_cam_new(struct rec_pic *p, const char *id);
/* Drop the slot (NULL-safe); a decode of it in progress finishes first, unseen. */
void rec_pic_cam_free(struct rec_pic_cam *c);

/*
 * The camera's thread, at a video keyframe `pkt` whose stream is described by `par`; its NAL
 * units follow start codes when `annexb`, else 4-byte lengths (par's extradata may be avcC,
 * hvcC or Annex B parameter sets either way): when a look is due and none is queued for this
 * camera, queue a reference to the packet and a copy of par; else nothing. Never blocks for long
 * (no lock until a look is due, then one mutex, no decode). NULL-safe.
 */
void rec_pic_cam_offer(struct rec_pic_cam *c, const AVPacket *pkt, const AVCodecParameters *par,
                       bool annexb);
/* The camera went offline or its stream ended: drop what is queued, state "unknown" (logged
 * when it was something else) since now. NULL-safe. */
void rec_pic_cam_stop(struct rec_pic_cam *c);
/* The state and since when (wall-clock µs), for the camera's status. Any thread. */
enum rec_pic_state rec_pic_cam_state(struct rec_pic_cam *c, int64_t *since_us);

#endif
