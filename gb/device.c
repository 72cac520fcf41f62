/*
 * device.c: camvault as the platform of GB/T 28181 devices (section 9.1 registration, 9.6
 * keepalive, 9.5 Catalog), on the agent's thread: a device REGISTERs to gb_listen, is
 * challenged (401 Digest, MD5, qop=auth offered), its answer checked against the password of
 * the camera whose URL names it (gb_device_url), and granted its Expires; its Keepalive
 * MESSAGEs are answered; after registering it is asked its Catalog, whose first channel is
 * what devstream.c INVITEs. A device is offline when its registration expires or it misses
 * GB_DEV_KEEPALIVES_LOST keepalives (gb_keepalive s each); its streams end then, naming why.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/cvtime.h"
#include "common/log.h"
#include "common/url.h"
#include "gb/device_int.h"
#include "common/banned.h"

int gb_device_url(const char *id, const char *password, char *out, size_t n)
{
    struct cv_url u;

    memset(&u, 0, sizeof(u));
    cv_strlcpy(u.scheme, "gb28181", sizeof(u.scheme));
    u.has_user = true;
    if (cv_strlcpy(u.user, id, sizeof(u.user)) < 0 || cv_strlcpy(u.pass, password,
                                                                   sizeof(u.pass)) < 0)
        return CV_ELIMIT;
    cv_strlcpy(u.host, "device", sizeof(u.host));
    return cv_url_format(&u, true, out, n);
}

bool gb_device_of(const char *url, char id[GB_ID_LEN + 1], char *password, size_t pn)
{
    struct cv_url u;
    struct cv_err err = {""};
    bool ok;

    if (strncmp(url, GB_DEVICE_SCHEME, strlen(GB_DEVICE_SCHEME)) != 0 ||
        cv_url_parse(url, &u, &err) < 0)
        return false;
    ok = gb_digits(u.user, GB_ID_LEN);
    if (ok && id)
        cv_strlcpy(id, u.user, GB_ID_LEN + 1);
    if (ok && password)
        cv_strlcpy(password, u.pass, pn);
    explicit_bzero(&u, sizeof(u));
    return ok;
}

int gb_devices_open(struct gb_agent *a, struct cv_err *err)
{
    struct gb_devices *d = calloc(1, sizeof(*d));

    if (!d)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    a->devs = d;
    return 0;
}

void gb_devices_free(struct gb_agent *a)
{
    if (!a->devs)
        return;
    pthread_mutex_destroy(&a->devs->lock);
    pthread_cond_destroy(&a->devs->cond);
    explicit_bzero(a->devs, sizeof(*a->devs));
    free(a->devs);
    a->devs = NULL;
}

struct gb_device *gb_dev_find(struct gb_devices *d, const char *id)
{
    for (size_t i = 0; i < d->ndev; i++)
        if (strcmp(d->dev[i].id, id) == 0)
            return &d->dev[i];
    return NULL;
}

void gb_dev_send(struct gb_agent *a, const struct sockaddr_in *to, const char *method,
                 const char *user, const char *call_id, const char *from_tag, const char *to_tag,
                 uint32_t cseq, const char *extra, const char *ctype, const char *body)
{
    char ip[INET_ADDRSTRLEN] = "0.0.0.0", branch[17];
    unsigned port = ntohs(to->sin_port);
    struct cv_buf b;
    size_t blen = body ? strlen(body) : 0;
    bool tcp = gb_tcp_has(a, to); /* the device's connection */

    inet_ntop(AF_INET, &to->sin_addr, ip, sizeof(ip));
    gb_random_hex(branch, 8);
    cv_buf_init(&b, GB_SIP_MAX);
    cv_buf_printf(&b,
                  "%s sip:%s@%s:%u SIP/2.0\r\n"
                  "Via: SIP/2.0/%s %s:%u;rport;branch=z9hG4bK%s\r\n"
                  "From: <sip:%s@%s>;tag=%s\r\n"
                  "To: <sip:%s@%s>%s%s\r\n"
                  "Call-ID: %s\r\nCSeq: %u %s\r\nMax-Forwards: 70\r\nUser-Agent: camvault\r\n"
                  "Contact: <sip:%s@%s:%u%s>\r\n%s",
                  method, user, ip, port, tcp ? "TCP" : "UDP", a->local_ip,
                  (unsigned)a->cfg.listen_port, branch,
                  a->cfg.id, a->cfg.realm, from_tag, user, a->cfg.realm, to_tag[0] ? ";tag=" : "",
                  to_tag, call_id, (unsigned)cseq, method, a->cfg.id, a->local_ip,
                  (unsigned)a->cfg.listen_port, tcp ? ";transport=tcp" : "", extra ? extra : "");
    if (ctype)
        cv_buf_printf(&b, "Content-Type: %s\r\n", ctype);
    cv_buf_printf(&b, "Content-Length: %zu\r\n\r\n", blen);
    if (body)
        cv_buf_put(&b, body, blen);
    if (cv_buf_ok(&b))
        gb_sip_send(a, to, b.data, b.len);
    cv_buf_release(&b);
}

