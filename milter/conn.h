/*
 * conn.h - the state of one MTA connection and of its current message,
 * shared by the filter's stages (prefix cm_conn_, cm_msg_).
 *
 * filter.c (negotiate, abort, close), envelope.c (connect, MAIL, RCPT,
 * DATA) and content.c (headers, end of headers, end of data) are one
 * filter split by job; this header is theirs alone and not part of any
 * other module's interface.  All state lives behind smfi_setpriv(): one
 * cm_conn per MTA connection (allocated at negotiate or the first
 * callback, freed at close) holding one message at a time (reset at
 * MAIL, end of message, abort and close).  No thread-local storage:
 * libmilter's worker pool runs one connection's callbacks on different
 * threads.
 */
#ifndef CM_CONN_H
#define CM_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <libmilter/mfapi.h>

#include "../config/classify.h"
#include "../config/policy.h"
#include "feedback.h"
#include "live.h"
#include "log.h"
#include "mailto.h"
#include "reply.h"
#include "verdict.h"

#define CM_CONN_QID_MAX 64
#define CM_CONN_SENDER_MAX 1024
#define CM_CONN_TYPES_MAX 512	/* the type ids or names of a message */
/* Decision lines held until the message ends: at most this many
 * octets (two lines of the longest kind at least); beyond, the held
 * lines are logged as they are (queue_id=- while it is not known). */
#define CM_CONN_HELD_MAX 4096

enum cm_msg_mode {
	CM_MSG_IDLE = 0,	/* no message, or nothing left to do */
	CM_MSG_ENVELOPE,	/* type known at MAIL: decide at RCPT */
	CM_MSG_HEADERS,		/* waiting for headers to classify */
	CM_MSG_HEADER_TYPED	/* type known at EOH: decide at EOM */
};

struct cm_msg {
	enum cm_msg_mode mode;
	cm_live_ref *ref;	/* the policy this message is decided by */
	cm_typeset types;	/* every type the message matches so far */
	cm_typeset rcpt_types;	/* those decided at RCPT */
	bool keep_rcpts;	/* envelope-typed: keep recipients for EOM */
	bool eoh_seen;		/* end of headers came (header types known) */
	bool rcpt_overflow;	/* recipients beyond the caps not kept */
	/* envelope mode: counts for the monitor trace header */
	size_t allowed, denied, errors;
	/* header mode: recipients as received */
	char **rcpts;
	size_t nrcpts, rcpts_cap, rcpt_bytes;
	size_t rcpts_dropped;	/* monitor mode beyond the caps */
	/* header mode: relevant headers */
	char **hnames, **hvalues;
	size_t nhdrs, hdrs_cap, hdr_bytes;
	bool hdr_overflow, hdr_nomem, bulk;
	int own_hdrs;		/* X-Consent-Milter headers present */
	int own_lu;		/* List-Unsubscribe headers the client sent (unsub.h) */
	cm_fb_msg *fb;		/* decision log records and DSN data */
	/* mailto unsubscribe (mailto.h): watched on this message, the
	 * tokens kept, the other recipients let pass */
	bool mailto_on;
	cm_mailto *mailto;
	size_t plain_rcpts;
	/* decision lines without "queue_id=Q ", each NUL-terminated, in
	 * order, until the message ends (the MTA may send the queue id
	 * late: Postfix from the second RCPT on) */
	size_t held_len;
	/* The texts last: a new message zeroes what is above and empties
	 * the strings below (cm_msg_reset), not their 6 KiB of octets. */
	char type_ids[CM_CONN_TYPES_MAX];	/* "a,b": logs, replies, DSN */
	char type_names[CM_CONN_TYPES_MAX];
	char qid[CM_CONN_QID_MAX];
	char sender[CM_CONN_SENDER_MAX];	/* texts; "" if too long */
	/* at most CM_CONN_HELD_MAX octets held; the room after them is
	 * for the line being made (cm_msg_log_decision) */
	char held[CM_CONN_HELD_MAX + CM_LOG_LINE_MAX];
};

/* What negotiation settled for a connection: the steps and actions. */
struct cm_conn_neg {
	bool hdrs_off;		/* MTA sends no headers here */
	bool nr_hdr;		/* header callbacks send no reply */
	bool nr_data;		/* DATA is not sent, or needs no reply */
	bool nr_conn;		/* connect needs no reply (SMFIP_NR_CONN) */
	bool nr_mail;		/* MAIL needs no reply (SMFIP_NR_MAIL) */
	bool can_delrcpt, can_addhdr, can_chghdr, can_addrcpt;
};

struct cm_conn {
	cm_live_ref *neg_ref;	/* policy when the steps were negotiated */
	struct cm_conn_neg neg;
	bool conn_failed;	/* connect failed with neg.nr_conn: every MAIL
				 * on this connection gets the error policy */
	bool neg_known;		/* the negotiated steps above are known; false
				 * in a state made without negotiation (after
				 * SMFIC_QUIT_NC) whose negotiation was not
				 * kept: then MAIL and DATA answer CONTINUE,
				 * which is right with or without a reply due,
				 * and hold their answer (envelope.h) */
	uint64_t conn_tag;	/* cm_conn_tag() at connect */
	bool connected;		/* connect ran to its end on this state: a
				 * MAIL without it lost its connect (failed
				 * without a reply, or never seen) and gets
				 * the error policy */
	bool mail_held;		/* MAIL's answer (not CONTINUE) waits in
				 * mail_answer for the next step that has a
				 * reply (cm_env_held) */
	cm_reply mail_answer;
	bool mail_rcpt_refused;	/* a held refusal was given at a RCPT */
	bool have_addr;
	bool non_smtp;		/* no refusal at RCPT (verdict.h) */
	struct sockaddr_storage addr;
	char *daemon_name;
	struct cm_msg msg;	/* last: see cm_msg_reset */
};

