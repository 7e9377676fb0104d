/*
 * csv.h - streaming RFC 4180 reader (prefix ctl_csv_).
 *
 * Reads records from a file descriptor in constant memory (one record at
 * a time, at most CTL_CSV_RECORD_MAX octets and CTL_CSV_FIELDS_MAX
 * fields).  Fields are separated by ',' (or
 * another delimiter, ctl_csv_set_delim), records end with LF or CRLF;
 * a field in double quotes may contain ',', CR, LF and "" (one quote).
 * Nothing is trimmed.  Empty lines between records are skipped.  A UTF-8
 * byte order mark at the very start is skipped.
 *
 * Line numbers count physical lines from 1; a record's line is the line
 * it starts on.  Errors carry a line and a column (octets from 1).
 */
#ifndef CTL_CSV_H
#define CTL_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_CSV_RECORD_MAX (1024 * 1024)
#define CTL_CSV_FIELDS_MAX 64

typedef struct ctl_csv ctl_csv;

/* A reader of FD (not closed by the reader); NULL on out of memory. */
ctl_csv *ctl_csv_new(int fd);
void ctl_csv_free(ctl_csv *r);

/* Separate fields with DELIM (',' by default; ';', '\t', '|'...; not
 * '"', CR or LF) from the next record on. */
void ctl_csv_set_delim(ctl_csv *r, char delim);

typedef enum ctl_csv_res {
	CTL_CSV_RECORD = 1,	/* a record was read */
	CTL_CSV_EOF,		/* no more records */
	CTL_CSV_BAD,		/* a malformed record; skipped to the end of
				 * its line, reading may go on */
	CTL_CSV_FATAL		/* unreadable from here on (I/O error,
				 * unterminated quote, record too long) */
} ctl_csv_res;

ctl_csv_res ctl_csv_next(ctl_csv *r);

/* The last record: number of fields and field I (NUL-terminated; an
 * embedded NUL is kept, so LEN may be larger than strlen). */
size_t ctl_csv_nfields(const ctl_csv *r);
const char *ctl_csv_field(const ctl_csv *r, size_t i, size_t *len);
unsigned long ctl_csv_line(const ctl_csv *r);

/* After CTL_CSV_BAD or CTL_CSV_FATAL: what and where. */
const char *ctl_csv_errmsg(const ctl_csv *r);
unsigned long ctl_csv_errline(const ctl_csv *r);
unsigned long ctl_csv_errcol(const ctl_csv *r);

/* Octets consumed so far (for progress). */
uint64_t ctl_csv_offset(const ctl_csv *r);

/* Write one CSV field (quoted when needed) with fputs-like semantics is in
 * out.h (ctl_out_csv_field). */

#endif
