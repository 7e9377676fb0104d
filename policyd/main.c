/*
 * main.c - consent-policy: options, start-up, privileges, signals.
 *
 *   consent-policy [-c FILE] [-f] [-n] | -h | -V
 *
 * The Postfix policy-delegation server over the milter's configuration
 * file (its policy: section names the socket) and consent index:
 *   1. block SIGUSR1/SIGHUP/SIGTERM/SIGINT before any thread exists;
 *   2. load and validate the configuration (all errors, one per line);
 *   3. open the socket (a stale unix socket is removed; anything else at
 *      its path, or a live server on it, is refused), made with its mode,
 *      set its group, then drop root privileges (milter.user,
 *      milter.group);
 *   4. fork into the background unless -f (before any thread and before
 *      LMDB is opened);
 *   5. open the index read-only (milter/db.h: reopened when data.mdb is
 *      replaced, lookups fail while it is missing) and the decision log,
 *      start the signal thread, tell systemd READY=1 and serve.
 *
 * Signals: SIGUSR1 and SIGHUP reload the file (a valid one takes effect
 * for the next request; the socket, the connection limits, database:
 * and log: take effect after a restart; an invalid one is logged and
 * the old one stays).  SIGTERM and SIGINT stop.
 *
 * Exit codes (sysexits.h): 64 usage, 66 configuration file unreadable,
 * 71 system error, 73 socket, 74 consent index, 78 invalid configuration.
 */
#include <errno.h>
#include <malloc.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "../config/policy.h"
#include "../core/declog.h"
#include "../core/pdstamp.h"
#include "../core/index.h"
#include "../milter/db.h"
#include "../milter/live.h"
#include "../milter/log.h"
#include "decide.h"
#include "pfcheck.h"
#include "server.h"

#ifndef CM_VERSION
#error "CM_VERSION comes from the file VERSION (see the Makefile)"
#endif
#define DEFAULT_CONFIG "/etc/consent-milter/consent-milter.yaml"
#define PROG "consent-policy"

static const char *cfg_path = DEFAULT_CONFIG;
static bool log_to_stderr, running;
static bool log_is_stderr;	/* cm_log writes to standard error (-f, -n) */
static sigset_t sig_set;
static cm_declog *declog;
static char sock_spec[512];	/* the socket listened on (kept over reloads) */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: consent-policy [-c FILE] [-f] [-n]\n"
	    "       consent-policy -h | -V\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -f       stay in the foreground and log to standard error\n"
	    "  -n       check the configuration and that the index opens, "
	    "then exit\n"
	    "  -h       this help\n"
	    "  -V       print the version\n", DEFAULT_CONFIG);
}

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
	fprintf(stderr, PROG ": %s\n", buf);
	if (!log_is_stderr)
		cm_log(LOG_ERR, "%s", buf);
}

