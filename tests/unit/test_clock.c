/*
 * test_clock.c: the clock's synchronisation state (common/clock.h): the test hook's values, the
 * checkpoint line's round trip, and lines the parser must refuse.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

void test_clock_hook(void)
{
    static const struct {
        const char *env;
        bool synced;
        int64_t err_us;
    } cases[] = {
        {"sync:2000", true, 2000},    {"unsync:250000", false, 250000},
        {"sync:0", true, 0},          {"sync", false, 16000000}, /* malformed: never a good clock */
        {"sync:-5", false, 16000000}, {"sync:12x", false, 16000000},
        {"synced:5", false, 5}, /* not "sync": unsynchronised */
        {"unsync:", false, 16000000},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cv_clock c;
        setenv(CV_CLOCK_ENV, cases[i].env, 1);
        cv_clock_read(&c);
        CHECK_EQ_INT(c.synced, cases[i].synced);
        CHECK_EQ_INT(c.esterror_us, cases[i].err_us);
        CHECK_EQ_INT(c.maxerror_us, cases[i].err_us);
        CHECK_EQ_STR(c.source, "test-hook");
    }
    unsetenv(CV_CLOCK_ENV);
}

void test_clock_line_round_trip(void)
{
    struct cv_clock in = {false, 250000, 16000000, "adjtimex"}, out;
    char line[CV_CLOCK_LINE_MAX], src[32], warn[160];

    cv_clock_line(&in, line, sizeof(line));
    CHECK_EQ_STR(line, "clock unsynchronized esterror_us 250000 maxerror_us 16000000 "
                       "source adjtimex");
    CHECK_EQ_INT(cv_clock_parse(line, strlen(line), &out, src), 0);
    CHECK_EQ_INT(out.synced, false);
    CHECK_EQ_INT(out.esterror_us, 250000);
    CHECK_EQ_INT(out.maxerror_us, 16000000);
    CHECK_EQ_STR(src, "adjtimex");
    CHECK(cv_clock_warning(&in, warn, sizeof(warn)));
    CHECK_EQ_STR(warn, "system clock not synchronised (estimated error 0.250 s, adjtimex)");
    in.synced = true;
    CHECK(!cv_clock_warning(&in, warn, sizeof(warn)));
    CHECK_EQ_STR(warn, "");
    cv_clock_line(&in, line, sizeof(line));
    CHECK_EQ_INT(cv_clock_parse(line, strlen(line), &out, src), 0);
    CHECK_EQ_INT(out.synced, true);
}

void test_clock_parse_bad(void)
{
    static const char *const bad[] = {
        "clock maybe esterror_us 1 maxerror_us 1 source x",
        "clock synchronized esterror_us -1 maxerror_us 1 source x",
        "clock synchronized esterror_us 1 maxerror_us 1",
        "clock synchronized esterror_us 1 maxerror_us 1 source x trailing",
        "clocks synchronized esterror_us 1 maxerror_us 1 source x",
        "",
    };
    struct cv_clock c;
    char src[32];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(cv_clock_parse(bad[i], strlen(bad[i]), &c, src), -1);
}
