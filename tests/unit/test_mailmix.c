/*
 * test_mailmix.c - milter.mail_reply (milter/mailmix.c): rcpt and mail
 * are fixed whatever the mail; auto starts without a reply to MAIL,
 * turns to a reply once most recent messages were answered at MAIL, and
 * back once most went on past MAIL; a mix at one half stays near it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "milter/mailmix.h"

static void
note_n(bool went_on, int n)
{
	while (n-- > 0)
		cm_mailmix_note(went_on);
}

static void
test_fixed(void **state)
{
	(void)state;
	cm_mailmix_reset();
	note_n(false, 500);
	assert_true(cm_mailmix_nr_mail(CM_MAIL_REPLY_RCPT));
	assert_false(cm_mailmix_nr_mail(CM_MAIL_REPLY_MAIL));
	note_n(true, 500);
	assert_true(cm_mailmix_nr_mail(CM_MAIL_REPLY_RCPT));
	assert_false(cm_mailmix_nr_mail(CM_MAIL_REPLY_MAIL));
}

static void
test_auto_follows(void **state)
{
	int i, turned = -1;

	(void)state;
	cm_mailmix_reset();
	assert_int_equal(cm_mailmix_share(), 65536);
	assert_true(cm_mailmix_nr_mail(CM_MAIL_REPLY_AUTO));
	/* mail answered at MAIL: turns within one span, not after one */
	cm_mailmix_note(false);
	assert_true(cm_mailmix_nr_mail(CM_MAIL_REPLY_AUTO));
	for (i = 1; i < 4 * CM_MAILMIX_SPAN; i++) {
		cm_mailmix_note(false);
		if (turned < 0 && !cm_mailmix_nr_mail(CM_MAIL_REPLY_AUTO))
			turned = i + 1;
	}
	assert_in_range(turned, CM_MAILMIX_SPAN / 2, CM_MAILMIX_SPAN);
	assert_true(cm_mailmix_share() < 65536 / 50);
	/* and back for newsletters */
	for (i = 0, turned = -1; i < 4 * CM_MAILMIX_SPAN; i++) {
		cm_mailmix_note(true);
		if (turned < 0 && cm_mailmix_nr_mail(CM_MAIL_REPLY_AUTO))
			turned = i + 1;
	}
	assert_in_range(turned, CM_MAILMIX_SPAN / 2, CM_MAILMIX_SPAN);
	/* the share reaches both ends (no rounding stall) */
	note_n(true, 20 * CM_MAILMIX_SPAN);
	assert_int_equal(cm_mailmix_share(), 65536);
	note_n(false, 20 * CM_MAILMIX_SPAN);
	assert_int_equal(cm_mailmix_share(), 0);
}

static void
test_auto_mix(void **state)
{
	int i;

	(void)state;
	cm_mailmix_reset();
	/* three newsletters in four messages: without a reply throughout */
	for (i = 0; i < 40 * CM_MAILMIX_SPAN; i++) {
		cm_mailmix_note(i % 4 != 0);
		assert_true(cm_mailmix_nr_mail(CM_MAIL_REPLY_AUTO));
	}
	/* one in four: with a reply, once settled */
	for (i = 0; i < 40 * CM_MAILMIX_SPAN; i++) {
		cm_mailmix_note(i % 4 == 0);
		if (i >= 4 * CM_MAILMIX_SPAN)
			assert_false(cm_mailmix_nr_mail(CM_MAIL_REPLY_AUTO));
	}
	/* half and half: near one half */
	for (i = 0; i < 40 * CM_MAILMIX_SPAN; i++)
		cm_mailmix_note(i % 2 == 0);
	assert_in_range(cm_mailmix_share(), 65536 / 2 - 65536 / 16,
	    65536 / 2 + 65536 / 16);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_auto_follows),
		cmocka_unit_test(test_auto_mix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
