/*
 * policy.c - the consent-milter policy: schema table, loading, accessors
 * and message classification.
 *
 * The schema below is the single description of the YAML file
 * (examples/consent-milter.yaml shows every key).  Message wording is
 * documented in schema.h; checks that span several values live in the
 * check callbacks here and word their messages the same way:
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
 *
 * File-level messages (no key):
 *   FILE:1:1: cannot read the file: STRERROR
 *   FILE:1:1: file too large (more than 1048576 bytes)
 *   FILE:1:1: empty file, expected a mapping with the keys milter, ...
 *   FILE:L:C: expected a mapping at the top level, got a sequence
 *   FILE:L:C: LIBYAML PROBLEM (LIBYAML CONTEXT at line L2, column C2)
 *             for YAML syntax errors; the part in parentheses only when
 *             libyaml gives a context
 * and from the YAML reader (ytree.c):
 *   FILE:L:C: key 'k': duplicate key (first defined at line N, column M)
 *   FILE:L:C: YAML anchors are not supported: 'a'
 *   FILE:L:C: YAML aliases are not supported: 'a'
 *   FILE:L:C: YAML tags are not supported: 'tag:yaml.org,2002:str'
 *   FILE:L:C: only one YAML document is supported
 *   FILE:L:C: NUL characters are not supported in a value
 *   FILE:L:C: nesting too deep (at most 32 levels)
 *   FILE:L:C: too many keys in a mapping (at most 1000)
 *   FILE:L:C: too many entries in a sequence (at most 10000)
 * All messages of one load are sorted by line and column.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../core/listid.h"
#include "arena.h"
#include "cidr.h"
#include "errlist.h"
#include "glob.h"
#include "policy.h"
#include "schema.h"
#include "links.h"	/* links: section (one-click unsubscribe) */
#include "ytree.h"

#define FILE_MAX (1024 * 1024)

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
	int kind;		/* enum rule_kind, set by check_rule */
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

struct conf {
	struct milter_conf milter;
	struct db_conf database;
	struct scope_conf scope;
	struct addr_conf addresses;
	struct log_conf log;
	struct dsn_conf dsn;
	struct tmpl_conf templates;
	cm_links links;		/* links.c */
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
};

/* ---- schema ---------------------------------------------------------- */

static const cm_sch_enum mode_enum[] = {
	{ "enforce", CM_MODE_ENFORCE }, { "monitor", CM_MODE_MONITOR },
	{ NULL, 0 }
};
static const cm_sch_enum on_error_enum[] = {
	{ "tempfail", CM_ONERR_TEMPFAIL }, { "accept", CM_ONERR_ACCEPT },
	{ "reject", CM_ONERR_REJECT }, { NULL, 0 }
};
static const cm_sch_enum bulk_enum[] = {
	{ "accept", CM_BULK_ACCEPT }, { "reject", CM_BULK_REJECT },
	{ NULL, 0 }
};
static const cm_sch_enum multi_enum[] = {
	{ "all", CM_MULTI_ALL }, { "refuse", CM_MULTI_REFUSE }, { NULL, 0 }
};
static const cm_sch_enum route_enum[] = {
	{ "resolve", CM_ADDR_ROUTE_RESOLVE }, { "refuse", CM_ADDR_ROUTE_REFUSE },
	{ NULL, 0 }
};
static const cm_sch_enum consent_enum[] = {
	{ "opt-in", CM_REQ_OPT_IN }, { "double-opt-in", CM_REQ_DOUBLE_OPT_IN },
	{ "no-objection", CM_REQ_NO_OBJECTION }, { NULL, 0 }
};

static void check_rule(cm_sch_ctx *, const cm_sch_item *, const cm_ynode *,
    void *);
static void check_type(cm_sch_ctx *, const cm_sch_item *, const cm_ynode *,
    void *);
static void check_types(cm_sch_ctx *, const cm_sch_item *, const cm_ynode *,
    void *);
static void check_scope(cm_sch_ctx *, const cm_sch_item *, const cm_ynode *,
    void *);
static void check_present(cm_sch_ctx *, const cm_sch_item *, const cm_ynode *,
    void *);
static void check_tmpl(cm_sch_ctx *, const cm_sch_item *, const cm_ynode *,
    void *);
