/*
 * ps.c: MPEG-2 program stream (ISO/IEC 13818-1 section 2.5) over RTP (RFC 3550, payload type
 * 96, 90 kHz), as GB/T 28181-2016 annex C carries media: each access unit is a pack header,
 * before a keyframe a system header and a program stream map (stream types 0x1B H.264,
 * 0x24 H.265, 0x90 G.711), then PES packets of at most ~64 KiB; the pack is cut into RTP
 * packets of at most GB_RTP_PAYLOAD bytes with the marker bit on the last.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "gb/gb_int.h"
#include "common/banned.h"

#define GB_RTP_PAYLOAD 1400
#define PES_PAYLOAD_MAX 65000
#define MUX_RATE 25000 /* program_mux_rate in 50 bytes/s: 10 Mbit/s, a bound, not enforced */

static uint32_t crc32_mpeg(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < n; i++) {
        crc ^= (uint32_t)p[i] << 24;
        for (int k = 0; k < 8; k++)
            crc = crc & 0x80000000u ? (crc << 1) ^ 0x04c11db7u : crc << 1;
    }
    return crc;
}

static void pack_header(struct cv_buf *b, uint64_t scr)
{
    uint8_t h[14] = {0, 0, 1, 0xba};

    h[4] = (uint8_t)(0x44 | ((scr >> 27) & 0x38) | ((scr >> 28) & 0x03));
    h[5] = (uint8_t)(scr >> 20);
    h[6] = (uint8_t)(((scr >> 12) & 0xf8) | 0x04 | ((scr >> 13) & 0x03));
    h[7] = (uint8_t)(scr >> 5);
    h[8] = (uint8_t)(((scr << 3) & 0xf8) | 0x04); /* SCR extension 0 */
    h[9] = 0x01;
    h[10] = (uint8_t)(MUX_RATE >> 14);
    h[11] = (uint8_t)(MUX_RATE >> 6);
    h[12] = (uint8_t)(((MUX_RATE << 2) & 0xfc) | 0x03);
    h[13] = 0xf8; /* no stuffing */
    cv_buf_put(b, h, sizeof(h));
}

static void system_header(struct cv_buf *b, bool audio)
{
    uint8_t h[18] = {0, 0, 1, 0xbb};
    size_t n = audio ? 18 : 15;

    h[4] = 0;
    h[5] = (uint8_t)(n - 6);
    h[6] = (uint8_t)(0x80 | ((MUX_RATE >> 15) & 0x7f));
    h[7] = (uint8_t)(MUX_RATE >> 7);
    h[8] = (uint8_t)(((MUX_RATE << 1) & 0xfe) | 0x01);
    h[9] = (uint8_t)((audio ? 1 : 0) << 2); /* audio_bound, not fixed, not CSPS */
    h[10] = 0xe1;                           /* locked audio and video, marker, video_bound 1 */
    h[11] = 0x7f;
    h[12] = 0xe0; /* video: buffer bound scale 1024 bytes, 400 units */
    h[13] = 0xe1;
    h[14] = 0x90;
    if (audio) {
        h[15] = 0xc0; /* audio: scale 128 bytes, 32 units */
        h[16] = 0xc0;
        h[17] = 0x20;
    }
    cv_buf_put(b, h, n);
}

static void stream_map(struct cv_buf *b, enum gb_ps_codec video, bool audio)
{
    uint8_t m[24] = {0, 0, 1, 0xbc};
    size_t es = audio ? 8 : 4, n = 16 + es; /* through the CRC */
    uint32_t crc;

    m[4] = (uint8_t)((n - 6) >> 8);
    m[5] = (uint8_t)(n - 6);
    m[6] = 0xe0; /* current_next_indicator, version 0 */
    m[7] = 0xff;
    m[8] = m[9] = 0; /* no program_stream_info */
    m[10] = 0;
    m[11] = (uint8_t)es;
    m[12] = (uint8_t)video;
    m[13] = 0xe0;
    m[14] = m[15] = 0;
    if (audio) {
        m[16] = 0x90; /* G.711 (GB/T 28181 annex C) */
        m[17] = 0xc0;
        m[18] = m[19] = 0;
    }
    crc = crc32_mpeg(m, n - 4);
    cv_put_be32(m + n - 4, crc);
    cv_buf_put(b, m, n);
}

static void put_ts(uint8_t *p, unsigned prefix, uint64_t ts)
{
    p[0] = (uint8_t)((prefix << 4) | (((ts >> 30) & 7) << 1) | 1);
    p[1] = (uint8_t)(ts >> 22);
    p[2] = (uint8_t)((((ts >> 15) & 0x7f) << 1) | 1);
    p[3] = (uint8_t)(ts >> 7);
    p[4] = (uint8_t)(((ts & 0x7f) << 1) | 1);
}

/* PES packets of stream `sid` for data[0..len): the first carries PTS (and DTS when it
 * differs), the rest none. */
