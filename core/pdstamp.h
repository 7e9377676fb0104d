/*
 * pdstamp.h - consent-policy's stamp file: which configuration it
 * enforces, and that it is running (prefix cm_pdstamp_).
 *
 * consent-policy writes the stamp when it starts and on every reload,
 * and rewrites it every CM_PDSTAMP_REFRESH seconds; it removes it when it
 * stops.  The milter takes its fast path (policy.decides_envelope_types)
 * only while the stamp is fresh (written within CM_PDSTAMP_MAX_AGE
 * seconds) and names the digest of the milter's own configuration: a
 * consent-policy that is not running, hangs, or enforces another file
 * (one daemon reloaded and the other not) makes the milter decide
 * itself.  The stamp is one line:
 *
 *   consent-policy-stamp 1 DIGEST PID
 *
 * DIGEST is CM_PDSTAMP_DIGEST_LEN lower-case hex digits: SipHash-2-4-128
 * under a fixed key of the configuration file's bytes, an equality
 * check (not a secret: whoever may write the stamp may run the server).
 * Nothing here logs.
 */
#ifndef CM_PDSTAMP_H
#define CM_PDSTAMP_H

#include <stddef.h>
#include <time.h>

#include "status.h"

#define CM_PDSTAMP_DIGEST_LEN 32
#define CM_PDSTAMP_REFRESH 2	/* seconds between rewrites */
#define CM_PDSTAMP_MAX_AGE 10	/* seconds a stamp stays fresh */

/* The digest of DATA[0..LEN) into OUT (CM_PDSTAMP_DIGEST_LEN + 1 octets,
 * NUL-terminated). */
void cm_pdstamp_digest(const void *data, size_t len, char *out);

/*
 * Write the stamp for DIGEST (CM_PDSTAMP_DIGEST_LEN hex digits) and
 * process PID to PATH, atomically (PATH.tmp, then renamed; mode 0644).
 * CM_OK, CM_EINVAL (a bad DIGEST, a PATH too long) or CM_EIO (errno set).
 */
cm_status cm_pdstamp_write(const char *path, const char *digest, long pid);

/* What a stamp says of the configuration DIGEST. */
typedef enum cm_pdstamp_state {
	CM_PDSTAMP_OK = 0,	/* fresh, and for DIGEST */
	CM_PDSTAMP_MISSING,	/* no stamp (consent-policy not running) */
	CM_PDSTAMP_STALE,	/* not rewritten for CM_PDSTAMP_MAX_AGE s */
	CM_PDSTAMP_OTHER,	/* for another configuration */
	CM_PDSTAMP_BAD		/* unreadable, or not a stamp */
} cm_pdstamp_state;

/* The state of the stamp at PATH for configuration DIGEST at time NOW
 * (seconds since the epoch; a stamp dated more than CM_PDSTAMP_MAX_AGE
 * seconds ahead is stale too). */
cm_pdstamp_state cm_pdstamp_check(const char *path, const char *digest,
    time_t now);

/* "fresh", "missing", "stale", "for another configuration",
 * "unreadable". */
const char *cm_pdstamp_state_name(cm_pdstamp_state s);

#endif
