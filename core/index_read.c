/*
 * index_read.c - the reading calls of index.h: whole entries, history,
 * domains, tombstones and statistics, each in one read snapshot.
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "index_impl.h"
#include "index_int.h"
#include "store.h"

#define AKEY_LEN CM_CODEC_AKEY_LEN
#define HKEY_LEN CM_CODEC_HKEY_LEN
#define ADDR_MAX CM_CODEC_ADDR_MAX
#define DOMAIN_MAX CM_CODEC_DOMAIN_MAX

typedef cm_rules_rec drec;
typedef cm_rules_entry dentry;

static cm_status
rtxn(cm_index *idx, cm_rtxn **t)
{
	if (idx == NULL)
		return CM_EINVAL;
	return cm_index_rbegin(idx, t);
}

/* Begin a snapshot *T of IDX and open cursor *C on DBI in it. */
static cm_status
scan_begin(cm_index *idx, MDB_dbi dbi, cm_rtxn **t, MDB_cursor **c)
{
	cm_status st;
	int rc;

	if ((st = rtxn(idx, t)) != CM_OK)
		return st;
	if ((rc = mdb_cursor_open((*t)->txn, dbi, c)) != 0) {
		cm_index_rend(idx, *t);
		return cm_store_db_err(idx->st, "cursor", rc);
	}
	return CM_OK;
}

/* End the scan of scan_begin: ST, or else the LMDB code RC that ended
 * the scan (MDB_NOTFOUND: its end) reported as WHAT. */
static cm_status
scan_end(cm_index *idx, cm_rtxn *t, MDB_cursor *c, cm_status st, int rc,
    const char *what)
{
	if (st == CM_OK && rc != 0 && rc != MDB_NOTFOUND)
		st = cm_store_db_err(idx->st, what, rc);
	mdb_cursor_close(c);
	cm_index_rend(idx, t);
	return st;
}

/*
 * Begin a snapshot *T of IDX and look address ADDR up in it (*LEN its
 * length): CM_OK with *VAL its value (entry or tombstone), CM_NOTFOUND
 * (the snapshot is ended), or a status (no snapshot).
 */
static cm_status
addr_get(cm_index *idx, const char *addr, cm_rtxn **t, size_t *len,
    MDB_val *val)
{
	unsigned char k[AKEY_LEN];
	MDB_val key = { AKEY_LEN, k };
	cm_status st;
	int rc;

	*len = strnlen(addr, ADDR_MAX + 1);
	if (*len > ADDR_MAX)
		return CM_EINVAL;
	if ((st = rtxn(idx, t)) != CM_OK)
		return st;
	cm_codec_akey(idx->sipkey, addr, *len, k);
	if ((rc = mdb_get((*t)->txn, idx->db_index, &key, val)) == 0)
		return CM_OK;
	cm_index_rend(idx, *t);
	return rc == MDB_NOTFOUND ? CM_NOTFOUND :
	    cm_store_db_err(idx->st, "lookup", rc);
}

/* Decode entry V (N octets) into D; CM_EFORMAT is reported. */
static cm_status
entry_decode(cm_index *idx, const MDB_val *v, dentry *d)
{
	cm_status st = cm_codec_entry_decode(v->mv_data, v->mv_size, d);

	if (st == CM_EFORMAT)
		(void)cm_store_fmt_err(idx->st, "consent entry");
	return st;
}

/* Build a cm_entry in one allocation from decoded D (address from D). */
static cm_entry *
entry_build(const dentry *d)
{
	size_t sz = sizeof(cm_entry) + d->nrec * sizeof(cm_record) +
	    d->addr.n + 1;
	cm_entry *e;
	char *p;

	for (size_t i = 0; i < d->nrec; i++) {
		sz += d->recs[i].type.n + 1;
		for (int j = 0; j < 4; j++)
			sz += d->recs[i].f[j].n + 1;
	}
	if ((e = malloc(sz)) == NULL)
		return NULL;
	e->records = (cm_record *)(e + 1);
	p = (char *)(e->records + d->nrec);
#define COPY(dst, s) do { memcpy(p, (s).p, (s).n); p[(s).n] = '\0'; \
	(dst) = p; p += (s).n + 1; } while (0)
	COPY(e->addr, d->addr);
	e->objection = cm_codec_objection(d->objection_us, d->last_grant_us);
	e->objection_us = d->objection_us;
	e->nrecords = d->nrec;
	for (size_t i = 0; i < d->nrec; i++) {
		const drec *r = &d->recs[i];
		cm_record *o = &e->records[i];

		COPY(o->type, r->type);
		o->state = r->state;
		o->granted_us = r->granted;
		o->confirmed_us = r->confirmed;
		o->withdrawn_us = r->withdrawn;
		o->updated_us = r->updated;
		COPY(o->source, r->f[0]);
		COPY(o->basis, r->f[1]);
		COPY(o->purpose, r->f[2]);
		COPY(o->evidence, r->f[3]);
	}
