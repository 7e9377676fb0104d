/* test_decide.c - the decision engine (core/decide.h, SPEC §4). */
#include <fcntl.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmtest.h"
#include "core/decide.h"
#include "core/hmac.h"
#include "core/siphash.h"
#include "core/index.h"
#include "core/rules.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define T0 INT64_C(1700000000000000)
#define DAY INT64_C(86400000000)

typedef struct dev {
	cm_event_kind k;	/* 0 ends the list */
	const char *addr;
	const char *type;
	cm_state st;
	int64_t at;		/* offset from T0 */
} dev;

typedef struct dcase {
	const char *name;
	dev ev[6];
	cm_requirement req;
	int64_t validity;
	const char *type;	/* asked type; NULL = "news" */
	const char *rcpt;
	int64_t now;		/* offset from T0 */
	cm_verdict v;
	cm_reason r;
} dcase;

#define G(a, t, at) { CM_EV_GRANT, a, t, CM_STATE_GRANTED, at }
#define P(a, t, at) { CM_EV_GRANT, a, t, CM_STATE_PENDING, at }
#define C(a, t, at) { CM_EV_CONFIRM, a, t, 0, at }
#define W(a, t, at) { CM_EV_WITHDRAW, a, t, 0, at }
#define O(a, at) { CM_EV_OBJECT, a, NULL, 0, at }
#define E(a, at) { CM_EV_ERASE, a, NULL, 0, at }
#define SD(d, at) { CM_EV_SUPPRESS_DOMAIN, d, NULL, 0, at }
#define UD(d, at) { CM_EV_UNSUPPRESS_DOMAIN, d, NULL, 0, at }
#define OPT CM_REQ_OPT_IN
#define DOI CM_REQ_DOUBLE_OPT_IN
#define NOB CM_REQ_NO_OBJECTION
#define ALLOW CM_ALLOW, CM_REASON_NONE
#define DENY(r) CM_DENY, CM_REASON_##r

static const char B[] = "bob@example.org";
static const char BX[] = "bob+news@example.org";

