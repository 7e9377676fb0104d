/*
 * cmd_upstream.c - `consentctl upstream init` creates or upgrades the
 * schema of the shared consent store (PostgreSQL, upstream/pgstore.h)
 * and prints its version; `consentctl upstream check` checks it.
 *
 * The connection comes from upstream.conninfo and upstream.password_file
 * of the configuration, or from --conninfo (and --password-file), which
 * override them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "../config/policy.h"
#include "../core/erasekey.h"
#include "../core/hmac.h"
#include "../upstream/pgstore.h"
#include "cmd.h"
#include "cmd_upstream.h"
#include "diag.h"

static const char upstream_help[] =
"usage: consentctl upstream init [--conninfo CONNINFO] [--password-file FILE]\n"
"       consentctl upstream check [--conninfo CONNINFO] [--password-file FILE]\n"
"\n"
"init: create the schema of the shared consent store (PostgreSQL), or\n"
"upgrade it to this version's, and print its version.  Safe to run again\n"
"(nothing changes when the schema is current) and from any node; a store\n"
"of a newer version is left alone (exit 78).  The database role needs\n"
"the right to create tables and functions in the first schema of its\n"
"search_path.\n"
"\n"
"check: connect and check that the schema is this version's: exit 0, or\n"
"75 (store unreachable or refusing: try again), 78 (no schema or another\n"
"version: run init, or upgrade consent-milter).\n"
"\n"
"Both, on a node with an index (erasure.key), check that its erasure key\n"
"is the one of the store's other nodes (78 if not); the first node's key\n"
"is recorded (a fingerprint, not the key).\n"
"\n"
"The store is the one the upstream: section of the configuration (-c)\n"
"names, unless --conninfo is given.\n"
"\n"
"  --conninfo CONNINFO   libpq connection string (key=value pairs or a\n"
"                        postgresql:// URI), instead of upstream.conninfo;\n"
"                        put no password in it (ps shows it)\n"
"  --password-file FILE  the password on the first line of FILE (mode\n"
"                        0600), instead of upstream.password_file;\n"
"                        without either, libpq's usual means apply\n"
"                        (~/.pgpass, PGPASSWORD)\n";

#define KEY_CHECK_TEXT "consent-milter upstream key check"

cm_status
ctl_upstream_key_check(const char *dir, cm_pg *pg, char *err, size_t sz)
{
	unsigned char key[CM_ERASEKEY_LEN], mac[CM_HMAC_OUT_LEN];
	char path[4096], kerr[512];
	struct stat sb;
	cm_hmac *h = NULL;
	cm_status st;

	if (dir == NULL)
		return CM_NOTFOUND;
	snprintf(path, sizeof(path), "%s/" CM_ERASEKEY_NAME, dir);
	if (stat(path, &sb) != 0 && errno == ENOENT)
		return CM_NOTFOUND;
	st = cm_erasekey_load(dir, false, key, kerr, sizeof(kerr));
	if (st != CM_OK) {
		snprintf(err, sz, "key check: %s", kerr);
		return st;
	}
	st = cm_hmac_new(key, sizeof(key), &h);
	explicit_bzero(key, sizeof(key));
	if (st == CM_OK)
		st = cm_hmac_sha256(h, KEY_CHECK_TEXT, strlen(KEY_CHECK_TEXT),
		    mac);
	cm_hmac_free(h);
	if (st != CM_OK) {
		snprintf(err, sz, "key check: %s", cm_strerror(st));
		return st;
	}
	if ((st = cm_pg_key_check(pg, mac)) != CM_OK)
		snprintf(err, sz, "%s", cm_pg_error(pg));
	return st;
}

/* Exit code for a failed call on the store. */
static int
upstream_exit(cm_status st)
{
	switch (st) {
	case CM_EUPSTREAM:
		return EX_TEMPFAIL;
	case CM_EFORMAT:
	case CM_NOTFOUND:	/* password file */
	case CM_EINVAL:
	case CM_ETOOLONG:
		return EX_CONFIG;
	default:
		return ctl_diag_exit(st);
	}
}

static int
upstream_fail(const char *action, cm_status st, const cm_pg *pg)
{
	ctl_diag_err("upstream %s: %s", action, cm_pg_error(pg));
	return upstream_exit(st);
}

int
ctl_cmd_upstream(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conninfo", required_argument, NULL, 'C' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *conninfo = NULL, *pwfile = NULL, *action;
	char err[512];
	cm_pg *pg = NULL;
	cm_status st;
	bool init;
	int ch, v = 0, before = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			return ctl_cmd_help(upstream_help);
		case 'C':
			conninfo = optarg;
			break;
		case 'P':
			pwfile = optarg;
			break;
		default:
			return ctl_cmd_usage("upstream", "invalid option");
		}
	}
	if (optind + 1 != argc)
		return ctl_cmd_usage("upstream", "give one of init, check");
	action = argv[optind];
	if (strcmp(action, "init") != 0 && strcmp(action, "check") != 0)
		return ctl_cmd_usage("upstream", "unknown action '%s' (init, "
		    "check)", action);
	init = action[0] == 'i';
	if (conninfo == NULL) {
		int rc = ctl_ctx_require_policy(c);

		if (rc != 0)
			return rc;
		conninfo = cm_policy_upstream_conninfo(c->policy);
		if (pwfile == NULL)
			pwfile = cm_policy_upstream_password_file(c->policy);
	}
	if (conninfo == NULL) {
		ctl_diag_err("upstream %s: %s has no upstream: section (and "
		    "no --conninfo was given)", action, c->config_path);
		return EX_CONFIG;
	}

	st = cm_pg_open(conninfo, pwfile, &pg);
	if (st != CM_OK) {
		int rc = upstream_fail(action, st, pg);

		cm_pg_close(pg);
		return rc;
	}
	st = cm_pg_schema(pg, false, &before);
	if (st == CM_EFORMAT && init)
		st = cm_pg_schema(pg, true, &v);
	else
		v = before;
	if (st != CM_OK) {
		int rc = upstream_fail(action, st, pg);

		cm_pg_close(pg);
		return rc;
	}
	/* the key of this node's index, if it has one: the first node's
	 * is stored, any other refused */
	st = ctl_upstream_key_check(c->db_dir, pg, err, sizeof(err));
	cm_pg_close(pg);
	if (st != CM_OK && st != CM_NOTFOUND) {
		ctl_diag_err("upstream %s: %s", action, err);
		return upstream_exit(st);
	}
	if (!init || before == v)
		printf("upstream: schema version %d, current\n", v);
	else if (before == 0)
		printf("upstream: schema version %d created\n", v);
	else
		printf("upstream: schema upgraded from version %d to %d\n",
		    before, v);
	return 0;
}
