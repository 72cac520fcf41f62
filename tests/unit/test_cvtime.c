/*
 * test_cvtime.c: camvault's time parsing and formatting (common/cvtime.h).
 *
 * Every time a user types (--from, --to, API queries) goes through cv_time_parse, and every time
 * a user reads goes through the formatters, so both are checked against tables of exact values:
 * zones, fractions of every length, the @unix form, and inputs that must be refused with a
 * message that quotes them.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cvtime.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define T0 INT64_C(1795339800000000) /* 2026-11-22T09:30:00Z */

void test_cvtime_parse_good(void)
{
    static const struct {
        const char *in;
        int64_t us;
    } cases[] = {
        {"2026-11-22T09:30:00Z", T0},
        {"2026-11-22T17:30:00+08:00", T0},
        {"2026-11-22T04:00:00-05:30", T0},
        {"2026-11-22T09:30:00+00:00", T0},
        {"2026-11-22T09:30:00-00:00", T0},
        {"2026-11-22 09:30:00Z", T0},
        {"2026-11-22t09:30:00z", T0},
        {"2026-11-22T09:30:00.5Z", T0 + 500000},
        {"2026-11-22T09:30:00.12Z", T0 + 120000},
        {"2026-11-22T09:30:00.123Z", T0 + 123000},
        {"2026-11-22T09:30:00.1234Z", T0 + 123400},
        {"2026-11-22T09:30:00.12345Z", T0 + 123450},
        {"2026-11-22T09:30:00.123456Z", T0 + 123456},
        {"2026-11-22T09:30:00.1234567Z", T0 + 123456},
        {"2026-11-22T09:30:00.12345678Z", T0 + 123456},
        {"2026-11-22T09:30:00.123456789Z", T0 + 123456},
        {"2026-11-22T09:30:00.000001Z", T0 + 1},
        {"2026-11-22T17:30:00.5+08:00", T0 + 500000},
        {"2026-11-23T01:00:00+15:30", T0},
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:00.000001Z", 1},
        {"2028-02-29T00:00:00Z", INT64_C(1835395200000000)},
        {"2000-02-29T12:00:00Z", INT64_C(951825600000000)},
        {"9999-12-31T23:59:59Z", INT64_C(253402300799000000)},
        {"@1795339800", T0},
        {"@1795339800.5", T0 + 500000},
        {"@1795339800.000001", T0 + 1},
        {"@1795339800.1234567", T0 + 123456},
        {"@0", 0},
        {"@0.25", 250000},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cv_err err = {""};
        int64_t us = -42;
        int rc = cv_time_parse(cases[i].in, &us, &err);
        CHECK_MSG(rc == 0, "'%s': rc %d: %s", cases[i].in, rc, err.msg);
        CHECK_MSG(us == cases[i].us, "'%s': got %lld, want %lld", cases[i].in, (long long)us,
                  (long long)cases[i].us);
    }
}

/* Each of the n strings of `bad` is refused by parse: CV_EINVAL, and a message that quotes it. */
static void check_rejected(int (*parse)(const char *, int64_t *, struct cv_err *),
                           const char *const *bad, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct cv_err err = {""};
        char quoted[128];
        int64_t us = 0;
        int rc = parse(bad[i], &us, &err);
        CHECK_MSG(rc == CV_EINVAL, "'%s': rc %d (want CV_EINVAL), us %lld", bad[i], rc,
                  (long long)us);
        snprintf(quoted, sizeof(quoted), "'%s'", bad[i]);
        CHECK_MSG(strstr(err.msg, quoted) != NULL, "'%s': message does not quote it: \"%s\"",
                  bad[i], err.msg);
    }
}

