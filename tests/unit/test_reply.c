/*
 * test_reply.c - SMTP reply texts and SMFIS_* codes of milter/reply.c.
 *
 * reply.c is compiled into this test directly; smfi_setreply() is
 * replaced by a recorder, so no MTA and no libmilter are needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "../../milter/reply.c"

static char got_rcode[8], got_xcode[16], got_text[1024];
static int setreply_calls;

int
smfi_setreply(SMFICTX *ctx, char *rcode, char *xcode, char *message)
{
	(void)ctx;
	setreply_calls++;
	snprintf(got_rcode, sizeof(got_rcode), "%s", rcode);
	snprintf(got_xcode, sizeof(got_xcode), "%s", xcode ? xcode : "");
	snprintf(got_text, sizeof(got_text), "%s", message ? message : "");
	return MI_SUCCESS;
}

struct row {
	cm_reply_kind kind;
	const char *rcpt, *type, *reason;
	sfsistat stat;
	const char *rcode, *xcode, *text;
};

static const struct row rows[] = {
	{ CM_REPLY_RCPT_DENY, "<Bob@Example.NET>", "weekly-news", "withdrawn",
	  SMFIS_REJECT, "550", "5.7.1",
	  "<Bob@Example.NET>: no consent for newsletter \"weekly-news\" (withdrawn)" },
	{ CM_REPLY_RCPT_DENY, "bob@example.net", "offers", "unconfirmed",
	  SMFIS_REJECT, "550", "5.7.1",
	  "<bob@example.net>: no consent for newsletter \"offers\" (unconfirmed)" },
	{ CM_REPLY_RCPT_DENY, "<a%b@x.example>", "t", "no-consent",
	  SMFIS_REJECT, "550", "5.7.1",
	  "<a%%b@x.example>: no consent for newsletter \"t\" (no-consent)" },
	{ CM_REPLY_RCPT_DENY, "<a\r\nb@x>", "t", "expired",
	  SMFIS_REJECT, "550", "5.7.1",
	  "<a??b@x>: no consent for newsletter \"t\" (expired)" },
	{ CM_REPLY_RCPT_DENY, NULL, NULL, NULL, SMFIS_REJECT, "550", "5.7.1",
	  "<>: no consent for newsletter \"\" ()" },
	{ CM_REPLY_RCPT_TEMPFAIL, "<c@x>", NULL, NULL, SMFIS_TEMPFAIL, "451",
	  "4.3.0", "<c@x>: consent check failed, try again later" },
	{ CM_REPLY_RCPT_ERROR_REJECT, "<c@x>", NULL, NULL, SMFIS_REJECT, "550",
	  "5.7.1", "<c@x>: consent check failed" },
	{ CM_REPLY_RCPT_TOO_MANY, "<c@x>", NULL, NULL, SMFIS_TEMPFAIL, "452",
	  "4.5.3", "Too many recipients for the consent check" },
	{ CM_REPLY_MSG_TEMPFAIL, NULL, NULL, NULL, SMFIS_TEMPFAIL, "451",
	  "4.3.0", "Consent check failed, try again later" },
	/* a kind the table lacks fails closed: a tempfail, never CONTINUE */
	{ (cm_reply_kind)9999, NULL, NULL, NULL, SMFIS_TEMPFAIL, "451",
	  "4.3.0", "Consent check failed, try again later" },
	{ CM_REPLY_MSG_ERROR_REJECT, NULL, NULL, NULL, SMFIS_REJECT, "550",
	  "5.7.1", "Consent check failed" },
	{ CM_REPLY_MSG_NO_RCPT, NULL, "offers", NULL, SMFIS_REJECT, "550",
	  "5.7.1", "No recipient has consent for newsletter \"offers\"" },
	{ CM_REPLY_MSG_UNCLASSIFIED, NULL, NULL, NULL, SMFIS_REJECT, "550",
	  "5.7.1", "Bulk mail that matches no known newsletter type" },
	{ CM_REPLY_MSG_TOO_LARGE, NULL, NULL, NULL, SMFIS_TEMPFAIL, "451",
	  "4.3.0",
	  "Headers too large for the consent check, try again later" },
	{ CM_REPLY_MAILTO_BAD, "<unsubscribe+x@example.com>", NULL, NULL,
	  SMFIS_REJECT, "550", "5.1.1",
	  "<unsubscribe+x@example.com>: not a valid unsubscribe address" },
	{ CM_REPLY_MAILTO_TEMPFAIL, "<u+x@e>", NULL, NULL, SMFIS_TEMPFAIL,
	  "451", "4.3.0", "<u+x@e>: unsubscribe address cannot be checked "
	  "now, try again later" },
	{ CM_REPLY_MSG_UNSUB_TEMPFAIL, NULL, NULL, NULL, SMFIS_TEMPFAIL, "451",
	  "4.3.0", "Unsubscribe not recorded yet, try again later" },
	{ CM_REPLY_MSG_UNSUB_BAD, NULL, NULL, NULL, SMFIS_REJECT, "550",
	  "5.1.1", "Not a valid unsubscribe address, nothing recorded" },
	{ CM_REPLY_DISCARD, NULL, NULL, NULL, SMFIS_DISCARD, NULL, NULL, "" },
	{ CM_REPLY_CONTINUE, NULL, NULL, NULL, SMFIS_CONTINUE, NULL, NULL, "" },
	{ CM_REPLY_ACCEPT, NULL, NULL, NULL, SMFIS_ACCEPT, NULL, NULL, "" },
};

