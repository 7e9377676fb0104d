/*
 * out.h - output formats of consentctl (prefix ctl_out_): aligned text
 * tables, JSON values and CSV fields.
 */
#ifndef CTL_OUT_H
#define CTL_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A text table: a header row and any number of rows, printed with each
 * column as wide as its widest cell (counted in UTF-8 characters) and two
 * spaces between columns.  Cells are copied; control characters are shown
 * as \n, \t, \xHH so one row stays one line; empty or NULL cells are "-".
 */
typedef struct ctl_table ctl_table;
ctl_table *ctl_out_table_new(size_t ncols, const char *const *headers);
bool ctl_out_table_add(ctl_table *t, const char *const *cells);
void ctl_out_table_print(const ctl_table *t, FILE *f);
void ctl_out_table_free(ctl_table *t);

/* A JSON string for S (NULL: null).  Invalid UTF-8 becomes U+FFFD. */
void ctl_out_json_str(FILE *f, const char *s);
/* A JSON string with the RFC 3339 time US, or null when US is 0. */
void ctl_out_json_time(FILE *f, int64_t us);
/*
 * A member after the first of a JSON object: ,"KEY": and the value as
 * ctl_out_json_str() (S) or ctl_out_json_time() (US) writes it.  KEY is
 * written as it is (a fixed ASCII name, nothing to escape).  The one way
 * consentctl writes JSON members (dump, export, history, report, ...).
 */
void ctl_out_json_member(FILE *f, const char *key, const char *s);
void ctl_out_json_member_time(FILE *f, const char *key, int64_t us);
/* RFC 3339 of US, or "" when 0 (BUF: CM_TIME_BUFSZ octets). */
const char *ctl_out_time(int64_t us, char *buf);

/* One CSV field (RFC 4180): quoted when it contains , " CR or LF. */
void ctl_out_csv_field(FILE *f, const char *s);

#endif