#undef COPY
	return e;
}

cm_status
cm_index_get(cm_index *idx, const char *addr, cm_entry **out)
{
	MDB_val val;
	dentry d = { 0 };
	cm_rtxn *t;
	cm_status st;
	size_t len;

	if (addr == NULL || out == NULL)
		return CM_EINVAL;
	*out = NULL;
	if ((st = addr_get(idx, addr, &t, &len, &val)) != CM_OK)
		return st;
	if (cm_codec_is_tomb(val.mv_data, val.mv_size)) {
		st = CM_NOTFOUND;
	} else if ((st = entry_decode(idx, &val, &d)) != CM_OK) {
		/* reported */
	} else if (d.addr.n != len || memcmp(d.addr.p, addr, len) != 0) {
		st = cm_store_fmt_err(idx->st, "address key collision");
	} else if ((*out = entry_build(&d)) == NULL) {
		st = CM_ENOMEM;
	}
	cm_index_rend(idx, t);
	free(d.recs);
	return st;
}

void
cm_entry_free(cm_entry *e)
{
	free(e);
}

cm_status
cm_index_foreach(cm_index *idx, cm_entry_cb cb, void *arg)
{
	MDB_val key, val;
	MDB_cursor *c;
	dentry d = { 0 };
	cm_rtxn *t;
	cm_status st = CM_OK;
	int rc;

	if (cb == NULL)
		return CM_EINVAL;
	if ((st = scan_begin(idx, idx->db_index, &t, &c)) != CM_OK)
		return st;
	for (rc = cm_codec_first_addr(c, &key, &val); rc == 0;
	    rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		cm_entry *e;
		int stop;

		if (cm_codec_is_tomb(val.mv_data, val.mv_size))
			continue;
		if ((st = entry_decode(idx, &val, &d)) != CM_OK)
			break;
		if ((e = entry_build(&d)) == NULL) {
			st = CM_ENOMEM;
			break;
		}
		stop = cb(e, arg);
		free(e);
		if (stop)
			break;
	}
	free(d.recs);
	return scan_end(idx, t, c, st, rc, "iterate");
}

/* Decode a history value into EV with strings copied into *BUF. */
static cm_status
hist_decode(const unsigned char *v, size_t n, uint64_t seq,
    cm_history_event *ev, char **buf, size_t *cap)
{
	const char **dst[6] = { &ev->type, &ev->source, &ev->basis,
	    &ev->purpose, &ev->evidence, &ev->actor };
	cm_codec_hist h;
	size_t need = 0;
	char *p;

	if (!cm_codec_hist_decode(v, n, &h))
		return CM_EFORMAT;
	for (int i = 0; i < 6; i++)
		need += h.s[i].n + 1;
	if (!cm_codec_reserve((unsigned char **)buf, cap, need))
		return CM_ENOMEM;
	ev->seq = seq;
	ev->kind = h.kind;
	ev->old_state = h.old_state;
	ev->new_state = h.new_state;
	ev->at_us = h.at_us;
	ev->recorded_us = h.recorded_us;
	p = *buf;
	for (int i = 0; i < 6; i++) {
		memcpy(p, h.s[i].p, h.s[i].n);
		p[h.s[i].n] = '\0';
		*dst[i] = p;
		p += h.s[i].n + 1;
	}
	return CM_OK;
}