static const dcase cases[] = {
	/* rule 4: reasons */
	{ "no record", { { 0 } }, OPT, 0, NULL, B, 10, DENY(NO_CONSENT) },
	{ "granted", { G(B, "news", 1) }, OPT, 0, NULL, B, 10, ALLOW },
	{ "case-folded rcpt", { G(B, "news", 1) }, OPT, 0, NULL,
	    "<Bob@EXAMPLE.org>", 10, ALLOW },
	{ "other type only", { G(B, "offers", 1) }, OPT, 0, NULL, B, 10,
	    DENY(NO_CONSENT) },
	{ "withdrawn", { G(B, "news", 1), W(B, "news", 2) }, OPT, 0, NULL, B,
	    10, DENY(WITHDRAWN) },
	{ "withdrawn then granted", { W(B, "news", 1), G(B, "news", 2) }, OPT,
	    0, NULL, B, 10, ALLOW },
	{ "pending under opt-in", { P(B, "news", 1) }, OPT, 0, NULL, B, 10,
	    DENY(UNCONFIRMED) },
	{ "pending under double opt-in", { P(B, "news", 1) }, DOI, 0, NULL, B,
	    10, DENY(UNCONFIRMED) },
	{ "granted unconfirmed under double opt-in", { G(B, "news", 1) }, DOI,
	    0, NULL, B, 10, DENY(UNCONFIRMED) },
	{ "confirmed under double opt-in", { P(B, "news", 1),
	    C(B, "news", 2) }, DOI, 0, NULL, B, 10, ALLOW },
	{ "confirmed then withdrawn", { P(B, "news", 1), C(B, "news", 2),
	    W(B, "news", 3) }, DOI, 0, NULL, B, 10, DENY(WITHDRAWN) },
	{ "withdrawal between sign-up and late confirmation", {
	    P(B, "news", 1), W(B, "news", 2), C(B, "news", 3) }, DOI, 0, NULL,
	    B, 10, DENY(WITHDRAWN) },

	/* expiry: now >= max(granted, confirmed) + validity is expired */
	{ "expiry: one us before", { G(B, "news", 0) }, OPT, 30 * DAY, NULL,
	    B, 30 * DAY - 1, ALLOW },
	{ "expiry: exactly at", { G(B, "news", 0) }, OPT, 30 * DAY, NULL, B,
	    30 * DAY, DENY(EXPIRED) },
	{ "expiry: long after", { G(B, "news", 0) }, OPT, 30 * DAY, NULL, B,
	    300 * DAY, DENY(EXPIRED) },
	{ "expiry counts from confirmation", { P(B, "news", 0),
	    C(B, "news", 10 * DAY) }, DOI, 30 * DAY, NULL, B, 30 * DAY, ALLOW },
	{ "expiry from confirmation: at", { P(B, "news", 0),
	    C(B, "news", 10 * DAY) }, DOI, 30 * DAY, NULL, B, 40 * DAY,
	    DENY(EXPIRED) },
	{ "no validity never expires", { G(B, "news", 0) }, OPT, 0, NULL, B,
	    3650 * DAY, ALLOW },
	{ "withdrawn beats expired", { G(B, "news", 0), W(B, "news", 1) }, OPT,
	    DAY, NULL, B, 10 * DAY, DENY(WITHDRAWN) },

	/* rule 1: objection and suppression beat any grant */
	{ "objection beats grant", { G(B, "news", 1), O(B, 2) }, OPT, 0, NULL,
	    B, 10, DENY(OBJECTION) },
	{ "objection beats a grant imported later", { O(B, 2),
	    G(B, "news", 1) }, OPT, 0, NULL, B, 10, DENY(OBJECTION) },
	{ "objection alone", { O(B, 2) }, OPT, 0, NULL, B, 10,
	    DENY(OBJECTION) },
	{ "objection then newer grant", { G(B, "news", 1), O(B, 2),
	    G(B, "news", 3) }, OPT, 0, NULL, B, 10, ALLOW },
	/* a later grant lifts the objection for its own type only */
	{ "objection then newer grant of another type", { G(B, "news", 1),
	    O(B, 2), G(B, "offers", 3) }, OPT, 0, NULL, B, 10,
	    DENY(OBJECTION) },
	{ "objection then newer grant of another type, no-objection type", {
	    O(B, 2), G(B, "offers", 3) }, NOB, 0, NULL, B, 10,
	    DENY(OBJECTION) },
	{ "objection then newer grant of the no-objection type", {
	    O(B, 2), G(B, "news", 3) }, NOB, 0, NULL, B, 10, ALLOW },
	{ "domain suppression beats grant", { G(B, "news", 1),
	    SD("example.org", 2) }, OPT, 0, NULL, B, 10, DENY(SUPPRESSED) },
	{ "domain suppression beats no-objection", {
	    SD("example.org", 2) }, NOB, 0, NULL, B, 10, DENY(SUPPRESSED) },
	{ "domain unsuppressed", { G(B, "news", 1), SD("example.org", 2),
	    UD("example.org", 3) }, OPT, 0, NULL, B, 10, ALLOW },
	{ "other domain suppressed", { G(B, "news", 1),
	    SD("example.com", 2) }, OPT, 0, NULL, B, 10, ALLOW },
	{ "parent domain does not cover subdomain", { G("a@mx.example.org",
	    "news", 1), SD("example.org", 2) }, OPT, 0, NULL,
	    "a@mx.example.org", 10, ALLOW },
	{ "objection beats domain suppression reason", { O(B, 1),
	    SD("example.org", 2) }, OPT, 0, NULL, B, 10, DENY(OBJECTION) },
	{ "erased", { G(B, "news", 1), E(B, 2) }, OPT, 0, NULL, B, 10,
	    DENY(SUPPRESSED) },
	{ "erased, no-objection type", { E(B, 2) }, NOB, 0, NULL, B, 10,
	    DENY(SUPPRESSED) },
	{ "erased then opted in again", { E(B, 2), G(B, "news", 3) }, OPT, 0,
	    NULL, B, 10, ALLOW },

	/* sub-addresses */
	{ "sub-address allowed via base grant", { G(B, "news", 1) }, OPT, 0,
	    NULL, BX, 10, ALLOW },
	{ "sub-address opt-out via base withdrawal", { G(BX, "news", 1),
	    W(B, "news", 2) }, OPT, 0, NULL, BX, 10, DENY(WITHDRAWN) },
	{ "base withdrawal wins over newer sub grant", { W(B, "news", 1),
	    G(BX, "news", 2) }, OPT, 0, NULL, BX, 10, DENY(WITHDRAWN) },
	{ "sub-address own grant", { G(BX, "news", 1) }, OPT, 0, NULL, BX, 10,
	    ALLOW },
	{ "sub-address own withdrawal, base granted", { G(B, "news", 1),
	    W(BX, "news", 2) }, OPT, 0, NULL, BX, 10, DENY(WITHDRAWN) },
	{ "sub-address grant does not cover base", { G(BX, "news", 1) }, OPT,
	    0, NULL, B, 10, DENY(NO_CONSENT) },
	{ "base objection covers sub-address", { G(BX, "news", 1), O(B, 2) },
	    OPT, 0, NULL, BX, 10, DENY(OBJECTION) },
	{ "base erased covers sub-address", { G(BX, "news", 1), E(B, 2) },
	    OPT, 0, NULL, BX, 10, DENY(SUPPRESSED) },
	{ "sub-address erased, base granted", { G(B, "news", 1),
	    G(BX, "news", 1), E(BX, 2) }, OPT, 0, NULL, BX, 10,
	    DENY(SUPPRESSED) },
	{ "sub-address erased, base still allowed", { G(B, "news", 1),
	    E(BX, 2) }, OPT, 0, NULL, B, 10, ALLOW },
	{ "base pending under double opt-in", { P(B, "news", 1) }, DOI, 0,
	    NULL, BX, 10, DENY(UNCONFIRMED) },

	/* rule 2: no-objection types */
	{ "no-objection, no record", { { 0 } }, NOB, 0, NULL, B, 10, ALLOW },
	{ "no-objection, granted", { G(B, "news", 1) }, NOB, 0, NULL, B, 10,
	    ALLOW },
	{ "no-objection, pending", { P(B, "news", 1) }, NOB, 0, NULL, B, 10,
	    ALLOW },
	{ "no-objection, withdrawn", { W(B, "news", 1) }, NOB, 0, NULL, B, 10,
	    DENY(WITHDRAWN) },
	{ "no-objection, other type withdrawn", { W(B, "offers", 1) }, NOB, 0,
	    NULL, B, 10, ALLOW },
	{ "no-objection, validity ignored", { G(B, "news", 0) }, NOB, DAY,
	    NULL, B, 10 * DAY, ALLOW },
	{ "no-objection, objection", { O(B, 1) }, NOB, 0, NULL, B, 10,
	    DENY(OBJECTION) },
	{ "no-objection, base withdrawn", { W(B, "news", 1) }, NOB, 0, NULL,
	    BX, 10, DENY(WITHDRAWN) },
	{ "no-objection, sub withdrawn", { W(BX, "news", 1) }, NOB, 0, NULL,
	    BX, 10, DENY(WITHDRAWN) },
	{ "no-objection, withdrawn then granted", { W(B, "news", 1),
	    G(B, "news", 2) }, NOB, 0, NULL, B, 10, ALLOW },
};

