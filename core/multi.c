/*
 * multi.c - decisions across several newsletter types (see multi.h).
 */
#include "multi.h"

cm_status
cm_multi_decide(cm_index *idx, const cm_type_policy *const *tps, size_t n,
    const cm_addr *addr, int64_t now_us, cm_decision *out, size_t *which)
{
	cm_status err = CM_OK;
	size_t err_at = 0;

	if (n == 0 || tps == NULL || out == NULL)
		return CM_EINVAL;
	for (size_t i = 0; i < n; i++) {
		cm_decision d;
		cm_status st = cm_decide(idx, tps[i], addr, now_us, &d);

		if (st != CM_OK) {
			if (err == CM_OK) {
				err = st;
				err_at = i;
			}
			continue;
		}
		if (d.verdict == CM_DENY) {
			*out = d;
			if (which != NULL)
				*which = i;
			return CM_OK;
		}
	}
	if (err != CM_OK) {
		if (which != NULL)
			*which = err_at;
		return err;
	}
	out->verdict = CM_ALLOW;
	out->reason = CM_REASON_NONE;
	if (which != NULL)
		*which = 0;
	return CM_OK;
}
