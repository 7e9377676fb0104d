/*
 * outbox.c - the durable local outbox of a node (outbox.h): the rows
 * written in the write transactions of the index, read, counted and
 * removed by the push.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "codec.h"
#include "index_impl.h"
#include "outbox.h"
#include "outbox_int.h"
#include "store.h"

/* Outbox keys are big-endian: their octet order is their number's. */
static inline void
key_put(unsigned char *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static inline uint64_t
key_get(const void *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

#define HDR_LEN (4 + 8 + CM_UPEVENT_UUID_LEN + CM_UPEVENT_AKEY_LEN)
#define NSTR 8

bool
cm_outbox_node_valid(const char *name)
{
	size_t n;

	if (name == NULL || (n = strlen(name)) == 0 ||
	    n > CM_UPEVENT_NODE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-'))
			return false;
	}
	return true;
}

cm_status
cm_outbox_uuid(unsigned char *out)
{
	size_t got = 0;

	while (got < CM_UPEVENT_UUID_LEN) {
		ssize_t r = getrandom(out + got, CM_UPEVENT_UUID_LEN - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return CM_EIO;
		got += (size_t)r;
	}
	out[6] = (unsigned char)((out[6] & 0x0f) | 0x40);
	out[8] = (unsigned char)((out[8] & 0x3f) | 0x80);
	return CM_OK;
}

/* ---------------------------------------------------------------- */
/* encoding */

typedef struct str {
	const char *p;
	size_t n;		/* without the NUL */
} str;

static size_t
encode(unsigned char *buf, size_t sz, const cm_upevent *ev, const str *s)
{
	size_t off = HDR_LEN;

	if (sz < HDR_LEN)
		return 0;
	buf[0] = 1;
	buf[1] = (unsigned char)ev->ev.kind;
	buf[2] = (unsigned char)ev->ev.state;
	buf[3] = 0;
	cm_codec_puti64(buf + 4, ev->ev.at_us);
	memcpy(buf + 12, ev->uuid, CM_UPEVENT_UUID_LEN);
	memcpy(buf + 12 + CM_UPEVENT_UUID_LEN, ev->akey, CM_UPEVENT_AKEY_LEN);
	for (int i = 0; i < NSTR; i++) {
		size_t l = s[i].p != NULL ? s[i].n + 1 : 0;

		if (l > 65535 || sz - off < 2 + l)
			return 0;
		buf[off] = (unsigned char)(l >> 8);
		buf[off + 1] = (unsigned char)l;
		off += 2;
		if (l > 0) {
			memcpy(buf + off, s[i].p, s[i].n);
			buf[off + s[i].n] = '\0';
			off += l;
		}
	}
	return off;
}

static size_t
enc_size(const str *s)
{
	size_t n = HDR_LEN;

	for (int i = 0; i < NSTR; i++)
		n += 2 + (s[i].p != NULL ? s[i].n + 1 : 0);
	return n;
}

static void
strs_of(const cm_upevent *ev, str *s)
{
	const char *p[NSTR] = { ev->origin, ev->ev.addr, ev->ev.type,
	    ev->ev.source, ev->ev.basis, ev->ev.purpose, ev->ev.evidence,
	    ev->ev.actor };

	for (int i = 0; i < NSTR; i++) {
		s[i].p = p[i];
		s[i].n = p[i] != NULL ? strlen(p[i]) : 0;
	}
}

size_t
cm_outbox_encode(const cm_upevent *ev, unsigned char *buf, size_t sz)
{
	str s[NSTR];

	strs_of(ev, s);
	return encode(buf, sz, ev, s);
}

bool
cm_outbox_decode(const unsigned char *v, size_t n, cm_upevent *ev)
{
	const char *p[NSTR];
	size_t off = HDR_LEN;

	if (n < HDR_LEN || v[0] != 1)
		return false;
	memset(ev, 0, sizeof(*ev));
	ev->ev.kind = (cm_event_kind)v[1];
	ev->ev.state = (cm_state)v[2];
	ev->ev.at_us = cm_codec_geti64(v + 4);
	memcpy(ev->uuid, v + 12, CM_UPEVENT_UUID_LEN);
	memcpy(ev->akey, v + 12 + CM_UPEVENT_UUID_LEN, CM_UPEVENT_AKEY_LEN);
	for (int i = 0; i < NSTR; i++) {
		size_t l;

		if (n - off < 2)
			return false;
		l = (size_t)v[off] << 8 | v[off + 1];
		off += 2;
		if (l > n - off || (l > 0 && (v[off + l - 1] != '\0' ||
		    memchr(v + off, '\0', l - 1) != NULL)))
			return false;
		p[i] = l > 0 ? (const char *)v + off : NULL;
		off += l;
	}
	if (off != n || ev->ev.kind < CM_EV_GRANT || ev->ev.kind > CM_EV_ERASE)
		return false;
	ev->origin = p[0];
	ev->ev.addr = p[1];
	ev->ev.type = p[2];
	ev->ev.source = p[3];
	ev->ev.basis = p[4];
	ev->ev.purpose = p[5];
	ev->ev.evidence = p[6];
	ev->ev.actor = p[7];
	return true;
}

/* ---------------------------------------------------------------- */
/* inside the write transactions of the index */

cm_status
cm_outbox_dbi(MDB_txn *txn, const char *name, bool create, MDB_dbi *dbi,
    int *rc)
{
	*rc = mdb_dbi_open(txn, name, create ? MDB_CREATE : 0, dbi);
	if (*rc == MDB_NOTFOUND)
		return CM_NOTFOUND;
	return *rc == 0 ? CM_OK : CM_EDB;
}

cm_status
cm_outbox_txn_begin(cm_apply *w)
{
	MDB_dbi st;
	MDB_val k = { 4, "node" }, v;
	cm_status s;
	int rc;

	w->upnode[0] = '\0';
	w->outbox_seq = 0;
	w->nforget = 0;
	s = cm_outbox_dbi(w->txn, CM_UPSTATE_DB, false, &st, &rc);
	if (s == CM_NOTFOUND)
		return CM_OK;
	if (s != CM_OK)
		return cm_store_db_err(w->idx->st, "open upstate", rc);
	rc = mdb_get(w->txn, st, &k, &v);
	if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size == 0))
		return CM_OK;
	if (rc != 0)
		return cm_store_db_err(w->idx->st, "read node", rc);
	if (v.mv_size > CM_UPEVENT_NODE_MAX)
		return cm_store_fmt_err(w->idx->st, "node name");
	memcpy(w->upnode, v.mv_data, v.mv_size);
	w->upnode[v.mv_size] = '\0';
	w->db_upstate = st;
	w->outbox_dirty = false;
	if (cm_outbox_dbi(w->txn, CM_OUTBOX_DB, true, &w->db_outbox, &rc) !=
	    CM_OK)
		return cm_store_db_err(w->idx->st, "open outbox", rc);
	return CM_OK;
}

/* The next outbox key in W's transaction. */
static cm_status
next_seq(cm_apply *w)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (w->outbox_seq != 0)
		return CM_OK;
	k.mv_size = 4;
	k.mv_data = "oseq";
	rc = mdb_get(w->txn, w->db_upstate, &k, &v);
	if (rc == 0 && v.mv_size == 8) {
		w->outbox_seq = cm_codec_get64(v.mv_data);
		return CM_OK;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return cm_store_db_err(w->idx->st, "outbox seq", rc);
	if ((rc = mdb_cursor_open(w->txn, w->db_outbox, &c)) != 0)
		return cm_store_db_err(w->idx->st, "outbox cursor", rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc == 0 && k.mv_size == 8)
		w->outbox_seq = key_get(k.mv_data) + 1;
	else if (rc == 0 || rc == MDB_NOTFOUND)
		w->outbox_seq = 1;
	else
		return cm_store_db_err(w->idx->st, "outbox last", rc);
	return CM_OK;
}

cm_status
cm_outbox_put(cm_apply *w, cm_event_kind kind, cm_state state, int64_t at,
    const unsigned char *ak, const char *addr, size_t alen, const char *type,
    size_t tlen, const cm_event *f)
{
	cm_upevent ev;
	str s[NSTR];
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;
	cm_status st;
	size_t sz;
	int rc;

	if (w->upnode[0] == '\0')
		return CM_OK;
	memset(&ev, 0, sizeof(ev));
	if ((st = cm_outbox_uuid(ev.uuid)) != CM_OK) {
		cm_store_set_err(w->idx->st, 0, "no random UUID for the "
		    "outbox");
		return st;
	}
	ev.ev.kind = kind;
	ev.ev.state = kind == CM_EV_GRANT ? state : CM_STATE_NONE;
	ev.ev.at_us = at;
	if (ak != NULL)
		memcpy(ev.akey, ak, CM_UPEVENT_AKEY_LEN);
	s[0] = (str){ w->upnode, strlen(w->upnode) };
	s[1] = (str){ addr, alen };
	s[2] = (str){ type, type != NULL ? tlen : 0 };
	{
		const char *p[5] = { f->source, f->basis, f->purpose,
		    f->evidence, f->actor };

		for (int i = 0; i < 5; i++)
			s[3 + i] = (str){ p[i], p[i] ? strlen(p[i]) : 0 };
	}
	if ((st = next_seq(w)) != CM_OK)
		return st;
	sz = enc_size(s);
	key_put(kb, w->outbox_seq);
	v.mv_size = sz;
	v.mv_data = NULL;
	if ((rc = mdb_put(w->txn, w->db_outbox, &k, &v, MDB_RESERVE |
	    MDB_APPEND)) != 0)
		return cm_store_db_err(w->idx->st, "write outbox", rc);
	if (encode(v.mv_data, sz, &ev, s) != sz) {
		cm_store_set_err(w->idx->st, 0, "outbox: event too long");
		return CM_EINVAL;
	}
	w->outbox_seq++;
	w->outbox_dirty = true;
	return CM_OK;
}

static int
akey_cmp(const void *key, const void *ent)
{
	return memcmp(key, ent, CM_UPEVENT_AKEY_LEN);
}

/* Delete the rows of the AKEYs forgotten in W's transaction: one pass. */
static cm_status
forget_run(cm_apply *w)
{
	const size_t L = CM_OUTBOX_FORGET_LEN;
	unsigned char *f = w->forget;
	size_t n = 0;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	/* sorted by AKEY: keep the greatest mark of each */
	qsort(f, w->nforget, L, akey_cmp);
	for (size_t i = 0; i < w->nforget; i++) {
		uint64_t a, b;

		if (n > 0 && memcmp(f + (n - 1) * L, f + i * L,
		    CM_UPEVENT_AKEY_LEN) == 0) {
			memcpy(&a, f + (n - 1) * L + CM_UPEVENT_AKEY_LEN, 8);
			memcpy(&b, f + i * L + CM_UPEVENT_AKEY_LEN, 8);
			if (b > a)
				memcpy(f + (n - 1) * L, f + i * L, L);
			continue;
		}
		memmove(f + n * L, f + i * L, L);
		n++;
	}
	w->nforget = 0;
	if ((rc = mdb_cursor_open(w->txn, w->db_outbox, &c)) != 0)
		return cm_store_db_err(w->idx->st, "outbox cursor", rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const unsigned char *p = v.mv_data, *hit;
		uint64_t mark;

		if (v.mv_size < HDR_LEN || k.mv_size != 8)
			continue;
		hit = bsearch(p + 12 + CM_UPEVENT_UUID_LEN, f, n, L, akey_cmp);
		if (hit == NULL)
			continue;
		memcpy(&mark, hit + CM_UPEVENT_AKEY_LEN, 8);
		if (key_get(k.mv_data) >= mark)
			continue;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return cm_store_db_err(w->idx->st, "outbox forget", rc);
	return CM_OK;
}

cm_status
cm_outbox_txn_finish(cm_apply *w)
{
	unsigned char b[8];
	MDB_val k = { 4, "oseq" }, v = { 8, b };
	cm_status st;
	int rc;

	if (w->upnode[0] == '\0' || !w->outbox_dirty)
		return CM_OK;
	if (w->nforget > 0 && (st = forget_run(w)) != CM_OK)
		return st;
	cm_codec_put64(b, w->outbox_seq);
	if ((rc = mdb_put(w->txn, w->db_upstate, &k, &v, 0)) != 0)
		return cm_store_db_err(w->idx->st, "write outbox seq", rc);
	w->outbox_dirty = false;
	return CM_OK;
}

cm_status
cm_outbox_forget(cm_apply *w, const unsigned char *ak)
{
	const size_t L = CM_OUTBOX_FORGET_LEN;
	cm_status st;

	if (w->upnode[0] == '\0')
		return CM_OK;
	if ((st = next_seq(w)) != CM_OK)
		return st;
	if (w->nforget == w->capforget) {
		size_t nc = w->capforget ? w->capforget * 2 : 16;
		unsigned char *nf = realloc(w->forget, nc * L);

		if (nf == NULL)
			return CM_ENOMEM;
		w->forget = nf;
		w->capforget = nc;
	}
	memcpy(w->forget + w->nforget * L, ak, CM_UPEVENT_AKEY_LEN);
	memcpy(w->forget + w->nforget * L + CM_UPEVENT_AKEY_LEN,
	    &w->outbox_seq, 8);
	w->nforget++;
	w->outbox_dirty = true;
	return CM_OK;
}

/* ---------------------------------------------------------------- */
/* the public calls */

typedef struct attach_arg {
	cm_index *idx;
	const char *node;
} attach_arg;

/* Has the index followed the shared store (a position stored)? */
static bool
followed(MDB_txn *txn, MDB_dbi d)
{
	MDB_val k = { 3, "pos" }, v;

	return mdb_get(txn, d, &k, &v) == 0 && v.mv_size == 8 &&
	    cm_codec_geti64(v.mv_data) != 0;
}

/* Does the index hold anything (an entry, a tombstone, a domain)?  In
 * doubt (an error), yes. */
static bool
holds_data(MDB_txn *txn, cm_index *idx)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (mdb_cursor_open(txn, idx->db_index, &c) != 0)
		return true;
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	mdb_cursor_close(c);
	return rc != MDB_NOTFOUND;
}

static cm_status
attach_fn(MDB_txn *txn, void *arg)
{
	attach_arg *a = arg;
	MDB_dbi d, ob;
	MDB_val k = { 4, "node" }, v;
	int rc;

	if (cm_outbox_dbi(txn, CM_UPSTATE_DB, true, &d, &rc) != CM_OK ||
	    cm_outbox_dbi(txn, CM_OUTBOX_DB, true, &ob, &rc) != CM_OK)
		return cm_store_db_err(a->idx->st, "open upstate", rc);
	if (a->node == NULL) {
		rc = mdb_del(txn, d, &k, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	} else if ((rc = mdb_get(txn, d, &k, &v)) == MDB_NOTFOUND &&
	    !followed(txn, d) && holds_data(txn, a->idx)) {
		cm_store_set_err(a->idx->st, 0, "the index holds consent data "
		    "recorded before it was attached to the shared store: "
		    "seed the shared store with it first (consentctl sync "
		    "--seed)");
		return CM_EEXIST;
	} else if (rc != 0 && rc != MDB_NOTFOUND) {
		return cm_store_db_err(a->idx->st, "read node", rc);
	} else {
		v.mv_size = strlen(a->node);
		v.mv_data = (void *)(uintptr_t)a->node;
		rc = mdb_put(txn, d, &k, &v, 0);
	}
	return rc == 0 ? CM_OK : cm_store_db_err(a->idx->st, "write node", rc);
}

cm_status
cm_outbox_attach(cm_index *idx, const char *node)
{
	attach_arg a = { idx, node };
	char cur[CM_UPEVENT_NODE_MAX + 1];
	cm_status st;

	if (idx == NULL || (node != NULL && !cm_outbox_node_valid(node)))
		return CM_EINVAL;
	if (idx->readonly)
		return CM_EPERM;
	st = cm_outbox_node(idx, cur, sizeof(cur));
	if (st == CM_OK && node != NULL && strcmp(cur, node) == 0)
		return CM_OK;
	if (st == CM_NOTFOUND && node == NULL)
		return CM_OK;
	cm_store_writer_lock(idx->st);
	st = cm_store_write(idx->st, attach_fn, &a, false);
	cm_store_writer_unlock(idx->st);
	return st;
}

/* Run FN in a read snapshot of IDX with database NAME open (CM_NOTFOUND
 * if it does not exist). */
typedef cm_status (*rfn)(cm_index *idx, MDB_txn *txn, MDB_dbi dbi,
    void *arg);

static cm_status
with_read(cm_index *idx, const char *name, rfn fn, void *arg)
{
	cm_rtxn *t;
	MDB_dbi d;
	cm_status st;
	int rc;

	if ((st = cm_store_rbegin(idx->st, &t)) != CM_OK)
		return st;
	st = cm_outbox_dbi(t->txn, name, false, &d, &rc);
	if (st == CM_EDB)
		st = cm_store_db_err(idx->st, name, rc);
	if (st == CM_OK)
		st = fn(idx, t->txn, d, arg);
	cm_store_rend(idx->st, t);
	return st;
}

typedef struct node_arg {
	char *buf;
	size_t sz;
} node_arg;

static cm_status
node_fn(cm_index *idx, MDB_txn *txn, MDB_dbi d, void *arg)
{
	node_arg *a = arg;
	MDB_val k = { 4, "node" }, v;
	int rc = mdb_get(txn, d, &k, &v);

	if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size == 0))
		return CM_NOTFOUND;
	if (rc != 0)
		return cm_store_db_err(idx->st, "read node", rc);
	if (v.mv_size >= a->sz)
		return cm_store_fmt_err(idx->st, "node name");
	memcpy(a->buf, v.mv_data, v.mv_size);
	a->buf[v.mv_size] = '\0';
	return CM_OK;
}

