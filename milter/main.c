/*
 * main.c - consent-milter: options, start-up, privileges, signals.
 *
 *   consent-milter [-c FILE] [-f] [-n] | -h | -V
 *
 * Start-up order matters:
 *   1. block SIGUSR1/SIGHUP/SIGTERM/SIGINT before any thread exists, so
 *      only the sigwait thread (and libmilter's own) receive them;
 *   2. load and validate the policy (all errors, one per line);
 *      refuse a config file or index directory writable by others;
 *   3. open the milter socket (a stale unix socket is removed), set its
 *      mode and group, then drop root privileges;
 *   4. fork into the background unless -f (before any thread and before
 *      LMDB is opened: LMDB environments must not cross a fork);
 *   5. open the index read-only, start the signal thread, tell systemd
 *      READY=1 and run libmilter's main loop.
 *
 * Signals: SIGUSR1 reloads the YAML file in a dedicated sigwait thread
 * (a valid file takes effect for messages that start afterwards, all of
 * it but the settings milter/reload.h names, which are logged when they
 * changed; an invalid one is logged with all its errors and the old
 * policy stays).
 * SIGTERM, SIGHUP and SIGINT stop (SIGHUP is not a reload: libmilter
 * reserves it).  libmilter's own signal thread waits for the stop signals
 * too; when ours gets one it stops gracefully with smfi_stop() and wakes
 * the listener, otherwise libmilter stops (SIGINT: at once).
 *
 * Exit codes (sysexits.h): 64 usage, 66 configuration file unreadable,
 * 71 system error (privileges, threads), 73 socket, 74 consent index,
 * 78 invalid configuration or unsafe permissions.
 */
#include <errno.h>
#include <malloc.h>
#include <grp.h>
#include <netdb.h>
#include <stddef.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>
#include <systemd/sd-daemon.h>

#include "../config/policy.h"
#include "../core/index.h"
#include "db.h"
#include "feedback.h"
#include "filter.h"
#include "live.h"
#include "log.h"
#include "reload.h"

#ifndef CM_VERSION
#error "CM_VERSION comes from the file VERSION (see the Makefile)"
#endif
#define DEFAULT_CONFIG "/etc/consent-milter/consent-milter.yaml"

static const char *cfg_path = DEFAULT_CONFIG;
static bool log_to_stderr;
static sigset_t sig_set;
static pthread_t sig_tid;
static atomic_bool stopping;

/* libmilter's own stop flag (exported by libmilter, not declared in
 * mfapi.h): 1 once a stop was asked for, by smfi_stop() or by SIGTERM or
 * SIGHUP to libmilter's signal thread.  Weak: where a libmilter does not
 * export it, only the stops our own signal thread asked for are known. */
extern int mi_stop(void) __attribute__((weak));
/* its value for a stop asked for (MILTER_STOP); a listener that failed
 * sets MILTER_ABRT (2), which stays a failure */
#define MI_STOP_ASKED 1
static bool running;		/* set before the signal thread starts */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: consent-milter [-c FILE] [-f] [-n]\n"
	    "       consent-milter -h | -V\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -f       stay in the foreground and log to standard error\n"
	    "  -n       check the configuration and that the index opens, "
	    "then exit\n"
	    "  -h       this help\n"
	    "  -V       print the version\n", DEFAULT_CONFIG);
}

/* A start-up problem: on stderr always, and in syslog when logging
 * there.  Once running (reload), only logged. */
