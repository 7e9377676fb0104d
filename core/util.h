/*
 * util.h - small generic helpers shared by core modules and programs
 * (prefix cm_): UTF-8 scanning and durable file writes.  Nothing here
 * knows about mail or consent.
 */
#ifndef CM_UTIL_H
#define CM_UTIL_H

#include <stddef.h>

/* Length (1..4) of the well-formed UTF-8 sequence at S (N > 0 octets
 * available), or 0 if S does not start one (overlongs, surrogates and
 * code points above U+10FFFF are not well-formed). */
size_t cm_utf8_len(const unsigned char *s, size_t n);

/* Write all LEN octets of BUF to FD, retrying on EINTR and short writes.
 * Returns 0, or -1 with errno set. */
int cm_write_all(int fd, const void *buf, size_t len);

/* fsync(2) directory DIR, or the directory that holds PATH, so that a
 * file created or renamed there is durable.  Best effort: errors are
 * ignored (the data itself was synced by the caller). */
void cm_fsync_dir(const char *dir);
void cm_fsync_parent(const char *path);

#endif
