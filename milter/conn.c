/*
 * conn.c - connection and message state of the filter (see conn.h).
 */
#include "conn.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/decide.h"
#include "../core/tmpl.h"
#include "../core/util.h"
#include "log.h"

/* Log the decision lines M holds, with its queue id if known, in order
 * (on standard error in one write). */
static void
held_flush(struct cm_msg *m)
{
	if (m->held_len > 0)
		cm_log_decision_tails(m->qid[0] != '\0' ? m->qid : NULL,
		    m->held, m->held_len);
	m->held_len = 0;
}

/* M as a new message has it: no policy, nothing held, empty texts.
 * Only the fields before the texts are zeroed (an octet each for the
 * texts): a message's state is over 6 KiB, nearly all of it texts. */
static void
msg_clear(struct cm_msg *m)
{
	memset(m, 0, offsetof(struct cm_msg, type_ids));
	m->type_ids[0] = m->type_names[0] = m->qid[0] = m->sender[0] =
	    m->held[0] = '\0';
}

/* Log and hand on what M holds, and free what it allocated. */
static void
msg_release(struct cm_msg *m)
{
	size_t i;

	held_flush(m);
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
	cm_mailto_free(m->mailto);
	cm_live_put(m->ref);
}

void
cm_msg_reset(struct cm_msg *m)
{
	msg_release(m);
	msg_clear(m);
}

sfsistat
cm_msg_pass(struct cm_msg *m)
{
	if (m->mailto != NULL) {
		m->mode = CM_MSG_IDLE;
		return SMFIS_CONTINUE;
	}
	cm_msg_reset(m);
	return SMFIS_ACCEPT;
}

void
cm_conn_free(struct cm_conn *c)
{
	if (c == NULL)
		return;
	msg_release(&c->msg);
	cm_live_put(c->neg_ref);
	free(c->daemon_name);
	free(c);
}

/*
 * What was negotiated on a connection, kept from its close until the
 * next callback on the same SMFICTX: after SMFIC_QUIT_NC the MTA goes on
 * without negotiating again, and libmilter keeps the negotiated steps
 * but calls close.  The last MEMO_SLOTS closes are kept, oldest taken
 * over first (the MTA sends the next session's first command right after
 * QUIT_NC); one left by a connection that really ended is harmless: a
 * new connection at the same SMFICTX address negotiates first.
 */
#define MEMO_SLOTS 128

struct memo {
	const SMFICTX *ctx;	/* NULL: free */
	cm_live_ref *neg_ref;
	struct cm_conn_neg neg;
};

static struct memo memo[MEMO_SLOTS];
static size_t memo_next;	/* the slot the next close takes */
static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;

void
cm_conn_close(SMFICTX *ctx, struct cm_conn *c)
{
	struct memo *e;
	cm_live_ref *old;

	if (c == NULL)
		return;
	if (!c->neg_known || c->neg_ref == NULL) {
		cm_conn_free(c);	/* nothing negotiated to keep */
		return;
	}
	(void)pthread_mutex_lock(&memo_lock);
	e = &memo[memo_next];
	memo_next = (memo_next + 1) % MEMO_SLOTS;
	old = e->neg_ref;
	*e = (struct memo){ .ctx = ctx, .neg_ref = c->neg_ref,
	    .neg = c->neg };
	(void)pthread_mutex_unlock(&memo_lock);
	c->neg_ref = NULL;	/* the slot's now */
	cm_live_put(old);
	cm_conn_free(c);
}

/* Restore into C what was negotiated on CTX before its close, if kept. */
static bool
memo_take(const SMFICTX *ctx, struct cm_conn *c)
{
	struct memo *e = NULL;
	size_t i;
	bool found;

	/* the newest close of CTX */
	(void)pthread_mutex_lock(&memo_lock);
	for (i = 1, found = false; i <= MEMO_SLOTS && !found; i++) {
		e = &memo[(memo_next + MEMO_SLOTS - i) % MEMO_SLOTS];
		found = e->ctx == ctx && e->neg_ref != NULL;
	}
	if (found) {
		c->neg_ref = e->neg_ref;
		c->neg = e->neg;
		*e = (struct memo){ .ctx = NULL };
	}
	(void)pthread_mutex_unlock(&memo_lock);
	return found;
}

