/*
 * filter.c - libmilter callbacks: a thin adapter over core/ and config/.
 *
 * Flow of one message (SPEC §5); a message has a set of types (all that
 * match: config/classify.h), each recipient needs consent for every one:
 *   connect  out of scope even if the client authenticated later -> ACCEPT;
 *            a non-SMTP submission is noted (verdict.h)
 *   MAIL     sender normalized (core/addr.h) before matching; one that
 *            cannot be and matches nothing -> on_error; out of scope, or
 *            no type and no header rules (or null sender and no header
 *            rules) -> ACCEPT; several types and multiple_types: refuse
 *            -> 550; types from envelope/SASL -> decide at RCPT (kept for
 *            EOM too when a header rule of another type exists); else
 *            keep recipients and headers, classify at end of headers
 *   RCPT     envelope type: deny -> 550 5.7.1 for this recipient only;
 *            allow -> CONTINUE (never ACCEPT: it would pass later
 *            recipients unchecked); error -> on_error for this recipient;
 *            non-SMTP: never refused here, kept for EOM
 *   DATA     envelope type, nothing more to learn -> ACCEPT
 *   EOH      header types added; types not decided at RCPT -> CONTINUE;
 *            unclassified bulk -> configured action; otherwise ACCEPT
 *   EOM      those types: decide every kept recipient, remove denied ones
 *            with smfi_delrcpt(raw address), refuse when none is left,
 *            add the trace header, DSN; monitor: only the trace header
 *
 * Queue id: Postfix knows "i" only after the first accepted RCPT, so
 * RCPT-time decision lines may carry queue_id=- ; the id is taken as soon
 * as the MTA sends it (RCPT, DATA, EOH, EOM) and used from then on.
 */
#include "filter.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libmilter/mfapi.h>

#include "../config/classify.h"
#include "../config/policy.h"
#include "../core/addr.h"
#include "../core/decide.h"
#include "../core/timefmt.h"
#include "../core/tmpl.h"
#include "db.h"
#include "feedback.h"
#include "live.h"
#include "log.h"
#include "mtext.h"
#include "trace.h"
#include "unsub.h"	/* one-click unsubscribe headers */
#include "reply.h"
#include "verdict.h"

#define QID_MAX 64
#define DAEMON_NAME_MAX 256
#define SENDER_MAX 1024
#define CM_TRACE_MAX 1024	/* trace header value */
#define TYPES_MAX 512		/* the type ids or names of a message */

enum msg_mode {
	MSG_IDLE = 0,		/* no message, or nothing left to do */
	MSG_ENVELOPE,		/* type known at MAIL: decide at RCPT */
	MSG_HEADERS,		/* waiting for headers to classify */
	MSG_HEADER_TYPED	/* type known at EOH: decide at EOM */
};

struct cm_msg {
	enum msg_mode mode;
	cm_live_ref *ref;	/* the policy this message is decided by */
	cm_typeset types;	/* every type the message matches so far */
	cm_typeset rcpt_types;	/* those decided at RCPT */
	char type_ids[TYPES_MAX];	/* "a,b": logs, replies, DSN */
	char type_names[TYPES_MAX];
	bool keep_rcpts;	/* envelope-typed: keep recipients for EOM */
	bool rcpt_overflow;	/* recipients beyond the caps not kept */
	char qid[QID_MAX];
	char sender[SENDER_MAX];	/* for the texts; "" if too long */
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
	int own_hdrs;		/* X-Consent-Milter headers already present */
	int own_lu;		/* List-Unsubscribe headers the client sent (unsub.h) */
	cm_fb_msg *fb;		/* decision log records and DSN data */
};

struct cm_conn {
	cm_live_ref *neg_ref;	/* policy when the steps were negotiated */
	bool hdrs_off;		/* MTA sends no headers on this connection */
	bool nr_hdr;		/* header callbacks send no reply */
	bool nr_data;		/* DATA is not sent, or needs no reply */
	bool can_delrcpt, can_addhdr, can_chghdr;
	bool have_addr;
	bool non_smtp;		/* no refusal at RCPT (verdict.h) */
	struct sockaddr_storage addr;
	char *daemon_name;
	struct cm_msg msg;
};

/* ---------------------------------------------------------------- */

static void
msg_reset(struct cm_msg *m)
{
	size_t i;

	cm_fb_msg_end(m->fb, m->qid, m->types.n > 0 ? m->type_ids : NULL);
	for (i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	for (i = 0; i < m->nhdrs; i++) {
		free(m->hnames[i]);
		free(m->hvalues[i]);
	}
	free(m->hnames);
	free(m->hvalues);
	cm_live_put(m->ref);
	memset(m, 0, sizeof(*m));
}

static void
conn_free(struct cm_conn *c)
{
	if (c == NULL)
		return;
	msg_reset(&c->msg);
	cm_live_put(c->neg_ref);
	free(c->daemon_name);
	free(c);
}

/* The connection state, created if missing (NULL on out of memory). */
static struct cm_conn *
conn_get(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);

	if (c != NULL)
		return c;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->neg_ref = cm_live_get();
	/* Without negotiation data, assume the MTA does everything. */
	c->can_delrcpt = c->can_addhdr = c->can_chghdr = true;
	if (smfi_setpriv(ctx, c) != MI_SUCCESS) {
		conn_free(c);
		return NULL;
	}
	return c;
}