/* The camera whose URL names device `id`: its id and the password, or -1. */
static int device_camera(struct gb_agent *a, const char *id, char camera[LAY_ID_MAX + 1],
                         char *password, size_t pn)
{
    struct idx_txn *t = NULL;
    struct idx_camera *cams = NULL;
    size_t n = 0;
    int rc = -1;

    if (idx_begin(a->idx, false, &t, NULL) == 0 && idx_camera_list(t, &cams, &n, NULL) == 0)
        for (size_t i = 0; i < n && rc < 0; i++) {
            char dev[GB_ID_LEN + 1];
            if (cams[i].enabled && gb_device_of(cams[i].url, dev, password, pn) &&
                strcmp(dev, id) == 0) {
                cv_strlcpy(camera, cams[i].id, LAY_ID_MAX + 1);
                rc = 0;
            }
        }
    idx_abort(t);
    if (cams)
        explicit_bzero(cams, n * sizeof(*cams));
    free(cams);
    return rc;
}

/* Device d goes offline (locked): its dialogs end with the reason. */
static void go_offline(struct gb_agent *a, struct gb_device *d, const char *why)
{
    struct gb_devices *ds = a->devs;

    d->online = false;
    cv_strlcpy(d->reason, why, sizeof(d->reason));
    cv_warn("gb: device %s (camera '%s'): offline: %s", d->id, d->camera, why);
    for (size_t i = 0; i < GB_DEV_STREAMS_MAX; i++)
        if (ds->dlg[i] && strcmp(ds->dlg[i]->device, d->id) == 0 &&
            ds->dlg[i]->state <= GB_DLG_PLAYING) {
            ds->dlg[i]->state = GB_DLG_ENDED;
            snprintf(ds->dlg[i]->why, sizeof(ds->dlg[i]->why), "GB device %s is offline: %s",
                     d->id, why);
        }
    pthread_cond_broadcast(&ds->cond);
}

static void ask_catalog(struct gb_agent *a, const struct gb_device *d)
{
    char body[512], call_id[40], tag[17];

    snprintf(body, sizeof(body),
             "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Query>\r\n"
             "<CmdType>Catalog</CmdType>\r\n<SN>%u</SN>\r\n<DeviceID>%s</DeviceID>\r\n"
             "</Query>\r\n", ++a->sn, d->id);
    snprintf(call_id, sizeof(call_id), "cat");
    gb_random_hex(call_id + 3, 16);
    gb_random_hex(tag, 8);
    gb_dev_send(a, &d->addr, "MESSAGE", d->id, call_id, tag, "", 1, NULL,
                "Application/MANSCDP+xml", body);
}

