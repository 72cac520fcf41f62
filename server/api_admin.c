/*
 * api_admin.c: what only admins do besides users and cameras: retention overview, volumes and
 * the audit log (docs/api.md, "Retention and volumes", "Audit").
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "common/fileio.h"
#include "indexer/idx.h"
#include "indexer/retention.h"
#include "server/audit.h"
#include "server/srv_int.h"
#include "storage-layout/layout.h"
#include "common/banned.h"

/* ---- retention ---- */

static int first_seg(void *ctx, const struct idx_segment *s)
{
    *(int64_t *)ctx = s->start_us;
    return 1;
}

SRV_LIST_OF(list_cameras, idx_camera_list)

SRV_LIST_KEEP(keep_camera, srv_scope_camera)

/* One camera's retention: its days, its oldest footage and the shortfall, if any. */
static void retention_json(struct srv_req *r, struct idx_txn *t, const void *item, void *ctx)
{
    const struct idx_camera *c = item;
    struct idx_status st;
    int64_t oldest = 0;
    bool short_ = idx_status_get(t, c->num, &st, NULL) == 0 &&
                  (strstr(st.reason, "retention shortfall") || strstr(st.reason, "short of space"));

    (void)ctx;
    idx_segment_iter(t, c->num, INT64_MIN, INT64_MAX, first_seg, &oldest, NULL);
    cv_buf_printf(&r->out, "{\"camera\":");
    cv_json_str(&r->out, c->id);
    cv_buf_printf(&r->out, ",\"retention_days\":%.6g,", c->retention_days);
    cv_json_time_or_null(&r->out, "oldest", oldest);
    cv_buf_printf(&r->out, ",\"shortfall\":");
    cv_json_str(&r->out, short_ ? st.reason : NULL);
    cv_buf_u8(&r->out, '}');
}

int api_retention(struct srv_req *r)
{
    const struct srv_list l = {"cameras", sizeof(struct idx_camera), 0, NULL, list_cameras,
                               keep_camera, retention_json};

    return srv_reply_list(r, &l);
}

/* ---- volumes ---- */

/* VOLUME object of docs/api.md (t and ctx unused: the shape of a struct srv_list json). */
static void volume_json(struct srv_req *r, struct idx_txn *t, const void *item, void *ctx)
{
    const struct idx_volume *v = item;
    char dir[PATH_MAX] = "";
    struct lay_volume_space sp;

    idx_volume_dir(r->srv->root, v->name, dir, sizeof(dir), NULL);
    (void)t, (void)ctx;
    lay_volume_space(dir, v->max_bytes, &sp);
    cv_buf_printf(&r->out, "{\"name\":");
    cv_json_str(&r->out, v->name);
    cv_buf_printf(&r->out, ",\"path\":");
    cv_json_str(&r->out, v->path[0] ? v->path : dir);
    cv_buf_printf(&r->out,
                  ",\"max_bytes\":%llu,\"used_bytes\":%llu,\"segments\":%llu,"
                  "\"fs_total_bytes\":%llu,\"fs_free_bytes\":%llu,\"limit_bytes\":%llu}",
                  (unsigned long long)v->max_bytes, (unsigned long long)v->used_bytes,
                  (unsigned long long)v->segments, (unsigned long long)sp.fs_total,
                  (unsigned long long)sp.fs_free, (unsigned long long)sp.limit);
}

/* Answer {"volume": VOLUME} with status. */
static int answer_volume(struct srv_req *r, int status, const struct idx_volume *v)
{
    srv_reply_open(r, status, "volume", false);
    volume_json(r, NULL, v, NULL);
    return srv_reply_close(r, false);
}

SRV_LIST_OF(list_volumes, idx_volume_list)

int api_volumes_list(struct srv_req *r)
{
    const struct srv_list l = {"volumes", sizeof(struct idx_volume), 0, NULL, list_volumes, NULL,
                               volume_json};

    return srv_reply_list(r, &l);
}

static int max_bytes_field(struct srv_req *r, bool required, uint64_t *out)
{
    struct cv_err err = {""};
    int64_t v;
    int rc = cv_json_get_i64(r->in, "max_bytes", required, 0, INT64_C(1) << 60, &v, &err);

    if (rc < 0)
        return srv_error(r, 400, "%s", err.msg), -1;
    if (rc == 0)
        *out = (uint64_t)v;
    return rc;
}

