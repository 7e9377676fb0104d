/*
 * fuzz_web.c - libFuzzer target for consent-web's request handling
 * (web/request.h), without sockets.
 *
 * The input is a raw HTTP/1.1 request: request line, header fields,
 * empty line, body.  It is split the way the HTTP library hands it to
 * the handler (method, path, header count, Content-Type, User-Agent,
 * X-Forwarded-For, body cut at WEB_BODY_MAX) and decided under a test
 * ring; an accepted request also gets its evidence built.  In the path,
 * "@U@" and "@C@" stand for a valid unsubscribe and confirm token and
 * "@N@" for one of a key only the reloaded ring has, so that the fuzzer
 * reaches the body checks.  The verdict must agree with what the
 * request holds; the evidence must be bounded printable ASCII.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/token.h"
#include "web/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)
#define NOW (29483520LL * 60 * 1000000)
#define MAX_AGE (30LL * 86400 * 1000000)

static cm_token_ring *ring, *ring2;
static char tok_u[CM_TOKEN_TEXT_MAX], tok_c[CM_TOKEN_TEXT_MAX],
    tok_n[CM_TOKEN_TEXT_MAX];

static const cm_token_ring *
reload(const cm_token_ring *old)
{
	return old == ring ? ring2 : old;
}

static void
setup(void)
{
	unsigned char k[CM_TOKEN_KEY_LEN];
	cm_token_ring *only5;

	if (ring)
		return;
	memset(k, 0x11, sizeof k);
	CHECK(cm_token_ring_new(&ring) == CM_OK);
	CHECK(cm_token_ring_add(ring, 0, k) == CM_OK);
	CHECK(cm_token_ring_new(&ring2) == CM_OK);
	CHECK(cm_token_ring_add(ring2, 0, k) == CM_OK);
	memset(k, 0x55, sizeof k);
	CHECK(cm_token_ring_add(ring2, 5, k) == CM_OK);
	CHECK(cm_token_ring_new(&only5) == CM_OK);
	CHECK(cm_token_ring_add(only5, 5, k) == CM_OK);
	CHECK(cm_token_seal(ring, CM_TOKEN_UNSUBSCRIBE, "bob@example.com",
	    "news", NOW - 60000000, tok_u, sizeof tok_u) == CM_OK);
	CHECK(cm_token_seal(ring, CM_TOKEN_CONFIRM, "bob@example.com",
	    "news", NOW - 60000000, tok_c, sizeof tok_c) == CM_OK);
	CHECK(cm_token_seal(only5, CM_TOKEN_UNSUBSCRIBE, "eve@example.org",
	    "offers", NOW, tok_n, sizeof tok_n) == CM_OK);
	cm_token_ring_free(only5);
}

/* The line at *P (up to CRLF or LF) into its own NUL-terminated copy;
 * NULL at the end of the input. */
static char *
take_line(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *s = *p, *nl;
	size_t n;
	char *line;

	if (s >= end)
		return NULL;
	nl = memchr(s, '\n', (size_t)(end - s));
	n = nl ? (size_t)(nl - s) : (size_t)(end - s);
	*p = nl ? nl + 1 : end;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (!(line = malloc(n + 1)))
		abort();
	memcpy(line, s, n);
	line[n] = '\0';
	return line;
}

/* URL with the placeholders replaced (into OUT, OUTSZ octets). */
static void
expand(const char *url, char *out, size_t outsz)
{
	size_t n = 0;

	while (*url && n + 1 < outsz) {
		const char *tok = NULL;
		if (url[0] == '@' && url[1] && url[2] == '@')
			tok = url[1] == 'U' ? tok_u : url[1] == 'C' ? tok_c :
			    url[1] == 'N' ? tok_n : NULL;
		if (tok && n + strlen(tok) + 1 < outsz) {
			memcpy(out + n, tok, strlen(tok));
			n += strlen(tok);
			url += 3;
		} else {
			out[n++] = *url++;
		}
	}
	out[n] = '\0';
}

