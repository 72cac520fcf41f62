/*
 * api_health.c: /healthz (is the index readable, is the recorder alive, are cameras online) and
 * /metrics (Prometheus text format 0.0.4). Both are public: bind the server to a private
 * address, or put it behind a proxy that hides them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/cvtime.h"
#include "indexer/idx.h"
#include "indexer/retention.h"
#include "server/alerts.h"
#include "server/audit.h"
#include "server/guard.h"
#include "server/jobs.h"
#include "server/livehub.h"
#include "server/srv_int.h"
#include "server/views.h"
#include "common/banned.h"

#define RECORDER_ALIVE_US (10 * CV_US_PER_S) /* the recorder writes status every 2 s */

/* What both endpoints report about cameras and holds. */
struct overview {
    size_t total, enabled, online, shortfall, holds_active;
    uint64_t not_durable; /* segments closed with a failed fsync, per the cameras' statuses */
    size_t disk_full; /* cameras whose status says the disk was full lately */
    int64_t newest_status_us;
};

static bool short_of(const struct idx_status *st)
{
    return srv_status_shortfall(st);
}

/* The recorder's retention thread notes a recent disk-full event (recorder/retainer.c). */
static bool was_disk_full(const struct idx_status *st)
{
    return strstr(st->reason, "disk full") != NULL;
}

static int overview(struct idx_txn *t, struct overview *o, struct idx_camera **cams, size_t *n,
                    struct cv_err *err)
{
    struct idx_hold *h = NULL;
    size_t nh = 0;
    int64_t now = cv_now_us();
    int rc = idx_camera_list(t, cams, n, err);

    memset(o, 0, sizeof(*o));
    if (rc == 0)
        rc = idx_hold_list(t, &h, &nh, err);
    if (rc < 0)
        return rc;
    o->total = *n;
    for (size_t i = 0; i < *n; i++) {
        struct idx_status st;
        const struct idx_camera *c = &(*cams)[i];
        o->enabled += c->enabled;
        if (idx_status_get(t, c->num, &st, NULL) != 0)
            continue;
        if (st.updated_us > o->newest_status_us)
            o->newest_status_us = st.updated_us;
        o->online += c->enabled && st.online;
        o->shortfall += short_of(&st);
        o->not_durable += st.not_durable;
        o->disk_full += was_disk_full(&st);
    }
    for (size_t i = 0; i < nh; i++)
        o->holds_active += idx_hold_covers(&h[i], h[i].ncameras ? h[i].cameras[0] : "",
                                           h[i].from_us, h[i].to_us, now);
    free(h);
    return 0;
}

int api_healthz(struct srv_req *r)
{
    struct idx_camera *cams = NULL;
    struct idx_txn *t = NULL;
    struct overview o;
    struct cv_err err = {""};
    size_t n = 0;
    bool running;
    struct cv_clock clk;
    int rc = idx_begin(r->srv->idx, false, &t, &err);

    cv_clock_read(&clk);
    if (rc == 0)
        rc = overview(t, &o, &cams, &n, &err);
    idx_abort(t);
    free(cams);
    if (rc < 0)
        return srv_error(r, 503, "index cannot be read: %s", err.msg);
    running = o.newest_status_us && cv_now_us() - o.newest_status_us < RECORDER_ALIVE_US;
    r->status = 200;
    cv_buf_printf(&r->out, "{\"status\":\"%s\",\"index\":\"ok\",\"recorder\":{\"running\":%s,",
                  running && o.online == o.enabled && !o.shortfall && !o.not_durable &&
                          !o.disk_full && clk.synced
                      ? "ok"
                      : "degraded",
                  running ? "true" : "false");
    cv_json_time_or_null(&r->out, "updated", o.newest_status_us);
    cv_buf_printf(&r->out,
                  "},\"cameras\":{\"total\":%zu,\"enabled\":%zu,\"online\":%zu},"
                  "\"holds_active\":%zu,\"retention_shortfall\":%zu,"
                  "\"segments_not_durable\":%llu,\"disk_full\":%zu,",
                  o.total, o.enabled, o.online, o.holds_active, o.shortfall,
                  (unsigned long long)o.not_durable, o.disk_full);
    cv_buf_printf(&r->out,
                  "\"clock\":{\"synchronized\":%s,\"error_seconds\":%.6f,"
                  "\"max_error_seconds\":%.6f,\"source\":\"%s\"}}\n",
                  clk.synced ? "true" : "false", (double)clk.esterror_us / 1e6,
                  (double)clk.maxerror_us / 1e6, clk.source);
    return 0;
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void label(struct cv_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            cv_buf_printf(b, "\\%c", *s);
        else if (*s == '\n')
            cv_buf_printf(b, "\\n");
        else
            cv_buf_u8(b, (uint8_t)*s);
    }
}

/* The per-camera metrics of /metrics, in the order it lists them (help NULL: no HELP line);
 * cam_metric_value gives each one's value. */
