/*
 * cli/camera.c: camvault camera add|list|show|enable|disable|edit.
 * Contracts in cli/cli.h.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "common/url.h"

#include "cli/cli.h"
#include "gb/gb.h"
#include "server/areas.h"
#include "server/views.h"
#include "common/banned.h"

/* ---- camera ---- */

static void status_words(const struct idx_status *st, bool have, char *out, size_t n)
{
    if (!have)
        snprintf(out, n, "never recorded");
    else if (st->online) { /* with its warning (clock, space, ...) and a bad picture */
        int64_t since;
        bool bad = srv_camera_picture_bad(st);
        snprintf(out, n, "online%s%s%s%s", st->reason[0] ? "; " : "", st->reason,
                 bad ? "; picture " : "", bad ? srv_camera_picture(st, &since) : "");
    } else
        snprintf(out, n, "offline: %s", st->reason);
}

/* --gb-device ID with --gb-password-stdin: the camera URL naming the device (gb.h) into url.
 * A usage error (printed) is EXIT_USAGE. */
static int gb_device_source(const char *cmd, const char *dev, const char *old_url, char *url,
                            size_t n)
{
    char pw[256], olddev[GB_ID_LEN + 1];
    size_t l;
    int rc;

    if (!dev && !gb_device_of(old_url, olddev, NULL, 0))
        return cli_usage_error(cmd, "--gb-password-stdin needs --gb-device: the camera is not a "
                               "GB/T 28181 device's");
    if (dev && !gb_digits(dev, GB_ID_LEN))
        return cli_usage_error(cmd, "bad --gb-device '%.40s': expected a 20-digit GB/T 28181 "
                               "device ID", dev);
    if (!fgets(pw, (int)sizeof(pw), stdin))
        return cli_usage_error(cmd, "--gb-password-stdin: no password on standard input");
    l = strcspn(pw, "\r\n");
    pw[l] = 0;
    if (l == 0 || l >= sizeof(pw) - 2)
        return explicit_bzero(pw, sizeof(pw)),
               cli_usage_error(cmd, "--gb-password-stdin: the device password must be 1-250 "
                               "bytes on one line");
    rc = gb_device_url(dev ? dev : olddev, pw, url, n);
    explicit_bzero(pw, sizeof(pw));
    return rc < 0 ? cli_usage_error(cmd, "--gb-password-stdin: the password is too long") : 0;
}

static int camera_add_txn(struct idx_txn *t, void *ctx, struct cv_err *err)
{
    struct idx_camera *c = ctx;
    struct idx_volume v;
    int rc = idx_volume_get(t, c->volume, &v, err); /* a camera goes on a known volume */

    if (rc == 0)
        rc = srv_area_check(t, c->area, true, err);
    if (rc == 0)
        rc = idx_camera_add(t, c, err);
    return rc < 0 ? rc : cli_audit(t, "camera-add", c->id, NULL, c->enabled ? "" : "disabled", err);
}

