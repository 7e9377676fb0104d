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
#include "rules.h"

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

/*
 * For the external sort of an import's events (spool.c).  Subject keys
 * are CM_SUBJECT_KEY_LEN octets; events in key order are applied in key
 * order (equal keys: in the order added).
 */
#define CM_SUBJECT_KEY_LEN 16

/* The I-th event of B in key order (after cm_batch_sort): the event
 * (its strings are NULL or NUL-terminated), its subject key and the
 * lengths of its 7 strings (addr, type, source, basis, purpose,
 * evidence, actor; 0 for NULL); returns its position as added. */
size_t cm_batch_sorted_at(const cm_batch *b, size_t i, const cm_event **ev,
    const unsigned char **key, size_t *len);
/* Add EV to B, as cm_batch_add does, with its subject key under the
 * index the batch is for. */
cm_status cm_batch_add_keyed(cm_batch *b, const cm_event *ev,
    const unsigned char *key);
/* The events of B, added with cm_batch_add_keyed in key order, are in
 * key order for IDX: applying B takes them as they are. */
void cm_batch_mark_sorted(cm_batch *b, const cm_index *idx);

#endif
