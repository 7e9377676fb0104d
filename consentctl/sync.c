/* sync.c - a consentctl node and the shared consent store (sync.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "../core/erasekey.h"
#include "../core/outbox.h"
#include "../core/scrubq.h"
#include "../core/seed.h"
#include "../core/upsync.h"
#include "cmd_upstream.h"
#include "diag.h"
#include "erase.h"
#include "sync.h"

#define PUSH_CHUNK 1000

bool
ctl_sync_configured(const ctl_ctx *c)
{
	return c->policy != NULL && cm_policy_upstream_conninfo(c->policy) !=
	    NULL;
}

int
ctl_sync_attach(ctl_ctx *c)
{
	const char *node;
	cm_status st;

	if (!ctl_sync_configured(c) || c->idx == NULL)
		return 0;
	node = cm_policy_upstream_node(c->policy);
	if (c->up_seed) {
		size_t n = 0;

		if ((st = cm_seed_attach(c->idx, node, &n)) == CM_OK &&
		    n > 0)
			printf("sync: attached as node %s; %zu event%s of what "
			    "the index held queued for the shared store\n",
			    node, n, n == 1 ? "" : "s");
	} else {
		st = cm_outbox_attach(c->idx, node);
	}
	if (st == CM_EEXIST) {
		ctl_diag_err("%s: %s", c->db_dir, cm_index_last_error(c->idx));
		ctl_diag_err("run 'consentctl sync --seed' once to send what "
		    "it holds, so that the other nodes know it");
		return EX_DATAERR;
	}
	if (st != CM_OK) {
		ctl_diag_err("%s: cannot attach the index to the shared store "
		    "as node %s: %s (%s)", c->db_dir, node, cm_strerror(st),
		    cm_index_last_error(c->idx));
		return ctl_diag_exit(st);
	}
	c->up_attached = true;
	return 0;
}

cm_status
ctl_sync_connect(ctl_ctx *c, cm_pg **pg, char *err, size_t sz)
{
	cm_status st;
	int ver;

	*pg = NULL;
	st = cm_pg_open(cm_policy_upstream_conninfo(c->policy),
	    cm_policy_upstream_password_file(c->policy), pg);
	if (st == CM_OK)
		st = cm_pg_schema(*pg, false, &ver);
	if (st == CM_OK && (st = ctl_upstream_key_check(c->db_dir, *pg, err,
	    sz)) != CM_OK) {
		if (st == CM_NOTFOUND)
			snprintf(err, sz, "key check: no %s in %s",
			    CM_ERASEKEY_NAME, c->db_dir);
		cm_pg_close(*pg);
		*pg = NULL;
		return st == CM_NOTFOUND ? CM_EINVAL : st;
	}
	if (st != CM_OK) {
		snprintf(err, sz, "%s", *pg != NULL ? cm_pg_error(*pg) :
		    cm_strerror(st));
		if (st == CM_EFORMAT)
			snprintf(err, sz, "no schema of this version in the "
			    "shared store (run 'consentctl upstream init'): %s",
			    *pg != NULL ? cm_pg_error(*pg) : "");
		cm_pg_close(*pg);
		*pg = NULL;
	}
	return st;
}

/* ---------------------------------------------------------------- */
/* events held in memory: a growing array and an arena for strings */

typedef struct achunk {
	struct achunk *next;
	size_t used, cap;
	char data[];
} achunk;

typedef struct evbuf {
	cm_upevent *ev;
	size_t n, cap;
	achunk *chunks;
	uint64_t last_seq;	/* push: the outbox key of the last row */
} evbuf;

