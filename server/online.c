/*
 * online.c: the online rate report (online.h): enabled, recorded and outage time per camera
 * as interval lists, summed per area and day, written as JSON, CSV or text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cvtime.h"
#include "indexer/openseg.h"
#include "server/areas.h"
#include "server/audit.h"
#include "server/online.h"
#include "common/banned.h"

#define DAY_US (INT64_C(86400) * CV_US_PER_S)
#define OUTAGES_LISTED 100 /* per camera in JSON; the sums count them all */
#define NREASONS (IDX_GAP_MISSING + 1)
#define UNEXPLAINED 0 /* index of by[] for enabled time neither recorded nor in a gap */

/* ---- interval lists ---- */

struct ivl {
    int64_t s, e;
};
struct ivls {
    struct ivl *v;
    size_t n, cap;
    bool oom;
};

static void ivls_push(struct ivls *l, int64_t s, int64_t e)
{
    if (l->oom)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct ivl *v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            l->oom = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (struct ivl){s, e};
}

/* Add [s, e) when it is not empty. */
static void ivls_add(struct ivls *l, int64_t s, int64_t e)
{
    if (e > s)
        ivls_push(l, s, e);
}

static int by_start(const void *a, const void *b)
{
    const struct ivl *x = a, *y = b;

    return x->s < y->s ? -1 : x->s > y->s;
}

/* Sort and join overlapping or touching intervals. */
static void ivls_merge(struct ivls *l)
{
    size_t o = 0;

    if (l->n < 2)
        return;
    qsort(l->v, l->n, sizeof(l->v[0]), by_start);
    for (size_t i = 1; i < l->n; i++) {
        if (l->v[i].s <= l->v[o].e) {
            if (l->v[i].e > l->v[o].e)
                l->v[o].e = l->v[i].e;
        } else {
            l->v[++o] = l->v[i];
        }
    }
    l->n = o + 1;
}

/* The length of a ∩ b ∩ [lo, hi); both merged. */
static int64_t ivls_meet(const struct ivls *a, const struct ivls *b, int64_t lo, int64_t hi)
{
    int64_t sum = 0;
    size_t i = 0, j = 0;

    while (i < a->n && j < b->n) {
        int64_t s = a->v[i].s > b->v[j].s ? a->v[i].s : b->v[j].s;
        int64_t e = a->v[i].e < b->v[j].e ? a->v[i].e : b->v[j].e;
        if (s < lo)
            s = lo;
        if (e > hi)
            e = hi;
        if (e > s)
            sum += e - s;
        if (a->v[i].e < b->v[j].e)
            i++;
        else
            j++;
    }
    return sum;
}

/* ---- one camera ---- */

struct cam {
    struct idx_camera c;
    struct ivls en, rec, out[NREASONS];
    struct ivls evt; /* enable events from the audit log: s = time, e = 1 on / 0 off */
    bool added;      /* the first event is its camera-add */
    struct idx_gap *gaps; /* outages listed, at most OUTAGES_LISTED */
    size_t ngaps, allgaps;
    int64_t enabled, recorded, by[NREASONS];
    int64_t *days; /* per day: enabled, recorded */
};

struct report {
    struct idx_txn *t;
    const struct srv_online_query *q;
    struct cam *cams;
    size_t ncams;
    struct srv_area *areas;
    size_t nareas;
    int64_t ndays, end; /* days, end of measured time */
    int64_t bound[SRV_ONLINE_MAX_US / DAY_US + 4]; /* ndays + 1: UTC or the site's midnights */
    bool oom;
};

static void cam_release(struct cam *k)
{
    free(k->en.v);
    free(k->rec.v);
    for (int i = 0; i < NREASONS; i++)
        free(k->out[i].v);
    free(k->evt.v);
    free(k->gaps);
    free(k->days);
}

static int seg_one(void *ctx, const struct idx_segment *s)
{
    ivls_add(&((struct cam *)ctx)->rec, s->start_us, s->end_us);
    return 0;
}

static int gap_one(void *ctx, const struct idx_gap *g)
{
    struct cam *k = ctx;

    if (g->reason == IDX_GAP_RETENTION || g->reason == IDX_GAP_MISSING) {
        ivls_add(&k->rec, g->start_us, g->end_us); /* recorded, deleted since */
        return 0;
    }
    if (g->reason >= NREASONS)
        return 0;
    ivls_add(&k->out[g->reason], g->start_us, g->end_us);
    k->allgaps++;
    if (k->ngaps < OUTAGES_LISTED) {
        if (!k->gaps && !(k->gaps = calloc(OUTAGES_LISTED, sizeof(*k->gaps))))
            return 0;
        k->gaps[k->ngaps++] = *g;
    }
    return 0;
}

