/* keyfile.c - secret key files (keyfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "keyfile.h"
#include "util.h"

static cm_status
read_key(const char *path, size_t min_len, unsigned char *key,
    size_t key_max, size_t *key_len)
{
	char *buf;
	size_t n;
	cm_status st = cm_read_file_at(AT_FDCWD, path, true, key_max, &buf, &n);

	if (st != CM_OK)
		return st == CM_ETOOLONG ? CM_EFORMAT : st;
	if (n >= min_len) {
		memcpy(key, buf, n);
		*key_len = n;
	}
	explicit_bzero(buf, n);
	free(buf);
	return n >= min_len ? CM_OK : CM_EFORMAT;
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
