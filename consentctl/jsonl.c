/* jsonl.c - strict streaming reader of JSON Lines. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/json.h"
#include "../core/util.h"
#include "jsonl.h"

#define JSONL_BUFSZ (256 * 1024)

struct ctl_jsonl {
	int fd;
	char *buf;		/* read buffer */
	size_t pos, len;
	bool eof;
	uint64_t offset;
	char *line;		/* current line */
	size_t line_len, line_cap;
	char *scratch;
	unsigned long lineno, next_lineno;
	ctl_json_member m[CTL_JSONL_MEMBERS_MAX];
	size_t count;
	char err[160];
	unsigned long errcol;
};

typedef struct parser {
	const unsigned char *s, *p, *e;
	char *out;		/* scratch write position */
	char *err;
	size_t errsz;
	unsigned long *errcol;
} parser;

static bool
fail(parser *ps, const unsigned char *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errsz, fmt, ap);
	va_end(ap);
	*ps->errcol = (unsigned long)(at - ps->s) + 1;
	return false;
}

static void
skip_ws(parser *ps)
{
	while (ps->p < ps->e && (*ps->p == ' ' || *ps->p == '\t' ||
	    *ps->p == '\r' || *ps->p == '\n'))
		ps->p++;
}

/* A string at ps->p (the opening quote); decoded into scratch by core's
 * one JSON string reader (the scratch has room for the rest of the
 * line, which is all cm_json_unquote needs). */
static bool
parse_string(parser *ps, const char **val, size_t *len)
{
	const char *p = (const char *)ps->p, *why = NULL;
	char *o0 = ps->out;
	size_t n = 0;

	if (cm_json_unquote(&p, (const char *)ps->e, o0, &n, &why) != CM_OK)
		return fail(ps, (const unsigned char *)p, "%s",
		    why != NULL ? why : "not a string");
	ps->p = (const unsigned char *)p;
	*val = o0;
	*len = n;
	ps->out = o0 + n + 1;
	return true;
}

/* A number per RFC 8259, copied as written. */
static bool
parse_number(parser *ps, const char **val, size_t *len)
{
	const unsigned char *start = ps->p, *p = ps->p, *e = ps->e;

	if (p < e && *p == '-')
		p++;
	if (p < e && *p == '0') {
		p++;
	} else if (p < e && *p >= '1' && *p <= '9') {
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	} else {
		return fail(ps, start, "invalid number");
	}
	if (p < e && *p == '.') {
		p++;
		if (p >= e || *p < '0' || *p > '9')
			return fail(ps, p, "digit expected after '.'");
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || *p < '0' || *p > '9')
			return fail(ps, p, "digit expected in exponent");
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	*len = (size_t)(p - start);
	memcpy(ps->out, start, *len);
	*val = ps->out;
	ps->out += *len;
	*ps->out++ = '\0';
	ps->p = p;
	return true;
}

bool
ctl_jsonl_parse(const char *s, size_t len, char *scratch,
    ctl_json_member *out, size_t *count, char *err, size_t errsz,
    unsigned long *errcol)
{
	parser ps = {
		.s = (const unsigned char *)s,
		.p = (const unsigned char *)s,
		.e = (const unsigned char *)s + len,
		.out = scratch, .err = err, .errsz = errsz, .errcol = errcol,
	};
	size_t n = 0;

	*count = 0;
	skip_ws(&ps);
	if (ps.p >= ps.e || *ps.p != '{')
		return fail(&ps, ps.p, "'{' expected (each line must be one "
		    "JSON object)");
	ps.p++;
	skip_ws(&ps);
	if (ps.p < ps.e && *ps.p == '}') {
		ps.p++;
		goto done;
	}
	for (;;) {
		ctl_json_member *m;

		skip_ws(&ps);
		if (ps.p >= ps.e || *ps.p != '"')
			return fail(&ps, ps.p, "'\"' expected (a key)");
		if (n == CTL_JSONL_MEMBERS_MAX)
			return fail(&ps, ps.p, "more than %d members",
			    CTL_JSONL_MEMBERS_MAX);
		m = &out[n];
		{
			const unsigned char *kat = ps.p;

			if (!parse_string(&ps, &m->key, &m->key_len))
				return false;
			for (size_t i = 0; i < n; i++)
				if (out[i].key_len == m->key_len &&
				    memcmp(out[i].key, m->key,
				    m->key_len) == 0)
					return fail(&ps, kat,
					    "duplicate key \"%s\"", m->key);
		}
		skip_ws(&ps);
		if (ps.p >= ps.e || *ps.p != ':')
			return fail(&ps, ps.p, "':' expected");
		ps.p++;
		skip_ws(&ps);
		m->col = (unsigned long)(ps.p - ps.s) + 1;
		if (ps.p >= ps.e)
			return fail(&ps, ps.p, "value expected");
		if (*ps.p == '"') {
			m->type = CTL_JSON_STRING;
			if (!parse_string(&ps, &m->val, &m->val_len))
				return false;
		} else if (*ps.p == '-' || (*ps.p >= '0' && *ps.p <= '9')) {
			m->type = CTL_JSON_NUMBER;
			if (!parse_number(&ps, &m->val, &m->val_len))
				return false;
		} else if (ps.e - ps.p >= 4 && memcmp(ps.p, "null", 4) == 0) {
			m->type = CTL_JSON_NULL;
			m->val = NULL;
			m->val_len = 0;
			ps.p += 4;
		} else if (*ps.p == '{' || *ps.p == '[') {
			return fail(&ps, ps.p, "nested %s not allowed (values "
			    "are strings, numbers or null)",
			    *ps.p == '{' ? "object" : "array");
		} else {
			return fail(&ps, ps.p, "value expected (a string, a "
			    "number or null)");
		}
		n++;
		skip_ws(&ps);
		if (ps.p < ps.e && *ps.p == ',') {
			ps.p++;
			continue;
		}
		if (ps.p < ps.e && *ps.p == '}') {
			ps.p++;
			break;
		}
		return fail(&ps, ps.p, "',' or '}' expected");
	}
done:
	skip_ws(&ps);
	if (ps.p < ps.e)
		return fail(&ps, ps.p, "text after the object");
	*count = n;
	return true;
}

