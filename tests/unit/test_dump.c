/* test_dump.c - dump and restore of a whole index (core/dump.h) on LMDB. */
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
#include "core/dump.h"
#include "core/index.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define T0 INT64_C(1700000000000000)
#define S INT64_C(1000000)

/* ------------------------------------------------------------------ */
/* the items of a dump, kept (strings copied) */

typedef struct items {
	cm_dump_header h;
	cm_dump_item *v;
	size_t n, cap;
	char *text;		/* every item as a line */
	size_t tn, tcap;
} items;

static char *
dupstr(const char *s)
{
	char *d = s != NULL ? strdup(s) : NULL;

	assert_true(s == NULL || d != NULL);
	return d;
}

static void
tprintf(items *it, const char *fmt, ...)
{
	va_list ap;
	int need;

	va_start(ap, fmt);
	need = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	while (it->tn + (size_t)need + 1 > it->tcap) {
		it->tcap = it->tcap ? 2 * it->tcap : 4096;
		it->text = realloc(it->text, it->tcap);
		assert_non_null(it->text);
	}
	va_start(ap, fmt);
	vsnprintf(it->text + it->tn, (size_t)need + 1, fmt, ap);
	va_end(ap);
	it->tn += (size_t)need;
}

static int
hcb(const cm_dump_header *h, void *arg)
{
	items *it = arg;

	it->h = *h;
	tprintf(it, "header %u %llu\n", h->index_format,
	    (unsigned long long)h->next_seq);
	return 0;
}

static int
icb(const cm_dump_item *src, void *arg)
{
	items *it = arg;
	cm_dump_item *d;
	const cm_history_event *e = &src->ev;

	if (it->n == it->cap) {
		it->cap = it->cap ? 2 * it->cap : 64;
		it->v = realloc(it->v, it->cap * sizeof(*it->v));
		assert_non_null(it->v);
	}
	d = &it->v[it->n++];
	*d = *src;
	d->name = dupstr(src->name);
	d->source = dupstr(src->source);
	d->rec.type = dupstr(src->rec.type);
	d->rec.source = dupstr(src->rec.source);
	d->rec.basis = dupstr(src->rec.basis);
	d->rec.purpose = dupstr(src->rec.purpose);
	d->rec.evidence = dupstr(src->rec.evidence);
	d->ev.type = dupstr(e->type);
	d->ev.source = dupstr(e->source);
	d->ev.basis = dupstr(e->basis);
	d->ev.purpose = dupstr(e->purpose);
	d->ev.evidence = dupstr(e->evidence);
	d->ev.actor = dupstr(e->actor);
	tprintf(it, "%d %s %02x%02x %lld %lld %zu | %s %d %lld %lld %lld %lld "
	    "%s %s %s %s | %d %lld %lld %s %lld | %llu %d %lld %lld %s %d %d "
	    "%s %s %s %s %s\n", src->kind, src->name ? src->name : "-",
	    src->hash[0], src->hash[15], (long long)src->objection_us,
	    (long long)src->last_grant_us, src->nrecords,
	    src->rec.type ? src->rec.type : "-", src->rec.state,
	    (long long)src->rec.granted_us, (long long)src->rec.confirmed_us,
	    (long long)src->rec.withdrawn_us, (long long)src->rec.updated_us,
	    src->rec.source ? src->rec.source : "-",
	    src->rec.basis ? src->rec.basis : "-",
	    src->rec.purpose ? src->rec.purpose : "-",
	    src->rec.evidence ? src->rec.evidence : "-", src->suppressed,
	    (long long)src->since_us, (long long)src->updated_us,
	    src->source ? src->source : "-", (long long)src->erased_us,
	    (unsigned long long)e->seq, e->kind, (long long)e->at_us,
	    (long long)e->recorded_us, e->type ? e->type : "-",
	    e->old_state, e->new_state, e->source ? e->source : "-",
	    e->basis ? e->basis : "-", e->purpose ? e->purpose : "-",
	    e->evidence ? e->evidence : "-", e->actor ? e->actor : "-");
	return 0;
}

