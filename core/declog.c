/* declog.c - the decision log's writer: the bounded queue, the lines of
 * each record, the thread that appends and syncs them, retention
 * (declog.h).  Reading is declog_read.c; names, files and line parsing
 * declog_line.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "declog.h"
#include "declog_line.h"
#include "declog_scrub.h"
#include "json.h"
#include "timefmt.h"
#include "util.h"

#define US_PER_SEC INT64_C(1000000)
#define PRUNE_EVERY_US (INT64_C(3600) * US_PER_SEC)
#define RUN_MAX ((size_t)256 * 1024)	/* octets written (and synced) at once */

/* ---------------------------------------------------------------- writer */

/* Queued lines: one or more records of one day (one message's records). */
struct node {
	struct node *next;
	int64_t day;
	size_t len;		/* octets of line */
	size_t nrec;		/* records (lines) in line */
	char line[];
};

struct cm_declog {
	char *dir;
	unsigned retention_days;
	bool hash;
	char subaddr_sep;	/* "rcpt_base" of sub-addressed recipients */
	unsigned char key[CM_DECLOG_KEY_MAX];
	size_t key_len;
	size_t queue_max, batch_max;
	unsigned flush_ms;
	cm_report_fn *report;
	void *report_arg;

	pthread_mutex_t mu;
	pthread_cond_t work;	/* writer waits */
	pthread_cond_t done;	/* flushers wait */
	pthread_t thread;
	struct node *head, *tail;
	size_t count;
	uint64_t seq_added, seq_done;
	bool flush_req, stop;
	cm_declog_stats st;
	uint64_t dropped_reported;

	/* writer thread only */
	int fd;
	int64_t fd_day;
	char *buf;
	size_t buf_size;
	int64_t next_prune;	/* monotonic */
};

static void
report(cm_declog *log, cm_status st, int e, const char *what)
{
	pthread_mutex_lock(&log->mu);
	log->st.last_status = st;
	log->st.last_errno = e;
	pthread_mutex_unlock(&log->mu);
	if (log->report != NULL) {
		cm_report r = { .severity = CM_REPORT_ERROR, .status = st,
		    .errnum = e, .text = what };

		log->report(log->report_arg, &r);
	}
}


static void
prune(cm_declog *log)
{
	int64_t today = cm_declog_line_day(cm_time_now()), day;
	DIR *dir;
	struct dirent *de;
	uint64_t n = 0;

	if (log->retention_days == 0)
		return;
	dir = opendir(log->dir);
	if (dir == NULL) {
		report(log, cm_status_errno(errno), errno,
		    "cannot open the decision log directory for pruning");
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if ((day = cm_declog_line_name_day(de->d_name)) < 0)
			continue;
		if (day >= today - (int64_t)log->retention_days)
			continue;
		if (day == log->fd_day && log->fd >= 0) {
			close(log->fd);
			log->fd = -1;
			log->fd_day = -1;
		}
		if (unlinkat(dirfd(dir), de->d_name, 0) == 0)
			n++;
		else if (errno != ENOENT)
			report(log, cm_status_errno(errno), errno,
			    "cannot delete an expired decision log file");
	}
	closedir(dir);
	pthread_mutex_lock(&log->mu);
	log->st.pruned += n;
	pthread_mutex_unlock(&log->mu);
}

static int
open_day(cm_declog *log, int64_t day)
{
	char name[CM_DECLOG_LINE_NAME_LEN + 1];
	char *path;
	struct stat sb;

	if (log->fd >= 0 && log->fd_day == day) {
		/* Reopen if the file was removed behind our back. */
		if (fstat(log->fd, &sb) == 0 && sb.st_nlink > 0)
			return 0;
	}
	if (log->fd >= 0)
		close(log->fd);
	log->fd = -1;
	log->fd_day = -1;
	cm_declog_line_day_name(day, name, sizeof(name));
	if (asprintf(&path, "%s/%s", log->dir, name) < 0) {
		errno = ENOMEM;
		return -1;
	}
	log->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW | O_NOCTTY, 0640);
	free(path);
	if (log->fd < 0)
		return -1;
	log->fd_day = day;
	return 0;
}

