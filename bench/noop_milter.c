/*
 * noop_milter.c - benchmark-only milter: the floor any libmilter milter
 * that looks at recipients pays.  For each RCPT it does exactly one LMDB
 * lookup (a short read transaction and one mdb_get of the recipient
 * address, brackets stripped and lowercased) and continues; at DATA it
 * accepts the message, so the MTA sends it nothing more.  It decides
 * nothing and changes nothing.  Every protocol step it does not need is
 * negotiated away, as a well-behaved milter would.
 *
 * With -e it reads the headers instead (without replying to each) and
 * accepts at the end of the headers, as a milter that logs each
 * message's Message-ID must: what that costs the MTA, beside the same
 * milter accepting at DATA, is the floor of consent-milter's decision log.
 *
 * With -m it accepts every message at MAIL FROM, without a lookup, as a
 * milter must that lets mail through once its sender says it is no
 * newsletter: the floor of consent-milter for such mail.
 *
 *   noop_milter -s SOCKET -d DIR [-b DBNAME] [-K HEX] [-M MIB] [-e | -m] [-n]
 *                                              run (SOCKET: inet:PORT@HOST,
 *                                              unix:PATH); SIGTERM stops
 *
 * -K HEX: look recipients up by the consent index's address keys
 * (noop_key.h; with -d the index's directory and -b index).
 *   noop_milter -d DIR [-b DBNAME] -l < KEYS   create DIR's environment and
 *                                              store one key per line
 *
 * On exit it prints the number of lookups, hits and misses to stderr.
 * Not installed; built by `make` into build/bench/ for bench/postfix.sh.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "noop_key.h"

#define KEY_MAX 511

static MDB_env *env;
static MDB_dbi dbi;
static atomic_ulong n_lookups, n_hits, n_errors;
static bool at_eoh;		/* -e: read the headers, accept at their end */
static bool at_mail;		/* -m: accept at MAIL FROM */
static bool nr_steps;		/* -n: connect and MAIL come, without a reply */
static atomic_bool nr_hdr;	/* the MTA expects no reply to a header */
static struct noop_key lookup_key;	/* -K */
static bool over_tcp;		/* -s inet:... or inet6:... */
static size_t map_mib = 65536;	/* -M: the map size (MiB) to read with */

/* "<Foo@Bar>" -> "foo@bar" into BUF (size KEY_MAX + 1); 0 if unusable. */
static size_t
make_key(const char *arg, char *buf)
{
	size_t len, n = 0;

	if (arg == NULL)
		return 0;
	if (*arg == '<')
		arg++;
	len = strlen(arg);
	if (len > 0 && arg[len - 1] == '>')
		len--;
	if (len == 0 || len > KEY_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		buf[n++] = (char)tolower((unsigned char)arg[i]);
	buf[n] = '\0';
	return n;
}

static sfsistat
nm_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	unsigned long want = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL |
	    SMFIP_NOBODY | SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOUNKNOWN |
	    SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_HDR |
	    SMFIP_NR_EOH | SMFIP_NR_BODY | SMFIP_NR_UNKN;

	/* -e: the headers without a reply each, the end of the headers with
	 * one, and DATA away (as consent-milter negotiates with its log) but
	 * on a TCP socket, where DATA's reply keeps the headers after it
	 * from waiting 40 ms for a delayed acknowledgement (milter/filter.c) */
	if (at_eoh) {
		want &= ~(SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NR_EOH);
		if (!over_tcp)
			want |= SMFIP_NODATA | SMFIP_NR_DATA;
		else
			want &= ~(SMFIP_NODATA | SMFIP_NR_DATA);
	}
	/* -m: MAIL with a reply; nothing after it comes */
	if (at_mail)
		want = (want & ~(SMFIP_NOMAIL | SMFIP_NR_MAIL)) |
		    SMFIP_NORCPT | SMFIP_NR_RCPT | SMFIP_NODATA | SMFIP_NR_DATA;

	/* -n: connect and MAIL come as to consent-milter, without a reply
	 * (the cost of a step the MTA sends but does not wait for) */
	if (nr_steps)
		want &= ~(SMFIP_NOCONNECT | SMFIP_NOMAIL);
	(void)f2;
	(void)f3;
	*pf0 = f0 & SMFIF_SETSYMLIST;	/* no actions but the macro list */
	*pf1 = f1 & want;		/* only what the MTA offers */
	atomic_store(&nr_hdr, (*pf1 & SMFIP_NR_HDR) != 0);
	*pf2 = 0;
	*pf3 = 0;
	if (*pf0 & SMFIF_SETSYMLIST) {
		/* only the queue id, as a milter that logs would want */
		(void)smfi_setsymlist(ctx, SMFIM_CONNECT, "i");
		(void)smfi_setsymlist(ctx, SMFIM_ENVFROM, "i");
		(void)smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i");
		(void)smfi_setsymlist(ctx, SMFIM_DATA, "i");
		(void)smfi_setsymlist(ctx, SMFIM_EOH, "i");
		(void)smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	return SMFIS_CONTINUE;
}

/* -m: the message is no newsletter; nothing more to do for it */
static sfsistat
nm_envfrom(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return nr_steps && !at_mail ? SMFIS_NOREPLY : SMFIS_ACCEPT;
}

static sfsistat
nm_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	(void)ctx;
	(void)host;
	(void)sa;
	return SMFIS_NOREPLY;
}

