/*
 * jobs.c: export job records and the worker thread that runs them (jobs.h).
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/thread.h"
#include "exporter/export.h"
#include "exporter/sealwait.h"
#include "server/audit.h"
#include "server/jobs.h"
#include "server/records.h"
#include "storage-layout/layout.h"
#include "storage-layout/segfile.h"
#include "common/banned.h"

#define REC_MAX 16384
#define CUSTODY_MAX (64u << 20)
#define STOPPED "server stopped"

const char *srv_job_status_name(int s)
{
    static const char *const names[SRV_JOB_NSTATUS] = {"queued", "running", "done", "failed",
                                                       "canceled"};
    return s >= 0 && s < SRV_JOB_NSTATUS ? names[s] : "?";
}

int srv_job_new_id(char *id, struct cv_err *err)
{
    char out[32];
    int rc = exp_export_id(cv_now_us(), out, err); /* the one maker of export ids */

    if (rc == 0)
        cv_strlcpy(id, out, SRV_JOB_ID_MAX);
    return rc;
}

/* The stored fields, in order (records.h). */
static const struct srv_field fields[] = {
    SRV_F_STR(struct srv_job, id),           SRV_F_STR(struct srv_job, case_id),
    SRV_F_STRS(struct srv_job, cameras, ncameras),
    SRV_F_BE64(struct srv_job, from_us),     SRV_F_BE64(struct srv_job, to_us),
    SRV_F_STR(struct srv_job, reason),       SRV_F_STR(struct srv_job, for_user),
    SRV_F_STR(struct srv_job, request),      SRV_F_U8(struct srv_job, status, SRV_JOB_NSTATUS - 1),
    SRV_F_U8(struct srv_job, progress, 255), SRV_F_BE64(struct srv_job, bytes),
    SRV_F_STR(struct srv_job, sha256),       SRV_F_STR(struct srv_job, error),
    SRV_F_BE64(struct srv_job, created_us),  SRV_F_BE64(struct srv_job, finished_us),
    SRV_F_STR(struct srv_job, by),
    SRV_F_STR_NEWER(struct srv_job, stage), /* since the live edge's seal wait */
    SRV_F_END,
};

static const struct srv_rec_kind kind = {
    SRV_REC_KIND(IDX_JOBS, "export", struct srv_job, REC_MAX, SRV_JOB_ID_MAX),
    .fields = fields,
};

int srv_job_add(struct idx_txn *txn, const struct srv_job *j, struct cv_err *err)
{
    return srv_rec_store(txn, &kind, j, true, err);
}

/* srv_job_put and srv_job_get (jobs.h) */
SRV_REC_PUT_GET(srv_job, struct srv_job, kind)

static int by_created(const void *a, const void *b)
{
    const struct srv_job *x = a, *y = b;

    if (x->created_us != y->created_us)
        return x->created_us < y->created_us ? -1 : 1;
    return strcmp(x->id, y->id);
}

int srv_job_list(struct idx_txn *txn, struct srv_job **out, size_t *n, struct cv_err *err)
{
    void *v = NULL;
    int rc = srv_rec_list(txn, &kind, &v, n, by_created, err);

    *out = v;
    return rc;
}

int srv_job_counts(struct idx_txn *txn, uint64_t *counts, struct cv_err *err)
{
    struct srv_job *v = NULL;
    size_t n = 0;
    int rc = srv_job_list(txn, &v, &n, err);

    memset(counts, 0, SRV_JOB_NSTATUS * sizeof(*counts));
    for (size_t i = 0; rc == 0 && i < n; i++)
        counts[v[i].status]++;
    free(v);
    return rc;
}

/* Bytes of the regular files in dir and, `depth` levels down, in its subdirectories. */
static uint64_t tree_bytes(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    uint64_t sum = 0;

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        char path[PATH_MAX];
        struct stat st;
        if (e->d_name[0] == '.' ||
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
            lstat(path, &st) < 0)
            continue;
        if (S_ISREG(st.st_mode))
            sum += (uint64_t)st.st_blocks * 512;
        else if (S_ISDIR(st.st_mode) && depth > 0)
            sum += tree_bytes(path, depth - 1);
    }
    closedir(d);
    return sum;
}

