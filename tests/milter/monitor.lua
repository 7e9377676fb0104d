-- monitor mode: everything decided and logged, nothing refused or
-- removed, a trace header added.
dofile(helpers)
local conn = open()

-- envelope type: denied recipients are not refused
mail(conn, "<weekly@news.example.com>", "M1")
expect(conn, SMFIR_CONTINUE, "MAIL")
rcpt(conn, "<alice@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT alice")
rcpt(conn, "<carol@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT carol (denied, monitor)")
rcpt(conn, "<broken@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT broken (error, monitor)")
data(conn)
expect(conn, SMFIR_CONTINUE, "DATA (monitor keeps going to EOM)")
hdr(conn, "Subject", "Weekly")
eoh(conn)
expect(conn, SMFIR_CONTINUE, "EOH")
eom(conn)
expect(conn, SMFIR_CONTINUE, "EOM")
must(not deleted(conn, "<carol@example.net>"), "nothing removed")
must(mt.eom_check(conn, MT_HDRADD, "X-Consent-Milter",
    "type=weekly-news; removed=0; kept=3; mode=monitor; denied=1"),
    "monitor trace header (envelope)")

-- header type: nobody removed, nothing refused even if all are denied
mail(conn, "<shop@example.com>", "M2")
expect(conn, SMFIR_CONTINUE, "MAIL 2")
rcpt(conn, "<Carol@Example.NET>")
expect(conn, SMFIR_CONTINUE, "RCPT carol")
rcpt(conn, "<zoe@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT zoe")
data(conn)
expect(conn, SMFIR_CONTINUE, "DATA 2")
hdr(conn, "X-Newsletter-Type", "offers")
eoh(conn)
expect(conn, SMFIR_CONTINUE, "EOH 2")
eom(conn)
expect(conn, SMFIR_CONTINUE, "EOM 2: not refused")
must(not deleted(conn, "<Carol@Example.NET>"), "carol not removed")
must(not deleted(conn, "<zoe@example.net>"), "zoe not removed")
must(mt.eom_check(conn, MT_HDRADD, "X-Consent-Milter",
    "type=offers; removed=0; kept=2; mode=monitor; denied=2"),
    "monitor trace header (headers)")

-- unclassified bulk is only logged
mail(conn, "<promo@example.com>", "M3")
expect(conn, SMFIR_CONTINUE, "MAIL 3")
rcpt(conn, "<carol@example.net>")
expect(conn, SMFIR_CONTINUE, "RCPT 3")
data(conn)
expect(conn, SMFIR_CONTINUE, "DATA 3")
hdr(conn, "Precedence", "bulk")
eoh(conn)
expect(conn, SMFIR_ACCEPT, "EOH 3: accepted in monitor mode")
mt.disconnect(conn)
