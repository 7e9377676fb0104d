/*
 * test_config.c - the YAML policy loader and the classification functions
 * of config/policy.h (and the glob and CIDR helpers under them).
 *
 * Fixtures live in tests/unit/config/ and are found through $SRCDIR
 * (the source tree; "." when unset).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config/cidr.h"
#include "config/glob.h"
#include "config/policy.h"

#define MAX_MSGS 12

static char *
fixture(const char *name)
{
	const char *src = getenv("SRCDIR");
	char *path;

	if (src == NULL || *src == '\0')
		src = ".";
	assert_true(asprintf(&path, "%s/%s", src, name) > 0);
	return path;
}

/* Load NAME from the source tree; fail the test if it does not load. */
static cm_policy *
load_ok(const char *name)
{
	char *path = fixture(name);
	cm_errlist *el = cm_errlist_new();
	cm_policy *p = NULL;
	cm_status st;

	assert_non_null(el);
	st = cm_policy_load(path, &p, el);
	for (size_t i = 0; i < cm_errlist_count(el); i++)
		print_message("%s\n", cm_errlist_get(el, i));
	assert_int_equal(st, CM_OK);
	assert_int_equal(cm_errlist_count(el), 0);
	assert_non_null(p);
	cm_errlist_free(el);
	free(path);
	return p;
}

/* ---- the example file ------------------------------------------------ */

static void
test_example(void **state)
{
	cm_policy *p = load_ok("examples/consent-milter.yaml");
	const cm_addr_opts *ao;
	const cm_ntype *t;
	const cm_type_policy *tp;

	(void)state;
	assert_string_equal(cm_policy_socket(p), "inet:8891@127.0.0.1");
	assert_int_equal(cm_policy_socket_mode(p), 0660);
	assert_null(cm_policy_socket_group(p));
	assert_null(cm_policy_user(p));
	assert_null(cm_policy_group(p));
	assert_int_equal(cm_policy_mode(p), CM_MODE_ENFORCE);
	assert_int_equal(cm_policy_on_error(p), CM_ONERR_TEMPFAIL);
	assert_string_equal(cm_policy_db_path(p), "/var/lib/consent-milter");
	assert_int_equal(cm_policy_db_map_size(p), 64 * 1024 * 1024);
	assert_int_equal(cm_policy_db_max_readers(p), 510);
	assert_int_equal(cm_policy_db_clock_skew(p), 300 * INT64_C(1000000));
	ao = cm_policy_addr_opts(p);
	assert_true(ao->fold_local_case);
	assert_int_equal(ao->subaddr_sep, '+');
	assert_int_equal(cm_policy_unclassified_bulk(p), CM_BULK_ACCEPT);
	assert_true(cm_policy_needs_headers(p));

	assert_int_equal(cm_policy_ntypes(p), 3);
	t = cm_policy_type(p, 0);
	assert_string_equal(cm_ntype_id(t), "weekly-news");
	assert_string_equal(cm_ntype_name(t), "Weekly news");
	tp = cm_ntype_policy(t);
	assert_string_equal(tp->id, "weekly-news");
	assert_ptr_equal(tp->id, cm_ntype_id(t));
	assert_int_equal(tp->requirement, CM_REQ_OPT_IN);
	assert_true(tp->validity_us == INT64_C(730) * 86400 * 1000000);

	t = cm_policy_type(p, 1);
	assert_string_equal(cm_ntype_id(t), "offers");
	assert_string_equal(cm_ntype_name(t), "Special offers");
	assert_int_equal(cm_ntype_policy(t)->requirement, CM_REQ_DOUBLE_OPT_IN);
	assert_true(cm_ntype_policy(t)->validity_us == 0);

	t = cm_policy_type(p, 2);
	assert_string_equal(cm_ntype_id(t), "customer-updates");
	assert_string_equal(cm_ntype_name(t), "Product updates for customers");
	assert_int_equal(cm_ntype_policy(t)->requirement, CM_REQ_NO_OBJECTION);
	assert_null(cm_policy_type(p, 3));

	assert_ptr_equal(cm_policy_find_type(p, "offers"), cm_policy_type(p, 1));
	assert_null(cm_policy_find_type(p, "Offers"));
	assert_null(cm_policy_find_type(p, "nope"));
	assert_null(cm_policy_find_type(p, NULL));

	/* the example's rules */
	assert_ptr_equal(cm_policy_match_envelope(p,
	    "Weekly@News.Example.COM", NULL), cm_policy_type(p, 0));
	assert_ptr_equal(cm_policy_match_envelope(p, "x@nowhere.example",
	    "campaign-weekly"), cm_policy_type(p, 0));
	assert_ptr_equal(cm_policy_match_envelope(p, "promo@offers.example.com",
	    NULL), cm_policy_type(p, 1));
	assert_null(cm_policy_match_envelope(p, "someone@example.com", NULL));
	{
		const char *n[] = { "Subject", "x-newsletter-type" };
		const char *v[] = { "hello", " customer-beta " };

		assert_ptr_equal(cm_policy_match_headers(p, 2, n, v),
		    cm_policy_type(p, 2));
		v[1] = "offers";
		assert_ptr_equal(cm_policy_match_headers(p, 2, n, v),
		    cm_policy_type(p, 1));
	}
	{
		const char *n[] = { "List-Id" };
		const char *v[] = { "Offers <offers.example.com>" };

		assert_ptr_equal(cm_policy_match_headers(p, 1, n, v),
		    cm_policy_type(p, 1));
	}
	/* scope: authenticated, loopback v4 and v6, the daemon name */
	assert_true(cm_policy_in_scope(p, NULL, NULL, true));
	assert_false(cm_policy_in_scope(p, NULL, NULL, false));
	assert_true(cm_policy_in_scope(p, NULL, "submission-campaign", false));
	assert_false(cm_policy_in_scope(p, NULL, "smtpd", false));
	cm_policy_free(p);
}

/* upstream: the shared store's settings and the poll's default. */
static void
test_upstream(void **state)
{
	cm_policy *p = load_ok("tests/unit/config/upstream.yaml");

	(void)state;
	assert_string_equal(cm_policy_upstream_conninfo(p),
	    "host=127.0.0.1 port=5432 dbname=consent");
	assert_string_equal(cm_policy_upstream_password_file(p),
	    "/etc/consent-milter/pg.password");
	assert_string_equal(cm_policy_upstream_node(p), "mx1.example");
	assert_int_equal(cm_policy_upstream_poll(p), 5 * 1000000);
	cm_policy_free(p);
}

