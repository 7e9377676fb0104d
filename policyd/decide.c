/*
 * decide.c - one policy-delegation request decided (decide.h).
 */
#include "decide.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../config/classify.h"
#include "../config/links.h"
#include "../core/addr.h"
#include "../core/token.h"
#include "../core/util.h"
#include "../milter/log.h"
#include "../milter/reply.h"
#include "../milter/verdict.h"

#define TYPES_MAX CM_PDDEC_TYPES_MAX

/* REPLY as an action value: "DUNNO" when it has no code, else CODE
 * XCODE TEXT with the '%' that smfi_setreply wants doubled made single
 * again (reply.h doubles every one). */
static void
action_of_reply(const cm_reply *r, char *out, size_t size)
{
	size_t o;

	if (r->rcode == NULL) {
		snprintf(out, size, "DUNNO");
		return;
	}
	o = (size_t)snprintf(out, size, "%s %s ", r->rcode, r->xcode);
	for (const char *t = r->text; *t != '\0' && o + 1 < size; t++) {
		out[o++] = *t;
		if (t[0] == '%' && t[1] == '%')
			t++;
	}
	out[o < size ? o : size - 1] = '\0';
}

static cm_declog_action
declog_action(const char *verdict, const char *action)
{
	if (action == NULL)
		return CM_DECLOG_ALLOWED;
	if (strcmp(action, "none") == 0)
		return strcmp(verdict, "allow") == 0 ? CM_DECLOG_ALLOWED :
		    CM_DECLOG_MONITORED;
	if (strcmp(action, "reject") == 0)
		return CM_DECLOG_REFUSED;
	if (strcmp(action, "tempfail") == 0)
		return CM_DECLOG_TEMPFAILED;
	return CM_DECLOG_ALLOWED;	/* "accept" */
}

/* What one request knows, for the log lines and records. */
struct rq {
	const cm_policy *p;
	cm_declog *log;
	const char *qid;	/* NULL when Postfix sent none */
	const char *sender;
	const char *types;	/* the type ids, "a,b" */
	bool monitor;
};

/* One decision: the log line (the milter's shape) and the record. */
static void
record(const struct rq *q, const char *rcpt, const char *verdict,
    const char *reason, const char *action, cm_status st,
    const char *detail)
{
	char extra[512];
	cm_sbuf b = { extra, 0, sizeof(extra) - 1 };

	/* stage=rcpt via=policy[ mode=monitor][ action=A]
	 * [ error="E[: D]"] (on every recipient's path: no printf) */
	cm_sbuf_str(&b, "stage=rcpt via=policy");
	if (q->monitor)
		cm_sbuf_str(&b, " mode=monitor");
	if (action != NULL) {
		cm_sbuf_str(&b, " action=");
		cm_sbuf_str(&b, action);
	}
	if (st != CM_OK) {
		cm_sbuf_str(&b, " error=\"");
		cm_sbuf_str(&b, cm_strerror((int)st));
	}
	if (detail != NULL && *detail != '\0') {
		cm_sbuf_str(&b, ": ");
		cm_sbuf_str(&b, detail);
	}
	if (st != CM_OK)
		cm_sbuf_str(&b, "\"");
	extra[b.len] = '\0';
	cm_log_decision(q->qid, q->types, rcpt, verdict, reason, extra);
	if (q->log != NULL) {
		cm_declog_rec rec = {
			.queue_id = q->qid,
			.sender = q->sender,
			.type = q->types,
			.rcpt = rcpt,
			.verdict = verdict,
			.reason = reason,
			.action = declog_action(verdict, action),
		};

		(void)cm_declog_add(q->log, &rec);	/* drops are counted */
	}
}

/* The error policy at RCPT for recipient RCPT (may be NULL). */
static void
error_action(const struct rq *q, const char *rcpt, const char *why,
    char *out, size_t size, cm_status st)
{
	cm_action a = cm_reply_action(cm_policy_mode(q->p),
	    cm_policy_on_error(q->p), rcpt != NULL ? CM_STAGE_RCPT :
	    CM_STAGE_MAIL, CM_FAULT_ERROR);
	cm_reply r;

	record(q, rcpt, "error", why, a.word, st, NULL);
	cm_reply_build(a.kind, rcpt, NULL, NULL, &r);
	action_of_reply(&r, out, size);
}

