/*
 * test_areas.c: the tree of areas (server/areas.h): adding under a parent, the depth bound,
 * containment (an area within itself, its parent and up; never beside or below), and removal
 * refused while a camera, user or child area names the area; the online report's enabled time
 * and area sums (server/online.h).
 */
#include <stdio.h>
#include <string.h>

#include "common/cvtime.h"
#include "server/areas.h"
#include "server/audit.h"
#include "server/online.h"
#include "server/users.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

static int add(struct idx_txn *t, const char *id, const char *parent, struct cv_err *err)
{
    struct srv_area a;

    memset(&a, 0, sizeof(a));
    cv_strlcpy(a.id, id, sizeof(a.id));
    cv_strlcpy(a.name, id, sizeof(a.name));
    cv_strlcpy(a.parent, parent, sizeof(a.parent));
    return srv_area_add(t, &a, err);
}

void test_areas_tree(void)
{
    struct fx_env e;
    struct idx_camera cam;
    struct srv_user u;
    static const struct {
        const char *area, *scope;
        bool within;
    } cases[] = {
        {"village", "village", true}, {"village", "town-a", true}, {"village", "county", true},
        {"town-a", "village", false}, {"town-b", "town-a", false}, {"village", "town-b", false},
        {"", "county", false},        {"", "", true},              {"ghost", "county", false},
        {"town-b", "", true},
    };

    if (fx_env_open(&e) < 0)
        return;
    CHECK_OK(idx_begin(e.idx, true, &e.t, &e.err), &e.err);
    CHECK_OK(add(e.t, "county", "", &e.err), &e.err);
    CHECK_OK(add(e.t, "town-a", "county", &e.err), &e.err);
    CHECK_OK(add(e.t, "town-b", "county", &e.err), &e.err);
    CHECK_OK(add(e.t, "village", "town-a", &e.err), &e.err);
    CHECK_EQ_INT(add(e.t, "x", "nowhere", &e.err), CV_ENOENT);
    CHECK_EQ_STR(e.err.msg, "unknown area 'nowhere'");
    CHECK_EQ_INT(add(e.t, "town-a", "", &e.err), CV_EEXIST);
    CHECK_EQ_INT(add(e.t, "bad/id", "", &e.err), CV_EINVAL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_MSG(srv_area_within(e.t, cases[i].area, cases[i].scope) == cases[i].within,
                  "'%s' within '%s'", cases[i].area, cases[i].scope);
    /* Eight levels at most. */
    {
        char id[16], parent[16] = "village";
        int rc = 0, made = 0;
        for (int i = 0; i < 8 && rc == 0; i++) {
            snprintf(id, sizeof(id), "deep-%d", i);
            rc = add(e.t, id, parent, &e.err);
            made += rc == 0;
            memcpy(parent, id, sizeof(parent));
        }
        CHECK_EQ_INT(rc, CV_ELIMIT);
        CHECK_EQ_INT(made, SRV_AREA_DEPTH_MAX - 3); /* county, town-a, village above them */
    }
    /* Removal is refused while something names the area. */
    memset(&cam, 0, sizeof(cam));
    cv_strlcpy(cam.id, "gate", sizeof(cam.id));
    cv_strlcpy(cam.area, "town-b", sizeof(cam.area));
    CHECK_OK(idx_camera_add(e.t, &cam, &e.err), &e.err);
    memset(&u, 0, sizeof(u));
    cv_strlcpy(u.name, "li", sizeof(u.name));
    u.role = SRV_ROLE_OFFICER;
    cv_strlcpy(u.area, "deep-3", sizeof(u.area));
    CHECK_OK(srv_user_add(e.t, &u, &e.err), &e.err);
    CHECK_EQ_INT(srv_area_remove(e.t, "town-b", &e.err), CV_ESTATE);
    CHECK_CONTAINS(e.err.msg, "in use by camera 'gate'");
    CHECK_EQ_INT(srv_area_remove(e.t, "deep-2", &e.err), CV_ESTATE);
    CHECK_CONTAINS(e.err.msg, "in use by area 'deep-3'");
    CHECK_EQ_INT(srv_area_remove(e.t, "county", &e.err), CV_ESTATE);
    CHECK_CONTAINS(e.err.msg, "in use by area 'town-a'");
    CHECK_OK(srv_area_remove(e.t, "deep-4", &e.err), &e.err); /* a leaf nobody names */
    CHECK_EQ_INT(srv_area_remove(e.t, "deep-4", &e.err), CV_ENOENT);
    CHECK_EQ_INT(srv_area_remove(e.t, "deep-3", &e.err), CV_ESTATE);
    CHECK_CONTAINS(e.err.msg, "in use by user 'li'");
    CHECK_OK(srv_user_get(e.t, "li", &u, &e.err), &e.err);
    CHECK_EQ_STR(u.area, "deep-3");
    CHECK_OK(idx_camera_get(e.t, "gate", &cam, &e.err), &e.err);
    CHECK_EQ_STR(cam.area, "town-b");
    idx_abort(e.t);
    fx_env_close(&e);
}

/* The online report's enabled time: from creation, less the spans the audit log shows the
 * camera disabled; outages from gaps by reason; the area sums. No footage: recorded 0. */
void test_areas_online_enabled(void)
{
    struct fx_env e;
    struct idx_camera cam;
    struct idx_gap g = {0};
    struct cv_buf out;
    const int64_t S = CV_US_PER_S, T0 = INT64_C(1767225600) * S;
    struct srv_online_query q = {.from_us = T0, .to_us = T0 + 1000 * S, .now_us = T0 + 2000 * S};
    static const struct {
        int64_t at_s;
        const char *action, *detail;
    } events[] = {
        {100, "camera-disable", ""},         {300, "camera-enable", ""},
        {500, "camera-edit", "disabled; "},  {600, "camera-edit", "name; enabled; "},
        {700, "retention-set", "disabled"}, /* not an enable event */
    };

    if (fx_env_open(&e) < 0)
        return;
    q.root = e.root;
    CHECK_OK(idx_begin(e.idx, true, &e.t, &e.err), &e.err);
    CHECK_OK(add(e.t, "county", "", &e.err), &e.err);
    CHECK_OK(add(e.t, "town", "county", &e.err), &e.err);
    memset(&cam, 0, sizeof(cam));
    cv_strlcpy(cam.id, "gate", sizeof(cam.id));
    cv_strlcpy(cam.area, "town", sizeof(cam.area));
    cam.enabled = true;
    cam.created_us = T0 - 50 * S;
    CHECK_OK(idx_camera_add(e.t, &cam, &e.err), &e.err);
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        struct srv_audit_entry a = {.time_us = T0 + events[i].at_s * S, .user = "x", .role = "cli",
                                    .action = events[i].action, .target = "gate",
                                    .detail = events[i].detail};
        CHECK_OK(srv_audit_append(e.t, &a, NULL, &e.err), &e.err);
    }
    g.cam = cam.num;
    g.start_us = T0 + 800 * S;
    g.end_us = T0 + 850 * S;
    g.reason = IDX_GAP_OFFLINE;
    CHECK_OK(idx_gap_put(e.t, &g, &e.err), &e.err);
    cv_buf_init(&out, 1 << 20);
    CHECK_OK(srv_online_report(e.t, &q, SRV_ONLINE_CSV, &out, &e.err), &e.err);
    cv_buf_u8(&out, 0);
    /* Enabled 1000 - 200 (100..300) - 100 (500..600) = 700 s; offline 50 s; unexplained 650. */
    CHECK_CONTAINS((const char *)out.data,
                   "camera,gate,town,1,700.000,0.000,0.000000,50.000,0.000,0.000,650.000\n");
    CHECK_CONTAINS((const char *)out.data, "area,county,,1,700.000,0.000,0.000000,50.000,");
    CHECK_CONTAINS((const char *)out.data, "total,,,1,700.000,");
    cv_buf_reset(&out);
    q.area = "ghost";
    CHECK_EQ_INT(srv_online_report(e.t, &q, SRV_ONLINE_JSON, &out, &e.err), CV_ENOENT);
    cv_buf_release(&out);
    idx_abort(e.t);
    fx_env_close(&e);
}
