/*
 * cli/common.c: shared helpers of the command line: option parsing, root and index, time
 * ranges, the CLI audit line.
 * Contracts in cli/cli.h.
 */
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "common/url.h"
#include "server/audit.h"

#include "cli/cli.h"
#include "common/banned.h"

/* ---- option parsing ---- */

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "camvault %s: %s (see 'camvault help')\n", cmd, msg);
    return EXIT_USAGE;
}

/* Whether url cannot be a camera's URL; if so, says why on stderr (the URL without secrets). */
bool cli_bad_url(const char *cmd, const char *url)
{
    char safe[IDX_URL_MAX];
    struct cv_err err = {""};

    if (cv_url_check(url, &err) == 0)
        return false;
    cv_url_redact(url, safe, sizeof(safe));
    cli_usage_error(cmd, "bad --url '%s': %s", safe, err.msg);
    return true;
}

int cli_fail(const struct cv_err *err)
{
    fprintf(stderr, "camvault: %s\n", err->msg);
    return 1;
}

/*
 * Parse argv against `opts` (plus --root and, when json_ok, --json). Positional arguments go to
 * cl->pos, at most `maxpos`. Returns 0 or EXIT_USAGE after printing one line.
 */
int cli_parse(struct cli_cmdline *cl, int argc, char **argv, const struct cli_opt *opts, int maxpos,
              bool json_ok)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq;
        size_t nlen;
        bool matched = false;

        if (strncmp(a, "--", 2) != 0 || strcmp(a, "--") == 0) {
            if (strcmp(a, "--") == 0 && i + 1 < argc)
                a = argv[++i];
            if (cl->npos >= maxpos)
                return cli_usage_error(cl->cmd, "unexpected argument '%s'", a);
            cl->pos[cl->npos++] = a;
            continue;
        }
        eq = strchr(a, '=');
        nlen = eq ? (size_t)(eq - a) : strlen(a);
        if (nlen == 6 && strncmp(a, "--root", 6) == 0) {
            if (eq)
                cl->root = eq + 1;
            else if (i + 1 < argc)
                cl->root = argv[++i];
            else
                return cli_usage_error(cl->cmd, "option '--root' needs a value");
            continue;
        }
        if (json_ok && strcmp(a, "--json") == 0) {
            cl->json = true;
            continue;
        }
        for (const struct cli_opt *o = opts; o && o->name; o++) {
            if (strlen(o->name) != nlen || strncmp(a, o->name, nlen) != 0)
                continue;
            matched = true;
            if (o->takes_value) {
                if (eq)
                    *o->value = eq + 1;
                else if (i + 1 < argc)
                    *o->value = argv[++i];
                else
                    return cli_usage_error(cl->cmd, "option '%s' needs a value", o->name);
            } else {
                if (eq)
                    return cli_usage_error(cl->cmd, "option '%s' takes no value", o->name);
                *o->flag = true;
            }
            break;
        }
        if (!matched)
            return cli_usage_error(cl->cmd, "unknown option '%.*s'", (int)nlen, a);
    }
    return 0;
}

int cli_parse_one(struct cli_cmdline *cl, int argc, char **argv, const struct cli_opt *opts,
                  bool json_ok, const char *expected)
{
    if (cli_parse(cl, argc, argv, opts, 1, json_ok))
        return EXIT_USAGE;
    if (cl->npos != 1)
        return cli_usage_error(cl->cmd, "%s", expected);
    return 0;
}

int cli_resolve_root(struct cli_cmdline *cl, char *root, struct cv_err *err)
{
    return lay_root_resolve(cl->root, root, PATH_MAX, err);
}

/* Open the index of an initialized root (read-only work still uses this). */
int cli_open_index(struct cli_cmdline *cl, char *root, struct idx **idx, struct cv_err *err)
{
    int rc = cli_resolve_root(cl, root, err);

    if (rc < 0)
        return rc;
    return idx_open(idx, root, 0, err);
}

int cli_read_begin(struct cli_cmdline *cl, char *root, struct idx **idx, struct idx_txn **t,
                   struct cv_err *err)
{
    int rc = cli_open_index(cl, root, idx, err);

    if (rc == 0)
        rc = idx_begin(*idx, false, t, err);
    return rc;
}

int cli_read_camera(struct cli_cmdline *cl, char *root, struct idx **idx, struct idx_txn **t,
                    struct idx_camera *cam, struct cv_err *err)
{
    int rc = cli_read_begin(cl, root, idx, t, err);

    if (rc == 0)
        rc = idx_camera_get(*t, cl->pos[0], cam, err);
    return rc;
}

void cli_close_index(struct idx *idx, struct idx_txn *t)
{
    idx_abort(t);
    idx_close(idx);
}

int cli_list_begin(struct cli_reader *r, struct cli_cmdline *cl, int argc, char **argv)
{
    memset(r, 0, sizeof(*r));
    if (cli_parse(cl, argc, argv, NULL, 0, true))
        return EXIT_USAGE;
    if (cli_read_begin(cl, r->root, &r->idx, &r->t, &r->err) < 0) {
        cli_reader_close(r);
        return cli_fail(&r->err);
    }
    return 0;
}

