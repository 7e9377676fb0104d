/*
 * request.h - what consent-web answers a request, without the HTTP
 * library (prefix web_req_): the pure part of handler.c, shared with its
 * fuzz target.
 *
 * The caller (handler.c) collects the method, URL, Content-Type, header
 * count and POST body of a request; web_req_decide says which page to
 * answer, or that the token's change is to be recorded.  Nothing here
 * allocates, writes the index or keeps state.
 */
#ifndef WEB_REQUEST_H
#define WEB_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/token.h"

/* Request limits. */
#define WEB_BODY_MAX 1024	/* octets of a POST body */
#define WEB_HEADERS_MAX 64	/* header fields of a request */

/* A request as collected by the caller. */
typedef struct web_req {
	const char *method;		/* "GET", "POST", ... (NUL-terminated) */
	const char *url;		/* the path, NUL-terminated */
	const char *content_type;	/* or NULL */
	const char *body;		/* LEN octets and a NUL after them */
	size_t len;
	bool too_big;			/* more than WEB_BODY_MAX octets came */
	unsigned nheaders;		/* header fields of the request */
} web_req;

/* What to answer. */
typedef enum web_verdict {
	WEB_V_HEADERS = 1,	/* 431: too many header fields */
	WEB_V_METHOD,		/* 405: not GET, HEAD or POST */
	WEB_V_NOTFOUND,		/* 404: neither /u/ nor /c/ */
	WEB_V_TOKEN,		/* 4xx: the token failed (see *TOKST) */
	WEB_V_PAGE,		/* 200: the page with the button (GET/HEAD) */
	WEB_V_TOOBIG,		/* 413: body over WEB_BODY_MAX */
	WEB_V_BODY,		/* 400: not the expected body */
	WEB_V_RECORD		/* POST accepted: record *T */
} web_verdict;

/* Reads the key ring again when a token names a key id RING lacks; the
 * ring to try then (RING itself when there is nothing new). */
typedef const cm_token_ring *(*web_req_reload_fn)(const cm_token_ring *ring);

/*
 * Decide the answer to R: the header count, the method, the path
 * (/u/TOKEN unsubscribe, /c/TOKEN confirm), the token (opened under
 * RING at NOW_US, refused when older than MAX_AGE_US; a CM_NOTFOUND
 * tries RELOAD's ring once if RELOAD is not NULL; a token of the other
 * purpose is CM_EINVAL), then for a POST the body.  *PURPOSE gets the
 * path's purpose (for WEB_V_TOKEN and later verdicts), *T the token
 * (valid for WEB_V_PAGE and later), *TOKST the token's status (CM_OK,
 * or cm_token_open's failure for WEB_V_TOKEN).
 */
web_verdict web_req_decide(const web_req *r, const cm_token_ring *ring,
    web_req_reload_fn reload, int64_t now_us, int64_t max_age_us,
    cm_token_purpose *purpose, cm_token *t, cm_status *tokst);

/*
 * Whether the POST body of R asks for PURPOSE: exactly
 * List-Unsubscribe=One-Click (RFC 8058) or confirm=yes urlencoded
 * (trailing CR/LF ignored), or that field in a multipart/form-data body.
 */
bool web_req_body_ok(const web_req *r, cm_token_purpose purpose);

/*
 * The evidence of a recorded change into OUT (SIZE octets, always
 * NUL-terminated): token-issued="TIME" client="ADDR" user-agent="UA".
 * CLIENT_HDR is the trusted proxy's header value (its last entry is
 * taken; recorded only if it reads as an IPv4/IPv6 address), USER_AGENT
 * the User-Agent; either may be NULL.  Values are cut and reduced to
 * printable ASCII without '"' and '\\'.
 */
void web_req_evidence(const cm_token *t, const char *client_hdr,
    const char *user_agent, char *out, size_t size);

/* What to answer a mailto unsubscribe request (core/mailreq.h). */
typedef enum web_mverdict {
	WEB_M_BAD = 1,		/* 500: not a request line */
	WEB_M_TOKEN,		/* 550: the token failed (see *TOKST) */
	WEB_M_RECORD		/* record *T's withdrawal */
} web_mverdict;

/*
 * Decide the mailto request LINE (LEN octets, the line read from the
 * internal socket): parse it (cm_mailreq_parse), open its token as
 * web_req_decide does (RING, RELOAD, NOW_US, MAX_AGE_US; a token that
 * is not an unsubscribe token is CM_EINVAL).  For WEB_M_RECORD, *T is
 * the token and EVIDENCE (SIZE octets, always NUL-terminated) gets
 * token-issued="TIME" sender="<S>" client="ADDR" message-id="<M>"
 * (printable ASCII without '"' and '\\', each value cut).  *TOKST gets
 * the token's status (CM_OK, or cm_token_open's failure), or the
 * parse failure for WEB_M_BAD.
 */
web_mverdict web_mailto_decide(const char *line, size_t len,
    const cm_token_ring *ring, web_req_reload_fn reload, int64_t now_us,
    int64_t max_age_us, cm_token *t, cm_status *tokst, char *evidence,
    size_t size);

#endif
