/*
 * cli/retention.c: camvault volume and camvault retention.
 * Contracts in cli/cli.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/cvtime.h"
#include "indexer/retention.h"

#include "cli/cli.h"
#include "common/banned.h"

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

static int volume_add(struct cli_cmdline *cl, int argc, char **argv)
{
    const char *maxb = NULL;
    const struct cli_opt opts[] = {{"--max-bytes", true, &maxb, NULL}, {NULL, false, NULL, NULL}};
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct idx_volume v;
    char root[PATH_MAX];
    uint64_t max_bytes = 0;
    int rc;

    if (cli_parse(cl, argc, argv, opts, 2, false))
        return EXIT_USAGE;
    if (cl->npos != 2)
        return cli_usage_error(cl->cmd, "expected NAME PATH: volume add NAME PATH [--max-bytes N]");
    if (maxb && parse_bytes(maxb, &max_bytes) < 0)
        return cli_usage_error(cl->cmd, "bad --max-bytes '%s': expected bytes like 500M or 2G",
                               maxb);
    rc = cli_open_index(cl, root, &idx, &err);
    if (rc == 0)
        rc = idx_begin(idx, true, &t, &err);
    if (rc == 0)
        rc = idx_volume_add(t, root, cl->pos[0], cl->pos[1], max_bytes, &v, &err);
    if (rc == 0)
        rc = cli_audit(t, "volume-add", v.name, NULL, v.path, &err);
    if (rc == 0) {
        rc = idx_commit(t, &err);
        t = NULL;
    }
    cli_close_index(idx, t);
    if (rc < 0)
        return cli_fail(&err);
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

static int volume_list(struct cli_cmdline *cl, int argc, char **argv)
{
    struct idx_volume *v = NULL;
    struct idx_camera *cams = NULL;
    struct cli_reader r;
    size_t n = 0, ncams = 0;
    struct cv_buf out;
    int rc = cli_list_begin(&r, cl, argc, argv);

    if (rc)
        return rc;
    rc = idx_volume_list(r.t, &v, &n, &r.err);
    if (rc == 0)
        rc = idx_camera_list(r.t, &cams, &ncams, &r.err);
    if (rc < 0) {
        cli_reader_close(&r);
        free(v);
        return cli_fail(&r.err);
    }
    cv_buf_init(&out, 16u << 20);
    cv_buf_printf(&out, cl->json ? "[" : "%-12s %12s %12s %12s %9s  %s\n", "VOLUME", "USED MB",
                  "FREE MB", "LIMIT MB", "SEGMENTS", "PATH");
    for (size_t i = 0; i < n; i++) {
        char dir[PATH_MAX];
        struct lay_volume_space sp;
        uint64_t fsfree, limit;
        idx_volume_dir(r.root, v[i].name, dir, sizeof(dir), NULL);
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
            oldest_per_camera(r.t, cams, ncams, v[i].name, true, &out);
            cv_buf_printf(&out, "}}");
        } else {
            cv_buf_printf(&out, "%-12s %12.1f %12.1f %12.1f %9llu  %s\n", v[i].name,
                          (double)v[i].used_bytes / 1e6, (double)fsfree / 1e6,
                          (double)limit / 1e6, (unsigned long long)v[i].segments,
                          v[i].path[0] ? v[i].path : dir);
            oldest_per_camera(r.t, cams, ncams, v[i].name, false, &out);
        }
    }
    if (cl->json)
        cv_buf_printf(&out, "]\n");
    cli_reader_close(&r);
    free(v);
    free(cams);
    fwrite(out.data, 1, out.len, stdout);
    cv_buf_release(&out);
    return 0;
}

int cli_cmd_volume(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"add", volume_add}, {"list", volume_list}, {NULL, NULL}};

    return cli_run_sub("volume", subs, argc, argv);
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

static int retention_set(struct cli_cmdline *cl, int argc, char **argv)
{
    struct cli_camera_change ch = {.apply = set_days};
    struct cv_err err = {""};
    double days;

    if (cli_parse(cl, argc, argv, NULL, 2, false))
        return EXIT_USAGE;
    if (cl->npos != 2)
        return cli_usage_error(cl->cmd, "expected CAMERA DAYS");
    if (cv_parse_double(cl->pos[1], 1e-6, 36500, &days) < 0)
        return cli_usage_error(cl->cmd,
                               "bad DAYS '%s': expected a positive number (fractions "
                               "allowed)",
                               cl->pos[1]);
    ch.id = cl->pos[0];
    ch.arg = &days;
    ch.action = "retention-set";
    snprintf(ch.detail, sizeof(ch.detail), "%g days", days);
    if (cli_with_index(cl, cli_camera_change_txn, &ch, &err) < 0)
        return cli_fail(&err);
    printf("camera %s keeps %g days\n", cl->pos[0], days);
    return 0;
}

static int retention_run(struct cli_cmdline *cl, int argc, char **argv)
{
    struct idx_ret_report rep;
    struct cv_err err = {""};
    struct idx *idx = NULL;
    char root[PATH_MAX];
    int rc;

    if (cli_parse(cl, argc, argv, NULL, 0, false))
        return EXIT_USAGE;
    rc = cli_open_index(cl, root, &idx, &err);
    if (rc == 0)
        rc = idx_retention_pass(idx, root, cv_now_us(), 1000000, &rep, &err);
    idx_close(idx);
    if (rc < 0) {
        idx_ret_report_release(&rep);
        return cli_fail(&err);
    }
    print_report(&rep);
    idx_ret_report_release(&rep);
    return 0;
}

static int retention_show(struct cli_cmdline *cl, int argc, char **argv)
{
    struct idx_camera *cams = NULL;
    struct cli_reader r;
    size_t n = 0;
    int rc = cli_list_begin(&r, cl, argc, argv);

    if (rc)
        return rc;
    rc = idx_camera_list(r.t, &cams, &n, &r.err);
    if (rc < 0) {
        cli_reader_close(&r);
        return cli_fail(&r.err);
    }
    if (cl->json)
        printf("[");
    else
        printf("%-20s %10s %-22s %s\n", "CAMERA", "DAYS", "OLDEST FOOTAGE (UTC)", "VOLUME");
    for (size_t i = 0; i < n; i++) {
        struct first_ctx f = {NULL, INT64_MIN};
        char ts[48] = "-";
        idx_segment_iter(r.t, cams[i].num, INT64_MIN, INT64_MAX, first_cb, &f, NULL);
        if (f.start != INT64_MIN)
            cv_time_format_utc(f.start, ts, sizeof(ts), 0);
        if (cl->json) {
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
    if (cl->json)
        printf("]\n");
    cli_reader_close(&r);
    free(cams);
    return 0;
}

int cli_cmd_retention(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"show", retention_show}, {"set", retention_set}, {"run", retention_run}, {NULL, NULL}};

    return cli_run_sub("retention", subs, argc, argv);
}
