/*
 * scrubq.c - the erased addresses whose scrub outside the index is
 * pending (scrubq.h).
 *
 * A row: key AKEY of the address (codec.h); value the address, a NUL
 * and the row's generation (the id of the write transaction that queued
 * it, 8 octets big-endian), XORed with a key stream
 * HMAC-SHA256(SipKey, "scrubq" AKEY counter), 32 octets a block: the
 * address's octets are never in the file, and only the holder of the
 * index's key reads them back.  A row of an older version holds the
 * address alone: generation 0.
 */
#include <string.h>

#include "addr.h"
#include "codec.h"
#include "hmac.h"
#include "index_impl.h"
#include "scrubq.h"
#include "scrubq_int.h"
#include "store.h"

#define GEN_LEN 8

/* The largest value: an address, its NUL, the generation. */
#define VAL_MAX (CM_ADDR_KEY_MAX + 1 + GEN_LEN)

/* BUF[0..LEN) ^= the key stream of AKEY AK under IDX's key. */
static cm_status
cipher(cm_index *idx, const unsigned char *ak, unsigned char *buf,
    size_t len)
{
	unsigned char in[6 + CM_CODEC_AKEY_LEN + 1], ks[CM_HMAC_OUT_LEN];
	cm_hmac *h;
	cm_status st;

	if ((st = cm_hmac_new(idx->sipkey, CM_CODEC_SIPKEY_LEN, &h)) != CM_OK)
		return st;
	memcpy(in, "scrubq", 6);
	memcpy(in + 6, ak, CM_CODEC_AKEY_LEN);
	for (size_t off = 0; off < len && st == CM_OK;
	    off += CM_HMAC_OUT_LEN) {
		in[sizeof(in) - 1] = (unsigned char)(off / CM_HMAC_OUT_LEN);
		st = cm_hmac_sha256(h, in, sizeof(in), ks);
		for (size_t i = 0; st == CM_OK && i < CM_HMAC_OUT_LEN &&
		    off + i < len; i++)
			buf[off + i] ^= ks[i];
	}
	memset(ks, 0, sizeof(ks));
	cm_hmac_free(h);
	return st;
}

cm_status
cm_scrubq_add(cm_apply *w, const char *addr, size_t len)
{
	unsigned char ak[CM_CODEC_AKEY_LEN], buf[VAL_MAX];
	MDB_val k = { sizeof(ak), ak }, v = { len + 1 + GEN_LEN, buf };
	cm_status st;
	MDB_dbi d;
	int rc;

	/* no address of the index is longer; an erasure never fails on
	 * what only its scrub queue would hold */
	if (len == 0 || len >= CM_ADDR_KEY_MAX || memchr(addr, '\0', len))
		return CM_OK;
	cm_codec_akey(w->idx->sipkey, addr, len, ak);
	memcpy(buf, addr, len);
	buf[len] = '\0';
	cm_codec_put64(buf + len + 1, (uint64_t)mdb_txn_id(w->txn));
	st = cipher(w->idx, ak, buf, v.mv_size);
	if (st != CM_OK) {
		memset(buf, 0, sizeof(buf));
		return st;
	}
	if ((rc = mdb_dbi_open(w->txn, CM_SCRUBQ_DB, MDB_CREATE, &d)) != 0)
		return cm_store_db_err(w->idx->st, "open scrubq", rc);
	if ((rc = mdb_put(w->txn, d, &k, &v, 0)) != 0)
		return cm_store_db_err(w->idx->st, "write scrubq", rc);
	return CM_OK;
}

/* Decipher row K, V into BUF (VAL_MAX octets): the address,
 * NUL-terminated, and *GEN.  CM_OK; CM_NOTFOUND: not a row (another
 * key's, or damaged); the cipher's error. */
static cm_status
decode(cm_index *idx, const MDB_val *k, const MDB_val *v,
    unsigned char *buf, uint64_t *gen)
{
	unsigned char *nul;
	cm_status st;

	if (k->mv_size != CM_CODEC_AKEY_LEN || v->mv_size == 0 ||
	    v->mv_size >= VAL_MAX)
		return CM_NOTFOUND;
	memcpy(buf, v->mv_data, v->mv_size);
	if ((st = cipher(idx, k->mv_data, buf, v->mv_size)) != CM_OK)
		return st;
	buf[v->mv_size] = '\0';
	if ((nul = memchr(buf, '\0', v->mv_size)) == NULL) {
		*gen = 0;	/* the address alone: an older row */
		return v->mv_size < CM_ADDR_KEY_MAX ? CM_OK : CM_NOTFOUND;
	}
	if (nul == buf || (size_t)(nul - buf) + 1 + GEN_LEN != v->mv_size)
		return CM_NOTFOUND;
	*gen = cm_codec_get64(nul + 1);
	return CM_OK;
}

