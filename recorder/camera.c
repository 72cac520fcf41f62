/*
 * camera.c: one camera's ingest thread.
 *
 * Session: open the RTSP URL under a deadline, pick the H.264/H.265 video stream and the first
 * audio stream, then read packets until the stream fails or the recorder stops. The recorder's
 * own client (rtsp.c) does this for RTSP over TCP with the common codecs, at a fraction of the
 * cost; for what it does not do (UDP transport, rtsps://, other codecs, B-frames: it says so)
 * the camera switches to libavformat's RTSP input for as long as it runs. Every blocking
 * libavformat call runs under an interrupt callback with a deadline, so a silent or
 * garbage-talking server cannot hang the thread either way.
 *
 * Run: a stretch of continuous timestamps. It starts at a video keyframe; decode times inside a
 * run are relative to that keyframe and continue across the run's segments. A reconnect, a
 * timestamp jump or new codec parameters start a new run.
 *
 * Timestamps from libavformat are kept on each stream's own RTP clock through its RTCP
 * re-anchoring (clk.h, own_clock), so a server's late reports do not pull audio and video apart.
 * A due segment cut waits for the audio of the time before its keyframe (audio_behind).
 *
 * Wall clock: a frame's wall time is its media time plus an offset, the smallest (receive time
 * minus media time) seen in the run. Network and buffering only ever delay a packet, so the
 * minimum converges on the camera's capture clock plus the least delay, even when libavformat
 * hands over the packets it buffered while probing the stream in one burst. If a camera's clock
 * runs fast against ours the minimum would fall behind, so at each segment boundary the offset
 * is raised to the smallest value of the segment just closed when that is more than 20 ms later.
 * Segments of a run therefore abut to within that tolerance and times never wander.
 *
 * Each stream holds back one packet, so that a packet's duration is known (the next dts minus
 * its own) before it is written: sample durations in the files are exact and the end of a
 * segment is exactly the start of the next.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavutil/avutil.h>

#include "recorder/camera_int.h"
#include "recorder/rtsp.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/cvtime.h"
#include "common/log.h"
#include "common/url.h"
#include "storage-layout/seal.h"
#include "common/banned.h"

#define DRIFT_US 20000           /* re-anchor wall time past this much drift */
#define JUMP_US (5 * INT64_C(1000000)) /* a forward timestamp jump past this starts a new run */
#define STABLE_US (30 * INT64_C(1000000)) /* a session this long resets the backoff */
#define RATE_WINDOW_US (5 * INT64_C(1000000))
#define OPEN_GOP_CUT 3 /* an open-GOP stream without IDRs is cut at 3 x the segment length */

static int interrupt_cb(void *opaque)
{
    struct rec_cam *c = opaque;

    return *c->gstop || atomic_load(&c->retire) || cv_mono_us() > atomic_load(&c->deadline);
}

static bool stopping(struct rec_cam *c)
{
    return *c->gstop || atomic_load(&c->retire);
}

static void push_status(struct rec_cam *c, bool force)
{
    int64_t now = cv_mono_us();

    if (!force && now - c->last_status_push < c->rc->status_us / 2)
        return;
    struct idx_status st = c->st;
    char note[IDX_TEXT_MAX];
    struct cv_clock clk;

    cv_strlcpy(st.picture, rec_pic_state_name(rec_pic_cam_state(c->pic, &st.picture_since_us)),
               sizeof(st.picture));
    c->last_status_push = now;
    c->st.updated_us = cv_now_us();
    st.updated_us = c->st.updated_us;
    /* The retention thread's warnings for this camera ride along with its own reason. */
    rec_notes_get(c->notes, c->cfg.id, c->cfg.volume[0] ? c->cfg.volume : LAY_DEFAULT_VOLUME,
                  note, sizeof(note));
    if (note[0] && st.reason[0])
        snprintf(st.reason, sizeof(st.reason), "%s; %s", c->st.reason, note);
    else if (note[0])
        cv_strlcpy(st.reason, note, sizeof(st.reason));
    cv_clock_read(&clk); /* an unsynchronised clock shows in every camera's status */
    if (cv_clock_warning(&clk, note, sizeof(note))) {
        char r[IDX_TEXT_MAX];
        snprintf(r, sizeof(r), "%s%s%s", st.reason, st.reason[0] ? "; " : "", note);
        cv_strlcpy(st.reason, r, sizeof(st.reason));
    }
    if (c->st.not_durable) { /* a durability failure stays in the status until restart */
        char r[IDX_TEXT_MAX];
        snprintf(r, sizeof(r), "%s%s%llu segment(s) not durable, last: %s", st.reason,
                 st.reason[0] ? "; " : "", (unsigned long long)c->st.not_durable, c->durability);
        cv_strlcpy(st.reason, r, sizeof(st.reason));
    }
    st.frames_dropped = atomic_load(&c->dropped_queue);
    if (st.frames_dropped) { /* writing fell behind (loop.h): said in every status after */
        char r[IDX_TEXT_MAX];
        snprintf(r, sizeof(r), "%s%swriting fell behind: %llu frames dropped", st.reason,
                 st.reason[0] ? "; " : "", (unsigned long long)st.frames_dropped);
        cv_strlcpy(st.reason, r, sizeof(st.reason));
    }
    rec_sink_status(c->sink, c->cfg.num, &st);
}

static void set_offline(struct rec_cam *c, const char *reason)
{
    if (c->st.online || strcmp(c->st.reason, reason) != 0) {
        if (c->st.online)
            c->st.since_us = cv_now_us();
        c->st.online = false;
        c->st.bitrate_bps = 0;
        cv_strlcpy(c->st.reason, reason, sizeof(c->st.reason));
        cv_warn("camera '%s': offline: %s", c->cfg.id, reason);
        push_status(c, true);
    }
}

/* Turn a libavformat error into words a user can act on. */
static void describe_av_error(struct rec_cam *c, int averr, const char *doing, char *out, size_t n)
{
    /* libavformat's RTSP connect reports every failure, our interrupt included, as invalid
     * data; a passed deadline is the real cause. */
    if ((averr == AVERROR_EXIT || cv_mono_us() > atomic_load(&c->deadline)) && !stopping(c))
        snprintf(out, n, "%s %s: no valid RTSP answer within %lld s (server silent or talking "
                 "garbage)", doing, c->url_safe,
                 (long long)(c->rc->connect_timeout_us / CV_US_PER_S));
    else if (averr == AVERROR_INVALIDDATA)
        snprintf(out, n, "%s %s: the server's answer is not valid RTSP/RTP (%s)", doing,
                 c->url_safe, av_err2str(averr));
    else if (averr == AVERROR_EOF)
        snprintf(out, n, "%s %s: the server closed the stream", doing, c->url_safe);
    else
        snprintf(out, n, "%s %s: %s", doing, c->url_safe, av_err2str(averr));
}

