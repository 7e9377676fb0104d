/*
 * rowevents.h - the rows of an import file as events: a source for
 * core's import driver (importer.h) (prefix ctl_rowev_).
 *
 * Each row is validated (syntax, address, type, state, times, fields) as
 * it is read and turned into one to CTL_ROWEV_MAX events (consentctl(8),
 * import).  A bad row is listed on stderr as FILE:LINE: reason (not
 * again in a later pass over the file); without --skip-invalid it ends
 * the import.  The columns a CSV header names that no field takes are
 * named once on stderr (FILE: column 'NAME' ignored).  On a terminal a progress line is shown while the file is
 * read.  The file is read again from its start at each rewind.
 */
#ifndef CTL_ROWEVENTS_H
#define CTL_ROWEVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/importer.h"
#include "cmd.h"
#include "rows.h"

#define CTL_ROWEV_MAX 5		/* events of one row at most */

typedef struct ctl_rowev_opts {
	const char *name;	/* for messages: FILE or "stdin" */
	int fd;			/* a regular file, read from offset 0 */
	ctl_fmt fmt;
	uint64_t total;		/* octets of the file (progress, reserve) */
	bool skip;		/* --skip-invalid: list and skip bad rows */
	bool dry;		/* --dry-run: validate only */
	const ctl_rows_csvopts *csv;	/* CSV header options, or NULL */
} ctl_rowev_opts;

typedef struct ctl_rowev ctl_rowev;

/* Counts of the last pass over the file. */
typedef struct ctl_rowev_counts {
	uint64_t rows, invalid, events;
} ctl_rowev_counts;

/* A reader of the rows of O->fd for context C (policy, address options,
 * actor, clock skew; copied: O->name must outlive it).  NULL on out of
 * memory. */
ctl_rowev *ctl_rowev_new(ctl_ctx *c, const ctl_rowev_opts *o);

/* *SRC = the source reading R's rows as events; its records are the
 * file's lines (a YAML record spans about 5), counted now. */
void ctl_rowev_source(ctl_rowev *r, cm_import_source *src);

/* Validate every row (a dry run: no events).  0 or an exit code after a
 * message. */
int ctl_rowev_validate(ctl_rowev *r);

/* End the progress line (before a message) and stop reading. */
void ctl_rowev_finish(ctl_rowev *r);

void ctl_rowev_counts_get(const ctl_rowev *r, ctl_rowev_counts *out);

/* After the source failed: the exit code of the failure it reported. */
int ctl_rowev_exit(const ctl_rowev *r);

void ctl_rowev_free(ctl_rowev *r);

#endif
