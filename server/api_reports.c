/*
 * api_reports.c: residents' reports and one-key help calls (docs/api.md, "Reports"). A resident
 * files one (a clue, a hazard or a help call, optionally on a camera, with a photo); a report on
 * a camera holds its footage ±5 minutes around `at` at once, and every report raises an alert
 * that reaches the duty room's open alert streams as soon as it is committed (alerts.h). Officers
 * and admins see the queue and acknowledge, answer and close reports; residents see only their
 * own (another's id is 404, like an unknown one), with the state and the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/cvtime.h"
#include "server/alerts_int.h"
#include "server/audit.h"
#include "server/reports.h"
#include "server/workflow_int.h"
#include "common/banned.h"

#define LIST_DEFAULT 200
#define LIST_MAX 1000
#define HELP_PER_HOUR 10 /* a resident's help calls within an hour */
#define FUTURE_US (60 * CV_US_PER_S)

/* A resident's own reports; for officers and admins those about their area (server/scope.c). */
static bool mine(struct srv_req *r, struct idx_txn *t, const struct srv_report *rp)
{
    if (r->user.role == SRV_ROLE_RESIDENT)
        return strcmp(rp->by, r->user.name) == 0;
    return srv_scope_sees(t, r->user.area, rp->camera, rp->by);
}

static bool full_view(const struct srv_req *r)
{
    return r->user.role != SRV_ROLE_RESIDENT;
}

/* The photo field (base64, optionally a data: URL) decoded into out[SRV_REPORT_PHOTO_MAX]:
 * 0 and *n (0: none); else answered (413 over the limit, 400 not a JPEG or PNG) and -1. */
static int body_photo(struct srv_req *r, uint8_t *out, size_t *n, const char **type)
{
    const char *b64 = NULL, *comma;
    size_t len, pad = 0;
    int got;
    int rc = wf_body_text(r, "photo", false, SRV_BODY_MAX, &b64);

    *n = 0;
    if (rc < 0)
        return -1;
    if (rc == 1 || !*b64)
        return 0;
    if (strncmp(b64, "data:", 5) == 0 && (comma = strchr(b64, ',')) != NULL)
        b64 = comma + 1;
    len = strlen(b64);
    pad = len >= 1 && b64[len - 1] == '=' ? 1 + (len >= 2 && b64[len - 2] == '=') : 0;
    if (len % 4 != 0)
        return srv_error(r, 400, "field 'photo': not base64 (its length is not a multiple of 4)"),
               -1;
    if (len / 4 * 3 - pad > SRV_REPORT_PHOTO_MAX)
        return srv_error(r, 413,
                         "field 'photo': %zu bytes, more than the %d (%d KB) a report's photo "
                         "may have (send a smaller JPEG or PNG)",
                         len / 4 * 3 - pad, SRV_REPORT_PHOTO_MAX, SRV_REPORT_PHOTO_MAX / 1024),
               -1;
    got = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
    if (got < 0)
        return srv_error(r, 400, "field 'photo': not base64"), -1;
    *n = (size_t)got - pad;
    *type = srv_photo_type(out, *n);
    if (!*type)
        return srv_error(r, 400, "field 'photo': not a JPEG or PNG image"), -1;
    return 0;
}

/* Count the resident's reports that limit a new one: 0 and *open (not closed clues and
 * hazards), *help (help calls within the last hour); or answered -1. */
static int resident_load(struct srv_req *r, struct idx_txn *t, size_t *open, size_t *help)
{
    struct srv_report *v = NULL;
    struct cv_err err = {""};
    size_t n = 0;
    int64_t hour_ago = cv_now_us() - 3600 * CV_US_PER_S;
    int rc = srv_report_list(t, &v, &n, &err);

    if (rc < 0)
        return srv_fail(r, rc, &err), -1;
    *open = *help = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].by, r->user.name) != 0)
            continue;
        if (v[i].kind == SRV_REPORT_HELP)
            *help += v[i].created_us > hour_ago;
        else
            *open += v[i].status != SRV_RP_CLOSED;
    }
    free(v);
    return 0;
}

