/* test_index.c - the consent index on LMDB (core/index.h). */
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmtest.h"
#include "core/decide.h"
#include "core/hmac.h"
#include "core/siphash.h"
#include "core/index.h"
#include "core/timefmt.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define T0 INT64_C(1700000000000000)

/* ------------------------------------------------------------------ */
/* fixtures */

typedef struct fx {
	char *dir;
	cm_index *idx;
} fx;

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->dir = cmt_mkdtemp();
	f->idx = cmt_open(f->dir, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;

	cm_index_close(f->idx);
	cmt_rmdir(f->dir);
	free(f);
	return 0;
}

/* history collection */
typedef struct hev {
	cm_event_kind kind;
	char type[CM_TYPE_ID_MAX + 1];
	cm_state old_state, new_state;
	int64_t at;
	uint64_t seq;
	char source[64];
} hev;

typedef struct hlist {
	hev ev[64];
	size_t n;
} hlist;

static int
collect(const cm_history_event *e, void *arg)
{
	hlist *h = arg;
	hev *o;

	assert_true(h->n < NELEM(h->ev));
	o = &h->ev[h->n++];
	o->kind = e->kind;
	snprintf(o->type, sizeof(o->type), "%s", e->type);
	o->old_state = e->old_state;
	o->new_state = e->new_state;
	o->at = e->at_us;
	o->seq = e->seq;
	snprintf(o->source, sizeof(o->source), "%s", e->source);
	return 0;
}

static hlist
history(cm_index *idx, const char *addr)
{
	hlist h;
	cm_status st;

	memset(&h, 0, sizeof(h));
	st = cm_index_history(idx, addr, collect, &h);
	assert_true(st == CM_OK || st == CM_NOTFOUND);
	for (size_t i = 1; i < h.n; i++)
		assert_true(h.ev[i].seq > h.ev[i - 1].seq);
	return h;
}

/* state of (addr, type); CM_STATE_NONE if no record */
static cm_state
state_of(cm_index *idx, const char *addr, const char *type, cm_record *out)
{
	cm_entry *e = NULL;
	cm_status st = cm_index_get(idx, addr, &e);
	cm_state s = CM_STATE_NONE;

	if (st == CM_NOTFOUND)
		return CM_STATE_NONE;
	assert_int_equal(st, CM_OK);
	assert_string_equal(e->addr, addr);
	for (size_t i = 0; i < e->nrecords; i++) {
		if (i > 0)
			assert_true(strcmp(e->records[i - 1].type,
			    e->records[i].type) < 0);
		if (strcmp(e->records[i].type, type) == 0) {
			s = e->records[i].state;
			if (out != NULL)
				*out = e->records[i];
		}
	}
	cm_entry_free(e);
	return s;
}

static bool
objection_of(cm_index *idx, const char *addr)
{
	cm_entry *e = NULL;
	bool o;

	if (cm_index_get(idx, addr, &e) != CM_OK)
		return false;
	o = e->objection;
	cm_entry_free(e);
	return o;
}

/* ------------------------------------------------------------------ */

static void
test_open_reopen(void **state)
{
	char *dir = cmt_mkdtemp(), *d1, *d2;
	cm_index *idx = NULL;
	cm_index_opts o = { 0 };
	const char *addrs[] = { "a@example.org" };
	struct stat sb;
	char *kp;

	(void)state;
	assert_int_equal(cm_index_open(dir, NULL, &idx), CM_NOTFOUND);
	assert_null(idx);
	o.readonly = true;
	assert_int_equal(cm_index_open(dir, &o, &idx), CM_NOTFOUND);
	assert_int_equal(cm_index_open("/nonexistent/x", NULL, &idx),
	    CM_NOTFOUND);

	idx = cmt_open(dir, 0);
	assert_int_equal(cmt_grant(idx, "a@example.org", "news",
	    CM_STATE_GRANTED, T0), CM_OK);
	d1 = cmt_dump(idx, addrs, 1);
	cm_index_close(idx);

	/* key file: 32 octets, 0600 */
	assert_true(asprintf(&kp, "%s/erasure.key", dir) > 0);
	assert_int_equal(stat(kp, &sb), 0);
	assert_int_equal(sb.st_size, 32);
	assert_int_equal(sb.st_mode & 0777, 0600);
	free(kp);

	assert_int_equal(cm_index_open(dir, NULL, &idx), CM_OK);
	d2 = cmt_dump(idx, addrs, 1);
	assert_string_equal(d1, d2);
	assert_int_equal(state_of(idx, "a@example.org", "news", NULL),
	    CM_STATE_GRANTED);
	cm_index_close(idx);

	/* read-only: reads work, writes are refused */
	o.readonly = true;
	assert_int_equal(cm_index_open(dir, &o, &idx), CM_OK);
	assert_int_equal(state_of(idx, "a@example.org", "news", NULL),
	    CM_STATE_GRANTED);
	assert_int_equal(cmt_grant(idx, "b@example.org", "news",
	    CM_STATE_GRANTED, T0), CM_EPERM);
	cm_index_close(idx);
	free(d1);
	free(d2);
	cmt_rmdir(dir);
}

