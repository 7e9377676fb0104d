/* schema.c - apply a declarative schema table to a YAML tree. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "../core/duration.h"
#include "../core/index.h"
#include "../core/names.h"
#include "../core/number.h"
#include "cidr.h"
#include "errlist.h"
#include "glob.h"
#include "schema.h"

#define STR_MAX_DEFAULT 1024
#define QUOTE_MAX CM_ERRLIST_QUOTE_MAX
#define MICRO 1000000

static bool apply_map(cm_sch_ctx *ctx, const cm_sch_item *table,
    const cm_ynode *map, void *base, bool defaults_only);
static void apply_item(cm_sch_ctx *ctx, const cm_sch_item *it,
    const char *key, const cm_ynode *node, void *base);

static void verr(cm_sch_ctx *ctx, unsigned line, unsigned col,
    const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void
verr(cm_sch_ctx *ctx, unsigned line, unsigned col, const char *key,
    const char *fmt, va_list ap)
{
	char *msg = NULL;
	char q[4 * QUOTE_MAX + 8];

	ctx->nerr++;
	if (vasprintf(&msg, fmt, ap) < 0) {
		ctx->oom = true;
		return;
	}
	if (key != NULL) {
		if (cm_errlist_add_at(ctx->errs, line, col,
		    "%s:%u:%u: key '%s': %s", ctx->fname, line, col,
		    cm_errlist_quote(q, sizeof(q), key), msg) != CM_OK)
			ctx->oom = true;
	} else if (cm_errlist_add_at(ctx->errs, line, col, "%s:%u:%u: %s",
	    ctx->fname, line, col, msg) != CM_OK) {
		ctx->oom = true;
	}
	free(msg);
}

void
cm_sch_error(cm_sch_ctx *ctx, const cm_ynode *at, const char *key,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(ctx, at != NULL ? at->line : 1, at != NULL ? at->col : 1, key,
	    fmt, ap);
	va_end(ap);
}

void
cm_sch_error_at(cm_sch_ctx *ctx, unsigned line, unsigned col,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(ctx, line, col, NULL, fmt, ap);
	va_end(ap);
}

const cm_ynode *
cm_sch_lookup(const cm_ynode *map, const char *key)
{
	if (map == NULL || map->kind != CM_YN_MAP)
		return NULL;
	for (const cm_ynode *k = map->first; k != NULL && k->next != NULL;
	    k = k->next->next)
		if (k->kind == CM_YN_SCALAR && !k->dup &&
		    strcmp(k->str, key) == 0)
			return k->next;
	return NULL;
}

/* "a mapping", "a sequence", "an empty value" or "'VALUE'" into BUF. */
static const char *
got(char *buf, size_t len, const cm_ynode *n)
{
	char q[4 * QUOTE_MAX + 8];

	if (n->kind != CM_YN_SCALAR || n->null) {
		snprintf(buf, len, "%s", cm_ytree_kind_name(n));
		return buf;
	}
	snprintf(buf, len, "'%s'", cm_errlist_quote(q, sizeof(q), n->str));
	return buf;
}

/* Format seconds S in the largest unit that divides it. */
static void
fmt_duration(char *buf, size_t len, int64_t s)
{
	static const struct { int64_t sec; char unit; } u[] = {
		{ 604800, 'w' }, { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' },
	};

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		if (s != 0 && s % u[i].sec == 0 && u[i].unit != 'w') {
			snprintf(buf, len, "%" PRId64 "%c", s / u[i].sec,
			    u[i].unit);
			return;
		}
	}
	snprintf(buf, len, "%" PRId64 "s", s);
}

static void
fmt_size(char *buf, size_t len, int64_t b)
{
	static const char *const unit[] = { "TiB", "GiB", "MiB", "KiB" };
	static const int shift[] = { 40, 30, 20, 10 };

	for (size_t i = 0; i < 4; i++) {
		int64_t m = (int64_t)1 << shift[i];

		if (b != 0 && b % m == 0) {
			snprintf(buf, len, "%" PRId64 "%s", b / m, unit[i]);
			return;
		}
	}
	snprintf(buf, len, "%" PRId64, b);
}

