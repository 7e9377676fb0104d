/*
 * cmd_expiring.c - `consentctl expiring`: the consents that expire
 * within a given time (types with valid_for), for re-permission
 * campaigns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "../core/timefmt.h"
#include "cmd.h"
#include "diag.h"
#include "expiry.h"
#include "out.h"
#include "parse.h"

enum { O_WITHIN = 256, O_TYPE, O_CSV, O_JSON };

static const char expiring_help[] =
"usage: consentctl [-c FILE] expiring --within DURATION [--type T]\n"
"                  [--csv | --json]\n"
"\n"
"List the consents that expire within DURATION from now (e.g. 30d):\n"
"granted (and, for double opt-in types, confirmed) records of the types\n"
"with a valid_for period, whose grant or confirmation is older than\n"
"valid_for minus DURATION.  A record expires valid_for after its later\n"
"of granted and confirmed; the milter then denies it (reason expired).\n"
"Records under an objection to all marketing are left out.  One line\n"
"each, soonest first: address, type, expiry; --csv prints CSV with a\n"
"header line, --json JSON Lines {address, type, expires}.  Exit 0.\n";

typedef struct exp_row {
	char *addr;
	const char *type;	/* the policy's id */
	int64_t expires;
} exp_row;

typedef struct exp_ctx {
	const cm_policy *p;
	const char *only;	/* --type */
	int64_t now, until;
	exp_row *rows;
	size_t n, cap;
	bool oom;
} exp_ctx;

static int
entry_cb(const cm_entry *e, void *arg)
{
	exp_ctx *x = arg;

	for (size_t i = 0; i < e->nrecords && !x->oom; i++) {
		const cm_record *r = &e->records[i];
		int64_t from, until;

		if ((x->only && strcmp(x->only, r->type) != 0) ||
		    ctl_expiry(x->p, r, &from, &until) != CTL_EXPIRY_AT)
			continue;
		if (e->objection && e->objection_us >= from)
			continue;
		if (until <= x->now || until > x->until)
			continue;
		if (x->n == x->cap) {
			size_t nc = x->cap ? 2 * x->cap : 64;
			exp_row *nr = realloc(x->rows, nc * sizeof *nr);
			if (!nr) {
				x->oom = true;
				break;
			}
			x->rows = nr;
			x->cap = nc;
		}
		if (!(x->rows[x->n].addr = strdup(e->addr))) {
			x->oom = true;
			break;
		}
		x->rows[x->n].type = cm_ntype_id(cm_policy_find_type(x->p,
		    r->type));
		x->rows[x->n].expires = until;
		x->n++;
	}
	return x->oom;
}

static int
by_expiry(const void *a, const void *b)
{
	const exp_row *x = a, *y = b;
	int c = (x->expires > y->expires) - (x->expires < y->expires);

	return c ? c : strcmp(x->addr, y->addr);
}

int
ctl_cmd_expiring(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "within", required_argument, NULL, O_WITHIN },
		{ "type", required_argument, NULL, O_TYPE },
		{ "csv", no_argument, NULL, O_CSV },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const hdr[] = { "ADDRESS", "TYPE", "EXPIRES" };
	const cm_ntype *nt = NULL;
	int64_t within = -1;
	bool csv = false, json = false;
	exp_ctx x;
	ctl_table *t = NULL;
	cm_status st;
	int ch, rc = 0;

	memset(&x, 0, sizeof x);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			return ctl_cmd_help(expiring_help);
		case O_WITHIN:
			if (!ctl_parse_duration(optarg, &within))
				return ctl_cmd_usage("expiring", "--within '%s': "
				    "expected a duration (e.g. 30d)", optarg);
			break;
		case O_TYPE:
			x.only = optarg;
			break;
		case O_CSV:
			csv = true;
			break;
		case O_JSON:
			json = true;
			break;
		default:
			return ctl_cmd_usage("expiring", "invalid option");
		}
	}
	if (argc != optind)
		return ctl_cmd_usage("expiring", "no arguments expected");
	if (within < 0)
		return ctl_cmd_usage("expiring", "--within DURATION is required");
	if (csv && json)
		return ctl_cmd_usage("expiring", "--csv and --json exclude "
		    "each other");
	if ((rc = ctl_ctx_require_policy(c)) != 0)
		return rc;
	if (x.only && (rc = ctl_ctx_type(c, x.only, &nt)) != 0)
		return rc;
	if ((rc = ctl_ctx_open(c, CTL_OPEN_RO)) != 0)
		return rc;
	x.p = c->policy;
	x.now = cm_time_now();
	x.until = x.now + within;
	st = cm_index_foreach(c->idx, entry_cb, &x);
	if (x.oom)
		st = CM_ENOMEM;
	if (st != CM_OK) {
		rc = ctl_cmd_index_error(c, st, "expiring");
		goto out;
	}
	if (x.n > 1)
		qsort(x.rows, x.n, sizeof *x.rows, by_expiry);
	if (!csv && !json && (t = ctl_out_table_new(3, hdr)) == NULL) {
		ctl_diag_err("%s", cm_strerror(CM_ENOMEM));
		rc = EX_OSERR;
		goto out;
	}
	if (csv)
		fputs("address,type,expires\n", stdout);
	for (size_t i = 0; i < x.n; i++) {
		char tb[CM_TIME_BUFSZ];
		const exp_row *r = &x.rows[i];

		if (json) {
			fputs("{\"address\":", stdout);
			ctl_out_json_str(stdout, r->addr);
			fputs(",\"type\":", stdout);
			ctl_out_json_str(stdout, r->type);
			fputs(",\"expires\":", stdout);
			ctl_out_json_time(stdout, r->expires);
			fputs("}\n", stdout);
		} else if (csv) {
			ctl_out_csv_field(stdout, r->addr);
			fputc(',', stdout);
			ctl_out_csv_field(stdout, r->type);
			printf(",%s\n", ctl_out_time(r->expires, tb));
		} else {
			const char *cells[3] = { r->addr, r->type,
			    ctl_out_time(r->expires, tb) };
			if (!ctl_out_table_add(t, cells)) {
				ctl_diag_err("%s", cm_strerror(CM_ENOMEM));
				rc = EX_OSERR;
				goto out;
			}
		}
	}
	if (t != NULL && x.n > 0)
		ctl_out_table_print(t, stdout);
out:
	ctl_out_table_free(t);
	for (size_t i = 0; i < x.n; i++)
		free(x.rows[i].addr);
	free(x.rows);
	return rc;
}
