/*
 * cli/area.c: camvault area add|list|remove, the tree of areas (server/areas.h, issue 13).
 * Contracts in cli/cli.h.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/areas.h"
#include "common/banned.h"

static int area_add_txn(struct idx_txn *t, void *ctx, struct cv_err *err)
{
    struct srv_area *a = ctx;
    char detail[IDX_TEXT_MAX + LAY_ID_MAX + 16];
    int rc = srv_area_add(t, a, err);

    snprintf(detail, sizeof(detail), "%s%s%s", a->name, a->parent[0] ? "; under " : "",
             a->parent);
    return rc < 0 ? rc : cli_audit(t, "area-add", a->id, NULL, detail, err);
}

static int area_remove_txn(struct idx_txn *t, void *ctx, struct cv_err *err)
{
    const char *id = ctx;
    int rc = srv_area_remove(t, id, err);

    return rc < 0 ? rc : cli_audit(t, "area-remove", id, NULL, NULL, err);
}

static int area_add(struct cli_cmdline *cl, int argc, char **argv)
{
    const char *name = NULL, *parent = "";
    const struct cli_opt opts[] = {{"--name", true, &name, NULL},
                                   {"--parent", true, &parent, NULL},
                                   {NULL, false, NULL, NULL}};
    struct srv_area a;
    struct cv_err err = {""};

    if (cli_parse_one(cl, argc, argv, opts, false,
                      "expected one area id: area add ID --name T [--parent ID]"))
        return EXIT_USAGE;
    if (lay_id_check("area", cl->pos[0], &err) < 0)
        return cli_usage_error(cl->cmd, "%s", err.msg);
    if (!name || !*name)
        return cli_usage_error(cl->cmd, "missing --name (what the area is called)");
    if (strlen(name) >= IDX_TEXT_MAX)
        return cli_usage_error(cl->cmd, "--name is longer than %d bytes", IDX_TEXT_MAX - 1);
    if (*parent && lay_id_check("area", parent, &err) < 0)
        return cli_usage_error(cl->cmd, "--parent: %s", err.msg);
    memset(&a, 0, sizeof(a));
    cv_strlcpy(a.id, cl->pos[0], sizeof(a.id));
    cv_strlcpy(a.name, name, sizeof(a.name));
    cv_strlcpy(a.parent, parent, sizeof(a.parent));
    if (cli_with_index(cl, area_add_txn, &a, &err) < 0)
        return cli_fail(&err);
    printf("added area %s\n", a.id);
    return 0;
}

CLI_LIST_OF(list_areas, srv_area_list)
CLI_JSON_OF(area_json, srv_area_json)

static void area_row(struct cv_buf *b, const void *item)
{
    const struct srv_area *a = item;

    cv_buf_printf(b, "%-24s %-24s %s\n", a->id, a->parent[0] ? a->parent : "-", a->name);
}

static int area_list(struct cli_cmdline *cl, int argc, char **argv)
{
    static const struct cli_listing l = {list_areas, sizeof(struct srv_area), area_json,
                                         "ID                       PARENT                   NAME",
                                         area_row};

    return cli_run_listing(cl, argc, argv, &l);
}

static int area_remove(struct cli_cmdline *cl, int argc, char **argv)
{
    struct cv_err err = {""};

    if (cli_parse_one(cl, argc, argv, NULL, false, "expected one area id: area remove ID"))
        return EXIT_USAGE;
    if (cli_with_index(cl, area_remove_txn, (void *)cl->pos[0], &err) < 0)
        return cli_fail(&err);
    printf("removed area %s\n", cl->pos[0]);
    return 0;
}

int cli_cmd_area(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"add", area_add}, {"list", area_list}, {"remove", area_remove}, {NULL, NULL}};

    return cli_run_sub("area", subs, argc, argv);
}
