/*
 * pfcheck.h - does Postfix ask consent-policy first at RCPT? (prefix
 * cm_pfcheck_).
 *
 * A check at start, for the operator: Postfix's
 * smtpd_recipient_restrictions should name this server's socket with
 * check_policy_service, before any permit_* (permit_mynetworks or
 * permit_sasl_authenticated there end the list for exactly the mail in
 * scope, which would then pass unchecked; with the milter's fast path
 * on, nothing would check it).  Only main.cf is looked at (not master.cf
 * overrides nor restriction classes), so a finding is a warning.
 */
#ifndef CM_PFCHECK_H
#define CM_PFCHECK_H

#include <stddef.h>

typedef enum cm_pfcheck_res {
	CM_PFCHECK_OK = 0,	/* check_policy_service SPEC, no permit before */
	CM_PFCHECK_MISSING,	/* no check_policy_service for SPEC */
	CM_PFCHECK_AFTER_PERMIT	/* a permit* restriction comes first */
} cm_pfcheck_res;

/*
 * Judge VALUE, a value of smtpd_recipient_restrictions, for the socket
 * SPEC of policy.socket ("inet:PORT@HOST" is Postfix's "inet:HOST:PORT"
 * or "HOST:PORT"; "unix:/PATH" is "unix:/PATH" or "unix:REL" with PATH
 * ending in "/REL", relative to the queue directory).  With
 * CM_PFCHECK_AFTER_PERMIT the permit restriction's name is copied to
 * PERMIT (SIZE octets).
 */
cm_pfcheck_res cm_pfcheck_restrictions(const char *value, const char *spec,
    char *permit, size_t size);

/*
 * Ask postconf(1) (found in PATH or /usr/sbin; MAIL_CONFIG is honoured)
 * for smtpd_recipient_restrictions and log a warning when the judgement
 * for SPEC is not CM_PFCHECK_OK.  Silent when postconf cannot be run.
 */
void cm_pfcheck_warn(const char *spec);

#endif
