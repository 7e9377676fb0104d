-- A policy with envelope rules only and no authenticated scope: header
-- steps negotiated away, out-of-scope connections accepted at connect,
-- non-newsletters accepted at MAIL.
dofile(helpers)

local conn = open("192.0.2.7")
expect(conn, SMFIR_ACCEPT, "connect from outside, no auth scope: accept")
mt.disconnect(conn)

conn = open("192.0.2.7", {"{daemon_name}", "submission-campaign"})
expect(conn, SMFIR_CONTINUE, "connect via the campaign service")
mt.disconnect(conn)

conn = open()
expect(conn, SMFIR_CONTINUE, "connect from 127.0.0.1")
must(mt.test_option(conn, SMFIP_NOHDRS), "headers negotiated away")
must(mt.test_option(conn, SMFIP_NOEOH), "EOH negotiated away")
must(mt.test_option(conn, SMFIP_NOBODY), "body negotiated away")
must(mt.test_option(conn, SMFIP_NOHELO), "HELO negotiated away")
must(mt.test_option(conn, SMFIP_NR_MAIL), "MAIL negotiated without a reply")
mail(conn, "<someone@example.com>", "S1")
expect_mail(conn, SMFIR_ACCEPT, "MAIL: no type, no header rules -> accept")
mail(conn, "<weekly@news.example.com>", "S2")
expect(conn, SMFIR_CONTINUE, "MAIL weekly")
rcpt(conn, "<carol@example.net>")
expect(conn, SMFIR_REPLYCODE, "RCPT carol")
rcpt(conn, "<alice@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT alice")
data(conn)
expect(conn, SMFIR_ACCEPT, "DATA")
mail(conn, "<>", "S3")
expect_mail(conn, SMFIR_ACCEPT, "MAIL <>")
mt.disconnect(conn)