/* Load the file; NULL after reporting every error (*CODE: exit code). */
static cm_policy *
load(int *code)
{
	cm_errlist *errs = cm_errlist_new();
	cm_policy *p = NULL;
	cm_status st = cm_policy_load(cfg_path, &p, errs);

	if (st == CM_OK && !cm_policy_pd_present(p)) {
		startup_error("%s: no policy: section (policy.socket is "
		    "required for consent-policy)", cfg_path);
		cm_policy_free(p);
		p = NULL;
		st = CM_EINVAL;
	} else if (st != CM_OK) {
		for (size_t i = 0; errs != NULL && i < cm_errlist_count(errs);
		    i++)
			startup_error("%s", cm_errlist_get(errs, i));
		if (errs == NULL || cm_errlist_count(errs) == 0)
			startup_error("%s: %s", cfg_path, cm_strerror((int)st));
	}
	cm_errlist_free(errs);
	*code = st == CM_EIO ? EX_NOINPUT : st == CM_ENOMEM ? EX_OSERR :
	    EX_CONFIG;
	return p;
}

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
	const char *path = cm_pdsrv_unix_path(cm_policy_pd_socket(p));
	const char *group = cm_policy_pd_socket_group(p);
	gid_t gid;

	if (path == NULL)
		return 0;
	/* the mode was set at bind(); never follow a link here */
	if (group == NULL)
		return 0;
	if (group_id(group, "policy.socket_group", &gid) != 0)
		return -1;
	if (lchown(path, (uid_t)-1, gid) != 0) {
		startup_error("chgrp %s %s: %s", group, path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Switch to milter.user when root. */
static int
drop_privileges(const cm_policy *p)
{
	const char *user = cm_policy_user(p), *group = cm_policy_group(p);
	struct passwd *pw;
	gid_t gid;
	uid_t uid;

	if (user == NULL || *user == '\0' || geteuid() != 0) {
		if (geteuid() == 0)
			cm_log(LOG_WARNING, "running as root: set milter.user "
			    "to an unprivileged account");
		return 0;
	}
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
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		startup_error("switching to user %s: %s", user,
		    strerror(errno));
		return -1;
	}
	if (uid != 0 && (setuid(0) == 0 || geteuid() == 0)) {
		startup_error("privileges could be regained after setuid(%ld)",
		    (long)uid);
		return -1;
	}
	return 0;
}

static void
report(void *arg, const cm_report *r)
{
	(void)arg;
	cm_log(LOG_ERR, "decision log: %s%s%s", cm_strerror((int)r->status),
	    r->errnum != 0 ? ": " : "", r->errnum != 0 ? strerror(r->errnum) : "");
}

static int
open_declog(const cm_policy *p)
{
	cm_declog_opts o = {
		.dir = cm_policy_log_path(p),
		.retention_days = cm_policy_log_retention_days(p),
		.hash_addresses = cm_policy_log_hash_recipients(p),
		.key_file = cm_policy_log_key_file(p),
		.subaddr_sep = cm_policy_addr_opts(p)->subaddr_sep,
		.report = report,
	};
	cm_status st;

	if (o.dir == NULL)
		return 0;
	st = cm_declog_open(&o, &declog);
	if (st != CM_OK) {
		startup_error("cannot open the decision log %s: %s", o.dir,
		    cm_strerror((int)st));
		return -1;
	}
	return 0;
}

static void
pd_decide(void *arg, const cm_pdreq *req, cm_pddec_seen *seen, char *out,
    size_t size)
{
	cm_live_ref *ref = cm_live_get();

	(void)arg;
	if (seen != NULL)	/* what it keeps holds for this policy only */
		seen->policy_gen = cm_live_generation(ref);
	cm_pddec_decide(cm_live_policy(ref), declog, req, seen, out, size);
	cm_live_put(ref);
}

static void
pd_malformed(void *arg, const char *why, char *out, size_t size)
{
	cm_live_ref *ref = cm_live_get();

	(void)arg;
	cm_pddec_malformed(cm_live_policy(ref), why, out, size);
	cm_live_put(ref);
}

static void
reload(void)
{
	int code;
	cm_policy *np = load(&code);

	if (np == NULL) {
		cm_log(LOG_ERR, "reload: %s is not valid; the previous "
		    "configuration stays in force", cfg_path);
		return;
	}
	if (cm_live_swap(np) != CM_OK) {
		cm_log(LOG_ERR, "reload: out of memory; the previous "
		    "configuration stays in force");
		return;
	}
	cm_log(LOG_NOTICE, "reloaded %s", cfg_path);
}

/*
 * The stamp (core/pdstamp.h): the digest of the configuration in force,
 * rewritten every CM_PDSTAMP_REFRESH seconds by the signal thread.  A
 * failure is logged once, until a write succeeds again.
 */
static char stamp_path[4096];	/* the stamp last written, "" if none */

static void
stamp_write(void)
{
	static bool failing;
	cm_live_ref *ref = cm_live_get();
	const cm_policy *p = cm_live_policy(ref);
	const char *path = cm_policy_pd_stamp(p);
	cm_status st;

	if (stamp_path[0] != '\0' && strcmp(stamp_path, path) != 0)
		(void)unlink(stamp_path);	/* policy.stamp changed */
	st = cm_pdstamp_write(path, cm_policy_digest(p), (long)getpid());
	if (st != CM_OK && !failing)
		cm_log(LOG_ERR, "policy.stamp %s cannot be written: %s; the "
		    "milter decides envelope-typed mail itself", path,
		    st == CM_EIO ? strerror(errno) : cm_strerror((int)st));
	else if (st == CM_OK && failing)
		cm_log(LOG_NOTICE, "policy.stamp %s written again", path);
	failing = st != CM_OK;
	snprintf(stamp_path, sizeof(stamp_path), "%s", st == CM_OK ? path :
	    "");
	cm_live_put(ref);
}

static void *
sig_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec ts = { .tv_sec = CM_PDSTAMP_REFRESH };
		int sig = sigtimedwait(&sig_set, NULL, &ts);

		if (sig < 0) {
			if (errno == EAGAIN)
				stamp_write();
			continue;
		}
		if (sig == SIGUSR1 || sig == SIGHUP) {
			(void)sd_notify(0, "RELOADING=1");
			reload();
			stamp_write();
			(void)sd_notify(0, "READY=1");
			continue;
		}
		cm_log(LOG_NOTICE, "stopping (signal %d)", sig);
		(void)sd_notify(0, "STOPPING=1");
		/* first of all: the milter decides again */
		if (stamp_path[0] != '\0')
			(void)unlink(stamp_path);
		cm_pdsrv_stop();
		return NULL;
	}
}