/* Write LEN octets of log->buf for DAY and sync; 0 or -1 (errno). */
static int
write_run(cm_declog *log, int64_t day, size_t len)
{
	off_t before;
	int e, r = 0;

	/* under the file's lock, to a file not replaced by an erasure's
	 * rewrite meanwhile (declog_scrub.h) */
	for (int i = 0; i < 16 && r == 0; i++) {
		if (open_day(log, day) != 0)
			return -1;
		if ((r = cm_declog_scrub_lock(log->fd)) < 0)
			return -1;
	}
	if (r == 0) {
		errno = EAGAIN;
		return -1;
	}
	before = lseek(log->fd, 0, SEEK_END);
	if (before >= 0 && cm_write_all(log->fd, log->buf, len) == 0 &&
	    fdatasync(log->fd) == 0) {
		cm_declog_scrub_unlock(log->fd);
		return 0;
	}
	e = errno;
	if (before < 0) {
		cm_declog_scrub_unlock(log->fd);
		errno = e;
		return -1;
	}
	/* Never leave a partial line behind. */
	if (ftruncate(log->fd, before) != 0) {
		/* nothing more we can do */
	}
	cm_declog_scrub_unlock(log->fd);
	close(log->fd);
	log->fd = -1;
	log->fd_day = -1;
	errno = e;
	return -1;
}

static int
buf_reserve(cm_declog *log, size_t need)
{
	size_t sz;
	char *nb;

	if (need <= log->buf_size)
		return 0;
	sz = log->buf_size ? log->buf_size : 65536;
	while (sz < need)
		sz *= 2;
	nb = realloc(log->buf, sz);
	if (nb == NULL)
		return -1;
	log->buf = nb;
	log->buf_size = sz;
	return 0;
}

/* Write and free the list LIST; returns records written and lost. */
static void
write_batch(cm_declog *log, struct node *list)
{
	uint64_t written = 0, lost = 0, batches = 0;

	while (list != NULL) {
		int64_t day = list->day;
		size_t len = 0, n = 0;
		struct node *p = list;

		/* one run: consecutive records of one day */
		for (; p != NULL && p->day == day; p = p->next) {
			/* runs of at most RUN_MAX octets: a backlog is
			 * written in several, not gathered into one buffer
			 * as large as the queue */
			if (len > 0 && len + p->len > RUN_MAX)
				break;
			if (buf_reserve(log, len + p->len) != 0)
				break;
			memcpy(log->buf + len, p->line, p->len);
			len += p->len;
			n += p->nrec;
		}
		if (p == list) {	/* out of memory for even one node */
			p = list->next;
			lost += list->nrec;
			free(list);
			list = p;
			report(log, CM_ENOMEM, ENOMEM,
			    "out of memory writing the decision log");
			continue;
		}
		if (write_run(log, day, len) == 0) {
			written += n;
			batches++;
		} else {
			int e = errno;

			lost += n;
			report(log, cm_status_errno(e), e,
			    "cannot write the decision log");
		}
		while (list != p) {
			struct node *next = list->next;

			free(list);
			list = next;
		}
	}
	pthread_mutex_lock(&log->mu);
	log->st.written += written;
	log->st.lost += lost;
	log->st.batches += batches;
	pthread_mutex_unlock(&log->mu);
}

