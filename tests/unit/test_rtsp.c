/*
 * test_rtsp.c: the recorder's own RTSP client, its pure parts (recorder/rtp.h, recorder/rtsp.h).
 *
 * What a camera sends decides what is stored, so each step is checked against bytes written out
 * by hand from the RFCs: the RTP header (RFC 3550), timestamp unwrapping, H.264 (RFC 6184) and
 * H.265 (RFC 7798) access units in the form MP4 stores (4-byte lengths), the avcC record, AAC
 * frames from MPEG4-GENERIC (RFC 3640), the SDP of camsim and of gst-rtsp-server, fmtp values,
 * base64 and the Digest response (RFC 2617, RFC 2069). Every packet is copied into a buffer of
 * exactly its size first, so that a read past its end is an ASan report, not a silent pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recorder/rtp.h"
#include "recorder/rtsp.h"
#include "tests/unit/unit.h"
#include "common/banned.h"


/* ---- helpers ---- */

/* A heap copy of exactly n bytes (n may be 0); the caller frees it. */
static uint8_t *exact_copy(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);

    if (!c)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

/* Hex digits, spaces between bytes allowed, into out[cap]; the byte count. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;

    while (*hex) {
        if (*hex == ' ') {
            hex++;
            continue;
        }
        char pair[3] = {hex[0], hex[1], 0};
        if (n == cap || !hex[1] || cv_unhex(pair, out + n, 1) != 0) {
            unit_fail(__FILE__, __LINE__, "bad test data near '%s'", hex);
            return n;
        }
        n++;
        hex += 2;
    }
    return n;
}

/* What the depacketizer delivered, copied out of its buffer. */
#define GOT_MAX 8
#define GOT_BYTES 1024

struct got_au {
    uint8_t data[GOT_BYTES];
    size_t len;
    uint32_t ts;
    bool key, damaged;
};

struct au_log {
    int n;
    struct got_au au[GOT_MAX];
};

static void collect_au(void *ctx, const struct rec_au *au)
{
    struct au_log *l = ctx;

    if (l->n == GOT_MAX || au->len > GOT_BYTES) {
        unit_fail(__FILE__, __LINE__, "unexpected access unit %d of %zu bytes", l->n, au->len);
        return;
    }
    memcpy(l->au[l->n].data, au->data, au->len);
    l->au[l->n].len = au->len;
    l->au[l->n].ts = au->ts;
    l->au[l->n].key = au->key;
    l->au[l->n].damaged = au->damaged;
    l->n++;
}

/* Feed one video payload as the RTP packet (seq, ts) from an exact-size copy. */
static void push_video(struct rec_vdepay *d, uint16_t seq, uint32_t ts, bool marker,
                       const uint8_t *pl, size_t n, struct au_log *log)
{
    uint8_t *copy = exact_copy(pl, n);
    struct rec_rtp_hdr h = {
        .marker = marker, .seq = seq, .ts = ts, .pt = 96, .payload = copy, .len = n};

    rec_vdepay_push(d, &h, collect_au, log);
    free(copy);
}

/* One RTP packet of a video stream: sequence number, timestamp, payload in hex, marker bit. */
struct vpkt {
    uint16_t seq;
    uint32_t ts;
    const char *hex;
    bool marker;
};

static void push_all(struct rec_vdepay *d, const struct vpkt *pk, size_t n, struct au_log *log)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t b[256];
        size_t len = unhex(pk[i].hex, b, sizeof(b));
        push_video(d, pk[i].seq, pk[i].ts, pk[i].marker, b, len, log);
    }
}

/* One expected access unit, compared byte for byte. */
struct want_au {
    uint32_t ts;
    bool key, damaged;
    const char *hex;
};

static void check_au(const struct au_log *l, int i, const struct want_au *w)
{
    const struct got_au *g;
    uint8_t b[256];
    size_t len = unhex(w->hex, b, sizeof(b));

    if (i >= l->n) {
        unit_fail(__FILE__, __LINE__, "access unit %d missing (%d delivered)", i, l->n);
        return;
    }
    g = &l->au[i];
    CHECK_MSG(g->ts == w->ts, "AU %d: ts %u, want %u", i, g->ts, w->ts);
    CHECK_MSG(g->key == w->key, "AU %d: key %d, want %d", i, g->key, w->key);
    CHECK_MSG(g->damaged == w->damaged, "AU %d: damaged %d, want %d", i, g->damaged, w->damaged);
    CHECK_MSG(g->len == len && memcmp(g->data, b, len) == 0,
              "AU %d: %zu bytes, want %zu, or the bytes differ", i, g->len, len);
}

/* The camsim stream's parameter sets (its SDP's sprop-parameter-sets, decoded). */
#define CAM_SPS "6764001facb402802dd808800000030080000019078c1950"
#define CAM_PPS "68ef3cb0"

/* ---- RTP header ---- */

