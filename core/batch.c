/*
 * batch.c - batches of events (index.h's cm_batch_*): their events and
 * strings in one arena, put in subject key order by a stable merge sort
 * of the keys, and applied in that order (cm_batch_run).
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "batch.h"
#include "codec.h"
#include "index_impl.h"
#include "index_int.h"
#include "store.h"

#define AKEY_LEN CM_CODEC_AKEY_LEN
_Static_assert(AKEY_LEN == CM_SUBJECT_KEY_LEN, "subject key length");

typedef struct bev {
	cm_event ev;
	cm_codec_evlen len;
	size_t pos;		/* position in the batch as added */
	unsigned char key[AKEY_LEN];
} bev;

typedef struct chunk {
	struct chunk *next;
	size_t used, cap;
	char data[];
} chunk;

struct cm_batch {
	bev *ev;
	size_t n, cap;
	chunk *chunks;
	bev **order;		/* the events in key order (cap entries) */
	const cm_index *sorted_for;	/* order is valid for this index */
};

cm_status
cm_batch_new(cm_batch **out)
{
	if (out == NULL)
		return CM_EINVAL;
	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return CM_ENOMEM;
	return CM_OK;
}

/* Copy S (LEN octets and its NUL) into B's arena. */
static const char *
arena_str(cm_batch *b, const char *s, size_t len)
{
	size_t n = len + 1;
	chunk *c = b->chunks;
	char *p;

	if (c == NULL || c->cap - c->used < n) {
		size_t cap = n > 65536 ? n : 65536;

		if ((c = malloc(sizeof(*c) + cap)) == NULL)
			return NULL;
		c->next = b->chunks;
		c->used = 0;
		c->cap = cap;
		b->chunks = c;
	}
	p = c->data + c->used;
	memcpy(p, s, n);
	c->used += n;
	return p;
}

cm_status
cm_batch_add(cm_batch *b, const cm_event *ev)
{
	bev *e;
	cm_status st;

	cm_codec_evlen l;

	if (b == NULL || ev == NULL)
		return CM_EINVAL;
	cm_codec_ev_lengths(ev, &l);
	if ((st = cm_codec_validate(ev, &l)) != CM_OK)
		return st;
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 256;
		bev *ne = realloc(b->ev, nc * sizeof(*ne));
		bev **no;

		if (ne == NULL)
			return CM_ENOMEM;
		b->ev = ne;
		if ((no = realloc(b->order, nc * sizeof(*no))) == NULL)
			return CM_ENOMEM;
		b->order = no;
		b->cap = nc;
	}
	b->sorted_for = NULL;
	e = &b->ev[b->n];
	e->ev = *ev;
	if (ev->kind != CM_EV_GRANT && ev->kind != CM_EV_CONFIRM &&
	    ev->kind != CM_EV_WITHDRAW && ev->kind != CM_EV_UPDATE) {
		/* ignored for this kind, and its length was not checked */
		e->ev.type = NULL;
		l.type = 0;
	}
	e->len = l;
	e->pos = b->n;
#define CP(f, n) do { if (ev->f != NULL && \
	    (e->ev.f = arena_str(b, ev->f, n)) == NULL) return CM_ENOMEM; } \
	while (0)
	CP(addr, l.addr);
	if (e->ev.type != NULL)
		CP(type, l.type);
	CP(source, l.f[0]);
	CP(basis, l.f[1]);
	CP(purpose, l.f[2]);
	CP(evidence, l.f[3]);
	CP(actor, l.f[4]);
#undef CP
	b->n++;
	return CM_OK;
}

cm_status
cm_batch_add_keyed(cm_batch *b, const cm_event *ev, const unsigned char *key)
{
	cm_status st = cm_batch_add(b, ev);

	if (st == CM_OK)
		memcpy(b->ev[b->n - 1].key, key, AKEY_LEN);
	return st;
}

void
cm_batch_mark_sorted(cm_batch *b, const cm_index *idx)
{
	for (size_t i = 0; i < b->n; i++)
		b->order[i] = &b->ev[i];
	b->sorted_for = idx;
}

size_t
cm_batch_sorted_at(const cm_batch *b, size_t i, const cm_event **ev,
    const unsigned char **key, size_t *len)
{
	const bev *e = b->order[i];

	/* visited in key order, which is random order in memory: fetch
	 * ahead what the next calls read */
	if (i + 8 < b->n)
		__builtin_prefetch(b->order[i + 8]);
	if (i + 4 < b->n) {
		const bev *f = b->order[i + 4];

		__builtin_prefetch(f->ev.addr);
		__builtin_prefetch(f->ev.source);
		__builtin_prefetch(f->ev.evidence);
	}
	*ev = &e->ev;
	*key = e->key;
	len[0] = e->len.addr;
	len[1] = e->len.type;
	memcpy(len + 2, e->len.f, sizeof(e->len.f));
	return e->pos;
}

