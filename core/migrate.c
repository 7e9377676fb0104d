/*
 * migrate.c - re-keying the consent index (see migrate.h).
 *
 * Reads the value layouts of index.c (format octet 1): an entry is
 *   u8 1, u8 kind 1, u16 A, u16 N, u16 0, i64 objection_us,
 *   i64 last_grant_us, A octets address, N records
 * where a record is u16 length (itself included), u8 state, u8 type
 * length T, i64 granted, confirmed, withdrawn, updated, T octets type,
 * four strings; records are sorted by type (octets, shorter first).  A
 * tombstone is u8 1, u8 kind 2, 6 octets 0, i64 erased_us.  History keys
 * are AKEY (16 octets) + u64 big-endian sequence; a history value has
 * its event time (i64) at offset 8.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index_int.h"
#include "migrate.h"

#define ENTRY_HDR 24
#define REC_HDR 36
#define TOMB_LEN 16
#define KIND_ENTRY 1
#define KIND_TOMB 2
#define ST_GRANTED 2
#define ST_PENDING 1
#define ST_WITHDRAWN 3
#define AKEY CM_SUBJECT_KEY_LEN
#define HKEY (AKEY + 8)

static int64_t
get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return (int64_t)le64toh(v);
}

static void
put64(unsigned char *p, int64_t v)
{
	uint64_t u = htole64((uint64_t)v);

	memcpy(p, &u, 8);
}

static uint16_t
get16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

static void
put16(unsigned char *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static cm_status
db_status(int rc)
{
	if (rc == ENOMEM)
		return CM_ENOMEM;
	if (rc == EACCES)
		return CM_EPERM;
	return CM_EDB;
}

/* One record of an entry, in place. */
struct rec {
	const unsigned char *p;	/* the whole record */
	size_t len;
	const unsigned char *type;
	size_t tlen;
};

/* Decoded entry: header fields and records (pointers into the value). */
struct entry {
	int64_t objection_us, last_grant_us;
	struct rec *recs;
	size_t n;
};

static cm_status
decode(const unsigned char *v, size_t n, struct entry *e)
{
	size_t alen, nrec, off;

	memset(e, 0, sizeof(*e));
	if (n < ENTRY_HDR || v[0] != 1 || v[1] != KIND_ENTRY)
		return CM_EFORMAT;
	alen = get16(v + 2);
	nrec = get16(v + 4);
	e->objection_us = get64(v + 8);
	e->last_grant_us = get64(v + 16);
	off = ENTRY_HDR + alen;
	if (off > n)
		return CM_EFORMAT;
	if (nrec > 0 && (e->recs = calloc(nrec, sizeof(*e->recs))) == NULL)
		return CM_ENOMEM;
	for (size_t i = 0; i < nrec; i++) {
		size_t rl;

		if (n - off < REC_HDR)
			goto bad;
		rl = get16(v + off);
		if (rl < REC_HDR || rl > n - off ||
		    (size_t)REC_HDR + v[off + 3] > rl)
			goto bad;
		e->recs[i].p = v + off;
		e->recs[i].len = rl;
		e->recs[i].type = v + off + REC_HDR;
		e->recs[i].tlen = v[off + 3];
		off += rl;
	}
	e->n = nrec;
	return CM_OK;
bad:
	free(e->recs);
	e->recs = NULL;
	return CM_EFORMAT;
}

static int64_t
rec_updated(const struct rec *r)
{
	return get64(r->p + 4 + 24);
}

static int
type_cmp(const struct rec *a, const struct rec *b)
{
	size_t n = a->tlen < b->tlen ? a->tlen : b->tlen;
	int c = n ? memcmp(a->type, b->type, n) : 0;

	if (c != 0)
		return c;
	return a->tlen < b->tlen ? -1 : a->tlen > b->tlen;
}

/* Newer-event-wins between two records of one type: the later updated,
 * on a tie the withdrawn one, else B (the one already at the key). */
