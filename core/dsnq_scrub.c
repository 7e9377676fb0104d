/* dsnq_scrub.c - deleting spooled DSNs about an erased address
 * (dsnq_scrub.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsnq_scrub.h"
#include "util.h"

/* as dsnq.c */
#define SUF_PENDING ".dsn"
#define SUF_FAILED ".failed"
#define FILE_MAX (64u * 1024 * 1024)

static bool
ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcmp(s + n - m, suf) == 0;
}

/* Does spool file NAME match E?  *HIT; CM_NOTFOUND if it went away. */
static cm_status
file_matches(int dfd, const char *name, const cm_erasure *e, bool *hit)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NOCTTY);
	struct stat sb;
	char *buf;
	size_t n = 0;
	cm_status st = CM_OK;

	*hit = false;
	if (fd < 0)
		return cm_status_errno(errno);
	if (fstat(fd, &sb) != 0 || (size_t)sb.st_size > FILE_MAX) {
		close(fd);
		return CM_EIO;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return CM_ENOMEM;
	}
	while (n < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)sb.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			st = cm_status_errno(errno);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (st == CM_OK)
		*hit = cm_erasure_match(e, buf, n);
	free(buf);
	return st;
}

cm_status
cm_dsnq_scrub_run(const char *spool, const cm_erasure *e, size_t *n)
{
	DIR *d;
	struct dirent *de;
	size_t dummy;
	cm_status st = CM_OK;

	if (n == NULL)
		n = &dummy;
	*n = 0;
	if (spool == NULL || e == NULL)
		return CM_EINVAL;
	if ((d = opendir(spool)) == NULL)
		return cm_status_errno(errno);
	while (st == CM_OK && (de = readdir(d)) != NULL) {
		bool hit;

		if (de->d_name[0] == '.' || (!ends_with(de->d_name,
		    SUF_PENDING) && !ends_with(de->d_name, SUF_FAILED)))
			continue;
		st = file_matches(dirfd(d), de->d_name, e, &hit);
		if (st == CM_NOTFOUND) {	/* delivered meanwhile */
			st = CM_OK;
			continue;
		}
		if (st != CM_OK || !hit)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			(*n)++;
		else if (errno != ENOENT)
			st = cm_status_errno(errno);
	}
	closedir(d);
	if (*n > 0)
		cm_fsync_dir(spool);
	return st;
}
