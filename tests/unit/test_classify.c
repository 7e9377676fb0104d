/*
 * test_classify.c - every type a message matches (config/classify.h) and
 * the decision across several types (core/multi.h) on a real index:
 * sender spellings, several types, List-Id forms, multiple_types and
 * non_smtp_daemon_names (issue 12).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmtest.h"
#include "config/classify.h"
#include "config/policy.h"
#include "core/multi.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define T0 INT64_C(1700000000000000)

static const char yaml_types[] =
    "newsletters:\n"
    "  - id: weekly-news\n"
    "    name: \"Weekly news\"\n"
    "    consent: opt-in\n"
    "    match:\n"
    "      - envelope_sender: \"weekly@news.example.com\"\n"
    "      - sasl_login: \"campaign-weekly\"\n"
    "  - id: offers\n"
    "    name: \"Special offers\"\n"
    "    consent: opt-in\n"
    "    match:\n"
    "      - header: { name: X-Newsletter-Type, value: \"offers\" }\n"
    "      - list_id: \"offers.example.com\"\n"
    "  - id: digest\n"
    "    name: \"Digest\"\n"
    "    consent: opt-in\n"
    "    match:\n"
    "      - envelope_sender: \"*@digest.example.com\"\n"
    "      - header: { name: X-Newsletter-Type, value: \"digest\" }\n"
    "  - id: updates\n"
    "    name: \"Product updates\"\n"
    "    consent: no-objection\n"
    "    match:\n"
    "      - list_id: \"*.updates.example\"\n"
    "  - id: idn\n"
    "    name: \"IDN\"\n"
    "    consent: opt-in\n"
    "    match:\n"
    "      - envelope_sender: \"news@b\xc3\xbc" "cher.example\"\n"
    "      - envelope_sender: \"*@xn--mnchen-3ya.example\"\n";

static cm_policy *
load(const char *extra, char **dirp)
{
	char *dir = cmt_mkdtemp(), *path;
	cm_errlist *el = cm_errlist_new();
	cm_policy *p = NULL;
	FILE *f;

	assert_true(asprintf(&path, "%s/p.yaml", dir) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "milter:\n  socket: \"unix:%s/s\"\ndatabase:\n"
	    "  path: \"%s\"\n%s%s", dir, dir, extra, yaml_types);
	fclose(f);
	if (cm_policy_load(path, &p, el) != CM_OK)
		for (size_t i = 0; i < cm_errlist_count(el); i++)
			print_message("%s\n", cm_errlist_get(el, i));
	assert_non_null(p);
	cm_errlist_free(el);
	unlink(path);
	free(path);
	*dirp = dir;
	return p;
}

/* The ids of S joined, for comparison. */
static const char *
ids(const cm_policy *p, const cm_typeset *s, char *buf, size_t size)
{
	return cm_class_join(p, s, false, buf, size);
}

/* ---- envelope: one person, several spellings of the sender ----------- */

static const struct ecase {
	const char *sender;
	const char *sasl;
	cm_status st;
	const char *types;
} ecases[] = {
	{ "<weekly@news.example.com>", NULL, CM_OK, "weekly-news" },
	{ "weekly@news.example.com", NULL, CM_OK, "weekly-news" },
	{ "<\"weekly\"@news.example.com>", NULL, CM_OK, "weekly-news" },
	{ "<weekly@news.example.com.>", NULL, CM_OK, "weekly-news" },
	{ "<Weekly@NEWS.Example.COM>", NULL, CM_OK, "weekly-news" },
	{ " <@relay.example:weekly@news.example.com> ", NULL, CM_OK,
	    "weekly-news" },
	{ "<weekly+b123@news.example.com>", NULL, CM_OK, "weekly-news" },
	{ "<\"we\\ekly\"@news.example.com.>", NULL, CM_OK, "weekly-news" },
	/* glob rules against the normalized form */
	{ "<\"x\"@Digest.Example.COM.>", NULL, CM_OK, "digest" },
	{ "<a.b@digest.example.com>", NULL, CM_OK, "digest" },
	/* a rule with a U-label domain matches the sender as written; a
	 * rule in A-label form matches either spelling */
	{ "<news@b\xc3\xbc" "cher.example>", NULL, CM_OK, "idn" },
	{ "<x@m\xc3\xbcnchen.example>", NULL, CM_OK, "idn" },
	{ "<x@xn--mnchen-3ya.example>", NULL, CM_OK, "idn" },
	/* not these */
	{ "<weekly@news.example.net>", NULL, CM_OK, "" },
	{ "<weekly@news.example.com.evil>", NULL, CM_OK, "" },
	{ "<>", NULL, CM_OK, "" },
	{ "", NULL, CM_OK, "" },
	/* several types: sender and SASL login */
	{ "<x@digest.example.com>", "campaign-weekly", CM_OK,
	    "weekly-news,digest" },
	{ "<>", "campaign-weekly", CM_OK, "weekly-news" },
	/* a sender that cannot be normalized: the status, and a rule the
	 * written form matches still types it */
	{ "<weekly@news..example.com>", NULL, CM_ADDR_BAD_DOMAIN, "" },
	{ "<a\"b@news.example.com>", NULL, CM_ADDR_QUOTE, "" },
	{ "<weekly@>", NULL, CM_ADDR_DOMAIN_EMPTY, "" },
	{ "<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaa@digest.example.com>", NULL, CM_ADDR_LOCAL_TOO_LONG,
	  "digest" },
	{ "<weekly@news..example.com>", "campaign-weekly", CM_ADDR_BAD_DOMAIN,
	    "weekly-news" },
};

