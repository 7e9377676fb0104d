/*
 * runsort.c - external sort of an import's events into key order.
 *
 * FILE FORMAT (private to one process; an unlinked temporary file)
 *
 * Runs one after the other, each a sequence of records in key order.
 * A record, integers little-endian:
 *   u16 total length
 *   16  subject key
 *   u64 tag
 *   u8  kind, u8 state, u8 present (bit i: string i is not NULL), u8 0
 *   i64 at_us
 *   u16 length of each of the 7 strings (addr, type, source, basis,
 *       purpose, evidence, actor)
 *   the present strings, each followed by a NUL
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index_int.h"
#include "runsort.h"

#define NSTR 7
#define HDR (2 + CM_SUBJECT_KEY_LEN + 8 + 4 + 8 + 2 * NSTR)
#define WBUF_SIZE ((size_t)256 << 10)
#define MAX_RUNS 1024
#define MERGE_MEM ((size_t)16 << 20)
#define RBUF_MIN ((size_t)16 << 10)	/* > the largest record */
#define RBUF_MAX ((size_t)1 << 20)

typedef struct run {
	uint64_t off, end;
} run;

/* A run being read. */
typedef struct mrun {
	uint64_t off, end;	/* next octet to read; end of the run */
	unsigned char *buf;
	size_t cap, pos, len;	/* the unread octets are buf[pos, len) */
} mrun;

struct cm_runsort {
	cm_index *idx;
	int fd;
	char *dir;
	run *runs;
	size_t nruns, rcap;
	uint64_t size;		/* octets written to the file */
	uint64_t events;
	unsigned char *wbuf;	/* octets to be written after SIZE */
	size_t wlen;
	bool reading;		/* cm_runsort_next was called */
	mrun *m;		/* merging: the runs ... */
	size_t nm;
	size_t *heap;		/* ... in a heap by current key */
	size_t nheap;
	bool pending;		/* heap[0]'s record was handed out */
	char err[320];
};

static void
put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static cm_status
io_err(cm_runsort *sp, const char *what)
{
	snprintf(sp->err, sizeof(sp->err), "temporary file in %s: %s: %s",
	    sp->dir, what, strerror(errno));
	return CM_EIO;
}

cm_status
cm_runsort_new(cm_index *idx, const char *dir, cm_runsort **out)
{
	cm_runsort *sp;
	char *path;
	int e;

	if (idx == NULL || out == NULL)
		return CM_EINVAL;
	*out = NULL;
	if (dir == NULL && ((dir = getenv("TMPDIR")) == NULL || *dir == '\0'))
		dir = "/tmp";
	if ((sp = calloc(1, sizeof(*sp))) == NULL ||
	    (sp->dir = strdup(dir)) == NULL ||
	    (sp->wbuf = malloc(WBUF_SIZE)) == NULL ||
	    asprintf(&path, "%s/consent-import.XXXXXX", dir) < 0) {
		if (sp != NULL) {
			free(sp->wbuf);
			free(sp->dir);
		}
		free(sp);
		return CM_ENOMEM;
	}
	sp->idx = idx;
	sp->fd = mkostemp(path, O_CLOEXEC);
	e = errno;
	if (sp->fd >= 0)
		unlink(path);
	free(path);
	if (sp->fd < 0) {
		free(sp->wbuf);
		free(sp->dir);
		free(sp);
		errno = e;
		return CM_EIO;
	}
	*out = sp;
	return CM_OK;
}

/* Write out the buffered octets. */
static cm_status
wflush(cm_runsort *sp)
{
	size_t off = 0;

	while (off < sp->wlen) {
		ssize_t w = pwrite(sp->fd, sp->wbuf + off, sp->wlen - off,
		    (off_t)(sp->size + off));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return io_err(sp, "write");
		}
		off += (size_t)w;
	}
	sp->size += sp->wlen;
	sp->wlen = 0;
	return CM_OK;
}

