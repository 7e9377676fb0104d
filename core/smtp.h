/*
 * smtp.h - the SMTP client that delivers DSNs (prefix cm_smtp_).
 *
 * One transaction per call, from the null sender: greeting, EHLO (HELO
 * if refused), MAIL FROM:<> [SMTPUTF8] [BODY=8BITMIME], RCPT TO:<rcpt>,
 * DATA with dot-stuffing and CRLF line ends, QUIT.  Multi-line replies
 * are read whole; every step has a timeout.  Nothing here prints, logs
 * or keeps state between calls: the DSN queue (dsnq.h) decides about
 * retries.
 *
 * Targets: "inet:PORT@HOST" (also "inet6:"), "unix:PATH" (also
 * "local:"), "HOST:PORT" or "[IPv6]:PORT".
 */
#ifndef CM_SMTP_H
#define CM_SMTP_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define CM_SMTP_ERR_MAX 512	/* size of every ERR buffer below */

/* Is TARGET a valid target?  CM_OK or CM_EINVAL (also for NULL). */
cm_status cm_smtp_target_check(const char *target);

/*
 * Deliver MSG (LEN octets) to RCPT at TARGET from "<>", greeting with
 * HELO (NULL or "" = "localhost"), waiting at most TIMEOUT_MS per step
 * (0 = 30000).  SMTPUTF8: ask for SMTPUTF8 when the server offers it.
 * Returns 0 (accepted), 4 (temporary failure: a 4xx reply, a timeout, a
 * connection failure; retry) or 5 (a 5xx reply, a bad target or
 * recipient: do not retry).  ERR (CM_SMTP_ERR_MAX, may be NULL) says
 * what happened, on one line, also on success (the server's reply).
 */
int cm_smtp_send(const char *target, const char *helo, unsigned timeout_ms,
    const char *rcpt, const char *msg, size_t len, bool smtputf8, char *err);

/*
 * RCPT (with or without <>) as a bare address into OUT (SIZE octets).
 * Returns 0, or -1 when it is empty, has no '@', does not fit, or holds
 * a control character, a space, '<' or '>'.
 */
int cm_smtp_clean_rcpt(const char *rcpt, char *out, size_t size);

/* printf FMT into ERR (CM_SMTP_ERR_MAX octets; NULL: nothing), control
 * characters replaced by spaces so the text stays on one line. */
void cm_smtp_seterr(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
