/*
 * cmd_import.c - consentctl import: CSV, JSON Lines or YAML rows into the
 * index, streamed in constant memory, applied in batches.
 *
 * All or nothing: the whole file is applied in one transaction of the
 * index (cm_index_import_begin), in batches of --batch events (default
 * 100000) so that memory does not follow the file size; the rows of a
 * batch are validated (syntax, address, type, state, times, fields) as
 * they are read.  A file of one batch is applied as it is read.  The
 * batches of a longer one are sorted (core/runsort.h) while
 * the file is read, then merged and applied in key order over the whole
 * file: into a new index that is appending, no search and no page split.
 * Two threads share the work: a producer (the reader, then the merger)
 * fills one slot while this thread, which owns the import transaction,
 * sorts or applies the other.  A bad row, a failure of the index (disk full, I/O
 * error) or a kill ends the transaction before its commit: nothing of the
 * file is imported, and readers see the index as it was until the
 * commit.  The index is opened in bulk mode (writable map).  Standard
 * input and other non-regular files are first copied to an unlinked
 * temporary file (in $TMPDIR, default /tmp), so that the file can be
 * read again should the map have to grow mid-import.  --dry-run only
 * validates.
 *
 * Rows and events (TIME = the row's time column):
 *   granted              GRANT (granted) at TIME
 *   pending              GRANT (pending) at TIME
 *   confirmed            GRANT (granted) and CONFIRM at TIME
 *   withdrawn            WITHDRAW at TIME; with type "*": OBJECT (an
 *                        objection to all marketing)
 *   suppressed           with email "@DOMAIN" and type "*": SUPPRESS_DOMAIN
 * With the optional columns granted, confirmed, withdrawn (as `export`
 * writes them), a record is replayed so that it ends exactly as exported:
 *   granted/pending row: [WITHDRAW at withdrawn], GRANT at TIME (granted
 *     must be empty or equal TIME), [CONFIRM at confirmed; when confirmed
 *     is before TIME: GRANT and CONFIRM at confirmed, then GRANT at TIME];
 *   withdrawn row: [GRANT at granted, CONFIRM at confirmed (as above)],
 *     WITHDRAW at TIME (withdrawn must be empty or equal TIME).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sysexits.h>
#include <unistd.h>

#include "../core/rules.h"
#include "../core/runsort.h"
#include "../core/timefmt.h"
#include "cmd.h"
#include "diag.h"
#include "parse.h"
#include "progress.h"
#include "rows.h"

#define MAX_EVENTS_PER_ROW 5
#define BATCH_DEFAULT 100000
#define BATCH_MAX 1000000

enum { O_FORMAT = 256, O_DRY_RUN, O_SKIP, O_BATCH };

/* A batch of events and the line of each. */
typedef struct slot {
	cm_batch *b;
	unsigned long *lines;
	size_t nb;
	bool full;		/* handed over to be applied */
} slot;

typedef struct imp {
	ctl_ctx *c;
	const char *name;	/* for messages: FILE or "stdin" */
	int fd;
	ctl_fmt fmt;
	bool dry, skip;
	size_t batch_max;
	uint64_t total;		/* octets, for the ETA */
	uint64_t rows, invalid;
	uint64_t applied, stale, events;
	cm_import *ses;		/* the import's transaction */
	cm_runsort *sp;		/* the events of a file of many batches */
	bool direct;		/* a file of one batch: applied as read */
	bool quiet;		/* bad rows were listed by an earlier pass */
	/*
	 * A reader thread reads and checks rows into one slot while this
	 * thread, which owns the import transaction, applies the other.
	 * mu and cv guard the slots' full flags, stop and reader_done.
	 */
	slot slots[2];
	slot *cur;		/* the slot the reader fills */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;		/* applying failed: the reader stops */
	bool reader_done;	/* the reader handed over its last slot */
	int reader_rc;
	bool memstats;		/* CONSENTCTL_MEMSTATS set: report memory */
	int64_t now;		/* rows dated after now + the skew are bad */
	cm_rules_opts rules;
	unsigned long anon_peak_kib;
} imp;

typedef struct prep {
	cm_addr addr;
	char domain[CM_ADDR_DOMAIN_MAX + 1];
	const char *f[CTL_F_COUNT];	/* the row's fields (NUL-terminated) */
	cm_event ev[MAX_EVENTS_PER_ROW];
	size_t nev;
} prep;

