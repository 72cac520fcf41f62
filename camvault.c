/*
 * camvault.c: main(). Parses the subcommand and its options (table-driven: every command lists
 * its options once), then calls one module. Exit status: 0 success, 1 failure, 2 bad usage.
 * Errors are one line on stderr: "camvault: <what>: <cause>".
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <libavformat/avformat.h>
#include <libavutil/log.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/fileio.h"
#include "common/cvtime.h"
#include "common/log.h"
#include "common/url.h"
#include "exporter/checkpoint.h"
#include "exporter/clip.h"
#include "exporter/export.h"
#include "exporter/keys.h"
#include "exporter/verify.h"
#include "indexer/fsck.h"
#include "indexer/idx.h"
#include "indexer/retention.h"
#include "recorder/rec.h"
#include "server/audit.h"
#include "server/srv.h"
#include "server/users.h"
#include "storage-layout/layout.h"
#include "common/banned.h"

#define EXIT_USAGE 2
#define MAX_POS 8

/* ---- option parsing ---- */

struct opt {
    const char *name;  /* "--url" */
    bool takes_value;
    const char **value; /* for options with a value */
    bool *flag;         /* for flags */
};

struct cmdline {
    const char *cmd; /* "camera add", for messages */
    char name[48];   /* storage for cmd when it is built from a subcommand */
    const char *pos[MAX_POS];
    int npos;
    const char *root;
    bool json;
};

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...)
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
static bool bad_url(const char *cmd, const char *url)
{
    char safe[IDX_URL_MAX];
    struct cv_err err = {""};

    if (cv_url_check(url, &err) == 0)
        return false;
    cv_url_redact(url, safe, sizeof(safe));
    usage_error(cmd, "bad --url '%s': %s", safe, err.msg);
    return true;
}

static int fail(const struct cv_err *err)
{
    fprintf(stderr, "camvault: %s\n", err->msg);
    return 1;
}

/*
 * Parse argv against `opts` (plus --root and, when json_ok, --json). Positional arguments go to
 * cl->pos, at most `maxpos`. Returns 0 or EXIT_USAGE after printing one line.
 */
static int parse(struct cmdline *cl, int argc, char **argv, const struct opt *opts, int maxpos,
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
                return usage_error(cl->cmd, "unexpected argument '%s'", a);
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
                return usage_error(cl->cmd, "option '--root' needs a value");
            continue;
        }
        if (json_ok && strcmp(a, "--json") == 0) {
            cl->json = true;
            continue;
        }
        for (const struct opt *o = opts; o && o->name; o++) {
            if (strlen(o->name) != nlen || strncmp(a, o->name, nlen) != 0)
                continue;
            matched = true;
            if (o->takes_value) {
                if (eq)
                    *o->value = eq + 1;
                else if (i + 1 < argc)
                    *o->value = argv[++i];
                else
                    return usage_error(cl->cmd, "option '%s' needs a value", o->name);
            } else {
                if (eq)
                    return usage_error(cl->cmd, "option '%s' takes no value", o->name);
                *o->flag = true;
            }
            break;
        }
        if (!matched)
            return usage_error(cl->cmd, "unknown option '%.*s'", (int)nlen, a);
    }
    return 0;
}

static int resolve_root(struct cmdline *cl, char *root, struct cv_err *err)
{
    return lay_root_resolve(cl->root, root, PATH_MAX, err);
}

/* Open the index of an initialized root (read-only work still uses this). */
static int open_index(struct cmdline *cl, char *root, struct idx **idx, struct cv_err *err)
{
    int rc = resolve_root(cl, root, err);

    if (rc < 0)
        return rc;
    return idx_open(idx, root, 0, err);
}

/* Work done inside one write transaction of the index. */
typedef int (*txn_fn)(struct idx_txn *t, void *ctx, struct cv_err *err);

/* Open the index of the command's data root, run fn in a write transaction, commit it (abort
 * it when fn fails), close. Every command that changes the index goes through here. */
static int with_index(struct cmdline *cl, txn_fn fn, void *ctx, struct cv_err *err)
{
    char root[PATH_MAX];
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    int rc = open_index(cl, root, &idx, err);

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
static const char *os_user(void)
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
static int parse_range(const char *cmd, const char *from_s, const char *to_s, int64_t *from,
                       int64_t *to)
{
    struct cv_err err = {""};

    if (cv_time_parse(from_s, from, &err) < 0 || cv_time_parse(to_s, to, &err) < 0) {
        usage_error(cmd, "%s", err.msg);
        return -1;
    }
    if (*to <= *from) {
        usage_error(cmd, "--to (%s) must be after --from (%s)", to_s, from_s);
        return -1;
    }
    return 0;
}

/* Record a configuration or hold change made from the command line, in the change's own write
 * transaction (so both commit or neither does). */
static int cli_audit(struct idx_txn *t, const char *action, const char *target,
                     const char *case_id, const char *detail, struct cv_err *err)
{
    struct srv_audit_entry e = {.user = os_user(), .role = "cli", .action = action,
                                .target = target, .case_id = case_id, .detail = detail};
    return srv_audit_append(t, &e, NULL, err);
}

/* ---- init ---- */

static int cmd_init(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "init"};
    char root[PATH_MAX], site[33];
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    bool existed;
    int keys = 0;
    int rc;

    if (parse(&cl, argc, argv, NULL, 0, false))
        return EXIT_USAGE;
    if (resolve_root(&cl, root, &err) < 0)
        return fail(&err);
    existed = lay_root_check(root, NULL) == 0;
    rc = lay_root_create(root, &err);
    if (rc == 0)
        rc = idx_open(&idx, root, IDX_CREATE, &err);
    if (rc == 0)
        rc = idx_begin(idx, false, &t, &err);
    if (rc == 0)
        rc = idx_site_id(t, site, &err);
    idx_abort(t);
    idx_close(idx);
    if (rc == 0)
        rc = exp_keys_create(root, site, &keys, &err);
    if (rc < 0)
        return fail(&err);
    printf("%s camvault data root %s (site %s)\n", existed ? "already initialized:" : "initialized",
           root, site);
    if (keys)
        printf("created the site signing key and certificates in %s/keys (see 'camvault keys "
               "show')\n", root);
    return 0;
}

/* ---- camera ---- */

static void status_words(const struct idx_status *st, bool have, char *out, size_t n)
{
    if (!have)
        snprintf(out, n, "never recorded");
    else if (st->online)
        snprintf(out, n, "online");
    else
        snprintf(out, n, "offline: %s", st->reason);
}

static void camera_json(struct cv_buf *b, const struct idx_camera *c, const struct idx_status *st,
                        bool have_st)
{
    char url[IDX_URL_MAX], ts[48];

    cv_url_redact(c->url, url, sizeof(url)); /* never print camera passwords */
    cv_buf_u8(b, '{');
    cv_json_key(b, "id");
    cv_json_str(b, c->id);
    cv_buf_printf(b, ",\"enabled\":%s,\"public\":%s,", c->enabled ? "true" : "false",
                  c->is_public ? "true" : "false");
    cv_json_key(b, "url");
    cv_json_str(b, url);
    cv_buf_u8(b, ',');
    cv_json_key(b, "name");
    cv_json_str(b, c->name);
    cv_buf_u8(b, ',');
    cv_json_key(b, "location");
    cv_json_str(b, c->location);
    cv_buf_printf(b, ",\"transport\":\"%s\",\"retention_days\":%.6g,",
                  c->transport == IDX_TRANSPORT_UDP ? "udp" : "tcp", c->retention_days);
    cv_json_key(b, "volume");
    cv_json_str(b, c->volume);
    cv_buf_printf(b, ",\"status\":");
    if (!have_st) {
        cv_buf_printf(b, "null}");
        return;
    }
    cv_buf_printf(b, "{\"online\":%s,", st->online ? "true" : "false");
    cv_json_key(b, "reason");
    cv_json_str(b, st->reason);
    cv_time_format_utc(st->last_frame_us, ts, sizeof(ts), 3);
    cv_buf_printf(b, ",\"last_frame\":");
    cv_json_str(b, st->last_frame_us > 0 ? ts : NULL);
    cv_time_format_utc(st->since_us, ts, sizeof(ts), 3);
    cv_buf_printf(b, ",\"since\":\"%s\",\"bitrate_bps\":%llu,\"frames\":%llu,\"segments\":%llu,"
                     "\"reconnects\":%llu,",
                  ts, (unsigned long long)st->bitrate_bps, (unsigned long long)st->frames,
                  (unsigned long long)st->segments, (unsigned long long)st->reconnects);
    cv_time_format_utc(st->updated_us, ts, sizeof(ts), 3);
    cv_buf_printf(b, "\"updated\":\"%s\",", ts);
    cv_json_key(b, "codec");
    cv_json_str(b, st->codec);
    cv_buf_printf(b, "}}");
}

static int camera_add_txn(struct idx_txn *t, void *ctx, struct cv_err *err)
{
    struct idx_camera *c = ctx;
    struct idx_volume v;
    int rc = idx_volume_get(t, c->volume, &v, err); /* a camera goes on a known volume */

    if (rc == 0)
        rc = idx_camera_add(t, c, err);
    return rc < 0 ? rc : cli_audit(t, "camera-add", c->id, NULL, c->enabled ? "" : "disabled", err);
}

static int camera_add(struct cmdline *cl, int argc, char **argv)
{
    const char *url = NULL, *name = "", *loc = "", *ret = NULL, *transport = "tcp", *vol = NULL;
    bool pub = false, disabled = false;
    const struct opt opts[] = {
        {"--url", true, &url, NULL},           {"--name", true, &name, NULL},
        {"--location", true, &loc, NULL},      {"--retention-days", true, &ret, NULL},
        {"--public", false, NULL, &pub},       {"--transport", true, &transport, NULL},
        {"--volume", true, &vol, NULL},        {"--disabled", false, NULL, &disabled},
        {NULL, false, NULL, NULL},
    };
    struct idx_camera c;
    struct cv_err err = {""};
    double days = 30;

    if (parse(cl, argc, argv, opts, 1, false))
        return EXIT_USAGE;
    if (cl->npos != 1)
        return usage_error(cl->cmd, "expected one camera id: camera add ID --url URL");
    if (lay_id_check("camera", cl->pos[0], &err) < 0)
        return usage_error(cl->cmd, "%s", err.msg);
    if (!url)
        return usage_error(cl->cmd, "missing --url (rtsp://host[:port]/path)");
    if (bad_url(cl->cmd, url))
        return EXIT_USAGE;
    if (strlen(url) >= IDX_URL_MAX || strlen(name) >= IDX_TEXT_MAX || strlen(loc) >= IDX_TEXT_MAX)
        return usage_error(cl->cmd, "--url, --name or --location is too long");
    if (ret && cv_parse_double(ret, 1e-6, 36500, &days) < 0)
        return usage_error(cl->cmd, "bad --retention-days '%s': expected a positive number",
                           ret);
    if (strcmp(transport, "tcp") != 0 && strcmp(transport, "udp") != 0)
        return usage_error(cl->cmd, "bad --transport '%s': expected tcp or udp", transport);
    if (vol && lay_id_check("volume", vol, &err) < 0)
        return usage_error(cl->cmd, "%s", err.msg);
    memset(&c, 0, sizeof(c));
    cv_strlcpy(c.id, cl->pos[0], sizeof(c.id));
    cv_strlcpy(c.url, url, sizeof(c.url));
    cv_strlcpy(c.name, name, sizeof(c.name));
    cv_strlcpy(c.location, loc, sizeof(c.location));
    cv_strlcpy(c.volume, vol ? vol : LAY_DEFAULT_VOLUME, sizeof(c.volume));
    c.enabled = !disabled;
    c.is_public = pub;
    c.transport = strcmp(transport, "udp") == 0 ? IDX_TRANSPORT_UDP : IDX_TRANSPORT_TCP;
    c.retention_days = days;
    c.created_us = cv_now_us();
    if (with_index(cl, camera_add_txn, &c, &err) < 0)
        return fail(&err);
    printf("added camera %s\n", c.id);
    return 0;
}

