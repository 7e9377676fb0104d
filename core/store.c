/*
 * store.c - the LMDB environment of a consent index (see store.h).
 *
 * Reads use a pool of reset read transactions under a process-wide
 * rwlock (MAPLOCK); whatever changes the map (MDB_MAP_RESIZED: adopt the
 * size of another process's map; MDB_MAP_FULL: grow it) takes its write
 * side, so no transaction of this process is open meanwhile.  Every
 * recovery is in cm_store_recover; writes run their whole transaction
 * again after one (cm_store_write).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "codec.h"
#include "store.h"
#include "timefmt.h"
#include "wlock.h"

#define POOL_MAX 64
#define MAX_RETRY 32
#define READER_CHECK_US (60 * INT64_C(1000000))

struct cm_store {
	MDB_env *env;
	MDB_dbi dbi[3];		/* cm_store_db */
	bool readonly;
	bool bulk;		/* MDB_WRITEMAP */
	bool exists;		/* data.mdb was there at cm_store_new */
	char *dir;
	cm_wlock *wl;		/* writers: held from open to close */
	size_t map_size;
	unsigned max_readers;
	size_t file_size;	/* of data.mdb at cm_store_new */
	pthread_rwlock_t maplock;	/* write side: remapping */
	pthread_mutex_t poollock;
	cm_rtxn *pool[POOL_MAX];
	size_t npool;
	pthread_mutex_t wlock;		/* one writer of this process */
	int64_t reader_check_us;	/* last mdb_reader_check (atomic) */
};

/* ---------------------------------------------------------------- */
/* errors: one record per thread */

static _Thread_local struct {
	const cm_store *owner;
	int rc;
	char text[256];
} lasterr;

void
cm_store_set_err(const cm_store *s, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(lasterr.text, sizeof(lasterr.text), fmt, ap);
	va_end(ap);
	lasterr.owner = s;
	lasterr.rc = rc;
}

cm_status
cm_store_db_err(const cm_store *s, const char *what, int rc)
{
	cm_store_set_err(s, rc, "%s: %s", what, mdb_strerror(rc));
	if (rc == ENOMEM)
		return CM_ENOMEM;
	if (rc == MDB_CORRUPTED || rc == MDB_INVALID ||
	    rc == MDB_VERSION_MISMATCH || rc == MDB_PAGE_NOTFOUND)
		return CM_EFORMAT;
	if (rc == MDB_MAP_FULL)
		return CM_EFULL;
	return CM_EDB;
}

cm_status
cm_store_fmt_err(const cm_store *s, const char *what)
{
	cm_store_set_err(s, 0, "corrupt or unknown data: %s", what);
	return CM_EFORMAT;
}

const char *
cm_store_last_error(const cm_store *s, int *rc)
{
	bool mine = s != NULL && lasterr.owner == s;

	if (rc != NULL)
		*rc = mine ? lasterr.rc : 0;
	return mine ? lasterr.text : "no error";
}

/* ---------------------------------------------------------------- */
/* open / close */

static char *
data_path(const char *dir)
{
	size_t a = strlen(dir);
	char *p = malloc(a + sizeof("/data.mdb"));

	if (p != NULL) {
		memcpy(p, dir, a);
		memcpy(p + a, "/data.mdb", sizeof("/data.mdb"));
	}
	return p;
}

cm_status
cm_store_new(const char *dir, const cm_store_opts *o, bool *exists,
    cm_store **out)
{
	cm_store *s;
	cm_status st;
	struct stat sb;
	char *p;
	int e;

	*out = NULL;
	if (stat(dir, &sb) != 0)
		return cm_status_errno(errno);
	if (!S_ISDIR(sb.st_mode))
		return CM_EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CM_ENOMEM;
	/* before anything of the environment is looked at */
	if (!o->readonly &&
	    (st = cm_wlock_acquire(dir, !o->no_wait, &s->wl)) != CM_OK) {
		free(s);
		return st;
	}
	if ((p = data_path(dir)) == NULL) {
		cm_wlock_release(s->wl);
		free(s);
		return CM_ENOMEM;
	}
	s->exists = stat(p, &sb) == 0;
	e = errno;
	free(p);
	if (!s->exists && e != ENOENT) {	/* e.g. permission denied */
		cm_wlock_release(s->wl);
		free(s);
		return cm_status_errno(e);
	}
	if ((!s->exists && !o->create) || (s->dir = strdup(dir)) == NULL) {
		st = s->exists || o->create ? CM_ENOMEM : CM_NOTFOUND;
		cm_wlock_release(s->wl);
		free(s);
		return st;
	}
	pthread_rwlock_init(&s->maplock, NULL);
	pthread_mutex_init(&s->poollock, NULL);
	pthread_mutex_init(&s->wlock, NULL);
	s->readonly = o->readonly;
	s->bulk = o->bulk && !o->readonly;
	s->map_size = o->map_size;
	s->max_readers = o->max_readers;
	s->file_size = s->exists ? (size_t)sb.st_size : 0;
	*exists = s->exists;
	*out = s;
	return CM_OK;
}