/* The connection state of CTX, created if missing (NULL on out of
 * memory): after SMFIC_QUIT_NC with what was negotiated on CTX
 * (cm_conn_close); else, until negotiation sets them, the MTA is assumed
 * to offer every action, and nr_mail is not known. */
struct cm_conn *cm_conn_get(SMFICTX *ctx);

/* A fresh state for CTX at negotiation, under the policy in force
 * (NULL on out of memory). */
struct cm_conn *cm_conn_negotiate(SMFICTX *ctx);

/* Free C (NULL is allowed) and its message. */
void cm_conn_free(struct cm_conn *c);

/* The MTA closed CTX's session (xxfi_close): free its state C (NULL is
 * allowed), keeping what was negotiated for cm_conn_get() in case the
 * MTA goes on with the same connection without negotiating again
 * (SMFIC_QUIT_NC).  A few dozen connections are remembered, each
 * holding its negotiation's policy reference. */
void cm_conn_close(SMFICTX *ctx, struct cm_conn *c);

/* Drop every remembered negotiation (at exit, after smfi_main). */
void cm_conn_memo_drain(void);

/* End message M: its held decision lines are logged (with the queue id
 * if known, else queue_id=-), its decision-log records are handed on,
 * everything it kept is freed, and M is cleared (CM_MSG_IDLE, no
 * policy, empty texts).  Called at MAIL, end of message, abort and close, so no held
 * line is lost. */
void cm_msg_reset(struct cm_msg *m);

/*
 * Message M needs nothing more of the filter: reset it and answer
 * SMFIS_ACCEPT; or, when it holds a mailto unsubscribe to record at end
 * of data (mailto.h), drop its newsletter state (CM_MSG_IDLE) and
 * answer SMFIS_CONTINUE.
 */
sfsistat cm_msg_pass(struct cm_msg *m);

/* Take the queue id from the "i" macro once the MTA sends it; the
 * decision lines held are logged with it when the message ends. */
void cm_msg_take_qid(SMFICTX *ctx, struct cm_msg *m);

/* The policy message M is decided by (M must hold one).  Inline: on
 * every recipient's path. */
static inline const cm_policy *
cm_msg_policy(const struct cm_msg *m)
{
	return cm_live_policy(m->ref);
}

/* Is M's policy in monitor mode? */
static inline bool
cm_msg_monitor(const struct cm_msg *m)
{
	return cm_policy_mode(cm_msg_policy(m)) == CM_MODE_MONITOR;
}

/* The message's types changed: their ids and names for the texts. */
void cm_msg_types_set(struct cm_msg *m);

/* The template values of message M into VALS[CM_TMPL_NVARS] (RCPT and
 * REASON may be NULL). */
void cm_msg_tmpl_vals(const struct cm_msg *m, const char *rcpt,
    const char *reason, const char **vals);

/* The error policy (reply.h) for FAULT at STAGE under M's policy. */
cm_action cm_msg_action(const struct cm_msg *m, cm_stage stage,
    cm_fault fault);

/*
 * A decision line of message M (the arguments of cm_log_decision() but
 * the queue id, which is M's): held in M until M ends (cm_msg_reset),
 * then all of them logged at once (one write on standard error) with
 * the queue id, so that every line of a message carries its queue id
 * when the MTA sends one at any stage.  No allocation: a full hold is
 * logged as it is first (with the queue id if known by then).
 */
void cm_msg_log_decision(struct cm_msg *m, const char *type,
    const char *rcpt, const char *verdict, const char *reason,
    const char *extra);

/*
 * Log the decision RES for recipient RAW at STAGE ("rcpt", "eom") with
 * the log's ACTION word (NULL: none) as cm_msg_log_decision() does and
 * record it for the decision log.
 */
void cm_msg_log_result(struct cm_msg *m, const char *raw,
    const cm_verdict_res *res, const char *stage, const char *action);

/*
 * Out of memory before a message holds a policy (connect, MAIL, RCPT
 * without state): log WHAT and apply the error policy of the policy in
 * force (none loaded: enforce, tempfail) at MAIL, or at RCPT for RCPT
 * (non-NULL).  Returns the SMFIS_* code for the callback.
 */
sfsistat cm_conn_fail_current(SMFICTX *ctx, const char *rcpt,
    const char *what);

/* The same for another fault: WHY is logged as it is. */
sfsistat cm_conn_fail_why(SMFICTX *ctx, const char *rcpt, const char *why);

/*
 * A tag of the connect macros the MTA sent last on CTX ({client_addr},
 * {client_port}, {daemon_name}; asked for at negotiation).  libmilter
 * drops SMFIC_QUIT_NC and the next connect after a message it ended
 * (accepted or refused), so the filter may see a new session's MAIL
 * with the old session's connect; the macros, which it keeps, tell.
 */
uint64_t cm_conn_tag(SMFICTX *ctx);

#endif
