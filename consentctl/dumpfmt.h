/*
 * dumpfmt.h - the JSON Lines format of consentctl dump / restore (prefix
 * ctl_dump_; described in cmd_dump.c and consentctl(8), BACKUP).
 * Written by cmd_dump.c, read by cmd_restore.c.
 */
#ifndef CTL_DUMPFMT_H
#define CTL_DUMPFMT_H

#include "ctx.h"

#define CTL_DUMP_MAGIC "consent-milter"	/* value of "dump" in the header */
#define CTL_DUMP_VERSION 1		/* value of "version" */

/* Write the dump of the index of C to OUTPATH (mode 0600; NULL: standard
 * output; written to a temporary file beside it and renamed over it when
 * complete).  Returns 0 or the exit code after printing why; a failed
 * dump leaves OUTPATH as it was. */
int ctl_dump_write(ctl_ctx *c, const char *outpath);

#endif