static int camera_list_or_show(struct cmdline *cl, int argc, char **argv, bool show)
{
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct idx_camera *cams = NULL, one;
    size_t n = 0;
    char root[PATH_MAX];
    struct cv_buf out;
    int rc;

    if (parse(cl, argc, argv, NULL, show ? 1 : 0, true))
        return EXIT_USAGE;
    if (show && cl->npos != 1)
        return usage_error(cl->cmd, "expected one camera id");
    rc = open_index(cl, root, &idx, &err);
    if (rc == 0)
        rc = idx_begin(idx, false, &t, &err);
    if (rc == 0) {
        if (show) {
            rc = idx_camera_get(t, cl->pos[0], &one, &err);
            cams = &one;
            n = 1;
        } else {
            rc = idx_camera_list(t, &cams, &n, &err);
        }
    }
    if (rc < 0) {
        idx_abort(t);
        idx_close(idx);
        return fail(&err);
    }
    cv_buf_init(&out, 64u << 20);
    if (cl->json && !show)
        cv_buf_u8(&out, '[');
    if (!cl->json && !show)
        cv_buf_printf(&out, "%-20s %-8s %-24s %-24s %s\n", "ID", "ENABLED", "LAST FRAME (UTC)",
                      "STATUS", "NAME");
    for (size_t i = 0; i < n; i++) {
        struct idx_status st;
        bool have = idx_status_get(t, cams[i].num, &st, NULL) == 0;
        char words[IDX_TEXT_MAX + 16], lf[48] = "-";
        if (have && st.last_frame_us > 0)
            cv_time_format_utc(st.last_frame_us, lf, sizeof(lf), 0);
        status_words(&st, have, words, sizeof(words));
        if (cl->json) {
            if (i)
                cv_buf_u8(&out, ',');
            camera_json(&out, &cams[i], &st, have);
        } else if (show) {
            cv_buf_printf(&out,
                          "id:             %s\nname:           %s\nlocation:       %s\n"
                          "enabled:        %s\npublic:         %s\ntransport:      %s\n"
                          "retention days: %g\nvolume:         %s\nstatus:         %s\n"
                          "last frame:     %s\n",
                          cams[i].id, cams[i].name, cams[i].location,
                          cams[i].enabled ? "yes" : "no", cams[i].is_public ? "yes" : "no",
                          cams[i].transport == IDX_TRANSPORT_UDP ? "udp" : "tcp",
                          cams[i].retention_days, cams[i].volume, words, lf);
            if (have)
                cv_buf_printf(&out,
                              "codec:          %s\nbitrate:        %.2f Mbit/s\n"
                              "frames:         %llu\nsegments:       %llu\nreconnects:     %llu\n",
                              st.codec, (double)st.bitrate_bps / 1e6,
                              (unsigned long long)st.frames, (unsigned long long)st.segments,
                              (unsigned long long)st.reconnects);
        } else {
            cv_buf_printf(&out, "%-20s %-8s %-24s %-24.60s %s\n", cams[i].id,
                          cams[i].enabled ? "yes" : "no", lf, words, cams[i].name);
        }
    }
    if (cl->json && !show)
        cv_buf_u8(&out, ']');
    if (cl->json)
        cv_buf_u8(&out, '\n');
    idx_abort(t);
    idx_close(idx);
    if (!show)
        free(cams);
    if (!cv_buf_ok(&out)) {
        cv_buf_release(&out);
        err = (struct cv_err){"camera list: output too large"};
        return fail(&err);
    }
    fwrite(out.data, 1, out.len, stdout);
    cv_buf_release(&out);
    return 0;
}

/* A change to one camera's record: `apply` edits the record read from the index. */
struct camera_change {
    const char *id;
    void (*apply)(struct idx_camera *c, const void *arg);
    const void *arg;
    const char *volume; /* must exist when set */
    const char *action; /* for the audit record: "camera-edit", "retention-set", ... */
    char detail[128];
    struct idx_camera result;
};

static int camera_change_txn(struct idx_txn *t, void *ctx, struct cv_err *err)
{
    struct camera_change *ch = ctx;
    struct idx_volume v;
    int rc = idx_camera_get(t, ch->id, &ch->result, err);

    if (rc == 0 && ch->volume)
        rc = idx_volume_get(t, ch->volume, &v, err);
    if (rc < 0)
        return rc;
    ch->apply(&ch->result, ch->arg);
    rc = idx_camera_update(t, &ch->result, err);
    return rc < 0 ? rc : cli_audit(t, ch->action, ch->result.id, NULL, ch->detail, err);
}

static void set_enabled(struct idx_camera *c, const void *arg)
{
    c->enabled = *(const bool *)arg;
}

static int camera_enable(struct cmdline *cl, int argc, char **argv, bool enable)
{
    struct camera_change ch = {.apply = set_enabled, .arg = &enable,
                               .action = enable ? "camera-enable" : "camera-disable"};
    struct cv_err err = {""};

    if (parse(cl, argc, argv, NULL, 1, false))
        return EXIT_USAGE;
    if (cl->npos != 1)
        return usage_error(cl->cmd, "expected one camera id");
    ch.id = cl->pos[0];
    if (with_index(cl, camera_change_txn, &ch, &err) < 0)
        return fail(&err);
    printf("camera %s %s\n", ch.result.id, enable ? "enabled" : "disabled");
    return 0;
}

/* The edits `camera edit` asked for; NULL fields stay as they are. */
struct camera_edits {
    const char *url, *name, *loc, *transport, *vol;
    bool pub, priv;
};

static void apply_edits(struct idx_camera *c, const void *arg)
{
    const struct camera_edits *e = arg;

    if (e->url)
        cv_strlcpy(c->url, e->url, sizeof(c->url));
    if (e->name)
        cv_strlcpy(c->name, e->name, sizeof(c->name));
    if (e->loc)
        cv_strlcpy(c->location, e->loc, sizeof(c->location));
    if (e->transport)
        c->transport = strcmp(e->transport, "udp") == 0 ? IDX_TRANSPORT_UDP : IDX_TRANSPORT_TCP;
    if (e->vol)
        cv_strlcpy(c->volume, e->vol, sizeof(c->volume));
    if (e->pub || e->priv)
        c->is_public = e->pub;
}

static int camera_edit(struct cmdline *cl, int argc, char **argv)
{
    const char *url = NULL, *name = NULL, *loc = NULL, *transport = NULL, *vol = NULL;
    bool pub = false, priv = false;
    const struct opt opts[] = {
        {"--url", true, &url, NULL},      {"--name", true, &name, NULL},
        {"--location", true, &loc, NULL}, {"--transport", true, &transport, NULL},
        {"--volume", true, &vol, NULL},   {"--public", false, NULL, &pub},
        {"--private", false, NULL, &priv}, {NULL, false, NULL, NULL},
    };
    struct camera_edits ed;
    struct camera_change ch = {.apply = apply_edits, .arg = &ed, .action = "camera-edit"};
    struct cv_err err = {""};

    if (parse(cl, argc, argv, opts, 1, false))
        return EXIT_USAGE;
    if (cl->npos != 1)
        return usage_error(cl->cmd, "expected one camera id");
    ed = (struct camera_edits){url, name, loc, transport, vol, pub, priv};
    if (url && bad_url(cl->cmd, url))
        return EXIT_USAGE;
    if (transport && strcmp(transport, "tcp") != 0 && strcmp(transport, "udp") != 0)
        return usage_error(cl->cmd, "bad --transport '%s': expected tcp or udp", transport);
    if (vol && lay_id_check("volume", vol, &err) < 0)
        return usage_error(cl->cmd, "%s", err.msg);
    if (pub && priv)
        return usage_error(cl->cmd, "--public and --private contradict each other");
    if ((url && strlen(url) >= IDX_URL_MAX) || (name && strlen(name) >= IDX_TEXT_MAX) ||
        (loc && strlen(loc) >= IDX_TEXT_MAX))
        return usage_error(cl->cmd, "--url, --name or --location is too long");
    ch.id = cl->pos[0];
    ch.volume = vol;
    snprintf(ch.detail, sizeof(ch.detail), "%s%s%s%s%s%s%s", url ? "url; " : "",
             name ? "name; " : "", loc ? "location; " : "", transport ? "transport; " : "",
             vol ? "volume; " : "", pub ? "public; " : "", priv ? "private; " : "");
    if (with_index(cl, camera_change_txn, &ch, &err) < 0)
        return fail(&err);
    printf("camera %s updated\n", ch.result.id);
    return 0;
}

/*
 * Find and remove the subcommand word of "COMMAND [--root R] SUB ...": global options may come
 * before it. On success cl->cmd becomes "COMMAND SUB" (kept in cl's name buffer) and the word is
 * returned; *argc shrinks by one. Without one, prints "expected <subs>" and returns NULL.
 */
static const char *take_sub(struct cmdline *cl, const char *command, const char *subs, int *argc,
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
    usage_error(command, "expected %s", subs);
    return NULL;
}

static int cmd_camera(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "camera"};
    const char *sub = take_sub(&cl, "camera", "add, list, show, edit, enable or disable", &argc,
                               argv);

    if (!sub)
        return EXIT_USAGE;
    if (strcmp(sub, "add") == 0)
        return camera_add(&cl, argc, argv);
    if (strcmp(sub, "list") == 0)
        return camera_list_or_show(&cl, argc, argv, false);
    if (strcmp(sub, "show") == 0)
        return camera_list_or_show(&cl, argc, argv, true);
    if (strcmp(sub, "edit") == 0)
        return camera_edit(&cl, argc, argv);
    if (strcmp(sub, "enable") == 0)
        return camera_enable(&cl, argc, argv, true);
    if (strcmp(sub, "disable") == 0)
        return camera_enable(&cl, argc, argv, false);
    return usage_error("camera",
                       "unknown subcommand '%s' (add, list, show, edit, enable, disable)", sub);
}

/* ---- record ---- */

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

struct record_conf {
    struct rec_config *cfg;
};

static int record_conf_cb(void *ctx, const char *key, const char *value, struct cv_err *err)
{
    struct record_conf *rc = ctx;
    int64_t us;

    if (strcmp(key, "segment_seconds") == 0) {
        if (cv_seconds_parse(value, &us, err) < 0)
            return CV_EINVAL;
        rc->cfg->segment_us = us;
        return 0;
    }
    if (strcmp(key, "retention_interval_seconds") == 0) {
        if (cv_seconds_parse(value, &us, err) < 0)
            return CV_EINVAL;
        rc->cfg->retention_us = us;
        return 0;
    }
    if (strcmp(key, "log_level") == 0) {
        int lvl = cv_log_level_parse(value);
        if (lvl < 0)
            return cv_errf(err, CV_EINVAL, "bad log_level '%s'", value);
        cv_log_init("camvault", (enum cv_log_level)lvl);
        return 0;
    }
    /* Keys that belong to other roles are accepted here and checked by their owners. */
    if (strcmp(key, "checkpoint_seconds") == 0) {
        if (cv_seconds_parse(value, &us, err) < 0)
            return CV_EINVAL;
        rc->cfg->checkpoint_us = us;
        return 0;
    }
    if (strcmp(key, "tsa_url") == 0) {
        if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
            char safe[CV_URL_MAX];
            cv_url_redact(value, safe, sizeof(safe));
            return cv_errf(err, CV_EINVAL, "tsa_url '%s' is not an http:// or https:// URL",
                           safe);
        }
        if (cv_strlcpy(rc->cfg->tsa_url, value, sizeof(rc->cfg->tsa_url)) < 0)
            return cv_errf(err, CV_EINVAL, "tsa_url is too long");
        return 0;
    }
    if (strcmp(key, "listen") == 0 || strcmp(key, "site_zone") == 0 ||
        strcmp(key, "exports_max_percent") == 0 ||
        strncmp(key, "http_", 5) == 0) /* http_*: the server's, checked by srv_config_set */
        return 0;
    int sr = srv_request_conf(NULL, key, value, err); /* the server's request limits */
    if (sr <= 0)
        return sr;
    return cv_errf(err, CV_EINVAL, "unknown key '%s'", key);
}

