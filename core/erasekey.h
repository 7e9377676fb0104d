/*
 * erasekey.h - the erasure key of a consent index, DIR/erasure.key
 * (prefix cm_erasekey_): CM_ERASEKEY_LEN random octets, mode 0600,
 * created with the index.  It keys the address lookup hash and the
 * tombstones (codec.h): it is part of the index and must be backed up
 * with data.mdb.  The file itself is read and created by keyfile.h.
 * Private to core/.
 */
#ifndef CM_ERASEKEY_H
#define CM_ERASEKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define CM_ERASEKEY_NAME "erasure.key"
#define CM_ERASEKEY_LEN 32

/*
 * Read DIR's key file into KEY (CM_ERASEKEY_LEN octets); with CREATE and
 * no key file, make a new random key and write it durably
 * (cm_keyfile_load).  CM_OK; on failure a status and a text naming the
 * file in ERR (ERRLEN octets): CM_EFORMAT (missing, or not a
 * CM_ERASEKEY_LEN-octet file), CM_EPERM, CM_EIO, CM_ENOMEM.
 */
cm_status cm_erasekey_load(const char *dir, bool create, unsigned char *key,
    char *err, size_t errlen);

/*
 * Write KEY (CM_ERASEKEY_LEN octets) as DIR's new key file, mode 0600,
 * durably (the file and the directory synced; a file left half written
 * is removed): a restore puts an index under the key of its dump.
 * CM_OK; CM_EEXIST (there is a key file already), CM_EPERM, CM_EIO,
 * CM_ENOMEM, with a text naming the file in ERR.
 */
cm_status cm_erasekey_install(const char *dir, const unsigned char *key,
    char *err, size_t errlen);

#endif
