/*
 * cmd_restore.c - consentctl restore FILE: a dump (cmd_dump.c) back into
 * a new, empty index, all or nothing.
 *
 * The index directory must hold no index (it is created with the dump's
 * erasure key) or an empty one with that key.  Every line is checked;
 * the first bad one is reported as FILE:LINE: reason and nothing is
 * restored.  The whole restore is one import transaction (bulk mode, as
 * consentctl import): other processes see the index empty until it is
 * complete.  A dump without its end line, or whose end line announces
 * other counts than the lines before it, is refused as incomplete.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "../core/dump.h"
#include "../core/util.h"
#include "cmd.h"
#include "diag.h"
#include "dumpfmt.h"
#include "jsonl.h"

static const char restore_help[] =
"usage: consentctl [-c FILE | -d DBDIR] restore FILE\n"
"\n"
"Restore a dump written by 'consentctl dump' (or 'export --full') into\n"
"the index directory, which must hold no index yet (it is created, with\n"
"the erasure key of the dump) or an empty one with the same key.  Every\n"
"record, history event, tombstone and domain comes back as it was, in\n"
"one transaction: a bad line is reported as FILE:LINE: reason and nothing\n"
"is restored.  Exit status 65 for a bad dump, 73 when the index is not\n"
"empty or has another erasure key.\n";

typedef struct rs {
	ctl_jsonl *j;
	const char *path;
	char why[512];
} rs;

static const ctl_json_member *
member(const ctl_jsonl *j, const char *key)
{
	for (size_t i = 0; i < ctl_jsonl_count(j); i++) {
		const ctl_json_member *m = ctl_jsonl_get(j, i);

		if (strcmp(m->key, key) == 0)
			return m;
	}
	return NULL;
}

/* The members KEYS (NULL-terminated) and no other; false with R->why. */
static bool
only(rs *r, const char *const *keys)
{
	size_t n = 0;

	for (; keys[n] != NULL; n++)
		if (member(r->j, keys[n]) == NULL) {
			snprintf(r->why, sizeof(r->why), "missing \"%s\"",
			    keys[n]);
			return false;
		}
	if (ctl_jsonl_count(r->j) != n) {
		snprintf(r->why, sizeof(r->why), "unexpected members");
		return false;
	}
	return true;
}

static bool
get_str(rs *r, const char *key, const char **out)
{
	const ctl_json_member *m = member(r->j, key);

	if (m == NULL || m->type != CTL_JSON_STRING) {
		snprintf(r->why, sizeof(r->why), "\"%s\": a string expected",
		    key);
		return false;
	}
	*out = m->val;
	return true;
}

static bool
get_int(rs *r, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
	const ctl_json_member *m = member(r->j, key);
	char *end;
	long long v;

	errno = 0;
	if (m == NULL || m->type != CTL_JSON_NUMBER ||
	    strpbrk(m->val, ".eE+") != NULL ||
	    (v = strtoll(m->val, &end, 10), errno != 0) || *end != '\0' ||
	    v < lo || v > hi) {
		snprintf(r->why, sizeof(r->why), "\"%s\": an integer from "
		    "%lld to %lld expected", key, (long long)lo,
		    (long long)hi);
		return false;
	}
	*out = v;
	return true;
}

static bool
get_count(rs *r, const char *key, size_t *out)
{
	int64_t v;

	if (!get_int(r, key, 0, INT64_MAX, &v))
		return false;
	*out = (size_t)v;
	return true;
}

static bool
get_hex(rs *r, const char *key, unsigned char *out, size_t n)
{
	const char *s;

	if (!get_str(r, key, &s))
		return false;
	if (cm_hex_decode(s, out, n))
		return true;
	snprintf(r->why, sizeof(r->why), "\"%s\": %zu lower-case hex digits "
	    "expected", key, 2 * n);
	return false;
}

static bool
get_state(rs *r, const char *key, cm_state *out)
{
	const char *s;

	if (!get_str(r, key, &s))
		return false;
	/* "none" too: the state before a history event's first change */
	for (int k = CM_STATE_NONE; k <= CM_STATE_WITHDRAWN; k++)
		if (strcmp(s, cm_state_name(k)) == 0) {
			*out = k;
			return true;
		}
	{
		snprintf(r->why, sizeof(r->why), "\"%s\": unknown state", key);
		return false;
	}
	return true;
}

