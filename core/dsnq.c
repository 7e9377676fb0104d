/* dsnq.c - DSN spool, SMTP submission and retry thread. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dsnq.h"
#include "util.h"
#include "timefmt.h"

#define MAGIC "CM-DSN 1\n"
#define SUF_PENDING ".dsn"
#define SUF_FAILED ".failed"
#define REPLY_MAX 16384
#define SPOOL_FILE_MAX (16 * 1024 * 1024)

/* ---------------------------------------------------------------- util */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void seterr(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
seterr(char *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err, CM_DSNQ_ERR_MAX, fmt, ap);
	va_end(ap);
	/* keep error texts on one line */
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

/* ---------------------------------------------------------------- target */

struct target {
	bool is_unix;
	char host[256];
	char port[16];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int
parse_port(const char *s, size_t n, char *out)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	snprintf(out, 16, "%lu", v);
	return 0;
}

static int
host_ok(const char *s, size_t n)
{
	if (n == 0 || n >= 256)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '.' || s[i] == '-' || s[i] == ':' || s[i] == '_' ||
		    (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z')))
			return 0;
	return 1;
}

static int
parse_target(const char *t, struct target *out)
{
	const char *p;

	memset(out, 0, sizeof(*out));
	if (t == NULL)
		return -1;
	if (strncmp(t, "unix:", 5) == 0 || strncmp(t, "local:", 6) == 0) {
		p = strchr(t, ':') + 1;
		if (*p != '/' || strlen(p) >= sizeof(out->path))
			return -1;
		out->is_unix = true;
		strcpy(out->path, p);
		return 0;
	}
	if (strncmp(t, "inet:", 5) == 0 || strncmp(t, "inet6:", 6) == 0) {
		const char *at;

		p = strchr(t, ':') + 1;
		at = strchr(p, '@');
		if (at == NULL || parse_port(p, (size_t)(at - p), out->port) ||
		    !host_ok(at + 1, strlen(at + 1)))
			return -1;
		strcpy(out->host, at + 1);
		return 0;
	}
	if (*t == '[') {
		const char *close = strchr(t, ']');

		if (close == NULL || close[1] != ':' ||
		    !host_ok(t + 1, (size_t)(close - t - 1)) ||
		    parse_port(close + 2, strlen(close + 2), out->port))
			return -1;
		memcpy(out->host, t + 1, (size_t)(close - t - 1));
		return 0;
	}
	p = strrchr(t, ':');
	if (p == NULL || strchr(t, ':') != p || !host_ok(t, (size_t)(p - t)) ||
	    parse_port(p + 1, strlen(p + 1), out->port))
		return -1;
	memcpy(out->host, t, (size_t)(p - t));
	return 0;
}

cm_status
cm_dsnq_target_check(const char *target)
{
	struct target t;

	return parse_target(target, &t) == 0 ? CM_OK : CM_EINVAL;
}

static int
wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = ev };
		int64_t left = deadline - mono_ms();
		int r;

		if (left <= 0)
			return -1;
		r = poll(&pfd, 1, (int)(left > 60000 ? 60000 : left));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int
connect_fd(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
	int e = 0;
	socklen_t el = sizeof(e);

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -1;
	if (wait_fd(fd, POLLOUT, deadline) != 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
		return -1;
	if (e != 0) {
		errno = e;
		return -1;
	}
	return 0;
}

static int
open_conn(const struct target *t, int64_t deadline, char *err)
{
	int fd = -1;

	if (t->is_unix) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		strcpy(sun.sun_path, t->path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect_fd(fd, (struct sockaddr *)&sun,
		    sizeof(sun), deadline) != 0) {
			seterr(err, "connect to %s: %s", t->path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	{
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		    .ai_flags = AI_ADDRCONFIG }, *res, *ai;
		int r = getaddrinfo(t->host, t->port, &hints, &res);
		int e = 0;

		if (r != 0) {
			seterr(err, "resolve %s: %s", t->host, gai_strerror(r));
			return -1;
		}
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
			    SOCK_CLOEXEC, ai->ai_protocol);
			if (fd < 0) {
				e = errno;
				continue;
			}
			if (connect_fd(fd, ai->ai_addr, ai->ai_addrlen,
			    deadline) == 0)
				break;
			e = errno;
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
		if (fd < 0)
			seterr(err, "connect to %s port %s: %s", t->host, t->port,
			    strerror(e));
		return fd;
	}
}

/* ---------------------------------------------------------------- SMTP */

struct conn {
	int fd;
	unsigned timeout_ms;
	char buf[4096];
	size_t have, off;
	char reply[REPLY_MAX];	/* last reply, lines joined by ' ' */
	bool ext_smtputf8, ext_8bitmime;
};

static int
send_all(struct conn *c, const char *p, size_t len)
{
	int64_t deadline = mono_ms() + c->timeout_ms;

	while (len > 0) {
		ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (wait_fd(c->fd, POLLOUT, deadline) != 0) {
					errno = ETIMEDOUT;
					return -1;
				}
				continue;
			}
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* One line (without CRLF) into LINE (size N); 0, or -1 (errno). */
static int
read_line(struct conn *c, char *line, size_t n, int64_t deadline)
{
	size_t o = 0;

	for (;;) {
		while (c->off < c->have) {
			char ch = c->buf[c->off++];

			if (ch == '\n') {
				if (o > 0 && line[o - 1] == '\r')
					o--;
				line[o] = '\0';
				return 0;
			}
			if (o + 1 < n)
				line[o++] = ch;
		}
		if (wait_fd(c->fd, POLLIN, deadline) != 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		ssize_t r = recv(c->fd, c->buf, sizeof(c->buf), 0);

		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		c->have = (size_t)r;
		c->off = 0;
	}
}

/* Read a (multi-line) reply; its code, or -1. */
static int
read_reply(struct conn *c, char *err)
{
	int64_t deadline = mono_ms() + c->timeout_ms;
	char line[1024];
	int code = -1;
	size_t ro = 0;

	c->reply[0] = '\0';
	for (int lines = 0; lines < 100; lines++) {
		if (read_line(c, line, sizeof(line), deadline) != 0) {
			seterr(err, "reading the SMTP reply: %s", strerror(errno));
			return -1;
		}
		if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
		    line[2] > '9' || (line[3] != '\0' && line[3] != ' ' &&
		    line[3] != '-')) {
			seterr(err, "malformed SMTP reply: %.100s", line);
			return -1;
		}
		int lc = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');

		if (code >= 0 && lc != code) {
			seterr(err, "inconsistent SMTP reply codes");
			return -1;
		}
		code = lc;
		if (line[3] != '\0') {
			const char *kw = line + 4;

			if (strcasecmp(kw, "SMTPUTF8") == 0)
				c->ext_smtputf8 = true;
			if (strcasecmp(kw, "8BITMIME") == 0)
				c->ext_8bitmime = true;
		}
		int n = snprintf(c->reply + ro, sizeof(c->reply) - ro, "%s%s",
		    ro ? " " : "", line);
		if (n > 0 && (size_t)n < sizeof(c->reply) - ro)
			ro += (size_t)n;
		if (line[3] != '-')
			return code;
	}
	seterr(err, "SMTP reply too long");
	return -1;
}

/* Send CMD and read the reply; the reply code or -1.  The command and
 * its CRLF go in one write: a second small write would wait for the
 * server's delayed ACK (Nagle), some 40 ms per command. */
static int
command(struct conn *c, const char *cmd, char *err)
{
	char line[1280];
	size_t n = strlen(cmd);

	if (n + 2 > sizeof(line)) {
		seterr(err, "SMTP command too long");
		return -1;
	}
	memcpy(line, cmd, n);
	memcpy(line + n, "\r\n", 2);
	if (send_all(c, line, n + 2) != 0) {
		seterr(err, "sending to the SMTP server: %s", strerror(errno));
		return -1;
	}
	return read_reply(c, err);
}

/* Strip <> and check the address: no controls, no spaces, no <>. */
static int
clean_rcpt(const char *rcpt, char *out, size_t size)
{
	size_t n = strlen(rcpt);

	if (n >= 2 && rcpt[0] == '<' && rcpt[n - 1] == '>') {
		rcpt++;
		n -= 2;
	}
	if (n == 0 || n >= size || strchr(rcpt, '@') == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)rcpt[i] <= 0x20 || rcpt[i] == 0x7f ||
		    rcpt[i] == '<' || rcpt[i] == '>')
			return -1;
	memcpy(out, rcpt, n);
	out[n] = '\0';
	return 0;
}

/* Send MSG dot-stuffed, with CRLF line ends, and the final dot. */
static int
send_data(struct conn *c, const char *msg, size_t len)
{
	char out[8192];
	size_t o = 0;
	bool bol = true;

#define OUT(ch) do { \
	if (o == sizeof(out)) { \
		if (send_all(c, out, o) != 0) return -1; \
		o = 0; \
	} \
	out[o++] = (ch); \
} while (0)
	for (size_t i = 0; i < len; i++) {
		char ch = msg[i];

		if (bol && ch == '.')
			OUT('.');
		if (ch == '\r' && i + 1 < len && msg[i + 1] == '\n') {
			OUT('\r');
			OUT('\n');
			i++;
			bol = true;
			continue;
		}
		if (ch == '\n' || ch == '\r') {	/* bare LF or CR */
			OUT('\r');
			OUT('\n');
			bol = true;
			continue;
		}
		OUT(ch);
		bol = false;
	}
	if (!bol) {
		OUT('\r');
		OUT('\n');
	}
	OUT('.');
	OUT('\r');
	OUT('\n');
#undef OUT
	return send_all(c, out, o);
}

static int
classify(int code)
{
	return code >= 500 ? 5 : 4;
}

int
cm_dsnq_smtp_send(const char *target, const char *helo, unsigned timeout_ms,
    const char *rcpt, const char *msg, size_t len, bool smtputf8, char *err)
{
	struct target t;
	struct conn *c;
	char cmd[1200], addr[1024];
	int code, rc = 4;
	bool eightbit = false;

	if (parse_target(target, &t) != 0) {
		seterr(err, "invalid target \"%.200s\"", target ? target : "");
		return 5;
	}
	if (rcpt == NULL || clean_rcpt(rcpt, addr, sizeof(addr)) != 0) {
		seterr(err, "invalid recipient");
		return 5;
	}
	if (helo == NULL || *helo == '\0')
		helo = "localhost";
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		seterr(err, "out of memory");
		return 4;
	}
	c->timeout_ms = timeout_ms ? timeout_ms : 30000;
	c->fd = open_conn(&t, mono_ms() + c->timeout_ms, err);
	if (c->fd < 0) {
		free(c);
		return 4;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)msg[i] >= 0x80) {
			eightbit = true;
			break;
		}

	code = read_reply(c, err);
	if (code < 0)
		goto out;
	if (code != 220) {
		seterr(err, "greeting: %.400s", c->reply);
		rc = classify(code);
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "EHLO %.255s", helo);
	code = command(c, cmd, err);
	if (code >= 500) {
		snprintf(cmd, sizeof(cmd), "HELO %.255s", helo);
		code = command(c, cmd, err);
	}
	if (code < 0)
		goto out;
	if (code != 250) {
		seterr(err, "EHLO: %.400s", c->reply);
		rc = classify(code);
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "MAIL FROM:<>%s%s",
	    smtputf8 && c->ext_smtputf8 ? " SMTPUTF8" : "",
	    eightbit && c->ext_8bitmime ? " BODY=8BITMIME" : "");
	code = command(c, cmd, err);
	if (code < 0)
		goto out;
	if (code / 100 != 2) {
		seterr(err, "MAIL FROM: %.400s", c->reply);
		rc = classify(code);
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>", addr);
	code = command(c, cmd, err);
	if (code < 0)
		goto out;
	if (code / 100 != 2) {
		seterr(err, "RCPT TO:<%.300s>: %.400s", addr, c->reply);
		rc = classify(code);
		goto out;
	}
	code = command(c, "DATA", err);
	if (code < 0)
		goto out;
	if (code != 354) {
		seterr(err, "DATA: %.400s", c->reply);
		rc = classify(code);
		goto out;
	}
	if (send_data(c, msg, len) != 0) {
		seterr(err, "sending the message: %s", strerror(errno));
		goto out;
	}
	code = read_reply(c, err);
	if (code < 0)
		goto out;
	if (code / 100 != 2) {
		seterr(err, "end of data: %.400s", c->reply);
		rc = classify(code);
		goto out;
	}
	seterr(err, "accepted: %.400s", c->reply);
	rc = 0;
	(void)command(c, "QUIT", NULL);
out:
	close(c->fd);
	free(c);
	return rc;
}

