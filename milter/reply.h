/*
 * reply.h - every SMTP reply of the daemon and its SMFIS_* outcome
 * (prefix cm_reply_).
 *
 * This is the one place that writes reply texts and maps outcomes to
 * libmilter return codes.  Texts are made safe for smfi_setreply():
 * CR, LF and other control characters become '?', '%' is doubled, the
 * recipient part is capped, the whole text stays under CM_REPLY_TEXT_MAX
 * octets (libmilter's limit is 980), and a 4xx code always goes with
 * SMFIS_TEMPFAIL and a 5xx code with SMFIS_REJECT (libmilter silently
 * drops a mismatched pair).
 *
 *   kind                  code  text
 *   RCPT_DENY             550 5.7.1 <rcpt>: no consent for newsletter "T" (reason)
 *   RCPT_TEMPFAIL         451 4.3.0 <rcpt>: consent check failed, try again later
 *   RCPT_ERROR_REJECT     550 5.7.1 <rcpt>: consent check failed
 *   RCPT_TOO_MANY         452 4.5.3 Too many recipients for the consent check
 *   MSG_TEMPFAIL          451 4.3.0 Consent check failed, try again later
 *   MSG_ERROR_REJECT      550 5.7.1 Consent check failed
 *   MSG_NO_RCPT           550 5.7.1 No recipient has consent for newsletter "T"
 *   MSG_AMBIGUOUS         550 5.7.1 Message matches several newsletter types "T,U"
 *   MSG_UNCLASSIFIED      550 5.7.1 Bulk mail that matches no known newsletter type
 *   MSG_TOO_LARGE         451 4.3.0 Headers too large for the consent check, try again later
 *   MAILTO_BAD            550 5.1.1 <rcpt>: not a valid unsubscribe address
 *   MAILTO_TEMPFAIL       451 4.3.0 <rcpt>: unsubscribe address cannot be checked now, try again later
 *   MSG_UNSUB_TEMPFAIL    451 4.3.0 Unsubscribe not recorded yet, try again later
 *   DISCARD               (no text) SMFIS_DISCARD: a mailto unsubscribe, recorded
 */
#ifndef CM_REPLY_H
#define CM_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <libmilter/mfapi.h>

#include "../config/policy.h"
#include "../core/tmpl.h"

/* Longest reply text we build (excluding codes); libmilter allows 980. */
#define CM_REPLY_TEXT_MAX 960
/* Longest recipient shown in a reply (after escaping). */
#define CM_REPLY_RCPT_MAX 300

typedef enum cm_reply_kind {
	CM_REPLY_CONTINUE = 0,		/* no reply text, SMFIS_CONTINUE */
	CM_REPLY_ACCEPT,		/* no reply text, SMFIS_ACCEPT */
	CM_REPLY_RCPT_DENY,
	CM_REPLY_RCPT_TEMPFAIL,
	CM_REPLY_RCPT_ERROR_REJECT,
	CM_REPLY_RCPT_TOO_MANY,
	CM_REPLY_MSG_TEMPFAIL,
	CM_REPLY_MSG_ERROR_REJECT,
	CM_REPLY_MSG_NO_RCPT,
	CM_REPLY_MSG_UNCLASSIFIED,
	CM_REPLY_MSG_AMBIGUOUS,
	CM_REPLY_MSG_TOO_LARGE,
	CM_REPLY_MAILTO_BAD,		/* mailto.h */
	CM_REPLY_MAILTO_TEMPFAIL,
	CM_REPLY_MSG_UNSUB_TEMPFAIL,
	CM_REPLY_MSG_UNSUB_BAD,
	CM_REPLY_DISCARD
} cm_reply_kind;

typedef struct cm_reply {
	sfsistat stat;		/* what the callback returns */
	const char *rcode;	/* "550"; NULL when there is no reply text */
	const char *xcode;	/* "5.7.1" */
	char text[CM_REPLY_TEXT_MAX + 1];	/* escaped for smfi_setreply */
} cm_reply;

/*
 * Build the reply of KIND into *OUT.  RCPT is the recipient as the
 * client sent it (angle brackets are added if missing), TYPE the type
 * id, REASON a reason token; each may be NULL where KIND does not use
 * it.  Pure function; never fails.
 */
void cm_reply_build(cm_reply_kind kind, const char *rcpt, const char *type,
    const char *reason, cm_reply *out);

/* Build the reply, hand it to smfi_setreply() and return the SMFIS_*
 * code for the callback. */
sfsistat cm_reply_send(SMFICTX *ctx, cm_reply_kind kind, const char *rcpt,
    const char *type, const char *reason);

/*
 * Keep replies instead of handing them to the MTA: until
 * cm_reply_hold(NULL), every reply this thread builds (cm_reply_send,
 * cm_reply_send_deny) is copied into *INTO (the last one wins; INTO is
 * first cleared to CONTINUE without text) and smfi_setreply() is not
 * called.  For a step negotiated without a reply (SMFIP_NR_MAIL): its
 * answer is given at the next step that has one, by cm_reply_replay().
 * A libmilter callback runs on one thread from start to end, so the
 * hold is per thread.
 */
