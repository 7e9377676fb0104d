/* cmd_dsn.c - consentctl dsn list | resend: the DSN spool. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "../core/dsnq.h"
#include "../core/timefmt.h"
#include "cmd.h"
#include "cmd_dsn.h"
#include "diag.h"
#include "out.h"

static const char dsn_help[] =
"usage: consentctl dsn list [--json] [--spool DIR]\n"
"       consentctl dsn resend (ID ... | --all) [--spool DIR] [--target T]\n"
"\n"
"Delivery status notifications for recipients removed at end of data are\n"
"spooled (dsn.spool) and sent by the milter in the background.  One that\n"
"could not be sent after dsn.attempts attempts stays in the spool as\n"
"failed.  list shows every spooled DSN (pending: the milter is still\n"
"trying; failed: given up) with its failed attempts so far, the next\n"
"retry of a pending one and the last error.  resend sends the\n"
"given DSNs, or with --all every failed one, now, to dsn.target (or\n"
"--target inet:PORT@HOST | unix:PATH) and removes each one accepted.\n"
"Exit status 0 if every one was sent, 75 if any was not.\n";

struct lst {
	bool json;
	ctl_table *t;
	size_t n;
	bool oom;
	char **ids;	/* failed ids, for resend --all */
	size_t nids, cap;
	bool collect;
};

static int
list_cb(void *arg, const cm_dsnq_entry *e)
{
	struct lst *l = arg;
	char tb[CM_TIME_BUFSZ], nb[CM_TIME_BUFSZ], size[32], att[16];

	l->n++;
	if (l->collect) {
		if (!e->failed)
			return 0;
		if (l->nids == l->cap) {
			size_t nc = l->cap ? l->cap * 2 : 16;
			char **n = realloc(l->ids, nc * sizeof(*n));

			if (n == NULL) {
				l->oom = true;
				return 1;
			}
			l->ids = n;
			l->cap = nc;
		}
		if ((l->ids[l->nids] = strdup(e->id)) == NULL) {
			l->oom = true;
			return 1;
		}
		l->nids++;
		return 0;
	}
	snprintf(size, sizeof(size), "%zu", e->size);
	snprintf(att, sizeof(att), "%u", e->attempts);
	if (l->json) {
		fputs("{\"id\":", stdout);
		ctl_out_json_str(stdout, e->id);
		printf(",\"state\":\"%s\",\"created\":", e->failed ? "failed" :
		    "pending");
		ctl_out_json_time(stdout, e->created_us);
		ctl_out_json_member(stdout, "rcpt", e->rcpt);
		printf(",\"smtputf8\":%s,\"size\":%s,\"attempts\":%s",
		    e->smtputf8 ? "true" : "false", size, att);
		ctl_out_json_member_time(stdout, "next_retry", e->next_us);
		ctl_out_json_member(stdout, "error", e->error);
		fputs("}\n", stdout);
	} else {
		const char *cells[] = { e->id, e->failed ? "failed" : "pending",
		    ctl_out_time(e->created_us, tb), e->rcpt, size, att,
		    ctl_out_time(e->next_us, nb), e->error ? e->error : "" };

		return ctl_cmd_row(l->t, cells, &l->oom);
	}
	return 0;
}

static int
spool_error(const char *spool, cm_status st)
{
	ctl_diag_err("%s: %s", spool, cm_strerror((int)st));
	return st == CM_NOTFOUND ? EX_NOINPUT : st == CM_EPERM ? EX_NOPERM :
	    st == CM_ENOMEM ? EX_OSERR : EX_IOERR;
}

int
ctl_cmd_dsn(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ "spool", required_argument, NULL, 's' },
		{ "target", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *spool = NULL, *target = NULL, *sub;
	bool json = false, all = false;
	struct lst l;
	cm_status st;
	int ch, rc;

	memset(&l, 0, sizeof(l));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j': json = true; break;
		case 'a': all = true; break;
		case 's': spool = optarg; break;
		case 'T': target = optarg; break;
		case 'h': return ctl_cmd_help(dsn_help);
		default: return ctl_cmd_usage("dsn", "invalid option");
		}
	}
	if (optind >= argc)
		return ctl_cmd_usage("dsn", "expected list or resend");
	sub = argv[optind++];
	if (strcmp(sub, "list") != 0 && strcmp(sub, "resend") != 0)
		return ctl_cmd_usage("dsn", "expected list or resend, got '%s'",
		    sub);
	if (spool == NULL || (strcmp(sub, "resend") == 0 && target == NULL)) {
		if ((rc = ctl_ctx_require_policy(c)) != 0)
			return rc;
		if (spool == NULL)
			spool = cm_policy_dsn_spool(c->policy);
		if (target == NULL)
			target = cm_policy_dsn_target(c->policy);
	}
	if (target != NULL && cm_dsnq_target_check(target) != CM_OK)
		return ctl_cmd_usage("dsn", "--target: expected inet:PORT@HOST "
		    "or unix:PATH, got '%s'", target);

	if (strcmp(sub, "list") == 0) {
		static const char *const hdr[] = { "ID", "STATE", "CREATED",
		    "RCPT", "SIZE", "ATTEMPTS", "NEXT-RETRY", "ERROR" };

		if (optind != argc || all)
			return ctl_cmd_usage("dsn", "list takes no arguments");
		l.json = json;
		if (!json && (l.t = ctl_out_table_new(8, hdr)) == NULL)
			return spool_error(spool, CM_ENOMEM);
		st = cm_dsnq_list(spool, list_cb, &l);
		if (st == CM_OK && l.oom)
			st = CM_ENOMEM;
		if (st == CM_OK && l.t != NULL)
			ctl_out_table_print(l.t, stdout);
		ctl_out_table_free(l.t);
		return st == CM_OK ? 0 : spool_error(spool, st);
	}

	/* resend */
	if (all == (optind < argc))
		return ctl_cmd_usage("dsn", "resend: give IDs or --all");
	if (all) {
		l.collect = true;
		st = cm_dsnq_list(spool, list_cb, &l);
		if (st == CM_OK && l.oom)
			st = CM_ENOMEM;
		if (st != CM_OK) {
			for (size_t i = 0; i < l.nids; i++)
				free(l.ids[i]);
			free(l.ids);
			return spool_error(spool, st);
		}
	}
	rc = 0;
	for (size_t i = 0; all ? i < l.nids : optind + (int)i < argc; i++) {
		const char *id = all ? l.ids[i] : argv[optind + (int)i];
		char err[CM_DSNQ_ERR_MAX] = "";

		st = cm_dsnq_resend(spool, id, target, NULL, 30000, err);
		if (st == CM_OK) {
			printf("%s sent: %s\n", id, err);
		} else {
			ctl_diag_err("%s: not sent: %s", id, *err ? err :
			    cm_strerror((int)st));
			if (rc == 0 || st != CM_EIO)
				rc = st == CM_NOTFOUND ? EX_NOINPUT :
				    st == CM_EINVAL ? EX_USAGE : EX_TEMPFAIL;
		}
	}
	for (size_t i = 0; i < l.nids; i++)
		free(l.ids[i]);
	free(l.ids);
	if (all && l.nids == 0)
		printf("no failed DSN in %s\n", spool);
	return rc;
}