static void
take_qid(SMFICTX *ctx, struct cm_msg *m)
{
	const char *q = smfi_getsymval(ctx, "i");

	if (q != NULL && *q != '\0')
		snprintf(m->qid, sizeof(m->qid), "%s", q);
}

static const cm_policy *
msg_policy(const struct cm_msg *m)
{
	return cm_live_policy(m->ref);
}

static bool
monitor(const struct cm_msg *m)
{
	return cm_policy_mode(msg_policy(m)) == CM_MODE_MONITOR;
}

/* The policy for code that runs before a message holds one. */
static sfsistat
error_reply_current(SMFICTX *ctx, const char *rcpt, const char *what)
{
	cm_live_ref *r = cm_live_get();
	cm_on_error oe = r != NULL ? cm_policy_on_error(cm_live_policy(r)) :
	    CM_ONERR_TEMPFAIL;
	bool mon = r != NULL &&
	    cm_policy_mode(cm_live_policy(r)) == CM_MODE_MONITOR;

	cm_live_put(r);
	cm_log(LOG_ERR, "%s: out of memory; action=%s", what,
	    mon ? "none (monitor)" : cm_reply_on_error_name(oe));
	if (mon)
		return SMFIS_CONTINUE;
	return cm_reply_send(ctx, cm_reply_for_error(oe, rcpt != NULL), rcpt,
	    NULL, NULL);
}

/* ---------------------------------------------------------------- */
/* Decisions */

/* The message's types changed: their ids and names for the texts. */
static void
msg_types_set(struct cm_msg *m)
{
	const cm_policy *p = msg_policy(m);

	cm_class_join(p, &m->types, false, m->type_ids, sizeof(m->type_ids));
	cm_class_join(p, &m->types, true, m->type_names,
	    sizeof(m->type_names));
}

static void
log_result(const struct cm_msg *m, const char *raw, const cm_verdict_res *res,
    const char *stage, const char *action)
{
	char extra[256];
	const char *rcpt = res->normalized ? res->addr.key : raw;
	const char *verdict, *reason;

	switch (res->out) {
	case CM_OUT_ALLOW:
		verdict = "allow";
		reason = cm_reason_name(CM_REASON_NONE);
		break;
	case CM_OUT_DENY:
		verdict = "deny";
		reason = cm_reason_name(res->reason);
		break;
	case CM_OUT_ERROR:
	default:
		verdict = "error";
		reason = "lookup-failed";
		break;
	}
	snprintf(extra, sizeof(extra), "stage=%s%s%s%s%s%s%s", stage,
	    monitor(m) ? " mode=monitor" : "",
	    action != NULL ? " action=" : "", action != NULL ? action : "",
	    res->st != CM_OK ? " error=\"" : "",
	    res->st != CM_OK ? cm_strerror((int)res->st) : "",
	    res->st != CM_OK ? "\"" : "");
	cm_log_decision(m->qid[0] != '\0' ? m->qid : NULL, m->type_ids, rcpt,
	    verdict, reason, extra);
	cm_fb_decision(m->fb, rcpt, verdict, reason, action);
}

/* ---------------------------------------------------------------- */
/* Helpers for MAIL */

static bool
in_scope(const struct cm_conn *c, const cm_policy *p, bool authenticated)
{
	return cm_policy_in_scope(p, c->have_addr ?
	    (const struct sockaddr *)&c->addr : NULL, c->daemon_name,
	    authenticated);
}

/* ---------------------------------------------------------------- */
/* Callbacks */

