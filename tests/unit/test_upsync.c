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
#include "core/scrubq.h"
#include "core/seed.h"
#include "core/timefmt.h"
#include "core/upsync.h"
#include "uprows.h"

#define SEC INT64_C(1000000)

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
	/* it holds a record: attached only with it sent (seed.h) */
	assert_int_equal(cm_outbox_attach(idx, "mx-a.example"), CM_EEXIST);
	assert_int_equal(cm_outbox_node(idx, node, sizeof(node)),
	    CM_NOTFOUND);
	assert_int_equal(cm_seed_attach(idx, "mx-a.example", &n), CM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(cm_outbox_attach(idx, "mx-a.example"), CM_OK);
	assert_int_equal(cm_outbox_node(idx, node, sizeof(node)), CM_OK);
	assert_string_equal(node, "mx-a.example");
	assert_int_equal(cm_outbox_read(idx, 0, 0, collect, &r), CM_OK);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].ev.kind, CM_EV_GRANT);
	assert_int_equal(r.ev[0].ev.at_us, t0);
	assert_int_equal(cm_outbox_remove(idx, r.last), CM_OK);
	memset(&r, 0, sizeof(r));

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
	assert_int_equal(cm_outbox_remove(idx, 2), CM_OK);
	assert_int_equal(cm_outbox_count(idx, &n, NULL), CM_OK);
	assert_int_equal(n, 1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(cm_outbox_read(idx, 0, 0, collect, &r), CM_OK);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.last, 3);
	/* a new row after a removal gets a greater key */
	assert_int_equal(cmt_grant(idx, "b@example.org", "news",
	    CM_STATE_GRANTED, t0), CM_OK);
	memset(&r, 0, sizeof(r));
	assert_int_equal(cm_outbox_read(idx, 3, 0, collect, &r), CM_OK);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.last, 4);
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
 * transaction; events at or below the position skipped; own events
 * applied in log order, stale, with no history added; an erase by AKEY
 * leaves only the tombstone. */
