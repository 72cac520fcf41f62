/*
 * reports.c: residents' report records, their photos and JSON (reports.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "server/records.h"
#include "server/reports.h"
#include "common/banned.h"

#define REC_MAX 8192

static const char *const kinds[] = {"clue", "help", "hazard"};
static const char *const statuses[] = {"open", "acknowledged", "answered", "closed"};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *srv_report_kind_name(int k)
{
    return k >= 0 && (size_t)k < N_OF(kinds) ? kinds[k] : "?";
}

const char *srv_report_status_name(int s)
{
    return s >= 0 && (size_t)s < N_OF(statuses) ? statuses[s] : "?";
}

static int name_index(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

int srv_report_kind_of(const char *name)
{
    return name_index(kinds, N_OF(kinds), name);
}

int srv_report_status_of(const char *name)
{
    return name_index(statuses, N_OF(statuses), name);
}

static const struct srv_field fields[] = {
    SRV_F_STR(struct srv_report, id),
    SRV_F_U8(struct srv_report, kind, SRV_REPORT_HAZARD),
    SRV_F_STR(struct srv_report, by),
    SRV_F_STR(struct srv_report, household),
    SRV_F_STR(struct srv_report, camera),
    SRV_F_BE64(struct srv_report, at_us),
    SRV_F_STR(struct srv_report, text),
    SRV_F_U8(struct srv_report, status, SRV_RP_CLOSED),
    SRV_F_STR(struct srv_report, answer),
    SRV_F_STR(struct srv_report, answered_by),
    SRV_F_BE64(struct srv_report, hold),
    SRV_F_STR(struct srv_report, photo_type),
    SRV_F_BE64(struct srv_report, created_us),
    SRV_F_BE64(struct srv_report, updated_us),
    SRV_F_STR(struct srv_report, alert),
    SRV_F_END,
};

static const struct srv_rec_kind kind = {
    SRV_REC_KIND(IDX_REPORTS, "report", struct srv_report, REC_MAX, SRV_REPORT_ID_MAX),
    .counter = "next_report", .prefix = "RP-", .fields = fields,
};

/* srv_report_add, _put, _get and _list, newest first (reports.h) */
SRV_REC_NUMBERED(srv_report, struct srv_report, kind, SRV_REC_NEWEST_FIRST)

int srv_report_photo_put(struct idx_txn *t, const char *id, const void *p, size_t n,
                         struct cv_err *err)
{
    return idx_rec_put(t, IDX_PHOTOS, id, strlen(id), p, n, err);
}

int srv_report_photo_get(struct idx_txn *t, const char *id, struct cv_buf *out,
                         struct cv_err *err)
{
    int rc = idx_rec_get(t, IDX_PHOTOS, id, strlen(id), out, err);

    if (rc == CV_ENOENT)
        return cv_errf(err, CV_ENOENT, "report %s has no photo", id);
    return rc;
}

const char *srv_photo_type(const uint8_t *p, size_t n)
{
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return "image/jpeg";
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    return NULL;
}

void srv_user_household(const struct srv_user *u, char *out, size_t cap)
{
    /* "<address> (<area>)", or the one that is set, or "" */
    if (u->address[0] && u->area[0])
        snprintf(out, cap, "%s (%s)", u->address, u->area);
    else
        snprintf(out, cap, "%s", u->address[0] ? u->address : u->area);
}

void srv_report_json(struct cv_buf *b, const struct srv_report *rp, bool full)
{
    cv_json_open_id(b, rp->id);
    cv_json_add_str(b, "kind", srv_report_kind_name(rp->kind), false);
    cv_json_add_str(b, "by", rp->by, false);
    cv_json_add_str(b, "household", rp->household, true);
    cv_json_add_str(b, "camera", rp->camera, true);
    cv_json_add_time(b, "at", rp->at_us);
    cv_json_add_str(b, "text", rp->text, false);
    cv_buf_printf(b, ",\"photo\":%s", rp->photo_type[0] ? "true" : "false");
    cv_json_add_str(b, "status", srv_report_status_name(rp->status), false);
    cv_json_add_str(b, "answer", rp->answer, true);
    if (full) {
        cv_json_add_str(b, "answered_by", rp->answered_by, true);
        if (rp->hold)
            cv_buf_printf(b, ",\"hold\":%llu", (unsigned long long)rp->hold);
        else
            cv_buf_printf(b, ",\"hold\":null");
        cv_json_add_str(b, "alert", rp->alert, true);
    }
    cv_json_add_time(b, "created", rp->created_us);
    cv_json_add_time(b, "updated", rp->updated_us);
    cv_buf_u8(b, '}');
}
