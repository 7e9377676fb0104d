/* dsnq_scrub.c - deleting spooled DSNs about an erased address
 * (dsnq_scrub.h). */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "dsnq_scrub.h"
#include "dsnq_spool.h"
#include "util.h"

/* larger than any spool file: read whole what could be one */
#define FILE_MAX (64u * 1024 * 1024)

/* Does spool file NAME match E?  *HIT; CM_NOTFOUND if it went away. */
static cm_status
file_matches(int dfd, const char *name, const cm_erasure *e, bool *hit)
{
	char *buf;
	size_t n;
	cm_status st = cm_read_file_at(dfd, name, false, FILE_MAX, &buf, &n);

	*hit = false;
	if (st != CM_OK)
		return st == CM_ETOOLONG ? CM_EIO : st;
	*hit = cm_erasure_match(e, buf, n);
	free(buf);
	return CM_OK;
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
		bool hit, failed;
		int fd;

		if (!cm_dsnq_spool_name(de->d_name, &failed))
			continue;
		/* under the file's lock (dsnq_spool.h): the queue noting an
		 * attempt cannot write it back after it is deleted */
		if ((fd = cm_dsnq_spool_lock(dirfd(d), de->d_name)) < 0) {
			if (errno != ENOENT)	/* ENOENT: delivered meanwhile */
				st = cm_status_errno(errno);
			continue;
		}
		st = file_matches(dirfd(d), de->d_name, e, &hit);
		if (st == CM_NOTFOUND)
			st = CM_OK;
		else if (st == CM_OK && hit) {
			if (unlinkat(dirfd(d), de->d_name, 0) == 0)
				(*n)++;
			else if (errno != ENOENT)
				st = cm_status_errno(errno);
		}
		close(fd);
	}
	closedir(d);
	if (*n > 0)
		cm_fsync_dir(spool);
	return st;
}