/* Append the N octets at P. */
static cm_status
wput(cm_runsort *sp, const void *p, size_t n)
{
	cm_status st;

	if (sp->wlen + n > WBUF_SIZE && (st = wflush(sp)) != CM_OK)
		return st;
	memcpy(sp->wbuf + sp->wlen, p, n);
	sp->wlen += n;
	return CM_OK;
}

/* Append the record of EV (subject key KEY, tag TAG). */
static cm_status
put_record(cm_runsort *sp, const cm_event *ev, const unsigned char *key,
    const size_t *len, unsigned long tag)
{
	const char *s[NSTR] = { ev->addr, ev->type, ev->source, ev->basis,
	    ev->purpose, ev->evidence, ev->actor };
	unsigned char *p;
	size_t total = HDR;
	unsigned present = 0;
	cm_status st;

	for (int i = 0; i < NSTR; i++) {
		if (len[i] > CM_FIELD_MAX)
			return CM_EINVAL;
		if (s[i] != NULL) {
			present |= 1u << i;
			total += len[i] + 1;
		}
	}
	if (sp->wlen + total > WBUF_SIZE && (st = wflush(sp)) != CM_OK)
		return st;
	p = sp->wbuf + sp->wlen;
	put16(p, (uint16_t)total);
	memcpy(p + 2, key, CM_SUBJECT_KEY_LEN);
	p += 2 + CM_SUBJECT_KEY_LEN;
	put64(p, tag);
	p[8] = (unsigned char)ev->kind;
	p[9] = (unsigned char)ev->state;
	p[10] = (unsigned char)present;
	p[11] = 0;
	put64(p + 12, (uint64_t)ev->at_us);
	p += 20;
	for (int i = 0; i < NSTR; i++, p += 2)
		put16(p, (uint16_t)len[i]);
	for (int i = 0; i < NSTR; i++)
		if (s[i] != NULL) {
			memcpy(p, s[i], len[i] + 1);
			p += len[i] + 1;
		}
	sp->wlen += total;
	return CM_OK;
}

/* ---------------------------------------------------------------- */
/* merging */

static int
mcmp(const cm_runsort *sp, size_t a, size_t b)
{
	const mrun *x = &sp->m[a], *y = &sp->m[b];
	int c = memcmp(x->buf + x->pos + 2, y->buf + y->pos + 2,
	    CM_SUBJECT_KEY_LEN);

	/* equal keys: the earlier run (the earlier batch) first */
	return c != 0 ? c : (a > b) - (a < b);
}

