/*
 * test_scrubq.c - the scrub queue's generations (core/scrubq.h): a row
 * listed with its generation is dropped by cm_scrubq_done_gen only while
 * it still has it; an address erased anew meanwhile stays queued.  A row
 * of an older version (the address alone) reads as generation 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>

#include "cmtest.h"
#include "core/scrubq.h"
#include "core/timefmt.h"

#define SEC INT64_C(1000000)

typedef struct seen {
	size_t n;
	char addr[8][64];
	uint64_t gen[8];
} seen;

static int
seen_cb(const char *addr, uint64_t gen, void *arg)
{
	seen *s = arg;

	if (s->n < 8) {
		snprintf(s->addr[s->n], sizeof(s->addr[0]), "%s", addr);
		s->gen[s->n] = gen;
	}
	s->n++;
	return 0;
}

static void
on_erased(void *arg, const char *addr, size_t len)
{
	(void)arg;
	(void)addr;
	(void)len;
}

/* Grant ADDR at AT, then erase it at AT + 1 s, asking for the erased
 * addresses (which queues the scrub). */
static void
grant_erase(cm_index *idx, const char *addr, int64_t at)
{
	cm_event ev = { 0 };

	assert_int_equal(cmt_grant(idx, addr, "news", CM_STATE_GRANTED, at),
	    CM_OK);
	ev.kind = CM_EV_ERASE;
	ev.addr = addr;
	ev.at_us = at + SEC;
	ev.source = "test";
	ev.erased = on_erased;
	assert_int_equal(cm_index_apply(idx, &ev), CM_OK);
}

/* The one row of IDX: its address must be ADDR; its generation. */
static uint64_t
only_row(cm_index *idx, const char *addr)
{
	seen s = { 0 };

	assert_int_equal(cm_scrubq_list_gen(idx, seen_cb, &s), CM_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.addr[0], addr);
	return s.gen[0];
}

static size_t
rows(cm_index *idx)
{
	seen s = { 0 };

	assert_int_equal(cm_scrubq_list_gen(idx, seen_cb, &s), CM_OK);
	return s.n;
}

static void
test_generation(void **state)
{
	static const char a[] = "gen.person@example.org";
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	int64_t t0 = cm_time_now() - 100 * SEC;
	uint64_t g1, g2;

	(void)state;
	grant_erase(idx, a, t0);
	g1 = only_row(idx, a);
	assert_true(g1 > 0);
	/* erased anew (granted again after the erasure) before the first
	 * scrub's row was dropped: a new generation, the same row */
	grant_erase(idx, a, t0 + 10 * SEC);
	g2 = only_row(idx, a);
	assert_true(g2 > g1);
	/* the first scrub done: the row of the second stays */
	assert_int_equal(cm_scrubq_done_gen(idx, a, g1), CM_OK);
	assert_int_equal(only_row(idx, a), g2);
	assert_int_equal(cm_scrubq_done_gen(idx, a, g2), CM_OK);
	assert_int_equal(rows(idx), 0);
	/* no row, no queue: fine; bad arguments */
	assert_int_equal(cm_scrubq_done_gen(idx, a, g2), CM_OK);
	assert_int_equal(cm_scrubq_done_gen(idx, "", 1), CM_EINVAL);
	assert_int_equal(cm_scrubq_done_gen(NULL, a, 1), CM_EINVAL);
	assert_int_equal(cm_scrubq_list_gen(idx, NULL, NULL), CM_EINVAL);
	/* cm_scrubq_done drops a row whatever its generation */
	grant_erase(idx, a, t0 + 20 * SEC);
	(void)only_row(idx, a);
	assert_int_equal(cm_scrubq_done(idx, a), CM_OK);
	assert_int_equal(rows(idx), 0);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

/* Cut DIR's scrub queue row down to LEN octets (the address alone, as an
 * older version wrote it: the key stream is the same). */
static void
make_old_row(const char *dir, size_t len)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_dbi d;
	MDB_val k, v, nv;
	unsigned char buf[512];

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "scrubq", 0, &d), 0);
	assert_int_equal(mdb_cursor_open(txn, d, &c), 0);
	assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	assert_true(v.mv_size == len + 9);
	memcpy(buf, v.mv_data, len);
	nv.mv_size = len;
	nv.mv_data = buf;
	assert_int_equal(mdb_cursor_put(c, &k, &nv, MDB_CURRENT), 0);
	mdb_cursor_close(c);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
test_old_row(void **state)
{
	static const char a[] = "old.person@example.org";
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	int64_t t0 = cm_time_now() - 100 * SEC;
	uint64_t g;

	(void)state;
	grant_erase(idx, a, t0);
	assert_true(only_row(idx, a) > 0);
	cm_index_close(idx);
	make_old_row(dir, strlen(a));
	idx = cmt_open(dir, 0);
	assert_int_equal(only_row(idx, a), 0);
	/* listed with generation 0, dropped with it */
	assert_int_equal(cm_scrubq_done_gen(idx, a, 1), CM_OK);
	assert_int_equal(only_row(idx, a), 0);
	assert_int_equal(cm_scrubq_done_gen(idx, a, 0), CM_OK);
	assert_int_equal(rows(idx), 0);
	/* an old row queued anew has a generation: a drop with 0 keeps it */
	grant_erase(idx, a, t0 + 10 * SEC);
	cm_index_close(idx);
	make_old_row(dir, strlen(a));
	idx = cmt_open(dir, 0);
	grant_erase(idx, a, t0 + 20 * SEC);
	g = only_row(idx, a);
	assert_true(g > 0);
	assert_int_equal(cm_scrubq_done_gen(idx, a, 0), CM_OK);
	assert_int_equal(only_row(idx, a), g);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generation),
		cmocka_unit_test(test_old_row),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