static void
items_free(items *it)
{
	for (size_t i = 0; i < it->n; i++) {
		cm_dump_item *d = &it->v[i];

		free((char *)d->name);
		free((char *)d->source);
		free((char *)d->rec.type);
		free((char *)d->rec.source);
		free((char *)d->rec.basis);
		free((char *)d->rec.purpose);
		free((char *)d->rec.evidence);
		free((char *)d->ev.type);
		free((char *)d->ev.source);
		free((char *)d->ev.basis);
		free((char *)d->ev.purpose);
		free((char *)d->ev.evidence);
		free((char *)d->ev.actor);
	}
	free(it->v);
	free(it->text);
	memset(it, 0, sizeof(*it));
}

static void
read_all(cm_index *idx, items *it, cm_dump_counts *n)
{
	assert_int_equal(cm_dump_read(idx, hcb, icb, it, n), CM_OK);
}

/* ------------------------------------------------------------------ */
/* a source index with every kind of item */

static const char *const addrs[] = {
	"alice@example.com", "bob@example.com", "john doe@example.com",
	"carol@xn--bcher-kva.example", "eve@example.com", "obj@example.com",
	"nobody@example.com",
};

static cm_index *
build(const char *dir)
{
	cm_index *idx = cmt_open(dir, 0);
	cm_event ev = { 0 };

	assert_int_equal(cmt_grant(idx, "alice@example.com", "news",
	    CM_STATE_PENDING, T0), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_CONFIRM, "alice@example.com", "news",
	    T0 + S), CM_OK);
	assert_int_equal(cmt_grant(idx, "alice@example.com", "offers",
	    CM_STATE_GRANTED, T0 + 2 * S), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_WITHDRAW, "alice@example.com",
	    "offers", T0 + 3 * S), CM_OK);
	ev.kind = CM_EV_UPDATE;
	ev.addr = "alice@example.com";
	ev.type = "news";
	ev.source = "crm";
	ev.basis = "consent";
	ev.purpose = "weekly \"news\"";
	ev.evidence = "form=7 caf\xc3\xa9";
	ev.actor = "ops";
	assert_int_equal(cm_index_apply(idx, &ev), CM_OK);
	assert_int_equal(cmt_grant(idx, "bob@example.com", "a.b", CM_STATE_GRANTED,
	    T0), CM_OK);
	assert_int_equal(cmt_grant(idx, "bob@example.com", "a", CM_STATE_GRANTED,
	    T0), CM_OK);
	assert_int_equal(cmt_grant(idx, "john doe@example.com", "news",
	    CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_grant(idx, "carol@xn--bcher-kva.example", "news",
	    CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_grant(idx, "eve@example.com", "news",
	    CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_ERASE, "eve@example.com", NULL,
	    T0 + 5 * S), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_OBJECT, "obj@example.com", NULL,
	    T0 + 6 * S), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_SUPPRESS_DOMAIN, "spam.example",
	    NULL, T0), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_SUPPRESS_DOMAIN, "gone.example",
	    NULL, T0), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_UNSUPPRESS_DOMAIN, "gone.example",
	    NULL, T0 + S), CM_OK);
	return idx;
}

/* Restore IT into a new index in DIR; returns it. */
static cm_index *
restore_new(const char *dir, const items *it, const cm_dump_counts *n)
{
	cm_index *idx;
	cm_restore *r;

	assert_int_equal(cm_dump_install_key(dir, it->h.key), CM_OK);
	idx = cmt_open(dir, 0);
	assert_int_equal(cm_dump_restore_begin(idx, &it->h, 1 << 20, &r),
	    CM_OK);
	for (size_t i = 0; i < it->n; i++)
		assert_int_equal(cm_dump_restore_put(r, &it->v[i]), CM_OK);
	assert_int_equal(cm_dump_restore_commit(r, n), CM_OK);
	return idx;
}

/* ------------------------------------------------------------------ */

/* dump -> restore into a new index -> everything reads the same, and
 * the second dump equals the first item for item */
