/* cmd_report.c - consentctl report: read the decision log. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "../core/declog.h"
#include "../core/timefmt.h"
#include "cmd.h"
#include "cmd_report.h"
#include "diag.h"
#include "out.h"

static const char report_help[] =
"usage: consentctl report [--since TIME] [--until TIME] [--type TYPE]\n"
"         [--campaign ID] [--reason REASON] [--verdict allow|deny|error]\n"
"         [--action ACTION] [--rcpt ADDR] [--format table|csv|jsonl]\n"
"         [--csv | --json | --jsonl] [--summary]\n"
"         [--log-dir DIR]\n"
"\n"
"The decisions of the milter, from the decision log (log.path of the\n"
"configuration, or --log-dir), oldest first.  TIME is RFC 3339 (a date\n"
"alone means midnight UTC); --since is inclusive, --until exclusive.\n"
"--rcpt finds the address (normalized as the milter does) also in a log\n"
"that stores keyed hashes (log.hash_recipients), given the key file.\n"
"ACTION is refused, removed, monitored, allowed or tempfailed.\n"
"Output (--format): an aligned table (default), csv (RFC 4180, with a\n"
"header line; also --csv) or jsonl (one JSON object per line; also\n"
"--json or --jsonl); --summary counts the\n"
"decisions by type, reason and action instead of listing them.\n";

enum { FMT_TABLE, FMT_CSV, FMT_JSONL };

struct count {
	char *type, *reason;
	cm_declog_action action;
	unsigned long long n;
};

struct summary {
	struct count *v;
	size_t n, cap;
};

static int
summary_add(struct summary *s, const cm_declog_rec *r)
{
	const char *type = r->type ? r->type : "";
	const char *reason = r->reason ? r->reason : "";

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].action == r->action &&
		    strcmp(s->v[i].type, type) == 0 &&
		    strcmp(s->v[i].reason, reason) == 0) {
			s->v[i].n++;
			return 0;
		}
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 32;
		struct count *nv = realloc(s->v, nc * sizeof(*nv));

		if (nv == NULL)
			return -1;
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n].type = strdup(type);
	s->v[s->n].reason = strdup(reason);
	if (s->v[s->n].type == NULL || s->v[s->n].reason == NULL) {
		free(s->v[s->n].type);
		free(s->v[s->n].reason);
		return -1;
	}
	s->v[s->n].action = r->action;
	s->v[s->n].n = 1;
	s->n++;
	return 0;
}

static int
cmp_count(const void *a, const void *b)
{
	const struct count *x = a, *y = b;
	int c = strcmp(x->type, y->type);

	if (c == 0)
		c = strcmp(x->reason, y->reason);
	if (c == 0)
		c = (int)x->action - (int)y->action;
	return c;
}

static void
summary_print(struct summary *s, int fmt)
{
	static const char *const hdr[] = { "TYPE", "REASON", "ACTION",
	    "COUNT" };
	unsigned long long total = 0;
	ctl_table *t = NULL;

	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_count);
	if (fmt == FMT_CSV)
		fputs("type,reason,action,count\r\n", stdout);
	else if (fmt == FMT_TABLE)
		t = ctl_out_table_new(4, hdr);
	for (size_t i = 0; i < s->n; i++) {
		const struct count *c = &s->v[i];
		const char *an = cm_declog_action_name(c->action);
		char num[32];

		total += c->n;
		snprintf(num, sizeof(num), "%llu", c->n);
		if (fmt == FMT_CSV) {
			ctl_out_csv_field(stdout, c->type);
			fputc(',', stdout);
			ctl_out_csv_field(stdout, c->reason);
			printf(",%s,%s\r\n", an, num);
		} else if (fmt == FMT_JSONL) {
			fputs("{\"type\":", stdout);
			ctl_out_json_str(stdout, c->type);
			ctl_out_json_member(stdout, "reason", c->reason);
			printf(",\"action\":\"%s\",\"count\":%s}\n", an, num);
		} else if (t != NULL) {
			const char *cells[] = { c->type, c->reason, an, num };

			(void)ctl_out_table_add(t, cells);
		}
		free(c->type);
		free(c->reason);
	}
	if (t != NULL) {
		char num[32];
		const char *cells[] = { "total", "", "", num };

		snprintf(num, sizeof(num), "%llu", total);
		(void)ctl_out_table_add(t, cells);
		ctl_out_table_print(t, stdout);
		ctl_out_table_free(t);
	}
	free(s->v);
}

static void
print_csv(const cm_declog_rec *r)
{
	char tb[CM_TIME_BUFSZ];
	const char *f[] = { r->queue_id, r->message_id, r->sender, r->type,
	    r->campaign, r->rcpt, r->verdict, r->reason };

	fputs(cm_time_format(r->time_us, tb), stdout);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		fputc(',', stdout);
		ctl_out_csv_field(stdout, f[i] ? f[i] : "");
	}
	printf(",%s\r\n", cm_declog_action_name(r->action));
}

static void
print_jsonl(const cm_declog_rec *r)
{
	static const char *const names[] = { "queue_id", "message_id",
	    "sender", "type", "campaign", "rcpt", "verdict", "reason" };
	const char *f[] = { r->queue_id, r->message_id, r->sender, r->type,
	    r->campaign, r->rcpt, r->verdict, r->reason };

	fputs("{\"time\":", stdout);
	ctl_out_json_time(stdout, r->time_us);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		ctl_out_json_member(stdout, names[i], f[i]);
	}
	printf(",\"action\":\"%s\"}\n", cm_declog_action_name(r->action));
}

/* One table row, streamed with fixed column widths (constant memory). */
static void
print_row(const char *const *cells, size_t n)
{
	static const int w[] = { 27, 12, 16, 14, 32, 7, 12, 10 };

	for (size_t i = 0; i < n; i++) {
		const char *s = cells[i] && *cells[i] ? cells[i] : "-";
		char clean[1100];
		size_t o = 0;

		/* one row stays one line */
		for (; *s && o + 5 < sizeof(clean); s++) {
			unsigned char ch = (unsigned char)*s;

			if (ch < 0x20 || ch == 0x7f)
				o += (size_t)snprintf(clean + o, sizeof(clean) - o,
				    "\\x%02x", ch);
			else
				clean[o++] = (char)ch;
		}
		clean[o] = '\0';
		if (i + 1 < n)
			printf("%-*s  ", w[i], clean);
		else
			printf("%s\n", clean);
	}
}

