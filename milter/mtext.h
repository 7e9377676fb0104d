/*
 * mtext.h - small helpers for the texts an MTA passes to the filter
 * (prefix cm_mtext_).  Pure string functions: no state, no allocation.
 */
#ifndef CM_MTEXT_H
#define CM_MTEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The envelope sender IN without white space around it, one pair of
 * angle brackets and a source route ("<@a,@b:u@x>" -> "u@x"), into OUT
 * (SIZE octets).  Returns false if it does not fit (OUT is then
 * undefined); "" is the null sender.  For texts (logs, templates) only:
 * rules match the normalized form (config/classify.h).
 */
bool cm_mtext_sender_bare(const char *in, char *out, size_t size);

/*
 * RAW without one enclosing pair of angle brackets, copied into BUF
 * (SIZE > 0 octets, cut to fit); RAW itself if it has none.
 */
const char *cm_mtext_unbracket(const char *raw, char *buf, size_t size);

/* Unfold a header value in place (RFC 5322 2.2.3): the MTA passes folds
 * as LF or CRLF before the white space of the next line; the rules match
 * the unfolded value.  V must not be NULL. */
void cm_mtext_unfold(char *v);

#endif
