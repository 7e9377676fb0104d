/*
 * test_erase.c - erasure beyond one key: the sub-addresses of an
 * address on a real LMDB (tombstones, history, the bytes of data.mdb,
 * decisions), the spellings an erasure looks for in text, the decision
 * log rewritten while the writer appends, and the DSN spool.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmtest.h"
#include "core/declog.h"
#include "core/declog_scrub.h"
#include "core/decide.h"
#include "core/dsnq_scrub.h"
#include "core/erasure.h"
#include "core/index.h"

#define T0 INT64_C(1700000000000000)

typedef struct fx {
	char *dir;
	cm_index *idx;
} fx;

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->dir = cmt_mkdtemp();
	f->idx = cmt_open(f->dir, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;
	char *log;

	if (f->idx != NULL)
		cm_index_close(f->idx);
	if (asprintf(&log, "%s/log", f->dir) > 0)
		cmt_rmdir(log);	/* the decision log tests' directory */
	cmt_rmdir(f->dir);
	free(f);
	return 0;
}

static char *
slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long len;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	len = ftell(fp);
	assert_true(len >= 0);
	rewind(fp);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	buf[len] = '\0';
	*n = (size_t)len;
	return buf;
}

static bool
mdb_holds(const char *dir, const char *needle)
{
	char path[512];
	size_t n;
	char *buf;
	bool found;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	buf = slurp(path, &n);
	found = memmem(buf, n, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

/* ---------------------------------------------------------------- */
/* the index */

typedef struct seen {
	char addr[16][64];
	size_t n;
} seen;

static void
erased_cb(void *arg, const char *addr, size_t len)
{
	seen *s = arg;

	assert_true(len < sizeof(s->addr[0]) && s->n < 16);
	memcpy(s->addr[s->n], addr, len);
	s->addr[s->n++][len] = '\0';
}

static bool
was_seen(const seen *s, const char *a)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->addr[i], a) == 0)
			return true;
	return false;
}

static cm_decision
decide(cm_index *idx, const char *addr, char sep, cm_requirement req)
{
	cm_type_policy tp = { "news", req, 0 };
	cm_addr_opts o;
	cm_addr a;
	cm_decision d;

	cm_addr_opts_default(&o);
	o.subaddr_sep = sep;
	assert_int_equal(cm_addr_normalize(addr, strlen(addr), &o, &a),
	    CM_OK);
	assert_int_equal(cm_decide(idx, &tp, &a, T0 + 100000, &d), CM_OK);
	return d;
}

static int
count_hist(const cm_history_event *ev, void *arg)
{
	(void)ev;
	(*(size_t *)arg)++;
	return 0;
}

static size_t
hist(cm_index *idx, const char *addr)
{
	size_t n = 0;

	if (cm_index_history(idx, addr, count_hist, &n) != CM_OK)
		return 0;
	return n;
}

