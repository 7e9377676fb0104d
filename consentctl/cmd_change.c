/*
 * cmd_change.c - commands that change the index: init, grant, withdraw,
 * confirm, suppress-domain, unsuppress-domain, erase, bulk-update.
 *
 * Each change is one core event (grant --confirmed: two, in one batch)
 * carrying the invoking user as actor; core appends the history event.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "../core/timefmt.h"
#include "cmd.h"
#include "diag.h"
#include "erase.h"
#include "parse.h"

enum {
	O_SOURCE = 256, O_BASIS, O_PURPOSE, O_EVIDENCE, O_AT, O_PENDING,
	O_CONFIRMED, O_ALL, O_TYPE, O_STATE, O_BEFORE, O_AFTER, O_NEW_SOURCE,
	O_NEW_EVIDENCE, O_DRY_RUN
};

/* Apply N events (N > 1: in one all-or-nothing batch).  Returns 0, or
 * prints the failure and returns the exit code. */
static int
apply(ctl_ctx *c, const cm_event *evs, size_t n, const char *what)
{
	cm_status st;
	char tb[CM_TIME_BUFSZ];

	if (n == 1) {
		st = cm_index_apply(c->idx, &evs[0]);
	} else {
		cm_batch *b;
		cm_batch_result res;

		if ((st = cm_batch_new(&b)) != CM_OK)
			return ctl_cmd_index_error(c, st, what);
		for (size_t i = 0; i < n && st == CM_OK; i++)
			st = cm_batch_add(b, &evs[i]);
		memset(&res, 0, sizeof(res));
		if (st == CM_OK)
			st = cm_index_apply_batch(c->idx, b, &res);
		cm_batch_free(b);
		if (st == CM_OK && res.applied == 0 && res.stale > 0)
			st = CM_ESTALE;
	}
	if (st == CM_ESTALE) {
		ctl_diag_err("%s at %s: not applied: the stored state is newer "
		    "(the newer event wins)", what, evs[0].at_us == 0 ? "now" :
		    cm_time_format(evs[0].at_us, tb));
		return EX_DATAERR;
	}
	if (st != CM_OK)
		return ctl_cmd_index_error(c, st, what);
	return 0;
}

/*
 * Print the state the record of ADDR and TYPE is in after a change: what
 * the index made of it ("granted", "pending (until confirmed)",
 * "granted and confirmed", "withdrawn" with the objection that caused it).
 */
static int
report_state(ctl_ctx *c, const char *addr, const char *type)
{
	cm_entry *e = NULL;
	const cm_record *r = NULL;
	char tb[CM_TIME_BUFSZ];
	cm_status st = cm_index_get(c->idx, addr, &e);

	if (st != CM_OK && st != CM_NOTFOUND)
		return ctl_cmd_index_error(c, st, "read back");
	for (size_t i = 0; e != NULL && i < e->nrecords; i++)
		if (strcmp(e->records[i].type, type) == 0)
			r = &e->records[i];
	if (r == NULL) {
		printf("%s: %s recorded\n", addr, type);
	} else if (r->state == CM_STATE_PENDING) {
		printf("%s: %s pending (until confirmed)\n", addr, type);
	} else if (r->state == CM_STATE_GRANTED) {
		printf("%s: %s granted%s\n", addr, type,
		    r->confirmed_us != 0 ? " and confirmed" : "");
	} else if (e->objection && e->objection_us == r->withdrawn_us) {
		printf("%s: %s withdrawn: the objection to all marketing of "
		    "%s is newer\n", addr, type, cm_time_format(
		    e->objection_us, tb));
	} else {
		printf("%s: %s withdrawn\n", addr, type);
	}
	cm_entry_free(e);
	return 0;
}

static const char init_help[] =
"usage: consentctl [-c FILE | -d DBDIR] init\n"
"\n"
"Create an empty consent index (data.mdb, lock.mdb and the erasure key\n"
"erasure.key, mode 0600) in the index directory, creating the directory\n"
"(mode 0750) if it is missing.  An existing index is left as it is.\n"
"Only init and import create an index; every other command needs one.\n";

int
ctl_cmd_init(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h')
			return ctl_cmd_help(init_help);
		return ctl_cmd_usage("init", "invalid option");
	}
	if (optind != argc)
		return ctl_cmd_usage("init", "no arguments expected");
	if ((rc = ctl_ctx_open(c, CTL_OPEN_CREATE)) != 0)
		return rc;
	printf("consent index ready in %s\n", c->db_dir);
	return ctl_link_init_key(c);
}

