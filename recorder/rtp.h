/*
 * rtp.h: RTP packets to stored media, for the recorder's own RTSP client (rtsp.c).
 *
 * Pure functions over bytes, no I/O, one owner per state struct (not thread-safe):
 *
 *   rec_rtp_parse      the fixed RTP header (RFC 3550), CSRCs, extension and padding removed
 *   rec_vdepay_*       H.264 (RFC 6184: single NAL, STAP-A, FU-A) and H.265 (RFC 7798: single
 *                      NAL, AP, FU) payloads to access units, one per RTP timestamp
 *   rec_aac_depay      AAC in MPEG4-GENERIC (RFC 3640, AAC-hbr / AAC-lbr) to raw AAC frames
 *   rec_rtp_unwrap     32-bit RTP timestamps to a continuous 64-bit count
 *
 * Access units come out as MP4 stores them, 4-byte length-prefixed NAL units, so that they go
 * into the segment file unchanged. The codec configuration (rec_vconfig) is an avcC record for
 * H.264 and, for H.265, the parameter sets in Annex B form, from which the muxer builds hvcC.
 */
#ifndef REC_RTP_H
#define REC_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct rec_rtp_hdr {
    bool marker;
    uint8_t pt;
    uint16_t seq;
    uint32_t ts, ssrc;
    const uint8_t *payload; /* points into the packet given to rec_rtp_parse */
    size_t len;
};

/* Parse packet p[0..n). Returns 0, or -1 if it is not RTP version 2 or its lengths do not fit. */
int rec_rtp_parse(const uint8_t *p, size_t n, struct rec_rtp_hdr *out);

/* A 32-bit timestamp made continuous: each step is taken as the signed 32-bit difference. */
struct rec_rtp_clock {
    bool started;
    uint32_t last;
    int64_t ext;
};

int64_t rec_rtp_unwrap(struct rec_rtp_clock *c, uint32_t ts);
/* The 64-bit value of `ts` near the clock's current position, without moving the clock. */
int64_t rec_rtp_extend(const struct rec_rtp_clock *c, uint32_t ts);

/* ---- video ---- */

enum rec_vcodec { REC_VC_H264, REC_VC_H265 };

#define REC_PS_MAX 512 /* bytes of one parameter set */
#define REC_AU_MAX (8u << 20) /* bytes of one access unit: a frame larger than this is dropped */

struct rec_ps {
    uint8_t data[REC_PS_MAX];
    uint16_t len; /* 0: none */
};

/* One finished access unit, valid until the next call on the depacketizer. */
struct rec_au {
    const uint8_t *data;
    size_t len;
    uint32_t ts;
    bool key;     /* holds an IDR (H.264) or IRAP (H.265) picture */
    bool damaged; /* a packet of it was lost or malformed: stored anyway, as a camera sent it */
};

typedef void (*rec_au_fn)(void *ctx, const struct rec_au *au);

struct rec_vdepay {
    enum rec_vcodec codec;
    struct cv_buf au;   /* the access unit being built */
    bool have;          /* au holds data for `ts` */
    uint32_t ts;
    bool key, damaged;
    size_t nal_start;   /* offset of the 4-byte prefix of the NAL unit a FU is building */
    bool in_fu;
    bool seq_started;
    uint16_t next_seq;
    uint64_t lost, malformed, oversize;
    /* the latest parameter sets seen in the stream (H.264: sps, pps; H.265: vps, sps, pps) */
    struct rec_ps vps, sps, pps;
};

void rec_vdepay_init(struct rec_vdepay *d, enum rec_vcodec codec);
void rec_vdepay_release(struct rec_vdepay *d);

/*
 * Feed one RTP packet of the video stream. Calls `fn` for the access unit before it when its
 * timestamp differs from that unit's: a unit is delivered when the next one begins.
 */
void rec_vdepay_push(struct rec_vdepay *d, const struct rec_rtp_hdr *h, rec_au_fn fn, void *ctx);

/* The stream ended: deliver the access unit being built, if any. */
void rec_vdepay_flush(struct rec_vdepay *d, rec_au_fn fn, void *ctx);

/* Remember a parameter set from the SDP (NAL unit without start code) as if seen in-band. */
void rec_vdepay_note_ps(struct rec_vdepay *d, const uint8_t *nal, size_t len);

/*
 * The codec configuration for the muxer from parameter sets, into *out: H.264 an avcC record
 * (version 1, one SPS, one PPS); H.265 the VPS, SPS and PPS in Annex B form. Returns 0, or -1
 * when a needed parameter set is missing.
 */
int rec_vconfig(enum rec_vcodec codec, const struct rec_ps *vps, const struct rec_ps *sps,
                const struct rec_ps *pps, struct cv_buf *out);

/* ---- audio ---- */

/* RFC 3640 parameters of an MPEG4-GENERIC stream (from the SDP's fmtp). */
struct rec_aac_params {
    int sizelength, indexlength, indexdeltalength; /* bits */
    int frame_samples;                              /* 1024 */
};

/* One AAC frame, valid until the next call; ts is the frame's own RTP timestamp. */
struct rec_aframe {
    const uint8_t *data;
    size_t len;
    uint32_t ts;
};

typedef void (*rec_aframe_fn)(void *ctx, const struct rec_aframe *f);

struct rec_aac_depay {
    struct rec_aac_params p;
    struct cv_buf frag; /* a frame split over packets */
    uint32_t frag_ts;
    size_t frag_size;
    uint64_t malformed;
};

void rec_aac_init(struct rec_aac_depay *d, const struct rec_aac_params *p);
void rec_aac_release(struct rec_aac_depay *d);
/* Feed one RTP packet; calls fn for each complete AAC frame. */
void rec_aac_push(struct rec_aac_depay *d, const struct rec_rtp_hdr *h, rec_aframe_fn fn,
                  void *ctx);

#endif