/* camera-add/-enable/-disable/-edit records of the report's cameras: their enable events. */
static int audit_one(void *ctx, const struct itg_audit_rec *a)
{
    struct report *rp = ctx;
    int on = -1;

    if (strcmp(a->action, "camera-enable") == 0)
        on = 1;
    else if (strcmp(a->action, "camera-disable") == 0)
        on = 0;
    else if (strcmp(a->action, "camera-add") == 0)
        on = strstr(a->detail, "disabled") ? 0 : 1;
    else if (strcmp(a->action, "camera-edit") == 0 && strstr(a->detail, "disabled;"))
        on = 0;
    else if (strcmp(a->action, "camera-edit") == 0 && strstr(a->detail, "enabled;"))
        on = 1;
    if (on < 0)
        return 0;
    for (size_t i = 0; i < rp->ncams; i++) {
        struct cam *k = &rp->cams[i];
        if (strcmp(k->c.id, a->target) != 0)
            continue;
        if (strcmp(a->action, "camera-add") == 0) {
            k->evt.n = 0; /* an id added again starts over */
            k->added = true;
        }
        ivls_push(&k->evt, a->time_us, on);
    }
    return 0;
}

/* The camera's enabled spans from its events (in log order), from its creation on. */
static void enabled_spans(struct cam *k)
{
    int64_t since = k->c.created_us;
    bool on;

    if (k->evt.n == 0) {
        if (k->c.enabled)
            ivls_add(&k->en, since, INT64_MAX);
        return;
    }
    on = k->added ? k->evt.v[0].e : !k->evt.v[0].e;
    for (size_t i = 0; i < k->evt.n; i++) {
        int64_t at = k->evt.v[i].s < since ? since : k->evt.v[i].s;
        if (on)
            ivls_add(&k->en, since, at);
        since = at;
        on = k->evt.v[i].e;
    }
    if (on)
        ivls_add(&k->en, since, INT64_MAX);
    ivls_merge(&k->en);
}

static int measure(struct report *rp, struct cam *k, struct cv_err *err)
{
    const struct srv_online_query *q = rp->q;
    int rc;

    rc = idx_segment_iter_open(rp->t, q->root, k->c.num, q->from_us, q->to_us, seg_one, k, err);
    if (rc == 0)
        rc = idx_gap_iter(rp->t, k->c.num, q->from_us, q->to_us, gap_one, k, err);
    if (rc < 0)
        return rc;
    enabled_spans(k);
    ivls_merge(&k->rec);
    for (int i = 0; i < NREASONS; i++)
        ivls_merge(&k->out[i]);
    k->days = calloc((size_t)rp->ndays * 2, sizeof(*k->days));
    if (!k->days || k->en.oom || k->rec.oom || k->evt.oom)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    {
        struct ivl w = {q->from_us, rp->end};
        struct ivls all = {&w, 1, 1, false};
        int64_t explained;
        k->enabled = ivls_meet(&k->en, &all, q->from_us, rp->end);
        k->recorded = ivls_meet(&k->en, &k->rec, q->from_us, rp->end);
        explained = k->recorded;
        for (int i = 1; i < NREASONS; i++) {
            k->by[i] = ivls_meet(&k->en, &k->out[i], q->from_us, rp->end);
            explained += k->by[i];
        }
        k->by[UNEXPLAINED] = k->enabled > explained ? k->enabled - explained : 0;
        for (int64_t d = 0; d < rp->ndays; d++) {
            int64_t lo = rp->bound[d], hi = rp->bound[d + 1];
            lo = lo < q->from_us ? q->from_us : lo;
            hi = hi > rp->end ? rp->end : hi;
            k->days[2 * d] = hi > lo ? ivls_meet(&k->en, &all, lo, hi) : 0;
            k->days[2 * d + 1] = hi > lo ? ivls_meet(&k->en, &k->rec, lo, hi) : 0;
        }
    }
    return 0;
}

/* ---- writing ---- */

static const char *const reason_key[NREASONS] = {"unexplained", "camera-offline",
                                                 "recorder-stopped", NULL, "disk", NULL};

static void rate_json(struct cv_buf *b, int64_t enabled, int64_t recorded)
{
    cv_buf_printf(b, "\"enabled_seconds\":%.3f,\"recorded_seconds\":%.3f,\"online_rate\":",
                  (double)enabled / 1e6, (double)recorded / 1e6);
    if (enabled > 0)
        cv_buf_printf(b, "%.6f", (double)recorded / (double)enabled);
    else
        cv_buf_printf(b, "null");
}

