/* erase.c - the decision log and the DSN spool of an erasure (erase.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "../core/declog.h"
#include "../core/declog_scrub.h"
#include "../core/dsnq_scrub.h"
#include "../core/erasure.h"
#include "../core/scrubq.h"
#include "diag.h"
#include "erase.h"

struct ctl_erase {
	char input[CM_ADDR_KEY_MAX];	/* the address given, normalized */
	cm_erasure *match;
	char **addr;			/* every address erased */
	size_t n, cap;
	int oom;
};

static void
erased_cb(void *arg, const char *addr, size_t len)
{
	ctl_erase *x = arg;
	char **na;

	for (size_t i = 0; i < x->n; i++)
		if (strlen(x->addr[i]) == len &&
		    memcmp(x->addr[i], addr, len) == 0)
			return;
	if (x->n == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 8;

		if ((na = realloc(x->addr, nc * sizeof(*na))) == NULL) {
			x->oom = 1;
			return;
		}
		x->addr = na;
		x->cap = nc;
	}
	if ((x->addr[x->n] = strndup(addr, len)) == NULL) {
		x->oom = 1;
		return;
	}
	x->n++;
}

int
ctl_erase_begin(ctl_ctx *c, const cm_addr *a, cm_event *ev, ctl_erase **out)
{
	ctl_erase *x = calloc(1, sizeof(*x));

	*out = NULL;
	if (x == NULL || cm_erasure_new(a->key, c->addr_opts.subaddr_sep,
	    &x->match) != CM_OK) {
		free(x);
		ctl_diag_err("erase %s: out of memory", a->key);
		return EX_OSERR;
	}
	snprintf(x->input, sizeof(x->input), "%s", a->key);
	ev->subaddr_sep = c->addr_opts.subaddr_sep;
	ev->erased = erased_cb;
	ev->erased_arg = x;
	*out = x;
	return 0;
}

/* Add the keyed hashes of the erased addresses, as the log stores them. */
static int
add_hashes(ctl_ctx *c, ctl_erase *x)
{
	const char *kf = cm_policy_log_key_file(c->policy);
	unsigned char key[CM_DECLOG_KEY_MAX];
	char h[CM_DECLOG_HASH_BUFSZ];
	size_t klen;
	cm_status st;

	if (kf == NULL)
		return 0;
	st = cm_declog_key_load(kf, false, key, sizeof(key), &klen);
	if (st == CM_NOTFOUND)
		return 0;	/* no hashed line was ever written */
	if (st != CM_OK) {
		ctl_diag_err("%s: %s: hashed decision log lines cannot be "
		    "found", kf, cm_strerror((int)st));
		return st == CM_EPERM ? EX_NOPERM : EX_IOERR;
	}
	for (size_t i = 0; i <= x->n; i++) {
		const char *s = i < x->n ? x->addr[i] : x->input;

		if (cm_declog_hash(key, klen, s, strlen(s), h) != CM_OK ||
		    cm_erasure_add(x->match, h, strlen(h)) != CM_OK) {
			ctl_diag_err("erase: out of memory");
			return EX_OSERR;
		}
	}
	memset(key, 0, sizeof(key));
	return 0;
}

static int
fail(const char *where, const char *what, cm_status st)
{
	ctl_diag_err("%s: %s: %s (the index erasure stands; run erase again "
	    "to retry)", where, what, cm_strerror((int)st));
	return st == CM_EPERM ? EX_NOPERM : st == CM_ENOMEM ? EX_OSERR :
	    EX_IOERR;
}

/* The scrub of every address of X is done: their rows of the scrub
 * queue go (scrubq.h). */
static int
done(ctl_ctx *c, ctl_erase *x)
{
	cm_status st = CM_OK;

	for (size_t i = 0; i <= x->n && st == CM_OK; i++)
		st = cm_scrubq_done(c->idx, i < x->n ? x->addr[i] : x->input);
	if (st != CM_OK) {
		ctl_diag_err("%s: scrub queue: %s (%s)", c->db_dir,
		    cm_strerror(st), cm_index_last_error(c->idx));
		return ctl_diag_exit(st);
	}
	return 0;
}

static int
scrub(ctl_ctx *c, ctl_erase *x);

int
ctl_erase_finish(ctl_ctx *c, ctl_erase *x)
{
	int rc = scrub(c, x);

	/* failed: the rows stay, consentctl sync retries (scrubq.h) */
	if (rc == 0 && c->idx != NULL)
		rc = done(c, x);
	return rc;
}

static int
scrub(ctl_ctx *c, ctl_erase *x)
{
	const char *dir, *spool;
	cm_declog_scrub_stats ls;
	size_t nd = 0;
	cm_status st;
	int rc;

	if (x->oom) {
		ctl_diag_err("erase: out of memory");
		return EX_OSERR;
	}
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->addr[i], x->input) != 0)
			printf("%s: erased with it\n", x->addr[i]);
	if (c->policy == NULL) {
		ctl_diag_err("no configuration (-d alone): the decision log "
		    "and the DSN spool were not searched; use -c");
		return 0;
	}
	if ((dir = cm_policy_log_path(c->policy)) != NULL) {
		if ((rc = add_hashes(c, x)) != 0)
			return rc;
		st = cm_declog_scrub_run(dir, x->match, &ls);
		if (st != CM_OK && st != CM_NOTFOUND)
			return fail(dir, "decision log", st);
		printf("decision log: %llu line%s removed from %llu file%s\n",
		    (unsigned long long)ls.lines, ls.lines == 1 ? "" : "s",
		    (unsigned long long)ls.files, ls.files == 1 ? "" : "s");
	}
	/* also when DSNs are off now: the spool may hold older ones */
	if ((spool = cm_policy_dsn_spool(c->policy)) != NULL) {
		st = cm_dsnq_scrub_run(spool, x->match, &nd);
		if (st != CM_OK && st != CM_NOTFOUND) {
			if (cm_policy_dsn_enabled(c->policy))
				return fail(spool, "DSN spool", st);
			ctl_diag_err("%s: DSN spool (DSNs are off): %s", spool,
			    cm_strerror((int)st));
		} else if (st == CM_OK) {
			printf("DSN spool: %zu DSN%s deleted\n", nd,
			    nd == 1 ? "" : "s");
		}
	}
	return 0;
}

int
ctl_erase_remote(ctl_ctx *c, const char *addr)
{
	ctl_erase *x = calloc(1, sizeof(*x));
	int rc;

	if (x == NULL || cm_erasure_new(addr, c->addr_opts.subaddr_sep,
	    &x->match) != CM_OK) {
		free(x);
		ctl_diag_err("erase %s: out of memory", addr);
		return EX_OSERR;
	}
	snprintf(x->input, sizeof(x->input), "%s", addr);
	/* the address is not printed: a sync's output goes to a journal */
	rc = c->policy != NULL ? ctl_erase_finish(c, x) : 0;
	ctl_erase_free(x);
	return rc;
}

void
ctl_erase_free(ctl_erase *x)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < x->n; i++)
		free(x->addr[i]);
	free(x->addr);
	cm_erasure_free(x->match);
	free(x);
}
