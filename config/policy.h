/*
 * policy.h - the validated, immutable policy loaded from YAML
 * (prefix cm_policy_, cm_ntype_); the error list is errlist.h.
 *
 * cm_policy_load() parses one YAML file (schema: examples/consent-milter.yaml
 * and consent-milter.yaml(5)) against a schema table, collects every
 * error as "FILE:LINE:COLUMN: key 'x': what was expected", and returns
 * either a complete policy or the list of errors -- never a partial
 * policy.  A loaded policy is never modified: the milter swaps whole
 * policies on reload, so readers need no lock beyond holding a reference.
 *
 * Nothing here logs, prints or exits.
 */
#ifndef CM_POLICY_H
#define CM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "../core/addr.h"
#include "../core/decide.h"
#include "../core/status.h"
#include "../core/tmpl.h"
#include "errlist.h"

typedef struct cm_policy cm_policy;
typedef struct cm_ntype cm_ntype;	/* one newsletter type */

typedef enum cm_mode { CM_MODE_ENFORCE = 1, CM_MODE_MONITOR } cm_mode;
typedef enum cm_on_error {
	CM_ONERR_TEMPFAIL = 1, CM_ONERR_ACCEPT, CM_ONERR_REJECT
} cm_on_error;
typedef enum cm_bulk_action { CM_BULK_ACCEPT = 1, CM_BULK_REJECT } cm_bulk_action;
/* A message that matches several newsletter types: checked against each
 * (a recipient needs consent for every one), or refused as ambiguous. */
typedef enum cm_multi_action {
	CM_MULTI_ALL = 1, CM_MULTI_REFUSE
} cm_multi_action;
/* milter.mail_reply: whether MAIL FROM is negotiated with a reply
 * (milter/mailmix.h): chosen per connection by the recent mail, never,
 * or always. */
typedef enum cm_mail_reply {
	CM_MAIL_REPLY_AUTO = 1, CM_MAIL_REPLY_MAIL, CM_MAIL_REPLY_RCPT
} cm_mail_reply;
/* The kinds of classification rule (cm_ntype_rule). */
typedef enum cm_rule_kind {
	CM_RULE_ENVELOPE_SENDER = 1, CM_RULE_SASL_LOGIN, CM_RULE_HEADER,
	CM_RULE_LIST_ID
} cm_rule_kind;

/*
 * Load PATH.  On success returns CM_OK and *OUT (free with
 * cm_policy_free).  On any error returns CM_EINVAL (content errors),
 * CM_EIO (cannot read) or CM_ENOMEM, and appends one message per problem
 * to ERRS (which may be NULL).  Every message starts with "PATH:LINE:COL: ".
 */
cm_status cm_policy_load(const char *path, cm_policy **out, cm_errlist *errs);
void cm_policy_free(cm_policy *p);

/* milter: section */
const char *cm_policy_socket(const cm_policy *p);  /* "unix:/path" or "inet:PORT@HOST" */
unsigned cm_policy_socket_mode(const cm_policy *p);	/* e.g. 0660 */
const char *cm_policy_socket_group(const cm_policy *p); /* NULL = unchanged */
const char *cm_policy_user(const cm_policy *p);		/* NULL = do not switch */
const char *cm_policy_group(const cm_policy *p);	/* NULL = user's group */
cm_mode cm_policy_mode(const cm_policy *p);
cm_on_error cm_policy_on_error(const cm_policy *p);
cm_mail_reply cm_policy_mail_reply(const cm_policy *p);

/* database: section */
const char *cm_policy_db_path(const cm_policy *p);
size_t cm_policy_db_map_size(const cm_policy *p);	/* 0 = default */
unsigned cm_policy_db_max_readers(const cm_policy *p);	/* 0 = default */
/* database.clock_skew: how far after now an event may be dated, in
 * microseconds (default 5 minutes); see cm_index_opts.clock_skew_us. */
int64_t cm_policy_db_clock_skew(const cm_policy *p);

/* addresses: section */
const cm_addr_opts *cm_policy_addr_opts(const cm_policy *p);

cm_bulk_action cm_policy_unclassified_bulk(const cm_policy *p);

/* multiple_types: (default all). */
cm_multi_action cm_policy_multiple_types(const cm_policy *p);

/*
 * log: section, the decision log (core/declog.h).  Without the section
 * there is no decision log: cm_policy_log_path() returns NULL.  The key
 * file defaults to DATABASE_PATH/declog.key.
 */
const char *cm_policy_log_path(const cm_policy *p);
unsigned cm_policy_log_retention_days(const cm_policy *p);	/* 0 = keep */
bool cm_policy_log_hash_recipients(const cm_policy *p);
const char *cm_policy_log_key_file(const cm_policy *p);
const char *cm_policy_log_campaign_header(const cm_policy *p);

/*
 * dsn: section, bounces for recipients removed at end of data
 * (core/dsn.h, core/dsnq.h).  Enabled only when the section is present
 * and enabled is true.  Durations in microseconds.
 */
bool cm_policy_dsn_enabled(const cm_policy *p);
const char *cm_policy_dsn_target(const cm_policy *p);
const char *cm_policy_dsn_spool(const cm_policy *p);
unsigned cm_policy_dsn_attempts(const cm_policy *p);
int64_t cm_policy_dsn_retry_delay(const cm_policy *p);
int64_t cm_policy_dsn_max_delay(const cm_policy *p);
int64_t cm_policy_dsn_timeout(const cm_policy *p);
const char *cm_policy_dsn_reporting_mta(const cm_policy *p); /* NULL = host name */

