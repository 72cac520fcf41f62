/*
 * unit.h: the tiny harness of camvault's C unit tests.
 *
 * A test is a `void test_<name>(void)` function in tests/unit/test_<module>.c plus one line in the
 * registry of tests/unit/main.c. Inside a test the CHECK macros record a failure (file:line, the
 * expression and the values) and carry on, so one run shows every broken expectation of a test,
 * not only the first. main.c runs each test in its own child process: a crash or a hang in the
 * code under test becomes one failed test instead of a lost run, and a test may change process
 * state (TZ, the current directory, the environment) without touching the others.
 */
#ifndef UNIT_UNIT_H
#define UNIT_UNIT_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct unit_test {
    const char *name;
    void (*fn)(void);
};

/* Record a failure of the running test; printed as "FAIL <test>: <file>:<line>: <message>". */
void unit_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Failures recorded so far by the running test (lets a loop stop after the first few). */
int unit_failures(void);

/*
 * The run's scratch directory (/tmp/camvault-unit-XXXXXX), removed by main.c when every test
 * has finished, so that a test killed by a crash or a hang leaves nothing behind in /tmp.
 */
const char *unit_tmp_base(void);

/* The number of elements of array a. */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The rows of table-driven tests: the shapes that recur, named once, so that a table of cases
 * reads the same in every file and its loop checks each row with one macro below.
 */
/* Text in; the code it must give (0 or a CV_E* code) and a part of the error ("" for any). */
struct unit_text_case {
    const char *in;
    int rc;
    const char *msg;
};
/* n bytes in (NULs allowed); the text expected of them (NULL: none). */
struct unit_bytes_case {
    const char *bytes;
    size_t n;
    const char *want;
};
/* Text in; the text expected (the output, or a part of the error). */
struct unit_str_case {
    const char *in;
    const char *want;
};

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            unit_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                                     \
    } while (0)

/* Like CHECK, with a printf-style explanation of what was being checked. */
#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            unit_fail(__FILE__, __LINE__, __VA_ARGS__);                                            \
    } while (0)

#define CHECK_EQ_INT(got, want)                                                                    \
    do {                                                                                           \
        intmax_t unit_g_ = (intmax_t)(got), unit_w_ = (intmax_t)(want);                            \
        if (unit_g_ != unit_w_)                                                                    \
            unit_fail(__FILE__, __LINE__, "%s == %s: got %jd, want %jd", #got, #want, unit_g_,     \
                      unit_w_);                                                                    \
    } while (0)

#define CHECK_EQ_U64(got, want)                                                                    \
    do {                                                                                           \
        uint64_t unit_g_ = (uint64_t)(got), unit_w_ = (uint64_t)(want);                            \
        if (unit_g_ != unit_w_)                                                                    \
            unit_fail(__FILE__, __LINE__, "%s == %s: got %" PRIu64 ", want %" PRIu64, #got, #want, \
                      unit_g_, unit_w_);                                                           \
    } while (0)

/* NULL compares equal only to NULL. */
#define CHECK_EQ_STR(got, want)                                                                    \
    do {                                                                                           \
        const char *unit_g_ = (got), *unit_w_ = (want);                                            \
        if (!unit_g_ || !unit_w_ ? unit_g_ != unit_w_ : strcmp(unit_g_, unit_w_) != 0)             \
            unit_fail(__FILE__, __LINE__, "%s == %s: got \"%s\", want \"%s\"", #got, #want,        \
                      unit_g_ ? unit_g_ : "(null)", unit_w_ ? unit_w_ : "(null)");                 \
    } while (0)

/* Row c (a struct unit_text_case *) held: its call returned got_rc with error text got_msg. */
#define CHECK_TEXT_CASE(c, got_rc, got_msg)                                                        \
    CHECK_MSG((got_rc) == (c)->rc && strstr((got_msg), (c)->msg) != NULL,                          \
              "'%s': got %d '%s', want %d '%s'", (c)->in, (got_rc), (got_msg), (c)->rc, (c)->msg)

/* `hay` contains `needle` (both strings). */
#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *unit_h_ = (hay), *unit_n_ = (needle);                                          \
        if (!unit_h_ || !strstr(unit_h_, unit_n_))                                                 \
            unit_fail(__FILE__, __LINE__, "%s contains \"%s\": got \"%s\"", #hay, unit_n_,         \
                      unit_h_ ? unit_h_ : "(null)");                                               \
    } while (0)

#define CHECK_EQ_MEM(got, want, n)                                                                 \
    do {                                                                                           \
        if (memcmp((got), (want), (n)) != 0)                                                       \
            unit_fail(__FILE__, __LINE__, "%s == %s: %zu bytes differ", #got, #want, (size_t)(n)); \
    } while (0)

/* A call that must succeed: rc is 0, else the failure shows the code and the error message. */
#define CHECK_OK(call, err)                                                                        \
    do {                                                                                           \
        int unit_rc_ = (call);                                                                     \
        if (unit_rc_ != 0)                                                                         \
            unit_fail(__FILE__, __LINE__, "%s: rc %d: %s", #call, unit_rc_, (err)->msg);           \
    } while (0)

#endif
