/*
 * api_areas.c: GET /api/v1/areas, the areas in the caller's scope (docs/api.md, "Areas";
 * issue 13). Areas are added and removed from the command line (`camvault area`).
 */
#include <stdlib.h>

#include "server/areas.h"
#include "server/srv_int.h"
#include "common/banned.h"

int api_areas_list(struct srv_req *r)
{
    struct srv_area *a = NULL;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    size_t n = 0, shown = 0;
    int rc;

    if (srv_read(r, &t) < 0)
        return 0;
    rc = srv_area_list(t, &a, &n, &err);
    if (rc < 0)
        return srv_abort_fail(r, t, rc, &err);
    srv_reply_open(r, 200, "areas", true);
    for (size_t i = 0; i < n; i++) {
        if (!srv_scope_area(r, t, a[i].id))
            continue;
        srv_reply_sep(r, shown++);
        srv_area_json(&r->out, &a[i]);
    }
    idx_abort(t);
    free(a);
    return srv_reply_close(r, true);
}
