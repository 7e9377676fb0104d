/*
 * test_rules.c - the consent rules (core/rules.h), one row per rule and
 * case, each stated in words a privacy officer can check against the
 * law and the product's promise.  Pure functions: no index, no clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/rules.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MIN INT64_C(60000000)
#define DAY (1440 * MIN)
/* "now" in every row: 2026-12-01T00:00:00Z; times are offsets from it */
#define NOW INT64_C(1796083200000000)
#define NO INT64_MIN		/* no such time: never, or "now" for an event */
#define MAXR 3

/* A stored record; times are offsets from NOW, NO = never. */
typedef struct rr {
	const char *type;	/* NULL ends the list */
	cm_state st;
	int64_t g, c, w, u;
} rr;

/* A row: what is stored, the event, what the rules must make of it. */
typedef struct row {
	const char *rule;
	/* stored */
	int64_t objection;	/* offset, or NO */
	bool erased;
	int64_t erased_at;
	rr before[MAXR];
	/* the event; at: offset, or NO for "now" (no time given) */
	cm_event_kind kind;
	const char *type;
	cm_state evstate;
	int64_t at;
	int64_t skew;		/* 0 = the default (5 minutes) */
	/* expected */
	cm_rules_verdict v;
	cm_rules_refusal why;
	int64_t objection_after;	/* offset, or NO */
	rr after[MAXR];		/* compared when applied */
	size_t nhist;
} row;

#define G CM_STATE_GRANTED
#define P CM_STATE_PENDING
#define W CM_STATE_WITHDRAWN
#define APPLIED CM_RULES_APPLIED, CM_RULES_NONE
#define STALE CM_RULES_STALE, CM_RULES_NONE
#define REFUSED(r) CM_RULES_REFUSED, CM_RULES_##r
#define NOREC { { NULL } }
/* a future grant stored by an older version (ten years ahead) */
#define LEGACY (3650 * DAY)