static void
run_case(const dcase *c)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	cm_type_policy tp;
	cm_addr a = cmt_addr(c->rcpt);
	cm_decision d;
	cm_status st;

	for (size_t i = 0; i < NELEM(c->ev) && c->ev[i].k != 0; i++) {
		cm_event ev = { 0 };

		ev.kind = c->ev[i].k;
		ev.addr = c->ev[i].addr;
		ev.type = c->ev[i].type;
		ev.state = c->ev[i].st;
		ev.at_us = T0 + c->ev[i].at;
		st = cm_index_apply(idx, &ev);
		if (st != CM_OK && st != CM_ESTALE)
			fail_msg("%s: event %zu: %s", c->name, i,
			    cm_strerror(st));
	}
	tp.id = c->type ? c->type : "news";
	tp.requirement = c->req;
	tp.validity_us = c->validity;
	st = cm_decide(idx, &tp, &a, T0 + c->now, &d);
	if (st != CM_OK)
		fail_msg("%s: %s", c->name, cm_strerror(st));
	if (d.verdict != c->v || d.reason != c->r)
		fail_msg("%s: %s (%s), want %s (%s)", c->name,
		    cm_verdict_name(d.verdict), cm_reason_name(d.reason),
		    cm_verdict_name(c->v), cm_reason_name(c->r));
	cm_index_close(idx);
	cmt_rmdir(dir);
}

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++)
		run_case(&cases[i]);
}

