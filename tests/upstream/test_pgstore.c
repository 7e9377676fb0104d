/*
 * test_pgstore.c - the shared consent store (upstream/pgstore.h) against a
 * real PostgreSQL, started by tests/upstream/pgstore.sh (tests/lib/pg.sh).
 *
 *   test_pgstore          the store: schema, push, fetch, snapshot, head,
 *                         wait, erasure, password file; ends with the
 *                         erasure test's rows in place (the script then
 *                         searches pg_dump for the erased address)
 *   test_pgstore stopped  the server stopped and started again under
 *                         open connections ($CM_PG_CTL stop|start)
 *
 * Environment: CM_PG_CONNINFO, CM_PG_PWFILE (the test role's password
 * file), CM_PG_CTL, CM_TMP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "upstream/pgstore.h"

/* the erasure test's addresses: pgstore.sh searches the dump for them */
#define ERASED "erased.person@example.org"
#define ERASED2 "erased.twice@example.org"
#define KEPT "kept.person@example.net"

static const char *conninfo, *pwfile, *tmpdir;

/* CALL on PG returns CM_OK, else the test fails with PG's error */
#define assert_pg_ok(pg, call) do { \
	cm_status st_ = (call); \
	if (st_ != CM_OK) \
		fail_msg("%s: %s: %s", #call, cm_strerror(st_), \
		    cm_pg_error(pg)); \
} while (0)

