/*
 * api_rendition.c: the H.264 rendition of playback (docs/api.md, "H.264 rendition"):
 *
 *   video.mp4?from=T&to=T&rendition=h264   the clip of video.mp4, transcoded
 *   live.mp4?rendition=h264                the camera's live edge, transcoded
 *
 * for browsers that cannot decode the original (H.265). The routes, roles, reach checks and
 * audit records are those of the originals (api_playback.c hands the request over when the
 * `rendition` parameter is there); each response has a transcoding session of its own:
 * a worker thread runs exp_rendition_run (exporter/rendition.h) and puts the output into a
 * bounded buffer that the content reader empties. At most rendition_sessions_max sessions run
 * at once (camvault.conf, default 2): past it, 503 with a message the UI shows.
 *
 * The live input is read from the segment files, not from live.mp4: the header boxes of the
 * segment being written, then its complete fragments (lay_seg_scan) from the newest one on,
 * followed as the recorder appends and into the next segment of the same run.
 *
 * Threads: the content reader runs in a libmicrohttpd pool thread and never waits (with nothing
 * buffered it suspends the connection, srv_guard_resume_later); the worker thread is the only
 * one that blocks, on its input and on a full buffer. The response's free callback stops the
 * worker and joins it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/cvtime.h"
#include "common/log.h"
#include "common/thread.h"
#include "exporter/clip.h"
#include "exporter/rendition.h"
#include "server/guard.h"
#include "server/livehub.h"
#include "server/workflow_int.h"
#include "storage-layout/layout.h"
#include "storage-layout/segfile.h"
#include "common/banned.h"

#define REND_SESSIONS_DEFAULT 2
#define REND_SESSIONS_LIMIT 64
#define REND_BUF (2u << 20)      /* output buffered ahead of the viewer */
#define REND_BLOCK (64 * 1024)
#define REND_POLL_US 40000       /* reader: nothing buffered, look again after this */
#define FOLLOW_POLL_US 200000    /* live input: the file did not grow, look again after this */
#define FOLLOW_IDLE_US (INT64_C(15) * 1000000)     /* no new fragment this long: end */
#define FOLLOW_MAX_US (INT64_C(30) * 60 * 1000000) /* one live rendition at most this long */
#define FOLLOW_RECENT_US (10 * CV_US_PER_S)

int srv_rendition_conf(struct srv_config *c, const char *key, const char *value,
                       struct cv_err *err)
{
    int64_t v;

    if (strcmp(key, "rendition_sessions_max") == 0) {
        if (cv_parse_i64(value, 1, REND_SESSIONS_LIMIT, &v) < 0)
            return cv_errf(err, CV_EINVAL, "%s: expected a whole number from 1 to %d, not '%.40s'",
                           key, REND_SESSIONS_LIMIT, value);
        if (c)
            c->rendition_sessions_max = (int)v;
        return 0;
    }
    if (strcmp(key, "rendition_max_height") == 0) {
        if (cv_parse_i64(value, EXP_RENDITION_HEIGHT_MIN, EXP_RENDITION_HEIGHT_MAX, &v) < 0)
            return cv_errf(err, CV_EINVAL, "%s: expected a whole number from %d to %d, not '%.40s'",
                           key, EXP_RENDITION_HEIGHT_MIN, EXP_RENDITION_HEIGHT_MAX, value);
        if (c)
            c->rendition_max_height = (int)v;
        return 0;
    }
    return 1;
}

/* ---- the live input: segment files followed as they grow ---- */

struct follow {
    struct srv *srv;
    uint32_t cam;
    uint64_t run_id;
    char rel[LAY_RELPATH_MAX];
    int fd;
    int64_t start_us;  /* wall time of the current file's first fragment */
    uint64_t pos, end; /* bytes [pos, end) of the file are ready to send */
    uint64_t jump;     /* after the header: where the first fragment to send starts (0: none) */
    uint64_t last_size;
    int64_t started_us, last_data_us, grew_us;
};

/* ---- a session ---- */

struct rend_session {
    struct srv *srv;
    struct MHD_Connection *conn;
    char camera[LAY_ID_MAX + 1];
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint8_t *buf;
    size_t head, len; /* buffered output: buf[head, head + len) */
    bool stop;        /* the viewer left: the worker ends */
    bool done;        /* the worker ended */
    int rc;           /* its result */
    struct exp_clip *clip; /* video.mp4: the input */
    uint64_t clip_pos;
    struct follow fl; /* live.mp4: the input */
    int max_height;
};

