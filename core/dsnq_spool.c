/* dsnq_spool.c - the DSN spool's files (dsnq_spool.h) and consentctl's
 * access to them (cm_dsnq_list, cm_dsnq_resend of dsnq.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsnq_spool.h"
#include "smtp.h"
#include "util.h"

#define MAGIC "CM-DSN 1\n"

char *
cm_dsnq_spool_path(const char *spool, const char *id, const char *suffix)
{
	char *p;

	if (asprintf(&p, "%s/%s%s", spool, id, suffix) < 0)
		return NULL;
	return p;
}

/* cm_dsnq_spool_write with the attempt count and next retry time */
static cm_status
spool_write(const char *spool, const char *id, const char *suffix,
    const cm_dsnq_spooled *s)
{
	char hdr[2048], *path, *data;
	const char *error = s->error;
	int n = snprintf(hdr, sizeof(hdr), MAGIC "rcpt: %s\nsmtputf8: %d\n"
	    "created: %lld\n", s->rcpt, s->smtputf8 ? 1 : 0,
	    (long long)s->created);
	cm_status st;

	if (n >= 0 && (size_t)n < sizeof(hdr) && s->attempts > 0)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n,
		    "attempts: %u\n", s->attempts);
	if (n >= 0 && (size_t)n < sizeof(hdr) && s->next > 0)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "next: %lld\n",
		    (long long)s->next);
	if (n >= 0 && (size_t)n < sizeof(hdr))
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "%s%s%s\n",
		    error ? "error: " : "", error ? error : "",
		    error ? "\n" : "");
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return CM_ETOOLONG;
	if ((data = malloc((size_t)n + s->len)) == NULL)
		return CM_ENOMEM;
	memcpy(data, hdr, (size_t)n);
	if (s->len > 0)
		memcpy(data + n, s->msg, s->len);
	if ((path = cm_dsnq_spool_path(spool, id, suffix)) == NULL) {
		free(data);
		return CM_ENOMEM;
	}
	st = cm_write_file_atomic(path, data, (size_t)n + s->len, 0600, true);
	free(path);
	free(data);
	return st;
}

cm_status
cm_dsnq_spool_write(const char *spool, const char *id, const char *suffix,
    const char *rcpt, bool smtputf8, int64_t created, const char *error,
    const char *msg, size_t len)
{
	cm_dsnq_spooled s;

	memset(&s, 0, sizeof(s));
	s.rcpt = (char *)rcpt;
	s.smtputf8 = smtputf8;
	s.created = created;
	s.error = (char *)error;
	s.msg = msg;
	s.len = len;
	return spool_write(spool, id, suffix, &s);
}

cm_status
cm_dsnq_spool_read(const char *path, cm_dsnq_spooled *s)
{
	size_t n;
	char *p, *end;
	cm_status st;

	memset(s, 0, sizeof(*s));
	st = cm_read_file_at(AT_FDCWD, path, false, CM_DSNQ_SPOOL_FILE_MAX,
	    &s->data, &n);
	if (st != CM_OK)
		return st == CM_ETOOLONG ? CM_EFORMAT : st;
	if (strncmp(s->data, MAGIC, strlen(MAGIC)) != 0)
		goto bad;
	p = s->data + strlen(MAGIC);
	end = s->data + n;
	while (p < end && *p != '\n') {
		char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			goto bad;
		*nl = '\0';
		if (strncmp(p, "rcpt: ", 6) == 0)
			s->rcpt = p + 6;
		else if (strncmp(p, "smtputf8: ", 10) == 0)
			s->smtputf8 = p[10] == '1';
		else if (strncmp(p, "created: ", 9) == 0)
			s->created = strtoll(p + 9, NULL, 10);
		else if (strncmp(p, "error: ", 7) == 0)
			s->error = p + 7;
		else if (strncmp(p, "attempts: ", 10) == 0)
			s->attempts = (unsigned)strtoul(p + 10, NULL, 10);
		else if (strncmp(p, "next: ", 6) == 0)
			s->next = strtoll(p + 6, NULL, 10);
		p = nl + 1;
	}
	if (p >= end || s->rcpt == NULL)
		goto bad;
	s->msg = p + 1;
	s->len = (size_t)(end - (p + 1));
	return CM_OK;
bad:
	free(s->data);
	s->data = NULL;
	return CM_EFORMAT;
}

