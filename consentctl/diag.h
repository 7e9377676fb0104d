/*
 * diag.h - diagnostics of consentctl (prefix ctl_diag_).
 *
 * Every message goes to stderr as "consentctl: ...".  ctl_diag_exit()
 * maps a core status to the sysexits.h code consentctl exits with.
 */
#ifndef CTL_DIAG_H
#define CTL_DIAG_H

#include "../core/status.h"

/* Print "consentctl: " FMT "\n" on stderr. */
void ctl_diag_err(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * Exit code for a failed core call:
 *   CM_EDB, CM_EBUSY -> EX_TEMPFAIL, CM_ENOMEM -> EX_OSERR, CM_EIO -> EX_IOERR,
 *   CM_EPERM -> EX_NOPERM, CM_NOTFOUND -> EX_NOINPUT,
 *   CM_EFORMAT -> EX_SOFTWARE, address/time/argument errors -> EX_DATAERR.
 */
int ctl_diag_exit(cm_status st);

#endif
