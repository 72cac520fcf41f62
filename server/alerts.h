/*
 * alerts.h: the duty room's alerts (issue 13): residents' help calls, clues and hazards, cameras
 * going offline (and back), retention shortfalls and, where the recorder watches the picture,
 * black or frozen pictures. Each alert is a record in the index's `alerts` store, listed by
 * GET /api/v1/alerts and acknowledged by an officer or admin (POST /api/v1/alerts/{id}/ack,
 * audited); and each new alert or acknowledgement is an event pushed at once to every open
 * Server-Sent Events stream (GET /api/v1/alerts/stream, server/api_alerts.c).
 *
 * The hub (struct srv_alerts) is the in-memory side: a ring of the latest events with sequence
 * numbers, and the streams subscribed to it. A stream's content reader takes the events after
 * its sequence number; with none it suspends its connection through the guard (guard.h) until
 * a keep-alive is due, and srv_alerts_publish resumes every waiting stream at once: no thread
 * waits per stream and nothing polls.
 *
 * Camera-state alerts come from the camera statuses the recorder writes to the index (its
 * `status` store, every 2 s): the hub's watcher thread reads them and raises an alert when a
 * camera's state changes (server/alert_sources.c: one table row per kind of state).
 *
 * Record layout (key: the id, "A-<n>" with n from the meta counter "next_alert"):
 *   u8 1, id, kind, camera, report, by, household, text, be64 at µs, be64 created µs,
 *   be64 acked µs, acked_by (strings as cv_buf_str16).
 *
 * Threads: the hub's functions may be called from any thread (one mutex); record functions
 * follow idx.h's transaction rules.
 */
#ifndef SRV_ALERTS_H
#define SRV_ALERTS_H

#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "common/buf.h"
#include "common/error.h"
#include "indexer/idx.h"
#include "server/guard.h"

#define SRV_ALERT_ID_MAX 24
#define SRV_ALERT_KIND_MAX 32
#define SRV_ALERT_TEXT_MAX 512   /* what happened (bytes, with the NUL; a report's text is cut) */
#define SRV_HOUSEHOLD_MAX 256    /* a resident's household: address (bytes, with the NUL) */
#define SRV_ALERT_RING 256       /* events a reconnecting stream can catch up on */
#define SRV_ALERT_STREAMS 256    /* open alert streams at once; more: 503 */
#define SRV_ALERT_KEEP 20000     /* alerts kept; the oldest acknowledged go first */

struct srv_alert {
    char id[SRV_ALERT_ID_MAX];
    /* help, clue, hazard (reports); camera_offline, camera_online, retention_shortfall,
     * retention_ok, picture_black, picture_frozen, picture_ok (camera states) */
    char kind[SRV_ALERT_KIND_MAX];
    char camera[LAY_ID_MAX + 1]; /* "" when about no camera */
    char report[SRV_ALERT_ID_MAX];
    char by[33];                          /* the resident who reported, "" for camera states */
    char household[SRV_HOUSEHOLD_MAX];    /* the resident's address, "" when not known */
    char text[SRV_ALERT_TEXT_MAX];
    int64_t at_us;      /* when it happened (a report's `at`, a status change's `since`) */
    int64_t created_us; /* when the alert was raised */
    int64_t acked_us;   /* 0 until acknowledged */
    char acked_by[33];
};

/* Whether alerts of this kind need someone to act ("alarm": the wall pops them up) rather than
 * tell that a problem went away ("info": camera_online, *_ok). */
bool srv_alert_is_alarm(const char *kind);

/* Store a new alert: assigns id and created_us (now). */
int srv_alert_add(struct idx_txn *t, struct srv_alert *al, struct cv_err *err);
/* Replace a stored alert (same id). */
int srv_alert_put(struct idx_txn *t, const struct srv_alert *al, struct cv_err *err);
/* CV_ENOENT "unknown alert 'x'". */
int srv_alert_get(struct idx_txn *t, const char *id, struct srv_alert *out, struct cv_err *err);
/* All alerts, newest first; *out malloc'd (caller frees). */
int srv_alert_list(struct idx_txn *t, struct srv_alert **out, size_t *n, struct cv_err *err);
/* Past SRV_ALERT_KEEP alerts, delete the oldest acknowledged ones (write txn). */
int srv_alert_trim(struct idx_txn *t, struct cv_err *err);

/* ALERT of docs/api.md: id, kind, severity, camera, report, by, household, text, at, created,
 * acked, acked_by. */
void srv_alert_json(struct cv_buf *b, const struct srv_alert *al);

/* Whether a camera status says retention falls short of the camera's days (the recorder's
 * reason text; /healthz and the retention_shortfall alert). */
bool srv_status_shortfall(const struct idx_status *st);

/* ---- the hub ---- */

struct srv_alerts;
struct srv_alert_sub;

/* Open the hub on idx; g wakes the streams (NULL: no stream will subscribe). With watch, start
 * its watcher thread (camera states, every 2 s). *out NULL on failure. */
int srv_alerts_open(struct srv_alerts **out, struct idx *idx, struct srv_guard *g, bool watch,
                    struct cv_err *err);
/* Stop the watcher and free the hub; after the HTTP daemon stopped (no stream left). NULL-safe. */
void srv_alerts_close(struct srv_alerts *a);

/* Tell the streams: event "alert" (a new alert) or "ack" (an alert acknowledged), with the
 * alert's JSON. Call after the alert's transaction committed. */
void srv_alerts_publish(struct srv_alerts *a, const char *event, const struct srv_alert *al);
/* Store a new alert in a write transaction of its own and publish it (the watcher). */
int srv_alerts_raise(struct srv_alerts *a, struct srv_alert *al, struct cv_err *err);

/* A stream's subscription, for the connection c: events after sequence number `after` (0: only
 * events from now on; a Last-Event-ID the ring still holds: the ones since). NULL when
 * SRV_ALERT_STREAMS are open or out of memory. */
struct srv_alert_sub *srv_alerts_subscribe(struct srv_alerts *a, struct MHD_Connection *c,
                                           uint64_t after);
/* End it (the stream's response is freed). NULL-safe. */
void srv_alerts_unsubscribe(struct srv_alerts *a, struct srv_alert_sub *s);
/* Append the subscription's new events to out as SSE text ("id: N\nevent: alert\ndata: {..}\n\n"),
 * as many as fit below `room` bytes of out; returns how many. Events whose alert keep() refuses
 * (another area's: keep is the stream's scope check; NULL keeps all) are passed over. */
size_t srv_alerts_take(struct srv_alerts *a, struct srv_alert_sub *s, struct cv_buf *out,
                       size_t room, bool (*keep)(const struct srv_alert *al, void *arg),
                       void *arg);
/* From the stream's content reader with nothing to send: 1 when events came meanwhile (take
 * them); 0 when it suspended the connection (the reader returns 0; it is resumed by the next
 * event, or after after_us for a keep-alive); -1 when the server is stopping (end the stream). */
int srv_alerts_wait(struct srv_alerts *a, struct srv_alert_sub *s, int64_t after_us);

/* ---- camera-state sources (alert_sources.c, the watcher's work) ---- */

struct srv_cam_states;
/* The states last alerted per camera, rebuilt from the stored alerts (a restart raises no
 * alert twice). NULL when out of memory. */
struct srv_cam_states *srv_cam_states_new(struct idx *idx);
void srv_cam_states_free(struct srv_cam_states *cs);
/* Read every camera's status and raise an alert (srv_alerts_raise) for each changed state. */
void srv_cam_states_check(struct srv_cam_states *cs, struct srv_alerts *a, struct idx *idx);

#endif
