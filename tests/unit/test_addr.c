/* test_addr.c - address normalization (core/addr.h), table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/addr.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define L16 "abcdefghijklmnop"
#define L64 L16 L16 L16 L16	/* 64 octets */
#define LAB63 L16 L16 L16 "abcdefghijklmno"
#define LAB64 L64
#define D255 LAB63 "." LAB63 "." LAB63 "." LAB63	/* 255 octets */

/* option sets */
enum { O_DEF, O_NOFOLD, O_DASH, O_NOSEP, O_NULL, O_OCTETS, O_REFUSE };

struct acase {
	const char *in;
	size_t len;		/* 0: strlen(in) */
	int opts;
	cm_status st;
	const char *key;	/* expected on CM_OK */
	const char *base;	/* NULL: same as key */
	size_t domain_off;
};

static const struct acase cases[] = {
	/* plain, brackets, case folding */
	{ "<Bob@Example.NET>", 0, O_DEF, CM_OK, "bob@example.net", NULL, 4 },
	{ "Bob@Example.NET", 0, O_DEF, CM_OK, "bob@example.net", NULL, 4 },
	{ "Bob@Example.NET", 0, O_NULL, CM_OK, "bob@example.net", NULL, 4 },
	{ "<Bob@Example.NET>", 0, O_NOFOLD, CM_OK, "Bob@example.net", NULL, 4 },
	{ "first.Last@x.org", 0, O_DEF, CM_OK, "first.last@x.org", NULL, 11 },
	{ "#$&'*/=?^_`{|}~-@x.org", 0, O_DEF, CM_OK,
	    "#$&'*/=?^_`{|}~-@x.org", NULL, 17 },
	{ "\"!#$%&'*/=?^_`{|}~-\"@x.org", 0, O_DEF, CM_OK,
	    "!#$%&'*/=?^_`{|}~-@x.org", NULL, 19 },
	{ "o'brien@X.ORG", 0, O_DEF, CM_OK, "o'brien@x.org", NULL, 8 },
	/* whitespace around the address is trimmed, inside it is not */
	{ "  <bob@x.org>\t ", 0, O_DEF, CM_OK, "bob@x.org", NULL, 4 },
	{ "bo b@x.org", 0, O_DEF, CM_ADDR_BAD_LOCAL, NULL, NULL, 0 },
	{ "bob@x .org", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL, NULL, 0 },
	{ "< bob@x.org>", 0, O_DEF, CM_ADDR_BAD_LOCAL, NULL, NULL, 0 },

	/* sub-addressing */
	{ "bob+news@Example.NET", 0, O_DEF, CM_OK, "bob+news@example.net",
	    "bob@example.net", 9 },
	{ "bob+@x.org", 0, O_DEF, CM_OK, "bob+@x.org", "bob@x.org", 5 },
	{ "a+b+c@x.org", 0, O_DEF, CM_OK, "a+b+c@x.org", "a@x.org", 6 },
	{ "+bob@x.org", 0, O_DEF, CM_OK, "+bob@x.org", NULL, 5 },
	{ "+bob+x@x.org", 0, O_DEF, CM_OK, "+bob+x@x.org", NULL, 7 },
	{ "bob-news@x.org", 0, O_DASH, CM_OK, "bob-news@x.org", "bob@x.org", 9 },
	{ "bob+news@x.org", 0, O_DASH, CM_OK, "bob+news@x.org", NULL, 9 },
	{ "bob+news@x.org", 0, O_NOSEP, CM_OK, "bob+news@x.org", NULL, 9 },
	{ "\"Bob+Tag\"@x.org", 0, O_DEF, CM_OK, "bob+tag@x.org", "bob@x.org", 8 },
	{ "bob+x@Bücher.example", 0, O_DEF, CM_OK,
	    "bob+x@xn--bcher-kva.example", "bob@xn--bcher-kva.example", 6 },

	/* IDN */
	{ "user@Bücher.example", 0, O_DEF, CM_OK, "user@xn--bcher-kva.example",
	    NULL, 5 },
	{ "user@BÜCHER.EXAMPLE.", 0, O_DEF, CM_OK,
	    "user@xn--bcher-kva.example", NULL, 5 },
	{ "user@xn--bcher-kva.example", 0, O_DEF, CM_OK,
	    "user@xn--bcher-kva.example", NULL, 5 },
	{ "user@XN--BCHER-KVA.Example", 0, O_DEF, CM_OK,
	    "user@xn--bcher-kva.example", NULL, 5 },
	{ "u@faß.de", 0, O_DEF, CM_OK, "u@xn--fa-hia.de", NULL, 2 },
	{ "u@mail.bücher.example", 0, O_DEF, CM_OK,
	    "u@mail.xn--bcher-kva.example", NULL, 2 },
	{ "u@☺.de", 0, O_DEF, CM_ADDR_BAD_IDN, NULL, NULL, 0 },
	{ "u@ab--ü.de", 0, O_DEF, CM_ADDR_BAD_IDN, NULL, NULL, 0 },
	/* "xn--" labels are taken as ASCII, without decoding */
	{ "u@ü.xn--zz.de", 0, O_DEF, CM_OK, "u@xn--tda.xn--zz.de", NULL, 2 },
	{ "u@\xe2\x80\x8d.de", 0, O_DEF, CM_ADDR_BAD_IDN, NULL, NULL, 0 },
	{ "u@ü-.de", 0, O_DEF, CM_ADDR_BAD_IDN, NULL, NULL, 0 },
	{ "u@ü.a_b.de", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL, NULL, 0 },
	{ "u@ü..de", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL, NULL, 0 },

	/* quoted local parts */
	{ "\"John Doe\"@example.com", 0, O_DEF, CM_OK, "john doe@example.com",
	    NULL, 9 },
	{ "\"John Doe\"@example.com", 0, O_NOFOLD, CM_OK,
	    "John Doe@example.com", NULL, 9 },
	{ "\"a\\\"b\\\\c\"@x.org", 0, O_DEF, CM_OK, "a\"b\\c@x.org", NULL, 6 },
	{ "\"a@b\"@X.org", 0, O_DEF, CM_OK, "a@b@x.org", NULL, 4 },
	{ "<\"a.b..c\"@x.org>", 0, O_DEF, CM_OK, "a.b..c@x.org", NULL, 7 },
	{ "\"\\b\\o\\b\"@x.org", 0, O_DEF, CM_OK, "bob@x.org", NULL, 4 },
	{ "\"\"@x.org", 0, O_DEF, CM_ADDR_LOCAL_EMPTY, NULL, NULL, 0 },
	{ "\"bob@x.org", 0, O_DEF, CM_ADDR_QUOTE, NULL, NULL, 0 },
	{ "\"a\"b@x.org", 0, O_DEF, CM_ADDR_QUOTE, NULL, NULL, 0 },
	{ "a\"b\"@x.org", 0, O_DEF, CM_ADDR_QUOTE, NULL, NULL, 0 },
	{ "\"a\".\"b\"@x.org", 0, O_DEF, CM_ADDR_QUOTE, NULL, NULL, 0 },
	{ "\"a\\\"@x.org", 0, O_DEF, CM_ADDR_QUOTE, NULL, NULL, 0 },
	{ "\"a\\", 0, O_DEF, CM_ADDR_QUOTE, NULL, NULL, 0 },

	/* source routes */
	{ "<@relay1.example,@relay2.example:U@X.org>", 0, O_DEF, CM_OK,
	    "u@x.org", NULL, 2 },
	{ "<@relay.example:bob+x@x.org>", 0, O_DEF, CM_OK, "bob+x@x.org",
	    "bob@x.org", 6 },
	{ "<@[192.0.2.1]:u@x.org>", 0, O_DEF, CM_OK, "u@x.org", NULL, 2 },
	{ "<@relay.example:>", 0, O_DEF, CM_ADDR_BAD_ROUTE, NULL, NULL, 0 },
	{ "<@,@b:u@x.org>", 0, O_DEF, CM_ADDR_BAD_ROUTE, NULL, NULL, 0 },
	{ "<@a,b:u@x.org>", 0, O_DEF, CM_ADDR_BAD_ROUTE, NULL, NULL, 0 },
	{ "<@a,@b u@x.org>", 0, O_DEF, CM_ADDR_BAD_ROUTE, NULL, NULL, 0 },
	{ "<@a;b:u@x.org>", 0, O_DEF, CM_ADDR_BAD_ROUTE, NULL, NULL, 0 },

	/* domain forms */
	{ "u@example.com.", 0, O_DEF, CM_OK, "u@example.com", NULL, 2 },
	{ "u@localhost", 0, O_DEF, CM_OK, "u@localhost", NULL, 2 },
	{ "u@[192.0.2.1]", 0, O_DEF, CM_OK, "u@[192.0.2.1]", NULL, 2 },
	{ "U@[IPv6:2001:DB8::1]", 0, O_DEF, CM_OK, "u@[IPv6:2001:DB8::1]", NULL, 2 },
	{ "u@[192.0.2.1", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL, NULL, 0 },
	{ "u@[]", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL, NULL, 0 },
	{ "u@[a[b]", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL, NULL, 0 },
	{ "u@a..b", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL, NULL, 0 },
	{ "u@x.org..", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL, NULL, 0 },
	{ "u@.x.org", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL, NULL, 0 },
	{ "u@-a.org", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL, NULL, 0 },
	{ "u@a-.org", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL, NULL, 0 },
	{ "u@a_b.org", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL, NULL, 0 },
	{ "u@", 0, O_DEF, CM_ADDR_DOMAIN_EMPTY, NULL, NULL, 0 },
	{ "<u@.>", 0, O_DEF, CM_ADDR_DOMAIN_EMPTY, NULL, NULL, 0 },

	/* UTF-8 local parts: kept, only ASCII letters folded */
	{ "jürgen@example.de", 0, O_DEF, CM_OK, "jürgen@example.de", NULL, 8 },
	{ "JÜRGEN@Example.DE", 0, O_DEF, CM_OK, "jürgen@example.de", NULL, 8 },
	{ "JÜRGEN@Example.DE", 0, O_OCTETS, CM_OK, "jÜrgen@example.de", NULL, 8 },

	/* Unicode local parts: NFC and full case folding make one key of
	 * "über" (NFC), "Über", "ÜBER" and "u" + U+0308 (NFD) */
	{ "\xc3\xbc" "ber@example.com", 0, O_DEF, CM_OK, "über@example.com", NULL, 6 },
	{ "\xc3\x9c" "ber@example.com", 0, O_DEF, CM_OK, "über@example.com", NULL, 6 },
	{ "\xc3\x9c" "BER@Example.COM", 0, O_DEF, CM_OK, "über@example.com", NULL, 6 },
	{ "u\xcc\x88" "ber@example.com", 0, O_DEF, CM_OK, "über@example.com", NULL, 6 },
	{ "U\xcc\x88" "BER@example.com", 0, O_DEF, CM_OK, "über@example.com", NULL, 6 },
	{ "<\"U\xcc\x88" "ber\"@example.com>", 0, O_DEF, CM_OK, "über@example.com",
	    NULL, 6 },
	/* without folding: NFC only, case kept */
	{ "U\xcc\x88" "ber@example.com", 0, O_NOFOLD, CM_OK, "Über@example.com",
	    NULL, 6 },
	{ "u\xcc\x88" "ber@example.com", 0, O_NOFOLD, CM_OK, "über@example.com",
	    NULL, 6 },
	/* octets as written (index format 1 keys): NFD stays NFD */
	{ "u\xcc\x88" "ber@example.com", 0, O_OCTETS, CM_OK,
	    "u\xcc\x88" "ber@example.com", NULL, 7 },
	/* full folding: sharp s, final sigma, Kelvin sign */
	{ "STRASSE@x.de", 0, O_DEF, CM_OK, "strasse@x.de", NULL, 8 },
	{ "stra\xc3\x9f" "e@x.de", 0, O_DEF, CM_OK, "strasse@x.de", NULL, 8 },
	{ "\xce\x9f\xce\x94\xce\xa5\xce\xa3\xce\xa3\xce\x95\xce\xa5\xce\xa3@x.gr", 0,
	    O_DEF, CM_OK, "\xce\xbf\xce\xb4\xcf\x85\xcf\x83\xcf\x83\xce\xb5\xcf\x85\xcf\x83@x.gr",
	    NULL, 17 },
	{ "\xe2\x84\xaa" "im@x.org", 0, O_DEF, CM_OK, "kim@x.org", NULL, 4 },
	/* the sub-address is cut after folding */
	{ "\xc3\x9c" "ber+News@x.org", 0, O_DEF, CM_OK, "über+news@x.org",
	    "über@x.org", 11 },
	/* folding that makes the local part longer than 64 octets (U+0149
	 * folds to U+02BC "n") */
	{ "\xc5\x89" L16 L16 L16 "abcdefghijklmn@x.org", 0, O_DEF,
	    CM_ADDR_LOCAL_TOO_LONG, NULL, NULL, 0 },

	/* routing forms: what Postfix delivers to for a local domain */
	{ "ivan%example.net@localhost", 0, O_DEF, CM_OK, "ivan@example.net",
	    NULL, 5 },
	{ "example.net!ivan@localhost", 0, O_DEF, CM_OK, "ivan@example.net",
	    NULL, 5 },
	{ "<Ivan%Example.NET@LOCALHOST>", 0, O_DEF, CM_OK, "ivan@example.net",
	    NULL, 5 },
	{ "ivan%example.net.@localhost", 0, O_DEF, CM_ADDR_BAD_LOCAL, NULL,
	    NULL, 0 },
	{ "ivan%example.net%relay.example@localhost", 0, O_DEF, CM_OK,
	    "ivan@example.net", NULL, 5 },
	{ "a!b!ivan@localhost", 0, O_DEF, CM_OK, "ivan@b", NULL, 5 },
	{ "b!ivan%c@localhost", 0, O_DEF, CM_OK, "ivan@c", NULL, 5 },
	{ "ivan+x%example.net@localhost", 0, O_DEF, CM_OK,
	    "ivan+x@example.net", "ivan@example.net", 7 },
	{ "\xc3\x9c" "ber%B\xc3\xbc" "cher.example@localhost", 0, O_DEF, CM_OK,
	    "über@xn--bcher-kva.example", NULL, 6 },
	{ "\"ivan%example.net\"@localhost", 0, O_DEF, CM_OK,
	    "ivan%example.net@localhost", NULL, 17 },
	{ "%example.net@localhost", 0, O_DEF, CM_ADDR_BAD_LOCAL, NULL, NULL, 0 },
	{ "ivan%@localhost", 0, O_DEF, CM_ADDR_BAD_LOCAL, NULL, NULL, 0 },
	{ "!ivan@localhost", 0, O_DEF, CM_ADDR_BAD_LOCAL, NULL, NULL, 0 },
	{ "example.net!@localhost", 0, O_DEF, CM_ADDR_BAD_LOCAL, NULL, NULL, 0 },
	{ "ivan%exa_mple.net@localhost", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL,
	    NULL, 0 },
	{ "ivan%example.net@local_host", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL,
	    NULL, 0 },
	{ "ivan%example.net@localhost", 0, O_REFUSE, CM_ADDR_ROUTED, NULL,
	    NULL, 0 },
	{ "example.net!ivan@localhost", 0, O_REFUSE, CM_ADDR_ROUTED, NULL,
	    NULL, 0 },
	{ "\"ivan%example.net\"@localhost", 0, O_REFUSE, CM_OK,
	    "ivan%example.net@localhost", NULL, 17 },
	{ "用户@例子.广告", 0, O_DEF, CM_OK, "用户@xn--fsqu00a.xn--4rr70v",
	    NULL, 7 },

	/* invalid octets */
	{ "b\xc3@x.org", 0, O_DEF, CM_ADDR_BAD_UTF8, NULL, NULL, 0 },
	{ "\xc0\xaf@x.org", 0, O_DEF, CM_ADDR_BAD_UTF8, NULL, NULL, 0 },
	{ "\xe0\x80\xaf@x.org", 0, O_DEF, CM_ADDR_BAD_UTF8, NULL, NULL, 0 },
	{ "\xed\xa0\x80@x.org", 0, O_DEF, CM_ADDR_BAD_UTF8, NULL, NULL, 0 },
	{ "\xf4\x90\x80\x80@x.org", 0, O_DEF, CM_ADDR_BAD_UTF8, NULL, NULL, 0 },
	{ "\xff@x.org", 0, O_DEF, CM_ADDR_BAD_UTF8, NULL, NULL, 0 },
	{ "u@x.org\xe2\x82", 0, O_DEF, CM_ADDR_BAD_UTF8, NULL, NULL, 0 },
	{ "bob\r\n@x.org", 0, O_DEF, CM_ADDR_CTRL, NULL, NULL, 0 },
	{ "bob@x.org\r\nRCPT TO:<y@z>", 0, O_DEF, CM_ADDR_CTRL, NULL, NULL, 0 },
	{ "bob\x7f@x.org", 0, O_DEF, CM_ADDR_CTRL, NULL, NULL, 0 },
	{ "\"a\tb\"@x.org", 0, O_DEF, CM_ADDR_CTRL, NULL, NULL, 0 },
	{ "a\xc2\x85@x.org", 0, O_DEF, CM_ADDR_CTRL, NULL, NULL, 0 },
	{ "bob\0@x.org", 10, O_DEF, CM_ADDR_NUL, NULL, NULL, 0 },
	{ "bob@x.org\0", 10, O_DEF, CM_ADDR_NUL, NULL, NULL, 0 },
	/* LEN is honoured: the octets after it are not part of the address */
	{ "bob@x.org>garbage", 9, O_DEF, CM_OK, "bob@x.org", NULL, 4 },

	/* structure */
	{ "", 0, O_DEF, CM_ADDR_EMPTY, NULL, NULL, 0 },
	{ "<>", 0, O_DEF, CM_ADDR_EMPTY, NULL, NULL, 0 },
	{ " \t ", 0, O_DEF, CM_ADDR_EMPTY, NULL, NULL, 0 },
	{ "bob", 0, O_DEF, CM_ADDR_NO_AT, NULL, NULL, 0 },
	{ "<bob>", 0, O_DEF, CM_ADDR_NO_AT, NULL, NULL, 0 },
	{ "\"bob@x.org\"", 0, O_DEF, CM_ADDR_NO_AT, NULL, NULL, 0 },
	{ "@x.org", 0, O_DEF, CM_ADDR_LOCAL_EMPTY, NULL, NULL, 0 },
	{ "<@x.org>", 0, O_DEF, CM_ADDR_LOCAL_EMPTY, NULL, NULL, 0 },
	{ ".bob@x.org", 0, O_DEF, CM_ADDR_BAD_LOCAL, NULL, NULL, 0 },
	{ "bob.@x.org", 0, O_DEF, CM_ADDR_BAD_LOCAL, NULL, NULL, 0 },
	{ "bo..b@x.org", 0, O_DEF, CM_ADDR_BAD_LOCAL, NULL, NULL, 0 },
	{ "a@b@x.org", 0, O_DEF, CM_ADDR_BAD_LOCAL, NULL, NULL, 0 },
	{ "bo(b)@x.org", 0, O_DEF, CM_ADDR_BAD_LOCAL, NULL, NULL, 0 },
	{ "bo\\b@x.org", 0, O_DEF, CM_ADDR_BAD_LOCAL, NULL, NULL, 0 },
	{ "<bob@x.org", 0, O_DEF, CM_ADDR_BRACKET, NULL, NULL, 0 },
	{ "bob@x.org>", 0, O_DEF, CM_ADDR_BRACKET, NULL, NULL, 0 },
	{ "<<bob@x.org>>", 0, O_DEF, CM_ADDR_BRACKET, NULL, NULL, 0 },
	{ "Bob <bob@x.org>", 0, O_DEF, CM_ADDR_BRACKET, NULL, NULL, 0 },
	{ "<", 0, O_DEF, CM_ADDR_BRACKET, NULL, NULL, 0 },

	/* limits (more in test_limits) */
	{ "<" L64 "@x.org>", 0, O_DEF, CM_OK, L64 "@x.org", NULL, 65 },
	{ "<" L64 "a@x.org>", 0, O_DEF, CM_ADDR_LOCAL_TOO_LONG, NULL, NULL, 0 },
	{ "u@" D255, 0, O_DEF, CM_OK, "u@" D255, NULL, 2 },
	{ "u@" D255 ".", 0, O_DEF, CM_OK, "u@" D255, NULL, 2 },
	{ "u@a" D255, 0, O_DEF, CM_ADDR_DOMAIN_TOO_LONG, NULL, NULL, 0 },
	{ "u@" LAB64 ".org", 0, O_DEF, CM_ADDR_BAD_DOMAIN, NULL, NULL, 0 },
};

