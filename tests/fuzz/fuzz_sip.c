/*
 * fuzz_sip.c: a fuzz target for the GB/T 28181 agent's text parsers (gb/sip.h): the SIP
 * message parser and what reads its headers (parameters, URI users, Digest auth-params), and
 * the MANSCDP XML reader.
 *
 * The target is LLVMFuzzerTestOneInput(). The first byte of an input picks what the rest is:
 *   even  one SIP datagram: gb_sip_parse, then every header through gb_sip_param ("tag",
 *         "branch", "expires"), gb_sip_uri_user and gb_auth_param, and the body through
 *         gb_manscdp_parse, as the agent does with a platform's MESSAGE;
 *   2     an MPEG program stream as a GB/T 28181 device sends it (gb/psdemux.h): fed to
 *         gb_psd_feed in pieces of 1, 7, 188 and 1400 bytes, gb_psd_lost after every ninth,
 *         every frame taken; each must have bytes and a PSM's stream type;
 *   4     the bytes of a SIP/TCP connection (gb/tcp.c's reassembly): received in pieces of 1,
 *         3, 100 and 1400 bytes into a GB_SIP_MAX buffer, cut by gb_sip_frame, each message
 *         through gb_sip_parse as for selector 0; a framing error ends the stream, and must
 *         name its cause; the frame must lie inside the bytes received;
 *   other even  one SIP datagram: gb_sip_parse, then every header through gb_sip_param ("tag",
 *         "branch", "expires"), gb_sip_uri_user and gb_auth_param, and the body through
 *         gb_manscdp_parse, as the agent does with a platform's MESSAGE;
 *   odd   one MANSCDP document: gb_manscdp_parse.
 * The rest is copied to a heap buffer of exactly its size, so a read past it is an ASan report.
 * (The first two lines of this list are the PS demuxer's, added for the downward direction.)
 * Nothing may crash, hang or leak. With -DFUZZ_LIBFUZZER the target runs under libFuzzer as it
 * is; otherwise main() below is the driver `make test` uses:
 *
 *   fuzz-sip ITERATIONS [RANDOM-SEED]
 *
 * It runs the built-in seeds (REGISTER, a 401 with a qop challenge, MESSAGE with a Catalog
 * query in compact header forms, INVITE with SDP, MANSCDP documents), then ITERATIONS inputs
 * made by one to four deterministic mutations of a seed (bytes set to SIP and XML separators,
 * spans cut, repeated or removed, digits changed). The input being run is kept as
 * crash-sip-<iteration>.bin until it has passed. Output: one line
 * "fuzz-sip: N inputs: N SIP (N parsed), N MANSCDP (N parsed)".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "gb/psdemux.h"
#include "gb/sip.h"
#include "common/banned.h"

static unsigned long long n_sip, n_sip_ok, n_xml, n_xml_ok, n_ps, n_ps_frames, n_tcp, n_tcp_msgs;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sip_input(const uint8_t *p, size_t n)
{
    struct gb_sip_msg *m = malloc(sizeof(*m));
    struct gb_manscdp q;
    struct cv_err err = {""};
    char out[64];

    if (!m)
        abort();
    n_sip++;
    if (gb_sip_parse(m, p, n, &err) == 0) {
        n_sip_ok++;
        for (size_t i = 0; i < m->nhdrs; i++) {
            const char *v = m->hdrs[i].value;
            gb_sip_param(v, "tag", out, sizeof(out));
            gb_sip_param(v, "branch", out, sizeof(out));
            gb_sip_param(v, "expires", out, 4);
            gb_sip_uri_user(v, out, sizeof(out));
            gb_auth_param(v, "nonce", out, sizeof(out));
            gb_auth_param(v, "qop", out, 5);
        }
        gb_sip_uri_user(m->uri, out, sizeof(out));
        gb_manscdp_parse(m->body, m->body_len, &q, &err);
    } else if (!err.msg[0]) {
        abort(); /* every refusal names its cause */
    }
    free(m);
}

