/*
 * test_pgstore.c - the shared consent store (upstream/pgstore.h) against a
 * real PostgreSQL, started by tests/upstream/pgstore.sh (tests/lib/pg.sh):
 * schema, push, fetch, snapshot, head, duplicates, invalid events and the
 * erasure.  Ends with the erasure test's rows in place: the script then
 * searches pg_dump's output for the erased addresses.  (The connection,
 * the wait and the server stopped: test_pgconn.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pgtest.h"

/* the erasure test's addresses: pgstore.sh searches the dump for them */
#define ERASED "erased.person@example.org"
#define ERASED2 "erased.twice@example.org"
#define KEPT "kept.person@example.net"

static void
test_schema(void **state)
{
	cm_pg *pg;
	cm_upevent e = mkev(1, CM_EV_GRANT, "a@example.com", 0x81, now_us());
	size_t stored;
	int64_t id;
	int v = -1;

	(void)state;
	drop_schema();
	pg = open_ok();
	assert_int_equal(cm_pg_schema(pg, false, &v), CM_EFORMAT);
	assert_non_null(strstr(cm_pg_error(pg), "upstream init"));
	assert_int_equal(cm_pg_push(pg, &e, 1, &stored), CM_EFORMAT);
	assert_int_equal(cm_pg_head(pg, &id, NULL), CM_EFORMAT);
	/* create, then again: idempotent, data kept */
	assert_pg_ok(pg, cm_pg_schema(pg, true, &v));
	assert_int_equal(v, 2);
	assert_pg_ok(pg, cm_pg_schema(pg, false, &v));
	assert_int_equal(v, 2);
	assert_pg_ok(pg, cm_pg_push(pg, &e, 1, &stored));
	assert_int_equal(stored, 1);
	assert_pg_ok(pg, cm_pg_schema(pg, true, &v));
	assert_int_equal(v, 2);
	assert_pg_ok(pg, cm_pg_head(pg, &id, NULL));
	assert_true(id > 0);
	assert_string_equal(sql("SELECT count(*) FROM consent_events", NULL),
	    "1");
	assert_string_equal(sql("SELECT version FROM consent_schema", NULL),
	    "2");
	cm_pg_close(pg);
}

/* the fingerprint of the shared erasure key: the first one is stored,
 * another refused */
static void
test_key_check(void **state)
{
	cm_pg *pg = *state, *other = open_ok();
	unsigned char a[CM_PG_KEY_CHECK_LEN], b[CM_PG_KEY_CHECK_LEN];

	memset(a, 0x5a, sizeof(a));
	memset(b, 0x5b, sizeof(b));
	assert_string_equal(sql("SELECT key_check IS NULL FROM consent_schema",
	    NULL), "t");
	assert_pg_ok(pg, cm_pg_key_check(pg, a));
	assert_string_equal(sql("SELECT encode(key_check, 'hex') FROM "
	    "consent_schema", NULL), "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
	assert_pg_ok(pg, cm_pg_key_check(pg, a));
	assert_pg_ok(other, cm_pg_key_check(other, a));
	assert_int_equal(cm_pg_key_check(other, b), CM_EINVAL);
	assert_non_null(strstr(cm_pg_error(other), "erasure.key"));
	assert_string_equal(sql("SELECT encode(key_check, 'hex') FROM "
	    "consent_schema", NULL), "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
	/* init again keeps it */
	assert_pg_ok(pg, cm_pg_schema(pg, true, NULL));
	assert_int_equal(cm_pg_key_check(pg, b), CM_EINVAL);
	cm_pg_close(other);
}

/* an opt-out dated after the server's clock is stored dated now; any
 * other event as it is; nothing is refused for its time */
static void
test_clamp(void **state)
{
	cm_pg *pg = *state;
	int64_t fut = now_us() + 3600000000LL, before = now_us(), last, off;
	cm_upevent e[5] = {
		mkev(1, CM_EV_WITHDRAW, "w@example.com", 0xc1, fut),
		mkev(2, CM_EV_OBJECT, "o@example.com", 0xc2, fut),
		mkev(3, CM_EV_GRANT, "g@example.com", 0xc3, fut),
		mkev(4, CM_EV_UPDATE, "u@example.com", 0xc4, fut),
		mkev(5, CM_EV_ERASE, NULL, 0xc5, fut),
	};
	struct seen s;
	size_t stored;

	e[3].ev.state = CM_STATE_WITHDRAWN;
	assert_pg_ok(pg, cm_pg_push(pg, e, 5, &stored));
	assert_int_equal(stored, 5);
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, 0, 10, seen_cb, &s, &last));
	assert_int_equal(s.n, 5);
	for (int i = 0; i < 5; i++) {
		if (i == 2) {
			assert_int_equal(s.ev[i].ev.at_us, fut);
			continue;
		}
		assert_true(s.ev[i].ev.at_us >= before - 1000000);
		assert_true(s.ev[i].ev.at_us <= now_us() + 1000000);
	}
	/* a past opt-out keeps its time */
	e[0] = mkev(6, CM_EV_WITHDRAW, "w@example.com", 0xc1, before - 5000000);
	assert_pg_ok(pg, cm_pg_push(pg, e, 1, &stored));
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, last, 10, seen_cb, &s, &last));
	assert_int_equal(s.ev[0].ev.at_us, before - 5000000);
	/* the same host: no offset to speak of */
	assert_pg_ok(pg, cm_pg_clock_offset(pg, &off));
	assert_true(off > -1000000 && off < 1000000);
}

