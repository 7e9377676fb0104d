/*
 * number.h - reading unsigned decimal numbers in text (prefix
 * cm_number_), the one digit loop of the configuration's values and
 * durations (core/duration.h).
 */
#ifndef CM_NUMBER_H
#define CM_NUMBER_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Read the decimal digits at *P (no sign, no space, leading zeros
 * allowed) as a value of at most MAX.  On success stores it in *OUT,
 * advances *P past the digits and returns true; returns false, leaving
 * *P and *OUT untouched, when *P is not a digit or the value exceeds
 * MAX.
 */
bool cm_number_u64(const char **p, uint64_t max, uint64_t *out);

#endif