static bool
header(rs *r, cm_dump_header *h)
{
	static const char *const keys[] = { "dump", "version",
	    "index_format", "next_seq", "erasure_key", NULL };
	const char *magic;
	int64_t v, f, seq;

	memset(h, 0, sizeof(*h));
	if (member(r->j, "dump") == NULL || !get_str(r, "dump", &magic) ||
	    strcmp(magic, CTL_DUMP_MAGIC) != 0) {
		snprintf(r->why, sizeof(r->why), "not a consent-milter dump "
		    "(written by 'consentctl dump')");
		return false;
	}
	if (!get_int(r, "version", 0, INT32_MAX, &v))
		return false;
	if (v != CTL_DUMP_VERSION) {
		snprintf(r->why, sizeof(r->why), "dump format version %lld: "
		    "this consentctl reads version %d", (long long)v,
		    CTL_DUMP_VERSION);
		return false;
	}
	if (!only(r, keys) || !get_int(r, "index_format", 2, 2, &f) ||
	    !get_int(r, "next_seq", 1, INT64_MAX, &seq) ||
	    !get_hex(r, "erasure_key", h->key, sizeof(h->key)))
		return false;
	h->index_format = (uint32_t)f;
	h->next_seq = (uint64_t)seq;
	return true;
}

/* The item of the current line into *IT; *END for the end line (then
 * *COUNTS). */
static bool
item(rs *r, cm_dump_item *it, bool *end, cm_dump_counts *counts)
{
	static const char *const k_dom[] = { "item", "domain", "suppressed",
	    "since_us", "updated_us", "source", NULL };
	static const char *const k_addr[] = { "item", "address",
	    "objection_us", "last_grant_us", "records", NULL };
	static const char *const k_rec[] = { "item", "type", "state",
	    "granted_us", "confirmed_us", "withdrawn_us", "updated_us",
	    "source", "basis", "purpose", "evidence", NULL };
	static const char *const k_tomb[] = { "item", "hash", "erased_us",
	    NULL };
	static const char *const k_ev[] = { "item", "seq", "kind", "at_us",
	    "recorded_us", "type", "old", "new", "source", "basis",
	    "purpose", "evidence", "actor", NULL };
	static const char *const k_end[] = { "item", "domains", "addresses",
	    "records", "tombstones", "events", NULL };
	const char *what, *kind;
	int64_t v;

	memset(it, 0, sizeof(*it));
	*end = false;
	if (!get_str(r, "item", &what))
		return false;
	if (strcmp(what, "domain") == 0) {
		it->kind = CM_DUMP_DOMAIN;
		if (!only(r, k_dom) || !get_str(r, "domain", &it->name) ||
		    !get_int(r, "suppressed", 0, 1, &v) ||
		    !get_int(r, "since_us", INT64_MIN, INT64_MAX,
		    &it->since_us) ||
		    !get_int(r, "updated_us", INT64_MIN, INT64_MAX,
		    &it->updated_us) || !get_str(r, "source", &it->source))
			return false;
		it->suppressed = v != 0;
		return true;
	}
	if (strcmp(what, "address") == 0) {
		it->kind = CM_DUMP_ENTRY;
		return only(r, k_addr) && get_str(r, "address", &it->name) &&
		    get_int(r, "objection_us", INT64_MIN, INT64_MAX,
		    &it->objection_us) &&
		    get_int(r, "last_grant_us", INT64_MIN, INT64_MAX,
		    &it->last_grant_us) &&
		    get_count(r, "records", &it->nrecords);
	}
	if (strcmp(what, "record") == 0) {
		cm_record *rec = &it->rec;

		it->kind = CM_DUMP_RECORD;
		return only(r, k_rec) && get_str(r, "type", &rec->type) &&
		    get_state(r, "state", &rec->state) &&
		    get_int(r, "granted_us", INT64_MIN, INT64_MAX,
		    &rec->granted_us) &&
		    get_int(r, "confirmed_us", INT64_MIN, INT64_MAX,
		    &rec->confirmed_us) &&
		    get_int(r, "withdrawn_us", INT64_MIN, INT64_MAX,
		    &rec->withdrawn_us) &&
		    get_int(r, "updated_us", INT64_MIN, INT64_MAX,
		    &rec->updated_us) &&
		    get_str(r, "source", &rec->source) &&
		    get_str(r, "basis", &rec->basis) &&
		    get_str(r, "purpose", &rec->purpose) &&
		    get_str(r, "evidence", &rec->evidence);
	}
	if (strcmp(what, "tombstone") == 0) {
		it->kind = CM_DUMP_TOMBSTONE;
		return only(r, k_tomb) &&
		    get_hex(r, "hash", it->hash, sizeof(it->hash)) &&
		    get_int(r, "erased_us", INT64_MIN, INT64_MAX,
		    &it->erased_us);
	}
	if (strcmp(what, "event") == 0) {
		cm_history_event *e = &it->ev;
		const ctl_json_member *subj = member(r->j, "subject");
		size_t n = 0;

		it->kind = CM_DUMP_EVENT;
		while (k_ev[n] != NULL)
			n++;
		/* the keys above plus "subject" or "hash" */
		for (size_t i = 0; i < n; i++)
			if (member(r->j, k_ev[i]) == NULL) {
				snprintf(r->why, sizeof(r->why),
				    "missing \"%s\"", k_ev[i]);
				return false;
			}
		if (ctl_jsonl_count(r->j) != n + 1 ||
		    (subj == NULL && member(r->j, "hash") == NULL)) {
			snprintf(r->why, sizeof(r->why), "\"subject\" or "
			    "\"hash\" expected, and no other member");
			return false;
		}
		if (subj != NULL ? !get_str(r, "subject", &it->name) :
		    !get_hex(r, "hash", it->hash, sizeof(it->hash)))
			return false;
		if (!get_int(r, "seq", 1, INT64_MAX, &v) ||
		    !get_str(r, "kind", &kind))
			return false;
		e->seq = (uint64_t)v;
		for (int k = CM_EV_GRANT; k <= CM_EV_ERASE; k++)
			if (strcmp(kind, cm_event_kind_name(k)) == 0)
				e->kind = k;
		if (e->kind == 0) {
			snprintf(r->why, sizeof(r->why), "\"kind\": unknown "
			    "event kind");
			return false;
		}
		return get_int(r, "at_us", INT64_MIN, INT64_MAX, &e->at_us) &&
		    get_int(r, "recorded_us", INT64_MIN, INT64_MAX,
		    &e->recorded_us) && get_str(r, "type", &e->type) &&
		    get_state(r, "old", &e->old_state) &&
		    get_state(r, "new", &e->new_state) &&
		    get_str(r, "source", &e->source) &&
		    get_str(r, "basis", &e->basis) &&
		    get_str(r, "purpose", &e->purpose) &&
		    get_str(r, "evidence", &e->evidence) &&
		    get_str(r, "actor", &e->actor);
	}
	if (strcmp(what, "end") == 0) {
		*end = true;
		return only(r, k_end) &&
		    get_count(r, "domains", &counts->domains) &&
		    get_count(r, "addresses", &counts->entries) &&
		    get_count(r, "records", &counts->records) &&
		    get_count(r, "tombstones", &counts->tombstones) &&
		    get_count(r, "events", &counts->events);
	}
	snprintf(r->why, sizeof(r->why), "\"item\": unknown item \"%s\"",
	    what);
	return false;
}

