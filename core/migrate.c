/*
 * migrate.c - re-keying the consent index (see migrate.h).
 *
 * Entries and tombstones are decoded and encoded with codec.h (the
 * value layouts of format octet 1, documented in codec.c); history keys
 * are AKEY + u64 big-endian sequence, and a history value has its event
 * time at offset 8.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "index_int.h"
#include "migrate.h"

#define AKEY CM_SUBJECT_KEY_LEN
#define HKEY (AKEY + 8)

_Static_assert(AKEY == CM_CODEC_AKEY_LEN, "address key length");

static cm_status
db_status(int rc)
{
	if (rc == ENOMEM)
		return CM_ENOMEM;
	if (rc == EACCES)
		return CM_EPERM;
	return CM_EDB;
}

/* Decode the entry V (N octets) into E (zeroed first; E->recs to be
 * freed). */
static cm_status
decode(const unsigned char *v, size_t n, cm_rules_entry *e)
{
	cm_status st;

	memset(e, 0, sizeof(*e));
	if ((st = cm_codec_entry_decode(v, n, e)) != CM_OK) {
		free(e->recs);
		e->recs = NULL;
	}
	return st;
}

/* Newer-event-wins between two records of one type: the later updated,
 * on a tie the withdrawn one, else B (the one already at the key). */
static const cm_rules_rec *
newer(const cm_rules_rec *a, const cm_rules_rec *b)
{
	if (a->updated != b->updated)
		return a->updated > b->updated ? a : b;
	if (a->state == CM_STATE_WITHDRAWN && b->state != CM_STATE_WITHDRAWN)
		return a;
	return b;
}

/*
 * Build the entry for ADDR from A (moved) and B (at the key; NULL if
 * none), dropping records and an objection not newer than ERASED_US
 * (0: none).  *OUT is allocated; *OUT_LEN 0 when nothing is left.
 */
static cm_status
build(const char *addr, size_t alen, const cm_rules_entry *a,
    const cm_rules_entry *b, int64_t erased_us, unsigned char **out,
    size_t *out_len)
{
	size_t i = 0, j = 0, nb = b ? b->nrec : 0;
	cm_rules_entry e = { 0 };
	int64_t obj = a->objection_us, lg = a->last_grant_us;

	*out = NULL;
	*out_len = 0;
	if (b != NULL) {
		obj = b->objection_us > obj ? b->objection_us : obj;
		lg = b->last_grant_us > lg ? b->last_grant_us : lg;
	}
	if (obj <= erased_us)
		obj = 0;
	if (lg <= erased_us)
		lg = 0;
	if (!cm_rules_entry_grow(&e, a->nrec + nb + 1))
		return CM_ENOMEM;
	while (i < a->nrec || j < nb) {
		const cm_rules_rec *r;
		int c = i >= a->nrec ? 1 : j >= nb ? -1 :
		    cm_codec_str_cmp(a->recs[i].type.p, a->recs[i].type.n,
		    b->recs[j].type.p, b->recs[j].type.n);

		if (c < 0)
			r = &a->recs[i++];
		else if (c > 0)
			r = &b->recs[j++];
		else
			r = newer(&a->recs[i++], &b->recs[j++]);
		if (r->updated <= erased_us)
			continue;
		e.recs[e.nrec] = *r;
		/* what the objection in force makes of an older grant */
		if (obj != 0 && obj >= lg && (r->state == CM_STATE_GRANTED ||
		    r->state == CM_STATE_PENDING) && r->updated <= obj) {
			e.recs[e.nrec].state = CM_STATE_WITHDRAWN;
			e.recs[e.nrec].withdrawn = obj;
			e.recs[e.nrec].updated = obj;
		}
		e.nrec++;
	}
	if (e.nrec == 0 && obj == 0) {
		free(e.recs);
		return CM_OK;
	}
	if (e.nrec > UINT16_MAX || alen > UINT16_MAX) {
		free(e.recs);
		return CM_EFORMAT;
	}
	e.addr.p = (const unsigned char *)addr;
	e.addr.n = alen;
	e.objection_us = obj;
	e.last_grant_us = lg;
	if ((*out = malloc(cm_codec_entry_size(&e))) == NULL) {
		free(e.recs);
		return CM_ENOMEM;
	}
	cm_codec_entry_encode(&e, *out);
	*out_len = cm_codec_entry_size(&e);
	free(e.recs);
	return CM_OK;
}