static void rate_csv(struct cv_buf *b, int64_t enabled, int64_t recorded)
{
    cv_buf_printf(b, "%.3f,%.3f,", (double)enabled / 1e6, (double)recorded / 1e6);
    if (enabled > 0)
        cv_buf_printf(b, "%.6f", (double)recorded / (double)enabled);
}

/* Sums over the cameras within area `id` ("" all): cameras, enabled, recorded, and per day. */
struct sums {
    size_t cams;
    int64_t enabled, recorded, by[NREASONS];
    int64_t *days;
};

static void sum_area(struct report *rp, const char *id, struct sums *s)
{
    for (size_t i = 0; i < rp->ncams; i++) {
        struct cam *k = &rp->cams[i];
        if (*id && !srv_area_within(rp->t, k->c.area, id))
            continue;
        s->cams++;
        s->enabled += k->enabled;
        s->recorded += k->recorded;
        for (int j = 0; j < NREASONS; j++)
            s->by[j] += k->by[j];
        for (int64_t d = 0; s->days && d < 2 * rp->ndays; d++)
            s->days[d] += k->days[d];
    }
}

static void by_reason_json(struct cv_buf *b, const int64_t *by)
{
    bool first = true;

    cv_buf_printf(b, ",\"outage_seconds\":{");
    for (int j = 0; j < NREASONS; j++) {
        if (!reason_key[j])
            continue;
        cv_buf_printf(b, "%s\"%s\":%.3f", first ? "" : ",", reason_key[j], (double)by[j] / 1e6);
        first = false;
    }
    cv_buf_u8(b, '}');
}

/* The outage columns and the end of a whole-window CSV line (by_day: an empty date column). */
static void by_reason_csv(const struct report *rp, struct cv_buf *b, const int64_t *by)
{
    for (int j = 1; j < NREASONS; j++)
        if (reason_key[j])
            cv_buf_printf(b, ",%.3f", (double)by[j] / 1e6);
    cv_buf_printf(b, ",%.3f%s\n", (double)by[UNEXPLAINED] / 1e6, rp->q->by_day ? "," : "");
}

/* "YYYY-MM-DD" of day d: the UTC date, or the site's with by_day. */
static void day_date(const struct report *rp, int64_t d, char *date, size_t n)
{
    if (rp->q->by_day)
        cv_time_format_local(rp->bound[d], date, n, 0);
    else
        cv_time_format_utc(rp->bound[d], date, n, 0);
    date[10] = 0;
}

/* `,"days":[...]` from days[] (enabled, recorded per day). */
static void write_days_json(const struct report *rp, struct cv_buf *b, const int64_t *days)
{
    cv_buf_printf(b, ",\"days\":[");
    for (int64_t d = 0; d < rp->ndays; d++) {
        char date[48];
        day_date(rp, d, date, sizeof(date));
        cv_buf_printf(b, "%s{\"date\":\"%s\",", d ? "," : "", date);
        rate_json(b, days[2 * d], days[2 * d + 1]);
        cv_buf_u8(b, '}');
    }
    cv_buf_u8(b, ']');
}

/* by_day: one CSV line per day of a total, area or camera (the outage columns empty). */
static void write_days_csv(const struct report *rp, struct cv_buf *b, const char *kind,
                           const char *id, const char *area, size_t ncams, const int64_t *days)
{
    for (int64_t d = 0; rp->q->by_day && d < rp->ndays; d++) {
        char date[48];
        day_date(rp, d, date, sizeof(date));
        cv_buf_printf(b, "%s,%s,%s,%zu,", kind, id, area, ncams);
        rate_csv(b, days[2 * d], days[2 * d + 1]);
        cv_buf_printf(b, ",,,,%s\n", date);
    }
}

static void write_area_json(struct report *rp, struct cv_buf *b, const struct srv_area *a,
                            const struct sums *s)
{
    cv_json_open_id(b, a->id);
    cv_json_add_str(b, "name", a->name, false);
    cv_json_add_str(b, "parent", a->parent, true);
    cv_buf_printf(b, ",\"cameras\":%zu,", s->cams);
    rate_json(b, s->enabled, s->recorded);
    by_reason_json(b, s->by);
    write_days_json(rp, b, s->days);
    cv_buf_u8(b, '}');
}

