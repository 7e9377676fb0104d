/*
 * cmd_import.c - consentctl import: CSV, JSON Lines or YAML rows into the
 * index, streamed in constant memory, all or nothing.
 *
 * The rows become events in rowevents.c; core's import driver
 * (core/importer.h) applies them in one transaction of the index, sorted
 * through a temporary file when they fill more than one batch of --batch
 * events (default 100000), and grows the map and reads the file again
 * should the map fill up.  This file parses the options, shows the
 * progress of the merge, and names the file and line of a failure.  A
 * bad row, a failure of the index (disk full, I/O error) or a kill ends
 * the transaction before its commit: nothing of the file is imported,
 * and readers see the index as it was until the commit.  The index is
 * opened in bulk mode (writable map).  Standard input and other
 * non-regular files are first copied to an unlinked temporary file (in
 * $TMPDIR, default /tmp), so that the file can be read again.  --dry-run
 * only validates.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sysexits.h>
#include <unistd.h>

#include "../core/importer.h"
#include "../core/timefmt.h"
#include "cmd.h"
#include "diag.h"
#include "parse.h"
#include "progress.h"
#include "rowevents.h"
#include "rows.h"

#define BATCH_DEFAULT 100000
#define BATCH_MAX 1000000

enum {
	O_FORMAT = 256, O_DRY_RUN, O_SKIP, O_BATCH, O_DELIM, O_MAP,
	O_DEF_TYPE, O_DEF_STATE, O_DEF_TIME, O_DEF_SOURCE, O_DEF_BASIS,
	O_DEF_PURPOSE, O_DEF_EVIDENCE,
};

typedef struct imp {
	ctl_ctx *c;
	const char *name;	/* for messages: FILE or "stdin" */
	int fd;
	ctl_fmt fmt;
	bool dry, skip;
	size_t batch_max;
	uint64_t total;		/* octets, for the ETA */
	ctl_progress merge_pg;	/* applying the sorted events */
	char merge_label[300];
	bool memstats;		/* CONSENTCTL_MEMSTATS set: report memory */
	unsigned long anon_peak_kib;
	ctl_rows_csvopts csv;	/* --delimiter, --map, --type, --state... */
} imp;

static const char import_help[] =
"usage: consentctl [-c FILE | -d DBDIR] import FILE|- [--format csv|jsonl|yaml]\n"
"           [--dry-run] [--skip-invalid] [--batch N]\n"
"           [--delimiter ,|;|tab] [--map FIELD=NAME[,...]] [--time TIME]\n"
"           [--type T] [--state S] [--source S] [--basis B] [--purpose P]\n"
"           [--evidence E]\n"
"\n"
"Import consent rows from FILE (- = standard input; then --format is\n"
"required).  The format follows the extension (.csv, .jsonl/.ndjson,\n"
".yaml/.yml) unless --format is given.\n"
"\n"
"CSV: the header line names the columns\n"
"    email,type,state,time,source,basis,purpose,evidence\n"
"and optionally granted,confirmed,withdrawn (as export writes it), in\n"
"any order and case; other columns are ignored (each named once on\n"
"stderr); RFC 4180 quoting (fields may contain commas, quotes, newlines).\n"
"Fields are separated by ',', ';' or a tab, whichever the header line\n"
"uses most (--delimiter gives it).  --map email=E-Mail,type=Newsletter\n"
"reads the column E-Mail as email, and so on (repeatable).  --type,\n"
"--state, --source, --basis, --purpose, --evidence and --time give the\n"
"value of every row without its own (no column, or an empty field).\n"
"email, type, state, time and source must each be a column or given.\n"
"A row is never dated \"now\": a row without a time needs --time TIME.\n"
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

/* The driver's progress: memory after each batch applied, a progress
 * line while the sorted events are merged and applied. */
static void
on_progress(void *arg, cm_importer_phase ph, uint64_t done, uint64_t total)
{
	imp *im = arg;

	if (ph == CM_IMPORTER_APPLIED) {
		sample_memory(im);
		return;
	}
	if (done == 0) {
		ctl_progress_end(&im->merge_pg);
		snprintf(im->merge_label, sizeof(im->merge_label),
		    "import %s (applying)", im->name);
		ctl_progress_start(&im->merge_pg, im->merge_label, total);
	}
	ctl_progress_tick(&im->merge_pg, done, done);
}

/* The import could not begin: say why, and for a full disk how much the
 * file system has. */
static int
begin_failed(imp *im, cm_status s, const char *why)
{
	struct statvfs vfs;

	ctl_diag_err("%s: %s", im->name, why);
	if (s == CM_EIO && statvfs(im->c->db_dir, &vfs) == 0)
		ctl_diag_err("%s: nothing imported: %s has %.1f MiB "
		    "available", im->name, im->c->db_dir,
		    (double)vfs.f_bavail * (double)vfs.f_frsize / 1048576.0);
	return ctl_diag_exit(s);
}

