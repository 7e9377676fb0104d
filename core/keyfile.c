/*
 * keyfile.c - the erasure key file of a consent index (see keyfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile.h"
#include "util.h"

static cm_status
read_full(int fd, unsigned char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cm_status_errno(errno);
		if (r == 0)
			return CM_EFORMAT;
		got += (size_t)r;
	}
	return CM_OK;
}

cm_status
cm_keyfile_create(const char *dir, const unsigned char *key, char *err,
    size_t errlen)
{
	cm_status st;
	char *p;
	int fd, e;

	if (asprintf(&p, "%s/%s", dir, CM_KEYFILE_NAME) < 0)
		return CM_ENOMEM;
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "%s: %s", p, strerror(e));
		free(p);
		if (e == EEXIST)
			return CM_EEXIST;
		st = cm_status_errno(e);
		return st == CM_NOTFOUND ? CM_EIO : st;
	}
	st = cm_write_all(fd, key, CM_KEYFILE_LEN) == 0 && fsync(fd) == 0 ?
	    CM_OK : CM_EIO;
	if (close(fd) != 0)
		st = CM_EIO;
	if (st != CM_OK) {
		snprintf(err, errlen, "%s: cannot write", p);
		(void)unlink(p);
	} else {
		cm_fsync_dir(dir);
	}
	free(p);
	return st;
}

/* A new random key into KEY, written as DIR's new key file. */
static cm_status
create_key(const char *dir, unsigned char *key, char *err, size_t errlen)
{
	size_t got = 0;
	cm_status st;

	while (got < CM_KEYFILE_LEN) {
		ssize_t r = getrandom(key + got, CM_KEYFILE_LEN - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "getrandom: %s", strerror(errno));
			return CM_EIO;
		}
		got += (size_t)r;
	}
	st = cm_keyfile_create(dir, key, err, errlen);
	return st == CM_EEXIST ? CM_EIO : st;
}

cm_status
cm_keyfile_load(const char *dir, bool create, unsigned char *key,
    char *err, size_t errlen)
{
	cm_status st;
	struct stat sb;
	char *p;
	int fd;

	if (asprintf(&p, "%s/%s", dir, CM_KEYFILE_NAME) < 0)
		return CM_ENOMEM;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && create) {
		st = create_key(dir, key, err, errlen);
		free(p);
		return st;
	}
	if (fd < 0) {
		st = cm_status_errno(errno);
		snprintf(err, errlen, "%s: %s", p, strerror(errno));
		free(p);
		return st == CM_NOTFOUND ? CM_EFORMAT : st;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size != CM_KEYFILE_LEN) {
		snprintf(err, errlen, "%s: not a %d-octet key file", p,
		    CM_KEYFILE_LEN);
		(void)close(fd);
		free(p);
		return CM_EFORMAT;
	}
	st = read_full(fd, key, CM_KEYFILE_LEN);
	(void)close(fd);
	if (st != CM_OK)
		snprintf(err, errlen, "%s: cannot read", p);
	free(p);
	return st;
}
