/*
 * test_layout.c: data-root paths, ids and segment file names (storage-layout/layout.h).
 *
 * Segment names carry the UTC start time and are parsed back when the index is rebuilt from the
 * files alone, so creation and parsing must agree exactly, and parsing must refuse anything that
 * creation would never have written.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "storage-layout/layout.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

void test_layout_id_check(void)
{
    static const char *const good[] = {"gate-3", "a", "A.b_c-9", "0", "cam.01_north-gate"};
    static const char *const bad[] = {"",   "-x",  ".x",          "_x",  "a/b", "a b",
                                      "..", "a\n", "caf\xc3\xa9", "a:b", "a\\b"};
    char id64[LAY_ID_MAX + 1], id65[LAY_ID_MAX + 2];
    struct cv_err err = {""};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK_MSG(lay_id_check("camera", good[i], &err) == 0, "'%s' refused: %s", good[i], err.msg);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char quoted[64];
        err.msg[0] = '\0';
        CHECK_MSG(lay_id_check("camera", bad[i], &err) == CV_EINVAL, "'%s' accepted", bad[i]);
        snprintf(quoted, sizeof(quoted), "camera id '%s'", bad[i]);
        CHECK_CONTAINS(err.msg, quoted);
    }
    memset(id64, 'c', LAY_ID_MAX);
    id64[LAY_ID_MAX] = '\0';
    CHECK_OK(lay_id_check("volume", id64, &err), &err);
    memset(id65, 'c', LAY_ID_MAX + 1);
    id65[LAY_ID_MAX + 1] = '\0';
    CHECK_EQ_INT(lay_id_check("volume", id65, &err), CV_EINVAL);
    CHECK_CONTAINS(err.msg, "bad volume id");
    CHECK_EQ_INT(lay_id_check("camera", NULL, &err), CV_EINVAL);
}

static bool is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void test_layout_root_create(void)
{
    static const char *const subs[] = {"index",   "keys",         "tmp",       "ledger",
                                       "exports", "volumes/main", "quarantine"};
    char tmp[PATH_MAX], root[PATH_MAX], p[PATH_MAX];
    struct cv_err err = {""};
    struct stat st;

    if (fx_tmpdir(tmp) < 0)
        return;
    snprintf(root, sizeof(root), "%s/data/root", tmp);
    CHECK_EQ_INT(lay_root_check(root, &err), CV_ENOENT);
    CHECK_CONTAINS(err.msg, root);
    CHECK_CONTAINS(err.msg, "camvault init");
    CHECK_OK(lay_root_create(root, &err), &err);
    CHECK_OK(lay_root_create(root, &err), &err); /* idempotent */
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", root, subs[i]);
        CHECK_MSG(is_dir(p), "'%s' is not a directory", p);
    }
    snprintf(p, sizeof(p), "%s/keys", root);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 077) == 0);
    /* Only an index makes a root initialized. */
    CHECK_EQ_INT(lay_root_check(root, &err), CV_ENOENT);

    CHECK_OK(lay_dir(root, "quarantine", p, sizeof(p), &err), &err);
    {
        char want[PATH_MAX];
        snprintf(want, sizeof(want), "%s/quarantine", root);
        CHECK_EQ_STR(p, want);
        CHECK_OK(lay_abs(root, "volumes/main/cam1/x.mp4", p, sizeof(p), &err), &err);
        snprintf(want, sizeof(want), "%s/volumes/main/cam1/x.mp4", root);
        CHECK_EQ_STR(p, want);
    }
    CHECK_OK(lay_camera_dir("main", "gate-3", p, sizeof(p), &err), &err);
    CHECK_EQ_STR(p, "volumes/main/gate-3");
    CHECK_EQ_INT(lay_camera_dir("main", "gate-3", p, 10, &err), CV_ELIMIT);
    fx_rmtree(tmp);
}

