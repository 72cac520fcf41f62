/*
 * sim_util.h: small helpers shared by the camsim files.
 *
 * camsim is a stand-alone tool (nothing in camvault links it), so it carries its own tiny error
 * convention instead of the project's error enum: a function that can fail returns 0 on success
 * and -1 on failure, and writes one line naming the thing and the cause into a caller-supplied
 * buffer `err` of `errlen` bytes. sim_errf() fills that buffer and returns -1, so a failure is
 * one statement: `return sim_errf(err, errlen, "cannot open '%s': %s", path, strerror(errno));`
 *
 * All functions here are safe to call from any thread; camsim itself has only one.
 */
#ifndef CAMSIM_SIM_UTIL_H
#define CAMSIM_SIM_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Formats a message into err (always NUL-terminated, truncated to errlen) and returns -1. err may
 * be NULL when errlen is 0. */
int sim_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* rename(tmp, path): 0, or -1 with "cannot rename 'tmp' to 'path': <cause>" in err. */
int sim_rename(const char *tmp, const char *path, char *err, size_t errlen);

/* Microseconds on CLOCK_MONOTONIC (for pacing) and CLOCK_REALTIME (for RTCP wall clock). */
int64_t sim_mono_us(void);
int64_t sim_wall_us(void);

/* A fast non-cryptographic 64-bit generator (xorshift64*), seeded from getrandom(). The state
 * belongs to the caller; sim_rand_seed never fails (it falls back to time and pid). */
void sim_rand_seed(uint64_t *state);
uint64_t sim_rand_next(uint64_t *state);

/* Creates directory `path` and any missing parents with mode 0755, like `mkdir -p`.
 * Returns 0 if it exists afterwards, -1 with err filled otherwise. */
int sim_mkdir_p(const char *path, char *err, size_t errlen);

#endif
