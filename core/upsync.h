/*
 * upsync.h - a node following the shared consent store (prefix
 * cm_upsync_): the events of the shared store applied to the local
 * index, and the node's sync state, both in the index's LMDB
 * environment (named database "upstate").
 *
 * POSITION: the id (upevent.h) of the last shared-store event applied.
 * It is written in the same write transaction as the events it covers,
 * so a crash leaves the index and its position consistent: events are
 * applied exactly once.  An event at or below the stored position is
 * skipped (two followers racing apply each event once).
 *
 * OWN EVENTS: an event whose origin is this node was applied locally
 * when it was made (in the transaction that wrote it to the outbox,
 * outbox.h); it is skipped when it comes back, unless the caller asks
 * for them (the bootstrap of an empty index) or its id is not above the
 * BOOT mark (cm_upsync_set_boot: the shared store's head when the
 * bootstrap began; what this node's name stored before is a former
 * index's, which a bootstrap interrupted by a crash must still apply).
 *
 * Events are applied under the normal rules (rules.h): the newer event
 * wins, a stale one changes nothing and adds no history.  An ERASE
 * carries only AKEY: the entry stored under it is erased
 * (cm_apply_erase_akey) and a tombstone written.  A withdrawal,
 * objection, erasure or domain suppression dated more than the clock
 * skew after now (another node's clock is ahead) is applied dated now,
 * since an opt-out always wins; any other such event is refused
 * (counted, not applied).  CONFIRM or UPDATE without a record is
 * counted as refused too: the shared store keeps them, nothing here
 * depends on them.
 */
#ifndef CM_UPSYNC_H
#define CM_UPSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "upevent.h"

typedef struct cm_upsync_state {
	char node[CM_UPEVENT_NODE_MAX + 1];	/* "" if not attached */
	int64_t pos;		/* last shared-store id applied (0: none) */
	int64_t pos_stored_us;	/* its stored time (0: unknown) */
	int64_t ok_us;		/* last good exchange (0: never) */
	int64_t err_us;		/* last failure (0: none since) */
	char err[256];		/* its text ("" if none) */
} cm_upsync_state;

/* Read the state of IDX into *OUT (zero when nothing is stored).  CM_OK,
 * CM_EFORMAT, CM_EDB. */
cm_status cm_upsync_state_get(cm_index *idx, cm_upsync_state *out);

/* Record an exchange with the shared store: ERR NULL, it succeeded
 * (ok_us = now, the error cleared); else it failed with text ERR
 * (err_us = now).  CM_OK, CM_EPERM, CM_EDB. */
cm_status cm_upsync_note(cm_index *idx, const char *err);

/* Before a bootstrap: the own events up to id BOOT (the shared store's
 * head now) are a former index's and are applied when they come.  Only
 * while the position is 0.  CM_OK, CM_EPERM, CM_EDB. */
cm_status cm_upsync_set_boot(cm_index *idx, int64_t boot);

typedef struct cm_upsync_result {
	size_t applied;		/* events that changed the index */
	size_t stale;		/* older than the stored state: nothing */
	size_t skipped;		/* own, or not above the position */
	size_t refused;		/* not applicable here (see above) */
} cm_upsync_result;

/* Called with each address an ERASE removed from the index (an entry
 * was stored under its AKEY), from the write; may repeat an address
 * when the transaction is retried. */
typedef void (*cm_upsync_erased_cb)(void *arg, const char *addr);

/*
 * Apply EVS[0..N) (in id order) in one write transaction of IDX and set
 * the position to POS (stored time POS_US) in it, if POS is greater
 * than the stored one.  OWN_ORIGIN (may be NULL): events of this origin
 * are skipped.  ERASED (may be NULL) gets the erased addresses.  *RES
 * (may be NULL) counts.  CM_OK; CM_EPERM (read-only), CM_ENOMEM,
 * CM_EFORMAT, CM_EDB (nothing applied, the position unchanged).
 */
cm_status cm_upsync_apply(cm_index *idx, const cm_upevent *evs, size_t n,
    const char *own_origin, int64_t pos, int64_t pos_us,
    cm_upsync_erased_cb erased, void *arg, cm_upsync_result *res);

#endif
