/*
 * cmd_query.c - commands that only read: check, show, history, stats,
 * types, domains.
 */
#include <inttypes.h>
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

enum { O_JSON = 256, O_AT, O_REQUIREMENT, O_VALID_FOR };

/* Parse [--json] only; returns 0, -1 after --help, or an exit code. */
static int
parse_json_only(const char *cmd, const char *help, int argc, char **argv,
    bool *json)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*json = false;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			ctl_cmd_help(help);
			return -1;
		}
		if (ch != O_JSON)
			return ctl_cmd_usage(cmd, "invalid option");
		*json = true;
	}
	return 0;
}

/* Parse [--json] and no arguments; returns as parse_json_only(). */
static int
parse_json_noargs(const char *cmd, const char *help, int argc, char **argv,
    bool *json)
{
	int rc = parse_json_only(cmd, help, argc, argv, json);

	if (rc == 0 && argc != optind)
		return ctl_cmd_usage(cmd, "no arguments expected");
	return rc;
}

static const char check_help[] =
"usage: consentctl [-c FILE | -d DBDIR] check ADDR TYPE [--at TIME] [--json]\n"
"       consentctl -d DBDIR check ADDR TYPE --requirement REQ\n"
"           [--valid-for DURATION] [--at TIME] [--json]\n"
"\n"
"Decide for ADDR and newsletter TYPE exactly as the milter does (the same\n"
"core function with the type's requirement and validity from the\n"
"configuration) at TIME (default now), and print `allow` or `deny REASON`\n"
"(no-consent, withdrawn, unconfirmed, expired, objection, suppressed).\n"
"With --json: {\"address\":..,\"type\":..,\"verdict\":..,\"reason\":..}.\n"
"Exit 0 allow, 1 deny; an unknown type (65) or an index error (66, 74, 75)\n"
"is never a decision.\n"
"\n"
"The newsletter types come from the configuration, so check reads it even\n"
"with -d.  Only with -d and --requirement (opt-in, double-opt-in,\n"
"no-objection; optionally --valid-for, e.g. 730d) is no configuration\n"
"read: the type is then described on the command line.\n";

int
ctl_cmd_check(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_JSON },
		{ "at", required_argument, NULL, O_AT },
		{ "requirement", required_argument, NULL, O_REQUIREMENT },
		{ "valid-for", required_argument, NULL, O_VALID_FOR },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cm_type_policy manual;
	const cm_type_policy *tp;
	const cm_ntype *nt;
	bool json = false, have_req = false, have_valid = false;
	int64_t now = 0;
	cm_decision d;
	cm_status st, ast;
	cm_addr a;
	int ch, rc;

	memset(&manual, 0, sizeof(manual));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			return ctl_cmd_help(check_help);
		case O_JSON:
			json = true;
			break;
		case O_AT:
			if ((rc = ctl_cmd_time_opt("check", "--at", optarg,
			    &now)) != 0)
				return rc;
			break;
		case O_REQUIREMENT:
			if (cm_requirement_parse(optarg,
			    &manual.requirement) != CM_OK)
				return ctl_cmd_usage("check", "--requirement "
				    "'%s': opt-in, double-opt-in or "
				    "no-objection expected", optarg);
			have_req = true;
			break;
		case O_VALID_FOR:
			if (!ctl_parse_duration(optarg, &manual.validity_us))
				return ctl_cmd_usage("check", "--valid-for "
				    "'%s': a duration expected (e.g. 730d, "
				    "12h, 2w)", optarg);
			have_valid = true;
			break;
		default:
			return ctl_cmd_usage("check", "invalid option");
		}
	}
	if (argc - optind != 2)
		return ctl_cmd_usage("check", "ADDR and TYPE expected");
	if (have_valid && !have_req)
		return ctl_cmd_usage("check", "--valid-for needs "
		    "--requirement");
	if (have_req && (c->config_path != NULL || c->db_dir_opt == NULL))
		return ctl_cmd_usage("check", "--requirement describes the "
		    "type without a configuration: use it with -d alone");
	if (!have_req && (rc = ctl_ctx_require_policy(c)) != 0)
		return rc;
	if ((rc = ctl_ctx_type(c, argv[optind + 1], &nt)) != 0)
		return rc;
	if (nt != NULL) {
		tp = cm_ntype_policy(nt);
	} else {
		manual.id = argv[optind + 1];
		tp = &manual;
	}
	if ((rc = ctl_ctx_open(c, CTL_OPEN_RO)) != 0)
		return rc;
	if (now == 0)
		now = cm_time_now();
	/* The milter's entry point: an address that cannot be normalized is
	 * decided by the same rule, and named as bad input. */
	st = cm_decide_raw(c->idx, &tp, 1, argv[optind], strlen(argv[optind]),
	    &c->addr_opts, now, &a, &ast, &d, NULL);
	if (st == CM_OK && ast != CM_OK) {
		ctl_diag_err("address '%s': %s; decision: %s %s", argv[optind],
		    cm_strerror(ast), cm_verdict_name(d.verdict),
		    cm_reason_name(d.reason));
		return EX_DATAERR;
	}
	if (st != CM_OK) {
		char what[CM_ADDR_KEY_MAX + CM_TYPE_ID_MAX + 16];

		snprintf(what, sizeof(what), "check %s %s", ast == CM_OK ?
		    a.key : argv[optind], tp->id);
		return ctl_cmd_index_error(c, st, what);
	}
	if (json) {
		fputs("{\"address\":", stdout);
		ctl_out_json_str(stdout, a.key);
		ctl_out_json_member(stdout, "type", tp->id);
		printf(",\"verdict\":\"%s\",\"reason\":", cm_verdict_name(
		    d.verdict));
		ctl_out_json_str(stdout, d.verdict == CM_ALLOW ? NULL :
		    cm_reason_name(d.reason));
		fputs("}\n", stdout);
	} else if (d.verdict == CM_ALLOW) {
		puts("allow");
	} else {
		printf("deny %s\n", cm_reason_name(d.reason));
	}
	return d.verdict == CM_ALLOW ? 0 : 1;
}

