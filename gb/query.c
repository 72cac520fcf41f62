/*
 * query.c: the MANSCDP answers of the agent (GB/T 28181-2016 annex A): Catalog (every camera
 * as an Item, GB_CATALOG_PER_MESSAGE per MESSAGE, each with SumNum and DeviceList Num),
 * DeviceInfo, DeviceStatus and RecordInfo (the index's segments as items, gaps left out, times
 * in local time without a zone, as the standard writes them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cvtime.h"
#include "common/log.h"
#include "gb/gb_int.h"
#include "common/banned.h"

#define RECORD_ITEMS_MAX 2000 /* RecordInfo items per answer (the rest are left out, logged) */
#define RECORD_PER_MESSAGE 8

/* XML text: the five special characters escaped. */
static void xml_esc(struct cv_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': cv_buf_printf(b, "&lt;"); break;
        case '>': cv_buf_printf(b, "&gt;"); break;
        case '&': cv_buf_printf(b, "&amp;"); break;
        case '"': cv_buf_printf(b, "&quot;"); break;
        case '\'': cv_buf_printf(b, "&apos;"); break;
        default: cv_buf_u8(b, (uint8_t)*s);
        }
    }
}

static bool ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* "2026-12-04T10:00:00" in local time (GB/T 28181 writes times without a zone). */
static void local_time(int64_t us, char *out, size_t n)
{
    time_t t = (time_t)(us / CV_US_PER_S);
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
}

/* The inverse: µs UTC of a local "YYYY-MM-DDTHH:MM:SS"; -1 when it is not that. */
static int64_t parse_local(const char *s)
{
    struct tm tm;
    char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || *end)
        return -1;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * CV_US_PER_S;
}

static void response_head(struct cv_buf *b, const char *cmd, uint32_t sn, const char *id,
                          bool utf8)
{
    cv_buf_printf(b,
                  "<?xml version=\"1.0\" encoding=\"%s\"?>\r\n<Response>\r\n"
                  "<CmdType>%s</CmdType>\r\n<SN>%u</SN>\r\n<DeviceID>%s</DeviceID>\r\n",
                  utf8 ? "UTF-8" : "GB2312", cmd, sn, id);
}

static int camera_list(struct gb_agent *a, struct idx_camera **cams, size_t *n)
{
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    int rc = idx_begin(a->idx, false, &t, &err);

    if (rc == 0)
        rc = idx_camera_list(t, cams, n, &err);
    idx_abort(t);
    if (rc < 0)
        cv_warn("gb: cannot list cameras: %s", err.msg);
    return rc;
}

int gb_camera_by_channel(struct gb_agent *a, const char *channel, struct idx_camera *out)
{
    struct idx_camera *cams = NULL;
    size_t n = 0;
    int rc = CV_ENOENT;

    if (camera_list(a, &cams, &n) < 0)
        return CV_EIO;
    for (size_t i = 0; i < n && rc; i++) {
        char ch[GB_ID_LEN + 1];
        gb_channel_id(&a->cfg, &cams[i], ch);
        if (strcmp(ch, channel) == 0) {
            *out = cams[i];
            rc = 0;
        }
    }
    free(cams);
    return rc;
}

static bool camera_online(struct gb_agent *a, const struct idx_camera *c)
{
    struct idx_txn *t = NULL;
    struct idx_status st;
    bool on = false;

    if (idx_begin(a->idx, false, &t, NULL) == 0 && idx_status_get(t, c->num, &st, NULL) == 0)
        on = st.online && c->enabled;
    idx_abort(t);
    return on;
}

