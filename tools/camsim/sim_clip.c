/*
 * sim_clip.c: read the media file back and pre-packetize it with libavformat's RTP muxer.
 *
 * One "rtp" muxer per track writes into a custom AVIOContext whose max_packet_size makes the
 * muxer emit one RTP packet per flush; collect() appends each packet to one byte arena. Then the
 * per-track packet lists are merged by media time into the schedule the server walks.
 *
 * Timestamps are assigned here, not taken from the file: Matroska stores milliseconds, which
 * would make 30 fps video or 1024-sample AAC frames jitter by a tick. Video frame i gets pts i
 * in 1/fps, AAC frame i gets i * frame_size samples, G.711 is re-chunked into 20 ms packets
 * (160 samples, as IP cameras send it). Every track starts at pts 0, so the first packet the
 * muxer emits carries its random base timestamp, which is subtracted from all of them.
 *
 * Library limits noted where they matter: the RTP muxer holds one AAC access unit back until the
 * next arrives (with max_delay 0 it never aggregates more than one), so after the last real AU
 * the first one is fed again to push it out; that extra AU stays buffered and is discarded.
 */
#include "tools/camsim/sim_clip.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavformat/avformat.h>
#include <libavutil/mathematics.h>

#include "tools/camsim/sim_media.h"
#include "tools/camsim/sim_util.h"
#include "common/buf.h"

#include "common/banned.h"

/* Hard limits on what one clip may hold: the packet offsets are 32-bit. */
#define SIM_CLIP_MAX_BYTES (1u << 30)
#define SIM_SDP_MAX 16384
#define SIM_PCM_CHUNK 160

/* A track's packets as the muxer produced them, before merging. */
struct raw_packet {
    uint32_t offset;
    uint16_t size;
    uint8_t frames;
    uint32_t ts; /* absolute RTP timestamp, base included */
};

struct track_mux {
    struct sim_clip *clip; /* arena the packets go to */
    size_t *data_cap;      /* capacity of clip->data, shared by the tracks */
    int index;             /* track number */
    int is_aac, is_pcm;
    AVFormatContext *oc;
    AVIOContext *pb;
    struct raw_packet *raw;
    size_t n_raw, cap_raw;
    int64_t next_pts;   /* in the source time base below */
    AVRational src_tb;  /* 1/fps for video, 1/sample_rate for audio */
    int failed;         /* an allocation in collect() failed */
    int header_written; /* avformat_write_header succeeded */
};

/* Access units completed by this packet: video ends one at the marker bit; AAC (RFC 3640
 * AAC-hbr) carries one 16-bit AU header per AU, and only the last fragment of a split AU has the
 * marker; every G.711 packet is one 20 ms chunk. */
static uint8_t frames_in(const struct track_mux *t, const uint8_t *pkt, int size)
{
    int marker = pkt[1] >> 7;

    if (t->is_pcm)
        return 1;
    if (!marker)
        return 0;
    if (t->is_aac && size >= SIM_RTP_HEADER + 2)
        return (uint8_t)(((pkt[SIM_RTP_HEADER] << 8 | pkt[SIM_RTP_HEADER + 1]) / 16) & 0xff);
    return 1;
}

/* AVIOContext write callback: one call is one RTP packet (the muxer flushes after each). */
static int collect(void *opaque, uint8_t *buf, int size)
{
    struct track_mux *t = opaque;
    struct sim_clip *clip = t->clip;
    struct raw_packet *r;

    if (size < SIM_RTP_HEADER || size > SIM_RTP_PACKET_MAX || (buf[0] >> 6) != 2 ||
        (buf[0] & 0x1f) != 0 || clip->data_size + (size_t)size > SIM_CLIP_MAX_BYTES) {
        /* Not a plain RTP packet (no CSRC, no extension), or too much: fail the load. */
        t->failed = 1;
        return size;
    }
    if (cv_grow((void **)&t->raw, &t->cap_raw, t->n_raw + 1, sizeof(*t->raw), 64) != 0 ||
        cv_grow((void **)&clip->data, t->data_cap, clip->data_size + (size_t)size, 1, 64) != 0) {
        t->failed = 1;
        return size;
    }
    memcpy(clip->data + clip->data_size, buf, (size_t)size);
    r = &t->raw[t->n_raw++];
    r->offset = (uint32_t)clip->data_size;
    r->size = (uint16_t)size;
    r->frames = frames_in(t, buf, size);
    r->ts = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
    clip->data_size += (size_t)size;
    return size;
}