static void
test_version_mismatch(void **state)
{
	cm_pg *pg = *state, *pg2;
	cm_upevent e = mkev(1, CM_EV_GRANT, "a@example.com", 0x81, now_us());
	int v = 0;

	sql("UPDATE consent_schema SET version = 99", NULL);
	assert_int_equal(cm_pg_schema(pg, false, &v), CM_EFORMAT);
	assert_int_equal(v, 99);
	assert_non_null(strstr(cm_pg_error(pg), "99"));
	/* init refuses a newer schema and leaves it alone */
	assert_int_equal(cm_pg_schema(pg, true, &v), CM_EFORMAT);
	assert_non_null(strstr(cm_pg_error(pg), "newer"));
	assert_string_equal(sql("SELECT version FROM consent_schema", NULL),
	    "99");
	pg2 = open_ok();
	assert_int_equal(cm_pg_push(pg2, &e, 1, NULL), CM_EFORMAT);
	assert_int_equal(cm_pg_fetch(pg2, 0, 10, seen_cb, &(struct seen){ 0 },
	    &(int64_t){ 0 }), CM_EFORMAT);
	cm_pg_close(pg2);
	/* a missing function is an incomplete schema */
	sql("UPDATE consent_schema SET version = 2; DROP FUNCTION "
	    "consent_push", NULL);
	assert_int_equal(cm_pg_schema(pg, false, &v), CM_EFORMAT);
}

static void
test_push_fetch(void **state)
{
	cm_pg *pg = *state;
	int64_t t = now_us() - 1000000, last = -1, head, stored_us, before,
	    top;
	cm_upevent a[3] = {
		mkev(1, CM_EV_GRANT, "one@example.com", 0x81, t),
		mkev(2, CM_EV_WITHDRAW, "two@example.com", 0x82, t + 1),
		mkev(3, CM_EV_SUPPRESS_DOMAIN, "spam.example", 0, t + 2),
	};
	cm_upevent b[2] = {
		mkev(4, CM_EV_CONFIRM, "one@example.com", 0x81, t + 3),
		mkev(5, CM_EV_OBJECT, "three@example.com", 0x83, t + 4),
	};
	struct seen s;
	size_t stored = 9;

	a[0].ev.basis = "consent";
	a[0].ev.purpose = "news";
	a[0].ev.evidence = "form=7 \xc3\xa9t\xc3\xa9";
	a[1].origin = "node-b.example_2";
	before = now_us();
	assert_pg_ok(pg, cm_pg_push(pg, a, 3, &stored));
	assert_int_equal(stored, 3);
	assert_pg_ok(pg, cm_pg_push(pg, b, 2, &stored));
	assert_int_equal(stored, 2);
	assert_pg_ok(pg, cm_pg_push(pg, b, 0, &stored));
	assert_int_equal(stored, 0);

	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, 0, 100, seen_cb, &s, &last));
	assert_int_equal(s.n, 5);
	assert_int_equal(last, s.ids[4]);
	top = last;
	assert_string_equal(s.addr[0], "one@example.com");
	assert_int_equal(s.ev[0].ev.kind, CM_EV_GRANT);
	assert_int_equal(s.ev[0].ev.state, CM_STATE_GRANTED);
	assert_int_equal(s.ev[0].ev.at_us, t);
	assert_memory_equal(s.ev[0].uuid, a[0].uuid, CM_UPEVENT_UUID_LEN);
	assert_memory_equal(s.ev[0].akey, a[0].akey, CM_UPEVENT_AKEY_LEN);
	assert_string_equal(s.type[0], "news");
	assert_string_equal(s.origin[0], "node-a");
	assert_string_equal(s.origin[1], "node-b.example_2");
	assert_int_equal(s.ev[1].ev.kind, CM_EV_WITHDRAW);
	assert_int_equal(s.ev[2].ev.kind, CM_EV_SUPPRESS_DOMAIN);
	assert_string_equal(s.addr[2], "spam.example");
	assert_string_equal(s.type[2], "");
	assert_int_equal(s.ev[3].ev.kind, CM_EV_CONFIRM);
	assert_int_equal(s.ev[4].ev.kind, CM_EV_OBJECT);
	assert_int_equal(s.ev[4].ev.at_us, t + 4);
	assert_true(s.ev[0].stored_us >= before - 1000000);
	assert_true(s.ev[4].stored_us <= now_us() + 1000000);
	assert_string_equal(sql("SELECT evidence || '|' || basis || '|' || "
	    "purpose || '|' || actor || '|' || source FROM consent_events "
	    "ORDER BY id LIMIT 1", NULL),
	    "form=7 \xc3\xa9t\xc3\xa9|consent|news|tester|test");

	/* after an id; a limit; a callback that stops */
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, last - 3, 100, seen_cb, &s, &last));
	assert_int_equal(s.n, 3);
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, 0, 2, seen_cb, &s, &last));
	assert_int_equal(s.n, 2);
	assert_int_equal(last, s.ids[1]);
	memset(&s, 0, sizeof(s));
	s.stop_at = 3;
	assert_pg_ok(pg, cm_pg_fetch(pg, 0, 100, seen_cb, &s, &last));
	assert_int_equal(s.n, 2);
	assert_int_equal(last, s.ids[1]);
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, 1000000, 100, seen_cb, &s, &last));
	assert_int_equal(s.n, 0);
	assert_int_equal(last, 1000000);

	assert_pg_ok(pg, cm_pg_head(pg, &head, &stored_us));
	assert_int_equal(head, top);
	assert_true(stored_us >= before - 1000000 &&
	    stored_us <= now_us() + 1000000);
}