static int cmd_record(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "record"};
    const char *seg = NULL, *level = NULL, *ret = NULL, *cpi = NULL;
    const struct opt opts[] = {
        {"--segment-seconds", true, &seg, NULL},
        {"--checkpoint-interval", true, &cpi, NULL},
        {"--retention-interval", true, &ret, NULL},
        {"--log-level", true, &level, NULL},
        {NULL, false, NULL, NULL},
    };
    struct rec_config cfg;
    struct record_conf rcf = {&cfg};
    struct cv_err err = {""};
    char root[PATH_MAX], conf[PATH_MAX];
    struct sigaction sa;
    int64_t us;

    if (parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    rec_config_defaults(&cfg);
    if (level) {
        int lvl = cv_log_level_parse(level);
        if (lvl < 0)
            return usage_error(cl.cmd, "bad --log-level '%s' (debug, info, warn, error)", level);
        cv_log_init("camvault", (enum cv_log_level)lvl);
    }
    if (resolve_root(&cl, root, &err) < 0)
        return fail(&err);
    if (lay_root_check(root, &err) < 0)
        return fail(&err);
    cv_path_join(conf, sizeof(conf), root, "camvault.conf", NULL);
    if (cv_conf_load(conf, record_conf_cb, &rcf, &err) < 0)
        return fail(&err);
    if (seg) {
        if (cv_seconds_parse(seg, &us, &err) < 0)
            return usage_error(cl.cmd, "%s", err.msg);
        cfg.segment_us = us;
    }
    if (cpi) {
        if (cv_seconds_parse(cpi, &us, &err) < 0)
            return usage_error(cl.cmd, "%s", err.msg);
        cfg.checkpoint_us = us;
    }
    if (ret) {
        if (cv_seconds_parse(ret, &us, &err) < 0)
            return usage_error(cl.cmd, "%s", err.msg);
        cfg.retention_us = us;
    }
    if (cfg.segment_us < CV_US_PER_S)
        return usage_error(cl.cmd, "segment length must be at least 1 second");
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (rec_run(root, &cfg, &stop_flag, &err) < 0)
        return fail(&err);
    return 0;
}


/* ---- volumes ---- */

/* "500M", "2G", "1048576": bytes (K, M, G, T are powers of 1024). */
static int parse_bytes(const char *s, uint64_t *out)
{
    char *end = NULL;
    double v;
    uint64_t mul = 1;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v <= 0)
        return -1;
    switch (*end) {
    case 'K': case 'k': mul = 1ull << 10; end++; break;
    case 'M': case 'm': mul = 1ull << 20; end++; break;
    case 'G': case 'g': mul = 1ull << 30; end++; break;
    case 'T': case 't': mul = 1ull << 40; end++; break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v * (double)mul > 1e18)
        return -1;
    *out = (uint64_t)(v * (double)mul);
    return 0;
}

static int volume_add(struct cmdline *cl, int argc, char **argv)
{
    const char *maxb = NULL;
    const struct opt opts[] = {{"--max-bytes", true, &maxb, NULL}, {NULL, false, NULL, NULL}};
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct idx_volume v;
    char root[PATH_MAX], link[PATH_MAX], real[PATH_MAX];
    struct stat st;
    int rc;

    if (parse(cl, argc, argv, opts, 2, false))
        return EXIT_USAGE;
    if (cl->npos != 2)
        return usage_error(cl->cmd, "expected NAME PATH: volume add NAME PATH [--max-bytes N]");
    if (lay_id_check("volume", cl->pos[0], &err) < 0)
        return usage_error(cl->cmd, "%s", err.msg);
    memset(&v, 0, sizeof(v));
    cv_strlcpy(v.name, cl->pos[0], sizeof(v.name));
    if (maxb && parse_bytes(maxb, &v.max_bytes) < 0)
        return usage_error(cl->cmd, "bad --max-bytes '%s': expected bytes like 500M or 2G", maxb);
    if (stat(cl->pos[1], &st) < 0 || !S_ISDIR(st.st_mode))
        return cv_errf(&err, CV_ENOENT, "volume path '%s' is not a directory", cl->pos[1]),
               fail(&err);
    if (!realpath(cl->pos[1], real))
        return cv_errf(&err, CV_EIO, "cannot resolve '%s': %s", cl->pos[1], strerror(errno)),
               fail(&err);
    rc = open_index(cl, root, &idx, &err);
    if (rc == 0)
        rc = idx_volume_dir(root, v.name, link, sizeof(link), &err);
    if (rc == 0) {
        char here[PATH_MAX];
        /* The volume's files live at ROOT/volumes/<name>: a link to PATH unless PATH is that. */
        if (!(realpath(link, here) && strcmp(here, real) == 0)) {
            if (lstat(link, &st) == 0)
                rc = cv_errf(&err, CV_EEXIST, "'%s' already exists", link);
            else if (symlink(real, link) < 0)
                rc = cv_errf(&err, CV_EIO, "cannot link '%s' to '%s': %s", link, real,
                             strerror(errno));
            else
                cv_fsync_parent(link, NULL);
        }
        cv_strlcpy(v.path, real, sizeof(v.path));
    }
    if (rc == 0)
        rc = idx_begin(idx, true, &t, &err);
    if (rc == 0)
        rc = idx_volume_put(t, &v, &err);
    if (rc == 0)
        rc = cli_audit(t, "volume-add", v.name, NULL, v.path, &err);
    if (rc == 0) {
        rc = idx_commit(t, &err);
        t = NULL;
    }
    idx_abort(t);
    idx_close(idx);
    if (rc < 0)
        return fail(&err);
    printf("volume %s at %s%s\n", v.name, v.path, v.max_bytes ? "" : " (limit: 95% of its filesystem)");
    return 0;
}

/* Oldest present footage of each camera on volume `vol`, as JSON or text. */
static void oldest_per_camera(struct idx_txn *t, const struct idx_camera *cams, size_t n,
                              const char *vol, bool json, struct cv_buf *out);

struct first_ctx {
    const char *vol;
    int64_t start;
};

static int first_cb(void *ctx, const struct idx_segment *s)
{
    struct first_ctx *f = ctx;
    struct lay_segname nm;

    if (!f->vol || (lay_segment_parse(s->path, &nm) == 0 && strcmp(nm.volume, f->vol) == 0)) {
        f->start = s->start_us;
        return 1;
    }
    return 0;
}

static void oldest_per_camera(struct idx_txn *t, const struct idx_camera *cams, size_t n,
                              const char *vol, bool json, struct cv_buf *out)
{
    size_t shown = 0;

    for (size_t i = 0; i < n; i++) {
        struct first_ctx f = {vol, INT64_MIN};
        char ts[48];
        idx_segment_iter(t, cams[i].num, INT64_MIN, INT64_MAX, first_cb, &f, NULL);
        if (f.start == INT64_MIN)
            continue;
        cv_time_format_utc(f.start, ts, sizeof(ts), 0);
        if (json) {
            cv_buf_printf(out, "%s", shown ? "," : "");
            cv_json_key(out, cams[i].id);
            cv_json_str(out, ts);
        } else {
            cv_buf_printf(out, "    oldest %-20s %s\n", cams[i].id, ts);
        }
        shown++;
    }
}

static int volume_list(struct cmdline *cl, int argc, char **argv)
{
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct idx_volume *v = NULL;
    struct idx_camera *cams = NULL;
    size_t n = 0, ncams = 0;
    char root[PATH_MAX];
    struct cv_buf out;
    int rc;

    if (parse(cl, argc, argv, NULL, 0, true))
        return EXIT_USAGE;
    rc = open_index(cl, root, &idx, &err);
    if (rc == 0)
        rc = idx_begin(idx, false, &t, &err);
    if (rc == 0)
        rc = idx_volume_list(t, &v, &n, &err);
    if (rc == 0)
        rc = idx_camera_list(t, &cams, &ncams, &err);
    if (rc < 0) {
        idx_abort(t);
        idx_close(idx);
        return fail(&err);
    }
    cv_buf_init(&out, 16u << 20);
    cv_buf_printf(&out, cl->json ? "[" : "%-12s %12s %12s %12s %9s  %s\n", "VOLUME", "USED MB",
                  "FREE MB", "LIMIT MB", "SEGMENTS", "PATH");
    for (size_t i = 0; i < n; i++) {
        char dir[PATH_MAX];
        struct lay_volume_space sp;
        uint64_t fsfree, limit;
        idx_volume_dir(root, v[i].name, dir, sizeof(dir), NULL);
        lay_volume_space(dir, v[i].max_bytes, &sp);
        fsfree = sp.fs_free;
        limit = sp.limit;
        if (cl->json) {
            cv_buf_printf(&out, "%s{\"name\":", i ? "," : "");
            cv_json_str(&out, v[i].name);
            cv_buf_printf(&out, ",\"path\":");
            cv_json_str(&out, v[i].path[0] ? v[i].path : dir);
            cv_buf_printf(&out,
                          ",\"used_bytes\":%llu,\"free_bytes\":%llu,\"limit_bytes\":%llu,"
                          "\"max_bytes\":%llu,\"segments\":%llu,\"oldest\":{",
                          (unsigned long long)v[i].used_bytes, (unsigned long long)fsfree,
                          (unsigned long long)limit, (unsigned long long)v[i].max_bytes,
                          (unsigned long long)v[i].segments);
            oldest_per_camera(t, cams, ncams, v[i].name, true, &out);
            cv_buf_printf(&out, "}}");
        } else {
            cv_buf_printf(&out, "%-12s %12.1f %12.1f %12.1f %9llu  %s\n", v[i].name,
                          (double)v[i].used_bytes / 1e6, (double)fsfree / 1e6,
                          (double)limit / 1e6, (unsigned long long)v[i].segments,
                          v[i].path[0] ? v[i].path : dir);
            oldest_per_camera(t, cams, ncams, v[i].name, false, &out);
        }
    }
    if (cl->json)
        cv_buf_printf(&out, "]\n");
    idx_abort(t);
    idx_close(idx);
    free(v);
    free(cams);
    fwrite(out.data, 1, out.len, stdout);
    cv_buf_release(&out);
    return 0;
}

static int cmd_volume(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "volume"};
    const char *sub = take_sub(&cl, "volume", "add or list", &argc, argv);

    if (!sub)
        return EXIT_USAGE;
    if (strcmp(sub, "add") == 0)
        return volume_add(&cl, argc, argv);
    if (strcmp(sub, "list") == 0)
        return volume_list(&cl, argc, argv);
    return usage_error("volume", "unknown subcommand '%s' (add, list)", sub);
}

/* ---- retention ---- */

static void print_report(const struct idx_ret_report *rep)
{
    printf("retention: deleted %llu segments (%.1f MB), kept %llu held segments\n",
           (unsigned long long)rep->deleted, (double)rep->deleted_bytes / 1e6,
           (unsigned long long)rep->held_skipped);
    for (size_t i = 0; i < rep->nvolumes; i++) {
        const struct idx_ret_volume *v = &rep->volumes[i];
        printf("volume %s: %.1f MB used of %.1f MB limit%s\n", v->name, (double)v->used_bytes / 1e6,
               (double)v->limit_bytes / 1e6,
               v->only_held_left ? ": over the limit with only held footage left"
               : v->over_limit   ? ": still over the limit"
                                 : "");
    }
    for (size_t i = 0; i < rep->nshort; i++)
        printf("shortfall: camera %s keeps %.3g of the promised %g days\n", rep->short_[i].camera,
               rep->short_[i].kept_days, rep->short_[i].promised_days);
}

static void set_days(struct idx_camera *c, const void *arg)
{
    c->retention_days = *(const double *)arg;
}

