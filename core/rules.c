/*
 * rules.c - the consent rules as pure functions (rules.h).
 *
 * No LMDB and no clock: everything comes in as arguments, so that each
 * rule is tested alone (tests/unit/test_rules.c).
 */
#include <stdlib.h>
#include <string.h>

#include "rules.h"

bool
cm_rules_entry_grow(cm_rules_entry *e, size_t want)
{
	cm_rules_rec *nr;
	size_t nc;

	if (want <= e->cap)
		return true;
	nc = e->cap ? e->cap * 2 : 8;
	while (nc < want)
		nc *= 2;
	if ((nr = realloc(e->recs, nc * sizeof(*nr))) == NULL)
		return false;
	e->recs = nr;
	e->cap = nc;
	return true;
}

void
cm_rules_out_free(cm_rules_out *o)
{
	free(o->hist);
	memset(o, 0, sizeof(*o));
}

static int64_t
add_sat(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	return a + b;
}

static int64_t
skew_of(const cm_rules_opts *o)
{
	return o != NULL && o->skew_us > 0 ? o->skew_us :
	    CM_RULES_SKEW_DEFAULT;
}

bool
cm_rules_time_ok(int64_t at, int64_t now, const cm_rules_opts *opts,
    int64_t *limit)
{
	int64_t lim = add_sat(now, skew_of(opts));

	if (limit != NULL)
		*limit = lim;
	return at == 0 || at <= lim;
}

/* A stored time as a withdrawal or objection made at NOW sees it: a time
 * after now (a legacy future-dated record) counts as now. */
static int64_t
seen(int64_t t, int64_t now)
{
	return t > now ? now : t;
}

static cm_status
hist(cm_rules_out *o, cm_event_kind k, cm_rules_str type, cm_state os,
    cm_state ns)
{
	if (o->nhist == o->cap) {
		size_t nc = o->cap ? o->cap * 2 : 8;
		cm_rules_hist *nh = realloc(o->hist, nc * sizeof(*nh));

		if (nh == NULL)
			return CM_ENOMEM;
		o->hist = nh;
		o->cap = nc;
	}
	o->hist[o->nhist].kind = k;
	o->hist[o->nhist].type = type;
	o->hist[o->nhist].old_state = os;
	o->hist[o->nhist].new_state = ns;
	o->nhist++;
	return CM_OK;
}

static int
str_cmp(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn ? 1 : 0;
}

