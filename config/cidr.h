/*
 * cidr.h - IPv4/IPv6 networks in CIDR notation (prefix cm_cidr_).
 *
 * Accepted: "192.0.2.0/24", "2001:db8::/32", or a bare address (a host:
 * /32 or /128).  The prefix is decimal, 0..32 (IPv4) or 0..128 (IPv6),
 * and no host bits may be set beyond it ("10.0.0.1/8" is refused, as
 * Postfix does).  A client given as an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) matches IPv4 networks as the IPv4 address, and IPv6
 * networks as written.
 */
#ifndef CM_CIDR_H
#define CM_CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct cm_cidr {
	int af;			/* AF_INET or AF_INET6 */
	unsigned prefix;	/* 0..32 or 0..128 */
	uint8_t addr[16];	/* network, in network byte order */
} cm_cidr;

/* Parse S.  False with *WHY (if WHY) set to a short reason on error. */
bool cm_cidr_parse(const char *s, cm_cidr *out, const char **why);

/* Is CLIENT (AF_INET or AF_INET6; anything else never matches) in C? */
bool cm_cidr_match(const cm_cidr *c, const struct sockaddr *client);

#endif