static const cm_addr_opts *
opts_for(int which, cm_addr_opts *o)
{
	cm_addr_opts_default(o);
	switch (which) {
	case O_NOFOLD:
		o->fold_local_case = false;
		break;
	case O_DASH:
		o->subaddr_sep = '-';
		break;
	case O_NOSEP:
		o->subaddr_sep = 0;
		break;
	case O_NULL:
		return NULL;
	case O_OCTETS:
		o->local_octets = true;
		break;
	case O_REFUSE:
		o->route_local = CM_ADDR_ROUTE_REFUSE;
		break;
	default:
		break;
	}
	return o;
}

static void
check_ok(const cm_addr *a, const char *key, const char *base, size_t doff)
{
	if (base == NULL)
		base = key;
	assert_string_equal(a->key, key);
	assert_int_equal(a->key_len, strlen(key));
	assert_string_equal(a->base, base);
	assert_int_equal(a->base_len, strlen(base));
	assert_int_equal(a->domain_off, doff);
	assert_int_equal(a->key[doff - 1], '@');
	assert_int_equal(a->has_subaddr, strcmp(key, base) != 0);
	/* the domain is the same in key and base */
	assert_string_equal(a->key + doff,
	    a->base + (a->base_len - (a->key_len - doff)));
}

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		const struct acase *c = &cases[i];
		cm_addr_opts o;
		cm_addr a;
		size_t len = c->len ? c->len : strlen(c->in);
		cm_status st;

		memset(&a, 0x5a, sizeof(a));
		st = cm_addr_normalize(c->in, len, opts_for(c->opts, &o), &a);
		if (st != c->st)
			fail_msg("case %zu \"%s\": got %d (%s), want %d (%s)", i,
			    c->in, st, cm_strerror(st), c->st,
			    cm_strerror(c->st));
		if (st == CM_OK)
			check_ok(&a, c->key, c->base, c->domain_off);
	}
}