static const char *
ev_str(evbuf *b, const char *s)
{
	size_t n;
	achunk *c = b->chunks;
	char *p;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	if (c == NULL || c->cap - c->used < n) {
		size_t cap = n > 262144 ? n : 262144;

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

static void
evbuf_clear(evbuf *b)
{
	achunk *c;

	while ((c = b->chunks) != NULL) {
		b->chunks = c->next;
		free(c);
	}
	b->n = 0;
}

static void
evbuf_free(evbuf *b)
{
	evbuf_clear(b);
	free(b->ev);
	b->ev = NULL;
	b->cap = 0;
}

/* Copy EV into B.  false: out of memory. */
static bool
evbuf_add(evbuf *b, const cm_upevent *ev)
{
	cm_upevent *e;

	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 1024;
		cm_upevent *ne = realloc(b->ev, nc * sizeof(*ne));

		if (ne == NULL)
			return false;
		b->ev = ne;
		b->cap = nc;
	}
	e = &b->ev[b->n];
	*e = *ev;
#define CP(f) do { if (ev->f != NULL && (e->f = ev_str(b, ev->f)) == NULL) \
	return false; } while (0)
	CP(origin);
	CP(ev.addr);
	CP(ev.type);
	CP(ev.source);
	CP(ev.basis);
	CP(ev.purpose);
	CP(ev.evidence);
	CP(ev.actor);
#undef CP
	e->ev.erased = NULL;
	e->ev.erased_arg = NULL;
	b->n++;
	return true;
}

/* ---------------------------------------------------------------- */
/* push */

static int
outbox_cb(uint64_t seq, const cm_upevent *ev, void *arg)
{
	evbuf *b = arg;

	if (!evbuf_add(b, ev))
		return 1;
	b->last_seq = seq;
	return 0;
}

/* C->idx closed; C's index opened read-only (no writer lock) into it,
 * or for writing.  CM_OK, or CM_EDB after ctl_ctx_open said why. */
static cm_status
idx_open(ctl_ctx *c, ctl_open_mode mode, char *err, size_t sz)
{
	if (ctl_ctx_open(c, mode) == 0)
		return CM_OK;
	snprintf(err, sz, "cannot open the index %s", c->db_dir);
	return CM_EDB;
}

static void
idx_close(ctl_ctx *c)
{
	if (c->idx != NULL)
		cm_index_close(c->idx);
	c->idx = NULL;
}

cm_status
ctl_sync_push(ctl_ctx *c, cm_pg *pg, size_t *sent, char *err, size_t sz)
{
	evbuf b = { 0 };
	cm_status st = CM_OK;
	uint64_t after = 0;
	size_t total = 0, stored;

	for (;;) {
		evbuf_clear(&b);
		b.last_seq = after;
		/* read in a read snapshot: no writer lock while the
		 * network is waited for */
		if ((st = idx_open(c, CTL_OPEN_RO, err, sz)) != CM_OK)
			break;
		st = cm_outbox_read(c->idx, after, PUSH_CHUNK, outbox_cb, &b);
		if (st != CM_OK)
			snprintf(err, sz, "outbox: %s (%s)", cm_strerror(st),
			    cm_index_last_error(c->idx));
		idx_close(c);
		if (st != CM_OK || b.n == 0)
			break;
		if ((st = cm_pg_push(pg, b.ev, b.n, &stored)) != CM_OK) {
			snprintf(err, sz, "%s", cm_pg_error(pg));
			break;
		}
		/* the writer lock only to remove what was stored (rows
		 * another process sent meanwhile are gone already: removing
		 * them again is harmless, as a second push was) */
		if ((st = idx_open(c, CTL_OPEN_RW, err, sz)) != CM_OK)
			break;
		st = cm_outbox_remove(c->idx, b.last_seq);
		if (st != CM_OK)
			snprintf(err, sz, "outbox: %s (%s)", cm_strerror(st),
			    cm_index_last_error(c->idx));
		idx_close(c);
		if (st != CM_OK)
			break;
		total += b.n;
		after = b.last_seq;
		if (b.n < PUSH_CHUNK)
			break;
	}
	evbuf_free(&b);
	if (sent != NULL)
		*sent = total;
	return st;
}

/* ---------------------------------------------------------------- */
/* pull */

typedef struct pull {
	ctl_ctx *c;
	evbuf b;
	size_t batch;
	ctl_sync_counts *cnt;
	cm_status st;
	size_t nerased;
	char *err;		/* a bootstrap's apply failed: why */
	size_t errsz;
} pull;

