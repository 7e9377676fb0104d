/*
 * dsnq_spool.h - the DSN spool's files (prefix cm_dsnq_spool_), shared
 * by the queue thread (dsnq.c), consentctl's access (cm_dsnq_list,
 * cm_dsnq_resend) and the erasure (dsnq_scrub.h).
 *
 * One file per DSN in the spool directory: ID.dsn while pending,
 * ID.failed once given up.  Its format (dsnq.h): "CM-DSN 1\n", then
 * "rcpt: ADDR\n", "smtputf8: 0|1\n", "created: MICROSECONDS\n", once
 * an attempt failed "attempts: N\n" (attempts made, counted across
 * restarts), while pending "next: MICROSECONDS\n" (the planned retry,
 * wall clock) and "error: TEXT\n" (the last error), an empty line,
 * then the message (CRLF line ends, not dot-stuffed).  Readers ignore
 * header lines they do not know.  Files are written atomically
 * (cm_write_file_atomic) and at most CM_DSNQ_SPOOL_FILE_MAX octets are
 * read back.
 */
#ifndef CM_DSNQ_SPOOL_H
#define CM_DSNQ_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsnq.h"
#include "status.h"

#define CM_DSNQ_SUF_PENDING ".dsn"
#define CM_DSNQ_SUF_FAILED ".failed"
#define CM_DSNQ_SPOOL_FILE_MAX (16 * 1024 * 1024)

/* A spooled DSN read back (cm_dsnq_spool_read). */
typedef struct cm_dsnq_spooled {
	char *data;		/* whole file, NUL-terminated; fields point in */
	char *rcpt, *error;	/* error: NULL until an attempt failed */
	bool smtputf8;
	int64_t created;	/* microseconds */
	unsigned attempts;	/* failed attempts so far */
	int64_t next;		/* planned retry, microseconds; 0: none */
	const char *msg;	/* the message, LEN octets */
	size_t len;
} cm_dsnq_spooled;

/* "SPOOL/ID SUFFIX" in a new string (free it), or NULL (no memory). */
char *cm_dsnq_spool_path(const char *spool, const char *id,
    const char *suffix);

/*
 * Write the DSN for RCPT (SMTPUTF8, CREATED microseconds, ERROR or
 * NULL) with message MSG (LEN octets) to SPOOL/ID SUFFIX, atomically and
 * synced.  CM_OK, CM_ETOOLONG (header fields too long), CM_ENOMEM,
 * CM_EIO, CM_EPERM.
 */
cm_status cm_dsnq_spool_write(const char *spool, const char *id,
    const char *suffix, const char *rcpt, bool smtputf8, int64_t created,
    const char *error, const char *msg, size_t len);

/*
 * Read spool file PATH into *S (free S->data after use; on failure
 * nothing is to be freed).  CM_OK, CM_NOTFOUND, CM_EFORMAT (not a spool
 * file, or too large), CM_EIO, CM_EPERM, CM_ENOMEM.
 */
cm_status cm_dsnq_spool_read(const char *path, cm_dsnq_spooled *s);

/*
 * Open spool file NAME (relative to directory DFD, or a path with
 * AT_FDCWD) and take its exclusive flock, waiting for another holder;
 * a file that was replaced or removed meanwhile is opened again.
 * Every change of a spool file (an attempt noted, a DSN marked failed,
 * an erasure deleting it) holds this lock, so an update never writes
 * back a DSN an erasure deleted.  Returns the descriptor (close it to
 * release), or -1 with errno (ENOENT: the file is gone).
 */
int cm_dsnq_spool_lock(int dfd, const char *name);

/* Rewrite pending DSN ID as ID.failed with ERROR (or update the error of
 * a failed one), counting one more attempt.  CM_OK, CM_NOTFOUND, or as
 * cm_dsnq_spool_write. */
cm_status cm_dsnq_spool_mark_failed(const char *spool, const char *id,
    const char *error);

/*
 * Note a failed attempt of pending DSN ID in its file: one attempt more,
 * ERROR the last error, NEXT (microseconds, wall clock) the planned
 * retry.  CM_OK, CM_NOTFOUND (delivered, given up or erased meanwhile),
 * or as cm_dsnq_spool_read and cm_dsnq_spool_write.
 */
cm_status cm_dsnq_spool_note_attempt(const char *spool, const char *id,
    const char *error, int64_t next);

/* Is NAME a spool file's name (not starting with '.', ending in
 * CM_DSNQ_SUF_PENDING or CM_DSNQ_SUF_FAILED)?  *FAILED tells which. */
bool cm_dsnq_spool_name(const char *name, bool *failed);

/* The id of spool file NAME into ID (CM_DSNQ_ID_MAX) and *FAILED; 0, or
 * -1 when NAME is no spool file's name or its id is too long. */
int cm_dsnq_spool_id_of(const char *name, char *id, bool *failed);

/*
 * The names of the spool files of SPOOL, sorted (= by id = by time),
 * into *OUT (N of them; free with cm_dsnq_spool_names_free).  CM_OK,
 * CM_NOTFOUND (no directory), CM_EIO, CM_EPERM, CM_ENOMEM.
 */
cm_status cm_dsnq_spool_names(const char *spool, char ***out, size_t *n);
void cm_dsnq_spool_names_free(char **names, size_t n);

#endif
