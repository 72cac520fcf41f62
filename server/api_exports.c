/*
 * api_exports.c: export jobs (docs/api.md, "Export jobs"): officers start them for any case,
 * mediators within their own case; the worker (jobs.h) builds the package; callers poll the
 * progress, cancel, and download the finished ZIP with byte ranges. Residents see and download
 * only the exports approved for them; any other export id is 404 to them, as to mediators
 * outside the export's case.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/cvtime.h"
#include "server/audit.h"
#include "server/workflow_int.h"
#include "common/banned.h"

static void answer(struct srv_req *r, int status, const struct srv_job *j)
{
    r->status = status;
    cv_buf_printf(&r->out, "{\"export\":");
    srv_job_json(&r->out, j);
    cv_buf_printf(&r->out, "}\n");
}

/* The job of the path, for this caller: 0, or answered (404) and -1. */
static int load(struct srv_req *r, struct idx_txn *t, void *rec)
{
    struct srv_job *j = rec;
    struct cv_err err = {""};
    int rc = srv_job_get(t, r->params[0], j, &err);

    return srv_path_record(r, rc, rc == 0 && wf_job_visible(r, t, j), "export", &err);
}

/* GET /api/v1/exports */
SRV_LIST_OF(list_jobs, srv_job_list)

SRV_LIST_KEEP(keep_job, wf_job_visible)

SRV_LIST_JSON(list_job_json, srv_job_json)

int api_exports_list(struct srv_req *r)
{
    const struct srv_list l = {"exports", sizeof(struct srv_job), 0, NULL, list_jobs, keep_job,
                               list_job_json};

    return srv_reply_list(r, &l);
}

/* POST /api/v1/exports {"case", "cameras", "from", "to", "reason"?, "for_user"?} */
int api_exports_add(struct srv_req *r)
{
    static const char *const fields[] = {"case",   "cameras",  "from", "to",
                                         "reason", "for_user", NULL};
    struct srv_case *c = srv_case_new();
    struct srv_job j = {0};
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    const char *case_id = NULL, *reason = NULL, *for_user = NULL;
    int rc;

    if (!c)
        return srv_error(r, 500, "out of memory");
    if (srv_body_fields(r, fields) < 0 ||
        wf_body_text(r, "case", true, SRV_CASE_ID_MAX, &case_id) < 0 ||
        srv_body_time(r, "from", true, &j.from_us) < 0 ||
        srv_body_time(r, "to", true, &j.to_us) < 0 ||
        wf_body_text(r, "reason", false, SRV_JOB_TEXT_MAX, &reason) < 0 ||
        wf_body_text(r, "for_user", false, 33, &for_user) < 0)
        goto out;
    if (j.to_us <= j.from_us || j.to_us - j.from_us > SRV_JOB_RANGE_MAX_US) {
        srv_error(r, 400, "'to' must be after 'from' and at most 31 days later");
        goto out;
    }
    if (srv_write(r, &t) < 0)
        goto out;
    rc = srv_case_get(t, case_id, c, &err);
    if (rc == 0 && r->user.role == SRV_ROLE_MEDIATOR && !srv_case_has_member(c, r->user.name))
        rc = cv_errf(&err, CV_ENOENT, "unknown case '%s'", case_id);
    if (rc < 0) {
        srv_fail(r, rc, &err);
        goto out;
    }
    if (wf_body_cameras(r, t, "cameras", true, j.cameras, &j.ncameras) < 0)
        goto out;
    if (r->user.role == SRV_ROLE_MEDIATOR) {
        for (uint32_t i = 0; i < j.ncameras; i++) {
            if (c->status != SRV_CASE_OPEN ||
                !srv_case_covers(c, j.cameras[i], j.from_us, j.to_us)) {
                srv_error(r, 403, "camera '%s' in this range is outside your case %s", j.cameras[i],
                          c->id);
                goto out;
            }
        }
        if (for_user && *for_user) {
            srv_error(r, 403, "only officers export for another user ('for_user')");
            goto out;
        }
    }
    if (c->status != SRV_CASE_OPEN) {
        srv_error(r, 409, "case %s is closed", c->id);
        goto out;
    }
    if (for_user && *for_user) {
        struct srv_user u;
        if (srv_user_get(t, for_user, &u, NULL) < 0) {
            srv_error(r, 400, "field 'for_user': unknown user '%s'", for_user);
            goto out;
        }
        cv_strlcpy(j.for_user, u.name, sizeof(j.for_user));
    }
    cv_strlcpy(j.reason, reason ? reason : "", sizeof(j.reason));
    /* Exports share the disk with recording: past their share, refuse rather than fill it. */
    if (srv_exports_room(r->srv->root, r->srv->conf.exports_max_percent, &err) < 0) {
        srv_error(r, 507, "%s", err.msg);
        goto out;
    }
    rc = wf_job_start(r, t, &j, c, &err);
    if (rc == 0)
        rc = srv_case_put(t, c, &err);
    if (rc == 0) {
        rc = idx_commit(t, &err);
        t = NULL;
    }
    if (rc < 0) {
        srv_fail(r, rc, &err);
        goto out;
    }
    srv_jobs_kick(r->srv->jobs);
    answer(r, 202, &j);
out:
    idx_abort(t);
    free(c);
    return 0;
}

