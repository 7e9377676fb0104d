/*
 * fuzz_classify.c - libFuzzer target for the classification of a message
 * by the loaded policy (config/policy.h): cm_policy_match_envelope,
 * cm_policy_match_headers (header and list_id rules, List-Id values),
 * cm_policy_header_relevant and cm_policy_header_is_bulk.
 *
 * A fixed policy with every rule kind (exact and glob envelope_sender,
 * sasl_login, header with exact and glob values, list_id exact and glob)
 * is written to a temporary file and loaded once.  Input: the first line
 * is the envelope sender, the second the SASL login (empty = none), every
 * further line is one header "Name: value" (a line without ':' is a name
 * with an empty value); a "\n " or "\n\t" continues the previous header's
 * value, as folding does.  Every result must be NULL or one of the
 * policy's types, and the same on a second call.
 *
 * The same input goes through the classification the milter uses
 * (config/classify.h: cm_class_envelope, cm_class_headers, every type a
 * message matches): each result is a set of the policy's types, the same
 * on a second call, and the header set of a message holds the set of any
 * one of its headers alone.  Every List-Id value also goes through the
 * RFC 2919 parser (core/listid.h): an id found is non-empty, at most
 * CM_LISTID_MAX octets, without '<', '>', white space or a trailing dot,
 * and the same id comes out of the value with a comment appended.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/classify.h"
#include "config/policy.h"
#include "core/listid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)
#define MAXH 64

static const char policy_yaml[] =
    "milter:\n"
    "  socket: unix:/run/consent-milter/milter.sock\n"
    "database:\n"
    "  path: /var/lib/consent-fuzz\n"
    "unclassified_bulk: reject\n"
    "newsletters:\n"
    "  - id: weekly\n"
    "    name: Weekly\n"
    "    consent: opt-in\n"
    "    match:\n"
    "      - envelope_sender: \"weekly@news.example.com\"\n"
    "      - sasl_login: \"campaign-weekly\"\n"
    "  - id: offers\n"
    "    name: Offers\n"
    "    consent: double-opt-in\n"
    "    match:\n"
    "      - envelope_sender: \"*@offers.example.com\"\n"
    "      - header: {name: X-Newsletter-Type, value: offers}\n"
    "      - list_id: \"offers.example.com\"\n"
    "  - id: lists\n"
    "    name: Lists\n"
    "    consent: no-objection\n"
    "    match:\n"
    "      - header: {name: X-Campaign, value: \"spring-*\"}\n"
    "      - list_id: \"*.lists.example.org\"\n"
    "      - envelope_sender: \"[bc]ulk-[0-9]@example.net\"\n";

static cm_policy *pol;

static void
load_policy(void)
{
	char path[] = "/tmp/fuzz_classify.XXXXXX";
	int fd = mkstemp(path);
	cm_errlist *el = cm_errlist_new();
	cm_status st;

	CHECK(fd >= 0 && el != NULL);
	CHECK(write(fd, policy_yaml, sizeof(policy_yaml) - 1) ==
	    (ssize_t)(sizeof(policy_yaml) - 1));
	close(fd);
	st = cm_policy_load(path, &pol, el);
	if (st != CM_OK) {
		for (size_t i = 0; i < cm_errlist_count(el); i++)
			fprintf(stderr, "%s\n", cm_errlist_get(el, i));
		abort();
	}
	unlink(path);
	cm_errlist_free(el);
}

/* The RFC 2919 parser on one List-Id value (LEN octets at V). */
static void
check_listid(const char *v, size_t len)
{
	char id[CM_LISTID_MAX + 1], again[CM_LISTID_MAX + 1], *w;
	size_t n = 0, n2 = 0;

	if (cm_listid_parse(v, len, id, sizeof(id), &n) != CM_OK) {
		CHECK(id[0] == '\0');
		return;
	}
	CHECK(n > 0 && n <= CM_LISTID_MAX && strlen(id) == n);
	CHECK(id[n - 1] != '.');
	for (size_t i = 0; i < n; i++)
		CHECK(id[i] != '<' && id[i] != '>' && id[i] != ' ' &&
		    id[i] != '\t' && id[i] != '\r' && id[i] != '\n');
	/* a trailing comment changes nothing */
	if ((w = malloc(len + 16)) == NULL)
		return;
	memcpy(w, v, len);
	memcpy(w + len, " (archive)", 10);
	if (cm_listid_parse(w, len + 10, again, sizeof(again), &n2) == CM_OK)
		CHECK(n2 == n && memcmp(again, id, n) == 0);
	free(w);
}

