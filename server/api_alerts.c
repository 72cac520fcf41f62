/*
 * api_alerts.c: the duty room's alerts (docs/api.md, "Alerts"): the list, the acknowledgement
 * (audited) and the Server-Sent Events stream that pushes each new alert and acknowledgement to
 * officers' and admins' screens the moment it is committed (alerts.h has the hub).
 *
 * The stream is a libmicrohttpd response from a callback, like live.mp4 (api_live.c): with
 * nothing to send, its reader suspends the connection (srv_alerts_wait) and the next event or
 * the keep-alive timer resumes it, so an open stream costs a socket and a little memory, never
 * a waiting thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "common/cvtime.h"
#include "server/alerts_int.h"
#include "server/reports.h"
#include "common/banned.h"

#define LIST_DEFAULT 200
#define LIST_MAX 1000
#define KEEPALIVE_US (15 * CV_US_PER_S)
#define STREAM_MAX_US (3600 * CV_US_PER_S) /* then the browser reconnects (and logs in anew) */
#define STREAM_BLOCK 4096
#define STREAM_ROOM (48 * 1024) /* events taken at once */

int srv_query_limit(struct srv_req *r, size_t dflt, size_t max, size_t *out)
{
    const char *lim = srv_uri_query(&r->uri, "limit");
    int64_t v;

    *out = dflt;
    if (!lim)
        return 0;
    if (cv_parse_i64(lim, 1, (int64_t)max, &v) < 0)
        return srv_error(r, 400, "query parameter 'limit': expected 1 to %zu", max), -1;
    *out = (size_t)v;
    return 0;
}

SRV_LIST_OF(list_alerts, srv_alert_list)

/* ctx: whether only the unacknowledged ones are asked for */
static bool keep_alert(struct srv_req *r, struct idx_txn *t, const void *item, void *ctx)
{
    const struct srv_alert *a = item;

    return !(*(bool *)ctx && a->acked_us) && srv_scope_sees(t, r->user.area, a->camera, a->by);
}

SRV_LIST_JSON(list_alert_json, srv_alert_json)

/* GET /api/v1/alerts?unacked=1&limit= (newest first) */
int api_alerts_list(struct srv_req *r)
{
    const char *un = srv_uri_query(&r->uri, "unacked");
    size_t limit = 0;
    bool unacked = false;
    struct srv_list l = {"alerts", sizeof(struct srv_alert), 0, &unacked, list_alerts,
                         keep_alert, list_alert_json};

    if (un && strcmp(un, "1") != 0 && strcmp(un, "0") != 0 && strcmp(un, "true") != 0 &&
        strcmp(un, "false") != 0)
        return srv_error(r, 400, "query parameter 'unacked': expected 1 or 0");
    unacked = un && (strcmp(un, "1") == 0 || strcmp(un, "true") == 0);
    if (srv_query_limit(r, LIST_DEFAULT, LIST_MAX, &limit) < 0)
        return 0;
    l.limit = limit;
    return srv_reply_list(r, &l);
}

int srv_alert_ack_in(struct srv_req *r, struct idx_txn *t, const char *id, struct srv_alert *out,
                     struct cv_err *err)
{
    struct srv_report rp;
    char target[64];
    int rc = srv_alert_get(t, id, out, err);

    if (rc == 0 && !srv_scope_sees(t, r->user.area, out->camera, out->by))
        rc = cv_errf(err, CV_ENOENT, "unknown alert '%s'", id); /* another area's */
    if (rc < 0)
        return rc;
    if (out->acked_us) {
        out->id[0] = 0; /* nothing to do */
        return 0;
    }
    out->acked_us = cv_now_us();
    cv_strlcpy(out->acked_by, r->user.name, sizeof(out->acked_by));
    rc = srv_alert_put(t, out, err);
    if (rc == 0 && out->report[0] && srv_report_get(t, out->report, &rp, NULL) == 0 &&
        rp.status == SRV_RP_OPEN) {
        rp.status = SRV_RP_ACKNOWLEDGED;
        rp.updated_us = out->acked_us;
        cv_strlcpy(rp.answered_by, r->user.name, sizeof(rp.answered_by));
        rc = srv_report_put(t, &rp, err);
    }
    snprintf(target, sizeof(target), "alert %s", out->id);
    if (rc == 0)
        rc = srv_audit(r, t, "alert-ack", target, NULL, out->kind, err);
    return rc;
}

/* POST /api/v1/alerts/{id}/ack */
int api_alerts_ack(struct srv_req *r)
{
    struct srv_alert al;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    int rc;

    if (srv_write(r, &t) < 0)
        return 0;
    rc = srv_alert_ack_in(r, t, r->params[0], &al, &err);
    if (rc == 0 && !al.id[0]) {
        rc = srv_alert_get(t, r->params[0], &al, &err);
        idx_abort(t);
        if (rc < 0)
            return srv_fail(r, rc, &err);
        return srv_error(r, 409, "alert %s was already acknowledged by %s", al.id, al.acked_by);
    }
    if (rc == 0) {
        rc = idx_commit(t, &err);
        t = NULL;
    }
    if (rc < 0)
        return srv_abort_fail(r, t, rc, &err);
    srv_alerts_publish(r->srv->alerts, "ack", &al);
    srv_reply_open(r, 200, "alert", false);
    srv_alert_json(&r->out, &al);
    return srv_reply_close(r, false);
}