int
cm_dsnq_spool_lock(int dfd, const char *name)
{
	struct stat sb;
	int fd;

	for (;;) {
		fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX) != 0 || fstat(fd, &sb) != 0) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		if (sb.st_nlink > 0)
			return fd;
		close(fd);	/* replaced or removed while we waited */
	}
}

/* The spool file PATH, read into *S under its lock (*FD, to be closed
 * once the update is written); CM_NOTFOUND if it is gone. */
static cm_status
read_locked(const char *path, cm_dsnq_spooled *s, int *fd)
{
	cm_status st;

	if ((*fd = cm_dsnq_spool_lock(AT_FDCWD, path)) < 0)
		return cm_status_errno(errno);
	if ((st = cm_dsnq_spool_read(path, s)) != CM_OK) {
		close(*fd);
		*fd = -1;
	}
	return st;
}

cm_status
cm_dsnq_spool_mark_failed(const char *spool, const char *id,
    const char *error)
{
	char *src = cm_dsnq_spool_path(spool, id, CM_DSNQ_SUF_PENDING);
	cm_dsnq_spooled s;
	cm_status st;
	bool pending = true;
	int fd = -1;

	if (src == NULL)
		return CM_ENOMEM;
	st = read_locked(src, &s, &fd);
	if (st == CM_NOTFOUND) {	/* already failed: update the error */
		pending = false;
		free(src);
		src = cm_dsnq_spool_path(spool, id, CM_DSNQ_SUF_FAILED);
		if (src == NULL)
			return CM_ENOMEM;
		st = read_locked(src, &s, &fd);
	}
	if (st == CM_OK) {
		s.attempts++;
		s.next = 0;
		s.error = (char *)error;
		st = spool_write(spool, id, CM_DSNQ_SUF_FAILED, &s);
		if (st == CM_OK && pending)
			unlink(src);
		free(s.data);
		close(fd);
	}
	free(src);
	return st;
}

cm_status
cm_dsnq_spool_note_attempt(const char *spool, const char *id,
    const char *error, int64_t next)
{
	char *path = cm_dsnq_spool_path(spool, id, CM_DSNQ_SUF_PENDING);
	cm_dsnq_spooled s;
	cm_status st;
	int fd;

	if (path == NULL)
		return CM_ENOMEM;
	/* under the file's lock, which an erasure also takes: a DSN it
	 * deletes meanwhile is not written back */
	st = read_locked(path, &s, &fd);
	free(path);
	if (st != CM_OK)
		return st;
	s.attempts++;
	s.next = next;
	s.error = (char *)error;
	st = spool_write(spool, id, CM_DSNQ_SUF_PENDING, &s);
	free(s.data);
	close(fd);
	return st;
}

static bool
ends_with(const char *s, size_t n, const char *suf, size_t m)
{
	return n > m && memcmp(s + n - m, suf, m) == 0;
}

bool
cm_dsnq_spool_name(const char *name, bool *failed)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	*failed = ends_with(name, n, CM_DSNQ_SUF_FAILED,
	    sizeof(CM_DSNQ_SUF_FAILED) - 1);
	return *failed || ends_with(name, n, CM_DSNQ_SUF_PENDING,
	    sizeof(CM_DSNQ_SUF_PENDING) - 1);
}

