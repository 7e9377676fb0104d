/*
 * sync.h - a consentctl node and the shared consent store (prefix
 * ctl_sync_): attaching the index, pushing its outbox, applying what the
 * other nodes stored (core/outbox.h, core/upsync.h, upstream/pgstore.h).
 *
 * With an upstream: section every command that opens the index for
 * writing attaches it (ctl_sync_attach, from ctl_ctx_open): its changes,
 * and consent-web's, are then written to the outbox in the same
 * transaction as the change.  When the command ends, ctl_sync_flush
 * pushes the outbox; when the shared store cannot be reached it says
 * that the change is applied locally and queued, and exits 0 (the next
 * command, or consentctl sync, sends it; the UUIDs make a second push
 * harmless).
 */
#ifndef CTL_SYNC_H
#define CTL_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>

#include "ctx.h"
#include "../upstream/pgstore.h"

/* Is an upstream: section configured (policy loaded)? */
bool ctl_sync_configured(const ctl_ctx *c);

/* After opening C->idx for writing: attach it as this node (with
 * C->up_seed, by seeding: core/seed.h).  The first attach of an index
 * that holds data is refused without it (exit 65, saying to run
 * consentctl sync --seed).  0, or the exit code after printing why. */
int ctl_sync_attach(ctl_ctx *c);

/* Connect to the shared store and check its schema and that C's
 * erasure key is the other nodes' (ctl_upstream_key_check).  CM_OK with
 * *PG; else a status, with the reason in ERR (SZ octets): CM_EINVAL for
 * another key (or none). */
cm_status ctl_sync_connect(ctl_ctx *c, cm_pg **pg, char *err, size_t sz);

/* Push the outbox of C's index to PG and remove what was stored.  C->idx
 * is closed on entry and on return: the outbox is read with the index
 * open read-only, and the writer lock is taken only to remove the rows
 * stored, never while PG is waited for.  *SENT (may be NULL) = rows
 * pushed.  CM_OK; CM_EUPSTREAM (the reason in ERR), or the index's
 * status. */
cm_status ctl_sync_push(ctl_ctx *c, cm_pg *pg, size_t *sent, char *err,
    size_t sz);

typedef struct ctl_sync_counts {
	size_t fetched, applied, stale, skipped, refused, erased;
	int64_t pos;		/* the position after */
} ctl_sync_counts;

/* Fetch the events after the position of C's index from PG and apply
 * them in transactions of at most BATCH events, each moving the
 * position; until none is left or *STOP.  C->idx is closed on entry and
 * on return: the position is read with the index open read-only, each
 * batch fetched with it closed, and the writer lock taken only to apply
 * a batch or to drop the scrub queue's rows done, never while PG is
 * waited for or files are scrubbed; the apply reads the position again
 * under the lock and skips what another pull applied meanwhile
 * (core/upsync.h).  With a bootstrap (an empty
 * index) the node's events are applied too, from a consistent snapshot,
 * in batches of BATCH, each moving the position to its last event (a
 * bootstrap cut short resumes from there); every event is applied, this
 * node's own too.  Addresses erased are scrubbed from the decision log
 * and the DSN spool through the scrub queue (core/scrubq.h), first what
 * is left of earlier runs (a crash, a failed scrub), then after each
 * batch that erased: the queue is read while the index is open, the
 * files are scrubbed with it closed (no writer lock: a local opt-out
 * never waits behind a long scrub), and the writer lock is taken again
 * only to drop the rows of the scrubs that succeeded.  A failed scrub
 * stays queued (said on stderr) and is retried; one cut short between
 * the scrub and the drop is done again, and finds nothing.  CM_OK;
 * CM_EUPSTREAM (ERR), or the index's status (ERR; CM_EDB when it could
 * not be opened, after ctl_ctx_open said why). */
cm_status ctl_sync_pull(ctl_ctx *c, cm_pg *pg, size_t batch,
    volatile const sig_atomic_t *stop, ctl_sync_counts *cnt, char *err,
    size_t sz);

/* When a change command ends (from ctl_ctx_fini, after it closed C->idx
 * and so dropped the writer lock): if the index was attached and its
 * outbox holds rows, push them; if that fails, say that the change is
 * queued.  Never fails the command. */
void ctl_sync_flush(ctl_ctx *c);

#endif