static void
test_envelope(void **state)
{
	char *dir;
	cm_policy *p = load("", &dir);
	char buf[256];

	(void)state;
	for (size_t i = 0; i < NELEM(ecases); i++) {
		const struct ecase *c = &ecases[i];
		cm_typeset s;
		cm_status st;

		cm_class_clear(&s);
		st = cm_class_envelope(p, c->sender, strlen(c->sender), c->sasl,
		    &s);
		if (st != c->st || strcmp(ids(p, &s, buf, sizeof(buf)),
		    c->types) != 0)
			fail_msg("case %zu %s: status %d types \"%s\", want %d "
			    "\"%s\"", i, c->sender, (int)st, buf, (int)c->st,
			    c->types);
	}
	cm_policy_free(p);
	cmt_rmdir(dir);
}

/* ---- headers: several types, List-Id forms ---------------------------- */

static const struct hcase {
	const char *names[3];
	const char *values[3];
	cm_status st;
	const char *types;
} hcases[] = {
	{ { "X-Newsletter-Type" }, { "offers" }, CM_OK, "offers" },
	{ { "x-newsletter-type" }, { "  offers " }, CM_OK, "offers" },
	/* two X-Newsletter-Type headers naming two known types: both */
	{ { "X-Newsletter-Type", "X-Newsletter-Type" }, { "offers", "digest" },
	    CM_OK, "offers,digest" },
	{ { "X-Newsletter-Type", "List-Id" },
	    { "digest", "<a.updates.example>" }, CM_OK, "digest,updates" },
	/* List-Id per RFC 2919 */
	{ { "List-Id" }, { "<offers.example.com> (archive <https://x>)" },
	    CM_OK, "offers" },
	{ { "List-Id" }, { "<offers.example.com.>" }, CM_OK, "offers" },
	{ { "List-Id" }, { "\"Offers <x>\" <offers.example.com>" }, CM_OK,
	    "offers" },
	{ { "List-Id" }, { "Offers\r\n <offers.example.com>" }, CM_OK,
	    "offers" },
	{ { "List-Id" }, { "(<offers.example.com>) <other.example>" }, CM_OK,
	    "" },
	/* unreadable: reported, other rules still applied */
	{ { "List-Id" }, { "<a.example> <offers.example.com>" }, CM_EINVAL, "" },
	{ { "X-Newsletter-Type", "List-Id" }, { "digest", "<unclosed" },
	    CM_EINVAL, "digest" },
	{ { "Subject" }, { "offers" }, CM_OK, "" },
};

static void
test_headers(void **state)
{
	char *dir;
	cm_policy *p = load("", &dir);
	char buf[256];

	(void)state;
	for (size_t i = 0; i < NELEM(hcases); i++) {
		const struct hcase *c = &hcases[i];
		size_t n = 0;
		cm_typeset s;
		cm_status st;

		while (n < 3 && c->names[n] != NULL)
			n++;
		cm_class_clear(&s);
		st = cm_class_headers(p, n, c->names, c->values, &s);
		if (st != c->st || strcmp(ids(p, &s, buf, sizeof(buf)),
		    c->types) != 0)
			fail_msg("case %zu %s: status %d types \"%s\", want %d "
			    "\"%s\"", i, c->values[0], (int)st, buf, (int)c->st,
			    c->types);
	}
	/* the legacy first-match function reads List-Id the same way */
	{
		const char *nm[] = { "List-Id" };
		const char *v[] = { "<offers.example.com> (archive <https://x>)" };
		const cm_ntype *t = cm_policy_match_headers(p, 1, nm, v);

		assert_non_null(t);
		assert_string_equal(cm_ntype_id(t), "offers");
	}
	assert_true(cm_policy_has_header_rules(p));
	cm_policy_free(p);
	cmt_rmdir(dir);
}

/* ---- sets and texts ---------------------------------------------------- */

