/*
 * test_pddec.c - consent-policy's decision (policyd/decide.h) on a real
 * LMDB index in a temporary directory: request text in, action value
 * out, under each mode, on_error and multiple_types, and with the index
 * gone.
 *
 * Linked with policyd/decide.o, policyd/request.o and the milter modules
 * it uses (Makefile); reply.c's smfi_setreply() is never called and is
 * stubbed here, so no libmilter is needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libmilter/mfapi.h>

#include "cmtest.h"
#include "config/policy.h"
#include "milter/db.h"
#include "milter/log.h"
#include "policyd/decide.h"
#include "policyd/request.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define T0 INT64_C(1700000000000000)

int
smfi_setreply(SMFICTX *ctx, char *rcode, char *xcode, char *message)
{
	(void)ctx;
	(void)rcode;
	(void)xcode;
	(void)message;
	fail_msg("smfi_setreply called by consent-policy");
	return MI_FAILURE;
}

enum conf { ENFORCE, MONITOR, ONERR_REJECT, ONERR_ACCEPT, REFUSE_MULTI,
	DAEMONS, FAST, MAILTO, NCONF };

static const char *const conf_extra[NCONF][2] = {
	[ENFORCE] = { "", "" },
	[MONITOR] = { "  mode: monitor\n", "" },
	[ONERR_REJECT] = { "  on_error: reject\n", "" },
	[ONERR_ACCEPT] = { "  on_error: accept\n", "" },
	[REFUSE_MULTI] = { "", "multiple_types: refuse\n" },
	[DAEMONS] = { "", "" },
	/* decides_envelope_types, no header type: the fast path */
	[FAST] = { "", "" },
	[MAILTO] = { "", "links:\n  base_url: \"https://a.example\"\n"
	    "  mailto_domain: lists.example.com\n" },
};

struct tcase {
	const char *what;
	enum conf conf;
	const char *req;	/* attribute lines after request= */
	const char *want;	/* the action value */
};

#define RCPT "protocol_state=RCPT\nclient_address=192.0.2.10\n"
#define WEEKLY "sender=weekly@news.example.com\n"
#define DENY(r, t, why) "550 5.7.1 <" r ">: no consent for newsletter \"" \
	t "\" (" why ")"
#define DEFER(r) "451 4.3.0 <" r ">: consent check failed, try again later"

