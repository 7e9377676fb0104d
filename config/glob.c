/* glob.c - case-insensitive glob matching with linear backtracking. */
#include <stddef.h>

#include "glob.h"

static unsigned char
lc(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/*
 * Length of the bracket expression starting at P ('['), or 0 if it is
 * not closed.
 */
static size_t
class_len(const char *p)
{
	size_t i = 1;

	if (p[i] == '!' || p[i] == '^')
		i++;
	if (p[i] == ']')
		i++;
	for (; p[i] != '\0'; i++) {
		if (p[i] == '\\') {
			if (p[i + 1] == '\0')
				return 0;
			i++;
		} else if (p[i] == ']') {
			return i + 1;
		}
	}
	return 0;
}

bool
cm_glob_valid(const char *pat, const char **why)
{
	for (const char *p = pat; *p != '\0'; p++) {
		if (*p == '\\') {
			if (p[1] == '\0') {
				if (why != NULL)
					*why = "ends with a backslash";
				return false;
			}
			p++;
		} else if (*p == '[') {
			size_t n = class_len(p);

			if (n == 0) {
				if (why != NULL)
					*why = "'[' without a closing ']'";
				return false;
			}
			p += n - 1;
		}
	}
	return true;
}

/* Does byte C match the class at P (length N)? */
static bool
class_match(const char *p, size_t n, unsigned char c)
{
	size_t i = 1, end = n - 1;	/* p[end] == ']' */
	bool neg = false, hit = false;

	c = lc(c);
	if (p[i] == '!' || p[i] == '^') {
		neg = true;
		i++;
	}
	for (bool first = true; i < end; first = false) {
		unsigned char lo, hi;

		if (p[i] == ']' && !first)
			break;
		if (p[i] == '\\')
			i++;
		lo = (unsigned char)p[i++];
		hi = lo;
		if (p[i] == '-' && i + 1 < end) {
			i++;
			if (p[i] == '\\')
				i++;
			hi = (unsigned char)p[i++];
		}
		if (lo == hi) {
			if (lc(lo) == c)
				hit = true;
		} else {
			/* compare both case variants of C against the range */
			unsigned char uc = c >= 'a' && c <= 'z' ?
			    (unsigned char)(c - 'a' + 'A') : c;

			if ((c >= lo && c <= hi) || (uc >= lo && uc <= hi))
				hit = true;
		}
	}
	return hit != neg;
}

/* Match one pattern element at P against byte C; *ADV its length. */
static bool
one(const char *p, unsigned char c, size_t *adv)
{
	switch (*p) {
	case '?':
		*adv = 1;
		return true;
	case '[': {
		size_t n = class_len(p);

		if (n > 0) {
			*adv = n;
			return class_match(p, n, c);
		}
		*adv = 1;
		return c == '[';
	}
	case '\\':
		if (p[1] != '\0') {
			*adv = 2;
			return lc((unsigned char)p[1]) == lc(c);
		}
		*adv = 1;
		return c == '\\';
	default:
		*adv = 1;
		return lc((unsigned char)*p) == lc(c);
	}
}

bool
cm_glob_match(const char *pat, const char *text, size_t len)
{
	const char *p = pat, *t = text, *end = text + len;
	const char *star_p = NULL, *star_t = NULL;
	size_t adv;

	for (;;) {
		if (*p == '*') {
			while (*p == '*')
				p++;
			if (*p == '\0')
				return true;
			star_p = p;
			star_t = t;
			continue;
		}
		if (t == end) {
			if (*p == '\0')
				return true;
		} else if (*p != '\0' && one(p, (unsigned char)*t, &adv)) {
			p += adv;
			t++;
			continue;
		}
		/* mismatch: let the last '*' swallow one more byte */
		if (star_p == NULL || star_t == end)
			return false;
		star_t++;
		p = star_p;
		t = star_t;
	}
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void
cm_glob_trim(const char **s, size_t *len)
{
	while (*len > 0 && is_ws(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_ws((*s)[*len - 1]))
		(*len)--;
}