/* What a value of each type is, where that does not depend on the item. */
static const char *const expect_text[] = {
	[CM_SCH_BOOL] = "true or false",
	[CM_SCH_MODE] = "an octal file mode from 000 to 0777, such as 0660",
	[CM_SCH_SOCKET] = "unix:/PATH, inet:PORT@HOST or inet6:PORT@HOST",
	[CM_SCH_PATH] = "an absolute path",
	[CM_SCH_CHAR] = "one punctuation character such as + or -, or \"\" "
	    "for none",
	[CM_SCH_HDRNAME] = "a header field name (printable ASCII except ':' "
	    "and space)",
	[CM_SCH_GLOB] = "a non-empty text or glob pattern",
	[CM_SCH_CIDR] = "an IPv4 or IPv6 network such as 192.0.2.0/24 or "
	    "2001:db8::/32",
	[CM_SCH_MAP] = "a mapping",
	[CM_SCH_LIST] = "a sequence",
};

/* Describe what ITEM expects, into BUF. */
static const char *
expect(char *buf, size_t len, const cm_sch_item *it)
{
	char a[32], b[32];
	size_t k;

	switch (it->type) {
	case CM_SCH_STR:
		snprintf(buf, len, "%s", (it->flags & CM_SCH_NONEMPTY) ?
		    "a non-empty string" : "a string");
		break;
	case CM_SCH_ENUM:
		k = (size_t)snprintf(buf, len, "one of ");
		for (const cm_sch_enum *e = it->enums; e->name != NULL &&
		    k < len; e++)
			k += (size_t)snprintf(buf + k, len - k, "%s%s",
			    e == it->enums ? "" : ", ", e->name);
		break;
	case CM_SCH_UINT:
		snprintf(buf, len, "an integer from %" PRId64 " to %" PRId64,
		    it->min, it->max);
		break;
	case CM_SCH_DURATION:
		fmt_duration(a, sizeof(a), it->min);
		fmt_duration(b, sizeof(b), it->max);
		snprintf(buf, len, "a duration from %s to %s (a number "
		    "followed by s, m, h, d or w)", a, b);
		break;
	case CM_SCH_SIZE:
		fmt_size(a, sizeof(a), it->min);
		fmt_size(b, sizeof(b), it->max);
		snprintf(buf, len, "a size from %s to %s (a number, optionally "
		    "followed by B, KiB, MiB, GiB or TiB)", a, b);
		break;
	case CM_SCH_ID:
		snprintf(buf, len, "an id of 1 to %d characters a-z, 0-9, "
		    "'.', '_' or '-'", CM_TYPE_ID_MAX);
		break;
	default:
		snprintf(buf, len, "%s", expect_text[it->type]);
		break;
	}
	return buf;
}

/* Report "expected X, got Y[ (WHY)]". */
static void
bad_value(cm_sch_ctx *ctx, const cm_sch_item *it, const char *key,
    const cm_ynode *n, const char *why)
{
	char e[256], g[4 * QUOTE_MAX + 8];

	expect(e, sizeof(e), it);
	got(g, sizeof(g), n);
	if (why != NULL)
		cm_sch_error(ctx, n, key, "expected %s, got %s (%s)", e, g, why);
	else
		cm_sch_error(ctx, n, key, "expected %s, got %s", e, g);
}

