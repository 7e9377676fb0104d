/*
 * links.c - the links: section (see links.h).
 */
#include "links.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../core/token.h"
#include "errlist.h"

#define S(type, field) offsetof(type, field)

static const cm_sch_enum sender_enum[] = {
	{ "replace", CM_LINKS_REPLACE }, { "keep", CM_LINKS_KEEP },
	{ NULL, 0 }
};

static void check_base_url(cm_sch_ctx *, const cm_sch_item *,
    const cm_ynode *, void *);
static void check_local(cm_sch_ctx *, const cm_sch_item *,
    const cm_ynode *, void *);
static void check_deliver(cm_sch_ctx *, const cm_sch_item *,
    const cm_ynode *, void *);
static void check_socket(cm_sch_ctx *, const cm_sch_item *,
    const cm_ynode *, void *);

const cm_sch_item cm_links_items[] = {
	{ .name = "enabled", .type = CM_SCH_BOOL, .def = "true",
	  .off = S(cm_links, enabled) },
	{ .name = "base_url", .type = CM_SCH_STR, .flags = CM_SCH_REQUIRED,
	  .max = 200, .off = S(cm_links, base_url), .check = check_base_url },
	{ .name = "mailto_local", .type = CM_SCH_STR, .def = "unsubscribe",
	  .max = 32, .off = S(cm_links, mailto_local), .check = check_local },
	{ .name = "mailto_domain", .type = CM_SCH_STR, .flags = CM_SCH_NONEMPTY,
	  .max = 253, .off = S(cm_links, mailto_domain), .check = check_local },
	{ .name = "mailto_socket", .type = CM_SCH_PATH,
	  .def = "/run/consent-web/mailto.sock",
	  .off = S(cm_links, mailto_socket), .check = check_socket },
	{ .name = "mailto_deliver_to", .type = CM_SCH_STR,
	  .flags = CM_SCH_NONEMPTY, .max = 254,
	  .off = S(cm_links, mailto_deliver_to), .check = check_deliver },
	{ .name = "key_dir", .type = CM_SCH_PATH, .off = S(cm_links, key_dir) },
	{ .name = "max_age", .type = CM_SCH_DURATION, .def = "730d",
	  .min = 3600, .max = (int64_t)36500 * 86400,
	  .off = S(cm_links, max_age) },
	{ .name = "sender_header", .type = CM_SCH_ENUM, .enums = sender_enum,
	  .def = "replace", .off = S(cm_links, sender_header) },
	{ .name = "listen", .type = CM_SCH_SOCKET, .def = "inet:8025@127.0.0.1",
	  .off = S(cm_links, listen) },
	{ .name = "client_header", .type = CM_SCH_HDRNAME,
	  .off = S(cm_links, client_header) },
	{ .name = "timeout", .type = CM_SCH_DURATION, .def = "10s",
	  .min = 1, .max = 300, .off = S(cm_links, timeout) },
	{ .name = "max_connections", .type = CM_SCH_UINT, .def = "64",
	  .min = 1, .max = 10000, .off = S(cm_links, max_connections) },
	{ .name = NULL }
};

/* https://HOST[:PORT][/PATH]: printable ASCII without spaces, quotes,
 * '<', '>', '?', '#'; a trailing '/' is dropped when stored. */
static void
check_base_url(cm_sch_ctx *ctx, const cm_sch_item *it, const cm_ynode *node,
    void *base)
{
	cm_links *l = base;
	char *u = (char *)l->base_url;
	char q[300];
	size_t n;

	if (u == NULL)
		return;
	n = strlen(u);
	while (n > 0 && u[n - 1] == '/')
		u[--n] = '\0';
	if (strncmp(u, "https://", 8) != 0 || n <= 8 || u[8] == '/')
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (u[i] <= ' ' || u[i] > '~' || strchr("\"<>?#\\", u[i]))
			goto bad;
	return;
bad:
	if (node != NULL)
		cm_sch_error(ctx, node, it->name, "expected an https URL "
		    "(https://HOST[/PATH], no query), got '%s'",
		    cm_errlist_quote(q, sizeof(q), node->str));
}

