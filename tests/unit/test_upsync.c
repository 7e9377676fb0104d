/*
 * test_upsync.c - the outbox of a node attached to a shared store
 * (outbox.h) and the events of the shared store applied to the index
 * (upsync.h), on real LMDB indexes in temporary directories.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmtest.h"
#include "core/outbox.h"
#include "core/timefmt.h"
#include "core/upsync.h"

#define SEC INT64_C(1000000)

typedef struct rows {
	size_t n;
	cm_upevent ev[16];
	char addr[16][128], type[16][72], origin[16][72];
	uint64_t last;
} rows;

static int
collect(uint64_t seq, const cm_upevent *ev, void *arg)
{
	rows *r = arg;

	if (r->n < 16) {
		r->ev[r->n] = *ev;
		snprintf(r->addr[r->n], 128, "%s", ev->ev.addr ? ev->ev.addr :
		    "");
		snprintf(r->type[r->n], 72, "%s", ev->ev.type ? ev->ev.type :
		    "");
		snprintf(r->origin[r->n], 72, "%s", ev->origin);
		r->ev[r->n].ev.addr = r->addr[r->n];
		r->ev[r->n].ev.type = ev->ev.type ? r->type[r->n] : NULL;
		r->ev[r->n].origin = r->origin[r->n];
		r->ev[r->n].ev.source = r->ev[r->n].ev.basis = NULL;
		r->ev[r->n].ev.purpose = r->ev[r->n].ev.evidence = NULL;
		r->ev[r->n].ev.actor = NULL;
	}
	r->n++;
	r->last = seq;
	return 0;
}

static int
count_cb(const cm_history_event *ev, void *arg)
{
	(void)ev;
	(*(size_t *)arg)++;
	return 0;
}

static size_t
nhist(cm_index *idx, const char *addr)
{
	size_t n = 0;

	(void)cm_index_history(idx, addr, count_cb, &n);
	return n;
}

/* Not attached: nothing in the outbox; attached: one row per change,
 * in the same transaction, with a v4 UUID, the time and the origin. */
static void
test_outbox_rows(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	int64_t t0 = cm_time_now() - 100 * SEC;
	char node[CM_UPEVENT_NODE_MAX + 1];
	rows r = { 0 };
	size_t n = 99;

	(void)state;
	assert_int_equal(cmt_grant(idx, "a@example.org", "news",
	    CM_STATE_GRANTED, t0), CM_OK);
	assert_int_equal(cm_outbox_count(idx, &n, NULL), CM_OK);
	assert_int_equal(n, 0);
	assert_int_equal(cm_outbox_node(idx, node, sizeof(node)),
	    CM_NOTFOUND);
	assert_int_equal(cm_outbox_attach(idx, "bad name"), CM_EINVAL);
	assert_int_equal(cm_outbox_attach(idx, "mx-a.example"), CM_OK);
	assert_int_equal(cm_outbox_node(idx, node, sizeof(node)), CM_OK);
	assert_string_equal(node, "mx-a.example");

	/* a stale event writes nothing */
	assert_int_equal(cmt_grant(idx, "a@example.org", "news",
	    CM_STATE_GRANTED, t0 - SEC), CM_ESTALE);
	assert_int_equal(cmt_ev(idx, CM_EV_WITHDRAW, "a@example.org", "news",
	    0), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_SUPPRESS_DOMAIN, "spam.example",
	    NULL, t0), CM_OK);
	assert_int_equal(cm_outbox_read(idx, 0, 0, collect, &r), CM_OK);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[0].ev.kind, CM_EV_WITHDRAW);
	assert_string_equal(r.addr[0], "a@example.org");
	assert_string_equal(r.type[0], "news");
	assert_string_equal(r.origin[0], "mx-a.example");
	assert_true(r.ev[0].ev.at_us > t0);
	assert_int_equal(r.ev[0].uuid[6] >> 4, 4);
	assert_int_equal(r.ev[1].ev.kind, CM_EV_SUPPRESS_DOMAIN);
	assert_int_equal(r.ev[1].ev.at_us, t0);
	assert_memory_not_equal(r.ev[0].uuid, r.ev[1].uuid,
	    CM_UPEVENT_UUID_LEN);

	/* remove up to the first: one left */
	assert_int_equal(cm_outbox_remove(idx, 1), CM_OK);
	assert_int_equal(cm_outbox_count(idx, &n, NULL), CM_OK);
	assert_int_equal(n, 1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(cm_outbox_read(idx, 0, 0, collect, &r), CM_OK);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.last, 2);
	/* a new row after a removal gets a greater key */
	assert_int_equal(cmt_grant(idx, "b@example.org", "news",
	    CM_STATE_GRANTED, t0), CM_OK);
	memset(&r, 0, sizeof(r));
	assert_int_equal(cm_outbox_read(idx, 2, 0, collect, &r), CM_OK);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.last, 3);
	assert_int_equal(r.ev[0].ev.state, CM_STATE_GRANTED);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

