/*
 * log.c - syslog, stderr or journal logging for the daemon.
 */
#include "log.h"
#include "core/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <unistr.h>

static bool log_stderr;
static bool log_journal;	/* stderr is the journal: "<N>" prefixes */
static long log_pid;		/* for the stderr prefix: no fork follows */
static char log_ident[96];	/* "NAME[PID]: " on plain stderr */
static size_t log_ident_len;

/* Parse a decimal number of S up to END (exclusive); false if not one. */
static bool
parse_dec(const char *s, const char *end, unsigned long long *out)
{
	unsigned long long v = 0;

	if (s == end)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9' || v > (~0ULL - 9) / 10)
			return false;
		v = v * 10 + (unsigned long long)(*s - '0');
	}
	*out = v;
	return true;
}

/* Is standard error the stream systemd's JOURNAL_STREAM ("DEV:INO",
 * decimal) names?  Only then does the journal read our "<N>" prefixes;
 * a redirected stderr inherits the variable but is another file. */
static bool
stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM"), *colon;
	unsigned long long dev, ino;
	struct stat st;

	if (v == NULL || (colon = strchr(v, ':')) == NULL ||
	    !parse_dec(v, colon, &dev) ||
	    !parse_dec(colon + 1, colon + 1 + strlen(colon + 1), &ino))
		return false;
	if (fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

static const char *log_name = "consent-milter";

/*
 * Deferred decision lines (cm_log_defer_start): a queue that the writer
 * thread writes DEFER_MS after its first line, in one write(2).  Every
 * write to standard error holds q_mu once the thread runs, so lines keep
 * their order.
 */
#define DEFER_MS 50
#define QUEUE_MAX (64 * 1024)
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static char q_buf[QUEUE_MAX];
static size_t q_len;
static atomic_bool q_on;	/* the writer runs: set and cleared under q_mu */
static bool q_stop;
static pthread_t q_tid;

/* Write what is queued (under q_mu). */
static void
q_flush(void)
{
	if (q_len > 0)
		(void)cm_write_all(STDERR_FILENO, q_buf, q_len);
	q_len = 0;
}

static void *
q_writer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&q_mu);
	for (;;) {
		while (q_len == 0 && !q_stop)
			pthread_cond_wait(&q_cv, &q_mu);
		if (q_len == 0)
			break;
		if (!q_stop) {	/* let the lines of the next moments join */
			struct timespec ts = { 0, DEFER_MS * 1000000L };

			pthread_mutex_unlock(&q_mu);
			(void)nanosleep(&ts, NULL);
			pthread_mutex_lock(&q_mu);
		}
		q_flush();
	}
	pthread_mutex_unlock(&q_mu);
	return NULL;
}