static const char import_help[] =
"usage: consentctl [-c FILE | -d DBDIR] import FILE|- [--format csv|jsonl|yaml]\n"
"           [--dry-run] [--skip-invalid] [--batch N]\n"
"\n"
"Import consent rows from FILE (- = standard input; then --format is\n"
"required).  The format follows the extension (.csv, .jsonl/.ndjson,\n"
".yaml/.yml) unless --format is given.\n"
"\n"
"CSV: the header line is exactly\n"
"    email,type,state,time,source,basis,purpose,evidence\n"
"optionally followed by ,granted,confirmed,withdrawn (as export writes\n"
"it); RFC 4180 quoting (fields may contain commas, quotes, newlines).\n"
"JSON Lines: one object per line with those keys; YAML: a list of\n"
"mappings with those keys.  email, type, state and time are required;\n"
"empty or null values mean none.\n"
"\n"
"  state      granted | pending | confirmed (granted and confirmed) |\n"
"             withdrawn; type * with withdrawn = objection to all\n"
"             marketing; email @DOMAIN, type *, state suppressed = domain\n"
"             suppression\n"
"  time       RFC 3339, when it happened (the newer event wins: a row\n"
"             older than the stored state is counted as stale, not applied)\n"
"  granted, confirmed, withdrawn   optional times; with them a record is\n"
"             restored exactly as export wrote it\n"
"\n"
"With a configuration every type must be one of its newsletters.  The\n"
"import is all or nothing: the file is applied in one transaction, and a\n"
"bad row stops the import with FILE:LINE: reason and changes nothing.\n"
"Rows are read in batches of N events (default 100000), so that memory\n"
"does not grow with the file; a file of more than one batch is sorted\n"
"through a temporary file in $TMPDIR (default /tmp) and applied in the\n"
"order of the index's keys.  Other changes to the index\n"
"wait until the import ends; the milter goes on reading the index as it\n"
"was until then.\n"
"  --dry-run       validate every row, list the bad ones, change nothing\n"
"  --skip-invalid  list and count bad rows, import the others\n"
"On a terminal a progress line (rows/s, ETA) is shown on stderr.  The\n"
"summary counts rows read, valid and invalid, and events applied and\n"
"stale.  Only init and import create an index.\n";

static bool
perr(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
perr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return false;
}

/* A time field: required or optional; *US = 0 when absent.  A time
 * later than now plus the allowed clock skew is refused, as the index
 * would refuse it (rules.h). */
static bool
row_time(const imp *im, const ctl_row *row, ctl_field f, bool required,
    int64_t *us, char *err, size_t errsz)
{
	char a[CM_TIME_BUFSZ], l[CM_TIME_BUFSZ];
	int64_t limit;
	cm_status st;

	*us = 0;
	if (row->v[f] == NULL) {
		if (required)
			return perr(err, errsz, "%s: missing (an RFC 3339 "
			    "time is required)", ctl_rows_field_name(f));
		return true;
	}
	st = cm_time_parse(row->v[f], row->len[f], us);
	if (st != CM_OK)
		return perr(err, errsz, "%s '%.*s': %s",
		    ctl_rows_field_name(f), (int)(row->len[f] > 64 ? 64 :
		    row->len[f]), row->v[f], cm_strerror(st));
	if (!cm_rules_time_ok(*us, im->now, &im->rules, &limit))
		return perr(err, errsz, "%s %s: later than %s (now plus the "
		    "allowed clock skew of %lld s): %s",
		    ctl_rows_field_name(f), cm_time_format(*us, a),
		    cm_time_format(limit, l), (long long)((im->rules.skew_us >
		    0 ? im->rules.skew_us : CM_RULES_SKEW_DEFAULT) / 1000000),
		    cm_strerror(CM_EFUTURE));
	return true;
}

static void
add_ev(imp *im, prep *p, cm_event_kind kind, const char *type,
    cm_state state, int64_t at)
{
	cm_event *ev = &p->ev[p->nev++];

	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->addr = p->domain[0] != '\0' ? p->domain : p->addr.key;
	ev->type = type;
	ev->state = state;
	ev->at_us = at;
	ev->source = p->f[CTL_F_SOURCE];
	ev->basis = p->f[CTL_F_BASIS];
	ev->purpose = p->f[CTL_F_PURPOSE];
	ev->evidence = p->f[CTL_F_EVIDENCE];
	ev->actor = im->c->actor;
}

/* Events that set the grant G with confirmation C (C may be 0). */
static void
add_grant(imp *im, prep *p, const char *type, cm_state state, int64_t g,
    int64_t conf)
{
	if (conf != 0 && conf < g) {
		add_ev(im, p, CM_EV_GRANT, type, CM_STATE_GRANTED, conf);
		add_ev(im, p, CM_EV_CONFIRM, type, CM_STATE_NONE, conf);
		add_ev(im, p, CM_EV_GRANT, type, CM_STATE_GRANTED, g);
		return;
	}
	add_ev(im, p, CM_EV_GRANT, type, state, g);
	if (conf != 0)
		add_ev(im, p, CM_EV_CONFIRM, type, CM_STATE_NONE, conf);
}

