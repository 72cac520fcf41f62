/*
 * cli/record.c: camvault record, serve and run (and their camvault.conf keys).
 * Contracts in cli/cli.h.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/conf.h"
#include "common/fileio.h"
#include "common/cvtime.h"
#include "common/log.h"
#include "common/url.h"
#include "recorder/rec.h"
#include "server/srv.h"

#include "cli/cli.h"
#include "common/banned.h"

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
    if (strcmp(key, "live_chunk_ms") == 0) {
        int64_t ms;
        if (cv_parse_i64(value, 0, 10000, &ms) < 0)
            return cv_errf(err, CV_EINVAL, "live_chunk_ms '%s' is not a whole number from 0 "
                           "(off) to 10000", value);
        rc->cfg->live_chunk_us = ms * 1000;
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

int cli_cmd_record(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "record"};
    const char *seg = NULL, *level = NULL, *ret = NULL, *cpi = NULL;
    const struct cli_opt opts[] = {
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

    if (cli_parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    rec_config_defaults(&cfg);
    if (level) {
        int lvl = cv_log_level_parse(level);
        if (lvl < 0)
            return cli_usage_error(cl.cmd, "bad --log-level '%s' (debug, info, warn, error)",
                                   level);
        cv_log_init("camvault", (enum cv_log_level)lvl);
    }
    if (cli_resolve_root(&cl, root, &err) < 0)
        return cli_fail(&err);
    if (lay_root_check(root, &err) < 0)
        return cli_fail(&err);
    cv_path_join(conf, sizeof(conf), root, "camvault.conf", NULL);
    if (cv_conf_load(conf, record_conf_cb, &rcf, &err) < 0)
        return cli_fail(&err);
    if (seg) {
        if (cv_seconds_parse(seg, &us, &err) < 0)
            return cli_usage_error(cl.cmd, "%s", err.msg);
        cfg.segment_us = us;
    }
    if (cpi) {
        if (cv_seconds_parse(cpi, &us, &err) < 0)
            return cli_usage_error(cl.cmd, "%s", err.msg);
        cfg.checkpoint_us = us;
    }
    if (ret) {
        if (cv_seconds_parse(ret, &us, &err) < 0)
            return cli_usage_error(cl.cmd, "%s", err.msg);
        cfg.retention_us = us;
    }
    if (cfg.segment_us < CV_US_PER_S)
        return cli_usage_error(cl.cmd, "segment length must be at least 1 second");
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (rec_run(root, &cfg, &stop_flag, &err) < 0)
        return cli_fail(&err);
    return 0;
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

static int serve_config(struct cli_cmdline *cl, const struct serve_opts *so, char *root,
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
    rc = cli_resolve_root(cl, root, err);
    if (rc == 0)
        rc = lay_root_check(root, err);
    if (rc < 0)
        return rc;
    cv_path_join(conf, sizeof(conf), root, "camvault.conf", NULL);
    return cv_conf_load(conf, serve_conf_cb, c, err);
}

int cli_cmd_serve(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "serve"};
    struct serve_opts so = {0};
    const char *level = NULL;
    const struct cli_opt opts[] = {
        {"--listen", true, &so.listen, NULL}, {"--cert", true, &so.cert, NULL},
        {"--key", true, &so.key, NULL},       {"--web", true, &so.web, NULL},
        {"--log-level", true, &level, NULL},  {NULL, false, NULL, NULL},
    };
    struct srv_config c;
    struct cv_err err = {""};
    char root[PATH_MAX];
    int rc;

    if (cli_parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (level) {
        int lvl = cv_log_level_parse(level);
        if (lvl < 0)
            return cli_usage_error(cl.cmd, "bad --log-level '%s' (debug, info, warn, error)",
                                   level);
        cv_log_init("camvault", (enum cv_log_level)lvl);
    }
    rc = serve_config(&cl, &so, root, &c, &err);
    if (rc == CV_EUSAGE)
        return cli_usage_error(cl.cmd, "%s", err.msg);
    if (rc == 0)
        rc = srv_serve(root, &c, &err);
    if (rc == CV_EUSAGE)
        return cli_usage_error(cl.cmd, "%s", err.msg);
    return rc < 0 ? cli_fail(&err) : 0;
}

int cli_cmd_run(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "run"};
    struct serve_opts so = {0};
    const char *seg = NULL;
    const struct cli_opt opts[] = {
        {"--listen", true, &so.listen, NULL},    {"--cert", true, &so.cert, NULL},
        {"--key", true, &so.key, NULL},          {"--web", true, &so.web, NULL},
        {"--segment-seconds", true, &seg, NULL}, {NULL, false, NULL, NULL},
    };
    struct srv_config c;
    struct cv_err err = {""};
    char root[PATH_MAX], exe[PATH_MAX];
    char *rec[8], *srv[16];
    int nr = 0, ns = 0;
    ssize_t n;

    if (cli_parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (serve_config(&cl, &so, root, &c, &err) < 0)
        return err.msg[0] && strstr(err.msg, "--") ? cli_usage_error(cl.cmd, "%s", err.msg)
                                                   : cli_fail(&err);
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return cv_errf(&err, CV_EIO, "cannot find this program's path: %s", strerror(errno)),
               cli_fail(&err);
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
    return srv_supervise(rec, srv, &err) < 0 ? cli_fail(&err) : 0;
}
