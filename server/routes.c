/*
 * routes.c: the route table of camvault's HTTP API: every endpoint of docs/api.md that this
 * build has, with the roles allowed. http.c enforces authentication, roles and CSRF from this
 * table before any handler runs, so a handler never checks the role it was declared for.
 * Order matters only for the Allow header; patterns never overlap.
 */
#include <stddef.h>

#include "server/alerts_int.h"
#include "server/srv_int.h"
#include "server/workflow_int.h"
#include "common/banned.h"

#define A SRV_ROLE_ADMIN
#define O SRV_ROLE_OFFICER
#define M SRV_ROLE_MEDIATOR
#define R SRV_ROLE_RESIDENT

const struct srv_route srv_routes[] = {
    /* session */
    {"POST", "/api/v1/login", 0, SRV_PUBLIC, api_login},
    {"POST", "/api/v1/logout", A | O | M | R, 0, api_logout},
    {"GET", "/api/v1/me", A | O | M | R, 0, api_me},
    {"POST", "/api/v1/me/password", A | O | M | R, 0, api_me_password},
    /* users */
    {"GET", "/api/v1/users", A, 0, api_users_list},
    {"POST", "/api/v1/users", A, 0, api_users_add},
    {"GET", "/api/v1/users/{}", A, 0, api_users_get},
    {"PATCH", "/api/v1/users/{}", A, 0, api_users_edit},
    /* cameras */
    {"GET", "/api/v1/cameras", A | O | M | R, 0, api_cameras_list},
    {"POST", "/api/v1/cameras", A, 0, api_cameras_add},
    {"GET", "/api/v1/cameras/{}", A | O | M | R, 0, api_cameras_get},
    {"PATCH", "/api/v1/cameras/{}", A, 0, api_cameras_edit},
    {"GET", "/api/v1/cameras/{}/timeline", A | O | M, 0, api_timeline},
    /* playback (api_playback.c) */
    {"GET", "/api/v1/cameras/{}/video.mp4", O | M, 0, api_video},
    {"GET", "/api/v1/cameras/{}/live.mp4", A | O | M | R, 0, api_live},
    {"GET", "/api/v1/cameras/{}/live.m3u8", A | O | M | R, 0, api_live_hls},
    {"GET", "/api/v1/cameras/{}/live-init.mp4", A | O | M | R, 0, api_live_hls_init},
    {"GET", "/api/v1/cameras/{}/live-frag.m4s", A | O | M | R, 0, api_live_hls_frag},
    {"GET", "/api/v1/cameras/{}/snapshot.jpg", O | M, 0, api_snapshot},
    /* areas (api_areas.c) */
    {"GET", "/api/v1/areas", A | O | M | R, 0, api_areas_list},
    {"GET", "/api/v1/reports/online", A | O, 0, api_reports_online},
    /* holds */
    {"GET", "/api/v1/holds", A | O, 0, api_holds_list},
    {"POST", "/api/v1/holds", O, 0, api_holds_add},
    {"GET", "/api/v1/holds/{}", A | O, 0, api_holds_get},
    {"POST", "/api/v1/holds/{}/release", O, 0, api_holds_release},
    /* retention, volumes, audit */
    {"GET", "/api/v1/retention", A, 0, api_retention},
    {"GET", "/api/v1/volumes", A, 0, api_volumes_list},
    {"POST", "/api/v1/volumes", A, 0, api_volumes_add},
    {"PATCH", "/api/v1/volumes/{}", A, 0, api_volumes_edit},
    {"GET", "/api/v1/audit", A, 0, api_audit_list},
    {"GET", "/api/v1/audit/verify", A, 0, api_audit_verify},
    /* footage requests (api_requests.c) */
    {"POST", "/api/v1/requests", R, 0, api_requests_add},
    {"GET", "/api/v1/requests", O | R, 0, api_requests_list},
    {"GET", "/api/v1/requests/{}", O | R, 0, api_requests_get},
    {"POST", "/api/v1/requests/{}/approve", O, 0, api_requests_approve},
    {"POST", "/api/v1/requests/{}/reject", O, 0, api_requests_reject},
    /* residents' reports (api_reports.c); a fixed path under /reports/ goes before {} */
    {"POST", "/api/v1/reports", R, SRV_LONG_STRINGS, api_reports_add},
    {"GET", "/api/v1/reports", A | O | R, 0, api_reports_list},
    {"GET", "/api/v1/reports/{}", A | O | R, 0, api_reports_get},
    {"PATCH", "/api/v1/reports/{}", A | O, 0, api_reports_edit},
    {"GET", "/api/v1/reports/{}/photo", A | O | R, 0, api_reports_photo},
    /* the duty room's alerts (api_alerts.c) */
    {"GET", "/api/v1/alerts", A | O, 0, api_alerts_list},
    {"GET", "/api/v1/alerts/stream", A | O, 0, api_alerts_stream},
    {"POST", "/api/v1/alerts/{}/ack", A | O, 0, api_alerts_ack},
    /* cases (api_cases.c) */
    {"GET", "/api/v1/cases", O | M, 0, api_cases_list},
    {"POST", "/api/v1/cases", O, 0, api_cases_add},
    {"GET", "/api/v1/cases/{}", O | M, 0, api_cases_get},
    {"PATCH", "/api/v1/cases/{}", O, 0, api_cases_edit},
    {"POST", "/api/v1/cases/{}/members", O, 0, api_cases_member_add},
    {"DELETE", "/api/v1/cases/{}/members/{}", O, 0, api_cases_member_del},
    {"POST", "/api/v1/cases/{}/clips", O, 0, api_cases_clip_add},
    {"DELETE", "/api/v1/cases/{}/clips/{}", O, 0, api_cases_clip_del},
    {"GET", "/api/v1/cases/{}/custody", O | M, 0, api_cases_custody},
    /* export jobs (api_exports.c) */
    {"GET", "/api/v1/exports", O | M | R, 0, api_exports_list},
    {"POST", "/api/v1/exports", O | M, 0, api_exports_add},
    {"GET", "/api/v1/exports/{}", O | M | R, 0, api_exports_get},
    {"POST", "/api/v1/exports/{}/cancel", O | M, 0, api_exports_cancel},
    {"GET", "/api/v1/exports/{}/download", O | M | R, 0, api_exports_download},
    /* outside /api/v1 */
    {"GET", "/healthz", 0, SRV_PUBLIC, api_healthz},
    {"GET", "/metrics", 0, SRV_PUBLIC, api_metrics},
};
const size_t srv_nroutes = sizeof(srv_routes) / sizeof(srv_routes[0]);