static bool
client_addr(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (s == NULL)
		return false;
	if (inet_pton(AF_INET, s, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}

static bool
in_scope(const cm_policy *p, const cm_pdreq *req, bool authenticated)
{
	struct sockaddr_storage ss;
	const char *ctx = cm_pdreq_get(req, "policy_context");
	bool have = client_addr(cm_pdreq_get(req, "client_address"), &ss);

	if (ctx != NULL && *ctx == '\0')
		ctx = NULL;
	/* No daemon name to match scope.daemon_names against: checked. */
	if (ctx == NULL && cm_policy_scope_has_daemon_names(p))
		return true;
	return cm_policy_in_scope(p, have ? (struct sockaddr *)&ss : NULL,
	    ctx, authenticated);
}

static const char *
nonempty(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

/*
 * Postfix sends addresses in its internal form, the local part
 * unquoted ("john doe@x" for <"john doe"@x>); the classifier and the
 * verdict take the external form the milter receives.  Quote S (may be
 * NULL) again into BUF (CM_ADDR_TEXT_MAX octets); S itself when it has
 * no local part and domain (normalizing it then fails as before).
 */
static const char *
external(const char *s, char *buf)
{
	size_t n;

	if (s == NULL || *s == '\0' ||
	    cm_addr_format(s, strlen(s), buf, CM_ADDR_TEXT_MAX, &n) != CM_OK)
		return s;
	return buf;
}

static void
seen_set(cm_pddec_seen *seen, const char *instance)
{
	/* on every request's path: no printf; one too long is none */
	size_t n = instance != NULL ? strlen(instance) : 0;

	if (n >= sizeof(seen->instance))
		n = 0;
	memcpy(seen->instance, instance != NULL ? instance : "", n);
	seen->instance[n] = '\0';
}

static bool
seen_is(const cm_pddec_seen *seen, const char *instance)
{
	return instance != NULL && seen->instance[0] != '\0' &&
	    strcmp(seen->instance, instance) == 0;
}

/* Newsletter mail whose recipients this server did not see at RCPT:
 * check_policy_service is missing from smtpd_recipient_restrictions.
 * At most one warning a minute. */
static void
late_warning(const char *state)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static time_t last;
	time_t now = time(NULL);
	bool say;

	pthread_mutex_lock(&mu);
	say = last == 0 || now - last >= 60 || now < last;
	if (say)
		last = now;
	pthread_mutex_unlock(&mu);
	if (say)
		cm_log(LOG_WARNING, "newsletter mail whose recipients were "
		    "not checked at RCPT reached the policy service at %s: "
		    "put check_policy_service first in "
		    "smtpd_recipient_restrictions; decided here (the whole "
		    "message: its only recipient, or on_error without one)",
		    state);
}

/*
 * The envelope of REQ (client, SASL login AUTH, sender) classified under
 * P: the one SEEN keeps when the inputs and the policy are the same as
 * its last, else made anew into SEEN's (kept) or into TMP.
 */
static const struct cm_pddec_env *
envelope(const cm_policy *p, const cm_pdreq *req, const char *auth,
    cm_pddec_seen *seen, struct cm_pddec_env *tmp)
{
	/* an attribute missing and an empty one decide alike */
	const char *in[] = {
		cm_pdreq_get(req, "sender"), auth,
		cm_pdreq_get(req, "client_address"),
		cm_pdreq_get(req, "policy_context"),
	};
	char key[CM_PDDEC_ENV_KEY_MAX];
	size_t klen = 0, n;
	bool keep = seen != NULL && seen->policy_gen != 0;
	struct cm_pddec_env *e;
	const char *sender;

	for (size_t i = 0; keep && i < sizeof(in) / sizeof(in[0]); i++) {
		const char *v = in[i] != NULL ? in[i] : "";

		n = strlen(v) + 1;
		keep = klen + n <= sizeof(key);
		if (keep) {
			memcpy(key + klen, v, n);
			klen += n;
		}
	}
	if (keep && seen->env.gen == seen->policy_gen &&
	    seen->env.key_len == klen && memcmp(seen->env.key, key, klen) == 0)
		return &seen->env;
	e = keep ? &seen->env : tmp;
	e->gen = 0;
	e->in_scope = in_scope(p, req, auth != NULL);
	sender = external(in[0], e->sbuf);
	/* "" for none: never the request's own empty value (kept below) */
	e->sender = sender == NULL || *sender == '\0' ? "" : sender;
	cm_class_clear(&e->ts);
	e->st = cm_class_envelope(p, e->sender, strlen(e->sender), auth,
	    &e->ts);
	e->types[0] = '\0';
	if (e->ts.n > 0)
		(void)cm_class_join(p, &e->ts, false, e->types,
		    sizeof(e->types));
	/* kept unless the sender is the request's own text (too long to
	 * be formatted) */
	if (keep && (*e->sender == '\0' || e->sender == e->sbuf)) {
		memcpy(e->key, key, klen);
		e->key_len = klen;
		e->gen = seen->policy_gen;
	}
	return e;
}

void
cm_pddec_decide(const cm_policy *p, cm_declog *log, const cm_pdreq *req,
    cm_pddec_seen *seen, char *out, size_t size)
{
	const char *state = cm_pdreq_get(req, "protocol_state");
	const char *instance = nonempty(cm_pdreq_get(req, "instance"));
	const char *request = cm_pdreq_get(req, "request");
	char rbuf[CM_ADDR_TEXT_MAX];
	const char *auth = nonempty(cm_pdreq_get(req, "sasl_username"));
	const char *rcpt, *types, *sender;
	struct cm_pddec_env tmp;
	const struct cm_pddec_env *env;
	struct rq q = {
		.p = p, .log = log, .types = NULL,
		.qid = nonempty(cm_pdreq_get(req, "queue_id")),
		.monitor = cm_policy_mode(p) == CM_MODE_MONITOR,
	};
	cm_verdict_res res;
	const cm_typeset *ts;
	cm_reply r;
	bool late = false, own;
	char tok[CM_TOKEN_TEXT_MAX];
	size_t toklen;

	if (request == NULL || strcmp(request, "smtpd_access_policy") != 0) {
		cm_pddec_malformed(p, "not an smtpd_access_policy request",
		    out, size);
		return;
	}
	if (size >= sizeof("DUNNO"))	/* size >= CM_PDDEC_ACTION_MAX */
		memcpy(out, "DUNNO", sizeof("DUNNO"));
	if (state == NULL)
		return;
	if (strcmp(state, "RCPT") == 0) {
		if (seen != NULL)
			seen_set(seen, instance);
	} else if (strcmp(state, "DATA") == 0 ||
	    strcmp(state, "END-OF-MESSAGE") == 0) {
		/* decided at RCPT on this connection: nothing more */
		if (seen != NULL && seen_is(seen, instance))
			return;
		late = true;
	} else
		return;		/* CONNECT, HELO, MAIL, ...: RCPT follows */
	env = envelope(p, req, auth, seen, &tmp);
	if (!env->in_scope)
		return;
	rcpt = external(nonempty(cm_pdreq_get(req, "recipient")), rbuf);
	ts = &env->ts;
	types = env->types;
	sender = env->sender;
	q.sender = sender;
	q.types = ts->n > 0 ? types : NULL;
	if (env->st != CM_OK && ts->n == 0) {
		/* never "no newsletter" for a sender that cannot be read */
		error_action(&q, rcpt, "sender-unreadable", out, size,
		    env->st);
		return;
	}
	if (ts->n == 0)		/* no newsletter, or typed by headers */
		return;
	if (late)
		late_warning(state);
	if (rcpt == NULL) {
		error_action(&q, NULL, "no-recipient", out, size, CM_EINVAL);
		return;
	}
	/* a mailto unsubscribe (links.mailto_*): the milter's to handle */
	if (cm_links_mailto_match(cm_policy_links(p), rcpt, strlen(rcpt),
	    tok, sizeof tok, &toklen))
		return;
	/* allowed and monitored recipients are recorded by the milter
	 * unless it accepts the message at MAIL FROM (the fast path) */
	own = cm_class_pd_fast(p, ts);
	if (ts->n > 1 && cm_policy_multiple_types(p) == CM_MULTI_REFUSE &&
	    !q.monitor) {
		record(&q, rcpt, "deny", "ambiguous", "reject", CM_OK, NULL);
		cm_reply_build(CM_REPLY_MSG_AMBIGUOUS, NULL, types, NULL, &r);
		action_of_reply(&r, out, size);
		return;
	}
	cm_verdict_decide(p, ts, rcpt, &res);
	if (res.out == CM_OUT_ALLOW) {
		if (own)
			record(&q, res.normalized ? res.addr.key : rcpt,
			    "allow", cm_reason_name(CM_REASON_NONE), NULL,
			    res.st, NULL);
		return;
	}
	if (res.out == CM_OUT_DENY) {
		const char *vals[CM_TMPL_NVARS] = { NULL };
		char names[TYPES_MAX];

		if (q.monitor) {	/* never the fast path: the milter's */
			if (own)
				record(&q, res.normalized ? res.addr.key :
				    rcpt, "deny", cm_reason_name(res.reason),
				    "none", res.st, NULL);
			return;
		}
		record(&q, res.normalized ? res.addr.key : rcpt, "deny",
		    cm_reason_name(res.reason), "reject", res.st, NULL);
		vals[CM_TMPL_RCPT] = rcpt;
		vals[CM_TMPL_TYPE] = types;
		vals[CM_TMPL_NAME] = cm_class_join(p, ts, true, names,
		    sizeof(names));
		vals[CM_TMPL_REASON] = cm_reason_name(res.reason);
		vals[CM_TMPL_MODE] = "enforce";
		vals[CM_TMPL_SENDER] = nonempty(sender);
		vals[CM_TMPL_QUEUE_ID] = q.qid;
		cm_reply_build_deny(cm_policy_tmpl_reply(p), vals, &r);
		action_of_reply(&r, out, size);
		return;
	}
	{
		cm_action a = cm_reply_action(cm_policy_mode(p),
		    cm_policy_on_error(p), CM_STAGE_RCPT, CM_FAULT_ERROR);

		record(&q, res.normalized ? res.addr.key : rcpt, "error",
		    "lookup-failed", a.word, res.st, res.detail);
		cm_reply_build(a.kind, rcpt, NULL, NULL, &r);
		action_of_reply(&r, out, size);
	}
}

void
cm_pddec_malformed(const cm_policy *p, const char *why, char *out,
    size_t size)
{
	cm_action a = cm_reply_action(cm_policy_mode(p), cm_policy_on_error(p),
	    CM_STAGE_MAIL, CM_FAULT_ERROR);
	cm_reply r;

	cm_log(LOG_WARNING, "policy request cannot be read: %s; action=%s",
	    why, a.word);
	cm_reply_build(a.kind, NULL, NULL, NULL, &r);
	action_of_reply(&r, out, size);
}
