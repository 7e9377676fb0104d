/*
 * index.c - the consent index on LMDB.
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
 *   decoded entry (cm_rules_apply); apply_one loads the entry (or the
 *   tombstone), calls it and writes the history events and the entry it
 *   returns.  Every event is first refused (CM_EFUTURE) when dated more
 *   than the index's clock skew after now.  ERASE and the domain events
 *   are done here:
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
 * lossless backup, through the raw hooks at the end of this file): a
 * change of the format changes them with it.
 *
 * Reads use a pool of reset read transactions under a process-wide
 * rwlock; MDB_MAP_RESIZED is handled by taking the write side and
 * calling mdb_env_set_mapsize(env, 0).  Writes retry the whole
 * transaction after growing the map on MDB_MAP_FULL.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "hmac.h"
#include "index.h"
#include "index_int.h"
#include "prefault.h"
#include "subaddr.h"
#include "rules.h"
#include "timefmt.h"
#include "wlock.h"

#define FORMAT_VERSION 1
#define META_FORMAT 2	/* "meta" "format"; see the header comment */
#define AKEY_LEN 16
#define HKEY_LEN (AKEY_LEN + 8)
_Static_assert(AKEY_LEN == CM_SUBJECT_KEY_LEN, "subject key length");
#define ENTRY_HDR 24
#define REC_HDR 36
#define HIST_HDR 24
#define DOM_HDR 24
#define TOMB_LEN 16
#define KIND_ENTRY 1
#define KIND_TOMB 2
#define KIND_DOMAIN 3
#define POOL_MAX 64
#define ADDR_MAX 320		/* 64 + 1 + 255 */
#define DOMAIN_MAX 255
#define MAX_RETRY 32
#define KEYFILE "erasure.key"

/*
 * Suppressed-domain cache of one pooled read transaction.  Domain keys
 * sort before every address key, so one cursor pass over the left edge
 * of "index" reads them all; the set is valid for the snapshot it was
 * read from (mdb_txn_id: LMDB transaction ids only grow, so an
 * unchanged id is an unchanged index).  It saves cm_decide one B-tree
 * lookup per decision.  Only domain names (no personal data) are kept.
 * With more than DC_MAX domain entries, or one that does not decode,
 * the cache is off for that snapshot and decisions look domains up.
 */
#define DC_MAX 1024
#define DC_NONE 0		/* nothing read yet */
#define DC_SET 1		/* dc_* holds the suppressed domains */
#define DC_OFF 2		/* look domains up in the tree */

typedef struct dcslot {
	uint32_t hash;		/* 0: empty */
	uint32_t off;		/* name in dc_names */
	uint32_t len;
} dcslot;

struct cm_rtxn {
	MDB_txn *txn;
	size_t dc_txnid;	/* snapshot the cache describes */
	int dc_state;
	size_t dc_n;		/* suppressed domains in the set */
	dcslot *dc_tab;		/* open addressing, dc_mask + 1 slots */
	size_t dc_mask;
	unsigned char *dc_names;
	size_t dc_namecap;
};

struct cm_index {
	MDB_env *env;
	MDB_dbi db_meta, db_index, db_hist;
	bool readonly;
	bool bulk;		/* MDB_WRITEMAP */
	char *dir;
	cm_wlock *wl;		/* writers: held from open to close */
	cm_hmac *hmac;
	unsigned char sipkey[16];
	pthread_rwlock_t maplock;	/* write side: remapping */
	pthread_mutex_t poollock;
	cm_rtxn *pool[POOL_MAX];
	size_t npool;
	pthread_mutex_t wlock;		/* one writer of this process */
	pthread_mutex_t errlock;
	char err[256];
	char errsnap[256];
	int last_rc;			/* LMDB code of the last db_err */
	cm_rules_opts rules;		/* the allowed clock skew */
	int64_t reader_check_us;	/* last mdb_reader_check (atomic) */
	bool upgrade;			/* opts.upgrade: format 1 accepted */
	unsigned meta_format;		/* "meta" "format" found at open */
};

/* ---------------------------------------------------------------- */
/* small helpers */

/* Little-endian loads and stores at any alignment (one instruction on
 * little-endian hosts). */
static inline uint16_t
get16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static inline void
put16(unsigned char *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint64_t
get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static inline void
put64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static inline int64_t
geti64(const unsigned char *p)
{
	return (int64_t)get64(p);
}

static inline void
puti64(unsigned char *p, int64_t v)
{
	put64(p, (uint64_t)v);
}

static void
set_err(cm_index *idx, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&idx->errlock);
	va_start(ap, fmt);
	vsnprintf(idx->err, sizeof(idx->err), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&idx->errlock);
}

static cm_status
db_err(cm_index *idx, const char *what, int rc)
{
	set_err(idx, "%s: %s", what, mdb_strerror(rc));
	pthread_mutex_lock(&idx->errlock);
	idx->last_rc = rc;
	pthread_mutex_unlock(&idx->errlock);
	if (rc == ENOMEM)
		return CM_ENOMEM;
	if (rc == MDB_CORRUPTED || rc == MDB_INVALID ||
	    rc == MDB_VERSION_MISMATCH || rc == MDB_PAGE_NOTFOUND)
		return CM_EFORMAT;
	return CM_EDB;
}

static cm_status
fmt_err(cm_index *idx, const char *what)
{
	set_err(idx, "corrupt or unknown data: %s", what);
	return CM_EFORMAT;
}

const char *
cm_index_last_error(cm_index *idx)
{
	if (idx == NULL)
		return "no index";
	pthread_mutex_lock(&idx->errlock);
	memcpy(idx->errsnap, idx->err, sizeof(idx->errsnap));
	pthread_mutex_unlock(&idx->errlock);
	return idx->errsnap;
}

static void
akey(const cm_index *idx, const char *s, size_t len, unsigned char *out)
{
	cm_hmac_sip128(idx->sipkey, s, len, out);
	out[0] |= 0x80;
}

/* History prefix of a domain. */
static void
hdkey(const cm_index *idx, const char *s, size_t len, unsigned char *out)
{
	unsigned char h[CM_SIP_OUT_LEN];

	cm_hmac_sip128(idx->sipkey, s, len, h);
	out[0] = 0;
	memcpy(out + 1, h, AKEY_LEN - 1);
}

/* Key of an event's subject: AKEY for addresses, DKEY for domains. */
static void
subject_key(const cm_index *idx, const char *s, size_t len,
    unsigned char *out)
{
	if (memchr(s, '@', len) != NULL)
		akey(idx, s, len, out);
	else
		hdkey(idx, s, len, out);
}

/* DKEY(domain) into OUT (DOMAIN_MAX + 1 octets); returns its length. */
static size_t
dkey(const char *s, size_t len, unsigned char *out)
{
	out[0] = 0;
	memcpy(out + 1, s, len);
	return len + 1;
}

static bool
valid_type(const char *t, size_t *len)
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

/*
 * The lengths of an event's strings, measured once (bounded: a string
 * longer than its limit measures limit + 1 and is invalid).
 */
typedef struct evlen {
	size_t addr, type;
	size_t f[5];		/* source, basis, purpose, evidence, actor */
} evlen;

static void
ev_lengths(const cm_event *ev, evlen *l)
{
	const char *f[5] = { ev->source, ev->basis, ev->purpose,
	    ev->evidence, ev->actor };

	l->addr = ev->addr ? strnlen(ev->addr, ADDR_MAX + 1) : 0;
	l->type = ev->type ? strnlen(ev->type, CM_TYPE_ID_MAX + 1) : 0;
	for (int i = 0; i < 5; i++)
		l->f[i] = f[i] ? strnlen(f[i], CM_FIELD_MAX + 1) : 0;
}

/* ---------------------------------------------------------------- */
/* entry blobs */

/* the decoded entry is what the rules (rules.h) work on */
typedef cm_rules_str dstr;
typedef cm_rules_rec drec;
typedef cm_rules_entry dentry;

/* An objection is recorded (rules.h: a later grant of a type lifts it
 * for that type only; LAST_GRANT no longer lifts it for every type). */
static inline bool
objection_in_force(int64_t obj, int64_t last_grant)
{
	(void)last_grant;
	return obj != 0;
}

static int
dstr_cmp(const unsigned char *a, size_t an, const unsigned char *b,
    size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn ? 1 : 0;
}

/* Check the entry header; on success *nrec, *off (first record). */
static bool
entry_header(const unsigned char *v, size_t n, size_t *nrec, size_t *off)
{
	size_t alen;

	if (n < ENTRY_HDR || v[0] != FORMAT_VERSION || v[1] != KIND_ENTRY)
		return false;
	alen = get16(v + 2);
	if (alen > ADDR_MAX || ENTRY_HDR + alen > n)
		return false;
	*nrec = get16(v + 4);
	*off = ENTRY_HDR + alen;
	return true;
}

