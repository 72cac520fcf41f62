/*
 * api_requests.c: footage requests (docs/api.md, "Footage requests"). A resident files one and
 * a provisional hold covers it at once; an officer approves it (a case with the request's
 * clips, the hold turned into a case hold, an export job for the resident) or rejects it with a
 * reason. Each step and its audit records commit in one transaction. Residents see only their
 * own requests: another's id is 404, exactly like an unknown one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cvtime.h"
#include "server/audit.h"
#include "server/workflow_int.h"
#include "common/banned.h"

#define EXPORT_RANGE_MAX_US SRV_JOB_RANGE_MAX_US

/* ---- shared helpers ---- */

int wf_body_text(struct srv_req *r, const char *name, bool required, size_t max, const char **out)
{
    struct cv_err err = {""};
    int rc = cv_json_get_str(r->in, name, required, out, &err);

    if (rc < 0)
        return srv_error(r, 400, "%s", err.msg), -1;
    if (rc == 1)
        return 1;
    if (strlen(*out) >= max)
        return srv_error(r, 400, "field '%s': longer than %zu bytes", name, max - 1), -1;
    if (required && !**out)
        return srv_error(r, 400, "field '%s' may not be empty", name), -1;
    return 0;
}

int wf_body_cameras(struct srv_req *r, struct idx_txn *t, const char *name, bool required,
                    char (*out)[LAY_ID_MAX + 1], uint32_t *n)
{
    const struct cv_jv *a = r->in ? cv_json_get(r->in, name) : NULL;
    struct idx_camera cam;
    struct cv_err err = {""};

    *n = 0;
    if (!a || a->type == CV_JSON_NULL) {
        if (!required)
            return 1;
        return srv_error(r, 400, "missing field '%s' (a list of camera ids)", name), -1;
    }
    if (a->type != CV_JSON_ARR || a->len == 0 || a->len > SRV_JOB_CAMERAS)
        return srv_error(r, 400, "field '%s': expected a list of 1 to %d camera ids", name,
                         SRV_JOB_CAMERAS),
               -1;
    for (const struct cv_jv *v = a->child; v; v = v->next) {
        if (v->type != CV_JSON_STR)
            return srv_error(r, 400, "field '%s': expected camera ids (strings)", name), -1;
        for (uint32_t i = 0; i < *n; i++)
            if (strcmp(out[i], v->str) == 0)
                return srv_error(r, 400, "field '%s': camera '%.64s' twice", name, v->str), -1;
        if (srv_scope_camera_get(r, t, v->str, &cam, &err) < 0)
            return srv_error(r, 400, "field '%s': unknown camera '%.64s'", name, v->str), -1;
        cv_strlcpy(out[(*n)++], cam.id, LAY_ID_MAX + 1);
    }
    return 0;
}

int wf_hold_provisional(struct srv_req *r, struct idx_txn *t, const char *owner,
                        const char (*cameras)[LAY_ID_MAX + 1], uint32_t n, int64_t from_us,
                        int64_t to_us, const char *what, uint64_t *id, struct cv_err *err)
{
    struct idx_hold h = {0};
    char target[64], label[160], detail[512];
    int rc;

    cv_strlcpy(h.case_id, owner, sizeof(h.case_id));
    for (uint32_t i = 0; i < n && i < IDX_HOLD_CAMERAS; i++)
        cv_strlcpy(h.cameras[h.ncameras++], cameras[i], sizeof(h.cameras[0]));
    h.from_us = from_us;
    h.to_us = to_us;
    h.created_us = cv_now_us();
    h.until_us = h.created_us + SRV_REQUEST_HOLD_US;
    cv_strlcpy(h.who, r->user.name, sizeof(h.who));
    snprintf(h.why, sizeof(h.why), "provisional hold for %s", what);
    rc = idx_hold_add(t, &h, err);
    *id = h.id;
    snprintf(target, sizeof(target), "hold %llu", (unsigned long long)h.id);
    snprintf(label, sizeof(label), "provisional, %s", what);
    wf_range_text(detail, sizeof(detail), label, from_us, to_us);
    if (rc == 0)
        rc = srv_audit(r, t, "hold-add", target, NULL, detail, err);
    return rc;
}

