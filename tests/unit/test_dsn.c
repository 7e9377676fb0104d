/* test_dsn.c - composing delivery status notifications. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/dsn.h"

static const char *const hn[] = { "From", "To", "Subject", "Message-ID",
    "X-Newsletter-Type", "Received", "X-Odd" };
static const char *const hv[] = { "News <news@offers.example.com>",
    "undisclosed-recipients:;", "Offers of the week",
    "<m1.42@offers.example.com>", "offers",
    "from a.example by b.example;\n\tMon, 23 Nov 2026 04:00:00 +0000",
    "x\r\nBcc: evil@example.org" };

static const cm_dsn_rcpt rcpts[] = {
	{ .rcpt = "<bob@y.example>", .reason = "no-consent" },
	{ .rcpt = "Amy@Y.example", .orcpt = "rfc822;amy+2Btag@y.example",
	    .reason = "withdrawn" },
};

static cm_dsn_msg
base_msg(void)
{
	cm_dsn_msg m = {
		.host = "mx.example.com", .sender = "<news@offers.example.com>",
		.type = "offers", .name = "Special offers", .queue_id = "4XyzQ1",
		.arrival_us = INT64_C(1795168800) * 1000000,
		.nhdrs = sizeof(hn) / sizeof(hn[0]), .hnames = hn, .hvalues = hv,
		.nrcpts = 2, .rcpts = rcpts,
	};
	return m;
}

static size_t
occurrences(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
assert_wire_clean(const char *s, size_t len)
{
	size_t col = 0;

	assert_int_equal(strlen(s), len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n') {
			assert_true(i > 0 && s[i - 1] == '\r');
			col = 0;
			continue;
		}
		if (c == '\r') {
			assert_true(s[i + 1] == '\n');
			continue;
		}
		assert_true(c >= 0x20 || c == '\t');
		assert_true(++col <= 998);
	}
}

/* Run the Python email-package checker on S; its exit status. */
static int
python_check(const char *s, size_t len, const char *args)
{
	const char *src = getenv("SRCDIR");
	char path[] = "/tmp/cm-dsn.XXXXXX", cmd[2048];
	int fd = mkstemp(path), rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, len), (ssize_t)len);
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/cli/dsn_check.py "
	    "%s %s", src ? src : ".", path, args);
	rc = system(cmd);
	unlink(path);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void
