/*
 * wlock.h - the writer lock of an index directory (prefix cm_wlock_).
 *
 * LMDB serializes write transactions, but not what a writer does around
 * them: opening the environment (which, with MDB_WRITEMAP, truncates
 * data.mdb to the map size the opener believes in) and resizing the map.
 * Two writer processes that open one index at once can so cut off pages
 * the other has just written.  Every opener that may write therefore
 * takes this lock before it opens the environment and keeps it until it
 * has closed it: one writer process per index at a time.  Readers never
 * take it, so they never wait for a writer.
 *
 * The lock is flock(2) LOCK_EX on the file "writer.lock" in the index
 * directory (created mode 0600 if missing, never removed).  The kernel
 * drops it when the process ends, whatever the way (kill -9 included).
 * It is held by the open file description: two handles in one process
 * exclude each other as two processes do.  If the lock file is replaced
 * (the directory removed and created again) while an opener waits, the
 * lock is taken on the new file.
 */
#ifndef CM_WLOCK_H
#define CM_WLOCK_H

#include <stdbool.h>

#include "status.h"

#define CM_WLOCK_FILE "writer.lock"

typedef struct cm_wlock cm_wlock;

/*
 * Take the writer lock of directory DIR (which must exist) into *OUT.
 * WAIT: block until the holder lets go; else fail at once.  Returns
 * CM_OK, CM_EBUSY (another writer holds it and not WAIT), CM_NOTFOUND
 * (no such directory), CM_EPERM (the lock file cannot be opened or
 * created), CM_EIO, CM_ENOMEM, CM_EINVAL.
 */
cm_status cm_wlock_acquire(const char *dir, bool wait, cm_wlock **out);

/* Release the lock and free L (NULL is ignored). */
void cm_wlock_release(cm_wlock *l);

#endif
