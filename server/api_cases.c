/*
 * api_cases.c: cases (docs/api.md, "Cases"): officers open and edit them, add members
 * (mediators) and clips; mediators see the cases they are members of (any other case is 404 to
 * them). The custody timeline is the case's audit records. Every change writes its audit record
 * in the same transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "server/audit.h"
#include "server/workflow_int.h"
#include "common/banned.h"

#define CLIP_RANGE_MAX_US SRV_JOB_RANGE_MAX_US

static bool may_see(const struct srv_req *r, const struct srv_case *c)
{
    return r->user.role != SRV_ROLE_MEDIATOR || srv_case_has_member(c, r->user.name);
}

/* The case of the path, read in t, for this caller: 0, or answered (404) and -1. */
static int load(struct srv_req *r, struct idx_txn *t, void *rec)
{
    struct srv_case *c = rec;
    struct cv_err err = {""};
    int rc = srv_case_get(t, r->params[0], c, &err);

    return srv_path_record(r, rc, rc == 0 && may_see(r, c), "case", &err);
}

static void answer(struct srv_req *r, int status, const struct srv_case *c)
{
    r->status = status;
    cv_buf_printf(&r->out, "{\"case\":");
    srv_case_json(&r->out, c);
    cv_buf_printf(&r->out, "}\n");
}

