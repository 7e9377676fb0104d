/*
 * test_pdstamp.c - consent-policy's stamp (core/pdstamp.h): the digest,
 * written and checked: fresh, for another configuration, missing,
 * stale (old or dated ahead), not a stamp, a symbolic link.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmtest.h"
#include "core/pdstamp.h"

static char *dir;
static char path[4096];

static int
setup(void **state)
{
	(void)state;
	dir = cmt_mkdtemp();
	snprintf(path, sizeof(path), "%s/stamp", dir);
	return 0;
}

static int
teardown(void **state)
{
	char p[4200];

	(void)state;
	unlink(path);
	snprintf(p, sizeof(p), "%s/link", dir);
	unlink(p);
	cmt_rmdir(dir);
	return 0;
}

static void
set_mtime(time_t t)
{
	struct timespec ts[2] = { { .tv_sec = t }, { .tv_sec = t } };

	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void
test_digest(void **state)
{
	char a[CM_PDSTAMP_DIGEST_LEN + 1], b[CM_PDSTAMP_DIGEST_LEN + 1];

	(void)state;
	cm_pdstamp_digest("mode: enforce\n", 14, a);
	cm_pdstamp_digest("mode: enforce\n", 14, b);
	assert_int_equal(strlen(a), CM_PDSTAMP_DIGEST_LEN);
	assert_string_equal(a, b);
	cm_pdstamp_digest("mode: monitor\n", 14, b);
	assert_string_not_equal(a, b);
	cm_pdstamp_digest("", 0, b);
	assert_string_not_equal(a, b);
}

static void
test_check(void **state)
{
	char a[CM_PDSTAMP_DIGEST_LEN + 1], b[CM_PDSTAMP_DIGEST_LEN + 1];
	char link[4200];
	time_t now = time(NULL);
	FILE *f;

	(void)state;
	cm_pdstamp_digest("one", 3, a);
	cm_pdstamp_digest("two", 3, b);
	assert_int_equal(cm_pdstamp_check(path, a, now), CM_PDSTAMP_MISSING);
	assert_int_equal(cm_pdstamp_write(path, a, 42), CM_OK);
	assert_int_equal(cm_pdstamp_check(path, a, time(NULL)),
	    CM_PDSTAMP_OK);
	assert_int_equal(cm_pdstamp_check(path, b, time(NULL)),
	    CM_PDSTAMP_OTHER);
	/* not rewritten for longer than CM_PDSTAMP_MAX_AGE, or dated ahead */
	now = time(NULL);
	set_mtime(now - CM_PDSTAMP_MAX_AGE - 2);
	assert_int_equal(cm_pdstamp_check(path, a, now), CM_PDSTAMP_STALE);
	set_mtime(now + CM_PDSTAMP_MAX_AGE + 2);
	assert_int_equal(cm_pdstamp_check(path, a, now), CM_PDSTAMP_STALE);
	set_mtime(now - CM_PDSTAMP_MAX_AGE + 2);
	assert_int_equal(cm_pdstamp_check(path, a, now), CM_PDSTAMP_OK);
	/* rewritten: fresh again, and for the new configuration */
	assert_int_equal(cm_pdstamp_write(path, b, 42), CM_OK);
	assert_int_equal(cm_pdstamp_check(path, b, time(NULL)),
	    CM_PDSTAMP_OK);
	assert_int_equal(cm_pdstamp_check(path, a, time(NULL)),
	    CM_PDSTAMP_OTHER);
	/* a symbolic link is not followed */
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(cm_pdstamp_check(link, b, time(NULL)),
	    CM_PDSTAMP_BAD);
	/* not a stamp */
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "consent-policy-stamp 1 %s\n", "zz");
	assert_int_equal(fclose(f), 0);
	assert_int_equal(cm_pdstamp_check(path, b, time(NULL)),
	    CM_PDSTAMP_BAD);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(cm_pdstamp_check(path, b, time(NULL)),
	    CM_PDSTAMP_BAD);
	/* bad arguments */
	assert_int_equal(cm_pdstamp_write(path, "xyz", 1), CM_EINVAL);
	assert_int_equal(cm_pdstamp_check(dir, b, time(NULL)), CM_PDSTAMP_BAD);
	assert_string_equal(cm_pdstamp_state_name(CM_PDSTAMP_OTHER),
	    "for another configuration");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
