/*
 * rtsp.h: the recorder's own RTSP client.
 *
 * One camera, one TCP connection: RTSP 1.0 (RFC 2326) with RTP and RTCP interleaved on the same
 * connection (TCP transport), H.264 or H.265 video (RFC 6184, RFC 7798) and AAC (RFC 3640
 * MPEG4-GENERIC), G.711 mu-law or A-law audio, Basic and Digest (MD5) authentication. It exists
 * because libavformat's RTSP input reads each RTP packet with three recv() calls behind three
 * poll() calls and reparses every frame; this client reads the socket in large blocks (the
 * kernel wakes it only when 32 KB have arrived or 100 ms have passed), depacketizes straight
 * into the stored form and parses nothing it does not need. docs/performance.md has the figures.
 *
 * What it does not do, rec_rtsp_open reports as CV_ESTATE with the reason, and the caller falls
 * back to libavformat for that camera: UDP transport and rtsps:// are not tried here at all;
 * other codecs (MJPEG, MPEG-2 TS, MP3, L16, LATM), H.264 interleaved mode and H.265 with DONL;
 * and a server that refuses RTP over TCP (SETUP answered 461 Unsupported Transport: the caller
 * records it over UDP, see opts.tcp_refused).
 *
 * Video with reordered frames (B-frames) is delivered in decode order with its presentation
 * times, which are all RTP carries; media.reorder is the depth the first frames showed, from
 * which the caller rebuilds decode times (recorder/dts.h).
 *
 * Timestamps: video and audio share one timeline whose zero is the first keyframe delivered.
 * Audio is placed on it with the sender's RTCP reports when both streams have had one, else by
 * the arrival of its first packet.
 * A packet's receive time is when the kernel received the newest data of the read that completed
 * it (rtsp_recv.c), however late the reading thread got to it.
 *
 * Thread rules: a handle belongs to one thread at a time (rec_rtsp_open's, then the one reading:
 * the camera's with rec_rtsp_read, or an event loop's with rec_rtsp_pump, recorder/loop.h). The
 * stop callback is called from that thread.
 */
#ifndef REC_RTSP_H
#define REC_RTSP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <libavcodec/avcodec.h>

#include "common/error.h"

struct rec_rtsp;

struct rec_rtsp_opts {
    const char *url;            /* rtsp://[user[:password]@]host[:port]/path */
    const char *url_safe;       /* the same without credentials: the only form in messages */
    int64_t connect_timeout_us; /* connect, the RTSP exchange and the first keyframe */
    int64_t stall_timeout_us;   /* no media for this long: the stream is lost */
    bool (*stop)(void *ctx);    /* true ends any wait with CV_ECANCELED */
    void *stop_ctx;
    bool *tcp_refused;          /* NULL, or set when SETUP over TCP was answered 461 */
};

/* What a session delivers; valid until rec_rtsp_close. */
struct rec_rtsp_media {
    const AVCodecParameters *par[2]; /* [0] video; [1] audio, NULL when none is delivered */
    AVRational tb[2];                /* time bases of the packets' timestamps */
    int64_t frame_dur;               /* a video frame's duration in tb[0] (a=framerate or 25 fps) */
    char audio_skipped[64];          /* an audio stream offered but not delivered, and why; "" */
    int reorder; /* reorder depth of the video seen in the first frames (0: no B-frames) */
};

struct rec_rtsp_stats {
    uint64_t rtp_packets, lost_packets, malformed, oversize, bytes;
};

/*
 * Connect, DESCRIBE, SETUP, PLAY, and read until the first video keyframe, whose parameter sets
 * (in the stream or the SDP) give the codec configuration. On success *out is the session and
 * the keyframe is the first packet rec_rtsp_read returns. Errors: CV_ENET (cannot connect, not
 * RTSP, refused, closed, silent: err says which, naming opts->url_safe), CV_EMEDIA (no usable
 * video), CV_ECANCELED (stop), CV_ESTATE (needs libavformat, see above), CV_ENOMEM.
 */
int rec_rtsp_open(struct rec_rtsp **out, const struct rec_rtsp_opts *opts, struct cv_err *err);

const struct rec_rtsp_media *rec_rtsp_media(const struct rec_rtsp *c);