/*
 * Validate ROW and turn it into events in *P.  Returns false with the
 * reason in ERR.
 */
static bool
prepare(imp *im, const ctl_row *row, prep *p, char *err, size_t errsz)
{
	ctl_ctx *c = im->c;
	const char *type, *state;
	int64_t t, g, conf, w;
	bool extra;
	cm_status st;

	p->nev = 0;
	p->domain[0] = '\0';
	memset(p->f, 0, sizeof(p->f));
	for (int i = 0; i < CTL_F_COUNT; i++) {
		if (row->v[i] == NULL)
			continue;
		if (!ctl_parse_utf8(row->v[i], row->len[i]))
			return perr(err, errsz, "%s: not valid UTF-8 (or a NUL "
			    "octet)", ctl_rows_field_name((ctl_field)i));
		if (i >= CTL_F_SOURCE && i <= CTL_F_EVIDENCE &&
		    row->len[i] > CM_FIELD_MAX)
			return perr(err, errsz, "%s: longer than %d octets",
			    ctl_rows_field_name((ctl_field)i), CM_FIELD_MAX);
		p->f[i] = row->v[i];	/* NUL-terminated, no NUL inside */
	}
	if (p->f[CTL_F_EMAIL] == NULL)
		return perr(err, errsz, "email: missing");
	if (p->f[CTL_F_TYPE] == NULL)
		return perr(err, errsz, "type: missing");
	if (p->f[CTL_F_STATE] == NULL)
		return perr(err, errsz, "state: missing");
	type = p->f[CTL_F_TYPE];
	state = p->f[CTL_F_STATE];
	if (!row_time(im, row, CTL_F_TIME, true, &t, err, errsz) ||
	    !row_time(im, row, CTL_F_GRANTED, false, &g, err, errsz) ||
	    !row_time(im, row, CTL_F_CONFIRMED, false, &conf, err, errsz) ||
	    !row_time(im, row, CTL_F_WITHDRAWN, false, &w, err, errsz))
		return false;
	extra = g != 0 || conf != 0 || w != 0;

	/* domain suppression */
	if (p->f[CTL_F_EMAIL][0] == '@') {
		size_t dl;

		if (strcmp(type, "*") != 0 || strcmp(state, "suppressed") != 0)
			return perr(err, errsz, "email '%s': a domain row "
			    "needs type '*' and state 'suppressed'",
			    p->f[CTL_F_EMAIL]);
		if (extra)
			return perr(err, errsz, "a domain row has no "
			    "granted/confirmed/withdrawn times");
		st = cm_addr_normalize_domain(p->f[CTL_F_EMAIL] + 1,
		    strlen(p->f[CTL_F_EMAIL] + 1), p->domain, &dl);
		if (st != CM_OK)
			return perr(err, errsz, "email '%s': %s",
			    p->f[CTL_F_EMAIL], cm_strerror(st));
		add_ev(im, p, CM_EV_SUPPRESS_DOMAIN, NULL, CM_STATE_NONE, t);
		return true;
	}
	st = cm_addr_normalize(p->f[CTL_F_EMAIL], strlen(p->f[CTL_F_EMAIL]),
	    &c->addr_opts, &p->addr);
	if (st != CM_OK)
		return perr(err, errsz, "email '%.*s': %s",
		    (int)(strlen(p->f[CTL_F_EMAIL]) > 80 ? 80 :
		    strlen(p->f[CTL_F_EMAIL])), p->f[CTL_F_EMAIL],
		    cm_strerror(st));

	if (strcmp(type, "*") == 0) {
		if (strcmp(state, "withdrawn") != 0)
			return perr(err, errsz, "type '*' (all marketing) only "
			    "with state 'withdrawn' (an objection), not "
			    "'%s'", state);
		if (extra)
			return perr(err, errsz, "an objection row has no "
			    "granted/confirmed/withdrawn times");
		add_ev(im, p, CM_EV_OBJECT, NULL, CM_STATE_NONE, t);
		return true;
	}
	if (c->policy != NULL) {
		if (cm_policy_find_type(c->policy, type) == NULL)
			return perr(err, errsz, "type '%.64s': not a "
			    "newsletter of %s", type, c->config_path);
	} else if (!ctl_parse_type_id(type, strlen(type))) {
		return perr(err, errsz, "type '%.64s': invalid id (expected "
		    "[a-z0-9._-], 1 to %d characters, or '*')", type,
		    CM_TYPE_ID_MAX);
	}

	if (strcmp(state, "granted") == 0 || strcmp(state, "pending") == 0 ||
	    strcmp(state, "confirmed") == 0) {
		bool pending = state[0] == 'p';

		if (state[0] == 'c' && conf == 0)
			conf = t;
		if (g != 0 && g != t)
			return perr(err, errsz, "granted must be empty or equal "
			    "time for a %s row", state);
		if (pending && conf != 0)
			return perr(err, errsz, "a pending row cannot have a "
			    "confirmed time");
		if (w != 0 && w >= t)
			return perr(err, errsz, "withdrawn must be before time "
			    "for a %s row", state);
		if (conf != 0 && w != 0 && conf <= w)
			return perr(err, errsz, "confirmed must be after "
			    "withdrawn for a %s row", state);
		if (w != 0)
			add_ev(im, p, CM_EV_WITHDRAW, type, CM_STATE_NONE, w);
		add_grant(im, p, type, pending ? CM_STATE_PENDING :
		    CM_STATE_GRANTED, t, conf);
		return true;
	}
	if (strcmp(state, "withdrawn") == 0) {
		if (w != 0 && w != t)
			return perr(err, errsz, "withdrawn must be empty or "
			    "equal time for a withdrawn row");
		if (g != 0 && g > t)
			return perr(err, errsz, "granted must not be after "
			    "time for a withdrawn row");
		if (conf != 0 && g == 0)
			return perr(err, errsz, "confirmed needs granted");
		if (g != 0)
			add_grant(im, p, type, CM_STATE_GRANTED, g, conf);
		add_ev(im, p, CM_EV_WITHDRAW, type, CM_STATE_NONE, t);
		return true;
	}
	return perr(err, errsz, "state '%.32s': expected granted, pending, "
	    "confirmed or withdrawn", state);
}