/* every CM_ADDR_* status is produced by at least one case */
static void
test_every_status(void **state)
{
	(void)state;
	for (int s = CM_ADDR_EMPTY; s <= CM_ADDR_ROUTED; s++) {
		bool seen = false;

		for (size_t i = 0; i < NELEM(cases); i++)
			if ((int)cases[i].st == s)
				seen = true;
		if (!seen)
			fail_msg("no case for status %d (%s)", s, cm_strerror(s));
	}
}

/* a domain of DLEN octets in labels of at most LABEL octets */
static size_t
build_domain(char *buf, size_t dlen, size_t label)
{
	size_t n = 0, rem = dlen;

	while (rem > 0) {
		size_t take = rem < label ? rem : label;

		if (rem - take == 1)
			take--;
		memset(buf + n, 'b', take);
		n += take;
		rem -= take;
		if (rem > 0) {
			buf[n++] = '.';
			rem--;
		}
	}
	buf[n] = '\0';
	return n;
}

/* LLEN 'a's, '@', a domain of DLEN octets */
static size_t
build(char *buf, size_t llen, size_t dlen, size_t label)
{
	memset(buf, 'a', llen);
	buf[llen] = '@';
	return llen + 1 + build_domain(buf + llen + 1, dlen, label);
}

static void
test_limits(void **state)
{
	static const struct {
		size_t llen, dlen, label;
		cm_status st;
	} lim[] = {
		{ 64, 20, 63, CM_OK },
		{ 65, 20, 63, CM_ADDR_LOCAL_TOO_LONG },
		{ 1, 255, 63, CM_OK },
		{ 1, 256, 63, CM_ADDR_DOMAIN_TOO_LONG },
		{ 64, 255, 63, CM_OK },
		{ 300, 20, 63, CM_ADDR_LOCAL_TOO_LONG },
		{ 1, 5000, 63, CM_ADDR_DOMAIN_TOO_LONG },
		{ 1, 63, 63, CM_OK },
		{ 1, 64, 64, CM_ADDR_BAD_DOMAIN },
		{ 1, 70, 64, CM_ADDR_BAD_DOMAIN },
	};
	char buf[6000];

	(void)state;
	for (size_t i = 0; i < NELEM(lim); i++) {
		size_t n = build(buf, lim[i].llen, lim[i].dlen, lim[i].label);
		cm_addr a;
		cm_status st = cm_addr_normalize(buf, n, NULL, &a);

		if (st != lim[i].st)
			fail_msg("limit case %zu: got %s, want %s", i,
			    cm_strerror(st), cm_strerror(lim[i].st));
		if (st == CM_OK) {
			assert_int_equal(a.key_len, n);
			assert_memory_equal(a.key, buf, n);
			assert_int_equal(a.domain_off, lim[i].llen + 1);
		}
	}

	/* a quoted local part counts with its quotes: 62 + 2 is fine */
	{
		char q[80];
		cm_addr a;

		q[0] = '"';
		memset(q + 1, 'c', 62);
		memcpy(q + 63, "\"@x", 4);
		assert_int_equal(cm_addr_normalize(q, 66, NULL, &a), CM_OK);
		assert_int_equal(a.key_len, 64);
		q[0] = '"';
		memset(q + 1, 'c', 63);
		memcpy(q + 64, "\"@x", 4);
		assert_int_equal(cm_addr_normalize(q, 67, NULL, &a),
		    CM_ADDR_LOCAL_TOO_LONG);
	}

	/* U-label domain: the limit applies to the A-label form */
	{
		char d[300];
		cm_addr a;
		size_t n;

		memcpy(d, "u@\xc3\xbc.", 5);	/* "u@ü." */
		n = 5 + build_domain(d + 5, 250, 63);	/* 7 + 1 + 250 > 255 */
		assert_int_equal(cm_addr_normalize(d, n, NULL, &a),
		    CM_ADDR_DOMAIN_TOO_LONG);
		n = 5 + build_domain(d + 5, 247, 63);	/* 7 + 1 + 247 = 255 */
		assert_int_equal(cm_addr_normalize(d, n, NULL, &a), CM_OK);
		assert_int_equal(a.key_len - a.domain_off, 255);
		assert_memory_equal(a.key, "u@xn--tda.", 10);
	}
}

