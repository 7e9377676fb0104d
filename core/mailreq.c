/*
 * mailreq.c - the mailto unsubscribe request (see mailreq.h).
 */
#include "mailreq.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static bool
b64url(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Append S (N octets) to OUT at *O, cut to MAX octets; a field (FIELD)
 * has octets outside 0x21..0x7e replaced by '_'.  False if OUT is
 * full. */
static bool
put(char *out, size_t size, size_t *o, const char *s, size_t n, size_t max,
    bool field)
{
	if (n > max)
		n = max;
	if (*o + n + 1 >= size)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		out[(*o)++] = !field || (c > 0x20 && c < 0x7f) ? (char)c : '_';
	}
	out[*o] = '\0';
	return true;
}

size_t
cm_mailreq_format(const char *token, size_t toklen, const char *sender,
    const char *client, const char *msgid, char *out, size_t size)
{
	size_t o = 0;

	if (size == 0)
		return 0;
	out[0] = '\0';
	if (toklen == 0 || toklen >= CM_TOKEN_TEXT_MAX)
		return 0;
	for (size_t i = 0; i < toklen; i++)
		if (!b64url((unsigned char)token[i]))
			return 0;
	if (sender == NULL)
		sender = "";
	if (client == NULL || *client == '\0')
		client = "-";
	if (msgid == NULL || *msgid == '\0')
		msgid = "-";
	if (!put(out, size, &o, "MAILTO ", 7, 7, false) ||
	    !put(out, size, &o, token, toklen, toklen, true) ||
	    !put(out, size, &o, " <", 2, 2, false) ||
	    !put(out, size, &o, sender, strlen(sender),
	    CM_MAILREQ_SENDER_MAX - 2, true) ||
	    !put(out, size, &o, "> ", 2, 2, false) ||
	    !put(out, size, &o, client, strlen(client), CM_MAILREQ_CLIENT_MAX,
	    true) ||
	    !put(out, size, &o, " ", 1, 1, false) ||
	    !put(out, size, &o, msgid, strlen(msgid), CM_MAILREQ_MSGID_MAX,
	    true) ||
	    !put(out, size, &o, "\n", 1, 1, false))
		goto full;
	return o <= CM_MAILREQ_LINE_MAX ? o : 0;
full:
	out[0] = '\0';
	return 0;
}

/* Copy field F (N octets) into DST (SIZE octets) if it fits. */
static bool
take(char *dst, size_t size, const char *f, size_t n)
{
	if (n == 0 || n >= size)
		return false;
	memcpy(dst, f, n);
	dst[n] = '\0';
	return true;
}

cm_status
cm_mailreq_parse(const char *line, size_t len, cm_mailreq *out)
{
	const char *f[5];
	size_t n[5], nf = 0;

	if (len > CM_MAILREQ_LINE_MAX)
		return CM_ETOOLONG;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	/* five fields, single spaces, printable ASCII only */
	for (size_t i = 0, start = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)line[i] : ' ';

		if (c != ' ') {
			if (c < 0x21 || c > 0x7e)
				return CM_EINVAL;
			continue;
		}
		if (i == start || nf == 5)
			return CM_EINVAL;
		f[nf] = line + start;
		n[nf++] = i - start;
		start = i + 1;
	}
	if (nf != 5 || n[0] != 6 || memcmp(f[0], "MAILTO", 6) != 0)
		return CM_EINVAL;
	for (size_t i = 0; i < n[1]; i++)
		if (!b64url((unsigned char)f[1][i]))
			return CM_EINVAL;
	if (!take(out->token, sizeof out->token, f[1], n[1]))
		return CM_EINVAL;
	if (n[2] < 2 || f[2][0] != '<' || f[2][n[2] - 1] != '>' ||
	    !take(out->sender, sizeof out->sender, f[2], n[2]))
		return CM_EINVAL;
	out->client[0] = '\0';
	if (!(n[3] == 1 && f[3][0] == '-')) {
		for (size_t i = 0; i < n[3]; i++) {
			char c = f[3][i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			    (c >= 'A' && c <= 'F') || c == '.' || c == ':'))
				return CM_EINVAL;
		}
		if (!take(out->client, sizeof out->client, f[3], n[3]))
			return CM_EINVAL;
	}
	out->msgid[0] = '\0';
	if (!(n[4] == 1 && f[4][0] == '-') &&
	    !take(out->msgid, sizeof out->msgid, f[4], n[4]))
		return CM_EINVAL;
	return CM_OK;
}

