/*
 * fuzz_addr.c - libFuzzer target for core/addr.h.
 *
 * Input: one octet of options (bit 0: fold local-part case; bits 1-2:
 * separator '+', '-', none, '.'; bit 3: local part as octets (no
 * Unicode normalization); bit 4: refuse routing forms), then the
 * address.  Besides "does not crash", every result is checked: a key
 * within the limits, consistent lengths and offsets, a base that is the
 * key without the sub-address, a normalized domain, idempotence
 * (normalize(normalize(x)) == normalize(x): the key, quoted where needed,
 * normalizes to itself, and so does cm_addr_rekey of the key), a key in
 * NFC and case-folded when asked, and no routing form left unless it
 * was quoted; and where the short way (core/addr_int.h) takes the input,
 * the long way gives CM_OK and the same key, base and offsets.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicase.h>
#include <uninorm.h>

#include "core/addr.h"
#include "core/addr_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static const char seps[4] = { '+', '-', 0, '.' };

static void
check_domain(const char *d, size_t n)
{
	char dom[CM_ADDR_DOMAIN_MAX + 1];
	size_t dl;

	CHECK(n >= 1 && n <= CM_ADDR_DOMAIN_MAX);
	if (d[0] == '[') {
		CHECK(d[n - 1] == ']');
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.');
	}
	CHECK(d[0] != '.' && d[n - 1] != '.' && d[0] != '-');
	/* the domain alone is a fixed point of the domain normalizer */
	CHECK(cm_addr_normalize_domain(d, n, dom, &dl) == CM_OK);
	CHECK(dl == n && memcmp(dom, d, n) == 0);
}

static bool
dot_atom(const char *l, size_t n)
{
	static const char specials[] = "!#$%&'*+-/=?^_`{|}~";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)l[i];

		if (c == '.') {
			if (i == 0 || i == n - 1 || l[i - 1] == '.')
				return false;
		} else if (!(c >= 0x80 || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    (c != 0 && strchr(specials, c) != NULL))) {
			return false;
		}
	}
	return true;
}

/* The local part L[0..N) is in NFC and, with FOLD, case-folded. */
static void
check_unicode(const char *l, size_t n, bool fold)
{
	uint8_t buf[512], *r;
	size_t rn = sizeof(buf);
	bool is;

	if (fold)
		r = u8_casefold((const uint8_t *)l, n, NULL, UNINORM_NFC,
		    buf, &rn);
	else
		r = u8_normalize(UNINORM_NFC, (const uint8_t *)l, n, buf, &rn);
	if (r == NULL)
		return;		/* out of memory */
	CHECK(rn == n && memcmp(r, l, n) == 0);
	if (r != buf)
		free(r);
	if (fold) {
		CHECK(u8_is_casefolded((const uint8_t *)l, n, NULL, &is) == 0);
		CHECK(is);
	}
}

