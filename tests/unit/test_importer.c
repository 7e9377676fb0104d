/*
 * test_importer.c - core's import driver (core/importer.h) on a real
 * LMDB: one batch applied as read, many through the external sort, a map
 * that fills up (CM_EFULL: grown, the source rewound, the import
 * completed), a source or an event that fails mid-way (nothing applied).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmtest.h"
#include "core/importer.h"
#include "core/index.h"
#include "core/timefmt.h"

#define T0 INT64_C(1700000000000000)

/* A source of N grants to user<i>@example<i % 7>.net, each with an
 * evidence of EVLEN octets; the event FAIL_AT (if < N) makes next() fail
 * with CM_EIO, the event BAD_AT (if < N) is dated a year after now
 * (refused when applied). */
typedef struct gen {
	size_t n, evlen, fail_at, bad_at;
	size_t pos;			/* next event */
	unsigned rewinds, last_pass;
	uint64_t merge_total, applied_seen;
	char *evidence;
} gen;

static cm_status
gen_rewind(void *arg, unsigned pass)
{
	gen *g = arg;

	g->pos = 0;
	g->rewinds++;
	g->last_pass = pass;
	return CM_OK;
}

static cm_status
gen_next(void *arg, cm_batch *b, size_t max, unsigned long *tags,
    size_t *n)
{
	gen *g = arg;

	*n = 0;
	while (*n < max && g->pos < g->n) {
		char a[96];
		cm_addr ad;
		cm_event ev;
		cm_status st;

		if (g->pos == g->fail_at)
			return CM_EIO;
		snprintf(a, sizeof(a), "user%zu@example%zu.net", g->pos,
		    g->pos % 7);
		ad = cmt_addr(a);
		memset(&ev, 0, sizeof(ev));
		ev.kind = CM_EV_GRANT;
		ev.addr = ad.key;
		ev.type = "weekly";
		ev.state = CM_STATE_GRANTED;
		ev.at_us = g->pos == g->bad_at ? cm_time_now() +
		    INT64_C(86400000000) * 365 : T0 + (int64_t)g->pos;
		ev.source = "test";
		ev.evidence = g->evidence;
		if ((st = cm_batch_add(b, &ev)) != CM_OK)
			return st;
		tags[(*n)++] = 1000 + g->pos;	/* a "line" */
		g->pos++;
	}
	return CM_OK;
}

static void
gen_progress(void *arg, cm_importer_phase ph, uint64_t done, uint64_t total)
{
	gen *g = arg;

	if (ph == CM_IMPORTER_MERGING)
		g->merge_total = total;
	else
		g->applied_seen = done;
}

typedef struct tcase {
	const char *name;
	size_t n, batch, evlen;
	size_t map;		/* initial map size of the index */
	size_t reserve;		/* opts.reserve (0: estimated) */
	unsigned attempts;
	size_t fail_at, bad_at;	/* SIZE_MAX: none */
	cm_status want;
	cm_importer_stage stage;
	bool sorted;		/* went through the external sort */
	bool retried;		/* at least 2 passes over the source */
} tcase;

#define NONE SIZE_MAX
#define MIB ((size_t)1 << 20)

static const tcase cases[] = {
	{ "one batch, applied as read", 300, 1000, 10, 0, 0, 0, NONE, NONE,
	    CM_OK, CM_IMPORTER_NONE, false, false },
	{ "many batches, sorted", 3000, 256, 10, 0, 0, 0, NONE, NONE,
	    CM_OK, CM_IMPORTER_NONE, true, false },
	{ "small map fills: grown, rewound, completed", 6000, 1000, 900,
	    MIB, 1, 8, NONE, NONE, CM_OK, CM_IMPORTER_NONE, true, true },
	{ "small map fills, one attempt only", 6000, 1000, 900, MIB, 1, 1,
	    NONE, NONE, CM_EFULL, CM_IMPORTER_FULL, true, false },
	{ "source fails mid-way (sorted)", 3000, 256, 10, 0, 0, 0, 1500,
	    NONE, CM_EIO, CM_IMPORTER_SOURCE, true, false },
	{ "source fails in its first batch", 300, 1000, 10, 0, 0, 0, 150,
	    NONE, CM_EIO, CM_IMPORTER_SOURCE, false, false },
	{ "bad event mid-way (sorted)", 3000, 256, 10, 0, 0, 0, NONE, 2222,
	    CM_EFUTURE, CM_IMPORTER_APPLY, true, false },
	{ "bad event, one batch", 300, 1000, 10, 0, 0, 0, NONE, 77,
	    CM_EFUTURE, CM_IMPORTER_APPLY, false, false },
};

