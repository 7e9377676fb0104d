/*
 * envelope.c - connect, MAIL, RCPT and DATA (see envelope.h).
 */
#include "envelope.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "../config/classify.h"
#include "../config/policy.h"
#include "../core/tmpl.h"
#include "conn.h"
#include "feedback.h"
#include "filter.h"
#include "log.h"
#include "mailmix.h"	/* MAIL with or without a reply */
#include "mailto.h"	/* mailto unsubscribe */
#include "mtext.h"
#include "pdlock.h"	/* the fast path's interlock */
#include "reply.h"
#include "unsub.h"	/* one-click unsubscribe headers */
#include "verdict.h"

#define DAEMON_NAME_MAX 256

static bool
in_scope(const struct cm_conn *c, const cm_policy *p, bool authenticated)
{
	/* a submission by sendmail(1) is outgoing mail whatever its
	 * emulated client address (verdict.h) */
	if (c->non_smtp)
		return true;
	return cm_policy_in_scope(p, c->have_addr ?
	    (const struct sockaddr *)&c->addr : NULL, c->daemon_name,
	    authenticated);
}

bool
cm_env_connect_may_accept(const cm_policy *p)
{
	/* in scope with a login whatever the client: scope.authenticated */
	return !cm_policy_in_scope(p, NULL, NULL, true) &&
	    !cm_mailto_wanted(p);
}

/* Connect failed (out of memory, no policy).  Without a reply to give
 * (SMFIP_NR_CONN), MAIL answers it (cm_env_from). */
static sfsistat
connect_fail(SMFICTX *ctx, struct cm_conn *c)
{
	if (c != NULL && c->neg.nr_conn) {
		c->conn_failed = true;
		return SMFIS_NOREPLY;
	}
	return cm_conn_fail_current(ctx, NULL, "connect");
}