/* Only the required keys: the defaults documented in the example. */
static void
test_defaults(void **state)
{
	cm_policy *p = load_ok("tests/unit/config/minimal.yaml");

	(void)state;
	assert_string_equal(cm_policy_socket(p), "inet6:8891@::1");
	assert_int_equal(cm_policy_socket_mode(p), 0660);
	assert_null(cm_policy_socket_group(p));
	assert_null(cm_policy_user(p));
	assert_null(cm_policy_group(p));
	assert_int_equal(cm_policy_mode(p), CM_MODE_ENFORCE);
	assert_int_equal(cm_policy_on_error(p), CM_ONERR_TEMPFAIL);
	assert_int_equal(cm_policy_db_map_size(p), 64 * 1024 * 1024);
	assert_int_equal(cm_policy_db_max_readers(p), 510);
	assert_true(cm_policy_addr_opts(p)->fold_local_case);
	assert_int_equal(cm_policy_addr_opts(p)->subaddr_sep, '+');
	assert_int_equal(cm_policy_unclassified_bulk(p), CM_BULK_ACCEPT);
	assert_int_equal(cm_policy_ntypes(p), 0);
	assert_false(cm_policy_needs_headers(p));
	assert_false(cm_policy_header_relevant(p, "List-Id"));
	assert_false(cm_policy_header_relevant(p, "List-Unsubscribe"));
	assert_true(cm_policy_in_scope(p, NULL, NULL, true));
	assert_null(cm_policy_match_envelope(p, "a@b.example", "login"));
	/* no upstream: a node alone */
	assert_null(cm_policy_upstream_conninfo(p));
	assert_null(cm_policy_upstream_node(p));
	/* no log: and no dsn: section: neither is active */
	assert_null(cm_policy_log_path(p));
	assert_null(cm_policy_log_key_file(p));
	assert_false(cm_policy_dsn_enabled(p));
	assert_string_equal(cm_policy_log_campaign_header(p), "X-Campaign-ID");
	/* no log: the campaign header is not kept */
	assert_false(cm_policy_header_relevant(p, "X-Campaign-ID"));
	assert_string_equal(cm_tmpl_text(cm_policy_tmpl_reply(p)),
	    CM_TMPL_DEFAULT_REPLY);
	assert_string_equal(cm_tmpl_text(cm_policy_tmpl_trace(p)),
	    CM_TMPL_DEFAULT_TRACE);
	assert_string_equal(cm_tmpl_text(cm_policy_tmpl_dsn_text(p)),
	    CM_TMPL_DEFAULT_DSN_TEXT);
	assert_string_equal(cm_tmpl_text(cm_policy_tmpl_dsn_rcpt(p)),
	    CM_TMPL_DEFAULT_DSN_RCPT);
	cm_policy_free(p);
}

/* The log:, dsn: and templates: sections. */
static void
test_feedback_keys(void **state)
{
	cm_policy *p = load_ok("tests/unit/config/feedback.yaml");
	const char *vals[CM_TMPL_NVARS] = { 0 };
	char buf[200];

	(void)state;
	assert_string_equal(cm_policy_log_path(p), "/var/log/cm-decisions");
	assert_int_equal(cm_policy_log_retention_days(p), 0);
	assert_true(cm_policy_log_hash_recipients(p));
	/* default key file in the database directory */
	assert_string_equal(cm_policy_log_key_file(p), "/var/lib/cm/declog.key");
	assert_string_equal(cm_policy_log_campaign_header(p), "X-Mailing");
	assert_true(cm_policy_header_relevant(p, "x-mailing"));
	assert_true(cm_policy_dsn_enabled(p));	/* section present */
	assert_string_equal(cm_policy_dsn_target(p), "unix:/run/postfix/submit");
	assert_string_equal(cm_policy_dsn_spool(p), "/var/spool/cm");
	assert_int_equal(cm_policy_dsn_attempts(p), 3);
	assert_true(cm_policy_dsn_retry_delay(p) == INT64_C(10000000));
	assert_true(cm_policy_dsn_max_delay(p) == INT64_C(300000000));
	assert_true(cm_policy_dsn_timeout(p) == INT64_C(5000000));
	assert_string_equal(cm_policy_dsn_reporting_mta(p), "mx.example.com");
	vals[CM_TMPL_RCPT] = "a@b";
	vals[CM_TMPL_NAME] = "News";
	cm_tmpl_expand(cm_policy_tmpl_reply(p), vals, CM_TMPL_SETREPLY, buf,
	    sizeof(buf), NULL);
	assert_string_equal(buf, "a@b refused: News (100%%)");
	assert_string_equal(cm_tmpl_text(cm_policy_tmpl_trace(p)),
	    "t=%{type}; r=%{removed}");
	/* not given: the default */
	assert_string_equal(cm_tmpl_text(cm_policy_tmpl_dsn_rcpt(p)),
	    CM_TMPL_DEFAULT_DSN_RCPT);
	cm_policy_free(p);

	/* the example shows the defaults */
	p = load_ok("examples/consent-milter.yaml");
	assert_string_equal(cm_policy_log_path(p),
	    "/var/lib/consent-milter/decisions");
	assert_int_equal(cm_policy_log_retention_days(p), 90);
	assert_true(cm_policy_log_hash_recipients(p));
	assert_string_equal(cm_policy_log_key_file(p),
	    "/var/lib/consent-milter/declog.key");
	assert_true(cm_policy_dsn_enabled(p));
	assert_string_equal(cm_policy_dsn_target(p), "inet:25@127.0.0.1");
	assert_string_equal(cm_policy_dsn_spool(p),
	    "/var/spool/consent-milter/dsn");
	assert_int_equal(cm_policy_dsn_attempts(p), 8);
	assert_true(cm_policy_dsn_retry_delay(p) == INT64_C(60000000));
	assert_true(cm_policy_dsn_max_delay(p) == INT64_C(3600000000));
	assert_null(cm_policy_dsn_reporting_mta(p));
	assert_string_equal(cm_tmpl_text(cm_policy_tmpl_reply(p)),
	    CM_TMPL_DEFAULT_REPLY);
	assert_string_equal(cm_tmpl_text(cm_policy_tmpl_trace(p)),
	    CM_TMPL_DEFAULT_TRACE);
	assert_string_equal(cm_tmpl_text(cm_policy_tmpl_dsn_text(p)),
	    CM_TMPL_DEFAULT_DSN_TEXT);
	assert_string_equal(cm_tmpl_text(cm_policy_tmpl_dsn_rcpt(p)),
	    CM_TMPL_DEFAULT_DSN_RCPT);
	cm_policy_free(p);
}

/* ---- invalid files ---------------------------------------------------- */

/*
 * Each file with every message it must produce, in order, without the
 * leading "PATH:" (which the test adds).
 */