static void
test_subaddresses(void **state)
{
	fx *f = *state;
	static const struct {
		const char *addr;
		bool erased;	/* by the erasure of eve@example.com, '+' */
	} t[] = {
		{ "eve@example.com", true },
		{ "eve+promo@example.com", true },
		{ "eve+x@example.com", true },
		{ "eve+@example.com", true },		/* empty tag */
		{ "eve+a+b@example.com", true },
		{ "steve@example.com", false },	/* ends like eve */
		{ "eveline@example.com", false },	/* starts like eve */
		{ "eveline+x@example.com", false },
		{ "eve-x@example.com", false },	/* another separator */
		{ "eve@example.org", false },	/* another domain */
		{ "eve+x@example.com.au", false },
		{ "+eve@example.com", false },
	};
	const size_t n = sizeof(t) / sizeof(t[0]);
	cm_event ev = { 0 };
	seen s = { 0 };
	char ev_text[64];
	cm_index_stats st;

	for (size_t i = 0; i < n; i++) {
		cm_event g = { 0 };

		snprintf(ev_text, sizeof(ev_text), "evidence-of-%s;",
		    t[i].addr);
		g.kind = CM_EV_GRANT;
		g.addr = t[i].addr;
		g.type = "news";
		g.state = CM_STATE_GRANTED;
		g.at_us = T0 + (int64_t)i;
		g.evidence = ev_text;
		assert_int_equal(cm_index_apply(f->idx, &g), CM_OK);
		assert_int_equal(cmt_ev(f->idx, CM_EV_WITHDRAW, t[i].addr,
		    "other", T0 + 1000 + (int64_t)i), CM_OK);
		assert_int_equal(hist(f->idx, t[i].addr), 2);
	}
	assert_true(mdb_holds(f->dir, "eve+promo@example.com"));

	ev.kind = CM_EV_ERASE;
	ev.addr = "eve@example.com";
	ev.at_us = T0 + 5000;
	ev.subaddr_sep = '+';
	ev.erased = erased_cb;
	ev.erased_arg = &s;
	assert_int_equal(cm_index_apply(f->idx, &ev), CM_OK);

	for (size_t i = 0; i < n; i++) {
		cm_entry *e = NULL;

		snprintf(ev_text, sizeof(ev_text), "evidence-of-%s;",
		    t[i].addr);
		if (!t[i].erased) {
			assert_int_equal(cm_index_get(f->idx, t[i].addr, &e),
			    CM_OK);
			cm_entry_free(e);
			assert_int_equal(hist(f->idx, t[i].addr), 2);
			assert_int_equal(cm_index_is_erased(f->idx, t[i].addr),
			    CM_NOTFOUND);
			assert_false(was_seen(&s, t[i].addr));
			continue;
		}
		/* no record, no history, a tombstone of its own */
		if (!was_seen(&s, t[i].addr))
			fail_msg("%s not reported (%zu)", t[i].addr, s.n);
		assert_int_equal(cm_index_get(f->idx, t[i].addr, &e),
		    CM_NOTFOUND);
		assert_int_equal(hist(f->idx, t[i].addr), 0);
		assert_int_equal(cm_index_is_erased(f->idx, t[i].addr), CM_OK);
		/* (steve@ holds eve@, eve+x@example.com.au eve+x@...: those
		 * are checked below) */
		if (i != 0 && i != 2 && mdb_holds(f->dir, t[i].addr))
			fail_msg("data.mdb holds %s", t[i].addr);
		assert_false(mdb_holds(f->dir, ev_text));
		/* denied for every requirement, sub-addressing on or off */
		for (int sep = 0; sep < 2; sep++)
			for (int r = CM_REQ_OPT_IN; r <= CM_REQ_NO_OBJECTION;
			    r++) {
				cm_decision d = decide(f->idx, t[i].addr,
				    sep ? '+' : 0, (cm_requirement)r);

				assert_int_equal(d.verdict, CM_DENY);
				assert_int_equal(d.reason,
				    CM_REASON_SUPPRESSED);
			}
	}
	{
		/* each "eve@example.com" left is in steve@ or +eve@ */
		char path[512], *buf, *p;
		size_t len, nsteve = 0, neve = 0;

		snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
		buf = slurp(path, &len);
		for (p = buf; (p = memmem(p, len - (size_t)(p - buf),
		    "eve@example.com", 15)) != NULL; p++) {
			neve++;
			if (p - buf >= 2 && (memcmp(p - 2, "st", 2) == 0 ||
			    p[-1] == '+'))
				nsteve++;
			else
				print_message("at %zu: %.20s\n",
				    (size_t)(p - buf), p - 12);
		}
		free(buf);
		assert_true(neve > 0);
		assert_int_equal(neve, nsteve);
		buf = slurp(path, &len);
		for (p = buf; (p = memmem(p, len - (size_t)(p - buf),
		    "eve+x@example.com", 17)) != NULL; p++)
			assert_memory_equal(p + 17, ".au", 3);
		free(buf);
	}
	assert_int_equal(s.n, 5);
	assert_string_equal(s.addr[0], "eve@example.com");
	/* a sub-address never stored is denied by the base's tombstone */
	assert_int_equal(decide(f->idx, "eve+new@example.com", '+',
	    CM_REQ_NO_OBJECTION).verdict, CM_DENY);
	assert_int_equal(decide(f->idx, "steve@example.com", '+',
	    CM_REQ_OPT_IN).verdict, CM_ALLOW);
	assert_int_equal(cm_index_stats_get(f->idx, &st), CM_OK);
	assert_int_equal(st.tombstones, 5);
	assert_int_equal(st.addresses, n - 5);
}

