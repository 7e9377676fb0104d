/*
 * ntype.c - the newsletter types of a policy and their classification
 * rules: the accessors of cm_ntype, the first-match classification of
 * policy.h (config/classify.c gives every matching type), the bulk
 * header test, and the header names the rules read (cm_ntype_derive).
 */
#include <string.h>
#include <strings.h>

#include "../core/listid.h"
#include "glob.h"
#include "policy_int.h"

static bool
add_relevant(cm_policy *p, const char *name, size_t *cap)
{
	for (size_t i = 0; i < p->nrelevant; i++)
		if (strcasecmp(p->relevant[i], name) == 0)
			return true;
	if (p->nrelevant == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		const char **n = cm_arena_calloc(p->arena, ncap, sizeof(*n));

		if (n == NULL)
			return false;
		if (p->nrelevant > 0)
			memcpy(n, p->relevant, p->nrelevant * sizeof(*n));
		p->relevant = n;
		*cap = ncap;
	}
	p->relevant[p->nrelevant++] = name;
	return true;
}

bool
cm_ntype_derive(cm_policy *p)
{
	size_t cap = 0;
	bool bulk = p->c.unclassified_bulk == CM_BULK_REJECT;

	p->needs_headers = bulk;
	for (size_t i = 0; i < p->c.ntypes; i++) {
		const struct cm_ntype *t = &p->c.types[i];

		for (size_t j = 0; j < t->nrules; j++) {
			const struct rule *r = &t->rules[j];

			if (r->kind == RULE_HEADER) {
				p->needs_headers = p->header_rules = true;
				if (!add_relevant(p, r->header.name, &cap))
					return false;
			} else if (r->kind == RULE_LIST_ID) {
				p->needs_headers = p->header_rules = true;
				if (!add_relevant(p, "List-Id", &cap))
					return false;
			}
		}
	}
	if (bulk && (!add_relevant(p, "List-Unsubscribe", &cap) ||
	    !add_relevant(p, "Precedence", &cap)))
		return false;
	if (p->c.log.present && p->c.log.campaign_header != NULL &&
	    !add_relevant(p, p->c.log.campaign_header, &cap))
		return false;
	return true;
}

size_t
cm_ntype_nrules(const cm_ntype *t)
{
	return t->nrules;
}

cm_rule_kind
cm_ntype_rule(const cm_ntype *t, size_t j, const char **pattern,
    const char **header_name)
{
	const struct rule *r = &t->rules[j];

	*header_name = NULL;
	switch (r->kind) {
	case RULE_ENVELOPE:
		*pattern = r->envelope_sender;
		return CM_RULE_ENVELOPE_SENDER;
	case RULE_SASL:
		*pattern = r->sasl_login;
		return CM_RULE_SASL_LOGIN;
	case RULE_HEADER:
		*pattern = r->header.value;
		*header_name = r->header.name;
		return CM_RULE_HEADER;
	default:
		*pattern = r->list_id;
		return CM_RULE_LIST_ID;
	}
}

size_t
cm_policy_ntypes(const cm_policy *p)
{
	return p->c.ntypes;
}

const cm_ntype *
cm_policy_type(const cm_policy *p, size_t i)
{
	return i < p->c.ntypes ? &p->c.types[i] : NULL;
}

const cm_ntype *
cm_policy_find_type(const cm_policy *p, const char *id)
{
	if (id == NULL)
		return NULL;
	for (size_t i = 0; i < p->c.ntypes; i++)
		if (strcmp(p->c.types[i].id, id) == 0)
			return &p->c.types[i];
	return NULL;
}

const char *
cm_ntype_id(const cm_ntype *t)
{
	return t->id;
}

const char *
cm_ntype_name(const cm_ntype *t)
{
	return t->name;
}

const cm_type_policy *
cm_ntype_policy(const cm_ntype *t)
{
	return &t->tp;
}


const cm_ntype *
cm_policy_match_envelope(const cm_policy *p, const char *sender,
    const char *sasl_login)
{
	size_t slen = sender != NULL ? strlen(sender) : 0;

	/* tolerate "<addr>" */
	if (slen >= 2 && sender[0] == '<' && sender[slen - 1] == '>') {
		sender++;
		slen -= 2;
	}
	for (size_t i = 0; i < p->c.ntypes; i++) {
		const struct cm_ntype *t = &p->c.types[i];

		for (size_t j = 0; j < t->nrules; j++) {
			const struct rule *r = &t->rules[j];

			if (r->kind == RULE_ENVELOPE && slen > 0 &&
			    cm_glob_match(r->envelope_sender, sender, slen))
				return t;
			if (r->kind == RULE_SASL && sasl_login != NULL &&
			    strcmp(r->sasl_login, sasl_login) == 0)
				return t;
		}
	}
	return NULL;
}

bool
cm_policy_needs_headers(const cm_policy *p)
{
	return p->needs_headers;
}

bool
cm_policy_header_relevant(const cm_policy *p, const char *name)
{
	if (name == NULL)
		return false;
	for (size_t i = 0; i < p->nrelevant; i++)
		if (strcasecmp(p->relevant[i], name) == 0)
			return true;
	return false;
}

static bool
rule_matches_header(const struct rule *r, const char *name, const char *value)
{
	const char *v;
	size_t len;
	char id[CM_LISTID_MAX + 1];

	if (r->kind == RULE_HEADER) {
		if (strcasecmp(r->header.name, name) != 0)
			return false;
		v = value;
		len = strlen(value);
		cm_glob_trim(&v, &len);
		return cm_glob_match(r->header.value, v, len);
	}
	if (r->kind == RULE_LIST_ID) {
		if (strcasecmp(name, "List-Id") != 0)
			return false;
		/* RFC 2919; an unreadable List-Id matches no rule here
		 * (config/classify.h reports it) */
		if (cm_listid_parse(value, strlen(value), id, sizeof(id),
		    &len) != CM_OK)
			return false;
		return cm_glob_match(r->list_id, id, len);
	}
	return false;
}

const cm_ntype *
cm_policy_match_headers(const cm_policy *p, size_t n,
    const char *const *names, const char *const *values)
{
	for (size_t i = 0; i < p->c.ntypes; i++) {
		const struct cm_ntype *t = &p->c.types[i];

		for (size_t j = 0; j < t->nrules; j++) {
			const struct rule *r = &t->rules[j];

			if (r->kind != RULE_HEADER && r->kind != RULE_LIST_ID)
				continue;
			for (size_t k = 0; k < n; k++)
				if (names[k] != NULL && values[k] != NULL &&
				    rule_matches_header(r, names[k], values[k]))
					return t;
		}
	}
	return NULL;
}

bool
cm_policy_header_is_bulk(const char *name, const char *value)
{
	const char *v;
	size_t len;

	if (name == NULL)
		return false;
	if (strcasecmp(name, "List-Unsubscribe") == 0)
		return true;
	if (strcasecmp(name, "Precedence") != 0 || value == NULL)
		return false;
	v = value;
	len = strlen(value);
	cm_glob_trim(&v, &len);
	return (len == 4 && (strncasecmp(v, "bulk", 4) == 0 ||
	    strncasecmp(v, "list", 4) == 0 || strncasecmp(v, "junk", 4) == 0));
}
