/*
 * erasure.h - what an erasure looks for outside the index (prefix
 * cm_erasure_): the spellings of an erased address in text such as a
 * decision log line or a spooled DSN.
 *
 * A set is made for one normalized address LOCAL@DOMAIN (as
 * cm_addr.key) and the sub-address separator SEP (0: none; also when
 * LOCAL holds SEP: a sub-address has no sub-addresses).  Text
 * matches when it contains, ASCII case-insensitively:
 *   - LOCAL@DOMAIN, or a sub-address LOCAL SEP TAG @DOMAIN (TAG: up to
 *     64 octets, none of '@', '=', '"', '<', '>', ',', space or control
 *     characters), optionally with a '"' before the '@' (a quoted local
 *     part);
 *   - the VERP spellings LOCAL=DOMAIN@ and LOCAL SEP TAG =DOMAIN@;
 *   - one of the strings added with cm_erasure_add (other known
 *     addresses, keyed hashes "hmac-sha256:HEX").
 * LOCAL must start the text or follow an octet other than an ASCII
 * letter, digit, '.', '_' or '-' (so "steve@x" is not "eve@x"), and
 * DOMAIN must end the text or be followed by an octet other than an
 * ASCII letter, digit or '-' (or a '.' before one of those).  The local
 * part and domain are searched as JSON writes them ('"' and '\\'
 * escaped) and as they are, and a domain of A-labels ("xn--") also in
 * U-labels (UTF-8), as an SMTPUTF8 message may spell it.
 *
 * Nothing here reads files or allocates during matching.
 */
#ifndef CM_ERASURE_H
#define CM_ERASURE_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

typedef struct cm_erasure cm_erasure;

/* New set for normalized address ADDR (must hold an '@') and SEP.
 * CM_OK, CM_EINVAL, CM_ENOMEM. */
cm_status cm_erasure_new(const char *addr, char sep, cm_erasure **out);

/* Add a literal string S (LEN octets) that text must not hold (matched
 * ASCII case-insensitively, anywhere); duplicates are kept once.
 * CM_OK, CM_EINVAL (empty), CM_ENOMEM. */
cm_status cm_erasure_add(cm_erasure *e, const char *s, size_t len);

/* Does TEXT (LEN octets, any content) hold a spelling of the address? */
bool cm_erasure_match(const cm_erasure *e, const char *text, size_t len);

/* NULL is a no-op. */
void cm_erasure_free(cm_erasure *e);

#endif
