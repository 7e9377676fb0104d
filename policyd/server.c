/*
 * server.c - listener and connection threads (server.h).
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../milter/log.h"
#include "decide.h"

#define READ_CHUNK 4096
#define THREAD_STACK (256 * 1024)
/* A request must arrive whole within this (or idle_timeout if shorter),
 * counted from its first byte: Postfix writes one in a single go. */
#define REQUEST_TIMEOUT_MS 10000

struct conn {
	int fd;
	struct conn *prev, *next;
	const cm_pdsrv_opts *o;
	cm_pddec_seen seen;
	/* written by the connection's thread, read under mu by make_room:
	 * no lock on the request's path */
	_Atomic int64_t since_ms;	/* last answer (or accept), or
					 * request start */
	atomic_bool in_request;	/* bytes of a request read, not answered */
	bool evicted;		/* under mu: shut down to make room */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct conn *conns;	/* live connections */
static unsigned nconns;
static bool stopping;
static int stop_pipe[2] = { -1, -1 };

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* C is in a request or between requests since NOW (now_ms()) */
static void
mark(struct conn *c, bool in_request, int64_t now)
{
	atomic_store_explicit(&c->since_ms, now, memory_order_relaxed);
	atomic_store_explicit(&c->in_request, in_request,
	    memory_order_relaxed);
}

const char *
cm_pdsrv_unix_path(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return spec + 5;
	if (strncmp(spec, "local:", 6) == 0)
		return spec + 6;
	return NULL;
}

/* The unix socket this process made (cm_pdsrv_unlink). */
static dev_t sock_dev;
static ino_t sock_ino;
static bool sock_made;

/*
 * Make room for a unix socket at PATH: nothing there, or a socket no
 * server answers on (a stale one: removed).  Anything else is refused:
 * a file that is no socket is never replaced, a live server is never
 * taken over.  0, or -1 with a message in ERR.
 */
static int
clear_path(const char *spec, const char *path, const struct sockaddr_un *un,
    char *err, size_t size)
{
	struct stat sb;
	int s, rc;

	if (lstat(path, &sb) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, size, "%s: %s", spec, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, size, "%s: exists and is not a socket; not "
		    "replaced", spec);
		return -1;
	}
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		snprintf(err, size, "%s: %s", spec, strerror(errno));
		return -1;
	}
	rc = connect(s, (const struct sockaddr *)un, sizeof(*un));
	close(s);
	if (rc == 0) {
		snprintf(err, size, "%s: in use by a running server", spec);
		return -1;
	}
	if (errno != ECONNREFUSED && errno != ENOENT) {
		snprintf(err, size, "%s: %s", spec, strerror(errno));
		return -1;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, size, "%s: removing the stale socket: %s", spec,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
cm_pdsrv_listen(const char *spec, unsigned mode, int *fd, char *err,
    size_t size)
{
	const char *path = cm_pdsrv_unix_path(spec), *at, *full = spec;
	struct addrinfo hints, *res = NULL;
	char port[16], host[256];
	int s, one = 1, family;

	if (path != NULL) {
		struct sockaddr_un un;
		struct stat sb;
		mode_t old;
		int rc, e;

		memset(&un, 0, sizeof(un));
		un.sun_family = AF_UNIX;
		if (strlen(path) >= sizeof(un.sun_path)) {
			snprintf(err, size, "%s: path too long", spec);
			return -1;
		}
		memcpy(un.sun_path, path, strlen(path) + 1);
		if (clear_path(spec, path, &un, err, size) != 0)
			return -1;
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			goto fail;
		/* made with MODE: never a moment more open (bind never
		 * follows a symbolic link: it fails on anything there) */
		old = umask((mode_t)(~mode & 0777));
		rc = bind(s, (struct sockaddr *)&un, sizeof(un));
		e = errno;
		(void)umask(old);
		if (rc != 0 || listen(s, 128) != 0) {
			if (rc == 0)
				e = errno;
			close(s);
			errno = e;
			goto fail;
		}
		if (lstat(path, &sb) == 0) {
			sock_dev = sb.st_dev;
			sock_ino = sb.st_ino;
			sock_made = true;
		}
		*fd = s;
		return 0;
	}
	if (strncmp(spec, "inet:", 5) == 0)
		family = AF_INET;
	else if (strncmp(spec, "inet6:", 6) == 0)
		family = AF_INET6;
	else {
		snprintf(err, size, "%s: not unix:PATH, inet:PORT@HOST or "
		    "inet6:PORT@HOST", spec);
		return -1;
	}
	spec = strchr(spec, ':') + 1;
	at = strchr(spec, '@');
	if (at == NULL || (size_t)(at - spec) >= sizeof(port) ||
	    strlen(at + 1) >= sizeof(host)) {
		snprintf(err, size, "%s: expected PORT@HOST", full);
		return -1;
	}
	memcpy(port, spec, (size_t)(at - spec));
	port[at - spec] = '\0';
	snprintf(host, sizeof(host), "%s", at + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL) {
		snprintf(err, size, "%s: cannot resolve", full);
		return -1;
	}
	s = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		freeaddrinfo(res);
		goto fail;
	}
	(void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, res->ai_addr, res->ai_addrlen) != 0 || listen(s, 128) != 0) {
		int e = errno;

		close(s);
		freeaddrinfo(res);
		errno = e;
		goto fail;
	}
	freeaddrinfo(res);
	*fd = s;
	return 0;
