/*
 * subaddr.c - the stored sub-addresses of an address: one pass over the
 * entries of the index (see subaddr.h).
 * The entries are decoded with codec.h.
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "subaddr.h"

#define KEY_LEN CM_CODEC_AKEY_LEN

bool
cm_subaddr_is_base(const char *s, size_t len, char sep)
{
	const char *at;

	if (sep == 0 || s == NULL)
		return false;
	if ((at = memrchr(s, '@', len)) == NULL || at == s)
		return false;
	return memchr(s, sep, (size_t)(at - s)) == NULL;
}

bool
cm_subaddr_of(const char *base, size_t blen, const char *s, size_t slen,
    char sep)
{
	const char *bat, *sat;
	size_t llen, dlen;

	if (!cm_subaddr_is_base(base, blen, sep) || slen <= blen)
		return false;
	bat = memrchr(base, '@', blen);
	llen = (size_t)(bat - base);
	dlen = blen - llen;		/* "@domain" */
	sat = s + slen - dlen;
	/* same "@domain", and LOCAL SEP at the start of the local part */
	return memcmp(sat, bat, dlen) == 0 && memcmp(s, base, llen) == 0 &&
	    s[llen] == sep;
}

typedef struct found {
	unsigned char key[KEY_LEN];
	char *addr;
	size_t len;
} found;

cm_status
cm_subaddr_each(MDB_txn *txn, MDB_dbi dbi, const char *base, size_t blen,
    char sep, cm_subaddr_fn *fn, void *arg, int *lrc)
{
	MDB_cursor *c;
	MDB_val k, v;
	found *f = NULL, *nf;
	size_t n = 0, cap = 0;
	cm_status st = CM_OK;
	int rc;

	*lrc = 0;
	if (!cm_subaddr_is_base(base, blen, sep))
		return CM_OK;
	if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0) {
		*lrc = rc;
		return CM_EDB;
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const unsigned char *p = v.mv_data;
		size_t alen, nrec;

		/* addresses only (not domains, not tombstones) */
		if (!cm_codec_is_akey(k.mv_data, k.mv_size) ||
		    !cm_codec_entry_header(p, v.mv_size, &nrec, &alen))
			continue;
		alen -= CM_CODEC_ENTRY_HDR;
		p += CM_CODEC_ENTRY_HDR;
		if (!cm_subaddr_of(base, blen, (const char *)p, alen, sep))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			if ((nf = realloc(f, cap * sizeof(*f))) == NULL) {
				st = CM_ENOMEM;
				break;
			}
			f = nf;
		}
		memcpy(f[n].key, k.mv_data, KEY_LEN);
		f[n].len = alen;
		if ((f[n].addr = strndup((const char *)p, alen)) == NULL) {
			st = CM_ENOMEM;
			break;
		}
		n++;
	}
	mdb_cursor_close(c);
	if (st == CM_OK && rc != MDB_NOTFOUND) {
		*lrc = rc;
		st = CM_EDB;
	}
	for (size_t i = 0; i < n; i++) {
		if (st == CM_OK)
			st = fn(arg, f[i].key, f[i].addr, f[i].len);
		free(f[i].addr);
	}
	free(f);
	return st;
}
