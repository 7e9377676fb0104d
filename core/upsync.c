/*
 * upsync.c - the events of the shared store applied to the local index,
 * and the sync state of the node (upsync.h).
 *
 * "upstate" keys: "node" (outbox.c), "pos" and "pos_us" (8 octets
 * little-endian each, as in codec.c), "ok_us", "err_us" (8 octets), "err"
 * (text); "oseq", the next outbox key (outbox.c).
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "apply.h"
#include "codec.h"
#include "index_impl.h"
#include "outbox_int.h"
#include "scrubq_int.h"
#include "store.h"
#include "timefmt.h"
#include "upsync.h"

static int
get_i64(MDB_txn *txn, MDB_dbi d, const char *key, int64_t *out)
{
	MDB_val k = { strlen(key), (void *)(uintptr_t)key }, v;
	int rc = mdb_get(txn, d, &k, &v);

	*out = 0;
	if (rc == 0 && v.mv_size == 8)
		*out = cm_codec_geti64(v.mv_data);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
put_i64(MDB_txn *txn, MDB_dbi d, const char *key, int64_t x)
{
	unsigned char b[8];
	MDB_val k = { strlen(key), (void *)(uintptr_t)key }, v = { 8, b };

	cm_codec_puti64(b, x);
	return mdb_put(txn, d, &k, &v, 0);
}

static int
get_str(MDB_txn *txn, MDB_dbi d, const char *key, char *buf, size_t sz)
{
	MDB_val k = { strlen(key), (void *)(uintptr_t)key }, v;
	int rc = mdb_get(txn, d, &k, &v);
	size_t n;

	buf[0] = '\0';
	if (rc != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	n = v.mv_size < sz ? v.mv_size : sz - 1;
	memcpy(buf, v.mv_data, n);
	buf[n] = '\0';
	return 0;
}

cm_status
cm_upsync_state_get(cm_index *idx, cm_upsync_state *out)
{
	cm_rtxn *t;
	MDB_dbi d;
	cm_status st;
	int rc;

	if (idx == NULL || out == NULL)
		return CM_EINVAL;
	memset(out, 0, sizeof(*out));
	if ((st = cm_store_rbegin(idx->st, &t)) != CM_OK)
		return st;
	st = cm_outbox_dbi(t->txn, CM_UPSTATE_DB, false, &d, &rc);
	if (st == CM_OK) {
		if ((rc = get_str(t->txn, d, "node", out->node,
		    sizeof(out->node))) != 0 ||
		    (rc = get_i64(t->txn, d, "pos", &out->pos)) != 0 ||
		    (rc = get_i64(t->txn, d, "pos_us", &out->pos_stored_us))
		    != 0 ||
		    (rc = get_i64(t->txn, d, "ok_us", &out->ok_us)) != 0 ||
		    (rc = get_i64(t->txn, d, "err_us", &out->err_us)) != 0 ||
		    (rc = get_str(t->txn, d, "err", out->err,
		    sizeof(out->err))) != 0)
			st = cm_store_db_err(idx->st, "read upstate", rc);
	} else if (st == CM_NOTFOUND) {
		st = CM_OK;
	} else {
		st = cm_store_db_err(idx->st, "open upstate", rc);
	}
	cm_store_rend(idx->st, t);
	return st;
}

typedef struct note_arg {
	cm_index *idx;
	const char *err;
} note_arg;

static cm_status
note_fn(MDB_txn *txn, void *arg)
{
	note_arg *a = arg;
	MDB_val k = { 3, "err" }, v;
	MDB_dbi d;
	int rc;

	if (cm_outbox_dbi(txn, CM_UPSTATE_DB, true, &d, &rc) != CM_OK)
		return cm_store_db_err(a->idx->st, "open upstate", rc);
	if (a->err == NULL) {
		if ((rc = put_i64(txn, d, "ok_us", cm_time_now())) == 0 &&
		    (rc = put_i64(txn, d, "err_us", 0)) == 0) {
			rc = mdb_del(txn, d, &k, NULL);
			if (rc == MDB_NOTFOUND)
				rc = 0;
		}
	} else {
		v.mv_size = strnlen(a->err, 255);
		v.mv_data = (void *)(uintptr_t)a->err;
		if ((rc = put_i64(txn, d, "err_us", cm_time_now())) == 0)
			rc = mdb_put(txn, d, &k, &v, 0);
	}
	return rc == 0 ? CM_OK : cm_store_db_err(a->idx->st, "write upstate",
	    rc);
}

cm_status
cm_upsync_note(cm_index *idx, const char *err)
{
	note_arg a = { idx, err };
	cm_status st;

	if (idx == NULL)
		return CM_EINVAL;
	if (idx->readonly)
		return CM_EPERM;
	cm_store_writer_lock(idx->st);
	st = cm_store_write(idx->st, note_fn, &a, false);
	cm_store_writer_unlock(idx->st);
	return st;
}

/* ---------------------------------------------------------------- */
/* applying */

typedef struct apply_arg {
	const cm_upevent *evs;
	size_t n;
	unsigned flags;
	char sep;
	char node[CM_UPEVENT_NODE_MAX + 1];	/* attached as ("": not) */
	int64_t pos, pos_us;
	cm_upsync_erased_cb erased;
	void *earg;
	cm_upsync_result res;
} apply_arg;

static bool
opt_out(cm_event_kind k)
{
	return k == CM_EV_WITHDRAW || k == CM_EV_OBJECT || k == CM_EV_ERASE ||
	    k == CM_EV_SUPPRESS_DOMAIN;
}

