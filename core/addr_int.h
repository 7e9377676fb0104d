/*
 * addr_int.h - what core/addr.c (the long way) and core/addr_fast.c (the
 * short way) share, and the two ways for their tests; private to them.
 *
 * cm_addr_normalize() takes the short way (cm_addr_fast) where it can
 * and the long way (cm_addr_normalize_long) for everything else.  The
 * short way must give exactly the key the long way gives: a different
 * key for an address would miss its consent record, or its opt-out.
 * tests/unit/test_addr_fast.c and tests/fuzz/fuzz_addr.c compare the two.
 */
#ifndef CM_ADDR_INT_H
#define CM_ADDR_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

/* Classes of the ASCII octets, one table (cm_addr_cls, in addr.c) */
#define C_ATEXT 0x01	/* RFC 5322 atext */
#define C_LDH 0x02	/* letter, digit, hyphen */
#define C_DTEXT 0x04	/* RFC 5321 dtext (inside an address literal) */
#define C_PLAIN 0x08	/* atext but '%' and '!' (no routing form) */
extern const unsigned char cm_addr_cls[256];

#define LABEL_MAX 63	/* octets of a domain label */

static inline unsigned char
cm_addr_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* OUT's base from its key (out->key, out->key_len; the local part LLEN
 * octets): the sub-address starts at the first SEP (0: none), unless it
 * is the first character of the local part. */
void cm_addr_set_base(cm_addr *out, size_t llen, unsigned char sep);

/*
 * The short way: IN[0..N) written as "local@domain" or "<local@domain>",
 * a dot-atom local part of ASCII atext without '%' or '!', an LDH domain
 * without trailing dot, within the limits, is normalized into *OUT in
 * one pass (local part lower-cased with FOLD; sub-address from the first
 * SEP, 0 for none; SEP already checked) and true is returned.  For any
 * other input, valid or not: false, *OUT undefined.
 */
bool cm_addr_fast(const char *in, size_t n, bool fold, unsigned char sep,
    cm_addr *out);

/* cm_addr_normalize() without the short way: every input the long way. */
cm_status cm_addr_normalize_long(const char *in, size_t len,
    const cm_addr_opts *opts, cm_addr *out);

#endif
