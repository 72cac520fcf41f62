/*
 * snapshot.c: one JPEG of the frame shown at an instant (exp_snapshot_jpeg in clip.h).
 *
 * The segment is scanned (lay_seg_scan) to find the fragment holding the instant and turn the
 * wall-clock time into a presentation time of the video track (prft: wall time of the
 * fragment's first video decode time). libavformat opens the file, seeks to that fragment's
 * keyframe, and the decoder runs until the first frame past the instant; the last frame at or
 * before it is scaled to YUVJ420P and encoded by FFmpeg's mjpeg encoder.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "exporter/clip.h"
#include "storage-layout/segfile.h"
#include "common/banned.h"

#define SNAP_PACKETS_MAX 100000 /* packets read before giving up (a GOP is far shorter) */

/* The video presentation time (track timescale) of wall-clock at_us in the segment. */
static int locate(const char *path, int64_t at_us, int64_t *target, int64_t *key_dts,
                  struct cv_err *err)
{
    struct lay_seg_info info;
    const struct lay_seg_frag *f = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

    if (fd < 0)
        return cv_errf(err, cv_errno_code(errno), "cannot open '%s': %s", path, strerror(errno));
    rc = lay_seg_scan(fd, &info, err);
    close(fd);
    if (rc < 0)
        return cv_errwrap(err, rc, "'%s'", path);
    for (size_t i = 0; i < info.nfrags; i++)
        if (info.frags[i].wall_us != INT64_MIN && info.frags[i].wall_us <= at_us)
            f = &info.frags[i];
    if (!f || at_us >= f->wall_us + (int64_t)(f->video_dur * 1000000 / info.video_timescale)) {
        lay_seg_info_release(&info);
        return cv_errf(err, CV_ENOENT, "'%s' does not cover the requested instant", path);
    }
    *key_dts = (int64_t)f->video_dts;
    *target = (int64_t)f->video_dts +
              (int64_t)((__int128)(at_us - f->wall_us) * info.video_timescale / 1000000);
    lay_seg_info_release(&info);
    return 0;
}

/* Scale `frame` to YUVJ420P and encode it as one JPEG appended to out. */
static int encode_jpeg(const AVFrame *frame, struct cv_buf *out, struct cv_err *err)
{
    const AVCodec *enc = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *ec = NULL;
    struct SwsContext *sws = NULL;
    AVFrame *yuv = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    int rc = 0, r;

    if (!enc) {
        rc = cv_errf(err, CV_EMEDIA, "this FFmpeg has no mjpeg encoder");
        goto out;
    }
    ec = avcodec_alloc_context3(enc);
    if (!ec || !yuv || !pkt) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    ec->width = frame->width;
    ec->height = frame->height;
    ec->pix_fmt = AV_PIX_FMT_YUVJ420P;
    ec->color_range = AVCOL_RANGE_JPEG;
    ec->time_base = (AVRational){1, 25};
    ec->flags |= AV_CODEC_FLAG_QSCALE;
    ec->global_quality = FF_QP2LAMBDA * 3;
    ec->thread_count = 1;
    r = avcodec_open2(ec, enc, NULL);
    if (r < 0) {
        rc = cv_errf(err, CV_EMEDIA, "cannot start the JPEG encoder: %s", av_err2str(r));
        goto out;
    }
    yuv->format = AV_PIX_FMT_YUVJ420P;
    yuv->width = frame->width;
    yuv->height = frame->height;
    yuv->quality = ec->global_quality;
    if (av_frame_get_buffer(yuv, 0) < 0) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    sws = sws_getContext(frame->width, frame->height, frame->format, frame->width, frame->height,
                         AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!sws) {
        rc = cv_errf(err, CV_EMEDIA, "cannot convert pixel format %s",
                     av_get_pix_fmt_name(frame->format) ? av_get_pix_fmt_name(frame->format)
                                                        : "?");
        goto out;
    }
    sws_scale(sws, (const uint8_t *const *)frame->data, frame->linesize, 0, frame->height,
              yuv->data, yuv->linesize);
    yuv->pts = 0;
    r = avcodec_send_frame(ec, yuv);
    if (r >= 0)
        r = avcodec_send_frame(ec, NULL);
    if (r >= 0)
        r = avcodec_receive_packet(ec, pkt);
    if (r < 0) {
        rc = cv_errf(err, CV_EMEDIA, "JPEG encoder failed: %s", av_err2str(r));
        goto out;
    }
    cv_buf_put(out, pkt->data, (size_t)pkt->size);
    if (!cv_buf_ok(out))
        rc = cv_errf(err, CV_ELIMIT, "JPEG of %d bytes is too large", pkt->size);
out:
    sws_freeContext(sws);
    av_packet_free(&pkt);
    av_frame_free(&yuv);
    avcodec_free_context(&ec);
    return rc;
}

