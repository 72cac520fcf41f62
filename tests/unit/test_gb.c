/*
 * test_gb.c: the GB/T 28181 text (gb/sip.h): SIP messages accepted and refused, header
 * parameters, Digest against RFC 2617's example, MANSCDP documents; the PS pack layout
 * (gb/gb_int.h); channel IDs and conf keys (gb/gb.h).
 */
#include <stdlib.h>
#include <string.h>

#include "gb/gb_int.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define HEAD "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n" \
             "From: <sip:34020000002000000001@3402000000>;tag=ab\r\n" \
             "To: <sip:34020000001180000001@3402000000>\r\nCall-ID: c1\r\n"

void test_gb_sip_parse(void)
{
    static const struct {
        const char *text;
        int rc;
        const char *err; /* part of the message */
    } cases[] = {
        {"MESSAGE sip:1@2 SIP/2.0\r\n" HEAD "CSeq: 2 MESSAGE\r\nContent-Length: 3\r\n\r\nabcdef",
         0, ""},
        {"MESSAGE sip:1@2 SIP/2.0\n" HEAD "CSeq: 2 MESSAGE\n\nabc", 0, ""}, /* bare LF, no CL */
        {"SIP/2.0 401 Unauthorized\r\n" HEAD "CSeq: 1 REGISTER\r\n\r\n", 0, ""},
        {"MESSAGE sip:1@2 SIP/2.0\r\n" HEAD "CSeq: 2 MESSAGE\r\nl: 9\r\n\r\nabc", CV_EINVAL,
         "Content-Length 9 is more than the 3 bytes"},
        {"MESSAGE sip:1@2 SIP/2.0\r\n" HEAD "CSeq: 2 INVITE\r\n\r\n", CV_EINVAL,
         "CSeq method 'INVITE' is not the request's 'MESSAGE'"},
        {"MESSAGE sip:1@2 SIP/2.0\r\n" HEAD "\r\n", CV_EINVAL, "no CSeq header"},
        {"MESSAGE http://x SIP/2.0\r\n" HEAD "CSeq: 2 MESSAGE\r\n\r\n", CV_EINVAL,
         "not a sip: URI"},
        {"MESSAGE sip:1@2 SIP/3.0\r\n" HEAD "CSeq: 2 MESSAGE\r\n\r\n", CV_EINVAL,
         "does not end in SIP/2.0"},
        {"SIP/2.0 99 x\r\n" HEAD "CSeq: 1 REGISTER\r\n\r\n", CV_EINVAL, "bad status line"},
        {"MESSAGE sip:1@2 SIP/2.0\r\n" HEAD "CSeq: 2 MESSAGE\r\n x\r\n\r\n", CV_EINVAL,
         "folded header"},
        {"MESSAGE sip:1@2 SIP/2.0\r\n" HEAD "CSeq: 2 MESSAGE\r\n", CV_EINVAL,
         "without an empty line"},
        {"MESSAGE sip:1@2 SIP/2.0\r\n" HEAD "CSeq: x MESSAGE\r\n\r\n", CV_EINVAL, "bad CSeq"},
    };
    struct gb_sip_msg *m = malloc(sizeof(*m));

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cv_err err = {""};
        int rc = gb_sip_parse(m, cases[i].text, strlen(cases[i].text), &err);
        CHECK_MSG(rc == cases[i].rc && strstr(err.msg, cases[i].err),
                  "case %zu: rc %d '%s'", i, rc, err.msg);
    }
    /* compact forms read as long names; the body cut at Content-Length */
    {
        static const char t[] = "MESSAGE sip:34020000001180000001@3402000000 SIP/2.0\r\n"
                                "v: SIP/2.0/UDP h;branch=z9hG4bKq\r\nf: <sip:77@r>;tag=x9\r\n"
                                "t: <sip:1@r>\r\ni: cid\r\nCSeq: 7 MESSAGE\r\nl: 2\r\n\r\nokmore";
        struct cv_err err = {""};
        char v[32];
        CHECK_EQ_INT(gb_sip_parse(m, t, sizeof(t) - 1, &err), 0);
        CHECK_EQ_STR(m->call_id, "cid");
        CHECK_EQ_INT(m->cseq, 7);
        CHECK_EQ_INT(m->body_len, 2);
        CHECK(gb_sip_param(m->from, "tag", v, sizeof(v)) == 0 && strcmp(v, "x9") == 0);
        CHECK(gb_sip_param(m->via, "branch", v, sizeof(v)) == 0 && strcmp(v, "z9hG4bKq") == 0);
        CHECK(gb_sip_uri_user(m->from, v, sizeof(v)) == 0 && strcmp(v, "77") == 0);
        CHECK(gb_sip_uri_user(m->uri, v, 5) < 0); /* does not fit */
    }
    free(m);
}

void test_gb_digest(void)
{
    char out[33], v[64];
    const char *ch = "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
                     "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", cnonce=\"no\"";

    /* RFC 2617 section 3.5 */
    gb_digest("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
              "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth", "00000001", "0a4f113b", out);
    CHECK_EQ_STR(out, "6629fae49393a05397450978507c4ef1");
    gb_digest("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
              "dcd98b7102dd2f0e8b11d0f600bfb0c093", NULL, NULL, NULL, out);
    CHECK_EQ_STR(out, "670fd8c2df070c60b045671b8b24ff02");
    CHECK(gb_auth_param(ch, "nonce", v, sizeof(v)) == 0 &&
          strcmp(v, "dcd98b7102dd2f0e8b11d0f600bfb0c093") == 0);
    CHECK(gb_auth_param(ch, "qop", v, sizeof(v)) == 0 && strcmp(v, "auth,auth-int") == 0);
    CHECK(gb_auth_param(ch, "opaque", v, sizeof(v)) < 0);
    CHECK(gb_auth_param("Digest realm=\"open", "realm", v, sizeof(v)) < 0);
}

