/*
 * test_logline.c - a decision line (milter/log.c), built without printf
 * on every recipient's path, three ways (cm_log_decision; the tail of
 * cm_log_decision_fmt logged by cm_log_decision_tail; held tails logged
 * by cm_log_decision_tails), is the line printf made before: the same
 * octets after the prefix, for plain and journal standard error, with
 * escapes, missing values and truncation at CM_LOG_LINE_MAX; the
 * prefix is well formed; and cm_log_clean's escapes and cuts, row by row
 * and over random octets (valid UTF-8 out, nothing that reads otherwise,
 * the input's prefix back when unescaped, cut only where the next piece
 * does not fit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <unistr.h>

#include "milter/log.h"

struct row {
	const char *qid, *type, *rcpt, *verdict, *reason, *extra;
};

static char big_rcpt[1500], big_extra[3000], big_qid[200];

/* Run F with standard error in a file; its text into OUT (SIZE). */
static size_t
capture(void (*f)(const struct row *), const struct row *r, char *out,
    size_t size)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(tmp);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fileno(tmp), STDERR_FILENO), STDERR_FILENO);
	f(r);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, size - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return n;
}

static void
fast(const struct row *r)
{
	cm_log_decision(r->qid, r->type, r->rcpt, r->verdict, r->reason,
	    r->extra);
}

static void
formatted(const struct row *r)
{
	char tail[CM_LOG_LINE_MAX];

	cm_log_decision_fmt(tail, sizeof(tail), r->type, r->rcpt, r->verdict,
	    r->reason, r->extra);
	cm_log_decision_tail(r->qid, tail);
}

static void
tails(const struct row *r)
{
	char tail[CM_LOG_LINE_MAX], two[2 * CM_LOG_LINE_MAX];
	size_t n = cm_log_decision_fmt(tail, sizeof(tail), r->type, r->rcpt,
	    r->verdict, r->reason, r->extra);

	/* the same line twice, as a message's held lines */
	memcpy(two, tail, n + 1);
	memcpy(two + n + 1, tail, n + 1);
	cm_log_decision_tails(r->qid, two, 2 * (n + 1));
}

/* The line as printf made it before (the reference), after the prefix
 * of PLEN octets, into OUT: "queue_id=Q type=T rcpt=R verdict=V
 * reason=W[ EXTRA]", the tail cut at CM_LOG_LINE_MAX - 1 and the whole
 * line at CM_LOG_LINE_MAX - 2 octets. */
static void
reference(const struct row *r, size_t plen, char *out, size_t size)
{
	char tail[CM_LOG_LINE_MAX], line[2 * CM_LOG_LINE_MAX], q[80], t[700],
	    c[700];
	size_t max = CM_LOG_LINE_MAX - 2 - plen, n;

	snprintf(tail, sizeof(tail), "type=%s rcpt=%s verdict=%s reason=%s%s%s",
	    cm_log_clean(r->type, t, sizeof(t)),
	    cm_log_clean(r->rcpt, c, sizeof(c)), r->verdict, r->reason,
	    r->extra != NULL ? " " : "", r->extra != NULL ? r->extra : "");
	snprintf(line, sizeof(line), "queue_id=%s %s",
	    cm_log_clean(r->qid, q, sizeof(q)), tail);
	n = strlen(line);
	if (n > max)
		n = max;
	assert_true(n + 2 <= size);
	memcpy(out, line, n);
	out[n] = '\n';
	out[n + 1] = '\0';
}

/* The length of LINE's prefix: "<6>" (journal) or time, name, PID and
 * "info: " (plain, whose time is checked for its form). */
static size_t
prefix_len(const char *line, bool plain)
{
	const char *info;

	if (!plain) {
		assert_memory_equal(line, "<6>", 3);
		return 3;
	}
	assert_true(strlen(line) > 25);
	assert_true(line[4] == '-' && line[7] == '-' && line[10] == 'T' &&
	    line[13] == ':' && line[16] == ':' && line[19] == '.' &&
	    line[23] == 'Z' && line[24] == ' ');
	info = strstr(line, "]: info: ");
	assert_non_null(info);
	assert_memory_equal(line + 25, "consent-test[", 13);
	return (size_t)(info - line) + 9;
}