static void check_dsn(cm_sch_ctx *, const cm_sch_item *, const cm_ynode *,
    void *);

#define S(type_, field) offsetof(type_, field)

static const cm_sch_item milter_items[] = {
	{ .name = "socket", .type = CM_SCH_SOCKET, .flags = CM_SCH_REQUIRED,
	  .off = S(struct milter_conf, socket) },
	{ .name = "socket_mode", .type = CM_SCH_MODE, .def = "0660",
	  .off = S(struct milter_conf, socket_mode) },
	{ .name = "socket_group", .type = CM_SCH_STR, .max = 64,
	  .off = S(struct milter_conf, socket_group) },
	{ .name = "user", .type = CM_SCH_STR, .max = 64,
	  .off = S(struct milter_conf, user) },
	{ .name = "group", .type = CM_SCH_STR, .max = 64,
	  .off = S(struct milter_conf, group) },
	{ .name = "mode", .type = CM_SCH_ENUM, .enums = mode_enum,
	  .def = "enforce", .off = S(struct milter_conf, mode) },
	{ .name = "on_error", .type = CM_SCH_ENUM, .enums = on_error_enum,
	  .def = "tempfail", .off = S(struct milter_conf, on_error) },
	{ .name = NULL }
};

static const cm_sch_item database_items[] = {
	{ .name = "path", .type = CM_SCH_PATH, .flags = CM_SCH_REQUIRED,
	  .off = S(struct db_conf, path) },
	{ .name = "map_size", .type = CM_SCH_SIZE, .def = "64MiB",
	  .min = 0, .max = (int64_t)1 << 44,
	  .off = S(struct db_conf, map_size) },
	{ .name = "max_readers", .type = CM_SCH_UINT, .def = "510",
	  .min = 1, .max = 65535, .off = S(struct db_conf, max_readers) },
	{ .name = "clock_skew", .type = CM_SCH_DURATION, .def = "5m",
	  .min = 1, .max = INT64_C(36500) * 86400,
	  .off = S(struct db_conf, clock_skew) },
	{ .name = NULL }
};

static const cm_sch_item network_elem = {
	.name = "networks", .type = CM_SCH_CIDR
};
static const cm_sch_item daemon_name_elem = {
	.name = "daemon_names", .type = CM_SCH_STR, .flags = CM_SCH_NONEMPTY,
	.max = 64
};

static const cm_sch_item scope_items[] = {
	{ .name = "authenticated", .type = CM_SCH_BOOL, .def = "true",
	  .off = S(struct scope_conf, authenticated) },
	{ .name = "networks", .type = CM_SCH_LIST, .elem = &network_elem,
	  .size = sizeof(cm_cidr), .max = 1000, .noun = "network",
	  .off = S(struct scope_conf, networks),
	  .count_off = S(struct scope_conf, nnetworks) },
	{ .name = "daemon_names", .type = CM_SCH_LIST,
	  .elem = &daemon_name_elem, .size = sizeof(const char *),
	  .max = 100, .noun = "name",
	  .off = S(struct scope_conf, daemon_names),
	  .count_off = S(struct scope_conf, ndaemon_names) },
	{ .name = "non_smtp_daemon_names", .type = CM_SCH_LIST,
	  .elem = &daemon_name_elem, .size = sizeof(const char *),
	  .max = 100, .noun = "name",
	  .off = S(struct scope_conf, non_smtp_daemon_names),
	  .count_off = S(struct scope_conf, nnon_smtp_daemon_names) },
	{ .name = NULL }
};

static const cm_sch_item addresses_items[] = {
	{ .name = "fold_local_case", .type = CM_SCH_BOOL, .def = "true",
	  .off = S(struct addr_conf, fold_local_case) },
	{ .name = "subaddress_separator", .type = CM_SCH_CHAR, .def = "+",
	  .off = S(struct addr_conf, subaddress_separator) },
	{ .name = "unicode_local_part", .type = CM_SCH_BOOL, .def = "true",
	  .off = S(struct addr_conf, unicode_local_part) },
	{ .name = "routed_local_part", .type = CM_SCH_ENUM, .enums = route_enum,
	  .def = "resolve", .off = S(struct addr_conf, routed_local_part) },
	{ .name = NULL }
};

