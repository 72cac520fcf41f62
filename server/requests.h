/*
 * requests.h: residents' footage requests (the index's `requests` store).
 *
 * A resident files a request for a camera or a place and a time window of at most 7 days; the
 * server places a provisional hold (14 days) on the matching cameras at once, so the footage is
 * not lost while the request waits. An officer approves it (a case, a case hold, an export for
 * the resident) or rejects it with a reason the resident sees. The HTTP side is
 * server/api_requests.c; this module is the record and its JSON.
 *
 * Record layout (key: the id, "R-<n>" with n from the meta counter "next_request"):
 *   u8 1, id, by, camera, place, be64 from µs, be64 to µs, description, u8 status, reason,
 *   be64 hold id, case id, export id, be64 created µs, be64 decided µs, decided_by,
 *   u8 ncameras, ncameras * camera id (the cameras the provisional hold covers)
 * (strings as cv_buf_str16: be16 length + bytes).
 *
 * Threads: functions taking a txn follow idx.h's rules (the txn's thread only).
 */
#ifndef SRV_REQUESTS_H
#define SRV_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "indexer/idx.h"
#include "server/srv.h"

#define SRV_REQUEST_ID_MAX 24
#define SRV_REQUEST_TEXT_MAX 256  /* place, reason (bytes, with the NUL) */
#define SRV_REQUEST_DESC_MAX 2048 /* description: what happened (bytes, with the NUL) */
#define SRV_REQUEST_WINDOW_US (INT64_C(7) * 86400 * 1000000) /* longest window */
#define SRV_REQUEST_HOLD_US (INT64_C(14) * 86400 * 1000000)  /* provisional hold */
#define SRV_REQUEST_CAMERAS IDX_HOLD_CAMERAS
/* Per resident, so that one resident cannot hold every camera (camvault.conf keys, see
 * srv_request_conf in srv.h and docs/operations.md): open (pending) requests at once, cameras a
 * request may cover, hours a request's window may span. */
#define SRV_REQUEST_OPEN_DEFAULT 3
#define SRV_REQUEST_OPEN_LIMIT 100
#define SRV_REQUEST_CAMERAS_DEFAULT 4
#define SRV_REQUEST_HOURS_DEFAULT 24
#define SRV_REQUEST_HOURS_LIMIT 168 /* SRV_REQUEST_WINDOW_US */
#define SRV_PLACE_MIN 3             /* bytes of a place, spaces aside ("e" names nothing) */

enum srv_request_status { SRV_RQ_PENDING = 0, SRV_RQ_APPROVED = 1, SRV_RQ_REJECTED = 2 };
const char *srv_request_status_name(int s); /* "pending", "approved", "rejected" */

struct srv_request {
    char id[SRV_REQUEST_ID_MAX];
    char by[33];                 /* the resident */
    char camera[LAY_ID_MAX + 1]; /* "" when filed for a place */
    char place[SRV_REQUEST_TEXT_MAX];
    int64_t from_us, to_us;
    char description[SRV_REQUEST_DESC_MAX];
    uint8_t status;
    char reason[SRV_REQUEST_TEXT_MAX]; /* why rejected */
    uint64_t hold;                     /* the provisional (later case) hold, 0: none */
    char case_id[SRV_REQUEST_ID_MAX];
    char export_id[40];
    int64_t created_us, decided_us;
    char decided_by[33];
    char cameras[SRV_REQUEST_CAMERAS][LAY_ID_MAX + 1]; /* what the hold covers */
    uint32_t ncameras;
};

/* Store a new request: assigns rq->id. */
int srv_request_add(struct idx_txn *txn, struct srv_request *rq, struct cv_err *err);
/* Replace a stored request (same id). */
int srv_request_put(struct idx_txn *txn, const struct srv_request *rq, struct cv_err *err);
/* CV_ENOENT "unknown request 'x'" when absent (also for ids that cannot be ids). */
int srv_request_get(struct idx_txn *txn, const char *id, struct srv_request *out,
                    struct cv_err *err);
/* All requests, oldest first; *out malloc'd (caller frees). */
int srv_request_list(struct idx_txn *txn, struct srv_request **out, size_t *n, struct cv_err *err);

/* REQUEST of docs/api.md appended to b; `full` false leaves out decided_by and hold (residents). */
void srv_request_json(struct cv_buf *b, const struct srv_request *rq, bool full);

/* Whether a camera location (or name) matches a place a resident typed (ASCII case ignored,
 * both non-empty): every word of one is a whole word of the other ("the alley by building 12"
 * matches "Building 12 alley"; "e" matches nothing), or, for text with non-ASCII letters and
 * at least 6 bytes in the shorter (two Chinese characters), one contains the other (text
 * without spaces, e.g. Chinese). */
bool srv_place_matches(const char *location, const char *place);

/* The bytes of a place that are not spaces (srv_place_matches needs SRV_PLACE_MIN of them). */
size_t srv_place_len(const char *place);

#endif
