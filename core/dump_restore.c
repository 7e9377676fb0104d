/*
 * dump_restore.c - restoring a dump into an empty index (see dump.h):
 * the items are checked, encoded with codec.h in the on-disk format
 * version 1 documented in codec.c, and written as they were in one import
 * transaction.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "dump_int.h"
#include "index_int.h"

/* ---------------------------------------------------------------- */
/* restoring */

struct cm_restore {
	cm_index *idx;
	cm_import *im;
	uint64_t next_seq;
	bool dead;		/* a put failed: abort */
	/* the entry being built: announced and given records */
	bool building;
	size_t want, got;
	unsigned char ekey[HASH_LEN];
	char eaddr[CM_CODEC_ADDR_MAX + 1];
	unsigned char *ent;
	size_t entlen, entcap;
	char ltype[CM_TYPE_ID_MAX];	/* type of the last record */
	size_t ltlen;
	unsigned char *buf;
	size_t bufcap;
	cm_dump_counts n;
	char err[512];
};

static cm_status
rfail(cm_restore *r, cm_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static cm_status
rfail(cm_restore *r, cm_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->dead = true;
	return st;
}

/* A put of the import failed with ST: say why. */
static cm_status
put_fail(cm_restore *r, cm_status st, const char *what)
{
	if (st == CM_EEXIST)
		return rfail(r, st, "%s: given twice", what);
	if (st == CM_EFULL)
		return rfail(r, st, "the index grew: restore again");
	return rfail(r, st, "%s: %s (%s)", what, cm_strerror(st),
	    cm_index_last_error(r->idx));
}

const char *
cm_dump_restore_error(const cm_restore *r)
{
	return r != NULL && r->err[0] ? r->err : "no error";
}

static void
restore_free(cm_restore *r)
{
	free(r->ent);
	free(r->buf);
	free(r);
}

cm_status
cm_dump_restore_begin(cm_index *idx, const cm_dump_header *h,
    size_t reserve, cm_restore **out)
{
	unsigned char key[CM_DUMP_KEY_LEN];
	cm_restore *r;
	cm_status st;
	size_t ni = 0, nh = 0;
	int same;

	if (idx == NULL || h == NULL || out == NULL)
		return CM_EINVAL;
	*out = NULL;
	if (h->index_format != CM_INDEX_META_FORMAT || h->next_seq == 0)
		return CM_EFORMAT;
	if ((st = cm_index_erasure_key(idx, key)) != CM_OK)
		return st;
	same = memcmp(key, h->key, sizeof(key)) == 0;
	memset(key, 0, sizeof(key));
	if (!same)
		return CM_EPERM;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return CM_ENOMEM;
	r->idx = idx;
	r->next_seq = h->next_seq;
	if ((st = cm_index_import_begin(idx, reserve, &r->im)) != CM_OK) {
		restore_free(r);
		return st;
	}
	if ((st = cm_import_entries(r->im, CM_RAW_INDEX, &ni)) != CM_OK ||
	    (st = cm_import_entries(r->im, CM_RAW_HISTORY, &nh)) != CM_OK ||
	    ni + nh > 0) {
		cm_import_abort(r->im);
		restore_free(r);
		return st != CM_OK ? st : CM_EEXIST;
	}
	*out = r;
	return CM_OK;
}

static cm_status
entry_done(cm_restore *r)
{
	cm_status st;

	r->building = false;
	st = cm_import_put(r->im, CM_RAW_INDEX, r->ekey, HASH_LEN, r->ent,
	    r->entlen);
	if (st != CM_OK)
		return put_fail(r, st, r->eaddr);
	return CM_OK;
}

static cm_status
put_entry(cm_restore *r, const cm_dump_item *it)
{
	size_t al = strlen(it->name);

	if (al == 0 || al > CM_CODEC_ADDR_MAX ||
	    strchr(it->name, '@') == NULL)
		return rfail(r, CM_EINVAL, "not a normalized address");
	if (it->nrecords > 65535)
		return rfail(r, CM_EINVAL, "%s: too many records", it->name);
	if (it->nrecords == 0 && it->objection_us == 0)
		return rfail(r, CM_EINVAL, "%s: neither records nor an "
		    "objection", it->name);
	if (!cm_codec_reserve(&r->ent, &r->entcap, CM_CODEC_ENTRY_HDR + al))
		return rfail(r, CM_ENOMEM, "%s", cm_strerror(CM_ENOMEM));
	cm_codec_entry_head(r->ent, it->name, al, it->nrecords,
	    it->objection_us, it->last_grant_us);
	r->entlen = CM_CODEC_ENTRY_HDR + al;
	memcpy(r->eaddr, it->name, al + 1);
	cm_index_subject_key(r->idx, it->name, al, r->ekey);
	r->want = it->nrecords;
	r->got = 0;
	r->ltlen = 0;
	r->building = true;
	r->n.entries++;
	return r->want == 0 ? entry_done(r) : CM_OK;
}

static cm_status
put_record(cm_restore *r, const cm_record *rec)
{
	const char *f[4] = { rec->source, rec->basis, rec->purpose,
	    rec->evidence };
	cm_rules_rec d;
	size_t tl = 0;
	int c;

	if (!r->building)
		return rfail(r, CM_EINVAL, "a record without its address");
	if (!cm_codec_valid_type(rec->type, &tl))
		return rfail(r, CM_EINVAL, "%s: invalid type id", r->eaddr);
	if (rec->state < CM_STATE_PENDING || rec->state > CM_STATE_WITHDRAWN)
		return rfail(r, CM_EINVAL, "%s: invalid state", r->eaddr);
	/* type order: octets, then the shorter first */
	c = cm_codec_str_cmp((const unsigned char *)r->ltype, r->ltlen,
	    (const unsigned char *)rec->type, tl);
	if (r->got > 0 && c >= 0)
		return rfail(r, CM_EINVAL, "%s: record %s out of type order",
		    r->eaddr, rec->type);
	d.state = rec->state;
	d.granted = rec->granted_us;
	d.confirmed = rec->confirmed_us;
	d.withdrawn = rec->withdrawn_us;
	d.updated = rec->updated_us;
	d.type.p = (const unsigned char *)rec->type;
	d.type.n = tl;
	for (int i = 0; i < 4; i++) {
		const char *fs = f[i] != NULL ? f[i] : "";

		d.f[i].p = (const unsigned char *)fs;
		d.f[i].n = strnlen(fs, CM_FIELD_MAX + 1);
		if (d.f[i].n > CM_FIELD_MAX)
			return rfail(r, CM_ETOOLONG, "%s: %s: a field longer "
			    "than %d octets", r->eaddr, rec->type,
			    CM_FIELD_MAX);
	}
	if (!cm_codec_reserve(&r->ent, &r->entcap,
	    r->entlen + cm_codec_rec_size(&d)))
		return rfail(r, CM_ENOMEM, "%s", cm_strerror(CM_ENOMEM));
	cm_codec_rec_encode(&d, r->ent + r->entlen);
	r->entlen += cm_codec_rec_size(&d);
	memcpy(r->ltype, rec->type, tl);
	r->ltlen = tl;
	r->n.records++;
	return ++r->got == r->want ? entry_done(r) : CM_OK;
}

static cm_status
put_domain(cm_restore *r, const cm_dump_item *it)
{
	size_t dl = strlen(it->name), sl = strlen(it->source);
	unsigned char k[CM_CODEC_DOMAIN_MAX + 1];
	cm_codec_domain d = { it->suppressed, it->since_us, it->updated_us,
	    (const unsigned char *)it->name, (const unsigned char *)it->source,
	    dl, sl };
	cm_status st;

	if (dl == 0 || dl > CM_CODEC_DOMAIN_MAX ||
	    strchr(it->name, '@') != NULL)
		return rfail(r, CM_EINVAL, "not a normalized domain");
	if (sl > CM_FIELD_MAX)
		return rfail(r, CM_ETOOLONG, "%s: source longer than %d "
		    "octets", it->name, CM_FIELD_MAX);
	if (!cm_codec_reserve(&r->buf, &r->bufcap, cm_codec_domain_size(&d)))
		return rfail(r, CM_ENOMEM, "%s", cm_strerror(CM_ENOMEM));
	cm_codec_domain_encode(&d, r->buf);
	if ((st = cm_import_put(r->im, CM_RAW_INDEX, k,
	    cm_codec_dkey(it->name, dl, k), r->buf,
	    cm_codec_domain_size(&d))) != CM_OK)
		return put_fail(r, st, it->name);
	r->n.domains++;
	return CM_OK;
}

static cm_status
put_event(cm_restore *r, const cm_dump_item *it)
{
	const cm_history_event *ev = &it->ev;
	const char *s[6] = { ev->type, ev->source, ev->basis, ev->purpose,
	    ev->evidence, ev->actor };
	cm_codec_hist h = { ev->kind, ev->old_state, ev->new_state,
	    ev->at_us, ev->recorded_us, { { 0 } } };
	unsigned char k[CM_CODEC_HKEY_LEN], sk[CM_CODEC_AKEY_LEN];
	size_t sz, l;
	cm_status st;

	if (ev->kind < CM_EV_GRANT || ev->kind > CM_EV_ERASE ||
	    ev->old_state > CM_STATE_WITHDRAWN ||
	    ev->new_state > CM_STATE_WITHDRAWN)
		return rfail(r, CM_EINVAL, "event %llu: invalid kind or state",
		    (unsigned long long)ev->seq);
	if (ev->seq == 0 || ev->seq >= r->next_seq)
		return rfail(r, CM_EINVAL, "event %llu: sequence number not "
		    "below the dump's next one (%llu)",
		    (unsigned long long)ev->seq,
		    (unsigned long long)r->next_seq);
	for (int i = 0; i < 6; i++) {
		l = s[i] != NULL ? strlen(s[i]) : 0;
		if (l > (i == 0 ? CM_TYPE_ID_MAX : STR_MAX))
			return rfail(r, CM_ETOOLONG, "event %llu: a field "
			    "too long", (unsigned long long)ev->seq);
		h.s[i].p = (const unsigned char *)s[i];
		h.s[i].n = l;
	}
	sz = cm_codec_hist_size(&h);
	if (!cm_codec_reserve(&r->buf, &r->bufcap, sz))
		return rfail(r, CM_ENOMEM, "%s", cm_strerror(CM_ENOMEM));
	cm_codec_hist_encode(&h, r->buf);
	if (it->name != NULL)
		cm_index_subject_key(r->idx, it->name, strlen(it->name), sk);
	else
		memcpy(sk, it->hash, HASH_LEN);
	cm_codec_hkey(sk, ev->seq, k);
	if ((st = cm_import_put(r->im, CM_RAW_HISTORY, k, sizeof(k), r->buf,
	    sz)) != CM_OK) {
		char what[64];

		snprintf(what, sizeof(what), "event %llu",
		    (unsigned long long)ev->seq);
		return put_fail(r, st, what);
	}
	r->n.events++;
	return CM_OK;
}

cm_status
cm_dump_restore_put(cm_restore *r, const cm_dump_item *it)
{
	unsigned char v[CM_CODEC_TOMB_LEN];
	cm_status st;

	if (r == NULL || it == NULL)
		return CM_EINVAL;
	if (r->dead)
		return CM_EINVAL;
	if (r->building && it->kind != CM_DUMP_RECORD)
		return rfail(r, CM_EINVAL, "%s: %zu records announced, %zu "
		    "given", r->eaddr, r->want, r->got);
	switch (it->kind) {
	case CM_DUMP_DOMAIN:
		return it->name != NULL && it->source != NULL ?
		    put_domain(r, it) : CM_EINVAL;
	case CM_DUMP_ENTRY:
		return it->name != NULL ? put_entry(r, it) : CM_EINVAL;
	case CM_DUMP_RECORD:
		return put_record(r, &it->rec);
	case CM_DUMP_TOMBSTONE:
		if (!(it->hash[0] & 0x80))
			return rfail(r, CM_EINVAL, "not an address hash");
		cm_codec_tomb_encode(v, it->erased_us);
		if ((st = cm_import_put(r->im, CM_RAW_INDEX, it->hash,
		    HASH_LEN, v, sizeof(v))) != CM_OK)
			return put_fail(r, st, st == CM_EEXIST ? "tombstone "
			    "(or an entry under its hash)" : "tombstone");
		r->n.tombstones++;
		return CM_OK;
	case CM_DUMP_EVENT:
		return put_event(r, it);
	}
	return rfail(r, CM_EINVAL, "unknown item");
}

cm_status
cm_dump_restore_commit(cm_restore *r, const cm_dump_counts *expect)
{
	cm_status st;

	if (r == NULL)
		return CM_EINVAL;
	if (r->dead || r->im == NULL)
		return CM_EINVAL;
	if (r->building)
		return rfail(r, CM_EINVAL, "%s: %zu records announced, %zu "
		    "given", r->eaddr, r->want, r->got);
	if (expect != NULL && memcmp(expect, &r->n, sizeof(r->n)) != 0)
		return rfail(r, CM_EINVAL, "the dump is incomplete: %zu "
		    "domains, %zu addresses, %zu records, %zu tombstones, %zu "
		    "events announced; %zu, %zu, %zu, %zu, %zu read",
		    expect->domains, expect->entries, expect->records,
		    expect->tombstones, expect->events, r->n.domains,
		    r->n.entries, r->n.records, r->n.tombstones, r->n.events);
	cm_import_set_seq(r->im, r->next_seq);
	st = cm_import_commit(r->im);
	r->im = NULL;
	if (st != CM_OK)
		return put_fail(r, st, "commit");
	restore_free(r);
	return CM_OK;
}

void
cm_dump_restore_abort(cm_restore *r)
{
	if (r == NULL)
		return;
	if (r->im != NULL)
		cm_import_abort(r->im);
	restore_free(r);
}
