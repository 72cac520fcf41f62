/*
 * test_segfile.c: camvault's boxes in segment files and the hardened segment reader
 * (storage-layout/segfile.h).
 *
 * lay_seg_scan decides, after a crash, how much of a segment is kept and what the index says
 * about it, and it reads files that may be torn or hostile. So it is checked against a segment
 * built by hand (tests/unit/fixtures.c) whose every offset and time is known: the whole file,
 * the file cut at every byte, files that are not segments, random garbage, random corruptions
 * of a good file, and a few crafted boxes whose lengths lie.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "storage-layout/segfile.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

/* A temp dir holding one file "seg.mp4", open read-write. */
struct seg_file {
    char dir[PATH_MAX];
    char path[PATH_MAX];
    int fd;
};

static int seg_file_open(struct seg_file *f, const void *data, size_t len)
{
    f->fd = -1;
    if (fx_tmpdir(f->dir) < 0)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/seg.mp4", f->dir);
    if (fx_write_file(f->path, data, len) < 0 || (f->fd = open(f->path, O_RDWR)) < 0) {
        unit_fail(__FILE__, __LINE__, "cannot write '%s'", f->path);
        fx_rmtree(f->dir);
        return -1;
    }
    return 0;
}

/* Replace the file's content (same fd). */
static void seg_file_set(struct seg_file *f, const void *data, size_t len)
{
    if (ftruncate(f->fd, 0) < 0 || pwrite(f->fd, data, len, 0) != (ssize_t)len)
        unit_fail(__FILE__, __LINE__, "cannot rewrite '%s'", f->path);
}

static void seg_file_close(struct seg_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    fx_rmtree(f->dir);
}

/* lay_seg_scan of the bytes of b as a segment file (written to a temporary one, removed after):
 * true with its code in *rc and, when 0, *info; false when the file could not be written (a
 * failure is recorded: the test skips its checks). */
static bool scan_bytes(const struct cv_buf *b, struct lay_seg_info *info, int *rc,
                       struct cv_err *err)
{
    struct seg_file f;

    if (seg_file_open(&f, b->data, b->len) < 0)
        return false;
    memset(info, 0, sizeof(*info));
    *rc = lay_seg_scan(f.fd, info, err);
    seg_file_close(&f);
    return true;
}

static int64_t frag_end_us(const struct fx_frag *f)
{
    return f->wall_us + (int64_t)(f->dur * 1000000 / FX_TIMESCALE);
}

void test_segfile_ntp_round_trip(void)
{
    static const int64_t fixed[] = {0,
                                    1,
                                    999999,
                                    1000000,
                                    1000001,
                                    FX_START_US,
                                    INT64_C(1795339800123456),
                                    INT64_C(1795339800999999),
                                    INT64_C(2085978495999999)}; /* the last µs of NTP era 0 */
    const uint64_t epoch = UINT64_C(2208988800) << 32;
    uint64_t rng = 0x5eed;

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        CHECK_EQ_INT(lay_us_from_ntp(lay_ntp_from_us(fixed[i])), fixed[i]);
    for (int i = 0; i < 200000 && unit_failures() < 5; i++) {
        int64_t us = (int64_t)(fx_rand(&rng) % UINT64_C(2085978496000000));
        int64_t back = lay_us_from_ntp(lay_ntp_from_us(us));
        CHECK_MSG(back == us, "%lld -> %llx -> %lld", (long long)us,
                  (unsigned long long)lay_ntp_from_us(us), (long long)back);
    }
    /* The encoding itself: seconds since 1900 and a binary fraction. */
    CHECK_EQ_U64(lay_ntp_from_us(0), epoch);
    CHECK_EQ_U64(lay_ntp_from_us(500000), epoch | 0x80000000u);
    CHECK_EQ_U64(lay_ntp_from_us(FX_START_US) >> 32, UINT64_C(1795339800) + 2208988800u);
    CHECK_EQ_INT(lay_us_from_ntp(epoch | 0x40000000u), 250000);
    /* Seconds with the top bit clear belong to the era after the 2036 wrap (RFC 4330). */
    CHECK_EQ_INT(lay_us_from_ntp(UINT64_C(5) << 32), INT64_C(2085978501000000));
}

