/*
 * scrubq_int.h - the scrub queue (scrubq.h) as the write transactions
 * of the index see it: private to core/ (apply.c, upsync.c).
 */
#ifndef CM_SCRUBQ_INT_H
#define CM_SCRUBQ_INT_H

#include <stddef.h>

#include "apply.h"

/* The named database of the queue. */
#define CM_SCRUBQ_DB "scrubq"

/* In W's transaction: record ADDR (LEN octets) as erased, its scrub
 * pending (nothing for an empty address or one of CM_ADDR_KEY_MAX
 * octets or more, which the index never holds).  CM_OK, CM_ENOMEM,
 * CM_EIO (no HMAC), CM_EFULL, CM_EDB. */
cm_status cm_scrubq_add(cm_apply *w, const char *addr, size_t len);

#endif
