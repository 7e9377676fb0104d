/* test_json.c - JSON strings written and read (core/json.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Every escape of the writer is tabled in test_declog.c
 * (test_json_escape: the decision log's lines are its first user);
 * here the room it needs. */
static void
test_quote_room(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(cm_json_quote("\b\f", 2, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "\"\\b\\f\"");
	/* the worst case fits CM_JSON_QUOTE_ROOM exactly */
	assert_int_equal(cm_json_quote("\x01\x02", 2, buf,
	    CM_JSON_QUOTE_ROOM(2)), 14);
	assert_string_equal(buf, "\"\\u0001\\u0002\"");
	assert_int_equal(cm_json_quote("\x01\x02", 2, buf,
	    CM_JSON_QUOTE_ROOM(2) - 1), 0);
	/* too small: 0, never a string without its closing quote */
	assert_int_equal(cm_json_quote("abcdef", 6, buf, 8), 0);
	assert_int_equal(cm_json_quote("abcdef", 6, buf, 9), 8);
}

static void
test_unquote(void **state)
{
	static const struct {
		const char *in;		/* the input, up to its end */
		cm_status st;
		const char *out;	/* CM_OK: the string */
		size_t at;		/* CM_OK: the end; else the fault */
		const char *why;	/* part of the message */
	} cases[] = {
		{ "\"\"", CM_OK, "", 2, NULL },
		{ "\"abc\",", CM_OK, "abc", 5, NULL },
		{ "\"\\\"\\\\\\/\\n\\r\\t\\b\\f\"", CM_OK, "\"\\/\n\r\t\b\f",
		    18, NULL },
		{ "\"\\u00e9\"", CM_OK, "\xc3\xa9", 8, NULL },
		{ "\"\\ud83d\\ude00\"", CM_OK, "\xf0\x9f\x98\x80", 14, NULL },
		{ "\"caf\xc3\xa9\"", CM_OK, "caf\xc3\xa9", 7, NULL },
		{ "\"\x7f\"", CM_OK, "\x7f", 3, NULL },
		{ "abc", CM_EINVAL, NULL, 0, NULL },
		{ "\"abc", CM_EFORMAT, NULL, 0, "not closed" },
		{ "\"a\nb\"", CM_EFORMAT, NULL, 2, "control" },
		{ "\"a\\x\"", CM_EFORMAT, NULL, 2, "invalid escape" },
		{ "\"a\\", CM_EFORMAT, NULL, 2, "incomplete" },
		{ "\"\\u12g4\"", CM_EFORMAT, NULL, 1, "four hex" },
		{ "\"\\u123\"", CM_EFORMAT, NULL, 1, "four hex" },
		{ "\"\\ude00\"", CM_EFORMAT, NULL, 1, "lone low" },
		{ "\"\\ud83d@\"", CM_EFORMAT, NULL, 1, "high surrogate" },
		{ "\"\\ud83d\\u0041\"", CM_EFORMAT, NULL, 1, "high surrogate" },
		{ "\"\\u0000\"", CM_EFORMAT, NULL, 1, "NUL" },
		{ "\"ok\xff\"", CM_EFORMAT, NULL, 3, "UTF-8" },
		{ "\"\xc0\xaf\"", CM_EFORMAT, NULL, 1, "UTF-8" },
		{ "\"\xed\xa0\x80\"", CM_EFORMAT, NULL, 1, "UTF-8" },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		const char *in = cases[i].in, *p = in, *why = NULL;
		size_t n = strlen(in), len = 99;
		char out[64];
		cm_status st;

		st = cm_json_unquote(&p, in + n, out, &len, &why);
		assert_int_equal(st, cases[i].st);
		if (st == CM_OK) {
			assert_string_equal(out, cases[i].out);
			assert_int_equal(len, strlen(cases[i].out));
			assert_ptr_equal(p, in + cases[i].at);
		} else if (st == CM_EFORMAT) {
			assert_ptr_equal(p, in + cases[i].at);
			assert_non_null(why);
			assert_non_null(strstr(why, cases[i].why));
		}
	}
}

/* Decoding in place, and what the writer writes reads back the same. */
static void
test_round_trip(void **state)
{
	static const char *const in[] = {
		"", "plain", "q\"b\\/", "\n\r\t\b\f\x01\x1f\x7f",
		"caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac",
	};
	char buf[256];

	(void)state;
	for (size_t i = 0; i < NELEM(in); i++) {
		size_t n = cm_json_quote(in[i], strlen(in[i]), buf,
		    sizeof(buf)), len;
		const char *p = buf;

		assert_true(n > 0);
		assert_int_equal(cm_json_unquote(&p, buf + n, buf + 1, &len,
		    NULL), CM_OK);
		assert_ptr_equal(p, buf + n);
		assert_int_equal(len, strlen(in[i]));
		assert_string_equal(buf + 1, in[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_room),
		cmocka_unit_test(test_unquote),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