static void session_release(struct session *s)
{
    for (int i = 0; i < 2; i++) {
        av_packet_free(&s->pend[i]);
        avcodec_parameters_free(&s->par[i]);
    }
    for (; s->aq_n > 0; s->aq_n--, s->aq_head = (s->aq_head + 1) % AQ_MAX)
        av_packet_free(&s->aq[s->aq_head]);
    for (; s->nhold > 0; s->nhold--)
        av_packet_free(&s->hold[s->nhold - 1]);
    for (; s->ncutq > 0; s->ncutq--)
        av_packet_free(&s->cutq[s->ncutq - 1]);
    avformat_close_input(&s->ic);
    if (s->src)
        s->srcops->close(s->src);
    s->src = NULL;
    rec_rtsp_close(s->rtsp);
    s->rtsp = NULL;
}

/*
 * What either input found, into the session: the video stream (parameters, time base, a frame's
 * duration) and the audio stream if it can be stored. `skipped` names an audio stream the input
 * did not deliver. Returns whether audio is kept.
 */
static int session_streams(struct rec_cam *c, struct session *s, const AVCodecParameters *vpar,
                           AVRational vtb, int64_t vdur, const AVCodecParameters *apar,
                           AVRational atb, const char *skipped, bool *audio, struct cv_err *err)
{
    bool mov = false;

    *audio = false;
    s->par[0] = avcodec_parameters_alloc();
    if (!s->par[0] || avcodec_parameters_copy(s->par[0], vpar) < 0)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    s->tb[0] = vtb;
    s->default_dur[0] = vdur > 0 ? vdur : 1;
    snprintf(s->vdesc, sizeof(s->vdesc), "%s %dx%d", avcodec_get_name(vpar->codec_id),
             vpar->width, vpar->height);
    cv_strlcpy(s->adesc, "none", sizeof(s->adesc));
    c->st.reason[0] = 0;
    if (apar && rec_seg_audio_storable(apar->codec_id, &mov)) {
        s->mov = mov;
        s->par[1] = avcodec_parameters_alloc();
        if (!s->par[1] || avcodec_parameters_copy(s->par[1], apar) < 0)
            return cv_errf(err, CV_ENOMEM, "out of memory");
        s->tb[1] = atb;
        snprintf(s->adesc, sizeof(s->adesc), "%s %dHz %dch", avcodec_get_name(apar->codec_id),
                 apar->sample_rate, apar->ch_layout.nb_channels);
        s->default_dur[1] = av_rescale_q(
            apar->codec_id == AV_CODEC_ID_AAC ? 1024 : 160,
            (AVRational){1, apar->sample_rate > 0 ? apar->sample_rate : 8000}, s->tb[1]);
        *audio = true;
        return 0;
    }
    if (apar)
        skipped = avcodec_get_name(apar->codec_id);
    if (skipped && skipped[0]) {
        /* Not silent: the status and the log say which audio is not kept, and why. */
        snprintf(c->st.reason, sizeof(c->st.reason),
                 "audio %s is not stored: no segment container here can carry it", skipped);
        cv_warn("camera '%s': %s", c->cfg.id, c->st.reason);
        snprintf(s->adesc, sizeof(s->adesc), "%s (not stored)", skipped);
    }
    return 0;
}

static bool own_stop(void *ctx)
{
    return stopping(ctx);
}

/* Open with the own client. CV_ESTATE: it cannot record this stream (err says why). */
static int session_open_own(struct rec_cam *c, struct session *s, struct cv_err *err)
{
    bool tcp_refused = false;
    struct rec_rtsp_opts o = {c->cfg.url, c->url_safe, c->rc->connect_timeout_us,
                              c->rc->stall_timeout_us, own_stop, c, &tcp_refused};
    const struct rec_rtsp_media *m;
    bool audio;
    int rc;

    rc = rec_rtsp_open(&s->rtsp, &o, err);
    c->use_udp = tcp_refused; /* the caller goes on with libavformat, over UDP */
    if (rc < 0)
        return rc;
    m = rec_rtsp_media(s->rtsp);
    rc = session_streams(c, s, m->par[0], m->tb[0], m->frame_dur, m->par[1], m->tb[1],
                         m->audio_skipped, &audio, err);
    s->vi = 0;
    s->ai = audio ? 1 : -1;
    rec_dts_init(&s->dts, m->reorder, s->default_dur[0]);
    return rc;
}

/* Open with rec_config.source (a GB/T 28181 device), which delivers as the own client does. */
static int session_open_src(struct rec_cam *c, struct session *s, struct cv_err *err)
{
    struct rec_source_media m = {{NULL, NULL}, {1, 1}, {1, 1}, 0, ""};
    bool audio;
    int rc;

    s->srcops = c->rc->source;
    rc = s->srcops->open(s->srcops->ctx, &c->cfg, c->rc->connect_timeout_us,
                         c->rc->stall_timeout_us, own_stop, c, &s->src, &m, err);
    if (rc < 0)
        return rc;
    rc = session_streams(c, s, m.par[0], (AVRational){m.tb_num[0], m.tb_den[0]}, m.frame_dur,
                         m.par[1], (AVRational){m.tb_num[1], m.tb_den[1]}, m.audio_skipped,
                         &audio, err);
    s->vi = 0;
    s->ai = audio ? 1 : -1;
    rec_dts_init(&s->dts, 0, s->default_dur[0]);
    return rc;
}

/* libavformat's RTSP input on url, over UDP or TCP: avformat_open_input's result. */
static int open_input(struct rec_cam *c, struct session *s, const char *url, bool udp)
{
    AVDictionary *o = NULL;
    int64_t t = c->rc->stall_timeout_us, ct = c->rc->connect_timeout_us;
    char tmo[32];
    int r;

    s->ic = avformat_alloc_context();
    if (!s->ic)
        return AVERROR(ENOMEM);
    s->ic->interrupt_callback = (AVIOInterruptCB){interrupt_cb, c};
    av_dict_set(&o, "rtsp_transport", udp ? "udp" : "tcp", 0);
    /* The socket timeout is only a backstop: our own deadlines (interrupt_cb) end every wait
     * first and say which wait it was. */
    snprintf(tmo, sizeof(tmo), "%lld", (long long)(2 * (t > ct ? t : ct)));
    av_dict_set(&o, "timeout", tmo, 0);
    /* Probe briefly: what libavformat reads while probing reaches us later in one burst. */
    av_dict_set(&o, "analyzeduration", "1000000", 0);
    av_dict_set(&o, "probesize", "2000000", 0);
    av_dict_set(&o, "fpsprobesize", "3", 0);
    av_dict_set(&o, "max_delay", "500000", 0);
    av_dict_set(&o, "allowed_media_types", "video+audio", 0);
    av_dict_set(&o, "user_agent", "camvault", 0);
    atomic_store(&c->deadline, cv_mono_us() + c->rc->connect_timeout_us);
    r = avformat_open_input(&s->ic, url, NULL, &o);
    av_dict_free(&o);
    return r;
}