static sfsistat
fi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	struct cm_conn *c;
	const cm_policy *p;
	unsigned long want_acts, want_steps;

	(void)f2;
	(void)f3;
	c = conn_get(ctx);
	if (c == NULL || c->neg_ref == NULL) {
		cm_log(LOG_ERR, "negotiate: out of memory; asking for every step");
		*pf0 = f0 & (SMFIF_DELRCPT | SMFIF_ADDHDRS | SMFIF_CHGHDRS);
		*pf1 = 0;
		*pf2 = *pf3 = 0;
		return SMFIS_CONTINUE;
	}
	p = cm_live_policy(c->neg_ref);

	want_acts = SMFIF_DELRCPT | SMFIF_ADDHDRS | SMFIF_CHGHDRS |
	    SMFIF_SETSYMLIST;
	*pf0 = f0 & want_acts;
	c->can_delrcpt = (*pf0 & SMFIF_DELRCPT) != 0;
	c->can_addhdr = (*pf0 & SMFIF_ADDHDRS) != 0;
	c->can_chghdr = (*pf0 & SMFIF_CHGHDRS) != 0;
	if (!c->can_delrcpt || !c->can_addhdr)
		cm_log(LOG_WARNING, "the MTA does not offer to delete "
		    "recipients or add headers; messages typed by their "
		    "headers will get the on_error action");

	/* Steps this filter never uses, and the header steps when no type
	 * needs headers under the policy in force right now. */
	want_steps = SMFIP_NOHELO | SMFIP_NOBODY | SMFIP_NOUNKNOWN;
	if (!cm_policy_needs_headers(p) && !cm_fb_needs_headers(p) &&
	    !cm_unsub_wanted(p))	/* unsub.h: the sender's List-Unsubscribe */
		want_steps |= SMFIP_NOHDRS | SMFIP_NOEOH;
	else
		want_steps |= SMFIP_NR_HDR;
	/* With the decision log on, envelope-typed messages are accepted at
	 * end of headers instead of at DATA (the headers give their log
	 * records the Message-ID and campaign): DATA is not needed at all
	 * (its macros still come), or at least needs no reply, which keeps
	 * the round trips per message the same as without the log. */
	if (cm_fb_needs_headers(p))
		want_steps |= SMFIP_NODATA | SMFIP_NR_DATA;
	*pf1 = f1 & want_steps;
	c->hdrs_off = (*pf1 & SMFIP_NOHDRS) != 0;
	c->nr_hdr = (*pf1 & SMFIP_NR_HDR) != 0;
	c->nr_data = (*pf1 & (SMFIP_NODATA | SMFIP_NR_DATA)) != 0;
	*pf2 = 0;
	*pf3 = 0;

	if ((*pf0 & SMFIF_SETSYMLIST) != 0) {
		/* Only the macros used here (Postfix sends more by default). */
		(void)smfi_setsymlist(ctx, SMFIM_CONNECT, "{daemon_name}");
		(void)smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen}");
		(void)smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i");
		(void)smfi_setsymlist(ctx, SMFIM_DATA, "i");
		(void)smfi_setsymlist(ctx, SMFIM_EOH, "i");
		(void)smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	return SMFIS_CONTINUE;
}

static sfsistat
fi_connect(SMFICTX *ctx, char *hostname, struct sockaddr *hostaddr)
{
	struct cm_conn *c = conn_get(ctx);
	const char *dn;

	(void)hostname;
	if (c == NULL || c->neg_ref == NULL)
		return error_reply_current(ctx, NULL, "connect");
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
			return error_reply_current(ctx, NULL, "connect");
	}
	c->non_smtp = cm_verdict_non_smtp(cm_live_policy(c->neg_ref), hostaddr,
	    c->daemon_name);
	/* Out of scope even if the client authenticates later: nothing on
	 * this connection needs the filter. */
	if (!in_scope(c, cm_live_policy(c->neg_ref), true))
		return SMFIS_ACCEPT;
	return SMFIS_CONTINUE;
}

/* Envelope classification of message M; false (and a reply in *R) if
 * the sender cannot be normalized and on_error refuses the message. */
static bool
envfrom_classify(SMFICTX *ctx, struct cm_msg *m, const char *raw,
    const char *auth, sfsistat *r)
{
	const cm_policy *p = msg_policy(m);
	cm_on_error oe = cm_policy_on_error(p);
	cm_status st;
	char q[80];

	st = cm_class_envelope(p, raw, strlen(raw), auth, &m->types);
	msg_types_set(m);
	if (st == CM_OK)
		return true;
	/* Typed as written: checked.  Else never "no newsletter". */
	cm_log(LOG_WARNING, "queue_id=%s: envelope sender cannot be "
	    "normalized (%s); action=%s", cm_log_clean(m->qid, q, sizeof(q)),
	    cm_strerror((int)st), m->types.n > 0 ? "check as typed" :
	    monitor(m) ? "none (monitor)" : cm_reply_on_error_name(oe));
	if (m->types.n > 0 || monitor(m) || oe == CM_ONERR_ACCEPT)
		return true;
	*r = cm_reply_send(ctx, cm_reply_for_error(oe, false), NULL, NULL,
	    NULL);
	return false;
}