int srv_exports_room(const char *root, unsigned max_percent, struct cv_err *err)
{
    struct lay_volume_space sp;
    char dir[PATH_MAX];
    uint64_t used, share;
    int rc = lay_dir(root, "exports", dir, sizeof(dir), err);

    if (rc < 0)
        return rc;
    if (lay_volume_space(dir, 0, &sp) < 0)
        return 0; /* cannot measure: the export itself will say what fails */
    used = tree_bytes(dir, 2); /* ROOT/exports/<case>/<id>.zip, and temporary files */
    share = sp.fs_total / 100 * (max_percent ? max_percent : SRV_EXPORTS_MAX_PERCENT);
    if (used >= share)
        return cv_errf(err, CV_ELIMIT,
                       "exports use %.1f MB, their share of the disk is %.1f MB (exports_max_percent "
                       "= %u): delete old exports from '%s' or raise exports_max_percent",
                       (double)used / 1e6, (double)share / 1e6,
                       max_percent ? max_percent : SRV_EXPORTS_MAX_PERCENT, dir);
    return 0;
}

int srv_job_path(const char *root, const struct srv_job *j, char *out, size_t n, struct cv_err *err)
{
    char dir[PATH_MAX];
    int rc = lay_dir(root, "exports", dir, sizeof(dir), err);

    if (rc < 0)
        return rc;
    if ((size_t)snprintf(out, n, "%s/%s/%s.zip", dir, j->case_id, j->id) >= n)
        return cv_errf(err, CV_ELIMIT, "export path too long");
    return 0;
}

void srv_job_json(struct cv_buf *b, const struct srv_job *j)
{
    cv_json_open_id(b, j->id);
    cv_json_add_str(b, "case", j->case_id, false);
    cv_json_add_strv(b, "cameras", j->cameras[0], sizeof(j->cameras[0]), j->ncameras);
    cv_json_add_time(b, "from", j->from_us);
    cv_json_add_time(b, "to", j->to_us);
    cv_json_add_str(b, "reason", j->reason, false);
    cv_json_add_str(b, "for_user", j->for_user, true);
    cv_json_add_str(b, "request", j->request, true);
    cv_buf_printf(b, ",\"status\":\"%s\",\"progress\":%u,", srv_job_status_name(j->status),
                  (unsigned)j->progress);
    if (j->status == SRV_JOB_DONE)
        cv_buf_printf(b, "\"bytes\":%llu,\"sha256\":\"%s\"", (unsigned long long)j->bytes,
                      j->sha256);
    else
        cv_buf_printf(b, "\"bytes\":null,\"sha256\":null");
    cv_json_add_str(b, "error", j->error, true);
    cv_json_add_time(b, "created", j->created_us);
    cv_json_add_time(b, "finished", j->finished_us);
    cv_json_add_str(b, "by", j->by, false);
    cv_buf_printf(b, ",\"stage\":");
    cv_json_str(b, j->status == SRV_JOB_RUNNING && j->stage[0] ? j->stage : NULL);
    cv_buf_u8(b, '}');
}

/* ---- the worker ---- */

struct srv_jobs {
    struct idx *idx;
    const char *root;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool kicked;
    atomic_bool stop;
};

/* An audit record written by the server itself (not on behalf of a request). */
static int audit_job(struct idx_txn *t, const struct srv_job *j, const char *action,
                     const char *detail, struct cv_err *err)
{
    char target[SRV_JOB_ID_MAX + 16];
    struct srv_audit_entry e = {
        .user = j->by,
        .role = "server",
        .action = action,
        .target = target,
        .case_id = j->case_id,
        .detail = detail,
    };

    snprintf(target, sizeof(target), "export %s", j->id);
    return srv_audit_append(t, &e, NULL, err);
}