static void write_cam_json(const struct report *rp, struct cv_buf *b, const struct cam *k)
{
    cv_json_open_id(b, k->c.id);
    cv_json_add_str(b, "area", k->c.area, true);
    cv_buf_u8(b, ',');
    rate_json(b, k->enabled, k->recorded);
    by_reason_json(b, k->by);
    if (rp->q->by_day)
        write_days_json(rp, b, k->days);
    cv_buf_printf(b, ",\"outages\":[");
    for (size_t g = 0; g < k->ngaps; g++) {
        cv_buf_printf(b, "%s{", g ? "," : "");
        cv_json_time(b, "start", k->gaps[g].start_us);
        cv_json_add_time(b, "end", k->gaps[g].end_us);
        cv_json_add_str(b, "reason", idx_gap_reason_name(k->gaps[g].reason), false);
        cv_json_add_str(b, "detail", k->gaps[g].detail, false);
        cv_buf_u8(b, '}');
    }
    cv_buf_printf(b, "],\"outages_more\":%zu}", k->allgaps - k->ngaps);
}

static void write_text_row(struct cv_buf *b, const char *kind, const char *id, size_t ncams,
                           int64_t enabled, int64_t recorded, const int64_t *by)
{
    char rate[16] = "-";

    if (enabled > 0)
        snprintf(rate, sizeof(rate), "%.2f%%", 100.0 * (double)recorded / (double)enabled);
    cv_buf_printf(b, "%-7s %-24s %7zu %12.3f %12.3f %8s %10.3f %10.3f %10.3f\n", kind, id, ncams,
                  (double)enabled / 3.6e9, (double)recorded / 3.6e9, rate,
                  (double)by[IDX_GAP_OFFLINE] / 3.6e9, (double)by[IDX_GAP_RECORDER_STOPPED] / 3.6e9,
                  (double)(by[IDX_GAP_DISK] + by[UNEXPLAINED]) / 3.6e9);
}

static void write_report(struct report *rp, enum srv_online_format fmt, struct cv_buf *b)
{
    const struct srv_online_query *q = rp->q;
    struct sums tot = {0};

    if (q->by_day && !(tot.days = calloc((size_t)rp->ndays * 2, sizeof(*tot.days)))) {
        rp->oom = true;
        return;
    }
    sum_area(rp, "", &tot);
    if (fmt == SRV_ONLINE_JSON) {
        cv_buf_u8(b, '{');
        cv_json_time(b, "from", q->from_us);
        cv_json_add_time(b, "to", q->to_us);
        cv_json_add_str(b, "area", q->area, true);
        cv_buf_printf(b, ",\"total\":{\"cameras\":%zu,", tot.cams);
        rate_json(b, tot.enabled, tot.recorded);
        by_reason_json(b, tot.by);
        if (q->by_day)
            write_days_json(rp, b, tot.days);
        cv_buf_printf(b, "},\"areas\":[");
    } else if (fmt == SRV_ONLINE_CSV) {
        cv_buf_printf(b, "kind,id,area,cameras,enabled_seconds,recorded_seconds,online_rate,"
                         "camera_offline_seconds,recorder_stopped_seconds,disk_seconds,"
                         "unexplained_seconds%s\n"
                         "total,,%s,%zu,",
                      q->by_day ? ",date" : "", q->area ? q->area : "", tot.cams);
        rate_csv(b, tot.enabled, tot.recorded);
        by_reason_csv(rp, b, tot.by);
        write_days_csv(rp, b, "total", "", q->area ? q->area : "", tot.cams, tot.days);
    } else {
        cv_buf_printf(b, "%-7s %-24s %7s %12s %12s %8s %10s %10s %10s\n", "KIND", "ID", "CAMERAS",
                      "ENABLED h", "RECORDED h", "RATE", "OFFLINE h", "STOPPED h", "OTHER h");
        write_text_row(b, "total", q->area && *q->area ? q->area : "(all)", tot.cams,
                       tot.enabled, tot.recorded, tot.by);
    }
    for (size_t i = 0, shown = 0; i < rp->nareas; i++) {
        const struct srv_area *a = &rp->areas[i];
        struct sums s = {0};
        if (q->area && *q->area && !srv_area_within(rp->t, a->id, q->area))
            continue;
        s.days = calloc((size_t)rp->ndays * 2, sizeof(*s.days));
        if (!s.days) {
            rp->oom = true;
            break;
        }
        sum_area(rp, a->id, &s);
        if (fmt == SRV_ONLINE_JSON) {
            if (shown++)
                cv_buf_u8(b, ',');
            write_area_json(rp, b, a, &s);
        } else if (fmt == SRV_ONLINE_CSV) {
            cv_buf_printf(b, "area,%s,%s,%zu,", a->id, a->parent, s.cams);
            rate_csv(b, s.enabled, s.recorded);
            by_reason_csv(rp, b, s.by);
            write_days_csv(rp, b, "area", a->id, a->parent, s.cams, s.days);
        } else {
            write_text_row(b, "area", a->id, s.cams, s.enabled, s.recorded, s.by);
        }
        free(s.days);
    }
    if (fmt == SRV_ONLINE_JSON)
        cv_buf_printf(b, "],\"cameras\":[");
    for (size_t i = 0; i < rp->ncams; i++) {
        const struct cam *k = &rp->cams[i];
        if (fmt == SRV_ONLINE_JSON) {
            if (i)
                cv_buf_u8(b, ',');
            write_cam_json(rp, b, k);
        } else if (fmt == SRV_ONLINE_CSV) {
            cv_buf_printf(b, "camera,%s,%s,1,", k->c.id, k->c.area);
            rate_csv(b, k->enabled, k->recorded);
            by_reason_csv(rp, b, k->by);
            write_days_csv(rp, b, "camera", k->c.id, k->c.area, 1, k->days);
        } else {
            write_text_row(b, "camera", k->c.id, 1, k->enabled, k->recorded, k->by);
        }
    }
    if (fmt == SRV_ONLINE_JSON)
        cv_buf_printf(b, "]}\n");
    free(tot.days);
}

