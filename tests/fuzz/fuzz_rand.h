/*
 * fuzz_rand.h: the standalone fuzz drivers' random numbers (not for libFuzzer builds, which
 * bring their own): xorshift64*, deterministic for a given seed so that a failure replays.
 * One program includes it once; rnd_state is that program's seed.
 */
#ifndef FUZZ_RAND_H
#define FUZZ_RAND_H

#include <stddef.h>
#include <stdint.h>

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

#endif
