/*
 * hmac.h - keyed hashes for the consent index (prefix cm_hmac_).
 *
 * Two keyed functions, both derived from the index's 32-octet erasure
 * key (DIR/erasure.key):
 *
 *   cm_hmac_sha256  HMAC-SHA256 (RFC 2104) with the inner and outer
 *                   SHA-256 states precomputed once; used for the
 *                   tombstones of erased addresses.
 *   cm_hmac_sip128  SipHash-2-4 with 128-bit output; used as the
 *                   lookup key of an address in the index, so that no
 *                   address is ever stored as a B-tree key (branch pages
 *                   keep copies of keys long after an entry is deleted,
 *                   which would defeat erasure).
 *
 * Private to core/.  Allocation only in cm_hmac_new.
 */
#ifndef CM_HMAC_H
#define CM_HMAC_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define CM_HMAC_KEY_LEN 32
#define CM_HMAC_OUT_LEN 32
#define CM_SIP_OUT_LEN 16

typedef struct cm_hmac cm_hmac;

/* Prepare HMAC-SHA256 with the KEY_LEN octets at KEY. */
cm_status cm_hmac_new(const unsigned char *key, size_t key_len,
    cm_hmac **out);
void cm_hmac_free(cm_hmac *h);

/* OUT (CM_HMAC_OUT_LEN octets) = HMAC-SHA256(key, DATA[0..LEN)).
 * Thread-safe (the prepared states are copied). */
void cm_hmac_sha256(const cm_hmac *h, const void *data, size_t len,
    unsigned char *out);

/* OUT (CM_SIP_OUT_LEN octets) = SipHash-2-4-128 of DATA under the
 * 16-octet KEY. */
void cm_hmac_sip128(const unsigned char key[16], const void *data,
    size_t len, unsigned char *out);

#endif
