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

#include <lmdb.h>

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

/*
 * For the migration of address keys (migrate.c), which reads and writes
 * the named databases in a transaction of its own.
 */
typedef struct cm_index_raw_t {
	MDB_env *env;
	MDB_dbi db_meta, db_index, db_hist;
	unsigned meta_format;	/* "meta" "format" found at open (1 or 2) */
} cm_index_raw_t;
#define CM_INDEX_META_FORMAT 2	/* written by cm_migrate_keys */
void cm_index_raw(cm_index *idx, cm_index_raw_t *out);
/* AKEY(ADDR) (addr LEN octets) into OUT (CM_SUBJECT_KEY_LEN octets). */
void cm_index_akey(const cm_index *idx, const char *addr, size_t len,
    unsigned char *out);
/* After a committed migration: the format now on disk. */
void cm_index_set_meta_format(cm_index *idx, unsigned v);

#endif
