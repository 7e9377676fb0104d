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
 * List-Id values reach the list_id rules through cm_policy_match_headers.
 * A List-Id parser of its own (RFC 2919: comments, quoted phrases,
 * folding, a trailing dot) belongs checked here too: call it on the value
 * of every List-Id line of the input and check what it returns (an id
 * inside the value, without '<', '>', white space or a trailing dot;
 * the same id for the value with a trailing comment added).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/policy.h"

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
	free(buf);
	return 0;
}
