/*
 * glob.h - case-insensitive glob patterns (prefix cm_glob_).
 *
 * Syntax: '*' any run of bytes (also empty), '?' one byte, "[...]" one
 * byte of a set ("[!...]" or "[^...]" negated; ranges "a-z"; a ']' first
 * in the set is literal), '\' makes the next character literal.  There is
 * no special meaning for '/' or a leading '.'.  Letters match without
 * regard to ASCII case; other bytes (UTF-8 included) compare exactly.
 * Matching is linear in pattern length times text length (no exponential
 * backtracking), allocates nothing and is thread-safe.
 */
#ifndef CM_GLOB_H
#define CM_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/* Is PAT a well-formed pattern?  If not, *WHY (if WHY) describes why. */
bool cm_glob_valid(const char *pat, const char **why);

/* Does the LEN bytes at TEXT match PAT (which must be valid)? */
bool cm_glob_match(const char *pat, const char *text, size_t len);

/* Narrow the LEN bytes at *S to leave out white space (space, tab, CR,
 * LF) at both ends: header values are matched without it. */
void cm_glob_trim(const char **s, size_t *len);

#endif