void wf_range_text(char *out, size_t cap, const char *what, int64_t from_us, int64_t to_us)
{
    char a[48], b[48];

    cv_time_format_utc(from_us, a, sizeof(a), 3);
    cv_time_format_utc(to_us, b, sizeof(b), 3);
    snprintf(out, cap, "%s %s..%s", what, a, b);
}

int wf_job_start(struct srv_req *r, struct idx_txn *t, struct srv_job *j, struct srv_case *c,
                 struct cv_err *err)
{
    char target[SRV_JOB_ID_MAX + 16], detail[1024];
    size_t o;
    int rc = srv_job_new_id(j->id, err);

    if (rc < 0)
        return rc;
    cv_strlcpy(j->case_id, c->id, sizeof(j->case_id));
    cv_strlcpy(j->by, r->user.name, sizeof(j->by));
    j->status = SRV_JOB_QUEUED;
    j->progress = 0;
    j->created_us = cv_now_us();
    rc = srv_job_add(t, j, err);
    if (rc == 0)
        rc = srv_case_add_export(c, j->id, err);
    snprintf(target, sizeof(target), "export %s", j->id);
    wf_range_text(detail, sizeof(detail), "cameras", j->from_us, j->to_us);
    o = strlen(detail);
    for (uint32_t i = 0; i < j->ncameras && o < sizeof(detail); i++)
        o += (size_t)snprintf(detail + o, sizeof(detail) - o, " %s", j->cameras[i]);
    if (j->for_user[0] && o < sizeof(detail))
        snprintf(detail + o, sizeof(detail) - o, "; for %s", j->for_user);
    if (rc == 0)
        rc = srv_audit(r, t, "export-start", target, c->id, detail, err);
    return rc;
}

bool wf_job_visible(struct srv_req *r, struct idx_txn *t, const struct srv_job *j)
{
    struct srv_case *c;
    bool ok;

    if (!srv_scope_cameras(r, t, j->cameras[0], sizeof(j->cameras[0]), j->ncameras))
        return false;
    switch (r->user.role) {
    case SRV_ROLE_OFFICER:
        return true;
    case SRV_ROLE_RESIDENT:
        return j->for_user[0] && strcmp(j->for_user, r->user.name) == 0;
    case SRV_ROLE_MEDIATOR:
        c = srv_case_new();
        ok = c && srv_case_get(t, j->case_id, c, NULL) == 0 && srv_case_has_member(c, r->user.name);
        free(c);
        return ok;
    default:
        return false;
    }
}

/* ---- the endpoints ---- */

static bool mine(const struct srv_req *r, const struct srv_request *rq)
{
    return r->user.role != SRV_ROLE_RESIDENT || strcmp(rq->by, r->user.name) == 0;
}

static bool full_view(const struct srv_req *r)
{
    return r->user.role != SRV_ROLE_RESIDENT;
}

static int limit_of(int conf, int dflt)
{
    return conf > 0 ? conf : dflt;
}

/* The resident's pending requests: 0 and *n, or answered. */
static int open_requests(struct srv_req *r, struct idx_txn *t, size_t *n)
{
    struct srv_request *v = NULL;
    struct cv_err err = {""};
    size_t all = 0;
    int rc = srv_request_list(t, &v, &all, &err);

    if (rc < 0)
        return srv_fail(r, rc, &err), -1;
    *n = 0;
    for (size_t i = 0; i < all; i++)
        *n += v[i].status == SRV_RQ_PENDING && strcmp(v[i].by, r->user.name) == 0;
    free(v);
    return 0;
}

/* The cameras a place names into rq->cameras: by id, by name or location (whole words); 0, or
 * answered (400 when none or more than `max` match). */
