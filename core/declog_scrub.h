/*
 * declog_scrub.h - removing an erased address from the decision log
 * (prefix cm_declog_scrub_).
 *
 * cm_declog_scrub_run() rewrites every day file of the log directory
 * (decisions-YYYY-MM-DD.jsonl, declog.h) that holds a line matching an
 * erasure (erasure.h): the other lines are copied, in order, to a
 * temporary file in the same directory (".decisions-….scrub", same
 * mode and, where permitted, owner), which is synced and renamed over
 * the day file; then the directory is synced.  A file without a match
 * is left as it is.
 *
 * Safe against the milter appending at the same time: the writer
 * (declog.c) appends a batch only while holding an exclusive flock(2) on
 * the day file it writes, and only to a file still linked
 * (cm_declog_scrub_lock); the rewrite holds the same lock from its first
 * read to the rename.  A batch written before the rewrite took the lock
 * is in what it copies; one written after waits, finds its file replaced
 * and appends to the new one.  Nothing the milter writes meanwhile is
 * lost.
 */
#ifndef CM_DECLOG_SCRUB_H
#define CM_DECLOG_SCRUB_H

#include <stdint.h>

#include "erasure.h"
#include "status.h"

typedef struct cm_declog_scrub_stats {
	uint64_t files;		/* day files rewritten */
	uint64_t lines;		/* lines removed */
} cm_declog_scrub_stats;

/*
 * Remove every line matching E from the day files of DIR.  *ST (may be
 * NULL) counts what was done, also on failure.  CM_OK, CM_NOTFOUND (no
 * such directory: nothing to do), CM_EIO, CM_EPERM, CM_ENOMEM; on
 * failure the file being rewritten is left as it was.
 */
cm_status cm_declog_scrub_run(const char *dir, const cm_erasure *e,
    cm_declog_scrub_stats *st);

/*
 * For the writer: take an exclusive flock on day file FD (blocking) and
 * check that it is still linked.  Returns 1 (locked: append, then
 * cm_declog_scrub_unlock), 0 (the file was replaced or removed: not
 * locked; reopen it by name and try again), -1 (errno set).
 */
int cm_declog_scrub_lock(int fd);
void cm_declog_scrub_unlock(int fd);

/*
 * For the writer: the base address of recipient RCPT under SEP, as
 * cm_addr_normalize derives it (RCPT without SEP TAG: from the first SEP
 * of the local part, unless that is its first character) into OUT (SIZE
 * octets); returns its length, or 0 when RCPT has no sub-address (or SEP
 * is 0, or it does not fit).
 */
size_t cm_declog_scrub_base(const char *rcpt, char sep, char *out,
    size_t size);

#endif
