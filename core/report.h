/*
 * report.h - how core's background threads report (prefix cm_report_).
 *
 * The decision log's writer thread (declog.h) and the DSN queue's thread
 * (dsnq.h) cannot return a status to anyone: what happens there is told
 * to an optional callback of the one shape below, given with the
 * module's options.  core/ never logs itself; the program turns a report
 * into a log line.
 */
#ifndef CM_REPORT_H
#define CM_REPORT_H

#include "status.h"

typedef enum cm_report_severity {
	CM_REPORT_INFO = 0,	/* something done (a DSN delivered) */
	CM_REPORT_WARNING,	/* a failure that is retried */
	CM_REPORT_ERROR		/* a failure: records lost, a DSN given up */
} cm_report_severity;

/*
 * One report.  STATUS is CM_OK for information, otherwise the status of
 * the failure; ERRNUM the errno of the failing system call (0 if none
 * or not known); SUBJECT what it is about (a DSN's id) or NULL; TEXT a
 * short English message, never NULL.  The strings are valid during the
 * call only.
 */
typedef struct cm_report {
	cm_report_severity severity;
	cm_status status;
	int errnum;
	const char *subject;
	const char *text;
} cm_report;

/* Called from the reporting module's own thread (so it must be
 * thread-safe) with ARG as given in its options.  It must not call back
 * into that module. */
typedef void cm_report_fn(void *arg, const cm_report *r);

#endif
