/*
 * hmac.h - HMAC-SHA256 (RFC 2104) under a prepared key (prefix cm_hmac_).
 *
 * The consent index derives its keys from the 32-octet erasure key
 * (keyfile.h) with it: the SipHash key of the address keys and the key
 * check stored in "meta" (codec.c).  OpenSSL's EVP_MAC does the work;
 * the key is absorbed once in cm_hmac_new and each MAC starts from a
 * copy of that state.  Private to core/.
 */
#ifndef CM_HMAC_H
#define CM_HMAC_H

#include <stddef.h>

#include "status.h"

#define CM_HMAC_OUT_LEN 32

typedef struct cm_hmac cm_hmac;

/* Prepare HMAC-SHA256 with the KEY_LEN octets at KEY.  CM_OK with *OUT;
 * CM_EINVAL, CM_ENOMEM, CM_EIO (OpenSSL refused). */
cm_status cm_hmac_new(const unsigned char *key, size_t key_len,
    cm_hmac **out);
/* Free H (NULL is allowed); the key state is cleared. */
void cm_hmac_free(cm_hmac *h);

/* OUT (CM_HMAC_OUT_LEN octets) = HMAC-SHA256(key, DATA[0..LEN)).
 * Thread-safe (the prepared state is copied).  CM_OK, or CM_ENOMEM /
 * CM_EIO from OpenSSL (OUT is then zeroed). */
cm_status cm_hmac_sha256(const cm_hmac *h, const void *data, size_t len,
    unsigned char *out);

#endif
