/*
 * writer.c - group commit of consent-web's changes (see writer.h).
 */
#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX 256

typedef struct job {
	const cm_event *ev;
	web_outcome out;
	bool done, pending;
	struct job *dup_of;	/* same change as this earlier job */
	struct job *next;
} job;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t cv_done = PTHREAD_COND_INITIALIZER;
static job *queue;		/* newest first */
static size_t nqueued;		/* jobs in queue */
static bool stopping, running;
static pthread_t thread;
static const char *dbdir;
static int64_t skew;

/* Is the record already in the state EV would give it (withdrawn, or
 * granted and confirmed)?  The index would record a repeated withdrawal
 * made at a later time as a new event. */
static bool
already(cm_index *idx, const cm_event *ev)
{
	cm_entry *e = NULL;
	bool done = false;

	if (cm_index_get(idx, ev->addr, &e) != CM_OK)
		return false;
	for (size_t i = 0; i < e->nrecords; i++) {
		const cm_record *r = &e->records[i];
		if (strcmp(r->type, ev->type) != 0)
			continue;
		done = ev->kind == CM_EV_CONFIRM ?
		    r->state == CM_STATE_GRANTED && r->confirmed_us != 0 :
		    r->state == CM_STATE_WITHDRAWN;
	}
	cm_entry_free(e);
	return done;
}

static void
log_err(cm_index *idx, cm_status st)
{
	const char *le = idx ? cm_index_last_error(idx) : NULL;

	fprintf(stderr, "consent-web: %s: cannot record: %s%s%s\n", dbdir,
	    cm_strerror(st), le ? ": " : "", le ? le : "");
}

/* One change on its own (a confirmation, or a withdrawal after its
 * batch failed). */
static web_outcome
apply_one(cm_index *idx, const cm_event *ev)
{
	cm_status st = cm_index_apply(idx, ev);

	if (st == CM_OK)
		return WEB_DONE;
	if (st == CM_ESTALE && ev->kind == CM_EV_WITHDRAW)
		return WEB_ALREADY;
	if (st == CM_ESTALE || st == CM_NOTFOUND)
		return already(idx, ev) ? WEB_ALREADY : WEB_NOTHING;
	log_err(idx, st);
	return WEB_FAILED;
}

static void
run_batch(job *list)
{
	cm_index_opts o = { 0 };
	cm_index *idx = NULL;
	cm_batch *b = NULL;
	cm_batch_result res;
	cm_status st = CM_EBUSY;
	size_t npending = 0;

	o.no_wait = true;
	o.clock_skew_us = skew;
	for (int tries = 0; tries < 50; tries++) {
		st = cm_index_open(dbdir, &o, &idx);
		if (st != CM_EBUSY)
			break;
		nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
	}
	if (st != CM_OK) {
		if (st != CM_EBUSY)
			fprintf(stderr, "consent-web: %s: cannot open the index: "
			    "%s\n", dbdir, cm_strerror(st));
		for (job *j = list; j; j = j->next)
			j->out = st == CM_EBUSY ? WEB_BUSY : WEB_FAILED;
		return;
	}
	if (cm_batch_new(&b) != CM_OK)
		b = NULL;
	for (job *j = list; j; j = j->next) {
		const cm_event *ev = j->ev;

		if (ev->kind != CM_EV_WITHDRAW || b == NULL) {
			j->out = already(idx, ev) ? WEB_ALREADY :
			    apply_one(idx, ev);
			continue;
		}
		/* the same withdrawal twice in one batch: the second follows
		 * the first's outcome, known only after the commit */
		for (job *k = list; k != j && j->dup_of == NULL; k = k->next)
			if (k->pending && strcmp(k->ev->addr, ev->addr) == 0 &&
			    strcmp(k->ev->type, ev->type) == 0)
				j->dup_of = k;
		if (j->dup_of != NULL)
			continue;
		if (already(idx, ev)) {
			j->out = WEB_ALREADY;
		} else if (cm_batch_add(b, ev) == CM_OK) {
			j->pending = true;
			npending++;
		} else {
			j->out = apply_one(idx, ev);
		}
	}
	if (npending > 0) {
		st = cm_index_apply_batch(idx, b, &res);
		for (job *j = list; j; j = j->next) {
			if (!j->pending)
				continue;
			/* on failure nothing was applied: one by one */
			j->out = st == CM_OK ? WEB_DONE : apply_one(idx, j->ev);
		}
		/* a duplicate is recorded only if its first was */
		for (job *j = list; j; j = j->next)
			if (j->dup_of != NULL)
				j->out = j->dup_of->out == WEB_DONE ||
				    j->dup_of->out == WEB_ALREADY ? WEB_ALREADY :
				    j->dup_of->out;
	}
	cm_batch_free(b);
	cm_index_close(idx);
}

static void *
writer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		job *list = NULL, *j;
		size_t n = 0;

		while (queue == NULL && !stopping)
			pthread_cond_wait(&cv_work, &mu);
		if (queue == NULL && stopping)
			break;
		/* take up to BATCH_MAX, oldest first */
		while (queue != NULL) {
			j = queue;
			queue = j->next;
			nqueued--;
			j->next = list;
			list = j;
			n++;
		}
		if (n > BATCH_MAX) {
			/* give back the newest beyond the limit */
			job *keep = list, *p = list;
			for (size_t i = 1; i < BATCH_MAX; i++)
				p = p->next;
			j = p->next;
			p->next = NULL;
			while (j != NULL) {
				job *nx = j->next;
				j->next = queue;
				queue = j;
				nqueued++;
				j = nx;
			}
			list = keep;
		}
		pthread_mutex_unlock(&mu);
		run_batch(list);
		pthread_mutex_lock(&mu);
		for (j = list; j; j = j->next)
			j->done = true;
		pthread_cond_broadcast(&cv_done);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

int
web_writer_start(const char *db_dir, int64_t clock_skew_us)
{
	int e;

	dbdir = db_dir;
	skew = clock_skew_us;
	stopping = false;	/* started again after a stop */
	if ((e = pthread_create(&thread, NULL, writer_main, NULL)) != 0) {
		errno = e;
		return -1;
	}
	running = true;
	return 0;
}

void
web_writer_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&mu);
	stopping = true;
	pthread_cond_signal(&cv_work);
	pthread_mutex_unlock(&mu);
	pthread_join(thread, NULL);
	running = false;
}

web_outcome
web_writer_submit(const cm_event *ev)
{
	job j = { .ev = ev };

	pthread_mutex_lock(&mu);
	if (stopping) {
		pthread_mutex_unlock(&mu);
		return WEB_FAILED;
	}
	j.next = queue;
	queue = &j;
	nqueued++;
	pthread_cond_signal(&cv_work);
	while (!j.done)
		pthread_cond_wait(&cv_done, &mu);
	pthread_mutex_unlock(&mu);
	return j.out;
}

size_t
web_writer_waiting(void)
{
	size_t n;

	pthread_mutex_lock(&mu);
	n = nqueued;
	pthread_mutex_unlock(&mu);
	return n;
}
