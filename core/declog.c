/* declog.c - the decision log: batched JSON Lines writer and reader. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "declog.h"
#include "declog_scrub.h"
#include "util.h"
#include "timefmt.h"

#define US_PER_SEC INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)
#define PRUNE_EVERY_US (INT64_C(3600) * US_PER_SEC)
#define NAME_PREFIX "decisions-"
#define NAME_SUFFIX ".jsonl"
#define NAME_LEN (sizeof(NAME_PREFIX) - 1 + 10 + sizeof(NAME_SUFFIX) - 1)
#define KEY_MIN 16

/* ---------------------------------------------------------------- names */

static const char *const action_names[] = {
	[CM_DECLOG_REFUSED] = "refused",
	[CM_DECLOG_REMOVED] = "removed",
	[CM_DECLOG_MONITORED] = "monitored",
	[CM_DECLOG_ALLOWED] = "allowed",
	[CM_DECLOG_TEMPFAILED] = "tempfailed",
};
#define NACTIONS (sizeof(action_names) / sizeof(action_names[0]))

const char *
cm_declog_action_name(cm_declog_action a)
{
	if ((int)a <= 0 || (size_t)a >= NACTIONS)
		return "unknown";
	return action_names[a];
}

cm_status
cm_declog_action_parse(const char *s, cm_declog_action *out)
{
	if (s == NULL)
		return CM_EINVAL;
	for (size_t i = 1; i < NACTIONS; i++)
		if (strcmp(action_names[i], s) == 0) {
			*out = (cm_declog_action)i;
			return CM_OK;
		}
	return CM_EINVAL;
}

/* ---------------------------------------------------------------- time */

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 +
	    d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int *yy, unsigned *mm, unsigned *dd)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) /
	    365;
	const int64_t y = (int64_t)yoe + era * 400;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	const unsigned d = doy - (153 * mp + 2) / 5 + 1;
	const unsigned m = mp < 10 ? mp + 3 : mp - 9;
	*yy = (int)(y + (m <= 2));
	*mm = m;
	*dd = d;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

static int
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Parse what fast_time wrote (also "+00:00"); -1 if not that. */
static int
parse_time(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, se;
	size_t len = strlen(s), i = 19;
	int64_t frac = 0;

	if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
	    digits(s + 17, 2, &se))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    se > 60)
		return -1;
	if (s[i] == '.') {
		int nd = 0;

		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (nd < 6) {
				frac = frac * 10 + (s[i] - '0');
				nd++;
			}
			i++;
		}
		if (nd == 0)
			return -1;
		while (nd++ < 6)
			frac *= 10;
	}
	if (!((s[i] == 'Z' && i + 1 == len) ||
	    (strcmp(s + i, "+00:00") == 0)))
		return -1;
	*out = (days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
	    h * 3600 + mi * 60 + se) * US_PER_SEC + frac;
	return 0;
}

/* ---------------------------------------------------------------- JSON */

/* Octets copied as they are: printable ASCII other than '"' and '\\'. */
static const unsigned char json_plain[256] = {
#define R4(x) x, x, x, x
#define R16(x) R4(x), R4(x), R4(x), R4(x)
	R16(0), R16(0),				/* 0x00..0x1f */
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,	/* 0x20..0x2f: '"' */
	R16(1),					/* 0x30..0x3f */
	R16(1),					/* 0x40..0x4f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,	/* 0x50..0x5f: '\\' */
	R16(1),					/* 0x60..0x6f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,	/* 0x70..0x7f: DEL */
	R16(0), R16(0), R16(0), R16(0),		/* 0x80..0xbf */
	R16(0), R16(0), R16(0), R16(0),		/* 0xc0..0xff */
#undef R16
#undef R4
};

