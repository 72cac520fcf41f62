/*
 * api_live.c: live view over HTTP (docs/api.md, "Live view"):
 *
 *   live.mp4   the segment being written, from its newest keyframe on, followed chunk by chunk
 *              as the recorder appends (and into the next segment of the same run)
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
#include "storage-layout/segfile.h"
#include "common/banned.h"

#define BLOCK (64 * 1024)
/* How often a waiting viewer looks at the file: adds half of it to the latency on average. */
#define LIVE_POLL_US 40000
#define LIVE_IDLE_US (INT64_C(15) * 1000000)     /* no new fragment this long: end */
#define LIVE_MAX_US (INT64_C(30) * 60 * 1000000) /* one live response at most this long */
#define LIVE_HEADER_MAX (4u << 20)
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
    if (info.hdr.run_id != lv->run_id) {
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
