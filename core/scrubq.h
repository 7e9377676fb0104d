/*
 * scrubq.h - the erased addresses whose decision log lines and spooled
 * DSNs remain to be scrubbed (prefix cm_scrubq_).
 *
 * The index erases an address in one transaction; the decision log and
 * the DSN spool lie outside it and are scrubbed by consentctl after the
 * commit.  A process killed in between would lose that scrub for good,
 * so the erasure records the address, in the SAME write transaction, in
 * the named LMDB database "scrubq" (key: the address's keyed hash, AKEY;
 * value: the address enciphered under the index's key, so that its
 * octets are not in the file) whenever its caller asked to be told the
 * erased addresses (an
 * ERASE with an erased callback, index.h, or an erasure from the shared
 * store, upsync.h): whoever asks promises to scrub.  After the scrub
 * succeeded the caller removes the row (cm_scrubq_done); consentctl sync
 * runs what is left when it starts and after every batch.
 *
 * The enciphered address stays in the index's file until its scrub is
 * done.
 */
#ifndef CM_SCRUBQ_H
#define CM_SCRUBQ_H

#include <stddef.h>

#include "index.h"

/* Called with each pending address (NUL-terminated, valid during the
 * call only).  Non-zero stops. */
typedef int (*cm_scrubq_cb)(const char *addr, void *arg);

/* Call CB for every pending address of IDX, in one read snapshot.
 * CM_OK (also when none), CM_EDB. */
cm_status cm_scrubq_list(cm_index *idx, cm_scrubq_cb cb, void *arg);

/* The scrub of ADDR is done: delete its row.  CM_OK (also when there
 * was none), CM_EINVAL, CM_EPERM (read-only), CM_EDB. */
cm_status cm_scrubq_done(cm_index *idx, const char *addr);

#endif