/* Options common to the single-event commands. */
typedef struct change_opts {
	const char *source, *basis, *purpose, *evidence;
	int64_t at_us;
	bool pending, confirmed, all;
} change_opts;

static const struct option change_longopts[] = {
	{ "source", required_argument, NULL, O_SOURCE },
	{ "basis", required_argument, NULL, O_BASIS },
	{ "purpose", required_argument, NULL, O_PURPOSE },
	{ "evidence", required_argument, NULL, O_EVIDENCE },
	{ "at", required_argument, NULL, O_AT },
	{ "pending", no_argument, NULL, O_PENDING },
	{ "confirmed", no_argument, NULL, O_CONFIRMED },
	{ "all", no_argument, NULL, O_ALL },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/*
 * Parse the options of command CMD; ALLOWED lists the option codes it
 * takes.  Returns 0, -1 after --help (exit 0), or an exit code.
 */
static int
parse_change(const char *cmd, const char *help, const int *allowed,
    int argc, char **argv, change_opts *o)
{
	int ch, rc;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "h", change_longopts, NULL)) !=
	    -1) {
		bool ok = false;

		if (ch == 'h') {
			ctl_cmd_help(help);
			return -1;
		}
		for (const int *a = allowed; *a != 0; a++)
			if (*a == ch)
				ok = true;
		if (!ok) {
			if (ch != '?')
				return ctl_cmd_usage(cmd, "option '%s' not "
				    "allowed here", argv[optind - 1]);
			return ctl_cmd_usage(cmd, "invalid option");
		}
		switch (ch) {
		case O_SOURCE:
			o->source = optarg;
			break;
		case O_BASIS:
			o->basis = optarg;
			break;
		case O_PURPOSE:
			o->purpose = optarg;
			break;
		case O_EVIDENCE:
			o->evidence = optarg;
			break;
		case O_AT:
			if ((rc = ctl_cmd_time_opt(cmd, "--at", optarg,
			    &o->at_us)) != 0)
				return rc;
			break;
		case O_PENDING:
			o->pending = true;
			break;
		case O_CONFIRMED:
			o->confirmed = true;
			break;
		case O_ALL:
			o->all = true;
			break;
		}
		if (ch >= O_SOURCE && ch <= O_EVIDENCE &&
		    (rc = ctl_cmd_field_opt(cmd, argv[optind - 1] ?
		    argv[optind - 1] : "option", optarg)) != 0)
			return rc;
	}
	/* without --at, at_us stays 0: the event happens when the index
	 * applies it (a withdrawal made now then beats any stored state) */
	return 0;
}

static void
fill_event(cm_event *ev, ctl_ctx *c, cm_event_kind kind, const char *addr,
    const char *type, const change_opts *o)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->addr = addr;
	ev->type = type;
	ev->at_us = o->at_us;
	ev->source = o->source;
	ev->basis = o->basis;
	ev->purpose = o->purpose;
	ev->evidence = o->evidence;
	ev->actor = c->actor;
}

static const char grant_help[] =
"usage: consentctl [-c FILE | -d DBDIR] grant ADDR TYPE [--source S]\n"
"           [--basis B] [--purpose P] [--evidence E] [--at TIME]\n"
"           [--pending | --confirmed]\n"
"\n"
"Record that ADDR consented to newsletter TYPE at TIME (RFC 3339, default\n"
"now).  With a configuration, TYPE must be one of its newsletters, and a\n"
"grant of a double-opt-in type is pending until `confirm` (or --confirmed,\n"
"which records the confirmation at the same time).  With -d alone the\n"
"requirement is unknown: the grant is granted (unconfirmed) unless\n"
"--pending.  A grant older than the stored state is not applied (exit 65).\n";

