/* dsnq.c - the DSN queue: its thread, delivery attempts and retries
 * (dsnq.h).  The SMTP client is smtp.c, the spool's files dsnq_spool.c. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dsnq.h"
#include "dsnq_spool.h"
#include "duration.h"
#include "smtp.h"
#include "timefmt.h"
#include "util.h"

static_assert(CM_DSNQ_ERR_MAX == CM_SMTP_ERR_MAX, "error buffer sizes");

static int64_t
mono_ms(void)
{
	return cm_time_mono_us() / 1000;
}

cm_status
cm_dsnq_target_check(const char *target)
{
	return cm_smtp_target_check(target);
}

int
cm_dsnq_smtp_send(const char *target, const char *helo, unsigned timeout_ms,
    const char *rcpt, const char *msg, size_t len, bool smtputf8, char *err)
{
	return cm_smtp_send(target, helo, timeout_ms, rcpt, msg, len, smtputf8,
	    err);
}

/* ---------------------------------------------------------------- queue */

struct item {
	struct item *next;
	char id[CM_DSNQ_ID_MAX];
	unsigned attempts;
	int64_t next_ms;	/* monotonic */
};

struct cm_dsnq {
	char *spool, *target, *helo;
	unsigned attempts, first_delay_ms, max_delay_ms, timeout_ms;
	cm_report_fn *report;
	void *report_arg;

	pthread_mutex_t mu;
	pthread_cond_t cv;	/* work / stop */
	pthread_cond_t idle;
	pthread_t thread;
	struct item *items;
	bool stop, busy;
	cm_dsnq_stats st;
	unsigned seq;
	unsigned gen;		/* +1 per cm_dsnq_reconfigure */
};

static void
qlog(cm_dsnq *q, cm_report_severity sev, cm_status st, const char *id,
    const char *text)
{
	if (q->report != NULL) {
		cm_report r = { .severity = sev, .status = st, .subject = id,
		    .text = text };

		q->report(q->report_arg, &r);
	}
}

static void
new_id(cm_dsnq *q, char *id)
{
	int64_t us = cm_time_now();
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	unsigned char r[4] = { 0 };
	unsigned seq;
	char buf[160];

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		memcpy(r, &us, sizeof(r));
	pthread_mutex_lock(&q->mu);
	seq = q->seq++;
	pthread_mutex_unlock(&q->mu);
	gmtime_r(&t, &tm);
	snprintf(buf, sizeof(buf), "%04d%02d%02dT%02d%02d%02d.%06ld-%02x%02x"
	    "%02x%02x-%u", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(us % 1000000), r[0], r[1],
	    r[2], r[3], seq % 10000);
	snprintf(id, CM_DSNQ_ID_MAX, "%.*s", CM_DSNQ_ID_MAX - 1, buf);
}

