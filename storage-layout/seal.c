/*
 * seal.c: seal requests, ROOT/seal/<camera> (seal.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "storage-layout/seal.h"
#include "common/banned.h"

#define SEAL_DIR "seal"

static int req_path(const char *root, const char *camera, char *out, size_t n,
                    struct cv_err *err)
{
    char dir[PATH_MAX];
    int rc = lay_id_check("camera", camera, err);

    if (rc == 0)
        rc = lay_dir(root, SEAL_DIR, dir, sizeof(dir), err);
    if (rc == 0)
        rc = cv_path_join(out, n, dir, camera, err);
    return rc;
}

/* The relpath a request names into rel[LAY_RELPATH_MAX]; false when absent or malformed. */
static bool req_read(const char *path, char *rel)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got;
    char *nl;

    if (fd < 0)
        return false;
    got = read(fd, rel, LAY_RELPATH_MAX - 1);
    close(fd);
    if (got <= 0)
        return false;
    rel[got] = 0;
    nl = strchr(rel, '\n');
    if (!nl)
        return false;
    *nl = 0;
    return rel[0] != 0;
}

int lay_seal_request(const char *root, const char *camera, const char *relpath,
                     struct cv_err *err)
{
    char path[PATH_MAX], dir[PATH_MAX], line[LAY_RELPATH_MAX + 1];
    int n, rc = req_path(root, camera, path, sizeof(path), err);

    if (rc == 0)
        rc = lay_dir(root, SEAL_DIR, dir, sizeof(dir), err);
    if (rc == 0)
        rc = cv_mkdir_p(dir, 0755, err);
    if (rc < 0)
        return rc;
    n = snprintf(line, sizeof(line), "%s\n", relpath);
    if (n < 2 || (size_t)n >= sizeof(line) || strchr(relpath, '\n'))
        return cv_errf(err, CV_EINVAL, "camera '%s': bad segment path to seal", camera);
    rc = cv_write_atomic(path, line, (size_t)n, 0644, err);
    return rc < 0 ? cv_errwrap(err, rc, "camera '%s': cannot ask the recorder to seal '%s'",
                               camera, relpath)
                  : 0;
}

bool lay_seal_wanted(const char *root, const char *camera, const char *relpath)
{
    char path[PATH_MAX], rel[LAY_RELPATH_MAX];

    return req_path(root, camera, path, sizeof(path), NULL) == 0 && req_read(path, rel) &&
           strcmp(rel, relpath) == 0;
}

int lay_seal_list(const char *root, lay_seal_cb cb, void *ctx, struct cv_err *err)
{
    char dir[PATH_MAX], path[PATH_MAX], rel[LAY_RELPATH_MAX];
    struct dirent *de;
    DIR *d;
    int rc = lay_dir(root, SEAL_DIR, dir, sizeof(dir), err);

    if (rc < 0)
        return rc;
    d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0
                               : cv_errf(err, CV_EIO, "cannot read '%s': %s", dir, strerror(errno));
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp.") ||
            lay_id_check("camera", de->d_name, NULL) < 0)
            continue; /* ., .., temp files of cv_write_atomic */
        if (cv_path_join(path, sizeof(path), dir, de->d_name, NULL) < 0 || !req_read(path, rel))
            continue;
        rc = cb(ctx, de->d_name, rel);
    }
    closedir(d);
    return rc;
}

void lay_seal_done(const char *root, const char *camera, const char *relpath)
{
    char path[PATH_MAX], rel[LAY_RELPATH_MAX];

    if (req_path(root, camera, path, sizeof(path), NULL) == 0 && req_read(path, rel) &&
        strcmp(rel, relpath) == 0)
        unlink(path);
}
