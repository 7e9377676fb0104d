/*
 * pgstore.c - the shared consent store on PostgreSQL (pgstore.h): push,
 * fetch, snapshot and head.  The connection, its errors and the wait are
 * in pgconn.c, the schema and its SQL in pgschema.c.
 *
 * Every statement with values is parameterized (binary parameters and
 * results: raw UTF-8 text, 16-octet uuid and bytea, big-endian int8);
 * nothing a caller passes is ever put into SQL text.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_int.h"
#include "pgstore.h"

#define FETCH_BATCH 5000	/* rows per round trip of fetch and snapshot */
#define FETCH_BATCH_S "5000"
/* octets of text per round trip of fetch (the rows that start below it:
 * schema 2 bounds a row to some 8 KiB) */
#define FETCH_BYTES_S "4194304"
#define ROW_OCTETS "coalesce(octet_length(addr), 0) + " \
	"coalesce(octet_length(type), 0) + coalesce(octet_length(source), 0) " \
	"+ coalesce(octet_length(basis), 0) + " \
	"coalesce(octet_length(purpose), 0) + " \
	"coalesce(octet_length(evidence), 0) + " \
	"coalesce(octet_length(actor), 0) + octet_length(origin)"
#define PUSH_BATCH 1000		/* events per round trip of push */

/* type OIDs (catalog/pg_type.h, stable) */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25
#define OID_UUID 2950
#define OID_BYTEA_ARRAY 1001
#define OID_TEXT_ARRAY 1009
#define OID_INT8_ARRAY 1016
#define OID_UUID_ARRAY 2951

#define COLS "id, uuid, kind, addr, akey, type, state, at_us, source, " \
	"basis, purpose, evidence, actor, origin, stored_us"

static const unsigned char zero_key[CM_UPEVENT_AKEY_LEN];

/* Connected, schema checked and statements prepared. */
static cm_status
ready(struct cm_pg *pg)
{
	static const Oid push_types[13] = { OID_UUID_ARRAY, OID_TEXT_ARRAY,
	    OID_TEXT_ARRAY, OID_BYTEA_ARRAY, OID_TEXT_ARRAY, OID_TEXT_ARRAY,
	    OID_INT8_ARRAY, OID_TEXT_ARRAY, OID_TEXT_ARRAY, OID_TEXT_ARRAY,
	    OID_TEXT_ARRAY, OID_TEXT_ARRAY, OID_TEXT_ARRAY };
	static const Oid fetch_types[2] = { OID_INT8, OID_INT8 };
	PGresult *res;
	cm_status st;
	int v;

	if ((st = cm_pg_connected(pg)) != CM_OK || pg->ready)
		return st;
	if ((st = cm_pg_schema_check(pg, &v)) != CM_OK)
		return st;
	if ((st = cm_pg_exec(pg, CM_PG_TIMEOUTS("false"), "timeouts")) !=
	    CM_OK)
		return st;
	if ((st = cm_pg_exec(pg, "DEALLOCATE ALL", "prepare")) != CM_OK)
		return st;
	res = PQprepare(pg->conn, "cm_push", "SELECT consent_push_many($1, $2, "
	    "$3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)", 13, push_types);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		st = cm_pg_fail(pg, "prepare push", res);
	PQclear(res);
	if (st != CM_OK)
		return st;
	/* at most $2 rows, and only those starting within FETCH_BYTES
	 * octets of text: a batch's memory is bounded whatever the rows
	 * hold (the first row always comes) */
	res = PQprepare(pg->conn, "cm_fetch", "SELECT " COLS " FROM (SELECT "
	    COLS ", sum(n) OVER (ORDER BY id) - n AS before FROM (SELECT "
	    COLS ", " ROW_OCTETS " AS n FROM consent_events WHERE id > $1 "
	    "ORDER BY id LIMIT $2) a) b WHERE before < " FETCH_BYTES_S
	    " ORDER BY id", 2, fetch_types);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		st = cm_pg_fail(pg, "prepare fetch", res);
	PQclear(res);
	if (st == CM_OK)
		pg->ready = true;
	return st;
}

/* --- events ------------------------------------------------------------ */

static void
put_be64(unsigned char *p, int64_t v)
{
	uint64_t u = (uint64_t)v;

	for (int i = 7; i >= 0; i--, u >>= 8)
		p[i] = (unsigned char)u;
}