static int camera_add(struct cli_cmdline *cl, int argc, char **argv)
{
    const char *url = NULL, *name = "", *loc = "", *ret = NULL, *transport = "tcp", *vol = NULL,
               *gbid = NULL, *gbdev = NULL;
    const char *area = "";
    bool pub = false, disabled = false, gbpass = false;
    const struct cli_opt opts[] = {
        {"--url", true, &url, NULL},      {"--name", true, &name, NULL},
        {"--location", true, &loc, NULL}, {"--retention-days", true, &ret, NULL},
        {"--public", false, NULL, &pub},  {"--transport", true, &transport, NULL},
        {"--volume", true, &vol, NULL},   {"--disabled", false, NULL, &disabled},
        {"--area", true, &area, NULL},    {"--gb-id", true, &gbid, NULL},
        {"--gb-device", true, &gbdev, NULL}, {"--gb-password-stdin", false, NULL, &gbpass},
        {NULL, false, NULL, NULL},
    };
    char gburl[IDX_URL_MAX];
    struct idx_camera c;
    struct cv_err err = {""};
    double days = 30;

    if (cli_parse_one(cl, argc, argv, opts, false,
                      "expected one camera id: camera add ID --url URL"))
        return EXIT_USAGE;
    if (lay_id_check("camera", cl->pos[0], &err) < 0)
        return cli_usage_error(cl->cmd, "%s", err.msg);
    if (gbdev && url)
        return cli_usage_error(cl->cmd, "--url and --gb-device contradict each other");
    if (gbdev && !gbpass)
        return cli_usage_error(cl->cmd, "--gb-device needs --gb-password-stdin (the device's "
                               "password on standard input)");
    if (gbdev && gb_device_source(cl->cmd, gbdev, "", gburl, sizeof(gburl)))
        return EXIT_USAGE;
    if (!url && !gbdev)
        return cli_usage_error(cl->cmd, "missing --url (rtsp://host[:port]/path) or --gb-device");
    if (url && cli_bad_url(cl->cmd, url))
        return EXIT_USAGE;
    if (gbdev)
        url = gburl;
    if (strlen(url) >= IDX_URL_MAX || strlen(name) >= IDX_TEXT_MAX || strlen(loc) >= IDX_TEXT_MAX)
        return cli_usage_error(cl->cmd, "--url, --name or --location is too long");
    if (ret && cv_parse_double(ret, 1e-6, 36500, &days) < 0)
        return cli_usage_error(cl->cmd, "bad --retention-days '%s': expected a positive number",
                               ret);
    if (strcmp(transport, "tcp") != 0 && strcmp(transport, "udp") != 0)
        return cli_usage_error(cl->cmd, "bad --transport '%s': expected tcp or udp", transport);
    if (vol && lay_id_check("volume", vol, &err) < 0)
        return cli_usage_error(cl->cmd, "%s", err.msg);
    if (*area && lay_id_check("area", area, &err) < 0)
        return cli_usage_error(cl->cmd, "%s", err.msg);
    if (gbid && !gb_digits(gbid, GB_ID_LEN))
        return cli_usage_error(cl->cmd, "bad --gb-id '%.40s': expected a 20-digit GB/T 28181 "
                               "channel ID", gbid);
    memset(&c, 0, sizeof(c));
    cv_strlcpy(c.area, area, sizeof(c.area));
    if (gbid)
        cv_strlcpy(c.gb_id, gbid, sizeof(c.gb_id));
    cv_strlcpy(c.id, cl->pos[0], sizeof(c.id));
    cv_strlcpy(c.url, url, sizeof(c.url));
    cv_strlcpy(c.name, name, sizeof(c.name));
    cv_strlcpy(c.location, loc, sizeof(c.location));
    cv_strlcpy(c.volume, vol ? vol : LAY_DEFAULT_VOLUME, sizeof(c.volume));
    c.enabled = !disabled;
    c.is_public = pub;
    c.transport = strcmp(transport, "udp") == 0 ? IDX_TRANSPORT_UDP : IDX_TRANSPORT_TCP;
    c.retention_days = days;
    c.created_us = cv_now_us();
    if (cli_with_index(cl, camera_add_txn, &c, &err) < 0)
        return cli_fail(&err);
    printf("added camera %s\n", c.id);
    return 0;
}