static void
add_item(cm_dsnq *q, const char *id)
{
	struct item *it = calloc(1, sizeof(*it)), **pp;

	if (it == NULL)
		return;	/* stays spooled; picked up at the next start */
	snprintf(it->id, sizeof(it->id), "%s", id);
	it->next_ms = mono_ms();
	for (pp = &q->items; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = it;
	q->st.pending++;
	pthread_cond_signal(&q->cv);
}

static int64_t
backoff_ms(const cm_dsnq *q, unsigned attempts)
{
	int64_t d = q->first_delay_ms;

	for (unsigned i = 1; i < attempts && d < q->max_delay_ms; i++)
		d *= 2;
	return d > q->max_delay_ms ? q->max_delay_ms : d;
}

static void
try_one(cm_dsnq *q, struct item *it)
{
	char err[CM_DSNQ_ERR_MAX] = "", text[CM_DSNQ_ERR_MAX + 96];
	char *path = cm_dsnq_spool_path(q->spool, it->id, CM_DSNQ_SUF_PENDING);
	char *target, *helo;
	unsigned timeout_ms, gen;
	bool give_up;
	cm_dsnq_spooled s;
	cm_status st;
	int rc;

	if (path == NULL) {
		it->next_ms = mono_ms() + 1000;
		return;
	}
	st = cm_dsnq_spool_read(path, &s);
	if (st != CM_OK) {
		free(path);
		pthread_mutex_lock(&q->mu);
		it->next_ms = -1;	/* drop from the queue */
		pthread_mutex_unlock(&q->mu);
		snprintf(text, sizeof(text), "spool file unreadable: %s",
		    cm_strerror(st));
		qlog(q, CM_REPORT_ERROR, st, it->id, text);
		return;
	}
	/* the settings may change (cm_dsnq_reconfigure): copy them */
	pthread_mutex_lock(&q->mu);
	target = strdup(q->target);
	helo = strdup(q->helo);
	timeout_ms = q->timeout_ms;
	gen = q->gen;
	pthread_mutex_unlock(&q->mu);
	if (target == NULL || helo == NULL) {
		free(target);
		free(helo);
		free(s.data);
		free(path);
		it->next_ms = mono_ms() + 1000;
		return;
	}
	rc = cm_smtp_send(target, helo, timeout_ms, s.rcpt,
	    s.msg, s.len, s.smtputf8, err);
	free(s.data);
	free(helo);
	pthread_mutex_lock(&q->mu);
	if (rc != 0 && gen != q->gen) {
		/* reconfigured meanwhile: try the new target at once */
		it->next_ms = mono_ms();
		pthread_mutex_unlock(&q->mu);
		free(target);
		free(path);
		return;
	}
	it->attempts++;
	give_up = rc == 5 || it->attempts >= q->attempts;
	pthread_mutex_unlock(&q->mu);
	if (rc == 0) {
		unlink(path);
		cm_fsync_dir(q->spool);
		snprintf(text, sizeof(text), "delivered to %s: %s", target,
		    err);
		qlog(q, CM_REPORT_INFO, CM_OK, it->id, text);
		pthread_mutex_lock(&q->mu);
		q->st.delivered++;
		it->attempts = 0;
		it->next_ms = -1;	/* done */
		pthread_mutex_unlock(&q->mu);
	} else if (give_up) {
		(void)cm_dsnq_spool_mark_failed(q->spool, it->id, err);
		snprintf(text, sizeof(text), "given up after %u attempt%s, kept "
		    "in the spool: %s", it->attempts, it->attempts == 1 ? "" : "s",
		    err);
		qlog(q, CM_REPORT_ERROR, CM_EIO, it->id, text);
		pthread_mutex_lock(&q->mu);
		q->st.failed++;
		it->next_ms = -1;
		pthread_mutex_unlock(&q->mu);
	} else {
		char db[CM_DURATION_BUFSZ];
		int64_t d;

		pthread_mutex_lock(&q->mu);
		d = backoff_ms(q, it->attempts);
		q->st.retried++;
		it->next_ms = mono_ms() + d;
		pthread_mutex_unlock(&q->mu);
		/* for consentctl dsn list; the queue keeps its own count */
		(void)cm_dsnq_spool_note_attempt(q->spool, it->id, err,
		    cm_time_now() + d * 1000);
		snprintf(text, sizeof(text), "attempt %u failed, retry in %s: "
		    "%s", it->attempts, cm_duration_format_ms((uint64_t)d, db),
		    err);
		qlog(q, CM_REPORT_WARNING, CM_EIO, it->id, text);
	}
	free(target);
	free(path);
}

static void *
queue_main(void *arg)
{
	cm_dsnq *q = arg;

	pthread_mutex_lock(&q->mu);
	while (!q->stop) {
		struct item *it, *due = NULL, **pp;
		int64_t now = mono_ms(), next = INT64_MAX;

		/* remove finished ones */
		for (pp = &q->items; (it = *pp) != NULL;) {
			if (it->next_ms < 0 || it->attempts >= q->attempts) {
				*pp = it->next;
				free(it);
				q->st.pending--;
				continue;
			}
			if (it->next_ms <= now && due == NULL)
				due = it;
			if (it->next_ms < next)
				next = it->next_ms;
			pp = &it->next;
		}
		if (q->items == NULL)
			pthread_cond_broadcast(&q->idle);
		if (due == NULL) {
			struct timespec ts;

			if (next == INT64_MAX) {
				pthread_cond_wait(&q->cv, &q->mu);
			} else {
				cm_deadline_in(CLOCK_MONOTONIC,
				    (next - now) * 1000, &ts);
				(void)pthread_cond_timedwait(&q->cv, &q->mu, &ts);
			}
			continue;
		}
		q->busy = true;
		pthread_mutex_unlock(&q->mu);
		try_one(q, due);
		pthread_mutex_lock(&q->mu);
		q->busy = false;
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* Free Q and everything it owns; its thread is not running. */
static void
queue_free(cm_dsnq *q)
{
	struct item *it;

	while ((it = q->items) != NULL) {
		q->items = it->next;
		free(it);
	}
	pthread_cond_destroy(&q->cv);
	pthread_cond_destroy(&q->idle);
	pthread_mutex_destroy(&q->mu);
	free(q->spool);
	free(q->target);
	free(q->helo);
	free(q);
}

/* Q's attempts, delays and timeout from O, 0 meaning the default (at
 * open and at a reconfiguration alike). */
static void
set_timing(struct cm_dsnq *q, const cm_dsnq_opts *o)
{
	q->attempts = o->attempts ? o->attempts : 8;
	q->first_delay_ms = o->first_delay_ms ? o->first_delay_ms : 10000;
	q->max_delay_ms = o->max_delay_ms ? o->max_delay_ms : 3600000;
	if (q->max_delay_ms < q->first_delay_ms)
		q->max_delay_ms = q->first_delay_ms;
	q->timeout_ms = o->timeout_ms ? o->timeout_ms : 30000;
}

cm_status
cm_dsnq_open(const cm_dsnq_opts *o, cm_dsnq **out)
{
	cm_dsnq *q;
	char **names = NULL;
	size_t n = 0;
	cm_status st;

	if (o == NULL || out == NULL || o->spool == NULL || *o->spool == '\0' ||
	    cm_dsnq_target_check(o->target) != CM_OK)
		return CM_EINVAL;
	if (mkdir(o->spool, 0700) != 0 && errno != EEXIST)
		return cm_status_errno(errno);
	if (access(o->spool, W_OK | X_OK) != 0)
		return cm_status_errno(errno);
	st = cm_dsnq_spool_names(o->spool, &names, &n);
	if (st != CM_OK)
		return st;
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		st = CM_ENOMEM;
		goto out;
	}
	q->spool = strdup(o->spool);
	q->target = strdup(o->target);
	q->helo = strdup(o->helo && *o->helo ? o->helo : "localhost");
	set_timing(q, o);
	q->report = o->report;
	q->report_arg = o->report_arg;
	if (q->spool == NULL || q->target == NULL || q->helo == NULL ||
	    pthread_mutex_init(&q->mu, NULL) != 0) {
		free(q->spool);
		free(q->target);
		free(q->helo);
		free(q);
		st = CM_ENOMEM;
		goto out;
	}
	(void)cm_cond_init_mono(&q->cv);
	pthread_cond_init(&q->idle, NULL);
	/* pending DSNs of an earlier run */
	for (size_t i = 0; i < n; i++) {
		char id[CM_DSNQ_ID_MAX];
		bool failed;

		if (cm_dsnq_spool_id_of(names[i], id, &failed) == 0 && !failed)
			add_item(q, id);
	}
	if (pthread_create(&q->thread, NULL, queue_main, q) != 0) {
		queue_free(q);
		st = CM_ENOMEM;
		goto out;
	}
	*out = q;
	st = CM_OK;
out:
	cm_dsnq_spool_names_free(names, n);
	return st;
}

cm_status
cm_dsnq_reconfigure(cm_dsnq *q, const cm_dsnq_opts *o)
{
	char *target, *helo;
	struct item *it;
	bool moved;

	if (q == NULL || o == NULL ||
	    cm_dsnq_target_check(o->target) != CM_OK)
		return CM_EINVAL;
	target = strdup(o->target);
	helo = strdup(o->helo && *o->helo ? o->helo : "localhost");
	if (target == NULL || helo == NULL) {
		free(target);
		free(helo);
		return CM_ENOMEM;
	}
	pthread_mutex_lock(&q->mu);
	moved = strcmp(q->target, target) != 0;
	free(q->target);
	free(q->helo);
	q->target = target;
	q->helo = helo;
	set_timing(q, o);
	if (moved) {
		/* what waited for the old target goes to the new one now,
		 * with all its attempts */
		q->gen++;
		for (it = q->items; it != NULL; it = it->next) {
			if (it->next_ms < 0)
				continue;
			it->attempts = 0;
			it->next_ms = mono_ms();
		}
		pthread_cond_signal(&q->cv);
	} else {
		/* fewer attempts: one more try each, then give up as usual */
		for (it = q->items; it != NULL; it = it->next)
			if (it->next_ms >= 0 && it->attempts >= q->attempts)
				it->attempts = q->attempts - 1;
	}
	pthread_mutex_unlock(&q->mu);
	return CM_OK;
}

cm_status
cm_dsnq_submit(cm_dsnq *q, const char *rcpt, const char *msg, size_t len,
    bool smtputf8, char *id_out)
{
	char id[CM_DSNQ_ID_MAX], addr[1024];
	cm_status st;

	if (q == NULL || rcpt == NULL || msg == NULL ||
	    cm_smtp_clean_rcpt(rcpt, addr, sizeof(addr)) != 0)
		return CM_EINVAL;
	new_id(q, id);
	st = cm_dsnq_spool_write(q->spool, id, CM_DSNQ_SUF_PENDING, addr,
	    smtputf8, cm_time_now(), NULL, msg, len);
	if (st != CM_OK)
		return st;
	pthread_mutex_lock(&q->mu);
	q->st.submitted++;
	add_item(q, id);
	pthread_mutex_unlock(&q->mu);
	if (id_out != NULL)
		snprintf(id_out, CM_DSNQ_ID_MAX, "%s", id);
	return CM_OK;
}

void
cm_dsnq_stats_get(cm_dsnq *q, cm_dsnq_stats *out)
{
	pthread_mutex_lock(&q->mu);
	*out = q->st;
	pthread_mutex_unlock(&q->mu);
}

bool
cm_dsnq_wait_idle(cm_dsnq *q, unsigned timeout_ms)
{
	struct timespec ts;
	bool idle;

	cm_deadline_in(CLOCK_REALTIME, (int64_t)timeout_ms * 1000, &ts);
	pthread_mutex_lock(&q->mu);
	while (q->st.pending > 0 || q->busy)
		if (pthread_cond_timedwait(&q->idle, &q->mu, &ts) != 0)
			break;
	idle = q->st.pending == 0 && !q->busy;
	pthread_mutex_unlock(&q->mu);
	return idle;
}

void
cm_dsnq_close(cm_dsnq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	queue_free(q);
}
