/*
 * log.h - daemon logging (prefix cm_log_).
 *
 * Lines go to syslog (facility LOG_MAIL, ident "consent-milter") or, in
 * the foreground (-f), to standard error, one write(2) per line (the
 * decision lines of one message: one write for all, see
 * cm_log_decision_tails()): there
 * each line starts with a UTC timestamp, "consent-milter[PID]: " and the
 * priority's name, unless standard error is the systemd journal (the
 * environment variable JOURNAL_STREAM names its device and inode), where
 * a line is only the sd-daemon(3) priority prefix "<N>" and the message,
 * as in syslog: the journal records time, PID and priority.  Every
 * line is at most CM_LOG_LINE_MAX octets; values that come from the
 * network are made safe with cm_log_clean() first.
 *
 * Decision lines have a fixed, parseable shape:
 *   queue_id=Q type=T rcpt=R verdict=allow|deny|error reason=X [more]
 * where Q is "-" while the MTA has not told the queue id yet (the filter
 * holds a message's lines until it has, within a bound: milter/conn.h).
 */
#ifndef CM_LOG_H
#define CM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

#define CM_LOG_LINE_MAX 2048

/*
 * Start logging: to stderr if TO_STDERR, else to syslog.  With TO_STDERR,
 * decides once whether stderr is the journal (see above).
 */
void cm_log_open(bool to_stderr);
/* The program name of the lines and the syslog ident, "consent-milter"
 * unless set (NAME must stay valid); call before cm_log_open(). */
void cm_log_set_name(const char *name);
void cm_log_close(void);

/*
 * Decision lines (cm_log_decision*) from a thread of their own, when
 * logging to standard error: a line is queued, and the lines queued
 * within 50 ms of the first are written together in one write(2), so a
 * busy daemon makes one system call for many decisions instead of one
 * each.  Other lines are written at once, after what is queued (the
 * order is kept).  Call after any fork; 0, or -1 (errno) when the thread
 * cannot start (lines are then written at once).  No effect on syslog.
 * A stop writes what is queued; a process killed outright (SIGKILL, a
 * crash) loses the lines of its last 50 ms: the record of each decision
 * is the decision log (core/declog.h), not these lines.
 */
int cm_log_defer_start(void);

/* Write what is queued and end the thread (before exit). */
void cm_log_defer_stop(void);

/* True when cm_log_open() found standard error to be the journal. */
bool cm_log_journal(void);

/* Log at PRIORITY (LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, ...). */
void cm_log(int priority, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Copy S (NULL -> "-") into BUF (SIZE octets, >= 4) so that it is one
 * log token that reads as what it is: printable ASCII but '%' and '"'
 * stays, so does each valid UTF-8 character but the C1 controls, white
 * space, the line and paragraph separators, the bidirectional controls
 * and the invisible format characters (log.c: hidden[]); every other
 * octet (below 0x21, 0x7f, '%', '"', malformed UTF-8, the octets of the
 * characters named) becomes "%XX".  Truncated to fit, never
 * inside a character or an escape.  Returns BUF.
 */
char *cm_log_clean(const char *s, char *buf, size_t size);

/*
 * One decision line.  QUEUE_ID, TYPE, RCPT are raw values (cleaned
 * here; NULL or "" become "-"), VERDICT and REASON are plain tokens,
 * EXTRA (may be NULL) is appended after a space as is.
 */
void cm_log_decision(const char *queue_id, const char *type,
    const char *rcpt, const char *verdict, const char *reason,
    const char *extra);

/*
 * The decision line without its leading "queue_id=Q " into BUF (SIZE
 * octets, >= 1): "type=T rcpt=R verdict=V reason=X [EXTRA]", the
 * arguments as for cm_log_decision().  Truncated to fit BUF.  Returns
 * its length (< SIZE).
 */
size_t cm_log_decision_fmt(char *buf, size_t size, const char *type,
    const char *rcpt, const char *verdict, const char *reason,
    const char *extra);

/*
 * Log "queue_id=Q TAIL" as a decision line: QUEUE_ID raw (cleaned here;
 * NULL or "" become "-"), TAIL made by cm_log_decision_fmt().
 */
void cm_log_decision_tail(const char *queue_id, const char *tail);

/*
 * Log the decision lines TAILS (LEN octets: tails made by
 * cm_log_decision_fmt(), each NUL-terminated, in order) with QUEUE_ID as
 * cm_log_decision_tail() does for each, the same lines; to standard
 * error in as few write(2)s as fit a buffer of two maximal lines (one
 * for a message's usual lines), to syslog one call each.
 */
void cm_log_decision_tails(const char *queue_id, const char *tails,
    size_t len);

#endif
