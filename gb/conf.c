/*
 * conf.c: the gb_ keys of camvault.conf and channel IDs (gb.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/cvtime.h"
#include "gb/gb.h"
#include "common/banned.h"

void gb_config_defaults(struct gb_config *c)
{
    memset(c, 0, sizeof(*c));
    c->keepalive_us = 60 * CV_US_PER_S;
}

/* "HOST:PORT" into host (n bytes) and *port (1..65535); -1 when it is not that. */
static int host_port(const char *v, char *host, size_t n, uint16_t *port)
{
    const char *colon = strrchr(v, ':');
    struct in_addr a;
    int64_t p;

    if (!colon || colon == v || (size_t)(colon - v) >= n ||
        cv_parse_i64(colon + 1, 1, 65535, &p) < 0)
        return -1;
    memcpy(host, v, (size_t)(colon - v));
    host[colon - v] = 0;
    if (inet_pton(AF_INET, host, &a) != 1) /* IPv4 only (docs/gb28181.md) */
        return -1;
    *port = (uint16_t)p;
    return 0;
}

int gb_conf_key(struct gb_config *c, const char *key, const char *value, struct cv_err *err)
{
    if (strcmp(key, "gb_id") == 0) {
        if (!gb_digits(value, GB_ID_LEN))
            return cv_errf(err, CV_EINVAL, "gb_id '%.40s' is not 20 digits", value);
        cv_strlcpy(c->id, value, sizeof(c->id));
        return 0;
    }
    if (strcmp(key, "gb_realm") == 0) {
        if (!gb_digits(value, 10))
            return cv_errf(err, CV_EINVAL, "gb_realm '%.40s' is not 10 digits", value);
        cv_strlcpy(c->realm, value, sizeof(c->realm));
        return 0;
    }
    if (strcmp(key, "gb_listen") == 0) {
        if (cv_strlcpy(c->listen, value, sizeof(c->listen)) < 0 ||
            host_port(value, c->listen_addr, sizeof(c->listen_addr), &c->listen_port) < 0)
            return cv_errf(err, CV_EINVAL, "gb_listen '%.60s' is not ADDR:PORT (an IPv4 "
                           "address and a port from 1 to 65535)", value);
        return 0;
    }
    if (strcmp(key, "gb_upstream") == 0) {
        const char *at = strchr(value, '@');
        char id[GB_ID_LEN + 1] = "";
        if (at && at - value == GB_ID_LEN)
            memcpy(id, value, GB_ID_LEN);
        if (!gb_digits(id, GB_ID_LEN) ||
            host_port(at + 1, c->up_host, sizeof(c->up_host), &c->up_port) < 0)
            return cv_errf(err, CV_EINVAL, "gb_upstream '%.80s' is not PLATFORM_ID@HOST:PORT "
                           "(a 20-digit ID, an IPv4 address)", value);
        memcpy(c->up_id, value, GB_ID_LEN);
        c->up_id[GB_ID_LEN] = 0;
        return 0;
    }
    if (strcmp(key, "gb_password") == 0) {
        if (!value[0] || cv_strlcpy(c->password, value, sizeof(c->password)) < 0)
            return cv_errf(err, CV_EINVAL, "gb_password is empty or longer than %zu bytes",
                           sizeof(c->password) - 1);
        return 0;
    }
    if (strcmp(key, "gb_keepalive") == 0) {
        int64_t s;
        if (cv_parse_i64(value, 1, 3600, &s) < 0)
            return cv_errf(err, CV_EINVAL, "gb_keepalive '%.40s' is not a whole number of "
                           "seconds from 1 to 3600", value);
        c->keepalive_us = s * CV_US_PER_S;
        return 0;
    }
    if (strcmp(key, "gb_transport") == 0) {
        if (strcmp(value, "udp") != 0 && strcmp(value, "tcp") != 0)
            return cv_errf(err, CV_EINVAL, "gb_transport '%.40s' is not udp or tcp (SIP to "
                           "gb_upstream)", value);
        c->up_tcp = strcmp(value, "tcp") == 0;
        return 0;
    }
    return 1;
}

int gb_config_check(const struct gb_config *c, struct cv_err *err)
{
    if (!c->id[0]) {
        if (c->realm[0] || c->listen[0] || c->up_id[0])
            return cv_errf(err, CV_EINVAL, "camvault.conf: gb_realm, gb_listen or gb_upstream "
                           "is set but gb_id is not (the GB/T 28181 agent needs gb_id)");
        return 0;
    }
    if (!c->realm[0])
        return cv_errf(err, CV_EINVAL, "camvault.conf: gb_id is set but gb_realm is not");
    if (!c->listen[0])
        return cv_errf(err, CV_EINVAL, "camvault.conf: gb_id is set but gb_listen is not");
    return 0;
}

void gb_channel_id(const struct gb_config *c, const struct idx_camera *cam, char out[21])
{
    if (cam->gb_id[0]) {
        cv_strlcpy(out, cam->gb_id, 21);
        return;
    }
    snprintf(out, 21, "%.10s131%c%06u", c->id, c->id[13] ? c->id[13] : '0',
             (unsigned)(cam->num % 1000000u));
}
