/*
 * verdict.h - one recipient against every type of a message, and how
 * non-SMTP submissions are recognised (prefix cm_verdict_).
 *
 * cm_verdict_decide() asks core (cm_decide_raw, core/decide.h) for every
 * type in the set, with the recipient as the MTA sent it: a recipient
 * may receive a message of several types only with consent for each.
 *
 * cm_verdict_non_smtp() tells a Postfix non_smtpd_milters submission
 * (sendmail(1), pickup, qmqpd, postsuper -r) from SMTP mail.  Postfix
 * 3.7's cleanup emulates the SMTP stages for these with client
 * "localhost", address 127.0.0.1 and port 0 ({client_port} and
 * {daemon_port} are "0", the queue id is known already at connect);
 * {daemon_name} is $milter_macro_daemon_name, the same as smtpd's
 * unless the operator sets it per service.  No real TCP client has port
 * 0, so port 0 marks the emulation; an operator whose MTA sends no
 * address can list the daemon name in scope.non_smtp_daemon_names.
 * There recipients can be removed at end of data but never refused at
 * RCPT (Postfix: "can't reject recipient in non-smtpd(8) submission",
 * and the message stays queued).
 */
#ifndef CM_VERDICT_H
#define CM_VERDICT_H

#include <stdbool.h>
#include <sys/socket.h>

#include "../config/classify.h"
#include "../config/policy.h"
#include "../core/addr.h"
#include "../core/decide.h"

typedef enum cm_outcome { CM_OUT_ALLOW, CM_OUT_DENY, CM_OUT_ERROR } cm_outcome;

typedef struct cm_verdict_res {
	cm_outcome out;
	cm_reason reason;	/* with CM_OUT_DENY */
	cm_status st;		/* CM_OK, or what failed */
	char detail[160];	/* with CM_OUT_ERROR: the index's own account
				 * (LMDB's code and text), or "" */
	cm_addr addr;		/* valid if normalized */
	bool normalized;
} cm_verdict_res;

/*
 * Decide recipient RAW (as the MTA sent it) for the types TYPES of
 * policy P (TYPES must not be empty) into *RES, by cm_decide_raw
 * (core/decide.h): an address that cannot be normalized is denied by
 * core's rule (RES->st then says why); no index, an index that cannot
 * be read or a failed lookup is CM_OUT_ERROR.
 */
void cm_verdict_decide(const cm_policy *p, const cm_typeset *types,
    const char *raw, cm_verdict_res *res);

/*
 * Is this connection a non-SMTP submission?  HOSTADDR and DAEMON_NAME
 * as libmilter's connect callback and the {daemon_name} macro give them
 * (either may be NULL).  True for an IPv4/IPv6 address with port 0, or
 * a daemon name in P's scope.non_smtp_daemon_names.
 */
bool cm_verdict_non_smtp(const cm_policy *p, const struct sockaddr *hostaddr,
    const char *daemon_name);

#endif
