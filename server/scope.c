/*
 * scope.c: what a caller may see (srv_int.h, "Scope").
 *
 * Mediators: docs/api.md (Roles): mediators replay only the footage of the dispute cases they
 * are members of. The reach is the union of the clips of the open cases that list the mediator
 * as a member (server/cases.h); a range must lie wholly inside it.
 *
 * Areas (issue 13, server/areas.h): a user with an area sees only the cameras of that area and
 * the areas under it, and only the holds, requests, cases and export jobs all of whose cameras
 * are among them. The HTTP core calls srv_scope_path for every authenticated request, so each
 * path that names a camera, hold, request, case, job or user outside the scope is 404 before
 * any handler runs (as if it did not exist: nothing leaks); lists filter with the same
 * predicates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "server/areas.h"
#include "server/cases.h"
#include "server/jobs.h"
#include "server/requests.h"
#include "server/srv_int.h"
#include "common/banned.h"

bool srv_scope_allows(struct srv_req *r, struct idx_txn *t, const char *camera, int64_t from_us,
                      int64_t to_us)
{
    return srv_case_reach(t, r->user.name, camera, from_us, to_us);
}

static bool scoped(const struct srv_req *r)
{
    return r->authed && r->user.area[0];
}

bool srv_scope_area(struct srv_req *r, struct idx_txn *t, const char *area)
{
    return !scoped(r) || srv_area_within(t, area, r->user.area);
}

bool srv_scope_sees(struct idx_txn *t, const char *scope, const char *camera, const char *by)
{
    struct idx_camera c;
    struct srv_user u;

    if (!scope[0])
        return true;
    if (camera[0])
        return idx_camera_get(t, camera, &c, NULL) == 0 && srv_area_within(t, c.area, scope);
    return by[0] && srv_user_get(t, by, &u, NULL) == 0 && srv_area_within(t, u.area, scope);
}

bool srv_scope_camera(struct srv_req *r, struct idx_txn *t, const struct idx_camera *c)
{
    return srv_scope_area(r, t, c->area);
}

int srv_footage_camera(struct srv_req *r, struct idx_txn *t, int64_t from_us, int64_t to_us,
                       const char *when, bool public_only, struct idx_camera *cam)
{
    struct cv_err err = {""};
    int rc = idx_camera_get(t, r->params[0], cam, &err);

    if (rc == 0 && public_only && r->user.role == SRV_ROLE_RESIDENT && !cam->is_public)
        rc = cv_errf(&err, CV_ENOENT, "unknown camera '%s'", r->params[0]);
    if (r->user.role == SRV_ROLE_MEDIATOR &&
        (rc == CV_ENOENT || (rc == 0 && !srv_scope_allows(r, t, cam->id, from_us, to_us))))
        return srv_error(r, 403, "camera '%s' %s is outside your cases", r->params[0], when), -1;
    if (rc < 0)
        return srv_fail(r, rc, &err), -1;
    return 0;
}

int srv_footage_range(struct srv_req *r, int64_t max_us, const char *too_long, const char *when,
                      struct idx_txn **t, struct idx_camera *cam, int64_t *from, int64_t *to)
{
    *t = NULL;
    if (srv_query_range(r, max_us, too_long, from, to) < 0 || srv_read(r, t) < 0)
        return -1;
    if (srv_footage_camera(r, *t, *from, *to, when, false, cam) < 0) {
        idx_abort(*t);
        *t = NULL;
        return -1;
    }
    return 0;
}

int srv_scope_camera_get(struct srv_req *r, struct idx_txn *t, const char *id,
                         struct idx_camera *out, struct cv_err *err)
{
    int rc = idx_camera_get(t, id, out, err);

    if (rc == 0 && !srv_scope_camera(r, t, out))
        rc = cv_errf(err, CV_ENOENT, "unknown camera '%s'", id);
    return rc;
}

bool srv_scope_cameras(struct srv_req *r, struct idx_txn *t, const char *first, size_t stride,
                       size_t n)
{
    struct idx_camera c;

    if (!scoped(r))
        return true;
    for (size_t i = 0; i < n; i++)
        if (srv_scope_camera_get(r, t, first + i * stride, &c, NULL) < 0)
            return false;
    return true;
}

bool srv_scope_case(struct srv_req *r, struct idx_txn *t, const struct srv_case *c)
{
    for (uint32_t i = 0; scoped(r) && i < c->nclips; i++)
        if (!srv_scope_cameras(r, t, c->clips[i].camera, 0, 1))
            return false;
    return true;
}

int srv_scope_body_area(struct srv_req *r, struct idx_txn *t, const char **out)
{
    const struct cv_jv *v = r->in ? cv_json_get(r->in, "area") : NULL;
    const char *area = NULL;
    struct cv_err err = {""};

    if (!v)
        return 1;
    if (cv_json_get_str(r->in, "area", false, &area, &err) < 0)
        return srv_error(r, 400, "%s", err.msg), -1;
    if (!area)
        area = ""; /* null: no area */
    if (*area && (srv_area_check(t, area, false, &err) < 0 || !srv_scope_area(r, t, area)))
        return srv_error(r, 404, "field 'area': unknown area '%.64s'", area), -1;
    if (!*area && scoped(r))
        return srv_error(r, 403, "field 'area': you may only give an area within '%s'",
                         r->user.area), -1;
    *out = area;
    return 0;
}