static void ps_input(const uint8_t *p, size_t n)
{
    static const size_t piece[] = {1, 7, 188, 1400};
    struct gb_psd d;
    struct gb_psd_frame f;
    size_t at = 0, k = 0;

    n_ps++;
    gb_psd_init(&d);
    while (at < n) {
        size_t l = piece[k % 4] < n - at ? piece[k % 4] : n - at;
        gb_psd_feed(&d, p + at, l);
        if (++k % 9 == 0)
            gb_psd_lost(&d);
        at += l;
        while (gb_psd_next(&d, &f)) {
            if (!f.data || !f.len || !f.type)
                abort();
            n_ps_frames++;
            free(f.data);
        }
    }
    gb_psd_release(&d);
}

/* As gb/tcp.c reads a connection: a buffer of GB_SIP_MAX bytes, filled by pieces, emptied by
 * gb_sip_frame's skips and messages. */
static void stream_input(const uint8_t *p, size_t n)
{
    static const size_t piece[] = {1, 3, 100, 1400};
    uint8_t *buf = malloc(GB_SIP_MAX);
    size_t have = 0, at = 0, k = 0;

    if (!buf)
        abort();
    n_tcp++;
    while (at < n && have < GB_SIP_MAX) {
        size_t l = piece[k++ % 4];
        if (l > n - at)
            l = n - at;
        if (l > GB_SIP_MAX - have)
            l = GB_SIP_MAX - have;
        memcpy(buf + have, p + at, l);
        have += l;
        at += l;
        for (;;) {
            struct cv_err err = {""};
            size_t skip = 0, len = 0;
            int rc = gb_sip_frame(buf, have, &skip, &len, &err);
            if (rc < 0) {
                if (!err.msg[0])
                    abort();
                goto out;
            }
            if (skip > have || (rc == 1 && (len == 0 || skip + len > have || len > GB_SIP_MAX)))
                abort();
            memmove(buf, buf + skip, have - skip);
            have -= skip;
            if (rc == 0)
                break;
            n_tcp_msgs++;
            sip_input(buf, len);
            memmove(buf, buf + len, have - len);
            have -= len;
        }
    }
    if (have >= GB_SIP_MAX) /* a full buffer without a message or an error: tcp.c would hang */
        abort();
out:
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;
    struct gb_manscdp q;
    struct cv_err err = {""};

    if (size < 1)
        return 0;
    copy = malloc(size - 1 ? size - 1 : 1);
    if (!copy)
        abort();
    memcpy(copy, data + 1, size - 1);
    if (data[0] == 2) {
        ps_input(copy, size - 1);
    } else if (data[0] == 4) {
        stream_input(copy, size - 1);
    } else if (data[0] % 2 == 0) {
        sip_input(copy, size - 1);
    } else {
        n_xml++;
        if (gb_manscdp_parse((const char *)copy, size - 1, &q, &err) == 0)
            n_xml_ok++;
        else if (!err.msg[0])
            abort();
    }
    free(copy);
    return 0;
}

#ifndef FUZZ_LIBFUZZER

#include "tests/fuzz/fuzz_driver.h"

#define SEED_MAX 4096

/* A program stream (selector byte 2): pack, system header, PSM (H.264 0xE0, G.711 0xC0), a
 * video PES with an IDR slice, an audio PES, a second pack and access unit, the end code. */
static const uint8_t ps_seed[] = {
    2,
    0, 0, 1, 0xBA, 0x44, 0, 4, 0, 4, 1, 0, 0x5F, 0x6B, 0xF8,
    0, 0, 1, 0xBB, 0, 12, 0x80, 0x5F, 0x69, 5, 0xE1, 0xFF, 0xE0, 0xE0, 0x80, 0xC0, 0xC0, 8,
    0, 0, 1, 0xBC, 0, 18, 0x80, 1, 0, 0, 0, 8, 0x1B, 0xE0, 0, 0, 0x90, 0xC0, 0, 0,
    0x12, 0x34, 0x56, 0x78,
    0, 0, 1, 0xE0, 0, 15, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1, 0, 0, 0, 1, 0x65, 0x88, 0x84,
    0, 0, 1, 0xC0, 0, 12, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1, 0xD5, 0xD5, 0xD5, 0xD5,
    0, 0, 1, 0xBA, 0x44, 0, 4, 0, 4, 1, 0, 0x5F, 0x6B, 0xF8,
    0, 0, 1, 0xE0, 0, 15, 0x80, 0x80, 5, 0x21, 0, 1, 0x0E, 0x11, 0, 0, 0, 1, 0x41, 0x9A, 2,
    0, 0, 1, 0xE0, 0, 15, 0x80, 0x80, 5, 0x21, 0, 1, 0x1C, 0x21, 0, 0, 0, 1, 0x41, 0x9A, 3,
    0, 0, 1, 0xB9,
};

