/*
 * decide.c - the decision engine (SPEC §4).
 *
 * One pooled read transaction per decision, one named database: one
 * B-tree lookup for the address (it finds the entry or the tombstone of
 * an erased address), one for the base address when the address is
 * sub-addressed, one for the domain (domain keys sort at the left edge
 * of the tree, so those pages stay hot).  Nothing is allocated; blobs
 * are read in place.
 *
 * Domain suppression matches the exact domain of the address (a
 * suppression of "example.com" does not cover "mail.example.com").
 */
#include <string.h>

#include "decide.h"
#include "index_int.h"

static int64_t
add_sat(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	return a + b;
}

static cm_decision
verdict(cm_verdict v, cm_reason r)
{
	cm_decision d = { v, r };

	return d;
}

/* Rules 2..4 given what was read. */
static cm_decision
judge(const cm_type_policy *tp, const cm_addr_view *ak,
    const cm_addr_view *ab, int64_t now)
{
	const cm_rec_view *r;

	if (tp->requirement == CM_REQ_NO_OBJECTION) {
		if ((ak->has_rec && ak->rec.state == CM_STATE_WITHDRAWN) ||
		    (ab->has_rec && ab->rec.state == CM_STATE_WITHDRAWN))
			return verdict(CM_DENY, CM_REASON_WITHDRAWN);
		return verdict(CM_ALLOW, CM_REASON_NONE);
	}
	/* a withdrawal by the base address covers every sub-address */
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
cm_decide(cm_index *idx, const cm_type_policy *tp, const cm_addr *addr,
    int64_t now_us, cm_decision *out)
{
	cm_addr_view vk, vb;
	cm_rtxn *t;
	cm_status st;
	size_t tlen;
	bool dom = false;

	if (out != NULL) {
		out->verdict = 0;
		out->reason = CM_REASON_NONE;
	}
	if (idx == NULL || tp == NULL || tp->id == NULL || addr == NULL ||
	    out == NULL)
		return CM_EINVAL;
	if (tp->requirement < CM_REQ_OPT_IN ||
	    tp->requirement > CM_REQ_NO_OBJECTION || tp->validity_us < 0)
		return CM_EINVAL;
	tlen = strnlen(tp->id, CM_TYPE_ID_MAX + 1);
	if (tlen == 0 || tlen > CM_TYPE_ID_MAX ||
	    addr->key_len == 0 || addr->key_len >= CM_ADDR_KEY_MAX ||
	    addr->domain_off >= addr->key_len ||
	    (addr->has_subaddr && (addr->base_len == 0 ||
	    addr->base_len >= CM_ADDR_KEY_MAX)))
		return CM_EINVAL;

	if ((st = cm_index_rbegin(idx, &t)) != CM_OK)
		return st;
	memset(&vb, 0, sizeof(vb));
	st = cm_index_rlookup(idx, t, addr->key, addr->key_len, tp->id, tlen,
	    &vk);
	if (st == CM_OK && addr->has_subaddr)
		st = cm_index_rlookup(idx, t, addr->base, addr->base_len,
		    tp->id, tlen, &vb);
	if (st == CM_OK)
		st = cm_index_rdomain(idx, t, addr->key + addr->domain_off,
		    addr->key_len - addr->domain_off, &dom);
	cm_index_rend(idx, t);
	if (st != CM_OK)
		return st;

	if (vk.objection || vb.objection)
		*out = verdict(CM_DENY, CM_REASON_OBJECTION);
	else if (vk.erased || vb.erased || dom)
		*out = verdict(CM_DENY, CM_REASON_SUPPRESSED);
	else
		*out = judge(tp, &vk, &vb, now_us);
	return CM_OK;
}
