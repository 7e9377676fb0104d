/*
 * parse.h - parsing of command-line and import values (prefix ctl_parse_).
 * All functions return true on success and leave *OUT untouched on failure.
 */
#ifndef CTL_PARSE_H
#define CTL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"

/* RFC 3339 time (cm_time_parse) or "now"; status of the parse. */
cm_status ctl_parse_time(const char *s, int64_t *out_us);

/* Duration "N" UNIT, UNIT one of s m h d w (e.g. "730d"), > 0, at most
 * INT64_MAX microseconds (cm_duration_parse(), core/duration.h). */
bool ctl_parse_duration(const char *s, int64_t *out_us);

/* Decimal count 1..MAX. */
bool ctl_parse_count(const char *s, size_t max, size_t *out);

/* Newsletter type id: cm_type_id_valid() (core/names.h); kept for the
 * callers in cmd_import.c, new code calls cm_type_id_valid(). */
bool ctl_parse_type_id(const char *s, size_t len);

/* LEN octets at S are valid UTF-8 without NUL. */
bool ctl_parse_utf8(const char *s, size_t len);

#endif
