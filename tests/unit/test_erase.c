/*
 * test_erase.c - erasure beyond one key: the sub-addresses of an
 * address on a real LMDB (tombstones, history, the bytes of data.mdb,
 * decisions).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmtest.h"
#include "core/decide.h"
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

	if (f->idx != NULL)
		cm_index_close(f->idx);
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
		{ "eve@example.org", false },		/* another domain */
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

		snprintf(ev_text, sizeof(ev_text), "evidence-of-%s;", t[i].addr);
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

		snprintf(ev_text, sizeof(ev_text), "evidence-of-%s;", t[i].addr);
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
		/* every "eve@example.com" left in the file is steve's or +eve's */
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_subaddresses, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_subaddress_scope, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