static void
test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		cm_reply out;
		sfsistat st;

		cm_reply_build(r->kind, r->rcpt, r->type, r->reason, &out);
		assert_int_equal(out.stat, r->stat);
		assert_string_equal(out.text, r->text);
		if (r->rcode == NULL) {
			assert_null(out.rcode);
			continue;
		}
		assert_string_equal(out.rcode, r->rcode);
		assert_string_equal(out.xcode, r->xcode);
		/* libmilter drops a 4xx code with REJECT or 5xx with TEMPFAIL */
		assert_true((r->rcode[0] == '5') == (out.stat == SMFIS_REJECT));
		setreply_calls = 0;
		st = cm_reply_send(NULL, r->kind, r->rcpt, r->type, r->reason);
		assert_int_equal(st, r->stat);
		assert_int_equal(setreply_calls, 1);
		assert_string_equal(got_rcode, r->rcode);
		assert_string_equal(got_xcode, r->xcode);
		assert_string_equal(got_text, r->text);
	}
}

/* Huge or hostile recipients: bounded, no CR/LF, every '%' doubled, and
 * the sentence after the recipient is intact. */
static void
test_limits(void **state)
{
	static char big[5000];
	cm_reply out;
	size_t i, len;
	const char *tail = ": no consent for newsletter \"t\" (no-consent)";

	(void)state;
	for (i = 0; i < sizeof(big) - 1; i++)
		big[i] = i % 7 == 0 ? '%' : i % 11 == 0 ? '\n' : 'a';
	big[0] = '<';
	big[sizeof(big) - 1] = '\0';
	cm_reply_build(CM_REPLY_RCPT_DENY, big, "t", "no-consent", &out);
	len = strlen(out.text);
	assert_true(len <= CM_REPLY_TEXT_MAX);
	assert_true(len < 980 - 10);
	assert_null(strpbrk(out.text, "\r\n"));
	assert_int_equal(out.text[0], '<');
	assert_true(len > strlen(tail));
	assert_string_equal(out.text + len - strlen(tail), tail);
	assert_int_equal(out.text[len - strlen(tail) - 1], '>');
	/* every '%' is part of a "%%" pair */
	for (i = 0; i < len; i++) {
		if (out.text[i] == '%') {
			assert_int_equal(out.text[i + 1], '%');
			i++;
		}
	}
	/* a long type id is capped too */
	cm_reply_build(CM_REPLY_MSG_NO_RCPT, NULL, big, NULL, &out);
	assert_true(strlen(out.text) <= CM_REPLY_TEXT_MAX);
	assert_null(strpbrk(out.text, "\r\n"));
}

/* The configured refusal text: placeholders, ASCII only, '%' doubled. */
static void
test_template(void **state)
{
	cm_tmpl *t = NULL;
	const char *vals[CM_TMPL_NVARS] = { NULL };
	cm_reply out;

	(void)state;
	assert_int_equal(cm_tmpl_compile("<%{rcpt}> %{name}/%{type}: "
	    "%{reason} 100%%", &t, NULL), CM_OK);
	vals[CM_TMPL_RCPT] = "J\xc3\xb6rg%x@example.net";
	vals[CM_TMPL_TYPE] = "offers";
	vals[CM_TMPL_NAME] = "Special\r\noffers";
	vals[CM_TMPL_REASON] = "unconfirmed";
	cm_reply_build_deny(t, vals, &out);
	assert_int_equal(out.stat, SMFIS_REJECT);
	assert_string_equal(out.rcode, "550");
	assert_string_equal(out.xcode, "5.7.1");
	assert_null(strpbrk(out.text, "\r\n"));
	assert_string_equal(out.text,
	    "<J?rg%%x@example.net> Special  offers/offers: unconfirmed 100%%");
	setreply_calls = 0;
	assert_int_equal(cm_reply_send_deny(NULL, t, vals), SMFIS_REJECT);
	assert_int_equal(setreply_calls, 1);
	assert_string_equal(got_text, out.text);
	cm_tmpl_free(t);

	/* no template: the built-in text, recipient in brackets */
	vals[CM_TMPL_RCPT] = "bob@example.net";
	vals[CM_TMPL_TYPE] = "weekly-news";
	vals[CM_TMPL_REASON] = "withdrawn";
	cm_reply_build_deny(NULL, vals, &out);
	assert_string_equal(out.text, "<bob@example.net>: no consent for "
	    "newsletter \"weekly-news\" (withdrawn)");
}

