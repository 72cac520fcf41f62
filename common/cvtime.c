/*
 * cvtime.c: RFC 3339 parsing and formatting on int64_t microseconds, done with integer civil-date
 * arithmetic (days from civil) so that it never depends on the TZ environment except where local
 * time is explicitly asked for.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cvtime.h"
#include "common/banned.h"

int64_t cv_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * CV_US_PER_S + ts.tv_nsec / 1000;
}

int64_t cv_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * CV_US_PER_S + ts.tv_nsec / 1000;
}

/* Howard Hinnant's days_from_civil, written from the published derivation. */
int64_t cv_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void cv_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Read exactly `n` digits at *p into *out; advances *p. */
static int take_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 ? 28 + leap : dm[m - 1];
}

/* At *p == '.': the fraction's digits as microseconds (past the sixth, ignored) into *frac,
 * *p past them; -1 when no digit follows the point. */
static int take_fraction(const char **p, int64_t *frac)
{
    const char *q = *p + 1;
    int64_t scale = CV_US_PER_S;

    if (!isdigit((unsigned char)*q))
        return -1;
    for (; isdigit((unsigned char)*q); q++) {
        if (scale > 1) {
            scale /= 10;
            *frac += (*q - '0') * scale;
        }
    }
    *p = q;
    return 0;
}

static int parse_unix(const char *s, int64_t *out_us, struct cv_err *err)
{
    const char *p = s + 1;
    int64_t sec = 0, frac = 0;
    int digits = 0;

    if (!isdigit((unsigned char)*p))
        goto bad;
    while (isdigit((unsigned char)*p)) {
        if (sec > (INT64_MAX / CV_US_PER_S - 9) / 10)
            goto bad;
        sec = sec * 10 + (*p++ - '0');
        digits++;
    }
    if (*p == '.' && take_fraction(&p, &frac) < 0)
        goto bad;
    if (*p != '\0' || digits > 12)
        goto bad;
    *out_us = sec * CV_US_PER_S + frac;
    return 0;
bad:
    return cv_errf(err, CV_EINVAL, "bad time '%s': expected @UNIXSECONDS like @1795339800", s);
}

int cv_time_parse(const char *s, int64_t *out_us, struct cv_err *err)
{
    const char *p = s;
    int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0;
    int64_t frac = 0, days, total;

    if (!s || !*s)
        return cv_errf(err, CV_EINVAL, "bad time '': expected RFC 3339 or @UNIXSECONDS");
    if (s[0] == '@')
        return parse_unix(s, out_us, err);
    if (strlen(s) > 64)
        goto bad;
    if (take_digits(&p, 4, &Y) || *p++ != '-' || take_digits(&p, 2, &M) || *p++ != '-' ||
        take_digits(&p, 2, &D))
        goto bad;
    if (*p != 'T' && *p != 't' && *p != ' ')
        goto bad;
    p++;
    if (take_digits(&p, 2, &h) || *p++ != ':' || take_digits(&p, 2, &m) || *p++ != ':' ||
        take_digits(&p, 2, &sec))
        goto bad;
    if (*p == '.' && take_fraction(&p, &frac) < 0)
        goto bad;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (take_digits(&p, 2, &oh) || *p++ != ':' || take_digits(&p, 2, &om))
            goto bad;
        if (oh > 23 || om > 59)
            goto bad;
    } else {
        goto zone;
    }
    if (*p != '\0')
        goto bad;
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || m > 59 ||
        sec > 59)
        goto range;
    days = cv_days_from_civil(Y, (unsigned)M, (unsigned)D);
    total = ((days * 24 + h) * 60 + m) * 60 + sec;
    total -= (int64_t)sign * (oh * 3600 + om * 60);
    *out_us = total * CV_US_PER_S + frac;
    return 0;
zone:
    return cv_errf(err, CV_EINVAL, "bad time '%s': RFC 3339 needs a zone ('Z' or '+08:00')", s);
range:
    return cv_errf(err, CV_EINVAL, "bad time '%s': a date or time field is out of range", s);
bad:
    return cv_errf(err, CV_EINVAL,
                   "bad time '%s': expected RFC 3339 like 2026-11-22T09:30:00Z or @UNIXSECONDS", s);
}

static size_t format_fields(int64_t us, int offset_s, char *buf, size_t n, int frac_digits)
{
    int64_t secs = us / CV_US_PER_S, sub = us % CV_US_PER_S, days, y;
    unsigned mo, d;
    int sod, r;
    char fracbuf[16] = "", zone[16];

    if (sub < 0) {
        sub += CV_US_PER_S;
        secs--;
    }
    secs += offset_s;
    days = secs / 86400;
    sod = (int)(secs % 86400);
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    cv_civil_from_days(days, &y, &mo, &d);
    if (frac_digits == 3)
        snprintf(fracbuf, sizeof(fracbuf), ".%03d", (int)(sub / 1000));
    else if (frac_digits == 6)
        snprintf(fracbuf, sizeof(fracbuf), ".%06d", (int)sub);
    if (offset_s == 0 && frac_digits >= 0)
        snprintf(zone, sizeof(zone), "Z");
    else
        snprintf(zone, sizeof(zone), "%c%02d:%02d", offset_s < 0 ? '-' : '+',
                 abs(offset_s) / 3600, abs(offset_s) % 3600 / 60);
    r = snprintf(buf, n, "%04lld-%02u-%02uT%02d:%02d:%02d%s%s", (long long)y, mo, d, sod / 3600,
                 sod % 3600 / 60, sod % 60, fracbuf, zone);
    if (r < 0)
        return 0;
    return (size_t)r < n ? (size_t)r : n ? n - 1 : 0;
}

size_t cv_time_format_utc(int64_t us, char *buf, size_t n, int frac_digits)
{
    return format_fields(us, 0, buf, n, frac_digits);
}

size_t cv_time_format_local(int64_t us, char *buf, size_t n, int frac_digits)
{
    time_t t = (time_t)(us / CV_US_PER_S);
    struct tm tm;
    int off = 0;
    size_t len;

    if (localtime_r(&t, &tm))
        off = (int)tm.tm_gmtoff;
    len = format_fields(us, off, buf, n, frac_digits);
    /* A zero offset in local time still prints "+00:00": the reader asked for local time. */
    if (off == 0 && len > 0 && buf[len - 1] == 'Z' && len + 6 <= n) {
        memcpy(buf + len - 1, "+00:00", 7);
        len += 5;
    }
    return len;
}

int cv_seconds_parse(const char *s, int64_t *out_us, struct cv_err *err)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v) || v <= 0 || v > 1e9)
        return cv_errf(err, CV_EINVAL, "bad duration '%s': expected a positive number of seconds",
                       s);
    *out_us = (int64_t)llround(v * 1e6);
    return 0;
}

void cv_json_time(struct cv_buf *b, const char *key, int64_t us)
{
    char utc[48], loc[48];

    cv_time_format_utc(us, utc, sizeof(utc), 6);
    cv_time_format_local(us, loc, sizeof(loc), 6);
    cv_buf_printf(b, "\"%s\":\"%s\",\"%s_local\":\"%s\",\"%s_us\":%lld", key, utc, key, loc, key,
                  (long long)us);
}

void cv_json_time_or_null(struct cv_buf *b, const char *key, int64_t us)
{
    if (us == 0) {
        cv_json_key(b, key);
        cv_buf_printf(b, "null");
        return;
    }
    cv_json_time(b, key, us);
}

void cv_json_add_time(struct cv_buf *b, const char *key, int64_t us)
{
    cv_buf_u8(b, ',');
    cv_json_time_or_null(b, key, us);
}
