/*
 * error.c: the messages of the CV_E* codes and the helpers that fill struct cv_err.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/banned.h"

const char *cv_strerror(int code)
{
    switch (code) {
    case CV_OK:
        return "success";
#define CV_ERR_CASE(name, value, msg)                                                              \
    case CV_##name:                                                                                \
        return msg;
        CV_ERRNO_MAP(CV_ERR_CASE)
#undef CV_ERR_CASE
    }
    return "unknown error";
}

int cv_errf(struct cv_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

int cv_errwrap(struct cv_err *err, int code, const char *fmt, ...)
{
    char prefix[CV_ERR_MAX];
    char old[CV_ERR_MAX];
    va_list ap;

    if (!err)
        return code;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    old[sizeof(old) - 1] = '\0';
    if (old[0])
        snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
    else
        snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, cv_strerror(code));
    return code;
}

int cv_errno_code(int errnum)
{
    switch (errnum) {
    case 0:
        return CV_OK;
    case ENOENT:
    case ENOTDIR:
        return CV_ENOENT;
    case EEXIST:
        return CV_EEXIST;
    case ENOSPC:
    case EDQUOT:
        return CV_ENOSPC;
    case ENOMEM:
        return CV_ENOMEM;
    case EINVAL:
        return CV_EINVAL;
    case ETIMEDOUT:
        return CV_ETIMEDOUT;
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTUNREACH:
    case ENETUNREACH:
        return CV_ENET;
    default:
        return CV_EIO;
    }
}
