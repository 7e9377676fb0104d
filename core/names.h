/*
 * names.h - the newsletter type id rule (prefix cm_type_id_).
 *
 * core/names.c also holds the names of the enumerations of index.h and
 * decide.h (cm_state_name() and the like); those are declared there,
 * beside their enumerations.
 */
#ifndef CM_NAMES_H
#define CM_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Is the LEN octets at S a newsletter type id: 1 to CM_TYPE_ID_MAX
 * (index.h) octets of a-z, 0-9, '.', '_' and '-'?  The one check the
 * configuration, consentctl and the index share.
 */
bool cm_type_id_valid(const char *s, size_t len);

#endif
