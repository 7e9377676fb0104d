-- Folded classification headers: LF (Postfix) and CRLF (Sendmail) folds.
dofile(helpers)

local folds = { { "F1", "special\n offers" }, { "F2", "special\r\n offers" } }
local conn = open()
must(not mt.test_option(conn, SMFIP_NOHDRS), "headers negotiated")
for _, f in ipairs(folds) do
	mail(conn, "<shop@example.com>", f[1])
	expect(conn, SMFIR_CONTINUE, "MAIL " .. f[1])
	rcpt(conn, "<bob@example.net>")
	expect(conn, SMFIR_CONTINUE, "RCPT bob " .. f[1])
	rcpt(conn, "<zoe@example.net>")
	expect(conn, SMFIR_CONTINUE, "RCPT zoe " .. f[1])
	data(conn)
	expect(conn, SMFIR_CONTINUE, "DATA " .. f[1])
	hdr(conn, "X-Newsletter-Type", f[2])
	eoh(conn)
	expect(conn, SMFIR_CONTINUE, "EOH folded header is typed " .. f[1])
	body(conn)
	eom(conn)
	expect(conn, SMFIR_CONTINUE, "EOM " .. f[1])
	must(deleted(conn, "<zoe@example.net>"), "zoe removed " .. f[1])
	must(not deleted(conn, "<bob@example.net>"), "bob kept " .. f[1])
end
mt.disconnect(conn)