/* *S holds only types of the policy. */
static void
check_set(const cm_typeset *s)
{
	size_t n = cm_policy_ntypes(pol), k = 0;

	for (size_t i = cm_class_next(s, 0); i < CM_CLASS_MAX_TYPES;
	    i = cm_class_next(s, i + 1)) {
		CHECK(i < n);
		k++;
	}
	CHECK(k == s->n);
}

static void
check_type(const cm_ntype *t)
{
	size_t n = cm_policy_ntypes(pol);

	if (t == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		if (cm_policy_type(pol, i) == t)
			return;
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *lines[MAXH + 2], *names[MAXH], *values[MAXH];
	size_t nl = 0, nh = 0;
	const cm_ntype *t;
	char *p, *end;

	if (pol == NULL)
		load_policy();
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* split into lines; a NUL inside ends the input */
	p = buf;
	end = buf + strlen(buf);
	while (p <= end && nl < MAXH + 2) {
		char *e = strchr(p, '\n');

		/* folding: "\n " and "\n\t" stay inside a header line */
		while (nl >= 2 && e != NULL && (e[1] == ' ' || e[1] == '\t'))
			e = strchr(e + 1, '\n');
		if (e != NULL)
			*e = '\0';
		lines[nl++] = p;
		if (e == NULL)
			break;
		p = e + 1;
	}
	for (size_t i = 2; i < nl; i++) {
		char *c = strchr(lines[i], ':');

		names[nh] = lines[i];
		if (c != NULL) {
			*c++ = '\0';
			while (*c == ' ' || *c == '\t')
				c++;
			values[nh] = c;
		} else {
			values[nh] = lines[i] + strlen(lines[i]);
		}
		nh++;
	}

	if (nl >= 1) {
		const char *login = nl >= 2 && lines[1][0] ? lines[1] : NULL;

		t = cm_policy_match_envelope(pol, lines[0], login);
		check_type(t);
		CHECK(cm_policy_match_envelope(pol, lines[0], login) == t);
	}
	for (size_t i = 0; i < nh; i++) {
		(void)cm_policy_header_relevant(pol, names[i]);
		(void)cm_policy_header_is_bulk(names[i], values[i]);
	}
	t = cm_policy_match_headers(pol, nh, (const char *const *)names,
	    (const char *const *)values);
	check_type(t);
	CHECK(cm_policy_match_headers(pol, nh, (const char *const *)names,
	    (const char *const *)values) == t);

	/* the classification the milter uses */
	if (nl >= 1) {
		const char *login = nl >= 2 && lines[1][0] ? lines[1] : NULL;
		cm_typeset a, b;
		cm_status s1, s2;

		cm_class_clear(&a);
		cm_class_clear(&b);
		s1 = cm_class_envelope(pol, lines[0], strlen(lines[0]), login,
		    &a);
		s2 = cm_class_envelope(pol, lines[0], strlen(lines[0]), login,
		    &b);
		CHECK(s1 == s2 && memcmp(&a, &b, sizeof(a)) == 0);
		check_set(&a);
	}
	{
		cm_typeset all, one, both;
		cm_status s1, s2;

		cm_class_clear(&all);
		cm_class_clear(&both);
		s1 = cm_class_headers(pol, nh, (const char *const *)names,
		    (const char *const *)values, &all);
		s2 = cm_class_headers(pol, nh, (const char *const *)names,
		    (const char *const *)values, &both);
		CHECK(s1 == s2 && memcmp(&all, &both, sizeof(all)) == 0);
		check_set(&all);
		for (size_t i = 0; i < nh; i++) {
			cm_class_clear(&one);
			(void)cm_class_headers(pol, 1,
			    (const char *const *)&names[i],
			    (const char *const *)&values[i], &one);
			check_set(&one);
			cm_class_clear(&both);
			cm_class_union(&both, &all);
			cm_class_union(&both, &one);
			CHECK(both.n == all.n);
			if (strcasecmp(names[i], "List-Id") == 0)
				check_listid(values[i], strlen(values[i]));
		}
	}
	free(buf);
	return 0;
}