static void *
writer_main(void *arg)
{
	cm_declog *log = arg;

	for (;;) {
		struct node *list;
		uint64_t target, dropped = 0;
		bool stop;
		struct timespec ts;

		pthread_mutex_lock(&log->mu);
		if (log->count == 0 && !log->flush_req && !log->stop) {
			int64_t wait = log->next_prune - cm_time_mono_us();

			if (log->retention_days == 0 || wait > PRUNE_EVERY_US)
				wait = PRUNE_EVERY_US;
			if (wait > 0) {
				cm_deadline_in(CLOCK_MONOTONIC, wait, &ts);
				(void)pthread_cond_timedwait(&log->work, &log->mu,
				    &ts);
			}
		}
		if (log->count > 0 && log->count < log->batch_max &&
		    !log->flush_req && !log->stop) {
			cm_deadline_in(CLOCK_MONOTONIC,
			    (int64_t)log->flush_ms * 1000, &ts);
			while (log->count < log->batch_max && !log->flush_req &&
			    !log->stop)
				if (pthread_cond_timedwait(&log->work, &log->mu,
				    &ts) == ETIMEDOUT)
					break;
		}
		list = log->head;
		log->head = log->tail = NULL;
		log->count = 0;
		log->flush_req = false;
		target = log->seq_added;
		stop = log->stop;
		if (log->st.dropped > log->dropped_reported) {
			dropped = log->st.dropped - log->dropped_reported;
			log->dropped_reported = log->st.dropped;
		}
		pthread_mutex_unlock(&log->mu);

		if (dropped > 0) {
			char what[96];

			snprintf(what, sizeof(what), "decision log queue full: "
			    "%llu records dropped", (unsigned long long)dropped);
			report(log, CM_ENOMEM, 0, what);
		}
		write_batch(log, list);

		pthread_mutex_lock(&log->mu);
		log->seq_done = target;
		pthread_cond_broadcast(&log->done);
		pthread_mutex_unlock(&log->mu);

		if (log->retention_days > 0 && cm_time_mono_us() >= log->next_prune) {
			prune(log);
			log->next_prune = cm_time_mono_us() + PRUNE_EVERY_US;
		}
		if (stop) {
			pthread_mutex_lock(&log->mu);
			bool empty = log->head == NULL;
			pthread_mutex_unlock(&log->mu);
			if (empty)
				break;
		}
	}
	return NULL;
}

cm_status
cm_declog_open(const cm_declog_opts *opts, cm_declog **out)
{
	cm_declog *log;
	struct stat sb;
	cm_status st;

	if (opts == NULL || out == NULL || opts->dir == NULL ||
	    *opts->dir == '\0' ||
	    (opts->hash_addresses && (opts->key_file == NULL ||
	    *opts->key_file == '\0')))
		return CM_EINVAL;
	if (mkdir(opts->dir, 0750) != 0 && errno != EEXIST)
		return cm_status_errno(errno);
	if (stat(opts->dir, &sb) != 0)
		return cm_status_errno(errno);
	if (!S_ISDIR(sb.st_mode))
		return CM_EINVAL;
	if (access(opts->dir, W_OK | X_OK) != 0)
		return cm_status_errno(errno);

	log = calloc(1, sizeof(*log));
	if (log == NULL)
		return CM_ENOMEM;
	log->fd = -1;
	log->fd_day = -1;
	log->retention_days = opts->retention_days;
	log->hash = opts->hash_addresses;
	log->subaddr_sep = opts->subaddr_sep;
	log->queue_max = opts->queue_max ? opts->queue_max : 65536;
	log->batch_max = opts->batch_max ? opts->batch_max : 1000;
	log->flush_ms = opts->flush_ms ? opts->flush_ms : 100;
	log->report = opts->report;
	log->report_arg = opts->report_arg;
	log->dir = strdup(opts->dir);
	if (log->dir == NULL) {
		free(log);
		return CM_ENOMEM;
	}
	if (log->hash) {
		st = cm_declog_key_load(opts->key_file, true, log->key,
		    sizeof(log->key), &log->key_len);
		if (st != CM_OK) {
			free(log->dir);
			free(log);
			return st;
		}
	}
	if (pthread_mutex_init(&log->mu, NULL) != 0) {
		free(log->dir);
		free(log);
		return CM_ENOMEM;
	}
	if (cm_cond_init_mono(&log->work) != 0) {
		pthread_mutex_destroy(&log->mu);
		free(log->dir);
		free(log);
		return CM_ENOMEM;
	}
	if (pthread_cond_init(&log->done, NULL) != 0) {
		pthread_cond_destroy(&log->work);
		pthread_mutex_destroy(&log->mu);
		free(log->dir);
		free(log);
		return CM_ENOMEM;
	}
	prune(log);
	log->next_prune = cm_time_mono_us() + PRUNE_EVERY_US;
	if (pthread_create(&log->thread, NULL, writer_main, log) != 0) {
		pthread_cond_destroy(&log->done);
		pthread_cond_destroy(&log->work);
		pthread_mutex_destroy(&log->mu);
		free(log->dir);
		free(log);
		return CM_ENOMEM;
	}
	*out = log;
	return CM_OK;
}

