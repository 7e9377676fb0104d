/*
 * pgschema.c - the schema of the shared consent store on PostgreSQL:
 * created, upgraded and checked (cm_pg_schema, pgstore.h).
 *
 * SCHEMA, version 2
 * =================
 *
 * In the first schema of the connection's search_path (usually
 * "public"; set it with options='-c search_path=...' in the conninfo):
 *
 * consent_schema   one row: the schema version (2) and when it was
 *                  last created or upgraded; (version 2) key_check,
 *                  bytea (16 octets) or NULL: the fingerprint of the
 *                  erasure key all nodes share (cm_pg_key_check), set
 *                  by the first node that connects with one.
 * consent_events   the append-only log of events (core/upevent.h):
 *     id         bigserial primary key: the position of the sync feed
 *                (followers read "id > N ORDER BY id")
 *     uuid       uuid, unique: made at the origin; a second push of the
 *                same event stores nothing
 *     kind       text: cm_event_kind_name ("grant", ..., "erase")
 *     addr       text: the normalized address or domain; NULL exactly
 *                for "erase" (the store keeps no address of an erased
 *                person)
 *     akey       bytea (16 octets), indexed: AKEY of the address under
 *                the shared erasure key; all zero for domain events
 *     type, state, at_us, source, basis, purpose, evidence, actor:
 *                the event (state as cm_state_name; at_us never 0)
 *     origin     text: the node that made the change
 *     stored_us  bigint, default the server's clock when stored
 *     (version 2) addr, type, source, basis, purpose, evidence and
 *     actor at most 1024 octets, origin at most 64 (CHECK): a row is
 *     at most some 8 KiB, whoever writes it
 * consent_push(...)  a PL/pgSQL function, the only writer: it takes the
 *                push lock (pg_advisory_xact_lock), so ids become
 *                visible in increasing order; skips an event not newer
 *                than a stored erasure of its AKEY (it would change
 *                nothing on a node and would store the address again;
 *                an erasure pushed again is such an event) and one whose
 *                UUID is stored (ON CONFLICT); for "erase" deletes every
 *                event of its AKEY stored before it (version 1: only
 *                those not newer than it), then stores it without
 *                address.  Version 2: an opt-out (withdraw, object,
 *                erase, suppress-domain, or any event of state
 *                withdrawn) dated after the server's clock is stored
 *                dated now (a node whose clock runs ahead would make
 *                it outrank a later grant for good); nothing is ever
 *                refused for its time (a refused push would block the
 *                outbox).  Returns whether it stored the event.
 * consent_push_many(arrays of the same 13 parameters)  consent_push for
 *                each event in array order (one round trip for many
 *                events); returns how many it stored.
 *
 * What an erasure cannot reach: like any database, PostgreSQL keeps the
 * bytes of deleted rows in its data files until VACUUM (autovacuum)
 * reuses their space, and in its WAL, WAL archive, replicas' WAL and
 * backups until they age out.  The rows themselves, every query and
 * pg_dump hold no address of an erased person from the commit on.
 *
 * Upgrades: each version's steps run once, in order, in one
 * transaction holding the schema lock; the version row says which ran.
 * A store of a newer version than this code knows is refused
 * (CM_EFORMAT), never changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "pgstore.h"

static const char schema_table[] =
"CREATE TABLE IF NOT EXISTS consent_schema ("
" one boolean PRIMARY KEY DEFAULT true CHECK (one),"
" version integer NOT NULL,"
" upgraded_at timestamptz NOT NULL DEFAULT now())";

/* Version 1: the event log and its writer. */
static const char schema_v1[] =
"CREATE TABLE consent_events ("
" id bigserial PRIMARY KEY,"
" uuid uuid NOT NULL UNIQUE,"
" kind text NOT NULL CHECK (kind IN ('grant', 'confirm', 'withdraw',"
"  'object', 'update', 'suppress-domain', 'unsuppress-domain', 'erase')),"
" addr text CHECK ((kind = 'erase') = (addr IS NULL)),"
" akey bytea NOT NULL CHECK (octet_length(akey) = 16),"
" type text,"
" state text NOT NULL CHECK (state IN ('none', 'pending', 'granted',"
"  'withdrawn')),"
" at_us bigint NOT NULL CHECK (at_us <> 0),"
" source text, basis text, purpose text, evidence text, actor text,"
" origin text NOT NULL,"
" stored_us bigint NOT NULL"
"  DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);\n"
"CREATE INDEX consent_events_akey ON consent_events (akey);\n"
"COMMENT ON TABLE consent_events IS 'consent-milter: the shared log of "
"consent events (append-only; an erasure deletes the earlier events of "
"its akey)';\n"
"CREATE FUNCTION consent_push(p_uuid uuid, p_kind text, p_addr text,"
" p_akey bytea, p_type text, p_state text, p_at bigint, p_source text,"
" p_basis text, p_purpose text, p_evidence text, p_actor text,"
" p_origin text) RETURNS boolean LANGUAGE plpgsql AS $f$\n"
"BEGIN\n"
"  PERFORM pg_advisory_xact_lock(" CM_PG_LOCK_PUSH ");\n"
"  IF p_akey <> '\\x00000000000000000000000000000000'::bytea AND EXISTS\n"
"      (SELECT 1 FROM consent_events WHERE akey = p_akey\n"
"       AND kind = 'erase' AND at_us >= p_at) THEN\n"
"    RETURN false;\n"
"  END IF;\n"
"  IF p_kind = 'erase' THEN\n"
"    DELETE FROM consent_events WHERE akey = p_akey AND at_us <= p_at;\n"
"    p_addr := NULL;\n"
"  END IF;\n"
"  INSERT INTO consent_events (uuid, kind, addr, akey, type, state, at_us,"
"   source, basis, purpose, evidence, actor, origin)\n"
"   VALUES (p_uuid, p_kind, p_addr, p_akey, p_type, p_state, p_at,"
"   p_source, p_basis, p_purpose, p_evidence, p_actor, p_origin)\n"
"   ON CONFLICT (uuid) DO NOTHING;\n"
"  RETURN FOUND;\n"
"END\n"
"$f$;\n"
"CREATE FUNCTION consent_push_many(p_uuid uuid[], p_kind text[],"
" p_addr text[], p_akey bytea[], p_type text[], p_state text[],"
" p_at bigint[], p_source text[], p_basis text[], p_purpose text[],"
" p_evidence text[], p_actor text[], p_origin text[]) RETURNS bigint"
" LANGUAGE plpgsql AS $f$\n"
"DECLARE\n"
"  r record;\n"
"  n bigint := 0;\n"
"BEGIN\n"
"  FOR r IN SELECT * FROM unnest(p_uuid, p_kind, p_addr, p_akey, p_type,"
"   p_state, p_at, p_source, p_basis, p_purpose, p_evidence, p_actor,"
"   p_origin) WITH ORDINALITY AS u(uuid, kind, addr, akey, type, state,"
"   at_us, source, basis, purpose, evidence, actor, origin, ord)"
"   ORDER BY ord LOOP\n"
"    IF consent_push(r.uuid, r.kind, r.addr, r.akey, r.type, r.state,"
"     r.at_us, r.source, r.basis, r.purpose, r.evidence, r.actor,"
"     r.origin) THEN\n"
"      n := n + 1;\n"
"    END IF;\n"
"  END LOOP;\n"
"  RETURN n;\n"
"END\n"
"$f$";

