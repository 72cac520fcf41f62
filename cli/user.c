/*
 * cli/user.c: camvault user add|list|token.
 * Contracts in cli/cli.h.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "server/areas.h"
#include "server/users.h"

#include "cli/cli.h"
#include "common/banned.h"

/* ---- users ---- */

/* One line from stdin without its newline, for --password-stdin. */
static int read_password(char *out, size_t cap, struct cv_err *err)
{
    size_t n;

    if (!fgets(out, (int)cap, stdin))
        return cv_errf(err, CV_EINVAL, "no password on standard input");
    n = strlen(out);
    if (n && out[n - 1] == '\n')
        out[--n] = 0;
    else if (n == cap - 1)
        return cv_errf(err, CV_EINVAL, "password longer than %d bytes", SRV_PASSWORD_MAX);
    if (n && out[n - 1] == '\r')
        out[--n] = 0;
    return srv_password_check(out, err);
}

static int user_add_txn(struct idx_txn *t, void *ctx, struct cv_err *err)
{
    struct srv_user *u = ctx;
    char detail[128];
    int rc = srv_area_check(t, u->area, true, err);

    if (rc == 0)
        rc = srv_user_add(t, u, err);
    snprintf(detail, sizeof(detail), "%s%s%s", srv_role_name(u->role), u->area[0] ? "; area " : "",
             u->area);
    return rc < 0 ? rc : cli_audit(t, "user-add", u->name, NULL, detail, err);
}

/* --area and --address of `user add|edit` (NULL: not given), checked and applied to *u. */
struct household {
    const char *area, *address;
};

static int household_check(const char *cmd, const struct household *h, struct cv_err *err)
{
    if (h->area && *h->area && lay_id_check("area", h->area, err) < 0)
        return cli_usage_error(cmd, "%s", err->msg);
    if (h->address && strlen(h->address) >= IDX_TEXT_MAX)
        return cli_usage_error(cmd, "--address is longer than %d bytes", IDX_TEXT_MAX - 1);
    return 0;
}

static int household_apply(struct idx_txn *t, const struct household *h, struct srv_user *u,
                           struct cv_err *err)
{
    int rc = h->area ? srv_area_check(t, h->area, true, err) : 0;

    if (rc < 0)
        return rc;
    if (h->address && u->role != SRV_ROLE_RESIDENT)
        return cv_errf(err, CV_EINVAL, "user '%s': only residents have a household address "
                       "(--address)", u->name);
    if (h->area)
        cv_strlcpy(u->area, h->area, sizeof(u->area));
    if (h->address)
        cv_strlcpy(u->address, h->address, sizeof(u->address));
    return 0;
}

struct user_edit {
    const char *name;
    struct household h;
};

static int user_edit_txn(struct idx_txn *t, void *ctx, struct cv_err *err)
{
    struct user_edit *e = ctx;
    struct srv_user u;
    char detail[160];
    int rc = srv_user_get(t, e->name, &u, err);

    if (rc == 0)
        rc = household_apply(t, &e->h, &u, err);
    if (rc == 0)
        rc = srv_user_put(t, &u, err);
    snprintf(detail, sizeof(detail), "%s%s%s%s", e->h.area ? "area " : "",
             e->h.area ? (*e->h.area ? e->h.area : "none") : "", e->h.area ? "; " : "",
             e->h.address ? "address set; " : "");
    return rc < 0 ? rc : cli_audit(t, "user-edit", u.name, NULL, detail, err);
}

struct user_token {
    const char *name;
    int64_t days_us;
    char token[SRV_TOKEN_LEN + 1];
    struct srv_session sess;
};

static int user_token_txn(struct idx_txn *t, void *ctx, struct cv_err *err)
{
    struct user_token *ut = ctx;
    struct srv_user u;
    char detail[64], ts[48];
    int rc = srv_user_get(t, ut->name, &u, err);

    if (rc == 0 && u.disabled)
        rc = cv_errf(err, CV_ESTATE, "user '%s' is disabled", u.name);
    if (rc == 0)
        rc = srv_session_create(t, u.name, SRV_SESSION_BEARER, cv_now_us(), ut->days_us,
                                ut->token, &ut->sess, err);
    if (rc < 0)
        return rc;
    cv_time_format_utc(ut->sess.expires_us, ts, sizeof(ts), 0);
    snprintf(detail, sizeof(detail), "bearer token until %s", ts);
    return cli_audit(t, "token-create", u.name, NULL, detail, err);
}

