/*
 * test_buf.c: bounded buffers and the bounds-checked reader (common/buf.h).
 *
 * Index records and keys are built with struct cv_buf and read back with struct cv_rd, so the
 * encodings must round-trip exactly and a limit or a short record must turn into a flag that
 * the caller checks once, never into an overflow. Also the JSON escaper (API output), hex and
 * the checked number parsers (configuration and command-line values).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

void test_buf_varint_round_trip(void)
{
    static const struct {
        uint64_t v;
        size_t bytes;
    } cases[] = {
        {0, 1},
        {1, 1},
        {127, 1},
        {128, 2},
        {300, 2},
        {16383, 2},
        {16384, 3},
        {UINT64_C(1) << 32, 5},
        {UINT64_MAX >> 1, 9},
        {UINT64_MAX, 10},
    };
    struct cv_buf b;
    struct cv_rd r;

    cv_buf_init(&b, 1024);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t before = b.len;
        cv_buf_varint(&b, cases[i].v);
        CHECK_MSG(b.len - before == cases[i].bytes, "varint %llu took %zu bytes, want %zu",
                  (unsigned long long)cases[i].v, b.len - before, cases[i].bytes);
    }
    CHECK(cv_buf_ok(&b));
    /* 128 is 0x80 0x01 in LEB128. */
    CHECK(b.data[3] == 0x80 && b.data[4] == 0x01);
    cv_rd_init(&r, b.data, b.len);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_EQ_U64(cv_rd_varint(&r), cases[i].v);
    CHECK(!r.bad);
    CHECK_EQ_INT(r.off, b.len);
    cv_buf_release(&b);
}

void test_buf_fixed_width(void)
{
    static const uint8_t want[] = {0x12, 0x34, 0x56, 0x78, 0x01, 0x02, 0x03,
                                   0x04, 0x05, 0x06, 0x07, 0x08, 0xff, 0xab};
    uint8_t k[8];
    struct cv_buf b;
    struct cv_rd r;

    cv_buf_init(&b, 64);
    cv_buf_be32(&b, 0x12345678u);
    cv_buf_be64(&b, UINT64_C(0x0102030405060708));
    cv_buf_u8(&b, 0xff);
    cv_buf_u8(&b, 0xab);
    CHECK(cv_buf_ok(&b));
    CHECK_EQ_INT(b.len, sizeof(want));
    CHECK_EQ_MEM(b.data, want, sizeof(want));
    cv_rd_init(&r, b.data, b.len);
    CHECK_EQ_U64(cv_rd_be32(&r), 0x12345678u);
    CHECK_EQ_U64(cv_rd_be64(&r), UINT64_C(0x0102030405060708));
    CHECK_EQ_INT(cv_rd_u8(&r), 0xff);
    CHECK_EQ_INT(cv_rd_u8(&r), 0xab);
    CHECK(!r.bad);
    cv_buf_release(&b);

    /* Fixed-buffer helpers; big-endian keys sort like the numbers. */
    cv_put_be64(k, UINT64_MAX - 1);
    CHECK_EQ_U64(cv_get_be64(k), UINT64_MAX - 1);
    cv_put_be32(k, 0xdeadbeefu);
    CHECK(k[0] == 0xde && k[3] == 0xef);
    CHECK_EQ_U64(cv_get_be32(k), 0xdeadbeefu);
    {
        uint8_t a[8], c[8];
        cv_put_be64(a, 255);
        cv_put_be64(c, 256);
        CHECK(memcmp(a, c, 8) < 0);
    }
}

/* cv_grow: doubles from `first`, keeps the contents, and refuses a size that would wrap. */
void test_buf_grow(void)
{
    uint32_t *a = NULL;
    size_t cap = 0;

    CHECK_EQ_INT(cv_grow((void **)&a, &cap, 1, sizeof(*a), 4), 0);
    CHECK_EQ_U64(cap, 4);
    for (uint32_t i = 0; i < 4; i++)
        a[i] = i;
    CHECK_EQ_INT(cv_grow((void **)&a, &cap, 4, sizeof(*a), 4), 0); /* fits: unchanged */
    CHECK_EQ_U64(cap, 4);
    CHECK_EQ_INT(cv_grow((void **)&a, &cap, 9, sizeof(*a), 4), 0);
    CHECK_EQ_U64(cap, 16);
    CHECK_EQ_U64(a[3], 3);
    CHECK_EQ_INT(cv_grow((void **)&a, &cap, SIZE_MAX / 2, sizeof(*a), 4), -1);
    CHECK_EQ_U64(cap, 16); /* as it was */
    CHECK_EQ_U64(a[2], 2);
    free(a);
}