/* Jobs an earlier server left queued or running: failed, "server stopped"; no .tmp left. */
static int fail_interrupted(struct srv_jobs *w, struct cv_err *err)
{
    struct idx_txn *t = NULL;
    struct srv_job *v = NULL;
    size_t n = 0;
    int rc = idx_begin(w->idx, true, &t, err);

    if (rc == 0)
        rc = srv_job_list(t, &v, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char path[PATH_MAX], tmp[PATH_MAX + 8];
        if (v[i].status != SRV_JOB_QUEUED && v[i].status != SRV_JOB_RUNNING)
            continue;
        if (srv_job_path(w->root, &v[i], path, sizeof(path), NULL) == 0) {
            snprintf(tmp, sizeof(tmp), "%s.tmp", path);
            unlink(tmp);
        }
        v[i].status = SRV_JOB_FAILED;
        cv_strlcpy(v[i].error, STOPPED, sizeof(v[i].error));
        v[i].finished_us = cv_now_us();
        rc = srv_job_put(t, &v[i], err);
        if (rc == 0)
            rc = audit_job(t, &v[i], "export-failed", STOPPED, err);
        cv_warn("export %s: %s before it finished; marked failed", v[i].id, STOPPED);
    }
    if (rc == 0)
        rc = idx_commit(t, err);
    else
        idx_abort(t);
    free(v);
    return rc;
}

/* The oldest queued job into *out: 1 found, 0 none, < 0 error. */
static int next_queued(struct srv_jobs *w, struct srv_job *out, struct cv_err *err)
{
    struct idx_txn *t = NULL;
    struct srv_job *v = NULL;
    size_t n = 0;
    int rc = idx_begin(w->idx, false, &t, err), found = 0;

    if (rc == 0)
        rc = srv_job_list(t, &v, &n, err);
    idx_abort(t);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (v[i].status == SRV_JOB_QUEUED) {
            *out = v[i];
            found = 1;
            break;
        }
    }
    free(v);
    return rc < 0 ? rc : found;
}

struct run_ctx {
    struct srv_jobs *w;
    const char *id;
    const char *stage; /* recorded with the progress (srv_job.stage) */
    int last_pct;
    int64_t last_us;
    bool canceled, stopped;
};

/* exp_export's progress callback: record the percent; stop when canceled or shutting down. */
static int on_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct run_ctx *rc = ctx;
    int pct = total ? (int)(done * 99 / total) : 0; /* 100 only when the ZIP is in place */
    int64_t now = cv_mono_us();
    struct idx_txn *t = NULL;
    struct srv_job j;
    struct cv_err err = {""};

    if (atomic_load(&rc->w->stop)) {
        rc->stopped = true;
        return 1;
    }
    if (pct == rc->last_pct && now - rc->last_us < 500000 && total)
        return 0;
    rc->last_pct = pct;
    rc->last_us = now;
    if (idx_begin(rc->w->idx, true, &t, &err) < 0 || srv_job_get(t, rc->id, &j, &err) < 0) {
        idx_abort(t);
        cv_warn("export %s: cannot record progress: %s", rc->id, err.msg);
        return 0;
    }
    if (j.status == SRV_JOB_CANCELED) {
        idx_abort(t);
        rc->canceled = true;
        return 1;
    }
    j.progress = (uint8_t)pct;
    cv_strlcpy(j.stage, rc->stage ? rc->stage : "", sizeof(j.stage));
    if (srv_job_put(t, &j, &err) < 0 || idx_commit(t, &err) < 0)
        cv_warn("export %s: cannot record progress: %s", rc->id, err.msg);
    else
        t = NULL;
    idx_abort(t);
    return 0;
}

/* exp_seal_wait's tick: the job shows "sealing"; a cancel or a shutdown stops the wait. */
static int seal_tick(void *ctx, int64_t waited_us)
{
    struct run_ctx *rc = ctx;

    if (waited_us > 0 && cv_mono_us() - rc->last_us < 500000 && !atomic_load(&rc->w->stop))
        return 0; /* the record is written twice a second */
    return on_progress(ctx, 0, 0);
}

/* A range that reaches the live edge: have the recorder seal and sign it first (seconds). A
 * recorder that does not answer in time only costs the wait: what is indexed is exported, and
 * the manifest says what a checkpoint does not cover yet. */
