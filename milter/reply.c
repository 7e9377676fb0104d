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

void
cm_reply_build(cm_reply_kind kind, const char *rcpt, const char *type,
    const char *reason, cm_reply *out)
{
	char *t = out->text;
	size_t sz = sizeof(out->text), o = 0;

	t[0] = '\0';
	if (type == NULL)
		type = "";
	if (reason == NULL)
		reason = "";
	switch (kind) {
	case CM_REPLY_RCPT_DENY:
		set_codes(out, SMFIS_REJECT, "550", "5.7.1");
		append_rcpt(t, sz, &o, rcpt);
		append_escaped(t, sz, &o, ": no consent for newsletter \"", sz);
		append_escaped(t, sz, &o, type, CM_REPLY_RCPT_MAX);
		append_escaped(t, sz, &o, "\" (", sz);
		append_escaped(t, sz, &o, reason, 64);
		append_escaped(t, sz, &o, ")", sz);
		break;
	case CM_REPLY_RCPT_TEMPFAIL:
		set_codes(out, SMFIS_TEMPFAIL, "451", "4.3.0");
		append_rcpt(t, sz, &o, rcpt);
		append_escaped(t, sz, &o,
		    ": consent check failed, try again later", sz);
		break;
	case CM_REPLY_RCPT_ERROR_REJECT:
		set_codes(out, SMFIS_REJECT, "550", "5.7.1");
		append_rcpt(t, sz, &o, rcpt);
		append_escaped(t, sz, &o, ": consent check failed", sz);
		break;
	case CM_REPLY_RCPT_TOO_MANY:
		set_codes(out, SMFIS_TEMPFAIL, "452", "4.5.3");
		append_escaped(t, sz, &o,
		    "Too many recipients for the consent check", sz);
		break;
	case CM_REPLY_MSG_TEMPFAIL:
		set_codes(out, SMFIS_TEMPFAIL, "451", "4.3.0");
		append_escaped(t, sz, &o,
		    "Consent check failed, try again later", sz);
		break;
	case CM_REPLY_MSG_ERROR_REJECT:
		set_codes(out, SMFIS_REJECT, "550", "5.7.1");
		append_escaped(t, sz, &o, "Consent check failed", sz);
		break;
	case CM_REPLY_MSG_NO_RCPT:
		set_codes(out, SMFIS_REJECT, "550", "5.7.1");
		append_escaped(t, sz, &o,
		    "No recipient has consent for newsletter \"", sz);
		append_escaped(t, sz, &o, type, CM_REPLY_RCPT_MAX);
		append_escaped(t, sz, &o, "\"", sz);
		break;
	case CM_REPLY_MSG_AMBIGUOUS:
		set_codes(out, SMFIS_REJECT, "550", "5.7.1");
		append_escaped(t, sz, &o,
		    "Message matches several newsletter types \"", sz);
		append_escaped(t, sz, &o, type, CM_REPLY_RCPT_MAX);
		append_escaped(t, sz, &o, "\"", sz);
		break;
	case CM_REPLY_MSG_UNCLASSIFIED:
		set_codes(out, SMFIS_REJECT, "550", "5.7.1");
		append_escaped(t, sz, &o,
		    "Bulk mail that matches no known newsletter type", sz);
		break;
	case CM_REPLY_MSG_TOO_LARGE:
		set_codes(out, SMFIS_TEMPFAIL, "451", "4.3.0");
		append_escaped(t, sz, &o,
		    "Headers too large for the consent check, try again later",
		    sz);
		break;
	case CM_REPLY_ACCEPT:
		set_codes(out, SMFIS_ACCEPT, NULL, NULL);
		break;
	case CM_REPLY_CONTINUE:
	default:
		set_codes(out, SMFIS_CONTINUE, NULL, NULL);
		break;
	}
}

sfsistat
cm_reply_send(SMFICTX *ctx, cm_reply_kind kind, const char *rcpt,
    const char *type, const char *reason)
{
	cm_reply r;

	cm_reply_build(kind, rcpt, type, reason, &r);
	if (r.rcode != NULL) {
		/* On failure the MTA still gets the right SMFIS_* code and
		 * uses its default text for it. */
		(void)smfi_setreply(ctx, (char *)r.rcode, (char *)r.xcode,
		    r.text);
	}
	return r.stat;
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
	(void)smfi_setreply(ctx, (char *)r.rcode, (char *)r.xcode, r.text);
	return r.stat;
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
