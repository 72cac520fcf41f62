/*
 * export.h: evidence export packages (one ZIP per export; format in docs/evidence.md and the
 * package's README.txt).
 *
 * exp_export collects, for each requested camera, every segment overlapping [from, to), the gaps
 * and tombstones in that range and the chain links from the first exported segment up to the
 * first signed checkpoint that covers the last one, then writes
 *
 *   <case>-<export id>/native/<camera>/<YYYY-MM-DD>/<segment file>   byte for byte
 *   <case>-<export id>/manifest.json, README.txt, certs/root.pem, certs/signing.pem,
 *   integrity/<camera>.chain, integrity/checkpoints.log, SHA256SUMS, SHA256SUMS.p7s
 *   working/<camera>_<first>_<end>.mp4 (one per recorder run, exporter/clip.h), index.html,
 *   custody/audit.log (the audit lines the caller passes: the case's history, this export),
 *   custody/audit.chain (the audit chain from the first custody line to the signed audit head
 *   of the newest checkpoint, which integrity/checkpoints.log then holds; docs/evidence.md)
 *
 * into OUT.tmp (O_EXCL), fsyncs it and renames it to OUT, so a killed export never leaves a
 * partial OUT. Every segment is hashed while it is copied; a hash that differs from the index
 * aborts the export naming the file.
 *
 * Threads: reentrant; the index handle may be shared (exp_export uses its own read transaction).
 */
#ifndef EXP_EXPORT_H
#define EXP_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "indexer/idx.h"

#define EXP_VERSION "camvault 0.3"
#define EXP_MAX_CAMERAS 64

struct exp_request {
    const char *root;                     /* data root (absolute) */
    const char *cameras[EXP_MAX_CAMERAS]; /* camera ids, borrowed */
    size_t ncameras;
    int64_t from_us, to_us;         /* requested range [from, to) */
    const char *case_id;            /* [A-Za-z0-9._-], names the package folder */
    const char *reason, *requester; /* free text, may be NULL */
    const char *operator_name;      /* who runs the export; NULL or "": the process's user */
    const char *out_path;           /* the ZIP to create; must not exist */
    bool progress;                  /* progress lines on stderr */
    const char *export_id;          /* from exp_export_id, or NULL: one is made */
    const char *custody;            /* the case's audit lines for custody/audit.log (may be NULL) */
    size_t custody_len;
    /* Called after each native file with the bytes copied so far and the total; a nonzero
     * return stops the export with CV_ECANCELED ("export canceled"). NULL: not called. Runs on
     * the exporting thread, outside any index transaction. */
    int (*progress_fn)(void *ctx, uint64_t done_bytes, uint64_t total_bytes);
    void *progress_ctx;
};

struct exp_result {
    char export_id[32]; /* 20261122T091500Z-1a2b3c4d */
    char folder[320];   /* <case>-<export id> */
    size_t segments;    /* native files written */
    size_t files;       /* entries in the package */
    uint64_t bytes;     /* of native files */
};

/*
 * A new export id for time now_us: "20261122T091500Z-1a2b3c4d" (UTC second and 32 random bits),
 * so that a caller can write the audit record naming the export before the package, and the
 * package's custody/ can hold that record. Returns 0 or CV_ECRYPTO (no randomness).
 */
int exp_export_id(int64_t now_us, char out[32], struct cv_err *err);

/*
 * Write the package described by `req` (see above). Out: *res. Returns 0, or a negative CV_E*
 * code with one line in *err (unknown camera, no footage in range, hash mismatch naming the
 * file, missing keys, I/O errors naming the path). OUT is never left behind on failure.
 */
int exp_export(struct idx *idx, const struct exp_request *req, struct exp_result *res,
               struct cv_err *err);

#endif