size_t
cm_declog_json_string(const char *s, size_t len, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, i = 0;

	if (len > CM_DECLOG_FIELD_MAX)
		len = CM_DECLOG_FIELD_MAX;
#define PUT(ch) do { if (o + 1 >= size) return 0; buf[o++] = (char)(ch); } while (0)
	PUT('"');
	while (i < len) {
		unsigned c = p[i];
		size_t k;

		if (json_plain[c]) {
			/* a run of octets that need no escape */
			for (k = i + 1; k < len && json_plain[p[k]]; k++)
				;
			if (k - i >= size - o)
				return 0;
			memcpy(buf + o, p + i, k - i);
			o += k - i;
			i = k;
		} else if (c == '"' || c == '\\') {
			PUT('\\');
			PUT(c);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			PUT('\\');
			switch (c) {
			case '\n': PUT('n'); break;
			case '\r': PUT('r'); break;
			case '\t': PUT('t'); break;
			case '\b': PUT('b'); break;
			case '\f': PUT('f'); break;
			default:
				PUT('u'); PUT('0'); PUT('0');
				PUT(hex[c >> 4]); PUT(hex[c & 15]);
			}
			i++;
		} else if ((k = cm_utf8_len(p + i, len - i)) == 0) {
			/* U+FFFD REPLACEMENT CHARACTER */
			PUT(0xef); PUT(0xbf); PUT(0xbd);
			i++;
		} else {
			for (size_t j = 0; j < k; j++)
				PUT(p[i + j]);
			i += k;
		}
	}
	PUT('"');
#undef PUT
	buf[o] = '\0';
	return o;
}

/* ---------------------------------------------------------------- keys */

static cm_status
read_key(const char *path, unsigned char *key, size_t key_max, size_t *key_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t n = 0;

	if (fd < 0)
		return cm_status_errno(errno);
	for (;;) {
		unsigned char extra;
		ssize_t r;

		if (n < key_max)
			r = read(fd, key + n, key_max - n);
		else
			r = read(fd, &extra, 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return cm_status_errno(e);
		}
		if (r == 0)
			break;
		if (n >= key_max) {	/* longer than KEY_MAX */
			close(fd);
			return CM_EFORMAT;
		}
		n += (size_t)r;
	}
	close(fd);
	if (n < KEY_MIN)
		return CM_EFORMAT;
	*key_len = n;
	return CM_OK;
}

static cm_status
create_key(const char *path)
{
	unsigned char key[32];
	size_t got = 0;
	char *tmp;
	int fd, e;

	while (got < sizeof(key)) {
		ssize_t r = getrandom(key + got, sizeof(key) - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return CM_EIO;
		}
		got += (size_t)r;
	}
	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return CM_ENOMEM;
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0) {
		e = errno;
		free(tmp);
		return cm_status_errno(e);
	}
	if (cm_write_all(fd, key, sizeof(key)) != 0 || fsync(fd) != 0) {
		e = errno;
		close(fd);
		(void)unlink(tmp);
		free(tmp);
		return cm_status_errno(e);
	}
	close(fd);
	/* link() fails if another process created the key meanwhile. */
	if (link(tmp, path) != 0 && errno != EEXIST) {
		e = errno;
		(void)unlink(tmp);
		free(tmp);
		return cm_status_errno(e);
	}
	(void)unlink(tmp);
	free(tmp);
	cm_fsync_parent(path);
	return CM_OK;
}

cm_status
cm_declog_key_load(const char *key_file, bool create, unsigned char *key,
    size_t key_max, size_t *key_len)
{
	cm_status st;

	if (key_file == NULL || *key_file == '\0' || key == NULL ||
	    key_len == NULL || key_max < KEY_MIN)
		return CM_EINVAL;
	st = read_key(key_file, key, key_max, key_len);
	if (st != CM_NOTFOUND || !create)
		return st;
	st = create_key(key_file);
	if (st != CM_OK)
		return st;
	return read_key(key_file, key, key_max, key_len);
}

cm_status
cm_declog_hash(const unsigned char *key, size_t key_len, const char *s,
    size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t plen = sizeof(CM_DECLOG_HASH_PREFIX) - 1;

	if (key == NULL || key_len == 0 || key_len > INT_MAX ||
	    (s == NULL && len > 0) || out == NULL)
		return CM_EINVAL;
	if (HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)s,
	    len, md, &mdlen) == NULL || mdlen != 32)
		return CM_ENOMEM;
	memcpy(out, CM_DECLOG_HASH_PREFIX, plen);
	for (unsigned i = 0; i < mdlen; i++) {
		out[plen + 2 * i] = hex[md[i] >> 4];
		out[plen + 2 * i + 1] = hex[md[i] & 15];
	}
	out[plen + 64] = '\0';
	return CM_OK;
}

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
day_name(int64_t day, char *out, size_t size)
{
	int y;
	unsigned m, d;

	civil_from_days(day, &y, &m, &d);
	snprintf(out, size, NAME_PREFIX "%04d-%02u-%02u" NAME_SUFFIX, y, m, d);
}