static int64_t
get_be64(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint64_t u = 0;

	for (int i = 0; i < 8; i++)
		u = (u << 8) | p[i];
	return (int64_t)u;
}

static bool
node_name_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n] != '\0'; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' &&
		    s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') ||
		    s[n] == '.' || s[n] == '_' || s[n] == '-'))
			return false;
	return n >= 1 && n <= CM_UPEVENT_NODE_MAX;
}

/* Is EV fit to be pushed?  The message names the event by its position
 * I only: never by its address. */
static cm_status
check_event(struct cm_pg *pg, size_t i, const cm_upevent *ue)
{
	const cm_event *ev = &ue->ev;
	const char *f[] = { ev->addr, ev->type, ev->source, ev->basis,
	    ev->purpose, ev->evidence, ev->actor };
	bool domain = ev->kind == CM_EV_SUPPRESS_DOMAIN ||
	    ev->kind == CM_EV_UNSUPPRESS_DOMAIN;

	if (ev->kind < CM_EV_GRANT || ev->kind > CM_EV_ERASE)
		return cm_pg_failf(pg, CM_EINVAL, "push: event %zu: unknown "
		    "kind %d", i, (int)ev->kind);
	if ((int)ev->state < CM_STATE_NONE || ev->state > CM_STATE_WITHDRAWN)
		return cm_pg_failf(pg, CM_EINVAL, "push: event %zu: unknown "
		    "state %d", i, (int)ev->state);
	if (!node_name_ok(ue->origin))
		return cm_pg_failf(pg, CM_EINVAL, "push: event %zu: the origin "
		    "is not a node name ([A-Za-z0-9._-], 1 to %d)", i,
		    CM_UPEVENT_NODE_MAX);
	if (ev->at_us == 0)
		return cm_pg_failf(pg, CM_EINVAL, "push: event %zu: no time", i);
	if (ev->kind != CM_EV_ERASE && (ev->addr == NULL || *ev->addr == '\0'))
		return cm_pg_failf(pg, CM_EINVAL, "push: event %zu: %s without "
		    "address or domain", i, cm_event_kind_name(ev->kind));
	if (!domain && memcmp(ue->akey, zero_key, sizeof(zero_key)) == 0)
		return cm_pg_failf(pg, CM_EINVAL, "push: event %zu: %s without "
		    "address key", i, cm_event_kind_name(ev->kind));
	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++)
		if (f[k] != NULL && strlen(f[k]) > CM_FIELD_MAX)
			return cm_pg_failf(pg, CM_EINVAL, "push: event %zu: a "
			    "field is longer than %d octets", i, CM_FIELD_MAX);
	return CM_OK;
}

/* A one-dimensional array in PostgreSQL's binary format (array_recv):
 * ndim, has-null flag, element type, then the dimension and lower
 * bound, then each element as a length (-1: NULL) and its octets. */
struct arr {
	unsigned char *p;
	size_t len, cap;
};

static bool
arr_put(struct arr *a, const void *d, size_t n)
{
	unsigned char *np;
	size_t cap;

	if (a->len + n > a->cap) {
		cap = a->cap != 0 ? a->cap : 4096;
		while (cap < a->len + n)
			cap *= 2;
		if ((np = realloc(a->p, cap)) == NULL)
			return false;
		a->p = np;
		a->cap = cap;
	}
	memcpy(a->p + a->len, d, n);
	a->len += n;
	return true;
}

static bool
arr_be32(struct arr *a, int32_t v)
{
	uint32_t u = (uint32_t)v;
	unsigned char b[4] = { (unsigned char)(u >> 24),
	    (unsigned char)(u >> 16), (unsigned char)(u >> 8),
	    (unsigned char)u };

	return arr_put(a, b, 4);
}

static bool
arr_begin(struct arr *a, Oid elem, size_t count)
{
	a->len = 0;
	return arr_be32(a, 1) && arr_be32(a, 1) && arr_be32(a, (int32_t)elem) &&
	    arr_be32(a, (int32_t)count) && arr_be32(a, 1);
}

/* element D of N octets; D NULL: a NULL element */
static bool
arr_elem(struct arr *a, const void *d, size_t n)
{
	if (d == NULL)
		return arr_be32(a, -1);
	return arr_be32(a, (int32_t)n) && arr_put(a, d, n);
}

static bool
arr_str(struct arr *a, const char *s)
{
	return arr_elem(a, s, s != NULL ? strlen(s) : 0);
}

