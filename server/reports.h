/*
 * reports.h: residents' reports (issue 13): a clue ("strangers keep gathering at building 12"),
 * a hazard (a broken manhole cover) or a one-key help call, optionally on a camera and with a
 * photo. A report on a camera places a provisional hold of ±5 minutes around its time at once
 * (as footage requests do); every report raises an alert for the duty room (alerts.h). An
 * officer acknowledges, answers and closes it; the resident sees its state and the answer. The
 * HTTP side is server/api_reports.c; this module is the record, its photo and its JSON.
 *
 * Record layout (key: the id, "RP-<n>" with n from the meta counter "next_report"):
 *   u8 1, id, u8 kind, by, household, camera, be64 at µs, text, u8 status, answer,
 *   answered_by, be64 hold id, photo type, be64 created µs, be64 updated µs, alert id
 * (strings as cv_buf_str16). The photo's bytes are in the `photos` store under the report's id.
 *
 * Threads: as idx.h (the txn's thread only).
 */
#ifndef SRV_REPORTS_H
#define SRV_REPORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "indexer/idx.h"
#include "server/alerts.h"
#include "server/users.h"

#define SRV_REPORT_ID_MAX 24
#define SRV_REPORT_TEXT_MAX 2048          /* text, answer (bytes, with the NUL) */
#define SRV_REPORT_PHOTO_MAX (40 * 1024)  /* a photo's bytes (JPEG or PNG), sent as base64 */
#define SRV_REPORT_OPEN_MAX 10            /* a resident's reports not yet closed */
#define SRV_REPORT_HOLD_HALF_US (INT64_C(5) * 60 * 1000000) /* the hold: at ± this */
#define SRV_REPORT_PAST_US (INT64_C(7) * 86400 * 1000000)   /* `at` at most this long ago */

enum srv_report_kind { SRV_REPORT_CLUE = 0, SRV_REPORT_HELP = 1, SRV_REPORT_HAZARD = 2 };
enum srv_report_status {
    SRV_RP_OPEN = 0,
    SRV_RP_ACKNOWLEDGED = 1,
    SRV_RP_ANSWERED = 2,
    SRV_RP_CLOSED = 3
};
const char *srv_report_kind_name(int k);     /* "clue", "help", "hazard" */
const char *srv_report_status_name(int s);   /* "open", "acknowledged", "answered", "closed" */
/* The number of a kind or status name, or -1. */
int srv_report_kind_of(const char *name);
int srv_report_status_of(const char *name);

struct srv_report {
    char id[SRV_REPORT_ID_MAX];
    uint8_t kind;
    char by[33];
    char household[SRV_HOUSEHOLD_MAX];
    char camera[LAY_ID_MAX + 1]; /* "" when on no camera */
    int64_t at_us;
    char text[SRV_REPORT_TEXT_MAX];
    uint8_t status;
    char answer[SRV_REPORT_TEXT_MAX];
    char answered_by[33]; /* the officer who last changed it */
    uint64_t hold;        /* the provisional hold, 0: none */
    char photo_type[16];  /* "image/jpeg", "image/png", "" without a photo */
    int64_t created_us, updated_us;
    char alert[SRV_ALERT_ID_MAX];
};

/* Store a new report: assigns r->id. */
int srv_report_add(struct idx_txn *t, struct srv_report *rp, struct cv_err *err);
/* Replace a stored report (same id). */
int srv_report_put(struct idx_txn *t, const struct srv_report *rp, struct cv_err *err);
/* CV_ENOENT "unknown report 'x'". */
int srv_report_get(struct idx_txn *t, const char *id, struct srv_report *out, struct cv_err *err);
/* All reports, newest first; *out malloc'd (caller frees). */
int srv_report_list(struct idx_txn *t, struct srv_report **out, size_t *n, struct cv_err *err);

/* The photo of report `id`: store its bytes, or read them into out (CV_ENOENT when none). */
int srv_report_photo_put(struct idx_txn *t, const char *id, const void *p, size_t n,
                         struct cv_err *err);
int srv_report_photo_get(struct idx_txn *t, const char *id, struct cv_buf *out,
                         struct cv_err *err);
/* The MIME type of photo bytes by their signature ("image/jpeg", "image/png"), or NULL. */
const char *srv_photo_type(const uint8_t *p, size_t n);

/* The household a resident's help call carries: their address (and area) when their account
 * has one, else "" (into out[cap]). */
void srv_user_household(const struct srv_user *u, char *out, size_t cap);

/* REPORT of docs/api.md; `full` false (residents) leaves out answered_by and hold. */
void srv_report_json(struct cv_buf *b, const struct srv_report *rp, bool full);

#endif