static sfsistat
fi_envfrom(SMFICTX *ctx, char **argv)
{
	struct cm_conn *c = conn_get(ctx);
	struct cm_msg *m;
	const cm_policy *p;
	const char *auth;
	char sender[SENDER_MAX];
	bool sender_ok, null_sender;
	sfsistat r = SMFIS_CONTINUE;

	if (c == NULL || c->neg_ref == NULL)
		return error_reply_current(ctx, NULL, "MAIL");
	m = &c->msg;
	msg_reset(m);
	if (argv == NULL || argv[0] == NULL)
		return SMFIS_ACCEPT;
	sender_ok = cm_mtext_sender_bare(argv[0], sender, sizeof(sender));
	null_sender = sender_ok && sender[0] == '\0';

	m->ref = cm_live_get();
	if (m->ref == NULL)
		return error_reply_current(ctx, NULL, "MAIL");
	auth = smfi_getsymval(ctx, "{auth_authen}");
	if (auth != NULL && *auth == '\0')
		auth = NULL;
	if (m->ref != c->neg_ref && c->hdrs_off &&
	    cm_policy_needs_headers(cm_live_policy(m->ref))) {
		cm_typeset t;

		cm_class_clear(&t);
		(void)cm_class_envelope(cm_live_policy(m->ref), argv[0],
		    strlen(argv[0]), auth, &t);
		if (t.n == 0) {
			/* Reloaded since this connection was negotiated: the
			 * MTA sends no headers here, so the new policy cannot
			 * classify this message by its headers.  Decide it by
			 * the negotiated one; a message the new policy types
			 * by its envelope is decided by the new policy. */
			cm_live_put(m->ref);
			m->ref = cm_live_dup(c->neg_ref);
		}
	}
	p = msg_policy(m);
	take_qid(ctx, m);
	if (sender_ok)
		memcpy(m->sender, sender, strlen(sender) + 1);

	if (!in_scope(c, p, auth != NULL)) {
		msg_reset(m);
		return SMFIS_ACCEPT;
	}
	if (!envfrom_classify(ctx, m, argv[0], auth, &r)) {
		msg_reset(m);
		return r;
	}
	if (m->types.n > 1 &&
	    cm_policy_multiple_types(p) == CM_MULTI_REFUSE && !monitor(m)) {
		cm_log_decision(m->qid[0] != '\0' ? m->qid : NULL, m->type_ids,
		    NULL, "deny", "ambiguous", "stage=mail action=reject");
		r = cm_reply_send(ctx, CM_REPLY_MSG_AMBIGUOUS, NULL,
		    m->type_ids, NULL);
		msg_reset(m);
		return r;
	}
	if (m->types.n > 0) {
		m->mode = MSG_ENVELOPE;
		if (!c->non_smtp)
			m->rcpt_types = m->types;
		/* Its headers may add a type; non-SMTP: decided at EOM. */
		m->keep_rcpts = c->non_smtp || (!c->hdrs_off &&
		    cm_class_headers_may_add(p, &m->types)) ||
		    cm_unsub_wanted(p);	/* unsub.h: headers at EOM */
		m->fb = cm_fb_msg_new(p, argv);
		return SMFIS_CONTINUE;
	}
	/* A null sender is a bounce only if no header says otherwise. */
	if (cm_policy_needs_headers(p) && !c->hdrs_off &&
	    (!null_sender || cm_policy_has_header_rules(p))) {
		m->mode = MSG_HEADERS;
		m->fb = cm_fb_msg_new(p, argv);
		return SMFIS_CONTINUE;
	}
	msg_reset(m);
	return SMFIS_ACCEPT;
}

/* The template values of message M (RCPT and REASON may be NULL). */
static void
tmpl_vals(const struct cm_msg *m, const char *rcpt, const char *reason,
    const char **vals)
{
	int i;

	for (i = 0; i < CM_TMPL_NVARS; i++)
		vals[i] = NULL;
	vals[CM_TMPL_RCPT] = rcpt;
	vals[CM_TMPL_TYPE] = m->types.n > 0 ? m->type_ids : NULL;
	vals[CM_TMPL_NAME] = m->types.n > 0 ? m->type_names : NULL;
	vals[CM_TMPL_REASON] = reason;
	vals[CM_TMPL_MODE] = monitor(m) ? "monitor" : "enforce";
	vals[CM_TMPL_SENDER] = m->sender[0] != '\0' ? m->sender : NULL;
	vals[CM_TMPL_QUEUE_ID] = m->qid[0] != '\0' ? m->qid : NULL;
}

/* 550 5.7.1 for a denied recipient, in the configured words. */
static sfsistat
deny_reply(SMFICTX *ctx, const struct cm_msg *m, const char *raw,
    const char *reason)
{
	const char *vals[CM_TMPL_NVARS];
	char bare[CM_TMPL_VALUE_MAX + 1];

	tmpl_vals(m, cm_mtext_unbracket(raw, bare, sizeof(bare)), reason, vals);
	return cm_reply_send_deny(ctx, cm_policy_tmpl_reply(msg_policy(m)),
	    vals);
}

