/*
 * test_json.c: the strict JSON reader (common/json.h): what it accepts comes back exactly, and
 * every kind of bad or oversized input is refused with a message that says what, never read
 * past its end (the fuzz test in test_server.c feeds it mutations too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

void test_json_good(void)
{
    static const char text[] =
        " {\"a\": 1, \"b\": [true, false, null, -0.5e2, \"x\\u00e9\\ud83d\\ude00\\n\"],"
        " \"c\": {\"d\": \"\"}, \"n\": 9007199254740993} ";
    struct cv_json *doc = NULL;
    struct cv_err err = {""};
    const struct cv_jv *root, *b, *v;
    int64_t n = 0;

    CHECK_OK(cv_json_parse(text, strlen(text), NULL, &doc, &err), &err);
    root = cv_json_root(doc);
    CHECK(root && root->type == CV_JSON_OBJ && root->len == 4);
    v = cv_json_get(root, "a");
    CHECK(v && v->type == CV_JSON_NUM && v->num == 1);
    b = cv_json_get(root, "b");
    CHECK(b && b->type == CV_JSON_ARR && b->len == 5);
    if (b && b->len == 5) {
        v = b->child;
        CHECK(v->type == CV_JSON_BOOL && v->b);
        v = v->next;
        CHECK(v->type == CV_JSON_BOOL && !v->b);
        v = v->next;
        CHECK(v->type == CV_JSON_NULL);
        v = v->next;
        CHECK(v->type == CV_JSON_NUM && v->num == -50);
        v = v->next;
        CHECK(v->type == CV_JSON_STR);
        CHECK_EQ_STR(v->str, "x\xc3\xa9\xf0\x9f\x98\x80\n");
        CHECK_EQ_INT(v->len, 8);
    }
    CHECK(cv_json_get(cv_json_get(root, "c"), "d") != NULL);
    /* Integers beyond 2^53 are read from the text, not through a double. */
    CHECK_OK(cv_json_get_i64(root, "n", true, 0, INT64_MAX, &n, &err), &err);
    CHECK_EQ_U64(n, UINT64_C(9007199254740993));
    cv_json_free(doc);
}

void test_json_bad(void)
{
    static const struct unit_str_case cases[] = {
        {"", "unexpected end"},
        {"{", "expected a member name"},
        {"{\"a\":1,}", "expected a member name"},
        {"[1,]", "unexpected character"},
        {"{\"a\":1 \"b\":2}", "expected ','"},
        {"{\"a\":1,\"a\":2}", "duplicate key 'a'"},
        {"\"abc", "unterminated string"},
        {"\"a\x01\"", "control character"},
        {"\"\\u0000\"", "NUL character"},
        {"\"\\ud800\"", "unpaired surrogate"},
        {"\"\\udc00\"", "unpaired surrogate"},
        {"\"\\x\"", "bad escape"},
        {"\"\\u12g4\"", "bad \\u escape"},
        {"\"\xff\"", "invalid UTF-8"},
        {"\"\xc0\xaf\"", "invalid UTF-8"},
        {"\"\xed\xa0\x80\"", "invalid UTF-8"},
        {"01", "leading zero"},
        {"1.", "bad number"},
        {"-", "bad number"},
        {"1e", "bad number"},
        {"1e999", "out of range"},
        {"tru", "unexpected character"},
        {"nul", "unexpected character"},
        {"{} x", "trailing characters"},
        {"[[[[[[[[[1]]]]]]]]]", "nested too deeply"},
        {"NaN", "unexpected character"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cv_json *doc = (struct cv_json *)1;
        struct cv_err err = {""};
        int rc = cv_json_parse(cases[i].in, strlen(cases[i].in), NULL, &doc, &err);
        CHECK_MSG(rc < 0, "'%s' was accepted", cases[i].in);
        CHECK(doc == NULL);
        CHECK_CONTAINS(err.msg, cases[i].want);
        CHECK(strncmp(err.msg, "JSON: ", 6) == 0);
    }
}

void test_json_limits(void)
{
    struct cv_json_limits lim = {.max_bytes = 100, .max_string = 8, .max_items = 3};
    struct cv_json *doc = NULL;
    struct cv_err err = {""};
    char big[200];

    memset(big, ' ', sizeof(big));
    big[0] = '1';
    CHECK_EQ_INT(cv_json_parse(big, sizeof(big), &lim, &doc, &err), CV_ELIMIT);
    CHECK_EQ_INT(cv_json_parse("\"123456789\"", 11, &lim, &doc, &err), CV_ELIMIT);
    CHECK_CONTAINS(err.msg, "string too long");
    CHECK_OK(cv_json_parse("\"12345678\"", 10, &lim, &doc, &err), &err);
    cv_json_free(doc);
    CHECK_EQ_INT(cv_json_parse("[1,2,3,4]", 9, &lim, &doc, &err), CV_ELIMIT);
    CHECK_CONTAINS(err.msg, "too many items");
    /* The input need not be NUL-terminated: only len bytes are read. */
    CHECK_OK(cv_json_parse("[1,2]garbage", 5, &lim, &doc, &err), &err);
    cv_json_free(doc);
}

void test_json_fields(void)
{
    static const char text[] = "{\"name\":\"x\",\"days\":2.5,\"on\":true,\"n\":null,\"count\":3}";
    static const char *const allowed[] = {"name", "days", "on", "n", "count", NULL};
    static const char *const fewer[] = {"name", NULL};
    struct cv_json *doc = NULL;
    struct cv_err err = {""};
    const struct cv_jv *o;
    const char *s = NULL;
    double d = 0;
    bool b = false;
    int64_t i = 0;

    CHECK_OK(cv_json_parse(text, strlen(text), NULL, &doc, &err), &err);
    o = cv_json_root(doc);
    CHECK_OK(cv_json_only(o, allowed, &err), &err);
    CHECK_EQ_INT(cv_json_only(o, fewer, &err), CV_EINVAL);
    CHECK_CONTAINS(err.msg, "unknown field 'days'");
    CHECK_OK(cv_json_get_str(o, "name", true, &s, &err), &err);
    CHECK_EQ_STR(s, "x");
    CHECK_OK(cv_json_get_num(o, "days", true, 0, 10, false, &d, &err), &err);
    CHECK(d == 2.5);
    CHECK_EQ_INT(cv_json_get_num(o, "days", true, 0, 10, true, &d, &err), CV_EINVAL);
    CHECK_EQ_INT(cv_json_get_num(o, "days", true, 3, 10, false, &d, &err), CV_EINVAL);
    CHECK_OK(cv_json_get_bool(o, "on", true, &b, &err), &err);
    CHECK(b);
    CHECK_EQ_INT(cv_json_get_str(o, "n", false, &s, &err), 1); /* null = absent */
    CHECK_EQ_INT(cv_json_get_str(o, "n", true, &s, &err), CV_EINVAL);
    CHECK_CONTAINS(err.msg, "field 'n' is required");
    CHECK_EQ_INT(cv_json_get_str(o, "days", true, &s, &err), CV_EINVAL);
    CHECK_CONTAINS(err.msg, "field 'days': expected a string");
    CHECK_OK(cv_json_get_i64(o, "count", true, 0, 5, &i, &err), &err);
    CHECK_EQ_INT(i, 3);
    CHECK_EQ_INT(cv_json_get_i64(o, "days", true, 0, 5, &i, &err), CV_EINVAL);
    CHECK_EQ_INT(cv_json_only(cv_json_get(o, "name"), allowed, &err), CV_EINVAL);
    CHECK_CONTAINS(err.msg, "expected a JSON object");
    cv_json_free(doc);
}