int exp_snapshot_jpeg(const char *segment_path, int64_t at_us, struct cv_buf *out,
                      struct cv_err *err)
{
    AVFormatContext *ic = NULL;
    AVCodecContext *dc = NULL;
    const AVCodec *dec;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc(), *shown = av_frame_alloc();
    int64_t target = 0, key_dts = 0;
    bool have = false, past = false, eof = false;
    int rc, r, vs = -1;

    if (!pkt || !frame || !shown) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    rc = locate(segment_path, at_us, &target, &key_dts, err);
    if (rc < 0)
        goto out;
    r = avformat_open_input(&ic, segment_path, NULL, NULL);
    if (r >= 0)
        r = avformat_find_stream_info(ic, NULL);
    if (r >= 0)
        r = vs = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, &dec, 0);
    if (r < 0) {
        rc = cv_errf(err, CV_ECORRUPT, "'%s': cannot read the video stream: %s", segment_path,
                     av_err2str(r));
        goto out;
    }
    dc = avcodec_alloc_context3(dec);
    if (!dc) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    avcodec_parameters_to_context(dc, ic->streams[vs]->codecpar);
    dc->thread_count = 1;
    r = avcodec_open2(dc, dec, NULL);
    if (r >= 0)
        r = av_seek_frame(ic, vs, key_dts, AVSEEK_FLAG_BACKWARD);
    if (r < 0) {
        rc = cv_errf(err, CV_EMEDIA, "'%s': cannot start decoding: %s", segment_path,
                     av_err2str(r));
        goto out;
    }
    for (int n = 0; !past && !eof && n < SNAP_PACKETS_MAX; n++) {
        r = av_read_frame(ic, pkt);
        if (r == AVERROR_EOF) {
            eof = true;
            r = avcodec_send_packet(dc, NULL);
        } else if (r >= 0) {
            if (pkt->stream_index != vs) {
                av_packet_unref(pkt);
                continue;
            }
            r = avcodec_send_packet(dc, pkt);
            av_packet_unref(pkt);
        }
        if (r < 0 && r != AVERROR_EOF) {
            rc = cv_errf(err, CV_EMEDIA, "'%s': cannot decode: %s", segment_path, av_err2str(r));
            goto out;
        }
        while (!past && avcodec_receive_frame(dc, frame) >= 0) {
            int64_t pts = frame->best_effort_timestamp;
            if (have && pts != AV_NOPTS_VALUE && pts > target) {
                past = true;
            } else {
                av_frame_unref(shown);
                av_frame_move_ref(shown, frame);
                have = true;
            }
            av_frame_unref(frame);
        }
    }
    if (!have) {
        rc = cv_errf(err, CV_EMEDIA, "'%s': no frame could be decoded at the requested instant",
                     segment_path);
        goto out;
    }
    rc = encode_jpeg(shown, out, err);
out:
    av_frame_free(&shown);
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dc);
    avformat_close_input(&ic);
    return rc;
}
