/*
 * errlist.h - a list of error messages, in file order (prefix
 * cm_errlist_): cm_policy_load() (policy.h) and the YAML reader
 * (ytree.h) append to it, the programs print it.
 *
 * The list is bounded: after CM_ERRLIST_MAX messages further ones are
 * counted but not stored (cm_errlist_count() reports the stored ones).
 */
#ifndef CM_ERRLIST_H
#define CM_ERRLIST_H

#include <stdarg.h>
#include <stddef.h>

#include "../core/status.h"

#define CM_ERRLIST_MAX 1000

typedef struct cm_errlist cm_errlist;

/* A new, empty list; NULL on out of memory. */
cm_errlist *cm_errlist_new(void);
/* The number of stored messages. */
size_t cm_errlist_count(const cm_errlist *el);
/* Message I (< cm_errlist_count()), NUL-terminated, owned by EL. */
const char *cm_errlist_get(const cm_errlist *el, size_t i);
/* Free EL and its messages (NULL: nothing). */
void cm_errlist_free(cm_errlist *el);

/* Append one formatted message.  CM_ENOMEM if it could not be stored. */
cm_status cm_errlist_add(cm_errlist *el, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same, remembering the position LINE:COL the message is about. */
cm_status cm_errlist_add_at(cm_errlist *el, unsigned line, unsigned col,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
cm_status cm_errlist_vadd_at(cm_errlist *el, unsigned line, unsigned col,
    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
/* Sort the messages from index FROM on by position (stable). */
void cm_errlist_sort_from(cm_errlist *el, size_t from);
/*
 * Quote S for a message into BUF (LEN octets, at least 8): bytes below
 * 0x20, 0x7f and backslash as \xNN, UTF-8 kept as is, cut after
 * CM_ERRLIST_QUOTE_MAX bytes (never inside a UTF-8 sequence) with "..."
 * appended.  Returns BUF.  The one quoting of the YAML reader and the
 * schema engine.
 */
#define CM_ERRLIST_QUOTE_MAX 64
const char *cm_errlist_quote(char *buf, size_t len, const char *s);
/* Messages offered, including those not stored past CM_ERRLIST_MAX. */
size_t cm_errlist_offered(const cm_errlist *el);

#endif
