/*
 * dump.c - lossless dump and restore of a whole consent index (see
 * dump.h).
 *
 * The values are read and written with codec.h in the on-disk format
 * version 1 documented in codec.c (entries, tombstones, domains,
 * history events); any other version or a value that does not decode
 * is CM_EFORMAT, never skipped.  Index access goes through the raw
 * calls of index_int.h: a read snapshot for the dump, one import
 * transaction for the restore.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump.h"
#include "dump_int.h"
#include "index_int.h"
#include "erasekey.h"

_Static_assert(CM_DUMP_KEY_LEN == CM_ERASEKEY_LEN, "erasure key length");

/* ---------------------------------------------------------------- */
/* reading */

typedef struct rd {
	cm_index *idx;
	cm_rtxn *t;
	cm_dump_item_cb cb;
	void *arg;
	cm_status st;		/* first failure */
	bool stopped;		/* the callback asked to stop */
	char *sbuf;		/* NUL-terminated copies of strings */
	size_t scap, sused;
	unsigned char *dk;	/* history prefixes of the domains */
	size_t ndk, dkcap;
	unsigned char prefix[HASH_LEN];	/* events: their subject */
	const char *name;
	bool orphans;		/* last pass: only subjects without entry */
	bool have_last;
	unsigned char last[HASH_LEN];	/* last prefix of that pass */
	bool last_skip;
	cm_dump_counts n;
} rd;

/* Copy LEN octets at P as a NUL-terminated string in R's buffer at *OFF
 * (an offset: the buffer may move); false on NUL inside or no memory. */
static bool
sdup(rd *r, const unsigned char *p, size_t len, size_t *off)
{
	if (memchr(p, '\0', len) != NULL) {
		r->st = CM_EFORMAT;
		return false;
	}
	if (!cm_codec_reserve((unsigned char **)&r->sbuf, &r->scap,
	    r->sused + len + 1)) {
		r->st = CM_ENOMEM;
		return false;
	}
	memcpy(r->sbuf + r->sused, p, len);
	r->sbuf[r->sused + len] = '\0';
	*off = r->sused;
	r->sused += len + 1;
	return true;
}

static int
emit(rd *r, const cm_dump_item *it)
{
	if (r->cb(it, r->arg) != 0) {
		r->stopped = true;
		return 1;
	}
	return 0;
}

static int
fail(rd *r, cm_status st)
{
	if (r->st == CM_OK)
		r->st = st;
	return 1;
}

static int
hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, HASH_LEN);
}

/* One history event under R->prefix (or any prefix in the orphan pass). */
static int
event_cb(const unsigned char *k, size_t kl, const unsigned char *v,
    size_t vl, void *arg)
{
	rd *r = arg;
	cm_dump_item it;
	cm_codec_hist h;
	size_t so[6];

	if (kl != HASH_LEN + 8)
		return fail(r, CM_EFORMAT);
	if (!r->orphans && memcmp(k, r->prefix, HASH_LEN) != 0)
		return 1;	/* past this subject's history */
	if (r->orphans && (!r->have_last || memcmp(k, r->last, HASH_LEN))) {
		const unsigned char *ev;
		size_t evl;
		cm_status st;

		memcpy(r->last, k, HASH_LEN);
		r->have_last = true;
		if (k[0] & 0x80) {
			st = cm_index_rget(r->idx, r->t, CM_RAW_INDEX, k,
			    HASH_LEN, &ev, &evl);
			if (st != CM_OK && st != CM_NOTFOUND)
				return fail(r, st);
			r->last_skip = st == CM_OK && evl >= 2 &&
			    ev[1] == CM_CODEC_KIND_ENTRY;
		} else {
			r->last_skip = bsearch(k, r->dk, r->ndk, HASH_LEN,
			    hash_cmp) != NULL;
		}
	}
	if (r->orphans && r->last_skip)
		return 0;
	if (!cm_codec_hist_decode(v, vl, &h))
		return fail(r, CM_EFORMAT);
	r->sused = 0;
	for (int i = 0; i < 6; i++)
		if (!sdup(r, h.s[i].p, h.s[i].n, &so[i]))
			return 1;
	memset(&it, 0, sizeof(it));
	it.kind = CM_DUMP_EVENT;
	it.name = r->orphans ? NULL : r->name;
	memcpy(it.hash, k, HASH_LEN);
	it.ev.seq = cm_codec_hkey_seq(k);
	it.ev.kind = h.kind;
	it.ev.old_state = h.old_state;
	it.ev.new_state = h.new_state;
	it.ev.at_us = h.at_us;
	it.ev.recorded_us = h.recorded_us;
	it.ev.type = r->sbuf + so[0];
	it.ev.source = r->sbuf + so[1];
	it.ev.basis = r->sbuf + so[2];
	it.ev.purpose = r->sbuf + so[3];
	it.ev.evidence = r->sbuf + so[4];
	it.ev.actor = r->sbuf + so[5];
	r->n.events++;
	return emit(r, &it);
}