/* many events: fetch and snapshot cross their batches (5,000 rows) */
#define MANY 6000

static void
test_many_snapshot(void **state)
{
	cm_pg *pg = *state, *other = open_ok();
	static cm_upevent evs[MANY];
	static char addrs[MANY][32];
	int64_t t = now_us() - 10000000, last, upto, head;
	struct seen s;
	size_t stored;

	assert_pg_ok(pg, cm_pg_head(pg, &head, NULL));
	assert_int_equal(head, 0);
	for (unsigned i = 0; i < MANY; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "u%u@example.com", i);
		evs[i] = mkev(100 + i, CM_EV_GRANT, addrs[i], 0x80 | (i % 64),
		    t + i);
		evs[i].akey[1] = (unsigned char)(i >> 8);
	}
	assert_pg_ok(pg, cm_pg_push(pg, evs, MANY, &stored));
	assert_int_equal(stored, MANY);
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, 0, MANY + 10, seen_cb, &s, &last));
	assert_int_equal(s.n, MANY);
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, 0, 5001, seen_cb, &s, &last));
	assert_int_equal(s.n, 5001);

	/* a push during the snapshot is not in it */
	memset(&s, 0, sizeof(s));
	s.other = other;
	assert_pg_ok(pg, cm_pg_snapshot(pg, seen_cb, &s, &upto));
	assert_int_equal(s.n, MANY);
	assert_int_equal(upto, s.ids[(MANY - 1) % 16]);
	assert_pg_ok(pg, cm_pg_head(pg, &head, NULL));
	assert_int_equal(head, upto + 1);
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, upto, 100, seen_cb, &s, &last));
	assert_int_equal(s.n, 1);
	assert_string_equal(s.addr[0], "late@example.com");
	/* a snapshot that stops */
	memset(&s, 0, sizeof(s));
	s.stop_at = 11;
	assert_pg_ok(pg, cm_pg_snapshot(pg, seen_cb, &s, &upto));
	assert_int_equal(s.n, 10);
	assert_int_equal(upto, s.ids[9]);
	cm_pg_close(other);
}

/* a fetch holds at most some MiB of text per round trip, and still
 * delivers every row, in order, up to its limit */
