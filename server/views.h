/*
 * views.h: the JSON objects of cameras and holds, the one writer of each for the HTTP API
 * (docs/api.md, CAMERA and HOLD) and the command line (`camera list|show --json`,
 * `hold list --json`, `query --json`), so that the two cannot disagree on a field's name or value.
 *
 * What a camera shows depends on who looks: the command line runs with the data root's files
 * and sees what an admin sees. Times are written with cv_json_time_or_null (common/cvtime.h).
 * Threads: any; the functions only read their arguments and append to b.
 */
#ifndef SRV_VIEWS_H
#define SRV_VIEWS_H

#include "common/buf.h"
#include "indexer/idx.h"
#include "server/users.h"

/* CAMERA for a caller of `role` (SRV_ROLE_*): residents get {id, name, location, public, online};
 * the other roles the camera's settings and its status (st, or null when st is NULL: never
 * recorded), then its picture health ("picture": "ok", "black", "frozen" or "unknown" when not
 * recording; "picture_since"); admins also its URL with the password masked (cv_url_redact). */
void srv_camera_json(struct cv_buf *b, const struct idx_camera *c, const struct idx_status *st,
                     enum srv_role role);

/* The camera's picture health as shown (recorder/picture.h): st->picture ("ok", "black",
 * "frozen") while it records, else "unknown" (st NULL: never recorded; offline; older records).
 * Since when, wall-clock µs, into *since_us (0: never recorded). For alerts: "black" and
 * "frozen" are the problems. */
const char *srv_camera_picture(const struct idx_status *st, int64_t *since_us);
/* Whether that is a problem: "black" or "frozen" (st may be NULL). */
bool srv_camera_picture_bad(const struct idx_status *st);

/* Whether hold h is in force now (not released, `until` not passed). */
bool srv_hold_active(const struct idx_hold *h);

/* HOLD: id, case, cameras, from, to, until, by, reason, created, released, released_by, active. */
void srv_hold_json(struct cv_buf *b, const struct idx_hold *h);

#endif
