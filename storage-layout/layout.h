/*
 * layout.h: the only code that knows where camvault keeps things on disk.
 *
 *   ROOT/camvault.conf         optional settings
 *   ROOT/index/                LMDB environment
 *   ROOT/keys/                 site key and certificates
 *   ROOT/volumes/<vol>/<camera>/<YYYY-MM-DD>/<HHMMSS>-<seq>.<ext>    segments (UTC in names)
 *   ROOT/ledger/, ROOT/exports/, ROOT/tmp/, ROOT/quarantine/
 *
 * Segment paths stored in the index are relative to ROOT, so a data root can be moved. <ext> is
 * "mp4" (ISO BMFF brand) or "mov" (QuickTime brand, used when the camera's audio is G.711, which
 * the MP4 brand cannot carry byte for byte); see docs/storage-layout.md. The root is chosen by
 * --root, else $CAMVAULT_ROOT, else ./camvault-data. All functions are thread-safe.
 */
#ifndef LAY_LAYOUT_H
#define LAY_LAYOUT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define LAY_ID_MAX 64          /* camera and volume ids: [A-Za-z0-9][A-Za-z0-9._-]{0,63} */
#define LAY_RELPATH_MAX 256    /* a segment path relative to ROOT */
#define LAY_DEFAULT_VOLUME "main"

/* Resolve the data root (flag, env, default) into an absolute path in out[PATH_MAX]. */
int lay_root_resolve(const char *flag, char *out, size_t n, struct cv_err *err);

/* ROOT/<sub> into out; sub is one of "index", "keys", "tmp", "ledger", "exports", "quarantine". */
int lay_dir(const char *root, const char *sub, char *out, size_t n, struct cv_err *err);

/* Create the root's directory tree (idempotent) including the default volume. */
int lay_root_create(const char *root, struct cv_err *err);

/* 0 if ROOT/index exists, else CV_ENOENT "data root '...' is not initialized (run camvault init)". */
int lay_root_check(const char *root, struct cv_err *err);

/* Check a camera or volume id; `what` ("camera", "volume") names it in the message. */
int lay_id_check(const char *what, const char *id, struct cv_err *err);

/* ROOT/<rel> into out (absolute). */
int lay_abs(const char *root, const char *rel, char *out, size_t n, struct cv_err *err);

/*
 * Create a new segment file for `camera` on volume `vol` starting at `start_us`, exclusively
 * (O_EXCL), making the day directory if needed. On a name clash the sequence number goes up.
 * Out: *fd (O_WRONLY, caller closes) and rel[LAY_RELPATH_MAX] (path relative to ROOT).
 */
int lay_segment_create(const char *root, const char *vol, const char *camera, int64_t start_us,
                       const char *ext, int *fd, char *rel, struct cv_err *err);

/* The parts of a segment path relative to ROOT; CV_EINVAL when it is not one. */
struct lay_segname {
    char volume[LAY_ID_MAX + 1];
    char camera[LAY_ID_MAX + 1];
    int64_t start_s; /* from the name: whole seconds, UTC */
    unsigned seq;
    char ext[4];
};
int lay_segment_parse(const char *rel, struct lay_segname *out);

/*
 * A volume's space: its filesystem's size and free bytes (statvfs of `dir`, the volume's
 * directory), and its high-water mark, the one definition every caller uses: 95 % of the
 * filesystem, or `max_bytes` (the volume's --max-bytes) when that is set and lower, or when the
 * filesystem cannot be measured. fs_used counts everything on the filesystem, not only footage.
 * Returns 0, or -1 (fs_* zero, limit = max_bytes) when statvfs fails.
 */
#define LAY_VOLUME_HIGH_WATER 0.95
struct lay_volume_space {
    uint64_t fs_total, fs_free, fs_used; /* fs_free: available to unprivileged writers */
    uint64_t limit;
};
int lay_volume_space(const char *dir, uint64_t max_bytes, struct lay_volume_space *out);

/*
 * ROOT/index/space.reserve: a file of zeros the recorder keeps on the index's filesystem so that,
 * when that filesystem is full, deleting the file gives LMDB the pages it needs to commit the
 * deletions that free real space (see recorder/retainer.c). Its size: LAY_RESERVE_MAX, or 1/32
 * of a smaller filesystem.
 */
#define LAY_RESERVE_MAX ((uint64_t)64 << 20)
int lay_reserve_path(const char *root, char *out, size_t n, struct cv_err *err);
uint64_t lay_reserve_bytes(uint64_t fs_total);

/* Relative directory of a camera's footage on a volume: "volumes/<vol>/<camera>". */
int lay_camera_dir(const char *vol, const char *camera, char *rel, size_t n, struct cv_err *err);

#endif