static void
sub_erased(void *arg, const char *addr, size_t len)
{
	apply_arg *a = arg;

	(void)len;
	if (a->erased != NULL)
		a->erased(a->earg, addr);
}

/* An erasure from the shared store removed ADDR, an entry this node
 * held: its sub-addresses too, and an ERASE of each for the others. */
static cm_status
erase_subs(cm_apply *w, apply_arg *a, const char *addr, int64_t at)
{
	cm_status st;

	if (a->sep == 0)
		return CM_OK;
	memcpy(w->upnode, a->node, sizeof(w->upnode));
	st = cm_apply_erase_subs(w, addr, a->sep, at, a->erased != NULL ?
	    sub_erased : NULL, a);
	w->upnode[0] = '\0';
	return st;
}

/* Apply one event E of the shared store in W's transaction. */
static cm_status
apply_one(cm_apply *w, apply_arg *a, const cm_upevent *e)
{
	cm_event ev = e->ev;
	cm_codec_evlen el;
	unsigned char k[CM_CODEC_AKEY_LEN];
	char addr[CM_ADDR_KEY_MAX + 64];
	bool applied = false;
	cm_status st;
	int64_t limit;

	ev.subaddr_sep = 0;
	ev.erased = NULL;
	if (ev.at_us <= 0)
		ev.at_us = w->recorded;
	if (!(a->flags & CM_UPSYNC_AS_STORED) && !cm_rules_time_ok(ev.at_us, w->recorded, &w->idx->rules,
	    &limit)) {
		if (!opt_out(ev.kind)) {
			a->res.refused++;
			return CM_OK;
		}
		ev.at_us = w->recorded;
	}
	if (ev.kind == CM_EV_ERASE) {
		st = cm_apply_erase_akey(w, e->akey, ev.at_us, addr,
		    sizeof(addr), &applied);
		if (st == CM_OK && !applied)
			a->res.stale++;
		if (st == CM_OK && applied) {
			a->res.applied++;
			/* a pending scrub, in this transaction */
			if (addr[0] != '\0' && a->erased != NULL &&
			    (st = cm_scrubq_add(w, addr, strlen(addr))) ==
			    CM_OK)
				a->erased(a->earg, addr);
			if (st == CM_OK && addr[0] != '\0')
				st = erase_subs(w, a, addr, ev.at_us);
		}
		return st;
	}
	if (ev.addr == NULL) {
		a->res.refused++;
		return CM_OK;
	}
	cm_codec_ev_lengths(&ev, &el);
	if (cm_codec_validate(&ev, &el) != CM_OK) {
		a->res.refused++;
		return CM_OK;
	}
	cm_codec_subject_key(w->idx->sipkey, ev.addr, el.addr, k);
	st = cm_apply_event(w, &ev, &el, k, &applied);
	switch (st) {
	case CM_OK:
		if (applied)
			a->res.applied++;
		else
			a->res.stale++;
		return CM_OK;
	case CM_NOTFOUND:
	case CM_EFUTURE:
	case CM_EINVAL:
	case CM_ETOOLONG:
		a->res.refused++;
		return CM_OK;
	default:
		return st;
	}
}

static cm_status
apply_fn(cm_apply *w, void *arg)
{
	apply_arg *a = arg;
	MDB_dbi d;
	int64_t stored;
	cm_status st;
	int rc;

	/* what the shared store sends is not sent back (but see
	 * erase_subs) */
	memcpy(a->node, w->upnode, sizeof(a->node));
	w->upnode[0] = '\0';
	w->as_stored = (a->flags & CM_UPSYNC_AS_STORED) != 0;
	memset(&a->res, 0, sizeof(a->res));
	if (cm_outbox_dbi(w->txn, CM_UPSTATE_DB, true, &d, &rc) != CM_OK)
		return cm_store_db_err(w->idx->st, "open upstate", rc);
	if ((rc = get_i64(w->txn, d, "pos", &stored)) != 0)
		return cm_store_db_err(w->idx->st, "read position", rc);
	/* every event of the log in log order, this node's own too: the
	 * log's order decides (an erasure wipes what came before it), and
	 * an own event already applied is stale under the rules */
	for (size_t i = 0; i < a->n; i++) {
		const cm_upevent *e = &a->evs[i];

		if (e->id != 0 && e->id <= stored) {
			a->res.skipped++;
			continue;
		}
		if ((st = apply_one(w, a, e)) != CM_OK)
			return st;
	}
	if (a->pos > stored && ((rc = put_i64(w->txn, d, "pos", a->pos)) !=
	    0 || (rc = put_i64(w->txn, d, "pos_us", a->pos_us)) != 0))
		return cm_store_db_err(w->idx->st, "write position", rc);
	/* the end of the transaction writes what erase_subs queued */
	memcpy(w->upnode, a->node, sizeof(w->upnode));
	return CM_OK;
}

cm_status
cm_upsync_apply(cm_index *idx, const cm_upevent *evs, size_t n,
    unsigned flags, char subaddr_sep, int64_t pos, int64_t pos_us,
    cm_upsync_erased_cb erased, void *arg, cm_upsync_result *res)
{
	apply_arg a = { evs, n, flags, subaddr_sep, "", pos, pos_us, erased,
	    arg, { 0 } };
	cm_apply w = { 0 };
	cm_status st;

	if (idx == NULL || (evs == NULL && n > 0))
		return CM_EINVAL;
	st = cm_apply_write(idx, &w, apply_fn, &a, false);
	cm_apply_free(&w);
	if (res != NULL)
		*res = st == CM_OK ? a.res : (cm_upsync_result){ 0 };
	return st;
}
