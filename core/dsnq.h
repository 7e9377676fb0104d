/*
 * dsnq.h - the DSN queue: spool, background delivery by SMTP, retries
 * (prefix cm_dsnq_).
 *
 * cm_dsnq_submit() writes a composed DSN to the spool directory (one file
 * per DSN, written to a temporary name, fsync'd, renamed into place: a
 * crash loses nothing) and hands it to a background thread; the caller
 * never waits for delivery.  The thread speaks SMTP to the target
 * (greeting, EHLO -- HELO if refused --, MAIL FROM:<> [SMTPUTF8],
 * RCPT TO:<sender>, DATA with dot-stuffing, QUIT; multi-line replies; a
 * timeout on every step) and deletes the file when the DATA is accepted
 * (2xx).  A 4xx reply, a timeout or a connection failure is retried with
 * exponential back-off (first_delay, doubling, at most max_delay) until
 * `attempts` attempts were made; a 5xx reply gives up at once.  A DSN
 * given up on is renamed ID.failed (with the last error) and reported
 * through the report callback; it stays in the spool for `consentctl dsn
 * list` and `consentctl dsn resend`.  Pending files (ID.dsn) found at
 * open, e.g. after a crash, are queued again.
 *
 * Spool file: "CM-DSN 1\n", then "rcpt: ADDR\n", "smtputf8: 0|1\n",
 * "created: MICROSECONDS\n", for failed ones "error: TEXT\n", an empty
 * line, then the message (CRLF line ends, not dot-stuffed).
 *
 * Targets: "inet:PORT@HOST", "unix:PATH", or "HOST:PORT" /
 * "[IPv6]:PORT".  Nothing here prints or logs.
 *
 * Files: the queue thread is dsnq.c, the SMTP client smtp.c (smtp.h),
 * the spool's files and consentctl's access dsnq_spool.c
 * (dsnq_spool.h), the erasure's deletions dsnq_scrub.c.
 */
#ifndef CM_DSNQ_H
#define CM_DSNQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"
#include "status.h"

#define CM_DSNQ_ID_MAX 48
#define CM_DSNQ_ERR_MAX 512

typedef struct cm_dsnq_opts {
	const char *spool;	/* required; created (0700) if missing */
	const char *target;	/* required */
	const char *helo;	/* EHLO name; NULL = "localhost" */
	unsigned attempts;	/* 0 = 8 */
	unsigned first_delay_ms;	/* 0 = 10000 */
	unsigned max_delay_ms;	/* 0 = 3600000 */
	unsigned timeout_ms;	/* per SMTP step; 0 = 30000 */
	/* from the queue thread (report.h), subject the DSN's id:
	 * CM_REPORT_INFO delivered, CM_REPORT_WARNING an attempt failed
	 * and is retried, CM_REPORT_ERROR given up or the spool file
	 * unreadable; may be NULL */
	cm_report_fn *report;
	void *report_arg;
} cm_dsnq_opts;

typedef struct cm_dsnq cm_dsnq;

/* Is TARGET a valid target?  CM_OK or CM_EINVAL. */
cm_status cm_dsnq_target_check(const char *target);

/* CM_OK, CM_EINVAL, CM_EIO, CM_EPERM, CM_ENOMEM. */
cm_status cm_dsnq_open(const cm_dsnq_opts *opts, cm_dsnq **out);

/*
 * Change the settings of a running queue: target, helo, attempts, delays
 * and timeout of OPTS (its spool, report and report_arg are ignored: the queue
 * keeps its spool directory).  Every later attempt uses them, for DSNs
 * spooled before the call too.  When the target changed, every DSN
 * waiting for a retry is tried at once, at the new target, with all its
 * attempts again; an attempt under way finishes at the old target, and
 * if it fails the DSN is tried at the new one at once.  CM_OK,
 * CM_EINVAL (bad target; nothing changed), CM_ENOMEM (nothing changed).
 */
cm_status cm_dsnq_reconfigure(cm_dsnq *q, const cm_dsnq_opts *opts);

/*
 * Spool MSG (LEN octets, CRLF lines) for RCPT (the envelope sender of the
 * original message, with or without <>) and queue it.  Writes and syncs
 * one file; never waits for delivery.  ID_OUT (CM_DSNQ_ID_MAX, may be
 * NULL) receives the DSN's id.  CM_OK, CM_EINVAL (null or bad RCPT),
 * CM_EIO, CM_ENOMEM.
 */
cm_status cm_dsnq_submit(cm_dsnq *q, const char *rcpt, const char *msg,
    size_t len, bool smtputf8, char *id_out);

typedef struct cm_dsnq_stats {
	uint64_t submitted, delivered, retried, failed;
	size_t pending;
} cm_dsnq_stats;
void cm_dsnq_stats_get(cm_dsnq *q, cm_dsnq_stats *out);

/* Wait up to TIMEOUT_MS until no DSN is pending; true if none is. */
bool cm_dsnq_wait_idle(cm_dsnq *q, unsigned timeout_ms);

/* Stop the thread (pending DSNs stay spooled) and free.  NULL: no-op. */
void cm_dsnq_close(cm_dsnq *q);

/* ---- spool access for consentctl (no queue thread needed) ---- */

typedef struct cm_dsnq_entry {
	const char *id;
	bool failed;		/* given up (ID.failed) or pending (ID.dsn) */
	const char *rcpt;
	bool smtputf8;
	int64_t created_us;
	const char *error;	/* last error, or NULL (none failed yet) */
	unsigned attempts;	/* failed attempts so far */
	int64_t next_us;	/* a pending one's planned retry, or 0 */
	size_t size;		/* message octets */
} cm_dsnq_entry;

/* Call FN for every spooled DSN in id (= time) order; FN returns non-zero
 * to stop.  CM_OK, CM_NOTFOUND (no spool), CM_EIO, CM_ENOMEM. */
cm_status cm_dsnq_list(const char *spool,
    int (*fn)(void *arg, const cm_dsnq_entry *e), void *arg);

/*
 * Send spooled DSN ID now, synchronously, to TARGET; delete it when
 * accepted.  On failure it stays (a pending one becomes failed) and ERR
 * (CM_DSNQ_ERR_MAX) says why.  CM_OK, CM_NOTFOUND, CM_EIO (not
 * delivered), CM_EINVAL, CM_ENOMEM.
 */
cm_status cm_dsnq_resend(const char *spool, const char *id,
    const char *target, const char *helo, unsigned timeout_ms, char *err);

/*
 * One SMTP transaction (exposed for tests): deliver MSG to RCPT at
 * TARGET from "<>".  Returns 0 on success, 4 for a temporary failure
 * (retry), 5 for a permanent one; ERR (CM_DSNQ_ERR_MAX) says why.
 */
int cm_dsnq_smtp_send(const char *target, const char *helo,
    unsigned timeout_ms, const char *rcpt, const char *msg, size_t len,
    bool smtputf8, char *err);

#endif
