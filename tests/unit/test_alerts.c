/*
 * test_alerts.c: residents' reports and the duty room's alerts (server/reports.h, alerts.h):
 * records through the index, photo types, and the camera-state alerts the watcher derives from
 * the recorder's statuses (one alert per change, none again after a restart).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "server/alerts.h"
#include "server/reports.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

void test_alerts_reports(void)
{
    static const struct {
        const char *kind;
        bool alarm;
    } kinds[] = {
        {"help", true},           {"hazard", true},       {"camera_offline", true},
        {"camera_online", false}, {"picture_ok", false},  {"retention_shortfall", true},
        {"retention_ok", false},  {"picture_frozen", true},
    };
    static const struct unit_bytes_case photos[] = {
        {"\xff\xd8\xff\xe0", 4, "image/jpeg"},
        {"\x89PNG\r\n\x1a\n", 8, "image/png"},
        {"GIF89a", 6, NULL},
        {"\xff\xd8", 2, NULL},
    };
    struct fx_env e;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct srv_report rp = {0}, back;
    struct srv_alert a1 = {0}, a2 = {0}, *list = NULL;
    struct cv_buf b;
    size_t n = 0;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        CHECK_MSG(srv_alert_is_alarm(kinds[i].kind) == kinds[i].alarm, "%s", kinds[i].kind);
    for (size_t i = 0; i < NELEM(photos); i++) {
        const char *got = srv_photo_type((const uint8_t *)photos[i].bytes, photos[i].n);
        CHECK_MSG(got == photos[i].want || (got && photos[i].want && !strcmp(got, photos[i].want)),
                  "photo %zu", i);
    }
    CHECK_EQ_INT(srv_report_kind_of("hazard"), SRV_REPORT_HAZARD);
    CHECK_EQ_INT(srv_report_kind_of("fire"), -1);
    CHECK_EQ_INT(srv_report_status_of("answered"), SRV_RP_ANSWERED);

    if (fx_env_open(&e) < 0)
        return;
    cv_buf_init(&b, SRV_REPORT_PHOTO_MAX);
    CHECK_OK(idx_begin(e.idx, true, &t, &err), &err);
    rp.kind = SRV_REPORT_HELP;
    cv_strlcpy(rp.by, "rita", sizeof(rp.by));
    cv_strlcpy(rp.household, "Building 12, 401", sizeof(rp.household));
    cv_strlcpy(rp.camera, "lane", sizeof(rp.camera));
    cv_strlcpy(rp.text, "fell \"down\"", sizeof(rp.text));
    cv_strlcpy(rp.photo_type, "image/png", sizeof(rp.photo_type));
    rp.at_us = rp.created_us = 1000;
    rp.hold = 7;
    CHECK_OK(srv_report_add(t, &rp, &err), &err);
    CHECK_EQ_STR(rp.id, "RP-1");
    CHECK_OK(srv_report_photo_put(t, rp.id, "\x89PNG\r\n\x1a\n", 8, &err), &err);
    cv_strlcpy(a1.kind, "help", sizeof(a1.kind));
    cv_strlcpy(a1.report, rp.id, sizeof(a1.report));
    CHECK_OK(srv_alert_add(t, &a1, &err), &err);
    cv_strlcpy(a2.kind, "camera_offline", sizeof(a2.kind));
    CHECK_OK(srv_alert_add(t, &a2, &err), &err);
    CHECK_OK(idx_commit(t, &err), &err);

    CHECK_OK(idx_begin(e.idx, false, &t, &err), &err);
    CHECK_OK(srv_report_get(t, "RP-1", &back, &err), &err);
    CHECK_EQ_STR(back.household, rp.household);
    CHECK_EQ_STR(back.text, rp.text);
    CHECK_EQ_INT(back.kind, SRV_REPORT_HELP);
    CHECK_EQ_U64(back.hold, 7);
    CHECK_OK(srv_report_photo_get(t, "RP-1", &b, &err), &err);
    CHECK_EQ_INT(b.len, 8);
    CHECK(srv_report_photo_get(t, "RP-2", &b, &err) == CV_ENOENT);
    CHECK(srv_report_get(t, "RP-2", &back, &err) == CV_ENOENT);
    CHECK_OK(srv_alert_list(t, &list, &n, &err), &err);
    CHECK_EQ_INT(n, 2);
    if (n == 2) { /* newest first, also within one microsecond */
        CHECK_EQ_STR(list[0].id, "A-2");
        CHECK_EQ_STR(list[1].report, "RP-1");
    }
    idx_abort(t);
    free(list);
    cv_buf_release(&b);
    fx_env_close(&e);
}

