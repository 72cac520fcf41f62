/*
 * api_cameras.c: cameras (list, show, add, edit/enable/disable/retention) and the timeline of a
 * camera (docs/api.md, "Cameras"). What a caller sees depends on the role: residents only the
 * public cameras and no recordings, mediators only the cameras of their cases.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "common/url.h"
#include "indexer/idx.h"
#include "indexer/openseg.h"
#include "server/srv_int.h"
#include "server/views.h"
#include "storage-layout/layout.h"
#include "common/banned.h"

#define TIMELINE_MAX_US (INT64_C(31) * 86400 * CV_US_PER_S)

static void camera_json(struct srv_req *r, struct idx_txn *t, const struct idx_camera *c)
{
    struct idx_status st;
    bool have = idx_status_get(t, c->num, &st, NULL) == 0;

    srv_camera_json(&r->out, c, have ? &st : NULL, r->user.role);
}

/* Answer {"camera": CAMERA} with status (after a change: read in a new transaction). */
static int answer(struct srv_req *r, int status, const struct idx_camera *c)
{
    struct idx_txn *t = NULL;

    if (srv_read(r, &t) < 0)
        return 0;
    srv_reply_open(r, status, "camera", false);
    camera_json(r, t, c);
    idx_abort(t);
    return srv_reply_close(r, false);
}

/* Whether the caller may see camera c at all (list and show). */
static bool visible(struct srv_req *r, struct idx_txn *t, const struct idx_camera *c)
{
    if (!srv_scope_camera(r, t, c))
        return false;
    switch (r->user.role) {
    case SRV_ROLE_RESIDENT: return c->is_public;
    case SRV_ROLE_MEDIATOR: return srv_scope_allows(r, t, c->id, 0, 0);
    default: return true;
    }
}

SRV_LIST_OF(list_cameras, idx_camera_list)

SRV_LIST_KEEP(keep_camera, visible)

static void list_camera_json(struct srv_req *r, struct idx_txn *t, const void *c, void *ctx)
{
    (void)ctx;
    camera_json(r, t, c);
}

int api_cameras_list(struct srv_req *r)
{
    const struct srv_list l = {"cameras", sizeof(struct idx_camera), 0, NULL, list_cameras,
                               keep_camera, list_camera_json};

    return srv_reply_list(r, &l);
}

int api_cameras_get(struct srv_req *r)
{
    struct idx_camera c;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    int rc;

    if (srv_read(r, &t) < 0)
        return 0;
    rc = idx_camera_get(t, r->params[0], &c, &err);
    if (rc == 0 && !visible(r, t, &c)) {
        idx_abort(t);
        if (r->user.role == SRV_ROLE_MEDIATOR)
            return srv_error(r, 403, "camera '%s' is outside your cases", r->params[0]);
        return srv_error(r, 404, "unknown camera '%s'", r->params[0]);
    }
    if (rc < 0) {
        idx_abort(t);
        if (rc == CV_ENOENT && r->user.role == SRV_ROLE_MEDIATOR)
            return srv_error(r, 403, "camera '%s' is outside your cases", r->params[0]);
        if (rc == CV_ENOENT && r->user.role == SRV_ROLE_RESIDENT)
            return srv_error(r, 404, "unknown camera '%s'", r->params[0]);
        return srv_fail(r, rc, &err);
    }
    srv_reply_open(r, 200, "camera", false);
    camera_json(r, t, &c);
    idx_abort(t);
    return srv_reply_close(r, false);
}

