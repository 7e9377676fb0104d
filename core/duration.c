/* duration.c - "N" UNIT durations (see duration.h). */
#include <stddef.h>
#include <stdio.h>

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

char *
cm_duration_format_ms(uint64_t ms, char *buf)
{
	static const struct { char unit; uint64_t s; } u[] = {
		{ 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 },
	};
	uint64_t s = ms / 1000 + (ms % 1000 >= 500);	/* nearest second */
	size_t n = 0;

	if (ms < 1000) {
		snprintf(buf, CM_DURATION_BUFSZ, "%ums", (unsigned)ms);
		return buf;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		uint64_t q = s / u[i].s;

		if (q == 0)
			continue;
		s %= u[i].s;
		n += (size_t)snprintf(buf + n, CM_DURATION_BUFSZ - n, "%llu%c",
		    (unsigned long long)q, u[i].unit);
	}
	return buf;
}
