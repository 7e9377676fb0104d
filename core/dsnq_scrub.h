/*
 * dsnq_scrub.h - removing an erased address from the DSN spool (prefix
 * cm_dsnq_scrub_).
 *
 * A spooled DSN (dsnq.h) goes to the sender of a newsletter and names
 * the recipients that were removed: it is about them.  On erasure every
 * spooled DSN, pending (ID.dsn) or given up (ID.failed), whose file
 * matches the erasure (erasure.h: headers and message, the
 * Final-Recipient fields and the text part included) is deleted, and
 * the spool directory synced.  A DSN the milter's queue thread has
 * already read for a delivery attempt may still be sent once; a pending
 * one deleted between attempts is dropped from its queue with a
 * "spool file unreadable" message.
 */
#ifndef CM_DSNQ_SCRUB_H
#define CM_DSNQ_SCRUB_H

#include <stddef.h>

#include "erasure.h"
#include "status.h"

/*
 * Delete the DSNs of spool directory SPOOL that match E; *N (may be
 * NULL) receives how many.  CM_OK, CM_NOTFOUND (no spool: nothing to
 * do), CM_EIO, CM_EPERM, CM_ENOMEM (a file that cannot be read or
 * deleted stops the run with its error).
 */
cm_status cm_dsnq_scrub_run(const char *spool, const cm_erasure *e,
    size_t *n);

#endif
