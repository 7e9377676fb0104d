/*
 * outlet.c - decision log and DSN queue of the policy in force, swapped
 * on reload; retired ones drain on threads of their own.
 *
 * One mutex guards every count below and the lists; it is never held
 * across I/O.  cm_outlet_start, _prepare, _install, _discard and _stop
 * are called from one thread at a time (start-up, the reload thread,
 * exit); _get and _put from any.
 */
#include "outlet.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* A decision log writer, shared by the sets whose log: settings equal. */
struct log_h {
	cm_declog *log;
	unsigned refs;		/* sets holding it */
	char *dir, *key_file;
	unsigned retention;
	bool hash;
	char subaddr_sep;
};

/* A DSN queue, one per spool directory, shared by the sets that use
 * that spool.  It stays in the list (for the spool's sake) until it is
 * closed. */
struct dsn_h {
	struct dsn_h *next;
	cm_dsnq *q;
	unsigned refs;		/* sets holding it; 0: draining */
	bool handover;		/* a new queue wants the spool: stop now */
	dev_t dev;
	ino_t ino;
	char *spool, *target;	/* its settings now */
};

struct cm_outlet {
	unsigned refs;		/* messages, +1 while current */
	bool retired;
	struct log_h *log;
	struct dsn_h *dsn;
	bool reconf;		/* install changes dsn's settings to qopts */
	bool own_log, own_dsn;	/* opened by prepare (for discard) */
	char *target;		/* qopts.target, owned */
	cm_dsnq_opts qopts;	/* what the policy asks of its DSN queue */
	char host[256];
};

struct drainer {
	struct drainer *next;
	pthread_t th;
	cm_outlet *o;
	atomic_bool done;
};

static pthread_mutex_t ou_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ou_cv = PTHREAD_COND_INITIALIZER;
static cm_outlet *ou_cur;
static struct dsn_h *ou_queues;	/* every open DSN queue */
static struct drainer *ou_drainers;
static bool ou_stopping;

/* Reports of the decision log's writer and the DSN queues' threads;
 * ARG names the source ("decision log", "dsn"). */
static void
core_report(void *arg, const cm_report *r)
{
	const char *src = arg;
	int pri = r->severity == CM_REPORT_INFO ? LOG_INFO :
	    r->severity == CM_REPORT_WARNING ? LOG_WARNING : LOG_ERR;

	if (r->subject != NULL)
		cm_log(pri, "%s id=%s: %s", src, r->subject, r->text);
	else if (r->errnum != 0)
		cm_log(pri, "%s: %s: %s (%s)", src, r->text,
		    cm_strerror((int)r->status), strerror(r->errnum));
	else
		cm_log(pri, "%s: %s", src, r->text);
}

static unsigned
ms_of(int64_t us)
{
	int64_t ms = us / 1000;

	return ms <= 0 ? 1 : ms > 86400000 * 7 ? 86400000u * 7 : (unsigned)ms;
}

static bool
str_eq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* ---------------------------------------------------------- decision log */

static bool
log_same(const struct log_h *h, const cm_policy *p)
{
	return h != NULL && str_eq(h->dir, cm_policy_log_path(p)) &&
	    str_eq(h->key_file, cm_policy_log_key_file(p)) &&
	    h->retention == cm_policy_log_retention_days(p) &&
	    h->hash == cm_policy_log_hash_recipients(p) &&
	    h->subaddr_sep == cm_policy_addr_opts(p)->subaddr_sep;
}

static void
log_free(struct log_h *h)
{
	if (h == NULL)
		return;
	free(h->dir);
	free(h->key_file);
	free(h);
}

static struct log_h *
log_open(const cm_policy *p, bool at_start)
{
	struct log_h *h = calloc(1, sizeof(*h));
	cm_declog_opts o = {
		.dir = cm_policy_log_path(p),
		.retention_days = cm_policy_log_retention_days(p),
		.hash_addresses = cm_policy_log_hash_recipients(p),
		.key_file = cm_policy_log_key_file(p),
		.subaddr_sep = cm_policy_addr_opts(p)->subaddr_sep,
		.report = core_report,
		.report_arg = (void *)"decision log",
	};
	cm_status st = CM_ENOMEM;

	if (h != NULL) {
		h->dir = strdup(o.dir);
		h->key_file = o.key_file != NULL ? strdup(o.key_file) : NULL;
		h->retention = o.retention_days;
		h->hash = o.hash_addresses;
		h->subaddr_sep = o.subaddr_sep;
		if (h->dir != NULL && (o.key_file == NULL || h->key_file != NULL))
			st = cm_declog_open(&o, &h->log);
	}
	if (st != CM_OK) {
		cm_log(LOG_ERR, "%scannot open the decision log %s: %s",
		    at_start ? "" : "reload: ", o.dir, cm_strerror((int)st));
		log_free(h);
		return NULL;
	}
	h->refs = 1;
	return h;
}

