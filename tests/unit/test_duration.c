/* test_duration.c - durations (core/duration.h), decimal numbers
 * (core/number.h) and the newsletter type id rule (core/names.h), the
 * readers config/ and consentctl share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/duration.h"
#include "core/index.h"
#include "core/names.h"
#include "core/number.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct dcase {
	const char *in;
	cm_status st;
	uint64_t sec;		/* expected on CM_OK */
	const char *why;	/* expected reason on failure, or NULL */
};

static const struct dcase dcases[] = {
	{ "30s", CM_OK, 30, NULL },
	{ "0s", CM_OK, 0, NULL },
	{ "5m", CM_OK, 300, NULL },
	{ "1h", CM_OK, 3600, NULL },
	{ "730d", CM_OK, 730 * 86400, NULL },
	{ "2w", CM_OK, 2 * 604800, NULL },
	{ "007s", CM_OK, 7, NULL },
	{ "18446744073709551615s", CM_OK, UINT64_MAX, NULL },
	{ "18446744073709551616s", CM_ETOOLONG, 0, NULL },
	{ "30500568904943664w", CM_ETOOLONG, 0, NULL },
	{ "30", CM_EINVAL, 0, "a unit is required" },
	{ "", CM_EINVAL, 0, NULL },
	{ "s", CM_EINVAL, 0, NULL },
	{ "-1s", CM_EINVAL, 0, NULL },
	{ "+1s", CM_EINVAL, 0, NULL },
	{ " 1s", CM_EINVAL, 0, NULL },
	{ "1 s", CM_EINVAL, 0, NULL },
	{ "1S", CM_EINVAL, 0, NULL },
	{ "1ms", CM_EINVAL, 0, NULL },
	{ "1y", CM_EINVAL, 0, NULL },
	{ "1s ", CM_EINVAL, 0, NULL },
	{ "1.5h", CM_EINVAL, 0, NULL },
};

static void
test_duration_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(dcases); i++) {
		const struct dcase *c = &dcases[i];
		uint64_t sec = 12345;
		const char *why = "unset";
		cm_status st = cm_duration_parse(c->in, &sec, &why);

		if (st != c->st)
			fail_msg("'%s': status %d, expected %d", c->in, st,
			    c->st);
		if (st == CM_OK) {
			assert_int_equal(sec, c->sec);
			assert_null(why);
		} else {
			assert_int_equal(sec, 12345);	/* untouched */
			if (c->why == NULL)
				assert_null(why);
			else
				assert_string_equal(why, c->why);
		}
		/* WHY may be NULL */
		assert_int_equal(cm_duration_parse(c->in, &sec, NULL), c->st);
	}
}

static void
test_number(void **state)
{
	static const struct {
		const char *in;
		uint64_t max;
		bool ok;
		uint64_t v;
		size_t used;	/* digits read */
	} cases[] = {
		{ "0", 10, true, 0, 1 },
		{ "65535@h", 1000000, true, 65535, 5 },
		{ "1000000", 1000000, true, 1000000, 7 },
		{ "1000001", 1000000, false, 0, 0 },
		{ "0001", 1, true, 1, 4 },
		{ "9", 8, false, 0, 0 },
		{ "18446744073709551615", UINT64_MAX, true, UINT64_MAX, 20 },
		{ "18446744073709551616", UINT64_MAX, false, 0, 0 },
		{ "99999999999999999999", UINT64_MAX, false, 0, 0 },
		{ "12KiB", UINT64_MAX, true, 12, 2 },
		{ "", 10, false, 0, 0 },
		{ "-1", 10, false, 0, 0 },
		{ " 1", 10, false, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		const char *p = cases[i].in;
		uint64_t v = 777;
		bool ok = cm_number_u64(&p, cases[i].max, &v);

		if (ok != cases[i].ok)
			fail_msg("'%s' (max %ju): %d", cases[i].in,
			    (uintmax_t)cases[i].max, ok);
		assert_int_equal(v, ok ? cases[i].v : 777);
		assert_ptr_equal(p, cases[i].in + cases[i].used);
	}
}

static void
test_type_id(void **state)
{
	static const struct { const char *s; bool ok; } cases[] = {
		{ "weekly-news", true }, { "a", true }, { "a.b_c-9", true },
		{ "", false }, { "Weekly", false }, { "a b", false },
		{ "a/b", false }, { "a,b", false }, { "caf\xc3\xa9", false },
		{ "a\n", false },
	};
	char id[CM_TYPE_ID_MAX + 2];

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++)
		if (cm_type_id_valid(cases[i].s, strlen(cases[i].s)) !=
		    cases[i].ok)
			fail_msg("'%s': expected %s", cases[i].s,
			    cases[i].ok ? "valid" : "invalid");
	memset(id, 'x', sizeof(id));
	assert_true(cm_type_id_valid(id, CM_TYPE_ID_MAX));
	assert_false(cm_type_id_valid(id, CM_TYPE_ID_MAX + 1));
	/* LEN counts, not a NUL: an embedded NUL is not an id octet */
	assert_false(cm_type_id_valid("ab\0c", 4));
	assert_true(cm_type_id_valid("ab\0c", 2));
}

static void
test_format_ms(void **state)
{
	static const struct { uint64_t ms; const char *out; } cases[] = {
		{ 0, "0ms" }, { 250, "250ms" }, { 999, "999ms" },
		{ 1000, "1s" }, { 1499, "1s" }, { 1500, "2s" },
		{ 10000, "10s" }, { 60000, "1m" }, { 150000, "2m30s" },
		{ 3600000, "1h" }, { 3661000, "1h1m1s" }, { 93600000, "1d2h" },
		{ UINT64_MAX, "213503982334d14h25m52s" },
	};
	char buf[CM_DURATION_BUFSZ];

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++)
		assert_string_equal(cm_duration_format_ms(cases[i].ms, buf),
		    cases[i].out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_table),
		cmocka_unit_test(test_number),
		cmocka_unit_test(test_format_ms),
		cmocka_unit_test(test_type_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