static int session_open_libav(struct rec_cam *c, struct session *s, struct cv_err *err)
{
    struct cv_url u;
    struct cv_err uerr = {""};
    char why[CV_ERR_MAX], url[CV_URL_MAX + 512];
    AVStream *vs;
    AVRational fr;
    bool audio;
    int r, rc;

    /* libavformat splits at the first '/' after "//" (av_url_split) and percent-decodes the
     * user and password itself (ff_http_auth_create_response): hand it the URL written back
     * with both percent-encoded, so a raw '/', '#' or '@' in a password reaches the camera. */
    if (cv_url_parse(c->cfg.url, &u, &uerr) < 0 ||
        cv_url_format(&u, true, url, sizeof(url)) < 0)
        return cv_errf(err, CV_EINVAL, "camera URL %s: %s", c->url_safe,
                       uerr.msg[0] ? uerr.msg : "too long");
    r = open_input(c, s, url, c->cfg.transport == IDX_TRANSPORT_UDP || c->use_udp);
    if (r == AVERROR(EPROTONOSUPPORT) && !c->use_udp && c->cfg.transport != IDX_TRANSPORT_UDP) {
        /* SETUP over TCP answered 461 (VLC before its SDP has video): over UDP at once */
        cv_info("camera '%s': %s answers SETUP over TCP with 461; recording it over UDP",
                c->cfg.id, c->url_safe);
        c->use_udp = true;
        r = open_input(c, s, url, true);
    }
    explicit_bzero(url, sizeof(url));
    explicit_bzero(&u, sizeof(u));
    if (r < 0) {
        describe_av_error(c, r, "cannot connect to", why, sizeof(why));
        return cv_errf(err, CV_ENET, "%s", why);
    }
    atomic_store(&c->deadline, cv_mono_us() + c->rc->connect_timeout_us);
    r = avformat_find_stream_info(s->ic, NULL);
    if (r < 0) {
        describe_av_error(c, r, "cannot read the streams of", why, sizeof(why));
        return cv_errf(err, CV_EMEDIA, "%s", why);
    }
    for (unsigned i = 0; i < s->ic->nb_streams; i++) {
        AVCodecParameters *p = s->ic->streams[i]->codecpar;
        if (s->vi < 0 && (p->codec_id == AV_CODEC_ID_H264 || p->codec_id == AV_CODEC_ID_HEVC) &&
            p->width > 0 && p->height > 0)
            s->vi = (int)i;
        else if (s->ai < 0 && p->codec_type == AVMEDIA_TYPE_AUDIO)
            s->ai = (int)i;
    }
    if (s->vi < 0) {
        const char *found = "none";
        for (unsigned i = 0; i < s->ic->nb_streams; i++)
            if (s->ic->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO)
                found = avcodec_get_name(s->ic->streams[i]->codecpar->codec_id);
        if (strcmp(found, "mjpeg") == 0) /* segments (and browsers' players) take H.264/H.265 */
            return cv_errf(err, CV_EMEDIA, "%s sends MJPEG video, which camvault does not "
                           "record (H.264 or H.265 only): set the camera's stream to H.264 or H.265",
                           c->url_safe);
        return cv_errf(err, CV_EMEDIA, "%s has no H.264 or H.265 video stream (video: %s)",
                       c->url_safe, found);
    }
    vs = s->ic->streams[s->vi];
    fr = vs->avg_frame_rate;
    if (fr.num <= 0 || fr.den <= 0)
        fr = vs->r_frame_rate;
    if (fr.num <= 0 || fr.den <= 0 || av_q2d(fr) > 240)
        fr = (AVRational){25, 1};
    rc = session_streams(c, s, vs->codecpar, vs->time_base,
                         av_rescale_q(1, av_inv_q(fr), vs->time_base),
                         s->ai >= 0 ? s->ic->streams[s->ai]->codecpar : NULL,
                         s->ai >= 0 ? s->ic->streams[s->ai]->time_base : (AVRational){1, 1},
                         NULL, &audio, err);
    if (!audio)
        s->ai = -1;
    /* libavformat's guess of the reorder depth (has_b_frames), which its short probe often
     * leaves at 0: an H.264 profile with B-frames (not baseline) gets 2, which costs nothing
     * if there are none (decode times run two frames behind). rec_dts deepens it if needed. */
    {
        int depth = vs->codecpar->video_delay;
        if (depth == 0 && vs->codecpar->codec_id == AV_CODEC_ID_H264 &&
            vs->codecpar->profile != FF_PROFILE_H264_BASELINE &&
            vs->codecpar->profile != FF_PROFILE_H264_CONSTRAINED_BASELINE)
            depth = 2;
        rec_dts_init(&s->dts, depth, s->default_dur[0]);
        rec_clk_init(&s->clk[0], s->tb[0].den / s->tb[0].num, s->default_dur[0], depth);
        rec_clk_init(&s->clk[1], s->ai >= 0 ? s->tb[1].den / s->tb[1].num : 1, 0, 0);
    }
    for (unsigned i = 0; i < s->ic->nb_streams; i++)
        if ((int)i != s->vi && (int)i != s->ai)
            s->ic->streams[i]->discard = AVDISCARD_ALL;
    return rc;
}

static int session_open(struct rec_cam *c, struct session *s, struct cv_err *err)
{
    int rc;

    memset(s, 0, sizeof(*s));
    s->vi = s->ai = -1;
    if (c->rc->source &&
        strncmp(c->cfg.url, c->rc->source->scheme, strlen(c->rc->source->scheme)) == 0)
        return session_open_src(c, s, err);
    if (strncmp(c->cfg.url, "rtsp://", 7) != 0 && strncmp(c->cfg.url, "rtsps://", 8) != 0)
        return cv_errf(err, CV_EINVAL, "URL %s is not an rtsp:// URL", c->url_safe);
    if (!c->use_libav && c->cfg.transport != IDX_TRANSPORT_UDP &&
        strncmp(c->cfg.url, "rtsp://", 7) == 0) {
        rc = session_open_own(c, s, err);
        if (rc != CV_ESTATE)
            return rc;
        cv_info("camera '%s': %s: %s; recording it with libavformat's RTSP input", c->cfg.id,
                c->url_safe, err->msg);
        c->use_libav = true;
        session_release(s);
        memset(s, 0, sizeof(*s));
        s->vi = s->ai = -1;
    }
    return session_open_libav(c, s, err);
}

static int64_t wall_of(const struct session *s, int64_t m)
{
    return m + s->off;
}

