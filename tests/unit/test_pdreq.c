/*
 * test_pdreq.c - the policy-delegation request parser (policyd/request.h):
 * every input fed whole and in every chunk size from 1 octet up, since
 * the network splits a request anywhere.
 *
 * request.c is compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../policyd/request.c"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct tcase {
	const char *what;
	const char *in;
	size_t len;		/* 0: strlen(in) */
	cm_pdreq_rc rc;		/* of the first request */
	size_t used;		/* with DONE: octets of the first request */
	const char *attrs[8][2];	/* expected name/value pairs, with DONE */
	size_t nattrs;
	const char *error;	/* with BAD: the start of the reason */
};

static const struct tcase cases[] = {
	{ "a request", "request=smtpd_access_policy\nprotocol_state=RCPT\n"
	  "recipient=bob@example.com\n\n", 0, CM_PDREQ_DONE, 0,
	  { { "request", "smtpd_access_policy" }, { "protocol_state", "RCPT" },
	    { "recipient", "bob@example.com" } }, 3, NULL },
	{ "empty values and '=' inside a value",
	  "sender=\nsasl_username=\nccert_subject=CN=a=b\n\n", 0,
	  CM_PDREQ_DONE, 0, { { "sender", "" }, { "sasl_username", "" },
	    { "ccert_subject", "CN=a=b" } }, 3, NULL },
	{ "CR LF line ends", "a=1\r\nb=2\r\n\r\n", 0, CM_PDREQ_DONE, 0,
	  { { "a", "1" }, { "b", "2" } }, 2, NULL },
	{ "a value with 8-bit octets and spaces",
	  "recipient=j\xc3\xb6rg doe@example.com\n\n", 0, CM_PDREQ_DONE, 0,
	  { { "recipient", "j\xc3\xb6rg doe@example.com" } }, 1, NULL },
	{ "the next request is left alone", "a=1\n\nb=2\n\n", 0,
	  CM_PDREQ_DONE, 5, { { "a", "1" } }, 1, NULL },
	{ "only an empty line", "\n", 0, CM_PDREQ_DONE, 1, { { NULL } }, 0,
	  NULL },
	{ "not complete yet", "a=1\nb=2\n", 0, CM_PDREQ_MORE, 0, { { NULL } },
	  0, NULL },
	{ "no '='", "request\n\n", 0, CM_PDREQ_BAD, 0, { { NULL } }, 0,
	  "a line without '='" },
	{ "no name", "=x\n\n", 0, CM_PDREQ_BAD, 0, { { NULL } }, 0,
	  "an attribute without a name" },
	{ "an upper-case name", "Request=x\n\n", 0, CM_PDREQ_BAD, 0,
	  { { NULL } }, 0, "an attribute name with" },
	{ "a space in a name", "re quest=x\n\n", 0, CM_PDREQ_BAD, 0,
	  { { NULL } }, 0, "an attribute name with" },
	{ "a name twice", "recipient=a@x\nrecipient=b@x\n\n", 0,
	  CM_PDREQ_BAD, 0, { { NULL } }, 0, "an attribute given twice" },
	{ "a NUL octet", "recipient=a\0b@x\n\n", 16, CM_PDREQ_BAD, 0,
	  { { NULL } }, 0, "a NUL octet" },
};

/* Feed C's input in chunks of STEP octets; check the outcome. */
static void
run_case(const struct tcase *c, size_t step)
{
	size_t len = c->len != 0 ? c->len : strlen(c->in), off = 0, used = 0;
	cm_pdreq *r = cm_pdreq_new();
	cm_pdreq_rc rc = CM_PDREQ_MORE;

	assert_non_null(r);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		rc = cm_pdreq_feed(r, c->in + off, n, &used);
		if (rc != CM_PDREQ_MORE)
			break;
		off += n;
	}
	if (rc != c->rc)
		fail_msg("%s (step %zu): rc %d, want %d", c->what, step,
		    (int)rc, (int)c->rc);
	if (rc == CM_PDREQ_DONE) {
		if (c->used != 0 && off + used != c->used)
			fail_msg("%s (step %zu): used %zu, want %zu", c->what,
			    step, off + used, c->used);
		assert_int_equal(cm_pdreq_count(r), c->nattrs);
		for (size_t i = 0; i < c->nattrs; i++) {
			const char *v = cm_pdreq_get(r, c->attrs[i][0]);

			assert_non_null(v);
			assert_string_equal(v, c->attrs[i][1]);
		}
		assert_null(cm_pdreq_get(r, "absent"));
	}
	if (rc == CM_PDREQ_BAD) {
		assert_true(strncmp(cm_pdreq_error(r), c->error,
		    strlen(c->error)) == 0);
		/* stays refused until reset */
		assert_int_equal(cm_pdreq_feed(r, "a=1\n\n", 5, &used),
		    CM_PDREQ_BAD);
	}
	cm_pdreq_free(r);
}

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++)
		for (size_t step = 1; step <= 64; step++)
			run_case(&cases[i], step);
}