static void
sift_down(cm_runsort *sp, size_t i)
{
	size_t *h = sp->heap, n = sp->nheap;

	for (;;) {
		size_t l = 2 * i + 1, m = i, t;

		if (l < n && mcmp(sp, h[l], h[m]) < 0)
			m = l;
		if (l + 1 < n && mcmp(sp, h[l + 1], h[m]) < 0)
			m = l + 1;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Make the next record of R whole in its buffer; *has = false at the
 * end of the run. */
static cm_status
mfill(cm_runsort *sp, mrun *r, bool *has)
{
	size_t avail = r->len - r->pos, need;

	*has = false;
	if (avail >= 2) {
		need = get16(r->buf + r->pos);
		if (need < HDR || need > r->cap) {
			snprintf(sp->err, sizeof(sp->err), "temporary file in "
			    "%s: damaged record", sp->dir);
			return CM_EFORMAT;
		}
		if (avail >= need) {
			*has = true;
			return CM_OK;
		}
	}
	if (r->off == r->end) {
		if (avail == 0)
			return CM_OK;
		snprintf(sp->err, sizeof(sp->err), "temporary file in %s: "
		    "truncated record", sp->dir);
		return CM_EFORMAT;
	}
	memmove(r->buf, r->buf + r->pos, avail);
	r->pos = 0;
	r->len = avail;
	while (r->len < r->cap && r->off < r->end) {
		size_t want = r->cap - r->len;
		ssize_t n;

		if (want > r->end - r->off)
			want = (size_t)(r->end - r->off);
		n = pread(sp->fd, r->buf + r->len, want, (off_t)r->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return io_err(sp, "read");
		}
		r->len += (size_t)n;
		r->off += (uint64_t)n;
	}
	return mfill(sp, r, has);
}

static void
merge_end(cm_runsort *sp)
{
	for (size_t i = 0; i < sp->nm; i++)
		free(sp->m[i].buf);
	free(sp->m);
	free(sp->heap);
	sp->m = NULL;
	sp->heap = NULL;
	sp->nm = sp->nheap = 0;
	sp->pending = false;
}

/* Start merging all runs. */
static cm_status
merge_begin(cm_runsort *sp)
{
	size_t cap;
	cm_status st;

	if ((st = wflush(sp)) != CM_OK)
		return st;
	cap = sp->nruns ? MERGE_MEM / sp->nruns : RBUF_MAX;
	cap = cap < RBUF_MIN ? RBUF_MIN : cap > RBUF_MAX ? RBUF_MAX : cap;
	if (sp->nruns > 0 &&
	    ((sp->m = calloc(sp->nruns, sizeof(*sp->m))) == NULL ||
	    (sp->heap = calloc(sp->nruns, sizeof(*sp->heap))) == NULL)) {
		merge_end(sp);
		return CM_ENOMEM;
	}
	sp->nm = sp->nruns;
	for (size_t i = 0; i < sp->nruns; i++) {
		mrun *r = &sp->m[i];
		bool has;

		r->off = sp->runs[i].off;
		r->end = sp->runs[i].end;
		r->cap = cap;
		if ((r->buf = malloc(cap)) == NULL) {
			merge_end(sp);
			return CM_ENOMEM;
		}
		if ((st = mfill(sp, r, &has)) != CM_OK) {
			merge_end(sp);
			return st;
		}
		if (has)
			sp->heap[sp->nheap++] = i;
	}
	for (size_t i = sp->nheap / 2; i-- > 0;)
		sift_down(sp, i);
	return CM_OK;
}

/* The next record in key order (NULL: none left).  It stays valid until
 * the next call. */
static cm_status
merge_pop(cm_runsort *sp, const unsigned char **rec)
{
	*rec = NULL;
	if (sp->pending) {
		mrun *r = &sp->m[sp->heap[0]];
		bool has;
		cm_status st;

		sp->pending = false;
		r->pos += get16(r->buf + r->pos);
		if ((st = mfill(sp, r, &has)) != CM_OK)
			return st;
		if (!has)
			sp->heap[0] = sp->heap[--sp->nheap];
		sift_down(sp, 0);
	}
	if (sp->nheap == 0)
		return CM_OK;
	*rec = sp->m[sp->heap[0]].buf + sp->m[sp->heap[0]].pos;
	sp->pending = true;
	return CM_OK;
}

/* Merge all runs into one, written after them; their space is given
 * back to the file system where it can be. */
static cm_status
compact(cm_runsort *sp)
{
	uint64_t start, old = sp->runs[0].off;
	const unsigned char *rec;
	cm_status st;

	if ((st = merge_begin(sp)) != CM_OK)
		return st;
	start = sp->size;
	for (;;) {
		if ((st = merge_pop(sp, &rec)) != CM_OK || rec == NULL)
			break;
		if ((st = wput(sp, rec, get16(rec))) != CM_OK)
			break;
	}
	merge_end(sp);
	if (st == CM_OK)
		st = wflush(sp);
	if (st != CM_OK)
		return st;
	(void)fallocate(sp->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	    (off_t)old, (off_t)(start - old));
	sp->runs[0].off = start;
	sp->runs[0].end = sp->size;
	sp->nruns = 1;
	return CM_OK;
}

cm_status
cm_runsort_add(cm_runsort *sp, cm_batch *b, const unsigned long *tags)
{
	size_t n = cm_batch_count(b);
	uint64_t start;
	cm_status st;

	if (sp == NULL || b == NULL || (n > 0 && tags == NULL) || sp->reading)
		return CM_EINVAL;
	if (n == 0)
		return CM_OK;
	if (sp->nruns == MAX_RUNS && (st = compact(sp)) != CM_OK)
		return st;
	if (sp->nruns == sp->rcap) {
		size_t nc = sp->rcap ? 2 * sp->rcap : 16;
		run *nr = realloc(sp->runs, nc * sizeof(*nr));

		if (nr == NULL)
			return CM_ENOMEM;
		sp->runs = nr;
		sp->rcap = nc;
	}
	if ((st = cm_batch_sort(sp->idx, b)) != CM_OK)
		return st;
	start = sp->size + sp->wlen;
	for (size_t i = 0; i < n; i++) {
		const cm_event *ev;
		const unsigned char *key;
		size_t len[NSTR];
		size_t pos = cm_batch_sorted_at(b, i, &ev, &key, len);

		if ((st = put_record(sp, ev, key, len, tags[pos])) != CM_OK)
			return st;
	}
	sp->runs[sp->nruns].off = start;
	sp->runs[sp->nruns].end = sp->size + sp->wlen;
	sp->nruns++;
	sp->events += n;
	return CM_OK;
}

/* Decode record REC into *EV (strings pointing into REC). */
static cm_status
decode(cm_runsort *sp, const unsigned char *rec, cm_event *ev,
    unsigned long *tag)
{
	const char **s[NSTR] = { &ev->addr, &ev->type, &ev->source,
	    &ev->basis, &ev->purpose, &ev->evidence, &ev->actor };
	size_t total = get16(rec), off = HDR;
	const unsigned char *h = rec + 2 + CM_SUBJECT_KEY_LEN;
	unsigned present = h[10];

	memset(ev, 0, sizeof(*ev));
	*tag = (unsigned long)get64(h);
	ev->kind = (cm_event_kind)h[8];
	ev->state = (cm_state)h[9];
	ev->at_us = (int64_t)get64(h + 12);
	for (int i = 0; i < NSTR; i++) {
		size_t l = get16(h + 20 + 2 * i);

		if (!(present & 1u << i))
			continue;
		if (l >= total - off || rec[off + l] != '\0')
			goto bad;
		*s[i] = (const char *)rec + off;
		off += l + 1;
	}
	if (off == total)
		return CM_OK;
bad:
	snprintf(sp->err, sizeof(sp->err), "temporary file in %s: damaged "
	    "record", sp->dir);
	return CM_EFORMAT;
}

cm_status
cm_runsort_next(cm_runsort *sp, cm_batch *b, size_t max, unsigned long *tags,
    size_t *n)
{
	const unsigned char *rec;
	cm_status st = CM_OK;
	size_t i = 0;

	if (n != NULL)
		*n = 0;
	if (sp == NULL || b == NULL || tags == NULL || n == NULL ||
	    cm_batch_count(b) != 0)
		return CM_EINVAL;
	if (!sp->reading) {
		sp->reading = true;
		if ((st = merge_begin(sp)) != CM_OK)
			return st;
	}
	while (i < max) {
		cm_event ev;

		if ((st = merge_pop(sp, &rec)) != CM_OK || rec == NULL)
			break;
		if ((st = decode(sp, rec, &ev, &tags[i])) != CM_OK ||
		    (st = cm_batch_add_keyed(b, &ev, rec + 2)) != CM_OK)
			break;
		i++;
	}
	if (st != CM_OK) {
		cm_batch_clear(b);
		return st;
	}
	cm_batch_mark_sorted(b, sp->idx);
	*n = i;
	return CM_OK;
}

uint64_t
cm_runsort_events(const cm_runsort *sp)
{
	return sp ? sp->events : 0;
}

size_t
cm_runsort_runs(const cm_runsort *sp)
{
	return sp ? sp->nruns : 0;
}

const char *
cm_runsort_error(const cm_runsort *sp)
{
	return sp ? sp->err : "";
}

void
cm_runsort_free(cm_runsort *sp)
{
	if (sp == NULL)
		return;
	merge_end(sp);
	if (sp->fd >= 0)
		close(sp->fd);
	free(sp->runs);
	free(sp->wbuf);
	free(sp->dir);
	free(sp);
}
