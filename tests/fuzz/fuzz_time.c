/*
 * fuzz_time.c - libFuzzer target for core/timefmt.h.
 *
 * The input is parsed as an RFC 3339 date-time; a success must format to
 * a canonical string that parses back to the same value and formats to
 * the same string.  The first eight octets, read as a time, must format
 * within the buffer and, inside the supported range, parse back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

/* 9999-12-31T23:59:59.999999Z */
#define MAX_US INT64_C(253402300799999999)

static void
round_trip(int64_t us)
{
	char buf[CM_TIME_BUFSZ], buf2[CM_TIME_BUFSZ];
	int64_t back;

	CHECK(cm_time_format(us, buf) == buf);
	CHECK(strlen(buf) < CM_TIME_BUFSZ);
	if (us < 0 || us > MAX_US)
		return;
	CHECK(strlen(buf) >= 20 && buf[strlen(buf) - 1] == 'Z');
	CHECK(cm_time_parse(buf, strlen(buf), &back) == CM_OK);
	CHECK(back == us);
	CHECK(strcmp(cm_time_format(back, buf2), buf) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t us = -1, us2;
	cm_status st;

	st = cm_time_parse((const char *)data, size, &us);
	CHECK(st == CM_OK || st == CM_TIME_INVALID || st == CM_TIME_RANGE);
	if (st == CM_OK) {
		CHECK(us >= 0 && us <= MAX_US);
		CHECK(cm_time_parse((const char *)data, size, &us2) == CM_OK);
		CHECK(us2 == us);
		round_trip(us);
	} else {
		CHECK(us == -1);	/* untouched on failure */
	}

	if (size >= 8) {
		uint64_t v;

		memcpy(&v, data, 8);
		round_trip((int64_t)v);
		/* and folded into the supported range */
		round_trip((int64_t)(v % (uint64_t)(MAX_US + 1)));
	}
	return 0;
}
