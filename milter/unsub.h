/*
 * unsub.h - one-click unsubscribe headers (RFC 8058, RFC 2369) added by
 * the milter (prefix cm_unsub_).
 *
 * A newsletter of exactly one known type that leaves with exactly one
 * recipient gets
 *   List-Unsubscribe: <BASE/u/TOKEN>, <mailto:LOCAL+TOKEN@DOMAIN>
 *   List-Unsubscribe-Post: List-Unsubscribe=One-Click
 * with a token (core/token.h) for that recipient and type (the mailto
 * form only when links.mailto_domain is set: mail to it is captured by
 * milter/mailto.h).  A message
 * with several recipients cannot carry a link per recipient: it is left
 * as it is and the log says so.  Settings: the links: section
 * (config/links.h).
 */
#ifndef CM_UNSUB_H
#define CM_UNSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <libmilter/mfapi.h>

#include "../config/policy.h"
#include "../core/token.h"

/* What the filter knows of a message at end of data. */
typedef struct cm_unsub_msg {
	const cm_policy *policy;
	size_t ntypes;			/* types the message matches */
	const char *type;		/* their ids ("a,b"); one id if ntypes 1 */
	const char *const *rcpts;	/* recipients as received */
	const unsigned char *deny;	/* deny[i]: rcpts[i] was removed; or NULL */
	size_t nrcpts;
	bool incomplete;		/* more recipients than were kept */
	int sender_hdrs;		/* List-Unsubscribe headers the client sent */
	bool monitor;			/* monitor mode: change nothing */
	bool can_addhdr, can_chghdr;	/* negotiated */
	const char *qid;
} cm_unsub_msg;

/*
 * Links are enabled in P: the filter keeps the recipients of
 * envelope-typed newsletters and goes on to end of message (it would
 * accept them at DATA or end of headers otherwise).
 */
bool cm_unsub_wanted(const cm_policy *p);

/*
 * At end of message, after recipients were removed: add the headers if
 * links are enabled and M qualifies (see above), replacing the sender's
 * own List-Unsubscribe (and List-Unsubscribe-Post) when links.sender_header
 * is replace, adding none when it is keep.  Never fails the message: a
 * problem (no key ring, header refused) is logged and the message goes
 * on without the headers.  Thread-safe.
 */
void cm_unsub_eom(SMFICTX *ctx, const cm_unsub_msg *m);

/*
 * Open the token TEXT (LEN octets) under the key ring of P's links:
 * section (the ring this module seals with, loaded again when its
 * directory changes) at the current time, refused when older than
 * links.max_age.  CM_OK (*OUT holds the token), cm_token_open's
 * failures (CM_EINVAL, CM_NOTFOUND for an unknown key id, CM_ESTALE,
 * CM_EFUTURE), or CM_EIO when the key ring cannot be loaded (logged).
 * Thread-safe.
 */
cm_status cm_unsub_open(const cm_policy *p, const char *text, size_t len,
    cm_token *out);

#endif