static void startup_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
startup_error(const char *fmt, ...)
{
	char buf[CM_LOG_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (running) {
		cm_log(LOG_ERR, "%s", buf);
		return;
	}
	fprintf(stderr, "consent-milter: %s\n", buf);
	if (!log_to_stderr)
		cm_log(LOG_ERR, "%s", buf);
}

/* Refuse PATH when others may write it.  MISSING_OK: a missing path is
 * not this check's business. */
static int
check_not_world_writable(const char *path, const char *what, bool missing_ok)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		if (missing_ok && errno == ENOENT)
			return 0;
		startup_error("%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if ((st.st_mode & S_IWOTH) != 0) {
		startup_error("%s %s is writable by others (mode %04o); "
		    "refusing to use it (chmod o-w %s)", what, path,
		    (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	return 0;
}

static int
check_index_dir(const char *dir)
{
	char path[4096];

	if (check_not_world_writable(dir, "index directory", true) != 0)
		return -1;
	if ((size_t)snprintf(path, sizeof(path), "%s/data.mdb", dir) >=
	    sizeof(path))
		return 0;
	return check_not_world_writable(path, "index file", true);
}

/* Refuse a configuration file or directory that others may write. */
static int
check_config_perms(void)
{
	char *dir = strdup(cfg_path), *slash;
	int rc;

	if (dir == NULL)
		return -1;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	rc = check_not_world_writable(dir, "configuration directory", false);
	free(dir);
	if (rc != 0)
		return -1;
	return check_not_world_writable(cfg_path, "configuration file",
	    false);
}

/* Load the policy at CFG_PATH; print every error.  NULL on failure, with
 * *EXIT_CODE set (EX_NOINPUT or EX_CONFIG). */
static cm_policy *
load_policy(bool at_start, int *exit_code)
{
	cm_errlist *el;
	cm_policy *p = NULL;
	cm_status st;
	size_t i, n;
	struct stat sb;

	*exit_code = EX_CONFIG;
	if (stat(cfg_path, &sb) != 0 || access(cfg_path, R_OK) != 0) {
		if (at_start)
			startup_error("%s: %s", cfg_path, strerror(errno));
		else
			cm_log(LOG_ERR, "%s: %s", cfg_path, strerror(errno));
		*exit_code = EX_NOINPUT;
		return NULL;
	}
	if (check_config_perms() != 0)
		return NULL;
	el = cm_errlist_new();
	st = cm_policy_load(cfg_path, &p, el);
	if (st == CM_EIO)
		*exit_code = EX_NOINPUT;
	if (st != CM_OK) {
		n = el != NULL ? cm_errlist_count(el) : 0;
		for (i = 0; i < n; i++) {
			if (at_start)
				fprintf(stderr, "%s\n", cm_errlist_get(el, i));
			if (!at_start || !log_to_stderr)
				cm_log(LOG_ERR, "%s", cm_errlist_get(el, i));
		}
		if (n == 0) {
			if (at_start)
				startup_error("%s: %s", cfg_path,
				    cm_strerror((int)st));
			else
				cm_log(LOG_ERR, "%s: %s", cfg_path,
				    cm_strerror((int)st));
		}
		p = NULL;
	}
	cm_errlist_free(el);
	return p;
}

static const char *
mode_name(const cm_policy *p)
{
	return cm_policy_mode(p) == CM_MODE_MONITOR ? "monitor" : "enforce";
}

static void
notify_reloading(void)
{
	struct timespec ts;
	char buf[96];

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		ts.tv_sec = ts.tv_nsec = 0;
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
	(void)sd_notify(0, buf);
}

static void
reload(void)
{
	cm_policy *np;
	size_t ntypes;
	const char *mode;
	int ec;

	notify_reloading();
	cm_log(LOG_NOTICE, "reloading %s", cfg_path);
	np = load_policy(false, &ec);
	if (np != NULL) {
		ntypes = cm_policy_ntypes(np);
		mode = mode_name(np);
		if (cm_reload_apply(np) == 0) {
			cm_log(LOG_NOTICE, "reloaded %s: mode=%s types=%zu",
			    cfg_path, mode, ntypes);
			(void)sd_notify(0, "READY=1\nSTATUS=running");
			return;
		}
	}
	cm_log(LOG_ERR, "reload failed; the previous policy stays in force");
	(void)sd_notify(0, "READY=1\nSTATUS=reload failed; previous "
	    "policy in force");
}

/* "unix:PATH" / "local:PATH" -> PATH; NULL for other sockets. */
static const char *
unix_path(const char *conn)
{
	if (strncmp(conn, "unix:", 5) == 0)
		return conn + 5;
	if (strncmp(conn, "local:", 6) == 0)
		return conn + 6;
	if (conn[0] == '/')
		return conn;
	return NULL;
}

/* Connect to ADDR and hang up at once; true if the connect succeeded. */
static bool
poke(int family, int socktype, int protocol, const struct sockaddr *addr,
    socklen_t len)
{
	int fd = socket(family, socktype | SOCK_CLOEXEC, protocol);
	bool ok;

	if (fd < 0)
		return false;
	ok = connect(fd, addr, len) == 0;
	(void)close(fd);
	return ok;
}

/*
 * libmilter's listener holds a mutex while it polls for connections, for
 * up to 5 seconds, and smfi_stop() needs that mutex: connections to our
 * own socket wake the listener so the stop completes at once.
 */
static void
wake_listener(const char *spec)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256], port[16];
	const char *at, *p;

	if ((p = unix_path(spec)) != NULL) {
		struct sockaddr_un sun;

		if (strlen(p) >= sizeof(sun.sun_path))
			return;
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, p, strlen(p) + 1);
		(void)poke(AF_UNIX, SOCK_STREAM, 0, (struct sockaddr *)&sun,
		    sizeof(sun));
		return;
	}
	if (strncmp(spec, "inet:", 5) == 0)
		p = spec + 5;
	else if (strncmp(spec, "inet6:", 6) == 0)
		p = spec + 6;
	else
		return;
	at = strchr(p, '@');
	if ((size_t)(at != NULL ? at - p : (ptrdiff_t)strlen(p)) >= sizeof(port))
		return;
	snprintf(port, sizeof(port), "%.*s",
	    (int)(at != NULL ? at - p : (ptrdiff_t)strlen(p)), p);
	snprintf(host, sizeof(host), "%s", at != NULL && at[1] != '\0' ?
	    at + 1 : "localhost");
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return;
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (poke(ai->ai_family, ai->ai_socktype, ai->ai_protocol,
		    ai->ai_addr, ai->ai_addrlen))
			break;
	freeaddrinfo(res);
}

