/*
 * index.h - the consent index on LMDB (prefix cm_index_, cm_batch_).
 *
 * The index stores, per normalized address (see addr.h), one consent
 * record per newsletter type, an address-wide objection (GDPR Art. 21:
 * "no direct marketing at all"), domain-wide suppressions, keyed-hash
 * tombstones of erased addresses, and an append-only history of every
 * change.  It is one LMDB environment in a directory of its own.
 *
 * Concurrency: one cm_index per process (LMDB's rule), shared by any
 * number of threads (the environment is opened MDB_NOTLS).  Readers never
 * block writers; another process (consentctl) may write while a daemon
 * reads.  One writer process at a time: a handle opened for writing
 * holds the directory's writer lock (wlock.h) for its whole life.  Read
 * transactions are short: every call that reads copies what it returns
 * out of the map before the transaction ends.
 *
 * Robustness handled here, not by callers: the map size is set
 * explicitly and grows on MDB_MAP_FULL (the write is retried); readers
 * recover from MDB_MAP_RESIZED; stale reader slots are cleared at open
 * and now and then (store.h).
 *
 * The consent rules are pure functions of their own (rules.h); the index
 * loads the stored state, applies them and writes what they return:
 *  - newer event wins: every record remembers the time of the last
 *    event applied to it.  An event older than that is not applied
 *    (CM_ESTALE for single events, counted as stale in batches), so the
 *    order in which imports arrive never matters.  On equal times a
 *    withdrawal or objection wins over a grant.  An event that would
 *    change nothing is stale too;
 *  - an event dated more than the allowed clock skew (opts->clock_skew_us,
 *    default five minutes) after now is refused with CM_EFUTURE, from
 *    every call that writes;
 *  - a withdrawal or objection made now always takes effect: a stored
 *    time after now (written before future events were refused) counts
 *    as now when compared with it;
 *  - an objection to all marketing denies every type, no-objection types
 *    included, until a later grant of a type lifts it for that type only.
 *
 * Times are int64_t microseconds since the epoch (timefmt.h).
 * Strings passed in are NUL-terminated UTF-8 and are copied; strings
 * returned belong to the returned object.
 *
 * The on-disk format (key and value layouts, format version) is
 * documented in codec.c, next to the code that reads and writes it,
 * and stored in the "meta" database; an index of an unknown format
 * version is refused with CM_EFORMAT.
 */
#ifndef CM_INDEX_H
#define CM_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define CM_TYPE_ID_MAX 64	/* newsletter type id: [a-z0-9._-], 1..64 */
#define CM_FIELD_MAX 1024	/* source, basis, purpose, evidence, actor */

typedef struct cm_index cm_index;

/* State of one (address, type) record. */
typedef enum cm_state {
	CM_STATE_NONE = 0,	/* no record (history: before the first event) */
	CM_STATE_PENDING,	/* signed up, waiting for double opt-in confirmation */
	CM_STATE_GRANTED,	/* consent given (confirmed_us != 0 if confirmed) */
	CM_STATE_WITHDRAWN	/* consent withdrawn */
} cm_state;

/* "none", "pending", "granted", "withdrawn"; parse returns CM_EINVAL. */
const char *cm_state_name(cm_state s);
cm_status cm_state_parse(const char *s, cm_state *out);

/* Kinds of change; each applied change appends one history event. */
typedef enum cm_event_kind {
	CM_EV_GRANT = 1,	/* type: state := ev.state (GRANTED or PENDING) */
	CM_EV_CONFIRM,		/* type: PENDING/GRANTED -> GRANTED, confirmed */
	CM_EV_WITHDRAW,		/* type: state := WITHDRAWN */
	CM_EV_OBJECT,		/* address: objection to all marketing; every
				 * granted/pending record becomes WITHDRAWN */
	CM_EV_UPDATE,		/* type: new source/basis/purpose/evidence only */
	CM_EV_SUPPRESS_DOMAIN,	/* domain (in addr): suppress all addresses */
	CM_EV_UNSUPPRESS_DOMAIN,
	CM_EV_ERASE		/* address: remove everything, leave tombstone */
} cm_event_kind;

/* "grant", "confirm", "withdraw", "object", "update", "suppress-domain",
 * "unsuppress-domain", "erase" */
const char *cm_event_kind_name(cm_event_kind k);

