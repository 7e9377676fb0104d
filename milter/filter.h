/*
 * filter.h - the libmilter callbacks (prefix cm_filter_).
 *
 * All state lives behind smfi_setpriv(): one cm_conn per MTA connection
 * (allocated at negotiate, freed at close) holding one message at a
 * time (reset at MAIL, end of message, abort and close).  No thread-local
 * storage: libmilter's worker pool runs one connection's callbacks on
 * different threads.
 *
 * Per message, memory is bounded.  When a message is classified only
 * from its headers, the recipients must be kept until end of data (the
 * raw addresses, for smfi_delrcpt):
 *   - at most CM_FILTER_MAX_RCPTS recipients and CM_FILTER_MAX_RCPT_BYTES
 *     octets of them; a recipient beyond either cap gets
 *     "452 4.5.3 Too many recipients" (tempfail; the client sends it again
 *     in a later transaction);
 *   - of the headers, only those a rule or the bulk detection looks at are
 *     kept: at most CM_FILTER_MAX_HDRS of them and CM_FILTER_MAX_HDR_BYTES
 *     octets; a message beyond either cap is tempfailed at end of headers
 *     ("451 4.3.0"), since classifying it on part of its headers could
 *     let a newsletter through unchecked.
 * In monitor mode nothing is refused: beyond the caps the extra data is
 * not kept, and that is logged.
 */
#ifndef CM_FILTER_H
#define CM_FILTER_H

#include <stdbool.h>

#define CM_FILTER_NAME "consent-milter"
#define CM_FILTER_MAX_RCPTS 10000
#define CM_FILTER_MAX_RCPT_BYTES (1024 * 1024)
#define CM_FILTER_MAX_HDRS 64
#define CM_FILTER_MAX_HDR_BYTES (64 * 1024)
#define CM_FILTER_TRACE_HEADER "X-Consent-Milter"

/*
 * smfi_register() the filter; 0 on success, -1 on failure.  TCP: the
 * milter socket is inet: or inet6: (steps the MTA sends without waiting
 * for a reply are then chosen so that no message waits on a delayed TCP
 * acknowledgement: filter.c).
 */
int cm_filter_register(bool tcp);

/* After smfi_main(): drop what the filter keeps across connections. */
void cm_filter_shutdown(void);

#endif
