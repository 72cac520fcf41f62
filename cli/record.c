/*
 * cli/record.c: camvault record, serve and run (and their camvault.conf keys).
 * Contracts in cli/cli.h.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/fileio.h"
#include "common/cvtime.h"
#include "common/log.h"
#include "common/url.h"
#include "gb/gb.h"
#include "recorder/rec.h"
#include "server/audit.h"
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

/*
 * camvault.conf, read by `record`, `serve` and `run` alike: every key is checked whoever owns
 * it, so that a typo is refused by each of them ("ROOT/camvault.conf:3: unknown key 'x'");
 * the recorder's keys go into rec, the server's into srv (scratch copies when the command does
 * not use them).
 */
struct conf_dest {
    struct rec_config *rec;
    struct srv_config *srv;
    struct gb_config *gb;
    bool apply_log_level; /* `record`: log_level sets the log's level */
    struct rec_config rec_scratch;
    struct srv_config srv_scratch;
    struct gb_config gb_scratch;
};

static int rec_conf_key(struct conf_dest *d, const char *key, const char *value,
                        struct cv_err *err)
{
    struct rec_config *cfg = d->rec;
    int64_t us;

    if (strcmp(key, "live_chunk_ms") == 0) {
        int64_t ms;
        if (cv_parse_i64(value, 0, 10000, &ms) < 0)
            return cv_errf(err, CV_EINVAL, "live_chunk_ms '%s' is not a whole number from 0 "
                           "(off) to 10000", value);
        cfg->live_chunk_us = ms * 1000;
        return 0;
    }
    if (strcmp(key, "picture_check_s") == 0) {
        /* Up to 15 s, so that a black or frozen picture still shows within 60 s (picture.h). */
        if (strcmp(value, "0") == 0) {
            cfg->picture_us = 0;
            return 0;
        }
        if (cv_seconds_parse(value, &us, err) < 0 || us < CV_US_PER_S / 2 || us > 15 * CV_US_PER_S)
            return cv_errf(err, CV_EINVAL, "picture_check_s '%s' is not 0 (off) or a number of "
                           "seconds from 0.5 to 15", value);
        cfg->picture_us = us;
        return 0;
    }
    if (strcmp(key, "write_queue_mb") == 0) {
        int64_t mb;
        if (cv_parse_i64(value, 1, 1024, &mb) < 0)
            return cv_errf(err, CV_EINVAL, "write_queue_mb '%s' is not a whole number of MB from "
                           "1 to 1024", value);
        cfg->queue_bytes = (size_t)mb << 20;
        return 0;
    }
    if (strcmp(key, "log_level") == 0) {
        int lvl = cv_log_level_parse(value);
        if (lvl < 0)
            return cv_errf(err, CV_EINVAL, "bad log_level '%s'", value);
        if (d->apply_log_level)
            cv_log_init("camvault", (enum cv_log_level)lvl);
        return 0;
    }
    if (strcmp(key, "tsa_url") == 0) {
        if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
            char safe[CV_URL_MAX];
            cv_url_redact(value, safe, sizeof(safe));
            return cv_errf(err, CV_EINVAL, "tsa_url '%s' is not an http:// or https:// URL",
                           safe);
        }
        if (cv_strlcpy(cfg->tsa_url, value, sizeof(cfg->tsa_url)) < 0)
            return cv_errf(err, CV_EINVAL, "tsa_url is too long");
        return 0;
    }
    int64_t *dst = strcmp(key, "segment_seconds") == 0              ? &cfg->segment_us
                   : strcmp(key, "retention_interval_seconds") == 0 ? &cfg->retention_us
                   : strcmp(key, "checkpoint_seconds") == 0         ? &cfg->checkpoint_us
                                                                    : NULL;
    if (!dst)
        return 1;
    if (cv_seconds_parse(value, &us, err) < 0)
        return CV_EINVAL;
    *dst = us;
    return 0;
}

static int srv_conf_key(struct srv_config *c, const char *key, const char *value,
                        struct cv_err *err)
{
    int rc;