static void
test_apply_remote(void **state)
{
	char *da = cmt_mkdtemp(), *db = cmt_mkdtemp();
	cm_index *a = cmt_open(da, 0), *b;
	int64_t t0 = cm_time_now() - 100 * SEC;
	cm_upsync_result res;
	cm_upsync_state us;
	char gone[128] = "";
	rows r = { 0 }, o = { 0 };
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
	assert_int_equal(cm_upsync_apply(b, r.ev, 2, 0, 0, 2, t0, NULL, NULL,
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
	assert_int_equal(cm_upsync_apply(b, r.ev, 2, 0, 0, 2, t0, NULL, NULL,
	    &res), CM_OK);
	assert_int_equal(res.skipped, 2);
	assert_int_equal(nhist(b, "p@example.org"), 2);
	/* own events are applied in log order like any other: B's own
	 * grant comes back stale, with no history added */
	assert_int_equal(cmt_grant(b, "q@example.org", "news",
	    CM_STATE_GRANTED, t0 + 5 * SEC), CM_OK);
	assert_int_equal(cm_outbox_read(b, 0, 0, collect, &o), CM_OK);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.origin[0], "B");
	o.ev[0].id = 3;
	n = nhist(b, "q@example.org");
	assert_int_equal(n, 1);
	assert_int_equal(cm_upsync_apply(b, o.ev, 1, 0, 0, 3, t0, NULL, NULL,
	    &res), CM_OK);
	assert_int_equal(res.stale, 1);
	assert_int_equal(res.applied + res.skipped + res.refused, 0);
	assert_int_equal(nhist(b, "q@example.org"), 1);
	assert_int_equal(cm_outbox_count(b, &n, NULL), CM_OK);
	assert_int_equal(n, 1);		/* nothing queued again */
	/* so is an own erasure that comes back */
	{
		cm_event ev = { 0 };
		rows e = { 0 };

		ev.kind = CM_EV_ERASE;
		ev.addr = "q@example.org";
		ev.at_us = t0 + 6 * SEC;
		assert_int_equal(cm_index_apply(b, &ev), CM_OK);
		assert_int_equal(cm_outbox_read(b, 0, 0, collect, &e), CM_OK);
		assert_int_equal(e.n, 1);	/* the grant's row forgotten */
		assert_int_equal(e.ev[0].ev.kind, CM_EV_ERASE);
		e.ev[0].id = 4;
		e.ev[0].ev.addr = NULL;
		assert_int_equal(cm_upsync_apply(b, e.ev, 1, 0, 0, 4, t0, NULL,
		    NULL, &res), CM_OK);
		assert_int_equal(res.stale, 1);
		assert_int_equal(res.applied, 0);
		assert_int_equal(cm_index_is_erased(b, "q@example.org"),
		    CM_OK);
		assert_int_equal(cm_outbox_remove(b, 100), CM_OK);
	}

	/* erase by AKEY only */
	r.ev[1].id = 5;
	r.ev[1].ev.kind = CM_EV_ERASE;
	r.ev[1].ev.addr = NULL;
	r.ev[1].ev.type = NULL;
	r.ev[1].ev.at_us = t0 + 7 * SEC;
	assert_int_equal(cm_upsync_apply(b, &r.ev[1], 1, 0, 0, 5, t0,
	    erased_cb, gone, &res), CM_OK);
	assert_int_equal(res.applied, 1);
	assert_string_equal(gone, "p@example.org");
	assert_int_equal(cm_index_is_erased(b, "p@example.org"), CM_OK);
	assert_int_equal(nhist(b, "p@example.org"), 0);
	assert_int_equal(cm_upsync_note(b, "connection refused"), CM_OK);
	assert_int_equal(cm_upsync_state_get(b, &us), CM_OK);
	assert_int_equal(us.pos, 5);
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


/* A follower applies the events of the shared store as stored, with no
 * future check by its own clock (AS_STORED): a grant dated an hour
 * ahead by a node whose clock runs ahead is applied as it is, not
 * refused, and a withdrawal keeps its date, so that every follower
 * holds the same; without the flag the old checks stand. */
static void
test_apply_as_stored(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	int64_t ahead = cm_time_now() + 3600 * SEC;
	cm_upevent ev[2];
	cm_upsync_result res;
	cm_entry *e = NULL;

	(void)state;
	memset(ev, 0, sizeof(ev));
	ev[0].id = 1;
	ev[0].origin = "A";
	ev[0].ev.kind = CM_EV_GRANT;
	ev[0].ev.state = CM_STATE_GRANTED;
	ev[0].ev.addr = "f@example.org";
	ev[0].ev.type = "news";
	ev[0].ev.at_us = ahead;
	ev[1] = ev[0];
	ev[1].id = 2;
	ev[1].ev.kind = CM_EV_WITHDRAW;
	ev[1].ev.at_us = ahead + SEC;
	assert_int_equal(cm_upsync_apply(idx, ev, 1, 0, 0, 0, 0, NULL, NULL,
	    &res), CM_OK);
	assert_int_equal(res.refused, 1);
	assert_int_equal(cm_index_get(idx, "f@example.org", &e), CM_NOTFOUND);
	assert_int_equal(cm_upsync_apply(idx, ev, 2, CM_UPSYNC_AS_STORED, 0, 2,
	    0, NULL, NULL, &res), CM_OK);
	assert_int_equal(res.applied, 2);
	assert_int_equal(res.refused, 0);
	assert_int_equal(cm_index_get(idx, "f@example.org", &e), CM_OK);
	assert_int_equal(e->nrecords, 1);
	assert_int_equal(e->records[0].state, CM_STATE_WITHDRAWN);
	assert_int_equal(e->records[0].granted_us, ahead);
	assert_int_equal(e->records[0].withdrawn_us, ahead + SEC);
	cm_entry_free(e);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

static int
count_kind(uint64_t seq, const cm_upevent *ev, void *arg)
{
	size_t *n = arg;

	(void)seq;
	n[ev->ev.kind == CM_EV_ERASE]++;
	if (ev->ev.kind == CM_EV_ERASE)
		assert_null(ev->ev.addr);
	return 0;
}

/* A bulk erasure in one transaction drops the unsent rows of every
 * address it erases in one pass over the outbox, not one pass per
 * address (which took minutes for some ten thousand addresses). */
static void
test_outbox_forget_bulk(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	size_t n = cmt_quick() ? 2000 : 30000, kinds[2] = { 0, 0 };
	int64_t t0 = cm_time_now() - 100 * SEC;
	cm_batch *b;
	cm_batch_result res;
	char addr[64];

	(void)state;
	assert_int_equal(cm_outbox_attach(idx, "A"), CM_OK);
	assert_int_equal(cm_batch_new(&b), CM_OK);
	for (size_t i = 0; i < n; i++) {
		cm_event ev = { 0 };

		snprintf(addr, sizeof(addr), "u%zu@example.org", i);
		ev.kind = CM_EV_GRANT;
		ev.state = CM_STATE_GRANTED;
		ev.addr = addr;
		ev.type = "news";
		ev.at_us = t0;
		assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	}
	assert_int_equal(cm_index_apply_batch(idx, b, &res), CM_OK);
	cm_batch_clear(b);
	for (size_t i = 0; i < n; i++) {
		cm_event ev = { 0 };

		snprintf(addr, sizeof(addr), "u%zu@example.org", i);
		ev.kind = CM_EV_ERASE;
		ev.addr = addr;
		ev.at_us = t0 + SEC;
		assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	}
	/* (a pass per address took tens of seconds here; its time is a
	 * figure, not a test condition: this checks what is left) */
	assert_int_equal(cm_index_apply_batch(idx, b, &res), CM_OK);
	assert_int_equal(res.applied, n);
	/* no grant row is left; one ERASE per address */
	assert_int_equal(cm_outbox_read(idx, 0, 0, count_kind, kinds), CM_OK);
	assert_int_equal(kinds[0], 0);
	assert_int_equal(kinds[1], n);
	cm_batch_free(b);
	cm_index_close(idx);
	cmt_rmdir(dir);
}


static int
list_cb(const char *addr, void *arg)
{
	strcat(arg, addr);
	strcat(arg, " ");
	return 0;
}

static void
ev_erased(void *arg, const char *addr, size_t len)
{
	(void)arg;
	(void)addr;
	(void)len;
}

/* Does DIR/data.mdb hold S? */
static bool
file_has(const char *dir, const char *s)
{
	char path[512], *buf;
	FILE *f;
	long n;
	bool hit;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	assert_non_null(buf = malloc((size_t)n));
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	hit = memmem(buf, (size_t)n, s, strlen(s)) != NULL;
	free(buf);
	return hit;
}

/*
 * The scrub of the decision log and the DSN spool is recorded with the
 * erasure, in its transaction (a crash after the commit loses nothing):
 * an erasure from the shared store and an ERASE whose caller asks for
 * the erased addresses queue them (by keyed hash, the address
 * enciphered); done, they leave the queue.  An ERASE without a callback
 * queues nothing.
 */
static void
test_scrub_queue(void **state)
{
	char *dir = cmt_mkdtemp(), got[512] = "";
	cm_index *idx = cmt_open(dir, 0);
	int64_t t0 = cm_time_now() - 100 * SEC;
	cm_event ev = { 0 };
	rows r = { 0 };
	cm_upsync_result res;
	char gone[128];

	(void)state;
	assert_int_equal(cm_outbox_attach(idx, "A"), CM_OK);
	assert_int_equal(cmt_grant(idx, "remote.person@example.org", "news",
	    CM_STATE_GRANTED, t0), CM_OK);
	assert_int_equal(cmt_grant(idx, "local.person@example.org", "news",
	    CM_STATE_GRANTED, t0), CM_OK);
	assert_int_equal(cmt_grant(idx, "quiet.person@example.org", "news",
	    CM_STATE_GRANTED, t0), CM_OK);
	assert_int_equal(cm_outbox_read(idx, 0, 0, collect, &r), CM_OK);
	assert_int_equal(cm_outbox_remove(idx, r.last), CM_OK);
	/* from the shared store: the erasure of the first one's AKEY */
	r.ev[0].id = 1;
	r.ev[0].ev.kind = CM_EV_ERASE;
	r.ev[0].ev.addr = NULL;
	r.ev[0].ev.type = NULL;
	r.ev[0].ev.at_us = t0 + SEC;
	assert_int_equal(cm_upsync_apply(idx, r.ev, 1, CM_UPSYNC_AS_STORED, 0,
	    1, 0, erased_cb, gone, &res), CM_OK);
	assert_string_equal(gone, "remote.person@example.org");
	/* local, with a callback; and without one */
	ev.kind = CM_EV_ERASE;
	ev.addr = "local.person@example.org";
	ev.erased = ev_erased;
	assert_int_equal(cm_index_apply(idx, &ev), CM_OK);
	ev.addr = "quiet.person@example.org";
	ev.erased = NULL;
	assert_int_equal(cm_index_apply(idx, &ev), CM_OK);
	assert_int_equal(cm_scrubq_list(idx, list_cb, got), CM_OK);
	assert_non_null(strstr(got, "local.person@example.org "));
	assert_non_null(strstr(got, "remote.person@example.org "));
	assert_int_equal(strlen(got), 51);
	/* after a restart too; the queue holds no address in clear */
	cm_index_close(idx);
	assert_false(file_has(dir, "remote.person@example.org"));
	assert_false(file_has(dir, "local.person@example.org"));
	idx = cmt_open(dir, 0);
	got[0] = '\0';
	assert_int_equal(cm_scrubq_list(idx, list_cb, got), CM_OK);
	assert_non_null(strstr(got, "local.person@example.org "));
	assert_non_null(strstr(got, "remote.person@example.org "));
	assert_int_equal(strlen(got), 51);
	assert_int_equal(cm_scrubq_done(idx, "remote.person@example.org"),
	    CM_OK);
	assert_int_equal(cm_scrubq_done(idx, "local.person@example.org"),
	    CM_OK);
	assert_int_equal(cm_scrubq_done(idx, "nobody@example.org"), CM_OK);
	got[0] = '\0';
	assert_int_equal(cm_scrubq_list(idx, list_cb, got), CM_OK);
	assert_string_equal(got, "");
	cm_index_close(idx);
	assert_false(file_has(dir, "remote.person@example.org"));
	assert_false(file_has(dir, "local.person@example.org"));
	cmt_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_outbox_rows),
		cmocka_unit_test(test_outbox_erase_bulk),
		cmocka_unit_test(test_apply_remote),
		cmocka_unit_test(test_apply_as_stored),
		cmocka_unit_test(test_outbox_forget_bulk),
		cmocka_unit_test(test_scrub_queue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