/* The history of the subject NAME (keyed PREFIX), oldest first. */
static int
history(rd *r, const unsigned char *prefix, const char *name)
{
	unsigned char from[HASH_LEN + 8] = { 0 };
	cm_status st;

	memcpy(from, prefix, HASH_LEN);
	memcpy(r->prefix, prefix, HASH_LEN);
	r->name = name;
	st = cm_index_rscan(r->idx, r->t, CM_RAW_HISTORY, from, sizeof(from),
	    event_cb, r);
	if (st != CM_OK)
		return fail(r, st);
	return r->st != CM_OK || r->stopped;
}

static int
domain_item(rd *r, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl)
{
	cm_dump_item it;
	cm_codec_domain d;
	size_t dl, no, so;
	unsigned char hk[HASH_LEN];

	if (!cm_codec_domain_decode(v, vl, (const char *)k + 1, kl - 1, &d) ||
	    memchr(d.name, '@', d.name_len) != NULL)
		return fail(r, CM_EFORMAT);
	dl = d.name_len;
	r->sused = 0;
	if (!sdup(r, d.name, dl, &no) ||
	    !sdup(r, d.source, d.source_len, &so))
		return 1;
	memset(&it, 0, sizeof(it));
	it.kind = CM_DUMP_DOMAIN;
	it.suppressed = d.suppressed;
	it.since_us = d.since_us;
	it.updated_us = d.updated_us;
	it.name = r->sbuf + no;
	it.source = r->sbuf + so;
	r->n.domains++;
	if (emit(r, &it))
		return 1;
	cm_index_subject_key(r->idx, r->sbuf + no, dl, hk);
	if (!cm_codec_reserve(&r->dk, &r->dkcap, (r->ndk + 1) * HASH_LEN))
		return fail(r, CM_ENOMEM);
	memcpy(r->dk + r->ndk++ * HASH_LEN, hk, HASH_LEN);
	/* the name is copied again: the events reuse the buffer */
	{
		char name[CM_CODEC_DOMAIN_MAX + 1];

		memcpy(name, d.name, dl);
		name[dl] = '\0';
		return history(r, hk, name);
	}
}

static int
entry_item(rd *r, const unsigned char *k, const unsigned char *v,
    size_t vl)
{
	cm_dump_item it;
	size_t al, nrec, off, so[4], to;
	char addr[CM_CODEC_ADDR_MAX + 1];
	cm_rules_rec d;

	if (!cm_codec_entry_header(v, vl, &nrec, &off))
		return fail(r, CM_EFORMAT);
	al = off - CM_CODEC_ENTRY_HDR;
	if (al == 0 || memchr(v + CM_CODEC_ENTRY_HDR, '@', al) == NULL ||
	    memchr(v + CM_CODEC_ENTRY_HDR, '\0', al) != NULL)
		return fail(r, CM_EFORMAT);
	memcpy(addr, v + CM_CODEC_ENTRY_HDR, al);
	addr[al] = '\0';
	memset(&it, 0, sizeof(it));
	it.kind = CM_DUMP_ENTRY;
	it.name = addr;
	it.objection_us = cm_codec_geti64(v + 8);
	it.last_grant_us = cm_codec_geti64(v + 16);
	it.nrecords = nrec;
	r->n.entries++;
	if (emit(r, &it))
		return 1;
	for (size_t i = 0; i < nrec; i++) {
		if (!cm_codec_rec_decode(v, vl, off, &d, &off))
			return fail(r, CM_EFORMAT);
		memset(&it, 0, sizeof(it));
		it.kind = CM_DUMP_RECORD;
		it.rec.state = d.state;
		it.rec.granted_us = d.granted;
		it.rec.confirmed_us = d.confirmed;
		it.rec.withdrawn_us = d.withdrawn;
		it.rec.updated_us = d.updated;
		r->sused = 0;
		if (!sdup(r, d.type.p, d.type.n, &to))
			return 1;
		for (int j = 0; j < 4; j++)
			if (!sdup(r, d.f[j].p, d.f[j].n, &so[j]))
				return 1;
		it.rec.type = r->sbuf + to;
		it.rec.source = r->sbuf + so[0];
		it.rec.basis = r->sbuf + so[1];
		it.rec.purpose = r->sbuf + so[2];
		it.rec.evidence = r->sbuf + so[3];
		r->n.records++;
		if (emit(r, &it))
			return 1;
	}
	if (off != vl)
		return fail(r, CM_EFORMAT);
	return history(r, k, addr);
}

