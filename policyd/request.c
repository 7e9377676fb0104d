/*
 * request.c - the bounded policy-delegation request parser (request.h).
 */
#include "request.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The names' hash table: open addressing, at most half full. */
#define SLOTS 256
#if CM_PDREQ_ATTRS_MAX * 2 > SLOTS || CM_PDREQ_ATTRS_MAX > 255
#error "SLOTS too small for CM_PDREQ_ATTRS_MAX"
#endif

struct cm_pdreq {
	size_t len;		/* octets in buf */
	size_t line_start;	/* offset of the line being read */
	size_t nattrs;
	bool done, bad;
	const char *error;
	size_t name_off[CM_PDREQ_ATTRS_MAX];
	size_t name_len[CM_PDREQ_ATTRS_MAX];
	size_t value_off[CM_PDREQ_ATTRS_MAX];
	uint8_t slot[SLOTS];	/* attribute index + 1 by name hash; 0 free */
	char buf[CM_PDREQ_SIZE_MAX];
};

/*
 * The hash of the name S (LEN octets): its first and last eight octets
 * (fewer for a short name) and its length, mixed by one multiplication;
 * a few instructions a name, whatever its length (on every request's
 * path: some thirty names a request; inlined, as a call cost as much as
 * the hash).  A collision only costs a probe.
 */
static inline __attribute__((always_inline)) uint32_t
name_hash(const char *s, size_t len)
{
	uint64_t a = 0, b = 0;

	if (len >= sizeof(a)) {
		memcpy(&a, s, sizeof(a));
		memcpy(&b, s + len - sizeof(b), sizeof(b));
	} else {
		memcpy(&a, s, len);
	}
	a ^= (b << 29 | b >> 35) ^ (uint64_t)len;
	return (uint32_t)((a * UINT64_C(0x9e3779b97f4a7c15)) >> 32);
}

/* The slot of NAME (LEN octets) whose name_hash() is H: the one holding
 * it, or the free one where it would go. */
static size_t
find_slot(const cm_pdreq *r, const char *name, size_t len, uint32_t h)
{
	size_t i = (h ^ h >> 8) & (SLOTS - 1);

	while (r->slot[i] != 0) {
		size_t a = r->slot[i] - 1u;

		if (r->name_len[a] == len &&
		    memcmp(r->buf + r->name_off[a], name, len) == 0)
			break;
		i = (i + 1) & (SLOTS - 1);
	}
	return i;
}

cm_pdreq *
cm_pdreq_new(void)
{
	cm_pdreq *r = malloc(sizeof(*r));

	if (r != NULL)
		cm_pdreq_reset(r);
	return r;
}

void
cm_pdreq_free(cm_pdreq *r)
{
	free(r);
}

void
cm_pdreq_reset(cm_pdreq *r)
{
	r->len = 0;
	r->line_start = 0;
	r->nattrs = 0;
	memset(r->slot, 0, sizeof(r->slot));
	r->done = false;
	r->bad = false;
	r->error = "";
}

static cm_pdreq_rc
refuse(cm_pdreq *r, const char *why)
{
	r->bad = true;
	r->error = why;
	return CM_PDREQ_BAD;
}

/* The octets of an attribute name: a-z, 0-9, '_', '-' (a table: some
 * four hundred name octets a request) */
static const unsigned char name_octet[256] = {
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
	['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['_'] = 1, ['-'] = 1
};

/* The line at r->line_start (LEN octets, no LF) is complete. */
static cm_pdreq_rc
end_line(cm_pdreq *r, size_t len)
{
	char *line = r->buf + r->line_start;
	char *eq;
	size_t slot;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0) {
		r->done = true;
		return CM_PDREQ_DONE;
	}
	line[len] = '\0';
	/* the name, up to the first octet that is not a name's: the NUL
	 * just written stops a line without '=' */
	for (eq = line; name_octet[(unsigned char)*eq]; eq++)
		;
	if (*eq != '=') {
		if (memchr(eq, '=', len - (size_t)(eq - line)) == NULL)
			return refuse(r, "a line without '='");
		return refuse(r, "an attribute name with a character "
		    "other than a-z, 0-9, '_' or '-'");
	}
	if (eq == line)
		return refuse(r, "an attribute without a name");
	if (r->nattrs >= CM_PDREQ_ATTRS_MAX)
		return refuse(r, "too many attributes");
	*eq = '\0';
	slot = find_slot(r, line, (size_t)(eq - line),
	    name_hash(line, (size_t)(eq - line)));
	if (r->slot[slot] != 0)
		return refuse(r, "an attribute given twice");
	r->name_len[r->nattrs] = (size_t)(eq - line);
	r->name_off[r->nattrs] = r->line_start;
	r->value_off[r->nattrs] = (size_t)(eq + 1 - r->buf);
	r->nattrs++;
	r->slot[slot] = (uint8_t)r->nattrs;
	/* the next line starts after this one's NUL */
	r->len = r->line_start + len + 1;
	r->line_start = r->len;
	return CM_PDREQ_MORE;
}

cm_pdreq_rc
cm_pdreq_feed(cm_pdreq *r, const char *data, size_t len, size_t *used)
{
	size_t i;

	if (r->bad)
		return CM_PDREQ_BAD;
	if (r->done)		/* the caller must reset first */
		return refuse(r, "internal: request not reset");
	for (i = 0; i < len;) {
		const char *lf = memchr(data + i, '\n', len - i);
		size_t seg = (lf != NULL ? (size_t)(lf - data) : len) - i;
		size_t room;

		/* this line's octets up to its LF (or the data's end) */
		if (memchr(data + i, '\0', seg) != NULL)
			return refuse(r, "a NUL octet");
		room = CM_PDREQ_LINE_MAX - (r->len - r->line_start);
		if (seg > room)
			return refuse(r, "a line too long");
		/* room for these octets and the line's NUL (an empty
		 * segment, the request's closing LF, needs none) */
		if (seg > 0 && r->len + seg >= sizeof(r->buf))
			return refuse(r, "a request too large");
		memcpy(r->buf + r->len, data + i, seg);
		r->len += seg;
		i += seg;
		if (lf != NULL) {
			cm_pdreq_rc rc = end_line(r, r->len - r->line_start);

			i++;
			if (rc != CM_PDREQ_MORE) {
				*used = i;
				return rc;
			}
		}
	}
	*used = len;
	return CM_PDREQ_MORE;
}

const char *
cm_pdreq_get(const cm_pdreq *r, const char *name)
{
	size_t len = strlen(name), i;

	i = find_slot(r, name, len, name_hash(name, len));
	return r->slot[i] != 0 ? r->buf + r->value_off[r->slot[i] - 1] : NULL;
}

size_t
cm_pdreq_count(const cm_pdreq *r)
{
	return r->nattrs;
}

const char *
cm_pdreq_error(const cm_pdreq *r)
{
	return r->error;
}