static void
erased_cb(void *arg, const char *addr)
{
	pull *p = arg;

	(void)addr;
	p->nerased++;
}

/* The scrub queue's rows: addresses and generations (core/scrubq.h). */
typedef struct pending {
	char **addr;
	uint64_t *gen;
	size_t n, cap;
	bool oom;
} pending;

static int
pending_cb(const char *addr, uint64_t gen, void *arg)
{
	pending *q = arg;

	if (q->n == q->cap) {
		size_t nc = q->cap ? q->cap * 2 : 8;
		char **na = realloc(q->addr, nc * sizeof(*na));
		uint64_t *ng;

		if (na != NULL)
			q->addr = na;
		if (na == NULL ||
		    (ng = realloc(q->gen, nc * sizeof(*ng))) == NULL) {
			q->oom = true;
			return 1;
		}
		q->gen = ng;
		q->cap = nc;
	}
	if ((q->addr[q->n] = strdup(addr)) == NULL) {
		q->oom = true;
		return 1;
	}
	q->gen[q->n++] = gen;
	return 0;
}

/* Wipe and free what Q holds. */
static void
pending_free(pending *q)
{
	for (size_t i = 0; i < q->n; i++) {
		if (q->addr[i] == NULL)
			continue;
		memset(q->addr[i], 0, strlen(q->addr[i]));
		free(q->addr[i]);
	}
	free(q->addr);
	free(q->gen);
	memset(q, 0, sizeof(*q));
}

/* Read the scrub queue of C->idx (open, in any mode) into Q.  A failure
 * is printed: what was not read is scrubbed another time. */
static void
scrub_list(ctl_ctx *c, pending *q)
{
	cm_status st;

	if ((st = cm_scrubq_list_gen(c->idx, pending_cb, q)) != CM_OK)
		ctl_diag_err("%s: scrub queue: %s (%s)", c->db_dir,
		    cm_strerror(st), cm_index_last_error(c->idx));
	if (q->oom)
		ctl_diag_err("sync: out of memory: erased addresses remain to "
		    "be scrubbed from the decision log (retried next time)");
}

/*
 * Scrub the decision log and the DSN spool of every address of Q (read
 * from the scrub queue) with C->idx closed: the writer lock is not held
 * while the files are rewritten, so a local opt-out never waits behind
 * it.  Then the writer lock again, only to drop the rows of the scrubs
 * that succeeded, each if it still has the generation listed (an address
 * erased anew meanwhile stays queued for the scrub of that erasure); a
 * failed one stays queued and is retried.  Killed between the scrub and
 * the drop, a row is scrubbed once more next time, which finds nothing
 * left and rewrites nothing.  Empties Q.
 */
static void
scrub_run(ctl_ctx *c, pending *q)
{
	char err[512];
	size_t ok = 0, failed = 0;
	cm_status st = CM_OK;

	for (size_t i = 0; i < q->n; i++) {
		/* C->idx closed: ctl_erase_remote leaves the row alone */
		if (ctl_erase_remote(c, q->addr[i]) == 0) {
			ok++;
			continue;
		}
		failed++;
		memset(q->addr[i], 0, strlen(q->addr[i]));
		free(q->addr[i]);
		q->addr[i] = NULL;
	}
	if (failed > 0)
		ctl_diag_err("sync: %zu erased address%s not scrubbed: kept in "
		    "the scrub queue, retried at the next exchange", failed,
		    failed == 1 ? "" : "es");
	/* a failed open said why: the rows stay, scrubbed again next time */
	if (ok > 0 && idx_open(c, CTL_OPEN_RW, err, sizeof(err)) == CM_OK) {
		for (size_t i = 0; i < q->n && st == CM_OK; i++)
			if (q->addr[i] != NULL)
				st = cm_scrubq_done_gen(c->idx, q->addr[i],
				    q->gen[i]);
		if (st != CM_OK)
			ctl_diag_err("%s: scrub queue: %s (%s)", c->db_dir,
			    cm_strerror(st), cm_index_last_error(c->idx));
		idx_close(c);
	}
	pending_free(q);
}