static void
test_sets(void **state)
{
	char *dir;
	cm_policy *p = load("", &dir);
	cm_typeset a, b, d;
	char buf[256], small[16];

	(void)state;
	cm_class_clear(&a);
	cm_class_clear(&b);
	cm_class_add(&a, 0);
	cm_class_add(&a, 2);
	cm_class_add(&a, 2);
	cm_class_add(&a, CM_CLASS_MAX_TYPES);	/* ignored */
	assert_int_equal(a.n, 2);
	cm_class_add(&b, 2);
	cm_class_minus(&d, &a, &b);
	assert_string_equal(ids(p, &d, buf, sizeof(buf)), "weekly-news");
	cm_class_add(&b, 3);
	cm_class_union(&a, &b);
	assert_string_equal(ids(p, &a, buf, sizeof(buf)),
	    "weekly-news,digest,updates");
	assert_string_equal(cm_class_join(p, &a, true, buf, sizeof(buf)),
	    "Weekly news, Digest, Product updates");
	assert_string_equal(ids(p, &a, small, sizeof(small)),
	    "weekly-news,...");
	assert_string_equal(cm_class_join(p, &a, true, small, sizeof(small)),
	    "Weekly news,...");
	assert_string_equal(ids(p, &a, small, 8), ",...");
	/* weekly-news (0) has no header rule; offers (1), digest (2) and
	 * updates (3) have */
	cm_class_clear(&b);
	cm_class_add(&b, 0);
	assert_true(cm_class_headers_may_add(p, &b));
	cm_class_add(&b, 1);
	cm_class_add(&b, 2);
	assert_true(cm_class_headers_may_add(p, &b));
	cm_class_add(&b, 3);
	assert_false(cm_class_headers_may_add(p, &b));
	cm_class_clear(&b);
	cm_class_add(&b, 1);
	cm_class_add(&b, 2);
	cm_class_add(&b, 3);
	assert_false(cm_class_headers_may_add(p, &b));
	cm_class_add(&d, CM_CLASS_MAX_TYPES - 1);
	assert_int_equal(cm_class_next(&d, 1), CM_CLASS_MAX_TYPES - 1);
	assert_int_equal(cm_class_next(&d, CM_CLASS_MAX_TYPES),
	    CM_CLASS_MAX_TYPES);
	cm_policy_free(p);
	cmt_rmdir(dir);
}

/* cm_class_next walks exactly the members, whatever the order they came
 * in and however the set was made (add, union, minus, copies) */
static void
test_sets_random(void **state)
{
	uint64_t r = 0x853c49e6748fea9bu;

	(void)state;
	for (int k = 0; k < 3000; k++) {
		cm_typeset a, b, d;
		bool ra[CM_CLASS_MAX_TYPES] = { false }, rb[CM_CLASS_MAX_TYPES] = { false };
		size_t i, n = 0, want;

		cm_class_clear(&a);
		cm_class_clear(&b);
		for (int m = (int)(r % 12); m >= 0; m--) {
			r ^= r << 13, r ^= r >> 7, r ^= r << 17;
			i = (size_t)(r % 4 == 0 ? r % CM_CLASS_MAX_TYPES : r % 70);
			if ((r >> 20) % 2) {
				cm_class_add(&a, i);
				ra[i] = true;
			} else {
				cm_class_add(&b, i);
				rb[i] = true;
			}
		}
		d = a;	/* a copy walks alike */
		if (k % 2) {
			cm_class_union(&d, &b);
			for (i = 0; i < CM_CLASS_MAX_TYPES; i++)
				ra[i] = ra[i] || rb[i];
		} else {
			cm_typeset t = d;

			cm_class_minus(&d, &t, &b);
			for (i = 0; i < CM_CLASS_MAX_TYPES; i++)
				ra[i] = ra[i] && !rb[i];
		}
		want = 0;
		for (i = 0; i < CM_CLASS_MAX_TYPES; i++) {
			assert_int_equal(cm_class_has(&d, i), ra[i]);
			if (!ra[i])
				continue;
			/* the next member from every point before it */
			for (size_t from = want; from <= i; from++)
				assert_int_equal(cm_class_next(&d, from), i);
			want = i + 1;
			n++;
		}
		assert_int_equal(d.n, n);
		for (size_t from = want; from <= CM_CLASS_MAX_TYPES; from++)
			assert_int_equal(cm_class_next(&d, from), CM_CLASS_MAX_TYPES);
	}
}

/* ---- policy keys --------------------------------------------------------- */

