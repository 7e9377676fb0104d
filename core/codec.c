/*
 * codec.c - the on-disk format of the consent index: every encode and
 * decode of its keys and values (codec.h).
 *
 * ON-DISK FORMAT, version 1
 * =========================
 *
 * Directory DIR holds:
 *   data.mdb, lock.mdb  one LMDB environment (mode 0600)
 *   erasure.key         32 random octets (mode 0600), created with the
 *                       index.  It keys both the address lookup hash and
 *                       the tombstones: it is part of the index and must
 *                       be backed up with data.mdb.
 *
 * All integers are little-endian unless said otherwise; times are int64
 * microseconds since the epoch; 0 means "never".  A "str" is a u16
 * length followed by that many octets (no NUL).
 *
 * AKEY(s) = SipHash-2-4-128(K, s), K = first 16 octets of
 * HMAC-SHA256(erasure key, "consent-milter address key v1").  Addresses
 * are never B-tree keys: LMDB keeps copies of keys in branch pages after
 * the entry is deleted, which would leave erased addresses in the file.
 *
 * AKEY(address) has its first octet's top bit set.  DKEY(domain) = one
 * zero octet followed by the domain itself (domains are not personal
 * data and need no erasure), so domain entries sort before every address
 * (a few hot pages at the left edge of the tree) and in name order.
 * HKEY(domain), the history prefix of a domain, is one zero octet
 * followed by the first 15 octets of SipHash(K, domain).
 *
 * Named databases:
 *
 * "meta"     "format"   -> u32 format version (2).  The value layouts
 *                          below are those of version 1 (their format
 *                          octet stays 1); version 2 says that every
 *                          AKEY is of an address normalized with Unicode
 *                          NFC and case folding and resolved routing
 *                          forms (addr.h).  A version 1 index is opened
 *                          only with cm_index_opts.upgrade, for
 *                          cm_migrate_keys (migrate.h), which re-keys it.
 *            "seq"      -> u64 next history sequence number
 *            "keycheck" -> first 8 octets of HMAC(erasure key,
 *                          "consent-milter key check"): refuses an index
 *                          opened with another key file
 *
 * "index"    everything a decision reads, so that a decision touches one
 *            named database (LMDB refreshes each named database's root
 *            once per read transaction).  Values start with u8 format (1)
 *            and u8 kind.
 *
 *   AKEY(address) -> kind 1, an entry:
 *              u8  format (1)
 *              u8  kind (1)
 *              u16 address length A
 *              u16 number of records N
 *              u16 reserved (0)
 *              i64 objection_us   time of the latest objection (OBJECT)
 *              i64 last_grant_us  time of the latest applied GRANT (kept;
 *                                 no longer read by the rules)
 *              A octets           the normalized address
 *              N records, sorted by type (octet order, shorter first):
 *                u16 record length (including this field)
 *                u8  state (cm_state)
 *                u8  type length T (1..64)
 *                i64 granted_us, confirmed_us, withdrawn_us, updated_us
 *                T octets type
 *                str source, str basis, str purpose, str evidence
 *            An objection is recorded iff objection_us != 0.  It denies
 *            every type except one whose record is granted or pending
 *            with granted_us > objection_us (a later grant lifts it for
 *            that type only; rules.h).  Indexes written when one grant
 *            lifted the objection for every type (last_grant_us >
 *            objection_us) are read under the new rule: the format is
 *            unchanged.  An entry exists iff N > 0 or objection_us != 0.
 *
 *   AKEY(address) -> kind 2, a tombstone of an erased address:
 *              u8 format (1), u8 kind (2), 6 octets reserved,
 *              i64 erased_us.
 *            The tombstone takes the place of the entry under the same
 *            keyed hash: it exists only for an address without an
 *            entry, and one lookup answers "entry, erased or nothing".
 *            The key is a 128-bit keyed PRF of the address (SipHash-2-4
 *            under a key derived from erasure.key): without the key file
 *            an address cannot be recovered or even tested.
 *
 *   DKEY(domain) -> kind 3, a domain:
 *              u8 format (1), u8 kind (3), u8 suppressed (0/1), u8 0,
 *              u16 domain length D, u16 source length S, i64 since_us
 *              (time of the suppression), i64 updated_us (last domain
 *              event), D octets domain, S octets source.
 *            An unsuppressed domain keeps its entry (suppressed 0) so
 *            that an older suppression arriving later stays stale.
 *
 * "history"  AKEY(address) or HKEY(domain) (16) + u64 BIG-endian sequence
 *            (8) -> u8 format (1), u8 kind, u8 old state, u8 new state,
 *               u32 reserved, i64 at_us, i64 recorded_us,
 *               str type, str source, str basis, str purpose,
 *               str evidence, str actor
 *            Address-wide events have type "": their states describe the
 *            objection (WITHDRAWN = recorded, NONE = none):
 *            OBJECT  NONE/WITHDRAWN -> WITHDRAWN, followed by one OBJECT
 *                    event per record it withdrew (type set);
 *            GRANT   WITHDRAWN -> NONE: written by earlier versions when
 *                    a newer grant lifted the objection for every type
 *                    (no longer written: a grant lifts it for its own
 *                    type, which its GRANT event shows).
 *            Domain events are kept under HKEY(domain) with type "".
 *
 * EVENT RULES: rules.h states them and rules.c applies them to the
 *   decoded entry (cm_rules_apply); apply.c loads the entry (or the
 *   tombstone), calls it and writes the history events and the entry it
 *   returns.  Every event is first refused (CM_EFUTURE) when dated more
 *   than the index's clock skew after now.  ERASE and the domain events
 *   are done in apply.c:
 *   ERASE     replaces the entry by a tombstone (the entry's value is
 *             zeroed first) and deletes the history (values zeroed
 *             before deletion); keeps the newest erasure time; then
 *             scrubs the file: free pages no reader can see are zeroed,
 *             and copies of the address in the unused gap of live pages
 *             are zeroed.  Never stale.  With ev->subaddr_sep, the
 *             same for every stored sub-address (subaddr.c).
 *   (UN)SUPPRESS_DOMAIN  stale if at < updated_us, or at == updated_us
 *             and the domain is already suppressed (suppression wins;
 *             cm_rules_domain_applies).
 *
 * DUMP: dump.c and dump_restore.c read and write these values too (a
 * lossless backup, through the raw hooks of index_int.h) with the
 * functions of this file.
 */#include <string.h>

