/*
 * test_logline.c - a decision line (milter/log.c cm_log_decision, built
 * without printf on every recipient's path) is the line the formatted
 * path makes (cm_log_decision_fmt + cm_log_decision_tail): the same
 * octets after the time, for plain and journal standard error, with
 * escapes, missing values and truncation at CM_LOG_LINE_MAX; and the
 * time prefix is well formed.
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

/* The line after its time ("2026-12-06T08:23:21.123Z "), if any. */
static const char *
after_time(const char *line, bool plain)
{
	if (!plain)
		return line;
	assert_true(strlen(line) > 25);
	assert_true(line[4] == '-' && line[7] == '-' && line[10] == 'T' &&
	    line[13] == ':' && line[16] == ':' && line[19] == '.' &&
	    line[23] == 'Z' && line[24] == ' ');
	return line + 25;
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
	char a[4 * CM_LOG_LINE_MAX], b[4 * CM_LOG_LINE_MAX];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t na = capture(fast, &rows[i], a, sizeof(a));
		size_t nb = capture(formatted, &rows[i], b, sizeof(b));

		assert_true(na > 0 && na < CM_LOG_LINE_MAX);
		assert_int_equal(a[na - 1], '\n');
		assert_null(memchr(a, '\n', na - 1));
		assert_int_equal(na, nb);
		assert_string_equal(after_time(a, plain), after_time(b, plain));
		if (!plain)
			assert_memory_equal(a, "<6>queue_id=", 12);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_journal),
	};

	memset(big_rcpt, '%', sizeof(big_rcpt) - 1);
	memset(big_extra, 'e', sizeof(big_extra) - 1);
	memset(big_qid, 'Q', sizeof(big_qid) - 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
