/*
 * store.h - the LMDB environment of a consent index (prefix cm_store_).
 *
 * Opening the environment and its named databases, the map size and its
 * growth, the pool of read transactions, write transactions with their
 * retry loop, and the one recovery function for what LMDB asks its
 * caller to repair (MDB_MAP_FULL: grow the map; MDB_MAP_RESIZED: adopt
 * another process's map size; MDB_READERS_FULL: clear the slots of dead
 * processes).  Knows nothing of the values (codec.h).
 *
 * Errors: every failing function returns a cm_status and records the
 * LMDB (or errno) code beside a text naming what failed, in a record
 * private to the calling thread (cm_store_last_error): no buffer is
 * shared between threads.  MDB_MAP_FULL inside a write transaction is
 * CM_EFULL (cm_store_write grows the map and runs the transaction
 * again).  Private to core/.
 */
#ifndef CM_STORE_H
#define CM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "dcache.h"
#include "status.h"

typedef struct cm_store cm_store;

/* A pooled read transaction: the snapshot and the suppressed-domain
 * cache that belongs to it (dcache.h; NULL until first used). */
typedef struct cm_rtxn {
	MDB_txn *txn;
	cm_dcache *dc;
} cm_rtxn;

/* The named databases, in the order of index_int.h's cm_rawdb. */
typedef enum cm_store_db {
	CM_STORE_META = 0,
	CM_STORE_INDEX,
	CM_STORE_HISTORY
} cm_store_db;

typedef struct cm_store_opts {
	size_t map_size;	/* of a new environment */
	unsigned max_readers;
	bool readonly;
	bool create;		/* create data.mdb if missing */
	bool bulk;		/* MDB_WRITEMAP */
	bool no_wait;		/* fail (CM_EBUSY) if another writer holds
				 * the index, instead of waiting */
} cm_store_opts;

/*
 * First half of opening: take the writer lock of DIR (unless readonly,
 * wlock.h) and see whether DIR/data.mdb exists (*EXISTS).  Nothing of the
 * environment is opened yet.  CM_OK with *OUT; CM_EINVAL (DIR not a
 * directory), CM_NOTFOUND (no data.mdb and !create), CM_EPERM, CM_EBUSY,
 * CM_ENOMEM, CM_EIO.
 */
cm_status cm_store_new(const char *dir, const cm_store_opts *o,
    bool *exists, cm_store **out);

/* Called inside the transaction that opens the databases, before it
 * commits: checks (or, with INIT, writes) "meta".  Returns a status. */
typedef cm_status (*cm_store_check_fn)(cm_store *s, MDB_txn *txn,
    bool init, void *arg);

/*
 * Second half: open the environment of S and its databases "meta",
 * "index" and "history" (the latter two with cm_codec_key_cmp's order),
 * creating them with INIT (a new index), and call CHECK before the
 * opening transaction commits.  CM_OK; CM_EPERM, CM_NOTFOUND, CM_EFORMAT (not an LMDB file or
 * not a consent index), CM_EDB, or CHECK's status.
 */
cm_status cm_store_open(cm_store *s, bool init, cm_store_check_fn check,
    void *arg);

/* Close S (NULL is allowed): the pool, the environment, then the writer
 * lock. */
void cm_store_close(cm_store *s);

/* The environment, a named database, the directory, and the modes S was
 * opened in. */
MDB_env *cm_store_env(const cm_store *s);
MDB_dbi cm_store_dbi(const cm_store *s, cm_store_db db);
const char *cm_store_dir(const cm_store *s);
bool cm_store_readonly(const cm_store *s);

/*
 * Begin a read transaction from the pool (recovers MDB_MAP_RESIZED and a
 * full reader table).  CM_OK with *OUT: the map stays as it is until
 * cm_store_rend.  CM_ENOMEM, CM_EDB.
 */
cm_status cm_store_rbegin(cm_store *s, cm_rtxn **out);
/* End T: reset and back into the pool. */
void cm_store_rend(cm_store *s, cm_rtxn *t);