/* Version 2: every text field bounded (a peer holding the store's
 * credentials could otherwise store rows that exhaust a follower's
 * memory).  An upgrade fails, changing nothing, if a stored row is over
 * a bound. */
static const char schema_v2[] =
"ALTER TABLE consent_events ADD CONSTRAINT consent_events_lengths CHECK ("
" octet_length(addr) <= 1024 AND octet_length(type) <= 1024 AND"
" octet_length(source) <= 1024 AND octet_length(basis) <= 1024 AND"
" octet_length(purpose) <= 1024 AND octet_length(evidence) <= 1024 AND"
" octet_length(actor) <= 1024 AND octet_length(origin) <= 64);\n"
/* the fingerprint of the nodes' shared erasure key (cm_pg_key_check) */
"ALTER TABLE consent_schema ADD COLUMN IF NOT EXISTS key_check bytea"
" CHECK (octet_length(key_check) = 16);\n"
/* an erasure deletes every event of its akey stored before it (log
 * order), whatever its time: nodes apply the log in order, so what an
 * erasure follows it wipes on every node too */
"CREATE OR REPLACE FUNCTION consent_push(p_uuid uuid, p_kind text,"
" p_addr text, p_akey bytea, p_type text, p_state text, p_at bigint,"
" p_source text, p_basis text, p_purpose text, p_evidence text,"
" p_actor text, p_origin text) RETURNS boolean LANGUAGE plpgsql AS $f$\n"
"BEGIN\n"
"  PERFORM pg_advisory_xact_lock(" CM_PG_LOCK_PUSH ");\n"
"  IF p_kind IN ('withdraw', 'object', 'erase', 'suppress-domain')"
"   OR p_state = 'withdrawn' THEN\n"
"    p_at := least(p_at,"
" (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);\n"
"  END IF;\n"
"  IF p_akey <> '\\x00000000000000000000000000000000'::bytea AND EXISTS\n"
"      (SELECT 1 FROM consent_events WHERE akey = p_akey\n"
"       AND kind = 'erase' AND at_us >= p_at) THEN\n"
"    RETURN false;\n"
"  END IF;\n"
"  IF p_kind = 'erase' THEN\n"
"    DELETE FROM consent_events WHERE akey = p_akey;\n"
"    p_addr := NULL;\n"
"  END IF;\n"
"  INSERT INTO consent_events (uuid, kind, addr, akey, type, state, at_us,"
"   source, basis, purpose, evidence, actor, origin)\n"
"   VALUES (p_uuid, p_kind, p_addr, p_akey, p_type, p_state, p_at,"
"   p_source, p_basis, p_purpose, p_evidence, p_actor, p_origin)\n"
"   ON CONFLICT (uuid) DO NOTHING;\n"
"  RETURN FOUND;\n"
"END\n"
"$f$";

