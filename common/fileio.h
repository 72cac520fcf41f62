/*
 * fileio.h: durable file operations.
 *
 * Every durable file in camvault is written through cv_write_atomic (temp file in the same
 * directory, write, fsync, rename, fsync the directory) or created once with O_EXCL and fsynced
 * with its directory at close: nothing durable is rewritten in place. All functions are
 * thread-safe and report failures as one line naming the path and the cause.
 */
#ifndef CV_FILEIO_H
#define CV_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* write(2) all of buf, retrying on EINTR and short writes. 0 or -errno. */
int cv_write_all(int fd, const void *buf, size_t len);

/* pread(2) exactly len bytes at off; CV_EIO on error, CV_ECORRUPT on a short file. */
int cv_pread_all(int fd, void *buf, size_t len, off_t off, struct cv_err *err);

/* fsync the directory `dir`. */
int cv_fsync_dir(const char *dir, struct cv_err *err);

/* fsync the directory that contains `path`. */
int cv_fsync_parent(const char *path, struct cv_err *err);

/*
 * mkdir -p with `mode`; each directory created is made durable by fsyncing its parent.
 * Returns 0 also when everything already existed.
 */
int cv_mkdir_p(const char *path, mode_t mode, struct cv_err *err);

/* Replace `path` durably with `len` bytes of `data` (temp + fsync + rename + fsync dir). */
int cv_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                    struct cv_err *err);

/*
 * Read a whole file of at most `limit` bytes into a fresh malloc'd, NUL-terminated buffer
 * (*out, caller frees; *out_len excludes the NUL). CV_ELIMIT when the file is larger.
 */
int cv_read_file(const char *path, size_t limit, char **out, size_t *out_len, struct cv_err *err);

/* Join dir and name into out (size n) with one '/'; CV_ELIMIT when it does not fit. */
int cv_path_join(char *out, size_t n, const char *dir, const char *name, struct cv_err *err);

#endif