static const char show_help[] =
"usage: consentctl [-c FILE | -d DBDIR] show ADDR [--json]\n"
"\n"
"Show what is stored for ADDR (normalized): its records (type, state,\n"
"granted, confirmed, withdrawn and last-change times, source, basis,\n"
"purpose, evidence), an objection to all marketing, a suppression of its\n"
"domain, or its erasure.  --json prints one object:\n"
"  {\"address\", \"found\", \"erased\", \"objection\", \"objection_time\",\n"
"   \"domain_suppressed_since\", \"records\": [{\"type\", \"state\",\n"
"   \"confirmed\" (bool), \"granted\", \"confirmed_time\", \"withdrawn\",\n"
"   \"updated\", \"expires\", \"source\", \"basis\", \"purpose\",\n"
"   \"evidence\"}]}\n"
"EXPIRES: when the consent expires (the later of granted and confirmed\n"
"plus the type's valid_for), \"never\" for a type without valid_for, empty\n"
"(null) when no consent is in force or without a configuration (-d).\n"
"Exit 0 if records or an objection are stored, 1 if nothing is (also when\n"
"the address is erased).\n";

/* The expiry of R for a table cell or JSON: "never", a time, or NULL
 * (no consent in force, or no policy loaded). */
static const char *
record_expiry(const cm_policy *p, const cm_record *r, char *buf)
{
	int64_t until;

	if (p == NULL)
		return NULL;
	switch (ctl_expiry(p, r, NULL, &until)) {
	case CTL_EXPIRY_NEVER:
		return "never";
	case CTL_EXPIRY_AT:
		return cm_time_format(until, buf);
	case CTL_EXPIRY_NONE:
		break;
	}
	return NULL;
}

static void
json_record(const cm_policy *p, const cm_record *r)
{
	char tb[CM_TIME_BUFSZ];
	const char *exp = record_expiry(p, r, tb);

	fputs("{\"type\":", stdout);
	ctl_out_json_str(stdout, r->type);
	printf(",\"state\":\"%s\",\"confirmed\":%s,\"granted\":",
	    cm_state_name(r->state), r->confirmed_us != 0 ? "true" : "false");
	ctl_out_json_time(stdout, r->granted_us);
	ctl_out_json_member_time(stdout, "confirmed_time", r->confirmed_us);
	ctl_out_json_member_time(stdout, "withdrawn", r->withdrawn_us);
	ctl_out_json_member_time(stdout, "updated", r->updated_us);
	fputs(",\"expires\":", stdout);
	if (exp != NULL)
		ctl_out_json_str(stdout, exp);
	else
		fputs("null", stdout);
	ctl_out_json_member(stdout, "source", r->source);
	ctl_out_json_member(stdout, "basis", r->basis);
	ctl_out_json_member(stdout, "purpose", r->purpose);
	ctl_out_json_member(stdout, "evidence", r->evidence);
	fputs("}", stdout);
}