static const char *const steps[CM_PG_SCHEMA_VERSION] = { schema_v1,
    schema_v2 };

static const char check_sql[] =
"SELECT version, to_regclass('consent_events') IS NOT NULL,"
" to_regprocedure('consent_push(uuid,text,text,bytea,text,text,bigint,"
"text,text,text,text,text,text)') IS NOT NULL AND"
" to_regprocedure('consent_push_many(uuid[],text[],text[],bytea[],text[],"
"text[],bigint[],text[],text[],text[],text[],text[],text[])') IS NOT NULL"
" FROM consent_schema";

/* The version row of the store, and whether its objects exist: CM_OK
 * (*VERSION 0 when there is no row), CM_NOTFOUND (no consent_schema
 * table), CM_EUPSTREAM. */
static cm_status
read_version(struct cm_pg *pg, int *version, bool *complete)
{
	PGresult *res;
	cm_status st = CM_OK;
	const char *state;

	*version = 0;
	*complete = false;
	res = PQexec(pg->conn, check_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state != NULL && strcmp(state, "42P01") == 0)
			st = CM_NOTFOUND;
		else
			st = cm_pg_fail(pg, "schema", res);
		PQclear(res);
		return st;
	}
	if (PQntuples(res) == 1) {
		*version = atoi(PQgetvalue(res, 0, 0));
		*complete = strcmp(PQgetvalue(res, 0, 1), "t") == 0 &&
		    strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	}
	PQclear(res);
	return st;
}

cm_status
cm_pg_schema_check(struct cm_pg *pg, int *version)
{
	bool complete;
	cm_status st;

	st = read_version(pg, version, &complete);
	if (st == CM_NOTFOUND || (st == CM_OK && *version == 0))
		return cm_pg_failf(pg, CM_EFORMAT, "schema: the shared store "
		    "has no consent schema (run 'consentctl upstream init')");
	if (st != CM_OK)
		return st;
	if (*version != CM_PG_SCHEMA_VERSION)
		return cm_pg_failf(pg, CM_EFORMAT, "schema: the shared store's "
		    "schema is version %d, this program uses version %d%s",
		    *version, CM_PG_SCHEMA_VERSION,
		    *version < CM_PG_SCHEMA_VERSION ?
		    " (run 'consentctl upstream init' to upgrade it)" :
		    " (upgrade consent-milter)");
	if (!complete)
		return cm_pg_failf(pg, CM_EFORMAT, "schema: consent_events or "
		    "consent_push is missing although the version row says %d",
		    *version);
	return CM_OK;
}