/* KiB of the /proc/self/status line KEY ("RssAnon:", "VmHWM:"), 0 if
 * unknown. */
static unsigned long
proc_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long v = 0;
	size_t kl = strlen(key);

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, kl) == 0) {
			v = strtoul(line + kl, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void
sample_memory(imp *im)
{
	unsigned long a;

	if (im->memstats && (a = proc_kib("RssAnon:")) > im->anon_peak_kib)
		im->anon_peak_kib = a;
}

/* after CM_EFULL: the map was grown, read the file again */
#define RC_AGAIN (-1)
/* the reader stops because applying failed (and said why) */
#define RC_STOP (-2)

static slot *
other(imp *im, slot *s)
{
	return s == &im->slots[0] ? &im->slots[1] : &im->slots[0];
}

/* Apply the events of slot S to the import; 0, RC_AGAIN or an exit
 * code.  S is empty afterwards. */
static int
flush(imp *im, slot *s)
{
	cm_batch_result res;
	cm_status st;

	if (s->nb == 0)
		return 0;
	memset(&res, 0, sizeof(res));
	st = cm_import_apply(im->ses, s->b, &res);
	if (st == CM_EFULL)
		return RC_AGAIN;
	if (st != CM_OK) {
		unsigned long line = res.failed_at < s->nb ?
		    s->lines[res.failed_at] : 0;

		if (st == CM_EDB || st == CM_EFUTURE)
			ctl_diag_err("%s:%lu: cannot apply: %s (%s)", im->name,
			    line, cm_strerror(st),
			    cm_index_last_error(im->c->idx));
		else
			ctl_diag_err("%s:%lu: cannot apply: %s", im->name,
			    line, cm_strerror(st));
		ctl_diag_err("%s: nothing imported", im->name);
		return ctl_diag_exit(st);
	}
	im->applied += res.applied;
	im->stale += res.stale;
	sample_memory(im);
	cm_batch_clear(s->b);
	s->nb = 0;
	return 0;
}

/* Reader: hand the current slot over to be applied and go on with the
 * other one once it is free.  0 or RC_STOP. */
static int
hand_over(imp *im)
{
	slot *next = other(im, im->cur);
	bool stop;

	if (im->cur->nb == 0)
		return 0;
	pthread_mutex_lock(&im->mu);
	im->cur->full = true;
	pthread_cond_broadcast(&im->cv);
	while (next->full && !im->stop)
		pthread_cond_wait(&im->cv, &im->mu);
	stop = im->stop;
	pthread_mutex_unlock(&im->mu);
	if (stop)
		return RC_STOP;
	im->cur = next;
	return 0;
}

/*
 * One pass over the file: validate every row and, unless this is a dry
 * run, add its events to the reader's slot, handing full slots over to
 * be applied.  Bad rows are listed (except when im->quiet: listed by an
 * earlier pass) and, without --skip-invalid, end the pass.  Returns 0,
 * RC_STOP or an exit code.
 */
static int
pass(imp *im)
{
	ctl_rows *r;
	ctl_row row;
	ctl_progress pg;
	char err[700], msg[600], label[300];
	int rc = 0;
	uint64_t n = 0;
	if (lseek(im->fd, 0, SEEK_SET) != 0) {
		ctl_diag_err("%s: cannot rewind: %s", im->name,
		    strerror(errno));
		return EX_IOERR;
	}
	if ((r = ctl_rows_open(im->fd, im->fmt)) == NULL) {
		ctl_diag_err("%s: %s", im->name, cm_strerror(CM_ENOMEM));
		return EX_OSERR;
	}
	snprintf(label, sizeof(label), "import %s", im->name);
	ctl_progress_start(&pg, label, im->total);
	im->rows = im->invalid = im->events = 0;
	for (;;) {
		ctl_rows_res res = ctl_rows_next(r, &row);
		prep p;
		bool ok;

		if (res == CTL_ROWS_EOF)
			break;
		if (res == CTL_ROWS_FATAL) {
			ctl_progress_end(&pg);
			ctl_diag_err("%s:%s", im->name, ctl_rows_error(r));
			if (!im->dry)
				ctl_diag_err("%s: nothing imported", im->name);
			rc = strstr(ctl_rows_error(r), "read error") != NULL ?
			    EX_IOERR : EX_DATAERR;
			break;
		}
		n++;
		if (res == CTL_ROWS_BAD) {
			ok = false;
			snprintf(err, sizeof(err), "%s", ctl_rows_error(r));
		} else {
			ok = prepare(im, &row, &p, msg, sizeof(msg));
			if (!ok)
				snprintf(err, sizeof(err), "%lu: %s", row.line,
				    msg);
		}
		if (!ok) {
			im->invalid++;
			if (!im->quiet) {
				ctl_progress_end(&pg);
				ctl_diag_err("%s:%s%s", im->name, err,
				    im->skip ? " (skipped)" : "");
			}
			if (!im->skip && !im->dry) {
				ctl_diag_err("%s: nothing imported", im->name);
				rc = EX_DATAERR;
				break;
			}
			continue;
		}
		if (!im->dry) {
			slot *s = im->cur;
			cm_status st = CM_OK;

			for (size_t i = 0; i < p.nev && st == CM_OK; i++) {
				st = cm_batch_add(s->b, &p.ev[i]);
				if (st == CM_OK)
					s->lines[s->nb++] = row.line;
			}
			if (st != CM_OK) {
				ctl_progress_end(&pg);
				ctl_diag_err("%s:%lu: %s", im->name, row.line,
				    cm_strerror(st));
				ctl_diag_err("%s: nothing imported", im->name);
				rc = ctl_diag_exit(st);
				break;
			}
			im->events += p.nev;
			if (s->nb + MAX_EVENTS_PER_ROW > im->batch_max &&
			    (rc = hand_over(im)) != 0)
				break;
		}
		ctl_progress_tick(&pg, n, ctl_rows_offset(r));
	}
	if (rc == 0 && !im->dry)
		rc = hand_over(im);
	ctl_progress_end(&pg);
	im->rows = n;
	ctl_rows_close(r);
	return rc;
}

/* Sort the events of slot S into runs. */
static int
sort_slot(imp *im, slot *s)
{
	cm_status st = cm_runsort_add(im->sp, s->b, s->lines);

	if (st != CM_OK) {
		ctl_diag_err("%s: cannot sort the events: %s%s%s", im->name,
		    cm_strerror(st), *cm_runsort_error(im->sp) ? ": " : "",
		    cm_runsort_error(im->sp));
		ctl_diag_err("%s: nothing imported", im->name);
		return ctl_diag_exit(st);
	}
	cm_batch_clear(s->b);
	s->nb = 0;
	return 0;
}

/*
 * Reading: take slot S, the next the reader handed over.  A file of one
 * batch is applied as it is; the batches of a longer one go into the
 * runs, to be applied in key order over the whole file once it has
 * been read.
 */
static int
take(imp *im, slot *s)
{
	if (im->sp == NULL && !im->direct) {
		bool more;
		cm_status st;

		pthread_mutex_lock(&im->mu);
		while (!other(im, s)->full && !im->reader_done)
			pthread_cond_wait(&im->cv, &im->mu);
		more = other(im, s)->full;
		pthread_mutex_unlock(&im->mu);
		if (!more) {
			im->direct = true;
		} else if ((st = cm_runsort_new(im->c->idx, NULL, &im->sp)) !=
		    CM_OK) {
			ctl_diag_err("%s: cannot create a temporary file: %s",
			    im->name, st == CM_EIO ? strerror(errno) :
			    cm_strerror(st));
			ctl_diag_err("%s: nothing imported", im->name);
			return st == CM_EIO ? EX_CANTCREAT : ctl_diag_exit(st);
		}
	}
	return im->direct ? flush(im, s) : sort_slot(im, s);
}

/* Take the slots in the order the producer (reader or merger) hands them
 * over, with FN, until it is done.  0, RC_AGAIN or an exit code. */
static int
consume(imp *im, int (*fn)(imp *, slot *))
{
	slot *s = &im->slots[0];
	int rc = 0;

	for (;;) {
		pthread_mutex_lock(&im->mu);
		while (!s->full && !im->reader_done)
			pthread_cond_wait(&im->cv, &im->mu);
		if (!s->full) {
			pthread_mutex_unlock(&im->mu);
			return 0;
		}
		pthread_mutex_unlock(&im->mu);
		rc = fn(im, s);
		pthread_mutex_lock(&im->mu);
		s->full = false;
		if (rc != 0)
			im->stop = true;
		pthread_cond_broadcast(&im->cv);
		pthread_mutex_unlock(&im->mu);
		if (rc != 0)
			return rc;
		s = other(im, s);
	}
}

/* Merger: the sorted events, in key order, into the slots.  0, RC_STOP
 * or an exit code. */
static int
merge(imp *im)
{
	ctl_progress pg;
	char label[300];
	uint64_t done = 0;
	int rc = 0;

	snprintf(label, sizeof(label), "import %s (applying)", im->name);
	ctl_progress_start(&pg, label, cm_runsort_events(im->sp));
	for (;;) {
		slot *s = im->cur;
		size_t n;
		cm_status st = cm_runsort_next(im->sp, s->b, im->batch_max,
		    s->lines, &n);

		if (st != CM_OK) {
			ctl_progress_end(&pg);
			ctl_diag_err("%s: cannot read the sorted events back: "
			    "%s%s%s", im->name, cm_strerror(st),
			    *cm_runsort_error(im->sp) ? ": " : "",
			    cm_runsort_error(im->sp));
			ctl_diag_err("%s: nothing imported", im->name);
			rc = ctl_diag_exit(st);
			break;
		}
		if (n == 0)
			break;
		s->nb = n;
		if ((rc = hand_over(im)) != 0)
			break;
		done += n;
		ctl_progress_tick(&pg, done, done);
	}
	ctl_progress_end(&pg);
	return rc;
}

/* Run FN (pass or merge) on its own thread, as the producer of slots. */
typedef struct producer {
	imp *im;
	int (*fn)(imp *);
} producer;

static void *
producer_main(void *arg)
{
	producer *p = arg;
	imp *im = p->im;
	int rc = p->fn(im);

	pthread_mutex_lock(&im->mu);
	im->reader_rc = rc;
	im->reader_done = true;
	pthread_cond_broadcast(&im->cv);
	pthread_mutex_unlock(&im->mu);
	return NULL;
}

/* Empty slots, a producer running FN, this thread consuming with TAKE.
 * 0, RC_AGAIN or an exit code. */
static int
pipeline(imp *im, int (*fn)(imp *), int (*take_fn)(imp *, slot *))
{
	producer p = { im, fn };
	pthread_t th;
	int arc;

	im->stop = im->reader_done = false;
	im->reader_rc = 0;
	for (int i = 0; i < 2; i++) {
		cm_batch_clear(im->slots[i].b);
		im->slots[i].nb = 0;
		im->slots[i].full = false;
	}
	im->cur = &im->slots[0];
	if ((errno = pthread_create(&th, NULL, producer_main, &p)) != 0) {
		ctl_diag_err("%s: cannot start a thread: %s", im->name,
		    strerror(errno));
		return EX_OSERR;
	}
	arc = consume(im, take_fn);
	pthread_join(th, NULL);
	return arc != 0 ? arc : im->reader_rc;
}

/*
 * What the file adds to the index, for cm_index_import_begin (which also
 * allocates room for copies of the pages the import changes, up to 64
 * times this, at most twice the index in use).  An event stores its
 * strings twice (the record and its history event) plus some 190 octets
 * of keys, headers and B-tree slack (measured: 200,000 CSV rows of 122
 * octets, 24.4 MB, make 61 MiB of a new index; the estimate is 87 MB),
 * so: twice the file, 192 octets a row, 256 KiB for the tree's upper
 * pages.  Rows are counted as lines (a YAML record spans about 5).  The
 * former 4 x the file + 16 MiB, times 64 for the copies, asked a 1 GB
 * index for 1 GB of free disk to import one row.  Too little is safe:
 * the map fills, is grown, and the file is read again.
 */
static size_t
estimate_reserve(imp *im)
{
	static char buf[1 << 16];
	uint64_t lines = 0, off = 0;
	ssize_t n;

	while ((n = pread(im->fd, buf, sizeof(buf), (off_t)off)) > 0) {
		for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n -
		    p))) != NULL; p++)
			lines++;
		off += (uint64_t)n;
	}
	if (im->fmt == CTL_FMT_YAML)
		lines /= 5;
	lines++;
	if (im->total > SIZE_MAX / 8 || lines > SIZE_MAX / 1024)
		return SIZE_MAX / 4;
	return (size_t)(2 * im->total + 192 * lines) + (256u << 10);
}