/* A key to move: the old AKEY and the new address. */
struct move {
	unsigned char old[AKEY];
	cm_addr addr;
};

/* Move (or, with DROP_BEFORE > 0, delete events not newer than it, or
 * with DELETE all) the history of OLD to NEW. */
static cm_status
move_history(MDB_txn *txn, MDB_dbi db, const unsigned char *old,
    const unsigned char *nkey, int64_t drop_before, bool delete_all,
    size_t *moved)
{
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned char start[HKEY];
	struct { unsigned char key[HKEY]; MDB_val v; } *ev = NULL;
	size_t n = 0, cap = 0;
	cm_status st = CM_OK;
	int rc;

	if ((rc = mdb_cursor_open(txn, db, &cur)) != 0)
		return db_status(rc);
	memcpy(start, old, AKEY);
	memset(start + AKEY, 0, 8);
	k.mv_data = start;
	k.mv_size = HKEY;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != HKEY || memcmp(k.mv_data, old, AKEY) != 0)
			break;
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 16;
			void *nv = realloc(ev, nc * sizeof(*ev));

			if (nv == NULL) {
				st = CM_ENOMEM;
				goto out;
			}
			ev = nv;
			cap = nc;
		}
		memcpy(ev[n].key, k.mv_data, HKEY);
		if ((ev[n].v.mv_data = malloc(v.mv_size)) == NULL) {
			st = CM_ENOMEM;
			goto out;
		}
		memcpy(ev[n].v.mv_data, v.mv_data, v.mv_size);
		ev[n].v.mv_size = v.mv_size;
		n++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		st = db_status(rc);
		goto out;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	for (size_t i = 0; i < n && st == CM_OK; i++) {
		const unsigned char *hv = ev[i].v.mv_data;
		bool keep = !delete_all && (drop_before == 0 ||
		    (ev[i].v.mv_size >= 16 &&
		    cm_codec_geti64(hv + 8) > drop_before));

		k.mv_data = ev[i].key;
		k.mv_size = HKEY;
		if ((rc = mdb_del(txn, db, &k, NULL)) != 0) {
			st = db_status(rc);
			break;
		}
		if (!keep)
			continue;
		memcpy(ev[i].key, nkey, AKEY);
		if ((rc = mdb_put(txn, db, &k, &ev[i].v, 0)) != 0)
			st = db_status(rc);
		else
			(*moved)++;
	}
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	for (size_t i = 0; i < n; i++)
		free(ev[i].v.mv_data);
	free(ev);
	return st;
}

/* Re-key one entry (old key M->old, value read again in TXN). */
static cm_status
move_one(cm_index *idx, MDB_txn *txn, const cm_index_raw_t *raw,
    const struct move *m, cm_migrate_stats *stats)
{
	unsigned char nkey[AKEY], *nv = NULL;
	MDB_val k, v, kv;
	cm_rules_entry a, b;
	bool have_b = false;
	int64_t erased = 0;
	size_t nlen;
	cm_status st;
	int rc;

	k.mv_data = (void *)(uintptr_t)m->old;
	k.mv_size = AKEY;
	if ((rc = mdb_get(txn, raw->db_index, &k, &v)) != 0)
		return db_status(rc);
	if ((st = decode(v.mv_data, v.mv_size, &a)) != CM_OK)
		return st;
	cm_index_akey(idx, m->addr.key, m->addr.key_len, nkey);
	kv.mv_data = nkey;
	kv.mv_size = AKEY;
	rc = mdb_get(txn, raw->db_index, &kv, &v);
	if (rc == 0) {
		const unsigned char *p = v.mv_data;

		if (cm_codec_is_tomb(p, v.mv_size)) {
			erased = cm_codec_tomb_erased(p);
			if (erased <= 0)
				erased = 1;
		} else if ((st = decode(p, v.mv_size, &b)) != CM_OK) {
			free(a.recs);
			return st;
		} else {
			have_b = true;
		}
	} else if (rc != MDB_NOTFOUND) {
		free(a.recs);
		return db_status(rc);
	}
	st = build(m->addr.key, m->addr.key_len, &a, have_b ? &b : NULL,
	    erased, &nv, &nlen);
	free(a.recs);
	if (have_b)
		free(b.recs);
	if (st != CM_OK)
		return st;
	/* v points into the map: no longer used from here */
	if ((rc = mdb_del(txn, raw->db_index, &k, NULL)) != 0) {
		free(nv);
		return db_status(rc);
	}
	if (nlen > 0) {
		v.mv_data = nv;
		v.mv_size = nlen;
		rc = mdb_put(txn, raw->db_index, &kv, &v, 0);
		free(nv);
		if (rc != 0)
			return db_status(rc);
	}
	if (have_b)
		stats->merged++;
	else if (nlen == 0)
		stats->erased++;
	else
		stats->moved++;
	return move_history(txn, raw->db_hist, m->old, nkey, erased,
	    nlen == 0, &stats->events);
}