/* Decode the record at V[OFF..N); *next = offset after it. */
static bool
rec_decode(const unsigned char *v, size_t n, size_t off, drec *r,
    size_t *next)
{
	size_t rl, tl, p;

	if (n - off < REC_HDR)
		return false;
	rl = get16(v + off);
	tl = v[off + 3];
	if (rl < REC_HDR + tl + 8 || rl > n - off || tl == 0 ||
	    tl > CM_TYPE_ID_MAX || v[off + 2] > CM_STATE_WITHDRAWN ||
	    v[off + 2] == CM_STATE_NONE)
		return false;
	r->state = (cm_state)v[off + 2];
	r->granted = geti64(v + off + 4);
	r->confirmed = geti64(v + off + 12);
	r->withdrawn = geti64(v + off + 20);
	r->updated = geti64(v + off + 28);
	r->type.p = v + off + REC_HDR;
	r->type.n = tl;
	p = off + REC_HDR + tl;
	for (int i = 0; i < 4; i++) {
		size_t l;

		if (off + rl - p < 2)
			return false;
		l = get16(v + p);
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

static bool
dentry_grow(dentry *e, size_t want)
{
	return cm_rules_entry_grow(e, want);
}

/* Decode a whole entry (pointers into V).  Returns CM_OK, CM_EFORMAT,
 * CM_ENOMEM. */
static cm_status
entry_decode(const unsigned char *v, size_t n, dentry *e)
{
	size_t nrec, off;

	if (!entry_header(v, n, &nrec, &off))
		return CM_EFORMAT;
	e->objection_us = geti64(v + 8);
	e->last_grant_us = geti64(v + 16);
	e->addr.p = v + ENTRY_HDR;
	e->addr.n = get16(v + 2);
	e->nrec = 0;
	if (!dentry_grow(e, nrec))
		return CM_ENOMEM;
	for (size_t i = 0; i < nrec; i++) {
		if (!rec_decode(v, n, off, &e->recs[i], &off))
			return CM_EFORMAT;
		if (i > 0 && dstr_cmp(e->recs[i - 1].type.p,
		    e->recs[i - 1].type.n, e->recs[i].type.p,
		    e->recs[i].type.n) >= 0)
			return CM_EFORMAT;
	}
	if (off != n)
		return CM_EFORMAT;
	e->nrec = nrec;
	return CM_OK;
}

static size_t
entry_size(const dentry *e)
{
	size_t sz = ENTRY_HDR + e->addr.n;

	for (size_t i = 0; i < e->nrec; i++) {
		const drec *r = &e->recs[i];

		sz += REC_HDR + r->type.n + 8;
		for (int j = 0; j < 4; j++)
			sz += r->f[j].n;
	}
	return sz;
}

static void
entry_encode(const dentry *e, unsigned char *out)
{
	size_t off = ENTRY_HDR;

	out[0] = FORMAT_VERSION;
	out[1] = KIND_ENTRY;
	put16(out + 2, (uint16_t)e->addr.n);
	put16(out + 4, (uint16_t)e->nrec);
	put16(out + 6, 0);
	puti64(out + 8, e->objection_us);
	puti64(out + 16, e->last_grant_us);
	memcpy(out + off, e->addr.p, e->addr.n);
	off += e->addr.n;
	for (size_t i = 0; i < e->nrec; i++) {
		const drec *r = &e->recs[i];
		size_t start = off, rl = REC_HDR + r->type.n + 8;

		for (int j = 0; j < 4; j++)
			rl += r->f[j].n;
		put16(out + off, (uint16_t)rl);
		out[off + 2] = (unsigned char)r->state;
		out[off + 3] = (unsigned char)r->type.n;
		puti64(out + off + 4, r->granted);
		puti64(out + off + 12, r->confirmed);
		puti64(out + off + 20, r->withdrawn);
		puti64(out + off + 28, r->updated);
		off += REC_HDR;
		memcpy(out + off, r->type.p, r->type.n);
		off += r->type.n;
		for (int j = 0; j < 4; j++) {
			put16(out + off, (uint16_t)r->f[j].n);
			off += 2;
			if (r->f[j].n)
				memcpy(out + off, r->f[j].p, r->f[j].n);
			off += r->f[j].n;
		}
		(void)start;
	}
}

/* ---------------------------------------------------------------- */
/* read transactions */

static void
rtxn_free(cm_rtxn *t)
{
	mdb_txn_abort(t->txn);
	free(t->dc_tab);
	free(t->dc_names);
	free(t);
}

/* The map size to pass to mdb_env_set_mapsize after MDB_MAP_RESIZED:
 * 0 (the size of the last commit) for readers; a writer keeps at least
 * the map it has, as a bulk writer's file is that long (LMDB truncates
 * the file of a writable map to the new size; LMDB rounds the size up
 * to the pages in use in either case). */
static size_t
remap_size(cm_index *idx)
{
	MDB_envinfo info;

	if (idx->readonly || mdb_env_info(idx->env, &info) != 0)
		return 0;
	return info.me_mapsize;
}

static cm_status
remap(cm_index *idx)
{
	int rc;

	pthread_rwlock_wrlock(&idx->maplock);
	pthread_mutex_lock(&idx->poollock);
	while (idx->npool > 0) {
		cm_rtxn *t = idx->pool[--idx->npool];

		rtxn_free(t);
	}
	pthread_mutex_unlock(&idx->poollock);
	rc = mdb_env_set_mapsize(idx->env, remap_size(idx));
	pthread_rwlock_unlock(&idx->maplock);
	if (rc != 0)
		return db_err(idx, "remap after resize", rc);
	return CM_OK;
}

cm_status
cm_index_rbegin(cm_index *idx, cm_rtxn **out)
{
	bool checked = false;

	for (int tries = 0; tries < MAX_RETRY; tries++) {
		cm_rtxn *t = NULL;
		int rc;

		pthread_rwlock_rdlock(&idx->maplock);
		pthread_mutex_lock(&idx->poollock);
		if (idx->npool > 0)
			t = idx->pool[--idx->npool];
		pthread_mutex_unlock(&idx->poollock);
		if (t != NULL) {
			rc = mdb_txn_renew(t->txn);
			if (rc != 0) {
				rtxn_free(t);
				t = NULL;
				if (rc != MDB_MAP_RESIZED) {
					/* bad pooled handle: try a new one */
					pthread_rwlock_unlock(&idx->maplock);
					continue;
				}
			}
		} else {
			if ((t = calloc(1, sizeof(*t))) == NULL) {
				pthread_rwlock_unlock(&idx->maplock);
				return CM_ENOMEM;
			}
			/* a new reader slot: the moment to clear the slots of
			 * dead processes, now and then (reader_check_us is
			 * only a hint; a race costs one extra check) */
			if (cm_time_now() - __atomic_load_n(&idx->reader_check_us,
			    __ATOMIC_RELAXED) > 60 * INT64_C(1000000)) {
				__atomic_store_n(&idx->reader_check_us, cm_time_now(),
				    __ATOMIC_RELAXED);
				(void)mdb_reader_check(idx->env, NULL);
			}
			rc = mdb_txn_begin(idx->env, NULL, MDB_RDONLY, &t->txn);
			if (rc != 0) {
				free(t);
				t = NULL;
			}
		}
		if (rc == 0) {
			*out = t;
			return CM_OK;	/* rdlock held until rend */
		}
		pthread_rwlock_unlock(&idx->maplock);
		if (rc == MDB_MAP_RESIZED) {
			cm_status st = remap(idx);

			if (st != CM_OK)
				return st;
			continue;
		}
		if (rc == MDB_READERS_FULL && !checked) {
			/* slots of dead processes may be what fills the
			 * table: clear them and try once more */
			int dead = 0;

			checked = true;
			__atomic_store_n(&idx->reader_check_us, cm_time_now(),
			    __ATOMIC_RELAXED);
			if (mdb_reader_check(idx->env, &dead) == 0 && dead > 0)
				continue;
		}
		return db_err(idx, "begin read transaction", rc);
	}
	set_err(idx, "begin read transaction: map keeps resizing");
	return CM_EDB;
}

void
cm_index_rend(cm_index *idx, cm_rtxn *t)
{
	mdb_txn_reset(t->txn);
	pthread_mutex_lock(&idx->poollock);
	if (idx->npool < POOL_MAX) {
		idx->pool[idx->npool++] = t;
		t = NULL;
	}
	pthread_mutex_unlock(&idx->poollock);
	if (t != NULL) {
		rtxn_free(t);
	}
	pthread_rwlock_unlock(&idx->maplock);
}

cm_status
cm_index_rlookup(cm_index *idx, cm_rtxn *t, const char *addr, size_t len,
    const char *type, size_t tlen, cm_addr_view *out)
{
	unsigned char k[AKEY_LEN];
	MDB_val key = { AKEY_LEN, k }, val;
	const unsigned char *v;
	size_t n, nrec, off;
	int rc;

	out->found = out->objection = out->has_rec = out->erased = false;
	out->objection_us = 0;
	akey(idx, addr, len, k);
	rc = mdb_get(t->txn, idx->db_index, &key, &val);
	if (rc == MDB_NOTFOUND)
		return CM_OK;
	if (rc != 0)
		return db_err(idx, "lookup", rc);
	v = val.mv_data;
	n = val.mv_size;
	if (n == TOMB_LEN && v[0] == FORMAT_VERSION && v[1] == KIND_TOMB) {
		out->erased = true;
		return CM_OK;
	}
	if (!entry_header(v, n, &nrec, &off))
		return fmt_err(idx, "entry header");
	if (get16(v + 2) != len || memcmp(v + ENTRY_HDR, addr, len) != 0)
		return fmt_err(idx, "address key collision");
	out->found = true;
	out->objection_us = geti64(v + 8);
	out->objection = objection_in_force(out->objection_us,
	    geti64(v + 16));
	for (size_t i = 0; i < nrec; i++) {
		size_t rl, tl;
		int c;

		if (n - off < REC_HDR)
			return fmt_err(idx, "consent record");
		rl = get16(v + off);
		tl = v[off + 3];
		if (rl < REC_HDR + tl + 8 || rl > n - off)
			return fmt_err(idx, "consent record length");
		c = dstr_cmp(v + off + REC_HDR, tl,
		    (const unsigned char *)type, tlen);
		if (c == 0) {
			unsigned s = v[off + 2];

			if (s < CM_STATE_PENDING || s > CM_STATE_WITHDRAWN)
				return fmt_err(idx, "record state");
			out->has_rec = true;
			out->rec.state = (cm_state)s;
			out->rec.granted_us = geti64(v + off + 4);
			out->rec.confirmed_us = geti64(v + off + 12);
			out->rec.withdrawn_us = geti64(v + off + 20);
			out->rec.updated_us = geti64(v + off + 28);
			return CM_OK;
		}
		if (c > 0)
			break;
		off += rl;
	}
	return CM_OK;
}

/* Check a domain value; *sup = suppressed.  NAME/LEN: expected name. */
static bool
domain_value(const unsigned char *v, size_t n, const char *name, size_t len,
    bool *sup)
{
	size_t dl, sl;

	if (n < DOM_HDR || v[0] != FORMAT_VERSION || v[1] != KIND_DOMAIN)
		return false;
	dl = get16(v + 4);
	sl = get16(v + 6);
	if (DOM_HDR + dl + sl != n || dl == 0 || dl > DOMAIN_MAX)
		return false;
	if (name != NULL && (dl != len || memcmp(v + DOM_HDR, name, len)))
		return false;
	*sup = v[2] != 0;
	return true;
}

/* FNV-1a over a domain name; never 0 (0 marks an empty slot). */
static uint32_t
dc_hash(const unsigned char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ s[i]) * 16777619u;
	return h ? h : 1;
}

/* Read the suppressed domains of T's snapshot into its cache; on any
 * trouble (too many, undecodable, no memory) the cache is off for this
 * snapshot and the lookup path reports what it finds. */
static void
dc_fill(cm_index *idx, cm_rtxn *t, size_t txnid)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	size_t n = 0, seen = 0, used = 0;
	int rc;

	t->dc_txnid = txnid;
	t->dc_state = DC_OFF;
	t->dc_n = 0;
	if (mdb_cursor_open(t->txn, idx->db_index, &c) != 0)
		return;
	/* pass 1: count and check */
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const unsigned char *kb = k.mv_data;
		bool sup;

		if (k.mv_size == 0 || kb[0] != 0)
			break;
		if (++seen > DC_MAX || k.mv_size < 2 ||
		    !domain_value(v.mv_data, v.mv_size, (const char *)kb + 1,
		    k.mv_size - 1, &sup))
			goto out;
		if (sup) {
			n++;
			used += k.mv_size - 1;
		}
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto out;
	if (n > 0) {
		size_t slots = 4;

		while (slots < 2 * n)
			slots *= 2;
		if (slots - 1 > t->dc_mask || t->dc_tab == NULL) {
			dcslot *nt = malloc(slots * sizeof(*nt));

			if (nt == NULL)
				goto out;
			free(t->dc_tab);
			t->dc_tab = nt;
			t->dc_mask = slots - 1;
		}
		memset(t->dc_tab, 0, (t->dc_mask + 1) * sizeof(*t->dc_tab));
		if (used > t->dc_namecap) {
			unsigned char *nn = malloc(used);

			if (nn == NULL)
				goto out;
			free(t->dc_names);
			t->dc_names = nn;
			t->dc_namecap = used;
		}
		/* pass 2: fill (same snapshot, same entries) */
		used = 0;
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			const unsigned char *kb = k.mv_data;
			size_t len = k.mv_size ? k.mv_size - 1 : 0;
			bool sup = false;
			uint32_t h;
			size_t i;

			if (k.mv_size == 0 || kb[0] != 0)
				break;
			if (!domain_value(v.mv_data, v.mv_size,
			    (const char *)kb + 1, len, &sup) ||
			    used + len > t->dc_namecap)
				goto out;
			if (!sup)
				continue;
			h = dc_hash(kb + 1, len);
			for (i = h & t->dc_mask; t->dc_tab[i].hash != 0;
			    i = (i + 1) & t->dc_mask)
				;
			memcpy(t->dc_names + used, kb + 1, len);
			t->dc_tab[i].hash = h;
			t->dc_tab[i].off = (uint32_t)used;
			t->dc_tab[i].len = (uint32_t)len;
			used += len;
		}
	}
	t->dc_n = n;
	t->dc_state = DC_SET;
out:
	mdb_cursor_close(c);
}

cm_status
cm_index_rdomain(cm_index *idx, cm_rtxn *t, const char *domain, size_t len,
    bool *out)
{
	unsigned char k[DOMAIN_MAX + 1];
	MDB_val key = { 0, k }, val;
	size_t txnid;
	int rc;

	*out = false;
	if (len == 0 || len > DOMAIN_MAX)
		return CM_OK;
	txnid = mdb_txn_id(t->txn);
	if (t->dc_state == DC_NONE || t->dc_txnid != txnid)
		dc_fill(idx, t, txnid);
	if (t->dc_state == DC_SET) {
		uint32_t h;

		if (t->dc_n == 0)
			return CM_OK;
		h = dc_hash((const unsigned char *)domain, len);
		for (size_t i = h & t->dc_mask; t->dc_tab[i].hash != 0;
		    i = (i + 1) & t->dc_mask) {
			const dcslot *e = &t->dc_tab[i];

			if (e->hash == h && e->len == len &&
			    memcmp(t->dc_names + e->off, domain, len) == 0) {
				*out = true;
				break;
			}
		}
		return CM_OK;
	}
	key.mv_size = dkey(domain, len, k);
	rc = mdb_get(t->txn, idx->db_index, &key, &val);
	if (rc == MDB_NOTFOUND)
		return CM_OK;
	if (rc != 0)
		return db_err(idx, "domain lookup", rc);
	if (!domain_value(val.mv_data, val.mv_size, domain, len, out))
		return fmt_err(idx, "domain entry");
	return CM_OK;
}

/* ---------------------------------------------------------------- */
/* open / close */

static char *
path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);

	if (p == NULL)
		return NULL;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

static cm_status
read_full(int fd, unsigned char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cm_status_errno(errno);
		if (r == 0)
			return CM_EFORMAT;
		got += (size_t)r;
	}
	return CM_OK;
}

static cm_status
write_full(int fd, const unsigned char *buf, size_t n)
{
	size_t put = 0;

	while (put < n) {
		ssize_t r = write(fd, buf + put, n - put);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cm_status_errno(errno);
		put += (size_t)r;
	}
	return CM_OK;
}

static cm_status
load_key(cm_index *idx, bool create, unsigned char *key)
{
	char *p = path_join(idx->dir, KEYFILE);
	cm_status st;
	struct stat sb;
	int fd;

	if (p == NULL)
		return CM_ENOMEM;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && create) {
		size_t got = 0;

		while (got < CM_HMAC_KEY_LEN) {
			ssize_t r = getrandom(key + got, CM_HMAC_KEY_LEN - got,
			    0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				set_err(idx, "getrandom: %s", strerror(errno));
				free(p);
				return CM_EIO;
			}
			got += (size_t)r;
		}
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		if (fd < 0) {
			st = cm_status_errno(errno);
			set_err(idx, "%s: %s", p, strerror(errno));
			free(p);
			return st == CM_NOTFOUND ? CM_EIO : st;
		}
		st = write_full(fd, key, CM_HMAC_KEY_LEN);
		if (st == CM_OK && fsync(fd) != 0)
			st = CM_EIO;
		if (st != CM_OK) {
			set_err(idx, "%s: cannot write", p);
			(void)close(fd);
			(void)unlink(p);
			free(p);
			return st;
		}
		(void)close(fd);
		if ((fd = open(idx->dir, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) >= 0) {
			(void)fsync(fd);
			(void)close(fd);
		}
		free(p);
		return CM_OK;
	}
	if (fd < 0) {
		st = cm_status_errno(errno);
		set_err(idx, "%s: %s", p, strerror(errno));
		free(p);
		return st == CM_NOTFOUND ? CM_EFORMAT : st;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size != CM_HMAC_KEY_LEN) {
		set_err(idx, "%s: not a %d-octet key file", p,
		    CM_HMAC_KEY_LEN);
		(void)close(fd);
		free(p);
		return CM_EFORMAT;
	}
	st = read_full(fd, key, CM_HMAC_KEY_LEN);
	(void)close(fd);
	if (st != CM_OK)
		set_err(idx, "%s: cannot read", p);
	free(p);
	return st;
}

