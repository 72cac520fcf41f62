/*
 * api_users.c: accounts for admins (docs/api.md, "Users").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "server/srv_int.h"
#include "common/banned.h"

/* GET /api/v1/users (a scoped admin's: those of their area) */
SRV_API_LIST_IN_AREA(api_users_list, "users", struct srv_user, srv_user_list, srv_user_json, area)

/* The user of the path (whether the caller may see them is srv_scope_path's check): 0, or
 * answered (404) and -1. */
static int load(struct srv_req *r, struct idx_txn *t, void *rec)
{
    struct cv_err err = {""};
    int rc = srv_user_get(t, r->params[0], rec, &err);

    return srv_path_record(r, rc, true, "user", &err);
}

int api_users_get(struct srv_req *r)
{
    struct srv_user u;

    if (srv_read_path_record(r, load, &u) < 0)
        return 0;
    srv_reply_open(r, 200, "user", false);
    srv_user_json(&r->out, &u);
    return srv_reply_close(r, false);
}

/*
 * The body's "area" and "address" applied to *u (absent: unchanged; area "" or null: none),
 * the change noted in detail[cap]: 0, or answered and -1. An area must exist and lie within
 * the caller's (else 404, as if it did not exist); a caller with an area cannot take one away;
 * only residents have an address (their household's).
 */
static int apply_household(struct srv_req *r, struct idx_txn *t, struct srv_user *u, char *detail,
                           size_t cap)
{
    const char *area = NULL, *addr = NULL;
    struct cv_err err = {""};
    size_t o = strlen(detail);

    if (srv_scope_body_area(r, t, &area) < 0)
        return -1;
    if (cv_json_get_str(r->in, "address", false, &addr, &err) < 0)
        return srv_error(r, 400, "%s", err.msg), -1;
    if (addr && u->role != SRV_ROLE_RESIDENT)
        return srv_error(r, 400, "field 'address': only residents have a household address"), -1;
    if (addr && strlen(addr) >= sizeof(u->address))
        return srv_error(r, 400, "field 'address': longer than %zu bytes",
                         sizeof(u->address) - 1), -1;
    if (area && strcmp(area, u->area) != 0) {
        o += (size_t)snprintf(detail + o, cap > o ? cap - o : 0, "area %s; ", *area ? area : "none");
        cv_strlcpy(u->area, area, sizeof(u->area));
    }
    if (addr && strcmp(addr, u->address) != 0) {
        snprintf(detail + o, cap > o ? cap - o : 0, "address set; ");
        cv_strlcpy(u->address, addr, sizeof(u->address));
    }
    return 0;
}

int api_users_add(struct srv_req *r)
{
    static const char *const fields[] = {"name", "role", "password", "area", "address", NULL};
    char detail[160] = "";
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
    cv_strlcpy(u.area, r->user.area, sizeof(u.area)); /* a scoped admin's users are theirs */
    if (srv_write(r, &t) < 0)
        return 0;
    if (apply_household(r, t, &u, detail, sizeof(detail)) < 0) {
        idx_abort(t);
        return 0;
    }
    rc = srv_user_add(t, &u, &err);
    snprintf(detail, sizeof(detail), "%s%s%s", srv_role_name(u.role), u.area[0] ? "; area " : "",
             u.area);
    rc = srv_audit_commit(r, t, rc, "user-add", u.name, NULL, detail, &err);
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
    static const char *const fields[] = {"role",    "password", "disabled",
                                         "area",    "address",  NULL};
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
    if (!role && !pw && !have_dis && !cv_json_get(r->in, "area") &&
        !cv_json_get(r->in, "address"))
        return srv_error(r, 400, "nothing to change (role, password, disabled, area or address)");
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
        if (apply_household(r, t, &u, detail, sizeof(detail)) < 0) {
            idx_abort(t);
            return 0;
        }
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
