/*
 * cmd_upgrade.c - consentctl upgrade: re-key the consent index for the
 * address normalization in force (core/migrate.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "diag.h"
#include "../core/index.h"
#include "../core/migrate.h"

static const char upgrade_help[] =
"usage: consentctl upgrade [--dry-run]\n"
"\n"
"Re-key the consent index for today's address normalization: an index of\n"
"format 1 (written before local parts were put in Unicode NFC and case\n"
"folded, and before '%'/'!' routing forms were resolved) is refused by the\n"
"milter and every other command until this has run.  Also run it after\n"
"changing addresses.fold_local_case, unicode_local_part or\n"
"routed_local_part.  Uses the addresses: section of the configuration\n"
"(-c); with -d alone, the defaults.  One transaction: all or nothing.\n"
"\n"
"  --dry-run  say what would change; change nothing\n";

int
ctl_cmd_upgrade(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	cm_migrate_stats s;
	bool dry = false;
	cm_status st;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h')
			return ctl_cmd_help(upgrade_help);
		if (ch == 'n') {
			dry = true;
			continue;
		}
		return ctl_cmd_usage("upgrade", "invalid option");
	}
	if (optind != argc)
		return ctl_cmd_usage("upgrade", "no arguments expected");
	if ((rc = ctl_ctx_open(c, CTL_OPEN_UPGRADE)) != 0)
		return rc;
	st = cm_migrate_keys(c->idx, &c->addr_opts, dry, &s);
	if (st != CM_OK)
		return ctl_cmd_index_error(c, st, "upgrade");
	printf("%s: format %u -> %u%s: %zu entries, %zu re-keyed, %zu merged, "
	    "%zu dropped as erased, %zu unchanged, %zu history events "
	    "moved\n", c->db_dir, s.from_format, s.to_format,
	    dry ? " (dry run, nothing changed)" : "", s.entries, s.moved,
	    s.merged, s.erased, s.unchanged, s.events);
	if (s.failed > 0)
		ctl_diag_err("%s: %zu entries have an address that cannot be "
		    "normalized now (left under their old key; see "
		    "'consentctl export')", c->db_dir, s.failed);
	return 0;
}
