/*
 * clock.c: the system clock's synchronisation state (see clock.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>

#include "common/clock.h"
#include "common/banned.h"

/* CAMVAULT_TEST_CLOCK="unsync:ERR_US" | "sync:ERR_US"; false when unset. */
static bool from_hook(struct cv_clock *out)
{
    const char *v = getenv(CV_CLOCK_ENV);
    const char *colon;
    char *end;
    long long e;

    if (!v || !*v)
        return false;
    out->source = "test-hook";
    out->synced = false;
    out->esterror_us = out->maxerror_us = 16000000; /* the kernel's ceiling: 16 s */
    colon = strchr(v, ':');
    if (!colon)
        return true;
    errno = 0;
    e = strtoll(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || e < 0)
        return true;
    out->esterror_us = out->maxerror_us = e;
    out->synced = (size_t)(colon - v) == 4 && strncmp(v, "sync", 4) == 0;
    return true;
}

void cv_clock_read(struct cv_clock *out)
{
    struct timex tx;
    int state;

    memset(out, 0, sizeof(*out));
    if (from_hook(out))
        return;
    memset(&tx, 0, sizeof(tx)); /* modes 0: read only, no privilege needed */
    out->source = "adjtimex";
    state = adjtimex(&tx);
    if (state < 0) {
        out->esterror_us = out->maxerror_us = 16000000;
        return;
    }
    out->synced = state != TIME_ERROR && !(tx.status & STA_UNSYNC);
    out->esterror_us = tx.esterror;
    out->maxerror_us = tx.maxerror;
}

void cv_clock_line(const struct cv_clock *c, char *out, size_t n)
{
    snprintf(out, n, "clock %s esterror_us %" PRId64 " maxerror_us %" PRId64 " source %s",
             c->synced ? "synchronized" : "unsynchronized", c->esterror_us, c->maxerror_us,
             c->source ? c->source : "unknown");
}

int cv_clock_parse(const char *line, size_t len, struct cv_clock *out, char src[32])
{
    char buf[CV_CLOCK_LINE_MAX], state[16];
    long long est, max;
    int used = 0;

    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, line, len);
    buf[len] = 0;
    if (sscanf(buf, "clock %15s esterror_us %lld maxerror_us %lld source %31s%n", state, &est, &max,
               src, &used) != 4 ||
        (size_t)used != len || est < 0 || max < 0)
        return -1;
    if (strcmp(state, "synchronized") == 0)
        out->synced = true;
    else if (strcmp(state, "unsynchronized") == 0)
        out->synced = false;
    else
        return -1;
    out->esterror_us = est;
    out->maxerror_us = max;
    out->source = NULL;
    return 0;
}

bool cv_clock_warning(const struct cv_clock *c, char *out, size_t n)
{
    if (c->synced) {
        if (n)
            out[0] = 0;
        return false;
    }
    snprintf(out, n, "system clock not synchronised (estimated error %.3f s, %s)",
             (double)c->esterror_us / 1e6, c->source ? c->source : "unknown");
    return true;
}