static int cmd_retention(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "retention"};
    const char *sub = take_sub(&cl, "retention", "show, set or run", &argc, argv);
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    char root[PATH_MAX];
    int rc;

    if (!sub)
        return EXIT_USAGE;
    if (strcmp(sub, "set") == 0) {
        struct camera_change ch = {.apply = set_days};
        double days;
        if (parse(&cl, argc, argv, NULL, 2, false))
            return EXIT_USAGE;
        if (cl.npos != 2)
            return usage_error(cl.cmd, "expected CAMERA DAYS");
        if (cv_parse_double(cl.pos[1], 1e-6, 36500, &days) < 0)
            return usage_error(cl.cmd, "bad DAYS '%s': expected a positive number (fractions "
                                       "allowed)", cl.pos[1]);
        ch.id = cl.pos[0];
        ch.arg = &days;
        ch.action = "retention-set";
        snprintf(ch.detail, sizeof(ch.detail), "%g days", days);
        if (with_index(&cl, camera_change_txn, &ch, &err) < 0)
            return fail(&err);
        printf("camera %s keeps %g days\n", cl.pos[0], days);
        return 0;
    }
    if (strcmp(sub, "run") == 0) {
        struct idx_ret_report rep;
        if (parse(&cl, argc, argv, NULL, 0, false))
            return EXIT_USAGE;
        rc = open_index(&cl, root, &idx, &err);
        if (rc == 0)
            rc = idx_retention_pass(idx, root, cv_now_us(), 1000000, &rep, &err);
        idx_close(idx);
        if (rc < 0) {
            idx_ret_report_release(&rep);
            return fail(&err);
        }
        print_report(&rep);
        idx_ret_report_release(&rep);
        return 0;
    }
    if (strcmp(sub, "show") == 0) {
        struct idx_camera *cams = NULL;
        size_t n = 0;
        if (parse(&cl, argc, argv, NULL, 0, true))
            return EXIT_USAGE;
        rc = open_index(&cl, root, &idx, &err);
        if (rc == 0)
            rc = idx_begin(idx, false, &t, &err);
        if (rc == 0)
            rc = idx_camera_list(t, &cams, &n, &err);
        if (rc < 0) {
            idx_abort(t);
            idx_close(idx);
            return fail(&err);
        }
        if (cl.json)
            printf("[");
        else
            printf("%-20s %10s %-22s %s\n", "CAMERA", "DAYS", "OLDEST FOOTAGE (UTC)", "VOLUME");
        for (size_t i = 0; i < n; i++) {
            struct first_ctx f = {NULL, INT64_MIN};
            char ts[48] = "-";
            idx_segment_iter(t, cams[i].num, INT64_MIN, INT64_MAX, first_cb, &f, NULL);
            if (f.start != INT64_MIN)
                cv_time_format_utc(f.start, ts, sizeof(ts), 0);
            if (cl.json) {
                struct cv_buf j;
                cv_buf_init(&j, 4096);
                cv_buf_printf(&j, "%s{\"camera\":", i ? "," : "");
                cv_json_str(&j, cams[i].id);
                cv_buf_printf(&j, ",\"retention_days\":%.6g,\"volume\":", cams[i].retention_days);
                cv_json_str(&j, cams[i].volume);
                cv_buf_printf(&j, ",\"oldest\":");
                cv_json_str(&j, f.start == INT64_MIN ? NULL : ts);
                cv_buf_u8(&j, '}');
                fwrite(j.data, 1, j.len, stdout);
                cv_buf_release(&j);
            } else
                printf("%-20s %10g %-22s %s\n", cams[i].id, cams[i].retention_days, ts,
                       cams[i].volume);
        }
        if (cl.json)
            printf("]\n");
        idx_abort(t);
        idx_close(idx);
        free(cams);
        return 0;
    }
    return usage_error("retention", "unknown subcommand '%s' (show, set, run)", sub);
}

/* ---- query ---- */

static void hold_json(struct cv_buf *b, const struct idx_hold *h);

struct query_item {
    bool is_gap;
    struct idx_segment seg;
    struct idx_gap gap;
};

struct query_acc {
    struct query_item *items;
    size_t n, cap;
    bool oom;
};

static struct query_item *acc_add(struct query_acc *a)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        struct query_item *p = realloc(a->items, cap * sizeof(*p));
        if (!p) {
            a->oom = true;
            return NULL;
        }
        a->items = p;
        a->cap = cap;
    }
    memset(&a->items[a->n], 0, sizeof(a->items[0]));
    return &a->items[a->n++];
}

static int acc_seg(void *ctx, const struct idx_segment *s)
{
    struct query_item *it = acc_add(ctx);

    if (!it)
        return CV_ENOMEM;
    it->seg = *s;
    return 0;
}

static int acc_gap(void *ctx, const struct idx_gap *g)
{
    struct query_item *it = acc_add(ctx);

    if (!it)
        return CV_ENOMEM;
    it->is_gap = true;
    it->gap = *g;
    return 0;
}

static int64_t item_start(const struct query_item *it)
{
    return it->is_gap ? it->gap.start_us : it->seg.start_us;
}

static int item_cmp(const void *a, const void *b)
{
    int64_t x = item_start(a), y = item_start(b);
    return x < y ? -1 : x > y;
}


static int cmd_query(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "query"};
    const char *from_s = NULL, *to_s = NULL;
    const struct opt opts[] = {
        {"--from", true, &from_s, NULL},
        {"--to", true, &to_s, NULL},
        {NULL, false, NULL, NULL},
    };
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct idx_camera cam;
    struct query_acc acc = {0};
    struct idx_hold *holds = NULL;
    size_t nholds = 0;
    char root[PATH_MAX];
    int64_t from, to;
    struct cv_buf out;
    int rc;

    if (parse(&cl, argc, argv, opts, 1, true))
        return EXIT_USAGE;
    if (cl.npos != 1)
        return usage_error(cl.cmd, "expected one camera id: query CAMERA --from T --to T");
    if (!from_s || !to_s)
        return usage_error(cl.cmd, "missing --from or --to (RFC 3339 or @UNIXSECONDS)");
    if (parse_range(cl.cmd, from_s, to_s, &from, &to) < 0)
        return EXIT_USAGE;
    rc = open_index(&cl, root, &idx, &err);
    if (rc == 0)
        rc = idx_begin(idx, false, &t, &err);
    if (rc == 0)
        rc = idx_camera_get(t, cl.pos[0], &cam, &err);
    if (rc == 0)
        rc = idx_segment_iter(t, cam.num, from, to, acc_seg, &acc, &err);
    if (rc == 0)
        rc = idx_gap_iter(t, cam.num, from, to, acc_gap, &acc, &err);
    if (rc == 0)
        rc = idx_hold_list(t, &holds, &nholds, &err);
    idx_abort(t);
    idx_close(idx);
    if (rc == 0 && acc.oom)
        rc = cv_errf(&err, CV_ENOMEM, "out of memory listing camera '%s'", cam.id);
    if (rc < 0) {
        free(acc.items);
        free(holds);
        return fail(&err);
    }
    if (acc.n > 1) /* acc.items is NULL when empty: qsort(NULL, 0) is undefined */
        qsort(acc.items, acc.n, sizeof(acc.items[0]), item_cmp);
    cv_buf_init(&out, 1u << 30);
    if (cl.json) {
        size_t nseg = 0;
        cv_buf_printf(&out, "{\"camera\":");
        cv_json_str(&out, cam.id);
        cv_buf_u8(&out, ',');
        cv_json_time(&out, "from", from);
        cv_buf_u8(&out, ',');
        cv_json_time(&out, "to", to);
        cv_buf_printf(&out, ",\"segments\":[");
        for (size_t i = 0; i < acc.n; i++) {
            const struct idx_segment *s = &acc.items[i].seg;
            char sha[65], chain[65];
            if (acc.items[i].is_gap)
                continue;
            cv_hex(s->sha256, 32, sha);
            cv_hex(s->chain, 32, chain);
            cv_buf_printf(&out, "%s{", nseg++ ? "," : "");
            cv_json_time(&out, "start", s->start_us);
            cv_buf_u8(&out, ',');
            cv_json_time(&out, "end", s->end_us);
            cv_buf_printf(&out, ",\"path\":");
            cv_json_str(&out, s->path);
            cv_buf_printf(&out,
                          ",\"bytes\":%llu,\"frames\":%u,\"keyframes\":%u,\"audio_frames\":%u,"
                          "\"fragments\":%u,\"video\":",
                          (unsigned long long)s->bytes, s->frames, s->keyframes, s->audio_frames,
                          s->fragments);
            cv_json_str(&out, s->video);
            cv_buf_printf(&out, ",\"audio\":");
            cv_json_str(&out, s->audio);
            cv_buf_printf(&out,
                          ",\"sha256\":\"%s\",\"chain\":\"%s\",\"run_id\":%llu,\"run_seq\":%u,"
                          "\"recovered\":%s,\"durable\":%s,\"shifted\":%s",
                          sha, chain, (unsigned long long)s->run_id, s->run_seq,
                          s->flags & IDX_SEG_RECOVERED ? "true" : "false",
                          s->flags & IDX_SEG_NOT_DURABLE ? "false" : "true",
                          s->flags & IDX_SEG_SHIFTED ? "true" : "false");
            if (s->flags & IDX_SEG_SHIFTED) {
                cv_buf_u8(&out, ',');
                cv_json_time(&out, "received_start", s->recv_start_us);
            }
            cv_buf_u8(&out, '}');
        }
        cv_buf_printf(&out, "],\"gaps\":[");
        nseg = 0;
        for (size_t i = 0; i < acc.n; i++) {
            const struct idx_gap *g = &acc.items[i].gap;
            if (!acc.items[i].is_gap)
                continue;
            cv_buf_printf(&out, "%s{", nseg++ ? "," : "");
            cv_json_time(&out, "start", g->start_us);
            cv_buf_u8(&out, ',');
            cv_json_time(&out, "end", g->end_us);
            cv_buf_printf(&out, ",\"reason\":\"%s\",\"detail\":", idx_gap_reason_name(g->reason));
            cv_json_str(&out, g->detail);
            cv_buf_u8(&out, '}');
        }
        cv_buf_printf(&out, "],\"holds\":[");
        nseg = 0;
        for (size_t i = 0; i < nholds; i++) {
            bool mine = false;
            for (uint32_t j = 0; j < holds[i].ncameras; j++)
                mine |= strcmp(holds[i].cameras[j], cam.id) == 0;
            if (!mine || holds[i].to_us <= from || holds[i].from_us >= to)
                continue;
            cv_buf_printf(&out, "%s", nseg++ ? "," : "");
            hold_json(&out, &holds[i]);
        }
        cv_buf_printf(&out, "]}\n");
    } else {
        char a[48], b[48], l[48];
        cv_time_format_utc(from, a, sizeof(a), 0);
        cv_time_format_utc(to, b, sizeof(b), 0);
        cv_time_format_local(from, l, sizeof(l), 0);
        cv_buf_printf(&out, "camera %s from %s to %s (local %s)\n", cam.id, a, b, l);
        for (size_t i = 0; i < acc.n; i++) {
            const struct query_item *it = &acc.items[i];
            int64_t s = item_start(it), e = it->is_gap ? it->gap.end_us : it->seg.end_us;
            cv_time_format_utc(s, a, sizeof(a), 3);
            cv_time_format_utc(e, b, sizeof(b), 3);
            cv_time_format_local(s, l, sizeof(l), 3);
            if (it->is_gap)
                cv_buf_printf(&out, "gap      %s  %s  %9.3fs  local %s  %s: %s\n", a, b,
                              (double)(e - s) / 1e6, l, idx_gap_reason_name(it->gap.reason),
                              it->gap.detail);
            else
                cv_buf_printf(&out, "segment  %s  %s  %9.3fs  local %s  %6u frames %8.1f kB  %s%s\n",
                              a, b, (double)(e - s) / 1e6, l, it->seg.frames,
                              (double)it->seg.bytes / 1e3, it->seg.path,
                              it->seg.flags & IDX_SEG_RECOVERED ? "  (recovered)" : "");
            if (!it->is_gap && (it->seg.flags & IDX_SEG_SHIFTED)) {
                cv_time_format_utc(it->seg.recv_start_us, a, sizeof(a), 3);
                cv_buf_printf(&out, "         shifted: received at %s by the recorder's clock\n",
                              a);
            }
        }
        for (size_t i = 0; i < nholds; i++) {
            bool mine = false;
            for (uint32_t j = 0; j < holds[i].ncameras; j++)
                mine |= strcmp(holds[i].cameras[j], cam.id) == 0;
            if (!mine || holds[i].to_us <= from || holds[i].from_us >= to)
                continue;
            cv_time_format_utc(holds[i].from_us, a, sizeof(a), 3);
            cv_time_format_utc(holds[i].to_us, b, sizeof(b), 3);
            cv_time_format_local(holds[i].from_us, l, sizeof(l), 3);
            cv_buf_printf(&out, "hold     %s  %s  %9.3fs  local %s  hold %llu case %s (%s)%s\n", a,
                          b, (double)(holds[i].to_us - holds[i].from_us) / 1e6, l,
                          (unsigned long long)holds[i].id, holds[i].case_id,
                          holds[i].released_us ? "released" : "active",
                          holds[i].why[0] ? "" : "");
        }
        if (acc.n == 0)
            cv_buf_printf(&out, "nothing recorded in this range\n");
    }
    free(acc.items);
    free(holds);
    if (!cv_buf_ok(&out)) {
        cv_buf_release(&out);
        err = (struct cv_err){"query: output too large; ask for a shorter range"};
        return fail(&err);
    }
    fwrite(out.data, 1, out.len, stdout);
    cv_buf_release(&out);
    return 0;
}


