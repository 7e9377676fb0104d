/*
 * util.h - small generic helpers shared by core modules and programs
 * (prefix cm_): UTF-8 scanning, a bounded appender, whole reads and
 * writes, durable file writes.  Nothing here
 * knows about mail or consent.
 */
#ifndef CM_UTIL_H
#define CM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <sys/types.h>
#include <time.h>

#include "status.h"

/* Length (1..4) of the well-formed UTF-8 sequence at S (N > 0 octets
 * available), or 0 if S does not start one (overlongs, surrogates and
 * code points above U+10FFFF are not well-formed). */
size_t cm_utf8_len(const unsigned char *s, size_t n);

/*
 * A bounded text appender: octets go into BUF up to CAP, the rest is cut
 * (LEN never passes CAP; no NUL is written).  For lines built on every
 * message's path without printf.
 */
typedef struct cm_sbuf {
	char *buf;
	size_t len, cap;
} cm_sbuf;

static inline void
cm_sbuf_put(cm_sbuf *b, const char *s, size_t n)
{
	if (n > b->cap - b->len)
		n = b->cap - b->len;
	memcpy(b->buf + b->len, s, n);
	b->len += n;
}

static inline void
cm_sbuf_str(cm_sbuf *b, const char *s)
{
	cm_sbuf_put(b, s, strlen(s));
}

/* Decode S, exactly 2 x N lower-case hex digits, into OUT (N octets);
 * false (OUT undefined) if S is anything else. */
bool cm_hex_decode(const char *s, unsigned char *out, size_t n);

/* Write all LEN octets of BUF to FD, retrying on EINTR and short writes.
 * Returns 0, or -1 with errno set. */
int cm_write_all(int fd, const void *buf, size_t len);

/* Read from FD into BUF until LEN octets or end of file, retrying on
 * EINTR and short reads.  Returns the octets read, or -1 with errno
 * set. */
ssize_t cm_read_all(int fd, void *buf, size_t len);

/*
 * Read the whole file PATH (relative to directory DFD, or AT_FDCWD; a
 * symbolic link is followed only if FOLLOW) into a new NUL-terminated
 * buffer *BUF (free it) of *LEN octets.  CM_OK; CM_NOTFOUND, CM_EPERM,
 * CM_EIO (as cm_status_errno); CM_ETOOLONG (more than MAX octets);
 * CM_ENOMEM.
 */
cm_status cm_read_file_at(int dfd, const char *path, bool follow, size_t max,
    char **buf, size_t *len);

/*
 * A file written atomically, piece by piece: cm_tmpfile_open creates
 * the temporary file TMP (relative to directory DFD, or AT_FDCWD; one of
 * that name left by a crash is removed first; MODE as open(2)) and
 * returns its descriptor, or -1 (errno set).  After writing, either
 * cm_tmpfile_commit: fsync and close FD, then rename TMP over DST
 * (REPLACE) or link it to DST (not REPLACE: an existing DST is kept and
 * CM_EEXIST returned), and sync the directory; CM_OK, CM_EEXIST or the
 * status of the failing call, and TMP never stays -- or
 * cm_tmpfile_abort: close FD and remove TMP (errno kept).
 */
int cm_tmpfile_open(int dfd, const char *tmp, unsigned mode);
cm_status cm_tmpfile_commit(int dfd, const char *tmp, int fd,
    const char *dst, bool replace);
void cm_tmpfile_abort(int dfd, const char *tmp, int fd);

/*
 * Write LEN octets of DATA to PATH atomically, as a new file of MODE:
 * written to a temporary name beside it ("PATH.tmp.PID"), fsync'd, then
 * renamed over PATH (REPLACE) or linked to PATH (not REPLACE: an
 * existing PATH is kept, and CM_EEXIST returned), and the directory
 * synced.  A crash leaves PATH old or new, never partial.  CM_OK,
 * CM_EEXIST, CM_ENOMEM, or the status of the failing call
 * (cm_status_errno); the temporary file never stays.
 */
cm_status cm_write_file_atomic(const char *path, const void *data,
    size_t len, unsigned mode, bool replace);

/* fsync(2) directory DIR, or the directory that holds PATH, so that a
 * file created or renamed there is durable.  Best effort: errors are
 * ignored (the data itself was synced by the caller). */
void cm_fsync_dir(const char *dir);
void cm_fsync_parent(const char *path);

/* *TS = the time of clock CLK (CLOCK_MONOTONIC, CLOCK_REALTIME) US
 * microseconds (>= 0) from now: a deadline for pthread_cond_timedwait. */
void cm_deadline_in(clockid_t clk, int64_t us, struct timespec *ts);

/* Initialize condition variable C to time its waits by CLOCK_MONOTONIC
 * (deadlines from cm_deadline_in(CLOCK_MONOTONIC, ...)); 0, or -1. */
int cm_cond_init_mono(pthread_cond_t *c);

#endif