static int user_add(struct cli_cmdline *cl, int argc, char **argv)
{
    const char *role = NULL;
    bool from_stdin = false;
    struct household h = {NULL, NULL};
    const struct cli_opt opts[] = {{"--role", true, &role, NULL},
                                   {"--password-stdin", false, NULL, &from_stdin},
                                   {"--area", true, &h.area, NULL},
                                   {"--address", true, &h.address, NULL},
                                   {NULL, false, NULL, NULL}};
    char pw[SRV_PASSWORD_MAX + 2];
    struct cv_err err = {""};
    struct srv_user u;

    if (cli_parse_one(cl, argc, argv, opts, false,
                      "expected one user name: user add NAME --role ROLE"))
        return EXIT_USAGE;
    memset(&u, 0, sizeof(u));
    if (srv_user_name_check(cl->pos[0], &err) < 0)
        return cli_usage_error(cl->cmd, "%s", err.msg);
    if (!role)
        return cli_usage_error(cl->cmd, "missing --role (admin, officer, mediator or resident)");
    if (srv_role_parse(role, &u.role, &err) < 0)
        return cli_usage_error(cl->cmd, "%s", err.msg);
    if (household_check(cl->cmd, &h, &err))
        return EXIT_USAGE;
    if (h.address && u.role != SRV_ROLE_RESIDENT)
        return cli_usage_error(cl->cmd, "--address: only residents have a household address");
    cv_strlcpy(u.area, h.area ? h.area : "", sizeof(u.area));
    cv_strlcpy(u.address, h.address ? h.address : "", sizeof(u.address));
    if (from_stdin ? read_password(pw, sizeof(pw), &err) < 0 : srv_password_generate(pw, &err) < 0)
        return cli_fail(&err);
    cv_strlcpy(u.name, cl->pos[0], sizeof(u.name));
    u.created_us = cv_now_us();
    if (srv_password_hash(pw, NULL, u.pwhash, &err) < 0 ||
        cli_with_index(cl, user_add_txn, &u, &err) < 0)
        return cli_fail(&err);
    printf("added user %s (%s)\n", u.name, srv_role_name(u.role));
    if (!from_stdin)
        printf("password: %s\n", pw); /* shown once; only its scrypt hash is stored */
    return 0;
}

static int user_edit_cmd(struct cli_cmdline *cl, int argc, char **argv)
{
    struct user_edit e = {NULL, {NULL, NULL}};
    const struct cli_opt opts[] = {{"--area", true, &e.h.area, NULL},
                                   {"--address", true, &e.h.address, NULL},
                                   {NULL, false, NULL, NULL}};
    struct cv_err err = {""};

    if (cli_parse_one(cl, argc, argv, opts, false,
                      "expected one user name: user edit NAME [--area ID] [--address T]"))
        return EXIT_USAGE;
    if (!e.h.area && !e.h.address)
        return cli_usage_error(cl->cmd, "nothing to change (--area or --address)");
    if (household_check(cl->cmd, &e.h, &err))
        return EXIT_USAGE;
    e.name = cl->pos[0];
    if (cli_with_index(cl, user_edit_txn, &e, &err) < 0)
        return cli_fail(&err);
    printf("user %s updated\n", e.name);
    return 0;
}

static int user_token_cmd(struct cli_cmdline *cl, int argc, char **argv)
{
    const char *days = NULL;
    const struct cli_opt opts[] = {{"--days", true, &days, NULL}, {NULL, false, NULL, NULL}};
    struct user_token ut = {.days_us = 30 * 86400 * CV_US_PER_S};
    struct cv_err err = {""};
    double d = 30;

    if (cli_parse_one(cl, argc, argv, opts, false,
                      "expected one user name: user token NAME [--days N]"))
        return EXIT_USAGE;
    if (days && cv_parse_double(days, 1e-6, 3650, &d) < 0)
        return cli_usage_error(cl->cmd, "bad --days '%s': expected a number of days up to 3650",
                               days);
    ut.name = cl->pos[0];
    ut.days_us = (int64_t)(d * 86400 * (double)CV_US_PER_S);
    if (cli_with_index(cl, user_token_txn, &ut, &err) < 0)
        return cli_fail(&err);
    printf("%s\n", ut.token); /* shown once; use as "Authorization: Bearer TOKEN" */
    return 0;
}

CLI_LIST_OF(list_users, srv_user_list)

/* The last login (UTC) of u into ts[48], "never" when none. */
static void last_login(const struct srv_user *u, char *ts)
{
    cv_strlcpy(ts, "never", 48);
    if (u->last_login_us)
        cv_time_format_utc(u->last_login_us, ts, 48, 0);
}

static void user_json(struct cv_buf *b, const void *item)
{
    const struct srv_user *u = item;
    char ts[48];

    last_login(u, ts);
    cv_buf_printf(b, "{\"name\":");
    cv_json_str(b, u->name);
    cv_buf_printf(b, ",\"role\":");
    cv_json_str(b, srv_role_name(u->role));
    cv_buf_printf(b, ",\"disabled\":%s,\"last_login\":", u->disabled ? "true" : "false");
    cv_json_str(b, u->last_login_us ? ts : NULL);
    srv_user_area_json(b, u);
    cv_buf_u8(b, '}');
}

static void user_row(struct cv_buf *b, const void *item)
{
    const struct srv_user *u = item;
    char ts[48];

    last_login(u, ts);
    cv_buf_printf(b, "%-32s %-9s %-9s %s\n", u->name, srv_role_name(u->role),
                  u->disabled ? "disabled" : "active", ts);
}

static int user_list(struct cli_cmdline *cl, int argc, char **argv)
{
    static const struct cli_listing l = {
        list_users, sizeof(struct srv_user), user_json,
        "USER                             ROLE      STATE     LAST LOGIN (UTC)", user_row};

    return cli_run_listing(cl, argc, argv, &l);
}

int cli_cmd_user(int argc, char **argv)
{
    static const struct cli_sub subs[] = {{"add", user_add},
                                          {"edit", user_edit_cmd},
                                          {"list", user_list},
                                          {"token", user_token_cmd},
                                          {NULL, NULL}};

    return cli_run_sub("user", subs, argc, argv);
}
