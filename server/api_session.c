/*
 * api_session.c: login, logout, who am I, and changing one's own password (docs/api.md,
 * "Session").
 */
#include <stdio.h>
#include <string.h>

#include "common/cvtime.h"
#include "server/audit.h"
#include "server/srv_int.h"
#include "common/banned.h"

static void set_cookie(struct srv_req *r, const char *token, int64_t max_age_s)
{
    srv_header(r, "Set-Cookie", "cv_session=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld%s",
               token, (long long)max_age_s, r->srv->tls ? "; Secure" : "");
}

int api_login(struct srv_req *r)
{
    static const char *const fields[] = {"user", "password", NULL};
    const char *name = NULL, *pw = NULL;
    char token[SRV_TOKEN_LEN + 1];
    struct srv_session sess;
    struct srv_user u;
    struct cv_err err = {""};
    int64_t retry = 0;
    int rc;

    if (srv_body_fields(r, fields) < 0)
        return 0;
    if (cv_json_get_str(r->in, "user", true, &name, &err) < 0 ||
        cv_json_get_str(r->in, "password", true, &pw, &err) < 0)
        return srv_error(r, 400, "%s", err.msg);
    rc = srv_login(r->srv->idx, r->srv->throttle, name, pw, r->addr, cv_now_us(), &sess, token,
                   &u, &retry, &err);
    if (rc == CV_ELIMIT) {
        long long s = (long long)((retry + CV_US_PER_S - 1) / CV_US_PER_S);
        srv_header(r, "Retry-After", "%lld", s);
        srv_error(r, 429, "%s", err.msg);
        /* The error object gets the seconds too, for the UI. */
        cv_buf_reset(&r->out);
        cv_buf_printf(&r->out, "{\"error\":");
        cv_json_str(&r->out, err.msg);
        cv_buf_printf(&r->out, ",\"retry_after\":%lld}\n", s);
        return 0;
    }
    if (rc == CV_ETIMEDOUT) { /* the bound on concurrent hashing (users.h) */
        srv_header(r, "Retry-After", "1");
        return srv_error(r, 503, "%s", err.msg);
    }
    if (rc == CV_EINVAL || rc == CV_ESTATE)
        return srv_error(r, 401, "%s", err.msg);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    set_cookie(r, token, (sess.expires_us - sess.created_us) / CV_US_PER_S);
    srv_reply_open(r, 200, "user", false);
    srv_user_json(&r->out, &u);
    cv_buf_printf(&r->out, ",\"csrf_token\":\"%s\",", sess.csrf);
    cv_json_time_or_null(&r->out, "expires", sess.expires_us);
    return srv_reply_close(r, false);
}

/* After a change that ended the caller's session (rc 0): clear the cookie, answer ok. */
static int session_ended(struct srv_req *r, int rc, struct cv_err *err)
{
    if (rc < 0)
        return srv_fail(r, rc, err);
    if (!r->bearer)
        set_cookie(r, "", 0);
    r->status = 200;
    cv_buf_printf(&r->out, "{\"ok\":true}\n");
    return 0;
}

int api_logout(struct srv_req *r)
{
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    int rc;

    if (r->in)
        return srv_error(r, 400, "logout takes no body");
    if (srv_write(r, &t) < 0)
        return 0;
    rc = srv_session_delete(t, r->sess.key, &err);
    rc = srv_audit_commit(r, t, rc, "logout", r->user.name, NULL,
                          r->bearer ? "bearer token" : "session", &err);
    return session_ended(r, rc, &err);
}

int api_me(struct srv_req *r)
{
    r->status = 200;
    cv_buf_printf(&r->out, "{\"user\":");
    srv_user_json(&r->out, &r->user);
    cv_buf_printf(&r->out, ",\"csrf_token\":");
    cv_json_str(&r->out, r->bearer ? NULL : r->sess.csrf);
    cv_buf_u8(&r->out, ',');
    cv_json_time_or_null(&r->out, "expires", r->sess.expires_us);
    cv_buf_printf(&r->out, ",\"auth\":\"%s\"}\n", r->bearer ? "bearer" : "cookie");
    return 0;
}

int api_me_password(struct srv_req *r)
{
    static const char *const fields[] = {"old", "new", NULL};
    const char *old = NULL, *new = NULL;
    char newhash[SRV_PWHASH_MAX];
    struct srv_user u;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    bool ok = false;
    int rc;

    if (srv_body_fields(r, fields) < 0)
        return 0;
    if (cv_json_get_str(r->in, "old", true, &old, &err) < 0 ||
        cv_json_get_str(r->in, "new", true, &new, &err) < 0 || srv_password_check(new, &err) < 0)
        return srv_error(r, 400, "%s", err.msg);
    /* Two hashes, within the same bound as logins. */
    if (srv_hash_enter(r->srv->throttle, r->addr, &err) < 0) {
        srv_header(r, "Retry-After", "1");
        return srv_error(r, 503, "%s", err.msg);
    }
    rc = srv_password_verify(old, r->user.pwhash, &ok, &err);
    if (rc == 0 && ok)
        rc = srv_password_hash(new, NULL, newhash, &err);
    srv_hash_leave(r->srv->throttle, r->addr);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    if (!ok)
        return srv_error(r, 403, "wrong current password");
    if (srv_write(r, &t) < 0)
        return 0;
    /* Re-read: the account may have changed while scrypt ran. */
    rc = srv_user_get(t, r->user.name, &u, &err);
    if (rc == 0) {
        cv_strlcpy(u.pwhash, newhash, sizeof(u.pwhash));
        rc = srv_user_put(t, &u, &err);
    }
    if (rc == 0)
        rc = srv_session_delete_user(t, u.name, &err);
    rc = srv_audit_commit(r, t, rc, "password-change", u.name, NULL,
                          "own password; sessions ended", &err);
    return session_ended(r, rc, &err);
}
