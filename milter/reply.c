/*
 * reply.c - SMTP replies and SMFIS_* outcomes, built in one place.
 */
#include "reply.h"

#include <stdio.h>
#include <string.h>

/* Append S to BUF (at *O, capacity SIZE incl. NUL) escaped for
 * smfi_setreply: controls -> '?', '%' -> "%%".  Stops before LIMIT
 * octets of output from this call; never splits a "%%". */
static void
append_escaped(char *buf, size_t size, size_t *o, const char *s, size_t limit)
{
	size_t start = *o;

	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		size_t need = c == '%' ? 2 : 1;

		if (*o + need >= size || *o - start + need > limit)
			break;
		if (c == '%') {
			buf[(*o)++] = '%';
			buf[(*o)++] = '%';
		} else if (c < 0x20 || c == 0x7f) {
			buf[(*o)++] = '?';
		} else {
			buf[(*o)++] = (char)c;
		}
	}
	buf[*o] = '\0';
}

static void
append_rcpt(char *buf, size_t size, size_t *o, const char *rcpt)
{
	size_t len;
	bool bracketed;

	if (rcpt == NULL)
		rcpt = "";
	len = strlen(rcpt);
	bracketed = len >= 2 && rcpt[0] == '<' && rcpt[len - 1] == '>';
	if (!bracketed)
		append_escaped(buf, size, o, "<", 1);
	append_escaped(buf, size, o, rcpt, CM_REPLY_RCPT_MAX);
	if (!bracketed || buf[*o - 1] != '>')
		append_escaped(buf, size, o, ">", 1);
}

static void
set_codes(cm_reply *out, sfsistat stat, const char *rcode, const char *xcode)
{
	out->stat = stat;
	out->rcode = rcode;
	out->xcode = xcode;
}

/*
 * Every reply: [<rcpt>] HEAD [type TAIL [reason ")"]].  A row with no
 * code has no text (CONTINUE, ACCEPT).
 */
static const struct reply_row {
	cm_reply_kind kind;
	sfsistat stat;
	const char *rcode, *xcode;
	bool rcpt;		/* starts with the recipient */
	const char *head;
	const char *tail;	/* non-NULL: HEAD, the type, TAIL */
	bool reason;		/* the reason follows TAIL, then ")" */
} reply_rows[] = {
	{ CM_REPLY_CONTINUE, SMFIS_CONTINUE, NULL, NULL, false, "", NULL,
	  false },
	{ CM_REPLY_ACCEPT, SMFIS_ACCEPT, NULL, NULL, false, "", NULL, false },
	{ CM_REPLY_RCPT_DENY, SMFIS_REJECT, "550", "5.7.1", true,
	  ": no consent for newsletter \"", "\" (", true },
	{ CM_REPLY_RCPT_TEMPFAIL, SMFIS_TEMPFAIL, "451", "4.3.0", true,
	  ": consent check failed, try again later", NULL, false },
	{ CM_REPLY_RCPT_ERROR_REJECT, SMFIS_REJECT, "550", "5.7.1", true,
	  ": consent check failed", NULL, false },
	{ CM_REPLY_RCPT_TOO_MANY, SMFIS_TEMPFAIL, "452", "4.5.3", false,
	  "Too many recipients for the consent check", NULL, false },
	{ CM_REPLY_MSG_TEMPFAIL, SMFIS_TEMPFAIL, "451", "4.3.0", false,
	  "Consent check failed, try again later", NULL, false },
	{ CM_REPLY_MSG_ERROR_REJECT, SMFIS_REJECT, "550", "5.7.1", false,
	  "Consent check failed", NULL, false },
	{ CM_REPLY_MSG_NO_RCPT, SMFIS_REJECT, "550", "5.7.1", false,
	  "No recipient has consent for newsletter \"", "\"", false },
	{ CM_REPLY_MSG_UNCLASSIFIED, SMFIS_REJECT, "550", "5.7.1", false,
	  "Bulk mail that matches no known newsletter type", NULL, false },
	{ CM_REPLY_MSG_AMBIGUOUS, SMFIS_REJECT, "550", "5.7.1", false,
	  "Message matches several newsletter types \"", "\"", false },
	{ CM_REPLY_MSG_TOO_LARGE, SMFIS_TEMPFAIL, "451", "4.3.0", false,
	  "Headers too large for the consent check, try again later", NULL,
	  false },
	{ CM_REPLY_MAILTO_BAD, SMFIS_REJECT, "550", "5.1.1", true,
	  ": not a valid unsubscribe address", NULL, false },
	{ CM_REPLY_MAILTO_TEMPFAIL, SMFIS_TEMPFAIL, "451", "4.3.0", true,
	  ": unsubscribe address cannot be checked now, try again later",
	  NULL, false },
	{ CM_REPLY_MSG_UNSUB_TEMPFAIL, SMFIS_TEMPFAIL, "451", "4.3.0", false,
	  "Unsubscribe not recorded yet, try again later", NULL, false },
	{ CM_REPLY_MSG_UNSUB_BAD, SMFIS_REJECT, "550", "5.1.1", false,
	  "Not a valid unsubscribe address, nothing recorded", NULL, false },
	{ CM_REPLY_DISCARD, SMFIS_DISCARD, NULL, NULL, false, "", NULL, false },
};