/* For the segment writer: the wall time of a run-relative video dts, asked at flush time. */
static int64_t seg_wall_of(void *ctx, int64_t video_dts)
{
    const struct session *s = ctx;

    return wall_of(s, av_rescale_q(video_dts + s->seg_base[0] + s->origin_ts[0], s->tb[0],
                                   AV_TIME_BASE_Q));
}

static void record_gap_before(struct rec_cam *c, int64_t start_wall)
{
    struct idx_gap g;

    if (c->last_end_us <= 0 || start_wall <= c->last_end_us)
        return;
    memset(&g, 0, sizeof(g));
    g.cam = c->cfg.num;
    g.start_us = c->last_end_us;
    g.end_us = start_wall;
    g.reason = c->gap_reason;
    cv_strlcpy(g.detail, c->gap_detail, sizeof(g.detail));
    rec_sink_gap(c->sink, &g);
}

static int open_segment(struct rec_cam *c, struct session *s, int64_t m, struct cv_err *err)
{
    struct rec_seg_params p;
    char rel[LAY_RELPATH_MAX], vol[LAY_ID_MAX + 1];
    int rc;

    memset(&p, 0, sizeof(p));
    p.root = c->root;
    rec_notes_pick_volume(c->notes, c->cfg.volume[0] ? c->cfg.volume : LAY_DEFAULT_VOLUME,
                          vol, sizeof(vol));
    p.volume = vol;
    p.camera = c->cfg.id;
    p.vpar = s->par[0];
    p.apar = s->ai >= 0 ? s->par[1] : NULL;
    p.vtb = s->tb[0];
    p.atb = s->tb[1];
    p.mov = s->mov;
    p.run_id = s->run_id;
    p.run_seq = s->seq;
    /*
     * A segment, of this run or a new one, continues the camera's timeline: if the clock
     * stepped back (or the last run's timestamps ran ahead of it), its fragments are timed
     * after what is recorded already, their receive times (fraginfo) show by how much, and the
     * index flags it (IDX_SEG_SHIFTED). Files of a camera are thus in recording order by their
     * times, which is how fsck --rebuild orders them.
     */
    p.min_wall_us = s->seg_floor > c->last_end_us ? s->seg_floor : c->last_end_us;
    p.start_wall_us = wall_of(s, m) < p.min_wall_us ? p.min_wall_us : wall_of(s, m);
    p.video_desc = s->vdesc;
    p.audio_desc = s->adesc;
    p.wall_of = seg_wall_of;
    p.wall_ctx = s;
    p.annexb = s->ic || s->src; /* libavformat's RTSP input; the own client gives lengths */
    p.chunk_us = c->rc->live_chunk_us;
    s->seg_base[0] = av_rescale_q(m, AV_TIME_BASE_Q, s->tb[0]) - s->origin_ts[0];
    /* audio's zero is where the video is first shown: its edit list starts at 0 */
    if (s->tb[1].den) {
        int64_t shown = m + av_rescale_q(s->open_cto, s->tb[0], AV_TIME_BASE_Q);
        s->seg_base[1] = av_rescale_q_rnd(shown, AV_TIME_BASE_Q, s->tb[1], AV_ROUND_DOWN) -
                         s->origin_ts[1];
    }
    p.video_start = s->open_cto;
    rc = rec_seg_open(&s->seg, &p, rel, err);
    if (rc < 0)
        return rc;
    rec_sink_pending(c->sink, c->cfg.num, rel);
    cv_strlcpy(s->seg_rel, rel, sizeof(s->seg_rel));
    s->seg_first_m = m;
    return 0;
}

static void close_segment(struct rec_cam *c, struct session *s)
{
    struct idx_segment rec;
    struct lay_seg_frag *frags = NULL;
    size_t nfrags = 0;
    struct cv_err err = {""};
    int rc;

    if (!s->seg)
        return;
    memset(&rec, 0, sizeof(rec));
    rec.cam = c->cfg.num;
    rc = rec_seg_close(s->seg, &rec, &frags, &nfrags, &err);
    s->seg = NULL;
    if (rc < 0) {
        cv_warn("camera '%s': %s", c->cfg.id, err.msg);
        return;
    }
    rec.cam = c->cfg.num;
    if (s->gap_pending) {
        /* The run's first segment starts at its first frame's capture time, which the clock
         * estimate moves earlier than that frame's arrival as later frames come quicker: the
         * hole before it ends there, not at the arrival. */
        record_gap_before(c, rec.start_us);
        s->gap_pending = false;
    }
    if (rec.flags & IDX_SEG_NOT_DURABLE) { /* kept and indexed; segwriter logged it */
        c->st.not_durable++;
        cv_strlcpy(c->durability, err.msg, sizeof(c->durability));
        push_status(c, true);
    }
    c->last_end_us = rec.end_us;
    s->seg_floor = rec.end_us;
    c->st.segments++;
    cv_debug("camera '%s': segment %s closed (%u frames, %llu bytes)", c->cfg.id, rec.path,
             rec.frames, (unsigned long long)rec.bytes);
    rec_sink_segment(c->sink, c->cfg.id, &rec, frags, nfrags);
}

static int64_t rel_us(const struct session *s, int i, int64_t ts)
{
    return av_rescale_q(ts, s->tb[i], AV_TIME_BASE_Q);
}

/*
 * Write a run-relative packet into the open segment, with decode times relative to the
 * segment's start: so each segment plays by itself from 0 for its own duration (ffprobe, mpv,
 * browsers read the run-relative times as a segment starting late and lasting from 0). Readers
 * that join a run's segments place each by its wall time (clip.c) or add the times back
 * (live.mp4). Audio's zero is the segment's presentation start (its first keyframe's pts):
 * cut_audio puts the audio before it in the segment before.
 */
static int seg_write(struct session *s, AVPacket *p, int64_t recv, struct cv_err *err)
{
    int i = p->stream_index;
    int64_t base = s->seg_base[i];
    int rc;

    if (!s->seg)
        return 0;
    if (p->dts < base && i == 1)
        return 0; /* audio before the first frame shown (at a run's start: less than a frame) */
    if (p->dts < base)
        base = p->dts; /* never before the segment's start (a rounding tick) */
    p->dts -= base;
    p->pts -= base;
    rc = rec_seg_write(s->seg, p, recv, err);
    p->dts += base;
    p->pts += base;
    return rc;
}

/* Write the waiting audio that starts before `until` (run-relative µs), oldest first. */
static int drain_audio(struct session *s, int64_t until, struct cv_err *err)
{
    while (s->aq_n > 0) {
        AVPacket **p = &s->aq[s->aq_head];
        int rc = 0;
        if (rel_us(s, 1, (*p)->dts) >= until)
            break;
        rc = seg_write(s, *p, s->aq_recv[s->aq_head], err);
        av_packet_free(p);
        s->aq_head = (s->aq_head + 1) % AQ_MAX;
        s->aq_n--;
        if (rc < 0)
            return rc;
    }
    return 0;
}

