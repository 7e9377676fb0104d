/*
 * content.c - headers, end of headers and end of data (see content.h).
 */
#include "content.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../config/classify.h"
#include "../config/policy.h"
#include "../core/decide.h"
#include "../core/tmpl.h"
#include "conn.h"
#include "envelope.h"
#include "feedback.h"
#include "filter.h"
#include "log.h"
#include "mailto.h"	/* mailto unsubscribe */
#include "mtext.h"
#include "reply.h"
#include "trace.h"
#include "unsub.h"	/* one-click unsubscribe headers */
#include "verdict.h"

#define TRACE_MAX 1024		/* trace header value */

static void
hdr_keep(struct cm_msg *m, const char *name, const char *value)
{
	size_t len = strlen(name) + strlen(value) + 2;
	char *n, *v;

	if (m->nhdrs >= CM_FILTER_MAX_HDRS ||
	    m->hdr_bytes + len > CM_FILTER_MAX_HDR_BYTES) {
		m->hdr_overflow = true;
		return;
	}
	if (m->nhdrs == m->hdrs_cap) {
		size_t ncap = m->hdrs_cap == 0 ? 8 : m->hdrs_cap * 2;
		char **nn = realloc(m->hnames, ncap * sizeof(*nn));

		if (nn == NULL) {
			m->hdr_nomem = true;
			return;
		}
		m->hnames = nn;
		nn = realloc(m->hvalues, ncap * sizeof(*nn));
		if (nn == NULL) {
			m->hdr_nomem = true;
			return;
		}
		m->hvalues = nn;
		m->hdrs_cap = ncap;
	}
	n = strdup(name);
	v = strdup(value);
	if (n == NULL || v == NULL) {
		free(n);
		free(v);
		m->hdr_nomem = true;
		return;
	}
	cm_mtext_unfold(v);
	m->hnames[m->nhdrs] = n;
	m->hvalues[m->nhdrs] = v;
	m->nhdrs++;
	m->hdr_bytes += len;
}

sfsistat
cm_content_header(SMFICTX *ctx, char *name, char *value)
{
	struct cm_conn *c = smfi_getpriv(ctx);
	sfsistat ok;
	struct cm_msg *m;

	if (c == NULL)
		return SMFIS_CONTINUE;
	ok = c->neg.nr_hdr ? SMFIS_NOREPLY : SMFIS_CONTINUE;
	m = &c->msg;
	if (name == NULL || value == NULL || m->ref == NULL)
		return ok;
	if (strcasecmp(name, CM_FILTER_TRACE_HEADER) == 0)
		m->own_hdrs++;
	m->own_lu += strcasecmp(name, "List-Unsubscribe") == 0;	/* unsub.h */
	cm_mailto_header(m->mailto, name, value);	/* its Message-ID */
	cm_fb_msg_header(m->fb, name, value);
	if (m->mode != CM_MSG_HEADERS &&
	    !(m->mode == CM_MSG_ENVELOPE && m->keep_rcpts))
		return ok;
	if (cm_policy_header_is_bulk(name, value))
		m->bulk = true;
	if (cm_policy_header_relevant(cm_msg_policy(m), name))
		hdr_keep(m, name, value);
	return ok;
}

/*
 * M is refused at end of headers: the mailto unsubscribes it holds
 * (mailto.h) are recorded first, so that no refusal loses a withdrawal.
 * M is reset.  The refusal KIND (with TYPES for its text), or the 451
 * when a withdrawal is not recorded.
 */
static sfsistat
eoh_refuse(SMFICTX *ctx, struct cm_msg *m, cm_reply_kind kind,
    const char *types)
{
	struct cm_conn *c = smfi_getpriv(ctx);
	sfsistat r = SMFIS_CONTINUE;

	if (m->mailto != NULL)
		r = cm_mailto_record(ctx, cm_msg_policy(m), m->mailto,
		    m->sender, c != NULL && c->have_addr ?
		    (const struct sockaddr *)&c->addr : NULL, m->qid);
	if (r == SMFIS_CONTINUE)
		r = cm_reply_send(ctx, kind, NULL, types, NULL);
	cm_msg_reset(m);
	return r;
}

/* End of headers: the message cannot be classified (fail closed). */
static sfsistat
eoh_fail(SMFICTX *ctx, struct cm_msg *m, cm_fault fault, const char *why,
    int prio)
{
	cm_action a = cm_msg_action(m, CM_STAGE_EOH, fault);
	char q[80];

	cm_log(prio, "queue_id=%s: %s; action=%s", cm_log_clean(m->qid, q,
	    sizeof(q)), why, a.word);
	/* let through (monitor, on_error: accept): but a mailto
	 * unsubscribe it holds is still recorded at end of data */
	if (cm_reply_passes(&a) && m->mailto != NULL)
		return cm_msg_pass(m);
	return eoh_refuse(ctx, m, a.kind, NULL);
}

