/*
 * reply.c: the end of a handler, written once (srv_int.h): audit and commit, and the
 * `{"key": ...}` answers of docs/api.md.
 */
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
