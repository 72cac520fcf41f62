/*
 * verify_clock.c: what a package's checkpoints say about the recorder's clock (common/clock.h)
 * over the exported range. Every checkpoint since this camvault carries a line
 * "clock <synchronized|unsynchronized> esterror_us N maxerror_us N source S"; the export puts
 * the checkpoints of the range where that state changes into integrity/checkpoints.log
 * (exporter/export.c). The report is one "clock" line: not a failure either way (the
 * package's integrity does not rest on the clock), but it says plainly when the times in the
 * package rest on a clock that was not synchronised.
 */
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "exporter/verify_int.h"
#include "common/banned.h"

struct clock_sum {
    unsigned blocks, lines, unsynced;
    int64_t max_err_us;
    char first[40], last[40], first_bad[40];
};

/* The value of line `key` ("time ", "clock ") in block [p, end) into out (without newline). */
static const char *line_of(const char *p, const char *end, const char *key, size_t *len)
{
    size_t kl = strlen(key);

    for (const char *l = p; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        if (!nl)
            nl = end;
        if ((size_t)(nl - l) > kl && strncmp(l, key, kl) == 0) {
            *len = (size_t)(nl - l);
            return l;
        }
        l = nl + 1;
    }
    return NULL;
}

static void add_block(struct clock_sum *s, const char *p, const char *end)
{
    struct cv_clock c;
    char src[32], when[40] = "?";
    size_t tl = 0, cl = 0;
    const char *t = line_of(p, end, "time ", &tl), *k = line_of(p, end, "clock ", &cl);

    s->blocks++;
    if (t)
        snprintf(when, sizeof(when), "%.*s", (int)(tl - 5), t + 5);
    if (!k || cv_clock_parse(k, cl, &c, src) < 0)
        return;
    s->lines++;
    if (!s->first[0])
        cv_strlcpy(s->first, when, sizeof(s->first));
    cv_strlcpy(s->last, when, sizeof(s->last));
    if (!c.synced && !s->unsynced++)
        cv_strlcpy(s->first_bad, when, sizeof(s->first_bad));
    if (c.esterror_us > s->max_err_us)
        s->max_err_us = c.esterror_us;
}

void exp_ver_clock(struct ver *v)
{
    const struct ent *log = exp_ver_find(v, "integrity/checkpoints.log");
    struct clock_sum s;

    if (!log || !log->data)
        return; /* check_integrity reported it */
    memset(&s, 0, sizeof(s));
    for (const char *p = log->data; p && *p;) {
        const char *end = strstr(p, "\n\n");
        add_block(&s, p, end ? end + 1 : p + strlen(p));
        p = end ? end + 2 : NULL;
    }
    if (s.lines == 0)
        exp_ver_report(v, true, "clock",
                       "no checkpoint of the package records the clock's state (made by a "
                       "camvault before clock checks)");
    else if (s.unsynced)
        exp_ver_report(v, true, "clock",
                       "system clock NOT synchronised at %u of %u checkpoints (first at %s; "
                       "estimated error up to %.3f s): the times in this package rest on an "
                       "unsynchronised clock",
                       s.unsynced, s.lines, s.first_bad, (double)s.max_err_us / 1e6);
    else
        exp_ver_report(v, true, "clock",
                       "system clock synchronised at all %u checkpoints from %s to %s "
                       "(estimated error up to %.3f s)",
                       s.lines, s.first, s.last, (double)s.max_err_us / 1e6);
}
