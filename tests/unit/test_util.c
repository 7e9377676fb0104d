/* test_util.c - the small generic helpers of core/util.h: hex decoding
 * (erasure keys in dumps, benchmark keys) and the bounded appender of
 * the decision lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct hcase {
	const char *in;
	size_t n;
	bool ok;
	const char *want;	/* the octets on success */
};

static const struct hcase hcases[] = {
	{ "", 0, true, "" },
	{ "00", 1, true, "\x00" },
	{ "0a1f", 2, true, "\x0a\x1f" },
	{ "ff80", 2, true, "\xff\x80" },
	{ "0123456789abcdef", 8, true, "\x01\x23\x45\x67\x89\xab\xcd\xef" },
	{ "0a1", 2, false, NULL },		/* too short */
	{ "0a1f0", 2, false, NULL },		/* too long */
	{ "0A1F", 2, false, NULL },		/* upper case */
	{ "0g", 1, false, NULL },
	{ "0 ", 1, false, NULL },
	{ "-1", 1, false, NULL },
	{ "", 1, false, NULL },
};

static void
test_hex_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(hcases); i++) {
		const struct hcase *c = &hcases[i];
		unsigned char out[16];

		memset(out, 0x5a, sizeof(out));
		if (cm_hex_decode(c->in, out, c->n) != c->ok)
			fail_msg("case %zu \"%s\": want %s", i, c->in,
			    c->ok ? "decoded" : "refused");
		if (c->ok && memcmp(out, c->want, c->n) != 0)
			fail_msg("case %zu \"%s\": wrong octets", i, c->in);
		/* nothing written past N */
		if (c->ok && out[c->n] != 0x5a)
			fail_msg("case %zu \"%s\": wrote past %zu", i, c->in,
			    c->n);
	}
}

static void
test_sbuf(void **state)
{
	char buf[8];
	cm_sbuf b = { buf, 0, 6 };	/* room for 6 */

	(void)state;
	memset(buf, '#', sizeof(buf));
	cm_sbuf_str(&b, "ab");
	cm_sbuf_put(&b, "cdXX", 2);
	assert_int_equal(b.len, 4);
	assert_memory_equal(buf, "abcd", 4);
	cm_sbuf_str(&b, "efgh");	/* cut at the capacity */
	assert_int_equal(b.len, 6);
	assert_memory_equal(buf, "abcdef", 6);
	cm_sbuf_str(&b, "i");		/* full: nothing more */
	cm_sbuf_put(&b, "", 0);
	assert_int_equal(b.len, 6);
	assert_int_equal(buf[6], '#');	/* never past the capacity */
	assert_int_equal(buf[7], '#');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_decode),
		cmocka_unit_test(test_sbuf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