static cm_status
idx_err(ctl_ctx *c, cm_status st, char *err, size_t sz)
{
	snprintf(err, sz, "%s: %s (%s)", c->db_dir, cm_strerror(st),
	    cm_index_last_error(c->idx));
	return st;
}

/*
 * Apply what P holds, the position moving to POS, with the index open
 * for writing for this alone (C->idx closed before and after: the writer
 * lock is held for the apply, never while the store is waited for).
 * cm_upsync_apply reads the position again in its write transaction and
 * skips the events at or below it (another pull applied them
 * meanwhile); P->cnt->pos becomes the greater of POS and the stored
 * position.  Then the scrubs of what it erased (the scrub queue, read
 * in the same open), with the index closed again (scrub_run).
 */
static cm_status
apply_held(pull *p, int64_t pos, int64_t pos_us, char *err, size_t sz)
{
	ctl_ctx *c = p->c;
	cm_upsync_result r;
	cm_upsync_state us;
	pending q = { 0 };
	cm_status st;

	if ((st = idx_open(c, CTL_OPEN_RW, err, sz)) != CM_OK) {
		evbuf_clear(&p->b);
		return st;
	}
	st = cm_upsync_apply(c->idx, p->b.ev, p->b.n, CM_UPSYNC_AS_STORED,
	    c->addr_opts.subaddr_sep, pos, pos_us, erased_cb, p, &r);
	if (st == CM_OK) {
		p->cnt->fetched += p->b.n;
		p->cnt->applied += r.applied;
		p->cnt->stale += r.stale;
		p->cnt->skipped += r.skipped;
		p->cnt->refused += r.refused;
		if (pos > p->cnt->pos)
			p->cnt->pos = pos;
		if (cm_upsync_state_get(c->idx, &us) == CM_OK &&
		    us.pos > p->cnt->pos)
			p->cnt->pos = us.pos;
	} else {
		(void)idx_err(c, st, err, sz);
	}
	p->cnt->erased += p->nerased;
	if (p->nerased > 0)
		scrub_list(c, &q);
	p->nerased = 0;
	idx_close(c);
	evbuf_clear(&p->b);
	if (q.n > 0)
		scrub_run(c, &q);
	pending_free(&q);
	return st;
}

static int
fetch_cb(const cm_upevent *ev, void *arg)
{
	pull *p = arg;

	if (!evbuf_add(&p->b, ev)) {
		p->st = CM_ENOMEM;
		return 1;
	}
	return 0;
}

/* A bootstrap's batch is applied once it is full: each moves the
 * position to its last event, so a bootstrap cut short (a crash, the
 * store gone) resumes after it with cm_pg_fetch. */
static int
snap_cb(const cm_upevent *ev, void *arg)
{
	pull *p = arg;

	if (fetch_cb(ev, arg) != 0) {
		snprintf(p->err, p->errsz, "sync: out of memory");
		return 1;
	}
	if (p->b.n >= p->batch) {
		const cm_upevent *l = &p->b.ev[p->b.n - 1];

		if ((p->st = apply_held(p, l->id, l->stored_us, p->err,
		    p->errsz)) != CM_OK)
			return 1;
	}
	return 0;
}

/* Is the index empty (a new node)? */
static bool
index_empty(cm_index *idx)
{
	cm_index_stats s;

	return cm_index_stats_get(idx, &s) == CM_OK && s.addresses == 0 &&
	    s.records == 0 && s.history_events == 0 && s.domains == 0 &&
	    s.tombstones == 0;
}

/* A new node: every event of a consistent snapshot, in batches. */
static cm_status
bootstrap(pull *p, cm_pg *pg, char *err, size_t sz)
{
	cm_status st;
	int64_t upto;

	p->st = CM_OK;
	st = cm_pg_snapshot(pg, snap_cb, p, &upto);
	if (st == CM_OK && p->st != CM_OK)
		return p->st;	/* ERR says why */
	if (st != CM_OK) {
		snprintf(err, sz, "%s", cm_pg_error(pg));
		evbuf_clear(&p->b);	/* the rest of a batch: not applied */
		return st;
	}
	/* the last batch, and the position at the snapshot's head */
	if (p->b.n > 0 || upto > p->cnt->pos)
		st = apply_held(p, upto, p->b.n > 0 ?
		    p->b.ev[p->b.n - 1].stored_us : 0, err, sz);
	return st;
}