/* Copy at most cap - 1 bytes of s into out, never cutting a UTF-8 character. */
static void cut_utf8(char *out, size_t cap, const char *s)
{
    size_t n = strlen(s);

    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = 0;
}

/* Check the new report's limits and camera in t: 0, or answered and -1. */
static int report_checks(struct srv_req *r, struct idx_txn *t, struct srv_report *rp)
{
    struct idx_camera cam;
    struct cv_err err = {""};
    size_t open = 0, help = 0;

    if (resident_load(r, t, &open, &help) < 0)
        return -1;
    if (rp->kind == SRV_REPORT_HELP && help >= HELP_PER_HOUR)
        return srv_error(r, 429,
                         "you made %zu help calls within the last hour, the most a resident may "
                         "(%d): call the duty room by phone",
                         help, HELP_PER_HOUR),
               -1;
    if (rp->kind != SRV_REPORT_HELP && open >= SRV_REPORT_OPEN_MAX)
        return srv_error(r, 429,
                         "you have %zu open reports, the most a resident may have at once (%d): "
                         "wait until an officer closes one",
                         open, SRV_REPORT_OPEN_MAX),
               -1;
    if (!rp->camera[0])
        return 0;
    /* Residents see public cameras only: any other is unknown to them. */
    if (idx_camera_get(t, rp->camera, &cam, &err) < 0 || !cam.is_public)
        return srv_error(r, 400, "field 'camera': unknown camera '%s'", rp->camera), -1;
    return 0;
}

/* Store report rp (its checks passed), its photo, its hold and its alert in t. */
static int report_store(struct srv_req *r, struct idx_txn *t, struct srv_report *rp,
                        const uint8_t *photo, size_t nphoto, struct srv_alert *al,
                        struct cv_err *err)
{
    char what[64];
    int rc = srv_report_add(t, rp, err);

    if (rc == 0 && nphoto)
        rc = srv_report_photo_put(t, rp->id, photo, nphoto, err);
    if (rc == 0 && rp->camera[0]) {
        /* The footage of the moment reported must outlive the wait for an officer. */
        char cams[1][LAY_ID_MAX + 1];
        cv_strlcpy(cams[0], rp->camera, sizeof(cams[0]));
        snprintf(what, sizeof(what), "report %s", rp->id);
        rc = wf_hold_provisional(r, t, rp->id, (const char(*)[LAY_ID_MAX + 1])cams, 1,
                                 rp->at_us - SRV_REPORT_HOLD_HALF_US,
                                 rp->at_us + SRV_REPORT_HOLD_HALF_US, what, &rp->hold, err);
    }
    cv_strlcpy(al->kind, srv_report_kind_name(rp->kind), sizeof(al->kind));
    cv_strlcpy(al->camera, rp->camera, sizeof(al->camera));
    cv_strlcpy(al->report, rp->id, sizeof(al->report));
    cv_strlcpy(al->by, rp->by, sizeof(al->by));
    cv_strlcpy(al->household, rp->household, sizeof(al->household));
    cut_utf8(al->text, sizeof(al->text), rp->text);
    al->at_us = rp->at_us;
    if (rc == 0)
        rc = srv_alert_add(t, al, err);
    if (rc == 0)
        rc = srv_alert_trim(t, err);
    cv_strlcpy(rp->alert, al->id, sizeof(rp->alert));
    if (rc == 0)
        rc = srv_report_put(t, rp, err);
    return rc;
}

