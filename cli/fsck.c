/*
 * cli/fsck.c: camvault fsck.
 * Contracts in cli/cli.h.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "indexer/fsck.h"

#include "cli/cli.h"
#include "common/banned.h"

/* ---- fsck ---- */

static void fsck_line(void *ctx, const char *line)
{
    (void)ctx;
    printf("%s\n", line);
    fflush(stdout);
}

int cli_cmd_fsck(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "fsck"};
    bool repair = false, rebuild = false;
    const struct cli_opt opts[] = {
        {"--repair", false, NULL, &repair},
        {"--rebuild", false, NULL, &rebuild},
        {NULL, false, NULL, NULL},
    };
    struct idx_fsck_counts n;
    struct cv_err err = {""};
    char root[PATH_MAX];

    if (cli_parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (repair && rebuild)
        return cli_usage_error(cl.cmd, "--repair and --rebuild are different modes: pick one");
    if (cli_resolve_root(&cl, root, &err) < 0 || lay_root_check(root, &err) < 0)
        return cli_fail(&err);
    memset(&n, 0, sizeof(n));
    if (idx_fsck(root, rebuild ? IDX_FSCK_REBUILD : repair ? IDX_FSCK_REPAIR : IDX_FSCK_CHECK,
                 fsck_line, NULL, &n, &err) < 0)
        return cli_fail(&err);
    printf("fsck: %zu files, %zu records, %zu findings, %zu repaired\n", n.files, n.records,
           n.findings, n.repaired);
    return n.findings > n.repaired ? 1 : 0;
}