/* The import failed with S: name the file (and line) and say why; the
 * exit code. */
static int
import_failed(imp *im, const cm_importer *d, ctl_rowev *rows, cm_status s)
{
	cm_importer_stage stage;
	unsigned long line;
	const char *why = cm_importer_failure(d, &stage, &line);

	ctl_rowev_finish(rows);
	ctl_progress_end(&im->merge_pg);
	switch (stage) {
	case CM_IMPORTER_SOURCE:
		return ctl_rowev_exit(rows);	/* it said why */
	case CM_IMPORTER_BEGIN:
		return begin_failed(im, s, why);
	case CM_IMPORTER_FULL:
		ctl_diag_err("%s: %s; nothing imported", im->name, why);
		return EX_CANTCREAT;
	case CM_IMPORTER_APPLY:
		ctl_diag_err("%s:%lu: %s", im->name, line, why);
		break;
	default:
		ctl_diag_err("%s: %s", im->name, why);
		break;
	}
	if (stage == CM_IMPORTER_THREAD)
		return EX_OSERR;
	ctl_diag_err("%s: nothing imported", im->name);
	if (stage == CM_IMPORTER_TMPFILE && s == CM_EIO)
		return EX_CANTCREAT;
	return ctl_diag_exit(s);
}

/* Import the file in one transaction of the index: all or nothing. */
static int
import_all(imp *im, ctl_rowev *rows)
{
	cm_importer_opts o;
	cm_import_source src;
	cm_importer_stats st;
	ctl_rowev_counts n;
	cm_importer *d;
	cm_status s;
	int rc = 0;

	memset(&o, 0, sizeof(o));
	o.batch = im->batch_max;
	o.progress = on_progress;
	o.progress_arg = im;
	if (cm_importer_new(im->c->idx, &o, &d) != CM_OK) {
		ctl_diag_err("%s", cm_strerror(CM_ENOMEM));
		return EX_OSERR;
	}
	ctl_rowev_source(rows, &src);
	if ((s = cm_importer_run(d, &src)) != CM_OK) {
		rc = import_failed(im, d, rows, s);
		cm_importer_free(d);
		return rc;
	}
	ctl_progress_end(&im->merge_pg);
	cm_importer_stats_get(d, &st);
	ctl_rowev_counts_get(rows, &n);
	printf("%s: %llu rows read, %llu valid, %llu invalid; %llu events "
	    "applied, %llu stale (older than the stored state)\n", im->name,
	    (unsigned long long)n.rows,
	    (unsigned long long)(n.rows - n.invalid),
	    (unsigned long long)n.invalid, (unsigned long long)st.applied,
	    (unsigned long long)st.stale);
	cm_importer_free(d);
	return 0;
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

/* --map FIELD=NAME[,FIELD=NAME...] into CO (ARG is changed in place:
 * the names point into it).  0 or the exit code after a message. */
static int
parse_map(ctl_rows_csvopts *co, char *arg)
{
	char *save = NULL;

	for (char *it = strtok_r(arg, ",", &save); it != NULL;
	    it = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(it, '=');
		int f;

		if (eq == NULL || eq == it || eq[1] == '\0')
			return ctl_cmd_usage("import", "--map '%s': FIELD=NAME "
			    "expected (e.g. email=E-Mail)", it);
		*eq = '\0';
		for (f = 0; f < CTL_F_COUNT; f++)
			if (strcmp(it, ctl_rows_field_name((ctl_field)f)) == 0)
				break;
		if (f == CTL_F_COUNT)
			return ctl_cmd_usage("import", "--map: unknown field "
			    "'%s' (email, type, state, time, source, basis, "
			    "purpose, evidence, granted, confirmed, withdrawn)",
			    it);
		co->map[f] = eq + 1;
	}
	return 0;
}

static bool
csv_opts_given(const ctl_rows_csvopts *co)
{
	if (co->delim != 0)
		return true;
	for (int f = 0; f < CTL_F_COUNT; f++)
		if (co->map[f] != NULL || co->def[f] != NULL)
			return true;
	return false;
}

int
ctl_cmd_import(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, O_FORMAT },
		{ "dry-run", no_argument, NULL, O_DRY_RUN },
		{ "skip-invalid", no_argument, NULL, O_SKIP },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "delimiter", required_argument, NULL, O_DELIM },
		{ "map", required_argument, NULL, O_MAP },
		{ "type", required_argument, NULL, O_DEF_TYPE },
		{ "state", required_argument, NULL, O_DEF_STATE },
		{ "time", required_argument, NULL, O_DEF_TIME },
		{ "source", required_argument, NULL, O_DEF_SOURCE },
		{ "basis", required_argument, NULL, O_DEF_BASIS },
		{ "purpose", required_argument, NULL, O_DEF_PURPOSE },
		{ "evidence", required_argument, NULL, O_DEF_EVIDENCE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	imp im;
	ctl_rowev_opts ro;
	ctl_rowev *rows = NULL;
	const char *path;
	bool have_fmt = false;
	struct stat sb;
	int ch, rc, in;

	memset(&im, 0, sizeof(im));
	im.c = c;
	im.memstats = getenv("CONSENTCTL_MEMSTATS") != NULL;
	im.batch_max = BATCH_DEFAULT;
	im.fd = -1;
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
		case O_DELIM:
			if (strcmp(optarg, "tab") == 0 ||
			    strcmp(optarg, "\t") == 0)
				im.csv.delim = '\t';
			else if (strcmp(optarg, ",") == 0 ||
			    strcmp(optarg, ";") == 0 || strcmp(optarg, "|") == 0)
				im.csv.delim = optarg[0];
			else
				return ctl_cmd_usage("import", "--delimiter "
				    "'%s': ',', ';', '|' or tab expected",
				    optarg);
			break;
		case O_MAP:
			if ((rc = parse_map(&im.csv, optarg)) != 0)
				return rc;
			break;
		case O_DEF_TIME: {
			int64_t us;
			cm_status st = cm_time_parse(optarg, strlen(optarg),
			    &us);

			if (st != CM_OK) {
				ctl_diag_err("import: --time '%s': %s", optarg,
				    cm_strerror(st));
				return EX_DATAERR;
			}
			im.csv.def[CTL_F_TIME] = optarg;
			break;
		}
		case O_DEF_TYPE: case O_DEF_STATE: case O_DEF_SOURCE:
		case O_DEF_BASIS: case O_DEF_PURPOSE: case O_DEF_EVIDENCE:
			im.csv.def[ch == O_DEF_TYPE ? CTL_F_TYPE :
			    ch == O_DEF_STATE ? CTL_F_STATE :
			    ch == O_DEF_SOURCE ? CTL_F_SOURCE :
			    ch == O_DEF_BASIS ? CTL_F_BASIS :
			    ch == O_DEF_PURPOSE ? CTL_F_PURPOSE :
			    CTL_F_EVIDENCE] = optarg;
			break;
		default:
			return ctl_cmd_usage("import", "invalid option");
		}
	}
	if (argc - optind != 1)
		return ctl_cmd_usage("import", "FILE (or - for standard input) "
		    "expected");
	path = argv[optind];
	if (im.batch_max < CTL_ROWEV_MAX)
		im.batch_max = CTL_ROWEV_MAX;
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
	if (im.fmt != CTL_FMT_CSV && csv_opts_given(&im.csv)) {
		rc = ctl_cmd_usage("import", "%s: --delimiter, --map and the "
		    "column defaults are for CSV files only", im.name);
		goto out;
	}
	if ((rc = ctl_ctx_load_policy(c)) != 0)
		goto out;
	if (fstat(in, &sb) == 0 && S_ISREG(sb.st_mode)) {
		im.fd = in;
		im.total = (uint64_t)sb.st_size;
	} else if ((rc = copy_to_tempfile(&im, in)) != 0) {
		goto out;
	}

	ro.name = im.name;
	ro.fd = im.fd;
	ro.fmt = im.fmt;
	ro.total = im.total;
	ro.skip = im.skip;
	ro.dry = im.dry;
	ro.csv = &im.csv;
	if ((rows = ctl_rowev_new(c, &ro)) == NULL) {
		ctl_diag_err("%s", cm_strerror(CM_ENOMEM));
		rc = EX_OSERR;
		goto out;
	}
	if (im.dry) {
		ctl_rowev_counts n;

		if ((rc = ctl_rowev_validate(rows)) != 0)
			goto out;
		ctl_rowev_counts_get(rows, &n);
		printf("%s: %llu rows read, %llu valid, %llu invalid (dry run: "
		    "nothing changed)\n", im.name,
		    (unsigned long long)n.rows,
		    (unsigned long long)(n.rows - n.invalid),
		    (unsigned long long)n.invalid);
		rc = n.invalid > 0 && !im.skip ? EX_DATAERR : 0;
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
	if ((rc = import_all(&im, rows)) != 0)
		goto out;
	if (im.memstats) {
		sample_memory(&im);
		fprintf(stderr, "consentctl: import: peak anonymous memory "
		    "%lu KiB; peak resident set %lu KiB (includes the mapped "
		    "index file)\n", im.anon_peak_kib, proc_kib("VmHWM:"));
	}
out:
	ctl_rowev_free(rows);
	if (im.fd >= 0 && im.fd != in)
		close(im.fd);
	if (in != STDIN_FILENO)
		close(in);
	return rc;
}