int
cm_mailreq_reply_code(const char *line, size_t len)
{
	int code = 0;

	if (len < 3)
		return -1;
	for (int i = 0; i < 3; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -1;
		code = code * 10 + (line[i] - '0');
	}
	if (len > 3 && line[3] != ' ' && line[3] != '\n' && line[3] != '\r')
		return -1;
	return code >= 200 && code <= 599 ? code : -1;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for EVENTS on FD until DEADLINE (ms); 1 ready, 0 timeout, -1. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int
fail(char *reply, size_t rsize, const char *what, int err)
{
	if (rsize > 0)
		snprintf(reply, rsize, "%s: %s", what, strerror(err));
	return -1;
}

int
cm_mailreq_call(const char *path, unsigned timeout_ms, const char *req,
    size_t len, char *reply, size_t rsize)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = now_ms() + (timeout_ms ? timeout_ms : 10000);
	char buf[CM_MAILREQ_REPLY_MAX];
	size_t got = 0, off = 0;
	int fd, r, code;
	char *nl = NULL;

	if (rsize > 0)
		reply[0] = '\0';
	if (strlen(path) >= sizeof sa.sun_path)
		return fail(reply, rsize, "socket path too long", ENAMETOOLONG);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(reply, rsize, "socket", errno);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		/* unix sockets connect at once or fail (EAGAIN: backlog full) */
		int e = errno;
		close(fd);
		return fail(reply, rsize, "connect", e);
	}
	{
		/* only consent-web: a server of our own user or root (the
		 * socket's directory could be writable by someone else) */
		struct ucred cr;
		socklen_t cl = sizeof cr;

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 ||
		    (cr.uid != geteuid() && cr.uid != 0)) {
			close(fd);
			return fail(reply, rsize, "the server is not of this "
			    "user or root", EPERM);
		}
	}
	while (off < len) {
		ssize_t w;

		if ((r = wait_fd(fd, POLLOUT, deadline)) <= 0)
			goto timeout;
		w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w < 0) {
			int e = errno;
			close(fd);
			return fail(reply, rsize, "send", e);
		}
		off += (size_t)w;
	}
	while (nl == NULL && got < sizeof buf) {
		ssize_t n;

		if ((r = wait_fd(fd, POLLIN, deadline)) <= 0)
			goto timeout;
		n = recv(fd, buf + got, sizeof buf - got, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			int e = n == 0 ? ECONNRESET : errno;
			close(fd);
			return fail(reply, rsize, "reply", e);
		}
		nl = memchr(buf + got, '\n', (size_t)n);
		got += (size_t)n;
	}
	close(fd);
	if (nl == NULL)
		return fail(reply, rsize, "reply", EPROTO);
	got = (size_t)(nl - buf);
	if (got > 0 && buf[got - 1] == '\r')
		got--;
	if (rsize > 0) {
		size_t c = got < rsize - 1 ? got : rsize - 1;
		for (size_t i = 0; i < c; i++)
			reply[i] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '?';
		reply[c] = '\0';
	}
	code = cm_mailreq_reply_code(buf, got);
	if (code < 0 && rsize > 0)
		snprintf(reply, rsize, "reply: malformed");
	return code;
timeout:
	close(fd);
	return fail(reply, rsize, r == 0 ? "no reply in time" : "poll",
	    r == 0 ? ETIMEDOUT : errno);
}