fail:
	snprintf(err, size, "%s: %s", full, strerror(errno));
	return -1;
}

/* Send all of BUF; false on error or timeout. */
static bool
send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

static bool
answer(int fd, const char *action)
{
	static const char fail[] = "action=451 4.3.0 Consent check failed, "
	    "try again later\n\n";
	char line[CM_PDDEC_ACTION_MAX + 16];
	size_t n = strlen(action);

	if (n + sizeof("action=\n\n") > sizeof(line))
		return send_all(fd, fail, sizeof(fail) - 1);
	memcpy(line, "action=", 7);
	memcpy(line + 7, action, n);
	memcpy(line + 7 + n, "\n\n", 2);
	return send_all(fd, line, n + 9);
}

/* Wait until FD is readable or DEADLINE_MS (monotonic) passes; false
 * on timeout or error. */
static bool
wait_readable(int fd, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int64_t left = deadline_ms - now_ms();
		int n;

		if (left <= 0)
			return false;
		n = poll(&pf, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return false;
	}
}

/*
 * Serve one connection until it ends, errs, idles out (idle_timeout
 * between requests) or a request takes too long to arrive (counted from
 * its first byte, so a client sending a byte now and then holds no slot).
 */
static void
serve(struct conn *c, cm_pdreq *req)
{
	const cm_pdsrv_opts *o = c->o;
	char in[READ_CHUNK], action[CM_PDDEC_ACTION_MAX];
	size_t off = 0, have = 0, used;
	int64_t idle = o->idle_timeout_ms, whole = REQUEST_TIMEOUT_MS;
	int64_t deadline = now_ms() + idle;
	bool started = false;

	if (whole > idle)
		whole = idle;
	for (;;) {
		cm_pdreq_rc rc;

		if (off == have) {
			ssize_t n;

			if (!started) {
				/* between requests: one blocking read, that
				 * the socket's receive timeout (idle_timeout,
				 * start_conn) ends; no poll on the request's
				 * path */
				n = recv(c->fd, in, sizeof(in), 0);
				if (n < 0 && errno == EINTR) {
					if (now_ms() >= deadline)
						return;
					continue;
				}
			} else {
				/* inside a request: its own deadline */
				if (!wait_readable(c->fd, deadline))
					return;
				n = recv(c->fd, in, sizeof(in), MSG_DONTWAIT);
				if (n < 0 && (errno == EINTR || errno == EAGAIN))
					continue;
			}
			if (n <= 0)	/* closed, evicted, idle, error */
				return;
			off = 0;
			have = (size_t)n;
		}
		if (!started) {
			int64_t now = now_ms();

			started = true;
			deadline = now + whole;
			mark(c, true, now);
		}
		rc = cm_pdreq_feed(req, in + off, have - off, &used);
		if (rc == CM_PDREQ_MORE) {
			off = have;
			continue;
		}
		if (rc == CM_PDREQ_BAD) {
			o->malformed(o->arg, cm_pdreq_error(req), action,
			    sizeof(action));
			(void)answer(c->fd, action);
			return;
		}
		off += used;
		o->decide(o->arg, req, &c->seen, action, sizeof(action));
		cm_pdreq_reset(req);
		if (!answer(c->fd, action))
			return;
		started = false;
		{
			int64_t now = now_ms();

			deadline = now + idle;
			mark(c, false, now);
		}
	}
}

static void *
conn_main(void *arg)
{
	struct conn *c = arg;
	cm_pdreq *req = cm_pdreq_new();

	if (req == NULL)
		cm_log(LOG_ERR, "policy connection: out of memory; closed");
	else
		serve(c, req);
	cm_pdreq_free(req);
	pthread_mutex_lock(&mu);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	close(c->fd);
	nconns--;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	free(c);
	return NULL;
}

