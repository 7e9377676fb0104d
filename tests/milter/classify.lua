-- Classification fails closed (issue 12): several types, a header type
-- after an envelope type, the null sender, List-Id with a comment.
dofile(helpers)

-- 1. two X-Newsletter-Type headers naming two known types: both checked.
-- ivan has offers but withdrew customer-updates; bob has both (updates
-- is no-objection).
local conn = open()
mail(conn, "<shop@example.com>", "C1")
expect(conn, SMFIR_CONTINUE, "MAIL C1")
rcpt(conn, "<ivan@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT ivan (kept)")
rcpt(conn, "<bob@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT bob (kept)")
data(conn)
expect(conn, SMFIR_CONTINUE, "DATA C1")
hdr(conn, "X-Newsletter-Type", "offers")
hdr(conn, "X-Newsletter-Type", "customer-news")
eoh(conn)
expect(conn, SMFIR_CONTINUE, "EOH C1: typed")
body(conn)
eom(conn)
expect(conn, SMFIR_CONTINUE, "EOM C1")
must(deleted(conn, "<ivan@example.net>"), "C1: ivan removed (no consent for the second type)")
must(not deleted(conn, "<bob@example.net>"), "C1: bob kept (consent for both)")
must(mt.eom_check(conn, MT_HDRADD, "X-Consent-Milter",
    "type=offers,customer-updates; removed=1; kept=1"), "C1: trace header names both types")

-- 2. envelope type A, header type B: RCPT decides A, EOM decides B for
-- the recipients accepted at RCPT.  alice has weekly-news only, bob has
-- both, carol has neither.
mail(conn, "<weekly@news.example.com>", "C2")
expect(conn, SMFIR_CONTINUE, "MAIL C2 (weekly-news)")
rcpt(conn, "<alice@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT alice (weekly-news granted)")
rcpt(conn, "<bob@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT bob (weekly-news granted)")
rcpt(conn, "<carol@example.net>")
expect(conn, SMFIR_REPLYCODE, "RCPT carol (no weekly-news)")
data(conn)
expect(conn, SMFIR_CONTINUE, "DATA C2: the headers may add a type")
hdr(conn, "X-Newsletter-Type", "offers")
eoh(conn)
expect(conn, SMFIR_CONTINUE, "EOH C2: offers added")
body(conn)
eom(conn)
expect(conn, SMFIR_CONTINUE, "EOM C2")
must(deleted(conn, "<alice@example.net>"), "C2: alice removed (no offers)")
must(not deleted(conn, "<bob@example.net>"), "C2: bob kept")
must(not deleted(conn, "<carol@example.net>"), "C2: carol was refused at RCPT, not removed")
must(mt.eom_check(conn, MT_HDRADD, "X-Consent-Milter",
    "type=weekly-news,offers; removed=1; kept=1"), "C2: trace header names both types")

-- 3. a null sender with a newsletter header is classified like any mail
mail(conn, "<>", "C3")
expect(conn, SMFIR_CONTINUE, "MAIL <> (header rules exist)")
rcpt(conn, "<carol@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT carol")
rcpt(conn, "<bob@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT bob")
data(conn)
expect(conn, SMFIR_CONTINUE, "DATA C3")
hdr(conn, "X-Newsletter-Type", "offers")
eoh(conn)
expect(conn, SMFIR_CONTINUE, "EOH C3: typed")
body(conn)
eom(conn)
expect(conn, SMFIR_CONTINUE, "EOM C3")
must(deleted(conn, "<carol@example.net>"), "C3: carol removed (unconfirmed)")
must(not deleted(conn, "<bob@example.net>"), "C3: bob kept")

-- 4. List-Id with a trailing comment holding angle brackets, and a
-- trailing dot
for i, v in ipairs({ "<offers.example.com> (archive <https://x>)",
    "Offers <offers.example.com.>" }) do
	mail(conn, "<shop@example.com>", "C4" .. i)
	expect(conn, SMFIR_CONTINUE, "MAIL C4")
	rcpt(conn, "<carol@example.net>")
	expect(conn, SMFIR_CONTINUE, "RCPT carol C4")
	rcpt(conn, "<bob@example.net>")
	expect(conn, SMFIR_CONTINUE, "RCPT bob C4")
	data(conn)
	expect(conn, SMFIR_CONTINUE, "DATA C4")
	hdr(conn, "List-Id", v)
	eoh(conn)
	expect(conn, SMFIR_CONTINUE, "EOH C4: typed by List-Id " .. v)
	body(conn)
	eom(conn)
	expect(conn, SMFIR_CONTINUE, "EOM C4")
	must(deleted(conn, "<carol@example.net>"), "C4: carol removed (" .. v .. ")")
	must(not deleted(conn, "<bob@example.net>"), "C4: bob kept")
end
mt.disconnect(conn)
