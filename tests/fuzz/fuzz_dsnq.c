/*
 * fuzz_dsnq.c - libFuzzer target for the DSN spool reader
 * (core/dsnq.h: cm_dsnq_list, which reads and parses every spool file).
 *
 * The first octet picks the file name (bit 0: pending ID.dsn or failed
 * ID.failed); the rest is the file's content.  A file that is not a valid
 * spool file is skipped; for one that is, the entry must have an id, a
 * recipient, a size no larger than the file and, when failed, may carry
 * an error.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dsnq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static char dir[64];

struct seen {
	size_t n, size;
	bool failed;
};

static int
on_entry(void *arg, const cm_dsnq_entry *e)
{
	struct seen *s = arg;

	s->n++;
	CHECK(e->id != NULL && strcmp(e->id, "20261123T010203-1") == 0);
	CHECK(e->failed == s->failed);
	CHECK(e->rcpt != NULL);
	(void)strlen(e->rcpt);
	if (e->error != NULL)
		(void)strlen(e->error);
	CHECK(e->size <= s->size);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[160];
	struct seen s = { 0, 0, false };
	int fd;

	if (size < 1)
		return 0;
	if (dir[0] == '\0') {
		strcpy(dir, "/tmp/fuzz_dsnq.XXXXXX");
		CHECK(mkdtemp(dir) != NULL);
	}
	s.failed = data[0] & 1;
	data++;
	size--;
	s.size = size;
	snprintf(path, sizeof(path), "%s/20261123T010203-1%s", dir,
	    s.failed ? ".failed" : ".dsn");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	close(fd);
	CHECK(cm_dsnq_list(dir, on_entry, &s) == CM_OK);
	CHECK(s.n <= 1);
	unlink(path);
	return 0;
}