int
ctl_cmd_report(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "type", required_argument, NULL, 't' },
		{ "campaign", required_argument, NULL, 'C' },
		{ "reason", required_argument, NULL, 'r' },
		{ "verdict", required_argument, NULL, 'v' },
		{ "action", required_argument, NULL, 'a' },
		{ "rcpt", required_argument, NULL, 'R' },
		{ "csv", no_argument, NULL, 'x' },
		{ "jsonl", no_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'F' },
		{ "summary", no_argument, NULL, 'S' },
		{ "log-dir", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cm_declog_filter f;
	cm_declog_reader *rd = NULL;
	cm_declog_rec rec;
	cm_declog_action act;
	struct summary sum = { 0 };
	const char *dir = NULL, *rcpt = NULL;
	cm_addr addr;
	int ch, rc, fmt = FMT_TABLE;
	bool summary = false;
	unsigned long long n = 0;
	cm_status st;

	memset(&f, 0, sizeof(f));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
		case 'u':
			if ((rc = ctl_cmd_time_opt("report", ch == 's' ?
			    "--since" : "--until", optarg, ch == 's' ?
			    &f.since_us : &f.until_us)) != 0)
				return rc;
			break;
		case 't': f.type = optarg; break;
		case 'C': f.campaign = optarg; break;
		case 'r': f.reason = optarg; break;
		case 'v':
			if (strcmp(optarg, "allow") != 0 &&
			    strcmp(optarg, "deny") != 0 &&
			    strcmp(optarg, "error") != 0)
				return ctl_cmd_usage("report", "--verdict: "
				    "expected allow, deny or error, got '%s'",
				    optarg);
			f.verdict = optarg;
			break;
		case 'a':
			if (cm_declog_action_parse(optarg, &act) != CM_OK)
				return ctl_cmd_usage("report", "--action: "
				    "expected refused, removed, monitored, "
				    "allowed or tempfailed, got '%s'", optarg);
			f.action = optarg;
			break;
		case 'R': rcpt = optarg; break;
		case 'x': fmt = FMT_CSV; break;
		case 'j': fmt = FMT_JSONL; break;
		case 'F':
			if (strcmp(optarg, "table") == 0)
				fmt = FMT_TABLE;
			else if (strcmp(optarg, "csv") == 0)
				fmt = FMT_CSV;
			else if (strcmp(optarg, "jsonl") == 0)
				fmt = FMT_JSONL;
			else
				return ctl_cmd_usage("report", "--format: expected "
				    "table, csv or jsonl, got '%s'", optarg);
			break;
		case 'S': summary = true; break;
		case 'L': dir = optarg; break;
		case 'h': return ctl_cmd_help(report_help);
		default: return ctl_cmd_usage("report", "invalid option");
		}
	}
	if (optind != argc)
		return ctl_cmd_usage("report", "unexpected argument '%s'",
		    argv[optind]);
	if (f.since_us && f.until_us && f.until_us <= f.since_us)
		return ctl_cmd_usage("report", "--until must be after --since");
	if (dir == NULL || rcpt != NULL) {
		if ((rc = ctl_ctx_require_policy(c)) != 0)
			return rc;
	}
	if (dir == NULL) {
		dir = cm_policy_log_path(c->policy);
		if (dir == NULL) {
			ctl_diag_err("%s: no log: section, so there is no "
			    "decision log (or give --log-dir)", c->config_path ?
			    c->config_path : "configuration");
			return EX_CONFIG;
		}
	}
	if (rcpt != NULL) {
		if ((rc = ctl_ctx_addr(c, rcpt, &addr)) != 0)
			return rc;
		f.rcpt = addr.key;
		if (c->policy != NULL)
			f.key_file = cm_policy_log_key_file(c->policy);
	}

	st = cm_declog_reader_open(dir, &f, &rd);
	if (st != CM_OK) {
		ctl_diag_err("%s: %s", dir, cm_strerror((int)st));
		return st == CM_NOTFOUND ? EX_NOINPUT : st == CM_EPERM ?
		    EX_NOPERM : st == CM_ENOMEM ? EX_OSERR : EX_IOERR;
	}
	if (!summary && fmt == FMT_CSV)
		fputs("time,queue_id,message_id,sender,type,campaign,rcpt,"
		    "verdict,reason,action\r\n", stdout);
	if (!summary && fmt == FMT_TABLE) {
		const char *hdr[] = { "TIME", "QUEUE-ID", "TYPE", "CAMPAIGN",
		    "RCPT", "VERDICT", "REASON", "ACTION" };

		print_row(hdr, 8);
	}
	while ((st = cm_declog_reader_next(rd, &rec)) == CM_OK) {
		n++;
		if (summary) {
			if (summary_add(&sum, &rec) != 0) {
				st = CM_ENOMEM;
				break;
			}
		} else if (fmt == FMT_CSV) {
			print_csv(&rec);
		} else if (fmt == FMT_JSONL) {
			print_jsonl(&rec);
		} else {
			char tb[CM_TIME_BUFSZ];
			const char *cells[] = { cm_time_format(rec.time_us, tb),
			    rec.queue_id, rec.type, rec.campaign, rec.rcpt,
			    rec.verdict, rec.reason,
			    cm_declog_action_name(rec.action) };

			print_row(cells, 8);
		}
	}
	if (summary)
		summary_print(&sum, fmt);
	if (cm_declog_reader_bad(rd) > 0)
		ctl_diag_err("%s: %llu malformed line(s) skipped", dir,
		    (unsigned long long)cm_declog_reader_bad(rd));
	cm_declog_reader_close(rd);
	if (st != CM_NOTFOUND) {
		ctl_diag_err("%s: %s", dir, cm_strerror((int)st));
		return st == CM_ENOMEM ? EX_OSERR : EX_IOERR;
	}
	if (fflush(stdout) != 0) {
		ctl_diag_err("standard output: write error");
		return EX_IOERR;
	}
	return 0;
}
