/*
 * codec.h - the on-disk format of the consent index (prefix cm_codec_):
 * its constants, keys and the encoding and decoding of every value.
 * The format itself is documented at the top of codec.c.
 *
 * Pure functions on octet buffers: no LMDB call, no allocation except
 * where said (cm_codec_entry_decode grows the record array).  Private
 * to core/: index.c, apply.c, dcache.c, index_read.c, dump.c,
 * dump_restore.c, subaddr.c and migrate.c read and write the values
 * through it, so that a change of the format is a change of this file.
 */
#ifndef CM_CODEC_H
#define CM_CODEC_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "index.h"
#include "rules.h"

#define CM_CODEC_FORMAT 1	/* format octet of every value */
#define CM_CODEC_META_FORMAT 2	/* "meta" "format" written today */
#define CM_CODEC_AKEY_LEN 16	/* AKEY, HKEY prefix */
#define CM_CODEC_HKEY_LEN (CM_CODEC_AKEY_LEN + 8)	/* history key */
#define CM_CODEC_ENTRY_HDR 24
#define CM_CODEC_REC_HDR 36
#define CM_CODEC_HIST_HDR 24
#define CM_CODEC_DOM_HDR 24
#define CM_CODEC_TOMB_LEN 16
#define CM_CODEC_KIND_ENTRY 1
#define CM_CODEC_KIND_TOMB 2
#define CM_CODEC_KIND_DOMAIN 3
#define CM_CODEC_ADDR_MAX 320	/* 64 + 1 + 255 */
#define CM_CODEC_DOMAIN_MAX 255
#define CM_CODEC_SIPKEY_LEN 16

/* Little-endian loads and stores at any alignment (one instruction on
 * little-endian hosts). */