/* The map size to pass to mdb_env_set_mapsize after MDB_MAP_RESIZED:
 * 0 (the size of the last commit) for readers; a writer keeps at least
 * the map it has, as a bulk writer's file is that long (LMDB truncates
 * the file of a writable map to the new size; LMDB rounds the size up
 * to the pages in use in either case). */
static size_t
remap_size(cm_store *s)
{
	MDB_envinfo info;

	if (s->readonly || mdb_env_info(s->env, &info) != 0)
		return 0;
	return info.me_mapsize;
}

static cm_status
open_dbs(cm_store *s, bool init, cm_store_check_fn check, void *arg)
{
	static const char *const names[] = { "meta", "index", "history" };
	bool checked = false;
	MDB_txn *txn;
	cm_status st;
	int rc;

	while ((rc = mdb_txn_begin(s->env, NULL,
	    s->readonly ? MDB_RDONLY : 0, &txn)) != 0) {
		if (!cm_store_recover(s, rc, &checked, &st))
			return cm_store_db_err(s, "open transaction", rc);
	}
	for (size_t i = 0; i < 3; i++) {
		rc = mdb_dbi_open(txn, names[i],
		    init && !s->readonly ? MDB_CREATE : 0, &s->dbi[i]);
		if (rc == MDB_NOTFOUND) {
			mdb_txn_abort(txn);
			cm_store_set_err(s, rc,
			    "not a consent index (no \"%s\")", names[i]);
			return CM_EFORMAT;
		}
		if (rc != 0) {
			mdb_txn_abort(txn);
			return cm_store_db_err(s, "open database", rc);
		}
		if (i > 0 && (rc = mdb_set_compare(txn, s->dbi[i],
		    cm_codec_key_cmp)) != 0) {
			mdb_txn_abort(txn);
			return cm_store_db_err(s, "set key order", rc);
		}
	}
	if ((st = check(s, txn, init && !s->readonly, arg)) != CM_OK) {
		mdb_txn_abort(txn);
		return st;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return cm_store_db_err(s, "commit open", rc);
	return CM_OK;
}

cm_status
cm_store_open(cm_store *s, bool init, cm_store_check_fn check, void *arg)
{
	cm_status st;
	int rc;

	if ((rc = mdb_env_create(&s->env)) != 0)
		return cm_store_db_err(s, "create environment", rc);
	/* A writable map (bulk) truncates data.mdb to the map size, which
	 * LMDB takes from the last commit: a map grown by an import that
	 * did not commit is longer.  Map at least the whole file. */
	if ((rc = mdb_env_set_maxdbs(s->env, 8)) != 0 ||
	    (rc = mdb_env_set_maxreaders(s->env, s->max_readers)) != 0 ||
	    (!s->exists && (rc = mdb_env_set_mapsize(s->env,
	    s->map_size)) != 0) ||
	    (s->exists && s->bulk && (rc = mdb_env_set_mapsize(s->env,
	    s->file_size)) != 0))
		return cm_store_db_err(s, "configure environment", rc);
	rc = mdb_env_open(s->env, s->dir,
	    MDB_NOTLS | (s->readonly ? MDB_RDONLY :
	    s->bulk ? MDB_WRITEMAP : 0), 0600);
	if (rc != 0) {
		(void)cm_store_db_err(s, "open environment", rc);
		if (rc == EACCES || rc == EPERM || rc == EROFS)
			return CM_EPERM;
		if (rc == ENOENT)
			return CM_NOTFOUND;
		if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
			return CM_EFORMAT;
		return CM_EDB;
	}
	(void)mdb_reader_check(s->env, NULL);
	s->reader_check_us = cm_time_now();
	st = open_dbs(s, init, check, arg);
	return st;
}

static void
rtxn_free(cm_rtxn *t)
{
	mdb_txn_abort(t->txn);
	cm_dcache_free(t->dc);
	free(t);
}

/* Empty the pool (its transactions hold the old map). */
static void
pool_drain(cm_store *s)
{
	pthread_mutex_lock(&s->poollock);
	while (s->npool > 0)
		rtxn_free(s->pool[--s->npool]);
	pthread_mutex_unlock(&s->poollock);
}

void
cm_store_close(cm_store *s)
{
	if (s == NULL)
		return;
	pool_drain(s);
	if (s->env != NULL)
		mdb_env_close(s->env);
	cm_wlock_release(s->wl);	/* after the environment is closed */
	pthread_rwlock_destroy(&s->maplock);
	pthread_mutex_destroy(&s->poollock);
	pthread_mutex_destroy(&s->wlock);
	if (lasterr.owner == s)
		lasterr.owner = NULL;
	free(s->dir);
	free(s);
}

MDB_env *
cm_store_env(const cm_store *s)
{
	return s->env;
}

MDB_dbi
cm_store_dbi(const cm_store *s, cm_store_db db)
{
	return s->dbi[db];
}

const char *
cm_store_dir(const cm_store *s)
{
	return s->dir;
}

bool
cm_store_readonly(const cm_store *s)
{
	return s->readonly;
}

/* ---------------------------------------------------------------- */
/* map size and recovery */

int
cm_store_used(cm_store *s, size_t *used, size_t *map)
{
	MDB_envinfo info;
	MDB_stat est;
	int rc;

	if ((rc = mdb_env_info(s->env, &info)) != 0 ||
	    (rc = mdb_env_stat(s->env, &est)) != 0)
		return rc;
	*used = (info.me_last_pgno + 1) * est.ms_psize;
	if (map != NULL)
		*map = info.me_mapsize;
	return 0;
}

/* Clear the reader slots of dead processes, at most once a minute
 * (reader_check_us is only a hint; a race costs one extra check). */
static void
reader_check_now_and_then(cm_store *s)
{
	if (cm_time_now() - __atomic_load_n(&s->reader_check_us,
	    __ATOMIC_RELAXED) > READER_CHECK_US) {
		__atomic_store_n(&s->reader_check_us, cm_time_now(),
		    __ATOMIC_RELAXED);
		(void)mdb_reader_check(s->env, NULL);
	}
}

/* Change the map with no transaction of this process open: to NEW_SIZE
 * (WANT_FREE == SIZE_MAX: remap after MDB_MAP_RESIZED), or grown to have
 * WANT_FREE octets free. */
static int
remap(cm_store *s, size_t want_free)
{
	size_t ns, used;
	int rc;

	pthread_rwlock_wrlock(&s->maplock);
	pool_drain(s);
	if (want_free == SIZE_MAX) {
		rc = mdb_env_set_mapsize(s->env, remap_size(s));
	} else if ((rc = cm_store_used(s, &used, &ns)) == 0) {
		if (want_free > 0 && ns - used >= want_free) {
			rc = 0;		/* room enough already */
		} else if (ns > SIZE_MAX / 4 || want_free > SIZE_MAX / 4) {
			rc = MDB_MAP_FULL;
		} else {
			ns = ns < (1u << 20) ? ns * 4 : ns * 2;
			if (ns < used + 2 * want_free)
				ns = used + 2 * want_free;
			rc = mdb_env_set_mapsize(s->env, ns);
		}
	}
	pthread_rwlock_unlock(&s->maplock);
	return rc;
}

cm_status
cm_store_grow(cm_store *s, size_t want_free)
{
	int rc = remap(s, want_free);

	if (rc == 0)
		return CM_OK;
	(void)cm_store_db_err(s, "grow map", rc);
	return CM_EDB;
}

bool
cm_store_recover(cm_store *s, int rc, bool *checked, cm_status *st)
{
	int dead = 0;

	*st = CM_OK;
	switch (rc) {
	case MDB_MAP_RESIZED:
		if ((rc = remap(s, SIZE_MAX)) != 0) {
			*st = cm_store_db_err(s, "remap after resize", rc);
			return false;
		}
		return true;
	case MDB_MAP_FULL:
		return (*st = cm_store_grow(s, 0)) == CM_OK;
	case MDB_READERS_FULL:
		/* slots of dead processes may be what fills the table:
		 * clear them and try once more */
		if (*checked)
			return false;
		*checked = true;
		__atomic_store_n(&s->reader_check_us, cm_time_now(),
		    __ATOMIC_RELAXED);
		return mdb_reader_check(s->env, &dead) == 0 && dead > 0;
	default:
		return false;
	}
}

/* ---------------------------------------------------------------- */
/* read transactions */

cm_status
cm_store_rbegin(cm_store *s, cm_rtxn **out)
{
	bool checked = false;
	cm_status st;

	for (int tries = 0; tries < MAX_RETRY; tries++) {
		cm_rtxn *t = NULL;
		int rc;

		pthread_rwlock_rdlock(&s->maplock);
		pthread_mutex_lock(&s->poollock);
		if (s->npool > 0)
			t = s->pool[--s->npool];
		pthread_mutex_unlock(&s->poollock);
		if (t != NULL) {
			rc = mdb_txn_renew(t->txn);
			if (rc != 0) {
				rtxn_free(t);
				t = NULL;
				if (rc != MDB_MAP_RESIZED) {
					/* bad pooled handle: try a new one */
					pthread_rwlock_unlock(&s->maplock);
					continue;
				}
			}
		} else {
			if ((t = calloc(1, sizeof(*t))) == NULL) {
				pthread_rwlock_unlock(&s->maplock);
				return CM_ENOMEM;
			}
			/* a new reader slot: the moment to clear the slots of
			 * dead processes, now and then */
			reader_check_now_and_then(s);
			rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
			if (rc != 0) {
				free(t);
				t = NULL;
			}
		}
		if (rc == 0) {
			*out = t;
			return CM_OK;	/* rdlock held until rend */
		}
		pthread_rwlock_unlock(&s->maplock);
		if (cm_store_recover(s, rc, &checked, &st))
			continue;
		if (st != CM_OK)
			return st;
		return cm_store_db_err(s, "begin read transaction", rc);
	}
	cm_store_set_err(s, MDB_MAP_RESIZED,
	    "begin read transaction: map keeps resizing");
	return CM_EDB;
}

void
cm_store_rend(cm_store *s, cm_rtxn *t)
{
	mdb_txn_reset(t->txn);
	pthread_mutex_lock(&s->poollock);
	if (s->npool < POOL_MAX) {
		s->pool[s->npool++] = t;
		t = NULL;
	}
	pthread_mutex_unlock(&s->poollock);
	if (t != NULL)
		rtxn_free(t);
	pthread_rwlock_unlock(&s->maplock);
}

/* ---------------------------------------------------------------- */
/* write transactions */

void
cm_store_writer_lock(cm_store *s)
{
	pthread_mutex_lock(&s->wlock);
	reader_check_now_and_then(s);
}

void
cm_store_writer_unlock(cm_store *s)
{
	pthread_mutex_unlock(&s->wlock);
}

cm_status
cm_store_wbegin(cm_store *s, MDB_txn **txn)
{
	bool checked = false;
	cm_status st;

	if (s->readonly) {
		cm_store_set_err(s, 0, "index opened read-only");
		return CM_EPERM;
	}
	for (int tries = 0; tries < MAX_RETRY; tries++) {
		int rc;

		pthread_rwlock_rdlock(&s->maplock);
		if ((rc = mdb_txn_begin(s->env, NULL, 0, txn)) == 0)
			return CM_OK;	/* rdlock held until wend */
		pthread_rwlock_unlock(&s->maplock);
		if (rc == MDB_MAP_RESIZED &&
		    cm_store_recover(s, rc, &checked, &st))
			continue;
		return rc == MDB_MAP_RESIZED && st != CM_OK ? st :
		    cm_store_db_err(s, "begin write transaction", rc);
	}
	cm_store_set_err(s, MDB_MAP_RESIZED,
	    "begin write transaction: map keeps resizing");
	return CM_EDB;
}

cm_status
cm_store_wend(cm_store *s, MDB_txn *txn, bool commit)
{
	cm_status st = CM_OK;
	int rc;

	if (commit) {
		if ((rc = mdb_txn_commit(txn)) != 0)
			st = cm_store_db_err(s, "commit", rc);
	} else {
		mdb_txn_abort(txn);
	}
	pthread_rwlock_unlock(&s->maplock);
	return st;
}

cm_status
cm_store_write(cm_store *s, cm_store_wfn fn, void *arg, bool dry)
{
	cm_status st = CM_EDB;
	bool checked = false;

	for (int tries = 0; tries < MAX_RETRY; tries++) {
		MDB_txn *txn;
		cm_status rst;

		if ((st = cm_store_wbegin(s, &txn)) != CM_OK)
			return st;
		st = fn(txn, arg);
		if (st == CM_OK && !dry)
			st = cm_store_wend(s, txn, true);
		else
			(void)cm_store_wend(s, txn, false);
		if (st != CM_EFULL)
			return st;
		if (!cm_store_recover(s, MDB_MAP_FULL, &checked, &rst))
			return rst;
	}
	return CM_EDB;		/* the map keeps filling */
}

/* ---------------------------------------------------------------- */
/* the file under bulk imports */

size_t
cm_store_txn_pages(const cm_store *s, MDB_txn *txn)
{
	const MDB_dbi dbis[] = { 0, 1, s->dbi[0], s->dbi[1], s->dbi[2] };
	size_t n = 0;
	MDB_stat st;

	for (size_t i = 0; i < sizeof(dbis) / sizeof(dbis[0]); i++)
		if (mdb_stat(txn, dbis[i], &st) == 0)
			n += st.ms_branch_pages + st.ms_leaf_pages +
			    st.ms_overflow_pages;
	return n;
}

size_t
cm_store_page_size(cm_store *s)
{
	MDB_stat est;

	return mdb_env_stat(s->env, &est) == 0 ? est.ms_psize : 0;
}

/*
 * In bulk mode LMDB writes into a writable map of a sparse file: a page
 * the file system cannot allocate (disk full) would then kill the
 * process with SIGBUS instead of failing a write.  So the blocks an
 * import may use are allocated first: a full disk is CM_EIO ("No space
 * left on device") before anything is written.  A file system without
 * fallocate() is left as it is.
 */
cm_status
cm_store_allocate(cm_store *s, size_t off, size_t *len)
{
	MDB_envinfo info;
	size_t n = *len;
	int fd;

	*len = 0;
	if (!s->bulk || n == 0 || mdb_env_get_fd(s->env, &fd) != 0 ||
	    mdb_env_info(s->env, &info) != 0 || off >= info.me_mapsize)
		return CM_OK;
	if (n > info.me_mapsize - off)
		n = info.me_mapsize - off;
	if (fallocate(fd, 0, (off_t)off, (off_t)n) == 0) {
		*len = n;
		return CM_OK;
	}
	if (errno == EOPNOTSUPP || errno == ENOSYS)
		return CM_OK;
	cm_store_set_err(s, errno, "cannot allocate %zu octets of "
	    "%s/data.mdb for the import: %s", n, s->dir, strerror(errno));
	return CM_EIO;
}

/*
 * Where LMDB has mapped data.mdb in this process (LMDB does not say:
 * mdb_env_info's me_mapaddr is the address asked for with MDB_FIXEDMAP),
 * found in /proc/self/maps by the file's device and inode; NULL if not.
 */
unsigned char *
cm_store_map_base(cm_store *s)
{
	unsigned long lo, off, ino, maj, min;
	unsigned char *base = NULL;
	struct stat sb;
	char line[512];
	FILE *f;
	int fd;

	if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &sb) != 0 ||
	    (f = fopen("/proc/self/maps", "re")) == NULL)
		return NULL;
	while (base == NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%lx-%*x %*s %lx %lx:%lx %lu", &lo, &off, &maj,
		    &min, &ino) == 5 && off == 0 && ino == sb.st_ino &&
		    makedev(maj, min) == sb.st_dev)
			base = (unsigned char *)(uintptr_t)lo;
	fclose(f);
	return base;
}

/*
 * After an import: give back the blocks allocated for it beyond the last
 * page it used (the space was an estimate), inside a write transaction
 * so that no other writer allocates pages there meanwhile.
 */
void
cm_store_release(cm_store *s, size_t end)
{
	MDB_txn *t;
	size_t used;
	int fd;

	if (end == 0 || mdb_env_get_fd(s->env, &fd) != 0)
		return;
	pthread_rwlock_rdlock(&s->maplock);
	if (mdb_txn_begin(s->env, NULL, 0, &t) == 0) {
		if (cm_store_used(s, &used, NULL) == 0 && used < end)
			(void)fallocate(fd, FALLOC_FL_PUNCH_HOLE |
			    FALLOC_FL_KEEP_SIZE, (off_t)used, (off_t)(end - used));
		mdb_txn_abort(t);
	}
	pthread_rwlock_unlock(&s->maplock);
}
