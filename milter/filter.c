/*
 * filter.c - libmilter callbacks: a thin adapter over core/ and config/.
 *
 * Flow of one message (SPEC §5):
 *   connect  out of scope even if the client authenticated later -> ACCEPT
 *   MAIL     null sender, out of scope, or no type and no header rules
 *            -> ACCEPT; type from envelope/SASL -> decide at RCPT;
 *            else keep recipients and headers, classify at end of headers
 *   RCPT     envelope type: deny -> 550 5.7.1 for this recipient only;
 *            allow -> CONTINUE (never ACCEPT: it would pass later
 *            recipients unchecked); error -> on_error for this recipient
 *   DATA     envelope type, enforce -> ACCEPT (nothing left to do)
 *   EOH      header type found -> CONTINUE; unclassified bulk -> configured
 *            action; otherwise ACCEPT
 *   EOM      header type: decide every recipient, remove denied ones with
 *            smfi_delrcpt(raw address), refuse when none is left, add the
 *            trace header; monitor: only the trace header
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

#include "../config/policy.h"
#include "../core/addr.h"
#include "../core/decide.h"
#include "../core/timefmt.h"
#include "../core/tmpl.h"
#include "db.h"
#include "feedback.h"
#include "live.h"
#include "log.h"
#include "reply.h"

#define QID_MAX 64
#define DAEMON_NAME_MAX 256
#define SENDER_MAX 1024
#define CM_TRACE_MAX 1024	/* trace header value */

enum msg_mode {
	MSG_IDLE = 0,		/* no message, or nothing left to do */
	MSG_ENVELOPE,		/* type known at MAIL: decide at RCPT */
	MSG_HEADERS,		/* waiting for headers to classify */
	MSG_HEADER_TYPED	/* type known at EOH: decide at EOM */
};

struct cm_msg {
	enum msg_mode mode;
	cm_live_ref *ref;	/* the policy this message is decided by */
	const cm_ntype *type;
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
	cm_fb_msg *fb;		/* decision log records and DSN data */
};

struct cm_conn {
	cm_live_ref *neg_ref;	/* policy when the steps were negotiated */
	bool hdrs_off;		/* MTA sends no headers on this connection */
	bool nr_hdr;		/* header callbacks send no reply */
	bool nr_data;		/* DATA is not sent, or needs no reply */
	bool can_delrcpt, can_addhdr, can_chghdr;
	bool have_addr;
	struct sockaddr_storage addr;
	char *daemon_name;
	struct cm_msg msg;
};

/* ---------------------------------------------------------------- */

