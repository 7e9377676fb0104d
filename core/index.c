/*
 * index.c - the consent index on LMDB: the public calls of index.h,
 * gluing the modules that do the work:
 *
 *   store.c        the LMDB environment: open, map growth, recovery,
 *                  read-transaction pool, write retry loop (store.h)
 *   codec.c        the on-disk format and every encode/decode (codec.h)
 *   rules.c        the consent rules, pure (rules.h)
 *   apply.c        events applied in a write transaction (apply.h)
 *   batch.c        batches of events, sorted by key (batch.h)
 *   import.c       imports: batches in one transaction
 *   index_read.c   entries, history, domains, statistics
 *   dcache.c       the suppressed domains of a read snapshot (dcache.h)
 *   scrub.c        zeroing erased data in data.mdb (scrub.h)
 *   erasekey.c     DIR/erasure.key (erasekey.h, over keyfile.h)
 *
 * This file: open and close, the decision lookups (cm_index_rlookup,
 * cm_index_rdomain), single events, batches, the bulk update, errors,
 * and the raw hooks of index_int.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apply.h"
#include "batch.h"
#include "codec.h"
#include "hmac.h"
#include "index.h"
#include "index_impl.h"
#include "index_int.h"
#include "erasekey.h"
#include "store.h"
#include "timefmt.h"

#define AKEY_LEN CM_CODEC_AKEY_LEN

_Static_assert(AKEY_LEN == CM_SUBJECT_KEY_LEN, "subject key length");
_Static_assert((int)CM_RAW_META == (int)CM_STORE_META &&
    (int)CM_RAW_INDEX == (int)CM_STORE_INDEX &&
    (int)CM_RAW_HISTORY == (int)CM_STORE_HISTORY, "raw databases");
_Static_assert(CM_INDEX_META_FORMAT == CM_CODEC_META_FORMAT, "meta format");

/* ---------------------------------------------------------------- */
/* errors */

void
cm_index_error_get(const cm_index *idx, cm_index_error *out)
{
	const char *t = cm_store_last_error(idx != NULL ? idx->st : NULL,
	    &out->lmdb_rc);

	snprintf(out->text, sizeof(out->text), "%s",
	    idx != NULL ? t : "no index");
}

const char *
cm_index_last_error(cm_index *idx)
{
	if (idx == NULL)
		return "no index";
	return cm_store_last_error(idx->st, NULL);
}

/* ---------------------------------------------------------------- */
/* open / close */

typedef struct open_arg {
	cm_index *idx;
	const unsigned char *kc;	/* key check: 8 octets */
} open_arg;

/* Check (or, with INIT, write) "meta": format version, next history
 * sequence number, key check. */
