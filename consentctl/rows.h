/*
 * rows.h - consent rows of an import file, whatever its format
 * (prefix ctl_rows_).
 *
 * Formats: CSV (header line exactly "email,type,state,time,source,basis,
 * purpose,evidence", optionally followed by ",granted", ",granted,
 * confirmed" or ",granted,confirmed,withdrawn"), JSON Lines (one object
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

/* Read FD (positioned at the start; not closed) as FMT.  NULL on out of
 * memory or if FD cannot be read as a stream. */
ctl_rows *ctl_rows_open(int fd, ctl_fmt fmt);
void ctl_rows_close(ctl_rows *r);

typedef enum ctl_rows_res {
	CTL_ROWS_ROW = 1,
	CTL_ROWS_EOF,
	CTL_ROWS_BAD,		/* malformed row, skipped; reading may go on */
	CTL_ROWS_FATAL		/* nothing more can be read */
} ctl_rows_res;

ctl_rows_res ctl_rows_next(ctl_rows *r, ctl_row *row);

/* After BAD/FATAL: "LINE: message" or "LINE:COL: message". */
const char *ctl_rows_error(const ctl_rows *r);
/* Octets consumed so far. */
uint64_t ctl_rows_offset(const ctl_rows *r);

#endif