/*
 * One change.  ADDR is a normalized key (cm_addr.key) or, for domain
 * events, a normalized domain.  TYPE is required for GRANT, CONFIRM,
 * WITHDRAW, UPDATE and ignored otherwise.  NULL strings mean "none" (for
 * UPDATE: "leave unchanged").  AT_US is when the event happened (the
 * time that "newer event wins" compares); 0 means now.
 *
 * A GRANT newer than an objection lifts the objection for its type only
 * (the person opted in again to that newsletter); a GRANT newer than an
 * erasure removes the tombstone.  A GRANT older than an erasure is
 * stale; one older than an objection (but newer than its record) is
 * stored withdrawn.  An AT_US more than the clock skew after now is
 * refused (CM_EFUTURE).
 */
typedef struct cm_event {
	cm_event_kind kind;
	const char *addr;
	const char *type;
	cm_state state;		/* GRANT only: CM_STATE_GRANTED or PENDING */
	int64_t at_us;
	const char *source;	/* e.g. "web-form", "import", "crm" */
	const char *basis;	/* legal basis, e.g. "consent" */
	const char *purpose;
	const char *evidence;	/* e.g. "form=signup-7 ip=192.0.2.1" */
	const char *actor;	/* who made the change (user, program) */
	/*
	 * ERASE only (ignored otherwise).  With SUBADDR_SEP not 0 and ADDR
	 * a base address (no SUBADDR_SEP in its local part), every stored
	 * sub-address LOCAL SEP * @ DOMAIN is erased in the same
	 * transaction, each leaving a tombstone of its own (so it stays
	 * suppressed even if sub-addressing is later turned off).  ERASED,
	 * if not NULL, is called with each address erased (ADDR first;
	 * LEN octets, NUL-terminated), from the calling thread during the
	 * write: it may see an address twice when the transaction is
	 * retried, and the addresses are erased only if the apply returns
	 * CM_OK.  With ERASED, each address is also recorded in the scrub
	 * queue in the same transaction (scrubq.h): the caller scrubs what
	 * lies outside the index, then calls cm_scrubq_done.
	 */
	char subaddr_sep;
	void (*erased)(void *arg, const char *addr, size_t len);
	void *erased_arg;
} cm_event;

typedef struct cm_index_opts {
	size_t map_size;	/* initial map size; 0 = 64 MiB.  Grows as needed. */
	unsigned max_readers;	/* 0 = 510 */
	bool readonly;		/* open for lookups only */
	bool create;		/* create the directory's files if missing */
	/*
	 * For large imports (consentctl import): LMDB writes pages in
	 * place in a writable map (MDB_WRITEMAP) instead of allocating a
	 * copy of every page it changes and writing it out at commit.
	 * The data file is then extended to the map size (a sparse file:
	 * `du` shows what it holds).  Not for long-running readers such
	 * as the daemon: a stray write of the process could reach the
	 * map.  Readers may use the index normally meanwhile; writers wait
	 * for the writer lock (no_wait below).
	 */
	bool bulk;
	/*
	 * The allowed clock skew: an event (any kind, single, batch,
	 * import or bulk update) dated more than this after now is
	 * refused with CM_EFUTURE, and cm_index_last_error names its time
	 * and the limit.  0 = five minutes (CM_RULES_SKEW_DEFAULT).
	 */
	int64_t clock_skew_us;
	/*
	 * Writers (every open but readonly) hold the writer lock of the
	 * directory (wlock.h) from before the environment is opened until
	 * cm_index_close: one writer process per index.  If another holds
	 * it, cm_index_open waits for it, or with no_wait returns CM_EBUSY
	 * at once (a caller may then tell its user and open again without
	 * no_wait).  Read-only opens never wait.
	 */
	bool no_wait;
	/*
	 * Accept an index of format 1 (keys of addresses normalized before
	 * Unicode normalization) so that cm_migrate_keys (migrate.h) can
	 * re-key it; without it such an index is CM_EFORMAT.  Read-write
	 * only.
	 */
	bool upgrade;
} cm_index_opts;

/*
 * Open the index in directory DIR (which must exist).  With opts->create,
 * a new environment and its erasure key file ("erasure.key", 32 random
 * octets, mode 0600) are created if absent.  OPTS may be NULL (read-write,
 * no create).  Returns CM_OK, CM_NOTFOUND (no index there and not
 * create), CM_EBUSY (a writer, opts->no_wait, another writer holds the
 * index), CM_EFORMAT, CM_EUPGRADE (an index of format 1 opened without
 * opts->upgrade), CM_EPERM (also when DIR's files cannot be looked at),
 * CM_EIO, CM_EDB, CM_ENOMEM.
 *
 * No open ever makes data.mdb shorter: a writer in bulk mode maps at
 * least the file's length (LMDB truncates a writable map's file to the
 * map size), and map sizes only grow.
 */
cm_status cm_index_open(const char *dir, const cm_index_opts *opts,
    cm_index **out);
void cm_index_close(cm_index *idx);

