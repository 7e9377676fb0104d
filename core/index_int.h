/*
 * index_int.h - what index.c shares with decide.c (private to core/).
 *
 * cm_decide needs raw, allocation-free access to the stored blobs inside
 * one pooled read transaction; these functions give exactly that.
 */
#ifndef CM_INDEX_INT_H
#define CM_INDEX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"

/* One consent record, decoded in place (strings not NUL-terminated). */
typedef struct cm_rec_view {
	cm_state state;
	int64_t granted_us, confirmed_us, withdrawn_us, updated_us;
} cm_rec_view;

/* What cm_decide reads for one address. */
typedef struct cm_addr_view {
	bool found;		/* the address has an entry */
	bool erased;		/* no entry, but a tombstone */
	bool objection;		/* address-wide objection in force */
	bool has_rec;		/* a record of the asked type exists */
	cm_rec_view rec;
} cm_addr_view;

typedef struct cm_rtxn cm_rtxn;

/* Begin a pooled read transaction (retries on MDB_MAP_RESIZED). */
cm_status cm_index_rbegin(cm_index *idx, cm_rtxn **out);
/* End it (reset and return to the pool). */
void cm_index_rend(cm_index *idx, cm_rtxn *t);

/* Look up ADDR (LEN octets) and its record for type TYPE (TLEN octets);
 * one B-tree lookup answers entry, tombstone or nothing. */
cm_status cm_index_rlookup(cm_index *idx, cm_rtxn *t, const char *addr,
    size_t len, const char *type, size_t tlen, cm_addr_view *out);
/* Is DOMAIN (LEN octets) suppressed?  *out = true/false. */
cm_status cm_index_rdomain(cm_index *idx, cm_rtxn *t, const char *domain,
    size_t len, bool *out);

#endif
