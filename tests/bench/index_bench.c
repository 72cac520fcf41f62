/*
 * index_bench.c: the index at scale, built directly through the indexer.
 *
 *   index-bench build ROOT [--cameras 100] [--days 30] [--segment 60] [--files N]
 *   index-bench measure ROOT [--lookups 100000] [--days-listed 2000]
 *
 * build: a fresh data root with CAMERAS cameras and DAYS days of SEGMENT-second segments each
 * (30 two-second fragments per minute), inserted in time order across cameras as a recorder
 * would. With --files N, the oldest N segments of each camera also get a real (tiny) file, so
 * that retention's deletion rate can be measured with real unlinks.
 * measure: index bytes per segment; p50/p99 of idx_locate (camera, random instant -> segment and
 * GOP byte offset) and of listing one camera's day (idx_segment_iter over 24 h); one JSON line.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "indexer/idx.h"
#include "storage-layout/layout.h"
#include "common/banned.h"

#define S INT64_C(1000000)
#define T0 (INT64_C(1795000000) * S)

static int die(const char *what, const struct cv_err *err)
{
    fprintf(stderr, "index-bench: %s: %s\n", what, err ? err->msg : strerror(errno));
    return 1;
}

static int64_t arg_i64(int argc, char **argv, const char *name, int64_t def)
{
    int64_t v;

    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0 && cv_parse_i64(argv[i + 1], 0, INT64_MAX, &v) == 0)
            return v;
    return def;
}

static int build(const char *root, int argc, char **argv)
{
    int64_t ncams = arg_i64(argc, argv, "--cameras", 100), days = arg_i64(argc, argv, "--days", 30);
    int64_t seg = arg_i64(argc, argv, "--segment", 60) * S, files = arg_i64(argc, argv, "--files", 0);
    int64_t nseg = days * 86400 * S / seg, t_start = cv_mono_us();
    struct lay_seg_frag frags[64];
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    size_t nfrag = (size_t)(seg / (2 * S));
    uint32_t *nums = calloc((size_t)ncams, sizeof(*nums));

    if (nfrag > 64)
        nfrag = 64;
    if (!nums || lay_root_create(root, &err) < 0 || idx_open(&idx, root, IDX_CREATE, &err) < 0)
        return die("creating the root", &err);
    if (idx_begin(idx, true, &t, &err) < 0)
        return die("begin", &err);
    for (int64_t c = 0; c < ncams; c++) {
        struct idx_camera cam;
        memset(&cam, 0, sizeof(cam));
        snprintf(cam.id, sizeof(cam.id), "cam%03lld", (long long)c);
        snprintf(cam.url, sizeof(cam.url), "rtsp://127.0.0.1/%s", cam.id);
        cv_strlcpy(cam.volume, LAY_DEFAULT_VOLUME, sizeof(cam.volume));
        cam.retention_days = 36500;
        cam.enabled = false;
        if (idx_camera_add(t, &cam, &err) < 0)
            return die("camera add", &err);
        nums[c] = cam.num;
    }
    if (idx_commit(t, &err) < 0)
        return die("commit", &err);
    t = NULL;
    for (int64_t i = 0; i < nseg; i++) {
        for (int64_t c = 0; c < ncams; c++) {
            struct idx_segment s;
            char cam[16];
            int64_t start = T0 + i * seg + c * 1000; /* staggered a little, as cameras are */
            memset(&s, 0, sizeof(s));
            if (!t && idx_begin(idx, true, &t, &err) < 0)
                return die("begin", &err);
            snprintf(cam, sizeof(cam), "cam%03lld", (long long)c);
            s.cam = nums[c];
            s.start_us = start;
            s.end_us = start + seg;
            {
                int64_t d = start / S / 86400, y;
                unsigned mo, dd;
                int sod = (int)(start / S % 86400);
                cv_civil_from_days(d, &y, &mo, &dd);
                snprintf(s.path, sizeof(s.path), "volumes/main/%s/%04lld-%02u-%02u/%02d%02d%02d-0.mp4",
                         cam, (long long)y, mo, dd, sod / 3600, sod / 60 % 60, sod % 60);
            }
            s.bytes = (uint64_t)(seg / S) * 500000; /* 4 Mbit/s */
            s.frames = (uint32_t)(seg / S * 25);
            s.keyframes = (uint32_t)nfrag;
            s.fragments = (uint32_t)nfrag;
            cv_strlcpy(s.video, "h264 1920x1080", sizeof(s.video));
            cv_strlcpy(s.audio, "none", sizeof(s.audio));
            for (int b = 0; b < 32; b++)
                s.sha256[b] = (uint8_t)(i * 31 + c * 7 + b);
            s.run_id = (uint64_t)T0;
            s.run_seq = (uint32_t)i;
            for (size_t f = 0; f < nfrag; f++) {
                memset(&frags[f], 0, sizeof(frags[f]));
                frags[f].offset = 1200 + f * 1000000;
                frags[f].size = 1000000;
                frags[f].wall_us = start + (int64_t)f * 2 * S;
                frags[f].starts_with_key = true;
            }
            if (i < files) {
                char abs[PATH_MAX], dir[PATH_MAX];
                int fd;
                lay_abs(root, s.path, abs, sizeof(abs), NULL);
                cv_strlcpy(dir, abs, sizeof(dir));
                *strrchr(dir, '/') = 0;
                cv_mkdir_p(dir, 0755, NULL);
                fd = open(abs, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (fd >= 0) {
                    cv_write_all(fd, "camvault-bench", 14);
                    close(fd);
                }
                s.bytes = 14;
            }
            if (idx_segment_put(t, cam, &s, frags, nfrag, &err) < 0)
                return die("segment put", &err);
        }
        if ((i + 1) % 100 == 0 || i + 1 == nseg) {
            if (idx_commit(t, &err) < 0)
                return die("commit", &err);
            t = NULL;
        }
    }
    printf("{\"built_segments\":%lld,\"cameras\":%lld,\"days\":%lld,\"seconds\":%.1f}\n",
           (long long)(nseg * ncams), (long long)ncams, (long long)days,
           (double)(cv_mono_us() - t_start) / 1e6);
    idx_close(idx);
    free(nums);
    return 0;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