enum cam_metric {
    CM_ONLINE,
    CM_BITRATE,
    CM_SEGMENTS,
    CM_FRAMES,
    CM_SHORTFALL,
    CM_NOT_DURABLE,
    CM_DISK_FULL,
    CM_PICTURE,
};
static const struct {
    const char *name, *type, *help;
} cam_metrics[] = {
    [CM_ONLINE] = {"camvault_camera_online", "gauge", "1 when the camera is recording."},
    [CM_BITRATE] = {"camvault_camera_bitrate_bps", "gauge", NULL},
    [CM_SEGMENTS] = {"camvault_camera_segments_written", "counter",
                     "Segments written since the recorder started."},
    [CM_FRAMES] = {"camvault_camera_frames_written", "counter", NULL},
    [CM_SHORTFALL] = {"camvault_retention_shortfall", "gauge",
                      "1 when the camera keeps less than its promised days for lack of space."},
    [CM_NOT_DURABLE] = {"camvault_camera_segments_not_durable_total", "counter",
                        "Segments kept and indexed although an fsync of the file or its "
                        "directory failed, since the recorder started."},
    [CM_DISK_FULL] = {"camvault_camera_disk_full", "gauge",
                      "1 when the camera's disk was full in the last 10 minutes (retention "
                      "released its reserve to recover)."},
    [CM_PICTURE] = {"camvault_camera_picture_problem", "gauge",
                    "1 when the camera's picture is black or frozen (operations.md, Camera "
                    "health)."},
};

static uint64_t cam_metric_value(size_t m, const struct idx_camera *c, const struct idx_status *st)
{
    switch ((enum cam_metric)m) {
    case CM_ONLINE: return c->enabled && st->online;
    case CM_BITRATE: return st->bitrate_bps;
    case CM_SEGMENTS: return st->segments;
    case CM_FRAMES: return st->frames;
    case CM_SHORTFALL: return short_of(st);
    case CM_NOT_DURABLE: return st->not_durable;
    case CM_DISK_FULL: return was_disk_full(st);
    case CM_PICTURE: return srv_camera_picture_bad(st);
    }
    return 0;
}