/*
 * Write a held-back packet whose duration is now known. Cameras encode video slower than
 * audio, so audio arrives ahead of the video of the same instant; written as it came, the audio
 * of the seconds before a segment boundary would end up in the segment before it (the tail of
 * a segment longer in audio than in video, by the encoder's latency). So audio that starts
 * after the end of the video written so far waits, and goes out as the video reaches it: a
 * segment holds the audio of its own time span.
 */
static int write_pending(struct rec_cam *c, struct session *s, int i, int64_t dur,
                         struct cv_err *err)
{
    AVPacket *p = s->pend[i];
    int rc = 0;

    if (!p)
        return 0;
    p->duration = dur > 0 ? dur : s->last_dur[i] > 0 ? s->last_dur[i] : s->default_dur[i];
    s->last_dur[i] = p->duration;
    if (i == 0) {
        rc = seg_write(s, p, s->pend_recv[0], err);
        s->vfront = rel_us(s, 0, p->dts + p->duration);
        av_packet_free(&s->pend[0]);
        return rc < 0 ? rc : drain_audio(s, s->vfront, err);
    }
    if (s->aq_n == 0 && rel_us(s, 1, p->dts) < s->vfront) {
        rc = seg_write(s, p, s->pend_recv[1], err);
        av_packet_free(&s->pend[1]);
        return rc;
    }
    if (s->aq_n == AQ_MAX) { /* the video is stuck: do not hold audio forever */
        rc = drain_audio(s, rel_us(s, 1, s->aq[s->aq_head]->dts) + 1, err);
        if (rc < 0)
            return rc;
    }
    s->aq[(s->aq_head + s->aq_n) % AQ_MAX] = p;
    s->aq_recv[(s->aq_head + s->aq_n) % AQ_MAX] = s->pend_recv[1];
    s->aq_n++;
    s->pend[1] = NULL;
    return (void)c, 0;
}

/*
 * At a segment cut: the audio up to the next keyframe's presentation time `until` (run µs) is
 * this segment's, the held-back packet too (its duration taken as the one before), so the
 * next segment's audio starts where its video is first shown.
 */
static int cut_audio(struct rec_cam *c, struct session *s, int64_t until, struct cv_err *err)
{
    int rc = 0;

    if (s->pend[1] && rel_us(s, 1, s->pend[1]->dts) < until) {
        rc = write_pending(c, s, 1, 0, err);
        if (rc < 0)
            return rc;
    }
    return drain_audio(s, until, err);
}

static int video_write(struct rec_cam *c, struct session *s, AVPacket *pkt, int64_t recv,
                       struct cv_err *err);

/*
 * A cut waits for the audio. Servers send video ahead of its time (B-frames: a keyframe goes out
 * before the frames shown ahead of it, VLC by about 80 ms) or audio late; cut at once, the audio
 * of the time before the keyframe that is still to come would start the next segment before its
 * video, where it is dropped (a segment's audio ends that much early). So a due cut's keyframe
 * and the video after it are held (up to CUTQ_MAX frames: stalled audio holds nothing for long)
 * until the audio reaches the keyframe's presentation time, then replayed. Only for B-frame
 * video (a reorder depth): a stream without is not sent ahead, and holding it behind audio that
 * a loaded camera delivers late cost a 3-s segment 1.2 s of its audio (test_21 h265-pcmu, and
 * test_20's gst H.265 camera, in a full run at load 11).
 */
static bool audio_behind(const struct session *s, const AVPacket *key)
{
    return !s->cut_now && s->dts.depth > 0 && s->ai >= 0 && s->pend[1] &&
           rel_us(s, 1, s->pend[1]->dts + s->default_dur[1]) <
               rel_us(s, 0, key->pts - s->origin_ts[0]);
}

static int cutq_flush(struct rec_cam *c, struct session *s, struct cv_err *err)
{
    int rc = 0, n = s->ncutq;

    s->ncutq = 0;
    s->cut_now = true;
    for (int i = 0; i < n; i++) {
        if (rc == 0)
            rc = video_write(c, s, s->cutq[i], s->cutq_recv[i], err);
        av_packet_free(&s->cutq[i]);
    }
    s->cut_now = false;
    return rc;
}

static int cutq_add(struct rec_cam *c, struct session *s, AVPacket *pkt, int64_t recv,
                    struct cv_err *err)
{
    s->cutq[s->ncutq] = av_packet_clone(pkt);
    if (!s->cutq[s->ncutq])
        return cv_errf(err, CV_ENOMEM, "out of memory");
    s->cutq_recv[s->ncutq++] = recv;
    return s->ncutq == CUTQ_MAX ? cutq_flush(c, s, err) : 0;
}

static void end_run(struct rec_cam *c, struct session *s)
{
    struct cv_err err = {""};

    if (!s->active)
        return;
    if (cutq_flush(c, s, &err) < 0 || write_pending(c, s, 0, 0, &err) < 0 || write_pending(c, s, 1, 0, &err) < 0 ||
        drain_audio(s, INT64_MAX, &err) < 0)
        cv_warn("camera '%s': %s", c->cfg.id, err.msg);
    s->vfront = 0;
    close_segment(c, s);
    s->active = false;
}

static int start_run(struct rec_cam *c, struct session *s, int64_t m, int64_t recv,
                     struct cv_err *err)
{
    s->active = true;
    s->run_id = (uint64_t)recv;
    s->seq = 0;
    s->off = recv - m;
    s->win_min = recv - m;
    s->seg_floor = 0;
    for (int i = 0; i < 2; i++) {
        s->origin_ts[i] = s->tb[i].den ? av_rescale_q(m, AV_TIME_BASE_Q, s->tb[i]) : 0;
        s->last_dur[i] = 0;
    }
    s->gap_pending = true; /* noted when the first segment closes: it ends at its start */
    return open_segment(c, s, m, err);
}

/* Target length of the segment now open. */
static int64_t target_us(struct rec_cam *c, struct session *s)
{
    int64_t t = c->rc->segment_us;

    if (s->seq == 0 && c->st.segments == 0)
        t -= c->stagger_us;
    return t;
}

/* Seal hook (storage-layout/seal.h): an exporter asked for this segment to end at this
 * keyframe, so that footage up to a moment ago can be signed. One open() per keyframe. */
static bool seal_requested(struct rec_cam *c, struct session *s, int64_t m)
{
    if (m <= s->seg_first_m || !lay_seal_wanted(c->root, c->cfg.id, s->seg_rel))
        return false;
    cv_info("camera '%s': segment %s sealed early for an export", c->cfg.id, s->seg_rel);
    return true;
}

/*
 * A video packet's decode time, rebuilt from its presentation time (rec_dts): RTP carries only
 * presentation times, and what libavformat guesses from them goes back at B-frames and jitter.
 * Within a run a decode time that would not increase is repaired, logged and counted in the
 * status; only a step of more than JUMP_US either way (an outage, a camera clock reset) starts a
 * new run. A run starts at a keyframe; the leading pictures of an open GOP that follow it (shown
 * before it, referring to frames before the run) are dropped. Returns false to drop the packet.
 */
