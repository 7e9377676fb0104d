/*
 * request.c - what consent-web answers a request (see request.h).
 */
#include "request.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../core/mailreq.h"
#include "../core/timefmt.h"

bool
web_req_body_ok(const web_req *r, cm_token_purpose p)
{
	const char *ct = r->content_type;
	const char *want = p == CM_TOKEN_CONFIRM ? "confirm=yes" :
	    "List-Unsubscribe=One-Click";
	const char *f;
	size_t n = r->len;

	while (n > 0 && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r'))
		n--;
	if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0) {
		const char *name = p == CM_TOKEN_CONFIRM ? "name=\"confirm\"" :
		    "name=\"List-Unsubscribe\"";
		const char *val = p == CM_TOKEN_CONFIRM ? "yes" : "One-Click";
		if (!(f = strstr(r->body, name)) || !(f = strstr(f, "\r\n\r\n")))
			return false;
		return strncmp(f + 4, val, strlen(val)) == 0 &&
		    (f[4 + strlen(val)] == '\r' || f[4 + strlen(val)] == '\0');
	}
	return n == strlen(want) && memcmp(r->body, want, n) == 0;
}

web_verdict
web_req_decide(const web_req *r, const cm_token_ring *ring,
    web_req_reload_fn reload, int64_t now_us, int64_t max_age_us,
    cm_token_purpose *purpose, cm_token *t, cm_status *tokst)
{
	bool post = strcmp(r->method, "POST") == 0;
	const cm_token_ring *newer;
	const char *tok;
	cm_status st;

	*tokst = CM_OK;
	if (r->nheaders > WEB_HEADERS_MAX)
		return WEB_V_HEADERS;
	if (!post && strcmp(r->method, "GET") != 0 &&
	    strcmp(r->method, "HEAD") != 0)
		return WEB_V_METHOD;
	if (strncmp(r->url, "/u/", 3) == 0)
		*purpose = CM_TOKEN_UNSUBSCRIBE;
	else if (strncmp(r->url, "/c/", 3) == 0)
		*purpose = CM_TOKEN_CONFIRM;
	else
		return WEB_V_NOTFOUND;
	tok = r->url + 3;
	st = cm_token_open(ring, tok, strlen(tok), now_us, max_age_us, t);
	if (st == CM_NOTFOUND && reload != NULL &&
	    (newer = reload(ring)) != ring)
		st = cm_token_open(newer, tok, strlen(tok), now_us, max_age_us,
		    t);
	if (st == CM_OK && t->purpose != *purpose)
		st = CM_EINVAL;
	if (st != CM_OK) {
		*tokst = st;
		return WEB_V_TOKEN;
	}
	if (!post)
		return WEB_V_PAGE;
	if (r->too_big)
		return WEB_V_TOOBIG;
	if (!web_req_body_ok(r, *purpose))
		return WEB_V_BODY;
	return WEB_V_RECORD;
}

/* Append " NAME=VALUE" to OUT, VALUE cut to MAX octets of printable
 * ASCII ('"' and '\\' and others replaced by '_'). */
static void
ev_add(char *out, size_t size, const char *name, const char *val,
    size_t max)
{
	size_t n = strlen(out);
	int m;

	if (!val || !*val)
		return;
	m = snprintf(out + n, size - n, "%s%s=\"", n ? " " : "", name);
	if (m < 0 || (size_t)m >= size - n)
		return;
	n += (size_t)m;
	for (size_t i = 0; val[i] && i < max && n + 2 < size; i++) {
		unsigned char c = (unsigned char)val[i];
		out[n++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ?
		    (char)c : '_';
	}
	if (n + 1 < size)
		out[n++] = '"';
	out[n] = '\0';
}

/* The client address as the trusted proxy gives it: the last entry of
 * the header value V (the one the proxy appended), trimmed. */
static void
client_addr(const char *v, char *out, size_t size)
{
	const char *last;
	size_t n;

	out[0] = '\0';
	if (!v)
		return;
	last = strrchr(v, ',');
	last = last ? last + 1 : v;
	while (*last == ' ' || *last == '\t')
		last++;
	n = strcspn(last, " \t");
	if (n >= size)
		n = size - 1;
	for (size_t i = 0; i < n; i++) {
		char c = last[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F') || c == '.' || c == ':'))
			return;		/* not an address: record none */
	}
	memcpy(out, last, n);
	out[n] = '\0';
}

void
web_req_evidence(const cm_token *t, const char *client_hdr,
    const char *user_agent, char *out, size_t size)
{
	char ip[64], when[40];

	if (size == 0)
		return;
	out[0] = '\0';
	ev_add(out, size, "token-issued", cm_time_format(t->issued_us, when),
	    40);
	client_addr(client_hdr, ip, sizeof ip);
	ev_add(out, size, "client", ip, 63);
	ev_add(out, size, "user-agent", user_agent, 200);
}

web_mverdict
web_mailto_decide(const char *line, size_t len, const cm_token_ring *ring,
    web_req_reload_fn reload, int64_t now_us, int64_t max_age_us,
    cm_token *t, cm_status *tokst, char *evidence, size_t size)
{
	const cm_token_ring *newer;
	cm_mailreq r;
	char when[40];
	cm_status st;

	if (size > 0)
		evidence[0] = '\0';
	if ((st = cm_mailreq_parse(line, len, &r)) != CM_OK) {
		*tokst = st;
		return WEB_M_BAD;
	}
	st = cm_token_open(ring, r.token, strlen(r.token), now_us, max_age_us,
	    t);
	if (st == CM_NOTFOUND && reload != NULL &&
	    (newer = reload(ring)) != ring)
		st = cm_token_open(newer, r.token, strlen(r.token), now_us,
		    max_age_us, t);
	if (st == CM_OK && t->purpose != CM_TOKEN_UNSUBSCRIBE)
		st = CM_EINVAL;
	*tokst = st;
	if (st != CM_OK)
		return WEB_M_TOKEN;
	if (size > 0) {
		ev_add(evidence, size, "token-issued",
		    cm_time_format(t->issued_us, when), 40);
		ev_add(evidence, size, "sender", r.sender,
		    CM_MAILREQ_SENDER_MAX);
		ev_add(evidence, size, "client", r.client,
		    CM_MAILREQ_CLIENT_MAX);
		ev_add(evidence, size, "message-id", r.msgid, 200);
	}
	return WEB_M_RECORD;
}