static void
check_ok(const cm_addr *a, const cm_addr_opts *o)
{
	size_t llen = a->domain_off - 1, dlen;
	char q[2 * CM_ADDR_KEY_MAX + 4];
	size_t qn = 0;
	cm_addr b;

	CHECK(a->key_len < CM_ADDR_KEY_MAX);
	CHECK(strlen(a->key) == a->key_len);
	CHECK(a->domain_off >= 2 && a->domain_off < a->key_len);
	CHECK(a->key[llen] == '@');
	CHECK(llen >= 1 && llen <= CM_ADDR_LOCAL_MAX);
	dlen = a->key_len - a->domain_off;
	check_domain(a->key + a->domain_off, dlen);
	for (size_t i = 0; i < a->key_len; i++) {
		unsigned char c = (unsigned char)a->key[i];

		CHECK(c >= 0x20 && c != 0x7f);
		if (o->fold_local_case && i < llen)
			CHECK(!(c >= 'A' && c <= 'Z'));
	}
	if (!o->local_octets)
		check_unicode(a->key, llen, o->fold_local_case);

	/* a stored key normalizes again to itself (migration is a no-op
	 * for keys of this version), unless it reads as a routing form */
	if (strcspn(a->key, "%!") >= llen) {
		CHECK(cm_addr_rekey(a->key, a->key_len, o, &b) == CM_OK);
		CHECK(strcmp(b.key, a->key) == 0);
		CHECK(strcmp(b.base, a->base) == 0);
	}

	/* base: key without the sub-address */
	CHECK(strlen(a->base) == a->base_len);
	CHECK(a->has_subaddr == (a->base_len != a->key_len));
	if (!a->has_subaddr) {
		CHECK(strcmp(a->base, a->key) == 0);
	} else {
		size_t bl = a->base_len - dlen - 1;

		CHECK(o->subaddr_sep != 0 && bl >= 1 && bl < llen);
		CHECK(memcmp(a->base, a->key, bl) == 0);
		CHECK(a->key[bl] == o->subaddr_sep);
		CHECK(memchr(a->key, o->subaddr_sep, bl) == NULL);
		CHECK(strcmp(a->base + bl, a->key + llen) == 0);
	}

	/* idempotence: a key whose local part is a dot-atom normalizes to
	 * itself as it is... */
	if (dot_atom(a->key, llen) && strcspn(a->key, "%!") >= llen) {
		CHECK(cm_addr_normalize(a->key, a->key_len, o, &b) == CM_OK);
		CHECK(strcmp(b.key, a->key) == 0);
		CHECK(strcmp(b.base, a->base) == 0);
		CHECK(b.domain_off == a->domain_off);
	}
	/* ...and always when its local part is quoted */
	q[qn++] = '<';
	q[qn++] = '"';
	for (size_t i = 0; i < llen; i++) {
		if (a->key[i] == '"' || a->key[i] == '\\')
			q[qn++] = '\\';
		q[qn++] = a->key[i];
	}
	q[qn++] = '"';
	if (qn - 1 > CM_ADDR_LOCAL_MAX)
		return;
	memcpy(q + qn, a->key + llen, dlen + 1);
	qn += dlen + 1;
	q[qn++] = '>';
	CHECK(cm_addr_normalize(q, qn, o, &b) == CM_OK);
	CHECK(strcmp(b.key, a->key) == 0);
	CHECK(strcmp(b.base, a->base) == 0);
	CHECK(b.has_subaddr == a->has_subaddr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cm_addr_opts o;
	cm_addr a, a2;
	cm_status st;
	char dom[CM_ADDR_DOMAIN_MAX + 1];
	size_t dl;

	if (size < 1)
		return 0;
	cm_addr_opts_default(&o);
	o.fold_local_case = data[0] & 1;
	o.subaddr_sep = seps[(data[0] >> 1) & 3];
	o.local_octets = (data[0] >> 3) & 1;
	o.route_local = (data[0] & 16) ? CM_ADDR_ROUTE_REFUSE :
	    CM_ADDR_ROUTE_RESOLVE;
	data++;
	size--;

	st = cm_addr_normalize((const char *)data, size, &o, &a);
	CHECK(st == CM_OK || st == CM_ENOMEM ||
	    (st >= CM_ADDR_EMPTY && st <= CM_ADDR_ROUTED));
	CHECK(st != CM_ADDR_ROUTED || o.route_local == CM_ADDR_ROUTE_REFUSE);
	/* deterministic */
	CHECK(cm_addr_normalize((const char *)data, size, &o, &a2) == st);
	if (st == CM_OK) {
		CHECK(strcmp(a.key, a2.key) == 0);
		check_ok(&a, &o);
	}

	/* the short way gives what the long way gives */
	if (cm_addr_fast((const char *)data, size, o.fold_local_case,
	    (unsigned char)o.subaddr_sep, &a)) {
		CHECK(cm_addr_normalize_long((const char *)data, size, &o,
		    &a2) == CM_OK);
		CHECK(strcmp(a.key, a2.key) == 0 && a.key_len == a2.key_len);
		CHECK(strcmp(a.base, a2.base) == 0 && a.base_len == a2.base_len);
		CHECK(a.domain_off == a2.domain_off &&
		    a.has_subaddr == a2.has_subaddr);
	}

	/* the same octets as a domain */
	st = cm_addr_normalize_domain((const char *)data, size, dom, &dl);
	CHECK(st == CM_OK || st == CM_ENOMEM ||
	    (st >= CM_ADDR_EMPTY && st <= CM_ADDR_BRACKET));
	if (st == CM_OK) {
		CHECK(strlen(dom) == dl);
		check_domain(dom, dl);
	}
	return 0;
}
