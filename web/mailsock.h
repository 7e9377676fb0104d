/*
 * mailsock.h - consent-web's internal socket for mailto unsubscribes
 * (prefix web_mailsock_).
 *
 * The milter reads the index only; when mail to LOCAL+TOKEN@DOMAIN
 * reaches it (links.mailto_domain), it hands the token and its evidence
 * to consent-web over this unix socket (links.mailto_socket, mode 0660)
 * and accepts the message only after the answer "250": the withdrawal
 * (source mailto) is then committed by the one writer (writer.h), with
 * group commit beside the one-click unsubscribes.  The protocol is
 * core/mailreq.h: one request line and one reply line per connection.
 *
 * Bounds: at most MAX_CONNS connections at a time (beyond: "451 busy"
 * and closed), one line of at most CM_MAILREQ_LINE_MAX octets read
 * within TIMEOUT_US (else the connection is closed without a reply, or
 * "500" for a line too long), one thread per connection.
 */
#ifndef WEB_MAILSOCK_H
#define WEB_MAILSOCK_H

#include <stdint.h>
#include <sys/types.h>

#include "handler.h"

/*
 * Listen on the unix socket PATH (an old socket there is replaced,
 * unless a server answers on it: EADDRINUSE, another consent-web runs;
 * any other file is an error), mode 0660, owned by UID:GID unless they are
 * (uid_t)-1, and serve requests with the key ring and token age of
 * CONF (web_handler_init's, kept by pointer) from a thread of its own.
 * The socket is created with mode 0660 (umask around bind) and its
 * owner set without following a symbolic link.  0, or -1 with errno set
 * (ENAMETOOLONG, EADDRINUSE, EEXIST for a file that is no socket, or for a path no
 * longer our socket right after bind, or that of socket(), bind(),
 * listen(), fchownat(), pthread_create()).
 */
int web_mailsock_start(const char *path, unsigned max_conns,
    int64_t timeout_us, uid_t uid, gid_t gid, const web_conf *conf);

/* Stop listening, wait for the connections in progress, remove the
 * socket if the path still names the one made at start.  Before web_writer_stop().  Harmless when not started. */
void web_mailsock_stop(void);

#endif
