/*
 * test_error.c: the error vocabulary (common/error.h).
 *
 * Every message a user sees is built by cv_errf and cv_errwrap, and every code must have a text
 * of its own: a code without one would print "unknown error" to an operator.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

void test_error_strerror(void)
{
    static const struct {
        int code;
        const char *name, *msg;
    } codes[] = {
#define ERR_ROW(name, value, msg) {CV_##name, #name, msg},
        CV_ERRNO_MAP(ERR_ROW)
#undef ERR_ROW
    };

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *s = cv_strerror(codes[i].code);
        CHECK_MSG(codes[i].code < 0, "CV_%s is %d, not negative", codes[i].name, codes[i].code);
        CHECK_MSG(s && strcmp(s, "unknown error") != 0, "cv_strerror(CV_%s) = \"%s\"",
                  codes[i].name, s ? s : "(null)");
        CHECK_EQ_STR(s, codes[i].msg);
        for (size_t j = 0; j < i; j++)
            CHECK_MSG(codes[j].code != codes[i].code, "CV_%s and CV_%s share code %d",
                      codes[j].name, codes[i].name, codes[i].code);
    }
    CHECK_EQ_STR(cv_strerror(CV_ENOENT), "not found");
    CHECK_EQ_STR(cv_strerror(0), "success");
    CHECK_EQ_STR(cv_strerror(-1000), "unknown error");
    CHECK_EQ_STR(cv_strerror(5), "unknown error");
}

void test_error_errf(void)
{
    struct cv_err err = {"stale"};
    char big[CV_ERR_MAX * 2];
    int rc;

    rc = cv_errf(&err, CV_EIO, "cannot open '%s': %s", "/x/y", "No such file or directory");
    CHECK_EQ_INT(rc, CV_EIO);
    CHECK_EQ_STR(err.msg, "cannot open '/x/y': No such file or directory");

    /* Truncated to CV_ERR_MAX - 1 bytes, still terminated. */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    rc = cv_errf(&err, CV_ELIMIT, "%s", big);
    CHECK_EQ_INT(rc, CV_ELIMIT);
    CHECK_EQ_INT(strlen(err.msg), CV_ERR_MAX - 1);

    /* errno mapping used by the file helpers. */
    CHECK_EQ_INT(cv_errno_code(ENOENT), CV_ENOENT);
    CHECK_EQ_INT(cv_errno_code(ENOTDIR), CV_ENOENT);
    CHECK_EQ_INT(cv_errno_code(EEXIST), CV_EEXIST);
    CHECK_EQ_INT(cv_errno_code(ENOSPC), CV_ENOSPC);
    CHECK_EQ_INT(cv_errno_code(EDQUOT), CV_ENOSPC);
    CHECK_EQ_INT(cv_errno_code(ECONNREFUSED), CV_ENET);
    CHECK_EQ_INT(cv_errno_code(ETIMEDOUT), CV_ETIMEDOUT);
    CHECK_EQ_INT(cv_errno_code(EIO), CV_EIO);
    CHECK_EQ_INT(cv_errno_code(0), CV_OK);
}

void test_error_errwrap(void)
{
    struct cv_err err = {""};
    int rc;

    cv_errf(&err, CV_ENET, "cannot connect to %s: %s", "rtsp://10.0.0.7/live",
            "connection refused");
    rc = cv_errwrap(&err, CV_ENET, "camera '%s'", "gate-3");
    CHECK_EQ_INT(rc, CV_ENET);
    CHECK_EQ_STR(err.msg,
                 "camera 'gate-3': cannot connect to rtsp://10.0.0.7/live: connection refused");

    /* Two levels of context. */
    cv_errwrap(&err, CV_ENET, "recorder");
    CHECK_EQ_STR(err.msg, "recorder: camera 'gate-3': cannot connect to rtsp://10.0.0.7/live: "
                          "connection refused");

    /* Nothing to wrap: the code's own text is the cause. */
    err.msg[0] = '\0';
    rc = cv_errwrap(&err, CV_ENOSPC, "segment '%s'", "a.mp4");
    CHECK_EQ_INT(rc, CV_ENOSPC);
    CHECK_EQ_STR(err.msg, "segment 'a.mp4': no space left");

    /* A full message stays terminated and keeps its prefix. */
    memset(err.msg, 'z', sizeof(err.msg) - 1);
    err.msg[sizeof(err.msg) - 1] = '\0';
    cv_errwrap(&err, CV_EIO, "ctx");
    CHECK_EQ_INT(strlen(err.msg), CV_ERR_MAX - 1);
    CHECK(strncmp(err.msg, "ctx: zzz", 8) == 0);
}

void test_error_null_err(void)
{
    CHECK_EQ_INT(cv_errf(NULL, CV_EINVAL, "ignored %d", 1), CV_EINVAL);
    CHECK_EQ_INT(cv_errwrap(NULL, CV_EDB, "ignored %s", "x"), CV_EDB);
    CHECK_EQ_INT(cv_errf(NULL, 0, "no error"), 0);
}
