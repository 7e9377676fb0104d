/*
 * classify.c - every newsletter type a message matches (see classify.h).
 */
#include "classify.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "../core/addr.h"
#include "../core/listid.h"
#include "glob.h"
#include "links.h"

void
cm_class_clear(cm_typeset *s)
{
	memset(s, 0, sizeof(*s));
}

void
cm_class_add(cm_typeset *s, size_t i)
{
	if (i >= CM_CLASS_MAX_TYPES || cm_class_has(s, i))
		return;
	s->bit[i / 8] |= (unsigned char)(1u << (i % 8));
	s->n++;
	if (i / 8 >= s->top)
		s->top = i / 8 + 1;
}

bool
cm_class_has(const cm_typeset *s, size_t i)
{
	return i < CM_CLASS_MAX_TYPES && (s->bit[i / 8] & (1u << (i % 8))) != 0;
}

void
cm_class_union(cm_typeset *to, const cm_typeset *from)
{
	for (size_t i = cm_class_next(from, 0); i < CM_CLASS_MAX_TYPES;
	    i = cm_class_next(from, i + 1))
		cm_class_add(to, i);
}

void
cm_class_minus(cm_typeset *out, const cm_typeset *a, const cm_typeset *b)
{
	cm_class_clear(out);
	for (size_t i = cm_class_next(a, 0); i < CM_CLASS_MAX_TYPES;
	    i = cm_class_next(a, i + 1))
		if (!cm_class_has(b, i))
			cm_class_add(out, i);
}

/* I, or none past the last type */
static size_t
bound(size_t i)
{
	return i < CM_CLASS_MAX_TYPES ? i : CM_CLASS_MAX_TYPES;
}

size_t
cm_class_next(const cm_typeset *s, size_t i)
{
	size_t byte;
	unsigned b;

	if (i >= CM_CLASS_MAX_TYPES || i / 8 >= s->top)
		return CM_CLASS_MAX_TYPES;
	/* the rest of I's byte, then the bytes after it up to the last
	 * one with a member, eight at a time while they are all zero (on
	 * every recipient's path: most sets have one type near the start) */
	byte = i / 8;
	b = (unsigned)s->bit[byte] >> (i % 8);
	if (b != 0)
		return bound(i + (size_t)__builtin_ctz(b));
	for (byte++; byte < s->top; byte++) {
		if (byte + 8 <= s->top) {
			uint64_t w;

			memcpy(&w, s->bit + byte, sizeof(w));
			if (w == 0) {
				byte += 7;
				continue;
			}
		}
		if (s->bit[byte] != 0)
			return bound(byte * 8 +
			    (size_t)__builtin_ctz((unsigned)s->bit[byte]));
	}
	return CM_CLASS_MAX_TYPES;
}

const char *
cm_class_join(const cm_policy *p, const cm_typeset *s, bool names, char *out,
    size_t size)
{
	const char *sep = names ? ", " : ",";
	size_t len = 0, ntypes = cm_policy_ntypes(p);

	out[0] = '\0';
	for (size_t i = cm_class_next(s, 0); i < ntypes;
	    i = cm_class_next(s, i + 1)) {
		const cm_ntype *t = cm_policy_type(p, i);
		const char *w = names ? cm_ntype_name(t) : cm_ntype_id(t);
		size_t need = (len > 0 ? strlen(sep) : 0) + strlen(w);

		if (len + need + sizeof(",...") > size) {
			if (len + sizeof(",...") <= size)
				memcpy(out + len, ",...", sizeof(",..."));
			break;
		}
		if (len > 0) {
			memcpy(out + len, sep, strlen(sep));
			len += strlen(sep);
		}
		memcpy(out + len, w, strlen(w) + 1);
		len += strlen(w);
	}
	return out;
}

bool
cm_class_headers_may_add(const cm_policy *p, const cm_typeset *have)
{
	for (size_t i = 0; i < cm_policy_ntypes(p); i++) {
		const cm_ntype *t = cm_policy_type(p, i);

		if (cm_class_has(have, i))
			continue;
		for (size_t j = 0; j < cm_ntype_nrules(t); j++) {
			const char *pat, *hname;
			cm_rule_kind k = cm_ntype_rule(t, j, &pat, &hname);

			if (k == CM_RULE_HEADER || k == CM_RULE_LIST_ID)
				return true;
		}
	}
	return false;
}

/* Does any envelope_sender rule of T match one of the N texts (TEXTS[i],
 * LENS[i] octets), or a sasl_login rule SASL_LOGIN? */