static bool
has_ctrl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool
is_hostname(const char *h)
{
	size_t label = 0, n = 0;

	if (*h == '\0')
		return false;
	for (; *h != '\0'; h++, n++) {
		if (*h == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') ||
		    (*h >= '0' && *h <= '9') || *h == '-' || *h == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return n <= 253;
}

/* Check a socket spec; NULL if fine, else a reason. */
static const char *
socket_problem(const char *s)
{
	const char *p;
	uint64_t port;
	bool v6;

	if (strncmp(s, "unix:", 5) == 0 || strncmp(s, "local:", 6) == 0) {
		p = strchr(s, ':') + 1;
		if (*p != '/')
			return "the path must be absolute";
		if (strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return "the path is too long";
		return NULL;
	}
	if (strncmp(s, "inet:", 5) == 0) {
		v6 = false;
		p = s + 5;
	} else if (strncmp(s, "inet6:", 6) == 0) {
		v6 = true;
		p = s + 6;
	} else {
		return "unknown socket type";
	}
	if (!cm_number_u64(&p, 1000000, &port) || port < 1 || port > 65535)
		return "the port must be a number from 1 to 65535";
	if (*p != '@')
		return "expected '@HOST' after the port";
	p++;
	if (*p == '\0')
		return "the host is missing";
	if (v6) {
		struct in6_addr a6;

		if (inet_pton(AF_INET6, p, &a6) != 1 && !is_hostname(p))
			return "not an IPv6 address or host name";
	} else {
		struct in_addr a4;

		if (inet_pton(AF_INET, p, &a4) != 1 && !is_hostname(p))
			return "not an IPv4 address or host name";
	}
	return NULL;
}

static bool
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes",
	    "Yes", "YES", "on", "On", "ON" };
	static const char *const no[] = { "false", "False", "FALSE", "no",
	    "No", "NO", "off", "Off", "OFF" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* Store a copy of S at DST (a const char *). */
static void
store_str(cm_sch_ctx *ctx, void *dst, const char *s)
{
	char *c = cm_arena_strdup(ctx->arena, s);

	if (c == NULL)
		ctx->oom = true;
	*(const char **)dst = c;
}

/* Convert the scalar N for item IT into DST. */
static void
apply_scalar(cm_sch_ctx *ctx, const cm_sch_item *it, const char *key,
    const cm_ynode *n, void *dst)
{
	const char *s = n->str, *p, *why = NULL;
	uint64_t v;

	if (n->kind != CM_YN_SCALAR) {
		bad_value(ctx, it, key, n, NULL);
		return;
	}
	if (n->null && it->type != CM_SCH_STR && it->type != CM_SCH_CHAR) {
		bad_value(ctx, it, key, n, NULL);
		return;
	}
	if (n->null)
		s = "";
	if (has_ctrl(s)) {
		bad_value(ctx, it, key, n, "control characters are not "
		    "allowed");
		return;
	}
	switch (it->type) {
	case CM_SCH_STR: {
		size_t max = it->max > 0 ? (size_t)it->max : STR_MAX_DEFAULT;

		if ((it->flags & CM_SCH_NONEMPTY) && *s == '\0') {
			bad_value(ctx, it, key, n, NULL);
			return;
		}
		if (strlen(s) > max) {
			char w[64];

			snprintf(w, sizeof(w), "longer than %zu bytes", max);
			bad_value(ctx, it, key, n, w);
			return;
		}
		store_str(ctx, dst, s);
		return;
	}
	case CM_SCH_BOOL:
		if (!parse_bool(s, (bool *)dst))
			bad_value(ctx, it, key, n, NULL);
		return;
	case CM_SCH_ENUM:
		for (const cm_sch_enum *e = it->enums; e->name != NULL; e++) {
			if (strcmp(e->name, s) == 0) {
				*(int *)dst = e->value;
				return;
			}
		}
		bad_value(ctx, it, key, n, NULL);
		return;
	case CM_SCH_UINT:
		p = s;
		if (!cm_number_u64(&p, UINT64_MAX, &v) || *p != '\0' ||
		    v < (uint64_t)it->min || v > (uint64_t)it->max) {
			bad_value(ctx, it, key, n, NULL);
			return;
		}
		*(unsigned *)dst = (unsigned)v;
		return;
	case CM_SCH_DURATION:
		/* bounds in seconds */
		if (cm_duration_parse(s, &v, &why) != CM_OK) {
			bad_value(ctx, it, key, n, why);
			return;
		}
		if (v > (uint64_t)it->max || v < (uint64_t)it->min) {
			bad_value(ctx, it, key, n, NULL);
			return;
		}
		*(int64_t *)dst = (int64_t)v * MICRO;
		return;
	case CM_SCH_SIZE: {
		static const struct { const char *u; int shift; } units[] = {
			{ "", 0 }, { "B", 0 }, { "KiB", 10 }, { "MiB", 20 },
			{ "GiB", 30 }, { "TiB", 40 },
		};
		size_t i;

		p = s;
		if (!cm_number_u64(&p, UINT64_MAX, &v)) {
			bad_value(ctx, it, key, n, NULL);
			return;
		}
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(p, units[i].u) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]) ||
		    v > ((uint64_t)it->max >> units[i].shift) ||
		    (v << units[i].shift) < (uint64_t)it->min ||
		    (v << units[i].shift) > SIZE_MAX) {
			bad_value(ctx, it, key, n, NULL);
			return;
		}
		*(size_t *)dst = (size_t)(v << units[i].shift);
		return;
	}
	case CM_SCH_MODE: {
		size_t len = strlen(s);
		unsigned m = 0;

		if (len < 3 || len > 4 || (len == 4 && s[0] != '0')) {
			bad_value(ctx, it, key, n, NULL);
			return;
		}
		for (p = s; *p != '\0'; p++) {
			if (*p < '0' || *p > '7') {
				bad_value(ctx, it, key, n, NULL);
				return;
			}
			m = m * 8 + (unsigned)(*p - '0');
		}
		*(unsigned *)dst = m;
		return;
	}
	case CM_SCH_SOCKET:
		if ((why = socket_problem(s)) != NULL) {
			bad_value(ctx, it, key, n, why);
			return;
		}
		store_str(ctx, dst, s);
		return;
	case CM_SCH_PATH:
		if (s[0] != '/' || strlen(s) > 4000) {
			bad_value(ctx, it, key, n, NULL);
			return;
		}
		store_str(ctx, dst, s);
		return;
	case CM_SCH_CHAR:
		if (s[0] == '\0') {
			*(char *)dst = '\0';
			return;
		}
		if (s[1] != '\0' || strchr("!#$%&'*+-/=?^_`{|}~", s[0]) ==
		    NULL) {
			bad_value(ctx, it, key, n, NULL);
			return;
		}
		*(char *)dst = s[0];
		return;
	case CM_SCH_ID:
		if (!cm_type_id_valid(s, strlen(s))) {
			bad_value(ctx, it, key, n, NULL);
			return;
		}
		store_str(ctx, dst, s);
		return;
	case CM_SCH_HDRNAME: {
		size_t len = strlen(s);

		if (len < 1 || len > 128) {
			bad_value(ctx, it, key, n, NULL);
			return;
		}
		for (p = s; *p != '\0'; p++) {
			if (*p <= 32 || *p >= 127 || *p == ':') {
				bad_value(ctx, it, key, n, NULL);
				return;
			}
		}
		store_str(ctx, dst, s);
		return;
	}
	case CM_SCH_GLOB:
		if (*s == '\0') {
			bad_value(ctx, it, key, n, NULL);
			return;
		}
		if (strlen(s) > 512) {
			bad_value(ctx, it, key, n, "longer than 512 bytes");
			return;
		}
		if (!cm_glob_valid(s, &why)) {
			bad_value(ctx, it, key, n, why);
			return;
		}
		store_str(ctx, dst, s);
		return;
	case CM_SCH_CIDR:
		if (!cm_cidr_parse(s, (cm_cidr *)dst, &why))
			bad_value(ctx, it, key, n, why);
		return;
	case CM_SCH_MAP:
	case CM_SCH_LIST:
		break;
	}
}

