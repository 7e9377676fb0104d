/*
 * addr_int.h - the two ways of core/addr.c, for its tests alone.
 *
 * cm_addr_normalize() takes the short way (cm_addr_fast) where it can
 * and the long way (cm_addr_normalize_long) for everything else.  The
 * short way must give exactly the key the long way gives: a different
 * key for an address would miss its consent record, or its opt-out.
 * tests/unit/test_addr.c and tests/fuzz/fuzz_addr.c compare the two.
 */
#ifndef CM_ADDR_INT_H
#define CM_ADDR_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

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