/* The import could not begin: say why, and for a full disk how much it
 * asked for and how much the file system has. */
static int
begin_failed(imp *im, cm_status s)
{
	cm_index *idx = im->c->idx;
	struct statvfs vfs;

	ctl_diag_err("%s: cannot begin the import: %s (%s)", im->name,
	    cm_strerror(s), cm_index_last_error(idx));
	if (s == CM_EIO && statvfs(im->c->db_dir, &vfs) == 0)
		ctl_diag_err("%s: nothing imported: %s has %.1f MiB "
		    "available", im->name, im->c->db_dir,
		    (double)vfs.f_bavail * (double)vfs.f_frsize / 1048576.0);
	return ctl_diag_exit(s);
}

/*
 * Import the file in one transaction of the index: all or nothing.  The
 * map is grown up front for what the file may add (it cannot grow while
 * the transaction is open); should it fill up anyway, the file is read
 * again into the grown map.  Returns 0 or an exit code.
 */
static int
import_all(imp *im)
{
	cm_index *idx = im->c->idx;
	size_t reserve = estimate_reserve(im);
	cm_status s;
	int rc = EX_SOFTWARE;

	for (int attempt = 0; attempt < 4; attempt++) {
		if ((s = cm_index_import_begin(idx, reserve, &im->ses)) !=
		    CM_OK)
			return begin_failed(im, s);
		im->quiet = attempt > 0;
		im->applied = im->stale = 0;
		im->direct = false;
		rc = pipeline(im, pass, take);
		if (rc == 0 && im->sp != NULL)
			rc = pipeline(im, merge, flush);
		cm_runsort_free(im->sp);
		im->sp = NULL;
		if (rc != 0) {
			cm_import_abort(im->ses);
			im->ses = NULL;
			if (rc == RC_AGAIN)
				continue;
			return rc;
		}
		s = cm_import_commit(im->ses);
		im->ses = NULL;
		if (s == CM_OK)
			return 0;
		if (s == CM_EFULL)
			continue;
		ctl_diag_err("%s: cannot commit: %s (%s)", im->name,
		    cm_strerror(s), cm_index_last_error(idx));
		ctl_diag_err("%s: nothing imported", im->name);
		return ctl_diag_exit(s);
	}
	ctl_diag_err("%s: the index map keeps filling up (%s); nothing "
	    "imported", im->name, cm_index_last_error(idx));
	return EX_CANTCREAT;
}

