/*
 * scrub.h - zeroing erased data left in the free and unused parts of
 * data.mdb (prefix cm_scrub_).
 *
 * LMDB never overwrites a page in place: the pages that held an erased
 * entry stay in the file as free pages until they are reused, and a
 * recycled page buffer can carry old octets into the unused gap of a
 * live page.  After an erasure commits, cm_scrub_run zeroes free pages no
 * reader can see and copies of the erased strings in the unused gaps.
 * All knowledge of LMDB 0.9's page layout is in scrub.c.  Private to
 * core/.
 */
#ifndef CM_SCRUB_H
#define CM_SCRUB_H

#include <stddef.h>

#include "status.h"
#include "store.h"

/* Strings shorter than this are too generic to identify anyone
 * ("import", "crm"); they are not searched for. */
#define CM_SCRUB_MIN 8

/* The strings to scrub (zero it before first use). */
typedef struct cm_scrub {
	char **str;
	size_t n, cap;
} cm_scrub;

/* Remember LEN octets at P (S may be NULL: nothing is remembered; a
 * string with a NUL or already there is skipped).  CM_OK, CM_ENOMEM. */
cm_status cm_scrub_add(cm_scrub *s, const void *p, size_t len);
/* Forget every string of S. */
void cm_scrub_free(cm_scrub *s);

/*
 * With the writer lock of ST held and no transaction open: zero every
 * free page no reader can see, and the strings of S in the unused parts
 * of live pages and past the last used page (retried for a short while
 * when readers still see freed pages).  CM_OK; CM_EIO, CM_ENOMEM, CM_EDB
 * (the index itself is intact in every case).
 */
cm_status cm_scrub_run(cm_store *st, const cm_scrub *s);

#endif
