/*
 * fuzz_verify.c: a fuzz target for the package reader (exp_verify), with its own small driver.
 *
 * The target is LLVMFuzzerTestOneInput(): one input is one would-be package. It is written to a
 * temporary file and verified; verify may call it anything (valid, not valid, unreadable) but
 * must neither crash nor hang, and an unreadable input must come with a one-line message. Built
 * with clang -fsanitize=fuzzer the target runs under libFuzzer as it is; without it, main()
 * below is the driver `make test` uses:
 *
 *   fuzz-verify SEED.zip ITERATIONS [RANDOM-SEED]
 *
 * Each iteration applies one to four mutations to the seed (flip bits, overwrite bytes with
 * boundary values, cut the file, duplicate or drop a span, splice the central directory), mostly
 * at the end of the file, where the central directory and the text entries (manifest, chains,
 * checkpoints, SHA256SUMS) live in a camvault package. The input that crashed is kept as
 * crash-<iteration>.zip in the working directory, so a failure can be replayed with the same
 * arguments. Output: one summary line "fuzz-verify: N inputs: N valid, N not valid, N unreadable".
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "exporter/verify.h"
#include "common/banned.h"

#define MAX_INPUT (64u << 20)

static unsigned long long n_valid, n_invalid, n_unreadable;
static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/fuzz-verify-XXXXXX";
    struct cv_err err = {""};
    unsigned failed = 0;
    int fd, rc;

    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    fd = mkstemp(path);
    if (fd < 0 || cv_write_all(fd, data, size) < 0) {
        perror("fuzz-verify: temporary file");
        abort();
    }
    close(fd);
    rc = exp_verify(path, (size & 1) != 0, devnull, &failed, &err);
    unlink(path);
    if (rc < 0) {
        /* One line, naming the file: what `camvault verify` prints before exiting 2. */
        if (!err.msg[0] || strchr(err.msg, '\n') || !strstr(err.msg, path)) {
            fprintf(stderr, "fuzz-verify: bad error message for an unreadable input: '%s'\n",
                    err.msg);
            abort();
        }
        n_unreadable++;
    } else if (failed) {
        n_invalid++;
    } else {
        n_valid++;
    }
    return 0;
}

#ifndef FUZZ_LIBFUZZER

#include "tests/fuzz/fuzz_driver.h"

/* A position, three times in four within the last 256 KiB. */
static size_t pos(size_t len)
{
    size_t tail = len < (256u << 10) ? len : 256u << 10;
    return rnd() % 4 ? len - tail + below(tail) : below(len);
}

static void mutate(uint8_t *d, size_t *len, size_t cap)
{
    static const uint8_t special[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '\n', ' ', '"', '/', '.'};
    size_t n = *len, p, q, k;

    if (n == 0)
        return;
    switch (rnd() % 7) {
    case 0: /* flip a bit */
        d[pos(n)] ^= (uint8_t)(1u << (rnd() % 8));
        break;
    case 1: /* a boundary byte */
        d[pos(n)] = special[below(sizeof(special))];
        break;
    case 2: /* a boundary 16- or 32-bit little-endian value (ZIP sizes, offsets, counts) */
        p = pos(n);
        k = rnd() % 2 ? 2 : 4;
        if (p + k <= n)
            memset(d + p, rnd() % 2 ? 0xff : 0x00, k);
        break;
    case 3: /* cut the file */
        *len = pos(n);
        break;
    case 4: /* drop a span */
        p = pos(n);
        k = below(n - p < 4096 ? n - p : 4096);
        memmove(d + p, d + p + k, n - p - k);
        *len = n - k;
        break;
    case 5: /* duplicate a span */
        p = pos(n);
        k = below(n - p < 1024 ? n - p : 1024);
        if (n + k <= cap) {
            memmove(d + p + k, d + p, n - p);
            *len = n + k;
        }
        break;
    default: /* copy a span of the file over another place */
        p = pos(n);
        q = pos(n);
        k = below(256);
        if (p + k <= n && q + k <= n)
            memmove(d + q, d + p, k);
        break;
    }
}

int main(int argc, char **argv)
{
    char *seed = NULL;
    uint8_t *in = NULL;
    size_t seedlen = 0, cap;
    unsigned long long iters;
    struct cv_err err = {""};

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: fuzz-verify SEED.zip ITERATIONS [RANDOM-SEED]\n");
        return 2;
    }
    if (cv_read_file(argv[1], MAX_INPUT, &seed, &seedlen, &err) < 0) {
        fprintf(stderr, "fuzz-verify: %s\n", err.msg);
        return 2;
    }
    iters = strtoull(argv[2], NULL, 10);
    rnd_state = argc == 4 ? strtoull(argv[3], NULL, 10) | 1 : 0x9e3779b97f4a7c15ULL;
    cap = seedlen + 64 * 1024;
    in = malloc(cap);
    if (!in) {
        fprintf(stderr, "fuzz-verify: out of memory\n");
        return 1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)seed, seedlen); /* the seed itself first */
    for (unsigned long long i = 0; i < iters; i++) {
        size_t len = seedlen;
        char keep[64];
        memcpy(in, seed, seedlen);
        for (int m = 1 + (int)(rnd() % 4); m > 0; m--)
            mutate(in, &len, cap);
        snprintf(keep, sizeof(keep), "crash-%llu.zip", i);
        run_kept(in, len, keep);
    }
    printf("fuzz-verify: %llu inputs: %llu valid, %llu not valid, %llu unreadable\n", iters + 1,
           n_valid, n_invalid, n_unreadable);
    free(in);
    free(seed);
    if (devnull)
        fclose(devnull);
    return 0;
}

#endif
