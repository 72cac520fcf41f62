/*
 * srv_int.h: what the server's own files share (not for other modules; the public entry points
 * are in srv.h). The HTTP core (http.c) parses and limits each request, finds its route,
 * authenticates, enforces the route's roles and CSRF centrally, and then calls the route's
 * handler with a struct srv_req; a handler only reads the request and fills the response.
 *
 * Adding endpoints: write handlers in a new server/api_<topic>.c, declare them below, add one
 * line per route to the table in server/routes.c. docs/api.md is the contract.
 *
 * Threads: a pool of libmicrohttpd threads polls all connections; each connection stays on one
 * of them, and a struct srv_req belongs to the thread of its connection. A handler blocks that
 * thread and its other connections while it runs: a content reader must never wait for data
 * (a live stream suspends its connection instead, srv_guard_resume_later). struct srv is shared
 * and read-only after start-up except for its atomic counters, the throttle and the guard
 * (which lock).
 */
#ifndef SRV_INT_H
#define SRV_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/json.h"
#include "indexer/idx.h"
#include "server/srv.h"
#include "server/users.h"

/* Hard limits of a request (docs/api.md). */
#define SRV_URI_MAX 2048           /* request target; longer: 414 */
#define SRV_HEADERS_MAX (8 * 1024) /* all header names and values; more: 431 */
#define SRV_HEADER_MAX (4 * 1024)  /* one header; more: 431 */
#define SRV_BODY_MAX (64 * 1024)   /* request body; more: 413 */
#define SRV_SEGS_MAX 16            /* path segments */
#define SRV_QUERY_MAX 16           /* query parameters */
#define SRV_HDRS_OUT 8             /* extra response headers a handler may add */

/* ---- request target parsing (pure functions: unit-tested and fuzzed) ---- */

/* A request target split and percent-decoded: path segments and query parameters. '+' is taken
 * literally (so "+08:00" needs no escaping). */
struct srv_uri {
    char buf[2 * SRV_URI_MAX + 2 * (SRV_SEGS_MAX + SRV_QUERY_MAX) + 4]; /* decoded strings */
    const char *seg[SRV_SEGS_MAX];
    int nseg;
    const char *qname[SRV_QUERY_MAX], *qval[SRV_QUERY_MAX];
    int nq;
};
/*
 * Parse `raw` ("/api/v1/cameras/gate-3/timeline?from=...&to=..."). CV_ELIMIT when longer than
 * SRV_URI_MAX (414) or with too many segments or parameters; CV_EINVAL (400) for a target not
 * starting with '/', a bad %-escape, an encoded NUL or control character, or an empty segment
 * inside the path ("//"). A trailing '/' is ignored.
 */
int srv_uri_parse(const char *raw, struct srv_uri *u, struct cv_err *err);
/* The value of query parameter `name` (first occurrence), or NULL. */
const char *srv_uri_query(const struct srv_uri *u, const char *name);

/* Value of cookie `name` in a Cookie header into out[cap]: 0, or -1 absent / too long. */
int srv_cookie_find(const char *header, const char *name, char *out, size_t cap);

/* ---- routes ---- */

struct srv_req;
/* What every handler is: `srv_api_fn api_x;` declares one (the lists at the end of this file,
 * alerts_int.h and workflow_int.h); it answers r and returns 0 (see srv_reply_*). */
typedef int srv_api_fn(struct srv_req *r);
typedef srv_api_fn *srv_handler;

#define SRV_PUBLIC 0x1       /* no authentication (login, healthz, metrics) */
#define SRV_LONG_STRINGS 0x2 /* a body string may be as long as the body (a photo in base64);
                              * otherwise 4 KiB (cv_json_limits) */

struct srv_route {
    const char *method;  /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *pattern; /* "/api/v1/cameras/{}/timeline": "{}" matches one segment */
    unsigned roles;      /* SRV_ROLE_* bits allowed (ignored for SRV_PUBLIC) */
    unsigned flags;
    srv_handler fn;
};
extern const struct srv_route srv_routes[];
extern const size_t srv_nroutes;

