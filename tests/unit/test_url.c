/*
 * test_url.c: common/url.h, the camera-URL parser and redaction. The tables hold the URLs of
 * issue 19: passwords with '@', ':', '/', '%', '#' raw and percent-encoded, and credentials in
 * the query. Every redaction case also checks that the password's text is not in the output.
 */
#include <stdio.h>
#include <string.h>

#include "common/url.h"
#include "tests/unit/unit.h"
#include "common/banned.h"


void test_url_parse(void)
{
    static const struct {
        const char *url;
        const char *user, *pass, *host, *port, *rest; /* user NULL: no userinfo */
    } cases[] = {
        {"rtsp://10.0.0.7/live", NULL, "", "10.0.0.7", "", "/live"},
        {"rtsp://cam:554", NULL, "", "cam", "554", ""},
        {"rtsp://admin:pw@10.0.0.7:8554/live?ch=1", "admin", "pw", "10.0.0.7", "8554",
         "/live?ch=1"},
        {"rtsp://user:Pa/ss@host/x", "user", "Pa/ss", "host", "", "/x"},
        {"rtsp://user:Pa@ss:wo/rd@host/x", "user", "Pa@ss:wo/rd", "host", "", "/x"},
        {"rtsp://user:P%40ss@host/x", "user", "P@ss", "host", "", "/x"},
        {"rtsp://us%3Aer:%40%3A%2F%25%23@h:1/", "us:er", "@:/%#", "h", "1", "/"},
        {"rtsp://user:P#ss?@host/x", "user", "P#ss?", "host", "", "/x"},
        {"rtsp://user:100%@host/x", "user", "100%", "host", "", "/x"},   /* bad % kept */
        {"rtsp://user:%4@host/x", "user", "%4", "host", "", "/x"},
        {"rtsp://user@host/x", "user", "", "host", "", "/x"},
        {"rtsp://:pw@host/x", "", "pw", "host", "", "/x"},
        {"rtsp://u:p@[::1]:8554/x", "u", "p", "::1", "8554", "/x"},
        {"RTSP://h/x#frag", NULL, "", "h", "", "/x#frag"},
        {"rtsp://h:0554/x", NULL, "", "h", "554", "/x"},
    };
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"h/x", "no scheme://"},
        {"rtsp://", "no host"},
        {"rtsp://u:p@/x", "no host"},
        {"rtsp://h:/x", "bad port"},
        {"rtsp://h:99999/x", "bad port"},
        {"rtsp://h:12a/x", "bad port"},
        {"rtsp://[::1/x", "bad IPv6"},
        {"rtsp://u:p%00q@h/x", "%00"},
        {"rtsp://h x/", "bad character"},
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        struct cv_url u;
        struct cv_err err = {""};
        int rc = cv_url_parse(cases[i].url, &u, &err);
        CHECK_MSG(rc == 0, "%s: %d %s", cases[i].url, rc, err.msg);
        if (rc != 0)
            continue;
        CHECK_MSG(u.has_user == (cases[i].user != NULL), "%s: has_user", cases[i].url);
        if (cases[i].user)
            CHECK_EQ_STR(u.user, cases[i].user);
        CHECK_EQ_STR(u.pass, cases[i].pass);
        CHECK_EQ_STR(u.host, cases[i].host);
        CHECK_EQ_STR(u.port, cases[i].port);
        CHECK_EQ_STR(u.rest, cases[i].rest);
    }
    for (size_t i = 0; i < NELEM(bad); i++) {
        struct cv_url u;
        struct cv_err err = {""};
        int rc = cv_url_parse(bad[i].url, &u, &err);
        CHECK_MSG(rc == CV_EINVAL, "%s: %d, want CV_EINVAL", bad[i].url, rc);
        CHECK_MSG(strstr(err.msg, bad[i].why) != NULL, "%s: '%s' lacks '%s'", bad[i].url, err.msg,
                  bad[i].why);
    }
}

