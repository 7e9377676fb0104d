/*
 * keyfile.h - the erasure key of a consent index, DIR/erasure.key
 * (prefix cm_keyfile_): CM_KEYFILE_LEN random octets, mode 0600,
 * created with the index.  It keys the address lookup hash and the
 * tombstones (codec.h): it is part of the index and must be backed up
 * with data.mdb.  Private to core/.
 */
#ifndef CM_KEYFILE_H
#define CM_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define CM_KEYFILE_NAME "erasure.key"
#define CM_KEYFILE_LEN 32

/*
 * Read DIR's key file into KEY (CM_KEYFILE_LEN octets); with CREATE and
 * no key file, make a new random key and write it durably (O_EXCL).
 * CM_OK; on failure a status and a text naming the file in ERR (ERRLEN
 * octets): CM_EFORMAT (missing, or not a CM_KEYFILE_LEN-octet regular
 * file), CM_EPERM, CM_EIO, CM_ENOMEM.
 */
cm_status cm_keyfile_load(const char *dir, bool create, unsigned char *key,
    char *err, size_t errlen);

/*
 * Write KEY (CM_KEYFILE_LEN octets) as DIR's new key file, mode 0600,
 * durably (the file and the directory synced; a file left half written
 * is removed).  CM_OK; CM_EEXIST (there is a key file already),
 * CM_EPERM, CM_EIO, CM_ENOMEM, with a text naming the file in ERR.
 */
cm_status cm_keyfile_create(const char *dir, const unsigned char *key,
    char *err, size_t errlen);

#endif