void test_rtsp_rtp_parse(void)
{
    static const struct {
        const char *what;
        int rc;
        size_t off, len; /* payload position when rc == 0 */
        const char *hex;
    } cases[] = {
        {"plain", 0, 12, 3, "80e01234 deadbeef 01020304 aabbcc"},
        {"header only, empty payload", 0, 12, 0, "80600001 00000000 00000000"},
        {"2 CSRCs, extension of 1 word, 3 bytes of padding", 0, 28, 2,
         "b2600001 00000000 00000000 01010101 02020202 bede0001 09090909 aabb 000003"},
        {"padding only", 0, 12, 1, "a0600001 00000000 00000000 aa 000003"},
        {"padding takes the whole payload", 0, 12, 0, "a0600001 00000000 00000000 000003"},
        {"empty extension", 0, 16, 1, "90600001 00000000 00000000 10000000 77"},
        {"version 1", -1, 0, 0, "40600001 00000000 00000000 aa"},
        {"version 0", -1, 0, 0, "00600001 00000000 00000000 aa"},
        {"version 3", -1, 0, 0, "c0600001 00000000 00000000 aa"},
        {"11 bytes", -1, 0, 0, "80600001 00000000 000000"},
        {"empty", -1, 0, 0, ""},
        {"padding longer than the packet", -1, 0, 0, "a0600001 00000000 00000000 aa10"},
        {"padding reaching into the header", -1, 0, 0, "a0600001 00000000 00000000 03"},
        {"padding count 0", -1, 0, 0, "a0600001 00000000 00000000 aa00"},
        {"extension length past the end", -1, 0, 0, "90600001 00000000 00000000 bede0002 01020304"},
        {"extension header cut", -1, 0, 0, "90600001 00000000 00000000 bede"},
        {"15 CSRCs in 16 bytes", -1, 0, 0, "8f600001 00000000 00000000 01020304"},
        {"15 CSRCs and an extension in 16 bytes", -1, 0, 0, "9f600001 00000000 00000000 01020304"},
        {"extension then padding past it", -1, 0, 0, "b0600001 00000000 00000000 bede0000 02"},
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        uint8_t b[64], *p;
        size_t n = unhex(cases[i].hex, b, sizeof(b));
        struct rec_rtp_hdr h;
        int rc;

        p = exact_copy(b, n);
        memset(&h, 0, sizeof(h));
        rc = rec_rtp_parse(p, n, &h);
        CHECK_MSG(rc == cases[i].rc, "%s: rc %d, want %d", cases[i].what, rc, cases[i].rc);
        if (rc == 0 && cases[i].rc == 0) {
            CHECK_MSG(h.payload == p + cases[i].off, "%s: payload at %td, want %zu", cases[i].what,
                      h.payload - p, cases[i].off);
            CHECK_MSG(h.len == cases[i].len, "%s: payload length %zu, want %zu", cases[i].what,
                      h.len, cases[i].len);
        }
        free(p);
    }

    /* The fields of the plain packet, and of one without marker, payload type 0. */
    {
        uint8_t b[64];
        size_t n = unhex(cases[0].hex, b, sizeof(b));
        struct rec_rtp_hdr h;

        CHECK_EQ_INT(rec_rtp_parse(b, n, &h), 0);
        CHECK(h.marker);
        CHECK_EQ_INT(h.pt, 96);
        CHECK_EQ_INT(h.seq, 0x1234);
        CHECK_EQ_U64(h.ts, 0xdeadbeefu);
        CHECK_EQ_U64(h.ssrc, 0x01020304u);
        CHECK(h.payload[0] == 0xaa && h.payload[2] == 0xcc);

        n = unhex("8000ffff 00000001 00000002 55", b, sizeof(b));
        CHECK_EQ_INT(rec_rtp_parse(b, n, &h), 0);
        CHECK(!h.marker);
        CHECK_EQ_INT(h.pt, 0);
        CHECK_EQ_INT(h.seq, 0xffff);
        CHECK_EQ_U64(h.ts, 1);
        CHECK_EQ_U64(h.ssrc, 2);
    }
}

/* ---- timestamps ---- */

void test_rtsp_rtp_unwrap(void)
{
    static const struct {
        uint32_t ts;
        int64_t want;
    } steps[] = {
        {0xfffff000u, INT64_C(0xfffff000)},  /* the first one is taken as is */
        {0xfffffbb8u, INT64_C(0xfffffbb8)},  /* + 3000 */
        {0x00000770u, INT64_C(0x100000770)}, /* + 3000 across 2^32 */
        {0x00000100u, INT64_C(0x100000100)}, /* a small step back */
        {0xffffff00u, INT64_C(0xffffff00)},  /* back across 2^32 */
        {0x00010000u, INT64_C(0x100010000)}, /* forward across 2^32 again */
        {0x7fff0000u, INT64_C(0x17fff0000)}, /* a large step forward */
        {0x80000000u, INT64_C(0x180000000)}, /* past 2^31 */
        {0xf0000000u, INT64_C(0x1f0000000)},
        {0x00000000u, INT64_C(0x200000000)}, /* the second wrap */
    };
    struct rec_rtp_clock c = {0};

    CHECK_EQ_INT(rec_rtp_extend(&c, 1234), 1234); /* not started: the value itself */
    for (size_t i = 0; i < NELEM(steps); i++) {
        int64_t got = rec_rtp_unwrap(&c, steps[i].ts);
        CHECK_MSG(got == steps[i].want, "step %zu (ts 0x%08x): %" PRId64 ", want %" PRId64, i,
                  steps[i].ts, got, steps[i].want);
    }
    /* extend looks either way from the position without moving it. */
    CHECK_EQ_INT(rec_rtp_extend(&c, 0xffffff00u), INT64_C(0x1ffffff00));
    CHECK_EQ_INT(rec_rtp_extend(&c, 0x00000100u), INT64_C(0x200000100));
    CHECK_EQ_INT(c.ext, INT64_C(0x200000000));
    CHECK_EQ_INT(rec_rtp_unwrap(&c, 3000), INT64_C(0x200000000) + 3000);

    /* A step back before the first timestamp goes below it (negative), it does not jump 2^32. */
    {
        struct rec_rtp_clock d = {0};
        CHECK_EQ_INT(rec_rtp_unwrap(&d, 100), 100);
        CHECK_EQ_INT(rec_rtp_unwrap(&d, 0xfffffff0u), -16);
        CHECK_EQ_INT(rec_rtp_extend(&d, 84), 84);
    }
}

/* ---- H.264 ---- */