static int camera_list_or_show(struct cli_cmdline *cl, int argc, char **argv, bool show)
{
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct idx_camera *cams = NULL, one;
    size_t n = 0;
    char root[PATH_MAX];
    struct cv_buf out;
    const char *area = NULL;
    const struct cli_opt opts[] = {{"--area", true, &area, NULL}, {NULL, false, NULL, NULL}};
    struct gb_config gbc;
    char gbdev[GB_ID_LEN + 1];
    bool derived = false;
    int rc;

    if (cli_parse(cl, argc, argv, show ? NULL : opts, show ? 1 : 0, true))
        return EXIT_USAGE;
    if (show && cl->npos != 1)
        return cli_usage_error(cl->cmd, "expected one camera id");
    rc = cli_read_begin(cl, root, &idx, &t, &err);
    if (rc == 0) {
        if (show) {
            rc = idx_camera_get(t, cl->pos[0], &one, &err);
            cams = &one;
            n = 1;
        } else {
            rc = idx_camera_list(t, &cams, &n, &err);
        }
    }
    if (rc == 0 && area)
        rc = srv_area_check(t, area, false, &err);
    if (rc < 0) {
        cli_close_index(idx, t);
        return cli_fail(&err);
    }
    /* `show` gives the channel ID the GB/T 28181 agent uses (derived when not set); JSON the
     * set one (null when derived), the same as the API's camera object */
    if (show && !cl->json && cli_gb_config(root, &gbc, NULL) == 0 && gbc.id[0]) {
        derived = !cams[0].gb_id[0];
        gb_channel_id(&gbc, &cams[0], cams[0].gb_id);
    }
    cv_buf_init(&out, 64u << 20);
    if (cl->json && !show)
        cv_buf_u8(&out, '[');
    if (!cl->json && !show)
        cv_buf_printf(&out, "%-20s %-8s %-24s %-24s %s\n", "ID", "ENABLED", "LAST FRAME (UTC)",
                      "STATUS", "NAME");
    for (size_t i = 0, shown = 0; i < n; i++) {
        struct idx_status st;
        bool have = idx_status_get(t, cams[i].num, &st, NULL) == 0;
        char words[IDX_TEXT_MAX + 16], lf[48] = "-";
        if (area && !srv_area_within(t, cams[i].area, area))
            continue; /* --area: the cameras of that area and the areas under it */
        if (have && st.last_frame_us > 0)
            cv_time_format_utc(st.last_frame_us, lf, sizeof(lf), 0);
        status_words(&st, have, words, sizeof(words));
        if (cl->json) {
            if (shown++)
                cv_buf_u8(&out, ',');
            srv_camera_json(&out, &cams[i], have ? &st : NULL, SRV_ROLE_ADMIN);
        } else if (show) {
            cv_buf_printf(&out,
                          "id:             %s\nname:           %s\nlocation:       %s\n"
                          "enabled:        %s\npublic:         %s\ntransport:      %s\n"
                          "retention days: %g\nvolume:         %s\nstatus:         %s\n"
                          "last frame:     %s\narea:           %s\n",
                          cams[i].id, cams[i].name, cams[i].location,
                          cams[i].enabled ? "yes" : "no", cams[i].is_public ? "yes" : "no",
                          cams[i].transport == IDX_TRANSPORT_UDP ? "udp" : "tcp",
                          cams[i].retention_days, cams[i].volume, words, lf,
                          cams[i].area[0] ? cams[i].area : "-");
            if (cams[i].gb_id[0])
                cv_buf_printf(&out, "gb id:          %s%s\n", cams[i].gb_id,
                              derived ? " (derived from gb_id)" : "");
            if (gb_device_of(cams[i].url, gbdev, NULL, 0)) /* registered: it streams */
                cv_buf_printf(&out, "gb device:      %s (%s%s)\n", gbdev,
                              have && st.online ? "registered, streaming" : "not streaming: ",
                              have && st.online ? "" : have ? st.reason : "never registered");
            if (have)
                cv_buf_printf(&out,
                              "codec:          %s\nbitrate:        %.2f Mbit/s\n"
                              "frames:         %llu\nsegments:       %llu\nreconnects:     %llu\n",
                              st.codec, (double)st.bitrate_bps / 1e6,
                              (unsigned long long)st.frames, (unsigned long long)st.segments,
                              (unsigned long long)st.reconnects);
        } else {
            cv_buf_printf(&out, "%-20s %-8s %-24s %-24.60s %s\n", cams[i].id,
                          cams[i].enabled ? "yes" : "no", lf, words, cams[i].name);
        }
    }
    if (cl->json && !show)
        cv_buf_u8(&out, ']');
    if (cl->json)
        cv_buf_u8(&out, '\n');
    cli_close_index(idx, t);
    if (!show)
        free(cams);
    return cli_write_out(&out, "camera list: output too large");
}

