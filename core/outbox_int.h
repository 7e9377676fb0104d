/*
 * outbox_int.h - the outbox as the write transactions of the index see
 * it (outbox.h): private to core/ (apply.c, upsync.c).
 */
#ifndef CM_OUTBOX_INT_H
#define CM_OUTBOX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "apply.h"

/* The named databases of the shared-store side of a node. */
#define CM_OUTBOX_DB "outbox"
#define CM_UPSTATE_DB "upstate"

/* One AKEY forgotten: the AKEY, then the outbox key (8 octets, host
 * order) below which its rows are dropped. */
#define CM_OUTBOX_FORGET_LEN (CM_UPEVENT_AKEY_LEN + 8)

/* Open named database NAME in TXN (with CREATE: create it if missing).
 * CM_OK, CM_NOTFOUND (missing, !CREATE), CM_EDB (LMDB's code in *RC). */
cm_status cm_outbox_dbi(MDB_txn *txn, const char *name, bool create,
    MDB_dbi *dbi, int *rc);

/* At the start of W's write transaction: W writes the outbox if the
 * index is attached (w->upnode set, else empty).  CM_OK, CM_EDB. */
cm_status cm_outbox_txn_begin(cm_apply *w);

/* Before W's transaction commits: delete the rows forgotten
 * (cm_outbox_forget); store the next outbox key, which is never used
 * twice (a push removes rows up to the key it read: a key made again
 * after the outbox emptied would lose a row).  CM_OK, CM_EDB. */
cm_status cm_outbox_txn_finish(cm_apply *w);

/*
 * In W's transaction, if attached: add one event to the outbox.  KIND,
 * STATE (GRANT), AT (resolved), AK (AKEY, or NULL for a domain event),
 * ADDR (ALEN octets), TYPE (TLEN octets, NULL for none) and the fields
 * source..actor of FIELDS.  CM_OK (also when not attached), CM_ENOMEM,
 * CM_EIO (no random UUID), CM_EFULL, CM_EDB.
 */
cm_status cm_outbox_put(cm_apply *w, cm_event_kind kind, cm_state state,
    int64_t at, const unsigned char *ak, const char *addr, size_t alen,
    const char *type, size_t tlen, const cm_event *fields);

/*
 * In W's transaction, if attached: delete the outbox rows of AKEY AK
 * written until now (before an ERASE of it is added: they hold the
 * address, and the erasure removes their effect everywhere anyway).
 * They are deleted by cm_outbox_txn_finish, in one pass over the outbox
 * for every AKEY forgotten in the transaction (a bulk erasure does not
 * walk the outbox once per address).  The octets they leave are zeroed
 * by the erasure's scrub (scrub.h).  CM_OK, CM_ENOMEM, CM_EDB.
 */
cm_status cm_outbox_forget(cm_apply *w, const unsigned char *ak);

#endif
