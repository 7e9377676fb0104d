/*
 * cmd_future.c - `consentctl future`: the records and objections whose
 * times lie after now, so that those stored before future-dated events
 * were refused can be found and fixed.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "../core/timefmt.h"
#include "cmd.h"
#include "diag.h"
#include "out.h"

enum { O_JSON = 256, O_AFTER };

static const char future_help[] =
"usage: consentctl [-c FILE | -d DBDIR] future [--after TIME] [--json]\n"
"\n"
"List the records and objections that hold a time after TIME (default\n"
"now): events dated in the future, stored before such events were\n"
"refused.  A record is listed when the time of its last event is after\n"
"TIME, or when it is granted or pending with a grant or confirmation\n"
"time after TIME.  One line each: address, type (* for an objection to\n"
"all marketing), state, and the latest of its times.  --json prints\n"
"JSON Lines {address, type, state, time}.  Exit 0 either way.\n"
"\n"
"Such a record is fixed by an event made now: `consentctl withdraw ADDR\n"
"TYPE` (or `--all`) takes effect over it, and a grant made after the\n"
"withdrawal records the consent again with a true time.\n";

typedef struct fut_ctx {
	int64_t after;
	bool json;
	ctl_table *t;
	bool oom;
	size_t n;
} fut_ctx;

static void
row(fut_ctx *f, const char *addr, const char *type, const char *state,
    int64_t at)
{
	char tb[CM_TIME_BUFSZ];

	if (f->oom)
		return;
	f->n++;
	if (f->json) {
		fputs("{\"address\":", stdout);
		ctl_out_json_str(stdout, addr);
		ctl_out_json_member(stdout, "type", type);
		fprintf(stdout, ",\"state\":\"%s\",\"time\":", state);
		ctl_out_json_time(stdout, at);
		fputs("}\n", stdout);
	} else {
		const char *cells[4] = { addr, type, state,
		    ctl_out_time(at, tb) };

		if (!ctl_out_table_add(f->t, cells))
			f->oom = true;
	}
}

static int
entry_cb(const cm_entry *e, void *arg)
{
	fut_ctx *f = arg;

	if (e->objection_us > f->after)
		row(f, e->addr, "*", "objection", e->objection_us);
	for (size_t i = 0; i < e->nrecords; i++) {
		const cm_record *r = &e->records[i];
		int64_t t = r->updated_us;
		bool live = r->state == CM_STATE_GRANTED ||
		    r->state == CM_STATE_PENDING;

		if (live && r->granted_us > t)
			t = r->granted_us;
		if (live && r->confirmed_us > t)
			t = r->confirmed_us;
		if (t > f->after)
			row(f, e->addr, r->type, cm_state_name(r->state), t);
	}
	return f->oom;
}

int
ctl_cmd_future(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "after", required_argument, NULL, O_AFTER },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const hdr[] = { "ADDRESS", "TYPE", "STATE",
	    "TIME" };
	fut_ctx f;
	cm_status st;
	int ch, rc;

	memset(&f, 0, sizeof(f));
	f.after = cm_time_now();
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			return ctl_cmd_help(future_help);
		case O_JSON:
			f.json = true;
			break;
		case O_AFTER:
			if ((rc = ctl_cmd_time_opt("future", "--after", optarg,
			    &f.after)) != 0)
				return rc;
			break;
		default:
			return ctl_cmd_usage("future", "invalid option");
		}
	}
	if (argc != optind)
		return ctl_cmd_usage("future", "no arguments expected");
	if ((rc = ctl_ctx_open(c, CTL_OPEN_RO)) != 0)
		return rc;
	if ((rc = ctl_cmd_table(f.json, 4, hdr, &f.t)) != 0)
		return rc;
	st = cm_index_foreach(c->idx, entry_cb, &f);
	if (st == CM_OK && !f.oom && f.n == 0) {
		ctl_out_table_free(f.t);	/* no header for nothing */
		f.t = NULL;
	}
	return ctl_cmd_listing_end(c, f.oom ? CM_ENOMEM : st, f.t, "future");
}