struct count {
    size_t n;
};

static int count_cb(void *ctx, const struct idx_segment *s)
{
    (void)s;
    ((struct count *)ctx)->n++;
    return 0;
}

static int measure(const char *root, int argc, char **argv)
{
    int64_t lookups = arg_i64(argc, argv, "--lookups", 100000);
    int64_t listings = arg_i64(argc, argv, "--days-listed", 2000);
    int64_t *lat = malloc((size_t)(lookups > listings ? lookups : listings) * sizeof(*lat));
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct idx_camera *cams = NULL;
    struct idx_segment first, last;
    size_t ncams = 0, records = 0, listed = 0;
    char path[PATH_MAX];
    struct stat st;
    int64_t lo, hi, found = 0;
    unsigned seed = 1;

    if (!lat || idx_open(&idx, root, 0, &err) < 0 || idx_begin(idx, false, &t, &err) < 0 ||
        idx_camera_list(t, &cams, &ncams, &err) < 0 || ncams == 0)
        return die("opening", &err);
    {
        struct idx_volume v;
        idx_volume_get(t, LAY_DEFAULT_VOLUME, &v, &err);
        records = (size_t)v.segments;
    }
    if (idx_segment_last(t, cams[0].num, &last, &err) < 0)
        return die("last", &err);
    /* The first segment of camera 0 bounds the time range. */
    {
        uint64_t off;
        int64_t fus;
        lo = T0;
        if (idx_locate(t, cams[0].num, lo, &first, &off, &fus, &err) < 0)
            return die("locate first", &err);
        hi = last.end_us;
    }
    for (int64_t i = 0; i < lookups; i++) {
        uint32_t cam = cams[rand_r(&seed) % ncams].num;
        int64_t at = lo + (int64_t)(((double)rand_r(&seed) / RAND_MAX) * (double)(hi - lo - S));
        struct idx_segment s;
        uint64_t off;
        int64_t fus;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (idx_locate(t, cam, at, &s, &off, &fus, NULL) == 0)
            found++;
        clock_gettime(CLOCK_MONOTONIC, &b);
        lat[i] = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    }
    qsort(lat, (size_t)lookups, sizeof(*lat), cmp64);
    int64_t l50 = lat[lookups / 2], l99 = lat[lookups * 99 / 100];
    for (int64_t i = 0; i < listings; i++) {
        uint32_t cam = cams[rand_r(&seed) % ncams].num;
        int64_t ndays = (hi - lo) / (86400 * S);
        int64_t day = lo + (ndays > 0 ? rand_r(&seed) % ndays : 0) * 86400 * S;
        struct count c = {0};
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        idx_segment_iter(t, cam, day, day + 86400 * S, count_cb, &c, NULL);
        clock_gettime(CLOCK_MONOTONIC, &b);
        listed += c.n;
        lat[i] = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    }
    qsort(lat, (size_t)listings, sizeof(*lat), cmp64);
    idx_abort(t);
    idx_close(idx);
    snprintf(path, sizeof(path), "%s/index/data.mdb", root);
    if (stat(path, &st) < 0)
        return die(path, NULL);
    printf("{\"records\":%zu,\"index_bytes\":%lld,\"bytes_per_segment\":%.1f,"
           "\"locate_found\":%lld,\"locate_p50_us\":%.2f,\"locate_p99_us\":%.2f,"
           "\"day_list_segments_avg\":%.1f,\"day_list_p50_us\":%.1f,\"day_list_p99_us\":%.1f}\n",
           records, (long long)st.st_blocks * 512, (double)st.st_blocks * 512 / (double)records,
           (long long)found, (double)l50 / 1e3, (double)l99 / 1e3,
           (double)listed / (double)listings, (double)lat[listings / 2] / 1e3,
           (double)lat[listings * 99 / 100] / 1e3);
    free(lat);
    free(cams);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "build") == 0)
        return build(argv[2], argc - 3, argv + 3);
    if (argc >= 3 && strcmp(argv[1], "measure") == 0)
        return measure(argv[2], argc - 3, argv + 3);
    fprintf(stderr, "usage: index-bench build ROOT [--cameras N] [--days N] [--segment S] "
                    "[--files N] | measure ROOT [--lookups N] [--days-listed N]\n");
    return 2;
}
