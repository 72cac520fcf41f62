/*
 * reply.c: the end of a handler, written once (srv_int.h): audit and commit, and the
 * `{"key": ...}` answers of docs/api.md.
 */
#include <stdlib.h>

#include <microhttpd.h>

#include "server/srv_int.h"
#include "common/banned.h"

int srv_abort_fail(struct srv_req *r, struct idx_txn *t, int rc, const struct cv_err *err)
{
    idx_abort(t);
    return srv_fail(r, rc, err);
}

int srv_audit_commit(struct srv_req *r, struct idx_txn *t, int rc, const char *action,
                     const char *target, const char *case_id, const char *detail,
                     struct cv_err *err)
{
    if (rc == 0)
        rc = srv_audit(r, t, action, target, case_id, detail, err);
    if (rc == 0)
        return idx_commit(t, err);
    idx_abort(t);
    return rc;
}

int srv_path_record(struct srv_req *r, int rc, bool visible, const char *what,
                    struct cv_err *err)
{
    if (rc == 0 && !visible)
        rc = cv_errf(err, CV_ENOENT, "unknown %s '%s'", what, r->params[0]);
    if (rc < 0)
        return srv_fail(r, rc, err), -1;
    return 0;
}

int srv_read_path_record(struct srv_req *r,
                         int (*load)(struct srv_req *r, struct idx_txn *t, void *rec), void *rec)
{
    struct idx_txn *t = NULL;
    int rc;

    if (srv_read(r, &t) < 0)
        return -1;
    rc = load(r, t, rec);
    idx_abort(t);
    return rc;
}

void srv_reply_open(struct srv_req *r, int status, const char *key, bool list)
{
    r->status = status;
    cv_buf_u8(&r->out, '{');
    cv_json_key(&r->out, key);
    if (list)
        cv_buf_u8(&r->out, '[');
}

void srv_reply_sep(struct srv_req *r, size_t i)
{
    if (i)
        cv_buf_u8(&r->out, ',');
}

int srv_reply_close(struct srv_req *r, bool list)
{
    cv_buf_printf(&r->out, list ? "]}\n" : "}\n");
    return 0;
}

int srv_reply_list(struct srv_req *r, const struct srv_list *l)
{
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    void *v = NULL;
    size_t n = 0, shown = 0;
    int rc;

    if (srv_read(r, &t) < 0)
        return 0;
    rc = l->list(t, &v, &n, &err);
    if (rc < 0)
        return srv_abort_fail(r, t, rc, &err);
    srv_reply_open(r, 200, l->key, true);
    for (size_t i = 0; i < n && (!l->limit || shown < l->limit); i++) {
        const void *item = (const char *)v + i * l->size;
        if (l->keep && !l->keep(r, t, item, l->ctx))
            continue;
        srv_reply_sep(r, shown++);
        l->json(r, t, item, l->ctx);
    }
    idx_abort(t);
    free(v);
    return srv_reply_close(r, true);
}

int srv_reply_stream(struct srv_req *r, int status, uint64_t size, size_t block,
                     ssize_t (*read)(void *arg, uint64_t pos, char *buf, size_t max), void *arg,
                     void (*free_arg)(void *arg), const char *ctype, const char *fail)
{
    struct MHD_Response *resp = MHD_create_response_from_callback(size, block, read, arg,
                                                                  free_arg);

    if (!resp) {
        free_arg(arg);
        return srv_error(r, 500, "%s", fail);
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    r->resp = resp;
    r->status = status;
    return 0;
}
