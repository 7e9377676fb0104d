/* cidr.c - parse and match CIDR networks. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "cidr.h"

static bool
prefix_match(const uint8_t *net, const uint8_t *addr, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(net, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((net[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool
cm_cidr_parse(const char *s, cm_cidr *out, const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hlen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned max, prefix;

	memset(out, 0, sizeof(*out));
	if (hlen == 0 || hlen >= sizeof(host)) {
		if (why != NULL)
			*why = "not an IPv4 or IPv6 address";
		return false;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->af = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->af = AF_INET6;
		max = 128;
	} else {
		if (why != NULL)
			*why = "not an IPv4 or IPv6 address";
		return false;
	}
	prefix = max;
	if (slash != NULL) {
		const char *p = slash + 1;

		if (*p == '\0' || strlen(p) > 3) {
			if (why != NULL)
				*why = "bad prefix length";
			return false;
		}
		prefix = 0;
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9') {
				if (why != NULL)
					*why = "bad prefix length";
				return false;
			}
			prefix = prefix * 10 + (unsigned)(*p - '0');
		}
		if (prefix > max) {
			if (why != NULL)
				*why = max == 32 ? "prefix length above 32" :
				    "prefix length above 128";
			return false;
		}
	}
	out->prefix = prefix;
	/* host bits beyond the prefix must be zero */
	{
		uint8_t masked[16];
		unsigned n = max / 8;

		memcpy(masked, out->addr, n);
		for (unsigned i = 0; i < n; i++) {
			unsigned bit = i * 8;

			if (bit >= prefix)
				masked[i] = 0;
			else if (bit + 8 > prefix)
				masked[i] &= (uint8_t)(0xff << (8 - (prefix - bit)));
		}
		if (memcmp(masked, out->addr, n) != 0) {
			if (why != NULL)
				*why = "host bits set beyond the prefix length";
			return false;
		}
	}
	return true;
}

bool
cm_cidr_match(const cm_cidr *c, const struct sockaddr *client)
{
	if (client == NULL)
		return false;
	if (client->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)client;

		return c->af == AF_INET && prefix_match(c->addr,
		    (const uint8_t *)&sin->sin_addr, c->prefix);
	}
	if (client->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)client;
		const uint8_t *a = sin6->sin6_addr.s6_addr;

		if (c->af == AF_INET6)
			return prefix_match(c->addr, a, c->prefix);
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			return prefix_match(c->addr, a + 12, c->prefix);
		return false;
	}
	return false;
}
