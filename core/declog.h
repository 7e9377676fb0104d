/*
 * declog.h - the decision log (prefix cm_declog_).
 *
 * Every decision the milter takes is kept as one line of JSON in
 * append-only files, one per UTC day, in a configured directory:
 *
 *   DIR/decisions-YYYY-MM-DD.jsonl      (mode 0640)
 *
 *   {"time":"2026-11-23T04:23:00.123456Z","queue_id":"4Xy..","message_id":
 *    "<a@b>","sender":"news@x","type":"offers","campaign":"c-42","rcpt":
 *    "bob@y","verdict":"deny","reason":"no-consent","action":"removed"}
 *
 * A field that was not known is written as null.  The day of a record
 * (its file) is the UTC day of its "time".
 *
 * Writing.  Producers (milter worker threads) call cm_declog_add(), or
 * cm_declog_add_many() for the records of one message (its shared fields
 * formatted once, one allocation and one lock for them all), which format
 * the lines in the caller's thread (CPU only, no I/O, no waiting for the
 * disk) and append them to a bounded in-memory queue.  The writer thread
 * is woken when the queue becomes non-empty and when batch_max records
 * are waiting, not per record; it takes whole batches off the queue,
 * appends them with write(2) and calls fdatasync(2) once per batch (per
 * day file): every flush_ms milliseconds, or sooner when batch_max
 * records are waiting -- never once per record.
 * When the queue is full the record is DROPPED (the mail path never waits
 * for the disk): cm_declog_add() returns CM_ENOMEM, the drop is counted
 * in cm_declog_stats, and the writer reports it through the report
 * callback.  A failed write is rolled back (ftruncate to the previous
 * size, so a file never holds a partial line), counted and reported.
 *
 * Retention.  With retention_days N > 0, a day file DAY is deleted once
 * DAY < today - N (UTC): a record is kept at least N and at most N + 1
 * days.  The writer prunes at start and then at most once per hour.
 *
 * Data minimization.  With hash_addresses, "rcpt" and "sender" are stored
 * only as keyed hashes "hmac-sha256:HEX" (HMAC-SHA-256 of the address as
 * given, usually the normalized key, with a secret key read from key_file;
 * the file is created with 32 random octets and mode 0600 if it does not
 * exist).  cm_declog_hash() computes the same value, so a reader given an
 * address finds its records.  The sender is hashed too because VERP
 * senders carry the recipient's address.  Message-IDs are kept as they
 * are.  With subaddr_sep set, the line of a sub-addressed recipient
 * (LOCAL SEP TAG @DOMAIN) also holds "rcpt_base", the keyed hash of
 * LOCAL@DOMAIN, so that the erasure of the base address finds the lines
 * of sub-addresses it never stored (declog_scrub.h); readers ignore it.
 *
 * JSON.  Lines are always valid JSON: '"' and '\\' are escaped, control
 * characters (U+0000..U+001F, U+007F) become \n, \r, \t, \b, \f or \u00XX,
 * and every octet that is not part of a well-formed UTF-8 sequence
 * (overlong forms, surrogates and code points above U+10FFFF included) is
 * replaced by U+FFFD.  A string field is cut at CM_DECLOG_FIELD_MAX input
 * octets (at a character boundary).
 *
 * Nothing here prints or logs; errors go to the caller as cm_status and
 * to the optional report callback (report.h, called from the writer
 * thread).
 * Open the log after any fork(): it owns a thread.
 *
 * Files: the writer is declog.c, the reader declog_read.c, what both
 * share (names, day files, keyed hashes, parsing a line) declog_line.c
 * (declog_line.h), the erasure's rewrite declog_scrub.c; JSON strings
 * are json.h's, the key file keyfile.h's, times timefmt.h's.
 */
#ifndef CM_DECLOG_H
#define CM_DECLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"
#include "status.h"

#define CM_DECLOG_FIELD_MAX 1024	/* octets kept of one input string */
#define CM_DECLOG_LINE_MAX 65536	/* longer lines are skipped by readers */
#define CM_DECLOG_HASH_PREFIX "hmac-sha256:"
/* "hmac-sha256:" + 64 hex digits + NUL */
#define CM_DECLOG_HASH_BUFSZ (sizeof(CM_DECLOG_HASH_PREFIX) - 1 + 64 + 1)

typedef enum cm_declog_action {
	CM_DECLOG_REFUSED = 1,	/* refused at RCPT (5xx) */
	CM_DECLOG_REMOVED,	/* removed at end of data */
	CM_DECLOG_MONITORED,	/* would have been denied; monitor mode */
	CM_DECLOG_ALLOWED,
	CM_DECLOG_TEMPFAILED	/* internal error, deferred (4xx) */
} cm_declog_action;

/* "refused", "removed", "monitored", "allowed", "tempfailed";
 * parse returns CM_EINVAL for anything else. */
const char *cm_declog_action_name(cm_declog_action a);
cm_status cm_declog_action_parse(const char *s, cm_declog_action *out);

/*
 * One decision.  Every string may be NULL (written as null).  verdict and
 * reason are the names of decide.h ("allow", "deny", "no-consent", ...),
 * or "error" and a status text for an internal error.  With time_us 0,
 * cm_declog_add() uses the current time.
 */
typedef struct cm_declog_rec {
	int64_t time_us;
	const char *queue_id;
	const char *message_id;
	const char *sender;
	const char *type;
	const char *campaign;
	const char *rcpt;
	const char *verdict;
	const char *reason;
	cm_declog_action action;
} cm_declog_rec;