/* Every reason appears in the table. */
static void
test_table_covers_reasons(void **state)
{
	bool seen[CM_REASON_SUPPRESSED + 1] = { false };

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++)
		seen[cases[i].r] = true;
	for (int r = CM_REASON_NONE; r <= CM_REASON_SUPPRESSED; r++)
		if (!seen[r])
			fail_msg("reason %s not tested", cm_reason_name(r));
}

static void
test_bad_args(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	cm_type_policy tp = { "news", OPT, 0 };
	cm_addr a = cmt_addr(B);
	cm_decision d;

	(void)state;
	assert_int_equal(cm_decide(NULL, &tp, &a, T0, &d), CM_EINVAL);
	assert_int_equal(d.verdict, 0);
	assert_int_equal(cm_decide(idx, NULL, &a, T0, &d), CM_EINVAL);
	assert_int_equal(cm_decide(idx, &tp, NULL, T0, &d), CM_EINVAL);
	assert_int_equal(cm_decide(idx, &tp, &a, T0, NULL), CM_EINVAL);
	tp.requirement = 0;
	assert_int_equal(cm_decide(idx, &tp, &a, T0, &d), CM_EINVAL);
	tp.requirement = OPT;
	tp.id = "";
	assert_int_equal(cm_decide(idx, &tp, &a, T0, &d), CM_EINVAL);
	tp.id = "news";
	tp.validity_us = -1;
	assert_int_equal(cm_decide(idx, &tp, &a, T0, &d), CM_EINVAL);
	assert_int_equal(d.verdict, 0);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

/* A corrupt stored entry is an error, never allow or deny. */
static void
test_corrupt_entry(void **state)
{
	char *dir = cmt_mkdtemp(), *kp;
	cm_index *idx = cmt_open(dir, 0);
	cm_type_policy tp = { "news", NOB, 0 };
	cm_addr a = cmt_addr(B);
	unsigned char key[32], d0[32], sk[16];
	static const char ctx[] = "consent-milter address key v1";
	cm_hmac *h;
	cm_decision d;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	unsigned char junk[30];
	int fd;

	(void)state;
	assert_int_equal(cmt_grant(idx, B, "news", CM_STATE_GRANTED, T0),
	    CM_OK);
	cm_index_close(idx);

	assert_true(asprintf(&kp, "%s/erasure.key", dir) > 0);
	fd = open(kp, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, key, 32), 32);
	close(fd);
	free(kp);
	assert_int_equal(cm_hmac_new(key, 32, &h), CM_OK);
	cm_hmac_sha256(h, ctx, sizeof(ctx) - 1, d0);
	cm_hmac_free(h);
	memcpy(sk, d0, 16);
	cm_siphash128(sk, B, strlen(B), d0);
	d0[0] |= 0x80;		/* address keys (index.c) */

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "index", 0, &dbi), 0);
	k.mv_data = d0;
	k.mv_size = 16;
	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);	/* the key is right */
	memset(junk, 0xff, sizeof(junk));
	junk[0] = 1;
	v.mv_data = junk;
	v.mv_size = sizeof(junk);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	idx = cmt_open(dir, 0);
	assert_int_equal(cm_decide(idx, &tp, &a, T0, &d), CM_EFORMAT);
	assert_int_equal(d.verdict, 0);
	assert_non_null(strstr(cm_index_last_error(idx), "corrupt"));
	{
		cm_entry *e = NULL;

		assert_int_equal(cm_index_get(idx, B, &e), CM_EFORMAT);
		assert_null(e);
	}
	cm_index_close(idx);
	cmt_rmdir(dir);
}

static cm_status
decide_as(cm_index *idx, const char *rcpt, cm_decision *d)
{
	cm_type_policy tp = { "news", NOB, 0 };
	cm_addr a = cmt_addr(rcpt);

	return cm_decide(idx, &tp, &a, T0 + 10, d);
}

static void
expect(cm_index *idx, const char *rcpt, cm_verdict v, cm_reason r)
{
	cm_decision d;
	cm_status st = decide_as(idx, rcpt, &d);

	if (st != CM_OK)
		fail_msg("%s: %s", rcpt, cm_strerror(st));
	if (d.verdict != v || d.reason != r)
		fail_msg("%s: %s (%s), want %s (%s)", rcpt,
		    cm_verdict_name(d.verdict), cm_reason_name(d.reason),
		    cm_verdict_name(v), cm_reason_name(r));
}

