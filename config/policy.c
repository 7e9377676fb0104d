/*
 * policy.c - the policy object: its accessors and the scope test.
 *
 * A cm_policy is built by policy_load.c and never modified; the
 * newsletter types and their rules are in ntype.c, the schema in
 * policy_schema.c (see policy_int.h for the whole module).
 */
#include <string.h>

#include "policy_int.h"

const cm_links *
cm_policy_links(const cm_policy *p)	/* links.h */
{
	return &p->c.links;
}

static const char *
nonempty(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

const char *
cm_policy_socket(const cm_policy *p)
{
	return p->c.milter.socket;
}

unsigned
cm_policy_socket_mode(const cm_policy *p)
{
	return p->c.milter.socket_mode;
}

const char *
cm_policy_socket_group(const cm_policy *p)
{
	return nonempty(p->c.milter.socket_group);
}

const char *
cm_policy_user(const cm_policy *p)
{
	return nonempty(p->c.milter.user);
}

const char *
cm_policy_group(const cm_policy *p)
{
	return nonempty(p->c.milter.group);
}

cm_mode
cm_policy_mode(const cm_policy *p)
{
	return (cm_mode)p->c.milter.mode;
}

cm_on_error
cm_policy_on_error(const cm_policy *p)
{
	return (cm_on_error)p->c.milter.on_error;
}

cm_mail_reply
cm_policy_mail_reply(const cm_policy *p)
{
	return (cm_mail_reply)p->c.milter.mail_reply;
}

const char *
cm_policy_db_path(const cm_policy *p)
{
	return p->c.database.path;
}

size_t
cm_policy_db_map_size(const cm_policy *p)
{
	return p->c.database.map_size;
}

unsigned
cm_policy_db_max_readers(const cm_policy *p)
{
	return p->c.database.max_readers;
}

int64_t
cm_policy_db_clock_skew(const cm_policy *p)
{
	return p->c.database.clock_skew;
}

const cm_addr_opts *
cm_policy_addr_opts(const cm_policy *p)
{
	return &p->addr;
}

const char *
cm_policy_log_path(const cm_policy *p)
{
	return p->c.log.present ? p->c.log.path : NULL;
}

unsigned
cm_policy_log_retention_days(const cm_policy *p)
{
	return p->c.log.retention_days;
}

bool
cm_policy_log_hash_recipients(const cm_policy *p)
{
	return p->c.log.hash_recipients;
}

const char *
cm_policy_log_key_file(const cm_policy *p)
{
	return p->log_key_file;
}

const char *
cm_policy_log_campaign_header(const cm_policy *p)
{
	return p->c.log.campaign_header;
}

bool
cm_policy_dsn_enabled(const cm_policy *p)
{
	return p->c.dsn.present && p->c.dsn.enabled;
}

const char *
cm_policy_dsn_target(const cm_policy *p)
{
	return p->c.dsn.target;
}

const char *
cm_policy_dsn_spool(const cm_policy *p)
{
	return p->c.dsn.spool;
}

unsigned
cm_policy_dsn_attempts(const cm_policy *p)
{
	return p->c.dsn.attempts;
}

int64_t
cm_policy_dsn_retry_delay(const cm_policy *p)
{
	return p->c.dsn.retry_delay;
}

int64_t
cm_policy_dsn_max_delay(const cm_policy *p)
{
	return p->c.dsn.max_delay;
}

int64_t
cm_policy_dsn_timeout(const cm_policy *p)
{
	return p->c.dsn.timeout;
}

const char *
cm_policy_dsn_reporting_mta(const cm_policy *p)
{
	return nonempty(p->c.dsn.reporting_mta);
}

const cm_tmpl *
cm_policy_tmpl_reply(const cm_policy *p)
{
	return p->tmpl[TMPL_REPLY];
}

const cm_tmpl *
cm_policy_tmpl_trace(const cm_policy *p)
{
	return p->tmpl[TMPL_TRACE];
}

const cm_tmpl *
cm_policy_tmpl_dsn_text(const cm_policy *p)
{
	return p->tmpl[TMPL_DSN_TEXT];
}

const cm_tmpl *
cm_policy_tmpl_dsn_rcpt(const cm_policy *p)
{
	return p->tmpl[TMPL_DSN_RCPT];
}

cm_bulk_action
cm_policy_unclassified_bulk(const cm_policy *p)
{
	return (cm_bulk_action)p->c.unclassified_bulk;
}

cm_multi_action
cm_policy_multiple_types(const cm_policy *p)
{
	return (cm_multi_action)p->c.multiple_types;
}

bool
cm_policy_has_header_rules(const cm_policy *p)
{
	return p->header_rules;
}

bool
cm_policy_non_smtp_daemon(const cm_policy *p, const char *daemon_name)
{
	const struct scope_conf *s = &p->c.scope;

	if (daemon_name == NULL)
		return false;
	for (size_t i = 0; i < s->nnon_smtp_daemon_names; i++)
		if (strcmp(s->non_smtp_daemon_names[i], daemon_name) == 0)
			return true;
	return false;
}


bool
cm_policy_in_scope(const cm_policy *p, const struct sockaddr *client,
    const char *daemon_name, bool authenticated)
{
	const struct scope_conf *s = &p->c.scope;

	if (authenticated && s->authenticated)
		return true;
	if (client != NULL)
		for (size_t i = 0; i < s->nnetworks; i++)
			if (cm_cidr_match(&s->networks[i], client))
				return true;
	if (daemon_name != NULL)
		for (size_t i = 0; i < s->ndaemon_names; i++)
			if (strcmp(s->daemon_names[i], daemon_name) == 0)
				return true;
	return cm_policy_non_smtp_daemon(p, daemon_name);
}

bool
cm_policy_pd_present(const cm_policy *p)
{
	return p->c.policy.present;
}

const char *
cm_policy_pd_socket(const cm_policy *p)
{
	return p->c.policy.present ? p->c.policy.socket : NULL;
}

unsigned
cm_policy_pd_socket_mode(const cm_policy *p)
{
	return p->c.policy.socket_mode;
}

const char *
cm_policy_pd_socket_group(const cm_policy *p)
{
	return nonempty(p->c.policy.socket_group);
}

unsigned
cm_policy_pd_max_connections(const cm_policy *p)
{
	return p->c.policy.max_connections;
}

int64_t
cm_policy_pd_idle_timeout(const cm_policy *p)
{
	return p->c.policy.idle_timeout;
}

bool
cm_policy_pd_decides_envelope(const cm_policy *p)
{
	return p->c.policy.present && p->c.policy.decides_envelope_types;
}

const char *
cm_policy_pd_stamp(const cm_policy *p)
{
	return p->c.policy.stamp;
}

const char *
cm_policy_digest(const cm_policy *p)
{
	return p->digest;
}

bool
cm_policy_scope_has_daemon_names(const cm_policy *p)
{
	return p->c.scope.ndaemon_names > 0;
}
