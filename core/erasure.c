/* erasure.c - the spellings of an erased address in text (erasure.h). */
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "erasure.h"

#define TAG_MAX 64
#define NV 3

struct cm_erasure {
	/* spellings: as is, JSON-escaped, domain in U-labels (or NULL) */
	char *local[NV], *domain[NV];
	size_t llen[NV], dlen[NV];
	char sep;
	char **lit;
	size_t *litlen;
	size_t nlit, caplit;
};

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool
ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

static bool
word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/* JSON escaping of '"' and '\\' (the rest is searched as stored). */
static char *
escape(const char *s, size_t n, size_t *out)
{
	char *r = malloc(2 * n + 1), *p = r;

	if (r == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			*p++ = '\\';
		*p++ = s[i];
	}
	*p = '\0';
	*out = (size_t)(p - r);
	return r;
}

cm_status
cm_erasure_new(const char *addr, char sep, cm_erasure **out)
{
	cm_erasure *e;
	const char *at;
	size_t n;

	*out = NULL;
	if (addr == NULL || (n = strlen(addr)) == 0 ||
	    (at = strrchr(addr, '@')) == NULL || at == addr || at[1] == '\0')
		return CM_EINVAL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return CM_ENOMEM;
	e->llen[0] = (size_t)(at - addr);
	/* a sub-address has no sub-addresses of its own */
	e->sep = sep != 0 && memchr(addr, sep, e->llen[0]) == NULL ? sep : 0;
	e->dlen[0] = n - e->llen[0] - 1;
	e->local[0] = strndup(addr, e->llen[0]);
	e->domain[0] = strdup(at + 1);
	if (e->local[0] == NULL || e->domain[0] == NULL ||
	    (e->local[1] = escape(addr, e->llen[0], &e->llen[1])) == NULL ||
	    (e->domain[1] = escape(at + 1, e->dlen[0], &e->dlen[1])) ==
	    NULL) {
		cm_erasure_free(e);
		return CM_ENOMEM;
	}
	/* an IDN domain as a DSN of an SMTPUTF8 message may spell it */
	if (strstr(e->domain[0], "xn--") != NULL) {
		char *u = NULL;

		if (idn2_to_unicode_8z8z(e->domain[0], &u, 0) == IDN2_OK &&
		    strcmp(u, e->domain[0]) != 0) {
			e->local[2] = strdup(e->local[0]);
			e->domain[2] = strdup(u);
			if (e->local[2] == NULL || e->domain[2] == NULL) {
				idn2_free(u);
				cm_erasure_free(e);
				return CM_ENOMEM;
			}
			e->llen[2] = e->llen[0];
			e->dlen[2] = strlen(u);
		}
		idn2_free(u);
	}
	*out = e;
	return CM_OK;
}

cm_status
cm_erasure_add(cm_erasure *e, const char *s, size_t len)
{
	if (e == NULL || s == NULL || len == 0)
		return CM_EINVAL;
	for (size_t i = 0; i < e->nlit; i++)
		if (e->litlen[i] == len && ieq(e->lit[i], s, len))
			return CM_OK;
	if (e->nlit == e->caplit) {
		size_t nc = e->caplit ? e->caplit * 2 : 8;
		char **nl = realloc(e->lit, nc * sizeof(*nl));
		size_t *nn;

		if (nl == NULL)
			return CM_ENOMEM;
		e->lit = nl;
		if ((nn = realloc(e->litlen, nc * sizeof(*nn))) == NULL)
			return CM_ENOMEM;
		e->litlen = nn;
		e->caplit = nc;
	}
	if ((e->lit[e->nlit] = strndup(s, len)) == NULL)
		return CM_ENOMEM;
	e->litlen[e->nlit++] = len;
	return CM_OK;
}

static bool
tag_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f && c != '@' && c != '=' && c != '"' &&
	    c != '<' && c != '>' && c != ',';
}

/* Does T[I..N) hold DOMAIN (variant V) followed by a domain's end? */
static bool
domain_at(const cm_erasure *e, int v, const char *t, size_t i, size_t n)
{
	size_t d = e->dlen[v];

	if (n - i < d || !ieq(t + i, e->domain[v], d))
		return false;
	i += d;
	if (i == n)
		return true;
	if (word_char((unsigned char)t[i]))
		return false;
	return !(t[i] == '.' && i + 1 < n &&
	    word_char((unsigned char)t[i + 1]));
}

/* After LOCAL, at T[I]: ["]@DOMAIN or =DOMAIN@. */
static bool
rest_at(const cm_erasure *e, int v, const char *t, size_t i, size_t n)
{
	if (i < n && t[i] == '"')
		i++;
	if (i < n && t[i] == '\\' && i + 1 < n && t[i + 1] == '"')
		i += 2;		/* an escaped quote in JSON */
	if (i >= n)
		return false;
	if (t[i] == '@')
		return domain_at(e, v, t, i + 1, n);
	if (t[i] == '=') {
		size_t d = e->dlen[v];

		return n - i - 1 > d && ieq(t + i + 1, e->domain[v], d) &&
		    t[i + 1 + d] == '@';
	}
	return false;
}

static bool
local_match(const cm_erasure *e, int v, const char *t, size_t n)
{
	size_t l = e->llen[v];

	for (size_t i = 0; i + l < n; i++) {
		size_t j;

		if (!ieq(t + i, e->local[v], l))
			continue;
		if (i > 0) {
			unsigned char c = (unsigned char)t[i - 1];

			if (word_char(c) || c == '.' || c == '_')
				continue;
		}
		j = i + l;
		if (rest_at(e, v, t, j, n))
			return true;
		if (e->sep != 0 && t[j] == e->sep) {
			size_t k = j + 1;

			while (k < n && k - j <= TAG_MAX &&
			    tag_char((unsigned char)t[k]))
				k++;
			if (k - j <= TAG_MAX + 1 && rest_at(e, v, t, k, n))
				return true;
		}
	}
	return false;
}

static bool
imem(const char *t, size_t n, const char *s, size_t l)
{
	for (size_t i = 0; i + l <= n; i++)
		if (ieq(t + i, s, l))
			return true;
	return false;
}

bool
cm_erasure_match(const cm_erasure *e, const char *text, size_t len)
{
	if (e == NULL || text == NULL)
		return false;
	for (int v = 0; v < NV; v++) {
		if (e->local[v] == NULL || (v == 1 &&
		    e->llen[1] == e->llen[0] && e->dlen[1] == e->dlen[0]))
			continue;	/* none, or nothing to escape */
		if (local_match(e, v, text, len))
			return true;
	}
	for (size_t i = 0; i < e->nlit; i++)
		if (imem(text, len, e->lit[i], e->litlen[i]))
			return true;
	return false;
}

void
cm_erasure_free(cm_erasure *e)
{
	if (e == NULL)
		return;
	for (int v = 0; v < NV; v++) {
		free(e->local[v]);
		free(e->domain[v]);
	}
	for (size_t i = 0; i < e->nlit; i++)
		free(e->lit[i]);
	free(e->lit);
	free(e->litlen);
	free(e);
}
