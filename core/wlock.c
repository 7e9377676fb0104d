/*
 * wlock.c - the writer lock of an index directory: flock(2) on
 * DIR/writer.lock (see wlock.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wlock.h"

struct cm_wlock {
	int fd;
};

static cm_status
open_status(int e)
{
	return e == ENOTDIR ? CM_NOTFOUND : cm_status_errno(e);
}

/* Open (or create) PATH; a file this user may not write is opened
 * read-only, which is enough for flock. */
static int
open_lockfile(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0 && (errno == EACCES || errno == EROFS))
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return fd;
}

cm_status
cm_wlock_acquire(const char *dir, bool wait, cm_wlock **out)
{
	cm_wlock *l;
	char *path;
	size_t n;

	if (dir == NULL || out == NULL)
		return CM_EINVAL;
	*out = NULL;
	n = strlen(dir) + sizeof("/" CM_WLOCK_FILE);
	if ((path = malloc(n)) == NULL)
		return CM_ENOMEM;
	snprintf(path, n, "%s/%s", dir, CM_WLOCK_FILE);
	for (;;) {
		struct stat a, b;
		int fd = open_lockfile(path), r;

		if (fd < 0) {
			cm_status st = open_status(errno);

			free(path);
			return st;
		}
		do
			r = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
		while (r != 0 && errno == EINTR);
		if (r != 0) {
			int e = errno;

			(void)close(fd);
			free(path);
			return e == EWOULDBLOCK ? CM_EBUSY : CM_EIO;
		}
		/* Still the file the directory names?  (It may have been
		 * removed, with its directory, while we waited.) */
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			free(path);
			if ((l = malloc(sizeof(*l))) == NULL) {
				(void)close(fd);
				return CM_ENOMEM;
			}
			l->fd = fd;
			*out = l;
			return CM_OK;
		}
		(void)close(fd);
	}
}

void
cm_wlock_release(cm_wlock *l)
{
	if (l == NULL)
		return;
	(void)flock(l->fd, LOCK_UN);
	(void)close(l->fd);
	free(l);
}
