/*
 * cases.c: case records (cases.h): encoding, the store, membership and reach, JSON.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "common/log.h"
#include "server/cases.h"
#include "server/records.h"
#include "common/banned.h"

#define REC_MAX (IDX_REC_VAL_MAX)

struct srv_case *srv_case_new(void)
{
    return calloc(1, sizeof(struct srv_case));
}

static void encode(struct cv_buf *b, const void *rec)
{
    const struct srv_case *c = rec;

    cv_buf_str16(b, c->id);
    cv_buf_str16(b, c->title);
    cv_buf_str16(b, c->description);
    cv_buf_u8(b, c->status);
    cv_buf_be64(b, (uint64_t)c->created_us);
    cv_buf_str16(b, c->created_by);
    cv_buf_be32(b, c->next_clip);
    cv_buf_be32(b, c->nmembers);
    for (uint32_t i = 0; i < c->nmembers; i++)
        cv_buf_str16(b, c->members[i]);
    cv_buf_be32(b, c->nclips);
    for (uint32_t i = 0; i < c->nclips; i++) {
        const struct srv_case_clip *k = &c->clips[i];
        cv_buf_str16(b, k->id);
        cv_buf_str16(b, k->camera);
        cv_buf_be64(b, (uint64_t)k->from_us);
        cv_buf_be64(b, (uint64_t)k->to_us);
        cv_buf_str16(b, k->note);
    }
    cv_buf_be32(b, c->nholds);
    for (uint32_t i = 0; i < c->nholds; i++)
        cv_buf_be64(b, c->holds[i]);
    cv_buf_be32(b, c->nexports);
    for (uint32_t i = 0; i < c->nexports; i++)
        cv_buf_str16(b, c->exports[i]);
}

static bool decode(struct cv_rd *r, void *out)
{
    struct srv_case *c = out;

    cv_rd_str16(r, c->id, sizeof(c->id));
    cv_rd_str16(r, c->title, sizeof(c->title));
    cv_rd_str16(r, c->description, sizeof(c->description));
    c->status = cv_rd_u8(r);
    c->created_us = (int64_t)cv_rd_be64(r);
    cv_rd_str16(r, c->created_by, sizeof(c->created_by));
    c->next_clip = cv_rd_be32(r);
    c->nmembers = cv_rd_be32(r);
    if (c->nmembers > SRV_CASE_MEMBERS)
        r->bad = true;
    for (uint32_t i = 0; !r->bad && i < c->nmembers; i++)
        cv_rd_str16(r, c->members[i], sizeof(c->members[i]));
    c->nclips = r->bad ? 0 : cv_rd_be32(r);
    if (c->nclips > SRV_CASE_CLIPS)
        r->bad = true;
    for (uint32_t i = 0; !r->bad && i < c->nclips; i++) {
        struct srv_case_clip *k = &c->clips[i];
        cv_rd_str16(r, k->id, sizeof(k->id));
        cv_rd_str16(r, k->camera, sizeof(k->camera));
        k->from_us = (int64_t)cv_rd_be64(r);
        k->to_us = (int64_t)cv_rd_be64(r);
        cv_rd_str16(r, k->note, sizeof(k->note));
    }
    c->nholds = r->bad ? 0 : cv_rd_be32(r);
    if (c->nholds > SRV_CASE_HOLDS)
        r->bad = true;
    for (uint32_t i = 0; !r->bad && i < c->nholds; i++)
        c->holds[i] = cv_rd_be64(r);
    c->nexports = r->bad ? 0 : cv_rd_be32(r);
    if (c->nexports > SRV_CASE_EXPORTS)
        r->bad = true;
    for (uint32_t i = 0; !r->bad && i < c->nexports; i++)
        cv_rd_str16(r, c->exports[i], sizeof(c->exports[i]));
    return !(c->status > SRV_CASE_CLOSED);
}

static const struct srv_rec_kind kind = {
    SRV_REC_KIND(IDX_CASES, "case", struct srv_case, REC_MAX, SRV_CASE_ID_MAX),
    .counter = "next_case", .prefix = "C-", .encode = encode, .decode = decode,
};

int srv_case_add(struct idx_txn *txn, struct srv_case *c, struct cv_err *err)
{
    return srv_rec_add_numbered(txn, &kind, c, err);
}

/* srv_case_put and srv_case_get (cases.h) */
SRV_REC_PUT_GET(srv_case, struct srv_case, kind)

struct iter_ctx {
    srv_case_cb cb;
    void *ctx;
};

static int iter_one(void *ctx, const void *rec)
{
    struct iter_ctx *it = ctx;

    return it->cb(it->ctx, rec);
}

int srv_case_iter(struct idx_txn *txn, srv_case_cb cb, void *ctx, struct cv_err *err)
{
    struct iter_ctx it = {cb, ctx};

    return srv_rec_iter(txn, &kind, iter_one, &it, err);
}

bool srv_case_has_member(const struct srv_case *c, const char *user)
{
    for (uint32_t i = 0; i < c->nmembers; i++)
        if (strcmp(c->members[i], user) == 0)
            return true;
    return false;
}

int srv_case_add_member(struct srv_case *c, const char *user, struct cv_err *err)
{
    if (srv_case_has_member(c, user))
        return 0;
    if (c->nmembers == SRV_CASE_MEMBERS)
        return cv_errf(err, CV_ELIMIT, "case '%s' has the most members it may have (%d)", c->id,
                       SRV_CASE_MEMBERS);
    cv_strlcpy(c->members[c->nmembers++], user, sizeof(c->members[0]));
    return 0;
}

