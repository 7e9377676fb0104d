/*
 * server.h - the policy-delegation listener and its connections (prefix
 * cm_pdsrv_).
 *
 * One thread per client connection (Postfix keeps one per smtpd
 * process and sends many requests over it in sequence), max_conns at
 * once: accepting never waits; beyond the limit (or out of descriptors)
 * the connection idle longest between requests -- else the one whose
 * request began first -- is shut down (Postfix reconnects).  A
 * connection that sends nothing for idle_timeout_ms between requests is
 * closed, and so is one whose request is not whole within 10 s (or
 * idle_timeout_ms if shorter) of its first byte.  Each
 * request is read by request.h and answered "action=VALUE" followed by an
 * empty line; a malformed request gets the MALFORMED callback's answer
 * and the connection is closed (it cannot be resynchronised).  Nothing
 * a client sends can make the server fail: every read is bounded.
 */
#ifndef CM_PDSRV_H
#define CM_PDSRV_H

#include <stddef.h>

#include "decide.h"
#include "request.h"

/* Write the action value for REQ into OUT (SIZE octets); SEEN is the
 * connection's memory (decide.h), zeroed when it opens. */
typedef void cm_pdsrv_decide_fn(void *arg, const cm_pdreq *req,
    cm_pddec_seen *seen, char *out, size_t size);
/* Write the action value for a request refused for WHY into OUT. */
typedef void cm_pdsrv_bad_fn(void *arg, const char *why, char *out,
    size_t size);

typedef struct cm_pdsrv_opts {
	unsigned max_conns;	/* >= 1 */
	unsigned idle_timeout_ms;	/* >= 1 */
	cm_pdsrv_decide_fn *decide;
	cm_pdsrv_bad_fn *malformed;
	void *arg;
} cm_pdsrv_opts;

/*
 * Open the listening socket SPEC: "unix:/PATH", "inet:PORT@HOST" or
 * "inet6:PORT@HOST".  A unix socket is made with permissions MODE (no
 * moment more open; its group is the caller's).  What is at PATH already
 * is removed only when it is a socket no server answers on: a file that
 * is not a socket, or a socket a running server accepts on (a second
 * instance), is refused.  0 and *FD, or -1 with a message in ERR (SIZE
 * octets).
 */
int cm_pdsrv_listen(const char *spec, unsigned mode, int *fd, char *err,
    size_t size);

/* Remove the unix socket of SPEC when it is still the one
 * cm_pdsrv_listen made (the same inode); else leave the path alone.
 * Logs when it cannot (a directory this user may not write to). */
void cm_pdsrv_unlink(const char *spec);

/* The path of a "unix:" SPEC, or NULL. */
const char *cm_pdsrv_unix_path(const char *spec);

/*
 * Serve LFD with O until cm_pdsrv_stop(): then stop accepting, end
 * every connection (a request being answered is answered first) and
 * return 0; -1 if the server could not start (threads).  Closes LFD.
 */
int cm_pdsrv_run(int lfd, const cm_pdsrv_opts *o);

/* Make cm_pdsrv_run return (from any thread; not from a signal handler). */
void cm_pdsrv_stop(void);

#endif
