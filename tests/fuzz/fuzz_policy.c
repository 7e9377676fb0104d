/*
 * fuzz_policy.c - libFuzzer target for consent-policy's request parser
 * (policyd/request.h), without sockets.
 *
 * The first input octet chooses a chunk size (1..256), the rest is the
 * byte stream of one connection.  The stream is parsed twice: whole and
 * in chunks of that size, as recv() may deliver it.  Both must see the
 * same sequence of requests (attribute count, and every attribute's
 * value found again by name) and stop at the same refusal; every name
 * must be lower-case ASCII, digits, '_' or '-', no value may hold a NUL
 * or LF, and the bounds of request.h must hold.
 *
 * request.c is compiled in directly (tests/fuzz/run.sh archives only
 * core/ and config/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../policyd/request.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)
#define MAXREQ 64

/* What one pass saw: per request a hash of its attributes. */
struct seen {
	size_t n;
	uint64_t h[MAXREQ];
	int end;		/* the last rc: MORE (stream ended) or BAD */
	const char *why;
};

static uint64_t
mix(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (h ^ 0xff) * 1099511628211ULL;
}

static uint64_t
check_request(const cm_pdreq *r)
{
	uint64_t h = 1469598103934665603ULL;

	CHECK(r->nattrs <= CM_PDREQ_ATTRS_MAX);
	CHECK(r->len < CM_PDREQ_SIZE_MAX);
	for (size_t i = 0; i < r->nattrs; i++) {
		const char *name = r->buf + r->name_off[i];
		const char *value = r->buf + r->value_off[i];

		CHECK(*name != '\0');
		for (const char *c = name; *c != '\0'; c++)
			CHECK((*c >= 'a' && *c <= 'z') ||
			    (*c >= '0' && *c <= '9') || *c == '_' || *c == '-');
		CHECK(strchr(value, '\n') == NULL);
		CHECK(strlen(name) + 1 + strlen(value) <= CM_PDREQ_LINE_MAX);
		/* names are unique: get() finds this very value */
		CHECK(cm_pdreq_get(r, name) == value);
		h = mix(mix(h, name), value);
	}
	return mix(h, "") + cm_pdreq_count(r);
}

static void
run(const char *in, size_t len, size_t step, struct seen *s)
{
	cm_pdreq *r = cm_pdreq_new();
	size_t off = 0, end = 0;
	cm_pdreq_rc rc = CM_PDREQ_MORE;

	CHECK(r != NULL);
	memset(s, 0, sizeof(*s));
	while (off < len) {
		size_t used = 0;

		if (end <= off)
			end = len - off > step ? off + step : len;
		rc = cm_pdreq_feed(r, in + off, end - off, &used);
		if (rc == CM_PDREQ_MORE) {
			off = end;
			continue;
		}
		if (rc == CM_PDREQ_BAD) {
			s->why = cm_pdreq_error(r);
			CHECK(s->why != NULL && *s->why != '\0');
			break;
		}
		CHECK(used >= 1 && used <= end - off);
		CHECK(in[off + used - 1] == '\n');
		if (s->n < MAXREQ)
			s->h[s->n] = check_request(r);
		s->n++;
		off += used;
		cm_pdreq_reset(r);
	}
	s->end = (int)rc;
	cm_pdreq_free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen whole, split;
	size_t step;

	if (size < 1)
		return 0;
	step = (size_t)data[0] + 1;
	run((const char *)data + 1, size - 1, size, &whole);
	run((const char *)data + 1, size - 1, step, &split);
	CHECK(whole.n == split.n);
	CHECK(whole.end == split.end);
	for (size_t i = 0; i < whole.n && i < MAXREQ; i++)
		CHECK(whole.h[i] == split.h[i]);
	if (whole.end == CM_PDREQ_BAD)
		CHECK(strcmp(whole.why, split.why) == 0);
	return 0;
}