static void
test_keys(void **state)
{
	char *dir;
	cm_policy *p = load("", &dir);

	(void)state;
	assert_int_equal(cm_policy_multiple_types(p), CM_MULTI_ALL);
	assert_false(cm_policy_non_smtp_daemon(p, "mx.example"));
	assert_false(cm_policy_non_smtp_daemon(p, NULL));
	cm_policy_free(p);
	cmt_rmdir(dir);
	p = load("multiple_types: refuse\nscope:\n  authenticated: false\n"
	    "  non_smtp_daemon_names: [local-submit]\n", &dir);
	assert_int_equal(cm_policy_multiple_types(p), CM_MULTI_REFUSE);
	assert_true(cm_policy_non_smtp_daemon(p, "local-submit"));
	assert_false(cm_policy_non_smtp_daemon(p, "smtpd"));
	/* a non-SMTP daemon name is in scope */
	assert_true(cm_policy_in_scope(p, NULL, "local-submit", false));
	assert_false(cm_policy_in_scope(p, NULL, "smtpd", false));
	cm_policy_free(p);
	cmt_rmdir(dir);
}

/* ---- one recipient, several types (real index) ------------------------ */

static const cm_type_policy tp_news = { "news", CM_REQ_OPT_IN, 0 };
static const cm_type_policy tp_offers = { "offers", CM_REQ_OPT_IN, 0 };
static const cm_type_policy tp_upd = { "updates", CM_REQ_NO_OBJECTION, 0 };

static const struct mcase {
	const char *rcpt;
	const cm_type_policy *tps[3];
	cm_verdict v;
	cm_reason r;
	size_t which;
} mcases[] = {
	/* consent for both */
	{ "both@example.com", { &tp_news, &tp_offers }, CM_ALLOW,
	    CM_REASON_NONE, 0 },
	/* consent for A, not for B: never more than B alone */
	{ "news@example.com", { &tp_news, &tp_offers }, CM_DENY,
	    CM_REASON_NO_CONSENT, 1 },
	{ "news@example.com", { &tp_offers, &tp_news }, CM_DENY,
	    CM_REASON_NO_CONSENT, 0 },
	{ "news@example.com", { &tp_news }, CM_ALLOW, CM_REASON_NONE, 0 },
	/* the first denying type gives the reason */
	{ "wd@example.com", { &tp_offers, &tp_news }, CM_DENY,
	    CM_REASON_NO_CONSENT, 0 },
	{ "wd@example.com", { &tp_news, &tp_offers }, CM_DENY,
	    CM_REASON_WITHDRAWN, 0 },
	/* no-objection type: allowed unless withdrawn */
	{ "news@example.com", { &tp_news, &tp_upd }, CM_ALLOW,
	    CM_REASON_NONE, 0 },
	{ "wd@example.com", { &tp_upd, &tp_offers, &tp_news }, CM_DENY,
	    CM_REASON_WITHDRAWN, 0 },
	/* an opt-out always wins */
	{ "obj@example.com", { &tp_news, &tp_upd }, CM_DENY,
	    CM_REASON_OBJECTION, 0 },
	{ "nobody@example.com", { &tp_upd, &tp_news }, CM_DENY,
	    CM_REASON_NO_CONSENT, 1 },
};

static void
test_multi(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	cm_decision d;
	size_t which;

	(void)state;
	assert_int_equal(cmt_grant(idx, "both@example.com", "news",
	    CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_grant(idx, "both@example.com", "offers",
	    CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_grant(idx, "news@example.com", "news",
	    CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_grant(idx, "wd@example.com", "news",
	    CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_WITHDRAW, "wd@example.com", "news",
	    T0 + 1), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_WITHDRAW, "wd@example.com",
	    "updates", T0 + 1), CM_OK);
	assert_int_equal(cmt_grant(idx, "obj@example.com", "news",
	    CM_STATE_GRANTED, T0), CM_OK);
	assert_int_equal(cmt_ev(idx, CM_EV_OBJECT, "obj@example.com", NULL,
	    T0 + 1), CM_OK);
	for (size_t i = 0; i < NELEM(mcases); i++) {
		const struct mcase *c = &mcases[i];
		cm_addr a = cmt_addr(c->rcpt);
		size_t n = 0;

		while (n < 3 && c->tps[n] != NULL)
			n++;
		which = 99;
		assert_int_equal(cm_multi_decide(idx, c->tps, n, &a, T0 + 10,
		    &d, &which), CM_OK);
		if (d.verdict != c->v || d.reason != c->r || which != c->which)
			fail_msg("case %zu %s: %s/%s/%zu, want %s/%s/%zu", i,
			    c->rcpt, cm_verdict_name(d.verdict),
			    cm_reason_name(d.reason), which,
			    cm_verdict_name(c->v), cm_reason_name(c->r),
			    c->which);
	}
	{
		cm_addr a = cmt_addr("both@example.com");

		assert_int_equal(cm_multi_decide(idx, mcases[0].tps, 0, &a,
		    T0, &d, NULL), CM_EINVAL);
	}
	cm_index_close(idx);
	cmt_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_sets_random),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_multi),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