static void
check_rows(bool plain)
{
	const struct row rows[] = {
		{ "4XyZ1", "weekly-news", "alice@example.net", "allow", "none",
		  "stage=rcpt" },
		{ NULL, "a,b", "<we ird\"%@x>", "deny", "no-consent", NULL },
		{ "", NULL, NULL, "error", "lookup-failed",
		  "stage=rcpt via=policy action=tempfail error=\"x\"" },
		{ big_qid, big_extra, big_rcpt, "deny", "withdrawn", big_extra },
		{ "q", "t", "r", "allow", "none", big_extra },
	};
	void (*const ways[])(const struct row *) = { fast, formatted, tails };
	char a[4 * CM_LOG_LINE_MAX], want[2 * CM_LOG_LINE_MAX];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		for (size_t w = 0; w < sizeof(ways) / sizeof(ways[0]); w++) {
			size_t na = capture(ways[w], &rows[i], a, sizeof(a));
			size_t plen = prefix_len(a, plain), nl;

			reference(&rows[i], plen, want, sizeof(want));
			nl = strlen(want) + plen;
			assert_true(na >= nl && nl < CM_LOG_LINE_MAX);
			assert_memory_equal(a + plen, want, nl - plen);
			/* held lines: the second line is the first again */
			if (ways[w] == tails) {
				assert_int_equal(na, 2 * nl);
				assert_memory_equal(a, a + nl, nl);
			} else {
				assert_int_equal(na, nl);
			}
		}
}

static void
test_plain(void **state)
{
	(void)state;
	unsetenv("JOURNAL_STREAM");
	cm_log_set_name("consent-test");
	cm_log_open(true);
	check_rows(true);
	cm_log_close();
}

static void
test_journal(void **state)
{
	char v[64];
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);

	(void)state;
	/* the journal is recognised by JOURNAL_STREAM naming stderr's
	 * device and inode: make it name the file stderr is then */
	assert_non_null(tmp);
	assert_int_equal(dup2(fileno(tmp), STDERR_FILENO), STDERR_FILENO);
	{
		struct stat st;

		assert_int_equal(fstat(STDERR_FILENO, &st), 0);
		snprintf(v, sizeof(v), "%llu:%llu",
		    (unsigned long long)st.st_dev,
		    (unsigned long long)st.st_ino);
	}
	setenv("JOURNAL_STREAM", v, 1);
	cm_log_open(true);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	fclose(tmp);
	assert_true(cm_log_journal());
	check_rows(false);
	cm_log_close();
	unsetenv("JOURNAL_STREAM");
}

/* A type list longer than 80 octets is logged whole: cut at 80 (as it
 * was), "a...a,weekly1,offers-premium" read "...,offers", another type. */
static void
test_long_types(void **state)
{
	char types[400], want[420], out[CM_LOG_LINE_MAX];

	(void)state;
	memset(types, 'a', 300);
	strcpy(types + 300, ",weekly1,offers-premium");
	cm_log_decision_fmt(out, sizeof(out), types, "bob@example.com",
	    "allow", "none", NULL);
	snprintf(want, sizeof(want), "type=%s rcpt=", types);
	assert_true(strncmp(out, want, strlen(want)) == 0);
}

/* cm_log_clean: what each octet becomes, and where a value too long is
 * cut (never inside an escape) */