static const row rows[] = {
	/* --- time --- */
	{ "a grant dated in the future (beyond the clock skew) is refused",
	    NO, false, 0, NOREC,
	    CM_EV_GRANT, "news", G, LEGACY, 0,
	    REFUSED(FUTURE), NO, NOREC, 0 },
	{ "a withdrawal dated in the future is refused too: no event may "
	    "claim a time that has not come",
	    NO, false, 0, { { "news", G, -DAY, NO, NO, -DAY } },
	    CM_EV_WITHDRAW, "news", 0, DAY, 0,
	    REFUSED(FUTURE), NO, NOREC, 0 },
	{ "an objection dated in the future is refused",
	    NO, false, 0, NOREC,
	    CM_EV_OBJECT, NULL, 0, 6 * MIN, 0,
	    REFUSED(FUTURE), NO, NOREC, 0 },
	{ "a confirmation dated in the future is refused",
	    NO, false, 0, { { "news", P, -DAY, NO, NO, -DAY } },
	    CM_EV_CONFIRM, "news", 0, DAY, 0,
	    REFUSED(FUTURE), NO, NOREC, 0 },
	{ "a grant up to five minutes ahead (clocks differ a little) is "
	    "accepted",
	    NO, false, 0, NOREC,
	    CM_EV_GRANT, "news", G, 5 * MIN, 0,
	    APPLIED, NO, { { "news", G, 5 * MIN, NO, NO, 5 * MIN } }, 1 },
	{ "one microsecond beyond the five minutes is refused",
	    NO, false, 0, NOREC,
	    CM_EV_GRANT, "news", G, 5 * MIN + 1, 0,
	    REFUSED(FUTURE), NO, NOREC, 0 },
	{ "the allowed skew is configurable: one hour ahead with a skew of "
	    "two hours is accepted",
	    NO, false, 0, NOREC,
	    CM_EV_GRANT, "news", G, 60 * MIN, 120 * MIN,
	    APPLIED, NO, { { "news", G, 60 * MIN, NO, NO, 60 * MIN } }, 1 },
	{ "an event without a time happens now",
	    NO, false, 0, NOREC,
	    CM_EV_GRANT, "news", G, NO, 0,
	    APPLIED, NO, { { "news", G, 0, NO, NO, 0 } }, 1 },

	/* --- newer event wins, a withdrawal wins a tie --- */
	{ "a first grant creates the record",
	    NO, false, 0, NOREC,
	    CM_EV_GRANT, "news", G, -DAY, 0,
	    APPLIED, NO, { { "news", G, -DAY, NO, NO, -DAY } }, 1 },
	{ "a grant older than the withdrawal on record is not applied",
	    NO, false, 0, { { "news", W, -3 * DAY, NO, -DAY, -DAY } },
	    CM_EV_GRANT, "news", G, -2 * DAY, 0,
	    STALE, NO, NOREC, 0 },
	{ "a grant at the same time as the withdrawal on record is not "
	    "applied: the withdrawal wins the tie",
	    NO, false, 0, { { "news", W, -3 * DAY, NO, -DAY, -DAY } },
	    CM_EV_GRANT, "news", G, -DAY, 0,
	    STALE, NO, NOREC, 0 },
	{ "a grant newer than the withdrawal grants consent again",
	    NO, false, 0, { { "news", W, -3 * DAY, NO, -DAY, -DAY } },
	    CM_EV_GRANT, "news", G, -MIN, 0,
	    APPLIED, NO, { { "news", G, -MIN, NO, -DAY, -MIN } }, 1 },
	{ "a withdrawal at the same time as the grant wins the tie",
	    NO, false, 0, { { "news", G, -DAY, NO, NO, -DAY } },
	    CM_EV_WITHDRAW, "news", 0, -DAY, 0,
	    APPLIED, NO, { { "news", W, -DAY, NO, -DAY, -DAY } }, 1 },
	{ "a withdrawal older than the grant on record is not applied",
	    NO, false, 0, { { "news", G, -DAY, NO, NO, -DAY } },
	    CM_EV_WITHDRAW, "news", 0, -2 * DAY, 0,
	    STALE, NO, NOREC, 0 },
	{ "a repeated withdrawal changes nothing and is not reported as "
	    "applied",
	    NO, false, 0, { { "news", W, NO, NO, -DAY, -DAY } },
	    CM_EV_WITHDRAW, "news", 0, -DAY, 0,
	    STALE, NO, NOREC, 0 },
	{ "a withdrawal without any record is kept (it denies even a "
	    "no-objection type)",
	    NO, false, 0, NOREC,
	    CM_EV_WITHDRAW, "news", 0, -DAY, 0,
	    APPLIED, NO, { { "news", W, NO, NO, -DAY, -DAY } }, 1 },
	{ "a renewed grant keeps the confirmation",
	    NO, false, 0, { { "news", G, -3 * DAY, -2 * DAY, NO, -3 * DAY } },
	    CM_EV_GRANT, "news", G, -DAY, 0,
	    APPLIED, NO, { { "news", G, -DAY, -2 * DAY, NO, -DAY } }, 1 },
	{ "a new sign-up awaiting confirmation drops the old confirmation",
	    NO, false, 0, { { "news", G, -3 * DAY, -2 * DAY, NO, -3 * DAY } },
	    CM_EV_GRANT, "news", P, -DAY, 0,
	    APPLIED, NO, { { "news", P, -DAY, NO, NO, -DAY } }, 1 },

	/* --- confirmation --- */
	{ "a confirmation of a pending sign-up grants consent",
	    NO, false, 0, { { "news", P, -2 * DAY, NO, NO, -2 * DAY } },
	    CM_EV_CONFIRM, "news", 0, -DAY, 0,
	    APPLIED, NO, { { "news", G, -2 * DAY, -DAY, NO, -2 * DAY } }, 1 },
	{ "a confirmation never makes a withdrawn record granted again",
	    NO, false, 0, { { "news", W, -3 * DAY, NO, -2 * DAY, -2 * DAY } },
	    CM_EV_CONFIRM, "news", 0, -DAY, 0,
	    STALE, NO, NOREC, 0 },
	{ "a confirmation without a sign-up is refused",
	    NO, false, 0, NOREC,
	    CM_EV_CONFIRM, "news", 0, -DAY, 0,
	    REFUSED(NO_RECORD), NO, NOREC, 0 },
	{ "a confirmation dated before the objection is not applied",
	    -DAY, false, 0, { { "news", P, -3 * DAY, NO, NO, -3 * DAY } },
	    CM_EV_CONFIRM, "news", 0, -2 * DAY, 0,
	    STALE, NO, NOREC, 0 },

	/* --- an opt-out made now always takes effect --- */
	{ "a withdrawal made now beats a grant dated in the future",
	    NO, false, 0, { { "news", G, LEGACY, NO, NO, LEGACY } },
	    CM_EV_WITHDRAW, "news", 0, NO, 0,
	    APPLIED, NO, { { "news", W, LEGACY, NO, 0, 0 } }, 1 },
	{ "an objection made now beats grants dated in the future, of every "
	    "type",
	    NO, false, 0, { { "news", G, LEGACY, NO, NO, LEGACY },
	    { "offers", P, LEGACY, NO, NO, LEGACY } },
	    CM_EV_OBJECT, NULL, 0, NO, 0,
	    APPLIED, 0, { { "news", W, LEGACY, NO, 0, 0 },
	    { "offers", W, LEGACY, NO, 0, 0 } }, 3 },
	{ "a withdrawal made now of a record withdrawn in the future dates "
	    "it now, so that a later grant is not locked out",
	    NO, false, 0, { { "news", W, NO, NO, LEGACY, LEGACY } },
	    CM_EV_WITHDRAW, "news", 0, NO, 0,
	    APPLIED, NO, { { "news", W, NO, NO, 0, 0 } }, 1 },
	{ "a withdrawal made now of a record withdrawn now changes nothing",
	    NO, false, 0, { { "news", W, NO, NO, 0, 0 } },
	    CM_EV_WITHDRAW, "news", 0, NO, 0,
	    STALE, NO, NOREC, 0 },
	{ "an objection made now over an objection dated in the future dates "
	    "it now",
	    LEGACY, false, 0, NOREC,
	    CM_EV_OBJECT, NULL, 0, NO, 0,
	    APPLIED, 0, NOREC, 1 },
	{ "an objection made now over one made now changes nothing",
	    0, false, 0, NOREC,
	    CM_EV_OBJECT, NULL, 0, NO, 0,
	    STALE, NO, NOREC, 0 },

	/* --- objection to all marketing --- */
	{ "an objection withdraws every granted or pending record",
	    NO, false, 0, { { "news", G, -3 * DAY, NO, NO, -3 * DAY },
	    { "offers", P, -3 * DAY, NO, NO, -3 * DAY } },
	    CM_EV_OBJECT, NULL, 0, -DAY, 0,
	    APPLIED, -DAY, { { "news", W, -3 * DAY, NO, -DAY, -DAY },
	    { "offers", W, -3 * DAY, NO, -DAY, -DAY } }, 3 },
	{ "an objection leaves a grant newer than itself granted (the newer "
	    "event wins)",
	    NO, false, 0, { { "news", G, -DAY, NO, NO, -DAY } },
	    CM_EV_OBJECT, NULL, 0, -2 * DAY, 0,
	    APPLIED, -2 * DAY, { { "news", G, -DAY, NO, NO, -DAY } }, 1 },
	{ "an objection without any record is kept",
	    NO, false, 0, NOREC,
	    CM_EV_OBJECT, NULL, 0, -DAY, 0,
	    APPLIED, -DAY, NOREC, 1 },
	{ "an objection older than the one on record changes nothing",
	    -DAY, false, 0, NOREC,
	    CM_EV_OBJECT, NULL, 0, -2 * DAY, 0,
	    STALE, NO, NOREC, 0 },
	{ "a grant dated after the objection is applied (it lifts the "
	    "objection for that type only: see the decisions)",
	    -2 * DAY, false, 0, NOREC,
	    CM_EV_GRANT, "offers", G, -DAY, 0,
	    APPLIED, -2 * DAY, { { "offers", G, -DAY, NO, NO, -DAY } }, 1 },
	{ "a grant dated before the objection but arriving after it is "
	    "stored withdrawn, as had it arrived first",
	    -DAY, false, 0, NOREC,
	    CM_EV_GRANT, "news", G, -2 * DAY, 0,
	    APPLIED, -DAY, { { "news", W, -2 * DAY, NO, -DAY, -DAY } }, 1 },

	/* --- erasure --- */
	{ "a withdrawal of an erased address changes nothing (it is "
	    "suppressed already)",
	    NO, true, -DAY, NOREC,
	    CM_EV_WITHDRAW, "news", 0, -MIN, 0,
	    STALE, NO, NOREC, 0 },
	{ "an objection of an erased address changes nothing",
	    NO, true, -DAY, NOREC,
	    CM_EV_OBJECT, NULL, 0, -MIN, 0,
	    STALE, NO, NOREC, 0 },
	{ "a grant older than the erasure is not applied",
	    NO, true, -DAY, NOREC,
	    CM_EV_GRANT, "news", G, -2 * DAY, 0,
	    STALE, NO, NOREC, 0 },
	{ "a grant newer than the erasure records consent again",
	    NO, true, -DAY, NOREC,
	    CM_EV_GRANT, "news", G, -MIN, 0,
	    APPLIED, NO, { { "news", G, -MIN, NO, NO, -MIN } }, 1 },

	/* --- updates of the fields --- */
	{ "an update of the source or evidence of an existing record is "
	    "applied and keeps its times",
	    NO, false, 0, { { "news", G, -DAY, NO, NO, -DAY } },
	    CM_EV_UPDATE, "news", 0, -MIN, 0,
	    APPLIED, NO, { { "news", G, -DAY, NO, NO, -DAY } }, 1 },
	{ "an update without a record is refused",
	    NO, false, 0, NOREC,
	    CM_EV_UPDATE, "news", 0, -MIN, 0,
	    REFUSED(NO_RECORD), NO, NOREC, 0 },
	{ "an event that is not about one address's consent is refused",
	    NO, false, 0, NOREC,
	    CM_EV_ERASE, NULL, 0, -MIN, 0,
	    REFUSED(BAD_KIND), NO, NOREC, 0 },
};