/* The writer of this process: one at a time.  The lock also clears the
 * reader slots of dead processes now and then (a daemon runs for
 * months). */
void cm_store_writer_lock(cm_store *s);
void cm_store_writer_unlock(cm_store *s);

/*
 * With the writer lock held: begin a write transaction (recovers
 * MDB_MAP_RESIZED).  The map stays as it is until cm_store_wend.  CM_OK
 * with *TXN; CM_EPERM (read-only), CM_EDB.
 */
cm_status cm_store_wbegin(cm_store *s, MDB_txn **txn);
/* Commit (COMMIT) or abort TXN.  CM_OK, CM_EFULL (map full: nothing
 * written, the map not grown yet), CM_EDB. */
cm_status cm_store_wend(cm_store *s, MDB_txn *txn, bool commit);

/* The body of a write transaction: CM_OK to commit, or a status. */
typedef cm_status (*cm_store_wfn)(MDB_txn *txn, void *arg);

/*
 * With the writer lock held: run FN in a write transaction and commit it
 * (with DRY: abort it), running it again from scratch after a recovery
 * (the map grown on CM_EFULL, remapped on MDB_MAP_RESIZED).  Returns
 * FN's status, or the commit's; CM_EPERM when read-only.
 */
cm_status cm_store_write(cm_store *s, cm_store_wfn fn, void *arg, bool dry);

/*
 * The one recovery: after LMDB returned RC (or CM_EFULL was returned for
 * MDB_MAP_FULL), repair what can be repaired (grow, remap, clear dead
 * readers once: *CHECKED).  True: do the operation again; false: RC is
 * not recoverable (or the repair failed: *ST says why).  Called without a
 * transaction of S open in this thread.
 */
bool cm_store_recover(cm_store *s, int rc, bool *checked, cm_status *st);

/* Grow the map to have WANT_FREE octets free (0: double it).  CM_OK,
 * CM_EDB. */
cm_status cm_store_grow(cm_store *s, size_t want_free);
/* Octets of data.mdb in use (up to the last page) into *USED and the map
 * size into *MAP (may be NULL).  LMDB's code (0: done). */
int cm_store_used(cm_store *s, size_t *used, size_t *map);
/* Pages in use by TXN in all databases. */
size_t cm_store_txn_pages(const cm_store *s, MDB_txn *txn);
/* The page size of the environment (0 if unknown). */
size_t cm_store_page_size(cm_store *s);

/*
 * For bulk imports (MDB_WRITEMAP): allocate the *LEN octets of data.mdb
 * from OFF (so that a full disk is CM_EIO, not SIGBUS; *LEN = what was
 * allocated, 0 if nothing); where LMDB mapped the file (NULL if unknown);
 * and give back the blocks beyond the last used page up to END.
 */
cm_status cm_store_allocate(cm_store *s, size_t off, size_t *len);
unsigned char *cm_store_map_base(cm_store *s);
void cm_store_release(cm_store *s, size_t end);

/*
 * Errors of the calling thread.  cm_store_db_err records "WHAT: LMDB's
 * text" and RC and returns its status (CM_ENOMEM, CM_EFORMAT for a
 * corrupt file, CM_EFULL for MDB_MAP_FULL, else CM_EDB);
 * cm_store_fmt_err records "corrupt or unknown data: WHAT" and returns
 * CM_EFORMAT; cm_store_set_err records a text of its own (RC: the code
 * behind it, or 0).  cm_store_last_error gives the last error this
 * thread recorded on S: its text (valid in this thread until the next
 * error) and *RC (may be NULL); "no error" and 0 if none.
 */
cm_status cm_store_db_err(const cm_store *s, const char *what, int rc);
cm_status cm_store_fmt_err(const cm_store *s, const char *what);
void cm_store_set_err(const cm_store *s, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *cm_store_last_error(const cm_store *s, int *rc);

#endif
