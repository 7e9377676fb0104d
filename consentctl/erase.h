/*
 * erase.h - what `consentctl erase` does beyond the index (prefix
 * ctl_erase_): the decision log and the DSN spool.
 *
 * ctl_erase_begin() prepares EV (an ERASE event for normalized address
 * A) to erase A's stored sub-addresses too (the configured separator)
 * and to report every address it erased; after cm_index_apply returned
 * CM_OK, ctl_erase_finish() removes the lines of A and its sub-addresses
 * (in clear, in any case, VERP spellings, and as the keyed hashes of
 * log.hash_recipients) from the decision log files (declog_scrub.h) and
 * deletes the spooled DSNs that name them (dsnq_scrub.h).  Without a
 * configuration (-d alone) there is neither log nor spool to reach, and
 * it says so.
 */
#ifndef CTL_ERASE_H
#define CTL_ERASE_H

#include "ctx.h"

typedef struct ctl_erase ctl_erase;

/* 0, or the exit code after printing why (out of memory). */
int ctl_erase_begin(ctl_ctx *c, const cm_addr *a, cm_event *ev,
    ctl_erase **out);

/* 0, or the exit code after printing what could not be reached (the
 * index erasure stands).  Prints a line per place reached.  When all
 * was reached, the addresses leave the scrub queue of C->idx
 * (core/scrubq.h); else they stay there and consentctl sync retries. */
int ctl_erase_finish(ctl_ctx *c, ctl_erase *x);

/* After an erasure that came from the shared store (sync.h), which
 * carries no address: the decision log lines and the spooled DSNs of
 * ADDR, the address the erased entry held, as ctl_erase_finish does (an
 * address of the scrub queue, too).  0, or the exit code after printing
 * what could not be reached. */
int ctl_erase_remote(ctl_ctx *c, const char *addr);

/* NULL is a no-op. */
void ctl_erase_free(ctl_erase *x);

#endif
