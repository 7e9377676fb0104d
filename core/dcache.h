/*
 * dcache.h - the suppressed domains of one read snapshot (prefix
 * cm_dcache_).
 *
 * Domain keys sort before every address key, so one cursor pass over the
 * left edge of "index" reads them all; the set is valid for the snapshot
 * it was read from (mdb_txn_id: LMDB transaction ids only grow, so an
 * unchanged id is an unchanged index).  It saves a decision one B-tree
 * lookup.  Only domain names (no personal data) are kept.  With more
 * than CM_DCACHE_MAX domain entries, or one that does not decode, the
 * cache is off for that snapshot and the caller looks domains up.
 * Private to core/; one cache per pooled read transaction (store.h), so
 * never shared between threads.
 */
#ifndef CM_DCACHE_H
#define CM_DCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include <lmdb.h>

#define CM_DCACHE_MAX 1024

typedef struct cm_dcache cm_dcache;

/*
 * Is DOMAIN (LEN octets) suppressed in snapshot TXN of database DBI
 * ("index")?  *DC is the cache of TXN (made on first use, refilled when
 * the snapshot changed).  True with *OUT when the cache answers; false
 * when it is off for this snapshot (too many domains, one that does not
 * decode, no memory): look the domain up in the tree.
 */
bool cm_dcache_lookup(cm_dcache **dc, MDB_txn *txn, MDB_dbi dbi,
    const char *domain, size_t len, bool *out);

/* Free DC (NULL is allowed). */
void cm_dcache_free(cm_dcache *dc);

#endif
