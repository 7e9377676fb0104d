/* names.c - names of the enumerations of index.h and decide.h, and the
 * newsletter type id rule (names.h). */
#include <string.h>

#include "decide.h"
#include "index.h"
#include "names.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const state_names[] = {
	[CM_STATE_NONE] = "none",
	[CM_STATE_PENDING] = "pending",
	[CM_STATE_GRANTED] = "granted",
	[CM_STATE_WITHDRAWN] = "withdrawn",
};

static const char *const kind_names[] = {
	[CM_EV_GRANT] = "grant",
	[CM_EV_CONFIRM] = "confirm",
	[CM_EV_WITHDRAW] = "withdraw",
	[CM_EV_OBJECT] = "object",
	[CM_EV_UPDATE] = "update",
	[CM_EV_SUPPRESS_DOMAIN] = "suppress-domain",
	[CM_EV_UNSUPPRESS_DOMAIN] = "unsuppress-domain",
	[CM_EV_ERASE] = "erase",
};

static const char *const req_names[] = {
	[CM_REQ_OPT_IN] = "opt-in",
	[CM_REQ_DOUBLE_OPT_IN] = "double-opt-in",
	[CM_REQ_NO_OBJECTION] = "no-objection",
};

static const char *const reason_names[] = {
	[CM_REASON_NONE] = "none",
	[CM_REASON_NO_CONSENT] = "no-consent",
	[CM_REASON_WITHDRAWN] = "withdrawn",
	[CM_REASON_UNCONFIRMED] = "unconfirmed",
	[CM_REASON_EXPIRED] = "expired",
	[CM_REASON_OBJECTION] = "objection",
	[CM_REASON_SUPPRESSED] = "suppressed",
};

static const char *
name_of(const char *const *tab, size_t n, int v)
{
	if (v < 0 || (size_t)v >= n || tab[v] == NULL)
		return "unknown";
	return tab[v];
}

static int
parse_of(const char *const *tab, size_t n, const char *s)
{
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (tab[i] != NULL && strcmp(tab[i], s) == 0)
			return (int)i;
	return -1;
}

const char *
cm_state_name(cm_state s)
{
	return name_of(state_names, NELEM(state_names), (int)s);
}

cm_status
cm_state_parse(const char *s, cm_state *out)
{
	int v = parse_of(state_names, NELEM(state_names), s);

	if (v <= (int)CM_STATE_NONE)
		return CM_EINVAL;
	*out = (cm_state)v;
	return CM_OK;
}

const char *
cm_event_kind_name(cm_event_kind k)
{
	return name_of(kind_names, NELEM(kind_names), (int)k);
}

const char *
cm_requirement_name(cm_requirement r)
{
	return name_of(req_names, NELEM(req_names), (int)r);
}

cm_status
cm_requirement_parse(const char *s, cm_requirement *out)
{
	int v = parse_of(req_names, NELEM(req_names), s);

	if (v < 0)
		return CM_EINVAL;
	*out = (cm_requirement)v;
	return CM_OK;
}

const char *
cm_reason_name(cm_reason r)
{
	return name_of(reason_names, NELEM(reason_names), (int)r);
}

const char *
cm_verdict_name(cm_verdict v)
{
	return v == CM_ALLOW ? "allow" : v == CM_DENY ? "deny" : "unknown";
}

bool
cm_type_id_valid(const char *s, size_t len)
{
	if (len == 0 || len > CM_TYPE_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}