/* templates: section, compiled (core/tmpl.h); never NULL. */
const cm_tmpl *cm_policy_tmpl_reply(const cm_policy *p);
const cm_tmpl *cm_policy_tmpl_trace(const cm_policy *p);
const cm_tmpl *cm_policy_tmpl_dsn_text(const cm_policy *p);
const cm_tmpl *cm_policy_tmpl_dsn_rcpt(const cm_policy *p);

/*
 * policy: section (consent-policy, the Postfix policy-delegation server;
 * policyd/).  Only meaningful when cm_policy_pd_present(); then the
 * socket is non-NULL.  IDLE_TIMEOUT in microseconds.
 */
bool cm_policy_pd_present(const cm_policy *p);
const char *cm_policy_pd_socket(const cm_policy *p);	/* as milter.socket */
unsigned cm_policy_pd_socket_mode(const cm_policy *p);
const char *cm_policy_pd_socket_group(const cm_policy *p); /* NULL = unchanged */
unsigned cm_policy_pd_max_connections(const cm_policy *p);
int64_t cm_policy_pd_idle_timeout(const cm_policy *p);
/*
 * policy.decides_envelope_types: consent-policy decides every recipient
 * of mail typed by its envelope (check_policy_service), so the milter
 * accepts such mail at MAIL FROM when nothing else of it needs the milter.
 * False when the section is absent.
 */
bool cm_policy_pd_decides_envelope(const cm_policy *p);
/* policy.stamp: the stamp file consent-policy keeps (core/pdstamp.h);
 * never NULL. */
const char *cm_policy_pd_stamp(const cm_policy *p);
/* The digest of the configuration file's bytes as loaded
 * (CM_PDSTAMP_DIGEST_LEN hex digits): equal for the milter and
 * consent-policy exactly when both enforce the same file. */
const char *cm_policy_digest(const cm_policy *p);
/* Does scope.daemon_names list any name? */
bool cm_policy_scope_has_daemon_names(const cm_policy *p);

/*
 * Scope: is a message from this client outgoing mail to be checked?
 * True if AUTHENTICATED and scope.authenticated is on, or CLIENT (may be
 * NULL) is in scope.networks, or DAEMON_NAME (may be NULL) is in
 * scope.daemon_names or scope.non_smtp_daemon_names.
 */
bool cm_policy_in_scope(const cm_policy *p, const struct sockaddr *client,
    const char *daemon_name, bool authenticated);

/* Is DAEMON_NAME (may be NULL: false) one of scope.non_smtp_daemon_names,
 * the {daemon_name} values the operator marked as non-SMTP submissions
 * (Postfix non_smtpd_milters: recipients cannot be refused at RCPT)? */
bool cm_policy_non_smtp_daemon(const cm_policy *p, const char *daemon_name);

/* Newsletter types, in file order. */
size_t cm_policy_ntypes(const cm_policy *p);
const cm_ntype *cm_policy_type(const cm_policy *p, size_t i);
const cm_ntype *cm_policy_find_type(const cm_policy *p, const char *id);
const char *cm_ntype_id(const cm_ntype *t);
const char *cm_ntype_name(const cm_ntype *t);
const cm_type_policy *cm_ntype_policy(const cm_ntype *t);

/*
 * The rules of type T, for config/classify.h: cm_ntype_nrules() of them;
 * cm_ntype_rule() returns the kind of rule J (< nrules) and sets
 * *PATTERN to its glob (envelope_sender, header value, list_id) or SASL
 * login, and *HEADER_NAME to the header's name (else NULL).
 */
size_t cm_ntype_nrules(const cm_ntype *t);
cm_rule_kind cm_ntype_rule(const cm_ntype *t, size_t j, const char **pattern,
    const char **header_name);

/*
 * Classification at MAIL FROM: the first type in file order with an
 * envelope_sender rule matching SENDER (envelope address without angle
 * brackets, matched case-insensitively, exact or glob) or a sasl_login
 * rule matching SASL_LOGIN (may be NULL).  NULL if none matches.
 */
const cm_ntype *cm_policy_match_envelope(const cm_policy *p,
    const char *sender, const char *sasl_login);

/* True if any type has a header or list_id rule (the milter must then
 * look at headers), or unclassified_bulk is reject. */
bool cm_policy_needs_headers(const cm_policy *p);

/* True if any type has a header or list_id rule (then envelope-typed
 * and null-sender mail is classified by its headers too). */
bool cm_policy_has_header_rules(const cm_policy *p);

/* True if header NAME is one a header/list_id rule or the bulk
 * detection (when unclassified_bulk is reject) looks at, or the
 * log.campaign_header of a present log: section (so the milter keeps
 * its value). */
bool cm_policy_header_relevant(const cm_policy *p, const char *name);

/*
 * Classification at end of headers: the first type in file order with a
 * header rule (name case-insensitive, value exact or glob) or list_id
 * rule matching any of the N headers NAMES[i]: VALUES[i].  NULL if none.
 */
const cm_ntype *cm_policy_match_headers(const cm_policy *p, size_t n,
    const char *const *names, const char *const *values);

/* Does this header mark bulk mail (List-Unsubscribe present, or
 * Precedence: bulk / list / junk)? */
bool cm_policy_header_is_bulk(const char *name, const char *value);

/*
 * upstream: section, the shared consent store of several nodes
 * (core/outbox.h, core/upsync.h, upstream/pgstore.h).  Without the
 * section a node works alone: cm_policy_upstream_conninfo() returns
 * NULL.  NODE is this node's name ([A-Za-z0-9._-], 1..64), POLL the
 * interval of the sync's poll when no notification comes (microseconds).
 */
const char *cm_policy_upstream_conninfo(const cm_policy *p);
const char *cm_policy_upstream_password_file(const cm_policy *p);
const char *cm_policy_upstream_node(const cm_policy *p);
int64_t cm_policy_upstream_poll(const cm_policy *p);

#endif
