/*
 * cli/hold.c: camvault hold add|list|release.
 * Contracts in cli/cli.h.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"

#include "cli/cli.h"
#include "server/views.h"
#include "common/banned.h"

/* ---- holds ---- */

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

static int hold_add(struct cli_cmdline *cl, int argc, char **argv)
{
    const char *case_id = NULL, *cams = NULL, *from_s = NULL, *to_s = NULL, *until_s = NULL,
               *why = "", *who = NULL;
    const struct cli_opt opts[] = {
        {"--case", true, &case_id, NULL},  {"--camera", true, &cams, NULL},
        {"--from", true, &from_s, NULL},   {"--to", true, &to_s, NULL},
        {"--until", true, &until_s, NULL}, {"--reason", true, &why, NULL},
        {"--by", true, &who, NULL},        {NULL, false, NULL, NULL},
    };
    struct cv_err err = {""};
    struct idx_hold h;
    char list[IDX_HOLD_CAMERAS * (LAY_ID_MAX + 2)], *save = NULL;

    if (cli_parse(cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (!case_id || !cams || !from_s || !to_s)
        return cli_usage_error(cl->cmd, "needs --case, --camera, --from and --to");
    memset(&h, 0, sizeof(h));
    if (cli_parse_range(cl->cmd, from_s, to_s, &h.from_us, &h.to_us) < 0)
        return EXIT_USAGE;
    if (until_s && cv_time_parse(until_s, &h.until_us, &err) < 0)
        return cli_usage_error(cl->cmd, "%s", err.msg);
    if (strlen(case_id) >= sizeof(h.case_id) || strlen(why) >= sizeof(h.why) ||
        cv_strlcpy(list, cams, sizeof(list)) < 0)
        return cli_usage_error(cl->cmd, "--case, --camera or --reason is too long");
    cv_strlcpy(h.case_id, case_id, sizeof(h.case_id));
    cv_strlcpy(h.why, why, sizeof(h.why));
    if (!who)
        who = getenv("USER") ? getenv("USER") : "cli";
    cv_strlcpy(h.who, who, sizeof(h.who));
    for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        if (h.ncameras == IDX_HOLD_CAMERAS)
            return cli_usage_error(cl->cmd, "at most %d cameras per hold", IDX_HOLD_CAMERAS);
        if (lay_id_check("camera", c, &err) < 0)
            return cli_usage_error(cl->cmd, "%s", err.msg);
        cv_strlcpy(h.cameras[h.ncameras++], c, sizeof(h.cameras[0]));
    }
    if (!h.ncameras)
        return cli_usage_error(cl->cmd, "--camera needs at least one camera id");
    h.created_us = cv_now_us();
    if (cli_with_index(cl, hold_add_txn, &h, &err) < 0)
        return cli_fail(&err);
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

CLI_LIST_OF(list_holds, idx_hold_list)
CLI_JSON_OF(hold_json, srv_hold_json)

static void hold_row(struct cv_buf *b, const void *item)
{
    const struct idx_hold *h = item;
    char from[48], to[48];

    cv_time_format_utc(h->from_us, from, sizeof(from), 0);
    cv_time_format_utc(h->to_us, to, sizeof(to), 0);
    cv_buf_printf(b, "hold %llu  case %s  %s .. %s  cameras", (unsigned long long)h->id,
                  h->case_id, from, to);
    for (uint32_t j = 0; j < h->ncameras; j++)
        cv_buf_printf(b, "%s%s", j ? "," : " ", h->cameras[j]);
    cv_buf_printf(b, "  %s%s\n", h->released_us ? "released" : "active", h->why[0] ? "" : "");
}

static int hold_list(struct cli_cmdline *cl, int argc, char **argv)
{
    static const struct cli_listing l = {list_holds, sizeof(struct idx_hold), hold_json, NULL,
                                         hold_row};

    return cli_run_listing(cl, argc, argv, &l);
}

static int hold_release(struct cli_cmdline *cl, int argc, char **argv)
{
    const char *who = NULL;
    const struct cli_opt opts[] = {{"--by", true, &who, NULL}, {NULL, false, NULL, NULL}};
    struct cv_err err = {""};
    struct hold_release rel;
    int64_t id;

    if (cli_parse(cl, argc, argv, opts, 1, false))
        return EXIT_USAGE;
    if (cl->npos != 1 || cv_parse_i64(cl->pos[0], 1, INT64_MAX, &id) < 0)
        return cli_usage_error(cl->cmd, "expected one hold id (a number)");
    rel.id = (uint64_t)id;
    rel.by = who ? who : getenv("USER") ? getenv("USER") : "cli";
    if (cli_with_index(cl, hold_release_txn, &rel, &err) < 0)
        return cli_fail(&err);
    printf("hold %lld released\n", (long long)id);
    return 0;
}

int cli_cmd_hold(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"add", hold_add}, {"list", hold_list}, {"release", hold_release}, {NULL, NULL}};

    return cli_run_sub("hold", subs, argc, argv);
}