static const cm_sch_item log_items[] = {
	{ .name = "path", .type = CM_SCH_PATH, .flags = CM_SCH_REQUIRED,
	  .off = S(struct log_conf, path) },
	{ .name = "retention_days", .type = CM_SCH_UINT, .def = "90",
	  .min = 0, .max = 36500, .off = S(struct log_conf, retention_days) },
	{ .name = "hash_recipients", .type = CM_SCH_BOOL, .def = "true",
	  .off = S(struct log_conf, hash_recipients) },
	{ .name = "key_file", .type = CM_SCH_PATH,
	  .off = S(struct log_conf, key_file) },
	{ .name = "campaign_header", .type = CM_SCH_HDRNAME,
	  .def = "X-Campaign-ID", .off = S(struct log_conf, campaign_header) },
	{ .name = NULL }
};

static const cm_sch_item dsn_items[] = {
	{ .name = "enabled", .type = CM_SCH_BOOL, .def = "true",
	  .off = S(struct dsn_conf, enabled) },
	{ .name = "target", .type = CM_SCH_SOCKET, .def = "inet:25@127.0.0.1",
	  .off = S(struct dsn_conf, target) },
	{ .name = "spool", .type = CM_SCH_PATH,
	  .def = "/var/spool/consent-milter/dsn",
	  .off = S(struct dsn_conf, spool) },
	{ .name = "attempts", .type = CM_SCH_UINT, .def = "8", .min = 1,
	  .max = 100, .off = S(struct dsn_conf, attempts) },
	{ .name = "retry_delay", .type = CM_SCH_DURATION, .def = "1m",
	  .min = 1, .max = 86400, .off = S(struct dsn_conf, retry_delay) },
	{ .name = "max_delay", .type = CM_SCH_DURATION, .def = "1h",
	  .min = 1, .max = 7 * 86400, .off = S(struct dsn_conf, max_delay) },
	{ .name = "timeout", .type = CM_SCH_DURATION, .def = "30s",
	  .min = 1, .max = 3600, .off = S(struct dsn_conf, timeout) },
	{ .name = "reporting_mta", .type = CM_SCH_STR, .max = 255,
	  .off = S(struct dsn_conf, reporting_mta) },
	{ .name = NULL }
};

static const cm_sch_item templates_items[] = {
	{ .name = "reply", .type = CM_SCH_STR, .max = CM_TMPL_MAX,
	  .def = CM_TMPL_DEFAULT_REPLY, .check = check_tmpl,
	  .off = S(struct tmpl_conf, text[TMPL_REPLY]) },
	{ .name = "trace_header", .type = CM_SCH_STR, .max = CM_TMPL_MAX,
	  .def = CM_TMPL_DEFAULT_TRACE, .check = check_tmpl,
	  .off = S(struct tmpl_conf, text[TMPL_TRACE]) },
	{ .name = "dsn_text", .type = CM_SCH_STR, .max = CM_TMPL_MAX,
	  .def = CM_TMPL_DEFAULT_DSN_TEXT, .check = check_tmpl,
	  .off = S(struct tmpl_conf, text[TMPL_DSN_TEXT]) },
	{ .name = "dsn_recipient", .type = CM_SCH_STR, .max = CM_TMPL_MAX,
	  .def = CM_TMPL_DEFAULT_DSN_RCPT, .check = check_tmpl,
	  .off = S(struct tmpl_conf, text[TMPL_DSN_RCPT]) },
	{ .name = NULL }
};

static const cm_sch_item header_items[] = {
	{ .name = "name", .type = CM_SCH_HDRNAME, .flags = CM_SCH_REQUIRED,
	  .off = S(struct header_rule, name) },
	{ .name = "value", .type = CM_SCH_GLOB, .flags = CM_SCH_REQUIRED,
	  .off = S(struct header_rule, value) },
	{ .name = NULL }
};

static const cm_sch_item rule_items[] = {
	{ .name = "envelope_sender", .type = CM_SCH_GLOB,
	  .off = S(struct rule, envelope_sender) },
	{ .name = "sasl_login", .type = CM_SCH_STR, .flags = CM_SCH_NONEMPTY,
	  .max = 256, .off = S(struct rule, sasl_login) },
	{ .name = "header", .type = CM_SCH_MAP, .sub = header_items,
	  .off = S(struct rule, header) },
	{ .name = "list_id", .type = CM_SCH_GLOB,
	  .off = S(struct rule, list_id) },
	{ .name = NULL }
};