static int
index_cb(const unsigned char *k, size_t kl, const unsigned char *v,
    size_t vl, void *arg)
{
	rd *r = arg;
	cm_dump_item it;

	if (kl >= 2 && k[0] == 0)
		return domain_item(r, k, kl, v, vl);
	if (!cm_codec_is_akey(k, kl) || vl < 2 || v[0] != CM_CODEC_FORMAT)
		return fail(r, CM_EFORMAT);
	if (v[1] == CM_CODEC_KIND_ENTRY)
		return entry_item(r, k, v, vl);
	if (!cm_codec_is_tomb(v, vl))
		return fail(r, CM_EFORMAT);
	memset(&it, 0, sizeof(it));
	it.kind = CM_DUMP_TOMBSTONE;
	memcpy(it.hash, k, HASH_LEN);
	it.erased_us = cm_codec_tomb_erased(v);
	r->n.tombstones++;
	return emit(r, &it);
}

static cm_status
read_header(rd *r, cm_dump_header *h)
{
	const unsigned char *v;
	size_t vl;
	cm_status st;

	memset(h, 0, sizeof(*h));
	if ((st = cm_index_rget(r->idx, r->t, CM_RAW_META, "format", 6, &v,
	    &vl)) != CM_OK)
		return st == CM_NOTFOUND ? CM_EFORMAT : st;
	if (cm_codec_meta_format(v, vl) != CM_INDEX_META_FORMAT)
		return CM_EFORMAT;
	h->index_format = CM_INDEX_META_FORMAT;
	if ((st = cm_index_rget(r->idx, r->t, CM_RAW_META, "seq", 3, &v,
	    &vl)) != CM_OK)
		return st == CM_NOTFOUND ? CM_EFORMAT : st;
	if (vl != 8)
		return CM_EFORMAT;
	h->next_seq = cm_codec_get64(v);
	return cm_index_erasure_key(r->idx, h->key);
}

cm_status
cm_dump_read(cm_index *idx, cm_dump_header_cb hcb, cm_dump_item_cb icb,
    void *arg, cm_dump_counts *counts)
{
	cm_dump_header h;
	rd r;
	cm_status st;

	if (counts != NULL)
		memset(counts, 0, sizeof(*counts));
	if (idx == NULL || hcb == NULL || icb == NULL)
		return CM_EINVAL;
	memset(&r, 0, sizeof(r));
	r.idx = idx;
	r.cb = icb;
	r.arg = arg;
	if ((st = cm_index_rbegin(idx, &r.t)) != CM_OK)
		return st;
	st = read_header(&r, &h);
	if (st == CM_OK && hcb(&h, arg) != 0)
		r.stopped = true;
	memset(h.key, 0, sizeof(h.key));
	if (st == CM_OK && !r.stopped)
		st = cm_index_rscan(idx, r.t, CM_RAW_INDEX, NULL, 0, index_cb,
		    &r);
	if (st == CM_OK && r.st == CM_OK && !r.stopped) {
		if (r.ndk > 1)
			qsort(r.dk, r.ndk, HASH_LEN, hash_cmp);
		r.orphans = true;
		st = cm_index_rscan(idx, r.t, CM_RAW_HISTORY, NULL, 0,
		    event_cb, &r);
	}
	cm_index_rend(idx, r.t);
	if (st == CM_OK)
		st = r.st;
	if (st == CM_OK && r.stopped)
		st = CM_EINVAL;
	if (counts != NULL)
		*counts = r.n;
	free(r.sbuf);
	free(r.dk);
	return st;
}

/* ---------------------------------------------------------------- */
/* the key file of a new index */

cm_status
cm_dump_install_key(const char *dir, const unsigned char *key)
{
	unsigned char old[CM_DUMP_KEY_LEN];
	char err[256];
	cm_status st;

	if (dir == NULL || key == NULL)
		return CM_EINVAL;
	if ((st = cm_erasekey_install(dir, key, err, sizeof(err))) != CM_EEXIST)
		return st;
	/* the key file of an earlier attempt: the same key is fine */
	if ((st = cm_erasekey_load(dir, false, old, err, sizeof(err))) != CM_OK)
		return st == CM_EFORMAT ? CM_EEXIST : st;
	st = memcmp(old, key, CM_DUMP_KEY_LEN) == 0 ? CM_OK : CM_EEXIST;
	memset(old, 0, sizeof(old));
	return st;
}