static void catalog(struct gb_agent *a, const struct gb_manscdp *q)
{
    struct idx_camera *cams = NULL;
    size_t n = 0, i = 0;
    struct cv_buf b;

    if (camera_list(a, &cams, &n) < 0)
        return;
    cv_buf_init(&b, GB_SIP_MAX - 1024);
    do { /* an empty catalog is one answer with SumNum 0 */
        size_t k = n - i < GB_CATALOG_PER_MESSAGE ? n - i : GB_CATALOG_PER_MESSAGE;
        bool utf8 = false;
        for (size_t j = i; j < i + k; j++)
            utf8 |= !ascii(cams[j].name) || !ascii(cams[j].location);
        cv_buf_reset(&b);
        response_head(&b, "Catalog", q->sn, a->cfg.id, utf8);
        cv_buf_printf(&b, "<SumNum>%zu</SumNum>\r\n<DeviceList Num=\"%zu\">\r\n", n, k);
        for (size_t j = i; j < i + k; j++) {
            char ch[GB_ID_LEN + 1];
            gb_channel_id(&a->cfg, &cams[j], ch);
            cv_buf_printf(&b, "<Item>\r\n<DeviceID>%s</DeviceID>\r\n<Name>", ch);
            xml_esc(&b, cams[j].name[0] ? cams[j].name : cams[j].id);
            cv_buf_printf(&b, "</Name>\r\n<Manufacturer>camvault</Manufacturer>\r\n"
                              "<Model>camvault</Model>\r\n<Owner>camvault</Owner>\r\n"
                              "<CivilCode>%.6s</CivilCode>\r\n<Address>",
                          a->cfg.id);
            xml_esc(&b, cams[j].location);
            cv_buf_printf(&b, "</Address>\r\n<Parental>0</Parental>\r\n<ParentID>%s</ParentID>"
                              "\r\n<SafetyWay>0</SafetyWay>\r\n<RegisterWay>1</RegisterWay>\r\n"
                              "<Secrecy>0</Secrecy>\r\n<Status>%s</Status>\r\n</Item>\r\n",
                          a->cfg.id, camera_online(a, &cams[j]) ? "ON" : "OFF");
        }
        cv_buf_printf(&b, "</DeviceList>\r\n</Response>\r\n");
        if (cv_buf_ok(&b))
            gb_send_message(a, (const char *)b.data, b.len);
        i += k;
    } while (i < n);
    cv_info("gb: Catalog for %s: %zu cameras in %zu messages", a->cfg.up_id, n,
            n ? (n + GB_CATALOG_PER_MESSAGE - 1) / GB_CATALOG_PER_MESSAGE : 1);
    cv_buf_release(&b);
    free(cams);
}

static void device_info(struct gb_agent *a, const struct gb_manscdp *q)
{
    struct idx_camera *cams = NULL;
    size_t n = 0;
    struct cv_buf b;

    if (camera_list(a, &cams, &n) < 0)
        return;
    cv_buf_init(&b, GB_SIP_MAX - 1024);
    response_head(&b, "DeviceInfo", q->sn, q->device_id[0] ? q->device_id : a->cfg.id, false);
    cv_buf_printf(&b,
                  "<DeviceName>camvault</DeviceName>\r\n<Result>OK</Result>\r\n"
                  "<Manufacturer>camvault</Manufacturer>\r\n<Model>camvault NVR</Model>\r\n"
                  "<Firmware>camvault</Firmware>\r\n<Channel>%zu</Channel>\r\n</Response>\r\n",
                  n);
    gb_send_message(a, (const char *)b.data, b.len);
    cv_buf_release(&b);
    free(cams);
}

static void device_status(struct gb_agent *a, const struct gb_manscdp *q)
{
    struct idx_camera cam;
    bool online = true;
    char now[32];
    struct cv_buf b;

    if (strcmp(q->device_id, a->cfg.id) != 0) {
        if (gb_camera_by_channel(a, q->device_id, &cam) < 0) {
            cv_warn("gb: DeviceStatus for unknown channel '%.24s'", q->device_id);
            return;
        }
        online = camera_online(a, &cam);
    }
    local_time(cv_now_us(), now, sizeof(now));
    cv_buf_init(&b, 2048);
    response_head(&b, "DeviceStatus", q->sn, q->device_id, false);
    cv_buf_printf(&b,
                  "<Result>OK</Result>\r\n<Online>%s</Online>\r\n<Status>%s</Status>\r\n"
                  "<Encode>ON</Encode>\r\n<Record>%s</Record>\r\n<DeviceTime>%s</DeviceTime>\r\n"
                  "<Alarmstatus Num=\"0\">\r\n</Alarmstatus>\r\n</Response>\r\n",
                  online ? "ONLINE" : "OFFLINE", online ? "OK" : "ERROR", online ? "ON" : "OFF",
                  now);
    gb_send_message(a, (const char *)b.data, b.len);
    cv_buf_release(&b);
}