static void track_mux_release(struct track_mux *t)
{
    /* The trailer frees the muxer's packet buffer; with skip_rtcp it writes nothing. */
    if (t->header_written)
        av_write_trailer(t->oc);
    if (t->pb) {
        av_freep(&t->pb->buffer);
        avio_context_free(&t->pb);
    }
    avformat_free_context(t->oc);
    t->oc = NULL;
    free(t->raw);
    t->raw = NULL;
}

/* Sets up the RTP muxer for one track. par describes the packets that will be fed. */
static int track_mux_init(struct track_mux *t, struct sim_clip *clip, size_t *data_cap, int index,
                          const AVCodecParameters *par, AVRational src_tb, AVRational fps,
                          char *err, size_t errlen)
{
    AVDictionary *opts = NULL;
    AVStream *st;
    uint8_t *iobuf = NULL;
    char pt[8];
    int ret;
    int payload_type = par->codec_type == AVMEDIA_TYPE_VIDEO    ? 96
                       : par->codec_id == AV_CODEC_ID_PCM_MULAW ? 0
                       : par->codec_id == AV_CODEC_ID_PCM_ALAW  ? 8
                                                                : 97;

    memset(t, 0, sizeof(*t));
    t->clip = clip;
    t->data_cap = data_cap;
    t->index = index;
    t->is_aac = par->codec_id == AV_CODEC_ID_AAC;
    t->is_pcm = par->codec_id == AV_CODEC_ID_PCM_MULAW || par->codec_id == AV_CODEC_ID_PCM_ALAW;
    t->src_tb = src_tb;
    /* The URL only feeds av_sdp_create: no port, so it writes a=control:streamid=N. */
    ret = avformat_alloc_output_context2(&t->oc, NULL, "rtp", "rtp://0.0.0.0");
    if (ret < 0)
        return sim_errf(err, errlen, "cannot create RTP muxer: %s", av_err2str(ret));
    st = avformat_new_stream(t->oc, NULL);
    if (st == NULL)
        return sim_errf(err, errlen, "cannot create RTP muxer stream: out of memory");
    ret = avcodec_parameters_copy(st->codecpar, par);
    if (ret < 0)
        return sim_errf(err, errlen, "cannot copy codec parameters: %s", av_err2str(ret));
    st->codecpar->codec_tag = 0;
    st->time_base = src_tb;
    st->avg_frame_rate = fps;
    iobuf = av_malloc(2 * SIM_RTP_PACKET_MAX);
    if (iobuf == NULL)
        return sim_errf(err, errlen, "cannot allocate RTP buffer: out of memory");
    t->pb = avio_alloc_context(iobuf, 2 * SIM_RTP_PACKET_MAX, 1, t, NULL, collect, NULL);
    if (t->pb == NULL) {
        av_free(iobuf);
        return sim_errf(err, errlen, "cannot allocate RTP I/O context: out of memory");
    }
    /* The muxer sizes its packets from this and flushes after each one. */
    t->pb->max_packet_size = SIM_RTP_PACKET_MAX;
    t->oc->pb = t->pb;
    t->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    t->oc->max_delay = 0; /* one AAC AU per packet */
    snprintf(pt, sizeof(pt), "%d", payload_type);
    av_dict_set(&opts, "payload_type", pt, 0);
    av_dict_set(&opts, "rtpflags", "skip_rtcp", 0); /* the server sends its own RTCP */
    ret = avformat_write_header(t->oc, &opts);
    av_dict_free(&opts);
    t->header_written = ret >= 0;
    if (ret < 0)
        return sim_errf(err, errlen, "RTP muxer rejected %s: %s", avcodec_get_name(par->codec_id),
                        av_err2str(ret));
    clip->tracks[index].is_video = par->codec_type == AVMEDIA_TYPE_VIDEO;
    clip->tracks[index].payload_type = payload_type;
    clip->tracks[index].clock_rate = st->time_base.den;
    if (st->time_base.num != 1 || st->time_base.den <= 0)
        return sim_errf(err, errlen, "RTP muxer chose an unexpected clock %d/%d", st->time_base.num,
                        st->time_base.den);
    return 0;
}

