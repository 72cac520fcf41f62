/*
 * views.c: the CAMERA and HOLD JSON objects of the API and the command line (views.h).
 */
#include <string.h>

#include "common/cvtime.h"
#include "common/url.h"
#include "server/views.h"
#include "common/banned.h"

/* "video_codec": the codec name of the camera's video as last recorded ("h264", "hevc"), or
 * null: the UI asks the browser whether it plays it, else uses the H.264 rendition. */
static void video_codec_json(struct cv_buf *b, const char *status_codec)
{
    size_t n = strcspn(status_codec, " ;");
    char name[24];

    cv_buf_printf(b, ",\"video_codec\":");
    if (n == 0 || n >= sizeof(name)) {
        cv_buf_printf(b, "null");
        return;
    }
    memcpy(name, status_codec, n);
    name[n] = 0;
    cv_json_str(b, name);
}

const char *srv_camera_picture(const struct idx_status *st, int64_t *since_us)
{
    bool known = st && st->online && st->picture[0];

    *since_us = known ? st->picture_since_us : st && !st->online ? st->since_us : 0;
    return known ? st->picture : "unknown";
}

bool srv_camera_picture_bad(const struct idx_status *st)
{
    int64_t since;
    const char *p = srv_camera_picture(st, &since);

    return strcmp(p, "black") == 0 || strcmp(p, "frozen") == 0;
}

/* "picture" and "picture_since": unknown while the camera is not recording. */
static void picture_json(struct cv_buf *b, const struct idx_status *st)
{
    int64_t since;

    cv_json_add_str(b, "picture", srv_camera_picture(st, &since), false);
    cv_json_add_time(b, "picture_since", since);
}

void srv_camera_json(struct cv_buf *b, const struct idx_camera *c, const struct idx_status *st,
                     enum srv_role role)
{
    char url[IDX_URL_MAX];

    cv_json_open_id(b, c->id);
    cv_json_add_str(b, "name", c->name, false);
    cv_json_add_str(b, "location", c->location, false);
    cv_buf_printf(b, ",\"public\":%s", c->is_public ? "true" : "false");
    cv_json_add_str(b, "area", c->area, true); /* issue 13: null when in no area */
    video_codec_json(b, st ? st->codec : "");
    if (role == SRV_ROLE_RESIDENT) {
        cv_buf_printf(b, ",\"online\":%s}", st && st->online && c->enabled ? "true" : "false");
        return;
    }
    cv_buf_printf(b, ",\"enabled\":%s,\"retention_days\":%.6g", c->enabled ? "true" : "false",
                  c->retention_days);
    cv_json_add_str(b, "volume", c->volume, false);
    cv_json_add_str(b, "transport", c->transport == IDX_TRANSPORT_UDP ? "udp" : "tcp", false);
    if (role == SRV_ROLE_ADMIN) {
        cv_url_redact(c->url, url, sizeof(url)); /* never show camera passwords */
        cv_json_add_str(b, "url", url, false);
    }
    cv_json_add_str(b, "gb_id", c->gb_id, true); /* GB/T 28181 channel ID, null: none */
    cv_buf_printf(b, ",\"status\":");
    if (!st) {
        cv_buf_printf(b, "null");
        picture_json(b, st);
        cv_buf_u8(b, '}');
        return;
    }
    cv_buf_printf(b, "{\"online\":%s", st->online ? "true" : "false");
    cv_json_add_str(b, "reason", st->reason, false);
    cv_json_add_time(b, "since", st->since_us);
    cv_json_add_time(b, "last_frame", st->last_frame_us);
    cv_buf_printf(b, ",\"bitrate_bps\":%llu,\"frames\":%llu,\"segments\":%llu,\"reconnects\":%llu",
                  (unsigned long long)st->bitrate_bps, (unsigned long long)st->frames,
                  (unsigned long long)st->segments, (unsigned long long)st->reconnects);
    cv_json_add_time(b, "updated", st->updated_us);
    cv_json_add_str(b, "codec", st->codec, false);
    cv_json_add_str(b, "transport", st->transport, true); /* as recorded: "tcp", "udp" */
    cv_buf_printf(b, ",\"timestamps_repaired\":%llu,\"frames_dropped\":%llu}",
                  (unsigned long long)st->ts_repaired, (unsigned long long)st->frames_dropped);
    picture_json(b, st);
    cv_buf_u8(b, '}');
}

bool srv_hold_active(const struct idx_hold *h)
{
    return idx_hold_covers(h, h->ncameras ? h->cameras[0] : "", h->from_us, h->to_us,
                           cv_now_us());
}

void srv_hold_json(struct cv_buf *b, const struct idx_hold *h)
{
    cv_buf_printf(b, "{\"id\":%llu", (unsigned long long)h->id);
    cv_json_add_str(b, "case", h->case_id, false);
    cv_json_add_strv(b, "cameras", h->cameras[0], sizeof(h->cameras[0]), h->ncameras);
    cv_json_add_time(b, "from", h->from_us);
    cv_json_add_time(b, "to", h->to_us);
    cv_json_add_time(b, "until", h->until_us);
    cv_json_add_str(b, "by", h->who, false);
    cv_json_add_str(b, "reason", h->why, false);
    cv_json_add_time(b, "created", h->created_us);
    cv_json_add_time(b, "released", h->released_us);
    cv_json_add_str(b, "released_by", h->released_us ? h->released_by : NULL, false);
    cv_buf_printf(b, ",\"active\":%s}", srv_hold_active(h) ? "true" : "false");
}