static void
test_bad_args(void **state)
{
	cm_addr_opts o;
	cm_addr a;

	(void)state;
	cm_addr_opts_default(&o);
	assert_true(o.fold_local_case);
	assert_int_equal(o.subaddr_sep, '+');
	assert_int_equal(cm_addr_normalize("a@b", 3, &o, NULL), CM_EINVAL);
	assert_int_equal(cm_addr_normalize(NULL, 3, &o, &a), CM_EINVAL);
	assert_int_equal(cm_addr_normalize(NULL, 0, &o, &a), CM_ADDR_EMPTY);
	o.subaddr_sep = '@';
	assert_int_equal(cm_addr_normalize("a@b", 3, &o, &a), CM_EINVAL);
	o.subaddr_sep = ' ';
	assert_int_equal(cm_addr_normalize("a@b", 3, &o, &a), CM_EINVAL);
	o.subaddr_sep = (char)0xc3;
	assert_int_equal(cm_addr_normalize("a@b", 3, &o, &a), CM_EINVAL);
}

/* normalizing a key again (re-quoted when needed) gives the same key */
static void
test_idempotent(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		const struct acase *c = &cases[i];
		cm_addr a, b;
		cm_addr_opts o;
		const cm_addr_opts *op = opts_for(c->opts, &o);
		char q[2 * CM_ADDR_KEY_MAX + 4];
		size_t n = 0;

		if (c->st != CM_OK)
			continue;
		/* a key whose local part needs no quotes is a fixed point
		 * (unless it reads as a routing form unquoted) */
		if (strcspn(c->key, "%!") >= c->domain_off &&
		    cm_addr_normalize(c->key, strlen(c->key), op, &a) == CM_OK)
			assert_string_equal(a.key, c->key);
		/* quoted form of the key's local part */
		q[n++] = '"';
		for (size_t j = 0; j + 1 < c->domain_off; j++) {
			if (c->key[j] == '"' || c->key[j] == '\\')
				q[n++] = '\\';
			q[n++] = c->key[j];
		}
		q[n++] = '"';
		if (n > CM_ADDR_LOCAL_MAX)
			continue;	/* the quoted form is too long */
		memcpy(q + n, c->key + c->domain_off - 1,
		    strlen(c->key) - c->domain_off + 1);
		n += strlen(c->key) - c->domain_off + 1;
		assert_int_equal(cm_addr_normalize(q, n, op, &b), CM_OK);
		assert_string_equal(b.key, c->key);
	}
}

