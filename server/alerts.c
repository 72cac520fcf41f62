/*
 * alerts.c: alert records, their JSON, and the hub that pushes them to the alert streams
 * (alerts.h).
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "common/cvtime.h"
#include "common/log.h"
#include "server/alerts.h"
#include "server/records.h"
#include "common/banned.h"

#define REC_MAX 4096
#define WATCH_MS 2000 /* the recorder writes statuses every 2 s */

/* ---- records ---- */

static const struct srv_field fields[] = {
    SRV_F_STR(struct srv_alert, id),        SRV_F_STR(struct srv_alert, kind),
    SRV_F_STR(struct srv_alert, camera),    SRV_F_STR(struct srv_alert, report),
    SRV_F_STR(struct srv_alert, by),        SRV_F_STR(struct srv_alert, household),
    SRV_F_STR(struct srv_alert, text),      SRV_F_BE64(struct srv_alert, at_us),
    SRV_F_BE64(struct srv_alert, created_us), SRV_F_BE64(struct srv_alert, acked_us),
    SRV_F_STR(struct srv_alert, acked_by),  SRV_F_END,
};

static const struct srv_rec_kind kind = {
    SRV_REC_KIND(IDX_ALERTS, "alert", struct srv_alert, REC_MAX, SRV_ALERT_ID_MAX),
    .counter = "next_alert", .prefix = "A-", .fields = fields,
};

bool srv_alert_is_alarm(const char *k)
{
    size_t n = strlen(k);

    return strcmp(k, "camera_online") != 0 && !(n > 3 && strcmp(k + n - 3, "_ok") == 0);
}

int srv_alert_add(struct idx_txn *t, struct srv_alert *al, struct cv_err *err)
{
    al->created_us = cv_now_us();
    return srv_rec_add_numbered(t, &kind, al, err);
}

/* srv_alert_put and srv_alert_get (alerts.h) */
SRV_REC_PUT_GET(srv_alert, struct srv_alert, kind)

/* Newest first: by creation, then by number (two alerts of one microsecond). */
static int newest_first(const void *a, const void *b)
{
    const struct srv_alert *x = a, *y = b;
    size_t lx = strlen(x->id), ly = strlen(y->id);

    if (x->created_us != y->created_us)
        return x->created_us > y->created_us ? -1 : 1;
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return -strcmp(x->id, y->id);
}

int srv_alert_list(struct idx_txn *t, struct srv_alert **out, size_t *n, struct cv_err *err)
{
    void *v = NULL;
    int rc = srv_rec_list(t, &kind, &v, n, newest_first, err);

    *out = v;
    return rc;
}

int srv_alert_trim(struct idx_txn *t, struct cv_err *err)
{
    struct srv_alert *v = NULL;
    size_t n = 0;
    uint64_t count = 0;
    int rc = idx_rec_count(t, IDX_ALERTS, &count, err);

    if (rc < 0 || count <= SRV_ALERT_KEEP)
        return rc;
    rc = srv_alert_list(t, &v, &n, err);
    for (size_t i = n; rc == 0 && i-- > 0 && n > SRV_ALERT_KEEP;) {
        if (!v[i].acked_us)
            continue;
        rc = idx_rec_del(t, IDX_ALERTS, v[i].id, strlen(v[i].id), err);
        n--;
    }
    free(v);
    return rc;
}

void srv_alert_json(struct cv_buf *b, const struct srv_alert *al)
{
    cv_json_open_id(b, al->id);
    cv_json_add_str(b, "kind", al->kind, false);
    cv_json_add_str(b, "severity", srv_alert_is_alarm(al->kind) ? "alarm" : "info", false);
    cv_json_add_str(b, "camera", al->camera, true);
    cv_json_add_str(b, "report", al->report, true);
    cv_json_add_str(b, "by", al->by, true);
    cv_json_add_str(b, "household", al->household, true);
    cv_json_add_str(b, "text", al->text, false);
    cv_json_add_time(b, "at", al->at_us);
    cv_json_add_time(b, "created", al->created_us);
    cv_json_add_time(b, "acked", al->acked_us);
    cv_json_add_str(b, "acked_by", al->acked_by, true);
    cv_buf_u8(b, '}');
}

bool srv_status_shortfall(const struct idx_status *st)
{
    return strstr(st->reason, "retention shortfall") || strstr(st->reason, "short of space");
}

/* ---- the hub ---- */

struct event {
    uint64_t seq;
    const char *name; /* "alert", "ack" (static strings) */
    struct srv_alert al;
};

struct srv_alert_sub {
    LIST_ENTRY(srv_alert_sub) link; /* on the hub's subs */
    struct MHD_Connection *conn;
    uint64_t seq;  /* events up to this one are taken */
    bool waiting;  /* suspended by srv_alerts_wait */
};

struct srv_alerts {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* the watcher's sleep, cut short by close */
    struct srv_guard *guard;
    struct idx *idx;
    struct event ring[SRV_ALERT_RING];
    uint64_t seq; /* of the newest event; ring[seq % SRV_ALERT_RING] holds it */
    LIST_HEAD(, srv_alert_sub) subs;
    unsigned nsubs;
    pthread_t thread;
    bool thread_started, quit;
};