static int64_t
t_of(int64_t off)
{
	return off == NO ? 0 : NOW + off;
}

static void
load(cm_rules_entry *e, const row *r)
{
	memset(e, 0, sizeof(*e));
	e->addr.p = (const unsigned char *)"bob@example.org";
	e->addr.n = strlen("bob@example.org");
	e->objection_us = t_of(r->objection);
	e->erased = r->erased;
	e->erased_us = r->erased ? t_of(r->erased_at) : 0;
	for (size_t i = 0; i < MAXR && r->before[i].type != NULL; i++) {
		cm_rules_rec *x;

		assert_true(cm_rules_entry_grow(e, e->nrec + 1));
		x = &e->recs[e->nrec++];
		memset(x, 0, sizeof(*x));
		x->type.p = (const unsigned char *)r->before[i].type;
		x->type.n = strlen(r->before[i].type);
		x->state = r->before[i].st;
		x->granted = t_of(r->before[i].g);
		x->confirmed = t_of(r->before[i].c);
		x->withdrawn = t_of(r->before[i].w);
		x->updated = t_of(r->before[i].u);
	}
}

static bool
same_rec(const cm_rules_rec *x, const rr *want)
{
	return x->type.n == strlen(want->type) &&
	    memcmp(x->type.p, want->type, x->type.n) == 0 &&
	    x->state == want->st && x->granted == t_of(want->g) &&
	    x->confirmed == t_of(want->c) && x->withdrawn == t_of(want->w) &&
	    x->updated == t_of(want->u);
}