static const cm_sch_item rule_elem = {
	.name = "match", .type = CM_SCH_MAP, .sub = rule_items,
	.check = check_rule
};

static const cm_sch_item type_items[] = {
	{ .name = "id", .type = CM_SCH_ID, .flags = CM_SCH_REQUIRED,
	  .off = S(struct cm_ntype, id) },
	{ .name = "name", .type = CM_SCH_STR,
	  .flags = CM_SCH_REQUIRED | CM_SCH_NONEMPTY, .max = 200,
	  .off = S(struct cm_ntype, name) },
	{ .name = "consent", .type = CM_SCH_ENUM, .flags = CM_SCH_REQUIRED,
	  .enums = consent_enum, .off = S(struct cm_ntype, consent) },
	{ .name = "valid_for", .type = CM_SCH_DURATION, .min = 1,
	  .max = (int64_t)36500 * 86400,
	  .off = S(struct cm_ntype, valid_for) },
	{ .name = "match", .type = CM_SCH_LIST, .flags = CM_SCH_REQUIRED,
	  .elem = &rule_elem, .size = sizeof(struct rule), .min = 1,
	  .max = 100, .noun = "rule",
	  .off = S(struct cm_ntype, rules),
	  .count_off = S(struct cm_ntype, nrules) },
	{ .name = NULL }
};

static const cm_sch_item type_elem = {
	.name = "newsletters", .type = CM_SCH_MAP, .sub = type_items,
	.check = check_type
};

static const cm_sch_item top_items[] = {
	{ .name = "milter", .type = CM_SCH_MAP, .flags = CM_SCH_REQUIRED,
	  .sub = milter_items, .off = S(struct conf, milter) },
	{ .name = "database", .type = CM_SCH_MAP, .flags = CM_SCH_REQUIRED,
	  .sub = database_items, .off = S(struct conf, database) },
	{ .name = "scope", .type = CM_SCH_MAP, .sub = scope_items,
	  .off = S(struct conf, scope), .check = check_scope },
	{ .name = "addresses", .type = CM_SCH_MAP, .sub = addresses_items,
	  .off = S(struct conf, addresses) },
	{ .name = "unclassified_bulk", .type = CM_SCH_ENUM,
	  .enums = bulk_enum, .def = "accept",
	  .off = S(struct conf, unclassified_bulk) },
	{ .name = "multiple_types", .type = CM_SCH_ENUM,
	  .enums = multi_enum, .def = "all",
	  .off = S(struct conf, multiple_types) },
	{ .name = "log", .type = CM_SCH_MAP, .sub = log_items,
	  .off = S(struct conf, log), .check = check_present },
	{ .name = "dsn", .type = CM_SCH_MAP, .sub = dsn_items,
	  .off = S(struct conf, dsn), .check = check_dsn },
	{ .name = "templates", .type = CM_SCH_MAP, .sub = templates_items,
	  .off = S(struct conf, templates) },
	{ .name = "links", .type = CM_SCH_MAP, .sub = cm_links_items,
	  .off = S(struct conf, links), .check = cm_links_check },
	{ .name = "newsletters", .type = CM_SCH_LIST, .flags =
	  CM_SCH_REQUIRED | CM_SCH_CHECK_ALWAYS, .elem = &type_elem,
	  .size = sizeof(struct cm_ntype), .max = 1000, .noun = "type",
	  .off = S(struct conf, types), .count_off = S(struct conf, ntypes),
	  .check = check_types },
	{ .name = NULL }
};

#undef S

/* ---- checks across values ------------------------------------------- */

static const char *const rule_kinds[] = {
	"envelope_sender", "sasl_login", "header", "list_id"
};

/* A rule has exactly one kind. */
static void
check_rule(cm_sch_ctx *ctx, const cm_sch_item *it, const cm_ynode *node,
    void *base)
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
static void
check_type(cm_sch_ctx *ctx, const cm_sch_item *it, const cm_ynode *node,
    void *base)
{
	struct cm_ntype *t = base;

	(void)it;
	if (t->consent == CM_REQ_NO_OBJECTION && t->valid_for != 0) {
		const cm_ynode *v = cm_sch_lookup(node, "valid_for");
		char q[300];

		cm_sch_error(ctx, v, "valid_for", "expected no validity "
		    "period with consent no-objection (only a withdrawal "
		    "denies), got '%s'", v != NULL ?
		    cm_sch_quote(q, sizeof(q), v->str) : "");
	}
	t->tp.id = t->id;
	t->tp.requirement = (cm_requirement)t->consent;
	t->tp.validity_us = t->valid_for;
}