static int place_cameras(struct srv_req *r, struct idx_txn *t, struct srv_request *rq, int max)
{
    struct idx_camera *cams = NULL;
    struct cv_err err = {""};
    size_t ncams = 0, hits = 0;
    int rc = idx_camera_list(t, &cams, &ncams, &err);

    if (rc < 0)
        return srv_fail(r, rc, &err), -1;
    for (size_t i = 0; i < ncams; i++) {
        if (!srv_scope_camera(r, t, &cams[i]))
            continue;
        if (strcasecmp(cams[i].id, rq->place) != 0 &&
            !srv_place_matches(cams[i].location, rq->place) &&
            !srv_place_matches(cams[i].name, rq->place))
            continue;
        if (hits++ < (size_t)max && rq->ncameras < SRV_REQUEST_CAMERAS)
            cv_strlcpy(rq->cameras[rq->ncameras++], cams[i].id, sizeof(rq->cameras[0]));
    }
    free(cams);
    if (hits == 0)
        return srv_error(r, 400,
                         "field 'place': no camera's name or location matches '%.80s' (whole "
                         "words; or give a 'camera')",
                         rq->place),
               -1;
    if (hits > (size_t)max)
        return srv_error(r, 400,
                         "field 'place': '%.80s' matches %zu cameras, more than the %d a request "
                         "may cover (request_cameras_max): name the place more exactly or give "
                         "a 'camera'",
                         rq->place, hits, max),
               -1;
    return 0;
}