/* Feeds one access unit; its pts is the next one in sequence (src_tb units per AU). */
static int track_mux_feed(struct track_mux *t, const uint8_t *data, int size, int64_t duration,
                          char *err, size_t errlen)
{
    AVPacket *pkt = av_packet_alloc();
    AVStream *st = t->oc->streams[0];
    int ret;

    if (pkt == NULL)
        return sim_errf(err, errlen, "cannot allocate packet: out of memory");
    pkt->data = (uint8_t *)data; /* not reference-counted: the muxer copies what it keeps */
    pkt->size = size;
    pkt->pts = pkt->dts = av_rescale_q(t->next_pts, t->src_tb, st->time_base);
    pkt->stream_index = 0;
    t->next_pts += duration;
    ret = av_write_frame(t->oc, pkt);
    av_packet_free(&pkt);
    if (ret < 0)
        return sim_errf(err, errlen, "RTP muxer failed: %s", av_err2str(ret));
    if (t->failed)
        return sim_errf(err, errlen, "RTP muxer produced an unusable packet or ran out of memory");
    return 0;
}

/* State of the read loop; everything the single cleanup label releases. */
struct loader {
    AVFormatContext *ic;
    AVBSFContext *bsf;
    AVPacket *pkt;
    struct track_mux mux[SIM_CLIP_MAX_TRACKS];
    int n_mux;
    int video_in, audio_in; /* stream indexes in the file, -1 if absent */
    int frames_wanted, frames_fed;
    int64_t audio_end; /* audio samples per loop */
    int aac_frame;     /* samples per AAC access unit */
    uint8_t *pcm;      /* all G.711 bytes, re-chunked at the end */
    size_t pcm_len, pcm_cap;
    uint8_t *aac_first; /* copy of the first AAC AU, fed again to flush the last */
    int aac_first_size;
    int audio_fed;
    size_t data_cap; /* capacity of clip->data */
};

static int feed_video(struct loader *l, char *err, size_t errlen)
{
    int ret;

    ret = av_bsf_send_packet(l->bsf, l->pkt);
    if (ret < 0)
        return sim_errf(err, errlen, "bitstream filter failed: %s", av_err2str(ret));
    while ((ret = av_bsf_receive_packet(l->bsf, l->pkt)) == 0) {
        if (l->frames_fed < l->frames_wanted &&
            track_mux_feed(&l->mux[0], l->pkt->data, l->pkt->size, 1, err, errlen) != 0) {
            av_packet_unref(l->pkt);
            return -1;
        }
        l->frames_fed++;
        av_packet_unref(l->pkt);
    }
    if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF)
        return sim_errf(err, errlen, "bitstream filter failed: %s", av_err2str(ret));
    return 0;
}