/* Whether the record a path names is in scope (true also when there is none: the handler
 * answers that). */
static bool hold_in(struct srv_req *r, struct idx_txn *t, const char *id)
{
    struct idx_hold h;
    int64_t n;

    if (cv_parse_i64(id, 1, INT64_MAX, &n) < 0 || idx_hold_get(t, (uint64_t)n, &h, NULL) < 0)
        return true;
    return srv_scope_cameras(r, t, h.cameras[0], sizeof(h.cameras[0]), h.ncameras);
}

/* name(r, t, id): a record of type T that get() reads and that names its cameras (cameras[],
 * ncameras) is in scope when its cameras are (srv_scope_cameras). */
#define CAMERAS_IN(name, T, get)                                                                   \
    static bool name(struct srv_req *r, struct idx_txn *t, const char *id)                         \
    {                                                                                              \
        T rec;                                                                                     \
        if (get(t, id, &rec, NULL) < 0)                                                            \
            return true;                                                                           \
        return srv_scope_cameras(r, t, rec.cameras[0], sizeof(rec.cameras[0]), rec.ncameras);     \
    }

CAMERAS_IN(request_in, struct srv_request, srv_request_get)
CAMERAS_IN(job_in, struct srv_job, srv_job_get)

static bool case_in(struct srv_req *r, struct idx_txn *t, const char *id)
{
    struct srv_case *c = srv_case_new();
    bool ok = !c || srv_case_get(t, id, c, NULL) < 0 || srv_scope_case(r, t, c);

    free(c);
    return ok;
}

static bool camera_in(struct srv_req *r, struct idx_txn *t, const char *id)
{
    struct idx_camera c;

    return idx_camera_get(t, id, &c, NULL) < 0 || srv_scope_camera(r, t, &c);
}

static bool user_in(struct srv_req *r, struct idx_txn *t, const char *name)
{
    struct srv_user u;

    return srv_user_get(t, name, &u, NULL) < 0 || srv_scope_area(r, t, u.area);
}

/* The paths that name one thing: their prefix (the route's pattern up to and with its first
 * "{}"), what the thing is called in the 404, and its check. */
static const struct {
    const char *prefix, *what;
    bool (*in)(struct srv_req *r, struct idx_txn *t, const char *id);
} kinds[] = {
    {"/api/v1/cameras/{}", "camera", camera_in}, {"/api/v1/holds/{}", "hold", hold_in},
    {"/api/v1/requests/{}", "request", request_in}, {"/api/v1/cases/{}", "case", case_in},
    {"/api/v1/exports/{}", "export job", job_in}, {"/api/v1/users/{}", "user", user_in},
};

int srv_scope_path(struct srv_req *r)
{
    struct idx_txn *t = NULL;
    bool ok = true;
    size_t i, n = sizeof(kinds) / sizeof(kinds[0]);

    if (!scoped(r) || !r->route || r->nparams < 1)
        return 0;
    for (i = 0; i < n; i++)
        if (strncmp(r->route->pattern, kinds[i].prefix, strlen(kinds[i].prefix)) == 0)
            break;
    if (i == n)
        return 0;
    if (srv_read(r, &t) < 0)
        return -1;
    ok = kinds[i].in(r, t, r->params[0]);
    idx_abort(t);
    if (!ok)
        return srv_error(r, 404, "unknown %s '%.64s'", kinds[i].what, r->params[0]), -1;
    return 0;
}