sfsistat
cm_content_eoh(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);
	struct cm_msg *m;
	const cm_policy *p;
	cm_typeset more;
	size_t before;
	sfsistat r;

	if (c == NULL)
		return SMFIS_CONTINUE;
	if (cm_env_held(ctx, c, CM_ENV_END, &r))	/* MAIL's answer */
		return r;
	m = &c->msg;
	m->eoh_seen = true;
	cm_msg_take_qid(ctx, m);
	if (m->mode == CM_MSG_ENVELOPE && !m->keep_rcpts &&
	    !cm_msg_monitor(m))
		/* Headers were wanted only for the decision log. */
		return cm_msg_pass(m);
	if (m->mode == CM_MSG_IDLE && m->mailto_on)
		return cm_msg_pass(m);	/* mailto.h: EOM if it holds one */
	if (m->mode != CM_MSG_HEADERS && m->mode != CM_MSG_ENVELOPE)
		return SMFIS_CONTINUE;
	if (m->mode == CM_MSG_ENVELOPE && !m->keep_rcpts)
		return SMFIS_CONTINUE;	/* monitor: trace header at EOM */
	p = cm_msg_policy(m);
	if (m->hdr_overflow || m->hdr_nomem)
		return eoh_fail(ctx, m, m->hdr_nomem ? CM_FAULT_ERROR :
		    CM_FAULT_TOO_MANY_HDRS, m->hdr_nomem ?
		    "out of memory keeping headers" :
		    "too many classification headers to check",
		    m->hdr_nomem ? LOG_ERR : LOG_WARNING);
	before = m->types.n;
	if (cm_class_headers(p, m->nhdrs, (const char *const *)m->hnames,
	    (const char *const *)m->hvalues, &m->types) != CM_OK)
		return eoh_fail(ctx, m, CM_FAULT_ERROR,
		    "unreadable List-Id header", LOG_WARNING);
	if (m->types.n != before)
		cm_msg_types_set(m);
	if (m->types.n == 0) {
		if (m->bulk &&
		    cm_policy_unclassified_bulk(p) == CM_BULK_REJECT) {
			bool mon = cm_msg_monitor(m);

			cm_msg_log_decision(m, NULL, NULL, "deny",
			    "unclassified-bulk", mon ?
			    "stage=eoh mode=monitor action=none" :
			    "stage=eoh action=reject");
			if (mon)
				return cm_msg_pass(m);
			return eoh_refuse(ctx, m, CM_REPLY_MSG_UNCLASSIFIED,
			    NULL);
		}
		return cm_msg_pass(m);
	}
	if (m->types.n > 1 && cm_policy_multiple_types(p) == CM_MULTI_REFUSE &&
	    !cm_msg_monitor(m)) {
		char ids[CM_CONN_TYPES_MAX];

		cm_msg_log_decision(m, m->type_ids, NULL, "deny",
		    "ambiguous", "stage=eoh action=reject");
		memcpy(ids, m->type_ids, strlen(m->type_ids) + 1);	/* M is reset */
		return eoh_refuse(ctx, m, CM_REPLY_MSG_AMBIGUOUS, ids);
	}
	cm_class_minus(&more, &m->types, &m->rcpt_types);
	if (more.n == 0 && !cm_msg_monitor(m) && !cm_unsub_wanted(p))
		/* Every type was decided at RCPT. */
		return cm_msg_pass(m);
	if (more.n > 0 && m->rcpt_overflow)
		return eoh_fail(ctx, m, CM_FAULT_TOO_MANY_RCPTS, "more "
		    "recipients than can be kept for the end-of-data check",
		    LOG_WARNING);
	if (more.n > 0)
		m->mode = CM_MSG_HEADER_TYPED;
	return SMFIS_CONTINUE;
}

/* Replace any X-Consent-Milter header the client sent by ours. */
static void
trace(SMFICTX *ctx, const struct cm_conn *c, const struct cm_msg *m,
    size_t removed, size_t kept, size_t denied)
{
	const char *vals[CM_TMPL_NVARS];
	char v[TRACE_MAX], q[80];

	cm_msg_tmpl_vals(m, NULL, NULL, vals);
	cm_trace_value(cm_policy_tmpl_trace(cm_msg_policy(m)), vals,
	    cm_msg_monitor(m), removed, kept, denied, v, sizeof(v));
	if (cm_trace_set(ctx, m->own_hdrs, c->neg.can_chghdr, c->neg.can_addhdr,
	    v) != 0)
		cm_log(LOG_WARNING, "queue_id=%s: cannot add the trace header",
		    cm_log_clean(m->qid, q, sizeof(q)));
}