static int feed_audio(struct loader *l, char *err, size_t errlen)
{
    struct track_mux *t = &l->mux[1];

    if (t->is_pcm) {
        if (cv_grow((void **)&l->pcm, &l->pcm_cap, l->pcm_len + (size_t)l->pkt->size, 1, 64) != 0)
            return sim_errf(err, errlen, "out of memory reading audio");
        memcpy(l->pcm + l->pcm_len, l->pkt->data, (size_t)l->pkt->size);
        l->pcm_len += (size_t)l->pkt->size;
        return 0;
    }
    /* AAC: skip encoder priming (negative pts) and anything past the clip's end. */
    if (l->pkt->pts != AV_NOPTS_VALUE && l->pkt->pts < 0)
        return 0;
    if (t->next_pts + l->aac_frame > l->audio_end)
        return 0;
    if (l->aac_first == NULL) {
        l->aac_first = av_memdup(l->pkt->data, (size_t)l->pkt->size);
        if (l->aac_first == NULL)
            return sim_errf(err, errlen, "out of memory reading audio");
        l->aac_first_size = l->pkt->size;
    }
    l->audio_fed++;
    return track_mux_feed(t, l->pkt->data, l->pkt->size, l->aac_frame, err, errlen);
}

static int finish_audio(struct loader *l, char *err, size_t errlen)
{
    struct track_mux *t = &l->mux[1];

    if (t->is_pcm) {
        size_t total = l->pcm_len;
        if ((int64_t)total > l->audio_end)
            total = (size_t)l->audio_end;
        for (size_t off = 0; off + SIM_PCM_CHUNK <= total; off += SIM_PCM_CHUNK) {
            if (track_mux_feed(t, l->pcm + off, SIM_PCM_CHUNK, SIM_PCM_CHUNK, err, errlen) != 0)
                return -1;
            l->audio_fed++;
        }
        return 0;
    }
    if (l->aac_first != NULL)
        return track_mux_feed(t, l->aac_first, l->aac_first_size, l->aac_frame, err, errlen);
    return 0;
}

/* Converts one track's raw packets to clip packets relative to its first timestamp. */
static int finish_track(struct sim_clip *clip, struct track_mux *t, struct sim_clip_packet *dst,
                        size_t *n_out)
{
    struct sim_clip_track *tr = &clip->tracks[t->index];
    uint32_t base = t->n_raw ? t->raw[0].ts : 0;
    size_t n = 0;

    for (size_t i = 0; i < t->n_raw; i++) {
        uint32_t rel = t->raw[i].ts - base;
        if (rel >= tr->loop_ts)
            continue; /* past the loop point: would overlap the next loop */
        dst[n].offset = t->raw[i].offset;
        dst[n].size = t->raw[i].size;
        dst[n].track = (uint8_t)t->index;
        dst[n].frames = t->raw[i].frames;
        dst[n].rtp_ts = rel;
        dst[n].time_us = av_rescale(rel, 1000000, tr->clock_rate);
        n++;
    }
    *n_out = n;
    return 0;
}

/* Merges the per-track lists into clip->packets, ordered by time, video first on ties. */
static int build_schedule(struct sim_clip *clip, struct loader *l, char *err, size_t errlen)
{
    size_t total = 0, n[SIM_CLIP_MAX_TRACKS] = {0}, at[SIM_CLIP_MAX_TRACKS] = {0};
    struct sim_clip_packet *lists[SIM_CLIP_MAX_TRACKS] = {NULL, NULL};
    int rc = -1;

    for (int i = 0; i < l->n_mux; i++)
        total += l->mux[i].n_raw;
    clip->packets = calloc(total ? total : 1, sizeof(*clip->packets));
    for (int i = 0; i < l->n_mux; i++)
        lists[i] = calloc(l->mux[i].n_raw ? l->mux[i].n_raw : 1, sizeof(*lists[i]));
    if (clip->packets == NULL || lists[0] == NULL || (l->n_mux > 1 && lists[1] == NULL)) {
        sim_errf(err, errlen, "out of memory building the packet schedule");
        goto out;
    }
    for (int i = 0; i < l->n_mux; i++)
        finish_track(clip, &l->mux[i], lists[i], &n[i]);
    clip->n_packets = 0;
    for (;;) {
        int pick = -1;
        for (int i = 0; i < l->n_mux; i++) {
            if (at[i] < n[i] &&
                (pick < 0 || lists[i][at[i]].time_us < lists[pick][at[pick]].time_us))
                pick = i;
        }
        if (pick < 0)
            break;
        clip->packets[clip->n_packets++] = lists[pick][at[pick]++];
    }
    for (size_t i = 0; i < clip->n_packets; i++) {
        if (clip->tracks[clip->packets[i].track].is_video)
            clip->video_frames += clip->packets[i].frames;
        else
            clip->audio_frames += clip->packets[i].frames;
    }
    if (clip->n_packets == 0 || clip->video_frames == 0) {
        sim_errf(err, errlen, "'%s' produced no video packets", clip->path);
        goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < SIM_CLIP_MAX_TRACKS; i++)
        free(lists[i]);
    return rc;
}