static void
test_clean(void **state)
{
	static const struct {
		const char *in;
		size_t size;
		const char *out;
	} rows[] = {
		{ NULL, 16, "-" },
		{ "", 16, "-" },
		{ "alice@example.net", 64, "alice@example.net" },
		{ "a b\tc", 16, "a%20b%09c" },
		{ "x%y\"z", 16, "x%25y%22z" },
		{ "\x7f\x01!~", 16, "%7F%01!~" },
		{ "h\xc3\xa9llo", 16, "h\xc3\xa9llo" },	/* UTF-8 kept */
		{ "abcdef", 4, "abc" },
		{ "abcdef", 7, "abcdef" },
		{ "ab c", 5, "ab" },		/* "%20" does not fit */
		{ "ab c", 6, "ab%20" },
		{ "ab cd", 7, "ab%20c" },
		{ "   ", 10, "%20%20%20" },
		{ "   ", 9, "%20%20" },
		{ "abc", 3, "" },		/* below the minimum size */
		/* UTF-8: a valid character kept whole, anything else and
		 * the characters that would make the line read otherwise
		 * escaped octet by octet */
		{ "\xe2\x82\xac\xf0\x9f\x98\x80", 16,
		    "\xe2\x82\xac\xf0\x9f\x98\x80" },	/* U+20AC U+1F600 */
		{ "\xe2\x80\xb0", 16, "\xe2\x80\xb0" },	/* U+2030, kept */
		{ "a\xff" "b", 16, "a%FFb" },
		{ "a\xc3", 16, "a%C3" },			/* truncated */
		{ "\xc3(", 16, "%C3(" },
		{ "\xe2\x82", 16, "%E2%82" },
		{ "\xc0\xaf", 16, "%C0%AF" },		/* overlong '/' */
		{ "\xe0\x80\xaf", 16, "%E0%80%AF" },
		{ "\xf0\x80\x80\xaf", 16, "%F0%80%80%AF" },
		{ "\xed\xa0\x80", 16, "%ED%A0%80" },	/* surrogate */
		{ "\xf4\x90\x80\x80", 16, "%F4%90%80%80" },	/* > U+10FFFF */
		{ "\xc2\x85", 16, "%C2%85" },		/* NEL (C1) */
		{ "\xc2\xa0", 16, "%C2%A0" },		/* no-break space */
		{ "\xc2\xa1", 16, "\xc2\xa1" },		/* U+00A1 kept */
		{ "\xc2\xad", 16, "%C2%AD" },		/* soft hyphen */
		{ "\xe2\x80\x8b", 16, "%E2%80%8B" },	/* zero-width space */
		{ "\xe2\x80\x90", 16, "\xe2\x80\x90" },	/* U+2010 kept */
		{ "\xe2\x80\xaf", 16, "%E2%80%AF" },	/* U+202F */
		{ "\xe2\x81\xa0", 16, "%E2%81%A0" },	/* word joiner */
		{ "\xe3\x80\x80", 16, "%E3%80%80" },	/* ideographic space */
		{ "\xe3\x80\x81", 16, "\xe3\x80\x81" },	/* U+3001 kept */
		{ "\xef\xbb\xbf", 16, "%EF%BB%BF" },	/* BOM */
		{ "\xe2\x80\xa8", 16, "%E2%80%A8" },	/* U+2028 */
		{ "\xe2\x80\xa9", 16, "%E2%80%A9" },	/* U+2029 */
		{ "a\xe2\x80\xae" "b", 16, "a%E2%80%AEb" },	/* U+202E RLO */
		{ "\xe2\x80\xaa", 16, "%E2%80%AA" },	/* U+202A */
		{ "\xe2\x80\x8e\xe2\x80\x8f", 32,
		    "%E2%80%8E%E2%80%8F" },			/* LRM, RLM */
		{ "\xe2\x81\xa6\xe2\x81\xa9", 32,
		    "%E2%81%A6%E2%81%A9" },			/* U+2066, U+2069 */
		{ "\xd8\x9c", 16, "%D8%9C" },		/* U+061C ALM */
		{ "\xe2\x81\xaa", 16, "\xe2\x81\xaa" },	/* U+206A kept */
		{ "a\xe2\x82\xac", 4, "a" },		/* whole or not at all */
		{ "a\xe2\x82\xac", 5, "a\xe2\x82\xac" },
		{ "ab\xc3\xa9", 4, "ab" },
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(buf, 'X', sizeof(buf));
		assert_ptr_equal(cm_log_clean(rows[i].in, buf, rows[i].size),
		    buf);
		assert_string_equal(buf, rows[i].out);
	}
	memset(buf, 'X', sizeof(buf));
	assert_ptr_equal(cm_log_clean("abc", buf, 0), buf);
	assert_int_equal(buf[0], 'X');	/* size 0: nothing written */
}

/* May code point U stand in a log line as it is?  Not a control, no
 * white space, no bidirectional control, no invisible format character
 * (the list of consent-milter(8), written out here on its own). */
