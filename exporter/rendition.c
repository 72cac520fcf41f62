/*
 * rendition.c: the H.264 rendition of stored footage (exp_rendition_run in rendition.h).
 *
 * One pass, in the order of FFmpeg's doc/examples/transcode.c: the mp4 demuxer reads the input
 * through a custom AVIOContext (the caller's callbacks), the video packets go to the decoder,
 * each decoded frame is scaled and sent to libx264, and the encoded packets go to the mp4
 * muxer writing a fragmented file through another custom AVIOContext, flushed after every
 * packet so that each fragment leaves as soon as it is complete. The encoder and the muxer
 * start with the first decoded frame (its size decides the output size).
 */
#include <stdbool.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "exporter/rendition.h"
#include "common/log.h"
#include "common/banned.h"

#define IO_BUF (64 * 1024)
#define DECODE_ERRORS_MAX 1000 /* damaged packets skipped before the stream is given up */

struct rend {
    const struct exp_rendition_io *io;
    struct cv_err *err;
    int cb_rc; /* the first callback error: it decides the result */
    int64_t pos;
    int max_height;
    AVFormatContext *ic, *oc;
    AVIOContext *ipb; /* the input's, freed here (custom I/O) */
    AVCodecContext *dec, *enc;
    struct SwsContext *sws;
    AVFrame *frame, *scaled;
    AVPacket *pkt, *opkt;
    int vi;
    AVRational in_tb;
    int64_t first_pts, last_pts;
    /* The live input is a run's segment files one after another, each with times from 0: where
     * the input's times go back, the output's go on by `shift` (in_tb). */
    int64_t last_in, step, shift;
    unsigned decode_errors;
    struct exp_rendition_stats st;
};

/* The io callbacks' one failure rule: a failed call's code (rc < 0) is kept for av_fail, and
 * every call after it fails at once without touching the io. True when rc is a failure. */
static bool io_failed(struct rend *r, int rc)
{
    if (rc < 0)
        r->cb_rc = rc;
    return rc < 0;
}

static int in_read(void *opaque, uint8_t *buf, int size)
{
    struct rend *r = opaque;
    int n = r->cb_rc < 0 ? r->cb_rc : r->io->read(r->io->ctx, buf, size, r->err);

    if (io_failed(r, n))
        return AVERROR_EXIT;
    r->pos += n;
    return n == 0 ? AVERROR_EOF : n;
}

static int64_t in_seek(void *opaque, int64_t off, int whence)
{
    struct rend *r = opaque;
    int rc;

    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE)
        return r->io->size;
    if (whence == SEEK_CUR)
        off += r->pos;
    else if (whence == SEEK_END)
        off += r->io->size;
    else if (whence != SEEK_SET)
        return AVERROR(EINVAL);
    if (off < 0 || off > r->io->size)
        return AVERROR(EINVAL);
    rc = r->io->seek(r->io->ctx, off, r->err);
    if (io_failed(r, rc))
        return AVERROR_EXIT;
    r->pos = off;
    return off;
}

static int out_write(void *opaque, uint8_t *buf, int size)
{
    struct rend *r = opaque;
    int rc = r->cb_rc < 0 ? r->cb_rc : r->io->write(r->io->ctx, buf, size, r->err);

    if (io_failed(r, rc))
        return AVERROR_EXIT;
    return size;
}

/* The code of a failed libav call: a callback's own error first, else CV_EMEDIA with `what`. */
static int av_fail(struct rend *r, int averr, const char *what)
{
    if (r->cb_rc < 0)
        return r->cb_rc;
    return cv_errf(r->err, CV_EMEDIA, "rendition: %s: %s", what, av_err2str(averr));
}