/*
 * Regression (fixed): the header promises an exact round trip "for every µs value after 1970", but NTP
 * seconds wrap on 2036-02-07T06:28:16Z (era 1) and lay_us_from_ntp reads every era-1 time
 * as before 1970 (returns 0).
 */
void test_segfile_ntp_after_2036(void)
{
    static const int64_t cases[] = {
        INT64_C(2085978496000000),                            /* 2036-02-07T06:28:16Z */
        INT64_C(2085978496123456), INT64_C(2208988800000000), /* 2040-01-01T00:00:00Z */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t back = lay_us_from_ntp(lay_ntp_from_us(cases[i]));
        CHECK_MSG(back == cases[i], "%lld -> ntp %llx -> %lld", (long long)cases[i],
                  (unsigned long long)lay_ntp_from_us(cases[i]), (long long)back);
    }
}

void test_segfile_boxes(void)
{
    struct lay_seg_header h;
    struct cv_buf b;
    const char *text;

    cv_buf_init(&b, 4096);
    lay_seg_prft_box(&b, 1, FX_START_US + 500000, UINT64_C(123456789));
    CHECK_EQ_INT(b.len, 32);
    CHECK_EQ_U64(cv_get_be32(b.data), 32);
    CHECK(memcmp(b.data + 4, "prft", 4) == 0);
    CHECK_EQ_U64(cv_get_be32(b.data + 8), 0x01000000u); /* version 1, flags 0 */
    CHECK_EQ_U64(cv_get_be32(b.data + 12), 1);
    CHECK_EQ_U64(cv_get_be64(b.data + 16), lay_ntp_from_us(FX_START_US + 500000));
    CHECK_EQ_U64(cv_get_be64(b.data + 24), 123456789);

    cv_buf_reset(&b);
    lay_seg_fraginfo_box(&b, FX_START_US + 7, -1);
    CHECK_EQ_INT(b.len, 40);
    CHECK_EQ_U64(cv_get_be32(b.data), 40);
    CHECK(memcmp(b.data + 4, "uuid", 4) == 0);
    CHECK(memcmp(b.data + 8, LAY_SEG_UUID_FRAGINFO, 16) == 0);
    CHECK_EQ_U64(cv_get_be64(b.data + 24), (uint64_t)(FX_START_US + 7));
    CHECK_EQ_U64(cv_get_be64(b.data + 32), UINT64_MAX);

    cv_buf_reset(&b);
    memset(&h, 0, sizeof(h));
    cv_strlcpy(h.camera, "gate-3", sizeof(h.camera));
    h.run_id = FX_RUN_ID;
    h.run_seq = 2;
    cv_strlcpy(h.container, "mov", sizeof(h.container));
    cv_strlcpy(h.video, "h264 1920x1080", sizeof(h.video));
    cv_strlcpy(h.audio, "pcm_mulaw 8000Hz 1ch", sizeof(h.audio));
    lay_seg_header_box(&b, &h);
    CHECK(cv_buf_ok(&b));
    CHECK_EQ_U64(cv_get_be32(b.data), b.len);
    CHECK(memcmp(b.data + 4, "uuid", 4) == 0);
    CHECK(memcmp(b.data + 8, LAY_SEG_UUID_HEADER, 16) == 0);
    text = (const char *)b.data + 24;
    CHECK_EQ_STR(text, "version=1\ncamera=gate-3\nrun=1795339700000000\nrun_seq=2\ncontainer=mov\n"
                       "video=h264 1920x1080\naudio=pcm_mulaw 8000Hz 1ch\n");
    cv_buf_release(&b);
}

