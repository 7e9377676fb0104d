/* test_links.c - the links: section (config/links.h): defaults, every
 * setting, errors with line and column, the URLs built from it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/errlist.h"
#include "config/links.h"
#include "config/policy.h"
#include "core/token.h"
#include "tests/unit/cmtest.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define DAY (86400LL * 1000000)

static const char head[] =
    "milter:\n"
    "  socket: \"unix:/run/cm.sock\"\n"
    "database:\n"
    "  path: \"/var/lib/cm\"\n"
    "newsletters: []\n";

/* Load HEAD + LINKS from a temporary file; *ERR gets the first error
 * (or ""); returns the policy or NULL. */
static cm_policy *
load(const char *links, char *err, size_t errsz)
{
	char *dir = cmt_mkdtemp(), path[512];
	cm_errlist *el = cm_errlist_new();
	cm_policy *p = NULL;
	FILE *f;

	snprintf(path, sizeof path, "%s/c.yaml", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs(head, f);
	fputs(links, f);
	fclose(f);
	(void)cm_policy_load(path, &p, el);
	err[0] = '\0';
	if (cm_errlist_count(el) > 0) {
		const char *m = cm_errlist_get(el, 0);
		const char *c = strstr(m, "c.yaml:");
		snprintf(err, errsz, "%s", c ? c + 7 : m);
	}
	cm_errlist_free(el);
	cmt_rmdir(dir);
	return p;
}

struct lcase {
	const char *yaml;
	const char *err;	/* NULL: loads; else the error after "c.yaml:" */
};

static const struct lcase cases[] = {
	{ "links:\n  base_url: \"https://a.example/x/\"\n", NULL },
	{ "links:\n  base_url: \"https://a.example\"\n  enabled: false\n", NULL },
	{ "links:\n  base_url: \"http://a.example\"\n",
	  "7:13: key 'base_url': expected an https URL" },
	{ "links:\n  base_url: \"https://a.example/?u=1\"\n",
	  "7:13: key 'base_url': expected an https URL" },
	{ "links:\n  base_url: \"https:///x\"\n",
	  "7:13: key 'base_url': expected an https URL" },
	{ "links:\n  mailto_domain: example.com\n",
	  "7:3: key 'base_url': required key is missing" },
	{ "links:\n  base_url: \"https://a.example\"\n  mailto_local: \"a+b\"\n",
	  "8:17: key 'mailto_local': expected a local part" },
	{ "links:\n  base_url: \"https://a.example\"\n  mailto_domain: \"ex ample\"\n",
	  "8:18: key 'mailto_domain': expected a domain name" },
	{ "links:\n  base_url: \"https://a.example\"\n  max_age: 10s\n",
	  "8:12: key 'max_age': expected" },
	{ "links:\n  base_url: \"https://a.example\"\n  sender_header: drop\n",
	  "8:18: key 'sender_header': expected one of replace, keep" },
	{ "links:\n  base_url: \"https://a.example\"\n  listen: \"nowhere\"\n",
	  "8:11: key 'listen': expected" },
	{ "links:\n  base_url: \"https://a.example\"\n  mailto_socket: rel.sock\n",
	  "8:18: key 'mailto_socket': expected an absolute path" },
	{ "links:\n  base_url: \"https://a.example\"\n  mailto_socket: \"/"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n",
	  "8:18: key 'mailto_socket': expected a socket path of at most 99" },
	{ "links:\n  base_url: \"https://a.example\"\n  mailto_deliver_to: box\n",
	  "8:22: key 'mailto_deliver_to': expected a mail address" },
	{ "links:\n  base_url: \"https://a.example\"\n"
	  "  mailto_deliver_to: \"a@b@c\"\n",
	  "8:22: key 'mailto_deliver_to': expected a mail address" },
	{ "links:\n  base_url: \"https://a.example\"\n"
	  "  mailto_deliver_to: \"a b@c\"\n",
	  "8:22: key 'mailto_deliver_to': expected a mail address" },
	{ "links:\n  base_url: \"https://a.example\"\n"
	  "  mailto_deliver_to: \"unsub-box@example.com\"\n", NULL },
	{ "links:\n  base_url: \"https://a.example\"\n  colour: red\n",
	  "8:3: key 'colour': unknown key, expected one of enabled, base_url" },
};

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		char err[1024];
		cm_policy *p = load(cases[i].yaml, err, sizeof err);
		if (cases[i].err == NULL) {
			if (p == NULL)
				fail_msg("case %zu: %s", i, err);
		} else {
			assert_null(p);
			if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
				fail_msg("case %zu:\n  want: %s\n   got: %s", i,
				    cases[i].err, err);
		}
		cm_policy_free(p);
	}
}