/* Domain suppressions are seen by the next decision on the same handle
 * (index.c caches them per read snapshot), with few and with many
 * suppressed domains, and unsuppressed domains stay allowed. */
static void
test_domain_changes_seen(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	cm_batch *b = NULL;
	cm_batch_result r;
	char name[64];
	int64_t at = 1;

	(void)state;
	expect(idx, B, ALLOW);
	assert_int_equal(cmt_ev(idx, CM_EV_SUPPRESS_DOMAIN, "example.org",
	    NULL, T0 + at++), CM_OK);
	expect(idx, B, DENY(SUPPRESSED));
	expect(idx, "a@example.com", ALLOW);
	assert_int_equal(cmt_ev(idx, CM_EV_UNSUPPRESS_DOMAIN, "example.org",
	    NULL, T0 + at++), CM_OK);
	expect(idx, B, ALLOW);
	/* 40 suppressed, every other one unsuppressed again; then past
	 * 1024 domain entries */
	for (int round = 0; round < 2; round++) {
		size_t n = round == 0 ? 40 : 1100;

		assert_int_equal(cm_batch_new(&b), CM_OK);
		for (size_t i = 0; i < n; i++) {
			cm_event ev = { 0 };

			snprintf(name, sizeof(name), "d%zu.example", i);
			ev.kind = CM_EV_SUPPRESS_DOMAIN;
			ev.addr = name;
			ev.at_us = T0 + at;
			assert_int_equal(cm_batch_add(b, &ev), CM_OK);
			if (i % 2 == 1) {
				ev.kind = CM_EV_UNSUPPRESS_DOMAIN;
				ev.at_us = T0 + at + 1;
				assert_int_equal(cm_batch_add(b, &ev), CM_OK);
			}
		}
		at += 2;
		assert_int_equal(cm_index_apply_batch(idx, b, &r), CM_OK);
		cm_batch_free(b);
		for (size_t i = 0; i < n + 3; i++) {
			snprintf(name, sizeof(name), "x@d%zu.example", i);
			if (i % 2 == 0 && i < n)
				expect(idx, name, DENY(SUPPRESSED));
			else
				expect(idx, name, ALLOW);
		}
		expect(idx, B, ALLOW);
		expect(idx, "x@example", ALLOW);
	}
	assert_int_equal(cmt_ev(idx, CM_EV_SUPPRESS_DOMAIN, "example.org",
	    NULL, T0 + at++), CM_OK);
	expect(idx, B, DENY(SUPPRESSED));
	cm_index_close(idx);
	cmt_rmdir(dir);
}

/* An undecodable domain entry is an error for that domain only, with or
 * without the per-snapshot domain cache. */
static void
test_corrupt_domain(void **state)
{
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	static const char dk[] = "\0bad.example";
	unsigned char junk[30];
	cm_decision d;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;

	(void)state;
	assert_int_equal(cmt_ev(idx, CM_EV_SUPPRESS_DOMAIN, "example.org",
	    NULL, T0 + 1), CM_OK);
	cm_index_close(idx);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "index", 0, &dbi), 0);
	k.mv_data = (void *)(uintptr_t)dk;
	k.mv_size = sizeof(dk) - 1;
	memset(junk, 0xff, sizeof(junk));
	junk[0] = 1;
	v.mv_data = junk;
	v.mv_size = sizeof(junk);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	idx = cmt_open(dir, 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(decide_as(idx, "a@bad.example", &d),
		    CM_EFORMAT);
		expect(idx, B, DENY(SUPPRESSED));
		expect(idx, "a@example.net", ALLOW);
	}
	cm_index_close(idx);
	cmt_rmdir(dir);
}

/*
 * The raw-address entry point of the milter and `consentctl check`: an
 * address that cannot be normalized is denied (no-consent) by core's
 * rule, even with a grant for every type and with no index; out of
 * memory stays an error; a good address decides as cm_decide.
 */