/* mailto_local: atext without '+'; mailto_domain: a host name. */
static void
check_local(cm_sch_ctx *ctx, const cm_sch_item *it, const cm_ynode *node,
    void *base)
{
	const cm_links *l = base;
	bool dom = strcmp(it->name, "mailto_domain") == 0;
	const char *s = dom ? l->mailto_domain : l->mailto_local;
	char q[300];

	if (s == NULL || node == NULL)
		return;
	if (*s == '\0' || *s == '.' || *s == '-' || s[strlen(s) - 1] == '.')
		goto bad;
	for (const char *p = s; *p; p++) {
		char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    (!dom && c == '_'))
			continue;
		goto bad;
	}
	return;
bad:
	cm_sch_error(ctx, node, it->name, "expected %s, got '%s'",
	    dom ? "a domain name" : "a local part of letters, digits, '.', "
	    "'-', '_' (no '+')", cm_errlist_quote(q, sizeof(q), node->str));
}

/* mailto_socket: a unix socket path fits sun_path (108 octets). */
static void
check_socket(cm_sch_ctx *ctx, const cm_sch_item *it, const cm_ynode *node,
    void *base)
{
	const cm_links *l = base;
	char q[300];

	if (l->mailto_socket == NULL || node == NULL ||
	    strlen(l->mailto_socket) < 100)
		return;
	cm_sch_error(ctx, node, it->name, "expected a socket path of at most "
	    "99 octets, got '%s'", cm_errlist_quote(q, sizeof(q), node->str));
}

/* mailto_deliver_to: LOCAL@DOMAIN, printable ASCII without spaces,
 * quotes, brackets or a second '@'. */
static void
check_deliver(cm_sch_ctx *ctx, const cm_sch_item *it, const cm_ynode *node,
    void *base)
{
	const cm_links *l = base;
	const char *s = l->mailto_deliver_to, *at;
	char q[300];

	if (s == NULL || node == NULL)
		return;
	at = strchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@'))
		goto bad;
	for (const char *p = s; *p; p++)
		if (*p <= ' ' || *p > '~' || strchr("\"<>()[],;:\\", *p))
			goto bad;
	return;
bad:
	cm_sch_error(ctx, node, it->name, "expected a mail address "
	    "LOCAL@DOMAIN, got '%s'", cm_errlist_quote(q, sizeof(q),
	    node->str));
}

void
cm_links_check(cm_sch_ctx *ctx, const cm_sch_item *it, const cm_ynode *node,
    void *base)
{
	cm_links *l = (cm_links *)((char *)base + it->off);

	(void)ctx;
	l->present = node != NULL;
}

bool
cm_links_enabled(const cm_links *l)
{
	return l->present && l->enabled && l->base_url != NULL;
}

const char *
cm_links_key_dir(const cm_links *l, const char *db_path, char *buf,
    size_t size)
{
	int n;

	if (l->key_dir != NULL)
		n = snprintf(buf, size, "%s", l->key_dir);
	else
		n = snprintf(buf, size, "%s%s" CM_TOKEN_RING_DIR, db_path,
		    db_path[0] && db_path[strlen(db_path) - 1] == '/' ? "" : "/");
	return n >= 0 && (size_t)n < size ? buf : NULL;
}

const char *
cm_links_url(const cm_links *l, int p, const char *token, char *buf,
    size_t size)
{
	int n;

	if (l->base_url == NULL)
		return NULL;
	n = snprintf(buf, size, "%s/%c/%s", l->base_url,
	    p == CM_TOKEN_CONFIRM ? 'c' : 'u', token);
	return n >= 0 && (size_t)n < size ? buf : NULL;
}

const char *
cm_links_mailto(const cm_links *l, const char *token, char *buf, size_t size)
{
	int n;

	if (l->mailto_domain == NULL)
		return NULL;
	n = snprintf(buf, size, "mailto:%s+%s@%s", l->mailto_local, token,
	    l->mailto_domain);
	return n >= 0 && (size_t)n < size ? buf : NULL;
}