int cli_camera_change_txn(struct idx_txn *t, void *ctx, struct cv_err *err)
{
    struct cli_camera_change *ch = ctx;
    struct idx_volume v;
    int rc = idx_camera_get(t, ch->id, &ch->result, err);

    if (rc == 0 && ch->volume)
        rc = idx_volume_get(t, ch->volume, &v, err);
    if (rc == 0 && ch->area)
        rc = srv_area_check(t, ch->area, true, err);
    if (rc < 0)
        return rc;
    ch->apply(&ch->result, ch->arg);
    rc = idx_camera_update(t, &ch->result, err);
    return rc < 0 ? rc : cli_audit(t, ch->action, ch->result.id, NULL, ch->detail, err);
}

static void set_enabled(struct idx_camera *c, const void *arg)
{
    c->enabled = *(const bool *)arg;
}

static int camera_enable(struct cli_cmdline *cl, int argc, char **argv, bool enable)
{
    struct cli_camera_change ch = {.apply = set_enabled,
                                   .arg = &enable,
                                   .action = enable ? "camera-enable" : "camera-disable"};
    struct cv_err err = {""};

    if (cli_parse_one(cl, argc, argv, NULL, false, "expected one camera id"))
        return EXIT_USAGE;
    ch.id = cl->pos[0];
    if (cli_with_index(cl, cli_camera_change_txn, &ch, &err) < 0)
        return cli_fail(&err);
    printf("camera %s %s\n", ch.result.id, enable ? "enabled" : "disabled");
    return 0;
}

/* The edits `camera edit` asked for; NULL fields stay as they are. */
struct camera_edits {
    const char *url, *name, *loc, *transport, *vol, *area;
    bool pub, priv;
    const char *gbid;
    const char *gburl; /* --gb-device/--gb-password-stdin: the new URL */
};

static void apply_edits(struct idx_camera *c, const void *arg)
{
    const struct camera_edits *e = arg;

    if (e->url)
        cv_strlcpy(c->url, e->url, sizeof(c->url));
    if (e->name)
        cv_strlcpy(c->name, e->name, sizeof(c->name));
    if (e->loc)
        cv_strlcpy(c->location, e->loc, sizeof(c->location));
    if (e->transport)
        c->transport = strcmp(e->transport, "udp") == 0 ? IDX_TRANSPORT_UDP : IDX_TRANSPORT_TCP;
    if (e->vol)
        cv_strlcpy(c->volume, e->vol, sizeof(c->volume));
    if (e->pub || e->priv)
        c->is_public = e->pub;
    if (e->area)
        cv_strlcpy(c->area, e->area, sizeof(c->area));
    if (e->gbid)
        cv_strlcpy(c->gb_id, e->gbid, sizeof(c->gb_id));
    if (e->gburl)
        cv_strlcpy(c->url, e->gburl, sizeof(c->url));
}

/* The camera's current URL (for --gb-password-stdin without --gb-device), "" when unknown. */
static int current_url(struct idx_txn *t, void *ctx, struct cv_err *err)
{
    struct idx_camera *c = ctx;

    return idx_camera_get(t, c->id, c, err);
}

