-- The index replaced or removed under the milter (replace.sh): once the
-- milter noticed, alice, allowed by the old index, gets a reply of its
-- own at RCPT (a tempfail while there is no index, a refusal after her
-- withdrawal in the new one), never the old continue.  The exact texts
-- are checked with mproto.py (miltertest shows only the reply code).
dofile(helpers)
local conn = open()

mail(conn, "<weekly@news.example.com>", "R1")
expect(conn, SMFIR_CONTINUE, "MAIL")
rcpt(conn, "<alice@example.net>")
expect(conn, SMFIR_REPLYCODE, "RCPT alice: not the old allow")
rcpt(conn, "<never@example.net>")
expect(conn, SMFIR_REPLYCODE, "RCPT never: no consent anywhere")
mt.disconnect(conn)
