/*
 * sim_util.c: error formatting, clocks, a small PRNG and mkdir -p for camsim.
 *
 * See sim_util.h for the contracts. Nothing here keeps state between calls.
 */
#include "tools/camsim/sim_util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/banned.h"

int sim_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int64_t clock_us(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sim_mono_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

int64_t sim_wall_us(void)
{
    return clock_us(CLOCK_REALTIME);
}

void sim_rand_seed(uint64_t *state)
{
    uint64_t seed = 0;

    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
        seed = (uint64_t)sim_wall_us() ^ ((uint64_t)getpid() << 32);
    /* xorshift must never hold 0. */
    *state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t sim_rand_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

int sim_mkdir_p(const char *path, char *err, size_t errlen)
{
    struct cv_err e = {""};

    if (cv_mkdir_p(path, 0755, &e) < 0)
        return sim_errf(err, errlen, "%s", e.msg);
    return 0;
}

int sim_rename(const char *tmp, const char *path, char *err, size_t errlen)
{
    if (rename(tmp, path) != 0)
        return sim_errf(err, errlen, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    return 0;
}
