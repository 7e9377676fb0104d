/*
 * trace.h - the X-Consent-Milter trace header (prefix cm_trace_).
 */
#ifndef CM_TRACE_H
#define CM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <libmilter/mfapi.h>

#include "../core/tmpl.h"

/*
 * The trace header value: template T (templates.trace_header) expanded
 * with VALS[CM_TMPL_NVARS] (its %{removed} and %{kept} are set here from
 * REMOVED and KEPT), ASCII only, into V (SIZE > 0 octets); in MONITOR
 * mode "; mode=monitor; denied=N" follows (N would have been removed).
 */
void cm_trace_value(const cm_tmpl *t, const char **vals, bool monitor,
    size_t removed, size_t kept, size_t denied, char *v, size_t size);

/*
 * Delete the OWN_HDRS trace headers the client sent (when CAN_CHGHDR)
 * and add one with VALUE (when CAN_ADDHDR).  Only at end of message.
 * Returns 0, or -1 if libmilter refused the new header.
 */
int cm_trace_set(SMFICTX *ctx, int own_hdrs, bool can_chghdr,
    bool can_addhdr, const char *value);

#endif