/* Fields of a camera body, applied to *c; `changed` lists what changed, for the audit. */
static int apply_body(struct srv_req *r, struct idx_camera *c, bool adding, char *changed,
                      size_t cap, unsigned *what)
{
    const char *url = NULL, *name = NULL, *loc = NULL, *vol = NULL, *tr = NULL;
    bool pub, en;
    double days;
    struct cv_err err = {""};
    int rpub, ren, rdays;
    size_t o = 0;

    if (cv_json_get_str(r->in, "url", adding, &url, &err) < 0 ||
        cv_json_get_str(r->in, "name", false, &name, &err) < 0 ||
        cv_json_get_str(r->in, "location", false, &loc, &err) < 0 ||
        cv_json_get_str(r->in, "volume", false, &vol, &err) < 0 ||
        cv_json_get_str(r->in, "transport", false, &tr, &err) < 0 ||
        (rpub = cv_json_get_bool(r->in, "public", false, &pub, &err)) < 0 ||
        (ren = cv_json_get_bool(r->in, "enabled", false, &en, &err)) < 0 ||
        (rdays = cv_json_get_num(r->in, "retention_days", false, 1e-6, 36500, false, &days,
                                 &err)) < 0)
        return srv_error(r, 400, "%s", err.msg), -1;
    if (url && cv_url_check(url, &err) < 0)
        return srv_error(r, 400, "field 'url': %s", err.msg), -1;
    if ((url && strlen(url) >= IDX_URL_MAX) || (name && strlen(name) >= IDX_TEXT_MAX) ||
        (loc && strlen(loc) >= IDX_TEXT_MAX))
        return srv_error(r, 400, "field 'url', 'name' or 'location' is too long"), -1;
    if (tr && strcmp(tr, "tcp") != 0 && strcmp(tr, "udp") != 0)
        return srv_error(r, 400, "field 'transport': expected \"tcp\" or \"udp\""), -1;
    if (vol && lay_id_check("volume", vol, &err) < 0)
        return srv_error(r, 400, "field 'volume': %s", err.msg), -1;
#define NOTE(bit, ...)                                                                             \
    do {                                                                                           \
        *what |= (bit);                                                                            \
        if (o < cap)                                                                               \
            o += (size_t)snprintf(changed + o, cap - o, __VA_ARGS__);                              \
    } while (0)
    if (url && strcmp(url, c->url) != 0) {
        cv_strlcpy(c->url, url, sizeof(c->url));
        NOTE(1, "url; ");
    }
    if (name && strcmp(name, c->name) != 0) {
        cv_strlcpy(c->name, name, sizeof(c->name));
        NOTE(1, "name; ");
    }
    if (loc && strcmp(loc, c->location) != 0) {
        cv_strlcpy(c->location, loc, sizeof(c->location));
        NOTE(1, "location; ");
    }
    if (vol && strcmp(vol, c->volume) != 0) {
        cv_strlcpy(c->volume, vol, sizeof(c->volume));
        NOTE(1, "volume %s; ", vol);
    }
    if (tr && (strcmp(tr, "udp") == 0) != (c->transport == IDX_TRANSPORT_UDP)) {
        c->transport = strcmp(tr, "udp") == 0 ? IDX_TRANSPORT_UDP : IDX_TRANSPORT_TCP;
        NOTE(1, "transport %s; ", tr);
    }
    if (rpub == 0 && pub != c->is_public) {
        c->is_public = pub;
        NOTE(1, "%s; ", pub ? "public" : "private");
    }
    if (ren == 0 && en != c->enabled) {
        c->enabled = en;
        NOTE(2, "%s; ", en ? "enabled" : "disabled");
    }
    if (rdays == 0 && days != c->retention_days) {
        NOTE(4, "retention %.6g -> %.6g days; ", c->retention_days, days);
        c->retention_days = days;
    }
#undef NOTE
    return 0;
}

/* The body's "area" (scope.c) applied to *c in t: 0, or answered and -1. */
static int apply_area(struct srv_req *r, struct idx_txn *t, struct idx_camera *c, char *changed,
                      size_t cap, unsigned *what)
{
    const char *area = NULL;
    int rc = srv_scope_body_area(r, t, &area);
    size_t o = strlen(changed);

    if (rc < 0)
        return -1;
    if (rc == 0 && strcmp(area, c->area) != 0) {
        cv_strlcpy(c->area, area, sizeof(c->area));
        snprintf(changed + o, o < cap ? cap - o : 0, "area %s; ", *area ? area : "none");
        *what |= 1;
    }
    return 0;
}

/* Whether the camera's volume exists, in t: 0; unknown: answered (400), t aborted, and 1;
 * another failure: its error (detail in err), t still open. */
static int volume_check(struct srv_req *r, struct idx_txn *t, const struct idx_camera *c,
                        struct cv_err *err)
{
    struct idx_volume v;
    int rc = idx_volume_get(t, c->volume, &v, err);

