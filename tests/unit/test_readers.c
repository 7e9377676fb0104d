/*
 * test_readers.c - what long-running readers (the milter) rely on:
 * cm_index_check_file tells whether data.mdb is still the file the
 * handle reads, and the reader slots of a process that died are reused
 * at once when the slot table is full (the lookup that finds it full
 * does not fail).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmtest.h"
#include "core/index.h"
#include "core/index_int.h"

static char *
path_in(const char *dir, const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static cm_index *
open_ro(const char *dir, unsigned max_readers)
{
	cm_index_opts o = { 0 };
	cm_index *idx = NULL;

	o.readonly = true;
	o.max_readers = max_readers;
	assert_int_equal(cm_index_open(dir, &o, &idx), CM_OK);
	return idx;
}

static void
test_check_file(void **state)
{
	char *dir = cmt_mkdtemp();
	char *data = path_in(dir, "data.mdb"), *other = path_in(dir, "x");
	cm_index *idx;
	int fd;

	(void)state;
	cm_index_close(cmt_open(dir, 0));
	idx = open_ro(dir, 0);
	assert_int_equal(cm_index_check_file(idx), CM_OK);
	assert_int_equal(cm_index_check_file(idx), CM_OK);

	/* another file renamed over data.mdb */
	fd = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	assert_int_equal(rename(other, data), 0);
	assert_int_equal(cm_index_check_file(idx), CM_ESTALE);

	/* and removed */
	assert_int_equal(unlink(data), 0);
	assert_int_equal(cm_index_check_file(idx), CM_NOTFOUND);
	cm_index_close(idx);
	assert_int_equal(cm_index_check_file(NULL), CM_EINVAL);

	/* the whole directory gone */
	cm_index_close(cmt_open(dir, 0));
	idx = open_ro(dir, 0);
	free(data);
	free(other);
	cmt_rmdir(dir);
	assert_int_equal(cm_index_check_file(idx), CM_NOTFOUND);
	cm_index_close(idx);
}

/*
 * A child fills the reader table (4 slots) and is killed with its slots
 * taken; the parent's next read transaction must clear them and
 * succeed, not fail once (a 451 for a recipient).
 */
static void
test_dead_reader_slots(void **state)
{
	char *dir = cmt_mkdtemp(), *lock = path_in(dir, "lock.mdb");
	int c2p[2], p2c[2];
	cm_index *idx;
	cm_rtxn *t = NULL;
	char ch = 0;
	int n = 0, ws;
	pid_t pid;

	(void)state;
	cm_index_close(cmt_open(dir, 0));
	/* the first opener of a new lock file sets the table's size */
	assert_int_equal(unlink(lock), 0);
	assert_int_equal(pipe(c2p), 0);
	assert_int_equal(pipe(p2c), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		cm_index *cidx = open_ro(dir, 4);
		cm_rtxn *ct;
		char nb;

		if (write(c2p[1], "o", 1) != 1 || read(p2c[0], &ch, 1) != 1)
			_exit(2);
		while (n < 100 && cm_index_rbegin(cidx, &ct) == CM_OK)
			n++;	/* held until killed */
		nb = (char)n;
		if (write(c2p[1], &nb, 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	assert_int_equal(read(c2p[0], &ch, 1), 1);
	idx = open_ro(dir, 4);
	assert_int_equal(write(p2c[1], "g", 1), 1);
	assert_int_equal(read(c2p[0], &ch, 1), 1);
	n = ch;
	assert_true(n >= 4 && n < 100);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &ws, 0), pid);

	assert_int_equal(cm_index_rbegin(idx, &t), CM_OK);
	cm_index_rend(idx, t);
	cm_index_close(idx);
	close(c2p[0]);
	close(c2p[1]);
	close(p2c[0]);
	close(p2c[1]);
	free(lock);
	cmt_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_file),
		cmocka_unit_test(test_dead_reader_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
