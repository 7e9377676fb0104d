/* test_listid.c - RFC 2919 List-Id parsing (core/listid.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/listid.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct tcase {
	const char *in;
	cm_status st;
	const char *id;		/* expected on CM_OK */
};

static const struct tcase cases[] = {
	/* the forms of RFC 2919 */
	{ "<offers.example.com>", CM_OK, "offers.example.com" },
	{ "Offers <offers.example.com>", CM_OK, "offers.example.com" },
	{ "Special offers list <offers.example.com>", CM_OK,
	    "offers.example.com" },
	{ "\"Offers <fake.example>\" <offers.example.com>", CM_OK,
	    "offers.example.com" },
	{ "\"a \\\" <b>\" <offers.example.com>", CM_OK, "offers.example.com" },
	/* comments, also with angle brackets inside (issue 12) */
	{ "<offers.example.com> (archive <https://x>)", CM_OK,
	    "offers.example.com" },
	{ "(see <https://x>) <offers.example.com>", CM_OK,
	    "offers.example.com" },
	{ "Offers (nested (<a.b>) comment) <offers.example.com> (c)", CM_OK,
	    "offers.example.com" },
	{ "Offers (escaped \\) <x.y>) <offers.example.com>", CM_OK,
	    "offers.example.com" },
	/* a trailing dot, white space inside the brackets, folding */
	{ "<offers.example.com.>", CM_OK, "offers.example.com" },
	{ "< offers.example.com >", CM_OK, "offers.example.com" },
	{ "Offers\r\n <offers.example.com>\r\n (archive)", CM_OK,
	    "offers.example.com" },
	{ "Offers\n\t<offers.example.com.>", CM_OK, "offers.example.com" },
	{ "  <Offers.Example.COM>  ", CM_OK, "Offers.Example.COM" },
	/* a bare identifier, as some senders write it */
	{ "offers.example.com", CM_OK, "offers.example.com" },
	{ " offers.example.com. (c)", CM_OK, "offers.example.com" },
	/* nothing to take, or ambiguous */
	{ "", CM_EINVAL, NULL },
	{ "   ", CM_EINVAL, NULL },
	{ "(only a comment)", CM_EINVAL, NULL },
	{ "<>", CM_EINVAL, NULL },
	{ "<.>", CM_EINVAL, NULL },
	/* an empty label: not another spelling of a list */
	{ "<offers.example.com..>", CM_EINVAL, NULL },
	{ "<offers..example.com>", CM_EINVAL, NULL },
	{ "<.offers.example.com>", CM_EINVAL, NULL },
	{ "0..(lists.example.org)", CM_EINVAL, NULL },
	{ "Offers list", CM_EINVAL, NULL },
	{ "\"quoted\"", CM_EINVAL, NULL },
	{ "<a.example> <offers.example.com>", CM_EINVAL, NULL },
	{ "<offers.example.com", CM_EINVAL, NULL },
	{ "offers.example.com>", CM_EINVAL, NULL },
	{ "<offers.example.com> (unclosed", CM_EINVAL, NULL },
	{ "\"unclosed <offers.example.com>", CM_EINVAL, NULL },
	{ "<offers example.com>", CM_EINVAL, NULL },
	{ "<offers\x01.example.com>", CM_EINVAL, NULL },
	{ "<<offers.example.com>>", CM_EINVAL, NULL },
};

static void
test_table(void **state)
{
	char out[CM_LISTID_MAX + 1];
	size_t n;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		const struct tcase *c = &cases[i];
		cm_status st;

		n = 12345;
		st = cm_listid_parse(c->in, strlen(c->in), out, sizeof(out), &n);
		if (st != c->st)
			fail_msg("case %zu \"%s\": status %d, want %d", i, c->in,
			    (int)st, (int)c->st);
		if (st == CM_OK) {
			assert_string_equal(out, c->id);
			assert_int_equal(n, strlen(c->id));
		} else {
			assert_string_equal(out, "");
		}
	}
}

static void
test_limits(void **state)
{
	char in[CM_LISTID_MAX + 8], out[CM_LISTID_MAX + 1], small[8];

	(void)state;
	/* 255 octets fit, 256 do not */
	in[0] = '<';
	memset(in + 1, 'a', CM_LISTID_MAX);
	in[CM_LISTID_MAX + 1] = '>';
	assert_int_equal(cm_listid_parse(in, CM_LISTID_MAX + 2, out,
	    sizeof(out), NULL), CM_OK);
	assert_int_equal(strlen(out), CM_LISTID_MAX);
	in[0] = 'a';
	in[CM_LISTID_MAX + 1] = 'a';
	assert_int_equal(cm_listid_parse(in, CM_LISTID_MAX + 2, out,
	    sizeof(out), NULL), CM_ETOOLONG);
	/* too small an output buffer */
	assert_int_equal(cm_listid_parse("<abcdefgh.x>", 12, small,
	    sizeof(small), NULL), CM_ETOOLONG);
	assert_string_equal(small, "");
	/* LEN is honoured (no NUL needed), an embedded NUL is refused */
	assert_int_equal(cm_listid_parse("<a.b>garbage", 5, out, sizeof(out),
	    NULL), CM_OK);
	assert_string_equal(out, "a.b");
	assert_int_equal(cm_listid_parse("<a\0.b>", 6, out, sizeof(out), NULL),
	    CM_EINVAL);
	assert_int_equal(cm_listid_parse(NULL, 0, out, sizeof(out), NULL),
	    CM_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
