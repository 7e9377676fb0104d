/* cmtest.c - helpers shared by the unit tests (see cmtest.h). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include <cmocka.h>

#include "cmtest.h"

char *
cmt_mkdtemp(void)
{
	const char *base = getenv("CM_TMP");
	char *p;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	assert_true(asprintf(&p, "%s/cmt.XXXXXX", base) > 0);
	assert_non_null(mkdtemp(p));
	return p;
}

void
cmt_rmdir(char *dir)
{
	DIR *d;
	struct dirent *de;

	if (dir == NULL)
		return;
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char *p;

			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (asprintf(&p, "%s/%s", dir, de->d_name) > 0) {
				(void)unlink(p);
				free(p);
			}
		}
		closedir(d);
	}
	(void)rmdir(dir);
	free(dir);
}

cm_index *
cmt_open(const char *dir, size_t map)
{
	cm_index_opts o = { 0 };
	cm_index *idx = NULL;
	cm_status st;

	o.create = true;
	o.map_size = map;
	st = cm_index_open(dir, &o, &idx);
	if (st != CM_OK)
		fail_msg("cm_index_open(%s): %s", dir, cm_strerror(st));
	return idx;
}

cm_addr
cmt_addr(const char *s)
{
	cm_addr a;
	cm_status st = cm_addr_normalize(s, strlen(s), NULL, &a);

	if (st != CM_OK)
		fail_msg("cm_addr_normalize(%s): %s", s, cm_strerror(st));
	return a;
}

bool
cmt_quick(void)
{
	const char *q = getenv("CM_TEST_QUICK");

	return RUNNING_ON_VALGRIND || (q != NULL && *q != '\0' &&
	    strcmp(q, "0") != 0);
}

typedef struct sbuf {
	char *p;
	size_t n, cap;
} sbuf;

static void
sb_printf(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int need;

	va_start(ap, fmt);
	need = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(need >= 0);
	if (b->n + (size_t)need + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 1024;

		while (nc < b->n + (size_t)need + 1)
			nc *= 2;
		b->p = realloc(b->p, nc);
		assert_non_null(b->p);
		b->cap = nc;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->n, (size_t)need + 1, fmt, ap);
	va_end(ap);
	b->n += (size_t)need;
}

static int
dump_entry(const cm_entry *e, void *arg)
{
	sbuf *b = arg;

	sb_printf(b, "E %s obj=%d/%lld\n", e->addr, e->objection,
	    (long long)e->objection_us);
	for (size_t i = 0; i < e->nrecords; i++) {
		const cm_record *r = &e->records[i];

		sb_printf(b, " R %s %s g=%lld c=%lld w=%lld u=%lld [%s|%s|%s|%s]\n",
		    r->type, cm_state_name(r->state), (long long)r->granted_us,
		    (long long)r->confirmed_us, (long long)r->withdrawn_us,
		    (long long)r->updated_us, r->source, r->basis, r->purpose,
		    r->evidence);
	}
	return 0;
}

static int
dump_hist(const cm_history_event *ev, void *arg)
{
	sbuf *b = arg;

	/* recorded_us differs between runs; leave it out */
	sb_printf(b, " H %llu %s %s %s->%s at=%lld [%s|%s|%s|%s|%s]\n",
	    (unsigned long long)ev->seq, cm_event_kind_name(ev->kind),
	    ev->type, cm_state_name(ev->old_state),
	    cm_state_name(ev->new_state), (long long)ev->at_us, ev->source,
	    ev->basis, ev->purpose, ev->evidence, ev->actor);
	return 0;
}

static int
dump_domain(const char *d, int64_t since, const char *src, void *arg)
{
	sb_printf(arg, "D %s %lld %s\n", d, (long long)since, src);
	return 0;
}

char *
cmt_dump(cm_index *idx, const char *const *addrs, size_t naddrs)
{
	sbuf b = { 0 };
	cm_index_stats st;
	cm_status s;

	sb_printf(&b, "#\n");
	assert_int_equal(cm_index_foreach(idx, dump_entry, &b), CM_OK);
	for (size_t i = 0; i < naddrs; i++) {
		sb_printf(&b, "history %s\n", addrs[i]);
		s = cm_index_history(idx, addrs[i], dump_hist, &b);
		assert_true(s == CM_OK || s == CM_NOTFOUND);
		sb_printf(&b, "erased %d\n",
		    cm_index_is_erased(idx, addrs[i]) == CM_OK);
	}
	assert_int_equal(cm_index_foreach_domain(idx, dump_domain, &b), CM_OK);
	assert_int_equal(cm_index_stats_get(idx, &st), CM_OK);
	sb_printf(&b, "stats %zu %zu %zu %zu %zu\n", st.addresses, st.records,
	    st.history_events, st.domains, st.tombstones);
	return b.p;
}

cm_status
cmt_grant(cm_index *idx, const char *addr, const char *type, cm_state st,
    int64_t at)
{
	cm_event ev = { 0 };

	ev.kind = CM_EV_GRANT;
	ev.addr = addr;
	ev.type = type;
	ev.state = st;
	ev.at_us = at;
	ev.source = "test";
	return cm_index_apply(idx, &ev);
}

cm_status
cmt_ev(cm_index *idx, cm_event_kind k, const char *addr, const char *type,
    int64_t at)
{
	cm_event ev = { 0 };

	ev.kind = k;
	ev.addr = addr;
	ev.type = type;
	ev.at_us = at;
	ev.source = "test";
	return cm_index_apply(idx, &ev);
}