static int seal_live_edge(struct srv_jobs *w, const struct srv_job *j,
                          const struct exp_request *req, struct run_ctx *ctx, struct cv_err *err)
{
    int waited = 0, rc;

    ctx->stage = "sealing";
    rc = exp_seal_wait(w->idx, w->root, req->cameras, req->ncameras, req->from_us, req->to_us,
                       EXP_SEAL_TIMEOUT_US, seal_tick, ctx, &waited, err);
    if (rc == CV_ETIMEDOUT) {
        cv_warn("export %s: %s; exporting what is indexed", j->id, err->msg);
        rc = 0;
    } else if (rc == 0 && waited) {
        cv_info("export %s: live edge sealed and signed", j->id);
    }
    if (rc == CV_ECANCELED && ctx->stopped)
        rc = cv_errf(err, CV_ECANCELED, STOPPED);
    return rc;
}

/* Set the job running; 1 when it is (0: no longer queued, e.g. canceled meanwhile). */
static int claim(struct srv_jobs *w, struct srv_job *j, struct cv_err *err)
{
    struct idx_txn *t = NULL;
    int rc = idx_begin(w->idx, true, &t, err);

    if (rc == 0)
        rc = srv_job_get(t, j->id, j, err);
    if (rc == 0 && j->status != SRV_JOB_QUEUED) {
        idx_abort(t);
        return 0;
    }
    if (rc == 0) {
        j->status = SRV_JOB_RUNNING;
        j->progress = 0;
        rc = srv_job_put(t, j, err);
    }
    if (rc == 0)
        return idx_commit(t, err) < 0 ? -1 : 1;
    idx_abort(t);
    return rc;
}

static int file_sha256(const char *path, uint64_t *bytes, char *hex, struct cv_err *err)
{
    uint8_t d[32];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

    if (fd < 0)
        return cv_errf(err, cv_errno_code(errno), "cannot open '%s': %s", path, strerror(errno));
    if (fstat(fd, &st) < 0) {
        rc = cv_errf(err, CV_EIO, "cannot stat '%s': %s", path, strerror(errno));
    } else {
        *bytes = (uint64_t)st.st_size;
        rc = lay_sha256_fd(fd, *bytes, d, err);
    }
    close(fd);
    if (rc == 0)
        cv_hex(d, 32, hex);
    return rc;
}

