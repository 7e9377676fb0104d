/*
 * dsn.h - RFC 3464 delivery status notifications for recipients removed
 * at end of data (prefix cm_dsn_).
 *
 * cm_dsn_compose() builds one complete message (CRLF line ends, not
 * dot-stuffed) to be sent from the null sender "<>" to the envelope
 * sender:
 *
 *   From: Mail Delivery System <MAILER-DAEMON@HOST>
 *   To: <SENDER>
 *   Subject: Undelivered Mail: no consent for newsletter "TYPE"
 *   Date, Message-ID (unique), Auto-Submitted: auto-replied, MIME-Version
 *   Content-Type: multipart/report; report-type=delivery-status; boundary
 *     1. text/plain: the DSN text template, then one line per recipient
 *        (the recipient line template: recipient, type and reason);
 *     2. message/delivery-status: Reporting-MTA: dns; HOST, Arrival-Date,
 *        [Original-Envelope-Id], then per recipient Original-Recipient,
 *        Final-Recipient, Action: failed, Status: 5.7.1,
 *        Diagnostic-Code: smtp; 550 5.7.1 <rcpt>: no consent ...;
 *     3. text/rfc822-headers: the original message's header fields.
 *
 * With smtputf8 (the message was sent with SMTPUTF8) the RFC 6533 types
 * are used: message/global-delivery-status and message/global-headers,
 * and non-ASCII addresses are written as "utf-8; ADDR".  Without it,
 * every non-ASCII octet of an address or text becomes '?', and header
 * fields of the original keep their octets (8bit).
 *
 * Control characters never reach the output: CR and LF inside values
 * become spaces, except that folded original header values are re-folded
 * with CRLF + white space.  The original header block is capped at
 * CM_DSN_HEADERS_MAX octets (whole fields only).
 *
 * Nothing here logs.  Thread-safe.
 */
#ifndef CM_DSN_H
#define CM_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "tmpl.h"

#define CM_DSN_HEADERS_MAX 65536

typedef struct cm_dsn_rcpt {
	const char *rcpt;	/* as received, with or without <> */
	const char *orcpt;	/* ORCPT= parameter (xtext), or NULL */
	const char *reason;	/* "no-consent", ... */
} cm_dsn_rcpt;

typedef struct cm_dsn_msg {
	const char *host;	/* reporting MTA; NULL = "localhost" */
	const char *sender;	/* envelope sender, with or without <> */
	const char *type;	/* newsletter type id */
	const char *name;	/* newsletter type name (NULL = type) */
	const char *queue_id;	/* may be NULL */
	const char *envid;	/* ENVID= of MAIL FROM (xtext), or NULL */
	int64_t arrival_us;	/* 0 = now */
	int64_t now_us;		/* Date:; 0 = now */
	bool smtputf8;
	size_t nhdrs;		/* original header fields */
	const char *const *hnames;
	const char *const *hvalues;
	size_t nrcpts;
	const cm_dsn_rcpt *rcpts;
	const cm_tmpl *text;	/* NULL = CM_TMPL_DEFAULT_DSN_TEXT */
	const cm_tmpl *rcpt_line;	/* NULL = CM_TMPL_DEFAULT_DSN_RCPT */
	const cm_tmpl *diag;	/* NULL = CM_TMPL_DEFAULT_REPLY */
} cm_dsn_msg;

/*
 * Compose into *OUT (malloc'd, NUL-terminated, *LEN octets; free()).
 * CM_EINVAL (no sender, null sender "<>", no recipient), CM_ENOMEM.
 */
cm_status cm_dsn_compose(const cm_dsn_msg *m, char **out, size_t *len);

/*
 * RCPT ESMTP parameters (libmilter's envrcpt argv[1..], NULL-terminated,
 * ARGS may be NULL): does the client want a failure DSN?  False for
 * NOTIFY=NEVER and for a NOTIFY list without FAILURE (RFC 3461 4.1).
 */
bool cm_dsn_wants_failure(const char *const *args);

/* The value of parameter NAME ("ORCPT", "ENVID"; case-insensitive) in
 * ARGS, or NULL. */
const char *cm_dsn_param(const char *const *args, const char *name);

#endif