/* POST /api/v1/reports */
int api_reports_add(struct srv_req *r)
{
    static const char *const fields[] = {"kind", "camera", "at", "text", "photo", NULL};
    struct srv_report rp = {0};
    struct srv_alert al = {0};
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    const char *kind = NULL, *camera = NULL, *text = NULL, *ptype = NULL;
    uint8_t *photo = NULL;
    size_t nphoto = 0;
    char target[64], detail[160];
    int64_t now = cv_now_us();
    int rc;

    if (srv_body_fields(r, fields) < 0 || wf_body_text(r, "kind", true, 16, &kind) < 0)
        return 0;
    if (srv_report_kind_of(kind) < 0)
        return srv_error(r, 400, "field 'kind': expected clue, help or hazard, not '%.40s'", kind);
    rp.kind = (uint8_t)srv_report_kind_of(kind);
    if (wf_body_text(r, "camera", false, LAY_ID_MAX + 1, &camera) < 0 ||
        wf_body_text(r, "text", rp.kind != SRV_REPORT_HELP, SRV_REPORT_TEXT_MAX, &text) < 0)
        return 0;
    rc = srv_body_time(r, "at", false, &rp.at_us);
    if (rc < 0)
        return 0;
    if (rc == 1)
        rp.at_us = now;
    if (rp.at_us > now + FUTURE_US || rp.at_us < now - SRV_REPORT_PAST_US)
        return srv_error(r, 400, "field 'at': the time reported must lie within the last 7 days");
    photo = malloc(SRV_REPORT_PHOTO_MAX + 3);
    if (!photo)
        return srv_error(r, 500, "out of memory");
    if (body_photo(r, photo, &nphoto, &ptype) < 0)
        goto out;
    cv_strlcpy(rp.photo_type, nphoto ? ptype : "", sizeof(rp.photo_type));
    cv_strlcpy(rp.by, r->user.name, sizeof(rp.by));
    srv_user_household(&r->user, rp.household, sizeof(rp.household));
    cv_strlcpy(rp.camera, camera ? camera : "", sizeof(rp.camera));
    cv_strlcpy(rp.text, text ? text : "", sizeof(rp.text));
    rp.status = SRV_RP_OPEN;
    rp.created_us = rp.updated_us = now;
    if (srv_write(r, &t) < 0)
        goto out;
    if (report_checks(r, t, &rp) < 0)
        goto out;
    rc = report_store(r, t, &rp, photo, nphoto, &al, &err);
    snprintf(target, sizeof(target), "report %s", rp.id);
    snprintf(detail, sizeof(detail), "%s%s%s%s", kind, rp.camera[0] ? " on camera " : "",
             rp.camera, nphoto ? ", with a photo" : "");
    rc = srv_audit_commit(r, t, rc, "report-file", target, NULL, detail, &err);
    t = NULL;
    if (rc < 0) {
        srv_fail(r, rc, &err);
        goto out;
    }
    srv_alerts_publish(r->srv->alerts, "alert", &al);
    srv_reply_open(r, 201, "report", false);
    srv_report_json(&r->out, &rp, full_view(r));
    srv_reply_close(r, false);
out:
    idx_abort(t);
    free(photo);
    return 0;
}

SRV_LIST_OF(list_reports, srv_report_list)

/* ctx: the status and kind asked for (NULL: any) */
static bool keep_report(struct srv_req *r, struct idx_txn *t, const void *item, void *ctx)
{
    const struct srv_report *rp = item;
    const char *const *q = ctx;

    return mine(r, t, rp) && !(q[0] && srv_report_status_of(q[0]) != rp->status) &&
           !(q[1] && srv_report_kind_of(q[1]) != rp->kind);
}

static void list_report_json(struct srv_req *r, struct idx_txn *t, const void *rp, void *ctx)
{
    (void)t, (void)ctx;
    srv_report_json(&r->out, rp, full_view(r));
}

/* GET /api/v1/reports?status=&kind=&limit= */
int api_reports_list(struct srv_req *r)
{
    const char *st = srv_uri_query(&r->uri, "status"), *kd = srv_uri_query(&r->uri, "kind");
    const char *q[2] = {st, kd};
    size_t limit = 0;
    struct srv_list l = {"reports", sizeof(struct srv_report), 0, q, list_reports, keep_report,
                         list_report_json};

    if (st && srv_report_status_of(st) < 0)
        return srv_error(r, 400, "query parameter 'status': expected open, acknowledged, "
                                 "answered or closed");
    if (kd && srv_report_kind_of(kd) < 0)
        return srv_error(r, 400, "query parameter 'kind': expected clue, help or hazard");
    if (srv_query_limit(r, LIST_DEFAULT, LIST_MAX, &limit) < 0)
        return 0;
    l.limit = limit;
    return srv_reply_list(r, &l);
}