void test_rtsp_h264_depay(void)
{
    /* SPS and PPS in a STAP-A, an IDR in three FU-As across the 16-bit sequence wrap, the
     * marker on the last FU-A (not trusted to end the unit), then SEI + P slice. */
    static const struct vpkt pk[] = {
        {65534, 1000, "78 0018 " CAM_SPS " 0004 " CAM_PPS, false},
        {65535, 1000, "7c 85 888400", false},
        {0, 1000, "7c 05 112233", false},
        {1, 1000, "7c 45 445566", true},
        {2, 4000, "06050180", false},
        {3, 4000, "419a0102", true},
    };
    static const struct want_au au0 = {1000, true, false,
                                       "00000018 " CAM_SPS " 00000004 " CAM_PPS
                                       " 0000000a 65 888400 112233 445566"};
    static const struct want_au au1 = {4000, false, false, "00000004 06050180 00000004 419a0102"};
    struct rec_vdepay d;
    struct au_log log = {0};
    uint8_t sps[64], pps[16];
    size_t sps_len = unhex(CAM_SPS, sps, sizeof(sps)), pps_len = unhex(CAM_PPS, pps, sizeof(pps));

    rec_vdepay_init(&d, REC_VC_H264);
    push_all(&d, pk, 4, &log);
    CHECK_EQ_INT(log.n, 0); /* the marker does not end it */
    push_all(&d, pk + 4, 1, &log);
    CHECK_EQ_INT(log.n, 1); /* the next timestamp does */
    check_au(&log, 0, &au0);
    push_all(&d, pk + 5, 1, &log);
    CHECK_EQ_INT(log.n, 1);
    rec_vdepay_flush(&d, collect_au, &log);
    CHECK_EQ_INT(log.n, 2);
    check_au(&log, 1, &au1);
    rec_vdepay_flush(&d, collect_au, &log);
    CHECK_EQ_INT(log.n, 2); /* nothing left */
    CHECK(d.sps.len == sps_len && memcmp(d.sps.data, sps, sps_len) == 0);
    CHECK(d.pps.len == pps_len && memcmp(d.pps.data, pps, pps_len) == 0);
    CHECK_EQ_U64(d.lost, 0);
    CHECK_EQ_U64(d.malformed, 0);
    CHECK_EQ_U64(d.oversize, 0);
    rec_vdepay_release(&d);
}

void test_rtsp_h264_loss(void)
{
    static const struct vpkt pk[] = {
        /* AU ts 1000: SEI, IDR over FU-A whose middle (seq 12) is lost, P slice */
        {10, 1000, "06050180", false},
        {11, 1000, "7c 85 888400", false},
        {13, 1000, "7c 45 445566", false},
        {14, 1000, "419a0102", false},
        /* AU ts 4000: a FU-A without its start (none lost in sequence), a slice */
        {15, 4000, "5c 01 aabb", false},
        {16, 4000, "5c 41 ccdd", false},
        {17, 4000, "419b0304", false},
        {17, 4000, "41ffffff", false},     /* duplicate: ignored */
        {12, 1000, "7c 05 112233", false}, /* the lost one, late: ignored */
        {16, 4000, "41eeeeee", false},     /* old: ignored */
        /* AU ts 7000: STAP-A whose second size runs one byte past the end; a FU-A of 1 byte */
        {18, 7000, "78 0004 419c0506 0003 419d", false},
        {19, 7000, "7c", false},
        /* AU ts 10000: a FU-A start while one is open (its end never sent): the first dropped */
        {20, 10000, "7c 85 0102", false},
        {21, 10000, "7c 85 0304", false},
        {22, 10000, "7c 45 0506", true},
        /* AU ts 13000: a slice, then a FU-A that the next timestamp cuts off */
        {23, 13000, "419d0708", false},
        {24, 13000, "7c 85 090a", false},
        {25, 16000, "419f", true},
    };
    static const struct want_au want[] = {
        {1000, false, true, "00000004 06050180 00000004 419a0102"},
        {4000, false, true, "00000004 419b0304"},
        {7000, false, true, "00000004 419c0506"},
        {10000, true, true, "00000005 65 0304 0506"},
        {13000, false, true, "00000004 419d0708"},
        {16000, false, false, "00000002 419f"},
    };
    struct rec_vdepay d;
    struct au_log log = {0};

    rec_vdepay_init(&d, REC_VC_H264);
    push_all(&d, pk, NELEM(pk), &log);
    rec_vdepay_flush(&d, collect_au, &log);
    CHECK_EQ_INT(log.n, (int)NELEM(want));
    for (size_t i = 0; i < NELEM(want); i++)
        check_au(&log, (int)i, &want[i]);
    CHECK_EQ_U64(d.lost, 1);
    CHECK_EQ_U64(d.malformed, 2);
    CHECK_EQ_INT(d.sps.len, 0);
    rec_vdepay_release(&d);
}

/* A unit larger than REC_AU_MAX is counted and dropped; the next one comes out whole. */
void test_rtsp_h264_oversize(void)
{
    const size_t frag = 1u << 20;
    const int nfrag = (int)(REC_AU_MAX / frag) + 1;
    uint8_t *p = calloc(1, frag + 2);
    static const uint8_t slice[] = {0x41, 0x9a, 0x01, 0x02};
    static const struct want_au next = {2000, false, false, "00000004 419a0102"};
    struct rec_vdepay d;
    struct au_log log = {0};
    uint16_t seq = 0;

    if (!p)
        abort();
    rec_vdepay_init(&d, REC_VC_H264);
    p[0] = 0x7c;
    for (int i = 0; i < nfrag; i++) {
        p[1] = (uint8_t)(0x05 | (i == 0 ? 0x80 : 0) | (i == nfrag - 1 ? 0x40 : 0));
        push_video(&d, seq++, 1000, i == nfrag - 1, p, frag + 2, &log);
    }
    push_video(&d, seq++, 2000, true, slice, sizeof(slice), &log);
    rec_vdepay_flush(&d, collect_au, &log);
    CHECK_EQ_U64(d.oversize, 1);
    CHECK_EQ_INT(log.n, 1);
    check_au(&log, 0, &next);
    rec_vdepay_release(&d);
    free(p);
}

/* ---- H.265 ---- */

#define H265_VPS "40010c01ffff"
#define H265_SPS "420101016000"
#define H265_PPS "4401c172"

