/*
 * import.c - imports (index.h's cm_import_*): batches applied in one
 * write transaction held open across calls, with the map grown and, for
 * a bulk index, the file allocated and populated ahead of LMDB's writes
 * (prefault.h); and the raw puts of a restore (index_int.h).
 */
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "batch.h"
#include "index_impl.h"
#include "index_int.h"
#include "prefault.h"
#include "store.h"

/* how far ahead of an import's writes the map is populated */
#define PREFAULT_AHEAD ((size_t)16 << 20)

struct cm_import {
	cm_index *idx;
	cm_apply w;
	cm_scrub sc;
	bool open;		/* the transaction is open */
	size_t alloc_end;	/* end of the blocks allocated for it */
};

static void
import_free(cm_import *im)
{
	cm_scrub_free(&im->sc);
	cm_apply_free(&im->w);
	cm_store_writer_unlock(im->idx->st);
	free(im);
}

/* End IM's transaction: with ST == CM_OK commit it, else abort it.
 * CM_EFULL (map full): the map is grown, the caller may do it again. */
static cm_status
import_end(cm_import *im, cm_status st)
{
	cm_store *s = im->idx->st;
	bool checked = false;
	cm_status gst;
	size_t map = 0, used;

	cm_prefault_stop(im->w.pf);
	im->w.pf = NULL;
	if (st == CM_OK)
		st = cm_apply_finish(&im->w);
	if (st == CM_OK)
		st = cm_store_wend(s, im->w.txn, true);
	else
		(void)cm_store_wend(s, im->w.txn, false);
	im->w.txn = NULL;
	im->open = false;
	if (st != CM_EFULL)
		return st;
	if (!cm_store_recover(s, MDB_MAP_FULL, &checked, &gst))
		return gst;
	if (cm_store_used(s, &used, &map) == 0)
		cm_store_set_err(s, MDB_MAP_FULL, "map full: grown to %zu "
		    "octets", map);
	return CM_EFULL;
}

/* Grow the map for an import of about RESERVE octets and allocate the
 * blocks (bulk): the range to populate into *OFF, *LEN. */
static cm_status
import_room(cm_import *im, size_t reserve, size_t *off, size_t *len)
{
	cm_store *s = im->idx->st;
	size_t used = 0, cow, alloc;
	cm_status st;

	/* and room for the copies of the pages the import changes, split
	 * in two when full: at most twice the pages in use, at most a few
	 * pages per event (an event adds some hundred octets) */
	if (cm_store_used(s, &used, NULL) != 0)
		used = 0;
	cow = reserve < SIZE_MAX / 64 ? 64 * reserve : SIZE_MAX;
	if (cow / 2 > used)
		cow = 2 * used;
	if (reserve > SIZE_MAX / 2 - cow)
		reserve = SIZE_MAX / 2 - cow;
	alloc = reserve + cow;
	if ((st = cm_store_grow(s, reserve + cow)) != CM_OK ||
	    (st = cm_store_allocate(s, used, &alloc)) != CM_OK)
		return st;
	*len = alloc;
	*off = used;
	im->alloc_end = used + alloc;
	return CM_OK;
}

cm_status
cm_index_import_begin(cm_index *idx, size_t reserve, cm_import **out)
{
	cm_import *im;
	cm_status st = CM_OK;
	size_t pf_off = 0, pf_len = 0;
	MDB_txn *txn;

	if (idx == NULL || out == NULL)
		return CM_EINVAL;
	*out = NULL;
	if (idx->readonly) {
		cm_store_set_err(idx->st, 0, "index opened read-only");
		return CM_EPERM;
	}
	if ((im = calloc(1, sizeof(*im))) == NULL)
		return CM_ENOMEM;
	im->idx = idx;
	cm_store_writer_lock(idx->st);
	if ((reserve > 0 &&
	    (st = import_room(im, reserve, &pf_off, &pf_len)) != CM_OK) ||
	    (st = cm_store_wbegin(idx->st, &txn)) != CM_OK) {
		import_free(im);
		return st;
	}
	if ((st = cm_apply_begin(&im->w, idx, txn, &im->sc)) != CM_OK) {
		(void)cm_store_wend(idx->st, txn, false);
		import_free(im);
		return st;
	}
	im->open = true;
	if (pf_len > 0) {
		/* the allocated blocks, populated ahead of LMDB's writes */
		unsigned char *base = cm_store_map_base(idx->st);
		size_t psize = cm_store_page_size(idx->st);

		if (base != NULL && psize != 0) {
			im->w.psize = psize;
			im->w.pf_pages0 = cm_store_txn_pages(idx->st, txn);
			im->w.pf = cm_prefault_start(base + pf_off, pf_len,
			    PREFAULT_AHEAD);
		}
	}
	*out = im;
	return CM_OK;
}

