/* test_runsort.c - the external sort of an import's events (core/runsort.h). */
#include <errno.h>
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
#include "core/index.h"
#include "core/index_int.h"
#include "core/runsort.h"

#define T0 INT64_C(1700000000000000)

/* ------------------------------------------------------------------ */
/* a reproducible mix of events: repeated addresses across batches,
 * domains, every kind an import makes, NULL and empty strings, fields
 * of the greatest length */

typedef struct evbuf {
	cm_event ev;
	char addr[96], type[CM_TYPE_ID_MAX + 1];
	char *f[5];		/* source, basis, purpose, evidence, actor */
} evbuf;

static uint32_t rng = 12345;

static uint32_t
rnd(uint32_t n)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 8) % n;
}

static char *
field(size_t i)
{
	size_t len;
	char *s;

	switch (rnd(6)) {
	case 0:
		return NULL;
	case 1:
		len = 0;
		break;
	case 2:
		len = CM_FIELD_MAX;
		break;
	default:
		len = 1 + rnd(40);
		break;
	}
	assert_non_null(s = malloc(len + 1));
	for (size_t k = 0; k < len; k++)
		s[k] = (char)('a' + (i + k) % 26);
	s[len] = '\0';
	return s;
}

static evbuf *
make_events(size_t n, size_t naddr)
{
	static const cm_event_kind kinds[] = { CM_EV_GRANT, CM_EV_GRANT,
	    CM_EV_CONFIRM, CM_EV_WITHDRAW, CM_EV_UPDATE, CM_EV_OBJECT,
	    CM_EV_SUPPRESS_DOMAIN, CM_EV_UNSUPPRESS_DOMAIN };
	evbuf *e = calloc(n, sizeof(*e));
	/* CONFIRM and UPDATE need a record: a GRANT of it before */
	bool *granted = calloc(naddr * 3, sizeof(*granted));

	assert_non_null(e);
	assert_non_null(granted);
	for (size_t i = 0; i < n; i++) {
		cm_event *ev = &e[i].ev;
		uint32_t a = rnd((uint32_t)naddr), t = rnd(3);

		ev->kind = kinds[rnd(sizeof(kinds) / sizeof(kinds[0]))];
		if ((ev->kind == CM_EV_CONFIRM || ev->kind == CM_EV_UPDATE) &&
		    !granted[a * 3 + t])
			ev->kind = CM_EV_GRANT;
		if (ev->kind == CM_EV_GRANT)
			granted[a * 3 + t] = true;
		if (ev->kind == CM_EV_SUPPRESS_DOMAIN ||
		    ev->kind == CM_EV_UNSUPPRESS_DOMAIN)
			snprintf(e[i].addr, sizeof(e[i].addr), "d%u.example",
			    a % 7);
		else
			snprintf(e[i].addr, sizeof(e[i].addr),
			    "user%u@example%u.org", a, a % 13);
		snprintf(e[i].type, sizeof(e[i].type), "type-%u", t);
		ev->addr = e[i].addr;
		ev->type = e[i].type;
		ev->state = rnd(2) ? CM_STATE_GRANTED : CM_STATE_PENDING;
		ev->at_us = rnd(10) == 0 ? 0 : T0 + (int64_t)rnd(5000);
		for (int k = 0; k < 5; k++)
			e[i].f[k] = field(i + (size_t)k);
		ev->source = e[i].f[0];
		ev->basis = e[i].f[1];
		ev->purpose = e[i].f[2];
		ev->evidence = e[i].f[3];
		ev->actor = e[i].f[4];
	}
	free(granted);
	return e;
}

static void
free_events(evbuf *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 5; k++)
			free(e[i].f[k]);
	free(e);
}

static bool
has_type(cm_event_kind k)
{
	return k == CM_EV_GRANT || k == CM_EV_CONFIRM || k == CM_EV_WITHDRAW ||
	    k == CM_EV_UPDATE;
}

static void
assert_str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* Sort events E[0..N) in batches of BATCH (tag = position in E). */
static cm_runsort *
runsort_all(cm_index *idx, const evbuf *e, size_t n, size_t batch)
{
	unsigned long *tags = calloc(batch, sizeof(*tags));
	cm_runsort *sp;
	cm_batch *b;
	size_t nb = 0;

	assert_non_null(tags);
	assert_int_equal(cm_runsort_new(idx, NULL, &sp), CM_OK);
	assert_int_equal(cm_batch_new(&b), CM_OK);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(cm_batch_add(b, &e[i].ev), CM_OK);
		tags[nb++] = i;
		if (nb == batch || i + 1 == n) {
			assert_int_equal(cm_runsort_add(sp, b, tags), CM_OK);
			cm_batch_clear(b);
			nb = 0;
		}
	}
	assert_int_equal(cm_runsort_events(sp), n);
	cm_batch_free(b);
	free(tags);
	return sp;
}

