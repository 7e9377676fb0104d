/*
 * main.c - consent-web: the HTTP endpoint of one-click unsubscribe and
 * confirmation links (handler.h).
 *
 *   consent-web [-c FILE] [-n] [-v]
 *
 * Reads the links: section of the configuration, loads the key ring,
 * listens on links.listen (loopback by default; TLS is left to a
 * reverse proxy) and, with links.mailto_domain set, on the internal
 * unix socket links.mailto_socket for the milter (mailsock.h),
 * switches to milter.user when started as root, and
 * serves until SIGTERM or SIGINT.  -n checks the configuration and the
 * key ring and exits.  Logs to standard error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include <microhttpd.h>

#include "../config/links.h"
#include "../config/policy.h"
#include "../core/token.h"
#include "handler.h"
#include "mailsock.h"
#include "writer.h"

#define DEFAULT_CONFIG "/etc/consent-milter/consent-milter.yaml"

static void
usage(void)
{
	fprintf(stderr, "usage: consent-web [-c FILE] [-n] [-v]\n");
	exit(EX_USAGE);
}

/* inet:PORT@HOST or inet6:PORT@HOST (numeric HOST) into SS. */
static int
parse_listen(const char *s, struct sockaddr_storage *ss)
{
	const char *at, *p;
	char host[256];
	long port;
	char *end;
	bool v6;

	memset(ss, 0, sizeof *ss);
	if (strncmp(s, "inet:", 5) == 0) {
		p = s + 5;
		v6 = false;
	} else if (strncmp(s, "inet6:", 6) == 0) {
		p = s + 6;
		v6 = true;
	} else {
		return -1;
	}
	port = strtol(p, &end, 10);
	if (end == p || port < 1 || port > 65535)
		return -1;
	at = end;
	if (*at == '\0') {
		snprintf(host, sizeof host, "%s", v6 ? "::1" : "127.0.0.1");
	} else {
		if (*at != '@' || strlen(at + 1) >= sizeof host)
			return -1;
		snprintf(host, sizeof host, "%s", at + 1);
	}
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (strcmp(host, "localhost") == 0)
			snprintf(host, sizeof host, "::1");
		return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (strcmp(host, "localhost") == 0)
			snprintf(host, sizeof host, "127.0.0.1");
		return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
	}
}

/* The ids drop_privileges() switches to, for the mailto socket's owner;
 * (uid_t)-1 and (gid_t)-1 when not root or unknown. */
static void
target_ids(const cm_policy *p, uid_t *uid, gid_t *gid)
{
	const char *user = cm_policy_user(p), *group = cm_policy_group(p);
	struct passwd *pw;
	struct group *gr;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (geteuid() != 0 || user == NULL || *user == '\0' ||
	    (pw = getpwnam(user)) == NULL)
		return;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (group != NULL && *group != '\0' && (gr = getgrnam(group)) != NULL)
		*gid = gr->gr_gid;
}

