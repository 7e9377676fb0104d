/*
 * mailto.c - mailto unsubscribe (see mailto.h).
 */
#include "mailto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../config/links.h"
#include "../core/mailreq.h"
#include "../core/token.h"
#include "log.h"
#include "reply.h"
#include "unsub.h"

/* A recipient as the MTA sent it, for smfi_delrcpt: local part, '+',
 * token, '@', domain, brackets. */
#define RAW_MAX (32 + 1 + CM_TOKEN_TEXT_MAX + 1 + 253 + 8)

struct cm_mailto {
	size_t n;
	struct {
		char raw[RAW_MAX];
		char token[CM_TOKEN_TEXT_MAX];
		char type[CM_TYPE_ID_MAX + 1];
		char addr[CM_ADDR_KEY_MAX];
	} r[CM_MAILTO_MAX];
	char msgid[CM_MAILREQ_MSGID_MAX + 1];
	/* non-SMTP: what RCPT could not refuse, refused at EOM */
	bool late_bad, late_tempfail;
};

bool
cm_mailto_wanted(const cm_policy *p)
{
	return p != NULL && cm_links_mailto_enabled(cm_policy_links(p));
}

static const char *
why(cm_status st)
{
	switch (st) {
	case CM_ESTALE:
		return "expired token";
	case CM_EFUTURE:
		return "token issued in the future";
	case CM_NOTFOUND:
		return "token of an unknown key";
	case CM_OK:
		return "not an unsubscribe token";
	default:
		return "invalid token";
	}
}

/* Keep a note in *MP (created if needed) for end of data: a bad token
 * (BAD) or one that cannot be checked now.  False on out of memory. */
static bool
late_note(cm_mailto **mp, bool bad)
{
	if (*mp == NULL && (*mp = calloc(1, sizeof **mp)) == NULL)
		return false;
	if (bad)
		(*mp)->late_bad = true;
	else
		(*mp)->late_tempfail = true;
	return true;
}

/* RCPT cannot take recipient RAW now (KIND: CM_REPLY_MAILTO_BAD, or a
 * tempfail).  Refused here, or with LATE (non-SMTP) noted for end of
 * data. */
static sfsistat
rcpt_refuse(SMFICTX *ctx, cm_mailto **mp, bool late, cm_reply_kind kind,
    const char *raw)
{
	if (!late)
		return cm_reply_send(ctx, kind, raw, NULL, NULL);
	if (late_note(mp, kind == CM_REPLY_MAILTO_BAD))
		return SMFIS_CONTINUE;
	cm_log(LOG_ERR, "RCPT: out of memory keeping a mailto unsubscribe; "
	    "action=tempfail");
	return SMFIS_TEMPFAIL;
}

bool
cm_mailto_rcpt(SMFICTX *ctx, const cm_policy *p, cm_mailto **mp,
    const char *raw, bool late, const char *qid, sfsistat *r)
{
	char tok[CM_TOKEN_TEXT_MAX];
	size_t toklen, len = strlen(raw);
	char q[80], rc[400];
	const char *when = late ? " at end of data" : "";
	cm_mailto *m;
	cm_status st;
	cm_token t;

	if (!cm_links_mailto_match(cm_policy_links(p), raw, len, tok,
	    sizeof tok, &toklen))
		return false;
	cm_log_clean(qid, q, sizeof q);
	cm_log_clean(raw, rc, sizeof rc);
	st = toklen > 0 && toklen < sizeof tok ?
	    cm_unsub_open(p, tok, toklen, &t) : CM_EINVAL;
	if (st == CM_EIO) {
		cm_log(LOG_ERR, "queue_id=%s rcpt=%s: mailto unsubscribe: the "
		    "link keys cannot be loaded; action=tempfail%s", q, rc,
		    when);
		*r = rcpt_refuse(ctx, mp, late, CM_REPLY_MAILTO_TEMPFAIL, raw);
		return true;
	}
	if (st != CM_OK || t.purpose != CM_TOKEN_UNSUBSCRIBE) {
		cm_log(LOG_NOTICE, "queue_id=%s rcpt=%s: mailto unsubscribe: "
		    "%s; action=reject%s", q, rc, why(st), when);
		*r = rcpt_refuse(ctx, mp, late, CM_REPLY_MAILTO_BAD, raw);
		return true;
	}
	m = *mp;
	if (len >= RAW_MAX || (m != NULL && m->n >= CM_MAILTO_MAX)) {
		cm_log(LOG_WARNING, "queue_id=%s: more than %d mailto "
		    "unsubscribes in one message; action=tempfail%s", q,
		    CM_MAILTO_MAX, when);
		*r = rcpt_refuse(ctx, mp, late, CM_REPLY_RCPT_TOO_MANY, raw);
		return true;
	}
	if (m == NULL && (m = *mp = calloc(1, sizeof *m)) == NULL) {
		cm_log(LOG_ERR, "RCPT: out of memory keeping a mailto "
		    "unsubscribe; action=tempfail");
		*r = late ? SMFIS_TEMPFAIL : cm_reply_send(ctx,
		    CM_REPLY_MAILTO_TEMPFAIL, raw, NULL, NULL);
		return true;
	}
	memcpy(m->r[m->n].raw, raw, len + 1);
	memcpy(m->r[m->n].token, tok, toklen);
	m->r[m->n].token[toklen] = '\0';
	snprintf(m->r[m->n].type, sizeof m->r[m->n].type, "%s", t.type);
	snprintf(m->r[m->n].addr, sizeof m->r[m->n].addr, "%s", t.addr);
	m->n++;
	*r = SMFIS_CONTINUE;
	return true;
}

