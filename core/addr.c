/*
 * addr.c - envelope address normalization (see addr.h): the long way.
 *
 * The common case (a plain ASCII address, maybe in angle brackets) takes
 * the short way first (addr_fast.c, one pass); every other input comes
 * here, with table lookups and no allocation for ASCII.  Only a domain
 * with non-ASCII octets goes through libidn2, and only a local part with
 * non-ASCII octets through libunistring (NFC, Unicode case folding).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>
#include <unicase.h>
#include <uninorm.h>

#include "addr.h"
#include "addr_int.h"

/* Character classes of ASCII octets (addr_int.h: C_ATEXT, C_LDH,
 * C_DTEXT, C_PLAIN). */
const unsigned char cm_addr_cls[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x00 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x10 */
	0, 5, 4, 13, 13, 5, 13, 13, 4, 4, 13, 13, 4, 15, 4, 13,	/* 0x20 */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 4, 4, 4, 13, 4, 13,	/* 0x30 */
	4, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,	/* 0x40 */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 0, 0, 0, 13, 13,	/* 0x50 */
	13, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,	/* 0x60 */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 13, 13, 13, 13, 0,	/* 0x70 */
	/* 0x80..0xff: no ASCII class; UTF-8 is validated separately */
};

/* Longest domain (in octets of UTF-8) handed to libidn2.  A valid
 * A-label domain has at most 255 octets; its U-label form can be longer
 * (up to four octets per code point, plus mapped characters), so the
 * input bound is generous, and the result is checked against 255. */
#define IDN_IN_MAX 1024


void
cm_addr_opts_default(cm_addr_opts *opts)
{
	if (opts == NULL)
		return;
	opts->fold_local_case = true;
	opts->subaddr_sep = '+';
	opts->local_octets = false;
	opts->route_local = CM_ADDR_ROUTE_RESOLVE;
}

#define ONES UINT64_C(0x0101010101010101)

/*
 * Reject control characters and invalid UTF-8 in S[0..N).  Control
 * characters are C0 (< 0x20), DEL and the C1 range U+0080..U+009F.
 * UTF-8 is checked strictly: no overlong forms, no surrogates, nothing
 * above U+10FFFF, no truncated sequences.
 */
static cm_status
check_octets(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c;

		/* eight plain ASCII octets at a time: no high bit, nothing
		 * below 0x20, no DEL */
		while (n - i >= 8) {
			uint64_t v, y;

			memcpy(&v, s + i, 8);
			y = v ^ (ONES * 0x7f);	/* DEL -> 0 */
			if ((v | ((v - ONES * 0x20) & ~v) | ((y - ONES) & ~y)) &
			    (ONES * 0x80))
				break;
			i += 8;
		}
		if (i >= n)
			break;
		c = s[i];

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return c == 0 ? CM_ADDR_NUL : CM_ADDR_CTRL;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			if (i + 1 >= n || (s[i + 1] & 0xc0) != 0x80)
				return CM_ADDR_BAD_UTF8;
			if (c == 0xc2 && s[i + 1] < 0xa0)
				return CM_ADDR_CTRL;	/* C1 control */
			i += 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			unsigned char lo = 0x80, hi = 0xbf;

			if (c == 0xe0)
				lo = 0xa0;	/* overlong */
			else if (c == 0xed)
				hi = 0x9f;	/* surrogates */
			if (i + 2 >= n || s[i + 1] < lo || s[i + 1] > hi ||
			    (s[i + 2] & 0xc0) != 0x80)
				return CM_ADDR_BAD_UTF8;
			i += 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			unsigned char lo = 0x80, hi = 0xbf;

			if (c == 0xf0)
				lo = 0x90;	/* overlong */
			else if (c == 0xf4)
				hi = 0x8f;	/* above U+10FFFF */
			if (i + 3 >= n || s[i + 1] < lo || s[i + 1] > hi ||
			    (s[i + 2] & 0xc0) != 0x80 ||
			    (s[i + 3] & 0xc0) != 0x80)
				return CM_ADDR_BAD_UTF8;
			i += 4;
		} else {
			return CM_ADDR_BAD_UTF8;
		}
	}
	return CM_OK;
}

