/*
 * fuzz_mailto.c - libFuzzer target for the mailto unsubscribe requests
 * consent-web reads on its internal socket (core/mailreq.h,
 * web_mailto_decide in web/request.h), without sockets.
 *
 * The input is a request line as the socket delivers it; "@U@", "@C@"
 * and "@N@" stand for a valid unsubscribe token, a confirm token and a
 * token of a key only the reloaded ring has, so that the fuzzer reaches
 * the recording path.  The verdict must agree with the line and the
 * token; the evidence must be bounded printable ASCII.  An input that
 * starts with "FMT" is split at NULs into token, sender, client and
 * Message-ID for cm_mailreq_format instead: whatever it builds must
 * parse back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mailreq.h"
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

/* DATA with the placeholders replaced, into OUT (OUTSZ octets); the
 * length. */
static size_t
expand(const uint8_t *d, size_t n, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o < outsz; ) {
		const char *tok = NULL;
		if (i + 2 < n && d[i] == '@' && d[i + 2] == '@')
			tok = d[i + 1] == 'U' ? tok_u : d[i + 1] == 'C' ? tok_c :
			    d[i + 1] == 'N' ? tok_n : NULL;
		if (tok && o + strlen(tok) <= outsz) {
			memcpy(out + o, tok, strlen(tok));
			o += strlen(tok);
			i += 3;
		} else {
			out[o++] = (char)d[i++];
		}
	}
	return o;
}

static void
check_evidence(const char *ev, size_t size)
{
	size_t n = strlen(ev);

	CHECK(n < size);
	for (size_t i = 0; i < n; i++)
		CHECK(ev[i] >= 0x20 && ev[i] < 0x7f && ev[i] != '\\');
}

/* FMT: fields separated by NULs through the formatter and back. */
static void
format_roundtrip(const uint8_t *d, size_t n)
{
	char *f[4] = { NULL }, *buf, line[CM_MAILREQ_LINE_MAX + 1];
	size_t nf = 0, len;
	cm_mailreq r;

	if (!(buf = malloc(n + 1)))
		abort();
	memcpy(buf, d, n);
	buf[n] = '\0';
	for (char *p = buf; nf < 4; nf++) {
		f[nf] = p;
		p += strlen(p);
		if (p >= buf + n)
			break;
		p++;
	}
	len = cm_mailreq_format(f[0], strlen(f[0]), f[1], f[2], f[3], line,
	    sizeof line);
	if (len > 0) {
		CHECK(len == strlen(line) && line[len - 1] == '\n');
		CHECK(cm_mailreq_parse(line, len, &r) == CM_OK ||
		    /* a client that is not an address is refused */
		    (f[2] && *f[2] && strspn(f[2], "0123456789abcdefABCDEF.:")
		    != strlen(f[2])));
	}
	/* short buffers: never more than they hold */
	len = cm_mailreq_format(f[0], strlen(f[0]), f[1], f[2], f[3], line,
	    1 + n % 64);
	CHECK(len < 1 + n % 64);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[CM_MAILREQ_LINE_MAX * 2], ev[CM_FIELD_MAX];
	cm_status st;
	cm_token t;
	size_t n;

	setup();
	if (size >= 3 && memcmp(data, "FMT", 3) == 0) {
		format_roundtrip(data + 3, size - 3);
		return 0;
	}
	n = expand(data, size, line, sizeof line);
	switch (web_mailto_decide(line, n, ring, reload, NOW, MAX_AGE, &t, &st,
	    ev, sizeof ev)) {
	case WEB_M_BAD:
		CHECK(st == CM_EINVAL || st == CM_ETOOLONG);
		CHECK(st != CM_ETOOLONG || n > CM_MAILREQ_LINE_MAX);
		break;
	case WEB_M_TOKEN:
		CHECK(st != CM_OK);
		CHECK(n >= 7 && memcmp(line, "MAILTO ", 7) == 0);
		break;
	case WEB_M_RECORD:
		CHECK(st == CM_OK && t.purpose == CM_TOKEN_UNSUBSCRIBE);
		CHECK(strcmp(t.type, "news") == 0 || strcmp(t.type, "offers") == 0);
		CHECK(n >= 7 && memcmp(line, "MAILTO ", 7) == 0);
		check_evidence(ev, sizeof ev);
		CHECK(strncmp(ev, "token-issued=\"", 14) == 0);
		CHECK(strstr(ev, " sender=\"<") != NULL);
		/* into short buffers */
		(void)web_mailto_decide(line, n, ring, reload, NOW, MAX_AGE,
		    &t, &st, ev, 1 + size % 64);
		check_evidence(ev, 1 + size % 64);
		break;
	default:
		abort();
	}
	return 0;
}
