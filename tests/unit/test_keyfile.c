/* test_keyfile.c - key files (core/keyfile.h) and the whole-file reads
 * and atomic writes under them (core/util.h). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmtest.h"
#include "core/keyfile.h"
#include "core/util.h"

struct fx {
	char *dir;
	char key[512], other[512];
};

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	fx->dir = cmt_mkdtemp();
	snprintf(fx->key, sizeof(fx->key), "%s/key", fx->dir);
	snprintf(fx->other, sizeof(fx->other), "%s/other", fx->dir);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	cmt_rmdir(fx->dir);
	free(fx);
	return 0;
}

static void
put(const char *path, const char *s, size_t n)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(s, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

static void
test_create_and_load(void **state)
{
	struct fx *fx = *state;
	unsigned char k1[64], k2[64];
	size_t n1 = 0, n2 = 0;
	struct stat sb;

	assert_int_equal(cm_keyfile_load(fx->key, false, 16, k1, sizeof(k1),
	    &n1), CM_NOTFOUND);
	assert_int_equal(cm_keyfile_load(fx->key, true, 16, k1, sizeof(k1),
	    &n1), CM_OK);
	assert_int_equal(n1, CM_KEYFILE_NEW_LEN);
	assert_int_equal(stat(fx->key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, CM_KEYFILE_NEW_LEN);
	/* loaded again, created or not: the same key */
	assert_int_equal(cm_keyfile_load(fx->key, true, 16, k2, sizeof(k2),
	    &n2), CM_OK);
	assert_int_equal(n2, n1);
	assert_memory_equal(k1, k2, n1);
	assert_int_equal(cm_keyfile_load(fx->key, false, 32, k2, 32, &n2),
	    CM_OK);
	assert_memory_equal(k1, k2, n1);
	/* no temporary file stays behind */
	assert_int_equal(access(fx->key, F_OK), 0);
	{
		char tmp[600];

		snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", fx->key,
		    (long)getpid());
		assert_int_equal(access(tmp, F_OK), -1);
	}
}

static void
test_load_errors(void **state)
{
	struct fx *fx = *state;
	unsigned char k[64];
	size_t n = 0;

	put(fx->key, "0123456789abcde", 15);	/* one short */
	assert_int_equal(cm_keyfile_load(fx->key, true, 16, k, sizeof(k), &n),
	    CM_EFORMAT);
	put(fx->key, "0123456789abcdef", 16);
	assert_int_equal(cm_keyfile_load(fx->key, false, 16, k, sizeof(k),
	    &n), CM_OK);
	assert_int_equal(n, 16);
	assert_int_equal(cm_keyfile_load(fx->key, false, 16, k, 15, &n),
	    CM_EINVAL);
	put(fx->key, "0123456789abcdef0", 17);	/* one long */
	assert_int_equal(cm_keyfile_load(fx->key, false, 16, k, 16, &n),
	    CM_EFORMAT);
	/* a symbolic link is followed */
	assert_int_equal(symlink(fx->key, fx->other), 0);
	assert_int_equal(cm_keyfile_load(fx->other, false, 16, k, sizeof(k),
	    &n), CM_OK);
	assert_int_equal(n, 17);
	assert_int_equal(cm_keyfile_load(NULL, true, 16, k, sizeof(k), &n),
	    CM_EINVAL);
	assert_int_equal(cm_keyfile_load("", true, 16, k, sizeof(k), &n),
	    CM_EINVAL);
	assert_int_equal(cm_keyfile_load(fx->key, false, 0, k, sizeof(k), &n),
	    CM_EINVAL);
	assert_int_equal(cm_keyfile_load(fx->key, true, 16, k, 31, &n),
	    CM_EINVAL);
}

static void
test_atomic_write_and_read(void **state)
{
	struct fx *fx = *state;
	char *buf = NULL;
	size_t n = 0;
	struct stat sb;

	assert_int_equal(cm_write_file_atomic(fx->key, "one", 3, 0640, false),
	    CM_OK);
	assert_int_equal(stat(fx->key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	/* not REPLACE: the first one stays */
	assert_int_equal(cm_write_file_atomic(fx->key, "two", 3, 0600, false),
	    CM_EEXIST);
	assert_int_equal(cm_read_file_at(AT_FDCWD, fx->key, false, 100, &buf,
	    &n), CM_OK);
	assert_int_equal(n, 3);
	assert_string_equal(buf, "one");
	free(buf);
	/* REPLACE */
	assert_int_equal(cm_write_file_atomic(fx->key, "three", 5, 0600,
	    true), CM_OK);
	assert_int_equal(cm_read_file_at(AT_FDCWD, fx->key, false, 5, &buf,
	    &n), CM_OK);
	assert_string_equal(buf, "three");
	free(buf);
	assert_int_equal(cm_read_file_at(AT_FDCWD, fx->key, false, 4, &buf,
	    &n), CM_ETOOLONG);
	/* a symbolic link only when asked to follow */
	assert_int_equal(symlink(fx->key, fx->other), 0);
	assert_int_equal(cm_read_file_at(AT_FDCWD, fx->other, false, 100,
	    &buf, &n), CM_EIO);
	assert_int_equal(cm_read_file_at(AT_FDCWD, fx->other, true, 100, &buf,
	    &n), CM_OK);
	assert_string_equal(buf, "three");
	free(buf);
	assert_int_equal(cm_read_file_at(AT_FDCWD, "/nonexistent/x", true, 100,
	    &buf, &n), CM_NOTFOUND);
	assert_int_equal(cm_write_file_atomic("/nonexistent/x", "a", 1, 0600,
	    true), CM_NOTFOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_load, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_atomic_write_and_read,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
