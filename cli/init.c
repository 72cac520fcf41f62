/*
 * cli/init.c: camvault init.
 * Contracts in cli/cli.h.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "server/audit.h"

#include "cli/cli.h"
#include "common/banned.h"

/* ---- init ---- */

int cli_cmd_init(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "init"};
    char root[PATH_MAX], site[33];
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    bool existed;
    int keys = 0;
    int rc;

    if (cli_parse(&cl, argc, argv, NULL, 0, false))
        return EXIT_USAGE;
    if (cli_resolve_root(&cl, root, &err) < 0)
        return cli_fail(&err);
    existed = lay_root_check(root, NULL) == 0;
    rc = lay_root_create(root, &err);
    if (rc == 0)
        rc = idx_open(&idx, root, IDX_CREATE, &err);
    if (rc == 0)
        rc = idx_begin(idx, false, &t, &err);
    if (rc == 0)
        rc = idx_site_id(t, site, &err);
    cli_close_index(idx, t);
    if (rc == 0)
        rc = itg_keys_create(root, site, &keys, &err);
    if (rc < 0)
        return cli_fail(&err);
    printf("%s camvault data root %s (site %s)\n", existed ? "already initialized:" : "initialized",
           root, site);
    if (keys)
        printf("created the site signing key and certificates in %s/keys (see 'camvault keys "
               "show')\n", root);
    return 0;
}
