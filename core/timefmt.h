/*
 * timefmt.h - RFC 3339 times (prefix cm_time_).
 *
 * Times are int64_t microseconds since 1970-01-01T00:00:00Z everywhere in
 * consent-milter.  Output is always UTC: "2026-11-23T04:23:00Z", with a
 * fraction (".123456", trailing zeros removed) only when it is not zero,
 * so format(parse(s)) == s for every string format() produced.
 */
#ifndef CM_TIMEFMT_H
#define CM_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define CM_TIME_BUFSZ 40

/* Current time in microseconds (CLOCK_REALTIME). */
int64_t cm_time_now(void);

/* Microseconds of CLOCK_MONOTONIC, for deadlines and intervals (never
 * goes back; unrelated to the calendar). */
int64_t cm_time_mono_us(void);

/*
 * Parse an RFC 3339 date-time (LEN octets at S): "YYYY-MM-DDTHH:MM:SS",
 * optional fraction (up to 9 digits; truncated to microseconds), then "Z"
 * or "+HH:MM" / "-HH:MM".  't' and ' ' are accepted for 'T', 'z' for 'Z'.
 * A date alone ("YYYY-MM-DD") means midnight UTC.  Years 1970..9999, and
 * the time in UTC must lie in 1970-01-01 .. 9999-12-31 too.  A leap
 * second (":60") is read as ":59".
 * Returns CM_OK, CM_TIME_INVALID or CM_TIME_RANGE.
 */
cm_status cm_time_parse(const char *s, size_t len, int64_t *us);

/* Format US as RFC 3339 UTC into BUF (CM_TIME_BUFSZ octets); returns BUF. */
char *cm_time_format(int64_t us, char *buf);

/* The same as cm_time_format, without stdio for the years 0..9999 (the
 * decision log's writer formats every record's time); returns the
 * length written (without the NUL). */
size_t cm_time_put(int64_t us, char *buf);

/*
 * Calendar arithmetic (proleptic Gregorian, UTC, no time zone, no
 * locale): days since 1970-01-01 of year Y, month M (1..12), day D
 * (1..31; a day past the month's end runs into the next month), and
 * back.
 */
int64_t cm_time_days_from_civil(int64_t y, int m, int d);
void cm_time_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
