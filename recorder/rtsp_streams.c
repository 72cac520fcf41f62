/*
 * rtsp_streams.c: choosing the streams of an RTSP session from its SDP (see rtsp_int.h): the
 * video codec, its depacketizer and parameter sets, the audio codec and its parameters, time
 * bases and the frame duration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libavutil/channel_layout.h>

#include "recorder/rtsp.h"
#include "recorder/rtsp_int.h"
#include "common/buf.h"
#include "common/banned.h"

int rec_choose_video(struct rec_rtsp *c, const struct rec_sdp_media *m, struct cv_err *err)
{
    char v[2048];
    const char *keys[3] = {"sprop-vps", "sprop-sps", "sprop-pps"};

    if (strcasecmp(m->encoding, "H264") == 0) {
        c->vcodec = REC_VC_H264;
        if (rec_fmtp_get(m->fmtp, "packetization-mode", v, sizeof(v)) == 0 &&
            strtol(v, NULL, 10) > 1)
            return cv_errf(err, CV_ESTATE, "H.264 interleaved packetization");
    } else {
        c->vcodec = REC_VC_H265;
        if (rec_fmtp_get(m->fmtp, "sprop-max-don-diff", v, sizeof(v)) == 0 &&
            strtol(v, NULL, 10) > 0)
            return cv_errf(err, CV_ESTATE, "H.265 with decoding order numbers");
    }
    rec_vdepay_init(&c->vd, c->vcodec);
    /* parameter sets from the SDP, used unless the stream brings its own */
    if (c->vcodec == REC_VC_H264) {
        if (rec_fmtp_get(m->fmtp, "sprop-parameter-sets", v, sizeof(v)) == 0) {
            char *save = NULL;
            for (char *t = strtok_r(v, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                uint8_t nal[REC_PS_MAX];
                int n = rec_base64_decode(t, strlen(t), nal, sizeof(nal));
                if (n > 0)
                    rec_vdepay_note_ps(&c->vd, nal, (size_t)n);
            }
        }
    } else {
        for (int i = 0; i < 3; i++) {
            uint8_t nal[REC_PS_MAX];
            int n;
            if (rec_fmtp_get(m->fmtp, keys[i], v, sizeof(v)) != 0)
                continue;
            n = rec_base64_decode(v, strlen(v), nal, sizeof(nal));
            if (n > 0)
                rec_vdepay_note_ps(&c->vd, nal, (size_t)n);
        }
    }
    c->st[0].pt = m->pt;
    c->st[0].clock = m->clock > 0 ? m->clock : 90000;
    c->media.tb[0] = (AVRational){1, c->st[0].clock};
    c->media.frame_dur = m->framerate > 0 && m->framerate <= 240
                             ? (int64_t)(c->st[0].clock / m->framerate + 0.5)
                             : c->st[0].clock / 25;
    return 0;
}

/* 0: audio chosen or (when unusable by any recorder) noted as skipped; CV_ESTATE: libavformat. */
int rec_choose_audio(struct rec_rtsp *c, const struct rec_sdp_media *m, struct cv_err *err)
{
    AVCodecParameters *p;
    char v[512];

    if (strcasecmp(m->encoding, "MPEG4-GENERIC") == 0) {
        struct rec_aac_params ap = {13, 3, 3, 1024};
        uint8_t asc[64];
        int n = -1;
        if (rec_fmtp_get(m->fmtp, "mode", v, sizeof(v)) != 0 ||
            (strcasecmp(v, "AAC-hbr") != 0 && strcasecmp(v, "AAC-lbr") != 0))
            return cv_errf(err, CV_ESTATE, "MPEG4-GENERIC audio in mode '%s'", v);
        if (rec_fmtp_get(m->fmtp, "sizelength", v, sizeof(v)) == 0)
            ap.sizelength = (int)strtol(v, NULL, 10);
        if (rec_fmtp_get(m->fmtp, "indexlength", v, sizeof(v)) == 0)
            ap.indexlength = (int)strtol(v, NULL, 10);
        if (rec_fmtp_get(m->fmtp, "indexdeltalength", v, sizeof(v)) == 0)
            ap.indexdeltalength = (int)strtol(v, NULL, 10);
        if (rec_fmtp_get(m->fmtp, "config", v, sizeof(v)) == 0 && strlen(v) % 2 == 0 &&
            strlen(v) / 2 <= sizeof(asc) && cv_unhex(v, asc, strlen(v) / 2) == 0)
            n = (int)(strlen(v) / 2);
        if (n <= 0 || ap.sizelength < 1 || ap.sizelength > 16 || ap.indexlength < 0 ||
            ap.indexlength > 16 || ap.indexdeltalength < 0 || ap.indexdeltalength > 16)
            return cv_errf(err, CV_ESTATE, "AAC audio without a usable config");
        p = c->par[1] = avcodec_parameters_alloc();
        if (!p || !(p->extradata = av_mallocz((size_t)n + AV_INPUT_BUFFER_PADDING_SIZE)))
            return cv_errf(err, CV_ENOMEM, "out of memory");
        memcpy(p->extradata, asc, (size_t)n);
        p->extradata_size = n;
        p->codec_id = AV_CODEC_ID_AAC;
        p->frame_size = 1024;
        c->acodec = AC_AAC;
        rec_aac_init(&c->ad, &ap);
        c->ad_init = true;
    } else if ((strcasecmp(m->encoding, "PCMU") == 0 || strcasecmp(m->encoding, "PCMA") == 0) &&
               m->clock == 8000) {
        p = c->par[1] = avcodec_parameters_alloc();
        if (!p)
            return cv_errf(err, CV_ENOMEM, "out of memory");
        c->acodec = strcasecmp(m->encoding, "PCMU") == 0 ? AC_PCMU : AC_PCMA;
        p->codec_id = c->acodec == AC_PCMU ? AV_CODEC_ID_PCM_MULAW : AV_CODEC_ID_PCM_ALAW;
        p->bits_per_coded_sample = 8;
        p->block_align = m->channels > 0 ? m->channels : 1;
    } else if (strcasecmp(m->encoding, "MPA") == 0 || strcasecmp(m->encoding, "L16") == 0 ||
               strcasecmp(m->encoding, "MP4A-LATM") == 0) {
        return cv_errf(err, CV_ESTATE, "%s audio", m->encoding);
    } else {
        snprintf(c->media.audio_skipped, sizeof(c->media.audio_skipped), "%s",
                 m->encoding[0] ? m->encoding : "unknown");
        return 0;
    }
    p->codec_type = AVMEDIA_TYPE_AUDIO;
    p->sample_rate = m->clock;
    av_channel_layout_default(&p->ch_layout, m->channels > 0 ? m->channels : 1);
    c->st[1].pt = m->pt;
    c->st[1].clock = m->clock;
    c->media.tb[1] = (AVRational){1, m->clock};
    c->media.par[1] = p;
    return 0;
}
