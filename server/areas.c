/*
 * areas.c: the tree of areas (areas.h): records, the in-use check, and scope containment.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/cvtime.h"
#include "server/areas.h"
#include "server/records.h"
#include "server/users.h"
#include "common/banned.h"

#define REC_MAX 1024

static const struct srv_field fields[] = {
    SRV_F_STR(struct srv_area, id),
    SRV_F_STR(struct srv_area, name),
    SRV_F_STR(struct srv_area, parent),
    SRV_F_BE64(struct srv_area, created_us),
    SRV_F_END,
};

static const struct srv_rec_kind kind = {
    SRV_REC_KIND(IDX_AREAS, "area", struct srv_area, REC_MAX, LAY_ID_MAX + 1),
    .fields = fields,
};

int srv_area_get(struct idx_txn *t, const char *id, struct srv_area *out, struct cv_err *err)
{
    return srv_rec_load(t, &kind, id, out, err);
}

int srv_area_list(struct idx_txn *t, struct srv_area **out, size_t *n, struct cv_err *err)
{
    return srv_rec_list(t, &kind, (void **)out, n, NULL, err);
}

int srv_area_check(struct idx_txn *t, const char *id, bool empty_ok, struct cv_err *err)
{
    struct srv_area a;

    if (!id || !*id)
        return empty_ok ? 0 : cv_errf(err, CV_EINVAL, "an area is required");
    return srv_area_get(t, id, &a, err);
}

int srv_area_add(struct idx_txn *t, struct srv_area *a, struct cv_err *err)
{
    struct srv_area up;
    int depth = 1, rc = lay_id_check("area", a->id, err);

    if (rc < 0)
        return rc;
    if (!a->name[0])
        return cv_errf(err, CV_EINVAL, "area '%s': the name is empty", a->id);
    for (const char *p = a->parent; *p; p = up.parent) {
        rc = srv_area_get(t, p, &up, err);
        if (rc < 0)
            return rc;
        if (++depth > SRV_AREA_DEPTH_MAX)
            return cv_errf(err, CV_ELIMIT, "area '%s': the tree would be deeper than %d levels",
                           a->id, SRV_AREA_DEPTH_MAX);
    }
    if (!a->created_us)
        a->created_us = cv_now_us();
    rc = srv_rec_store(t, &kind, a, true, err);
    if (rc == CV_EEXIST)
        rc = cv_errf(err, CV_EEXIST, "area '%s' already exists", a->id);
    return rc;
}

/* The first thing that names area `id`, as "camera 'x'" etc. into used (empty: none). */
static int users_of(struct idx_txn *t, const char *id, char *used, size_t cap, struct cv_err *err)
{
    struct idx_camera *cams = NULL;
    struct srv_user *users = NULL;
    struct srv_area *areas = NULL;
    size_t n = 0;
    int rc = idx_camera_list(t, &cams, &n, err);

    for (size_t i = 0; rc == 0 && i < n && !used[0]; i++)
        if (strcmp(cams[i].area, id) == 0)
            snprintf(used, cap, "camera '%s'", cams[i].id);
    if (rc == 0 && !used[0])
        rc = srv_user_list(t, &users, &n, err);
    for (size_t i = 0; rc == 0 && i < n && !used[0]; i++)
        if (strcmp(users[i].area, id) == 0)
            snprintf(used, cap, "user '%s'", users[i].name);
    if (rc == 0 && !used[0])
        rc = srv_area_list(t, &areas, &n, err);
    for (size_t i = 0; rc == 0 && i < n && !used[0]; i++)
        if (strcmp(areas[i].parent, id) == 0)
            snprintf(used, cap, "area '%s'", areas[i].id);
    free(cams);
    free(users);
    free(areas);
    return rc;
}

int srv_area_remove(struct idx_txn *t, const char *id, struct cv_err *err)
{
    struct srv_area a;
    char used[128] = "";
    int rc = srv_area_get(t, id, &a, err);

    if (rc == 0)
        rc = users_of(t, id, used, sizeof(used), err);
    if (rc == 0 && used[0])
        rc = cv_errf(err, CV_ESTATE, "area '%s' is in use by %s: move or remove it first", id,
                     used);
    if (rc == 0)
        rc = idx_rec_del(t, IDX_AREAS, id, strlen(id), err);
    return rc;
}

bool srv_area_within(struct idx_txn *t, const char *area, const char *scope)
{
    struct srv_area a;
    struct cv_err err = {""};
    char p[LAY_ID_MAX + 1];

    if (!scope || !*scope)
        return true;
    if (!area || cv_strlcpy(p, area, sizeof(p)) < 0)
        return false;
    for (int depth = 0; p[0] && depth < SRV_AREA_DEPTH_MAX; depth++) {
        if (strcmp(p, scope) == 0)
            return true;
        if (srv_area_get(t, p, &a, &err) < 0)
            return false;
        memcpy(p, a.parent, sizeof(p));
    }
    return false;
}

void srv_area_json(struct cv_buf *b, const struct srv_area *a)
{
    cv_json_open_id(b, a->id);
    cv_json_add_str(b, "name", a->name, false);
    cv_json_add_str(b, "parent", a->parent, true);
    cv_json_add_time(b, "created", a->created_us);
    cv_buf_u8(b, '}');
}
