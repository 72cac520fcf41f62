/*
 * test_volumes.c: volumes, where footage lives: their space and high-water mark
 * (storage-layout/layout.h: lay_volume_space, lay_reserve_bytes, lay_camera_dir), their paths
 * (indexer/retention.h: idx_volume_dir) and their records in the index (idx_volume_*).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "common/buf.h"
#include "common/cvtime.h"
#include "indexer/idx.h"
#include "indexer/retention.h"
#include "storage-layout/layout.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define MiB ((uint64_t)1 << 20)

/* lay_volume_space against statvfs itself, for each kind of --max-bytes. */
void test_volumes_space(void)
{
    char dir[PATH_MAX];
    struct statvfs sv;
    uint64_t total, avail, used, mark;

    if (fx_tmpdir(dir) < 0)
        return;
    CHECK_EQ_INT(statvfs(dir, &sv), 0);
    total = (uint64_t)sv.f_blocks * sv.f_frsize;
    avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    used = total - (uint64_t)sv.f_bfree * sv.f_frsize;
    mark = (uint64_t)((double)total * LAY_VOLUME_HIGH_WATER);

    const struct {
        const char *what;
        uint64_t max_bytes;
        uint64_t want_limit;
    } cases[] = {
        {"no --max-bytes: 95 % of the filesystem", 0, mark},
        {"a lower --max-bytes wins", 1000, 1000},
        {"--max-bytes of one byte", 1, 1},
        {"--max-bytes just under the mark", mark - 1, mark - 1},
        {"--max-bytes equal to the mark", mark, mark},
        {"a higher --max-bytes cannot raise the mark", total * 2, mark},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lay_volume_space sp;

        memset(&sp, 0xAA, sizeof(sp));
        CHECK_MSG(lay_volume_space(dir, cases[i].max_bytes, &sp) == 0, "%s: failed",
                  cases[i].what);
        CHECK_MSG(sp.limit == cases[i].want_limit, "%s: limit %llu, want %llu", cases[i].what,
                  (unsigned long long)sp.limit, (unsigned long long)cases[i].want_limit);
        CHECK_EQ_U64(sp.fs_total, total);
        /* Free and used bytes move with every other writer on the machine: near, not equal. */
        CHECK_MSG(sp.fs_free <= total && sp.fs_free + 64 * MiB >= avail &&
                      sp.fs_free <= avail + 64 * MiB,
                  "%s: fs_free %llu, statvfs says %llu", cases[i].what,
                  (unsigned long long)sp.fs_free, (unsigned long long)avail);
        CHECK_MSG(sp.fs_used <= total && sp.fs_used + 64 * MiB >= used &&
                      sp.fs_used <= used + 64 * MiB,
                  "%s: fs_used %llu, statvfs says %llu", cases[i].what,
                  (unsigned long long)sp.fs_used, (unsigned long long)used);
    }

    /* A directory that cannot be measured: -1, sizes zero, the limit is --max-bytes alone. */
    {
        struct lay_volume_space sp;
        char missing[PATH_MAX];

        snprintf(missing, sizeof(missing), "%s/no-such-volume", dir);
        memset(&sp, 0xAA, sizeof(sp));
        CHECK_EQ_INT(lay_volume_space(missing, 5000, &sp), -1);
        CHECK_EQ_U64(sp.fs_total, 0);
        CHECK_EQ_U64(sp.fs_free, 0);
        CHECK_EQ_U64(sp.fs_used, 0);
        CHECK_EQ_U64(sp.limit, 5000);
        CHECK_EQ_INT(lay_volume_space(missing, 0, &sp), -1);
        CHECK_EQ_U64(sp.limit, 0);
    }
    fx_rmtree(dir);
}

/* The reserve file: 1/32 of a small filesystem, at most LAY_RESERVE_MAX. */
void test_volumes_reserve(void)
{
    static const struct {
        uint64_t fs_total, want;
    } cases[] = {
        {0, 0},
        {31, 0},
        {32, 1},
        {320 * MiB, 10 * MiB},
        {32 * LAY_RESERVE_MAX - 32, LAY_RESERVE_MAX - 1},
        {32 * LAY_RESERVE_MAX, LAY_RESERVE_MAX},
        {(uint64_t)1 << 42, LAY_RESERVE_MAX},
        {UINT64_MAX, LAY_RESERVE_MAX},
    };
    char path[PATH_MAX];
    struct cv_err err = {""};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_MSG(lay_reserve_bytes(cases[i].fs_total) == cases[i].want,
                  "lay_reserve_bytes(%llu) = %llu, want %llu",
                  (unsigned long long)cases[i].fs_total,
                  (unsigned long long)lay_reserve_bytes(cases[i].fs_total),
                  (unsigned long long)cases[i].want);
    CHECK_OK(lay_reserve_path("/data/cv", path, sizeof(path), &err), &err);
    CHECK_EQ_STR(path, "/data/cv/index/space.reserve");
}

