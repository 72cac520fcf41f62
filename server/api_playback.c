/*
 * api_playback.c: watching footage over HTTP (docs/api.md, "Playback"):
 *
 *   video.mp4?from=T&to=T   one fragmented MP4 of the stored segments (exporter/clip.h), built
 *                           on demand for any byte range, so seeking costs one range request
 *   live.mp4                the segment being written, from its newest complete fragment on,
 *                           followed as the recorder appends (and into the next segment of the
 *                           same run)
 *   snapshot.jpg?at=T       one JPEG of the frame shown at T
 *
 * Every view writes one audit record before any byte goes out. Mediators may watch only what
 * their cases reach (403 otherwise); residents only live view of public cameras.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/log.h"
#include "exporter/clip.h"
#include "server/audit.h"
#include "server/guard.h"
#include "server/workflow_int.h"
#include "storage-layout/layout.h"
#include "storage-layout/moofshift.h"
#include "storage-layout/segfile.h"
#include "common/banned.h"

#define VIDEO_RANGE_MAX_US (INT64_C(6) * 3600 * 1000000)
#define BLOCK (64 * 1024)
#define LIVE_POLL_US 200000
#define LIVE_IDLE_US (INT64_C(15) * 1000000)     /* no new fragment this long: end */
#define LIVE_MAX_US (INT64_C(30) * 60 * 1000000) /* one live response at most this long */
#define LIVE_HEADER_MAX (4u << 20)
#define LIVE_MOOF_MAX (1u << 20) /* a moof or prft patched in memory (a few KB in practice) */
#define LIVE_RECENT_US (10 * CV_US_PER_S) /* a segment that ended this recently is "now" */

/* ---- byte ranges ---- */

int wf_range(struct srv_req *r, uint64_t size, uint64_t *off, uint64_t *len, bool *partial)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Range");
    const char *spec, *dash;
    int64_t a = -1, b = -1;
    char num[24];

    *off = 0;
    *len = size;
    *partial = false;
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    spec = h + 6;
    dash = strchr(spec, '-');
    if (!dash || (size_t)(dash - spec) >= sizeof(num))
        return 0;
    memcpy(num, spec, (size_t)(dash - spec));
    num[dash - spec] = 0;
    if (num[0] && cv_parse_i64(num, 0, INT64_MAX, &a) < 0)
        return 0;
    if (dash[1] && cv_parse_i64(dash + 1, 0, INT64_MAX, &b) < 0)
        return 0;
    if (a < 0 && b < 0)
        return 0;
    if (a < 0) { /* suffix: the last b bytes */
        if (b == 0 || size == 0)
            goto unsatisfiable;
        *len = (uint64_t)b < size ? (uint64_t)b : size;
        *off = size - *len;
    } else {
        if ((uint64_t)a >= size)
            goto unsatisfiable;
        if (b >= 0 && b < a)
            return 0; /* malformed: ignored */
        if (b < 0 || (uint64_t)b >= size)
            b = (int64_t)size - 1;
        *off = (uint64_t)a;
        *len = (uint64_t)(b - a + 1);
    }
    *partial = true;
    return 0;
unsatisfiable:
    srv_header(r, "Content-Range", "bytes */%llu", (unsigned long long)size);
    srv_error(r, 416, "byte range '%.64s' is outside the %llu bytes of this resource", h,
              (unsigned long long)size);
    return -1;
}

/* The camera of the path for a footage view at [from, to): 0, or answered and -1.
 * Mediators outside their cases get 403 (also for cameras that do not exist: no probing). */
static int camera_for_view(struct srv_req *r, struct idx_txn *t, int64_t from_us, int64_t to_us,
                           struct idx_camera *cam)
{
    struct cv_err err = {""};
    int rc = idx_camera_get(t, r->params[0], cam, &err);

    if (r->user.role == SRV_ROLE_MEDIATOR &&
        (rc == CV_ENOENT || (rc == 0 && !srv_scope_allows(r, t, cam->id, from_us, to_us))))
        return srv_error(r, 403, "camera '%s' at this time is outside your cases", r->params[0]),
               -1;
    if (rc < 0)
        return srv_fail(r, rc, &err), -1;
    return 0;
}

/* ---- video.mp4 ---- */

struct seg_list {
    const char *root;
    char **paths;
    uint64_t *runs;
    size_t n, cap;
    int rc;
    struct cv_err *err;
};