/* Whether the Digest answer `auth` is right for password `pw` and our nonce. */
static bool digest_ok(const struct gb_agent *a, const struct gb_device *d, const char *auth,
                      const char *pw)
{
    char user[64], nonce[64], uri[256], resp[64], qop[16] = "", nc[16] = "", cnonce[128] = "",
        want[33];

    if (!auth || strncasecmp(auth, "Digest", 6) != 0 ||
        gb_auth_param(auth, "username", user, sizeof(user)) < 0 ||
        gb_auth_param(auth, "nonce", nonce, sizeof(nonce)) < 0 ||
        gb_auth_param(auth, "uri", uri, sizeof(uri)) < 0 ||
        gb_auth_param(auth, "response", resp, sizeof(resp)) < 0 || strcmp(nonce, d->nonce) != 0)
        return false;
    gb_auth_param(auth, "qop", qop, sizeof(qop));
    gb_auth_param(auth, "nc", nc, sizeof(nc));
    gb_auth_param(auth, "cnonce", cnonce, sizeof(cnonce));
    if (qop[0] && strcasecmp(qop, "auth") != 0)
        return false;
    gb_digest(user, a->cfg.realm, pw, "REGISTER", uri, nonce, qop[0] ? "auth" : NULL, nc,
              cnonce, want);
    return strcasecmp(want, resp) == 0;
}

static void on_register(struct gb_agent *a, const struct gb_sip_msg *m,
                        const struct sockaddr_in *from, const char *id)
{
    struct gb_devices *ds = a->devs;
    struct gb_device *d;
    char camera[LAY_ID_MAX + 1], pw[256], ip[INET_ADDRSTRLEN] = "?", hdr[256], date[48];
    const char *auth = gb_sip_header(m, "Authorization"), *e = gb_sip_header(m, "Expires");
    int64_t expires = 3600;
    unsigned port = ntohs(from->sin_port);

    inet_ntop(AF_INET, &from->sin_addr, ip, sizeof(ip));
    if (device_camera(a, id, camera, pw, sizeof(pw)) < 0) {
        cv_warn("gb: REGISTER from unknown device '%.40s' at %s:%u refused (403): no enabled "
                "camera has --gb-device %.40s", id, ip, port, id);
        gb_respond(a, m, from, 403, "Forbidden", NULL, NULL, NULL, 0);
        return;
    }
    pthread_mutex_lock(&ds->lock);
    d = gb_dev_find(ds, id);
    if (!d && ds->ndev < GB_DEVICES_MAX) {
        d = &ds->dev[ds->ndev++];
        memset(d, 0, sizeof(*d));
        cv_strlcpy(d->id, id, sizeof(d->id));
    }
    if (!d) {
        pthread_mutex_unlock(&ds->lock);
        cv_warn("gb: REGISTER from device %s refused: %d devices registered already", id,
                GB_DEVICES_MAX);
        gb_respond(a, m, from, 503, "Service Unavailable", NULL, NULL, NULL, 0);
        goto out;
    }
    cv_strlcpy(d->camera, camera, sizeof(d->camera));
    if (!auth) {
        gb_random_hex(d->nonce, 16);
        snprintf(hdr, sizeof(hdr),
                 "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", qop=\"auth\", "
                 "algorithm=MD5\r\n", a->cfg.realm, d->nonce);
        pthread_mutex_unlock(&ds->lock);
        gb_respond(a, m, from, 401, "Unauthorized", hdr, NULL, NULL, 0);
        goto out;
    }
    if (!digest_ok(a, d, auth, pw)) {
        pthread_mutex_unlock(&ds->lock);
        cv_warn("gb: device %s (camera '%s') at %s:%u: wrong password: its Digest answer does "
                "not match (403)", id, camera, ip, port);
        gb_respond(a, m, from, 403, "Forbidden", NULL, NULL, NULL, 0);
        goto out;
    }
    if (e)
        cv_parse_i64(e, 0, 86400, &expires);
    cv_time_format_local(cv_now_us(), date, sizeof(date), 3);
    snprintf(hdr, sizeof(hdr), "Expires: %lld\r\nDate: %.23s\r\n", (long long)expires, date);
    if (expires == 0) {
        if (d->online)
            go_offline(a, d, "it unregistered (REGISTER with Expires: 0)");
        pthread_mutex_unlock(&ds->lock);
        gb_respond(a, m, from, 200, "OK", hdr, NULL, NULL, 0);
        goto out;
    }
    d->addr = *from;
    d->expires_at = cv_mono_us() + expires * CV_US_PER_S;
    d->last_seen = cv_mono_us();
    if (!d->online) {
        d->online = true;
        d->reason[0] = 0;
        d->channel[0] = 0;
        cv_info("gb: device %s (camera '%s') registered from %s:%u (expires %lld s)", id,
                camera, ip, port, (long long)expires);
        pthread_cond_broadcast(&ds->cond);
        pthread_mutex_unlock(&ds->lock);
        gb_respond(a, m, from, 200, "OK", hdr, NULL, NULL, 0);
        ask_catalog(a, d); /* d stays: devices are never removed */
        goto out;
    }
    pthread_mutex_unlock(&ds->lock);
    gb_respond(a, m, from, 200, "OK", hdr, NULL, NULL, 0);
out:
    explicit_bzero(pw, sizeof(pw));
}

