/*
 * outbox.h - the durable local outbox of a node of the shared consent
 * store (upstream:, upevent.h) (prefix cm_outbox_).
 *
 * An index is ATTACHED to the shared store once its node name is stored
 * in it (cm_outbox_attach; consentctl does it when the configuration has
 * an upstream: section).  From then on every write transaction of any
 * process (consentctl, consent-web) that changes the index also writes,
 * in the SAME transaction, one cm_upevent per change into the named
 * LMDB database "outbox": a fresh random UUID, the event's time
 * resolved (never 0), the origin (the node), AKEY of the address.  An
 * ERASE is written once per address it erased (sub-addresses too), with
 * AKEY and no address, and first drops the unsent rows of that AKEY
 * (they hold the address; the erasure undoes them on every node
 * anyway), so the outbox keeps no trace of an erased person.  A bulk
 * update writes one UPDATE per record it changed.  Row keys are never
 * made twice (the next one is kept in "upstate").  Events applied
 * from the shared store (upsync.h) are not written there.
 *
 * Key of an outbox row: a sequence number, 8 octets big-endian,
 * increasing.  Value: version 1 (1 octet), kind, state, 0, at_us (8,
 * little-endian as in codec.c), UUID (16), AKEY (16), then eight
 * strings (origin, addr, type, source, basis, purpose, evidence, actor),
 * each a 2-octet length L (big-endian; 0: NULL) followed by L octets,
 * the last of which is a NUL.
 *
 * The push (consentctl) reads the rows in order, stores them in the
 * shared store (idempotent by UUID) and removes the rows it stored.
 */
#ifndef CM_OUTBOX_H
#define CM_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "upevent.h"

/* Is NAME a valid node name ([A-Za-z0-9._-], 1..CM_UPEVENT_NODE_MAX)? */
bool cm_outbox_node_valid(const char *name);

/*
 * Attach IDX (opened for writing) to the shared store as node NODE: its
 * changes go to the outbox from the next write transaction on, in
 * every process.  With NODE NULL, detach (the outbox is kept).  The
 * first attach of an index that holds anything (entries, tombstones,
 * domains) and has never followed the shared store is refused with
 * CM_EEXIST: what it holds would never reach the other nodes; attach it
 * with cm_seed_attach (seed.h), which sends it.  CM_OK; CM_EINVAL (bad
 * name), CM_EEXIST, CM_EPERM (read-only), CM_EDB.
 */
cm_status cm_outbox_attach(cm_index *idx, const char *node);

/* The node name IDX is attached as, into BUF (SZ octets, at least
 * CM_UPEVENT_NODE_MAX + 1): CM_OK, CM_NOTFOUND (not attached), CM_EDB. */
cm_status cm_outbox_node(cm_index *idx, char *buf, size_t sz);

/* Called with each outbox row, oldest first: SEQ its key, EV valid
 * during the call only.  Non-zero stops. */
typedef int (*cm_outbox_cb)(uint64_t seq, const cm_upevent *ev, void *arg);

/* Call CB for at most LIMIT (0: all) rows after sequence AFTER (0: from
 * the first), in one snapshot.  CM_OK; CM_EFORMAT (a row does not
 * decode), CM_EDB. */
cm_status cm_outbox_read(cm_index *idx, uint64_t after, size_t limit,
    cm_outbox_cb cb, void *arg);

/* Remove every row up to sequence UPTO (inclusive) in one write
 * transaction.  CM_OK; CM_EPERM, CM_EDB. */
cm_status cm_outbox_remove(cm_index *idx, uint64_t upto);

/* *N = the rows in the outbox; *OLDEST_US (may be NULL) = the time of
 * the oldest one's event (0 if none).  CM_OK, CM_EDB. */
cm_status cm_outbox_count(cm_index *idx, size_t *n, int64_t *oldest_us);

/* Encode EV into BUF (SZ octets); returns the length, or 0 when it does
 * not fit or a string is longer than 65534 octets. */
size_t cm_outbox_encode(const cm_upevent *ev, unsigned char *buf, size_t sz);
/* Decode V (N octets) into *EV, whose strings point into V.  false: not
 * an outbox row of a known version. */
bool cm_outbox_decode(const unsigned char *v, size_t n, cm_upevent *ev);

/* A fresh random UUID (RFC 9562 version 4) into OUT.  CM_OK, CM_EIO. */
cm_status cm_outbox_uuid(unsigned char *out);

#endif