/* Read SP back MAX at a time: every event once, in key order, equal
 * keys in the order added, each exactly as added. */
static void
check_merge(cm_runsort *sp, const evbuf *e, size_t n, size_t max)
{
	unsigned long *tags = calloc(max, sizeof(*tags));
	unsigned char prev[CM_SUBJECT_KEY_LEN];
	unsigned long prev_tag = 0;
	bool *seen = calloc(n, sizeof(*seen));
	size_t total = 0, got;
	cm_batch *b;

	assert_non_null(tags);
	assert_non_null(seen);
	assert_int_equal(cm_batch_new(&b), CM_OK);
	for (;;) {
		assert_int_equal(cm_runsort_next(sp, b, max, tags, &got), CM_OK);
		if (got == 0)
			break;
		assert_true(got <= max);
		assert_int_equal(cm_batch_count(b), got);
		for (size_t i = 0; i < got; i++) {
			const cm_event *ev;
			const unsigned char *key;
			size_t len[7];
			const evbuf *o;

			/* the batch is in key order as it stands */
			assert_int_equal(cm_batch_sorted_at(b, i, &ev, &key,
			    len), i);
			assert_true(tags[i] < n);
			assert_false(seen[tags[i]]);
			seen[tags[i]] = true;
			if (total + i > 0) {
				int c = memcmp(prev, key, sizeof(prev));

				assert_true(c <= 0);
				if (c == 0)
					assert_true(prev_tag < tags[i]);
			}
			memcpy(prev, key, sizeof(prev));
			prev_tag = tags[i];
			o = &e[tags[i]];
			assert_int_equal(ev->kind, o->ev.kind);
			assert_int_equal(ev->state, o->ev.state);
			assert_true(ev->at_us == o->ev.at_us);
			assert_string_equal(ev->addr, o->ev.addr);
			assert_str_same(ev->type, has_type(o->ev.kind) ?
			    o->ev.type : NULL);
			assert_str_same(ev->source, o->ev.source);
			assert_str_same(ev->basis, o->ev.basis);
			assert_str_same(ev->purpose, o->ev.purpose);
			assert_str_same(ev->evidence, o->ev.evidence);
			assert_str_same(ev->actor, o->ev.actor);
		}
		total += got;
		cm_batch_clear(b);
	}
	assert_int_equal(total, n);
	/* and stays at the end */
	assert_int_equal(cm_runsort_next(sp, b, max, tags, &got), CM_OK);
	assert_int_equal(got, 0);
	cm_batch_free(b);
	free(seen);
	free(tags);
}