#include "codec.h"
#include "siphash.h"

_Static_assert(CM_CODEC_SIPKEY_LEN == CM_SIPHASH_KEY_LEN, "sip key");
_Static_assert(CM_CODEC_AKEY_LEN == CM_SIPHASH_OUT_LEN, "address key");

#define get16 cm_codec_get16
#define put16 cm_codec_put16
#define geti64 cm_codec_geti64
#define puti64 cm_codec_puti64

/* ---------------------------------------------------------------- */
/* keys */

void
cm_codec_akey(const unsigned char *sipkey, const char *s, size_t len,
    unsigned char *out)
{
	cm_siphash128(sipkey, s, len, out);
	out[0] |= 0x80;
}

void
cm_codec_hdkey(const unsigned char *sipkey, const char *s, size_t len,
    unsigned char *out)
{
	unsigned char h[CM_SIPHASH_OUT_LEN];

	cm_siphash128(sipkey, s, len, h);
	out[0] = 0;
	memcpy(out + 1, h, CM_CODEC_AKEY_LEN - 1);
}

void
cm_codec_subject_key(const unsigned char *sipkey, const char *s, size_t len,
    unsigned char *out)
{
	if (memchr(s, '@', len) != NULL)
		cm_codec_akey(sipkey, s, len, out);
	else
		cm_codec_hdkey(sipkey, s, len, out);
}

size_t
cm_codec_dkey(const char *s, size_t len, unsigned char *out)
{
	out[0] = 0;
	memcpy(out + 1, s, len);
	return len + 1;
}

void
cm_codec_hkey(const unsigned char *prefix, uint64_t seq, unsigned char *out)
{
	memcpy(out, prefix, CM_CODEC_AKEY_LEN);
	for (int i = 0; i < 8; i++)
		out[CM_CODEC_AKEY_LEN + i] =
		    (unsigned char)(seq >> (56 - 8 * i));
}

uint64_t
cm_codec_hkey_seq(const unsigned char *k)
{
	uint64_t seq = 0;

	for (int i = 0; i < 8; i++)
		seq = seq << 8 | k[CM_CODEC_AKEY_LEN + i];
	return seq;
}

bool
cm_codec_is_akey(const unsigned char *k, size_t klen)
{
	return klen == CM_CODEC_AKEY_LEN && (k[0] & 0x80) != 0;
}