static sfsistat
eom_envelope(SMFICTX *ctx, struct cm_conn *c, struct cm_msg *m)
{
	if (cm_msg_monitor(m))
		trace(ctx, c, m, 0, m->allowed + m->denied + m->errors,
		    m->denied);
	cm_unsub_eom(ctx, &(cm_unsub_msg){ cm_msg_policy(m), m->types.n,
	    m->type_ids, (const char *const *)m->rcpts, NULL, m->nrcpts,
	    m->rcpt_overflow || m->rcpts_dropped || m->mailto != NULL,
	    m->own_lu,
	    cm_msg_monitor(m), c->neg.can_addhdr, c->neg.can_chghdr, m->qid });
	return SMFIS_CONTINUE;
}

/* Decide every kept recipient of M for the types MORE; DENY[i] set for
 * those denied.  Returns the number of failed lookups. */
static size_t
eom_decide(struct cm_msg *m, const cm_typeset *more, unsigned char *deny,
    size_t *ndeny)
{
	const char *err_word = cm_msg_action(m, CM_STAGE_EOM,
	    CM_FAULT_ERROR).word;
	size_t nerr = 0;

	for (size_t i = 0; i < m->nrcpts; i++) {
		cm_verdict_res res;
		const char *action = NULL;

		cm_verdict_decide(cm_msg_policy(m), more, m->rcpts[i], &res);
		if (res.out == CM_OUT_DENY) {
			deny[i] = 1;
			(*ndeny)++;
			cm_fb_msg_deny(m->fb, i, cm_reason_name(res.reason));
			action = cm_msg_monitor(m) ? "none" : "remove";
		} else if (res.out == CM_OUT_ERROR) {
			nerr++;
			action = err_word;
		}
		cm_msg_log_result(m, m->rcpts[i], &res, "eom", action);
	}
	return nerr;
}

/* Remove the recipients of M marked in DENY (NDENY of them). */
static sfsistat
eom_remove(SMFICTX *ctx, struct cm_conn *c, struct cm_msg *m,
    const unsigned char *deny, size_t ndeny, const char *q)
{
	cm_action a;

	if (ndeny == m->nrcpts) {
		cm_log(LOG_INFO, "queue_id=%s type=%s: no recipient left; "
		    "message refused", q, m->type_ids);
		return cm_reply_send(ctx, CM_REPLY_MSG_NO_RCPT, NULL,
		    m->type_ids, NULL);
	}
	if (ndeny > 0 && !c->neg.can_delrcpt) {
		/* a known deny that cannot be carried out: never on_error's
		 * accept, as for a failed smfi_delrcpt */
		a = cm_msg_action(m, CM_STAGE_EOM, CM_FAULT_MTA);
		cm_log(LOG_ERR, "queue_id=%s: cannot remove recipients (not "
		    "negotiated); action=%s", q, a.word);
		return cm_reply_send(ctx, a.kind, NULL, NULL, NULL);
	}
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (deny[i] && smfi_delrcpt(ctx, m->rcpts[i]) != MI_SUCCESS) {
			a = cm_msg_action(m, CM_STAGE_EOM, CM_FAULT_MTA);
			cm_log(LOG_ERR, "queue_id=%s: smfi_delrcpt failed; "
			    "action=%s", q, a.word);
			return cm_reply_send(ctx, a.kind, NULL, NULL, NULL);
		}
	}
	cm_unsub_eom(ctx, &(cm_unsub_msg){ cm_msg_policy(m), m->types.n,
	    m->type_ids, (const char *const *)m->rcpts, deny, m->nrcpts,
	    m->rcpt_overflow || m->mailto != NULL, m->own_lu,
	    cm_msg_monitor(m), c->neg.can_addhdr, c->neg.can_chghdr, m->qid });
	/* unsub.h; token recipients (mailto.h) are recipients too: never
	 * a personal link with another one beside it */
	trace(ctx, c, m, ndeny, m->nrcpts - ndeny, ndeny);
	if (ndeny > 0)
		cm_fb_dsn(m->fb, m->type_ids, m->type_names, m->qid, m->rcpts,
		    m->nrcpts);
	return SMFIS_CONTINUE;
}