static cm_status
meta_check(cm_store *s, MDB_txn *txn, bool init, void *arg)
{
	open_arg *a = arg;
	cm_index *idx = a->idx;
	MDB_dbi meta = cm_store_dbi(s, CM_STORE_META);
	MDB_val k = { 6, "format" }, v;
	unsigned char buf[8];
	unsigned fmt;
	int rc;

	rc = mdb_get(txn, meta, &k, &v);
	if (rc == MDB_NOTFOUND && init) {
		idx->meta_format = CM_CODEC_META_FORMAT;
		memset(buf, 0, 4);
		buf[0] = CM_CODEC_META_FORMAT;
		v = (MDB_val){ 4, buf };
		if ((rc = mdb_put(txn, meta, &k, &v, 0)) != 0)
			return cm_store_db_err(s, "write format", rc);
		k = (MDB_val){ 3, "seq" };
		cm_codec_put64(buf, 1);
		v = (MDB_val){ 8, buf };
		if ((rc = mdb_put(txn, meta, &k, &v, 0)) != 0)
			return cm_store_db_err(s, "write seq", rc);
		k = (MDB_val){ 8, "keycheck" };
		v = (MDB_val){ 8, (void *)(uintptr_t)a->kc };
		if ((rc = mdb_put(txn, meta, &k, &v, 0)) != 0)
			return cm_store_db_err(s, "write keycheck", rc);
		return CM_OK;
	}
	if (rc == MDB_NOTFOUND) {
		cm_store_set_err(s, 0,
		    "not a consent index (no format version)");
		return CM_EFORMAT;
	}
	if (rc != 0)
		return cm_store_db_err(s, "read format", rc);
	fmt = cm_codec_meta_format(v.mv_data, v.mv_size);
	if (fmt == 1 && !idx->upgrade) {
		cm_store_set_err(s, 0, "%s", cm_strerror(CM_EUPGRADE));
		return CM_EUPGRADE;
	}
	if (fmt != CM_CODEC_META_FORMAT && fmt != 1) {
		cm_store_set_err(s, 0, "unsupported index format version");
		return CM_EFORMAT;
	}
	idx->meta_format = fmt;
	k = (MDB_val){ 8, "keycheck" };
	rc = mdb_get(txn, meta, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return cm_store_db_err(s, "read keycheck", rc);
	if (rc == MDB_NOTFOUND || v.mv_size != 8 ||
	    memcmp(v.mv_data, a->kc, 8) != 0) {
		cm_store_set_err(s, 0,
		    "erasure.key does not belong to this index");
		return CM_EFORMAT;
	}
	return CM_OK;
}

/* Derive the address key and the key check KC (8 octets) from the
 * erasure key KEY. */
static cm_status
derive_keys(cm_index *idx, const unsigned char *key, unsigned char *kc)
{
	static const char sipctx[] = "consent-milter address key v1";
	static const char kcctx[] = "consent-milter key check";
	unsigned char d[CM_HMAC_OUT_LEN];
	cm_hmac *h;
	cm_status st;

	if ((st = cm_hmac_new(key, CM_ERASEKEY_LEN, &h)) != CM_OK)
		return st;
	if ((st = cm_hmac_sha256(h, sipctx, sizeof(sipctx) - 1, d)) ==
	    CM_OK) {
		memcpy(idx->sipkey, d, sizeof(idx->sipkey));
		st = cm_hmac_sha256(h, kcctx, sizeof(kcctx) - 1, d);
		memcpy(kc, d, 8);
	}
	cm_hmac_free(h);
	memset(d, 0, sizeof(d));
	return st;
}

cm_status
cm_index_open(const char *dir, const cm_index_opts *opts, cm_index **out)
{
	cm_index_opts o = { 0 };
	cm_store_opts so;
	unsigned char key[CM_ERASEKEY_LEN], kc[8];
	char err[256];
	cm_index *idx;
	cm_status st;
	bool exists;

	if (dir == NULL || out == NULL)
		return CM_EINVAL;
	*out = NULL;
	if (opts != NULL)
		o = *opts;
	if (o.readonly)
		o.create = false;
	so = (cm_store_opts){ o.map_size ? o.map_size : 64u << 20,
	    o.max_readers ? o.max_readers : 510, o.readonly, o.create,
	    o.bulk, o.no_wait };
	if ((idx = calloc(1, sizeof(*idx))) == NULL)
		return CM_ENOMEM;
	if ((st = cm_store_new(dir, &so, &exists, &idx->st)) != CM_OK) {
		free(idx);
		return st;
	}
	idx->readonly = o.readonly;
	idx->rules.skew_us = o.clock_skew_us;
	idx->upgrade = o.upgrade && !o.readonly;
	err[0] = '\0';
	st = cm_erasekey_load(dir, o.create && !exists, key, err, sizeof(err));
	if (st != CM_OK && err[0] != '\0')
		cm_store_set_err(idx->st, 0, "%s", err);
	if (st == CM_OK)
		st = derive_keys(idx, key, kc);
	memset(key, 0, sizeof(key));
	if (st == CM_OK)
		st = cm_store_open(idx->st, o.create && !exists, meta_check,
		    &(open_arg){ idx, kc });
	if (st != CM_OK) {
		cm_index_close(idx);
		return st;
	}
	idx->db_meta = cm_store_dbi(idx->st, CM_STORE_META);
	idx->db_index = cm_store_dbi(idx->st, CM_STORE_INDEX);
	idx->db_hist = cm_store_dbi(idx->st, CM_STORE_HISTORY);
	*out = idx;
	return CM_OK;
}

cm_status
cm_index_check_file(cm_index *idx)
{
	struct stat open_sb, path_sb;
	char *p;
	int fd, r, e;

	if (idx == NULL || cm_store_env(idx->st) == NULL)
		return CM_EINVAL;
	if (mdb_env_get_fd(cm_store_env(idx->st), &fd) != 0 ||
	    fstat(fd, &open_sb) != 0)
		return CM_EIO;
	if (asprintf(&p, "%s/data.mdb", cm_store_dir(idx->st)) < 0)
		return CM_ENOMEM;
	r = stat(p, &path_sb);
	e = errno;
	free(p);
	if (r != 0)
		return e == ENOTDIR ? CM_NOTFOUND : cm_status_errno(e);
	return open_sb.st_dev == path_sb.st_dev &&
	    open_sb.st_ino == path_sb.st_ino ? CM_OK : CM_ESTALE;
}

void
cm_index_close(cm_index *idx)
{
	if (idx == NULL)
		return;
	cm_store_close(idx->st);
	memset(idx->sipkey, 0, sizeof(idx->sipkey));
	free(idx);
}

/* ---------------------------------------------------------------- */
/* decisions: allocation-free lookups in a pooled read transaction */

cm_status
cm_index_rbegin(cm_index *idx, cm_rtxn **out)
{
	return cm_store_rbegin(idx->st, out);
}

void
cm_index_rend(cm_index *idx, cm_rtxn *t)
{
	cm_store_rend(idx->st, t);
}

cm_status
cm_index_rlookup(cm_index *idx, cm_rtxn *t, const char *addr, size_t len,
    const char *type, size_t tlen, cm_addr_view *out)
{
	unsigned char k[AKEY_LEN];
	MDB_val key = { AKEY_LEN, k }, val;
	const unsigned char *v;
	size_t n, nrec, off;
	cm_rules_rec r;
	int rc;

	out->found = out->objection = out->has_rec = out->erased = false;
	out->objection_us = 0;
	cm_codec_akey(idx->sipkey, addr, len, k);
	rc = mdb_get(t->txn, idx->db_index, &key, &val);
	if (rc == MDB_NOTFOUND)
		return CM_OK;
	if (rc != 0)
		return cm_store_db_err(idx->st, "lookup", rc);
	v = val.mv_data;
	n = val.mv_size;
	if (cm_codec_is_tomb(v, n)) {
		out->erased = true;
		return CM_OK;
	}
	if (!cm_codec_entry_header(v, n, &nrec, &off))
		return cm_store_fmt_err(idx->st, "entry header");
	if (cm_codec_get16(v + 2) != len ||
	    memcmp(v + CM_CODEC_ENTRY_HDR, addr, len) != 0)
		return cm_store_fmt_err(idx->st, "address key collision");
	out->found = true;
	out->objection_us = cm_codec_geti64(v + 8);
	out->objection = cm_codec_objection(out->objection_us,
	    cm_codec_geti64(v + 16));
	for (size_t i = 0; i < nrec; i++) {
		int c;

		if (!cm_codec_rec_decode(v, n, off, &r, &off))
			return cm_store_fmt_err(idx->st, "consent record");
		c = cm_codec_str_cmp(r.type.p, r.type.n,
		    (const unsigned char *)type, tlen);
		if (c == 0) {
			out->has_rec = true;
			out->rec.state = r.state;
			out->rec.granted_us = r.granted;
			out->rec.confirmed_us = r.confirmed;
			out->rec.withdrawn_us = r.withdrawn;
			out->rec.updated_us = r.updated;
			return CM_OK;
		}
		if (c > 0)
			break;
	}
	return CM_OK;
}

cm_status
cm_index_rdomain(cm_index *idx, cm_rtxn *t, const char *domain, size_t len,
    bool *out)
{
	unsigned char k[CM_CODEC_DOMAIN_MAX + 1];
	MDB_val key = { 0, k }, val;
	cm_codec_domain d;
	int rc;

	*out = false;
	if (len == 0 || len > CM_CODEC_DOMAIN_MAX)
		return CM_OK;
	if (cm_dcache_lookup(&t->dc, t->txn, idx->db_index, domain, len, out))
		return CM_OK;
	key.mv_size = cm_codec_dkey(domain, len, k);
	rc = mdb_get(t->txn, idx->db_index, &key, &val);
	if (rc == MDB_NOTFOUND)
		return CM_OK;
	if (rc != 0)
		return cm_store_db_err(idx->st, "domain lookup", rc);
	if (!cm_codec_domain_decode(val.mv_data, val.mv_size, domain, len, &d))
		return cm_store_fmt_err(idx->st, "domain entry");
	*out = d.suppressed;
	return CM_OK;
}

/* ---------------------------------------------------------------- */
/* writing */

typedef struct one_arg {
	const cm_event *ev;
	cm_codec_evlen len;
	bool applied;
} one_arg;

static cm_status
one_fn(cm_apply *w, void *arg)
{
	one_arg *a = arg;
	unsigned char k[AKEY_LEN];
	cm_status st;

	cm_codec_subject_key(w->idx->sipkey, a->ev->addr, a->len.addr, k);
	st = cm_apply_event(w, a->ev, &a->len, k, &a->applied);
	if (st == CM_OK && !a->applied)
		st = CM_ESTALE;	/* nothing changed: the transaction aborts */
	return st;
}

cm_status
cm_index_apply(cm_index *idx, const cm_event *ev)
{
	one_arg a;
	cm_apply w = { 0 };
	cm_status st;

	if (idx == NULL || ev == NULL)
		return CM_EINVAL;
	a.ev = ev;
	a.applied = false;
	cm_codec_ev_lengths(ev, &a.len);
	if ((st = cm_codec_validate(ev, &a.len)) != CM_OK)
		return st;
	st = cm_apply_write(idx, &w, one_fn, &a, false);
	cm_apply_free(&w);
	return st;
}

typedef struct batch_arg {
	const cm_batch *b;
	size_t failed_at;
} batch_arg;

static cm_status
batch_fn(cm_apply *w, void *arg)
{
	batch_arg *a = arg;

	return cm_batch_run(a->b, w, &a->failed_at);
}

cm_status
cm_index_apply_batch(cm_index *idx, cm_batch *b, cm_batch_result *res)
{
	batch_arg a = { b, 0 };
	cm_apply w = { 0 };
	cm_status st;

	if (idx == NULL || b == NULL)
		return CM_EINVAL;
	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (cm_batch_count(b) == 0)
		return CM_OK;
	if ((st = cm_batch_sort(idx, b)) != CM_OK)
		return st;
	/* make room for a big batch before, not after, doing it */
	if (!idx->readonly &&
	    (st = cm_store_grow(idx->st, cm_batch_bytes(b))) != CM_OK)
		return st;
	st = cm_apply_write(idx, &w, batch_fn, &a, false);
	if (res != NULL) {
		if (st == CM_OK) {
			res->applied = w.applied;
			res->stale = w.stale;
		} else {
			res->failed_at = a.failed_at;
		}
	}
	cm_apply_free(&w);
	return st;
}

typedef struct bulk_arg {
	const cm_selection *sel;
	const cm_event *set;
	bool dry;
	size_t count;
} bulk_arg;

static cm_status
bulk_fn(cm_apply *w, void *arg)
{
	bulk_arg *a = arg;

	return cm_apply_bulk(w, a->sel, a->set, a->dry, &a->count);
}

cm_status
cm_index_bulk_update(cm_index *idx, const cm_selection *sel,
    const cm_event *set, bool dry_run, size_t *count)
{
	bulk_arg a = { sel, set, dry_run, 0 };
	cm_apply w = { 0 };
	cm_codec_evlen el;
	cm_status st;

	if (idx == NULL || sel == NULL || set == NULL)
		return CM_EINVAL;
	cm_codec_ev_lengths(set, &el);
	for (int i = 0; i < 5; i++)
		if (el.f[i] > CM_FIELD_MAX)
			return CM_EINVAL;
	if (set->at_us < 0)
		return CM_EINVAL;
	if (sel->type != NULL && strnlen(sel->type, CM_TYPE_ID_MAX + 1) >
	    CM_TYPE_ID_MAX)
		return CM_EINVAL;
	if (dry_run && idx->readonly) {
		/* a dry run needs no write access: read snapshot */
		cm_rtxn *t;

		if ((st = cm_index_rbegin(idx, &t)) != CM_OK)
			return st;
		w.idx = idx;
		w.txn = t->txn;
		w.recorded = cm_time_now();
		st = bulk_fn(&w, &a);
		w.txn = NULL;
		cm_index_rend(idx, t);
	} else {
		st = cm_apply_write(idx, &w, bulk_fn, &a, dry_run);
	}
	if (st == CM_OK && count != NULL)
		*count = a.count;
	cm_apply_free(&w);
	return st;
}

/* ---------------------------------------------------------------- */
/* raw access for dump.c, runsort.c and migrate.c (index_int.h) */

cm_status
cm_index_rscan(cm_index *idx, cm_rtxn *t, cm_rawdb db, const void *from,
    size_t fromlen, cm_raw_cb cb, void *arg)
{
	MDB_cursor *c;
	MDB_val k = { fromlen, (void *)(uintptr_t)from }, v;
	int rc;

	if ((rc = mdb_cursor_open(t->txn, cm_store_dbi(idx->st,
	    (cm_store_db)db), &c)) != 0)
		return cm_store_db_err(idx->st, "open cursor", rc);
	rc = mdb_cursor_get(c, &k, &v, from != NULL ? MDB_SET_RANGE :
	    MDB_FIRST);
	while (rc == 0) {
		if (cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg) != 0)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return cm_store_db_err(idx->st, "read", rc);
	return CM_OK;
}

cm_status
cm_index_rget(cm_index *idx, cm_rtxn *t, cm_rawdb db, const void *key,
    size_t klen, const unsigned char **val, size_t *vlen)
{
	MDB_val k = { klen, (void *)(uintptr_t)key }, v;
	int rc = mdb_get(t->txn, cm_store_dbi(idx->st, (cm_store_db)db), &k,
	    &v);

	if (rc == MDB_NOTFOUND)
		return CM_NOTFOUND;
	if (rc != 0)
		return cm_store_db_err(idx->st, "read", rc);
	*val = v.mv_data;
	*vlen = v.mv_size;
	return CM_OK;
}

void
cm_index_subject_key(const cm_index *idx, const char *s, size_t len,
    unsigned char *out)
{
	cm_codec_subject_key(idx->sipkey, s, len, out);
}

cm_status
cm_index_erasure_key(cm_index *idx, unsigned char *out)
{
	char err[256] = "";
	cm_status st = cm_erasekey_load(cm_store_dir(idx->st), false, out,
	    err, sizeof(err));

	if (st != CM_OK && err[0] != '\0')
		cm_store_set_err(idx->st, 0, "%s", err);
	return st;
}

void
cm_index_raw(cm_index *idx, cm_index_raw_t *out)
{
	out->env = cm_store_env(idx->st);
	out->db_meta = idx->db_meta;
	out->db_index = idx->db_index;
	out->db_hist = idx->db_hist;
	out->meta_format = idx->meta_format;
}

void
cm_index_akey(const cm_index *idx, const char *addr, size_t len,
    unsigned char *out)
{
	cm_codec_akey(idx->sipkey, addr, len, out);
}

void
cm_index_set_meta_format(cm_index *idx, unsigned v)
{
	idx->meta_format = v;
}