static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int64_t
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* A connection of the test role of its own (libpq directly). */
static PGconn *
role_connect(void)
{
	const char *kw[] = { "dbname", "password", NULL };
	const char *val[3] = { conninfo, NULL, NULL };
	char pw[128] = "";
	FILE *f;
	PGconn *c;

	f = fopen(pwfile, "r");
	assert_non_null(f);
	assert_non_null(fgets(pw, sizeof(pw), f));
	fclose(f);
	pw[strcspn(pw, "\n")] = '\0';
	val[1] = pw;
	c = PQconnectdbParams(kw, val, 1);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

/* Run Q on C; the value of the first row's first column (a static
 * buffer), or "" */
static const char *
sql_on(PGconn *c, const char *q, const char *param)
{
	static char out[256];
	PGresult *r;

	r = param != NULL ? PQexecParams(c, q, 1, NULL, &param, NULL, NULL, 0) :
	    PQexec(c, q);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	out[0] = '\0';
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		snprintf(out, sizeof(out), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return out;
}

/* Run Q on a connection of its own. */
static const char *
sql(const char *q, const char *param)
{
	PGconn *c = role_connect();
	const char *out = sql_on(c, q, param);

	PQfinish(c);
	return out;
}

/* (a test that failed holding a transaction open makes this fail, not
 * hang: lock_timeout) */
static void
drop_schema(void)
{
	sql("SET lock_timeout = '20s'; "
	    "DROP TABLE IF EXISTS consent_events, consent_schema; "
	    "DROP FUNCTION IF EXISTS consent_push, consent_push_many", NULL);
}

static cm_pg *
open_ok(void)
{
	cm_pg *pg = NULL;
	cm_status st = cm_pg_open(conninfo, pwfile, &pg);

	if (st != CM_OK)
		fail_msg("open: %s: %s", cm_strerror(st), cm_pg_error(pg));
	return pg;
}

/* a store with a fresh schema */
static int
setup_store(void **state)
{
	cm_pg *pg;
	int v = 0;

	drop_schema();
	pg = open_ok();
	assert_pg_ok(pg, cm_pg_schema(pg, true, &v));
	assert_int_equal(v, 1);
	*state = pg;
	return 0;
}

static int
teardown_store(void **state)
{
	cm_pg_close(*state);
	return 0;
}

/* An event: KIND on ADDR (NULL for erase) under key byte K, at AT. */
static cm_upevent
mkev(unsigned seq, cm_event_kind kind, const char *addr, unsigned char k,
    int64_t at)
{
	cm_upevent e;

	memset(&e, 0, sizeof(e));
	for (int i = 0; i < CM_UPEVENT_UUID_LEN; i++)
		e.uuid[i] = (unsigned char)(seq >> (8 * (i % 4)));
	e.uuid[12] = 0x40;	/* version 4 */
	e.uuid[15] = (unsigned char)kind;
	e.uuid[14] = k;
	if (kind != CM_EV_SUPPRESS_DOMAIN && kind != CM_EV_UNSUPPRESS_DOMAIN)
		memset(e.akey, k, sizeof(e.akey));
	e.origin = "node-a";
	e.ev.kind = kind;
	e.ev.addr = addr;
	e.ev.at_us = at;
	if (kind == CM_EV_GRANT || kind == CM_EV_WITHDRAW ||
	    kind == CM_EV_CONFIRM || kind == CM_EV_UPDATE)
		e.ev.type = "news";
	e.ev.state = kind == CM_EV_GRANT ? CM_STATE_GRANTED : CM_STATE_NONE;
	e.ev.source = "test";
	e.ev.actor = "tester";
	return e;
}

/* fetch callback: copies what it sees */
struct seen {
	size_t n, stop_at;
	int64_t ids[16];
	cm_upevent ev[16];
	char addr[16][64], origin[16][CM_UPEVENT_NODE_MAX + 1], type[16][16];
	bool addr_null[16];
	cm_pg *other;		/* pushes an event from here at the first row */
};

static int
seen_cb(const cm_upevent *ue, void *arg)
{
	struct seen *s = arg;
	size_t i = s->n;

	if (s->stop_at != 0 && i + 1 == s->stop_at)
		return 1;
	if (i > 0 && ue->id <= s->ids[(i - 1) % 16])
		fail_msg("ids not increasing: %lld after %lld",
		    (long long)ue->id, (long long)s->ids[(i - 1) % 16]);
	if (s->other != NULL && i == 0) {
		cm_upevent e = mkev(9999, CM_EV_GRANT, "late@example.com", 0x99,
		    now_us());
		size_t stored = 0;

		assert_pg_ok(s->other, cm_pg_push(s->other, &e, 1, &stored));
		assert_int_equal(stored, 1);
	}
	s->ids[i % 16] = ue->id;
	if (i < 16) {
		s->ev[i] = *ue;
		s->addr_null[i] = ue->ev.addr == NULL;
		snprintf(s->addr[i], sizeof(s->addr[i]), "%s",
		    ue->ev.addr != NULL ? ue->ev.addr : "");
		snprintf(s->origin[i], sizeof(s->origin[i]), "%s", ue->origin);
		snprintf(s->type[i], sizeof(s->type[i]), "%s",
		    ue->ev.type != NULL ? ue->ev.type : "");
	}
	s->n++;
	return 0;
}

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
	assert_int_equal(v, 1);
	assert_pg_ok(pg, cm_pg_schema(pg, false, &v));
	assert_int_equal(v, 1);
	assert_pg_ok(pg, cm_pg_push(pg, &e, 1, &stored));
	assert_int_equal(stored, 1);
	assert_pg_ok(pg, cm_pg_schema(pg, true, &v));
	assert_int_equal(v, 1);
	assert_pg_ok(pg, cm_pg_head(pg, &id, NULL));
	assert_true(id > 0);
	assert_string_equal(sql("SELECT count(*) FROM consent_events", NULL),
	    "1");
	assert_string_equal(sql("SELECT version FROM consent_schema", NULL),
	    "1");
	cm_pg_close(pg);
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
	sql("UPDATE consent_schema SET version = 1; DROP FUNCTION "
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

static void
test_wait(void **state)
{
	cm_pg *pg = *state, *listener = open_ok();
	cm_upevent e = mkev(1, CM_EV_GRANT, "w@example.com", 0x81, now_us());
	size_t stored;

	/* the first wait LISTENs */
	assert_int_equal(cm_pg_wait(listener, 0), CM_NOTFOUND);
	assert_int_equal(cm_pg_wait(listener, 20), CM_NOTFOUND);
	assert_pg_ok(pg, cm_pg_push(pg, &e, 1, &stored));
	assert_pg_ok(listener, cm_pg_wait(listener, 10000));
	assert_int_equal(cm_pg_wait(listener, 0), CM_NOTFOUND);
	/* a push that stores nothing wakes nobody; a second one does */
	assert_pg_ok(pg, cm_pg_push(pg, &e, 1, &stored));
	assert_int_equal(stored, 0);
	e = mkev(2, CM_EV_WITHDRAW, "w@example.com", 0x81, now_us());
	assert_pg_ok(pg, cm_pg_push(pg, &e, 1, &stored));
	assert_pg_ok(listener, cm_pg_wait(listener, 10000));
	assert_int_equal(cm_pg_wait(listener, 0), CM_NOTFOUND);
	cm_pg_close(listener);
}


/* Pushes are serialized: while one push's transaction is open (its id
 * taken, not yet committed), a second push waits for it, so a follower
 * never sees a later id before an earlier one commits and skips it. */
struct pusher {
	cm_pg *pg;
	cm_upevent ev;
	cm_status st;
};

static void *
push_thread(void *arg)
{
	struct pusher *p = arg;

	p->st = cm_pg_push(p->pg, &p->ev, 1, NULL);
	return NULL;
}

static void
test_serialized(void **state)
{
	cm_pg *pg = *state;
	PGconn *x = role_connect();
	struct pusher p = { open_ok(), mkev(2, CM_EV_GRANT, "second@example.com",
	    0x82, now_us()), CM_OK };
	struct timespec ts = { 0, 20 * 1000000 };
	struct seen s;
	pthread_t th;
	int64_t last;
	int i;

	/* if the test fails, the server ends X's transaction */
	sql_on(x, "SET idle_in_transaction_session_timeout = '10s'", NULL);
	sql_on(x, "BEGIN", NULL);
	sql_on(x, "SELECT consent_push('00000000-0000-4000-8000-000000000001',"
	    " 'grant', 'first@example.com', '\\x81818181818181818181818181818181',"
	    " 'news', 'granted', 1000, NULL, NULL, NULL, NULL, NULL, 'node-x')",
	    NULL);
	assert_int_equal(pthread_create(&th, NULL, push_thread, &p), 0);
	/* the second push waits on the push lock (bounded) */
	for (i = 0; i < 500; i++) {
		if (strcmp(sql("SELECT count(*) FROM pg_stat_activity WHERE "
		    "wait_event_type = 'Lock' AND wait_event = 'advisory'",
		    NULL), "1") == 0)
			break;
		nanosleep(&ts, NULL);
	}
	assert_true(i < 500);
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, 0, 10, seen_cb, &s, &last));
	assert_int_equal(s.n, 0);
	sql_on(x, "COMMIT", NULL);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(p.st, CM_OK);
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, 0, 10, seen_cb, &s, &last));
	assert_int_equal(s.n, 2);
	assert_string_equal(s.addr[0], "first@example.com");
	assert_string_equal(s.addr[1], "second@example.com");
	assert_string_equal(s.origin[0], "node-x");
	PQfinish(x);
	cm_pg_close(p.pg);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static cm_status