static int
serve(cm_policy *p, int lfd)
{
	cm_pdsrv_opts o = {
		.max_conns = cm_policy_pd_max_connections(p),
		.idle_timeout_ms = (unsigned)(cm_policy_pd_idle_timeout(p) /
		    1000),
		.decide = pd_decide,
		.malformed = pd_malformed,
	};
	pthread_t tid;
	cm_status st;
	bool live;
	int rc;

	st = cm_db_open(cm_policy_db_path(p), cm_policy_db_map_size(p),
	    cm_policy_db_max_readers(p));
	if (st != CM_OK) {
		startup_error("%s: the consent index cannot be opened: %s",
		    cm_policy_db_path(p), cm_strerror((int)st));
		cm_policy_free(p);
		close(lfd);
		return EX_IOERR;
	}
	if (open_declog(p) != 0) {
		cm_db_close();
		cm_policy_free(p);
		close(lfd);
		return EX_CANTCREAT;
	}
	live = cm_live_init(p) == CM_OK;
	if (live)
		stamp_write();	/* before the first request is answered */
	if (!live || pthread_create(&tid, NULL, sig_main, NULL) != 0) {
		if (live && stamp_path[0] != '\0')
			(void)unlink(stamp_path);
		startup_error("cannot start: out of memory or threads");
		cm_declog_close(declog);
		cm_db_close();
		close(lfd);
		return EX_OSERR;
	}
	running = true;
	/* a decision line per request: written together, not one by one */
	if (cm_log_defer_start() != 0)
		cm_log(LOG_WARNING, "decision lines are written one by one: "
		    "%s", strerror(errno));
	cm_log(LOG_INFO, "consent-policy %s listening on %s (mode %s)",
	    CM_VERSION, cm_policy_pd_socket(p), cm_policy_mode(p) ==
	    CM_MODE_MONITOR ? "monitor" : "enforce");
	cm_pfcheck_warn(cm_policy_pd_socket(p));
	(void)sd_notify(0, "READY=1\nSTATUS=running");
	rc = cm_pdsrv_run(lfd, &o);
	if (rc != 0)	/* the signal thread still waits: stop it */
		pthread_kill(tid, SIGTERM);
	pthread_join(tid, NULL);
	cm_pdsrv_unlink(sock_spec);
	cm_declog_close(declog);
	cm_db_close();
	cm_live_shutdown();
	cm_log(LOG_INFO, "stopped");
	cm_log_defer_stop();
	cm_log_close();
	return rc == 0 ? 0 : EX_OSERR;
}

int
main(int argc, char **argv)
{
	bool check = false;
	cm_policy *p;
	char err[512];
	int c, code, lfd;

	/* One malloc arena: a thread per connection (libmilter's workers,
	 * the policy server's connections) otherwise grows one arena per
	 * thread that comes and goes, and the resident memory with them
	 * (+10 % over 30,000 connections, flat with one); the per-thread
	 * caches keep the request path off the arena's lock. */
	(void)mallopt(M_ARENA_MAX, 1);

	while ((c = getopt(argc, argv, "c:fnhV")) != -1) {
		switch (c) {
		case 'c': cfg_path = optarg; break;
		case 'f': log_to_stderr = true; break;
		case 'n': check = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf(PROG " %s\n", CM_VERSION); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	sigemptyset(&sig_set);
	sigaddset(&sig_set, SIGUSR1);
	sigaddset(&sig_set, SIGHUP);
	sigaddset(&sig_set, SIGTERM);
	sigaddset(&sig_set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sig_set, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_is_stderr = log_to_stderr || check;
	cm_log_set_name(PROG);	/* lines and syslog under this program's name */
	cm_log_open(log_is_stderr);
	if ((p = load(&code)) == NULL)
		return code;
	if (check) {
		cm_index_opts o;
		cm_index *idx = NULL;
		cm_status st;

		memset(&o, 0, sizeof(o));
		o.readonly = true;
		o.map_size = cm_policy_db_map_size(p);
		o.max_readers = cm_policy_db_max_readers(p);
		st = cm_index_open(cm_policy_db_path(p), &o, &idx);
		if (st != CM_OK) {
			fprintf(stderr, PROG ": %s: the consent index cannot "
			    "be opened: %s\n", cm_policy_db_path(p),
			    cm_strerror((int)st));
			cm_policy_free(p);
			return EX_IOERR;
		}
		cm_index_close(idx);
		cm_pfcheck_warn(cm_policy_pd_socket(p));
		printf("%s: OK (policy socket %s, %zu newsletter types)\n",
		    cfg_path, cm_policy_pd_socket(p), cm_policy_ntypes(p));
		cm_policy_free(p);
		return 0;
	}
	if (cm_pdsrv_listen(cm_policy_pd_socket(p), cm_policy_pd_socket_mode(p),
	    &lfd, err, sizeof(err)) != 0) {
		startup_error("cannot listen: %s", err);
		cm_policy_free(p);
		return EX_CANTCREAT;
	}
	snprintf(sock_spec, sizeof(sock_spec), "%s", cm_policy_pd_socket(p));
	if (socket_permissions(p) != 0 || drop_privileges(p) != 0) {
		close(lfd);
		cm_pdsrv_unlink(sock_spec);
		cm_policy_free(p);
		return EX_OSERR;
	}
	if (!log_to_stderr && daemon(0, 0) != 0) {
		startup_error("daemon: %s", strerror(errno));
		close(lfd);
		cm_policy_free(p);
		return EX_OSERR;
	}
	return serve(p, lfd);
}