cm_status
ctl_sync_pull(ctl_ctx *c, cm_pg *pg, size_t batch,
    volatile const sig_atomic_t *stop,
    ctl_sync_counts *cnt, char *err, size_t sz)
{
	pull p = { 0 };
	cm_upsync_state us;
	cm_status st;
	int64_t last;
	pending q = { 0 };
	bool boot = false;
	size_t n;

	memset(cnt, 0, sizeof(*cnt));
	p.c = c;
	p.batch = batch > 0 ? batch : 10000;
	p.cnt = cnt;
	p.err = err;
	p.errsz = sz;
	/* the position, read-only */
	if ((st = idx_open(c, CTL_OPEN_RO, err, sz)) != CM_OK)
		return st;
	if ((st = cm_upsync_state_get(c->idx, &us)) == CM_OK)
		boot = us.pos == 0 && index_empty(c->idx);
	else
		(void)idx_err(c, st, err, sz);
	/* what earlier runs left to scrub (a crash, a failed scrub) */
	if (st == CM_OK)
		scrub_list(c, &q);
	idx_close(c);
	if (st != CM_OK)
		return st;
	cnt->pos = us.pos;
	if (q.n > 0)
		scrub_run(c, &q);
	pending_free(&q);
	if (boot) {
		st = bootstrap(&p, pg, err, sz);
		evbuf_free(&p.b);
		return st;
	}
	for (;;) {
		/* the index closed while the store is waited for */
		p.st = CM_OK;
		st = cm_pg_fetch(pg, cnt->pos, p.batch, fetch_cb, &p, &last);
		if (st != CM_OK) {
			snprintf(err, sz, "%s", cm_pg_error(pg));
			break;
		}
		if ((st = p.st) != CM_OK || p.b.n == 0) {
			if (st != CM_OK)
				snprintf(err, sz, "sync: out of memory");
			break;
		}
		n = p.b.n;
		if ((st = apply_held(&p, last, p.b.ev[n - 1].stored_us, err,
		    sz)) != CM_OK)
			break;
		if ((stop != NULL && *stop) || n < p.batch)
			break;
	}
	evbuf_free(&p.b);
	return st;
}

/* ---------------------------------------------------------------- */
/* after a change */

void
ctl_sync_flush(ctl_ctx *c)
{
	char err[512] = "", scratch[256];
	size_t n = 0, sent = 0;
	cm_pg *pg = NULL;
	cm_status st;

	if (!c->up_attached || c->up_no_flush || c->idx != NULL)
		return;
	if (idx_open(c, CTL_OPEN_RO, err, sizeof(err)) != CM_OK)
		return;
	st = cm_outbox_count(c->idx, &n, NULL);
	idx_close(c);
	if (st != CM_OK || n == 0)
		return;
	st = ctl_sync_connect(c, &pg, err, sizeof(err));
	if (st == CM_OK)
		st = ctl_sync_push(c, pg, &sent, err, sizeof(err));
	cm_pg_close(pg);
	c->up_no_flush = true;	/* the notes below open the index again */
	if (idx_open(c, CTL_OPEN_RW, scratch, sizeof(scratch)) == CM_OK) {
		(void)cm_upsync_note(c->idx, st == CM_OK ? NULL : err);
		if (st != CM_OK)
			(void)cm_outbox_count(c->idx, &n, NULL);
		idx_close(c);
	}
	if (st == CM_OK)
		return;
	ctl_diag_err("shared store: %s", err);
	ctl_diag_err("the change is applied locally and queued (%zu event%s "
	    "in the outbox); the sync service or the next consentctl command "
	    "sends it", n, n == 1 ? "" : "s");
}