/* The 13 arrays of consent_push_many for EVS[0..N). */
static bool
fill_arrays(struct arr *a, const cm_upevent *evs, size_t n)
{
	static const Oid elem[13] = { OID_UUID, OID_TEXT, OID_TEXT, OID_BYTEA,
	    OID_TEXT, OID_TEXT, OID_INT8, OID_TEXT, OID_TEXT, OID_TEXT,
	    OID_TEXT, OID_TEXT, OID_TEXT };
	unsigned char at[8];
	bool ok = true;

	for (int k = 0; k < 13; k++)
		ok = ok && arr_begin(&a[k], elem[k], n);
	for (size_t i = 0; ok && i < n; i++) {
		const cm_upevent *ue = &evs[i];
		const cm_event *ev = &ue->ev;

		put_be64(at, ev->at_us);
		ok = arr_elem(&a[0], ue->uuid, CM_UPEVENT_UUID_LEN) &&
		    arr_str(&a[1], cm_event_kind_name(ev->kind)) &&
		    arr_str(&a[2], ev->kind == CM_EV_ERASE ? NULL : ev->addr) &&
		    arr_elem(&a[3], ue->akey, CM_UPEVENT_AKEY_LEN) &&
		    arr_str(&a[4], ev->type) &&
		    arr_str(&a[5], cm_state_name(ev->state)) &&
		    arr_elem(&a[6], at, 8) &&
		    arr_str(&a[7], ev->source) && arr_str(&a[8], ev->basis) &&
		    arr_str(&a[9], ev->purpose) &&
		    arr_str(&a[10], ev->evidence) &&
		    arr_str(&a[11], ev->actor) && arr_str(&a[12], ue->origin);
	}
	return ok;
}

/* Store EVS[0..N) (within the caller's transaction) in one round trip;
 * *STORED += how many were stored (not duplicates, not superseded by
 * an erasure). */
static cm_status
push_chunk(struct cm_pg *pg, struct arr *a, const cm_upevent *evs, size_t n,
    size_t *stored)
{
	static const int fmts[13] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	const char *vals[13];
	int lens[13];
	PGresult *res;
	cm_status st = CM_OK;

	if (!fill_arrays(a, evs, n))
		return cm_pg_failf(pg, CM_ENOMEM, "push: out of memory");
	for (int k = 0; k < 13; k++) {
		vals[k] = (const char *)a[k].p;
		lens[k] = (int)a[k].len;
	}
	res = PQexecPrepared(pg->conn, "cm_push", 13, vals, lens, fmts, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    PQgetlength(res, 0, 0) != 8)
		st = cm_pg_fail(pg, "push", res);
	else
		*stored += (size_t)get_be64(PQgetvalue(res, 0, 0));
	PQclear(res);
	return st;
}

cm_status
cm_pg_push(cm_pg *pg, const cm_upevent *evs, size_t n, size_t *stored)
{
	struct arr a[13];
	size_t count = 0, k;
	cm_status st;

	if (stored != NULL)
		*stored = 0;
	if (pg == NULL || (evs == NULL && n > 0))
		return CM_EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((st = check_event(pg, i, &evs[i])) != CM_OK)
			return st;
	if (n == 0)
		return CM_OK;
	if ((st = ready(pg)) != CM_OK)
		return st;
	memset(a, 0, sizeof(a));
	/* the timeouts again for the transaction: a pooler (pgbouncer's
	 * transaction mode) may not keep the session's */
	st = cm_pg_exec(pg, "BEGIN; " CM_PG_TIMEOUTS("true"), "push");
	for (size_t i = 0; st == CM_OK && i < n; i += k) {
		k = n - i < PUSH_BATCH ? n - i : PUSH_BATCH;
		st = push_chunk(pg, a, &evs[i], k, &count);
	}
	for (int j = 0; j < 13; j++)
		free(a[j].p);
	if (st == CM_OK && count > 0)
		st = cm_pg_exec(pg, "NOTIFY " CM_PG_CHANNEL, "push notify");
	if (st == CM_OK)
		st = cm_pg_exec(pg, "COMMIT", "push commit");
	if (st != CM_OK) {
		cm_pg_rollback(pg);
		return st;
	}
	if (stored != NULL)
		*stored = count;
	return CM_OK;
}

