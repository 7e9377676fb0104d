/*
 * envelope.h - the filter's envelope stage: connect, MAIL, RCPT, DATA
 * (prefix cm_env_).  libmilter callbacks registered by filter.c; the
 * state is conn.h's, the flow filter.c's header comment.
 *
 * Each returns the SMFIS_* code for the MTA.  A fault (out of memory, a
 * sender that cannot be normalized, a failed lookup, a recipient cap)
 * is answered by the error policy of reply.h (cm_reply_action).
 */
#ifndef CM_ENVELOPE_H
#define CM_ENVELOPE_H

#include <stdbool.h>
#include <sys/socket.h>
#include <libmilter/mfapi.h>

#include "../config/policy.h"

/* Connect: notes the client's address and daemon name, whether this is
 * a non-SMTP submission; ACCEPT when the connection is out of scope.
 * Negotiated without a reply (SMFIP_NR_CONN, cm_env_connect_may_accept()
 * false): SMFIS_NOREPLY, and a failure here (out of memory) is noted on
 * the connection and answered at each MAIL by the error policy instead,
 * as cm_conn_fail_current() answers it (fail closed). */
sfsistat cm_env_connect(SMFICTX *ctx, char *hostname,
    struct sockaddr *hostaddr);

/* Can connect accept a connection under policy P?  Only one out of scope
 * even if the client authenticates later, where no mailto unsubscribe
 * is watched: false when scope.authenticated is on (every client may
 * authenticate) or links.mailto_domain is set.  False: connect always
 * answers CONTINUE (or fails), so it is negotiated without a reply. */
bool cm_env_connect_may_accept(const cm_policy *p);

/* MAIL: starts a message, classifies it by its envelope (and SASL
 * login); ACCEPT when nothing of it needs checking.  Negotiated without
 * a reply (SMFIP_NR_MAIL, milter.mail_reply: the MTA does not wait for
 * MAIL, one round trip a message less): SMFIS_NOREPLY, and an answer
 * other than CONTINUE (ACCEPT, or a refusal with its text) is held on
 * the connection for the next step that has a reply (cm_env_held).
 * Where it is not known whether the MTA waits (a reused connection whose
 * negotiation was forgotten, conn.h): CONTINUE, and the answer held. */
sfsistat cm_env_from(SMFICTX *ctx, char **argv);

struct cm_conn;

typedef enum cm_env_step {
	CM_ENV_RCPT,		/* RCPT */
	CM_ENV_END		/* DATA, end of headers, end of message */
} cm_env_step;

/*
 * MAIL's held answer at a later STEP of the message of connection C:
 * false when none is held (the step goes on as usual).  True with the
 * answer in *R: ACCEPT at any step (the message is done; no longer
 * held); a refusal (with its reply text) at the first RCPT of an SMTP
 * message and at every CM_ENV_END step, while other RCPTs continue: the
 * recipients accepted after the first are refused with the message at
 * DATA, end of headers or end of message (which always has a reply), and
 * the client meets one error at RCPT, not one per recipient (the MTA
 * counts those: Postfix's smtpd_hard_error_limit).  A non-SMTP
 * submission, whose recipients the MTA cannot refuse one by one (Postfix
 * defers it as a configuration error), gets it only at CM_ENV_END.
 */
bool cm_env_held(SMFICTX *ctx, struct cm_conn *c, cm_env_step step,
    sfsistat *r);

/* RCPT: decides an envelope-typed recipient, keeps recipients for the
 * end-of-data check. */
sfsistat cm_env_rcpt(SMFICTX *ctx, char **argv);

/* DATA: ACCEPT when every recipient is decided already. */
sfsistat cm_env_data(SMFICTX *ctx);

#endif
