/* diag.c - diagnostics and exit codes of consentctl. */
#include <stdarg.h>
#include <stdio.h>
#include <sysexits.h>

#include "diag.h"

void
ctl_diag_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("consentctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
ctl_diag_exit(cm_status st)
{
	switch (st) {
	case CM_OK:
		return EX_OK;
	case CM_EDB:
	case CM_EBUSY:
		return EX_TEMPFAIL;
	case CM_ENOMEM:
		return EX_OSERR;
	case CM_EIO:
		return EX_IOERR;
	case CM_EPERM:
		return EX_NOPERM;
	case CM_NOTFOUND:
		return EX_NOINPUT;
	case CM_EFORMAT:
	case CM_EUPGRADE:
		return EX_SOFTWARE;
	default:
		return EX_DATAERR;
	}
}