/* The first <Item>'s <DeviceID> of a Catalog response (the document is checked already). */
static void first_channel(const struct gb_sip_msg *m, char out[GB_ID_LEN + 1])
{
    char body[GB_SIP_MAX + 1];
    const char *item, *id;

    memcpy(body, m->body, m->body_len);
    body[m->body_len] = 0;
    if ((item = strstr(body, "<Item>")) && (id = strstr(item, "<DeviceID>")) &&
        strlen(id + 10) > GB_ID_LEN && id[10 + GB_ID_LEN] == '<') {
        char c[GB_ID_LEN + 1];
        memcpy(c, id + 10, GB_ID_LEN);
        c[GB_ID_LEN] = 0;
        if (gb_digits(c, GB_ID_LEN))
            cv_strlcpy(out, c, GB_ID_LEN + 1);
    }
}

static void on_message(struct gb_agent *a, const struct gb_sip_msg *m,
                       const struct sockaddr_in *from, const char *id)
{
    struct gb_devices *ds = a->devs;
    struct gb_device *d;
    struct gb_manscdp q;
    char who[48];

    snprintf(who, sizeof(who), "device %.40s", id);
    if (gb_message_parse(a, m, from, who, &q) < 0)
        return;
    pthread_mutex_lock(&ds->lock);
    d = gb_dev_find(ds, id);
    if (!d || !d->online) {
        pthread_mutex_unlock(&ds->lock);
        cv_debug("gb: %s MESSAGE from unregistered device %.40s refused", q.cmd_type, id);
        gb_respond(a, m, from, 403, "Forbidden", NULL, NULL, NULL, 0);
        return;
    }
    d->last_seen = cv_mono_us();
    if (strcmp(q.root, "Response") == 0 && strcmp(q.cmd_type, "Catalog") == 0 &&
        !d->channel[0]) {
        first_channel(m, d->channel);
        if (d->channel[0])
            cv_info("gb: device %s: first channel %s", d->id, d->channel);
        pthread_cond_broadcast(&ds->cond);
    }
    pthread_mutex_unlock(&ds->lock);
    gb_respond(a, m, from, 200, "OK", NULL, NULL, NULL, 0);
}

/* The dialog with Call-ID call_id (locked), or NULL. */
static struct gb_dev_dialog *dialog(struct gb_devices *ds, const char *call_id)
{
    for (size_t i = 0; i < GB_DEV_STREAMS_MAX; i++)
        if (ds->dlg[i] && strcmp(ds->dlg[i]->call_id, call_id) == 0)
            return ds->dlg[i];
    return NULL;
}

