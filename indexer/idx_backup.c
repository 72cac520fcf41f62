/*
 * idx_backup.c: the index's part of `camvault backup` and `restore`: a consistent compacted
 * copy of the environment, and whether another process has it open (contracts in idx.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <lmdb.h>

#include "common/fileio.h"
#include "indexer/idx.h"
#include "indexer/idx_int.h"
#include "common/banned.h"

int idx_copy(struct idx *idx, const char *dir, struct cv_err *err)
{
    char path[PATH_MAX];
    int fd, rc = mdb_env_copy2(idx->env, dir, MDB_CP_COMPACT);

    if (rc != 0)
        return cv_errf(err, CV_EDB, "cannot copy the index into '%s': %s", dir, mdb_strerror(rc));
    rc = cv_path_join(path, sizeof(path), dir, "data.mdb", err);
    if (rc < 0)
        return rc;
    /* mdb_env_copy2 writes and closes the file; it does not promise it reached the disk */
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fsync(fd) < 0) {
        rc = cv_errf(err, CV_EIO, "cannot sync '%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    close(fd);
    return cv_fsync_dir(dir, err);
}

bool idx_in_use(const char *root, int *pid)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    char dir[PATH_MAX], path[PATH_MAX];
    bool used = false;
    int fd;

    if (lay_dir(root, "index", dir, sizeof(dir), NULL) < 0 ||
        cv_path_join(path, sizeof(path), dir, "lock.mdb", NULL) < 0 ||
        (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
        return false;
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
        used = true;
        *pid = (int)fl.l_pid;
    }
    close(fd);
    return used;
}