static bool
shown(ucs4_t u)
{
	return u > 0x20 && u != 0x7f && u != '%' && u != '"' &&
	    !(u >= 0x80 && u <= 0xa0) && u != 0xad && u != 0x061c &&
	    u != 0x1680 && u != 0x180e && !(u >= 0x2000 && u <= 0x200f) &&
	    !(u >= 0x2028 && u <= 0x202f) && !(u >= 0x205f && u <= 0x2064) &&
	    !(u >= 0x2066 && u <= 0x2069) && u != 0x3000 && u != 0xfeff;
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' :
	    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void
test_clean_random(void **state)
{
	static const unsigned char pick[] = {
		'a', 'Z', '0', '@', '.', ' ', '%', '"', 0x7f, 0x01,
		0x80, 0x85, 0x9c, 0xa0, 0xa9, 0xae, 0xbf, 0xc0, 0xc2, 0xc3,
		0xd8, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x81,
		0x8e, 0x8f, 0xa6, 0xa8, 0x90, 0x9f, 0xe1, 0xe3, 0xbb, 0x9a,
		0xad, 0x8b, 0xa4, 0xa5,
	};
	uint64_t r = 0x2545f4914f6cdd1du;
	char in[48], out[256], back[256];

	(void)state;
	for (int k = 0; k < 200000; k++) {
		size_t n, size, len, bn = 0;

		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		n = r % 40;
		size = 4 + (r >> 8) % 60;
		for (size_t i = 0; i < n; i++) {
			r ^= r << 13, r ^= r >> 7, r ^= r << 17;
			/* plain runs long enough to be read eight at a time */
			in[i] = (char)(r % 3 != 0 ? 'a' + (r >> 2) % 26 :
			    pick[(r >> 2) % sizeof(pick)]);
		}
		in[n] = '\0';
		cm_log_clean(in, out, size);
		len = strlen(out);
		assert_true(len <= size - 1);
		if (n == 0) {
			assert_string_equal(out, "-");
			continue;
		}
		/* valid UTF-8, every character shown as it is or escaped */
		assert_null(u8_check((const uint8_t *)out, len));
		for (size_t i = 0; i < len;) {
			ucs4_t u;
			int l = u8_mbtouc(&u, (const uint8_t *)out + i, len - i);

			if (u == '%') {
				assert_true(i + 2 < len && hexval(out[i + 1]) >= 0 &&
				    hexval(out[i + 2]) >= 0);
				back[bn++] = (char)(hexval(out[i + 1]) * 16 +
				    hexval(out[i + 2]));
				i += 3;
				continue;
			}
			if (!shown(u))
				fail_msg("input %d: U+%04X shown raw", k, (unsigned)u);
			memcpy(back + bn, out + i, (size_t)l);
			bn += (size_t)l;
			i += (size_t)l;
		}
		/* the input's beginning, cut only where the next piece (at
		 * most four octets) did not fit */
		assert_true(bn <= n);
		assert_memory_equal(back, in, bn);
		if (bn < n)
			assert_true(len + 4 > size - 1);
	}
	/* every code point of the first two planes, alone: as it is where
	 * shown() says so, else escaped octet by octet */
	for (ucs4_t u = 0x80; u < 0x20000; u++) {
		uint8_t enc[8];
		int l = u8_uctomb(enc, u, sizeof(enc));
		char want[16];

		if (l <= 0)
			continue;	/* a surrogate */
		enc[l] = '\0';
		cm_log_clean((const char *)enc, out, sizeof(out));
		if (shown(u)) {
			assert_string_equal(out, (const char *)enc);
			continue;
		}
		for (int i = 0; i < l; i++)
			snprintf(want + 3 * i, sizeof(want) - 3 * (size_t)i, "%%%02X",
			    enc[i]);
		if (strcmp(out, want) != 0)
			fail_msg("U+%04X: %s, want %s", (unsigned)u, out, want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_journal),
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_clean_random),
		cmocka_unit_test(test_long_types),
	};

	memset(big_rcpt, '%', sizeof(big_rcpt) - 1);
	memset(big_extra, 'e', sizeof(big_extra) - 1);
	memset(big_qid, 'Q', sizeof(big_qid) - 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
