/*
 * test_chain.c: the floor of the integrity module (integrity/chain.h) and the audit chain's
 * record reader (integrity/audit_chain.h): the audit link against its formula, a link that
 * cannot be computed (OpenSSL made to fail for real, as in test_durability.c), and every way a
 * stored audit record can be refused, each naming the record and the cause.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "integrity/audit_chain.h"
#include "integrity/chain.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define LINE1 "{\"seq\":1,\"time\":\"2026-11-22T09:30:00.000000Z\",\"time_us\":1795339800000000," \
              "\"user\":\"alice\",\"role\":\"officer\",\"action\":\"view-timeline\"," \
              "\"target\":\"camera gate-3\",\"case\":\"C-1\",\"detail\":\"\"}"

/* SHA-256(prev || line), and that every byte of either matters. */
void test_chain_audit_link(void)
{
    static const uint8_t zeros[32];
    uint8_t buf[32 + sizeof(LINE1)], want[32], got[32], next[32];

    memcpy(buf, zeros, 32);
    memcpy(buf + 32, LINE1, strlen(LINE1));
    fx_sha256(buf, 32 + strlen(LINE1), want);
    CHECK_EQ_INT(itg_audit_link(zeros, LINE1, strlen(LINE1), got), 0);
    CHECK_EQ_MEM(got, want, 32);
    CHECK_EQ_INT(itg_audit_link(zeros, LINE1, strlen(LINE1) - 1, next), 0);
    CHECK(memcmp(next, want, 32) != 0);
    CHECK_EQ_INT(itg_audit_link(got, LINE1, strlen(LINE1), next), 0); /* the next record */
    CHECK(memcmp(next, want, 32) != 0);

    /* No hash: an error and zeros, which no stored record matches. */
    EVP_set_default_properties(NULL, "provider=camvault-none");
    memset(got, 0x55, sizeof(got));
    CHECK_EQ_INT(itg_audit_link(zeros, LINE1, strlen(LINE1), got), CV_ECRYPTO);
    EVP_set_default_properties(NULL, "");
    CHECK_EQ_MEM(got, zeros, 32);
}

/* A stored value: version, hash, line. */
static void value(struct cv_buf *v, int version, const char *line)
{
    uint8_t hash[32];

    cv_buf_u8(v, (uint8_t)version);
    memset(hash, 0x42, sizeof(hash));
    cv_buf_put(v, hash, 32);
    cv_buf_put(v, line, strlen(line));
}

void test_chain_audit_decode(void)
{
    static const struct {
        unsigned seq;    /* the key */
        int klen;        /* 8, or a wrong key length */
        int version;
        const char *line;
        const char *why; /* NULL: accepted */
    } cases[] = {
        {1, 8, 1, LINE1, NULL},
        {1, 7, 1, LINE1, "audit: a key of 7 bytes"},
        {1, 8, 2, LINE1, "audit record 1: malformed value"},
        {1, 8, 1, "", "audit record 1: malformed value"},
        {1, 8, 1, "{\"seq\":1,", "audit record 1: the line is not valid JSON"},
        {1, 8, 1, "{\"seq\":1}", "audit record 1: the line lacks seq or time_us"},
        {2, 8, 1, LINE1, "audit record 2: the line says it is record 1"},
        {1, 8, 1, "{\"seq\":1,\"time_us\":5,\"user\":\"a\",\"role\":\"b\",\"action\":\"c\","
                  "\"target\":\"d\",\"detail\":\"\"}",
         "audit record 1: the line lacks 'case'"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct itg_audit_rec r;
        struct cv_err err = {""};
        struct cv_buf v;
        uint8_t key[8];
        int rc;

        cv_buf_init(&v, 4096);
        value(&v, cases[i].version, cases[i].line);
        cv_put_be64(key, cases[i].seq);
        rc = itg_audit_decode(key, (size_t)cases[i].klen, v.data, v.len, &r, &err);
        if (!cases[i].why) {
            CHECK_EQ_INT(rc, 0);
            CHECK_EQ_U64(r.seq, 1);
            CHECK_EQ_STR(r.user, "alice");
            CHECK_EQ_STR(r.case_id, "C-1");
            CHECK_EQ_STR(r.line, LINE1);
            CHECK(r.time_us == INT64_C(1795339800000000));
            CHECK(r.hash[0] == 0x42 && r.hash[31] == 0x42);
        } else {
            CHECK_EQ_INT(rc, CV_ECORRUPT);
            CHECK_CONTAINS(err.msg, cases[i].why);
        }
        itg_audit_rec_release(&r);
        itg_audit_rec_release(&r); /* twice is harmless */
        cv_buf_release(&v);
    }
}