/*
 * Find the route for (method, uri). Returns the route and fills params[] (the "{}" segments, in
 * order, up to 4) or NULL; then *allow is a comma list of the methods the path has ("" when no
 * route has the path: 404, else 405). HEAD matches GET routes.
 */
const struct srv_route *srv_route_find(const char *method, const struct srv_uri *u,
                                       const char **params, int *nparams, char *allow,
                                       size_t allowcap);

/* ---- the server and a request ---- */

struct srv {
    struct srv_config conf;
    char root[PATH_MAX];
    char webdir[PATH_MAX]; /* realpath of the web directory, "" when none */
    struct idx *idx;
    struct srv_throttle *throttle;
    struct srv_jobs *jobs; /* the export worker (jobs.h) */
    struct srv_audit_writer *audit; /* group commit of views' audit records (audit.h) */
    struct srv_guard *guard;        /* connection limits, request deadline (guard.h) */
    struct srv_alerts *alerts;      /* the duty room's alert hub and its watcher (alerts.h) */
    struct srv_livehubs *livehubs;  /* live.mp4 fan-out, one reader per camera (livehub.h) */
    bool tls;
    atomic_bool stopping;
    atomic_int renditions; /* H.264 rendition sessions running (api_rendition.c) */
    atomic_uint_fast64_t status_count[600]; /* responses by status code, for /metrics */
    int64_t started_us;
};

struct srv_req {
    struct srv *srv;
    void *conn; /* struct MHD_Connection * */
    const char *method;
    struct srv_uri uri;
    const char *params[4];
    int nparams;
    char addr[64]; /* client address */
    const struct srv_route *route;

    /* authentication (filled by the core before the handler runs) */
    bool authed;
    struct srv_user user;
    struct srv_session sess;
    bool bearer;

    /* request body: parsed JSON or NULL */
    struct cv_buf body;
    struct cv_json *json;
    const struct cv_jv *in;

    /* response: status + JSON in `out`, or a ready libmicrohttpd response in `resp` */
    int status;
    struct cv_buf out;
    const char *ctype; /* NULL: application/json */
    void *resp;        /* struct MHD_Response *, owned by the core once set */
    int nhdr;
    char hname[SRV_HDRS_OUT][32];
    char hval[SRV_HDRS_OUT][512];
};

