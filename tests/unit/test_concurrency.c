/*
 * test_concurrency.c - a writer process imports while two reader threads
 * of another process decide (SPEC §8: concurrent imports under mail load
 * cause no failed lookups).
 *
 * The writer starts with a small map, so it must grow the map while the
 * readers run; the readers must then recover from MDB_MAP_RESIZED.  In
 * the middle of the import one batch flips a set of probe addresses from
 * state A (granted: allow) to state B (withdrawn: deny).  Every decision
 * must succeed and be A or B, and once a reader has seen B it must never
 * see A again (the flip is one transaction).
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmtest.h"
#include "core/decide.h"
#include "core/index.h"

#define T0 INT64_C(1700000000000000)
#define NPROBE 16
#define MAP0 (256 * 1024)

static char probe[NPROBE][32];

typedef struct reader {
	cm_index *idx;
	atomic_bool *stop;
	atomic_bool warm;	/* for the main thread, while this one runs: */
	atomic_bool saw_b;	/* 1,000 decisions made; the after state seen */
	size_t decisions, errors, wrong, backwards, seen_a, seen_b;
	cm_status first_err;
} reader;

static void *
reader_main(void *arg)
{
	reader *r = arg;
	cm_type_policy tp = { "news", CM_REQ_OPT_IN, 0 };
	cm_addr a[NPROBE];
	bool flipped = false;

	for (int i = 0; i < NPROBE; i++)
		if (cm_addr_normalize(probe[i], strlen(probe[i]), NULL,
		    &a[i]) != CM_OK)
			r->errors++;
	while (!atomic_load(r->stop)) {
		for (int i = 0; i < NPROBE; i++) {
			cm_decision d;
			cm_status st = cm_decide(r->idx, &tp, &a[i], T0 + 100,
			    &d);

			if (++r->decisions == 1000)
				atomic_store(&r->warm, true);
			if (st != CM_OK) {
				if (r->errors++ == 0)
					r->first_err = st;
				continue;
			}
			if (d.verdict == CM_ALLOW &&
			    d.reason == CM_REASON_NONE) {
				r->seen_a++;
				if (flipped)
					r->backwards++;
			} else if (d.verdict == CM_DENY &&
			    d.reason == CM_REASON_WITHDRAWN) {
				r->seen_b++;
				if (!flipped)
					atomic_store(&r->saw_b, true);
				flipped = true;
			} else {
				r->wrong++;
			}
		}
	}
	return NULL;
}

/* The writer process: returns an exit code (no cmocka here).  BULK: an
 * import (one transaction) in bulk mode instead of a transaction per
 * batch. */
static int
writer_main(const char *dir, int go_fd, size_t n, bool bulk)
{
	cm_index_opts o = { 0 };
	cm_index *idx = NULL;
	cm_import *im = NULL;
	cm_batch *b = NULL;
	cm_batch_result res;
	size_t per = 1000;
	char c, addr[64];

	if (read(go_fd, &c, 1) != 1)
		return 10;
	o.bulk = bulk;
	if (cm_index_open(dir, &o, &idx) != CM_OK)
		return 11;
	if (cm_batch_new(&b) != CM_OK)
		return 12;
	if (bulk && cm_index_import_begin(idx, n * 400, &im) != CM_OK)
		return 16;
	for (size_t i = 0; i < n; i += per) {
		cm_batch_clear(b);
		for (size_t j = i; j < i + per && j < n; j++) {
			cm_event ev = { 0 };

			snprintf(addr, sizeof(addr), "user%zu@example.org", j);
			ev.kind = CM_EV_GRANT;
			ev.addr = addr;
			ev.type = j % 2 ? "news" : "offers";
			ev.at_us = T0 + (int64_t)j;
			ev.source = "import";
			ev.evidence = "crm-export-2026-11-23.csv";
			if (cm_batch_add(b, &ev) != CM_OK)
				return 13;
		}
		if (i == n / 2) {
			/* the flip: A -> B for every probe, in this batch */
			for (int p = 0; p < NPROBE; p++) {
				cm_event ev = { 0 };

				ev.kind = CM_EV_WITHDRAW;
				ev.addr = probe[p];
				ev.type = "news";
				ev.at_us = T0 + 1;
				if (cm_batch_add(b, &ev) != CM_OK)
					return 14;
			}
		}
		if (bulk ? cm_import_apply(im, b, &res) != CM_OK :
		    cm_index_apply_batch(idx, b, &res) != CM_OK)
			return 15;
	}
	if (bulk && cm_import_commit(im) != CM_OK)
		return 17;
	cm_batch_free(b);
	cm_index_close(idx);
	return 0;
}