int
ctl_cmd_grant(ctl_ctx *c, int argc, char **argv)
{
	static const int allowed[] = { O_SOURCE, O_BASIS, O_PURPOSE,
	    O_EVIDENCE, O_AT, O_PENDING, O_CONFIRMED, 0 };
	const cm_ntype *nt;
	change_opts o;
	cm_addr a;
	cm_event ev[2];
	char what[CM_ADDR_KEY_MAX + CM_TYPE_ID_MAX + 16];
	int rc;

	if ((rc = parse_change("grant", grant_help, allowed, argc, argv,
	    &o)) != 0)
		return rc < 0 ? 0 : rc;
	if (argc - optind != 2)
		return ctl_cmd_usage("grant", "ADDR and TYPE expected");
	if (o.pending && o.confirmed)
		return ctl_cmd_usage("grant", "--pending and --confirmed "
		    "exclude each other");
	if ((rc = ctl_ctx_load_policy(c)) != 0 ||
	    (rc = ctl_ctx_addr(c, argv[optind], &a)) != 0 ||
	    (rc = ctl_ctx_type(c, argv[optind + 1], &nt)) != 0)
		return rc;
	fill_event(&ev[0], c, CM_EV_GRANT, a.key, argv[optind + 1], &o);
	ev[0].state = CM_STATE_GRANTED;
	if (o.pending || (!o.confirmed && nt != NULL &&
	    cm_ntype_policy(nt)->requirement == CM_REQ_DOUBLE_OPT_IN))
		ev[0].state = CM_STATE_PENDING;
	fill_event(&ev[1], c, CM_EV_CONFIRM, a.key, argv[optind + 1], &o);
	if ((rc = ctl_ctx_open(c, CTL_OPEN_RW)) != 0)
		return rc;
	snprintf(what, sizeof(what), "grant %s %s", a.key, argv[optind + 1]);
	if ((rc = apply(c, ev, o.confirmed ? 2 : 1, what)) != 0)
		return rc;
	return report_state(c, a.key, argv[optind + 1]);
}

static const char withdraw_help[] =
"usage: consentctl [-c FILE | -d DBDIR] withdraw ADDR (TYPE | --all)\n"
"           [--source S] [--at TIME]\n"
"\n"
"Record that ADDR withdrew its consent to newsletter TYPE, or with --all\n"
"objected to all direct marketing (every type is then denied: objection).\n"
"A withdrawal of the address without sub-address covers its\n"
"sub-addresses.  A withdrawal older than the stored state is not applied\n"
"(exit 65).\n";

int
ctl_cmd_withdraw(ctl_ctx *c, int argc, char **argv)
{
	static const int allowed[] = { O_SOURCE, O_AT, O_ALL, O_BASIS,
	    O_PURPOSE, O_EVIDENCE, 0 };
	const cm_ntype *nt;
	change_opts o;
	cm_addr a;
	cm_event ev;
	char what[CM_ADDR_KEY_MAX + CM_TYPE_ID_MAX + 16];
	int rc, want;

	if ((rc = parse_change("withdraw", withdraw_help, allowed, argc, argv,
	    &o)) != 0)
		return rc < 0 ? 0 : rc;
	want = o.all ? 1 : 2;
	if (argc - optind != want)
		return ctl_cmd_usage("withdraw", o.all ? "ADDR expected (and "
		    "no TYPE with --all)" : "ADDR and TYPE (or --all) "
		    "expected");
	if ((rc = ctl_ctx_load_policy(c)) != 0 ||
	    (rc = ctl_ctx_addr(c, argv[optind], &a)) != 0)
		return rc;
	if (!o.all && (rc = ctl_ctx_type(c, argv[optind + 1], &nt)) != 0)
		return rc;
	fill_event(&ev, c, o.all ? CM_EV_OBJECT : CM_EV_WITHDRAW, a.key,
	    o.all ? NULL : argv[optind + 1], &o);
	if ((rc = ctl_ctx_open(c, CTL_OPEN_RW)) != 0)
		return rc;
	snprintf(what, sizeof(what), "withdraw %s %s", a.key,
	    o.all ? "--all" : argv[optind + 1]);
	if ((rc = apply(c, &ev, 1, what)) != 0)
		return rc;
	if (o.all)
		printf("%s: objection to all marketing recorded\n", a.key);
	else
		printf("%s: %s withdrawn\n", a.key, argv[optind + 1]);
	return 0;
}

static const char confirm_help[] =
"usage: consentctl [-c FILE | -d DBDIR] confirm ADDR TYPE [--source S]\n"
"           [--evidence E] [--at TIME]\n"
"\n"
"Record the double opt-in confirmation of ADDR's consent to TYPE: a\n"
"pending (or unconfirmed) grant becomes granted and confirmed.  There\n"
"must be such a grant (exit 65 otherwise).\n";