static void
apply_list(cm_sch_ctx *ctx, const cm_sch_item *it, const char *key,
    const cm_ynode *n, void *base)
{
	size_t count = 0, i;
	unsigned char *arr;

	if (n != NULL && !(n->kind == CM_YN_SEQ ||
	    (n->kind == CM_YN_SCALAR && n->null))) {
		bad_value(ctx, it, key, n, NULL);
		return;
	}
	if (n != NULL && n->kind == CM_YN_SEQ)
		count = n->n;
	if ((int64_t)count < it->min) {
		cm_sch_error(ctx, n, key, "expected at least %" PRId64 " %s%s, "
		    "got %zu", it->min, it->noun, it->min == 1 ? "" : "s",
		    count);
		return;
	}
	if (it->max > 0 && (int64_t)count > it->max) {
		cm_sch_error(ctx, n, key, "expected at most %" PRId64 " %s%s, "
		    "got %zu", it->max, it->noun, it->max == 1 ? "" : "s",
		    count);
		return;
	}
	arr = cm_arena_calloc(ctx->arena, count ? count : 1, it->size);
	if (arr == NULL) {
		ctx->oom = true;
		return;
	}
	*(void **)((char *)base + it->off) = arr;
	*(size_t *)((char *)base + it->count_off) = count;
	i = 0;
	if (n != NULL && n->kind == CM_YN_SEQ)
		for (const cm_ynode *c = n->first; c != NULL; c = c->next, i++)
			apply_item(ctx, it->elem, key, c, arr + i * it->size);
}