/* ---- holds ---- */

static void hold_json(struct cv_buf *b, const struct idx_hold *h)
{
    char ts[48];

    cv_buf_printf(b, "{\"id\":%llu,\"case\":", (unsigned long long)h->id);
    cv_json_str(b, h->case_id);
    cv_buf_printf(b, ",\"cameras\":[");
    for (uint32_t i = 0; i < h->ncameras; i++) {
        cv_buf_printf(b, "%s", i ? "," : "");
        cv_json_str(b, h->cameras[i]);
    }
    cv_buf_printf(b, "],");
    cv_json_time(b, "from", h->from_us);
    cv_buf_u8(b, ',');
    cv_json_time(b, "to", h->to_us);
    cv_time_format_utc(h->until_us, ts, sizeof(ts), 0);
    cv_buf_printf(b, ",\"until\":");
    cv_json_str(b, h->until_us ? ts : NULL);
    cv_buf_printf(b, ",\"by\":");
    cv_json_str(b, h->who);
    cv_buf_printf(b, ",\"reason\":");
    cv_json_str(b, h->why);
    cv_time_format_utc(h->released_us, ts, sizeof(ts), 0);
    cv_buf_printf(b, ",\"released\":");
    cv_json_str(b, h->released_us ? ts : NULL);
    cv_buf_printf(b, ",\"active\":%s}", idx_hold_covers(h, h->ncameras ? h->cameras[0] : "",
                                                         h->from_us, h->to_us, cv_now_us())
                                            ? "true"
                                            : "false");
}

/* Every camera of the hold must exist; then store it. */
static int hold_add_txn(struct idx_txn *t, void *ctx, struct cv_err *err)
{
    struct idx_hold *h = ctx;
    struct idx_camera c;
    int rc;

    for (uint32_t i = 0; i < h->ncameras; i++) {
        rc = idx_camera_get(t, h->cameras[i], &c, err);
        if (rc < 0)
            return rc;
    }
    if ((rc = idx_hold_add(t, h, err)) == 0) {
        char target[32], detail[IDX_HOLD_CAMERAS * (LAY_ID_MAX + 2) + 100], a[48], b[48];
        size_t o = 0;
        snprintf(target, sizeof(target), "hold %llu", (unsigned long long)h->id);
        for (uint32_t i = 0; i < h->ncameras; i++)
            o += (size_t)snprintf(detail + o, sizeof(detail) - o, "%s%s", i ? "," : "cameras ",
                                  h->cameras[i]);
        cv_time_format_utc(h->from_us, a, sizeof(a), 3);
        cv_time_format_utc(h->to_us, b, sizeof(b), 3);
        snprintf(detail + o, sizeof(detail) - o, " %s..%s by %s", a, b, h->who);
        rc = cli_audit(t, "hold-add", target, h->case_id, detail, err);
    }
    return rc;
}

static int hold_add(struct cmdline *cl, int argc, char **argv)
{
    const char *case_id = NULL, *cams = NULL, *from_s = NULL, *to_s = NULL, *until_s = NULL,
               *why = "", *who = NULL;
    const struct opt opts[] = {
        {"--case", true, &case_id, NULL}, {"--camera", true, &cams, NULL},
        {"--from", true, &from_s, NULL},  {"--to", true, &to_s, NULL},
        {"--until", true, &until_s, NULL}, {"--reason", true, &why, NULL},
        {"--by", true, &who, NULL},       {NULL, false, NULL, NULL},
    };
    struct cv_err err = {""};
    struct idx_hold h;
    char list[IDX_HOLD_CAMERAS * (LAY_ID_MAX + 2)], *save = NULL;

    if (parse(cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (!case_id || !cams || !from_s || !to_s)
        return usage_error(cl->cmd, "needs --case, --camera, --from and --to");
    memset(&h, 0, sizeof(h));
    if (parse_range(cl->cmd, from_s, to_s, &h.from_us, &h.to_us) < 0)
        return EXIT_USAGE;
    if (until_s && cv_time_parse(until_s, &h.until_us, &err) < 0)
        return usage_error(cl->cmd, "%s", err.msg);
    if (strlen(case_id) >= sizeof(h.case_id) || strlen(why) >= sizeof(h.why) ||
        cv_strlcpy(list, cams, sizeof(list)) < 0)
        return usage_error(cl->cmd, "--case, --camera or --reason is too long");
    cv_strlcpy(h.case_id, case_id, sizeof(h.case_id));
    cv_strlcpy(h.why, why, sizeof(h.why));
    if (!who)
        who = getenv("USER") ? getenv("USER") : "cli";
    cv_strlcpy(h.who, who, sizeof(h.who));
    for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        if (h.ncameras == IDX_HOLD_CAMERAS)
            return usage_error(cl->cmd, "at most %d cameras per hold", IDX_HOLD_CAMERAS);
        if (lay_id_check("camera", c, &err) < 0)
            return usage_error(cl->cmd, "%s", err.msg);
        cv_strlcpy(h.cameras[h.ncameras++], c, sizeof(h.cameras[0]));
    }
    if (!h.ncameras)
        return usage_error(cl->cmd, "--camera needs at least one camera id");
    h.created_us = cv_now_us();
    if (with_index(cl, hold_add_txn, &h, &err) < 0)
        return fail(&err);
    printf("hold %llu placed on %s for case %s\n", (unsigned long long)h.id, cams, h.case_id);
    return 0;
}

struct hold_release {
    uint64_t id;
    const char *by;
};

static int hold_release_txn(struct idx_txn *t, void *ctx, struct cv_err *err)
{
    struct hold_release *rel = ctx;
    struct idx_hold h;
    int rc = idx_hold_get(t, rel->id, &h, err);

    if (rc < 0)
        return rc;
    if (h.released_us)
        return cv_errf(err, CV_ESTATE, "hold %llu was already released",
                       (unsigned long long)rel->id);
    h.released_us = cv_now_us();
    cv_strlcpy(h.released_by, rel->by, sizeof(h.released_by));
    rc = idx_hold_put(t, &h, err);
    if (rc == 0) {
        char target[32], detail[IDX_TEXT_MAX + 8];
        snprintf(target, sizeof(target), "hold %llu", (unsigned long long)h.id);
        snprintf(detail, sizeof(detail), "by %s", rel->by);
        rc = cli_audit(t, "hold-release", target, h.case_id, detail, err);
    }
    return rc;
}

static int cmd_hold(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "hold"};
    const char *sub = take_sub(&cl, "hold", "add, list or release", &argc, argv), *who = NULL;
    const struct opt ropts[] = {{"--by", true, &who, NULL}, {NULL, false, NULL, NULL}};
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    char root[PATH_MAX];
    int rc;

    if (!sub)
        return EXIT_USAGE;
    if (strcmp(sub, "add") == 0)
        return hold_add(&cl, argc, argv);
    if (strcmp(sub, "list") == 0) {
        struct idx_hold *h = NULL;
        size_t n = 0;
        struct cv_buf out;
        if (parse(&cl, argc, argv, NULL, 0, true))
            return EXIT_USAGE;
        rc = open_index(&cl, root, &idx, &err);
        if (rc == 0)
            rc = idx_begin(idx, false, &t, &err);
        if (rc == 0)
            rc = idx_hold_list(t, &h, &n, &err);
        idx_abort(t);
        idx_close(idx);
        if (rc < 0)
            return fail(&err);
        cv_buf_init(&out, 64u << 20);
        if (cl.json)
            cv_buf_u8(&out, '[');
        for (size_t i = 0; i < n; i++) {
            if (cl.json) {
                cv_buf_printf(&out, "%s", i ? "," : "");
                hold_json(&out, &h[i]);
            } else {
                char a[48], b[48];
                cv_time_format_utc(h[i].from_us, a, sizeof(a), 0);
                cv_time_format_utc(h[i].to_us, b, sizeof(b), 0);
                cv_buf_printf(&out, "hold %llu  case %s  %s .. %s  cameras", 
                              (unsigned long long)h[i].id, h[i].case_id, a, b);
                for (uint32_t j = 0; j < h[i].ncameras; j++)
                    cv_buf_printf(&out, "%s%s", j ? "," : " ", h[i].cameras[j]);
                cv_buf_printf(&out, "  %s%s\n", h[i].released_us ? "released" : "active",
                              h[i].why[0] ? "" : "");
            }
        }
        if (cl.json)
            cv_buf_printf(&out, "]\n");
        fwrite(out.data, 1, out.len, stdout);
        cv_buf_release(&out);
        free(h);
        return 0;
    }
    if (strcmp(sub, "release") == 0) {
        struct hold_release rel;
        int64_t id;
        if (parse(&cl, argc, argv, ropts, 1, false))
            return EXIT_USAGE;
        if (cl.npos != 1 || cv_parse_i64(cl.pos[0], 1, INT64_MAX, &id) < 0)
            return usage_error(cl.cmd, "expected one hold id (a number)");
        rel.id = (uint64_t)id;
        rel.by = who ? who : getenv("USER") ? getenv("USER") : "cli";
        if (with_index(&cl, hold_release_txn, &rel, &err) < 0)
            return fail(&err);
        printf("hold %lld released\n", (long long)id);
        return 0;
    }
    return usage_error("hold", "unknown subcommand '%s' (add, list, release)", sub);
}

/* ---- fsck ---- */

static void fsck_line(void *ctx, const char *line)
{
    (void)ctx;
    printf("%s\n", line);
    fflush(stdout);
}

static int cmd_fsck(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "fsck"};
    bool repair = false, rebuild = false;
    const struct opt opts[] = {
        {"--repair", false, NULL, &repair},
        {"--rebuild", false, NULL, &rebuild},
        {NULL, false, NULL, NULL},
    };
    struct idx_fsck_counts n;
    struct cv_err err = {""};
    char root[PATH_MAX];

    if (parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (repair && rebuild)
        return usage_error(cl.cmd, "--repair and --rebuild are different modes: pick one");
    if (resolve_root(&cl, root, &err) < 0 || lay_root_check(root, &err) < 0)
        return fail(&err);
    memset(&n, 0, sizeof(n));
    if (idx_fsck(root, rebuild ? IDX_FSCK_REBUILD : repair ? IDX_FSCK_REPAIR : IDX_FSCK_CHECK,
                 fsck_line, NULL, &n, &err) < 0)
        return fail(&err);
    printf("fsck: %zu files, %zu records, %zu findings, %zu repaired\n", n.files, n.records,
           n.findings, n.repaired);
    return n.findings > n.repaired ? 1 : 0;
}


/* ---- keys ---- */

