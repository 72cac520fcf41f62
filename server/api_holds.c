/*
 * api_holds.c: evidence holds (docs/api.md, "Holds"): officers place and release them, admins
 * may read them (retention depends on them). Held footage is never deleted by retention.
 * ?provisional=true lists only the provisional holds of pending footage requests (officers
 * release one that asks for too much).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "indexer/idx.h"
#include "server/requests.h"
#include "server/srv_int.h"
#include "server/views.h"
#include "storage-layout/layout.h"
#include "common/banned.h"


/* Whether hold id is the provisional hold of a pending footage request (of rq[0..n)). */
static bool provisional(const struct srv_request *rq, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (rq[i].status == SRV_RQ_PENDING && rq[i].hold == id)
            return true;
    return false;
}

int api_holds_list(struct srv_req *r)
{
    const char *cam = srv_uri_query(&r->uri, "camera"), *cs = srv_uri_query(&r->uri, "case");
    const char *act = srv_uri_query(&r->uri, "active");
    const char *prov = srv_uri_query(&r->uri, "provisional");
    struct idx_hold *h = NULL;
    struct srv_request *rq = NULL;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    size_t n = 0, nrq = 0, shown = 0;
    int rc;

    if (act && strcmp(act, "true") != 0 && strcmp(act, "false") != 0)
        return srv_error(r, 400, "query parameter 'active': expected true or false");
    if (prov && strcmp(prov, "true") != 0 && strcmp(prov, "false") != 0)
        return srv_error(r, 400, "query parameter 'provisional': expected true or false");
    if (srv_read(r, &t) < 0)
        return 0;
    rc = idx_hold_list(t, &h, &n, &err);
    if (rc == 0 && prov)
        rc = srv_request_list(t, &rq, &nrq, &err);
    if (rc < 0) {
        free(h);
        return srv_abort_fail(r, t, rc, &err);
    }
    r->status = 200;
    cv_buf_printf(&r->out, "{\"holds\":[");
    for (size_t i = 0; i < n; i++) {
        bool mine = !cam;
        for (uint32_t j = 0; cam && j < h[i].ncameras; j++)
            mine |= strcmp(h[i].cameras[j], cam) == 0;
        if (!mine || (cs && strcmp(cs, h[i].case_id) != 0) ||
            (act && srv_hold_active(&h[i]) != (strcmp(act, "true") == 0)) ||
            (prov && provisional(rq, nrq, h[i].id) != (strcmp(prov, "true") == 0)) ||
            !srv_scope_cameras(r, t, h[i].cameras[0], sizeof(h[i].cameras[0]), h[i].ncameras))
            continue;
        if (shown++)
            cv_buf_u8(&r->out, ',');
        srv_hold_json(&r->out, &h[i]);
    }
    idx_abort(t);
    cv_buf_printf(&r->out, "]}\n");
    free(h);
    free(rq);
    return 0;
}

/* The {id} of a hold path; a non-number is simply an unknown hold. */
static int hold_id(struct srv_req *r, uint64_t *id)
{
    int64_t v;

    if (cv_parse_i64(r->params[0], 1, INT64_MAX, &v) < 0 || strspn(r->params[0], "0123456789") !=
                                                               strlen(r->params[0])) {
        srv_error(r, 404, "unknown hold '%.40s'", r->params[0]);
        return -1;
    }
    *id = (uint64_t)v;
    return 0;
}

/* Answer {"hold": HOLD} with status. */
static int answer(struct srv_req *r, int status, const struct idx_hold *h)
{
    srv_reply_open(r, status, "hold", false);
    srv_hold_json(&r->out, h);
    return srv_reply_close(r, false);
}

int api_holds_get(struct srv_req *r)
{
    struct idx_hold h;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    uint64_t id;
    int rc;

    if (hold_id(r, &id) < 0 || srv_read(r, &t) < 0)
        return 0;
    rc = idx_hold_get(t, id, &h, &err);
    idx_abort(t);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    return answer(r, 200, &h);
}