static sfsistat
eom_headers(SMFICTX *ctx, struct cm_conn *c, struct cm_msg *m)
{
	unsigned char *deny;
	size_t ndeny = 0, nerr;
	char q[80];
	cm_typeset more;
	cm_action a;
	sfsistat r;

	cm_log_clean(m->qid, q, sizeof(q));
	cm_class_minus(&more, &m->types, &m->rcpt_types);
	a = cm_msg_action(m, CM_STAGE_EOM, CM_FAULT_TOO_MANY_RCPTS);
	if (m->rcpt_overflow && !cm_reply_passes(&a)) {
		cm_log(LOG_WARNING, "queue_id=%s: more recipients than can be "
		    "kept for the end-of-data check; action=%s", q, a.word);
		return cm_reply_send(ctx, a.kind, NULL, NULL, NULL);
	}
	if (m->nrcpts == 0 || more.n == 0)
		return SMFIS_CONTINUE;
	a = cm_msg_action(m, CM_STAGE_EOM, CM_FAULT_ERROR);
	deny = calloc(m->nrcpts, 1);
	if (deny == NULL) {
		cm_log(LOG_ERR, "queue_id=%s: out of memory at end of data; "
		    "action=%s", q, a.word);
		return cm_reply_send(ctx, a.kind, NULL, NULL, NULL);
	}
	nerr = eom_decide(m, &more, deny, &ndeny);
	if (nerr > 0 && !cm_reply_passes(&a)) {
		cm_log(LOG_WARNING, "queue_id=%s: %zu lookup(s) failed; whole "
		    "message action=%s", q, nerr, a.word);
		r = cm_reply_send(ctx, a.kind, NULL, NULL, NULL);
	} else if (cm_msg_monitor(m)) {
		trace(ctx, c, m, 0, m->nrcpts + m->rcpts_dropped, ndeny);
		r = SMFIS_CONTINUE;
	} else {
		r = eom_remove(ctx, c, m, deny, ndeny, q);
	}
	free(deny);
	return r;
}

/*
 * End of data for a message that waited for its headers but never got to
 * end of headers: the MTA did not send them (e.g. Sendmail reusing this
 * connection with SMFIC_QUIT_NC after headers were negotiated away).  It
 * cannot be classified, so it must not pass as if it were no newsletter.
 */
static sfsistat
eom_unclassified(SMFICTX *ctx, struct cm_msg *m)
{
	cm_action a = cm_msg_action(m, CM_STAGE_EOM, CM_FAULT_ERROR);
	char q[80];

	cm_log(LOG_ERR, "queue_id=%s: the MTA sent no headers, the message "
	    "cannot be classified; action=%s", cm_log_clean(m->qid, q,
	    sizeof(q)), a.word);
	return cm_reply_send(ctx, a.kind, NULL, NULL, NULL);
}

sfsistat
cm_content_eom(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);
	struct cm_msg *m;
	sfsistat r = SMFIS_CONTINUE;

	if (c == NULL)
		return SMFIS_CONTINUE;
	if (cm_env_held(ctx, c, CM_ENV_END, &r)) {	/* MAIL's answer */
		cm_msg_reset(&c->msg);
		c->mail_held = false;
		return r;
	}
	m = &c->msg;
	cm_msg_take_qid(ctx, m);
	/* mailto unsubscribes first: recorded, or the message is tempfailed */
	if (m->mailto != NULL && (r = cm_mailto_record(ctx, cm_msg_policy(m),
	    m->mailto, m->sender, c->have_addr ?
	    (const struct sockaddr *)&c->addr : NULL, m->qid)) !=
	    SMFIS_CONTINUE) {
		cm_msg_reset(m);
		return r;
	}
	if (m->mode == CM_MSG_ENVELOPE && c->non_smtp)
		r = eom_headers(ctx, c, m);	/* EOH never came */
	else if (m->mode == CM_MSG_ENVELOPE && m->keep_rcpts &&
	    !m->eoh_seen)
		/* kept for a type a header could add, but the MTA sent no
		 * end of headers (e.g. it negotiated SMFIP_NOEOH alone):
		 * those types were never looked for */
		r = eom_unclassified(ctx, m);
	else if (m->mode == CM_MSG_ENVELOPE)
		r = eom_envelope(ctx, c, m);
	else if (m->mode == CM_MSG_HEADER_TYPED)
		r = eom_headers(ctx, c, m);
	else if (m->mode == CM_MSG_HEADERS)
		r = eom_unclassified(ctx, m);
	if (m->mailto != NULL && r == SMFIS_CONTINUE)
		r = cm_mailto_finish(ctx, cm_msg_policy(m), m->mailto,
		    m->plain_rcpts, c->neg.can_delrcpt, c->neg.can_addrcpt, m->qid);
	cm_msg_reset(m);
	return r;
}