void test_layout_segment_create(void)
{
    /* 2026-11-22T20:15:07.250Z: already the 23rd in Shanghai, so a local date would show. */
    const int64_t t = INT64_C(1795378507250000);
    char tmp[PATH_MAX], rel[LAY_RELPATH_MAX], rel2[LAY_RELPATH_MAX], rel3[LAY_RELPATH_MAX];
    char abs[PATH_MAX];
    struct cv_err err = {""};
    int fd = -1, fd2 = -1, fd3 = -1;

    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    if (fx_tmpdir(tmp) < 0)
        return;
    CHECK_OK(lay_root_create(tmp, &err), &err);
    CHECK_OK(lay_segment_create(tmp, "main", "gate-3", t, "mp4", &fd, rel, &err), &err);
    CHECK_EQ_STR(rel, "volumes/main/gate-3/2026-11-22/201507-0.mp4");
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK_EQ_INT(write(fd, "abc", 3), 3);
        close(fd);
    }
    snprintf(abs, sizeof(abs), "%s/%s", tmp, rel);
    CHECK_EQ_INT(fx_file_size(abs), 3);

    /* The same second again: the next sequence number, the first file untouched. */
    CHECK_OK(lay_segment_create(tmp, "main", "gate-3", t + 1000, "mp4", &fd2, rel2, &err), &err);
    CHECK_EQ_STR(rel2, "volumes/main/gate-3/2026-11-22/201507-1.mp4");
    CHECK_OK(lay_segment_create(tmp, "main", "gate-3", t, "mov", &fd3, rel3, &err), &err);
    CHECK_EQ_STR(rel3, "volumes/main/gate-3/2026-11-22/201507-0.mov");
    CHECK_EQ_INT(fx_file_size(abs), 3);
    if (fd2 >= 0)
        close(fd2);
    if (fd3 >= 0)
        close(fd3);

    /* Midnight UTC and the epoch. */
    CHECK_OK(lay_segment_create(tmp, "main", "c", INT64_C(1795392000000000), "mp4", &fd, rel, &err),
             &err);
    CHECK_EQ_STR(rel, "volumes/main/c/2026-11-23/000000-0.mp4");
    if (fd >= 0)
        close(fd);
    CHECK_OK(lay_segment_create(tmp, "main", "c", 0, "mp4", &fd, rel, &err), &err);
    CHECK_EQ_STR(rel, "volumes/main/c/1970-01-01/000000-0.mp4");
    if (fd >= 0)
        close(fd);

    CHECK_EQ_INT(lay_segment_create(tmp, "main", "c", -1, "mp4", &fd, rel, &err), CV_EINVAL);
    fx_rmtree(tmp);
}

void test_layout_segment_parse(void)
{
    static const struct {
        const char *rel;
        const char *vol, *cam, *ext;
        int64_t start_s;
        unsigned seq;
    } good[] = {
        {"volumes/main/gate-3/2026-11-22/093000-0.mp4", "main", "gate-3", "mp4", 1795339800, 0},
        {"volumes/main/gate-3/2026-11-22/093000-12.mov", "main", "gate-3", "mov", 1795339800, 12},
        {"volumes/v2/A.b_c-9/1970-01-01/000000-0.mp4", "v2", "A.b_c-9", "mp4", 0, 0},
        {"volumes/main/c/2028-02-29/235959-3.mp4", "main", "c", "mp4", 1835481599, 3},
    };
    static const char *const bad[] = {
        "volumes/x",
        "../a",
        "",
        "volumes/main/cam/2026-11-22",
        "vols/main/cam/2026-11-22/093000-0.mp4",
        "volumes/main/cam/2026-11-22/093000-0.mkv",
        "volumes/main/cam/2026-11-22/093000-0.MP4",
        "volumes/main/cam/2026-11-22/093000-0.mp4x",
        "volumes/main/cam/2026-11-22/093000-0",
        "volumes/main/cam/2026-11-22/093000.mp4",
        "volumes/main/cam/2026-13-22/093000-0.mp4",
        "volumes/main/cam/2026-11-32/093000-0.mp4",
        "volumes/main/cam/2026-11-22/243000-0.mp4",
        "volumes/main/cam/2026-11-22/096000-0.mp4",
        "volumes/main/cam/1969-12-31/093000-0.mp4",
        "volumes/main/cam/2026-1-022/093000-0.mp4",
        "volumes/main/cam/2026-11-22/093000-0.mp4/extra",
        "volumes/main/../2026-11-22/093000-0.mp4",
        "volumes/-v/cam/2026-11-22/093000-0.mp4",
    };
    struct lay_segname n;
    char tmp[PATH_MAX], rel[LAY_RELPATH_MAX], longp[400];
    struct cv_err err = {""};
    int fd = -1;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(&n, 0x5a, sizeof(n));
        CHECK_MSG(lay_segment_parse(good[i].rel, &n) == 0, "'%s' refused", good[i].rel);
        CHECK_EQ_STR(n.volume, good[i].vol);
        CHECK_EQ_STR(n.camera, good[i].cam);
        CHECK_EQ_STR(n.ext, good[i].ext);
        CHECK_EQ_INT(n.start_s, good[i].start_s);
        CHECK_EQ_INT(n.seq, good[i].seq);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_MSG(lay_segment_parse(bad[i], &n) == CV_EINVAL, "'%s' accepted", bad[i]);
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    memcpy(longp, "volumes/", 8);
    CHECK_EQ_INT(lay_segment_parse(longp, &n), CV_EINVAL);

    /* What lay_segment_create writes parses back to its inputs. */
    if (fx_tmpdir(tmp) < 0)
        return;
    for (int i = 0; i < 5; i++) {
        int64_t t = FX_START_US + (int64_t)i * 86399 * CV_US_PER_S + 123456;
        if (lay_segment_create(tmp, "main", "gate-3", t, i % 2 ? "mov" : "mp4", &fd, rel, &err)) {
            unit_fail(__FILE__, __LINE__, "lay_segment_create: %s", err.msg);
            break;
        }
        close(fd);
        CHECK_EQ_INT(lay_segment_parse(rel, &n), 0);
        CHECK_EQ_STR(n.volume, "main");
        CHECK_EQ_STR(n.camera, "gate-3");
        CHECK_EQ_INT(n.start_s, t / CV_US_PER_S);
        CHECK_EQ_INT(n.seq, 0);
        CHECK_EQ_STR(n.ext, i % 2 ? "mov" : "mp4");
    }
    fx_rmtree(tmp);
}

