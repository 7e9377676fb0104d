/*
 * scrub.c - zeroing erased data in data.mdb (see scrub.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "codec.h"
#include "scrub.h"

/* The page layout below is LMDB 0.9's. */
#if MDB_VERSION_MAJOR != 0 || MDB_VERSION_MINOR != 9
#error "scrub.c knows the page layout of LMDB 0.9 only"
#endif

cm_status
cm_scrub_add(cm_scrub *s, const void *p, size_t len)
{
	char **na;

	if (s == NULL || len == 0 || memchr(p, '\0', len) != NULL)
		return CM_OK;
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->str[i]) == len &&
		    memcmp(s->str[i], p, len) == 0)
			return CM_OK;
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 4;

		if ((na = realloc(s->str, nc * sizeof(*na))) == NULL)
			return CM_ENOMEM;
		s->str = na;
		s->cap = nc;
	}
	if ((s->str[s->n] = strndup(p, len)) == NULL)
		return CM_ENOMEM;
	s->n++;
	return CM_OK;
}

void
cm_scrub_free(cm_scrub *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->str[i]);
	free(s->str);
	s->str = NULL;
	s->n = s->cap = 0;
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
zero_matches(unsigned char *p, size_t lo, size_t hi, const cm_scrub *s)
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
		size_t al = strlen(s->str[i]);
		unsigned char *q = p + lo, *end = p + hi;

		while (q < end && (size_t)(end - q) >= al) {
			unsigned char *m = memmem(q, (size_t)(end - q),
			    s->str[i], al);

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
scrub_once(cm_store *store, const cm_scrub *s, bool *complete)
{
	MDB_env *env;
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
	if ((st = cm_store_wbegin(store, &txn)) != CM_OK)
		return st;
	env = cm_store_env(store);
	/*
	 * The write transaction only holds the writer lock; LMDB lets the
	 * free list be read through a read-only transaction only (allowed
	 * beside a write transaction in one thread with MDB_NOTLS).  Both
	 * see the same, latest, snapshot.
	 */
	(void)mdb_reader_check(env, NULL);
	rm.oldest = mdb_txn_id(txn) - 1;
	(void)mdb_reader_list(env, reader_line, &rm);
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &rtx)) != 0 ||
	    (rc = mdb_env_stat(env, &est)) != 0 ||
	    (rc = mdb_env_info(env, &info)) != 0 ||
	    (rc = mdb_cursor_open(rtx, 0, &c)) != 0) {
		st = cm_store_db_err(store, "scrub", rc);
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

	if (asprintf(&path, "%s/data.mdb", cm_store_dir(store)) < 0)
		path = NULL;
	if (path == NULL ||
	    (page = malloc(psize)) == NULL ||
	    (zero = calloc(1, psize)) == NULL) {
		st = CM_ENOMEM;
		goto out;
	}
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0 || fstat(fd, &sb) != 0) {
		cm_store_set_err(store, errno, "scrub: %s: %s", path, strerror(errno));
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
			flags = cm_codec_get16(page + 10);
			lower = cm_codec_get16(page + 12);
			upper = cm_codec_get16(page + 14);
			if (flags & P_OVERFLOW) {
				uint32_t np = (uint32_t)cm_codec_get16(page + 12) |
				    (uint32_t)cm_codec_get16(page + 14) << 16;

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
				cm_store_set_err(store, errno, "scrub: write: %s",
				    strerror(errno));
				st = CM_EIO;
				goto out;
			}
			dirty = true;
		}
	}
	if (dirty && fdatasync(fd) != 0) {
		cm_store_set_err(store, errno, "scrub: sync: %s", strerror(errno));
		st = CM_EIO;
	}
out:
	if (fd >= 0)
		(void)close(fd);
	if (c != NULL)
		mdb_cursor_close(c);
	if (rtx != NULL)
		mdb_txn_abort(rtx);
	(void)cm_store_wend(store, txn, false);
	free(fl);
	free(page);
	free(zero);
	free(path);
	return st;
}

cm_status
cm_scrub_run(cm_store *store, const cm_scrub *s)
{
	cm_status st = CM_OK;

	for (int i = 0; i < 50; i++) {
		bool complete;
		struct timespec ts = { 0, 2000000 };

		if ((st = scrub_once(store, s, &complete)) != CM_OK ||
		    complete)
			return st;
		(void)nanosleep(&ts, NULL);
	}
	return st;
}