/* camvault keys import --key KEY.pem --cert CERT.pem --chain CHAIN.pem */
static int keys_import(struct cmdline *cl, int argc, char **argv)
{
    const char *key = NULL, *cert = NULL, *chain = NULL;
    const struct opt opts[] = {{"--key", true, &key, NULL},
                               {"--cert", true, &cert, NULL},
                               {"--chain", true, &chain, NULL},
                               {NULL, false, NULL, NULL}};
    struct exp_key_info r, sgn;
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    char root[PATH_MAX], detail[600];
    int rc;

    if (parse(cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (!key || !cert || !chain)
        return usage_error("keys import", "expected --key KEY.pem --cert CERT.pem --chain "
                                          "CHAIN.pem (intermediates, then the root)");
    rc = open_index(cl, root, &idx, &err);
    if (rc == 0)
        rc = exp_keys_import(root, key, cert, chain, &err);
    if (rc == 0)
        rc = exp_keys_info(root, &r, &sgn, &err);
    if (rc == 0) {
        snprintf(detail, sizeof(detail), "signing %s (%s), root %s (%s)", sgn.subject,
                 sgn.fingerprint, r.subject, r.fingerprint);
        rc = idx_begin(idx, true, &t, &err);
        if (rc == 0 && (rc = cli_audit(t, "keys-import", "site identity", NULL, detail, &err)) == 0)
            rc = idx_commit(t, &err);
        else
            idx_abort(t);
    }
    idx_close(idx);
    if (rc < 0)
        return fail(&err);
    printf("imported: signing certificate %s\n  root %s\n  root SHA-256 fingerprint %s\n"
           "Restart the recorder so that it signs checkpoints with the new key; the old "
           "certificates are kept in keys/retired/.\n", sgn.subject, r.subject, r.fingerprint);
    return 0;
}

static int cmd_keys(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "keys"};
    const char *sub = take_sub(&cl, "keys", "'show' or 'import'", &argc, argv);
    struct exp_key_info r, sgn;
    struct cv_err err = {""};
    char root[PATH_MAX];

    if (!sub)
        return EXIT_USAGE;
    if (strcmp(sub, "import") == 0)
        return keys_import(&cl, argc, argv);
    if (strcmp(sub, "show") != 0)
        return usage_error("keys", "unknown subcommand '%s' (show, import)", sub);
    if (parse(&cl, argc, argv, NULL, 0, true))
        return EXIT_USAGE;
    if (resolve_root(&cl, root, &err) < 0 || lay_root_check(root, &err) < 0 ||
        exp_keys_info(root, &r, &sgn, &err) < 0)
        return fail(&err);
    if (cl.json) {
        const struct exp_key_info *ki[2] = {&r, &sgn};
        struct cv_buf j;
        cv_buf_init(&j, 8192);
        for (int i = 0; i < 2; i++) {
            cv_buf_printf(&j, "%s\"subject\":", i ? "},\"signing\":{" : "{\"root\":{");
            cv_json_str(&j, ki[i]->subject);
            cv_buf_printf(&j, ",\"fingerprint_sha256\":");
            cv_json_str(&j, ki[i]->fingerprint);
            cv_buf_printf(&j, ",\"not_after\":");
            cv_json_str(&j, ki[i]->not_after);
        }
        cv_buf_printf(&j, "}}\n");
        fwrite(j.data, 1, j.len, stdout);
        cv_buf_release(&j);
        return 0;
    }
    printf("root certificate:    %s\n  SHA-256 fingerprint %s\n  valid %s to %s\n"
           "signing certificate: %s\n  SHA-256 fingerprint %s\n  valid %s to %s\n"
           "Publish the root fingerprint: anyone can then check signed checkpoints and exports.\n",
           r.subject, r.fingerprint, r.not_before, r.not_after, sgn.subject, sgn.fingerprint,
           sgn.not_before, sgn.not_after);
    return 0;
}

/* ---- export, verify ---- */

static int cmd_export(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "export"};
    const char *cams_s = NULL, *from_s = NULL, *to_s = NULL, *case_s = NULL, *out_s = NULL;
    const char *reason = NULL, *requester = NULL;
    const struct opt opts[] = {
        {"--camera", true, &cams_s, NULL},     {"--from", true, &from_s, NULL},
        {"--to", true, &to_s, NULL},           {"--case", true, &case_s, NULL},
        {"--out", true, &out_s, NULL},         {"--reason", true, &reason, NULL},
        {"--requester", true, &requester, NULL}, {NULL, false, NULL, NULL},
    };
    struct exp_request req = {0};
    struct exp_result res;
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct cv_buf custody;
    char root[PATH_MAX], list[1024], eid[32], target[1400], detail[1400];
    int rc;

    if (parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (!cams_s || !from_s || !to_s || !case_s || !out_s)
        return usage_error(cl.cmd, "expected --camera ID[,ID...] --from T --to T --case CASE "
                                   "--out FILE.zip");
    if (parse_range(cl.cmd, from_s, to_s, &req.from_us, &req.to_us) < 0)
        return EXIT_USAGE;
    if (lay_id_check("case", case_s, &err) < 0)
        return usage_error(cl.cmd, "%s", err.msg);
    if (cv_strlcpy(list, cams_s, sizeof(list)) < 0)
        return usage_error(cl.cmd, "--camera list is too long");
    for (char *p = list, *comma; p; p = comma ? comma + 1 : NULL) {
        comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        if (lay_id_check("camera", p, &err) < 0)
            return usage_error(cl.cmd, "%s", err.msg);
        for (size_t i = 0; i < req.ncameras; i++)
            if (strcmp(req.cameras[i], p) == 0)
                return usage_error(cl.cmd, "camera '%s' is named twice", p);
        if (req.ncameras == EXP_MAX_CAMERAS)
            return usage_error(cl.cmd, "at most %d cameras", EXP_MAX_CAMERAS);
        req.cameras[req.ncameras++] = p;
    }
    req.case_id = case_s;
    req.reason = reason;
    req.requester = requester;
    req.operator_name = getenv("USER");
    req.out_path = out_s;
    req.progress = isatty(STDERR_FILENO);
    cv_buf_init(&custody, 16u << 20);
    rc = open_index(&cl, root, &idx, &err);
    req.root = root;
    if (rc == 0)
        rc = exp_export_id(cv_now_us(), eid, &err);
    if (rc == 0) {
        /* The audit record comes first, so that the package's custody/ holds this export too. */
        char a[40], b[40];
        cv_time_format_utc(req.from_us, a, sizeof(a), 3);
        cv_time_format_utc(req.to_us, b, sizeof(b), 3);
        snprintf(target, sizeof(target), "export %s cameras %s %s..%s", eid, cams_s, a, b);
        snprintf(detail, sizeof(detail), "file %s; reason: %s; requester: %s", out_s,
                 reason ? reason : "", requester ? requester : "");
        rc = idx_begin(idx, true, &t, &err);
        if (rc == 0)
            rc = cli_audit(t, "export-start", target, case_s, detail, &err);
        if (rc == 0)
            rc = srv_audit_case_lines(t, case_s, &custody, &err);
        if (rc == 0 && !cv_buf_ok(&custody))
            rc = cv_errf(&err, CV_ELIMIT, "case '%s': audit history too long for custody/", case_s);
        if (rc == 0)
            rc = idx_commit(t, &err);
        else
            idx_abort(t);
        t = NULL;
    }
    if (rc == 0) {
        req.export_id = eid;
        req.custody = (const char *)custody.data;
        req.custody_len = custody.len;
        rc = exp_export(idx, &req, &res, &err);
        /* The outcome too: a failed export is part of the case's history. */
        if (idx_begin(idx, true, &t, NULL) == 0) {
            char done[CV_ERR_MAX + 64];
            if (rc == 0)
                snprintf(done, sizeof(done), "%zu segments, %llu bytes of footage, %zu files",
                         res.segments, (unsigned long long)res.bytes, res.files);
            else
                snprintf(done, sizeof(done), "%s", err.msg);
            if (cli_audit(t, rc == 0 ? "export-done" : "export-failed", target, case_s, done,
                          NULL) == 0)
                idx_commit(t, NULL);
            else
                idx_abort(t);
        }
    }
    idx_close(idx);
    cv_buf_release(&custody);
    if (rc < 0)
        return fail(&err);
    printf("%s\n", out_s);
    printf("export %s: %zu cameras, %zu segments, %llu bytes of footage, %zu files\n", res.folder,
           req.ncameras, res.segments, (unsigned long long)res.bytes, res.files);
    return 0;
}

static int cmd_verify(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "verify"};
    struct cv_err err = {""};
    unsigned failed = 0;

    if (parse(&cl, argc, argv, NULL, 1, true))
        return EXIT_USAGE;
    if (cl.npos != 1)
        return usage_error(cl.cmd, "expected one package: verify FILE.zip [--json]");
    if (exp_verify(cl.pos[0], cl.json, stdout, &failed, &err) < 0) {
        fprintf(stderr, "camvault: %s\n", err.msg);
        return EXIT_USAGE;
    }
    return failed ? 1 : 0;
}

/* ---- clip, snapshot ---- */

struct clip_paths {
    const char *root;
    char **v;
    size_t n, cap;
    bool oom;
};