static void
test_round_trip(void **state)
{
	char *d1 = cmt_mkdtemp(), *d2 = cmt_mkdtemp();
	cm_index *a = build(d1), *b;
	items i1 = { 0 }, i2 = { 0 };
	cm_dump_counts n1, n2;
	char *t1, *t2;

	(void)state;
	read_all(a, &i1, &n1);
	assert_int_equal(n1.domains, 2);
	assert_int_equal(n1.tombstones, 1);
	assert_int_equal(n1.entries, 5);
	assert_int_equal(n1.records, 6);
	b = restore_new(d2, &i1, &n1);
	read_all(b, &i2, &n2);
	assert_memory_equal(&n1, &n2, sizeof(n1));
	assert_string_equal(i1.text, i2.text);
	assert_memory_equal(i1.h.key, i2.h.key, CM_DUMP_KEY_LEN);
	t1 = cmt_dump(a, addrs, NELEM(addrs));
	t2 = cmt_dump(b, addrs, NELEM(addrs));
	assert_string_equal(t1, t2);
	assert_int_equal(cm_index_is_erased(b, "eve@example.com"), CM_OK);
	assert_int_equal(cm_index_domain_suppressed(b, "spam.example", NULL),
	    CM_OK);
	/* the history goes on with the next sequence number */
	assert_int_equal(cmt_grant(b, "bob@example.com", "zz",
	    CM_STATE_GRANTED, T0 + 9 * S), CM_OK);
	free(t1);
	free(t2);
	items_free(&i2);
	read_all(b, &i2, &n2);
	assert_int_equal(i2.h.next_seq, i1.h.next_seq + 1);
	items_free(&i1);
	items_free(&i2);
	cm_index_close(a);
	cm_index_close(b);
	cmt_rmdir(d1);
	cmt_rmdir(d2);
}

/* A bad item: the restore fails, and the index is left empty. */
typedef struct badcase {
	const char *what;
	size_t at;		/* replace item AT ... */
	void (*spoil)(cm_dump_item *it, const items *all);
	cm_status want;
} badcase;

static size_t
find(const items *it, cm_dump_kind k, size_t nth)
{
	for (size_t i = 0; i < it->n; i++)
		if (it->v[i].kind == k && nth-- == 0)
			return i;
	fail_msg("no item of kind %d", k);
	return 0;
}

static void sp_seq(cm_dump_item *it, const items *a)
{ it->ev.seq = a->h.next_seq; }
static void sp_seq0(cm_dump_item *it, const items *a)
{ (void)a; it->ev.seq = 0; }
static void sp_kind(cm_dump_item *it, const items *a)
{ (void)a; it->ev.kind = (cm_event_kind)99; }
static void sp_hash(cm_dump_item *it, const items *a)
{ (void)a; it->hash[0] &= 0x7f; }
static void sp_type(cm_dump_item *it, const items *a)
{ (void)a; it->rec.type = "Bad Type"; }
static void sp_state(cm_dump_item *it, const items *a)
{ (void)a; it->rec.state = CM_STATE_NONE; }
static void sp_empty(cm_dump_item *it, const items *a)
{ (void)a; it->nrecords = 0; it->objection_us = 0; }
static void sp_addr(cm_dump_item *it, const items *a)
{ (void)a; it->name = "no-at-sign"; }
static void sp_dom(cm_dump_item *it, const items *a)
{ (void)a; it->name = "x@y"; }
static void sp_more(cm_dump_item *it, const items *a)
{ (void)a; it->nrecords++; }

static void
test_bad_items(void **state)
{
	char *d1 = cmt_mkdtemp();
	cm_index *a = build(d1);
	items it = { 0 };
	cm_dump_counts n;

	(void)state;
	read_all(a, &it, &n);
	const badcase cases[] = {
		{ "event seq not below next_seq", find(&it, CM_DUMP_EVENT, 0),
		    sp_seq, CM_EINVAL },
		{ "event seq 0", find(&it, CM_DUMP_EVENT, 1), sp_seq0,
		    CM_EINVAL },
		{ "unknown event kind", find(&it, CM_DUMP_EVENT, 2), sp_kind,
		    CM_EINVAL },
		{ "tombstone hash not an address's", find(&it,
		    CM_DUMP_TOMBSTONE, 0), sp_hash, CM_EINVAL },
		{ "invalid type id", find(&it, CM_DUMP_RECORD, 0), sp_type,
		    CM_EINVAL },
		{ "record state none", find(&it, CM_DUMP_RECORD, 1), sp_state,
		    CM_EINVAL },
		{ "entry without records or objection", find(&it,
		    CM_DUMP_ENTRY, 0), sp_empty, CM_EINVAL },
		{ "address without @", find(&it, CM_DUMP_ENTRY, 1), sp_addr,
		    CM_EINVAL },
		{ "domain with @", find(&it, CM_DUMP_DOMAIN, 0), sp_dom,
		    CM_EINVAL },
		{ "more records announced than given", find(&it,
		    CM_DUMP_ENTRY, 0), sp_more, CM_EINVAL },
	};

	for (size_t c = 0; c < NELEM(cases); c++) {
		char *d2 = cmt_mkdtemp();
		cm_index *b;
		cm_restore *r;
		cm_status st = CM_OK;
		cm_dump_item saved = it.v[cases[c].at];
		cm_index_stats s;

		print_message("case: %s\n", cases[c].what);
		cases[c].spoil(&it.v[cases[c].at], &it);
		assert_int_equal(cm_dump_install_key(d2, it.h.key), CM_OK);
		b = cmt_open(d2, 0);
		assert_int_equal(cm_dump_restore_begin(b, &it.h, 0, &r),
		    CM_OK);
		for (size_t i = 0; i < it.n && st == CM_OK; i++)
			st = cm_dump_restore_put(r, &it.v[i]);
		if (st == CM_OK)
			st = cm_dump_restore_commit(r, &n);
		assert_int_equal(st, cases[c].want);
		assert_string_not_equal(cm_dump_restore_error(r), "no error");
		cm_dump_restore_abort(r);
		it.v[cases[c].at] = saved;
		assert_int_equal(cm_index_stats_get(b, &s), CM_OK);
		assert_int_equal(s.addresses + s.records + s.history_events +
		    s.domains + s.tombstones, 0);
		cm_index_close(b);
		cmt_rmdir(d2);
	}
	items_free(&it);
	cm_index_close(a);
	cmt_rmdir(d1);
}

