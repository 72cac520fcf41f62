/*
 * sealer.c: ready seal requests (sealer.h).
 */
#include <string.h>

#include "common/log.h"
#include "recorder/sealer.h"
#include "storage-layout/seal.h"
#include "common/banned.h"

struct ready_ctx {
    struct idx_txn *t;
    struct rec_sealed *out;
    size_t max, n;
};

static int check_one(void *vctx, const char *camera, const char *rel)
{
    struct ready_ctx *r = vctx;
    struct idx_camera cam;
    char pending[LAY_RELPATH_MAX];

    if (idx_camera_get(r->t, camera, &cam, NULL) == 0 &&
        idx_pending_get(r->t, cam.num, pending, NULL) == 0 && strcmp(pending, rel) == 0)
        return 0; /* still being written */
    cv_strlcpy(r->out[r->n].camera, camera, sizeof(r->out[r->n].camera));
    cv_strlcpy(r->out[r->n].rel, rel, sizeof(r->out[r->n].rel));
    return ++r->n >= r->max;
}

size_t rec_seal_ready(struct idx *idx, const char *root, struct rec_sealed *out, size_t max)
{
    struct ready_ctx r = {.out = out, .max = max};
    struct cv_err err = {""};
    int rc;

    if (max == 0 || idx_begin(idx, false, &r.t, &err) < 0)
        return 0;
    rc = lay_seal_list(root, check_one, &r, &err);
    idx_abort(r.t);
    if (rc < 0)
        cv_warn("seal requests: %s", err.msg);
    return r.n;
}

void rec_seal_finish(const char *root, const struct rec_sealed *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lay_seal_done(root, out[i].camera, out[i].rel);
}