static const struct bad_case {
	const char *file;
	const char *msgs[MAX_MSGS];
} bad_cases[] = {
	{ "bad-anchor.yaml", {
	    "1:9: YAML anchors are not supported: 'm'",
	    "5:1: key 'other': unknown key, expected one of milter, "
	      "database, scope, addresses, unclassified_bulk, "
	      "multiple_types, log, dsn, templates, links, upstream, "
	      "newsletters, policy",
	    "5:8: YAML aliases are not supported: 'm'",
	    NULL } },
	{ "bad-upstream.yaml", {
	    "6:13: key 'conninfo': expected a non-empty string, got ''",
	    "8:18: key 'poll_interval': expected a duration from 1s to 1h "
	      "(a number followed by s, m, h, d or w), got '0s'",
	    NULL } },
	{ "bad-upstream-node.yaml", {
	    "7:9: key 'node': expected a node name ([A-Za-z0-9._-], 1 to "
	      "64 characters), got 'mx 1'",
	    NULL } },
	{ "bad-bool.yaml", {
	    "6:18: key 'authenticated': expected true or false, got "
	      "'maybe'",
	    "8:20: key 'fold_local_case': expected true or false, got "
	      "'1'",
	    "9:25: key 'subaddress_separator': expected one "
	      "punctuation character such as + or -, or \"\" for none, got "
	      "'++'",
	    NULL } },
	{ "bad-cidr.yaml", {
	    "7:7: key 'networks': expected an IPv4 or IPv6 network "
	      "such as 192.0.2.0/24 or 2001:db8::/32, got '10.0.0.0/33' "
	      "(prefix length above 32)",
	    "8:7: key 'networks': expected an IPv4 or IPv6 network "
	      "such as 192.0.2.0/24 or 2001:db8::/32, got "
	      "'2001:db8::/129' (prefix length above 128)",
	    "9:7: key 'networks': expected an IPv4 or IPv6 network "
	      "such as 192.0.2.0/24 or 2001:db8::/32, got '10.0.0.1/8' "
	      "(host bits set beyond the prefix length)",
	    "10:7: key 'networks': expected an IPv4 or IPv6 network "
	      "such as 192.0.2.0/24 or 2001:db8::/32, got '300.1.2.3' "
	      "(not an IPv4 or IPv6 address)",
	    "11:7: key 'networks': expected an IPv4 or IPv6 network "
	      "such as 192.0.2.0/24 or 2001:db8::/32, got '192.0.2.0/' "
	      "(bad prefix length)",
	    NULL } },
	{ "bad-comments-only.yaml", {
	    "1:1: empty file, expected a mapping with the keys milter, "
	      "database, scope, addresses, unclassified_bulk, "
	      "multiple_types, log, dsn, templates, links, upstream, "
	      "newsletters, policy",
	    NULL } },
	{ "bad-complex-key.yaml", {
	    "3:5: expected a key name, got a sequence",
	    NULL } },
	{ "bad-consent.yaml", {
	    "8:14: key 'consent': expected one of opt-in, "
	      "double-opt-in, no-objection, got 'optin'",
	    NULL } },
	{ "bad-control-char.yaml", {
	    "7:11: key 'name': expected a non-empty string, got "
	      "'A\\x0d\\x0aB' (control characters are not allowed)",
	    NULL } },
	{ "bad-db-path.yaml", {
	    "4:9: key 'path': expected an absolute path, got "
	      "'var/lib/consent-milter'",
	    NULL } },
	{ "bad-deep.yaml", {
	    /* parsing stops there: nothing else is reported */
	    "3:39: nesting too deep (at most 32 levels)",
	    NULL } },
	{ "bad-dsn-delays.yaml", {
	    "6:16: key 'retry_delay': expected a duration not longer "
	      "than max_delay (default 1h), got '2h'",
	    NULL } },
	{ "bad-dsn-delays2.yaml", {
	    "7:14: key 'max_delay': expected a duration not shorter "
	      "than retry_delay, got '5m'",
	    NULL } },
	{ "bad-dup-id.yaml", {
	    "11:9: key 'id': duplicate newsletter id 'offers' (first "
	      "defined at line 6)",
	    NULL } },
	{ "bad-dup-key.yaml", {
	    "4:3: key 'mode': duplicate key (first defined at line 3, "
	      "column 3)",
	    NULL } },
	{ "bad-duration.yaml", {
	    "9:16: key 'valid_for': expected a duration from 1s to "
	      "36500d (a number followed by s, m, h, d or w), got '2 "
	      "years'",
	    "15:16: key 'valid_for': expected a duration from 1s to "
	      "36500d (a number followed by s, m, h, d or w), got '730' "
	      "(a unit is required)",
	    "21:16: key 'valid_for': expected a duration from 1s to "
	      "36500d (a number followed by s, m, h, d or w), got '0d'",
	    NULL } },
	{ "bad-empty-sections.yaml", {
	    "1:8: key 'socket': required key is missing",
	    "2:10: key 'path': required key is missing",
	    "9:11: key 'match': expected at least 1 rule, got 0",
	    NULL } },
	{ "bad-empty.yaml", {
	    "1:1: empty file, expected a mapping with the keys milter, "
	      "database, scope, addresses, unclassified_bulk, "
	      "multiple_types, log, dsn, templates, links, upstream, "
	      "newsletters, policy",
	    NULL } },
	{ "bad-feedback.yaml", {
	    "6:3: key 'path': required key is missing",
	    "6:19: key 'retention_days': expected an integer from 0 to "
	      "36500, got '-1'",
	    "7:20: key 'campaign_header': expected a header field name "
	      "(printable ASCII except ':' and space), got 'X Campaign'",
	    "9:11: key 'target': expected unix:/PATH, inet:PORT@HOST "
	      "or inet6:PORT@HOST, got 'smtp.example.com' (unknown "
	      "socket type)",
	    "10:13: key 'attempts': expected an integer from 1 to 100, "
	      "got '0'",
	    "12:10: key 'reply': expected one line of text with "
	      "placeholders %{rcpt}, %{type}, %{name}, %{reason}, "
	      "%{removed}, %{kept}, %{mode}, %{sender}, %{queue_id}, "
	      "%{campaign}, %{host} and %% for %, got '50% off for "
	      "%{rcpt}' (at character 3)",
	    "13:17: key 'trace_header': expected one line of text with "
	      "placeholders %{rcpt}, %{type}, %{name}, %{reason}, "
	      "%{removed}, %{kept}, %{mode}, %{sender}, %{queue_id}, "
	      "%{campaign}, %{host} and %% for %, got '%{nosuch}' (at "
	      "character 1)",
	    "14:13: key 'dsn_text': expected one line of text with "
	      "placeholders %{rcpt}, %{type}, %{name}, %{reason}, "
	      "%{removed}, %{kept}, %{mode}, %{sender}, %{queue_id}, "
	      "%{campaign}, %{host} and %% for %, got '%{rcpt' (at "
	      "character 1)",
	    "15:3: key 'colour': unknown key, expected one of reply, "
	      "trace_header, dsn_text, dsn_recipient",
	    NULL } },
	{ "bad-glob.yaml", {
	    "10:26: key 'envelope_sender': expected a non-empty text "
	      "or glob pattern, got '[abc@example.com' ('[' without a "
	      "closing ']')",
	    "11:18: key 'list_id': expected a non-empty text or glob "
	      "pattern, got 'news\\x5c' (ends with a backslash)",
	    NULL } },
	{ "bad-header-name.yaml", {
	    "11:17: key 'name': expected a header field name "
	      "(printable ASCII except ':' and space), got 'X-Newsletter "
	      "Type'",
	    "14:17: key 'name': expected a header field name "
	      "(printable ASCII except ':' and space), got 'X-Type:'",
	    "17:11: key 'value': required key is missing",
	    NULL } },
	{ "bad-header-type.yaml", {
	    "10:17: key 'header': expected a mapping, got 'X-Type=a'",
	    NULL } },
	{ "bad-lists.yaml", {
	    "6:13: key 'networks': expected a sequence, got "
	      "'127.0.0.0/8'",
	    "8:7: key 'daemon_names': expected a non-empty string, got "
	      "''",
	    "9:7: key 'daemon_names': expected a non-empty string, got "
	      "a sequence",
	    NULL } },
	{ "bad-long-value.yaml", {
	    "3:9: key 'mode': expected one of enforce, monitor, got "
	      "'éééééééééééééééééééééééééééééééé...'",
	    NULL } },
	{ "bad-many.yaml", {
	    "2:11: key 'socket': expected unix:/PATH, inet:PORT@HOST "
	      "or inet6:PORT@HOST, got 'unix:milter.sock' (the path must "
	      "be absolute)",
	    "3:9: key 'mode': expected one of enforce, monitor, got "
	      "'enforced'",
	    "4:3: key 'colour': unknown key, expected one of socket, "
	      "socket_mode, socket_group, user, group, mode, on_error, mail_reply",
	    "7:13: key 'map_size': expected a size from 0 to 16TiB (a "
	      "number, optionally followed by B, KiB, MiB, GiB or TiB), "
	      "got 'lots'",
	    "10:7: key 'networks': expected an IPv4 or IPv6 network "
	      "such as 192.0.2.0/24 or 2001:db8::/32, got '10.0.0.0/40' "
	      "(prefix length above 32)",
	    "17:9: key 'id': duplicate newsletter id 'offers' (first "
	      "defined at line 12)",
	    "18:11: key 'name': expected a non-empty string, got ''",
	    "19:14: key 'consent': expected one of opt-in, "
	      "double-opt-in, no-objection, got 'maybe'",
	    "22:17: key 'name': expected a header field name "
	      "(printable ASCII except ':' and space), got 'Bad Name'",
	    NULL } },
	{ "bad-missing-sections.yaml", {
	    "1:1: key 'milter': required key is missing",
	    "1:1: key 'database': required key is missing",
	    "1:1: key 'newsletters': required key is missing",
	    NULL } },
	{ "bad-missing-socket.yaml", {
	    "2:3: key 'socket': required key is missing",
	    NULL } },
	{ "bad-mode.yaml", {
	    "3:9: key 'mode': expected one of enforce, monitor, got "
	      "'enforced'",
	    "4:13: key 'on_error': expected one of tempfail, accept, "
	      "reject, got 'ignore'",
	    "7:20: key 'unclassified_bulk': expected one of accept, "
	      "reject, got 'bounce'",
	    NULL } },
	{ "bad-newsletters-type.yaml", {
	    "6:3: key 'newsletters': expected a sequence, got a mapping",
	    NULL } },
	{ "bad-no-rule.yaml", {
	    "9:12: key 'match': expected at least 1 rule, got 0",
	    "10:5: key 'match': required key is missing",
	    NULL } },
	{ "bad-not-mapping.yaml", {
	    "1:1: expected a mapping with the keys milter, database, "
	      "scope, addresses, unclassified_bulk, multiple_types, log, "
	      "dsn, templates, links, upstream, newsletters, policy at the top "
	      "level, got a sequence",
	    NULL } },
	{ "bad-rule-empty.yaml", {
	    "10:26: key 'envelope_sender': expected a non-empty text "
	      "or glob pattern, got ''",
	    "11:17: key 'list_id': expected a non-empty text or glob "
	      "pattern, got an empty value",
	    "12:21: key 'sasl_login': expected a non-empty string, got "
	      "''",
	    NULL } },
	{ "bad-rule-kinds.yaml", {
	    "10:9: key 'match': expected exactly one of "
	      "envelope_sender, sasl_login, header or list_id, got none",
	    "11:9: key 'match': expected exactly one of "
	      "envelope_sender, sasl_login, header or list_id, got "
	      "envelope_sender, sasl_login",
	    "13:9: key 'sender': unknown key, expected one of "
	      "envelope_sender, sasl_login, header, list_id",
	    NULL } },
	{ "bad-scalar-top.yaml", {
	    "1:1: expected a mapping with the keys milter, database, "
	      "scope, addresses, unclassified_bulk, multiple_types, log, "
	      "dsn, templates, links, upstream, newsletters, policy at the top "
	      "level, got a scalar",
	    NULL } },
	{ "bad-scope-nothing.yaml", {
	    "6:3: key 'scope': expected at least one of authenticated: "
	      "true, networks or daemon_names, got none (no mail would "
	      "be checked)",
	    NULL } },
	{ "bad-size.yaml", {
	    "5:13: key 'map_size': expected a size from 0 to 16TiB (a "
	      "number, optionally followed by B, KiB, MiB, GiB or TiB), "
	      "got '64MB'",
	    "6:16: key 'max_readers': expected an integer from 1 to "
	      "65535, got '0'",
	    NULL } },
	{ "bad-socket-emptyhost.yaml", {
	    "2:11: key 'socket': expected unix:/PATH, inet:PORT@HOST "
	      "or inet6:PORT@HOST, got 'inet:8891@' (the host is missing)",
	    "3:16: key 'socket_mode': expected an octal file mode from "
	      "000 to 0777, such as 0660, got '660x'",
	    NULL } },
	{ "bad-socket-inet6.yaml", {
	    "2:11: key 'socket': expected unix:/PATH, inet:PORT@HOST "
	      "or inet6:PORT@HOST, got 'inet6:8891@::1:::x' (not an IPv6 "
	      "address or host name)",
	    NULL } },
	{ "bad-socket-misc.yaml", {
	    "2:11: key 'socket': expected unix:/PATH, inet:PORT@HOST "
	      "or inet6:PORT@HOST, got 'inet:0@127.0.0.1' (the port must "
	      "be a number from 1 to 65535)",
	    "6:1: only one YAML document is supported",
	    NULL } },
	{ "bad-socket-mode.yaml", {
	    "3:16: key 'socket_mode': expected an octal file mode from "
	      "000 to 0777, such as 0660, got '0980'",
	    NULL } },
	{ "bad-socket-nohost.yaml", {
	    "2:11: key 'socket': expected unix:/PATH, inet:PORT@HOST "
	      "or inet6:PORT@HOST, got 'inet:8891' (expected '@HOST' "
	      "after the port)",
	    NULL } },
	{ "bad-socket-port.yaml", {
	    "2:11: key 'socket': expected unix:/PATH, inet:PORT@HOST "
	      "or inet6:PORT@HOST, got 'inet:70000@127.0.0.1' (the port "
	      "must be a number from 1 to 65535)",
	    NULL } },
	{ "bad-socket-type.yaml", {
	    "2:11: key 'socket': expected unix:/PATH, inet:PORT@HOST "
	      "or inet6:PORT@HOST, got 'tcp:8891@localhost' (unknown "
	      "socket type)",
	    NULL } },
	{ "bad-socket-unix-relative.yaml", {
	    "2:11: key 'socket': expected unix:/PATH, inet:PORT@HOST "
	      "or inet6:PORT@HOST, got 'unix:run/milter.sock' (the path "
	      "must be absolute)",
	    NULL } },
	{ "bad-syntax-indent.yaml", {
	    "3:2: did not find expected key (while parsing a block "
	      "mapping at line 1, column 1)",
	    NULL } },
	{ "bad-syntax.yaml", {
	    "5:1: found unexpected end of stream (while scanning a "
	      "quoted scalar at line 2, column 11)",
	    NULL } },
	{ "bad-tag.yaml", {
	    "2:11: YAML tags are not supported: 'tag:yaml.org,2002:str'",
	    NULL } },
	{ "bad-two-docs.yaml", {
	    "6:1: only one YAML document is supported",
	    NULL } },
	{ "bad-type-id.yaml", {
	    "6:9: key 'id': expected an id of 1 to 64 characters a-z, "
	      "0-9, '.', '_' or '-', got 'Weekly News'",
	    NULL } },
	{ "bad-type-missing.yaml", {
	    "6:5: key 'name': required key is missing",
	    "6:5: key 'consent': required key is missing",
	    "9:5: key 'newsletters': expected a mapping, got "
	      "'just-a-string'",
	    NULL } },
	{ "bad-unknown-nested.yaml", {
	    "3:3: key 'sockets': unknown key, expected one of socket, "
	      "socket_mode, socket_group, user, group, mode, on_error, mail_reply",
	    "6:3: key 'size': unknown key, expected one of path, "
	      "map_size, max_readers, clock_skew",
	    NULL } },
	{ "bad-unknown-top.yaml", {
	    "5:1: key 'colour': unknown key, expected one of milter, "
	      "database, scope, addresses, unclassified_bulk, "
	      "multiple_types, log, dsn, templates, links, upstream, "
	      "newsletters, policy",
	    NULL } },
	{ "bad-utf8.yaml", {
	    "4:19: invalid leading UTF-8 octet",
	    NULL } },
	{ "bad-validity.yaml", {
	    "9:16: key 'valid_for': expected no validity period with "
	      "consent no-objection (only a withdrawal denies), got "
	      "'730d'",
	    NULL } },
	{ "bad-wrong-type-section.yaml", {
	    "1:9: key 'milter': expected a mapping, got "
	      "'inet:8891@127.0.0.1'",
	    "3:3: key 'database': expected a mapping, got a sequence",
	    NULL } },
};

