/*
 * request.h - one Postfix policy-delegation request, read incrementally
 * and within bounds (prefix cm_pdreq_).
 *
 * Postfix's SMTPD_POLICY_README: a request is a sequence of "name=value"
 * lines, each ended by LF, and ends with an empty line; one connection
 * carries many requests in sequence.  The parser takes the bytes as they
 * arrive (any split), keeps at most one request, and refuses:
 *   - a line longer than CM_PDREQ_LINE_MAX octets (without its LF);
 *   - more than CM_PDREQ_ATTRS_MAX attributes;
 *   - a request larger than CM_PDREQ_SIZE_MAX octets in all;
 *   - a line without '=', an empty name, a name that is not lower-case
 *     ASCII letters, digits, '_' or '-', a NUL octet anywhere, and the
 *     same name twice (an ambiguous request is never guessed at).
 * A CR before the LF is dropped.  After a refusal the connection cannot
 * be resynchronised: the caller answers with an error and closes it.
 * Nothing here allocates after cm_pdreq_new(), logs or blocks.
 */
#ifndef CM_PDREQ_H
#define CM_PDREQ_H

#include <stddef.h>

#define CM_PDREQ_LINE_MAX 2048
#define CM_PDREQ_ATTRS_MAX 100
#define CM_PDREQ_SIZE_MAX 16384

typedef struct cm_pdreq cm_pdreq;

typedef enum cm_pdreq_rc {
	CM_PDREQ_MORE = 0,	/* every byte taken; the request goes on */
	CM_PDREQ_DONE,		/* a whole request is here */
	CM_PDREQ_BAD		/* malformed: cm_pdreq_error() says why */
} cm_pdreq_rc;

/* A parser with no request yet; NULL when out of memory. */
cm_pdreq *cm_pdreq_new(void);
/* Free R (NULL is allowed). */
void cm_pdreq_free(cm_pdreq *r);

/*
 * Take bytes DATA[0..LEN) of the stream.  Returns CM_PDREQ_MORE when all
 * were taken and the request is not complete, CM_PDREQ_DONE when the
 * empty line ending a request was read (*USED octets were taken; the
 * rest belongs to the next request: cm_pdreq_reset() first), or
 * CM_PDREQ_BAD (*USED undefined; R stays refused until reset).
 */
cm_pdreq_rc cm_pdreq_feed(cm_pdreq *r, const char *data, size_t len,
    size_t *used);

/* Forget the request (after DONE or BAD) and start afresh. */
void cm_pdreq_reset(cm_pdreq *r);

/*
 * The value of attribute NAME of a complete request (after DONE), or
 * NULL if the request has none.  Valid until the next reset or feed.
 */
const char *cm_pdreq_get(const cm_pdreq *r, const char *name);

/* Number of attributes of the complete request. */
size_t cm_pdreq_count(const cm_pdreq *r);

/* Why the request was refused (after BAD), a constant text; "" if not. */
const char *cm_pdreq_error(const cm_pdreq *r);

#endif