/* POST /api/v1/volumes: idx_volume_add, as `camvault volume add`. */
int api_volumes_add(struct srv_req *r)
{
    static const char *const fields[] = {"name", "path", "max_bytes", NULL};
    const char *name = NULL, *path = NULL;
    struct idx_volume v;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    uint64_t maxb = 0;
    int rc;

    if (srv_body_fields(r, fields) < 0)
        return 0;
    if (cv_json_get_str(r->in, "name", true, &name, &err) < 0 ||
        cv_json_get_str(r->in, "path", true, &path, &err) < 0)
        return srv_error(r, 400, "%s", err.msg);
    if (max_bytes_field(r, false, &maxb) < 0)
        return 0;
    if (path[0] != '/') /* the server's working directory means nothing to its client */
        return srv_error(r, 400, "field 'path': '%.200s' is not an absolute path", path);
    if (srv_write(r, &t) < 0)
        return 0;
    rc = idx_volume_add(t, r->srv->root, name, path, maxb, &v, &err);
    rc = srv_audit_commit(r, t, rc, "volume-add", v.name, NULL, v.path, &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    return answer_volume(r, 201, &v);
}

int api_volumes_edit(struct srv_req *r)
{
    static const char *const fields[] = {"max_bytes", NULL};
    struct idx_volume v;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    char detail[64];
    uint64_t maxb = 0;
    int rc;

    if (srv_body_fields(r, fields) < 0 || max_bytes_field(r, true, &maxb) < 0)
        return 0;
    if (srv_write(r, &t) < 0)
        return 0;
    rc = idx_volume_get(t, r->params[0], &v, &err);
    if (rc == 0) {
        snprintf(detail, sizeof(detail), "max_bytes %llu -> %llu",
                 (unsigned long long)v.max_bytes, (unsigned long long)maxb);
        v.max_bytes = maxb;
        rc = idx_volume_put(t, &v, &err);
    }
    rc = srv_audit_commit(r, t, rc, "volume-edit", v.name, NULL, detail, &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    return answer_volume(r, 200, &v);
}

/* ---- audit ---- */

int api_audit_list(struct srv_req *r)
{
    const char *cs = srv_uri_query(&r->uri, "case"), *after = srv_uri_query(&r->uri, "after");
    const char *lim = srv_uri_query(&r->uri, "limit");
    struct srv_audit_filter f = {.case_id = cs && *cs ? cs : NULL, .limit = 200,
                                 .area = r->user.area};
    size_t n = 0;
    uint64_t last = 0;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    int64_t v;
    char target[160];
    int rc;

    if (srv_query_time(r, "since", false, &f.since_us) < 0)
        return 0;
    if (after) {
        if (cv_parse_i64(after, 0, INT64_MAX, &v) < 0)
            return srv_error(r, 400, "query parameter 'after': expected a sequence number");
        f.after_seq = (uint64_t)v;
    }
    if (lim) {
        if (cv_parse_i64(lim, 1, 1000, &v) < 0)
            return srv_error(r, 400, "query parameter 'limit': expected 1 to 1000");
        f.limit = (uint64_t)v;
    }
    /* Reading the log is itself recorded, first (so it shows in what it reads). */
    snprintf(target, sizeof(target), "audit%s%.100s", f.case_id ? " case " : "",
             f.case_id ? f.case_id : "");
    rc = srv_audit(r, NULL, "audit-read", target, f.case_id, NULL, &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    if (srv_read(r, &t) < 0)
        return 0;
    cv_buf_printf(&r->out, "{\"records\":[");
    rc = srv_audit_json_list(t, &f, &r->out, &n, &last, &err);
    idx_abort(t);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    cv_buf_printf(&r->out, "],\"next_after\":");
    if (n == f.limit)
        cv_buf_printf(&r->out, "%llu}\n", (unsigned long long)last);
    else
        cv_buf_printf(&r->out, "null}\n");
    r->status = 200;
    return 0;
}

int api_audit_verify(struct srv_req *r)
{
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct itg_cp_audit cp;
    uint64_t n = 0, bad = 0;
    int rc;

    if (srv_read(r, &t) < 0)
        return 0;
    rc = itg_audit_verify_signed(t, r->srv->root, &n, &bad, &cp, &err); /* and the signed head */
    idx_abort(t);
    if (rc < 0 && rc != CV_ECORRUPT)
        return srv_fail(r, rc, &err);
    r->status = 200;
    if (rc == 0) {
        cv_buf_printf(&r->out, "{\"ok\":true,\"records\":%llu}\n", (unsigned long long)n);
        return 0;
    }
    cv_buf_printf(&r->out, "{\"ok\":false,\"records\":%llu,\"first_bad_seq\":%llu,\"error\":",
                  (unsigned long long)n, (unsigned long long)bad);
    cv_json_str(&r->out, err.msg);
    cv_buf_printf(&r->out, "}\n");
    return 0;
}