void test_gb_manscdp(void)
{
    static const struct unit_text_case bad[] = {
        {"<Query><CmdType>x</SN></Query>", CV_EINVAL, "element 'CmdType' closed by 'SN'"},
        {"<?xml version=\"1.0\" encoding=\"EBCDIC\"?><Query/>", CV_EINVAL, "encoding 'EBCDIC'"},
        {"<Query><SN>12a</SN></Query>", CV_EINVAL, "SN '12a' is not a number"},
        {"<Query><!-- c --></Query>", CV_EINVAL, "bad element name"},
        {"<Query>", CV_EINVAL, "'Query' is not closed"},
        {"<a><b><c><d><e><f><g><h><i/></h></g></f></e></d></c></b></a>", CV_EINVAL, "deeper"},
        {"<Query/><Query/>", CV_EINVAL, "content after the root"},
        {"<Query>&nbsp;</Query>", CV_EINVAL, "unknown entity"},
        {"", CV_EINVAL, "no root element"},
    };
    struct gb_manscdp q;
    const char *ok = "<?xml version=\"1.0\" encoding=\"gb2312\"?>\r\n<Query>\r\n"
                     "<CmdType>RecordInfo</CmdType>\r\n<SN>4294967295</SN>\r\n<DeviceID>"
                     "34020000001310000001</DeviceID><StartTime>2026-12-04T10:00:00</StartTime>"
                     "<Item Num='2'><DeviceID>nested is not read</DeviceID></Item>"
                     "<EndTime>a&amp;b</EndTime></Query>\r\n";

    for (size_t i = 0; i < NELEM(bad); i++) {
        struct cv_err err = {""};
        int rc = gb_manscdp_parse(bad[i].in, strlen(bad[i].in), &q, &err);
        CHECK_TEXT_CASE(&bad[i], rc, err.msg);
    }
    CHECK_EQ_INT(gb_manscdp_parse(ok, strlen(ok), &q, NULL), 0);
    CHECK_EQ_STR(q.root, "Query");
    CHECK_EQ_STR(q.cmd_type, "RecordInfo");
    CHECK_EQ_U64(q.sn, 4294967295u);
    CHECK_EQ_STR(q.device_id, "34020000001310000001");
    CHECK_EQ_STR(q.start_time, "2026-12-04T10:00:00");
    CHECK_EQ_STR(q.end_time, "a&b");
}

void test_gb_ps_pack(void)
{
    struct gb_ps ps;
    struct sockaddr_in dest = {0};
    struct cv_buf b;
    static const uint8_t au[] = {0, 0, 0, 1, 0x65, 0x88, 0x84};
    const uint8_t *p;

    gb_ps_init(&ps, -1, &dest, 1, GB_PS_H264, true);
    cv_buf_init(&b, 1 << 20);
    gb_ps_pack(&b, &ps, 0xe0, au, sizeof(au), 90000 + 3600, 90000, true);
    p = b.data;
    CHECK(b.len > 14 && memcmp(p, "\x00\x00\x01\xba", 4) == 0 && (p[4] & 0xc4) == 0x44);
    CHECK(memcmp(p + 14, "\x00\x00\x01\xbb", 4) == 0); /* system header */
    p += 14 + 6 + (p[18] << 8 | p[19]);
    CHECK(memcmp(p, "\x00\x00\x01\xbc", 4) == 0); /* PSM: H.264 video, G.711 audio */
    CHECK(p[12] == 0x1b && p[13] == 0xe0 && p[16] == 0x90 && p[17] == 0xc0);
    p += 6 + (p[4] << 8 | p[5]);
    CHECK(memcmp(p, "\x00\x00\x01\xe0", 4) == 0); /* PES with PTS and DTS */
    CHECK(p[7] == 0xc0 && p[8] == 10 && (p[4] << 8 | p[5]) == 3 + 10 + (int)sizeof(au));
    CHECK(memcmp(p + 19, au, sizeof(au)) == 0 && p + 19 + sizeof(au) == b.data + b.len);
    cv_buf_release(&b);
    gb_ps_release(&ps);
}

void test_gb_conf(void)
{
    struct gb_config c;
    struct idx_camera cam = {.num = 3};
    struct cv_err err = {""};
    char id[21];

    gb_config_defaults(&c);
    CHECK_EQ_INT(gb_conf_key(&c, "gb_id", "34020000001180000001", &err), 0);
    CHECK_EQ_INT(gb_conf_key(&c, "gb_upstream", "34020000002000000001@10.1.2.3:5060", &err), 0);
    CHECK_EQ_STR(c.up_host, "10.1.2.3");
    CHECK_EQ_INT(c.up_port, 5060);
    CHECK_EQ_INT(gb_conf_key(&c, "gb_upstream", "3402@10.1.2.3:5060", &err), CV_EINVAL);
    CHECK_EQ_INT(gb_conf_key(&c, "gb_listen", "0.0.0.0:70000", &err), CV_EINVAL);
    CHECK_EQ_INT(gb_conf_key(&c, "gb_password", "secret", &err), 0);
    CHECK_EQ_INT(gb_conf_key(&c, "other", "x", &err), 1);
    CHECK_EQ_INT(gb_config_check(&c, &err), CV_EINVAL); /* no realm, listen */
    gb_channel_id(&c, &cam, id);
    CHECK_EQ_STR(id, "34020000001310000003");
    memcpy(cam.gb_id, "34020000001310000777", 21);
    gb_channel_id(&c, &cam, id);
    CHECK_EQ_STR(id, "34020000001310000777");
}