/* IM is still open; else say so. */
static bool
import_open(cm_import *im)
{
	if (!im->open)
		cm_store_set_err(im->idx->st, 0,
		    "import: ended by an earlier failure");
	return im->open;
}

cm_status
cm_import_apply(cm_import *im, cm_batch *b, cm_batch_result *res)
{
	size_t applied, stale, failed_at = 0;
	cm_status st;

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (im == NULL || b == NULL)
		return CM_EINVAL;
	if (!import_open(im))
		return CM_EINVAL;
	if (cm_batch_count(b) == 0)
		return CM_OK;
	if ((st = cm_batch_sort(im->idx, b)) != CM_OK)
		return import_end(im, st);
	applied = im->w.applied;
	stale = im->w.stale;
	if ((st = cm_batch_run(b, &im->w, &failed_at)) != CM_OK) {
		if (res != NULL)
			res->failed_at = failed_at;
		return import_end(im, st);
	}
	if (res != NULL) {
		res->applied = im->w.applied - applied;
		res->stale = im->w.stale - stale;
	}
	return CM_OK;
}

cm_status
cm_import_commit(cm_import *im)
{
	cm_status st;

	if (im == NULL)
		return CM_EINVAL;
	if (!import_open(im)) {
		import_free(im);
		return CM_EINVAL;
	}
	if ((st = import_end(im, CM_OK)) == CM_OK) {
		if (im->sc.n > 0)
			(void)cm_scrub_run(im->idx->st, &im->sc);
		cm_store_release(im->idx->st, im->alloc_end);
	}
	import_free(im);
	return st;
}

void
cm_import_abort(cm_import *im)
{
	if (im == NULL)
		return;
	cm_prefault_stop(im->w.pf);
	im->w.pf = NULL;
	if (im->open)
		(void)cm_store_wend(im->idx->st, im->w.txn, false);
	import_free(im);
}

/* ---------------------------------------------------------------- */
/* raw puts of a restore (index_int.h) */

cm_status
cm_import_put(cm_import *im, cm_rawdb db, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	MDB_val k = { klen, (void *)(uintptr_t)key };
	MDB_val v = { vlen, (void *)(uintptr_t)val };
	int rc;

	if (!im->open || db == CM_RAW_META)
		return CM_EINVAL;
	rc = mdb_put(im->w.txn, cm_store_dbi(im->idx->st, (cm_store_db)db),
	    &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return CM_EEXIST;
	if (rc != 0)
		return import_end(im, cm_store_db_err(im->idx->st, "write",
		    rc));
	return CM_OK;
}

cm_status
cm_import_entries(cm_import *im, cm_rawdb db, size_t *n)
{
	MDB_stat s;
	int rc;

	if (!im->open)
		return CM_EINVAL;
	if ((rc = mdb_stat(im->w.txn, cm_store_dbi(im->idx->st,
	    (cm_store_db)db), &s)) != 0)
		return cm_store_db_err(im->idx->st, "stat", rc);
	*n = s.ms_entries;
	return CM_OK;
}

void
cm_import_set_seq(cm_import *im, uint64_t seq)
{
	im->w.seq = seq;
	im->w.seq_dirty = true;
}
