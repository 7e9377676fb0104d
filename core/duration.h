/*
 * duration.h - durations written as a number and a unit (prefix
 * cm_duration_), the one parser the configuration (config/schema.c) and
 * consentctl's options share.
 *
 * The form is DIGITS UNIT with no space and no sign, UNIT one of
 * s (second), m (minute), h (hour), d (day), w (week): "30s", "730d".
 * Bounds are the caller's: this only reads the text.
 */
#ifndef CM_DURATION_H
#define CM_DURATION_H

#include <stdint.h>

#include "status.h"

/*
 * Parse the NUL-terminated S into *OUT_S seconds.
 *
 * Returns CM_OK; CM_ETOOLONG when the number, or the number times its
 * unit, does not fit in 64 bits; CM_EINVAL for anything else (no digits,
 * no unit, an unknown unit, text after the unit).  On failure *OUT_S is
 * untouched and, when WHY is not NULL, *WHY is set to a short reason for
 * a message ("a unit is required" when S is only digits) or to NULL when
 * "expected a duration" says it all.
 */
cm_status cm_duration_parse(const char *s, uint64_t *out_s, const char **why);

/* Room for any cm_duration_format_ms() text, NUL included. */
#define CM_DURATION_BUFSZ 40

/*
 * Write MS milliseconds for a human into BUF (CM_DURATION_BUFSZ octets):
 * under a second as "250ms", otherwise rounded to the second in days,
 * hours, minutes and seconds with the zero ones left out: "1s",
 * "2m30s", "1h", "1d2h".  Returns BUF.  No errors.
 */
char *cm_duration_format_ms(uint64_t ms, char *buf);

#endif