static cm_status
meta_check(cm_index *idx, MDB_txn *txn, bool init, const unsigned char *kc)
{
	MDB_val k, v;
	unsigned char buf[8];
	int rc;

	k.mv_data = "format";
	k.mv_size = 6;
	rc = mdb_get(txn, idx->db_meta, &k, &v);
	if (rc == MDB_NOTFOUND && init) {
		idx->meta_format = META_FORMAT;
		buf[0] = META_FORMAT;
		buf[1] = buf[2] = buf[3] = 0;
		v.mv_data = buf;
		v.mv_size = 4;
		if ((rc = mdb_put(txn, idx->db_meta, &k, &v, 0)) != 0)
			return db_err(idx, "write format", rc);
		k.mv_data = "seq";
		k.mv_size = 3;
		put64(buf, 1);
		v.mv_data = buf;
		v.mv_size = 8;
		if ((rc = mdb_put(txn, idx->db_meta, &k, &v, 0)) != 0)
			return db_err(idx, "write seq", rc);
		k.mv_data = "keycheck";
		k.mv_size = 8;
		v.mv_data = (void *)(uintptr_t)kc;
		v.mv_size = 8;
		if ((rc = mdb_put(txn, idx->db_meta, &k, &v, 0)) != 0)
			return db_err(idx, "write keycheck", rc);
		return CM_OK;
	}
	if (rc == MDB_NOTFOUND) {
		set_err(idx, "not a consent index (no format version)");
		return CM_EFORMAT;
	}
	if (rc != 0)
		return db_err(idx, "read format", rc);
	if (v.mv_size == 4 && get16(v.mv_data) == 1 &&
	    get16((const unsigned char *)v.mv_data + 2) == 0 && !idx->upgrade) {
		set_err(idx, "%s", cm_strerror(CM_EUPGRADE));
		return CM_EUPGRADE;
	}
	if (v.mv_size != 4 || (get16(v.mv_data) != META_FORMAT &&
	    get16(v.mv_data) != 1) ||
	    get16((const unsigned char *)v.mv_data + 2) != 0) {
		set_err(idx, "unsupported index format version");
		return CM_EFORMAT;
	}
	idx->meta_format = get16(v.mv_data);
	k.mv_data = "keycheck";
	k.mv_size = 8;
	rc = mdb_get(txn, idx->db_meta, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return db_err(idx, "read keycheck", rc);
	if (rc == MDB_NOTFOUND || v.mv_size != 8 ||
	    memcmp(v.mv_data, kc, 8) != 0) {
		set_err(idx, "erasure.key does not belong to this index");
		return CM_EFORMAT;
	}
	return CM_OK;
}

/*
 * Key order of "index" and "history": exactly LMDB's default (octets,
 * then the shorter key first), so any tool reading the files with the
 * default order sees the same tree; only faster for the fixed-size
 * hashed keys (16 and 24 octets), compared as big-endian words instead
 * of through memcmp().
 */
static int
key_cmp(const MDB_val *a, const MDB_val *b)
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
		    (a->mv_size == AKEY_LEN || a->mv_size == HKEY_LEN)) {
			memcpy(&p, x + 8, 8);
			memcpy(&q, y + 8, 8);
			if (p != q)
				return be64toh(p) < be64toh(q) ? -1 : 1;
			if (a->mv_size == AKEY_LEN)
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

static cm_status
open_dbs(cm_index *idx, bool create, const unsigned char *kc)
{
	static const char *const names[] = { "meta", "index", "history" };
	MDB_dbi *dbis[] = { &idx->db_meta, &idx->db_index, &idx->db_hist };
	MDB_txn *txn;
	cm_status st;
	int rc;

	for (;;) {
		rc = mdb_txn_begin(idx->env, NULL,
		    idx->readonly ? MDB_RDONLY : 0, &txn);
		if (rc != MDB_MAP_RESIZED)
			break;
		if ((rc = mdb_env_set_mapsize(idx->env,
		    remap_size(idx))) != 0)
			break;
	}
	if (rc != 0)
		return db_err(idx, "open transaction", rc);
	for (size_t i = 0; i < 3; i++) {
		rc = mdb_dbi_open(txn, names[i],
		    create && !idx->readonly ? MDB_CREATE : 0, dbis[i]);
		if (rc == MDB_NOTFOUND) {
			mdb_txn_abort(txn);
			set_err(idx, "not a consent index (no \"%s\")",
			    names[i]);
			return CM_EFORMAT;
		}
		if (rc != 0) {
			mdb_txn_abort(txn);
			return db_err(idx, "open database", rc);
		}
		if (i > 0 && (rc = mdb_set_compare(txn, *dbis[i],
		    key_cmp)) != 0) {
			mdb_txn_abort(txn);
			return db_err(idx, "set key order", rc);
		}
	}
	if ((st = meta_check(idx, txn, create && !idx->readonly, kc)) !=
	    CM_OK) {
		mdb_txn_abort(txn);
		return st;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return db_err(idx, "commit open", rc);
	return CM_OK;
}

cm_status
cm_index_open(const char *dir, const cm_index_opts *opts, cm_index **out)
{
	cm_index_opts o = { 0 };
	unsigned char key[CM_HMAC_KEY_LEN], d[CM_HMAC_OUT_LEN], kc[8];
	static const char sipctx[] = "consent-milter address key v1";
	static const char kcctx[] = "consent-milter key check";
	cm_index *idx;
	cm_status st;
	struct stat sb;
	char *p;
	bool exists;
	int rc;

	if (dir == NULL || out == NULL)
		return CM_EINVAL;
	*out = NULL;
	if (opts != NULL)
		o = *opts;
	if (o.readonly)
		o.create = false;
	if (o.map_size == 0)
		o.map_size = 64u << 20;
	if (o.max_readers == 0)
		o.max_readers = 510;
	if (stat(dir, &sb) != 0)
		return cm_status_errno(errno);
	if (!S_ISDIR(sb.st_mode))
		return CM_EINVAL;
	if ((idx = calloc(1, sizeof(*idx))) == NULL)
		return CM_ENOMEM;
	/* before anything of the environment is looked at */
	if (!o.readonly &&
	    (st = cm_wlock_acquire(dir, !o.no_wait, &idx->wl)) != CM_OK) {
		free(idx);
		return st;
	}
	if ((p = path_join(dir, "data.mdb")) == NULL) {
		cm_wlock_release(idx->wl);
		free(idx);
		return CM_ENOMEM;
	}
	exists = stat(p, &sb) == 0;
	rc = errno;
	free(p);
	if (!exists && rc != ENOENT) {	/* e.g. permission denied */
		cm_wlock_release(idx->wl);
		free(idx);
		return cm_status_errno(rc);
	}
	if ((!exists && !o.create) ||
	    (idx->dir = strdup(dir)) == NULL) {
		cm_wlock_release(idx->wl);
		free(idx);
		return exists || o.create ? CM_ENOMEM : CM_NOTFOUND;
	}
	pthread_rwlock_init(&idx->maplock, NULL);
	pthread_mutex_init(&idx->poollock, NULL);
	pthread_mutex_init(&idx->wlock, NULL);
	pthread_mutex_init(&idx->errlock, NULL);
	idx->readonly = o.readonly;
	idx->bulk = o.bulk && !o.readonly;
	idx->rules.skew_us = o.clock_skew_us;
	idx->upgrade = o.upgrade && !o.readonly;
	snprintf(idx->err, sizeof(idx->err), "no error");

	if ((st = load_key(idx, o.create && !exists, key)) != CM_OK)
		goto fail;
	st = cm_hmac_new(key, sizeof(key), &idx->hmac);
	memset(key, 0, sizeof(key));
	if (st != CM_OK)
		goto fail;
	cm_hmac_sha256(idx->hmac, sipctx, sizeof(sipctx) - 1, d);
	memcpy(idx->sipkey, d, sizeof(idx->sipkey));
	cm_hmac_sha256(idx->hmac, kcctx, sizeof(kcctx) - 1, d);
	memcpy(kc, d, sizeof(kc));

	if ((rc = mdb_env_create(&idx->env)) != 0) {
		st = db_err(idx, "create environment", rc);
		goto fail;
	}
	/* A writable map (bulk) truncates data.mdb to the map size, which
	 * LMDB takes from the last commit: a map grown by an import that
	 * did not commit is longer.  Map at least the whole file. */
	if ((rc = mdb_env_set_maxdbs(idx->env, 8)) != 0 ||
	    (rc = mdb_env_set_maxreaders(idx->env, o.max_readers)) != 0 ||
	    (!exists && (rc = mdb_env_set_mapsize(idx->env,
	    o.map_size)) != 0) ||
	    (exists && idx->bulk && (rc = mdb_env_set_mapsize(idx->env,
	    (size_t)sb.st_size)) != 0)) {
		st = db_err(idx, "configure environment", rc);
		goto fail;
	}
	rc = mdb_env_open(idx->env, dir,
	    MDB_NOTLS | (o.readonly ? MDB_RDONLY :
	    o.bulk ? MDB_WRITEMAP : 0), 0600);
	if (rc != 0) {
		if (rc == EACCES || rc == EPERM || rc == EROFS)
			st = CM_EPERM;
		else if (rc == ENOENT)
			st = CM_NOTFOUND;
		else
			st = CM_EDB;
		(void)db_err(idx, "open environment", rc);
		if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
			st = CM_EFORMAT;
		goto fail;
	}
	(void)mdb_reader_check(idx->env, NULL);
	idx->reader_check_us = cm_time_now();
	if ((st = open_dbs(idx, o.create && !exists, kc)) != CM_OK)
		goto fail;
	*out = idx;
	return CM_OK;
fail:
	cm_index_close(idx);
	return st;
}

cm_status
cm_index_check_file(cm_index *idx)
{
	struct stat open_sb, path_sb;
	char *p;
	int fd, r, e;

	if (idx == NULL || idx->env == NULL)
		return CM_EINVAL;
	if (mdb_env_get_fd(idx->env, &fd) != 0 || fstat(fd, &open_sb) != 0)
		return CM_EIO;
	if ((p = path_join(idx->dir, "data.mdb")) == NULL)
		return CM_ENOMEM;
	r = stat(p, &path_sb);
	e = errno;
	free(p);
	if (r != 0)
		return e == ENOTDIR ? CM_NOTFOUND : cm_status_errno(e);
	return open_sb.st_dev == path_sb.st_dev &&
	    open_sb.st_ino == path_sb.st_ino ? CM_OK : CM_ESTALE;
}

void
cm_index_close(cm_index *idx)
{
	if (idx == NULL)
		return;
	while (idx->npool > 0) {
		cm_rtxn *t = idx->pool[--idx->npool];

		rtxn_free(t);
	}
	if (idx->env != NULL)
		mdb_env_close(idx->env);
	cm_wlock_release(idx->wl);	/* after the environment is closed */
	cm_hmac_free(idx->hmac);
	memset(idx->sipkey, 0, sizeof(idx->sipkey));
	pthread_rwlock_destroy(&idx->maplock);
	pthread_mutex_destroy(&idx->poollock);
	pthread_mutex_destroy(&idx->wlock);
	pthread_mutex_destroy(&idx->errlock);
	free(idx->dir);
	free(idx);
}

/* ---------------------------------------------------------------- */
/* write transactions */

typedef struct bev {
	cm_event ev;
	evlen len;
	size_t pos;		/* position in the batch as added */
	unsigned char key[AKEY_LEN];
} bev;

typedef struct scrubset {
	char **addr;
	size_t n, cap;
} scrubset;

typedef struct wctx {
	cm_index *idx;
	MDB_txn *txn;
	uint64_t seq;
	bool seq_dirty;
	int64_t recorded;
	/*
	 * Append mode: LAST is the greatest address key in "index" (all
	 * zero: none).  An address key above it is new, and so is every
	 * history key under it: both are written with MDB_APPEND (no
	 * lookup, no page split in the middle of the tree), which is what
	 * makes the first import of a sorted batch fast.
	 */
	unsigned char last[AKEY_LEN];
	bool append;		/* the current event's key is above LAST */
	/*
	 * Cursors on "index" and "history" (opened on first use, closed
	 * by LMDB with the transaction).  Events come in key order: a
	 * cursor already on the right leaf page finds the next key there
	 * instead of descending from the root, and a put after a get on
	 * the same cursor does not descend again.
	 */
	MDB_cursor *ic, *hc;
	dentry ent;
	cm_rules_out ro;	/* what the rules made of the last event */
	unsigned char *old;	/* copy of the stored entry */
	size_t oldcap;
	unsigned char *buf;	/* new entry / history blob */
	size_t bufcap;
	scrubset *scrub;
	size_t applied, stale;
	/* bulk imports: the map is populated ahead of the pages LMDB
	 * allocates, PF_PAGES0 the pages in use when it started */
	cm_prefault *pf;
	size_t pf_pages0, psize;
} wctx;

static bool
ensure(unsigned char **b, size_t *cap, size_t want)
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

static void
wctx_free(wctx *w)
{
	cm_rules_out_free(&w->ro);
	free(w->ent.recs);
	free(w->old);
	free(w->buf);
}

static cm_status
hist_put(wctx *w, const unsigned char *ak, cm_event_kind kind,
    const unsigned char *type, size_t tlen, cm_state old, cm_state new,
    int64_t at, const cm_event *ev, const evlen *el)
{
	const char *s[5] = { ev->source, ev->basis, ev->purpose,
	    ev->evidence, ev->actor };
	const size_t *l = el->f;
	size_t sz = HIST_HDR + 2 + tlen;
	unsigned char k[HKEY_LEN], *p;
	MDB_val key = { HKEY_LEN, k }, val;
	int rc;

	for (int i = 0; i < 5; i++)
		sz += 2 + l[i];
	if (!ensure(&w->buf, &w->bufcap, sz))
		return CM_ENOMEM;
	p = w->buf;
	p[0] = FORMAT_VERSION;
	p[1] = (unsigned char)kind;
	p[2] = (unsigned char)old;
	p[3] = (unsigned char)new;
	p[4] = p[5] = p[6] = p[7] = 0;
	puti64(p + 8, at);
	puti64(p + 16, w->recorded);
	p += HIST_HDR;
	put16(p, (uint16_t)tlen);
	if (tlen)
		memcpy(p + 2, type, tlen);
	p += 2 + tlen;
	for (int i = 0; i < 5; i++) {
		put16(p, (uint16_t)l[i]);
		if (l[i])
			memcpy(p + 2, s[i], l[i]);
		p += 2 + l[i];
	}
	memcpy(k, ak, AKEY_LEN);
	for (int i = 0; i < 8; i++)
		k[AKEY_LEN + i] = (unsigned char)(w->seq >> (56 - 8 * i));
	w->seq++;
	w->seq_dirty = true;
	val.mv_data = w->buf;
	val.mv_size = sz;
	if (w->hc == NULL && (rc = mdb_cursor_open(w->txn, w->idx->db_hist,
	    &w->hc)) != 0)
		return db_err(w->idx, "history cursor", rc);
	if ((rc = mdb_cursor_put(w->hc, &key, &val,
	    w->append ? MDB_APPEND : 0)) != 0)
		return db_err(w->idx, "write history", rc);
	return CM_OK;
}

/* Zero the value under KEY in place, then delete it. */
/* Remember LEN octets at P to be scrubbed (see scrub()). */
static cm_status
scrub_addn(scrubset *s, const void *p, size_t len)
{
	char **na;

	if (s == NULL || len == 0 || memchr(p, '\0', len) != NULL)
		return CM_OK;
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->addr[i]) == len &&
		    memcmp(s->addr[i], p, len) == 0)
			return CM_OK;
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 4;

		if ((na = realloc(s->addr, nc * sizeof(*na))) == NULL)
			return CM_ENOMEM;
		s->addr = na;
		s->cap = nc;
	}
	if ((s->addr[s->n] = strndup(p, len)) == NULL)
		return CM_ENOMEM;
	s->n++;
	return CM_OK;
}

