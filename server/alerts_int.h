/*
 * alerts_int.h: what the alert and report endpoints share (api_alerts.c, api_reports.c), and
 * their handlers for the route table (routes.c). Like srv_int.h, not an API for other modules.
 */
#ifndef SRV_ALERTS_INT_H
#define SRV_ALERTS_INT_H

#include <stddef.h>

#include "server/alerts.h"
#include "server/srv_int.h"

/*
 * Acknowledge alert `id` in t for this request's user, with its `alert-ack` audit record, and,
 * when it came from a report still open, mark the report acknowledged. *out gets the alert as
 * acknowledged, or an empty id when it already was (nothing changed). 0 or the error.
 */
int srv_alert_ack_in(struct srv_req *r, struct idx_txn *t, const char *id, struct srv_alert *out,
                     struct cv_err *err);

/* Query parameter `limit`: 0 and *out (dflt when absent); else answered 400 and -1. */
int srv_query_limit(struct srv_req *r, size_t dflt, size_t max, size_t *out);

/* api_alerts.c */
srv_api_fn api_alerts_list, api_alerts_ack, api_alerts_stream;
/* api_reports.c */
srv_api_fn api_reports_add, api_reports_list, api_reports_get, api_reports_edit, api_reports_photo;

#endif
