/* test_timefmt.c - RFC 3339 parsing and formatting (core/timefmt.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/timefmt.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define S INT64_C(1000000)

struct tcase {
	const char *in;
	cm_status st;
	int64_t us;		/* expected on CM_OK */
	const char *canon;	/* format(us); NULL: same as in */
};

static const struct tcase cases[] = {
	/* round trips: format(parse(s)) == s */
	{ "1970-01-01T00:00:00Z", CM_OK, 0, NULL },
	{ "1970-01-01T00:00:00.000001Z", CM_OK, 1, NULL },
	{ "2026-11-23T04:23:00Z", CM_OK, 1795407780 * S, NULL },
	{ "2000-02-29T12:00:00.5Z", CM_OK, 951825600 * S + 500000, NULL },
	{ "2024-12-31T23:59:59.999999Z", CM_OK, 1735689599 * S + 999999, NULL },
	{ "2038-01-19T03:14:08Z", CM_OK, 2147483648 * S, NULL },
	{ "9999-12-31T23:59:59Z", CM_OK, 253402300799 * S, NULL },
	{ "2024-02-29T00:00:00Z", CM_OK, 1709164800 * S, NULL },
	{ "2026-01-01T00:00:00.01Z", CM_OK, 1767225600 * S + 10000, NULL },

	/* accepted variants, canonical output */
	{ "2026-11-23t04:23:00z", CM_OK, 1795407780 * S, "2026-11-23T04:23:00Z" },
	{ "2026-11-23 04:23:00Z", CM_OK, 1795407780 * S, "2026-11-23T04:23:00Z" },
	{ "2026-11-23T05:23:00+01:00", CM_OK, 1795407780 * S,
	    "2026-11-23T04:23:00Z" },
	{ "2026-11-22T23:23:00-05:00", CM_OK, 1795407780 * S,
	    "2026-11-23T04:23:00Z" },
	{ "2026-11-23T04:23:00-00:00", CM_OK, 1795407780 * S,
	    "2026-11-23T04:23:00Z" },
	{ "2026-11-23T04:23:00+00:00", CM_OK, 1795407780 * S,
	    "2026-11-23T04:23:00Z" },
	{ "2026-01-01T00:00:00+23:59", CM_OK, (1767225600 - 86340) * S,
	    "2025-12-31T00:01:00Z" },
	{ "2026-01-01T00:00:00-23:59", CM_OK, (1767225600 + 86340) * S,
	    "2026-01-01T23:59:00Z" },
	/* fraction: truncated (not rounded) to microseconds */
	{ "2026-11-23T04:23:00.123456789Z", CM_OK, 1795407780 * S + 123456,
	    "2026-11-23T04:23:00.123456Z" },
	{ "2026-11-23T04:23:00.9999999Z", CM_OK, 1795407780 * S + 999999,
	    "2026-11-23T04:23:00.999999Z" },
	{ "2026-11-23T04:23:00.100Z", CM_OK, 1795407780 * S + 100000,
	    "2026-11-23T04:23:00.1Z" },
	{ "2026-11-23T04:23:00.000Z", CM_OK, 1795407780 * S,
	    "2026-11-23T04:23:00Z" },
	/* date only: midnight UTC */
	{ "2026-11-23", CM_OK, (1795407780 - 4 * 3600 - 23 * 60) * S,
	    "2026-11-23T00:00:00Z" },
	{ "1970-01-01", CM_OK, 0, "1970-01-01T00:00:00Z" },
	/* leap second: taken as :59 */
	{ "2016-12-31T23:59:60Z", CM_OK, 1483228799 * S,
	    "2016-12-31T23:59:59Z" },
	{ "2016-12-31T23:59:60.5Z", CM_OK, 1483228799 * S + 500000,
	    "2016-12-31T23:59:59.5Z" },

	/* calendar */
	{ "2026-13-01", CM_TIME_INVALID, 0, NULL },
	{ "2026-00-10", CM_TIME_INVALID, 0, NULL },
	{ "2026-01-00", CM_TIME_INVALID, 0, NULL },
	{ "2026-01-32", CM_TIME_INVALID, 0, NULL },
	{ "2026-04-31", CM_TIME_INVALID, 0, NULL },
	{ "2026-02-29", CM_TIME_INVALID, 0, NULL },
	{ "2100-02-29", CM_TIME_INVALID, 0, NULL },
	{ "2000-02-30T00:00:00Z", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T24:00:00Z", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T04:60:00Z", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T04:23:61Z", CM_TIME_INVALID, 0, NULL },
	/* zone */
	{ "2026-11-23T04:23:00", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T04:23:00.5", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T04:23:00+24:00", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T04:23:00+01:60", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T04:23:00+0100", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T04:23:00+01", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T04:23:00UTC", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T04:23:00Zjunk", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T04:23:00+01:00 ", CM_TIME_INVALID, 0, NULL },
	/* fraction */
	{ "2026-11-23T04:23:00.Z", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T04:23:00.1234567890Z", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T04:23:00,5Z", CM_TIME_INVALID, 0, NULL },
	/* shape */
	{ "", CM_TIME_INVALID, 0, NULL },
	{ "2026", CM_TIME_INVALID, 0, NULL },
	{ "2026-1-01", CM_TIME_INVALID, 0, NULL },
	{ "2026/11/23", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23X04:23:00Z", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T4:23:00Z", CM_TIME_INVALID, 0, NULL },
	{ "2026-11-23T04:23Z", CM_TIME_INVALID, 0, NULL },
	{ "+2026-11-23", CM_TIME_INVALID, 0, NULL },
	{ "10000-01-01", CM_TIME_INVALID, 0, NULL },
	{ " 2026-11-23", CM_TIME_INVALID, 0, NULL },
	/* range: before the epoch */
	{ "1969-12-31T23:59:59Z", CM_TIME_RANGE, 0, NULL },
	{ "1969-12-31", CM_TIME_RANGE, 0, NULL },
	{ "0000-01-01", CM_TIME_RANGE, 0, NULL },
	{ "1970-01-01T00:00:00+00:01", CM_TIME_RANGE, 0, NULL },
	{ "1970-01-01T00:30:00+01:00", CM_TIME_RANGE, 0, NULL },
	{ "1969-12-31T23:00:00-01:00", CM_TIME_RANGE, 0, NULL },
	/* range: after 9999 once the offset is applied */
	{ "9999-12-31T23:59:59-00:01", CM_TIME_RANGE, 0, NULL },
	{ "9999-12-31T23:30:00+01:00", CM_OK, (253402300799 - 1799 - 3600) * S,
	    "9999-12-31T22:30:00Z" },
};

static void
test_table(void **state)
{
	char buf[CM_TIME_BUFSZ];

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		const struct tcase *c = &cases[i];
		int64_t us = -42;
		cm_status st = cm_time_parse(c->in, strlen(c->in), &us);

		if (st != c->st)
			fail_msg("case %zu \"%s\": got %s, want %s", i, c->in,
			    cm_strerror(st), cm_strerror(c->st));
		if (st != CM_OK) {
			assert_int_equal(us, -42);	/* untouched */
			continue;
		}
		if (us != c->us)
			fail_msg("case %zu \"%s\": got %lld, want %lld", i,
			    c->in, (long long)us, (long long)c->us);
		assert_string_equal(cm_time_format(us, buf),
		    c->canon ? c->canon : c->in);
		/* the canonical form parses back to the same value */
		int64_t again;

		assert_int_equal(cm_time_parse(buf, strlen(buf), &again), CM_OK);
		assert_int_equal(again, us);
	}
}

