/*
 * addr.h - envelope address normalization (prefix cm_addr_).
 *
 * One function turns an address as an SMTP client, a CRM export or an
 * operator wrote it into the key under which the consent index stores it.
 * The milter and consentctl call the same function, so an address always
 * finds its record.
 *
 * Accepted input: "<Bob@Example.NET>", "Bob@Example.NET", quoted local
 * parts ("\"john doe\"@x", with backslash escapes), source routes
 * ("<@relay1,@relay2:u@x>", dropped), a trailing dot on the domain,
 * U-label (UTF-8) domains, UTF-8 local parts (SMTPUTF8), address
 * literals ("u@[192.0.2.1]", kept as written).
 *
 * Output key: LOCAL "@" DOMAIN where
 *   - LOCAL is unquoted (quotes and escapes removed); a local part with
 *     non-ASCII characters is put in Unicode Normalization Form C and,
 *     when opts->fold_local_case, Unicode case-folded (full folding,
 *     canonical caseless match: NFC(toCasefold(NFD(x))), libunistring),
 *     so "über", "Über", "ÜBER" and the NFD form of "über" are one key;
 *     an ASCII local part has its letters folded to lower case when
 *     opts->fold_local_case.  With opts->local_octets the non-ASCII
 *     octets are kept as written (ASCII-only folding, the behaviour of
 *     index format 1);
 *   - DOMAIN is lower case, without trailing dot, IDNA2008 A-labels
 *     ("xn--...") for any non-ASCII label (libidn2, TR46 non-transitional).
 * Limits: local part 1..64 octets, domain 1..255 octets (after conversion).
 * Nothing is truncated: over-long input is an error.
 *
 * Routing forms: an unquoted local part with '%' or '!' ("ivan%example.net@
 * localhost", "example.net!ivan@localhost") is what Postfix, for a local
 * domain, rewrites to another address (allow_percent_hack,
 * swap_bangpath).  With opts->route_local CM_ADDR_ROUTE_RESOLVE (the
 * default) the key is that address, whatever the domain after '@' (the
 * milter cannot know which domains are local): "site!rest" is rest@site
 * (first '!'), "rest%site" is rest@site (last '%'), repeated until none
 * is left, so "ivan%example.net@localhost" -> "ivan@example.net" and the
 * record of ivan@example.net applies.  An empty side ("%x@y", "a!@y") or
 * an invalid site is an error.  The domain after '@' must still be valid.
 * With CM_ADDR_ROUTE_REFUSE such an address is CM_ADDR_ROUTED.  A quoted
 * local part ("\"a%b\"@x") is never a routing form.
 *
 * Sub-addressing: when opts->subaddr_sep is not 0 and the local part
 * contains it (not as the first character), base is the key with the
 * separator and everything after it in the local part removed
 * ("bob+news@x" -> base "bob@x").  Otherwise base equals key.
 *
 * Details:
 *   - spaces and tabs around the whole address are ignored; any other
 *     control character (C0, DEL, C1 U+0080..U+009F) anywhere, even
 *     quoted, is CM_ADDR_CTRL; UTF-8 must be valid (no overlong forms,
 *     no surrogates);
 *   - the 64-octet limit applies to the local part as written (with its
 *     quotes and backslashes) and to the key's local part after NFC and
 *     case folding (which can lengthen it: CM_ADDR_LOCAL_TOO_LONG);
 *   - the sub-address starts at the first separator;
 *   - the key's local part is plain bytes: it may contain characters that
 *     would need quoting in an address (""john doe"@x" -> "john doe@x");
 *   - ASCII domains never go through libidn2: "xn--" labels are taken as
 *     written (lower-cased), not decoded; non-ASCII labels are converted
 *     one at a time (libidn2 allocates internally; nothing is kept).
 */
#ifndef CM_ADDR_H
#define CM_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define CM_ADDR_LOCAL_MAX 64
#define CM_ADDR_DOMAIN_MAX 255
/* local + '@' + domain + NUL */
#define CM_ADDR_KEY_MAX (CM_ADDR_LOCAL_MAX + 1 + CM_ADDR_DOMAIN_MAX + 1)

