/*
 * prefault.h - make the pages of a shared file mapping present and
 * writable ahead of a writer, on another thread (prefix cm_prefault_).
 *
 * A writer that fills a writable map of a file page by page (LMDB with
 * MDB_WRITEMAP) takes a page fault on the first write of every page:
 * the kernel allocates the page, zeroes it and makes it writable, on the
 * writer's thread.  A prefaulter does that work on its own thread, a
 * little ahead of the writer, with madvise(MADV_POPULATE_WRITE), which
 * faults the pages in as a write would but changes no octet of them.
 *
 * The writer tells how far it has come (cm_prefault_advance); the
 * prefaulter keeps the pages up to that point plus a look-ahead present,
 * never beyond the range it was given.  A page it makes writable is
 * dirty, so pages it populates that the writer never uses are written
 * back as the zeros they hold: the look-ahead bounds that.
 *
 * Nothing here is needed for correctness: every failure (no such
 * madvise, no memory) only stops the prefaulting; the writer then takes
 * its own faults.
 */
#ifndef CM_PREFAULT_H
#define CM_PREFAULT_H

#include <stddef.h>

typedef struct cm_prefault cm_prefault;

/* Start prefaulting within [BASE, BASE + LEN) (BASE page-aligned; the
 * range must stay mapped, and backed by allocated file blocks, until
 * cm_prefault_stop), AHEAD octets ahead of the writer, which starts at
 * BASE.  Returns NULL (and nothing runs) if no thread can be started. */
cm_prefault *cm_prefault_start(void *base, size_t len, size_t ahead);

/* The writer has reached offset POS of the range. */
void cm_prefault_advance(cm_prefault *pf, size_t pos);

/* Stop the thread and free PF (NULL is ignored).  Returns the octets it
 * populated. */
size_t cm_prefault_stop(cm_prefault *pf);

#endif