void test_rtsp_h265_depay(void)
{
    static const struct vpkt pk[] = {
        /* AP (type 48) with VPS, SPS, PPS */
        {100, 9000, "6001 0006 " H265_VPS " 0006 " H265_SPS " 0004 " H265_PPS, false},
        /* FU (type 49) of an IDR_W_RADL (19): start, middle, end */
        {101, 9000, "6201 93 af0102", false},
        {102, 9000, "6201 13 0304", false},
        {103, 9000, "6201 53 0506", true},
        /* a TRAIL_R single NAL, then a FU of TRAIL_R with LayerId bit 5 set and TID 3 */
        {104, 12000, "0201 d011", false},
        {105, 12000, "6303 81 aa", false},
        {106, 12000, "6303 41 bb", true},
        /* a CRA (21) single NAL: also a random access point */
        {107, 15000, "2a01 e022", true},
    };
    static const struct want_au want[] = {
        {9000, true, false,
         "00000006 " H265_VPS " 00000006 " H265_SPS " 00000004 " H265_PPS
         " 00000009 2601 af0102 0304 0506"},
        {12000, false, false, "00000004 0201d011 00000004 0303aabb"},
        {15000, true, false, "00000004 2a01e022"},
    };
    uint8_t vps[16], sps[16], pps[16];
    size_t vps_len = unhex(H265_VPS, vps, sizeof(vps)), sps_len = unhex(H265_SPS, sps, sizeof(sps)),
           pps_len = unhex(H265_PPS, pps, sizeof(pps));
    struct rec_vdepay d;
    struct au_log log = {0};

    rec_vdepay_init(&d, REC_VC_H265);
    push_all(&d, pk, NELEM(pk), &log);
    rec_vdepay_flush(&d, collect_au, &log);
    CHECK_EQ_INT(log.n, (int)NELEM(want));
    for (size_t i = 0; i < NELEM(want); i++)
        check_au(&log, (int)i, &want[i]);
    CHECK(d.vps.len == vps_len && memcmp(d.vps.data, vps, vps_len) == 0);
    CHECK(d.sps.len == sps_len && memcmp(d.sps.data, sps, sps_len) == 0);
    CHECK(d.pps.len == pps_len && memcmp(d.pps.data, pps, pps_len) == 0);
    CHECK_EQ_U64(d.lost, 0);
    CHECK_EQ_U64(d.malformed, 0);
    rec_vdepay_release(&d);

    /* Two lost middle FUs drop the IDR; the AU keeps its parameter sets, is not a keyframe. */
    {
        static const struct vpkt lossy[] = {
            {1, 9000, "6001 0006 " H265_VPS " 0006 " H265_SPS " 0004 " H265_PPS, false},
            {2, 9000, "6201 93 af0102", false},
            {5, 9000, "6201 53 0506", false},
            {6, 9000, "62", true}, /* too short for a payload header */
        };
        static const struct want_au sets = {
            9000, false, true, "00000006 " H265_VPS " 00000006 " H265_SPS " 00000004 " H265_PPS};
        struct au_log l2 = {0};

        rec_vdepay_init(&d, REC_VC_H265);
        push_all(&d, lossy, NELEM(lossy), &l2);
        rec_vdepay_flush(&d, collect_au, &l2);
        CHECK_EQ_INT(l2.n, 1);
        check_au(&l2, 0, &sets);
        CHECK_EQ_U64(d.lost, 2);
        CHECK_EQ_U64(d.malformed, 1);
        rec_vdepay_release(&d);
    }
}

/* ---- codec configuration ---- */

void test_rtsp_vconfig(void)
{
    static const char *sprops[] = {"Z2QAH6y0AoAt2AiAAAADAIAAABkHjBlQ", "aO88sA=="};
    uint8_t avcc[128];
    size_t avcc_len =
        unhex("01 64001f ff e1 0018 " CAM_SPS " 01 0004 " CAM_PPS, avcc, sizeof(avcc));
    struct rec_ps none = {{0}, 0};
    struct rec_vdepay d;
    struct cv_buf out;

    /* Parameter sets from the SDP, as choose_video gives them. */
    rec_vdepay_init(&d, REC_VC_H264);
    for (size_t i = 0; i < NELEM(sprops); i++) {
        uint8_t nal[REC_PS_MAX];
        int n = rec_base64_decode(sprops[i], strlen(sprops[i]), nal, sizeof(nal));
        CHECK(n > 0);
        if (n > 0)
            rec_vdepay_note_ps(&d, nal, (size_t)n);
    }
    CHECK(!d.key);
    CHECK(!d.have);
    cv_buf_init(&out, 4096);
    CHECK_EQ_INT(rec_vconfig(REC_VC_H264, &d.vps, &d.sps, &d.pps, &out), 0);
    CHECK_EQ_INT(out.len, avcc_len);
    if (out.len == avcc_len)
        CHECK_EQ_MEM(out.data, avcc, avcc_len);

    /* Missing sets, and an SPS too short to hold profile, compatibility and level. */
    cv_buf_reset(&out);
    CHECK_EQ_INT(rec_vconfig(REC_VC_H264, &none, &d.sps, &none, &out), -1);
    CHECK_EQ_INT(rec_vconfig(REC_VC_H264, &none, &none, &d.pps, &out), -1);
    {
        struct rec_ps shortsps = {{0x67, 0x64, 0x00}, 3};
        CHECK_EQ_INT(rec_vconfig(REC_VC_H264, &none, &shortsps, &d.pps, &out), -1);
    }
    /* A buffer too small is an error, not a partial record. */
    {
        struct cv_buf tiny;
        cv_buf_init(&tiny, 16);
        CHECK_EQ_INT(rec_vconfig(REC_VC_H264, &none, &d.sps, &d.pps, &tiny), -1);
        cv_buf_release(&tiny);
    }
    rec_vdepay_release(&d);

    /* H.265: the three sets in Annex B form, VPS first. */
    {
        struct rec_ps vps = {{0x40, 0x01, 0x0c}, 3}, sps = {{0x42, 0x01, 0x01, 0x01}, 4},
                      pps = {{0x44, 0x01}, 2};
        uint8_t want[64];
        size_t want_len =
            unhex("00000001 40010c 00000001 42010101 00000001 4401", want, sizeof(want));

        cv_buf_reset(&out);
        CHECK_EQ_INT(rec_vconfig(REC_VC_H265, &vps, &sps, &pps, &out), 0);
        CHECK_EQ_INT(out.len, want_len);
        if (out.len == want_len)
            CHECK_EQ_MEM(out.data, want, want_len);
        cv_buf_reset(&out);
        CHECK_EQ_INT(rec_vconfig(REC_VC_H265, &none, &sps, &pps, &out), -1);
        CHECK_EQ_INT(rec_vconfig(REC_VC_H265, &vps, &sps, &none, &out), -1);
        CHECK_EQ_INT(rec_vconfig(REC_VC_H265, &vps, &none, &pps, &out), -1);
    }
    cv_buf_release(&out);
}