/* Compare a scan with the fixture's first `n` fragments. */
static void check_frags(const struct lay_seg_info *info, const struct fx_segment *s, size_t n,
                        const char *what)
{
    for (size_t i = 0; i < n && i < info->nfrags; i++) {
        const struct lay_seg_frag *g = &info->frags[i];
        const struct fx_frag *w = &s->frags[i];
        CHECK_MSG(g->offset == w->offset && g->size == w->size,
                  "%s: fragment %zu at %llu+%llu, want %llu+%llu", what, i,
                  (unsigned long long)g->offset, (unsigned long long)g->size,
                  (unsigned long long)w->offset, (unsigned long long)w->size);
        CHECK_MSG(g->wall_us == w->wall_us && g->recv_us == w->recv_us,
                  "%s: fragment %zu wall %lld recv %lld, want %lld %lld", what, i,
                  (long long)g->wall_us, (long long)g->recv_us, (long long)w->wall_us,
                  (long long)w->recv_us);
        CHECK_MSG(g->video_dts == w->dts && g->video_dur == w->dur &&
                      g->video_samples == w->samples && g->keyframes == 1 && g->starts_with_key &&
                      g->audio_samples == 0,
                  "%s: fragment %zu dts %llu dur %llu samples %u keys %u key-first %d", what, i,
                  (unsigned long long)g->video_dts, (unsigned long long)g->video_dur,
                  g->video_samples, g->keyframes, g->starts_with_key);
    }
}

void test_segfile_scan(void)
{
    struct fx_segment s;
    struct seg_file f;
    struct lay_seg_info info;
    struct cv_err err = {""};

    fx_segment_build(&s, 3, true);
    if (seg_file_open(&f, s.buf.data, s.buf.len) < 0) {
        fx_segment_release(&s);
        return;
    }
    CHECK_OK(lay_seg_scan(f.fd, &info, &err), &err);
    CHECK_EQ_INT(info.nfrags, 3);
    check_frags(&info, &s, 3, "whole file");
    CHECK_EQ_U64(info.file_bytes, s.buf.len);
    CHECK_EQ_U64(info.complete_bytes, s.buf.len);
    CHECK(!info.closed);
    CHECK_EQ_INT(info.start_us, FX_START_US);
    CHECK_EQ_INT(info.start_us, s.frags[0].wall_us);
    CHECK_EQ_INT(info.end_us, frag_end_us(&s.frags[2]));
    /* 50 + 30 + 50 frames of 40 ms from 09:30:00 (the fixture adds 2 µs to the last start). */
    CHECK_EQ_INT(info.end_us, FX_START_US + 5200000 + 2);
    CHECK_EQ_U64(info.video_samples, 130);
    CHECK_EQ_U64(info.keyframes, 3);
    CHECK_EQ_U64(info.audio_samples, 0);
    CHECK_EQ_INT(info.video_track, 1);
    CHECK_EQ_INT(info.audio_track, 0);
    CHECK_EQ_INT(info.video_timescale, FX_TIMESCALE);
    CHECK_EQ_STR(info.video_fourcc, "avc1");
    CHECK_EQ_INT(info.width, FX_WIDTH);
    CHECK_EQ_INT(info.height, FX_HEIGHT);
    CHECK(info.has_header);
    CHECK_EQ_STR(info.hdr.camera, FX_CAMERA);
    CHECK_EQ_U64(info.hdr.run_id, FX_RUN_ID);
    CHECK_EQ_INT(info.hdr.run_seq, 7);
    CHECK_EQ_STR(info.hdr.container, "mp4");
    CHECK_EQ_STR(info.hdr.video, "h264 1280x720");
    CHECK_EQ_STR(info.hdr.audio, "none");
    lay_seg_info_release(&info);
    CHECK(info.frags == NULL && info.nfrags == 0);

    /* Closed cleanly: an mfra box at the very end. */
    {
        size_t mfra, mfro, len;
        lay_box_begin(&s.buf, "mfra", &mfra);
        lay_box_begin(&s.buf, "mfro", &mfro);
        lay_box_full(&s.buf, 0, 0);
        cv_buf_be32(&s.buf, 16);
        lay_box_end(&s.buf, mfro);
        lay_box_end(&s.buf, mfra);
        len = s.buf.len;
        seg_file_set(&f, s.buf.data, len);
        CHECK_OK(lay_seg_scan(f.fd, &info, &err), &err);
        CHECK(info.closed);
        CHECK_EQ_INT(info.nfrags, 3);
        CHECK_EQ_U64(info.complete_bytes, len);
        lay_seg_info_release(&info);
        /* Bytes after the mfra: not a clean close. */
        cv_buf_put(&s.buf, "junk", 4);
        seg_file_set(&f, s.buf.data, s.buf.len);
        CHECK_OK(lay_seg_scan(f.fd, &info, &err), &err);
        CHECK(!info.closed);
        lay_seg_info_release(&info);
    }
    fx_segment_release(&s);

    /* Without camvault's header box: fragments still found, has_header false. */
    fx_segment_build(&s, 2, false);
    seg_file_set(&f, s.buf.data, s.buf.len);
    CHECK_OK(lay_seg_scan(f.fd, &info, &err), &err);
    CHECK(!info.has_header);
    CHECK_EQ_STR(info.hdr.camera, "");
    CHECK_EQ_INT(info.nfrags, 2);
    check_frags(&info, &s, 2, "no header");
    lay_seg_info_release(&info);
    fx_segment_release(&s);
    seg_file_close(&f);
}