test_compose_structure(void **state)
{
	cm_dsn_msg m = base_msg();
	char *out = NULL, *out2 = NULL;
	size_t len = 0, len2 = 0;
	char boundary[80];
	const char *b;

	(void)state;
	assert_int_equal(cm_dsn_compose(&m, &out, &len), CM_OK);
	assert_wire_clean(out, len);
	assert_int_equal(strncmp(out, "From: Mail Delivery System "
	    "<MAILER-DAEMON@mx.example.com>\r\nTo: <news@offers.example.com>\r\n"
	    "Subject: Undelivered Mail: no consent for newsletter \"offers\"\r\n"
	    "Date: ", 149), 0);
	assert_non_null(strstr(out, "\r\nAuto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(out, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(strstr(out, "\r\nContent-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\""));
	b = strstr(out, "boundary=\"") + 10;
	snprintf(boundary, sizeof(boundary), "--%.*s", (int)strcspn(b, "\""), b);
	assert_int_equal(occurrences(out, boundary), 4);
	assert_non_null(strstr(out, "Content-Type: message/delivery-status\r\n"));
	assert_non_null(strstr(out, "Content-Type: text/rfc822-headers\r\n"));
	assert_non_null(strstr(out, "\r\nReporting-MTA: dns; mx.example.com\r\n"));
	assert_non_null(strstr(out, "\r\nArrival-Date: Fri, 20 Nov 2026 "
	    "10:00:00 +0000\r\n"));
	assert_non_null(strstr(out, "\r\n\r\nOriginal-Recipient: rfc822;"
	    "bob@y.example\r\nFinal-Recipient: rfc822;bob@y.example\r\n"
	    "Action: failed\r\nStatus: 5.7.1\r\nDiagnostic-Code: smtp; 550 5.7.1 "
	    "<bob@y.example>: no consent for newsletter \"offers\" "
	    "(no-consent)\r\n"));
	/* ORCPT xtext decoded */
	assert_non_null(strstr(out, "Original-Recipient: rfc822;"
	    "amy+tag@y.example\r\nFinal-Recipient: rfc822;Amy@Y.example\r\n"));
	/* text part names recipients and reasons */
	assert_non_null(strstr(out, "  <Amy@Y.example>: no consent for "
	    "newsletter \"offers\" (withdrawn)\r\n"));
	assert_non_null(strstr(out, "newsletter\r\n\"Special offers\")")
	    ? "x" : strstr(out, "\"Special offers\""));
	/* original headers, re-folded; no header can be injected */
	assert_non_null(strstr(out, "\r\nReceived: from a.example by b.example;"
	    "\r\n\tMon, 23 Nov 2026"));
	assert_non_null(strstr(out, "\r\nX-Odd: x\r\n\tBcc: evil@example.org"));
	assert_null(strstr(out, "\r\nBcc:"));
	assert_int_equal(occurrences(out, "Action: failed"), 2);

	assert_int_equal(python_check(out, len, "--sender news@offers.example.com"
	    " --type offers --host mx.example.com"
	    " --orcpt Amy@Y.example=amy+tag@y.example"
	    " --header X-Newsletter-Type --header Received --header Message-ID"
	    " bob@y.example:no-consent Amy@Y.example:withdrawn"), 0);
	/* the checker is not a rubber stamp */
	assert_int_not_equal(python_check(out, len, "--sender news@offers."
	    "example.com --type offers bob@y.example:no-consent 2>/dev/null"), 0);

	/* a second DSN has its own Message-ID and boundary */
	assert_int_equal(cm_dsn_compose(&m, &out2, &len2), CM_OK);
	assert_null(strstr(out2, boundary));
	{
		const char *a = strstr(out, "Message-ID: "), *c = strstr(out2,
		    "Message-ID: ");

		assert_non_null(a);
		assert_non_null(c);
		assert_int_not_equal(strncmp(a, c, 40), 0);
	}
	free(out);
	free(out2);
}

static void
test_compose_utf8(void **state)
{
	cm_dsn_rcpt r[] = {
		{ .rcpt = "<j\xc3\xb6rg@ex\xc3\xa4mple.de>", .reason = "expired" },
		{ .rcpt = "plain@example.de", .reason = "no-consent" },
	};
	cm_dsn_msg m = base_msg();
	char *out = NULL;
	size_t len;

	(void)state;
	m.rcpts = r;
	m.smtputf8 = true;
	assert_int_equal(cm_dsn_compose(&m, &out, &len), CM_OK);
	assert_wire_clean(out, len);
	assert_non_null(strstr(out, "Content-Type: "
	    "message/global-delivery-status\r\n"));
	assert_non_null(strstr(out, "Content-Type: message/global-headers\r\n"));
	assert_non_null(strstr(out, "Final-Recipient: utf-8;"
	    "j\xc3\xb6rg@ex\xc3\xa4mple.de\r\n"));
	assert_non_null(strstr(out, "Final-Recipient: rfc822;plain@example.de"));
	assert_int_equal(python_check(out, len, "--utf8 --sender "
	    "news@offers.example.com --type offers --header Subject "
	    "j\xc3\xb6rg@ex\xc3\xa4mple.de:expired plain@example.de:no-consent"),
	    0);
	free(out);

	/* without SMTPUTF8 no 8-bit address reaches the report */
	m.smtputf8 = false;
	assert_int_equal(cm_dsn_compose(&m, &out, &len), CM_OK);
	assert_non_null(strstr(out, "Final-Recipient: rfc822;j?rg@ex?mple.de"));
	assert_non_null(strstr(out, "  <j?rg@ex?mple.de>: no consent"));
	free(out);
}