/* ---- AAC ---- */

#define AF_MAX 8

struct af_log {
    int n;
    struct {
        uint8_t data[512];
        size_t len;
        uint32_t ts;
    } f[AF_MAX];
};

static void collect_af(void *ctx, const struct rec_aframe *f)
{
    struct af_log *l = ctx;

    if (l->n == AF_MAX || f->len > sizeof(l->f[0].data)) {
        unit_fail(__FILE__, __LINE__, "unexpected AAC frame %d of %zu bytes", l->n, f->len);
        return;
    }
    memcpy(l->f[l->n].data, f->data, f->len);
    l->f[l->n].len = f->len;
    l->f[l->n].ts = f->ts;
    l->n++;
}

static void push_aac(struct rec_aac_depay *d, uint32_t ts, bool marker, const uint8_t *pl, size_t n,
                     struct af_log *log)
{
    uint8_t *copy = exact_copy(pl, n);
    struct rec_rtp_hdr h = {.marker = marker, .ts = ts, .pt = 97, .payload = copy, .len = n};

    rec_aac_push(d, &h, collect_af, log);
    free(copy);
}

static void push_aac_hex(struct rec_aac_depay *d, uint32_t ts, bool marker, const char *hex,
                         struct af_log *log)
{
    uint8_t b[256];
    size_t n = unhex(hex, b, sizeof(b));

    push_aac(d, ts, marker, b, n, log);
}

/* Frame i of the log is `hex` at timestamp ts. */
static void check_af(const struct af_log *l, int i, uint32_t ts, const char *hex)
{
    uint8_t b[256];
    size_t n = unhex(hex, b, sizeof(b));

    if (i >= l->n) {
        unit_fail(__FILE__, __LINE__, "AAC frame %d missing (%d delivered)", i, l->n);
        return;
    }
    CHECK_MSG(l->f[i].ts == ts, "frame %d: ts %u, want %u", i, l->f[i].ts, ts);
    CHECK_MSG(l->f[i].len == n && memcmp(l->f[i].data, b, n) == 0,
              "frame %d: %zu bytes, want %zu, or the bytes differ", i, l->f[i].len, n);
}

void test_rtsp_aac_depay(void)
{
    const struct rec_aac_params hbr = {13, 3, 3, 1024}, small = {6, 2, 0, 0};
    struct rec_aac_depay d;
    struct af_log log = {0};

    /* AAC-hbr (13/3/3): 48 bits of AU headers for AUs of 5, 3 and 4 bytes (size << 3 | index),
     * the timestamps crossing 2^32. */
    rec_aac_init(&d, &hbr);
    push_aac_hex(&d, 0xfffffc00u, true, "0030 0028 0018 0020 a1a2a3a4a5 b1b2b3 c1c2c3c4", &log);
    CHECK_EQ_INT(log.n, 3);
    check_af(&log, 0, 0xfffffc00u, "a1a2a3a4a5");
    check_af(&log, 1, 0u, "b1b2b3");
    check_af(&log, 2, 1024u, "c1c2c3c4");
    CHECK_EQ_U64(d.malformed, 0);
    rec_aac_release(&d);

    /* 6/2/0: the second header has no index bits (14 bits in all), sizes 2 and 3; frame_samples
     * 0 means the default 1024. */
    memset(&log, 0, sizeof(log));
    rec_aac_init(&d, &small);
    push_aac_hex(&d, 5000, true, "000e 080c d1d2 e1e2e3", &log);
    CHECK_EQ_INT(log.n, 2);
    check_af(&log, 0, 5000, "d1d2");
    check_af(&log, 1, 5000 + 1024, "e1e2e3");
    CHECK_EQ_U64(d.malformed, 0);
    rec_aac_release(&d);
}

void test_rtsp_aac_fragments(void)
{
    /* One AU of 300 bytes (header 300 << 3 = 0x0960) over two packets, the marker on the last. */
    const struct rec_aac_params hbr = {13, 3, 3, 1024};
    uint8_t frame[300], a[4 + 200], b[4 + 100];
    struct rec_aac_depay d;
    struct af_log log = {0};

    for (size_t i = 0; i < sizeof(frame); i++)
        frame[i] = (uint8_t)(i * 7 + 1);
    unhex("0010 0960", a, 4);
    memcpy(b, a, 4);
    memcpy(a + 4, frame, 200);
    memcpy(b + 4, frame + 200, 100);

    rec_aac_init(&d, &hbr);
    push_aac(&d, 7000, false, a, sizeof(a), &log);
    CHECK_EQ_INT(log.n, 0);
    push_aac(&d, 7000, true, b, sizeof(b), &log);
    CHECK_EQ_INT(log.n, 1);
    if (log.n == 1) {
        CHECK_EQ_INT(log.f[0].len, 300);
        CHECK_EQ_MEM(log.f[0].data, frame, 300);
        CHECK_EQ_U64(log.f[0].ts, 7000u);
    }
    CHECK_EQ_U64(d.malformed, 0);

    /* The first 100 bytes, then the last 100 (the middle lost): nothing, malformed. */
    push_aac(&d, 8024, false, a, 4 + 100, &log);
    push_aac(&d, 8024, true, b, sizeof(b), &log);
    CHECK_EQ_INT(log.n, 1);
    CHECK_EQ_U64(d.malformed, 1);

    /* Afterwards a whole frame comes through. */
    push_aac_hex(&d, 9048, true, "0010 0018 010203", &log);
    CHECK_EQ_INT(log.n, 2);
    check_af(&log, 1, 9048, "010203");
    rec_aac_release(&d);
}

