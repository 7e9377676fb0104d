/*
 * pfcheck.c - does Postfix ask consent-policy first at RCPT? (pfcheck.h)
 */
#include "pfcheck.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../milter/log.h"

#define VALUE_MAX 8192

static const char *const SEP = " \t\r\n,{}";

/* Is NAME, a check_policy_service server, the socket SPEC? */
static bool
same_server(const char *name, const char *spec)
{
	char want[512];
	const char *at;

	if (strncmp(name, "inet:", 5) == 0)
		name += 5;
	if (strncmp(spec, "inet:", 5) == 0 && (at = strchr(spec, '@')) != NULL) {
		snprintf(want, sizeof(want), "%s:%.*s", at + 1,
		    (int)(at - spec - 5), spec + 5);
		return strcmp(name, want) == 0;
	}
	if (strncmp(spec, "unix:", 5) == 0 && strncmp(name, "unix:", 5) == 0) {
		const char *path = spec + 5, *rel = name + 5;
		size_t lp = strlen(path), lr = strlen(rel);

		if (strcmp(path, rel) == 0)
			return true;
		return rel[0] != '/' && lp > lr && path[lp - lr - 1] == '/' &&
		    strcmp(path + lp - lr, rel) == 0;
	}
	return strcmp(name, spec) == 0;
}

cm_pfcheck_res
cm_pfcheck_restrictions(const char *value, const char *spec, char *permit,
    size_t size)
{
	char buf[VALUE_MAX], *save = NULL, *tok;
	const char *first_permit = NULL;

	snprintf(buf, sizeof(buf), "%s", value);
	for (tok = strtok_r(buf, SEP, &save); tok != NULL;
	    tok = strtok_r(NULL, SEP, &save)) {
		if (strcmp(tok, "check_policy_service") == 0) {
			tok = strtok_r(NULL, SEP, &save);
			if (tok == NULL)
				break;
			if (!same_server(tok, spec))
				continue;
			if (first_permit == NULL)
				return CM_PFCHECK_OK;
			snprintf(permit, size, "%s", first_permit);
			return CM_PFCHECK_AFTER_PERMIT;
		}
		if (first_permit == NULL && strncmp(tok, "permit", 6) == 0)
			first_permit = tok;
	}
	return CM_PFCHECK_MISSING;
}

void
cm_pfcheck_warn(const char *spec)
{
	char value[VALUE_MAX], permit[128];
	size_t n;
	FILE *f;
	int rc;

	f = popen("PATH=\"$PATH:/usr/sbin:/sbin\"; exec postconf -h "
	    "smtpd_recipient_restrictions 2>/dev/null", "r");
	if (f == NULL)
		return;
	n = fread(value, 1, sizeof(value) - 1, f);
	value[n] = '\0';
	rc = pclose(f);
	if (rc != 0 || n == 0)
		return;		/* no postconf, no Postfix here */
	switch (cm_pfcheck_restrictions(value, spec, permit, sizeof(permit))) {
	case CM_PFCHECK_OK:
		return;
	case CM_PFCHECK_MISSING:
		cm_log(LOG_WARNING, "Postfix's smtpd_recipient_restrictions "
		    "(main.cf) has no check_policy_service for %s: unless "
		    "master.cf sets it, no recipient is checked here", spec);
		return;
	case CM_PFCHECK_AFTER_PERMIT:
		cm_log(LOG_WARNING, "Postfix's smtpd_recipient_restrictions "
		    "(main.cf) has %s before check_policy_service %s: mail "
		    "it permits is never checked here; put "
		    "check_policy_service first", permit, spec);
		return;
	}
}