int
ctl_cmd_confirm(ctl_ctx *c, int argc, char **argv)
{
	static const int allowed[] = { O_SOURCE, O_EVIDENCE, O_AT, 0 };
	const cm_ntype *nt;
	change_opts o;
	cm_addr a;
	cm_event ev;
	cm_status st;
	char what[CM_ADDR_KEY_MAX + CM_TYPE_ID_MAX + 16];
	int rc;

	if ((rc = parse_change("confirm", confirm_help, allowed, argc, argv,
	    &o)) != 0)
		return rc < 0 ? 0 : rc;
	if (argc - optind != 2)
		return ctl_cmd_usage("confirm", "ADDR and TYPE expected");
	if ((rc = ctl_ctx_load_policy(c)) != 0 ||
	    (rc = ctl_ctx_addr(c, argv[optind], &a)) != 0 ||
	    (rc = ctl_ctx_type(c, argv[optind + 1], &nt)) != 0)
		return rc;
	fill_event(&ev, c, CM_EV_CONFIRM, a.key, argv[optind + 1], &o);
	if ((rc = ctl_ctx_open(c, CTL_OPEN_RW)) != 0)
		return rc;
	snprintf(what, sizeof(what), "confirm %s %s", a.key,
	    argv[optind + 1]);
	st = cm_index_apply(c->idx, &ev);
	if (st == CM_NOTFOUND || st == CM_EINVAL) {
		ctl_diag_err("%s: no pending or granted consent to %s to "
		    "confirm", a.key, argv[optind + 1]);
		return EX_DATAERR;
	}
	if (st == CM_ESTALE) {
		ctl_diag_err("%s: not applied: the consent to %s is withdrawn, "
		    "or already confirmed at a later time, or newer than the "
		    "confirmation", a.key, argv[optind + 1]);
		return EX_DATAERR;
	}
	if (st != CM_OK)
		return apply(c, &ev, 1, what);
	return report_state(c, a.key, argv[optind + 1]);
}

static const char suppress_help[] =
"usage: consentctl [-c FILE | -d DBDIR] suppress-domain DOMAIN [--source S]\n"
"           [--at TIME]\n"
"\n"
"Suppress every address of DOMAIN for all marketing (check: deny\n"
"suppressed).  List suppressed domains with `consentctl domains`.\n";

static const char unsuppress_help[] =
"usage: consentctl [-c FILE | -d DBDIR] unsuppress-domain DOMAIN\n"
"           [--source S] [--at TIME]\n"
"\n"
"Lift the suppression of DOMAIN.\n";

static int
domain_cmd(ctl_ctx *c, int argc, char **argv, bool suppress)
{
	static const int allowed[] = { O_SOURCE, O_AT, 0 };
	const char *cmd = suppress ? "suppress-domain" : "unsuppress-domain";
	change_opts o;
	cm_event ev;
	cm_status st;
	char dom[CM_ADDR_DOMAIN_MAX + 1], what[CM_ADDR_DOMAIN_MAX + 32];
	size_t dlen;
	int rc;

	if ((rc = parse_change(cmd, suppress ? suppress_help :
	    unsuppress_help, allowed, argc, argv, &o)) != 0)
		return rc < 0 ? 0 : rc;
	if (argc - optind != 1)
		return ctl_cmd_usage(cmd, "DOMAIN expected");
	st = cm_addr_normalize_domain(argv[optind], strlen(argv[optind]), dom,
	    &dlen);
	if (st != CM_OK) {
		ctl_diag_err("domain '%s': %s", argv[optind], cm_strerror(st));
		return EX_DATAERR;
	}
	fill_event(&ev, c, suppress ? CM_EV_SUPPRESS_DOMAIN :
	    CM_EV_UNSUPPRESS_DOMAIN, dom, NULL, &o);
	if ((rc = ctl_ctx_open(c, CTL_OPEN_RW)) != 0)
		return rc;
	snprintf(what, sizeof(what), "%s %s", cmd, dom);
	st = cm_index_apply(c->idx, &ev);
	if (!suppress && st == CM_NOTFOUND) {
		ctl_diag_err("domain %s: not suppressed", dom);
		return EX_DATAERR;
	}
	if (st != CM_OK)
		return apply(c, &ev, 1, what);
	printf("%s: %s\n", dom, suppress ? "suppressed" : "no longer "
	    "suppressed");
	return 0;
}