static void
test_bad_files(void **state)
{
	size_t nfail = 0;

	(void)state;
	assert_true(sizeof(bad_cases) / sizeof(bad_cases[0]) >= 30);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		char *rel, *path;
		cm_errlist *el = cm_errlist_new();
		cm_policy *p = (cm_policy *)&nfail;	/* must be reset */
		size_t n = 0;
		cm_status st;

		assert_non_null(el);
		assert_true(asprintf(&rel, "tests/unit/config/%s", c->file) > 0);
		path = fixture(rel);
		st = cm_policy_load(path, &p, el);
		if (st != CM_EINVAL || p != NULL) {
			print_error("%s: status %d, policy %p\n", c->file, st,
			    (void *)p);
			nfail++;
		}
		while (n < MAX_MSGS && c->msgs[n] != NULL)
			n++;
		for (size_t k = 0; k < n || k < cm_errlist_count(el); k++) {
			const char *got = cm_errlist_get(el, k);
			char *want = NULL;

			if (k < n)
				assert_true(asprintf(&want, "%s:%s", path,
				    c->msgs[k]) > 0);
			if (got == NULL || want == NULL ||
			    strcmp(got, want) != 0) {
				print_error("%s: message %zu\n  want: %s\n"
				    "   got: %s\n", c->file, k,
				    want ? want : "(none)", got ? got : "(none)");
				nfail++;
			}
			free(want);
		}
		cm_errlist_free(el);
		free(path);
		free(rel);
	}
	assert_int_equal(nfail, 0);
}

