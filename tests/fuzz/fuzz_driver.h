/*
 * fuzz_driver.h: what the fuzz targets' standalone drivers share (not for libFuzzer builds,
 * which bring their own): random numbers, xorshift64*, deterministic for a given seed so that
 * a failure replays, and running one input kept on disk while it runs. One program includes it
 * once; rnd_state is that program's seed.
 */
#ifndef FUZZ_DRIVER_H
#define FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rnd_state;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return rnd_state * 2685821657736338717ULL;
}

/* A number in [0, n), 0 when n is 0. */
static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

/* Run input in[0..len) with a copy of it in the file `keep` (current directory): a crash
 * leaves the file behind to replay; otherwise it is removed. */
static void run_kept(const uint8_t *in, size_t len, const char *keep)
{
    FILE *f = fopen(keep, "wb");

    if (f) {
        fwrite(in, 1, len, f);
        fclose(f);
    }
    LLVMFuzzerTestOneInput(in, len);
    unlink(keep);
}

#endif
