/*
 * token.h - stateless link tokens for one-click unsubscribe and double
 * opt-in confirmation links (prefix cm_token_).
 *
 * A token names a normalized address (addr.h key), a newsletter type,
 * its purpose and the minute it was issued.  It is sealed with
 * ChaCha20-Poly1305 (OpenSSL EVP) under a 32-octet key of a key ring:
 * the address never appears in clear, a token cannot be forged or
 * altered without the key, and nothing is stored per token (an erased
 * address leaves nothing behind).  Layout before base64url (RFC 4648
 * section 5, no padding):
 *
 *   octet 0       key id (0..255), also the AEAD's associated data
 *   octets 1..12  random nonce
 *   then          ciphertext of: purpose (1 octet), issue time (4 octets,
 *                 big endian, minutes since the epoch), type length
 *                 (1 octet), type, address
 *   last 16       Poly1305 tag
 *
 * "news" for "bob@example.com" gives a token of 72 characters.
 *
 * Key ring: a directory (by default DBDIR/link-keys, mode 0700) of files
 * "N.key" (N = key id in decimal, 0..255), each 32 random octets, mode
 * 0600.  The key with the highest id seals new tokens (the current key);
 * every key in the ring opens tokens.  Rotation = add a key with a
 * higher id; retire an old key by removing its file (its tokens are then
 * refused as from an unknown key).
 *
 * Nothing here allocates except cm_token_ring_load/_new.  A ring is
 * immutable once loaded and may be shared by threads.
 */
#ifndef CM_TOKEN_H
#define CM_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "index.h"
#include "status.h"

#define CM_TOKEN_KEY_LEN 32
/* Longest token text: 1 + 12 + 6 + 64 + 320 + 16 octets in base64url, NUL */
#define CM_TOKEN_TEXT_MAX 560
/* Default validity of a token: two years (people click old mail). */
#define CM_TOKEN_MAX_AGE_DEFAULT (2LL * 366 * 86400 * 1000000)
/* Name of the key ring directory under the database directory. */
#define CM_TOKEN_RING_DIR "link-keys"

typedef enum cm_token_purpose {
	CM_TOKEN_UNSUBSCRIBE = 1,	/* withdraw consent for the type */
	CM_TOKEN_CONFIRM = 2		/* confirm a pending double opt-in */
} cm_token_purpose;

/* "unsubscribe", "confirm", or "?" */
const char *cm_token_purpose_name(cm_token_purpose p);

typedef struct cm_token_ring cm_token_ring;

/* What an opened token says. */
typedef struct cm_token {
	cm_token_purpose purpose;
	unsigned key_id;		/* the key that sealed it */
	int64_t issued_us;		/* issue time, whole minutes */
	char type[CM_TYPE_ID_MAX + 1];
	char addr[CM_ADDR_KEY_MAX];	/* normalized address key */
} cm_token;

/* An empty ring (for tests and for rings built in memory).  CM_ENOMEM. */
cm_status cm_token_ring_new(cm_token_ring **out);

/* Add key ID (0..255) with the CM_TOKEN_KEY_LEN octets at KEY.
 * CM_EEXIST if the ring has that id, CM_EINVAL for an id above 255. */
cm_status cm_token_ring_add(cm_token_ring *r, unsigned id,
    const unsigned char *key);

/*
 * Load every "N.key" of directory DIR.  Other names are ignored; a key
 * file that is not exactly 32 octets, or is readable or writable by
 * group or others, is an error (CM_EFORMAT, CM_EPERM).  Returns CM_OK,
 * CM_NOTFOUND (no such directory, or no key in it), CM_EPERM, CM_EIO,
 * CM_EFORMAT, CM_ENOMEM.  *ERRPATH (if not NULL) points at a static
 * buffer naming the directory, or on error the file at fault: callers
 * that load from several threads at once serialize their loads.
 */
cm_status cm_token_ring_load(const char *dir, cm_token_ring **out,
    const char **errpath);

/*
 * Create a new key in directory DIR (created mode 0700 if missing): id
 * 0 in an empty ring, else one above the highest.  The file is written
 * under a temporary name, synced and renamed, mode 0600.  *ID (if not
 * NULL) gets the new id.  CM_EFULL when id 255 exists already, CM_EPERM,
 * CM_EIO.
 */
cm_status cm_token_ring_create_key(const char *dir, unsigned *id);

void cm_token_ring_free(cm_token_ring *r);

/* Id of the current (highest) key; CM_NOTFOUND for an empty ring. */
cm_status cm_token_ring_current(const cm_token_ring *r, unsigned *id);

/*
 * Seal a token for normalized address ADDR and type TYPE (a valid type
 * id: [a-z0-9._-], 1..64), issued at NOW_US (rounded down to the
 * minute), under the ring's current key.  OUT holds OUTSZ octets
 * (CM_TOKEN_TEXT_MAX is always enough); the text is NUL-terminated.
 * Returns CM_OK, CM_NOTFOUND (empty ring), CM_EINVAL (bad purpose, type
 * or address, time before 1970 or after 10135), CM_ETOOLONG (OUT too
 * small), CM_EIO (random source or cipher failed).
 */
cm_status cm_token_seal(const cm_token_ring *r, cm_token_purpose purpose,
    const char *addr, const char *type, int64_t now_us, char *out,
    size_t outsz);

/*
 * Open the LEN octets of TEXT (need not be NUL-terminated).  On CM_OK
 * *OUT holds what the token says.  Failures (nothing in *OUT may be
 * used):
 *   CM_EINVAL    not a token: bad characters or length, the tag does not
 *                verify (forged, damaged, sealed by another key with the
 *                same id), or the plaintext is malformed;
 *   CM_NOTFOUND  sealed by a key id that is not in the ring;
 *   CM_ESTALE    expired: issued more than MAX_AGE_US before NOW_US
 *                (MAX_AGE_US <= 0: never expires);
 *   CM_EFUTURE   issued more than five minutes after NOW_US.
 */
cm_status cm_token_open(const cm_token_ring *r, const char *text,
    size_t len, int64_t now_us, int64_t max_age_us, cm_token *out);

#endif