static bool video_times(struct rec_cam *c, struct session *s, AVPacket *pkt)
{
    bool key = pkt->flags & AV_PKT_FLAG_KEY, repaired;
    int64_t pts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;

    if (s->active) {
        int64_t step = av_rescale_q(pts - s->dts.last_dts, s->tb[0], AV_TIME_BASE_Q);
        if (step < -JUMP_US || step > JUMP_US) {
            cv_info("camera '%s': video timestamps %s by %lld ms; starting a new run",
                    c->cfg.id, step < 0 ? "went back" : "jumped", (long long)(step / 1000));
            c->gap_reason = IDX_GAP_OFFLINE;
            snprintf(c->gap_detail, sizeof(c->gap_detail), "video timestamps broke off");
            end_run(c, s);
        }
    }
    if (!s->active) {
        if (!key)
            return false; /* a run starts at a keyframe */
        rec_dts_reset(&s->dts);
        s->lead_pts = pts;
        s->first_gop = true;
    } else if (key) {
        s->first_gop = false;
    } else if (s->first_gop && pts < s->lead_pts) {
        return false;
    }
    pkt->dts = rec_dts_next(&s->dts, &pts, &repaired);
    pkt->pts = pts < pkt->dts ? pkt->dts : pts;
    if (repaired) {
        c->st.ts_repaired++;
        if ((c->st.ts_repaired & (c->st.ts_repaired - 1)) == 0) /* 1, 2, 4, 8, ...: not a flood */
            cv_info("camera '%s': a video timestamp went back; repaired (%llu so far)", c->cfg.id,
                    (unsigned long long)c->st.ts_repaired);
    }
    return true;
}

/*
 * Whether a segment may start at this keyframe and play by itself without a decode error: an
 * IDR picture (H.264 NAL type 5, H.265 19 or 20), or any keyframe of a stream without
 * reordering. With B-frames, a keyframe that is no IDR (H.264 recovery point, H.265 CRA) opens
 * an open GOP: the B-frames after it refer to the GOP before, which the new file would lack.
 * Such streams are cut at IDRs, or past OPEN_GOP_CUT times the segment length at any keyframe.
 */
static bool cut_clean(const struct session *s, const AVPacket *pkt)
{
    return s->dts.depth == 0 ||
           rec_au_has_idr(pkt->data, (size_t)pkt->size,
                          s->par[0]->codec_id == AV_CODEC_ID_HEVC, s->ic || s->src);
}

static int on_video(struct rec_cam *c, struct session *s, AVPacket *pkt, int64_t recv,
                    struct cv_err *err)
{
    if (!video_times(c, s, pkt))
        return 0;
    if (pkt->flags & AV_PKT_FLAG_KEY) /* a look at the picture when due: queued (picture.h) */
        rec_pic_cam_offer(c->pic, pkt, s->par[0], s->ic || s->src);
    return s->ncutq > 0 ? cutq_add(c, s, pkt, recv, err) : video_write(c, s, pkt, recv, err);
}

/* A video packet with its times rebuilt: start a run, cut a segment, write. */
static int video_write(struct rec_cam *c, struct session *s, AVPacket *pkt, int64_t recv,
                       struct cv_err *err)
{
    bool key = pkt->flags & AV_PKT_FLAG_KEY, clean = true;
    int64_t m;
    int rc;

    m = av_rescale_q(pkt->dts, s->tb[0], AV_TIME_BASE_Q);
    s->open_cto = pkt->pts - pkt->dts;
    if (!s->active) {
        if (!key)
            return 0; /* a run starts at a keyframe */
        rc = start_run(c, s, m, recv, err);
        if (rc < 0)
            return rc;
    } else {
        int64_t d = recv - m;
        if (d < s->off)
            s->off = d;
        if (d < s->win_min)
            s->win_min = d;
    }
    /* Cut when the segment is due, or early when an exporter asked for a seal (at a clean
     * keyframe then: the seal is worth one GOP's wait, not a broken first GOP). */
    if (s->active && key && s->seg &&
        ((m - s->seg_first_m >= target_us(c, s) &&
          ((clean = cut_clean(s, pkt)) || m - s->seg_first_m >= OPEN_GOP_CUT * target_us(c, s))) ||
         ((clean = cut_clean(s, pkt)) && seal_requested(c, s, m)))) {
        if (audio_behind(s, pkt))
            return cutq_add(c, s, pkt, recv, err);
        if (!clean) {
            /* The B-frames after this keyframe that are shown before it refer to the GOP
             * before: in the new file they could not be decoded. They are dropped. */
            s->first_gop = true;
            s->lead_pts = pkt->pts;
            cv_debug("camera '%s': open GOP without IDR: segment cut at a recovery point",
                     c->cfg.id);
        }
        if (s->pend[0]) {
            rc = write_pending(c, s, 0, pkt->dts - s->origin_ts[0] - s->pend[0]->dts, err);
            if (rc < 0)
                return rc;
        }
        rc = cut_audio(c, s, s->vfront + rel_us(s, 0, s->open_cto), err);
        if (rc < 0)
            return rc;
        close_segment(c, s);
        if (s->win_min != INT64_MAX && s->win_min - s->off > DRIFT_US)
            s->off = s->win_min; /* the camera's clock runs fast against ours */
        s->win_min = INT64_MAX;
        s->seq++;
        rc = open_segment(c, s, m, err);
        if (rc < 0)
            return rc;
    }
    pkt->dts -= s->origin_ts[0];
    pkt->pts = pkt->pts == AV_NOPTS_VALUE ? pkt->dts : pkt->pts - s->origin_ts[0];
    pkt->stream_index = 0;
    if (s->pend[0]) {
        rc = write_pending(c, s, 0, pkt->dts - s->pend[0]->dts, err);
        if (rc < 0)
            return rc;
    }
    s->pend[0] = av_packet_clone(pkt);
    if (!s->pend[0])
        return cv_errf(err, CV_ENOMEM, "out of memory");
    s->pend_m[0] = m;
    s->pend_recv[0] = recv;
    return 0;
}

static int on_audio(struct rec_cam *c, struct session *s, AVPacket *pkt, int64_t recv,
                    struct cv_err *err)
{
    int64_t rel;
    int rc;

