/*
 * listid.h - the list identifier of a List-Id header (prefix cm_listid_).
 *
 * RFC 2919: List-Id: [phrase] "<" list-label "." namespace ">", where the
 * phrase may hold quoted strings and any part may carry comments and
 * folding white space.  The identifier is what the angle brackets
 * enclose, without white space and without one trailing dot:
 *
 *   "Offers <offers.example.com>"                  -> offers.example.com
 *   "<offers.example.com> (archive <https://x>)"   -> offers.example.com
 *   "\"a <b>\" (c) <offers.example.com.>"           -> offers.example.com
 *   "offers.example.com"                           -> offers.example.com
 *     (no angle brackets: the single bare token is taken)
 *
 * Pure: no allocation, no state, thread-safe; meant to be fuzzed through
 * cm_listid_parse() alone.
 */
#ifndef CM_LISTID_H
#define CM_LISTID_H

#include <stddef.h>

#include "status.h"

#define CM_LISTID_MAX 255	/* octets of an identifier (RFC 2919 §2) */

/*
 * Parse the LEN octets at VALUE (a List-Id header value; need not be
 * NUL-terminated; CR and LF count as folding white space) and copy the
 * identifier, NUL-terminated, into OUT (SIZE octets, at least
 * CM_LISTID_MAX + 1 for any valid identifier); *OUT_LEN (if not NULL)
 * gets its length.
 * Returns CM_OK; CM_EINVAL if the value has no identifier, more than one
 * angle-bracketed one, an unterminated comment, quoted string or angle
 * bracket, white space or a control character inside the brackets, an
 * empty label (a leading dot, "..", two trailing dots), or a NUL octet;
 * CM_ETOOLONG if the identifier exceeds CM_LISTID_MAX or SIZE.
 * On failure OUT holds an empty string (when SIZE > 0).
 */
cm_status cm_listid_parse(const char *value, size_t len, char *out,
    size_t size, size_t *out_len);

#endif