static int
check_row(const row *r, cm_rules_out *out)
{
	cm_rules_entry e;
	cm_rules_opts o = { r->skew };
	cm_event ev;
	size_t n = 0;
	int bad = 0;

	load(&e, r);
	memset(&ev, 0, sizeof(ev));
	ev.kind = r->kind;
	ev.addr = "bob@example.org";
	ev.type = r->type;
	ev.state = r->evstate;
	ev.at_us = t_of(r->at);
	ev.source = "web-form";
	assert_int_equal(cm_rules_apply(&e, &ev, NULL, NOW, &o, out), CM_OK);
	if (out->verdict != r->v || out->refusal != r->why) {
		fprintf(stderr, "RULE: %s\n  verdict %d/%d, want %d/%d\n",
		    r->rule, out->verdict, out->refusal, r->v, r->why);
		bad = 1;
	}
	if (!bad && r->v == CM_RULES_APPLIED) {
		while (n < MAXR && r->after[n].type != NULL)
			n++;
		if (e.nrec != n || out->nhist != r->nhist ||
		    e.objection_us != t_of(r->objection_after))
			bad = 1;
		for (size_t i = 0; !bad && i < n; i++)
			if (!same_rec(&e.recs[i], &r->after[i]))
				bad = 1;
		if (bad)
			fprintf(stderr, "RULE: %s\n  %zu records, %zu history "
			    "events, objection %lld: not as expected\n",
			    r->rule, e.nrec, out->nhist,
			    (long long)e.objection_us);
	}
	if (r->v != CM_RULES_APPLIED && out->nhist != 0) {
		fprintf(stderr, "RULE: %s\n  history written for an event "
		    "not applied\n", r->rule);
		bad = 1;
	}
	free(e.recs);
	return bad;
}