static sfsistat
rcpt_envelope(SMFICTX *ctx, struct cm_msg *m, const char *raw)
{
	const cm_policy *p = msg_policy(m);
	cm_verdict_res res;
	const char *action;

	cm_verdict_decide(p, &m->types, raw, &res);
	switch (res.out) {
	case CM_OUT_ALLOW:
		m->allowed++;
		log_result(m, raw, &res, "rcpt", NULL);
		return SMFIS_CONTINUE;
	case CM_OUT_DENY:
		m->denied++;
		log_result(m, raw, &res, "rcpt", monitor(m) ? "none" : "reject");
		if (monitor(m))
			return SMFIS_CONTINUE;
		return deny_reply(ctx, m, raw, cm_reason_name(res.reason));
	case CM_OUT_ERROR:
	default:
		m->errors++;
		action = monitor(m) ? "none" :
		    cm_reply_on_error_name(cm_policy_on_error(p));
		log_result(m, raw, &res, "rcpt", action);
		if (monitor(m))
			return SMFIS_CONTINUE;
		return cm_reply_send(ctx,
		    cm_reply_for_error(cm_policy_on_error(p), true), raw, NULL,
		    NULL);
	}
}

/* Keep recipient RAW for end of data.  SOFT (no refusal possible or
 * wanted here): beyond the caps or out of memory, note that a recipient
 * was not kept (decided at end of headers or data) and continue. */
static sfsistat
rcpt_keep(SMFICTX *ctx, struct cm_msg *m, const char *raw, bool soft)
{
	size_t len = strlen(raw);
	char *copy;

	if (m->nrcpts >= CM_FILTER_MAX_RCPTS ||
	    m->rcpt_bytes + len + 1 > CM_FILTER_MAX_RCPT_BYTES) {
		char q[80];

		if (soft && !monitor(m)) {
			m->rcpt_overflow = true;
			return SMFIS_CONTINUE;
		}
		if (monitor(m)) {
			if (m->rcpts_dropped++ == 0)
				cm_log(LOG_WARNING, "queue_id=%s: more than %d "
				    "recipients; the rest is not checked "
				    "(monitor mode)", cm_log_clean(m->qid, q,
				    sizeof(q)), CM_FILTER_MAX_RCPTS);
			return SMFIS_CONTINUE;
		}
		cm_log(LOG_WARNING, "queue_id=%s: recipient cap reached "
		    "(%d recipients or %d octets); recipient tempfailed",
		    cm_log_clean(m->qid, q, sizeof(q)), CM_FILTER_MAX_RCPTS,
		    CM_FILTER_MAX_RCPT_BYTES);
		return cm_reply_send(ctx, CM_REPLY_RCPT_TOO_MANY, raw, NULL,
		    NULL);
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
	if (soft) {
		m->rcpt_overflow = true;
		return SMFIS_CONTINUE;
	}
	cm_log(LOG_ERR, "RCPT: out of memory keeping a recipient; action=%s",
	    monitor(m) ? "none" :
	    cm_reply_on_error_name(cm_policy_on_error(msg_policy(m))));
	if (monitor(m))
		return SMFIS_CONTINUE;
	return cm_reply_send(ctx,
	    cm_reply_for_error(cm_policy_on_error(msg_policy(m)), true), raw,
	    NULL, NULL);
}

static sfsistat
fi_envrcpt(SMFICTX *ctx, char **argv)
{
	struct cm_conn *c = smfi_getpriv(ctx);
	struct cm_msg *m;
	size_t before;
	sfsistat r;

	if (argv == NULL || argv[0] == NULL)
		return SMFIS_CONTINUE;
	if (c == NULL)
		return error_reply_current(ctx, argv[0], "RCPT");
	m = &c->msg;
	take_qid(ctx, m);
	if (m->mode == MSG_IDLE)
		return SMFIS_CONTINUE;
	/* Non-SMTP: never refused here, only removed at end of data. */
	if (m->mode == MSG_ENVELOPE && !c->non_smtp) {
		r = rcpt_envelope(ctx, m, argv[0]);
		if (r != SMFIS_CONTINUE || !m->keep_rcpts)
			return r;
	}
	before = m->nrcpts;
	r = rcpt_keep(ctx, m, argv[0], c->non_smtp || m->mode == MSG_ENVELOPE);
	if (m->nrcpts > before)
		cm_fb_msg_rcpt(m->fb, before, argv + 1);
	return r;
}

static sfsistat
fi_data(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);
	struct cm_msg *m;

	if (c == NULL)
		return SMFIS_CONTINUE;
	m = &c->msg;
	take_qid(ctx, m);
	if (c->nr_data) {
		/* No reply possible here: end of headers accepts. */
		if (m->mode == MSG_IDLE)
			msg_reset(m);
		return SMFIS_NOREPLY;
	}
	if (m->mode == MSG_ENVELOPE && !monitor(m) && !m->keep_rcpts &&
	    (c->hdrs_off || !cm_fb_needs_headers(msg_policy(m)))) {
		/* Every recipient is decided; nothing to do at end of data. */
		msg_reset(m);
		return SMFIS_ACCEPT;
	}
	if (m->mode == MSG_IDLE) {
		msg_reset(m);
		return SMFIS_ACCEPT;
	}
	return SMFIS_CONTINUE;
}

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

