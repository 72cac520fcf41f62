/*
 * clip_sources.c: which segment files a clip is made of (clip.h, exp_clip_sources_collect).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/clip.h"
#include "indexer/idx.h"
#include "indexer/openseg.h"
#include "storage-layout/layout.h"
#include "common/banned.h"

struct collect {
    const char *root;
    struct exp_clip_sources *s;
    int rc;
    struct cv_err *err;
};

static int add_one(void *ctx, const struct idx_segment *seg)
{
    struct collect *c = ctx;
    struct exp_clip_sources *s = c->s;
    char abs[PATH_MAX];

    if (s->n == EXP_CLIP_SOURCES_MAX) {
        s->truncated = true;
        return 1;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        char **p = realloc(s->paths, cap * sizeof(*p));
        uint64_t *q = p ? realloc(s->runs, cap * sizeof(*q)) : NULL;
        if (p)
            s->paths = p;
        if (!p || !q)
            return c->rc = cv_errf(c->err, CV_ENOMEM, "out of memory");
        s->runs = q;
        s->cap = cap;
    }
    if ((c->rc = lay_abs(c->root, seg->path, abs, sizeof(abs), c->err)) < 0)
        return c->rc;
    if (!(s->paths[s->n] = strdup(abs)))
        return c->rc = cv_errf(c->err, CV_ENOMEM, "out of memory");
    s->runs[s->n++] = seg->run_id;
    return 0;
}

int exp_clip_sources_collect(struct idx_txn *t, const char *root, const struct idx_camera *cam,
                             int64_t from_us, int64_t to_us, struct exp_clip_sources *out,
                             struct cv_err *err)
{
    struct collect c = {.root = root, .s = out, .err = err};
    int rc;

    memset(out, 0, sizeof(*out));
    rc = idx_segment_iter_open(t, root, cam->num, from_us, to_us, add_one, &c, err);
    if (rc == 0 && c.rc < 0)
        rc = c.rc;
    if (rc == 0 && out->n == 0)
        rc = cv_errf(err, CV_ENOENT, "camera '%s': nothing recorded in this range", cam->id);
    return rc;
}

void exp_clip_sources_release(struct exp_clip_sources *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->paths[i]);
    free(s->paths);
    free(s->runs);
    memset(s, 0, sizeof(*s));
}
