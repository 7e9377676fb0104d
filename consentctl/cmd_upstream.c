/*
 * cmd_upstream.c - `consentctl upstream init` creates or upgrades the
 * schema of the shared consent store (PostgreSQL, upstream/pgstore.h)
 * and prints its version; `consentctl upstream check` checks it.
 *
 * The connection comes from upstream.conninfo and upstream.password_file
 * of the configuration, or from --conninfo (and --password-file), which
 * override them.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "../config/policy.h"
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
	cm_pg_close(pg);
	if (!init || before == v)
		printf("upstream: schema version %d, current\n", v);
	else if (before == 0)
		printf("upstream: schema version %d created\n", v);
	else
		printf("upstream: schema upgraded from version %d to %d\n",
		    before, v);
	return 0;
}
