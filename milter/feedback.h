/*
 * feedback.h - the daemon's decision log and DSNs (prefix cm_fb_).
 *
 * Glue between the libmilter callbacks and core/declog, core/dsn and
 * core/dsnq.  cm_fb_start() opens the decision log (log: section) and the
 * DSN queue (dsn: section) after privileges were dropped (milter/outlet);
 * a reload replaces them for the messages that start afterwards, and
 * each message writes its records and its DSN through the ones in force
 * when it started.
 *
 * Per message, a cm_fb_msg collects what the log lines and the DSN need:
 * the sender, SMTPUTF8 and ENVID of MAIL, NOTIFY/ORCPT of every kept
 * recipient, the Message-ID and campaign header values, the original
 * header fields (only with DSNs on, at most CM_DSN_HEADERS_MAX octets),
 * and the decisions taken.  Decision records are written to the log when
 * the message ends (cm_fb_msg_end: end of message, abort, next MAIL or
 * close), so they carry the queue id, Message-ID and campaign even for
 * recipients refused at RCPT, before the MTA knew them.
 *
 * Nothing here blocks on the disk except cm_fb_dsn(), which spools one
 * file (fsync) for a message that had recipients removed.
 */
#ifndef CM_FEEDBACK_H
#define CM_FEEDBACK_H

#include <stdbool.h>
#include <stddef.h>

#include "../config/policy.h"

/* Open the outlets of P (cm_outlet_start): 0, or -1 after logging why. */
int cm_fb_start(const cm_policy *p);
/* Close them (cm_outlet_stop). */
void cm_fb_stop(void);

/* Must the filter see the headers of envelope-typed messages (for the
 * Message-ID and campaign of their log records)? */
bool cm_fb_needs_headers(const cm_policy *p);

typedef struct cm_fb_msg cm_fb_msg;

/* At MAIL: ARGV as libmilter gives it (argv[0] the sender); takes a
 * reference to the outlets in force until cm_fb_msg_end.  NULL when
 * neither log nor DSN is on, or out of memory (then nothing is logged
 * for the message; that is logged once). */
cm_fb_msg *cm_fb_msg_new(const cm_policy *p, char **argv);
void cm_fb_msg_header(cm_fb_msg *f, const char *name, const char *value);
/* Recipient number IDX (0-based, as kept by the filter) had ESMTP
 * parameters ARGS (argv + 1 of envrcpt). */
void cm_fb_msg_rcpt(cm_fb_msg *f, size_t idx, char **args);
/*
 * One decision: RCPT the (normalized) recipient, VERDICT "allow",
 * "deny" or "error", REASON a reason token, ACTION the filter's action
 * word (NULL = delivered, "reject", "remove", "none" = monitor,
 * "tempfail", "accept").
 */
void cm_fb_decision(cm_fb_msg *f, const char *rcpt, const char *verdict,
    const char *reason, const char *action);
/* Recipient IDX was removed at end of data for REASON. */
void cm_fb_msg_deny(cm_fb_msg *f, size_t idx, const char *reason);
/* After the removals: spool one DSN for the removed recipients (RCPTS,
 * N as kept by the filter) unless none wants one. */
void cm_fb_dsn(cm_fb_msg *f, const char *type_id, const char *type_name,
    const char *qid, char *const *rcpts, size_t n);
/* Write the decision records (with QID and TYPE) and free F. */
void cm_fb_msg_end(cm_fb_msg *f, const char *qid, const char *type_id);

#endif