int
ctl_cmd_suppress_domain(ctl_ctx *c, int argc, char **argv)
{
	return domain_cmd(c, argc, argv, true);
}

int
ctl_cmd_unsuppress_domain(ctl_ctx *c, int argc, char **argv)
{
	return domain_cmd(c, argc, argv, false);
}

static const char erase_help[] =
"usage: consentctl [-c FILE | -d DBDIR] erase ADDR [--at TIME]\n"
"\n"
"Right to erasure (GDPR Art. 17): delete every record and the whole\n"
"history of ADDR and keep only a keyed hash of it (HMAC-SHA256 with the\n"
"index's erasure.key), so that it stays suppressed for every type without\n"
"being stored: check says `deny suppressed`, show says it is erased.\n"
"A later grant (a new opt-in) lifts the suppression.\n"
"\n"
"It also erases every stored sub-address LOCAL+TAG@DOMAIN of ADDR (the\n"
"configured separator; each keeps a tombstone), zeroes the freed pages of\n"
"data.mdb, removes the lines naming them (in clear or hashed) from the\n"
"decision log and deletes the spooled DSNs that name them (log: and dsn:\n"
"of the configuration; not searched with -d alone).\n";

int
ctl_cmd_erase(ctl_ctx *c, int argc, char **argv)
{
	static const int allowed[] = { O_AT, 0 };
	change_opts o;
	cm_addr a;
	cm_event ev;
	ctl_erase *x = NULL;
	char what[CM_ADDR_KEY_MAX + 16];
	int rc;

	if ((rc = parse_change("erase", erase_help, allowed, argc, argv,
	    &o)) != 0)
		return rc < 0 ? 0 : rc;
	if (argc - optind != 1)
		return ctl_cmd_usage("erase", "ADDR expected");
	if ((rc = ctl_ctx_load_policy(c)) != 0 ||
	    (rc = ctl_ctx_addr(c, argv[optind], &a)) != 0)
		return rc;
	fill_event(&ev, c, CM_EV_ERASE, a.key, NULL, &o);
	if ((rc = ctl_ctx_open(c, CTL_OPEN_RW)) != 0 ||
	    (rc = ctl_erase_begin(c, &a, &ev, &x)) != 0)
		return rc;
	snprintf(what, sizeof(what), "erase %s", a.key);
	if ((rc = apply(c, &ev, 1, what)) == 0) {
		printf("%s: erased; a keyed-hash tombstone keeps it "
		    "suppressed\n", a.key);
		rc = ctl_erase_finish(c, x);
	}
	ctl_erase_free(x);
	return rc;
}

static const char bulk_help[] =
"usage: consentctl [-c FILE | -d DBDIR] bulk-update SELECTION CHANGES\n"
"           [--at TIME] [--dry-run]\n"
"\n"
"Give every record matching the selection new values, in one transaction,\n"
"with one history event per changed record.\n"
"\n"
"selection (all given must hold; at least one, or --all-records):\n"
"  --type TYPE             records of this newsletter type\n"
"  --source S              records whose source is S\n"
"  --state STATE           granted, pending or withdrawn\n"
"  --granted-before TIME   granted before TIME (exclusive)\n"
"  --granted-after TIME    granted at or after TIME\n"
"  --all-records           every record\n"
"changes (at least one):\n"
"  --new-source S (or --set-source S), --basis B (--set-basis),\n"
"  --purpose P (--set-purpose), --new-evidence E (--set-evidence)\n"
"  --dry-run               only count the matching records\n";