static void
test_fetch_bytes(void **state)
{
	cm_pg *pg = *state;
	static cm_upevent evs[MANY];
	static char addrs[MANY][32], big[CM_FIELD_MAX + 1];
	int64_t t = now_us() - 10000000, last, prev;
	struct seen s;
	size_t stored;

	memset(big, 'E', CM_FIELD_MAX);
	for (unsigned i = 0; i < MANY; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "b%u@example.com", i);
		evs[i] = mkev(100 + i, CM_EV_GRANT, addrs[i], 0x80 | (i % 64),
		    t + i);
		evs[i].akey[1] = (unsigned char)(i >> 8);
		evs[i].ev.evidence = big;
		evs[i].ev.source = big;
	}
	/* 6000 rows of 2 KiB: 12 MiB, more than one round trip's bound */
	assert_pg_ok(pg, cm_pg_push(pg, evs, MANY, &stored));
	assert_int_equal(stored, MANY);
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, 0, MANY + 10, seen_cb, &s, &last));
	assert_int_equal(s.n, MANY);
	prev = last;
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, 0, 4500, seen_cb, &s, &last));
	assert_int_equal(s.n, 4500);
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, last, MANY, seen_cb, &s, &last));
	assert_int_equal(s.n, MANY - 4500);
	assert_int_equal(last, prev);
	assert_string_equal(sql("SELECT max(octet_length(evidence)) FROM "
	    "consent_events", NULL), "1024");
}

static void
test_duplicate(void **state)
{
	cm_pg *pg = *state;
	int64_t t = now_us();
	cm_upevent a = mkev(1, CM_EV_GRANT, "dup@example.com", 0x91, t);
	cm_upevent b = mkev(2, CM_EV_WITHDRAW, "dup@example.com", 0x91, t + 1);
	cm_upevent bab[3] = { b, a, b };
	size_t stored = 9;

	assert_pg_ok(pg, cm_pg_push(pg, &a, 1, &stored));
	assert_int_equal(stored, 1);
	assert_pg_ok(pg, cm_pg_push(pg, &a, 1, &stored));
	assert_int_equal(stored, 0);
	assert_pg_ok(pg, cm_pg_push(pg, bab, 3, &stored));
	assert_int_equal(stored, 1);
	assert_string_equal(sql("SELECT count(*) FROM consent_events", NULL),
	    "2");
}

static void
test_invalid(void **state)
{
	cm_pg *pg = *state;
	cm_upevent e[2] = {
		mkev(1, CM_EV_GRANT, "ok@example.com", 0x81, now_us()),
		mkev(2, CM_EV_GRANT, "secret.person@example.com", 0x82, now_us()),
	};
	size_t stored = 9;

	e[1].origin = "node a";
	assert_int_equal(cm_pg_push(pg, e, 2, &stored), CM_EINVAL);
	assert_int_equal(stored, 0);
	assert_non_null(strstr(cm_pg_error(pg), "event 1"));
	assert_null(strstr(cm_pg_error(pg), "secret.person"));
	e[1].origin = "node-a";
	memset(e[1].akey, 0, sizeof(e[1].akey));
	assert_int_equal(cm_pg_push(pg, e, 2, &stored), CM_EINVAL);
	memset(e[1].akey, 0x82, sizeof(e[1].akey));
	e[1].ev.at_us = 0;
	assert_int_equal(cm_pg_push(pg, e, 2, &stored), CM_EINVAL);
	e[1].ev.at_us = now_us();
	e[1].ev.addr = NULL;
	assert_int_equal(cm_pg_push(pg, e, 2, &stored), CM_EINVAL);
	/* the server refuses (not UTF-8): all or nothing, and its message
	 * does not quote the address */
	e[1].ev.addr = "secret.person\xff@example.com";
	assert_int_equal(cm_pg_push(pg, e, 2, &stored), CM_EUPSTREAM);
	assert_int_equal(stored, 0);
	assert_null(strstr(cm_pg_error(pg), "secret.person"));
	assert_null(strstr(cm_pg_error(pg), "example.com"));
	assert_string_equal(sql("SELECT count(*) FROM consent_events", NULL),
	    "0");
	/* and the handle works on */
	e[1].ev.addr = "secret.person@example.com";
	assert_pg_ok(pg, cm_pg_push(pg, e, 2, &stored));
	assert_int_equal(stored, 2);
}