void test_rtsp_aac_malformed(void)
{
    static const struct {
        const char *what;
        int frames; /* delivered before the damage was seen */
        const char *hex;
    } cases[] = {
        {"one AU of 10 bytes, 4 present, marker", 0, "0010 0050 01020304"},
        {"second AU of 10 bytes past the end", 1, "0020 0010 0050 aabb 010203"},
        {"headers longer than the packet", 0, "0040 0010"},
        {"12 header bits: not a whole 16-bit header", 0, "000c 0010 0102"},
        {"no headers", 0, "0000 0102"},
        {"one byte", 0, "00"},
        {"empty", 0, ""},
    };
    const struct rec_aac_params hbr = {13, 3, 3, 1024}, bad = {0, 3, 3, 1024};

    for (size_t i = 0; i < NELEM(cases); i++) {
        struct rec_aac_depay d;
        struct af_log log = {0};

        rec_aac_init(&d, &hbr);
        push_aac_hex(&d, 1000, true, cases[i].hex, &log);
        CHECK_MSG(d.malformed == 1, "%s: malformed %" PRIu64 ", want 1", cases[i].what,
                  d.malformed);
        CHECK_MSG(log.n == cases[i].frames, "%s: %d frames, want %d", cases[i].what, log.n,
                  cases[i].frames);
        rec_aac_release(&d);
    }
    /* A sizelength the depacketizer cannot read is refused per packet, not overread. */
    {
        struct rec_aac_depay d;
        struct af_log log = {0};

        rec_aac_init(&d, &bad);
        push_aac_hex(&d, 1000, true, "0010 0018 010203", &log);
        CHECK_EQ_U64(d.malformed, 1);
        CHECK_EQ_INT(log.n, 0);
        rec_aac_release(&d);
    }
}

/* ---- SDP ---- */

static const char camsim_sdp[] =
    "v=0\r\n"
    "o=- 0 0 IN IP4 127.0.0.1\r\n"
    "s=camsim\r\n"
    "t=0 0\r\n"
    "a=tool:libavformat LIBAVFORMAT_VERSION\r\n"
    "m=video 0 RTP/AVP 96\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtpmap:96 H264/90000\r\n"
    "a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QAH6y0AoAt2AiAAAADAIAAABkHjBlQ,"
    "aO88sA==; profile-level-id=64001F\r\n"
    "a=control:streamid=0\r\n"
    "m=audio 0 RTP/AVP 97\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtpmap:97 MPEG4-GENERIC/48000/1\r\n"
    "a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; "
    "config=118856E500\r\n"
    "a=control:streamid=1\r\n";

/* gst-rtsp-server: session-level control, H.265 with sprop-vps/sps/pps, static PCMU. */
static const char gst_sdp[] =
    "v=0\r\n"
    "o=- 1188340656180883 1 IN IP4 127.0.0.1\r\n"
    "s=Session streamed with GStreamer\r\n"
    "i=rtsp-server\r\n"
    "t=0 0\r\n"
    "a=tool:GStreamer\r\n"
    "a=type:broadcast\r\n"
    "a=control:*\r\n"
    "a=range:npt=0-\r\n"
    "m=video 0 RTP/AVP 96\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "b=AS:2000\r\n"
    "a=rtpmap:96 H265/90000\r\n"
    "a=framerate:25\r\n"
    "a=fmtp:96 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwBdlZgJ;"
    "sprop-sps=QgEBAWAAAAMAkAAAAwAAAwBdoAKAgC0WWVmkkyvAQEAAAAMAQAAABkI=;sprop-pps=RAHBcrRiQA==\r\n"
    "a=control:stream=0\r\n"
    "a=ts-refclk:local\r\n"
    "a=mediaclk:sender\r\n"
    "m=audio 0 RTP/AVP 0\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "b=AS:64\r\n"
    "a=control:stream=1\r\n";

/* Parse text[0..len) from a copy without a terminating NUL. */
static int parse_sdp(const char *text, size_t len, struct rec_sdp *out)
{
    uint8_t *copy = exact_copy(text, len);
    int rc = rec_sdp_parse((const char *)copy, len, out);

    free(copy);
    return rc;
}

void test_rtsp_sdp_camsim(void)
{
    struct rec_sdp *s = calloc(1, sizeof(*s));
    char v[256];

    if (!s)
        abort();
    CHECK_EQ_INT(parse_sdp(camsim_sdp, strlen(camsim_sdp), s), 0);
    CHECK_EQ_STR(s->control, "");
    CHECK_EQ_INT(s->nmedia, 2);
    CHECK_EQ_STR(s->m[0].type, "video");
    CHECK_EQ_INT(s->m[0].pt, 96);
    CHECK_EQ_STR(s->m[0].encoding, "H264");
    CHECK_EQ_INT(s->m[0].clock, 90000);
    CHECK_EQ_STR(s->m[0].fmtp, "packetization-mode=1; sprop-parameter-sets=Z2QAH6y0AoAt2AiAAAAD"
                               "AIAAABkHjBlQ,aO88sA==; profile-level-id=64001F");
    CHECK_EQ_STR(s->m[0].control, "streamid=0");
    CHECK(s->m[0].framerate == 0);
    CHECK_EQ_STR(s->m[1].type, "audio");
    CHECK_EQ_INT(s->m[1].pt, 97);
    CHECK_EQ_STR(s->m[1].encoding, "MPEG4-GENERIC");
    CHECK_EQ_INT(s->m[1].clock, 48000);
    CHECK_EQ_INT(s->m[1].channels, 1);
    CHECK_EQ_STR(s->m[1].control, "streamid=1");

    /* The values choose_video and choose_audio read. */
    CHECK_EQ_INT(rec_fmtp_get(s->m[0].fmtp, "sprop-parameter-sets", v, sizeof(v)), 0);
    CHECK_EQ_STR(v, "Z2QAH6y0AoAt2AiAAAADAIAAABkHjBlQ,aO88sA==");
    CHECK_EQ_INT(rec_fmtp_get(s->m[0].fmtp, "packetization-mode", v, sizeof(v)), 0);
    CHECK_EQ_STR(v, "1");
    CHECK_EQ_INT(rec_fmtp_get(s->m[1].fmtp, "mode", v, sizeof(v)), 0);
    CHECK_EQ_STR(v, "AAC-hbr");
    CHECK_EQ_INT(rec_fmtp_get(s->m[1].fmtp, "sizelength", v, sizeof(v)), 0);
    CHECK_EQ_STR(v, "13");
    CHECK_EQ_INT(rec_fmtp_get(s->m[1].fmtp, "indexlength", v, sizeof(v)), 0);
    CHECK_EQ_STR(v, "3");
    CHECK_EQ_INT(rec_fmtp_get(s->m[1].fmtp, "config", v, sizeof(v)), 0);
    CHECK_EQ_STR(v, "118856E500");

    /* The same text cut after the video section: one medium, no read past len. */
    {
        const char *cut = strstr(camsim_sdp, "m=audio");
        CHECK_EQ_INT(parse_sdp(camsim_sdp, (size_t)(cut - camsim_sdp), s), 0);
        CHECK_EQ_INT(s->nmedia, 1);
        CHECK_EQ_STR(s->m[0].control, "streamid=0");
    }
    free(s);
}