static void pes(struct cv_buf *b, uint8_t sid, const uint8_t *data, size_t len, uint64_t pts,
                uint64_t dts)
{
    bool first = true;

    do {
        size_t k = len < PES_PAYLOAD_MAX ? len : PES_PAYLOAD_MAX;
        size_t hl = first ? (pts != dts ? 10 : 5) : 0;
        uint8_t h[19] = {0, 0, 1, sid};
        h[4] = (uint8_t)((3 + hl + k) >> 8);
        h[5] = (uint8_t)(3 + hl + k);
        h[6] = 0x80;
        h[7] = (uint8_t)(hl == 10 ? 0xc0 : hl == 5 ? 0x80 : 0);
        h[8] = (uint8_t)hl;
        if (hl)
            put_ts(h + 9, hl == 10 ? 3 : 2, pts);
        if (hl == 10)
            put_ts(h + 14, 1, dts);
        cv_buf_put(b, h, 9 + hl);
        cv_buf_put(b, data, k);
        data += k;
        len -= k;
        first = false;
    } while (len);
}

void gb_ps_pack(struct cv_buf *out, const struct gb_ps *ps, uint8_t stream_id, const uint8_t *au,
                size_t len, uint64_t pts, uint64_t dts, bool key)
{
    pack_header(out, dts > 9000 ? dts - 9000 : 0); /* SCR a little before the decode time */
    if (key) {
        system_header(out, ps->g711);
        stream_map(out, ps->video, ps->g711);
    }
    pes(out, stream_id, au, len, pts & 0x1ffffffffULL, dts & 0x1ffffffffULL);
}

void gb_ps_init(struct gb_ps *ps, int sock, const struct sockaddr_in *dest, uint32_t ssrc,
                enum gb_ps_codec video, bool g711)
{
    memset(ps, 0, sizeof(*ps));
    ps->sock = sock;
    ps->dest = *dest;
    ps->ssrc = ssrc;
    ps->video = video;
    ps->g711 = g711;
    cv_buf_init(&ps->out, 64u << 20);
}

void gb_ps_release(struct gb_ps *ps)
{
    cv_buf_release(&ps->out);
}

/* One RTP packet on a TCP connection: its length (16 bits) then the packet (RFC 4571). The
 * socket's send timeout (5 s) ends a stream whose platform stops reading. */
static int send_framed(struct gb_ps *ps, const uint8_t *pkt, size_t n, struct cv_err *err)
{
    uint8_t len[2] = {(uint8_t)(n >> 8), (uint8_t)n};
    struct iovec iov[2] = {{len, 2}, {(void *)pkt, n}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    size_t left = n + 2;

    while (left) {
        ssize_t w = sendmsg(ps->sock, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return cv_errf(err, CV_ENET, "gb: RTP over TCP to the platform: %s",
                           w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
                               ? "it stopped reading (5 s)" : strerror(errno));
        left -= (size_t)w;
        while (w > 0 && mh.msg_iovlen) { /* drop what was sent from the front */
            size_t k = (size_t)w < mh.msg_iov[0].iov_len ? (size_t)w : mh.msg_iov[0].iov_len;
            mh.msg_iov[0].iov_base = (uint8_t *)mh.msg_iov[0].iov_base + k;
            mh.msg_iov[0].iov_len -= k;
            w -= (ssize_t)k;
            if (!mh.msg_iov[0].iov_len) {
                mh.msg_iov++;
                mh.msg_iovlen--;
            }
        }
    }
    return 0;
}

/* The pack in ps->out as RTP packets timed ts. */
static int send_rtp(struct gb_ps *ps, uint32_t ts, struct cv_err *err)
{
    uint8_t pkt[12 + GB_RTP_PAYLOAD];
    size_t off = 0;

    if (!cv_buf_ok(&ps->out))
        return cv_errf(err, CV_ELIMIT, "gb: an access unit is too large for a PS pack");
    while (off < ps->out.len) {
        size_t k = ps->out.len - off < GB_RTP_PAYLOAD ? ps->out.len - off : GB_RTP_PAYLOAD;
        bool last = off + k == ps->out.len;
        pkt[0] = 0x80;
        pkt[1] = (uint8_t)((last ? 0x80 : 0) | 96);
        pkt[2] = (uint8_t)(ps->seq >> 8);
        pkt[3] = (uint8_t)ps->seq;
        cv_put_be32(pkt + 4, ts);
        cv_put_be32(pkt + 8, ps->ssrc);
        memcpy(pkt + 12, ps->out.data + off, k);
        if (ps->tcp) {
            int rc = send_framed(ps, pkt, 12 + k, err);
            if (rc < 0)
                return rc;
        } else if (sendto(ps->sock, pkt, 12 + k, 0, (const struct sockaddr *)&ps->dest,
                          sizeof(ps->dest)) < 0 && errno != ENOBUFS && errno != EAGAIN) {
            return cv_errf(err, CV_ENET, "gb: RTP to the platform: %s", strerror(errno));
        }
        ps->seq++;
        ps->packets++;
        ps->bytes += 12 + k;
        off += k;
    }
    return 0;
}

int gb_ps_video(struct gb_ps *ps, const uint8_t *au, size_t len, uint64_t pts, uint64_t dts,
                bool key, struct cv_err *err)
{
    cv_buf_reset(&ps->out);
    gb_ps_pack(&ps->out, ps, 0xe0, au, len, pts, dts, key);
    ps->frames++;
    return send_rtp(ps, (uint32_t)pts, err);
}

int gb_ps_audio(struct gb_ps *ps, const uint8_t *data, size_t len, uint64_t pts,
                struct cv_err *err)
{
    cv_buf_reset(&ps->out);
    gb_ps_pack(&ps->out, ps, 0xc0, data, len, pts, pts, false);
    return send_rtp(ps, (uint32_t)pts, err);
}