static void
log_close(struct log_h *h)
{
	cm_declog_stats s;

	cm_declog_stats_get(h->log, &s);
	cm_declog_close(h->log);
	if (s.dropped > 0 || s.lost > 0)
		cm_log(LOG_WARNING, "decision log %s: %llu records dropped "
		    "(queue full), %llu lost (write errors)", h->dir,
		    (unsigned long long)s.dropped, (unsigned long long)s.lost);
	log_free(h);
}

/* ------------------------------------------------------------- DSN queue */

static void
qopts_of(cm_outlet *o, const cm_policy *p)
{
	o->qopts = (cm_dsnq_opts){
		.spool = cm_policy_dsn_spool(p),
		.target = cm_policy_dsn_target(p),
		.helo = o->host,
		.attempts = cm_policy_dsn_attempts(p),
		.first_delay_ms = ms_of(cm_policy_dsn_retry_delay(p)),
		.max_delay_ms = ms_of(cm_policy_dsn_max_delay(p)),
		.timeout_ms = ms_of(cm_policy_dsn_timeout(p)),
		.report = core_report,
		.report_arg = (void *)"dsn",
	};
}

/* The open queue of SPOOL (same path, or same directory), or NULL.
 * Called with ou_mu held. */
static struct dsn_h *
queue_of(const char *spool)
{
	struct stat sb;
	bool have = stat(spool, &sb) == 0;

	for (struct dsn_h *h = ou_queues; h != NULL; h = h->next)
		if (strcmp(h->spool, spool) == 0 || (have &&
		    h->dev == sb.st_dev && h->ino == sb.st_ino))
			return h;
	return NULL;
}

static void
dsn_free(struct dsn_h *h)
{
	free(h->spool);
	free(h->target);
	free(h);
}

static struct dsn_h *
dsn_open(const cm_outlet *o, bool at_start)
{
	struct dsn_h *h = calloc(1, sizeof(*h));
	cm_status st = CM_ENOMEM;
	struct stat sb;

	if (h != NULL) {
		h->spool = strdup(o->qopts.spool);
		h->target = strdup(o->qopts.target);
		if (h->spool != NULL && h->target != NULL)
			st = cm_dsnq_open(&o->qopts, &h->q);
	}
	if (st != CM_OK) {
		cm_log(LOG_ERR, "%scannot open the DSN spool %s: %s",
		    at_start ? "" : "reload: ", o->qopts.spool,
		    cm_strerror((int)st));
		if (h != NULL)
			dsn_free(h);
		return NULL;
	}
	if (stat(h->spool, &sb) == 0) {
		h->dev = sb.st_dev;
		h->ino = sb.st_ino;
	}
	h->refs = 1;
	pthread_mutex_lock(&ou_mu);
	h->next = ou_queues;
	ou_queues = h;
	pthread_mutex_unlock(&ou_mu);
	return h;
}

/* H has no set any more: send what it holds (unless stopping or a new
 * queue takes its spool over), then close it. */