static void
msg_reset(struct cm_msg *m)
{
	size_t i;

	cm_fb_msg_end(m->fb, m->qid, m->type != NULL ? cm_ntype_id(m->type) :
	    NULL);
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

typedef enum outcome { OUT_ALLOW, OUT_DENY, OUT_ERROR } outcome;

typedef struct result {
	outcome out;
	cm_reason reason;
	cm_status st;
	cm_addr addr;
	bool normalized;
} result;

static void
decide_one(const struct cm_msg *m, const char *raw, result *res)
{
	const cm_policy *p = msg_policy(m);
	cm_decision d;
	cm_index *idx;
	cm_status st;

	memset(res, 0, sizeof(*res));
	st = cm_addr_normalize(raw, strlen(raw), cm_policy_addr_opts(p),
	    &res->addr);
	if (st != CM_OK) {
		/* No record can exist under an address the importer could
		 * not have normalized either. */
		res->out = OUT_DENY;
		res->reason = CM_REASON_NO_CONSENT;
		res->st = st;
		return;
	}
	res->normalized = true;
	idx = cm_db_acquire();	/* NULL: no index (removed): on_error */
	if (idx == NULL) {
		res->out = OUT_ERROR;
		res->st = CM_EIO;
		return;
	}
	st = cm_decide(idx, cm_ntype_policy(m->type), &res->addr,
	    cm_time_now(), &d);
	cm_db_release(idx);
	if (st != CM_OK) {
		res->out = OUT_ERROR;
		res->st = st;
		return;
	}
	if (d.verdict == CM_ALLOW) {
		res->out = OUT_ALLOW;
		res->reason = CM_REASON_NONE;
	} else {
		res->out = OUT_DENY;
		res->reason = d.reason;
	}
}

static void
log_result(const struct cm_msg *m, const char *raw, const result *res,
    const char *stage, const char *action)
{
	char extra[256];
	const char *rcpt = res->normalized ? res->addr.key : raw;
	const char *verdict, *reason;

	switch (res->out) {
	case OUT_ALLOW:
		verdict = "allow";
		reason = cm_reason_name(CM_REASON_NONE);
		break;
	case OUT_DENY:
		verdict = "deny";
		reason = cm_reason_name(res->reason);
		break;
	case OUT_ERROR:
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
	cm_log_decision(m->qid[0] != '\0' ? m->qid : NULL,
	    cm_ntype_id(m->type), rcpt, verdict, reason, extra);
	cm_fb_decision(m->fb, rcpt, verdict, reason, action);
}

/* ---------------------------------------------------------------- */
/* Helpers for MAIL */

/* Envelope sender without angle brackets and source route into OUT;
 * false if it does not fit. */
static bool
sender_bare(const char *in, char *out, size_t size)
{
	size_t len;
	const char *colon;

	while (*in == ' ' || *in == '\t')
		in++;
	len = strlen(in);
	while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'))
		len--;
	if (len >= 1 && in[0] == '<') {
		in++;
		len--;
		if (len >= 1 && in[len - 1] == '>')
			len--;
	}
	if (len > 0 && in[0] == '@') {
		colon = memchr(in, ':', len);
		if (colon != NULL) {
			len -= (size_t)(colon + 1 - in);
			in = colon + 1;
		}
	}
	if (len >= size)
		return false;
	memcpy(out, in, len);
	out[len] = '\0';
	return true;
}

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
	if (!cm_policy_needs_headers(p) && !cm_fb_needs_headers(p))
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
	/* Out of scope even if the client authenticates later: nothing on
	 * this connection needs the filter. */
	if (!in_scope(c, cm_live_policy(c->neg_ref), true))
		return SMFIS_ACCEPT;
	return SMFIS_CONTINUE;
}

static sfsistat
fi_envfrom(SMFICTX *ctx, char **argv)
{
	struct cm_conn *c = conn_get(ctx);
	struct cm_msg *m;
	const cm_policy *p;
	const char *auth;
	char sender[SENDER_MAX];
	bool sender_ok;

	if (c == NULL || c->neg_ref == NULL)
		return error_reply_current(ctx, NULL, "MAIL");
	m = &c->msg;
	msg_reset(m);
	if (argv == NULL || argv[0] == NULL)
		return SMFIS_ACCEPT;
	sender_ok = sender_bare(argv[0], sender, sizeof(sender));
	if (sender_ok && sender[0] == '\0')
		return SMFIS_ACCEPT;	/* null sender: never a newsletter */

	m->ref = cm_live_get();
	if (m->ref == NULL)
		return error_reply_current(ctx, NULL, "MAIL");
	auth = smfi_getsymval(ctx, "{auth_authen}");
	if (auth != NULL && *auth == '\0')
		auth = NULL;
	if (m->ref != c->neg_ref && c->hdrs_off &&
	    cm_policy_needs_headers(cm_live_policy(m->ref)) &&
	    cm_policy_match_envelope(cm_live_policy(m->ref), sender_ok ?
	    sender : argv[0], auth) == NULL) {
		/* Reloaded since this connection was negotiated: the MTA
		 * sends no headers here, so the new policy cannot classify
		 * this message by its headers.  Decide it by the negotiated
		 * one; a message the new policy types by its envelope is
		 * decided by the new policy (its mode and rules). */
		cm_live_put(m->ref);
		m->ref = cm_live_dup(c->neg_ref);
	}
	p = msg_policy(m);
	take_qid(ctx, m);
	if (sender_ok)
		memcpy(m->sender, sender, strlen(sender) + 1);

	if (!in_scope(c, p, auth != NULL)) {
		msg_reset(m);
		return SMFIS_ACCEPT;
	}
	/* A sender too long for the copy is matched as the MTA sent it
	 * (the rules tolerate its angle brackets), never as no sender. */
	m->type = cm_policy_match_envelope(p, sender_ok ? sender : argv[0],
	    auth);
	if (m->type != NULL) {
		m->mode = MSG_ENVELOPE;
		m->fb = cm_fb_msg_new(p, argv);
		return SMFIS_CONTINUE;
	}
	if (cm_policy_needs_headers(p) && !c->hdrs_off) {
		m->mode = MSG_HEADERS;
		m->fb = cm_fb_msg_new(p, argv);
		return SMFIS_CONTINUE;
	}
	msg_reset(m);
	return SMFIS_ACCEPT;
}

/* Strip one pair of angle brackets from RAW into BUF. */
static const char *
unbracket(const char *raw, char *buf, size_t size)
{
	size_t len = strlen(raw);

	if (len >= 2 && raw[0] == '<' && raw[len - 1] == '>') {
		len -= 2;
		if (len >= size)
			len = size - 1;
		memcpy(buf, raw + 1, len);
		buf[len] = '\0';
		return buf;
	}
	return raw;
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
	vals[CM_TMPL_TYPE] = m->type != NULL ? cm_ntype_id(m->type) : NULL;
	vals[CM_TMPL_NAME] = m->type != NULL ? cm_ntype_name(m->type) : NULL;
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

	tmpl_vals(m, unbracket(raw, bare, sizeof(bare)), reason, vals);
	return cm_reply_send_deny(ctx, cm_policy_tmpl_reply(msg_policy(m)),
	    vals);
}

static sfsistat
rcpt_envelope(SMFICTX *ctx, struct cm_msg *m, const char *raw)
{
	const cm_policy *p = msg_policy(m);
	result res;
	const char *action;

	decide_one(m, raw, &res);
	switch (res.out) {
	case OUT_ALLOW:
		m->allowed++;
		log_result(m, raw, &res, "rcpt", NULL);
		return SMFIS_CONTINUE;
	case OUT_DENY:
		m->denied++;
		log_result(m, raw, &res, "rcpt", monitor(m) ? "none" : "reject");
		if (monitor(m))
			return SMFIS_CONTINUE;
		return deny_reply(ctx, m, raw, cm_reason_name(res.reason));
	case OUT_ERROR:
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

static sfsistat
rcpt_keep(SMFICTX *ctx, struct cm_msg *m, const char *raw)
{
	size_t len = strlen(raw);
	char *copy;

	if (m->nrcpts >= CM_FILTER_MAX_RCPTS ||
	    m->rcpt_bytes + len + 1 > CM_FILTER_MAX_RCPT_BYTES) {
		char q[80];

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

	if (argv == NULL || argv[0] == NULL)
		return SMFIS_CONTINUE;
	if (c == NULL)
		return error_reply_current(ctx, argv[0], "RCPT");
	m = &c->msg;
	take_qid(ctx, m);
	switch (m->mode) {
	case MSG_ENVELOPE:
		return rcpt_envelope(ctx, m, argv[0]);
	case MSG_HEADERS: {
		size_t before = m->nrcpts;
		sfsistat r = rcpt_keep(ctx, m, argv[0]);

		if (m->nrcpts > before)
			cm_fb_msg_rcpt(m->fb, before, argv + 1);
		return r;
	}
	default:
		return SMFIS_CONTINUE;
	}
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
	if (m->mode == MSG_ENVELOPE && !monitor(m) && (c->hdrs_off ||
	    !cm_fb_needs_headers(msg_policy(m)))) {
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

/* Unfold a header value in place (RFC 5322 2.2.3): the MTA passes folds
 * as LF or CRLF before the white space of the next line; the rules match
 * the unfolded value. */
static void
unfold(char *v)
{
	char *w = v;

	for (; *v != '\0'; v++)
		if (*v != '\r' && *v != '\n')
			*w++ = *v;
	*w = '\0';
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
	unfold(v);
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
	cm_fb_msg_header(m->fb, name, value);
	if (m->mode != MSG_HEADERS)
		return ok;
	if (cm_policy_header_is_bulk(name, value))
		m->bulk = true;
	if (cm_policy_header_relevant(msg_policy(m), name))
		hdr_keep(m, name, value);
	return ok;
}

static sfsistat
fi_eoh(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);
	struct cm_msg *m;
	const cm_policy *p;
	char q[80];

	if (c == NULL)
		return SMFIS_CONTINUE;
	m = &c->msg;
	take_qid(ctx, m);
	if (m->mode == MSG_ENVELOPE && !monitor(m)) {
		/* Headers were wanted only for the decision log. */
		msg_reset(m);
		return SMFIS_ACCEPT;
	}
	if (m->mode != MSG_HEADERS)
		return SMFIS_CONTINUE;
	p = msg_policy(m);
	cm_log_clean(m->qid, q, sizeof(q));
	if (m->hdr_overflow || m->hdr_nomem) {
		bool mon = monitor(m);
		cm_reply_kind k = m->hdr_nomem ?
		    cm_reply_for_error(cm_policy_on_error(p), false) :
		    CM_REPLY_MSG_TOO_LARGE;

		cm_log(m->hdr_nomem ? LOG_ERR : LOG_WARNING,
		    "queue_id=%s: %s; action=%s", q, m->hdr_nomem ?
		    "out of memory keeping headers" :
		    "too many classification headers to check",
		    mon ? "none (monitor)" : m->hdr_nomem ?
		    cm_reply_on_error_name(cm_policy_on_error(p)) : "tempfail");
		msg_reset(m);
		if (mon)
			return SMFIS_ACCEPT;
		return cm_reply_send(ctx, k, NULL, NULL, NULL);
	}
	m->type = cm_policy_match_headers(p, m->nhdrs,
	    (const char *const *)m->hnames, (const char *const *)m->hvalues);
	if (m->type == NULL) {
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
	m->mode = MSG_HEADER_TYPED;
	return SMFIS_CONTINUE;
}

/* Remove X-Consent-Milter headers the client sent, then add ours. */
static int
trace_header(SMFICTX *ctx, struct cm_conn *c, struct cm_msg *m,
    const char *value)
{
	int i;

	if (c->can_chghdr)
		for (i = m->own_hdrs; i >= 1; i--)
			(void)smfi_chgheader(ctx, CM_FILTER_TRACE_HEADER, i,
			    NULL);
	if (!c->can_addhdr)
		return 0;
	return smfi_addheader(ctx, CM_FILTER_TRACE_HEADER, (char *)value) ==
	    MI_SUCCESS ? 0 : -1;
}

/*
 * The trace header value (templates.trace_header) into V; in monitor
 * mode "; mode=monitor; denied=N" follows (N would have been removed).
 */
static void
trace_value(const struct cm_msg *m, size_t removed, size_t kept,
    size_t denied, char *v, size_t size)
{
	const char *vals[CM_TMPL_NVARS];
	char r[32], k[32];
	size_t len;

	snprintf(r, sizeof(r), "%zu", removed);
	snprintf(k, sizeof(k), "%zu", kept);
	tmpl_vals(m, NULL, NULL, vals);
	vals[CM_TMPL_REMOVED] = r;
	vals[CM_TMPL_KEPT] = k;
	len = cm_tmpl_expand(cm_policy_tmpl_trace(msg_policy(m)), vals,
	    CM_TMPL_ASCII, v, size, NULL);
	if (monitor(m) && len < size)
		snprintf(v + len, size - len, "; mode=monitor; denied=%zu",
		    denied);
}

static sfsistat
eom_envelope(SMFICTX *ctx, struct cm_conn *c, struct cm_msg *m)
{
	char v[CM_TRACE_MAX];
	size_t total = m->allowed + m->denied + m->errors;

	if (!monitor(m))
		return SMFIS_CONTINUE;
	trace_value(m, 0, total, m->denied, v, sizeof(v));
	if (trace_header(ctx, c, m, v) != 0)
		cm_log(LOG_WARNING, "cannot add the trace header");
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
	char v[CM_TRACE_MAX], q[80];

	cm_log_clean(m->qid, q, sizeof(q));
	if (m->nrcpts == 0)
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
		result res;
		const char *action;

		decide_one(m, m->rcpts[i], &res);
		if (res.out == OUT_ALLOW) {
			action = NULL;
		} else if (res.out == OUT_DENY) {
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
		trace_value(m, 0, m->nrcpts + m->rcpts_dropped, ndeny, v,
		    sizeof(v));
		if (trace_header(ctx, c, m, v) != 0)
			cm_log(LOG_WARNING, "queue_id=%s: cannot add the trace "
			    "header", q);
		return SMFIS_CONTINUE;
	}
	if (ndeny == m->nrcpts) {
		free(deny);
		cm_log(LOG_INFO, "queue_id=%s type=%s: no recipient left; "
		    "message refused", q, cm_ntype_id(m->type));
		return cm_reply_send(ctx, CM_REPLY_MSG_NO_RCPT, NULL,
		    cm_ntype_id(m->type), NULL);
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
	free(deny);
	kept = m->nrcpts - ndeny;
	trace_value(m, ndeny, kept, ndeny, v, sizeof(v));
	if (trace_header(ctx, c, m, v) != 0)
		cm_log(LOG_WARNING, "queue_id=%s: cannot add the trace header",
		    q);
	if (ndeny > 0)
		cm_fb_dsn(m->fb, cm_ntype_id(m->type), cm_ntype_name(m->type),
		    m->qid, m->rcpts, m->nrcpts);
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
	if (m->mode == MSG_ENVELOPE)
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