void test_cvtime_parse_bad(void)
{
    static const char *const cases[] = {
        "2026-11-22T09:30:00",       /* no zone */
        "2026-13-01T00:00:00Z",      /* month 13 */
        "2026-00-01T00:00:00Z",      /* month 0 */
        "2026-11-00T00:00:00Z",      /* day 0 */
        "2026-11-31T00:00:00Z",      /* November has 30 days */
        "2026-02-30T00:00:00Z",      /* Feb 30 */
        "2026-02-29T00:00:00Z",      /* not a leap year (2028 is: see the good table) */
        "2100-02-29T00:00:00Z",      /* century, not a leap year */
        "2026-11-22T24:00:00Z",      /* hour 24 */
        "2026-11-22T09:60:00Z",      /* minute 60 */
        "2026-11-22T09:30:60Z",      /* leap second */
        "2026-11-22T09:30:00Zjunk",  /* trailing junk */
        "2026-11-22T09:30:00Z ",     /* trailing space */
        "2026-11-22T09:30:00+08",    /* offset without minutes */
        "2026-11-22T09:30:00+24:00", /* offset hour out of range */
        "2026-11-22T09:30:00+08:60", /* offset minute out of range */
        "2026-11-22T09:30:00.Z",     /* a dot without digits */
        "2026-11-22X09:30:00Z",      /* bad separator */
        "2026-1-22T09:30:00Z",       /* one-digit month */
        "1969-12-31T23:59:59Z",      /* before 1970 */
        "26-11-22T09:30:00Z",        /* two-digit year */
        "",                          /* empty */
        "@",                         /* no digits */
        "@-1",                       /* negative */
        "@+1",                       /* sign */
        "@1.",                       /* a dot without digits */
        "@1795339800x",              /* trailing junk */
        "@1234567890123",            /* 13 digits: past year 9999 */
        "2026-11-22T09:30:00.000000000000000000000000000000000000000000000000Z", /* too long */
    };

    check_rejected(cv_time_parse, cases, sizeof(cases) / sizeof(cases[0]));
}

static unsigned month_days(int64_t y, unsigned m)
{
    static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 ? 28u + (unsigned)leap : dm[m - 1];
}

void test_cvtime_civil_round_trip(void)
{
    int64_t last = cv_days_from_civil(2400, 12, 31), y, prev_y = 1969;
    unsigned m, d;

    CHECK_EQ_INT(cv_days_from_civil(1970, 1, 1), 0);
    CHECK_EQ_INT(cv_days_from_civil(2000, 3, 1), 11017);
    CHECK_EQ_INT(cv_days_from_civil(2026, 11, 22), 20779);
    CHECK_EQ_INT(last, 157419);
    cv_civil_from_days(20779, &y, &m, &d);
    CHECK(y == 2026 && m == 11 && d == 22);
    for (int64_t day = 0; day <= last && unit_failures() < 10; day += 37) {
        cv_civil_from_days(day, &y, &m, &d);
        CHECK_MSG(m >= 1 && m <= 12 && d >= 1 && d <= month_days(y, m),
                  "day %lld -> %lld-%u-%u is not a date", (long long)day, (long long)y, m, d);
        CHECK_MSG(y >= prev_y && y - prev_y <= 1, "day %lld: year %lld after %lld", (long long)day,
                  (long long)y, (long long)prev_y);
        CHECK_MSG(cv_days_from_civil(y, m, d) == day, "day %lld -> %lld-%u-%u -> %lld",
                  (long long)day, (long long)y, m, d, (long long)cv_days_from_civil(y, m, d));
        prev_y = y;
    }
    /* Month ends of leap and common years, both ways. */
    CHECK_EQ_INT(cv_days_from_civil(2028, 3, 1) - cv_days_from_civil(2028, 2, 28), 2);
    CHECK_EQ_INT(cv_days_from_civil(2026, 3, 1) - cv_days_from_civil(2026, 2, 28), 1);
    CHECK_EQ_INT(cv_days_from_civil(2100, 3, 1) - cv_days_from_civil(2100, 2, 28), 1);
    CHECK_EQ_INT(cv_days_from_civil(2400, 3, 1) - cv_days_from_civil(2400, 2, 28), 2);
}