static atomic_bool stop_done;

static void *
waker_thread(void *arg)
{
	int i;

	for (i = 0; i < 300 && !atomic_load(&stop_done); i++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		(void)nanosleep(&ts, NULL);
		if (!atomic_load(&stop_done))
			wake_listener(arg);
	}
	return NULL;
}

static void *
sig_thread(void *arg)
{
	const char *spec = arg;

	for (;;) {
		int sig = 0;

		if (sigwait(&sig_set, &sig) != 0)
			continue;
		if (atomic_load(&stopping))
			break;
		if (sig == SIGUSR1) {
			reload();
			continue;
		}
		/* SIGTERM, SIGHUP, SIGINT: whichever of this thread and
		 * libmilter's signal thread gets it, the stop is graceful. */
		cm_log(LOG_NOTICE, "SIG%s received; stopping",
		    sigabbrev_np(sig) != NULL ? sigabbrev_np(sig) : "?");
		atomic_store(&stopping, true);
		(void)sd_notify(0, "STOPPING=1");
		{
			pthread_t w;
			bool have_w = pthread_create(&w, NULL, waker_thread,
			    (void *)spec) == 0;

			(void)smfi_stop();
			atomic_store(&stop_done, true);
			if (have_w)
				(void)pthread_join(w, NULL);
		}
		break;
	}
	return NULL;
}

/* The id of group NAME (setting WHAT) into *GID; -1 after logging. */
static int
group_id(const char *name, const char *what, gid_t *gid)
{
	struct group *gr = getgrnam(name);

	if (gr == NULL) {
		startup_error("%s: no group '%s'", what, name);
		return -1;
	}
	*gid = gr->gr_gid;
	return 0;
}