static sfsistat
fi_header(SMFICTX *ctx, char *name, char *value)
{
	struct cm_conn *c = smfi_getpriv(ctx);
	sfsistat ok;
	struct cm_msg *m;

	if (c == NULL)
		return SMFIS_CONTINUE;
	ok = c->nr_hdr ? SMFIS_NOREPLY : SMFIS_CONTINUE;
	m = &c->msg;
	if (name == NULL || value == NULL || m->ref == NULL)
		return ok;
	if (strcasecmp(name, CM_FILTER_TRACE_HEADER) == 0)
		m->own_hdrs++;
	m->own_lu += strcasecmp(name, "List-Unsubscribe") == 0;	/* unsub.h */
	cm_fb_msg_header(m->fb, name, value);
	if (m->mode != MSG_HEADERS &&
	    !(m->mode == MSG_ENVELOPE && m->keep_rcpts))
		return ok;
	if (cm_policy_header_is_bulk(name, value))
		m->bulk = true;
	if (cm_policy_header_relevant(msg_policy(m), name))
		hdr_keep(m, name, value);
	return ok;
}

/* End of headers: the message cannot be classified (fail closed). */
static sfsistat
eoh_fail(SMFICTX *ctx, struct cm_msg *m, cm_reply_kind k, const char *why,
    int prio)
{
	bool mon = monitor(m);
	char q[80];

	cm_log(prio, "queue_id=%s: %s; action=%s", cm_log_clean(m->qid, q,
	    sizeof(q)), why, mon ? "none (monitor)" :
	    k == CM_REPLY_CONTINUE ? "accept" :
	    k == CM_REPLY_MSG_ERROR_REJECT ? "reject" : "tempfail");
	msg_reset(m);
	if (mon || k == CM_REPLY_CONTINUE)
		return SMFIS_ACCEPT;
	return cm_reply_send(ctx, k, NULL, NULL, NULL);
}

static sfsistat
fi_eoh(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);
	struct cm_msg *m;
	const cm_policy *p;
	cm_typeset more;
	cm_reply_kind oek;
	size_t before;

	if (c == NULL)
		return SMFIS_CONTINUE;
	m = &c->msg;
	take_qid(ctx, m);
	if (m->mode == MSG_ENVELOPE && !m->keep_rcpts && !monitor(m)) {
		/* Headers were wanted only for the decision log. */
		msg_reset(m);
		return SMFIS_ACCEPT;
	}
	if (m->mode != MSG_HEADERS && m->mode != MSG_ENVELOPE)
		return SMFIS_CONTINUE;
	if (m->mode == MSG_ENVELOPE && !m->keep_rcpts)
		return SMFIS_CONTINUE;	/* monitor: trace header at EOM */
	p = msg_policy(m);
	oek = cm_reply_for_error(cm_policy_on_error(p), false);
	if (m->hdr_overflow || m->hdr_nomem)
		return eoh_fail(ctx, m, m->hdr_nomem ? oek :
		    CM_REPLY_MSG_TOO_LARGE, m->hdr_nomem ?
		    "out of memory keeping headers" :
		    "too many classification headers to check",
		    m->hdr_nomem ? LOG_ERR : LOG_WARNING);
	before = m->types.n;
	if (cm_class_headers(p, m->nhdrs, (const char *const *)m->hnames,
	    (const char *const *)m->hvalues, &m->types) != CM_OK)
		return eoh_fail(ctx, m, oek, "unreadable List-Id header",
		    LOG_WARNING);
	if (m->types.n != before)
		msg_types_set(m);
	if (m->types.n == 0) {
		if (m->bulk && cm_policy_unclassified_bulk(p) == CM_BULK_REJECT) {
			bool mon = monitor(m);

			cm_log_decision(m->qid, NULL, NULL, "deny",
			    "unclassified-bulk", mon ?
			    "stage=eoh mode=monitor action=none" :
			    "stage=eoh action=reject");
			msg_reset(m);
			if (mon)
				return SMFIS_ACCEPT;
			return cm_reply_send(ctx, CM_REPLY_MSG_UNCLASSIFIED,
			    NULL, NULL, NULL);
		}
		msg_reset(m);
		return SMFIS_ACCEPT;
	}
	if (m->types.n > 1 && cm_policy_multiple_types(p) == CM_MULTI_REFUSE &&
	    !monitor(m)) {
		sfsistat r;

		cm_log_decision(m->qid, m->type_ids, NULL, "deny", "ambiguous",
		    "stage=eoh action=reject");
		r = cm_reply_send(ctx, CM_REPLY_MSG_AMBIGUOUS, NULL,
		    m->type_ids, NULL);
		msg_reset(m);
		return r;
	}
	cm_class_minus(&more, &m->types, &m->rcpt_types);
	if (more.n == 0 && !monitor(m) && !cm_unsub_wanted(p)) {
		/* Every type was decided at RCPT. */
		msg_reset(m);
		return SMFIS_ACCEPT;
	}
	if (more.n > 0 && m->rcpt_overflow)
		return eoh_fail(ctx, m, CM_REPLY_MSG_TEMPFAIL, "more recipients "
		    "than can be kept for the end-of-data check", LOG_WARNING);
	if (more.n > 0)
		m->mode = MSG_HEADER_TYPED;
	return SMFIS_CONTINUE;
}