/* Overwrite meta "format" with VERSION using LMDB directly. */
static void
set_format(const char *dir, uint32_t version)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 6, "format" }, v = { 4, &version };

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
test_format_version(void **state)
{
	char *dir = cmt_mkdtemp(), *kp;
	cm_index *idx = cmt_open(dir, 0);
	unsigned char key[32];
	int fd;

	(void)state;
	cm_index_close(idx);
	idx = NULL;
	set_format(dir, 3);
	assert_int_equal(cm_index_open(dir, NULL, &idx), CM_EFORMAT);
	assert_null(idx);
	/* format 1: keys of the older address normalization, to be
	 * re-keyed first (test_migrate.c) */
	set_format(dir, 1);
	assert_int_equal(cm_index_open(dir, NULL, &idx), CM_EUPGRADE);
	assert_null(idx);
	set_format(dir, 2);
	assert_int_equal(cm_index_open(dir, NULL, &idx), CM_OK);
	cm_index_close(idx);

	/* another erasure key: refused, not silently misread */
	assert_true(asprintf(&kp, "%s/erasure.key", dir) > 0);
	fd = open(kp, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	memset(key, 7, sizeof(key));
	assert_int_equal(write(fd, key, sizeof(key)), (ssize_t)sizeof(key));
	close(fd);
	idx = NULL;
	assert_int_equal(cm_index_open(dir, NULL, &idx), CM_EFORMAT);
	/* missing key file */
	unlink(kp);
	assert_int_equal(cm_index_open(dir, NULL, &idx), CM_EFORMAT);
	free(kp);
	cmt_rmdir(dir);
}

/*
 * State transitions of one (address, type) record: each step applies
 * an event and checks the status, the record's state, and the last
 * history event written (or that none was written).
 */
typedef struct step {
	cm_event_kind kind;
	cm_state gstate;	/* GRANT: GRANTED / PENDING */
	int64_t at;
	cm_status want;
	cm_state after;
	bool hist;		/* a history event was appended */
	cm_state hold, hnew;	/* its old -> new */
} step;

#define A(k, g, t, w, s, h, o, n) { k, g, T0 + (t), w, s, h, o, n }
static const step transitions[] = {
	/* none -> pending -> granted(confirmed) */
	A(CM_EV_GRANT, CM_STATE_PENDING, 10, CM_OK, CM_STATE_PENDING, true,
	    CM_STATE_NONE, CM_STATE_PENDING),
	A(CM_EV_CONFIRM, 0, 20, CM_OK, CM_STATE_GRANTED, true,
	    CM_STATE_PENDING, CM_STATE_GRANTED),
	/* confirming again at an older time: stale */
	A(CM_EV_CONFIRM, 0, 15, CM_ESTALE, CM_STATE_GRANTED, false, 0, 0),
	A(CM_EV_UPDATE, 0, 25, CM_OK, CM_STATE_GRANTED, true,
	    CM_STATE_GRANTED, CM_STATE_GRANTED),
	/* granted -> withdrawn */
	A(CM_EV_WITHDRAW, 0, 30, CM_OK, CM_STATE_WITHDRAWN, true,
	    CM_STATE_GRANTED, CM_STATE_WITHDRAWN),
	/* duplicate withdrawal at the same time: stale */
	A(CM_EV_WITHDRAW, 0, 30, CM_ESTALE, CM_STATE_WITHDRAWN, false, 0, 0),
	/* an older grant never overrides the withdrawal */
	A(CM_EV_GRANT, CM_STATE_GRANTED, 29, CM_ESTALE, CM_STATE_WITHDRAWN,
	    false, 0, 0),
	/* equal time: the withdrawal wins */
	A(CM_EV_GRANT, CM_STATE_GRANTED, 30, CM_ESTALE, CM_STATE_WITHDRAWN,
	    false, 0, 0),
	/* confirmation never resurrects a withdrawn record */
	A(CM_EV_CONFIRM, 0, 35, CM_ESTALE, CM_STATE_WITHDRAWN, false, 0, 0),
	/* withdrawn -> granted by a newer grant */
	A(CM_EV_GRANT, CM_STATE_GRANTED, 40, CM_OK, CM_STATE_GRANTED, true,
	    CM_STATE_WITHDRAWN, CM_STATE_GRANTED),
	/* granted -> granted (renewal) */
	A(CM_EV_GRANT, CM_STATE_GRANTED, 50, CM_OK, CM_STATE_GRANTED, true,
	    CM_STATE_GRANTED, CM_STATE_GRANTED),
	/* granted -> pending (signed up again under double opt-in) */
	A(CM_EV_GRANT, CM_STATE_PENDING, 60, CM_OK, CM_STATE_PENDING, true,
	    CM_STATE_GRANTED, CM_STATE_PENDING),
	/* pending -> withdrawn */
	A(CM_EV_WITHDRAW, 0, 70, CM_OK, CM_STATE_WITHDRAWN, true,
	    CM_STATE_PENDING, CM_STATE_WITHDRAWN),
	/* withdrawn -> pending -> (object) withdrawn */
	A(CM_EV_GRANT, CM_STATE_PENDING, 80, CM_OK, CM_STATE_PENDING, true,
	    CM_STATE_WITHDRAWN, CM_STATE_PENDING),
	A(CM_EV_OBJECT, 0, 90, CM_OK, CM_STATE_WITHDRAWN, true,
	    CM_STATE_PENDING, CM_STATE_WITHDRAWN),
	/* a grant older than the objection is stale */
	A(CM_EV_GRANT, CM_STATE_GRANTED, 85, CM_ESTALE, CM_STATE_WITHDRAWN,
	    false, 0, 0),
	/* a newer one lifts it */
	A(CM_EV_GRANT, CM_STATE_GRANTED, 100, CM_OK, CM_STATE_GRANTED, true,
	    CM_STATE_WITHDRAWN, CM_STATE_GRANTED),
};

static void
test_transitions(void **state)
{
	fx *f = *state;
	const char *addr = "t@example.org";
	size_t nhist = 0;

	for (size_t i = 0; i < NELEM(transitions); i++) {
		const step *s = &transitions[i];
		cm_event ev = { 0 };
		cm_status st;
		hlist h;

		ev.kind = s->kind;
		ev.addr = addr;
		ev.type = "news";
		ev.state = s->gstate;
		ev.at_us = s->at;
		ev.source = "step";
		st = cm_index_apply(f->idx, &ev);
		if (st != s->want)
			fail_msg("step %zu: status %s, want %s", i,
			    cm_strerror(st), cm_strerror(s->want));
		if (state_of(f->idx, addr, "news", NULL) != s->after)
			fail_msg("step %zu: state %s, want %s", i,
			    cm_state_name(state_of(f->idx, addr, "news",
			    NULL)), cm_state_name(s->after));
		h = history(f->idx, addr);
		if (!s->hist) {
			assert_int_equal(h.n, nhist);
			continue;
		}
		assert_true(h.n > nhist);
		/* the record's own event is the last with type "news" */
		for (size_t j = h.n; j-- > nhist;) {
			if (strcmp(h.ev[j].type, "news") != 0)
				continue;
			if (h.ev[j].kind != s->kind ||
			    h.ev[j].old_state != s->hold ||
			    h.ev[j].new_state != s->hnew ||
			    h.ev[j].at != s->at)
				fail_msg("step %zu: history %s %s->%s", i,
				    cm_event_kind_name(h.ev[j].kind),
				    cm_state_name(h.ev[j].old_state),
				    cm_state_name(h.ev[j].new_state));
			break;
		}
		nhist = h.n;
	}
}

/* Events E1 and E2 in both orders give the same records. */
typedef struct order_case {
	cm_event_kind k1;
	int64_t t1;
	cm_event_kind k2;
	int64_t t2;
	cm_state want;
} order_case;

static const order_case orders[] = {
	{ CM_EV_GRANT, 1, CM_EV_WITHDRAW, 2, CM_STATE_WITHDRAWN },
	{ CM_EV_GRANT, 2, CM_EV_WITHDRAW, 1, CM_STATE_GRANTED },
	{ CM_EV_GRANT, 1, CM_EV_WITHDRAW, 1, CM_STATE_WITHDRAWN },
	{ CM_EV_GRANT, 1, CM_EV_OBJECT, 2, CM_STATE_WITHDRAWN },
	{ CM_EV_GRANT, 2, CM_EV_OBJECT, 1, CM_STATE_GRANTED },
	{ CM_EV_GRANT, 1, CM_EV_OBJECT, 1, CM_STATE_WITHDRAWN },
	{ CM_EV_WITHDRAW, 1, CM_EV_WITHDRAW, 2, CM_STATE_WITHDRAWN },
	{ CM_EV_GRANT, 1, CM_EV_GRANT, 2, CM_STATE_GRANTED },
};

static void
apply_simple(cm_index *idx, const char *addr, cm_event_kind k, int64_t at)
{
	cm_status st = cmt_ev(idx, k, addr, "news", T0 + at);

	if (k == CM_EV_GRANT && st != CM_ESTALE) {
		/* cmt_ev leaves state 0, which means GRANTED */
	}
	assert_true(st == CM_OK || st == CM_ESTALE);
}

static void
test_newer_wins(void **state)
{
	fx *f = *state;

	for (size_t i = 0; i < NELEM(orders); i++) {
		const order_case *c = &orders[i];
		char a1[64], a2[64];
		cm_record r1, r2;

		snprintf(a1, sizeof(a1), "fwd%zu@example.org", i);
		snprintf(a2, sizeof(a2), "rev%zu@example.org", i);
		apply_simple(f->idx, a1, c->k1, c->t1);
		apply_simple(f->idx, a1, c->k2, c->t2);
		apply_simple(f->idx, a2, c->k2, c->t2);
		apply_simple(f->idx, a2, c->k1, c->t1);
		if (state_of(f->idx, a1, "news", &r1) != c->want ||
		    state_of(f->idx, a2, "news", &r2) != c->want)
			fail_msg("case %zu: %s / %s, want %s", i,
			    cm_state_name(state_of(f->idx, a1, "news", NULL)),
			    cm_state_name(state_of(f->idx, a2, "news", NULL)),
			    cm_state_name(c->want));
		/* the outcome and the time of the event in force agree;
		 * granted/withdrawn times record what was applied */
		assert_int_equal(r1.updated_us, r2.updated_us);
		assert_int_equal(objection_of(f->idx, a1),
		    objection_of(f->idx, a2));
	}
}

static void
test_objection(void **state)
{
	fx *f = *state;
	const char *a = "o@example.org";
	hlist h;
	size_t n0;

	assert_int_equal(cmt_grant(f->idx, a, "news", CM_STATE_GRANTED,
	    T0 + 1), CM_OK);
	assert_int_equal(cmt_grant(f->idx, a, "offers", CM_STATE_PENDING,
	    T0 + 2), CM_OK);
	/* a record newer than the objection is left alone */
	assert_int_equal(cmt_grant(f->idx, a, "later", CM_STATE_GRANTED,
	    T0 + 20), CM_OK);
	n0 = history(f->idx, a).n;
	assert_int_equal(cmt_ev(f->idx, CM_EV_OBJECT, a, NULL, T0 + 10),
	    CM_OK);
	assert_int_equal(state_of(f->idx, a, "news", NULL),
	    CM_STATE_WITHDRAWN);
	assert_int_equal(state_of(f->idx, a, "offers", NULL),
	    CM_STATE_WITHDRAWN);
	assert_int_equal(state_of(f->idx, a, "later", NULL),
	    CM_STATE_GRANTED);
	/* the objection is recorded (the grant at +20, newer, lifts it
	 * for its own type only) */
	assert_true(objection_of(f->idx, a));
	h = history(f->idx, a);
	/* one address-wide event, one per withdrawn record */
	assert_int_equal(h.n, n0 + 3);
	assert_int_equal(h.ev[n0].kind, CM_EV_OBJECT);
	assert_string_equal(h.ev[n0].type, "");
	assert_int_equal(h.ev[n0].old_state, CM_STATE_NONE);
	assert_int_equal(h.ev[n0].new_state, CM_STATE_WITHDRAWN);
	assert_int_equal(h.ev[n0 + 1].kind, CM_EV_OBJECT);
	assert_string_equal(h.ev[n0 + 1].type, "news");
	assert_int_equal(h.ev[n0 + 1].old_state, CM_STATE_GRANTED);
	assert_int_equal(h.ev[n0 + 2].old_state, CM_STATE_PENDING);
	assert_int_equal(h.ev[n0 + 2].new_state, CM_STATE_WITHDRAWN);

	/* a newer objection is in force */
	assert_int_equal(cmt_ev(f->idx, CM_EV_OBJECT, a, NULL, T0 + 30),
	    CM_OK);
	assert_true(objection_of(f->idx, a));
	assert_int_equal(state_of(f->idx, a, "later", NULL),
	    CM_STATE_WITHDRAWN);
	/* older or equal objection: stale */
	assert_int_equal(cmt_ev(f->idx, CM_EV_OBJECT, a, NULL, T0 + 30),
	    CM_ESTALE);
	assert_int_equal(cmt_ev(f->idx, CM_EV_OBJECT, a, NULL, T0 + 5),
	    CM_ESTALE);
	/* a grant at the objection's time, newer than the record: the
	 * objection withdraws it (as if it had arrived first) */
	assert_int_equal(cmt_grant(f->idx, a, "news", CM_STATE_GRANTED,
	    T0 + 30), CM_OK);
	assert_int_equal(state_of(f->idx, a, "news", NULL),
	    CM_STATE_WITHDRAWN);
	assert_true(objection_of(f->idx, a));
	/* and again: now stale */
	assert_int_equal(cmt_grant(f->idx, a, "news", CM_STATE_GRANTED,
	    T0 + 30), CM_ESTALE);
	/* a newer grant lifts the objection for its type only: the
	 * objection stays recorded, the history holds the grant alone */
	n0 = history(f->idx, a).n;
	assert_int_equal(cmt_grant(f->idx, a, "news", CM_STATE_GRANTED,
	    T0 + 40), CM_OK);
	assert_true(objection_of(f->idx, a));
	assert_int_equal(state_of(f->idx, a, "news", NULL),
	    CM_STATE_GRANTED);
	assert_int_equal(state_of(f->idx, a, "offers", NULL),
	    CM_STATE_WITHDRAWN);
	h = history(f->idx, a);
	assert_int_equal(h.n, n0 + 1);
	assert_int_equal(h.ev[n0].kind, CM_EV_GRANT);
	assert_string_equal(h.ev[n0].type, "news");
	assert_int_equal(h.ev[n0].old_state, CM_STATE_WITHDRAWN);
	assert_int_equal(h.ev[n0].new_state, CM_STATE_GRANTED);

	/* objection of an address without records creates an entry */
	assert_int_equal(cmt_ev(f->idx, CM_EV_OBJECT, "new@example.org", NULL,
	    T0), CM_OK);
	assert_true(objection_of(f->idx, "new@example.org"));
}

static bool
file_contains(const char *dir, const char *needle)
{
	char *p;
	FILE *fp;
	char *buf;
	long n;
	bool found;

	assert_true(asprintf(&p, "%s/data.mdb", dir) > 0);
	fp = fopen(p, "rb");
	free(p);
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n > 0);
	rewind(fp);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	found = memmem(buf, (size_t)n, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

static void
test_erase(void **state)
{
	fx *f = *state;
	const char *a = "erase.me@example.org";
	const char *ev_text = "form=secret-evidence-42";
	cm_type_policy tp = { "news", CM_REQ_OPT_IN, 0 };
	cm_addr ad = cmt_addr(a);
	cm_decision d;
	cm_entry *e = NULL;
	hlist h;
	char addr[64];

	/* neighbours, so that pages are shared and split */
	for (int i = 0; i < 300; i++) {
		snprintf(addr, sizeof(addr), "n%03d@example.org", i);
		assert_int_equal(cmt_grant(f->idx, addr, "news",
		    CM_STATE_GRANTED, T0 + i), CM_OK);
	}
	for (int i = 0; i < 5; i++) {
		cm_event ev = { 0 };

		ev.kind = i % 2 ? CM_EV_WITHDRAW : CM_EV_GRANT;
		ev.addr = a;
		ev.type = i < 2 ? "news" : "offers";
		ev.at_us = T0 + 1000 + i;
		ev.evidence = ev_text;
		assert_int_equal(cm_index_apply(f->idx, &ev), CM_OK);
	}
	assert_int_equal(cm_decide(f->idx, &tp, &ad, T0 + 2000, &d), CM_OK);
	assert_true(file_contains(f->dir, a));
	assert_true(file_contains(f->dir, ev_text));

	assert_int_equal(cmt_ev(f->idx, CM_EV_ERASE, a, NULL, T0 + 3000),
	    CM_OK);
	assert_false(file_contains(f->dir, a));
	assert_false(file_contains(f->dir, ev_text));
	assert_int_equal(cm_index_get(f->idx, a, &e), CM_NOTFOUND);
	h = history(f->idx, a);
	assert_int_equal(h.n, 0);
	assert_int_equal(cm_index_is_erased(f->idx, a), CM_OK);
	assert_int_equal(cm_index_is_erased(f->idx, "n001@example.org"),
	    CM_NOTFOUND);
	assert_int_equal(cm_decide(f->idx, &tp, &ad, T0 + 4000, &d), CM_OK);
	assert_int_equal(d.verdict, CM_DENY);
	assert_int_equal(d.reason, CM_REASON_SUPPRESSED);
	/* neighbours are intact */
	assert_int_equal(state_of(f->idx, "n150@example.org", "news", NULL),
	    CM_STATE_GRANTED);

	/* an older grant (re-import) stays stale; so does a withdrawal */
	assert_int_equal(cmt_grant(f->idx, a, "news", CM_STATE_GRANTED,
	    T0 + 1000), CM_ESTALE);
	assert_int_equal(cmt_ev(f->idx, CM_EV_WITHDRAW, a, "news", T0 + 5000),
	    CM_ESTALE);
	assert_false(file_contains(f->dir, a));
	/* a newer grant: the person opted in again */
	assert_int_equal(cmt_grant(f->idx, a, "news", CM_STATE_GRANTED,
	    T0 + 6000), CM_OK);
	assert_int_equal(cm_index_is_erased(f->idx, a), CM_NOTFOUND);
	assert_int_equal(cm_decide(f->idx, &tp, &ad, T0 + 7000, &d), CM_OK);
	assert_int_equal(d.verdict, CM_ALLOW);
	/* erasing twice keeps one tombstone */
	assert_int_equal(cmt_ev(f->idx, CM_EV_ERASE, a, NULL, T0 + 8000),
	    CM_OK);
	assert_int_equal(cmt_ev(f->idx, CM_EV_ERASE, a, NULL, T0 + 9000),
	    CM_OK);
	{
		cm_index_stats st;

		assert_int_equal(cm_index_stats_get(f->idx, &st), CM_OK);
		assert_int_equal(st.tombstones, 1);
		assert_int_equal(st.addresses, 300);
	}
	assert_false(file_contains(f->dir, a));
}

/* A bulk erasure (more strings than are searched one by one). */
static void
test_bulk_erase(void **state)
{
	fx *f = *state;
	cm_batch *b;
	cm_batch_result r;
	char a[64], e[64];

	assert_int_equal(cm_batch_new(&b), CM_OK);
	for (int i = 0; i < 400; i++) {
		cm_event ev = { 0 };

		snprintf(a, sizeof(a), "bulk%03d@example.org", i);
		snprintf(e, sizeof(e), "evidence-of-bulk%03d", i);
		ev.kind = CM_EV_GRANT;
		ev.addr = a;
		ev.type = "news";
		ev.at_us = T0 + i;
		ev.evidence = e;
		assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	}
	assert_int_equal(cm_index_apply_batch(f->idx, b, &r), CM_OK);
	cm_batch_clear(b);
	for (int i = 0; i < 400; i += 5) {
		cm_event ev = { 0 };

		snprintf(a, sizeof(a), "bulk%03d@example.org", i);
		ev.kind = CM_EV_ERASE;
		ev.addr = a;
		ev.at_us = T0 + 1000;
		assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	}
	assert_int_equal(cm_index_apply_batch(f->idx, b, &r), CM_OK);
	assert_int_equal(r.applied, 80);
	cm_batch_free(b);
	for (int i = 0; i < 400; i++) {
		snprintf(a, sizeof(a), "bulk%03d@example.org", i);
		snprintf(e, sizeof(e), "evidence-of-bulk%03d", i);
		if (i % 5 == 0) {
			if (file_contains(f->dir, a) ||
			    file_contains(f->dir, e))
				fail_msg("%s left in data.mdb", a);
			assert_int_equal(cm_index_is_erased(f->idx, a), CM_OK);
		} else {
			assert_true(file_contains(f->dir, a));
			assert_int_equal(state_of(f->idx, a, "news", NULL),
			    CM_STATE_GRANTED);
		}
	}
}

static void
test_batch_rollback(void **state)
{
	fx *f = *state;
	const char *addrs[] = { "b1@example.org", "b2@example.org",
	    "b3@example.org", "zz@example.org" };
	cm_batch *b;
	cm_batch_result r;
	cm_event ev = { 0 };
	char *before, *after;

	assert_int_equal(cmt_grant(f->idx, addrs[0], "news", CM_STATE_GRANTED,
	    T0), CM_OK);
	assert_int_equal(cmt_ev(f->idx, CM_EV_SUPPRESS_DOMAIN, "spam.example",
	    NULL, T0), CM_OK);
	before = cmt_dump(f->idx, addrs, NELEM(addrs));

	assert_int_equal(cm_batch_new(&b), CM_OK);
	ev.kind = CM_EV_GRANT;
	ev.type = "news";
	ev.at_us = T0 + 10;
	ev.addr = addrs[1];
	assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	ev.kind = CM_EV_WITHDRAW;
	ev.addr = addrs[0];
	assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	ev.kind = CM_EV_ERASE;
	ev.addr = addrs[2];
	assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	ev.kind = CM_EV_UNSUPPRESS_DOMAIN;
	ev.addr = "spam.example";
	assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	/* invalid events are refused when added */
	ev.kind = CM_EV_GRANT;
	ev.addr = addrs[3];
	ev.type = "Bad Type";
	assert_int_equal(cm_batch_add(b, &ev), CM_EINVAL);
	assert_int_equal(cm_batch_count(b), 4);
	/* valid but failing on apply: confirm without a record (pos 4) */
	ev.kind = CM_EV_CONFIRM;
	ev.type = "news";
	assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	ev.kind = CM_EV_GRANT;
	ev.addr = "b4@example.org";
	assert_int_equal(cm_batch_add(b, &ev), CM_OK);

	assert_int_equal(cm_index_apply_batch(f->idx, b, &r), CM_NOTFOUND);
	assert_int_equal(r.failed_at, 4);
	after = cmt_dump(f->idx, addrs, NELEM(addrs));
	assert_string_equal(before, after);
	free(after);

	/* replay without the bad event: everything applies */
	cm_batch_clear(b);
	assert_int_equal(cm_batch_count(b), 0);
	ev.kind = CM_EV_GRANT;
	ev.addr = addrs[1];
	assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	assert_int_equal(cm_batch_add(b, &ev), CM_OK);	/* duplicate: stale */
	ev.kind = CM_EV_CONFIRM;
	ev.at_us = T0 + 11;
	assert_int_equal(cm_batch_add(b, &ev), CM_OK);	/* same address, later */
	assert_int_equal(cm_index_apply_batch(f->idx, b, &r), CM_OK);
	assert_int_equal(r.applied, 2);
	assert_int_equal(r.stale, 1);
	{
		cm_record rec;

		assert_int_equal(state_of(f->idx, addrs[1], "news", &rec),
		    CM_STATE_GRANTED);
		assert_int_equal(rec.confirmed_us, T0 + 11);
	}
	cm_batch_free(b);
	free(before);
}

static void
test_map_growth(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 64 * 1024);
	size_t n = cmt_quick() ? 10000 : 100000, per = 1000;
	cm_batch *b;
	cm_batch_result r;
	cm_index_stats st;
	char addr[64];

	(void)state;
	assert_int_equal(cm_index_stats_get(idx, &st), CM_OK);
	assert_int_equal(st.map_size, 64 * 1024);
	/* single events: each transaction hits MDB_MAP_FULL when the map
	 * is full, grows it and is replayed */
	for (size_t j = 0; j < 400; j++) {
		snprintf(addr, sizeof(addr), "single%zu@example.org", j);
		assert_int_equal(cmt_grant(idx, addr, "news",
		    CM_STATE_GRANTED, T0), CM_OK);
	}
	assert_int_equal(cm_index_stats_get(idx, &st), CM_OK);
	assert_true(st.map_size > 64 * 1024);
	assert_int_equal(st.records, 400);
	/* batches: the map is grown ahead of a big batch */
	assert_int_equal(cm_batch_new(&b), CM_OK);
	for (size_t i = 0; i < n; i += per) {
		cm_batch_clear(b);
		for (size_t j = i; j < i + per; j++) {
			cm_event ev = { 0 };

			snprintf(addr, sizeof(addr), "user%zu@example.org", j);
			ev.kind = CM_EV_GRANT;
			ev.addr = addr;
			ev.type = j % 3 ? "news" : "offers";
			ev.at_us = T0 + (int64_t)j;
			ev.source = "import";
			ev.evidence = "file=crm.csv";
			assert_int_equal(cm_batch_add(b, &ev), CM_OK);
		}
		assert_int_equal(cm_index_apply_batch(idx, b, &r), CM_OK);
		assert_int_equal(r.applied, per);
	}
	cm_batch_free(b);
	assert_int_equal(cm_index_stats_get(idx, &st), CM_OK);
	assert_int_equal(st.records, n + 400);
	assert_int_equal(st.history_events, n + 400);
	assert_true(st.map_size > 64 * 1024);
	assert_true(st.map_used <= st.map_size);
	cm_index_close(idx);
	/* reopen: everything is there */
	idx = cmt_open(dir, 0);
	for (size_t j = 0; j < n; j += n / 10) {
		snprintf(addr, sizeof(addr), "user%zu@example.org", j);
		assert_int_equal(state_of(idx, addr, j % 3 ? "news" : "offers",
		    NULL), CM_STATE_GRANTED);
	}
	cm_index_close(idx);
	cmt_rmdir(dir);
}

/* Add N grants "PREFIXi@example.org" (type news, at T0 + i) to B. */
static void
add_grants(cm_batch *b, const char *prefix, size_t from, size_t n)
{
	char addr[64];

	for (size_t i = from; i < from + n; i++) {
		cm_event ev = { 0 };

		snprintf(addr, sizeof(addr), "%s%zu@example.org", prefix, i);
		ev.kind = CM_EV_GRANT;
		ev.addr = addr;
		ev.type = "news";
		ev.at_us = T0 + (int64_t)i;
		ev.source = "import";
		ev.evidence = "file=crm.csv";
		assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	}
}

/* cm_batch_sort ahead of applying: the order is for one index only and
 * is redone after the batch changes. */
static void
test_batch_sort(void **state)
{
	fx *f = *state;
	char *dir2 = cmt_mkdtemp();
	cm_index *other = cmt_open(dir2, 0);
	cm_batch *b;
	cm_batch_result r;

	assert_int_equal(cm_batch_new(&b), CM_OK);
	assert_int_equal(cm_batch_sort(f->idx, b), CM_OK);	/* empty */
	add_grants(b, "s", 0, 100);
	assert_int_equal(cm_batch_sort(f->idx, b), CM_OK);
	add_grants(b, "s", 100, 50);	/* after sorting: sorted again */
	assert_int_equal(cm_index_apply_batch(f->idx, b, &r), CM_OK);
	assert_int_equal(r.applied, 150);
	assert_int_equal(state_of(f->idx, "s149@example.org", "news", NULL),
	    CM_STATE_GRANTED);
	/* sorted for one index (its own keyed hash), applied to another */
	assert_int_equal(cm_index_apply_batch(other, b, &r), CM_OK);
	assert_int_equal(r.applied, 150);
	for (int i = 0; i < 150; i += 7) {
		char a[64];

		snprintf(a, sizeof(a), "s%d@example.org", i);
		assert_int_equal(state_of(other, a, "news", NULL),
		    CM_STATE_GRANTED);
	}
	assert_int_equal(cm_batch_sort(NULL, b), CM_EINVAL);
	/* a type where none is used (an objection) is ignored, whatever
	 * its length */
	{
		char longtype[200];
		cm_event ev = { 0 };

		memset(longtype, 'x', sizeof(longtype) - 1);
		longtype[sizeof(longtype) - 1] = '\0';
		cm_batch_clear(b);
		ev.kind = CM_EV_OBJECT;
		ev.addr = "s7@example.org";
		ev.type = longtype;
		ev.at_us = T0 + 1000;
		assert_int_equal(cm_batch_add(b, &ev), CM_OK);
		assert_int_equal(cm_index_apply_batch(f->idx, b, &r), CM_OK);
		assert_int_equal(r.applied, 1);
		assert_true(objection_of(f->idx, "s7@example.org"));
	}
	cm_batch_free(b);
	cm_index_close(other);
	cmt_rmdir(dir2);
}

/* Imports: batches in one transaction, visible only at commit. */
static void
test_import(void **state)
{
	fx *f = *state;
	const char *a0 = "old@example.org";
	cm_import *im;
	cm_batch *b;
	cm_batch_result r;
	cm_event ev = { 0 };
	cm_index_stats st;
	hlist h;

	assert_int_equal(cmt_grant(f->idx, a0, "news", CM_STATE_GRANTED, T0),
	    CM_OK);
	assert_int_equal(cm_batch_new(&b), CM_OK);
	assert_int_equal(cm_index_import_begin(f->idx, 1 << 20, &im), CM_OK);
	add_grants(b, "imp", 0, 200);
	assert_int_equal(cm_import_apply(im, b, &r), CM_OK);
	assert_int_equal(r.applied, 200);
	assert_int_equal(r.stale, 0);
	/* not visible before the commit, not even to this process */
	assert_int_equal(state_of(f->idx, "imp7@example.org", "news", NULL),
	    CM_STATE_NONE);
	/* the batch is free for the next rows */
	cm_batch_clear(b);
	ev.kind = CM_EV_WITHDRAW;
	ev.addr = a0;
	ev.type = "news";
	ev.at_us = T0 + 5;
	assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	add_grants(b, "imp", 7, 1);	/* same time as before: stale */
	add_grants(b, "imp", 200, 100);
	assert_int_equal(cm_import_apply(im, b, &r), CM_OK);
	assert_int_equal(r.applied, 101);
	assert_int_equal(r.stale, 1);
	assert_int_equal(state_of(f->idx, a0, "news", NULL), CM_STATE_GRANTED);
	assert_int_equal(cm_import_commit(im), CM_OK);

	assert_int_equal(state_of(f->idx, a0, "news", NULL),
	    CM_STATE_WITHDRAWN);
	assert_int_equal(state_of(f->idx, "imp7@example.org", "news", NULL),
	    CM_STATE_GRANTED);
	assert_int_equal(state_of(f->idx, "imp299@example.org", "news", NULL),
	    CM_STATE_GRANTED);
	h = history(f->idx, "imp7@example.org");
	assert_int_equal(h.n, 1);
	h = history(f->idx, a0);
	assert_int_equal(h.n, 2);
	assert_int_equal(cm_index_stats_get(f->idx, &st), CM_OK);
	assert_int_equal(st.records, 301);
	assert_int_equal(st.history_events, 302);
	/* the history sequence went on from where the import left it */
	assert_int_equal(cmt_grant(f->idx, "after@example.org", "news",
	    CM_STATE_GRANTED, T0), CM_OK);
	h = history(f->idx, "after@example.org");
	assert_int_equal(h.n, 1);
	assert_int_equal(h.ev[0].seq, 303);	/* 302 events, from 1 */
	cm_batch_free(b);
}

/* A failing or abandoned import changes nothing and frees the lock. */
static void
test_import_rollback(void **state)
{
	fx *f = *state;
	const char *addrs[] = { "keep@example.org", "imp3@example.org",
	    "late@example.org" };
	cm_import *im;
	cm_batch *b;
	cm_batch_result r;
	cm_event ev = { 0 };
	char *before, *after;

	assert_int_equal(cmt_grant(f->idx, addrs[0], "news", CM_STATE_GRANTED,
	    T0), CM_OK);
	before = cmt_dump(f->idx, addrs, NELEM(addrs));
	assert_int_equal(cm_batch_new(&b), CM_OK);

	/* abandoned after a good batch */
	assert_int_equal(cm_index_import_begin(f->idx, 0, &im), CM_OK);
	add_grants(b, "imp", 0, 50);
	assert_int_equal(cm_import_apply(im, b, &r), CM_OK);
	assert_int_equal(r.applied, 50);
	cm_import_abort(im);
	after = cmt_dump(f->idx, addrs, NELEM(addrs));
	assert_string_equal(before, after);
	free(after);

	/* a good batch, then one failing at its event 3 */
	assert_int_equal(cm_index_import_begin(f->idx, 0, &im), CM_OK);
	assert_int_equal(cm_import_apply(im, b, &r), CM_OK);
	cm_batch_clear(b);
	add_grants(b, "late", 0, 3);
	ev.kind = CM_EV_CONFIRM;	/* no such record */
	ev.addr = addrs[2];
	ev.type = "news";
	ev.at_us = T0;
	assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	add_grants(b, "late", 3, 3);
	assert_int_equal(cm_import_apply(im, b, &r), CM_NOTFOUND);
	assert_int_equal(r.failed_at, 3);
	/* the import is over: nothing more is applied or committed */
	assert_int_equal(cm_import_apply(im, b, &r), CM_EINVAL);
	assert_int_equal(cm_import_commit(im), CM_EINVAL);
	after = cmt_dump(f->idx, addrs, NELEM(addrs));
	assert_string_equal(before, after);
	free(after);

	/* the writer lock was released: single changes and imports go on */
	assert_int_equal(cmt_grant(f->idx, addrs[2], "news", CM_STATE_GRANTED,
	    T0), CM_OK);
	assert_int_equal(cm_index_import_begin(f->idx, 0, &im), CM_OK);
	cm_import_abort(im);
	assert_int_equal(cm_index_import_begin(NULL, 0, &im), CM_EINVAL);
	assert_int_equal(cm_import_apply(NULL, b, &r), CM_EINVAL);
	assert_int_equal(cm_import_commit(NULL), CM_EINVAL);
	cm_import_abort(NULL);
	cm_batch_free(b);
	free(before);
}

/* An import that fills the map ends with CM_EFULL and a grown map; begun
 * again it succeeds.  A reserve makes room up front. */
static void
test_import_full(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 64 * 1024);
	cm_index_stats st;
	cm_import *im;
	cm_batch *b;
	cm_batch_result r;
	int full = 0, tries;
	cm_status s = CM_OK;

	(void)state;
	assert_int_equal(cm_batch_new(&b), CM_OK);
	for (tries = 0; tries < 20; tries++) {
		assert_int_equal(cm_index_import_begin(idx, 0, &im), CM_OK);
		for (size_t i = 0; i < 3000; i += 1000) {
			cm_batch_clear(b);
			add_grants(b, "u", i, 1000);
			if ((s = cm_import_apply(im, b, &r)) != CM_OK)
				break;
		}
		if (s == CM_OK) {
			/* the commit itself may need more room */
			if ((s = cm_import_commit(im)) == CM_OK)
				break;
		} else {
			cm_import_abort(im);
		}
		assert_int_equal(s, CM_EFULL);
		{
			cm_index_error e;

			/* LMDB's code beside the status */
			cm_index_error_get(idx, &e);
			assert_int_equal(e.lmdb_rc, MDB_MAP_FULL);
			assert_non_null(strstr(e.text, "map full"));
		}
		full++;
		/* nothing of the failed attempt is there */
		assert_int_equal(cm_index_stats_get(idx, &st), CM_OK);
		assert_int_equal(st.records, 0);
	}
	assert_true(full >= 1);
	assert_true(tries < 20);
	assert_int_equal(cm_index_stats_get(idx, &st), CM_OK);
	assert_int_equal(st.records, 3000);
	assert_int_equal(st.history_events, 3000);
	cm_index_close(idx);
	cmt_rmdir(dir);

	/* with a reserve, the first attempt fits */
	dir = cmt_mkdtemp();
	idx = cmt_open(dir, 64 * 1024);
	assert_int_equal(cm_index_import_begin(idx, 8 << 20, &im), CM_OK);
	assert_int_equal(cm_index_stats_get(idx, &st), CM_OK);
	assert_true(st.map_size >= 8 << 20);
	for (size_t i = 0; i < 3000; i += 1000) {
		cm_batch_clear(b);
		add_grants(b, "u", i, 1000);
		assert_int_equal(cm_import_apply(im, b, &r), CM_OK);
	}
	assert_int_equal(cm_import_commit(im), CM_OK);
	assert_int_equal(cm_index_stats_get(idx, &st), CM_OK);
	assert_int_equal(st.records, 3000);
	cm_batch_free(b);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

/* An index written in bulk mode (writable map) is an ordinary index for
 * everyone else, and erasure still leaves no trace in its (sparse) file. */
static void
test_bulk_mode(void **state)
{
	char *dir = cmt_mkdtemp();
	const char *gone = "gone42@example.org";
	cm_index_opts o = { 0 };
	cm_type_policy tp = { "news", CM_REQ_OPT_IN, 0 };
	cm_addr ad = cmt_addr("u7@example.org");
	cm_decision d;
	cm_index *idx = NULL;
	cm_import *im;
	cm_batch *b;
	cm_batch_result r;
	cm_index_stats st;
	struct stat sb;
	char *path;

	(void)state;
	o.create = true;
	o.bulk = true;
	assert_int_equal(cm_index_open(dir, &o, &idx), CM_OK);
	assert_int_equal(cm_batch_new(&b), CM_OK);
	assert_int_equal(cm_index_import_begin(idx, 0, &im), CM_OK);
	add_grants(b, "u", 0, 2000);
	add_grants(b, "gone", 42, 1);
	assert_int_equal(cm_import_apply(im, b, &r), CM_OK);
	assert_int_equal(r.applied, 2001);
	assert_int_equal(cm_import_commit(im), CM_OK);
	assert_true(file_contains(dir, gone));
	assert_int_equal(cmt_ev(idx, CM_EV_ERASE, gone, NULL, T0 + 10000),
	    CM_OK);
	assert_false(file_contains(dir, gone));
	assert_int_equal(cm_index_stats_get(idx, &st), CM_OK);
	cm_index_close(idx);
	/* the file is as long as the map */
	assert_true(asprintf(&path, "%s/data.mdb", dir) > 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_true((size_t)sb.st_size >= st.map_size);
	free(path);

	/* opened normally: read and written as any index */
	idx = cmt_open(dir, 0);
	assert_int_equal(state_of(idx, "u1999@example.org", "news", NULL),
	    CM_STATE_GRANTED);
	assert_int_equal(cmt_grant(idx, "new@example.org", "news",
	    CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_ERASE, "u3@example.org", NULL,
	    T0 + 10000), CM_OK);
	assert_false(file_contains(dir, "u3@example.org"));
	cm_index_close(idx);
	o.create = o.bulk = false;
	o.readonly = true;
	assert_int_equal(cm_index_open(dir, &o, &idx), CM_OK);
	assert_int_equal(cm_decide(idx, &tp, &ad, T0 + 20000, &d), CM_OK);
	assert_int_equal(d.verdict, CM_ALLOW);
	ad = cmt_addr(gone);
	assert_int_equal(cm_decide(idx, &tp, &ad, T0 + 20000, &d), CM_OK);
	assert_int_equal(d.reason, CM_REASON_SUPPRESSED);
	cm_index_close(idx);
	cm_batch_free(b);
	cmt_rmdir(dir);
}

static void
test_domains(void **state)
{
	fx *f = *state;
	int64_t since = 0;

	assert_int_equal(cm_index_domain_suppressed(f->idx, "d.example",
	    &since), CM_NOTFOUND);
	/* unsuppress arrives before an older suppress: stays unsuppressed */
	assert_int_equal(cmt_ev(f->idx, CM_EV_UNSUPPRESS_DOMAIN, "d.example",
	    NULL, T0 + 20), CM_OK);
	assert_int_equal(cmt_ev(f->idx, CM_EV_SUPPRESS_DOMAIN, "d.example",
	    NULL, T0 + 10), CM_ESTALE);
	assert_int_equal(cm_index_domain_suppressed(f->idx, "d.example",
	    &since), CM_NOTFOUND);
	assert_int_equal(cmt_ev(f->idx, CM_EV_SUPPRESS_DOMAIN, "d.example",
	    NULL, T0 + 30), CM_OK);
	assert_int_equal(cm_index_domain_suppressed(f->idx, "d.example",
	    &since), CM_OK);
	assert_int_equal(since, T0 + 30);
	/* equal time: suppression wins */
	assert_int_equal(cmt_ev(f->idx, CM_EV_UNSUPPRESS_DOMAIN, "d.example",
	    NULL, T0 + 30), CM_ESTALE);
	assert_int_equal(cmt_ev(f->idx, CM_EV_SUPPRESS_DOMAIN, "e.example",
	    NULL, T0), CM_OK);
	{
		const char *addrs[] = { "d.example" };
		char *dump = cmt_dump(f->idx, addrs, 1);

		assert_non_null(strstr(dump, "D d.example"));
		assert_non_null(strstr(dump, "D e.example"));
		assert_non_null(strstr(dump,
		    "suppress-domain  none->withdrawn"));
		assert_non_null(strstr(dump,
		    "unsuppress-domain  none->none"));
		free(dump);
	}
	/* an address in the domain is not a domain */
	assert_int_equal(cmt_ev(f->idx, CM_EV_SUPPRESS_DOMAIN, "a@d.example",
	    NULL, T0), CM_EINVAL);
}

static void
test_invalid(void **state)
{
	fx *f = *state;
	char longf[CM_FIELD_MAX + 2];
	cm_event ev;

	memset(longf, 'x', sizeof(longf) - 1);
	longf[sizeof(longf) - 1] = '\0';
	struct {
		cm_event_kind kind;
		const char *addr, *type;
		cm_state st;
		int64_t at;
		const char *source;
	} bad[] = {
		{ 0, "a@x.org", "news", 0, 0, NULL },
		{ 99, "a@x.org", "news", 0, 0, NULL },
		{ CM_EV_GRANT, NULL, "news", 0, 0, NULL },
		{ CM_EV_GRANT, "a@x.org", NULL, 0, 0, NULL },
		{ CM_EV_GRANT, "a@x.org", "", 0, 0, NULL },
		{ CM_EV_GRANT, "a@x.org", "News", 0, 0, NULL },
		{ CM_EV_GRANT, "a@x.org", "a b", 0, 0, NULL },
		{ CM_EV_GRANT, "a@x.org",
		    "x2345678901234567890123456789012345678901234567890123456789012345",
		    0, 0, NULL },
		{ CM_EV_GRANT, "a@x.org", "news", CM_STATE_WITHDRAWN, 0, NULL },
		{ CM_EV_GRANT, "a@x.org", "news", 0, -1, NULL },
		{ CM_EV_GRANT, "a@x.org", "news", 0, 0, longf },
		{ CM_EV_GRANT, "no-at", "news", 0, 0, NULL },
		{ CM_EV_CONFIRM, "a@x.org", NULL, 0, 0, NULL },
		{ CM_EV_WITHDRAW, "a@x.org", "x/y", 0, 0, NULL },
		{ CM_EV_UPDATE, "a@x.org", NULL, 0, 0, NULL },
		{ CM_EV_OBJECT, "", NULL, 0, 0, NULL },
		{ CM_EV_SUPPRESS_DOMAIN, "", NULL, 0, 0, NULL },
	};

	for (size_t i = 0; i < NELEM(bad); i++) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = bad[i].kind;
		ev.addr = bad[i].addr;
		ev.type = bad[i].type;
		ev.state = bad[i].st;
		ev.at_us = bad[i].at;
		ev.source = bad[i].source;
		if (cm_index_apply(f->idx, &ev) != CM_EINVAL)
			fail_msg("bad event %zu accepted", i);
	}
	/* 64 octets is fine, exactly CM_FIELD_MAX too */
	longf[CM_FIELD_MAX] = '\0';
	memset(&ev, 0, sizeof(ev));
	ev.kind = CM_EV_GRANT;
	ev.addr = "a@x.org";
	ev.type = "x23456789012345678901234567890123456789012345678901234567890123";
	ev.evidence = longf;
	assert_int_equal(cm_index_apply(f->idx, &ev), CM_OK);
	/* confirm / update without a record */
	assert_int_equal(cmt_ev(f->idx, CM_EV_CONFIRM, "none@x.org", "news",
	    T0), CM_NOTFOUND);
	assert_int_equal(cmt_ev(f->idx, CM_EV_UPDATE, "none@x.org", "news",
	    T0), CM_NOTFOUND);
	assert_int_equal(cm_index_apply(NULL, &ev), CM_EINVAL);
	assert_int_equal(cm_index_apply(f->idx, NULL), CM_EINVAL);
}

static int
count_cb(const char *type, cm_state st, size_t n, void *arg)
{
	char *out = arg;
	size_t l = strlen(out);

	snprintf(out + l, 512 - l, "%s:%s:%zu ", type, cm_state_name(st), n);
	return 0;
}

static void
test_bulk_and_counts(void **state)
{
	fx *f = *state;
	cm_selection sel = { 0 };
	cm_event set = { 0 };
	cm_record rec;
	size_t n = 0;
	char counts[512] = "";
	hlist h;

	for (int i = 0; i < 10; i++) {
		char a[32];
		cm_event ev = { 0 };

		snprintf(a, sizeof(a), "u%d@example.org", i);
		ev.kind = CM_EV_GRANT;
		ev.addr = a;
		ev.type = i < 6 ? "news" : "offers";
		ev.at_us = T0 + i;
		ev.source = i % 2 ? "crm" : "form";
		assert_int_equal(cm_index_apply(f->idx, &ev), CM_OK);
	}
	assert_int_equal(cmt_ev(f->idx, CM_EV_WITHDRAW, "u0@example.org",
	    "news", T0 + 100), CM_OK);

	sel.type = "news";
	sel.source = "crm";
	set.basis = "legitimate-interest";
	set.actor = "ops";
	assert_int_equal(cm_index_bulk_update(f->idx, &sel, &set, true, &n),
	    CM_OK);
	assert_int_equal(n, 3);		/* u1 u3 u5 */
	assert_int_equal(history(f->idx, "u1@example.org").n, 1);
	assert_int_equal(cm_index_bulk_update(f->idx, &sel, &set, false, &n),
	    CM_OK);
	assert_int_equal(n, 3);
	assert_int_equal(state_of(f->idx, "u3@example.org", "news", &rec),
	    CM_STATE_GRANTED);
	h = history(f->idx, "u3@example.org");
	assert_int_equal(h.n, 2);
	assert_int_equal(h.ev[1].kind, CM_EV_UPDATE);
	{
		cm_entry *e;

		assert_int_equal(cm_index_get(f->idx, "u3@example.org", &e),
		    CM_OK);
		assert_string_equal(e->records[0].basis,
		    "legitimate-interest");
		assert_string_equal(e->records[0].source, "crm");
		cm_entry_free(e);
		assert_int_equal(cm_index_get(f->idx, "u2@example.org", &e),
		    CM_OK);
		assert_string_equal(e->records[0].basis, "");
		cm_entry_free(e);
	}
	/* by state and date */
	memset(&sel, 0, sizeof(sel));
	sel.state = CM_STATE_GRANTED;
	sel.granted_after_us = T0 + 2;
	sel.granted_before_us = T0 + 8;
	assert_int_equal(cm_index_bulk_update(f->idx, &sel, &set, true, &n),
	    CM_OK);
	assert_int_equal(n, 6);		/* u2..u7 */

	assert_int_equal(cm_index_count_by_type(f->idx, count_cb, counts),
	    CM_OK);
	assert_string_equal(counts,
	    "news:granted:5 news:withdrawn:1 offers:granted:4 ");
}

/* LMDB's default order: octets, then the shorter first. */
static int
default_cmp(const MDB_val *a, const MDB_val *b)
{
	size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
	int c = n ? memcmp(a->mv_data, b->mv_data, n) : 0;

	if (c != 0)
		return c;
	return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

/* The stored trees are in LMDB's default key order, so tools that read
 * the files without the index's comparison function see valid trees. */
static void
test_key_order(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	const char *names[] = { "index", "history" };
	cm_batch *b;
	cm_batch_result r;
	MDB_env *env;
	MDB_txn *txn;
	char a[64];

	(void)state;
	assert_int_equal(cm_batch_new(&b), CM_OK);
	for (int i = 0; i < 3000; i++) {
		cm_event ev = { 0 };

		snprintf(a, sizeof(a), i % 100 ? "k%d@example.org" :
		    "d%d.example", i);
		ev.kind = i % 100 ? CM_EV_GRANT : CM_EV_SUPPRESS_DOMAIN;
		ev.addr = a;
		ev.type = "news";
		ev.at_us = T0 + i;
		assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	}
	assert_int_equal(cm_index_apply_batch(idx, b, &r), CM_OK);
	assert_int_equal(r.applied, 3000);
	cm_batch_free(b);
	cm_index_close(idx);

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	for (size_t d = 0; d < NELEM(names); d++) {
		MDB_dbi dbi;
		MDB_cursor *c;
		MDB_val k, v, prev = { 0, NULL };
		unsigned char pbuf[512];
		size_t n = 0;
		int rc;

		assert_int_equal(mdb_dbi_open(txn, names[d], 0, &dbi), 0);
		assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (n > 0 && default_cmp(&prev, &k) >= 0)
				fail_msg("%s: keys out of order at %zu",
				    names[d], n);
			/* and every key is found with the default order */
			{
				MDB_val k2 = k, v2;

				assert_int_equal(mdb_get(txn, dbi, &k2, &v2),
				    0);
			}
			assert_true(k.mv_size <= sizeof(pbuf));
			memcpy(pbuf, k.mv_data, k.mv_size);
			prev.mv_data = pbuf;
			prev.mv_size = k.mv_size;
			n++;
		}
		assert_int_equal(rc, MDB_NOTFOUND);
		assert_int_equal(n, 3000);
		mdb_cursor_close(c);
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	cmt_rmdir(dir);
}

/* The error of a failed call belongs to the thread that made it. */
static void *
error_other_thread(void *arg)
{
	cm_index_error *e = malloc(sizeof(*e));

	if (e != NULL)
		cm_index_error_get(arg, e);
	return e;
}

static void
test_error_detail(void **state)
{
	fx *f = *state;
	cm_index_error e, *other;
	pthread_t th;
	cm_index *ro;
	cm_index_opts o = { 0 };
	char *dir2 = cmt_mkdtemp();

	cm_index_error_get(f->idx, &e);
	assert_int_equal(e.lmdb_rc, 0);
	assert_string_equal(e.text, "no error");
	/* a refused event: the text names the times, no LMDB code */
	assert_int_equal(cmt_grant(f->idx, "a@x.org", "news",
	    CM_STATE_GRANTED, cm_time_now() + INT64_C(86400000000)),
	    CM_EFUTURE);
	cm_index_error_get(f->idx, &e);
	assert_int_equal(e.lmdb_rc, 0);
	assert_non_null(strstr(e.text, "dated"));
	assert_string_equal(cm_index_last_error(f->idx), e.text);
	/* another thread has its own record */
	assert_int_equal(pthread_create(&th, NULL, error_other_thread,
	    f->idx), 0);
	assert_int_equal(pthread_join(th, (void **)&other), 0);
	assert_non_null(other);
	assert_string_equal(other->text, "no error");
	free(other);
	/* and each handle (another index: one handle per environment) */
	cm_index_close(cmt_open(dir2, 0));
	o.readonly = true;
	assert_int_equal(cm_index_open(dir2, &o, &ro), CM_OK);
	cm_index_error_get(ro, &e);
	assert_string_equal(e.text, "no error");
	assert_int_equal(cmt_grant(ro, "a@x.org", "news", CM_STATE_GRANTED,
	    T0), CM_EPERM);
	assert_non_null(strstr(cm_index_last_error(ro), "read-only"));
	cm_index_close(ro);
	cmt_rmdir(dir2);
	cm_index_error_get(NULL, &e);
	assert_string_equal(e.text, "no index");
}

static void
test_siphash_vector(void **state)
{
	/* SipHash-2-4-128, key 00..0f, empty input (reference vector) */
	static const unsigned char want[16] = {
		0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6,
		0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93
	};
	unsigned char key[16], out[16];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (unsigned char)i;
	cm_siphash128(key, "", 0, out);
	assert_memory_equal(out, want, 16);
}

static void
test_hmac_vector(void **state)
{
	/* RFC 4231 test case 2 */
	static const unsigned char want[32] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
		0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
		0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
		0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43
	};
	cm_hmac *h;
	unsigned char out[32];
	const char *msg = "what do ya want for nothing?";

	(void)state;
	assert_int_equal(cm_hmac_new((const unsigned char *)"Jefe", 4, &h),
	    CM_OK);
	cm_hmac_sha256(h, msg, strlen(msg), out);
	assert_memory_equal(out, want, 32);
	cm_hmac_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_error_detail, setup,
		    teardown),
		cmocka_unit_test(test_siphash_vector),
		cmocka_unit_test(test_hmac_vector),
		cmocka_unit_test(test_open_reopen),
		cmocka_unit_test(test_format_version),
		cmocka_unit_test_setup_teardown(test_transitions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_newer_wins, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_objection, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_erase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_erase, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batch_rollback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_and_counts, setup,
		    teardown),
		cmocka_unit_test(test_map_growth),
		cmocka_unit_test_setup_teardown(test_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_sort, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_import_rollback, setup,
		    teardown),
		cmocka_unit_test(test_import_full),
		cmocka_unit_test(test_bulk_mode),
		cmocka_unit_test(test_key_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
