/*
 * test_wlock.c - the writer lock (core/wlock.h) and what cm_index_open
 * makes of it: one writer per index at a time, a second one waits or
 * gets CM_EBUSY at once, readers never wait, and no writer's open ever
 * shortens data.mdb.
 *
 * flock(2) locks belong to open file descriptions, so two acquisitions
 * in one process exclude each other as two processes would; an index
 * is opened in a child process wherever a second environment would be
 * needed (LMDB: one environment per file and process).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmtest.h"
#include "core/index.h"
#include "core/wlock.h"

#define T0 INT64_C(1700000000000000)

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	(void)nanosleep(&ts, NULL);
}

/* Wait (at most 10 s) for child PID; its exit status, or -1. */
static int
wait_child(pid_t pid)
{
	for (int i = 0; i < 2000; i++) {
		int ws;
		pid_t r = waitpid(pid, &ws, WNOHANG);

		if (r == pid)
			return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 +
			    WTERMSIG(ws);
		nap_ms(5);
	}
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
	return -1;
}

/* Still running after MS milliseconds? */
static bool
still_running(pid_t pid, long ms)
{
	nap_ms(ms);
	return waitpid(pid, NULL, WNOHANG) == 0;
}

typedef struct waiter {
	const char *dir;
	atomic_bool done;
	cm_status st;
	cm_wlock *l;
} waiter;

static void *
waiter_main(void *arg)
{
	waiter *w = arg;

	w->st = cm_wlock_acquire(w->dir, true, &w->l);
	atomic_store(&w->done, true);
	return NULL;
}

static void
test_lock(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_wlock *a = NULL, *b = (cm_wlock *)&a;
	waiter w = { .dir = dir };
	char path[4096];
	struct stat sb;
	pthread_t t;

	(void)state;
	assert_int_equal(cm_wlock_acquire(dir, false, &a), CM_OK);
	assert_non_null(a);
	snprintf(path, sizeof(path), "%s/%s", dir, CM_WLOCK_FILE);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	/* a second writer that does not wait: busy at once */
	assert_int_equal(cm_wlock_acquire(dir, false, &b), CM_EBUSY);
	assert_null(b);
	assert_string_equal(cm_strerror(CM_EBUSY),
	    "index busy (another writer holds it)");

	/* one that waits: blocked until the first lets go */
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	nap_ms(100);
	assert_false(atomic_load(&w.done));
	cm_wlock_release(a);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(atomic_load(&w.done));
	assert_int_equal(w.st, CM_OK);
	assert_int_equal(cm_wlock_acquire(dir, false, &b), CM_EBUSY);
	cm_wlock_release(w.l);
	assert_int_equal(cm_wlock_acquire(dir, false, &b), CM_OK);
	cm_wlock_release(b);
	cm_wlock_release(NULL);

	/* no directory, bad arguments */
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(cm_wlock_acquire(path, true, &b), CM_NOTFOUND);
	assert_int_equal(cm_wlock_acquire(NULL, true, &b), CM_EINVAL);
	cmt_rmdir(dir);
}

/* The lock file replaced while a writer waits: it locks the new one. */
static void
test_lock_file_replaced(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_wlock *a = NULL, *c = NULL;
	waiter w = { .dir = dir };
	char path[4096];
	pthread_t t;

	(void)state;
	snprintf(path, sizeof(path), "%s/%s", dir, CM_WLOCK_FILE);
	assert_int_equal(cm_wlock_acquire(dir, true, &a), CM_OK);
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	nap_ms(50);
	assert_int_equal(unlink(path), 0);
	/* a newcomer creates and takes the new file */
	assert_int_equal(cm_wlock_acquire(dir, false, &c), CM_OK);
	cm_wlock_release(a);
	/* the waiter got the old file, sees it is gone, and waits for the
	 * new one */
	nap_ms(100);
	assert_false(atomic_load(&w.done));
	cm_wlock_release(c);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.st, CM_OK);
	cm_wlock_release(w.l);
	cmt_rmdir(dir);
}

static cm_status
open_rw(const char *dir, bool no_wait, bool bulk, cm_index **idx)
{
	cm_index_opts o = { 0 };

	o.create = true;
	o.no_wait = no_wait;
	o.bulk = bulk;
	return cm_index_open(dir, &o, idx);
}

/* A child that opens DIR and grants ADDR; exits 0 on success, 10 + the
 * status of a failed open. */
