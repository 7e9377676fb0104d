/*
 * decide.h - the answer of consent-policy to one policy-delegation
 * request (prefix cm_pddec_).
 *
 * The same decision as the milter's at RCPT (milter/envelope.c), over the
 * same configuration and core functions: the request's client and SASL
 * login against scope (config/policy.h; Postfix sends no daemon name, so
 * the request's policy_context stands for it -- set
 * smtpd_policy_service_policy_context per service; with
 * scope.daemon_names set and no policy_context the mail is checked), the
 * envelope sender ("sender") and SASL login ("sasl_username") classified
 * by config/classify.h, each type of the message decided for the
 * recipient by milter/verdict.h (core/decide.h underneath), the reply
 * kind and text of milter/reply.h and its error policy (cm_reply_action
 * at the RCPT stage).  Action values, after "action=":
 *
 *   CONNECT, HELO, MAIL, VRFY, ETRN; out of scope;
 *     no type by envelope                             DUNNO
 *   DATA, END-OF-MESSAGE after RCPT requests of the
 *     same message (instance) on this connection      DUNNO
 *   DATA, END-OF-MESSAGE otherwise (the service is
 *     missing from smtpd_recipient_restrictions)      decided as at RCPT for
 *                                                     its only recipient (a
 *                                                     refusal refuses the
 *                                                     message); with several
 *                                                     recipients (Postfix
 *                                                     sends none) on_error;
 *                                                     a warning a minute
 *   a mailto unsubscribe address (links.mailto_*)     DUNNO (the milter's)
 *   consent for every type                            DUNNO
 *   denied, enforce                                   550 5.7.1 <rcpt>: no consent for newsletter "T" (reason)
 *                                                     (templates.reply)
 *   several types and multiple_types: refuse          550 5.7.1 Message matches several newsletter types "T,U"
 *   error (no index, failed lookup, a sender that     on_error: tempfail 451 4.3.0 <rcpt>: consent check
 *     cannot be read and no type, no recipient)         failed, try again later; reject 550 5.7.1
 *                                                       <rcpt>: consent check failed; accept DUNNO
 *   monitor mode                                      DUNNO (the decision is logged)
 *
 * The codes are given as numbers ("550", "451"), as access(5) allows, so
 * the client gets the milter's codes (REJECT would be
 * access_map_reject_code, 554 by default).  Mail typed only by headers
 * cannot be decided here: DUNNO, and the milter decides it.
 *
 * A decision is logged as the milter logs it (milter/log.h, with
 * "stage=rcpt via=policy") and recorded in the decision log, with the
 * request's queue_id when Postfix sends one, once: refusals and errors
 * always (the milter never sees those recipients), allowed and monitored
 * recipients only when the milter accepts the message at MAIL FROM
 * (config/classify.h cm_class_pd_fast, the one rule both daemons use);
 * otherwise the milter records them.
 */
#ifndef CM_PDDEC_H
#define CM_PDDEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config/classify.h"
#include "../config/policy.h"
#include "../core/addr.h"
#include "../core/declog.h"
#include "request.h"

/* Room for any action value (a reply text and its codes). */
#define CM_PDDEC_ACTION_MAX 1024

/* The envelope of a request classified (decide.c): what a decision
 * takes from the client, SASL login and sender only, the same for every
 * recipient of a message.  Kept per connection for the next request with
 * the same inputs under the same policy. */
#define CM_PDDEC_ENV_KEY_MAX 1024
#define CM_PDDEC_TYPES_MAX 512
struct cm_pddec_env {
	uint64_t gen;		/* the policy's generation; 0: nothing kept */
	size_t key_len;		/* the inputs, NUL-separated */
	char key[CM_PDDEC_ENV_KEY_MAX];
	bool in_scope;
	cm_status st;		/* of cm_class_envelope */
	cm_typeset ts;
	char types[CM_PDDEC_TYPES_MAX];		/* type ids "a,b"; "" */
	const char *sender;	/* as classified ("" for none): sbuf, or
				 * the request's own (then not kept) */
	char sbuf[CM_ADDR_TEXT_MAX];
};

/* What one connection remembers between requests: the message
 * ("instance") whose recipients it decided at RCPT, and the last
 * envelope classified.  Zero it at the start of a connection; set
 * POLICY_GEN before each request to the generation of the policy it is
 * decided by (cm_live_generation; 0, the default, keeps no envelope). */
typedef struct cm_pddec_seen {
	char instance[64];
	uint64_t policy_gen;
	struct cm_pddec_env env;
} cm_pddec_seen;

/*
 * The action for complete request REQ under policy P into OUT (SIZE >=
 * CM_PDDEC_ACTION_MAX octets; no CR or LF in it).  LOG (may be NULL) is
 * the decision log; SEEN (may be NULL: nothing seen) the connection's
 * memory, updated.  Never fails: a fault gets the error policy's action.
 */
void cm_pddec_decide(const cm_policy *p, cm_declog *log, const cm_pdreq *req,
    cm_pddec_seen *seen, char *out, size_t size);

/*
 * The action for a request that cannot be read (WHY: the parser's
 * account) under P: the error policy for the whole message (451 4.3.0
 * "Consent check failed, try again later" under on_error: tempfail).
 * Logged.
 */
void cm_pddec_malformed(const cm_policy *p, const char *why, char *out,
    size_t size);

#endif
