/*
 * siphash.h - SipHash-2-4 with 128-bit output (prefix cm_siphash).
 *
 * A keyed pseudo-random function, not a MAC construction: the consent
 * index uses it as the lookup key of an address (codec.h's AKEY), so
 * that no address is ever stored as a B-tree key (branch pages keep
 * copies of keys long after an entry is deleted, which would defeat
 * erasure), and the key cannot be tested without the key file.
 *
 * Private to core/.  No allocation; thread-safe.
 */
#ifndef CM_SIPHASH_H
#define CM_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define CM_SIPHASH_KEY_LEN 16
#define CM_SIPHASH_OUT_LEN 16

/*
 * OUT (CM_SIPHASH_OUT_LEN octets) = SipHash-2-4-128 of DATA (LEN octets)
 * under the CM_SIPHASH_KEY_LEN octets at KEY.  Cannot fail.
 */
void cm_siphash128(const unsigned char key[CM_SIPHASH_KEY_LEN],
    const void *data, size_t len, unsigned char *out);

#endif
