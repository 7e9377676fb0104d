/*
 * apply.c - applying consent events in a write transaction (see apply.h).
 *
 * EVENT RULES: rules.h states them and rules.c applies them to the
 * decoded entry (cm_rules_apply); cm_apply_event loads the entry (or the
 * tombstone), calls it and writes the history events and the entry it
 * returns.  Every event is first refused (CM_EFUTURE) when dated more
 * than the index's clock skew after now.  ERASE and the domain events
 * are done here (codec.c documents what they write).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "codec.h"
#include "index_impl.h"
#include "outbox_int.h"
#include "scrubq_int.h"
#include "store.h"
#include "subaddr.h"
#include "timefmt.h"

#define AKEY_LEN CM_CODEC_AKEY_LEN
#define HKEY_LEN CM_CODEC_HKEY_LEN

typedef cm_rules_rec drec;
typedef cm_codec_evlen evlen;

void
cm_apply_free(cm_apply *w)
{
	cm_rules_out_free(&w->ro);
	free(w->ent.recs);
	free(w->old);
	free(w->buf);
	free(w->forget);
}

/* Write a history event under AK (subject key) with the strings of EV. */
static cm_status
hist_put(cm_apply *w, const unsigned char *ak, cm_event_kind kind,
    const unsigned char *type, size_t tlen, cm_state old, cm_state new,
    int64_t at, const cm_event *ev, const evlen *el)
{
	const char *s[5] = { ev->source, ev->basis, ev->purpose,
	    ev->evidence, ev->actor };
	cm_codec_hist h = { kind, old, new, at, w->recorded, { { 0 } } };
	unsigned char k[HKEY_LEN];
	MDB_val key = { HKEY_LEN, k }, val;
	size_t sz;
	int rc;

	h.s[0].p = type;
	h.s[0].n = tlen;
	for (int i = 0; i < 5; i++) {
		h.s[i + 1].p = (const unsigned char *)s[i];
		h.s[i + 1].n = el->f[i];
	}
	sz = cm_codec_hist_size(&h);
	if (!cm_codec_reserve(&w->buf, &w->bufcap, sz))
		return CM_ENOMEM;
	cm_codec_hist_encode(&h, w->buf);
	cm_codec_hkey(ak, w->seq, k);
	w->seq++;
	w->seq_dirty = true;
	val.mv_data = w->buf;
	val.mv_size = sz;
	if (w->hc == NULL && (rc = mdb_cursor_open(w->txn, w->idx->db_hist,
	    &w->hc)) != 0)
		return cm_store_db_err(w->idx->st, "history cursor", rc);
	if ((rc = mdb_cursor_put(w->hc, &key, &val,
	    w->append ? MDB_APPEND : 0)) != 0)
		return cm_store_db_err(w->idx->st, "write history", rc);
	return CM_OK;
}

/* Remember the strings of a history value before it is zeroed. */
static cm_status
scrub_hist(cm_scrub *sc, const unsigned char *v, size_t n)
{
	cm_codec_hist h;
	cm_status st;

	if (!cm_codec_hist_decode(v, n, &h))
		return CM_OK;
	for (int i = 0; i < 6; i++)
		if (h.s[i].n >= CM_SCRUB_MIN &&
		    (st = cm_scrub_add(sc, h.s[i].p, h.s[i].n)) != CM_OK)
			return st;
	return CM_OK;
}

/* Erase the entry under AK (ADDR, LEN: its address, to scrub) and write
 * a tombstone dated AT, or (!EXACT) the later of AT and a stored
 * tombstone's date. */