/* The site's (the local zone's) midnight at or before us. */
static int64_t local_midnight(int64_t us)
{
    time_t t = (time_t)(us / CV_US_PER_S - (us % CV_US_PER_S < 0));
    struct tm tm;

    if (!localtime_r(&t, &tm))
        return us - ((us % DAY_US) + DAY_US) % DAY_US;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * CV_US_PER_S;
}

/* The day boundaries covering [from, to): UTC midnights, or the site's with by_day (a day of
 * 23 or 25 hours where daylight saving changes). */
static void day_bounds(struct report *rp)
{
    const struct srv_online_query *q = rp->q;
    int64_t b = q->from_us - ((q->from_us % DAY_US) + DAY_US) % DAY_US;
    const int64_t most = (int64_t)(sizeof(rp->bound) / sizeof(rp->bound[0])) - 1;

    if (q->by_day)
        b = local_midnight(q->from_us);
    rp->bound[0] = b;
    for (rp->ndays = 0; b < q->to_us && rp->ndays < most; rp->bound[++rp->ndays] = b)
        b = q->by_day ? local_midnight(b + DAY_US + 2 * 3600 * CV_US_PER_S) : b + DAY_US;
}

int srv_online_report(struct idx_txn *t, const struct srv_online_query *q,
                      enum srv_online_format fmt, struct cv_buf *out, struct cv_err *err)
{
    struct report rp = {.t = t, .q = q};
    struct idx_camera *all = NULL;
    struct srv_audit_filter f = {0};
    size_t n = 0;
    int rc;

    if (q->to_us <= q->from_us)
        return cv_errf(err, CV_EINVAL, "'to' must be after 'from'");
    if (q->to_us - q->from_us > SRV_ONLINE_MAX_US)
        return cv_errf(err, CV_EINVAL, "window too long: at most 92 days per report");
    if (q->area && *q->area && (rc = srv_area_check(t, q->area, false, err)) < 0)
        return rc;
    rp.end = q->to_us < q->now_us ? q->to_us : q->now_us;
    if (rp.end < q->from_us)
        rp.end = q->from_us;
    day_bounds(&rp);
    rc = idx_camera_list(t, &all, &n, err);
    if (rc == 0)
        rc = srv_area_list(t, &rp.areas, &rp.nareas, err);
    if (rc == 0 && !(rp.cams = calloc(n ? n : 1, sizeof(*rp.cams))))
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if ((q->area && *q->area && !srv_area_within(t, all[i].area, q->area)) ||
            (q->keep && !q->keep(q->keep_ctx, &all[i])))
            continue;
        rp.cams[rp.ncams++].c = all[i];
    }
    if (rc == 0)
        rc = srv_audit_iter(t, &f, audit_one, &rp, err);
    for (size_t i = 0; rc == 0 && i < rp.ncams; i++)
        rc = measure(&rp, &rp.cams[i], err);
    if (rc == 0) {
        write_report(&rp, fmt, out);
        if (rp.oom)
            rc = cv_errf(err, CV_ENOMEM, "out of memory");
        else if (!cv_buf_ok(out))
            rc = cv_errf(err, CV_ELIMIT, "online report too large: ask for fewer cameras or days");
    }
    for (size_t i = 0; i < rp.ncams; i++)
        cam_release(&rp.cams[i]);
    free(rp.cams);
    free(rp.areas);
    free(all);
    return rc;
}