try_open(const char *ci, const char *pw, char *err, size_t size)
{
	cm_pg *pg = NULL;
	cm_status st = cm_pg_open(ci, pw, &pg);

	assert_non_null(pg);
	snprintf(err, size, "%s", cm_pg_error(pg));
	cm_pg_close(pg);
	return st;
}

static void
test_password_file(void **state)
{
	char path[512], err[512], pw[128];
	FILE *f;

	(void)state;
	f = fopen(pwfile, "r");
	assert_non_null(f);
	assert_non_null(fgets(pw, sizeof(pw), f));
	fclose(f);
	snprintf(path, sizeof(path), "%s/pw", tmpdir);
	write_file(path, pw, 0644);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)), CM_EPERM);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "0644"));
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)), CM_EPERM);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)), CM_OK);
	/* no newline at the end, CRLF */
	pw[strcspn(pw, "\n")] = '\0';
	write_file(path, pw, 0600);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)), CM_OK);
	strcat(pw, "\r\nsecond line\n");
	write_file(path, pw, 0600);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)), CM_OK);
	/* a wrong password: the server refuses */
	write_file(path, "wrong-password\n", 0600);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)),
	    CM_EUPSTREAM);
	assert_non_null(strstr(err, "password authentication failed"));
	assert_null(strchr(err, '\n'));
	write_file(path, "\nsecond\n", 0600);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)), CM_EINVAL);
	assert_non_null(strstr(err, "empty"));
	snprintf(path, sizeof(path), "%s/none", tmpdir);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)),
	    CM_NOTFOUND);
	assert_int_equal(try_open(conninfo, tmpdir, err, sizeof(err)),
	    CM_EINVAL);
	/* no password at all (nor ~/.pgpass nor PGPASSWORD) */
	setenv("PGPASSFILE", path, 1);
	unsetenv("PGPASSWORD");
	assert_int_equal(try_open(conninfo, NULL, err, sizeof(err)),
	    CM_EUPSTREAM);
	assert_non_null(strstr(err, "password"));
	/* a bad connection string */
	assert_int_equal(try_open("host=127.0.0.1 bogus=1", NULL, err,
	    sizeof(err)), CM_EUPSTREAM);
	assert_non_null(strstr(err, "connection string"));
	assert_int_equal(try_open("host=127.0.0.1 port", NULL, err,
	    sizeof(err)), CM_EUPSTREAM);
	assert_non_null(strstr(err, "connection string"));
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