static cm_status
erase_key(cm_apply *w, const char *addr, size_t len, const unsigned char *ak,
    int64_t at, bool exact)
{
	cm_index *idx = w->idx;
	unsigned char tv[CM_CODEC_TOMB_LEN], hk[HKEY_LEN];
	MDB_val key = { AKEY_LEN, (void *)(uintptr_t)ak }, val;
	MDB_cursor *c;
	int64_t erased = 0;
	cm_status st;
	int rc;

	if ((st = cm_scrub_add(w->scrub, addr, len)) != CM_OK)
		return st;
	rc = mdb_get(w->txn, idx->db_index, &key, &val);
	if (rc == 0 && cm_codec_is_tomb(val.mv_data, val.mv_size)) {
		erased = cm_codec_tomb_erased(val.mv_data);
	} else if (rc == 0) {
		MDB_val nv = { val.mv_size, NULL };

		if (cm_codec_entry_decode(val.mv_data, val.mv_size,
		    &w->ent) != CM_OK)
			return cm_store_fmt_err(idx->st, "entry");
		for (size_t i = 0; i < w->ent.nrec; i++)
			for (int j = 0; j < 4; j++)
				if (w->ent.recs[i].f[j].n >= CM_SCRUB_MIN &&
				    (st = cm_scrub_add(w->scrub,
				    w->ent.recs[i].f[j].p,
				    w->ent.recs[i].f[j].n)) != CM_OK)
					return st;
		/* zero the stored entry where it lies, then replace it */
		if ((rc = mdb_put(w->txn, idx->db_index, &key, &nv,
		    MDB_RESERVE)) != 0)
			return cm_store_db_err(idx->st, "erase (overwrite)",
			    rc);
		memset(nv.mv_data, 0, nv.mv_size);
	} else if (rc != MDB_NOTFOUND) {
		return cm_store_db_err(idx->st, "erase lookup", rc);
	}
	cm_codec_tomb_encode(tv, exact || at > erased ? at : erased);
	val.mv_data = tv;
	val.mv_size = sizeof(tv);
	if ((rc = mdb_put(w->txn, idx->db_index, &key, &val, 0)) != 0)
		return cm_store_db_err(idx->st, "write tombstone", rc);

	/* history: AKEY + seq, zero each value then delete */
	if ((rc = mdb_cursor_open(w->txn, idx->db_hist, &c)) != 0)
		return cm_store_db_err(idx->st, "erase history", rc);
	memcpy(hk, ak, AKEY_LEN);
	memset(hk + AKEY_LEN, 0, 8);
	for (;;) {
		MDB_val nv;

		key.mv_data = hk;
		key.mv_size = HKEY_LEN;
		rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
		if (rc != 0 || key.mv_size != HKEY_LEN ||
		    memcmp(key.mv_data, ak, AKEY_LEN) != 0)
			break;
		if ((st = scrub_hist(w->scrub, val.mv_data, val.mv_size)) !=
		    CM_OK) {
			mdb_cursor_close(c);
			return st;
		}
		nv.mv_size = val.mv_size;
		nv.mv_data = NULL;
		rc = mdb_cursor_put(c, &key, &nv, MDB_CURRENT | MDB_RESERVE);
		if (rc != 0)
			break;
		memset(nv.mv_data, 0, nv.mv_size);
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return cm_store_db_err(idx->st, "erase history", rc);
	return CM_OK;
}

typedef struct erase_sub {
	cm_apply *w;
	const cm_event *ev;
	int64_t at;
} erase_sub;

static cm_status
erase_sub_fn(void *arg, const unsigned char *key, const char *addr,
    size_t len)
{
	erase_sub *e = arg;
	cm_status st = erase_key(e->w, addr, len, key, e->at, false);

	/* the outbox keeps no address of an erased person: AKEY only */
	if (st == CM_OK)
		st = cm_outbox_forget(e->w, key);
	if (st == CM_OK)
		st = cm_outbox_put(e->w, CM_EV_ERASE, CM_STATE_NONE, e->at,
		    key, NULL, 0, NULL, 0, e->ev);
	/* who asks for the erased addresses scrubs them (scrubq.h) */
	if (st == CM_OK && e->ev->erased != NULL &&
	    (st = cm_scrubq_add(e->w, addr, len)) == CM_OK)
		e->ev->erased(e->ev->erased_arg, addr, len);
	return st;
}

/* ERASE: the address, then its sub-addresses (subaddr.h), each leaving
 * a tombstone of its own, in the same transaction. */
static cm_status
do_erase(cm_apply *w, const cm_event *ev, const unsigned char *ak, int64_t at)
{
	size_t len = strlen(ev->addr);
	erase_sub e = { w, ev, at };
	cm_status st;
	int rc;

	if ((st = erase_sub_fn(&e, ak, ev->addr, len)) != CM_OK)
		return st;
	st = cm_subaddr_each(w->txn, w->idx->db_index, ev->addr, len,
	    ev->subaddr_sep, erase_sub_fn, &e, &rc);
	if (st == CM_EDB && rc != 0)
		return cm_store_db_err(w->idx->st, "erase sub-addresses", rc);
	return st;
}

cm_status
cm_apply_erase_akey(cm_apply *w, const unsigned char *ak, int64_t at,
    char *addr, size_t sz, bool *applied)
{
	MDB_val key = { AKEY_LEN, (void *)(uintptr_t)ak }, val;
	size_t len = 0;
	int rc;

	addr[0] = '\0';
	*applied = false;
	rc = mdb_get(w->txn, w->idx->db_index, &key, &val);
	if (rc == 0 && cm_codec_is_tomb(val.mv_data, val.mv_size) &&
	    cm_codec_tomb_erased(val.mv_data) == at)
		return CM_OK;	/* this erasure, applied already: stale */
	*applied = true;
	if (rc == 0 && !cm_codec_is_tomb(val.mv_data, val.mv_size)) {
		if (cm_codec_entry_decode(val.mv_data, val.mv_size,
		    &w->ent) != CM_OK || w->ent.addr.n >= sz)
			return cm_store_fmt_err(w->idx->st, "entry");
		len = w->ent.addr.n;
		memcpy(addr, w->ent.addr.p, len);
		addr[len] = '\0';
	} else if (rc != 0 && rc != MDB_NOTFOUND) {
		return cm_store_db_err(w->idx->st, "erase lookup", rc);
	}
	if (memcmp(ak, w->last, AKEY_LEN) > 0)
		memcpy(w->last, ak, AKEY_LEN);
	/* no address to scrub when there was no entry: nothing held it */
	return erase_key(w, addr, len, ak, at, true);
}

cm_status
cm_apply_erase_subs(cm_apply *w, const char *base, char sep, int64_t at,
    void (*erased)(void *arg, const char *addr, size_t len), void *arg)
{
	cm_event ev = { 0 };
	erase_sub e = { w, &ev, at };
	cm_status st;
	int rc;

	ev.kind = CM_EV_ERASE;
	ev.erased = erased;
	ev.erased_arg = arg;
	st = cm_subaddr_each(w->txn, w->idx->db_index, base, strlen(base), sep,
	    erase_sub_fn, &e, &rc);
	if (st == CM_EDB && rc != 0)
		return cm_store_db_err(w->idx->st, "erase sub-addresses", rc);
	return st;
}

static cm_status
do_domain(cm_apply *w, const cm_event *ev, const evlen *el,
    const unsigned char *hk, int64_t at, bool *applied)
{
	cm_index *idx = w->idx;
	bool sup = ev->kind == CM_EV_SUPPRESS_DOMAIN, was = false;
	size_t dl = el->addr, sl = el->f[0];
	unsigned char k[CM_CODEC_DOMAIN_MAX + 1];
	MDB_val key = { cm_codec_dkey(ev->addr, dl, k), k }, val;
	cm_codec_domain d;
	int64_t since = 0;
	cm_status st;
	int rc;

	rc = mdb_get(w->txn, idx->db_index, &key, &val);
	if (rc == 0) {
		if (!cm_codec_domain_decode(val.mv_data, val.mv_size, ev->addr,
		    dl, &d))
			return cm_store_fmt_err(idx->st, "domain entry");
		was = d.suppressed;
		since = d.since_us;
		if (!cm_rules_domain_applies(true, was, d.updated_us, sup,
		    at)) {
			*applied = false;
			return CM_OK;
		}
	} else if (rc != MDB_NOTFOUND) {
		return cm_store_db_err(idx->st, "domain lookup", rc);
	}
	d.suppressed = sup;
	d.since_us = sup ? at : since;
	d.updated_us = at;
	d.name = (const unsigned char *)ev->addr;
	d.name_len = dl;
	d.source = (const unsigned char *)ev->source;
	d.source_len = sl;
	if (!cm_codec_reserve(&w->buf, &w->bufcap, cm_codec_domain_size(&d)))
		return CM_ENOMEM;
	cm_codec_domain_encode(&d, w->buf);
	val.mv_data = w->buf;
	val.mv_size = cm_codec_domain_size(&d);
	if ((rc = mdb_put(w->txn, idx->db_index, &key, &val, 0)) != 0)
		return cm_store_db_err(idx->st, "write domain", rc);
	st = hist_put(w, hk, ev->kind, NULL, 0,
	    was ? CM_STATE_WITHDRAWN : CM_STATE_NONE,
	    sup ? CM_STATE_WITHDRAWN : CM_STATE_NONE, at, ev, el);
	if (st == CM_OK)
		st = cm_outbox_put(w, ev->kind, CM_STATE_NONE, at, NULL,
		    ev->addr, dl, NULL, 0, ev);
	*applied = st == CM_OK;
	return st;
}

static void
set_fields(drec *r, const cm_event *ev, const evlen *el, bool keep_null)
{
	const char *s[4] = { ev->source, ev->basis, ev->purpose,
	    ev->evidence };

	for (int i = 0; i < 4; i++)
		if (s[i] != NULL || !keep_null) {
			r->f[i].p = (const unsigned char *)(s[i] ? s[i] : "");
			r->f[i].n = el->f[i];
		}
}

static cm_status
put_entry(cm_apply *w, const unsigned char *ak)
{
	size_t sz = cm_codec_entry_size(&w->ent);
	MDB_val key = { AKEY_LEN, (void *)(uintptr_t)ak }, val = { sz, NULL };
	int rc;

	if (!cm_codec_reserve(&w->buf, &w->bufcap, sz))
		return CM_ENOMEM;
	cm_codec_entry_encode(&w->ent, w->buf);
	val.mv_data = w->buf;
	if ((rc = mdb_cursor_put(w->ic, &key, &val,
	    w->append ? MDB_APPEND : 0)) != 0)
		return cm_store_db_err(w->idx->st, "write entry", rc);
	return CM_OK;
}

/* An event dated after LIMIT (now + the allowed clock skew): refused,
 * with a message naming its time and the limit. */
static cm_status
future_err(cm_index *idx, const cm_event *ev, int64_t at, int64_t limit)
{
	char a[CM_TIME_BUFSZ], l[CM_TIME_BUFSZ];

	cm_store_set_err(idx->st, 0, "%s dated %s: later than %s (now plus "
	    "the allowed clock skew of %lld s)", cm_event_kind_name(ev->kind),
	    cm_time_format(at, a), cm_time_format(limit, l),
	    (long long)((idx->rules.skew_us > 0 ? idx->rules.skew_us :
	    CM_RULES_SKEW_DEFAULT) / 1000000));
	return CM_EFUTURE;
}

cm_status
cm_apply_event(cm_apply *w, const cm_event *ev, const evlen *el,
    const unsigned char *ak, bool *applied)
{
	cm_index *idx = w->idx;
	int64_t at = ev->at_us ? ev->at_us : w->recorded, limit = 0;
	size_t alen;
	MDB_val key = { AKEY_LEN, (void *)(uintptr_t)ak }, val;
	cm_rules_entry *e = &w->ent;
	cm_rules_out *ro = &w->ro;
	bool tomb = false;
	int64_t erased = 0;
	cm_status st;
	int rc;

	cm_rules_opts ropt = idx->rules;

	*applied = false;
	w->append = false;
	if (w->as_stored)
		ropt.skew_us = INT64_MAX;	/* no future check */
	else if (!cm_rules_time_ok(at, w->recorded, &idx->rules, &limit))
		return future_err(idx, ev, at, limit);
	switch (ev->kind) {
	case CM_EV_ERASE:
		*applied = true;
		if (memcmp(ak, w->last, AKEY_LEN) > 0)
			memcpy(w->last, ak, AKEY_LEN);
		return do_erase(w, ev, ak, at);
	case CM_EV_SUPPRESS_DOMAIN:
	case CM_EV_UNSUPPRESS_DOMAIN:
		return do_domain(w, ev, el, ak, at, applied);
	default:
		break;
	}
	alen = el->addr;
	if (w->ic == NULL && (rc = mdb_cursor_open(w->txn, idx->db_index,
	    &w->ic)) != 0)
		return cm_store_db_err(idx->st, "index cursor", rc);
	if (memcmp(ak, w->last, AKEY_LEN) > 0) {
		/* above every stored address key: new, no lookup */
		memcpy(w->last, ak, AKEY_LEN);
		w->append = true;
		rc = MDB_NOTFOUND;
	} else {
		rc = mdb_cursor_get(w->ic, &key, &val, MDB_SET);
	}
	if (rc == 0 && cm_codec_is_tomb(val.mv_data, val.mv_size)) {
		tomb = true;
		erased = cm_codec_tomb_erased(val.mv_data);
		rc = MDB_NOTFOUND;
	}
	if (rc == 0) {
		if (!cm_codec_reserve(&w->old, &w->oldcap, val.mv_size))
			return CM_ENOMEM;
		memcpy(w->old, val.mv_data, val.mv_size);
		if ((st = cm_codec_entry_decode(w->old, val.mv_size, e)) !=
		    CM_OK)
			return st == CM_EFORMAT ?
			    cm_store_fmt_err(idx->st, "consent entry") : st;
		if (e->addr.n != alen || memcmp(e->addr.p, ev->addr, alen))
			return cm_store_fmt_err(idx->st,
			    "address key collision");
		e->erased = false;
		e->erased_us = 0;
	} else if (rc == MDB_NOTFOUND) {
		e->objection_us = e->last_grant_us = 0;
		e->addr.p = (const unsigned char *)ev->addr;
		e->addr.n = alen;
		e->nrec = 0;
		e->erased = tomb;
		e->erased_us = erased;
	} else {
		return cm_store_db_err(idx->st, "lookup", rc);
	}

	if ((st = cm_rules_apply(e, ev, el->f, w->recorded, &ropt, ro))
	    != CM_OK)
		return st;
	if (ro->verdict == CM_RULES_STALE)
		return CM_OK;
	if (ro->verdict == CM_RULES_REFUSED) {
		switch (ro->refusal) {
		case CM_RULES_NO_RECORD:
			cm_store_set_err(idx->st, 0,
			    "%s: no record of type %s for %s",
			    cm_event_kind_name(ev->kind), ev->type, ev->addr);
			return CM_NOTFOUND;
		case CM_RULES_TOO_MANY:
			return CM_ETOOLONG;
		case CM_RULES_FUTURE:
			return future_err(idx, ev, at, limit);
		default:
			return CM_EINVAL;
		}
	}
	/* history strings may point into w->old: write them first */
	for (size_t i = 0; i < ro->nhist; i++) {
		const cm_rules_hist *h = &ro->hist[i];

		if ((st = hist_put(w, ak, h->kind, h->type.p, h->type.n,
		    h->old_state, h->new_state, ro->at, ev, el)) != CM_OK)
			return st;
	}
	if ((st = put_entry(w, ak)) != CM_OK)
		return st;
	if ((st = cm_outbox_put(w, ev->kind, ev->state, ro->at, ak, ev->addr,
	    alen, ev->type, el->type, ev)) != CM_OK)
		return st;
	*applied = true;
	return CM_OK;
}

static bool
sel_match(const cm_selection *s, const drec *r)
{
	if (s->type != NULL && cm_codec_str_cmp(r->type.p, r->type.n,
	    (const unsigned char *)s->type, strlen(s->type)) != 0)
		return false;
	if (s->source != NULL && cm_codec_str_cmp(r->f[0].p, r->f[0].n,
	    (const unsigned char *)s->source, strlen(s->source)) != 0)
		return false;
	if (s->state != CM_STATE_NONE && r->state != s->state)
		return false;
	if (s->granted_before_us != 0 && !(r->granted != 0 &&
	    r->granted < s->granted_before_us))
		return false;
	if (s->granted_after_us != 0 && r->granted < s->granted_after_us)
		return false;
	return true;
}

cm_status
cm_apply_bulk(cm_apply *w, const cm_selection *sel, const cm_event *set,
    bool dry, size_t *count)
{
	cm_index *idx = w->idx;
	int64_t at = set->at_us ? set->at_us : w->recorded, limit;
	MDB_val key, val;
	MDB_cursor *c;
	cm_status st = CM_OK;
	evlen el;
	int rc;

	*count = 0;
	if (!cm_rules_time_ok(at, w->recorded, &idx->rules, &limit))
		return future_err(idx, set, at, limit);
	cm_codec_ev_lengths(set, &el);
	if ((rc = mdb_cursor_open(w->txn, idx->db_index, &c)) != 0)
		return cm_store_db_err(idx->st, "cursor", rc);
	for (rc = cm_codec_first_addr(c, &key, &val); rc == 0;
	    rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		unsigned char ak[AKEY_LEN];
		size_t hits = 0;

		if (cm_codec_is_tomb(val.mv_data, val.mv_size))
			continue;
		if (key.mv_size != AKEY_LEN) {
			st = cm_store_fmt_err(idx->st, "consent key");
			break;
		}
		memcpy(ak, key.mv_data, AKEY_LEN);
		if (!cm_codec_reserve(&w->old, &w->oldcap, val.mv_size)) {
			st = CM_ENOMEM;
			break;
		}
		memcpy(w->old, val.mv_data, val.mv_size);
		if ((st = cm_codec_entry_decode(w->old, val.mv_size,
		    &w->ent)) != CM_OK) {
			if (st == CM_EFORMAT)
				(void)cm_store_fmt_err(idx->st,
				    "consent entry");
			break;
		}
		for (size_t i = 0; i < w->ent.nrec; i++) {
			drec *r = &w->ent.recs[i];

			if (!sel_match(sel, r))
				continue;
			hits++;
			if (dry)
				continue;
			set_fields(r, set, &el, true);
			if ((st = hist_put(w, ak, CM_EV_UPDATE, r->type.p,
			    r->type.n, r->state, r->state, at, set, &el)) !=
			    CM_OK ||
			    (st = cm_outbox_put(w, CM_EV_UPDATE,
			    CM_STATE_NONE, at, ak,
			    (const char *)w->ent.addr.p, w->ent.addr.n,
			    (const char *)r->type.p, r->type.n, set)) !=
			    CM_OK)
				break;
		}
		if (st != CM_OK)
			break;
		*count += hits;
		if (hits > 0 && !dry) {
			size_t sz = cm_codec_entry_size(&w->ent);

			if (!cm_codec_reserve(&w->buf, &w->bufcap, sz)) {
				st = CM_ENOMEM;
				break;
			}
			cm_codec_entry_encode(&w->ent, w->buf);
			key.mv_data = ak;
			key.mv_size = AKEY_LEN;
			val.mv_data = w->buf;
			val.mv_size = sz;
			if ((rc = mdb_cursor_put(c, &key, &val, MDB_CURRENT))
			    != 0) {
				st = cm_store_db_err(idx->st, "bulk update",
				    rc);
				break;
			}
		}
	}
	if (st == CM_OK && rc != 0 && rc != MDB_NOTFOUND)
		st = cm_store_db_err(idx->st, "iterate", rc);
	mdb_cursor_close(c);
	return st;
}


cm_status
cm_apply_begin(cm_apply *w, cm_index *idx, MDB_txn *txn, cm_scrub *sc)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	w->idx = idx;
	w->txn = txn;
	w->recorded = cm_time_now();
	w->applied = w->stale = 0;
	memset(w->last, 0, sizeof(w->last));
	rc = mdb_cursor_open(txn, idx->db_index, &c);
	if (rc == 0) {
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
		if (rc == 0 && cm_codec_is_akey(k.mv_data, k.mv_size))
			memcpy(w->last, k.mv_data, AKEY_LEN);
		mdb_cursor_close(c);
	}
	/* any failure: no append mode, LAST all ones */
	if (rc != 0 && rc != MDB_NOTFOUND)
		memset(w->last, 0xff, sizeof(w->last));
	w->seq_dirty = false;
	w->as_stored = false;	/* the future check on, unless asked */
	w->ic = w->hc = NULL;
	w->scrub = sc;
	if (sc != NULL)
		cm_scrub_free(sc);
	k.mv_size = 3;
	k.mv_data = "seq";
	rc = mdb_get(txn, idx->db_meta, &k, &v);
	if (rc == 0 && v.mv_size == 8) {
		w->seq = cm_codec_get64(v.mv_data);
		return cm_outbox_txn_begin(w);
	}
	return rc == 0 ? cm_store_fmt_err(idx->st, "seq") :
	    cm_store_db_err(idx->st, "read seq", rc);
}