int
ctl_cmd_show(ctl_ctx *c, int argc, char **argv)
{
	bool json, erased = false;
	int64_t dom_since = 0;
	cm_entry *e = NULL;
	cm_status st;
	cm_addr a;
	int rc;
	char what[CM_ADDR_KEY_MAX + 16];

	if ((rc = parse_json_only("show", show_help, argc, argv, &json)) != 0)
		return rc < 0 ? 0 : rc;
	if (argc - optind != 1)
		return ctl_cmd_usage("show", "ADDR expected");
	if ((rc = ctl_ctx_load_policy(c)) != 0 ||
	    (rc = ctl_ctx_addr(c, argv[optind], &a)) != 0 ||
	    (rc = ctl_ctx_open(c, CTL_OPEN_RO)) != 0)
		return rc;
	snprintf(what, sizeof(what), "show %s", a.key);
	st = cm_index_get(c->idx, a.key, &e);
	if (st != CM_OK && st != CM_NOTFOUND)
		return ctl_cmd_index_error(c, st, what);
	if (st == CM_NOTFOUND) {
		e = NULL;
		st = cm_index_is_erased(c->idx, a.key);
		if (st != CM_OK && st != CM_NOTFOUND)
			return ctl_cmd_index_error(c, st, what);
		erased = st == CM_OK;
	}
	st = cm_index_domain_suppressed(c->idx, a.key + a.domain_off,
	    &dom_since);
	if (st != CM_OK && st != CM_NOTFOUND) {
		cm_entry_free(e);
		return ctl_cmd_index_error(c, st, what);
	}
	if (st == CM_NOTFOUND)
		dom_since = 0;
	else if (dom_since == 0)
		dom_since = 1;	/* suppressed, time unknown */

	if (json) {
		fputs("{\"address\":", stdout);
		ctl_out_json_str(stdout, a.key);
		printf(",\"found\":%s,\"erased\":%s,\"objection\":%s,"
		    "\"objection_time\":", e != NULL ? "true" : "false",
		    erased ? "true" : "false",
		    e != NULL && e->objection ? "true" : "false");
		ctl_out_json_time(stdout, e != NULL ? e->objection_us : 0);
		ctl_out_json_member_time(stdout, "domain_suppressed_since",
		    dom_since);
		fputs(",\"records\":[", stdout);
		for (size_t i = 0; e != NULL && i < e->nrecords; i++) {
			if (i > 0)
				fputc(',', stdout);
			json_record(c->policy, &e->records[i]);
		}
		fputs("]}\n", stdout);
	} else {
		char t1[CM_TIME_BUFSZ], t2[CM_TIME_BUFSZ], t3[CM_TIME_BUFSZ],
		    t4[CM_TIME_BUFSZ], t5[CM_TIME_BUFSZ];

		printf("address:    %s\n", a.key);
		if (erased)
			printf("erased:     yes (only a keyed-hash tombstone "
			    "is stored; suppressed for every type)\n");
		if (e != NULL && e->objection)
			printf("objection:  to all marketing, since %s\n",
			    ctl_out_time(e->objection_us, t1));
		if (dom_since != 0)
			printf("domain:     %s suppressed since %s\n",
			    a.key + a.domain_off, ctl_out_time(dom_since, t1));
		if (e == NULL) {
			if (!erased)
				printf("records:    none\n");
		} else if (e->nrecords == 0) {
			printf("records:    none\n");
		} else {
			static const char *const hdr[] = { "TYPE", "STATE",
			    "GRANTED", "CONFIRMED", "WITHDRAWN", "UPDATED",
			    "EXPIRES", "SOURCE", "BASIS", "PURPOSE",
			    "EVIDENCE" };
			ctl_table *t = ctl_out_table_new(11, hdr);

			if (t == NULL) {
				cm_entry_free(e);
				return ctl_cmd_oom();
			}
			for (size_t i = 0; i < e->nrecords; i++) {
				const cm_record *r = &e->records[i];
				const char *exp = record_expiry(c->policy, r,
				    t5);
				const char *row[11] = { r->type,
				    cm_state_name(r->state),
				    ctl_out_time(r->granted_us, t1),
				    ctl_out_time(r->confirmed_us, t2),
				    ctl_out_time(r->withdrawn_us, t3),
				    ctl_out_time(r->updated_us, t4),
				    exp != NULL ? exp : "",
				    r->source, r->basis, r->purpose,
				    r->evidence };

				if (!ctl_out_table_add(t, row)) {
					ctl_out_table_free(t);
					cm_entry_free(e);
					return ctl_cmd_oom();
				}
			}
			fputc('\n', stdout);
			ctl_out_table_print(t, stdout);
			ctl_out_table_free(t);
		}
	}
	rc = e != NULL ? 0 : 1;
	cm_entry_free(e);
	return rc;
}