static int
socket_permissions(const cm_policy *p)
{
	const char *path = unix_path(cm_policy_socket(p));
	const char *group = cm_policy_socket_group(p);

	if (path == NULL)
		return 0;
	if (chmod(path, (mode_t)cm_policy_socket_mode(p)) != 0) {
		startup_error("chmod %04o %s: %s", cm_policy_socket_mode(p),
		    path, strerror(errno));
		return -1;
	}
	if (group != NULL && *group != '\0') {
		gid_t gid;

		if (group_id(group, "milter.socket_group", &gid) != 0)
			return -1;
		if (chown(path, (uid_t)-1, gid) != 0) {
			startup_error("chgrp %s %s: %s", group, path,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Switch to milter.user when root.  QUIET: no notes (for -n). */
static int
drop_privileges(const cm_policy *p, bool quiet)
{
	const char *user = cm_policy_user(p);
	const char *group = cm_policy_group(p);
	struct passwd *pw;
	gid_t gid;
	uid_t uid;

	if (user == NULL || *user == '\0') {
		if (geteuid() == 0 && !quiet)
			cm_log(LOG_WARNING, "running as root: set milter.user "
			    "to an unprivileged account");
		return 0;
	}
	if (geteuid() != 0) {
		if (!quiet)
			cm_log(LOG_NOTICE, "not started as root: milter.user "
			    "'%s' ignored, running as uid %ld", user,
			    (long)geteuid());
		return 0;
	}
	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		startup_error("milter.user: no user '%s'", user);
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (group != NULL && *group != '\0' &&
	    group_id(group, "milter.group", &gid) != 0)
		return -1;
	if (setgroups(1, &gid) != 0) {
		startup_error("setgroups(%ld): %s", (long)gid,
		    strerror(errno));
		return -1;
	}
	if (setgid(gid) != 0) {
		startup_error("setgid(%ld): %s", (long)gid, strerror(errno));
		return -1;
	}
	if (setuid(uid) != 0) {
		startup_error("setuid(%ld): %s", (long)uid, strerror(errno));
		return -1;
	}
	if (uid != 0 && (setuid(0) == 0 || geteuid() == 0)) {
		startup_error("privileges could be regained after setuid(%ld)",
		    (long)uid);
		return -1;
	}
	if (!quiet)
		cm_log(LOG_INFO, "running as user %s (uid %ld, gid %ld)",
		    user, (long)uid, (long)gid);
	return 0;
}

/* Open and close the index of P read-only: can it be used at all? */
static cm_status
index_probe(const cm_policy *p)
{
	cm_index_opts o;
	cm_index *idx = NULL;
	cm_status st;

	memset(&o, 0, sizeof(o));
	o.readonly = true;
	o.map_size = cm_policy_db_map_size(p);
	o.max_readers = cm_policy_db_max_readers(p);
	st = cm_index_open(cm_policy_db_path(p), &o, &idx);
	if (st == CM_OK)
		cm_index_close(idx);
	return st;
}

static int
check_only(const cm_policy *p)
{
	cm_status st = index_probe(p);

	if (st != CM_OK) {
		fprintf(stderr, "consent-milter: %s: the consent index cannot "
		    "be opened: %s\n", cm_policy_db_path(p),
		    cm_strerror((int)st));
		return EX_IOERR;
	}
	printf("%s: OK (mode %s, %zu newsletter types, index %s)\n",
	    cfg_path, mode_name(p), cm_policy_ntypes(p), cm_policy_db_path(p));
	return 0;
}

/* The index must be usable before the daemon starts. */
static int
check_only_quiet(const cm_policy *p)
{
	cm_status st = index_probe(p);

	if (st != CM_OK) {
		startup_error("%s: the consent index cannot be opened: %s",
		    cm_policy_db_path(p), cm_strerror((int)st));
		return -1;
	}
	return 0;
}

static int
open_index(const cm_policy *p)
{
	cm_status st = cm_db_open(cm_policy_db_path(p),
	    cm_policy_db_map_size(p), cm_policy_db_max_readers(p));

	if (st != CM_OK) {
		startup_error("%s: the consent index cannot be opened: %s",
		    cm_policy_db_path(p), cm_strerror((int)st));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	bool foreground = false, check = false, asked;
	cm_policy *policy;
	char *conn = NULL;
	mode_t old_umask;
	int opt, rc, ec, sock_errno;

	/* One malloc arena: a thread per connection (libmilter's workers,
	 * the policy server's connections) otherwise grows one arena per
	 * thread that comes and goes, and the resident memory with them
	 * (+10 % over 30,000 connections, flat with one); the per-thread
	 * caches keep the request path off the arena's lock. */
	(void)mallopt(M_ARENA_MAX, 1);

	while ((opt = getopt(argc, argv, "c:fnhV")) != -1) {
		switch (opt) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'n':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("consent-milter %s\n", CM_VERSION);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}

	/* Before any thread exists, so that only sigwait() sees them. */
	sigemptyset(&sig_set);
	sigaddset(&sig_set, SIGUSR1);
	sigaddset(&sig_set, SIGHUP);
	sigaddset(&sig_set, SIGTERM);
	sigaddset(&sig_set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &sig_set, NULL) != 0) {
		fprintf(stderr, "consent-milter: cannot block signals\n");
		return EX_OSERR;
	}
	(void)signal(SIGPIPE, SIG_IGN);

	log_to_stderr = foreground || check;
	cm_log_open(log_to_stderr);

	policy = load_policy(true, &ec);
	if (policy == NULL)
		return ec;
	if (check_index_dir(cm_policy_db_path(policy)) != 0) {
		cm_policy_free(policy);
		return EX_CONFIG;
	}
	if (check) {
		/* Open the index as the daemon will: as milter.user (an
		 * index opened by root could get a lock file the daemon
		 * cannot use). */
		if (drop_privileges(policy, true) != 0) {
			cm_policy_free(policy);
			return EX_OSERR;
		}
		rc = check_only(policy);
		cm_policy_free(policy);
		return rc;
	}

	rc = EX_CANTCREAT;
	if (cm_filter_register(unix_path(cm_policy_socket(policy)) ==
	    NULL) != 0) {
		startup_error("smfi_register failed");
		rc = EX_SOFTWARE;
		goto fail;
	}
	conn = strdup(cm_policy_socket(policy));
	if (conn == NULL || smfi_setconn(conn) != MI_SUCCESS) {
		startup_error("invalid milter socket '%s'",
		    cm_policy_socket(policy));
		goto fail;
	}
	/* The socket is created private and opened up by chmod below. */
	old_umask = umask(0177);
	errno = 0;
	ec = smfi_opensocket(true);
	sock_errno = errno;	/* libmilter keeps bind()'s errno */
	(void)umask(old_umask);
	if (ec != MI_SUCCESS) {
		startup_error("cannot open milter socket %s: %s%s",
		    cm_policy_socket(policy), sock_errno != 0 ?
		    strerror(sock_errno) : "libmilter reported a failure",
		    sock_errno == EADDRINUSE ? " (another program listens "
		    "there; see ss -ltnp or ss -lxp)" : "");
		goto fail;
	}
	if (socket_permissions(policy) != 0)
		goto fail;
	rc = EX_OSERR;
	if (drop_privileges(policy, false) != 0)
		goto fail;
	rc = EX_IOERR;
	if (!foreground) {
		/* Report an unusable index before detaching; LMDB is opened
		 * for good only after the fork. */
		if (check_only_quiet(policy) != 0)
			goto fail;
		if (daemon(0, 0) != 0) {
			startup_error("cannot go to the background: %s",
			    strerror(errno));
			rc = EX_OSERR;
			goto fail;
		}
	}
	if (open_index(policy) != 0)
		goto fail;
	if (cm_fb_start(policy) != 0)
		goto fail;

	cm_log(LOG_NOTICE, "starting consent-milter %s: socket=%s mode=%s "
	    "types=%zu index=%s", CM_VERSION, cm_policy_socket(policy),
	    mode_name(policy), cm_policy_ntypes(policy),
	    cm_policy_db_path(policy));
	if (cm_live_init(policy) != CM_OK) {
		policy = NULL;	/* freed by cm_live_init */
		cm_log(LOG_ERR, "out of memory");
		rc = EX_OSERR;
		goto fail;
	}
	policy = NULL;
	running = true;
	if (pthread_create(&sig_tid, NULL, sig_thread, conn) != 0) {
		cm_log(LOG_ERR, "cannot start the signal thread");
		rc = EX_OSERR;
		goto fail;
	}
	(void)sd_notify(0, "READY=1\nSTATUS=running");

	ec = smfi_main();

	asked = atomic_exchange(&stopping, true);
	if (!asked) {
		/* Stopped by libmilter's signal thread. */
		(void)sd_notify(0, "STOPPING=1");
		cm_log(LOG_NOTICE, "stopping");
	}
	/* A stop asked for (a signal, to our thread or libmilter's): libmilter
	 * reports a failure when the stop came before its listener ran (it
	 * finds its socket closed).  The daemon stopped as asked. */
	if (ec != MI_SUCCESS && (asked ||
	    (mi_stop != NULL && mi_stop() == MI_STOP_ASKED)))
		ec = MI_SUCCESS;
	(void)pthread_kill(sig_tid, SIGUSR1);
	(void)pthread_join(sig_tid, NULL);
	cm_filter_shutdown();
	cm_live_shutdown();
	cm_fb_stop();
	cm_db_close();
	free(conn);
	cm_log(LOG_NOTICE, "stopped%s", ec == MI_SUCCESS ? "" :
	    " (libmilter reported a failure)");
	cm_log_close();
	return ec == MI_SUCCESS ? 0 : EX_SOFTWARE;

fail:
	cm_live_shutdown();
	cm_fb_stop();
	cm_policy_free(policy);
	cm_db_close();
	free(conn);
	cm_log_close();
	return rc;
}
