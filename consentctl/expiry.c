/*
 * expiry.c - when a stored consent expires (see expiry.h).
 */
#include "expiry.h"

ctl_expiry_kind
ctl_expiry(const cm_policy *p, const cm_record *r, int64_t *from,
    int64_t *until)
{
	const cm_ntype *nt = cm_policy_find_type(p, r->type);
	const cm_type_policy *tp;
	int64_t f;

	if (nt == NULL || (tp = cm_ntype_policy(nt))->validity_us <= 0)
		return CTL_EXPIRY_NEVER;
	if (r->state != CM_STATE_GRANTED ||
	    (tp->requirement == CM_REQ_DOUBLE_OPT_IN && r->confirmed_us == 0))
		return CTL_EXPIRY_NONE;
	f = r->granted_us > r->confirmed_us ? r->granted_us : r->confirmed_us;
	if (from != NULL)
		*from = f;
	*until = f > INT64_MAX - tp->validity_us ? INT64_MAX :
	    f + tp->validity_us;
	return CTL_EXPIRY_AT;
}
