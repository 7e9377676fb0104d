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
 * earlier event stored under its AKEY and stores the erase event with no
 * address (AKEY only): the shared store then holds only the keyed-hash
 * tombstone.
 *
 * Every call returns CM_OK or a cm_status; CM_EUPSTREAM when the server
 * cannot be reached or refuses (cm_pg_error says what it said), CM_EFORMAT
 * when the schema is missing or of another version (run `consentctl
 * upstream init`).  One cm_pg per thread.
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
 * Connect with libpq connection string CONNINFO; PASSWORD_FILE, if not
 * NULL, holds the password (its first line; the file must not be
 * readable by others), else libpq's usual means apply (~/.pgpass,
 * PGPASSWORD, ...).  Does not check the schema.
 */
cm_status cm_pg_open(const char *conninfo, const char *password_file,
    cm_pg **out);
void cm_pg_close(cm_pg *pg);
/* What the server or libpq said about the last failure; never NULL. */
const char *cm_pg_error(const cm_pg *pg);

/* With CREATE, create or upgrade the schema (idempotent); without, check
 * it (CM_EFORMAT if missing or of another version).  *VERSION: the
 * schema version now. */
cm_status cm_pg_schema(cm_pg *pg, bool create, int *version);

/* Store EVS[0..N) in one transaction (all or nothing); an event whose
 * UUID is stored already is skipped (counted out of *STORED). */
cm_status cm_pg_push(cm_pg *pg, const cm_upevent *evs, size_t n,
    size_t *stored);

/* Events after id AFTER, in id order, at most LIMIT, to CB (the event is
 * valid during the call; CB returns non-zero to stop).  *LAST: the id of
 * the last event passed (AFTER if none). */
typedef int (*cm_pg_event_cb)(const cm_upevent *ev, void *arg);
cm_status cm_pg_fetch(cm_pg *pg, int64_t after, size_t limit,
    cm_pg_event_cb cb, void *arg, int64_t *last);

/* Every event of one consistent snapshot, in id order (a new node's
 * bootstrap); *UPTO: the greatest id in it. */
cm_status cm_pg_snapshot(cm_pg *pg, cm_pg_event_cb cb, void *arg,
    int64_t *upto);

/* The greatest id and its stored time (0, 0 for an empty store). */
cm_status cm_pg_head(cm_pg *pg, int64_t *id, int64_t *stored_us);

/* Wait up to TIMEOUT_MS for a push's notification (LISTEN on the first
 * call).  CM_OK: notified; CM_NOTFOUND: timed out; CM_EUPSTREAM. */
cm_status cm_pg_wait(cm_pg *pg, int timeout_ms);

#endif