/*
 * The index is written through a writable map (bulk mode): should the
 * file system fail a page the import writes (disk full beyond what was
 * allocated up front, an I/O error), the kernel sends SIGBUS.  The
 * transaction has not been committed, so nothing is imported: say so and
 * exit instead of dying without a word.
 */
static void
on_sigbus(int sig)
{
	static const char msg[] = "consentctl: import: the index file could "
	    "not be written (disk full or I/O error); nothing imported\n";
	ssize_t w;

	(void)sig;
	w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)w;
	_exit(EX_IOERR);
}

/* Copy standard input (or another stream) into an unlinked temp file. */
static int
copy_to_tempfile(imp *im, int in)
{
	const char *dir = getenv("TMPDIR");
	char path[4096], buf[65536];
	int fd;
	ssize_t n;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	snprintf(path, sizeof(path), "%s/consentctl-import.XXXXXX", dir);
	if ((fd = mkstemp(path)) < 0) {
		ctl_diag_err("%s: cannot create a temporary file: %s", path,
		    strerror(errno));
		return EX_CANTCREAT;
	}
	unlink(path);
	for (;;) {
		n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ctl_diag_err("%s: read error: %s", im->name,
			    strerror(errno));
			close(fd);
			return EX_IOERR;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				ctl_diag_err("%s: write error on the temporary "
				    "file: %s", dir, strerror(errno));
				close(fd);
				return EX_IOERR;
			}
			off += w;
		}
		im->total += (uint64_t)n;
	}
	im->fd = fd;
	return 0;
}

