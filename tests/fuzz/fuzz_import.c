/*
 * fuzz_import.c - libFuzzer target for the import readers of consentctl
 * (CSV, JSON Lines, YAML through consentctl/rows.h) and the JSON object
 * parser.
 *
 * The first octet picks the format; the rest is the file.  Every row
 * read must have NUL-terminated fields of the stated length inside the
 * row; the reader must end with EOF or FATAL within a bounded number of
 * calls.  The consentctl modules are compiled into the target (run.sh
 * builds only core/ and config/).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "consentctl/csv.c"
#include "consentctl/jsonl.c"
#include "consentctl/parse.c"
#include "consentctl/rows.c"
#include "consentctl/yamlin.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static void
read_all(int fd, ctl_fmt fmt, size_t size)
{
	ctl_rows *r;
	ctl_row row;
	size_t calls = 0;

	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	r = ctl_rows_open(fd, fmt);
	if (r == NULL)
		return;
	for (;;) {
		ctl_rows_res res = ctl_rows_next(r, &row);

		CHECK(++calls <= size + 2);
		if (res == CTL_ROWS_EOF || res == CTL_ROWS_FATAL)
			break;
		if (res == CTL_ROWS_BAD) {
			CHECK(ctl_rows_error(r)[0] != '\0');
			continue;
		}
		CHECK(res == CTL_ROWS_ROW);
		for (int i = 0; i < CTL_F_COUNT; i++) {
			if (row.v[i] == NULL)
				continue;
			CHECK(row.len[i] > 0);
			CHECK(row.v[i][row.len[i]] == '\0');
			(void)ctl_parse_utf8(row.v[i], row.len[i]);
		}
	}
	ctl_rows_close(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ctl_fmt fmts[3] = { CTL_FMT_CSV, CTL_FMT_JSONL,
	    CTL_FMT_YAML };
	int fd;

	if (size == 0 || size > 1 << 20)
		return 0;
	/* the JSON object parser alone */
	{
		char *scratch = malloc(size);
		ctl_json_member m[CTL_JSONL_MEMBERS_MAX];
		size_t n;
		char err[160];
		unsigned long col = 0;

		CHECK(scratch != NULL);
		if (!ctl_jsonl_parse((const char *)data + 1, size - 1, scratch,
		    m, &n, err, sizeof(err), &col))
			CHECK(col >= 1 && col <= size && err[0] != '\0');
		free(scratch);
	}
	fd = memfd_create("fuzz-import", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(write(fd, data + 1, size - 1) == (ssize_t)(size - 1));
	read_all(fd, fmts[data[0] % 3], size);
	close(fd);
	return 0;
}