void test_segfile_scan_every_truncation(void)
{
    struct fx_segment s;
    struct seg_file f;

    fx_segment_build(&s, 3, true);
    if (seg_file_open(&f, s.buf.data, s.buf.len) < 0) {
        fx_segment_release(&s);
        return;
    }
    /* Cutting from the end down needs no rewrite: each ftruncate only shortens the copy. */
    for (size_t n = s.buf.len + 1; n-- > 0 && unit_failures() < 10;) {
        struct lay_seg_info info;
        struct cv_err err = {""};
        size_t want = 0;
        uint64_t want_complete;
        int rc;

        if (ftruncate(f.fd, (off_t)n) < 0) {
            unit_fail(__FILE__, __LINE__, "ftruncate %zu failed", n);
            break;
        }
        while (want < s.nfrags && s.frags[want].offset + s.frags[want].size <= n)
            want++;
        want_complete = want                ? s.frags[want - 1].offset + s.frags[want - 1].size
                        : n >= s.header_end ? s.header_end
                                            : s.moov_end;
        rc = lay_seg_scan(f.fd, &info, &err);
        if (n < s.moov_end) {
            CHECK_MSG(rc == CV_ECORRUPT && err.msg[0],
                      "cut at %zu (inside ftyp/moov): rc %d, want CV_ECORRUPT", n, rc);
            CHECK_MSG(info.nfrags == 0, "cut at %zu: %zu fragments after an error", n, info.nfrags);
            continue;
        }
        CHECK_MSG(rc == 0, "cut at %zu: rc %d: %s", n, rc, err.msg);
        if (rc < 0)
            continue;
        /* a torn end is kept silently: no message left behind for a later cv_errwrap */
        CHECK_MSG(!err.msg[0], "cut at %zu: message after success: %s", n, err.msg);
        CHECK_MSG(info.nfrags == want, "cut at %zu: %zu fragments, want %zu", n, info.nfrags, want);
        CHECK_MSG(info.complete_bytes == want_complete && info.complete_bytes <= n,
                  "cut at %zu: complete_bytes %llu, want %llu", n,
                  (unsigned long long)info.complete_bytes, (unsigned long long)want_complete);
        CHECK_MSG(info.file_bytes == n, "cut at %zu: file_bytes %llu", n,
                  (unsigned long long)info.file_bytes);
        CHECK_MSG(info.has_header == (n >= s.header_end), "cut at %zu: has_header %d", n,
                  info.has_header);
        CHECK(!info.closed);
        check_frags(&info, &s, want, "truncated");
        if (want > 0) {
            CHECK_MSG(info.start_us == s.frags[0].wall_us &&
                          info.end_us == frag_end_us(&s.frags[want - 1]),
                      "cut at %zu: %lld..%lld", n, (long long)info.start_us,
                      (long long)info.end_us);
        }
        lay_seg_info_release(&info);
    }
    fx_segment_release(&s);
    seg_file_close(&f);
}