/* Answer with `status` and {"error": "<message>"}. Returns 0 (the request is handled). */
int srv_error(struct srv_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answer with the status that fits code (CV_ENOENT 404, CV_EINVAL 400, CV_EEXIST/CV_ESTATE 409,
 * CV_ELIMIT 413, others 500) and err's message. */
int srv_fail(struct srv_req *r, int code, const struct cv_err *err);
/* Add a response header (copied; silently dropped past SRV_HDRS_OUT). */
void srv_header(struct srv_req *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A time query parameter (RFC 3339 or @seconds). 0 and *out; 1 absent and !required; else it has
 * answered 400 naming the parameter and returns -1 (the handler then returns 0).
 */
int srv_query_time(struct srv_req *r, const char *name, bool required, int64_t *out);
/* The required query parameters from and to (srv_query_time) into *from and *to, to after from
 * and at most max_us later: 0, or answered 400 (too_long when it is later) and -1. */
int srv_query_range(struct srv_req *r, int64_t max_us, const char *too_long, int64_t *from,
                    int64_t *to);
/* The same for a time string in the JSON body (field `name`). */
int srv_body_time(struct srv_req *r, const char *name, bool required, int64_t *out);
/* Require a JSON object body whose fields are all in `allowed`; else answers 400, returns -1. */
int srv_body_fields(struct srv_req *r, const char *const *allowed);

/*
 * The core's body step (http_parse.c): an empty body is fine; otherwise it must be
 * Content-Type application/json and parse, into r->json and r->in. 0, or it has answered
 * 415/400 and returns -1.
 */
int srv_parse_body(struct srv_req *r);
/*
 * Serve the file r->uri names under r->srv->webdir (static.c): GET/HEAD only (else 405), no
 * dot-files or smuggled separators, no symlinks out of the directory (404), index.html for "/".
 * Sets r->resp (which owns the file's descriptor) and status 200; returns 0 either way.
 */
int srv_serve_static(struct srv_req *r);

/* Begin a read / write transaction; on failure answers 500 and returns -1. */
int srv_read(struct srv_req *r, struct idx_txn **t);
int srv_write(struct srv_req *r, struct idx_txn **t);

/* Append one audit record for this request's user: in t when not NULL, else through the
 * server's audit writer (a transaction shared with concurrent requests' records; returns once
 * the record is committed, so answer only after it returned 0). target/case/detail may be
 * NULL. Without t the caller must hold no transaction of the index. */
int srv_audit(struct srv_req *r, struct idx_txn *t, const char *action, const char *target,
              const char *case_id, const char *detail, struct cv_err *err);

/*
 * Whether a mediator may see `camera` in [from_us, to_us) (from = to = 0: any time of it): true
 * only when the range lies within a clip of an open case they are a member of. The cases code
 * fills this in; until it exists no range is in scope and mediators get 403.
 */
bool srv_scope_allows(struct srv_req *r, struct idx_txn *t, const char *camera, int64_t from_us,
                      int64_t to_us);

/*
 * Area scope (issue 13, scope.c): a user with an area sees only what lies in it. Users without
 * one (and the command line) see everything: every predicate is then true.
 *   srv_scope_path: called by the core for every authenticated request: a path naming a
 *     camera, hold, request, case, export job or user outside the scope is answered 404
 *     ("unknown camera 'x'") and -1 returned; else 0.
 *   srv_scope_area: whether area (a camera's or user's; "" none) is within the caller's.
 *   srv_scope_camera: whether camera c is.
 *   srv_scope_camera_get: idx_camera_get, and CV_ENOENT "unknown camera 'x'" for one outside
 *     the scope: the one way handlers look up a camera a body names.
 *   srv_scope_cameras: whether all n camera ids (first, then every stride bytes) are in scope
 *     (unknown ids are not); srv_scope_case: whether every clip's camera of case c is.
 */
struct srv_case;
int srv_scope_path(struct srv_req *r);
/* Whether a user whose area is scope ("" the whole site) sees a report or alert about camera
 * ("" none) raised by user `by` ("" nobody): the camera's area, else the reporter's, lies within
 * it. For what runs outside a request (the alert stream). */
bool srv_scope_sees(struct idx_txn *t, const char *scope, const char *camera, const char *by);
bool srv_scope_area(struct srv_req *r, struct idx_txn *t, const char *area);
bool srv_scope_camera(struct srv_req *r, struct idx_txn *t, const struct idx_camera *c);
int srv_scope_camera_get(struct srv_req *r, struct idx_txn *t, const char *id,
                         struct idx_camera *out, struct cv_err *err);
bool srv_scope_cameras(struct srv_req *r, struct idx_txn *t, const char *first, size_t stride,
                       size_t n);
bool srv_scope_case(struct srv_req *r, struct idx_txn *t, const struct srv_case *c);
/*
 * The camera of the path (r->params[0]) for its footage of [from_us, to_us) (the timeline,
 * video, live): 0 with *cam; else it has answered and returns -1. A mediator whose cases do not
 * cover the range gets 403 "camera '<id>' <when> is outside your cases", also for a camera that
 * does not exist (no probing); with public_only, a resident gets 404 "unknown camera" for a
 * camera that is not public; else the lookup's error (404 unknown camera).
 */
int srv_footage_camera(struct srv_req *r, struct idx_txn *t, int64_t from_us, int64_t to_us,
                       const char *when, bool public_only, struct idx_camera *cam);
/* The start of a request for footage over a range (the timeline, video): the query's from and
 * to (srv_query_range with max_us and too_long), a read transaction and the camera of the path
 * (srv_footage_camera with when). 0 with *t (the caller aborts it), *cam, *from and *to; or it
 * has answered and returns -1 with no transaction open. */
int srv_footage_range(struct srv_req *r, int64_t max_us, const char *too_long, const char *when,
                      struct idx_txn **t, struct idx_camera *cam, int64_t *from, int64_t *to);
/* The body's "area" field for a camera or user: 1 absent; 0 and *out (an existing area within
 * the caller's scope, or "" for none: null or ""); else answered (400 wrong type, 404 unknown
 * or outside the scope, 403 "" from a caller with an area) and -1. */
int srv_scope_body_area(struct srv_req *r, struct idx_txn *t, const char **out);

/* Abort t (NULL-safe) and answer the failure rc (srv_fail); returns srv_fail's value. */
int srv_abort_fail(struct srv_req *r, struct idx_txn *t, int rc, const struct cv_err *err);
/* The end of a writing handler (reply.c): when rc is 0, the audit record (srv_audit's
 * arguments) in t and the commit; otherwise, or when the audit fails, the abort. t is gone
 * after it. Returns 0 or the error (detail in err). */
int srv_audit_commit(struct srv_req *r, struct idx_txn *t, int rc, const char *action,
                     const char *target, const char *case_id, const char *detail,
                     struct cv_err *err);
/* The end of looking up the record the path names (r->params[0]) for this caller: rc is the
 * lookup's result, visible whether the caller may see what it found (read only when rc is 0).
 * A record the caller may not see is answered as one that does not exist, 404 "unknown <what>
 * '<id>'", so that the answer does not tell it exists. 0, or it has answered (srv_fail) and
 * returns -1. */
int srv_path_record(struct srv_req *r, int rc, bool visible, const char *what,
                    struct cv_err *err);
/* A handler's whole read of the record its path names: in a read transaction of its own,
 * load(r, t, rec) (the handler's lookup, which ends with srv_path_record: 0, or answered and
 * -1); the transaction has ended when it returns. 0 with rec filled, or answered and -1. */
int srv_read_path_record(struct srv_req *r,
                         int (*load)(struct srv_req *r, struct idx_txn *t, void *rec), void *rec);
/* An answer `{"key":OBJECT}` or, with list, `{"key":[OBJECT,...]}`: srv_reply_open sets the
 * status and writes the opening, srv_reply_sep the comma before item i (i > 0), and
 * srv_reply_close the end and a newline; it returns 0, a handler's return value. */
void srv_reply_open(struct srv_req *r, int status, const char *key, bool list);
void srv_reply_sep(struct srv_req *r, size_t i);
int srv_reply_close(struct srv_req *r, bool list);
/*
 * A GET list handler's whole answer (reply.c): in a read transaction, list() fills *out (a
 * T ** passed as void *) with n items of size bytes each; the answer is {"key":[...]} with
 * json() for each item keep() lets through (keep NULL: all), at most limit of them (0: no
 * limit), status 200. keep and json run inside the transaction and get ctx. A failing list is
 * answered with srv_fail. Returns 0, a handler's return value; the items are freed.
 */
struct srv_list {
    const char *key;
    size_t size;
    size_t limit;
    void *ctx;
    int (*list)(struct idx_txn *t, void *out, size_t *n, struct cv_err *err);
    bool (*keep)(struct srv_req *r, struct idx_txn *t, const void *item, void *ctx);
    void (*json)(struct srv_req *r, struct idx_txn *t, const void *item, void *ctx);
};
int srv_reply_list(struct srv_req *r, const struct srv_list *l);
/*
 * The members of a struct srv_list made from a kind's typed functions, as static functions
 * called name (one definition of each adapter instead of one per handler file):
 *   SRV_LIST_OF(name, fn)   a list for fn: int fn(struct idx_txn *, T **, size_t *, struct cv_err *);
 *   SRV_LIST_KEEP(name, fn) a keep for fn: bool fn(struct srv_req *, struct idx_txn *, const T *);
 *   SRV_LIST_JSON(name, fn) a json for fn: void fn(struct cv_buf *, const T *), into r->out.
 */
#define SRV_LIST_OF(name, fn)                                                                   \
    static int name(struct idx_txn *t, void *out, size_t *n, struct cv_err *err)                 \
    {                                                                                            \
        return fn(t, out, n, err);                                                               \
    }
#define SRV_LIST_KEEP(name, fn)                                                                 \
    static bool name(struct srv_req *r, struct idx_txn *t, const void *item, void *ctx)          \
    {                                                                                            \
        (void)ctx;                                                                               \
        return fn(r, t, item);                                                                   \
    }
#define SRV_LIST_JSON(name, fn)                                                                 \
    static void name(struct srv_req *r, struct idx_txn *t, const void *item, void *ctx)          \
    {                                                                                            \
        (void)t, (void)ctx;                                                                      \
        fn(&r->out, item);                                                                       \
    }
/*
 * A whole GET list handler `name` (int name(struct srv_req *)) for the kinds that belong to an
 * area: {"key":[...]} of the items of list() (T: int list(struct idx_txn *, T **, size_t *,
 * struct cv_err *)) whose string member `area` is in the caller's scope (srv_scope_area), each
 * written by json() (void json(struct cv_buf *, const T *)).
 */
#define SRV_API_LIST_IN_AREA(name, key, T, list, json, area)                                     \
    SRV_LIST_OF(name##_of, list)                                                                 \
    static bool name##_keep(struct srv_req *r, struct idx_txn *t, const void *item, void *ctx)   \
    {                                                                                            \
        (void)ctx;                                                                               \
        return srv_scope_area(r, t, ((const T *)item)->area);                                    \
    }                                                                                            \
    SRV_LIST_JSON(name##_json, json)                                                             \
    int name(struct srv_req *r)                                                                  \
    {                                                                                            \
        const struct srv_list l = {key, sizeof(T), 0, NULL, name##_of, name##_keep, name##_json}; \
        return srv_reply_list(r, &l);                                                            \
    }
/*
 * Answer with a body that read() produces (libmicrohttpd's content reader: size bytes, or
 * UINT64_MAX when unknown, asked for in blocks of `block`): status, Content-Type ctype and
 * Cache-Control no-store; more headers with srv_header. The response owns arg from the call on:
 * it calls free_arg(arg) when it ends, and when it cannot be made free_arg runs at once and
 * the answer is 500 with `fail` ("cannot start the live response"). Returns 0, a handler's
 * return value.
 */
int srv_reply_stream(struct srv_req *r, int status, uint64_t size, size_t block,
                     ssize_t (*read)(void *arg, uint64_t pos, char *buf, size_t max), void *arg,
                     void (*free_arg)(void *arg), const char *ctype, const char *fail);
/* USER object of docs/api.md. */
void srv_user_json(struct cv_buf *b, const struct srv_user *u);

/* ---- handlers (one group per api_*.c file) ---- */
/* api_session.c */
srv_api_fn api_login, api_logout, api_me, api_me_password;
/* api_users.c */
srv_api_fn api_users_list, api_users_add, api_users_get, api_users_edit;
/* api_cameras.c */
srv_api_fn api_cameras_list, api_cameras_get, api_cameras_add, api_cameras_edit, api_timeline;
/* api_holds.c */
srv_api_fn api_holds_list, api_holds_get, api_holds_add, api_holds_release;
/* api_admin.c */
srv_api_fn api_retention, api_volumes_list, api_volumes_add, api_volumes_edit, api_audit_list,
    api_audit_verify;
/* api_areas.c, api_online.c */
srv_api_fn api_areas_list, api_reports_online;
/* api_health.c */
srv_api_fn api_healthz, api_metrics;

#endif
