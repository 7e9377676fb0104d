/*
 * db.c - the process-wide read-only consent index handle, reopened when
 * data.mdb is replaced (see db.h).
 */
#include "db.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"

#define WATCH_INTERVAL_MS 1000

static pthread_rwlock_t db_lock;	/* read: a lookup; write: a switch */
static cm_index *db_idx;		/* under db_lock */
static char *db_dir;
static size_t db_map_size;
static unsigned db_max_readers;

static pthread_t watch_tid;
static bool watching;
static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watch_cv;
static bool watch_stop;			/* under watch_mu */
static cm_status last_fail = CM_OK;	/* watcher thread only */
static cm_status last_check = CM_OK;	/* watcher thread only */

static cm_status
open_ro(cm_index **out)
{
	cm_index_opts o;

	memset(&o, 0, sizeof(o));
	o.map_size = db_map_size;
	o.max_readers = db_max_readers;
	o.readonly = true;
	return cm_index_open(db_dir, &o, out);
}

/* Does DIR/data.mdb exist? */
static bool
data_exists(void)
{
	char path[4096];
	struct stat sb;

	if ((size_t)snprintf(path, sizeof(path), "%s/data.mdb", db_dir) >=
	    sizeof(path))
		return false;
	return stat(path, &sb) == 0;
}

/*
 * One check of the watcher.  With a handle: is it still the file the
 * path names?  If not, close it and, when there is a new file, open
 * that, all under the write side of db_lock.  Without a handle: open the
 * file once there is one.  Logs each change of state once.
 */
static void
check_once(void)
{
	cm_index *idx, *nidx = NULL;
	cm_status st, ost = CM_NOTFOUND;
	bool replaced;

	pthread_rwlock_rdlock(&db_lock);
	idx = db_idx;
	st = idx != NULL ? cm_index_check_file(idx) : CM_NOTFOUND;
	pthread_rwlock_unlock(&db_lock);
	if (idx != NULL && st != CM_OK && st != CM_ESTALE &&
	    st != CM_NOTFOUND && last_check != st) {
		/* a check that cannot look (e.g. the directory's permissions
		 * changed): the handle stays; said once */
		cm_log(LOG_WARNING, "index %s: cannot check whether data.mdb "
		    "was replaced: %s", db_dir, cm_strerror((int)st));
	}
	if (idx != NULL)
		last_check = st;
	if (idx != NULL && st != CM_ESTALE && st != CM_NOTFOUND)
		return;		/* the same file (or the check failed) */
	replaced = idx != NULL && st == CM_ESTALE;
	if (idx == NULL && !data_exists()) {
		if (last_fail != CM_NOTFOUND) {
			cm_log(LOG_ERR, "index %s/data.mdb missing, deferring "
			    "newsletters", db_dir);
			last_fail = CM_NOTFOUND;
		}
		return;
	}

	pthread_rwlock_wrlock(&db_lock);
	if (db_idx != NULL)
		cm_index_close(db_idx);	/* no lookup holds it now */
	db_idx = NULL;
	if (st != CM_NOTFOUND || idx == NULL) {
		ost = open_ro(&nidx);
		db_idx = ost == CM_OK ? nidx : NULL;
	}
	pthread_rwlock_unlock(&db_lock);

	if (ost == CM_OK) {
		cm_log(LOG_NOTICE, "index %s %s, reopened", db_dir,
		    replaced ? "replaced" : "back");
		last_fail = CM_OK;
	} else if (ost == CM_NOTFOUND) {
		if (last_fail != CM_NOTFOUND)
			cm_log(LOG_ERR, "index %s/data.mdb missing, deferring "
			    "newsletters", db_dir);
		last_fail = CM_NOTFOUND;
	} else if (last_fail != ost) {
		cm_log(LOG_ERR, "index %s %s but cannot be opened: %s; "
		    "deferring newsletters", db_dir,
		    replaced ? "replaced" : "there", cm_strerror((int)ost));
		last_fail = ost;
	}
}

static void *
watch_main(void *arg)
{
	struct timespec ts;

	(void)arg;
	pthread_mutex_lock(&watch_mu);
	while (!watch_stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += WATCH_INTERVAL_MS / 1000;
		ts.tv_nsec += (WATCH_INTERVAL_MS % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!watch_stop &&
		    pthread_cond_timedwait(&watch_cv, &watch_mu, &ts) == 0)
			;
		if (watch_stop)
			break;
		pthread_mutex_unlock(&watch_mu);
		check_once();
		pthread_mutex_lock(&watch_mu);
	}
	pthread_mutex_unlock(&watch_mu);
	return NULL;
}

cm_status
cm_db_open(const char *dir, size_t map_size, unsigned max_readers)
{
	pthread_rwlockattr_t ra;
	pthread_condattr_t ca;
	cm_index *idx = NULL;
	cm_status st;

	if (db_dir != NULL)
		return CM_EINVAL;	/* once per process */
	if ((db_dir = strdup(dir)) == NULL)
		return CM_ENOMEM;
	db_map_size = map_size;
	db_max_readers = max_readers;
	if ((st = open_ro(&idx)) != CM_OK) {
		free(db_dir);
		db_dir = NULL;
		return st;
	}
	/* a switch must not wait behind an endless stream of lookups */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&db_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	db_idx = idx;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&watch_cv, &ca);
	pthread_condattr_destroy(&ca);
	watch_stop = false;
	if (pthread_create(&watch_tid, NULL, watch_main, NULL) != 0) {
		/* without it a replaced index (and every opt-out recorded
		 * in the new one) would go unnoticed: do not start */
		cm_log(LOG_ERR, "cannot start the index watcher thread");
		db_idx = NULL;
		cm_index_close(idx);
		pthread_rwlock_destroy(&db_lock);
		pthread_cond_destroy(&watch_cv);
		free(db_dir);
		db_dir = NULL;
		return CM_ENOMEM;
	}
	watching = true;
	return CM_OK;
}

cm_index *
cm_db_acquire(void)
{
	cm_index *idx;

	if (db_dir == NULL)
		return NULL;
	pthread_rwlock_rdlock(&db_lock);
	idx = db_idx;
	if (idx == NULL)
		pthread_rwlock_unlock(&db_lock);
	return idx;
}

void
cm_db_release(cm_index *idx)
{
	if (idx != NULL)
		pthread_rwlock_unlock(&db_lock);
}

void
cm_db_close(void)
{
	if (db_dir == NULL)
		return;
	if (watching) {
		pthread_mutex_lock(&watch_mu);
		watch_stop = true;
		pthread_cond_signal(&watch_cv);
		pthread_mutex_unlock(&watch_mu);
		(void)pthread_join(watch_tid, NULL);
		watching = false;
	}
	pthread_rwlock_wrlock(&db_lock);
	if (db_idx != NULL)
		cm_index_close(db_idx);
	db_idx = NULL;
	pthread_rwlock_unlock(&db_lock);
	pthread_rwlock_destroy(&db_lock);
	pthread_cond_destroy(&watch_cv);
	free(db_dir);
	db_dir = NULL;
}