/* One file with many errors reports all of them in one run. */
static void
test_all_errors_reported(void **state)
{
	char *path = fixture("tests/unit/config/bad-many.yaml");
	cm_errlist *el = cm_errlist_new();
	cm_policy *p = NULL;

	(void)state;
	assert_int_equal(cm_policy_load(path, &p, el), CM_EINVAL);
	assert_null(p);
	assert_int_equal(cm_errlist_count(el), 9);
	/* in file order */
	assert_non_null(strstr(cm_errlist_get(el, 0), ":2:11: key 'socket'"));
	assert_non_null(strstr(cm_errlist_get(el, 8), ":22:17: key 'name'"));
	/* without an error list the status is the same */
	assert_int_equal(cm_policy_load(path, &p, NULL), CM_EINVAL);
	assert_null(p);
	cm_errlist_free(el);
	free(path);
}

static void
test_unreadable(void **state)
{
	char dir[] = "/tmp/cm-config-XXXXXX";
	char *path, *want;
	cm_errlist *el = cm_errlist_new();
	cm_policy *p = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true(asprintf(&path, "%s/missing.yaml", dir) > 0);
	assert_int_equal(cm_policy_load(path, &p, el), CM_EIO);
	assert_null(p);
	assert_int_equal(cm_errlist_count(el), 1);
	assert_true(asprintf(&want, "%s:1:1: cannot read the file: %s", path,
	    strerror(ENOENT)) > 0);
	assert_string_equal(cm_errlist_get(el, 0), want);
	free(want);
	/* a directory */
	assert_int_equal(cm_policy_load(dir, &p, el), CM_EIO);
	assert_int_equal(cm_errlist_count(el), 2);
	assert_true(asprintf(&want, "%s:1:1: cannot read the file: %s", dir,
	    strerror(EISDIR)) > 0);
	assert_string_equal(cm_errlist_get(el, 1), want);
	free(want);
	assert_null(cm_errlist_get(el, 2));
	cm_errlist_free(el);
	free(path);
	assert_int_equal(rmdir(dir), 0);
}

