/*
 * addr_fast.c - the short way of address normalization (addr_int.h):
 * the common address in one pass, one table lookup an octet.
 */
#include <stdbool.h>
#include <stddef.h>

#include "addr_int.h"

/*
 * The short way for the common address, in one pass: see addr_int.h.
 */
bool
cm_addr_fast(const char *in, size_t n, bool fold, unsigned char sep,
    cm_addr *out)
{
	const unsigned char *s = (const unsigned char *)in;
	unsigned char *key = (unsigned char *)out->key;
	size_t i, at, label = 0;

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	/* a key holds every octet of the input and a NUL */
	if (n == 0 || n >= CM_ADDR_KEY_MAX)
		return false;
	for (i = 0;; i++) {
		unsigned char c;

		if (i == n)
			return false;	/* no '@' */
		c = s[i];
		if (cm_addr_cls[c] & C_PLAIN)
			key[i] = fold ? cm_addr_lower(c) : c;
		else if (c == '.' && i > 0 && s[i - 1] != '.')
			key[i] = c;
		else if (c == '@')
			break;
		else
			return false;
	}
	if (i == 0 || i > CM_ADDR_LOCAL_MAX || s[i - 1] == '.' ||
	    n - i - 1 > CM_ADDR_DOMAIN_MAX)
		return false;
	at = i;
	key[i++] = '@';
	for (; i < n; i++) {
		unsigned char c = s[i];

		if (cm_addr_cls[c] & C_LDH) {
			if ((label == 0 && c == '-') || ++label > LABEL_MAX)
				return false;
			key[i] = cm_addr_lower(c);
		} else if (c == '.' && label != 0 && s[i - 1] != '-') {
			label = 0;
			key[i] = c;
		} else {
			return false;
		}
	}
	if (label == 0 || s[n - 1] == '-')
		return false;	/* empty domain or label, trailing dot */
	key[n] = '\0';
	out->key_len = n;
	out->domain_off = at + 1;
	cm_addr_set_base(out, at, sep);
	return true;
}
