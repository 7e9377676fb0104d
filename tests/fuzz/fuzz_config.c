/*
 * fuzz_config.c - libFuzzer target for the YAML policy loader.
 *
 * Each input is written to a temporary file and loaded.  Invariants:
 * a load either returns CM_OK with a policy and no error, or fails with
 * no policy and at least one error (out of memory aside); every error
 * starts with "FILE:LINE:COLUMN: " (LINE and COLUMN positive decimals).
 * A loaded policy is then exercised through every accessor and the
 * classification functions.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static int fd = -1;

static void
cleanup(void)
{
	if (fd >= 0)
		unlink(path);
}

static void
check_msg(const char *m)
{
	size_t n = strlen(path);
	const char *p;
	int field;

	if (strncmp(m, path, n) != 0 || m[n] != ':')
		abort();
	p = m + n + 1;
	for (field = 0; field < 2; field++) {
		if (*p < '1' || *p > '9')
			abort();
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p != ':')
			abort();
		p++;
	}
	if (*p != ' ' || p[1] == '\0')
		abort();
}

static void
exercise(const cm_policy *p, const uint8_t *data, size_t size)
{
	char text[128];
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	const char *names[] = { "List-Id", "X-Newsletter-Type", text };
	const char *values[] = { text, text, "x" };

	memcpy(text, data, n);
	text[n] = '\0';
	(void)cm_policy_socket(p);
	(void)cm_policy_socket_mode(p);
	(void)cm_policy_socket_group(p);
	(void)cm_policy_user(p);
	(void)cm_policy_group(p);
	(void)cm_policy_mode(p);
	(void)cm_policy_on_error(p);
	if (cm_policy_db_path(p) == NULL || cm_policy_socket(p) == NULL)
		abort();
	(void)cm_policy_db_map_size(p);
	(void)cm_policy_db_max_readers(p);
	(void)cm_policy_addr_opts(p);
	(void)cm_policy_unclassified_bulk(p);
	for (size_t i = 0; i < cm_policy_ntypes(p); i++) {
		const cm_ntype *t = cm_policy_type(p, i);

		if (t == NULL || cm_policy_find_type(p, cm_ntype_id(t)) != t ||
		    cm_ntype_policy(t)->id != cm_ntype_id(t) ||
		    cm_ntype_name(t) == NULL)
			abort();
	}
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	memcpy(&s4.sin_addr, data, size < 4 ? size : 4);
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	memcpy(&s6.sin6_addr, data, size < 16 ? size : 16);
	(void)cm_policy_in_scope(p, (struct sockaddr *)&s4, text, false);
	(void)cm_policy_in_scope(p, (struct sockaddr *)&s6, NULL, true);
	(void)cm_policy_match_envelope(p, text, text);
	(void)cm_policy_match_headers(p, 3, names, values);
	(void)cm_policy_needs_headers(p);
	(void)cm_policy_header_relevant(p, text);
	(void)cm_policy_header_is_bulk(text, text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cm_errlist *el;
	cm_policy *p = NULL;
	cm_status st;

	if (fd < 0) {
		snprintf(path, sizeof(path), "/tmp/fuzz-config-XXXXXX");
		fd = mkstemp(path);
		if (fd < 0)
			abort();
		atexit(cleanup);
	}
	if (ftruncate(fd, 0) != 0 ||
	    pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	el = cm_errlist_new();
	if (el == NULL)
		return 0;
	st = cm_policy_load(path, &p, el);
	if (st == CM_OK) {
		if (p == NULL || cm_errlist_count(el) != 0)
			abort();
		exercise(p, data, size);
		cm_policy_free(p);
	} else {
		if (p != NULL)
			abort();
		if (st != CM_ENOMEM && cm_errlist_count(el) == 0)
			abort();
	}
	for (size_t i = 0; i < cm_errlist_count(el); i++)
		check_msg(cm_errlist_get(el, i));
	cm_errlist_free(el);
	return 0;
}
