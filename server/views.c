/*
 * views.c: the CAMERA and HOLD JSON objects of the API and the command line (views.h).
 */
#include "common/cvtime.h"
#include "common/url.h"
#include "server/views.h"
#include "common/banned.h"

void srv_camera_json(struct cv_buf *b, const struct idx_camera *c, const struct idx_status *st,
                     enum srv_role role)
{
    char url[IDX_URL_MAX];

    cv_buf_printf(b, "{\"id\":");
    cv_json_str(b, c->id);
    cv_buf_printf(b, ",\"name\":");
    cv_json_str(b, c->name);
    cv_buf_printf(b, ",\"location\":");
    cv_json_str(b, c->location);
    cv_buf_printf(b, ",\"public\":%s", c->is_public ? "true" : "false");
    if (role == SRV_ROLE_RESIDENT) {
        cv_buf_printf(b, ",\"online\":%s}", st && st->online && c->enabled ? "true" : "false");
        return;
    }
    cv_buf_printf(b, ",\"enabled\":%s,\"retention_days\":%.6g,\"volume\":",
                  c->enabled ? "true" : "false", c->retention_days);
    cv_json_str(b, c->volume);
    cv_buf_printf(b, ",\"transport\":\"%s\"", c->transport == IDX_TRANSPORT_UDP ? "udp" : "tcp");
    if (role == SRV_ROLE_ADMIN) {
        cv_url_redact(c->url, url, sizeof(url)); /* never show camera passwords */
        cv_buf_printf(b, ",\"url\":");
        cv_json_str(b, url);
    }
    cv_buf_printf(b, ",\"status\":");
    if (!st) {
        cv_buf_printf(b, "null}");
        return;
    }
    cv_buf_printf(b, "{\"online\":%s,\"reason\":", st->online ? "true" : "false");
    cv_json_str(b, st->reason);
    cv_buf_u8(b, ',');
    cv_json_time_or_null(b, "since", st->since_us);
    cv_buf_u8(b, ',');
    cv_json_time_or_null(b, "last_frame", st->last_frame_us);
    cv_buf_printf(b, ",\"bitrate_bps\":%llu,\"frames\":%llu,\"segments\":%llu,\"reconnects\":%llu,",
                  (unsigned long long)st->bitrate_bps, (unsigned long long)st->frames,
                  (unsigned long long)st->segments, (unsigned long long)st->reconnects);
    cv_json_time_or_null(b, "updated", st->updated_us);
    cv_buf_printf(b, ",\"codec\":");
    cv_json_str(b, st->codec);
    cv_buf_printf(b, "}}");
}

bool srv_hold_active(const struct idx_hold *h)
{
    return idx_hold_covers(h, h->ncameras ? h->cameras[0] : "", h->from_us, h->to_us,
                           cv_now_us());
}

void srv_hold_json(struct cv_buf *b, const struct idx_hold *h)
{
    cv_buf_printf(b, "{\"id\":%llu,\"case\":", (unsigned long long)h->id);
    cv_json_str(b, h->case_id);
    cv_buf_printf(b, ",\"cameras\":[");
    for (uint32_t i = 0; i < h->ncameras; i++) {
        if (i)
            cv_buf_u8(b, ',');
        cv_json_str(b, h->cameras[i]);
    }
    cv_buf_printf(b, "],");
    cv_json_time_or_null(b, "from", h->from_us);
    cv_buf_u8(b, ',');
    cv_json_time_or_null(b, "to", h->to_us);
    cv_buf_u8(b, ',');
    cv_json_time_or_null(b, "until", h->until_us);
    cv_buf_printf(b, ",\"by\":");
    cv_json_str(b, h->who);
    cv_buf_printf(b, ",\"reason\":");
    cv_json_str(b, h->why);
    cv_buf_u8(b, ',');
    cv_json_time_or_null(b, "created", h->created_us);
    cv_buf_u8(b, ',');
    cv_json_time_or_null(b, "released", h->released_us);
    cv_buf_printf(b, ",\"released_by\":");
    cv_json_str(b, h->released_us ? h->released_by : NULL);
    cv_buf_printf(b, ",\"active\":%s}", srv_hold_active(h) ? "true" : "false");
}