/* every control octet is found wherever it is (the scan goes 8 at a time) */
static void
test_ctrl_every_position(void **state)
{
	static const struct {
		unsigned char c;
		cm_status st;
	} oct[] = {
		{ 0x00, CM_ADDR_NUL }, { 0x01, CM_ADDR_CTRL },
		{ 0x09, CM_ADDR_CTRL }, { 0x0a, CM_ADDR_CTRL },
		{ 0x1f, CM_ADDR_CTRL }, { 0x7f, CM_ADDR_CTRL },
		{ 0x80, CM_ADDR_BAD_UTF8 }, { 0xff, CM_ADDR_BAD_UTF8 },
		{ 0x20, CM_ADDR_BAD_LOCAL }, { 0x7e, CM_OK }, { 0x23, CM_OK },
	};
	char buf[64];
	cm_addr a;

	(void)state;
	for (size_t k = 0; k < NELEM(oct); k++) {
		for (size_t pos = 1; pos < 40; pos++) {
			memset(buf, 'a', 40);
			memcpy(buf + 40, "@example.org", 12);
			buf[pos] = (char)oct[k].c;
			cm_status st = cm_addr_normalize(buf, 52, NULL, &a);

			if (st != oct[k].st)
				fail_msg("octet 0x%02x at %zu: got %s, want %s",
				    oct[k].c, pos, cm_strerror(st),
				    cm_strerror(oct[k].st));
		}
	}
}