void
cm_conn_memo_drain(void)
{
	size_t i;

	(void)pthread_mutex_lock(&memo_lock);
	for (i = 0; i < MEMO_SLOTS; i++) {
		cm_live_put(memo[i].neg_ref);
		memo[i] = (struct memo){ .ctx = NULL };
	}
	(void)pthread_mutex_unlock(&memo_lock);
}

/* A new state for CTX; RESTORE: a negotiation kept at close */
static struct cm_conn *
conn_new(SMFICTX *ctx, bool restore)
{
	struct cm_conn *c = malloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	memset(c, 0, offsetof(struct cm_conn, msg));	/* msg: its texts */
	msg_clear(&c->msg);
	c->neg_known = restore && memo_take(ctx, c);
	if (!c->neg_known) {
		c->neg_ref = cm_live_get();
		c->neg.can_delrcpt = c->neg.can_addhdr = c->neg.can_chghdr =
		    c->neg.can_addrcpt = true;
		c->neg.nr_mail = false;
	}
	if (smfi_setpriv(ctx, c) != MI_SUCCESS) {
		cm_conn_free(c);
		return NULL;
	}
	return c;
}

struct cm_conn *
cm_conn_get(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);

	/* No state but a callback after negotiation: a connection the MTA
	 * reuses without negotiating again (SMFIC_QUIT_NC) */
	return c != NULL ? c : conn_new(ctx, true);
}

/* Forget what was kept of earlier connections at CTX's address. */
static void
memo_forget(const SMFICTX *ctx)
{
	cm_live_ref *refs[MEMO_SLOTS];
	size_t i, n = 0;

	(void)pthread_mutex_lock(&memo_lock);
	for (i = 0; i < MEMO_SLOTS; i++)
		if (memo[i].ctx == ctx) {
			refs[n++] = memo[i].neg_ref;
			memo[i] = (struct memo){ .ctx = NULL };
		}
	(void)pthread_mutex_unlock(&memo_lock);
	while (n > 0)
		cm_live_put(refs[--n]);
}

struct cm_conn *
cm_conn_negotiate(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);

	/* a new connection at this address: nothing of an earlier one may
	 * be restored onto it, even when no state can be made here */
	memo_forget(ctx);

	/* a new connection (or the MTA negotiating again): the policy in
	 * force now, nothing kept from an earlier one */
	if (c != NULL) {
		(void)smfi_setpriv(ctx, NULL);
		cm_conn_free(c);
	}
	return conn_new(ctx, false);
}

void
cm_msg_take_qid(SMFICTX *ctx, struct cm_msg *m)
{
	const char *q;

	/* the first id sent is kept (asked for no more: from the second
	 * RCPT on Postfix sends it with every step); the held lines get it
	 * when the message ends (cm_msg_reset) */
	if (m->qid[0] != '\0')
		return;
	q = smfi_getsymval(ctx, "i");
	if (q != NULL && *q != '\0') {
		size_t n = strnlen(q, sizeof(m->qid) - 1);	/* cut to fit */

		memcpy(m->qid, q, n);
		m->qid[n] = '\0';
	}
}

cm_action
cm_msg_action(const struct cm_msg *m, cm_stage stage, cm_fault fault)
{
	const cm_policy *p = cm_msg_policy(m);

	return cm_reply_action(cm_policy_mode(p), cm_policy_on_error(p), stage,
	    fault);
}

sfsistat
cm_conn_fail_why(SMFICTX *ctx, const char *rcpt, const char *why)
{
	cm_live_ref *r = cm_live_get();
	const cm_policy *p = r != NULL ? cm_live_policy(r) : NULL;
	cm_action a = cm_reply_action(p != NULL ? cm_policy_mode(p) :
	    CM_MODE_ENFORCE, p != NULL ? cm_policy_on_error(p) :
	    CM_ONERR_TEMPFAIL, rcpt != NULL ? CM_STAGE_RCPT : CM_STAGE_MAIL,
	    CM_FAULT_ERROR);

	cm_live_put(r);
	cm_log(LOG_ERR, "%s; action=%s", why, a.word);
	return cm_reply_send(ctx, a.kind, rcpt, NULL, NULL);
}