/* Without a separator, or for a sub-address, only the address itself. */
static void
test_subaddress_scope(void **state)
{
	fx *f = *state;
	const char *a[] = { "bob@example.com", "bob+a@example.com",
	    "bob+b@example.com" };
	cm_event ev = { 0 };

	for (size_t i = 0; i < 3; i++)
		assert_int_equal(cmt_grant(f->idx, a[i], "news",
		    CM_STATE_GRANTED, T0), CM_OK);
	ev.kind = CM_EV_ERASE;
	ev.addr = "bob+a@example.com";
	ev.subaddr_sep = '+';
	assert_int_equal(cm_index_apply(f->idx, &ev), CM_OK);
	assert_int_equal(cm_index_is_erased(f->idx, a[1]), CM_OK);
	assert_int_equal(cm_index_is_erased(f->idx, a[0]), CM_NOTFOUND);
	assert_int_equal(cm_index_is_erased(f->idx, a[2]), CM_NOTFOUND);

	ev.addr = "bob@example.com";
	ev.subaddr_sep = 0;
	assert_int_equal(cm_index_apply(f->idx, &ev), CM_OK);
	assert_int_equal(cm_index_is_erased(f->idx, a[0]), CM_OK);
	assert_int_equal(cm_index_is_erased(f->idx, a[2]), CM_NOTFOUND);
	/* ... but the base's tombstone covers it in decisions */
	assert_int_equal(decide(f->idx, a[2], '+', CM_REQ_OPT_IN).verdict,
	    CM_DENY);
}

/* ---------------------------------------------------------------- */
/* the spellings in text */

#define MATCH(e, s) cm_erasure_match(e, s, strlen(s))

static void
test_match(void **state)
{
	static const struct {
		char sep;
		const char *text;
		bool match;
	} t[] = {
		{ '+', "\"rcpt\":\"eve@example.com\"", true },
		{ '+', "\"rcpt\":\"EVE@Example.COM\"", true },
		{ '+', "eve@example.com", true },
		{ '+', "<eve+promo@example.com>", true },
		{ '+', "Final-Recipient: rfc822; Eve+X@example.com\r\n", true },
		{ '+', "eve+@example.com", true },
		{ '+', "bounces+eve=example.com@news.example", true },
		{ '+', "bounces+eve+tag=example.com@news.example", true },
		{ '+', "\"eve\"@example.com", true },
		{ '+', "mail eve@example.com.", true },
		{ '+', "steve@example.com", false },
		{ '+', "eve@example.community", false },
		{ '+', "eve@example.com.au", false },
		{ '+', "eve-x@example.com", false },
		{ '+', "eve.x@example.com", false },
		{ '+', "eve@example.org", false },
		{ '+', "eve=example.org@x", false },
		{ '+', "eve", false },
		{ 0, "eve+promo@example.com", false },
		{ '-', "eve-promo@example.com", true },
		{ '+', "hmac-sha256:00ff", true },	/* added literal */
		{ '+', "HMAC-SHA256:00FF", true },
		{ '+', "hmac-sha256:00fe", false },
	};
	cm_erasure *e;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(cm_erasure_new("eve@example.com", t[i].sep,
		    &e), CM_OK);
		assert_int_equal(cm_erasure_add(e, "hmac-sha256:00ff", 16),
		    CM_OK);
		if (cm_erasure_match(e, t[i].text, strlen(t[i].text)) !=
		    t[i].match)
			fail_msg("\"%s\" (sep '%c'): expected %s", t[i].text,
			    t[i].sep ? t[i].sep : '0',
			    t[i].match ? "a match" : "none");
		cm_erasure_free(e);
	}
	/* a sub-address: itself only */
	assert_int_equal(cm_erasure_new("eve+a@example.com", '+', &e), CM_OK);
	assert_true(MATCH(e, "EVE+A@example.com"));
	assert_false(MATCH(e, "eve+a+b@example.com"));
	assert_false(MATCH(e, "eve@example.com"));
	cm_erasure_free(e);
	/* a local part JSON escapes */
	assert_int_equal(cm_erasure_new("a\"b@example.com", '+', &e), CM_OK);
	assert_true(MATCH(e, "{\"rcpt\":\"a\\\"b@example.com\"}"));
	cm_erasure_free(e);
	/* an IDN domain, in A-labels and in U-labels */
	assert_int_equal(cm_erasure_new("eve@xn--bcher-kva.example", '+', &e),
	    CM_OK);
	assert_true(MATCH(e, "eve@xn--bcher-kva.example"));
	assert_true(MATCH(e, "<eve+x@b\xc3\xbc" "cher.example>"));
	assert_false(MATCH(e, "eve@bucher.example"));
	cm_erasure_free(e);
	assert_int_equal(cm_erasure_new("no-at-sign", '+', &e), CM_EINVAL);
}