static int open_input(struct rend *r)
{
    uint8_t *buf = av_malloc(IO_BUF);
    const AVCodec *codec;
    AVStream *st;
    int a;

    if (!buf || !(r->ic = avformat_alloc_context())) {
        av_free(buf);
        return cv_errf(r->err, CV_ENOMEM, "out of memory");
    }
    r->ipb = avio_alloc_context(buf, IO_BUF, 0, r, in_read, NULL, r->io->seek ? in_seek : NULL);
    r->ic->pb = r->ipb;
    if (!r->ipb) {
        av_free(buf);
        return cv_errf(r->err, CV_ENOMEM, "out of memory");
    }
    r->ic->flags |= AVFMT_FLAG_CUSTOM_IO;
    a = avformat_open_input(&r->ic, NULL, av_find_input_format("mp4"), NULL);
    if (a < 0)
        return av_fail(r, a, "cannot read the input as MP4");
    r->vi = av_find_best_stream(r->ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (r->vi < 0)
        return cv_errf(r->err, CV_EMEDIA, "rendition: the input has no video track");
    st = r->ic->streams[r->vi];
    r->in_tb = st->time_base;
    codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec)
        return cv_errf(r->err, CV_EMEDIA, "rendition: no decoder for %s",
                       avcodec_get_name(st->codecpar->codec_id));
    if (!(r->dec = avcodec_alloc_context3(codec)))
        return cv_errf(r->err, CV_ENOMEM, "out of memory");
    a = avcodec_parameters_to_context(r->dec, st->codecpar);
    if (a < 0)
        return av_fail(r, a, "bad codec parameters");
    r->dec->pkt_timebase = st->time_base;
    r->dec->thread_count = 1; /* one core per session at most (rendition_sessions_max) */
    a = avcodec_open2(r->dec, codec, NULL);
    if (a < 0)
        return av_fail(r, a, "cannot open the decoder");
    return 0;
}

/* The output size for a w x h input: at most max_height lines, aspect kept, even numbers. */
static void out_size(int w, int h, int max_height, int *ow, int *oh)
{
    int th = h <= max_height ? h : max_height;
    int64_t tw = (int64_t)w * th / h;

    *oh = th & ~1;
    *ow = (int)(tw & ~1);
    if (*oh < 2)
        *oh = 2;
    if (*ow < 2)
        *ow = 2;
}