static void
test_on_error(void **state)
{
	(void)state;
	assert_int_equal(cm_reply_for_error(CM_ONERR_TEMPFAIL, true),
	    CM_REPLY_RCPT_TEMPFAIL);
	assert_int_equal(cm_reply_for_error(CM_ONERR_TEMPFAIL, false),
	    CM_REPLY_MSG_TEMPFAIL);
	assert_int_equal(cm_reply_for_error(CM_ONERR_REJECT, true),
	    CM_REPLY_RCPT_ERROR_REJECT);
	assert_int_equal(cm_reply_for_error(CM_ONERR_REJECT, false),
	    CM_REPLY_MSG_ERROR_REJECT);
	assert_int_equal(cm_reply_for_error(CM_ONERR_ACCEPT, true),
	    CM_REPLY_CONTINUE);
	assert_int_equal(cm_reply_for_error(CM_ONERR_ACCEPT, false),
	    CM_REPLY_CONTINUE);
	assert_string_equal(cm_reply_on_error_name(CM_ONERR_TEMPFAIL),
	    "tempfail");
	assert_string_equal(cm_reply_on_error_name(CM_ONERR_REJECT), "reject");
	assert_string_equal(cm_reply_on_error_name(CM_ONERR_ACCEPT), "accept");
}

/*
 * The error policy: mode x on_error x stage -> reply kind, SMFIS_* code
 * and log word, for an internal error (CM_FAULT_ERROR); then the caps
 * and a refused MTA request, which on_error does not soften.
 */
struct pol_row {
	cm_mode mode;
	cm_on_error oe;
	cm_stage stage;
	cm_fault fault;
	cm_reply_kind kind;
	sfsistat stat;
	const char *word;
};

#define EN CM_MODE_ENFORCE
#define MO CM_MODE_MONITOR
#define TF CM_ONERR_TEMPFAIL
#define RJ CM_ONERR_REJECT
#define AC CM_ONERR_ACCEPT
#define ERR CM_FAULT_ERROR

