/*
 * verdict.c - recipients against a set of types; non-SMTP submissions
 * (see verdict.h).
 */
#include "verdict.h"

#include <stdio.h>
#include <string.h>
#include <netinet/in.h>

#include "../core/timefmt.h"
#include "db.h"

void
cm_verdict_decide(const cm_policy *p, const cm_typeset *types,
    const char *raw, cm_verdict_res *res)
{
	const cm_type_policy *tps[CM_CLASS_MAX_TYPES];
	size_t n = 0, ntypes = cm_policy_ntypes(p);
	cm_status st, addr_st;
	cm_decision d;
	cm_index *idx;

	memset(res, 0, sizeof(*res));
	for (size_t i = cm_class_next(types, 0); i < ntypes;
	    i = cm_class_next(types, i + 1))
		tps[n++] = cm_ntype_policy(cm_policy_type(p, i));
	idx = cm_db_acquire();	/* NULL: no index (removed): an error */
	st = cm_decide_raw(idx, tps, n, raw, strlen(raw),
	    cm_policy_addr_opts(p), cm_time_now(), &res->addr, &addr_st, &d,
	    NULL);
	if (idx != NULL && st != CM_OK) {
		cm_index_error e;

		/* same thread, before the handle can be reopened */
		cm_index_error_get(idx, &e);
		if (e.lmdb_rc != 0)
			snprintf(res->detail, sizeof(res->detail),
			    "%.120s (LMDB %d)", e.text, e.lmdb_rc);
	}
	if (idx != NULL)
		cm_db_release(idx);
	res->normalized = addr_st == CM_OK;
	res->st = st != CM_OK ? st : addr_st;
	if (st != CM_OK)
		res->out = CM_OUT_ERROR;
	else if (d.verdict == CM_ALLOW)
		res->out = CM_OUT_ALLOW;
	else
		res->out = CM_OUT_DENY;
	res->reason = res->out == CM_OUT_DENY ? d.reason : CM_REASON_NONE;
}

bool
cm_verdict_non_smtp(const cm_policy *p, const struct sockaddr *hostaddr,
    const char *daemon_name)
{
	if (hostaddr != NULL && hostaddr->sa_family == AF_INET &&
	    ((const struct sockaddr_in *)(const void *)hostaddr)->sin_port == 0)
		return true;
	if (hostaddr != NULL && hostaddr->sa_family == AF_INET6 &&
	    ((const struct sockaddr_in6 *)(const void *)hostaddr)->sin6_port ==
	    0)
		return true;
	return cm_policy_non_smtp_daemon(p, daemon_name);
}