static const char *const seeds[] = {
    (const char *)ps_seed,
    "\x04\r\n\r\nREGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 127.0.0.1:5061;rport;branch=z9hG4bK7\r\n"
    "From: <sip:34020000001110000001@3402000000>;tag=1\r\n"
    "To: <sip:34020000001110000001@3402000000>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\n"
    "Expires: 3600\r\nContent-Length: 0\r\n\r\n"
    "MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    "v: SIP/2.0/TCP 127.0.0.1:5061;branch=z9hG4bK8\r\nf: <sip:34020000001110000001@3402000000>"
    ";tag=2\r\nt: <sip:34020000002000000001@3402000000>\r\ni: k1\r\nCSeq: 2 MESSAGE\r\n"
    "c: Application/MANSCDP+xml\r\nl: 102\r\n\r\n"
    "<?xml version=\"1.0\"?>\r\n<Notify><CmdType>Keepalive</CmdType><SN>1</SN>"
    "<DeviceID>1</DeviceID></Notify>\r\n\r\n"
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK9\r\n"
    "From: <sip:1@2>;tag=3\r\nTo: <sip:1@2>;tag=4\r\nCall-ID: c9\r\nCSeq: 9 MESSAGE\r\n"
    "Content-Length:   0  \r\n\r\nINVITE sip:x SIP/2.0\r\nContent-Length: 99",
    "\0REGISTER sip:34020000002000000001@127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5061;rport;branch=z9hG4bK776asdhds\r\n"
    "From: <sip:34020000001180000001@3402000000>;tag=49583\r\n"
    "To: <sip:34020000001180000001@3402000000>\r\nCall-ID: a84b4c76e66710\r\n"
    "CSeq: 1 REGISTER\r\nContact: <sip:34020000001180000001@127.0.0.1:5061>\r\n"
    "Max-Forwards: 70\r\nExpires: 3600\r\nAuthorization: Digest username=\"3402\", "
    "realm=\"3402000000\", nonce=\"abc\", uri=\"sip:x@y\", response=\"00ff\", qop=auth, "
    "nc=00000001, cnonce=\"0a4f\"\r\nContent-Length: 0\r\n\r\n",
    "\0SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK77;rport=5061\r\n"
    "From: <sip:34020000001180000001@3402000000>;tag=49583\r\n"
    "To: <sip:34020000001180000001@3402000000>;tag=p1\r\nCall-ID: a84b4c76e66710\r\n"
    "CSeq: 1 REGISTER\r\nWWW-Authenticate: Digest realm=\"3402000000\", nonce=\"9bd0d3\", "
    "qop=\"auth,auth-int\", algorithm=MD5, opaque=\"5ccc\"\r\nContent-Length: 0\r\n\r\n",
    "\0MESSAGE sip:34020000001180000001@3402000000 SIP/2.0\r\n"
    "v: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bK1\r\n"
    "f: <sip:34020000002000000001@3402000000>;tag=p1\r\n"
    "t: <sip:34020000001180000001@3402000000>\r\ni: call1@127.0.0.1\r\nCSeq: 20 MESSAGE\r\n"
    "c: Application/MANSCDP+xml\r\nl: 128\r\n\r\n"
    "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Query>\r\n<CmdType>Catalog</CmdType>\r\n"
    "<SN>17430</SN>\r\n<DeviceID>1</DeviceID>\r\n</Query>\r\n",
    "\0INVITE sip:34020000001310000001@3402000000 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK2\r\n"
    "From: <sip:34020000002000000001@3402000000>;tag=p2\r\n"
    "To: <sip:34020000001310000001@3402000000>\r\nCall-ID: call2\r\nCSeq: 1 INVITE\r\n"
    "Subject: 34020000001310000001:0100000001,34020000002000000001:0\r\n"
    "Content-Type: APPLICATION/SDP\r\nContent-Length: 162\r\n\r\n"
    "v=0\r\no=34020000002000000001 0 0 IN IP4 127.0.0.1\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\nm=video 30000 RTP/AVP 96 98\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\n"
    "y=0100000001\r\n",
    "\x01<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Query><CmdType>RecordInfo</CmdType>"
    "<SN>7</SN><DeviceID>34020000001310000001</DeviceID><StartTime>2026-12-04T10:00:00"
    "</StartTime><EndTime>2026-12-04T11:00:00</EndTime><Type>all</Type></Query>",
    "\x01<Response><CmdType>Catalog</CmdType><SN>1</SN><SumNum>1</SumNum><DeviceList Num='1'>"
    "<Item><Name>Gate &lt;1&gt; &amp; &quot;x&apos;</Name><Empty/></Item></DeviceList>"
    "</Response>",
};

