/*
 * reserve.c - the disk space an import asks for up front (see reserve.h).
 *
 * cm_index_import_begin allocates RESERVE and room for copies of the
 * pages the import changes (up to 64 times RESERVE, at most twice the
 * index in use) before anything is written.  Measured: 200,000 CSV rows
 * of 122 octets (24.4 MB) make 61 MiB of a new index, for which this
 * estimate is 87 MB; 2,000 rows (229 KB) into an index of 174 MiB add
 * 23 MiB (copies of changed pages), for which RESERVE and its copies
 * come to 71 MB.  The former 4 x the file + 16 MiB, with 64 times that
 * for the copies, asked 25 MB of disk for a 2.3 MB file into a new index
 * and about twice a large index for one row.  Too little is safe: the
 * map fills, is grown, and the file is read again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "diag.h"
#include "reserve.h"

#define CHUNK (1 << 16)

size_t
ctl_reserve_estimate(int fd, uint64_t total, ctl_fmt fmt)
{
	char *buf = malloc(CHUNK);
	uint64_t lines = 0, off = 0;
	ssize_t n;

	while (buf != NULL && (n = pread(fd, buf, CHUNK, (off_t)off)) > 0) {
		for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n -
		    p))) != NULL; p++)
			lines++;
		off += (uint64_t)n;
	}
	free(buf);
	if (fmt == CTL_FMT_YAML)
		lines /= 5;
	lines++;
	if (total > SIZE_MAX / 8 || lines > SIZE_MAX / 1024)
		return SIZE_MAX / 4;
	return (size_t)(2 * total + 192 * lines) + (256u << 10);
}

void
ctl_reserve_report(const char *name, const char *dir)
{
	struct statvfs vfs;

	if (statvfs(dir, &vfs) == 0)
		ctl_diag_err("%s: nothing imported: %s has %.1f MiB available",
		    name, dir, (double)vfs.f_bavail * (double)vfs.f_frsize /
		    1048576.0);
}