struct dcase {
	const char *in;
	cm_status st;
	const char *out;
};

static void
test_domain(void **state)
{
	static const struct dcase dc[] = {
		{ "Example.COM.", CM_OK, "example.com" },
		{ " example.com ", CM_OK, "example.com" },
		{ "Bücher.Example", CM_OK, "xn--bcher-kva.example" },
		{ "[192.0.2.1]", CM_OK, "[192.0.2.1]" },
		{ "", CM_ADDR_DOMAIN_EMPTY, NULL },
		{ ".", CM_ADDR_DOMAIN_EMPTY, NULL },
		{ "a..b", CM_ADDR_BAD_DOMAIN, NULL },
		{ "@example.com", CM_ADDR_BAD_DOMAIN, NULL },
		{ "ex\rample.com", CM_ADDR_CTRL, NULL },
		{ "b\xc3.com", CM_ADDR_BAD_UTF8, NULL },
		{ "☺.ü.de", CM_ADDR_BAD_IDN, NULL },
	};
	char out[CM_ADDR_DOMAIN_MAX + 1];
	size_t olen;

	(void)state;
	for (size_t i = 0; i < NELEM(dc); i++) {
		cm_status st = cm_addr_normalize_domain(dc[i].in,
		    strlen(dc[i].in), out, &olen);

		if (st != dc[i].st)
			fail_msg("domain case %zu \"%s\": got %s, want %s", i,
			    dc[i].in, cm_strerror(st), cm_strerror(dc[i].st));
		if (st == CM_OK) {
			assert_string_equal(out, dc[i].out);
			assert_int_equal(olen, strlen(dc[i].out));
		}
	}
	assert_int_equal(cm_addr_normalize_domain("a\0b", 3, out, &olen),
	    CM_ADDR_NUL);
	assert_int_equal(cm_addr_normalize_domain("a", 1, NULL, &olen),
	    CM_EINVAL);
}