/* Newsletter ids are unique. */
static void
check_types(cm_sch_ctx *ctx, const cm_sch_item *it, const cm_ynode *node,
    void *base)
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
			    cm_sch_quote(q, sizeof(q), c->types[i].id),
			    vj->line);
			break;
		}
	}
}

/* Some mail must be in scope. */
static void
check_scope(cm_sch_ctx *ctx, const cm_sch_item *it, const cm_ynode *node,
    void *base)
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
static void
check_present(cm_sch_ctx *ctx, const cm_sch_item *it, const cm_ynode *node,
    void *base)
{
	struct conf *c = base;

	(void)ctx;
	if (strcmp(it->name, "log") == 0)
		c->log.present = node != NULL;
	else
		c->dsn.present = node != NULL;
}

/* dsn: present, and the back-off grows from retry_delay to max_delay. */
static void
check_dsn(cm_sch_ctx *ctx, const cm_sch_item *it, const cm_ynode *node,
    void *base)
{
	const struct dsn_conf *d = &((struct conf *)base)->dsn;
	const cm_ynode *max = cm_sch_lookup(node, "max_delay");
	const cm_ynode *first = cm_sch_lookup(node, "retry_delay");
	char q[300];

	check_present(ctx, it, node, base);
	if (d->max_delay >= d->retry_delay)
		return;
	if (max != NULL)
		cm_sch_error(ctx, max, "max_delay", "expected a duration not "
		    "shorter than retry_delay, got '%s'",
		    cm_sch_quote(q, sizeof(q), max->str));
	else if (first != NULL)
		cm_sch_error(ctx, first, "retry_delay", "expected a duration "
		    "not longer than max_delay (default 1h), got '%s'",
		    cm_sch_quote(q, sizeof(q), first->str));
}

/* A template compiles (no CR/LF, known placeholders, '%' escaped). */
static void
check_tmpl(cm_sch_ctx *ctx, const cm_sch_item *it, const cm_ynode *node,
    void *base)
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
		    "character %zu)", cm_sch_quote(q, sizeof(q), text), off + 1);
	}
}

/* ---- loading ---------------------------------------------------------- */