int srv_case_add_clip(struct srv_case *c, const char *camera, int64_t from_us, int64_t to_us,
                      const char *note, struct srv_case_clip **out, struct cv_err *err)
{
    struct srv_case_clip *k;

    if (c->nclips == SRV_CASE_CLIPS)
        return cv_errf(err, CV_ELIMIT, "case '%s' has the most clips it may have (%d)", c->id,
                       SRV_CASE_CLIPS);
    k = &c->clips[c->nclips++];
    memset(k, 0, sizeof(*k));
    snprintf(k->id, sizeof(k->id), "K%u", ++c->next_clip);
    cv_strlcpy(k->camera, camera, sizeof(k->camera));
    k->from_us = from_us;
    k->to_us = to_us;
    cv_strlcpy(k->note, note ? note : "", sizeof(k->note));
    if (out)
        *out = k;
    return 0;
}

int srv_case_add_hold(struct srv_case *c, uint64_t hold, struct cv_err *err)
{
    for (uint32_t i = 0; i < c->nholds; i++)
        if (c->holds[i] == hold)
            return 0;
    if (c->nholds == SRV_CASE_HOLDS)
        return cv_errf(err, CV_ELIMIT, "case '%s' has the most holds it may have", c->id);
    c->holds[c->nholds++] = hold;
    return 0;
}

int srv_case_add_export(struct srv_case *c, const char *export_id, struct cv_err *err)
{
    if (c->nexports == SRV_CASE_EXPORTS)
        return cv_errf(err, CV_ELIMIT, "case '%s' has the most exports it may have", c->id);
    cv_strlcpy(c->exports[c->nexports++], export_id, sizeof(c->exports[0]));
    return 0;
}

/* ---- reach: is [from, to) inside a union of intervals? ---- */

struct ivals {
    int64_t (*v)[2];
    size_t n, cap;
    bool any, oom;
};

static void ivals_add(struct ivals *s, int64_t a, int64_t b)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        int64_t(*v)[2] = realloc(s->v, cap * sizeof(*v));
        if (!v) {
            s->oom = true;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n][0] = a;
    s->v[s->n][1] = b;
    s->n++;
}

static int by_start(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;

    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Sort, then sweep from `from`: every point of [from, to) must be inside some interval. */
static bool ivals_cover(struct ivals *s, int64_t from_us, int64_t to_us)
{
    int64_t reached = from_us;

    if (from_us == 0 && to_us == 0)
        return s->n > 0;
    if (to_us <= from_us || s->oom)
        return false;
    if (s->n > 1) /* qsort(NULL, 0) is undefined (UBSan) */
        qsort(s->v, s->n, sizeof(*s->v), by_start);
    for (size_t i = 0; i < s->n && reached < to_us; i++) {
        if (s->v[i][0] > reached)
            break;
        if (s->v[i][1] > reached)
            reached = s->v[i][1];
    }
    return reached >= to_us;
}

static void case_clips(const struct srv_case *c, const char *camera, struct ivals *s)
{
    for (uint32_t i = 0; i < c->nclips; i++)
        if (strcmp(c->clips[i].camera, camera) == 0)
            ivals_add(s, c->clips[i].from_us, c->clips[i].to_us);
}

bool srv_case_covers(const struct srv_case *c, const char *camera, int64_t from_us, int64_t to_us)
{
    struct ivals s = {0};
    bool ok;

    case_clips(c, camera, &s);
    ok = ivals_cover(&s, from_us, to_us);
    free(s.v);
    return ok;
}

struct reach_ctx {
    const char *user, *camera;
    struct ivals s;
};

static int reach_one(void *ctx, const struct srv_case *c)
{
    struct reach_ctx *rc = ctx;

    if (c->status == SRV_CASE_OPEN && srv_case_has_member(c, rc->user))
        case_clips(c, rc->camera, &rc->s);
    return 0;
}

bool srv_case_reach(struct idx_txn *txn, const char *user, const char *camera, int64_t from_us,
                    int64_t to_us)
{
    struct reach_ctx rc = {.user = user, .camera = camera};
    struct cv_err err = {""};
    bool ok = false;

    if (srv_case_iter(txn, reach_one, &rc, &err) < 0)
        cv_warn("mediator reach of '%s': %s", user, err.msg);
    else
        ok = ivals_cover(&rc.s, from_us, to_us);
    free(rc.s.v);
    return ok;
}

void srv_case_json(struct cv_buf *b, const struct srv_case *c)
{
    cv_json_open_id(b, c->id);
    cv_json_add_str(b, "title", c->title, false);
    cv_json_add_str(b, "description", c->description, false);
    cv_json_add_str(b, "status", c->status == SRV_CASE_OPEN ? "open" : "closed", false);
    cv_json_add_time(b, "created", c->created_us);
    cv_json_add_str(b, "created_by", c->created_by, false);
    cv_json_add_strv(b, "members", c->members[0], sizeof(c->members[0]), c->nmembers);
    cv_buf_printf(b, ",\"clips\":[");
    for (uint32_t i = 0; i < c->nclips; i++) {
        const struct srv_case_clip *k = &c->clips[i];
        if (i)
            cv_buf_u8(b, ',');
        cv_json_open_id(b, k->id);
        cv_json_add_str(b, "camera", k->camera, false);
        cv_json_add_time(b, "from", k->from_us);
        cv_json_add_time(b, "to", k->to_us);
        cv_json_add_str(b, "note", k->note, false);
        cv_buf_u8(b, '}');
    }
    cv_buf_printf(b, "],\"holds\":[");
    for (uint32_t i = 0; i < c->nholds; i++)
        cv_buf_printf(b, "%s%llu", i ? "," : "", (unsigned long long)c->holds[i]);
    cv_buf_u8(b, ']');
    cv_json_add_strv(b, "exports", c->exports[0], sizeof(c->exports[0]), c->nexports);
    cv_buf_u8(b, '}');
}