static const struct pol_row pol_rows[] = {
	/* enforce, internal error */
	{ EN, TF, CM_STAGE_MAIL, ERR, CM_REPLY_MSG_TEMPFAIL, SMFIS_TEMPFAIL,
	  "tempfail" },
	{ EN, RJ, CM_STAGE_MAIL, ERR, CM_REPLY_MSG_ERROR_REJECT, SMFIS_REJECT,
	  "reject" },
	{ EN, AC, CM_STAGE_MAIL, ERR, CM_REPLY_CONTINUE, SMFIS_CONTINUE,
	  "accept" },
	{ EN, TF, CM_STAGE_RCPT, ERR, CM_REPLY_RCPT_TEMPFAIL, SMFIS_TEMPFAIL,
	  "tempfail" },
	{ EN, RJ, CM_STAGE_RCPT, ERR, CM_REPLY_RCPT_ERROR_REJECT,
	  SMFIS_REJECT, "reject" },
	{ EN, AC, CM_STAGE_RCPT, ERR, CM_REPLY_CONTINUE, SMFIS_CONTINUE,
	  "accept" },
	{ EN, TF, CM_STAGE_EOH, ERR, CM_REPLY_MSG_TEMPFAIL, SMFIS_TEMPFAIL,
	  "tempfail" },
	{ EN, RJ, CM_STAGE_EOH, ERR, CM_REPLY_MSG_ERROR_REJECT, SMFIS_REJECT,
	  "reject" },
	{ EN, AC, CM_STAGE_EOH, ERR, CM_REPLY_ACCEPT, SMFIS_ACCEPT, "accept" },
	{ EN, TF, CM_STAGE_EOM, ERR, CM_REPLY_MSG_TEMPFAIL, SMFIS_TEMPFAIL,
	  "tempfail" },
	{ EN, RJ, CM_STAGE_EOM, ERR, CM_REPLY_MSG_ERROR_REJECT, SMFIS_REJECT,
	  "reject" },
	{ EN, AC, CM_STAGE_EOM, ERR, CM_REPLY_CONTINUE, SMFIS_CONTINUE,
	  "accept" },
	/* non-SMTP RCPT: never refused there, end of data decides */
	{ EN, TF, CM_STAGE_RCPT_LATE, ERR, CM_REPLY_CONTINUE, SMFIS_CONTINUE,
	  "noted" },
	{ EN, RJ, CM_STAGE_RCPT_LATE, ERR, CM_REPLY_CONTINUE, SMFIS_CONTINUE,
	  "noted" },
	{ EN, AC, CM_STAGE_RCPT_LATE, ERR, CM_REPLY_CONTINUE, SMFIS_CONTINUE,
	  "noted" },
	/* the caps and the MTA: tempfail whatever on_error says */
	{ EN, AC, CM_STAGE_RCPT, CM_FAULT_TOO_MANY_RCPTS,
	  CM_REPLY_RCPT_TOO_MANY, SMFIS_TEMPFAIL, "tempfail" },
	{ EN, RJ, CM_STAGE_RCPT, CM_FAULT_TOO_MANY_RCPTS,
	  CM_REPLY_RCPT_TOO_MANY, SMFIS_TEMPFAIL, "tempfail" },
	{ EN, AC, CM_STAGE_RCPT_LATE, CM_FAULT_TOO_MANY_RCPTS,
	  CM_REPLY_CONTINUE, SMFIS_CONTINUE, "noted" },
	{ EN, AC, CM_STAGE_EOH, CM_FAULT_TOO_MANY_RCPTS,
	  CM_REPLY_MSG_TEMPFAIL, SMFIS_TEMPFAIL, "tempfail" },
	{ EN, RJ, CM_STAGE_EOM, CM_FAULT_TOO_MANY_RCPTS,
	  CM_REPLY_MSG_TEMPFAIL, SMFIS_TEMPFAIL, "tempfail" },
	{ EN, AC, CM_STAGE_EOH, CM_FAULT_TOO_MANY_HDRS,
	  CM_REPLY_MSG_TOO_LARGE, SMFIS_TEMPFAIL, "tempfail" },
	{ EN, RJ, CM_STAGE_EOH, CM_FAULT_TOO_MANY_HDRS,
	  CM_REPLY_MSG_TOO_LARGE, SMFIS_TEMPFAIL, "tempfail" },
	{ EN, AC, CM_STAGE_EOM, CM_FAULT_MTA, CM_REPLY_MSG_TEMPFAIL,
	  SMFIS_TEMPFAIL, "tempfail" },
	{ EN, RJ, CM_STAGE_RCPT, CM_FAULT_MTA, CM_REPLY_RCPT_TEMPFAIL,
	  SMFIS_TEMPFAIL, "tempfail" },
	/* an unknown on_error counts as tempfail */
	{ EN, (cm_on_error)99, CM_STAGE_RCPT, ERR, CM_REPLY_RCPT_TEMPFAIL,
	  SMFIS_TEMPFAIL, "tempfail" },
};

static void
test_policy(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pol_rows) / sizeof(pol_rows[0]); i++) {
		const struct pol_row *r = &pol_rows[i];
		cm_action a = cm_reply_action(r->mode, r->oe, r->stage,
		    r->fault);
		sfsistat st;

		if (a.kind != r->kind || strcmp(a.word, r->word) != 0)
			fail_msg("row %zu: kind %d word %s, want %d %s", i,
			    (int)a.kind, a.word, (int)r->kind, r->word);
		assert_int_equal(cm_reply_passes(&a),
		    r->stat == SMFIS_CONTINUE || r->stat == SMFIS_ACCEPT);
		/* applied as every call site applies it */
		setreply_calls = 0;
		st = cm_reply_send(NULL, a.kind, "<c@x>", NULL, NULL);
		assert_int_equal(st, r->stat);
		assert_int_equal(setreply_calls, cm_reply_passes(&a) ? 0 : 1);
	}
	/* monitor: every on_error, stage and fault passes, word "none";
	 * end of headers accepts (the message is done), the rest goes on */
	for (int oe = CM_ONERR_TEMPFAIL; oe <= CM_ONERR_REJECT; oe++)
		for (int st = CM_STAGE_MAIL; st <= CM_STAGE_EOM; st++)
			for (int f = CM_FAULT_ERROR; f <= CM_FAULT_MTA; f++) {
				cm_action a = cm_reply_action(MO,
				    (cm_on_error)oe, (cm_stage)st,
				    (cm_fault)f);

				assert_int_equal(a.kind, st == CM_STAGE_EOH ?
				    CM_REPLY_ACCEPT : CM_REPLY_CONTINUE);
				assert_string_equal(a.word, "none");
			}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_template),
		cmocka_unit_test(test_on_error),
		cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
