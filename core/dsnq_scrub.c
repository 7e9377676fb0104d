/* dsnq_scrub.c - deleting spooled DSNs about an erased address
 * (dsnq_scrub.h). */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
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

/* Delete spool file NAME (in DFD) if it matches E, under its lock
 * (dsnq_spool.h): the queue noting an attempt cannot write it back after
 * it is deleted.  *GONE when there is no such file (delivered, or moved
 * from pending to failed meanwhile). */
static cm_status
scrub_one(int dfd, const char *name, const cm_erasure *e, size_t *n,
    bool *gone)
{
	cm_status st;
	bool hit;
	int fd;

	*gone = false;
	if ((fd = cm_dsnq_spool_lock(dfd, name)) < 0) {
		*gone = errno == ENOENT;
		return *gone ? CM_OK : cm_status_errno(errno);
	}
	st = file_matches(dfd, name, e, &hit);
	if (st == CM_NOTFOUND) {
		*gone = true;
		st = CM_OK;
	} else if (st == CM_OK && hit) {
		if (unlinkat(dfd, name, 0) == 0)
			(*n)++;
		else if (errno != ENOENT)
			st = cm_status_errno(errno);
	}
	close(fd);
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
		char id[CM_DSNQ_ID_MAX], name[CM_DSNQ_ID_MAX + 16];
		bool failed, gone;

		if (!cm_dsnq_spool_name(de->d_name, &failed))
			continue;
		st = scrub_one(dirfd(d), de->d_name, e, n, &gone);
		/* a DSN given up while we waited for its lock moved to a
		 * name readdir need not show: look there too */
		if (st == CM_OK && gone && !failed &&
		    cm_dsnq_spool_id_of(de->d_name, id, &failed) == 0) {
			snprintf(name, sizeof(name), "%s%s", id,
			    CM_DSNQ_SUF_FAILED);
			st = scrub_one(dirfd(d), name, e, n, &gone);
		}
	}
	closedir(d);
	if (*n > 0)
		cm_fsync_dir(spool);
	return st;
}