static void
test_compose_refuses(void **state)
{
	cm_dsn_msg m = base_msg();
	char *out = NULL;
	size_t len;

	(void)state;
	m.sender = "<>";
	assert_int_equal(cm_dsn_compose(&m, &out, &len), CM_EINVAL);
	m.sender = "";
	assert_int_equal(cm_dsn_compose(&m, &out, &len), CM_EINVAL);
	m.sender = NULL;
	assert_int_equal(cm_dsn_compose(&m, &out, &len), CM_EINVAL);
	m = base_msg();
	m.nrcpts = 0;
	assert_int_equal(cm_dsn_compose(&m, &out, &len), CM_EINVAL);
	assert_null(out);
	assert_int_equal(cm_dsn_compose(NULL, &out, &len), CM_EINVAL);
}

static void
test_compose_templates_and_caps(void **state)
{
	cm_dsn_msg m = base_msg();
	cm_tmpl *text = NULL, *line = NULL;
	char *out = NULL, *big;
	const char **names, **values;
	size_t len;

	(void)state;
	assert_int_equal(cm_tmpl_compile("Removed from %{name} by %{host}:",
	    &text, NULL), CM_OK);
	assert_int_equal(cm_tmpl_compile("%{rcpt} -- %{reason} -- 100%%",
	    &line, NULL), CM_OK);
	m.text = text;
	m.rcpt_line = line;
	assert_int_equal(cm_dsn_compose(&m, &out, &len), CM_OK);
	assert_non_null(strstr(out, "\r\n\r\nRemoved from Special offers by "
	    "mx.example.com:\r\n\r\n  bob@y.example -- no-consent -- 100%\r\n"));
	free(out);
	cm_tmpl_free(text);
	cm_tmpl_free(line);

	/* original headers are capped, whole fields only */
	big = malloc(5001);
	names = calloc(100, sizeof(*names));
	values = calloc(100, sizeof(*values));
	assert_non_null(big);
	assert_non_null(names);
	assert_non_null(values);
	memset(big, 'v', 5000);
	big[5000] = '\0';
	for (int i = 0; i < 100; i++) {
		names[i] = "X-Big";
		values[i] = big;
	}
	m = base_msg();
	m.nhdrs = 100;
	m.hnames = names;
	m.hvalues = values;
	assert_int_equal(cm_dsn_compose(&m, &out, &len), CM_OK);
	assert_true(len < CM_DSN_HEADERS_MAX + 8000);
	assert_int_equal(occurrences(out, "X-Big: "), CM_DSN_HEADERS_MAX / 5009);
	assert_int_equal(python_check(out, len, "--sender news@offers.example.com"
	    " --type offers --orcpt Amy@Y.example=amy+tag@y.example"
	    " bob@y.example:no-consent Amy@Y.example:withdrawn"), 0);
	free(out);
	free(big);
	free(names);
	free(values);
}

static void
test_notify_params(void **state)
{
	static const struct {
		const char *args[4];
		bool wants;
	} cases[] = {
		{ { NULL }, true },
		{ { "NOTIFY=NEVER", NULL }, false },
		{ { "notify=never", NULL }, false },
		{ { "NOTIFY=SUCCESS,DELAY", NULL }, false },
		{ { "NOTIFY=SUCCESS", NULL }, false },
		{ { "NOTIFY=FAILURE", NULL }, true },
		{ { "NOTIFY=SUCCESS,FAILURE,DELAY", NULL }, true },
		{ { "ORCPT=rfc822;a@b", "NOTIFY=DELAY,failure", NULL }, true },
		{ { "ORCPT=rfc822;a@b", NULL }, true },
		{ { "NOTIFYX=NEVER", NULL }, true },
	};
	const char *const args[] = { "ORCPT=rfc822;a+2Bb@c", "Notify=NEVER",
	    NULL };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cm_dsn_wants_failure(cases[i].args) != cases[i].wants)
			fail_msg("case %zu", i);
	assert_true(cm_dsn_wants_failure(NULL));
	assert_string_equal(cm_dsn_param(args, "orcpt"), "rfc822;a+2Bb@c");
	assert_string_equal(cm_dsn_param(args, "NOTIFY"), "NEVER");
	assert_null(cm_dsn_param(args, "ENVID"));
	assert_null(cm_dsn_param(NULL, "ENVID"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compose_structure),
		cmocka_unit_test(test_compose_utf8),
		cmocka_unit_test(test_compose_refuses),
		cmocka_unit_test(test_compose_templates_and_caps),
		cmocka_unit_test(test_notify_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
