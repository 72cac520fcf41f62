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
#include "server/livehub.h"
#include "server/workflow_int.h"
#include "storage-layout/layout.h"
#include "storage-layout/moofshift.h"
#include "storage-layout/segfile.h"
#include "common/banned.h"

/* libmicrohttpd's send buffer per live viewer: the bulk of a viewer's memory (docs/performance.md,
 * "Live fan-out"); a 200-ms chunk at 2 Mbit/s (~50 KB) goes out in a few writes. */
#define BLOCK (16 * 1024)
#define LIVE_HEADER_MAX (4u << 20)
#define LIVE_RECENT_US (10 * CV_US_PER_S) /* a segment that ended this recently is "now" */

/* ---- live.mp4 ---- */

/*
 * A live stream: the header boxes of the segment being written (ftyp, moov, camvault.segment),
 * then its fragments from the newest complete one on, chunk by chunk as each is complete in the
 * file; at the segment's end (mfra, or a file that stopped growing while a later one exists)
 * the fragments of the next segment follow if it belongs to the same run (decode times
 * continue), else the stream ends. The player sees one growing fragmented MP4. One hub per
 * camera reads the file for all its viewers (server/livehub.h).
 */
struct live_start {
    struct srv_req *r;
    const struct idx_camera *cam;
    struct idx_segment last;
};

/* Where a new hub of the camera starts (srv_liveview_join's start): the segment being written,
 * from its newest fragment on. 0 with *st, or -1 when it has answered (404, 500). */
static int live_start(void *ctx, struct srv_livehub_start *st)
{
    struct live_start *ls = ctx;
    struct srv_req *r = ls->r;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct lay_seg_info info = {0};
    int64_t now = cv_now_us();
    int rc;

    if (srv_read(r, &t) < 0)
        return -1;
    if (idx_segment_last(t, ls->cam->num, &ls->last, NULL) < 0)
        ls->last.path[0] = 0;
    rc = idx_pending_get(t, ls->cam->num, st->rel, &err);
    if (rc == CV_ENOENT && ls->last.path[0] && now - ls->last.end_us < LIVE_RECENT_US) {
        /* Between two segments: the closed one is committed (which ends its pending note) and
         * the next one's note is a moment behind. Start from the closed one. */
        cv_strlcpy(st->rel, ls->last.path, sizeof(st->rel));
        rc = 0;
    } else if (rc == CV_ENOENT) {
        rc = cv_errf(&err, CV_ENOENT, "camera '%s' is not recording now", ls->cam->id);
    }
    idx_abort(t);
    if (rc < 0) {
        srv_fail(r, rc, &err);
        return -1;
    }
    rc = srv_live_scan_open(r->srv, st->rel, &info, &st->fd, &err);
    if (rc == CV_ENOENT && ls->last.path[0]) {
        /* The segment being written has no complete fragment yet (segments of one GOP, or
         * just rotated): start with the newest fragment of the segment before it; the stream
         * goes on into the pending one if it is of the same run. */
        cv_strlcpy(st->rel, ls->last.path, sizeof(st->rel));
        rc = srv_live_scan_open(r->srv, st->rel, &info, &st->fd, &err);
    }
    if (rc == CV_ENOENT) {
        srv_error(r, 404, "camera '%s': nothing written yet; try again in a few seconds",
                  ls->cam->id);
        return -1;
    }
    if (rc < 0) {
        srv_fail(r, rc, &err);
        return -1;
    }
    st->run_id = info.hdr.run_id;
    st->start_us = info.start_us;
    st->track[0] = info.video_track;
    st->track[1] = info.audio_track;
    st->timescale[0] = info.video_timescale;
    st->timescale[1] = info.audio_track ? info.audio_timescale : 0;
    st->hdrlen = (size_t)info.frags[0].offset;
    st->pos = info.frags[info.nfrags - 1].offset;
    lay_seg_info_release(&info);
    if (st->hdrlen > LIVE_HEADER_MAX || !(st->hdr = malloc(st->hdrlen)) ||
        cv_pread_all(st->fd, st->hdr, st->hdrlen, 0, &err) < 0) {
        srv_error(r, 500, "camera '%s': cannot read the segment header", ls->cam->id);
        return -1;
    }
    return 0;
}

/*
 * The camera of r->params[0] if this user may watch it live now: 0 with *cam; else it has
 * answered (404 unknown or not public for residents, 403 outside a mediator's cases) and
 * returns -1. t is a read transaction.
 */
static int live_camera(struct srv_req *r, struct idx_txn *t, struct idx_camera *cam)
{
    int64_t now = cv_now_us();

    return srv_footage_camera(r, t, now - 1, now, "now", true, cam);
}

/* GET /api/v1/cameras/{id}/live.mp4 */
int api_live(struct srv_req *r)
{
    struct idx_camera cam;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct live_start ls = {.r = r, .cam = &cam};
    struct srv_liveview *v = NULL;
    char target[128], rel[LAY_RELPATH_MAX];
    bool oom;
    int rc;

    if (srv_uri_query(&r->uri, "rendition")) /* the H.264 rendition (api_rendition.c) */
        return api_live_rendition(r);
    if (srv_read(r, &t) < 0 || live_camera(r, t, &cam) < 0)
        goto out;
    idx_abort(t);
    t = NULL;
    v = srv_liveview_join(r->srv->livehubs, cam.num, r->conn, live_start, &ls, &oom);
    if (!v) {
        if (oom)
            srv_error(r, 500, "out of memory");
        goto out;
    }
    snprintf(target, sizeof(target), "camera %s live", cam.id);
    srv_liveview_file(v, rel, sizeof(rel));
    rc = srv_audit(r, NULL, "view-live", target, NULL, rel, &err);
    if (rc < 0) {
        srv_fail(r, rc, &err);
        goto out;
    }
    srv_reply_stream(r, 200, MHD_SIZE_UNKNOWN, BLOCK, srv_liveview_read, v, srv_liveview_leave,
                     "video/mp4", "cannot start the live response");
    v = NULL; /* the response owns it */
out:
    idx_abort(t);
    srv_liveview_leave(v);
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
    int fd, rc = srv_live_scan_open(srv, rel, &f->info, &fd, err);

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
