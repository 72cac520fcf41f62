/*
 * media.c: the agent's INVITE sessions (GB/T 28181-2016 section 9.2 live, 9.8 playback) and the
 * thread of each, which reads the camera's segment files and sends MPEG-PS over RTP/UDP (ps.c).
 *
 * Where the frames come from: a segment file is a fragmented MP4 (storage-layout/segfile.h);
 * lay_seg_scan lists its complete fragments (GOPs), also while the recorder writes it. Each
 * fragment is demuxed by libavformat from memory (the file's header boxes, then the fragment's
 * bytes), its packets made Annex B by the mp4toannexb bitstream filter (parameter sets before
 * every keyframe) and sent at the pace of their wall-clock times (from the prft boxes):
 *   - live (s=Play): the camera's open segment, from its newest fragment that is complete
 *     (a later one exists), then each fragment as it completes and on into the next segment
 *     file, so the stream runs about one GOP behind the camera;
 *   - playback (s=Playback, t=START END in Unix seconds): the indexed segments overlapping the
 *     range, from the fragment holding START (a keyframe) to END, then a MediaStatus notify.
 * No transcoding: G.711 audio (A-law, mu-law) is carried as stream 0xC0, other audio is left
 * out (docs/gb28181.md).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/bsf.h>
#include <libavformat/avformat.h>

#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/log.h"
#include "gb/gb_int.h"
#include "indexer/openseg.h"
#include "common/banned.h"

#define FRAG_MAX (64u << 20) /* a fragment (GOP) read into memory at most */
#define IO_BUF 65536

struct gb_media {
    struct gb_agent *a;
    struct idx_camera cam;
    int64_t from_us, to_us; /* to_us 0: live */
    pthread_t thread;
    enum gb_rtp_mode mode;
    atomic_int stop;
    atomic_bool ended;
    struct gb_ps ps;
    int64_t mono0, wall0; /* the first frame's send time and wall time (PTS from there) */
    int64_t pmono, pwall; /* pacing: pwall is due at pmono (moved by PAUSE, PLAY, Scale) */
    unsigned seen;        /* the control generation pmono/pwall belong to */
    atomic_uint gen;      /* bumped by gb_media_control */
    atomic_int paused;
    atomic_int scale_milli; /* 1000 real time, 0 unpaced (a download over TCP) */
    char who[GB_ID_LEN + 1];
};

/* ---- reading one fragment ---- */

struct memrd {
    const uint8_t *p;
    size_t len, off;
};

static int mem_read(void *opaque, uint8_t *buf, int size)
{
    struct memrd *m = opaque;
    size_t k = m->len - m->off < (size_t)size ? m->len - m->off : (size_t)size;

    if (k == 0)
        return AVERROR_EOF;
    memcpy(buf, m->p + m->off, k);
    m->off += k;
    return (int)k;
}

/* Sleep until the frame of wall time `wall` is due (at the current Scale; not while paused);
 * false when the session is to stop. */
static bool pace(struct gb_media *m, int64_t wall)
{
    if (!m->mono0) {
        m->mono0 = m->pmono = cv_mono_us();
        m->wall0 = m->pwall = wall;
        m->seen = atomic_load(&m->gen);
    }
    for (;;) {
        struct timespec d = {0, 20 * 1000 * 1000};
        unsigned g = atomic_load(&m->gen);
        int scale = atomic_load(&m->scale_milli);
        int64_t wait;
        if (atomic_load(&m->stop))
            return false;
        if (g != m->seen) { /* PAUSE, PLAY or Scale: pace on from this frame */
            m->seen = g;
            m->pmono = cv_mono_us();
            m->pwall = wall;
        }
        if (atomic_load(&m->paused)) {
            nanosleep(&d, NULL);
            continue;
        }
        wait = scale ? m->pmono + (wall - m->pwall) * 1000 / scale - cv_mono_us() : 0;
        if (wait <= 0)
            return true;
        if (wait < 20000)
            d.tv_nsec = (long)wait * 1000;
        nanosleep(&d, NULL);
    }
}

void gb_media_control(struct gb_media *m, int pause, int scale_milli)
{
    if (pause >= 0)
        atomic_store(&m->paused, pause);
    if (scale_milli > 0 && atomic_load(&m->scale_milli) > 0)
        atomic_store(&m->scale_milli, scale_milli);
    atomic_fetch_add(&m->gen, 1);
}

/* Send one Annex B access unit of wall time `wall`. */
static int send_au(struct gb_media *m, const AVPacket *pkt, int64_t wall, int64_t cts_us,
                   struct cv_err *err)
{
    uint64_t dts = (uint64_t)((wall > m->wall0 ? wall - m->wall0 : 0) * 9 / 100) + 90000;
    uint64_t pts = dts + (uint64_t)(cts_us > 0 ? cts_us * 9 / 100 : 0);

