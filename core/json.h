/*
 * json.h - JSON strings, written and read (prefix cm_json_).
 *
 * The one JSON string writer and reader of core/: the decision log's
 * lines (declog.h) use both, and any other JSON a program writes or
 * reads can (RFC 8259 strings; numbers, objects and arrays are the
 * caller's).
 */
#ifndef CM_JSON_H
#define CM_JSON_H

#include <stddef.h>

#include "status.h"

/* Octets cm_json_quote needs at most for LEN input octets (with the
 * quotes and a NUL). */
#define CM_JSON_QUOTE_ROOM(len) (6 * (len) + 3)

/*
 * Write S (LEN octets) as a JSON string, with its quotes and a NUL, into
 * BUF of SIZE octets: '"' and '\\' are escaped, control characters
 * (U+0000..U+001F, U+007F) become \n, \r, \t, \b, \f or \u00XX, and
 * every octet that is not part of a well-formed UTF-8 sequence (overlong
 * forms, surrogates and code points above U+10FFFF included) becomes
 * U+FFFD; everything else is copied as it is.  Returns the length
 * written (without the NUL), or 0 if SIZE is too small
 * (CM_JSON_QUOTE_ROOM(LEN) always suffices).
 */
size_t cm_json_quote(const char *s, size_t len, char *buf, size_t size);

/*
 * Read the JSON string at *PP (its opening quote; the input ends at END)
 * into OUT, which has room for END - *PP octets and may be *PP + 1 (the
 * string is then decoded in place: the output never outgrows the
 * input).  Escapes are decoded (a surrogate pair into one code point);
 * raw octets must be well-formed UTF-8 and not control characters; \u0000
 * is refused (the result is a C string).
 * CM_OK: OUT holds the string and a NUL, *LEN (may be NULL) its length,
 * *PP points past the closing quote.  CM_EFORMAT: *PP points to the
 * octet at fault and *WHY (may be NULL) says what is wrong ("string not
 * closed", "invalid escape", ...).  CM_EINVAL: *PP is not at a quote.
 */
cm_status cm_json_unquote(const char **pp, const char *end, char *out,
    size_t *len, const char **why);

#endif