/*
 * Is IDX still open on the file DIR/data.mdb names?  (A process keeps
 * reading a data.mdb that was removed or replaced; LMDB does not
 * notice.)  Compares the device and inode of the open file with the
 * path's.  CM_OK: the same file; CM_ESTALE: the path names another file
 * now; CM_NOTFOUND: there is none; CM_EIO, CM_EPERM, CM_ENOMEM: the
 * check failed.  Cheap (two stat calls); any thread.
 */
cm_status cm_index_check_file(cm_index *idx);

/* Apply one event in its own durable transaction.  CM_ESTALE if older
 * than the stored state, or if it would change nothing (a duplicate; a
 * CONFIRM of a withdrawn record, which never resurrects consent; a
 * WITHDRAW or OBJECT of an erased address): nothing changed.  CM_NOTFOUND
 * for CONFIRM or UPDATE without a record of that type.  CM_EFUTURE for an
 * event dated more than the clock skew after now (cm_index_last_error
 * names its time and the latest time accepted).  CM_EINVAL for a bad
 * event (unknown kind, missing type, invalid type id, field too long).
 * The full rules are documented in rules.h. */
cm_status cm_index_apply(cm_index *idx, const cm_event *ev);

/*
 * Batches: all-or-nothing application of many events (imports).  Events
 * are copied into the batch.  cm_index_apply_batch applies them in one
 * durable transaction; stale events are skipped and counted, any other
 * failure rolls back the whole batch and reports the 0-based position of
 * the offending event in *failed_at.
 */
typedef struct cm_batch cm_batch;
typedef struct cm_batch_result {
	size_t applied;		/* events that changed the index */
	size_t stale;		/* events older than the stored state */
	size_t failed_at;	/* position of the failing event, on error */
} cm_batch_result;

cm_status cm_batch_new(cm_batch **out);
cm_status cm_batch_add(cm_batch *b, const cm_event *ev);
size_t cm_batch_count(const cm_batch *b);
void cm_batch_clear(cm_batch *b);
void cm_batch_free(cm_batch *b);
cm_status cm_index_apply_batch(cm_index *idx, cm_batch *b,
    cm_batch_result *res);
/* Optional: compute the keys of B's events under IDX and their order
 * now, which applying B does otherwise.  It reads only what
 * cm_index_open set up, so another thread may do it while IDX is busy
 * (consentctl's reader thread does, while a batch is being applied). */
cm_status cm_batch_sort(cm_index *idx, cm_batch *b);

/*
 * Imports: many batches, one transaction.  cm_index_import_begin takes
 * the writer lock of this index and LMDB's (other writers, in this
 * process or another, wait until the import ends; readers go on seeing
 * the index as it was) and first grows the map, which cannot grow while
 * the transaction is open, by RESERVE (what the import will add, roughly:
 * some hundred octets an event) and room for copies of the pages it may
 * change.
 * cm_import_apply applies a batch as cm_index_apply_batch does (sorted,
 * stale events skipped and counted in *RES, the failing event's
 * position in res->failed_at), but nothing becomes visible or durable
 * before cm_import_commit: the whole import is all or nothing, and a
 * batch may be cleared and refilled as soon as cm_import_apply returns.
 * Any failure of cm_import_apply or cm_import_commit ends the import
 * with nothing applied; CM_EFULL then means that the map filled up and
 * has been grown: begin the import again.  All calls on one import come
 * from the thread that began it, which makes no other change to the
 * index meanwhile (it would wait for itself).  cm_import_commit and
 * cm_import_abort free the import.
 */
typedef struct cm_import cm_import;

cm_status cm_index_import_begin(cm_index *idx, size_t reserve,
    cm_import **out);
cm_status cm_import_apply(cm_import *im, cm_batch *b, cm_batch_result *res);
cm_status cm_import_commit(cm_import *im);
void cm_import_abort(cm_import *im);

/* What is stored for one address.  Returned in one allocation; strings
 * are "" when absent. */
typedef struct cm_record {
	const char *type;
	cm_state state;
	int64_t granted_us, confirmed_us, withdrawn_us; /* 0 = never */
	int64_t updated_us;	/* time of the last event applied */
	const char *source, *basis, *purpose, *evidence;
} cm_record;

typedef struct cm_entry {
	const char *addr;
	bool objection;		/* an address-wide objection is recorded: it
				 * denies every type except those granted
				 * after it (their own grant lifts it) */
	int64_t objection_us;	/* time of the last objection (0 = never) */
	size_t nrecords;
	cm_record *records;	/* sorted by type */
} cm_entry;

/* Everything stored for normalized address ADDR; CM_NOTFOUND if nothing.
 * Free with cm_entry_free. */