int
cm_log_defer_start(void)
{
	int rc;

	if (!log_stderr || q_on)
		return 0;
	q_stop = false;
	rc = pthread_create(&q_tid, NULL, q_writer, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	pthread_mutex_lock(&q_mu);
	q_on = true;
	pthread_mutex_unlock(&q_mu);
	return 0;
}

void
cm_log_defer_stop(void)
{
	pthread_mutex_lock(&q_mu);
	if (!q_on) {
		pthread_mutex_unlock(&q_mu);
		return;
	}
	q_stop = true;
	pthread_cond_signal(&q_cv);
	pthread_mutex_unlock(&q_mu);
	(void)pthread_join(q_tid, NULL);
	pthread_mutex_lock(&q_mu);
	q_flush();
	q_on = false;
	pthread_mutex_unlock(&q_mu);
}

/* Put BUF (LEN octets, whole lines) on standard error: queued when
 * DEFER and the writer runs, else now, after what is queued. */
static void
emit(const char *buf, size_t len, bool defer)
{
	/* no writer (the milter, consent-policy before it starts): no lock
	 * on the logging path */
	if (!atomic_load(&q_on)) {
		(void)cm_write_all(STDERR_FILENO, buf, len);
		return;
	}
	pthread_mutex_lock(&q_mu);
	if (!q_on) {	/* stopped meanwhile: what was queued is written */
		pthread_mutex_unlock(&q_mu);
		(void)cm_write_all(STDERR_FILENO, buf, len);
		return;
	}
	if (!defer || q_len + len > sizeof(q_buf))
		q_flush();
	if (!defer || len > sizeof(q_buf)) {
		(void)cm_write_all(STDERR_FILENO, buf, len);
	} else {
		if (q_len == 0)
			pthread_cond_signal(&q_cv);
		memcpy(q_buf + q_len, buf, len);
		q_len += len;
	}
	pthread_mutex_unlock(&q_mu);
}

static void
ident_set(void)
{
	int n = snprintf(log_ident, sizeof(log_ident), "%s[%ld]: ", log_name,
	    log_pid);

	log_ident_len = n < 0 ? 0 : (size_t)n < sizeof(log_ident) ?
	    (size_t)n : sizeof(log_ident) - 1;
}

void
cm_log_set_name(const char *name)
{
	log_name = name;
	ident_set();
}

void
cm_log_open(bool to_stderr)
{
	log_stderr = to_stderr;
	log_journal = to_stderr && stderr_is_journal();
	log_pid = (long)getpid();
	ident_set();
	if (!log_stderr)
		openlog(log_name, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

bool
cm_log_journal(void)
{
	return log_journal;
}

void
cm_log_close(void)
{
	if (!log_stderr)
		closelog();
}

static const char *
prio_name(int priority)
{
	switch (priority) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
		return "fatal";
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

/* The prefix of a line at PRIORITY into LINE (SIZE octets): "<N>" for
 * the journal, time, program, PID and priority's name for plain stderr,
 * nothing for syslog.  Returns its length (< SIZE).  The time's text
 * down to the second is made once a second on each thread. */
static size_t
line_prefix(char *line, size_t size, int priority)
{
	static _Thread_local time_t sec_at = (time_t)-1;
	static _Thread_local char sec_text[32];
	static _Thread_local size_t sec_len;
	cm_sbuf b = { line, 0, size - 1 };

	if (log_journal) {
		/* sd-daemon(3) prefix; the journal adds time, PID and
		 * identifier itself. */
		char p[3] = { '<', (char)('0' + (priority & LOG_PRIMASK)), '>' };

		cm_sbuf_put(&b, p, sizeof(p));
	} else if (log_stderr) {
		struct timespec ts;
		struct tm tm;

		if (clock_gettime(CLOCK_REALTIME, &ts) == 0 &&
		    (ts.tv_sec == sec_at || gmtime_r(&ts.tv_sec, &tm) != NULL)) {
			long ms = ts.tv_nsec / 1000000;
			char frac[6] = { '.', (char)('0' + ms / 100),
			    (char)('0' + ms / 10 % 10), (char)('0' + ms % 10),
			    'Z', ' ' };

			if (ts.tv_sec != sec_at) {
				sec_len = strftime(sec_text, sizeof(sec_text),
				    "%Y-%m-%dT%H:%M:%S", &tm);
				sec_at = ts.tv_sec;
			}
			cm_sbuf_put(&b, sec_text, sec_len);
			cm_sbuf_put(&b, frac, sizeof(frac));
		}
		cm_sbuf_put(&b, log_ident, log_ident_len);
		cm_sbuf_str(&b, prio_name(priority));
		cm_sbuf_put(&b, ": ", 2);
	}
	return b.len;
}

static void
vlog(int priority, bool defer, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
vlog(int priority, bool defer, const char *fmt, va_list ap)
{
	char line[CM_LOG_LINE_MAX];
	size_t off;
	int n;

	off = line_prefix(line, sizeof(line), priority);
	n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
	if (n < 0)
		return;
	off += (size_t)n;
	if (off > sizeof(line) - 2)
		off = sizeof(line) - 2;	/* truncated */
	if (log_stderr) {
		line[off++] = '\n';
		emit(line, off, defer);
	} else {
		line[off] = '\0';
		syslog(priority, "%s", line);
	}
}

void
cm_log(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(priority, false, fmt, ap);
	va_end(ap);
}

/* A decision line: deferred when cm_log_defer_start() runs. */
static void
log_decision(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
log_decision(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, true, fmt, ap);
	va_end(ap);
}

/*
 * Code points that never stand in a log line as they are, because the
 * line would read otherwise than it is: C1 controls (NEL among them),
 * white space other than ASCII's (a token would seem to end there), the
 * line and paragraph separators, the bidirectional controls (they
 * reorder what a viewer shows) and the invisible format characters
 * (zero-width spaces and joiners, word joiner, soft hyphen, BOM).
 */
static const struct { uint32_t lo, hi; } hidden[] = {
	{ 0x0080, 0x00a0 },	/* C1 controls, no-break space */
	{ 0x00ad, 0x00ad },	/* soft hyphen */
	{ 0x061c, 0x061c },	/* Arabic letter mark */
	{ 0x1680, 0x1680 },	/* Ogham space mark */
	{ 0x180e, 0x180e },	/* Mongolian vowel separator */
	{ 0x2000, 0x200f },	/* spaces, zero-width, LRM, RLM */
	{ 0x2028, 0x202f },	/* separators, embeddings, overrides, NNBSP */
	{ 0x205f, 0x2064 },	/* medium space, word joiner, invisibles */
	{ 0x2066, 0x2069 },	/* isolates */
	{ 0x3000, 0x3000 },	/* ideographic space */
	{ 0xfeff, 0xfeff },	/* BOM, zero-width no-break space */
};

/*
 * The octets of the UTF-8 character at S[0..N) (2 to 4) when it may
 * stand in a log line as it is; 0 when S starts no such character: a
 * malformed, overlong or truncated sequence, a surrogate (libunistring's
 * strict decoder), or a code point of hidden[].
 */
static size_t
u8_keep(const unsigned char *s, size_t n)
{
	ucs4_t u;
	int l = u8_mbtoucr(&u, s, n);

	if (l < 2)
		return 0;
	for (size_t k = 0; k < sizeof(hidden) / sizeof(hidden[0]); k++)
		if (u >= hidden[k].lo && u <= hidden[k].hi)
			return 0;
	return (size_t)l;
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS (ONES * 0x80)

/* The octets at S[0..N) that a log token keeps as they are from the
 * start on (printable ASCII but '%' and '"'), eight at a time where it
 * can: on every recipient's path, and most values are one such run. */
static size_t
plain_run(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (n - i >= 8) {
		uint64_t v, p, q, d;

		memcpy(&v, s + i, 8);
		p = v ^ (ONES * '%');
		q = v ^ (ONES * '"');
		d = v ^ (ONES * 0x7f);
		/* a high bit, an octet below 0x21, '%', '"' or DEL (a borrow
		 * can only mark octets above one that is really there) */
		if ((v | ((v - ONES * 0x21) & ~v) | ((p - ONES) & ~p) |
		    ((q - ONES) & ~q) | ((d - ONES) & ~d)) & HIGHS)
			break;
		i += 8;
	}
	while (i < n && s[i] > 0x20 && s[i] < 0x7f && s[i] != '%' &&
	    s[i] != '"')
		i++;
	return i;
}

/*
 * Append S (NULL or "" -> "-") to B as one log token, at most MAX
 * octets of it (and what B has room for): printable ASCII but '%' and
 * '"' as it is, each UTF-8 character u8_keep() allows whole, every other
 * octet as "%XX"; cut before the first character or escape that does
 * not fit whole.
 */
static void
sbuf_clean(cm_sbuf *b, const char *str, size_t max)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)str, *z;
	size_t end = max < b->cap - b->len ? b->len + max : b->cap;

	if (s == NULL || *s == '\0') {
		if (b->len < end)
			b->buf[b->len++] = '-';
		return;
	}
	z = s + strlen(str);
	while (s < z) {
		/* a run of octets kept as they are, cut to fit */
		size_t run = plain_run(s, (size_t)(z - s)), k;

		if (run > end - b->len)
			run = end - b->len;
		memcpy(b->buf + b->len, s, run);
		b->len += run;
		s += run;
		if (s == z || b->len >= end)
			break;
		if (*s >= 0x80 && (k = u8_keep(s, (size_t)(z - s))) > 0) {
			if (k > end - b->len)
				break;
			memcpy(b->buf + b->len, s, k);
			b->len += k;
			s += k;
			continue;
		}
		if (end - b->len < 3)
			break;
		b->buf[b->len++] = '%';
		b->buf[b->len++] = hex[*s >> 4];
		b->buf[b->len++] = hex[*s & 0x0f];
		s++;
	}
}

char *
cm_log_clean(const char *s, char *buf, size_t size)
{
	cm_sbuf b = { buf, 0, size - 1 };

	if (size < 4) {
		if (size > 0)
			buf[0] = '\0';
		return buf;
	}
	sbuf_clean(&b, s, size - 1);
	buf[b.len] = '\0';
	return buf;
}

/* A decision line's type list or recipient: at most this many octets,
 * so that the verdict and reason after them always fit the line. */
#define DECISION_VALUE_MAX 699

/* Append "type=T rcpt=R verdict=V reason=W[ EXTRA]" to B (on every
 * recipient's path: no printf).  T is a message's whole type list (at
 * most 511 octets, ending in ",..." where cm_class_join cut it): never
 * cut again here, where a cut inside an id could name another type. */
static void
lb_decision(cm_sbuf *b, const char *type, const char *rcpt,
    const char *verdict, const char *reason, const char *extra)
{
	cm_sbuf_str(b, "type=");
	sbuf_clean(b, type, DECISION_VALUE_MAX);
	cm_sbuf_str(b, " rcpt=");
	sbuf_clean(b, rcpt, DECISION_VALUE_MAX);
	cm_sbuf_str(b, " verdict=");
	cm_sbuf_str(b, verdict);
	cm_sbuf_str(b, " reason=");
	cm_sbuf_str(b, reason);
	if (extra != NULL) {
		cm_sbuf_put(b, " ", 1);
		cm_sbuf_str(b, extra);
	}
}

size_t
cm_log_decision_fmt(char *buf, size_t size, const char *type,
    const char *rcpt, const char *verdict, const char *reason,
    const char *extra)
{
	cm_sbuf b = { buf, 0, size - 1 };	/* cut at SIZE - 1 */

	if (size == 0)
		return 0;
	lb_decision(&b, type, rcpt, verdict, reason, extra);
	buf[b.len] = '\0';
	return b.len;
}

void
cm_log_decision_tail(const char *queue_id, const char *tail)
{
	char q[80];

	log_decision("queue_id=%s %s", cm_log_clean(queue_id, q, sizeof(q)),
	    tail);
}

void
cm_log_decision(const char *queue_id, const char *type, const char *rcpt,
    const char *verdict, const char *reason, const char *extra)
{
	char line[CM_LOG_LINE_MAX], q[80];
	cm_sbuf b = { line, 0, sizeof(line) - 2 };

	if (!log_stderr) {
		cm_log_decision_fmt(line, sizeof(line), type, rcpt, verdict,
		    reason, extra);
		cm_log_decision_tail(queue_id, line);
		return;
	}
	/* on every recipient's path: the line cm_log_decision_tail() makes
	 * of cm_log_decision_fmt()'s, without the formatting */
	b.len = line_prefix(line, sizeof(line), LOG_INFO);
	cm_sbuf_str(&b, "queue_id=");
	cm_sbuf_str(&b, cm_log_clean(queue_id, q, sizeof(q)));
	cm_sbuf_put(&b, " ", 1);
	lb_decision(&b, type, rcpt, verdict, reason, extra);
	line[b.len++] = '\n';
	emit(line, b.len, true);
}

void
cm_log_decision_tails(const char *queue_id, const char *tails, size_t len)
{
	char buf[2 * CM_LOG_LINE_MAX], pre[256];
	size_t off = 0, used = 0, plen;
	char q[80];

	if (!log_stderr) {
		for (; off < len; off += strlen(tails + off) + 1)
			cm_log_decision_tail(queue_id, tails + off);
		return;
	}
	/* the lines are written at once: one prefix (time) for all */
	plen = line_prefix(pre, sizeof(pre), LOG_INFO);
	cm_log_clean(queue_id, q, sizeof(q));
	while (off < len) {
		const char *tail = tails + off;
		size_t tlen = strlen(tail);
		cm_sbuf b = { buf + used, 0, CM_LOG_LINE_MAX - 2 };

		if (sizeof(buf) - used < CM_LOG_LINE_MAX) {
			emit(buf, used, true);
			used = 0;
			b.buf = buf;
		}
		/* one line as cm_log() makes it, truncated alike */
		cm_sbuf_put(&b, pre, plen);
		cm_sbuf_str(&b, "queue_id=");
		cm_sbuf_str(&b, q);
		cm_sbuf_put(&b, " ", 1);
		cm_sbuf_put(&b, tail, tlen);
		b.buf[b.len++] = '\n';
		used += b.len;
		off += tlen + 1;
	}
	if (used > 0)
		emit(buf, used, true);
}
