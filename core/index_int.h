/*
 * index_int.h - what the index shares with decide.c, runsort.c, dump.c and
 * migrate.c (private to core/).
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
 * For the external sort of an import's events (runsort.c).  Subject keys
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
 * Raw access for the dump and restore of a whole index (dump.c), which
 * decodes and encodes the values of the on-disk format with codec.h
 * (documented in codec.c).  Reads run in a snapshot from cm_index_rbegin; writes in an
 * import (cm_index_import_begin), all or nothing.
 */
typedef enum cm_rawdb {
	CM_RAW_META = 0,	/* "meta" (read only here) */
	CM_RAW_INDEX,		/* "index" */
	CM_RAW_HISTORY		/* "history" */
} cm_rawdb;

/* Called with one key and value (valid during the call only); returns
 * non-zero to stop. */
typedef int (*cm_raw_cb)(const unsigned char *key, size_t klen,
    const unsigned char *val, size_t vlen, void *arg);

/* In snapshot T, call CB for every key of DB from the first key at or
 * after FROM (FROMLEN octets; NULL: from the first key) in key order.
 * CM_OK (also when CB stopped), or CM_EDB. */
cm_status cm_index_rscan(cm_index *idx, cm_rtxn *t, cm_rawdb db,
    const void *from, size_t fromlen, cm_raw_cb cb, void *arg);
/* In snapshot T, the value of KEY in DB: CM_OK with *VAL, *VLEN pointing
 * into the map (valid until cm_index_rend), CM_NOTFOUND or CM_EDB. */
cm_status cm_index_rget(cm_index *idx, cm_rtxn *t, cm_rawdb db,
    const void *key, size_t klen, const unsigned char **val, size_t *vlen);
/* OUT (CM_SUBJECT_KEY_LEN octets) = the key of S (LEN octets) in IDX: an
 * address (it has an '@') gets its index key, which is also its history
 * prefix; a domain its history prefix. */
void cm_index_subject_key(const cm_index *idx, const char *s, size_t len,
    unsigned char *out);
/* Read IDX's erasure key (32 octets) from its key file into OUT.  CM_OK,
 * CM_EFORMAT (missing or not a key file), CM_EIO, CM_EPERM. */
cm_status cm_index_erasure_key(cm_index *idx, unsigned char *out);
/* In import IM: store VAL under KEY in DB (CM_RAW_INDEX or
 * CM_RAW_HISTORY), which must not hold KEY yet.  CM_OK, CM_EEXIST (the
 * import goes on), CM_EINVAL; CM_EDB or CM_EFULL end the import as a
 * failed cm_import_apply does. */
cm_status cm_import_put(cm_import *im, cm_rawdb db, const void *key,
    size_t klen, const void *val, size_t vlen);
/* In import IM: *N = the number of keys DB holds.  CM_OK or CM_EDB. */
cm_status cm_import_entries(cm_import *im, cm_rawdb db, size_t *n);
/* In import IM: the next history sequence number is SEQ (stored when
 * the import commits). */
void cm_import_set_seq(cm_import *im, uint64_t seq);
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