void test_segfile_scan_not_a_segment(void)
{
    struct fx_segment s;
    struct seg_file f;
    struct cv_buf b;
    size_t m, m2;

    fx_segment_build(&s, 1, true);
    if (seg_file_open(&f, "", 0) < 0) {
        fx_segment_release(&s);
        return;
    }
    cv_buf_init(&b, 1 << 20);
    for (int c = 0; c < 7; c++) {
        struct lay_seg_info info;
        struct cv_err err = {""};
        const char *what = "";
        int rc;

        cv_buf_reset(&b);
        switch (c) {
        case 0:
            what = "empty file";
            break;
        case 1:
            what = "text file";
            cv_buf_printf(&b, "this is not a video file, it is a text file of some length\n");
            break;
        case 2:
            what = "moov first";
            cv_buf_put(&b, s.buf.data + 32, s.moov_end - 32); /* ftyp is 32 bytes */
            cv_buf_put(&b, s.buf.data + s.moov_end, s.buf.len - s.moov_end);
            break;
        case 3:
            what = "mdat before moov";
            cv_buf_put(&b, s.buf.data, 32);
            lay_box_begin(&b, "mdat", &m);
            cv_buf_put(&b, "xxxxxxxx", 8);
            lay_box_end(&b, m);
            cv_buf_put(&b, s.buf.data + 32, s.buf.len - 32);
            break;
        case 4:
            what = "ftyp only";
            cv_buf_put(&b, s.buf.data, 32);
            break;
        case 5:
            what = "moov without a track";
            cv_buf_put(&b, s.buf.data, 32);
            lay_box_begin(&b, "moov", &m);
            lay_box_begin(&b, "free", &m2);
            lay_box_end(&b, m2);
            lay_box_end(&b, m);
            break;
        case 6:
            what = "free box first";
            lay_box_begin(&b, "free", &m);
            lay_box_end(&b, m);
            cv_buf_put(&b, s.buf.data, s.buf.len);
            break;
        }
        seg_file_set(&f, b.data ? b.data : (const uint8_t *)"", b.len);
        rc = lay_seg_scan(f.fd, &info, &err);
        CHECK_MSG(rc == CV_ECORRUPT, "%s: rc %d, want CV_ECORRUPT", what, rc);
        CHECK_MSG(strstr(err.msg, "segment") || strstr(err.msg, "moov"),
                  "%s: message \"%s\" does not say what is wrong", what, err.msg);
        CHECK_MSG(info.nfrags == 0 && info.frags == NULL, "%s: fragments after an error", what);
    }
    cv_buf_release(&b);
    fx_segment_release(&s);
    seg_file_close(&f);
}

