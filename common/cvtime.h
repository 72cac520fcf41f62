/*
 * cvtime.h: camvault's one notion of time: int64_t microseconds since the Unix epoch, UTC.
 *
 * Users write times as RFC 3339 ("2026-11-22T09:30:00Z", "2026-11-22T17:30:00.5+08:00") or as
 * "@UNIXSECONDS" ("@1795339800", fraction allowed). Output is RFC 3339 in UTC ("...Z") or in the
 * process's local zone with its offset ("...+08:00"), so a reader always sees the zone.
 * All functions are thread-safe.
 */
#ifndef CV_TIME_H
#define CV_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

#define CV_US_PER_S INT64_C(1000000)

/* Wall-clock now (CLOCK_REALTIME) and a monotonic clock (CLOCK_MONOTONIC), both in µs. */
int64_t cv_now_us(void);
int64_t cv_mono_us(void);

/*
 * Parse `s` (RFC 3339 with a mandatory zone, or @seconds[.fraction]) into *out_us.
 * Returns 0, or CV_EINVAL with a message that quotes the input and says what was expected.
 * Years 1970..9999 only; leap seconds (":60") are rejected.
 */
int cv_time_parse(const char *s, int64_t *out_us, struct cv_err *err);

/*
 * Write `us` as RFC 3339 UTC with `frac_digits` (0, 3 or 6) fractional digits into buf.
 * Returns the length written (buf is always terminated when n > 0); 40 bytes are always enough.
 */
size_t cv_time_format_utc(int64_t us, char *buf, size_t n, int frac_digits);

/* The same in the local zone (TZ), with its numeric offset ("+08:00"). */
size_t cv_time_format_local(int64_t us, char *buf, size_t n, int frac_digits);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (used by both formatters). */
int64_t cv_days_from_civil(int64_t y, unsigned m, unsigned d);
void cv_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Append `"key":"<UTC>","key_local":"<local with offset>","key_us":<µs>` (µs precision) to b,
 * the one way camvault's JSON gives a time. */
void cv_json_time(struct cv_buf *b, const char *key, int64_t us);
/* The same, or `"key":null` when us is 0 (not yet: a decision, a finish, a last login). */
void cv_json_time_or_null(struct cv_buf *b, const char *key, int64_t us);
/* The same as a member after an object's first (a comma before it). */
void cv_json_add_time(struct cv_buf *b, const char *key, int64_t us);

/* Parse a duration like "90", "1.5" (seconds) into µs; CV_EINVAL when not a positive number. */
int cv_seconds_parse(const char *s, int64_t *out_us, struct cv_err *err);

#endif