static int make_sdp(struct sim_clip *clip, struct loader *l, char *err, size_t errlen)
{
    AVFormatContext *ctx[SIM_CLIP_MAX_TRACKS];
    int ret;

    clip->sdp = malloc(SIM_SDP_MAX);
    if (clip->sdp == NULL)
        return sim_errf(err, errlen, "out of memory writing the SDP");
    for (int i = 0; i < l->n_mux; i++)
        ctx[i] = l->mux[i].oc;
    av_dict_set(&ctx[0]->metadata, "title", "camsim", 0);
    ret = av_sdp_create(ctx, l->n_mux, clip->sdp, SIM_SDP_MAX);
    if (ret < 0)
        return sim_errf(err, errlen, "cannot create SDP: %s", av_err2str(ret));
    clip->sdp_len = strlen(clip->sdp);
    if (clip->sdp_len + 1 >= SIM_SDP_MAX)
        return sim_errf(err, errlen, "SDP longer than %d bytes", SIM_SDP_MAX);
    return 0;
}

/* Opens the file and the bitstream filter, and creates the per-track muxers. */
static int open_input(struct sim_clip *clip, struct loader *l, const struct sim_config *cfg,
                      char *err, size_t errlen)
{
    const AVBitStreamFilter *f;
    AVStream *vs;
    AVRational fps = {cfg->fps, 1};
    int ret;

    ret = avformat_open_input(&l->ic, clip->path, NULL, NULL);
    if (ret < 0)
        return sim_errf(err, errlen, "cannot open '%s': %s", clip->path, av_err2str(ret));
    ret = avformat_find_stream_info(l->ic, NULL);
    if (ret < 0)
        return sim_errf(err, errlen, "cannot read '%s': %s", clip->path, av_err2str(ret));
    l->video_in = av_find_best_stream(l->ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    l->audio_in = cfg->audio == SIM_AUDIO_NONE
                      ? -1
                      : av_find_best_stream(l->ic, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (l->video_in < 0 || (cfg->audio != SIM_AUDIO_NONE && l->audio_in < 0))
        return sim_errf(err, errlen, "'%s' lacks a %s stream (delete it to regenerate)", clip->path,
                        l->video_in < 0 ? "video" : "audio");
    vs = l->ic->streams[l->video_in];

    /* In-band parameter sets before every IDR, as IP cameras send them, and Annex B. */
    f = av_bsf_get_by_name(cfg->codec == SIM_CODEC_H265 ? "hevc_mp4toannexb" : "h264_mp4toannexb");
    if (f == NULL)
        return sim_errf(err, errlen, "libavcodec lacks the mp4toannexb bitstream filter");
    ret = av_bsf_alloc(f, &l->bsf);
    if (ret >= 0)
        ret = avcodec_parameters_copy(l->bsf->par_in, vs->codecpar);
    if (ret >= 0) {
        l->bsf->time_base_in = vs->time_base;
        ret = av_bsf_init(l->bsf);
    }
    if (ret < 0)
        return sim_errf(err, errlen, "cannot set up bitstream filter: %s", av_err2str(ret));

    if (track_mux_init(&l->mux[0], clip, &l->data_cap, 0, l->bsf->par_out, av_inv_q(fps), fps, err,
                       errlen))
        return -1;
    l->n_mux = 1;
    clip->tracks[0].loop_ts =
        (uint32_t)av_rescale(l->frames_wanted, clip->tracks[0].clock_rate, cfg->fps);
    if (l->audio_in >= 0) {
        AVCodecParameters *ap = l->ic->streams[l->audio_in]->codecpar;
        AVRational tb = {1, ap->sample_rate};
        if (ap->sample_rate <= 0)
            return sim_errf(err, errlen, "'%s': audio has no sample rate", clip->path);
        if (track_mux_init(&l->mux[1], clip, &l->data_cap, 1, ap, tb, fps, err, errlen))
            return -1;
        l->n_mux = 2;
        l->aac_frame = ap->frame_size > 0 ? ap->frame_size : 1024;
        l->audio_end = av_rescale(l->frames_wanted, ap->sample_rate, cfg->fps);
        clip->tracks[1].loop_ts =
            (uint32_t)av_rescale(l->frames_wanted, clip->tracks[1].clock_rate, cfg->fps);
    }
    clip->n_tracks = l->n_mux;
    return 0;
}

static int load(struct sim_clip *clip, const struct sim_config *cfg, char *err, size_t errlen)
{
    struct loader l;
    int ret;
    int rc = -1;

    memset(&l, 0, sizeof(l));
    l.frames_wanted = sim_media_frames(cfg);
    clip->duration_us = av_rescale(l.frames_wanted, 1000000, cfg->fps);
    l.pkt = av_packet_alloc();
    if (l.pkt == NULL) {
        sim_errf(err, errlen, "out of memory");
        goto out;
    }
    if (open_input(clip, &l, cfg, err, errlen) != 0)
        goto out;
    while ((ret = av_read_frame(l.ic, l.pkt)) >= 0) {
        int r = 0;
        if (l.pkt->stream_index == l.video_in)
            r = feed_video(&l, err, errlen);
        else if (l.pkt->stream_index == l.audio_in)
            r = feed_audio(&l, err, errlen);
        av_packet_unref(l.pkt);
        if (r != 0)
            goto out;
    }
    if (ret != AVERROR_EOF) {
        sim_errf(err, errlen, "cannot read '%s': %s", clip->path, av_err2str(ret));
        goto out;
    }
    /* Drain the filter (a NULL packet signals the end). */
    av_packet_unref(l.pkt);
    ret = av_bsf_send_packet(l.bsf, NULL);
    if (ret < 0 || feed_video(&l, err, errlen) != 0) {
        if (ret < 0)
            sim_errf(err, errlen, "bitstream filter failed: %s", av_err2str(ret));
        goto out;
    }
    if (l.frames_fed < l.frames_wanted) {
        sim_errf(err, errlen, "'%s' has %d video frames, expected %d (delete it to regenerate)",
                 clip->path, l.frames_fed, l.frames_wanted);
        goto out;
    }
    if (l.n_mux > 1 && finish_audio(&l, err, errlen) != 0)
        goto out;
    if (build_schedule(clip, &l, err, errlen) != 0 || make_sdp(clip, &l, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    for (int i = 0; i < SIM_CLIP_MAX_TRACKS; i++)
        track_mux_release(&l.mux[i]);
    av_free(l.aac_first);
    free(l.pcm);
    av_bsf_free(&l.bsf);
    av_packet_free(&l.pkt);
    avformat_close_input(&l.ic);
    return rc;
}

int sim_clip_open(struct sim_clip **out, const struct sim_config *cfg, char *err, size_t errlen)
{
    struct sim_clip *clip;

    *out = NULL;
    clip = calloc(1, sizeof(*clip));
    if (clip == NULL)
        return sim_errf(err, errlen, "out of memory");
    if (sim_media_ensure(cfg, clip->path, sizeof(clip->path), err, errlen) != 0 ||
        load(clip, cfg, err, errlen) != 0) {
        sim_clip_close(clip);
        return -1;
    }
    *out = clip;
    return 0;
}

void sim_clip_close(struct sim_clip *clip)
{
    if (clip == NULL)
        return;
    free(clip->data);
    free(clip->packets);
    free(clip->sdp);
    free(clip);
}