void test_segfile_scan_garbage(void)
{
    static const size_t sizes[] = {1, 7, 8, 9, 16, 100, 1000, 4096, 65536};
    struct fx_segment s;
    struct seg_file f;
    uint64_t rng = 0x9a7ba9e;
    uint8_t *junk = malloc(65536);

    fx_segment_build(&s, 3, true);
    if (!junk || seg_file_open(&f, "", 0) < 0) {
        free(junk);
        fx_segment_release(&s);
        return;
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct lay_seg_info info;
        struct cv_err err = {""};
        struct cv_buf b;
        size_t n = sizes[i];
        int rc;

        for (size_t j = 0; j < n; j++)
            junk[j] = (uint8_t)fx_rand(&rng);
        if (n >= 8 && memcmp(junk + 4, "ftyp", 4) == 0)
            junk[4] = 'x';
        /* Garbage alone: not a segment. */
        seg_file_set(&f, junk, n);
        rc = lay_seg_scan(f.fd, &info, &err);
        CHECK_MSG(rc == CV_ECORRUPT, "%zu bytes of garbage: rc %d", n, rc);
        /* Garbage after the header: a segment without fragments. */
        cv_buf_init(&b, 1 << 20);
        cv_buf_put(&b, s.buf.data, s.header_end);
        cv_buf_put(&b, junk, n);
        seg_file_set(&f, b.data, b.len);
        rc = lay_seg_scan(f.fd, &info, &err);
        CHECK_MSG(rc == 0 && info.nfrags == 0 && info.complete_bytes == s.header_end,
                  "header + %zu bytes of garbage: rc %d, %zu fragments, complete %llu", n, rc,
                  info.nfrags, (unsigned long long)info.complete_bytes);
        if (rc == 0)
            lay_seg_info_release(&info);
        /* Garbage after three good fragments (a torn write of random bytes). */
        cv_buf_reset(&b);
        cv_buf_put(&b, s.buf.data, s.buf.len);
        cv_buf_put(&b, junk, n);
        seg_file_set(&f, b.data, b.len);
        rc = lay_seg_scan(f.fd, &info, &err);
        CHECK_MSG(rc == 0 && info.nfrags == 3 && info.complete_bytes == s.buf.len,
                  "segment + %zu bytes of garbage: rc %d, %zu fragments, complete %llu", n, rc,
                  info.nfrags, (unsigned long long)info.complete_bytes);
        if (rc == 0)
            lay_seg_info_release(&info);
        cv_buf_release(&b);
    }
    free(junk);
    fx_segment_release(&s);
    seg_file_close(&f);
}

/*
 * Random corruption of a good segment (1 to 4 bytes changed per round, fixed seed): the scan
 * never crashes and what it reports is self-consistent. Run under SANITIZE=address to catch
 * reads outside the boxes.
 */
void test_segfile_scan_mutations(void)
{
    struct fx_segment s;
    struct seg_file f;
    uint64_t rng = 0xc0ffee;
    uint8_t *copy;

    fx_segment_build(&s, 3, true);
    copy = malloc(s.buf.len);
    if (!copy || seg_file_open(&f, s.buf.data, s.buf.len) < 0) {
        free(copy);
        fx_segment_release(&s);
        return;
    }
    for (int round = 0; round < 3000 && unit_failures() < 10; round++) {
        struct lay_seg_info info;
        struct cv_err err = {""};
        int flips = 1 + (int)(fx_rand(&rng) % 4), rc;
        uint64_t samples = 0, prev_end = 0;

        memcpy(copy, s.buf.data, s.buf.len);
        for (int i = 0; i < flips; i++)
            copy[fx_rand(&rng) % s.buf.len] = (uint8_t)fx_rand(&rng);
        seg_file_set(&f, copy, s.buf.len);
        rc = lay_seg_scan(f.fd, &info, &err);
        CHECK_MSG(rc == 0 || rc == CV_ECORRUPT, "round %d: rc %d: %s", round, rc, err.msg);
        if (rc < 0)
            continue;
        CHECK_MSG(info.complete_bytes <= info.file_bytes && info.file_bytes == s.buf.len,
                  "round %d: complete %llu of %llu", round, (unsigned long long)info.complete_bytes,
                  (unsigned long long)info.file_bytes);
        for (size_t i = 0; i < info.nfrags; i++) {
            const struct lay_seg_frag *g = &info.frags[i];
            CHECK_MSG(g->offset >= prev_end && g->offset + g->size <= info.complete_bytes,
                      "round %d: fragment %zu at %llu+%llu outside [%llu, %llu]", round, i,
                      (unsigned long long)g->offset, (unsigned long long)g->size,
                      (unsigned long long)prev_end, (unsigned long long)info.complete_bytes);
            prev_end = g->offset + g->size;
            samples += g->video_samples;
        }
        CHECK_MSG(samples == info.video_samples, "round %d: %llu samples, fragments sum %llu",
                  round, (unsigned long long)info.video_samples, (unsigned long long)samples);
        if (info.nfrags > 0)
            CHECK_EQ_INT(info.start_us, info.frags[0].wall_us);
        lay_seg_info_release(&info);
    }
    free(copy);
    fx_segment_release(&s);
    seg_file_close(&f);
}

