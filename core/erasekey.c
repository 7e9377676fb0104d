/*
 * erasekey.c - the erasure key file of a consent index (see erasekey.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "erasekey.h"
#include "keyfile.h"
#include "util.h"

cm_status
cm_erasekey_install(const char *dir, const unsigned char *key, char *err,
    size_t errlen)
{
	cm_status st;
	char *p;
	int fd, e;

	if (asprintf(&p, "%s/%s", dir, CM_ERASEKEY_NAME) < 0)
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
	st = cm_write_all(fd, key, CM_ERASEKEY_LEN) == 0 && fsync(fd) == 0 ?
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

cm_status
cm_erasekey_load(const char *dir, bool create, unsigned char *key,
    char *err, size_t errlen)
{
	cm_status st;
	size_t len = 0;
	char *p;

	if (asprintf(&p, "%s/%s", dir, CM_ERASEKEY_NAME) < 0)
		return CM_ENOMEM;
	st = cm_keyfile_load(p, create, CM_ERASEKEY_LEN, key, CM_ERASEKEY_LEN,
	    &len);
	if (st == CM_EFORMAT)
		snprintf(err, errlen, "%s: not a %d-octet key file", p,
		    CM_ERASEKEY_LEN);
	else if (st != CM_OK)
		snprintf(err, errlen, "%s: %s", p, cm_strerror(st));
	free(p);
	return st == CM_NOTFOUND ? CM_EFORMAT : st;
}