/* cm_addr_format: a key written back as an address that normalizes to
 * the same key; quoted only where the local part needs it. */
static void
test_format(void **state)
{
	static const struct {
		const char *in;		/* as an operator wrote it */
		const char *out;	/* formatted key */
	} fc[] = {
		{ "Bob@Example.NET", "bob@example.net" },
		{ "\"john doe\"@example.com", "\"john doe\"@example.com" },
		{ "\"John.Doe\"@example.com", "john.doe@example.com" },
		{ "\"a..b\"@x.example", "\"a..b\"@x.example" },
		{ "\".a\"@x.example", "\".a\"@x.example" },
		{ "\"a.\"@x.example", "\"a.\"@x.example" },
		{ "\"a@b\"@x.example", "\"a@b\"@x.example" },
		{ "\"a\\\"b\\\\c\"@x.example", "\"a\\\"b\\\\c\"@x.example" },
		{ "\"a,b\"@x.example", "\"a,b\"@x.example" },
		{ "user@b\xc3\xbc" "cher.example", "user@xn--bcher-kva.example" },
		{ "j\xc3\xb6rg@x.example", "j\xc3\xb6rg@x.example" },
		{ "a+b@[192.0.2.1]", "a+b@[192.0.2.1]" },
		{ "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
		  "b\"@x", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
		  "b\"@x" },
	};
	char out[CM_ADDR_TEXT_MAX];
	size_t olen;

	(void)state;
	for (size_t i = 0; i < sizeof(fc) / sizeof(fc[0]); i++) {
		cm_addr a, b;

		assert_int_equal(cm_addr_normalize(fc[i].in, strlen(fc[i].in),
		    NULL, &a), CM_OK);
		assert_int_equal(cm_addr_format(a.key, a.key_len, out,
		    sizeof(out), &olen), CM_OK);
		if (strcmp(out, fc[i].out) != 0)
			fail_msg("format case %zu \"%s\": got %s, want %s", i,
			    fc[i].in, out, fc[i].out);
		assert_int_equal(olen, strlen(out));
		assert_int_equal(cm_addr_normalize(out, olen, NULL, &b), CM_OK);
		assert_string_equal(a.key, b.key);
	}
	assert_int_equal(cm_addr_format("nobody", 6, out, sizeof(out), &olen),
	    CM_ADDR_NO_AT);
	assert_int_equal(cm_addr_format("@x", 2, out, sizeof(out), &olen),
	    CM_ADDR_LOCAL_EMPTY);
	assert_int_equal(cm_addr_format("a b@x", 5, out, 7, &olen),
	    CM_ETOOLONG);
	assert_int_equal(cm_addr_format("a b@x", 5, out, 8, &olen), CM_OK);
	assert_string_equal(out, "\"a b\"@x");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_every_status),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_ctrl_every_position),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
