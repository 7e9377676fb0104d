/* smtp.c - the SMTP client that delivers DSNs (smtp.h). */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "smtp.h"
#include "timefmt.h"

#define REPLY_MAX 16384

static int64_t
mono_ms(void)
{
	return cm_time_mono_us() / 1000;
}

void
cm_smtp_seterr(char *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err, CM_SMTP_ERR_MAX, fmt, ap);
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
cm_smtp_target_check(const char *target)
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
			cm_smtp_seterr(err, "connect to %s: %s", t->path,
			    strerror(errno));
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
			cm_smtp_seterr(err, "resolve %s: %s", t->host,
			    gai_strerror(r));
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
			cm_smtp_seterr(err, "connect to %s port %s: %s",
			    t->host, t->port, strerror(e));
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
			cm_smtp_seterr(err, "reading the SMTP reply: %s",
			    strerror(errno));
			return -1;
		}
		if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
		    line[2] > '9' || (line[3] != '\0' && line[3] != ' ' &&
		    line[3] != '-')) {
			cm_smtp_seterr(err, "malformed SMTP reply: %.100s", line);
			return -1;
		}
		int lc = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');

		if (code >= 0 && lc != code) {
			cm_smtp_seterr(err, "inconsistent SMTP reply codes");
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
	cm_smtp_seterr(err, "SMTP reply too long");
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
		cm_smtp_seterr(err, "SMTP command too long");
		return -1;
	}
	memcpy(line, cmd, n);
	memcpy(line + n, "\r\n", 2);
	if (send_all(c, line, n + 2) != 0) {
		cm_smtp_seterr(err, "sending to the SMTP server: %s",
		    strerror(errno));
		return -1;
	}
	return read_reply(c, err);
}

int
cm_smtp_clean_rcpt(const char *rcpt, char *out, size_t size)
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

/*
 * The outcome of a step whose reply code is CODE (-1: no reply, ERR set
 * already): 0 if it is WANT (0: any 2xx), else 4 or 5 (5xx) with ERR
 * "WHAT: reply".
 */
static int
step(const struct conn *c, int code, int want, const char *what, char *err)
{
	if (code < 0)
		return 4;
	if (want != 0 ? code == want : code / 100 == 2)
		return 0;
	cm_smtp_seterr(err, "%s: %.400s", what, c->reply);
	return code >= 500 ? 5 : 4;
}

int
cm_smtp_send(const char *target, const char *helo, unsigned timeout_ms,
    const char *rcpt, const char *msg, size_t len, bool smtputf8, char *err)
{
	struct target t;
	struct conn *c;
	char cmd[1200], addr[1024], what[320];
	int code, rc = 4;
	bool eightbit = false;

	if (parse_target(target, &t) != 0) {
		cm_smtp_seterr(err, "invalid target \"%.200s\"",
		    target ? target : "");
		return 5;
	}
	if (rcpt == NULL || cm_smtp_clean_rcpt(rcpt, addr, sizeof(addr)) != 0) {
		cm_smtp_seterr(err, "invalid recipient");
		return 5;
	}
	if (helo == NULL || *helo == '\0')
		helo = "localhost";
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		cm_smtp_seterr(err, "out of memory");
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

	if ((rc = step(c, read_reply(c, err), 220, "greeting", err)) != 0)
		goto out;
	snprintf(cmd, sizeof(cmd), "EHLO %.255s", helo);
	code = command(c, cmd, err);
	if (code >= 500) {
		snprintf(cmd, sizeof(cmd), "HELO %.255s", helo);
		code = command(c, cmd, err);
	}
	if ((rc = step(c, code, 250, "EHLO", err)) != 0)
		goto out;
	snprintf(cmd, sizeof(cmd), "MAIL FROM:<>%s%s",
	    smtputf8 && c->ext_smtputf8 ? " SMTPUTF8" : "",
	    eightbit && c->ext_8bitmime ? " BODY=8BITMIME" : "");
	if ((rc = step(c, command(c, cmd, err), 0, "MAIL FROM", err)) != 0)
		goto out;
	snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>", addr);
	snprintf(what, sizeof(what), "RCPT TO:<%.300s>", addr);
	if ((rc = step(c, command(c, cmd, err), 0, what, err)) != 0)
		goto out;
	if ((rc = step(c, command(c, "DATA", err), 354, "DATA", err)) != 0)
		goto out;
	if (send_data(c, msg, len) != 0) {
		cm_smtp_seterr(err, "sending the message: %s", strerror(errno));
		rc = 4;
		goto out;
	}
	if ((rc = step(c, read_reply(c, err), 0, "end of data", err)) != 0)
		goto out;
	cm_smtp_seterr(err, "accepted: %.400s", c->reply);
	rc = 0;
	(void)command(c, "QUIT", NULL);
out:
	close(c->fd);
	free(c);
	return rc;
}