void
cm_reply_build(cm_reply_kind kind, const char *rcpt, const char *type,
    const char *reason, cm_reply *out)
{
	const struct reply_row *r = NULL, *tempfail = NULL;
	char *t = out->text;
	size_t sz = sizeof(out->text), o = 0;

	t[0] = '\0';
	for (size_t i = 0; i < sizeof(reply_rows) / sizeof(reply_rows[0]); i++) {
		if (reply_rows[i].kind == kind)
			r = &reply_rows[i];
		if (reply_rows[i].kind == CM_REPLY_MSG_TEMPFAIL)
			tempfail = &reply_rows[i];
	}
	if (r == NULL)		/* an unknown kind fails closed */
		r = tempfail;
	set_codes(out, r->stat, r->rcode, r->xcode);
	if (r->rcpt)
		append_rcpt(t, sz, &o, rcpt);
	append_escaped(t, sz, &o, r->head, sz);
	if (r->tail == NULL)
		return;
	append_escaped(t, sz, &o, type != NULL ? type : "", CM_REPLY_RCPT_MAX);
	append_escaped(t, sz, &o, r->tail, sz);
	if (!r->reason)
		return;
	append_escaped(t, sz, &o, reason != NULL ? reason : "", 64);
	append_escaped(t, sz, &o, ")", sz);
}

/* cm_reply_hold(): this thread's callback keeps its reply here */
static _Thread_local cm_reply *hold;

void
cm_reply_hold(cm_reply *into)
{
	hold = into;
	if (into != NULL) {
		into->stat = SMFIS_CONTINUE;
		into->rcode = into->xcode = NULL;
		into->text[0] = '\0';
	}
}

sfsistat
cm_reply_replay(SMFICTX *ctx, const cm_reply *r)
{
	if (r->rcode != NULL)
		(void)smfi_setreply(ctx, (char *)r->rcode, (char *)r->xcode,
		    (char *)r->text);
	return r->stat;
}

/* Hand R to the MTA (or keep it: cm_reply_hold); on failure the MTA
 * still gets the right SMFIS_* code and uses its default text for it. */
static sfsistat
reply_set(SMFICTX *ctx, const cm_reply *r)
{
	if (hold != NULL) {
		*hold = *r;
		return r->stat;
	}
	return cm_reply_replay(ctx, r);
}

sfsistat
cm_reply_send(SMFICTX *ctx, cm_reply_kind kind, const char *rcpt,
    const char *type, const char *reason)
{
	cm_reply r;

	cm_reply_build(kind, rcpt, type, reason, &r);
	return reply_set(ctx, &r);
}

