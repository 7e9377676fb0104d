/* util.c - generic helpers; see util.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

bool
cm_hex_decode(const char *s, unsigned char *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;

		for (size_t k = 0; k < 2; k++) {
			char c = s[2 * i + k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else
				return false;
		}
		out[i] = (unsigned char)v;
	}
	return true;
}

size_t
cm_utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

int
cm_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

ssize_t
cm_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t n = 0;

	while (n < len) {
		ssize_t r = read(fd, p + n, len - n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

cm_status
cm_read_file_at(int dfd, const char *path, bool follow, size_t max,
    char **buf, size_t *len)
{
	int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    (follow ? 0 : O_NOFOLLOW));
	struct stat sb;
	ssize_t n;
	char *b;
	int e;

	if (fd < 0)
		return cm_status_errno(errno);
	if (fstat(fd, &sb) != 0) {
		e = errno;
		close(fd);
		return cm_status_errno(e);
	}
	if (sb.st_size < 0 || (uintmax_t)sb.st_size > max) {
		close(fd);
		return CM_ETOOLONG;
	}
	if ((b = malloc((size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return CM_ENOMEM;
	}
	n = cm_read_all(fd, b, (size_t)sb.st_size);
	e = errno;
	close(fd);
	if (n < 0) {
		free(b);
		return cm_status_errno(e);
	}
	b[n] = '\0';
	*buf = b;
	*len = (size_t)n;
	return CM_OK;
}

int
cm_tmpfile_open(int dfd, const char *tmp, unsigned mode)
{
	(void)unlinkat(dfd, tmp, 0);	/* left by a crash */
	return openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW | O_NOCTTY, (mode_t)mode);
}

void
cm_tmpfile_abort(int dfd, const char *tmp, int fd)
{
	int e = errno;

	close(fd);
	(void)unlinkat(dfd, tmp, 0);
	errno = e;
}

cm_status
cm_tmpfile_commit(int dfd, const char *tmp, int fd, const char *dst,
    bool replace)
{
	int e = 0;

	if (fsync(fd) != 0)
		e = errno;
	close(fd);
	if (e == 0 && replace && renameat(dfd, tmp, dfd, dst) != 0)
		e = errno;
	/* linkat() fails if another process created DST meanwhile */
	if (e == 0 && !replace && linkat(dfd, tmp, dfd, dst, 0) != 0)
		e = errno;
	if (e != 0 || !replace)
		(void)unlinkat(dfd, tmp, 0);
	if (e != 0)
		return e == EEXIST && !replace ? CM_EEXIST : cm_status_errno(e);
	if (dfd == AT_FDCWD)
		cm_fsync_parent(dst);
	else
		(void)fsync(dfd);
	return CM_OK;
}

cm_status
cm_write_file_atomic(const char *path, const void *data, size_t len,
    unsigned mode, bool replace)
{
	char *tmp;
	int fd;
	cm_status st;

	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return CM_ENOMEM;
	if ((fd = cm_tmpfile_open(AT_FDCWD, tmp, mode)) < 0) {
		st = cm_status_errno(errno);
		free(tmp);
		return st;
	}
	if (cm_write_all(fd, data, len) != 0) {
		st = cm_status_errno(errno);
		cm_tmpfile_abort(AT_FDCWD, tmp, fd);
	} else {
		st = cm_tmpfile_commit(AT_FDCWD, tmp, fd, path, replace);
	}
	free(tmp);
	return st;
}

void
cm_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

void
cm_fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *copy;

	if (slash == NULL) {
		cm_fsync_dir(".");
		return;
	}
	if (slash == path) {
		cm_fsync_dir("/");
		return;
	}
	copy = strndup(path, (size_t)(slash - path));
	if (copy == NULL)
		return;
	cm_fsync_dir(copy);
	free(copy);
}

void
cm_deadline_in(clockid_t clk, int64_t us, struct timespec *ts)
{
	clock_gettime(clk, ts);
	ts->tv_sec += (time_t)(us / 1000000);
	ts->tv_nsec += (long)(us % 1000000) * 1000;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int
cm_cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int r;

	if (pthread_condattr_init(&a) != 0)
		return -1;
	r = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (r == 0)
		r = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return r == 0 ? 0 : -1;
}
