/*
 * dcache.c - the suppressed domains of one read snapshot (see dcache.h):
 * an open-addressing hash set of domain names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "dcache.h"

#define DC_NONE 0		/* nothing read yet */
#define DC_SET 1		/* the set holds the suppressed domains */
#define DC_OFF 2		/* look domains up in the tree */

typedef struct dcslot {
	uint32_t hash;		/* 0: empty */
	uint32_t off;		/* name in names */
	uint32_t len;
} dcslot;

struct cm_dcache {
	size_t txnid;		/* snapshot the cache describes */
	int state;
	size_t n;		/* suppressed domains in the set */
	dcslot *tab;		/* open addressing, mask + 1 slots */
	size_t mask;
	unsigned char *names;
	size_t namecap;
};

/* FNV-1a over a domain name; never 0 (0 marks an empty slot). */
static uint32_t
dc_hash(const unsigned char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ s[i]) * 16777619u;
	return h ? h : 1;
}

/* The domain at cursor position K, V: false if it does not decode or
 * K is past the domains (*END). */
static bool
dc_entry(const MDB_val *k, const MDB_val *v, bool *end,
    cm_codec_domain *d)
{
	const unsigned char *kb = k->mv_data;

	*end = k->mv_size == 0 || kb[0] != 0;
	if (*end)
		return true;
	return k->mv_size >= 2 && cm_codec_domain_decode(v->mv_data,
	    v->mv_size, (const char *)kb + 1, k->mv_size - 1, d);
}

/* Make room for N names of USED octets in all. */
static bool
dc_room(cm_dcache *c, size_t n, size_t used)
{
	size_t slots = 4;

	while (slots < 2 * n)
		slots *= 2;
	if (slots - 1 > c->mask || c->tab == NULL) {
		dcslot *nt = malloc(slots * sizeof(*nt));

		if (nt == NULL)
			return false;
		free(c->tab);
		c->tab = nt;
		c->mask = slots - 1;
	}
	memset(c->tab, 0, (c->mask + 1) * sizeof(*c->tab));
	if (used > c->namecap) {
		unsigned char *nn = malloc(used);

		if (nn == NULL)
			return false;
		free(c->names);
		c->names = nn;
		c->namecap = used;
	}
	return true;
}

/* Read the suppressed domains of TXN's snapshot; on any trouble the
 * cache is off for this snapshot. */
static void
dc_fill(cm_dcache *c, MDB_txn *txn, MDB_dbi dbi, size_t txnid)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	cm_codec_domain d;
	size_t n = 0, seen = 0, used = 0;
	bool end;
	int rc;

	c->txnid = txnid;
	c->state = DC_OFF;
	c->n = 0;
	if (mdb_cursor_open(txn, dbi, &cur) != 0)
		return;
	/* pass 1: count and check */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (!dc_entry(&k, &v, &end, &d) ||
		    (!end && ++seen > CM_DCACHE_MAX))
			goto out;
		if (end)
			break;
		if (d.suppressed) {
			n++;
			used += d.name_len;
		}
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto out;
	if (n > 0) {
		if (!dc_room(c, n, used))
			goto out;
		/* pass 2: fill (same snapshot, same entries) */
		used = 0;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			uint32_t h;
			size_t i;

			if (!dc_entry(&k, &v, &end, &d) ||
			    (!end && used + d.name_len > c->namecap))
				goto out;
			if (end)
				break;
			if (!d.suppressed)
				continue;
			h = dc_hash(d.name, d.name_len);
			for (i = h & c->mask; c->tab[i].hash != 0;
			    i = (i + 1) & c->mask)
				;
			memcpy(c->names + used, d.name, d.name_len);
			c->tab[i].hash = h;
			c->tab[i].off = (uint32_t)used;
			c->tab[i].len = (uint32_t)d.name_len;
			used += d.name_len;
		}
	}
	c->n = n;
	c->state = DC_SET;
out:
	mdb_cursor_close(cur);
}

bool
cm_dcache_lookup(cm_dcache **dc, MDB_txn *txn, MDB_dbi dbi,
    const char *domain, size_t len, bool *out)
{
	cm_dcache *c = *dc;
	size_t txnid = mdb_txn_id(txn);
	uint32_t h;

	*out = false;
	if (c == NULL && (c = *dc = calloc(1, sizeof(*c))) == NULL)
		return false;
	if (c->state == DC_NONE || c->txnid != txnid)
		dc_fill(c, txn, dbi, txnid);
	if (c->state != DC_SET)
		return false;
	if (c->n == 0)
		return true;
	h = dc_hash((const unsigned char *)domain, len);
	for (size_t i = h & c->mask; c->tab[i].hash != 0;
	    i = (i + 1) & c->mask) {
		const dcslot *e = &c->tab[i];

		if (e->hash == h && e->len == len &&
		    memcmp(c->names + e->off, domain, len) == 0) {
			*out = true;
			break;
		}
	}
	return true;
}

void
cm_dcache_free(cm_dcache *dc)
{
	if (dc == NULL)
		return;
	free(dc->tab);
	free(dc->names);
	free(dc);
}