/* Strings shorter than this are too generic to identify anyone
 * ("import", "crm"); they are not searched for. */
#define SCRUB_MIN 8

/* Remember the strings of a history value before it is zeroed. */
static cm_status
scrub_hist(scrubset *s, const unsigned char *v, size_t n)
{
	size_t off = HIST_HDR;
	cm_status st;

	for (int i = 0; i < 6 && n >= off + 2; i++) {
		size_t l = get16(v + off);

		if (n - off - 2 < l)
			break;
		if (l >= SCRUB_MIN &&
		    (st = scrub_addn(s, v + off + 2, l)) != CM_OK)
			return st;
		off += 2 + l;
	}
	return CM_OK;
}

static void
scrub_free(scrubset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->addr[i]);
	free(s->addr);
	s->addr = NULL;
	s->n = s->cap = 0;
}

static cm_status
erase_key(wctx *w, const char *addr, size_t len, const unsigned char *ak,
    int64_t at)
{
	cm_index *idx = w->idx;
	unsigned char tv[TOMB_LEN], hk[HKEY_LEN];
	MDB_val key = { AKEY_LEN, (void *)(uintptr_t)ak }, val;
	MDB_cursor *c;
	int64_t erased = 0;
	cm_status st;
	int rc;

	if ((st = scrub_addn(w->scrub, addr, len)) != CM_OK)
		return st;
	rc = mdb_get(w->txn, idx->db_index, &key, &val);
	if (rc == 0 && val.mv_size == TOMB_LEN &&
	    ((const unsigned char *)val.mv_data)[1] == KIND_TOMB) {
		erased = geti64((const unsigned char *)val.mv_data + 8);
	} else if (rc == 0) {
		MDB_val nv = { val.mv_size, NULL };

		if (entry_decode(val.mv_data, val.mv_size, &w->ent) != CM_OK)
			return fmt_err(idx, "entry");
		for (size_t i = 0; i < w->ent.nrec; i++)
			for (int j = 0; j < 4; j++)
				if (w->ent.recs[i].f[j].n >= SCRUB_MIN &&
				    (st = scrub_addn(w->scrub,
				    w->ent.recs[i].f[j].p,
				    w->ent.recs[i].f[j].n)) != CM_OK)
					return st;
		/* zero the stored entry where it lies, then replace it */
		if ((rc = mdb_put(w->txn, idx->db_index, &key, &nv,
		    MDB_RESERVE)) != 0)
			return db_err(idx, "erase (overwrite)", rc);
		memset(nv.mv_data, 0, nv.mv_size);
	} else if (rc != MDB_NOTFOUND) {
		return db_err(idx, "erase lookup", rc);
	}
	tv[0] = FORMAT_VERSION;
	tv[1] = KIND_TOMB;
	memset(tv + 2, 0, 6);
	puti64(tv + 8, at > erased ? at : erased);
	val.mv_data = tv;
	val.mv_size = sizeof(tv);
	if ((rc = mdb_put(w->txn, idx->db_index, &key, &val, 0)) != 0)
		return db_err(idx, "write tombstone", rc);

	/* history: AKEY + seq, zero each value then delete */
	if ((rc = mdb_cursor_open(w->txn, idx->db_hist, &c)) != 0)
		return db_err(idx, "erase history", rc);
	memcpy(hk, ak, AKEY_LEN);
	memset(hk + AKEY_LEN, 0, 8);
	for (;;) {
		MDB_val nv;

		key.mv_data = hk;
		key.mv_size = HKEY_LEN;
		rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
		if (rc != 0 || key.mv_size != HKEY_LEN ||
		    memcmp(key.mv_data, ak, AKEY_LEN) != 0)
			break;
		if ((st = scrub_hist(w->scrub, val.mv_data, val.mv_size)) !=
		    CM_OK) {
			mdb_cursor_close(c);
			return st;
		}
		nv.mv_size = val.mv_size;
		nv.mv_data = NULL;
		rc = mdb_cursor_put(c, &key, &nv, MDB_CURRENT | MDB_RESERVE);
		if (rc != 0)
			break;
		memset(nv.mv_data, 0, nv.mv_size);
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return db_err(idx, "erase history", rc);
	return CM_OK;
}

typedef struct erase_sub {
	wctx *w;
	const cm_event *ev;
	int64_t at;
} erase_sub;

static cm_status
erase_sub_fn(void *arg, const unsigned char *key, const char *addr,
    size_t len)
{
	erase_sub *e = arg;
	cm_status st = erase_key(e->w, addr, len, key, e->at);

	if (st == CM_OK && e->ev->erased != NULL)
		e->ev->erased(e->ev->erased_arg, addr, len);
	return st;
}

/* ERASE: the address, then its sub-addresses (subaddr.h), each leaving
 * a tombstone of its own, in the same transaction. */
static cm_status
do_erase(wctx *w, const cm_event *ev, const unsigned char *ak, int64_t at)
{
	size_t len = strlen(ev->addr);
	erase_sub e = { w, ev, at };
	cm_status st;
	int rc;

	if ((st = erase_sub_fn(&e, ak, ev->addr, len)) != CM_OK)
		return st;
	st = cm_subaddr_each(w->txn, w->idx->db_index, ev->addr, len,
	    ev->subaddr_sep, erase_sub_fn, &e, &rc);
	if (st == CM_EDB && rc != 0)
		return db_err(w->idx, "erase sub-addresses", rc);
	return st;
}

static cm_status
do_domain(wctx *w, const cm_event *ev, const evlen *el,
    const unsigned char *hk, int64_t at, bool *applied)
{
	cm_index *idx = w->idx;
	bool sup = ev->kind == CM_EV_SUPPRESS_DOMAIN, was = false;
	size_t dl = el->addr, sl = el->f[0];
	unsigned char k[DOMAIN_MAX + 1];
	MDB_val key = { dkey(ev->addr, dl, k), k }, val;
	int64_t since = 0;
	cm_status st;
	int rc;

	rc = mdb_get(w->txn, idx->db_index, &key, &val);
	if (rc == 0) {
		const unsigned char *v = val.mv_data;
		int64_t upd;

		if (!domain_value(v, val.mv_size, ev->addr, dl, &was))
			return fmt_err(idx, "domain entry");
		since = geti64(v + 8);
		upd = geti64(v + 16);
		if (!cm_rules_domain_applies(true, was, upd, sup, at)) {
			*applied = false;
			return CM_OK;
		}
	} else if (rc != MDB_NOTFOUND) {
		return db_err(idx, "domain lookup", rc);
	}
	if (!ensure(&w->buf, &w->bufcap, DOM_HDR + dl + sl))
		return CM_ENOMEM;
	w->buf[0] = FORMAT_VERSION;
	w->buf[1] = KIND_DOMAIN;
	w->buf[2] = sup;
	w->buf[3] = 0;
	put16(w->buf + 4, (uint16_t)dl);
	put16(w->buf + 6, (uint16_t)sl);
	puti64(w->buf + 8, sup ? at : since);
	puti64(w->buf + 16, at);
	memcpy(w->buf + DOM_HDR, ev->addr, dl);
	if (sl)
		memcpy(w->buf + DOM_HDR + dl, ev->source, sl);
	val.mv_data = w->buf;
	val.mv_size = DOM_HDR + dl + sl;
	if ((rc = mdb_put(w->txn, idx->db_index, &key, &val, 0)) != 0)
		return db_err(idx, "write domain", rc);
	st = hist_put(w, hk, ev->kind, NULL, 0,
	    was ? CM_STATE_WITHDRAWN : CM_STATE_NONE,
	    sup ? CM_STATE_WITHDRAWN : CM_STATE_NONE, at, ev, el);
	*applied = st == CM_OK;
	return st;
}

static void
set_fields(drec *r, const cm_event *ev, const evlen *el, bool keep_null)
{
	const char *s[4] = { ev->source, ev->basis, ev->purpose,
	    ev->evidence };

	for (int i = 0; i < 4; i++)
		if (s[i] != NULL || !keep_null) {
			r->f[i].p = (const unsigned char *)(s[i] ? s[i] : "");
			r->f[i].n = el->f[i];
		}
}

static cm_status
put_entry(wctx *w, const unsigned char *ak)
{
	size_t sz = entry_size(&w->ent);
	MDB_val key = { AKEY_LEN, (void *)(uintptr_t)ak }, val = { sz, NULL };
	int rc;

	if (!ensure(&w->buf, &w->bufcap, sz))
		return CM_ENOMEM;
	entry_encode(&w->ent, w->buf);
	val.mv_data = w->buf;
	if ((rc = mdb_cursor_put(w->ic, &key, &val,
	    w->append ? MDB_APPEND : 0)) != 0)
		return db_err(w->idx, "write entry", rc);
	return CM_OK;
}

/* An event dated after LIMIT (now + the allowed clock skew): refused,
 * with a message naming its time and the limit. */
static cm_status
future_err(cm_index *idx, const cm_event *ev, int64_t at, int64_t limit)
{
	char a[CM_TIME_BUFSZ], l[CM_TIME_BUFSZ];

	set_err(idx, "%s dated %s: later than %s (now plus the allowed clock "
	    "skew of %lld s)", cm_event_kind_name(ev->kind),
	    cm_time_format(at, a), cm_time_format(limit, l),
	    (long long)((idx->rules.skew_us > 0 ? idx->rules.skew_us :
	    CM_RULES_SKEW_DEFAULT) / 1000000));
	return CM_EFUTURE;
}

/* Apply one validated event: load the stored state, let the rules
 * (rules.h) decide, write what they return.  *applied tells whether it
 * changed anything; CM_OK with !*applied is "stale". */
static cm_status
apply_one(wctx *w, const cm_event *ev, const evlen *el,
    const unsigned char *ak, bool *applied)
{
	cm_index *idx = w->idx;
	int64_t at = ev->at_us ? ev->at_us : w->recorded, limit;
	size_t alen;
	MDB_val key = { AKEY_LEN, (void *)(uintptr_t)ak }, val;
	dentry *e = &w->ent;
	cm_rules_out *ro = &w->ro;
	bool tomb = false;
	int64_t erased = 0;
	cm_status st;
	int rc;

	*applied = false;
	w->append = false;
	if (!cm_rules_time_ok(at, w->recorded, &idx->rules, &limit))
		return future_err(idx, ev, at, limit);
	switch (ev->kind) {
	case CM_EV_ERASE:
		*applied = true;
		if (memcmp(ak, w->last, AKEY_LEN) > 0)
			memcpy(w->last, ak, AKEY_LEN);
		return do_erase(w, ev, ak, at);
	case CM_EV_SUPPRESS_DOMAIN:
	case CM_EV_UNSUPPRESS_DOMAIN:
		return do_domain(w, ev, el, ak, at, applied);
	default:
		break;
	}
	alen = el->addr;
	if (w->ic == NULL && (rc = mdb_cursor_open(w->txn, idx->db_index,
	    &w->ic)) != 0)
		return db_err(idx, "index cursor", rc);
	if (memcmp(ak, w->last, AKEY_LEN) > 0) {
		/* above every stored address key: new, no lookup */
		memcpy(w->last, ak, AKEY_LEN);
		w->append = true;
		rc = MDB_NOTFOUND;
	} else {
		rc = mdb_cursor_get(w->ic, &key, &val, MDB_SET);
	}
	if (rc == 0 && val.mv_size == TOMB_LEN &&
	    ((const unsigned char *)val.mv_data)[0] == FORMAT_VERSION &&
	    ((const unsigned char *)val.mv_data)[1] == KIND_TOMB) {
		tomb = true;
		erased = geti64((const unsigned char *)val.mv_data + 8);
		rc = MDB_NOTFOUND;
	}
	if (rc == 0) {
		if (!ensure(&w->old, &w->oldcap, val.mv_size))
			return CM_ENOMEM;
		memcpy(w->old, val.mv_data, val.mv_size);
		if ((st = entry_decode(w->old, val.mv_size, e)) != CM_OK)
			return st == CM_EFORMAT ?
			    fmt_err(idx, "consent entry") : st;
		if (e->addr.n != alen || memcmp(e->addr.p, ev->addr, alen))
			return fmt_err(idx, "address key collision");
		e->erased = false;
		e->erased_us = 0;
	} else if (rc == MDB_NOTFOUND) {
		e->objection_us = e->last_grant_us = 0;
		e->addr.p = (const unsigned char *)ev->addr;
		e->addr.n = alen;
		e->nrec = 0;
		e->erased = tomb;
		e->erased_us = erased;
	} else {
		return db_err(idx, "lookup", rc);
	}

	if ((st = cm_rules_apply(e, ev, el->f, w->recorded, &idx->rules, ro))
	    != CM_OK)
		return st;
	if (ro->verdict == CM_RULES_STALE)
		return CM_OK;
	if (ro->verdict == CM_RULES_REFUSED) {
		switch (ro->refusal) {
		case CM_RULES_NO_RECORD:
			set_err(idx, "%s: no record of type %s for %s",
			    cm_event_kind_name(ev->kind), ev->type, ev->addr);
			return CM_NOTFOUND;
		case CM_RULES_TOO_MANY:
			return CM_ETOOLONG;
		case CM_RULES_FUTURE:
			return future_err(idx, ev, at, limit);
		default:
			return CM_EINVAL;
		}
	}
	/* history strings may point into w->old: write them first */
	for (size_t i = 0; i < ro->nhist; i++) {
		const cm_rules_hist *h = &ro->hist[i];

		if ((st = hist_put(w, ak, h->kind, h->type.p, h->type.n,
		    h->old_state, h->new_state, ro->at, ev, el)) != CM_OK)
			return st;
	}
	if ((st = put_entry(w, ak)) != CM_OK)
		return st;
	*applied = true;
	return CM_OK;
}

/* Check EV, whose string lengths are EL (ev_lengths). */
static cm_status
validate(const cm_event *ev, const evlen *el)
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
		if (!valid_type(ev->type, &tl))
			return CM_EINVAL;
		/* FALLTHROUGH */
	case CM_EV_OBJECT:
	case CM_EV_ERASE:
		if (n < 3 || n > ADDR_MAX || strchr(ev->addr, '@') == NULL)
			return CM_EINVAL;
		return CM_OK;
	case CM_EV_SUPPRESS_DOMAIN:
	case CM_EV_UNSUPPRESS_DOMAIN:
		if (n < 1 || n > DOMAIN_MAX || strchr(ev->addr, '@') != NULL)
			return CM_EINVAL;
		return CM_OK;
	default:
		return CM_EINVAL;
	}
}