void srv_alerts_publish(struct srv_alerts *a, const char *event, const struct srv_alert *al)
{
    struct event *e;

    pthread_mutex_lock(&a->mu);
    e = &a->ring[++a->seq % SRV_ALERT_RING];
    e->seq = a->seq;
    e->name = strcmp(event, "ack") == 0 ? "ack" : "alert";
    e->al = *al;
    /* Under the hub's mutex, like srv_alerts_wait's check and suspend: a stream cannot miss
     * this wake-up between finding nothing and suspending. */
    struct srv_alert_sub *s;
    LIST_FOREACH(s, &a->subs, link) {
        if (!s->waiting)
            continue;
        s->waiting = false;
        srv_guard_wake(a->guard, s->conn);
    }
    pthread_mutex_unlock(&a->mu);
}

int srv_alerts_raise(struct srv_alerts *a, struct srv_alert *al, struct cv_err *err)
{
    struct idx_txn *t = NULL;
    int rc = idx_begin(a->idx, true, &t, err);

    if (rc == 0)
        rc = srv_alert_add(t, al, err);
    if (rc == 0)
        rc = srv_alert_trim(t, err);
    if (rc == 0) {
        rc = idx_commit(t, err);
        t = NULL;
    }
    idx_abort(t);
    if (rc == 0)
        srv_alerts_publish(a, "alert", al);
    return rc;
}

struct srv_alert_sub *srv_alerts_subscribe(struct srv_alerts *a, struct MHD_Connection *c,
                                           uint64_t after)
{
    struct srv_alert_sub *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->conn = c;
    pthread_mutex_lock(&a->mu);
    if (a->nsubs >= SRV_ALERT_STREAMS) {
        pthread_mutex_unlock(&a->mu);
        free(s);
        return NULL;
    }
    s->seq = after && after <= a->seq ? after : a->seq;
    LIST_INSERT_HEAD(&a->subs, s, link);
    a->nsubs++;
    pthread_mutex_unlock(&a->mu);
    return s;
}

void srv_alerts_unsubscribe(struct srv_alerts *a, struct srv_alert_sub *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&a->mu);
    LIST_REMOVE(s, link);
    a->nsubs--;
    pthread_mutex_unlock(&a->mu);
    free(s);
}

size_t srv_alerts_take(struct srv_alerts *a, struct srv_alert_sub *s, struct cv_buf *out,
                       size_t room, bool (*keep)(const struct srv_alert *al, void *arg),
                       void *arg)
{
    size_t n = 0;

    pthread_mutex_lock(&a->mu);
    if (a->seq - s->seq > SRV_ALERT_RING)
        s->seq = a->seq - SRV_ALERT_RING; /* fell behind the ring: the oldest it still holds */
    while (s->seq < a->seq && out->len < room) {
        const struct event *e = &a->ring[(s->seq + 1) % SRV_ALERT_RING];
        s->seq++;
        if (keep && !keep(&e->al, arg))
            continue;
        cv_buf_printf(out, "id: %llu\nevent: %s\ndata: ", (unsigned long long)e->seq, e->name);
        srv_alert_json(out, &e->al);
        cv_buf_printf(out, "\n\n");
        n++;
    }
    pthread_mutex_unlock(&a->mu);
    return n;
}

int srv_alerts_wait(struct srv_alerts *a, struct srv_alert_sub *s, int64_t after_us)
{
    int rc = 0;

    pthread_mutex_lock(&a->mu);
    if (s->seq < a->seq)
        rc = 1;
    else if (!srv_guard_resume_later(a->guard, s->conn, after_us))
        rc = -1;
    else
        s->waiting = true;
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* ---- the watcher ---- */

static void *watch_main(void *arg)
{
    struct srv_alerts *a = arg;
    struct srv_cam_states *cs = NULL;

    pthread_mutex_lock(&a->mu);
    while (!a->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += WATCH_MS / 1000;
        pthread_cond_timedwait(&a->cv, &a->mu, &ts);
        if (a->quit)
            break;
        pthread_mutex_unlock(&a->mu);
        if (!cs)
            cs = srv_cam_states_new(a->idx);
        if (cs)
            srv_cam_states_check(cs, a, a->idx);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    srv_cam_states_free(cs);
    return NULL;
}

int srv_alerts_open(struct srv_alerts **out, struct idx *idx, struct srv_guard *g, bool watch,
                    struct cv_err *err)
{
    struct srv_alerts *a = calloc(1, sizeof(*a));
    pthread_condattr_t ca;
    int rc;

    *out = NULL;
    if (!a)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    a->idx = idx;
    a->guard = g;
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    rc = watch ? pthread_create(&a->thread, NULL, watch_main, a) : 0;
    if (rc != 0) {
        srv_alerts_close(a);
        return cv_errf(err, CV_EIO, "cannot start the alerts' camera watcher thread: %s",
                       strerror(rc));
    }
    a->thread_started = watch;
    *out = a;
    return 0;
}

void srv_alerts_close(struct srv_alerts *a)
{
    if (!a)
        return;
    if (a->thread_started) {
        pthread_mutex_lock(&a->mu);
        a->quit = true;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
    }
    while (!LIST_EMPTY(&a->subs))
        srv_alerts_unsubscribe(a, LIST_FIRST(&a->subs));
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}