static void
writer_and_readers(bool bulk)
{
	char *dir = cmt_mkdtemp();
	size_t n = cmt_quick() ? 10000 : 100000;
	cm_index *idx = cmt_open(dir, MAP0);
	cm_index_opts ro = { 0 };
	cm_index_stats st0, st1;
	atomic_bool stop = false;
	reader r[2];
	pthread_t th[2];
	int go[2], wst;
	pid_t pid;

	for (int i = 0; i < NPROBE; i++) {
		snprintf(probe[i], sizeof(probe[i]), "probe%d@example.net", i);
		assert_int_equal(cmt_grant(idx, probe[i], "news",
		    CM_STATE_GRANTED, T0), CM_OK);
	}
	cm_index_close(idx);	/* LMDB: open after fork, one env each */

	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc;

		close(go[1]);
		rc = writer_main(dir, go[0], n, bulk);
		free(dir);	/* nothing of the parent's may leak here */
		_exit(rc);
	}
	close(go[0]);

	ro.readonly = true;
	idx = NULL;
	assert_int_equal(cm_index_open(dir, &ro, &idx), CM_OK);
	assert_int_equal(cm_index_stats_get(idx, &st0), CM_OK);
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 2; i++) {
		atomic_init(&r[i].warm, false);
		atomic_init(&r[i].saw_b, false);
		r[i].idx = idx;
		r[i].stop = &stop;
		assert_int_equal(pthread_create(&th[i], NULL, reader_main,
		    &r[i]), 0);
	}
	/* let the readers run before the writer starts (each until 1,000
	 * decisions, at most 60 s: under valgrind, which runs one thread at a
	 * time and not fairly, a reader may wait long for its turn) */
	for (int t = 0; t < 6000 && !(atomic_load(&r[0].warm) &&
	    atomic_load(&r[1].warm)); t++)
		usleep(10000);
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	/* until every reader has seen the final state (at most 60 s) */
	for (int t = 0; t < 6000 && !(atomic_load(&r[0].saw_b) &&
	    atomic_load(&r[1].saw_b)); t++)
		usleep(10000);
	usleep(20000);
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);

	assert_true(WIFEXITED(wst));
	assert_int_equal(WEXITSTATUS(wst), 0);
	for (int i = 0; i < 2; i++) {
		print_message("reader %d: %zu decisions, A %zu, B %zu, "
		    "errors %zu\n", i, r[i].decisions, r[i].seen_a,
		    r[i].seen_b, r[i].errors);
		if (r[i].errors != 0)
			fail_msg("reader %d: %zu errors, first: %s (%s)", i,
			    r[i].errors, cm_strerror(r[i].first_err),
			    cm_index_last_error(idx));
		assert_int_equal(r[i].wrong, 0);
		assert_int_equal(r[i].backwards, 0);
		assert_true(r[i].seen_b > 0);
		assert_true(r[i].decisions > 1000);
	}
	/* the map grew in the writer, and this process remapped */
	assert_int_equal(cm_index_stats_get(idx, &st1), CM_OK);
	print_message("map: %zu -> %zu octets; %zu records\n", st0.map_size,
	    st1.map_size, st1.records);
	assert_true(st1.map_size > st0.map_size);
	assert_int_equal(st1.records, n + NPROBE);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

/* batches, a transaction each */
static void
test_writer_and_readers(void **state)
{
	(void)state;
	writer_and_readers(false);
}

/* consentctl import: all batches in one transaction, writable map */
static void
test_bulk_writer_and_readers(void **state)
{
	(void)state;
	writer_and_readers(true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_and_readers),
		cmocka_unit_test(test_bulk_writer_and_readers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
