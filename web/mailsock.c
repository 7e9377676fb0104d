/*
 * mailsock.c - the internal socket for mailto unsubscribes (see
 * mailsock.h).
 */
#include "mailsock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../core/mailreq.h"
#include "../core/timefmt.h"
#include "request.h"
#include "writer.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_idle = PTHREAD_COND_INITIALIZER;
static unsigned active, max_active;
static int lfd = -1, stop_pipe[2] = { -1, -1 };
static int64_t timeout_ms;
static pthread_t listener;
static bool started;
static char sock_path[108];
static dev_t sock_dev;		/* the socket file we made */
static ino_t sock_ino;
static const web_conf *conf;

/* Read one line (up to LF, at most CM_MAILREQ_LINE_MAX octets) from FD
 * within the timeout.  Its length, 0 for none in time or a closed
 * connection, or (size_t)-1 for a line too long. */
static size_t
read_line(int fd, char *buf)
{
	int64_t deadline = cm_time_now() / 1000 + timeout_ms;
	size_t got = 0;

	while (got < CM_MAILREQ_LINE_MAX) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - cm_time_now() / 1000;
		const char *nl;
		ssize_t n;
		int r;

		if (left <= 0)
			return 0;
		if ((r = poll(&p, 1, (int)left)) < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		n = recv(fd, buf + got, CM_MAILREQ_LINE_MAX - got, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return 0;
		if ((nl = memchr(buf + got, '\n', (size_t)n)) != NULL)
			return (size_t)(nl - buf) + 1;
		got += (size_t)n;
	}
	return (size_t)-1;
}

static void
say(int fd, const char *line)
{
	(void)send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Record T's withdrawal (source mailto); the reply line. */
static const char *
record(const cm_token *t, const char *evidence)
{
	cm_event ev = { 0 };
	web_outcome o;

	ev.kind = CM_EV_WITHDRAW;
	ev.addr = t->addr;
	ev.type = t->type;
	ev.source = "mailto";
	ev.evidence = evidence;
	ev.actor = "consent-web";
	o = web_writer_submit(&ev);
	if (conf->verbose && (o == WEB_DONE || o == WEB_ALREADY))
		fprintf(stderr, "consent-web: mailto withdrawal %s for type "
		    "%s (%s)\n", o == WEB_DONE ? "recorded" : "already "
		    "recorded", t->type, evidence);
	switch (o) {
	case WEB_DONE:
		return "250 recorded\n";
	case WEB_ALREADY:
		return "250 already recorded\n";
	case WEB_BUSY:
		return "451 the consent index is busy\n";
	case WEB_NOTHING:
	case WEB_FAILED:
	default:
		fprintf(stderr, "consent-web: mailto withdrawal for type %s "
		    "not recorded\n", t->type);
		return "451 not recorded\n";
	}
}

static void
serve(int fd)
{
	char line[CM_MAILREQ_LINE_MAX + 1], ev[CM_FIELD_MAX];
	size_t n = read_line(fd, line);
	cm_status st;
	cm_token t;

	if (n == 0)
		return;
	if (n == (size_t)-1) {
		say(fd, "500 line too long\n");
		return;
	}
	switch (web_mailto_decide(line, n, web_ring(), web_ring_reload,
	    cm_time_now(), conf->max_age_us, &t, &st, ev, sizeof ev)) {
	case WEB_M_BAD:
		say(fd, "500 malformed request\n");
		return;
	case WEB_M_TOKEN:
		say(fd, st == CM_ESTALE ? "550 expired token\n" :
		    st == CM_NOTFOUND ? "550 token of an unknown key\n" :
		    "550 invalid token\n");
		return;
	case WEB_M_RECORD:
		say(fd, record(&t, ev));
		return;
	}
}

static void *
conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;

	serve(fd);
	close(fd);
	pthread_mutex_lock(&mu);
	if (--active == 0)
		pthread_cond_broadcast(&cv_idle);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static bool paused;	/* accept failed for want of resources */

/* accept() failed with E for want of descriptors or memory: the
 * connection stays pending and poll() reports it at once again, so
 * wait PAUSE_MS (or for the stop) instead of spinning. */
#define PAUSE_MS 100
static void
pause_accepting(int e)
{
	struct pollfd p = { .fd = stop_pipe[0], .events = POLLIN };

	if (!paused)
		fprintf(stderr, "consent-web: mailto socket: cannot accept a "
		    "connection: %s; pausing\n", strerror(e));
	paused = true;
	(void)poll(&p, 1, PAUSE_MS);
}

static void *
listen_main(void *arg)
{
	pthread_attr_t attr;

	(void)arg;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
		    { .fd = stop_pipe[0], .events = POLLIN } };
		pthread_t th;
		bool full;
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents != 0)
			break;
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				pause_accepting(errno);
			continue;
		}
		paused = false;
		pthread_mutex_lock(&mu);
		full = active >= max_active;
		if (!full)
			active++;
		pthread_mutex_unlock(&mu);
		if (full) {
			say(fd, "451 too many connections\n");
			close(fd);
			continue;
		}
		if (pthread_create(&th, &attr, conn_main,
		    (void *)(intptr_t)fd) != 0) {
			say(fd, "451 cannot serve now\n");
			close(fd);
			pthread_mutex_lock(&mu);
			if (--active == 0)
				pthread_cond_broadcast(&cv_idle);
			pthread_mutex_unlock(&mu);
		}
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