/* Commit t with an audit record; answer with the case. t is always finished. */
static int commit_with(struct srv_req *r, struct idx_txn *t, struct srv_case *c, int status,
                       const char *action, const char *detail)
{
    struct cv_err err = {""};
    char target[64];
    int rc = srv_case_put(t, c, &err);

    snprintf(target, sizeof(target), "case %s", c->id);
    rc = srv_audit_commit(r, t, rc, action, target, c->id, detail, &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    answer(r, status, c);
    return 0;
}

struct list_ctx {
    struct srv_req *r;
    size_t shown;
    struct idx_txn *t;
};

static int list_one(void *ctx, const struct srv_case *c)
{
    struct list_ctx *l = ctx;

    if (!may_see(l->r, c) || !srv_scope_case(l->r, l->t, c))
        return 0;
    if (l->shown++)
        cv_buf_u8(&l->r->out, ',');
    srv_case_json(&l->r->out, c);
    return 0;
}

/* GET /api/v1/cases */
int api_cases_list(struct srv_req *r)
{
    struct list_ctx l = {r, 0, NULL};
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    int rc;

    if (srv_read(r, &t) < 0)
        return 0;
    l.t = t;
    cv_buf_printf(&r->out, "{\"cases\":[");
    rc = srv_case_iter(t, list_one, &l, &err);
    idx_abort(t);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    cv_buf_printf(&r->out, "]}\n");
    r->status = 200;
    return 0;
}

/* POST /api/v1/cases {"title", "description"?, "members"?} */
int api_cases_add(struct srv_req *r)
{
    static const char *const fields[] = {"title", "description", "members", NULL};
    struct srv_case *c = srv_case_new();
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    const struct cv_jv *m;
    const char *title = NULL, *desc = NULL;
    int rc;

    if (!c)
        return srv_error(r, 500, "out of memory");
    if (srv_body_fields(r, fields) < 0 ||
        wf_body_text(r, "title", true, SRV_CASE_TEXT_MAX, &title) < 0 ||
        wf_body_text(r, "description", false, SRV_CASE_DESC_MAX, &desc) < 0)
        goto out;
    m = cv_json_get(r->in, "members");
    if (m && m->type != CV_JSON_NULL && (m->type != CV_JSON_ARR || m->len > SRV_CASE_MEMBERS)) {
        srv_error(r, 400, "field 'members': expected a list of at most %d user names",
                  SRV_CASE_MEMBERS);
        goto out;
    }
    cv_strlcpy(c->title, title, sizeof(c->title));
    cv_strlcpy(c->description, desc ? desc : "", sizeof(c->description));
    c->status = SRV_CASE_OPEN;
    c->created_us = cv_now_us();
    cv_strlcpy(c->created_by, r->user.name, sizeof(c->created_by));
    if (srv_write(r, &t) < 0)
        goto out;
    for (const struct cv_jv *v = m && m->type == CV_JSON_ARR ? m->child : NULL; v; v = v->next) {
        struct srv_user u;
        if (v->type != CV_JSON_STR || srv_user_get(t, v->str, &u, NULL) < 0) {
            srv_error(r, 400, "field 'members': unknown user '%.32s'",
                      v->type == CV_JSON_STR ? v->str : "?");
            goto out;
        }
        srv_case_add_member(c, u.name, NULL);
    }
    rc = srv_case_add(t, c, &err);
    if (rc < 0) {
        srv_fail(r, rc, &err);
        goto out;
    }
    commit_with(r, t, c, 201, "case-create", c->title);
    t = NULL;
out:
    idx_abort(t);
    free(c);
    return 0;
}

/* GET /api/v1/cases/{id} */
int api_cases_get(struct srv_req *r)
{
    struct srv_case *c = srv_case_new();

    if (!c)
        return srv_error(r, 500, "out of memory");
    if (srv_read_path_record(r, load, c) == 0)
        answer(r, 200, c);
    free(c);
    return 0;
}

/* PATCH /api/v1/cases/{id} {"title"?, "description"?, "status"?} */
int api_cases_edit(struct srv_req *r)
{
    static const char *const fields[] = {"title", "description", "status", NULL};
    struct srv_case *c = srv_case_new();
    struct idx_txn *t = NULL;
    const char *title = NULL, *desc = NULL, *status = NULL;
    char detail[128];
    int st = -1;

    if (!c)
        return srv_error(r, 500, "out of memory");
    if (srv_body_fields(r, fields) < 0 ||
        wf_body_text(r, "title", false, SRV_CASE_TEXT_MAX, &title) < 0 ||
        wf_body_text(r, "description", false, SRV_CASE_DESC_MAX, &desc) < 0 ||
        wf_body_text(r, "status", false, 16, &status) < 0)
        goto out;
    if (status) {
        if (strcmp(status, "open") == 0)
            st = SRV_CASE_OPEN;
        else if (strcmp(status, "closed") == 0)
            st = SRV_CASE_CLOSED;
        else {
            srv_error(r, 400, "field 'status': expected open or closed, got '%s'", status);
            goto out;
        }
    }
    if (title && !*title) {
        srv_error(r, 400, "field 'title' may not be empty");
        goto out;
    }
    if (srv_write(r, &t) < 0 || load(r, t, c) < 0)
        goto out;
    if (title)
        cv_strlcpy(c->title, title, sizeof(c->title));
    if (desc)
        cv_strlcpy(c->description, desc, sizeof(c->description));
    if (st >= 0)
        c->status = (uint8_t)st;
    snprintf(detail, sizeof(detail), "%s%s%s", title ? "title " : "", desc ? "description " : "",
             st < 0                ? ""
             : st == SRV_CASE_OPEN ? "status open"
                                   : "status closed");
    commit_with(r, t, c, 200, "case-edit", detail);
    t = NULL;
out:
    idx_abort(t);
    free(c);
    return 0;
}

/* One change of case r->params[0]: load it in a write transaction, let fn change it (fn answers
 * an error itself and returns -1, or fills detail[512] for the audit and returns 0), then store
 * it with an audit record `action` and answer the case with status. */
typedef int (*case_change_fn)(struct srv_req *r, struct idx_txn *t, struct srv_case *c,
                              void *arg, char *detail);

static int change_case(struct srv_req *r, int status, const char *action, case_change_fn fn,
                       void *arg)
{
    struct srv_case *c = srv_case_new();
    struct idx_txn *t = NULL;
    char detail[512] = "";

    if (!c)
        return srv_error(r, 500, "out of memory");
    if (srv_write(r, &t) == 0 && load(r, t, c) == 0 && fn(r, t, c, arg, detail) == 0) {
        commit_with(r, t, c, status, action, detail);
        t = NULL;
    }
    idx_abort(t);
    free(c);
    return 0;
}

static int member_add(struct srv_req *r, struct idx_txn *t, struct srv_case *c, void *arg,
                      char *detail)
{
    struct srv_user u;
    struct cv_err err = {""};

    if (srv_user_get(t, arg, &u, NULL) < 0)
        return srv_error(r, 400, "field 'name': unknown user '%s'", (const char *)arg), -1;
    if (srv_case_add_member(c, u.name, &err) < 0)
        return srv_error(r, 409, "%s", err.msg), -1;
    snprintf(detail, 512, "%s (%s)", u.name, srv_role_name(u.role));
    return 0;
}

/* POST /api/v1/cases/{id}/members {"name"} */
int api_cases_member_add(struct srv_req *r)
{
    static const char *const fields[] = {"name", NULL};
    const char *name = NULL;

    if (srv_body_fields(r, fields) < 0 || wf_body_text(r, "name", true, 33, &name) < 0)
        return 0;
    return change_case(r, 200, "case-member-add", member_add, (void *)name);
}

static int member_del(struct srv_req *r, struct idx_txn *t, struct srv_case *c, void *arg,
                      char *detail)
{
    uint32_t i;

    (void)t;
    (void)arg;
    for (i = 0; i < c->nmembers && strcmp(c->members[i], r->params[1]) != 0; i++)
        ;
    if (i == c->nmembers)
        return srv_error(r, 404, "'%s' is not a member of case %s", r->params[1], c->id), -1;
    memmove(c->members[i], c->members[i + 1], (c->nmembers - i - 1) * sizeof(c->members[0]));
    c->nmembers--;
    snprintf(detail, 512, "%s", r->params[1]);
    return 0;
}

/* DELETE /api/v1/cases/{id}/members/{name} */
int api_cases_member_del(struct srv_req *r)
{
    return change_case(r, 200, "case-member-remove", member_del, NULL);
}

struct clip_arg {
    const char *camera, *note;
    int64_t from, to;
};

static int clip_add(struct srv_req *r, struct idx_txn *t, struct srv_case *c, void *arg,
                    char *detail)
{
    const struct clip_arg *a = arg;
    struct srv_case_clip *k = NULL;
    struct idx_camera cam;
    struct cv_err err = {""};

    if (srv_scope_camera_get(r, t, a->camera, &cam, NULL) < 0)
        return srv_error(r, 400, "field 'camera': unknown camera '%s'", a->camera), -1;
    if (srv_case_add_clip(c, cam.id, a->from, a->to, a->note, &k, &err) < 0)
        return srv_error(r, 409, "%s", err.msg), -1;
    wf_range_text(detail, 512, cam.id, a->from, a->to);
    return 0;
}

/* POST /api/v1/cases/{id}/clips {"camera", "from", "to", "note"?} */
int api_cases_clip_add(struct srv_req *r)
{
    static const char *const fields[] = {"camera", "from", "to", "note", NULL};
    struct clip_arg a = {0};

    if (srv_body_fields(r, fields) < 0 ||
        wf_body_text(r, "camera", true, LAY_ID_MAX + 1, &a.camera) < 0 ||
        srv_body_time(r, "from", true, &a.from) < 0 || srv_body_time(r, "to", true, &a.to) < 0 ||
        wf_body_text(r, "note", false, SRV_CASE_TEXT_MAX, &a.note) < 0)
        return 0;
    if (a.to <= a.from || a.to - a.from > CLIP_RANGE_MAX_US)
        return srv_error(r, 400, "'to' must be after 'from' and at most 31 days later");
    return change_case(r, 201, "case-clip-add", clip_add, &a);
}

static int clip_del(struct srv_req *r, struct idx_txn *t, struct srv_case *c, void *arg,
                    char *detail)
{
    uint32_t i;

    (void)t;
    (void)arg;
    for (i = 0; i < c->nclips && strcmp(c->clips[i].id, r->params[1]) != 0; i++)
        ;
    if (i == c->nclips)
        return srv_error(r, 404, "unknown clip '%s' of case %s", r->params[1], c->id), -1;
    wf_range_text(detail, 512, c->clips[i].camera, c->clips[i].from_us, c->clips[i].to_us);
    memmove(&c->clips[i], &c->clips[i + 1], (c->nclips - i - 1) * sizeof(c->clips[0]));
    c->nclips--;
    return 0;
}

/* DELETE /api/v1/cases/{id}/clips/{clip} */
int api_cases_clip_del(struct srv_req *r)
{
    return change_case(r, 200, "case-clip-remove", clip_del, NULL);
}

/* GET /api/v1/cases/{id}/custody */
int api_cases_custody(struct srv_req *r)
{
    struct srv_case *c = srv_case_new();
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    size_t n = 0;
    uint64_t last = 0;
    int rc;

    if (!c)
        return srv_error(r, 500, "out of memory");
    if (srv_read(r, &t) < 0 || load(r, t, c) < 0)
        goto out;
    struct srv_audit_filter f = {.case_id = c->id};
    cv_buf_printf(&r->out, "{\"case\":");
    cv_json_str(&r->out, c->id);
    cv_buf_printf(&r->out, ",\"records\":[");
    rc = srv_audit_json_list(t, &f, &r->out, &n, &last, &err);
    if (rc < 0) {
        srv_fail(r, rc, &err);
        goto out;
    }
    cv_buf_printf(&r->out, "]}\n");
    if (!cv_buf_ok(&r->out)) {
        srv_error(r, 500, "custody timeline too large to answer");
        goto out;
    }
    r->status = 200;
out:
    idx_abort(t);
    free(c);
    return 0;
}