static void
dsn_drain_close(struct dsn_h *h)
{
	struct dsn_h **pp;
	cm_dsnq_stats s;
	bool idle = false;

	for (;;) {
		pthread_mutex_lock(&ou_mu);
		if (ou_stopping || h->handover) {
			pthread_mutex_unlock(&ou_mu);
			break;
		}
		pthread_mutex_unlock(&ou_mu);
		if ((idle = cm_dsnq_wait_idle(h->q, 200)))
			break;
	}
	cm_dsnq_stats_get(h->q, &s);
	cm_dsnq_close(h->q);
	if (idle)
		cm_log(LOG_INFO, "DSN queue of %s: every DSN sent; closed",
		    h->spool);
	else if (h->handover)
		cm_log(LOG_INFO, "DSN queue of %s: handed over to the new "
		    "queue of that spool", h->spool);
	else if (s.pending > 0)
		cm_log(LOG_NOTICE, "DSN queue of %s: stopped with %zu DSN%s "
		    "pending; %s kept in the spool", h->spool, s.pending,
		    s.pending == 1 ? "" : "s", s.pending == 1 ? "it is" :
		    "they are");
	pthread_mutex_lock(&ou_mu);
	for (pp = &ou_queues; *pp != NULL; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	pthread_cond_broadcast(&ou_cv);
	pthread_mutex_unlock(&ou_mu);
	dsn_free(h);
}

/* -------------------------------------------------------------- the sets */

static void
host_of(cm_outlet *o, const cm_policy *p)
{
	if (cm_policy_dsn_reporting_mta(p) != NULL)
		snprintf(o->host, sizeof(o->host), "%s",
		    cm_policy_dsn_reporting_mta(p));
	else if (gethostname(o->host, sizeof(o->host) - 1) != 0 || !*o->host)
		snprintf(o->host, sizeof(o->host), "localhost");
}

/* Drop O's holds; close what nobody holds any more.  O is freed. */
static void
set_release(cm_outlet *o)
{
	bool log_last = false, dsn_last = false;

	pthread_mutex_lock(&ou_mu);
	if (o->log != NULL)
		log_last = --o->log->refs == 0;
	if (o->dsn != NULL)
		dsn_last = --o->dsn->refs == 0;
	pthread_mutex_unlock(&ou_mu);
	if (log_last)
		log_close(o->log);
	if (dsn_last)
		dsn_drain_close(o->dsn);
	free(o->target);
	free(o);
}

static void *
drain_main(void *arg)
{
	struct drainer *d = arg;
	cm_outlet *o = d->o;

	pthread_mutex_lock(&ou_mu);
	while (o->refs > 0 && !ou_stopping)
		pthread_cond_wait(&ou_cv, &ou_mu);
	pthread_mutex_unlock(&ou_mu);
	set_release(o);
	atomic_store(&d->done, true);
	return NULL;
}

/* Join the drainers that finished (ALL: every one, at stop). */
static void
reap(bool all)
{
	struct drainer **pp = &ou_drainers, *d;

	while ((d = *pp) != NULL) {
		if (all || atomic_load(&d->done)) {
			*pp = d->next;
			(void)pthread_join(d->th, NULL);
			free(d);
		} else {
			pp = &d->next;
		}
	}
}

int
cm_outlet_prepare(const cm_policy *p, cm_outlet **out)
{
	cm_outlet *o = calloc(1, sizeof(*o)), *cur = ou_cur;
	bool at_start = cur == NULL;
	struct dsn_h *h;

	if (o == NULL) {
		cm_log(LOG_ERR, "out of memory");
		return -1;
	}
	o->refs = 1;
	host_of(o, p);
	if (cm_policy_log_path(p) != NULL) {
		if (cur != NULL && log_same(cur->log, p)) {
			pthread_mutex_lock(&ou_mu);
			o->log = cur->log;
			o->log->refs++;
			pthread_mutex_unlock(&ou_mu);
		} else if ((o->log = log_open(p, at_start)) == NULL) {
			goto fail;
		} else {
			o->own_log = true;
		}
	}
	if (!cm_policy_dsn_enabled(p)) {
		*out = o;
		return 0;
	}
	o->target = strdup(cm_policy_dsn_target(p));
	if (o->target == NULL)
		goto fail;
	qopts_of(o, p);
	o->qopts.target = o->target;
	pthread_mutex_lock(&ou_mu);
	h = queue_of(o->qopts.spool);
	if (h != NULL && h->refs > 0) {
		/* the queue of this spool lives on, with the new settings */
		h->refs++;
		o->dsn = h;
		o->reconf = true;
	} else if (h != NULL) {
		/* it is draining: it stops, this set's queue takes over */
		h->handover = true;
		pthread_cond_broadcast(&ou_cv);
		while (queue_of(o->qopts.spool) == h)
			pthread_cond_wait(&ou_cv, &ou_mu);
	}
	pthread_mutex_unlock(&ou_mu);
	if (o->dsn == NULL) {
		if ((o->dsn = dsn_open(o, at_start)) == NULL)
			goto fail;
		o->own_dsn = true;
	}
	*out = o;
	return 0;
fail:
	cm_outlet_discard(o);
	return -1;
}

void
cm_outlet_discard(cm_outlet *o)
{
	if (o == NULL)
		return;
	/* what prepare opened has one hold (O's) and saw no message: a
	 * queue it opened closes at once, its DSNs stay spooled */
	pthread_mutex_lock(&ou_mu);
	if (o->own_dsn)
		o->dsn->handover = true;
	pthread_mutex_unlock(&ou_mu);
	set_release(o);
}

static void
log_changes(const cm_outlet *old, const cm_outlet *o)
{
	if (o->own_log)
		cm_log(LOG_NOTICE, "reload: decision log %s: new writer, "
		    "hash_recipients=%s retention_days=%u%s", o->log->dir,
		    o->log->hash ? "true" : "false", o->log->retention,
		    old->log != NULL ? "; the previous one finishes the "
		    "messages under way" : "");
	else if (o->log == NULL && old->log != NULL)
		cm_log(LOG_NOTICE, "reload: decision log off");
	if (o->own_dsn)
		cm_log(LOG_NOTICE, "reload: DSN queue of %s: new, target %s%s",
		    o->dsn->spool, o->dsn->target, old->dsn != NULL ? "; the "
		    "previous queue sends what it holds, then closes" : "");
	else if (o->dsn == NULL && old->dsn != NULL)
		cm_log(LOG_NOTICE, "reload: DSNs off; the queue of %s sends "
		    "what it holds, then closes", old->dsn->spool);
}

void
cm_outlet_install(cm_outlet *o)
{
	cm_outlet *old;
	struct drainer *d;

	if (o->reconf) {
		char *was = o->dsn->target;
		bool moved = !str_eq(was, o->target);
		cm_status st = cm_dsnq_reconfigure(o->dsn->q, &o->qopts);

		if (st != CM_OK) {
			cm_log(LOG_ERR, "reload: the DSN queue of %s keeps its "
			    "settings (target %s): %s", o->dsn->spool, was,
			    cm_strerror((int)st));
		} else {
			if (moved)
				cm_log(LOG_NOTICE, "reload: DSN target %s (was "
				    "%s); the DSNs waiting in %s go there too",
				    o->target, was, o->dsn->spool);
			pthread_mutex_lock(&ou_mu);
			o->dsn->target = o->target;
			o->target = was;	/* freed with O */
			pthread_mutex_unlock(&ou_mu);
		}
	}
	pthread_mutex_lock(&ou_mu);
	old = ou_cur;
	ou_cur = o;
	pthread_mutex_unlock(&ou_mu);
	reap(false);
	if (old == NULL)
		return;
	log_changes(old, o);
	pthread_mutex_lock(&ou_mu);
	old->retired = true;
	old->refs--;		/* no longer current */
	pthread_mutex_unlock(&ou_mu);
	d = calloc(1, sizeof(*d));
	if (d != NULL) {
		d->o = old;
		if (pthread_create(&d->th, NULL, drain_main, d) == 0) {
			d->next = ou_drainers;
			ou_drainers = d;
			return;
		}
		free(d);
	}
	/* no thread: wait here (the reload thread) */
	{
		struct drainer self = { .o = old };

		(void)drain_main(&self);
	}
}

int
cm_outlet_start(const cm_policy *p)
{
	cm_outlet *o;

	if (cm_outlet_prepare(p, &o) != 0)
		return -1;
	cm_outlet_install(o);
	return 0;
}

cm_outlet *
cm_outlet_get(void)
{
	cm_outlet *o;

	pthread_mutex_lock(&ou_mu);
	o = ou_cur;
	if (o != NULL)
		o->refs++;
	pthread_mutex_unlock(&ou_mu);
	return o;
}

void
cm_outlet_put(cm_outlet *o)
{
	if (o == NULL)
		return;
	pthread_mutex_lock(&ou_mu);
	if (--o->refs == 0 && o->retired)
		pthread_cond_broadcast(&ou_cv);
	pthread_mutex_unlock(&ou_mu);
}

cm_declog *
cm_outlet_log(const cm_outlet *o)
{
	return o != NULL && o->log != NULL ? o->log->log : NULL;
}

cm_dsnq *
cm_outlet_dsnq(const cm_outlet *o)
{
	return o != NULL && o->dsn != NULL ? o->dsn->q : NULL;
}

const char *
cm_outlet_host(const cm_outlet *o)
{
	return o->host;
}

void
cm_outlet_stop(void)
{
	cm_outlet *cur;

	pthread_mutex_lock(&ou_mu);
	ou_stopping = true;
	cur = ou_cur;
	ou_cur = NULL;
	pthread_cond_broadcast(&ou_cv);
	pthread_mutex_unlock(&ou_mu);
	reap(true);
	if (cur != NULL)
		set_release(cur);
	pthread_mutex_lock(&ou_mu);
	ou_stopping = false;
	pthread_mutex_unlock(&ou_mu);
}