    if (!s->active)
        return 0;
    rel = pkt->dts - s->origin_ts[1];
    if (rel < 0)
        return 0; /* before the run's first keyframe */
    if (s->pend[1] && rel <= s->pend[1]->dts)
        return 0; /* out of order: keep the stream monotonic */
    pkt->pts = pkt->pts == AV_NOPTS_VALUE ? rel : pkt->pts - s->origin_ts[1];
    pkt->dts = rel;
    pkt->stream_index = 1;
    if (s->pend[1]) {
        rc = write_pending(c, s, 1, rel - s->pend[1]->dts, err);
        if (rc < 0)
            return rc;
    }
    s->pend[1] = av_packet_clone(pkt);
    if (!s->pend[1])
        return cv_errf(err, CV_ENOMEM, "out of memory");
    s->pend_m[1] = av_rescale_q(pkt->dts, s->tb[1], AV_TIME_BASE_Q);
    s->pend_recv[1] = recv;
    return s->ncutq > 0 && !audio_behind(s, s->cutq[0]) ? cutq_flush(c, s, err) : 0;
}

static void account(struct rec_cam *c, const AVPacket *pkt, int64_t recv, bool video)
{
    int64_t now = cv_mono_us();

    c->rate_bytes += (uint64_t)pkt->size;
    if (video) {
        c->st.frames++;
        c->st.last_frame_us = recv;
    }
    if (now - c->rate_t0 >= RATE_WINDOW_US) {
        c->st.bitrate_bps = c->rate_bytes * 8 * CV_US_PER_S / (uint64_t)(now - c->rate_t0);
        c->rate_bytes = 0;
        c->rate_t0 = now;
    }
    push_status(c, false);
}

/* A libavformat packet's times on its own stream's clock, not RTCP's (clk.h); steps counted. */
static void own_clock(struct rec_cam *c, struct session *s, AVPacket *pkt)
{
    int i = pkt->stream_index == s->vi ? 0 : 1;
    int64_t dur = i == 0 ? 0 : pkt->duration > 0 ? pkt->duration : s->par[1]->frame_size, t;
    bool stepped, re;
    if (pkt->pts == AV_NOPTS_VALUE || (i == 1 && pkt->stream_index != s->ai))
        return;
    t = rec_clk_next(&s->clk[i], pkt->pts, dur, pkt->flags & AV_PKT_FLAG_KEY, cv_mono_us(),
                     &stepped, &re);
    pkt->dts += t - pkt->pts;
    pkt->pts = t;
    c->st.ts_repaired += stepped;
    if (re || (stepped && (c->st.ts_repaired & (c->st.ts_repaired - 1)) == 0)) /* 1, 2, 4, .. */
        cv_info("camera '%s': %s timestamps %s (%llu repaired so far)", c->cfg.id,
                i ? "audio" : "video", re ? "leave their grid too often: following RTCP's" :
                "stepped at an RTCP report: kept on their own clock",
                (unsigned long long)c->st.ts_repaired);
}

/*
 * libavformat's RTSP input gives the very first frame (a keyframe) no timestamp. Rather than
 * lose a whole GOP it is held, with the video frames after it, until twice the reorder depth
 * + 2 of them have come (a B-frame stream's first two P-frames and their B-frames, untangled:
 * rec_dts_untangle):
 * the earliest of their presentation times, less a frame, is its own. Then all go to on_video
 * in order. Takes a reference to pkt.
 */
static int hold_untimed(struct rec_cam *c, struct session *s, AVPacket *pkt, int64_t recv,
                        struct cv_err *err)
{
    int64_t first = INT64_MAX, held[REC_DTS_DEPTH_MAX + 2];
    int rc = 0;

    if (s->nhold == 0 && !(pkt->flags & AV_PKT_FLAG_KEY))
        return 0; /* untimed and not a keyframe: nothing a run could start with */
    if (s->nhold > 0 && pkt->pts == AV_NOPTS_VALUE)
        return 0; /* another untimed frame: cannot be placed */
    s->hold[s->nhold] = av_packet_clone(pkt);
    if (!s->hold[s->nhold])
        return cv_errf(err, CV_ENOMEM, "out of memory");
    s->hold_recv[s->nhold++] = recv;
    if (s->nhold < 2 * s->dts.depth + 3 && s->nhold < REC_DTS_DEPTH_MAX + 2)
        return 0;
    for (int i = 1; i < s->nhold; i++)
        held[i - 1] = s->hold[i]->pts;
    c->st.ts_repaired += (uint64_t)rec_dts_untangle(held, s->nhold - 1, s->default_dur[0]);
    for (int i = 1; i < s->nhold; i++) {
        s->hold[i]->pts = s->hold[i]->dts = held[i - 1];
        first = held[i - 1] < first ? held[i - 1] : first;
    }
    s->hold[0]->pts = s->hold[0]->dts = first - s->default_dur[0];
    for (int i = 0; i < s->nhold; i++) {
        account(c, s->hold[i], s->hold_recv[i], true);
        if (rc == 0)
            rc = on_video(c, s, s->hold[i], s->hold_recv[i], err);
        av_packet_free(&s->hold[i]);
    }
    s->nhold = 0;
    return rc;
}

int rec_cam_packet(struct rec_cam *c, struct session *s, AVPacket *pkt, int64_t recv,
                   bool after_drop, struct cv_err *err)
{
    if (after_drop) {
        c->gap_reason = IDX_GAP_DISK;
        cv_strlcpy(c->gap_detail, "writing fell behind: frames dropped", sizeof(c->gap_detail));
        end_run(c, s);
    }
    account(c, pkt, recv, pkt->stream_index == 0);
    return pkt->stream_index == 0 ? on_video(c, s, pkt, recv, err) : on_audio(c, s, pkt, recv, err);
}

