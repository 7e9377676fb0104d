/*
 * classify.h - which newsletter types a message is (prefix cm_class_).
 *
 * Every rule of every type is tried; the result is the set of all types
 * that match (in file order), never just the first one: a message that
 * matches several types is checked against each of them, or refused as
 * ambiguous (multiple_types: in policy.h).
 *
 * The envelope sender is matched in the normalized form of core/addr.h
 * (the one recipients get: quotes and a trailing dot on the domain gone,
 * domain lower-cased and IDNA), both with and without its sub-address,
 * so "\"weekly\"@news.example.com", "weekly@news.example.com." and
 * "weekly+x@news.example.com" all match envelope_sender:
 * weekly@news.example.com; and as written (without angle brackets and
 * source route), so that no rule matches fewer senders than before.  List-Id values are read per RFC 2919
 * (core/listid.h).  Nothing here logs or allocates.
 */
#ifndef CM_CLASSIFY_H
#define CM_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/status.h"
#include "policy.h"

#define CM_CLASS_MAX_TYPES 1000	/* the schema's limit on newsletters */

/* A set of types, by their index in the policy (cm_policy_type()). */
typedef struct cm_typeset {
	unsigned char bit[(CM_CLASS_MAX_TYPES + 7) / 8];
	size_t n;		/* number of members */
	size_t top;		/* bit[top..] are all zero */
} cm_typeset;

void cm_class_clear(cm_typeset *s);
/* Add type I (< CM_CLASS_MAX_TYPES; larger is ignored). */
void cm_class_add(cm_typeset *s, size_t i);
bool cm_class_has(const cm_typeset *s, size_t i);
/* Add every member of FROM to TO. */
void cm_class_union(cm_typeset *to, const cm_typeset *from);
/* *OUT = the members of A that are not in B. */
void cm_class_minus(cm_typeset *out, const cm_typeset *a,
    const cm_typeset *b);
/* The smallest member >= I, or CM_CLASS_MAX_TYPES if none. */
size_t cm_class_next(const cm_typeset *s, size_t i);

/*
 * The members' ids ("offers,weekly-news"; NAMES: their names joined by
 * ", ") into OUT (SIZE > 0 octets), in policy order; a list that does not
 * fit ends in ",..." .  Returns OUT.
 */
const char *cm_class_join(const cm_policy *p, const cm_typeset *s,
    bool names, char *out, size_t size);

/* Could a header add a type to HAVE: has a type not in HAVE a header or
 * list_id rule?  (If not, mail typed by its envelope is decided at RCPT
 * alone.) */
bool cm_class_headers_may_add(const cm_policy *p, const cm_typeset *have);

/*
 * The fast path, one rule for both daemons: is SMTP mail of the envelope
 * types TS (n > 0) decided by consent-policy alone, the milter accepting
 * it at MAIL FROM?  True when policy.decides_envelope_types is on, mode
 * is enforce, no header or list_id rule of another type could add a
 * type, and links: is off (its headers are added at end of data).  The
 * milter also needs consent-policy's stamp (core/pdstamp.h) to be fresh
 * and for its configuration before it takes the path.
 */
bool cm_class_pd_fast(const cm_policy *p, const cm_typeset *ts);

/*
 * Envelope classification: add to *OUT every type with an
 * envelope_sender rule matching SENDER (LEN octets as the MTA passed it,
 * angle brackets and source route allowed) or a sasl_login rule equal to
 * SASL_LOGIN (may be NULL).  An empty or "<>" sender matches no
 * envelope_sender rule.  Returns CM_OK, or the cm_addr_normalize() status
 * when a non-empty sender cannot be normalized; the rules are then
 * matched against the sender as written only, and the SASL rules still
 * apply.  A caller must not take such mail for "no newsletter" when no
 * type matched.
 */
cm_status cm_class_envelope(const cm_policy *p, const char *sender,
    size_t len, const char *sasl_login, cm_typeset *out);

/*
 * Header classification: add to *OUT every type with a header rule (name
 * case-insensitive, value exact or glob, white space around it ignored)
 * or list_id rule matching any of the N headers NAMES[i]: VALUES[i].
 * Returns CM_OK, or CM_EINVAL when a List-Id header cannot be read (RFC
 * 2919) and some type has a list_id rule (the other rules are still
 * applied): the message cannot be classified safely.
 */
cm_status cm_class_headers(const cm_policy *p, size_t n,
    const char *const *names, const char *const *values, cm_typeset *out);

#endif