static void
test_event_rules(void **state)
{
	cm_rules_out out = { 0 };
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(rows); i++)
		bad += check_row(&rows[i], &out);
	cm_rules_out_free(&out);
	assert_int_equal(bad, 0);
}

/* The history an objection writes: the address-wide event first, then
 * one per record it withdrew, each from its old state. */
static void
test_objection_history(void **state)
{
	cm_rules_out out = { 0 };
	const row *r = NULL;

	(void)state;
	for (size_t i = 0; i < NELEM(rows); i++)
		if (strncmp(rows[i].rule, "an objection withdraws every", 28)
		    == 0)
			r = &rows[i];
	assert_non_null(r);
	assert_int_equal(check_row(r, &out), 0);
	assert_int_equal(out.nhist, 3);
	assert_int_equal(out.hist[0].kind, CM_EV_OBJECT);
	assert_int_equal(out.hist[0].type.n, 0);
	assert_int_equal(out.hist[0].old_state, CM_STATE_NONE);
	assert_int_equal(out.hist[0].new_state, CM_STATE_WITHDRAWN);
	assert_int_equal(out.hist[1].old_state, CM_STATE_GRANTED);
	assert_int_equal(out.hist[2].old_state, CM_STATE_PENDING);
	assert_int_equal(out.hist[2].new_state, CM_STATE_WITHDRAWN);
	assert_int_equal(out.at, NOW - DAY);
	cm_rules_out_free(&out);
}

/* ---------------------------------------------------------------- */
/* decisions (SPEC §4) from what is stored */

typedef struct view {
	int64_t objection;	/* offset, or NO */
	bool erased;
	const char *rec;	/* NULL: no record of the type; else its state
				 * "granted", "pending", "withdrawn" */
	int64_t g, c;		/* grant and confirmation (offsets, NO) */
} view;

typedef struct dcase {
	const char *rule;
	cm_requirement req;
	int64_t validity;
	view addr, base;	/* base: the address without sub-address */
	bool domain;		/* domain suppressed */
	cm_verdict v;
	cm_reason why;
} dcase;

#define OPT CM_REQ_OPT_IN
#define DOI CM_REQ_DOUBLE_OPT_IN
#define NOB CM_REQ_NO_OBJECTION
#define ALLOW CM_ALLOW, CM_REASON_NONE
#define DENY(r) CM_DENY, CM_REASON_##r
#define NONE { NO, false, NULL, NO, NO }