static void
test_defaults_and_urls(void **state)
{
	char err[1024], buf[1024];
	const cm_links *l;
	cm_policy *p;
	(void)state;

	/* no section: disabled */
	assert_non_null(p = load("", err, sizeof err));
	l = cm_policy_links(p);
	assert_false(cm_links_enabled(l));
	assert_string_equal(cm_links_key_dir(l, "/var/lib/cm", buf, sizeof buf),
	    "/var/lib/cm/" CM_TOKEN_RING_DIR);
	cm_policy_free(p);

	assert_non_null(p = load("links:\n  base_url: \"https://a.example/c/\"\n"
	    "  mailto_domain: b.example\n  key_dir: /k\n", err, sizeof err));
	l = cm_policy_links(p);
	assert_true(cm_links_enabled(l));
	assert_int_equal(l->max_age, 730 * DAY);
	assert_int_equal(l->sender_header, CM_LINKS_REPLACE);
	assert_string_equal(l->listen, "inet:8025@127.0.0.1");
	assert_null(l->client_header);
	assert_int_equal(l->max_connections, 64);
	assert_string_equal(cm_links_key_dir(l, "/var/lib/cm", buf, sizeof buf), "/k");
	assert_string_equal(cm_links_url(l, CM_TOKEN_UNSUBSCRIBE, "TOK", buf,
	    sizeof buf), "https://a.example/c/u/TOK");
	assert_string_equal(cm_links_url(l, CM_TOKEN_CONFIRM, "TOK", buf,
	    sizeof buf), "https://a.example/c/c/TOK");
	assert_string_equal(cm_links_mailto(l, "TOK", buf, sizeof buf),
	    "mailto:unsubscribe+TOK@b.example");
	assert_null(cm_links_url(l, CM_TOKEN_CONFIRM, "TOK", buf, 10));
	cm_policy_free(p);

	/* without mailto_domain: no mailto form, no capture */
	assert_non_null(p = load("links:\n  base_url: \"https://a.example\"\n",
	    err, sizeof err));
	assert_null(cm_links_mailto(cm_policy_links(p), "T", buf, sizeof buf));
	assert_false(cm_links_mailto_enabled(cm_policy_links(p)));
	cm_policy_free(p);
}

/* Which recipients are mailto unsubscribe addresses, and their token. */
static void
test_mailto_match(void **state)
{
	static const struct {
		const char *rcpt, *token;	/* NULL: no match */
	} m[] = {
		{ "<unsubscribe+TOK_-9@b.example>", "TOK_-9" },
		{ "unsubscribe+TOK@b.example", "TOK" },
		{ "<UnSubscribe+TOK@B.Example>", "TOK" },
		{ "<unsubscribe+TOK@b.example.>", "TOK" },
		{ "<unsubscribe+a+b@b.example>", "a+b" },	/* refused later */
		{ "<unsubscribe+@b.example>", "" },	/* refused later */
		/* what a sender's MTA may write: never escapes the capture */
		{ "<\"unsubscribe+TOK\"@b.example>", "TOK" },
		{ "<\"unsub\\scribe+T\\\"K\"@b.example>", "T\"K" },
		{ "<@relay.example:unsubscribe+TOK@b.example>", "TOK" },
		{ "<@r1.example,@r2.example:unsubscribe+TOK@b.example>", "TOK" },
		{ "< unsubscribe+TOK@b.example >", "TOK" },
		{ " <unsubscribe+TOK@b.example>", "TOK" },
		/* unreadable but ours: an empty token, refused later */
		{ "<\"unsubscribe+TOK@b.example>", "" },
		{ "<unsubscribe+T\"OK@b.example>", "" },
		{ "<@relay.example unsubscribe+TOK@b.example>", "" },
		{ "<\"x\"@b.example>", NULL },
		{ "<@relay.example:other+TOK@b.example>", NULL },
		{ "<\"unsubscribe+TOK\"@b.example.org>", NULL },
		{ "<unsubscribe@b.example>", NULL },
		{ "<unsubscribe-TOK@b.example>", NULL },
		{ "<unsubscribex+TOK@b.example>", NULL },
		{ "<xunsubscribe+TOK@b.example>", NULL },
		{ "<unsubscribe+TOK@b.example.org>", NULL },
		{ "<unsubscribe+TOK@ab.example>", NULL },
		{ "<unsubscribe+TOK@b.exampl>", NULL },
		{ "<unsubscribe+TOK>", NULL },
		{ "<unsubscribe+TOK@b.example..>", NULL },
		{ "", NULL },
		{ "<>", NULL },
	};
	char err[1024];
	const cm_links *l;
	cm_policy *p;
	(void)state;

	assert_non_null(p = load("links:\n  base_url: \"https://a.example\"\n"
	    "  mailto_domain: b.example\n  mailto_deliver_to: box@c.example\n",
	    err, sizeof err));
	l = cm_policy_links(p);
	assert_true(cm_links_mailto_enabled(l));
	assert_string_equal(l->mailto_socket, "/run/consent-web/mailto.sock");
	assert_string_equal(l->mailto_deliver_to, "box@c.example");
	for (size_t i = 0; i < NELEM(m); i++) {
		char tok[128] = "";
		size_t n = 0;
		bool hit = cm_links_mailto_match(l, m[i].rcpt,
		    strlen(m[i].rcpt), tok, sizeof tok, &n);

		if (hit != (m[i].token != NULL))
			fail_msg("%s: match %d", m[i].rcpt, hit);
		if (hit && (n != strlen(m[i].token) ||
		    memcmp(tok, m[i].token, n) != 0))
			fail_msg("%s: token %.*s", m[i].rcpt, (int)n, tok);
	}
	cm_policy_free(p);

	/* links disabled: nothing is a mailto address */
	assert_non_null(p = load("links:\n  base_url: \"https://a.example\"\n"
	    "  enabled: false\n  mailto_domain: b.example\n", err, sizeof err));
	{
		char tok[128];
		size_t n = 0;

		assert_false(cm_links_mailto_match(cm_policy_links(p),
		    "<unsubscribe+T@b.example>", 25, tok, sizeof tok, &n));
	}
	cm_policy_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_defaults_and_urls),
		cmocka_unit_test(test_mailto_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