/* Start the encoder and the muxer for frames like f. */
static int open_output(struct rend *r, const AVFrame *f)
{
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    AVRational fr = av_guess_frame_rate(r->ic, r->ic->streams[r->vi], NULL);
    AVDictionary *opts = NULL;
    uint8_t *buf = NULL;
    AVStream *ost;
    int a, w, h;

    if (!codec)
        return cv_errf(r->err, CV_EMEDIA, "rendition: this libavcodec has no libx264 encoder");
    if (fr.num <= 0 || fr.den <= 0)
        fr = (AVRational){25, 1};
    out_size(f->width, f->height, r->max_height, &w, &h);
    if (!(r->enc = avcodec_alloc_context3(codec)))
        return cv_errf(r->err, CV_ENOMEM, "out of memory");
    r->enc->width = w;
    r->enc->height = h;
    r->enc->pix_fmt = AV_PIX_FMT_YUV420P;
    r->enc->sample_aspect_ratio = (AVRational){1, 1};
    r->enc->time_base = r->in_tb;
    r->enc->framerate = fr;
    r->enc->gop_size = (fr.num + fr.den - 1) / fr.den; /* a keyframe (a fragment) a second */
    r->enc->max_b_frames = 0;
    r->enc->thread_count = 1;
    r->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER; /* avcC in the sample entry */
    av_dict_set(&opts, "preset", "veryfast", 0);
    av_dict_set(&opts, "tune", "zerolatency", 0);
    av_dict_set(&opts, "crf", "26", 0);
    a = avcodec_open2(r->enc, codec, &opts);
    av_dict_free(&opts);
    if (a < 0)
        return av_fail(r, a, "cannot open libx264");
    r->sws = sws_getContext(f->width, f->height, f->format, w, h, AV_PIX_FMT_YUV420P,
                            SWS_BILINEAR, NULL, NULL, NULL);
    r->scaled = av_frame_alloc();
    if (!r->sws || !r->scaled)
        return cv_errf(r->err, CV_EMEDIA, "rendition: cannot scale %dx%d %s to %dx%d", f->width,
                       f->height, av_get_pix_fmt_name((enum AVPixelFormat)f->format), w, h);
    r->scaled->format = AV_PIX_FMT_YUV420P;
    r->scaled->width = w;
    r->scaled->height = h;
    if ((a = av_frame_get_buffer(r->scaled, 0)) < 0)
        return av_fail(r, a, "no frame buffer");

    a = avformat_alloc_output_context2(&r->oc, NULL, "mp4", NULL);
    if (a < 0 || !r->oc || !(buf = av_malloc(IO_BUF)))
        return cv_errf(r->err, CV_ENOMEM, "out of memory");
    r->oc->pb = avio_alloc_context(buf, IO_BUF, 1, r, NULL, out_write, NULL);
    if (!r->oc->pb) {
        av_free(buf);
        return cv_errf(r->err, CV_ENOMEM, "out of memory");
    }
    r->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    if (!(ost = avformat_new_stream(r->oc, NULL)))
        return cv_errf(r->err, CV_ENOMEM, "out of memory");
    a = avcodec_parameters_from_context(ost->codecpar, r->enc);
    if (a < 0)
        return av_fail(r, a, "bad encoder parameters");
    ost->time_base = r->enc->time_base;
    av_dict_set(&opts, "movflags", "frag_keyframe+empty_moov+default_base_moof", 0);
    a = avformat_write_header(r->oc, &opts);
    av_dict_free(&opts);
    if (a < 0)
        return av_fail(r, a, "cannot start the MP4 output");
    avio_flush(r->oc->pb);
    r->st.width = w;
    r->st.height = h;
    return 0;
}

/* Send frame f (NULL: flush) to the encoder and everything it gives to the muxer. */
static int encode(struct rend *r, AVFrame *f)
{
    int a = avcodec_send_frame(r->enc, f);

    if (a < 0)
        return av_fail(r, a, "encoding failed");
    for (;;) {
        a = avcodec_receive_packet(r->enc, r->opkt);
        if (a == AVERROR(EAGAIN) || a == AVERROR_EOF)
            return 0;
        if (a < 0)
            return av_fail(r, a, "encoding failed");
        r->st.frames_out++;
        r->opkt->stream_index = 0;
        av_packet_rescale_ts(r->opkt, r->enc->time_base, r->oc->streams[0]->time_base);
        a = av_interleaved_write_frame(r->oc, r->opkt);
        if (a < 0)
            return av_fail(r, a, "writing the MP4 output failed");
        avio_flush(r->oc->pb);
        if (r->cb_rc < 0)
            return r->cb_rc;
    }
}

/* One decoded frame: times from 0, strictly increasing; scaled; encoded. */
static int take_frame(struct rend *r, AVFrame *f)
{
    int64_t pts = f->best_effort_timestamp;
    int rc;

    r->st.frames_in++;
    if (!r->enc && (rc = open_output(r, f)) < 0)
        return rc;
    if (pts != AV_NOPTS_VALUE) {
        if (r->last_in != AV_NOPTS_VALUE && pts < r->last_in) /* the next file of the run */
            r->shift += r->last_in + (r->step > 0 ? r->step : 1) - pts;
        else if (r->last_in != AV_NOPTS_VALUE && pts > r->last_in)
            r->step = pts - r->last_in;
        r->last_in = pts;
        pts += r->shift;
    }
    if (pts == AV_NOPTS_VALUE)
        pts = r->last_pts == AV_NOPTS_VALUE ? 0 : r->last_pts + 1;
    if (r->first_pts == AV_NOPTS_VALUE)
        r->first_pts = pts;
    pts -= r->first_pts;
    if (r->last_pts != AV_NOPTS_VALUE && pts <= r->last_pts)
        return 0; /* not after the frame before it (a broken run): dropped, never reordered */
    r->last_pts = pts;
    if ((rc = av_frame_make_writable(r->scaled)) < 0)
        return av_fail(r, rc, "no frame buffer");
    sws_scale(r->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height,
              r->scaled->data, r->scaled->linesize);
    r->scaled->pts = pts;
    r->scaled->pict_type = AV_PICTURE_TYPE_NONE;
    return encode(r, r->scaled);
}