/* Requests in sequence over one stream, any split. */
static void
test_sequence(void **state)
{
	const char *in = "n=1\n\nn=2\nx=y\n\n\nn=3\n\n";
	const char *want[] = { "1", "2", NULL, "3" };
	size_t len = strlen(in);

	(void)state;
	for (size_t step = 1; step <= len; step++) {
		cm_pdreq *r = cm_pdreq_new();
		size_t off = 0, k = 0, end = 0;

		assert_non_null(r);
		while (off < len) {
			size_t n, used;
			cm_pdreq_rc rc;

			if (end <= off)
				end = off + step < len ? off + step : len;
			n = end - off;
			rc = cm_pdreq_feed(r, in + off, n, &used);
			if (rc == CM_PDREQ_MORE) {
				off += n;
				continue;
			}
			assert_int_equal(rc, CM_PDREQ_DONE);
			assert_true(k < NELEM(want));
			if (want[k] == NULL)
				assert_null(cm_pdreq_get(r, "n"));
			else
				assert_string_equal(cm_pdreq_get(r, "n"),
				    want[k]);
			k++;
			off += used;
			cm_pdreq_reset(r);
		}
		assert_int_equal(k, NELEM(want));
		cm_pdreq_free(r);
	}
}

/* The bounds: the longest line, attribute count and size pass; one more
 * is refused. */
