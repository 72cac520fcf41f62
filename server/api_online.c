/*
 * api_online.c: GET /api/v1/reports/online?from=T&to=T[&area=ID][&format=csv][&by=day], the online rate
 * report of server/online.h for admins and officers, within their area (issue 13).
 */
#include <string.h>

#include "common/cvtime.h"
#include "server/areas.h"
#include "server/online.h"
#include "server/srv_int.h"
#include "common/banned.h"

struct keep_ctx {
    struct srv_req *r;
    struct idx_txn *t;
};

static bool keep(void *ctx, const struct idx_camera *c)
{
    struct keep_ctx *k = ctx;

    return srv_scope_camera(k->r, k->t, c);
}

int api_reports_online(struct srv_req *r)
{
    const char *area = srv_uri_query(&r->uri, "area"), *fmt = srv_uri_query(&r->uri, "format");
    const char *by = srv_uri_query(&r->uri, "by");
    struct srv_online_query q = {.now_us = cv_now_us(), .root = r->srv->root};
    struct keep_ctx kc = {r, NULL};
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    bool csv = fmt && strcmp(fmt, "csv") == 0;
    int rc;

    if (fmt && !csv && strcmp(fmt, "json") != 0)
        return srv_error(r, 400, "query parameter 'format': expected json or csv");
    if (by && *by && strcmp(by, "day") != 0)
        return srv_error(r, 400, "query parameter 'by': expected day");
    q.by_day = by && *by;
    if (srv_query_time(r, "from", true, &q.from_us) < 0 ||
        srv_query_time(r, "to", true, &q.to_us) < 0)
        return 0;
    if (srv_read(r, &t) < 0)
        return 0;
    kc.t = t;
    if (area && *area && (srv_area_check(t, area, false, &err) < 0 || !srv_scope_area(r, t, area))) {
        idx_abort(t);
        return srv_error(r, 404, "unknown area '%.64s'", area);
    }
    q.area = area && *area ? area : r->user.area; /* a user with an area: theirs */
    q.keep = keep;
    q.keep_ctx = &kc;
    rc = srv_online_report(t, &q, csv ? SRV_ONLINE_CSV : SRV_ONLINE_JSON, &r->out, &err);
    idx_abort(t);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    if (csv) {
        r->ctype = "text/csv; charset=utf-8";
        srv_header(r, "Content-Disposition", "attachment; filename=\"online-rate.csv\"");
    }
    r->status = 200;
    return 0;
}