static const char history_help[] =
"usage: consentctl [-c FILE | -d DBDIR] history ADDR [--json]\n"
"\n"
"Show every event recorded for ADDR, oldest first: sequence number, when\n"
"it happened, when it was recorded, event, type, old and new state,\n"
"source, basis, purpose, evidence, actor.  --json prints JSON Lines, one\n"
"object per event with the keys seq, at, recorded, event, type, old_state,\n"
"new_state, source, basis, purpose, evidence, actor.  Exit 1 if there is\n"
"no history (never recorded, or erased).\n";

typedef struct hist_ctx {
	bool json;
	ctl_table *t;
	bool oom;
} hist_ctx;

static int
history_cb(const cm_history_event *ev, void *arg)
{
	hist_ctx *h = arg;
	char t1[CM_TIME_BUFSZ], t2[CM_TIME_BUFSZ], seq[24];

	if (h->json) {
		printf("{\"seq\":%" PRIu64 ",\"at\":", ev->seq);
		ctl_out_json_time(stdout, ev->at_us);
		ctl_out_json_member_time(stdout, "recorded", ev->recorded_us);
		printf(",\"event\":\"%s\",\"type\":",
		    cm_event_kind_name(ev->kind));
		ctl_out_json_str(stdout, ev->type);
		printf(",\"old_state\":\"%s\",\"new_state\":\"%s\","
		    "\"source\":", cm_state_name(ev->old_state),
		    cm_state_name(ev->new_state));
		ctl_out_json_str(stdout, ev->source);
		ctl_out_json_member(stdout, "basis", ev->basis);
		ctl_out_json_member(stdout, "purpose", ev->purpose);
		ctl_out_json_member(stdout, "evidence", ev->evidence);
		ctl_out_json_member(stdout, "actor", ev->actor);
		fputs("}\n", stdout);
		return 0;
	}
	snprintf(seq, sizeof(seq), "%" PRIu64, ev->seq);
	{
		const char *row[12] = { seq, ctl_out_time(ev->at_us, t1),
		    ctl_out_time(ev->recorded_us, t2),
		    cm_event_kind_name(ev->kind), ev->type,
		    cm_state_name(ev->old_state),
		    cm_state_name(ev->new_state), ev->source, ev->basis,
		    ev->purpose, ev->evidence, ev->actor };

		return ctl_cmd_row(h->t, row, &h->oom);
	}
}

int
ctl_cmd_history(ctl_ctx *c, int argc, char **argv)
{
	static const char *const hdr[] = { "SEQ", "AT", "RECORDED", "EVENT",
	    "TYPE", "FROM", "TO", "SOURCE", "BASIS", "PURPOSE", "EVIDENCE",
	    "ACTOR" };
	hist_ctx h;
	cm_status st;
	cm_addr a;
	int rc;
	char what[CM_ADDR_KEY_MAX + 16];

	memset(&h, 0, sizeof(h));
	if ((rc = parse_json_only("history", history_help, argc, argv,
	    &h.json)) != 0)
		return rc < 0 ? 0 : rc;
	if (argc - optind != 1)
		return ctl_cmd_usage("history", "ADDR expected");
	if ((rc = ctl_ctx_load_policy(c)) != 0 ||
	    (rc = ctl_ctx_addr(c, argv[optind], &a)) != 0 ||
	    (rc = ctl_ctx_open(c, CTL_OPEN_RO)) != 0)
		return rc;
	if ((rc = ctl_cmd_table(h.json, 12, hdr, &h.t)) != 0)
		return rc;
	snprintf(what, sizeof(what), "history %s", a.key);
	st = cm_index_history(c->idx, a.key, history_cb, &h);
	if (h.oom)
		st = CM_ENOMEM;
	if (st == CM_NOTFOUND) {
		ctl_out_table_free(h.t);
		if (!h.json)
			printf("%s: no history\n", a.key);
		return 1;
	}
	return ctl_cmd_listing_end(c, st, h.t, what);
}

