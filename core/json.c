/* json.c - JSON strings (json.h). */
#include <string.h>

#include "json.h"
#include "util.h"

/* Octets copied as they are: printable ASCII other than '"' and '\\'. */
static const unsigned char json_plain[256] = {
#define R4(x) x, x, x, x
#define R16(x) R4(x), R4(x), R4(x), R4(x)
	R16(0), R16(0),				/* 0x00..0x1f */
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,	/* 0x20..0x2f: '"' */
	R16(1),					/* 0x30..0x3f */
	R16(1),					/* 0x40..0x4f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,	/* 0x50..0x5f: '\\' */
	R16(1),					/* 0x60..0x6f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,	/* 0x70..0x7f: DEL */
	R16(0), R16(0), R16(0), R16(0),		/* 0x80..0xbf */
	R16(0), R16(0), R16(0), R16(0),		/* 0xc0..0xff */
#undef R16
#undef R4
};

size_t
cm_json_quote(const char *s, size_t len, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, i = 0;

#define PUT(ch) do { if (o + 1 >= size) return 0; buf[o++] = (char)(ch); } while (0)
	PUT('"');
	while (i < len) {
		unsigned c = p[i];
		size_t k;

		if (json_plain[c]) {
			/* a run of octets that need no escape */
			for (k = i + 1; k < len && json_plain[p[k]]; k++)
				;
			if (k - i >= size - o)
				return 0;
			memcpy(buf + o, p + i, k - i);
			o += k - i;
			i = k;
		} else if (c == '"' || c == '\\') {
			PUT('\\');
			PUT(c);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			PUT('\\');
			switch (c) {
			case '\n': PUT('n'); break;
			case '\r': PUT('r'); break;
			case '\t': PUT('t'); break;
			case '\b': PUT('b'); break;
			case '\f': PUT('f'); break;
			default:
				PUT('u'); PUT('0'); PUT('0');
				PUT(hex[c >> 4]); PUT(hex[c & 15]);
			}
			i++;
		} else if ((k = cm_utf8_len(p + i, len - i)) == 0) {
			/* U+FFFD REPLACEMENT CHARACTER */
			PUT(0xef); PUT(0xbf); PUT(0xbd);
			i++;
		} else {
			for (size_t j = 0; j < k; j++)
				PUT(p[i + j]);
			i += k;
		}
	}
	PUT('"');
#undef PUT
	buf[o] = '\0';
	return o;
}

/* Four hex digits at P (END the end of input); the value, or -1. */
static long
hex4(const char *p, const char *end)
{
	long v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static size_t
put_utf8(char *o, unsigned long c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (c >> 18));
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

static cm_status
bad(const char **pp, const char *at, const char **why, const char *what)
{
	*pp = at;
	if (why != NULL)
		*why = what;
	return CM_EFORMAT;
}

cm_status
cm_json_unquote(const char **pp, const char *end, char *out, size_t *len,
    const char **why)
{
	const char *p = *pp, *start = p;
	char *o = out;

	if (p >= end || *p != '"')
		return CM_EINVAL;
	p++;
	for (;;) {
		const char *at = p;
		unsigned char c;
		long cp, lo;
		size_t n;

		if (p >= end)
			return bad(pp, start, why, "string not closed");
		c = (unsigned char)*p;
		if (c == '"')
			break;
		if (c < 0x20)
			return bad(pp, at, why, "control character in a "
			    "string (escape it)");
		if (c >= 0x80) {
			n = cm_utf8_len((const unsigned char *)p,
			    (size_t)(end - p));
			if (n == 0)
				return bad(pp, at, why, "invalid UTF-8");
			memmove(o, p, n);
			o += n;
			p += n;
			continue;
		}
		if (c != '\\') {
			*o++ = *p++;
			continue;
		}
		if (end - p < 2)
			return bad(pp, at, why, "incomplete escape");
		switch (p[1]) {
		case '"': case '\\': case '/': *o++ = p[1]; p += 2; continue;
		case 'n': *o++ = '\n'; p += 2; continue;
		case 'r': *o++ = '\r'; p += 2; continue;
		case 't': *o++ = '\t'; p += 2; continue;
		case 'b': *o++ = '\b'; p += 2; continue;
		case 'f': *o++ = '\f'; p += 2; continue;
		case 'u': break;
		default:
			return bad(pp, at, why, "invalid escape");
		}
		if ((cp = hex4(p + 2, end)) < 0)
			return bad(pp, at, why, "\\u needs four hex digits");
		p += 6;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return bad(pp, at, why, "lone low surrogate");
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (end - p < 2 || p[0] != '\\' || p[1] != 'u' ||
			    (lo = hex4(p + 2, end)) < 0xdc00 || lo > 0xdfff)
				return bad(pp, at, why, "high surrogate not "
				    "followed by a low surrogate");
			p += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		if (cp == 0)
			return bad(pp, at, why, "\\u0000 (NUL) is not allowed");
		o += put_utf8(o, (unsigned long)cp);
	}
	*o = '\0';
	if (len != NULL)
		*len = (size_t)(o - out);
	*pp = p + 1;
	return CM_OK;
}
