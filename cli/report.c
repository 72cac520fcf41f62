/*
 * cli/report.c: camvault report online, the online rate report (server/online.h, issue 13).
 * Contracts in cli/cli.h.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/cvtime.h"
#include "cli/cli.h"
#include "server/online.h"
#include "common/banned.h"

static int report_online(struct cli_cmdline *cl, int argc, char **argv)
{
    const char *from_s = NULL, *to_s = NULL, *area = NULL;
    bool by_day = false;
    const struct cli_opt opts[] = {{"--from", true, &from_s, NULL},
                                   {"--to", true, &to_s, NULL},
                                   {"--area", true, &area, NULL},
                                   {"--by-day", false, NULL, &by_day},
                                   {NULL, false, NULL, NULL}};
    struct srv_online_query q = {.now_us = cv_now_us()};
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    char root[PATH_MAX];
    struct cv_buf out;
    int rc;

    if (cli_parse(cl, argc, argv, opts, 0, true))
        return EXIT_USAGE;
    if (!from_s || !to_s)
        return cli_usage_error(cl->cmd, "needs --from T and --to T");
    if (cli_parse_range(cl->cmd, from_s, to_s, &q.from_us, &q.to_us) < 0)
        return EXIT_USAGE;
    q.area = area;
    q.by_day = by_day;
    rc = cli_read_begin(cl, root, &idx, &t, &err);
    q.root = root;
    cv_buf_init(&out, 64u << 20);
    if (rc == 0)
        rc = srv_online_report(t, &q, cl->json ? SRV_ONLINE_JSON : SRV_ONLINE_TEXT, &out, &err);
    cli_close_index(idx, t);
    if (rc == 0)
        fwrite(out.data, 1, out.len, stdout);
    cv_buf_release(&out);
    return rc < 0 ? cli_fail(&err) : 0;
}

int cli_cmd_report(int argc, char **argv)
{
    static const struct cli_sub subs[] = {{"online", report_online}, {NULL, NULL}};

    return cli_run_sub("report", subs, argc, argv);
}
