/*
 * pgstore.h - the shared consent store on PostgreSQL (prefix cm_pg_).
 * The only module that links libpq; consentctl uses it, the milter never
 * does (a mail decision never waits on the network).
 *
 * Schema (created and upgraded by cm_pg_schema, versioned in a table of
 * its own): one append-only table of events (upevent.h) with a bigserial
 * id, the event's columns, its origin node and the time it was stored;
 * a unique index on the UUID; an index on AKEY.  Pushes are serialized
 * (a transaction-scoped advisory lock taken before the insert), so ids
 * become visible in increasing order and a follower reading "every event
 * after id N" never skips one committed late.  Every push NOTIFYs the
 * channel followers LISTEN on.
 *
 * Erasure: pushing a CM_EV_ERASE deletes, in the same transaction, every
 * event stored under its AKEY before it (log order, whatever their
 * at_us: a grant dated after the erasure but stored before it goes too,
 * as it does on every node applying the log in order) and stores the
 * erase event with no address (AKEY only): the shared store then holds
 * only the keyed-hash tombstone.  An event pushed later that
 * is not newer than a stored erasure of its AKEY is skipped like a
 * duplicate (on a node it would change nothing; stored, it would bring
 * the address back).  A grant newer than the erasure, pushed after it,
 * is kept, as a node keeps it.
 *
 * Every call returns CM_OK or a cm_status; CM_EUPSTREAM when the server
 * cannot be reached or refuses (cm_pg_error says what it said), CM_EFORMAT
 * when the schema is missing or of another version (run `consentctl
 * upstream init`).  cm_pg_error never holds an address.  A connection
 * that was lost is made again by the next call (prepared statements and
 * LISTEN renewed; the call that found it lost returned CM_EUPSTREAM).
 * One cm_pg per thread.  The schema itself: upstream/pgschema.c.
 */
#ifndef CM_PGSTORE_H
#define CM_PGSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/upevent.h"

typedef struct cm_pg cm_pg;

/*
 * Connect with libpq connection string CONNINFO (key=value pairs, a
 * postgresql:// URI or a database name; NULL = libpq's defaults);
 * connect_timeout is 5 seconds unless CONNINFO or PGCONNECT_TIMEOUT
 * says; TCP keepalives (30 s idle, 3 probes 10 s apart) and a
 * tcp_user_timeout of 60 s unless CONNINFO says, so a server gone
 * without closing the connection is noticed within about a minute.
 * Every statement waits at most 10 s for a lock (lock_timeout: the push
 * lock another node holds) and runs at most 60 s (statement_timeout),
 * unless the role, the database or CONNINFO's options set their own
 * (then those apply); past them the call fails with CM_EUPSTREAM.
 * PASSWORD_FILE, if not NULL, holds the password (its first line; a
 * regular file that group and others may not access, as libpq wants
 * of ~/.pgpass), else libpq's usual means apply (~/.pgpass, PGPASSWORD,
 * ...).  Does not check the schema.
 *
 * *OUT is set on failure too (except CM_ENOMEM before the handle exists,
 * and CM_EINVAL for OUT NULL): cm_pg_error(*OUT) says why; cm_pg_close
 * it either way.  After CM_EUPSTREAM (server down) the handle may be kept:
 * each later call tries to connect again.  Errors: CM_EUPSTREAM (bad
 * connection string, server unreachable, authentication refused),
 * CM_EPERM (password file accessible by group or others, or not
 * readable), CM_NOTFOUND (no password file), CM_EINVAL (not a regular
 * file, empty first line), CM_ETOOLONG (first line over 1024 octets),
 * CM_EIO, CM_ENOMEM.
 */
cm_status cm_pg_open(const char *conninfo, const char *password_file,
    cm_pg **out);
void cm_pg_close(cm_pg *pg);
/* What the server or libpq said about the last failure, one line; never
 * NULL (PG NULL: "out of memory"). */
const char *cm_pg_error(const cm_pg *pg);
/* The connection's socket, or -1 (none, PG NULL): a signal handler may
 * shutdown(2) it to end a call blocked on the server at once (the call
 * fails with CM_EUPSTREAM; the server rolls its transaction back); the
 * socket changes when a call connects again. */