#define TIME_MAX 32	/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" and NUL */
#define LAST_US (INT64_C(253402300799) * US_PER_SEC)	/* 9999-12-31T23:59:59Z */


/* Room for S as a JSON string (or null), as cm_json_quote needs it (with
 * its NUL) for at most CM_DECLOG_FIELD_MAX octets of S. */
static size_t
json_room(const char *s)
{
	return s == NULL ? 5 :
	    CM_JSON_QUOTE_ROOM(strnlen(s, CM_DECLOG_FIELD_MAX));
}

/* S as a JSON string or null at O (ROOM from json_room); returns the end. */
static char *
put_json(char *o, const char *s, size_t room)
{
	if (s == NULL) {
		memcpy(o, "null", 4);
		return o + 4;
	}
	return o + cm_json_quote(s, strnlen(s, CM_DECLOG_FIELD_MAX), o, room);
}

static char *
put_lit(char *o, const char *s, size_t n)
{
	memcpy(o, s, n);
	return o + n;
}
#define PUT_LIT(o, lit) put_lit((o), (lit), sizeof(lit) - 1)

static int64_t
item_time(const cm_declog_item *it, int64_t *now)
{
	if (it->time_us != 0)
		return it->time_us;
	if (*now == 0)
		*now = cm_time_now();
	return *now;
}

/* The shared fields (",\"queue_id\":...,\"campaign\":...") into a buffer
 * of CAP octets. */
static size_t
put_shared(char *buf, const char *const vals[5], const size_t rooms[5])
{
	static const struct {
		const char *s;
		size_t n;
	} names[5] = {
		{ ",\"queue_id\":", 12 }, { ",\"message_id\":", 14 },
		{ ",\"sender\":", 10 }, { ",\"type\":", 8 },
		{ ",\"campaign\":", 12 },
	};
	char *o = buf;

	for (int i = 0; i < 5; i++) {
		o = put_lit(o, names[i].s, names[i].n);
		o = put_json(o, vals[i], rooms[i]);
	}
	return (size_t)(o - buf);
}

static void
free_nodes(struct node *n)
{
	while (n != NULL) {
		struct node *next = n->next;

		free(n);
		n = next;
	}
}

/*
 * The lines of ITEMS[0..N) (one day, times in T), with the shared part
 * SHARED (SLEN octets), in one node; NULL if out of memory or a hash
 * fails.
 */