/* Start a thread for accepted FD; false (FD closed) if it cannot. */
static bool
start_conn(int fd, const cm_pdsrv_opts *o, pthread_attr_t *attr)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct timeval tv;
	pthread_t tid;
	int rc;

	tv.tv_sec = (time_t)(o->idle_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(o->idle_timeout_ms % 1000) * 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* a read between requests ends after idle_timeout (serve) */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
		cm_log(LOG_ERR, "policy connection: SO_RCVTIMEO: %s; closed",
		    strerror(errno));
		close(fd);
		free(c);
		return false;
	}
	if (c == NULL) {
		close(fd);
		return false;
	}
	c->fd = fd;
	c->o = o;
	c->since_ms = now_ms();
	pthread_mutex_lock(&mu);
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	nconns++;
	rc = pthread_create(&tid, attr, conn_main, c);
	if (rc != 0) {
		conns = c->next;
		if (conns != NULL)
			conns->prev = NULL;
		nconns--;
		pthread_mutex_unlock(&mu);
		close(fd);
		free(c);
		return false;
	}
	pthread_mutex_unlock(&mu);
	return true;
}

/*
 * At MAX connections or more (or out of descriptors, FORCE): end the one
 * idle longest between requests, else the one whose request started
 * first.  Postfix reconnects on its next request.  Logged at most once
 * a minute.
 */
static void
make_room(unsigned max, bool force)
{
	static int64_t logged_ms;
	struct conn *victim = NULL;
	int64_t now = now_ms();

	pthread_mutex_lock(&mu);
	if (nconns >= max || force)
		for (struct conn *c = conns; c != NULL; c = c->next) {
			if (c->evicted)
				continue;
			if (victim == NULL ||
			    (!c->in_request && victim->in_request) ||
			    (c->in_request == victim->in_request &&
			    c->since_ms < victim->since_ms))
				victim = c;
		}
	if (victim != NULL) {
		victim->evicted = true;
		(void)shutdown(victim->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&mu);
	if (victim != NULL && (logged_ms == 0 || now - logged_ms >= 60000)) {
		logged_ms = now;
		cm_log(LOG_WARNING, force ? "out of file descriptors; the "
		    "connection idle longest is closed (raise LimitNOFILE)" :
		    "policy.max_connections (%u) reached; the connection idle "
		    "longest is closed (set it to at least the sum of the "
		    "smtpd process limits)", max);
	}
}

int
cm_pdsrv_run(int lfd, const cm_pdsrv_opts *o)
{
	pthread_attr_t attr;

	if (pipe2(stop_pipe, O_CLOEXEC) != 0) {
		cm_log(LOG_ERR, "pipe: %s", strerror(errno));
		close(lfd);
		return -1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = lfd, .events = POLLIN },
			{ .fd = stop_pipe[0], .events = POLLIN },
		};
		int fd;

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			cm_log(LOG_ERR, "poll: %s", strerror(errno));
			break;
		}
		if (pf[1].revents != 0)
			break;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* make room, and let the connection end */
				struct pollfd w = { .fd = stop_pipe[0],
					.events = POLLIN };

				make_room(o->max_conns, true);
				(void)poll(&w, 1, 100);
			} else if (errno != EINTR && errno != EAGAIN &&
			    errno != ECONNABORTED)
				cm_log(LOG_WARNING, "accept: %s",
				    strerror(errno));
			continue;
		}
		/* never leave a client waiting: the new one is served */
		make_room(o->max_conns, false);
		if (!start_conn(fd, o, &attr))
			cm_log(LOG_ERR, "policy connection: cannot start a "
			    "thread; closed");
	}
	pthread_attr_destroy(&attr);
	close(lfd);
	/* end every connection: a thread answering finishes its reply */
	pthread_mutex_lock(&mu);
	stopping = true;
	for (struct conn *c = conns; c != NULL; c = c->next)
		(void)shutdown(c->fd, SHUT_RD);
	while (nconns > 0)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	close(stop_pipe[0]);
	close(stop_pipe[1]);
	stop_pipe[0] = stop_pipe[1] = -1;
	return 0;
}

void
cm_pdsrv_unlink(const char *spec)
{
	const char *path = cm_pdsrv_unix_path(spec);
	struct stat sb;

	if (path == NULL || !sock_made || lstat(path, &sb) != 0 ||
	    !S_ISSOCK(sb.st_mode) || sb.st_dev != sock_dev ||
	    sb.st_ino != sock_ino)
		return;
	if (unlink(path) != 0 && errno != ENOENT)
		cm_log(LOG_NOTICE, "%s: not removed: %s", path,
		    strerror(errno));
	sock_made = false;
}

void
cm_pdsrv_stop(void)
{
	char b = 0;

	pthread_mutex_lock(&mu);
	stopping = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	if (stop_pipe[1] >= 0 && write(stop_pipe[1], &b, 1) < 0)
		cm_log(LOG_ERR, "stop: %s", strerror(errno));
}