/* Erasure; runs last: pgstore.sh then searches the dump for ERASED. */
static void
test_erase(void **state)
{
	cm_pg *pg = *state;
	int64_t t = now_us() - 100000000;
	cm_upevent evs[] = {
		mkev(1, CM_EV_GRANT, ERASED, 0xa1, t),
		mkev(2, CM_EV_WITHDRAW, ERASED, 0xa1, t + 10),
		mkev(3, CM_EV_GRANT, KEPT, 0xa2, t + 20),
		mkev(4, CM_EV_ERASE, NULL, 0xa1, t + 30),
	};
	/* an older event of the erased address arriving late, a newer one
	 * (a new grant after the erasure) */
	cm_upevent late = mkev(5, CM_EV_GRANT, ERASED, 0xa1, t + 29);
	cm_upevent newer = mkev(6, CM_EV_GRANT, "back@example.com", 0xa3,
	    t + 50);
	/* grant and erase in one push; an erase that carries its address */
	cm_upevent both[] = {
		mkev(7, CM_EV_GRANT, ERASED2, 0xa4, t + 5),
		mkev(8, CM_EV_ERASE, ERASED2, 0xa4, t + 6),
	};
	cm_upevent back[] = {
		mkev(9, CM_EV_GRANT, "back@example.com", 0xa3, t + 1),
		mkev(10, CM_EV_ERASE, NULL, 0xa3, t + 40),
	};
	struct seen s;
	size_t stored;
	int64_t last;

	evs[1].ev.evidence = "request 17";
	assert_pg_ok(pg, cm_pg_push(pg, evs, 3, &stored));
	assert_int_equal(stored, 3);
	assert_pg_ok(pg, cm_pg_push(pg, &evs[3], 1, &stored));
	assert_int_equal(stored, 1);
	assert_pg_ok(pg, cm_pg_push(pg, &late, 1, &stored));
	assert_int_equal(stored, 0);
	assert_pg_ok(pg, cm_pg_push(pg, both, 2, &stored));
	assert_int_equal(stored, 2);
	assert_pg_ok(pg, cm_pg_push(pg, back, 2, &stored));
	assert_pg_ok(pg, cm_pg_push(pg, &newer, 1, &stored));
	assert_int_equal(stored, 1);
	/* an erasure wipes every event stored before it, even one dated
	 * after it (a node that granted again while the eraser was apart):
	 * log order, as every node applies it */
	{
		cm_upevent regrant = mkev(11, CM_EV_GRANT, "racer@example.org",
		    0xa5, t + 60);
		cm_upevent erase = mkev(12, CM_EV_ERASE, NULL, 0xa5, t + 55);

		assert_pg_ok(pg, cm_pg_push(pg, &regrant, 1, &stored));
		assert_int_equal(stored, 1);
		assert_pg_ok(pg, cm_pg_push(pg, &erase, 1, &stored));
		assert_int_equal(stored, 1);
		assert_string_equal(sql("SELECT count(*) FROM consent_events t "
		    "WHERE position('racer@' in t::text) > 0", NULL), "0");
		assert_string_equal(sql("SELECT count(*) FROM consent_events "
		    "WHERE akey = '\\xa5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5'", NULL),
		    "1");
		sql("DELETE FROM consent_events WHERE akey = "
		    "'\\xa5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5'", NULL);
	}
	/* pushing the erasure again changes nothing */
	assert_pg_ok(pg, cm_pg_push(pg, &evs[3], 1, &stored));
	assert_int_equal(stored, 0);

	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, 0, 100, seen_cb, &s, &last));
	assert_int_equal(s.n, 5);
	assert_string_equal(s.addr[0], KEPT);
	assert_int_equal(s.ev[1].ev.kind, CM_EV_ERASE);
	assert_true(s.addr_null[1]);
	assert_memory_equal(s.ev[1].akey, evs[3].akey, CM_UPEVENT_AKEY_LEN);
	assert_int_equal(s.ev[1].ev.at_us, t + 30);
	assert_int_equal(s.ev[2].ev.kind, CM_EV_ERASE);
	assert_true(s.addr_null[2]);
	assert_int_equal(s.ev[3].ev.kind, CM_EV_ERASE);
	assert_int_equal(s.ev[4].ev.kind, CM_EV_GRANT);
	assert_string_equal(s.addr[4], "back@example.com");
	/* no row holds the erased addresses, in any column */
	assert_string_equal(sql("SELECT count(*) FROM consent_events t WHERE "
	    "position($1 in t::text) > 0", ERASED), "0");
	assert_string_equal(sql("SELECT count(*) FROM consent_events t WHERE "
	    "position($1 in t::text) > 0", ERASED2), "0");
	assert_string_equal(sql("SELECT count(*) FROM consent_events t WHERE "
	    "position($1 in t::text) > 0", KEPT), "1");
	assert_string_equal(sql("SELECT count(*) FROM consent_events t WHERE "
	    "position('request 17' in t::text) > 0", NULL), "0");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema),
		cmocka_unit_test_setup_teardown(test_key_check, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_clamp, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_version_mismatch,
		    setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_push_fetch, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_many_snapshot, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_fetch_bytes, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_duplicate, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_invalid, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_erase, setup_store,
		    teardown_store),
	};

	if (pgtest_init() != 0)
		return 77;
	return cmocka_run_group_tests_name("pgstore", tests, NULL, NULL);
}
