/*
 * api_playback.c: watching footage over HTTP (docs/api.md, "Playback"):
 *
 *   video.mp4?from=T&to=T   one fragmented MP4 of the stored segments (exporter/clip.h), built
 *                           on demand for any byte range, so seeking costs one range request;
 *                           it reaches into the segment being written, up to its newest
 *                           complete fragment (indexer/openseg.h)
 *   snapshot.jpg?at=T       one JPEG of the frame shown at T (the open segment too)
 *
 * live.mp4 (and live.m3u8) are in api_live.c.
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
#include "indexer/openseg.h"
#include "server/audit.h"
#include "server/guard.h"
#include "server/workflow_int.h"
#include "storage-layout/layout.h"
#include "storage-layout/segfile.h"
#include "common/banned.h"

#define VIDEO_RANGE_MAX_US (INT64_C(6) * 3600 * 1000000)
#define BLOCK (64 * 1024)

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

/* ---- video.mp4 ---- */

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

int wf_video_clip(struct srv_req *r, struct idx_camera *cam, int64_t *from, int64_t *to,
                  struct exp_clip **clip)
{
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct exp_clip_sources l;
    int rc;

    if (srv_footage_range(r, VIDEO_RANGE_MAX_US,
                          "range too long: at most 6 hours per video request", "at this time", &t,
                          cam, from, to) < 0)
        return -1;
    rc = exp_clip_sources_collect(t, r->srv->root, cam, *from, *to, &l, &err);
    if (rc == 0) {
        rc = exp_clip_open(clip, (const char *const *)l.paths, l.n, *from, *to, &err);
        if (rc == CV_EMEDIA) {
            /* Codec parameters changed between runs: deliver the first run; the headers say
             * where it ends, and the player asks again from there. */
            size_t k = 1;
            while (k < l.n && l.runs[k] == l.runs[0])
                k++;
            rc = exp_clip_open(clip, (const char *const *)l.paths, k, *from, *to, &err);
        }
        if (rc == CV_ENOENT)
            rc = cv_errf(&err, CV_ENOENT, "camera '%s': nothing recorded in this range", cam->id);
    }
    exp_clip_sources_release(&l);
    idx_abort(t);
    if (rc < 0)
        return srv_fail(r, rc, &err), -1;
    return 0;
}

/* GET /api/v1/cameras/{id}/video.mp4?from=T&to=T */
int api_video(struct srv_req *r)
{
    struct idx_camera cam;
    struct cv_err err = {""};
    struct exp_clip *clip = NULL;
    struct clip_body *cb = NULL;
    char what[96], target[256], detail[128], a[48], b[48];
    int64_t from, to, first = 0, end = 0;
    uint64_t off, len, size;
    bool partial;
    int rc;

    if (srv_uri_query(&r->uri, "rendition"))
        return api_video_rendition(r);
    if (wf_video_clip(r, &cam, &from, &to, &clip) < 0)
        return 0;
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
    srv_header(r, "Accept-Ranges", "bytes");
    cv_time_format_utc(first, a, sizeof(a), 6);
    cv_time_format_utc(end, b, sizeof(b), 6);
    srv_header(r, "X-Camvault-Start", "%s", a);
    srv_header(r, "X-Camvault-End", "%s", b);
    if (partial)
        srv_header(r, "Content-Range", "bytes %llu-%llu/%llu", (unsigned long long)off,
                   (unsigned long long)(off + len - 1), (unsigned long long)size);
    return srv_reply_stream(r, partial ? 206 : 200, len, BLOCK, clip_read, cb, clip_free,
                            "video/mp4", "cannot start the video response");
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
    if (srv_footage_camera(r, t, at, at + 1, "at this time", false, &cam) < 0) {
        idx_abort(t);
        return 0;
    }
    rc = idx_locate_open(t, r->srv->root, cam.num, at, &seg, &frag_off, &frag_us, &err);
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