cm_status
cm_scrubq_list_gen(cm_index *idx, cm_scrubq_gen_cb cb, void *arg)
{
	unsigned char buf[VAL_MAX];
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t gen;
	cm_rtxn *t;
	MDB_dbi d;
	cm_status st = CM_OK;
	int rc;

	if (idx == NULL || cb == NULL)
		return CM_EINVAL;
	if ((st = cm_store_rbegin(idx->st, &t)) != CM_OK)
		return st;
	rc = mdb_dbi_open(t->txn, CM_SCRUBQ_DB, 0, &d);
	if (rc == MDB_NOTFOUND) {
		cm_store_rend(idx->st, t);
		return CM_OK;
	}
	if (rc == 0)
		rc = mdb_cursor_open(t->txn, d, &c);
	if (rc != 0) {
		cm_store_rend(idx->st, t);
		return cm_store_db_err(idx->st, "open scrubq", rc);
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if ((st = decode(idx, &k, &v, buf, &gen)) == CM_NOTFOUND) {
			st = CM_OK;
			continue;	/* not under this key */
		}
		if (st != CM_OK || cb((const char *)buf, gen, arg) != 0)
			break;
	}
	memset(buf, 0, sizeof(buf));
	mdb_cursor_close(c);
	cm_store_rend(idx->st, t);
	if (st != CM_OK)
		return st;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return cm_store_db_err(idx->st, "read scrubq", rc);
	return CM_OK;
}

typedef struct list_arg {
	cm_scrubq_cb cb;
	void *arg;
} list_arg;

static int
list_cb(const char *addr, uint64_t gen, void *arg)
{
	list_arg *a = arg;

	(void)gen;
	return a->cb(addr, a->arg);
}

cm_status
cm_scrubq_list(cm_index *idx, cm_scrubq_cb cb, void *arg)
{
	list_arg a = { cb, arg };

	if (cb == NULL)
		return CM_EINVAL;
	return cm_scrubq_list_gen(idx, list_cb, &a);
}

typedef struct done_arg {
	const char *addr;
	bool check;		/* only the row of generation GEN */
	uint64_t gen;
} done_arg;

static cm_status
done_fn(cm_apply *w, void *arg)
{
	const done_arg *a = arg;
	unsigned char ak[CM_CODEC_AKEY_LEN], buf[VAL_MAX];
	MDB_val k = { sizeof(ak), ak }, v;
	uint64_t gen = 0;
	MDB_dbi d;
	int rc;

	cm_codec_akey(w->idx->sipkey, a->addr, strlen(a->addr), ak);
	rc = mdb_dbi_open(w->txn, CM_SCRUBQ_DB, 0, &d);
	if (rc == MDB_NOTFOUND)
		return CM_OK;
	if (rc == 0 && a->check) {
		/* queued again since it was listed: its scrub is to come */
		cm_status st = CM_OK;
		bool keep = false;

		rc = mdb_get(w->txn, d, &k, &v);
		if (rc == 0) {
			st = decode(w->idx, &k, &v, buf, &gen);
			keep = st != CM_OK || gen != a->gen ||
			    strcmp((char *)buf, a->addr) != 0;
			memset(buf, 0, sizeof(buf));
		}
		if (st != CM_NOTFOUND && st != CM_OK)
			return st;
		if (keep)
			return CM_OK;
	}
	if (rc == 0)
		rc = mdb_del(w->txn, d, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return cm_store_db_err(w->idx->st, "remove scrubq row", rc);
	return CM_OK;
}

static cm_status
done(cm_index *idx, const done_arg *a)
{
	cm_apply w = { 0 };
	cm_status st;

	if (idx == NULL || a->addr == NULL || a->addr[0] == '\0' ||
	    strlen(a->addr) >= CM_ADDR_KEY_MAX)
		return CM_EINVAL;
	st = cm_apply_write(idx, &w, done_fn, (void *)(uintptr_t)a, false);
	cm_apply_free(&w);
	return st;
}

cm_status
cm_scrubq_done(cm_index *idx, const char *addr)
{
	done_arg a = { addr, false, 0 };

	return done(idx, &a);
}

cm_status
cm_scrubq_done_gen(cm_index *idx, const char *addr, uint64_t gen)
{
	done_arg a = { addr, true, gen };

	return done(idx, &a);
}