void test_rtsp_sdp_gst(void)
{
    struct rec_sdp *s = calloc(1, sizeof(*s));
    static const char *keys[] = {"sprop-vps", "sprop-sps", "sprop-pps"};
    static const size_t lens[] = {24, 41, 7};
    struct rec_vdepay d;
    struct cv_buf cfg;

    if (!s)
        abort();
    CHECK_EQ_INT(parse_sdp(gst_sdp, strlen(gst_sdp), s), 0);
    CHECK_EQ_STR(s->control, "*");
    CHECK_EQ_INT(s->nmedia, 2);
    CHECK_EQ_STR(s->m[0].type, "video");
    CHECK_EQ_STR(s->m[0].encoding, "H265");
    CHECK_EQ_INT(s->m[0].clock, 90000);
    CHECK(s->m[0].framerate == 25.0);
    CHECK_EQ_STR(s->m[0].control, "stream=0");
    CHECK_EQ_STR(s->m[1].type, "audio");
    CHECK_EQ_INT(s->m[1].pt, 0);
    CHECK_EQ_STR(s->m[1].encoding, "PCMU");
    CHECK_EQ_INT(s->m[1].clock, 8000);
    CHECK_EQ_INT(s->m[1].channels, 1);
    CHECK_EQ_STR(s->m[1].fmtp, "");
    CHECK_EQ_STR(s->m[1].control, "stream=1");

    /* The sprop sets decode to VPS/SPS/PPS NAL units that give the H.265 configuration. */
    rec_vdepay_init(&d, REC_VC_H265);
    for (size_t i = 0; i < NELEM(keys); i++) {
        char v[256];
        uint8_t nal[REC_PS_MAX];
        int n = -1;

        CHECK_EQ_INT(rec_fmtp_get(s->m[0].fmtp, keys[i], v, sizeof(v)), 0);
        n = rec_base64_decode(v, strlen(v), nal, sizeof(nal));
        CHECK_MSG(n == (int)lens[i], "%s: %d bytes, want %zu", keys[i], n, lens[i]);
        if (n > 0)
            rec_vdepay_note_ps(&d, nal, (size_t)n);
    }
    CHECK_EQ_INT(d.vps.len, 24);
    CHECK_EQ_INT(d.sps.len, 41);
    CHECK_EQ_INT(d.pps.len, 7);
    cv_buf_init(&cfg, 1024);
    CHECK_EQ_INT(rec_vconfig(REC_VC_H265, &d.vps, &d.sps, &d.pps, &cfg), 0);
    CHECK_EQ_INT(cfg.len, 3 * 4 + 24 + 41 + 7);
    if (cfg.len == 3 * 4 + 24 + 41 + 7) {
        CHECK(memcmp(cfg.data, "\0\0\0\1\x40\x01", 6) == 0);
        CHECK(memcmp(cfg.data + 28, "\0\0\0\1\x42\x01", 6) == 0);
        CHECK(memcmp(cfg.data + 73, "\0\0\0\1\x44\x01", 6) == 0);
    }
    cv_buf_release(&cfg);
    rec_vdepay_release(&d);
    free(s);
}

void test_rtsp_sdp_edges(void)
{
    struct rec_sdp *s = calloc(1, sizeof(*s));

    if (!s)
        abort();
    /* No m= line. */
    {
        static const char t[] = "v=0\r\ns=x\r\na=control:*\r\n";
        CHECK_EQ_INT(parse_sdp(t, strlen(t), s), -1);
        CHECK_EQ_INT(parse_sdp(t, 0, s), -1);
    }
    /* LF-only lines, no final newline, two payload types: the first one's rtpmap and fmtp. */
    {
        static const char t[] = "v=0\nm=video 0 RTP/AVP 96 97\n"
                                "a=rtpmap:97 H265/90000\na=fmtp:97 x=97\n"
                                "a=rtpmap:96 H264/90000\na=fmtp:96 x=96\n"
                                "m=audio 0 RTP/AVP 8\nm=audio 0 RTP/AVP 98\n"
                                "a=rtpmap:98 MPEG4-GENERIC/44100/2\na=control:rtsp://h/a\n"
                                "m=audio 0 RTP/AVP 99\na=rtpmap:99 PCMU/16000";
        CHECK_EQ_INT(parse_sdp(t, strlen(t), s), 0);
        CHECK_EQ_INT(s->nmedia, 4);
        CHECK_EQ_STR(s->m[0].encoding, "H264");
        CHECK_EQ_STR(s->m[0].fmtp, "x=96");
        CHECK_EQ_STR(s->m[1].encoding, "PCMA");
        CHECK_EQ_INT(s->m[1].clock, 8000);
        CHECK_EQ_INT(s->m[2].clock, 44100);
        CHECK_EQ_INT(s->m[2].channels, 2);
        CHECK_EQ_STR(s->m[2].control, "rtsp://h/a");
        CHECK_EQ_STR(s->m[3].encoding, "PCMU");
        CHECK_EQ_INT(s->m[3].clock, 16000);
        CHECK_EQ_INT(s->m[3].channels, 1); /* no channel count: one */
        CHECK_EQ_STR(s->control, "");
    }
    /* More media than REC_SDP_MEDIA_MAX: the first ones kept, later attributes not misplaced. */
    {
        char t[1024];
        size_t o = 0;
        for (int i = 0; i < REC_SDP_MEDIA_MAX + 2; i++)
            o += (size_t)snprintf(t + o, sizeof(t) - o, "m=audio 0 RTP/AVP 0\r\na=control:t%d\r\n",
                                  i);
        CHECK_EQ_INT(parse_sdp(t, o, s), 0);
        CHECK_EQ_INT(s->nmedia, REC_SDP_MEDIA_MAX);
        CHECK_EQ_STR(s->m[REC_SDP_MEDIA_MAX - 1].control, "t7");
        CHECK_EQ_STR(s->control, "");
    }
    free(s);
}

