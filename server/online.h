/*
 * online.h: the online rate report (issue 13, the programme's KPI, 连线率): per camera and per
 * area (rolled up the tree), the share of the time a camera was enabled that it was recording,
 * with its outages by reason; one writer of the report as JSON, CSV and text for the API
 * (GET /api/v1/reports/online) and the command line (`camvault report online`).
 *
 * Definitions, for a window [from, to):
 *   enabled   the times the camera existed and was enabled: from its creation (or `from`) to
 *             `now` (or `to`), less the spans the audit log shows it disabled (camera-disable,
 *             camera-enable, and camera-add/camera-edit records whose detail says so);
 *   recording the union of its segments (closed and the open one) and of the spans recorded and
 *             later deleted (gaps of reason retention or file-missing), within enabled time;
 *   outages   the gaps of reason camera-offline, recorder-stopped and disk within enabled time,
 *             each reason summed; enabled time neither recorded nor in such a gap is
 *             "unexplained" (a recorder that never ran, an outage still going on);
 *   rate      recording / enabled (null when a camera was never enabled in the window).
 * An area's figures are the sums over the cameras of the area and the areas under it, per
 * window and per UTC day (by_day: per day of the site's zone, TZ).
 *
 * Threads: as idx_txn; reads only.
 */
#ifndef SRV_ONLINE_H
#define SRV_ONLINE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "indexer/idx.h"

#define SRV_ONLINE_MAX_US (INT64_C(92) * 86400 * 1000000) /* longest window */

enum srv_online_format { SRV_ONLINE_JSON, SRV_ONLINE_CSV, SRV_ONLINE_TEXT };

struct srv_online_query {
    int64_t from_us, to_us; /* to > from, at most SRV_ONLINE_MAX_US apart */
    int64_t now_us;         /* enabled time ends here */
    const char *root;       /* the data root (for the open segment) */
    const char *area;       /* "" or NULL: every area and camera; else that area and under it */
    bool by_day; /* days are the site's (local zone's), the total and cameras get days too, and
                  * the CSV a date column with a line per day (docs/api.md, by=day) */
    /* NULL, or whether a camera belongs in the report (the caller's scope) */
    bool (*keep)(void *ctx, const struct idx_camera *c);
    void *keep_ctx;
};

/*
 * Append the report for q to out in format fmt. CV_EINVAL for a bad window, CV_ENOENT
 * "unknown area 'x'", index errors. JSON: {"from", "to", "area", "total", "areas": [...],
 * "cameras": [...]} (docs/api.md, "Reports"); CSV: a header line and one line per total, area
 * and camera; text: a table.
 */
int srv_online_report(struct idx_txn *t, const struct srv_online_query *q,
                      enum srv_online_format fmt, struct cv_buf *out, struct cv_err *err);

#endif