size_t
cm_batch_count(const cm_batch *b)
{
	return b ? b->n : 0;
}

void
cm_batch_clear(cm_batch *b)
{
	chunk *c;

	if (b == NULL)
		return;
	while ((c = b->chunks) != NULL) {
		b->chunks = c->next;
		free(c);
	}
	b->n = 0;
	b->sorted_for = NULL;
}

void
cm_batch_free(cm_batch *b)
{
	if (b == NULL)
		return;
	cm_batch_clear(b);
	free(b->ev);
	free(b->order);
	free(b);
}

/* Sort key of a batch event: its subject key as two big-endian words
 * and its position; sorted stably, so events on one subject keep the
 * order they were added in. */
typedef struct skey {
	uint64_t hi, lo;
	size_t pos;
} skey;

static inline uint64_t
load_be64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static inline bool
skey_le(const skey *x, const skey *y)
{
	return x->hi < y->hi || (x->hi == y->hi && x->lo <= y->lo);
}

/* Stable bottom-up merge sort of A (N) using TMP (N); returns the array
 * holding the result.  Runs of 16 are insertion-sorted first. */
static skey *
skey_sort(skey *a, skey *tmp, size_t n)
{
	const size_t run = 16;

	for (size_t lo = 0; lo < n; lo += run) {
		size_t hi = lo + run < n ? lo + run : n;

		for (size_t i = lo + 1; i < hi; i++) {
			skey x = a[i];
			size_t j = i;

			while (j > lo && !skey_le(&a[j - 1], &x)) {
				a[j] = a[j - 1];
				j--;
			}
			a[j] = x;
		}
	}
	for (size_t w = run; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n;
			size_t hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, k = lo;

			if (mid == hi || skey_le(&a[mid - 1], &a[mid])) {
				memcpy(tmp + lo, a + lo, (hi - lo) * sizeof(*a));
				continue;
			}
			while (i < mid && j < hi)
				tmp[k++] = skey_le(&a[i], &a[j]) ? a[i++] : a[j++];
			while (i < mid)
				tmp[k++] = a[i++];
			while (j < hi)
				tmp[k++] = a[j++];
		}
		{
			skey *t = a;

			a = tmp;
			tmp = t;
		}
	}
	return a;
}

/* Put the events of B in subject key order (stable) into b->order,
 * unless they are already for IDX. */
cm_status
cm_batch_sort(cm_index *idx, cm_batch *b)
{
	skey *sk, *sorted;

	if (idx == NULL || b == NULL)
		return CM_EINVAL;
	if (b->sorted_for == idx || b->n == 0)
		return CM_OK;
	if ((sk = malloc(2 * b->n * sizeof(*sk))) == NULL)
		return CM_ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		bev *e = &b->ev[i];

		cm_codec_subject_key(idx->sipkey, e->ev.addr, e->len.addr,
		    e->key);
		sk[i].hi = load_be64(e->key);
		sk[i].lo = load_be64(e->key + 8);
		sk[i].pos = i;
	}
	sorted = skey_sort(sk, sk + b->n, b->n);
	for (size_t i = 0; i < b->n; i++)
		b->order[i] = &b->ev[sorted[i].pos];
	free(sk);
	b->sorted_for = idx;
	return CM_OK;
}

/* Tell the prefaulter how far the transaction of W has come: new pages
 * are allocated at the end of the file, one after the other. */
static void
prefault_progress(cm_apply *w)
{
	size_t n = cm_store_txn_pages(w->idx->st, w->txn);

	if (n > w->pf_pages0)
		cm_prefault_advance(w->pf, (n - w->pf_pages0) * w->psize);
}

cm_status
cm_batch_run(const cm_batch *b, cm_apply *w, size_t *failed_at)
{
	bev *const *order = b->order;

	for (size_t i = 0; i < b->n; i++) {
		bool applied;
		const bev *e = order[i];
		cm_status st;

		/* the events are visited in key order, which is random
		 * order in memory: fetch ahead what the next ones read */
		if (i + 8 < b->n)
			__builtin_prefetch(order[i + 8]);
		if (i + 4 < b->n) {
			const char *p = order[i + 4]->ev.addr;

			__builtin_prefetch(p);
			__builtin_prefetch(p + 64);
		}
		if (w->pf != NULL && i % 1024 == 0)
			prefault_progress(w);
		st = cm_apply_event(w, &e->ev, &e->len, e->key, &applied);
		if (st != CM_OK) {
			*failed_at = e->pos;
			return st;
		}
		if (applied)
			w->applied++;
		else
			w->stale++;
	}
	return CM_OK;
}

size_t
cm_batch_bytes(const cm_batch *b)
{
	size_t bytes = b->n * 256;

	for (const chunk *c = b->chunks; c != NULL; c = c->next)
		bytes += 4 * c->used;
	return bytes;
}