/* Grow the map after MDB_MAP_FULL (no transaction of ours active). */
/* Octets of data.mdb in use (up to the last page) into *USED, and the
 * map size into *MAP (may be NULL); LMDB's code. */
static int
env_used(cm_index *idx, size_t *used, size_t *map)
{
	MDB_envinfo info;
	MDB_stat est;
	int rc;

	if ((rc = mdb_env_info(idx->env, &info)) != 0 ||
	    (rc = mdb_env_stat(idx->env, &est)) != 0)
		return rc;
	*used = (info.me_last_pgno + 1) * est.ms_psize;
	if (map != NULL)
		*map = info.me_mapsize;
	return 0;
}

static cm_status
grow_map(cm_index *idx, size_t want_free)
{
	size_t ns, used;
	int rc;

	pthread_rwlock_wrlock(&idx->maplock);
	pthread_mutex_lock(&idx->poollock);
	while (idx->npool > 0) {
		cm_rtxn *t = idx->pool[--idx->npool];

		rtxn_free(t);
	}
	pthread_mutex_unlock(&idx->poollock);
	rc = env_used(idx, &used, &ns);
	if (rc == 0) {
		if (want_free > 0 && ns - used >= want_free) {
			rc = 0;		/* room enough already */
		} else if (ns > SIZE_MAX / 4 || want_free > SIZE_MAX / 4) {
			rc = MDB_MAP_FULL;
		} else {
			ns = ns < (1u << 20) ? ns * 4 : ns * 2;
			if (ns < used + 2 * want_free)
				ns = used + 2 * want_free;
			rc = mdb_env_set_mapsize(idx->env, ns);
		}
	}
	pthread_rwlock_unlock(&idx->maplock);
	if (rc != 0)
		return db_err(idx, "grow map", rc);
	return CM_OK;
}

static cm_status scrub(cm_index *idx, const scrubset *s);

/* CM_EDB from db_err: recover the LMDB code for MAP_FULL detection
 * (writes are serialized by wlock, so this is our own last error). */
static int
last_is_full(cm_index *idx)
{
	int full;

	pthread_mutex_lock(&idx->errlock);
	full = idx->last_rc == MDB_MAP_FULL;
	idx->last_rc = 0;
	pthread_mutex_unlock(&idx->errlock);
	return full;
}

/* Clear the reader slots of dead processes now and then, not only at
 * open (a daemon runs for months).  Called with wlock held. */
static void
reader_check_now_and_then(cm_index *idx)
{
	if (cm_time_now() - __atomic_load_n(&idx->reader_check_us,
	    __ATOMIC_RELAXED) > 60 * INT64_C(1000000)) {
		__atomic_store_n(&idx->reader_check_us, cm_time_now(),
		    __ATOMIC_RELAXED);
		(void)mdb_reader_check(idx->env, NULL);
	}
}

/*
 * Begin a write transaction into W (wlock held by the caller): takes the
 * read side of maplock (kept until wtxn_end), sets up W (append mode
 * bound, history sequence).  CM_OK, or a status with *LRC the LMDB code
 * (MDB_MAP_RESIZED: remapped, begin again).
 */
static cm_status
wtxn_begin(cm_index *idx, wctx *w, scrubset *sc, int *lrc)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	*lrc = 0;
	pthread_rwlock_rdlock(&idx->maplock);
	rc = mdb_txn_begin(idx->env, NULL, 0, &w->txn);
	if (rc != 0) {
		pthread_rwlock_unlock(&idx->maplock);
		*lrc = rc;
		if (rc == MDB_MAP_RESIZED) {
			cm_status st = remap(idx);

			if (st != CM_OK)
				*lrc = 0;	/* do not begin again */
			return st != CM_OK ? st : CM_EDB;
		}
		return db_err(idx, "begin write transaction", rc);
	}
	w->idx = idx;
	w->recorded = cm_time_now();
	w->applied = w->stale = 0;
	memset(w->last, 0, sizeof(w->last));
	rc = mdb_cursor_open(w->txn, idx->db_index, &c);
	if (rc == 0) {
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
		if (rc == 0 && k.mv_size == AKEY_LEN &&
		    (((const unsigned char *)k.mv_data)[0] & 0x80))
			memcpy(w->last, k.mv_data, AKEY_LEN);
		mdb_cursor_close(c);
	}
	/* any failure: no append mode, LAST all ones */
	if (rc != 0 && rc != MDB_NOTFOUND)
		memset(w->last, 0xff, sizeof(w->last));
	w->seq_dirty = false;
	w->ic = w->hc = NULL;
	w->scrub = sc;
	scrub_free(sc);
	pthread_mutex_lock(&idx->errlock);
	idx->last_rc = 0;
	pthread_mutex_unlock(&idx->errlock);
	k.mv_size = 3;
	k.mv_data = "seq";
	rc = mdb_get(w->txn, idx->db_meta, &k, &v);
	if (rc == 0 && v.mv_size == 8) {
		w->seq = get64(v.mv_data);
		return CM_OK;
	}
	mdb_txn_abort(w->txn);
	w->txn = NULL;
	pthread_rwlock_unlock(&idx->maplock);
	*lrc = rc;
	return rc == 0 ? fmt_err(idx, "seq") : db_err(idx, "read seq", rc);
}

/*
 * End the write transaction of W begun by wtxn_begin: with ST == CM_OK
 * and !DRY, store the history sequence and commit; otherwise abort.
 * Releases maplock.  Returns the final status; *LRC gets MDB_MAP_FULL
 * when the transaction failed for want of map space.
 */
static cm_status
wtxn_end(cm_index *idx, wctx *w, cm_status st, bool dry, int *lrc)
{
	int rc;

	if (st == CM_OK && w->seq_dirty) {
		MDB_val k = { 3, "seq" }, v;
		unsigned char b[8];

		put64(b, w->seq);
		v.mv_data = b;
		v.mv_size = 8;
		if ((rc = mdb_put(w->txn, idx->db_meta, &k, &v, 0)) != 0) {
			st = db_err(idx, "write seq", rc);
			*lrc = rc;
		}
	}
	if (st == CM_OK && !dry) {
		rc = mdb_txn_commit(w->txn);
		w->txn = NULL;
		if (rc != 0) {
			st = db_err(idx, "commit", rc);
			*lrc = rc;
		}
	} else {
		mdb_txn_abort(w->txn);
		w->txn = NULL;
	}
	pthread_rwlock_unlock(&idx->maplock);
	if (st == CM_EDB && last_is_full(idx))
		*lrc = MDB_MAP_FULL;
	return st;
}

/*
 * Run FN in a write transaction with retries: MDB_MAP_RESIZED at begin
 * (remap), MDB_MAP_FULL anywhere (abort, grow, rerun FN from scratch).
 * FN returns a cm_status; on CM_EDB it stores the LMDB code in *lmdb_rc.
 * With DRY, the transaction is aborted instead of committed.
 */
typedef cm_status (*wfn)(wctx *w, void *arg, int *lmdb_rc);

static cm_status
write_txn(cm_index *idx, wfn fn, void *arg, bool dry, wctx *w)
{
	cm_status st = CM_EDB;
	scrubset sc = { 0 };

	if (idx->readonly) {
		set_err(idx, "index opened read-only");
		return CM_EPERM;
	}
	pthread_mutex_lock(&idx->wlock);
	reader_check_now_and_then(idx);
	for (int tries = 0; tries < MAX_RETRY; tries++) {
		int lrc = 0;

		st = wtxn_begin(idx, w, &sc, &lrc);
		if (st != CM_OK) {
			if (lrc == MDB_MAP_RESIZED)
				continue;
			break;
		}
		st = fn(w, arg, &lrc);
		st = wtxn_end(idx, w, st, dry, &lrc);
		if (lrc == MDB_MAP_FULL) {
			if ((st = grow_map(idx, 0)) != CM_OK)
				break;
			continue;
		}
		break;
	}
	if (st == CM_OK && !dry && sc.n > 0)
		(void)scrub(idx, &sc);
	scrub_free(&sc);
	pthread_mutex_unlock(&idx->wlock);
	return st;
}

typedef struct one_arg {
	const cm_event *ev;
	evlen len;
	bool applied;
} one_arg;

static cm_status
one_fn(wctx *w, void *arg, int *lrc)
{
	one_arg *a = arg;
	unsigned char k[AKEY_LEN];
	cm_status st;

	subject_key(w->idx, a->ev->addr, a->len.addr, k);
	(void)lrc;
	st = apply_one(w, a->ev, &a->len, k, &a->applied);
	if (st == CM_OK && !a->applied)
		st = CM_ESTALE;
	return st;
}

cm_status
cm_index_apply(cm_index *idx, const cm_event *ev)
{
	one_arg a;
	wctx w = { 0 };
	cm_status st;

	if (idx == NULL || ev == NULL)
		return CM_EINVAL;
	a.ev = ev;
	a.applied = false;
	ev_lengths(ev, &a.len);
	if ((st = validate(ev, &a.len)) != CM_OK)
		return st;
	st = write_txn(idx, one_fn, &a, false, &w);
	if (st == CM_ESTALE) {
		/* nothing was changed: the (empty) transaction was aborted */
	}
	wctx_free(&w);
	return st;
}

/* ---------------------------------------------------------------- */
/* batches */

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

	evlen l;

	if (b == NULL || ev == NULL)
		return CM_EINVAL;
	ev_lengths(ev, &l);
	if ((st = validate(ev, &l)) != CM_OK)
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

typedef struct batch_arg {
	bev **order;
	size_t n;
	size_t failed_at;
} batch_arg;