/* Duplicates, a truncated dump, a non-empty index, another key. */
static void
test_refusals(void **state)
{
	char *d1 = cmt_mkdtemp(), *d2 = cmt_mkdtemp(), *d3 = cmt_mkdtemp();
	cm_index *a = build(d1), *b, *c;
	items it = { 0 };
	cm_dump_counts n, less;
	cm_restore *r;
	size_t ev0;
	unsigned char other[CM_DUMP_KEY_LEN] = { 1 };

	(void)state;
	read_all(a, &it, &n);
	/* the same event twice */
	assert_int_equal(cm_dump_install_key(d2, it.h.key), CM_OK);
	assert_int_equal(cm_dump_install_key(d2, it.h.key), CM_OK);
	assert_int_equal(cm_dump_install_key(d2, other), CM_EEXIST);
	b = cmt_open(d2, 0);
	ev0 = find(&it, CM_DUMP_EVENT, 0);
	assert_int_equal(cm_dump_restore_begin(b, &it.h, 0, &r), CM_OK);
	assert_int_equal(cm_dump_restore_put(r, &it.v[ev0]), CM_OK);
	assert_int_equal(cm_dump_restore_put(r, &it.v[ev0]), CM_EEXIST);
	cm_dump_restore_abort(r);
	/* counts that do not match: a truncated dump */
	less = n;
	less.events++;
	assert_int_equal(cm_dump_restore_begin(b, &it.h, 0, &r), CM_OK);
	for (size_t i = 0; i < it.n; i++)
		assert_int_equal(cm_dump_restore_put(r, &it.v[i]), CM_OK);
	assert_int_equal(cm_dump_restore_commit(r, &less), CM_EINVAL);
	cm_dump_restore_abort(r);
	assert_int_equal(cm_index_is_erased(b, "eve@example.com"),
	    CM_NOTFOUND);
	/* now for real; then a second restore is refused */
	assert_int_equal(cm_dump_restore_begin(b, &it.h, 0, &r), CM_OK);
	for (size_t i = 0; i < it.n; i++)
		assert_int_equal(cm_dump_restore_put(r, &it.v[i]), CM_OK);
	assert_int_equal(cm_dump_restore_commit(r, &n), CM_OK);
	assert_int_equal(cm_dump_restore_begin(b, &it.h, 0, &r), CM_EEXIST);
	assert_null(r);
	/* an index with another key (d3 created with its own) */
	c = cmt_open(d3, 0);
	assert_int_equal(cm_dump_restore_begin(c, &it.h, 0, &r), CM_EPERM);
	assert_int_equal(cm_dump_restore_begin(a, &it.h, 0, &r), CM_EEXIST);
	items_free(&it);
	cm_index_close(a);
	cm_index_close(b);
	cm_index_close(c);
	cmt_rmdir(d1);
	cmt_rmdir(d2);
	cmt_rmdir(d3);
}