void
cm_mailto_header(cm_mailto *m, const char *name, const char *value)
{
	if (m == NULL || m->msgid[0] != '\0' || name == NULL || value == NULL ||
	    strcasecmp(name, "Message-ID") != 0)
		return;
	/* folded after the colon: "Message-ID:" CRLF WSP "<id>" */
	value += strspn(value, " \t\r\n");
	snprintf(m->msgid, sizeof m->msgid, "%s", value);
	/* one token: up to the first white space */
	m->msgid[strcspn(m->msgid, " \t\r\n")] = '\0';
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

sfsistat
cm_mailto_record(SMFICTX *ctx, const cm_policy *p, cm_mailto *m,
    const char *sender, const struct sockaddr *client, const char *qid)
{
	const cm_links *l = cm_policy_links(p);
	int64_t deadline = mono_ms() + l->timeout / 1000;
	char ip[INET6_ADDRSTRLEN] = "", line[CM_MAILREQ_LINE_MAX + 1];
	char reply[CM_MAILREQ_REPLY_MAX], q[80], a[CM_ADDR_KEY_MAX * 3];

	cm_log_clean(qid, q, sizeof q);
	if (client != NULL && client->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)client)->
		    sin_addr, ip, sizeof ip);
	else if (client != NULL && client->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)client)->
		    sin6_addr, ip, sizeof ip);
	for (size_t i = 0; m != NULL && i < m->n; i++) {
		int64_t left = deadline - mono_ms();
		size_t len = cm_mailreq_format(m->r[i].token,
		    strlen(m->r[i].token), sender, ip, m->msgid, line,
		    sizeof line);
		int code = -1;

		if (len == 0)
			snprintf(reply, sizeof reply, "cannot build the request");
		else if (left <= 0)
			snprintf(reply, sizeof reply, "no time left");
		else
			code = cm_mailreq_call(l->mailto_socket, (unsigned)left,
			    line, len, reply, sizeof reply);
		/* the address a token hides stays out of the log when
		 * addresses are hashed (log.hash_recipients) */
		if (cm_policy_log_hash_recipients(p))
			snprintf(a, sizeof a, "-");
		else
			cm_log_clean(m->r[i].addr, a, sizeof a);
		if (code >= 500 && code <= 599) {
			/* consent-web refuses it for good (a token it does
			 * not accept, a request it cannot read): a retry
			 * would not change that */
			cm_log(LOG_ERR, "queue_id=%s type=%s rcpt=%s: mailto "
			    "unsubscribe refused by consent-web %s: %s; "
			    "action=reject", q, m->r[i].type, a,
			    l->mailto_socket, reply);
			return cm_reply_send(ctx, CM_REPLY_MSG_UNSUB_BAD,
			    NULL, NULL, NULL);
		}
		if (code != 250) {
			cm_log(LOG_ERR, "queue_id=%s type=%s rcpt=%s: mailto "
			    "unsubscribe not recorded: consent-web %s: %s; "
			    "action=tempfail", q, m->r[i].type, a,
			    l->mailto_socket, reply);
			return cm_reply_send(ctx, CM_REPLY_MSG_UNSUB_TEMPFAIL,
			    NULL, NULL, NULL);
		}
		cm_log(LOG_INFO, "queue_id=%s type=%s rcpt=%s: mailto "
		    "unsubscribe recorded (consent-web: %s)", q, m->r[i].type,
		    a, reply);
	}
	/* non-SMTP: the token recipients RCPT could not refuse */
	if (m != NULL && m->late_tempfail)
		return cm_reply_send(ctx, CM_REPLY_MSG_UNSUB_TEMPFAIL, NULL,
		    NULL, NULL);
	if (m != NULL && m->late_bad)
		return cm_reply_send(ctx, CM_REPLY_MSG_UNSUB_BAD, NULL, NULL,
		    NULL);
	return SMFIS_CONTINUE;
}

sfsistat
cm_mailto_finish(SMFICTX *ctx, const cm_policy *p, cm_mailto *m,
    size_t others, bool can_del, bool can_add, const char *qid)
{
	const char *to = cm_policy_links(p)->mailto_deliver_to;
	char q[80], box[300];

	if (m == NULL || m->n == 0)
		return SMFIS_CONTINUE;
	cm_log_clean(qid, q, sizeof q);
	if (to != NULL && (!can_add ||
	    (snprintf(box, sizeof box, "<%s>", to),
	    smfi_addrcpt(ctx, box) != MI_SUCCESS))) {
		cm_log(LOG_ERR, "queue_id=%s: cannot deliver the mailto "
		    "unsubscribe to %s (%s)", q, to, can_add ? "the MTA "
		    "refused the recipient" : "adding recipients not "
		    "negotiated");
		to = NULL;
	}
	if (to == NULL && others == 0) {
		cm_log(LOG_INFO, "queue_id=%s: mailto unsubscribe message "
		    "discarded", q);
		return cm_reply_send(ctx, CM_REPLY_DISCARD, NULL, NULL, NULL);
	}
	for (size_t i = 0; i < m->n; i++) {
		if (!can_del || smfi_delrcpt(ctx, m->r[i].raw) != MI_SUCCESS) {
			cm_log(LOG_ERR, "queue_id=%s: cannot remove a mailto "
			    "unsubscribe recipient (%s); it stays", q, can_del ?
			    "the MTA refused" : "not negotiated");
			break;
		}
	}
	if (to != NULL)
		cm_log(LOG_INFO, "queue_id=%s: mailto unsubscribe message "
		    "delivered to %s", q, to);
	return SMFIS_CONTINUE;
}

void
cm_mailto_free(cm_mailto *m)
{
	free(m);
}
