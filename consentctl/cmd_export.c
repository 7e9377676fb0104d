/*
 * cmd_export.c - consentctl export: every record as CSV or JSON Lines, in
 * the format import reads, so that export, import into an empty index and
 * export again give byte-identical output.
 *
 * Order: addresses in octet order of the normalized address (not the
 * index's internal order, which depends on its erasure key), each
 * address's records in type order followed by its objection (type "*"),
 * then the suppressed domains (email "@DOMAIN", type "*", state
 * "suppressed") in domain order.  The rows are written to an unlinked
 * temporary file while the index is read in one consistent snapshot; the
 * sorted list of addresses (about 50 octets per address) is kept in
 * memory.  Addresses are written by cm_addr_format, so a local part that
 * needs quotes is quoted and imports again.  Erased addresses exist only
 * as keyed hashes and are not exported, nor is the history: the lossless
 * backup is `export --full`, the same as `consentctl dump` (cmd_dump.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "../core/timefmt.h"
#include "cmd.h"
#include "diag.h"
#include "dumpfmt.h"
#include "out.h"
#include "rows.h"

enum { O_FORMAT = 256, O_FULL, O_JSON };

static const char export_help[] =
"usage: consentctl [-c FILE | -d DBDIR] export [--format csv|jsonl | --json]\n"
"           [-o FILE]\n"
"       consentctl [-c FILE | -d DBDIR] export --full [-o FILE]\n"
"\n"
"Write every record to standard output (or FILE), default CSV, in the\n"
"format import reads, with three extra columns so that a record is\n"
"restored exactly:\n"
"    email,type,state,time,source,basis,purpose,evidence,granted,confirmed,withdrawn\n"
"state is granted, pending or withdrawn; time is the record's last change;\n"
"granted, confirmed and withdrawn are the times of those events (empty if\n"
"never).  An objection to all marketing is a row with type * and state\n"
"withdrawn; a domain suppression a row with email @DOMAIN, type * and\n"
"state suppressed.  JSON Lines objects have the same keys (null for no\n"
"time).  Rows are sorted by address, so export, import into an empty index\n"
"and export again give identical output.  Times are RFC 3339 UTC.  Erased\n"
"addresses are not exported (only their keyed hashes exist); a local part\n"
"that needs quotes is written quoted (\"john doe\"@example.com).\n"
"\n"
"With --full, write a lossless backup instead (see consentctl(8), BACKUP):\n"
"every record, the whole history, the erasure tombstones and domain\n"
"suppressions, with the index's erasure key, for consentctl restore.\n";

typedef struct spot {
	char *addr;
	off_t off;
	size_t len;
} spot;

typedef struct exp {
	ctl_fmt fmt;
	FILE *tmp;
	spot *spots;
	size_t n, cap;
	bool oom, ioerr;
} exp;

static void
csv_time(FILE *f, int64_t us)
{
	char b[CM_TIME_BUFSZ];

	if (us != 0)
		fputs(cm_time_format(us, b), f);
}

static void
write_row(FILE *f, ctl_fmt fmt, const char *email, const char *type,
    const char *state, int64_t t, const char *const *fields,
    const int64_t *times)
{
	static const char *const fkeys[4] = { "source", "basis", "purpose",
	    "evidence" };
	static const char *const tkeys[3] = { "granted", "confirmed",
	    "withdrawn" };

	if (fmt == CTL_FMT_CSV) {
		ctl_out_csv_field(f, email);
		fputc(',', f);
		ctl_out_csv_field(f, type);
		fputc(',', f);
		fputs(state, f);
		fputc(',', f);
		csv_time(f, t);
		for (int i = 0; i < 4; i++) {
			fputc(',', f);
			ctl_out_csv_field(f, fields[i]);
		}
		for (int i = 0; i < 3; i++) {
			fputc(',', f);
			csv_time(f, times[i]);
		}
		fputc('\n', f);
		return;
	}
	fputs("{\"email\":", f);
	ctl_out_json_str(f, email);
	ctl_out_json_member(f, "type", type);
	fprintf(f, ",\"state\":\"%s\",\"time\":", state);
	ctl_out_json_time(f, t);
	for (int i = 0; i < 4; i++) {
		ctl_out_json_member(f, fkeys[i],
		    fields[i] != NULL ? fields[i] : "");
	}
	for (int i = 0; i < 3; i++) {
		ctl_out_json_member_time(f, tkeys[i], times[i]);
	}
	fputs("}\n", f);
}

static int
entry_cb(const cm_entry *e, void *arg)
{
	static const char *const none[4] = { "", "", "", "" };
	static const int64_t notimes[3] = { 0, 0, 0 };
	exp *x = arg;
	off_t start = ftello(x->tmp);
	char email[CM_ADDR_TEXT_MAX];
	size_t elen;
	spot *s;

	if (start < 0) {
		x->ioerr = true;
		return 1;
	}
	/* quoted again where the local part needs it, so it imports */
	if (cm_addr_format(e->addr, strlen(e->addr), email, sizeof(email),
	    &elen) != CM_OK)
		snprintf(email, sizeof(email), "%s", e->addr);
	for (size_t i = 0; i < e->nrecords; i++) {
		const cm_record *r = &e->records[i];
		const char *fields[4] = { r->source, r->basis, r->purpose,
		    r->evidence };
		int64_t times[3] = { r->granted_us, r->confirmed_us,
		    r->withdrawn_us };

		write_row(x->tmp, x->fmt, email, r->type,
		    cm_state_name(r->state), r->updated_us, fields, times);
	}
	if (e->objection)
		write_row(x->tmp, x->fmt, email, "*", "withdrawn",
		    e->objection_us, none, notimes);
	if (ferror(x->tmp)) {
		x->ioerr = true;
		return 1;
	}
	if (x->n == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 1024;
		spot *ns = realloc(x->spots, nc * sizeof(*ns));

		if (ns == NULL) {
			x->oom = true;
			return 1;
		}
		x->spots = ns;
		x->cap = nc;
	}
	s = &x->spots[x->n];
	if ((s->addr = strdup(e->addr)) == NULL) {
		x->oom = true;
		return 1;
	}
	s->off = start;
	s->len = (size_t)(ftello(x->tmp) - start);
	x->n++;
	return 0;
}

