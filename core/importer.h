/*
 * importer.h - an import of many events into the index, all or nothing,
 * from a source that can be read again (prefix cm_importer_).
 *
 * The driver owns everything between "here are events" and "they are
 * committed": the reserve the map is grown by before the import's
 * transaction begins (it cannot grow while it is open), the external
 * sort of a source of more than one batch (runsort.h), the application
 * in one import transaction (cm_index_import_begin, cm_import_apply,
 * cm_import_commit), and the retry when the map fills up anyway
 * (CM_EFULL: the index has grown the map; the import is begun again and
 * the source rewound and read once more).  The caller maps its input
 * (rows of a file, say) to events and shows progress and diagnostics.
 *
 * Two threads share the work: a reader thread calls the source's next()
 * to fill one batch while the calling thread, which owns the import
 * transaction, sorts or applies the other.  A source of one batch is
 * applied as it is read.  The batches of a longer one are sorted into
 * runs of a temporary file while it is read; then the reader thread
 * merges them in key order into batches that the calling thread applies:
 * into a new index that is appending, no search and no page split.
 *
 * Any failure (of the source, the sort, the index, or the map filling up
 * more than opts->attempts times) ends the transaction before its
 * commit: nothing is applied, and readers see the index as it was.
 *
 * Usage: cm_importer_new; cm_importer_run (any number of times, one at
 * a time); cm_importer_stats, cm_importer_failure; cm_importer_free.
 */
#ifndef CM_IMPORTER_H
#define CM_IMPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "status.h"

/*
 * Where the events come from.  The callbacks are called one at a time
 * (never concurrently), next() on the driver's reader thread, rewind()
 * on the thread of cm_importer_run.
 */
typedef struct cm_import_source {
	/*
	 * Go back to the first event, for pass PASS (0, 1, ...: a pass
	 * after the first follows a CM_EFULL, and the source may, e.g.,
	 * not list again the bad input it listed in pass 0).  CM_OK, or a
	 * status that ends the import (stage CM_IMPORTER_SOURCE).
	 */
	cm_status (*rewind)(void *arg, unsigned pass);
	/*
	 * Add the next events to the empty batch B (cm_batch_add), at most
	 * MAX, and set TAGS[i] to the caller's tag of the i-th (e.g. the
	 * line it comes from: the driver names it when that event fails);
	 * *N = how many were added, 0 at the end of the source.  CM_OK, or a
	 * status that ends the import (stage CM_IMPORTER_SOURCE; the source
	 * keeps its own account of why).
	 */
	cm_status (*next)(void *arg, cm_batch *b, size_t max,
	    unsigned long *tags, size_t *n);
	void *arg;
	/* Octets and records of the source, for the reserve estimate
	 * (cm_importer_reserve); 0 if unknown. */
	uint64_t octets, records;
} cm_import_source;

typedef enum cm_importer_phase {
	/* A batch was applied (calling thread): DONE = events applied or
	 * stale so far in this pass; TOTAL = 0. */
	CM_IMPORTER_APPLIED = 1,
	/* Merging the sorted runs (reader thread): DONE of TOTAL events
	 * handed over to be applied; first called with DONE = 0. */
	CM_IMPORTER_MERGING
} cm_importer_phase;

typedef void (*cm_importer_progress_fn)(void *arg, cm_importer_phase ph,
    uint64_t done, uint64_t total);

typedef struct cm_importer_opts {
	size_t batch;		/* events per batch; 0 = 100000 */
	size_t reserve;		/* octets to grow the map by before the
				 * import; 0 = cm_importer_reserve of the
				 * source's octets and records */
	unsigned attempts;	/* passes at most (CM_EFULL); 0 = 4 */
	const char *tmpdir;	/* for the sort; NULL: $TMPDIR, else /tmp */
	cm_importer_progress_fn progress;	/* NULL: none */
	void *progress_arg;
} cm_importer_opts;

/* Where an import failed. */
typedef enum cm_importer_stage {
	CM_IMPORTER_NONE = 0,	/* it did not */
	CM_IMPORTER_SOURCE,	/* the source's next() or rewind() */
	CM_IMPORTER_BEGIN,	/* cm_index_import_begin */
	CM_IMPORTER_TMPFILE,	/* creating the sort's temporary file */
	CM_IMPORTER_SORT,	/* writing or reading back the sorted runs */
	CM_IMPORTER_APPLY,	/* an event (its tag is known) */
	CM_IMPORTER_COMMIT,	/* cm_import_commit */
	CM_IMPORTER_FULL,	/* the map filled up on every attempt */
	CM_IMPORTER_THREAD	/* the reader thread could not start */
} cm_importer_stage;

typedef struct cm_importer_stats {
	uint64_t events;	/* read from the source (last pass) */
	uint64_t applied;	/* that changed the index */
	uint64_t stale;		/* older than the stored state */
	unsigned passes;	/* over the source (1 + retries) */
	bool sorted;		/* through the external sort */
} cm_importer_stats;

typedef struct cm_importer cm_importer;

/* A driver for imports into IDX (opened for writing, bulk mode advised:
 * cm_index_opts.bulk), with options O (NULL: defaults; copied).  CM_OK,
 * CM_EINVAL, CM_ENOMEM. */
cm_status cm_importer_new(cm_index *idx, const cm_importer_opts *o,
    cm_importer **out);

/*
 * Import every event of SRC in one transaction: CM_OK when committed.
 * Otherwise nothing is applied, and the status is the failure's:
 * cm_importer_failure says where.  CM_EFULL (stage CM_IMPORTER_FULL)
 * after opts.attempts passes that each filled the map.
 */
cm_status cm_importer_run(cm_importer *imp, const cm_import_source *src);

/* Counts of the last run (all 0 before one). */
void cm_importer_stats_get(const cm_importer *imp, cm_importer_stats *out);

/*
 * Where the last run failed (CM_IMPORTER_NONE if it did not); for
 * CM_IMPORTER_APPLY *TAG = the tag of the event that failed (0 if not
 * known), else 0.  Returns a description without the input's name, e.g.
 * "cannot apply: invalid argument" or "cannot sort the events: I/O
 * error: /tmp: write: No space left on device"; "" if none.  TAG may be
 * NULL.
 */
const char *cm_importer_failure(const cm_importer *imp,
    cm_importer_stage *stage, unsigned long *tag);

/*
 * What an import of OCTETS of input in RECORDS records adds to the index
 * at most, roughly, for cm_index_import_begin (which also allocates room
 * for copies of the pages the import changes).  An event stores its
 * strings twice (the record and its history event) plus some 190 octets
 * of keys, headers and B-tree slack, so: twice the input, 192 octets a
 * record, 256 KiB for the tree's upper pages.  Too little is safe: the
 * map fills, is grown, and the source is read again.
 */
size_t cm_importer_reserve(uint64_t octets, uint64_t records);

/* Free IMP (NULL is ignored).  Not during cm_importer_run. */
void cm_importer_free(cm_importer *imp);

#endif
