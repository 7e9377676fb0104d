/*
 * keyfile.h - secret key files (prefix cm_keyfile_).
 *
 * A key file holds raw random octets, mode 0600.  The decision log's
 * key for keyed address hashes (declog.h) is one; the index's
 * erasure.key (index.h) is another.
 */
#ifndef CM_KEYFILE_H
#define CM_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define CM_KEYFILE_NEW_LEN 32	/* octets of a key this module creates */

/*
 * Load key file PATH into KEY (KEY_MAX octets), its length into
 * *KEY_LEN; it must hold MIN_LEN..KEY_MAX octets.  When
 * it does not exist and CREATE, it is created first: CM_KEYFILE_NEW_LEN
 * octets from getrandom(2), mode 0600, written to a temporary file,
 * synced and linked into place (so a key is never seen half written,
 * and of two processes creating it at once both load the same key), and
 * the directory synced.
 * Returns CM_OK; CM_NOTFOUND (absent and not CREATE); CM_EFORMAT
 * (shorter than MIN_LEN or longer than KEY_MAX);
 * CM_EINVAL (a NULL or empty argument, MIN_LEN 0 or above KEY_MAX, or
 * CREATE with KEY_MAX below CM_KEYFILE_NEW_LEN); CM_EPERM, CM_EIO,
 * CM_ENOMEM.  On failure KEY holds nothing of the file.
 */
cm_status cm_keyfile_load(const char *path, bool create, size_t min_len,
    unsigned char *key, size_t key_max, size_t *key_len);

#endif