/* Find TYPE in E; *pos = its index or the insertion point. */
static bool
find(const cm_rules_entry *e, const char *type, size_t tlen, size_t *pos)
{
	size_t lo = 0, hi = e->nrec;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = str_cmp(e->recs[mid].type.p, e->recs[mid].type.n,
		    (const unsigned char *)type, tlen);

		if (c == 0) {
			*pos = mid;
			return true;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return false;
}

/* Insert an empty record of TYPE at POS. */
static cm_rules_rec *
insert(cm_rules_entry *e, size_t pos, const char *type, size_t tlen,
    cm_rules_out *o)
{
	cm_rules_rec *r;

	if (e->nrec >= UINT16_MAX) {
		o->verdict = CM_RULES_REFUSED;
		o->refusal = CM_RULES_TOO_MANY;
		return NULL;
	}
	if (!cm_rules_entry_grow(e, e->nrec + 1))
		return NULL;
	memmove(&e->recs[pos + 1], &e->recs[pos],
	    (e->nrec - pos) * sizeof(*e->recs));
	e->nrec++;
	r = &e->recs[pos];
	memset(r, 0, sizeof(*r));
	r->type.p = (const unsigned char *)type;
	r->type.n = tlen;
	return r;
}

/* The four fields of EV into R; with KEEP_NULL a NULL field is left as
 * it is, else it becomes "". */
static void
set_fields(cm_rules_rec *r, const cm_event *ev, const size_t *fl,
    bool keep_null)
{
	const char *s[4] = { ev->source, ev->basis, ev->purpose,
	    ev->evidence };

	for (int i = 0; i < 4; i++)
		if (s[i] != NULL || !keep_null) {
			r->f[i].p = (const unsigned char *)(s[i] ? s[i] : "");
			r->f[i].n = s[i] ? fl[i] : 0;
		}
}

static cm_rules_str
type_of(const cm_rules_rec *r)
{
	return r->type;
}

static const cm_rules_str NOTYPE = { NULL, 0 };

static cm_status
grant(cm_rules_entry *e, const cm_event *ev, const size_t *fl, size_t tlen,
    int64_t at, cm_rules_out *o)
{
	cm_state ns = ev->state == CM_STATE_PENDING ? CM_STATE_PENDING :
	    CM_STATE_GRANTED, os;
	bool under = e->objection_us != 0 && at <= e->objection_us;
	cm_rules_rec *r;
	size_t pos;

	if (find(e, ev->type, tlen, &pos)) {
		r = &e->recs[pos];
		if (at <= r->updated)
			return CM_OK;		/* stale */
		os = r->state;
	} else {
		/* a newer grant replaces the tombstone */
		if (e->erased && at <= e->erased_us)
			return CM_OK;
		if ((r = insert(e, pos, ev->type, tlen, o)) == NULL)
			return o->verdict == CM_RULES_REFUSED ? CM_OK :
			    CM_ENOMEM;
		os = CM_STATE_NONE;
	}
	if (!(os == CM_STATE_GRANTED && ns == CM_STATE_GRANTED))
		r->confirmed = 0;
	r->granted = at;
	set_fields(r, ev, fl, false);
	if (under) {
		/* older than the objection, newer than the record: the
		 * objection withdrew it (as had the grant arrived first) */
		ns = CM_STATE_WITHDRAWN;
		r->withdrawn = e->objection_us;
		r->updated = e->objection_us;
	} else {
		r->updated = at;
		if (at > e->last_grant_us)
			e->last_grant_us = at;
	}
	r->state = ns;
	e->erased = false;
	o->verdict = CM_RULES_APPLIED;
	return hist(o, CM_EV_GRANT, type_of(r), os, ns);
}

static cm_status
confirm(cm_rules_entry *e, const cm_event *ev, size_t tlen, int64_t at,
    cm_rules_out *o)
{
	cm_rules_rec *r;
	cm_state os;
	size_t pos;

	if (!find(e, ev->type, tlen, &pos)) {
		o->verdict = CM_RULES_REFUSED;
		o->refusal = CM_RULES_NO_RECORD;
		return CM_OK;
	}
	r = &e->recs[pos];
	os = r->state;
	if (os == CM_STATE_WITHDRAWN || at < r->updated ||
	    (os == CM_STATE_GRANTED && r->confirmed != 0 &&
	    r->confirmed >= at) ||
	    (e->objection_us != 0 && at <= e->objection_us))
		return CM_OK;
	r->state = CM_STATE_GRANTED;
	r->confirmed = at;
	o->verdict = CM_RULES_APPLIED;
	return hist(o, CM_EV_CONFIRM, type_of(r), os, CM_STATE_GRANTED);
}

static cm_status
withdraw(cm_rules_entry *e, const cm_event *ev, const size_t *fl,
    size_t tlen, int64_t at, int64_t now, cm_rules_out *o)
{
	cm_rules_rec *r;
	cm_state os;
	size_t pos;

	if (e->erased)
		return CM_OK;	/* erased: denied already */
	if (find(e, ev->type, tlen, &pos)) {
		int64_t u;

		r = &e->recs[pos];
		os = r->state;
		u = seen(r->updated, now);
		/* a withdrawal at a stored future time is dated now again,
		 * so that a grant after now is not locked out */
		if (at < u || (at == u && os == CM_STATE_WITHDRAWN &&
		    r->updated <= now))
			return CM_OK;
	} else {
		/* a record is needed for no-objection types */
		if ((r = insert(e, pos, ev->type, tlen, o)) == NULL)
			return o->verdict == CM_RULES_REFUSED ? CM_OK :
			    CM_ENOMEM;
		set_fields(r, ev, fl, false);
		os = CM_STATE_NONE;
	}
	r->state = CM_STATE_WITHDRAWN;
	r->withdrawn = at;
	r->updated = at;
	o->verdict = CM_RULES_APPLIED;
	return hist(o, CM_EV_WITHDRAW, type_of(r), os, CM_STATE_WITHDRAWN);
}

static cm_status
object(cm_rules_entry *e, int64_t at, int64_t now, cm_rules_out *o)
{
	bool before = e->objection_us != 0, changed = false;
	cm_status st;

	if (e->erased)
		return CM_OK;
	/* an objection at a stored future time is dated now again (a
	 * grant after now can then lift it for its type) */
	if (e->objection_us == 0 || at > seen(e->objection_us, now) ||
	    (e->objection_us > now && at == now)) {
		e->objection_us = at;
		changed = true;
	}
	if ((st = hist(o, CM_EV_OBJECT, NOTYPE, before ? CM_STATE_WITHDRAWN :
	    CM_STATE_NONE, CM_STATE_WITHDRAWN)) != CM_OK)
		return st;
	for (size_t i = 0; i < e->nrec; i++) {
		cm_rules_rec *r = &e->recs[i];
		cm_state os = r->state;

		if ((os != CM_STATE_GRANTED && os != CM_STATE_PENDING) ||
		    seen(r->updated, now) > at)
			continue;
		r->state = CM_STATE_WITHDRAWN;
		r->withdrawn = at;
		r->updated = at;
		changed = true;
		if ((st = hist(o, CM_EV_OBJECT, type_of(r), os,
		    CM_STATE_WITHDRAWN)) != CM_OK)
			return st;
	}
	if (!changed) {
		o->nhist = 0;
		return CM_OK;
	}
	o->verdict = CM_RULES_APPLIED;
	return CM_OK;
}

static cm_status
update(cm_rules_entry *e, const cm_event *ev, const size_t *fl, size_t tlen,
    cm_rules_out *o)
{
	cm_rules_rec *r;
	size_t pos;

	if (!find(e, ev->type, tlen, &pos)) {
		o->verdict = CM_RULES_REFUSED;
		o->refusal = CM_RULES_NO_RECORD;
		return CM_OK;
	}
	r = &e->recs[pos];
	set_fields(r, ev, fl, true);
	o->verdict = CM_RULES_APPLIED;
	return hist(o, CM_EV_UPDATE, type_of(r), r->state, r->state);
}

cm_status
cm_rules_apply(cm_rules_entry *e, const cm_event *ev, const size_t *flen,
    int64_t now, const cm_rules_opts *opts, cm_rules_out *out)
{
	size_t fl[4], tlen;
	int64_t at;

	if (e == NULL || ev == NULL || out == NULL)
		return CM_EINVAL;
	out->verdict = CM_RULES_STALE;
	out->refusal = CM_RULES_NONE;
	out->nhist = 0;
	at = out->at = ev->at_us ? ev->at_us : now;
	if (!cm_rules_time_ok(at, now, opts, NULL)) {
		out->verdict = CM_RULES_REFUSED;
		out->refusal = CM_RULES_FUTURE;
		return CM_OK;
	}
	if (flen != NULL) {
		memcpy(fl, flen, sizeof(fl));
	} else {
		const char *s[4] = { ev->source, ev->basis, ev->purpose,
		    ev->evidence };

		for (int i = 0; i < 4; i++)
			fl[i] = s[i] ? strlen(s[i]) : 0;
	}
	tlen = ev->type != NULL && ev->kind != CM_EV_OBJECT ?
	    strlen(ev->type) : 0;
	switch (ev->kind) {
	case CM_EV_GRANT:
		return grant(e, ev, fl, tlen, at, out);
	case CM_EV_CONFIRM:
		return confirm(e, ev, tlen, at, out);
	case CM_EV_WITHDRAW:
		return withdraw(e, ev, fl, tlen, at, now, out);
	case CM_EV_OBJECT:
		return object(e, at, now, out);
	case CM_EV_UPDATE:
		return update(e, ev, fl, tlen, out);
	default:
		out->verdict = CM_RULES_REFUSED;
		out->refusal = CM_RULES_BAD_KIND;
		return CM_OK;
	}
}

bool
cm_rules_domain_applies(bool exists, bool was, int64_t updated,
    bool suppress, int64_t at)
{
	if (!exists)
		return true;
	return !(at < updated || (at == updated && (was || !suppress)));
}

bool
cm_rules_objection_denies(int64_t objection_us, const cm_rec_view *rec)
{
	if (objection_us == 0)
		return false;
	if (rec != NULL && (rec->state == CM_STATE_GRANTED ||
	    rec->state == CM_STATE_PENDING) && rec->granted_us > objection_us)
		return false;	/* lifted for this type by a later grant */
	return true;
}

static cm_decision
verdict(cm_verdict v, cm_reason r)
{
	cm_decision d = { v, r };

	return d;
}

static bool
objects(const cm_addr_view *v)
{
	return v->objection && cm_rules_objection_denies(v->objection_us,
	    v->has_rec ? &v->rec : NULL);
}

cm_decision
cm_rules_decide(const cm_type_policy *tp, const cm_addr_view *ak,
    const cm_addr_view *ab, bool domain_suppressed, int64_t now)
{
	const cm_rec_view *r;

	/* 1: suppressed for all marketing */
	if (objects(ak) || objects(ab))
		return verdict(CM_DENY, CM_REASON_OBJECTION);
	if (ak->erased || ab->erased || domain_suppressed)
		return verdict(CM_DENY, CM_REASON_SUPPRESSED);
	/* 2: no-objection types */
	if (tp->requirement == CM_REQ_NO_OBJECTION) {
		if ((ak->has_rec && ak->rec.state == CM_STATE_WITHDRAWN) ||
		    (ab->has_rec && ab->rec.state == CM_STATE_WITHDRAWN))
			return verdict(CM_DENY, CM_REASON_WITHDRAWN);
		return verdict(CM_ALLOW, CM_REASON_NONE);
	}
	/* 3, 4: a withdrawal by the base address covers every sub-address */
	if (ab->has_rec && ab->rec.state == CM_STATE_WITHDRAWN)
		return verdict(CM_DENY, CM_REASON_WITHDRAWN);
	if (ak->has_rec)
		r = &ak->rec;
	else if (ab->has_rec)
		r = &ab->rec;
	else
		return verdict(CM_DENY, CM_REASON_NO_CONSENT);
	switch (r->state) {
	case CM_STATE_WITHDRAWN:
		return verdict(CM_DENY, CM_REASON_WITHDRAWN);
	case CM_STATE_PENDING:
		return verdict(CM_DENY, CM_REASON_UNCONFIRMED);
	case CM_STATE_GRANTED:
		break;
	default:
		return verdict(CM_DENY, CM_REASON_NO_CONSENT);
	}
	if (tp->requirement == CM_REQ_DOUBLE_OPT_IN && r->confirmed_us == 0)
		return verdict(CM_DENY, CM_REASON_UNCONFIRMED);
	if (tp->validity_us > 0) {
		int64_t from = r->granted_us > r->confirmed_us ?
		    r->granted_us : r->confirmed_us;

		if (now >= add_sat(from, tp->validity_us))
			return verdict(CM_DENY, CM_REASON_EXPIRED);
	}
	return verdict(CM_ALLOW, CM_REASON_NONE);
}

cm_status
cm_rules_unnormalized(cm_status st, cm_decision *out)
{
	out->verdict = 0;
	out->reason = CM_REASON_NONE;
	if (st == CM_OK || st == CM_ENOMEM)
		return st == CM_OK ? CM_EINVAL : st;
	out->verdict = CM_DENY;
	out->reason = CM_REASON_NO_CONSENT;
	return CM_OK;
}