/* Row R of RES (columns COLS, binary) as *UE; pointers into RES. */
static cm_status
row_event(struct cm_pg *pg, const PGresult *res, int r, cm_upevent *ue)
{
	static const int sizes[15] = { 8, CM_UPEVENT_UUID_LEN, -1, -1,
	    CM_UPEVENT_AKEY_LEN, -1, -1, 8, -1, -1, -1, -1, -1, -1, 8 };
	const char *s[15];
	int kind = 0, state = -1;

	for (int c = 0; c < 15; c++) {
		s[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
		if (sizes[c] >= 0 && (s[c] == NULL ||
		    PQgetlength(res, r, c) != sizes[c]))
			return cm_pg_failf(pg, CM_EFORMAT, "read: row %d: column "
			    "%d is not what schema %d stores", r, c,
			    CM_PG_SCHEMA_VERSION);
	}
	memset(ue, 0, sizeof(*ue));
	ue->id = get_be64(s[0]);
	memcpy(ue->uuid, s[1], CM_UPEVENT_UUID_LEN);
	for (int k = CM_EV_GRANT; k <= CM_EV_ERASE && s[2] != NULL; k++)
		if (strcmp(s[2], cm_event_kind_name((cm_event_kind)k)) == 0)
			kind = k;
	for (int k = CM_STATE_NONE; k <= CM_STATE_WITHDRAWN && s[6] != NULL; k++)
		if (strcmp(s[6], cm_state_name((cm_state)k)) == 0)
			state = k;
	if (kind == 0 || state < 0 || s[13] == NULL)
		return cm_pg_failf(pg, CM_EFORMAT, "read: event id %lld: "
		    "unknown kind or state, or no origin", (long long)ue->id);
	ue->ev.kind = (cm_event_kind)kind;
	ue->ev.state = (cm_state)state;
	ue->ev.addr = s[3];
	memcpy(ue->akey, s[4], CM_UPEVENT_AKEY_LEN);
	ue->ev.type = s[5];
	ue->ev.at_us = get_be64(s[7]);
	ue->ev.source = s[8];
	ue->ev.basis = s[9];
	ue->ev.purpose = s[10];
	ue->ev.evidence = s[11];
	ue->ev.actor = s[12];
	ue->origin = s[13];
	ue->stored_us = get_be64(s[14]);
	return CM_OK;
}

/* Pass the rows of RES to CB; *LAST: the id of the last one it took;
 * *STOPPED: CB asked to stop. */
static cm_status
deliver(struct cm_pg *pg, const PGresult *res, cm_pg_event_cb cb,
    void *arg, int64_t *last, bool *stopped)
{
	cm_upevent ue;
	cm_status st;

	for (int r = 0; r < PQntuples(res); r++) {
		if ((st = row_event(pg, res, r, &ue)) != CM_OK)
			return st;
		if (cb(&ue, arg) != 0) {
			*stopped = true;
			return CM_OK;
		}
		*last = ue.id;
	}
	return CM_OK;
}

cm_status
cm_pg_fetch(cm_pg *pg, int64_t after, size_t limit, cm_pg_event_cb cb,
    void *arg, int64_t *last)
{
	static const int fmts[2] = { 1, 1 }, lens[2] = { 8, 8 };
	unsigned char p0[8], p1[8];
	const char *vals[2] = { (const char *)p0, (const char *)p1 };
	bool stopped = false;
	PGresult *res;
	cm_status st;
	size_t want;
	int rows;

	if (last != NULL)
		*last = after;
	if (pg == NULL || cb == NULL || last == NULL)
		return CM_EINVAL;
	if ((st = ready(pg)) != CM_OK)
		return st;
	while (limit > 0 && !stopped) {
		want = limit < FETCH_BATCH ? limit : FETCH_BATCH;
		put_be64(p0, *last);
		put_be64(p1, (int64_t)want);
		res = PQexecPrepared(pg->conn, "cm_fetch", 2, vals, lens, fmts,
		    1);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			st = cm_pg_fail(pg, "fetch", res);
			PQclear(res);
			return st;
		}
		rows = PQntuples(res);
		st = deliver(pg, res, cb, arg, last, &stopped);
		PQclear(res);
		if (st != CM_OK)
			return st;
		/* fewer rows than asked: the end, or the octet bound */
		if (rows == 0)
			break;
		limit -= (size_t)rows;
	}
	return CM_OK;
}