static cm_status
collect(cm_index *idx, MDB_txn *txn, const cm_index_raw_t *raw,
    const cm_addr_opts *opts, struct move **out, size_t *nout,
    cm_migrate_stats *stats)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct move *mv = NULL;
	size_t n = 0, cap = 0;
	cm_status st = CM_OK;
	int rc;

	(void)idx;
	if ((rc = mdb_cursor_open(txn, raw->db_index, &cur)) != 0)
		return db_status(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const unsigned char *p = v.mv_data;
		size_t alen, nrec;
		cm_addr a;

		if (!cm_codec_is_akey(k.mv_data, k.mv_size) || v.mv_size < 2 ||
		    p[1] != CM_CODEC_KIND_ENTRY)
			continue;	/* domains, tombstones */
		if (!cm_codec_entry_header(p, v.mv_size, &nrec, &alen)) {
			st = CM_EFORMAT;
			break;
		}
		alen -= CM_CODEC_ENTRY_HDR;
		p += CM_CODEC_ENTRY_HDR;
		stats->entries++;
		if (cm_addr_rekey((const char *)p, alen, opts,
		    &a) != CM_OK) {
			stats->failed++;
			continue;
		}
		if (a.key_len == alen && memcmp(a.key, p,
		    alen) == 0) {
			stats->unchanged++;
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 64;
			void *nv = realloc(mv, nc * sizeof(*mv));

			if (nv == NULL) {
				st = CM_ENOMEM;
				break;
			}
			mv = nv;
			cap = nc;
		}
		memcpy(mv[n].old, k.mv_data, AKEY);
		mv[n].addr = a;
		n++;
	}
	if (st == CM_OK && rc != 0 && rc != MDB_NOTFOUND)
		st = db_status(rc);
	mdb_cursor_close(cur);
	if (st != CM_OK) {
		free(mv);
		return st;
	}
	*out = mv;
	*nout = n;
	return CM_OK;
}

cm_status
cm_migrate_keys(cm_index *idx, const cm_addr_opts *opts, bool dry_run,
    cm_migrate_stats *stats)
{
	cm_index_raw_t raw;
	MDB_txn *txn;
	struct move *mv = NULL;
	size_t n = 0;
	unsigned char fmt[4] = { CM_INDEX_META_FORMAT, 0, 0, 0 };
	MDB_val k, v;
	cm_status st;
	int rc;

	if (idx == NULL || stats == NULL)
		return CM_EINVAL;
	memset(stats, 0, sizeof(*stats));
	cm_index_raw(idx, &raw);
	stats->from_format = raw.meta_format;
	stats->to_format = CM_INDEX_META_FORMAT;
	if ((rc = mdb_txn_begin(raw.env, NULL, 0, &txn)) != 0)
		return rc == EACCES ? CM_EINVAL : db_status(rc);
	st = collect(idx, txn, &raw, opts, &mv, &n, stats);
	for (size_t i = 0; i < n && st == CM_OK; i++)
		st = move_one(idx, txn, &raw, &mv[i], stats);
	free(mv);
	if (st == CM_OK) {
		k.mv_data = "format";
		k.mv_size = 6;
		v.mv_data = fmt;
		v.mv_size = 4;
		if ((rc = mdb_put(txn, raw.db_meta, &k, &v, 0)) != 0)
			st = db_status(rc);
	}
	if (st != CM_OK || dry_run) {
		mdb_txn_abort(txn);
		return st;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return db_status(rc);
	cm_index_set_meta_format(idx, CM_INDEX_META_FORMAT);
	return CM_OK;
}
