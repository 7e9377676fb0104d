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
 * The decision itself, from what was read, is cm_rules_decide (rules.h).
 *
 * Domain suppression matches the exact domain of the address (a
 * suppression of "example.com" does not cover "mail.example.com").
 */
#include <string.h>

#include "decide.h"
#include "index_int.h"
#include "multi.h"
#include "rules.h"

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

	*out = cm_rules_decide(tp, &vk, &vb, dom, now_us);
	return CM_OK;
}

cm_status
cm_decide_raw(cm_index *idx, const cm_type_policy *const *tps, size_t n,
    const char *raw, size_t len, const cm_addr_opts *opts, int64_t now_us,
    cm_addr *addr, cm_status *addr_st, cm_decision *out, size_t *which)
{
	if (which != NULL)
		*which = 0;
	if (raw == NULL || addr == NULL || addr_st == NULL || out == NULL ||
	    tps == NULL || n == 0)
		return CM_EINVAL;
	cm_addr_opts lit;
	cm_addr as_written;
	cm_status st;

	*addr_st = cm_addr_normalize(raw, len, opts, addr);
	if (*addr_st != CM_OK)
		return cm_rules_unnormalized(*addr_st, out);
	if (idx == NULL)
		return CM_EIO;
	st = cm_multi_decide(idx, tps, n, addr, now_us, out, which);
	if (st != CM_OK || out->verdict != CM_ALLOW ||
	    (memchr(raw, '%', len) == NULL && memchr(raw, '!', len) == NULL))
		return st;
	/*
	 * A routing form resolved ("x%gmail.com@b.example" is x@gmail.com):
	 * Postfix resolves it only for a domain of its own, and otherwise
	 * delivers to the address as written, at b.example.  The milter
	 * cannot know which, so the address as written must allow too
	 * (its domain may be suppressed, its local part withdrawn).
	 */
	if (opts != NULL)
		lit = *opts;
	else
		cm_addr_opts_default(&lit);
	if (lit.route_local != CM_ADDR_ROUTE_RESOLVE)
		return st;
	lit.route_local = CM_ADDR_ROUTE_LITERAL;
	if ((st = cm_addr_normalize(raw, len, &lit, &as_written)) != CM_OK)
		return cm_rules_unnormalized(st, out);
	if (strcmp(as_written.key, addr->key) == 0)
		return CM_OK;
	return cm_multi_decide(idx, tps, n, &as_written, now_us, out, which);
}