typedef struct cm_declog_opts {
	const char *dir;	/* required; created (0750) if missing */
	unsigned retention_days;	/* 0 = keep forever */
	bool hash_addresses;	/* store rcpt/sender as keyed hashes */
	const char *key_file;	/* required with hash_addresses */
	char subaddr_sep;	/* with hash_addresses: see "rcpt_base" */
	size_t queue_max;	/* records waiting; 0 = 65536 */
	size_t batch_max;	/* wake the writer at this many; 0 = 1000 */
	unsigned flush_ms;	/* longest wait before a batch; 0 = 100 */
	/* every problem, from the writer thread (report.h): severity
	 * CM_REPORT_ERROR, the status, the errno of the failing call (0 if
	 * none), no subject; may be NULL */
	cm_report_fn *report;
	void *report_arg;
} cm_declog_opts;

typedef struct cm_declog cm_declog;

typedef struct cm_declog_stats {
	uint64_t added;		/* records accepted by cm_declog_add */
	uint64_t written;	/* records written and synced */
	uint64_t dropped;	/* queue full */
	uint64_t lost;		/* write/sync failures (records) */
	uint64_t batches;	/* fdatasync calls */
	uint64_t pruned;	/* day files deleted */
	cm_status last_status;	/* of the last failure, CM_OK if none */
	int last_errno;
} cm_declog_stats;

/*
 * Open the log (creates DIR if needed, loads or creates the key, prunes
 * old files, starts the writer thread).  Returns CM_OK, CM_EINVAL,
 * CM_EIO, CM_EPERM, CM_ENOMEM.
 */
cm_status cm_declog_open(const cm_declog_opts *opts, cm_declog **out);

/*
 * Queue one record.  Thread-safe; never blocks on I/O.  CM_OK, CM_EINVAL
 * (bad action), CM_ENOMEM (queue full or out of memory: the record is
 * dropped and counted).
 */
cm_status cm_declog_add(cm_declog *log, const cm_declog_rec *rec);

/* What differs between the records of one message. */
typedef struct cm_declog_item {
	int64_t time_us;	/* 0 = now */
	const char *rcpt;
	const char *verdict;
	const char *reason;
	cm_declog_action action;
} cm_declog_item;

/*
 * Queue N records: record I has the queue id, Message-ID, sender, type
 * and campaign of BASE (its other fields are not used) and the time,
 * recipient, verdict, reason and action of ITEMS[I]; the lines are the
 * same as N calls of cm_declog_add would write, in that order.  CM_EINVAL
 * (an item with a bad action or time) queues nothing.  CM_ENOMEM: out of
 * memory (none queued), or the queue had no room for some (those are
 * dropped); drops are counted.
 */
cm_status cm_declog_add_many(cm_declog *log, const cm_declog_rec *base,
    const cm_declog_item *items, size_t n);

/* Wait until every record queued before the call is written and synced
 * (or lost); CM_OK, or the status of the last failure in that time. */
cm_status cm_declog_flush(cm_declog *log);

void cm_declog_stats_get(cm_declog *log, cm_declog_stats *out);

/* Flush, stop the writer and free everything.  NULL is a no-op. */
void cm_declog_close(cm_declog *log);

/*
 * Keyed hashes.  cm_declog_key_load reads KEY_FILE (16..1024 octets) into
 * KEY (KEY_MAX octets), creating it (32 random octets, mode 0600,
 * atomically) when CREATE and it does not exist.  CM_NOTFOUND if absent
 * and not CREATE.  cm_declog_hash writes "hmac-sha256:" + 64 lower-case
 * hex digits of HMAC-SHA-256(KEY, S) into OUT (CM_DECLOG_HASH_BUFSZ).
 */
#define CM_DECLOG_KEY_MAX 1024
cm_status cm_declog_key_load(const char *key_file, bool create,
    unsigned char *key, size_t key_max, size_t *key_len);
cm_status cm_declog_hash(const unsigned char *key, size_t key_len,
    const char *s, size_t len, char *out);

/*
 * Write S (LEN octets) as a JSON string (with quotes) into BUF of SIZE
 * octets as described above (at most CM_DECLOG_FIELD_MAX input octets).
 * Returns the length written (without NUL), or 0 if SIZE is too small;
 * needs at most 6 * CM_DECLOG_FIELD_MAX + 3 octets.
 */
size_t cm_declog_json_string(const char *s, size_t len, char *buf,
    size_t size);

/*
 * Reading: records of DIR in time order of their day files (lines of one
 * file in file order), streamed with constant memory.  A filter string
 * that is NULL matches everything; otherwise it must equal the field.
 * RCPT is compared with the stored value and, when KEY_FILE can be read,
 * with the keyed hash of RCPT (pass the normalized address).
 */
typedef struct cm_declog_filter {
	int64_t since_us;	/* inclusive; 0 = no lower bound */
	int64_t until_us;	/* exclusive; 0 = no upper bound */
	const char *type;
	const char *campaign;
	const char *reason;
	const char *verdict;
	const char *action;
	const char *rcpt;
	const char *key_file;	/* NULL = no hashed matching */
} cm_declog_filter;

typedef struct cm_declog_reader cm_declog_reader;

/* CM_OK, CM_NOTFOUND (no directory), CM_EIO, CM_ENOMEM. */
cm_status cm_declog_reader_open(const char *dir, const cm_declog_filter *f,
    cm_declog_reader **out);
/*
 * Next matching record into *REC: CM_OK, CM_NOTFOUND at the end, CM_EIO.
 * Strings stay valid until the next call; unknown fields are ignored,
 * lines that are not a valid record are skipped and counted.
 */
cm_status cm_declog_reader_next(cm_declog_reader *r, cm_declog_rec *rec);
/* Lines skipped as malformed so far. */
uint64_t cm_declog_reader_bad(const cm_declog_reader *r);
void cm_declog_reader_close(cm_declog_reader *r);

#endif