static struct node *
make_node(cm_declog *log, const char *shared, size_t slen,
    const cm_declog_item *items, const int64_t *t, size_t n)
{
	struct node *nd;
	size_t cap = 0, i;
	char *o;

	for (i = 0; i < n; i++) {
		const cm_declog_item *it = &items[i];

		cap += 9 + TIME_MAX + 1 + slen + 8 + 11 + 10 + 11 + 16 + 3 +
		    (log->hash && it->rcpt != NULL ? 2 * CM_DECLOG_HASH_BUFSZ +
		    18 : json_room(it->rcpt)) + json_room(it->verdict) +
		    json_room(it->reason);
	}
	nd = malloc(sizeof(*nd) + cap);
	if (nd == NULL)
		return NULL;
	o = nd->line;
	for (i = 0; i < n; i++) {
		const cm_declog_item *it = &items[i];
		const char *rcpt = it->rcpt, *an = cm_declog_action_name(it->action);
		char hash[CM_DECLOG_HASH_BUFSZ], bhash[CM_DECLOG_HASH_BUFSZ];
		char base[CM_DECLOG_FIELD_MAX + 1];
		size_t blen = 0;

		bhash[0] = '\0';
		if (log->hash && rcpt != NULL) {
			blen = cm_declog_scrub_base(rcpt, log->subaddr_sep,
			    base, sizeof(base));
			if (cm_declog_hash(log->key, log->key_len, rcpt,
			    strlen(rcpt), hash) != CM_OK || (blen > 0 &&
			    cm_declog_hash(log->key, log->key_len, base, blen,
			    bhash) != CM_OK)) {
				free(nd);
				return NULL;
			}
			rcpt = hash;
		}
		o = PUT_LIT(o, "{\"time\":\"");
		o += cm_time_put(t[i], o);
		*o++ = '"';
		o = put_lit(o, shared, slen);
		o = PUT_LIT(o, ",\"rcpt\":");
		o = put_json(o, rcpt, log->hash && it->rcpt != NULL ?
		    CM_DECLOG_HASH_BUFSZ + 2 : json_room(rcpt));
		if (bhash[0] != '\0') {
			o = PUT_LIT(o, ",\"rcpt_base\":");
			o = put_json(o, bhash, CM_DECLOG_HASH_BUFSZ + 2);
		}
		o = PUT_LIT(o, ",\"verdict\":");
		o = put_json(o, it->verdict, json_room(it->verdict));
		o = PUT_LIT(o, ",\"reason\":");
		o = put_json(o, it->reason, json_room(it->reason));
		o = PUT_LIT(o, ",\"action\":\"");
		o = put_lit(o, an, strlen(an));
		o = PUT_LIT(o, "\"}\n");
	}
	nd->next = NULL;
	nd->day = cm_declog_line_day(t[0]);
	nd->len = (size_t)(o - nd->line);
	nd->nrec = n;
	return nd;
}

