/*
 * pdstamp.c - consent-policy's stamp file (pdstamp.h).
 */
#include "pdstamp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "siphash.h"

#define MAGIC "consent-policy-stamp 1 "
#define LINE_MAX_ (sizeof(MAGIC) + CM_PDSTAMP_DIGEST_LEN + 32)

static const unsigned char key[CM_SIPHASH_KEY_LEN] = "consent-policy 1";

void
cm_pdstamp_digest(const void *data, size_t len, char *out)
{
	unsigned char h[16];
	static const char hex[] = "0123456789abcdef";

	cm_siphash128(key, data, len, h);
	for (size_t i = 0; i < sizeof(h); i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[CM_PDSTAMP_DIGEST_LEN] = '\0';
}

static int
is_digest(const char *s)
{
	for (size_t i = 0; i < CM_PDSTAMP_DIGEST_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

cm_status
cm_pdstamp_write(const char *path, const char *digest, long pid)
{
	char tmp[4096], line[LINE_MAX_];
	int fd, n, e;

	if (path == NULL || digest == NULL ||
	    strlen(digest) != CM_PDSTAMP_DIGEST_LEN || !is_digest(digest))
		return CM_EINVAL;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return CM_EINVAL;
	n = snprintf(line, sizeof(line), MAGIC "%s %ld\n", digest, pid);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd < 0)
		return CM_EIO;
	if (write(fd, line, (size_t)n) != n) {
		e = errno != 0 ? errno : EIO;
		close(fd);
		(void)unlink(tmp);
		errno = e;
		return CM_EIO;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		e = errno;
		(void)unlink(tmp);
		errno = e;
		return CM_EIO;
	}
	return CM_OK;
}

cm_pdstamp_state
cm_pdstamp_check(const char *path, const char *digest, time_t now)
{
	char line[LINE_MAX_ + 1];
	struct stat sb;
	ssize_t n;
	int fd;

	if (path == NULL || digest == NULL)
		return CM_PDSTAMP_BAD;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? CM_PDSTAMP_MISSING : CM_PDSTAMP_BAD;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return CM_PDSTAMP_BAD;
	}
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return CM_PDSTAMP_BAD;
	line[n] = '\0';
	if ((size_t)n < sizeof(MAGIC) - 1 + CM_PDSTAMP_DIGEST_LEN + 1 ||
	    memcmp(line, MAGIC, sizeof(MAGIC) - 1) != 0 ||
	    !is_digest(line + sizeof(MAGIC) - 1) ||
	    line[sizeof(MAGIC) - 1 + CM_PDSTAMP_DIGEST_LEN] != ' ')
		return CM_PDSTAMP_BAD;
	if (sb.st_mtime < now - CM_PDSTAMP_MAX_AGE ||
	    sb.st_mtime > now + CM_PDSTAMP_MAX_AGE)
		return CM_PDSTAMP_STALE;
	if (strlen(digest) != CM_PDSTAMP_DIGEST_LEN ||
	    memcmp(line + sizeof(MAGIC) - 1, digest,
	    CM_PDSTAMP_DIGEST_LEN) != 0)
		return CM_PDSTAMP_OTHER;
	return CM_PDSTAMP_OK;
}

const char *
cm_pdstamp_state_name(cm_pdstamp_state s)
{
	switch (s) {
	case CM_PDSTAMP_OK:
		return "fresh";
	case CM_PDSTAMP_MISSING:
		return "missing";
	case CM_PDSTAMP_STALE:
		return "stale";
	case CM_PDSTAMP_OTHER:
		return "for another configuration";
	case CM_PDSTAMP_BAD:
		break;
	}
	return "unreadable";
}
