/*
 * jobs.h: export jobs (the index's `jobs` store) and the worker thread that runs them.
 *
 * A job asks for one evidence package (exporter/export.h) of a case: cameras, range, reason and
 * optionally the resident it is approved for. Jobs are queued in the store; one worker thread
 * runs them oldest first with exp_export into ROOT/exports/<case>/<job id>.zip (the package's
 * export id is the job id), putting the case's audit lines in custody/audit.log. Progress (0-100
 * by bytes copied) is written to the record as it changes; the record is also how a cancel
 * reaches the worker: the API sets the status to `canceled` and the worker's progress callback
 * sees it and stops the export. exp_export writes FILE.zip.tmp and renames it only when the
 * package is complete, so a job's ZIP exists only when the job is `done`.
 *
 * A server killed mid-job leaves `queued` or `running` records: srv_jobs_open marks them
 * `failed` with the error "server stopped" (and removes a leftover .tmp), so no job is ever shown
 * as done without its complete package. srv_jobs_close stops a running export the same way.
 *
 * Record layout (key: the id "<UTC yyyymmddThhmmssZ>-<8 hex>"):
 *   u8 1, id, case, u8 ncameras, cameras, be64 from µs, be64 to µs, reason, for_user, request,
 *   u8 status, u8 progress, be64 bytes, sha256 hex, error, be64 created µs, be64 finished µs, by,
 *   stage (optional: records written before it end at `by`)
 *
 * Threads: the record functions follow idx.h's rules; srv_jobs_kick may be called from any
 * thread; open/close from the server's main thread.
 */
#ifndef SRV_JOBS_H
#define SRV_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "indexer/idx.h"

#define SRV_JOB_ID_MAX 40
#define SRV_JOB_CAMERAS 16
#define SRV_JOB_TEXT_MAX 256
#define SRV_JOB_RANGE_MAX_US (INT64_C(31) * 86400 * 1000000) /* longest export */

enum srv_job_status {
    SRV_JOB_QUEUED = 0,
    SRV_JOB_RUNNING = 1,
    SRV_JOB_DONE = 2,
    SRV_JOB_FAILED = 3,
    SRV_JOB_CANCELED = 4,
};
#define SRV_JOB_NSTATUS 5
const char *srv_job_status_name(int s); /* "queued", ... */

struct srv_job {
    char id[SRV_JOB_ID_MAX];
    char case_id[24];
    char cameras[SRV_JOB_CAMERAS][LAY_ID_MAX + 1];
    uint32_t ncameras;
    int64_t from_us, to_us;
    char reason[SRV_JOB_TEXT_MAX];
    char for_user[33]; /* the resident it is approved for, "" none */
    char request[24];  /* the footage request it answers, "" none */
    uint8_t status;
    uint8_t progress; /* percent */
    uint64_t bytes;   /* of the finished ZIP */
    char sha256[65];  /* of the finished ZIP, hex */
    char error[SRV_JOB_TEXT_MAX * 2];
    int64_t created_us, finished_us;
    char by[33];
    /* While running: "sealing" (waiting for the recorder to seal and sign the live edge,
     * exporter/sealwait.h; seconds) or "copying"; "" otherwise. Stored after `by` (older
     * records end before it). */
    char stage[16];
};

/* A fresh job id into id[SRV_JOB_ID_MAX]: exp_export_id's (time + random), so that an export
 * made by the API and one made by `camvault export` are named alike. */
int srv_job_new_id(char *id, struct cv_err *err);
/* Store a new job (its id set by srv_job_new_id): CV_EEXIST on a clash. */
int srv_job_add(struct idx_txn *txn, const struct srv_job *j, struct cv_err *err);
int srv_job_put(struct idx_txn *txn, const struct srv_job *j, struct cv_err *err);
/* CV_ENOENT "unknown export 'x'". */
int srv_job_get(struct idx_txn *txn, const char *id, struct srv_job *out, struct cv_err *err);
/* All jobs, oldest first; *out malloc'd (caller frees). */
int srv_job_list(struct idx_txn *txn, struct srv_job **out, size_t *n, struct cv_err *err);
/* Number of jobs in each state (counts[SRV_JOB_NSTATUS]), for /metrics. */
int srv_job_counts(struct idx_txn *txn, uint64_t *counts, struct cv_err *err);

/* The package of a job: ROOT/exports/<case>/<id>.zip into out[PATH_MAX]. */
/*
 * Whether ROOT/exports may take one more export: 0, or CV_ELIMIT with a one-line reason when
 * the exports already use `max_percent` % or more of their filesystem (camvault.conf
 * exports_max_percent, SRV_EXPORTS_MAX_PERCENT by default), so that exports can never fill the
 * disk that recording needs.
 */
#define SRV_EXPORTS_MAX_PERCENT 20
int srv_exports_room(const char *root, unsigned max_percent, struct cv_err *err);
int srv_job_path(const char *root, const struct srv_job *j, char *out, size_t n,
                 struct cv_err *err);

/* EXPORT of docs/api.md appended to b. */
void srv_job_json(struct cv_buf *b, const struct srv_job *j);

/* ---- the worker ---- */
struct srv_jobs;

/*
 * Mark jobs left queued or running by an earlier server as failed ("server stopped"), then
 * start the worker thread. idx and root are borrowed for the handle's life.
 */
int srv_jobs_open(struct srv_jobs **out, struct idx *idx, const char *root, struct cv_err *err);
/* Wake the worker: a job was queued. NULL-safe. */
void srv_jobs_kick(struct srv_jobs *jobs);
/* Stop the worker (a running export is stopped and its job marked failed, "server stopped") and
 * free the handle. NULL-safe. */
void srv_jobs_close(struct srv_jobs *jobs);

#endif