/* Read PATH into a new buffer; CM_EIO with errno, CM_ETOOLONG, CM_ENOMEM. */
static cm_status
read_file(const char *path, char **out, size_t *outlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t len = 0, cap = 8192;
	char *buf;

	if (fd < 0)
		return CM_EIO;
	buf = malloc(cap);
	if (buf == NULL) {
		close(fd);
		return CM_ENOMEM;
	}
	for (;;) {
		ssize_t r;

		if (len == cap) {
			char *nb;

			if (cap > FILE_MAX) {
				free(buf);
				close(fd);
				return CM_ETOOLONG;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				close(fd);
				return CM_ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			free(buf);
			close(fd);
			errno = e;
			return CM_EIO;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len > FILE_MAX) {
		free(buf);
		return CM_ETOOLONG;
	}
	*out = buf;
	*outlen = len;
	return CM_OK;
}

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

/* Derived values of a valid configuration. */
static bool
finish(cm_policy *p)
{
	size_t cap = 0;
	bool bulk = p->c.unclassified_bulk == CM_BULK_REJECT;

	p->addr.fold_local_case = p->c.addresses.fold_local_case;
	p->addr.subaddr_sep = p->c.addresses.subaddress_separator;
	p->addr.local_octets = !p->c.addresses.unicode_local_part;
	p->addr.route_local =
	    (cm_addr_route)p->c.addresses.routed_local_part;
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
	if (p->c.log.present) {
		const char *kf = p->c.log.key_file;

		if (kf == NULL || *kf == '\0') {
			size_t n = strlen(p->c.database.path) + sizeof("/declog.key");
			char *d = cm_arena_alloc(p->arena, n);

			if (d == NULL)
				return false;
			snprintf(d, n, "%s%sdeclog.key", p->c.database.path,
			    p->c.database.path[strlen(p->c.database.path) - 1] ==
			    '/' ? "" : "/");
			kf = d;
		}
		p->log_key_file = kf;
	}
	for (int i = 0; i < NTMPL; i++)
		if (cm_tmpl_compile(p->c.templates.text[i], &p->tmpl[i], NULL) !=
		    CM_OK)
			return false;
	return true;
}

static const char top_keys[] = "milter, database, scope, addresses, "
    "unclassified_bulk, multiple_types, log, dsn, templates, links, "
    "newsletters";

cm_status
cm_policy_load(const char *path, cm_policy **out, cm_errlist *errs)
{
	cm_errlist *el = errs;
	cm_arena *tree = NULL;
	cm_policy *p = NULL;
	cm_ynode *root = NULL;
	char *buf = NULL;
	size_t len = 0, start, offered;
	cm_status st, ret;
	cm_sch_ctx ctx;

	*out = NULL;
	if (el == NULL && (el = cm_errlist_new()) == NULL)
		return CM_ENOMEM;
	start = cm_errlist_count(el);
	offered = cm_errlist_offered(el);

	st = read_file(path, &buf, &len);
	if (st != CM_OK) {
		if (st == CM_EIO) {
			int e = errno;

			ret = cm_errlist_add_at(el, 1, 1, "%s:1:1: cannot read "
			    "the file: %s", path, strerror(e)) == CM_OK ?
			    CM_EIO : CM_ENOMEM;
		} else if (st == CM_ETOOLONG) {
			ret = cm_errlist_add_at(el, 1, 1, "%s:1:1: file too "
			    "large (more than %d bytes)", path, FILE_MAX) ==
			    CM_OK ? CM_EINVAL : CM_ENOMEM;
		} else {
			ret = st;
		}
		goto done;
	}

	ret = CM_ENOMEM;
	if ((tree = cm_arena_new()) == NULL)
		goto done;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		goto done;
	if ((p->arena = cm_arena_new()) == NULL)
		goto done;

	st = cm_ytree_parse(buf, len, path, tree, el, &root);
	if (st == CM_ENOMEM)
		goto done;
	memset(&ctx, 0, sizeof(ctx));
	ctx.fname = path;
	ctx.arena = p->arena;
	ctx.errs = el;
	if (root == NULL && st == CM_OK) {
		cm_sch_error_at(&ctx, 1, 1, "empty file, expected a mapping "
		    "with the keys %s", top_keys);
	} else if (root != NULL && root->kind != CM_YN_MAP) {
		cm_sch_error_at(&ctx, root->line, root->col, "expected a "
		    "mapping with the keys %s at the top level, got %s",
		    top_keys, cm_ytree_kind_name(root));
	} else if (root != NULL) {
		cm_sch_apply(&ctx, top_items, root, &p->c);
	}
	if (ctx.oom)
		goto done;
	if (cm_errlist_offered(el) != offered) {
		ret = CM_EINVAL;
		goto done;
	}
	if (!finish(p))
		goto done;
	*out = p;
	p = NULL;
	ret = CM_OK;
done:
	cm_errlist_sort_from(el, start);
	if (ret != CM_OK && ret != CM_ENOMEM && cm_errlist_offered(el) ==
	    offered)
		ret = CM_ENOMEM;	/* an error that could not be recorded */
	cm_policy_free(p);
	cm_arena_free(tree);
	free(buf);
	if (el != errs)
		cm_errlist_free(el);
	return ret;
}

void
cm_policy_free(cm_policy *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < NTMPL; i++)
		cm_tmpl_free(p->tmpl[i]);
	cm_arena_free(p->arena);
	free(p);
}

/* ---- accessors -------------------------------------------------------- */

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

/* ---- classification --------------------------------------------------- */

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
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trim whitespace around the LEN bytes at *S. */
static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && is_ws(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_ws((*s)[*len - 1]))
		(*len)--;
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
		trim(&v, &len);
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
	trim(&v, &len);
	return (len == 4 && (strncasecmp(v, "bulk", 4) == 0 ||
	    strncasecmp(v, "list", 4) == 0 || strncasecmp(v, "junk", 4) == 0));
}