/* Where a volume's and a camera's files are, and what happens when the name is too long. */
void test_volumes_paths(void)
{
    char rel[LAY_RELPATH_MAX], abs[PATH_MAX], small[16], longname[PATH_MAX];
    struct cv_err err = {""};

    CHECK_OK(lay_camera_dir("main", "gate-3", rel, sizeof(rel), &err), &err);
    CHECK_EQ_STR(rel, "volumes/main/gate-3");
    CHECK_OK(lay_camera_dir("v02", "cam1", rel, sizeof(rel), &err), &err);
    CHECK_EQ_STR(rel, "volumes/v02/cam1");
    CHECK_EQ_INT(lay_camera_dir("main", "a-long-camera-id", small, sizeof(small), &err),
                 CV_ELIMIT);
    CHECK_CONTAINS(err.msg, "too long");

    CHECK_OK(idx_volume_dir("/data/cv", "main", abs, sizeof(abs), &err), &err);
    CHECK_EQ_STR(abs, "/data/cv/volumes/main");
    memset(longname, 'v', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    err.msg[0] = '\0';
    CHECK(idx_volume_dir("/data/cv", longname, abs, sizeof(abs), &err) < 0);
    CHECK(err.msg[0] != '\0');

    /* Volume names follow the id rules: a path separator or a dot-dot is refused. */
    CHECK_OK(lay_id_check("volume", "v02", &err), &err);
    CHECK_EQ_INT(lay_id_check("volume", "../etc", &err), CV_EINVAL);
    CHECK_CONTAINS(err.msg, "volume");
    CHECK(lay_id_check("volume", "a/b", &err) < 0);
    CHECK(lay_id_check("volume", "", &err) < 0);
}

/* Volume records: the default volume without a record, others with path and --max-bytes, the
 * byte count of indexed footage per volume, and an unknown name. */
void test_volumes_records(void)
{
    char root[PATH_MAX];
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct idx_volume v, *list = NULL;
    struct idx_camera cam;
    size_t n = 0;

    if (fx_root_open(root, &idx) < 0)
        return;
    CHECK_OK(idx_begin(idx, true, &t, &err), &err);

    /* A fresh index: "main" only, with no footage. */
    CHECK_OK(idx_volume_list(t, &list, &n, &err), &err);
    CHECK_EQ_INT(n, 1);
    if (n >= 1) {
        CHECK_EQ_STR(list[0].name, LAY_DEFAULT_VOLUME);
        CHECK_EQ_U64(list[0].used_bytes, 0);
        CHECK_EQ_U64(list[0].max_bytes, 0);
    }
    free(list);
    list = NULL;
    CHECK_OK(idx_volume_get(t, LAY_DEFAULT_VOLUME, &v, &err), &err);
    err.msg[0] = '\0';
    CHECK_EQ_INT(idx_volume_get(t, "nosuch", &v, &err), CV_ENOENT);
    CHECK_CONTAINS(err.msg, "unknown volume 'nosuch'");

    /* Two volumes, put out of name order; "main" still comes first. */
    memset(&v, 0, sizeof(v));
    cv_strlcpy(v.name, "zz-big", sizeof(v.name));
    cv_strlcpy(v.path, "/mnt/disk2/camvault", sizeof(v.path));
    CHECK_OK(idx_volume_put(t, &v, &err), &err);
    memset(&v, 0, sizeof(v));
    cv_strlcpy(v.name, "a-small", sizeof(v.name));
    v.max_bytes = 5000;
    CHECK_OK(idx_volume_put(t, &v, &err), &err);

    /* Footage on a-small counts towards it, not towards main. */
    fx_camera(&cam, FX_CAMERA, "a-small", 30);
    cam.enabled = false;
    CHECK_OK(idx_camera_add(t, &cam, &err), &err);
    for (int i = 0; i < 2; i++) {
        struct idx_segment s;
        struct lay_seg_frag f;

        fx_segment_rec(&s, &f, cam.num, FX_START_US + i * 10 * CV_US_PER_S, 10 * CV_US_PER_S,
                       1000 + (uint64_t)i);
        snprintf(s.path, sizeof(s.path), "volumes/a-small/%s/2026-11-22/0930%02d-0.mp4",
                 FX_CAMERA, i * 10);
        CHECK_OK(idx_segment_put(t, FX_CAMERA, &s, &f, 1, &err), &err);
    }
    CHECK_OK(idx_commit(t, &err), &err);
    t = NULL;

    CHECK_OK(idx_begin(idx, false, &t, &err), &err);
    CHECK_OK(idx_volume_list(t, &list, &n, &err), &err);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_STR(list[0].name, LAY_DEFAULT_VOLUME);
        CHECK_EQ_U64(list[0].used_bytes, 0);
        CHECK_EQ_STR(list[1].name, "a-small");
        CHECK_EQ_U64(list[1].max_bytes, 5000);
        CHECK_EQ_STR(list[1].path, "");
        CHECK_EQ_U64(list[1].used_bytes, 2001);
        CHECK_EQ_U64(list[1].segments, 2);
        CHECK_EQ_STR(list[2].name, "zz-big");
        CHECK_EQ_STR(list[2].path, "/mnt/disk2/camvault");
        CHECK_EQ_U64(list[2].max_bytes, 0);
        CHECK_EQ_U64(list[2].used_bytes, 0);
    }
    CHECK_OK(idx_volume_get(t, "a-small", &v, &err), &err);
    CHECK_EQ_U64(v.used_bytes, 2001);
    CHECK_EQ_U64(v.segments, 2);
    CHECK_EQ_U64(v.max_bytes, 5000);
    free(list);
    idx_abort(t);
    fx_root_close(root, idx);
}
