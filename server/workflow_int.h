/*
 * workflow_int.h: what the server's workflow files share (footage requests, cases, export jobs,
 * playback: api_requests.c, api_cases.c, api_exports.c, api_playback.c). Like srv_int.h, not an
 * API for other modules. The handlers are listed in the route table (routes.c).
 */
#ifndef SRV_WORKFLOW_INT_H
#define SRV_WORKFLOW_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "server/cases.h"
#include "server/jobs.h"
#include "server/requests.h"
#include "server/srv_int.h"

/* ---- shared helpers (api_requests.c) ---- */

/*
 * A text field of the JSON body: 0 and *out; 1 absent/null and !required; else answered 400
 * (wrong type, missing, longer than max - 1 bytes, or empty when required) and -1.
 */
int wf_body_text(struct srv_req *r, const char *name, bool required, size_t max, const char **out);
/*
 * A list of camera ids in field `name` (1..SRV_JOB_CAMERAS strings, each an existing camera,
 * no repeats) into out[] and *n: 0; 1 absent and !required; else answered 400 and -1.
 */
int wf_body_cameras(struct srv_req *r, struct idx_txn *t, const char *name, bool required,
                    char (*out)[LAY_ID_MAX + 1], uint32_t *n);
/*
 * The provisional hold of a resident's footage request or report `owner` ("R-4", "RP-2"): the
 * cameras over [from_us, to_us) for SRV_REQUEST_HOLD_US, placed in t with its `hold-add` audit
 * record; `what` names the owner ("footage request R-4"). 0 and *id, or the error.
 */
int wf_hold_provisional(struct srv_req *r, struct idx_txn *t, const char *owner,
                        const char (*cameras)[LAY_ID_MAX + 1], uint32_t n, int64_t from_us,
                        int64_t to_us, const char *what, uint64_t *id, struct cv_err *err);
/* "<camera> <from>..<to>" (UTC, ms) for audit targets, into out[cap]. */
void wf_range_text(char *out, size_t cap, const char *what, int64_t from_us, int64_t to_us);

/* Queue an export job in t (the caller commits, then kicks the worker): fills j->id,
 * created_us, status; adds it to the case c (caller stores c); writes `export-start`. */
int wf_job_start(struct srv_req *r, struct idx_txn *t, struct srv_job *j, struct srv_case *c,
                 struct cv_err *err);
/* Whether the caller may see job j at all (officers: all; mediators: members of its case;
 * residents: jobs for them). */
bool wf_job_visible(struct srv_req *r, struct idx_txn *t, const struct srv_job *j);

/* ---- byte ranges (api_playback.c) ---- */
/*
 * The Range header of this request against a body of `size` bytes: 0 with [*off, *off + *len)
 * and *partial (true: answer 206); -1 when unsatisfiable (answered 416 with Content-Range
 * "bytes * /size"). Malformed or multi-range headers are ignored (the whole body, 200).
 */
int wf_range(struct srv_req *r, uint64_t size, uint64_t *off, uint64_t *len, bool *partial);

/* ---- handlers ---- */
/* api_requests.c */
srv_api_fn api_requests_add, api_requests_list, api_requests_get, api_requests_approve,
    api_requests_reject;
/* api_cases.c */
srv_api_fn api_cases_list, api_cases_add, api_cases_get, api_cases_edit, api_cases_member_add,
    api_cases_member_del, api_cases_clip_add, api_cases_clip_del, api_cases_custody;
/* api_exports.c */
srv_api_fn api_exports_list, api_exports_add, api_exports_get, api_exports_cancel,
    api_exports_download;
/* api_playback.c, api_live.c */
/* The clip video.mp4 delivers (exporter/clip.h) for the camera of the path over the query's
 * from and to (at most 6 hours; srv_footage_range): the first run only when codec parameters
 * change between runs. 0 with *cam, *from, *to and *clip; or it has answered (400, 403, 404
 * "nothing recorded in this range", exp_clip_open's errors) and returns -1. */
struct exp_clip;
int wf_video_clip(struct srv_req *r, struct idx_camera *cam, int64_t *from, int64_t *to,
                  struct exp_clip **clip);
srv_api_fn api_video, api_live, api_live_hls, api_live_hls_init, api_live_hls_frag, api_snapshot;
/* api_rendition.c: video.mp4 and live.mp4 with ?rendition=h264 (api_video and api_live hand
 * the request over when the parameter is there) */
srv_api_fn api_video_rendition, api_live_rendition;

#endif