static bool
has_msg(const cm_errlist *el, const char *want)
{
	for (size_t i = 0; i < cm_errlist_count(el); i++)
		if (strcmp(cm_errlist_get(el, i), want) == 0)
			return true;
	return false;
}

/* Write LEN bytes to DIR/NAME and load it; return the status. */
static cm_status
load_bytes(const char *dir, const char *name, const char *data, size_t len,
    cm_errlist *el, char **pathp)
{
	cm_policy *p = NULL;
	FILE *f;
	cm_status st;

	assert_true(asprintf(pathp, "%s/%s", dir, name) > 0);
	f = fopen(*pathp, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	st = cm_policy_load(*pathp, &p, el);
	if (st == CM_OK)
		cm_policy_free(p);
	else
		assert_null(p);
	return st;
}

static void
test_generated_files(void **state)
{
	char dir[] = "/tmp/cm-config-XXXXXX";
	static const char nul[] = "milter:\n  socket: \"inet:1@h\\0x\"\n"
	    "database:\n  path: /x\n";
	cm_errlist *el = cm_errlist_new();
	char *path, *big, *want;
	size_t bigsz = 1024 * 1024 + 10;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* an escaped NUL inside a value */
	assert_int_equal(load_bytes(dir, "nul.yaml", nul, sizeof(nul) - 1, el,
	    &path), CM_EINVAL);
	assert_true(asprintf(&want, "%s:2:11: NUL characters are not "
	    "supported in a value", path) > 0);
	assert_true(has_msg(el, want));
	free(want);
	assert_int_equal(unlink(path), 0);
	free(path);
	/* too large */
	big = malloc(bigsz);
	assert_non_null(big);
	memset(big, '#', bigsz);
	assert_int_equal(load_bytes(dir, "big.yaml", big, bigsz, el, &path),
	    CM_EINVAL);
	assert_true(asprintf(&want, "%s:1:1: file too large (more than "
	    "1048576 bytes)", path) > 0);
	assert_string_equal(cm_errlist_get(el, cm_errlist_count(el) - 1),
	    want);
	free(want);
	free(big);
	assert_int_equal(unlink(path), 0);
	free(path);
	/* nesting too deep: 200 KB of brackets, refused at the first
	 * level too many with that one error (parsing stops there, so
	 * libyaml's time, quadratic in the depth, stays small) */
	{
		size_t n = 100000, k = 0;
		char *deep = malloc(2 * n + 1);
		cm_errlist *el1 = cm_errlist_new();

		assert_non_null(deep);
		assert_non_null(el1);
		for (size_t i = 0; i < n; i++)
			deep[k++] = '[';
		for (size_t i = 0; i < n; i++)
			deep[k++] = ']';
		deep[k++] = '\n';
		assert_int_equal(load_bytes(dir, "deep.yaml", deep, k, el1,
		    &path), CM_EINVAL);
		assert_true(asprintf(&want, "%s:1:33: nesting too deep (at "
		    "most 32 levels)", path) > 0);
		assert_int_equal(cm_errlist_count(el1), 1);
		assert_string_equal(cm_errlist_get(el1, 0), want);
		free(want);
		cm_errlist_free(el1);
		free(deep);
		assert_int_equal(unlink(path), 0);
		free(path);
	}
	/* too many keys in a mapping, too many entries in a sequence */
	{
		size_t cap = 200000, k = 0;
		char *buf = malloc(cap);

		assert_non_null(buf);
		for (int i = 0; i < 1001; i++)
			k += (size_t)snprintf(buf + k, cap - k, "k%d: 1\n", i);
		k += (size_t)snprintf(buf + k, cap - k, "seq:\n");
		for (int i = 0; i < 10001; i++)
			k += (size_t)snprintf(buf + k, cap - k, "- 1\n");
		assert_true(k < cap);
		assert_int_equal(load_bytes(dir, "big-map.yaml", buf, k, el,
		    &path), CM_EINVAL);
		assert_true(asprintf(&want, "%s:1001:1: too many keys in a "
		    "mapping (at most 1000)", path) > 0);
		assert_true(has_msg(el, want));
		free(want);
		assert_int_equal(unlink(path), 0);
		free(path);
		/* the list is full (CM_ERRLIST_MAX) after 1001 unknown keys */
		assert_int_equal(cm_errlist_count(el), 1000);
		cm_errlist_free(el);
		el = cm_errlist_new();
		assert_non_null(el);
		/* the sequence under a key that is kept */
		k = (size_t)snprintf(buf, cap, "seq:\n");
		for (int i = 0; i < 10001; i++)
			k += (size_t)snprintf(buf + k, cap - k, "- 1\n");
		assert_int_equal(load_bytes(dir, "big-seq.yaml", buf, k, el,
		    &path), CM_EINVAL);
		assert_true(asprintf(&want, "%s:10002:3: too many entries in "
		    "a sequence (at most 10000)", path) > 0);
		assert_true(has_msg(el, want));
		free(want);
		assert_int_equal(unlink(path), 0);
		free(path);
		free(buf);
	}
	cm_errlist_free(el);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- classification ---------------------------------------------------- */

static struct sockaddr_storage ss;

static const struct sockaddr *
sa(const char *addr)
{
	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	}
	return (const struct sockaddr *)&ss;
}

static void
test_match_accessors(void **state)
{
	cm_policy *p = load_ok("tests/unit/config/match.yaml");

	(void)state;
	assert_string_equal(cm_policy_socket(p),
	    "unix:/run/consent-milter/milter.sock");
	assert_int_equal(cm_policy_socket_mode(p), 0600);
	assert_string_equal(cm_policy_socket_group(p), "postfix");
	assert_string_equal(cm_policy_user(p), "consent");
	assert_string_equal(cm_policy_group(p), "consent");
	assert_int_equal(cm_policy_mode(p), CM_MODE_MONITOR);
	assert_int_equal(cm_policy_on_error(p), CM_ONERR_REJECT);
	assert_string_equal(cm_policy_db_path(p), "/var/lib/consent-test");
	assert_int_equal(cm_policy_db_map_size(p), 1024 * 1024 * 1024);
	assert_int_equal(cm_policy_db_max_readers(p), 126);
	assert_int_equal(cm_policy_db_clock_skew(p), 90 * INT64_C(1000000));
	assert_false(cm_policy_addr_opts(p)->fold_local_case);
	assert_int_equal(cm_policy_addr_opts(p)->subaddr_sep, 0);
	assert_int_equal(cm_policy_unclassified_bulk(p), CM_BULK_REJECT);
	assert_int_equal(cm_policy_ntypes(p), 3);
	assert_string_equal(cm_ntype_id(cm_policy_type(p, 2)), "third.v2_x");
	assert_true(cm_ntype_policy(cm_policy_type(p, 1))->validity_us ==
	    INT64_C(7200) * 1000000);
	assert_true(cm_ntype_policy(cm_policy_type(p, 0))->validity_us ==
	    INT64_C(604800) * 1000000);
	assert_true(cm_ntype_policy(cm_policy_type(p, 2))->validity_us == 0);
	assert_int_equal(cm_ntype_policy(cm_policy_type(p, 2))->requirement,
	    CM_REQ_NO_OBJECTION);
	cm_policy_free(p);
}

static void
test_scope(void **state)
{
	static const struct {
		const char *addr;
		bool in;
	} cases[] = {
		{ "192.0.2.7", true }, { "192.0.2.255", true },
		{ "192.0.3.1", false }, { "198.51.100.1", false },
		{ "10.1.2.3", true }, { "10.1.2.4", false },
		{ "::ffff:192.0.2.9", true },	/* v4-mapped, v4 network */
		{ "::ffff:192.0.3.9", false },
		{ "::ffff:198.18.0.5", true },	/* v4-mapped v6 network */
		{ "198.18.0.5", false },
		{ "2001:db8::1", true }, { "2001:db8:ffff::1", true },
		{ "2001:db9::1", false }, { "::1", false },
		{ "::", false },
	};
	cm_policy *p = load_ok("tests/unit/config/match.yaml");
	struct sockaddr_un un;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = cm_policy_in_scope(p, sa(cases[i].addr), NULL,
		    false);

		if (got != cases[i].in)
			fail_msg("%s: in scope %d, want %d", cases[i].addr,
			    got, cases[i].in);
	}
	/* scope.authenticated is off here */
	assert_false(cm_policy_in_scope(p, NULL, NULL, true));
	assert_true(cm_policy_in_scope(p, NULL, "submission-campaign", false));
	assert_false(cm_policy_in_scope(p, NULL, "Submission-Campaign", false));
	assert_false(cm_policy_in_scope(p, NULL, "smtpd", true));
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	assert_false(cm_policy_in_scope(p, (struct sockaddr *)&un, NULL,
	    false));
	cm_policy_free(p);
}

