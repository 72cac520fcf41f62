/*
 * retention.h: deleting old footage without ever deleting held footage.
 *
 * One pass: (1) finish deletions that a crash interrupted (tombstone committed, file still
 * there); (2) for each camera, tombstone segments that ended more than its retention days ago;
 * (3) for each volume over its high-water mark (its --max-bytes, else 95 % of its filesystem),
 * tombstone the oldest segments on it until it is under; (4) unlink the files. Segments
 * overlapping an active hold are skipped in (2) and (3), whatever their age or the space
 * pressure. Deletions are committed in batches (a tombstone and a `retention` gap each) before
 * files are unlinked, so a crash at any moment leaves either the record or a tombstone and a
 * queued unlink, never a record without its file.
 *
 * Used by the recorder's retention thread and by `camvault retention run`; both may run at
 * once (LMDB serializes the writes; a file already gone is fine).
 */
#ifndef IDX_RETENTION_H
#define IDX_RETENTION_H

#include "indexer/idx.h"

#define IDX_RET_MAX_SHORT 64

struct idx_ret_volume {
    char name[LAY_ID_MAX + 1];
    uint64_t used_bytes;  /* indexed footage on it */
    uint64_t limit_bytes; /* high-water mark */
    uint64_t fs_free_bytes;
    bool over_limit;      /* still over after the pass */
    bool only_held_left;  /* over the limit and nothing unheld to delete */
    uint64_t held_bytes;
};

struct idx_ret_shortfall {
    char camera[LAY_ID_MAX + 1];
    double promised_days;
    double kept_days; /* age of its oldest footage left */
};

struct idx_ret_report {
    uint64_t deleted, deleted_bytes, held_skipped, unlink_failed;
    struct idx_ret_volume *volumes; /* every volume, however many: malloc'd, see release */
    size_t nvolumes;
    struct idx_ret_shortfall short_[IDX_RET_MAX_SHORT];
    size_t nshort;
};

/*
 * Run one retention pass at time `now_us` over data root `root`. `max_delete` bounds the work of
 * one pass (the recorder passes a few thousand so a pass never runs long). Fills *rep.
 *
 * Test hook (documented, never set in production): the environment variable
 * CAMVAULT_TEST_RETENTION_DELAY_MS=N makes the pass sleep N ms before each write transaction
 * that tombstones, after logging "retention: test delay N ms before a deletion batch", so an
 * end-to-end test can place a hold in the middle of a pass.
 */
int idx_retention_pass(struct idx *idx, const char *root, int64_t now_us, size_t max_delete,
                       struct idx_ret_report *rep, struct cv_err *err);

/*
 * The same pass with explicit options. `before_batch`, when set, is called (with `ctx`) before
 * each write transaction that tombstones, after the pass has chosen its candidates: the unit
 * tests place a hold from it. `delay_ms` sleeps that long at the same point.
 */
struct idx_ret_opts {
    size_t max_delete;
    /* Extra room to leave below the high-water mark of volumes without --max-bytes that share
     * the index's filesystem (which fills with everything): what recording writes between two passes, so that
     * the filesystem does not reach 100 % before the next pass. 0: none; at most half the
     * mark is given up to it. */
    uint64_t headroom_bytes;
    void (*before_batch)(void *ctx);
    void *ctx;
    unsigned delay_ms;
};
int idx_retention_run(struct idx *idx, const char *root, int64_t now_us,
                      const struct idx_ret_opts *opts, struct idx_ret_report *rep,
                      struct cv_err *err);

/* Free rep->volumes (NULL-safe, idempotent); call after every pass, failed ones too. */
void idx_ret_report_release(struct idx_ret_report *rep);

/* Absolute directory of a volume's files (ROOT/volumes/<name>). */
int idx_volume_dir(const char *root, const char *name, char *out, size_t n, struct cv_err *err);

/*
 * Add volume `name` at directory `path` (`camvault volume add` and POST /api/v1/volumes): the
 * name must be an id (lay_id_check) not yet a volume ("main" always is), path a writable
 * directory; its files then live at ROOT/volumes/<name>, a symbolic link to path's real path
 * (made and its directory fsynced unless that is path itself). Stores the volume in t (write
 * transaction; the caller commits) and copies it to *out. CV_EINVAL names a bad name or path,
 * CV_EEXIST "volume 'x' exists already" or "'ROOT/volumes/x' already exists".
 */
int idx_volume_add(struct idx_txn *t, const char *root, const char *name, const char *path,
                   uint64_t max_bytes, struct idx_volume *out, struct cv_err *err);

#endif