    if (strcmp(key, "exports_max_percent") == 0) {
        int64_t pc;
        if (cv_parse_i64(value, 1, 100, &pc) < 0)
            return cv_errf(err, CV_EINVAL, "bad exports_max_percent '%s': expected 1 to 100",
                           value);
        c->exports_max_percent = (unsigned)pc;
        return 0;
    }
    if (strcmp(key, "listen") == 0) {
        if (!c->listen[0] && cv_strlcpy(c->listen, value, sizeof(c->listen)) < 0)
            return cv_errf(err, CV_EINVAL, "listen address too long");
        return 0;
    }
    rc = srv_config_set(c, key, value, err);
    if (rc == 1)
        rc = srv_request_conf(c, key, value, err);
    if (rc == 1)
        rc = srv_rendition_conf(c, key, value, err);
    return rc;
}

static int conf_cb(void *ctx, const char *key, const char *value, struct cv_err *err)
{
    struct conf_dest *d = ctx;
    int rc = rec_conf_key(d, key, value, err);

    if (rc == 1)
        rc = srv_conf_key(d->srv, key, value, err);
    if (rc == 1)
        rc = gb_conf_key(d->gb, key, value, err);
    if (rc == 1)
        return cv_errf(err, CV_EINVAL, "unknown key '%s'", key);
    return rc;
}

/* Read ROOT/camvault.conf (a missing file is no error) into rec, srv and/or gb (NULL: not
 * used). */
static int conf_read(const char *root, struct rec_config *rec, struct srv_config *srv,
                     struct gb_config *gb, struct cv_err *err)
{
    struct conf_dest *d = calloc(1, sizeof(*d));
    char conf[PATH_MAX];
    int rc;

    if (!d)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    d->apply_log_level = rec != NULL;
    d->rec = rec ? rec : &d->rec_scratch;
    d->srv = srv ? srv : &d->srv_scratch;
    gb_config_defaults(&d->gb_scratch);
    d->gb = gb ? gb : &d->gb_scratch;
    cv_path_join(conf, sizeof(conf), root, "camvault.conf", NULL);
    rc = cv_conf_load(conf, conf_cb, d, err);
    if (rc == 0)
        rc = gb_config_check(d->gb, err);
    free(d);
    return rc;
}

/* The GB/T 28181 agent of `record`, run on the recorder's index (rec_config.index_hook). */
struct gb_hook {
    struct gb_config cfg;
    const char *root;
    struct idx *idx;
    struct gb_agent *agent;
};

/* A view by the upper platform, in the audit log (who: the platform's ID). */
static void gb_audit(void *ctx, const char *action, const char *who, const char *camera,
                     const char *detail)
{
    struct gb_hook *h = ctx;
    struct srv_audit_entry e = {.user = who, .role = "gb-platform", .action = action,
                                .target = camera, .detail = detail};
    struct cv_err err = {""};

    if (h->idx && srv_audit_log(h->idx, &e, NULL, &err) < 0)
        cv_error("gb: the audit record of %s by %s is not written: %s", action, who, err.msg);
}

static void gb_index_hook(void *ctx, struct idx *idx)
{
    struct gb_hook *h = ctx;
    struct gb_agent *a = NULL;
    struct cv_err err = {""};

    if (!idx) {
        gb_agent_stop(h->agent);
        __atomic_store_n(&h->agent, NULL, __ATOMIC_RELEASE);
        h->idx = NULL;
        return;
    }
    h->idx = idx;
    h->cfg.audit = gb_audit;
    h->cfg.audit_ctx = h;
    if (gb_agent_start(&a, h->root, idx, &h->cfg, &err) < 0)
        cv_error("gb: the GB/T 28181 agent is not running: %s", err.msg);
    __atomic_store_n(&h->agent, a, __ATOMIC_RELEASE);
}

/* rec_config.source for GB/T 28181 devices' cameras: the hook's agent (gb_dev_*). The agent
 * starts after the first cameras and stops after the last camera thread ended (rec_run). */
static int gb_src_open(void *ctx, const struct idx_camera *cam, int64_t timeout_us,
                       int64_t stall_us, bool (*stop)(void *), void *stop_ctx, void **handle,
                       struct rec_source_media *m, struct cv_err *err)
{
    struct gb_hook *h = ctx;
    struct gb_agent *a = __atomic_load_n(&h->agent, __ATOMIC_ACQUIRE);
    struct gb_dev_stream *s;
    const struct gb_dev_media *gm;
    int rc;

