/*
 * clock.h: is the system clock synchronised, and how wrong may it be? Every evidence time rests
 * on CLOCK_REALTIME, so the recorder writes this state into every signed checkpoint, the
 * cameras' statuses and the log, and the server into /healthz and /metrics.
 *
 * The source is the kernel's NTP state (adjtimex(2) in read-only mode, as `timedatectl` and
 * chrony's `tracking` read it): unsynchronised when STA_UNSYNC is set or the call says
 * TIME_ERROR; esterror and maxerror are the kernel's estimated and maximum error, in µs.
 * chronyd and systemd-timesyncd both keep that state current (they clear STA_UNSYNC when they
 * discipline the clock), so one read covers every daemon.
 *
 * Test hook: the environment variable CAMVAULT_TEST_CLOCK="unsync:ERR_US" or "sync:ERR_US"
 * replaces the kernel's answer (both errors ERR_US, source "test-hook"), so tests can show both
 * states on any host. It is documented in docs/operations.md as a test hook; a malformed value
 * reads as unsynchronised (never as a good clock).
 * All functions are thread-safe.
 */
#ifndef CV_CLOCK_H
#define CV_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CV_CLOCK_ENV "CAMVAULT_TEST_CLOCK"
#define CV_CLOCK_LINE_MAX 128

struct cv_clock {
    bool synced;
    int64_t esterror_us; /* the kernel's estimated error */
    int64_t maxerror_us; /* its bound on the error */
    const char *source;  /* "adjtimex", "test-hook" (static strings) */
};

/* Read the clock's state now into *out. Never fails: an unreadable state is unsynchronised. */
void cv_clock_read(struct cv_clock *out);

/*
 * The checkpoint line (no newline) into out[CV_CLOCK_LINE_MAX]:
 *   "clock synchronized esterror_us <n> maxerror_us <n> source <s>"
 *   "clock unsynchronized esterror_us <n> maxerror_us <n> source <s>"
 */
void cv_clock_line(const struct cv_clock *c, char *out, size_t n);

/* Parse a line made by cv_clock_line (source into src[32]); 0, or -1 when it is not one. */
int cv_clock_parse(const char *line, size_t len, struct cv_clock *out, char src[32]);

/*
 * When the clock is not synchronised: a warning for statuses and logs into out and true
 * ("system clock not synchronised (estimated error 0.250 s)"); else out = "" and false.
 */
bool cv_clock_warning(const struct cv_clock *c, char *out, size_t n);

#endif
