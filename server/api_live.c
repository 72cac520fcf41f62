/*
 * api_live.c: live view over HTTP (docs/api.md, "Live view"):
 *
 *   live.mp4   the segment being written, from its newest keyframe on, followed chunk by chunk
 *              as the recorder appends (and into the next segment of the same run)
 *   live.m3u8  the same stored fragments as HLS, with live-init.mp4 and live-frag.m4s (below)
 *
 * The recorder writes each fragment as CMAF chunks (prft + moof + mdat of about live_chunk_ms
 * of video, recorder/segwriter.c), so sending each box as soon as it is complete in the growing
 * file hands a player its frames a chunk after the camera sent them, not a GOP after. Nothing
 * here talks to the recorder: what viewers get is what is stored, and viewers cannot change it.
 *
 * Every view writes one audit record before any byte goes out. Mediators may watch only what
 * their cases reach now (403 otherwise); residents only public cameras.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/log.h"
#include "server/audit.h"
#include "server/guard.h"
#include "server/workflow_int.h"
#include "storage-layout/layout.h"
#include "storage-layout/moofshift.h"
#include "storage-layout/segfile.h"
#include "common/banned.h"

#define BLOCK (64 * 1024)
/* How often a waiting viewer looks at the file: adds half of it to the latency on average. */
#define LIVE_POLL_US 40000
#define LIVE_IDLE_US (INT64_C(15) * 1000000)     /* no new fragment this long: end */
#define LIVE_MAX_US (INT64_C(30) * 60 * 1000000) /* one live response at most this long */
#define LIVE_HEADER_MAX (4u << 20)
#define LIVE_MOOF_MAX (1u << 20) /* a moof or prft patched in memory (a few KB in practice) */
#define LIVE_RECENT_US (10 * CV_US_PER_S) /* a segment that ended this recently is "now" */

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

/* Open segment `rel` and scan it: 0 with *info (at least one fragment) and *fd_out, or < 0
 * (CV_ENOENT: no complete chunk yet). */
