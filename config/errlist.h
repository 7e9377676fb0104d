/*
 * errlist.h - appending to a cm_errlist (declared in policy.h).
 *
 * The list is bounded: after CM_ERRLIST_MAX messages further ones are
 * counted but not stored (cm_errlist_count() reports the stored ones).
 */
#ifndef CM_ERRLIST_H
#define CM_ERRLIST_H

#include <stdarg.h>

#include "../core/status.h"
#include "policy.h"

#define CM_ERRLIST_MAX 1000

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
/* Messages offered, including those not stored past CM_ERRLIST_MAX. */
size_t cm_errlist_offered(const cm_errlist *el);

#endif