static const struct tcase cases[] = {
	{ "granted", ENFORCE, RCPT WEEKLY "recipient=alice@example.com\n",
	  "DUNNO" },
	{ "granted, other spelling", ENFORCE, RCPT
	  "sender=Weekly+x@NEWS.example.com.\nrecipient=Alice@Example.COM\n",
	  "DUNNO" },
	{ "withdrawn", ENFORCE, RCPT WEEKLY "recipient=bob@example.com\n",
	  DENY("bob@example.com", "weekly-news", "withdrawn") },
	{ "no record", ENFORCE, RCPT WEEKLY "recipient=dave@example.net\n",
	  DENY("dave@example.net", "weekly-news", "no-consent") },
	{ "'%' is sent single", ENFORCE, RCPT WEEKLY
	  "recipient=a%b@example.net\n",
	  DENY("a%b@example.net", "weekly-news", "no-consent") },
	{ "typed by SASL login", ENFORCE, RCPT
	  "sender=x@y.example\nsasl_username=promo-bot\n"
	  "recipient=bob@example.com\n",
	  DENY("bob@example.com", "promo", "no-consent") },
	{ "null sender typed by SASL login", ENFORCE, RCPT
	  "sender=\nsasl_username=promo-bot\nrecipient=bob@example.com\n",
	  DENY("bob@example.com", "promo", "no-consent") },
	{ "SASL login, granted", ENFORCE, RCPT
	  "sender=x@y.example\nsasl_username=promo-bot\n"
	  "recipient=alice@example.com\n", "DUNNO" },
	{ "two types: consent for both needed", ENFORCE, RCPT WEEKLY
	  "sasl_username=promo-bot\nrecipient=carol@example.com\n",
	  DENY("carol@example.com", "weekly-news,promo", "no-consent") },
	{ "two types, refused as ambiguous", REFUSE_MULTI, RCPT WEEKLY
	  "sasl_username=promo-bot\nrecipient=alice@example.com\n",
	  "550 5.7.1 Message matches several newsletter types "
	  "\"weekly-news,promo\"" },
	{ "no newsletter", ENFORCE, RCPT
	  "sender=someone@example.org\nrecipient=bob@example.com\n", "DUNNO" },
	{ "null sender", ENFORCE, RCPT
	  "sender=\nrecipient=bob@example.com\n", "DUNNO" },
	{ "MAIL: RCPT follows", ENFORCE, "protocol_state=MAIL\n"
	  "client_address=192.0.2.10\n" WEEKLY, "DUNNO" },
	/* the service not at RCPT: decided at DATA and END-OF-MESSAGE */
	{ "DATA, not seen at RCPT, one recipient", ENFORCE,
	  "protocol_state=DATA\nclient_address=192.0.2.10\n" WEEKLY
	  "recipient=bob@example.com\n",
	  DENY("bob@example.com", "weekly-news", "withdrawn") },
	{ "END-OF-MESSAGE, not seen at RCPT, granted", ENFORCE,
	  "protocol_state=END-OF-MESSAGE\nclient_address=192.0.2.10\n"
	  WEEKLY "recipient=alice@example.com\n", "DUNNO" },
	{ "END-OF-MESSAGE, several recipients (none sent)", ENFORCE,
	  "protocol_state=END-OF-MESSAGE\nclient_address=192.0.2.10\n"
	  WEEKLY "recipient=\n",
	  "451 4.3.0 Consent check failed, try again later" },
	{ "DATA, no newsletter", ENFORCE,
	  "protocol_state=DATA\nclient_address=192.0.2.10\n"
	  "sender=someone@example.org\nrecipient=\n", "DUNNO" },
	{ "out of scope", ENFORCE, "protocol_state=RCPT\n"
	  "client_address=198.51.100.7\n" WEEKLY "recipient=bob@example.com\n",
	  "DUNNO" },
	{ "out of scope, but authenticated", ENFORCE, "protocol_state=RCPT\n"
	  "client_address=198.51.100.7\nsasl_username=someone\n" WEEKLY
	  "recipient=bob@example.com\n",
	  DENY("bob@example.com", "weekly-news", "withdrawn") },
	{ "daemon names: no policy_context, checked", DAEMONS,
	  "protocol_state=RCPT\nclient_address=198.51.100.7\n" WEEKLY
	  "recipient=bob@example.com\n",
	  DENY("bob@example.com", "weekly-news", "withdrawn") },
	{ "daemon names: another service", DAEMONS,
	  "protocol_state=RCPT\nclient_address=198.51.100.7\n"
	  "policy_context=inbound\n" WEEKLY "recipient=bob@example.com\n",
	  "DUNNO" },
	{ "daemon names: the campaign service", DAEMONS,
	  "protocol_state=RCPT\nclient_address=198.51.100.7\n"
	  "policy_context=campaigns\n" WEEKLY "recipient=bob@example.com\n",
	  DENY("bob@example.com", "weekly-news", "withdrawn") },
	{ "monitor", MONITOR, RCPT WEEKLY "recipient=bob@example.com\n",
	  "DUNNO" },
	{ "monitor, ambiguous not refused", MONITOR, RCPT WEEKLY
	  "sasl_username=promo-bot\nrecipient=alice@example.com\n", "DUNNO" },
	{ "sender unreadable", ENFORCE, RCPT
	  "sender=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxx@news.example.com\nrecipient=alice@example.com\n",
	  DEFER("alice@example.com") },
	{ "sender unreadable, on_error reject", ONERR_REJECT, RCPT
	  "sender=a@b@c@\nrecipient=alice@example.com\n",
	  "550 5.7.1 <alice@example.com>: consent check failed" },
	{ "sender unreadable, on_error accept", ONERR_ACCEPT, RCPT
	  "sender=a@b@c@\nrecipient=alice@example.com\n", "DUNNO" },
	{ "no recipient", ENFORCE, RCPT WEEKLY,
	  "451 4.3.0 Consent check failed, try again later" },
	/* Postfix sends the internal form: the local part unquoted */
	{ "internal form: quoted local part, granted", ENFORCE, RCPT WEEKLY
	  "recipient=john doe@example.com\n", "DUNNO" },
	{ "internal form: quoted local part, withdrawn", ENFORCE, RCPT WEEKLY
	  "recipient=bob smith@example.com\n",
	  DENY("\"bob smith\"@example.com", "weekly-news", "withdrawn") },
	{ "internal form: quotes are part of the local part", ENFORCE, RCPT
	  WEEKLY "recipient=\"alice\"@example.com\n",
	  DENY("\"\\\"alice\\\"\"@example.com", "weekly-news",
	  "no-consent") },
	{ "internal form: sender with a quoted local part", ENFORCE, RCPT
	  "sender=john doe@example.org\nrecipient=bob@example.com\n",
	  "DUNNO" },
	/* a mailto unsubscribe to links.mailto_domain: the milter's */
	{ "mailto unsubscribe: not decided here", MAILTO, RCPT WEEKLY
	  "recipient=unsubscribe+AbCdEf0123@lists.example.com\n", "DUNNO" },
	{ "mailto domain, not the unsubscribe address", MAILTO, RCPT WEEKLY
	  "recipient=dave@lists.example.com\n",
	  DENY("dave@lists.example.com", "weekly-news", "no-consent") },
	/* core's rule, as in the milter: denied, not an error */
	{ "recipient that cannot be normalized: denied", ENFORCE, RCPT WEEKLY
	  "recipient=no-at-sign\n",
	  DENY("no-at-sign", "weekly-news", "no-consent") },
};

