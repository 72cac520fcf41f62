/*
 * verify_int.h: what the parts of `camvault verify` share (verify.c reads the package and checks
 * sums, signature and chains; verify_work.c checks the manifest and rebuilds working copies).
 */
#ifndef EXP_VERIFY_INT_H
#define EXP_VERIFY_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "exporter/exp_int.h"

#define CHUNK (1u << 20)

struct ent {
    char rel[EXP_SUM_PATH_MAX]; /* path below the top folder */
    uint8_t sha[32];
    char *data; /* NUL-terminated copy for metadata files, else NULL */
    size_t len;
    uint64_t bytes;
    bool listed, chained, described; /* in SHA256SUMS, in a chain, in the manifest */
};

struct ver {
    struct ent *e;
    size_t n, cap;
    char top[320];
    bool json;
    FILE *out;
    struct cv_buf js;
    unsigned checks, failed;
};

/* One line per check: "ok <check>: <detail>" or "FAIL ...", or a JSON item; counts failures. */
void exp_ver_report(struct ver *v, bool ok, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The entry at package path `rel` (below the top folder), or NULL. */
struct ent *exp_ver_find(struct ver *v, const char *rel);

/*
 * manifest.json, read before any check: CV_ECORRUPT with one line (naming the package) when it
 * is not JSON or not a camvault manifest, which makes the package unreadable (exit 2).
 * Out: *doc, freed with cv_json_free.
 */
struct cv_json;
int exp_ver_manifest_parse(const char *zip, const struct ent *manifest, struct cv_json **doc,
                           struct cv_err *err);

/*
 * Check that the manifest describes every native and working file of the package with its size
 * and hash, then rebuild every working copy from the package's native files (extracted for the
 * purpose to a temporary directory, removed again) and compare it byte for byte (by SHA-256).
 */
void exp_ver_manifest_check(struct ver *v, const char *zip, const struct cv_json *doc);

/*
 * custody/audit.log: every line "<seq> <previous hash hex> <hash hex> <audit line>" must have
 * hash = SHA-256(previous hash || audit line) (server/audit.h), sequences rising.
 */
void exp_ver_custody(struct ver *v);

/* One "clock" line: the clock states the package's checkpoints record (verify_clock.c). */
void exp_ver_clock(struct ver *v);

#endif
