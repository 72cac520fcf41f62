/*
 * rtsp_int.h: what the RTSP client's files share and nothing outside recorder/rtsp*.c may
 * include: the connection struct (rtsp.c owns it; rtsp_streams.c fills in the streams), and the
 * text helpers of rtsp_text.c that rtsp.c calls. The thread rule of rtsp.h holds: a struct
 * rec_rtsp belongs to one thread.
 */
#ifndef REC_RTSP_INT_H
#define REC_RTSP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>

#include "recorder/rtp.h"
#include "recorder/rtsp.h"
#include "common/error.h"
#include "common/url.h"

#define QCAP 128
/* video frames read before rec_rtsp_open returns: B-frames show their reorder depth in these */
#define OPEN_FRAMES 8
#define PREROLL 32 /* audio frames kept while the first keyframe is still being assembled */

enum acodec { AC_NONE, AC_AAC, AC_PCMU, AC_PCMA };

struct url {
    struct cv_url p;  /* host, port, decoded user and password (common/url.h) */
    char clean[1024]; /* rtsp://host[:port]/path, the form used in requests */
    bool cred;
};

struct stream {
    bool used;
    int ch[2]; /* interleaved channels of RTP and RTCP */
    int pt, clock;
    char control[1024];
    struct rec_rtp_clock clk;
    bool anchored;
    int64_t base; /* the stream's timestamp of the timeline's zero */
    bool have_sr;
    uint32_t sr_ts, sr_mid;
    int64_t sr_ntp_us, sr_mono;
    bool ssrc_known;
    uint32_t ssrc;
    /* for receiver reports (RFC 3550 A.3) */
    bool seq_started;
    uint16_t max_seq;
    uint32_t cycles, base_seq, expected_prior, received_prior;
    uint64_t received;
};

struct resp {
    int status, cseq;
    bool request;
    char first[128]; /* the first line, for messages */
    char session[256], content_base[1024], auth_digest[1024], auth_basic[256], public_[512],
        transport[512];
    char *body; /* malloc'd, NUL-terminated; NULL if none */
    size_t body_len;
};

struct rec_rtsp {
    char url_safe[1024];
    int64_t connect_timeout_us, stall_timeout_us;
    bool (*stop)(void *);
    void *stop_ctx;
    struct url u;
    int fd;
    uint32_t cseq;
    char session[256];
    int64_t keepalive_us, next_keepalive, next_rr;
    bool get_parameter;
    uint32_t ka_cseq;

    int auth; /* 0 none, 1 Basic, 2 Digest */
    char realm[256], nonce[256], opaque[256];
    bool qop_auth;
    unsigned nc;

    uint8_t *rbuf;
    size_t rpos, rlen;
    int64_t recv_wall, last_media;
    size_t garbage;
    bool playing, delivering;
    bool drained; /* the last read emptied the socket (rec_rtsp_pump need not read again) */

    struct stream st[2];
    enum rec_vcodec vcodec;
    enum acodec acodec;
    struct rec_vdepay vd;
    struct rec_aac_depay ad;
    bool ad_init;
    AVCodecParameters *par[2];
    struct rec_rtsp_media media;
    struct rec_ps cfg_sps; /* the SPS the codec configuration was built from */
    int64_t epoch_mono, last_vts, au_recv, vrecv_last;
    int nvideo; /* access units delivered */
    int64_t open_pts[OPEN_FRAMES]; /* presentation times of the first ones, for media.reorder */
    bool *tcp_refused;

    AVPacket *q[QCAP];
    int qhead, qlen;
    struct preroll {
        uint8_t *data;
        size_t len;
        int64_t ext, mono, wall;
    } pre[PREROLL];
    int npre;
    int fatal;
    struct cv_err ferr;
    struct rec_rtsp_stats stats;
    uint32_t my_ssrc;
    bool no_cnonce; /* RAND_bytes failed: the Digest request must not go out */
};

/* ---- rtsp_streams.c ---- */

/* Set up the video stream (st[0]) from SDP media m: codec, depacketizer, parameter sets from
 * the fmtp, clock, time base and frame duration. 0, or CV_ESTATE naming what is unsupported. */
int rec_choose_video(struct rec_rtsp *c, const struct rec_sdp_media *m, struct cv_err *err);
/* 0: audio chosen or (when unusable by any recorder) noted as skipped; CV_ESTATE: libavformat. */
int rec_choose_audio(struct rec_rtsp *c, const struct rec_sdp_media *m, struct cv_err *err);

/* ---- rtsp_text.c ---- */

void rec_resp_release(struct resp *r);
/* Take one RTSP message from the front of c's buffer into *r: 1 taken, 0 incomplete, <0 error
 * (the head is not RTSP or is too long). */
int rec_take_message(struct rec_rtsp *c, struct resp *r, struct cv_err *err);

/* The value of param `key` in a Digest challenge ('realm="x", nonce="y"') into out; "" if
 * absent. Quoted values lose their quotes; out is always terminated. */
void rec_auth_param(const char *ch, const char *key, char *out, size_t n);

/* The value of header line line[0..nl) (after "Name:" and blanks) into out, cut to n - 1
 * bytes; out is left alone when the line has no ':'. */
void rec_header_value(const char *line, size_t nl, char *out, size_t n);

/* Whether header line line[0..nl) is header `name` (case-insensitive, followed by ':'). */
bool rec_is_header(const char *line, size_t nl, const char *name);

/* A control attribute made absolute against base, into out[0..n). */
void rec_join_url(const char *base, const char *control, char *out, size_t n);
/* Does the buffer's front look like the start of an RTSP message? 1 yes, 0 no, -1 can't tell */
int rec_looks_rtsp(const uint8_t *p, size_t n);
/* A printable copy of up to 40 bytes of p (to the first CR/LF), for messages about what a
 * server said; out is always terminated. */
void rec_printable(const uint8_t *p, size_t n, char *out, size_t cap);

#endif