/* The report of the path for this caller: 0, or answered (404 for another resident's). */
static int load(struct srv_req *r, struct idx_txn *t, void *rec)
{
    struct srv_report *rp = rec;
    struct cv_err err = {""};
    int rc = srv_report_get(t, r->params[0], rp, &err);

    return srv_path_record(r, rc, rc == 0 && mine(r, t, rp), "report", &err);
}

/* GET /api/v1/reports/{id} */
int api_reports_get(struct srv_req *r)
{
    struct srv_report rp;

    if (srv_read_path_record(r, load, &rp) < 0)
        return 0;
    srv_reply_open(r, 200, "report", false);
    srv_report_json(&r->out, &rp, full_view(r));
    return srv_reply_close(r, false);
}

/* GET /api/v1/reports/{id}/photo */
int api_reports_photo(struct srv_req *r)
{
    struct srv_report rp;
    struct idx_txn *t = NULL;
    struct cv_buf b;
    struct cv_err err = {""};
    int rc;

    if (srv_read(r, &t) < 0)
        return 0;
    cv_buf_init(&b, SRV_REPORT_PHOTO_MAX);
    rc = load(r, t, &rp);
    if (rc == 0) {
        rc = srv_report_photo_get(t, rp.id, &b, &err);
        if (rc < 0)
            srv_fail(r, rc, &err);
    }
    idx_abort(t);
    if (rc == 0) {
        r->resp = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
        if (r->resp) {
            MHD_add_response_header(r->resp, "Content-Type", rp.photo_type);
            MHD_add_response_header(r->resp, "Cache-Control", "private, max-age=3600");
            r->status = 200;
        } else {
            srv_error(r, 500, "out of memory");
        }
    }
    cv_buf_release(&b);
    return 0;
}

/* PATCH /api/v1/reports/{id}: {"status": ..., "answer": ...} */
int api_reports_edit(struct srv_req *r)
{
    static const char *const fields[] = {"status", "answer", NULL};
    struct srv_report rp;
    struct srv_alert al = {0};
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    const char *status = NULL, *answer = NULL;
    char target[64];
    int to = -1, rc;

    if (srv_body_fields(r, fields) < 0 || wf_body_text(r, "status", false, 16, &status) < 0 ||
        wf_body_text(r, "answer", false, SRV_REPORT_TEXT_MAX, &answer) < 0)
        return 0;
    if (status) {
        to = srv_report_status_of(status);
        if (to <= SRV_RP_OPEN)
            return srv_error(r, 400, "field 'status': expected acknowledged, answered or closed, "
                                     "not '%.40s'", status);
    }
    if (!status && !answer)
        return srv_error(r, 400, "give a 'status' or an 'answer'");
    if (to < 0)
        to = SRV_RP_ANSWERED;
    if (srv_write(r, &t) < 0)
        return 0;
    if (load(r, t, &rp) < 0)
        goto out;
    if (rp.status == SRV_RP_CLOSED) {
        srv_error(r, 409, "report %s is closed", rp.id);
        goto out;
    }
    if (answer && *answer)
        cv_strlcpy(rp.answer, answer, sizeof(rp.answer));
    if (to == SRV_RP_ANSWERED && !rp.answer[0]) {
        srv_error(r, 400, "field 'answer': an answered report needs the answer");
        goto out;
    }
    rp.status = (uint8_t)to;
    rp.updated_us = cv_now_us();
    cv_strlcpy(rp.answered_by, r->user.name, sizeof(rp.answered_by));
    rc = srv_report_put(t, &rp, &err);
    /* Dealing with the report deals with its alert: the wall's popup goes. */
    if (rc == 0 && rp.alert[0])
        rc = srv_alert_ack_in(r, t, rp.alert, &al, &err);
    snprintf(target, sizeof(target), "report %s", rp.id);
    rc = srv_audit_commit(r, t, rc, "report-update", target, NULL,
                          srv_report_status_name(rp.status), &err);
    t = NULL;
    if (rc < 0) {
        srv_fail(r, rc, &err);
        goto out;
    }
    if (al.id[0])
        srv_alerts_publish(r->srv->alerts, "ack", &al);
    srv_reply_open(r, 200, "report", false);
    srv_report_json(&r->out, &rp, true);
    srv_reply_close(r, false);
out:
    idx_abort(t);
    return 0;
}