static const dcase decisions[] = {
	{ "no record: no consent", OPT, 0, NONE, NONE, false,
	    DENY(NO_CONSENT) },
	{ "a grant allows", OPT, 0, { NO, false, "granted", -DAY, NO }, NONE,
	    false, ALLOW },
	{ "a withdrawal denies", OPT, 0,
	    { NO, false, "withdrawn", -2 * DAY, NO }, NONE, false,
	    DENY(WITHDRAWN) },
	{ "a pending sign-up is not consent yet", OPT, 0,
	    { NO, false, "pending", -DAY, NO }, NONE, false,
	    DENY(UNCONFIRMED) },
	{ "double opt-in needs the confirmation", DOI, 0,
	    { NO, false, "granted", -DAY, NO }, NONE, false,
	    DENY(UNCONFIRMED) },
	{ "double opt-in with the confirmation allows", DOI, 0,
	    { NO, false, "granted", -2 * DAY, -DAY }, NONE, false, ALLOW },
	{ "consent expires its validity after the grant", OPT, 30 * DAY,
	    { NO, false, "granted", -30 * DAY, NO }, NONE, false,
	    DENY(EXPIRED) },
	{ "consent within its validity allows", OPT, 30 * DAY,
	    { NO, false, "granted", -29 * DAY, NO }, NONE, false, ALLOW },
	{ "a no-objection type needs no record", NOB, 0, NONE, NONE, false,
	    ALLOW },
	{ "a no-objection type is denied after a withdrawal of it", NOB, 0,
	    { NO, false, "withdrawn", NO, NO }, NONE, false,
	    DENY(WITHDRAWN) },
	{ "an objection to all marketing denies a type granted before it",
	    OPT, 0, { -DAY, false, "withdrawn", -2 * DAY, NO }, NONE, false,
	    DENY(OBJECTION) },
	{ "an objection to all marketing denies a no-objection type too",
	    NOB, 0, { -DAY, false, NULL, NO, NO }, NONE, false,
	    DENY(OBJECTION) },
	{ "an objection to all marketing denies a type never asked for",
	    OPT, 0, { -DAY, false, NULL, NO, NO }, NONE, false,
	    DENY(OBJECTION) },
	{ "a grant of the type after the objection lifts it for that type",
	    OPT, 0, { -2 * DAY, false, "granted", -DAY, NO }, NONE, false,
	    ALLOW },
	{ "a grant of a no-objection type after the objection lifts it for "
	    "that type", NOB, 0, { -2 * DAY, false, "granted", -DAY, NO },
	    NONE, false, ALLOW },
	{ "a sign-up after the objection lifts it but awaits confirmation",
	    DOI, 0, { -2 * DAY, false, "pending", -DAY, NO }, NONE, false,
	    DENY(UNCONFIRMED) },
	{ "a grant at the very time of the objection does not lift it", OPT,
	    0, { -DAY, false, "granted", -DAY, NO }, NONE, false,
	    DENY(OBJECTION) },
	{ "a type withdrawn again after a grant lifted the objection for it "
	    "is denied by the objection again",
	    OPT, 0, { -3 * DAY, false, "withdrawn", -2 * DAY, NO }, NONE,
	    false, DENY(OBJECTION) },
	{ "the objection of the address without sub-address covers its "
	    "sub-addresses", OPT, 0, { NO, false, "granted", -DAY, NO },
	    { -2 * DAY, false, NULL, NO, NO }, false, DENY(OBJECTION) },
	{ "a grant of the sub-address does not lift the objection of the "
	    "address without it", OPT, 0,
	    { NO, false, "granted", -DAY, NO },
	    { -2 * DAY, false, "withdrawn", -3 * DAY, NO }, false,
	    DENY(OBJECTION) },
	{ "a withdrawal by the address without sub-address covers its "
	    "sub-addresses", OPT, 0, { NO, false, "granted", -DAY, NO },
	    { NO, false, "withdrawn", NO, NO }, false, DENY(WITHDRAWN) },
	{ "the sub-address uses the consent of the address without it",
	    OPT, 0, NONE, { NO, false, "granted", -DAY, NO }, false, ALLOW },
	{ "an erased address stays suppressed", NOB, 0,
	    { NO, true, NULL, NO, NO }, NONE, false, DENY(SUPPRESSED) },
	{ "an erased address without sub-address suppresses its "
	    "sub-addresses", OPT, 0, { NO, false, "granted", -DAY, NO },
	    { NO, true, NULL, NO, NO }, false, DENY(SUPPRESSED) },
	{ "a suppressed domain denies every address in it", OPT, 0,
	    { NO, false, "granted", -DAY, NO }, NONE, true,
	    DENY(SUPPRESSED) },
	{ "an objection is named rather than a domain suppression", OPT, 0,
	    { -DAY, false, NULL, NO, NO }, NONE, true, DENY(OBJECTION) },
};

