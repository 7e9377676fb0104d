/*
 * policy_schema.c - the schema of the consent-milter YAML file, as data.
 *
 * These tables are the single description of the file
 * (examples/consent-milter.yaml shows every key): for each key its type,
 * bounds, default and where its value is stored in the structs of
 * policy_int.h.  The generic engine (schema.c) applies them and words
 * every message; what one value alone cannot express is checked by the
 * callbacks of policy_check.c the tables name.  No code here.
 */
#include <stddef.h>
#include <stdint.h>

#include "../core/tmpl.h"
#include "policy_int.h"

static const cm_sch_enum mode_enum[] = {
	{ "enforce", CM_MODE_ENFORCE }, { "monitor", CM_MODE_MONITOR },
	{ NULL, 0 }
};
static const cm_sch_enum on_error_enum[] = {
	{ "tempfail", CM_ONERR_TEMPFAIL }, { "accept", CM_ONERR_ACCEPT },
	{ "reject", CM_ONERR_REJECT }, { NULL, 0 }
};
static const cm_sch_enum mail_reply_enum[] = {
	{ "auto", CM_MAIL_REPLY_AUTO }, { "mail", CM_MAIL_REPLY_MAIL },
	{ "rcpt", CM_MAIL_REPLY_RCPT }, { NULL, 0 }
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
	{ .name = "mail_reply", .type = CM_SCH_ENUM, .enums = mail_reply_enum,
	  .def = "auto", .off = S(struct milter_conf, mail_reply) },
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

/* policy: consent-policy, the Postfix policy-delegation server */
static const cm_sch_item policy_items[] = {
	{ .name = "socket", .type = CM_SCH_SOCKET, .flags = CM_SCH_REQUIRED,
	  .off = S(struct pd_conf, socket) },
	{ .name = "socket_mode", .type = CM_SCH_MODE, .def = "0660",
	  .off = S(struct pd_conf, socket_mode) },
	{ .name = "socket_group", .type = CM_SCH_STR, .max = 64,
	  .off = S(struct pd_conf, socket_group) },
	{ .name = "max_connections", .type = CM_SCH_UINT, .def = "1024",
	  .min = 1, .max = 10000, .off = S(struct pd_conf, max_connections) },
	{ .name = "idle_timeout", .type = CM_SCH_DURATION, .def = "10m",
	  .min = 1, .max = 86400, .off = S(struct pd_conf, idle_timeout) },
	{ .name = "decides_envelope_types", .type = CM_SCH_BOOL,
	  .def = "false", .off = S(struct pd_conf, decides_envelope_types) },
	{ .name = "stamp", .type = CM_SCH_PATH,
	  .def = "/run/consent-policy/stamp",
	  .off = S(struct pd_conf, stamp) },
	{ .name = NULL }
};

static const cm_sch_item templates_items[] = {
	{ .name = "reply", .type = CM_SCH_STR, .max = CM_TMPL_MAX,
	  .def = CM_TMPL_DEFAULT_REPLY, .check = cm_policy_check_tmpl,
	  .off = S(struct tmpl_conf, text[TMPL_REPLY]) },
	{ .name = "trace_header", .type = CM_SCH_STR, .max = CM_TMPL_MAX,
	  .def = CM_TMPL_DEFAULT_TRACE, .check = cm_policy_check_tmpl,
	  .off = S(struct tmpl_conf, text[TMPL_TRACE]) },
	{ .name = "dsn_text", .type = CM_SCH_STR, .max = CM_TMPL_MAX,
	  .def = CM_TMPL_DEFAULT_DSN_TEXT, .check = cm_policy_check_tmpl,
	  .off = S(struct tmpl_conf, text[TMPL_DSN_TEXT]) },
	{ .name = "dsn_recipient", .type = CM_SCH_STR, .max = CM_TMPL_MAX,
	  .def = CM_TMPL_DEFAULT_DSN_RCPT, .check = cm_policy_check_tmpl,
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
	.check = cm_policy_check_rule
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
	.check = cm_policy_check_type
};

static const cm_sch_item upstream_items[] = {
	{ .name = "conninfo", .type = CM_SCH_STR,
	  .flags = CM_SCH_REQUIRED | CM_SCH_NONEMPTY, .max = 4096,
	  .off = S(struct upstream_conf, conninfo) },
	{ .name = "password_file", .type = CM_SCH_PATH,
	  .off = S(struct upstream_conf, password_file) },
	{ .name = "node", .type = CM_SCH_STR,
	  .flags = CM_SCH_REQUIRED | CM_SCH_NONEMPTY, .max = 64,
	  .off = S(struct upstream_conf, node) },
	{ .name = "poll_interval", .type = CM_SCH_DURATION, .def = "5s",
	  .min = 1, .max = 3600, .off = S(struct upstream_conf,
	  poll_interval) },
	{ .name = NULL }
};

const cm_sch_item cm_policy_schema[] = {
	{ .name = "milter", .type = CM_SCH_MAP, .flags = CM_SCH_REQUIRED,
	  .sub = milter_items, .off = S(struct conf, milter) },
	{ .name = "database", .type = CM_SCH_MAP, .flags = CM_SCH_REQUIRED,
	  .sub = database_items, .off = S(struct conf, database) },
	{ .name = "scope", .type = CM_SCH_MAP, .sub = scope_items,
	  .off = S(struct conf, scope), .check = cm_policy_check_scope },
	{ .name = "addresses", .type = CM_SCH_MAP, .sub = addresses_items,
	  .off = S(struct conf, addresses) },
	{ .name = "unclassified_bulk", .type = CM_SCH_ENUM,
	  .enums = bulk_enum, .def = "accept",
	  .off = S(struct conf, unclassified_bulk) },
	{ .name = "multiple_types", .type = CM_SCH_ENUM,
	  .enums = multi_enum, .def = "all",
	  .off = S(struct conf, multiple_types) },
	{ .name = "log", .type = CM_SCH_MAP, .sub = log_items,
	  .off = S(struct conf, log), .check = cm_policy_check_present },
	{ .name = "dsn", .type = CM_SCH_MAP, .sub = dsn_items,
	  .off = S(struct conf, dsn), .check = cm_policy_check_dsn },
	{ .name = "templates", .type = CM_SCH_MAP, .sub = templates_items,
	  .off = S(struct conf, templates) },
	{ .name = "links", .type = CM_SCH_MAP, .sub = cm_links_items,
	  .off = S(struct conf, links), .check = cm_links_check },
	{ .name = "upstream", .type = CM_SCH_MAP, .sub = upstream_items,
	  .off = S(struct conf, upstream),
	  .check = cm_policy_check_upstream },
	{ .name = "newsletters", .type = CM_SCH_LIST, .flags =
	  CM_SCH_REQUIRED | CM_SCH_CHECK_ALWAYS, .elem = &type_elem,
	  .size = sizeof(struct cm_ntype), .max = 1000, .noun = "type",
	  .off = S(struct conf, types), .count_off = S(struct conf, ntypes),
	  .check = cm_policy_check_types },
	{ .name = "policy", .type = CM_SCH_MAP, .sub = policy_items,
	  .off = S(struct conf, policy), .check = cm_policy_check_present },
	{ .name = NULL }
};

#undef S

const char cm_policy_schema_keys[] = "milter, database, scope, addresses, "
    "unclassified_bulk, multiple_types, log, dsn, templates, links, "
    "upstream, newsletters, policy";