int
cm_codec_first_addr(MDB_cursor *c, MDB_val *key, MDB_val *val)
{
	static const unsigned char lo[CM_CODEC_AKEY_LEN] = { 0x80 };

	key->mv_data = (void *)(uintptr_t)lo;
	key->mv_size = CM_CODEC_AKEY_LEN;
	return mdb_cursor_get(c, key, val, MDB_SET_RANGE);
}

/*
 * Key order of "index" and "history": exactly LMDB's default (octets,
 * then the shorter key first), so any tool reading the files with the
 * default order sees the same tree; only faster for the fixed-size
 * hashed keys (16 and 24 octets), compared as big-endian words instead
 * of through memcmp().
 */
int
cm_codec_key_cmp(const MDB_val *a, const MDB_val *b)
{
	const unsigned char *x = a->mv_data, *y = b->mv_data;
	size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
	uint64_t p, q;
	int c;

	if (n >= 8) {
		memcpy(&p, x, 8);
		memcpy(&q, y, 8);
		if (p != q)
			return be64toh(p) < be64toh(q) ? -1 : 1;
		if (n >= 16 && a->mv_size == b->mv_size &&
		    (a->mv_size == CM_CODEC_AKEY_LEN ||
		    a->mv_size == CM_CODEC_HKEY_LEN)) {
			memcpy(&p, x + 8, 8);
			memcpy(&q, y + 8, 8);
			if (p != q)
				return be64toh(p) < be64toh(q) ? -1 : 1;
			if (a->mv_size == CM_CODEC_AKEY_LEN)
				return 0;
			memcpy(&p, x + 16, 8);
			memcpy(&q, y + 16, 8);
			if (p != q)
				return be64toh(p) < be64toh(q) ? -1 : 1;
			return 0;
		}
	}
	if (n > 0 && (c = memcmp(x, y, n)) != 0)
		return c;
	return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

/* ---------------------------------------------------------------- */
/* events */

void
cm_codec_ev_lengths(const cm_event *ev, cm_codec_evlen *l)
{
	const char *f[5] = { ev->source, ev->basis, ev->purpose,
	    ev->evidence, ev->actor };

	l->addr = ev->addr ? strnlen(ev->addr, CM_CODEC_ADDR_MAX + 1) : 0;
	l->type = ev->type ? strnlen(ev->type, CM_TYPE_ID_MAX + 1) : 0;
	for (int i = 0; i < 5; i++)
		l->f[i] = f[i] ? strnlen(f[i], CM_FIELD_MAX + 1) : 0;
}

bool
cm_codec_valid_type(const char *t, size_t *len)
{
	size_t n;

	if (t == NULL)
		return false;
	for (n = 0; t[n] != '\0'; n++) {
		unsigned char c = (unsigned char)t[n];

		if (n >= CM_TYPE_ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return false;
	}
	*len = n;
	return n > 0;
}

cm_status
cm_codec_validate(const cm_event *ev, const cm_codec_evlen *el)
{
	size_t tl, n;

	if (ev->addr == NULL)
		return CM_EINVAL;
	if (ev->at_us < 0)
		return CM_EINVAL;
	for (int i = 0; i < 5; i++)
		if (el->f[i] > CM_FIELD_MAX)
			return CM_EINVAL;
	n = el->addr;
	switch (ev->kind) {
	case CM_EV_GRANT:
		if (ev->state != CM_STATE_NONE &&
		    ev->state != CM_STATE_GRANTED &&
		    ev->state != CM_STATE_PENDING)
			return CM_EINVAL;
		/* FALLTHROUGH */
	case CM_EV_CONFIRM:
	case CM_EV_WITHDRAW:
	case CM_EV_UPDATE:
		if (!cm_codec_valid_type(ev->type, &tl))
			return CM_EINVAL;
		/* FALLTHROUGH */
	case CM_EV_OBJECT:
	case CM_EV_ERASE:
		if (n < 3 || n > CM_CODEC_ADDR_MAX ||
		    strchr(ev->addr, '@') == NULL)
			return CM_EINVAL;
		return CM_OK;
	case CM_EV_SUPPRESS_DOMAIN:
	case CM_EV_UNSUPPRESS_DOMAIN:
		if (n < 1 || n > CM_CODEC_DOMAIN_MAX ||
		    strchr(ev->addr, '@') != NULL)
			return CM_EINVAL;
		return CM_OK;
	default:
		return CM_EINVAL;
	}
}

/* ---------------------------------------------------------------- */
/* entries */

bool
cm_codec_objection(int64_t objection_us, int64_t last_grant_us)
{
	/* rules.h: a later grant of a type lifts it for that type only;
	 * LAST_GRANT no longer lifts it for every type */
	(void)last_grant_us;
	return objection_us != 0;
}

cm_status
cm_codec_entry_decode(const unsigned char *v, size_t n, cm_rules_entry *e)
{
	size_t nrec, off;

	if (!cm_codec_entry_header(v, n, &nrec, &off))
		return CM_EFORMAT;
	e->objection_us = geti64(v + 8);
	e->last_grant_us = geti64(v + 16);
	e->addr.p = v + CM_CODEC_ENTRY_HDR;
	e->addr.n = get16(v + 2);
	e->nrec = 0;
	if (!cm_rules_entry_grow(e, nrec))
		return CM_ENOMEM;
	for (size_t i = 0; i < nrec; i++) {
		if (!cm_codec_rec_decode(v, n, off, &e->recs[i], &off))
			return CM_EFORMAT;
		if (i > 0 && cm_codec_str_cmp(e->recs[i - 1].type.p,
		    e->recs[i - 1].type.n, e->recs[i].type.p,
		    e->recs[i].type.n) >= 0)
			return CM_EFORMAT;
	}
	if (off != n)
		return CM_EFORMAT;
	e->nrec = nrec;
	return CM_OK;
}

size_t
cm_codec_rec_size(const cm_rules_rec *r)
{
	size_t rl = CM_CODEC_REC_HDR + r->type.n + 8;

	for (int j = 0; j < 4; j++)
		rl += r->f[j].n;
	return rl;
}

size_t
cm_codec_entry_size(const cm_rules_entry *e)
{
	size_t sz = CM_CODEC_ENTRY_HDR + e->addr.n;

	for (size_t i = 0; i < e->nrec; i++)
		sz += cm_codec_rec_size(&e->recs[i]);
	return sz;
}

void
cm_codec_entry_head(unsigned char *out, const char *a, size_t al,
    size_t nrec, int64_t objection_us, int64_t last_grant_us)
{
	out[0] = CM_CODEC_FORMAT;
	out[1] = CM_CODEC_KIND_ENTRY;
	put16(out + 2, (uint16_t)al);
	put16(out + 4, (uint16_t)nrec);
	put16(out + 6, 0);
	puti64(out + 8, objection_us);
	puti64(out + 16, last_grant_us);
	memcpy(out + CM_CODEC_ENTRY_HDR, a, al);
}

void
cm_codec_rec_encode(const cm_rules_rec *r, unsigned char *out)
{
	size_t off = CM_CODEC_REC_HDR;

	put16(out, (uint16_t)cm_codec_rec_size(r));
	out[2] = (unsigned char)r->state;
	out[3] = (unsigned char)r->type.n;
	puti64(out + 4, r->granted);
	puti64(out + 12, r->confirmed);
	puti64(out + 20, r->withdrawn);
	puti64(out + 28, r->updated);
	memcpy(out + off, r->type.p, r->type.n);
	off += r->type.n;
	for (int j = 0; j < 4; j++) {
		put16(out + off, (uint16_t)r->f[j].n);
		off += 2;
		if (r->f[j].n)
			memcpy(out + off, r->f[j].p, r->f[j].n);
		off += r->f[j].n;
	}
}

void
cm_codec_entry_encode(const cm_rules_entry *e, unsigned char *out)
{
	size_t off = CM_CODEC_ENTRY_HDR + e->addr.n;

	cm_codec_entry_head(out, (const char *)e->addr.p, e->addr.n, e->nrec,
	    e->objection_us, e->last_grant_us);
	for (size_t i = 0; i < e->nrec; i++) {
		cm_codec_rec_encode(&e->recs[i], out + off);
		off += cm_codec_rec_size(&e->recs[i]);
	}
}

/* ---------------------------------------------------------------- */
/* tombstones */

int64_t
cm_codec_tomb_erased(const void *v)
{
	return geti64((const unsigned char *)v + 8);
}

void
cm_codec_tomb_encode(unsigned char *out, int64_t erased_us)
{
	out[0] = CM_CODEC_FORMAT;
	out[1] = CM_CODEC_KIND_TOMB;
	memset(out + 2, 0, 6);
	puti64(out + 8, erased_us);
}

/* ---------------------------------------------------------------- */
/* domains */

bool
cm_codec_domain_decode(const unsigned char *v, size_t n, const char *name,
    size_t len, cm_codec_domain *d)
{
	size_t dl, sl;

	if (n < CM_CODEC_DOM_HDR || v[0] != CM_CODEC_FORMAT ||
	    v[1] != CM_CODEC_KIND_DOMAIN)
		return false;
	dl = get16(v + 4);
	sl = get16(v + 6);
	if (CM_CODEC_DOM_HDR + dl + sl != n || dl == 0 ||
	    dl > CM_CODEC_DOMAIN_MAX)
		return false;
	if (name != NULL && (dl != len ||
	    memcmp(v + CM_CODEC_DOM_HDR, name, len)))
		return false;
	d->suppressed = v[2] != 0;
	d->since_us = geti64(v + 8);
	d->updated_us = geti64(v + 16);
	d->name = v + CM_CODEC_DOM_HDR;
	d->name_len = dl;
	d->source = v + CM_CODEC_DOM_HDR + dl;
	d->source_len = sl;
	return true;
}

size_t
cm_codec_domain_size(const cm_codec_domain *d)
{
	return CM_CODEC_DOM_HDR + d->name_len + d->source_len;
}

void
cm_codec_domain_encode(const cm_codec_domain *d, unsigned char *out)
{
	out[0] = CM_CODEC_FORMAT;
	out[1] = CM_CODEC_KIND_DOMAIN;
	out[2] = d->suppressed;
	out[3] = 0;
	put16(out + 4, (uint16_t)d->name_len);
	put16(out + 6, (uint16_t)d->source_len);
	puti64(out + 8, d->since_us);
	puti64(out + 16, d->updated_us);
	memcpy(out + CM_CODEC_DOM_HDR, d->name, d->name_len);
	if (d->source_len)
		memcpy(out + CM_CODEC_DOM_HDR + d->name_len, d->source,
		    d->source_len);
}

/* ---------------------------------------------------------------- */
/* history events */

bool
cm_codec_hist_decode(const unsigned char *v, size_t n, cm_codec_hist *h)
{
	size_t off = CM_CODEC_HIST_HDR;

	if (n < CM_CODEC_HIST_HDR || v[0] != CM_CODEC_FORMAT ||
	    v[1] < CM_EV_GRANT || v[1] > CM_EV_ERASE ||
	    v[2] > CM_STATE_WITHDRAWN || v[3] > CM_STATE_WITHDRAWN)
		return false;
	for (int i = 0; i < 6; i++) {
		size_t l;

		if (n - off < 2)
			return false;
		l = get16(v + off);
		if (n - off - 2 < l)
			return false;
		h->s[i].p = v + off + 2;
		h->s[i].n = l;
		off += 2 + l;
	}
	if (off != n)
		return false;
	h->kind = (cm_event_kind)v[1];
	h->old_state = (cm_state)v[2];
	h->new_state = (cm_state)v[3];
	h->at_us = geti64(v + 8);
	h->recorded_us = geti64(v + 16);
	return true;
}

size_t
cm_codec_hist_size(const cm_codec_hist *h)
{
	size_t sz = CM_CODEC_HIST_HDR;

	for (int i = 0; i < 6; i++)
		sz += 2 + h->s[i].n;
	return sz;
}

void
cm_codec_hist_encode(const cm_codec_hist *h, unsigned char *out)
{
	unsigned char *p = out;

	p[0] = CM_CODEC_FORMAT;
	p[1] = (unsigned char)h->kind;
	p[2] = (unsigned char)h->old_state;
	p[3] = (unsigned char)h->new_state;
	p[4] = p[5] = p[6] = p[7] = 0;
	puti64(p + 8, h->at_us);
	puti64(p + 16, h->recorded_us);
	p += CM_CODEC_HIST_HDR;
	for (int i = 0; i < 6; i++) {
		put16(p, (uint16_t)h->s[i].n);
		if (h->s[i].n)
			memcpy(p + 2, h->s[i].p, h->s[i].n);
		p += 2 + h->s[i].n;
	}
}

/* ---------------------------------------------------------------- */
/* meta */

unsigned
cm_codec_meta_format(const unsigned char *v, size_t n)
{
	if (n != 4 || get16(v + 2) != 0)
		return 0;
	return get16(v);
}