void test_buf_str16(void)
{
    struct cv_buf b;
    struct cv_rd r;
    char out[16], tiny[4];

    cv_buf_init(&b, 64);
    cv_buf_str16(&b, "gate-3");
    cv_buf_str16(&b, "");
    cv_buf_str16(&b, NULL);
    cv_buf_str16(&b, "abcd");
    CHECK(cv_buf_ok(&b));
    CHECK_EQ_INT(b.len, 2 + 6 + 2 + 2 + 2 + 4);
    CHECK(b.data[0] == 0 && b.data[1] == 6 && memcmp(b.data + 2, "gate-3", 6) == 0);
    cv_rd_init(&r, b.data, b.len);
    cv_rd_str16(&r, out, sizeof(out));
    CHECK_EQ_STR(out, "gate-3");
    cv_rd_str16(&r, out, sizeof(out));
    CHECK_EQ_STR(out, "");
    cv_rd_str16(&r, out, sizeof(out));
    CHECK_EQ_STR(out, "");
    CHECK(!r.bad);
    /* "abcd" needs 5 bytes with its NUL: does not fit in 4. */
    cv_rd_str16(&r, tiny, sizeof(tiny));
    CHECK(r.bad);
    CHECK_EQ_STR(tiny, "");
    /* A length that runs past the end. */
    {
        static const uint8_t rec[] = {0x00, 0x09, 'a', 'b'};
        cv_rd_init(&r, rec, sizeof(rec));
        cv_rd_str16(&r, out, sizeof(out));
        CHECK(r.bad);
        CHECK_EQ_STR(out, "");
    }
    cv_buf_release(&b);
}

void test_buf_limit(void)
{
    struct cv_buf b;

    cv_buf_init(&b, 8);
    cv_buf_be32(&b, 1);
    cv_buf_be32(&b, 2);
    CHECK(cv_buf_ok(&b));
    CHECK_EQ_INT(b.len, 8);
    cv_buf_u8(&b, 3); /* the ninth byte */
    CHECK(!cv_buf_ok(&b));
    CHECK(b.failed);
    CHECK_EQ_INT(b.len, 8);
    /* A failed buffer ignores later writes and shows as empty text. */
    cv_buf_put(&b, "x", 1);
    CHECK_EQ_INT(b.len, 8);
    CHECK_EQ_STR(cv_buf_str(&b), "");
    cv_buf_reset(&b);
    CHECK(cv_buf_ok(&b));
    CHECK_EQ_INT(b.len, 0);
    cv_buf_printf(&b, "%s", "123456789"); /* 9 > 8 */
    CHECK(!cv_buf_ok(&b));
    cv_buf_reset(&b);
    cv_buf_printf(&b, "%d-%s", 42, "ab");
    CHECK(cv_buf_ok(&b));
    CHECK_EQ_STR(cv_buf_str(&b), "42-ab");
    /* One write that is larger than the whole limit. */
    cv_buf_reset(&b);
    cv_buf_put(&b, "0123456789abcdef", 16);
    CHECK(!cv_buf_ok(&b));
    CHECK_EQ_INT(b.len, 0);
    cv_buf_release(&b);

    /* A str16 longer than 65535 bytes cannot be encoded. */
    {
        static char big[70000];
        memset(big, 'a', sizeof(big) - 1);
        cv_buf_init(&b, 1 << 20);
        cv_buf_str16(&b, big);
        CHECK(!cv_buf_ok(&b));
        cv_buf_release(&b);
    }
}