cm_status
cm_declog_add_many(cm_declog *log, const cm_declog_rec *base,
    const cm_declog_item *items, size_t n)
{
	const char *vals[5];
	size_t rooms[5], scap = 0, slen, i, j, before;
	char sbuf[2048], *shared = sbuf;
	char shash[CM_DECLOG_HASH_BUFSZ];
	int64_t now = 0, tbuf[64], *t = tbuf;
	struct node *first = NULL, **tailp = &first, *nd, *next;
	cm_status st = CM_OK;

	if (log == NULL || base == NULL || (items == NULL && n > 0))
		return CM_EINVAL;
	for (i = 0; i < n; i++) {
		int64_t ti = item_time(&items[i], &now);

		if ((int)items[i].action < CM_DECLOG_REFUSED ||
		    items[i].action > CM_DECLOG_TEMPFAILED || ti < 0 ||
		    ti > LAST_US)
			return CM_EINVAL;	/* 1970..9999 */
	}
	if (n == 0)
		return CM_OK;

	vals[0] = base->queue_id;
	vals[1] = base->message_id;
	vals[2] = base->sender;
	vals[3] = base->type;
	vals[4] = base->campaign;
	if (log->hash && base->sender != NULL) {
		if (cm_declog_hash(log->key, log->key_len, base->sender,
		    strlen(base->sender), shash) != CM_OK)
			goto nomem;
		vals[2] = shash;
	}
	for (i = 0; i < 5; i++) {
		rooms[i] = json_room(vals[i]);
		scap += 16 + rooms[i];
	}
	if (scap > sizeof(sbuf) && (shared = malloc(scap)) == NULL)
		goto nomem;
	slen = put_shared(shared, vals, rooms);
	if (n > sizeof(tbuf) / sizeof(tbuf[0]) &&
	    (t = malloc(n * sizeof(*t))) == NULL)
		goto nomem;
	for (i = 0; i < n; i++)
		t[i] = item_time(&items[i], &now);

	/* one node per run of records of one day: usually all of them */
	for (i = 0; i < n; i = j) {
		int64_t day = cm_declog_line_day(t[i]);

		for (j = i + 1; j < n && cm_declog_line_day(t[j]) == day; j++)
			;
		nd = make_node(log, shared, slen, items + i, t + i, j - i);
		if (nd == NULL)
			goto nomem;
		*tailp = nd;
		tailp = &nd->next;
	}
	if (shared != sbuf)
		free(shared);
	if (t != tbuf)
		free(t);

	pthread_mutex_lock(&log->mu);
	before = log->count;
	for (nd = first; nd != NULL; nd = next) {
		next = nd->next;
		nd->next = NULL;
		if (log->stop || log->count + nd->nrec > log->queue_max) {
			log->st.dropped += nd->nrec;
			free(nd);
			st = CM_ENOMEM;
			continue;
		}
		if (log->tail != NULL)
			log->tail->next = nd;
		else
			log->head = nd;
		log->tail = nd;
		log->count += nd->nrec;
		log->seq_added += nd->nrec;
		log->st.added += nd->nrec;
	}
	/* Wake the writer when work appears, and when a batch is full. */
	if (log->count > 0 && (before == 0 ||
	    (before < log->batch_max && log->count >= log->batch_max)))
		pthread_cond_signal(&log->work);
	pthread_mutex_unlock(&log->mu);
	return st;

nomem:
	free_nodes(first);
	if (shared != sbuf)
		free(shared);
	if (t != tbuf)
		free(t);
	pthread_mutex_lock(&log->mu);
	log->st.dropped += n;
	pthread_mutex_unlock(&log->mu);
	return CM_ENOMEM;
}

cm_status
cm_declog_add(cm_declog *log, const cm_declog_rec *rec)
{
	cm_declog_item it;

	if (log == NULL || rec == NULL)
		return CM_EINVAL;
	it.time_us = rec->time_us;
	it.rcpt = rec->rcpt;
	it.verdict = rec->verdict;
	it.reason = rec->reason;
	it.action = rec->action;
	return cm_declog_add_many(log, rec, &it, 1);
}

cm_status
cm_declog_flush(cm_declog *log)
{
	uint64_t target, lost0;
	cm_status st = CM_OK;

	if (log == NULL)
		return CM_EINVAL;
	pthread_mutex_lock(&log->mu);
	target = log->seq_added;
	lost0 = log->st.lost;
	log->flush_req = true;
	pthread_cond_signal(&log->work);
	while (log->seq_done < target)
		pthread_cond_wait(&log->done, &log->mu);
	if (log->st.lost != lost0)
		st = log->st.last_status != CM_OK ? log->st.last_status : CM_EIO;
	pthread_mutex_unlock(&log->mu);
	return st;
}

void
cm_declog_stats_get(cm_declog *log, cm_declog_stats *out)
{
	pthread_mutex_lock(&log->mu);
	*out = log->st;
	pthread_mutex_unlock(&log->mu);
}

void
cm_declog_close(cm_declog *log)
{
	if (log == NULL)
		return;
	pthread_mutex_lock(&log->mu);
	log->stop = true;
	pthread_cond_signal(&log->work);
	pthread_mutex_unlock(&log->mu);
	pthread_join(log->thread, NULL);
	if (log->fd >= 0)
		close(log->fd);
	pthread_cond_destroy(&log->done);
	pthread_cond_destroy(&log->work);
	pthread_mutex_destroy(&log->mu);
	explicit_bzero(log->key, sizeof(log->key));
	free(log->buf);
	free(log->dir);
	free(log);
}