    if (!a)
        return cv_errf(err, CV_ENET, "the GB/T 28181 agent is not running (gb_id and gb_listen "
                       "in camvault.conf)");
    rc = gb_dev_open(&s, a, cam, timeout_us, stall_us, stop, stop_ctx, err);
    if (rc < 0)
        return rc;
    gm = gb_dev_media(s);
    for (int i = 0; i < 2; i++) {
        m->par[i] = gm->par[i];
        m->tb_num[i] = gm->tb[i].num ? gm->tb[i].num : 1;
        m->tb_den[i] = gm->tb[i].den ? gm->tb[i].den : 1;
    }
    m->frame_dur = gm->frame_dur;
    m->audio_skipped = gm->audio_skipped;
    *handle = s;
    return 0;
}

static int gb_src_read(void *handle, struct AVPacket *pkt, int64_t *recv_us, struct cv_err *err)
{
    return gb_dev_read(handle, pkt, recv_us, err);
}

static void gb_src_close(void *handle)
{
    gb_dev_close(handle);
}

int cli_gb_config(const char *root, struct gb_config *out, struct cv_err *err)
{
    gb_config_defaults(out);
    return conf_read(root, NULL, NULL, out, err);
}

/* --log-level: set the log's level, or say why not (then -1). */
static int log_level_flag(const char *cmd, const char *level)
{
    int lvl = cv_log_level_parse(level);

    if (lvl < 0)
        return cli_usage_error(cmd, "bad --log-level '%s' (debug, info, warn, error)", level), -1;
    cv_log_init("camvault", (enum cv_log_level)lvl);
    return 0;
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
    struct gb_hook gb = {.root = NULL};
    struct rec_source gb_source = {GB_DEVICE_SCHEME, gb_src_open, gb_src_read, gb_src_close,
                                   NULL};
    struct cv_err err = {""};
    char root[PATH_MAX];
    struct sigaction sa;
    int64_t us;

    if (cli_parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    rec_config_defaults(&cfg);
    if (level && log_level_flag(cl.cmd, level) < 0)
        return EXIT_USAGE;
    if (cli_resolve_root(&cl, root, &err) < 0)
        return cli_fail(&err);
    if (lay_root_check(root, &err) < 0)
        return cli_fail(&err);
    gb_config_defaults(&gb.cfg);
    if (conf_read(root, &cfg, NULL, &gb.cfg, &err) < 0)
        return cli_fail(&err);
    if (gb.cfg.id[0]) {
        gb.root = root;
        cfg.index_hook = gb_index_hook;
        cfg.index_hook_ctx = &gb;
        gb_source.ctx = &gb;
        cfg.source = &gb_source;
    }
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

/* Options shared by serve and run. */
struct serve_opts {
    const char *listen, *cert, *key, *web;
    const char *extra; /* the value of the command's own option (serve_opt_table) */
};

/* The options of serve and run into out[6]: the server's four, the command's own `extra` (its
 * value into so->extra) and the end of the table. */
static void serve_opt_table(struct serve_opts *so, const char *extra, struct cli_opt out[6])
{
    const struct cli_opt t[6] = {
        {"--listen", true, &so->listen, NULL}, {"--cert", true, &so->cert, NULL},
        {"--key", true, &so->key, NULL},       {"--web", true, &so->web, NULL},
        {extra, true, &so->extra, NULL},       {NULL, false, NULL, NULL},
    };

    memcpy(out, t, sizeof(t));
}

static int serve_config(struct cli_cmdline *cl, const struct serve_opts *so, char *root,
                        struct srv_config *c, struct cv_err *err)
{
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
    return conf_read(root, NULL, c, NULL, err);
}

int cli_cmd_serve(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "serve"};
    struct serve_opts so = {0};
    struct cli_opt opts[6];
    struct srv_config c;
    struct cv_err err = {""};
    char root[PATH_MAX];
    int rc;

    serve_opt_table(&so, "--log-level", opts);
    if (cli_parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (so.extra && log_level_flag(cl.cmd, so.extra) < 0)
        return EXIT_USAGE;
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
    struct cli_opt opts[6];
    const char *seg;
    struct srv_config c;
    struct cv_err err = {""};
    char root[PATH_MAX], exe[PATH_MAX];
    char *rec[8], *srv[16];
    int nr = 0, ns = 0;
    ssize_t n;

    serve_opt_table(&so, "--segment-seconds", opts);
    if (cli_parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    seg = so.extra;
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