void test_buf_read_past_end(void)
{
    static const uint8_t rec[] = {1, 2, 3};
    uint8_t out[4] = {9, 9, 9, 9};
    struct cv_rd r;

    cv_rd_init(&r, rec, sizeof(rec));
    CHECK_EQ_U64(cv_rd_be32(&r), 0);
    CHECK(r.bad);
    /* Once bad, every read returns 0 even where bytes exist. */
    CHECK_EQ_INT(cv_rd_u8(&r), 0);

    cv_rd_init(&r, rec, sizeof(rec));
    CHECK_EQ_INT(cv_rd_u8(&r), 1);
    CHECK_EQ_U64(cv_rd_be64(&r), 0);
    CHECK(r.bad);

    cv_rd_init(&r, rec, sizeof(rec));
    cv_rd_bytes(&r, out, sizeof(out));
    CHECK(r.bad);
    CHECK(out[0] == 0 && out[1] == 0 && out[2] == 0 && out[3] == 0);

    cv_rd_init(&r, rec, sizeof(rec));
    cv_rd_bytes(&r, out, 3);
    CHECK(!r.bad);
    CHECK(out[0] == 1 && out[2] == 3);
    CHECK_EQ_INT(cv_rd_u8(&r), 0);
    CHECK(r.bad);

    /* An empty record. */
    cv_rd_init(&r, NULL, 0);
    CHECK_EQ_U64(cv_rd_varint(&r), 0);
    CHECK(r.bad);

    /*
     * segfile.c skips fields by adding to `off` (r.off += 8) before reading, so `off` can pass
     * `len`; a read from there is still past the end and must be refused, not wrap around.
     * Regression (fixed): take() computes len - off without checking off <= len.
     */
    {
        static const uint8_t big[64];
        cv_rd_init(&r, big, 4);
        r.off += 12;
        CHECK_EQ_U64(cv_rd_be32(&r), 0);
        CHECK_MSG(r.bad, "a read at off %zu of a %zu-byte record is not bad", (size_t)12,
                  (size_t)4);
    }
}

void test_buf_varint_too_long(void)
{
    uint8_t cont[11];
    struct cv_rd r;

    /* 11 continuation bytes: no varint of 64 bits is that long. */
    memset(cont, 0x80, sizeof(cont));
    cv_rd_init(&r, cont, sizeof(cont));
    CHECK_EQ_U64(cv_rd_varint(&r), 0);
    CHECK(r.bad);

    /* A varint cut short by the end of the record. */
    cv_rd_init(&r, cont, 3);
    CHECK_EQ_U64(cv_rd_varint(&r), 0);
    CHECK(r.bad);

    /* Ten bytes: the longest legal form (UINT64_MAX) still reads. */
    {
        uint8_t max[10];
        memset(max, 0xff, 9);
        max[9] = 0x01;
        cv_rd_init(&r, max, sizeof(max));
        CHECK_EQ_U64(cv_rd_varint(&r), UINT64_MAX);
        CHECK(!r.bad);
    }
}

void test_buf_json_str(void)
{
    static const struct unit_str_case cases[] = {
        {"plain", "\"plain\""},
        {"", "\"\""},
        {"say \"hi\"", "\"say \\\"hi\\\"\""},
        {"C:\\dir", "\"C:\\\\dir\""},
        {"a\nb", "\"a\\nb\""},
        {"a\rb\tc", "\"a\\rb\\tc\""},
        {"\x01", "\"\\u0001\""},
        {"x\x1fy", "\"x\\u001fy\""},
        {"\x7f", "\"\\u007f\""},
        {"caf\xc3\xa9", "\"caf\xc3\xa9\""}, /* UTF-8 passes through */
        {NULL, "null"},
    };
    struct cv_buf b;

    cv_buf_init(&b, 256);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cv_buf_reset(&b);
        cv_json_str(&b, cases[i].in);
        CHECK(cv_buf_ok(&b));
        CHECK_EQ_STR(cv_buf_str(&b), cases[i].want);
    }
    cv_buf_reset(&b);
    cv_json_key(&b, "camera");
    cv_json_str(&b, "gate-3");
    CHECK_EQ_STR(cv_buf_str(&b), "\"camera\":\"gate-3\"");
    cv_buf_release(&b);

    /* Escaping counts against the limit: 4 quotes need 10 bytes with the outer quotes. */
    cv_buf_init(&b, 9);
    cv_json_str(&b, "\"\"\"\"");
    CHECK(!cv_buf_ok(&b));
    CHECK_EQ_STR(cv_buf_str(&b), "");
    cv_buf_release(&b);
}