    return gb_ps_video(&m->ps, pkt->data, (size_t)pkt->size, pts, dts,
                       pkt->flags & AV_PKT_FLAG_KEY, err);
}

/* One demuxed packet of a fragment with its wall-clock time. */
struct frag_pkt {
    AVPacket *pkt;
    int64_t wall, cts;
    bool video;
};

static int by_wall(const void *x, const void *y)
{
    const struct frag_pkt *a = x, *b = y;

    if (a->wall != b->wall)
        return a->wall < b->wall ? -1 : 1;
    return a->video == b->video ? 0 : a->video ? -1 : 1; /* stable enough: video first */
}

#define FRAG_PKTS_MAX 8192

/* Every packet of the video stream vi and audio stream ai (-1: none) into *out (sorted by
 * wall time; the tracks of a fragment are stored one after the other, not interleaved). */
static int collect(struct gb_media *m, AVFormatContext *ic, int vi, int ai, int64_t frag_wall,
                   struct frag_pkt *out, size_t *n, struct cv_err *err)
{
    AVRational vtb = ic->streams[vi]->time_base;
    int64_t v0 = AV_NOPTS_VALUE;
    size_t k = 0;
    AVPacket *pkt;

    while (k < FRAG_PKTS_MAX && (pkt = av_packet_alloc()) != NULL) {
        if (av_read_frame(ic, pkt) < 0) {
            av_packet_free(&pkt);
            break;
        }
        if ((pkt->stream_index != vi && pkt->stream_index != ai) || pkt->dts == AV_NOPTS_VALUE) {
            av_packet_free(&pkt);
            continue;
        }
        if (pkt->stream_index == vi && v0 == AV_NOPTS_VALUE)
            v0 = pkt->dts;
        out[k++] = (struct frag_pkt){pkt, 0, 0, pkt->stream_index == vi};
    }
    *n = k;
    if (v0 == AV_NOPTS_VALUE)
        return cv_errf(err, CV_EMEDIA, "camera '%s': a fragment without video", m->cam.id);
    for (size_t i = 0; i < k; i++) { /* both tracks' decode times start with the fragment */
        AVPacket *p = out[i].pkt;
        AVRational tb = ic->streams[p->stream_index]->time_base;
        out[i].wall = frag_wall + av_rescale_q(p->dts, tb, AV_TIME_BASE_Q) -
                      av_rescale_q(v0, vtb, AV_TIME_BASE_Q);
        out[i].cts = p->pts != AV_NOPTS_VALUE
                         ? av_rescale_q(p->pts - p->dts, tb, AV_TIME_BASE_Q) : 0;
    }
    qsort(out, k, sizeof(*out), by_wall);
    return 0;
}

/* Send the collected packets at real-time pace; a playback stops at its end (to_us). */
static int send_packets(struct gb_media *m, AVBSFContext *bsf, struct frag_pkt *fp, size_t n,
                        struct cv_err *err)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        AVPacket *pkt = fp[i].pkt;
        if (m->to_us && fp[i].wall >= m->to_us) {
            atomic_store(&m->ended, true);
            break;
        }
        if (!fp[i].video) {
            if (!pace(m, fp[i].wall))
                return CV_ECANCELED;
            rc = gb_ps_audio(&m->ps, pkt->data, (size_t)pkt->size,
                             (uint64_t)((fp[i].wall > m->wall0 ? fp[i].wall - m->wall0 : 0) *
                                        9 / 100) + 90000, err);
            continue;
        }
        if (av_bsf_send_packet(bsf, pkt) < 0)
            continue;
        while (rc == 0 && av_bsf_receive_packet(bsf, pkt) == 0) {
            if (!pace(m, fp[i].wall))
                rc = CV_ECANCELED;
            else
                rc = send_au(m, pkt, fp[i].wall, fp[i].cts, err);
            av_packet_unref(pkt);
        }
    }
    return rc;
}

/* Demux data[0..len) (header boxes + one fragment) and send its video, and its audio when it
 * is G.711, at real-time pace. frag_wall: the fragment's first video sample's wall time. */
static int send_fragment(struct gb_media *m, const uint8_t *data, size_t len, int64_t frag_wall,
                         struct cv_err *err)
{
    struct memrd rd = {data, len, 0};
    AVFormatContext *ic = avformat_alloc_context();
    uint8_t *iobuf = av_malloc(IO_BUF);
    AVBSFContext *bsf = NULL;
    struct frag_pkt *fp = calloc(FRAG_PKTS_MAX, sizeof(*fp));
    size_t n = 0;
    AVStream *st;
    int vi, ai, rc = 0;