static int add_seg(void *ctx, const struct idx_segment *s)
{
    struct seg_list *l = ctx;
    char abs[PATH_MAX];

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **p = realloc(l->paths, cap * sizeof(*p));
        uint64_t *q = p ? realloc(l->runs, cap * sizeof(*q)) : NULL;
        if (p)
            l->paths = p;
        if (!p || !q)
            return l->rc = cv_errf(l->err, CV_ENOMEM, "out of memory");
        l->runs = q;
        l->cap = cap;
    }
    if ((l->rc = lay_abs(l->root, s->path, abs, sizeof(abs), l->err)) < 0)
        return l->rc;
    if (!(l->paths[l->n] = strdup(abs)))
        return l->rc = cv_errf(l->err, CV_ENOMEM, "out of memory");
    l->runs[l->n++] = s->run_id;
    return l->n >= EXP_CLIP_SOURCES_MAX ? 1 : 0;
}

struct clip_body {
    struct exp_clip *clip;
    uint64_t off; /* of the first byte sent, in the clip */
};

static ssize_t clip_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct clip_body *cb = cls;
    uint64_t size = exp_clip_size(cb->clip), at = cb->off + pos;
    struct cv_err err = {""};

    if (at >= size)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (max > size - at)
        max = (size_t)(size - at);
    if (exp_clip_read(cb->clip, at, buf, max, &err) < 0) {
        cv_warn("video.mp4: %s", err.msg);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    return (ssize_t)max;
}

static void clip_free(void *cls)
{
    struct clip_body *cb = cls;

    exp_clip_free(cb->clip);
    free(cb);
}

/* GET /api/v1/cameras/{id}/video.mp4?from=T&to=T */
int api_video(struct srv_req *r)
{
    struct idx_camera cam;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct seg_list l = {.root = r->srv->root, .err = &err};
    struct exp_clip *clip = NULL;
    struct clip_body *cb = NULL;
    struct MHD_Response *resp;
    char what[96], target[256], detail[128], a[48], b[48];
    int64_t from, to, first = 0, end = 0;
    uint64_t off, len, size;
    bool partial;
    int rc;

    if (srv_query_time(r, "from", true, &from) < 0 || srv_query_time(r, "to", true, &to) < 0)
        return 0;
    if (to <= from)
        return srv_error(r, 400, "'to' must be after 'from'");
    if (to - from > VIDEO_RANGE_MAX_US)
        return srv_error(r, 400, "range too long: at most 6 hours per video request");
    if (srv_read(r, &t) < 0)
        return 0;
    if (camera_for_view(r, t, from, to, &cam) < 0) {
        idx_abort(t);
        return 0;
    }
    rc = idx_segment_iter(t, cam.num, from, to, add_seg, &l, &err);
    idx_abort(t);
    if (rc == 0 && l.rc < 0)
        rc = l.rc;
    if (rc == 0 && l.n == 0)
        rc = cv_errf(&err, CV_ENOENT, "camera '%s': nothing recorded in this range", cam.id);
    if (rc == 0) {
        rc = exp_clip_open(&clip, (const char *const *)l.paths, l.n, from, to, &err);
        if (rc == CV_EMEDIA) {
            /* Codec parameters changed between runs: deliver the first run; the headers say
             * where it ends, and the player asks again from there. */
            size_t k = 1;
            while (k < l.n && l.runs[k] == l.runs[0])
                k++;
            rc = exp_clip_open(&clip, (const char *const *)l.paths, k, from, to, &err);
        }
        if (rc == CV_ENOENT)
            rc = cv_errf(&err, CV_ENOENT, "camera '%s': nothing recorded in this range", cam.id);
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.paths[i]);
    free(l.paths);
    free(l.runs);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    size = exp_clip_size(clip);
    if (wf_range(r, size, &off, &len, &partial) < 0) {
        exp_clip_free(clip);
        return 0;
    }
    exp_clip_times(clip, &first, &end);
    snprintf(what, sizeof(what), "camera %s", cam.id);
    wf_range_text(target, sizeof(target), what, from, to);
    snprintf(detail, sizeof(detail), "bytes %llu-%llu of %llu", (unsigned long long)off,
             (unsigned long long)(off + len - (len ? 1 : 0)), (unsigned long long)size);
    rc = srv_audit(r, NULL, "view-video", target, NULL, detail, &err);
    if (rc < 0 || !(cb = calloc(1, sizeof(*cb)))) {
        exp_clip_free(clip);
        return rc < 0 ? srv_fail(r, rc, &err) : srv_error(r, 500, "out of memory");
    }
    cb->clip = clip;
    cb->off = off;
    resp = MHD_create_response_from_callback(len, BLOCK, clip_read, cb, clip_free);
    if (!resp) {
        clip_free(cb);
        return srv_error(r, 500, "cannot start the video response");
    }
    MHD_add_response_header(resp, "Content-Type", "video/mp4");
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    cv_time_format_utc(first, a, sizeof(a), 6);
    cv_time_format_utc(end, b, sizeof(b), 6);
    MHD_add_response_header(resp, "X-Camvault-Start", a);
    MHD_add_response_header(resp, "X-Camvault-End", b);
    if (partial) {
        snprintf(detail, sizeof(detail), "bytes %llu-%llu/%llu", (unsigned long long)off,
                 (unsigned long long)(off + len - 1), (unsigned long long)size);
        MHD_add_response_header(resp, "Content-Range", detail);
    }
    r->resp = resp;
    r->status = partial ? 206 : 200;
    return 0;
}

