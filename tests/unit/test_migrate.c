/*
 * test_migrate.c - re-keying an index of format 1 (core/migrate.h).
 *
 * An index of format 1 is made the way the older version made it: events
 * applied under the keys its normalization produced ("Über@x": ASCII-only
 * folding, no NFC; "ivan%example.net@localhost"), then "meta" "format"
 * set back to 1.  Opened again it is refused (CM_EUPGRADE) until
 * cm_migrate_keys has run with cm_index_opts.upgrade; then every record
 * is found under the key of today's normalization, merged with what was
 * already there by the newer-event-wins rules, with both histories.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>

#include "cmtest.h"
#include "core/decide.h"
#include "core/index_int.h"
#include "core/migrate.h"

#define NFD_UBER "u\xcc\x88" "ber"

/* Set "meta" "format" of the index in DIR to V (the older version's 1). */
static void
set_format(const char *dir, unsigned v)
{
	cm_index_opts o;
	cm_index *idx;
	cm_index_raw_t raw;
	MDB_txn *txn;
	MDB_val k, val;
	unsigned char fmt[4] = { (unsigned char)v, 0, 0, 0 };

	memset(&o, 0, sizeof(o));
	o.upgrade = true;
	assert_int_equal(cm_index_open(dir, &o, &idx), CM_OK);
	cm_index_raw(idx, &raw);
	assert_int_equal(mdb_txn_begin(raw.env, NULL, 0, &txn), 0);
	k.mv_data = "format";
	k.mv_size = 6;
	val.mv_data = fmt;
	val.mv_size = 4;
	assert_int_equal(mdb_put(txn, raw.db_meta, &k, &val, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	cm_index_close(idx);
}

static cm_index *
open_upgrade(const char *dir)
{
	cm_index_opts o;
	cm_index *idx;

	memset(&o, 0, sizeof(o));
	o.upgrade = true;
	assert_int_equal(cm_index_open(dir, &o, &idx), CM_OK);
	return idx;
}

static cm_state
state_of(cm_index *idx, const char *addr, const char *type)
{
	cm_entry *e;
	cm_state s = CM_STATE_NONE;

	if (cm_index_get(idx, addr, &e) != CM_OK)
		return CM_STATE_NONE;
	for (size_t i = 0; i < e->nrecords; i++)
		if (strcmp(e->records[i].type, type) == 0)
			s = e->records[i].state;
	cm_entry_free(e);
	return s;
}

static int
count_ev(const cm_history_event *ev, void *arg)
{
	(void)ev;
	(*(size_t *)arg)++;
	return 0;
}

static size_t
history_len(cm_index *idx, const char *addr)
{
	size_t n = 0;

	(void)cm_index_history(idx, addr, count_ev, &n);
	return n;
}

/* The old keys, as the older normalization made them. */
static void
write_old(cm_index *idx)
{
	/* two spellings of one person: a newer withdrawal under the old
	 * key "Über", an older grant under "über" (already NFC, lower) */
	assert_int_equal(cmt_grant(idx, "über@example.com", "offers",
	    CM_STATE_GRANTED, 50), CM_OK);
	assert_int_equal(cmt_grant(idx, "Über@example.com", "offers",
	    CM_STATE_GRANTED, 40), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_WITHDRAW, "Über@example.com",
	    "offers", 100), CM_OK);
	/* the NFD form, alone */
	assert_int_equal(cmt_grant(idx, NFD_UBER "2@example.com", "weekly",
	    CM_STATE_GRANTED, 10), CM_OK);
	/* a routing form */
	assert_int_equal(cmt_ev(idx, CM_EV_OBJECT,
	    "ivan%example.net@localhost", NULL, 70), CM_OK);
	assert_int_equal(cmt_grant(idx, "ivan@example.net", "offers",
	    CM_STATE_GRANTED, 60), CM_OK);
	/* an erased address with an older record under its old key, and
	 * one with a newer one */
	assert_int_equal(cmt_grant(idx, "jörg@example.com", "offers",
	    CM_STATE_GRANTED, 5), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_ERASE, "jörg@example.com", NULL,
	    200), CM_OK);
	assert_int_equal(cmt_grant(idx, "JÖRG@example.com", "offers",
	    CM_STATE_GRANTED, 150), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_ERASE, "anné@example.com", NULL,
	    200), CM_OK);
	assert_int_equal(cmt_grant(idx, "ANNé@example.com", "offers",
	    CM_STATE_GRANTED, 300), CM_OK);
	/* ASCII: unchanged */
	assert_int_equal(cmt_grant(idx, "bob@example.com", "offers",
	    CM_STATE_GRANTED, 10), CM_OK);
}