/* Strip spaces and tabs at both ends of *S / *N. */
static void
trim(const unsigned char **s, size_t *n)
{
	while (*n > 0 && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/*
 * Check that D[0..N) is a dot-separated sequence of LDH labels of 1..63
 * octets, none starting or ending with '-'.  If OUT is not NULL, write
 * the lower-cased domain there (N octets).
 */
static bool
ascii_domain_ok(const unsigned char *d, size_t n, unsigned char *out)
{
	size_t label = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = d[i];

		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return false;
			label = 0;
		} else if (cm_addr_cls[c] & C_LDH) {
			if (label == 0 && c == '-')
				return false;
			if (++label > LABEL_MAX)
				return false;
		} else {
			return false;
		}
		if (out != NULL)
			out[i] = cm_addr_lower(c);
	}
	return label != 0 && d[n - 1] != '-';
}

/*
 * Domain with at least one non-ASCII octet (valid UTF-8, no controls).
 * Each all-ASCII label must be valid LDH (else CM_ADDR_BAD_DOMAIN) and is
 * lower-cased; each other label is converted alone by libidn2 (IDNA2008,
 * TR46 non-transitional mapping, NFC) and must come out as valid LDH.
 * Label by label, so that the limit is the same 255 octets as for ASCII
 * domains (libidn2 itself stops whole names at 253).
 */
