/*
 * log.h: the process logger, one line per event on stderr.
 *
 * Lines look like `2026-11-22T09:30:00.123Z camvault[4711] warn: camera 'gate-3': ...` so that
 * an operator can grep and sort them. The level and program name are configuration set once at
 * start-up (cv_log_init), the only global state besides configuration. Thread-safe: a line is
 * written with one write(2) call, so lines of concurrent threads never interleave.
 */
#ifndef CV_LOG_H
#define CV_LOG_H

enum cv_log_level { CV_LOG_DEBUG, CV_LOG_INFO, CV_LOG_WARN, CV_LOG_ERROR };

/* Set the program name (copied, at most 31 bytes) and the lowest level that is printed. */
void cv_log_init(const char *prog, enum cv_log_level min);

/* Parse "debug", "info", "warn" or "error"; returns -1 for anything else. */
int cv_log_level_parse(const char *s);

void cv_log(enum cv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cv_debug(...) cv_log(CV_LOG_DEBUG, __VA_ARGS__)
#define cv_info(...) cv_log(CV_LOG_INFO, __VA_ARGS__)
#define cv_warn(...) cv_log(CV_LOG_WARN, __VA_ARGS__)
#define cv_error(...) cv_log(CV_LOG_ERROR, __VA_ARGS__)

#endif
