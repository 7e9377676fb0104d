/* parse.c - parsing of command-line and import values. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../core/index.h"
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
	int64_t unit;
	uint64_t n = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return false;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	switch (*p) {
	case 's': unit = 1000000; break;
	case 'm': unit = INT64_C(60) * 1000000; break;
	case 'h': unit = INT64_C(3600) * 1000000; break;
	case 'd': unit = INT64_C(86400) * 1000000; break;
	case 'w': unit = INT64_C(604800) * 1000000; break;
	default: return false;
	}
	if (p[1] != '\0' || n == 0 || n > (uint64_t)(INT64_MAX / unit))
		return false;
	*out_us = (int64_t)n * unit;
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
	if (len == 0 || len > CM_TYPE_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
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
