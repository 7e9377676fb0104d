/*
 * dump.h - lossless dump and restore of a whole consent index (prefix
 * cm_dump_).
 *
 * A dump is everything the index holds, as items that do not depend on
 * its on-disk layout: each domain entry (suppressed or not), each address
 * entry with its records, each erasure tombstone, and each history event
 * with its sequence number, event and recorded times, actor and states.
 * Restoring the items into an empty index gives an index whose every
 * lookup, `show` and `history` answer is the same, and whose own dump is
 * the same item for item.
 *
 * Tombstones and the index keys are keyed hashes under the index's
 * erasure key (erasure.key): they mean something only under that key.
 * So the dump carries the key (cm_dump_header.key) and a restore goes
 * into an index with the same key: a new one created with it
 * (cm_dump_install_key before the index is created), or an empty one
 * that has it.  A dump is therefore as sensitive as the index itself.
 *
 * Order of cm_dump_read: domains (in name order), then addresses and
 * tombstones in index order (the order of their keyed hashes); every
 * domain and address is followed by its history, oldest first; history
 * whose subject has no entry any more (none is made today) comes last
 * with only its key.  The order is stable: the same index dumps the
 * same items.
 */
#ifndef CM_DUMP_H
#define CM_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "status.h"

#define CM_DUMP_KEY_LEN 32	/* erasure key */
#define CM_DUMP_HASH_LEN 16	/* keyed hash of a tombstone or subject */

typedef struct cm_dump_header {
	uint32_t index_format;	/* on-disk format the dump was read from */
	uint64_t next_seq;	/* next history sequence number */
	unsigned char key[CM_DUMP_KEY_LEN];	/* the erasure key */
} cm_dump_header;

typedef enum cm_dump_kind {
	CM_DUMP_DOMAIN = 1,	/* name, suppressed, since_us, updated_us, source */
	CM_DUMP_ENTRY,		/* name (address), objection_us, last_grant_us,
				 * nrecords: followed by that many RECORDs */
	CM_DUMP_RECORD,		/* rec: one record of the entry before it */
	CM_DUMP_TOMBSTONE,	/* hash, erased_us */
	CM_DUMP_EVENT		/* name (address or domain) or, when NULL,
				 * hash (its subject key); ev */
} cm_dump_kind;

/* One item.  Strings are NUL-terminated UTF-8, "" when absent; they
 * belong to the caller of the callback (cm_dump_read) or are copied
 * (cm_dump_restore_put). */
typedef struct cm_dump_item {
	cm_dump_kind kind;
	const char *name;
	unsigned char hash[CM_DUMP_HASH_LEN];
	int64_t objection_us, last_grant_us;	/* ENTRY */
	size_t nrecords;			/* ENTRY */
	cm_record rec;				/* RECORD */
	bool suppressed;			/* DOMAIN */
	int64_t since_us, updated_us;		/* DOMAIN */
	const char *source;			/* DOMAIN */
	int64_t erased_us;			/* TOMBSTONE */
	cm_history_event ev;			/* EVENT */
} cm_dump_item;

/* Numbers of items, to check that a restore got a whole dump. */
typedef struct cm_dump_counts {
	size_t domains, entries, records, tombstones, events;
} cm_dump_counts;

typedef int (*cm_dump_header_cb)(const cm_dump_header *h, void *arg);
typedef int (*cm_dump_item_cb)(const cm_dump_item *it, void *arg);

/*
 * Read all of IDX in one consistent snapshot: HCB once with the header,
 * then ICB for every item in the order above; either returns non-zero to
 * stop (cm_dump_read then returns CM_EINVAL).  *COUNTS (may be NULL)
 * gets the numbers of items read.  Returns CM_OK, CM_EFORMAT (a stored
 * value does not decode: the index is corrupt, nothing more is read),
 * CM_EDB, CM_ENOMEM, or an error of reading the key file.
 */
cm_status cm_dump_read(cm_index *idx, cm_dump_header_cb hcb,
    cm_dump_item_cb icb, void *arg, cm_dump_counts *counts);

/*
 * Before a new index is created in directory DIR (which must exist and
 * hold no index): write its key file DIR/erasure.key (mode 0600) with
 * KEY, so that cm_index_open(create) makes the index under that key.
 * CM_OK (also when the file already holds KEY), CM_EEXIST (it holds
 * another key), CM_EIO, CM_EPERM.
 */
cm_status cm_dump_install_key(const char *dir, const unsigned char *key);

/*
 * Restore: cm_dump_restore_begin takes IDX's writer lock as
 * cm_index_import_begin does (RESERVE: octets the restore will add,
 * roughly the size of the dump) and checks that IDX is empty (no entry,
 * tombstone, domain or history: else CM_EEXIST) and has the key of H
 * (else CM_EPERM).  cm_dump_restore_put stores one item as it was; a bad
 * item (CM_EINVAL, CM_EEXIST for a duplicate, CM_ETOOLONG) has a message
 * in cm_dump_restore_error and the restore must be aborted.
 * cm_dump_restore_commit checks that every entry got its records and
 * that the counts equal EXPECT (else CM_EINVAL: a truncated dump), sets
 * the history sequence of H, and commits everything in one transaction.
 * CM_EFULL from put or commit: the map was grown; abort and begin again.
 * Commit and abort free R.
 */
typedef struct cm_restore cm_restore;

cm_status cm_dump_restore_begin(cm_index *idx, const cm_dump_header *h,
    size_t reserve, cm_restore **out);
cm_status cm_dump_restore_put(cm_restore *r, const cm_dump_item *it);
cm_status cm_dump_restore_commit(cm_restore *r, const cm_dump_counts *expect);
void cm_dump_restore_abort(cm_restore *r);
/* Why the last call on R failed (never NULL). */
const char *cm_dump_restore_error(const cm_restore *r);

#endif
