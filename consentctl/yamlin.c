/* yamlin.c - streaming reader of a YAML list of flat mappings. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "yamlin.h"

enum { ST_START, ST_LIST, ST_END };

struct ctl_yaml {
	FILE *f;
	yaml_parser_t parser;
	int state;
	char *buf;		/* keys and values of the current item */
	size_t len, cap;
	size_t koff[CTL_YAML_MEMBERS_MAX], voff[CTL_YAML_MEMBERS_MAX];
	bool vnull[CTL_YAML_MEMBERS_MAX];
	ctl_yaml_member m[CTL_YAML_MEMBERS_MAX];
	size_t count;
	unsigned long line;
	char err[200];
	unsigned long errline, errcol;
};

ctl_yaml *
ctl_yaml_new(FILE *f)
{
	ctl_yaml *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->f = f;
	r->cap = 4096;
	if ((r->buf = malloc(r->cap)) == NULL ||
	    !yaml_parser_initialize(&r->parser)) {
		free(r->buf);
		free(r);
		return NULL;
	}
	yaml_parser_set_input_file(&r->parser, f);
	return r;
}

void
ctl_yaml_free(ctl_yaml *r)
{
	if (r == NULL)
		return;
	yaml_parser_delete(&r->parser);
	free(r->buf);
	free(r);
}

static void
yaml_err(ctl_yaml *r, const yaml_mark_t *mk, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->errline = (unsigned long)mk->line + 1;
	r->errcol = (unsigned long)mk->column + 1;
}

/* Next event; false (r->err set) on a syntax error. */
static bool
next_event(ctl_yaml *r, yaml_event_t *ev)
{
	if (yaml_parser_parse(&r->parser, ev))
		return true;
	yaml_err(r, &r->parser.problem_mark, "YAML syntax: %s%s%s",
	    r->parser.problem ? r->parser.problem : "error",
	    r->parser.context ? " " : "",
	    r->parser.context ? r->parser.context : "");
	r->state = ST_END;
	return false;
}

static bool
store(ctl_yaml *r, const unsigned char *s, size_t n, size_t *off)
{
	if (n > CTL_YAML_ITEM_MAX || r->len + n + 1 > CTL_YAML_ITEM_MAX)
		return false;
	while (r->len + n + 1 > r->cap) {
		char *b = realloc(r->buf, r->cap * 2);

		if (b == NULL)
			return false;
		r->buf = b;
		r->cap *= 2;
	}
	*off = r->len;
	memcpy(r->buf + r->len, s, n);
	r->len += n;
	r->buf[r->len++] = '\0';
	return true;
}

static bool
is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/*
 * Skip the rest of a collection nested DEPTH deep (a bad item: BAD).  A
 * skipped subtree nested deeper than CTL_YAML_SKIP_DEPTH_MAX ends the
 * reading (FATAL) at once: libyaml takes time quadratic in the depth to
 * parse deep nesting, so a 200 KB file of brackets would otherwise keep
 * it busy for tens of seconds only to be refused.
 */
