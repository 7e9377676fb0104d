/*
 * cmd_dump.c - consentctl dump (also `export --full`): a lossless backup
 * of the whole index as JSON Lines, for consentctl restore.
 *
 * The format (version 1), one JSON object a line, in this order:
 *
 *   {"dump":"consent-milter","version":1,"index_format":2,
 *    "next_seq":N,"erasure_key":"64 hex digits"}
 *   {"item":"domain","domain":D,"suppressed":0|1,"since_us":T,
 *    "updated_us":T,"source":S}
 *   {"item":"address","address":A,"objection_us":T,"last_grant_us":T,
 *    "records":N}                       followed by its N records:
 *   {"item":"record","type":ID,"state":"granted","granted_us":T,
 *    "confirmed_us":T,"withdrawn_us":T,"updated_us":T,"source":S,
 *    "basis":S,"purpose":S,"evidence":S}
 *   {"item":"tombstone","hash":"32 hex digits","erased_us":T}
 *   {"item":"event","subject":A|D,"seq":N,"kind":"grant","at_us":T,
 *    "recorded_us":T,"type":ID|"","old":STATE,"new":STATE,"source":S,
 *    "basis":S,"purpose":S,"evidence":S,"actor":S}
 *                                       ("hash" instead of "subject" for
 *                                       history whose subject is gone)
 *   {"item":"end","domains":N,"addresses":N,"records":N,"tombstones":N,
 *    "events":N}
 *
 * Times are integer microseconds since the epoch as stored (0 = never),
 * so nothing is rounded.  Each domain and address is followed by its
 * history.  The order is the index's own (stable for one erasure key),
 * so dumping a restored index gives the same file byte for byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "../core/dump.h"
#include "cmd.h"
#include "diag.h"
#include "dumpfmt.h"
#include "out.h"
#include "parse.h"

static const char dump_help[] =
"usage: consentctl [-c FILE | -d DBDIR] dump [-o FILE]\n"
"       consentctl [-c FILE | -d DBDIR] export --full [-o FILE]\n"
"\n"
"Write a lossless backup of the whole index to standard output (or FILE,\n"
"created with mode 0600): every record, the whole history with its\n"
"sequence numbers and times, every erasure tombstone and every domain,\n"
"as JSON Lines (see consentctl(8), BACKUP).  FILE is replaced only when\n"
"the dump is complete.  The dump holds every address\n"
"in clear and the index's erasure key (without which the tombstones mean\n"
"nothing): keep it as safe as the index itself.  Restore it with\n"
"'consentctl restore FILE' into a new directory.\n";

typedef struct wr {
	FILE *f;
	const char *bad;	/* a string that is not valid UTF-8 */
} wr;

static void
hex(FILE *f, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

/* ,"KEY":"S" (S checked: the writer would replace invalid UTF-8) */
static void
str(wr *w, const char *key, const char *s)
{
	if (!ctl_parse_utf8(s, strlen(s)) && w->bad == NULL)
		w->bad = key;
	fprintf(w->f, ",\"%s\":", key);
	ctl_out_json_str(w->f, s);
}

static int
header_cb(const cm_dump_header *h, void *arg)
{
	wr *w = arg;

	fprintf(w->f, "{\"dump\":\"%s\",\"version\":%d,\"index_format\":%"
	    PRIu32 ",\"next_seq\":%" PRIu64 ",\"erasure_key\":\"",
	    CTL_DUMP_MAGIC, CTL_DUMP_VERSION, h->index_format, h->next_seq);
	hex(w->f, h->key, sizeof(h->key));
	fputs("\"}\n", w->f);
	return ferror(w->f) ? 1 : 0;
}

static int
item_cb(const cm_dump_item *it, void *arg)
{
	wr *w = arg;
	FILE *f = w->f;
	const cm_history_event *e = &it->ev;

	switch (it->kind) {
	case CM_DUMP_DOMAIN:
		fputs("{\"item\":\"domain\"", f);
		str(w, "domain", it->name);
		fprintf(f, ",\"suppressed\":%d,\"since_us\":%" PRId64
		    ",\"updated_us\":%" PRId64, it->suppressed ? 1 : 0,
		    it->since_us, it->updated_us);
		str(w, "source", it->source);
		break;
	case CM_DUMP_ENTRY:
		fputs("{\"item\":\"address\"", f);
		str(w, "address", it->name);
		fprintf(f, ",\"objection_us\":%" PRId64 ",\"last_grant_us\":%"
		    PRId64 ",\"records\":%zu", it->objection_us,
		    it->last_grant_us, it->nrecords);
		break;
	case CM_DUMP_RECORD:
		fputs("{\"item\":\"record\"", f);
		str(w, "type", it->rec.type);
		fprintf(f, ",\"state\":\"%s\",\"granted_us\":%" PRId64
		    ",\"confirmed_us\":%" PRId64 ",\"withdrawn_us\":%" PRId64
		    ",\"updated_us\":%" PRId64, cm_state_name(it->rec.state),
		    it->rec.granted_us, it->rec.confirmed_us,
		    it->rec.withdrawn_us, it->rec.updated_us);
		str(w, "source", it->rec.source);
		str(w, "basis", it->rec.basis);
		str(w, "purpose", it->rec.purpose);
		str(w, "evidence", it->rec.evidence);
		break;
	case CM_DUMP_TOMBSTONE:
		fputs("{\"item\":\"tombstone\",\"hash\":\"", f);
		hex(f, it->hash, sizeof(it->hash));
		fprintf(f, "\",\"erased_us\":%" PRId64, it->erased_us);
		break;
	case CM_DUMP_EVENT:
		fputs("{\"item\":\"event\"", f);
		if (it->name != NULL) {
			str(w, "subject", it->name);
		} else {
			fputs(",\"hash\":\"", f);
			hex(f, it->hash, sizeof(it->hash));
			fputc('"', f);
		}
		fprintf(f, ",\"seq\":%" PRIu64 ",\"kind\":\"%s\",\"at_us\":%"
		    PRId64 ",\"recorded_us\":%" PRId64, e->seq,
		    cm_event_kind_name(e->kind), e->at_us, e->recorded_us);
		str(w, "type", e->type);
		fprintf(f, ",\"old\":\"%s\",\"new\":\"%s\"",
		    cm_state_name(e->old_state), cm_state_name(e->new_state));
		str(w, "source", e->source);
		str(w, "basis", e->basis);
		str(w, "purpose", e->purpose);
		str(w, "evidence", e->evidence);
		str(w, "actor", e->actor);
		break;
	}
	fputs("}\n", f);
	return ferror(f) || w->bad != NULL ? 1 : 0;
}

/* fsync the directory of PATH, so that its new name is durable */
static void
sync_dir(const char *path)
{
	char dir[4096];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		(void)close(fd);
	}
}

