/*
 * test_online.c: the online report's days (server/online.h): UTC days by default, the site's
 * days with by_day (midnight in the local zone, a 23-hour day where daylight saving starts),
 * and by_day's extra output (the total's and cameras' days, the CSV's date column).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cvtime.h"
#include "server/areas.h"
#include "server/online.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

/* One camera "cam" in area "town", enabled since long before t0, no footage. */
static int one_camera(struct idx_txn *t, int64_t t0, struct cv_err *err)
{
    struct srv_area a;
    struct idx_camera cam;
    int rc;

    memset(&a, 0, sizeof(a));
    cv_strlcpy(a.id, "town", sizeof(a.id));
    cv_strlcpy(a.name, "Town", sizeof(a.name));
    if ((rc = srv_area_add(t, &a, err)) < 0)
        return rc;
    memset(&cam, 0, sizeof(cam));
    cv_strlcpy(cam.id, "cam", sizeof(cam.id));
    cv_strlcpy(cam.area, "town", sizeof(cam.area));
    cam.enabled = true;
    cam.created_us = t0 - INT64_C(86400) * 10 * CV_US_PER_S;
    return idx_camera_add(t, &cam, err);
}

static const char *report(struct idx_txn *t, const struct srv_online_query *q,
                          enum srv_online_format fmt, struct cv_buf *out)
{
    struct cv_err err = {""};

    cv_buf_reset(out);
    CHECK_OK(srv_online_report(t, q, fmt, out, &err), &err);
    cv_buf_u8(out, 0);
    return (const char *)out->data;
}

void test_online_site_days(void)
{
    struct fx_env e;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct cv_buf out;
    const int64_t S = CV_US_PER_S, H = 3600 * S;
    const int64_t T0 = INT64_C(1767225600) * S; /* 2026-01-01T00:00:00Z, 08:00 in Shanghai */
    const int64_t DST = INT64_C(1772946000) * S; /* 2026-03-08T05:00:00Z, midnight in New York */
    struct srv_online_query q = {.from_us = T0, .to_us = T0 + 48 * H, .now_us = T0 + 100 * H};
    const char *s;

    if (fx_env_open(&e) < 0)
        return;
    q.root = e.root;
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    cv_buf_init(&out, 1 << 20);
    CHECK_OK(idx_begin(e.idx, true, &t, &err), &err);
    CHECK_OK(one_camera(t, T0, &err), &err);

    /* UTC days: two whole days; unchanged output (no date column, no camera days). */
    s = report(t, &q, SRV_ONLINE_JSON, &out);
    CHECK_CONTAINS(s, "\"days\":[{\"date\":\"2026-01-01\",\"enabled_seconds\":86400.000,");
    CHECK_CONTAINS(s, "{\"date\":\"2026-01-02\",\"enabled_seconds\":86400.000,");
    CHECK(!strstr(s, "\"date\":\"2026-01-03"));
    CHECK(!strstr(strstr(s, "\"cameras\":[{"), "\"days\""));
    s = report(t, &q, SRV_ONLINE_CSV, &out);
    CHECK_CONTAINS(s, "unexplained_seconds\ntotal,,,1,");
    CHECK(!strstr(s, "date"));

    /* The site's days: 16 h of the 1st (from 08:00), the 2nd, 8 h of the 3rd. */
    q.by_day = true;
    s = report(t, &q, SRV_ONLINE_JSON, &out);
    CHECK_CONTAINS(s, "\"total\":{\"cameras\":1,\"enabled_seconds\":172800.000,");
    CHECK_CONTAINS(s, "\"days\":[{\"date\":\"2026-01-01\",\"enabled_seconds\":57600.000,");
    CHECK_CONTAINS(s, "{\"date\":\"2026-01-02\",\"enabled_seconds\":86400.000,");
    CHECK_CONTAINS(s, "{\"date\":\"2026-01-03\",\"enabled_seconds\":28800.000,");
    CHECK_CONTAINS(strstr(s, "\"cameras\":[{"), "\"days\":[{\"date\":\"2026-01-01\"");
    s = report(t, &q, SRV_ONLINE_CSV, &out);
    CHECK_CONTAINS(s, "unexplained_seconds,date\ntotal,,,1,172800.000,0.000,0.000000,");
    CHECK_CONTAINS(s, "total,,,1,57600.000,0.000,0.000000,,,,2026-01-01\n");
    CHECK_CONTAINS(s, "area,town,,1,86400.000,0.000,0.000000,,,,2026-01-02\n");
    CHECK_CONTAINS(s, "camera,cam,town,1,28800.000,0.000,0.000000,,,,2026-01-03\n");

    /* Daylight saving starts in New York on 2026-03-08: that site day has 23 hours. */
    setenv("TZ", "America/New_York", 1);
    tzset();
    q.from_us = DST;
    q.to_us = DST + 48 * H;
    q.now_us = DST + 100 * H;
    s = report(t, &q, SRV_ONLINE_CSV, &out);
    CHECK_CONTAINS(s, "total,,,1,82800.000,0.000,0.000000,,,,2026-03-08\n");
    CHECK_CONTAINS(s, "total,,,1,86400.000,0.000,0.000000,,,,2026-03-09\n");
    CHECK_CONTAINS(s, "total,,,1,3600.000,0.000,0.000000,,,,2026-03-10\n");
    CHECK(!strstr(s, "2026-03-11"));
    idx_abort(t);
    cv_buf_release(&out);
    fx_env_close(&e);
}