static cm_status
idn_domain(const unsigned char *d, size_t n, unsigned char *out,
    size_t *out_len)
{
	char in[IDN_IN_MAX + 1];
	size_t start = 0, o = 0;

	if (n > IDN_IN_MAX)
		return CM_ADDR_DOMAIN_TOO_LONG;
	for (size_t i = 0; i <= n; i++) {
		const unsigned char *l = d + start;
		size_t ln = i - start, rlen;
		unsigned char any = 0;
		char *res = NULL;
		int rc;

		if (i < n && d[i] != '.')
			continue;
		start = i + 1;
		if (ln == 0)
			return CM_ADDR_BAD_DOMAIN;	/* empty label */
		if (o != 0) {
			if (o >= CM_ADDR_DOMAIN_MAX)
				return CM_ADDR_DOMAIN_TOO_LONG;
			out[o++] = '.';
		}
		for (size_t j = 0; j < ln; j++)
			any |= l[j];
		if (!(any & 0x80)) {
			if (ln > CM_ADDR_DOMAIN_MAX - o)
				return CM_ADDR_DOMAIN_TOO_LONG;
			if (!ascii_domain_ok(l, ln, out + o))
				return CM_ADDR_BAD_DOMAIN;
			o += ln;
			continue;
		}
		memcpy(in, l, ln);
		in[ln] = '\0';
		rc = idn2_lookup_u8((const uint8_t *)in, (uint8_t **)&res,
		    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		if (rc != IDN2_OK || res == NULL) {
			free(res);
			return rc == IDN2_MALLOC ? CM_ENOMEM : CM_ADDR_BAD_IDN;
		}
		rlen = strlen(res);
		if (rlen == 0 || !ascii_domain_ok((const unsigned char *)res, rlen, NULL)) {
			free(res);
			return CM_ADDR_BAD_IDN;
		}
		if (rlen > CM_ADDR_DOMAIN_MAX - o) {
			free(res);
			return CM_ADDR_DOMAIN_TOO_LONG;
		}
		memcpy(out + o, res, rlen);
		o += rlen;
		free(res);
	}
	*out_len = o;
	return CM_OK;
}

/*
 * Normalize the domain D[0..N) (already checked for controls and UTF-8)
 * into OUT (at least CM_ADDR_DOMAIN_MAX octets, not NUL-terminated).
 */
static cm_status
norm_domain(const unsigned char *d, size_t n, unsigned char *out,
    size_t *out_len)
{
	unsigned char any = 0;

	if (n == 0)
		return CM_ADDR_DOMAIN_EMPTY;
	if (d[0] == '[') {
		/* address literal, kept as written */
		if (n > CM_ADDR_DOMAIN_MAX)
			return CM_ADDR_DOMAIN_TOO_LONG;
		if (n < 3 || d[n - 1] != ']')
			return CM_ADDR_BAD_DOMAIN;
		for (size_t i = 1; i < n - 1; i++)
			if (!(cm_addr_cls[d[i]] & C_DTEXT))
				return CM_ADDR_BAD_DOMAIN;
		memcpy(out, d, n);
		*out_len = n;
		return CM_OK;
	}
	if (d[n - 1] == '.') {
		n--;
		if (n == 0)
			return CM_ADDR_DOMAIN_EMPTY;
	}
	for (size_t i = 0; i < n; i++)
		any |= d[i];
	if (any & 0x80)
		return idn_domain(d, n, out, out_len);
	if (n > CM_ADDR_DOMAIN_MAX)
		return CM_ADDR_DOMAIN_TOO_LONG;
	if (!ascii_domain_ok(d, n, out))
		return CM_ADDR_BAD_DOMAIN;
	*out_len = n;
	return CM_OK;
}

/*
 * Skip a source route "@a,@b:" at the start of S[0..*N).  Loose check:
 * one or more "@" DOMAIN items separated by ',' and ended by ':', where
 * DOMAIN is a non-empty run of letters, digits, '-', '.', non-ASCII
 * octets, or an address literal "[...]".
 */
static cm_status
skip_route(const unsigned char **s, size_t *n)
{
	const unsigned char *p = *s;
	size_t len = *n, i = 0;

	for (;;) {
		size_t start;

		if (i >= len || p[i] != '@')
			return CM_ADDR_BAD_ROUTE;
		start = ++i;
		if (i < len && p[i] == '[') {
			while (i < len && p[i] != ']')
				i++;
			if (i >= len)
				return CM_ADDR_BAD_ROUTE;
			i++;
		} else {
			while (i < len && (p[i] == '.' || p[i] >= 0x80 ||
			    (cm_addr_cls[p[i]] & C_LDH)))
				i++;
		}
		if (i == start || i >= len)
			return CM_ADDR_BAD_ROUTE;
		if (p[i] == ',') {
			i++;
			continue;
		}
		if (p[i] != ':')
			return CM_ADDR_BAD_ROUTE;
		i++;
		break;
	}
	if (i >= len)
		return CM_ADDR_BAD_ROUTE;	/* route without a mailbox */
	*s = p + i;
	*n = len - i;
	return CM_OK;
}

/*
 * Write the local part L[0..N) (quoted-string or dot-atom, controls and
 * UTF-8 already checked, N <= 64) unquoted and case-folded into OUT.
 */
static cm_status
norm_local(const unsigned char *l, size_t n, bool fold, unsigned char *out,
    size_t *out_len)
{
	size_t o = 0;

	if (l[0] == '"') {
		if (n < 2 || l[n - 1] != '"')
			return CM_ADDR_QUOTE;
		for (size_t i = 1; i < n - 1; i++) {
			unsigned char c = l[i];

			if (c == '\\') {
				if (i + 1 >= n - 1)
					return CM_ADDR_QUOTE;
				c = l[++i];
			} else if (c == '"') {
				return CM_ADDR_QUOTE;
			}
			out[o++] = fold ? cm_addr_lower(c) : c;
		}
		if (o == 0)
			return CM_ADDR_LOCAL_EMPTY;
		*out_len = o;
		return CM_OK;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = l[i];

		if (c >= 0x80 || (cm_addr_cls[c] & C_ATEXT)) {
			out[i] = fold ? cm_addr_lower(c) : c;
		} else if (c == '.') {
			if (i == 0 || i == n - 1 || l[i - 1] == '.')
				return CM_ADDR_BAD_LOCAL;
			out[i] = c;
		} else if (c == '"') {
			return CM_ADDR_QUOTE;
		} else {
			return CM_ADDR_BAD_LOCAL;
		}
	}
	*out_len = n;
	return CM_OK;
}

/* Is L[0..N) a dot-atom (atext or non-ASCII octets, dots between)? */
static bool
dot_atom(const unsigned char *l, size_t n)
{
	if (n == 0 || l[0] == '.' || l[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (l[i] == '.') {
			if (l[i - 1] == '.')
				return false;
		} else if (l[i] < 0x80 && !(cm_addr_cls[l[i]] & C_ATEXT)) {
			return false;
		}
	}
	return true;
}

/*
 * Resolve the '%' and '!' routing forms of the unquoted local part
 * L[0..N) as Postfix does for a local domain, until none is left:
 * "site!rest" (the first '!') is rest@site, "rest%site" (the last '%') is
 * rest@site.  *USER, *UN is the user part, *SITE, *SN the domain (both
 * inside L).  A form with an empty side is CM_ADDR_BAD_LOCAL.
 */
static cm_status
resolve_route(const unsigned char *l, size_t n, const unsigned char **user,
    size_t *un, const unsigned char **site, size_t *sn)
{
	const unsigned char *u = l;
	size_t ul = n;

	*site = NULL;
	*sn = 0;
	for (;;) {
		const unsigned char *bang = memchr(u, '!', ul);
		const unsigned char *pct = memrchr(u, '%', ul);

		if (bang != NULL) {
			*site = u;
			*sn = (size_t)(bang - u);
			ul -= *sn + 1;
			u = bang + 1;
		} else if (pct != NULL) {
			*site = pct + 1;
			*sn = ul - (size_t)(pct - u) - 1;
			ul = (size_t)(pct - u);
		} else {
			break;
		}
		if (*sn == 0 || ul == 0)
			return CM_ADDR_BAD_LOCAL;
	}
	*user = u;
	*un = ul;
	return CM_OK;
}

/* See addr_int.h. */
void
cm_addr_set_base(cm_addr *out, size_t llen, unsigned char sep)
{
	const char *key = out->key;
	const char *p = sep != 0 ? memchr(key, sep, llen) : NULL;

	if (p != NULL && p != key) {
		size_t bl = (size_t)(p - key);

		memcpy(out->base, key, bl);
		/* '@' domain NUL */
		memcpy(out->base + bl, key + llen, out->key_len - llen + 1);
		out->base_len = bl + out->key_len - llen;
		out->has_subaddr = true;
	} else {
		memcpy(out->base, key, out->key_len + 1);
		out->base_len = out->key_len;
		out->has_subaddr = false;
	}
}

/*
 * The key from an unquoted local part LOC[0..LN) (ASCII already folded
 * when asked) and a domain DOM[0..DN) as written.
 * ROUTABLE: the local part was not quoted, so '%' and '!' are routing.
 */
static cm_status
build(const unsigned char *loc, size_t ln, bool routable, const unsigned char *dom,
    size_t dn, const cm_addr_opts *opts, cm_addr *out)
{
	unsigned char dbuf[CM_ADDR_DOMAIN_MAX];
	unsigned char *key = (unsigned char *)out->key;
	size_t dlen, llen = ln, sn = 0;
	bool fold = opts == NULL || opts->fold_local_case;
	bool octets = opts != NULL && opts->local_octets;
	unsigned char sep = opts == NULL ? '+' : (unsigned char)opts->subaddr_sep;
	unsigned char any = 0;
	cm_status st;

	if ((st = norm_domain(dom, dn, dbuf, &dlen)) != CM_OK)
		return st;
	if (routable && (opts == NULL ||
	    opts->route_local != CM_ADDR_ROUTE_LITERAL) &&
	    (memchr(loc, '%', ln) != NULL || memchr(loc, '!', ln) != NULL)) {
		const unsigned char *site;

		if (opts != NULL && opts->route_local == CM_ADDR_ROUTE_REFUSE)
			return CM_ADDR_ROUTED;
		if ((st = resolve_route(loc, ln, &loc, &llen, &site, &sn)) !=
		    CM_OK)
			return st;
		if ((st = norm_domain(site, sn, dbuf, &dlen)) != CM_OK)
			return st;
	}
	for (size_t i = 0; i < llen; i++)
		any |= loc[i];
	if ((any & 0x80) && !octets) {
		/* NFC(toCasefold(NFD(x))), or NFC(x) without folding */
		uint8_t tmp[4 * CM_ADDR_LOCAL_MAX], *r;
		size_t rn = sizeof(tmp);

		if (fold)
			r = u8_casefold(loc, llen, NULL, UNINORM_NFC, tmp, &rn);
		else
			r = u8_normalize(UNINORM_NFC, loc, llen, tmp, &rn);
		if (r == NULL)
			return errno == ENOMEM ? CM_ENOMEM : CM_ADDR_BAD_UTF8;
		if (rn > CM_ADDR_LOCAL_MAX) {
			if (r != tmp)
				free(r);
			return CM_ADDR_LOCAL_TOO_LONG;
		}
		memcpy(key, r, rn);
		if (r != tmp)
			free(r);
		llen = rn;
	} else {
		memcpy(key, loc, llen);
	}
	key[llen] = '@';
	memcpy(key + llen + 1, dbuf, dlen);
	out->key_len = llen + 1 + dlen;
	key[out->key_len] = '\0';
	out->domain_off = llen + 1;
	cm_addr_set_base(out, llen, sep);
	return CM_OK;
}

cm_status
cm_addr_normalize(const char *in, size_t len, const cm_addr_opts *opts,
    cm_addr *out)
{
	unsigned char sep = '+';

	if (out == NULL || (in == NULL && len != 0))
		return CM_EINVAL;
	if (opts != NULL) {
		sep = (unsigned char)opts->subaddr_sep;
		if (sep != 0 && (sep < 0x21 || sep > 0x7e || sep == '@'))
			return CM_EINVAL;
	}
	if (cm_addr_fast(in, len, opts == NULL || opts->fold_local_case, sep,
	    out))
		return CM_OK;
	return cm_addr_normalize_long(in, len, opts, out);
}

cm_status
cm_addr_normalize_long(const char *in, size_t len, const cm_addr_opts *opts,
    cm_addr *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t n = len, at = SIZE_MAX, llen;
	bool fold = true, inq = false;
	unsigned char sep = '+';
	unsigned char lbuf[CM_ADDR_LOCAL_MAX];
	cm_status st;

	if (out == NULL || (in == NULL && len != 0))
		return CM_EINVAL;
	if (opts != NULL) {
		fold = opts->fold_local_case;
		sep = (unsigned char)opts->subaddr_sep;
		if (sep != 0 && (sep < 0x21 || sep > 0x7e || sep == '@'))
			return CM_EINVAL;
	}
	if (n == 0)
		return CM_ADDR_EMPTY;
	trim(&s, &n);
	if (n == 0)
		return CM_ADDR_EMPTY;
	/* NUL (CM_ADDR_NUL) is found here too: trim() stops at it */
	if ((st = check_octets(s, n)) != CM_OK)
		return st;

	if (s[0] == '<') {
		if (s[n - 1] != '>' || n < 2)
			return CM_ADDR_BRACKET;
		s++;
		n -= 2;
		if (n == 0)
			return CM_ADDR_EMPTY;
	} else if (s[n - 1] == '>') {
		return CM_ADDR_BRACKET;
	}
	if (s[0] == '@') {
		if (memchr(s, ':', n) != NULL) {
			if ((st = skip_route(&s, &n)) != CM_OK)
				return st;
		} else if (memchr(s, ',', n) != NULL) {
			return CM_ADDR_BAD_ROUTE;
		}
	}

	/* the last '@' outside quotes */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (inq) {
			if (c == '\\') {
				if (++i >= n)
					return CM_ADDR_QUOTE;
			} else if (c == '"') {
				inq = false;
			}
		} else if (c == '@') {
			at = i;
		} else if (c == '"') {
			inq = true;
		} else if (c == '<' || c == '>') {
			return CM_ADDR_BRACKET;
		}
	}
	if (inq)
		return CM_ADDR_QUOTE;
	if (at == SIZE_MAX)
		return CM_ADDR_NO_AT;
	if (at == 0)
		return CM_ADDR_LOCAL_EMPTY;
	if (at > CM_ADDR_LOCAL_MAX)
		return CM_ADDR_LOCAL_TOO_LONG;

	if ((st = norm_local(s, at, fold, lbuf, &llen)) != CM_OK)
		return st;
	return build(lbuf, llen, s[0] != '"', s + at + 1, n - at - 1, opts,
	    out);
}

cm_status
cm_addr_normalize_domain(const char *in, size_t len, char *out,
    size_t *out_len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t n = len, dlen;
	cm_status st;

	if (out == NULL || out_len == NULL || (in == NULL && len != 0))
		return CM_EINVAL;
	if (n != 0 && memchr(s, '\0', n) != NULL)
		return CM_ADDR_NUL;
	trim(&s, &n);
	if (n == 0)
		return CM_ADDR_DOMAIN_EMPTY;
	if ((st = check_octets(s, n)) != CM_OK)
		return st;
	if ((st = norm_domain(s, n, (unsigned char *)out, &dlen)) != CM_OK)
		return st;
	out[dlen] = '\0';
	*out_len = dlen;
	return CM_OK;
}

cm_status
cm_addr_format(const char *key, size_t len, char *out, size_t outsz,
    size_t *out_len)
{
	const unsigned char *k = (const unsigned char *)key;
	const char *at;
	size_t llen, o = 0, need;
	bool atom = true;

	if (key == NULL || out == NULL || out_len == NULL)
		return CM_EINVAL;
	for (at = NULL, llen = len; llen > 0; llen--)
		if (k[llen - 1] == '@') {
			at = key + llen - 1;
			break;
		}
	if (at == NULL)
		return CM_ADDR_NO_AT;
	llen = (size_t)(at - key);
	if (llen == 0)
		return CM_ADDR_LOCAL_EMPTY;
	/* a dot-atom as it stands, else a quoted string */
	for (size_t i = 0; i < llen && atom; i++) {
		unsigned char c = k[i];

		if (c == '.')
			atom = i > 0 && i < llen - 1 && k[i - 1] != '.';
		else
			atom = c >= 0x80 || (cm_addr_cls[c] & C_ATEXT);
	}
	need = len + 1;
	for (size_t i = 0; i < llen && !atom; i++)
		need += k[i] == '"' || k[i] == '\\';
	if (!atom)
		need += 2;
	if (outsz < need)
		return CM_ETOOLONG;
	if (!atom)
		out[o++] = '"';
	for (size_t i = 0; i < llen; i++) {
		if (!atom && (k[i] == '"' || k[i] == '\\'))
			out[o++] = '\\';
		out[o++] = (char)k[i];
	}
	if (!atom)
		out[o++] = '"';
	memcpy(out + o, at, len - llen);
	o += len - llen;
	out[o] = '\0';
	*out_len = o;
	return CM_OK;
}

cm_status
cm_addr_rekey(const char *key, size_t len, const cm_addr_opts *opts,
    cm_addr *out)
{
	const unsigned char *s = (const unsigned char *)key;
	unsigned char lbuf[CM_ADDR_LOCAL_MAX];
	const unsigned char *at;
	bool fold = opts == NULL || opts->fold_local_case;
	size_t ln;
	cm_status st;

	if (out == NULL || (key == NULL && len != 0))
		return CM_EINVAL;
	if (opts != NULL && opts->subaddr_sep != 0 &&
	    ((unsigned char)opts->subaddr_sep < 0x21 ||
	    (unsigned char)opts->subaddr_sep > 0x7e || opts->subaddr_sep == '@'))
		return CM_EINVAL;
	if (len == 0)
		return CM_ADDR_EMPTY;
	if ((st = check_octets(s, len)) != CM_OK)
		return st;
	/* the domain has no '@', except an address literal, which has no
	 * '[' inside: it starts at the last '[' */
	at = NULL;
	if (s[len - 1] == ']') {
		const unsigned char *lb = memrchr(s, '[', len);

		if (lb != NULL && lb > s && lb[-1] == '@')
			at = lb - 1;
	}
	if (at == NULL && (at = memrchr(s, '@', len)) == NULL)
		return CM_ADDR_NO_AT;
	ln = (size_t)(at - s);
	if (ln == 0)
		return CM_ADDR_LOCAL_EMPTY;
	if (ln > CM_ADDR_LOCAL_MAX)
		return CM_ADDR_LOCAL_TOO_LONG;
	for (size_t i = 0; i < ln; i++)
		lbuf[i] = fold ? cm_addr_lower(s[i]) : s[i];
	return build(lbuf, ln, dot_atom(s, ln), at + 1, len - ln - 1, opts,
	    out);
}
