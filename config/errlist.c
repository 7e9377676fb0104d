/* errlist.c - a bounded list of error messages with positions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errlist.h"

struct entry {
	char *msg;
	unsigned line, col;
	size_t seq;
};

struct cm_errlist {
	struct entry *e;
	size_t n, cap;
	size_t offered;
};

cm_errlist *
cm_errlist_new(void)
{
	return calloc(1, sizeof(cm_errlist));
}

size_t
cm_errlist_count(const cm_errlist *el)
{
	return el == NULL ? 0 : el->n;
}

size_t
cm_errlist_offered(const cm_errlist *el)
{
	return el == NULL ? 0 : el->offered;
}

const char *
cm_errlist_get(const cm_errlist *el, size_t i)
{
	if (el == NULL || i >= el->n)
		return NULL;
	return el->e[i].msg;
}

void
cm_errlist_free(cm_errlist *el)
{
	if (el == NULL)
		return;
	for (size_t i = 0; i < el->n; i++)
		free(el->e[i].msg);
	free(el->e);
	free(el);
}

cm_status
cm_errlist_vadd_at(cm_errlist *el, unsigned line, unsigned col,
    const char *fmt, va_list ap)
{
	char *s = NULL;

	if (el == NULL)
		return CM_OK;
	el->offered++;
	if (el->n >= CM_ERRLIST_MAX)
		return CM_OK;
	if (el->n == el->cap) {
		size_t cap = el->cap ? el->cap * 2 : 8;
		struct entry *m = realloc(el->e, cap * sizeof(*m));

		if (m == NULL)
			return CM_ENOMEM;
		el->e = m;
		el->cap = cap;
	}
	if (vasprintf(&s, fmt, ap) < 0)
		return CM_ENOMEM;
	el->e[el->n].msg = s;
	el->e[el->n].line = line;
	el->e[el->n].col = col;
	el->e[el->n].seq = el->n;
	el->n++;
	return CM_OK;
}

cm_status
cm_errlist_add_at(cm_errlist *el, unsigned line, unsigned col,
    const char *fmt, ...)
{
	va_list ap;
	cm_status st;

	va_start(ap, fmt);
	st = cm_errlist_vadd_at(el, line, col, fmt, ap);
	va_end(ap);
	return st;
}

cm_status
cm_errlist_add(cm_errlist *el, const char *fmt, ...)
{
	va_list ap;
	cm_status st;

	va_start(ap, fmt);
	st = cm_errlist_vadd_at(el, 0, 0, fmt, ap);
	va_end(ap);
	return st;
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void
cm_errlist_sort_from(cm_errlist *el, size_t from)
{
	if (el == NULL || from >= el->n)
		return;
	qsort(el->e + from, el->n - from, sizeof(el->e[0]), cmp_entry);
}

const char *
cm_errlist_quote(char *buf, size_t len, const char *s)
{
	size_t k = 0, i;

	for (i = 0; s[i] != '\0' && i < CM_ERRLIST_QUOTE_MAX && k + 5 < len;
	    i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != 0x7f && c != '\\')
			buf[k++] = (char)c;	/* UTF-8 kept as is */
		else
			k += (size_t)snprintf(buf + k, len - k, "\\x%02x", c);
	}
	/* do not cut a UTF-8 sequence (its bytes were copied one to one) */
	while (s[i] != '\0' && i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80) {
		i--;
		k--;
	}
	if (s[i] != '\0' && k + 4 < len) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	buf[k] = '\0';
	return buf;
}