/* Erase and bulk update: one row per address erased (sub-addresses
 * too), one per record updated. */
static void
test_outbox_erase_bulk(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	int64_t t0 = cm_time_now() - 100 * SEC;
	cm_event ev = { 0 };
	cm_selection sel = { 0 };
	rows r = { 0 };
	size_t count;

	(void)state;
	assert_int_equal(cm_outbox_attach(idx, "a"), CM_OK);
	assert_int_equal(cmt_grant(idx, "x@example.org", "news",
	    CM_STATE_GRANTED, t0), CM_OK);
	assert_int_equal(cmt_grant(idx, "x+tag@example.org", "news",
	    CM_STATE_GRANTED, t0), CM_OK);
	assert_int_equal(cmt_grant(idx, "y@example.org", "offers",
	    CM_STATE_GRANTED, t0), CM_OK);
	assert_int_equal(cm_outbox_remove(idx, 100), CM_OK);
	sel.type = NULL;
	ev.kind = CM_EV_UPDATE;
	ev.source = "crm";
	assert_int_equal(cm_index_bulk_update(idx, &sel, &ev, false, &count),
	    CM_OK);
	assert_int_equal(count, 3);
	memset(&ev, 0, sizeof(ev));
	ev.kind = CM_EV_ERASE;
	ev.addr = "x@example.org";
	ev.subaddr_sep = '+';
	assert_int_equal(cm_index_apply(idx, &ev), CM_OK);
	assert_int_equal(cm_outbox_read(idx, 0, 0, collect, &r), CM_OK);
	/* the erasure dropped the unsent rows of the erased addresses:
	 * the UPDATE of y and one ERASE per address, with no address */
	assert_int_equal(r.n, 3);
	assert_int_equal(r.ev[0].ev.kind, CM_EV_UPDATE);
	assert_string_equal(r.addr[0], "y@example.org");
	assert_int_equal(r.ev[1].ev.kind, CM_EV_ERASE);
	assert_string_equal(r.addr[1], "");
	assert_int_equal(r.ev[2].ev.kind, CM_EV_ERASE);
	assert_string_equal(r.addr[2], "");
	assert_memory_not_equal(r.ev[1].akey, r.ev[2].akey,
	    CM_UPEVENT_AKEY_LEN);
	/* keys are never made twice, even after the outbox emptied */
	assert_int_equal(cm_outbox_remove(idx, r.last), CM_OK);
	memset(&r, 0, sizeof(r));
	assert_int_equal(cmt_grant(idx, "z@example.org", "news",
	    CM_STATE_GRANTED, t0), CM_OK);
	assert_int_equal(cm_outbox_read(idx, 0, 0, collect, &r), CM_OK);
	assert_int_equal(r.n, 1);
	assert_true(r.last > 8);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

static void
erased_cb(void *arg, const char *addr)
{
	snprintf(arg, 128, "%s", addr);
}

/* Events of another node: applied once, with the position in the same
 * transaction; own events and events at or below the position skipped;
 * an erase by AKEY leaves only the tombstone. */
static void
test_apply_remote(void **state)
{
	char *da = cmt_mkdtemp(), *db = cmt_mkdtemp();
	cm_index *a = cmt_open(da, 0), *b;
	int64_t t0 = cm_time_now() - 100 * SEC;
	cm_upsync_result res;
	cm_upsync_state us;
	char gone[128] = "";
	rows r = { 0 };
	size_t n;

	(void)state;
	assert_int_equal(cm_outbox_attach(a, "A"), CM_OK);
	assert_int_equal(cmt_grant(a, "p@example.org", "news",
	    CM_STATE_GRANTED, t0), CM_OK);
	assert_int_equal(cmt_ev(a, CM_EV_WITHDRAW, "p@example.org", "news",
	    t0 + SEC), CM_OK);
	assert_int_equal(cm_outbox_read(a, 0, 0, collect, &r), CM_OK);
	assert_int_equal(r.n, 2);
	r.ev[0].id = 1;
	r.ev[1].id = 2;
	cm_index_close(a);
	/* B shares A's key file (the shared key) */
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "cp %s/erasure.key %s/", da, db);
		assert_int_equal(system(cmd), 0);
	}
	b = cmt_open(db, 0);
	assert_int_equal(cm_outbox_attach(b, "B"), CM_OK);
	assert_int_equal(cm_upsync_apply(b, r.ev, 2, "B", 2, t0, NULL, NULL,
	    &res), CM_OK);
	assert_int_equal(res.applied, 2);
	assert_int_equal(nhist(b, "p@example.org"), 2);
	/* nothing of it in B's outbox */
	assert_int_equal(cm_outbox_count(b, &n, NULL), CM_OK);
	assert_int_equal(n, 0);
	assert_int_equal(cm_upsync_state_get(b, &us), CM_OK);
	assert_int_equal(us.pos, 2);
	assert_string_equal(us.node, "B");
	/* again: below the position, skipped, no history added */
	assert_int_equal(cm_upsync_apply(b, r.ev, 2, "B", 2, t0, NULL, NULL,
	    &res), CM_OK);
	assert_int_equal(res.skipped, 2);
	assert_int_equal(nhist(b, "p@example.org"), 2);
	/* own events skipped */
	r.ev[0].id = 3;
	r.ev[0].origin = "B";
	assert_int_equal(cm_upsync_apply(b, r.ev, 1, "B", 3, t0, NULL, NULL,
	    &res), CM_OK);
	assert_int_equal(res.skipped, 1);
	/* own events up to the boot mark are a former index's: applied */
	r.ev[0].id = 5;
	r.ev[0].ev.at_us = t0 + 2 * SEC;
	r.ev[0].ev.kind = CM_EV_GRANT;
	r.ev[0].ev.state = CM_STATE_GRANTED;
	/* the position is not 0: no boot mark */
	assert_int_equal(cm_upsync_set_boot(b, 10), CM_OK);
	assert_int_equal(cm_upsync_apply(b, r.ev, 1, "B", 3, t0, NULL, NULL,
	    &res), CM_OK);
	assert_int_equal(res.skipped, 1);	/* below the position */
	{
		char dc[512];
		cm_index *c;
		cm_upsync_result rc;
		char *dir = cmt_mkdtemp();

		snprintf(dc, sizeof(dc), "cp %s/erasure.key %s/", da, dir);
		assert_int_equal(system(dc), 0);
		c = cmt_open(dir, 0);
		assert_int_equal(cm_upsync_set_boot(c, 5), CM_OK);
		assert_int_equal(cm_upsync_apply(c, r.ev, 1, "B", 5, t0, NULL,
		    NULL, &rc), CM_OK);
		assert_int_equal(rc.applied, 1);
		r.ev[0].id = 6;
		r.ev[0].ev.at_us = t0 + 3 * SEC;
		assert_int_equal(cm_upsync_apply(c, r.ev, 1, "B", 6, t0, NULL,
		    NULL, &rc), CM_OK);
		assert_int_equal(rc.skipped, 1);
		cm_index_close(c);
		cmt_rmdir(dir);
	}
	r.ev[0].id = 3;

	/* erase by AKEY only */
	r.ev[1].id = 4;
	r.ev[1].ev.kind = CM_EV_ERASE;
	r.ev[1].ev.addr = NULL;
	r.ev[1].ev.type = NULL;
	assert_int_equal(cm_upsync_apply(b, &r.ev[1], 1, "B", 4, t0,
	    erased_cb, gone, &res), CM_OK);
	assert_int_equal(res.applied, 1);
	assert_string_equal(gone, "p@example.org");
	assert_int_equal(cm_index_is_erased(b, "p@example.org"), CM_OK);
	assert_int_equal(nhist(b, "p@example.org"), 0);
	assert_int_equal(cm_upsync_note(b, "connection refused"), CM_OK);
	assert_int_equal(cm_upsync_state_get(b, &us), CM_OK);
	assert_int_equal(us.pos, 4);
	assert_string_equal(us.err, "connection refused");
	assert_true(us.err_us > 0);
	assert_int_equal(cm_upsync_note(b, NULL), CM_OK);
	assert_int_equal(cm_upsync_state_get(b, &us), CM_OK);
	assert_string_equal(us.err, "");
	assert_true(us.ok_us > 0);
	cm_index_close(b);
	cmt_rmdir(da);
	cmt_rmdir(db);
}