static const char stats_help[] =
"usage: consentctl [-c FILE | -d DBDIR] stats [--json]\n"
"\n"
"Records by newsletter type and state, and the size of the index:\n"
"addresses, records, history events, domain suppressions, tombstones, map\n"
"size and map use.  --json prints one object with the keys index,\n"
"addresses, records, history_events, domains, tombstones, map_size,\n"
"map_used, page_size and by_type: [{type, state, records}].\n";

typedef struct count_ctx {
	bool json;
	bool first;
	ctl_table *t;
	bool oom;
} count_ctx;

static int
count_cb(const char *type, cm_state state, size_t n, void *arg)
{
	count_ctx *cc = arg;
	char num[24];

	if (cc->json) {
		fputs(cc->first ? "" : ",", stdout);
		cc->first = false;
		fputs("{\"type\":", stdout);
		ctl_out_json_str(stdout, type);
		printf(",\"state\":\"%s\",\"records\":%zu}",
		    cm_state_name(state), n);
		return 0;
	}
	snprintf(num, sizeof(num), "%zu", n);
	{
		const char *row[3] = { type, cm_state_name(state), num };

		return ctl_cmd_row(cc->t, row, &cc->oom);
	}
}

static void
human_size(size_t n, char *buf, size_t sz)
{
	if (n >= (size_t)1 << 30)
		snprintf(buf, sz, "%.1f GiB", (double)n / (1 << 30));
	else if (n >= (size_t)1 << 20)
		snprintf(buf, sz, "%.1f MiB", (double)n / (1 << 20));
	else
		snprintf(buf, sz, "%.1f KiB", (double)n / 1024);
}

int
ctl_cmd_stats(ctl_ctx *c, int argc, char **argv)
{
	static const char *const hdr[] = { "TYPE", "STATE", "RECORDS" };
	cm_index_stats s;
	count_ctx cc;
	cm_status st;
	int rc;

	memset(&cc, 0, sizeof(cc));
	if ((rc = parse_json_noargs("stats", stats_help, argc, argv,
	    &cc.json)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = ctl_ctx_open(c, CTL_OPEN_RO)) != 0)
		return rc;
	if ((st = cm_index_stats_get(c->idx, &s)) != CM_OK)
		return ctl_cmd_index_error(c, st, "stats");
	if (cc.json) {
		fputs("{\"index\":", stdout);
		ctl_out_json_str(stdout, c->db_dir);
		printf(",\"addresses\":%zu,\"records\":%zu,"
		    "\"history_events\":%zu,\"domains\":%zu,"
		    "\"tombstones\":%zu,\"map_size\":%zu,\"map_used\":%zu,"
		    "\"page_size\":%zu,\"by_type\":[", s.addresses, s.records,
		    s.history_events, s.domains, s.tombstones, s.map_size,
		    s.map_used, s.page_size);
		cc.first = true;
		st = cm_index_count_by_type(c->idx, count_cb, &cc);
		if (st != CM_OK)
			return ctl_cmd_index_error(c, st, "stats");
		fputs("]}\n", stdout);
		return 0;
	}
	if ((rc = ctl_cmd_table(false, 3, hdr, &cc.t)) != 0)
		return rc;
	st = cm_index_count_by_type(c->idx, count_cb, &cc);
	if (cc.oom)
		st = CM_ENOMEM;
	if (st != CM_OK) {
		ctl_out_table_free(cc.t);
		return ctl_cmd_index_error(c, st, "stats");
	}
	{
		char b1[32], b2[32];

		human_size(s.map_size, b1, sizeof(b1));
		human_size(s.map_used, b2, sizeof(b2));
		printf("index:           %s\n", c->db_dir);
		printf("addresses:       %zu\n", s.addresses);
		printf("records:         %zu\n", s.records);
		printf("history events:  %zu\n", s.history_events);
		printf("domains:         %zu suppressed\n", s.domains);
		printf("tombstones:      %zu\n", s.tombstones);
		printf("map size:        %s (%zu octets)\n", b1, s.map_size);
		printf("map used:        %s (%.1f%%), page size %zu\n", b2,
		    s.map_size ? 100.0 * (double)s.map_used /
		    (double)s.map_size : 0.0, s.page_size);
		fputc('\n', stdout);
	}
	ctl_out_table_print(cc.t, stdout);
	ctl_out_table_free(cc.t);
	return 0;
}

