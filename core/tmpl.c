/* tmpl.c - safe expansion of reply, trace header and DSN templates. */
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"
#include "util.h"

static const char *const var_names[CM_TMPL_NVARS] = {
	[CM_TMPL_RCPT] = "rcpt",
	[CM_TMPL_TYPE] = "type",
	[CM_TMPL_NAME] = "name",
	[CM_TMPL_REASON] = "reason",
	[CM_TMPL_REMOVED] = "removed",
	[CM_TMPL_KEPT] = "kept",
	[CM_TMPL_MODE] = "mode",
	[CM_TMPL_SENDER] = "sender",
	[CM_TMPL_QUEUE_ID] = "queue_id",
	[CM_TMPL_CAMPAIGN] = "campaign",
	[CM_TMPL_HOST] = "host",
};

/* One piece: a literal (var < 0) or a placeholder. */
struct seg {
	int var;
	size_t off, len;	/* literal: octets of lit */
};

struct cm_tmpl {
	char *text;
	char *lit;		/* literal text, "%%" already reduced */
	struct seg *segs;
	size_t nsegs;
};

const char *
cm_tmpl_var_name(cm_tmpl_var v)
{
	if ((int)v < 0 || v >= CM_TMPL_NVARS)
		return NULL;
	return var_names[v];
}

void
cm_tmpl_free(cm_tmpl *t)
{
	if (t == NULL)
		return;
	free(t->text);
	free(t->lit);
	free(t->segs);
	free(t);
}

const char *
cm_tmpl_text(const cm_tmpl *t)
{
	return t->text;
}

static cm_status
fail(cm_tmpl *t, size_t *err_off, size_t off, cm_status st)
{
	if (err_off != NULL)
		*err_off = off;
	cm_tmpl_free(t);
	return st;
}

cm_status
cm_tmpl_compile(const char *text, cm_tmpl **out, size_t *err_off)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t len, i = 0, lo = 0, litstart = 0;
	cm_tmpl *t;

	if (text == NULL || out == NULL)
		return CM_EINVAL;
	len = strlen(text);
	if (len > CM_TMPL_MAX) {
		if (err_off != NULL)
			*err_off = CM_TMPL_MAX;
		return CM_ETOOLONG;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return CM_ENOMEM;
	t->text = strdup(text);
	t->lit = malloc(len + 1);
	/* at most one segment per character, plus one */
	t->segs = calloc(len + 1, sizeof(*t->segs));
	if (t->text == NULL || t->lit == NULL || t->segs == NULL)
		return fail(t, err_off, 0, CM_ENOMEM);

#define END_LIT() do { \
	if (lo > litstart) { \
		t->segs[t->nsegs].var = -1; \
		t->segs[t->nsegs].off = litstart; \
		t->segs[t->nsegs].len = lo - litstart; \
		t->nsegs++; \
	} \
	litstart = lo; \
} while (0)

	while (i < len) {
		unsigned c = p[i];
		size_t k;

		if (c == '%') {
			if (p[i + 1] == '%') {
				t->lit[lo++] = '%';
				i += 2;
				continue;
			}
			if (p[i + 1] != '{')
				return fail(t, err_off, i, CM_EINVAL);
			const char *name = text + i + 2;
			const char *close = strchr(name, '}');
			int v = -1;

			if (close == NULL)
				return fail(t, err_off, i, CM_EINVAL);
			for (int j = 0; j < CM_TMPL_NVARS; j++)
				if (strlen(var_names[j]) == (size_t)(close - name) &&
				    memcmp(var_names[j], name,
				    (size_t)(close - name)) == 0)
					v = j;
			if (v < 0)
				return fail(t, err_off, i, CM_EINVAL);
			END_LIT();
			t->segs[t->nsegs].var = v;
			t->nsegs++;
			i = (size_t)(close - text) + 1;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(t, err_off, i, CM_EINVAL);
		k = cm_utf8_len(p + i, len - i);
		if (k == 0)
			return fail(t, err_off, i, CM_EINVAL);
		memcpy(t->lit + lo, p + i, k);
		lo += k;
		i += k;
	}
	END_LIT();
#undef END_LIT
	t->lit[lo] = '\0';
	*out = t;
	return CM_OK;
}

struct outbuf {
	char *buf;
	size_t size, len;
	unsigned flags;
	bool full;
};

/* Append one character (K octets at S) or nothing if it does not fit. */
static void
put_char(struct outbuf *o, const char *s, size_t k)
{
	if (o->full)
		return;
	if (k == 1 && *s == '%' && (o->flags & CM_TMPL_SETREPLY)) {
		if (o->len + 2 > o->size - 1) {
			o->full = true;
			return;
		}
		o->buf[o->len++] = '%';
		o->buf[o->len++] = '%';
		return;
	}
	if (k > 1 && (o->flags & CM_TMPL_ASCII)) {
		s = "?";
		k = 1;
	}
	if (o->len + k > o->size - 1) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, k);
	o->len += k;
}

static void
put_value(struct outbuf *o, const char *v)
{
	const unsigned char *p = (const unsigned char *)v;
	size_t len = strlen(v), i = 0;

	while (i < len && !o->full) {
		unsigned c = p[i];
		size_t k = cm_utf8_len(p + i, len - i);

		if (k == 0) {
			if (i + 1 > CM_TMPL_VALUE_MAX)
				break;
			put_char(o, "?", 1);
			i++;
			continue;
		}
		if (i + k > CM_TMPL_VALUE_MAX)
			break;
		if (c < 0x20 || c == 0x7f)
			put_char(o, " ", 1);
		else
			put_char(o, v + i, k);
		i += k;
	}
}

size_t
cm_tmpl_expand(const cm_tmpl *t, const char *const *vals, unsigned flags,
    char *buf, size_t size, bool *truncated)
{
	struct outbuf o = { .buf = buf, .size = size, .flags = flags };

	if (buf == NULL || size == 0) {
		if (truncated != NULL)
			*truncated = true;
		return 0;
	}
	for (size_t s = 0; t != NULL && s < t->nsegs && !o.full; s++) {
		const struct seg *sg = &t->segs[s];

		if (sg->var >= 0) {
			if (vals != NULL && vals[sg->var] != NULL)
				put_value(&o, vals[sg->var]);
			continue;
		}
		for (size_t i = 0; i < sg->len && !o.full;) {
			const unsigned char *p =
			    (const unsigned char *)t->lit + sg->off + i;
			size_t k = cm_utf8_len(p, sg->len - i);

			if (k == 0)
				k = 1;	/* cannot happen: checked at compile */
			put_char(&o, (const char *)p, k);
			i += k;
		}
	}
	buf[o.len] = '\0';
	if (truncated != NULL)
		*truncated = o.full;
	return o.len;
}