static sfsistat
nm_envrcpt(SMFICTX *ctx, char **argv)
{
	char key[KEY_MAX + 1];
	size_t klen;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	(void)ctx;
	klen = make_key(argv != NULL ? argv[0] : NULL, key);
	if (klen == 0)
		return SMFIS_CONTINUE;
	klen = noop_key_make(&lookup_key, key, klen);
	atomic_fetch_add(&n_lookups, 1);
	rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc != 0) {
		atomic_fetch_add(&n_errors, 1);
		return SMFIS_CONTINUE;
	}
	k.mv_size = klen;
	k.mv_data = key;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == 0)
		atomic_fetch_add(&n_hits, 1);
	else if (rc != MDB_NOTFOUND)
		atomic_fetch_add(&n_errors, 1);
	mdb_txn_abort(txn);
	return SMFIS_CONTINUE;
}

/* All recipients seen: nothing more to do for this message (-e: the
 * headers come first). */
static sfsistat
nm_data(SMFICTX *ctx)
{
	(void)ctx;
	return at_eoh ? SMFIS_CONTINUE : SMFIS_ACCEPT;
}

static sfsistat
nm_header(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx;
	(void)name;
	(void)value;
	return atomic_load(&nr_hdr) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
nm_eoh(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_ACCEPT;
}

static struct smfiDesc desc = {
	.xxfi_name = "noop-milter",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = 0,
	.xxfi_connect = nm_connect,
	.xxfi_envfrom = nm_envfrom,
	.xxfi_envrcpt = nm_envrcpt,
	.xxfi_data = nm_data,
	.xxfi_header = nm_header,
	.xxfi_eoh = nm_eoh,
	.xxfi_negotiate = nm_negotiate,
};

static int
open_env(const char *dir, const char *dbname, bool load)
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_maxreaders(env, 1024)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, 8)) != 0 ||
	    /* room for the index to grow meanwhile (else MDB_MAP_RESIZED);
	     * -l: the most a new environment of keys may take */
	    (rc = mdb_env_set_mapsize(env, load ? (size_t)256 << 20 :
	    map_mib << 20)) != 0 ||
	    (rc = mdb_env_open(env, dir, MDB_NOTLS | (load ? 0 : MDB_RDONLY),
	    0644)) != 0) {
		fprintf(stderr, "noop_milter: %s: %s\n", dir, mdb_strerror(rc));
		return -1;
	}
	if ((rc = mdb_txn_begin(env, NULL, load ? 0 : MDB_RDONLY, &txn)) != 0) {
		fprintf(stderr, "noop_milter: txn: %s\n", mdb_strerror(rc));
		return -1;
	}
	if ((rc = mdb_dbi_open(txn, dbname, load && dbname ? MDB_CREATE : 0,
	    &dbi)) != 0) {
		fprintf(stderr, "noop_milter: database %s: %s\n",
		    dbname ? dbname : "(main)", mdb_strerror(rc));
		mdb_txn_abort(txn);
		return -1;
	}
	if (load) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		char key[KEY_MAX + 1];
		unsigned long n = 0;

		while ((len = getline(&line, &cap, stdin)) > 0) {
			MDB_val k, v;
			size_t klen;

			while (len > 0 && (line[len - 1] == '\n' ||
			    line[len - 1] == '\r'))
				line[--len] = '\0';
			if ((klen = make_key(line, key)) == 0)
				continue;
			k.mv_size = klen;
			k.mv_data = key;
			v.mv_size = 1;
			v.mv_data = "1";
			if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0) {
				fprintf(stderr, "noop_milter: put: %s\n",
				    mdb_strerror(rc));
				free(line);
				mdb_txn_abort(txn);
				return -1;
			}
			n++;
		}
		free(line);
		if (ferror(stdin)) {
			fprintf(stderr, "noop_milter: reading keys: %s\n",
			    strerror(errno));
			mdb_txn_abort(txn);
			return -1;
		}
		fprintf(stderr, "noop_milter: stored %lu keys\n", n);
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		fprintf(stderr, "noop_milter: commit: %s\n", mdb_strerror(rc));
		return -1;
	}
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: noop_milter -s SOCKET -d DIR [-b DBNAME] [-K HEX] [-M MIB] [-e | -m] [-n]\n"
	    "       noop_milter -d DIR [-b DBNAME] -l < KEYS\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *dir = NULL, *dbname = NULL;
	bool load = false;
	int c, rc;

	while ((c = getopt(argc, argv, "s:d:b:K:M:lemn")) != -1) {
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
		case 'l':
			load = true;
			break;
		case 'e':
			at_eoh = true;
			break;
		case 'n':
			nr_steps = true;
			break;
		case 'm':
			at_mail = true;
			break;
		default:
			usage();
		}
	}
	if (dir == NULL || (!load && sock == NULL) || optind != argc ||
	    (at_eoh && at_mail) || (load && lookup_key.hashed))
		usage();
	over_tcp = sock != NULL && strncmp(sock, "inet", 4) == 0;
	if (open_env(dir, dbname, load) != 0)
		return 1;
	if (load) {
		mdb_env_close(env);
		return 0;
	}
	if (smfi_setconn((char *)sock) == MI_FAILURE ||
	    smfi_register(desc) == MI_FAILURE ||
	    smfi_opensocket(1) == MI_FAILURE) {
		fprintf(stderr, "noop_milter: cannot set up socket %s\n", sock);
		mdb_env_close(env);
		return 1;
	}
	rc = smfi_main();
	fprintf(stderr, "noop_milter: lookups=%lu hits=%lu errors=%lu\n",
	    atomic_load(&n_lookups), atomic_load(&n_hits),
	    atomic_load(&n_errors));
	mdb_env_close(env);
	return rc == MI_SUCCESS ? 0 : 1;
}