/* LEN is honoured: no NUL needed, octets after LEN ignored */
static void
test_len(void **state)
{
	int64_t us;

	(void)state;
	assert_int_equal(cm_time_parse("2026-11-23T04:23:00Zxyz", 20, &us),
	    CM_OK);
	assert_int_equal(us, 1795407780 * S);
	assert_int_equal(cm_time_parse("2026-11-23T04:23:00Z", 19, &us),
	    CM_TIME_INVALID);
	assert_int_equal(cm_time_parse("2026-11-23T04:23:00Z", 10, &us),
	    CM_OK);
	assert_int_equal(cm_time_parse("2026-11-23\0", 11, &us),
	    CM_TIME_INVALID);
	assert_int_equal(cm_time_parse(NULL, 0, &us), CM_EINVAL);
	assert_int_equal(cm_time_parse("1970-01-01", 10, NULL), CM_EINVAL);
}

static void
test_format(void **state)
{
	static const struct {
		int64_t us;
		const char *s;
	} f[] = {
		{ 0, "1970-01-01T00:00:00Z" },
		{ -1, "1969-12-31T23:59:59.999999Z" },
		{ -86400 * S, "1969-12-31T00:00:00Z" },
		{ 86399 * S + 999990, "1970-01-01T23:59:59.99999Z" },
		{ 951782400 * S, "2000-02-29T00:00:00Z" },
		{ 4107542400 * S, "2100-03-01T00:00:00Z" },
	};
	char buf[CM_TIME_BUFSZ];

	(void)state;
	for (size_t i = 0; i < NELEM(f); i++)
		assert_string_equal(cm_time_format(f[i].us, buf), f[i].s);
	/* extremes do not overflow the buffer */
	assert_true(strlen(cm_time_format(INT64_MAX, buf)) < CM_TIME_BUFSZ);
	assert_true(strlen(cm_time_format(INT64_MIN, buf)) < CM_TIME_BUFSZ);
}

/* every day from 1970 to 2400: format and parse agree */
static void
test_every_day(void **state)
{
	char buf[CM_TIME_BUFSZ];
	int64_t us, day;

	(void)state;
	for (day = 0; day < 157000; day++) {
		int64_t t = day * 86400 * S + (day % 86400) * S + day % 1000000;

		cm_time_format(t, buf);
		assert_int_equal(cm_time_parse(buf, strlen(buf), &us), CM_OK);
		assert_int_equal(us, t);
	}
}

static void
test_now(void **state)
{
	char buf[CM_TIME_BUFSZ];
	int64_t now = cm_time_now(), back;

	(void)state;
	assert_true(now > 1795407780 * S - 365 * 86400 * S);
	cm_time_format(now, buf);
	assert_int_equal(cm_time_parse(buf, strlen(buf), &back), CM_OK);
	assert_int_equal(back, now);
	assert_true(cm_time_now() >= now);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_len),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_every_day),
		cmocka_unit_test(test_now),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