/* Pages in use by the transaction of W (all databases, in pages). */
static size_t
txn_pages(const wctx *w)
{
	const MDB_dbi dbis[] = { 0, 1, w->idx->db_meta, w->idx->db_index,
	    w->idx->db_hist };
	size_t n = 0;
	MDB_stat st;

	for (size_t i = 0; i < sizeof(dbis) / sizeof(dbis[0]); i++)
		if (mdb_stat(w->txn, dbis[i], &st) == 0)
			n += st.ms_branch_pages + st.ms_leaf_pages +
			    st.ms_overflow_pages;
	return n;
}

/* Tell the prefaulter how far the transaction of W has come: new pages
 * are allocated at the end of the file, one after the other. */
static void
prefault_progress(wctx *w)
{
	size_t n = txn_pages(w);

	if (n > w->pf_pages0)
		cm_prefault_advance(w->pf, (n - w->pf_pages0) * w->psize);
}

static cm_status
batch_fn(wctx *w, void *arg, int *lrc)
{
	batch_arg *a = arg;

	(void)lrc;
	for (size_t i = 0; i < a->n; i++) {
		bool applied;
		const bev *e = a->order[i];

		/* the events are visited in key order, which is random
		 * order in memory: fetch ahead what the next ones read */
		if (i + 8 < a->n)
			__builtin_prefetch(a->order[i + 8]);
		if (i + 4 < a->n) {
			const char *p = a->order[i + 4]->ev.addr;

			__builtin_prefetch(p);
			__builtin_prefetch(p + 64);
		}
		if (w->pf != NULL && i % 1024 == 0)
			prefault_progress(w);
		cm_status st = apply_one(w, &e->ev, &e->len, e->key, &applied);

		if (st != CM_OK) {
			a->failed_at = a->order[i]->pos;
			return st;
		}
		if (applied)
			w->applied++;
		else
			w->stale++;
	}
	return CM_OK;
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

		subject_key(idx, e->ev.addr, e->len.addr, e->key);
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

cm_status
cm_index_apply_batch(cm_index *idx, cm_batch *b, cm_batch_result *res)
{
	batch_arg a = { NULL, 0, 0 };
	wctx w = { 0 };
	cm_status st;

	if (idx == NULL || b == NULL)
		return CM_EINVAL;
	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (b->n == 0)
		return CM_OK;
	if ((st = cm_batch_sort(idx, b)) != CM_OK)
		return st;
	a.order = b->order;
	a.n = b->n;
	if (!idx->readonly) {
		/* make room for a big batch before, not after, doing it */
		size_t bytes = b->n * 256;

		for (chunk *c = b->chunks; c != NULL; c = c->next)
			bytes += 4 * c->used;
		if ((st = grow_map(idx, bytes)) != CM_OK)
			return st;
	}
	st = write_txn(idx, batch_fn, &a, false, &w);
	if (res != NULL) {
		if (st == CM_OK) {
			res->applied = w.applied;
			res->stale = w.stale;
		} else {
			res->failed_at = a.failed_at;
		}
	}
	wctx_free(&w);
	return st;
}

/* ---------------------------------------------------------------- */
/* imports: batches in one transaction */

/* how far ahead of an import's writes the map is populated */
#define PREFAULT_AHEAD ((size_t)16 << 20)

struct cm_import {
	cm_index *idx;
	wctx w;
	scrubset sc;
	bool open;		/* the transaction is open */
	size_t alloc_end;	/* end of the blocks allocated for it */
};

static void
import_free(cm_import *im)
{
	scrub_free(&im->sc);
	wctx_free(&im->w);
	pthread_mutex_unlock(&im->idx->wlock);
	free(im);
}

/* End IM's transaction after a failure ST (*LRC: LMDB's code). */
static cm_status
import_fail(cm_import *im, cm_status st, int lrc)
{
	cm_index *idx = im->idx;
	MDB_envinfo info;

	cm_prefault_stop(im->w.pf);
	im->w.pf = NULL;
	st = wtxn_end(idx, &im->w, st, false, &lrc);
	im->open = false;
	if (lrc != MDB_MAP_FULL)
		return st;
	if ((st = grow_map(idx, 0)) != CM_OK)
		return st;
	if (mdb_env_info(idx->env, &info) == 0)
		set_err(idx, "map full: grown to %zu octets", info.me_mapsize);
	return CM_EFULL;
}

/*
 * In bulk mode LMDB writes into a writable map of a sparse file: a page
 * the file system cannot allocate (disk full) would then kill the
 * process with SIGBUS instead of failing a write.  So the blocks an
 * import may use are allocated first: a full disk is CM_EIO ("No space
 * left on device") before anything is written.  A file system without
 * fallocate() is left as it is.
 */
static cm_status
bulk_allocate(cm_index *idx, size_t off, size_t *len)
{
	MDB_envinfo info;
	size_t n = *len;
	int fd;

	*len = 0;
	if (!idx->bulk || n == 0 || mdb_env_get_fd(idx->env, &fd) != 0 ||
	    mdb_env_info(idx->env, &info) != 0 || off >= info.me_mapsize)
		return CM_OK;
	if (n > info.me_mapsize - off)
		n = info.me_mapsize - off;
	if (fallocate(fd, 0, (off_t)off, (off_t)n) == 0) {
		*len = n;
		return CM_OK;
	}
	if (errno == EOPNOTSUPP || errno == ENOSYS)
		return CM_OK;
	set_err(idx, "cannot allocate %zu octets of %s/data.mdb for the "
	    "import: %s", n, idx->dir, strerror(errno));
	return CM_EIO;
}

/*
 * Where LMDB has mapped data.mdb in this process (LMDB does not say:
 * mdb_env_info's me_mapaddr is the address asked for with MDB_FIXEDMAP),
 * found in /proc/self/maps by the file's device and inode; NULL if not.
 */
static unsigned char *
map_base(cm_index *idx)
{
	unsigned long lo, off, ino, maj, min;
	unsigned char *base = NULL;
	struct stat sb;
	char line[512];
	FILE *f;
	int fd;

	if (mdb_env_get_fd(idx->env, &fd) != 0 || fstat(fd, &sb) != 0 ||
	    (f = fopen("/proc/self/maps", "re")) == NULL)
		return NULL;
	while (base == NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%lx-%*x %*s %lx %lx:%lx %lu", &lo, &off, &maj,
		    &min, &ino) == 5 && off == 0 && ino == sb.st_ino &&
		    makedev(maj, min) == sb.st_dev)
			base = (unsigned char *)(uintptr_t)lo;
	fclose(f);
	return base;
}

cm_status
cm_index_import_begin(cm_index *idx, size_t reserve, cm_import **out)
{
	cm_import *im;
	cm_status st = CM_EDB;
	size_t pf_off = 0, pf_len = 0;

	if (idx == NULL || out == NULL)
		return CM_EINVAL;
	*out = NULL;
	if (idx->readonly) {
		set_err(idx, "index opened read-only");
		return CM_EPERM;
	}
	if ((im = calloc(1, sizeof(*im))) == NULL)
		return CM_ENOMEM;
	im->idx = idx;
	pthread_mutex_lock(&idx->wlock);
	reader_check_now_and_then(idx);
	if (reserve > 0) {
		/* and room for the copies of the pages the import changes,
		 * split in two when full: at most twice the pages in use,
		 * at most a few pages per event (an event adds some
		 * hundred octets) */
		size_t used = 0, cow, alloc;

		if (env_used(idx, &used, NULL) != 0)
			used = 0;
		cow = reserve < SIZE_MAX / 64 ? 64 * reserve : SIZE_MAX;
		if (cow / 2 > used)
			cow = 2 * used;
		if (reserve > SIZE_MAX / 2 - cow)
			reserve = SIZE_MAX / 2 - cow;
		alloc = reserve + cow;
		if ((st = grow_map(idx, reserve + cow)) != CM_OK ||
		    (st = bulk_allocate(idx, used, &alloc)) != CM_OK) {
			import_free(im);
			return st;
		}
		pf_len = alloc;
		pf_off = used;
		im->alloc_end = used + alloc;
	}
	for (int tries = 0; tries < MAX_RETRY; tries++) {
		int lrc = 0;

		if ((st = wtxn_begin(idx, &im->w, &im->sc, &lrc)) == CM_OK ||
		    lrc != MDB_MAP_RESIZED)
			break;
	}
	if (st != CM_OK) {
		import_free(im);
		return st;
	}
	im->open = true;
	if (pf_len > 0) {
		/* the allocated blocks, populated ahead of LMDB's writes */
		unsigned char *base = map_base(idx);
		MDB_stat est;

		if (base != NULL && mdb_env_stat(idx->env, &est) == 0) {
			im->w.psize = est.ms_psize;
			im->w.pf_pages0 = txn_pages(&im->w);
			im->w.pf = cm_prefault_start(base + pf_off, pf_len,
			    PREFAULT_AHEAD);
		}
	}
	*out = im;
	return CM_OK;
}

cm_status
cm_import_apply(cm_import *im, cm_batch *b, cm_batch_result *res)
{
	batch_arg a = { NULL, 0, 0 };
	size_t applied, stale;
	cm_status st;
	int lrc = 0;

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (im == NULL || b == NULL)
		return CM_EINVAL;
	if (!im->open) {
		set_err(im->idx, "import: ended by an earlier failure");
		return CM_EINVAL;
	}
	if (b->n == 0)
		return CM_OK;
	if ((st = cm_batch_sort(im->idx, b)) != CM_OK)
		return import_fail(im, st, 0);
	a.order = b->order;
	a.n = b->n;
	applied = im->w.applied;
	stale = im->w.stale;
	st = batch_fn(&im->w, &a, &lrc);
	if (st != CM_OK) {
		if (res != NULL)
			res->failed_at = a.failed_at;
		return import_fail(im, st, lrc);
	}
	if (res != NULL) {
		res->applied = im->w.applied - applied;
		res->stale = im->w.stale - stale;
	}
	return CM_OK;
}

/*
 * After an import: give back the blocks allocated for it beyond the last
 * page it used (the space was an estimate), inside a write transaction
 * so that no other writer allocates pages there meanwhile.
 */
static void
release_unused(cm_index *idx, size_t end)
{
	MDB_txn *t;
	size_t used;
	int fd;

	if (end == 0 || mdb_env_get_fd(idx->env, &fd) != 0)
		return;
	pthread_rwlock_rdlock(&idx->maplock);
	if (mdb_txn_begin(idx->env, NULL, 0, &t) == 0) {
		if (env_used(idx, &used, NULL) == 0 && used < end)
			(void)fallocate(fd, FALLOC_FL_PUNCH_HOLE |
			    FALLOC_FL_KEEP_SIZE, (off_t)used, (off_t)(end - used));
		mdb_txn_abort(t);
	}
	pthread_rwlock_unlock(&idx->maplock);
}

cm_status
cm_import_commit(cm_import *im)
{
	cm_status st;
	int lrc = 0;

	if (im == NULL)
		return CM_EINVAL;
	if (!im->open) {
		set_err(im->idx, "import: ended by an earlier failure");
		import_free(im);
		return CM_EINVAL;
	}
	cm_prefault_stop(im->w.pf);
	im->w.pf = NULL;
	st = wtxn_end(im->idx, &im->w, CM_OK, false, &lrc);
	im->open = false;
	if (st != CM_OK) {
		if (lrc == MDB_MAP_FULL && grow_map(im->idx, 0) == CM_OK)
			st = CM_EFULL;
	} else {
		if (im->sc.n > 0)
			(void)scrub(im->idx, &im->sc);
		release_unused(im->idx, im->alloc_end);
	}
	import_free(im);
	return st;
}

void
cm_import_abort(cm_import *im)
{
	int lrc = 0;

	if (im == NULL)
		return;
	cm_prefault_stop(im->w.pf);
	im->w.pf = NULL;
	if (im->open)
		(void)wtxn_end(im->idx, &im->w, CM_EINVAL, false, &lrc);
	import_free(im);
}

/* ---------------------------------------------------------------- */
/* reading whole entries */

static bool
is_tomb(const MDB_val *v)
{
	const unsigned char *p = v->mv_data;

	return v->mv_size == TOMB_LEN && p[0] == FORMAT_VERSION &&
	    p[1] == KIND_TOMB;
}

/* Position C on the first address key (domains sort before). */
static int
first_addr(MDB_cursor *c, MDB_val *key, MDB_val *val)
{
	static const unsigned char lo[AKEY_LEN] = { 0x80 };

	key->mv_data = (void *)(uintptr_t)lo;
	key->mv_size = AKEY_LEN;
	return mdb_cursor_get(c, key, val, MDB_SET_RANGE);
}