int cli_run_listing(struct cli_cmdline *cl, int argc, char **argv, const struct cli_listing *l)
{
    struct cli_reader r;
    void *items = NULL;
    size_t n = 0;
    struct cv_buf out;
    char too_large[160];
    int rc = cli_list_begin(&r, cl, argc, argv);

    if (rc == 0)
        rc = cli_reader_end(&r, l->list(r.t, &items, &n, &r.err));
    if (rc)
        return rc;
    cv_buf_init(&out, 64u << 20);
    if (cl->json)
        cv_buf_u8(&out, '[');
    else if (l->heading)
        cv_buf_printf(&out, "%s\n", l->heading);
    for (size_t i = 0; i < n; i++) {
        const void *item = (const char *)items + i * l->size;
        if (cl->json && i)
            cv_buf_u8(&out, ',');
        (cl->json ? l->json : l->row)(&out, item);
    }
    if (cl->json)
        cv_buf_printf(&out, "]\n");
    free(items);
    snprintf(too_large, sizeof(too_large), "%s: output too large", cl->cmd);
    return cli_write_out(&out, too_large);
}

int cli_reader_camera(struct cli_reader *r, struct cli_cmdline *cl, struct idx_camera *cam)
{
    memset(r, 0, sizeof(*r));
    return cli_read_camera(cl, r->root, &r->idx, &r->t, cam, &r->err);
}

void cli_reader_close(struct cli_reader *r)
{
    cli_close_index(r->idx, r->t);
    r->idx = NULL;
    r->t = NULL;
}

int cli_reader_end(struct cli_reader *r, int rc)
{
    cli_reader_close(r);
    return rc < 0 ? cli_fail(&r->err) : 0;
}

/* Open the index of the command's data root, run fn in a write transaction, commit it (abort
 * it when fn fails), close. Every command that changes the index goes through here. */
int cli_with_index(struct cli_cmdline *cl, cli_txn_fn fn, void *ctx, struct cv_err *err)
{
    char root[PATH_MAX];
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    int rc = cli_open_index(cl, root, &idx, err);

    if (rc == 0)
        rc = idx_begin(idx, true, &t, err);
    if (rc == 0)
        rc = fn(t, ctx, err);
    if (rc == 0) {
        rc = idx_commit(t, err);
        t = NULL;
    }
    idx_abort(t);
    idx_close(idx);
    return rc;
}

/* The OS user running this command: the `user` of the command line's audit records. */
const char *cli_os_user(void)
{
    static char name[64];
    struct passwd *pw;

    if (name[0])
        return name;
    pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        cv_strlcpy(name, pw->pw_name, sizeof(name));
    else
        snprintf(name, sizeof(name), "uid %d", (int)geteuid());
    return name;
}

/* --from and --to of a command: both times parse and to is after from; else one usage line
 * (printed) and -1. */
int cli_parse_range(const char *cmd, const char *from_s, const char *to_s, int64_t *from,
                    int64_t *to)
{
    struct cv_err err = {""};

    if (cv_time_parse(from_s, from, &err) < 0 || cv_time_parse(to_s, to, &err) < 0) {
        cli_usage_error(cmd, "%s", err.msg);
        return -1;
    }
    if (*to <= *from) {
        cli_usage_error(cmd, "--to (%s) must be after --from (%s)", to_s, from_s);
        return -1;
    }
    return 0;
}

/* Record a configuration or hold change made from the command line, in the change's own write
 * transaction (so both commit or neither does). */
int cli_audit(struct idx_txn *t, const char *action, const char *target,
              const char *case_id, const char *detail, struct cv_err *err)
{
    struct srv_audit_entry e = {.user = cli_os_user(),
                                .role = "cli",
                                .action = action,
                                .target = target,
                                .case_id = case_id,
                                .detail = detail};
    return srv_audit_append(t, &e, NULL, err);
}

/*
 * Find and remove the subcommand word of "COMMAND [--root R] SUB ...": global options may come
 * before it. On success cl->cmd becomes "COMMAND SUB" (kept in cl's name buffer) and the word is
 * returned; *argc shrinks by one. Without one, prints "expected <subs>" and returns NULL.
 */
const char *cli_take_sub(struct cli_cmdline *cl, const char *command, const char *subs, int *argc,
                         char **argv)
{
    for (int i = 0; i < *argc; i++) {
        const char *sub = argv[i];
        if (strcmp(argv[i], "--root") == 0) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--", 2) == 0)
            continue;
        memmove(argv + i, argv + i + 1, (size_t)(*argc - i - 1) * sizeof(*argv));
        (*argc)--;
        snprintf(cl->name, sizeof(cl->name), "%s %s", command, sub);
        cl->cmd = cl->name;
        return sub;
    }
    cli_usage_error(command, "expected %s", subs);
    return NULL;
}

/* "a, b or c" (last_sep " or ") or "a, b, c" (last_sep ", ") of the names of subs, into buf. */
static void sub_names(const struct cli_sub *subs, const char *last_sep, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (const struct cli_sub *s = subs; s->name && len < size; s++) {
        const char *sep = s == subs ? "" : s[1].name ? ", " : last_sep;
        int w = snprintf(buf + len, size - len, "%s%s", sep, s->name);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

int cli_run_sub(const char *command, const struct cli_sub *subs, int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = command};
    char names[256];
    const char *sub;

    sub_names(subs, " or ", names, sizeof(names));
    sub = cli_take_sub(&cl, command, names, &argc, argv);
    if (!sub)
        return EXIT_USAGE;
    for (const struct cli_sub *s = subs; s->name; s++)
        if (strcmp(sub, s->name) == 0)
            return s->run(&cl, argc, argv);
    sub_names(subs, ", ", names, sizeof(names));
    return cli_usage_error(command, "unknown subcommand '%s' (%s)", sub, names);
}

int cli_write_out(struct cv_buf *out, const char *too_large)
{
    if (!cv_buf_ok(out)) {
        struct cv_err err = {""};
        cv_buf_release(out);
        snprintf(err.msg, sizeof(err.msg), "%s", too_large);
        return cli_fail(&err);
    }
    fwrite(out->data, 1, out->len, stdout);
    cv_buf_release(out);
    return 0;
}