static int clip_add_path(void *ctx, const struct idx_segment *s)
{
    struct clip_paths *l = ctx;
    char abs[PATH_MAX];

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = cap <= EXP_CLIP_SOURCES_MAX ? realloc(l->v, cap * sizeof(*v)) : NULL;
        if (!v) {
            l->oom = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    if (lay_abs(l->root, s->path, abs, sizeof(abs), NULL) < 0 || !(l->v[l->n] = strdup(abs))) {
        l->oom = true;
        return 1;
    }
    l->n++;
    return 0;
}

/* camvault clip CAMERA --from T --to T --out FILE.mp4: one working copy of every segment
 * overlapping the range, across runs (gaps between runs stay gaps in its timeline). */
static int cmd_clip(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "clip"};
    const char *from_s = NULL, *to_s = NULL, *out_s = NULL;
    const struct opt opts[] = {
        {"--from", true, &from_s, NULL},
        {"--to", true, &to_s, NULL},
        {"--out", true, &out_s, NULL},
        {NULL, false, NULL, NULL},
    };
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct idx_camera cam;
    struct clip_paths paths = {0};
    struct exp_clip *clip = NULL;
    char root[PATH_MAX], sha[65], a[48], b[48];
    uint8_t digest[32];
    int64_t from, to, first = 0, end = 0;
    int rc, fd = -1;

    if (parse(&cl, argc, argv, opts, 1, true))
        return EXIT_USAGE;
    if (cl.npos != 1 || !from_s || !to_s || !out_s)
        return usage_error(cl.cmd, "expected CAMERA --from T --to T --out FILE.mp4");
    if (parse_range(cl.cmd, from_s, to_s, &from, &to) < 0)
        return EXIT_USAGE;
    rc = open_index(&cl, root, &idx, &err);
    paths.root = root;
    if (rc == 0)
        rc = idx_begin(idx, false, &t, &err);
    if (rc == 0)
        rc = idx_camera_get(t, cl.pos[0], &cam, &err);
    if (rc == 0)
        rc = idx_segment_iter(t, cam.num, from, to, clip_add_path, &paths, &err);
    idx_abort(t);
    idx_close(idx);
    if (rc == 0 && paths.oom)
        rc = cv_errf(&err, CV_ENOMEM, "too many segments in the range; ask for a shorter one");
    if (rc == 0 && paths.n == 0)
        rc = cv_errf(&err, CV_ENOENT, "camera '%s': nothing recorded in the range", cam.id);
    if (rc == 0)
        rc = exp_clip_open(&clip, (const char *const *)paths.v, paths.n, from, to, &err);
    if (rc == 0) {
        fd = open(out_s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
            rc = cv_errf(&err, cv_errno_code(errno), "cannot create '%s': %s", out_s,
                         strerror(errno));
    }
    if (rc == 0)
        rc = exp_clip_write(clip, fd, digest, &err);
    if (rc == 0 && fsync(fd) < 0)
        rc = cv_errf(&err, CV_EIO, "cannot fsync '%s': %s", out_s, strerror(errno));
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = cv_errf(&err, CV_EIO, "cannot write '%s': %s", out_s, strerror(errno));
    if (rc < 0 && fd >= 0)
        unlink(out_s);
    if (rc == 0) {
        exp_clip_times(clip, &first, &end);
        cv_hex(digest, 32, sha);
        if (cl.json) {
            struct cv_buf j;
            cv_buf_init(&j, 16u << 20);
            cv_buf_printf(&j, "{\"path\":");
            cv_json_str(&j, out_s);
            cv_buf_printf(&j, ",\"bytes\":%llu,\"sha256\":\"%s\",\"first_us\":%lld,"
                          "\"end_us\":%lld,\"origin_us\":%lld,\"sources\":[",
                          (unsigned long long)exp_clip_size(clip), sha, (long long)first,
                          (long long)end, (long long)exp_clip_origin_us(clip));
            for (size_t i = 0; i < exp_clip_source_count(clip); i++) {
                const struct exp_clip_source *s = exp_clip_source_at(clip, i);
                cv_buf_printf(&j, "%s{\"path\":", i ? "," : "");
                cv_json_str(&j, s->path);
                cv_buf_printf(&j, ",\"run_id\":%llu,\"offset\":%llu,\"bytes\":%llu,"
                              "\"fragments\":%u,\"first_us\":%lld,\"end_us\":%lld}",
                              (unsigned long long)s->run_id, (unsigned long long)s->offset,
                              (unsigned long long)s->bytes, s->fragments, (long long)s->first_us,
                              (long long)s->end_us);
            }
            cv_buf_printf(&j, "]}\n");
            fwrite(j.data, 1, j.len, stdout);
            cv_buf_release(&j);
        } else {
            cv_time_format_utc(first, a, sizeof(a), 3);
            cv_time_format_utc(end, b, sizeof(b), 3);
            printf("%s\nclip %s from %s to %s: %llu bytes from %zu segments, sha256 %s\n", out_s,
                   cam.id, a, b, (unsigned long long)exp_clip_size(clip),
                   exp_clip_source_count(clip), sha);
        }
    }
    exp_clip_free(clip);
    for (size_t i = 0; i < paths.n; i++)
        free(paths.v[i]);
    free(paths.v);
    return rc < 0 ? fail(&err) : 0;
}

/* camvault snapshot CAMERA --at T --out FILE.jpg */
static int cmd_snapshot(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "snapshot"};
    const char *at_s = NULL, *out_s = NULL;
    const struct opt opts[] = {
        {"--at", true, &at_s, NULL},
        {"--out", true, &out_s, NULL},
        {NULL, false, NULL, NULL},
    };
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct idx_camera cam;
    struct idx_segment seg;
    struct cv_buf jpeg;
    char root[PATH_MAX], abs[PATH_MAX];
    uint64_t frag_off;
    int64_t at, frag_us;
    int rc;

    if (parse(&cl, argc, argv, opts, 1, false))
        return EXIT_USAGE;
    if (cl.npos != 1 || !at_s || !out_s)
        return usage_error(cl.cmd, "expected CAMERA --at T --out FILE.jpg");
    if (cv_time_parse(at_s, &at, &err) < 0)
        return usage_error(cl.cmd, "%s", err.msg);
    cv_buf_init(&jpeg, 64u << 20);
    rc = open_index(&cl, root, &idx, &err);
    if (rc == 0)
        rc = idx_begin(idx, false, &t, &err);
    if (rc == 0)
        rc = idx_camera_get(t, cl.pos[0], &cam, &err);
    if (rc == 0)
        rc = idx_locate(t, cam.num, at, &seg, &frag_off, &frag_us, &err);
    if (rc == CV_ENOENT)
        rc = cv_errf(&err, rc, "camera '%s': nothing recorded at %s", cam.id, at_s);
    idx_abort(t);
    idx_close(idx);
    if (rc == 0)
        rc = lay_abs(root, seg.path, abs, sizeof(abs), &err);
    if (rc == 0)
        rc = exp_snapshot_jpeg(abs, at, &jpeg, &err);
    if (rc == 0)
        rc = cv_write_atomic(out_s, jpeg.data, jpeg.len, 0644, &err);
    if (rc == 0)
        printf("%s\n", out_s);
    cv_buf_release(&jpeg);
    return rc < 0 ? fail(&err) : 0;
}

/* ---- serve and run ---- */

static int serve_conf_cb(void *ctx, const char *key, const char *value, struct cv_err *err)
{
    struct srv_config *c = ctx;
    int rc;

    /* Other keys belong to the recorder, which checks them. */
    if (strcmp(key, "exports_max_percent") == 0) {
        int64_t pc;
        if (cv_parse_i64(value, 1, 100, &pc) < 0)
            return cv_errf(err, CV_EINVAL, "bad exports_max_percent '%s': expected 1 to 100",
                           value);
        c->exports_max_percent = (unsigned)pc;
        return 0;
    }
    if (strcmp(key, "listen") == 0 && !c->listen[0] &&
        cv_strlcpy(c->listen, value, sizeof(c->listen)) < 0)
        return cv_errf(err, CV_EINVAL, "listen address too long");
    rc = srv_config_set(c, key, value, err);
    if (rc == 1)
        rc = srv_request_conf(c, key, value, err);
    return rc < 0 ? rc : 0;
}

/* Options shared by serve and run. */
struct serve_opts {
    const char *listen, *cert, *key, *web;
};

static int serve_config(struct cmdline *cl, const struct serve_opts *so, char *root,
                        struct srv_config *c, struct cv_err *err)
{
    char conf[PATH_MAX];
    int rc;

    memset(c, 0, sizeof(*c));
    if ((so->listen && cv_strlcpy(c->listen, so->listen, sizeof(c->listen)) < 0) ||
        (so->cert && cv_strlcpy(c->cert, so->cert, sizeof(c->cert)) < 0) ||
        (so->key && cv_strlcpy(c->key, so->key, sizeof(c->key)) < 0) ||
        (so->web && cv_strlcpy(c->web, so->web, sizeof(c->web)) < 0))
        return cv_errf(err, CV_EUSAGE, "an option value is too long");
    if ((so->cert != NULL) != (so->key != NULL))
        return cv_errf(err, CV_EUSAGE, "--cert and --key go together (HTTPS needs both)");
    rc = resolve_root(cl, root, err);
    if (rc == 0)
        rc = lay_root_check(root, err);
    if (rc < 0)
        return rc;
    cv_path_join(conf, sizeof(conf), root, "camvault.conf", NULL);
    return cv_conf_load(conf, serve_conf_cb, c, err);
}

static int cmd_serve(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "serve"};
    struct serve_opts so = {0};
    const char *level = NULL;
    const struct opt opts[] = {
        {"--listen", true, &so.listen, NULL}, {"--cert", true, &so.cert, NULL},
        {"--key", true, &so.key, NULL},       {"--web", true, &so.web, NULL},
        {"--log-level", true, &level, NULL},  {NULL, false, NULL, NULL},
    };
    struct srv_config c;
    struct cv_err err = {""};
    char root[PATH_MAX];
    int rc;

    if (parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (level) {
        int lvl = cv_log_level_parse(level);
        if (lvl < 0)
            return usage_error(cl.cmd, "bad --log-level '%s' (debug, info, warn, error)", level);
        cv_log_init("camvault", (enum cv_log_level)lvl);
    }
    rc = serve_config(&cl, &so, root, &c, &err);
    if (rc == CV_EUSAGE)
        return usage_error(cl.cmd, "%s", err.msg);
    if (rc == 0)
        rc = srv_serve(root, &c, &err);
    if (rc == CV_EUSAGE)
        return usage_error(cl.cmd, "%s", err.msg);
    return rc < 0 ? fail(&err) : 0;
}

static int cmd_run(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "run"};
    struct serve_opts so = {0};
    const char *seg = NULL;
    const struct opt opts[] = {
        {"--listen", true, &so.listen, NULL}, {"--cert", true, &so.cert, NULL},
        {"--key", true, &so.key, NULL},       {"--web", true, &so.web, NULL},
        {"--segment-seconds", true, &seg, NULL}, {NULL, false, NULL, NULL},
    };
    struct srv_config c;
    struct cv_err err = {""};
    char root[PATH_MAX], exe[PATH_MAX];
    char *rec[8], *srv[16];
    int nr = 0, ns = 0;
    ssize_t n;

    if (parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (serve_config(&cl, &so, root, &c, &err) < 0)
        return err.msg[0] && strstr(err.msg, "--") ? usage_error(cl.cmd, "%s", err.msg)
                                                   : fail(&err);
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return cv_errf(&err, CV_EIO, "cannot find this program's path: %s", strerror(errno)),
               fail(&err);
    exe[n] = 0;
    rec[nr++] = exe;
    rec[nr++] = "record";
    rec[nr++] = "--root";
    rec[nr++] = root;
    if (seg) {
        rec[nr++] = "--segment-seconds";
        rec[nr++] = (char *)seg;
    }
    rec[nr] = NULL;
    srv[ns++] = exe;
    srv[ns++] = "serve";
    srv[ns++] = "--root";
    srv[ns++] = root;
    srv[ns++] = "--listen";
    srv[ns++] = c.listen[0] ? c.listen : SRV_DEFAULT_LISTEN;
    if (so.cert) {
        srv[ns++] = "--cert";
        srv[ns++] = (char *)so.cert;
        srv[ns++] = "--key";
        srv[ns++] = (char *)so.key;
    }
    if (so.web) {
        srv[ns++] = "--web";
        srv[ns++] = (char *)so.web;
    }
    srv[ns] = NULL;
    return srv_supervise(rec, srv, &err) < 0 ? fail(&err) : 0;
}

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
    int rc = srv_user_add(t, u, err);

    return rc < 0 ? rc : cli_audit(t, "user-add", u->name, NULL, srv_role_name(u->role), err);
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

static int cmd_user(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "user"};
    const char *sub = take_sub(&cl, "user", "add, list or token", &argc, argv);
    struct cv_err err = {""};

    if (!sub)
        return EXIT_USAGE;
    if (strcmp(sub, "add") == 0) {
        const char *role = NULL;
        bool from_stdin = false;
        const struct opt opts[] = {{"--role", true, &role, NULL},
                                   {"--password-stdin", false, NULL, &from_stdin},
                                   {NULL, false, NULL, NULL}};
        char pw[SRV_PASSWORD_MAX + 2];
        struct srv_user u;
        if (parse(&cl, argc, argv, opts, 1, false))
            return EXIT_USAGE;
        memset(&u, 0, sizeof(u));
        if (cl.npos != 1)
            return usage_error(cl.cmd, "expected one user name: user add NAME --role ROLE");
        if (srv_user_name_check(cl.pos[0], &err) < 0)
            return usage_error(cl.cmd, "%s", err.msg);
        if (!role)
            return usage_error(cl.cmd, "missing --role (admin, officer, mediator or resident)");
        if (srv_role_parse(role, &u.role, &err) < 0)
            return usage_error(cl.cmd, "%s", err.msg);
        if (from_stdin ? read_password(pw, sizeof(pw), &err) < 0
                       : srv_password_generate(pw, &err) < 0)
            return fail(&err);
        cv_strlcpy(u.name, cl.pos[0], sizeof(u.name));
        u.created_us = cv_now_us();
        if (srv_password_hash(pw, NULL, u.pwhash, &err) < 0 ||
            with_index(&cl, user_add_txn, &u, &err) < 0)
            return fail(&err);
        printf("added user %s (%s)\n", u.name, srv_role_name(u.role));
        if (!from_stdin)
            printf("password: %s\n", pw); /* shown once; only its scrypt hash is stored */
        return 0;
    }
    if (strcmp(sub, "token") == 0) {
        const char *days = NULL;
        const struct opt opts[] = {{"--days", true, &days, NULL}, {NULL, false, NULL, NULL}};
        struct user_token ut = {.days_us = 30 * 86400 * CV_US_PER_S};
        double d = 30;
        if (parse(&cl, argc, argv, opts, 1, false))
            return EXIT_USAGE;
        if (cl.npos != 1)
            return usage_error(cl.cmd, "expected one user name: user token NAME [--days N]");
        if (days && cv_parse_double(days, 1e-6, 3650, &d) < 0)
            return usage_error(cl.cmd, "bad --days '%s': expected a number of days up to 3650",
                               days);
        ut.name = cl.pos[0];
        ut.days_us = (int64_t)(d * 86400 * (double)CV_US_PER_S);
        if (with_index(&cl, user_token_txn, &ut, &err) < 0)
            return fail(&err);
        printf("%s\n", ut.token); /* shown once; use as "Authorization: Bearer TOKEN" */
        return 0;
    }
    if (strcmp(sub, "list") == 0) {
        struct srv_user *u = NULL;
        struct idx *idx = NULL;
        struct idx_txn *t = NULL;
        char root[PATH_MAX];
        size_t n = 0;
        int rc;
        if (parse(&cl, argc, argv, NULL, 0, true))
            return EXIT_USAGE;
        rc = open_index(&cl, root, &idx, &err);
        if (rc == 0)
            rc = idx_begin(idx, false, &t, &err);
        if (rc == 0)
            rc = srv_user_list(t, &u, &n, &err);
        idx_abort(t);
        idx_close(idx);
        if (rc < 0)
            return fail(&err);
        if (cl.json)
            printf("[");
        else
            printf("%-32s %-9s %-9s %s\n", "USER", "ROLE", "STATE", "LAST LOGIN (UTC)");
        for (size_t i = 0; i < n; i++) {
            char ts[48] = "never";
            if (u[i].last_login_us)
                cv_time_format_utc(u[i].last_login_us, ts, sizeof(ts), 0);
            if (cl.json) {
                struct cv_buf j;
                cv_buf_init(&j, 4096);
                cv_buf_printf(&j, "%s{\"name\":", i ? "," : "");
                cv_json_str(&j, u[i].name);
                cv_buf_printf(&j, ",\"role\":");
                cv_json_str(&j, srv_role_name(u[i].role));
                cv_buf_printf(&j, ",\"disabled\":%s,\"last_login\":",
                              u[i].disabled ? "true" : "false");
                cv_json_str(&j, u[i].last_login_us ? ts : NULL);
                cv_buf_u8(&j, '}');
                fwrite(j.data, 1, j.len, stdout);
                cv_buf_release(&j);
            } else
                printf("%-32s %-9s %-9s %s\n", u[i].name, srv_role_name(u[i].role),
                       u[i].disabled ? "disabled" : "active", ts);
        }
        if (cl.json)
            printf("]\n");
        free(u);
        return 0;
    }
    return usage_error("user", "unknown subcommand '%s' (add, list, token)", sub);
}

