/* duration.c - "N" UNIT durations (see duration.h). */
#include <stddef.h>

#include "duration.h"
#include "number.h"

cm_status
cm_duration_parse(const char *s, uint64_t *out_s, const char **why)
{
	uint64_t v = 0, mul;
	const char *p = s;

	if (why != NULL)
		*why = NULL;
	if (*p < '0' || *p > '9')
		return CM_EINVAL;
	if (!cm_number_u64(&p, UINT64_MAX, &v))
		return CM_ETOOLONG;	/* digits, so too large */
	switch (*p) {
	case 's': mul = 1; break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	case 'w': mul = 604800; break;
	case '\0':
		if (why != NULL)
			*why = "a unit is required";
		return CM_EINVAL;
	default:
		return CM_EINVAL;
	}
	if (p[1] != '\0')
		return CM_EINVAL;
	if (v > UINT64_MAX / mul)
		return CM_ETOOLONG;
	*out_s = v * mul;
	return CM_OK;
}
