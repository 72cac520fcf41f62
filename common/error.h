/*
 * error.h: camvault's one error vocabulary.
 *
 * Every fallible function returns 0 on success or a negative CV_E* code, and fills a
 * caller-supplied struct cv_err with one human line that names the thing and the cause
 * ("camera 'gate-3': cannot connect to rtsp://10.0.0.7/live: Connection refused"). The list of
 * codes is written once, below, and expanded into the enum and into cv_strerror() (libuv's
 * X-macro trick), so a code and its message cannot drift apart.
 *
 * Thread rules: cv_strerror() is pure; a struct cv_err belongs to its caller's thread.
 */
#ifndef CV_ERROR_H
#define CV_ERROR_H

#include <stdarg.h>

#define CV_ERR_MAX 512

#define CV_ERRNO_MAP(X)                                                                            \
    X(EINVAL, -1, "invalid argument")                                                              \
    X(EUSAGE, -2, "bad usage")                                                                     \
    X(ENOENT, -3, "not found")                                                                     \
    X(EEXIST, -4, "already exists")                                                                \
    X(EIO, -5, "input/output error")                                                               \
    X(ENOSPC, -6, "no space left")                                                                 \
    X(ENOMEM, -7, "out of memory")                                                                 \
    X(ECORRUPT, -8, "corrupt data")                                                                \
    X(EDB, -9, "index error")                                                                      \
    X(EMEDIA, -10, "media error")                                                                  \
    X(ENET, -11, "network error")                                                                  \
    X(ETIMEDOUT, -12, "timed out")                                                                 \
    X(ECANCELED, -13, "canceled")                                                                  \
    X(ELIMIT, -14, "limit exceeded")                                                               \
    X(ECRYPTO, -15, "cryptographic error")                                                         \
    X(ESTATE, -16, "not in the right state")

enum cv_errno {
    CV_OK = 0,
#define CV_ERR_ENUM(name, value, msg) CV_##name = (value),
    CV_ERRNO_MAP(CV_ERR_ENUM)
#undef CV_ERR_ENUM
};

/* A one-line error message, filled by the function that failed. */
struct cv_err {
    char msg[CV_ERR_MAX];
};

/* The fixed text of a code ("not found"); never NULL, "unknown error" for unknown codes. */
const char *cv_strerror(int code);

/*
 * Format a message into *err (may be NULL: then only the code is returned) and return `code`.
 * Used as `return cv_errf(err, CV_EIO, "cannot open '%s': %s", path, strerror(errno));`.
 * The message is truncated to CV_ERR_MAX - 1 bytes.
 */
int cv_errf(struct cv_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Prefix the message already in *err with "<context>: " and return `code`, so that a caller
 * can add what it was doing ("camera 'gate-3'") without losing the cause. NULL-safe.
 */
int cv_errwrap(struct cv_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Map an errno value to the closest CV_E* code (ENOSPC/EDQUOT -> CV_ENOSPC, ENOENT -> ...). */
int cv_errno_code(int errnum);

#endif
