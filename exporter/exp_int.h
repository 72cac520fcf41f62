/*
 * exp_int.h: pieces shared by the exporter's own files (not an API for other modules).
 *
 * struct exp_zip writes a package: entries under one top folder, each hashed as it is written
 * (for SHA256SUMS), into a temporary file that exp_zip_finish signs, fsyncs and renames.
 * One owner, one thread.
 */
#ifndef EXP_INT_H
#define EXP_INT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "integrity/chain.h" /* itg_ssl_err */

#define EXP_SUM_PATH_MAX 512

struct exp_sum {
    char path[EXP_SUM_PATH_MAX]; /* relative to the top folder */
    char hex[65];
};

struct exp_zip {
    struct archive *a;
    int fd;
    char tmp[PATH_MAX], out[PATH_MAX];
    char prefix[320]; /* "<case>-<export id>/" */
    struct exp_sum *sums;
    size_t nsums, cap;
    int64_t mtime_s;
};

/* Create out_path.tmp exclusively and start a ZIP (stored entries) with top folder `folder`. */
int exp_zip_open(struct exp_zip *z, const char *out_path, const char *folder, int64_t now_us,
                 struct cv_err *err);
/* Add `len` bytes as <folder>/<rel>. */
int exp_zip_add_mem(struct exp_zip *z, const char *rel, const void *data, size_t len,
                    struct cv_err *err);
/* Stream file `abspath` into <folder>/<rel>; its SHA-256 must equal `expect` (else CV_ECORRUPT
 * naming the file). *bytes receives the size. */
int exp_zip_add_file(struct exp_zip *z, const char *rel, const char *abspath,
                     const uint8_t expect[32], uint64_t *bytes, struct cv_err *err);
/* Add clip `c` (exporter/clip.h) as <folder>/<rel>, read piece by piece; its SHA-256 into
 * sha_out[32]. */
struct exp_clip;
int exp_zip_add_clip(struct exp_zip *z, const char *rel, struct exp_clip *c, uint8_t sha_out[32],
                     struct cv_err *err);
/* Write SHA256SUMS and SHA256SUMS.p7s (signed with ROOT/keys/signing.key), close, fsync,
 * rename to the final name and fsync the directory. The struct is released either way. */
int exp_zip_finish(struct exp_zip *z, const char *root, struct cv_err *err);
/* Drop an unfinished package (removes the temporary file). NULL-safe on a zeroed struct. */
void exp_zip_abort(struct exp_zip *z);

/*
 * The package's index.html (exporter/viewer.html, built into the program) with the manifest
 * (JSON text, `len` bytes) embedded, appended to b; check cv_buf_ok(b) afterwards. Every '<', '>'
 * and '&' of the manifest is written as a JSON \u escape, so no manifest text can end the
 * script element it sits in.
 */
void exp_viewer_html(struct cv_buf *b, const char *manifest, size_t len);

#endif
