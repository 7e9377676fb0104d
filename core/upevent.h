/*
 * upevent.h - one consent event as the shared store (upstream:, issue
 * "one consent truth for many MTAs") keeps it (prefix cm_upevent_).
 *
 * The shared store (PostgreSQL, upstream/pgstore.h) is an append-only
 * log of these events; every node applies them to its own index (the
 * newer-event-wins rules of rules.h make the order of arrival
 * irrelevant) and records its position in the log in the same LMDB
 * transaction.  A change made on a node is applied locally at once and
 * written to a durable local outbox in the same transaction, then
 * pushed; the UUID, made at the origin, makes a push idempotent.
 *
 * All nodes share the index's key file (erasure.key): AKEY (codec.c) is
 * then the same on every node, which is what lets an erasure travel as a
 * keyed hash only.
 */
#ifndef CM_UPEVENT_H
#define CM_UPEVENT_H

#include <stdint.h>

#include "index.h"

#define CM_UPEVENT_UUID_LEN 16
#define CM_UPEVENT_AKEY_LEN 16
#define CM_UPEVENT_NODE_MAX 64	/* node name: [A-Za-z0-9._-], 1..64 */

typedef struct cm_upevent {
	/* made at the origin (random, RFC 9562 version 4): the shared
	 * store's unique key, so pushing an event twice stores it once */
	unsigned char uuid[CM_UPEVENT_UUID_LEN];
	/* the shared store's position of the event (bigserial): 0 before
	 * it is pushed; increasing in commit order (pgstore.h) */
	int64_t id;
	/* when the shared store recorded it (0 before it is pushed) */
	int64_t stored_us;
	/* the node that made the change */
	const char *origin;
	/*
	 * AKEY of ev.addr under the shared key (all zero for the domain
	 * events).  For CM_EV_ERASE it is all there is: the shared store
	 * keeps no address of an erased person, ev.addr is NULL in events
	 * read from it, and a node erases the entry stored under AKEY.
	 */
	unsigned char akey[CM_UPEVENT_AKEY_LEN];
	/* the event itself; ev.at_us is never 0 (resolved at the origin);
	 * ev.subaddr_sep and the erased callback are not carried (an
	 * origin pushes one ERASE per address it erased) */
	cm_event ev;
} cm_upevent;

#endif