sfsistat
cm_env_connect(SMFICTX *ctx, char *hostname, struct sockaddr *hostaddr)
{
	struct cm_conn *c = cm_conn_get(ctx);
	const char *dn;

	(void)hostname;
	if (c == NULL || c->neg_ref == NULL)
		return connect_fail(ctx, c);
	c->connected = false;
	c->have_addr = false;
	if (hostaddr != NULL) {
		size_t len = 0;

		if (hostaddr->sa_family == AF_INET)
			len = sizeof(struct sockaddr_in);
		else if (hostaddr->sa_family == AF_INET6)
			len = sizeof(struct sockaddr_in6);
		if (len > 0) {
			memcpy(&c->addr, hostaddr, len);
			c->have_addr = true;
		}
	}
	free(c->daemon_name);
	c->daemon_name = NULL;
	dn = smfi_getsymval(ctx, "{daemon_name}");
	if (dn != NULL && strlen(dn) < DAEMON_NAME_MAX) {
		c->daemon_name = strdup(dn);
		if (c->daemon_name == NULL)
			return connect_fail(ctx, c);
	}
	c->non_smtp = cm_verdict_non_smtp(cm_live_policy(c->neg_ref), hostaddr,
	    c->daemon_name);
	c->conn_tag = cm_conn_tag(ctx);
	c->connected = true;
	/* Out of scope even if the client authenticates later: nothing on
	 * this connection needs the filter (but a mailto unsubscribe).
	 * Never so with nr_conn (cm_env_connect_may_accept()). */
	if (!in_scope(c, cm_live_policy(c->neg_ref), true) &&
	    (c->non_smtp || !cm_mailto_wanted(cm_live_policy(c->neg_ref))))
		return c->neg.nr_conn ? SMFIS_NOREPLY : SMFIS_ACCEPT;
	return c->neg.nr_conn ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* MAIL: no newsletter check for message M.  Accept it, or watch its
 * recipients for mailto unsubscribes (mailto.h). */
static sfsistat
mail_pass(struct cm_msg *m)
{
	if (m->mailto_on) {
		m->mode = CM_MSG_IDLE;
		return SMFIS_CONTINUE;
	}
	cm_msg_reset(m);
	return SMFIS_ACCEPT;
}

/* Envelope classification of message M; false (and a reply in *R) if
 * the sender cannot be normalized and on_error refuses the message. */
static bool
envfrom_classify(SMFICTX *ctx, struct cm_msg *m, const char *raw,
    const char *auth, sfsistat *r)
{
	const cm_policy *p = cm_msg_policy(m);
	cm_action a = cm_msg_action(m, CM_STAGE_MAIL, CM_FAULT_ERROR);
	cm_status st;
	char q[80];

	st = cm_class_envelope(p, raw, strlen(raw), auth, &m->types);
	cm_msg_types_set(m);
	if (st == CM_OK)
		return true;
	/* Typed as written: checked.  Else never "no newsletter". */
	cm_log(LOG_WARNING, "queue_id=%s: envelope sender cannot be "
	    "normalized (%s); action=%s", cm_log_clean(m->qid, q, sizeof(q)),
	    cm_strerror((int)st), m->types.n > 0 ? "check as typed" : a.word);
	if (m->types.n > 0 || cm_reply_passes(&a))
		return true;
	*r = cm_reply_send(ctx, a.kind, NULL, NULL, NULL);
	return false;
}

/* MAIL of connection C: its answer (see cm_env_from) */
static sfsistat
env_from(SMFICTX *ctx, struct cm_conn *c, char **argv)
{
	struct cm_msg *m;
	const cm_policy *p;
	const char *auth;
	char sender[CM_CONN_SENDER_MAX];
	bool sender_ok, null_sender, stale;
	sfsistat r = SMFIS_CONTINUE;

	if (c->neg_ref == NULL)	/* no policy when the state was made */
		return cm_conn_fail_current(ctx, NULL, "MAIL");
	m = &c->msg;
	cm_msg_reset(m);
	/* connect's failure, answered here: one without a reply, or a
	 * connect this state never saw (its state could not be made after
	 * SMFIC_QUIT_NC, or its failure's reply was dropped where the
	 * negotiation is not known), or another session's connect macros
	 * since the connect seen (libmilter dropped a QUIT_NC and the
	 * connect after it: conn.h cm_conn_tag) */
	stale = c->connected && !c->conn_failed &&
	    cm_conn_tag(ctx) != c->conn_tag;
	if (stale || c->conn_failed || !c->connected) {
		r = stale ? cm_conn_fail_why(ctx, NULL, "MAIL of a session "
		    "whose connect the filter did not see") :
		    cm_conn_fail_current(ctx, NULL, "connect");
		if (r != SMFIS_CONTINUE)
			return r;
		/* let through (on_error: accept, monitor): from here on the
		 * messages are checked as after an answered connect that
		 * failed, not all passed unchecked */
		c->conn_failed = false;
		c->connected = true;
		/* another session's: each of its messages gets the error
		 * policy, none is judged by the old client's scope */
		if (!stale)
			c->conn_tag = cm_conn_tag(ctx);
	}
	if (argv == NULL || argv[0] == NULL)	/* not from a real MTA */
		return cm_conn_fail_current(ctx, NULL, "MAIL");
	sender_ok = cm_mtext_sender_bare(argv[0], sender, sizeof(sender));
	null_sender = sender_ok && sender[0] == '\0';

	m->ref = cm_live_get();
	if (m->ref == NULL)
		return cm_conn_fail_current(ctx, NULL, "MAIL");
	auth = smfi_getsymval(ctx, "{auth_authen}");
	if (auth != NULL && *auth == '\0')
		auth = NULL;
	if (m->ref != c->neg_ref && c->neg.hdrs_off &&
	    cm_policy_needs_headers(cm_live_policy(m->ref))) {
		const cm_policy *np = cm_live_policy(m->ref);
		cm_typeset t;

		cm_class_clear(&t);
		(void)cm_class_envelope(np, argv[0], strlen(argv[0]), auth, &t);
		if (t.n == 0 || cm_class_headers_may_add(np, &t)) {
			/*
			 * Reloaded since this connection was negotiated: the
			 * MTA sends no headers here, and the new policy could
			 * type this message (or add a type) by its headers.
			 * It cannot be classified on this connection: on_error
			 * (tempfail by default; the client's next session is
			 * negotiated with headers).  Where on_error or monitor
			 * lets it pass, it is decided by the negotiated policy.
			 */
			cm_action a = cm_msg_action(m, CM_STAGE_MAIL,
			    CM_FAULT_ERROR);
			char q[80];

			cm_log(LOG_WARNING, "queue_id=%s: reloaded policy "
			    "types mail by headers this connection does not "
			    "send; action=%s", cm_log_clean(m->qid, q,
			    sizeof(q)), a.word);
			if (!cm_reply_passes(&a)) {
				r = cm_reply_send(ctx, a.kind, NULL, NULL, NULL);
				cm_msg_reset(m);
				return r;
			}
			cm_live_put(m->ref);
			m->ref = cm_live_dup(c->neg_ref);
		}
	}
	p = cm_msg_policy(m);
	cm_msg_take_qid(ctx, m);
	if (sender_ok)
		memcpy(m->sender, sender, strlen(sender) + 1);
	m->mailto_on = cm_mailto_wanted(p);	/* non-SMTP too */

	if (!in_scope(c, p, auth != NULL))
		return mail_pass(m);
	if (!envfrom_classify(ctx, m, argv[0], auth, &r)) {
		cm_msg_reset(m);
		return r;
	}
	if (m->types.n > 1 &&
	    cm_policy_multiple_types(p) == CM_MULTI_REFUSE &&
	    !cm_msg_monitor(m)) {
		cm_msg_log_decision(m, m->type_ids, NULL, "deny", "ambiguous",
		    "stage=mail action=reject");
		r = cm_reply_send(ctx, CM_REPLY_MSG_AMBIGUOUS, NULL,
		    m->type_ids, NULL);
		cm_msg_reset(m);
		return r;
	}
	if (m->types.n > 0) {
		m->mode = CM_MSG_ENVELOPE;
		if (!c->non_smtp)
			m->rcpt_types = m->types;
		/* Its headers may add a type; non-SMTP: decided at EOM. */
		m->keep_rcpts = c->non_smtp || (!c->neg.hdrs_off &&
		    cm_class_headers_may_add(p, &m->types)) ||
		    cm_unsub_wanted(p);	/* unsub.h: headers at EOM */
		/* policy.decides_envelope_types: consent-policy decides each
		 * recipient at RCPT; nothing else here needs the milter, and
		 * its stamp says it runs with this configuration */
		if (cm_class_pd_fast(p, &m->types) && !c->non_smtp &&
		    !m->keep_rcpts && !cm_msg_monitor(m) && cm_pdlock_ok(p)) {
			cm_msg_reset(m);
			return SMFIS_ACCEPT;
		}
		m->fb = cm_fb_msg_new(p, argv);
		return SMFIS_CONTINUE;
	}
	/* A null sender is a bounce only if no header says otherwise. */
	if (cm_policy_needs_headers(p) && !c->neg.hdrs_off &&
	    (!null_sender || cm_policy_has_header_rules(p))) {
		m->mode = CM_MSG_HEADERS;
		m->fb = cm_fb_msg_new(p, argv);
		return SMFIS_CONTINUE;
	}
	return mail_pass(m);
}

sfsistat
cm_env_from(SMFICTX *ctx, char **argv)
{
	struct cm_conn *c = cm_conn_get(ctx);
	sfsistat r;

	if (c == NULL)		/* out of memory */
		return cm_conn_fail_current(ctx, NULL, "MAIL");
	c->mail_held = c->mail_rcpt_refused = false;
	if (c->neg_known && !c->neg.nr_mail) {	/* MAIL answers */
		r = env_from(ctx, c, argv);
		cm_mailmix_note(r == SMFIS_CONTINUE || r == SMFIS_NOREPLY);
		return r;
	}
	/* The answer is kept for the next step that has a reply
	 * (cm_env_held) */
	cm_reply_hold(&c->mail_answer);
	r = env_from(ctx, c, argv);
	cm_reply_hold(NULL);
	if (r == SMFIS_NOREPLY)
		r = SMFIS_CONTINUE;
	c->mail_answer.stat = r;
	c->mail_held = r != SMFIS_CONTINUE;
	cm_mailmix_note(!c->mail_held);
	/* Not known whether the MTA waits for MAIL's answer (a reused
	 * connection whose negotiation was not kept, conn.h): CONTINUE is
	 * right both ways (libmilter drops it where no reply is due, and
	 * logs that), and the next step gives the answer. */
	return c->neg_known ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

bool
cm_env_held(SMFICTX *ctx, struct cm_conn *c, cm_env_step step, sfsistat *r)
{
	if (c == NULL || !c->mail_held)
		return false;
	if (c->mail_answer.stat == SMFIS_ACCEPT) {
		c->mail_held = false;	/* the message is done */
		*r = SMFIS_ACCEPT;
		return true;
	}
	/* A refusal: once at RCPT (an SMTP client's first), then at DATA,
	 * end of headers or end of data for the recipients accepted after
	 * it; not at each RCPT, which the MTA would count as so many errors
	 * (Postfix drops the session after smtpd_hard_error_limit). */
	if (step == CM_ENV_RCPT && (c->non_smtp || c->mail_rcpt_refused)) {
		*r = SMFIS_CONTINUE;
		return true;
	}
	if (step == CM_ENV_RCPT)
		c->mail_rcpt_refused = true;
	*r = cm_reply_replay(ctx, &c->mail_answer);
	return true;
}

/* 550 5.7.1 for a denied recipient, in the configured words. */
static sfsistat
deny_reply(SMFICTX *ctx, const struct cm_msg *m, const char *raw,
    const char *reason)
{
	const char *vals[CM_TMPL_NVARS];
	char bare[CM_TMPL_VALUE_MAX + 1];

	cm_msg_tmpl_vals(m, cm_mtext_unbracket(raw, bare, sizeof(bare)),
	    reason, vals);
	return cm_reply_send_deny(ctx, cm_policy_tmpl_reply(cm_msg_policy(m)),
	    vals);
}

static sfsistat
rcpt_envelope(SMFICTX *ctx, struct cm_msg *m, const char *raw)
{
	const cm_policy *p = cm_msg_policy(m);
	cm_verdict_res res;
	cm_action a;

	cm_verdict_decide(p, &m->types, raw, &res);
	switch (res.out) {
	case CM_OUT_ALLOW:
		m->allowed++;
		cm_msg_log_result(m, raw, &res, "rcpt", NULL);
		return SMFIS_CONTINUE;
	case CM_OUT_DENY:
		m->denied++;
		cm_msg_log_result(m, raw, &res, "rcpt",
		    cm_msg_monitor(m) ? "none" : "reject");
		if (cm_msg_monitor(m))
			return SMFIS_CONTINUE;
		return deny_reply(ctx, m, raw, cm_reason_name(res.reason));
	case CM_OUT_ERROR:
	default:
		m->errors++;
		a = cm_msg_action(m, CM_STAGE_RCPT, CM_FAULT_ERROR);
		cm_msg_log_result(m, raw, &res, "rcpt", a.word);
		return cm_reply_send(ctx, a.kind, raw, NULL, NULL);
	}
}

/* Keep recipient RAW for end of data.  SOFT (no refusal possible or
 * wanted here): beyond the caps or out of memory, note that a recipient
 * was not kept (decided at end of headers or data) and continue. */
static sfsistat
rcpt_keep(SMFICTX *ctx, struct cm_msg *m, const char *raw, bool soft)
{
	size_t len = strlen(raw);
	cm_action a;
	char *copy;

	if (m->nrcpts >= CM_FILTER_MAX_RCPTS ||
	    m->rcpt_bytes + len + 1 > CM_FILTER_MAX_RCPT_BYTES) {
		char q[80];

		a = cm_msg_action(m, soft ? CM_STAGE_RCPT_LATE : CM_STAGE_RCPT,
		    CM_FAULT_TOO_MANY_RCPTS);
		if (cm_msg_monitor(m)) {
			if (m->rcpts_dropped++ == 0)
				cm_log(LOG_WARNING, "queue_id=%s: more than %d "
				    "recipients; the rest is not checked "
				    "(monitor mode)", cm_log_clean(m->qid, q,
				    sizeof(q)), CM_FILTER_MAX_RCPTS);
		} else if (soft) {
			m->rcpt_overflow = true;
		} else {
			cm_log(LOG_WARNING, "queue_id=%s: recipient cap "
			    "reached (%d recipients or %d octets); recipient "
			    "tempfailed", cm_log_clean(m->qid, q, sizeof(q)),
			    CM_FILTER_MAX_RCPTS, CM_FILTER_MAX_RCPT_BYTES);
		}
		return cm_reply_send(ctx, a.kind, raw, NULL, NULL);
	}
	if (m->nrcpts == m->rcpts_cap) {
		size_t ncap = m->rcpts_cap == 0 ? 16 : m->rcpts_cap * 2;
		char **n = realloc(m->rcpts, ncap * sizeof(*n));

		if (n == NULL)
			goto nomem;
		m->rcpts = n;
		m->rcpts_cap = ncap;
	}
	copy = strdup(raw);
	if (copy == NULL)
		goto nomem;
	m->rcpts[m->nrcpts++] = copy;
	m->rcpt_bytes += len + 1;
	return SMFIS_CONTINUE;
nomem:
	a = cm_msg_action(m, soft ? CM_STAGE_RCPT_LATE : CM_STAGE_RCPT,
	    CM_FAULT_ERROR);
	if (soft)
		m->rcpt_overflow = true;
	else
		cm_log(LOG_ERR, "RCPT: out of memory keeping a recipient; "
		    "action=%s", a.word);
	return cm_reply_send(ctx, a.kind, raw, NULL, NULL);
}

/* RCPT of a recipient that is no mailto unsubscribe. */
static sfsistat
rcpt_check(SMFICTX *ctx, struct cm_conn *c, struct cm_msg *m, char **argv)
{
	size_t before;
	sfsistat r;

	if (m->mode == CM_MSG_IDLE)
		return SMFIS_CONTINUE;
	/* Non-SMTP: never refused here, only removed at end of data. */
	if (m->mode == CM_MSG_ENVELOPE && !c->non_smtp) {
		r = rcpt_envelope(ctx, m, argv[0]);
		if (r != SMFIS_CONTINUE || !m->keep_rcpts)
			return r;
	}
	before = m->nrcpts;
	r = rcpt_keep(ctx, m, argv[0],
	    c->non_smtp || m->mode == CM_MSG_ENVELOPE);
	if (m->nrcpts > before)
		cm_fb_msg_rcpt(m->fb, before, argv + 1);
	return r;
}

sfsistat
cm_env_rcpt(SMFICTX *ctx, char **argv)
{
	struct cm_conn *c = smfi_getpriv(ctx);
	struct cm_msg *m;
	sfsistat r;

	if (argv == NULL || argv[0] == NULL)
		return SMFIS_CONTINUE;
	if (c == NULL)
		return cm_conn_fail_current(ctx, argv[0], "RCPT");
	/* MAIL's held answer (cm_env_held) */
	if (cm_env_held(ctx, c, CM_ENV_RCPT, &r))
		return r;
	m = &c->msg;
	cm_msg_take_qid(ctx, m);
	if (m->mailto_on && cm_mailto_rcpt(ctx, cm_msg_policy(m), &m->mailto,
	    argv[0], c->non_smtp, m->qid, &r))
		return r;
	r = rcpt_check(ctx, c, m, argv);
	if (r == SMFIS_CONTINUE)
		m->plain_rcpts++;	/* mailto.h: other recipients */
	return r;
}

sfsistat
cm_env_data(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);
	struct cm_msg *m;
	sfsistat r;

	if (c == NULL)
		return SMFIS_CONTINUE;
	/* Not known whether DATA has a reply (conn.h): no final answer here
	 * (libmilter would drop it and then ignore the message's next
	 * steps); CONTINUE is right both ways, and end of headers or of the
	 * message answers */
	if (!c->neg_known) {
		cm_msg_take_qid(ctx, &c->msg);
		return SMFIS_CONTINUE;
	}
	/* MAIL's held refusal; without a reply here, end of headers or of
	 * the message gives it (the message is reset and idle) */
	if (!c->neg.nr_data && cm_env_held(ctx, c, CM_ENV_END, &r))
		return r;
	m = &c->msg;
	cm_msg_take_qid(ctx, m);
	if (c->neg.nr_data) {
		/* No reply possible here: end of headers accepts. */
		if (m->mode == CM_MSG_IDLE && m->mailto == NULL)
			cm_msg_reset(m);
		return SMFIS_NOREPLY;
	}
	if (m->mode == CM_MSG_ENVELOPE && !cm_msg_monitor(m) &&
	    !m->keep_rcpts &&
	    (c->neg.hdrs_off || !cm_fb_needs_headers(cm_msg_policy(m))))
		/* Every recipient is decided; nothing to do at end of data. */
		return cm_msg_pass(m);
	if (m->mode == CM_MSG_IDLE)
		return cm_msg_pass(m);
	return SMFIS_CONTINUE;
}

