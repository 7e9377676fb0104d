/*
 * importer.c - an import of many events into the index, all or nothing,
 * from a source that can be read again (importer.h).
 *
 * Two slots, each a batch and the tags of its events, go back and forth
 * between a producer thread (the source's reader, then the merger of the
 * sorted runs) and the calling thread, which owns the import transaction
 * and sorts or applies each slot it takes.  mu and cv guard the slots'
 * full flags, stop and producer_done.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "importer.h"
#include "runsort.h"

#define BATCH_DEFAULT 100000
#define ATTEMPTS_DEFAULT 4

typedef struct slot {
	cm_batch *b;
	unsigned long *tags;
	size_t nb;
	bool full;		/* handed over to be applied */
} slot;

struct cm_importer {
	cm_index *idx;
	cm_importer_opts o;
	char *tmpdir;
	/* one run */
	const cm_import_source *src;
	cm_import *ses;
	cm_runsort *rs;
	bool direct;		/* a source of one batch: applied as read */
	slot slots[2];
	slot *cur;		/* the slot the producer fills */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;		/* the consumer failed: the producer stops */
	bool producer_done;	/* the producer handed over its last slot */
	cm_status producer_st;
	cm_importer_stats stats;
	uint64_t done;		/* events applied or stale in this pass */
	/* the failure */
	cm_importer_stage stage;
	unsigned long tag;
	char err[512];
};

