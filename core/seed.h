/*
 * seed.h - attaching an index that already holds consent data to the
 * shared store (prefix cm_seed_).
 *
 * An index attached to the shared store (outbox.h) sends its changes
 * from then on; what it held before would never reach the other nodes
 * (an opt-out recorded before the attach stayed local).  So
 * cm_outbox_attach refuses the FIRST attach of an index that holds
 * anything (CM_EEXIST) unless it has followed the shared store before,
 * and cm_seed_attach attaches it and, in the SAME write transaction,
 * queues in the outbox what it holds, as events the other nodes apply
 * under the normal rules (newer wins):
 *
 *  - each record: a GRANT (its state, dated at its grant) when it was
 *    ever granted, and a WITHDRAW dated at its withdrawal when it is
 *    withdrawn; a granted or pending record dated at its last change;
 *  - an objection: an OBJECT dated at it;
 *  - a suppressed domain: a SUPPRESS_DOMAIN dated at its last change;
 *  - a tombstone: an ERASE of its AKEY alone, dated at the erasure.
 *
 * The strings of each record (source, basis, purpose, evidence) go with
 * it; the actor is "seed".  History is not sent: the shared store
 * starts from the current state.
 */
#ifndef CM_SEED_H
#define CM_SEED_H

#include <stddef.h>

#include "index.h"

/*
 * Attach IDX (opened for writing) as node NODE and queue what it holds
 * (see above), in one write transaction.  *QUEUED (may be NULL) = the
 * events queued.  When IDX is attached already, nothing is queued
 * (CM_OK, *QUEUED 0).  CM_OK; CM_EINVAL (bad name), CM_EPERM
 * (read-only), CM_EFORMAT (a stored entry does not decode), CM_ENOMEM,
 * CM_EFULL, CM_EDB.
 */
cm_status cm_seed_attach(cm_index *idx, const char *node, size_t *queued);

#endif