/* Send packet p (NULL: flush) to the decoder and every frame it gives on. */
static int decode(struct rend *r, const AVPacket *p)
{
    int a = avcodec_send_packet(r->dec, p), rc;

    if (a < 0 && a != AVERROR_EOF) {
        /* a damaged packet costs its frame, not the stream */
        if (++r->decode_errors > DECODE_ERRORS_MAX)
            return av_fail(r, a, "too many packets the decoder refused");
        return 0;
    }
    for (;;) {
        a = avcodec_receive_frame(r->dec, r->frame);
        if (a == AVERROR(EAGAIN) || a == AVERROR_EOF)
            return 0;
        if (a < 0) {
            if (++r->decode_errors > DECODE_ERRORS_MAX)
                return av_fail(r, a, "too many frames the decoder refused");
            continue;
        }
        rc = take_frame(r, r->frame);
        av_frame_unref(r->frame);
        if (rc < 0)
            return rc;
    }
}

int exp_rendition_run(const struct exp_rendition_io *io, int max_height,
                      struct exp_rendition_stats *st, struct cv_err *err)
{
    struct rend r = {.io = io, .err = err, .vi = -1, .first_pts = AV_NOPTS_VALUE,
                     .last_pts = AV_NOPTS_VALUE, .last_in = AV_NOPTS_VALUE};
    int rc, a;

    r.max_height = max_height > 0 ? max_height : EXP_RENDITION_HEIGHT_DEFAULT;
    r.frame = av_frame_alloc();
    r.pkt = av_packet_alloc();
    r.opkt = av_packet_alloc();
    if (!r.frame || !r.pkt || !r.opkt) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = open_input(&r)) < 0)
        goto out;
    while ((a = av_read_frame(r.ic, r.pkt)) >= 0) {
        rc = r.pkt->stream_index == r.vi ? decode(&r, r.pkt) : 0;
        av_packet_unref(r.pkt);
        if (rc < 0)
            goto out;
    }
    if (a != AVERROR_EOF || r.cb_rc < 0) {
        rc = av_fail(&r, a, "reading the input failed");
        goto out;
    }
    if ((rc = decode(&r, NULL)) < 0)
        goto out;
    if (!r.enc) {
        rc = cv_errf(err, CV_EMEDIA, "rendition: the input has no decodable video frame");
        goto out;
    }
    if ((rc = encode(&r, NULL)) < 0)
        goto out;
    a = av_write_trailer(r.oc);
    if (a < 0) {
        rc = av_fail(&r, a, "cannot finish the MP4 output");
        goto out;
    }
    avio_flush(r.oc->pb);
    rc = r.cb_rc;
out:
    if (st)
        *st = r.st;
    if (r.oc) {
        if (r.oc->pb)
            av_freep(&r.oc->pb->buffer);
        avio_context_free(&r.oc->pb);
        avformat_free_context(r.oc);
    }
    avformat_close_input(&r.ic);
    if (r.ipb)
        av_freep(&r.ipb->buffer);
    avio_context_free(&r.ipb);
    avcodec_free_context(&r.dec);
    avcodec_free_context(&r.enc);
    sws_freeContext(r.sws);
    av_frame_free(&r.frame);
    av_frame_free(&r.scaled);
    av_packet_free(&r.pkt);
    av_packet_free(&r.opkt);
    return rc;
}