static inline uint16_t
cm_codec_get16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static inline void
cm_codec_put16(unsigned char *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint64_t
cm_codec_get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static inline void
cm_codec_put64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static inline int64_t
cm_codec_geti64(const unsigned char *p)
{
	return (int64_t)cm_codec_get64(p);
}

static inline void
cm_codec_puti64(unsigned char *p, int64_t v)
{
	cm_codec_put64(p, (uint64_t)v);
}

/* Grow buffer *B (*CAP octets) to hold WANT octets (doubling, from 256).
 * False if there is no memory (*B unchanged). */
static inline bool
cm_codec_reserve(unsigned char **b, size_t *cap, size_t want)
{
	unsigned char *nb;
	size_t nc;

	if (want <= *cap)
		return true;
	nc = *cap ? *cap : 256;
	while (nc < want)
		nc *= 2;
	if ((nb = realloc(*b, nc)) == NULL)
		return false;
	*b = nb;
	*cap = nc;
	return true;
}

/* ---- keys ---- */

/* AKEY(S) (LEN octets) under SIPKEY into OUT (CM_CODEC_AKEY_LEN). */
void cm_codec_akey(const unsigned char *sipkey, const char *s, size_t len,
    unsigned char *out);
/* HKEY(domain), the history prefix of domain S, into OUT (AKEY_LEN). */
void cm_codec_hdkey(const unsigned char *sipkey, const char *s, size_t len,
    unsigned char *out);
/* The key of an event's subject S: AKEY for an address (it has an '@'),
 * HKEY for a domain. */
void cm_codec_subject_key(const unsigned char *sipkey, const char *s,
    size_t len, unsigned char *out);
/* DKEY(domain S) into OUT (CM_CODEC_DOMAIN_MAX + 1 octets); returns its
 * length. */
size_t cm_codec_dkey(const char *s, size_t len, unsigned char *out);
/* The history key of subject prefix PREFIX (AKEY_LEN) and sequence SEQ
 * into OUT (CM_CODEC_HKEY_LEN). */
void cm_codec_hkey(const unsigned char *prefix, uint64_t seq,
    unsigned char *out);
/* The sequence number of history key K (CM_CODEC_HKEY_LEN octets). */
uint64_t cm_codec_hkey_seq(const unsigned char *k);
/* Is K (KLEN octets) an address key (AKEY)? */
bool cm_codec_is_akey(const unsigned char *k, size_t klen);
/* Position cursor C of "index" on the first address key (domain keys
 * sort before them); LMDB's code. */
int cm_codec_first_addr(MDB_cursor *c, MDB_val *key, MDB_val *val);
/* The key order of "index" and "history" (an LMDB comparator): exactly
 * LMDB's default order, faster for the fixed-size hashed keys. */
int cm_codec_key_cmp(const MDB_val *a, const MDB_val *b);

/* ---- events ---- */

/* The lengths of an event's strings, measured once (bounded: a string
 * longer than its limit measures limit + 1 and is invalid). */
typedef struct cm_codec_evlen {
	size_t addr, type;
	size_t f[5];		/* source, basis, purpose, evidence, actor */
} cm_codec_evlen;

/* Measure the strings of EV into L. */
void cm_codec_ev_lengths(const cm_event *ev, cm_codec_evlen *l);
/* Is T a type id ([a-z0-9._-], 1..CM_TYPE_ID_MAX)?  *LEN = its length. */
bool cm_codec_valid_type(const char *t, size_t *len);
/* Check EV, whose string lengths are EL, against the limits of the
 * format and the fields its kind needs.  CM_OK or CM_EINVAL. */
cm_status cm_codec_validate(const cm_event *ev, const cm_codec_evlen *el);

/* ---- entries (kind 1) ---- */

/* Octet order of two strings, the shorter first (memcmp, then length). */
static inline int
cm_codec_str_cmp(const unsigned char *a, size_t an, const unsigned char *b,
    size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn ? 1 : 0;
}
/* Check the header of the entry V (N octets): true with *NREC records,
 * the first at offset *OFF; false if V is not an entry. */
static inline bool
cm_codec_entry_header(const unsigned char *v, size_t n, size_t *nrec,
    size_t *off)
{
	size_t alen;

	if (n < CM_CODEC_ENTRY_HDR || v[0] != CM_CODEC_FORMAT ||
	    v[1] != CM_CODEC_KIND_ENTRY)
		return false;
	alen = cm_codec_get16(v + 2);
	if (alen > CM_CODEC_ADDR_MAX || CM_CODEC_ENTRY_HDR + alen > n)
		return false;
	*nrec = cm_codec_get16(v + 4);
	*off = CM_CODEC_ENTRY_HDR + alen;
	return true;
}
/* The one record decoder: the record at V[OFF..N) into R (pointers into
 * V), *NEXT = the offset after it.  False if it does not decode (length,
 * type, state or strings out of bounds). */
static inline bool
cm_codec_rec_decode(const unsigned char *v, size_t n, size_t off,
    cm_rules_rec *r, size_t *next)
{
	size_t rl, tl, p;

	if (off > n || n - off < CM_CODEC_REC_HDR)
		return false;
	rl = cm_codec_get16(v + off);
	tl = v[off + 3];
	if (rl < CM_CODEC_REC_HDR + tl + 8 || rl > n - off || tl == 0 ||
	    tl > CM_TYPE_ID_MAX || v[off + 2] > CM_STATE_WITHDRAWN ||
	    v[off + 2] == CM_STATE_NONE)
		return false;
	r->state = (cm_state)v[off + 2];
	r->granted = cm_codec_geti64(v + off + 4);
	r->confirmed = cm_codec_geti64(v + off + 12);
	r->withdrawn = cm_codec_geti64(v + off + 20);
	r->updated = cm_codec_geti64(v + off + 28);
	r->type.p = v + off + CM_CODEC_REC_HDR;
	r->type.n = tl;
	p = off + CM_CODEC_REC_HDR + tl;
	for (int i = 0; i < 4; i++) {
		size_t l;

		if (off + rl - p < 2)
			return false;
		l = cm_codec_get16(v + p);
		p += 2;
		if (l > CM_FIELD_MAX || off + rl - p < l)
			return false;
		r->f[i].p = v + p;
		r->f[i].n = l;
		p += l;
	}
	if (p != off + rl)
		return false;
	*next = p;
	return true;
}
/* Decode the whole entry V (N octets) into E (pointers into V; E's record
 * array grows as needed).  CM_OK, CM_EFORMAT (does not decode, records
 * not in type order), CM_ENOMEM. */
cm_status cm_codec_entry_decode(const unsigned char *v, size_t n,
    cm_rules_entry *e);
/* The encoded size of E. */
size_t cm_codec_entry_size(const cm_rules_entry *e);
/* Encode E into OUT (cm_codec_entry_size(E) octets). */
void cm_codec_entry_encode(const cm_rules_entry *e, unsigned char *out);
/* Encode the entry header of address A (AL octets) with NREC records
 * and the objection times into OUT (CM_CODEC_ENTRY_HDR + AL octets). */
void cm_codec_entry_head(unsigned char *out, const char *a, size_t al,
    size_t nrec, int64_t objection_us, int64_t last_grant_us);
/* Encode one record into OUT (cm_codec_rec_size octets). */
size_t cm_codec_rec_size(const cm_rules_rec *r);
void cm_codec_rec_encode(const cm_rules_rec *r, unsigned char *out);
/* Is an objection in force in an entry with these times (rules.h)? */
bool cm_codec_objection(int64_t objection_us, int64_t last_grant_us);

/* ---- tombstones (kind 2) ---- */

/* The one tombstone test: is V (N octets) a tombstone? */
static inline bool
cm_codec_is_tomb(const void *v, size_t n)
{
	const unsigned char *p = v;

	return n == CM_CODEC_TOMB_LEN && p[0] == CM_CODEC_FORMAT &&
	    p[1] == CM_CODEC_KIND_TOMB;
}
/* The erasure time of tombstone V. */
int64_t cm_codec_tomb_erased(const void *v);
/* Encode a tombstone of time ERASED_US into OUT (CM_CODEC_TOMB_LEN). */
void cm_codec_tomb_encode(unsigned char *out, int64_t erased_us);

/* ---- domains (kind 3) ---- */

typedef struct cm_codec_domain {
	bool suppressed;
	int64_t since_us, updated_us;
	const unsigned char *name, *source;	/* pointers into the value */
	size_t name_len, source_len;
} cm_codec_domain;

/* Decode domain value V (N octets) into D; with NAME != NULL, only the
 * value of that domain (LEN octets) decodes.  False if it does not. */
bool cm_codec_domain_decode(const unsigned char *v, size_t n,
    const char *name, size_t len, cm_codec_domain *d);
/* The encoded size of D, and D encoded into OUT. */
size_t cm_codec_domain_size(const cm_codec_domain *d);
void cm_codec_domain_encode(const cm_codec_domain *d, unsigned char *out);

/* ---- history events ---- */

typedef struct cm_codec_hist {
	cm_event_kind kind;
	cm_state old_state, new_state;
	int64_t at_us, recorded_us;
	/* type, source, basis, purpose, evidence, actor: into the value */
	cm_rules_str s[6];
} cm_codec_hist;

/* Decode history value V (N octets) into H.  False if it does not. */
bool cm_codec_hist_decode(const unsigned char *v, size_t n,
    cm_codec_hist *h);
/* The encoded size of H, and H encoded into OUT. */
size_t cm_codec_hist_size(const cm_codec_hist *h);
void cm_codec_hist_encode(const cm_codec_hist *h, unsigned char *out);

/* ---- "meta" ---- */

/* Decode the "format" value V (N octets): its version, 0 if none. */
unsigned cm_codec_meta_format(const unsigned char *v, size_t n);

#endif