static cm_status
fail(cm_importer *imp, cm_importer_stage stage, cm_status st,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Record the first failure of a run: STAGE and its description (either
 * thread; not with mu held). */
static cm_status
fail(cm_importer *imp, cm_importer_stage stage, cm_status st,
    const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&imp->mu);
	if (imp->stage == CM_IMPORTER_NONE) {
		imp->stage = stage;
		va_start(ap, fmt);
		vsnprintf(imp->err, sizeof(imp->err), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&imp->mu);
	return st;
}

size_t
cm_importer_reserve(uint64_t octets, uint64_t records)
{
	/*
	 * Measured: 200,000 CSV rows of 122 octets, 24.4 MB, make 61 MiB
	 * of a new index; the estimate is 87 MB.  The former 4 x the file +
	 * 16 MiB, times 64 for the copies, asked a 1 GB index for 1 GB of
	 * free disk to import one row.
	 */
	records++;
	if (octets > SIZE_MAX / 8 || records > SIZE_MAX / 1024)
		return SIZE_MAX / 4;
	return (size_t)(2 * octets + 192 * records) + (256u << 10);
}

void
cm_importer_free(cm_importer *imp)
{
	if (imp == NULL)
		return;
	for (int i = 0; i < 2; i++) {
		cm_batch_free(imp->slots[i].b);
		free(imp->slots[i].tags);
	}
	pthread_cond_destroy(&imp->cv);
	pthread_mutex_destroy(&imp->mu);
	free(imp->tmpdir);
	free(imp);
}

cm_status
cm_importer_new(cm_index *idx, const cm_importer_opts *o, cm_importer **out)
{
	cm_importer *imp;

	if (out != NULL)
		*out = NULL;
	if (idx == NULL || out == NULL)
		return CM_EINVAL;
	if ((imp = calloc(1, sizeof(*imp))) == NULL)
		return CM_ENOMEM;
	imp->idx = idx;
	if (o != NULL)
		imp->o = *o;
	if (imp->o.batch == 0)
		imp->o.batch = BATCH_DEFAULT;
	if (imp->o.attempts == 0)
		imp->o.attempts = ATTEMPTS_DEFAULT;
	imp->o.tmpdir = NULL;
	pthread_mutex_init(&imp->mu, NULL);
	pthread_cond_init(&imp->cv, NULL);
	if (o != NULL && o->tmpdir != NULL &&
	    (imp->tmpdir = strdup(o->tmpdir)) == NULL)
		goto nomem;
	for (int i = 0; i < 2; i++)
		if (cm_batch_new(&imp->slots[i].b) != CM_OK ||
		    (imp->slots[i].tags = calloc(imp->o.batch,
		    sizeof(*imp->slots[i].tags))) == NULL)
			goto nomem;
	*out = imp;
	return CM_OK;
nomem:
	cm_importer_free(imp);
	return CM_ENOMEM;
}

static slot *
other(cm_importer *imp, slot *s)
{
	return s == &imp->slots[0] ? &imp->slots[1] : &imp->slots[0];
}

/* Producer: hand the current slot over and go on with the other one once
 * it is free.  false if the consumer failed (stop). */
static bool
hand_over(cm_importer *imp)
{
	slot *next = other(imp, imp->cur);
	bool stop;

	if (imp->cur->nb == 0)
		return true;
	pthread_mutex_lock(&imp->mu);
	imp->cur->full = true;
	pthread_cond_broadcast(&imp->cv);
	while (next->full && !imp->stop)
		pthread_cond_wait(&imp->cv, &imp->mu);
	stop = imp->stop;
	pthread_mutex_unlock(&imp->mu);
	if (stop)
		return false;
	imp->cur = next;
	return true;
}

/* Producer of the first stage: the source's events, as read. */
static cm_status
read_source(cm_importer *imp)
{
	const cm_import_source *src = imp->src;

	for (;;) {
		slot *s = imp->cur;
		size_t n = 0;
		cm_status st = src->next(src->arg, s->b, imp->o.batch,
		    s->tags, &n);

		if (st != CM_OK) {
			cm_batch_clear(s->b);
			s->nb = 0;
			return fail(imp, CM_IMPORTER_SOURCE, st, "%s",
			    cm_strerror(st));
		}
		if (n == 0)
			return CM_OK;
		s->nb = n;
		imp->stats.events += n;
		if (!hand_over(imp))
			return CM_OK;	/* the consumer said why */
	}
}

/* Producer of the second stage: the sorted events, in key order. */
static cm_status
merge_runs(cm_importer *imp)
{
	uint64_t total = cm_runsort_events(imp->rs), done = 0;

	if (imp->o.progress != NULL)
		imp->o.progress(imp->o.progress_arg, CM_IMPORTER_MERGING, 0,
		    total);
	for (;;) {
		slot *s = imp->cur;
		size_t n;
		cm_status st = cm_runsort_next(imp->rs, s->b, imp->o.batch,
		    s->tags, &n);

		if (st != CM_OK)
			return fail(imp, CM_IMPORTER_SORT, st, "cannot read "
			    "the sorted events back: %s%s%s", cm_strerror(st),
			    *cm_runsort_error(imp->rs) ? ": " : "",
			    cm_runsort_error(imp->rs));
		if (n == 0)
			return CM_OK;
		s->nb = n;
		if (!hand_over(imp))
			return CM_OK;
		done += n;
		if (imp->o.progress != NULL)
			imp->o.progress(imp->o.progress_arg,
			    CM_IMPORTER_MERGING, done, total);
	}
}

/* Apply the events of slot S to the import.  S is empty afterwards. */
static cm_status
apply_slot(cm_importer *imp, slot *s)
{
	cm_batch_result res;
	cm_status st;

	if (s->nb == 0)
		return CM_OK;
	memset(&res, 0, sizeof(res));
	st = cm_import_apply(imp->ses, s->b, &res);
	if (st == CM_EFULL)
		return st;	/* the map was grown: the caller retries */
	if (st != CM_OK) {
		imp->tag = res.failed_at < s->nb ? s->tags[res.failed_at] : 0;
		if (st == CM_EDB || st == CM_EFUTURE)
			return fail(imp, CM_IMPORTER_APPLY, st, "cannot apply: "
			    "%s (%s)", cm_strerror(st),
			    cm_index_last_error(imp->idx));
		return fail(imp, CM_IMPORTER_APPLY, st, "cannot apply: %s",
		    cm_strerror(st));
	}
	imp->stats.applied += res.applied;
	imp->stats.stale += res.stale;
	imp->done += res.applied + res.stale;
	if (imp->o.progress != NULL)
		imp->o.progress(imp->o.progress_arg, CM_IMPORTER_APPLIED,
		    imp->done, 0);
	cm_batch_clear(s->b);
	s->nb = 0;
	return CM_OK;
}

/* Sort the events of slot S into a run of the temporary file. */
static cm_status
sort_slot(cm_importer *imp, slot *s)
{
	cm_status st = cm_runsort_add(imp->rs, s->b, s->tags);

	if (st != CM_OK)
		return fail(imp, CM_IMPORTER_SORT, st, "cannot sort the "
		    "events: %s%s%s", cm_strerror(st),
		    *cm_runsort_error(imp->rs) ? ": " : "",
		    cm_runsort_error(imp->rs));
	cm_batch_clear(s->b);
	s->nb = 0;
	return CM_OK;
}

/*
 * First stage: take slot S, the next the reader handed over.  A source
 * of one batch (the reader is done before it fills a second) is applied
 * as it is; the batches of a longer one are sorted into runs, to be
 * applied in key order once the source has been read.
 */
static cm_status
take_read(cm_importer *imp, slot *s)
{
	if (imp->rs == NULL && !imp->direct) {
		bool more;
		cm_status st;

		pthread_mutex_lock(&imp->mu);
		while (!other(imp, s)->full && !imp->producer_done)
			pthread_cond_wait(&imp->cv, &imp->mu);
		more = other(imp, s)->full;
		pthread_mutex_unlock(&imp->mu);
		if (!more) {
			imp->direct = true;
		} else if ((st = cm_runsort_new(imp->idx, imp->tmpdir,
		    &imp->rs)) != CM_OK) {
			return fail(imp, CM_IMPORTER_TMPFILE, st, "cannot "
			    "create a temporary file: %s", st == CM_EIO ?
			    strerror(errno) : cm_strerror(st));
		}
		imp->stats.sorted = imp->rs != NULL;
	}
	return imp->direct ? apply_slot(imp, s) : sort_slot(imp, s);
}

/* Take the slots in the order the producer hands them over, with FN,
 * until it is done. */
static cm_status
consume(cm_importer *imp, cm_status (*fn)(cm_importer *, slot *))
{
	slot *s = &imp->slots[0];
	cm_status st;

	for (;;) {
		pthread_mutex_lock(&imp->mu);
		while (!s->full && !imp->producer_done)
			pthread_cond_wait(&imp->cv, &imp->mu);
		if (!s->full) {
			pthread_mutex_unlock(&imp->mu);
			return CM_OK;
		}
		pthread_mutex_unlock(&imp->mu);
		st = fn(imp, s);
		pthread_mutex_lock(&imp->mu);
		s->full = false;
		if (st != CM_OK)
			imp->stop = true;
		pthread_cond_broadcast(&imp->cv);
		pthread_mutex_unlock(&imp->mu);
		if (st != CM_OK)
			return st;
		s = other(imp, s);
	}
}

typedef struct producer {
	cm_importer *imp;
	cm_status (*fn)(cm_importer *);
} producer;

static void *
producer_main(void *arg)
{
	producer *p = arg;
	cm_importer *imp = p->imp;
	cm_status st = p->fn(imp);

	pthread_mutex_lock(&imp->mu);
	imp->producer_st = st;
	imp->producer_done = true;
	pthread_cond_broadcast(&imp->cv);
	pthread_mutex_unlock(&imp->mu);
	return NULL;
}

/* Empty slots, a producer thread running FN, this thread consuming with
 * TAKE.  The consumer's failure first: the producer stopped because of
 * it. */
static cm_status
pipeline(cm_importer *imp, cm_status (*fn)(cm_importer *),
    cm_status (*take)(cm_importer *, slot *))
{
	producer p = { imp, fn };
	pthread_t th;
	cm_status st;
	int e;

	imp->stop = imp->producer_done = false;
	imp->producer_st = CM_OK;
	for (int i = 0; i < 2; i++) {
		cm_batch_clear(imp->slots[i].b);
		imp->slots[i].nb = 0;
		imp->slots[i].full = false;
	}
	imp->cur = &imp->slots[0];
	if ((e = pthread_create(&th, NULL, producer_main, &p)) != 0)
		return fail(imp, CM_IMPORTER_THREAD, CM_ENOMEM, "cannot start "
		    "a thread: %s", strerror(e));
	st = consume(imp, take);
	pthread_join(th, NULL);
	return st != CM_OK ? st : imp->producer_st;
}

/* One pass: begin, read (and sort), apply, commit.  CM_EFULL: again. */
static cm_status
one_pass(cm_importer *imp, size_t reserve, unsigned pass)
{
	const cm_import_source *src = imp->src;
	cm_status st;

	if ((st = cm_index_import_begin(imp->idx, reserve, &imp->ses)) !=
	    CM_OK)
		return fail(imp, CM_IMPORTER_BEGIN, st, "cannot begin the "
		    "import: %s (%s)", cm_strerror(st),
		    cm_index_last_error(imp->idx));
	imp->stats.passes = pass + 1;
	imp->stats.events = imp->stats.applied = imp->stats.stale = 0;
	imp->stats.sorted = false;
	imp->done = 0;
	imp->direct = false;
	if ((st = src->rewind(src->arg, pass)) != CM_OK)
		st = fail(imp, CM_IMPORTER_SOURCE, st, "%s", cm_strerror(st));
	else
		st = pipeline(imp, read_source, take_read);
	if (st == CM_OK && imp->rs != NULL)
		st = pipeline(imp, merge_runs, apply_slot);
	cm_runsort_free(imp->rs);
	imp->rs = NULL;
	if (st != CM_OK) {
		cm_import_abort(imp->ses);
		imp->ses = NULL;
		return st;
	}
	st = cm_import_commit(imp->ses);
	imp->ses = NULL;
	if (st != CM_OK && st != CM_EFULL)
		return fail(imp, CM_IMPORTER_COMMIT, st, "cannot commit: %s "
		    "(%s)", cm_strerror(st), cm_index_last_error(imp->idx));
	return st;
}

cm_status
cm_importer_run(cm_importer *imp, const cm_import_source *src)
{
	size_t reserve;
	cm_status st = CM_EFULL;

	if (imp == NULL || src == NULL || src->next == NULL ||
	    src->rewind == NULL)
		return CM_EINVAL;
	memset(&imp->stats, 0, sizeof(imp->stats));
	imp->stage = CM_IMPORTER_NONE;
	imp->tag = 0;
	imp->err[0] = '\0';
	imp->src = src;
	reserve = imp->o.reserve != 0 ? imp->o.reserve :
	    cm_importer_reserve(src->octets, src->records);
	for (unsigned pass = 0; pass < imp->o.attempts; pass++) {
		st = one_pass(imp, reserve, pass);
		if (st != CM_EFULL || imp->stage != CM_IMPORTER_NONE)
			break;
	}
	if (st == CM_EFULL && imp->stage == CM_IMPORTER_NONE)
		fail(imp, CM_IMPORTER_FULL, st, "the index map keeps filling "
		    "up (%s)", cm_index_last_error(imp->idx));
	imp->src = NULL;
	if (st != CM_OK)
		imp->stats.applied = imp->stats.stale = 0;
	return st;
}

void
cm_importer_stats_get(const cm_importer *imp, cm_importer_stats *out)
{
	if (out == NULL)
		return;
	memset(out, 0, sizeof(*out));
	if (imp != NULL)
		*out = imp->stats;
}

const char *
cm_importer_failure(const cm_importer *imp, cm_importer_stage *stage,
    unsigned long *tag)
{
	if (stage != NULL)
		*stage = imp != NULL ? imp->stage : CM_IMPORTER_NONE;
	if (tag != NULL)
		*tag = imp != NULL && imp->stage == CM_IMPORTER_APPLY ?
		    imp->tag : 0;
	return imp != NULL ? imp->err : "";
}