cm_status
cm_index_history(cm_index *idx, const char *addr, cm_history_cb cb,
    void *arg)
{
	unsigned char hk[HKEY_LEN];
	MDB_val key = { HKEY_LEN, hk }, val;
	MDB_cursor *c;
	char *buf = NULL;
	size_t cap = 0, count = 0, len;
	cm_rtxn *t;
	cm_status st = CM_OK;
	int rc;

	if (addr == NULL || cb == NULL)
		return CM_EINVAL;
	len = strnlen(addr, ADDR_MAX + 1);
	if (len > ADDR_MAX)
		return CM_EINVAL;
	cm_codec_subject_key(idx->sipkey, addr, len, hk);
	memset(hk + AKEY_LEN, 0, 8);
	if ((st = scan_begin(idx, idx->db_hist, &t, &c)) != CM_OK)
		return st;
	for (rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		cm_history_event ev;

		if (key.mv_size != HKEY_LEN ||
		    memcmp(key.mv_data, hk, AKEY_LEN) != 0)
			break;
		st = hist_decode(val.mv_data, val.mv_size,
		    cm_codec_hkey_seq(key.mv_data), &ev, &buf, &cap);
		if (st != CM_OK) {
			if (st == CM_EFORMAT)
				(void)cm_store_fmt_err(idx->st,
				    "history event");
			break;
		}
		count++;
		if (cb(&ev, arg))
			break;
	}
	st = scan_end(idx, t, c, st, rc, "iterate history");
	free(buf);
	if (st == CM_OK && count == 0)
		st = CM_NOTFOUND;
	return st;
}

cm_status
cm_index_domain_suppressed(cm_index *idx, const char *domain,
    int64_t *since_us)
{
	unsigned char k[DOMAIN_MAX + 1];
	MDB_val key = { 0, k }, val;
	cm_rtxn *t;
	cm_codec_domain d;
	cm_status st;
	size_t len;
	int rc;

	if (domain == NULL)
		return CM_EINVAL;
	len = strnlen(domain, DOMAIN_MAX + 1);
	if (len == 0 || len > DOMAIN_MAX)
		return CM_EINVAL;
	if ((st = rtxn(idx, &t)) != CM_OK)
		return st;
	key.mv_size = cm_codec_dkey(domain, len, k);
	rc = mdb_get(t->txn, idx->db_index, &key, &val);
	if (rc == MDB_NOTFOUND) {
		st = CM_NOTFOUND;
	} else if (rc != 0) {
		st = cm_store_db_err(idx->st, "domain lookup", rc);
	} else if (!cm_codec_domain_decode(val.mv_data, val.mv_size, domain,
	    len, &d)) {
		st = cm_store_fmt_err(idx->st, "domain entry");
	} else if (!d.suppressed) {
		st = CM_NOTFOUND;
	} else if (since_us != NULL) {
		*since_us = d.since_us;
	}
	cm_index_rend(idx, t);
	return st;
}

cm_status
cm_index_foreach_domain(cm_index *idx, cm_domain_cb cb, void *arg)
{
	char dom[DOMAIN_MAX + 1], *src = NULL;
	size_t cap = 0;
	MDB_val key, val;
	MDB_cursor *c;
	cm_rtxn *t;
	cm_status st = CM_OK;
	int rc;

	if (cb == NULL)
		return CM_EINVAL;
	if ((st = scan_begin(idx, idx->db_index, &t, &c)) != CM_OK)
		return st;
	/* domains sort first (DKEY starts with a zero octet) */
	for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		cm_codec_domain d;

		if (key.mv_size < 2 ||
		    ((const unsigned char *)key.mv_data)[0] != 0)
			break;
		if (!cm_codec_domain_decode(val.mv_data, val.mv_size, NULL, 0,
		    &d)) {
			st = cm_store_fmt_err(idx->st, "domain entry");
			break;
		}
		if (!d.suppressed)
			continue;
		if (!cm_codec_reserve((unsigned char **)&src, &cap,
		    d.source_len + 1)) {
			st = CM_ENOMEM;
			break;
		}
		memcpy(src, d.source, d.source_len);
		src[d.source_len] = '\0';
		memcpy(dom, d.name, d.name_len);
		dom[d.name_len] = '\0';
		if (cb(dom, d.since_us, src, arg))
			break;
	}
	free(src);
	return scan_end(idx, t, c, st, rc, "iterate domains");
}

cm_status
cm_index_is_erased(cm_index *idx, const char *addr)
{
	MDB_val val;
	cm_rtxn *t;
	cm_status st;
	size_t len;

	if (addr == NULL)
		return CM_EINVAL;
	if ((st = addr_get(idx, addr, &t, &len, &val)) != CM_OK)
		return st;
	st = cm_codec_is_tomb(val.mv_data, val.mv_size) ? CM_OK : CM_NOTFOUND;
	cm_index_rend(idx, t);
	return st;
}

/* ---------------------------------------------------------------- */
/* statistics */

typedef struct tcount {
	char type[CM_TYPE_ID_MAX + 1];
	size_t n[4];
} tcount;