/* ---- snapshot.jpg ---- */

/* GET /api/v1/cameras/{id}/snapshot.jpg?at=T */
int api_snapshot(struct srv_req *r)
{
    struct idx_camera cam;
    struct idx_segment seg;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct cv_buf jpeg;
    struct MHD_Response *resp;
    char abs[PATH_MAX], target[256], a[48];
    uint64_t frag_off;
    int64_t at, frag_us;
    int rc;

    if (srv_query_time(r, "at", true, &at) < 0)
        return 0;
    if (srv_read(r, &t) < 0)
        return 0;
    if (camera_for_view(r, t, at, at + 1, &cam) < 0) {
        idx_abort(t);
        return 0;
    }
    rc = idx_locate(t, cam.num, at, &seg, &frag_off, &frag_us, &err);
    idx_abort(t);
    cv_time_format_utc(at, a, sizeof(a), 3);
    if (rc == CV_ENOENT)
        return srv_error(r, 404, "camera '%s': nothing recorded at %s", cam.id, a);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    cv_buf_init(&jpeg, 32u << 20);
    rc = lay_abs(r->srv->root, seg.path, abs, sizeof(abs), &err);
    if (rc == 0)
        rc = exp_snapshot_jpeg(abs, at, &jpeg, &err);
    snprintf(target, sizeof(target), "camera %s %s", cam.id, a);
    if (rc == 0)
        rc = srv_audit(r, NULL, "view-snapshot", target, NULL, NULL, &err);
    if (rc < 0) {
        cv_buf_release(&jpeg);
        return srv_fail(r, rc, &err);
    }
    resp = MHD_create_response_from_buffer(jpeg.len, jpeg.data, MHD_RESPMEM_MUST_COPY);
    cv_buf_release(&jpeg);
    if (!resp)
        return srv_error(r, 500, "cannot answer with the snapshot");
    MHD_add_response_header(resp, "Content-Type", "image/jpeg");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    r->resp = resp;
    r->status = 200;
    return 0;
}

/* ---- live.mp4 ---- */

/*
 * A live stream: the header boxes of the segment being written (ftyp, moov, camvault.segment),
 * then its fragments from the newest complete one on, box by box as each box is complete in
 * the file; at the segment's end (mfra, or a file that stopped growing while a later one exists)
 * the fragments of the next segment follow if it belongs to the same run (decode times
 * continue), else the stream ends. The next segment is the first indexed one after the current
 * (segments of one GOP are never complete while pending), else the pending one. The player sees
 * one growing fragmented MP4.
 */
struct live {
    struct srv *srv;
    struct MHD_Connection *conn;
    uint32_t cam;
    uint64_t run_id;
    char rel[LAY_RELPATH_MAX];
    int fd;
    uint8_t *hdr;
    size_t hdrlen;
    uint64_t pos;      /* next byte of the file to look at */
    uint64_t box_left; /* bytes of the current (complete) box still to send */
    int64_t start_us;  /* wall time of the current file's first fragment */
    uint64_t last_size;
    int64_t started_us, last_data_us, last_check_us, grew_us;
    /* Each segment's decode times start at 0: those after the first are moved on by where each
     * track stood at its start (video, audio), their moof and prft patched in memory. */
    uint32_t track[2], timescale[2];
    int64_t shift[2];
    uint8_t *pbox;
    size_t pbox_len, pbox_off;
};