static size_t seed_len(size_t i)
{
    if (seeds[i] == (const char *)ps_seed)
        return sizeof(ps_seed);
    return 1 + strlen(seeds[i] + 1);
}

static void mutate(uint8_t *d, size_t *len)
{
    static const char sep[] = "\r\n :;=,\"<>/?&@0123456789\0\xff";
    size_t n = *len, p, k;

    if (n < 2)
        return;
    p = 1 + below(n - 1);
    switch (rnd() % 5) {
    case 0:
        d[p] = (uint8_t)sep[below(sizeof(sep) - 1)];
        break;
    case 1:
        *len = p;
        break;
    case 2:
        k = 1 + below(n - p);
        memmove(d + p, d + p + k - 1, n - p - k + 1);
        *len = n - k + 1;
        break;
    case 3:
        k = below(n - p < 64 ? n - p : 64);
        if (n + k <= SEED_MAX) {
            memmove(d + p + k, d + p, n - p);
            *len = n + k;
        }
        break;
    default:
        d[p] = (uint8_t)rnd();
        break;
    }
}

int main(int argc, char **argv)
{
    const size_t nseeds = sizeof(seeds) / sizeof(seeds[0]);
    unsigned long long iters;
    uint8_t *in = malloc(SEED_MAX);
    char keep[64];

    if (argc < 2 || argc > 3 || !in) {
        fprintf(stderr, "usage: fuzz-sip ITERATIONS [RANDOM-SEED]\n");
        free(in);
        return 2;
    }
    cv_log_init("fuzz-sip", CV_LOG_ERROR);
    iters = strtoull(argv[1], NULL, 10);
    rnd_state = argc == 3 ? strtoull(argv[2], NULL, 10) | 1 : 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < nseeds; i++) {
        snprintf(keep, sizeof(keep), "crash-sip-seed-%zu.bin", i);
        run_kept((const uint8_t *)seeds[i], seed_len(i), keep);
    }
    for (unsigned long long i = 0; i < iters; i++) {
        size_t s = below(nseeds), len = seed_len(s);
        memcpy(in, seeds[s], len);
        for (int m = 1 + (int)(rnd() % 4); m > 0; m--)
            mutate(in, &len);
        snprintf(keep, sizeof(keep), "crash-sip-%llu.bin", i);
        run_kept(in, len, keep);
    }
    printf("fuzz-sip: %llu inputs: %llu SIP (%llu parsed), %llu MANSCDP (%llu parsed), "
           "%llu PS (%llu frames), %llu SIP/TCP streams (%llu messages)\n",
           (unsigned long long)nseeds + iters, n_sip, n_sip_ok, n_xml, n_xml_ok, n_ps,
           n_ps_frames, n_tcp, n_tcp_msgs);
    free(in);
    /* the seeds themselves must parse */
    return n_sip_ok && n_xml_ok && n_ps_frames && n_tcp_msgs >= 3 ? 0 : 1;
}

#endif