static void
test_bounds(void **state)
{
	size_t cap = CM_PDREQ_SIZE_MAX * 2, used, o;
	char *buf = malloc(cap);
	cm_pdreq *r = cm_pdreq_new();

	(void)state;
	assert_non_null(buf);
	assert_non_null(r);
	/* a line of exactly CM_PDREQ_LINE_MAX octets, then one more */
	for (int extra = 0; extra <= 1; extra++) {
		cm_pdreq_reset(r);
		memcpy(buf, "v=", 2);
		memset(buf + 2, 'x', CM_PDREQ_LINE_MAX - 2 + (size_t)extra);
		o = CM_PDREQ_LINE_MAX + (size_t)extra;
		memcpy(buf + o, "\n\n", 2);
		assert_int_equal(cm_pdreq_feed(r, buf, o + 2, &used),
		    extra ? CM_PDREQ_BAD : CM_PDREQ_DONE);
		if (extra)
			assert_string_equal(cm_pdreq_error(r),
			    "a line too long");
	}
	/* CM_PDREQ_ATTRS_MAX attributes, then one more */
	for (int extra = 0; extra <= 1; extra++) {
		cm_pdreq_reset(r);
		o = 0;
		for (int i = 0; i < CM_PDREQ_ATTRS_MAX + extra; i++)
			o += (size_t)snprintf(buf + o, cap - o, "a%d=v\n", i);
		buf[o++] = '\n';
		assert_int_equal(cm_pdreq_feed(r, buf, o, &used),
		    extra ? CM_PDREQ_BAD : CM_PDREQ_DONE);
		if (extra)
			assert_string_equal(cm_pdreq_error(r),
			    "too many attributes");
		else
			assert_string_equal(cm_pdreq_get(r, "a99"), "v");
	}
	/* a request larger than CM_PDREQ_SIZE_MAX in long lines */
	cm_pdreq_reset(r);
	o = 0;
	for (int i = 0; o + 2100 < cap; i++) {
		o += (size_t)snprintf(buf + o, cap - o, "a%d=", i);
		memset(buf + o, 'y', 2000);
		o += 2000;
		buf[o++] = '\n';
	}
	buf[o++] = '\n';
	assert_int_equal(cm_pdreq_feed(r, buf, o, &used), CM_PDREQ_BAD);
	assert_string_equal(cm_pdreq_error(r), "a request too large");
	/* exactly at the limit: lines that fill the buffer (CM_PDREQ_SIZE_MAX
	 * octets, each LF stored as the line's NUL) are one request; one
	 * octet more is too large */
	for (int extra = 0; extra <= 1; extra++) {
		size_t fill = CM_PDREQ_SIZE_MAX + (size_t)extra;

		cm_pdreq_reset(r);
		o = 0;
		for (int i = 0; fill - o > 1000; i++) {
			o += (size_t)snprintf(buf + o, cap - o, "b%d=", i);
			memset(buf + o, 'z', 900);
			o += 900;
			buf[o++] = '\n';
		}
		o += (size_t)snprintf(buf + o, cap - o, "last=");
		memset(buf + o, 'z', fill - o - 1);
		o = fill - 1;
		buf[o++] = '\n';
		buf[o++] = '\n';
		assert_int_equal(cm_pdreq_feed(r, buf, o, &used),
		    extra ? CM_PDREQ_BAD : CM_PDREQ_DONE);
		if (extra)
			assert_string_equal(cm_pdreq_error(r),
			    "a request too large");
		else
			assert_non_null(cm_pdreq_get(r, "last"));
	}
	/* a short name in the slot of a longer one that is absent, at the
	 * very end of a full buffer ("ag" hashes to the slot of
	 * "sasl_username" on a little-endian machine, as x86-64 and
	 * arm64 are; elsewhere the case still runs, only without the
	 * shared slot): the lookup never reads past it (ASan) */
	cm_pdreq_reset(r);
	o = 0;
	for (int i = 0; CM_PDREQ_SIZE_MAX - 4 - o > 1000; i++) {
		o += (size_t)snprintf(buf + o, cap - o, "c%d=", i);
		memset(buf + o, 'z', 900);
		o += 900;
		buf[o++] = '\n';
	}
	o += (size_t)snprintf(buf + o, cap - o, "pad=");
	memset(buf + o, 'z', CM_PDREQ_SIZE_MAX - 4 - o - 1);
	o = CM_PDREQ_SIZE_MAX - 4 - 1;
	buf[o++] = '\n';
	memcpy(buf + o, "ag=\n\n", 5);
	o += 5;
	assert_int_equal(cm_pdreq_feed(r, buf, o, &used), CM_PDREQ_DONE);
	assert_string_equal(cm_pdreq_get(r, "ag"), "");
	assert_null(cm_pdreq_get(r, "sasl_username"));
	/* the parser is usable again after a reset */
	cm_pdreq_reset(r);
	assert_int_equal(cm_pdreq_feed(r, "a=1\n\n", 5, &used),
	    CM_PDREQ_DONE);
	assert_int_equal(used, 5);
	cm_pdreq_free(r);
	free(buf);
}

/* Names that all hash alike (the same length, first and last eight
 * octets): every one is found with its value, and one given twice is
 * still refused. */
static void
test_collisions(void **state)
{
	char buf[CM_PDREQ_SIZE_MAX], name[32], want[16];
	size_t o = 0, used;
	cm_pdreq *r = cm_pdreq_new();

	(void)state;
	assert_non_null(r);
	for (int i = 0; i < CM_PDREQ_ATTRS_MAX; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o,
		    "pppppppp%02dssssssss=v%d\n", i, i);
	buf[o++] = '\n';
	assert_int_equal(cm_pdreq_feed(r, buf, o, &used), CM_PDREQ_DONE);
	assert_int_equal(cm_pdreq_count(r), CM_PDREQ_ATTRS_MAX);
	for (int i = 0; i < CM_PDREQ_ATTRS_MAX; i++) {
		snprintf(name, sizeof(name), "pppppppp%02dssssssss", i);
		snprintf(want, sizeof(want), "v%d", i);
		assert_string_equal(cm_pdreq_get(r, name), want);
	}
	assert_null(cm_pdreq_get(r, "ppppppppxxssssssss"));
	cm_pdreq_reset(r);
	o = 0;
	for (int i = 0; i < 50; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o,
		    "pppppppp%02dssssssss=v\n", i);
	o += (size_t)snprintf(buf + o, sizeof(buf) - o,
	    "pppppppp17ssssssss=again\n\n");
	assert_int_equal(cm_pdreq_feed(r, buf, o, &used), CM_PDREQ_BAD);
	assert_string_equal(cm_pdreq_error(r), "an attribute given twice");
	cm_pdreq_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_collisions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