/* Wait up to us on the session's condition; true when the session is stopping. */
static bool session_wait(struct rend_session *s, int64_t us)
{
    struct timespec ts;
    bool stop;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(us / 1000000);
    ts.tv_nsec += (long)(us % 1000000) * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->mu);
    if (!s->stop)
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* Output of the transcoder: into the buffer, waiting while it is full. */
static int out_write(void *ctx, const uint8_t *data, int size, struct cv_err *err)
{
    struct rend_session *s = ctx;
    size_t left = (size_t)size;

    pthread_mutex_lock(&s->mu);
    while (left && !s->stop) {
        size_t room;
        if (s->len == REND_BUF) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        if (s->head + s->len == REND_BUF || s->head > REND_BUF / 2) {
            memmove(s->buf, s->buf + s->head, s->len);
            s->head = 0;
        }
        room = REND_BUF - s->head - s->len;
        if (room > left)
            room = left;
        memcpy(s->buf + s->head + s->len, data, room);
        s->len += room;
        data += room;
        left -= room;
    }
    pthread_mutex_unlock(&s->mu);
    return left ? cv_errf(err, CV_ECANCELED, "the viewer left") : 0;
}

static bool stopping(struct rend_session *s)
{
    bool stop;

    pthread_mutex_lock(&s->mu);
    stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* Input of video.mp4's rendition: the clip's bytes. */
static int clip_in_read(void *ctx, uint8_t *buf, int size, struct cv_err *err)
{
    struct rend_session *s = ctx;
    uint64_t total = exp_clip_size(s->clip), n = (uint64_t)size;

    if (stopping(s))
        return cv_errf(err, CV_ECANCELED, "the viewer left");
    if (s->clip_pos >= total)
        return 0;
    if (n > total - s->clip_pos)
        n = total - s->clip_pos;
    if (exp_clip_read(s->clip, s->clip_pos, buf, (size_t)n, err) < 0)
        return CV_EIO;
    s->clip_pos += n;
    return (int)n;
}

static int clip_in_seek(void *ctx, int64_t off, struct cv_err *err)
{
    struct rend_session *s = ctx;

    (void)err;
    s->clip_pos = (uint64_t)off;
    return 0;
}

/* Open segment `rel` and scan it: 0 with *info and *fd, CV_ENOENT when it has no complete
 * fragment yet, or another error. */
static int follow_open(struct follow *f, const char *rel, struct lay_seg_info *info, int *fd,
                       struct cv_err *err)
{
    char abs[PATH_MAX];
    int rc = lay_abs(f->srv->root, rel, abs, sizeof(abs), err);

    if (rc < 0)
        return rc;
    *fd = open(abs, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return cv_errf(err, cv_errno_code(errno), "cannot open '%s': %s", rel, strerror(errno));
    rc = lay_seg_scan(*fd, info, err);
    if (rc == 0 && info->nfrags == 0) {
        lay_seg_info_release(info);
        rc = cv_errf(err, CV_ENOENT, "segment '%s' has no complete fragment yet", rel);
    }
    if (rc < 0) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}

/* Go on with the segment after the current one if it is of the same run: 1 moved, 0 not yet,
 * -1 the stream ends (a new run, or an unreadable file). */
static int follow_next(struct follow *f)
{
    struct lay_seg_info info;
    struct cv_err err = {""};
    char rel[LAY_RELPATH_MAX] = "";
    int fd = -1, rc = srv_live_next_segment(f->srv, f->cam, f->start_us, rel, &err);

    if (rc < 0 || !rel[0] || strcmp(rel, f->rel) == 0)
        return 0;
    rc = follow_open(f, rel, &info, &fd, &err);
    if (rc == CV_ENOENT)
        return 0;
    if (rc < 0)
        return -1;
    if (info.hdr.run_id != f->run_id) {
        lay_seg_info_release(&info);
        close(fd);
        return -1;
    }
    close(f->fd);
    f->fd = fd;
    cv_strlcpy(f->rel, rel, sizeof(f->rel));
    f->start_us = info.start_us;
    f->pos = info.frags[0].offset;
    f->end = info.complete_bytes;
    f->last_size = info.file_bytes;
    lay_seg_info_release(&info);
    return 1;
}

/* Look at the current file again: 1 more to send, 0 nothing yet, -1 the stream ends. */
static int follow_poll(struct follow *f)
{
    struct lay_seg_info info;
    struct cv_err err = {""};
    int64_t now = cv_mono_us();
    bool closed;

    if (lay_seg_scan(f->fd, &info, &err) < 0)
        return -1;
    closed = info.closed;
    if (info.file_bytes != f->last_size) {
        f->last_size = info.file_bytes;
        f->grew_us = now;
    }
    if (info.complete_bytes > f->pos)
        f->end = info.complete_bytes;
    lay_seg_info_release(&info);
    if (f->end > f->pos)
        return 1;
    /* Closed (mfra), or stopped growing (the recorder was killed): go on with the next. */
    if (closed || now - f->grew_us > 3 * CV_US_PER_S)
        return follow_next(f);
    return 0;
}

/* Input of live.mp4's rendition: header, then fragments as they are complete; 0 at the end. */
static int live_in_read(void *ctx, uint8_t *buf, int size, struct cv_err *err)
{
    struct rend_session *s = ctx;
    struct follow *f = &s->fl;

    for (;;) {
        int64_t now = cv_mono_us();
        if (stopping(s))
            return cv_errf(err, CV_ECANCELED, "the viewer left");
        if (f->pos < f->end) {
            size_t n = f->end - f->pos < (uint64_t)size ? (size_t)(f->end - f->pos) : (size_t)size;
            ssize_t got = pread(f->fd, buf, n, (off_t)f->pos);
            if (got <= 0)
                return cv_errf(err, CV_EIO, "cannot read '%s': %s", f->rel,
                               got < 0 ? strerror(errno) : "file shrank");
            f->pos += (uint64_t)got;
            f->last_data_us = now;
            return (int)got;
        }
        if (f->jump) { /* header sent: on with the newest fragment */
            f->pos = f->jump;
            f->jump = 0;
            continue;
        }
        if (atomic_load(&f->srv->stopping) || now - f->started_us > FOLLOW_MAX_US ||
            now - f->last_data_us > FOLLOW_IDLE_US)
            return 0;
        int m = follow_poll(f);
        if (m < 0)
            return 0;
        if (m == 0 && session_wait(s, FOLLOW_POLL_US))
            return cv_errf(err, CV_ECANCELED, "the viewer left");
    }
}

static void *session_main(void *arg)
{
    struct rend_session *s = arg;
    struct exp_rendition_io io = {.write = out_write, .ctx = s};
    struct exp_rendition_stats st;
    struct cv_err err = {""};
    int rc;

    if (s->clip) {
        io.read = clip_in_read;
        io.seek = clip_in_seek;
        io.size = (int64_t)exp_clip_size(s->clip);
    } else {
        io.read = live_in_read;
    }
    rc = exp_rendition_run(&io, s->max_height, &st, &err);
    if (rc < 0 && rc != CV_ECANCELED)
        cv_warn("camera '%s': H.264 rendition: %s", s->camera, err.msg);
    else
        cv_debug("camera '%s': H.264 rendition %dx%d: %llu frames in, %llu out", s->camera,
                 st.width, st.height, (unsigned long long)st.frames_in,
                 (unsigned long long)st.frames_out);
    pthread_mutex_lock(&s->mu);
    s->done = true;
    s->rc = rc;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Whether the viewer closed the connection. libmicrohttpd notices only when it sends, and a
 * session with nothing to send would hold its place until the next fragment; the UI closes
 * and opens streams as the viewer moves between screens. */
static bool peer_gone(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct pollfd p;

    if (!ci)
        return false;
    p.fd = ci->connect_fd;
    p.events = POLLRDHUP;
    p.revents = 0;
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* The content reader: buffered output, or a suspension until there is some. */
static ssize_t session_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct rend_session *s = cls;
    size_t n = 0;
    bool done;
    int rc;

    (void)pos;
    pthread_mutex_lock(&s->mu);
    if (s->len) {
        n = s->len < max ? s->len : max;
        memcpy(out, s->buf + s->head, n);
        s->head += n;
        s->len -= n;
        if (!s->len)
            s->head = 0;
        pthread_cond_broadcast(&s->cv);
    }
    done = s->done;
    rc = s->rc;
    pthread_mutex_unlock(&s->mu);
    if (n)
        return (ssize_t)n;
    if (done)
        return rc < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    if (peer_gone(s->conn))
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (!srv_guard_resume_later(s->srv->guard, s->conn, REND_POLL_US))
        return MHD_CONTENT_READER_END_OF_STREAM;
    return 0;
}

static void session_free(void *cls)
{
    struct rend_session *s = cls;

    if (!s)
        return;
    if (s->started)
        cv_thread_stop(&s->mu, &s->cv, &s->stop, s->thread);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    exp_clip_free(s->clip);
    if (s->fl.fd >= 0)
        close(s->fl.fd);
    free(s->buf);
    atomic_fetch_sub(&s->srv->renditions, 1);
    free(s);
}

/*
 * A session for r if one is free: 0 with *out (which holds one of the server's sessions until
 * session_free), else it has answered 503 (or 500) and returns -1.
 */
static int session_new(struct srv_req *r, const char *camera, struct rend_session **out)
{
    struct srv *srv = r->srv;
    int max = srv->conf.rendition_sessions_max ? srv->conf.rendition_sessions_max
                                               : REND_SESSIONS_DEFAULT;
    struct rend_session *s;

    *out = NULL;
    if (atomic_fetch_add(&srv->renditions, 1) >= max) {
        atomic_fetch_sub(&srv->renditions, 1);
        srv_header(r, "Retry-After", "30");
        return srv_error(r, 503,
                         "H.264 rendition: all %d transcoding sessions of this server are in use; "
                         "try again later, or use a browser that plays H.265",
                         max),
               -1;
    }
    s = calloc(1, sizeof(*s));
    if (!s || !(s->buf = malloc(REND_BUF))) {
        free(s);
        atomic_fetch_sub(&srv->renditions, 1);
        return srv_error(r, 500, "out of memory"), -1;
    }
    s->srv = srv;
    s->conn = r->conn;
    s->fl.fd = -1;
    s->max_height = srv->conf.rendition_max_height;
    cv_strlcpy(s->camera, camera, sizeof(s->camera));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    *out = s;
    return 0;
}

/* HEAD: whether a session is free now, without taking it or viewing footage (the UI asks
 * before it sets a video's source): 200 with the headers of the stream; 503 answered before. */
static int session_probe(struct srv_req *r, struct rend_session *s)
{
    session_free(s);
    srv_header(r, "X-Camvault-Rendition", "h264");
    r->ctype = "video/mp4";
    r->status = 200;
    return 0;
}

/* Start s's worker and answer with its stream: 0 (the response owns s either way). */
static int session_start(struct srv_req *r, struct rend_session *s)
{
    if (pthread_create(&s->thread, NULL, session_main, s) != 0) {
        session_free(s);
        return srv_error(r, 500, "cannot start the H.264 rendition");
    }
    s->started = true;
    srv_header(r, "X-Camvault-Rendition", "h264");
    return srv_reply_stream(r, 200, MHD_SIZE_UNKNOWN, REND_BLOCK, session_read, s, session_free,
                            "video/mp4", "cannot start the H.264 rendition");
}

/* The one rendition there is: 0, or it has answered 400 and returns -1. */
static int rendition_check(struct srv_req *r)
{
    const char *v = srv_uri_query(&r->uri, "rendition");

    if (strcmp(v, "h264") != 0)
        return srv_error(r, 400, "unknown rendition '%.32s': the one there is is 'h264'", v), -1;
    return 0;
}

/* ---- video.mp4?rendition=h264 ---- */

/* GET /api/v1/cameras/{id}/video.mp4?from=T&to=T&rendition=h264 (from api_video) */
int api_video_rendition(struct srv_req *r)
{
    struct idx_camera cam;
    struct cv_err err = {""};
    struct exp_clip *clip = NULL;
    struct rend_session *s = NULL;
    char what[96], target[256], a[48], b[48];
    int64_t from, to, first = 0, end = 0;
    int rc;

    if (rendition_check(r) < 0)
        return 0;
    if (wf_video_clip(r, &cam, &from, &to, &clip) < 0)
        return 0;
    if (session_new(r, cam.id, &s) < 0) {
        exp_clip_free(clip);
        return 0;
    }
    s->clip = clip;
    if (strcmp(r->method, "HEAD") == 0)
        return session_probe(r, s);
    exp_clip_times(clip, &first, &end);
    snprintf(what, sizeof(what), "camera %s", cam.id);
    wf_range_text(target, sizeof(target), what, from, to);
    rc = srv_audit(r, NULL, "view-video", target, NULL, "rendition h264", &err);
    if (rc < 0) {
        session_free(s);
        return srv_fail(r, rc, &err);
    }
    cv_time_format_utc(first, a, sizeof(a), 6);
    cv_time_format_utc(end, b, sizeof(b), 6);
    srv_header(r, "X-Camvault-Start", "%s", a);
    srv_header(r, "X-Camvault-End", "%s", b);
    return session_start(r, s);
}

/* ---- live.mp4?rendition=h264 ---- */

/* The segment to start a live view of camera cam with: the one being written, or the one just
 * closed when the next has no note yet. 0 with rel, or answered and -1. */
static int live_segment(struct srv_req *r, struct idx_txn *t, const struct idx_camera *cam,
                        char *rel, char *last_rel)
{
    struct idx_segment last;
    struct cv_err err = {""};
    int rc;

    last_rel[0] = 0;
    if (idx_segment_last(t, cam->num, &last, NULL) == 0 &&
        cv_now_us() - last.end_us < FOLLOW_RECENT_US)
        cv_strlcpy(last_rel, last.path, LAY_RELPATH_MAX);
    rc = idx_pending_get(t, cam->num, rel, &err);
    if (rc == CV_ENOENT && last_rel[0]) {
        cv_strlcpy(rel, last_rel, LAY_RELPATH_MAX);
        rc = 0;
    } else if (rc == CV_ENOENT) {
        rc = cv_errf(&err, CV_ENOENT, "camera '%s' is not recording now", cam->id);
    }
    if (rc < 0)
        return srv_fail(r, rc, &err), -1;
    return 0;
}

/* Open the live input of s at rel (or last_rel when rel has no complete fragment yet). */
static int live_open(struct srv_req *r, struct rend_session *s, const struct idx_camera *cam,
                     const char *rel, const char *last_rel)
{
    struct follow *f = &s->fl;
    struct lay_seg_info info;
    struct cv_err err = {""};
    int rc;

    f->srv = r->srv;
    f->cam = cam->num;
    cv_strlcpy(f->rel, rel, sizeof(f->rel));
    rc = follow_open(f, f->rel, &info, &f->fd, &err);
    if (rc == CV_ENOENT && last_rel[0] && strcmp(last_rel, rel) != 0) {
        cv_strlcpy(f->rel, last_rel, sizeof(f->rel));
        rc = follow_open(f, f->rel, &info, &f->fd, &err);
    }
    if (rc == CV_ENOENT)
        return srv_error(r, 404, "camera '%s': nothing written yet; try again in a few seconds",
                         cam->id),
               -1;
    if (rc < 0)
        return srv_fail(r, rc, &err), -1;
    f->run_id = info.hdr.run_id;
    f->start_us = info.start_us;
    f->pos = 0;
    f->end = info.frags[0].offset; /* the header boxes first */
    f->jump = info.frags[info.nfrags - 1].offset;
    f->last_size = info.file_bytes;
    f->started_us = f->last_data_us = f->grew_us = cv_mono_us();
    lay_seg_info_release(&info);
    return 0;
}

/* GET /api/v1/cameras/{id}/live.mp4?rendition=h264 (from api_live) */
int api_live_rendition(struct srv_req *r)
{
    struct idx_camera cam;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct rend_session *s = NULL;
    char rel[LAY_RELPATH_MAX], last_rel[LAY_RELPATH_MAX], target[128], detail[LAY_RELPATH_MAX + 32];
    int64_t now = cv_now_us();
    int rc;

    if (rendition_check(r) < 0)
        return 0;
    if (srv_read(r, &t) < 0)
        return 0;
    if (srv_footage_camera(r, t, now - 1, now, "now", true, &cam) < 0) {
        idx_abort(t);
        return 0;
    }
    rc = live_segment(r, t, &cam, rel, last_rel);
    idx_abort(t);
    if (rc < 0)
        return 0;
    if (session_new(r, cam.id, &s) < 0)
        return 0;
    if (live_open(r, s, &cam, rel, last_rel) < 0) {
        session_free(s);
        return 0;
    }
    if (strcmp(r->method, "HEAD") == 0)
        return session_probe(r, s);
    snprintf(target, sizeof(target), "camera %s live", cam.id);
    snprintf(detail, sizeof(detail), "rendition h264 %s", s->fl.rel);
    rc = srv_audit(r, NULL, "view-live", target, NULL, detail, &err);
    if (rc < 0) {
        session_free(s);
        return srv_fail(r, rc, &err);
    }
    return session_start(r, s);
}