ctl_jsonl *
ctl_jsonl_new(int fd)
{
	ctl_jsonl *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->fd = fd;
	r->next_lineno = 1;
	r->line_cap = 4096;
	r->buf = malloc(JSONL_BUFSZ);
	r->line = malloc(r->line_cap);
	r->scratch = malloc(r->line_cap + 1);
	if (r->buf == NULL || r->line == NULL || r->scratch == NULL) {
		ctl_jsonl_free(r);
		return NULL;
	}
	return r;
}

void
ctl_jsonl_free(ctl_jsonl *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r->line);
	free(r->scratch);
	free(r);
}

static int
jsonl_refill(ctl_jsonl *r)
{
	ssize_t n;

	if (r->eof)
		return 0;
	r->offset += r->len;
	r->pos = r->len = 0;
	do
		n = read(r->fd, r->buf, JSONL_BUFSZ);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		snprintf(r->err, sizeof(r->err), "read error: %s",
		    strerror(errno));
		r->eof = true;
		return -1;
	}
	if (n == 0) {
		r->eof = true;
		return 0;
	}
	r->len = (size_t)n;
	return 1;
}

/* Read the next line into r->line: 1 line, 0 EOF, -1 I/O error,
 * -2 too long (skipped). */
static int
read_line(ctl_jsonl *r)
{
	bool too_long = false, any = false;

	r->line_len = 0;
	r->lineno = r->next_lineno;
	for (;;) {
		char *nl;
		size_t chunk;

		if (r->pos == r->len) {
			int rc = jsonl_refill(r);

			if (rc < 0)
				return -1;
			if (rc == 0)
				return too_long ? -2 : any ? 1 : 0;
		}
		any = true;
		nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		chunk = nl != NULL ? (size_t)(nl - (r->buf + r->pos)) :
		    r->len - r->pos;
		if (!too_long) {
			if (r->line_len + chunk > CTL_JSONL_LINE_MAX) {
				too_long = true;
			} else {
				if (r->line_len + chunk > r->line_cap) {
					size_t ncap = r->line_cap;
					char *l, *s;

					while (ncap < r->line_len + chunk)
						ncap *= 2;
					if ((l = realloc(r->line, ncap)) ==
					    NULL)
						return -1;
					r->line = l;
					if ((s = realloc(r->scratch, ncap +
					    1)) == NULL)
						return -1;
					r->scratch = s;
					r->line_cap = ncap;
				}
				memcpy(r->line + r->line_len, r->buf + r->pos,
				    chunk);
				r->line_len += chunk;
			}
		}
		r->pos += chunk;
		if (nl != NULL) {
			r->pos++;
			r->next_lineno++;
			return too_long ? -2 : 1;
		}
	}
}

ctl_jsonl_res
ctl_jsonl_next(ctl_jsonl *r)
{
	for (;;) {
		int rc = read_line(r);
		size_t i;

		r->err[0] = '\0';
		r->errcol = 0;
		r->count = 0;
		if (rc == 0)
			return CTL_JSONL_EOF;
		if (rc == -1) {
			if (r->err[0] == '\0')
				snprintf(r->err, sizeof(r->err),
				    "out of memory");
			return CTL_JSONL_FATAL;
		}
		if (rc == -2) {
			snprintf(r->err, sizeof(r->err), "line longer than "
			    "%d octets", CTL_JSONL_LINE_MAX);
			r->errcol = CTL_JSONL_LINE_MAX;
			return CTL_JSONL_BAD;
		}
		for (i = 0; i < r->line_len; i++)
			if (r->line[i] != ' ' && r->line[i] != '\t' &&
			    r->line[i] != '\r')
				break;
		if (i == r->line_len)
			continue;	/* empty line */
		if (!ctl_jsonl_parse(r->line, r->line_len, r->scratch, r->m,
		    &r->count, r->err, sizeof(r->err), &r->errcol))
			return CTL_JSONL_BAD;
		return CTL_JSONL_OBJECT;
	}
}

size_t
ctl_jsonl_count(const ctl_jsonl *r)
{
	return r->count;
}

const ctl_json_member *
ctl_jsonl_get(const ctl_jsonl *r, size_t i)
{
	return i < r->count ? &r->m[i] : NULL;
}

unsigned long
ctl_jsonl_line(const ctl_jsonl *r)
{
	return r->lineno;
}

const char *
ctl_jsonl_errmsg(const ctl_jsonl *r)
{
	return r->err;
}

unsigned long
ctl_jsonl_errcol(const ctl_jsonl *r)
{
	return r->errcol;
}

uint64_t
ctl_jsonl_offset(const ctl_jsonl *r)
{
	return r->offset + r->pos;
}