/*
 * Regression (fixed): lay_segment_parse accepts names that lay_segment_create can never write, because sscanf's
 * %d and %u skip blanks and take signs, strtok_r folds repeated and leading slashes, and the day
 * is only checked against 31. Feb 30 then parses as March 2, "--1" as sequence 4294967295.
 */
void test_layout_segment_parse_strict(void)
{
    static const char *const bad[] = {
        "volumes/main/cam/2026-02-30/093000-0.mp4",  /* no Feb 30 */
        "volumes/main/cam/2026-11-31/093000-0.mp4",  /* no Nov 31 */
        "volumes/main/cam/2026-+1-01/093000-0.mp4",  /* sign in the month */
        "volumes/main/cam/2026-11-22/093000--1.mp4", /* negative sequence */
        "volumes/main/cam/2026-11-22/093000-+5.mp4", /* sign in the sequence */
        "volumes/main/cam/2026-11-22/0930 0-0.mp4",  /* blank in the time */
        "/volumes/main/cam/2026-11-22/093000-0.mp4", /* absolute, not relative to ROOT */
        "volumes//main/cam/2026-11-22/093000-0.mp4", /* empty component */
    };
    struct lay_segname n;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&n, 0, sizeof(n));
        CHECK_MSG(lay_segment_parse(bad[i], &n) == CV_EINVAL,
                  "'%s' accepted (start_s %lld, seq %u)", bad[i], (long long)n.start_s, n.seq);
    }
}

void test_layout_root_resolve(void)
{
    char tmp[PATH_MAX], cwd[PATH_MAX], want[PATH_MAX], out[PATH_MAX], old[PATH_MAX];
    struct cv_err err = {""};

    if (fx_tmpdir(tmp) < 0)
        return;
    if (!getcwd(old, sizeof(old)) || chdir(tmp) < 0 || !getcwd(cwd, sizeof(cwd))) {
        unit_fail(__FILE__, __LINE__, "cannot enter '%s'", tmp);
        fx_rmtree(tmp);
        return;
    }
    unsetenv("CAMVAULT_ROOT");

    /* The flag, absolute; trailing slashes dropped. */
    CHECK_OK(lay_root_resolve("/srv/camvault/", out, sizeof(out), &err), &err);
    CHECK_EQ_STR(out, "/srv/camvault");
    CHECK_OK(lay_root_resolve("/", out, sizeof(out), &err), &err);
    CHECK_EQ_STR(out, "/");

    /* A relative flag is made absolute against the current directory. */
    CHECK_OK(lay_root_resolve("rel/data", out, sizeof(out), &err), &err);
    snprintf(want, sizeof(want), "%s/rel/data", cwd);
    CHECK_EQ_STR(out, want);

    /* No flag, no environment: ./camvault-data. */
    CHECK_OK(lay_root_resolve(NULL, out, sizeof(out), &err), &err);
    snprintf(want, sizeof(want), "%s/camvault-data", cwd);
    CHECK_EQ_STR(out, want);

    /* $CAMVAULT_ROOT when there is no flag (an empty flag counts as none); the flag wins. */
    setenv("CAMVAULT_ROOT", "/var/lib/camvault", 1);
    CHECK_OK(lay_root_resolve(NULL, out, sizeof(out), &err), &err);
    CHECK_EQ_STR(out, "/var/lib/camvault");
    CHECK_OK(lay_root_resolve("", out, sizeof(out), &err), &err);
    CHECK_EQ_STR(out, "/var/lib/camvault");
    CHECK_OK(lay_root_resolve("/flag/root", out, sizeof(out), &err), &err);
    CHECK_EQ_STR(out, "/flag/root");
    setenv("CAMVAULT_ROOT", "envrel", 1);
    CHECK_OK(lay_root_resolve(NULL, out, sizeof(out), &err), &err);
    snprintf(want, sizeof(want), "%s/envrel", cwd);
    CHECK_EQ_STR(out, want);
    unsetenv("CAMVAULT_ROOT");

    /* Too long for the caller's buffer. */
    {
        char small[8];
        CHECK_EQ_INT(lay_root_resolve("/a/very/long/root", small, sizeof(small), &err), CV_ELIMIT);
        CHECK_EQ_INT(lay_root_resolve("relative", small, sizeof(small), &err), CV_ELIMIT);
    }
    CHECK_EQ_INT(chdir(old), 0);
    fx_rmtree(tmp);
}