static int camera_edit(struct cli_cmdline *cl, int argc, char **argv)
{
    const char *url = NULL, *name = NULL, *loc = NULL, *transport = NULL, *vol = NULL,
               *gbid = NULL;
    const char *area = NULL, *gbdev = NULL;
    bool pub = false, priv = false, gbpass = false;
    const struct cli_opt opts[] = {
        {"--url", true, &url, NULL},       {"--name", true, &name, NULL},
        {"--location", true, &loc, NULL},  {"--transport", true, &transport, NULL},
        {"--volume", true, &vol, NULL},    {"--public", false, NULL, &pub},
        {"--private", false, NULL, &priv}, {"--area", true, &area, NULL},
        {"--gb-id", true, &gbid, NULL},
        {"--gb-device", true, &gbdev, NULL}, {"--gb-password-stdin", false, NULL, &gbpass},
        {NULL, false, NULL, NULL},
    };
    char gburl[IDX_URL_MAX];
    struct idx_camera cur;
    struct camera_edits ed;
    struct cli_camera_change ch = {.apply = apply_edits, .arg = &ed, .action = "camera-edit"};
    struct cv_err err = {""};

    if (cli_parse_one(cl, argc, argv, opts, false, "expected one camera id"))
        return EXIT_USAGE;
    ed = (struct camera_edits){url, name, loc, transport, vol, area, pub, priv, gbid, NULL};
    if (gbdev && !gbpass)
        return cli_usage_error(cl->cmd, "--gb-device needs --gb-password-stdin");
    if (gbpass && url)
        return cli_usage_error(cl->cmd, "--url and --gb-password-stdin contradict each other");
    if (gbpass) {
        memset(&cur, 0, sizeof(cur));
        cv_strlcpy(cur.id, cl->pos[0], sizeof(cur.id));
        if (!gbdev && cli_with_index(cl, current_url, &cur, &err) < 0)
            return cli_fail(&err);
        if (gb_device_source(cl->cmd, gbdev, cur.url, gburl, sizeof(gburl)))
            return EXIT_USAGE;
        explicit_bzero(&cur, sizeof(cur));
        ed.gburl = gburl;
    }
    if (area && *area && lay_id_check("area", area, &err) < 0)
        return cli_usage_error(cl->cmd, "%s", err.msg);
    if (gbid && !gb_digits(gbid, GB_ID_LEN))
        return cli_usage_error(cl->cmd, "bad --gb-id '%.40s': expected a 20-digit GB/T 28181 "
                               "channel ID", gbid);
    if (url && cli_bad_url(cl->cmd, url))
        return EXIT_USAGE;
    if (transport && strcmp(transport, "tcp") != 0 && strcmp(transport, "udp") != 0)
        return cli_usage_error(cl->cmd, "bad --transport '%s': expected tcp or udp", transport);
    if (vol && lay_id_check("volume", vol, &err) < 0)
        return cli_usage_error(cl->cmd, "%s", err.msg);
    if (pub && priv)
        return cli_usage_error(cl->cmd, "--public and --private contradict each other");
    if ((url && strlen(url) >= IDX_URL_MAX) || (name && strlen(name) >= IDX_TEXT_MAX) ||
        (loc && strlen(loc) >= IDX_TEXT_MAX))
        return cli_usage_error(cl->cmd, "--url, --name or --location is too long");
    ch.id = cl->pos[0];
    ch.volume = vol;
    ch.area = area;
    snprintf(ch.detail, sizeof(ch.detail), "%s%s%s%s%s%s%s%s%s%s%s", url ? "url; " : "",
             name ? "name; " : "", loc ? "location; " : "", transport ? "transport; " : "",
             vol ? "volume; " : "", pub ? "public; " : "", priv ? "private; " : "",
             area ? "area " : "", area ? (*area ? area : "none") : "", area ? "; " : "",
             gbid ? "gb-id; " : gbpass ? "gb-device password; " : "");
    if (cli_with_index(cl, cli_camera_change_txn, &ch, &err) < 0)
        return cli_fail(&err);
    printf("camera %s updated\n", ch.result.id);
    return 0;
}

static int camera_list(struct cli_cmdline *cl, int argc, char **argv)
{
    return camera_list_or_show(cl, argc, argv, false);
}

static int camera_show(struct cli_cmdline *cl, int argc, char **argv)
{
    return camera_list_or_show(cl, argc, argv, true);
}

static int camera_enable_cmd(struct cli_cmdline *cl, int argc, char **argv)
{
    return camera_enable(cl, argc, argv, true);
}

static int camera_disable_cmd(struct cli_cmdline *cl, int argc, char **argv)
{
    return camera_enable(cl, argc, argv, false);
}

int cli_cmd_camera(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"add", camera_add},   {"list", camera_list},          {"show", camera_show},
        {"edit", camera_edit}, {"enable", camera_enable_cmd}, {"disable", camera_disable_cmd},
        {NULL, NULL}};

    return cli_run_sub("camera", subs, argc, argv);
}
