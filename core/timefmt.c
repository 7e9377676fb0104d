/*
 * timefmt.c - RFC 3339 times (see timefmt.h).
 *
 * Calendar arithmetic is done here (proleptic Gregorian, days from
 * 1970-01-01), so neither the process time zone nor the locale nor
 * timegm() play any part.
 *
 * A leap second ("23:59:60") is accepted and taken as ":59" of the same
 * minute: microseconds since the epoch have no room for it.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

#define US_PER_SEC INT64_C(1000000)
#define SEC_PER_DAY INT64_C(86400)
/* 9999-12-31T23:59:59Z: an offset must not carry a time past the year
 * 9999, or its formatted form could not be parsed again */
#define MAX_SECS INT64_C(253402300799)

int64_t
cm_time_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t
cm_time_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t
cm_time_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void
cm_time_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	/* the era in signed arithmetic, the rest unsigned: the decision
	 * log's writer calls this for every record */
	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
month_days(int y, int m)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* N decimal digits at S into *V; false if any is not a digit. */
static int
digits(const char *s, int n, int *v)
{
	int r = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		r = r * 10 + (s[i] - '0');
	}
	*v = r;
	return 1;
}

cm_status
cm_time_parse(const char *s, size_t len, int64_t *us)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;
	size_t i;
	int64_t secs;

	if (s == NULL || us == NULL)
		return CM_EINVAL;
	/* YYYY-MM-DD */
	if (len < 10 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
		return CM_TIME_INVALID;
	if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
		return CM_TIME_INVALID;
	if (len > 10) {
		/* THH:MM:SS */
		if (len < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
		    !digits(s + 11, 2, &h) || s[13] != ':' ||
		    !digits(s + 14, 2, &mi) || s[16] != ':' ||
		    !digits(s + 17, 2, &sec))
			return CM_TIME_INVALID;
		if (h > 23 || mi > 59 || sec > 60)
			return CM_TIME_INVALID;
		if (sec == 60)
			sec = 59;
		i = 19;
		if (i < len && s[i] == '.') {
			int nd = 0;

			for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
				if (++nd > 9)
					return CM_TIME_INVALID;
				if (nd <= 6)
					frac = frac * 10 + (s[i] - '0');
			}
			if (nd == 0)
				return CM_TIME_INVALID;
			for (; nd < 6; nd++)
				frac *= 10;
		}
		/* zone */
		if (i >= len)
			return CM_TIME_INVALID;
		if (s[i] == 'Z' || s[i] == 'z') {
			i++;
		} else if (s[i] == '+' || s[i] == '-') {
			int oh, om;

			if (len - i < 6 || !digits(s + i + 1, 2, &oh) ||
			    s[i + 3] != ':' || !digits(s + i + 4, 2, &om))
				return CM_TIME_INVALID;
			if (oh > 23 || om > 59)
				return CM_TIME_INVALID;
			off = (oh * 60 + om) * 60;
			if (s[i] == '-')
				off = -off;
			i += 6;
		} else {
			return CM_TIME_INVALID;
		}
		if (i != len)
			return CM_TIME_INVALID;
	}
	if (y < 1970)
		return CM_TIME_RANGE;
	secs = cm_time_days_from_civil(y, mo, d) * SEC_PER_DAY + h * 3600 + mi * 60 +
	    sec - off;
	if (secs < 0 || secs > MAX_SECS)
		return CM_TIME_RANGE;
	*us = secs * US_PER_SEC + frac;
	return CM_OK;
}

/* V as W decimal digits (leading zeros) at O; returns the end. */
static char *
put_dec(char *o, unsigned v, int w)
{
	for (int i = w - 1; i >= 0; i--) {
		o[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return o + w;
}

size_t
cm_time_put(int64_t us, char *buf)
{
	int64_t day, rem, y;
	unsigned sec, frac;
	int m, d;
	char *o = buf;

	/* floor division, valid for negative values too */
	day = us / (SEC_PER_DAY * US_PER_SEC);
	rem = us % (SEC_PER_DAY * US_PER_SEC);
	if (rem < 0) {
		rem += SEC_PER_DAY * US_PER_SEC;
		day--;
	}
	sec = (unsigned)(rem / US_PER_SEC);
	frac = (unsigned)(rem % US_PER_SEC);
	cm_time_civil_from_days(day, &y, &m, &d);
	if (y < 0 || y > 9999)	/* not four digits: seldom, never parsed */
		o += snprintf(o, CM_TIME_BUFSZ - 20, "%04lld", (long long)y);
	else
		o = put_dec(o, (unsigned)y, 4);
	*o++ = '-';
	o = put_dec(o, (unsigned)m, 2);
	*o++ = '-';
	o = put_dec(o, (unsigned)d, 2);
	*o++ = 'T';
	o = put_dec(o, sec / 3600, 2);
	*o++ = ':';
	o = put_dec(o, sec / 60 % 60, 2);
	*o++ = ':';
	o = put_dec(o, sec % 60, 2);
	if (frac != 0) {
		size_t k = 6;

		*o++ = '.';
		put_dec(o, frac, 6);
		while (k > 1 && o[k - 1] == '0')
			k--;	/* no trailing zeros */
		o += k;
	}
	*o++ = 'Z';
	*o = '\0';
	return (size_t)(o - buf);
}

char *
cm_time_format(int64_t us, char *buf)
{
	cm_time_put(us, buf);
	return buf;
}
