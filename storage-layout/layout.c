/*
 * layout.c: data-root paths, id rules and segment file naming.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "storage-layout/layout.h"
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/banned.h"

int lay_root_resolve(const char *flag, char *out, size_t n, struct cv_err *err)
{
    const char *root = flag;
    char cwd[PATH_MAX];

    if (!root || !*root)
        root = getenv("CAMVAULT_ROOT");
    if (!root || !*root)
        root = "camvault-data";
    if (root[0] == '/') {
        if (snprintf(out, n, "%s", root) >= (int)n)
            return cv_errf(err, CV_ELIMIT, "data root path too long: '%s'", root);
    } else {
        if (!getcwd(cwd, sizeof(cwd)))
            return cv_errf(err, CV_EIO, "cannot read the current directory: %s", strerror(errno));
        if (cv_path_join(out, n, cwd, root, err) < 0)
            return CV_ELIMIT;
    }
    /* Drop trailing slashes so that joined paths look clean. */
    for (size_t l = strlen(out); l > 1 && out[l - 1] == '/'; l--)
        out[l - 1] = 0;
    return 0;
}

int lay_dir(const char *root, const char *sub, char *out, size_t n, struct cv_err *err)
{
    return cv_path_join(out, n, root, sub, err);
}

int lay_root_create(const char *root, struct cv_err *err)
{
    static const char *const subs[] = {"index",   "keys", "tmp",        "ledger",
                                       "exports", "volumes/" LAY_DEFAULT_VOLUME, "quarantine"};
    char path[PATH_MAX];
    int rc;

    rc = cv_mkdir_p(root, 0755, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        rc = cv_path_join(path, sizeof(path), root, subs[i], err);
        if (rc < 0)
            return rc;
        rc = cv_mkdir_p(path, strcmp(subs[i], "keys") == 0 ? 0700 : 0755, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int lay_root_check(const char *root, struct cv_err *err)
{
    char path[PATH_MAX];
    struct stat st;

    if (cv_path_join(path, sizeof(path), root, "index/data.mdb", err) < 0)
        return CV_ELIMIT;
    if (stat(path, &st) < 0)
        return cv_errf(err, CV_ENOENT, "data root '%s' is not initialized (run 'camvault init')",
                       root);
    return 0;
}

int lay_id_check(const char *what, const char *id, struct cv_err *err)
{
    size_t n = id ? strlen(id) : 0;

    if (n == 0 || n > LAY_ID_MAX)
        return cv_errf(err, CV_EINVAL, "bad %s id '%s': must be 1 to %d characters", what,
                       id ? id : "", LAY_ID_MAX);
    if (!isalnum((unsigned char)id[0]))
        return cv_errf(err, CV_EINVAL, "bad %s id '%s': must start with a letter or digit", what,
                       id);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return cv_errf(err, CV_EINVAL,
                           "bad %s id '%s': only letters, digits, '.', '_' and '-' are allowed",
                           what, id);
    }
    return 0;
}

int lay_abs(const char *root, const char *rel, char *out, size_t n, struct cv_err *err)
{
    return cv_path_join(out, n, root, rel, err);
}

int lay_camera_dir(const char *vol, const char *camera, char *rel, size_t n, struct cv_err *err)
{
    if (snprintf(rel, n, "volumes/%s/%s", vol, camera) >= (int)n)
        return cv_errf(err, CV_ELIMIT, "camera directory path too long");
    return 0;
}

int lay_segment_create(const char *root, const char *vol, const char *camera, int64_t start_us,
                       const char *ext, int *fd, char *rel, struct cv_err *err)
{
    int64_t days, secs = start_us / CV_US_PER_S, y;
    unsigned mo, d;
    int sod, rc;
    char dayrel[LAY_RELPATH_MAX], abs[PATH_MAX];

    if (start_us < 0)
        return cv_errf(err, CV_EINVAL, "segment start time before 1970");
    days = secs / 86400;
    sod = (int)(secs % 86400);
    cv_civil_from_days(days, &y, &mo, &d);
    if (snprintf(dayrel, sizeof(dayrel), "volumes/%s/%s/%04lld-%02u-%02u", vol, camera,
                 (long long)y, mo, d) >= (int)sizeof(dayrel))
        return cv_errf(err, CV_ELIMIT, "segment path too long for camera '%s'", camera);
    if (cv_path_join(abs, sizeof(abs), root, dayrel, err) < 0)
        return CV_ELIMIT;
    rc = cv_mkdir_p(abs, 0755, err);
    if (rc < 0)
        return rc;
    for (unsigned seq = 0; seq < 1000; seq++) {
        if (snprintf(rel, LAY_RELPATH_MAX, "%s/%02d%02d%02d-%u.%s", dayrel, sod / 3600,
                     sod % 3600 / 60, sod % 60, seq, ext) >= LAY_RELPATH_MAX)
            return cv_errf(err, CV_ELIMIT, "segment path too long for camera '%s'", camera);
        if (cv_path_join(abs, sizeof(abs), root, rel, err) < 0)
            return CV_ELIMIT;
        *fd = open(abs, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (*fd >= 0)
            return 0;
        if (errno != EEXIST)
            return cv_errf(err, cv_errno_code(errno), "cannot create segment '%s': %s", abs,
                           strerror(errno));
    }
    return cv_errf(err, CV_EEXIST, "cannot create segment for camera '%s': 1000 names taken",
                   camera);
}

/* Exactly `n` decimal digits at p (no signs, no blanks); -1 otherwise. */
static int digits(const char *p, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

int lay_segment_parse(const char *rel, struct lay_segname *out)
{
    char buf[LAY_RELPATH_MAX];
    char *part[5];
    int n = 0, Y, M, D, hh, mm, ss;
    const char *name, *dot;
    int64_t seq = 0;
    size_t seqlen;

    /* Exactly volumes/<vol>/<camera>/<YYYY-MM-DD>/<HHMMSS>-<seq>.<ext>: no empty parts. */
    if (cv_strlcpy(buf, rel, sizeof(buf)) < 0 || buf[0] == '/')
        return CV_EINVAL;
    part[n++] = buf;
    for (char *p = buf; *p; p++) {
        if (*p != '/')
            continue;
        if (n == 5)
            return CV_EINVAL;
        *p = 0;
        part[n++] = p + 1;
    }
    if (n != 5 || strcmp(part[0], "volumes") != 0)
        return CV_EINVAL;
    if (lay_id_check("volume", part[1], NULL) < 0 || lay_id_check("camera", part[2], NULL) < 0)
        return CV_EINVAL;
    if (strlen(part[3]) != 10 || part[3][4] != '-' || part[3][7] != '-')
        return CV_EINVAL;
    Y = digits(part[3], 4);
    M = digits(part[3] + 5, 2);
    D = digits(part[3] + 8, 2);
    if (Y < 1970 || M < 1 || M > 12 || D < 1)
        return CV_EINVAL;
    {
        static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
        if (D > dm[M - 1] + (M == 2 ? leap : 0))
            return CV_EINVAL;
    }
    name = part[4];
    hh = digits(name, 2);
    mm = digits(name + 2, 2);
    ss = digits(name + 4, 2);
    if (hh < 0 || mm < 0 || ss < 0 || hh > 23 || mm > 59 || ss > 59 || name[6] != '-')
        return CV_EINVAL;
    dot = strchr(name + 7, '.');
    if (!dot)
        return CV_EINVAL;
    seqlen = (size_t)(dot - (name + 7));
    if (seqlen == 0 || seqlen > 6 || (seqlen > 1 && name[7] == '0'))
        return CV_EINVAL;
    for (size_t i = 0; i < seqlen; i++) {
        if (name[7 + i] < '0' || name[7 + i] > '9')
            return CV_EINVAL;
        seq = seq * 10 + (name[7 + i] - '0');
    }
    if (strcmp(dot + 1, "mp4") != 0 && strcmp(dot + 1, "mov") != 0)
        return CV_EINVAL;
    cv_strlcpy(out->volume, part[1], sizeof(out->volume));
    cv_strlcpy(out->camera, part[2], sizeof(out->camera));
    out->start_s = cv_days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + hh * 3600 + mm * 60 +
                   ss;
    out->seq = (unsigned)seq;
    cv_strlcpy(out->ext, dot + 1, sizeof(out->ext));
    return 0;
}

int lay_volume_space(const char *dir, uint64_t max_bytes, struct lay_volume_space *out)
{
    struct statvfs sv;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (statvfs(dir, &sv) == 0) {
        out->fs_total = (uint64_t)sv.f_blocks * sv.f_frsize;
        out->fs_free = (uint64_t)sv.f_bavail * sv.f_frsize;
        out->fs_used = out->fs_total - (uint64_t)sv.f_bfree * sv.f_frsize;
        out->limit = (uint64_t)((double)out->fs_total * LAY_VOLUME_HIGH_WATER);
    } else {
        rc = -1;
    }
    if (max_bytes && (max_bytes < out->limit || !out->limit))
        out->limit = max_bytes;
    return rc;
}

int lay_reserve_path(const char *root, char *out, size_t n, struct cv_err *err)
{
    return cv_path_join(out, n, root, "index/space.reserve", err);
}

uint64_t lay_reserve_bytes(uint64_t fs_total)
{
    uint64_t r = fs_total / 32;

    return r < LAY_RESERVE_MAX ? r : LAY_RESERVE_MAX;
}
