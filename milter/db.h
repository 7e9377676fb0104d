/*
 * db.h - the daemon's handle on the consent index (prefix cm_db_).
 *
 * The index is opened read-only, after privileges are dropped and after
 * any fork (LMDB's rule: one environment per file and process).  The
 * daemon never takes the writer lock, so it never waits for consentctl.
 *
 * A watcher thread checks about once a second whether DIR/data.mdb is
 * still the file the handle reads (a process keeps reading a removed or
 * replaced data.mdb; LMDB does not notice).  If it was replaced, the
 * handle is closed and the new file opened ("index replaced, reopened");
 * if it is gone or cannot be opened, there is no handle and every
 * lookup fails until it is back ("index missing, deferring
 * newsletters"), which the filter turns into the on_error action.
 *
 * Lookups hold the handle through cm_db_acquire/cm_db_release (the read
 * side of a lock); the switch takes the write side, so a lookup in
 * flight finishes on the old handle, the old handle is closed once none
 * uses it, and the new one is opened before the next lookup proceeds:
 * never two environments at once.
 */
#ifndef CM_DB_H
#define CM_DB_H

#include <stddef.h>

#include "../core/index.h"

/* Open the index in DIR read-only and start the watcher; CM_OK or the
 * cm_index_open status (nothing started then). */
cm_status cm_db_open(const char *dir, size_t map_size, unsigned max_readers);

/*
 * The index for one lookup, or NULL when there is none (missing, not
 * openable, before cm_db_open, after cm_db_close).  A non-NULL handle is
 * valid until cm_db_release(IDX), which must follow soon, on the same
 * thread, with no other cm_db_acquire in between.
 */
cm_index *cm_db_acquire(void);
/* Let go of a handle from cm_db_acquire (NULL is ignored). */
void cm_db_release(cm_index *idx);

/* Stop the watcher and close the index. */
void cm_db_close(void);

#endif
