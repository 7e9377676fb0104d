/*
 * policy_check.c - the checks across values of the policy schema
 * (policy_schema.c names them; declared in policy_int.h).
 *
 * They word their messages as schema.h does:
 *
 *   key 'match': expected exactly one of envelope_sender, sasl_login,
 *                header or list_id, got none | got envelope_sender, header
 *   key 'id': duplicate newsletter id 'x' (first defined at line N)
 *   key 'scope': expected at least one of authenticated: true, networks
 *                or daemon_names, got none (no mail would be checked)
 *   key 'max_delay': expected a duration not shorter than retry_delay,
 *                got '5s'
 *   key 'valid_for': expected no validity period with consent
 *                no-objection (only a withdrawal denies), got '730d'
 */
#include <stdio.h>
#include <string.h>

#include "../core/tmpl.h"
#include "errlist.h"
#include "policy_int.h"

static const char *const rule_kinds[] = {
	"envelope_sender", "sasl_login", "header", "list_id"
};

/* A rule has exactly one kind. */
void
cm_policy_check_rule(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base)
{
	struct rule *r = base;
	char kinds[80];
	size_t n = 0, len = 0;

	(void)it;
	if (node == NULL || node->kind != CM_YN_MAP)
		return;
	kinds[0] = '\0';
	for (size_t i = 0; i < 4; i++) {
		if (cm_sch_lookup(node, rule_kinds[i]) == NULL)
			continue;
		if (n++ == 0)
			r->kind = (int)i + 1;
		len += (size_t)snprintf(kinds + len, sizeof(kinds) - len,
		    "%s%s", len ? ", " : "", rule_kinds[i]);
	}
	if (n != 1) {
		r->kind = 0;
		cm_sch_error(ctx, node, "match", "expected exactly one of "
		    "envelope_sender, sasl_login, header or list_id, got %s",
		    n == 0 ? "none" : kinds);
	}
}

/* Fill the decision's view of a type. */
void
cm_policy_check_type(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base)
{
	struct cm_ntype *t = base;

	(void)it;
	if (t->consent == CM_REQ_NO_OBJECTION && t->valid_for != 0) {
		const cm_ynode *v = cm_sch_lookup(node, "valid_for");
		char q[300];

		cm_sch_error(ctx, v, "valid_for", "expected no validity "
		    "period with consent no-objection (only a withdrawal "
		    "denies), got '%s'", v != NULL ?
		    cm_errlist_quote(q, sizeof(q), v->str) : "");
	}
	t->tp.id = t->id;
	t->tp.requirement = (cm_requirement)t->consent;
	t->tp.validity_us = t->valid_for;
}

/* Newsletter ids are unique. */
void
cm_policy_check_types(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base)
{
	struct conf *c = base;
	const cm_ynode *ei, *ej;
	size_t i, j;

	(void)it;
	if (node == NULL || node->kind != CM_YN_SEQ || c->types == NULL)
		return;
	for (i = 0, ei = node->first; i < c->ntypes && ei != NULL;
	    i++, ei = ei->next) {
		const cm_ynode *vi = cm_sch_lookup(ei, "id");

		if (c->types[i].id == NULL || vi == NULL)
			continue;
		for (j = 0, ej = node->first; j < i; j++, ej = ej->next) {
			const cm_ynode *vj = cm_sch_lookup(ej, "id");
			char q[300];

			if (c->types[j].id == NULL || vj == NULL ||
			    strcmp(c->types[i].id, c->types[j].id) != 0)
				continue;
			cm_sch_error(ctx, vi, "id", "duplicate newsletter id "
			    "'%s' (first defined at line %u)",
			    cm_errlist_quote(q, sizeof(q), c->types[i].id),
			    vj->line);
			break;
		}
	}
}

/* Some mail must be in scope. */
void
cm_policy_check_scope(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base)
{
	struct conf *c = base;

	(void)it;
	if (node != NULL && node->kind != CM_YN_MAP)
		return;
	if (!c->scope.authenticated && c->scope.nnetworks == 0 &&
	    c->scope.ndaemon_names == 0 &&
	    c->scope.nnon_smtp_daemon_names == 0 && node != NULL)
		cm_sch_error(ctx, node, "scope", "expected at least one of "
		    "authenticated: true, networks or daemon_names, got none "
		    "(no mail would be checked)");
}

/* The log and dsn sections take effect only when present in the file. */
void
cm_policy_check_present(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base)
{
	struct conf *c = base;

	(void)ctx;
	if (strcmp(it->name, "log") == 0)
		c->log.present = node != NULL;
	else if (strcmp(it->name, "policy") == 0)
		c->policy.present = node != NULL;
	else
		c->dsn.present = node != NULL;
}

/* dsn: present, and the back-off grows from retry_delay to max_delay. */
void
cm_policy_check_dsn(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base)
{
	const struct dsn_conf *d = &((struct conf *)base)->dsn;
	const cm_ynode *max = cm_sch_lookup(node, "max_delay");
	const cm_ynode *first = cm_sch_lookup(node, "retry_delay");
	char q[300];

	cm_policy_check_present(ctx, it, node, base);
	if (d->max_delay >= d->retry_delay)
		return;
	if (max != NULL)
		cm_sch_error(ctx, max, "max_delay", "expected a duration not "
		    "shorter than retry_delay, got '%s'",
		    cm_errlist_quote(q, sizeof(q), max->str));
	else if (first != NULL)
		cm_sch_error(ctx, first, "retry_delay", "expected a duration "
		    "not longer than max_delay (default 1h), got '%s'",
		    cm_errlist_quote(q, sizeof(q), first->str));
}

/* A template compiles (no CR/LF, known placeholders, '%' escaped). */
void
cm_policy_check_tmpl(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base)
{
	const char *text = *(const char **)((char *)base + it->off);
	cm_tmpl *t = NULL;
	size_t off = 0;
	cm_status st;

	if (node == NULL || text == NULL)
		return;
	st = cm_tmpl_compile(text, &t, &off);
	cm_tmpl_free(t);
	if (st == CM_ENOMEM) {
		ctx->oom = true;
	} else if (st != CM_OK) {
		char q[300];

		cm_sch_error(ctx, node, it->name, "expected one line of text "
		    "with placeholders %%{rcpt}, %%{type}, %%{name}, %%{reason}, "
		    "%%{removed}, %%{kept}, %%{mode}, %%{sender}, %%{queue_id}, "
		    "%%{campaign}, %%{host} and %%%% for %%, got '%s' (at "
		    "character %zu)", cm_errlist_quote(q, sizeof(q), text), off + 1);
	}
}