cm_status
cm_index_stats_get(cm_index *idx, cm_index_stats *out)
{
	MDB_stat s;
	MDB_envinfo info;
	MDB_val key, val;
	MDB_cursor *c;
	cm_rtxn *t;
	cm_status st = CM_OK;
	int rc;

	if (out == NULL)
		return CM_EINVAL;
	memset(out, 0, sizeof(*out));
	if ((st = rtxn(idx, &t)) != CM_OK)
		return st;
	if ((rc = mdb_stat(t->txn, idx->db_hist, &s)) != 0)
		goto dberr;
	out->history_events = s.ms_entries;
	out->page_size = s.ms_psize;
	if ((rc = mdb_env_info(cm_store_env(idx->st), &info)) != 0)
		goto dberr;
	out->map_size = info.me_mapsize;
	out->map_used = (info.me_last_pgno + 1) * out->page_size;
	if ((rc = mdb_cursor_open(t->txn, idx->db_index, &c)) != 0)
		goto dberr;
	for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		const unsigned char *v = val.mv_data;
		size_t nrec, off;
		cm_codec_domain d;

		if (val.mv_size >= 2 && v[1] == CM_CODEC_KIND_DOMAIN &&
		    cm_codec_domain_decode(v, val.mv_size, NULL, 0, &d)) {
			out->domains += d.suppressed;
		} else if (cm_codec_is_tomb(val.mv_data, val.mv_size)) {
			out->tombstones++;
		} else if (cm_codec_entry_header(v, val.mv_size, &nrec, &off)) {
			out->addresses++;
			out->records += nrec;
		} else {
			mdb_cursor_close(c);
			cm_index_rend(idx, t);
			return cm_store_fmt_err(idx->st, "index value");
		}
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		goto dberr;
	cm_index_rend(idx, t);
	return CM_OK;
dberr:
	cm_index_rend(idx, t);
	return cm_store_db_err(idx->st, "stats", rc);
}

static int
tcount_cmp(const void *a, const void *b)
{
	return strcmp(((const tcount *)a)->type, ((const tcount *)b)->type);
}

cm_status
cm_index_count_by_type(cm_index *idx, cm_count_cb cb, void *arg)
{
	tcount *tc = NULL;
	size_t ntc = 0, cap = 0;
	dentry d = { 0 };
	MDB_val key, val;
	MDB_cursor *c;
	cm_rtxn *t;
	cm_status st = CM_OK;
	int rc;

	if (cb == NULL)
		return CM_EINVAL;
	if ((st = scan_begin(idx, idx->db_index, &t, &c)) != CM_OK)
		return st;
	for (rc = cm_codec_first_addr(c, &key, &val); rc == 0 &&
	    st == CM_OK; rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		if (cm_codec_is_tomb(val.mv_data, val.mv_size))
			continue;
		if ((st = entry_decode(idx, &val, &d)) != CM_OK)
			break;
		for (size_t i = 0; i < d.nrec; i++) {
			const drec *r = &d.recs[i];
			size_t j;

			/* few types: linear search is fine */
			for (j = 0; j < ntc; j++)
				if (strlen(tc[j].type) == r->type.n &&
				    memcmp(tc[j].type, r->type.p,
				    r->type.n) == 0)
					break;
			if (j == ntc) {
				if (ntc == cap) {
					size_t nc = cap ? cap * 2 : 16;
					tcount *n2 = realloc(tc,
					    nc * sizeof(*n2));

					if (n2 == NULL) {
						st = CM_ENOMEM;
						break;
					}
					tc = n2;
					cap = nc;
				}
				memset(&tc[ntc], 0, sizeof(tc[ntc]));
				memcpy(tc[ntc].type, r->type.p, r->type.n);
				ntc++;
			}
			tc[j].n[r->state]++;
		}
	}
	st = scan_end(idx, t, c, st, rc, "iterate");
	free(d.recs);
	if (st == CM_OK) {
		if (ntc > 1)	/* tc is NULL for an empty index */
			qsort(tc, ntc, sizeof(*tc), tcount_cmp);
		for (size_t i = 0; i < ntc; i++)
			for (int s = CM_STATE_PENDING;
			    s <= CM_STATE_WITHDRAWN; s++)
				if (tc[i].n[s] > 0 &&
				    cb(tc[i].type, (cm_state)s, tc[i].n[s],
				    arg))
					goto done;
	}
done:
	free(tc);
	return st;
}