cm_status cm_index_get(cm_index *idx, const char *addr, cm_entry **out);
void cm_entry_free(cm_entry *e);

/* Call CB for every address in index order (the order of the keyed
 * hashes the index uses as keys: stable, not alphabetical), in one
 * consistent snapshot.  CB returns non-zero to stop (cm_index_foreach
 * then returns CM_OK).  The entry is valid only during the call.  The
 * callbacks of this header must not modify the index. */
typedef int (*cm_entry_cb)(const cm_entry *e, void *arg);
cm_status cm_index_foreach(cm_index *idx, cm_entry_cb cb, void *arg);

/* One history event, oldest first. */
typedef struct cm_history_event {
	uint64_t seq;		/* global, increasing */
	int64_t at_us;		/* when it happened (event time) */
	int64_t recorded_us;	/* when it was written to the index */
	cm_event_kind kind;
	const char *type;	/* "" for address-wide events */
	cm_state old_state, new_state;
	const char *source, *basis, *purpose, *evidence, *actor;
} cm_history_event;
typedef int (*cm_history_cb)(const cm_history_event *ev, void *arg);
/* History of normalized address ADDR (or of a domain: its suppression
 * events), oldest first; CM_NOTFOUND if none.  An erased address has no
 * history. */
cm_status cm_index_history(cm_index *idx, const char *addr,
    cm_history_cb cb, void *arg);

/* Domain suppressions: CM_OK if DOMAIN is suppressed (and *since_us set),
 * else CM_NOTFOUND. */
cm_status cm_index_domain_suppressed(cm_index *idx, const char *domain,
    int64_t *since_us);
typedef int (*cm_domain_cb)(const char *domain, int64_t since_us,
    const char *source, void *arg);
cm_status cm_index_foreach_domain(cm_index *idx, cm_domain_cb cb, void *arg);

/* Is normalized ADDR erased (a tombstone exists)?  CM_OK / CM_NOTFOUND. */
cm_status cm_index_is_erased(cm_index *idx, const char *addr);

/*
 * Bulk update: every record matching SEL gets the non-NULL fields of
 * SET (source, basis, purpose, evidence, actor, at_us), one history
 * event each, in one transaction.  With DRY_RUN nothing is written.
 * CM_EFUTURE if SET->at_us is more than the clock skew after now.
 * *COUNT receives the number of matching records.
 */
typedef struct cm_selection {
	const char *type;	/* NULL = any */
	const char *source;	/* NULL = any */
	cm_state state;		/* CM_STATE_NONE = any */
	int64_t granted_before_us;	/* 0 = no bound (exclusive) */
	int64_t granted_after_us;	/* 0 = no bound (inclusive) */
} cm_selection;
cm_status cm_index_bulk_update(cm_index *idx, const cm_selection *sel,
    const cm_event *set, bool dry_run, size_t *count);

typedef struct cm_index_stats {
	size_t addresses;	/* entries with at least one record/objection */
	size_t records;		/* (address, type) records */
	size_t history_events;
	size_t domains;		/* domain suppressions */
	size_t tombstones;
	size_t map_size;	/* current map size, octets */
	size_t map_used;	/* octets in use (last page * page size) */
	size_t page_size;
} cm_index_stats;
cm_status cm_index_stats_get(cm_index *idx, cm_index_stats *st);

/* Per-type, per-state record counts for `consentctl stats`: CB is
 * called once per (type, state) with a non-zero count, in type order. */
typedef int (*cm_count_cb)(const char *type, cm_state state, size_t n,
    void *arg);
cm_status cm_index_count_by_type(cm_index *idx, cm_count_cb cb, void *arg);

/*
 * What the last failing call on IDX in the calling thread reported,
 * beside the status it returned: LMDB's code (an MDB_* code or an errno value; 0 when the
 * failure was not LMDB's, e.g. a corrupt value or a refused event) and a
 * text naming what failed ("lookup: MDB_PAGE_NOTFOUND: ...", "corrupt
 * or unknown data: consent entry", the times of a CM_EFUTURE).  Each
 * thread has its own record, so a daemon's threads never see each
 * other's errors; read it in the thread that got the status, before the
 * next call on the index.  No error yet: code 0, text "no error".
 */
typedef struct cm_index_error {
	int lmdb_rc;		/* LMDB's code, 0 if none */
	char text[256];		/* NUL-terminated */
} cm_index_error;
void cm_index_error_get(const cm_index *idx, cm_index_error *out);

/* The text of cm_index_error_get (kept for callers that want only the
 * text): valid in the calling thread until its next call on IDX; "no
 * index" for NULL; never NULL. */
const char *cm_index_last_error(cm_index *idx);

#endif
