/*
 * fuzz_rtsp.c: a fuzz target for the recorder's own RTSP/RTP client (recorder/rtsp.h, rtp.h),
 * with its own small driver.
 *
 * The target is LLVMFuzzerTestOneInput(). The first byte of an input picks what the rest is:
 *   0 (mod 3)  what a camera sends on the RTSP connection: answers (401 with Digest challenges,
 *              SDP), then interleaved RTP/RTCP. A thread on 127.0.0.1 serves it to every
 *              connection the client opens, then closes its side; the client runs rec_rtsp_open
 *              and rec_rtsp_read until it fails. End of input is the end of the stream, so no
 *              timeout is ever waited for and a run is deterministic.
 *   1          RTP packets, each as a 2-byte big-endian length and the bytes (the second byte
 *              of the input picks the AAC mode): through rec_rtp_parse into the H.264, H.265
 *              and AAC depacketizers (FU-A/FU without a start, STAP-A/AP lengths past the
 *              packet, AU headers), then rec_vconfig. Each packet is copied to a heap buffer of
 *              exactly its size, so a read past it is an ASan report.
 *   2          text: an SDP body (rec_sdp_parse, rec_fmtp_get, rec_base64_decode of the sprop
 *              values) and a camera URL (common/url.h).
 * Nothing may crash, hang or leak. Built with clang -fsanitize=fuzzer,address -DFUZZ_LIBFUZZER
 * (make build/fuzz-rtsp-libfuzzer) the target runs under libFuzzer as it is; otherwise main()
 * below is the driver `make test` uses:
 *
 *   fuzz-rtsp CORPUS-DIR ITERATIONS [RANDOM-SEED]
 *
 * It runs every seed of the corpus, then ITERATIONS inputs made by one to four deterministic
 * mutations of a seed (flip bits, boundary bytes, boundary 16-bit lengths, cut, drop, duplicate
 * or copy spans). The input being run is kept as crash-rtsp-<iteration>.bin in the working
 * directory until it has passed, so a crash leaves it behind to replay. Output: one summary line
 * "fuzz-rtsp: N inputs: N sessions (N opened, N packets), N rtp, N text".
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavutil/log.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/url.h"
#include "recorder/rtp.h"
#include "recorder/rtsp.h"
#include "common/banned.h"

#define FUZZ_INPUT_MAX (1u << 20)
#define MAX_PACKETS 100000

static unsigned long long n_session, n_opened, n_packets, n_rtp, n_text;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- mode 0: a whole session against a served byte stream ---- */

struct server {
    int lfd;
    int wake[2]; /* a pipe: a byte in it ends the serving thread without a poll timeout */
    const uint8_t *data;
    size_t len;
};