/* GET /api/v1/exports/{id} */
int api_exports_get(struct srv_req *r)
{
    struct srv_job j;

    if (srv_read_path_record(r, load, &j) == 0)
        answer(r, 200, &j);
    return 0;
}

/* POST /api/v1/exports/{id}/cancel */
int api_exports_cancel(struct srv_req *r)
{
    struct srv_job j;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    char target[SRV_JOB_ID_MAX + 16];
    int rc;

    if (srv_write(r, &t) < 0)
        return 0;
    if (load(r, t, &j) < 0)
        goto out;
    if (j.status != SRV_JOB_QUEUED && j.status != SRV_JOB_RUNNING) {
        srv_error(r, 409, "export %s is already %s", j.id, srv_job_status_name(j.status));
        goto out;
    }
    j.status = SRV_JOB_CANCELED;
    j.finished_us = cv_now_us();
    rc = srv_job_put(t, &j, &err);
    snprintf(target, sizeof(target), "export %s", j.id);
    rc = srv_audit_commit(r, t, rc, "export-cancel", target, j.case_id, NULL, &err);
    t = NULL;
    if (rc < 0) {
        srv_fail(r, rc, &err);
        goto out;
    }
    answer(r, 200, &j);
out:
    idx_abort(t);
    return 0;
}

/* GET /api/v1/exports/{id}/download (Range: bytes=a-b) */
int api_exports_download(struct srv_req *r)
{
    struct srv_job j;
    struct cv_err err = {""};
    struct MHD_Response *resp;
    struct stat st;
    char path[PATH_MAX], target[SRV_JOB_ID_MAX + 16], detail[96];
    uint64_t off, len;
    bool partial;
    int fd = -1, rc;

    if (srv_read_path_record(r, load, &j) < 0)
        return 0;
    if (j.status != SRV_JOB_DONE)
        return srv_error(r, 409, "export %s is %s, not done", j.id, srv_job_status_name(j.status));
    rc = srv_job_path(r->srv->root, &j, path, sizeof(path), &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return srv_error(r, 500, "the package of export %s is missing: %s", j.id, strerror(errno));
    }
    if (wf_range(r, (uint64_t)st.st_size, &off, &len, &partial) < 0) {
        close(fd);
        return 0;
    }
    snprintf(target, sizeof(target), "export %s", j.id);
    snprintf(detail, sizeof(detail), "bytes %llu-%llu of %llu", (unsigned long long)off,
             (unsigned long long)(off + len - (len ? 1 : 0)), (unsigned long long)st.st_size);
    /* The download is recorded before any byte goes out; no record, no download. */
    rc = srv_audit(r, NULL, "export-download", target, j.case_id, detail, &err);
    if (rc < 0) {
        close(fd);
        return srv_fail(r, rc, &err);
    }
    resp = MHD_create_response_from_fd_at_offset64(len, fd, off); /* owns fd */
    if (!resp) {
        close(fd);
        return srv_error(r, 500, "cannot send the package of export %s", j.id);
    }
    MHD_add_response_header(resp, "Content-Type", "application/zip");
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    snprintf(detail, sizeof(detail), "attachment; filename=\"%s-%s.zip\"", j.case_id, j.id);
    MHD_add_response_header(resp, "Content-Disposition", detail);
    if (partial) {
        snprintf(detail, sizeof(detail), "bytes %llu-%llu/%llu", (unsigned long long)off,
                 (unsigned long long)(off + len - 1), (unsigned long long)st.st_size);
        MHD_add_response_header(resp, "Content-Range", detail);
    }
    r->resp = resp;
    r->status = partial ? 206 : 200;
    return 0;
}
