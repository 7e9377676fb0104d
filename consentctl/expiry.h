/*
 * expiry.h - when a stored consent expires under the loaded policy
 * (prefix ctl_expiry): shared by `consentctl expiring` and `show`.
 */
#ifndef CTL_EXPIRY_H
#define CTL_EXPIRY_H

#include <stdint.h>

#include "../config/policy.h"
#include "../core/index.h"

typedef enum ctl_expiry_kind {
	CTL_EXPIRY_NEVER = 1,	/* the type has no valid_for period (or is
				 * not in the policy) */
	CTL_EXPIRY_NONE,	/* the type has one, but no consent is in
				 * force: not granted, or a double opt-in
				 * not yet confirmed */
	CTL_EXPIRY_AT		/* expires at *UNTIL */
} ctl_expiry_kind;

/*
 * The expiry of record R under policy P: a granted record (confirmed,
 * for a double opt-in type) of a type with valid_for expires valid_for
 * after the later of its granted and confirmed times (the milter then
 * denies it, reason expired).  For CTL_EXPIRY_AT, *FROM (if not NULL)
 * gets that later time and *UNTIL the expiry (saturated at INT64_MAX);
 * otherwise neither is written.  Never fails.
 */
ctl_expiry_kind ctl_expiry(const cm_policy *p, const cm_record *r,
    int64_t *from, int64_t *until);

#endif