int api_holds_add(struct srv_req *r)
{
    static const char *const fields[] = {"case", "cameras", "from", "to", "until", "reason", NULL};
    const struct cv_jv *cams = cv_json_get(r->in, "cameras");
    const char *cs = NULL, *why = NULL;
    struct idx_hold h;
    struct idx_camera c;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    char target[64], detail[IDX_HOLD_CAMERAS * (LAY_ID_MAX + 2) + 100], a[48], b[48];
    size_t o = 0;
    int rc;

    if (srv_body_fields(r, fields) < 0)
        return 0;
    memset(&h, 0, sizeof(h));
    if (cv_json_get_str(r->in, "case", true, &cs, &err) < 0 ||
        cv_json_get_str(r->in, "reason", false, &why, &err) < 0)
        return srv_error(r, 400, "%s", err.msg);
    if (!*cs || strlen(cs) >= sizeof(h.case_id) || (why && strlen(why) >= sizeof(h.why)))
        return srv_error(r, 400, "field 'case' must be 1 to %zu bytes, 'reason' at most %zu",
                         sizeof(h.case_id) - 1, sizeof(h.why) - 1);
    if (!cams || cams->type != CV_JSON_ARR || cams->len == 0 || cams->len > IDX_HOLD_CAMERAS)
        return srv_error(r, 400, "field 'cameras': expected an array of 1 to %d camera ids",
                         IDX_HOLD_CAMERAS);
    for (const struct cv_jv *v = cams->child; v; v = v->next) {
        if (v->type != CV_JSON_STR || lay_id_check("camera", v->str, &err) < 0)
            return srv_error(r, 400, "field 'cameras': %s",
                             v->type == CV_JSON_STR ? err.msg : "expected camera id strings");
        cv_strlcpy(h.cameras[h.ncameras++], v->str, sizeof(h.cameras[0]));
    }
    if (srv_body_time(r, "from", true, &h.from_us) < 0 ||
        srv_body_time(r, "to", true, &h.to_us) < 0 ||
        srv_body_time(r, "until", false, &h.until_us) < 0)
        return 0;
    if (h.to_us <= h.from_us)
        return srv_error(r, 400, "'to' must be after 'from'");
    cv_strlcpy(h.case_id, cs, sizeof(h.case_id));
    cv_strlcpy(h.why, why ? why : "", sizeof(h.why));
    cv_strlcpy(h.who, r->user.name, sizeof(h.who));
    h.created_us = cv_now_us();
    if (srv_write(r, &t) < 0)
        return 0;
    for (uint32_t i = 0; i < h.ncameras; i++) {
        if ((rc = srv_scope_camera_get(r, t, h.cameras[i], &c, &err)) < 0) {
            idx_abort(t);
            return rc == CV_ENOENT ? srv_error(r, 400, "field 'cameras': %s", err.msg)
                                   : srv_fail(r, rc, &err);
        }
        o += (size_t)snprintf(detail + o, sizeof(detail) - o, "%s%s", i ? "," : "cameras ",
                              h.cameras[i]);
    }
    cv_time_format_utc(h.from_us, a, sizeof(a), 3);
    cv_time_format_utc(h.to_us, b, sizeof(b), 3);
    snprintf(detail + o, sizeof(detail) - o, " %s..%s", a, b);
    rc = idx_hold_add(t, &h, &err);
    snprintf(target, sizeof(target), "hold %llu", (unsigned long long)h.id);
    rc = srv_audit_commit(r, t, rc, "hold-add", target, h.case_id, detail, &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    return answer(r, 201, &h);
}

int api_holds_release(struct srv_req *r)
{
    static const char *const fields[] = {"reason", NULL};
    const char *why = NULL;
    struct idx_hold h;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    char target[64];
    uint64_t id;
    int rc;

    if (r->in && (srv_body_fields(r, fields) < 0 ||
                  cv_json_get_str(r->in, "reason", false, &why, &err) < 0))
        return r->status ? 0 : srv_error(r, 400, "%s", err.msg);
    if (hold_id(r, &id) < 0 || srv_write(r, &t) < 0)
        return 0;
    rc = idx_hold_get(t, id, &h, &err);
    if (rc == 0 && h.released_us)
        rc = cv_errf(&err, CV_ESTATE, "hold %llu was already released", (unsigned long long)id);
    if (rc == 0) {
        h.released_us = cv_now_us();
        cv_strlcpy(h.released_by, r->user.name, sizeof(h.released_by));
        rc = idx_hold_put(t, &h, &err);
    }
    snprintf(target, sizeof(target), "hold %llu", (unsigned long long)id);
    rc = srv_audit_commit(r, t, rc, "hold-release", target, h.case_id, why, &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    return answer(r, 200, &h);
}
