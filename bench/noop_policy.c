/*
 * noop_policy.c - benchmark-only Postfix policy-delegation server
 * (SMTPD_POLICY_README): the floor any check_policy_service server that
 * looks at recipients pays.  For each request it does exactly one LMDB
 * lookup (a short read transaction and one mdb_get of the "recipient"
 * attribute, brackets stripped and lowercased) and answers
 * "action=DUNNO".  It decides nothing.  One thread per connection;
 * Postfix keeps a connection open across requests.
 *
 *   noop_policy -s inet:PORT@HOST -d DIR [-b DBNAME] [-K HEX] [-M MIB]
 *                        run; SIGTERM or SIGINT stops
 *
 * DIR is an environment made by `noop_milter -d DIR -l < KEYS`, or with
 * -K HEX the consent index's directory (-b index): recipients are then
 * looked up by the index's own address keys (noop_key.h).  On exit
 * it prints the number of requests, lookups, hits and errors to stderr.
 * Not installed; built by `make` into build/bench/ for bench/postfix.sh.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "noop_key.h"

#define KEY_MAX 511
#define REQ_MAX 16384		/* one request's attributes, at most */

static MDB_env *env;
static MDB_dbi dbi;
static atomic_ulong n_requests, n_lookups, n_hits, n_errors;
static struct noop_key lookup_key;	/* -K */

/* "<Foo@Bar>" (LEN octets) -> "foo@bar" into BUF (KEY_MAX + 1); 0 if
 * unusable. */
static size_t
make_key(const char *arg, size_t len, char *buf)
{
	if (len > 0 && *arg == '<') {
		arg++;
		len--;
	}
	if (len > 0 && arg[len - 1] == '>')
		len--;
	if (len == 0 || len > KEY_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)tolower((unsigned char)arg[i]);
	buf[len] = '\0';
	return len;
}

static void
lookup(const char *rcpt, size_t len)
{
	char key[KEY_MAX + 1];
	size_t klen = make_key(rcpt, len, key);
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if (klen == 0)
		return;
	klen = noop_key_make(&lookup_key, key, klen);
	atomic_fetch_add(&n_lookups, 1);
	if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0) {
		atomic_fetch_add(&n_errors, 1);
		return;
	}
	k.mv_size = klen;
	k.mv_data = key;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == 0)
		atomic_fetch_add(&n_hits, 1);
	else if (rc != MDB_NOTFOUND)
		atomic_fetch_add(&n_errors, 1);
	mdb_txn_abort(txn);
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One connection: requests (name=value lines, an empty line ends one)
 * until the client closes. */
static void *
serve(void *arg)
{
	static const char reply[] = "action=DUNNO\n\n";
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(REQ_MAX);
	size_t used = 0;

	if (buf == NULL)
		goto out;
	for (;;) {
		char *line = buf, *nl, *end;
		ssize_t r;

		if (used == REQ_MAX)
			break;	/* a request this long is not Postfix's */
		r = read(fd, buf + used, REQ_MAX - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		used += (size_t)r;
		end = buf + used;
		/* every complete request in the buffer */
		while ((nl = memchr(line, '\n', (size_t)(end - line))) != NULL) {
			size_t len = (size_t)(nl - line);

			if (len == 0) {		/* end of a request */
				atomic_fetch_add(&n_requests, 1);
				if (write_all(fd, reply, sizeof(reply) - 1) != 0)
					goto out;
			} else if (len > 10 &&
			    memcmp(line, "recipient=", 10) == 0) {
				lookup(line + 10, len - 10);
			}
			line = nl + 1;
		}
		used = (size_t)(end - line);
		memmove(buf, line, used);
	}
out:
	free(buf);
	close(fd);
	return NULL;
}

static void *
acceptor(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		int fd = accept(lfd, NULL, NULL), one = 1;
		pthread_t t;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("noop_policy: accept");
			return NULL;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) != 0) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}

/* "inet:PORT@HOST" -> a listening socket; -1 on error. */
static int
listen_on(const char *spec)
{
	struct sockaddr_in sa;
	const char *at;
	char *endp;
	long port;
	int fd, one = 1;

	if (strncmp(spec, "inet:", 5) != 0 || (at = strchr(spec, '@')) == NULL)
		return -1;
	port = strtol(spec + 5, &endp, 10);
	if (endp != at || port <= 0 || port > 65535)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, at + 1, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 128) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
usage(void)
{
	fprintf(stderr, "usage: noop_policy -s inet:PORT@HOST -d DIR "
	    "[-b DBNAME] [-K HEX] [-M MIB]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *dir = NULL, *dbname = NULL;
	MDB_txn *txn;
	sigset_t set;
	pthread_t t;
	int c, rc, lfd, sig;
	size_t map_mib = 65536;	/* -M: the map size (MiB) to read with */

	while ((c = getopt(argc, argv, "s:d:b:K:M:")) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'b':
			dbname = optarg;
			break;
		case 'K':
			if (noop_key_set(&lookup_key, optarg) != 0)
				usage();
			break;
		case 'M':
			map_mib = noop_mib(optarg);
			if (map_mib == 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (dir == NULL || sock == NULL || optind != argc)
		usage();
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_maxreaders(env, 1024)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, 8)) != 0 ||
	    /* room for the index to grow meanwhile (else MDB_MAP_RESIZED) */
	    (rc = mdb_env_set_mapsize(env, map_mib << 20)) != 0 ||
	    (rc = mdb_env_open(env, dir, MDB_NOTLS | MDB_RDONLY, 0644)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
		fprintf(stderr, "noop_policy: %s: %s\n", dir, mdb_strerror(rc));
		return 1;
	}
	if ((rc = mdb_dbi_open(txn, dbname, 0, &dbi)) != 0) {
		fprintf(stderr, "noop_policy: database %s: %s\n",
		    dbname ? dbname : "(main)", mdb_strerror(rc));
		return 1;
	}
	/* committed, not aborted: an abort would close a named database's
	 * handle again */
	if ((rc = mdb_txn_commit(txn)) != 0) {
		fprintf(stderr, "noop_policy: %s: %s\n", dir, mdb_strerror(rc));
		return 1;
	}
	if ((lfd = listen_on(sock)) < 0) {
		fprintf(stderr, "noop_policy: cannot listen on %s: %s\n", sock,
		    strerror(errno));
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	(void)signal(SIGPIPE, SIG_IGN);
	if (pthread_create(&t, NULL, acceptor, (void *)(intptr_t)lfd) != 0) {
		fprintf(stderr, "noop_policy: cannot start a thread\n");
		return 1;
	}
	while (sigwait(&set, &sig) != 0)
		;
	fprintf(stderr, "noop_policy: requests=%lu lookups=%lu hits=%lu "
	    "errors=%lu\n", atomic_load(&n_requests), atomic_load(&n_lookups),
	    atomic_load(&n_hits), atomic_load(&n_errors));
	/* connection threads may still run: no clean-up of what they use */
	_exit(0);
}