cm_status
cm_apply_finish(cm_apply *w)
{
	MDB_val k = { 3, "seq" }, v;
	unsigned char b[8];
	cm_status st;
	int rc;

	if ((st = cm_outbox_txn_finish(w)) != CM_OK)
		return st;
	if (!w->seq_dirty)
		return CM_OK;
	cm_codec_put64(b, w->seq);
	v.mv_data = b;
	v.mv_size = 8;
	if ((rc = mdb_put(w->txn, w->idx->db_meta, &k, &v, 0)) != 0)
		return cm_store_db_err(w->idx->st, "write seq", rc);
	return CM_OK;
}

typedef struct write_arg {
	cm_apply *w;
	cm_scrub *sc;
	cm_apply_fn fn;
	void *arg;
} write_arg;

static cm_status
write_fn(MDB_txn *txn, void *arg)
{
	write_arg *a = arg;
	cm_status st;

	if ((st = cm_apply_begin(a->w, a->w->idx, txn, a->sc)) != CM_OK ||
	    (st = a->fn(a->w, a->arg)) != CM_OK)
		return st;
	return cm_apply_finish(a->w);
}

cm_status
cm_apply_write(cm_index *idx, cm_apply *w, cm_apply_fn fn, void *arg,
    bool dry)
{
	cm_scrub sc = { 0 };
	write_arg a = { w, &sc, fn, arg };
	cm_status st;

	if (idx->readonly) {
		cm_store_set_err(idx->st, 0, "index opened read-only");
		return CM_EPERM;
	}
	w->idx = idx;
	cm_store_writer_lock(idx->st);
	st = cm_store_write(idx->st, write_fn, &a, dry);
	w->txn = NULL;
	if (st == CM_OK && !dry && sc.n > 0)
		(void)cm_scrub_run(idx->st, &sc);
	cm_scrub_free(&sc);
	cm_store_writer_unlock(idx->st);
	return st;
}