static int live_scan_open(struct srv *srv, const char *rel, struct lay_seg_info *info,
                          int *fd_out, struct cv_err *err)
{
    char abs[PATH_MAX];
    int fd, rc = lay_abs(srv->root, rel, abs, sizeof(abs), err);

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
    rc = live_scan_open(lv->srv, rel, &info, &fd, &err);
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

/*
 * The camera of r->params[0] if this user may watch it live now: 0 with *cam; else it has
 * answered (404 unknown or not public for residents, 403 outside a mediator's cases) and
 * returns -1. t is a read transaction.
 */
static int live_camera(struct srv_req *r, struct idx_txn *t, struct idx_camera *cam)
{
    struct cv_err err = {""};
    int64_t now = cv_now_us();
    int rc = idx_camera_get(t, r->params[0], cam, &err);

    if (rc == 0 && r->user.role == SRV_ROLE_RESIDENT && !cam->is_public)
        rc = cv_errf(&err, CV_ENOENT, "unknown camera '%s'", r->params[0]);
    if (r->user.role == SRV_ROLE_MEDIATOR &&
        (rc == CV_ENOENT || (rc == 0 && !srv_scope_allows(r, t, cam->id, now - 1, now)))) {
        srv_error(r, 403, "camera '%s' now is outside your cases", r->params[0]);
        return -1;
    }
    if (rc < 0) {
        srv_fail(r, rc, &err);
        return -1;
    }
    return 0;
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

    if (srv_uri_query(&r->uri, "rendition")) { /* the H.264 rendition (api_rendition.c) */
        free(lv);
        return api_live_rendition(r);
    }
    if (!lv)
        return srv_error(r, 500, "out of memory");
    lv->fd = -1;
    lv->srv = r->srv;
    lv->conn = r->conn;
    if (srv_read(r, &t) < 0 || live_camera(r, t, &cam) < 0)
        goto out;
    {
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
    rc = live_scan_open(lv->srv, lv->rel, &info, &lv->fd, &err);
    if (rc == CV_ENOENT && last.path[0]) {
        /* The segment being written has no complete fragment yet (segments of one GOP, or
         * just rotated): start with the newest fragment of the segment before it; the stream
         * goes on into the pending one if it is of the same run. */
        cv_strlcpy(lv->rel, last.path, sizeof(lv->rel));
        rc = live_scan_open(lv->srv, lv->rel, &info, &lv->fd, &err);
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

/* ---- live.m3u8 (HLS) ---- */

/*
 * HLS for players that cannot take a growing fMP4 stream (ffmpeg, VLC, set-top boxes, Safari):
 * the same stored chunks, addressed per fragment. A media segment is one fragment (keyframe to
 * keyframe, all its chunks), an fMP4 byte range of a segment file served as it is; the init
 * section is the file's header boxes. Only fragments that are complete (a later fragment or the
 * mfra follows them) are listed, so a listed URL always answers the same bytes.
 *
 *   live.m3u8               master playlist: one view-live audit record per opening
 *   live.m3u8?media=1       media playlist: the newest HLS_WINDOW fragments (reloaded by players)
 *   live-init.mp4?run=R&seq=S          the init section of segment file S of run R
 *   live-frag.m4s?run=R&seq=S&o=OFF    the fragment at byte OFF of that file
 *
 * Media sequence numbers count the run's fragments (the index's per-segment fragment counts
 * before the file, plus the position in it), so they stay the same across reloads and files.
 */
#define HLS_WINDOW 6
#define HLS_FILES 2

struct hls_file {
    char rel[LAY_RELPATH_MAX];
    struct lay_seg_info info;
    size_t usable;     /* complete fragments: all when closed, else all but the last */
    uint64_t seq_base; /* media sequence number of its first fragment */
};

struct run_ctx {
    uint64_t run_id;
    uint32_t run_seq; /* count segments before this one */
    uint64_t frags;
    char rel[LAY_RELPATH_MAX]; /* the newest segment of the run before run_seq */
    uint32_t best_seq;
    bool found;
};

static int run_seg(void *ctx, const struct idx_segment *seg)
{
    struct run_ctx *c = ctx;

    if (seg->run_id != c->run_id || seg->run_seq >= c->run_seq)
        return 0;
    c->frags += seg->fragments;
    if (!c->found || seg->run_seq > c->best_seq) {
        c->best_seq = seg->run_seq;
        cv_strlcpy(c->rel, seg->path, sizeof(c->rel));
        c->found = true;
    }
    return 0;
}

/* Open and scan segment file rel; 0 with *info and its usable fragment count, or < 0. */
static int hls_scan(struct srv *srv, const char *rel, struct hls_file *f, struct cv_err *err)
{
    int fd, rc = live_scan_open(srv, rel, &f->info, &fd, err);

    if (rc < 0)
        return rc;
    close(fd);
    cv_strlcpy(f->rel, rel, sizeof(f->rel));
    f->usable = f->info.closed ? f->info.nfrags : f->info.nfrags - 1;
    return 0;
}

/* The fragments of run_id's segments before run_seq (into c->frags) and the newest of them. */
static int run_before(struct idx_txn *t, uint32_t cam, uint64_t run_id, uint32_t run_seq,
                      struct run_ctx *c, struct cv_err *err)
{
    memset(c, 0, sizeof(*c));
    c->run_id = run_id;
    c->run_seq = run_seq;
    return idx_segment_iter(t, cam, (int64_t)run_id - CV_US_PER_S, INT64_MAX, run_seg, c, err);
}

/*
 * The camera's files for HLS, oldest first: the pending segment and, when the window reaches
 * back into it, the run's segment before it; between two segments (the pending note of the next
 * one a moment behind, or its first fragment not complete) the one that just closed. Each with
 * its first media sequence number. Returns how many (0: not recording), or < 0.
 */
static int hls_files(struct srv_req *r, struct idx_txn *t, uint32_t cam, struct hls_file *files,
                     struct cv_err *err)
{
    char rel[LAY_RELPATH_MAX];
    struct run_ctx c;
    struct idx_segment last;
    struct hls_file *cur = &files[1];
    int rc;

    if (idx_pending_get(t, cam, rel, err) < 0 || hls_scan(r->srv, rel, cur, err) < 0) {
        if (idx_segment_last(t, cam, &last, NULL) < 0 ||
            cv_now_us() - last.end_us > LIVE_RECENT_US || hls_scan(r->srv, last.path, files, err) < 0)
            return 0;
        rc = run_before(t, cam, last.run_id, last.run_seq, &c, err);
        files[0].seq_base = c.frags;
        return rc < 0 ? rc : 1;
    }
    rc = run_before(t, cam, cur->info.hdr.run_id, cur->info.hdr.run_seq, &c, err);
    if (rc < 0) {
        lay_seg_info_release(&cur->info);
        return rc;
    }
    cur->seq_base = c.frags;
    if (cur->usable >= HLS_WINDOW || !c.found || c.best_seq + 1 != cur->info.hdr.run_seq ||
        hls_scan(r->srv, c.rel, &files[0], err) < 0) {
        files[0] = *cur;
        memset(cur, 0, sizeof(*cur));
        return 1;
    }
    files[0].seq_base = c.frags - files[0].info.nfrags;
    return 2;
}

static void hls_release(struct hls_file *files, int n)
{
    for (int i = 0; i < n; i++)
        lay_seg_info_release(&files[i].info);
}

static void hls_media_playlist(struct cv_buf *b, const struct hls_file *files, int n)
{
    size_t total = 0, skip;
    double target = 1;
    bool first = true;

    for (int i = 0; i < n; i++)
        total += files[i].usable;
    skip = total > HLS_WINDOW ? total - HLS_WINDOW : 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < files[i].usable; k++) {
            double d = (double)files[i].info.frags[k].video_dur / files[i].info.video_timescale;
            if (d > target)
                target = d;
        }
    cv_buf_printf(b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                     "#EXT-X-TARGETDURATION:%lld\n",
                  (long long)(target + 0.999));
    /* Each segment file's times start at 0 and it has its own init section: a discontinuity
     * where the listing moves to the next file, numbered by the run's file count. */
    bool listed = false;
    for (int i = 0; i < n; i++) {
        const struct hls_file *f = &files[i];
        bool mapped = false;
        for (size_t k = 0; k < f->usable; k++) {
            const struct lay_seg_frag *fr = &f->info.frags[k];
            if (skip > 0) {
                skip--;
                continue;
            }
            if (first)
                cv_buf_printf(b, "#EXT-X-MEDIA-SEQUENCE:%llu\n#EXT-X-DISCONTINUITY-SEQUENCE:%u\n",
                              (unsigned long long)(f->seq_base + k), f->info.hdr.run_seq);
            if (!mapped && listed)
                cv_buf_printf(b, "#EXT-X-DISCONTINUITY\n");
            listed = true;
            if (!mapped)
                cv_buf_printf(b, "#EXT-X-MAP:URI=\"live-init.mp4?run=%llu&seq=%u\"\n",
                              (unsigned long long)f->info.hdr.run_id, f->info.hdr.run_seq);
            if (fr->wall_us != INT64_MIN && (first || !mapped)) {
                char when[40];
                cv_time_format_utc(fr->wall_us, when, sizeof(when), 3);
                cv_buf_printf(b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", when);
            }
            first = false;
            mapped = true;
            cv_buf_printf(b, "#EXTINF:%.3f,\nlive-frag.m4s?run=%llu&seq=%u&o=%llu\n",
                          (double)fr->video_dur / f->info.video_timescale,
                          (unsigned long long)f->info.hdr.run_id, f->info.hdr.run_seq,
                          (unsigned long long)fr->offset);
        }
    }
}

/* The file of run `run`, segment `seq` of this camera (the pending one or an indexed one). */
static int hls_file_of(struct srv_req *r, struct idx_txn *t, uint32_t cam, uint64_t run,
                       uint32_t seq, struct hls_file *f, struct cv_err *err)
{
    struct run_ctx c;
    char rel[LAY_RELPATH_MAX];
    int rc;

    if (idx_pending_get(t, cam, rel, err) == 0 && hls_scan(r->srv, rel, f, err) == 0) {
        if (f->info.hdr.run_id == run && f->info.hdr.run_seq == seq)
            return 0;
        lay_seg_info_release(&f->info);
    }
    rc = run_before(t, cam, run, seq + 1, &c, err);
    if (rc < 0)
        return rc;
    if (!c.found || c.best_seq != seq)
        return cv_errf(err, CV_ENOENT, "no segment %u of run %llu (gone, or not yet written)",
                       seq, (unsigned long long)run);
    return hls_scan(r->srv, c.rel, f, err);
}

/* The run, seq (and o when want_off) query parameters; -1 when it has answered 400. */
static int hls_params(struct srv_req *r, uint64_t *run, uint32_t *seq, uint64_t *off,
                      bool want_off)
{
    const char *names[3] = {"run", "seq", "o"};
    int64_t v[3] = {0, 0, 0};

    for (int i = 0; i < (want_off ? 3 : 2); i++) {
        const char *s = srv_uri_query(&r->uri, names[i]);
        if (!s || cv_parse_i64(s, 0, i == 1 ? UINT32_MAX : INT64_MAX, &v[i]) < 0) {
            srv_error(r, 400, "query parameter '%s': %s", names[i],
                      s ? "not a whole number" : "missing");
            return -1;
        }
    }
    *run = (uint64_t)v[0];
    *seq = (uint32_t)v[1];
    *off = (uint64_t)v[2];
    return 0;
}

/* Answer bytes [off, off + len) of segment file rel (they are complete and never change). */
static void hls_send_bytes(struct srv_req *r, const char *rel, uint64_t off, uint64_t len,
                           const char *ctype)
{
    char abs[PATH_MAX];
    struct cv_err err = {""};
    struct MHD_Response *resp;
    int fd;

    if (lay_abs(r->srv->root, rel, abs, sizeof(abs), &err) < 0 ||
        (fd = open(abs, O_RDONLY | O_CLOEXEC)) < 0) {
        srv_error(r, 404, "segment '%s' is gone", rel);
        return;
    }
    resp = MHD_create_response_from_fd_at_offset64(len, fd, off); /* owns fd */
    if (!resp) {
        close(fd);
        srv_error(r, 500, "cannot start the response");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "private, max-age=3600");
    r->resp = resp;
    r->status = 200;
}

/* GET /api/v1/cameras/{id}/live.m3u8[?media=1] */
int api_live_hls(struct srv_req *r)
{
    struct idx_camera cam;
    struct idx_txn *t = NULL;
    struct hls_file files[HLS_FILES];
    struct cv_err err = {""};
    char target[128];
    const char *media = srv_uri_query(&r->uri, "media");
    int n = 0, rc;

    memset(files, 0, sizeof(files));
    if (srv_read(r, &t) < 0 || live_camera(r, t, &cam) < 0)
        goto out;
    n = hls_files(r, t, cam.num, files, &err);
    idx_abort(t);
    t = NULL;
    if (n < 0) {
        srv_fail(r, n, &err);
        n = 0;
        goto out;
    }
    if (n == 0 || files[0].usable + files[1].usable == 0) {
        srv_error(r, 404, "camera '%s': not recording, or nothing complete yet; try again in a "
                  "few seconds", cam.id);
        goto out;
    }
    if (!media) { /* the master playlist: a viewer starts watching */
        snprintf(target, sizeof(target), "camera %s live", cam.id);
        rc = srv_audit(r, NULL, "view-live", target, NULL, "hls", &err);
        if (rc < 0) {
            srv_fail(r, rc, &err);
            goto out;
        }
        const struct hls_file *f = &files[n - 1];
        uint64_t bytes = 0, dur = 0;
        for (size_t k = 0; k < f->info.nfrags; k++) {
            bytes += f->info.frags[k].size;
            dur += f->info.frags[k].video_dur;
        }
        cv_buf_printf(&r->out, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                      "#EXT-X-STREAM-INF:BANDWIDTH=%llu,RESOLUTION=%ux%u\nlive.m3u8?media=1\n",
                      (unsigned long long)(dur ? bytes * 8 * f->info.video_timescale / dur
                                               : 1000000),
                      f->info.width, f->info.height);
    } else {
        hls_media_playlist(&r->out, files, n);
    }
    r->ctype = "application/vnd.apple.mpegurl";
    srv_header(r, "Cache-Control", "no-store");
    r->status = 200;
out:
    idx_abort(t);
    hls_release(files, n);
    return 0;
}

/* GET live-init.mp4?run=R&seq=S and live-frag.m4s?run=R&seq=S&o=OFF */
static int hls_part(struct srv_req *r, bool frag)
{
    struct idx_camera cam;
    struct idx_txn *t = NULL;
    struct hls_file f;
    struct cv_err err = {""};
    uint64_t run, off;
    uint32_t seq;
    int rc;

    memset(&f, 0, sizeof(f));
    if (hls_params(r, &run, &seq, &off, frag) < 0)
        return 0;
    if (srv_read(r, &t) < 0 || live_camera(r, t, &cam) < 0) {
        idx_abort(t);
        return 0;
    }
    rc = hls_file_of(r, t, cam.num, run, seq, &f, &err);
    idx_abort(t);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    if (!frag) {
        hls_send_bytes(r, f.rel, 0, f.info.frags[0].offset, "video/mp4");
    } else {
        size_t k = 0;
        while (k < f.usable && f.info.frags[k].offset != off)
            k++;
        if (k == f.usable)
            srv_error(r, 404, "no complete fragment at offset %llu of segment %u of run %llu",
                      (unsigned long long)off, seq, (unsigned long long)run);
        else
            hls_send_bytes(r, f.rel, off, f.info.frags[k].size, "video/iso.segment");
    }
    lay_seg_info_release(&f.info);
    return 0;
}

int api_live_hls_init(struct srv_req *r)
{
    return hls_part(r, false);
}

int api_live_hls_frag(struct srv_req *r)
{
    return hls_part(r, true);
}