bool gb_dev_request(struct gb_agent *a, const struct gb_sip_msg *m,
                    const struct sockaddr_in *from)
{
    char user[64] = "";
    struct gb_dev_dialog *g;

    gb_sip_uri_user(m->from, user, sizeof(user));
    if (strcmp(m->method, "REGISTER") != 0 && a->cfg.up_id[0] && strcmp(user, a->cfg.up_id) == 0)
        return false;
    if (!gb_digits(user, GB_ID_LEN)) {
        cv_warn("gb: %s from '%.40s' refused: not a GB/T 28181 device ID", m->method, user);
        gb_respond(a, m, from, 403, "Forbidden", NULL, NULL, NULL, 0);
    } else if (strcmp(m->method, "REGISTER") == 0) {
        on_register(a, m, from, user);
    } else if (strcmp(m->method, "MESSAGE") == 0) {
        on_message(a, m, from, user);
    } else if (strcmp(m->method, "BYE") == 0) {
        pthread_mutex_lock(&a->devs->lock);
        if ((g = dialog(a->devs, m->call_id)) && g->state <= GB_DLG_PLAYING) {
            g->state = GB_DLG_ENDED;
            snprintf(g->why, sizeof(g->why), "GB device %s ended the stream (BYE)", g->device);
            pthread_cond_broadcast(&a->devs->cond);
        }
        pthread_mutex_unlock(&a->devs->lock);
        gb_respond(a, m, from, g ? 200 : 481, g ? "OK" : "Call/Transaction Does Not Exist",
                   NULL, NULL, NULL, 0);
    } else if (strcmp(m->method, "ACK") != 0) {
        gb_respond(a, m, from, 405, "Method Not Allowed",
                   "Allow: REGISTER, MESSAGE, BYE\r\n", NULL, NULL, 0);
    }
    return true;
}

bool gb_dev_response(struct gb_agent *a, const struct gb_sip_msg *m)
{
    struct gb_devices *ds = a->devs;
    struct gb_dev_dialog *g;

    if (strncmp(m->call_id, "cat", 3) == 0 && strcmp(m->cseq_method, "MESSAGE") == 0)
        return true; /* the 200 to our Catalog query */
    pthread_mutex_lock(&ds->lock);
    g = dialog(ds, m->call_id);
    if (!g) {
        pthread_mutex_unlock(&ds->lock);
        return false;
    }
    if (strcmp(m->cseq_method, "INVITE") == 0 && m->status >= 200) {
        if (m->status < 300) {
            char tag[64] = "";
            gb_sip_param(m->to, "tag", tag, sizeof(tag));
            cv_strlcpy(g->to_tag, tag, sizeof(g->to_tag));
            gb_dev_send(a, &g->addr, "ACK", g->channel, g->call_id, g->from_tag, g->to_tag,
                        g->cseq, NULL, NULL, NULL); /* every 200 (a lost ACK repeats it) */
            if (g->state == GB_DLG_INVITING)
                g->state = GB_DLG_PLAYING;
        } else if (g->state == GB_DLG_INVITING) {
            g->state = GB_DLG_FAILED;
            snprintf(g->why, sizeof(g->why), "GB device %s answered the INVITE of channel %s "
                     "with %d %.60s", g->device, g->channel, m->status, m->reason);
        }
        pthread_cond_broadcast(&ds->cond);
    }
    pthread_mutex_unlock(&ds->lock);
    return true;
}

void gb_dev_timers(struct gb_agent *a)
{
    struct gb_devices *ds = a->devs;
    int64_t now = cv_mono_us(), lost = GB_DEV_KEEPALIVES_LOST * a->cfg.keepalive_us;
    char why[160];

    pthread_mutex_lock(&ds->lock);
    for (size_t i = 0; i < ds->ndev; i++) {
        struct gb_device *d = &ds->dev[i];
        if (!d->online)
            continue;
        if (now >= d->expires_at) {
            go_offline(a, d, "its registration expired");
        } else if (now - d->last_seen > lost) {
            snprintf(why, sizeof(why), "%d keepalives missed (none for %lld s)",
                     GB_DEV_KEEPALIVES_LOST, (long long)((now - d->last_seen) / CV_US_PER_S));
            go_offline(a, d, why);
        }
    }
    pthread_mutex_unlock(&ds->lock);
}
