/*
 * status.h - status codes shared by every consent-milter module.
 *
 * Every function of core/ and config/ that can fail returns a cm_status.
 * CM_OK is zero; every other value is a failure (or, for lookups, the
 * distinct outcome CM_NOTFOUND).  cm_strerror() gives a short English
 * message for any value, and never returns NULL.
 */
#ifndef CM_STATUS_H
#define CM_STATUS_H

typedef enum cm_status {
	CM_OK = 0,
	CM_NOTFOUND,		/* lookup: no such entry (not an error) */
	CM_ENOMEM,		/* out of memory */
	CM_EINVAL,		/* invalid argument */
	CM_EIO,			/* operating system I/O error (see errno) */
	CM_EDB,			/* LMDB reported an error */
	CM_EFORMAT,		/* stored data has an unknown version or is corrupt */
	CM_ETOOLONG,		/* a value exceeds its documented limit */
	CM_EEXIST,		/* entry already exists */
	CM_ESTALE,		/* event is older than the stored state: not applied */
	CM_EPERM,		/* permission denied */
	CM_EFULL,		/* the index's map filled up inside a transaction
				 * that cannot be retried (cm_import_*): it has
				 * been grown; begin again */
	CM_EFUTURE,		/* event dated after now beyond the allowed
				 * clock skew: refused (rules.h) */
	CM_EBUSY,		/* another writer holds the index (not waited for) */
	CM_EUPGRADE,		/* index of format 1: needs cm_migrate_keys
				 * (consentctl upgrade) before use */
	CM_EUPSTREAM,		/* the shared store (upstream: PostgreSQL) cannot
				 * be reached or refused the request */

	/* address normalization (core/addr.h) */
	CM_ADDR_EMPTY,		/* empty address, or "<>" */
	CM_ADDR_NO_AT,		/* no '@' separating local part and domain */
	CM_ADDR_LOCAL_EMPTY,	/* empty local part */
	CM_ADDR_LOCAL_TOO_LONG,	/* local part longer than 64 octets */
	CM_ADDR_DOMAIN_EMPTY,	/* empty domain */
	CM_ADDR_DOMAIN_TOO_LONG, /* domain longer than 255 octets */
	CM_ADDR_BAD_DOMAIN,	/* domain syntax (empty label, label > 63, bad char) */
	CM_ADDR_BAD_IDN,	/* domain is not a valid IDNA2008 name */
	CM_ADDR_CTRL,		/* control character (incl. CR, LF, DEL) */
	CM_ADDR_NUL,		/* NUL byte inside the address */
	CM_ADDR_QUOTE,		/* unbalanced or misplaced quotes / escape */
	CM_ADDR_BAD_UTF8,	/* invalid UTF-8 sequence */
	CM_ADDR_BAD_ROUTE,	/* malformed source route "<@a,@b:u@d>" */
	CM_ADDR_BAD_LOCAL,	/* local-part syntax (special char unquoted, dots) */
	CM_ADDR_BRACKET,	/* unbalanced '<' '>' */
	CM_ADDR_ROUTED,		/* '%' or '!' routing form, refused by option */

	/* times (core/timefmt.h) */
	CM_TIME_INVALID,	/* not an RFC 3339 date-time */
	CM_TIME_RANGE,		/* date-time outside the supported range */

	CM_STATUS_MAX		/* number of codes; not a status */
} cm_status;

/* Short description of STATUS; unknown values give "unknown status". */
const char *cm_strerror(int status);

/* The status for an errno value E of a failed system call: ENOENT ->
 * CM_NOTFOUND, EACCES/EPERM/EROFS -> CM_EPERM, ENOMEM -> CM_ENOMEM,
 * anything else -> CM_EIO (the caller keeps errno for its message). */
cm_status cm_status_errno(int e);

#endif