/* The alerts' kinds for camera `cam`, newest first, comma-separated, into out. */
static void kinds_of(struct idx *idx, const char *cam, char *out, size_t cap)
{
    struct idx_txn *t = NULL;
    struct srv_alert *v = NULL;
    size_t n = 0, o = 0;

    out[0] = 0;
    if (idx_begin(idx, false, &t, NULL) < 0)
        return;
    if (srv_alert_list(t, &v, &n, NULL) == 0)
        for (size_t i = 0; i < n; i++)
            if (strcmp(v[i].camera, cam) == 0 && o + strlen(v[i].kind) + 2 < cap)
                o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "", v[i].kind);
    idx_abort(t);
    free(v);
}

static void put_status(struct idx *idx, uint32_t num, bool online, const char *reason)
{
    struct idx_txn *t = NULL;
    struct idx_status st = {0};
    struct cv_err err = {""};

    st.online = online;
    cv_strlcpy(st.reason, reason, sizeof(st.reason));
    st.since_us = st.updated_us = cv_now_us();
    CHECK_OK(idx_begin(idx, true, &t, &err), &err);
    CHECK_OK(idx_status_put(t, num, &st, &err), &err);
    CHECK_OK(idx_commit(t, &err), &err);
}

void test_alerts_camera_states(void)
{
    struct fx_env e;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct idx_camera c = {0};
    struct srv_alerts *a = NULL;
    struct srv_cam_states *cs = NULL;
    char got[512];

    if (fx_env_open(&e) < 0)
        return;
    CHECK_OK(srv_alerts_open(&a, e.idx, NULL, false, &err), &err);
    CHECK_OK(idx_begin(e.idx, true, &t, &err), &err);
    cv_strlcpy(c.id, "lane", sizeof(c.id));
    cv_strlcpy(c.name, "Lane 5", sizeof(c.name));
    cv_strlcpy(c.url, "rtsp://127.0.0.1:9/x", sizeof(c.url));
    c.enabled = true;
    c.retention_days = 30;
    CHECK_OK(idx_camera_add(t, &c, &err), &err);
    CHECK_OK(idx_commit(t, &err), &err);

    cs = srv_cam_states_new(e.idx);
    CHECK(cs != NULL);
    srv_cam_states_check(cs, a, e.idx); /* no status yet: nothing to tell */
    put_status(e.idx, c.num, true, "");
    srv_cam_states_check(cs, a, e.idx); /* online, as assumed */
    kinds_of(e.idx, "lane", got, sizeof(got));
    CHECK_EQ_STR(got, "");
    put_status(e.idx, c.num, false, "connection refused");
    srv_cam_states_check(cs, a, e.idx);
    srv_cam_states_check(cs, a, e.idx); /* the same outage: once */
    kinds_of(e.idx, "lane", got, sizeof(got));
    CHECK_EQ_STR(got, "camera_offline");
    srv_cam_states_free(cs);

    cs = srv_cam_states_new(e.idx); /* a restarted server remembers */
    srv_cam_states_check(cs, a, e.idx);
    kinds_of(e.idx, "lane", got, sizeof(got));
    CHECK_EQ_STR(got, "camera_offline");
    put_status(e.idx, c.num, true, "retention shortfall: 12 of 30 days fit");
    srv_cam_states_check(cs, a, e.idx);
    kinds_of(e.idx, "lane", got, sizeof(got));
    CHECK(strstr(got, "camera_online") && strstr(got, "retention_shortfall"));
    put_status(e.idx, c.num, true, "");
    srv_cam_states_check(cs, a, e.idx);
    kinds_of(e.idx, "lane", got, sizeof(got));
    CHECK(strncmp(got, "retention_ok,", 13) == 0);
    srv_cam_states_free(cs);
    srv_alerts_close(a);
    fx_env_close(&e);
}
