/* test_tmpl.c - templates: compile-time rejection and safe expansion. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/tmpl.h"

static void
test_compile_rejects(void **state)
{
	static const struct {
		const char *text;
		cm_status st;
		size_t off;
	} cases[] = {
		{ "ok %{rcpt}", CM_OK, 0 },
		{ "tab\there", CM_OK, 0 },
		{ "100%% sure", CM_OK, 0 },
		{ "", CM_OK, 0 },
		{ "caf\xc3\xa9 %{name}", CM_OK, 0 },
		{ "line\r\nBcc: x@y", CM_EINVAL, 4 },
		{ "line\nX-Evil: 1", CM_EINVAL, 4 },
		{ "cr\ronly", CM_EINVAL, 2 },
		{ "bell\x07", CM_EINVAL, 4 },
		{ "del\x7f", CM_EINVAL, 3 },
		{ "50% off", CM_EINVAL, 2 },
		{ "trailing %", CM_EINVAL, 9 },
		{ "%s format", CM_EINVAL, 0 },
		{ "%{rcpt", CM_EINVAL, 0 },
		{ "x %{nosuch}", CM_EINVAL, 2 },
		{ "x %{RCPT}", CM_EINVAL, 2 },
		{ "x %{}", CM_EINVAL, 2 },
		{ "bad \xff utf8", CM_EINVAL, 4 },
		{ "overlong \xc0\xaf", CM_EINVAL, 9 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cm_tmpl *t = NULL;
		size_t off = 12345;
		cm_status st = cm_tmpl_compile(cases[i].text, &t, &off);

		if (st != cases[i].st)
			fail_msg("case %zu (%s): status %d, want %d", i,
			    cases[i].text, st, cases[i].st);
		if (st == CM_OK) {
			assert_non_null(t);
			assert_string_equal(cm_tmpl_text(t), cases[i].text);
		} else if (off != cases[i].off) {
			fail_msg("case %zu: offset %zu, want %zu", i, off,
			    cases[i].off);
		}
		cm_tmpl_free(t);
	}
	{
		char *big = malloc(CM_TMPL_MAX + 2);
		cm_tmpl *t = NULL;

		assert_non_null(big);
		memset(big, 'a', CM_TMPL_MAX + 1);
		big[CM_TMPL_MAX + 1] = '\0';
		assert_int_equal(cm_tmpl_compile(big, &t, NULL), CM_ETOOLONG);
		big[CM_TMPL_MAX] = '\0';
		assert_int_equal(cm_tmpl_compile(big, &t, NULL), CM_OK);
		cm_tmpl_free(t);
		free(big);
	}
}

static void
test_expand(void **state)
{
	static const struct {
		const char *tmpl;
		const char *rcpt, *reason;
		unsigned flags;
		const char *out;
	} cases[] = {
		{ CM_TMPL_DEFAULT_REPLY, "Bob@Example.NET", "no-consent", 0,
		    "<Bob@Example.NET>: no consent for newsletter \"offers\" "
		    "(no-consent)" },
		/* CR/LF and controls in values become spaces */
		{ "<%{rcpt}>", "a@b\r\nBcc: evil@x", NULL, 0,
		    "<a@b  Bcc: evil@x>" },
		{ "%{rcpt}", "x\x01y\x7fz\tw", NULL, 0, "x y z w" },
		/* '%' is doubled for smfi_setreply, values and literals alike */
		{ "100%% %{rcpt}", "50%off@x", NULL, CM_TMPL_SETREPLY,
		    "100%% 50%%off@x" },
		{ "100%% %{rcpt}", "50%off@x", NULL, 0, "100% 50%off@x" },
		/* invalid UTF-8 in values; ASCII-only output */
		{ "%{rcpt}", "b\xff\xc3@x", NULL, 0, "b??@x" },
		{ "%{rcpt}", "j\xc3\xb6rg@x", NULL, 0, "j\xc3\xb6rg@x" },
		{ "%{rcpt}", "j\xc3\xb6rg@x", NULL, CM_TMPL_ASCII, "j?rg@x" },
		{ "caf\xc3\xa9", NULL, NULL, CM_TMPL_ASCII, "caf?" },
		/* missing values expand to nothing */
		{ "[%{rcpt}|%{reason}|%{campaign}]", NULL, "r", 0, "[|r|]" },
	};
	const char *vals[CM_TMPL_NVARS] = { 0 };
	char buf[1024];

	(void)state;
	vals[CM_TMPL_TYPE] = "offers";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cm_tmpl *t = NULL;
		bool tr = true;

		assert_int_equal(cm_tmpl_compile(cases[i].tmpl, &t, NULL), CM_OK);
		vals[CM_TMPL_RCPT] = cases[i].rcpt;
		vals[CM_TMPL_REASON] = cases[i].reason;
		assert_int_equal(cm_tmpl_expand(t, vals, cases[i].flags, buf,
		    sizeof(buf), &tr), strlen(cases[i].out));
		assert_string_equal(buf, cases[i].out);
		assert_false(tr);
		cm_tmpl_free(t);
	}
}