static pid_t
child_writer(const char *dir, bool no_wait, const char *addr)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		cm_index *idx = NULL;
		cm_status st = open_rw(dir, no_wait, false, &idx);
		cm_addr a;

		if (st != CM_OK)
			_exit(10 + (int)st);
		a = cmt_addr(addr);
		st = cmt_grant(idx, a.key, "news", CM_STATE_GRANTED, T0);
		cm_index_close(idx);
		_exit(st == CM_OK ? 0 : 2);
	}
	return pid;
}

/* A child that opens DIR read-only and looks ADDR up: 0 found, 1 not. */
static pid_t
child_reader(const char *dir, const char *addr)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		cm_index_opts o = { 0 };
		cm_index *idx = NULL;
		cm_entry *e = NULL;
		cm_addr a = cmt_addr(addr);
		cm_status st;

		o.readonly = true;
		if (cm_index_open(dir, &o, &idx) != CM_OK)
			_exit(3);
		st = cm_index_get(idx, a.key, &e);
		cm_entry_free(e);
		cm_index_close(idx);
		_exit(st == CM_OK ? 0 : st == CM_NOTFOUND ? 1 : 4);
	}
	return pid;
}

static void
test_index_writers(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = NULL, *other = NULL;
	cm_entry *e = NULL;
	cm_addr a;
	pid_t pid;

	(void)state;
	assert_int_equal(open_rw(dir, false, false, &idx), CM_OK);
	a = cmt_addr("first@example.org");
	assert_int_equal(cmt_grant(idx, a.key, "news", CM_STATE_GRANTED, T0),
	    CM_OK);

	/* same process, second writer handle, no wait: busy, before any
	 * environment is opened */
	assert_int_equal(open_rw(dir, true, false, &other), CM_EBUSY);
	assert_null(other);
	assert_int_equal(open_rw(dir, true, true, &other), CM_EBUSY);

	/* another process, no wait: busy */
	pid = child_writer(dir, true, "second@example.org");
	assert_int_equal(wait_child(pid), 10 + CM_EBUSY);

	/* readers never wait for the writer */
	pid = child_reader(dir, "first@example.org");
	assert_int_equal(wait_child(pid), 0);

	/* a writer that waits proceeds once the first closes */
	pid = child_writer(dir, false, "second@example.org");
	assert_true(still_running(pid, 150));
	cm_index_close(idx);
	assert_int_equal(wait_child(pid), 0);

	pid = child_reader(dir, "second@example.org");
	assert_int_equal(wait_child(pid), 0);
	assert_int_equal(open_rw(dir, true, false, &idx), CM_OK);
	a = cmt_addr("second@example.org");
	assert_int_equal(cm_index_get(idx, a.key, &e), CM_OK);
	cm_entry_free(e);
	cm_index_close(idx);

	/* read-only opens take no lock: a writer is never kept waiting by
	 * a reader */
	{
		cm_index_opts o = { 0 };

		o.readonly = true;
		assert_int_equal(cm_index_open(dir, &o, &idx), CM_OK);
		pid = child_writer(dir, true, "third@example.org");
		assert_int_equal(wait_child(pid), 0);
		cm_index_close(idx);
	}
	cmt_rmdir(dir);
}

static off_t
file_size(const char *dir)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

/*
 * An import that grew the map and ended without a commit leaves data.mdb
 * longer than the map size of the last commit: the next bulk open must
 * not cut it back (it would cut pages from under a writer that had them,
 * if one could still be running).
 */
static void
test_no_shrink(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = NULL;
	cm_import *im = NULL;
	off_t grown;

	(void)state;
	assert_int_equal(open_rw(dir, false, false, &idx), CM_OK);
	cm_index_close(idx);
	assert_int_equal(open_rw(dir, false, true, &idx), CM_OK);
	assert_int_equal(cm_index_import_begin(idx, 96u << 20, &im), CM_OK);
	cm_import_abort(im);
	cm_index_close(idx);
	grown = file_size(dir);
	assert_true(grown > (off_t)(96u << 20));

	assert_int_equal(open_rw(dir, false, true, &idx), CM_OK);
	assert_true(file_size(dir) >= grown);
	cm_index_close(idx);
	assert_int_equal(open_rw(dir, false, false, &idx), CM_OK);
	assert_true(file_size(dir) >= grown);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_lock_file_replaced),
		cmocka_unit_test(test_index_writers),
		cmocka_unit_test(test_no_shrink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