int
ctl_dump_write(ctl_ctx *c, const char *outpath)
{
	cm_dump_counts n;
	cm_status st;
	wr w = { stdout, NULL };
	char tmp[4096];
	int rc = 0, fd = -1;

	if ((rc = ctl_ctx_open(c, CTL_OPEN_RO)) != 0)
		return rc;
	if (outpath != NULL) {
		/* a temporary file beside FILE, renamed over it when the dump
		 * is complete: a failed dump leaves an older FILE as it was */
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", outpath) >=
		    sizeof(tmp)) {
			ctl_diag_err("%s: path too long", outpath);
			return EX_CANTCREAT;
		}
		if ((fd = mkstemp(tmp)) < 0 || fchmod(fd, 0600) != 0 ||
		    (w.f = fdopen(fd, "w")) == NULL) {
			ctl_diag_err("%s: cannot create: %s", outpath,
			    strerror(errno));
			if (fd >= 0) {
				close(fd);
				unlink(tmp);
			}
			return EX_CANTCREAT;
		}
	}
	st = cm_dump_read(c->idx, header_cb, item_cb, &w, &n);
	if (st == CM_OK) {
		fprintf(w.f, "{\"item\":\"end\",\"domains\":%zu,\"addresses\":"
		    "%zu,\"records\":%zu,\"tombstones\":%zu,\"events\":%zu}\n",
		    n.domains, n.entries, n.records, n.tombstones, n.events);
	}
	if (w.bad != NULL) {
		ctl_diag_err("%s: dump: a stored \"%s\" is not valid UTF-8; "
		    "nothing can be dumped losslessly", c->db_dir, w.bad);
		rc = EX_DATAERR;
	} else if (st != CM_OK && !ferror(w.f)) {
		rc = ctl_cmd_index_error(c, st, "dump");
	} else if (fflush(w.f) != 0 || ferror(w.f) ||
	    (outpath != NULL && fsync(fileno(w.f)) != 0)) {
		ctl_diag_err("%s: write error: %s", outpath != NULL ? outpath :
		    "standard output", strerror(errno));
		rc = EX_IOERR;
	}
	if (outpath != NULL) {
		if (fclose(w.f) != 0 && rc == 0) {
			ctl_diag_err("%s: write error: %s", outpath,
			    strerror(errno));
			rc = EX_IOERR;
		}
		if (rc == 0 && rename(tmp, outpath) != 0) {
			ctl_diag_err("%s: cannot rename %s to it: %s", outpath,
			    tmp, strerror(errno));
			rc = EX_CANTCREAT;
		}
		if (rc != 0)
			(void)unlink(tmp);
		else
			sync_dir(outpath);
	}
	if (rc == 0)
		fprintf(stderr, "consentctl: %s: %zu addresses, %zu history "
		    "events, %zu tombstones, %zu domains dumped; the dump "
		    "holds the erasure key and every address: keep it as safe "
		    "as the index\n", outpath != NULL ? outpath :
		    "standard output", n.entries, n.events, n.tombstones,
		    n.domains);
	return rc;
}

int
ctl_cmd_dump(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *outpath = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			return ctl_cmd_help(dump_help);
		case 'o':
			outpath = optarg;
			break;
		default:
			return ctl_cmd_usage("dump", "invalid option");
		}
	}
	if (optind != argc)
		return ctl_cmd_usage("dump", "no arguments expected");
	return ctl_dump_write(c, outpath);
}