/* ---- RecordInfo ---- */

struct rec_items {
    int64_t (*span)[2];
    size_t n, cap;
};

static int collect_seg(void *ctx, const struct idx_segment *s)
{
    struct rec_items *r = ctx;

    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        void *p;
        if (cap > RECORD_ITEMS_MAX)
            return 1;
        p = realloc(r->span, cap * sizeof(*r->span));
        if (!p)
            return 1;
        r->span = p;
        r->cap = cap;
    }
    r->span[r->n][0] = s->start_us;
    r->span[r->n][1] = s->end_us;
    r->n++;
    return 0;
}

static void record_info(struct gb_agent *a, const struct gb_manscdp *q)
{
    struct idx_camera cam;
    struct rec_items r = {0};
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    int64_t from = parse_local(q->start_time), to = parse_local(q->end_time);
    size_t i = 0;
    struct cv_buf b;

    if (gb_camera_by_channel(a, q->device_id, &cam) < 0 || from < 0 || to <= from) {
        cv_warn("gb: RecordInfo for '%.24s' from '%.24s' to '%.24s': unknown channel or bad "
                "times", q->device_id, q->start_time, q->end_time);
        return;
    }
    if (idx_begin(a->idx, false, &t, &err) == 0)
        idx_segment_iter(t, cam.num, from, to, collect_seg, &r, &err);
    idx_abort(t);
    cv_buf_init(&b, GB_SIP_MAX - 1024);
    do {
        size_t k = r.n - i < RECORD_PER_MESSAGE ? r.n - i : RECORD_PER_MESSAGE;
        cv_buf_reset(&b);
        response_head(&b, "RecordInfo", q->sn, q->device_id, false);
        cv_buf_printf(&b, "<Name>%s</Name>\r\n<SumNum>%zu</SumNum>\r\n<RecordList Num=\"%zu\">\r\n",
                      cam.id, r.n, k);
        for (size_t j = i; j < i + k; j++) {
            char s[32], e[32];
            local_time(r.span[j][0] < from ? from : r.span[j][0], s, sizeof(s));
            local_time(r.span[j][1] > to ? to : r.span[j][1], e, sizeof(e));
            cv_buf_printf(&b,
                          "<Item>\r\n<DeviceID>%s</DeviceID>\r\n<Name>%s</Name>\r\n"
                          "<StartTime>%s</StartTime>\r\n<EndTime>%s</EndTime>\r\n"
                          "<Secrecy>0</Secrecy>\r\n<Type>time</Type>\r\n</Item>\r\n",
                          q->device_id, cam.id, s, e);
        }
        cv_buf_printf(&b, "</RecordList>\r\n</Response>\r\n");
        if (cv_buf_ok(&b))
            gb_send_message(a, (const char *)b.data, b.len);
        i += k;
    } while (i < r.n);
    cv_info("gb: RecordInfo for %s (camera '%s'): %zu segments", a->cfg.up_id, cam.id, r.n);
    if (a->cfg.audit)
        a->cfg.audit(a->cfg.audit_ctx, "gb-recordinfo", a->cfg.up_id, cam.id, q->start_time);
    cv_buf_release(&b);
    free(r.span);
}

void gb_query_answer(struct gb_agent *a, const struct gb_manscdp *q)
{
    if (strcmp(q->cmd_type, "Catalog") == 0)
        catalog(a, q);
    else if (strcmp(q->cmd_type, "DeviceInfo") == 0)
        device_info(a, q);
    else if (strcmp(q->cmd_type, "DeviceStatus") == 0)
        device_status(a, q);
    else if (strcmp(q->cmd_type, "RecordInfo") == 0)
        record_info(a, q);
    else
        cv_debug("gb: query '%.31s' is not answered", q->cmd_type);
}
