/*
 * alert_sources.c: alerts derived from the camera statuses the recorder writes to the index
 * (alerts.h, "camera-state sources"). Each row of `sources` names one kind of state, the state
 * in which nothing is wrong, and how to read the state off a camera and its status; an alert
 * "<source>_<state>" is raised whenever a camera's state differs from the one last alerted
 * (camera_offline, camera_online, retention_shortfall, ...). A new kind of state is one row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/alerts.h"
#include "server/views.h"
#include "common/banned.h"

#define STATE_MAX 16

struct source {
    const char *name;  /* the alert kinds' prefix */
    const char *quiet; /* the state with nothing wrong, assumed before any alert */
    /* The camera's state now, or NULL when it cannot be told (disabled, never recorded). */
    const char *(*state)(const struct idx_camera *c, const struct idx_status *st);
};

static const char *online_state(const struct idx_camera *c, const struct idx_status *st)
{
    if (!c->enabled || !st)
        return NULL;
    return st->online ? "online" : "offline";
}

static const char *retention_state(const struct idx_camera *c, const struct idx_status *st)
{
    if (!c->enabled || !st)
        return NULL;
    return srv_status_shortfall(st) ? "shortfall" : "ok";
}

/* ok, black or frozen (server/views.h); NULL while unknown (no look yet, offline) */
static const char *picture_state(const struct idx_camera *c, const struct idx_status *st)
{
    const char *p;
    int64_t since;

    if (!c->enabled || !st)
        return NULL;
    p = srv_camera_picture(st, &since);
    return strcmp(p, "unknown") == 0 ? NULL : p;
}

static const struct source sources[] = {
    {"camera", "online", online_state},
    {"retention", "ok", retention_state},
    {"picture", "ok", picture_state},
};
#define NSOURCES (sizeof(sources) / sizeof(sources[0]))

struct cam_mem {
    char id[LAY_ID_MAX + 1];
    char state[NSOURCES][STATE_MAX]; /* as last alerted */
};

struct srv_cam_states {
    struct cam_mem *v;
    size_t n, cap;
};

static struct cam_mem *mem_of(struct srv_cam_states *cs, const char *id)
{
    struct cam_mem *m;

    for (size_t i = 0; i < cs->n; i++)
        if (strcmp(cs->v[i].id, id) == 0)
            return &cs->v[i];
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? 2 * cs->cap : 16;
        m = realloc(cs->v, cap * sizeof(*m));
        if (!m)
            return NULL;
        cs->v = m;
        cs->cap = cap;
    }
    m = &cs->v[cs->n++];
    memset(m, 0, sizeof(*m));
    cv_strlcpy(m->id, id, sizeof(m->id));
    for (size_t s = 0; s < NSOURCES; s++)
        cv_strlcpy(m->state[s], sources[s].quiet, STATE_MAX);
    return m;
}

/* The source of an alert kind ("camera_offline": camera, state "offline"), or -1. */
static int source_of(const char *kind, const char **state)
{
    for (size_t s = 0; s < NSOURCES; s++) {
        size_t n = strlen(sources[s].name);
        if (strncmp(kind, sources[s].name, n) == 0 && kind[n] == '_') {
            *state = kind + n + 1;
            return (int)s;
        }
    }
    return -1;
}

struct srv_cam_states *srv_cam_states_new(struct idx *idx)
{
    struct srv_cam_states *cs = calloc(1, sizeof(*cs));
    struct srv_alert *v = NULL;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    size_t n = 0;
    bool *seen = NULL;
    int rc;

    if (!cs)
        return NULL;
    rc = idx_begin(idx, false, &t, &err);
    if (rc == 0)
        rc = srv_alert_list(t, &v, &n, &err);
    idx_abort(t);
    if (rc < 0) {
        cv_warn("alerts: %s (camera states start from scratch)", err.msg);
        return cs;
    }
    /* Newest first: the first alert of a camera and source is its state. */
    seen = calloc(n ? n : 1, NSOURCES * sizeof(*seen));
    for (size_t i = 0; seen && i < n; i++) {
        const char *state;
        int s = v[i].camera[0] ? source_of(v[i].kind, &state) : -1;
        struct cam_mem *m = s >= 0 ? mem_of(cs, v[i].camera) : NULL;
        size_t k = m ? (size_t)(m - cs->v) * NSOURCES + (size_t)s : 0;
        if (!m || seen[k])
            continue;
        seen[k] = true;
        cv_strlcpy(m->state[s], state, STATE_MAX);
    }
    free(seen);
    free(v);
    return cs;
}

void srv_cam_states_free(struct srv_cam_states *cs)
{
    if (!cs)
        return;
    free(cs->v);
    free(cs);
}

void srv_cam_states_check(struct srv_cam_states *cs, struct srv_alerts *a, struct idx *idx)
{
    struct idx_camera *cams = NULL;
    struct idx_status *sts = NULL;
    bool *has = NULL;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    size_t n = 0;
    int rc = idx_begin(idx, false, &t, &err);

    if (rc == 0)
        rc = idx_camera_list(t, &cams, &n, &err);
    if (rc == 0 && n) {
        sts = calloc(n, sizeof(*sts));
        has = calloc(n, sizeof(*has));
        for (size_t i = 0; sts && has && i < n; i++)
            has[i] = idx_status_get(t, cams[i].num, &sts[i], NULL) == 0;
    }
    idx_abort(t); /* raising alerts needs the write transaction */
    if (rc < 0)
        cv_warn("alerts: cannot read the cameras' statuses: %s", err.msg);
    for (size_t i = 0; rc == 0 && sts && has && i < n; i++) {
        struct cam_mem *m = mem_of(cs, cams[i].id);
        for (size_t s = 0; m && s < NSOURCES; s++) {
            const char *now = sources[s].state(&cams[i], has[i] ? &sts[i] : NULL);
            struct srv_alert al = {0};
            if (!now || strcmp(now, m->state[s]) == 0)
                continue;
            snprintf(al.kind, sizeof(al.kind), "%s_%s", sources[s].name, now);
            cv_strlcpy(al.camera, cams[i].id, sizeof(al.camera));
            snprintf(al.text, sizeof(al.text), "%s%s%s",
                     cams[i].name[0] ? cams[i].name : cams[i].id, sts[i].reason[0] ? ": " : "",
                     sts[i].reason);
            al.at_us = sts[i].since_us ? sts[i].since_us : sts[i].updated_us;
            if (srv_alerts_raise(a, &al, &err) < 0) {
                cv_warn("alerts: camera '%s': cannot store alert %s: %s", cams[i].id, al.kind,
                        err.msg);
                continue; /* tried again at the next check */
            }
            cv_strlcpy(m->state[s], now, STATE_MAX);
        }
    }
    free(has);
    free(sts);
    free(cams);
}
