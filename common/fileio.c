/*
 * fileio.c: write-all, fsync of directories, mkdir -p and write-then-rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/banned.h"

int cv_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int cv_pread_all(int fd, void *buf, size_t len, off_t off, struct cv_err *err)
{
    char *p = buf;

    while (len > 0) {
        ssize_t r = pread(fd, p, len, off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return cv_errf(err, CV_EIO, "read failed: %s", strerror(errno));
        }
        if (r == 0)
            return cv_errf(err, CV_ECORRUPT, "file ends early");
        p += r;
        off += r;
        len -= (size_t)r;
    }
    return 0;
}

int cv_fsync_dir(const char *dir, struct cv_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return cv_errf(err, cv_errno_code(errno), "cannot open directory '%s': %s", dir,
                       strerror(errno));
    if (fsync(fd) < 0)
        rc = cv_errf(err, CV_EIO, "cannot fsync directory '%s': %s", dir, strerror(errno));
    close(fd);
    return rc;
}

int cv_fsync_parent(const char *path, struct cv_err *err)
{
    char dir[PATH_MAX];
    char *slash;

    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
        return cv_errf(err, CV_ELIMIT, "path too long: '%s'", path);
    slash = strrchr(dir, '/');
    if (!slash)
        return cv_fsync_dir(".", err);
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return cv_fsync_dir(dir, err);
}

int cv_mkdir_p(const char *path, mode_t mode, struct cv_err *err)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf))
        return cv_errf(err, CV_ELIMIT, "bad directory path '%s'", path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, mode) == 0) {
            int rc = cv_fsync_parent(buf, err);
            if (rc < 0)
                return rc;
        } else if (errno != EEXIST) {
            return cv_errf(err, cv_errno_code(errno), "cannot create directory '%s': %s", buf,
                           strerror(errno));
        } else {
            struct stat st;
            if (stat(buf, &st) == 0 && !S_ISDIR(st.st_mode))
                return cv_errf(err, CV_EEXIST, "'%s' exists and is not a directory", buf);
        }
        buf[i] = saved;
    }
    return 0;
}

int cv_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                    struct cv_err *err)
{
    char tmp[PATH_MAX];
    int fd = -1, rc = 0, w;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return cv_errf(err, CV_ELIMIT, "path too long: '%s'", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = cv_errf(err, cv_errno_code(errno), "cannot create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    w = cv_write_all(fd, data, len);
    if (w < 0) {
        rc = cv_errf(err, cv_errno_code(-w), "cannot write '%s': %s", tmp, strerror(-w));
        goto out;
    }
    if (fsync(fd) < 0) {
        rc = cv_errf(err, cv_errno_code(errno), "cannot fsync '%s': %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = cv_errf(err, CV_EIO, "cannot close '%s': %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = cv_errf(err, cv_errno_code(errno), "cannot rename '%s' to '%s': %s", tmp, path,
                     strerror(errno));
        goto out;
    }
    rc = cv_fsync_parent(path, err);
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int cv_read_file(const char *path, size_t limit, char **out, size_t *out_len, struct cv_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    int rc = 0;

    *out = NULL;
    if (fd < 0)
        return cv_errf(err, cv_errno_code(errno), "cannot open '%s': %s", path, strerror(errno));
    if (fstat(fd, &st) < 0) {
        rc = cv_errf(err, CV_EIO, "cannot stat '%s': %s", path, strerror(errno));
        goto out;
    }
    if ((uint64_t)st.st_size > limit) {
        rc = cv_errf(err, CV_ELIMIT, "'%s' is larger than %zu bytes", path, limit);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory reading '%s'", path);
        goto out;
    }
    rc = cv_pread_all(fd, buf, (size_t)st.st_size, 0, err);
    if (rc < 0) {
        cv_errwrap(err, rc, "'%s'", path);
        goto out;
    }
    buf[st.st_size] = '\0';
    *out = buf;
    *out_len = (size_t)st.st_size;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

int cv_path_join(char *out, size_t n, const char *dir, const char *name, struct cv_err *err)
{
    size_t dl = strlen(dir);
    int r;

    if (dl > 0 && dir[dl - 1] == '/')
        r = snprintf(out, n, "%s%s", dir, name);
    else
        r = snprintf(out, n, "%s/%s", dir, name);
    if (r < 0 || (size_t)r >= n)
        return cv_errf(err, CV_ELIMIT, "path too long: '%s/%s'", dir, name);
    return 0;
}
