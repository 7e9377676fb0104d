/*
 * pgtest.c - what the tests against a real PostgreSQL share (pgtest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <cmocka.h>

#include "pgtest.h"

const char *conninfo, *pwfile, *tmpdir;

void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int64_t
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* A connection of the test role of its own (libpq directly). */
PGconn *
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
const char *
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
const char *
sql(const char *q, const char *param)
{
	PGconn *c = role_connect();
	const char *out = sql_on(c, q, param);

	PQfinish(c);
	return out;
}

/* (a test that failed holding a transaction open makes this fail, not
 * hang: lock_timeout) */
void
drop_schema(void)
{
	sql("SET lock_timeout = '20s'; "
	    "DROP TABLE IF EXISTS consent_events, consent_schema; "
	    "DROP FUNCTION IF EXISTS consent_push, consent_push_many", NULL);
}

cm_pg *
open_ok(void)
{
	cm_pg *pg = NULL;
	cm_status st = cm_pg_open(conninfo, pwfile, &pg);

	if (st != CM_OK)
		fail_msg("open: %s: %s", cm_strerror(st), cm_pg_error(pg));
	return pg;
}

/* a store with a fresh schema */
int
setup_store(void **state)
{
	cm_pg *pg;
	int v = 0;

	drop_schema();
	pg = open_ok();
	assert_pg_ok(pg, cm_pg_schema(pg, true, &v));
	assert_int_equal(v, 2);
	*state = pg;
	return 0;
}

int
teardown_store(void **state)
{
	cm_pg_close(*state);
	return 0;
}

/* An event: KIND on ADDR (NULL for erase) under key byte K, at AT. */
cm_upevent
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

int
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

int
pgtest_init(void)
{
	conninfo = getenv("CM_PG_CONNINFO");
	pwfile = getenv("CM_PG_PWFILE");
	tmpdir = getenv("CM_TMP");
	if (conninfo == NULL || pwfile == NULL || tmpdir == NULL) {
		fprintf(stderr, "run by tests/upstream/pgstore.sh "
		    "(CM_PG_CONNINFO, CM_PG_PWFILE, CM_TMP)\n");
		return -1;
	}
	return 0;
}
