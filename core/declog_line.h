/*
 * declog_line.h - the decision log's files and lines, shared by its
 * writer (declog.c), its reader (declog_read.c) and the erasure's
 * rewrite (declog_scrub.c) (prefix cm_declog_line_).
 *
 * Files: DIR/decisions-YYYY-MM-DD.jsonl, one per UTC day.  Lines: one
 * JSON object per record, fields in the order "time", "queue_id",
 * "message_id", "sender", "type", "campaign", "rcpt" [, "rcpt_base"],
 * "verdict", "reason", "action" (declog.h); the writer formats them
 * itself, on its hot path (declog.c), with cm_json_quote (json.h) and
 * cm_time_put (timefmt.h).
 */
#ifndef CM_DECLOG_LINE_H
#define CM_DECLOG_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "declog.h"

#define CM_DECLOG_LINE_US_PER_DAY (INT64_C(86400) * INT64_C(1000000))
#define CM_DECLOG_LINE_NAME_PREFIX "decisions-"
#define CM_DECLOG_LINE_NAME_SUFFIX ".jsonl"
/* octets of a day file's name, without NUL */
#define CM_DECLOG_LINE_NAME_LEN (sizeof(CM_DECLOG_LINE_NAME_PREFIX) - 1 + \
	10 + sizeof(CM_DECLOG_LINE_NAME_SUFFIX) - 1)

/* The UTC day (days since 1970-01-01, rounded down) of time US. */
static inline int64_t
cm_declog_line_day(int64_t us)
{
	int64_t q = us / CM_DECLOG_LINE_US_PER_DAY;

	return us % CM_DECLOG_LINE_US_PER_DAY < 0 ? q - 1 : q;
}

/* The file name of DAY into OUT (SIZE octets, at least
 * CM_DECLOG_LINE_NAME_LEN + 1). */
void cm_declog_line_day_name(int64_t day, char *out, size_t size);

/* The day of file name NAME, or -1 if NAME is not a day file's name
 * (month 1..12, day 1..31, year from 1970). */
int64_t cm_declog_line_name_day(const char *name);

/*
 * Parse LINE (NUL-terminated, without or with its '\n'; its strings are
 * decoded in place) into *REC, whose strings then point into LINE.
 * Unknown fields are skipped; "time" (RFC 3339, cm_time_parse) and
 * "action" (cm_declog_action_parse) are required.  Returns 0, or -1 if
 * LINE is not a valid record.
 */
int cm_declog_line_parse(char *line, cm_declog_rec *rec);

#endif