/* POST /api/v1/requests */
int api_requests_add(struct srv_req *r)
{
    static const char *const fields[] = {"camera", "place", "from", "to", "description", NULL};
    struct srv_request rq = {0};
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    const char *camera = NULL, *place = NULL, *desc = NULL;
    char target[64], detail[512];
    int open_max = limit_of(r->srv->conf.request_open_max, SRV_REQUEST_OPEN_DEFAULT);
    int cams_max = limit_of(r->srv->conf.request_cameras_max, SRV_REQUEST_CAMERAS_DEFAULT);
    int hours_max = limit_of(r->srv->conf.request_hours_max, SRV_REQUEST_HOURS_DEFAULT);
    size_t open = 0;
    int rc;

    if (srv_body_fields(r, fields) < 0 || srv_body_time(r, "from", true, &rq.from_us) < 0 ||
        srv_body_time(r, "to", true, &rq.to_us) < 0 ||
        wf_body_text(r, "camera", false, LAY_ID_MAX + 1, &camera) < 0 ||
        wf_body_text(r, "place", false, SRV_REQUEST_TEXT_MAX, &place) < 0 ||
        wf_body_text(r, "description", true, SRV_REQUEST_DESC_MAX, &desc) < 0)
        return 0;
    if (rq.to_us <= rq.from_us)
        return srv_error(r, 400, "'to' must be after 'from'");
    if (rq.to_us - rq.from_us > (int64_t)hours_max * 3600 * 1000000)
        return srv_error(r, 400,
                         "range too long: a request covers at most %d hours (request_hours_max)",
                         hours_max);
    if ((!camera || !*camera) && (!place || !*place))
        return srv_error(r, 400, "name a 'camera' or a 'place'");
    if ((!camera || !*camera) && srv_place_len(place) < SRV_PLACE_MIN)
        return srv_error(r, 400,
                         "field 'place': '%.80s' is too short to name a place (at least %d "
                         "characters; or give a 'camera')",
                         place, SRV_PLACE_MIN);
    cv_strlcpy(rq.by, r->user.name, sizeof(rq.by));
    cv_strlcpy(rq.place, place ? place : "", sizeof(rq.place));
    cv_strlcpy(rq.description, desc, sizeof(rq.description));
    rq.status = SRV_RQ_PENDING;
    rq.created_us = cv_now_us();
    if (srv_write(r, &t) < 0)
        return 0;
    if (open_requests(r, t, &open) < 0) {
        idx_abort(t);
        return 0;
    }
    if (open >= (size_t)open_max) {
        idx_abort(t);
        return srv_error(r, 429,
                         "you have %zu open footage requests, the most a resident may have at "
                         "once (request_open_max %d): wait until an officer decides one",
                         open, open_max);
    }
    if (camera && *camera) {
        struct idx_camera c;
        if (srv_scope_camera_get(r, t, camera, &c, &err) < 0) {
            idx_abort(t);
            return srv_error(r, 400, "field 'camera': unknown camera '%s'", camera);
        }
        cv_strlcpy(rq.camera, c.id, sizeof(rq.camera));
        cv_strlcpy(rq.cameras[rq.ncameras++], c.id, sizeof(rq.cameras[0]));
    } else if (place_cameras(r, t, &rq, cams_max) < 0) {
        idx_abort(t);
        return 0;
    }
    rc = srv_request_add(t, &rq, &err);
    if (rc == 0 && rq.ncameras) {
        /* The provisional hold: the footage must outlive the wait for a decision. */
        snprintf(detail, sizeof(detail), "footage request %s", rq.id);
        rc = wf_hold_provisional(r, t, rq.id, rq.cameras, rq.ncameras, rq.from_us, rq.to_us,
                                 detail, &rq.hold, &err);
        if (rc == 0)
            rc = srv_request_put(t, &rq, &err);
    }
    snprintf(target, sizeof(target), "request %s", rq.id);
    wf_range_text(detail, sizeof(detail), rq.camera[0] ? rq.camera : rq.place, rq.from_us,
                  rq.to_us);
    rc = srv_audit_commit(r, t, rc, "request-file", target, NULL, detail, &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    srv_reply_open(r, 201, "request", false);
    srv_request_json(&r->out, &rq, full_view(r));
    return srv_reply_close(r, false);
}

SRV_LIST_OF(list_requests, srv_request_list)

/* ctx: the status asked for (NULL: any) */
static bool keep_request(struct srv_req *r, struct idx_txn *t, const void *item, void *ctx)
{
    const struct srv_request *rq = item;
    const char *st = ctx;

    return mine(r, rq) && !(st && strcmp(st, srv_request_status_name(rq->status)) != 0) &&
           srv_scope_cameras(r, t, rq->cameras[0], sizeof(rq->cameras[0]), rq->ncameras);
}

static void list_request_json(struct srv_req *r, struct idx_txn *t, const void *rq, void *ctx)
{
    (void)t, (void)ctx;
    srv_request_json(&r->out, rq, full_view(r));
}

/* GET /api/v1/requests?status= */
int api_requests_list(struct srv_req *r)
{
    const char *st = srv_uri_query(&r->uri, "status");
    const struct srv_list l = {"requests", sizeof(struct srv_request), 0, (void *)st,
                               list_requests, keep_request, list_request_json};

    if (st && strcmp(st, "pending") != 0 && strcmp(st, "approved") != 0 &&
        strcmp(st, "rejected") != 0)
        return srv_error(r, 400,
                         "query parameter 'status': expected pending, approved or "
                         "rejected");
    return srv_reply_list(r, &l);
}

/* The request of the path for this caller: 0, or answered (404 for another resident's). */
static int load(struct srv_req *r, struct idx_txn *t, void *rec)
{
    struct srv_request *rq = rec;
    struct cv_err err = {""};
    int rc = srv_request_get(t, r->params[0], rq, &err);

    return srv_path_record(r, rc, rc == 0 && mine(r, rq), "request", &err);
}

/* GET /api/v1/requests/{id} */
int api_requests_get(struct srv_req *r)
{
    struct srv_request rq;

    if (srv_read_path_record(r, load, &rq) < 0)
        return 0;
    cv_buf_printf(&r->out, "{\"request\":");
    srv_request_json(&r->out, &rq, full_view(r));
    cv_buf_printf(&r->out, "}\n");
    r->status = 200;
    return 0;
}

/* Turn the provisional hold into the case's hold (or place a new one when it is gone). */
static int case_hold(struct srv_req *r, struct idx_txn *t, struct srv_request *rq,
                     const struct srv_job *j, struct srv_case *c, struct idx_hold *h,
                     struct cv_err *err)
{
    char target[64], detail[512];
    bool fresh = true;
    int rc = 0;

    if (rq->hold && idx_hold_get(t, rq->hold, h, NULL) == 0 && h->released_us == 0)
        fresh = false;
    if (fresh) {
        memset(h, 0, sizeof(*h));
        h->created_us = cv_now_us();
    }
    cv_strlcpy(h->case_id, c->id, sizeof(h->case_id));
    for (uint32_t i = 0; i < j->ncameras; i++)
        cv_strlcpy(h->cameras[i], j->cameras[i], sizeof(h->cameras[0]));
    h->ncameras = j->ncameras;
    h->from_us = j->from_us;
    h->to_us = j->to_us;
    h->until_us = 0; /* until released */
    cv_strlcpy(h->who, r->user.name, sizeof(h->who));
    snprintf(h->why, sizeof(h->why), "case %s (footage request %s approved)", c->id, rq->id);
    rc = fresh ? idx_hold_add(t, h, err) : idx_hold_put(t, h, err);
    if (rc == 0)
        rc = srv_case_add_hold(c, h->id, err);
    snprintf(target, sizeof(target), "hold %llu", (unsigned long long)h->id);
    wf_range_text(detail, sizeof(detail), fresh ? "case hold" : "provisional hold became case hold",
                  h->from_us, h->to_us);
    if (rc == 0)
        rc = srv_audit(r, t, "hold-add", target, c->id, detail, err);
    rq->hold = h->id;
    return rc;
}

/* POST /api/v1/requests/{id}/approve */
int api_requests_approve(struct srv_req *r)
{
    static const char *const fields[] = {"cameras", "from", "to", "case", NULL};
    struct srv_request rq;
    struct srv_case *c = srv_case_new();
    struct srv_job j = {0};
    struct idx_hold h;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    const char *case_id = NULL;
    char target[64], detail[512];
    bool new_case = false;
    int rc;

    if (!c)
        return srv_error(r, 500, "out of memory");
    if ((r->in && srv_body_fields(r, fields) < 0) ||
        (r->in && (srv_body_time(r, "from", false, &j.from_us) < 0 ||
                   srv_body_time(r, "to", false, &j.to_us) < 0 ||
                   wf_body_text(r, "case", false, SRV_CASE_ID_MAX, &case_id) < 0)))
        goto out;
    if (srv_write(r, &t) < 0)
        goto out;
    if (load(r, t, &rq) < 0)
        goto out;
    if (rq.status != SRV_RQ_PENDING) {
        srv_error(r, 409, "request %s was already %s", rq.id, srv_request_status_name(rq.status));
        goto out;
    }
    rc = r->in ? wf_body_cameras(r, t, "cameras", false, j.cameras, &j.ncameras) : 1;
    if (rc < 0)
        goto out;
    if (rc == 1) {
        for (uint32_t i = 0; i < rq.ncameras; i++)
            cv_strlcpy(j.cameras[i], rq.cameras[i], sizeof(j.cameras[0]));
        j.ncameras = rq.ncameras;
    }
    if (j.ncameras == 0) {
        srv_error(r, 400, "request %s names no camera that exists: give 'cameras'", rq.id);
        goto out;
    }
    if (!j.from_us)
        j.from_us = rq.from_us;
    if (!j.to_us)
        j.to_us = rq.to_us;
    if (j.to_us <= j.from_us || j.to_us - j.from_us > EXPORT_RANGE_MAX_US) {
        srv_error(r, 400, "'to' must be after 'from' and at most 31 days later");
        goto out;
    }
    if (case_id) {
        rc = srv_case_get(t, case_id, c, &err);
        if (rc < 0) {
            srv_fail(r, rc, &err);
            goto out;
        }
        if (c->status != SRV_CASE_OPEN) {
            srv_error(r, 409, "case %s is closed", c->id);
            goto out;
        }
    } else {
        new_case = true;
        snprintf(c->title, sizeof(c->title), "Footage request %s", rq.id);
        cv_strlcpy(c->description, rq.description, sizeof(c->description));
        c->status = SRV_CASE_OPEN;
        c->created_us = cv_now_us();
        cv_strlcpy(c->created_by, r->user.name, sizeof(c->created_by));
        rc = srv_case_add(t, c, &err);
        snprintf(target, sizeof(target), "case %s", c->id);
        if (rc == 0)
            rc = srv_audit(r, t, "case-create", target, c->id, c->title, &err);
        if (rc < 0) {
            srv_fail(r, rc, &err);
            goto out;
        }
    }
    snprintf(detail, sizeof(detail), "footage request %s", rq.id);
    rc = 0;
    for (uint32_t i = 0; rc == 0 && i < j.ncameras; i++)
        rc = srv_case_add_clip(c, j.cameras[i], j.from_us, j.to_us, detail, NULL, &err);
    if (rc == 0)
        rc = case_hold(r, t, &rq, &j, c, &h, &err);
    snprintf(j.reason, sizeof(j.reason), "footage request %s", rq.id);
    cv_strlcpy(j.for_user, rq.by, sizeof(j.for_user));
    cv_strlcpy(j.request, rq.id, sizeof(j.request));
    if (rc == 0)
        rc = wf_job_start(r, t, &j, c, &err);
    if (rc == 0) {
        rq.status = SRV_RQ_APPROVED;
        cv_strlcpy(rq.case_id, c->id, sizeof(rq.case_id));
        cv_strlcpy(rq.export_id, j.id, sizeof(rq.export_id));
        rq.decided_us = cv_now_us();
        cv_strlcpy(rq.decided_by, r->user.name, sizeof(rq.decided_by));
        rc = srv_request_put(t, &rq, &err);
    }
    if (rc == 0)
        rc = srv_case_put(t, c, &err);
    snprintf(target, sizeof(target), "request %s", rq.id);
    snprintf(detail, sizeof(detail), "%s case %s, export %s for %s", new_case ? "new" : "existing",
             c->id, j.id, rq.by);
    rc = srv_audit_commit(r, t, rc, "request-approve", target, c->id, detail, &err);
    t = NULL;
    if (rc < 0) {
        srv_fail(r, rc, &err);
        goto out;
    }
    srv_jobs_kick(r->srv->jobs);
    r->status = 200;
    cv_buf_printf(&r->out, "{\"request\":");
    srv_request_json(&r->out, &rq, true);
    cv_buf_printf(&r->out, ",\"case\":");
    srv_case_json(&r->out, c);
    cv_buf_printf(&r->out, ",\"export\":");
    srv_job_json(&r->out, &j);
    cv_buf_printf(&r->out, "}\n");
out:
    idx_abort(t);
    free(c);
    return 0;
}

/* POST /api/v1/requests/{id}/reject */
int api_requests_reject(struct srv_req *r)
{
    static const char *const fields[] = {"reason", NULL};
    struct srv_request rq;
    struct idx_hold h;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    const char *reason = NULL;
    char target[64];
    int rc = 0;

    if (srv_body_fields(r, fields) < 0 ||
        wf_body_text(r, "reason", true, SRV_REQUEST_TEXT_MAX, &reason) < 0)
        return 0;
    if (srv_write(r, &t) < 0)
        return 0;
    if (load(r, t, &rq) < 0)
        goto out;
    if (rq.status != SRV_RQ_PENDING) {
        srv_error(r, 409, "request %s was already %s", rq.id, srv_request_status_name(rq.status));
        goto out;
    }
    if (rq.hold && idx_hold_get(t, rq.hold, &h, NULL) == 0 && h.released_us == 0) {
        h.released_us = cv_now_us();
        cv_strlcpy(h.released_by, r->user.name, sizeof(h.released_by));
        rc = idx_hold_put(t, &h, &err);
        snprintf(target, sizeof(target), "hold %llu", (unsigned long long)h.id);
        if (rc == 0)
            rc = srv_audit(r, t, "hold-release", target, NULL, "footage request rejected", &err);
    }
    rq.status = SRV_RQ_REJECTED;
    cv_strlcpy(rq.reason, reason, sizeof(rq.reason));
    rq.decided_us = cv_now_us();
    cv_strlcpy(rq.decided_by, r->user.name, sizeof(rq.decided_by));
    if (rc == 0)
        rc = srv_request_put(t, &rq, &err);
    snprintf(target, sizeof(target), "request %s", rq.id);
    rc = srv_audit_commit(r, t, rc, "request-reject", target, NULL, reason, &err);
    t = NULL;
    if (rc < 0) {
        srv_fail(r, rc, &err);
        goto out;
    }
    r->status = 200;
    cv_buf_printf(&r->out, "{\"request\":");
    srv_request_json(&r->out, &rq, true);
    cv_buf_printf(&r->out, "}\n");
out:
    idx_abort(t);
    return 0;
}
