/* keyfile.c - secret key files (keyfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile.h"
#include "util.h"

static cm_status
read_key(const char *path, size_t min_len, unsigned char *key,
    size_t key_max, size_t *key_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	struct stat sb;
	ssize_t n;
	int e;

	if (fd < 0)
		return cm_status_errno(errno);
	if (fstat(fd, &sb) != 0) {
		e = errno;
		close(fd);
		return cm_status_errno(e);
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return CM_EFORMAT;
	}
	n = cm_read_all(fd, key, key_max);
	e = errno;
	if (n >= 0 && (size_t)n == key_max) {
		unsigned char extra;

		/* one more octet would be too long */
		if ((n = cm_read_all(fd, &extra, 1)) == 1) {
			close(fd);
			explicit_bzero(key, key_max);
			return CM_EFORMAT;
		}
		e = errno;
		n = n == 0 ? (ssize_t)key_max : -1;
	}
	close(fd);
	if (n < 0) {
		explicit_bzero(key, key_max);
		return cm_status_errno(e);
	}
	if ((size_t)n < min_len) {
		explicit_bzero(key, key_max);
		return CM_EFORMAT;
	}
	*key_len = (size_t)n;
	return CM_OK;
}

static cm_status
create_key(const char *path)
{
	unsigned char key[CM_KEYFILE_NEW_LEN];
	size_t got = 0;
	cm_status st;

	while (got < sizeof(key)) {
		ssize_t r = getrandom(key + got, sizeof(key) - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return CM_EIO;
		}
		got += (size_t)r;
	}
	st = cm_write_file_atomic(path, key, sizeof(key), 0600, false);
	explicit_bzero(key, sizeof(key));
	/* CM_EEXIST: another process created it meanwhile; load that one */
	return st == CM_EEXIST ? CM_OK : st;
}

cm_status
cm_keyfile_load(const char *path, bool create, size_t min_len,
    unsigned char *key, size_t key_max, size_t *key_len)
{
	cm_status st;

	if (path == NULL || *path == '\0' || key == NULL || key_len == NULL ||
	    min_len == 0 || min_len > key_max ||
	    (create && key_max < CM_KEYFILE_NEW_LEN))
		return CM_EINVAL;
	st = read_key(path, min_len, key, key_max, key_len);
	if (st != CM_NOTFOUND || !create)
		return st;
	st = create_key(path);
	if (st != CM_OK)
		return st;
	return read_key(path, min_len, key, key_max, key_len);
}