int api_metrics(struct srv_req *r)
{
    struct idx_camera *cams = NULL;
    struct idx_volume *v = NULL;
    struct idx_txn *t = NULL;
    struct overview o;
    struct cv_err err = {""};
    struct cv_buf *b = &r->out;
    size_t n = 0, nv = 0;
    uint64_t jobs[SRV_JOB_NSTATUS] = {0}, audit = 0;
    struct srv_audit_writer_stats ws;
    struct cv_clock clk;
    int rc = idx_begin(r->srv->idx, false, &t, &err);

    if (rc == 0)
        rc = overview(t, &o, &cams, &n, &err);
    if (rc == 0)
        rc = idx_volume_list(t, &v, &nv, &err);
    if (rc == 0)
        rc = srv_job_counts(t, jobs, &err);
    if (rc == 0)
        rc = idx_rec_count(t, IDX_AUDIT, &audit, &err);
    if (rc < 0) {
        idx_abort(t);
        free(cams);
        free(v);
        return srv_error(r, 503, "index cannot be read: %s", err.msg);
    }
    cv_clock_read(&clk);
    cv_buf_printf(b, "# HELP camvault_clock_synchronized 1 when the system clock is synchronised "
                     "(kernel NTP state).\n# TYPE camvault_clock_synchronized gauge\n"
                     "camvault_clock_synchronized %d\n",
                  clk.synced);
    cv_buf_printf(b, "# HELP camvault_clock_error_seconds The kernel's estimated error of the "
                     "system clock.\n# TYPE camvault_clock_error_seconds gauge\n"
                     "camvault_clock_error_seconds %.6f\n",
                  (double)clk.esterror_us / 1e6);
    cv_buf_printf(b, "# HELP camvault_cameras Cameras by state.\n# TYPE camvault_cameras gauge\n");
    cv_buf_printf(b, "camvault_cameras{state=\"online\"} %zu\n", o.online);
    cv_buf_printf(b, "camvault_cameras{state=\"offline\"} %zu\n", o.enabled - o.online);
    cv_buf_printf(b, "camvault_cameras{state=\"disabled\"} %zu\n", o.total - o.enabled);
    for (size_t m = 0; m < sizeof(cam_metrics) / sizeof(cam_metrics[0]); m++) {
        if (cam_metrics[m].help)
            cv_buf_printf(b, "# HELP %s %s\n", cam_metrics[m].name, cam_metrics[m].help);
        cv_buf_printf(b, "# TYPE %s %s\n", cam_metrics[m].name, cam_metrics[m].type);
        for (size_t i = 0; i < n; i++) {
            struct idx_status st;
            bool have = idx_status_get(t, cams[i].num, &st, NULL) == 0;
            cv_buf_printf(b, "%s{camera=\"", cam_metrics[m].name);
            label(b, cams[i].id);
            cv_buf_printf(b, "\"} %llu\n",
                          (unsigned long long)(have ? cam_metric_value(m, &cams[i], &st) : 0));
        }
    }
    cv_buf_printf(b, "# HELP camvault_volume_used_bytes Bytes of footage stored.\n"
                     "# TYPE camvault_volume_used_bytes gauge\n");
    for (size_t i = 0; i < nv; i++) {
        cv_buf_printf(b, "camvault_volume_used_bytes{volume=\"");
        label(b, v[i].name);
        cv_buf_printf(b, "\"} %llu\n", (unsigned long long)v[i].used_bytes);
    }
    cv_buf_printf(b, "# TYPE camvault_volume_segments gauge\n");
    for (size_t i = 0; i < nv; i++) {
        cv_buf_printf(b, "camvault_volume_segments{volume=\"");
        label(b, v[i].name);
        cv_buf_printf(b, "\"} %llu\n", (unsigned long long)v[i].segments);
    }
    cv_buf_printf(b, "# TYPE camvault_volume_limit_bytes gauge\n");
    for (size_t i = 0; i < nv; i++) {
        struct lay_volume_space sp;
        char dir[PATH_MAX] = "";
        idx_volume_dir(r->srv->root, v[i].name, dir, sizeof(dir), NULL);
        lay_volume_space(dir, v[i].max_bytes, &sp);
        cv_buf_printf(b, "camvault_volume_limit_bytes{volume=\"");
        label(b, v[i].name);
        cv_buf_printf(b, "\"} %llu\n", (unsigned long long)sp.limit);
    }
    cv_buf_printf(b, "# TYPE camvault_holds_active gauge\ncamvault_holds_active %zu\n",
                  o.holds_active);
    cv_buf_printf(b, "# HELP camvault_export_jobs Export jobs by state.\n"
                     "# TYPE camvault_export_jobs gauge\n");
    for (int i = 0; i < SRV_JOB_NSTATUS; i++)
        cv_buf_printf(b, "camvault_export_jobs{state=\"%s\"} %llu\n", srv_job_status_name(i),
                      (unsigned long long)jobs[i]);
    cv_buf_printf(b, "# TYPE camvault_audit_records gauge\ncamvault_audit_records %llu\n",
                  (unsigned long long)audit);
    srv_audit_writer_stats(r->srv->audit, &ws);
    cv_buf_printf(b,
                  "# HELP camvault_audit_view_records_total Audit records of views this server "
                  "committed.\n# TYPE camvault_audit_view_records_total counter\n"
                  "camvault_audit_view_records_total %llu\n"
                  "# HELP camvault_audit_view_commits_total Write transactions (syncs) they "
                  "took: concurrent views share one.\n"
                  "# TYPE camvault_audit_view_commits_total counter\n"
                  "camvault_audit_view_commits_total %llu\n",
                  (unsigned long long)ws.records, (unsigned long long)ws.transactions);
    {
        /* Logins: refusals and the bound on concurrent password hashing (users.h). */
        struct srv_throttle_stats ts;
        srv_throttle_stats(r->srv->throttle, &ts);
        cv_buf_printf(b,
                      "# HELP camvault_login_refused_total Logins refused before hashing: "
                      "throttled (429) or no turn to hash (503).\n"
                      "# TYPE camvault_login_refused_total counter\n"
                      "camvault_login_refused_total{reason=\"throttled\"} %llu\n"
                      "camvault_login_refused_total{reason=\"busy\"} %llu\n"
                      "# HELP camvault_password_hashes Password hashes running and waiting now.\n"
                      "# TYPE camvault_password_hashes gauge\n"
                      "camvault_password_hashes{state=\"running\"} %u\n"
                      "camvault_password_hashes{state=\"waiting\"} %u\n"
                      "# TYPE camvault_password_hashes_max gauge\n"
                      "camvault_password_hashes_max %u\n",
                      (unsigned long long)ts.refused_throttled,
                      (unsigned long long)ts.refused_busy, ts.running, ts.waiting, ts.hashes);
    }
    srv_guard_metrics(r->srv->guard, b);
    srv_livehubs_metrics(r->srv->livehubs, b);
    cv_buf_printf(b, "# HELP camvault_http_requests_total HTTP responses by status since this "
                     "server started.\n# TYPE camvault_http_requests_total counter\n");
    for (int s = 100; s < 600; s++) {
        uint64_t c = atomic_load(&r->srv->status_count[s]);
        if (c)
            cv_buf_printf(b, "camvault_http_requests_total{code=\"%d\"} %llu\n", s,
                          (unsigned long long)c);
    }
    idx_abort(t);
    free(cams);
    free(v);
    r->status = 200;
    r->ctype = "text/plain; version=0.0.4; charset=utf-8";
    return 0;
}
