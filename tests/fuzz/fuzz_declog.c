/*
 * fuzz_declog.c - libFuzzer target for the decision-log reader
 * (core/declog.h: cm_declog_reader_open/next).
 *
 * The first octet picks a filter (bit 0: type "offers", bit 1: rcpt
 * "bob@example.com", bit 2: verdict "deny", bit 3: a time window, bit 4:
 * action "removed"); the rest is written as one day file of a temporary
 * log directory and read to the end.  Every record returned must have the
 * filtered fields equal to the filter, a valid action and a time inside
 * the window; the reader ends with CM_NOTFOUND within one call per line.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/declog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static char dir[64], file[128];

static void
setup(void)
{
	strcpy(dir, "/tmp/fuzz_declog.XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(file, sizeof(file), "%s/decisions-2026-11-23.jsonl", dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cm_declog_filter f;
	cm_declog_reader *r;
	cm_declog_rec rec;
	size_t lines = 1, calls = 0;
	cm_status st;
	int fd;

	if (size < 1)
		return 0;
	if (dir[0] == '\0')
		setup();
	memset(&f, 0, sizeof(f));
	if (data[0] & 1)
		f.type = "offers";
	if (data[0] & 2)
		f.rcpt = "bob@example.com";
	if (data[0] & 4)
		f.verdict = "deny";
	if (data[0] & 8) {
		f.since_us = 1795392000000000LL + 3600000000LL; /* 01:00 */
		f.until_us = f.since_us + 7200000000LL;
	}
	if (data[0] & 16)
		f.action = "removed";
	data++;
	size--;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';

	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	close(fd);

	CHECK(cm_declog_reader_open(dir, &f, &r) == CM_OK);
	while ((st = cm_declog_reader_next(r, &rec)) == CM_OK) {
		cm_declog_action a;

		CHECK(++calls <= lines);
		CHECK(cm_declog_action_name(rec.action) != NULL);
		CHECK(cm_declog_action_parse(cm_declog_action_name(rec.action),
		    &a) == CM_OK && a == rec.action);
		if (f.type)
			CHECK(rec.type && strcmp(rec.type, f.type) == 0);
		if (f.verdict)
			CHECK(rec.verdict && strcmp(rec.verdict, f.verdict) == 0);
		if (f.action)
			CHECK(strcmp(cm_declog_action_name(rec.action),
			    f.action) == 0);
		if (f.rcpt)
			CHECK(rec.rcpt && strcmp(rec.rcpt, f.rcpt) == 0);
		if (f.since_us)
			CHECK(rec.time_us >= f.since_us &&
			    rec.time_us < f.until_us);
		/* every string is readable */
		if (rec.queue_id) (void)strlen(rec.queue_id);
		if (rec.message_id) (void)strlen(rec.message_id);
		if (rec.sender) (void)strlen(rec.sender);
		if (rec.campaign) (void)strlen(rec.campaign);
		if (rec.reason) (void)strlen(rec.reason);
	}
	CHECK(st == CM_NOTFOUND);
	CHECK(cm_declog_reader_bad(r) <= lines);
	cm_declog_reader_close(r);
	return 0;
}
