/*
 * upstream_conf.c - the upstream: section (policy.h): its check and its
 * accessors.
 */
#include <stdbool.h>

#include "../core/outbox.h"
#include "errlist.h"
#include "policy.h"
#include "policy_int.h"

/* upstream: present, and a node name the shared store accepts. */
void
cm_policy_check_upstream(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base)
{
	struct upstream_conf *u = &((struct conf *)base)->upstream;
	const cm_ynode *n;
	char q[300];

	(void)it;
	u->present = node != NULL;
	if (node == NULL || u->node == NULL || cm_outbox_node_valid(u->node))
		return;
	if ((n = cm_sch_lookup(node, "node")) != NULL)
		cm_sch_error(ctx, n, "node", "expected a node name "
		    "([A-Za-z0-9._-], 1 to 64 characters), got '%s'",
		    cm_errlist_quote(q, sizeof(q), n->str));
}

const char *
cm_policy_upstream_conninfo(const cm_policy *p)
{
	return p->c.upstream.present ? p->c.upstream.conninfo : NULL;
}

const char *
cm_policy_upstream_password_file(const cm_policy *p)
{
	return p->c.upstream.present ? p->c.upstream.password_file : NULL;
}

const char *
cm_policy_upstream_node(const cm_policy *p)
{
	return p->c.upstream.present ? p->c.upstream.node : NULL;
}

int64_t
cm_policy_upstream_poll(const cm_policy *p)
{
	return p->c.upstream.poll_interval;
}
