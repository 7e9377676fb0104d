/*
 * db.h - the daemon's one handle on the consent index (prefix cm_db_).
 *
 * The index is opened once per process (LMDB's rule), read-only, after
 * privileges are dropped and after any fork, and stays open until
 * cm_db_close() at exit.  Lookups that fail later (I/O error, corrupt
 * record) are errors of the lookup, turned by the filter into the
 * configured on_error action.
 */
#ifndef CM_DB_H
#define CM_DB_H

#include <stddef.h>

#include "../core/index.h"

/* Open the index in DIR read-only; CM_OK or the cm_index_open status. */
cm_status cm_db_open(const char *dir, size_t map_size, unsigned max_readers);

/* The open index, or NULL before cm_db_open / after cm_db_close. */
cm_index *cm_db_get(void);

void cm_db_close(void);

#endif
