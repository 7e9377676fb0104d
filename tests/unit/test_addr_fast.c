/*
 * test_addr_fast.c - the address normalizer's short way (core/addr_int.h)
 * gives exactly what the long way gives.
 *
 * A key that differs by one octet between the two ways would miss the
 * address's consent record, or its opt-out; so for every input the short
 * way takes, the long way must give CM_OK and the same key, base, offsets
 * and flags, under every option set.  The inputs: a table of near misses,
 * then random addresses built from the octets that matter (letters of both
 * cases, dots, hyphens, '@', brackets, separators, routing forms, quotes,
 * spaces, 8-bit octets) at every length up to the limits.  The short way
 * must also be taken where it is meant to be (a plain address), or the
 * comparison would test nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/addr.h"
#include "core/addr_int.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define L16 "abcdefghijklmnop"
#define L64 L16 L16 L16 L16
#define LAB63 L16 L16 L16 "abcdefghijklmno"
#define D255 LAB63 "." LAB63 "." LAB63 "." LAB63
#define LAB62 L16 L16 L16 "abcdefghijklmn"
#define D256 "a." LAB63 "." LAB63 "." LAB63 "." LAB62	/* labels fit */

/* the option sets compared: fold or not, each kind of separator,
 * routing forms resolved, refused or literal, octets or Unicode */
static const cm_addr_opts optsets[] = {
	{ true, '+', false, CM_ADDR_ROUTE_RESOLVE },
	{ false, '+', false, CM_ADDR_ROUTE_RESOLVE },
	{ true, '-', false, CM_ADDR_ROUTE_REFUSE },
	{ true, 0, true, CM_ADDR_ROUTE_LITERAL },
	{ false, '.', false, CM_ADDR_ROUTE_RESOLVE },
	{ true, '=', true, CM_ADDR_ROUTE_RESOLVE },
};

static size_t taken;	/* inputs the short way took */

/* Compare the two ways on IN[0..N) under O. */
static void
same(const char *in, size_t n, const cm_addr_opts *o)
{
	cm_addr f, l;
	cm_status st;

	memset(&f, 0x5a, sizeof(f));
	if (!cm_addr_fast(in, n, o->fold_local_case,
	    (unsigned char)o->subaddr_sep, &f))
		return;
	taken++;
	st = cm_addr_normalize_long(in, n, o, &l);
	if (st != CM_OK)
		fail_msg("\"%.*s\": the short way took it, the long way says %s",
		    (int)n, in, cm_strerror(st));
	if (strcmp(f.key, l.key) != 0 || f.key_len != l.key_len ||
	    strcmp(f.base, l.base) != 0 || f.base_len != l.base_len ||
	    f.domain_off != l.domain_off || f.has_subaddr != l.has_subaddr)
		fail_msg("\"%.*s\" (fold %d, sep '%c'): short way %s / %s "
		    "(%zu, %zu, %zu, %d), long way %s / %s (%zu, %zu, %zu, %d)",
		    (int)n, in, o->fold_local_case, o->subaddr_sep ? o->subaddr_sep : '0',
		    f.key, f.base, f.key_len, f.base_len, f.domain_off,
		    f.has_subaddr, l.key, l.base, l.key_len, l.base_len,
		    l.domain_off, l.has_subaddr);
	/* and cm_addr_normalize, which takes it, says the same */
	assert_int_equal(cm_addr_normalize(in, n, o, &l), CM_OK);
	assert_string_equal(l.key, f.key);
}

static void
same_all(const char *in, size_t n)
{
	for (size_t k = 0; k < NELEM(optsets); k++)
		same(in, n, &optsets[k]);
}

