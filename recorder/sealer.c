/*
 * sealer.c: ready seal requests (sealer.h).
 */
#include <string.h>

#include "common/log.h"
#include "recorder/sealer.h"
#include "storage-layout/seal.h"
#include "common/banned.h"

struct list_ctx {
    struct rec_sealed *out;
    size_t max, n;
};

static int collect(void *vctx, const char *camera, const char *rel)
{
    struct list_ctx *l = vctx;

    cv_strlcpy(l->out[l->n].camera, camera, sizeof(l->out[l->n].camera));
    cv_strlcpy(l->out[l->n].rel, rel, sizeof(l->out[l->n].rel));
    return ++l->n >= l->max;
}

size_t rec_seal_ready(struct idx *idx, const char *root, struct rec_sealed *out, size_t max)
{
    struct list_ctx l = {.out = out, .max = max};
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    size_t ready = 0;
    int rc = max ? lay_seal_list(root, collect, &l, &err) : 0;

    if (rc < 0)
        cv_warn("seal requests: %s", err.msg);
    if (l.n == 0 || idx_begin(idx, false, &t, &err) < 0)
        return 0; /* the usual case: no request, no transaction */
    for (size_t i = 0; i < l.n; i++) {
        struct idx_camera cam;
        char pending[LAY_RELPATH_MAX];
        if (idx_camera_get(t, out[i].camera, &cam, NULL) == 0 &&
            idx_pending_get(t, cam.num, pending, NULL) == 0 && strcmp(pending, out[i].rel) == 0)
            continue; /* still being written */
        if (ready != i)
            out[ready] = out[i];
        ready++;
    }
    idx_abort(t);
    return ready;
}

void rec_seal_finish(const char *root, const struct rec_sealed *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lay_seal_done(root, out[i].camera, out[i].rel);
}
