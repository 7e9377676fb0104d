/*
 * request.c - the bounded policy-delegation request parser (request.h).
 */
#include "request.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct cm_pdreq {
	size_t len;		/* octets in buf */
	size_t line_start;	/* offset of the line being read */
	size_t nattrs;
	bool done, bad;
	const char *error;
	size_t name_off[CM_PDREQ_ATTRS_MAX];
	size_t value_off[CM_PDREQ_ATTRS_MAX];
	char buf[CM_PDREQ_SIZE_MAX];
};

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

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
	    c == '-';
}

/* The line at r->line_start (LEN octets, no LF) is complete. */
static cm_pdreq_rc
end_line(cm_pdreq *r, size_t len)
{
	char *line = r->buf + r->line_start;
	char *eq;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0) {
		r->done = true;
		return CM_PDREQ_DONE;
	}
	line[len] = '\0';
	eq = memchr(line, '=', len);
	if (eq == NULL)
		return refuse(r, "a line without '='");
	if (eq == line)
		return refuse(r, "an attribute without a name");
	for (const char *c = line; c < eq; c++)
		if (!name_char(*c))
			return refuse(r, "an attribute name with a character "
			    "other than a-z, 0-9, '_' or '-'");
	if (r->nattrs >= CM_PDREQ_ATTRS_MAX)
		return refuse(r, "too many attributes");
	*eq = '\0';
	if (cm_pdreq_get(r, line) != NULL)
		return refuse(r, "an attribute given twice");
	r->name_off[r->nattrs] = r->line_start;
	r->value_off[r->nattrs] = (size_t)(eq + 1 - r->buf);
	r->nattrs++;
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
	for (i = 0; i < len; i++) {
		char c = data[i];

		if (c == '\n') {
			cm_pdreq_rc rc = end_line(r, r->len - r->line_start);

			if (rc != CM_PDREQ_MORE) {
				*used = i + 1;
				return rc;
			}
			continue;
		}
		if (c == '\0')
			return refuse(r, "a NUL octet");
		if (r->len - r->line_start >= CM_PDREQ_LINE_MAX)
			return refuse(r, "a line too long");
		/* room for this octet and the line's NUL */
		if (r->len + 1 >= sizeof(r->buf))
			return refuse(r, "a request too large");
		r->buf[r->len++] = c;
	}
	*used = len;
	return CM_PDREQ_MORE;
}

const char *
cm_pdreq_get(const cm_pdreq *r, const char *name)
{
	for (size_t i = 0; i < r->nattrs; i++)
		if (strcmp(r->buf + r->name_off[i], name) == 0)
			return r->buf + r->value_off[i];
	return NULL;
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