/* Read the next object into R; false with R->why at EOF or error. */
static bool
next(rs *r, bool *eof)
{
	ctl_jsonl_res res = ctl_jsonl_next(r->j);

	*eof = res == CTL_JSONL_EOF;
	if (res == CTL_JSONL_OBJECT)
		return true;
	if (res == CTL_JSONL_EOF)
		snprintf(r->why, sizeof(r->why), "the dump ends here without "
		    "its end line (truncated?)");
	else if (res == CTL_JSONL_BAD)
		snprintf(r->why, sizeof(r->why), "column %lu: %s",
		    ctl_jsonl_errcol(r->j), ctl_jsonl_errmsg(r->j));
	else
		snprintf(r->why, sizeof(r->why), "read error: %s",
		    strerror(errno));
	return false;
}

/*
 * One pass over the dump from its start: EX_OK, EX_TEMPFAIL to begin
 * again (the map was grown), or the exit code after a message.
 */
static int
pass(ctl_ctx *c, rs *r, int fd, size_t reserve, cm_dump_counts *got)
{
	cm_dump_header h;
	cm_dump_counts want;
	cm_restore *re = NULL;
	cm_dump_item it;
	cm_status st;
	bool end = false, eof;

	if (lseek(fd, 0, SEEK_SET) != 0 ||
	    (r->j = ctl_jsonl_new(fd)) == NULL) {
		ctl_diag_err("%s: %s", r->path, strerror(errno));
		return EX_IOERR;
	}
	if (!next(r, &eof) || !header(r, &h))
		goto bad;
	st = cm_dump_restore_begin(c->idx, &h, reserve, &re);
	memset(h.key, 0, sizeof(h.key));
	if (st == CM_EEXIST) {
		ctl_diag_err("%s: the index is not empty: a dump is restored "
		    "into a new index only", c->db_dir);
		ctl_jsonl_free(r->j);
		return EX_CANTCREAT;
	}
	if (st == CM_EPERM) {
		ctl_diag_err("%s: the index has another erasure key than the "
		    "dump: restore into a new directory", c->db_dir);
		ctl_jsonl_free(r->j);
		return EX_CANTCREAT;
	}
	if (st != CM_OK) {
		ctl_jsonl_free(r->j);
		return ctl_cmd_index_error(c, st, "restore");
	}
	while (!end) {
		if (!next(r, &eof) || !item(r, &it, &end, &want))
			goto bad;
		if (end)
			break;
		if ((st = cm_dump_restore_put(re, &it)) == CM_EFULL)
			goto again;
		if (st != CM_OK) {
			snprintf(r->why, sizeof(r->why), "%s",
			    cm_dump_restore_error(re));
			goto bad;
		}
	}
	if (ctl_jsonl_next(r->j) != CTL_JSONL_EOF) {
		snprintf(r->why, sizeof(r->why), "text after the end line");
		goto bad;
	}
	st = cm_dump_restore_commit(re, &want);
	if (st == CM_EFULL)
		goto again;
	if (st != CM_OK) {
		snprintf(r->why, sizeof(r->why), "%s",
		    cm_dump_restore_error(re));
		goto bad;
	}
	*got = want;
	ctl_jsonl_free(r->j);
	return EX_OK;
again:
	cm_dump_restore_abort(re);
	ctl_jsonl_free(r->j);
	return EX_TEMPFAIL;
bad:
	ctl_diag_err("%s:%lu: %s; nothing restored", r->path,
	    ctl_jsonl_line(r->j), r->why);
	cm_dump_restore_abort(re);
	ctl_jsonl_free(r->j);
	return EX_DATAERR;
}

