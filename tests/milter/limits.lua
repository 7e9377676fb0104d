-- Per-message memory caps (milter/filter.h): beyond them the recipient
-- or the message is tempfailed, never passed unchecked.
dofile(helpers)
local conn = open()

-- header-typed message: recipients beyond 10000 get 452 4.5.3
mail(conn, "<shop@example.com>", "L1")
expect(conn, SMFIR_CONTINUE, "MAIL")
for i = 1, 10000 do
	rcpt(conn, string.format("<r%05d@example.net>", i))
	expect(conn, SMFIR_CONTINUE, "RCPT " .. i)
end
rcpt(conn, "<one-too-many@example.net>")
expect(conn, SMFIR_REPLYCODE, "RCPT 10001: tempfailed")
ok(mt.abort(conn), "abort")

-- more classification headers than kept -> tempfail at EOH
mail(conn, "<shop@example.com>", "L2")
expect(conn, SMFIR_CONTINUE, "MAIL 2")
rcpt(conn, "<bob@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT 2")
data(conn)
expect(conn, SMFIR_CONTINUE, "DATA 2")
for i = 1, 70 do
	hdr(conn, "X-Newsletter-Type", "other-" .. i)
end
hdr(conn, "X-Newsletter-Type", "offers")
eoh(conn)
expect(conn, SMFIR_REPLYCODE, "EOH: too many headers to check")

-- the connection is still usable
mail(conn, "<weekly@news.example.com>", "L3")
expect(conn, SMFIR_CONTINUE, "MAIL 3")
rcpt(conn, "<alice@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT 3")
mt.disconnect(conn)
