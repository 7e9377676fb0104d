/* parse.c - parsing of command-line and import values. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../core/duration.h"
#include "../core/names.h"
#include "../core/timefmt.h"
#include "../core/util.h"
#include "parse.h"

cm_status
ctl_parse_time(const char *s, int64_t *out_us)
{
	if (strcmp(s, "now") == 0) {
		*out_us = cm_time_now();
		return CM_OK;
	}
	return cm_time_parse(s, strlen(s), out_us);
}

bool
ctl_parse_duration(const char *s, int64_t *out_us)
{
	uint64_t sec;

	if (cm_duration_parse(s, &sec, NULL) != CM_OK || sec == 0 ||
	    sec > (uint64_t)(INT64_MAX / 1000000))
		return false;
	*out_us = (int64_t)sec * 1000000;
	return true;
}

bool
ctl_parse_count(const char *s, size_t max, size_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > max)
		return false;
	*out = (size_t)v;
	return true;
}

bool
ctl_parse_type_id(const char *s, size_t len)
{
	return cm_type_id_valid(s, len);
}

bool
ctl_parse_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *e = p + len;

	while (p < e) {
		unsigned char c;
		size_t n;

		/* eight ASCII octets at a time: no high bit, no NUL */
		while (e - p >= 8) {
			uint64_t w;

			memcpy(&w, p, 8);
			if (((w | ((w - UINT64_C(0x0101010101010101)) & ~w)) &
			    UINT64_C(0x8080808080808080)) != 0)
				break;
			p += 8;
		}
		if (p == e)
			break;
		c = *p;
		if (c - 1u < 0x7fu) {	/* 0x01..0x7f */
			p++;
			continue;
		}
		if (c == 0 || (n = cm_utf8_len(p, (size_t)(e - p))) == 0)
			return false;
		p += n;
	}
	return true;
}