static bool
envelope_match(const cm_ntype *t, const char *const *texts,
    const size_t *lens, size_t n, const char *sasl_login)
{
	for (size_t j = 0; j < cm_ntype_nrules(t); j++) {
		const char *pat, *hname;
		cm_rule_kind k = cm_ntype_rule(t, j, &pat, &hname);

		if (k == CM_RULE_SASL_LOGIN && sasl_login != NULL &&
		    strcmp(pat, sasl_login) == 0)
			return true;
		if (k != CM_RULE_ENVELOPE_SENDER)
			continue;
		for (size_t i = 0; i < n; i++)
			if (cm_glob_match(pat, texts[i], lens[i]))
				return true;
	}
	return false;
}

/* The sender without white space, angle brackets and source route, as
 * the MTA passed it: *B, returning its length (0: the null sender). */
static size_t
bare(const char *s, size_t len, const char **b)
{
	const char *colon;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len >= 1 && s[0] == '<') {
		s++;
		len--;
		if (len >= 1 && s[len - 1] == '>')
			len--;
	}
	if (len > 0 && s[0] == '@' && (colon = memchr(s, ':', len)) != NULL) {
		len -= (size_t)(colon + 1 - s);
		s = colon + 1;
	}
	*b = s;
	return len;
}

cm_status
cm_class_envelope(const cm_policy *p, const char *sender, size_t len,
    const char *sasl_login, cm_typeset *out)
{
	cm_addr a;
	cm_status st = CM_OK;
	const char *texts[3], *b = NULL;
	size_t lens[3], ntexts = 0, blen;

	blen = sender != NULL ? bare(sender, len, &b) : 0;
	if (blen > 0) {
		st = cm_addr_normalize(sender, len, cm_policy_addr_opts(p), &a);
		if (st == CM_OK) {
			texts[ntexts] = a.key;
			lens[ntexts++] = a.key_len;
			if (a.has_subaddr) {
				texts[ntexts] = a.base;
				lens[ntexts++] = a.base_len;
			}
		}
		/* As written too: a rule written before senders were
		 * normalized (e.g. a U-label domain) keeps matching, and an
		 * unreadable sender is still typed by such a rule. */
		texts[ntexts] = b;
		lens[ntexts++] = blen;
	}
	for (size_t i = 0; i < cm_policy_ntypes(p); i++)
		if (envelope_match(cm_policy_type(p, i), texts, lens, ntexts,
		    sasl_login))
			cm_class_add(out, i);
	return st;
}

cm_status
cm_class_headers(const cm_policy *p, size_t n, const char *const *names,
    const char *const *values, cm_typeset *out)
{
	cm_status st = CM_OK;

	for (size_t k = 0; k < n; k++) {
		char id[CM_LISTID_MAX + 1];
		size_t idlen = 0;
		bool is_list, id_ok = false;

		if (names[k] == NULL || values[k] == NULL)
			continue;
		is_list = strcasecmp(names[k], "List-Id") == 0;
		if (is_list)
			id_ok = cm_listid_parse(values[k], strlen(values[k]), id,
			    sizeof(id), &idlen) == CM_OK;
		for (size_t i = 0; i < cm_policy_ntypes(p); i++) {
			const cm_ntype *t = cm_policy_type(p, i);

			for (size_t j = 0; j < cm_ntype_nrules(t); j++) {
				const char *pat, *hname, *v = values[k];
				size_t len = strlen(v);
				cm_rule_kind kind = cm_ntype_rule(t, j, &pat,
				    &hname);

				if (kind == CM_RULE_HEADER &&
				    strcasecmp(hname, names[k]) == 0) {
					cm_glob_trim(&v, &len);
					if (cm_glob_match(pat, v, len))
						cm_class_add(out, i);
				} else if (kind == CM_RULE_LIST_ID && is_list) {
					if (!id_ok)
						st = CM_EINVAL;
					else if (cm_glob_match(pat, id, idlen))
						cm_class_add(out, i);
				}
			}
		}
	}
	return st;
}

bool
cm_class_pd_fast(const cm_policy *p, const cm_typeset *ts)
{
	return ts->n > 0 && cm_policy_pd_decides_envelope(p) &&
	    cm_policy_mode(p) == CM_MODE_ENFORCE &&
	    !cm_class_headers_may_add(p, ts) &&
	    !cm_links_enabled(cm_policy_links(p));
}