/* Does a server answer on the unix socket PATH (SA)? */
static bool
alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool up;

	if (fd < 0)
		return false;
	up = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 ||
	    errno == EAGAIN;	/* listening, its backlog full */
	close(fd);
	return up;
}

static int
fail(int e)
{
	if (lfd >= 0)
		close(lfd);
	for (int i = 0; i < 2; i++)
		if (stop_pipe[i] >= 0)
			close(stop_pipe[i]);
	lfd = stop_pipe[0] = stop_pipe[1] = -1;
	errno = e;
	return -1;
}

int
web_mailsock_start(const char *path, unsigned max_conns, int64_t timeout_us,
    uid_t uid, gid_t gid, const web_conf *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old_mask;
	int e, r;

	if (strlen(path) >= sizeof sock_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	conf = c;
	max_active = max_conns > 0 ? max_conns : 1;
	timeout_ms = timeout_us / 1000 > 0 ? timeout_us / 1000 : 1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			errno = EEXIST;
			return -1;
		}
		if (alive(&sa)) {	/* another consent-web: not ours */
			errno = EADDRINUSE;
			return -1;
		}
		(void)unlink(path);	/* left by an earlier run */
	}
	if (pipe2(stop_pipe, O_CLOEXEC) != 0)
		return fail(errno);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return fail(errno);
	/*
	 * The socket is created with its mode (umask), never chmod'ed or
	 * chown'ed through a path that could have become a symbolic link
	 * since bind (whoever can write the directory could swap it, and
	 * consent-web started as root would give the link's target to the
	 * milter's user).  umask is the process's: the window only ever
	 * makes another thread's new file less accessible.
	 */
	old_mask = umask(0117);
	r = bind(lfd, (struct sockaddr *)&sa, sizeof sa);
	e = errno;
	(void)umask(old_mask);
	if (r != 0)
		return fail(e);
	if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
		return fail(EEXIST);	/* swapped since bind: not ours */
	sock_dev = st.st_dev;
	sock_ino = st.st_ino;
	if (((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) != 0) ||
	    listen(lfd, 64) != 0) {
		e = errno;
		(void)unlink(path);
		return fail(e);
	}
	memcpy(sock_path, path, strlen(path) + 1);
	if ((e = pthread_create(&listener, NULL, listen_main, NULL)) != 0) {
		(void)unlink(path);
		return fail(e);
	}
	started = true;
	return 0;
}

void
web_mailsock_stop(void)
{
	struct stat st;

	if (!started)
		return;
	(void)!write(stop_pipe[1], "x", 1);
	pthread_join(listener, NULL);
	/* only the socket we made: not one another instance put there */
	if (lstat(sock_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == sock_dev && st.st_ino == sock_ino)
		(void)unlink(sock_path);
	pthread_mutex_lock(&mu);
	while (active > 0)
		pthread_cond_wait(&cv_idle, &mu);
	pthread_mutex_unlock(&mu);
	fail(0);
	started = false;
}