static const struct rec *
newer(const struct rec *a, const struct rec *b)
{
	int64_t ua = rec_updated(a), ub = rec_updated(b);

	if (ua != ub)
		return ua > ub ? a : b;
	if (a->p[2] == ST_WITHDRAWN && b->p[2] != ST_WITHDRAWN)
		return a;
	return b;
}

/*
 * Build the entry for ADDR from A (moved) and B (at the key; NULL if
 * none), dropping records and an objection not newer than ERASED_US
 * (0: none).  *OUT is allocated; *OUT_LEN 0 when nothing is left.
 */
static cm_status
build(const char *addr, size_t alen, const struct entry *a,
    const struct entry *b, int64_t erased_us, unsigned char **out,
    size_t *out_len)
{
	size_t cap = ENTRY_HDR + alen, i = 0, j = 0, n = 0, off;
	size_t nb = b ? b->n : 0;
	int64_t obj = a->objection_us, lg = a->last_grant_us;
	const struct rec **pick;
	unsigned char *v;

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
	pick = calloc(a->n + nb + 1, sizeof(*pick));
	if (pick == NULL)
		return CM_ENOMEM;
	while (i < a->n || j < nb) {
		const struct rec *r;
		int c = i >= a->n ? 1 : j >= nb ? -1 :
		    type_cmp(&a->recs[i], &b->recs[j]);

		if (c < 0)
			r = &a->recs[i++];
		else if (c > 0)
			r = &b->recs[j++];
		else
			r = newer(&a->recs[i++], &b->recs[j++]);
		if (rec_updated(r) <= erased_us)
			continue;
		pick[n++] = r;
		cap += r->len;
	}
	if (n == 0 && obj == 0) {
		free(pick);
		return CM_OK;
	}
	if (n > UINT16_MAX || alen > UINT16_MAX || (v = malloc(cap)) == NULL) {
		free(pick);
		return n > UINT16_MAX || alen > UINT16_MAX ? CM_EFORMAT :
		    CM_ENOMEM;
	}
	v[0] = 1;
	v[1] = KIND_ENTRY;
	put16(v + 2, (uint16_t)alen);
	put16(v + 4, (uint16_t)n);
	put16(v + 6, 0);
	put64(v + 8, obj);
	put64(v + 16, lg);
	memcpy(v + ENTRY_HDR, addr, alen);
	off = ENTRY_HDR + alen;
	for (size_t k = 0; k < n; k++) {
		unsigned char *r = v + off;

		memcpy(r, pick[k]->p, pick[k]->len);
		/* what the objection in force makes of an older grant */
		if (obj != 0 && obj >= lg && (r[2] == ST_GRANTED ||
		    r[2] == ST_PENDING) && get64(r + 4 + 24) <= obj) {
			r[2] = ST_WITHDRAWN;
			put64(r + 4 + 16, obj);	/* withdrawn_us */
			put64(r + 4 + 24, obj);	/* updated_us */
		}
		off += pick[k]->len;
	}
	free(pick);
	*out = v;
	*out_len = off;
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
		    (ev[i].v.mv_size >= 16 && get64(hv + 8) > drop_before));

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
	struct entry a, b;
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

		if (v.mv_size == TOMB_LEN && p[0] == 1 && p[1] == KIND_TOMB) {
			erased = get64(p + 8);
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
		size_t alen;
		cm_addr a;

		if (k.mv_size != AKEY || !(((unsigned char *)k.mv_data)[0] &
		    0x80) || v.mv_size < 2 || p[1] != KIND_ENTRY)
			continue;	/* domains, tombstones */
		if (v.mv_size < ENTRY_HDR || p[0] != 1 ||
		    (alen = get16(p + 2)) > v.mv_size - ENTRY_HDR) {
			st = CM_EFORMAT;
			break;
		}
		stats->entries++;
		if (cm_addr_rekey((const char *)p + ENTRY_HDR, alen, opts,
		    &a) != CM_OK) {
			stats->failed++;
			continue;
		}
		if (a.key_len == alen && memcmp(a.key, p + ENTRY_HDR,
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
