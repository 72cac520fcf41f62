/*
 * fsyncshim.c: an LD_PRELOAD shim for the fault-injection tests (tests/e2e/test_42_faults.py).
 * Not part of camvault; built by `make build/fsyncshim.so`.
 *
 * Two jobs, both chosen by environment variables read once at load:
 *
 * CV_SHIM_LOG=FILE
 *     Append one line per event, in the order they happen, so that a test can replay what a
 *     power cut would have kept:
 *         create PATH        open(..., O_CREAT) made a new file (the entry is not durable yet)
 *         fsync SIZE PATH    fsync/fdatasync of PATH succeeded while it was SIZE bytes long
 *                            (for a directory: its entries as of now are durable)
 *     PATH is what /proc/self/fd says the descriptor names.
 *
 * CV_SHIM_FAIL=OP:PATTERN:AFTER[:ERRNO][,OP:PATTERN:AFTER[:ERRNO]...]
 *     OP is fsync (fsync and fdatasync) or write (write, writev, pwrite, pwritev). Calls of OP
 *     on a descriptor whose path contains PATTERN succeed AFTER times, then fail with ERRNO
 *     (EIO, EROFS or ENOSPC; default EIO) without doing anything. Up to 4 rules.
 *     ERRNO STALL instead makes such a call wait, then go through: a disk that hangs. It needs
 *     CV_SHIM_FAIL_WHILE: the call waits for as long as that file exists.
 * CV_SHIM_FAIL_WHILE=FILE
 *     The rules apply only while FILE exists (checked at each matching call), so a test can
 *     switch a fault on and off while the process runs.
 *
 * The shim itself never fails a call it was not asked to fail; its own log writes go through
 * the raw system call so that they are never counted or failed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define RULES_MAX 4
#define STALL (-1) /* a rule's err: wait while the CV_SHIM_FAIL_WHILE file exists */

enum op { OP_FSYNC, OP_WRITE };

struct rule {
    enum op op;
    char pattern[256];
    long after;
    int err;
    atomic_long calls;
};