static void
test_limits(void **state)
{
	cm_tmpl *t = NULL;
	const char *vals[CM_TMPL_NVARS] = { 0 };
	char *big = malloc(5000);
	char buf[2000], small[8];
	bool tr = false;
	size_t n;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 4999);
	big[4999] = '\0';
	vals[CM_TMPL_RCPT] = big;
	assert_int_equal(cm_tmpl_compile("<%{rcpt}>", &t, NULL), CM_OK);
	/* a value is cut at CM_TMPL_VALUE_MAX octets */
	n = cm_tmpl_expand(t, vals, 0, buf, sizeof(buf), &tr);
	assert_int_equal(n, CM_TMPL_VALUE_MAX + 2);
	assert_false(tr);
	/* the result is cut to the buffer and says so */
	n = cm_tmpl_expand(t, vals, 0, small, sizeof(small), &tr);
	assert_int_equal(n, 7);
	assert_true(tr);
	assert_string_equal(small, "<xxxxxx");
	cm_tmpl_free(t);

	/* never split "%%" nor a UTF-8 character */
	vals[CM_TMPL_RCPT] = "ab%%";
	assert_int_equal(cm_tmpl_compile("%{rcpt}", &t, NULL), CM_OK);
	n = cm_tmpl_expand(t, vals, CM_TMPL_SETREPLY, small, 6, &tr);
	assert_string_equal(small, "ab%%");
	assert_true(tr);
	vals[CM_TMPL_RCPT] = "abc\xc3\xa9";
	n = cm_tmpl_expand(t, vals, 0, small, 5, &tr);
	assert_string_equal(small, "abc");
	assert_true(tr);
	/* a value cut inside a character stops before it */
	memset(big, 'y', 4999);
	big[CM_TMPL_VALUE_MAX - 1] = '\xc3';
	big[CM_TMPL_VALUE_MAX] = '\xa9';
	vals[CM_TMPL_RCPT] = big;
	n = cm_tmpl_expand(t, vals, 0, buf, sizeof(buf), &tr);
	assert_int_equal(n, CM_TMPL_VALUE_MAX - 1);
	cm_tmpl_free(t);
	free(big);
	assert_int_equal(cm_tmpl_expand(NULL, NULL, 0, small, 0, &tr), 0);
	assert_true(tr);
}

/* No value can smuggle a line break into a header or a reply. */
static void
test_no_injection_any_octet(void **state)
{
	cm_tmpl *t = NULL;
	const char *vals[CM_TMPL_NVARS] = { 0 };
	char v[4], buf[64];

	(void)state;
	assert_int_equal(cm_tmpl_compile(CM_TMPL_DEFAULT_TRACE, &t, NULL), CM_OK);
	for (int c = 1; c < 256; c++) {
		v[0] = 'a';
		v[1] = (char)c;
		v[2] = 'b';
		v[3] = '\0';
		vals[CM_TMPL_TYPE] = v;
		vals[CM_TMPL_REMOVED] = v;
		vals[CM_TMPL_KEPT] = v;
		cm_tmpl_expand(t, vals, CM_TMPL_SETREPLY | CM_TMPL_ASCII, buf,
		    sizeof(buf), NULL);
		for (const char *p = buf; *p; p++) {
			assert_true((unsigned char)*p >= 0x20);
			assert_true((unsigned char)*p < 0x7f);
		}
		/* every '%' comes doubled */
		for (const char *p = buf; *p; p++)
			if (*p == '%') {
				assert_int_equal(p[1], '%');
				p++;
			}
	}
	cm_tmpl_free(t);
	/* the defaults compile */
	assert_int_equal(cm_tmpl_compile(CM_TMPL_DEFAULT_REPLY, &t, NULL), CM_OK);
	cm_tmpl_free(t);
	assert_int_equal(cm_tmpl_compile(CM_TMPL_DEFAULT_DSN_TEXT, &t, NULL),
	    CM_OK);
	cm_tmpl_free(t);
	assert_int_equal(cm_tmpl_compile(CM_TMPL_DEFAULT_DSN_RCPT, &t, NULL),
	    CM_OK);
	cm_tmpl_free(t);
	assert_string_equal(cm_tmpl_var_name(CM_TMPL_QUEUE_ID), "queue_id");
	assert_null(cm_tmpl_var_name(CM_TMPL_NVARS));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_rejects),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_no_injection_any_octet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