static const char types_help[] =
"usage: consentctl [-c FILE] types [--json]\n"
"\n"
"List the newsletter types of the configuration: id, requirement,\n"
"validity and name.  --json prints JSON Lines {id, name, requirement,\n"
"valid_for_seconds}.\n";

int
ctl_cmd_types(ctl_ctx *c, int argc, char **argv)
{
	static const char *const hdr[] = { "ID", "CONSENT", "VALID FOR",
	    "NAME" };
	ctl_table *t = NULL;
	bool json;
	int rc;
	size_t n;

	if ((rc = parse_json_noargs("types", types_help, argc, argv,
	    &json)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = ctl_ctx_require_policy(c)) != 0)
		return rc;
	if ((rc = ctl_cmd_table(json, 4, hdr, &t)) != 0)
		return rc;
	n = cm_policy_ntypes(c->policy);
	for (size_t i = 0; i < n; i++) {
		const cm_ntype *nt = cm_policy_type(c->policy, i);
		const cm_type_policy *tp = cm_ntype_policy(nt);
		char valid[32] = "";

		if (tp->validity_us != 0)
			snprintf(valid, sizeof(valid), "%" PRId64 "s",
			    tp->validity_us / 1000000);
		if (json) {
			fputs("{\"id\":", stdout);
			ctl_out_json_str(stdout, cm_ntype_id(nt));
			ctl_out_json_member(stdout, "name", cm_ntype_name(nt));
			printf(",\"requirement\":\"%s\",\"valid_for_seconds\":",
			    cm_requirement_name(tp->requirement));
			if (tp->validity_us != 0)
				printf("%" PRId64 "}\n",
				    tp->validity_us / 1000000);
			else
				fputs("null}\n", stdout);
		} else {
			const char *row[4] = { cm_ntype_id(nt),
			    cm_requirement_name(tp->requirement), valid,
			    cm_ntype_name(nt) };

			if (!ctl_out_table_add(t, row)) {
				ctl_out_table_free(t);
				return ctl_cmd_oom();
			}
		}
	}
	if (t != NULL)
		ctl_out_table_print(t, stdout);
	ctl_out_table_free(t);
	return 0;
}

static const char domains_help[] =
"usage: consentctl [-c FILE | -d DBDIR] domains [--json]\n"
"\n"
"List the suppressed domains with the time and source of their\n"
"suppression.  --json prints JSON Lines {domain, since, source}.\n";

typedef struct dom_ctx {
	bool json;
	ctl_table *t;
	bool oom;
} dom_ctx;

static int
domain_cb(const char *domain, int64_t since_us, const char *source,
    void *arg)
{
	dom_ctx *d = arg;
	char tb[CM_TIME_BUFSZ];

	if (d->json) {
		fputs("{\"domain\":", stdout);
		ctl_out_json_str(stdout, domain);
		ctl_out_json_member_time(stdout, "since", since_us);
		ctl_out_json_member(stdout, "source",
		    source != NULL ? source : "");
		fputs("}\n", stdout);
		return 0;
	}
	{
		const char *row[3] = { domain, ctl_out_time(since_us, tb),
		    source };

		return ctl_cmd_row(d->t, row, &d->oom);
	}
}

int
ctl_cmd_domains(ctl_ctx *c, int argc, char **argv)
{
	static const char *const hdr[] = { "DOMAIN", "SINCE", "SOURCE" };
	dom_ctx d;
	cm_status st;
	int rc;

	memset(&d, 0, sizeof(d));
	if ((rc = parse_json_noargs("domains", domains_help, argc, argv,
	    &d.json)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = ctl_ctx_open(c, CTL_OPEN_RO)) != 0)
		return rc;
	if ((rc = ctl_cmd_table(d.json, 3, hdr, &d.t)) != 0)
		return rc;
	st = cm_index_foreach_domain(c->idx, domain_cb, &d);
	return ctl_cmd_listing_end(c, d.oom ? CM_ENOMEM : st, d.t,
	    "domains");
}