void test_url_redact(void)
{
    static const struct {
        const char *url, *want, *secret; /* secret: must not be in the output ("" none) */
    } cases[] = {
        {"rtsp://10.0.0.7/live", "rtsp://10.0.0.7/live", ""},
        {"rtsp://user:Pa/ss@host/x", "rtsp://user:***@host/x", "Pa/ss"},
        {"rtsp://user:Pa@ss:wo/rd@host/x", "rtsp://user:***@host/x", "ss:wo"},
        {"rtsp://user:P%40ss@host/x", "rtsp://user:***@host/x", "P%40ss"},
        {"rtsp://user:P#ss@host/x", "rtsp://user:***@host/x", "P#ss"},
        {"rtsp://tok3n@host/x", "rtsp://***@host/x", "tok3n"},
        {"rtsp://host/x?password=hunter2&ch=1", "rtsp://host/x?password=***&ch=1", "hunter2"},
        {"rtsp://host/x?ch=1&PWD=hunter2", "rtsp://host/x?ch=1&PWD=***", "hunter2"},
        {"rtsp://host/x?passwd=a/b;token=c", "rtsp://host/x?passwd=***;token=***", "a/b"},
        {"rtsp://host/x?Pass=h2#f&ch=1", "rtsp://host/x?Pass=***&ch=1", "h2#f"},
        {"rtsp://host/x?password=a/b#c", "rtsp://host/x?password=***", "b#c"},
        {"rtsp://host/x?api_key=k1&secret=s1&auth=a1", "rtsp://host/x?api_key=***&secret=***&auth=***",
         "k1"},
        {"rtsp://host/user=admin&password=h3&ch=1", "rtsp://host/user=admin&password=***&ch=1",
         "h3"},
        {"rtsp://u:p1@host/x?access_token=t1", "rtsp://u:***@host/x?access_token=***", "t1"},
        {"rtsp://host/x?channel=1&subtype=0", "rtsp://host/x?channel=1&subtype=0", ""},
        {"u:pw9@host/x", "u:***@host/x", "pw9"}, /* not a URL: still hidden */
        {"", "", ""},
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        char out[CV_URL_MAX];
        cv_url_redact(cases[i].url, out, sizeof(out));
        CHECK_EQ_STR(out, cases[i].want);
        if (cases[i].secret[0])
            CHECK_MSG(!strstr(out, cases[i].secret), "%s: '%s' shows the secret", cases[i].url,
                      out);
    }
    /* Cut short, never past the buffer, never a partial password. */
    {
        char small[12];
        cv_url_redact("rtsp://user:secretpw@host/x", small, sizeof(small));
        CHECK_EQ_STR(small, "rtsp://user");
        cv_url_redact("rtsp://user:secretpw@host/x", small, 1);
        CHECK_EQ_STR(small, "");
    }
}

void test_url_check(void)
{
    static const struct unit_text_case cases[] = {
        {"rtsp://h/x", 0, ""},
        {"rtsps://u:Pa/ss@h/x", 0, ""},
        {"rtsp://u:P%40ss@h:554/x?password=1", 0, ""},
        {"http://h/x", CV_EINVAL, "must start with rtsp:// or rtsps://"},
        {"rtsp://h/live@2", CV_EINVAL, "%40"},
        {"rtsp://h/x?mail=a@b", CV_EINVAL, "%40"},
        {"rtsp://u:p@h:99999/x", CV_EINVAL, "bad port"},
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        struct cv_err err = {""};
        int rc = cv_url_check(cases[i].in, &err);
        CHECK_TEXT_CASE(&cases[i], rc, err.msg);
    }
}

/* Written back, the URL splits the RFC 3986 way (as libavformat does) into the same parts. */
void test_url_format(void)
{
    static const struct {
        const char *url, *with, *without;
    } cases[] = {
        {"rtsp://user:Pa/ss@host/x", "rtsp://user:Pa%2Fss@host/x", "rtsp://host/x"},
        {"rtsp://us%3Aer:@:/%#@h:1/a?b=c", "rtsp://us%3Aer:%40%3A%2F%25%23@h:1/a?b=c",
         "rtsp://h:1/a?b=c"},
        {"rtsp://u:p@[::1]:8554/x", "rtsp://u:p@[::1]:8554/x", "rtsp://[::1]:8554/x"},
        {"rtsp://u@h", "rtsp://u@h", "rtsp://h"},
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        struct cv_url u, back;
        struct cv_err err = {""};
        char out[CV_URL_MAX];
        CHECK_EQ_INT(cv_url_parse(cases[i].url, &u, &err), 0);
        CHECK_EQ_INT(cv_url_format(&u, true, out, sizeof(out)), 0);
        CHECK_EQ_STR(out, cases[i].with);
        /* no raw '/', '?', '#' or '@' left in the userinfo: the first '/' ends the authority */
        CHECK_EQ_INT(cv_url_parse(out, &back, &err), 0);
        CHECK_EQ_STR(back.user, u.user);
        CHECK_EQ_STR(back.pass, u.pass);
        CHECK_EQ_STR(back.host, u.host);
        CHECK_EQ_INT(cv_url_format(&u, false, out, sizeof(out)), 0);
        CHECK_EQ_STR(out, cases[i].without);
    }
    {
        struct cv_url u;
        struct cv_err err = {""};
        char tiny[8];
        CHECK_EQ_INT(cv_url_parse("rtsp://host/x", &u, &err), 0);
        CHECK_EQ_INT(cv_url_format(&u, true, tiny, sizeof(tiny)), CV_ELIMIT);
        CHECK_EQ_STR(tiny, "");
    }
}
