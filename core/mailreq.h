/*
 * mailreq.h - the mailto unsubscribe request from the milter to
 * consent-web (prefix cm_mailreq_).
 *
 * The milter reads the consent index only; consent-web is the one
 * writer of link withdrawals (web/writer.h).  When mail to a mailto
 * unsubscribe address LOCAL+TOKEN@DOMAIN (config/links.h) reaches end of
 * data, the milter connects to consent-web's internal unix socket
 * (links.mailto_socket), sends one request line per connection and
 * waits for one reply line:
 *
 *   request   MAILTO SP TOKEN SP <SENDER> SP CLIENT SP MESSAGE-ID LF
 *   reply     CODE SP TEXT LF
 *
 * TOKEN is the token as written in the address; <SENDER> the envelope
 * sender in angle brackets ("<>" for the null sender); CLIENT the SMTP
 * client's IPv4 or IPv6 address, or "-"; MESSAGE-ID the Message-ID
 * header field's value, or "-".  Every field is printable ASCII without
 * spaces (cm_mailreq_format replaces anything else with '_' and cuts
 * each field to its limit below); the whole line, LF included, is at
 * most CM_MAILREQ_LINE_MAX octets.  CODE: 250 recorded (committed, or
 * already recorded before: a replay), 451 not recorded now (the index
 * is busy or failed: try again), 550 the token is invalid, expired,
 * of an unknown key or not an unsubscribe token, 500 the request is
 * malformed.  The token is opened by consent-web too: access to the
 * socket allows nothing a token does not.
 *
 * Pure functions but cm_mailreq_call (one socket exchange).  No
 * allocation, no logging.
 */
#ifndef CM_MAILREQ_H
#define CM_MAILREQ_H

#include <stddef.h>

#include "status.h"
#include "token.h"

#define CM_MAILREQ_LINE_MAX 2048	/* request line with its LF */
#define CM_MAILREQ_SENDER_MAX 400	/* <SENDER>, brackets included */
#define CM_MAILREQ_CLIENT_MAX 64
#define CM_MAILREQ_MSGID_MAX 300
#define CM_MAILREQ_REPLY_MAX 256	/* reply line with its LF */

/* A parsed request; every field NUL-terminated. */
typedef struct cm_mailreq {
	char token[CM_TOKEN_TEXT_MAX];
	char sender[CM_MAILREQ_SENDER_MAX + 1];
	char client[CM_MAILREQ_CLIENT_MAX + 1];	/* "" when "-" */
	char msgid[CM_MAILREQ_MSGID_MAX + 1];	/* "" when "-" */
} cm_mailreq;

/*
 * The request line for TOKEN (TOKLEN octets) with evidence SENDER (bare
 * address or "" for the null sender; NULL: "<>"), CLIENT and MSGID
 * (NULL or "": "-") into OUT (SIZE octets, NUL-terminated, ending in
 * LF).  Returns the line's length, or 0 when TOKEN is empty, longer
 * than CM_TOKEN_TEXT_MAX - 1 or not base64url, or OUT is too small
 * (CM_MAILREQ_LINE_MAX + 1 is always enough).
 */
size_t cm_mailreq_format(const char *token, size_t toklen,
    const char *sender, const char *client, const char *msgid, char *out,
    size_t size);

/*
 * Parse the request line LINE (LEN octets, need not be NUL-terminated;
 * one trailing LF or CRLF allowed) into *OUT.  CM_OK, or CM_EINVAL for
 * anything else (wrong verb, field count or syntax, a field over its
 * limit, NUL or other control octets); CM_ETOOLONG for a line over
 * CM_MAILREQ_LINE_MAX.  On failure *OUT is not to be used.
 */
cm_status cm_mailreq_parse(const char *line, size_t len, cm_mailreq *out);

/*
 * The code of reply line LINE (LEN octets): 200..599 when it starts with
 * three digits and a space (or ends there), else -1.
 */
int cm_mailreq_reply_code(const char *line, size_t len);

/*
 * Send the request REQ (LEN octets, a line of cm_mailreq_format) to the
 * unix socket PATH and read the reply, waiting at most TIMEOUT_MS in
 * all.  The reply line (without LF, NUL-terminated, cut to RSIZE - 1
 * octets) goes into REPLY.  Returns the reply's code, or -1 (connection
 * refused, no such socket, timeout, closed without a full reply, a
 * malformed reply, a server that runs neither as this process's
 * effective user nor as root (SO_PEERCRED: the request is not sent);
 * REPLY then says why, from errno).  SIGPIPE is not raised
 * (MSG_NOSIGNAL).
 */
int cm_mailreq_call(const char *path, unsigned timeout_ms, const char *req,
    size_t len, char *reply, size_t rsize);

#endif
