/*
 * content.h - the filter's content stage: headers, end of headers, end
 * of data (prefix cm_content_).  libmilter callbacks registered by
 * filter.c; the state is conn.h's, the flow filter.c's header comment.
 *
 * Each returns the SMFIS_* code for the MTA.  A fault (headers beyond
 * the caps or unreadable, recipients not kept, a failed lookup, out of
 * memory, a refused smfi_delrcpt) is answered by the error policy of
 * reply.h (cm_reply_action).
 */
#ifndef CM_CONTENT_H
#define CM_CONTENT_H

#include <libmilter/mfapi.h>

/* One header: kept when a rule or the bulk detection looks at it. */
sfsistat cm_content_header(SMFICTX *ctx, char *name, char *value);

/* End of headers: classifies the message by its headers. */
sfsistat cm_content_eoh(SMFICTX *ctx);

/* End of data: decides the kept recipients, removes the denied ones,
 * adds the trace header, queues the DSN; ends the message. */
sfsistat cm_content_eom(SMFICTX *ctx);

#endif