/* ---- the stream ---- */

struct stream {
    struct srv *srv;
    struct srv_session sess; /* whose stream: looked at again at each keep-alive */
    struct srv_alert_sub *sub;
    char area[LAY_ID_MAX + 1]; /* the user's area: only its alerts are sent ("" all) */
    struct cv_buf pending; /* SSE text not yet sent */
    size_t off;
    int64_t started_us, sent_us;
};

/* Whether the stream's session still stands (not logged out or expired) and its user may still
 * read alerts (not disabled, still an officer or admin). */
static bool still_allowed(struct stream *s)
{
    struct idx_txn *t = NULL;
    struct cv_buf b;
    struct srv_user u;
    bool ok = s->sess.expires_us > cv_now_us();

    cv_buf_init(&b, 1024);
    if (ok && idx_begin(s->srv->idx, false, &t, NULL) == 0) {
        ok = idx_rec_get(t, IDX_SESSIONS, s->sess.key, sizeof(s->sess.key), &b, NULL) == 0 &&
             srv_user_get(t, s->sess.user, &u, NULL) == 0 && !u.disabled &&
             (u.role & (SRV_ROLE_ADMIN | SRV_ROLE_OFFICER));
        idx_abort(t);
    }
    cv_buf_release(&b);
    return ok;
}

/* srv_alerts_take's keep(): whether the alert is about the stream user's area. */
static bool in_area(const struct srv_alert *al, void *arg)
{
    struct stream *s = arg;
    struct idx_txn *t = NULL;
    bool ok;

    if (!s->area[0])
        return true;
    if (idx_begin(s->srv->idx, false, &t, NULL) < 0)
        return false;
    ok = srv_scope_sees(t, s->area, al->camera, al->by);
    idx_abort(t);
    return ok;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *s = cls;

    (void)pos;
    for (;;) {
        int64_t now;
        if (s->off < s->pending.len) {
            size_t n = s->pending.len - s->off < max ? s->pending.len - s->off : max;
            memcpy(buf, s->pending.data + s->off, n);
            s->off += n;
            return (ssize_t)n;
        }
        cv_buf_reset(&s->pending);
        s->off = 0;
        now = cv_mono_us();
        if (atomic_load(&s->srv->stopping) || now - s->started_us > STREAM_MAX_US)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (srv_alerts_take(s->srv->alerts, s->sub, &s->pending, STREAM_ROOM, in_area, s) > 0) {
            s->sent_us = now;
            continue;
        }
        if (now - s->sent_us >= KEEPALIVE_US) {
            if (!still_allowed(s))
                return MHD_CONTENT_READER_END_OF_STREAM; /* logged out: the browser asks anew */
            cv_buf_printf(&s->pending, ": keep-alive\n\n");
            s->sent_us = now;
            continue;
        }
        switch (srv_alerts_wait(s->srv->alerts, s->sub, s->sent_us + KEEPALIVE_US - now)) {
        case 1:
            continue; /* an event came meanwhile */
        case 0:
            return 0; /* suspended until an event or the keep-alive */
        default:
            return MHD_CONTENT_READER_END_OF_STREAM; /* the server is stopping */
        }
    }
}

static void stream_free(void *cls)
{
    struct stream *s = cls;

    srv_alerts_unsubscribe(s->srv->alerts, s->sub);
    cv_buf_release(&s->pending);
    free(s);
}

/* GET /api/v1/alerts/stream (Last-Event-ID: catch up on the events since, as far as the hub
 * still holds them) */
int api_alerts_stream(struct srv_req *r)
{
    const char *last = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
    struct stream *s = calloc(1, sizeof(*s));
    int64_t after = 0;

    if (!s)
        return srv_error(r, 500, "out of memory");
    if (last && cv_parse_i64(last, 0, INT64_MAX, &after) < 0)
        after = 0;
    s->srv = r->srv;
    s->sess = r->sess;
    cv_strlcpy(s->area, r->user.area, sizeof(s->area));
    cv_buf_init(&s->pending, STREAM_ROOM + 8192);
    s->sub = srv_alerts_subscribe(r->srv->alerts, r->conn, (uint64_t)after);
    if (!s->sub) {
        cv_buf_release(&s->pending);
        free(s);
        return srv_error(r, 503, "too many alert streams are open (%d): close one",
                         SRV_ALERT_STREAMS);
    }
    s->started_us = s->sent_us = cv_mono_us();
    /* The browser's EventSource reconnects after `retry` ms when the stream ends. */
    cv_buf_printf(&s->pending, "retry: 2000\n: alerts of %s\n\n", r->user.name);
    srv_header(r, "X-Accel-Buffering", "no");
    return srv_reply_stream(r, 200, MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, s, stream_free,
                            "text/event-stream; charset=utf-8", "cannot start the alert stream");
}