/* Day number of a file name "decisions-YYYY-MM-DD.jsonl", -1 if not one. */
static int64_t
name_day(const char *name)
{
	int y, m, d;
	const char *p = name + sizeof(NAME_PREFIX) - 1;

	if (strlen(name) != NAME_LEN ||
	    strncmp(name, NAME_PREFIX, sizeof(NAME_PREFIX) - 1) != 0 ||
	    strcmp(name + NAME_LEN - (sizeof(NAME_SUFFIX) - 1), NAME_SUFFIX) != 0)
		return -1;
	if (p[4] != '-' || p[7] != '-' || digits(p, 4, &y) ||
	    digits(p + 5, 2, &m) || digits(p + 8, 2, &d) || m < 1 || m > 12 ||
	    d < 1 || d > 31 || y < 1970)
		return -1;
	return days_from_civil(y, (unsigned)m, (unsigned)d);
}

static void
prune(cm_declog *log)
{
	int64_t today = floor_div(cm_time_now(), US_PER_DAY), day;
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
		if ((day = name_day(de->d_name)) < 0)
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
	char name[NAME_LEN + 1];
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
	day_name(day, name, sizeof(name));
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

static void
deadline_in(struct timespec *ts, int64_t us)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(us / US_PER_SEC);
	ts->tv_nsec += (long)(us % US_PER_SEC) * 1000;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
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
			int64_t wait = log->next_prune - mono_us();

			if (log->retention_days == 0 || wait > PRUNE_EVERY_US)
				wait = PRUNE_EVERY_US;
			if (wait > 0) {
				deadline_in(&ts, wait);
				(void)pthread_cond_timedwait(&log->work, &log->mu,
				    &ts);
			}
		}
		if (log->count > 0 && log->count < log->batch_max &&
		    !log->flush_req && !log->stop) {
			deadline_in(&ts, (int64_t)log->flush_ms * 1000);
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

		if (log->retention_days > 0 && mono_us() >= log->next_prune) {
			prune(log);
			log->next_prune = mono_us() + PRUNE_EVERY_US;
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

static int
init_cond_mono(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int r;

	if (pthread_condattr_init(&a) != 0)
		return -1;
	r = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (r == 0)
		r = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return r == 0 ? 0 : -1;
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
	if (init_cond_mono(&log->work) != 0) {
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
	log->next_prune = mono_us() + PRUNE_EVERY_US;
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

/* V as W decimal digits (leading zeros) at O; returns the end. */
static char *
put_dec(char *o, unsigned v, int w)
{
	for (int i = w - 1; i >= 0; i--) {
		o[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return o + w;
}

/* "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (fraction without trailing zeros) for
 * US in 0..LAST_US, without stdio, into BUF (TIME_MAX octets); returns
 * the length. */
static size_t
fast_time(int64_t us, char *buf)
{
	int64_t day = floor_div(us, US_PER_DAY);
	int64_t rem = us - day * US_PER_DAY;
	unsigned sec = (unsigned)(rem / US_PER_SEC);
	unsigned frac = (unsigned)(rem % US_PER_SEC);
	int y;
	unsigned m, d;
	char *o = buf;

	civil_from_days(day, &y, &m, &d);
	o = put_dec(o, (unsigned)y, 4);
	*o++ = '-';
	o = put_dec(o, m, 2);
	*o++ = '-';
	o = put_dec(o, d, 2);
	*o++ = 'T';
	o = put_dec(o, sec / 3600, 2);
	*o++ = ':';
	o = put_dec(o, sec / 60 % 60, 2);
	*o++ = ':';
	o = put_dec(o, sec % 60, 2);
	if (frac != 0) {
		char f[6];
		size_t k = 6;

		put_dec(f, frac, 6);
		while (k > 1 && f[k - 1] == '0')
			k--;
		*o++ = '.';
		memcpy(o, f, k);
		o += k;
	}
	*o++ = 'Z';
	*o = '\0';
	return (size_t)(o - buf);
}

/* Room for S as a JSON string (or null), as cm_declog_json_string needs
 * it (with its NUL). */
static size_t
json_room(const char *s)
{
	return s == NULL ? 5 : 6 * strnlen(s, CM_DECLOG_FIELD_MAX) + 3;
}

/* S as a JSON string or null at O (ROOM from json_room); returns the end. */
static char *
put_json(char *o, const char *s, size_t room)
{
	if (s == NULL) {
		memcpy(o, "null", 4);
		return o + 4;
	}
	return o + cm_declog_json_string(s, strnlen(s, CM_DECLOG_FIELD_MAX), o,
	    room);
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
		const char *rcpt = it->rcpt, *an = action_names[it->action];
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
		o += fast_time(t[i], o);
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
	nd->day = floor_div(t[0], US_PER_DAY);
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

		if ((int)items[i].action <= 0 ||
		    (size_t)items[i].action >= NACTIONS || ti < 0 ||
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
		int64_t day = floor_div(t[i], US_PER_DAY);

		for (j = i + 1; j < n && floor_div(t[j], US_PER_DAY) == day; j++)
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

/* ---------------------------------------------------------------- reader */

struct cm_declog_reader {
	char *dir;
	cm_declog_filter f;	/* strings point into owned copies below */
	char *fstr[7];
	char rcpt_hash[CM_DECLOG_HASH_BUFSZ];
	bool have_hash;
	int64_t *days;
	size_t ndays, next_day;
	FILE *fp;
	char *line;		/* CM_DECLOG_LINE_MAX + 2 */
	uint64_t bad;
};

static int
cmp_day(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

void
cm_declog_reader_close(cm_declog_reader *r)
{
	if (r == NULL)
		return;
	if (r->fp != NULL)
		fclose(r->fp);
	for (int i = 0; i < 7; i++)
		free(r->fstr[i]);
	free(r->days);
	free(r->line);
	free(r->dir);
	free(r);
}

static int
dup_filter(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL)
		return 0;
	*dst = strdup(src);
	return *dst == NULL ? -1 : 0;
}

cm_status
cm_declog_reader_open(const char *dir, const cm_declog_filter *f,
    cm_declog_reader **out)
{
	cm_declog_reader *r;
	DIR *d;
	struct dirent *de;
	size_t cap = 0;
	int64_t lo = INT64_MIN, hi = INT64_MAX;

	if (dir == NULL || out == NULL)
		return CM_EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return CM_ENOMEM;
	if (f != NULL)
		r->f = *f;
	r->dir = strdup(dir);
	r->line = malloc(CM_DECLOG_LINE_MAX + 2);
	if (r->dir == NULL || r->line == NULL ||
	    dup_filter(&r->fstr[0], r->f.type) ||
	    dup_filter(&r->fstr[1], r->f.campaign) ||
	    dup_filter(&r->fstr[2], r->f.reason) ||
	    dup_filter(&r->fstr[3], r->f.verdict) ||
	    dup_filter(&r->fstr[4], r->f.action) ||
	    dup_filter(&r->fstr[5], r->f.rcpt)) {
		cm_declog_reader_close(r);
		return CM_ENOMEM;
	}
	r->f.type = r->fstr[0];
	r->f.campaign = r->fstr[1];
	r->f.reason = r->fstr[2];
	r->f.verdict = r->fstr[3];
	r->f.action = r->fstr[4];
	r->f.rcpt = r->fstr[5];
	r->f.key_file = NULL;
	if (r->f.rcpt != NULL && f->key_file != NULL) {
		unsigned char key[CM_DECLOG_KEY_MAX];
		size_t klen;

		if (cm_declog_key_load(f->key_file, false, key, sizeof(key),
		    &klen) == CM_OK &&
		    cm_declog_hash(key, klen, r->f.rcpt, strlen(r->f.rcpt),
		    r->rcpt_hash) == CM_OK)
			r->have_hash = true;
		explicit_bzero(key, sizeof(key));
	}
	if (r->f.since_us > 0)
		lo = floor_div(r->f.since_us, US_PER_DAY);
	if (r->f.until_us > 0)
		hi = floor_div(r->f.until_us - 1, US_PER_DAY);

	d = opendir(dir);
	if (d == NULL) {
		cm_status st = cm_status_errno(errno);

		cm_declog_reader_close(r);
		return st;
	}
	while ((de = readdir(d)) != NULL) {
		int64_t day = name_day(de->d_name);

		if (day < 0 || day < lo || day > hi)
			continue;
		if (r->ndays == cap) {
			size_t nc = cap ? cap * 2 : 64;
			int64_t *nd = realloc(r->days, nc * sizeof(*nd));

			if (nd == NULL) {
				closedir(d);
				cm_declog_reader_close(r);
				return CM_ENOMEM;
			}
			r->days = nd;
			cap = nc;
		}
		r->days[r->ndays++] = day;
	}
	closedir(d);
	if (r->ndays > 1)
		qsort(r->days, r->ndays, sizeof(r->days[0]), cmp_day);
	*out = r;
	return CM_OK;
}

uint64_t
cm_declog_reader_bad(const cm_declog_reader *r)
{
	return r->bad;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		int h = hexval((unsigned char)p[i]);

		if (h < 0)
			return -1;
		v = v * 16 + (unsigned)h;
	}
	*out = v;
	return 0;
}

static size_t
put_utf8(char *o, unsigned c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (c >> 18));
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/*
 * Parse a JSON string at *PP (at the opening quote), unescaping in place;
 * returns the start of the NUL-terminated result and advances *PP past
 * the closing quote, or NULL.  The output never outgrows the input.
 */
static char *
parse_jstring(char **pp)
{
	char *p = *pp, *o, *start;

	if (*p != '"')
		return NULL;
	start = o = ++p;
	for (;;) {
		unsigned char c = (unsigned char)*p;

		if (c == '\0' || c < 0x20)
			return NULL;
		if (c == '"')
			break;
		if (c != '\\') {
			*o++ = *p++;
			continue;
		}
		p++;
		switch (*p) {
		case '"': case '\\': case '/': *o++ = *p++; break;
		case 'n': *o++ = '\n'; p++; break;
		case 'r': *o++ = '\r'; p++; break;
		case 't': *o++ = '\t'; p++; break;
		case 'b': *o++ = '\b'; p++; break;
		case 'f': *o++ = '\f'; p++; break;
		case 'u': {
			unsigned cp, lo;

			if (hex4(p + 1, &cp))
				return NULL;
			p += 5;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (p[0] != '\\' || p[1] != 'u' ||
				    hex4(p + 2, &lo) || lo < 0xdc00 ||
				    lo > 0xdfff)
					return NULL;
				p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				return NULL;
			}
			if (cp == 0)
				return NULL;	/* no NUL inside C strings */
			o += put_utf8(o, cp);
			break;
		}
		default:
			return NULL;
		}
	}
	*o = '\0';
	*pp = p + 1;
	return start;
}

static char *
skip_ws(char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

/* Parse one line into REC; 0 or -1. */
static int
parse_line(char *p, cm_declog_rec *rec)
{
	const char *time_s = NULL, *action_s = NULL;

	memset(rec, 0, sizeof(*rec));
	p = skip_ws(p);
	if (*p++ != '{')
		return -1;
	p = skip_ws(p);
	if (*p == '}')
		return -1;
	for (;;) {
		char *key, *val = NULL;

		p = skip_ws(p);
		if ((key = parse_jstring(&p)) == NULL)
			return -1;
		p = skip_ws(p);
		if (*p++ != ':')
			return -1;
		p = skip_ws(p);
		if (*p == '"') {
			if ((val = parse_jstring(&p)) == NULL)
				return -1;
		} else if (strncmp(p, "null", 4) == 0) {
			p += 4;
		} else {
			/* numbers and literals of unknown fields */
			char *s = p;

			while (*p && *p != ',' && *p != '}' && *p != ' ')
				p++;
			if (p == s)
				return -1;
			for (char *q = s; q < p; q++)
				if (!strchr("0123456789+-.eEtruefals", *q))
					return -1;
		}
		if (strcmp(key, "time") == 0) time_s = val;
		else if (strcmp(key, "queue_id") == 0) rec->queue_id = val;
		else if (strcmp(key, "message_id") == 0) rec->message_id = val;
		else if (strcmp(key, "sender") == 0) rec->sender = val;
		else if (strcmp(key, "type") == 0) rec->type = val;
		else if (strcmp(key, "campaign") == 0) rec->campaign = val;
		else if (strcmp(key, "rcpt") == 0) rec->rcpt = val;
		else if (strcmp(key, "verdict") == 0) rec->verdict = val;
		else if (strcmp(key, "reason") == 0) rec->reason = val;
		else if (strcmp(key, "action") == 0) action_s = val;
		p = skip_ws(p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p++ != '}')
			return -1;
		break;
	}
	if (*skip_ws(p) != '\0')
		return -1;
	if (time_s == NULL || parse_time(time_s, &rec->time_us) != 0)
		return -1;
	if (action_s == NULL ||
	    cm_declog_action_parse(action_s, &rec->action) != CM_OK)
		return -1;
	return 0;
}

static bool
field_ok(const char *want, const char *have)
{
	return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

/* A message of several types is logged with their ids joined by ','
 * ("weekly-news,offers"): it matches a filter on any one of them. */
static bool
type_ok(const char *want, const char *have)
{
	size_t n;

	if (field_ok(want, have))
		return true;
	n = strlen(want);
	for (const char *p = have; p != NULL && *p != '\0';) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (len == n && strncmp(p, want, n) == 0)
			return true;
		p = comma != NULL ? comma + 1 : NULL;
	}
	return false;
}

static bool
matches(const cm_declog_reader *r, const cm_declog_rec *rec)
{
	const cm_declog_filter *f = &r->f;

	if (f->since_us > 0 && rec->time_us < f->since_us)
		return false;
	if (f->until_us > 0 && rec->time_us >= f->until_us)
		return false;
	if (!type_ok(f->type, rec->type) ||
	    !field_ok(f->campaign, rec->campaign) ||
	    !field_ok(f->reason, rec->reason) ||
	    !field_ok(f->verdict, rec->verdict) ||
	    !field_ok(f->action, cm_declog_action_name(rec->action)))
		return false;
	if (f->rcpt != NULL) {
		if (rec->rcpt == NULL)
			return false;
		if (strcmp(rec->rcpt, f->rcpt) != 0 &&
		    !(r->have_hash && strcmp(rec->rcpt, r->rcpt_hash) == 0))
			return false;
	}
	return true;
}

cm_status
cm_declog_reader_next(cm_declog_reader *r, cm_declog_rec *rec)
{
	if (r == NULL || rec == NULL)
		return CM_EINVAL;
	for (;;) {
		size_t len;

		if (r->fp == NULL) {
			char name[NAME_LEN + 1], *path;

			if (r->next_day >= r->ndays)
				return CM_NOTFOUND;
			day_name(r->days[r->next_day++], name, sizeof(name));
			if (asprintf(&path, "%s/%s", r->dir, name) < 0)
				return CM_ENOMEM;
			r->fp = fopen(path, "re");
			free(path);
			if (r->fp == NULL) {
				if (errno == ENOENT)
					continue;	/* pruned meanwhile */
				return cm_status_errno(errno);
			}
		}
		if (fgets(r->line, CM_DECLOG_LINE_MAX + 2, r->fp) == NULL) {
			bool err = ferror(r->fp);

			fclose(r->fp);
			r->fp = NULL;
			if (err)
				return CM_EIO;
			continue;
		}
		len = strlen(r->line);
		if (len > 0 && r->line[len - 1] != '\n' && !feof(r->fp)) {
			int c;

			/* over-long line: skip the rest of it */
			while ((c = getc(r->fp)) != EOF && c != '\n')
				;
			r->bad++;
			continue;
		}
		if (parse_line(r->line, rec) != 0) {
			r->bad++;
			continue;
		}
		if (matches(r, rec))
			return CM_OK;
	}
}