/* Open segment `rel` and wait for its first complete fragment; 0 with *info, or < 0. */
static int live_scan(struct live *lv, const char *rel, struct lay_seg_info *info, int *fd_out,
                     struct cv_err *err)
{
    char abs[PATH_MAX];
    int fd, rc = lay_abs(lv->srv->root, rel, abs, sizeof(abs), err);

    if (rc < 0)
        return rc;
    fd = open(abs, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cv_errf(err, cv_errno_code(errno), "cannot open '%s': %s", rel, strerror(errno));
    rc = lay_seg_scan(fd, info, err);
    if (rc == 0 && info->nfrags == 0) {
        lay_seg_info_release(info);
        rc = cv_errf(err, CV_ENOENT, "segment '%s' has no complete fragment yet", rel);
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

struct next_ctx {
    int64_t after_us;
    char rel[LAY_RELPATH_MAX];
};

static int next_seg(void *ctx, const struct idx_segment *seg)
{
    struct next_ctx *n = ctx;

    if (seg->start_us <= n->after_us)
        return 0;
    cv_strlcpy(n->rel, seg->path, sizeof(n->rel));
    return 1;
}

/* The segment after the current one: the first indexed one that starts later, else the pending
 * one; 0 with rel, or CV_ENOENT. */
static int live_find_next(struct live *lv, char *rel, struct cv_err *err)
{
    struct next_ctx n = {.after_us = lv->start_us};
    struct idx_txn *t = NULL;
    int rc = idx_begin(lv->srv->idx, false, &t, err);

    if (rc == 0) {
        rc = idx_segment_iter(t, lv->cam, lv->start_us + 1, INT64_MAX, next_seg, &n, err);
        if (rc == 1)
            rc = 0;
        if (rc == 0 && n.rel[0])
            cv_strlcpy(rel, n.rel, LAY_RELPATH_MAX);
        else if (rc == 0)
            rc = idx_pending_get(t, lv->cam, rel, err);
    }
    idx_abort(t);
    return rc;
}

/*
 * Before moving from the current segment to `next`: the decode times of the next go on where
 * the current one's video ends (its last fragment's time plus duration, from a scan of it);
 * audio by the same time in its own timescale. -1 when the current file cannot be read.
 */
static int live_shift_on(struct live *lv, const struct lay_seg_info *next)
{
    struct lay_seg_info cur = {0};
    struct cv_err err = {""};
    int64_t end;

    if (lay_seg_scan(lv->fd, &cur, &err) < 0 || cur.nfrags == 0 || !lv->timescale[0]) {
        lay_seg_info_release(&cur);
        return -1;
    }
    end = (int64_t)(cur.frags[cur.nfrags - 1].video_dts + cur.frags[cur.nfrags - 1].video_dur) -
          (int64_t)next->frags[0].video_dts;
    lay_seg_info_release(&cur);
    lv->shift[0] += end;
    if (lv->timescale[1])
        lv->shift[1] = (int64_t)((__int128)lv->shift[0] * lv->timescale[1] / lv->timescale[0]);
    return 0;
}

/* Move to the next segment of the same run: 1 moved, 0 not yet, -1 the stream ends. */
static int live_next(struct live *lv)
{
    char rel[LAY_RELPATH_MAX];
    struct lay_seg_info info = {0};
    struct cv_err err = {""};
    int fd, rc = live_find_next(lv, rel, &err);

    if (rc < 0 || strcmp(rel, lv->rel) == 0)
        return 0; /* between segments, or stopped: the idle limit decides */
    rc = live_scan(lv, rel, &info, &fd, &err);
    if (rc == CV_ENOENT)
        return 0; /* its first fragment is not complete yet */
    if (rc < 0)
        return -1;
    if (info.hdr.run_id != lv->run_id || live_shift_on(lv, &info) < 0) {
        lay_seg_info_release(&info);
        close(fd);
        return -1; /* a new run (reconnect, new codec parameters): a new stream */
    }
    close(lv->fd);
    lv->fd = fd;
    cv_strlcpy(lv->rel, rel, sizeof(lv->rel));
    lv->pos = info.frags[0].offset;
    lv->start_us = info.start_us;
    lv->box_left = 0;
    lv->last_size = 0;
    lay_seg_info_release(&info);
    return 1;
}

static bool send_box(const char type[4])
{
    return memcmp(type, "prft", 4) == 0 || memcmp(type, "uuid", 4) == 0 ||
           memcmp(type, "moof", 4) == 0 || memcmp(type, "mdat", 4) == 0 ||
           memcmp(type, "styp", 4) == 0 || memcmp(type, "emsg", 4) == 0;
}

/* Load the moof or prft at lv->pos (size bytes), move its decode times, queue it to send. */
static int live_patch(struct live *lv, uint64_t size)
{
    uint8_t *nb;

    if (size > LIVE_MOOF_MAX)
        return -1;
    nb = realloc(lv->pbox, (size_t)size);
    if (!nb)
        return -1;
    lv->pbox = nb;
    if (pread(lv->fd, lv->pbox, (size_t)size, (off_t)lv->pos) != (ssize_t)size ||
        lay_moof_shift(lv->pbox, (size_t)size, lv->track, lv->shift, 2) < 0)
        return -1;
    lv->pbox_len = (size_t)size;
    lv->pbox_off = 0;
    lv->pos += size;
    lv->last_data_us = cv_mono_us();
    return 0;
}

/* The content reader of live.mp4. It never waits in a pool thread: with nothing to send yet it
 * suspends the connection for LIVE_POLL_US and returns 0; libmicrohttpd calls it again after. */
static ssize_t live_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct live *lv = cls;

    if (pos < lv->hdrlen) {
        size_t n = lv->hdrlen - (size_t)pos < max ? lv->hdrlen - (size_t)pos : max;
        memcpy(buf, lv->hdr + pos, n);
        return (ssize_t)n;
    }
    for (;;) {
        struct stat st;
        uint8_t h[16];
        uint64_t size;
        int64_t now = cv_mono_us();

        if (atomic_load(&lv->srv->stopping) || now - lv->started_us > LIVE_MAX_US)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (lv->pbox_off < lv->pbox_len) { /* a patched moof or prft (live_patch) */
            size_t n = lv->pbox_len - lv->pbox_off < max ? lv->pbox_len - lv->pbox_off : max;
            memcpy(buf, lv->pbox + lv->pbox_off, n);
            lv->pbox_off += n;
            return (ssize_t)n;
        }
        if (lv->box_left) {
            size_t n = lv->box_left < max ? (size_t)lv->box_left : max;
            ssize_t got = pread(lv->fd, buf, n, (off_t)lv->pos);
            if (got <= 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            lv->pos += (uint64_t)got;
            lv->box_left -= (uint64_t)got;
            lv->last_data_us = now;
            return got;
        }
        /* Is the next box complete in the file? */
        if (fstat(lv->fd, &st) == 0 && (uint64_t)st.st_size != lv->last_size) {
            lv->last_size = (uint64_t)st.st_size;
            lv->grew_us = now;
        }
        if ((uint64_t)lv->last_size >= lv->pos + 8 && pread(lv->fd, h, 16, (off_t)lv->pos) >= 8) {
            st.st_size = (off_t)lv->last_size;
            size = cv_get_be32(h);
            if (size == 1 && (uint64_t)st.st_size >= lv->pos + 16)
                size = cv_get_be64(h + 8);
            else if (size == 1)
                size = UINT64_MAX;
            if (size < 8 && size != 0)
                return MHD_CONTENT_READER_END_WITH_ERROR; /* not a box: stop, never send junk */
            if (size != 0 && size != UINT64_MAX && lv->pos + size <= (uint64_t)st.st_size) {
                if (send_box((const char *)h + 4)) {
                    if ((lv->shift[0] || lv->shift[1]) &&
                        (memcmp(h + 4, "moof", 4) == 0 || memcmp(h + 4, "prft", 4) == 0)) {
                        if (live_patch(lv, size) < 0)
                            return MHD_CONTENT_READER_END_WITH_ERROR;
                        continue;
                    }
                    lv->box_left = size;
                    continue;
                }
                /* mfra (or anything else): the segment is closed; go on with the next. */
                int m = live_next(lv);
                if (m < 0)
                    return MHD_CONTENT_READER_END_OF_STREAM;
                if (m > 0)
                    continue;
            }
        }
        if (now - lv->last_data_us > LIVE_IDLE_US)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (now - lv->last_check_us > 1000000 && now - lv->grew_us > 3000000) {
            /* A file that stopped growing without mfra (the recorder was killed and the file
             * recovered): go on with whatever follows it. */
            lv->last_check_us = now;
            if (live_next(lv) < 0)
                return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (!srv_guard_resume_later(lv->srv->guard, lv->conn, LIVE_POLL_US))
            return MHD_CONTENT_READER_END_OF_STREAM; /* the server is stopping */
        return 0;
    }
}

static void live_free(void *cls)
{
    struct live *lv = cls;

    if (lv->fd >= 0)
        close(lv->fd);
    free(lv->hdr);
    free(lv->pbox);
    free(lv);
}

/* GET /api/v1/cameras/{id}/live.mp4 */
int api_live(struct srv_req *r)
{
    struct idx_camera cam;
    struct idx_segment last;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct lay_seg_info info = {0};
    struct MHD_Response *resp;
    struct live *lv = calloc(1, sizeof(*lv));
    char target[128];
    int64_t now = cv_now_us();
    int rc;

    if (!lv)
        return srv_error(r, 500, "out of memory");
    lv->fd = -1;
    lv->srv = r->srv;
    lv->conn = r->conn;
    if (srv_read(r, &t) < 0)
        goto out;
    rc = idx_camera_get(t, r->params[0], &cam, &err);
    if (rc == 0 && r->user.role == SRV_ROLE_RESIDENT && !cam.is_public)
        rc = cv_errf(&err, CV_ENOENT, "unknown camera '%s'", r->params[0]);
    if (r->user.role == SRV_ROLE_MEDIATOR &&
        (rc == CV_ENOENT || (rc == 0 && !srv_scope_allows(r, t, cam.id, now - 1, now)))) {
        srv_error(r, 403, "camera '%s' now is outside your cases", r->params[0]);
        goto out;
    }
    if (rc == 0) {
        if (idx_segment_last(t, cam.num, &last, NULL) < 0)
            last.path[0] = 0;
        rc = idx_pending_get(t, cam.num, lv->rel, &err);
        if (rc == CV_ENOENT && last.path[0] && now - last.end_us < LIVE_RECENT_US) {
            /* Between two segments: the closed one is committed (which ends its pending note)
             * and the next one's note is a moment behind. Start from the closed one. */
            cv_strlcpy(lv->rel, last.path, sizeof(lv->rel));
            rc = 0;
        } else if (rc == CV_ENOENT) {
            rc = cv_errf(&err, CV_ENOENT, "camera '%s' is not recording now", cam.id);
        }
    }
    idx_abort(t);
    t = NULL;
    if (rc < 0) {
        srv_fail(r, rc, &err);
        goto out;
    }
    lv->cam = cam.num;
    rc = live_scan(lv, lv->rel, &info, &lv->fd, &err);
    if (rc == CV_ENOENT && last.path[0]) {
        /* The segment being written has no complete fragment yet (segments of one GOP, or
         * just rotated): start with the newest fragment of the segment before it; the stream
         * goes on into the pending one if it is of the same run. */
        cv_strlcpy(lv->rel, last.path, sizeof(lv->rel));
        rc = live_scan(lv, lv->rel, &info, &lv->fd, &err);
    }
    if (rc == CV_ENOENT) {
        srv_error(r, 404, "camera '%s': nothing written yet; try again in a few seconds", cam.id);
        goto out;
    }
    if (rc < 0) {
        srv_fail(r, rc, &err);
        goto out;
    }
    lv->run_id = info.hdr.run_id;
    lv->start_us = info.start_us;
    lv->track[0] = info.video_track;
    lv->track[1] = info.audio_track;
    lv->timescale[0] = info.video_timescale;
    lv->timescale[1] = info.audio_track ? info.audio_timescale : 0;
    lv->hdrlen = (size_t)info.frags[0].offset;
    lv->pos = info.frags[info.nfrags - 1].offset;
    lay_seg_info_release(&info);
    if (lv->hdrlen > LIVE_HEADER_MAX || !(lv->hdr = malloc(lv->hdrlen)) ||
        cv_pread_all(lv->fd, lv->hdr, lv->hdrlen, 0, &err) < 0) {
        srv_error(r, 500, "camera '%s': cannot read the segment header", cam.id);
        goto out;
    }
    lv->started_us = lv->last_data_us = lv->last_check_us = lv->grew_us = cv_mono_us();
    snprintf(target, sizeof(target), "camera %s live", cam.id);
    rc = srv_audit(r, NULL, "view-live", target, NULL, lv->rel, &err);
    if (rc < 0) {
        srv_fail(r, rc, &err);
        goto out;
    }
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK, live_read, lv, live_free);
    if (!resp) {
        srv_error(r, 500, "cannot start the live response");
        goto out;
    }
    lv = NULL; /* the response owns it */
    MHD_add_response_header(resp, "Content-Type", "video/mp4");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    r->resp = resp;
    r->status = 200;
out:
    idx_abort(t);
    if (lv)
        live_free(lv);
    return 0;
}
