/*
 * mailto.h - mailto unsubscribe: mail to LOCAL+TOKEN@DOMAIN
 * (links.mailto_local, links.mailto_domain) records the withdrawal its
 * token names (prefix cm_mailto_).
 *
 * The milter reads the consent index only; the withdrawal is written by
 * consent-web, the one writer of link withdrawals, over its internal
 * socket (links.mailto_socket; core/mailreq.h).  Flow of a message:
 *
 *   RCPT  a recipient LOCAL+X@DOMAIN: X is opened with the link key
 *         ring (unsub.h).  Forged, damaged, expired, of an unknown key
 *         or not an unsubscribe token: 550 5.1.1 for that recipient,
 *         nothing changes.  The ring cannot be loaded: 451.  A valid
 *         token is kept for end of data (at most CM_MAILTO_MAX a
 *         message; beyond: 452) and the recipient is never checked as a
 *         newsletter recipient.  Every other recipient goes on as usual.
 *   EOM   each token is sent to consent-web with its evidence (envelope
 *         sender, client address, Message-ID) and the milter waits for
 *         the answer (at most links.timeout in all): only when every
 *         one is committed does the message go on; else 451 4.3.0 for
 *         the whole message, and the sending MTA retries (a replay is
 *         recorded once); but 550 5.1.1 when consent-web refuses a
 *         token for good (its 5xx: e.g. expired since RCPT).  Then the token recipients are removed: the
 *         message is discarded when it has no other recipient, or
 *         delivered to links.mailto_deliver_to instead when that is set.
 *   EOH   a message the newsletter check refuses at end of headers has
 *         its tokens recorded first (a 451 if they cannot be); one it
 *         lets through there (monitor, on_error: accept) goes on to EOM.
 *
 * The capture works on every SMTP connection, in scope or not (the
 * mail comes from outside), and in monitor mode too (a withdrawal is a
 * request to honour, not a check of outgoing mail).  Non-SMTP
 * submissions (sendmail(1), pickup: webmail, PHP mail()) are captured
 * too; as they cannot be refused at RCPT, what RCPT would refuse
 * (a bad token, a key ring that cannot be read, beyond the cap) is
 * noted and refused at EOM for the whole message (550 5.1.1, or 451
 * 4.3.0), after the valid tokens were recorded.
 */
#ifndef CM_MAILTO_H
#define CM_MAILTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <libmilter/mfapi.h>

#include "../config/policy.h"

/* Token recipients kept in one message. */
#define CM_MAILTO_MAX 8

/* The mailto unsubscribes of one message (NULL: none). */
typedef struct cm_mailto cm_mailto;

/* Mailto unsubscribe is on under P (config/links.h): RCPT must be seen
 * on every connection, in scope or not. */
bool cm_mailto_wanted(const cm_policy *p);

/*
 * RCPT: is RAW (as the MTA sent it) a mailto unsubscribe address of P?
 * If not, false: the caller goes on.  If so, true, and *R is the
 * callback's answer (see above); a valid token is kept in *M (created
 * at the first one; NULL on failure to allocate, then *R tempfails).
 * LATE (non-SMTP: no refusal at RCPT): what would be refused is noted
 * in *M for cm_mailto_record and *R is SMFIS_CONTINUE.  QID names the
 * message in the log.
 */
bool cm_mailto_rcpt(SMFICTX *ctx, const cm_policy *p, cm_mailto **m,
    const char *raw, bool late, const char *qid, sfsistat *r);

/* A header field of the message: its Message-ID is kept as evidence. */
void cm_mailto_header(cm_mailto *m, const char *name, const char *value);

/*
 * EOM, first: send every kept token to consent-web with the evidence
 * SENDER (bare envelope sender, "" for the null sender) and CLIENT (the
 * SMTP client's address, or NULL), and wait for the answers.
 * SMFIS_CONTINUE when every withdrawal is committed and nothing was
 * noted at RCPT (LATE of cm_mailto_rcpt); otherwise the
 * reply's code (logged with the reason): 550 5.1.1 when consent-web
 * refuses a token for good (a 5xx answer: invalid, expired, malformed),
 * 451 4.3.0 for a 4xx answer or none.
 */
sfsistat cm_mailto_record(SMFICTX *ctx, const cm_policy *p, cm_mailto *m,
    const char *sender, const struct sockaddr *client, const char *qid);

/*
 * EOM, last (after the message's other checks let it go on): remove the
 * token recipients (and add links.mailto_deliver_to once if set).
 * OTHERS is the number of other recipients the filter let pass: with
 * none and no mailto_deliver_to, the message is discarded
 * (SMFIS_DISCARD).  CAN_DEL, CAN_ADD: SMFIF_DELRCPT and SMFIF_ADDRCPT
 * were negotiated.  Never fails the message: the withdrawals are
 * committed; a change the MTA refuses is logged.
 */
sfsistat cm_mailto_finish(SMFICTX *ctx, const cm_policy *p, cm_mailto *m,
    size_t others, bool can_del, bool can_add, const char *qid);

void cm_mailto_free(cm_mailto *m);

#endif
