/* ytree.c - YAML events (libyaml) to a tree of positioned nodes. */
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "errlist.h"
#include "ytree.h"

struct frame {
	cm_ynode *node;
	cm_ynode *last;		/* last child appended */
	bool want_key;		/* mapping: the next child is a key */
	bool too_many;		/* size limit already reported */
	bool drop_value;	/* mapping: the key was dropped, drop its value */
};

struct builder {
	const char *fname;
	cm_arena *a;
	cm_errlist *errs;
	size_t nerr;
	bool oom;
	bool stop;		/* nesting too deep: stop parsing */
	struct frame stack[CM_YTREE_DEPTH_MAX];
	int depth;		/* open containers on the stack */
	int skip;		/* >0: open containers of an ignored subtree */
	int docs;		/* documents seen */
	cm_ynode *root;
};

/* Report "FILE:L:C: MSG" or, with ARG, "FILE:L:C: MSG'ARG'TAIL". */
static void
report(struct builder *b, unsigned line, unsigned col, const char *msg,
    const char *arg, const char *tail)
{
	char q[160];

	b->nerr++;
	if (arg != NULL)
		cm_errlist_quote(q, sizeof(q), arg);
	if (cm_errlist_add_at(b->errs, line, col, "%s:%u:%u: %s%s%s%s%s",
	    b->fname, line, col, msg, arg != NULL ? "'" : "", arg != NULL ? q : "",
	    arg != NULL ? "'" : "", tail != NULL ? tail : "") != CM_OK)
		b->oom = true;
}

const char *
cm_ytree_kind_name(const cm_ynode *n)
{
	switch (n->kind) {
	case CM_YN_MAP:
		return "a mapping";
	case CM_YN_SEQ:
		return "a sequence";
	default:
		return n->null ? "an empty value" : "a scalar";
	}
}

static bool
is_null(const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return strcmp(s, "") == 0 || strcmp(s, "~") == 0 ||
	    strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	    strcmp(s, "NULL") == 0;
}

static cm_ynode *
new_node(struct builder *b, cm_ynode_kind kind, const yaml_mark_t *m)
{
	cm_ynode *n = cm_arena_alloc(b->a, sizeof(*n));

	if (n == NULL) {
		b->oom = true;
		return NULL;
	}
	n->kind = kind;
	n->line = (unsigned)m->line + 1;
	n->col = (unsigned)m->column + 1;
	n->str = "";
	return n;
}

/* Is a scalar key equal to an earlier key of mapping M? */
static cm_ynode *
find_dup(cm_ynode *m, const cm_ynode *key)
{
	for (cm_ynode *k = m->first; k != NULL && k->next != NULL;
	    k = k->next->next) {
		if (k == key)
			break;
		if (k->kind == CM_YN_SCALAR && !k->dup &&
		    k->len == key->len && memcmp(k->str, key->str,
		    key->len) == 0)
			return k;
	}
	return NULL;
}

/*
 * Is the container of frame F full (MAX entries) for the new node N?
 * The first time, report "too many WHAT (at most MAX)" at N.
 */
static bool
full(struct builder *b, struct frame *f, const cm_ynode *n, const char *what,
    size_t max)
{
	char t[96];

	if (f->node->n < max)
		return false;
	if (!f->too_many) {
		snprintf(t, sizeof(t), "too many %s (at most %zu)", what, max);
		report(b, n->line, n->col, t, NULL, NULL);
		f->too_many = true;
	}
	return true;
}

/*
 * Attach N to the innermost open container, or make it the root.
 * Returns false if N is to be dropped (container full).
 */
static bool
attach(struct builder *b, cm_ynode *n)
{
	struct frame *f;
	cm_ynode *par;
	bool is_key = false;
	char t[96];

	if (b->depth == 0) {
		b->root = n;
		return true;
	}
	f = &b->stack[b->depth - 1];
	par = f->node;
	if (par->kind == CM_YN_SEQ) {
		if (full(b, f, n, "entries in a sequence", CM_YTREE_SEQ_MAX))
			return false;
		par->n++;
	} else if (f->want_key) {
		f->want_key = false;
		if (full(b, f, n, "keys in a mapping", CM_YTREE_MAP_MAX)) {
			f->drop_value = true;
			return false;
		}
		par->n++;
		is_key = true;
	} else {
		f->want_key = true;
		if (f->drop_value) {
			f->drop_value = false;
			return false;
		}
	}
	if (f->last == NULL)
		par->first = n;
	else
		f->last->next = n;
	f->last = n;
	if (is_key && n->kind == CM_YN_SCALAR) {
		cm_ynode *d = find_dup(par, n);

		if (d != NULL) {
			n->dup = true;
			snprintf(t, sizeof(t), ": duplicate key (first defined "
			    "at line %u, column %u)", d->line, d->col);
			report(b, n->line, n->col, "key ", n->str, t);
		}
	}
	return true;
}

static void
reject_extras(struct builder *b, const yaml_mark_t *m, const yaml_char_t *anchor,
    const yaml_char_t *tag, bool implicit)
{
	if (anchor != NULL)
		report(b, (unsigned)m->line + 1, (unsigned)m->column + 1,
		    "YAML anchors are not supported: ", (const char *)anchor,
		    NULL);
	if (tag != NULL && !implicit)
		report(b, (unsigned)m->line + 1, (unsigned)m->column + 1,
		    "YAML tags are not supported: ", (const char *)tag, NULL);
}