static void serve_one(struct server *s, int fd)
{
    size_t off = 0;
    char sink[4096];

    while (off < s->len) {
        ssize_t w = send(fd, s->data + off, s->len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    /* Read the client's requests until it closes (or the input is done with). */
    for (;;) {
        struct pollfd p[2] = {{fd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            abort();
        if (p[1].revents || (p[0].revents && recv(fd, sink, sizeof(sink), 0) <= 0))
            break;
    }
    close(fd);
}

static void *server_main(void *arg)
{
    struct server *s = arg;

    for (;;) {
        struct pollfd p[2] = {{s->lfd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            abort();
        if (p[1].revents)
            return NULL;
        if (p[0].revents) {
            int fd = accept(s->lfd, NULL, NULL);
            if (fd >= 0)
                serve_one(s, fd);
        }
    }
}

static bool never_stop(void *ctx)
{
    (void)ctx;
    return false;
}

static void run_session(const uint8_t *data, size_t size)
{
    static int lfd = -1;
    static char url[128];
    struct server s = {.data = data, .len = size};
    struct rec_rtsp *c = NULL;
    struct cv_err err = {""};
    pthread_t th;

    if (lfd < 0) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof(a);
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 8) != 0 ||
            getsockname(lfd, (struct sockaddr *)&a, &al) != 0) {
            perror("fuzz-rtsp: listen");
            abort();
        }
        /* A percent-encoded password: the client decodes it for Basic and Digest. */
        snprintf(url, sizeof(url), "rtsp://cam:p%%40ss%%3Aw%%2F@127.0.0.1:%u/live",
                 ntohs(a.sin_port));
    }
    s.lfd = lfd;
    if (pipe2(s.wake, O_CLOEXEC) != 0 || pthread_create(&th, NULL, server_main, &s) != 0)
        abort();
    {
        struct rec_rtsp_opts o = {.url = url,
                                  .url_safe = "rtsp://127.0.0.1/live",
                                  .connect_timeout_us = 5 * INT64_C(1000000),
                                  .stall_timeout_us = 2 * INT64_C(1000000),
                                  .stop = never_stop};
        n_session++;
        if (rec_rtsp_open(&c, &o, &err) == 0) {
            AVPacket *pkt = av_packet_alloc();
            int64_t recv_us;
            n_opened++;
            if (!pkt)
                abort();
            for (int i = 0; i < MAX_PACKETS && rec_rtsp_read(c, pkt, &recv_us, &err) == 0; i++) {
                n_packets++;
                av_packet_unref(pkt);
            }
            av_packet_free(&pkt);
            rec_rtsp_close(c);
        }
        if (getenv("FUZZ_VERBOSE"))
            fprintf(stderr, "fuzz-rtsp: session: %s\n", err.msg);
        /* The password (decoded or not) never shows, unless the peer itself sent its text. */
        if (!err.msg[0] || strchr(err.msg, '\n') ||
            ((strstr(err.msg, "p%40ss") || strstr(err.msg, "p@ss")) &&
             !memmem(data, size, "p%40ss", 6) && !memmem(data, size, "p@ss", 4))) {
            fprintf(stderr, "fuzz-rtsp: bad error message: '%s'\n", err.msg);
            abort();
        }
    }
    if (write(s.wake[1], "x", 1) != 1)
        abort();
    pthread_join(th, NULL);
    close(s.wake[0]);
    close(s.wake[1]);
}

/* ---- mode 1: RTP packets into the depacketizers ---- */

static volatile uint8_t sink; /* every delivered byte is read into it (ASan checks each) */

static void on_au(void *ctx, const struct rec_au *au)
{
    (void)ctx;
    for (size_t i = 0; i < au->len; i++)
        sink ^= au->data[i];
}

static void on_aframe(void *ctx, const struct rec_aframe *f)
{
    (void)ctx;
    for (size_t i = 0; i < f->len; i++)
        sink ^= f->data[i];
}

static void run_rtp(const uint8_t *data, size_t size)
{
    struct rec_vdepay h264, h265;
    struct rec_aac_depay aac;
    struct rec_aac_params hbr = {13, 3, 3, 1024}, lbr = {6, 2, 2, 1024};
    struct cv_buf cfg;
    size_t off = 1;

    n_rtp++;
    rec_vdepay_init(&h264, REC_VC_H264);
    rec_vdepay_init(&h265, REC_VC_H265);
    rec_aac_init(&aac, size && (data[0] & 1) ? &lbr : &hbr);
    while (off + 2 <= size) {
        size_t n = (size_t)data[off] << 8 | data[off + 1];
        uint8_t *p;
        struct rec_rtp_hdr h;
        off += 2;
        if (n > size - off)
            n = size - off;
        p = malloc(n ? n : 1);
        if (!p)
            abort();
        memcpy(p, data + off, n);
        off += n;
        if (rec_rtp_parse(p, n, &h) == 0) {
            rec_vdepay_push(&h264, &h, on_au, NULL);
            rec_vdepay_push(&h265, &h, on_au, NULL);
            rec_aac_push(&aac, &h, on_aframe, NULL);
            rec_vdepay_note_ps(&h264, h.payload, h.len);
        }
        free(p);
    }
    rec_vdepay_flush(&h264, on_au, NULL);
    rec_vdepay_flush(&h265, on_au, NULL);
    cv_buf_init(&cfg, 1u << 16);
    (void)rec_vconfig(REC_VC_H264, &h264.vps, &h264.sps, &h264.pps, &cfg);
    cv_buf_reset(&cfg);
    (void)rec_vconfig(REC_VC_H265, &h265.vps, &h265.sps, &h265.pps, &cfg);
    cv_buf_release(&cfg);
    rec_aac_release(&aac);
    rec_vdepay_release(&h265);
    rec_vdepay_release(&h264);
}

/* ---- mode 2: SDP and URL text ---- */

static void run_text(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"sprop-parameter-sets", "sprop-vps", "sprop-sps",
                                       "sprop-pps", "config", "mode", "sizelength"};
    struct rec_sdp *sdp = malloc(sizeof(*sdp));
    char *txt = malloc(size + 1);
    char v[2048], red[CV_URL_MAX];
    uint8_t nal[REC_PS_MAX];
    struct cv_url u;
    struct cv_err err = {""};

    if (!sdp || !txt)
        abort();
    n_text++;
    memcpy(txt, data, size);
    txt[size] = 0;
    if (rec_sdp_parse(txt, size, sdp) == 0) {
        for (int m = 0; m < sdp->nmedia && m < REC_SDP_MEDIA_MAX; m++)
            for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
                if (rec_fmtp_get(sdp->m[m].fmtp, keys[k], v, sizeof(v)) == 0) {
                    /* decode exactly the value's bytes, from a buffer of exactly that size */
                    size_t vl = strlen(v);
                    char *exact = malloc(vl ? vl : 1);
                    if (!exact)
                        abort();
                    memcpy(exact, v, vl);
                    (void)rec_base64_decode(exact, vl, nal, sizeof(nal));
                    (void)rec_base64_decode(exact, vl, nal, 3);
                    free(exact);
                }
    }
    if (size < CV_URL_MAX) {
        cv_url_redact(txt, red, sizeof(red));
        if (strlen(red) >= sizeof(red))
            abort();
        /* the redaction of a URL with a password never holds "user:password@" */
        if (cv_url_parse(txt, &u, &err) == 0 && u.pass[0] && strstr(red, ":***@") == NULL &&
            strchr(red, '@')) {
            fprintf(stderr, "fuzz-rtsp: redaction of '%s' keeps the userinfo: '%s'\n", txt, red);
            abort();
        }
        (void)cv_url_check(txt, &err);
    }
    free(txt);
    free(sdp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > FUZZ_INPUT_MAX)
        return 0;
    switch (data[0] % 3) {
    case 0:
        run_session(data + 1, size - 1);
        break;
    case 1:
        run_rtp(data + 1, size - 1);
        break;
    default:
        run_text(data + 1, size - 1);
        break;
    }
    return 0;
}

#ifndef FUZZ_LIBFUZZER

#include "tests/fuzz/fuzz_driver.h"

/* Never the first byte (the mode): a mutation stays in the seed's mode. */
static void mutate(uint8_t *d, size_t *len, size_t cap)
{
    static const uint8_t special[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '\r', '\n', ' ',
                                      '"',  ',',  ';',  '=',  '$',  0x1c, 0x7c, 0x62};
    size_t n = *len, p, q, k;

    if (n < 2)
        return;
    p = 1 + below(n - 1);
    switch (rnd() % 7) {
    case 0: /* flip a bit */
        d[p] ^= (uint8_t)(1u << (rnd() % 8));
        break;
    case 1: /* a boundary byte (FU/STAP/AP types, '$' of interleaved frames, separators) */
        d[p] = special[below(sizeof(special))];
        break;
    case 2: /* a boundary 16-bit length (interleaved frames, STAP-A/AP sizes, mode 1) */
        if (p + 2 <= n) {
            uint16_t v = rnd() % 2 ? 0xffff : (uint16_t)below(64);
            d[p] = (uint8_t)(v >> 8);
            d[p + 1] = (uint8_t)v;
        }
        break;
    case 3: /* cut */
        *len = p;
        break;
    case 4: /* drop a span */
        k = below(n - p < 512 ? n - p : 512);
        memmove(d + p, d + p + k, n - p - k);
        *len = n - k;
        break;
    case 5: /* duplicate a span */
        k = below(n - p < 512 ? n - p : 512);
        if (n + k <= cap) {
            memmove(d + p + k, d + p, n - p);
            *len = n + k;
        }
        break;
    default: /* copy a span over another place */
        q = 1 + below(n - 1);
        k = below(128);
        if (p + k <= n && q + k <= n)
            memmove(d + q, d + p, k);
        break;
    }
}

struct seed {
    uint8_t *data;
    size_t len;
};

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The corpus's files in name order (deterministic), into *out. */
static int load_corpus(const char *dir, struct seed **out, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char *names[256];
    size_t nn = 0;
    struct cv_err err = {""};

    *out = NULL;
    *n = 0;
    if (!d) {
        fprintf(stderr, "fuzz-rtsp: cannot open corpus '%s': %s\n", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) && nn < 256)
        if (e->d_name[0] != '.' && !(names[nn++] = strdup(e->d_name)))
            abort();
    closedir(d);
    if (nn > 1)
        qsort(names, nn, sizeof(names[0]), name_cmp);
    *out = calloc(nn ? nn : 1, sizeof(**out));
    if (!*out)
        abort();
    for (size_t i = 0; i < nn; i++) {
        char path[4096];
        char *buf = NULL;
        size_t len = 0;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        free(names[i]);
        if (cv_read_file(path, FUZZ_INPUT_MAX, &buf, &len, &err) < 0) {
            fprintf(stderr, "fuzz-rtsp: %s\n", err.msg);
            return -1;
        }
        (*out)[(*n)++] = (struct seed){(uint8_t *)buf, len};
    }
    if (*n == 0) {
        fprintf(stderr, "fuzz-rtsp: corpus '%s' is empty\n", dir);
        return -1;
    }
    return 0;
}

static void run_numbered(const uint8_t *in, size_t len, unsigned long long i)
{
    char keep[64];

    snprintf(keep, sizeof(keep), "crash-rtsp-%llu.bin", i);
    run_kept(in, len, keep);
}

int main(int argc, char **argv)
{
    struct seed *seeds = NULL;
    size_t nseeds = 0, maxlen = 0, cap;
    unsigned long long iters;
    uint8_t *in;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: fuzz-rtsp CORPUS-DIR ITERATIONS [RANDOM-SEED]\n");
        return 2;
    }
    cv_log_init("fuzz-rtsp", CV_LOG_ERROR);
    av_log_set_level(AV_LOG_QUIET);
    if (load_corpus(argv[1], &seeds, &nseeds) < 0)
        return 2;
    iters = strtoull(argv[2], NULL, 10);
    rnd_state = argc == 4 ? strtoull(argv[3], NULL, 10) | 1 : 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < nseeds; i++)
        maxlen = seeds[i].len > maxlen ? seeds[i].len : maxlen;
    cap = maxlen + 8192;
    in = malloc(cap);
    if (!in)
        abort();
    for (size_t i = 0; i < nseeds; i++)
        run_numbered(seeds[i].data, seeds[i].len, 1000000000ULL + i);
    for (unsigned long long i = 0; i < iters; i++) {
        const struct seed *s = &seeds[below(nseeds)];
        size_t len = s->len;
        memcpy(in, s->data, len);
        for (int m = 1 + (int)(rnd() % 4); m > 0; m--)
            mutate(in, &len, cap);
        run_numbered(in, len, i);
    }
    printf("fuzz-rtsp: %llu inputs: %llu sessions (%llu opened, %llu packets), %llu rtp, "
           "%llu text\n",
           (unsigned long long)nseeds + iters, n_session, n_opened, n_packets, n_rtp, n_text);
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i].data);
    free(seeds);
    free(in);
    return 0;
}

#endif