bool
cm_links_mailto_enabled(const cm_links *l)
{
	return cm_links_enabled(l) && l->mailto_domain != NULL &&
	    l->mailto_local != NULL;
}

/* Does S (LEN octets) end in "@" DOMAIN, a trailing dot allowed? */
static bool
at_domain(const char *s, size_t len, const char *domain)
{
	size_t dl = strlen(domain);

	if (len > 0 && s[len - 1] == '.')
		len--;
	return len >= dl + 1 && s[len - dl - 1] == '@' &&
	    strncasecmp(s + len - dl, domain, dl) == 0;
}

/* Does S (LEN octets) contain NEEDLE, without regard to case? */
static bool
has_ci(const char *s, size_t len, const char *needle)
{
	size_t nl = strlen(needle);

	for (size_t i = 0; i + nl <= len; i++)
		if (strncasecmp(s + i, needle, nl) == 0)
			return true;
	return false;
}

/* The local part of RCPT (angle brackets, white space and source route
 * taken off) decoded into OUT (SIZE octets, NUL-terminated); *DOM gets
 * what follows its '@'.  False when RCPT cannot be read so. */
static bool
local_part(const char *rcpt, size_t len, char *out, size_t size,
    const char **dom, size_t *domlen)
{
	const char *p = rcpt, *end = rcpt + len;
	size_t n = 0;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (p < end && *p == '<') {
		if (end[-1] != '>')
			return false;
		p++;
		end--;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
	}
	if (p < end && *p == '@') {	/* source route: @a,@b:addr */
		const char *colon = memchr(p, ':', (size_t)(end - p));

		if (colon == NULL)
			return false;
		p = colon + 1;
	}
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && ++p == end)
				return false;
			if (n + 1 >= size)
				return false;
			out[n++] = *p;
		}
		if (p == end)
			return false;
		p++;	/* the closing quote */
		if (p == end || *p != '@')
			return false;
	} else {
		const char *at = memchr(p, '@', (size_t)(end - p));

		if (at == NULL || (size_t)(at - p) + 1 > size)
			return false;
		for (; p < at; p++) {
			if (*p == '"' || *p == '\\' || *p == ' ')
				return false;
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	*dom = p + 1;
	*domlen = (size_t)(end - *dom);
	return memchr(*dom, '@', *domlen) == NULL;
}

bool
cm_links_mailto_match(const cm_links *l, const char *rcpt, size_t len,
    char *token, size_t size, size_t *toklen)
{
	char lp[512];
	const char *dom;
	size_t ll, dl, domlen;
	char needle[128];

	if (!cm_links_mailto_enabled(l) || size == 0)
		return false;
	ll = strlen(l->mailto_local);
	dl = strlen(l->mailto_domain);
	if (local_part(rcpt, len, lp, sizeof lp, &dom, &domlen)) {
		if (strncasecmp(lp, l->mailto_local, ll) != 0 || lp[ll] != '+')
			return false;
		if (domlen > 0 && dom[domlen - 1] == '.')
			domlen--;
		if (domlen != dl || strncasecmp(dom, l->mailto_domain, dl) != 0)
			return false;
		*toklen = strlen(lp + ll + 1);
		if (*toklen >= size) {
			*toklen = size;
			token[0] = '\0';
		} else {
			memcpy(token, lp + ll + 1, *toklen + 1);
		}
		return true;
	}
	/* unreadable: refused if it looks like one of ours */
	while (len > 0 && (rcpt[len - 1] == '>' || rcpt[len - 1] == ' ' ||
	    rcpt[len - 1] == '\t'))
		len--;
	if (ll + 2 > sizeof needle)
		return false;
	snprintf(needle, sizeof needle, "%s+", l->mailto_local);
	if (!has_ci(rcpt, len, needle) || !at_domain(rcpt, len,
	    l->mailto_domain))
		return false;
	token[0] = '\0';
	*toklen = 0;
	return true;
}