static void
test_envelope(void **state)
{
	static const struct {
		const char *sender, *login, *want;
	} cases[] = {
		{ "news@example.com", NULL, "first" },
		{ "NEWS@Example.COM", NULL, "first" },	/* case */
		{ "<news@example.com>", NULL, "first" },	/* brackets */
		{ "other@example.com", NULL, "second" },	/* glob */
		{ "x@sub.example.com", NULL, NULL },
		{ "news@example.com.evil", NULL, NULL },
		{ "", "mailer", "second" },		/* null sender, login */
		{ "", NULL, NULL },
		{ NULL, NULL, NULL },
		{ "a@elsewhere.example", "mailer", "second" },
		{ "a@elsewhere.example", "Mailer", NULL },	/* exact login */
		{ "a@elsewhere.example", "mailer2", NULL },
		{ "bulk-7@example.net", NULL, "third.v2_x" },	/* class */
		{ "Culk-0@EXAMPLE.net", NULL, "third.v2_x" },
		{ "dulk-0@example.net", NULL, NULL },
		{ "bulk-x@example.net", NULL, NULL },
		/* first match wins: news@ matches first and second */
		{ "news@example.com", "mailer", "first" },
	};
	cm_policy *p = load_ok("tests/unit/config/match.yaml");

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const cm_ntype *t = cm_policy_match_envelope(p,
		    cases[i].sender, cases[i].login);
		const char *got = t != NULL ? cm_ntype_id(t) : NULL;

		if ((got == NULL) != (cases[i].want == NULL) ||
		    (got != NULL && strcmp(got, cases[i].want) != 0))
			fail_msg("case %zu (%s, %s): got %s, want %s", i,
			    cases[i].sender ? cases[i].sender : "NULL",
			    cases[i].login ? cases[i].login : "NULL",
			    got ? got : "none",
			    cases[i].want ? cases[i].want : "none");
	}
	cm_policy_free(p);
}

static void
test_headers(void **state)
{
	static const struct {
		const char *name[3], *value[3];
		const char *want;
	} cases[] = {
		{ { "X-Campaign" }, { "spring-sale" }, "first" },
		{ { "x-campaign" }, { "  Spring-Sale \r\n" }, "first" },
		{ { "X-Campaign" }, { "summer-sale" }, NULL },
		{ { "X-Campaign-2" }, { "spring-sale" }, NULL },
		{ { "List-Id" }, { "Weekly <weekly.lists.example.org>" },
		  "second" },
		{ { "list-id" }, { "<WEEKLY.Lists.Example.ORG>" }, "second" },
		{ { "List-Id" }, { "weekly.lists.example.org" }, "second" },
		{ { "List-Id" }, { "exact.example.net" }, "third.v2_x" },
		{ { "List-Id" }, { " The list <exact.example.net> " },
		  "third.v2_x" },
		{ { "List-Id" }, { "exact.example.net <other.example.net>" },
		  NULL },
		{ { "List-Id" }, { "<exact.example.net.evil>" }, NULL },
		{ { "List-Id" }, { "broken <exact.example.net" }, NULL },
		{ { "X-Newsletter-Type" }, { "customer-1" }, "third.v2_x" },
		{ { "X-Newsletter-Type" }, { "customer-12" }, NULL },
		{ { "Subject" }, { "spring-sale" }, NULL },
		/* types in file order win, whatever the header order */
		{ { "X-Newsletter-Type", "List-Id", "X-Campaign" },
		  { "customer-1", "a.lists.example.org", "spring-x" },
		  "first" },
		{ { "X-Newsletter-Type", "List-Id" },
		  { "customer-1", "a.lists.example.org" }, "second" },
	};
	cm_policy *p = load_ok("tests/unit/config/match.yaml");

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = 0;
		const cm_ntype *t;
		const char *got;

		while (n < 3 && cases[i].name[n] != NULL)
			n++;
		t = cm_policy_match_headers(p, n, cases[i].name,
		    cases[i].value);
		got = t != NULL ? cm_ntype_id(t) : NULL;
		if ((got == NULL) != (cases[i].want == NULL) ||
		    (got != NULL && strcmp(got, cases[i].want) != 0))
			fail_msg("case %zu (%s: %s): got %s, want %s", i,
			    cases[i].name[0], cases[i].value[0],
			    got ? got : "none",
			    cases[i].want ? cases[i].want : "none");
	}
	assert_null(cm_policy_match_headers(p, 0, NULL, NULL));

	assert_true(cm_policy_needs_headers(p));
	assert_true(cm_policy_header_relevant(p, "X-Campaign"));
	assert_true(cm_policy_header_relevant(p, "x-newsletter-type"));
	assert_true(cm_policy_header_relevant(p, "LIST-ID"));
	assert_true(cm_policy_header_relevant(p, "List-Unsubscribe"));
	assert_true(cm_policy_header_relevant(p, "precedence"));
	assert_false(cm_policy_header_relevant(p, "Subject"));
	assert_false(cm_policy_header_relevant(p, "X-Campaig"));
	assert_false(cm_policy_header_relevant(p, NULL));
	cm_policy_free(p);
}