/* Replace any X-Consent-Milter header the client sent by ours. */
static void
trace(SMFICTX *ctx, const struct cm_conn *c, const struct cm_msg *m,
    size_t removed, size_t kept, size_t denied)
{
	const char *vals[CM_TMPL_NVARS];
	char v[CM_TRACE_MAX], q[80];

	tmpl_vals(m, NULL, NULL, vals);
	cm_trace_value(cm_policy_tmpl_trace(msg_policy(m)), vals, monitor(m),
	    removed, kept, denied, v, sizeof(v));
	if (cm_trace_set(ctx, m->own_hdrs, c->can_chghdr, c->can_addhdr,
	    v) != 0)
		cm_log(LOG_WARNING, "queue_id=%s: cannot add the trace header",
		    cm_log_clean(m->qid, q, sizeof(q)));
}

static sfsistat
eom_envelope(SMFICTX *ctx, struct cm_conn *c, struct cm_msg *m)
{
	if (monitor(m))
		trace(ctx, c, m, 0, m->allowed + m->denied + m->errors,
		    m->denied);
	cm_unsub_eom(ctx, &(cm_unsub_msg){ msg_policy(m), m->types.n,
	    m->type_ids, (const char *const *)m->rcpts, NULL, m->nrcpts,
	    m->rcpt_overflow || m->rcpts_dropped, m->own_lu, monitor(m),
	    c->can_addhdr, c->can_chghdr, m->qid });	/* unsub.h */
	return SMFIS_CONTINUE;
}