static void
test_migrate(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	cm_index_opts o;
	cm_migrate_stats s;
	cm_addr_opts ao;
	cm_addr a;

	(void)state;
	write_old(idx);
	cm_index_close(idx);
	set_format(dir, 1);

	/* refused without the upgrade flag, read-only or not */
	memset(&o, 0, sizeof(o));
	assert_int_equal(cm_index_open(dir, &o, &idx), CM_EUPGRADE);
	o.readonly = true;
	o.upgrade = true;	/* ignored read-only */
	assert_int_equal(cm_index_open(dir, &o, &idx), CM_EUPGRADE);

	/* a dry run changes nothing */
	idx = open_upgrade(dir);
	cm_addr_opts_default(&ao);
	assert_int_equal(cm_migrate_keys(idx, &ao, true, &s), CM_OK);
	assert_int_equal(s.from_format, 1);
	assert_int_equal(s.moved + s.merged + s.erased, 5);
	cm_index_close(idx);
	memset(&o, 0, sizeof(o));
	assert_int_equal(cm_index_open(dir, &o, &idx), CM_EUPGRADE);

	idx = open_upgrade(dir);
	assert_int_equal(cm_migrate_keys(idx, &ao, false, &s), CM_OK);
	assert_int_equal(s.entries, 8);
	assert_int_equal(s.merged, 2);	/* Über -> über, ivan%... -> ivan@ */
	assert_int_equal(s.moved, 2);	/* NFD, ANNé */
	assert_int_equal(s.erased, 1);	/* JÖRG: older than the erasure */
	assert_int_equal(s.failed, 0);
	cm_index_close(idx);

	/* opens normally now; every spelling finds its record */
	memset(&o, 0, sizeof(o));
	assert_int_equal(cm_index_open(dir, &o, &idx), CM_OK);
	assert_int_equal(cm_addr_normalize("ÜBER@example.com",
	    strlen("ÜBER@example.com"), NULL, &a),
	    CM_OK);
	assert_string_equal(a.key, "über@example.com");
	assert_int_equal(state_of(idx, a.key, "offers"), CM_STATE_WITHDRAWN);
	assert_int_equal(cm_index_get(idx, "Über@example.com", &(cm_entry *){
	    NULL }), CM_NOTFOUND);
	/* both histories kept: grant(50) + grant(40) + withdraw(100) */
	assert_int_equal(history_len(idx, "über@example.com"), 3);

	assert_int_equal(state_of(idx, "über2@example.com", "weekly"),
	    CM_STATE_GRANTED);
	assert_int_equal(history_len(idx, "über2@example.com"), 1);

	/* the objection of the routing form covers ivan@example.net and
	 * withdraws its older grant */
	{
		cm_entry *e;

		assert_int_equal(cm_index_get(idx, "ivan@example.net", &e),
		    CM_OK);
		assert_true(e->objection);
		assert_int_equal(e->nrecords, 1);
		assert_int_equal(e->records[0].state, CM_STATE_WITHDRAWN);
		assert_int_equal(e->records[0].withdrawn_us, 70);
		cm_entry_free(e);
	}

	/* erased: the older record is gone, the tombstone stays */
	assert_int_equal(cm_index_is_erased(idx, "jörg@example.com"), CM_OK);
	assert_int_equal(state_of(idx, "jörg@example.com", "offers"),
	    CM_STATE_NONE);
	/* a grant newer than the erasure lifts it, as it would have */
	assert_int_equal(state_of(idx, "anné@example.com", "offers"),
	    CM_STATE_GRANTED);
	assert_int_equal(cm_index_is_erased(idx, "anné@example.com"),
	    CM_NOTFOUND);

	assert_int_equal(state_of(idx, "bob@example.com", "offers"),
	    CM_STATE_GRANTED);

	/* a second run finds nothing to do */
	cm_index_close(idx);
	idx = open_upgrade(dir);
	assert_int_equal(cm_migrate_keys(idx, &ao, false, &s), CM_OK);
	assert_int_equal(s.from_format, 2);
	assert_int_equal(s.moved + s.merged + s.erased, 0);
	assert_int_equal(s.unchanged, s.entries);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

/* cm_addr_rekey: what the older keys become */
static void
test_rekey(void **state)
{
	static const struct {
		const char *old, *key;
		cm_status st;
	} t[] = {
		{ "Über@example.com", "über@example.com", CM_OK },
		{ NFD_UBER "@example.com", "über@example.com", CM_OK },
		{ "bob@example.com", "bob@example.com", CM_OK },
		{ "ivan%example.net@localhost", "ivan@example.net", CM_OK },
		{ "example.net!ivan@localhost", "ivan@example.net", CM_OK },
		/* from a quoted local part: not a routing form */
		{ "john doe%x@example.com", "john doe%x@example.com", CM_OK },
		{ "a..b@x.org", "a..b@x.org", CM_OK },
		{ "\"q\"@x.org", "\"q\"@x.org", CM_OK },
		{ "x%@localhost", NULL, CM_ADDR_BAD_LOCAL },
		/* an address literal may hold '@' but no '[' */
		{ "u@[\"@\"bc192.0.2.1]", "u@[\"@\"bc192.0.2.1]", CM_OK },
		{ "a@[b@[192.0.2.1]", "a@[b@[192.0.2.1]", CM_OK },
		{ "a@[b@example.com", "a@[b@example.com", CM_OK },
		{ "nodomain", NULL, CM_ADDR_NO_AT },
	};
	cm_addr a;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cm_status st = cm_addr_rekey(t[i].old, strlen(t[i].old), NULL,
		    &a);

		if (st != t[i].st)
			fail_msg("%s: got %s", t[i].old, cm_strerror(st));
		if (st == CM_OK)
			assert_string_equal(a.key, t[i].key);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate),
		cmocka_unit_test(test_rekey),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