/*
 * The next packet, in *pkt (unreferenced by the caller first; the packet owns its data):
 * stream_index 0 video (one access unit, AV_PKT_FLAG_KEY on keyframes) or 1 audio (one frame),
 * dts = pts = the presentation time in media.tb (decode order; with B-frames presentation times
 * go back), duration 0. *recv_us is the wall-clock time (cv_now_us) its last byte came: the
 * kernel's receive time of the newest data in the read that brought it (rec_recv_stamped).
 * Blocks until a packet is ready. Returns 0, CV_ENET (lost, with the reason), CV_ECANCELED,
 * CV_ENOMEM.
 */
int rec_rtsp_read(struct rec_rtsp *c, AVPacket *pkt, int64_t *recv_us, struct cv_err *err);

/*
 * rec_rtsp_read without blocking, for an event loop (recorder/loop.h): read what the socket has
 * now (the socket keeps SO_RCVLOWAT 32 KB, so epoll reports it readable when that much has come
 * or the connection ended), parse it and hand out the next packet in *pkt (the caller owns and
 * frees it). Returns 0 with a packet, 1 when none is ready without waiting, or rec_rtsp_read's
 * errors. The keep-alives, receiver reports and the stall timeout run inside it: call it at
 * least every 100 ms (a timer tick) even when the socket is not readable.
 */
int rec_rtsp_pump(struct rec_rtsp *c, AVPacket **pkt, int64_t *recv_us, struct cv_err *err);

/* The connection's socket, to wait on (readable) beside others; never read it directly. */
int rec_rtsp_fd(const struct rec_rtsp *c);

void rec_rtsp_stats(const struct rec_rtsp *c, struct rec_rtsp_stats *out);

/* ---- receive times (rtsp_recv.c; used by the client, exposed for the unit tests) ---- */

#define REC_RECV_AGE_MAX_US (10 * INT64_C(1000000))

/* Ask the kernel to stamp what arrives on socket fd (SO_TIMESTAMPNS). Best effort: a kernel
 * that does not leaves the reads stamped with the time they returned. */
void rec_recv_stamp_on(int fd);

/*
 * recv(fd, buf, len, flags) that also sets *when_us, when it read something, to the wall-clock
 * time (cv_now_us's clock) the newest data it read arrived, as the kernel stamped it
 * (rec_recv_stamp_on), else the time it returned. Returns what recv returns, errno as recv set
 * it; *when_us is untouched unless the result is > 0.
 */
ssize_t rec_recv_stamped(int fd, void *buf, size_t len, int flags, int64_t *when_us);

/*
 * The receive time of data read at now_us that the kernel stamped kernel_us (<0: no stamp):
 * kernel_us when it is at most REC_RECV_AGE_MAX_US before now_us, else now_us (no stamp, a
 * wall clock stepped between the two, or a process whose clock is not the kernel's: faked by
 * libfaketime in the tests).
 */
int64_t rec_recv_time(int64_t now_us, int64_t kernel_us);

/* Send TEARDOWN (without waiting for the answer) and close. NULL-safe. */
void rec_rtsp_close(struct rec_rtsp *c);

/* ---- pieces exposed for unit tests ---- */

#define REC_SDP_MEDIA_MAX 8

struct rec_sdp_media {
    char type[8];       /* "video", "audio", ... */
    int pt;             /* the first payload type of the m= line */
    char encoding[32];  /* from a=rtpmap, or the static type's name (PCMU, PCMA) */
    int clock, channels;
    char fmtp[1024];
    char control[512];
    double framerate; /* a=framerate, 0 if none */
};

struct rec_sdp {
    char control[512]; /* session-level a=control, "" if none */
    int nmedia;
    struct rec_sdp_media m[REC_SDP_MEDIA_MAX];
};

/* Parse an SDP body. Returns 0, or -1 if it has no m= line. Extra media are ignored. */
int rec_sdp_parse(const char *sdp, size_t len, struct rec_sdp *out);

/* The value of `key` in an fmtp parameter list ("a=1; b=x"), into out; -1 if absent. */
int rec_fmtp_get(const char *fmtp, const char *key, char *out, size_t n);

/* Standard base64 (padding optional) into out; returns the length, or -1 if invalid/too long. */
int rec_base64_decode(const char *in, size_t inlen, uint8_t *out, size_t cap);

/* The Digest (RFC 2617, MD5) response for the given values, as 32 hex digits into out[33];
 * qop NULL for the RFC 2069 form. */
void rec_digest_response(const char *user, const char *realm, const char *pass,
                         const char *method, const char *uri, const char *nonce, const char *qop,
                         const char *nc, const char *cnonce, char out[33]);

#endif
