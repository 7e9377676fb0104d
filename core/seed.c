/*
 * seed.c - queueing what an index holds when it is first attached to
 * the shared store (seed.h).
 */
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "codec.h"
#include "index_impl.h"
#include "outbox.h"
#include "outbox_int.h"
#include "seed.h"
#include "store.h"

typedef struct seed_arg {
	const char *node;
	size_t queued;
	unsigned char *val;	/* copy of the entry being sent */
	size_t valcap;
	char *str;		/* its strings, NUL-terminated */
	size_t strcap;
} seed_arg;

/* Queue one event: KIND (STATE), AT, AK (NULL: none), ADDR (ALEN), TYPE
 * of record R (NULL: none) with R's strings. */
static cm_status
put(cm_apply *w, seed_arg *a, cm_event_kind kind, cm_state state,
    int64_t at, const unsigned char *ak, const char *addr, size_t alen,
    const cm_rules_rec *r)
{
	cm_event f = { 0 };
	char *p;
	size_t need = 4;
	cm_status st;

	f.actor = "seed";
	if (r != NULL) {
		for (int i = 0; i < 4; i++)
			need += r->f[i].n;
		if (need + r->type.n + 1 > a->strcap) {
			char *ns = realloc(a->str, need + r->type.n + 1);

			if (ns == NULL)
				return CM_ENOMEM;
			a->str = ns;
			a->strcap = need + r->type.n + 1;
		}
		p = a->str;
		{
			const char **dst[4] = { &f.source, &f.basis,
			    &f.purpose, &f.evidence };

			for (int i = 0; i < 4; i++) {
				if (r->f[i].n > 0)
					memcpy(p, r->f[i].p, r->f[i].n);
				p[r->f[i].n] = '\0';
				*dst[i] = p;
				p += r->f[i].n + 1;
			}
		}
	}
	st = cm_outbox_put(w, kind, state, at, ak, addr, alen,
	    r != NULL ? (const char *)r->type.p : NULL, r != NULL ? r->type.n :
	    0, &f);
	if (st == CM_OK)
		a->queued++;
	return st;
}

/* The events of the entry V (N octets) stored under AKEY AK. */
static cm_status
seed_entry(cm_apply *w, seed_arg *a, const unsigned char *ak,
    const unsigned char *v, size_t n)
{
	cm_rules_entry *e = &w->ent;
	const char *addr;
	size_t alen;
	cm_status st;

	if (cm_codec_is_tomb(v, n))
		return put(w, a, CM_EV_ERASE, CM_STATE_NONE,
		    cm_codec_tomb_erased(v), ak, NULL, 0, NULL);
	if (n > a->valcap) {
		unsigned char *nv = realloc(a->val, n);

		if (nv == NULL)
			return CM_ENOMEM;
		a->val = nv;
		a->valcap = n;
	}
	memcpy(a->val, v, n);
	if ((st = cm_codec_entry_decode(a->val, n, e)) != CM_OK)
		return st == CM_EFORMAT ? cm_store_fmt_err(w->idx->st,
		    "consent entry") : st;
	addr = (const char *)e->addr.p;
	alen = e->addr.n;
	for (size_t i = 0; i < e->nrec; i++) {
		const cm_rules_rec *r = &e->recs[i];

		if (r->state == CM_STATE_WITHDRAWN) {
			if (r->granted != 0 && (st = put(w, a, CM_EV_GRANT,
			    CM_STATE_GRANTED, r->granted, ak, addr, alen, r)) !=
			    CM_OK)
				return st;
			st = put(w, a, CM_EV_WITHDRAW, CM_STATE_NONE,
			    r->withdrawn != 0 ? r->withdrawn : r->updated, ak,
			    addr, alen, r);
		} else {
			st = put(w, a, CM_EV_GRANT, r->state, r->updated, ak,
			    addr, alen, r);
		}
		if (st != CM_OK)
			return st;
	}
	if (e->objection_us != 0)
		return put(w, a, CM_EV_OBJECT, CM_STATE_NONE, e->objection_us,
		    ak, addr, alen, NULL);
	return CM_OK;
}

static cm_status
seed_domain(cm_apply *w, seed_arg *a, const unsigned char *v, size_t n)
{
	cm_codec_domain d;
	char name[CM_CODEC_DOMAIN_MAX + 1];
	cm_rules_rec r;

	if (!cm_codec_domain_decode(v, n, NULL, 0, &d))
		return cm_store_fmt_err(w->idx->st, "domain entry");
	if (!d.suppressed)
		return CM_OK;
	memcpy(name, d.name, d.name_len);
	name[d.name_len] = '\0';
	memset(&r, 0, sizeof(r));
	r.f[0].p = d.source;
	r.f[0].n = d.source_len;
	return put(w, a, CM_EV_SUPPRESS_DOMAIN, CM_STATE_NONE, d.updated_us,
	    NULL, name, d.name_len, &r);
}

static cm_status
seed_fn(cm_apply *w, void *arg)
{
	seed_arg *a = arg;
	MDB_val k = { 4, "node" }, v;
	MDB_cursor *c;
	MDB_dbi d;
	cm_status st = CM_OK;
	int rc;

	a->queued = 0;
	if (w->upnode[0] != '\0')
		return CM_OK;		/* attached already */
	if (cm_outbox_dbi(w->txn, CM_UPSTATE_DB, true, &d, &rc) != CM_OK)
		return cm_store_db_err(w->idx->st, "open upstate", rc);
	v.mv_size = strlen(a->node);
	v.mv_data = (void *)(uintptr_t)a->node;
	if ((rc = mdb_put(w->txn, d, &k, &v, 0)) != 0)
		return cm_store_db_err(w->idx->st, "write node", rc);
	/* from here on this transaction writes the outbox */
	if ((st = cm_outbox_txn_begin(w)) != CM_OK)
		return st;
	if ((rc = mdb_cursor_open(w->txn, w->idx->db_index, &c)) != 0)
		return cm_store_db_err(w->idx->st, "cursor", rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 &&
	    st == CM_OK; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const unsigned char *kb = k.mv_data;

		if (cm_codec_is_akey(kb, k.mv_size))
			st = seed_entry(w, a, kb, v.mv_data, v.mv_size);
		else if (k.mv_size >= 2 && kb[0] == 0)
			st = seed_domain(w, a, v.mv_data, v.mv_size);
	}
	mdb_cursor_close(c);
	if (st == CM_OK && rc != 0 && rc != MDB_NOTFOUND)
		st = cm_store_db_err(w->idx->st, "seed", rc);
	return st;
}

cm_status
cm_seed_attach(cm_index *idx, const char *node, size_t *queued)
{
	seed_arg a = { 0 };
	cm_apply w = { 0 };
	cm_status st;

	if (queued != NULL)
		*queued = 0;
	if (idx == NULL || !cm_outbox_node_valid(node))
		return CM_EINVAL;
	a.node = node;
	st = cm_apply_write(idx, &w, seed_fn, &a, false);
	cm_apply_free(&w);
	free(a.val);
	free(a.str);
	if (st == CM_OK && queued != NULL)
		*queued = a.queued;
	return st;
}