static cm_status
schema_create(struct cm_pg *pg, int *version)
{
	char sql[256];
	bool complete;
	cm_status st;
	int v;

	if ((st = cm_pg_exec(pg, "BEGIN; " CM_PG_TIMEOUTS("true"),
	    "schema")) != CM_OK)
		return st;
	st = cm_pg_exec(pg, "SELECT pg_advisory_xact_lock("
	    CM_PG_LOCK_SCHEMA ")", "schema lock");
	if (st == CM_OK)
		st = cm_pg_exec(pg, schema_table, "create consent_schema");
	if (st == CM_OK)
		st = read_version(pg, &v, &complete);
	if (st == CM_OK && v > CM_PG_SCHEMA_VERSION)
		st = cm_pg_failf(pg, CM_EFORMAT, "schema: the shared store's "
		    "schema is version %d, newer than this program's %d "
		    "(upgrade consent-milter); nothing changed", v,
		    CM_PG_SCHEMA_VERSION);
	if (st == CM_OK && v < 0)
		st = cm_pg_failf(pg, CM_EFORMAT, "schema: version %d in "
		    "consent_schema is not valid", v);
	for (; st == CM_OK && v < CM_PG_SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "upgrade to schema version %d",
		    v + 1);
		st = cm_pg_exec(pg, steps[v], sql);
	}
	if (st == CM_OK) {
		snprintf(sql, sizeof(sql), "INSERT INTO consent_schema "
		    "(version) VALUES (%d) ON CONFLICT (one) DO UPDATE SET "
		    "version = EXCLUDED.version, upgraded_at = now() WHERE "
		    "consent_schema.version <> EXCLUDED.version", v);
		st = cm_pg_exec(pg, sql, "schema version");
	}
	if (st == CM_OK)
		st = cm_pg_exec(pg, "COMMIT", "schema commit");
	if (st != CM_OK) {
		cm_pg_rollback(pg);
		return st;
	}
	return cm_pg_schema_check(pg, version);
}

cm_status
cm_pg_schema(cm_pg *pg, bool create, int *version)
{
	int v = 0;
	cm_status st;

	if (pg == NULL)
		return CM_EINVAL;
	if ((st = cm_pg_connected(pg)) != CM_OK)
		return st;
	st = create ? schema_create(pg, &v) : cm_pg_schema_check(pg, &v);
	if (version != NULL)
		*version = v;
	return st;
}

cm_status
cm_pg_key_check(cm_pg *pg, const unsigned char *fp)
{
	static const Oid types[1] = { 17 /* bytea */ };
	static const int fmts[1] = { 1 };
	const int lens[1] = { CM_PG_KEY_CHECK_LEN };
	const char *vals[1] = { (const char *)fp };
	PGresult *res;
	cm_status st = CM_OK;
	bool same = false, unset = true;

	if (pg == NULL || fp == NULL)
		return CM_EINVAL;
	if ((st = cm_pg_connected(pg)) != CM_OK)
		return st;
	/* set it when unset (the first node); a node racing another for
	 * that sees NULL once (the other's update is after its snapshot):
	 * read again */
	for (int i = 0; i < 2 && st == CM_OK && unset; i++) {
		res = PQexecParams(pg->conn, "WITH u AS (UPDATE consent_schema "
		    "SET key_check = $1 WHERE key_check IS NULL RETURNING "
		    "key_check) SELECT coalesce((SELECT key_check FROM u), "
		    "(SELECT key_check FROM consent_schema)) = $1, "
		    "coalesce((SELECT key_check FROM u), (SELECT key_check "
		    "FROM consent_schema)) IS NULL", 1, types, vals, lens,
		    fmts, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK ||
		    PQntuples(res) != 1) {
			st = cm_pg_fail(pg, "key check", res);
		} else {
			unset = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
			same = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		}
		PQclear(res);
	}
	if (st != CM_OK)
		return st;
	if (unset)
		return cm_pg_failf(pg, CM_EUPSTREAM, "key check: the store's "
		    "key fingerprint could not be set");
	if (!same)
		return cm_pg_failf(pg, CM_EINVAL, "key check: this node's "
		    "erasure.key is not the one the shared store's nodes use: "
		    "its address keys would differ and erasures would be "
		    "missed; copy erasure.key from a node of the store and "
		    "make this index again (see \"One key for all nodes\")");
	return CM_OK;
}