sfsistat
cm_conn_fail_current(SMFICTX *ctx, const char *rcpt, const char *what)
{
	char why[64];

	snprintf(why, sizeof(why), "%s: out of memory", what);
	return cm_conn_fail_why(ctx, rcpt, why);
}

/* FNV-1a of S (NULL apart from "") into H */
static uint64_t
tag_add(uint64_t h, const char *s)
{
	if (s == NULL)
		return (h ^ 0x100u) * UINT64_C(0x100000001b3);
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
	return (h ^ 0x101u) * UINT64_C(0x100000001b3);
}

uint64_t
cm_conn_tag(SMFICTX *ctx)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	h = tag_add(h, smfi_getsymval(ctx, "{client_addr}"));
	h = tag_add(h, smfi_getsymval(ctx, "{client_port}"));
	return tag_add(h, smfi_getsymval(ctx, "{daemon_name}"));
}

void
cm_msg_types_set(struct cm_msg *m)
{
	const cm_policy *p = cm_msg_policy(m);

	cm_class_join(p, &m->types, false, m->type_ids, sizeof(m->type_ids));
	cm_class_join(p, &m->types, true, m->type_names,
	    sizeof(m->type_names));
}

void
cm_msg_tmpl_vals(const struct cm_msg *m, const char *rcpt,
    const char *reason, const char **vals)
{
	int i;

	for (i = 0; i < CM_TMPL_NVARS; i++)
		vals[i] = NULL;
	vals[CM_TMPL_RCPT] = rcpt;
	vals[CM_TMPL_TYPE] = m->types.n > 0 ? m->type_ids : NULL;
	vals[CM_TMPL_NAME] = m->types.n > 0 ? m->type_names : NULL;
	vals[CM_TMPL_REASON] = reason;
	vals[CM_TMPL_MODE] = cm_msg_monitor(m) ? "monitor" : "enforce";
	vals[CM_TMPL_SENDER] = m->sender[0] != '\0' ? m->sender : NULL;
	vals[CM_TMPL_QUEUE_ID] = m->qid[0] != '\0' ? m->qid : NULL;
}

void
cm_msg_log_decision(struct cm_msg *m, const char *type, const char *rcpt,
    const char *verdict, const char *reason, const char *extra)
{
	size_t n;

	_Static_assert(CM_CONN_HELD_MAX >= CM_LOG_LINE_MAX,
	    "a line moved down fits where the held ones were");
	/* made in place after what is held (the buffer has a line's room
	 * beyond CM_CONN_HELD_MAX); where it goes past that bound, what
	 * was held before it is logged first and the line moved down */
	n = cm_log_decision_fmt(m->held + m->held_len, CM_LOG_LINE_MAX, type,
	    rcpt, verdict, reason, extra);
	if (m->held_len + n + 1 > CM_CONN_HELD_MAX) {
		size_t at = m->held_len;

		held_flush(m);
		memmove(m->held, m->held + at, n + 1);
	}
	m->held_len += n + 1;
}

void
cm_msg_log_result(struct cm_msg *m, const char *raw,
    const cm_verdict_res *res, const char *stage, const char *action)
{
	char extra[512];
	cm_sbuf b = { extra, 0, sizeof(extra) - 1 };
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
	/* on every recipient's path: no printf */
	cm_sbuf_str(&b, "stage=");
	cm_sbuf_str(&b, stage);
	if (cm_msg_monitor(m))
		cm_sbuf_str(&b, " mode=monitor");
	if (action != NULL) {
		cm_sbuf_str(&b, " action=");
		cm_sbuf_str(&b, action);
	}
	if (res->st != CM_OK) {
		cm_sbuf_str(&b, " error=\"");
		cm_sbuf_str(&b, cm_strerror((int)res->st));
	}
	if (res->detail[0] != '\0') {
		cm_sbuf_str(&b, ": ");
		cm_sbuf_str(&b, res->detail);
	}
	if (res->st != CM_OK)
		cm_sbuf_put(&b, "\"", 1);
	extra[b.len] = '\0';
	cm_msg_log_decision(m, m->type_ids, rcpt, verdict, reason, extra);
	cm_fb_decision(m->fb, rcpt, verdict, reason, action);
}