/* ---------------------------------------------------------------- spool */

static char *
spool_path(const char *spool, const char *id, const char *suffix)
{
	char *p;

	if (asprintf(&p, "%s/%s%s", spool, id, suffix) < 0)
		return NULL;
	return p;
}

/* Write HEADER + MSG atomically to SPOOL/ID SUFFIX. */
static cm_status
write_spool(const char *spool, const char *id, const char *suffix,
    const char *header, const char *msg, size_t len)
{
	char *tmp = spool_path(spool, id, ".tmp"), *dst = spool_path(spool, id,
	    suffix);
	cm_status st = CM_OK;
	int fd;

	if (tmp == NULL || dst == NULL) {
		st = CM_ENOMEM;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0) {
		st = cm_status_errno(errno);
		goto out;
	}
	if (cm_write_all(fd, header, strlen(header)) != 0 ||
	    cm_write_all(fd, msg, len) != 0 || fsync(fd) != 0) {
		st = cm_status_errno(errno);
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, dst) != 0) {
		st = cm_status_errno(errno);
		unlink(tmp);
		goto out;
	}
	cm_fsync_dir(spool);
out:
	free(tmp);
	free(dst);
	return st;
}

/* A spooled DSN read back. */
struct spooled {
	char *data;		/* whole file, NUL-terminated; fields point in */
	char *rcpt, *error;
	bool smtputf8;
	int64_t created;
	const char *msg;
	size_t len;
};

