/*
 * main.c - consentctl: global options and dispatch to the subcommands.
 *
 *   consentctl [-c FILE] [-d DBDIR] [--no-wait] COMMAND [ARG ...]
 *
 * See consentctl(8) and `consentctl --help`.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cmd.h"
#include "cmd_dsn.h"
#include "cmd_report.h"
#include "cmd_upstream.h"
#include "ctx.h"
#include "diag.h"
#include "parse.h"

static const struct {
	const char *name;
	ctl_cmd_fn fn;
	const char *summary;
} commands[] = {
	{ "init", ctl_cmd_init, "create an empty consent index" },
	{ "grant", ctl_cmd_grant, "record a consent" },
	{ "withdraw", ctl_cmd_withdraw, "record a withdrawal or an "
	    "objection to all marketing" },
	{ "confirm", ctl_cmd_confirm, "record a double opt-in confirmation" },
	{ "suppress-domain", ctl_cmd_suppress_domain, "suppress a whole "
	    "domain" },
	{ "unsuppress-domain", ctl_cmd_unsuppress_domain, "lift a domain "
	    "suppression" },
	{ "erase", ctl_cmd_erase, "erase an address (right to erasure)" },
	{ "check", ctl_cmd_check, "decide like the milter: allow or deny" },
	{ "show", ctl_cmd_show, "show an address's records" },
	{ "history", ctl_cmd_history, "show an address's history" },
	{ "import", ctl_cmd_import, "import records (CSV, JSON Lines, "
	    "YAML)" },
	{ "export", ctl_cmd_export, "export every record (CSV, JSON "
	    "Lines)" },
	{ "dump", ctl_cmd_dump, "write a lossless backup of the whole "
	    "index (= export --full)" },
	{ "restore", ctl_cmd_restore, "restore a dump into a new index" },
	{ "bulk-update", ctl_cmd_bulk_update, "change source/basis/purpose "
	    "of a selection" },
	{ "stats", ctl_cmd_stats, "records by type and state, index use" },
	{ "types", ctl_cmd_types, "list the configured newsletter types" },
	{ "domains", ctl_cmd_domains, "list the suppressed domains" },
	{ "future", ctl_cmd_future, "list records dated after now (to fix "
	    "them)" },
	{ "report", ctl_cmd_report, "decisions of the milter from the "
	    "decision log" },
	{ "dsn", ctl_cmd_dsn, "list or resend spooled DSNs" },
	{ "link", ctl_cmd_link, "print unsubscribe/confirmation links" },
	{ "expiring", ctl_cmd_expiring, "list consents that expire soon" },
	{ "upgrade", ctl_cmd_upgrade, "re-key the index for today's "
	    "address normalization" },
	{ "sync", ctl_cmd_sync, "exchange changes with the shared store "
	    "(upstream:)" },
	{ "upstream", ctl_cmd_upstream, "create or check the schema of the "
	    "shared store (PostgreSQL)" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	fprintf(f,
"usage: consentctl [-c FILE | -d DBDIR] [--clock-skew DURATION]\n"
"                  [--no-wait] COMMAND [ARG ...]\n"
"       consentctl COMMAND --help\n"
"\n"
"  -c FILE   configuration (default " CTL_DEFAULT_CONFIG "):\n"
"            the index directory (database.path), the newsletter types\n"
"            and the address options come from it\n"
"  -d DBDIR  the index directory; the configuration is then read only by\n"
"            commands that need the newsletter types (check), unless -c\n"
"            is given too\n"
"  --clock-skew DURATION  how far after now a change may be dated\n"
"            (e.g. 10m; default database.clock_skew, else 5m); a change\n"
"            dated later is refused\n"
"  --no-wait a command that changes the index fails at once (exit 75,\n"
"            \"index busy\") while another consentctl changes it, instead\n"
"            of waiting for that one to finish\n"
"  -h, --help  this text\n"
"  -V, --version  print the version\n"
"\n"
"commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-18s %s\n", commands[i].name,
		    commands[i].summary);
	fprintf(f,
"\n"
"Exit status: 0 success (check: allow), 1 check: deny / show, history:\n"
"nothing stored, 64 usage, 65 data error (bad address, type, time, import\n"
"row, stale event), 66 no input, 70 internal error, 71 out of memory,\n"
"73 cannot create, 74 I/O error, 75 index busy or failing (try again),\n"
"77 permission denied, 78 configuration error.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "clock-skew", required_argument, NULL, 'S' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *dbdir = NULL;
	int64_t skew = 0;
	bool no_wait = false;
	char prog[64];
	ctl_ctx ctx;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "+c:d:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'd':
			dbdir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("consentctl %s\n", CM_VERSION);
			return 0;
		case 'S':
			if (!ctl_parse_duration(optarg, &skew)) {
				ctl_diag_err("--clock-skew '%s': not a duration "
				    "(e.g. 10m, 2h, 30d)", optarg);
				return EX_USAGE;
			}
			break;
		case 'W':
			no_wait = true;
			break;
		default:
			fprintf(stderr, "Try 'consentctl --help'.\n");
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		ctl_diag_err("no command given");
		usage(stderr);
		return EX_USAGE;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(argv[optind], commands[i].name) != 0)
			continue;
		snprintf(prog, sizeof(prog), "consentctl %s",
		    commands[i].name);
		argv += optind;
		argc -= optind;
		argv[0] = prog;
		optind = 0;	/* glibc: restart getopt for the command */
		ctl_ctx_init(&ctx, config, dbdir);
		ctx.clock_skew_opt = skew;
		ctx.no_wait = no_wait;
		rc = commands[i].fn(&ctx, argc, argv);
		ctl_ctx_fini(&ctx);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			ctl_diag_err("standard output: write error");
			if (rc == 0 || rc == 1)
				rc = EX_IOERR;
		}
		return rc;
	}
	ctl_diag_err("unknown command '%s'", argv[optind]);
	fprintf(stderr, "Try 'consentctl --help'.\n");
	return EX_USAGE;
}
