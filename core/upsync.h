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
 * LOG ORDER: every event of the shared store is applied, in the order
 * of its ids, whatever its origin.  An event this node made was applied
 * when it was made (in the transaction that wrote it to the outbox,
 * outbox.h); when it comes back it is applied again, which the rules
 * make stale (no change, no history) unless an event before it in the
 * log changed the entry since (an erasure: what the log holds before
 * an erasure is wiped, whatever its date).  So every node ends in the
 * state the log gives, two nodes of the same name included.
 *
 * Events are applied under the normal rules (rules.h): the newer event
 * wins, a stale one changes nothing and adds no history.  An ERASE
 * carries only AKEY: the entry stored under it is erased
 * (cm_apply_erase_akey) and a tombstone written.  With
 * CM_UPSYNC_AS_STORED (what consentctl sync does) every event is applied
 * as the shared store holds it, with no future check of this node's own:
 * the node that made it checked it, the shared store dates opt-outs no
 * later than its own clock, and a follower that refused or re-dated an
 * event by its own clock would hold another state than the others for
 * good.  Without it, a withdrawal, objection, erasure or domain
 * suppression dated more than the clock skew after now is applied dated
 * now, since an opt-out always wins, and any other such event is
 * refused (counted, not applied).  CONFIRM or UPDATE without a record is
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

/* cm_upsync_apply FLAGS: apply the events as stored (no future check). */
#define CM_UPSYNC_AS_STORED 1u

typedef struct cm_upsync_result {
	size_t applied;		/* events that changed the index */
	size_t stale;		/* older than the stored state: nothing */
	size_t skipped;		/* not above the position */
	size_t refused;		/* not applicable here (see above) */
} cm_upsync_result;

/* Called with each address an ERASE removed from the index (an entry
 * was stored under its AKEY, or a sub-address of it), from the write;
 * may repeat an address when the transaction is retried.  With it,
 * each such address is also recorded in the scrub queue in the same
 * transaction (scrubq.h): the caller scrubs it, then calls
 * cm_scrubq_done. */
typedef void (*cm_upsync_erased_cb)(void *arg, const char *addr);

/*
 * Apply EVS[0..N) (in id order) in one write transaction of IDX and set
 * the position to POS (stored time POS_US) in it, if POS is greater
 * than the stored one.  FLAGS: 0 or CM_UPSYNC_AS_STORED.  SUBADDR_SEP
 * (0: none): an ERASE that removes an entry this node held, a base
 * address under it, also erases the stored sub-addresses of that
 * address (the node that erased it may not have known them) and, while
 * IDX is attached, queues an ERASE of each in the outbox for the other
 * nodes (cm_apply_erase_subs).  ERASED (may be NULL) gets the erased addresses.  *RES
 * (may be NULL) counts.  CM_OK; CM_EPERM (read-only), CM_ENOMEM,
 * CM_EFORMAT, CM_EDB (nothing applied, the position unchanged).
 */
cm_status cm_upsync_apply(cm_index *idx, const cm_upevent *evs, size_t n,
    unsigned flags, char subaddr_sep, int64_t pos, int64_t pos_us,
    cm_upsync_erased_cb erased, void *arg, cm_upsync_result *res);

#endif