static char *dir, *dbdir;
static cm_policy *pol[NCONF];

static void
write_conf(enum conf c, const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "milter:\n  socket: \"inet:1@127.0.0.1\"\n%s"
	    "policy:\n  socket: \"inet:2@127.0.0.1\"\n%s"
	    "database:\n  path: \"%s\"\n"
	    "scope:\n  authenticated: true\n  networks: [192.0.2.0/24]\n%s"
	    "%s"
	    "newsletters:\n"
	    "  - id: weekly-news\n    name: Weekly news\n    consent: opt-in\n"
	    "    match:\n      - envelope_sender: weekly@news.example.com\n"
	    "  - id: promo\n    name: Promotions\n    consent: opt-in\n"
	    "    match:\n      - sasl_login: promo-bot\n"
	    "%s",
	    conf_extra[c][0],
	    c == FAST ? "  decides_envelope_types: true\n" : "", dbdir,
	    c == DAEMONS ? "  daemon_names: [campaigns]\n" : "",
	    conf_extra[c][1],
	    c == FAST ? "" : "  - id: offers\n    name: Offers\n"
	    "    consent: opt-in\n"
	    "    match:\n      - header: { name: X-Type, value: offers }\n");
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	cm_index *idx;
	char path[4096];

	(void)state;
	cm_log_open(true);
	dir = cmt_mkdtemp();
	snprintf(path, sizeof(path), "%s/db", dir);
	dbdir = strdup(path);
	assert_int_equal(mkdir(dbdir, 0700), 0);
	idx = cmt_open(dbdir, 0);
	assert_int_equal(cmt_grant(idx, "alice@example.com", "weekly-news",
	    CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_grant(idx, "alice@example.com", "promo",
	    CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_grant(idx, "bob@example.com", "weekly-news",
	    CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_WITHDRAW, "bob@example.com",
	    "weekly-news", T0 + 1), CM_OK);
	assert_int_equal(cmt_grant(idx, "carol@example.com", "weekly-news",
	    CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_grant(idx, "john doe@example.com",
	    "weekly-news", CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_grant(idx, "bob smith@example.com",
	    "weekly-news", CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_WITHDRAW, "bob smith@example.com",
	    "weekly-news", T0 + 1), CM_OK);
	/* index keys: the local part unquoted */
	cm_index_close(idx);
	for (int c = 0; c < NCONF; c++) {
		snprintf(path, sizeof(path), "%s/c%d.yaml", dir, c);
		write_conf((enum conf)c, path);
		assert_int_equal(cm_policy_load(path, &pol[c], NULL), CM_OK);
	}
	assert_int_equal(cm_db_open(dbdir, 0, 0), CM_OK);
	return 0;
}

static int
teardown(void **state)
{
	char path[4096];

	(void)state;
	cm_db_close();
	for (int c = 0; c < NCONF; c++) {
		cm_policy_free(pol[c]);
		snprintf(path, sizeof(path), "%s/c%d.yaml", dir, c);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/data.mdb", dbdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dbdir);
	unlink(path);
	cmt_rmdir(dbdir);
	cmt_rmdir(dir);
	return 0;
}

/* The action for request text REQ (without request= and the end) on a
 * connection that remembers SEEN (may be NULL). */
static void
decide_seen(const cm_policy *p, const char *req, cm_pddec_seen *seen,
    char *out, size_t size)
{
	char text[4096];
	cm_pdreq *r = cm_pdreq_new();
	size_t used;

	assert_non_null(r);
	snprintf(text, sizeof(text), "request=smtpd_access_policy\n%s\n", req);
	assert_int_equal(cm_pdreq_feed(r, text, strlen(text), &used),
	    CM_PDREQ_DONE);
	cm_pddec_decide(p, NULL, r, seen, out, size);
	cm_pdreq_free(r);
}

static void
decide(const cm_policy *p, const char *req, char *out, size_t size)
{
	decide_seen(p, req, NULL, out, size);
}

static void
test_table(void **state)
{
	char out[CM_PDDEC_ACTION_MAX];

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		decide(pol[cases[i].conf], cases[i].req, out, sizeof(out));
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("%s: got '%s', want '%s'", cases[i].what, out,
			    cases[i].want);
	}
}

/* The envelope a connection keeps (cm_pddec_seen) never changes an
 * answer: every row again on one connection, each twice (the second
 * from what the first kept), its policy named by its own generation, in
 * the table's order and then backwards (other inputs, other policies in
 * between); and a new generation classifies anew. */
static void
test_table_kept(void **state)
{
	char out[CM_PDDEC_ACTION_MAX];
	cm_pddec_seen seen;

	(void)state;
	memset(&seen, 0, sizeof(seen));
	for (size_t k = 0; k < 2 * NELEM(cases); k++) {
		size_t i = k < NELEM(cases) ? k : 2 * NELEM(cases) - 1 - k;

		for (int twice = 0; twice < 2; twice++) {
			seen.policy_gen = (uint64_t)cases[i].conf + 1;
			seen.instance[0] = '\0';
			decide_seen(pol[cases[i].conf], cases[i].req, &seen,
			    out, sizeof(out));
			if (strcmp(out, cases[i].want) != 0)
				fail_msg("%s (kept, pass %d): got '%s', want "
				    "'%s'", cases[i].what, twice, out,
				    cases[i].want);
		}
	}
	/* inputs that differ in the client's address or service only */
	seen.policy_gen = 1;
	decide_seen(pol[ENFORCE], RCPT WEEKLY "recipient=bob@example.com\n",
	    &seen, out, sizeof(out));
	assert_string_equal(out, DENY("bob@example.com", "weekly-news",
	    "withdrawn"));
	decide_seen(pol[ENFORCE], "protocol_state=RCPT\n"
	    "client_address=198.51.100.7\n" WEEKLY
	    "recipient=bob@example.com\n", &seen, out, sizeof(out));
	assert_string_equal(out, "DUNNO");
	seen.policy_gen = 3;
	decide_seen(pol[DAEMONS], "protocol_state=RCPT\n"
	    "client_address=198.51.100.7\npolicy_context=campaigns\n" WEEKLY
	    "recipient=bob@example.com\n", &seen, out, sizeof(out));
	assert_string_not_equal(out, "DUNNO");
	decide_seen(pol[DAEMONS], "protocol_state=RCPT\n"
	    "client_address=198.51.100.7\npolicy_context=inbound\n" WEEKLY
	    "recipient=bob@example.com\n", &seen, out, sizeof(out));
	assert_string_equal(out, "DUNNO");
	/* the same inputs under another policy: its answer, not the kept */
	seen.policy_gen = 1;
	decide_seen(pol[ENFORCE], RCPT WEEKLY "recipient=bob@example.com\n",
	    &seen, out, sizeof(out));
	assert_string_not_equal(out, "DUNNO");
	seen.policy_gen = 2;
	decide_seen(pol[MONITOR], RCPT WEEKLY "recipient=bob@example.com\n",
	    &seen, out, sizeof(out));
	assert_string_equal(out, "DUNNO");
	assert_int_equal(seen.env.gen, 2);
}

/* Not an smtpd_access_policy request; a malformed one. */
static void
test_malformed(void **state)
{
	char out[CM_PDDEC_ACTION_MAX];
	const char *junk = "request=junk\nprotocol_state=RCPT\n\n";
	cm_pdreq *r = cm_pdreq_new();
	size_t used;

	(void)state;
	assert_non_null(r);
	assert_int_equal(cm_pdreq_feed(r, junk, strlen(junk), &used),
	    CM_PDREQ_DONE);
	cm_pddec_decide(pol[ENFORCE], NULL, r, NULL, out, sizeof(out));
	assert_string_equal(out, "451 4.3.0 Consent check failed, try again "
	    "later");
	cm_pddec_malformed(pol[ONERR_REJECT], "test", out, sizeof(out));
	assert_string_equal(out, "550 5.7.1 Consent check failed");
	cm_pddec_malformed(pol[MONITOR], "test", out, sizeof(out));
	assert_string_equal(out, "DUNNO");
	cm_pdreq_free(r);
}

/* DATA and END-OF-MESSAGE after RCPT requests of the same message on
 * the same connection: decided already, DUNNO; another message is not. */
static void
test_seen_at_rcpt(void **state)
{
	const char *eom = "protocol_state=END-OF-MESSAGE\n"
	    "client_address=192.0.2.10\n" WEEKLY "recipient=\n";
	char out[CM_PDDEC_ACTION_MAX], text[1024];
	cm_pddec_seen seen;

	(void)state;
	memset(&seen, 0, sizeof(seen));
	decide_seen(pol[ENFORCE], RCPT WEEKLY "instance=a1.b2.c3\n"
	    "recipient=alice@example.com\n", &seen, out, sizeof(out));
	assert_string_equal(out, "DUNNO");
	snprintf(text, sizeof(text), "%sinstance=a1.b2.c3\n", eom);
	decide_seen(pol[ENFORCE], text, &seen, out, sizeof(out));
	assert_string_equal(out, "DUNNO");
	snprintf(text, sizeof(text), "protocol_state=DATA\n"
	    "client_address=192.0.2.10\n" WEEKLY "recipient=bob@example.com\n"
	    "instance=a1.b2.c3\n");
	decide_seen(pol[ENFORCE], text, &seen, out, sizeof(out));
	assert_string_equal(out, "DUNNO");
	snprintf(text, sizeof(text), "%sinstance=a1.b2.c4\n", eom);
	decide_seen(pol[ENFORCE], text, &seen, out, sizeof(out));
	assert_string_equal(out, "451 4.3.0 Consent check failed, try again "
	    "later");
	/* no instance: never taken as seen */
	decide_seen(pol[ENFORCE], eom, &seen, out, sizeof(out));
	assert_string_equal(out, "451 4.3.0 Consent check failed, try again "
	    "later");
}

/* Records: refusals and errors always (the milter never sees those
 * recipients); allowed and monitored recipients only on the fast path,
 * where the milter accepts the message at MAIL FROM -- else the milter
 * records them, and two records would count one decision twice. */
static void
test_records(void **state)
{
	static const struct {
		enum conf conf;
		const char *req;
		uint64_t more;	/* records written */
	} rows[] = {
		{ ENFORCE, RCPT WEEKLY "recipient=alice@example.com\n", 0 },
		{ ENFORCE, RCPT WEEKLY "recipient=bob@example.com\n", 1 },
		{ ENFORCE, RCPT "sender=a@b@c@\nrecipient=alice@example.com\n",
		  1 },
		{ MONITOR, RCPT WEEKLY "recipient=bob@example.com\n", 0 },
		{ MONITOR, RCPT WEEKLY "recipient=alice@example.com\n", 0 },
		{ FAST, RCPT WEEKLY "recipient=alice@example.com\n", 1 },
		{ FAST, RCPT WEEKLY "recipient=bob@example.com\n", 1 },
		{ ENFORCE, RCPT "sender=someone@example.org\n"
		  "recipient=bob@example.com\n", 0 },
	};
	char out[CM_PDDEC_ACTION_MAX], ldir[4200];
	cm_declog_opts o = { 0 };
	cm_declog_stats st;
	cm_declog *log;
	uint64_t before;

	(void)state;
	snprintf(ldir, sizeof(ldir), "%s/declog", dir);
	o.dir = ldir;
	assert_int_equal(cm_declog_open(&o, &log), CM_OK);
	for (size_t i = 0; i < NELEM(rows); i++) {
		char text[4096];
		cm_pdreq *r = cm_pdreq_new();
		size_t used;

		assert_non_null(r);
		snprintf(text, sizeof(text),
		    "request=smtpd_access_policy\n%s\n", rows[i].req);
		assert_int_equal(cm_pdreq_feed(r, text, strlen(text), &used),
		    CM_PDREQ_DONE);
		cm_declog_stats_get(log, &st);
		before = st.added;
		cm_pddec_decide(pol[rows[i].conf], log, r, NULL, out,
		    sizeof(out));
		cm_declog_stats_get(log, &st);
		if (st.added - before != rows[i].more)
			fail_msg("row %zu: %llu records, want %llu", i,
			    (unsigned long long)(st.added - before),
			    (unsigned long long)rows[i].more);
		cm_pdreq_free(r);
	}
	cm_declog_close(log);
	cmt_rmdir(strdup(ldir));
}

/* The index removed: every newsletter recipient gets on_error, mail of
 * no type still DUNNO. */
static void
test_no_index(void **state)
{
	char out[CM_PDDEC_ACTION_MAX];

	(void)state;
	cm_db_close();
	decide(pol[ENFORCE], RCPT WEEKLY "recipient=alice@example.com\n", out,
	    sizeof(out));
	assert_string_equal(out, DEFER("alice@example.com"));
	decide(pol[ONERR_REJECT], RCPT WEEKLY "recipient=alice@example.com\n",
	    out, sizeof(out));
	assert_string_equal(out, "550 5.7.1 <alice@example.com>: consent "
	    "check failed");
	decide(pol[ONERR_ACCEPT], RCPT WEEKLY "recipient=alice@example.com\n",
	    out, sizeof(out));
	assert_string_equal(out, "DUNNO");
	decide(pol[MONITOR], RCPT WEEKLY "recipient=alice@example.com\n", out,
	    sizeof(out));
	assert_string_equal(out, "DUNNO");
	decide(pol[ENFORCE], RCPT "sender=someone@example.org\n"
	    "recipient=alice@example.com\n", out, sizeof(out));
	assert_string_equal(out, "DUNNO");
	assert_int_equal(cm_db_open(dbdir, 0, 0), CM_OK);
	decide(pol[ENFORCE], RCPT WEEKLY "recipient=alice@example.com\n", out,
	    sizeof(out));
	assert_string_equal(out, "DUNNO");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_kept),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_seen_at_rcpt),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_no_index),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
