/*
 * links.h - the links: section of the configuration (prefix cm_links_):
 * one-click unsubscribe and confirmation links (core/token.h), the
 * headers the milter adds, and the consent-web endpoint.
 *
 * The section is described by a schema table (schema.h) that policy_schema.c
 * places under the key "links"; its values are stored in a cm_links
 * embedded in the policy and read through cm_policy_links() and the
 * accessors below.  Without a links: section, links are disabled.
 */
#ifndef CM_LINKS_H
#define CM_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema.h"

struct cm_policy;

/* What to do with a List-Unsubscribe header the sender set itself. */
typedef enum cm_links_sender {
	CM_LINKS_REPLACE = 1,	/* ours replace the sender's */
	CM_LINKS_KEEP		/* keep the sender's; add none */
} cm_links_sender;

/* Stored by the schema; read through the accessors. */
typedef struct cm_links {
	bool present;		/* the section is in the file */
	bool enabled;
	const char *base_url;	/* https://HOST[:PORT][/PATH], no '/' at the end */
	const char *mailto_local;
	const char *mailto_domain;	/* NULL: no mailto form, no capture */
	const char *mailto_socket;	/* consent-web's internal socket */
	const char *mailto_deliver_to;	/* NULL: a mailto message is discarded */
	const char *key_dir;	/* NULL: DBDIR/link-keys */
	int64_t max_age;	/* microseconds */
	int sender_header;	/* cm_links_sender */
	const char *listen;	/* consent-web: inet:PORT@HOST */
	const char *client_header;	/* NULL: client address of the socket */
	int64_t timeout;	/* consent-web: per connection */
	unsigned max_connections;
} cm_links;

/* The schema table of the section (a CM_SCH_MAP item's .sub), and the
 * check of the whole section (the item's .check; BASE + IT->off is the
 * cm_links). */
extern const cm_sch_item cm_links_items[];
void cm_links_check(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base);

/* The links: settings of policy P (never NULL). Defined in policy.c. */
const cm_links *cm_policy_links(const struct cm_policy *p);

/* Links are on: the section is present and enabled. */
bool cm_links_enabled(const cm_links *l);

/*
 * The key ring directory: links.key_dir, else DB_PATH/link-keys.  Writes
 * into BUF (SIZE octets); returns BUF, or NULL if it does not fit.
 */
const char *cm_links_key_dir(const cm_links *l, const char *db_path,
    char *buf, size_t size);

/*
 * The https link of token TOKEN for purpose P (1 = unsubscribe: BASE/u/,
 * 2 = confirm: BASE/c/), or its mailto form (mailto:LOCAL+TOKEN@DOMAIN;
 * NULL when links.mailto_domain is not set).  Written into BUF (SIZE
 * octets); return BUF, or NULL if it does not fit.
 */
const char *cm_links_url(const cm_links *l, int p, const char *token,
    char *buf, size_t size);
const char *cm_links_mailto(const cm_links *l, const char *token, char *buf,
    size_t size);

/*
 * Mailto unsubscribe is on: links are enabled and links.mailto_domain is
 * set.  The milter then captures mail to LOCAL+TOKEN@DOMAIN and
 * consent-web listens on links.mailto_socket.
 */
bool cm_links_mailto_enabled(const cm_links *l);

/*
 * Is the address RCPT (LEN octets, as the MTA sent it) a mailto
 * unsubscribe address of L: LOCAL+X@DOMAIN with LOCAL and DOMAIN
 * compared without regard to case (a trailing dot of the domain
 * ignored)?  RCPT is read as RFC 5321 allows a sender's MTA to write
 * it: angle brackets, white space inside them, a source route
 * ("@relay:"), a quoted local part ("\"LOCAL+X\"@DOMAIN", backslash
 * escapes) -- none of them escapes the capture.  Then true and X, as
 * decoded (tokens are case-sensitive), goes into TOKEN (SIZE octets,
 * NUL-terminated) with its length in *TOKLEN; X empty, too long for
 * TOKEN (*TOKLEN is then SIZE) or an address that looks like one (it
 * names LOCAL+ and ends in @DOMAIN) but cannot be read also give true
 * with *TOKLEN 0 or SIZE: the caller refuses it as an invalid token.
 * False when it is no such address or mailto is not enabled.
 */
bool cm_links_mailto_match(const cm_links *l, const char *rcpt, size_t len,
    char *token, size_t size, size_t *toklen);

#endif
