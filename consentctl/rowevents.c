/*
 * rowevents.c - the rows of an import file as events (rowevents.h).
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "../core/rules.h"
#include "../core/timefmt.h"
#include "diag.h"
#include "parse.h"
#include "progress.h"
#include "rowevents.h"

struct ctl_rowev {
	ctl_ctx *c;
	ctl_rowev_opts o;
	int64_t now;		/* rows dated after now + the skew are bad */
	cm_rules_opts rules;
	bool quiet;		/* bad rows were listed by an earlier pass */
	ctl_rows *r;		/* the pass under way */
	ctl_progress pg;
	char label[300];	/* the progress line's */
	bool eof;
	int rc;			/* exit code of the failure reported */
	ctl_rowev_counts n;
};

typedef struct prep {
	cm_addr addr;
	char domain[CM_ADDR_DOMAIN_MAX + 1];
	const char *f[CTL_F_COUNT];	/* the row's fields (NUL-terminated) */
	cm_event ev[CTL_ROWEV_MAX];
	size_t nev;
} prep;

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
row_time(const ctl_rowev *im, const ctl_row *row, ctl_field f, bool required,
    int64_t *us, char *err, size_t errsz)
{
	char a[CM_TIME_BUFSZ], l[CM_TIME_BUFSZ];
	int64_t limit;
	cm_status st;

	*us = 0;
	if (row->v[f] == NULL) {
		if (required)
			return perr(err, errsz, "%s: missing (an RFC 3339 "
			    "time is required; --time TIME gives one to the "
			    "rows without)", ctl_rows_field_name(f));
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
add_ev(ctl_rowev *im, prep *p, cm_event_kind kind, const char *type,
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
add_grant(ctl_rowev *im, prep *p, const char *type, cm_state state, int64_t g,
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
prepare(ctl_rowev *im, const ctl_row *row, prep *p, char *err, size_t errsz)
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

ctl_rowev *
ctl_rowev_new(ctl_ctx *c, const ctl_rowev_opts *o)
{
	ctl_rowev *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->c = c;
	r->o = *o;
	r->now = cm_time_now();
	r->rules.skew_us = ctl_ctx_clock_skew(c);
	return r;
}

void
ctl_rowev_finish(ctl_rowev *r)
{
	ctl_progress_end(&r->pg);
	if (r->r != NULL) {
		ctl_rows_close(r->r);
		r->r = NULL;
	}
}

void
ctl_rowev_free(ctl_rowev *r)
{
	if (r == NULL)
		return;
	ctl_rowev_finish(r);
	free(r);
}

void
ctl_rowev_counts_get(const ctl_rowev *r, ctl_rowev_counts *out)
{
	*out = r->n;
}

int
ctl_rowev_exit(const ctl_rowev *r)
{
	return r->rc != 0 ? r->rc : EX_SOFTWARE;
}

/* A failure the source reports: exit code RC; the status for the driver. */
static cm_status
stop(ctl_rowev *r, int rc)
{
	ctl_rowev_finish(r);
	r->rc = rc;
	return CM_EINVAL;
}

/* Back to the first row, for pass PASS (bad rows are listed in pass 0
 * only). */
static cm_status
rewind_rows(void *arg, unsigned pass)
{
	ctl_rowev *r = arg;

	ctl_rowev_finish(r);
	r->quiet = pass > 0;
	r->eof = false;
	memset(&r->n, 0, sizeof(r->n));
	if (lseek(r->o.fd, 0, SEEK_SET) != 0) {
		ctl_diag_err("%s: cannot rewind: %s", r->o.name,
		    strerror(errno));
		return stop(r, EX_IOERR);
	}
	if ((r->r = ctl_rows_open_csv(r->o.fd, r->o.fmt, r->o.csv)) ==
	    NULL) {
		ctl_diag_err("%s: %s", r->o.name, cm_strerror(CM_ENOMEM));
		return stop(r, EX_OSERR);
	}
	if (ctl_rows_header(r->r) != CTL_ROWS_ROW) {
		ctl_diag_err("%s:%s", r->o.name, ctl_rows_error(r->r));
		if (!r->o.dry)
			ctl_diag_err("%s: nothing imported", r->o.name);
		return stop(r, strstr(ctl_rows_error(r->r), "read error") !=
		    NULL ? EX_IOERR : EX_DATAERR);
	}
	for (size_t i = 0; !r->quiet && ctl_rows_ignored(r->r, i) != NULL;
	    i++)
		ctl_diag_err("%s: column '%s' ignored", r->o.name,
		    ctl_rows_ignored(r->r, i));
	snprintf(r->label, sizeof(r->label), "import %s", r->o.name);
	ctl_progress_start(&r->pg, r->label, r->o.total);
	return CM_OK;
}

/*
 * Read rows, validate them and, unless B is NULL (a dry run), add their
 * events to B until it may not hold another row's (MAX).  Bad rows are
 * listed (except when r->quiet: listed by an earlier pass) and, without
 * --skip-invalid, end the reading (in a dry run: after all were read).
 */
static cm_status
next_rows(void *arg, cm_batch *b, size_t max, unsigned long *tags,
    size_t *nb)
{
	ctl_rowev *r = arg;
	ctl_row row;
	char err[700], msg[600];

	*nb = 0;
	if (r->eof || r->r == NULL)
		return CM_OK;
	for (;;) {
		ctl_rows_res res = ctl_rows_next(r->r, &row);
		prep p;
		bool ok;

		if (res == CTL_ROWS_EOF)
			break;
		if (res == CTL_ROWS_FATAL) {
			ctl_progress_end(&r->pg);
			ctl_diag_err("%s:%s", r->o.name, ctl_rows_error(r->r));
			if (!r->o.dry)
				ctl_diag_err("%s: nothing imported", r->o.name);
			return stop(r, strstr(ctl_rows_error(r->r),
			    "read error") != NULL ? EX_IOERR : EX_DATAERR);
		}
		r->n.rows++;
		if (res == CTL_ROWS_BAD) {
			ok = false;
			snprintf(err, sizeof(err), "%s", ctl_rows_error(r->r));
		} else {
			ok = prepare(r, &row, &p, msg, sizeof(msg));
			if (!ok)
				snprintf(err, sizeof(err), "%lu: %s", row.line,
				    msg);
		}
		if (!ok) {
			r->n.invalid++;
			if (!r->quiet) {
				ctl_progress_end(&r->pg);
				ctl_diag_err("%s:%s%s", r->o.name, err,
				    r->o.skip ? " (skipped)" : "");
			}
			if (!r->o.skip && !r->o.dry) {
				ctl_diag_err("%s: nothing imported", r->o.name);
				return stop(r, EX_DATAERR);
			}
			continue;
		}
		if (b != NULL) {
			cm_status st = CM_OK;

			for (size_t i = 0; i < p.nev && st == CM_OK; i++) {
				st = cm_batch_add(b, &p.ev[i]);
				if (st == CM_OK)
					tags[(*nb)++] = row.line;
			}
			if (st != CM_OK) {
				ctl_progress_end(&r->pg);
				ctl_diag_err("%s:%lu: %s", r->o.name, row.line,
				    cm_strerror(st));
				ctl_diag_err("%s: nothing imported", r->o.name);
				return stop(r, ctl_diag_exit(st));
			}
			r->n.events += p.nev;
		}
		ctl_progress_tick(&r->pg, r->n.rows, ctl_rows_offset(r->r));
		if (b != NULL && *nb + CTL_ROWEV_MAX > max)
			return CM_OK;
	}
	r->eof = true;
	ctl_rowev_finish(r);
	return CM_OK;
}

int
ctl_rowev_validate(ctl_rowev *r)
{
	size_t n;

	if (rewind_rows(r, 0) != CM_OK || next_rows(r, NULL, 0, NULL, &n) !=
	    CM_OK)
		return r->rc;
	return 0;
}

/* Lines of the file: what the reserve is estimated from (a YAML record
 * spans about 5). */
static uint64_t
count_records(const ctl_rowev *r)
{
	static char buf[1 << 16];
	uint64_t lines = 0, off = 0;
	ssize_t n;

	while ((n = pread(r->o.fd, buf, sizeof(buf), (off_t)off)) > 0) {
		for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n -
		    p))) != NULL; p++)
			lines++;
		off += (uint64_t)n;
	}
	return r->o.fmt == CTL_FMT_YAML ? lines / 5 : lines;
}

void
ctl_rowev_source(ctl_rowev *r, cm_import_source *src)
{
	memset(src, 0, sizeof(*src));
	src->rewind = rewind_rows;
	src->next = next_rows;
	src->arg = r;
	src->octets = r->o.total;
	src->records = count_records(r);
}