void test_buf_hex(void)
{
    static const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    static const char *const bad[] = {"00017f80abf",    /* odd length */
                                      "00017f80abff00", /* too long */
                                      "00017f80abfg",   /* not hex */
                                      "00017f80ab f",   /* space */
                                      ""};
    char hex[2 * sizeof(in) + 1];
    uint8_t back[sizeof(in)];

    cv_hex(in, sizeof(in), hex);
    CHECK_EQ_STR(hex, "00017f80abff");
    CHECK_EQ_INT(cv_unhex(hex, back, sizeof(back)), 0);
    CHECK_EQ_MEM(back, in, sizeof(in));
    CHECK_EQ_INT(cv_unhex("00017F80ABFF", back, sizeof(back)), 0);
    CHECK_EQ_MEM(back, in, sizeof(in));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_MSG(cv_unhex(bad[i], back, sizeof(back)) == -1, "cv_unhex(\"%s\") accepted", bad[i]);
    cv_hex(in, 0, hex);
    CHECK_EQ_STR(hex, "");
}

void test_buf_strlcpy(void)
{
    char d[8];

    memset(d, 'x', sizeof(d));
    CHECK_EQ_INT(cv_strlcpy(d, "gate", sizeof(d)), 0);
    CHECK_EQ_STR(d, "gate");
    CHECK_EQ_INT(cv_strlcpy(d, "1234567", sizeof(d)), 0); /* exactly fits */
    CHECK_EQ_STR(d, "1234567");
    CHECK_EQ_INT(cv_strlcpy(d, "12345678", sizeof(d)), -1);
    CHECK_EQ_STR(d, "1234567");
    CHECK_EQ_INT(cv_strlcpy(d, "a much longer string", sizeof(d)), -1);
    CHECK_EQ_STR(d, "a much ");
    CHECK_EQ_INT(cv_strlcpy(d, "", sizeof(d)), 0);
    CHECK_EQ_STR(d, "");
    d[0] = 'q';
    CHECK_EQ_INT(cv_strlcpy(d, "abc", 1), -1);
    CHECK_EQ_STR(d, "");
    d[0] = 'q';
    CHECK_EQ_INT(cv_strlcpy(d, "abc", 0), -1);
    CHECK(d[0] == 'q'); /* nothing written with no room at all */
}

void test_buf_parse_numbers(void)
{
    static const struct {
        const char *in;
        int64_t min, max;
        int rc;
        int64_t want;
    } ints[] = {
        {"0", 0, 10, 0, 0},
        {"10", 0, 10, 0, 10},
        {"-5", -10, 10, 0, -5},
        {"9223372036854775807", INT64_MIN, INT64_MAX, 0, INT64_MAX},
        {"-9223372036854775808", INT64_MIN, INT64_MAX, 0, INT64_MIN},
        {"9223372036854775808", INT64_MIN, INT64_MAX, -1, 0}, /* overflow */
        {"11", 0, 10, -1, 0},
        {"-1", 0, 10, -1, 0},
        {"", 0, 10, -1, 0},
        {"5x", 0, 10, -1, 0},
        {"x5", 0, 10, -1, 0},
        {"1.5", 0, 10, -1, 0},
    };
    static const struct {
        const char *in;
        double min, max;
        int rc;
        double want;
    } dbls[] = {
        {"1.5", 0, 10, 0, 1.5},      {"0", 0, 10, 0, 0},         {"-2.25", -10, 10, 0, -2.25},
        {"1e2", 0, 1000, 0, 100},    {"10.5", 0, 10, -1, 0},     {"nan", -1e9, 1e9, -1, 0},
        {"inf", -1e9, 1e300, -1, 0}, {"1e999", 0, 1e300, -1, 0}, {"", 0, 10, -1, 0},
        {"2,5", 0, 10, -1, 0},       {"3 ", 0, 10, -1, 0},
    };

    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        int64_t v = 0;
        int rc = cv_parse_i64(ints[i].in, ints[i].min, ints[i].max, &v);
        CHECK_MSG(rc == ints[i].rc && (rc < 0 || v == ints[i].want),
                  "cv_parse_i64(\"%s\"): rc %d v %lld, want rc %d v %lld", ints[i].in, rc,
                  (long long)v, ints[i].rc, (long long)ints[i].want);
    }
    for (size_t i = 0; i < sizeof(dbls) / sizeof(dbls[0]); i++) {
        double v = 0;
        int rc = cv_parse_double(dbls[i].in, dbls[i].min, dbls[i].max, &v);
        CHECK_MSG(rc == dbls[i].rc && (rc < 0 || v == dbls[i].want),
                  "cv_parse_double(\"%s\"): rc %d v %g, want rc %d v %g", dbls[i].in, rc, v,
                  dbls[i].rc, dbls[i].want);
    }
    CHECK_EQ_INT(cv_parse_i64(NULL, 0, 10, &(int64_t){0}), -1);
}
