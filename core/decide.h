/*
 * decide.h - the decision engine (prefix cm_decide, cm_reason_).
 *
 * One function decides whether recipient R may receive newsletter type T,
 * for the milter and for `consentctl check` alike (SPEC §4):
 *
 *  1. R's address, R's base address (without sub-address) or R's domain
 *     is suppressed for all marketing -> deny: objection (address-wide
 *     objection, unless the same address granted T after it: a later
 *     grant lifts the objection for its own type only), suppressed
 *     (erasure tombstone or domain suppression);
 *  2. T requires no-objection: deny (withdrawn) only if R (or R's base
 *     address) withdrew T; else allow;
 *  3. a record (R, T) -- or, when R has none, (base, T) -- in state
 *     granted, confirmed where T requires double opt-in, and not past T's
 *     validity -> allow.  A withdrawal of T by the base address denies
 *     every sub-address;
 *  4. otherwise deny: no-consent (no record), withdrawn, unconfirmed
 *     (pending, or granted without confirmation under double opt-in),
 *     expired (now >= max(granted, confirmed) + validity).
 *
 * The outcome is allow, deny(reason) or an error status; an error is
 * never reported as allow or deny.  The decision from what was read is
 * the pure function cm_rules_decide (rules.h).
 */
#ifndef CM_DECIDE_H
#define CM_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "index.h"
#include "status.h"

typedef enum cm_requirement {
	CM_REQ_OPT_IN = 1,
	CM_REQ_DOUBLE_OPT_IN,
	CM_REQ_NO_OBJECTION
} cm_requirement;

/* "opt-in", "double-opt-in", "no-objection"; parse returns CM_EINVAL. */
const char *cm_requirement_name(cm_requirement r);
cm_status cm_requirement_parse(const char *s, cm_requirement *out);

/* What the decision needs to know of a newsletter type. */
typedef struct cm_type_policy {
	const char *id;		/* type id as stored in the index */
	cm_requirement requirement;
	int64_t validity_us;	/* 0 = consent does not expire */
} cm_type_policy;

typedef enum cm_verdict { CM_ALLOW = 1, CM_DENY } cm_verdict;

typedef enum cm_reason {
	CM_REASON_NONE = 0,	/* with CM_ALLOW */
	CM_REASON_NO_CONSENT,
	CM_REASON_WITHDRAWN,
	CM_REASON_UNCONFIRMED,
	CM_REASON_EXPIRED,
	CM_REASON_OBJECTION,
	CM_REASON_SUPPRESSED
} cm_reason;

/* "none", "no-consent", "withdrawn", "unconfirmed", "expired",
 * "objection", "suppressed" */
const char *cm_reason_name(cm_reason r);
const char *cm_verdict_name(cm_verdict v);	/* "allow", "deny" */

typedef struct cm_decision {
	cm_verdict verdict;
	cm_reason reason;
} cm_decision;

/*
 * Decide for ADDR (normalized) and type TP at time NOW_US.  Returns CM_OK
 * and fills *OUT, or an error status (CM_EDB, CM_EFORMAT, CM_ENOMEM, ...)
 * with *OUT set to nothing usable.  Thread-safe; one short read
 * transaction; allocates nothing on the common path.
 */
cm_status cm_decide(cm_index *idx, const cm_type_policy *tp,
    const cm_addr *addr, int64_t now_us, cm_decision *out);

/*
 * Decide for recipient RAW (LEN octets, as the MTA or the operator gave
 * it) and every type of TPS[0..N-1] (N >= 1): the one entry point for
 * the milter and `consentctl check`, so both apply the same rule to an
 * address that cannot be normalized.
 *
 * RAW is normalized with OPTS (NULL: the defaults) into *ADDR and
 * *ADDR_ST is set to the normalization status (CM_OK: *ADDR is valid).
 * When it cannot be normalized, cm_rules_unnormalized decides: CM_OK
 * with *OUT deny (no-consent), whatever the index holds and even when
 * IDX is NULL.  Else as cm_multi_decide (multi.h), *WHICH (may be NULL)
 * naming the deciding type; IDX NULL (no index open) is CM_EIO.
 * Errors: CM_EINVAL (bad arguments), CM_EIO, CM_ENOMEM, or what the
 * lookup returned; *OUT is then set to nothing usable.
 */
cm_status cm_decide_raw(cm_index *idx, const cm_type_policy *const *tps,
    size_t n, const char *raw, size_t len, const cm_addr_opts *opts,
    int64_t now_us, cm_addr *addr, cm_status *addr_st, cm_decision *out,
    size_t *which);

#endif