int cm_pg_socket(const cm_pg *pg);

/* With CREATE, create or upgrade the schema (idempotent); without, check
 * it (CM_EFORMAT if missing or of another version).  *VERSION: the
 * schema version now. */
cm_status cm_pg_schema(cm_pg *pg, bool create, int *version);

/* The length of a key fingerprint (cm_pg_key_check). */
#define CM_PG_KEY_CHECK_LEN 16

/*
 * Check that this node's erasure key is the one of the store's other
 * nodes: FP (CM_PG_KEY_CHECK_LEN octets) is a fingerprint of the key
 * (the first 16 octets of HMAC-SHA-256 under the erasure key of
 * "consent-milter upstream key check"), compared with the one stored
 * in the schema; the first node to call it (`upstream init` on a node
 * with an index, else the first connect) stores its own.  CM_OK;
 * CM_EINVAL (another key: cm_pg_error says what to do), CM_EFORMAT (no
 * schema of this version), CM_EUPSTREAM.
 */
cm_status cm_pg_key_check(cm_pg *pg, const unsigned char *fp);

/* Store EVS[0..N) in one transaction (all or nothing); an event whose
 * UUID is stored already, or that an erasure supersedes (above), is
 * skipped (counted out of *STORED, which may be NULL).  An opt-out dated
 * after the server's clock is stored dated by it (pgschema.c).  NOTIFYs when
 * anything was stored.  CM_EINVAL (nothing sent) for an event with an
 * unknown kind or state, an origin that is not a node name, at_us 0, no
 * address (but ERASE), an all-zero AKEY (but the domain events) or a
 * field over CM_FIELD_MAX; cm_pg_error names it by position. */
cm_status cm_pg_push(cm_pg *pg, const cm_upevent *evs, size_t n,
    size_t *stored);

/* Events after id AFTER, in id order, at most LIMIT, to CB (the event
 * and its strings are valid during the call only; CB returns non-zero
 * to stop: that event does not count as passed, and the call returns
 * CM_OK).  *LAST: the id of the last event CB took (AFTER if none).
 * Read in batches of at most some thousand rows and some MiB of text. */
typedef int (*cm_pg_event_cb)(const cm_upevent *ev, void *arg);
cm_status cm_pg_fetch(cm_pg *pg, int64_t after, size_t limit,
    cm_pg_event_cb cb, void *arg, int64_t *last);

/* Every event of one consistent snapshot (a REPEATABLE READ READ ONLY
 * transaction read through a cursor, some thousand rows at a time), in
 * id order (a new node's bootstrap); *UPTO: the greatest id in it (0 for
 * an empty store), or, when CB stopped, that of the last event it took;
 * follow with cm_pg_fetch after *UPTO. */
cm_status cm_pg_snapshot(cm_pg *pg, cm_pg_event_cb cb, void *arg,
    int64_t *upto);

/* *OFFSET_US = this host's clock minus the server's (positive: this
 * host runs ahead), measured around one round trip (its half is the
 * uncertainty).  CM_OK, CM_EUPSTREAM. */
cm_status cm_pg_clock_offset(cm_pg *pg, int64_t *offset_us);

/* *STORED_US = the stored time of the first event after id AFTER (0
 * when there is none).  CM_OK, CM_EUPSTREAM. */
cm_status cm_pg_stored_after(cm_pg *pg, int64_t after, int64_t *stored_us);

/* The greatest id and its stored time (0, 0 for an empty store). */
cm_status cm_pg_head(cm_pg *pg, int64_t *id, int64_t *stored_us);

/* Wait up to TIMEOUT_MS for a push's notification (LISTEN on the first
 * call; pushes between that and the LISTEN are not announced: fetch
 * after the first wait).  CM_OK: notified, or connected again (missed
 * notifications: fetch); CM_NOTFOUND: timed out; CM_EUPSTREAM. */
cm_status cm_pg_wait(cm_pg *pg, int timeout_ms);

#endif