/* near misses and plain addresses */
static const char *const table[] = {
	"a@b", "<a@b>", "A@B", "<Bob+News@Example.NET>", "bob+@x.org",
	"+bob@x.org", "bob++x@y.z", "b.o.b@x.y", ".bob@x", "bob.@x", "b..ob@x",
	"bob@.x", "bob@x.", "bob@x..y", "bob@-x", "bob@x-", "bob@x-.y",
	"bob@x.-y", "bob@x--y", "bob@", "@x", "@", "<>", "<@>", "<a@b",
	"a@b>", "<<a@b>>", " a@b", "a@b ", "a @b", "a@b@c", "a%b@c", "a!b@c",
	"\"a\"@b", "a\"b@c", "a@[1.2.3.4]", "a@b_c", "a_b@c", "a=b@c.d",
	"a-b@c-d.e", "x@" LAB63 ".a", "x@" LAB63 "x.a", L64 "@x", L64 "x@x",
	L64 "@" D255, L64 "x@" D255, "a@" D255 "x", "a@" D255 ".x", "a@" D256,
	"{|}~^`'*/?#$&@x.y", "a\tb@c", "a@b\x7f", "\xc3\xa4@x", "a@\xc3\xa4",
	"a@b\xff", "0@0", "-@-", "a@1-2.3", "A.B-C+D@E-F.G",
};

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(table); i++)
		same_all(table[i], strlen(table[i]));
	for (size_t i = 0; i < NELEM(table); i++)	/* cut anywhere */
		for (size_t n = 0; n < strlen(table[i]); n++)
			same_all(table[i], n);
}

/* the short way is taken for plain addresses, and only for them */
static void
test_taken(void **state)
{
	static const char *const yes[] = {
		"a@b", "<Bob@Example.NET>", "bob+news@x.org", "first.last@a-b.c",
		L64 "@" D255, "{|}~^`'*/?#$&-_=+@x.y",
	};
	static const char *const no[] = {
		"a%b@c", "a!b@c", "\"q\"@x", "a@b.", " a@b", "\xc3\x9c@x",
		"a@[1.2.3.4]", "@r:a@b", L64 "x@y", "a@" D256, "a@b@c",
		"", "<>", "a@" LAB63 "x.y", "a..b@c", "a@b..c",
	};
	cm_addr a;

	(void)state;
	for (size_t i = 0; i < NELEM(yes); i++)
		if (!cm_addr_fast(yes[i], strlen(yes[i]), true, '+', &a))
			fail_msg("\"%s\": the short way was not taken", yes[i]);
	for (size_t i = 0; i < NELEM(no); i++)
		if (cm_addr_fast(no[i], strlen(no[i]), true, '+', &a))
			fail_msg("\"%s\": the short way was taken", no[i]);
}

/* xorshift: the same inputs in every run */
static uint64_t rs = 0x9e3779b97f4a7c15u;

static uint32_t
rnd(uint32_t n)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (uint32_t)(rs % n);
}

static void
test_random(void **state)
{
	/* mostly octets of plain addresses, with the ones that must turn
	 * the short way away now and then */
	static const char common[] = "abcXYZ019.-@+";
	static const char rare[] = "%!\"<> \t[]:,\\_=#~\x7f\x01\x80\xc3\xa4\xff";
	char buf[400];
	size_t before = taken;

	(void)state;
	for (int k = 0; k < 300000; k++) {
		size_t n, want = rnd(8) == 0 ? rnd(sizeof(buf)) : rnd(40);

		n = 0;
		if (rnd(4) == 0)
			buf[n++] = '<';
		while (n < want) {
			uint32_t r = rnd(100);

			if (r < 2)
				buf[n++] = rare[rnd(sizeof(rare) - 1)];
			else if (r < 8)	/* runs of a label's length */
				for (uint32_t m = 60 + rnd(8); m > 0 && n < want; m--)
					buf[n++] = 'q';
			else
				buf[n++] = common[rnd(sizeof(common) - 1)];
		}
		if (n > 0 && buf[0] == '<' && rnd(2) == 0)
			buf[n - 1] = '>';
		same(buf, n, &optsets[rnd(NELEM(optsets))]);
	}
	/* a comparison that never ran would prove nothing */
	if (taken - before < 10000)
		fail_msg("the short way took only %zu random inputs",
		    taken - before);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_taken),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