/* Offset of the first box of `type` at or after `from`, searching bytes; 0 when absent. */
static size_t find_type(const struct cv_buf *b, size_t from, const char *type)
{
    for (size_t i = from + 4; i + 4 <= b->len; i++)
        if (memcmp(b->data + i, type, 4) == 0)
            return i - 4;
    return 0;
}

/*
 * Regression (fixed): a tkhd too short to hold its track_ID is not refused. parse_trak skips fields with
 * `r.off += 12` past the end of the 4-byte body, and cv_rd then reads the following bytes
 * (here the next box's) as the track id. The header promises CV_ECORRUPT for a malformed box
 * before the first fragment. With the tkhd at the end of moov the same read runs past the
 * heap buffer (an ASan report).
 */
void test_segfile_scan_short_tkhd(void)
{
    struct fx_segment s;
    struct lay_seg_info info;
    struct cv_err err = {""};
    size_t t;
    uint32_t size;
    int rc;

    fx_segment_build(&s, 1, true);
    t = find_type(&s.buf, 0, "tkhd");
    size = t ? cv_get_be32(s.buf.data + t) : 0;
    CHECK(t && size == 92);
    if (!t || size != 92) {
        fx_segment_release(&s);
        return;
    }
    /* tkhd of 12 bytes (version and flags only), then a free box over the rest. */
    cv_put_be32(s.buf.data + t, 12);
    cv_put_be32(s.buf.data + t + 12, size - 12);
    memcpy(s.buf.data + t + 16, "free", 4);
    if (scan_bytes(&s.buf, &info, &rc, &err)) {
        CHECK_MSG(rc == CV_ECORRUPT,
                  "a 4-byte tkhd body is accepted (track %u read from the next box)",
                  info.video_track);
        lay_seg_info_release(&info);
    }
    fx_segment_release(&s);
}

/*
 * Regression (fixed): a trun whose sample_count promises more samples than its box holds, with sample sizes
 * (flag 0x200, skipped with `r.off += 4`) before sample flags (0x400, read), walks off the end of
 * the moof: the skip puts `off` past `len`, cv_rd's `n > len - off` check then wraps around and
 * every later read "succeeds", for up to a million samples (12 MB past a small heap buffer).
 * Expected: the malformed moof ends the good part (1 fragment kept). Got: SIGSEGV in the plain
 * build, a heap-buffer-overflow report under ASan.
 */