static void
run_case(const tcase *t)
{
	char *dir = cmt_mkdtemp();
	cm_index_opts io = { 0 };
	cm_importer_opts o = { 0 };
	cm_import_source src = { 0 };
	cm_importer_stats st;
	cm_index_stats is;
	cm_importer_stage stage;
	cm_importer *d;
	cm_index *idx;
	unsigned long tag;
	const char *why;
	gen g = { 0 };
	cm_status s;

	io.create = true;
	io.bulk = true;
	io.map_size = t->map;
	assert_int_equal(cm_index_open(dir, &io, &idx), CM_OK);
	g.n = t->n;
	g.fail_at = t->fail_at;
	g.bad_at = t->bad_at;
	g.evidence = malloc(t->evlen + 1);
	assert_non_null(g.evidence);
	memset(g.evidence, 'e', t->evlen);
	g.evidence[t->evlen] = '\0';
	src.rewind = gen_rewind;
	src.next = gen_next;
	src.arg = &g;
	src.octets = t->n * 40;
	src.records = t->n;
	o.batch = t->batch;
	o.reserve = t->reserve;
	o.attempts = t->attempts;
	o.progress = gen_progress;
	o.progress_arg = &g;
	assert_int_equal(cm_importer_new(idx, &o, &d), CM_OK);

	s = cm_importer_run(d, &src);
	cm_importer_stats_get(d, &st);
	why = cm_importer_failure(d, &stage, &tag);
	if (s != t->want || stage != t->stage)
		fail_msg("%s: %s (%s, stage %d)", t->name, cm_strerror(s),
		    why, (int)stage);
	assert_int_equal(st.passes, g.rewinds);
	assert_int_equal(g.last_pass + 1, g.rewinds);
	if (t->retried)
		assert_true(st.passes >= 2);
	else if (t->want != CM_EFULL)
		assert_int_equal(st.passes, 1);
	if (t->want != CM_EFULL)
		assert_int_equal(st.sorted, t->sorted);
	assert_int_equal(cm_index_stats_get(idx, &is), CM_OK);
	if (s == CM_OK) {
		assert_string_equal(why, "");
		assert_int_equal(st.events, t->n);
		assert_int_equal(st.applied, t->n);
		assert_int_equal(st.stale, 0);
		assert_int_equal(g.applied_seen, t->n);
		assert_int_equal(g.merge_total, t->sorted ? t->n : 0);
		assert_int_equal(is.addresses, t->n);
		assert_int_equal(is.records, t->n);
		assert_int_equal(is.history_events, t->n);
		/* the same source again: every event is stale */
		assert_int_equal(cm_importer_run(d, &src), CM_OK);
		cm_importer_stats_get(d, &st);
		assert_int_equal(st.applied, 0);
		assert_int_equal(st.stale, t->n);
	} else {
		/* nothing applied */
		assert_true(why[0] != '\0');
		assert_int_equal(is.addresses, 0);
		assert_int_equal(is.history_events, 0);
		assert_int_equal(st.applied, 0);
		if (stage == CM_IMPORTER_APPLY)
			assert_int_equal(tag, 1000 + t->bad_at);
		else
			assert_int_equal(tag, 0);
	}
	cm_importer_free(d);
	cm_index_close(idx);
	free(g.evidence);
	cmt_rmdir(dir);
}

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

static void
test_args(void **state)
{
	cm_import_source src = { 0 };
	cm_importer *d = NULL;

	(void)state;
	assert_int_equal(cm_importer_new(NULL, NULL, &d), CM_EINVAL);
	assert_null(d);
	assert_int_equal(cm_importer_run(NULL, &src), CM_EINVAL);
	cm_importer_free(NULL);
	/* the reserve: twice the input, 192 octets a record, 256 KiB */
	assert_int_equal(cm_importer_reserve(1000, 9),
	    2000 + 192 * 10 + (256u << 10));
	assert_true(cm_importer_reserve(UINT64_MAX, 1) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