/* ---------------------------------------------------------------- */
/* the decision log, rewritten while the writer appends */

typedef struct writer_arg {
	cm_declog *log;
	int n;
	volatile int done;
	int ok[4000];		/* 1: queued */
} writer_arg;

static const char *
rcpt_of(int i)
{
	return i % 3 == 0 ? "eve+w@example.com" : "adam@example.com";
}

static void *
writer(void *p)
{
	writer_arg *w = p;
	char q[32];

	for (int i = 0; i < w->n; i++) {
		cm_declog_rec r = { 0 };

		snprintf(q, sizeof(q), "Q%05d", i);
		r.time_us = T0;		/* one day file */
		r.queue_id = q;
		r.rcpt = rcpt_of(i);
		r.verdict = "deny";
		r.reason = "no-consent";
		r.action = CM_DECLOG_REFUSED;
		w->ok[i] = cm_declog_add(w->log, &r) == CM_OK;
		if (i % 50 == 0)
			(void)cm_declog_flush(w->log);
	}
	w->done = 1;
	return NULL;
}

static void
test_declog_live(void **state)
{
	fx *f = *state;
	char dir[512], path[1024];
	cm_declog_opts o = { 0 };
	cm_declog_scrub_stats st;
	writer_arg *w = calloc(1, sizeof(*w));
	cm_erasure *e;
	pthread_t th;
	DIR *d;
	struct dirent *de;
	char *buf;
	size_t n, removed = 0;
	int runs = 0;

	assert_non_null(w);
	snprintf(dir, sizeof(dir), "%s/log", f->dir);
	o.dir = dir;
	o.flush_ms = 1;
	o.batch_max = 7;
	assert_int_equal(cm_declog_open(&o, &w->log), CM_OK);
	w->n = cmt_quick() ? 600 : 4000;
	assert_int_equal(cm_erasure_new("eve@example.com", '+', &e), CM_OK);
	assert_int_equal(pthread_create(&th, NULL, writer, w), 0);
	while (!w->done || runs < 3) {
		assert_int_equal(cm_declog_scrub_run(dir, e, &st), CM_OK);
		removed += st.lines;
		runs++;
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(cm_declog_flush(w->log), CM_OK);
	assert_int_equal(cm_declog_scrub_run(dir, e, &st), CM_OK);
	removed += st.lines;
	cm_declog_close(w->log);
	cm_erasure_free(e);
	assert_true(removed > 0);

	/* every line of adam's is there once, none of eve's */
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		assert_non_null(strstr(de->d_name, "decisions-"));
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		buf = slurp(path, &n);
		assert_null(strstr(buf, "eve"));
		for (int i = 0; i < w->n; i++) {
			char q[40], *p;

			if (!w->ok[i] || i % 3 == 0)
				continue;
			snprintf(q, sizeof(q), "\"Q%05d\"", i);
			p = strstr(buf, q);
			if (p == NULL)
				fail_msg("line %d lost", i);
			assert_null(strstr(p + 1, q));
		}
		free(buf);
	}
	closedir(d);
	free(w);
}