int
ctl_cmd_import(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, O_FORMAT },
		{ "dry-run", no_argument, NULL, O_DRY_RUN },
		{ "skip-invalid", no_argument, NULL, O_SKIP },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	imp im;
	const char *path;
	bool have_fmt = false;
	struct stat sb;
	int ch, rc, in;

	memset(&im, 0, sizeof(im));
	im.c = c;
	im.memstats = getenv("CONSENTCTL_MEMSTATS") != NULL;
	im.batch_max = BATCH_DEFAULT;
	im.fd = -1;
	pthread_mutex_init(&im.mu, NULL);
	pthread_cond_init(&im.cv, NULL);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			return ctl_cmd_help(import_help);
		case O_FORMAT:
			if (!ctl_rows_fmt_parse(optarg, &im.fmt))
				return ctl_cmd_usage("import", "--format '%s': "
				    "csv, jsonl or yaml expected", optarg);
			have_fmt = true;
			break;
		case O_DRY_RUN:
			im.dry = true;
			break;
		case O_SKIP:
			im.skip = true;
			break;
		case O_BATCH:
			if (!ctl_parse_count(optarg, BATCH_MAX, &im.batch_max))
				return ctl_cmd_usage("import", "--batch '%s': a "
				    "count from 1 to %d expected", optarg,
				    BATCH_MAX);
			break;
		default:
			return ctl_cmd_usage("import", "invalid option");
		}
	}
	if (argc - optind != 1)
		return ctl_cmd_usage("import", "FILE (or - for standard input) "
		    "expected");
	path = argv[optind];
	if (im.batch_max < MAX_EVENTS_PER_ROW)
		im.batch_max = MAX_EVENTS_PER_ROW;
	if (strcmp(path, "-") == 0) {
		if (!have_fmt)
			return ctl_cmd_usage("import", "standard input needs "
			    "--format csv, jsonl or yaml");
		im.name = "stdin";
		in = STDIN_FILENO;
	} else {
		im.name = path;
		if (!have_fmt && !ctl_rows_fmt_from_name(path, &im.fmt))
			return ctl_cmd_usage("import", "%s: unknown extension "
			    "(use .csv, .jsonl or .yaml, or --format)", path);
		if ((in = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			int e = errno;

			ctl_diag_err("%s: cannot open: %s", path, strerror(e));
			return e == ENOENT ? EX_NOINPUT : e == EACCES ?
			    EX_NOPERM : EX_IOERR;
		}
	}
	if ((rc = ctl_ctx_load_policy(c)) != 0)
		goto out;
	im.now = cm_time_now();
	im.rules.skew_us = ctl_ctx_clock_skew(c);
	if (fstat(in, &sb) == 0 && S_ISREG(sb.st_mode)) {
		im.fd = in;
		im.total = (uint64_t)sb.st_size;
	} else if ((rc = copy_to_tempfile(&im, in)) != 0) {
		goto out;
	}

	if (im.dry) {
		if ((rc = pass(&im)) != 0)
			goto out;
		printf("%s: %llu rows read, %llu valid, %llu invalid (dry run: "
		    "nothing changed)\n", im.name,
		    (unsigned long long)im.rows,
		    (unsigned long long)(im.rows - im.invalid),
		    (unsigned long long)im.invalid);
		rc = im.invalid > 0 && !im.skip ? EX_DATAERR : 0;
		goto out;
	}
	if ((rc = ctl_ctx_open(c, CTL_OPEN_IMPORT)) != 0)
		goto out;
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_sigbus;
		sigemptyset(&sa.sa_mask);
		(void)sigaction(SIGBUS, &sa, NULL);
	}
	for (int i = 0; i < 2; i++)
		if (cm_batch_new(&im.slots[i].b) != CM_OK ||
		    (im.slots[i].lines = calloc(im.batch_max,
		    sizeof(*im.slots[i].lines))) == NULL) {
			ctl_diag_err("%s", cm_strerror(CM_ENOMEM));
			rc = EX_OSERR;
			goto out;
		}
	if ((rc = import_all(&im)) != 0)
		goto out;
	printf("%s: %llu rows read, %llu valid, %llu invalid; %llu events "
	    "applied, %llu stale (older than the stored state)\n", im.name,
	    (unsigned long long)im.rows,
	    (unsigned long long)(im.rows - im.invalid),
	    (unsigned long long)im.invalid, (unsigned long long)im.applied,
	    (unsigned long long)im.stale);
	if (im.memstats) {
		sample_memory(&im);
		fprintf(stderr, "consentctl: import: peak anonymous memory "
		    "%lu KiB; peak resident set %lu KiB (includes the mapped "
		    "index file)\n", im.anon_peak_kib, proc_kib("VmHWM:"));
	}
out:
	for (int i = 0; i < 2; i++) {
		cm_batch_free(im.slots[i].b);
		free(im.slots[i].lines);
	}
	pthread_cond_destroy(&im.cv);
	pthread_mutex_destroy(&im.mu);
	if (im.fd >= 0 && im.fd != in)
		close(im.fd);
	if (in != STDIN_FILENO)
		close(in);
	return rc;
}
