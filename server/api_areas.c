/*
 * api_areas.c: GET /api/v1/areas, the areas in the caller's scope (docs/api.md, "Areas";
 * issue 13). Areas are added and removed from the command line (`camvault area`).
 */
#include <stdlib.h>

#include "server/areas.h"
#include "server/srv_int.h"
#include "common/banned.h"

SRV_LIST_OF(list_areas, srv_area_list)

static bool keep_area(struct srv_req *r, struct idx_txn *t, const void *a, void *ctx)
{
    (void)ctx;
    return srv_scope_area(r, t, ((const struct srv_area *)a)->id);
}

SRV_LIST_JSON(list_area_json, srv_area_json)

int api_areas_list(struct srv_req *r)
{
    const struct srv_list l = {"areas", sizeof(struct srv_area), 0, NULL, list_areas, keep_area,
                               list_area_json};

    return srv_reply_list(r, &l);
}