/* Switch to milter.user (and milter.group) when root. */
static int
drop_privileges(const cm_policy *p)
{
	const char *user = cm_policy_user(p), *group = cm_policy_group(p);
	struct passwd *pw;
	gid_t gid;

	if (geteuid() != 0)
		return 0;
	if (user == NULL || *user == '\0') {
		fprintf(stderr, "consent-web: warning: running as root: set "
		    "milter.user to an unprivileged account\n");
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL) {
		fprintf(stderr, "consent-web: milter.user: no user '%s'\n", user);
		return -1;
	}
	gid = pw->pw_gid;
	if (group != NULL && *group != '\0') {
		struct group *gr = getgrnam(group);
		if (gr == NULL) {
			fprintf(stderr, "consent-web: milter.group: no group "
			    "'%s'\n", group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		fprintf(stderr, "consent-web: cannot switch to user %s: %s\n",
		    user, strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && (setuid(0) == 0 || geteuid() == 0)) {
		fprintf(stderr, "consent-web: privileges could be regained\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *config = DEFAULT_CONFIG, *ep = NULL;
	char keydir[4096];
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	cm_token_ring *ring = NULL;
	const cm_links *l;
	cm_errlist *errs;
	cm_policy *p = NULL;
	web_conf wc = { 0 };
	bool check = false;
	sigset_t set;
	cm_status st;
	int ch, sig, rc = 0;

	while ((ch = getopt(argc, argv, "c:nvh")) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'n': check = true; break;
		case 'v': wc.verbose = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (!(errs = cm_errlist_new()))
		return EX_OSERR;
	if ((st = cm_policy_load(config, &p, errs)) != CM_OK) {
		for (size_t i = 0; i < cm_errlist_count(errs); i++)
			fprintf(stderr, "%s\n", cm_errlist_get(errs, i));
		fprintf(stderr, "consent-web: %s: configuration not loaded\n",
		    config);
		cm_errlist_free(errs);
		return EX_CONFIG;
	}
	cm_errlist_free(errs);
	l = cm_policy_links(p);
	if (!cm_links_enabled(l)) {
		fprintf(stderr, "consent-web: %s: no enabled links: section\n",
		    config);
		cm_policy_free(p);
		return EX_CONFIG;
	}
	if (parse_listen(l->listen, &ss) != 0) {
		fprintf(stderr, "consent-web: %s: links.listen '%s': expected "
		    "inet:PORT@ADDRESS or inet6:PORT@ADDRESS\n", config,
		    l->listen);
		cm_policy_free(p);
		return EX_CONFIG;
	}
	if (!cm_links_key_dir(l, cm_policy_db_path(p), keydir, sizeof keydir) ||
	    (st = cm_token_ring_load(keydir, &ring, &ep)) != CM_OK) {
		fprintf(stderr, "consent-web: %s: cannot load the link keys: "
		    "%s\n", ep ? ep : keydir, ep ? cm_strerror(st) :
		    "path too long");
		cm_policy_free(p);
		return EX_CONFIG;
	}
	if (check) {
		cm_token_ring_free(ring);
		cm_policy_free(p);
		return 0;
	}
	wc.db_dir = cm_policy_db_path(p);
	wc.ring = ring;
	wc.key_dir = keydir;
	wc.max_age_us = l->max_age;
	wc.clock_skew_us = cm_policy_db_clock_skew(p);
	wc.client_header = l->client_header;
	web_handler_init(&wc);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (web_writer_start(wc.db_dir, wc.clock_skew_us) != 0) {
		fprintf(stderr, "consent-web: cannot start the writer: %s\n",
		    strerror(errno));
		return EX_OSERR;
	}
	/* a thread per connection: a request waits for its group commit */
	/* libmicrohttpd's log of malformed requests only with -v: anyone
	 * could flood the journal with them */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
	    (wc.verbose ? MHD_USE_ERROR_LOG : 0),
	    0, NULL, NULL, web_handle, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(l->timeout / 1000000),
	    MHD_OPTION_CONNECTION_LIMIT, l->max_connections,
	    /* request line, header fields and body buffers of a connection */
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
	    MHD_OPTION_NOTIFY_COMPLETED, web_completed, NULL,
	    MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "consent-web: cannot listen on %s: %s\n",
		    l->listen, strerror(errno));
		rc = EX_UNAVAILABLE;
		goto out;
	}
	if (cm_links_mailto_enabled(l)) {
		uid_t uid;
		gid_t gid;

		target_ids(p, &uid, &gid);
		if (web_mailsock_start(l->mailto_socket, l->max_connections,
		    l->timeout, uid, gid, &wc) != 0) {
			fprintf(stderr, "consent-web: cannot listen on %s: %s\n",
			    l->mailto_socket, strerror(errno));
			rc = EX_UNAVAILABLE;
			goto out;
		}
		fprintf(stderr, "consent-web: mailto unsubscribes on %s\n",
		    l->mailto_socket);
	}
	if (drop_privileges(p) != 0) {
		rc = EX_NOPERM;
		goto out;
	}
	fprintf(stderr, "consent-web: listening on %s (uid %ld)\n", l->listen,
	    (long)geteuid());
	do {
		if (sigwait(&set, &sig) != 0)
			break;
	} while (sig == SIGHUP);
out:
	if (d != NULL)
		MHD_stop_daemon(d);
	web_mailsock_stop();
	web_writer_stop();
	web_handler_fini();
	cm_token_ring_free(ring);
	cm_policy_free(p);
	return rc;
}
