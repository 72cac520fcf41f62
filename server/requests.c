/*
 * requests.c: footage request records (requests.h): encoding, the store, JSON.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cvtime.h"
#include "server/records.h"
#include "server/requests.h"
#include "common/banned.h"

#define REC_MAX 8192

const char *srv_request_status_name(int s)
{
    switch (s) {
    case SRV_RQ_PENDING:
        return "pending";
    case SRV_RQ_APPROVED:
        return "approved";
    case SRV_RQ_REJECTED:
        return "rejected";
    default:
        return "?";
    }
}

/* The stored fields, in order (records.h). */
static const struct srv_field fields[] = {
    SRV_F_STR(struct srv_request, id),           SRV_F_STR(struct srv_request, by),
    SRV_F_STR(struct srv_request, camera),       SRV_F_STR(struct srv_request, place),
    SRV_F_BE64(struct srv_request, from_us),     SRV_F_BE64(struct srv_request, to_us),
    SRV_F_STR(struct srv_request, description),  SRV_F_U8(struct srv_request, status, SRV_RQ_REJECTED),
    SRV_F_STR(struct srv_request, reason),       SRV_F_BE64(struct srv_request, hold),
    SRV_F_STR(struct srv_request, case_id),      SRV_F_STR(struct srv_request, export_id),
    SRV_F_BE64(struct srv_request, created_us),  SRV_F_BE64(struct srv_request, decided_us),
    SRV_F_STR(struct srv_request, decided_by),   SRV_F_STRS(struct srv_request, cameras, ncameras),
    SRV_F_END,
};

static const struct srv_rec_kind kind = {
    SRV_REC_KIND(IDX_REQUESTS, "request", struct srv_request, REC_MAX, SRV_REQUEST_ID_MAX),
    .counter = "next_request", .prefix = "R-", .fields = fields,
};

/* srv_request_add, _put, _get and _list, oldest first (requests.h) */
SRV_REC_NUMBERED(srv_request, struct srv_request, kind, SRV_REC_OLDEST_FIRST)

void srv_request_json(struct cv_buf *b, const struct srv_request *rq, bool full)
{
    cv_json_open_id(b, rq->id);
    cv_json_add_str(b, "by", rq->by, false);
    cv_json_add_str(b, "camera", rq->camera, true);
    cv_json_add_str(b, "place", rq->place, true);
    cv_json_add_time(b, "from", rq->from_us);
    cv_json_add_time(b, "to", rq->to_us);
    cv_json_add_str(b, "description", rq->description, false);
    cv_json_add_str(b, "status", srv_request_status_name(rq->status), false);
    cv_json_add_str(b, "reason", rq->reason, true);
    cv_json_add_strv(b, "cameras", rq->cameras[0], sizeof(rq->cameras[0]), rq->ncameras);
    if (full && rq->hold)
        cv_buf_printf(b, ",\"hold\":%llu", (unsigned long long)rq->hold);
    else if (full)
        cv_buf_printf(b, ",\"hold\":null");
    cv_json_add_str(b, "case", rq->case_id, true);
    cv_json_add_str(b, "export", rq->export_id, true);
    cv_json_add_time(b, "created", rq->created_us);
    cv_json_add_time(b, "decided", rq->decided_us);
    if (full)
        cv_json_add_str(b, "decided_by", rq->decided_by, true);
    cv_buf_u8(b, '}');
}

/* Whether every word (run of ASCII letters and digits, or of other non-space bytes) of a[] is
 * a word of b[], ignoring ASCII case. */
static bool words_within(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b), words = 0;

    for (size_t i = 0; i < na;) {
        size_t n = 0;
        bool found = false;
        while (i < na && (a[i] == ' ' || a[i] == ',' || a[i] == '.' || a[i] == '-'))
            i++;
        while (i + n < na && a[i + n] != ' ' && a[i + n] != ',' && a[i + n] != '.' &&
               a[i + n] != '-')
            n++;
        if (n == 0)
            break;
        words++;
        for (size_t j = 0; !found && j + n <= nb; j++) {
            bool start =
                j == 0 || b[j - 1] == ' ' || b[j - 1] == ',' || b[j - 1] == '.' || b[j - 1] == '-';
            bool stop = j + n == nb || b[j + n] == ' ' || b[j + n] == ',' || b[j + n] == '.' ||
                        b[j + n] == '-';
            found = start && stop && strncasecmp(a + i, b + j, n) == 0;
        }
        if (!found)
            return false;
        i += n;
    }
    return words > 0;
}

static bool non_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

size_t srv_place_len(const char *place)
{
    size_t n = 0;

    for (; *place; place++)
        n += *place != ' ' && *place != '\t';
    return n;
}

int srv_request_conf(struct srv_config *c, const char *key, const char *value, struct cv_err *err)
{
    static const struct {
        const char *key;
        int max;
        size_t off;
    } keys[] = {
        {"request_open_max", SRV_REQUEST_OPEN_LIMIT, offsetof(struct srv_config, request_open_max)},
        {"request_cameras_max", SRV_REQUEST_CAMERAS,
         offsetof(struct srv_config, request_cameras_max)},
        {"request_hours_max", SRV_REQUEST_HOURS_LIMIT,
         offsetof(struct srv_config, request_hours_max)},
    };
    int64_t v;

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(key, keys[i].key) != 0)
            continue;
        if (cv_parse_i64(value, 1, keys[i].max, &v) < 0)
            return cv_errf(err, CV_EINVAL, "%s: expected a whole number from 1 to %d, not '%.40s'",
                           key, keys[i].max, value);
        if (c)
            *(int *)(void *)((char *)c + keys[i].off) = (int)v;
        return 0;
    }
    return 1;
}

bool srv_place_matches(const char *location, const char *place)
{
    size_t nl = strlen(location), np = strlen(place);
    const char *big = nl >= np ? location : place, *small = nl >= np ? place : location;
    size_t nb = nl >= np ? nl : np, ns = nl >= np ? np : nl;

    if (nl == 0 || np == 0)
        return false;
    if (words_within(location, place) || words_within(place, location))
        return true;
    if (ns < 6 || !non_ascii(small))
        return false;
    for (size_t i = 0; i + ns <= nb; i++)
        if (strncasecmp(big + i, small, ns) == 0)
            return true;
    return false;
}