int
ctl_cmd_restore(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cm_dump_header h;
	cm_dump_counts got = { 0 };
	struct stat sb;
	char path[4096];
	rs r;
	bool eof;
	int ch, fd, rc;
	cm_status st;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			return ctl_cmd_help(restore_help);
		default:
			return ctl_cmd_usage("restore", "invalid option");
		}
	}
	if (optind + 1 != argc)
		return ctl_cmd_usage("restore", "one FILE expected");
	memset(&r, 0, sizeof(r));
	r.path = argv[optind];
	if ((fd = open(r.path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		ctl_diag_err("%s: %s", r.path, fd < 0 ? strerror(errno) :
		    "not a regular file");
		if (fd >= 0)
			close(fd);
		return EX_NOINPUT;
	}
	/* the header first: its key creates a new index */
	if ((rc = ctl_ctx_load_policy(c)) != 0)
		goto out;
	if ((r.j = ctl_jsonl_new(fd)) == NULL) {
		rc = EX_OSERR;
		goto out;
	}
	if (!next(&r, &eof) || !header(&r, &h)) {
		ctl_diag_err("%s:%lu: %s; nothing restored", r.path,
		    ctl_jsonl_line(r.j), r.why);
		ctl_jsonl_free(r.j);
		rc = EX_DATAERR;
		goto out;
	}
	ctl_jsonl_free(r.j);
	if (c->db_dir == NULL || c->db_dir[0] == '\0') {
		ctl_diag_err("no index directory (use -c FILE or -d DBDIR)");
		rc = EX_USAGE;
		goto out;
	}
	if (mkdir(c->db_dir, 0750) != 0 && errno != EEXIST) {
		ctl_diag_err("%s: cannot create directory: %s", c->db_dir,
		    strerror(errno));
		rc = EX_CANTCREAT;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/data.mdb", c->db_dir);
	if (stat(path, &sb) != 0 &&
	    (st = cm_dump_install_key(c->db_dir, h.key)) != CM_OK) {
		if (st == CM_EEXIST)
			ctl_diag_err("%s: erasure.key holds another key than "
			    "the dump: restore into a new directory",
			    c->db_dir);
		else
			ctl_diag_err("%s: cannot write erasure.key: %s",
			    c->db_dir, cm_strerror(st));
		memset(h.key, 0, sizeof(h.key));
		rc = EX_CANTCREAT;
		goto out;
	}
	memset(h.key, 0, sizeof(h.key));
	if ((rc = ctl_ctx_open(c, CTL_OPEN_IMPORT)) != 0)
		goto out;
	for (int tries = 0; tries < 8; tries++) {
		/* room for what the dump adds, about its size again */
		size_t reserve = (size_t)sb.st_size * 2 + ((size_t)1 << 20);

		if (fstat(fd, &sb) != 0) {
			rc = EX_IOERR;
			break;
		}
		if ((rc = pass(c, &r, fd, reserve, &got)) != EX_TEMPFAIL)
			break;
	}
	if (rc == EX_OK)
		printf("restored: %zu addresses, %zu records, %zu history "
		    "events, %zu tombstones, %zu domains\n", got.entries,
		    got.records, got.events, got.tombstones, got.domains);
	else if (rc == EX_TEMPFAIL)
		ctl_diag_err("%s: the index keeps filling up; nothing "
		    "restored", c->db_dir);
out:
	close(fd);
	return rc;
}