static void
test_bulk(void **state)
{
	(void)state;
	assert_true(cm_policy_header_is_bulk("List-Unsubscribe",
	    "<https://x.example/u>"));
	assert_true(cm_policy_header_is_bulk("list-unsubscribe", ""));
	assert_true(cm_policy_header_is_bulk("Precedence", "bulk"));
	assert_true(cm_policy_header_is_bulk("PRECEDENCE", " List\r\n"));
	assert_true(cm_policy_header_is_bulk("Precedence", "junk"));
	assert_false(cm_policy_header_is_bulk("Precedence", "first-class"));
	assert_false(cm_policy_header_is_bulk("Precedence", "bulky"));
	assert_false(cm_policy_header_is_bulk("Precedence", NULL));
	assert_false(cm_policy_header_is_bulk("List-Unsubscribe-Post",
	    "List-Unsubscribe=One-Click"));
	assert_false(cm_policy_header_is_bulk("Subject", "bulk"));
	assert_false(cm_policy_header_is_bulk(NULL, "bulk"));
}

/* One immutable policy read from many threads at once. */
struct reader_arg {
	const cm_policy *p;
	atomic_uint *wrong;
};

static void *
reader(void *argp)
{
	struct reader_arg *arg = argp;
	const cm_policy *p = arg->p;
	const char *hn[] = { "Subject", "List-Id" };
	const char *hv[] = { "x", "Weekly <w.lists.example.org>" };
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;

	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.77", &s4.sin_addr);
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db9::1", &s6.sin6_addr);
	for (int i = 0; i < 20000; i++) {
		const cm_ntype *a = cm_policy_match_envelope(p,
		    "Bulk-3@Example.NET", NULL);
		const cm_ntype *b = cm_policy_match_headers(p, 2, hn, hv);

		if (a == NULL || strcmp(cm_ntype_id(a), "third.v2_x") != 0 ||
		    b == NULL || strcmp(cm_ntype_id(b), "second") != 0 ||
		    !cm_policy_in_scope(p, (struct sockaddr *)&s4, NULL,
		    false) || cm_policy_in_scope(p, (struct sockaddr *)&s6,
		    NULL, false) || !cm_policy_header_relevant(p, "list-id"))
			atomic_fetch_add(arg->wrong, 1);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	cm_policy *p = load_ok("tests/unit/config/match.yaml");
	pthread_t th[8];
	atomic_uint wrong;
	struct reader_arg arg;

	(void)state;
	atomic_init(&wrong, 0);
	arg.p = p;
	arg.wrong = &wrong;
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader, &arg), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(atomic_load(&wrong), 0);
	cm_policy_free(p);
}

/* ---- helpers ------------------------------------------------------------ */

static void
test_glob(void **state)
{
	static const struct {
		const char *pat, *text;
		bool match;
	} cases[] = {
		{ "abc", "abc", true }, { "abc", "ABC", true },
		{ "abc", "abcd", false }, { "abc", "ab", false },
		{ "*", "", true }, { "*", "anything", true },
		{ "a*", "a", true }, { "*@x.example", "bob@X.Example", true },
		{ "*@x.example", "bob@x.example.org", false },
		{ "a?c", "abc", true }, { "a?c", "ac", false },
		{ "[a-c]x", "Bx", true }, { "[a-c]x", "dx", false },
		{ "[!a-c]x", "dx", true }, { "[^a-c]x", "ax", false },
		{ "[]]", "]", true }, { "[a-]", "-", true },
		{ "\\*", "*", true }, { "\\*", "a", false },
		{ "*a*b*c*", "xxaxxbxxcxx", true },
		{ "*a*b*c*", "xxaxxcxxbxx", false },
		{ "a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  false },
		{ "customer-*", "customer-", true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(cm_glob_valid(cases[i].pat, NULL));
		if (cm_glob_match(cases[i].pat, cases[i].text,
		    strlen(cases[i].text)) != cases[i].match)
			fail_msg("glob '%s' on '%s': want %d", cases[i].pat,
			    cases[i].text, cases[i].match);
	}
	assert_false(cm_glob_valid("[abc", NULL));
	assert_false(cm_glob_valid("abc\\", NULL));
	assert_false(cm_glob_valid("[]", NULL));
	/* length-bounded: the NUL-free prefix only */
	assert_true(cm_glob_match("ab", "abc", 2));
}

static void
test_cidr(void **state)
{
	static const struct {
		const char *net;
		bool ok;
	} parse[] = {
		{ "0.0.0.0/0", true }, { "192.0.2.0/24", true },
		{ "192.0.2.1", true }, { "::/0", true },
		{ "2001:db8::/32", true }, { "fe80::1/128", true },
		{ "192.0.2.1/24", false }, { "192.0.2.0/33", false },
		{ "192.0.2.0/-1", false }, { "192.0.2.0/+8", false },
		{ "192.0.2.0/8x", false }, { "192.0.2/24", false },
		{ "2001:db8::1/32", false }, { "::/129", false },
		{ "", false }, { "/8", false }, { "host.example", false },
		{ "192.0.2.0/0008", false },
	};
	cm_cidr c;

	(void)state;
	for (size_t i = 0; i < sizeof(parse) / sizeof(parse[0]); i++)
		if (cm_cidr_parse(parse[i].net, &c, NULL) != parse[i].ok)
			fail_msg("cidr '%s': want %d", parse[i].net,
			    parse[i].ok);
	assert_true(cm_cidr_parse("192.0.2.128/25", &c, NULL));
	assert_true(cm_cidr_match(&c, sa("192.0.2.200")));
	assert_false(cm_cidr_match(&c, sa("192.0.2.127")));
	assert_true(cm_cidr_match(&c, sa("::ffff:192.0.2.129")));
	assert_false(cm_cidr_match(&c, sa("2001:db8::1")));
	assert_false(cm_cidr_match(&c, NULL));
	assert_true(cm_cidr_parse("0.0.0.0/0", &c, NULL));
	assert_true(cm_cidr_match(&c, sa("203.0.113.1")));
	assert_true(cm_cidr_parse("2001:db8:8000::/33", &c, NULL));
	assert_true(cm_cidr_match(&c, sa("2001:db8:8001::1")));
	assert_false(cm_cidr_match(&c, sa("2001:db8:7fff::1")));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_upstream),
		cmocka_unit_test(test_feedback_keys),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_generated_files),
		cmocka_unit_test(test_match_accessors),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_bulk),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_cidr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
