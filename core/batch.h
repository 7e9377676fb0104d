/*
 * batch.h - applying a batch of events (prefix cm_batch_): what the
 * index (index.c, import.c) needs of index.h's cm_batch beyond its
 * public calls.  Private to the index.
 */
#ifndef CM_BATCH_H
#define CM_BATCH_H

#include <stddef.h>

#include "apply.h"
#include "index.h"

/*
 * Apply the events of B, sorted by cm_batch_sort, in key order in W's
 * transaction; counts them in w->applied and w->stale.  CM_OK, or the
 * status of the first event that failed (*FAILED_AT: its position as
 * added), as cm_apply_event.
 */
cm_status cm_batch_run(const cm_batch *b, cm_apply *w, size_t *failed_at);

/* An estimate of the map space applying B takes (octets). */
size_t cm_batch_bytes(const cm_batch *b);

#endif