static void
test_order(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	size_t n = cmt_quick() ? 600 : 3000;
	evbuf *e = make_events(n, n / 8);
	cm_runsort *sp = runsort_all(idx, e, n, n / 5 + 1);

	(void)state;
	assert_int_equal(cm_runsort_runs(sp), 5);
	check_merge(sp, e, n, 97);
	cm_runsort_free(sp);
	/* one run, read in one batch */
	sp = runsort_all(idx, e, n, n);
	assert_int_equal(cm_runsort_runs(sp), 1);
	check_merge(sp, e, n, n);
	cm_runsort_free(sp);
	free_events(e, n);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

/* More runs than are merged at once: they are merged into one first. */
static void
test_many_runs(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	size_t n = 2600;
	evbuf *e = make_events(n, 300);
	cm_runsort *sp = runsort_all(idx, e, n, 2);

	(void)state;
	/* 1,300 runs of 2: 1,024 merged into one, then 276 more */
	assert_int_equal(cm_runsort_runs(sp), 1 + 1300 - 1024);
	check_merge(sp, e, n, 1000);
	cm_runsort_free(sp);
	free_events(e, n);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

/* Import E through a run sort (batches of BATCH) or, with BATCH == 0, as
 * one batch; returns the dump of the index. */
static char *
import_dump(const char *dir, const evbuf *e, size_t n, size_t batch,
    const char *const *addrs, size_t naddrs)
{
	cm_index *idx = cmt_open(dir, 0);
	cm_batch_result r;
	cm_import *im;
	cm_batch *b;
	char *d;

	assert_int_equal(cm_batch_new(&b), CM_OK);
	assert_int_equal(cm_index_import_begin(idx, 1 << 20, &im), CM_OK);
	if (batch == 0) {
		for (size_t i = 0; i < n; i++)
			assert_int_equal(cm_batch_add(b, &e[i].ev), CM_OK);
		assert_int_equal(cm_import_apply(im, b, &r), CM_OK);
	} else {
		cm_runsort *sp = runsort_all(idx, e, n, batch);
		unsigned long tags[50];
		size_t got;

		for (;;) {
			assert_int_equal(cm_runsort_next(sp, b, 50, tags, &got),
			    CM_OK);
			if (got == 0)
				break;
			assert_int_equal(cm_import_apply(im, b, &r), CM_OK);
			cm_batch_clear(b);
		}
		cm_runsort_free(sp);
	}
	assert_int_equal(cm_import_commit(im), CM_OK);
	d = cmt_dump(idx, addrs, naddrs);
	cm_batch_free(b);
	cm_index_close(idx);
	return d;
}

/* Through a run sort, an import changes the index exactly as applying all
 * its events in one batch does (same index key: same order). */
static void
test_same_as_one_batch(void **state)
{
	char *d1 = cmt_mkdtemp(), *d2 = cmt_mkdtemp(), path[4096], *a, *b;
	size_t n = cmt_quick() ? 400 : 2000, naddr = n / 10;
	evbuf *e = make_events(n, naddr);
	const char **addrs = calloc(naddr, sizeof(*addrs));
	char (*abuf)[96] = calloc(naddr, sizeof(*abuf));
	cm_index *idx;
	FILE *in, *out;
	int ch;

	(void)state;
	assert_non_null(addrs);
	assert_non_null(abuf);
	/* "now" differs between the two imports */
	for (size_t i = 0; i < n; i++)
		if (e[i].ev.at_us == 0)
			e[i].ev.at_us = T0;
	for (size_t i = 0; i < naddr; i++) {
		snprintf(abuf[i], sizeof(abuf[i]), "user%zu@example%zu.org",
		    i, i % 13);
		addrs[i] = abuf[i];
	}
	/* the second index gets the first one's key */
	idx = cmt_open(d1, 0);
	cm_index_close(idx);
	snprintf(path, sizeof(path), "%s/erasure.key", d1);
	assert_non_null(in = fopen(path, "rb"));
	snprintf(path, sizeof(path), "%s/erasure.key", d2);
	assert_non_null(out = fopen(path, "wb"));
	while ((ch = getc(in)) != EOF)
		putc(ch, out);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(chmod(path, 0600), 0);

	a = import_dump(d1, e, n, n / 7 + 1, addrs, naddr);
	b = import_dump(d2, e, n, 0, addrs, naddr);
	assert_string_equal(a, b);
	/* and the dump is not empty: there is something to compare */
	assert_non_null(strstr(a, "user1@example1.org"));
	free(a);
	free(b);
	free(addrs);
	free(abuf);
	free_events(e, n);
	cmt_rmdir(d1);
	cmt_rmdir(d2);
}

static void
test_misuse(void **state)
{
	char *dir = cmt_mkdtemp(), bad[4200];
	cm_index *idx = cmt_open(dir, 0);
	unsigned long tags[4] = { 0 };
	cm_event ev = { 0 };
	cm_runsort *sp;
	cm_batch *b;
	size_t got = 9;

	(void)state;
	snprintf(bad, sizeof(bad), "%s/no-such-dir", dir);
	errno = 0;
	assert_int_equal(cm_runsort_new(idx, bad, &sp), CM_EIO);
	assert_int_equal(errno, ENOENT);
	assert_null(sp);

	assert_int_equal(cm_runsort_new(idx, dir, &sp), CM_OK);
	/* the temporary file has no name */
	{
		char *cmd;

		assert_true(asprintf(&cmd, "test -z \"$(ls %s | grep -v "
		    "'^data.mdb$\\|^lock.mdb$\\|^erasure.key$\\|"
		    "^writer.lock$')\"", dir) > 0);
		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	assert_int_equal(cm_batch_new(&b), CM_OK);
	/* nothing added: nothing to read */
	assert_int_equal(cm_runsort_next(sp, b, 4, tags, &got), CM_OK);
	assert_int_equal(got, 0);
	/* adding after reading began */
	ev.kind = CM_EV_GRANT;
	ev.addr = "a@example.org";
	ev.type = "news";
	assert_int_equal(cm_batch_add(b, &ev), CM_OK);
	assert_int_equal(cm_runsort_add(sp, b, tags), CM_EINVAL);
	/* reading into a batch that is not empty */
	assert_int_equal(cm_runsort_next(sp, b, 4, tags, &got), CM_EINVAL);
	assert_string_equal(cm_runsort_error(sp), "");
	cm_runsort_free(sp);
	cm_runsort_free(NULL);
	cm_batch_free(b);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_many_runs),
		cmocka_unit_test(test_same_as_one_batch),
		cmocka_unit_test(test_misuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