static cm_addr_view
mkview(const view *v)
{
	cm_addr_view a;

	memset(&a, 0, sizeof(a));
	a.erased = v->erased;
	a.found = !v->erased && (v->objection != NO || v->rec != NULL);
	a.objection = v->objection != NO;
	a.objection_us = t_of(v->objection);
	if (v->rec != NULL) {
		a.has_rec = true;
		assert_int_equal(cm_state_parse(v->rec, &a.rec.state), CM_OK);
		a.rec.granted_us = t_of(v->g);
		a.rec.confirmed_us = t_of(v->c);
	}
	return a;
}

static void
test_decisions(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(decisions); i++) {
		const dcase *d = &decisions[i];
		cm_type_policy tp = { "news", d->req, d->validity };
		cm_addr_view ak = mkview(&d->addr), ab = mkview(&d->base);
		cm_decision got = cm_rules_decide(&tp, &ak, &ab, d->domain,
		    NOW);

		if (got.verdict != d->v || got.reason != d->why) {
			fprintf(stderr, "RULE: %s\n  %s (%s), want %s (%s)\n",
			    d->rule, cm_verdict_name(got.verdict),
			    cm_reason_name(got.reason), cm_verdict_name(d->v),
			    cm_reason_name(d->why));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Domain suppression: the newer event wins, suppression wins a tie. */
static void
test_domain_rules(void **state)
{
	(void)state;
	/* a first suppression or lifting applies */
	assert_true(cm_rules_domain_applies(false, false, 0, true, NOW));
	assert_true(cm_rules_domain_applies(false, false, 0, false, NOW));
	/* an older event does not */
	assert_false(cm_rules_domain_applies(true, true, NOW, false,
	    NOW - 1));
	assert_false(cm_rules_domain_applies(true, false, NOW, true,
	    NOW - 1));
	/* on a tie, a suppression wins over a lifting */
	assert_false(cm_rules_domain_applies(true, true, NOW, false, NOW));
	assert_true(cm_rules_domain_applies(true, false, NOW, true, NOW));
	/* a repeated suppression at the same time changes nothing */
	assert_false(cm_rules_domain_applies(true, true, NOW, true, NOW));
	/* a newer lifting applies */
	assert_true(cm_rules_domain_applies(true, true, NOW, false, NOW + 1));
}

/* The time rule alone, and its limit. */
static void
test_time(void **state)
{
	cm_rules_opts o = { 0 };
	int64_t lim;

	(void)state;
	assert_true(cm_rules_time_ok(0, NOW, NULL, &lim));
	assert_int_equal(lim, NOW + CM_RULES_SKEW_DEFAULT);
	assert_true(cm_rules_time_ok(NOW + 5 * MIN, NOW, &o, NULL));
	assert_false(cm_rules_time_ok(NOW + 5 * MIN + 1, NOW, &o, NULL));
	assert_true(cm_rules_time_ok(NOW - 3650 * DAY, NOW, &o, NULL));
	o.skew_us = MIN;
	assert_false(cm_rules_time_ok(NOW + 2 * MIN, NOW, &o, &lim));
	assert_int_equal(lim, NOW + MIN);
	/* no overflow near the end of time */
	o.skew_us = INT64_MAX;
	assert_true(cm_rules_time_ok(INT64_MAX, NOW, &o, &lim));
	assert_int_equal(lim, INT64_MAX);
}

/* Misuse: NULL arguments are refused, nothing is written. */
static void
test_misuse(void **state)
{
	cm_rules_entry e = { 0 };
	cm_rules_out out = { 0 };
	cm_event ev = { 0 };

	(void)state;
	assert_int_equal(cm_rules_apply(NULL, &ev, NULL, NOW, NULL, &out),
	    CM_EINVAL);
	assert_int_equal(cm_rules_apply(&e, NULL, NULL, NOW, NULL, &out),
	    CM_EINVAL);
	assert_int_equal(cm_rules_apply(&e, &ev, NULL, NOW, NULL, NULL),
	    CM_EINVAL);
	cm_rules_out_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_rules),
		cmocka_unit_test(test_objection_history),
		cmocka_unit_test(test_decisions),
		cmocka_unit_test(test_domain_rules),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_misuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
