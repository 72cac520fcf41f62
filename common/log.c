/*
 * log.c: timestamped, leveled log lines on stderr, one write(2) per line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/cvtime.h"
#include "common/banned.h"

static char log_prog[32] = "camvault";
static enum cv_log_level log_min = CV_LOG_INFO;

void cv_log_init(const char *prog, enum cv_log_level min)
{
    snprintf(log_prog, sizeof(log_prog), "%s", prog ? prog : "camvault");
    log_min = min;
}

int cv_log_level_parse(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};

    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void cv_log(enum cv_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[2048];
    char ts[40];
    va_list ap;
    int n, m;

    if (level < log_min)
        return;
    cv_time_format_utc(cv_now_us(), ts, sizeof(ts), 3);
    n = snprintf(line, sizeof(line), "%s %s[%d] %s: ", ts, log_prog, (int)getpid(), names[level]);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* Nowhere left to report a failing stderr. */
    }
}
