/*
 * runsort.h - external sort of an import's events into key order (prefix
 * cm_runsort_).
 *
 * The index keeps its entries in the order of keyed hashes of the
 * addresses: random order.  An import applied batch by batch inserts
 * each batch into the middle of the tree the earlier ones built, a
 * B-tree search and often a page split per event.  Events applied in key
 * order over the whole import instead all land at the right edge of the
 * tree of a new index (appended, no search, full pages), and visit the
 * pages of an existing one once each, left to right.
 *
 * A run sort gets that order in constant memory: each batch is sorted and
 * written as one run to an unlinked temporary file; reading merges the
 * runs.  Events with equal keys (one address) come out in the order they
 * were added, so an import through a run sort applies exactly what the
 * batches would have applied.  Each event carries a tag of the caller's
 * (consentctl: the line of its row) for messages about it.
 *
 * Usage: cm_runsort_new; cm_runsort_add for each batch; then cm_runsort_next
 * until it yields no events; cm_runsort_free.  Memory: the merge reads
 * each run through a buffer of its own, 16 MiB over all runs (at least
 * 16 KiB each); more than 1,024 runs are first merged into one.  Disk:
 * some 60 octets per event plus its strings, in DIR.  One thread at a
 * time per run sort.
 */
#ifndef CM_RUNSORT_H
#define CM_RUNSORT_H

#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "status.h"

typedef struct cm_runsort cm_runsort;

/* A new, empty run sort for events to be applied to IDX, in a temporary
 * file in directory DIR (NULL: $TMPDIR, else /tmp).  CM_EIO with errno
 * set if the file cannot be created, CM_ENOMEM. */
cm_status cm_runsort_new(cm_index *idx, const char *dir, cm_runsort **out);

/* Sort the events of B into key order (cm_batch_sort) and write them as
 * one run; TAGS[i] is the tag of the i-th event added to B.  B is left
 * as it was (sorted).  CM_EIO on a write error (cm_runsort_error says
 * which), CM_ENOMEM. */
cm_status cm_runsort_add(cm_runsort *rs, cm_batch *b,
    const unsigned long *tags);

/* Fill the empty batch B with the next events in key order, at most MAX,
 * and TAGS[i] with the tag of its i-th event; *N = how many (0: all have
 * been read).  B is then in key order for the index (cm_import_apply
 * takes it as it is).  The first call ends the adding.  CM_EIO,
 * CM_EFORMAT (the temporary file was damaged), CM_ENOMEM. */
cm_status cm_runsort_next(cm_runsort *sp, cm_batch *b, size_t max,
    unsigned long *tags, size_t *n);

/* Events added, and runs written so far. */
uint64_t cm_runsort_events(const cm_runsort *sp);
size_t cm_runsort_runs(const cm_runsort *sp);

/* What the last failure was, e.g. "/tmp: write: No space left on
 * device"; "" if none. */
const char *cm_runsort_error(const cm_runsort *sp);

/* Close and free SP and its file (NULL is ignored). */
void cm_runsort_free(cm_runsort *sp);

#endif