static cm_status
rtxn(cm_index *idx, cm_rtxn **t)
{
	if (idx == NULL)
		return CM_EINVAL;
	return cm_index_rbegin(idx, t);
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
	e->objection = objection_in_force(d->objection_us, d->last_grant_us);
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
	unsigned char k[AKEY_LEN];
	MDB_val key = { AKEY_LEN, k }, val;
	dentry d = { 0 };
	cm_rtxn *t;
	cm_status st;
	size_t len;
	int rc;

	if (addr == NULL || out == NULL)
		return CM_EINVAL;
	*out = NULL;
	len = strnlen(addr, ADDR_MAX + 1);
	if (len > ADDR_MAX)
		return CM_EINVAL;
	if ((st = rtxn(idx, &t)) != CM_OK)
		return st;
	akey(idx, addr, len, k);
	rc = mdb_get(t->txn, idx->db_index, &key, &val);
	if (rc == MDB_NOTFOUND || (rc == 0 && is_tomb(&val))) {
		st = CM_NOTFOUND;
	} else if (rc != 0) {
		st = db_err(idx, "lookup", rc);
	} else if ((st = entry_decode(val.mv_data, val.mv_size, &d)) !=
	    CM_OK) {
		if (st == CM_EFORMAT)
			(void)fmt_err(idx, "consent entry");
	} else if (d.addr.n != len || memcmp(d.addr.p, addr, len) != 0) {
		st = fmt_err(idx, "address key collision");
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
	if ((st = rtxn(idx, &t)) != CM_OK)
		return st;
	if ((rc = mdb_cursor_open(t->txn, idx->db_index, &c)) != 0) {
		cm_index_rend(idx, t);
		return db_err(idx, "cursor", rc);
	}
	for (rc = first_addr(c, &key, &val); rc == 0;
	    rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		cm_entry *e;
		int stop;

		if (is_tomb(&val))
			continue;
		if ((st = entry_decode(val.mv_data, val.mv_size, &d)) !=
		    CM_OK) {
			if (st == CM_EFORMAT)
				(void)fmt_err(idx, "consent entry");
			break;
		}
		if ((e = entry_build(&d)) == NULL) {
			st = CM_ENOMEM;
			break;
		}
		stop = cb(e, arg);
		free(e);
		if (stop)
			break;
	}
	if (st == CM_OK && rc != 0 && rc != MDB_NOTFOUND)
		st = db_err(idx, "iterate", rc);
	mdb_cursor_close(c);
	cm_index_rend(idx, t);
	free(d.recs);
	return st;
}

/* Decode a history value into EV with strings copied into *BUF. */
static cm_status
hist_decode(const unsigned char *v, size_t n, uint64_t seq,
    cm_history_event *ev, char **buf, size_t *cap)
{
	const char **dst[6] = { &ev->type, &ev->source, &ev->basis,
	    &ev->purpose, &ev->evidence, &ev->actor };
	size_t off = HIST_HDR, need = 0, l;
	char *p;

	if (n < HIST_HDR || v[0] != FORMAT_VERSION || v[1] < CM_EV_GRANT ||
	    v[1] > CM_EV_ERASE || v[2] > CM_STATE_WITHDRAWN ||
	    v[3] > CM_STATE_WITHDRAWN)
		return CM_EFORMAT;
	for (int i = 0; i < 6; i++) {
		if (n - off < 2)
			return CM_EFORMAT;
		l = get16(v + off);
		if (n - off - 2 < l)
			return CM_EFORMAT;
		off += 2 + l;
		need += l + 1;
	}
	if (off != n)
		return CM_EFORMAT;
	if (!ensure((unsigned char **)buf, cap, need))
		return CM_ENOMEM;
	ev->seq = seq;
	ev->kind = v[1];
	ev->old_state = v[2];
	ev->new_state = v[3];
	ev->at_us = geti64(v + 8);
	ev->recorded_us = geti64(v + 16);
	p = *buf;
	off = HIST_HDR;
	for (int i = 0; i < 6; i++) {
		l = get16(v + off);
		memcpy(p, v + off + 2, l);
		p[l] = '\0';
		*dst[i] = p;
		p += l + 1;
		off += 2 + l;
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
	if ((st = rtxn(idx, &t)) != CM_OK)
		return st;
	subject_key(idx, addr, len, hk);
	memset(hk + AKEY_LEN, 0, 8);
	if ((rc = mdb_cursor_open(t->txn, idx->db_hist, &c)) != 0) {
		cm_index_rend(idx, t);
		return db_err(idx, "cursor", rc);
	}
	for (rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		cm_history_event ev;
		uint64_t seq = 0;

		if (key.mv_size != HKEY_LEN ||
		    memcmp(key.mv_data, hk, AKEY_LEN) != 0)
			break;
		for (int i = 0; i < 8; i++)
			seq = seq << 8 |
			    ((const unsigned char *)key.mv_data)[AKEY_LEN + i];
		st = hist_decode(val.mv_data, val.mv_size, seq, &ev, &buf,
		    &cap);
		if (st != CM_OK) {
			if (st == CM_EFORMAT)
				(void)fmt_err(idx, "history event");
			break;
		}
		count++;
		if (cb(&ev, arg))
			break;
	}
	if (st == CM_OK && rc != 0 && rc != MDB_NOTFOUND)
		st = db_err(idx, "iterate history", rc);
	mdb_cursor_close(c);
	cm_index_rend(idx, t);
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
	cm_status st;
	size_t len;
	bool sup;
	int rc;

	if (domain == NULL)
		return CM_EINVAL;
	len = strnlen(domain, DOMAIN_MAX + 1);
	if (len == 0 || len > DOMAIN_MAX)
		return CM_EINVAL;
	if ((st = rtxn(idx, &t)) != CM_OK)
		return st;
	key.mv_size = dkey(domain, len, k);
	rc = mdb_get(t->txn, idx->db_index, &key, &val);
	if (rc == MDB_NOTFOUND) {
		st = CM_NOTFOUND;
	} else if (rc != 0) {
		st = db_err(idx, "domain lookup", rc);
	} else if (!domain_value(val.mv_data, val.mv_size, domain, len,
	    &sup)) {
		st = fmt_err(idx, "domain entry");
	} else if (!sup) {
		st = CM_NOTFOUND;
	} else if (since_us != NULL) {
		*since_us = geti64((const unsigned char *)val.mv_data + 8);
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
	if ((st = rtxn(idx, &t)) != CM_OK)
		return st;
	if ((rc = mdb_cursor_open(t->txn, idx->db_index, &c)) != 0) {
		cm_index_rend(idx, t);
		return db_err(idx, "cursor", rc);
	}
	/* domains sort first (DKEY starts with a zero octet) */
	for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		const unsigned char *v = val.mv_data;
		size_t dl, sl;
		bool sup;

		if (key.mv_size < 2 ||
		    ((const unsigned char *)key.mv_data)[0] != 0)
			break;
		if (!domain_value(v, val.mv_size, NULL, 0, &sup)) {
			st = fmt_err(idx, "domain entry");
			break;
		}
		if (!sup)
			continue;
		dl = get16(v + 4);
		sl = get16(v + 6);
		if (!ensure((unsigned char **)&src, &cap, sl + 1)) {
			st = CM_ENOMEM;
			break;
		}
		memcpy(src, v + DOM_HDR + dl, sl);
		src[sl] = '\0';
		memcpy(dom, v + DOM_HDR, dl);
		dom[dl] = '\0';
		if (cb(dom, geti64(v + 8), src, arg))
			break;
	}
	if (st == CM_OK && rc != 0 && rc != MDB_NOTFOUND)
		st = db_err(idx, "iterate domains", rc);
	mdb_cursor_close(c);
	cm_index_rend(idx, t);
	free(src);
	return st;
}

cm_status
cm_index_is_erased(cm_index *idx, const char *addr)
{
	unsigned char k[AKEY_LEN];
	MDB_val key = { AKEY_LEN, k }, val;
	cm_rtxn *t;
	cm_status st;
	size_t len;
	int rc;

	if (addr == NULL)
		return CM_EINVAL;
	len = strnlen(addr, ADDR_MAX + 1);
	if (len > ADDR_MAX)
		return CM_EINVAL;
	if ((st = rtxn(idx, &t)) != CM_OK)
		return st;
	akey(idx, addr, len, k);
	rc = mdb_get(t->txn, idx->db_index, &key, &val);
	if (rc == 0)
		st = is_tomb(&val) ? CM_OK : CM_NOTFOUND;
	else if (rc == MDB_NOTFOUND)
		st = CM_NOTFOUND;
	else
		st = db_err(idx, "lookup", rc);
	cm_index_rend(idx, t);
	return st;
}

/* ---------------------------------------------------------------- */
/* bulk update */

typedef struct bulk_arg {
	const cm_selection *sel;
	const cm_event *set;
	bool dry;
	size_t count;
} bulk_arg;

static bool
sel_match(const cm_selection *s, const drec *r)
{
	if (s->type != NULL && dstr_cmp(r->type.p, r->type.n,
	    (const unsigned char *)s->type, strlen(s->type)) != 0)
		return false;
	if (s->source != NULL && dstr_cmp(r->f[0].p, r->f[0].n,
	    (const unsigned char *)s->source, strlen(s->source)) != 0)
		return false;
	if (s->state != CM_STATE_NONE && r->state != s->state)
		return false;
	if (s->granted_before_us != 0 && !(r->granted != 0 &&
	    r->granted < s->granted_before_us))
		return false;
	if (s->granted_after_us != 0 && r->granted < s->granted_after_us)
		return false;
	return true;
}

static cm_status
bulk_fn(wctx *w, void *arg, int *lrc)
{
	bulk_arg *a = arg;
	cm_index *idx = w->idx;
	int64_t at = a->set->at_us ? a->set->at_us : w->recorded, limit;
	MDB_val key, val;
	MDB_cursor *c;
	cm_status st = CM_OK;
	evlen el;
	int rc;

	a->count = 0;
	if (!cm_rules_time_ok(at, w->recorded, &idx->rules, &limit))
		return future_err(idx, a->set, at, limit);
	ev_lengths(a->set, &el);
	if ((rc = mdb_cursor_open(w->txn, idx->db_index, &c)) != 0)
		return db_err(idx, "cursor", rc);
	for (rc = first_addr(c, &key, &val); rc == 0;
	    rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		unsigned char ak[AKEY_LEN];
		size_t hits = 0;

		if (is_tomb(&val))
			continue;
		if (key.mv_size != AKEY_LEN) {
			st = fmt_err(idx, "consent key");
			break;
		}
		memcpy(ak, key.mv_data, AKEY_LEN);
		if (!ensure(&w->old, &w->oldcap, val.mv_size)) {
			st = CM_ENOMEM;
			break;
		}
		memcpy(w->old, val.mv_data, val.mv_size);
		if ((st = entry_decode(w->old, val.mv_size, &w->ent)) !=
		    CM_OK) {
			if (st == CM_EFORMAT)
				(void)fmt_err(idx, "consent entry");
			break;
		}
		for (size_t i = 0; i < w->ent.nrec; i++) {
			drec *r = &w->ent.recs[i];

			if (!sel_match(a->sel, r))
				continue;
			hits++;
			if (a->dry)
				continue;
			set_fields(r, a->set, &el, true);
			if ((st = hist_put(w, ak, CM_EV_UPDATE, r->type.p,
			    r->type.n, r->state, r->state, at, a->set, &el)) !=
			    CM_OK)
				break;
		}
		if (st != CM_OK)
			break;
		a->count += hits;
		if (hits > 0 && !a->dry) {
			size_t sz = entry_size(&w->ent);

			if (!ensure(&w->buf, &w->bufcap, sz)) {
				st = CM_ENOMEM;
				break;
			}
			entry_encode(&w->ent, w->buf);
			key.mv_data = ak;
			key.mv_size = AKEY_LEN;
			val.mv_data = w->buf;
			val.mv_size = sz;
			if ((rc = mdb_cursor_put(c, &key, &val, MDB_CURRENT))
			    != 0) {
				st = db_err(idx, "bulk update", rc);
				break;
			}
		}
	}
	if (st == CM_OK && rc != 0 && rc != MDB_NOTFOUND)
		st = db_err(idx, "iterate", rc);
	mdb_cursor_close(c);
	(void)lrc;
	return st;
}

cm_status
cm_index_bulk_update(cm_index *idx, const cm_selection *sel,
    const cm_event *set, bool dry_run, size_t *count)
{
	bulk_arg a = { sel, set, dry_run, 0 };
	wctx w = { 0 };
	cm_status st;
	evlen el;

	if (idx == NULL || sel == NULL || set == NULL)
		return CM_EINVAL;
	ev_lengths(set, &el);
	for (int i = 0; i < 5; i++)
		if (el.f[i] > CM_FIELD_MAX)
			return CM_EINVAL;
	if (set->at_us < 0)
		return CM_EINVAL;
	if (sel->type != NULL && strnlen(sel->type, CM_TYPE_ID_MAX + 1) >
	    CM_TYPE_ID_MAX)
		return CM_EINVAL;
	if (dry_run && idx->readonly) {
		/* a dry run needs no write access: read snapshot */
		cm_rtxn *t;

		if ((st = cm_index_rbegin(idx, &t)) != CM_OK)
			return st;
		w.idx = idx;
		w.txn = t->txn;
		w.recorded = cm_time_now();
		{
			int lrc = 0;

			st = bulk_fn(&w, &a, &lrc);
		}
		w.txn = NULL;
		cm_index_rend(idx, t);
	} else {
		st = write_txn(idx, bulk_fn, &a, dry_run, &w);
	}
	if (st == CM_OK && count != NULL)
		*count = a.count;
	wctx_free(&w);
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
	if ((rc = mdb_env_info(idx->env, &info)) != 0)
		goto dberr;
	out->map_size = info.me_mapsize;
	out->map_used = (info.me_last_pgno + 1) * out->page_size;
	if ((rc = mdb_cursor_open(t->txn, idx->db_index, &c)) != 0)
		goto dberr;
	for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		const unsigned char *v = val.mv_data;
		size_t nrec, off;
		bool sup;

		if (val.mv_size >= 2 && v[1] == KIND_DOMAIN &&
		    domain_value(v, val.mv_size, NULL, 0, &sup)) {
			out->domains += sup;
		} else if (is_tomb(&val)) {
			out->tombstones++;
		} else if (entry_header(v, val.mv_size, &nrec, &off)) {
			out->addresses++;
			out->records += nrec;
		} else {
			mdb_cursor_close(c);
			cm_index_rend(idx, t);
			return fmt_err(idx, "index value");
		}
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		goto dberr;
	cm_index_rend(idx, t);
	return CM_OK;
dberr:
	cm_index_rend(idx, t);
	return db_err(idx, "stats", rc);
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
	if ((st = rtxn(idx, &t)) != CM_OK)
		return st;
	if ((rc = mdb_cursor_open(t->txn, idx->db_index, &c)) != 0) {
		cm_index_rend(idx, t);
		return db_err(idx, "cursor", rc);
	}
	for (rc = first_addr(c, &key, &val); rc == 0 &&
	    st == CM_OK; rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		if (is_tomb(&val))
			continue;
		if ((st = entry_decode(val.mv_data, val.mv_size, &d)) !=
		    CM_OK) {
			if (st == CM_EFORMAT)
				(void)fmt_err(idx, "consent entry");
			break;
		}
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
	if (st == CM_OK && rc != 0 && rc != MDB_NOTFOUND)
		st = db_err(idx, "iterate", rc);
	mdb_cursor_close(c);
	cm_index_rend(idx, t);
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

/* ---------------------------------------------------------------- */
/* scrubbing after erasure */

/*
 * LMDB never overwrites a page in place: the pages that held an erased
 * entry stay in the file as free pages until they are reused, and a
 * recycled page buffer can carry old octets into the unused gap (between
 * the node pointers and the node data) of a live page.  After an erasure
 * commits, holding the writer lock (an empty write transaction, so no
 * other process can allocate pages), this:
 *   - zeroes every free page whose freeing transaction is older than
 *     every reader (no reader can see it), and
 *   - zeroes copies of the erased addresses (and of their records' and
 *     history's longer strings) found in the gap of live leaf and branch
 *     pages and past the last used page; with more than
 *     SCRUB_MAX_PATTERNS strings (a bulk erasure) it zeroes those unused
 *     areas whole instead of searching them.
 * Page layout (LMDB 0.9 on-disk format): u64 pgno, u16 pad, u16 flags,
 * u16 lower, u16 upper (or u32 overflow page count); header 16 octets.
 * Free pages whose freeing is still visible to a reader are retried for
 * a short while; anything left is overwritten when LMDB reuses the page.
 */
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define PAGEHDR 16

typedef struct reader_min {
	uint64_t oldest;
} reader_min;

static int
reader_line(const char *msg, void *ctx)
{
	reader_min *m = ctx;
	unsigned long long txnid;
	int pid;
	unsigned long tid;

	if (sscanf(msg, "%d %lx %llu", &pid, &tid, &txnid) == 3 &&
	    txnid < m->oldest)
		m->oldest = txnid;
	return 0;
}

static int
u64cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool
page_free(const uint64_t *fl, size_t n, uint64_t pg)
{
	return bsearch(&pg, fl, n, sizeof(*fl), u64cmp) != NULL;
}

/* Above this many strings, searching for each costs more than zeroing
 * every unused octet of the file once (bulk erasures). */
#define SCRUB_MAX_PATTERNS 32

static bool
zero_matches(unsigned char *p, size_t lo, size_t hi, const scrubset *s)
{
	bool changed = false;

	if (s->n > SCRUB_MAX_PATTERNS) {
		for (size_t i = lo; i < hi; i++)
			if (p[i] != 0) {
				memset(p + lo, 0, hi - lo);
				return true;
			}
		return false;
	}

	for (size_t i = 0; i < s->n; i++) {
		size_t al = strlen(s->addr[i]);
		unsigned char *q = p + lo, *end = p + hi;

		while (q < end && (size_t)(end - q) >= al) {
			unsigned char *m = memmem(q, (size_t)(end - q),
			    s->addr[i], al);

			if (m == NULL)
				break;
			memset(m, 0, al);
			changed = true;
			q = m + al;
		}
	}
	return changed;
}

static cm_status
scrub_once(cm_index *idx, const scrubset *s, bool *complete)
{
	MDB_txn *txn = NULL, *rtx = NULL;
	MDB_cursor *c = NULL;
	MDB_envinfo info;
	MDB_stat est;
	MDB_val key, val;
	uint64_t *fl = NULL, last;
	size_t nfl = 0, cap = 0, psize;
	reader_min rm;
	unsigned char *page = NULL, *zero = NULL;
	char *path = NULL;
	cm_status st = CM_OK;
	int rc, fd = -1;
	bool dirty = false;
	struct stat sb;

	*complete = true;
	pthread_rwlock_rdlock(&idx->maplock);
	if ((rc = mdb_txn_begin(idx->env, NULL, 0, &txn)) != 0) {
		pthread_rwlock_unlock(&idx->maplock);
		return db_err(idx, "scrub", rc);
	}
	/*
	 * The write transaction only holds the writer lock; LMDB lets the
	 * free list be read through a read-only transaction only (allowed
	 * beside a write transaction in one thread with MDB_NOTLS).  Both
	 * see the same, latest, snapshot.
	 */
	(void)mdb_reader_check(idx->env, NULL);
	rm.oldest = mdb_txn_id(txn) - 1;
	(void)mdb_reader_list(idx->env, reader_line, &rm);
	if ((rc = mdb_txn_begin(idx->env, NULL, MDB_RDONLY, &rtx)) != 0 ||
	    (rc = mdb_env_stat(idx->env, &est)) != 0 ||
	    (rc = mdb_env_info(idx->env, &info)) != 0 ||
	    (rc = mdb_cursor_open(rtx, 0, &c)) != 0) {
		st = db_err(idx, "scrub", rc);
		goto out;
	}
	psize = est.ms_psize;
	last = info.me_last_pgno;
	for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		uint64_t txnid, cnt;
		const unsigned char *v = val.mv_data;

		if (key.mv_size != sizeof(uint64_t) || val.mv_size < 8)
			continue;
		memcpy(&txnid, key.mv_data, sizeof(txnid));
		if (txnid > rm.oldest) {
			*complete = false;
			continue;
		}
		memcpy(&cnt, v, 8);
		if (cnt > val.mv_size / 8 - 1)
			continue;
		for (uint64_t i = 0; i < cnt; i++) {
			uint64_t pg;

			if (nfl == cap) {
				size_t nc = cap ? cap * 2 : 1024;
				uint64_t *n2 = realloc(fl, nc * sizeof(*n2));

				if (n2 == NULL) {
					st = CM_ENOMEM;
					goto out;
				}
				fl = n2;
				cap = nc;
			}
			memcpy(&pg, v + 8 * (i + 1), 8);
			fl[nfl++] = pg;
		}
	}
	mdb_cursor_close(c);
	c = NULL;
	qsort(fl, nfl, sizeof(*fl), u64cmp);

	if ((path = path_join(idx->dir, "data.mdb")) == NULL ||
	    (page = malloc(psize)) == NULL ||
	    (zero = calloc(1, psize)) == NULL) {
		st = CM_ENOMEM;
		goto out;
	}
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0 || fstat(fd, &sb) != 0) {
		set_err(idx, "scrub: %s: %s", path, strerror(errno));
		st = CM_EIO;
		goto out;
	}
	for (uint64_t pg = 2; (off_t)(pg * psize) < sb.st_size; pg++) {
		off_t off = (off_t)(pg * psize);
		ssize_t r = pread(fd, page, psize, off);
		uint16_t flags, lower, upper;
		bool changed = false;

		if (r != (ssize_t)psize)
			break;
		if (pg > last && pg % 256 == 0) {
			/* the file of an index written in bulk (MDB_WRITEMAP)
			 * is as long as the map, mostly holes: skip them */
			off_t d = lseek(fd, off, SEEK_DATA);

			if (d < 0 && errno == ENXIO)
				break;
			if (d > off && (uint64_t)d / psize > pg) {
				pg = (uint64_t)d / psize - 1;
				continue;
			}
		}
		if (pg > last) {
			changed = zero_matches(page, 0, psize, s);
		} else if (page_free(fl, nfl, pg)) {
			if (memcmp(page, zero, psize) != 0) {
				memset(page, 0, psize);
				changed = true;
			}
		} else {
			flags = get16(page + 10);
			lower = get16(page + 12);
			upper = get16(page + 14);
			if (flags & P_OVERFLOW) {
				uint32_t np = (uint32_t)get16(page + 12) |
				    (uint32_t)get16(page + 14) << 16;

				if (np > 1)
					pg += np - 1;
				continue;
			}
			if ((flags & (P_LEAF | P_BRANCH)) == 0 ||
			    lower < PAGEHDR || lower > upper || upper > psize)
				continue;
			changed = zero_matches(page, lower, upper, s);
		}
		if (changed) {
			if (pwrite(fd, page, psize, off) != (ssize_t)psize) {
				set_err(idx, "scrub: write: %s",
				    strerror(errno));
				st = CM_EIO;
				goto out;
			}
			dirty = true;
		}
	}
	if (dirty && fdatasync(fd) != 0) {
		set_err(idx, "scrub: sync: %s", strerror(errno));
		st = CM_EIO;
	}
out:
	if (fd >= 0)
		(void)close(fd);
	if (c != NULL)
		mdb_cursor_close(c);
	if (rtx != NULL)
		mdb_txn_abort(rtx);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&idx->maplock);
	free(fl);
	free(page);
	free(zero);
	free(path);
	return st;
}

static cm_status
scrub(cm_index *idx, const scrubset *s)
{
	cm_status st = CM_OK;

	for (int i = 0; i < 50; i++) {
		bool complete;
		struct timespec ts = { 0, 2000000 };

		if ((st = scrub_once(idx, s, &complete)) != CM_OK ||
		    complete)
			return st;
		(void)nanosleep(&ts, NULL);
	}
	return st;
}

/* ---------------------------------------------------------------- */
/* raw access for the dump (dump.c; see index_int.h) */

static MDB_dbi
raw_dbi(const cm_index *idx, cm_rawdb db)
{
	return db == CM_RAW_META ? idx->db_meta :
	    db == CM_RAW_INDEX ? idx->db_index : idx->db_hist;
}

cm_status
cm_index_rscan(cm_index *idx, cm_rtxn *t, cm_rawdb db, const void *from,
    size_t fromlen, cm_raw_cb cb, void *arg)
{
	MDB_cursor *c;
	MDB_val k = { fromlen, (void *)(uintptr_t)from }, v;
	int rc;

	if ((rc = mdb_cursor_open(t->txn, raw_dbi(idx, db), &c)) != 0)
		return db_err(idx, "open cursor", rc);
	rc = mdb_cursor_get(c, &k, &v, from != NULL ? MDB_SET_RANGE :
	    MDB_FIRST);
	while (rc == 0) {
		if (cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg) != 0)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return db_err(idx, "read", rc);
	return CM_OK;
}

cm_status
cm_index_rget(cm_index *idx, cm_rtxn *t, cm_rawdb db, const void *key,
    size_t klen, const unsigned char **val, size_t *vlen)
{
	MDB_val k = { klen, (void *)(uintptr_t)key }, v;
	int rc = mdb_get(t->txn, raw_dbi(idx, db), &k, &v);

	if (rc == MDB_NOTFOUND)
		return CM_NOTFOUND;
	if (rc != 0)
		return db_err(idx, "read", rc);
	*val = v.mv_data;
	*vlen = v.mv_size;
	return CM_OK;
}

void
cm_index_subject_key(const cm_index *idx, const char *s, size_t len,
    unsigned char *out)
{
	subject_key(idx, s, len, out);
}

cm_status
cm_index_erasure_key(cm_index *idx, unsigned char *out)
{
	return load_key(idx, false, out);
}

cm_status
cm_import_put(cm_import *im, cm_rawdb db, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	MDB_val k = { klen, (void *)(uintptr_t)key };
	MDB_val v = { vlen, (void *)(uintptr_t)val };
	int rc;

	if (!im->open || db == CM_RAW_META)
		return CM_EINVAL;
	rc = mdb_put(im->w.txn, raw_dbi(im->idx, db), &k, &v,
	    MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return CM_EEXIST;
	if (rc != 0)
		return import_fail(im, db_err(im->idx, "write", rc), rc);
	return CM_OK;
}

cm_status
cm_import_entries(cm_import *im, cm_rawdb db, size_t *n)
{
	MDB_stat s;
	int rc;

	if (!im->open)
		return CM_EINVAL;
	if ((rc = mdb_stat(im->w.txn, raw_dbi(im->idx, db), &s)) != 0)
		return db_err(im->idx, "stat", rc);
	*n = s.ms_entries;
	return CM_OK;
}

void
cm_import_set_seq(cm_import *im, uint64_t seq)
{
	im->w.seq = seq;
	im->w.seq_dirty = true;
}

/* for migrate.c (index_int.h) */

void
cm_index_raw(cm_index *idx, cm_index_raw_t *out)
{
	out->env = idx->env;
	out->db_meta = idx->db_meta;
	out->db_index = idx->db_index;
	out->db_hist = idx->db_hist;
	out->meta_format = idx->meta_format;
}

void
cm_index_akey(const cm_index *idx, const char *addr, size_t len,
    unsigned char *out)
{
	akey(idx, addr, len, out);
}

void
cm_index_set_meta_format(cm_index *idx, unsigned v)
{
	idx->meta_format = v;
}