cm_status
cm_outbox_node(cm_index *idx, char *buf, size_t sz)
{
	node_arg a = { buf, sz };

	if (idx == NULL || buf == NULL || sz == 0)
		return CM_EINVAL;
	buf[0] = '\0';
	return with_read(idx, CM_UPSTATE_DB, node_fn, &a);
}

typedef struct read_arg {
	uint64_t after;
	size_t limit;
	cm_outbox_cb cb;
	void *arg;
	size_t n;
	int64_t oldest;
} read_arg;

static cm_status
read_fn(cm_index *idx, MDB_txn *txn, MDB_dbi d, void *arg)
{
	read_arg *a = arg;
	unsigned char kb[8];
	MDB_cursor *c;
	MDB_val k = { 8, kb }, v;
	cm_status st = CM_OK;
	size_t n = 0;
	int rc;

	key_put(kb, a->after + 1);
	if ((rc = mdb_cursor_open(txn, d, &c)) != 0)
		return cm_store_db_err(idx->st, "outbox cursor", rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		cm_upevent ev;

		if (a->limit != 0 && n >= a->limit)
			break;
		if (k.mv_size != 8 || !cm_outbox_decode(v.mv_data,
		    v.mv_size, &ev)) {
			st = cm_store_fmt_err(idx->st, "outbox row");
			break;
		}
		n++;
		if (a->cb(key_get(k.mv_data), &ev, a->arg) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (st == CM_OK && rc != 0 && rc != MDB_NOTFOUND)
		st = cm_store_db_err(idx->st, "read outbox", rc);
	return st;
}

cm_status
cm_outbox_read(cm_index *idx, uint64_t after, size_t limit, cm_outbox_cb cb,
    void *arg)
{
	read_arg a = { after, limit, cb, arg, 0, 0 };
	cm_status st;

	if (idx == NULL || cb == NULL)
		return CM_EINVAL;
	st = with_read(idx, CM_OUTBOX_DB, read_fn, &a);
	return st == CM_NOTFOUND ? CM_OK : st;
}

typedef struct remove_arg {
	cm_index *idx;
	uint64_t upto;
} remove_arg;

static cm_status
remove_fn(MDB_txn *txn, void *arg)
{
	remove_arg *a = arg;
	MDB_cursor *c;
	MDB_val k, v;
	MDB_dbi d;
	cm_status st;
	int rc;

	st = cm_outbox_dbi(txn, CM_OUTBOX_DB, false, &d, &rc);
	if (st == CM_NOTFOUND)
		return CM_OK;
	if (st != CM_OK)
		return cm_store_db_err(a->idx->st, "open outbox", rc);
	if ((rc = mdb_cursor_open(txn, d, &c)) != 0)
		return cm_store_db_err(a->idx->st, "outbox cursor", rc);
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
		if (k.mv_size == 8 && key_get(k.mv_data) > a->upto)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return cm_store_db_err(a->idx->st, "remove outbox rows", rc);
	return CM_OK;
}

cm_status
cm_outbox_remove(cm_index *idx, uint64_t upto)
{
	remove_arg a = { idx, upto };
	cm_status st;

	if (idx == NULL)
		return CM_EINVAL;
	if (idx->readonly)
		return CM_EPERM;
	cm_store_writer_lock(idx->st);
	st = cm_store_write(idx->st, remove_fn, &a, false);
	cm_store_writer_unlock(idx->st);
	return st;
}

static cm_status
count_fn(cm_index *idx, MDB_txn *txn, MDB_dbi d, void *arg)
{
	read_arg *a = arg;
	MDB_stat ms;
	MDB_cursor *c;
	MDB_val k, v;
	cm_upevent ev;
	int rc;

	if ((rc = mdb_stat(txn, d, &ms)) != 0)
		return cm_store_db_err(idx->st, "outbox stat", rc);
	a->n = ms.ms_entries;
	if ((rc = mdb_cursor_open(txn, d, &c)) != 0)
		return cm_store_db_err(idx->st, "outbox cursor", rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	if (rc == 0 && cm_outbox_decode(v.mv_data, v.mv_size, &ev))
		a->oldest = ev.ev.at_us;
	mdb_cursor_close(c);
	return CM_OK;
}

cm_status
cm_outbox_count(cm_index *idx, size_t *n, int64_t *oldest_us)
{
	read_arg a = { 0 };
	cm_status st;

	if (idx == NULL || n == NULL)
		return CM_EINVAL;
	st = with_read(idx, CM_OUTBOX_DB, count_fn, &a);
	if (st == CM_NOTFOUND)
		st = CM_OK;
	*n = a.n;
	if (oldest_us != NULL)
		*oldest_us = a.oldest;
	return st;
}
