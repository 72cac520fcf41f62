/*
 * test_guard.c: the server's camvault.conf keys for its connection limits (srv_config_set).
 * The limits themselves are exercised against a real server in tests/e2e/test_105_abuse.py.
 */
#include <string.h>

#include "server/srv.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

void test_server_config_keys(void)
{
    static const struct {
        const char *key, *value;
        int rc;
        const char *msg; /* part of the error, or NULL */
    } cases[] = {
        {"http_max_connections", "2048", 0, NULL},
        {"http_max_connections_per_address", "64", 0, NULL},
        {"http_threads", "4", 0, NULL},
        {"http_request_timeout_seconds", "15", 0, NULL},
        {"http_idle_timeout_seconds", "60", 0, NULL},
        {"http_max_connections", "8", CV_EINVAL, "from 16 to 65536"},
        {"http_threads", "0", CV_EINVAL, "http_threads: '0'"},
        {"http_threads", "four", CV_EINVAL, "not a whole number"},
        {"http_request_timeout_seconds", "-1", CV_EINVAL, "http_request_timeout_seconds"},
        {"http_max_conections", "100", CV_EINVAL, "unknown key 'http_max_conections'"},
        {"listen", "127.0.0.1:1", 1, NULL},
        {"segment_seconds", "60", 1, NULL},
    };
    struct srv_config c;

    memset(&c, 0, sizeof(c));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cv_err err = {""};
        CHECK_EQ_INT(srv_config_set(&c, cases[i].key, cases[i].value, &err), cases[i].rc);
        if (cases[i].msg)
            CHECK_CONTAINS(err.msg, cases[i].msg);
    }
    CHECK_EQ_INT(c.max_conns, 2048);
    CHECK_EQ_INT(c.max_per_addr, 64);
    CHECK_EQ_INT(c.threads, 4);
    CHECK_EQ_INT(c.request_timeout_s, 15);
    CHECK_EQ_INT(c.idle_timeout_s, 60);
    CHECK_EQ_STR(c.listen, "");
}
