/*
 * rows.h - consent rows of an import file, whatever its format
 * (prefix ctl_rows_).
 *
 * Formats: CSV (a header line naming the columns email, type, state,
 * time, source, basis, purpose, evidence, granted, confirmed, withdrawn
 * in any order and case, or by the foreign names of a column map; other
 * columns are ignored; email, type, state, time and source must be
 * there or have a default; fields separated by ',', ';' or a tab, found
 * from the header line unless given), JSON Lines (one object
 * per line with those keys) and YAML (a list of mappings with those
 * keys).  In JSON and YAML, email, type, state and time are required and
 * the other keys optional; a null or empty value means "none".  Unknown
 * keys are errors.  Rows are read one at a time (constant memory).
 */
#ifndef CTL_ROWS_H
#define CTL_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ctl_field {
	CTL_F_EMAIL, CTL_F_TYPE, CTL_F_STATE, CTL_F_TIME,
	CTL_F_SOURCE, CTL_F_BASIS, CTL_F_PURPOSE, CTL_F_EVIDENCE,
	CTL_F_GRANTED, CTL_F_CONFIRMED, CTL_F_WITHDRAWN,
	CTL_F_COUNT
} ctl_field;

#define CTL_F_REQUIRED_CSV 8	/* columns every CSV file has */

/* "email", "type", ... */
const char *ctl_rows_field_name(ctl_field f);

typedef enum ctl_fmt { CTL_FMT_CSV = 1, CTL_FMT_JSONL, CTL_FMT_YAML } ctl_fmt;

bool ctl_rows_fmt_parse(const char *s, ctl_fmt *out);
const char *ctl_rows_fmt_name(ctl_fmt f);
/* Format by file name extension (.csv, .jsonl/.ndjson/.json, .yaml/.yml). */
bool ctl_rows_fmt_from_name(const char *path, ctl_fmt *out);
/* Format by the first non-blank octets of a file: '{' JSON Lines, '-' or
 * '[' YAML, otherwise CSV. */
ctl_fmt ctl_rows_fmt_sniff(const char *head, size_t len);

/* One row: V[f] is NULL when absent, null or empty, else NUL-terminated
 * (an embedded NUL makes LEN[f] larger than strlen); valid until the next
 * ctl_rows_next. */
typedef struct ctl_row {
	unsigned long line;
	const char *v[CTL_F_COUNT];
	size_t len[CTL_F_COUNT];
	unsigned long col[CTL_F_COUNT];	/* 0 if unknown */
} ctl_row;

typedef struct ctl_rows ctl_rows;

typedef enum ctl_rows_res {
	CTL_ROWS_ROW = 1,
	CTL_ROWS_EOF,
	CTL_ROWS_BAD,		/* malformed row, skipped; reading may go on */
	CTL_ROWS_FATAL		/* nothing more can be read */
} ctl_rows_res;

/* How a CSV file's header is read (all zero: the defaults). */
typedef struct ctl_rows_csvopts {
	char delim;			/* 0: detect ',', ';' or tab from the
					 * header line (',' when unclear) */
	const char *map[CTL_F_COUNT];	/* the file's name of a column, or
					 * NULL (its own name is matched too) */
	const char *def[CTL_F_COUNT];	/* the value of a row without one
					 * (no column or an empty field), or
					 * NULL */
} ctl_rows_csvopts;

/* Read FD (positioned at the start; not closed) as FMT.  NULL on out of
 * memory or if FD cannot be read as a stream. */
ctl_rows *ctl_rows_open(int fd, ctl_fmt fmt);
/* The same, with CO (NULL: the defaults; copied, its strings must
 * outlive the reader) for a CSV file. */
ctl_rows *ctl_rows_open_csv(int fd, ctl_fmt fmt, const ctl_rows_csvopts *co);

/* Read a CSV file's header now (other formats: nothing to do):
 * CTL_ROWS_ROW when done, or CTL_ROWS_FATAL (ctl_rows_error: a column
 * required and missing, a column twice, ...).  ctl_rows_next reads it
 * first if this was not called. */
ctl_rows_res ctl_rows_header(ctl_rows *r);
/* After the header: the I-th column ignored (named by no field), from 0;
 * NULL after the last. */
const char *ctl_rows_ignored(const ctl_rows *r, size_t i);
void ctl_rows_close(ctl_rows *r);

ctl_rows_res ctl_rows_next(ctl_rows *r, ctl_row *row);

/* After BAD/FATAL: "LINE: message" or "LINE:COL: message". */
const char *ctl_rows_error(const ctl_rows *r);
/* Octets consumed so far. */
uint64_t ctl_rows_offset(const ctl_rows *r);

#endif
