/*
 * subaddr.h - the stored sub-addresses of an address (prefix
 * cm_subaddr_).  Private to core/: apply.c calls it from the erase path,
 * inside the erasure's write transaction.
 *
 * A sub-address of the normalized base address LOCAL@DOMAIN under the
 * separator SEP is LOCAL SEP TAG @ DOMAIN for any TAG (empty included),
 * exactly as cm_addr_normalize derives base from key: the sub-address
 * starts at the first separator, never at the first character.
 *
 * The index keys addresses by keyed hash, so the sub-addresses of an
 * address are found by one pass over the entries of the "index"
 * database (each entry holds its address); erasure is rare, and a scan
 * needs no secondary index to keep up to date on every write.
 */
#ifndef CM_SUBADDR_H
#define CM_SUBADDR_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>

#include "status.h"

/* Is S (LEN octets) a base address under SEP: SEP not 0, a local part
 * without SEP and an '@'? */
bool cm_subaddr_is_base(const char *s, size_t len, char sep);

/* Is S (SLEN octets) a sub-address of base address BASE (BLEN octets)
 * under SEP?  (Not of itself.) */
bool cm_subaddr_of(const char *base, size_t blen, const char *s,
    size_t slen, char sep);

/* Called for each sub-address found: KEY the entry's 16-octet key, ADDR
 * its address (LEN octets, NUL-terminated).  A status other than CM_OK
 * stops the walk and is returned. */
typedef cm_status cm_subaddr_fn(void *arg, const unsigned char *key,
    const char *addr, size_t len);

/*
 * Find every entry of DBI (the index's "index" database, format 1) in
 * TXN whose address is a sub-address of BASE (BLEN octets) under SEP,
 * then call FN for each (after the cursor is closed: FN may write to
 * DBI).  Tombstones and domain entries are skipped.  CM_OK (also when
 * BASE is not a base address: nothing to do), CM_ENOMEM, CM_EDB (the
 * LMDB code in *LRC), or FN's status.
 */
cm_status cm_subaddr_each(MDB_txn *txn, MDB_dbi dbi, const char *base,
    size_t blen, char sep, cm_subaddr_fn *fn, void *arg, int *lrc);

#endif