cm_status
cm_pg_snapshot(cm_pg *pg, cm_pg_event_cb cb, void *arg, int64_t *upto)
{
	bool stopped = false;
	PGresult *res;
	cm_status st;
	int rows;

	if (upto != NULL)
		*upto = 0;
	if (pg == NULL || cb == NULL || upto == NULL)
		return CM_EINVAL;
	if ((st = ready(pg)) != CM_OK)
		return st;
	st = cm_pg_exec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	    "snapshot");
	if (st == CM_OK)
		st = cm_pg_exec(pg, "DECLARE cm_snapshot NO SCROLL CURSOR FOR "
		    "SELECT " COLS " FROM consent_events ORDER BY id",
		    "snapshot");
	while (st == CM_OK && !stopped) {
		res = PQexecParams(pg->conn, "FETCH " FETCH_BATCH_S
		    " FROM cm_snapshot", 0, NULL, NULL, NULL, NULL, 1);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			st = cm_pg_fail(pg, "snapshot", res);
			PQclear(res);
			break;
		}
		rows = PQntuples(res);
		st = deliver(pg, res, cb, arg, upto, &stopped);
		PQclear(res);
		if (rows == 0)
			break;
	}
	if (st == CM_OK)
		st = cm_pg_exec(pg, "COMMIT", "snapshot");
	if (st != CM_OK)
		cm_pg_rollback(pg);
	return st;
}

cm_status
cm_pg_head(cm_pg *pg, int64_t *id, int64_t *stored_us)
{
	PGresult *res;
	cm_status st;

	if (id != NULL)
		*id = 0;
	if (stored_us != NULL)
		*stored_us = 0;
	if (pg == NULL)
		return CM_EINVAL;
	if ((st = ready(pg)) != CM_OK)
		return st;
	res = PQexecParams(pg->conn, "SELECT id, stored_us FROM "
	    "consent_events ORDER BY id DESC LIMIT 1", 0, NULL, NULL, NULL,
	    NULL, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		st = cm_pg_fail(pg, "head", res);
	else if (PQntuples(res) == 1 && PQgetlength(res, 0, 0) == 8 &&
	    PQgetlength(res, 0, 1) == 8) {
		if (id != NULL)
			*id = get_be64(PQgetvalue(res, 0, 0));
		if (stored_us != NULL)
			*stored_us = get_be64(PQgetvalue(res, 0, 1));
	} else if (PQntuples(res) != 0)
		st = cm_pg_failf(pg, CM_EFORMAT, "head: not what schema %d "
		    "stores", CM_PG_SCHEMA_VERSION);
	PQclear(res);
	return st;
}

static int64_t
wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

cm_status
cm_pg_clock_offset(cm_pg *pg, int64_t *offset_us)
{
	PGresult *res;
	cm_status st;
	int64_t t0, t1;

	if (offset_us != NULL)
		*offset_us = 0;
	if (pg == NULL || offset_us == NULL)
		return CM_EINVAL;
	if ((st = ready(pg)) != CM_OK)
		return st;
	t0 = wall_us();
	res = PQexecParams(pg->conn, "SELECT (extract(epoch FROM "
	    "clock_timestamp()) * 1000000)::bigint", 0, NULL, NULL, NULL,
	    NULL, 1);
	t1 = wall_us();
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    PQgetlength(res, 0, 0) != 8)
		st = cm_pg_fail(pg, "clock", res);
	else
		*offset_us = t0 + (t1 - t0) / 2 - get_be64(PQgetvalue(res, 0,
		    0));
	PQclear(res);
	return st;
}

cm_status
cm_pg_stored_after(cm_pg *pg, int64_t after, int64_t *stored_us)
{
	static const Oid types[1] = { OID_INT8 };
	static const int fmts[1] = { 1 }, lens[1] = { 8 };
	unsigned char p0[8];
	const char *vals[1] = { (const char *)p0 };
	PGresult *res;
	cm_status st;

	if (stored_us != NULL)
		*stored_us = 0;
	if (pg == NULL || stored_us == NULL)
		return CM_EINVAL;
	if ((st = ready(pg)) != CM_OK)
		return st;
	put_be64(p0, after);
	res = PQexecParams(pg->conn, "SELECT stored_us FROM consent_events "
	    "WHERE id > $1 ORDER BY id LIMIT 1", 1, types, vals, lens, fmts,
	    1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		st = cm_pg_fail(pg, "stored after", res);
	else if (PQntuples(res) == 1 && PQgetlength(res, 0, 0) == 8)
		*stored_us = get_be64(PQgetvalue(res, 0, 0));
	PQclear(res);
	return st;
}