    if (!ic || !iobuf || !fp) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    ic->pb = avio_alloc_context(iobuf, IO_BUF, 0, &rd, mem_read, NULL, NULL);
    if (!ic->pb) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    iobuf = NULL; /* the AVIOContext's now */
    ic->flags |= AVFMT_FLAG_CUSTOM_IO;
    if (avformat_open_input(&ic, NULL, av_find_input_format("mp4"), NULL) < 0) {
        rc = cv_errf(err, CV_EMEDIA, "camera '%s': a fragment cannot be read as MP4",
                     m->cam.id);
        goto out;
    }
    vi = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (vi < 0) {
        rc = cv_errf(err, CV_EMEDIA, "camera '%s': no video track", m->cam.id);
        goto out;
    }
    st = ic->streams[vi];
    if (st->codecpar->codec_id != AV_CODEC_ID_H264 && st->codecpar->codec_id != AV_CODEC_ID_HEVC) {
        rc = cv_errf(err, CV_EMEDIA, "camera '%s': %s is not carried in PS (H.264 and H.265 "
                     "are)", m->cam.id, avcodec_get_name(st->codecpar->codec_id));
        goto out;
    }
    ai = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (ai >= 0 && ic->streams[ai]->codecpar->codec_id != AV_CODEC_ID_PCM_ALAW &&
        ic->streams[ai]->codecpar->codec_id != AV_CODEC_ID_PCM_MULAW)
        ai = -1; /* AAC and the rest would need transcoding to G.711: left out */
    m->ps.video = st->codecpar->codec_id == AV_CODEC_ID_HEVC ? GB_PS_H265 : GB_PS_H264;
    m->ps.g711 = ai >= 0;
    if (av_bsf_alloc(av_bsf_get_by_name(st->codecpar->codec_id == AV_CODEC_ID_HEVC
                                            ? "hevc_mp4toannexb" : "h264_mp4toannexb"),
                     &bsf) < 0 ||
        avcodec_parameters_copy(bsf->par_in, st->codecpar) < 0 || av_bsf_init(bsf) < 0) {
        rc = cv_errf(err, CV_EMEDIA, "camera '%s': cannot set up mp4toannexb", m->cam.id);
        goto out;
    }
    bsf->time_base_in = st->time_base;
    rc = collect(m, ic, vi, ai, frag_wall, fp, &n, err);
    if (rc == 0)
        rc = send_packets(m, bsf, fp, n, err);
out:
    for (size_t i = 0; fp && i < n; i++)
        av_packet_free(&fp[i].pkt);
    free(fp);
    av_bsf_free(&bsf);
    if (ic && ic->pb) {
        av_freep(&ic->pb->buffer);
        avio_context_free(&ic->pb);
    }
    avformat_close_input(&ic);
    av_free(iobuf);
    return rc;
}

/* ---- walking segment files ---- */

struct segfile {
    char path[PATH_MAX];
    int fd;
    struct lay_seg_info info;
    uint8_t *head; /* header boxes: [0, first fragment's offset) */
    size_t head_len;
};

static void segfile_close(struct segfile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    lay_seg_info_release(&f->info);
    memset(&f->info, 0, sizeof(f->info));
    free(f->head);
    f->head = NULL;
    f->path[0] = 0;
}

/* (Re)scan the file, opening it first when `rel` is a new one. */
static int segfile_scan(struct gb_media *m, struct segfile *f, const char *rel,
                        struct cv_err *err)
{
    char path[PATH_MAX];

    cv_path_join(path, sizeof(path), m->a->root, rel, NULL);
    if (strcmp(path, f->path) != 0) {
        segfile_close(f);
        f->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0)
            return cv_errf(err, CV_EIO, "cannot open '%s': %s", path, strerror(errno));
        cv_strlcpy(f->path, path, sizeof(f->path));
    }
    lay_seg_info_release(&f->info);
    memset(&f->info, 0, sizeof(f->info));
    if (lay_seg_scan(f->fd, &f->info, err) < 0)
        return CV_ECORRUPT;
    if (!f->head && f->info.nfrags) {
        f->head_len = f->info.frags[0].offset;
        if (f->head_len > FRAG_MAX || !(f->head = malloc(f->head_len ? f->head_len : 1)))
            return cv_errf(err, CV_ELIMIT, "'%s': header too large", path);
        if (cv_pread_all(f->fd, f->head, f->head_len, 0, err) < 0)
            return CV_EIO;
    }
    return 0;
}

