/*
 * scrubq.h - the erased addresses whose decision log lines and spooled
 * DSNs remain to be scrubbed (prefix cm_scrubq_).
 *
 * The index erases an address in one transaction; the decision log and
 * the DSN spool lie outside it and are scrubbed by consentctl after the
 * commit.  A process killed in between would lose that scrub for good,
 * so the erasure records the address, in the SAME write transaction, in
 * the named LMDB database "scrubq" (key: the address's keyed hash, AKEY;
 * value: the address enciphered under the index's key, so that its
 * octets are not in the file) whenever its caller asked to be told the
 * erased addresses (an
 * ERASE with an erased callback, index.h, or an erasure from the shared
 * store, upsync.h): whoever asks promises to scrub.  After the scrub
 * succeeded the caller removes the row (cm_scrubq_done); consentctl sync
 * runs what is left when it starts and after every batch that erased.
 *
 * Each row has a generation: the id of the write transaction that
 * queued it (0 for a row of an older version).  A caller that scrubs
 * without holding the writer lock (consentctl sync) lists the rows with
 * their generations, scrubs, and removes each with cm_scrubq_done_gen:
 * a row queued again meanwhile (the address erased anew, a scrub to
 * come) has another generation and stays.
 *
 * The enciphered address stays in the index's file until its scrub is
 * done.
 */
#ifndef CM_SCRUBQ_H
#define CM_SCRUBQ_H

#include <stddef.h>
#include <stdint.h>

#include "index.h"

/* Called with each pending address (NUL-terminated, valid during the
 * call only).  Non-zero stops. */
typedef int (*cm_scrubq_cb)(const char *addr, void *arg);

/* Call CB for every pending address of IDX, in one read snapshot.
 * CM_OK (also when none), CM_EDB; CM_ENOMEM, CM_EIO (the row's cipher:
 * no HMAC). */
cm_status cm_scrubq_list(cm_index *idx, cm_scrubq_cb cb, void *arg);

/* As cm_scrubq_cb, with the row's generation GEN. */
typedef int (*cm_scrubq_gen_cb)(const char *addr, uint64_t gen,
    void *arg);

/* As cm_scrubq_list, with each row's generation. */
cm_status cm_scrubq_list_gen(cm_index *idx, cm_scrubq_gen_cb cb,
    void *arg);

/* The scrub of ADDR is done: delete its row.  CM_OK (also when there
 * was none), CM_EINVAL, CM_EPERM (read-only), CM_EDB. */
cm_status cm_scrubq_done(cm_index *idx, const char *addr);

/* The scrub of ADDR, listed with generation GEN (cm_scrubq_list_gen), is
 * done: delete its row if it still has that generation; a row queued
 * again since stays.  Returns as cm_scrubq_done (CM_OK also when the row
 * stays), and CM_ENOMEM, CM_EIO (the row's cipher). */
cm_status cm_scrubq_done_gen(cm_index *idx, const char *addr, uint64_t gen);

#endif
