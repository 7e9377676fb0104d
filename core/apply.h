/*
 * apply.h - applying consent events inside a write transaction (prefix
 * cm_apply_): load the stored entry or tombstone, let the rules
 * (rules.h) decide, write the history events and the entry they return;
 * ERASE (tombstones, sub-addresses, scrubbing) and the domain events;
 * the bulk update of records.  Private to the index (index.c, batch.c,
 * import.c).
 */
#ifndef CM_APPLY_H
#define CM_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "codec.h"
#include "index.h"
#include "prefault.h"
#include "rules.h"
#include "scrub.h"
#include "upevent.h"

/* The state of one write transaction (zero it before first use). */
typedef struct cm_apply {
	cm_index *idx;
	MDB_txn *txn;
	uint64_t seq;		/* next history sequence number */
	bool seq_dirty;
	int64_t recorded;	/* now, for every event of the transaction */
	/*
	 * Append mode: LAST is the greatest address key in "index" (all
	 * zero: none).  An address key above it is new, and so is every
	 * history key under it: both are written with MDB_APPEND (no
	 * lookup, no page split in the middle of the tree), which is what
	 * makes the first import of a sorted batch fast.
	 */
	unsigned char last[CM_CODEC_AKEY_LEN];
	bool append;		/* the current event's key is above LAST */
	/*
	 * Cursors on "index" and "history" (opened on first use, closed
	 * by LMDB with the transaction).  Events come in key order: a
	 * cursor already on the right leaf page finds the next key there
	 * instead of descending from the root, and a put after a get on
	 * the same cursor does not descend again.
	 */
	MDB_cursor *ic, *hc;
	cm_rules_entry ent;
	cm_rules_out ro;	/* what the rules made of the last event */
	bool as_stored;		/* no future check: events of the shared
				 * store, checked by the node that made them */
	unsigned char *old;	/* copy of the stored entry */
	size_t oldcap;
	unsigned char *buf;	/* new entry / history blob */
	size_t bufcap;
	cm_scrub *scrub;	/* what an erasure leaves to scrub */
	size_t applied, stale;
	/* bulk imports: the map is populated ahead of the pages LMDB
	 * allocates, PF_PAGES0 the pages in use when it started */
	cm_prefault *pf;
	size_t pf_pages0, psize;
	/* the outbox (outbox_int.h): UPNODE is the node name while the
	 * index is attached to a shared store ("": not attached, or an
	 * event applied from the shared store, which is not sent back) */
	char upnode[CM_UPEVENT_NODE_MAX + 1];
	MDB_dbi db_outbox, db_upstate;
	uint64_t outbox_seq;	/* next outbox key; 0 = not looked up */
	bool outbox_dirty;	/* outbox_seq to be stored at the end */
	/* outbox rows to drop at the end (cm_outbox_forget): AKEY and the
	 * first outbox key not dropped, CM_OUTBOX_FORGET_LEN octets each */
	unsigned char *forget;
	size_t nforget, capforget;
} cm_apply;

/*
 * Set W up for write transaction TXN of IDX: the append bound, the
 * history sequence; SC (emptied) collects what erasures leave to scrub.
 * CM_OK; CM_EFORMAT, CM_EDB (no sequence number).
 */
cm_status cm_apply_begin(cm_apply *w, cm_index *idx, MDB_txn *txn,
    cm_scrub *sc);
/* Before commit: store the history sequence.  CM_OK, CM_EFULL, CM_EDB. */
cm_status cm_apply_finish(cm_apply *w);
/* Free what W allocated (not W). */
void cm_apply_free(cm_apply *w);

/*
 * Apply one event EV (checked with cm_codec_validate; EL its string
 * lengths; KEY its subject key).  *APPLIED tells whether it changed
 * anything: CM_OK with !*APPLIED is "stale".  CM_EFUTURE (dated too
 * late, unless W->as_stored: the thread's error names the times), CM_NOTFOUND (no record to
 * confirm, withdraw or update), CM_ETOOLONG, CM_EINVAL, CM_EFORMAT
 * (stored value does not decode, key collision), CM_ENOMEM, CM_EFULL,
 * CM_EDB.
 */
cm_status cm_apply_event(cm_apply *w, const cm_event *ev,
    const cm_codec_evlen *el, const unsigned char *key, bool *applied);

/*
 * Set the fields given in SET on every record matching SEL (or, with
 * DRY, count them only) in W's transaction, which may be a read
 * transaction with DRY.  *COUNT = matching records.  Statuses as
 * cm_apply_event.
 */
cm_status cm_apply_bulk(cm_apply *w, const cm_selection *sel,
    const cm_event *set, bool dry, size_t *count);

/*
 * ERASE of the address stored under AKEY AK (an erasure from the shared
 * store, which carries no address): the entry and its history are
 * zeroed and deleted and a tombstone dated AT written, as an ERASE of
 * the address does (sub-addresses are erased by events of their own),
 * whatever the dates of the entry's events and of a stored tombstone:
 * the tombstone is dated AT, the date of the last erasure in the log
 * (the shared store keeps no earlier one), so that every node holds
 * the same one.  ADDR (SZ octets) receives the address the entry held
 * ("" when there was no entry: only the tombstone is written).
 * *APPLIED is false when a tombstone dated AT was there already
 * (stale: nothing written).  Statuses as
 * cm_apply_event.
 */
cm_status cm_apply_erase_akey(cm_apply *w, const unsigned char *ak,
    int64_t at, char *addr, size_t sz, bool *applied);

/*
 * After an ERASE from the shared store removed base address BASE (an
 * entry this node held): erase the stored sub-addresses of BASE under
 * SEP (0: none) as an ERASE of the address erases them, each leaving a
 * tombstone dated AT (or a later one stored) and, if W->upnode is set,
 * an ERASE of its AKEY in the outbox (its unsent rows dropped) for the
 * nodes that do not know the sub-address belongs to BASE.  ERASED (may
 * be NULL) is called with each address erased.  Statuses as
 * cm_apply_event.
 */
cm_status cm_apply_erase_subs(cm_apply *w, const char *base, char sep,
    int64_t at, void (*erased)(void *arg, const char *addr, size_t len),
    void *arg);

/* The body of a write transaction on W. */
typedef cm_status (*cm_apply_fn)(cm_apply *w, void *arg);

/*
 * Run FN in a write transaction of IDX set up in W (cm_apply_begin),
 * committed (DRY: aborted) and run again after a recovery (store.h);
 * then scrub what an erasure left.  Takes the writer lock.  FN's status
 * or the commit's; CM_EPERM when read-only.
 */
cm_status cm_apply_write(cm_index *idx, cm_apply *w, cm_apply_fn fn,
    void *arg, bool dry);

#endif
