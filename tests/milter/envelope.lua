-- Type known at MAIL FROM: per-recipient refusal at RCPT, allowed
-- recipients continue; three messages and an abort on one connection.
dofile(helpers)

local conn = open()

-- message 1: envelope type weekly-news
mail(conn, "<weekly@news.example.com>", "")
expect(conn, SMFIR_CONTINUE, "MAIL weekly")
rcpt(conn, "<Alice@Example.NET>")
expect(conn, SMFIR_CONTINUE, "RCPT alice (granted)")
rcpt(conn, "<carol@example.net>")
expect(conn, SMFIR_REPLYCODE, "RCPT carol (no consent)")
rcpt(conn, "<alice+news@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT alice+news (base address granted)")
rcpt(conn, "<dave@example.net>")
expect(conn, SMFIR_REPLYCODE, "RCPT dave (withdrawn)")
rcpt(conn, "<frank@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT frank after a refused one")
data(conn)
-- The policy has header rules: a header could add a type (issue 12), so
-- the headers are read; none adds one: accepted at end of headers.
expect(conn, SMFIR_CONTINUE, "DATA: headers may add a type")
hdr(conn, "Subject", "Weekly news")
eoh(conn)
expect(conn, SMFIR_ACCEPT, "EOH: no header adds a type, nothing left to decide")

-- message 2: no newsletter (the policy has header rules, so it waits
-- for the headers, then accepts)
mail(conn, "<someone@example.com>", "Q2")
expect(conn, SMFIR_CONTINUE, "MAIL personal")
rcpt(conn, "<carol@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT carol, personal mail")
data(conn)
expect(conn, SMFIR_CONTINUE, "DATA personal")
hdr(conn, "Subject", "Lunch?")
eoh(conn)
expect(conn, SMFIR_ACCEPT, "EOH: no type, not bulk")

-- message 3: aborted in the middle
mail(conn, "<weekly@news.example.com>", "Q3")
expect(conn, SMFIR_CONTINUE, "MAIL 3")
rcpt(conn, "<carol@example.net>")
expect(conn, SMFIR_REPLYCODE, "RCPT carol before abort")
ok(mt.abort(conn), "abort")

-- message 4: after the abort, by SASL login, digest validity
mail(conn, "<bounces-123@mailer.example.org>", "Q4", "campaign-weekly")
expect(conn, SMFIR_CONTINUE, "MAIL by SASL login")
rcpt(conn, "<alice@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT alice (SASL-typed)")
rcpt(conn, "<erin@example.net>")
expect(conn, SMFIR_REPLYCODE, "RCPT erin (objection)")
data(conn)
expect(conn, SMFIR_CONTINUE, "DATA 4")
eoh(conn)
expect(conn, SMFIR_ACCEPT, "EOH 4")

-- message 5: digest, consent valid 30 days
mail(conn, "<news@digest.example.com>", "Q5")
expect(conn, SMFIR_CONTINUE, "MAIL digest")
rcpt(conn, "<gina@example.net>")
expect(conn, SMFIR_REPLYCODE, "RCPT gina (expired)")
rcpt(conn, "<hank@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT hank (recent)")
rcpt(conn, "<x@suppressed.example>")
expect(conn, SMFIR_REPLYCODE, "RCPT x@suppressed.example (domain)")
data(conn)
expect(conn, SMFIR_CONTINUE, "DATA 5")
eoh(conn)
expect(conn, SMFIR_ACCEPT, "EOH 5")

mt.disconnect(conn)

-- null sender: with header rules in the policy its headers are
-- classified (issue 12); a real bounce carries no newsletter header
conn = open()
mail(conn, "<>", "")
expect(conn, SMFIR_CONTINUE, "MAIL <> (header rules exist)")
rcpt(conn, "<carol@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT carol of a bounce")
data(conn)
expect(conn, SMFIR_CONTINUE, "DATA of a bounce")
hdr(conn, "Content-Type", "multipart/report; report-type=delivery-status")
eoh(conn)
expect(conn, SMFIR_ACCEPT, "EOH: a bounce, no newsletter")
mt.disconnect(conn)

-- out of scope: foreign client, not authenticated -> accepted at MAIL
conn = open("192.0.2.7")
expect(conn, SMFIR_CONTINUE, "connect from outside (may authenticate)")
mail(conn, "<weekly@news.example.com>", "")
expect_mail(conn, SMFIR_ACCEPT, "MAIL out of scope")
mt.disconnect(conn)

-- foreign client that authenticated: in scope
conn = open("192.0.2.7")
mail(conn, "<weekly@news.example.com>", "", "someone")
expect(conn, SMFIR_CONTINUE, "MAIL authenticated")
rcpt(conn, "<carol@example.net>")
expect(conn, SMFIR_REPLYCODE, "RCPT carol (authenticated client)")
mt.disconnect(conn)

-- foreign client through the campaign service ({daemon_name})
conn = open("192.0.2.7", {"{daemon_name}", "submission-campaign"})
mail(conn, "<weekly@news.example.com>", "")
expect(conn, SMFIR_CONTINUE, "MAIL via submission-campaign")
rcpt(conn, "<carol@example.net>")
expect(conn, SMFIR_REPLYCODE, "RCPT carol (campaign service)")
mt.disconnect(conn)