typedef struct dexp {
	ctl_fmt fmt;
	FILE *out;
} dexp;

static int
domain_cb(const char *domain, int64_t since_us, const char *source,
    void *arg)
{
	dexp *d = arg;
	const char *fields[4] = { source, "", "", "" };
	static const int64_t notimes[3] = { 0, 0, 0 };
	char email[CM_ADDR_DOMAIN_MAX + 2];

	snprintf(email, sizeof(email), "@%s", domain);
	write_row(d->out, d->fmt, email, "*", "suppressed", since_us, fields,
	    notimes);
	return ferror(d->out) ? 1 : 0;
}

static int
spot_cmp(const void *a, const void *b)
{
	return strcmp(((const spot *)a)->addr, ((const spot *)b)->addr);
}

int
ctl_cmd_export(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, O_FORMAT },
		{ "full", no_argument, NULL, O_FULL },
		{ "json", no_argument, NULL, O_JSON },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *outpath = NULL, *dir;
	char path[4096], *buf = NULL;
	size_t bufcap = 0;
	FILE *out = stdout;
	exp x;
	dexp d;
	cm_status st;
	int ch, rc = 0, fd;
	bool full = false, fmt_given = false;

	memset(&x, 0, sizeof(x));
	x.fmt = CTL_FMT_CSV;
	while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			return ctl_cmd_help(export_help);
		case 'o':
			outpath = optarg;
			break;
		case O_FULL:
			full = true;
			break;
		case O_JSON:	/* as every command with a list: JSON Lines */
			fmt_given = true;
			x.fmt = CTL_FMT_JSONL;
			break;
		case O_FORMAT:
			fmt_given = true;
			if (!ctl_rows_fmt_parse(optarg, &x.fmt) ||
			    x.fmt == CTL_FMT_YAML)
				return ctl_cmd_usage("export", "--format '%s': "
				    "csv or jsonl expected", optarg);
			break;
		default:
			return ctl_cmd_usage("export", "invalid option");
		}
	}
	if (optind != argc)
		return ctl_cmd_usage("export", "no arguments expected");
	if (full && fmt_given)
		return ctl_cmd_usage("export", "--full writes its own format: "
		    "no --format");
	if (full)
		return ctl_dump_write(c, outpath);
	if ((rc = ctl_ctx_open(c, CTL_OPEN_RO)) != 0)
		return rc;

	dir = getenv("TMPDIR");
	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	snprintf(path, sizeof(path), "%s/consentctl-export.XXXXXX", dir);
	if ((fd = mkstemp(path)) < 0) {
		ctl_diag_err("%s: cannot create a temporary file: %s", path,
		    strerror(errno));
		return EX_CANTCREAT;
	}
	unlink(path);
	if ((x.tmp = fdopen(fd, "w+")) == NULL) {
		close(fd);
		ctl_diag_err("%s", cm_strerror(CM_ENOMEM));
		return EX_OSERR;
	}
	st = cm_index_foreach(c->idx, entry_cb, &x);
	if (st != CM_OK) {
		rc = ctl_cmd_index_error(c, st, "export");
		goto out;
	}
	if (x.oom) {
		ctl_diag_err("export: %s", cm_strerror(CM_ENOMEM));
		rc = EX_OSERR;
		goto out;
	}
	if (x.ioerr || fflush(x.tmp) != 0) {
		ctl_diag_err("%s: write error on the temporary file: %s", dir,
		    strerror(errno));
		rc = EX_IOERR;
		goto out;
	}
	qsort(x.spots, x.n, sizeof(*x.spots), spot_cmp);

	if (outpath != NULL && (out = fopen(outpath, "w")) == NULL) {
		ctl_diag_err("%s: cannot create: %s", outpath,
		    strerror(errno));
		rc = EX_CANTCREAT;
		goto out;
	}
	if (x.fmt == CTL_FMT_CSV)
		fputs("email,type,state,time,source,basis,purpose,evidence,"
		    "granted,confirmed,withdrawn\n", out);
	for (size_t i = 0; i < x.n; i++) {
		spot *s = &x.spots[i];
		ssize_t n;

		if (s->len > bufcap) {
			char *nb = realloc(buf, s->len);

			if (nb == NULL) {
				ctl_diag_err("export: %s",
				    cm_strerror(CM_ENOMEM));
				rc = EX_OSERR;
				goto out;
			}
			buf = nb;
			bufcap = s->len;
		}
		n = pread(fd, buf, s->len, s->off);
		if (n < 0 || (size_t)n != s->len) {
			ctl_diag_err("%s: read error on the temporary file: %s",
			    dir, n < 0 ? strerror(errno) : "short read");
			rc = EX_IOERR;
			goto out;
		}
		fwrite(buf, 1, s->len, out);
		if (ferror(out))
			break;
	}
	d.fmt = x.fmt;
	d.out = out;
	if (!ferror(out) && (st = cm_index_foreach_domain(c->idx, domain_cb,
	    &d)) != CM_OK) {
		rc = ctl_cmd_index_error(c, st, "export domains");
		goto out;
	}
	if (fflush(out) != 0 || ferror(out)) {
		ctl_diag_err("%s: write error: %s", outpath != NULL ? outpath :
		    "standard output", strerror(errno));
		rc = EX_IOERR;
	}
out:
	if (out != stdout && out != NULL && fclose(out) != 0 && rc == 0) {
		ctl_diag_err("%s: write error: %s", outpath, strerror(errno));
		rc = EX_IOERR;
	}
	for (size_t i = 0; i < x.n; i++)
		free(x.spots[i].addr);
	free(x.spots);
	free(buf);
	fclose(x.tmp);
	return rc;
}