/* Read fragment i of f and send it. */
static int segfile_send(struct gb_media *m, struct segfile *f, size_t i, struct cv_err *err)
{
    const struct lay_seg_frag *fr = &f->info.frags[i];
    uint8_t *buf;
    int64_t wall = fr->wall_us != INT64_MIN ? fr->wall_us : fr->recv_us;
    int rc;

    if (fr->size > FRAG_MAX)
        return cv_errf(err, CV_ELIMIT, "'%s': a fragment of %llu bytes", f->path,
                       (unsigned long long)fr->size);
    buf = malloc(f->head_len + fr->size);
    if (!buf)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    memcpy(buf, f->head, f->head_len);
    rc = cv_pread_all(f->fd, buf + f->head_len, fr->size, (off_t)fr->offset, err);
    if (rc == 0)
        rc = send_fragment(m, buf, f->head_len + fr->size, wall, err);
    free(buf);
    return rc;
}

/* The camera's open segment's path (relative), or CV_ENOENT. */
static int open_segment_path(struct gb_media *m, char *rel, size_t n)
{
    struct idx_txn *t = NULL;
    struct idx_segment seg;
    int rc = idx_begin(m->a->idx, false, &t, NULL);

    if (rc == 0)
        rc = idx_open_segment(t, m->a->root, m->cam.num, &seg, NULL, NULL, NULL);
    idx_abort(t);
    if (rc == 0)
        cv_strlcpy(rel, seg.path, n);
    return rc;
}

static bool nap(struct gb_media *m, long ms)
{
    struct timespec d = {0, ms * 1000 * 1000};

    nanosleep(&d, NULL);
    return !atomic_load(&m->stop);
}

static int run_live(struct gb_media *m, struct cv_err *err)
{
    struct segfile f = {.fd = -1};
    char rel[LAY_RELPATH_MAX] = "", cur[LAY_RELPATH_MAX] = "";
    size_t next = 0;
    bool first = true, moved = false; /* moved: the recorder writes another file now */
    int64_t look = 0;                 /* when to look for that next (once a second) */
    int rc = 0;

    while (rc == 0 && !atomic_load(&m->stop)) {
        size_t complete;
        bool done = f.info.closed || moved; /* no fragment will be added to this file */
        if (!cur[0] || (done && next >= f.info.nfrags)) {
            if (open_segment_path(m, rel, sizeof(rel)) < 0 || strcmp(rel, cur) == 0) {
                nap(m, 100);
                continue;
            }
            cv_strlcpy(cur, rel, sizeof(cur));
            next = 0;
            moved = false;
        }
        if (segfile_scan(m, &f, cur, err) < 0) {
            rc = CV_EIO;
            break;
        }
        /* the last fragment of an open file may still grow: complete once another follows */
        done = f.info.closed || moved;
        complete = done ? f.info.nfrags : f.info.nfrags ? f.info.nfrags - 1 : 0;
        if (first && complete) {
            next = complete - 1; /* live: the newest complete GOP */
            first = false;
        }
        if (next < complete) {
            rc = segfile_send(m, &f, next++, err);
        } else if (!done && cv_mono_us() >= look &&
                   (look = cv_mono_us() + CV_US_PER_S,
                    open_segment_path(m, rel, sizeof(rel)) == 0 && strcmp(rel, cur) != 0)) {
            moved = true; /* closed without its mfra (a recorder restart): take it as it is */
        } else {
            nap(m, 50);
        }
    }
    segfile_close(&f);
    return rc;
}

struct seglist {
    char (*path)[LAY_RELPATH_MAX];
    size_t n, cap;
};

static int list_seg(void *ctx, const struct idx_segment *s)
{
    struct seglist *l = ctx;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *p = realloc(l->path, cap * sizeof(*l->path));
        if (!p)
            return 1;
        l->path = p;
        l->cap = cap;
    }
    cv_strlcpy(l->path[l->n++], s->path, LAY_RELPATH_MAX);
    return 0;
}

static int run_playback(struct gb_media *m, struct cv_err *err)
{
    struct seglist l = {0};
    struct segfile f = {.fd = -1};
    struct idx_txn *t = NULL;
    int rc = idx_begin(m->a->idx, false, &t, err);

    if (rc == 0)
        rc = idx_segment_iter(t, m->cam.num, m->from_us, m->to_us, list_seg, &l, err);
    idx_abort(t);
    for (size_t s = 0; rc == 0 && s < l.n && !atomic_load(&m->ended); s++) {
        rc = segfile_scan(m, &f, l.path[s], err);
        for (size_t i = 0; rc == 0 && i < f.info.nfrags && !atomic_load(&m->ended); i++) {
            int64_t end = i + 1 < f.info.nfrags ? f.info.frags[i + 1].wall_us : f.info.end_us;
            if (end <= m->from_us)
                continue;
            rc = segfile_send(m, &f, i, err);
        }
    }
    segfile_close(&f);
    free(l.path);
    return rc;
}