static sfsistat
eom_headers(SMFICTX *ctx, struct cm_conn *c, struct cm_msg *m)
{
	const cm_policy *p = msg_policy(m);
	cm_on_error oe = cm_policy_on_error(p);
	bool mon = monitor(m);
	unsigned char *deny;
	size_t i, ndeny = 0, nerr = 0, kept;
	char q[80];
	cm_typeset more;

	cm_log_clean(m->qid, q, sizeof(q));
	cm_class_minus(&more, &m->types, &m->rcpt_types);
	if (m->rcpt_overflow && !mon) {
		cm_log(LOG_WARNING, "queue_id=%s: more recipients than can be "
		    "kept for the end-of-data check; message tempfailed", q);
		return cm_reply_send(ctx, CM_REPLY_MSG_TEMPFAIL, NULL, NULL,
		    NULL);
	}
	if (m->nrcpts == 0 || more.n == 0)
		return SMFIS_CONTINUE;
	deny = calloc(m->nrcpts, 1);
	if (deny == NULL) {
		cm_log(LOG_ERR, "queue_id=%s: out of memory at end of data; "
		    "action=%s", q, mon ? "none (monitor)" :
		    cm_reply_on_error_name(oe));
		if (mon)
			return SMFIS_CONTINUE;
		return cm_reply_send(ctx, cm_reply_for_error(oe, false), NULL,
		    NULL, NULL);
	}
	for (i = 0; i < m->nrcpts; i++) {
		cm_verdict_res res;
		const char *action;

		cm_verdict_decide(p, &more, m->rcpts[i], &res);
		if (res.out == CM_OUT_ALLOW) {
			action = NULL;
		} else if (res.out == CM_OUT_DENY) {
			deny[i] = 1;
			ndeny++;
			cm_fb_msg_deny(m->fb, i, cm_reason_name(res.reason));
			action = mon ? "none" : "remove";
		} else {
			nerr++;
			if (oe == CM_ONERR_ACCEPT || mon) {
				action = mon ? "none" : "accept";
			} else {
				action = cm_reply_on_error_name(oe);
			}
		}
		log_result(m, m->rcpts[i], &res, "eom", action);
	}
	if (!mon && nerr > 0 && oe != CM_ONERR_ACCEPT) {
		free(deny);
		cm_log(LOG_WARNING, "queue_id=%s: %zu lookup(s) failed; whole "
		    "message action=%s", q, nerr, cm_reply_on_error_name(oe));
		return cm_reply_send(ctx, cm_reply_for_error(oe, false), NULL,
		    NULL, NULL);
	}
	if (mon) {
		free(deny);
		trace(ctx, c, m, 0, m->nrcpts + m->rcpts_dropped, ndeny);
		return SMFIS_CONTINUE;
	}
	if (ndeny == m->nrcpts) {
		free(deny);
		cm_log(LOG_INFO, "queue_id=%s type=%s: no recipient left; "
		    "message refused", q, m->type_ids);
		return cm_reply_send(ctx, CM_REPLY_MSG_NO_RCPT, NULL,
		    m->type_ids, NULL);
	}
	if (ndeny > 0 && !c->can_delrcpt) {
		free(deny);
		cm_log(LOG_ERR, "queue_id=%s: cannot remove recipients (not "
		    "negotiated); action=%s", q, cm_reply_on_error_name(oe));
		return cm_reply_send(ctx, cm_reply_for_error(oe, false), NULL,
		    NULL, NULL);
	}
	for (i = 0; i < m->nrcpts; i++) {
		if (deny[i] && smfi_delrcpt(ctx, m->rcpts[i]) != MI_SUCCESS) {
			free(deny);
			cm_log(LOG_ERR, "queue_id=%s: smfi_delrcpt failed; "
			    "message tempfailed", q);
			return cm_reply_send(ctx, CM_REPLY_MSG_TEMPFAIL, NULL,
			    NULL, NULL);
		}
	}
	cm_unsub_eom(ctx, &(cm_unsub_msg){ p, m->types.n, m->type_ids,
	    (const char *const *)m->rcpts, deny, m->nrcpts, m->rcpt_overflow,
	    m->own_lu, mon, c->can_addhdr, c->can_chghdr, m->qid }); /* unsub.h */
	free(deny);
	kept = m->nrcpts - ndeny;
	trace(ctx, c, m, ndeny, kept, ndeny);
	if (ndeny > 0)
		cm_fb_dsn(m->fb, m->type_ids, m->type_names, m->qid, m->rcpts,
		    m->nrcpts);
	return SMFIS_CONTINUE;
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
	cm_on_error oe = cm_policy_on_error(msg_policy(m));
	char q[80];

	cm_log(LOG_ERR, "queue_id=%s: the MTA sent no headers, the message "
	    "cannot be classified; action=%s", cm_log_clean(m->qid, q,
	    sizeof(q)), monitor(m) ? "none (monitor)" :
	    cm_reply_on_error_name(oe));
	if (monitor(m))
		return SMFIS_CONTINUE;
	return cm_reply_send(ctx, cm_reply_for_error(oe, false), NULL, NULL,
	    NULL);
}

static sfsistat
fi_eom(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);
	struct cm_msg *m;
	sfsistat r = SMFIS_CONTINUE;

	if (c == NULL)
		return SMFIS_CONTINUE;
	m = &c->msg;
	take_qid(ctx, m);
	if (m->mode == MSG_ENVELOPE && c->non_smtp)
		r = eom_headers(ctx, c, m);	/* EOH never came */
	else if (m->mode == MSG_ENVELOPE)
		r = eom_envelope(ctx, c, m);
	else if (m->mode == MSG_HEADER_TYPED)
		r = eom_headers(ctx, c, m);
	else if (m->mode == MSG_HEADERS)
		r = eom_unclassified(ctx, m);
	msg_reset(m);
	return r;
}

static sfsistat
fi_abort(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);

	if (c != NULL)
		msg_reset(&c->msg);
	return SMFIS_CONTINUE;
}

static sfsistat
fi_close(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);

	if (c != NULL) {
		(void)smfi_setpriv(ctx, NULL);
		conn_free(c);
	}
	return SMFIS_CONTINUE;
}

int
cm_filter_register(void)
{
	struct smfiDesc desc;

	memset(&desc, 0, sizeof(desc));
	desc.xxfi_name = (char *)CM_FILTER_NAME;
	desc.xxfi_version = SMFI_VERSION;
	desc.xxfi_flags = SMFIF_DELRCPT | SMFIF_ADDHDRS | SMFIF_CHGHDRS |
	    SMFIF_SETSYMLIST;
	desc.xxfi_connect = fi_connect;
	desc.xxfi_envfrom = fi_envfrom;
	desc.xxfi_envrcpt = fi_envrcpt;
	desc.xxfi_header = fi_header;
	desc.xxfi_eoh = fi_eoh;
	desc.xxfi_eom = fi_eom;
	desc.xxfi_abort = fi_abort;
	desc.xxfi_close = fi_close;
	desc.xxfi_data = fi_data;
	desc.xxfi_negotiate = fi_negotiate;
	return smfi_register(desc) == MI_SUCCESS ? 0 : -1;
}
