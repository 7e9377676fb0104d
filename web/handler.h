/*
 * handler.h - the requests of consent-web (prefix web_): one-click
 * unsubscribe (RFC 8058) and double opt-in confirmation links.
 *
 *   GET|HEAD /u/TOKEN  a page with one button that POSTs; changes nothing
 *   POST /u/TOKEN      body List-Unsubscribe=One-Click (urlencoded or
 *                      multipart/form-data): withdraws consent to the
 *                      token's type (source one-click); 200 only after
 *                      the change is committed
 *   GET|HEAD /c/TOKEN  a page with one button that POSTs
 *   POST /c/TOKEN      body confirm=yes: confirms the pending double
 *                      opt-in of the token's type
 *
 * A forged, damaged, expired or unknown-key token, or a token of the
 * other purpose, gets a 4xx page and changes nothing; a replay is
 * answered 200 and adds no history event (the index calls it stale).
 * An index that cannot be written gets 503 (the client retries):
 * nothing is ever answered 200 that was not recorded.
 */
#ifndef WEB_HANDLER_H
#define WEB_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "../core/token.h"
#include "request.h"

/* Request limits: request.h. */

typedef struct web_conf {
	const char *db_dir;		/* the consent index */
	const cm_token_ring *ring;
	const char *key_dir;		/* the ring's directory: a token of a
					 * key id the ring lacks reloads it
					 * (a key added by link new-key) */
	int64_t max_age_us;		/* tokens older are refused */
	int64_t clock_skew_us;		/* of the index's events */
	const char *client_header;	/* trusted proxy's header, or NULL */
	int verbose;
} web_conf;

/* Set the configuration the handlers use (kept by pointer); once,
 * before the daemon starts. */
void web_handler_init(const web_conf *conf);
/* Free the key rings read again since (after the daemon stopped). */
void web_handler_fini(void);

/* The key ring in use (a reloaded one after a key was added), and its
 * reload on a token of an unknown key id (request.h's
 * web_req_reload_fn).  Thread-safe; after web_handler_init. */
const cm_token_ring *web_ring(void);
const cm_token_ring *web_ring_reload(const cm_token_ring *old);

/* libmicrohttpd's access handler and request-completed callback. */
enum MHD_Result web_handle(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload, size_t *upload_size, void **req_cls);
void web_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe);

#endif