static void
check_evidence(const char *ev, size_t size)
{
	size_t n = strlen(ev);

	CHECK(n < size);
	for (size_t i = 0; i < n; i++)
		CHECK(ev[i] >= 0x20 && ev[i] < 0x7f && ev[i] != '\\');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char *line, *hdr[WEB_HEADERS_MAX + 8], *sp, *url;
	char *ct = NULL, *ua = NULL, *xff = NULL;
	char path[4096], body[WEB_BODY_MAX + 1], ev[CM_FIELD_MAX];
	unsigned nh = 0, more = 0;
	web_req r = { 0 };
	cm_token_purpose purpose;
	web_verdict v;
	cm_token t;
	cm_status st;
	size_t blen;

	setup();
	if (!(line = take_line(&p, end)))
		return 0;
	/* request line: METHOD SP PATH [SP VERSION] */
	if (!(sp = strchr(line, ' '))) {
		free(line);
		return 0;
	}
	*sp = '\0';
	url = sp + 1;
	if ((sp = strchr(url, ' ')))
		*sp = '\0';
	expand(url, path, sizeof path);
	/* header fields up to the empty line */
	for (char *h; (h = take_line(&p, end)) != NULL; ) {
		char *colon, *v;
		if (*h == '\0') {
			free(h);
			break;
		}
		if (!(colon = strchr(h, ':')) || nh >= sizeof hdr / sizeof hdr[0]) {
			more += colon != NULL;
			free(h);
			continue;
		}
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		hdr[nh++] = h;
		if (strcasecmp(h, "Content-Type") == 0 && !ct)
			ct = v;
		else if (strcasecmp(h, "User-Agent") == 0 && !ua)
			ua = v;
		else if (strcasecmp(h, "X-Forwarded-For") == 0 && !xff)
			xff = v;
	}
	blen = (size_t)(end - p);
	r.method = line;
	r.url = path;
	r.content_type = ct;
	r.nheaders = nh + more;
	r.too_big = blen > WEB_BODY_MAX;
	r.len = r.too_big ? 0 : blen;
	memcpy(body, p, r.len);
	body[r.len] = '\0';
	r.body = body;

	v = web_req_decide(&r, ring, reload, NOW, MAX_AGE, &purpose, &t, &st);
	switch (v) {
	case WEB_V_HEADERS:
		CHECK(r.nheaders > WEB_HEADERS_MAX);
		break;
	case WEB_V_METHOD:
		CHECK(strcmp(line, "GET") && strcmp(line, "HEAD") &&
		    strcmp(line, "POST"));
		break;
	case WEB_V_NOTFOUND:
		CHECK(strncmp(path, "/u/", 3) && strncmp(path, "/c/", 3));
		break;
	case WEB_V_TOKEN:
		CHECK(st != CM_OK);
		break;
	case WEB_V_PAGE:
	case WEB_V_TOOBIG:
	case WEB_V_BODY:
	case WEB_V_RECORD:
		CHECK(st == CM_OK && t.purpose == purpose);
		CHECK(strcmp(t.type, "news") == 0 || strcmp(t.type, "offers") == 0);
		CHECK(v != WEB_V_PAGE || strcmp(line, "POST") != 0);
		CHECK(v == WEB_V_PAGE || strcmp(line, "POST") == 0);
		CHECK(v != WEB_V_TOOBIG || r.too_big);
		CHECK(v != WEB_V_RECORD || web_req_body_ok(&r, purpose));
		/* the evidence, also into short buffers */
		web_req_evidence(&t, xff, ua, ev, sizeof ev);
		check_evidence(ev, sizeof ev);
		CHECK(strncmp(ev, "token-issued=\"", 14) == 0);
		web_req_evidence(&t, xff, ua, ev, 1 + size % 64);
		check_evidence(ev, 1 + size % 64);
		break;
	default:
		abort();
	}
	for (unsigned i = 0; i < nh; i++)
		free(hdr[i]);
	free(line);
	return 0;
}