void test_segfile_scan_trun_past_box(void)
{
    struct fx_segment s;
    struct lay_seg_info info;
    struct cv_err err = {""};
    struct cv_buf *b;
    size_t moof, traf, trun, mdat;
    uint64_t good_len;
    int rc;

    fx_segment_build(&s, 1, true);
    b = &s.buf;
    good_len = b->len;
    lay_seg_prft_box(b, 1, FX_START_US + 2000000, 2 * FX_TIMESCALE);
    fx_moof_begin(b, 2, &moof, &traf);
    lay_box_begin(b, "trun", &trun);
    lay_box_full(b, 0, 0x000200 | 0x000400); /* per sample: size (skipped), then flags (read) */
    cv_buf_be32(b, 1000000);               /* the limit the reader allows */
    cv_buf_be32(b, 8);
    cv_buf_be32(b, 0x02000000);
    lay_box_end(b, trun);
    lay_box_end(b, traf);
    lay_box_end(b, moof);
    lay_box_begin(b, "mdat", &mdat);
    cv_buf_put(b, "\0\0\0\4abcd", 8);
    lay_box_end(b, mdat);
    if (scan_bytes(b, &info, &rc, &err)) {
        CHECK_OK(rc, &err);
        if (rc == 0) {
            CHECK_EQ_INT(info.nfrags, 1);
            CHECK_EQ_U64(info.complete_bytes, good_len);
            lay_seg_info_release(&info);
        }
    }
    fx_segment_release(&s);
}

/*
 * Regression (fixed): a box with a 64-bit size (size field 1) whose largesize makes `off + size` wrap around
 * passes the `off + size > file_bytes` check and sends the reader back to an earlier box: here
 * to the header box just before it, so the scan loops forever (the test's 2 s alarm fires).
 * Expected: the box ends the good part; the segment has its header and no fragment.
 */
void test_segfile_scan_largesize_wrap(void)
{
    struct fx_segment s;
    struct lay_seg_info info;
    struct cv_err err = {""};
    uint64_t back;
    int rc;

    fx_segment_build(&s, 0, true);
    back = s.header_end - s.moov_end; /* the header box's size */
    cv_buf_be32(&s.buf, 1);
    cv_buf_put(&s.buf, "free", 4);
    cv_buf_be64(&s.buf, (uint64_t)0 - back);
    alarm(2);
    if (scan_bytes(&s.buf, &info, &rc, &err)) {
        alarm(0);
        CHECK_OK(rc, &err);
        if (rc == 0) {
            CHECK_EQ_INT(info.nfrags, 0);
            CHECK(info.has_header);
            CHECK_EQ_U64(info.complete_bytes, s.header_end);
            lay_seg_info_release(&info);
        }
    }
    fx_segment_release(&s);
}

void test_segfile_sha256(void)
{
    static const char abc_hex[] =
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    static const char empty_hex[] =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    struct seg_file f;
    struct cv_err err = {""};
    uint8_t got[32], want[32];
    char hex[65];
    size_t big_len = (5u << 20) / 2 + 17; /* 2.5 MiB + 17: several 1 MiB reads and a tail */
    uint8_t *big = malloc(big_len);
    uint64_t rng = 42;

    if (!big || seg_file_open(&f, "abcdef", 6) < 0) {
        free(big);
        return;
    }
    CHECK_OK(lay_sha256_fd(f.fd, 3, got, &err), &err);
    cv_hex(got, 32, hex);
    CHECK_EQ_STR(hex, abc_hex);
    CHECK_OK(lay_sha256_fd(f.fd, 0, got, &err), &err);
    cv_hex(got, 32, hex);
    CHECK_EQ_STR(hex, empty_hex);
    /* Past the end of the file: an error, not a hash of fewer bytes. */
    CHECK(lay_sha256_fd(f.fd, 7, got, &err) < 0);

    for (size_t i = 0; i < big_len; i++)
        big[i] = (uint8_t)fx_rand(&rng);
    seg_file_set(&f, big, big_len);
    CHECK_OK(lay_sha256_fd(f.fd, big_len, got, &err), &err);
    fx_sha256(big, big_len, want);
    CHECK_EQ_MEM(got, want, 32);
    CHECK_OK(lay_sha256_fd(f.fd, 1u << 20, got, &err), &err);
    fx_sha256(big, 1u << 20, want);
    CHECK_EQ_MEM(got, want, 32);
    free(big);
    seg_file_close(&f);
}