static cm_status
read_spool(const char *path, struct spooled *s)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat sb;
	size_t n = 0;
	char *p, *end;

	memset(s, 0, sizeof(*s));
	if (fd < 0)
		return cm_status_errno(errno);
	if (fstat(fd, &sb) != 0 || sb.st_size > SPOOL_FILE_MAX) {
		close(fd);
		return CM_EFORMAT;
	}
	s->data = malloc((size_t)sb.st_size + 1);
	if (s->data == NULL) {
		close(fd);
		return CM_ENOMEM;
	}
	while (n < (size_t)sb.st_size) {
		ssize_t r = read(fd, s->data + n, (size_t)sb.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	s->data[n] = '\0';
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

static int
header_for(char *buf, size_t size, const char *rcpt, bool smtputf8,
    int64_t created, const char *error)
{
	int n = snprintf(buf, size, MAGIC "rcpt: %s\nsmtputf8: %d\n"
	    "created: %lld\n%s%s%s\n", rcpt, smtputf8 ? 1 : 0,
	    (long long)created, error ? "error: " : "", error ? error : "",
	    error ? "\n" : "");

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Rewrite pending ID as ID.failed with ERROR. */
static cm_status
mark_failed(const char *spool, const char *id, const char *error)
{
	char *src = spool_path(spool, id, SUF_PENDING);
	struct spooled s;
	char hdr[2048];
	cm_status st;
	bool pending = true;

	if (src == NULL)
		return CM_ENOMEM;
	st = read_spool(src, &s);
	if (st == CM_NOTFOUND) {	/* already failed: update the error */
		pending = false;
		free(src);
		src = spool_path(spool, id, SUF_FAILED);
		if (src == NULL)
			return CM_ENOMEM;
		st = read_spool(src, &s);
	}
	if (st == CM_OK) {
		if (header_for(hdr, sizeof(hdr), s.rcpt, s.smtputf8, s.created,
		    error) != 0)
			st = CM_ETOOLONG;
		else
			st = write_spool(spool, id, SUF_FAILED, hdr, s.msg, s.len);
		if (st == CM_OK && pending)
			unlink(src);
		free(s.data);
	}
	free(src);
	return st;
}

static int
id_of(const char *name, char *id, bool *failed)
{
	size_t n = strlen(name), sl;

	if (n > strlen(SUF_PENDING) &&
	    strcmp(name + n - strlen(SUF_PENDING), SUF_PENDING) == 0) {
		sl = strlen(SUF_PENDING);
		*failed = false;
	} else if (n > strlen(SUF_FAILED) &&
	    strcmp(name + n - strlen(SUF_FAILED), SUF_FAILED) == 0) {
		sl = strlen(SUF_FAILED);
		*failed = true;
	} else {
		return -1;
	}
	if (n - sl >= CM_DSNQ_ID_MAX || name[0] == '.')
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

/* Sorted names of spool files; NULL-terminated (free each and the array). */
static cm_status
spool_names(const char *spool, char ***out, size_t *nout)
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

		if (id_of(de->d_name, id, &failed) != 0)
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
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return CM_ENOMEM;
}

cm_status
cm_dsnq_list(const char *spool, int (*fn)(void *, const cm_dsnq_entry *),
    void *arg)
{
	char **names;
	size_t n;
	cm_status st = spool_names(spool, &names, &n);

	if (st != CM_OK)
		return st;
	for (size_t i = 0; i < n; i++) {
		char id[CM_DSNQ_ID_MAX], *path;
		cm_dsnq_entry e;
		struct spooled s;
		bool failed;

		if (st != CM_OK || id_of(names[i], id, &failed) != 0)
			continue;
		path = spool_path(spool, names[i], "");
		if (path == NULL) {
			st = CM_ENOMEM;
			continue;
		}
		if (read_spool(path, &s) == CM_OK) {
			e.id = id;
			e.failed = failed;
			e.rcpt = s.rcpt;
			e.smtputf8 = s.smtputf8;
			e.created_us = s.created;
			e.error = s.error;
			e.size = s.len;
			if (fn(arg, &e) != 0)
				st = CM_EEXIST;	/* stop */
			free(s.data);
		}
		free(path);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
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
	const char *suffix = SUF_FAILED;
	struct spooled s;
	char *path;
	cm_status st;
	int rc;

	if (spool == NULL || id == NULL || !valid_id(id)) {
		seterr(err, "invalid id");
		return CM_EINVAL;
	}
	path = spool_path(spool, id, suffix);
	if (path == NULL)
		return CM_ENOMEM;
	st = read_spool(path, &s);
	if (st == CM_NOTFOUND) {
		free(path);
		suffix = SUF_PENDING;
		path = spool_path(spool, id, suffix);
		if (path == NULL)
			return CM_ENOMEM;
		st = read_spool(path, &s);
	}
	if (st != CM_OK) {
		seterr(err, "%s", st == CM_NOTFOUND ? "no such DSN" :
		    cm_strerror(st));
		free(path);
		return st;
	}
	rc = cm_dsnq_smtp_send(target, helo, timeout_ms, s.rcpt, s.msg, s.len,
	    s.smtputf8, err);
	free(s.data);
	if (rc == 0) {
		unlink(path);
		cm_fsync_dir(spool);
		free(path);
		return CM_OK;
	}
	free(path);
	(void)mark_failed(spool, id, err ? err : "not delivered");
	return CM_EIO;
}

/* ---------------------------------------------------------------- queue */

struct item {
	struct item *next;
	char id[CM_DSNQ_ID_MAX];
	unsigned attempts;
	int64_t next_ms;	/* monotonic */
};

struct cm_dsnq {
	char *spool, *target, *helo;
	unsigned attempts, first_delay_ms, max_delay_ms, timeout_ms;
	cm_report_fn *report;
	void *report_arg;

	pthread_mutex_t mu;
	pthread_cond_t cv;	/* work / stop */
	pthread_cond_t idle;
	pthread_t thread;
	struct item *items;
	bool stop, busy;
	cm_dsnq_stats st;
	unsigned seq;
	unsigned gen;		/* +1 per cm_dsnq_reconfigure */
};

static void
qlog(cm_dsnq *q, cm_report_severity sev, cm_status st, const char *id,
    const char *text)
{
	if (q->report != NULL) {
		cm_report r = { .severity = sev, .status = st, .subject = id,
		    .text = text };

		q->report(q->report_arg, &r);
	}
}

static void
new_id(cm_dsnq *q, char *id)
{
	int64_t us = cm_time_now();
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	unsigned char r[4] = { 0 };
	unsigned seq;
	char buf[160];

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		memcpy(r, &us, sizeof(r));
	pthread_mutex_lock(&q->mu);
	seq = q->seq++;
	pthread_mutex_unlock(&q->mu);
	gmtime_r(&t, &tm);
	snprintf(buf, sizeof(buf), "%04d%02d%02dT%02d%02d%02d.%06ld-%02x%02x"
	    "%02x%02x-%u", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(us % 1000000), r[0], r[1],
	    r[2], r[3], seq % 10000);
	snprintf(id, CM_DSNQ_ID_MAX, "%.*s", CM_DSNQ_ID_MAX - 1, buf);
}

static void
add_item(cm_dsnq *q, const char *id)
{
	struct item *it = calloc(1, sizeof(*it)), **pp;

	if (it == NULL)
		return;	/* stays spooled; picked up at the next start */
	snprintf(it->id, sizeof(it->id), "%s", id);
	it->next_ms = mono_ms();
	for (pp = &q->items; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = it;
	q->st.pending++;
	pthread_cond_signal(&q->cv);
}

static int64_t
backoff_ms(const cm_dsnq *q, unsigned attempts)
{
	int64_t d = q->first_delay_ms;

	for (unsigned i = 1; i < attempts && d < q->max_delay_ms; i++)
		d *= 2;
	return d > q->max_delay_ms ? q->max_delay_ms : d;
}

static void
try_one(cm_dsnq *q, struct item *it)
{
	char err[CM_DSNQ_ERR_MAX] = "", text[CM_DSNQ_ERR_MAX + 96];
	char *path = spool_path(q->spool, it->id, SUF_PENDING);
	char *target, *helo;
	unsigned timeout_ms, gen;
	bool give_up;
	struct spooled s;
	cm_status st;
	int rc;

	if (path == NULL) {
		it->next_ms = mono_ms() + 1000;
		return;
	}
	st = read_spool(path, &s);
	if (st != CM_OK) {
		free(path);
		pthread_mutex_lock(&q->mu);
		it->next_ms = -1;	/* drop from the queue */
		pthread_mutex_unlock(&q->mu);
		snprintf(text, sizeof(text), "spool file unreadable: %s",
		    cm_strerror(st));
		qlog(q, CM_REPORT_ERROR, st, it->id, text);
		return;
	}
	/* the settings may change (cm_dsnq_reconfigure): copy them */
	pthread_mutex_lock(&q->mu);
	target = strdup(q->target);
	helo = strdup(q->helo);
	timeout_ms = q->timeout_ms;
	gen = q->gen;
	pthread_mutex_unlock(&q->mu);
	if (target == NULL || helo == NULL) {
		free(target);
		free(helo);
		free(s.data);
		free(path);
		it->next_ms = mono_ms() + 1000;
		return;
	}
	rc = cm_dsnq_smtp_send(target, helo, timeout_ms, s.rcpt,
	    s.msg, s.len, s.smtputf8, err);
	free(s.data);
	free(helo);
	pthread_mutex_lock(&q->mu);
	if (rc != 0 && gen != q->gen) {
		/* reconfigured meanwhile: try the new target at once */
		it->next_ms = mono_ms();
		pthread_mutex_unlock(&q->mu);
		free(target);
		free(path);
		return;
	}
	it->attempts++;
	give_up = rc == 5 || it->attempts >= q->attempts;
	pthread_mutex_unlock(&q->mu);
	if (rc == 0) {
		unlink(path);
		cm_fsync_dir(q->spool);
		snprintf(text, sizeof(text), "delivered to %s: %s", target,
		    err);
		qlog(q, CM_REPORT_INFO, CM_OK, it->id, text);
		pthread_mutex_lock(&q->mu);
		q->st.delivered++;
		it->attempts = 0;
		it->next_ms = -1;	/* done */
		pthread_mutex_unlock(&q->mu);
	} else if (give_up) {
		(void)mark_failed(q->spool, it->id, err);
		snprintf(text, sizeof(text), "given up after %u attempt%s, kept "
		    "in the spool: %s", it->attempts, it->attempts == 1 ? "" : "s",
		    err);
		qlog(q, CM_REPORT_ERROR, CM_EIO, it->id, text);
		pthread_mutex_lock(&q->mu);
		q->st.failed++;
		it->next_ms = -1;
		pthread_mutex_unlock(&q->mu);
	} else {
		int64_t d;

		pthread_mutex_lock(&q->mu);
		d = backoff_ms(q, it->attempts);
		q->st.retried++;
		it->next_ms = mono_ms() + d;
		pthread_mutex_unlock(&q->mu);
		snprintf(text, sizeof(text), "attempt %u failed, retry in %lld "
		    "ms: %s", it->attempts, (long long)d, err);
		qlog(q, CM_REPORT_WARNING, CM_EIO, it->id, text);
	}
	free(target);
	free(path);
}

static void *
queue_main(void *arg)
{
	cm_dsnq *q = arg;

	pthread_mutex_lock(&q->mu);
	while (!q->stop) {
		struct item *it, *due = NULL, **pp;
		int64_t now = mono_ms(), next = INT64_MAX;

		/* remove finished ones */
		for (pp = &q->items; (it = *pp) != NULL;) {
			if (it->next_ms < 0 || it->attempts >= q->attempts) {
				*pp = it->next;
				free(it);
				q->st.pending--;
				continue;
			}
			if (it->next_ms <= now && due == NULL)
				due = it;
			if (it->next_ms < next)
				next = it->next_ms;
			pp = &it->next;
		}
		if (q->items == NULL)
			pthread_cond_broadcast(&q->idle);
		if (due == NULL) {
			struct timespec ts;

			if (next == INT64_MAX) {
				pthread_cond_wait(&q->cv, &q->mu);
			} else {
				int64_t ms = next - now;

				clock_gettime(CLOCK_MONOTONIC, &ts);
				ts.tv_sec += (time_t)(ms / 1000);
				ts.tv_nsec += (long)(ms % 1000) * 1000000L;
				if (ts.tv_nsec >= 1000000000L) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000L;
				}
				(void)pthread_cond_timedwait(&q->cv, &q->mu, &ts);
			}
			continue;
		}
		q->busy = true;
		pthread_mutex_unlock(&q->mu);
		try_one(q, due);
		pthread_mutex_lock(&q->mu);
		q->busy = false;
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* Free Q and everything it owns; its thread is not running. */
static void
queue_free(cm_dsnq *q)
{
	struct item *it;

	while ((it = q->items) != NULL) {
		q->items = it->next;
		free(it);
	}
	pthread_cond_destroy(&q->cv);
	pthread_cond_destroy(&q->idle);
	pthread_mutex_destroy(&q->mu);
	free(q->spool);
	free(q->target);
	free(q->helo);
	free(q);
}

cm_status
cm_dsnq_open(const cm_dsnq_opts *o, cm_dsnq **out)
{
	cm_dsnq *q;
	pthread_condattr_t ca;
	char **names = NULL;
	size_t n = 0;
	cm_status st;

	if (o == NULL || out == NULL || o->spool == NULL || *o->spool == '\0' ||
	    cm_dsnq_target_check(o->target) != CM_OK)
		return CM_EINVAL;
	if (mkdir(o->spool, 0700) != 0 && errno != EEXIST)
		return cm_status_errno(errno);
	if (access(o->spool, W_OK | X_OK) != 0)
		return cm_status_errno(errno);
	st = spool_names(o->spool, &names, &n);
	if (st != CM_OK)
		return st;
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		st = CM_ENOMEM;
		goto out;
	}
	q->spool = strdup(o->spool);
	q->target = strdup(o->target);
	q->helo = strdup(o->helo && *o->helo ? o->helo : "localhost");
	q->attempts = o->attempts ? o->attempts : 8;
	q->first_delay_ms = o->first_delay_ms ? o->first_delay_ms : 10000;
	q->max_delay_ms = o->max_delay_ms ? o->max_delay_ms : 3600000;
	if (q->max_delay_ms < q->first_delay_ms)
		q->max_delay_ms = q->first_delay_ms;
	q->timeout_ms = o->timeout_ms ? o->timeout_ms : 30000;
	q->report = o->report;
	q->report_arg = o->report_arg;
	if (q->spool == NULL || q->target == NULL || q->helo == NULL ||
	    pthread_mutex_init(&q->mu, NULL) != 0) {
		free(q->spool);
		free(q->target);
		free(q->helo);
		free(q);
		st = CM_ENOMEM;
		goto out;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&q->idle, NULL);
	/* pending DSNs of an earlier run */
	for (size_t i = 0; i < n; i++) {
		char id[CM_DSNQ_ID_MAX];
		bool failed;

		if (id_of(names[i], id, &failed) == 0 && !failed)
			add_item(q, id);
	}
	if (pthread_create(&q->thread, NULL, queue_main, q) != 0) {
		queue_free(q);
		st = CM_ENOMEM;
		goto out;
	}
	*out = q;
	st = CM_OK;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return st;
}

cm_status
cm_dsnq_reconfigure(cm_dsnq *q, const cm_dsnq_opts *o)
{
	char *target, *helo;
	struct item *it;
	bool moved;

	if (q == NULL || o == NULL ||
	    cm_dsnq_target_check(o->target) != CM_OK)
		return CM_EINVAL;
	target = strdup(o->target);
	helo = strdup(o->helo && *o->helo ? o->helo : "localhost");
	if (target == NULL || helo == NULL) {
		free(target);
		free(helo);
		return CM_ENOMEM;
	}
	pthread_mutex_lock(&q->mu);
	moved = strcmp(q->target, target) != 0;
	free(q->target);
	free(q->helo);
	q->target = target;
	q->helo = helo;
	q->attempts = o->attempts ? o->attempts : 8;
	q->first_delay_ms = o->first_delay_ms ? o->first_delay_ms : 10000;
	q->max_delay_ms = o->max_delay_ms ? o->max_delay_ms : 3600000;
	if (q->max_delay_ms < q->first_delay_ms)
		q->max_delay_ms = q->first_delay_ms;
	q->timeout_ms = o->timeout_ms ? o->timeout_ms : 30000;
	if (moved) {
		/* what waited for the old target goes to the new one now,
		 * with all its attempts */
		q->gen++;
		for (it = q->items; it != NULL; it = it->next) {
			if (it->next_ms < 0)
				continue;
			it->attempts = 0;
			it->next_ms = mono_ms();
		}
		pthread_cond_signal(&q->cv);
	} else {
		/* fewer attempts: one more try each, then give up as usual */
		for (it = q->items; it != NULL; it = it->next)
			if (it->next_ms >= 0 && it->attempts >= q->attempts)
				it->attempts = q->attempts - 1;
	}
	pthread_mutex_unlock(&q->mu);
	return CM_OK;
}

cm_status
cm_dsnq_submit(cm_dsnq *q, const char *rcpt, const char *msg, size_t len,
    bool smtputf8, char *id_out)
{
	char id[CM_DSNQ_ID_MAX], addr[1024], hdr[2048];
	cm_status st;

	if (q == NULL || rcpt == NULL || msg == NULL ||
	    clean_rcpt(rcpt, addr, sizeof(addr)) != 0)
		return CM_EINVAL;
	new_id(q, id);
	if (header_for(hdr, sizeof(hdr), addr, smtputf8, cm_time_now(), NULL) != 0)
		return CM_ETOOLONG;
	st = write_spool(q->spool, id, SUF_PENDING, hdr, msg, len);
	if (st != CM_OK)
		return st;
	pthread_mutex_lock(&q->mu);
	q->st.submitted++;
	add_item(q, id);
	pthread_mutex_unlock(&q->mu);
	if (id_out != NULL)
		snprintf(id_out, CM_DSNQ_ID_MAX, "%s", id);
	return CM_OK;
}

void
cm_dsnq_stats_get(cm_dsnq *q, cm_dsnq_stats *out)
{
	pthread_mutex_lock(&q->mu);
	*out = q->st;
	pthread_mutex_unlock(&q->mu);
}

bool
cm_dsnq_wait_idle(cm_dsnq *q, unsigned timeout_ms)
{
	struct timespec ts;
	bool idle;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(timeout_ms / 1000);
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q->mu);
	while (q->st.pending > 0 || q->busy)
		if (pthread_cond_timedwait(&q->idle, &q->mu, &ts) != 0)
			break;
	idle = q->st.pending == 0 && !q->busy;
	pthread_mutex_unlock(&q->mu);
	return idle;
}

void
cm_dsnq_close(cm_dsnq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	queue_free(q);
}