/* History whose subject has no entry (none is written today; an older
 * or damaged index may hold some) is dumped with its key and restored
 * under it. */
static void
test_orphan_history(void **state)
{
	char *d1 = cmt_mkdtemp(), *d2 = cmt_mkdtemp();
	cm_index *a = build(d1), *b;
	items i1 = { 0 }, i2 = { 0 };
	cm_dump_counts n1, n2;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	unsigned char k[24], v[24 + 12] = { 1, CM_EV_GRANT, 0, 2 };
	MDB_val key = { sizeof(k), k }, val = { sizeof(v), v };
	size_t last;

	(void)state;
	cm_index_close(a);
	/* one event under an address hash without an entry: "history"
	 * keeps LMDB's default key order (see codec.c) */
	memset(k, 0, sizeof(k));
	k[0] = 0xff;
	k[15] = 0x42;
	k[23] = 3;	/* below next_seq, as every stored event */
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, d1, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "history", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	a = cmt_open(d1, 0);
	read_all(a, &i1, &n1);
	last = i1.n - 1;
	assert_int_equal(i1.v[last].kind, CM_DUMP_EVENT);
	assert_null(i1.v[last].name);
	assert_int_equal(i1.v[last].hash[0], 0xff);
	assert_int_equal(i1.v[last].hash[15], 0x42);
	assert_int_equal(i1.v[last].ev.seq, 3);
	for (size_t i = 0; i < last; i++)
		assert_true(i1.v[i].kind != CM_DUMP_EVENT ||
		    i1.v[i].name != NULL);
	b = restore_new(d2, &i1, &n1);
	read_all(b, &i2, &n2);
	assert_string_equal(i1.text, i2.text);
	items_free(&i1);
	items_free(&i2);
	cm_index_close(a);
	cm_index_close(b);
	cmt_rmdir(d1);
	cmt_rmdir(d2);
}

/* A restore that fills the map: CM_EFULL, the map has been grown, and
 * the restore begun again completes. */
static void
test_map_full(void **state)
{
	char *d1 = cmt_mkdtemp(), *d2 = cmt_mkdtemp();
	cm_index *a = cmt_open(d1, 0), *b;
	items i1 = { 0 }, i2 = { 0 };
	cm_dump_counts n1, n2;
	cm_batch *bt;
	cm_batch_result res;
	cm_restore *r;
	int fulls = 0;
	size_t n = cmt_quick() ? 2000 : 6000;

	(void)state;
	assert_int_equal(cm_batch_new(&bt), CM_OK);
	for (size_t i = 0; i < n; i++) {
		char addr[64];
		cm_event ev = { 0 };

		snprintf(addr, sizeof(addr), "user%zu@example.com", i);
		ev.kind = CM_EV_GRANT;
		ev.addr = addr;
		ev.type = "news";
		ev.state = CM_STATE_GRANTED;
		ev.at_us = T0 + (int64_t)i;
		ev.evidence = "form=signup-7 ip=192.0.2.1 some more evidence";
		assert_int_equal(cm_batch_add(bt, &ev), CM_OK);
	}
	assert_int_equal(cm_index_apply_batch(a, bt, &res), CM_OK);
	cm_batch_free(bt);
	read_all(a, &i1, &n1);
	assert_int_equal(n1.entries, n);

	assert_int_equal(cm_dump_install_key(d2, i1.h.key), CM_OK);
	b = cmt_open(d2, 64 << 10);	/* far too small a map */
	for (;;) {
		cm_status st = CM_OK;

		assert_int_equal(cm_dump_restore_begin(b, &i1.h, 0, &r), CM_OK);
		for (size_t i = 0; i < i1.n && st == CM_OK; i++)
			st = cm_dump_restore_put(r, &i1.v[i]);
		if (st == CM_OK)
			st = cm_dump_restore_commit(r, &n1);
		if (st == CM_OK)
			break;
		assert_int_equal(st, CM_EFULL);
		cm_dump_restore_abort(r);
		assert_true(++fulls < 20);
	}
	assert_true(fulls > 0);
	read_all(b, &i2, &n2);
	assert_string_equal(i1.text, i2.text);
	items_free(&i1);
	items_free(&i2);
	cm_index_close(a);
	cm_index_close(b);
	cmt_rmdir(d1);
	cmt_rmdir(d2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_items),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_orphan_history),
		cmocka_unit_test(test_map_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