/* Routing forms ('%', '!') in an unquoted local part. */
typedef enum cm_addr_route {
	CM_ADDR_ROUTE_RESOLVE = 0,	/* key = the routed address (default) */
	CM_ADDR_ROUTE_REFUSE,		/* CM_ADDR_ROUTED */
	CM_ADDR_ROUTE_LITERAL		/* '%' and '!' are plain characters:
					 * the address as written (decide.c
					 * checks it beside the routed one) */
} cm_addr_route;

/* A zeroed struct means: no folding, no sub-addressing, Unicode
 * normalization, routing forms resolved. */
typedef struct cm_addr_opts {
	bool fold_local_case;	/* default true */
	char subaddr_sep;	/* default '+'; 0 disables sub-addressing */
	bool local_octets;	/* default false: NFC + Unicode folding */
	cm_addr_route route_local;	/* default CM_ADDR_ROUTE_RESOLVE */
} cm_addr_opts;

/* A normalized address; a plain value, no allocation, copy freely. */
typedef struct cm_addr {
	char key[CM_ADDR_KEY_MAX];	/* NUL-terminated normalized address */
	size_t key_len;
	char base[CM_ADDR_KEY_MAX];	/* key without sub-address */
	size_t base_len;
	size_t domain_off;	/* key + domain_off is the domain */
	bool has_subaddr;	/* base differs from key */
} cm_addr;

/* Fill OPTS with the defaults (fold case, '+' separator, Unicode
 * normalization, routing forms resolved).  A separator
 * other than 0 must be printable ASCII other than '@' (else CM_EINVAL). */
void cm_addr_opts_default(cm_addr_opts *opts);

/*
 * Normalize the LEN octets at IN (need not be NUL-terminated; an embedded
 * NUL is CM_ADDR_NUL).  OPTS may be NULL for the defaults.  On success
 * fills *OUT and returns CM_OK; on failure returns one of the CM_ADDR_*
 * codes (or CM_ADDR_BAD_IDN for domain conversion), or CM_ENOMEM, and
 * *OUT is undefined.  Thread-safe; allocates nothing for an ASCII local
 * part (libidn2 and libunistring allocate internally for non-ASCII
 * domains and local parts; nothing is kept).
 */
cm_status cm_addr_normalize(const char *in, size_t len,
    const cm_addr_opts *opts, cm_addr *out);

/*
 * Normalize again KEY (LEN octets), a key made by an older version (its
 * local part unquoted plain bytes, its domain normalized), under OPTS:
 * what cm_addr_normalize would make of the address the key was made from.
 * A local part that would be a valid dot-atom is taken as unquoted (its
 * routing forms are resolved), any other as quoted.  For the migration of
 * index keys (core/migrate.h).  Returns as cm_addr_normalize.
 */
cm_status cm_addr_rekey(const char *key, size_t len, const cm_addr_opts *opts,
    cm_addr *out);

/* Normalize a domain alone (for domain-wide suppression); OUT holds at
 * least CM_ADDR_DOMAIN_MAX + 1 octets. */
cm_status cm_addr_normalize_domain(const char *in, size_t len, char *out,
    size_t *out_len);

/*
 * Write normalized address KEY (LEN octets, as in cm_addr.key) as an
 * address that cm_addr_normalize turns back into KEY: the local part as
 * it is when it is a dot-atom, else as a quoted string ("john doe@x" ->
 * "\"john doe\"@x", with '"' and '\\' escaped).  OUT holds OUTSZ octets
 * (CM_ADDR_TEXT_MAX is always enough); *OUT_LEN gets the length written
 * (without the NUL).  Returns CM_OK, CM_ADDR_NO_AT, CM_ADDR_LOCAL_EMPTY,
 * CM_ETOOLONG (OUT too small) or CM_EINVAL.
 */
#define CM_ADDR_TEXT_MAX (2 * CM_ADDR_LOCAL_MAX + 3 + CM_ADDR_DOMAIN_MAX + 1)
cm_status cm_addr_format(const char *key, size_t len, char *out,
    size_t outsz, size_t *out_len);

#endif
