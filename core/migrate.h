/*
 * migrate.h - re-keying the consent index when address normalization
 * changes (prefix cm_migrate_).
 *
 * The index finds an address's entry and history under a keyed hash of
 * its normalized form (codec.h: AKEY), and keeps the normalized address
 * in the entry.  Index format 1 was written while non-ASCII local parts
 * were compared octet by octet (no NFC, ASCII-only case folding) and
 * routing forms ("a%b@c", "b!a@c") were keys of their own; format 2 keys
 * are made by today's cm_addr_normalize.  An entry whose stored address
 * normalizes differently now would never be found again: a withdrawal by
 * "Über@x" stored under "Über@x" would not stop mail to "über@x".
 *
 * cm_migrate_keys() moves every such entry, with its history, to the key
 * of its address normalized now (cm_addr_rekey), in one transaction:
 *   - no entry under the new key: the entry moves (its stored address
 *     becomes the new one); its history events move with it, unchanged
 *     (same sequence numbers, times, fields);
 *   - an entry under the new key too ("Über@x" and "über@x" were two):
 *     the two are merged by the rules of newer-event-wins: per
 *     newsletter type the record with the later last event (updated_us)
 *     is kept, on equal times the withdrawn one; the later objection and
 *     the later grant are kept, and a granted or pending record not newer
 *     than the objection in force becomes withdrawn at the objection's
 *     time, as the objection would have made it; both histories are kept;
 *   - a tombstone (erased address) under the new key: only what happened
 *     after the erasure survives (records and objection newer than it,
 *     and their history); if nothing does, the tombstone stays and the
 *     moved entry and its history are deleted;
 *   - an address that cannot be normalized now (e.g. a local part that
 *     NFC or case folding makes longer than 64 octets, or a routing form
 *     refused by the options) stays where it is and is counted.
 * Tombstones themselves hold no address and cannot be re-keyed: an
 * address erased under an old key is no longer recognised as erased
 * under its new one (see consentctl(8)).
 * Then "meta" "format" is set to 2.  Running it again, or on a format 2
 * index after a change of the addresses: options, re-keys what those
 * options change.
 */
#ifndef CM_MIGRATE_H
#define CM_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "index.h"
#include "status.h"

typedef struct cm_migrate_stats {
	size_t entries;		/* address entries read */
	size_t moved;		/* re-keyed to a free key */
	size_t merged;		/* merged into an existing entry */
	size_t erased;		/* dropped: older than a tombstone at the new key */
	size_t unchanged;	/* key unchanged */
	size_t failed;		/* address not normalizable now: left as is */
	size_t events;		/* history events moved */
	unsigned from_format, to_format;	/* "meta" "format" before, after */
} cm_migrate_stats;

/*
 * Re-key the entries of IDX (opened read-write, with
 * cm_index_opts.upgrade for a format 1 index) under OPTS (the addresses:
 * section in force; NULL for the defaults), in one durable transaction:
 * all or nothing.  With DRY_RUN nothing is written (the transaction is
 * aborted) and *STATS says what would be done.  Returns CM_OK, CM_EINVAL
 * (read-only index), CM_EFORMAT (a corrupt entry), CM_EDB (LMDB,
 * including a full map: grow database.map_size), CM_ENOMEM.
 */
cm_status cm_migrate_keys(cm_index *idx, const cm_addr_opts *opts,
    bool dry_run, cm_migrate_stats *stats);

#endif
