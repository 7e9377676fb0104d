/*
 * policy_int.h - the inside of a cm_policy, shared by the files of the
 * policy module (prefix cm_policy_, cm_ntype_):
 *
 *   policy_schema.c  the YAML schema as pure data: tables of cm_sch_item
 *                    (schema.h) over the C structs below
 *   policy_check.c   the checks across values the tables name
 *   policy_load.c    reading the file, applying the schema, derived values
 *   policy.c         the policy object and its accessors, scope
 *   ntype.c          the newsletter types and their rules
 *
 * Not for use outside config/: everything else goes through policy.h.
 */
#ifndef CM_POLICY_INT_H
#define CM_POLICY_INT_H

#include "../core/pdstamp.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "cidr.h"
#include "links.h"	/* links: section (one-click unsubscribe) */
#include "policy.h"
#include "schema.h"

enum rule_kind { RULE_ENVELOPE = 1, RULE_SASL, RULE_HEADER, RULE_LIST_ID };

struct header_rule {
	const char *name;
	const char *value;
};

struct rule {
	const char *envelope_sender;
	const char *sasl_login;
	struct header_rule header;
	const char *list_id;
	int kind;		/* enum rule_kind, set by cm_policy_check_rule */
};

struct cm_ntype {
	const char *id;
	const char *name;
	int consent;		/* cm_requirement */
	int64_t valid_for;	/* microseconds, 0 = no expiry */
	struct rule *rules;
	size_t nrules;
	cm_type_policy tp;
};

struct milter_conf {
	const char *socket;
	unsigned socket_mode;
	const char *socket_group;
	const char *user;
	const char *group;
	int mode;
	int on_error;
	int mail_reply;		/* cm_mail_reply */
};

/* policy: the policy-delegation server consent-policy (policyd/) */
struct pd_conf {
	bool present;		/* the section is in the file */
	const char *socket;
	unsigned socket_mode;
	const char *socket_group;
	unsigned max_connections;
	int64_t idle_timeout;	/* microseconds */
	bool decides_envelope_types;
	const char *stamp;	/* the interlock's stamp file (core/pdstamp.h) */
};

struct db_conf {
	const char *path;
	size_t map_size;
	unsigned max_readers;
	int64_t clock_skew;
};

struct scope_conf {
	bool authenticated;
	cm_cidr *networks;
	size_t nnetworks;
	const char **daemon_names;
	size_t ndaemon_names;
	const char **non_smtp_daemon_names;
	size_t nnon_smtp_daemon_names;
};

struct addr_conf {
	bool fold_local_case;
	char subaddress_separator;
	bool unicode_local_part;
	int routed_local_part;
};

struct log_conf {
	bool present;		/* the section is in the file */
	const char *path;
	unsigned retention_days;
	bool hash_recipients;
	const char *key_file;
	const char *campaign_header;
};

struct dsn_conf {
	bool present;
	bool enabled;
	const char *target;
	const char *spool;
	unsigned attempts;
	int64_t retry_delay;
	int64_t max_delay;
	int64_t timeout;
	const char *reporting_mta;
};

enum { TMPL_REPLY, TMPL_TRACE, TMPL_DSN_TEXT, TMPL_DSN_RCPT, NTMPL };

struct tmpl_conf {
	const char *text[NTMPL];
};

/* upstream: the shared consent store (upstream_conf.c) */
struct upstream_conf {
	bool present;		/* the section is in the file */
	const char *conninfo;	/* libpq connection string */
	const char *password_file;
	const char *node;	/* this node's name */
	int64_t poll_interval;	/* microseconds */
};

struct conf {
	struct milter_conf milter;
	struct db_conf database;
	struct scope_conf scope;
	struct addr_conf addresses;
	struct log_conf log;
	struct dsn_conf dsn;
	struct pd_conf policy;
	struct tmpl_conf templates;
	cm_links links;		/* links.c */
	struct upstream_conf upstream;
	int unclassified_bulk;
	int multiple_types;
	struct cm_ntype *types;
	size_t ntypes;
};

struct cm_policy {
	cm_arena *arena;
	struct conf c;
	cm_addr_opts addr;
	bool needs_headers;
	bool header_rules;	/* some type has a header or list_id rule */
	const char **relevant;	/* header names the classification reads */
	size_t nrelevant;
	const char *log_key_file;	/* log.key_file or its default */
	cm_tmpl *tmpl[NTMPL];	/* compiled templates */
	char digest[CM_PDSTAMP_DIGEST_LEN + 1];	/* of the file's bytes */
};

/* The schema of the whole file (policy_schema.c): the items of the top
 * mapping, stored into a struct conf; and their names, for messages. */
extern const cm_sch_item cm_policy_schema[];
extern const char cm_policy_schema_keys[];

/*
 * The checks across values (policy_check.c), cm_sch_check_fn callbacks
 * named by the schema tables; each reports through cm_sch_error():
 *   _rule     a match rule has exactly one kind (sets rule.kind)
 *   _type     no validity period with no-objection; fills ntype.tp
 *   _types    newsletter ids are unique
 *   _scope    some mail is in scope
 *   _present  log:, dsn: and policy: take effect only when present in
 *             the file
 *   _dsn      _present, and retry_delay <= max_delay
 *   _tmpl     a template compiles
 */
void cm_policy_check_rule(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base);
void cm_policy_check_type(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base);
void cm_policy_check_types(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base);
void cm_policy_check_scope(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base);
void cm_policy_check_present(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base);
void cm_policy_check_dsn(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base);
/* upstream: present, and a valid node name (upstream_conf.c). */
void cm_policy_check_upstream(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base);
void cm_policy_check_tmpl(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base);

/*
 * Derive from the rules of a valid configuration (ntype.c):
 * P->needs_headers, P->header_rules and the header names the
 * classification reads (P->relevant, in P's arena).  False on out of
 * memory.
 */
bool cm_ntype_derive(cm_policy *p);

#endif