/* The platform is told a playback has ended (GB/T 28181-2016 9.8.5: NotifyType 121). */
static void media_status(struct gb_media *m)
{
    char body[512], ch[GB_ID_LEN + 1];
    int n;

    gb_channel_id(&m->a->cfg, &m->cam, ch);
    n = snprintf(body, sizeof(body),
                 "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify>\r\n"
                 "<CmdType>MediaStatus</CmdType>\r\n<SN>%u</SN>\r\n<DeviceID>%s</DeviceID>\r\n"
                 "<NotifyType>121</NotifyType>\r\n</Notify>\r\n",
                 (unsigned)(cv_mono_us() & 0x7fffffff), ch);
    gb_send_message(m->a, body, (size_t)n);
}

/* RTP over TCP: connect to the platform, or accept its connection (10 s at most). */
static int tcp_setup(struct gb_media *m, struct cv_err *err)
{
    struct timeval tv = {5, 0};
    char ip[INET_ADDRSTRLEN];

    inet_ntop(AF_INET, &m->ps.dest.sin_addr, ip, sizeof(ip));
    setsockopt(m->ps.sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* connect's too */
    if (m->mode == GB_RTP_TCP_CONNECT) {
        if (connect(m->ps.sock, (const struct sockaddr *)&m->ps.dest, sizeof(m->ps.dest)) < 0)
            return cv_errf(err, CV_ENET, "cannot connect to %s:%u for RTP over TCP: %s", ip,
                           (unsigned)ntohs(m->ps.dest.sin_port), strerror(errno));
        return 0;
    }
    for (int i = 0; i < 100; i++) {
        struct pollfd pfd = {m->ps.sock, POLLIN, 0};
        int c;
        if (atomic_load(&m->stop))
            return CV_ECANCELED;
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        c = accept4(m->ps.sock, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        close(m->ps.sock);
        m->ps.sock = c;
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        return 0;
    }
    return cv_errf(err, CV_ETIMEDOUT, "the platform did not connect for RTP over TCP in 10 s");
}

static void *media_main(void *arg)
{
    struct gb_media *m = arg;
    struct cv_err err = {""};
    int rc = m->mode == GB_RTP_UDP ? 0 : tcp_setup(m, &err);

    if (rc == 0)
        rc = m->to_us ? run_playback(m, &err) : run_live(m, &err);

    if (rc < 0 && rc != CV_ECANCELED)
        cv_warn("gb: stream of camera '%s' to %s ended: %s", m->cam.id, m->who, err.msg);
    cv_info("gb: stream of camera '%s' to %s: %llu frames, %llu RTP packets", m->cam.id, m->who,
            (unsigned long long)m->ps.frames, (unsigned long long)m->ps.packets);
    if (m->to_us && !atomic_load(&m->stop))
        media_status(m);
    atomic_store(&m->ended, true);
    return NULL;
}

int gb_media_start(struct gb_media **out, struct gb_agent *a, const struct idx_camera *cam,
                   int sock, enum gb_rtp_mode mode, const struct sockaddr_in *dest, uint32_t ssrc,
                   int64_t from_us, int64_t to_us, int speed, struct cv_err *err)
{
    struct gb_media *m = calloc(1, sizeof(*m));

    *out = NULL;
    if (!m)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    m->a = a;
    m->cam = *cam;
    m->from_us = from_us;
    m->to_us = to_us;
    cv_strlcpy(m->who, a->cfg.up_id, sizeof(m->who));
    m->mode = mode;
    atomic_store(&m->scale_milli, speed * 1000);
    gb_ps_init(&m->ps, sock, dest, ssrc, GB_PS_H264, false);
    m->ps.tcp = mode != GB_RTP_UDP;
    if (pthread_create(&m->thread, NULL, media_main, m) != 0) {
        gb_ps_release(&m->ps);
        free(m);
        return cv_errf(err, CV_ENOMEM, "gb: cannot start a media thread");
    }
    *out = m;
    return 0;
}

bool gb_media_ended(struct gb_media *m)
{
    return atomic_load(&m->ended);
}

void gb_media_stop(struct gb_media *m)
{
    if (!m)
        return;
    atomic_store(&m->stop, 1);
    pthread_join(m->thread, NULL);
    close(m->ps.sock);
    gb_ps_release(&m->ps);
    free(m);
}