/* ---- audit ---- */

struct audit_print {
    bool json;
    size_t n;
};

static int audit_print(void *ctx, const struct srv_audit_rec *r)
{
    struct audit_print *ap = ctx;
    struct cv_buf b;
    char ts[48];

    cv_buf_init(&b, 64 * 1024);
    if (ap->json) {
        cv_buf_printf(&b, "%s", ap->n ? "," : "");
        srv_audit_json(&b, r);
    } else {
        cv_time_format_utc(r->time_us, ts, sizeof(ts), 3);
        cv_buf_printf(&b, "%6llu %s %s (%s) %s %s", (unsigned long long)r->seq, ts,
                      r->user[0] ? r->user : "-", r->role, r->action, r->target);
        if (r->case_id[0])
            cv_buf_printf(&b, " case %s", r->case_id);
        if (r->detail[0])
            cv_buf_printf(&b, ": %s", r->detail);
        cv_buf_u8(&b, '\n');
    }
    fwrite(b.data, 1, b.len, stdout);
    cv_buf_release(&b);
    ap->n++;
    return 0;
}

/*
 * `camvault audit --verify`: the hash chain, then the log against the head the newest signed
 * checkpoint holds (exporter/checkpoint.h), so that records deleted from the end are caught.
 * A checkpoint from an older camvault (no audit line), or none yet, is said, not failed.
 */
static int audit_verify(struct idx_txn *t, const char *root, bool json, struct cv_err *err)
{
    struct exp_cp_audit cp = {0};
    struct cv_buf b;
    char note[160] = "";
    uint64_t n = 0, bad = 0;
    int rc = srv_audit_verify_signed(t, root, &n, &bad, &cp, err);

    if (rc == 0 && !cp.cp_seq)
        snprintf(note, sizeof(note), "no signed checkpoint yet: the log's end is not signed");
    else if (rc == 0 && !cp.has_audit)
        snprintf(note, sizeof(note), "checkpoint %llu has no audit head (written by an older "
                 "camvault): the log's end is not signed yet", (unsigned long long)cp.cp_seq);
    cv_buf_init(&b, 4096);
    if (rc == 0 && json) {
        cv_buf_printf(&b, "{\"ok\":true,\"records\":%llu", (unsigned long long)n);
        if (cp.cp_seq && cp.has_audit)
            cv_buf_printf(&b, ",\"checkpoint\":%llu,\"signed_seq\":%llu",
                          (unsigned long long)cp.cp_seq, (unsigned long long)cp.seq);
        if (note[0]) {
            cv_buf_printf(&b, ",\"note\":");
            cv_json_str(&b, note);
        }
        cv_buf_printf(&b, "}\n");
    } else if (rc == 0) {
        cv_buf_printf(&b, "audit log: %llu records, hash chain intact", (unsigned long long)n);
        if (cp.cp_seq && cp.has_audit)
            cv_buf_printf(&b, "; checkpoint %llu signs record %llu", (unsigned long long)cp.cp_seq,
                          (unsigned long long)cp.seq);
        if (note[0])
            cv_buf_printf(&b, "; %s", note);
        cv_buf_u8(&b, '\n');
    } else if (rc == CV_ECORRUPT && json) {
        /* the chain broke at first_bad_seq, or it holds but not up to the signed head */
        cv_buf_printf(&b, "{\"ok\":false,\"records\":%llu", (unsigned long long)n);
        if (bad)
            cv_buf_printf(&b, ",\"first_bad_seq\":%llu}\n", (unsigned long long)bad);
        else
            cv_buf_printf(&b, ",\"checkpoint\":%llu,\"signed_seq\":%llu}\n",
                          (unsigned long long)cp.cp_seq, (unsigned long long)cp.seq);
    }
    fwrite(b.data, 1, b.len, stdout);
    cv_buf_release(&b);
    return rc;
}

static int cmd_audit(int argc, char **argv)
{
    struct cmdline cl = {.cmd = "audit"};
    const char *cs = NULL, *since = NULL;
    bool verify = false;
    const struct opt opts[] = {{"--case", true, &cs, NULL},
                               {"--since", true, &since, NULL},
                               {"--verify", false, NULL, &verify},
                               {NULL, false, NULL, NULL}};
    struct srv_audit_filter f = {0};
    struct audit_print ap = {0};
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    char root[PATH_MAX];
    int rc;

    if (parse(&cl, argc, argv, opts, 0, true))
        return EXIT_USAGE;
    if (since && cv_time_parse(since, &f.since_us, &err) < 0)
        return usage_error(cl.cmd, "--since: %s", err.msg);
    if (verify && (cs || since))
        return usage_error(cl.cmd, "--verify checks the whole chain: no --case or --since");
    f.case_id = cs;
    rc = open_index(&cl, root, &idx, &err);
    if (rc == 0)
        rc = idx_begin(idx, false, &t, &err);
    if (rc == 0 && verify) {
        rc = audit_verify(t, root, cl.json, &err);
    } else if (rc == 0) {
        ap.json = cl.json;
        if (cl.json)
            printf("[");
        rc = srv_audit_iter(t, &f, audit_print, &ap, &err);
        if (cl.json)
            printf("]\n");
    }
    idx_abort(t);
    idx_close(idx);
    return rc < 0 ? fail(&err) : 0;
}

/* ---- main ---- */

static const char usage[] =
    "usage: camvault COMMAND [--root DIR] [options]\n"
    "\n"
    "  init                                   create the data root and index\n"
    "  camera add ID --url rtsp://... [--name T] [--location T] [--retention-days N]\n"
    "             [--public] [--transport tcp|udp] [--volume NAME] [--disabled]\n"
    "  camera list [--json] | show ID [--json] | enable ID | disable ID\n"
    "  camera edit ID [--url U] [--name T] [--location T] [--public|--private]\n"
    "             [--transport tcp|udp] [--volume NAME]\n"
    "  record [--segment-seconds N] [--retention-interval S] [--checkpoint-interval S]\n"
    "         [--log-level L]\n"
    "                                         run the recorder in the foreground\n"
    "  query CAMERA --from T --to T [--json]   segments, gaps and holds in a range\n"
    "  volume add NAME PATH [--max-bytes N] | list [--json]\n"
    "  retention show [--json] | set CAMERA DAYS | run\n"
    "  hold add --case C --camera ID[,ID...] --from T --to T [--until T] [--reason T] [--by W]\n"
    "  hold list [--json] | release HOLD [--by W]\n"
    "  fsck [--repair | --rebuild]            compare index and disk; fix what is safe\n"
    "  keys show [--json]                     the site's certificates and fingerprints\n"
    "  keys import --key K.pem --cert C.pem --chain CHAIN.pem   use an agency-issued identity\n"
    "  export --camera ID[,ID] --from T --to T --case C --out F.zip [--reason T] [--requester W]\n"
    "  verify FILE.zip [--json]               check a package: 0 valid, 1 not valid, 2 unreadable\n"
    "  clip CAMERA --from T --to T --out F.mp4 [--json]   playable copy of a range (no re-encoding)\n"
    "  snapshot CAMERA --at T --out F.jpg     one JPEG of the frame shown at T\n"
    "  serve [--listen ADDR:PORT] [--cert F --key F] [--web DIR]   run the HTTP server\n"
    "  run [--listen ADDR:PORT] [--cert F --key F] [--web DIR] [--segment-seconds N]\n"
    "                                         record and serve, each restarted if it dies\n"
    "  user add NAME --role admin|officer|mediator|resident [--password-stdin]\n"
    "  user list [--json] | token NAME [--days N]   (a bearer token for scripts)\n"
    "  audit [--case C] [--since T] [--json] [--verify]   the hash-chained audit log\n"
    "\n"
    "Times are RFC 3339 (2026-11-22T09:30:00Z, 2026-11-22T17:30:00+08:00) or @UNIXSECONDS.\n"
    "The data root is --root, else $CAMVAULT_ROOT, else ./camvault-data.\n";

int main(int argc, char **argv)
{
    const char *lvl = getenv("CAMVAULT_LOG");

    av_log_set_level(AV_LOG_QUIET);
    avformat_network_init();
    cv_log_init("camvault", lvl && cv_log_level_parse(lvl) >= 0
                                ? (enum cv_log_level)cv_log_level_parse(lvl)
                                : CV_LOG_INFO);
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "init") == 0)
        return cmd_init(argc - 2, argv + 2);
    if (strcmp(argv[1], "camera") == 0)
        return cmd_camera(argc - 2, argv + 2);
    if (strcmp(argv[1], "record") == 0)
        return cmd_record(argc - 2, argv + 2);
    if (strcmp(argv[1], "query") == 0)
        return cmd_query(argc - 2, argv + 2);
    if (strcmp(argv[1], "volume") == 0)
        return cmd_volume(argc - 2, argv + 2);
    if (strcmp(argv[1], "retention") == 0)
        return cmd_retention(argc - 2, argv + 2);
    if (strcmp(argv[1], "hold") == 0)
        return cmd_hold(argc - 2, argv + 2);
    if (strcmp(argv[1], "fsck") == 0)
        return cmd_fsck(argc - 2, argv + 2);
    if (strcmp(argv[1], "keys") == 0)
        return cmd_keys(argc - 2, argv + 2);
    if (strcmp(argv[1], "export") == 0)
        return cmd_export(argc - 2, argv + 2);
    if (strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc - 2, argv + 2);
    if (strcmp(argv[1], "clip") == 0)
        return cmd_clip(argc - 2, argv + 2);
    if (strcmp(argv[1], "snapshot") == 0)
        return cmd_snapshot(argc - 2, argv + 2);
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(argv[1], "user") == 0)
        return cmd_user(argc - 2, argv + 2);
    if (strcmp(argv[1], "audit") == 0)
        return cmd_audit(argc - 2, argv + 2);
    fprintf(stderr, "camvault: unknown command '%s' (see 'camvault help')\n", argv[1]);
    return EXIT_USAGE;
}