    if (rc != CV_ENOENT)
        return rc;
    idx_abort(t);
    srv_error(r, 400, "field 'volume': %s", err->msg);
    return 1;
}

/* What add and edit check in their write transaction t: the body's area (apply_area), then the
 * camera's volume (volume_check). 0; answered (t aborted) and 1; or another failure's error
 * (detail in err, t still open). */
static int apply_in(struct srv_req *r, struct idx_txn *t, struct idx_camera *c, char *changed,
                    size_t cap, unsigned *what, struct cv_err *err)
{
    if (apply_area(r, t, c, changed, cap, what) < 0) {
        idx_abort(t);
        return 1;
    }
    return volume_check(r, t, c, err);
}

int api_cameras_add(struct srv_req *r)
{
    static const char *const fields[] = {"id",      "url",       "name",    "location", "public",
                                         "enabled", "retention_days", "volume", "transport",
                                         "area",    NULL};
    const char *id = NULL;
    struct idx_camera c;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    char changed[256] = "";
    unsigned what = 0;
    int rc;

    if (srv_body_fields(r, fields) < 0)
        return 0;
    if (cv_json_get_str(r->in, "id", true, &id, &err) < 0 ||
        lay_id_check("camera", id, &err) < 0)
        return srv_error(r, 400, "%s", err.msg);
    memset(&c, 0, sizeof(c));
    cv_strlcpy(c.id, id, sizeof(c.id));
    cv_strlcpy(c.volume, LAY_DEFAULT_VOLUME, sizeof(c.volume));
    c.enabled = true;
    c.retention_days = 30;
    c.created_us = cv_now_us();
    cv_strlcpy(c.area, r->user.area, sizeof(c.area)); /* a scoped admin's cameras are theirs */
    if (apply_body(r, &c, true, changed, sizeof(changed), &what) < 0)
        return 0;
    if (srv_write(r, &t) < 0)
        return 0;
    rc = apply_in(r, t, &c, changed, sizeof(changed), &what, &err);
    if (rc > 0)
        return 0;
    if (rc == 0)
        rc = idx_camera_add(t, &c, &err);
    if (rc == CV_EEXIST)
        cv_errf(&err, CV_EEXIST, "camera '%s' exists already", c.id);
    rc = srv_audit_commit(r, t, rc, "camera-add", c.id, NULL, changed, &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    return answer(r, 201, &c);
}

int api_cameras_edit(struct srv_req *r)
{
    static const char *const fields[] = {"url",    "name",           "location", "public",
                                         "enabled", "retention_days", "volume", "transport",
                                         "area",   NULL};
    struct idx_camera c;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    char changed[256] = "";
    const char *action = "camera-edit";
    unsigned what = 0;
    int rc;

    if (srv_body_fields(r, fields) < 0)
        return 0;
    if (r->in->len == 0)
        return srv_error(r, 400, "nothing to change");
    if (srv_write(r, &t) < 0)
        return 0;
    rc = idx_camera_get(t, r->params[0], &c, &err);
    if (rc < 0)
        return srv_abort_fail(r, t, rc, &err);
    if (apply_body(r, &c, false, changed, sizeof(changed), &what) < 0) {
        idx_abort(t);
        return 0;
    }
    rc = apply_in(r, t, &c, changed, sizeof(changed), &what, &err);
    if (rc > 0)
        return 0;
    if (what == 2)
        action = c.enabled ? "camera-enable" : "camera-disable";
    else if (what == 4)
        action = "retention-set";
    if (rc == 0 && what)
        rc = idx_camera_update(t, &c, &err);
    rc = srv_audit_commit(r, t, rc, action, c.id, NULL, what ? changed : "no change", &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    return answer(r, 200, &c);
}

/* ---- timeline ---- */

struct tl_ctx {
    struct cv_buf *b;
    size_t n;
};

/* The next item of a timeline list, up to its times: `{"start":T,"end":T` (comma before all
 * but the first). */
static void tl_open(struct tl_ctx *c, int64_t start_us, int64_t end_us)
{
    cv_buf_printf(c->b, "%s{", c->n++ ? "," : "");
    cv_json_time_or_null(c->b, "start", start_us);
    cv_json_add_time(c->b, "end", end_us);
}

static int tl_seg(void *vctx, const struct idx_segment *s)
{
    struct tl_ctx *c = vctx;

    tl_open(c, s->start_us, s->end_us);
    cv_buf_printf(c->b, ",\"bytes\":%llu,\"frames\":%u,\"video\":", (unsigned long long)s->bytes,
                  s->frames);
    cv_json_str(c->b, s->video);
    cv_buf_printf(c->b, ",\"audio\":");
    cv_json_str(c->b, s->audio);
    cv_buf_printf(c->b, ",\"recovered\":%s,\"shifted\":%s",
                  s->flags & IDX_SEG_RECOVERED ? "true" : "false",
                  s->flags & IDX_SEG_SHIFTED ? "true" : "false");
    if (s->flags & IDX_SEG_SHIFTED)
        cv_json_add_time(c->b, "received_start", s->recv_start_us);
    cv_buf_u8(c->b, '}');
    return cv_buf_ok(c->b) ? 0 : 1;
}

static int tl_gap(void *vctx, const struct idx_gap *g)
{
    struct tl_ctx *c = vctx;

    tl_open(c, g->start_us, g->end_us);
    cv_buf_printf(c->b, ",\"reason\":\"%s\",\"detail\":", idx_gap_reason_name(g->reason));
    cv_json_str(c->b, g->detail);
    cv_buf_u8(c->b, '}');
    return cv_buf_ok(c->b) ? 0 : 1;
}

int api_timeline(struct srv_req *r)
{
    struct idx_camera c;
    struct idx_hold *holds = NULL;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct tl_ctx tc = {&r->out, 0};
    char target[256], a[48], b[48];
    size_t nh = 0;
    int64_t from, to;
    int rc;

    if (srv_footage_range(r, TIMELINE_MAX_US,
                          "range too long: at most 31 days per timeline request", "in this range",
                          &t, &c, &from, &to) < 0)
        return 0;
    cv_buf_printf(&r->out, "{\"camera\":");
    cv_json_str(&r->out, c.id);
    cv_buf_u8(&r->out, ',');
    cv_json_time_or_null(&r->out, "from", from);
    cv_buf_u8(&r->out, ',');
    cv_json_time_or_null(&r->out, "to", to);
    cv_buf_printf(&r->out, ",\"segments\":[");
    rc = idx_segment_iter(t, c.num, from, to, tl_seg, &tc, &err);
    if (rc == 0) {
        /* The segment being written, up to its newest complete fragment ("recording now"). */
        struct idx_segment open;
        cv_buf_printf(&r->out, "],\"open\":");
        if (idx_open_segment_in(t, r->srv->root, c.num, from, to, &open, NULL) == 0) {
            tc.n = 0;
            tl_seg(&tc, &open);
        } else {
            cv_buf_printf(&r->out, "null");
        }
        cv_buf_printf(&r->out, ",\"gaps\":[");
    }
    tc.n = 0;
    if (rc == 0)
        rc = idx_gap_iter(t, c.num, from, to, tl_gap, &tc, &err);
    if (rc == 0)
        rc = idx_hold_list(t, &holds, &nh, &err);
    idx_abort(t);
    if (rc < 0) {
        free(holds);
        return srv_fail(r, rc, &err);
    }
    cv_buf_printf(&r->out, "],\"holds\":[");
    tc.n = 0;
    for (size_t i = 0; i < nh; i++) {
        if (!idx_hold_touches(&holds[i], c.id, from, to))
            continue;
        cv_buf_printf(&r->out, "%s", tc.n++ ? "," : "");
        srv_hold_json(&r->out, &holds[i]);
    }
    free(holds);
    cv_buf_printf(&r->out, "]}\n");
    if (!cv_buf_ok(&r->out))
        return srv_error(r, 413, "timeline too large: ask for a shorter range");
    /* The view is recorded before the answer goes out; no record, no answer. */
    cv_time_format_utc(from, a, sizeof(a), 3);
    cv_time_format_utc(to, b, sizeof(b), 3);
    snprintf(target, sizeof(target), "camera %s %s..%s", c.id, a, b);
    rc = srv_audit(r, NULL, "view-timeline", target, NULL, NULL, &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    r->status = 200;
    return 0;
}
