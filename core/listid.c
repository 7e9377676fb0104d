/*
 * listid.c - RFC 2919 List-Id parsing (see listid.h).
 */
#include "listid.h"

#include <stdbool.h>
#include <string.h>

static bool
is_fws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skip a comment starting at V[*I] == '(' (nested, with quoted pairs);
 * false if it is not closed. */
static bool
skip_comment(const char *v, size_t len, size_t *i)
{
	unsigned depth = 0;

	for (; *i < len; (*i)++) {
		char c = v[*i];

		if (c == '\\') {
			(*i)++;
			continue;
		}
		if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0) {
			(*i)++;
			return true;
		}
	}
	return false;
}

/* Skip a quoted string starting at V[*I] == '"'; false if not closed. */
static bool
skip_quoted(const char *v, size_t len, size_t *i)
{
	for ((*i)++; *i < len; (*i)++) {
		if (v[*i] == '\\')
			(*i)++;
		else if (v[*i] == '"') {
			(*i)++;
			return true;
		}
	}
	return false;
}

/* Copy the identifier V[B..E) into OUT: trimmed, one trailing dot off. */
static cm_status
take(const char *v, size_t b, size_t e, char *out, size_t size,
    size_t *out_len)
{
	size_t n;

	while (b < e && is_fws((unsigned char)v[b]))
		b++;
	while (e > b && is_fws((unsigned char)v[e - 1]))
		e--;
	if (e > b && v[e - 1] == '.')
		e--;
	n = e - b;
	if (n == 0)
		return CM_EINVAL;
	for (size_t k = b; k < e; k++) {
		unsigned char c = (unsigned char)v[k];

		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>')
			return CM_EINVAL;
		/* dot-atom labels are never empty: no leading dot, no "..",
		 * no second trailing dot ("<offers.example.com..>" must not
		 * read as some other list than offers.example.com) */
		if (c == '.' && (k == b || k == e - 1 || v[k - 1] == '.'))
			return CM_EINVAL;
	}
	if (n > CM_LISTID_MAX || n >= size)
		return CM_ETOOLONG;
	memcpy(out, v + b, n);
	out[n] = '\0';
	if (out_len != NULL)
		*out_len = n;
	return CM_OK;
}

cm_status
cm_listid_parse(const char *value, size_t len, char *out, size_t size,
    size_t *out_len)
{
	size_t i = 0, ab = 0, ae = 0, nangle = 0;
	size_t tb = 0, te = 0, ntok = 0;
	bool in_tok = false;
	cm_status st;

	if (size > 0)
		out[0] = '\0';
	if (value == NULL || out == NULL || size == 0)
		return CM_EINVAL;
	if (memchr(value, '\0', len) != NULL)
		return CM_EINVAL;
	while (i < len) {
		char c = value[i];

		if (c == '(' || c == '"' || c == '<' || is_fws((unsigned char)c)) {
			if (in_tok) {
				te = i;
				in_tok = false;
			}
		}
		if (c == '(') {
			if (!skip_comment(value, len, &i))
				return CM_EINVAL;
		} else if (c == '"') {
			if (!skip_quoted(value, len, &i))
				return CM_EINVAL;
			ntok += 2;	/* a phrase: never a bare identifier */
		} else if (c == '<') {
			const char *gt = memchr(value + i, '>', len - i);

			if (gt == NULL)
				return CM_EINVAL;
			nangle++;
			ab = i + 1;
			ae = (size_t)(gt - value);
			i = ae + 1;
		} else if (c == '>') {
			return CM_EINVAL;
		} else if (is_fws((unsigned char)c)) {
			i++;
		} else {
			if (!in_tok) {
				in_tok = true;
				tb = i;
				ntok++;
			}
			i++;
		}
	}
	if (in_tok)
		te = len;
	if (nangle > 1)
		return CM_EINVAL;
	if (nangle == 1)
		st = take(value, ab, ae, out, size, out_len);
	else if (ntok == 1)
		st = take(value, tb, te, out, size, out_len);
	else
		st = CM_EINVAL;
	if (st != CM_OK)
		out[0] = '\0';
	return st;
}