static ctl_yaml_res
skip(ctl_yaml *r, int depth)
{
	yaml_event_t ev;

	while (depth > 0) {
		if (!next_event(r, &ev))
			return CTL_YAML_FATAL;
		switch (ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > CTL_YAML_SKIP_DEPTH_MAX) {
				yaml_err(r, &ev.start_mark, "nesting deeper "
				    "than %d levels", CTL_YAML_SKIP_DEPTH_MAX);
				r->state = ST_END;
				yaml_event_delete(&ev);
				return CTL_YAML_FATAL;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	return CTL_YAML_BAD;
}

static bool
plain_node(ctl_yaml *r, const yaml_event_t *ev, const char *what)
{
	const unsigned char *anchor = NULL, *tag = NULL;

	if (ev->type == YAML_SCALAR_EVENT) {
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
	} else if (ev->type == YAML_MAPPING_START_EVENT) {
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	}
	if (anchor != NULL || tag != NULL) {
		yaml_err(r, &ev->start_mark, "%s: anchors and tags are not "
		    "allowed", what);
		return false;
	}
	return true;
}

/* Read one mapping item after its MAPPING_START event. */
static ctl_yaml_res
read_item(ctl_yaml *r)
{
	yaml_event_t ev;

	r->len = 0;
	r->count = 0;
	for (;;) {
		size_t n = r->count;
		const char *key;

		if (!next_event(r, &ev))
			return CTL_YAML_FATAL;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type != YAML_SCALAR_EVENT || !plain_node(r, &ev,
		    "key")) {
			int depth = ev.type == YAML_MAPPING_START_EVENT ||
			    ev.type == YAML_SEQUENCE_START_EVENT ? 2 : 1;

			if (ev.type != YAML_SCALAR_EVENT)
				yaml_err(r, &ev.start_mark, "a key must be a "
				    "plain scalar");
			yaml_event_delete(&ev);
			return skip(r, depth);
		}
		if (n == CTL_YAML_MEMBERS_MAX) {
			yaml_err(r, &ev.start_mark, "more than %d keys",
			    CTL_YAML_MEMBERS_MAX);
			yaml_event_delete(&ev);
			return skip(r, 1);
		}
		if (!store(r, ev.data.scalar.value, ev.data.scalar.length,
		    &r->koff[n])) {
			yaml_err(r, &ev.start_mark, "item larger than %d "
			    "octets", CTL_YAML_ITEM_MAX);
			yaml_event_delete(&ev);
			return skip(r, 1);
		}
		key = r->buf + r->koff[n];
		for (size_t i = 0; i < n; i++)
			if (strcmp(r->buf + r->koff[i], key) == 0) {
				yaml_err(r, &ev.start_mark, "duplicate key "
				    "'%s'", key);
				yaml_event_delete(&ev);
				return skip(r, 1);
			}
		yaml_event_delete(&ev);
		if (!next_event(r, &ev))
			return CTL_YAML_FATAL;
		if (ev.type != YAML_SCALAR_EVENT) {
			int depth = ev.type == YAML_MAPPING_START_EVENT ||
			    ev.type == YAML_SEQUENCE_START_EVENT ? 2 : 1;

			yaml_err(r, &ev.start_mark, "key '%s': a plain value "
			    "expected (a string, a time or null), not a %s",
			    r->buf + r->koff[n], ev.type == YAML_ALIAS_EVENT ?
			    "alias" : "nested list or mapping");
			yaml_event_delete(&ev);
			return skip(r, depth);
		}
		if (!plain_node(r, &ev, "value")) {
			yaml_event_delete(&ev);
			return skip(r, 1);
		}
		r->m[n].line = (unsigned long)ev.start_mark.line + 1;
		r->m[n].col = (unsigned long)ev.start_mark.column + 1;
		r->vnull[n] = is_null(&ev);
		r->m[n].val_len = ev.data.scalar.length;
		if (!store(r, ev.data.scalar.value, ev.data.scalar.length,
		    &r->voff[n])) {
			yaml_err(r, &ev.start_mark, "item larger than %d "
			    "octets", CTL_YAML_ITEM_MAX);
			yaml_event_delete(&ev);
			return skip(r, 1);
		}
		yaml_event_delete(&ev);
		r->count++;
	}
	for (size_t i = 0; i < r->count; i++) {
		r->m[i].key = r->buf + r->koff[i];
		r->m[i].val = r->vnull[i] ? NULL : r->buf + r->voff[i];
		if (r->vnull[i])
			r->m[i].val_len = 0;
	}
	return CTL_YAML_ITEM;
}

ctl_yaml_res
ctl_yaml_next(ctl_yaml *r)
{
	yaml_event_t ev;

	r->err[0] = '\0';
	r->count = 0;
	for (;;) {
		if (r->state == ST_END)
			return r->err[0] != '\0' ? CTL_YAML_FATAL :
			    CTL_YAML_EOF;
		if (!next_event(r, &ev))
			return CTL_YAML_FATAL;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			yaml_event_delete(&ev);
			continue;
		case YAML_STREAM_END_EVENT:
			r->state = ST_END;
			yaml_event_delete(&ev);
			return CTL_YAML_EOF;
		case YAML_SEQUENCE_START_EVENT:
			if (r->state != ST_START) {
				yaml_err(r, &ev.start_mark, "list item: a "
				    "mapping expected, not a list");
				yaml_event_delete(&ev);
				return skip(r, 1);
			}
			r->state = ST_LIST;
			yaml_event_delete(&ev);
			continue;
		case YAML_SEQUENCE_END_EVENT:
			r->state = ST_START;	/* a next document may follow */
			yaml_event_delete(&ev);
			continue;
		case YAML_MAPPING_START_EVENT:
			if (r->state != ST_LIST) {
				yaml_err(r, &ev.start_mark, "the document must "
				    "be a list of mappings");
				r->state = ST_END;
				yaml_event_delete(&ev);
				return CTL_YAML_FATAL;
			}
			r->line = (unsigned long)ev.start_mark.line + 1;
			if (!plain_node(r, &ev, "list item")) {
				yaml_event_delete(&ev);
				return skip(r, 1);
			}
			yaml_event_delete(&ev);
			return read_item(r);
		case YAML_SCALAR_EVENT:
		case YAML_ALIAS_EVENT:
			if (r->state == ST_START && ev.type ==
			    YAML_SCALAR_EVENT && is_null(&ev)) {
				/* an empty document */
				yaml_event_delete(&ev);
				continue;
			}
			r->line = (unsigned long)ev.start_mark.line + 1;
			yaml_err(r, &ev.start_mark, "%s", r->state == ST_LIST ?
			    "list item: a mapping expected" :
			    "the document must be a list of mappings");
			if (r->state != ST_LIST)
				r->state = ST_END;
			yaml_event_delete(&ev);
			return r->state == ST_END ? CTL_YAML_FATAL :
			    CTL_YAML_BAD;
		default:
			yaml_event_delete(&ev);
			continue;
		}
	}
}

size_t
ctl_yaml_count(const ctl_yaml *r)
{
	return r->count;
}

const ctl_yaml_member *
ctl_yaml_get(const ctl_yaml *r, size_t i)
{
	return i < r->count ? &r->m[i] : NULL;
}

unsigned long
ctl_yaml_line(const ctl_yaml *r)
{
	return r->line;
}

const char *
ctl_yaml_errmsg(const ctl_yaml *r)
{
	return r->err;
}

unsigned long
ctl_yaml_errline(const ctl_yaml *r)
{
	return r->errline;
}

unsigned long
ctl_yaml_errcol(const ctl_yaml *r)
{
	return r->errcol;
}

uint64_t
ctl_yaml_offset(const ctl_yaml *r)
{
	long o = ftell(r->f);

	return o < 0 ? 0 : (uint64_t)o;
}