int
ctl_cmd_bulk_update(ctl_ctx *c, int argc, char **argv)
{
	enum { O_ALL_RECORDS = 400 };
	static const struct option opts[] = {
		{ "type", required_argument, NULL, O_TYPE },
		{ "source", required_argument, NULL, O_SOURCE },
		{ "state", required_argument, NULL, O_STATE },
		{ "granted-before", required_argument, NULL, O_BEFORE },
		{ "granted-after", required_argument, NULL, O_AFTER },
		{ "all-records", no_argument, NULL, O_ALL_RECORDS },
		{ "new-source", required_argument, NULL, O_NEW_SOURCE },
		{ "set-source", required_argument, NULL, O_NEW_SOURCE },
		{ "basis", required_argument, NULL, O_BASIS },
		{ "set-basis", required_argument, NULL, O_BASIS },
		{ "purpose", required_argument, NULL, O_PURPOSE },
		{ "set-purpose", required_argument, NULL, O_PURPOSE },
		{ "new-evidence", required_argument, NULL, O_NEW_EVIDENCE },
		{ "set-evidence", required_argument, NULL, O_NEW_EVIDENCE },
		{ "at", required_argument, NULL, O_AT },
		{ "dry-run", no_argument, NULL, O_DRY_RUN },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cm_selection sel;
	cm_event set;
	bool dry = false, all = false, any_sel = false;
	size_t count = 0;
	cm_status st;
	int ch, rc;
	const cm_ntype *nt;

	memset(&sel, 0, sizeof(sel));
	memset(&set, 0, sizeof(set));
	set.kind = CM_EV_UPDATE;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			return ctl_cmd_help(bulk_help);
		case O_TYPE:
			sel.type = optarg;
			any_sel = true;
			break;
		case O_SOURCE:
			sel.source = optarg;
			any_sel = true;
			break;
		case O_STATE:
			if (cm_state_parse(optarg, &sel.state) != CM_OK)
				return ctl_cmd_usage("bulk-update", "--state "
				    "'%s': granted, pending or withdrawn "
				    "expected", optarg);
			any_sel = true;
			break;
		case O_BEFORE:
			if ((rc = ctl_cmd_time_opt("bulk-update",
			    "--granted-before", optarg,
			    &sel.granted_before_us)) != 0)
				return rc;
			any_sel = true;
			break;
		case O_AFTER:
			if ((rc = ctl_cmd_time_opt("bulk-update",
			    "--granted-after", optarg,
			    &sel.granted_after_us)) != 0)
				return rc;
			any_sel = true;
			break;
		case O_ALL_RECORDS:
			all = true;
			break;
		case O_NEW_SOURCE:
			set.source = optarg;
			break;
		case O_BASIS:
			set.basis = optarg;
			break;
		case O_PURPOSE:
			set.purpose = optarg;
			break;
		case O_NEW_EVIDENCE:
			set.evidence = optarg;
			break;
		case O_AT:
			if ((rc = ctl_cmd_time_opt("bulk-update", "--at",
			    optarg, &set.at_us)) != 0)
				return rc;
			break;
		case O_DRY_RUN:
			dry = true;
			break;
		default:
			return ctl_cmd_usage("bulk-update", "invalid option");
		}
		if ((ch == O_NEW_SOURCE || ch == O_BASIS || ch == O_PURPOSE ||
		    ch == O_NEW_EVIDENCE || ch == O_SOURCE) &&
		    (rc = ctl_cmd_field_opt("bulk-update", argv[optind - 1] ?
		    argv[optind - 1] : "option", optarg)) != 0)
			return rc;
	}
	if (optind != argc)
		return ctl_cmd_usage("bulk-update", "unexpected argument "
		    "'%s'", argv[optind]);
	if (!any_sel && !all)
		return ctl_cmd_usage("bulk-update", "no selection (give "
		    "--type, --source, --state, --granted-before, "
		    "--granted-after, or --all-records)");
	if (any_sel && all)
		return ctl_cmd_usage("bulk-update", "--all-records excludes "
		    "the other selection options");
	if (set.source == NULL && set.basis == NULL && set.purpose == NULL &&
	    set.evidence == NULL && !dry)
		return ctl_cmd_usage("bulk-update", "no change (give "
		    "--new-source, --basis, --purpose or --new-evidence)");
	if (sel.type != NULL && (rc = ctl_ctx_type(c, sel.type, &nt)) != 0)
		return rc;
	if (set.at_us == 0)
		set.at_us = cm_time_now();
	set.actor = c->actor;
	if ((rc = ctl_ctx_open(c, dry ? CTL_OPEN_RO : CTL_OPEN_RW)) != 0)
		return rc;
	st = cm_index_bulk_update(c->idx, &sel, &set, dry, &count);
	if (st != CM_OK)
		return ctl_cmd_index_error(c, st, "bulk-update");
	if (dry)
		printf("%zu record%s match (dry run: nothing changed)\n", count,
		    count == 1 ? "" : "s");
	else
		printf("%zu record%s updated\n", count, count == 1 ? "" : "s");
	return 0;
}
