/*
 * test_webwriter.c - consent-web's group commit (web/writer.c) on a real
 * index: the same withdrawal twice in one batch gives one history event
 * and both answers follow the commit; when the commit fails, neither
 * says "recorded" (a duplicate follows the outcome of its first).
 *
 * The batch is made deterministic by interposing mdb_txn_commit and the
 * LMDB puts: while `hold` is set the writer thread stops in its first
 * commit (so the next jobs queue up behind it, seen through
 * web_writer_waiting()), and while `fail` is set every put fails with
 * EIO (the open of the index still works: it puts nothing).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <lmdb.h>

#include "cmtest.h"
#include "core/index.h"
#include "web/writer.h"

static pthread_mutex_t hmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hcv = PTHREAD_COND_INITIALIZER;
static bool hold, held, fail_puts;

int
mdb_txn_commit(MDB_txn *txn)
{
	static int (*real)(MDB_txn *);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "mdb_txn_commit");
	pthread_mutex_lock(&hmu);
	if (hold) {
		held = true;
		pthread_cond_broadcast(&hcv);
		while (hold)
			pthread_cond_wait(&hcv, &hmu);
	}
	pthread_mutex_unlock(&hmu);
	return real(txn);
}

static bool
put_fails(void)
{
	bool f;

	pthread_mutex_lock(&hmu);
	f = fail_puts;
	pthread_mutex_unlock(&hmu);
	return f;
}

int
mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data,
    unsigned int flags)
{
	static int (*real)(MDB_txn *, MDB_dbi, MDB_val *, MDB_val *,
	    unsigned int);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "mdb_put");
	return put_fails() ? EIO : real(txn, dbi, key, data, flags);
}

int
mdb_cursor_put(MDB_cursor *c, MDB_val *key, MDB_val *data,
    unsigned int flags)
{
	static int (*real)(MDB_cursor *, MDB_val *, MDB_val *,
	    unsigned int);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "mdb_cursor_put");
	return put_fails() ? EIO : real(c, key, data, flags);
}

typedef struct sub {
	cm_event ev;
	web_outcome out;
	pthread_t th;
} sub;

static void *
sub_main(void *arg)
{
	sub *s = arg;

	s->out = web_writer_submit(&s->ev);
	return NULL;
}

static void
submit(sub *s, const char *addr, const char *type)
{
	memset(s, 0, sizeof *s);
	s->ev.kind = CM_EV_WITHDRAW;
	s->ev.addr = addr;
	s->ev.type = type;
	s->ev.source = "mailto";
	s->ev.evidence = "test";
	s->ev.actor = "consent-web";
	assert_int_equal(pthread_create(&s->th, NULL, sub_main, s), 0);
}

/* Wait (at most 10 s) until COND holds. */
#define WAIT_FOR(cond) do {						\
	int n_ = 0;							\
	while (!(cond) && n_++ < 10000)					\
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);	\
	assert_true(cond);						\
} while (0)

static bool
is_held(void)
{
	bool h;

	pthread_mutex_lock(&hmu);
	h = held;
	pthread_mutex_unlock(&hmu);
	return h;
}

static int
count_ev(const cm_history_event *ev, void *arg)
{
	(void)ev;
	(*(size_t *)arg)++;
	return 0;
}

static size_t
nhist(const char *dir, const char *addr)
{
	cm_index *idx = cmt_open(dir, 0);
	size_t n = 0;

	assert_int_equal(cm_index_history(idx, addr, count_ev, &n), CM_OK);
	cm_index_close(idx);
	return n;
}

/* X ahead in its own batch, held; A and B (the same withdrawal) queue
 * behind it and go in one batch; with FAIL, every write fails. */
static void
dup_batch(bool fail, web_outcome *a, web_outcome *b, size_t *events)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	sub x, s1, s2;
	size_t h0;

	assert_int_equal(cmt_grant(idx, "x@example.org", "news",
	    CM_STATE_GRANTED, 0), CM_OK);
	assert_int_equal(cmt_grant(idx, "bob@example.org", "offers",
	    CM_STATE_GRANTED, 0), CM_OK);
	cm_index_close(idx);
	h0 = nhist(dir, "bob@example.org");
	assert_int_equal(web_writer_start(dir, 0), 0);
	pthread_mutex_lock(&hmu);
	hold = true;
	held = false;
	pthread_mutex_unlock(&hmu);
	submit(&x, "x@example.org", "news");
	WAIT_FOR(is_held());
	submit(&s1, "bob@example.org", "offers");
	submit(&s2, "bob@example.org", "offers");
	WAIT_FOR(web_writer_waiting() == 2);
	pthread_mutex_lock(&hmu);
	fail_puts = fail;
	hold = false;
	pthread_cond_broadcast(&hcv);
	pthread_mutex_unlock(&hmu);
	pthread_join(x.th, NULL);
	pthread_join(s1.th, NULL);
	pthread_join(s2.th, NULL);
	web_writer_stop();
	pthread_mutex_lock(&hmu);
	fail_puts = false;
	pthread_mutex_unlock(&hmu);
	*a = s1.out;
	*b = s2.out;
	*events = nhist(dir, "bob@example.org") - h0;
	cmt_rmdir(dir);
}

static void
test_dup_committed(void **state)
{
	web_outcome a, b;
	size_t ev;

	(void)state;
	dup_batch(false, &a, &b, &ev);
	/* one of them recorded it, the other is a replay */
	assert_true((a == WEB_DONE && b == WEB_ALREADY) ||
	    (a == WEB_ALREADY && b == WEB_DONE));
	assert_int_equal(ev, 1);
}

static void
test_dup_failed(void **state)
{
	web_outcome a, b;
	size_t ev;

	(void)state;
	dup_batch(true, &a, &b, &ev);
	/* nothing was written: neither may say it is recorded */
	assert_int_equal(ev, 0);
	assert_int_equal(a, WEB_FAILED);
	assert_int_equal(b, WEB_FAILED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dup_committed),
		cmocka_unit_test(test_dup_failed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