static void
on_scalar(struct builder *b, const yaml_event_t *ev)
{
	cm_ynode *n;

	reject_extras(b, &ev->start_mark, ev->data.scalar.anchor,
	    ev->data.scalar.tag, ev->data.scalar.plain_implicit ||
	    ev->data.scalar.quoted_implicit);
	n = new_node(b, CM_YN_SCALAR, &ev->start_mark);
	if (n == NULL)
		return;
	n->len = ev->data.scalar.length;
	n->str = cm_arena_strndup(b->a, (const char *)ev->data.scalar.value,
	    n->len);
	if (n->str == NULL) {
		b->oom = true;
		return;
	}
	if (strlen(n->str) != n->len) {
		report(b, n->line, n->col, "NUL characters are not supported "
		    "in a value", NULL, NULL);
		n->len = strlen(n->str);
	}
	n->null = is_null(ev);
	attach(b, n);
}

static void
on_start(struct builder *b, const yaml_event_t *ev, cm_ynode_kind kind)
{
	const yaml_char_t *anchor, *tag;
	bool implicit;
	cm_ynode *n;

	if (kind == CM_YN_MAP) {
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		implicit = ev->data.mapping_start.implicit;
	} else {
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		implicit = ev->data.sequence_start.implicit;
	}
	reject_extras(b, &ev->start_mark, anchor, tag, implicit);
	if (b->depth >= CM_YTREE_DEPTH_MAX) {
		char t[64];

		snprintf(t, sizeof(t), "nesting too deep (at most %d levels)",
		    CM_YTREE_DEPTH_MAX);
		report(b, (unsigned)ev->start_mark.line + 1,
		    (unsigned)ev->start_mark.column + 1, t, NULL, NULL);
		/* and stop: libyaml takes time quadratic in the depth to
		 * parse deep nesting (a 200 KB file of brackets kept it
		 * busy for 26 s of CPU), only for the file to be refused */
		b->stop = true;
		return;
	}
	n = new_node(b, kind, &ev->start_mark);
	if (n == NULL)
		return;
	if (!attach(b, n)) {
		b->skip = 1;
		return;
	}
	b->stack[b->depth].node = n;
	b->stack[b->depth].last = NULL;
	b->stack[b->depth].want_key = true;
	b->stack[b->depth].too_many = false;
	b->stack[b->depth].drop_value = false;
	b->depth++;
}

/* Handle one event inside the (first) document. */
static void
on_event(struct builder *b, const yaml_event_t *ev)
{
	if (b->skip > 0) {
		/* inside an ignored subtree: only track its depth */
		if (ev->type == YAML_MAPPING_START_EVENT ||
		    ev->type == YAML_SEQUENCE_START_EVENT)
			b->skip++;
		else if (ev->type == YAML_MAPPING_END_EVENT ||
		    ev->type == YAML_SEQUENCE_END_EVENT)
			b->skip--;
		return;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		on_scalar(b, ev);
		break;
	case YAML_ALIAS_EVENT: {
		cm_ynode *n;

		report(b, (unsigned)ev->start_mark.line + 1,
		    (unsigned)ev->start_mark.column + 1,
		    "YAML aliases are not supported: ",
		    (const char *)ev->data.alias.anchor, NULL);
		/* keep the structure: an empty value in its place */
		n = new_node(b, CM_YN_SCALAR, &ev->start_mark);
		if (n != NULL) {
			n->null = true;
			attach(b, n);
		}
		break;
	}
	case YAML_MAPPING_START_EVENT:
		on_start(b, ev, CM_YN_MAP);
		break;
	case YAML_SEQUENCE_START_EVENT:
		on_start(b, ev, CM_YN_SEQ);
		break;
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		if (b->depth > 0)
			b->depth--;
		break;
	default:
		break;
	}
}

/* Line and column (1-based) of byte OFF in BUF. */
static void
offset_pos(const char *buf, size_t len, size_t off, unsigned *line,
    unsigned *col)
{
	unsigned l = 1, c = 1;

	for (size_t i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			l++;
			c = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

cm_status
cm_ytree_parse(const char *buf, size_t len, const char *fname,
    cm_arena *a, cm_errlist *errs, cm_ynode **root)
{
	struct builder b;
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false, syntax = false;

	memset(&b, 0, sizeof(b));
	b.fname = fname;
	b.a = a;
	b.errs = errs;
	*root = NULL;
	if (!yaml_parser_initialize(&parser))
		return CM_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && !b.oom && !b.stop) {
		if (!yaml_parser_parse(&parser, &ev)) {
			unsigned line, col;
			const char *prob = parser.problem != NULL ?
			    parser.problem : "invalid YAML";

			if (parser.error == YAML_MEMORY_ERROR) {
				b.oom = true;
				break;
			}
			if (parser.error == YAML_READER_ERROR) {
				offset_pos(buf, len, parser.problem_offset,
				    &line, &col);
			} else {
				line = (unsigned)parser.problem_mark.line + 1;
				col = (unsigned)parser.problem_mark.column + 1;
			}
			if (parser.context != NULL &&
			    parser.error != YAML_READER_ERROR) {
				char t[256];

				snprintf(t, sizeof(t), "%s (%s at line %u, "
				    "column %u)", prob, parser.context,
				    (unsigned)parser.context_mark.line + 1,
				    (unsigned)parser.context_mark.column + 1);
				report(&b, line, col, t, NULL, NULL);
			} else {
				report(&b, line, col, prob, NULL, NULL);
			}
			syntax = true;
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			b.docs++;
			if (b.docs == 2)
				report(&b, (unsigned)ev.start_mark.line + 1,
				    (unsigned)ev.start_mark.column + 1,
				    "only one YAML document is supported",
				    NULL, NULL);
			break;
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		default:
			if (b.docs <= 1)
				on_event(&b, &ev);
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (b.oom)
		return CM_ENOMEM;
	if (!syntax && !b.stop)
		*root = b.root;
	return b.nerr > 0 ? CM_EINVAL : CM_OK;
}
