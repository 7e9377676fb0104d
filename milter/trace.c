/*
 * trace.c - the X-Consent-Milter trace header (see trace.h).
 */
#include "trace.h"

#include <stdio.h>

#include "filter.h"

void
cm_trace_value(const cm_tmpl *t, const char **vals, bool monitor,
    size_t removed, size_t kept, size_t denied, char *v, size_t size)
{
	char r[32], k[32];
	size_t len;

	snprintf(r, sizeof(r), "%zu", removed);
	snprintf(k, sizeof(k), "%zu", kept);
	vals[CM_TMPL_REMOVED] = r;
	vals[CM_TMPL_KEPT] = k;
	len = cm_tmpl_expand(t, vals, CM_TMPL_ASCII, v, size, NULL);
	vals[CM_TMPL_REMOVED] = vals[CM_TMPL_KEPT] = NULL;
	if (monitor && len < size)
		snprintf(v + len, size - len, "; mode=monitor; denied=%zu",
		    denied);
}

int
cm_trace_set(SMFICTX *ctx, int own_hdrs, bool can_chghdr, bool can_addhdr,
    const char *value)
{
	if (can_chghdr)
		for (int i = own_hdrs; i >= 1; i--)
			(void)smfi_chgheader(ctx, CM_FILTER_TRACE_HEADER, i,
			    NULL);
	if (!can_addhdr)
		return 0;
	return smfi_addheader(ctx, CM_FILTER_TRACE_HEADER, (char *)value) ==
	    MI_SUCCESS ? 0 : -1;
}