/* Outbox rows: encode/decode round trip; truncated rows refused. */
static void
test_codec(void **state)
{
	cm_upevent e = { 0 }, d;
	unsigned char buf[512];
	size_t n;

	(void)state;
	e.origin = "n1";
	e.ev.kind = CM_EV_GRANT;
	e.ev.state = CM_STATE_PENDING;
	e.ev.addr = "q@example.org";
	e.ev.type = "news";
	e.ev.source = "";
	e.ev.at_us = 12345;
	n = cm_outbox_encode(&e, buf, sizeof(buf));
	assert_true(n > 0);
	assert_true(cm_outbox_decode(buf, n, &d));
	assert_string_equal(d.ev.addr, "q@example.org");
	assert_string_equal(d.ev.source, "");
	assert_null(d.ev.basis);
	assert_int_equal(d.ev.state, CM_STATE_PENDING);
	assert_int_equal(d.ev.at_us, 12345);
	for (size_t i = 0; i < n; i++)
		assert_false(cm_outbox_decode(buf, i, &d));
	assert_int_equal(cm_outbox_encode(&e, buf, 20), 0);
	assert_false(cm_outbox_node_valid(""));
	assert_false(cm_outbox_node_valid("a/b"));
	assert_true(cm_outbox_node_valid("mx1.example_-2"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_outbox_rows),
		cmocka_unit_test(test_outbox_erase_bulk),
		cmocka_unit_test(test_apply_remote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