static void run_job(struct srv_jobs *w, struct srv_job *j)
{
    struct run_ctx ctx = {.w = w, .id = j->id, .last_pct = -1};
    struct exp_request req = {0};
    struct exp_result res;
    struct cv_buf custody;
    struct idx_txn *t = NULL;
    struct cv_err err = {""}, e2 = {""};
    char path[PATH_MAX], dir[PATH_MAX], detail[256];
    uint64_t bytes = 0;
    char sha[65] = "";
    int rc;

    cv_buf_init(&custody, CUSTODY_MAX);
    rc = claim(w, j, &err);
    if (rc <= 0) {
        if (rc < 0)
            cv_warn("export %s: %s", j->id, err.msg);
        cv_buf_release(&custody);
        return;
    }
    cv_info("export %s: case %s, %u camera(s)", j->id, j->case_id, j->ncameras);
    /* The custody lines up to and including this export's start. */
    rc = idx_begin(w->idx, false, &t, &err);
    if (rc == 0)
        rc = srv_audit_case_lines(t, j->case_id, &custody, &err);
    idx_abort(t);
    t = NULL;
    if (rc == 0 && !cv_buf_ok(&custody))
        rc = cv_errf(&err, CV_ELIMIT, "custody lines of case '%s' too long", j->case_id);
    if (rc == 0)
        rc = srv_job_path(w->root, j, path, sizeof(path), &err);
    if (rc == 0) {
        char *slash;
        cv_strlcpy(dir, path, sizeof(dir));
        slash = strrchr(dir, '/');
        *slash = 0;
        rc = cv_mkdir_p(dir, 0750, &err);
    }
    if (rc == 0) {
        req.root = w->root;
        for (uint32_t i = 0; i < j->ncameras; i++)
            req.cameras[i] = j->cameras[i];
        req.ncameras = j->ncameras;
        req.from_us = j->from_us;
        req.to_us = j->to_us;
        req.case_id = j->case_id;
        req.reason = j->reason;
        req.requester = j->for_user[0] ? j->for_user : j->by;
        req.operator_name = j->by;
        req.out_path = path;
        req.export_id = j->id;
        req.custody = (const char *)custody.data;
        req.custody_len = custody.len;
        req.progress_fn = on_progress;
        req.progress_ctx = &ctx;
        rc = seal_live_edge(w, j, &req, &ctx, &err);
        ctx.stage = "copying";
        if (rc == 0)
            rc = exp_export(w->idx, &req, &res, &err);
    }
    if (rc == 0)
        rc = file_sha256(path, &bytes, sha, &err);

    /* Record the outcome (retry the write a few times: the index may be busy). */
    for (int attempt = 0; attempt < 3; attempt++) {
        struct srv_job cur;
        int wr = idx_begin(w->idx, true, &t, &e2);
        if (wr == 0)
            wr = srv_job_get(t, j->id, &cur, &e2);
        if (wr == 0) {
            cur.finished_us = cv_now_us();
            if (cur.status == SRV_JOB_CANCELED) {
                if (rc == 0)
                    unlink(path); /* canceled at the last moment: never delivered */
            } else if (rc == 0) {
                cur.status = SRV_JOB_DONE;
                cur.progress = 100;
                cur.bytes = bytes;
                cv_strlcpy(cur.sha256, sha, sizeof(cur.sha256));
                snprintf(detail, sizeof(detail), "%llu bytes, sha256 %s", (unsigned long long)bytes,
                         sha);
                wr = audit_job(t, &cur, "export-done", detail, &e2);
            } else {
                cur.status = SRV_JOB_FAILED;
                cv_strlcpy(cur.error, ctx.stopped ? STOPPED : err.msg, sizeof(cur.error));
                wr = audit_job(t, &cur, "export-failed", cur.error, &e2);
            }
        }
        if (wr == 0)
            wr = srv_job_put(t, &cur, &e2);
        if (wr == 0) {
            wr = idx_commit(t, &e2);
            t = NULL;
            if (wr == 0) {
                cv_info("export %s: %s%s%s", j->id, srv_job_status_name(cur.status),
                        cur.error[0] ? ": " : "", cur.error);
                break;
            }
        }
        idx_abort(t);
        t = NULL;
        cv_warn("export %s: cannot record the outcome: %s", j->id, e2.msg);
    }
    cv_buf_release(&custody);
}

static void *worker(void *arg)
{
    struct srv_jobs *w = arg;

    while (!atomic_load(&w->stop)) {
        struct srv_job j;
        struct cv_err err = {""};
        int rc = next_queued(w, &j, &err);

        if (rc < 0)
            cv_warn("export jobs: %s", err.msg);
        if (rc == 1) {
            run_job(w, &j);
            continue;
        }
        pthread_mutex_lock(&w->mu);
        if (!w->kicked && !atomic_load(&w->stop)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 2; /* also look now and then: a job may come from elsewhere */
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        w->kicked = false;
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

int srv_jobs_open(struct srv_jobs **out, struct idx *idx, const char *root, struct cv_err *err)
{
    struct srv_jobs *w = calloc(1, sizeof(*w));
    int rc;

    *out = NULL;
    if (!w)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    w->idx = idx;
    w->root = root;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    rc = fail_interrupted(w, err);
    if (rc == 0) {
        rc = pthread_create(&w->thread, NULL, worker, w);
        if (rc != 0)
            rc = cv_errf(err, CV_ENOMEM, "cannot start the export worker: %s", strerror(rc));
        else
            w->started = true;
    }
    if (rc < 0) {
        srv_jobs_close(w);
        return rc;
    }
    *out = w;
    return 0;
}

void srv_jobs_kick(struct srv_jobs *w)
{
    if (!w)
        return;
    cv_thread_raise(&w->mu, &w->cv, &w->kicked);
}

void srv_jobs_close(struct srv_jobs *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    srv_jobs_kick(w);
    if (w->started)
        pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
