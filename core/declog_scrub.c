/* declog_scrub.c - rewriting the decision log without an erased address
 * (declog_scrub.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "declog_line.h"
#include "declog_scrub.h"
#include "util.h"

#define REOPEN_MAX 16

int
cm_declog_scrub_lock(int fd)
{
	struct stat sb;

	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR)
			return -1;
	if (fstat(fd, &sb) != 0) {
		int e = errno;

		(void)flock(fd, LOCK_UN);
		errno = e;
		return -1;
	}
	if (sb.st_nlink == 0) {
		(void)flock(fd, LOCK_UN);
		return 0;
	}
	return 1;
}

void
cm_declog_scrub_unlock(int fd)
{
	(void)flock(fd, LOCK_UN);
}

size_t
cm_declog_scrub_base(const char *rcpt, char sep, char *out, size_t size)
{
	const char *at, *s;
	size_t n;

	if (sep == 0 || rcpt == NULL || (at = strrchr(rcpt, '@')) == NULL ||
	    at == rcpt || rcpt[0] == sep ||
	    (s = memchr(rcpt, sep, (size_t)(at - rcpt))) == NULL)
		return 0;
	n = (size_t)(s - rcpt) + strlen(at);
	if (n >= size)
		return 0;
	memcpy(out, rcpt, (size_t)(s - rcpt));
	memcpy(out + (s - rcpt), at, strlen(at) + 1);
	return n;
}

/* Copy the lines of IN not matching E to OUT; *N counts removed ones. */
static cm_status
copy_lines(FILE *in, int out, const cm_erasure *e, uint64_t *n)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	cm_status st = CM_OK;

	errno = 0;
	while ((len = getline(&line, &cap, in)) > 0) {
		if (cm_erasure_match(e, line, (size_t)len)) {
			(*n)++;
			continue;
		}
		if (out >= 0 && cm_write_all(out, line, (size_t)len) != 0) {
			st = cm_status_errno(errno);
			break;
		}
	}
	if (st == CM_OK && ferror(in))
		st = CM_EIO;
	free(line);
	return st;
}

/* Rewrite DIR/NAME without the lines matching E, under its lock. */
static cm_status
scrub_file(int dfd, const char *name, const cm_erasure *e,
    cm_declog_scrub_stats *st)
{
	char tmp[NAME_MAX + 16];
	FILE *in = NULL;
	int fd = -1, out = -1, r = 0;
	uint64_t n = 0;
	struct stat sb;
	cm_status s;

	snprintf(tmp, sizeof(tmp), ".%s.scrub", name);
	for (int i = 0; i < REOPEN_MAX && r == 0; i++) {
		if (fd >= 0)
			close(fd);
		fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
		    O_NOCTTY);
		if (fd < 0)
			return errno == ENOENT ? CM_OK : cm_status_errno(errno);
		r = cm_declog_scrub_lock(fd);
	}
	if (r != 1) {
		s = r < 0 ? cm_status_errno(errno) : CM_EIO;
		close(fd);
		return s;
	}
	/* first pass: anything to remove? */
	if ((in = fdopen(dup(fd), "r")) == NULL) {
		s = CM_ENOMEM;
		goto done;
	}
	if ((s = copy_lines(in, -1, e, &n)) != CM_OK || n == 0)
		goto done;
	rewind(in);
	n = 0;
	if (fstat(fd, &sb) != 0) {
		s = cm_status_errno(errno);
		goto done;
	}
	out = cm_tmpfile_open(dfd, tmp, sb.st_mode & 07777);
	if (out < 0) {
		s = cm_status_errno(errno);
		goto done;
	}
	(void)fchmod(out, sb.st_mode & 07777);
	if (fchown(out, sb.st_uid, sb.st_gid) != 0) {
		/* not root: the file stays ours, as the directory allows */
	}
	if ((s = copy_lines(in, out, e, &n)) != CM_OK) {
		cm_tmpfile_abort(dfd, tmp, out);
		goto done;
	}
	if ((s = cm_tmpfile_commit(dfd, tmp, out, name, true)) != CM_OK)
		goto done;
	st->files++;
	st->lines += n;
done:
	if (in != NULL)
		fclose(in);
	cm_declog_scrub_unlock(fd);
	close(fd);
	return s;
}

cm_status
cm_declog_scrub_run(const char *dir, const cm_erasure *e,
    cm_declog_scrub_stats *st)
{
	cm_declog_scrub_stats dummy;
	DIR *d;
	struct dirent *de;
	cm_status s = CM_OK;

	if (st == NULL)
		st = &dummy;
	st->files = st->lines = 0;
	if (dir == NULL || e == NULL)
		return CM_EINVAL;
	if ((d = opendir(dir)) == NULL)
		return cm_status_errno(errno);
	while (s == CM_OK && (de = readdir(d)) != NULL)
		if (cm_declog_line_name_day(de->d_name) >= 0)
			s = scrub_file(dirfd(d), de->d_name, e, st);
	closedir(d);
	return s;
}