/* Hashed lines: a sub-address never stored is found by "rcpt_base". */
static void
test_declog_hashed(void **state)
{
	fx *f = *state;
	static const char *const rcpts[] = { "eve@example.com",
	    "eve+never-stored@example.com", "+eve@example.com",
	    "adam+eve@example.com", "adam@example.com" };
	char dir[512], key[512], path[1024], h[CM_DECLOG_HASH_BUFSZ], *buf;
	unsigned char k[CM_DECLOG_KEY_MAX];
	cm_declog_opts o = { 0 };
	cm_declog_scrub_stats st;
	cm_declog *log;
	cm_erasure *e;
	size_t klen, n;
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "%s/log", f->dir);
	snprintf(key, sizeof(key), "%s/declog.key", f->dir);
	o.dir = dir;
	o.hash_addresses = true;
	o.key_file = key;
	o.subaddr_sep = '+';
	assert_int_equal(cm_declog_open(&o, &log), CM_OK);
	for (size_t i = 0; i < 5; i++) {
		cm_declog_rec r = { 0 };

		r.time_us = T0;
		r.rcpt = rcpts[i];
		r.action = CM_DECLOG_REFUSED;
		assert_int_equal(cm_declog_add(log, &r), CM_OK);
	}
	cm_declog_close(log);

	assert_int_equal(cm_declog_key_load(key, false, k, sizeof(k), &klen),
	    CM_OK);
	assert_int_equal(cm_erasure_new("eve@example.com", '+', &e), CM_OK);
	assert_int_equal(cm_declog_hash(k, klen, "eve@example.com", 15, h),
	    CM_OK);
	assert_int_equal(cm_erasure_add(e, h, strlen(h)), CM_OK);
	assert_int_equal(cm_declog_scrub_run(dir, e, &st), CM_OK);
	assert_int_equal(st.lines, 2);
	cm_erasure_free(e);

	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "decisions-", 10) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		buf = slurp(path, &n);
		assert_null(strstr(buf, h));
		assert_null(strstr(buf, "example.com"));
		/* +eve@ has no sub-address; adam+eve@'s base is adam@ */
		{
			size_t lines = 0, based = 0;
			const char *p;

			for (p = buf; (p = strchr(p, '\n')) != NULL; p++)
				lines++;
			for (p = buf; (p = strstr(p, "rcpt_base")) != NULL;
			    p++)
				based++;
			assert_int_equal(lines, 3);
			assert_int_equal(based, 1);
		}
		free(buf);
	}
	closedir(d);
}

/* A scrub leaves a file without a match untouched (same inode). */
static void
test_declog_untouched(void **state)
{
	fx *f = *state;
	char path[1024];
	struct stat a, b;
	cm_erasure *e;
	cm_declog_scrub_stats st;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/decisions-2026-11-20.jsonl", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("{\"rcpt\":\"adam@example.com\"}\n", fp);
	fclose(fp);
	assert_int_equal(stat(path, &a), 0);
	assert_int_equal(cm_erasure_new("eve@example.com", '+', &e), CM_OK);
	assert_int_equal(cm_declog_scrub_run(f->dir, e, &st), CM_OK);
	assert_int_equal(st.files, 0);
	assert_int_equal(stat(path, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	snprintf(path, sizeof(path), "%s/nothing-here", f->dir);
	assert_int_equal(cm_declog_scrub_run(path, e, &st), CM_NOTFOUND);
	cm_erasure_free(e);
}

/* ---------------------------------------------------------------- */
/* the DSN spool */

static void
spool_file(const char *dir, const char *name, const char *rcpt)
{
	char path[1024];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "CM-DSN 1\nrcpt: news@shop.example\nsmtputf8: 0\n"
	    "created: 1\n\nSubject: x\r\n\r\nFinal-Recipient: rfc822; %s\r\n",
	    rcpt);
	fclose(fp);
}

static void
test_dsn_spool(void **state)
{
	fx *f = *state;
	char path[1024];
	cm_erasure *e;
	size_t n;

	spool_file(f->dir, "1-a.dsn", "eve+promo@example.com");
	spool_file(f->dir, "2-b.failed", "Eve@Example.com");
	spool_file(f->dir, "3-c.dsn", "adam@example.com");
	spool_file(f->dir, "4-d.tmp", "eve@example.com");	/* not ours */
	assert_int_equal(cm_erasure_new("eve@example.com", '+', &e), CM_OK);
	assert_int_equal(cm_dsnq_scrub_run(f->dir, e, &n), CM_OK);
	assert_int_equal(n, 2);
	snprintf(path, sizeof(path), "%s/1-a.dsn", f->dir);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/2-b.failed", f->dir);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/3-c.dsn", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/4-d.tmp", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	cm_erasure_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_subaddresses, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_subaddress_scope, setup,
		    teardown),
		cmocka_unit_test(test_match),
		cmocka_unit_test_setup_teardown(test_declog_live, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_declog_hashed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_declog_untouched, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dsn_spool, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