/* --- the server stopped and started again ----------------------------- */

static void
pgctl(const char *what)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "'%s' %s", getenv("CM_PG_CTL"), what);
	assert_int_equal(system(cmd), 0);
}

static void
test_server_stopped(void **state)
{
	cm_pg *pg = *state, *listener = open_ok(), *late = NULL;
	cm_upevent e = mkev(1, CM_EV_GRANT, "s@example.com", 0x81, now_us());
	struct seen s;
	int64_t head, last;
	size_t stored;

	assert_int_equal(cm_pg_wait(listener, 0), CM_NOTFOUND);
	assert_pg_ok(pg, cm_pg_head(pg, &head, NULL));
	pgctl("stop");
	assert_int_equal(cm_pg_head(pg, &head, NULL), CM_EUPSTREAM);
	assert_true(strlen(cm_pg_error(pg)) > 10);
	assert_null(strchr(cm_pg_error(pg), '\n'));
	assert_int_equal(cm_pg_push(pg, &e, 1, &stored), CM_EUPSTREAM);
	assert_non_null(strstr(cm_pg_error(pg), "connect"));
	assert_int_equal(cm_pg_wait(listener, 5000), CM_EUPSTREAM);
	assert_int_equal(cm_pg_open(conninfo, pwfile, &late), CM_EUPSTREAM);
	assert_non_null(strstr(cm_pg_error(late), "connect"));
	assert_int_equal(cm_pg_fetch(late, 0, 10, seen_cb, &s, &last),
	    CM_EUPSTREAM);

	/* back: every handle connects again */
	pgctl("start");
	assert_pg_ok(late, cm_pg_push(late, &e, 1, &stored));
	assert_int_equal(stored, 1);
	/* a wait after a reconnect says "fetch": notifications were lost */
	assert_pg_ok(listener, cm_pg_wait(listener, 0));
	assert_int_equal(cm_pg_wait(listener, 0), CM_NOTFOUND);
	assert_pg_ok(pg, cm_pg_push(pg, &e, 1, &stored));
	assert_int_equal(stored, 0);
	e = mkev(2, CM_EV_WITHDRAW, "s@example.com", 0x81, now_us());
	assert_pg_ok(pg, cm_pg_push(pg, &e, 1, &stored));
	assert_pg_ok(listener, cm_pg_wait(listener, 10000));
	memset(&s, 0, sizeof(s));
	assert_pg_ok(late, cm_pg_fetch(late, 0, 10, seen_cb, &s, &last));
	assert_int_equal(s.n, 2);
	cm_pg_close(late);
	cm_pg_close(listener);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest store[] = {
		cmocka_unit_test(test_schema),
		cmocka_unit_test_setup_teardown(test_version_mismatch,
		    setup_store, teardown_store),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test_setup_teardown(test_push_fetch, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_many_snapshot, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_duplicate, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_invalid, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_wait, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_serialized, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_erase, setup_store,
		    teardown_store),
	};
	const struct CMUnitTest stopped[] = {
		cmocka_unit_test_setup_teardown(test_server_stopped,
		    setup_store, teardown_store),
	};

	conninfo = getenv("CM_PG_CONNINFO");
	pwfile = getenv("CM_PG_PWFILE");
	tmpdir = getenv("CM_TMP");
	if (conninfo == NULL || pwfile == NULL || tmpdir == NULL) {
		fprintf(stderr, "test_pgstore: run by tests/upstream/pgstore.sh "
		    "(CM_PG_CONNINFO, CM_PG_PWFILE, CM_TMP)\n");
		return 77;
	}
	if (argc > 1 && strcmp(argv[1], "stopped") == 0) {
		if (getenv("CM_PG_CTL") == NULL)
			return 77;
		return cmocka_run_group_tests_name("pgstore stopped", stopped,
		    NULL, NULL);
	}
	return cmocka_run_group_tests_name("pgstore", store, NULL, NULL);
}