void test_cvtime_format_utc(void)
{
    static const struct {
        int64_t us;
        int digits;
        const char *want;
    } cases[] = {
        {T0 + 123456, 0, "2026-11-22T09:30:00Z"},
        {T0 + 123456, 3, "2026-11-22T09:30:00.123Z"},
        {T0 + 123456, 6, "2026-11-22T09:30:00.123456Z"},
        {T0 + 999999, 3, "2026-11-22T09:30:00.999Z"},
        {T0 + 1, 6, "2026-11-22T09:30:00.000001Z"},
        {0, 0, "1970-01-01T00:00:00Z"},
        {0, 6, "1970-01-01T00:00:00.000000Z"},
        {INT64_C(1835395200000000), 0, "2028-02-29T00:00:00Z"},
        {INT64_C(253402300799999999), 6, "9999-12-31T23:59:59.999999Z"},
    };
    char buf[40], small[11];
    size_t n;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(buf, 'x', sizeof(buf));
        n = cv_time_format_utc(cases[i].us, buf, sizeof(buf), cases[i].digits);
        CHECK_EQ_STR(buf, cases[i].want);
        CHECK_EQ_INT(n, strlen(cases[i].want));
    }
    /* Every formatted time parses back to itself (at the precision printed). */
    cv_time_format_utc(T0 + 654321, buf, sizeof(buf), 6);
    {
        struct cv_err err = {""};
        int64_t back = 0;
        CHECK_OK(cv_time_parse(buf, &back, &err), &err);
        CHECK_EQ_INT(back, T0 + 654321);
    }
    /* A short buffer is truncated and terminated. */
    memset(small, 'x', sizeof(small));
    n = cv_time_format_utc(T0, small, sizeof(small), 0);
    CHECK_EQ_STR(small, "2026-11-22");
    CHECK_EQ_INT(n, 10);
}

static void set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

void test_cvtime_format_local(void)
{
    static const struct {
        const char *tz;
        int64_t us;
        int digits;
        const char *want;
    } cases[] = {
        {"Asia/Shanghai", T0, 0, "2026-11-22T17:30:00+08:00"},
        {"Asia/Shanghai", T0 + 123456, 3, "2026-11-22T17:30:00.123+08:00"},
        {"Asia/Shanghai", T0 + 37800 * CV_US_PER_S, 0, "2026-11-23T04:00:00+08:00"},
        {"UTC", T0, 0, "2026-11-22T09:30:00+00:00"},
        {"UTC", T0 + 123456, 6, "2026-11-22T09:30:00.123456+00:00"},
        {"<-0530>5:30", T0, 0, "2026-11-22T04:00:00-05:30"},
        {"<+0545>-5:45", T0, 0, "2026-11-22T15:15:00+05:45"},
    };
    char buf[40];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n;
        set_tz(cases[i].tz);
        n = cv_time_format_local(cases[i].us, buf, sizeof(buf), cases[i].digits);
        CHECK_EQ_STR(buf, cases[i].want);
        CHECK_MSG(n == strlen(cases[i].want), "TZ=%s: length %zu", cases[i].tz, n);
        /* The local form names its zone, so it parses back to the same instant. */
        {
            struct cv_err err = {""};
            int64_t back = 0, want = cases[i].us;
            if (cases[i].digits == 0)
                want -= want % CV_US_PER_S;
            else if (cases[i].digits == 3)
                want -= want % 1000;
            CHECK_OK(cv_time_parse(buf, &back, &err), &err);
            CHECK_EQ_INT(back, want);
        }
    }
    unsetenv("TZ");
    tzset();
}

void test_cvtime_seconds_parse(void)
{
    static const struct {
        const char *in;
        int64_t us;
    } good[] = {
        {"90", 90 * CV_US_PER_S},    {"1.5", 1500000}, {"0.000001", 1},
        {"1e3", 1000 * CV_US_PER_S}, {"0.5", 500000},  {"86400", INT64_C(86400000000)},
    };
    static const char *const bad[] = {"",      "0",   "-1",  "-0.5", "abc", "1s",
                                      "1.5.2", "nan", "inf", "1e10", "0x"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct cv_err err = {""};
        int64_t us = 0;
        int rc = cv_seconds_parse(good[i].in, &us, &err);
        CHECK_MSG(rc == 0 && us == good[i].us, "'%s': rc %d, us %lld, want %lld (%s)", good[i].in,
                  rc, (long long)us, (long long)good[i].us, err.msg);
    }
    check_rejected(cv_seconds_parse, bad, sizeof(bad) / sizeof(bad[0]));
}