void
cm_reply_build_deny(const cm_tmpl *tmpl, const char *const *vals,
    cm_reply *out)
{
	char rcpt[CM_REPLY_RCPT_MAX + 3];

	if (tmpl == NULL) {
		if (vals == NULL) {
			cm_reply_build(CM_REPLY_RCPT_DENY, NULL, NULL, NULL, out);
			return;
		}
		/* the built-in text wants the recipient with its brackets */
		snprintf(rcpt, sizeof(rcpt), "<%s>", vals[CM_TMPL_RCPT] != NULL ?
		    vals[CM_TMPL_RCPT] : "");
		cm_reply_build(CM_REPLY_RCPT_DENY, rcpt, vals[CM_TMPL_TYPE],
		    vals[CM_TMPL_REASON], out);
		return;
	}
	set_codes(out, SMFIS_REJECT, "550", "5.7.1");
	(void)cm_tmpl_expand(tmpl, vals, CM_TMPL_ASCII | CM_TMPL_SETREPLY,
	    out->text, sizeof(out->text), NULL);
}

sfsistat
cm_reply_send_deny(SMFICTX *ctx, const cm_tmpl *tmpl, const char *const *vals)
{
	cm_reply r;

	cm_reply_build_deny(tmpl, vals, &r);
	return reply_set(ctx, &r);
}

cm_reply_kind
cm_reply_for_error(cm_on_error on_error, bool per_rcpt)
{
	switch (on_error) {
	case CM_ONERR_ACCEPT:
		return CM_REPLY_CONTINUE;
	case CM_ONERR_REJECT:
		return per_rcpt ? CM_REPLY_RCPT_ERROR_REJECT :
		    CM_REPLY_MSG_ERROR_REJECT;
	case CM_ONERR_TEMPFAIL:
	default:
		return per_rcpt ? CM_REPLY_RCPT_TEMPFAIL :
		    CM_REPLY_MSG_TEMPFAIL;
	}
}

const char *
cm_reply_on_error_name(cm_on_error on_error)
{
	switch (on_error) {
	case CM_ONERR_ACCEPT:
		return "accept";
	case CM_ONERR_REJECT:
		return "reject";
	case CM_ONERR_TEMPFAIL:
	default:
		return "tempfail";
	}
}

cm_action
cm_reply_action(cm_mode mode, cm_on_error on_error, cm_stage stage,
    cm_fault fault)
{
	bool rcpt = stage == CM_STAGE_RCPT;
	cm_reply_kind pass = stage == CM_STAGE_EOH ? CM_REPLY_ACCEPT :
	    CM_REPLY_CONTINUE;
	cm_action a;

	if (mode == CM_MODE_MONITOR) {
		a.kind = pass;
		a.word = "none";
		return a;
	}
	if (stage == CM_STAGE_RCPT_LATE) {
		a.kind = CM_REPLY_CONTINUE;
		a.word = "noted";
		return a;
	}
	switch (fault) {
	case CM_FAULT_ERROR:
		a.kind = cm_reply_for_error(on_error, rcpt);
		if (a.kind == CM_REPLY_CONTINUE)
			a.kind = pass;
		a.word = cm_reply_on_error_name(on_error);
		return a;
	case CM_FAULT_TOO_MANY_RCPTS:
		a.kind = rcpt ? CM_REPLY_RCPT_TOO_MANY : CM_REPLY_MSG_TEMPFAIL;
		break;
	case CM_FAULT_TOO_MANY_HDRS:
		a.kind = rcpt ? CM_REPLY_RCPT_TEMPFAIL : CM_REPLY_MSG_TOO_LARGE;
		break;
	case CM_FAULT_MTA:
	default:
		a.kind = rcpt ? CM_REPLY_RCPT_TEMPFAIL : CM_REPLY_MSG_TEMPFAIL;
		break;
	}
	a.word = "tempfail";
	return a;
}

bool
cm_reply_passes(const cm_action *a)
{
	return a->kind == CM_REPLY_CONTINUE || a->kind == CM_REPLY_ACCEPT;
}