static void
test_raw(void **state)
{
	static const struct {
		const char *raw;
		bool idx;
		cm_status st, addr_st;
		cm_verdict v;
		cm_reason r;
	} rows[] = {
		{ "<Bob@Example.ORG>", true, CM_OK, CM_OK, ALLOW },
		{ "carol@example.org", true, CM_OK, CM_OK, DENY(NO_CONSENT) },
		{ "not an address", true, CM_OK, CM_ADDR_NO_AT,
		  DENY(NO_CONSENT) },
		{ "<bob@example.org", true, CM_OK, CM_ADDR_BRACKET,
		  DENY(NO_CONSENT) },
		{ "", false, CM_OK, CM_ADDR_EMPTY, DENY(NO_CONSENT) },
		{ "bob@example.org", false, CM_EIO, CM_OK, 0, CM_REASON_NONE },
		/* a routing form: the routed address and the address as
		 * written (delivered there where the domain is not local)
		 * must both allow */
		{ "bob%example.org@suppressed.example", true, CM_OK, CM_OK,
		  DENY(SUPPRESSED) },
		{ "<example.org!bob@other.example>", true, CM_OK, CM_OK,
		  DENY(NO_CONSENT) },
		{ "dave%example.org@example.net", true, CM_OK, CM_OK, ALLOW },
		{ "dave%example.org@elsewhere.example", true, CM_OK, CM_OK,
		  DENY(NO_CONSENT) },
	};
	char *dir = cmt_mkdtemp();
	cm_index *idx = cmt_open(dir, 0);
	cm_type_policy tp = { "news", OPT, 0 }, tp2 = { "offers", OPT, 0 };
	const cm_type_policy *tps[] = { &tp, &tp2 };
	cm_event ev = { 0 };
	cm_decision d;
	cm_addr a;
	cm_status ast;

	(void)state;
	ev.kind = CM_EV_GRANT;
	ev.addr = B;
	ev.state = CM_STATE_GRANTED;
	ev.at_us = T0;
	ev.type = "news";
	assert_int_equal(cm_index_apply(idx, &ev), CM_OK);
	ev.type = "offers";
	assert_int_equal(cm_index_apply(idx, &ev), CM_OK);
	for (int i = 0; i < 4; i++) {
		ev.addr = i < 2 ? "dave@example.org" :
		    "dave%example.org@example.net";
		ev.type = i % 2 ? "offers" : "news";
		assert_int_equal(cm_index_apply(idx, &ev), CM_OK);
	}
	memset(&ev, 0, sizeof(ev));
	ev.kind = CM_EV_SUPPRESS_DOMAIN;
	ev.addr = "suppressed.example";
	ev.at_us = T0;
	assert_int_equal(cm_index_apply(idx, &ev), CM_OK);
	for (size_t i = 0; i < NELEM(rows); i++) {
		cm_status st = cm_decide_raw(rows[i].idx ? idx : NULL, tps, 2,
		    rows[i].raw, strlen(rows[i].raw), NULL, T0 + 1, &a, &ast,
		    &d, NULL);

		if (st != rows[i].st || ast != rows[i].addr_st)
			fail_msg("%s: %s/%s", rows[i].raw, cm_strerror(st),
			    cm_strerror(ast));
		if (st == CM_OK && (d.verdict != rows[i].v ||
		    d.reason != rows[i].r))
			fail_msg("%s: %s (%s)", rows[i].raw,
			    cm_verdict_name(d.verdict),
			    cm_reason_name(d.reason));
	}
	assert_int_equal(cm_decide_raw(idx, tps, 0, B, strlen(B), NULL, T0,
	    &a, &ast, &d, NULL), CM_EINVAL);
	/* the rule alone */
	assert_int_equal(cm_rules_unnormalized(CM_ADDR_BAD_IDN, &d), CM_OK);
	assert_int_equal(d.verdict, CM_DENY);
	assert_int_equal(d.reason, CM_REASON_NO_CONSENT);
	assert_int_equal(cm_rules_unnormalized(CM_ENOMEM, &d), CM_ENOMEM);
	assert_int_equal(d.verdict, 0);
	assert_int_equal(cm_rules_unnormalized(CM_OK, &d), CM_EINVAL);
	cm_index_close(idx);
	cmt_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_covers_reasons),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_corrupt_entry),
		cmocka_unit_test(test_domain_changes_seen),
		cmocka_unit_test(test_corrupt_domain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