int
cm_dsnq_spool_id_of(const char *name, char *id, bool *failed)
{
	size_t n = strlen(name), sl;

	if (!cm_dsnq_spool_name(name, failed))
		return -1;
	sl = *failed ? sizeof(CM_DSNQ_SUF_FAILED) - 1 :
	    sizeof(CM_DSNQ_SUF_PENDING) - 1;
	if (n - sl >= CM_DSNQ_ID_MAX)
		return -1;
	memcpy(id, name, n - sl);
	id[n - sl] = '\0';
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
cm_dsnq_spool_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

cm_status
cm_dsnq_spool_names(const char *spool, char ***out, size_t *nout)
{
	DIR *d = opendir(spool);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;

	if (d == NULL)
		return cm_status_errno(errno);
	while ((de = readdir(d)) != NULL) {
		char id[CM_DSNQ_ID_MAX];
		bool failed;

		if (cm_dsnq_spool_id_of(de->d_name, id, &failed) != 0)
			continue;
		if (n + 1 >= cap) {
			size_t nc = cap ? cap * 2 : 32;
			char **nv = realloc(v, nc * sizeof(*nv));

			if (nv == NULL)
				goto nomem;
			v = nv;
			cap = nc;
		}
		if ((v[n] = strdup(de->d_name)) == NULL)
			goto nomem;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	*nout = n;
	return CM_OK;
nomem:
	closedir(d);
	cm_dsnq_spool_names_free(v, n);
	return CM_ENOMEM;
}

/* ------------------------------------------------- consentctl's access */

cm_status
cm_dsnq_list(const char *spool, int (*fn)(void *, const cm_dsnq_entry *),
    void *arg)
{
	char **names;
	size_t n;
	cm_status st = cm_dsnq_spool_names(spool, &names, &n);

	if (st != CM_OK)
		return st;
	for (size_t i = 0; i < n; i++) {
		char id[CM_DSNQ_ID_MAX], *path;
		cm_dsnq_entry e;
		cm_dsnq_spooled s;
		bool failed;

		if (st != CM_OK ||
		    cm_dsnq_spool_id_of(names[i], id, &failed) != 0)
			continue;
		path = cm_dsnq_spool_path(spool, names[i], "");
		if (path == NULL) {
			st = CM_ENOMEM;
			continue;
		}
		if (cm_dsnq_spool_read(path, &s) == CM_OK) {
			e.id = id;
			e.failed = failed;
			e.rcpt = s.rcpt;
			e.smtputf8 = s.smtputf8;
			e.created_us = s.created;
			e.error = s.error;
			e.attempts = s.attempts;
			e.next_us = failed ? 0 : s.next;
			e.size = s.len;
			if (fn(arg, &e) != 0)
				st = CM_EEXIST;	/* stop */
			free(s.data);
		}
		free(path);
	}
	cm_dsnq_spool_names_free(names, n);
	return st == CM_EEXIST ? CM_OK : st;
}

static int
valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n >= CM_DSNQ_ID_MAX || id[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' &&
		    id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		    id[i] == '-' || id[i] == '_' || id[i] == '.'))
			return 0;
	return 1;
}

cm_status
cm_dsnq_resend(const char *spool, const char *id, const char *target,
    const char *helo, unsigned timeout_ms, char *err)
{
	const char *suffix = CM_DSNQ_SUF_FAILED;
	cm_dsnq_spooled s;
	char *path;
	cm_status st;
	int rc;

	if (spool == NULL || id == NULL || !valid_id(id)) {
		cm_smtp_seterr(err, "invalid id");
		return CM_EINVAL;
	}
	path = cm_dsnq_spool_path(spool, id, suffix);
	if (path == NULL)
		return CM_ENOMEM;
	st = cm_dsnq_spool_read(path, &s);
	if (st == CM_NOTFOUND) {
		free(path);
		suffix = CM_DSNQ_SUF_PENDING;
		path = cm_dsnq_spool_path(spool, id, suffix);
		if (path == NULL)
			return CM_ENOMEM;
		st = cm_dsnq_spool_read(path, &s);
	}
	if (st != CM_OK) {
		cm_smtp_seterr(err, "%s", st == CM_NOTFOUND ? "no such DSN" :
		    cm_strerror(st));
		free(path);
		return st;
	}
	rc = cm_smtp_send(target, helo, timeout_ms, s.rcpt, s.msg, s.len,
	    s.smtputf8, err);
	free(s.data);
	if (rc == 0) {
		unlink(path);
		cm_fsync_dir(spool);
		free(path);
		return CM_OK;
	}
	free(path);
	(void)cm_dsnq_spool_mark_failed(spool, id, err ? err : "not delivered");
	return CM_EIO;
}