/* Record until the stream fails or we stop. Returns how long it recorded (µs). */
static int64_t session_record(struct rec_cam *c, struct session *s, struct cv_err *err)
{
    AVPacket *pkt = av_packet_alloc();
    int64_t t0 = cv_mono_us();
    int rc = 0, r;

    if (!pkt) {
        cv_errf(err, CV_ENOMEM, "out of memory");
        return 0;
    }
    c->st.online = true;
    c->st.since_us = cv_now_us();
    cv_strlcpy(c->st.transport,
               s->src || (s->ic && (c->use_udp || c->cfg.transport == IDX_TRANSPORT_UDP)) ? "udp" : "tcp",
               sizeof(c->st.transport));
    snprintf(c->st.codec, sizeof(c->st.codec), "%s; audio %s", s->vdesc, s->adesc);
    c->rate_t0 = cv_mono_us();
    c->rate_bytes = 0;
    cv_info("camera '%s': recording %s (%s; audio %s)", c->cfg.id, c->url_safe, s->vdesc,
            s->adesc);
    push_status(c, true);
    while (!stopping(c)) {
        int64_t recv;
        if (s->rtsp || s->src) {
            rc = s->rtsp && c->loop ? rec_cam_loop(c, s, err) /* returns at the end */
                 : s->rtsp          ? rec_rtsp_read(s->rtsp, pkt, &recv, err)
                                    : s->srcops->read(s->src, pkt, &recv, err);
            if (rc == CV_ECANCELED) {
                rc = 0;
                break;
            }
            if (rc == CV_ESTATE) {
                cv_info("camera '%s': %s: %s; recording it with libavformat's RTSP input",
                        c->cfg.id, c->url_safe, err->msg);
                c->use_libav = true;
                s->fallback = true;
            }
            if (rc < 0)
                break;
            rc = rec_cam_packet(c, s, pkt, recv, false, err);
            av_packet_unref(pkt);
            if (rc < 0)
                break;
            continue;
        }
        atomic_store(&c->deadline, cv_mono_us() + c->rc->stall_timeout_us);
        r = av_read_frame(s->ic, pkt);
        if (r >= 0 && interrupt_cb(c)) {
            /* Our interrupt ended the read, and libavformat flushed its parser: this packet may
             * be a torn access unit (say only the delimiter of a frame whose slices never came),
             * which no decoder can read. The stream ends here, as it would have without it. */
            av_packet_unref(pkt);
            r = AVERROR_EXIT;
        }
        if (r < 0) {
            char why[CV_ERR_MAX];
            if (stopping(c))
                break;
            describe_av_error(c, r, "lost", why, sizeof(why));
            if (r == AVERROR_EXIT)
                snprintf(why, sizeof(why), "no data from %s for %lld s", c->url_safe,
                         (long long)(c->rc->stall_timeout_us / CV_US_PER_S));
            rc = cv_errf(err, CV_ENET, "%s", why);
            break;
        }
        recv = cv_now_us();
        if (pkt->pts == AV_NOPTS_VALUE)
            pkt->pts = pkt->dts;
        if (pkt->dts == AV_NOPTS_VALUE)
            pkt->dts = pkt->pts;
        own_clock(c, s, pkt);
        if (pkt->stream_index == s->vi && (s->nhold > 0 || (pkt->pts == AV_NOPTS_VALUE &&
                                                            !s->active))) {
            rc = hold_untimed(c, s, pkt, recv, err);
        } else if (pkt->dts != AV_NOPTS_VALUE &&
                   (pkt->stream_index == s->vi || pkt->stream_index == s->ai)) {
            bool video = pkt->stream_index == s->vi;
            account(c, pkt, recv, video);
            rc = video ? on_video(c, s, pkt, recv, err) : on_audio(c, s, pkt, recv, err);
        }
        av_packet_unref(pkt);
        if (rc < 0)
            break;
    }
    end_run(c, s);
    rec_pic_cam_stop(c->pic); /* no stream, no picture: "unknown" */
    if (s->rtsp) {
        struct rec_rtsp_stats rs;
        rec_rtsp_stats(s->rtsp, &rs);
        if (rs.lost_packets || rs.malformed || rs.oversize)
            cv_warn("camera '%s': %llu RTP packets lost, %llu malformed, %llu frames too large "
                    "(of %llu packets)", c->cfg.id, (unsigned long long)rs.lost_packets,
                    (unsigned long long)rs.malformed, (unsigned long long)rs.oversize,
                    (unsigned long long)rs.rtp_packets);
    }
    av_packet_free(&pkt);
    if (rc == 0 && !stopping(c))
        cv_errf(err, CV_ENET, "stream from %s ended", c->url_safe);
    return cv_mono_us() - t0;
}

/* Sleep up to `us`, waking early when the camera is retired or the recorder stops. */
static void nap(struct rec_cam *c, int64_t us)
{
    int64_t until = cv_mono_us() + us;

    while (!stopping(c) && cv_mono_us() < until) {
        struct timespec d = {0, 100 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
}

static void *cam_main(void *arg)
{
    struct rec_cam *c = arg;
    int64_t backoff = CV_US_PER_S;
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    while (!stopping(c)) {
        struct session s;
        struct cv_err err = {""};
        int64_t lasted = 0;

        if (session_open(c, &s, &err) == 0) {
            lasted = session_record(c, &s, &err);
            c->st.reconnects++;
        }
        session_release(&s);
        if (stopping(c))
            break;
        if (s.fallback)
            continue; /* at once, with libavformat: the camera is fine */
        set_offline(c, err.msg);
        /* The hole after this point is the camera's doing; say what happened first. */
        if (c->gap_reason != IDX_GAP_OFFLINE || lasted > 0) {
            c->gap_reason = IDX_GAP_OFFLINE;
            cv_strlcpy(c->gap_detail, err.msg, sizeof(c->gap_detail));
        }
        if (lasted >= STABLE_US)
            backoff = CV_US_PER_S;
        nap(c, backoff);
        backoff = backoff * 2 > c->rc->backoff_max_us ? c->rc->backoff_max_us : backoff * 2;
    }
    c->st.online = false;
    c->st.bitrate_bps = 0;
    cv_strlcpy(c->st.reason, *c->gstop ? "recorder stopped" : "camera disabled or changed",
               sizeof(c->st.reason));
    c->st.since_us = cv_now_us();
    push_status(c, true);
    atomic_store(&c->done, true);
    return NULL;
}

int rec_cam_start(struct rec_cam **out, const struct idx_camera *cam,
                  const struct rec_cam_params *p, struct cv_err *err)
{
    struct rec_cam *c = calloc(1, sizeof(*c));
    pthread_attr_t attr;
    uint32_t h = 2166136261u;
    int r;

    *out = NULL;
    if (!c)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    c->cfg = *cam;
    cv_strlcpy(c->root, p->root, sizeof(c->root));
    cv_url_redact(cam->url, c->url_safe, sizeof(c->url_safe));
    c->rc = p->cfg;
    c->sink = p->sink;
    c->notes = p->notes;
    c->pic = rec_pic_cam_new(p->pic, cam->id);
    c->gstop = p->stop;
    c->last_end_us = p->last_end_us;
    c->gap_reason = IDX_GAP_RECORDER_STOPPED;
    cv_strlcpy(c->gap_detail, p->resume_note ? p->resume_note : "recorder was not running",
               sizeof(c->gap_detail));
    for (const char *q = cam->id; *q; q++)
        h = (h ^ (uint8_t)*q) * 16777619u;
    c->stagger_us = (int64_t)(h % 1000) * (p->cfg->segment_us / 2) / 1000;
    c->st.since_us = cv_now_us();
    cv_strlcpy(c->st.reason, "connecting", sizeof(c->st.reason));
    atomic_init(&c->retire, false);
    atomic_init(&c->done, false);
    atomic_init(&c->deadline, INT64_MAX);
    atomic_init(&c->dropped_queue, 0);
    c->loop = p->loop;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    r = pthread_create(&c->thread, &attr, cam_main, c);
    pthread_attr_destroy(&attr);
    if (r) {
        rec_pic_cam_free(c->pic);
        free(c);
        return cv_errf(err, CV_ENOMEM, "camera '%s': cannot start its thread: %s", cam->id,
                       strerror(r));
    }
    *out = c;
    return 0;
}
