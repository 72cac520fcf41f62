/*
 * api_users.c: accounts for admins (docs/api.md, "Users").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "server/srv_int.h"
#include "common/banned.h"

int api_users_list(struct srv_req *r)
{
    struct srv_user *u = NULL;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    size_t n = 0;
    int rc;

    if (srv_read(r, &t) < 0)
        return 0;
    rc = srv_user_list(t, &u, &n, &err);
    idx_abort(t);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    srv_reply_open(r, 200, "users", true);
    for (size_t i = 0; i < n; i++) {
        srv_reply_sep(r, i);
        srv_user_json(&r->out, &u[i]);
    }
    srv_reply_close(r, true);
    free(u);
    return 0;
}

int api_users_get(struct srv_req *r)
{
    struct srv_user u;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    int rc;

    if (srv_read(r, &t) < 0)
        return 0;
    rc = srv_user_get(t, r->params[0], &u, &err);
    idx_abort(t);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    srv_reply_open(r, 200, "user", false);
    srv_user_json(&r->out, &u);
    return srv_reply_close(r, false);
}

int api_users_add(struct srv_req *r)
{
    static const char *const fields[] = {"name", "role", "password", NULL};
    const char *name = NULL, *role = NULL, *pw = NULL;
    char gen[21] = "";
    struct srv_user u;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    int rc;

    if (srv_body_fields(r, fields) < 0)
        return 0;
    memset(&u, 0, sizeof(u));
    if (cv_json_get_str(r->in, "name", true, &name, &err) < 0 ||
        cv_json_get_str(r->in, "role", true, &role, &err) < 0 ||
        cv_json_get_str(r->in, "password", false, &pw, &err) < 0 ||
        srv_user_name_check(name, &err) < 0 || srv_role_parse(role, &u.role, &err) < 0 ||
        (pw && srv_password_check(pw, &err) < 0))
        return srv_error(r, 400, "%s", err.msg);
    if (!pw) {
        if ((rc = srv_password_generate(gen, &err)) < 0)
            return srv_fail(r, rc, &err);
        pw = gen;
    }
    cv_strlcpy(u.name, name, sizeof(u.name));
    u.created_us = cv_now_us();
    rc = srv_password_hash(pw, NULL, u.pwhash, &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    if (srv_write(r, &t) < 0)
        return 0;
    rc = srv_user_add(t, &u, &err);
    rc = srv_audit_commit(r, t, rc, "user-add", u.name, NULL, srv_role_name(u.role), &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    srv_reply_open(r, 201, "user", false);
    srv_user_json(&r->out, &u);
    if (gen[0])
        cv_buf_printf(&r->out, ",\"password\":\"%s\"", gen);
    return srv_reply_close(r, false);
}

int api_users_edit(struct srv_req *r)
{
    static const char *const fields[] = {"role", "password", "disabled", NULL};
    const char *role = NULL, *pw = NULL;
    char newhash[SRV_PWHASH_MAX] = "", detail[160] = "";
    enum srv_role newrole = 0;
    bool disabled = false, have_dis;
    struct srv_user u;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    int rc;

    if (srv_body_fields(r, fields) < 0)
        return 0;
    if (cv_json_get_str(r->in, "role", false, &role, &err) < 0 ||
        cv_json_get_str(r->in, "password", false, &pw, &err) < 0 ||
        (rc = cv_json_get_bool(r->in, "disabled", false, &disabled, &err)) < 0 ||
        (role && srv_role_parse(role, &newrole, &err) < 0) ||
        (pw && srv_password_check(pw, &err) < 0))
        return srv_error(r, 400, "%s", err.msg);
    have_dis = rc == 0;
    if (!role && !pw && !have_dis)
        return srv_error(r, 400, "nothing to change (role, password or disabled)");
    if (strcmp(r->params[0], r->user.name) == 0 &&
        ((role && newrole != SRV_ROLE_ADMIN) || (have_dis && disabled)))
        return srv_error(r, 409, "an admin cannot demote or disable themself");
    if (pw && (rc = srv_password_hash(pw, NULL, newhash, &err)) < 0)
        return srv_fail(r, rc, &err);
    if (srv_write(r, &t) < 0)
        return 0;
    rc = srv_user_get(t, r->params[0], &u, &err);
    if (rc == 0) {
        size_t o = 0;
        if (role && newrole != u.role)
            o += (size_t)snprintf(detail + o, sizeof(detail) - o, "role %s -> %s; ",
                                  srv_role_name(u.role), srv_role_name(newrole));
        if (pw)
            o += (size_t)snprintf(detail + o, sizeof(detail) - o, "password set; ");
        if (have_dis && disabled != u.disabled)
            snprintf(detail + o, sizeof(detail) - o, "%s; ", disabled ? "disabled" : "enabled");
        if (role)
            u.role = newrole;
        if (pw)
            cv_strlcpy(u.pwhash, newhash, sizeof(u.pwhash));
        if (have_dis)
            u.disabled = disabled;
        if (pw)
            u.locked_until_us = u.fails = 0;
        rc = srv_user_put(t, &u, &err);
    }
    /* Any change of who someone is or how they log in ends their sessions and tokens. */
    if (rc == 0 && detail[0])
        rc = srv_session_delete_user(t, u.name, &err);
    rc = srv_audit_commit(r, t, rc, "user-edit", u.name, NULL, detail[0] ? detail : "no change",
                          &err);
    if (rc < 0)
        return srv_fail(r, rc, &err);
    srv_reply_open(r, 200, "user", false);
    srv_user_json(&r->out, &u);
    return srv_reply_close(r, false);
}