void test_rtsp_fmtp_get(void)
{
    static const struct {
        const char *fmtp, *key;
        size_t n;
        const char *want; /* NULL: -1 */
    } cases[] = {
        {"packetization-mode=1; sprop-parameter-sets=Z2QA,aO88sA==; profile-level-id=64001F",
         "sprop-parameter-sets", 64, "Z2QA,aO88sA=="},
        {"packetization-mode=1; profile-level-id=64001F", "profile-level-id", 64, "64001F"},
        {"packetization-mode=1; profile-level-id=64001F", "PROFILE-LEVEL-ID", 64, "64001F"},
        {"Mode=AAC-hbr;SizeLength=13", "sizelength", 64, "13"},
        {"  a=1 ;   b=two  ", "a", 64, "1"},
        {"  a=1 ;   b=two  ", "b", 64, "two"},
        {"indexdeltalength=3;indexlength=2", "indexlength", 64, "2"},
        {"indexdeltalength=3;indexlength=2", "length", 64, NULL},
        {"indexdeltalength=3;indexlength=2", "index", 64, NULL},
        {"sizelength", "sizelength", 64, NULL},
        {"a=;b=2", "a", 64, ""},
        {"a=1", "b", 64, NULL},
        {"", "a", 64, NULL},
        {"a=12345", "a", 6, "12345"},
        {"a=12345", "a", 5, NULL}, /* does not fit */
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        char out[64] = "untouched";
        int rc = rec_fmtp_get(cases[i].fmtp, cases[i].key, out, cases[i].n);

        if (!cases[i].want) {
            CHECK_MSG(rc == -1, "'%s' in '%s': rc %d ('%s'), want -1", cases[i].key, cases[i].fmtp,
                      rc, out);
        } else {
            CHECK_MSG(rc == 0 && strcmp(out, cases[i].want) == 0,
                      "'%s' in '%s': rc %d, '%s', want '%s'", cases[i].key, cases[i].fmtp, rc, out,
                      cases[i].want);
        }
    }
}

void test_rtsp_base64(void)
{
    static const struct {
        const char *in;
        size_t cap;
        int want; /* length, or -1 */
        const char *bytes;
    } cases[] = {
        {"QUJD", 16, 3, "ABC"},
        {"QUI=", 16, 2, "AB"},
        {"QUI", 16, 2, "AB"},
        {"QQ==", 16, 1, "A"},
        {"QQ", 16, 1, "A"},
        {"", 16, 0, ""},
        {"aO88sA==", 16, 4, "\x68\xef\x3c\xb0"},
        {"aO88sA", 16, 4, "\x68\xef\x3c\xb0"},
        {"+/+/", 16, 3, "\xfb\xff\xbf"},
        {"QUJD", 3, 3, "ABC"},
        {"QUJD", 2, -1, NULL}, /* too long for the buffer */
        {"QUI=", 1, -1, NULL},
        {"QU JD", 16, -1, NULL}, /* invalid characters */
        {"QU*D", 16, -1, NULL},
        {"-_-_", 16, -1, NULL}, /* base64url is not base64 */
        {"QUJD\n", 16, -1, NULL},
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        size_t len = strlen(cases[i].in);
        uint8_t *in = exact_copy(cases[i].in, len);
        uint8_t *out = malloc(cases[i].cap);
        int n;

        if (!out)
            abort();
        n = rec_base64_decode((const char *)in, len, out, cases[i].cap);
        CHECK_MSG(n == cases[i].want, "'%s' cap %zu: %d, want %d", cases[i].in, cases[i].cap, n,
                  cases[i].want);
        if (n > 0 && n == cases[i].want)
            CHECK_MSG(memcmp(out, cases[i].bytes, (size_t)n) == 0, "'%s': bytes differ",
                      cases[i].in);
        free(out);
        free(in);
    }
}

/* ---- Digest ---- */

void test_rtsp_digest(void)
{
    /* Expected values computed outside camvault with md5sum:
     *   HA1 = md5(user:realm:pass), HA2 = md5(method:uri),
     *   qop: md5(HA1:nonce:nc:cnonce:qop:HA2), RFC 2069: md5(HA1:nonce:HA2). */
    static const struct {
        const char *user, *realm, *pass, *method, *uri, *nonce, *qop, *nc, *cnonce, *want;
    } cases[] = {
        /* RFC 2617 section 3.5 */
        {"Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
         "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth", "00000001", "0a4f113b",
         "6629fae49393a05397450978507c4ef1"},
        /* the same without qop (RFC 2069 form) */
        {"Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
         "dcd98b7102dd2f0e8b11d0f600bfb0c093", NULL, NULL, NULL,
         "670fd8c2df070c60b045671b8b24ff02"},
        /* RFC 2069's own example, with the corrected value of its erratum */
        {"Mufasa", "testrealm@host.com", "CircleOfLife", "GET", "/dir/index.html",
         "dcd98b7102dd2f0e8b11d0f600bfb0c093", NULL, NULL, NULL,
         "1949323746fe6a43ef61f9606e7febea"},
        /* an RTSP DESCRIBE as a camera sees it */
        {"admin", "IP Camera(12345)", "12345", "DESCRIBE", "rtsp://10.0.0.7:554/live", "abc123",
         NULL, NULL, NULL, "460e9392cbb11a1332036c8088ed624a"},
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        char out[33];

        memset(out, 'x', sizeof(out));
        rec_digest_response(cases[i].user, cases[i].realm, cases[i].pass, cases[i].method,
                            cases[i].uri, cases[i].nonce, cases[i].qop, cases[i].nc,
                            cases[i].cnonce, out);
        CHECK_MSG(memchr(out, 0, sizeof(out)) != NULL && strcmp(out, cases[i].want) == 0,
                  "case %zu: '%.33s', want '%s'", i, out, cases[i].want);
    }
}
