/*
 * pg_int.h - what pgstore.c and pgschema.c share (prefix cm_pg_): the
 * handle, the error text and the schema's names.  Internal to upstream/.
 */
#ifndef CM_PG_INT_H
#define CM_PG_INT_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "core/status.h"

/* The schema version this code reads and writes (pgschema.c). */
#define CM_PG_SCHEMA_VERSION 2
/* The channel every push NOTIFYs and followers LISTEN on. */
#define CM_PG_CHANNEL "consent_events"
/* pg_advisory_xact_lock keys: pushes ("cm-push"), schema changes
 * ("cm-schm"), as 64-bit integers. */
#define CM_PG_LOCK_PUSH "7164225788999873648"
#define CM_PG_LOCK_SCHEMA "7164225789167085933"

/* The bounds of a wait for a lock (the push lock, a row) and of a
 * statement, unless the role, the database or the conninfo's options set
 * their own: a stalled or partitioned peer holding the push lock, or a
 * hung server, makes a call fail (CM_EUPSTREAM) instead of blocking a
 * command or the sync service for good.  SQL setting them, for the
 * session (false) or the transaction (true). */
#define CM_PG_LOCK_TIMEOUT "10s"
#define CM_PG_STATEMENT_TIMEOUT "60s"
#define CM_PG_TIMEOUTS(local) \
	"SELECT set_config('lock_timeout', CASE current_setting(" \
	"'lock_timeout') WHEN '0' THEN '" CM_PG_LOCK_TIMEOUT "' ELSE " \
	"current_setting('lock_timeout') END, " local "), " \
	"set_config('statement_timeout', CASE current_setting(" \
	"'statement_timeout') WHEN '0' THEN '" CM_PG_STATEMENT_TIMEOUT \
	"' ELSE current_setting('statement_timeout') END, " local ")"

struct cm_pg {
	PGconn *conn;		/* NULL when the conninfo or password was bad */
	bool ready;		/* schema checked, statements prepared */
	bool listening;		/* LISTEN issued on this connection */
	bool reconnected;	/* connected again since the last wait */
	char err[512];
};

/*
 * Record the failure of WHAT in PG->err: RES's error (if not NULL) or the
 * connection's, one line, with WHAT in front.  Returns the status it
 * maps to: CM_EFORMAT when the schema's table or function is missing
 * (then the text says to run `consentctl upstream init`), else
 * CM_EUPSTREAM.  Server texts are of terse verbosity (no DETAIL, which
 * may quote a row and with it an address).
 */
cm_status cm_pg_fail(struct cm_pg *pg, const char *what, const PGresult *res);

/* Record a failure of WHAT described by FMT in PG->err; returns ST. */
cm_status cm_pg_failf(struct cm_pg *pg, cm_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Make sure PG is connected: a connection that was lost is made again
 * (PG->ready and PG->listening cleared, PG->reconnected set).  CM_OK or
 * CM_EUPSTREAM (PG->err says why). */
cm_status cm_pg_connected(struct cm_pg *pg);

/* Run SQL (no parameters, no rows expected); CM_OK or cm_pg_fail(WHAT). */
cm_status cm_pg_exec(struct cm_pg *pg, const char *sql, const char *what);

/* Roll back an open transaction, if any (after a failure). */
void cm_pg_rollback(struct cm_pg *pg);

/* The schema's version on PG's connection, checked against
 * CM_PG_SCHEMA_VERSION (pgschema.c): CM_OK, CM_EFORMAT (missing,
 * incomplete or another version), CM_EUPSTREAM. */
cm_status cm_pg_schema_check(struct cm_pg *pg, int *version);

#endif