/* Store the value NODE (or the default, NODE NULL) of item IT. */
static void
apply_item(cm_sch_ctx *ctx, const cm_sch_item *it, const char *key,
    const cm_ynode *node, void *base)
{
	void *dst = (char *)base + it->off;
	size_t nerr = ctx->nerr;

	switch (it->type) {
	case CM_SCH_MAP:
		if (node == NULL) {
			apply_map(ctx, it->sub, NULL, dst, true);
		} else if (node->kind == CM_YN_SCALAR && node->null) {
			/* "key:" with nothing under it: an empty mapping */
			apply_map(ctx, it->sub, node, dst, false);
		} else if (node->kind != CM_YN_MAP) {
			bad_value(ctx, it, key, node, NULL);
		} else {
			apply_map(ctx, it->sub, node, dst, false);
		}
		break;
	case CM_SCH_LIST:
		apply_list(ctx, it, key, node, base);
		break;
	default:
		if (node != NULL) {
			apply_scalar(ctx, it, key, node, dst);
		} else if (it->def != NULL) {
			cm_ynode d;

			memset(&d, 0, sizeof(d));
			d.kind = CM_YN_SCALAR;
			d.str = it->def;
			d.len = strlen(it->def);
			d.line = d.col = 1;
			apply_scalar(ctx, it, key, &d, dst);
		}
		break;
	}
	if (it->check != NULL && (ctx->nerr == nerr ||
	    (it->flags & CM_SCH_CHECK_ALWAYS)))
		it->check(ctx, it, node, base);
}

static bool
apply_map(cm_sch_ctx *ctx, const cm_sch_item *table, const cm_ynode *map,
    void *base, bool defaults_only)
{
	size_t nerr = ctx->nerr;

	/* keys present: known, not duplicated */
	if (map != NULL && map->kind == CM_YN_MAP) {
		for (const cm_ynode *k = map->first; k != NULL &&
		    k->next != NULL; k = k->next->next) {
			const cm_sch_item *it;

			if (k->dup)
				continue;
			if (k->kind != CM_YN_SCALAR) {
				cm_sch_error_at(ctx, k->line, k->col,
				    "expected a key name, got %s",
				    cm_ytree_kind_name(k));
				continue;
			}
			for (it = table; it->name != NULL; it++)
				if (strcmp(it->name, k->str) == 0)
					break;
			if (it->name == NULL) {
				char known[512];
				size_t len = 0;

				known[0] = '\0';
				for (it = table; it->name != NULL &&
				    len < sizeof(known); it++)
					len += (size_t)snprintf(known + len,
					    sizeof(known) - len, "%s%s",
					    it == table ? "" : ", ", it->name);
				cm_sch_error(ctx, k, k->str, "unknown key, "
				    "expected one of %s", known);
			}
		}
	}
	/* every item of the table, in table order */
	for (const cm_sch_item *it = table; it->name != NULL; it++) {
		const cm_ynode *v = cm_sch_lookup(map, it->name);

		if (v == NULL && !defaults_only &&
		    (it->flags & CM_SCH_REQUIRED)) {
			cm_sch_error(ctx, map, it->name,
			    "required key is missing");
			continue;
		}
		apply_item(ctx, it, it->name, v, base);
	}
	return ctx->nerr == nerr && !ctx->oom;
}

bool
cm_sch_apply(cm_sch_ctx *ctx, const cm_sch_item *table,
    const cm_ynode *root, void *base)
{
	return apply_map(ctx, table, root, base, false);
}