static struct rule rules[RULES_MAX];
static int nrules;
static int log_fd = -1;
static char fail_while[4096];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The next definition of `name` (libc's), looked up once. */
#define REAL(name)                                                                                 \
    ({                                                                                             \
        static __typeof__(&name) real_;                                                            \
        if (!real_)                                                                                \
            real_ = (__typeof__(&name))dlsym(RTLD_NEXT, #name);                                    \
        real_;                                                                                     \
    })

static void parse_rules(const char *spec)
{
    char buf[2048];
    char *save = NULL;

    snprintf(buf, sizeof(buf), "%s", spec);
    for (char *r = strtok_r(buf, ",", &save); r && nrules < RULES_MAX;
         r = strtok_r(NULL, ",", &save)) {
        struct rule *x = &rules[nrules];
        char op[16] = "", pat[256] = "", err[16] = "EIO";
        long after = 0;
        if (sscanf(r, "%15[^:]:%255[^:]:%ld:%15s", op, pat, &after, err) < 3)
            continue;
        x->op = strcmp(op, "write") == 0 ? OP_WRITE : OP_FSYNC;
        snprintf(x->pattern, sizeof(x->pattern), "%s", pat);
        x->after = after;
        x->err = strcmp(err, "EROFS") == 0    ? EROFS
                 : strcmp(err, "ENOSPC") == 0 ? ENOSPC
                 : strcmp(err, "STALL") == 0  ? STALL
                                              : EIO;
        nrules++;
    }
}

static void init(void)
{
    const char *s = getenv("CV_SHIM_LOG");

    if (s && *s)
        log_fd = (int)syscall(SYS_open, s, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    s = getenv("CV_SHIM_FAIL");
    if (s && *s)
        parse_rules(s);
    s = getenv("CV_SHIM_FAIL_WHILE");
    if (s && *s)
        snprintf(fail_while, sizeof(fail_while), "%s", s);
}

static void fd_path(int fd, char *out, size_t n)
{
    char link[64];
    ssize_t len;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    len = readlink(link, out, n - 1);
    out[len > 0 ? len : 0] = 0;
}

static void log_line(const char *what, long long size, const char *path)
{
    char line[4300];
    int n;

    if (log_fd < 0)
        return;
    n = size >= 0 ? snprintf(line, sizeof(line), "%s %lld %s\n", what, size, path)
                  : snprintf(line, sizeof(line), "%s %s\n", what, path);
    if (n > 0 && (size_t)n < sizeof(line))
        syscall(SYS_write, log_fd, line, (size_t)n); /* O_APPEND: one line, whole */
}

/* The errno to fail this call with, or 0 to let it through. */
static int fault(enum op op, int fd)
{
    char path[4096];
    struct stat st;
    bool have_path = false;

    pthread_once(&once, init);
    if (nrules == 0 || fd == log_fd)
        return 0;
    for (int i = 0; i < nrules; i++) {
        struct rule *r = &rules[i];
        if (r->op != op)
            continue;
        if (!have_path) {
            fd_path(fd, path, sizeof(path));
            have_path = true;
        }
        if (!strstr(path, r->pattern))
            continue;
        if (fail_while[0] && syscall(SYS_newfstatat, AT_FDCWD, fail_while, &st, 0) != 0)
            continue;
        if (atomic_fetch_add(&r->calls, 1) < r->after)
            continue;
        if (r->err != STALL)
            return r->err;
        while (fail_while[0] && syscall(SYS_newfstatat, AT_FDCWD, fail_while, &st, 0) == 0)
            usleep(10000);
    }
    return 0;
}

static void logged_sync(int fd)
{
    char path[4096];
    struct stat st;

    if (log_fd < 0)
        return;
    fd_path(fd, path, sizeof(path));
    if (fstat(fd, &st) == 0)
        log_line("fsync", S_ISREG(st.st_mode) ? (long long)st.st_size : 0, path);
}

/* fsync and fdatasync: the fault rule's error, else the real call `real`, logged when it worked. */
static int sync_call(int fd, int (*real)(int))
{
    int e = fault(OP_FSYNC, fd), rc;

    if (e) {
        errno = e;
        return -1;
    }
    rc = real(fd);
    if (rc == 0)
        logged_sync(fd);
    return rc;
}

int fsync(int fd)
{
    return sync_call(fd, REAL(fsync));
}

int fdatasync(int fd)
{
    return sync_call(fd, REAL(fdatasync));
}

#define WRITE_FAULT(fd)                                                                            \
    do {                                                                                           \
        int e_ = fault(OP_WRITE, fd);                                                              \
        if (e_) {                                                                                  \
            errno = e_;                                                                            \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

ssize_t write(int fd, const void *buf, size_t n)
{
    WRITE_FAULT(fd);
    return REAL(write)(fd, buf, n);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    WRITE_FAULT(fd);
    return REAL(writev)(fd, iov, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    WRITE_FAULT(fd);
    return REAL(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    WRITE_FAULT(fd);
    return REAL(pwrite64)(fd, buf, n, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    WRITE_FAULT(fd);
    return REAL(pwritev)(fd, iov, n, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
    WRITE_FAULT(fd);
    return REAL(pwritev64)(fd, iov, n, off);
}

/* open and friends: only to log the creation of new files. */
static int opened(int fd, int dirfd, const char *path, int flags, bool existed)
{
    char abs[4096];

    (void)dirfd;
    (void)path;
    if (fd >= 0 && (flags & O_CREAT) && !existed && log_fd >= 0) {
        fd_path(fd, abs, sizeof(abs));
        log_line("create", -1, abs);
    }
    return fd;
}

static bool exists_at(int dirfd, const char *path, int flags)
{
    struct stat st;

    pthread_once(&once, init);
    if (!(flags & O_CREAT) || log_fd < 0)
        return true;
    return syscall(SYS_newfstatat, dirfd, path, &st, 0) == 0;
}

#define OPEN_MODE(flags, mode)                                                                     \
    mode_t mode = 0;                                                                               \
    if ((flags) & (O_CREAT | __O_TMPFILE)) {                                                       \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode = va_arg(ap, mode_t);                                                                 \
        va_end(ap);                                                                                \
    }

int open(const char *path, int flags, ...)
{
    OPEN_MODE(flags, mode);
    bool ex = exists_at(AT_FDCWD, path, flags);
    return opened(REAL(open)(path, flags, mode), AT_FDCWD, path, flags, ex);
}

int open64(const char *path, int flags, ...)
{
    OPEN_MODE(flags, mode);
    bool ex = exists_at(AT_FDCWD, path, flags);
    return opened(REAL(open64)(path, flags, mode), AT_FDCWD, path, flags, ex);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    OPEN_MODE(flags, mode);
    bool ex = exists_at(dirfd, path, flags);
    return opened(REAL(openat)(dirfd, path, flags, mode), dirfd, path, flags, ex);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    OPEN_MODE(flags, mode);
    bool ex = exists_at(dirfd, path, flags);
    return opened(REAL(openat64)(dirfd, path, flags, mode), dirfd, path, flags, ex);
}