void cm_reply_hold(cm_reply *into);

/* Hand the reply R to the MTA (smfi_setreply when it has a text) and
 * return its SMFIS_* code. */
sfsistat cm_reply_replay(SMFICTX *ctx, const cm_reply *r);

/*
 * RCPT_DENY with the configured text (templates.reply): TMPL expanded
 * with VALS[CM_TMPL_NVARS] (%{rcpt} is the recipient as received,
 * without angle brackets), ASCII only, '%' doubled for smfi_setreply,
 * cut to CM_REPLY_TEXT_MAX.  TMPL NULL: the built-in text.
 */
void cm_reply_build_deny(const cm_tmpl *tmpl, const char *const *vals,
    cm_reply *out);
sfsistat cm_reply_send_deny(SMFICTX *ctx, const cm_tmpl *tmpl,
    const char *const *vals);

/* The reply kind for an internal error under ON_ERROR, for one recipient
 * (PER_RCPT) or the whole message. */
cm_reply_kind cm_reply_for_error(cm_on_error on_error, bool per_rcpt);

/* "tempfail", "reject", "accept": the action name for logs. */
const char *cm_reply_on_error_name(cm_on_error on_error);

/*
 * The error policy: what the milter does when it cannot check.
 *
 * Every callback that meets a fault asks cm_reply_action() once and
 * applies its answer: cm_reply_send(ctx, a.kind, rcpt, NULL, NULL) gives
 * the SMFIS_* code to return (with the reply text, if any), a.word goes
 * into the log line as "action=WORD".  No caller re-derives it.
 *
 *   mode     fault       stage             kind                  word
 *   monitor  any         EOH               ACCEPT                none
 *   monitor  any         other             CONTINUE              none
 *   enforce  any         RCPT_LATE         CONTINUE              noted
 *   enforce  ERROR       EOH, accept       ACCEPT                accept
 *   enforce  ERROR       other, accept     CONTINUE              accept
 *   enforce  ERROR       RCPT, tempfail    RCPT_TEMPFAIL         tempfail
 *   enforce  ERROR       RCPT, reject      RCPT_ERROR_REJECT     reject
 *   enforce  ERROR       MAIL/EOH/EOM      MSG_TEMPFAIL or       tempfail
 *                                          MSG_ERROR_REJECT      or reject
 *   enforce  TOO_MANY_RCPTS  RCPT          RCPT_TOO_MANY         tempfail
 *   enforce  TOO_MANY_RCPTS  MAIL/EOH/EOM  MSG_TEMPFAIL          tempfail
 *   enforce  TOO_MANY_HDRS   any but RCPT  MSG_TOO_LARGE         tempfail
 *   enforce  MTA         RCPT              RCPT_TEMPFAIL         tempfail
 *   enforce  MTA         MAIL/EOH/EOM      MSG_TEMPFAIL          tempfail
 *
 * Monitor mode never refuses and logs "none" (the decision lines add
 * "mode=monitor"); only an internal error follows on_error, a cap of the
 * milter or a failed MTA request always tempfails (on_error: accept must
 * not let a message through unchecked because it is large).
 */
typedef enum cm_stage {
	CM_STAGE_MAIL = 0,	/* connect and MAIL: no recipient yet */
	CM_STAGE_RCPT,		/* RCPT: this recipient alone */
	CM_STAGE_RCPT_LATE,	/* RCPT where nothing is refused: a non-SMTP
				 * submission, or a recipient kept only for
				 * end of data; the fault is noted and end
				 * of headers or data decides */
	CM_STAGE_EOH,		/* end of headers: the whole message */
	CM_STAGE_EOM		/* end of data: the whole message */
} cm_stage;

typedef enum cm_fault {
	CM_FAULT_ERROR = 0,	/* failed lookup, no index, out of memory,
				 * unreadable input: on_error decides */
	CM_FAULT_TOO_MANY_RCPTS,	/* recipient caps (filter.h) */
	CM_FAULT_TOO_MANY_HDRS,	/* header caps (filter.h) */
	CM_FAULT_MTA		/* the MTA refused a change (delrcpt) */
} cm_fault;

typedef struct cm_action {
	cm_reply_kind kind;	/* for cm_reply_send; CONTINUE, ACCEPT:
				 * pass */
	const char *word;	/* "none", "accept", "tempfail", "reject",
				 * "noted": the log's action word */
} cm_action;

/*
 * The action for FAULT at STAGE under MODE and ON_ERROR (table above).
 * Pure function; never fails (an unknown value counts as the strictest:
 * enforce, tempfail).
 */
cm_action cm_reply_action(cm_mode mode, cm_on_error on_error, cm_stage stage,
    cm_fault fault);

/* Does action A let the message (or recipient) pass? */
bool cm_reply_passes(const cm_action *a);

#endif
