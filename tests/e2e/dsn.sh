#!/usr/bin/env bash
# End to end through a real Postfix (issue 5, SPEC §5): a header-typed
# newsletter with removed recipients produces exactly one DSN at the sink
# (checked field by field with Python's email package); none for
# recipients with NOTIFY=NEVER, none for the null sender, none for
# refusals at RCPT; every decision is in the decision log with queue id,
# Message-ID, campaign and action, also for newsletters typed by their
# envelope (several in one session), whose headers the milter reads only
# for the log.
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init

CM=$BUILD/consent-milter
[ -x "$CM" ] || e2e_fail "$CM not built"
command -v pkg-config >/dev/null || e2e_skip "pkg-config missing"

# The consent index, seeded with the protocol tests' seed tool.
e2e_seed_tool
DB=$CM_TMP/db
mkdir -p "$DB"
"$CM_TMP/seed" "$DB" <<'EOF' || e2e_fail "seeding the index"
grant alice@example.com offers
grant alice@example.com weekly-news
EOF

e2e_start_sink
MPORT=$(e2e_freeport)
e2e_pf_setup "inet:127.0.0.1:$MPORT"
LOGDIR=$CM_TMP/decisions
SPOOL=$CM_TMP/dsnspool
CONF=$CM_TMP/consent-milter.yaml
cat >"$CONF" <<EOF
$(e2e_cm_head "$MPORT" "$DB")
log:
  path: "$LOGDIR"
  hash_recipients: false           # this test reads the recipients
  campaign_header: X-Campaign-ID
dsn:
  target: "inet:$PF_PORT@127.0.0.1"
  spool: "$SPOOL"
  retry_delay: 1s
  max_delay: 2s
  reporting_mta: mx.e2e.test
$(e2e_cm_newsletters weekly@news.example.com)
EOF
e2e_start_milter "$MPORT" "$CM" -f -c "$CONF"
e2e_pf_start

# send FROM MAILPARAMS HEADERS RCPT[:RCPTPARAMS]...: one message with
# smtplib; prints the RCPT and DATA replies.
send() {
	"$PY" - "$PF_PORT" "$@" <<'PY'
import smtplib, sys, uuid
port, sender, mparams, hdrs = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
rcpts = sys.argv[5:]
mid = "<%s@e2e.test>" % uuid.uuid4().hex
msg = ("From: <%s>\r\nTo: list@example.com\r\nSubject: dsn test\r\nMessage-ID: %s\r\n%s"
       "\r\nbody\r\n" % (sender or "mailer-daemon@x", mid, hdrs.replace("|", "\r\n")))
s = smtplib.SMTP("127.0.0.1", port)
s.ehlo("client.e2e.test")
print("MID", mid)
s.mail(sender, mparams.split() if mparams else [])
for r in rcpts:
    addr, _, params = r.partition(":")
    code, text = s.rcpt(addr, params.split() if params else [])
    print("RCPT", addr, code)
code, text = s.data(msg.encode())
print("DATA", code)
s.quit()
PY
}

# ---------------------------------------- 1. header-typed, two removed
out=$(send news@offers.example.com "" "X-Newsletter-Type: offers|X-Campaign-ID: spring-42|" \
	alice@example.com bob@example.com "carol@example.com:NOTIFY=NEVER" \
	"dave@example.net:NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;dave+2Borig@example.net")
grep -q "^DATA 250" <<<"$out" || e2e_fail "header-typed message not accepted: $out"
mid=$(awk '/^MID/ {print $2}' <<<"$out")
# the newsletter to alice, and one DSN to the sender
e2e_wait_delivered 2
e2e_settle 2
e2e_assert_eq alice@example.com "$(e2e_q delivered "$SINK_DIR" "$mid")" "only the consented recipient got the newsletter"
dsns=$("$PY" - "$SINK_DIR" <<'PY'
import glob, json, os, sys
for j in sorted(glob.glob(os.path.join(sys.argv[1], "msgs", "*.json"))):
    m = json.load(open(j))
    if m.get("mail_from", m.get("sender", "x")) in ("", "<>"):
        print(os.path.join(sys.argv[1], "msgs", m["data"]),
              ",".join(r["rcpt"] if isinstance(r, dict) else r for r in m["rcpts"]))
PY
)
e2e_assert_eq 1 "$(grep -c . <<<"$dsns")" "exactly one DSN (from <>) at the sink"
dsnfile=${dsns%% *}
e2e_assert_match 'news@offers\.example\.com' "${dsns#* }" "the DSN goes to the envelope sender"
"$PY" "$SRCDIR/tests/cli/dsn_check.py" "$dsnfile" --sender news@offers.example.com --type offers \
	--host mx.e2e.test --orcpt dave@example.net=dave+orig@example.net \
	--header X-Newsletter-Type --header X-Campaign-ID --header Message-ID \
	bob@example.com:no-consent dave@example.net:no-consent ||
	e2e_fail "the DSN is not what RFC 3464 and the issue ask for"
grep -q 'carol@example.com' "$dsnfile" && e2e_fail "DSN names carol (NOTIFY=NEVER)"
grep -q "^Message-ID: $mid" "$dsnfile" || e2e_fail "the DSN lacks the original headers"
echo "ok - one DSN: multipart/report, delivery-status per recipient, original headers; NOTIFY=NEVER honoured"
[ -z "$(ls "$SPOOL")" ] || e2e_fail "spool not empty after delivery: $(ls "$SPOOL")"
echo "ok - DSN removed from the spool once accepted"

# ---------------------------------------- 2. no DSN for RCPT refusals or <>
n=$(e2e_sink_count)
out=$(send weekly@news.example.com "" "X-Campaign-ID: weekly-7|" alice@example.com bob@example.com)
grep -q "^RCPT bob@example.com 550" <<<"$out" || e2e_fail "bob not refused at RCPT: $out"
mid_env=$(awk '/^MID/ {print $2}' <<<"$out")
out=$(send "" "" "X-Newsletter-Type: offers|" alice@example.com erin@example.com)
grep -q "^DATA 250" <<<"$out" || e2e_fail "bounce-like message not accepted: $out"
# a null sender with a newsletter header is checked like any mail
# (issue 12): erin is removed, without a DSN (none to <>)
mid_null=$(awk '/^MID/ {print $2}' <<<"$out")
e2e_wait_delivered $((n + 2))
e2e_settle 2
e2e_assert_eq $((n + 2)) "$(e2e_sink_count)" "no DSN for a refusal at RCPT nor for the null sender"
e2e_assert_eq alice@example.com "$(e2e_q delivered "$SINK_DIR" "$mid_null")" \
	"null sender with X-Newsletter-Type: offers: the unconsented recipient removed"
echo "ok - no DSN for <> senders or RCPT refusals"

# ---------------------------------------- 2b. envelope-typed, one session
# Five newsletters typed by their envelope sender in one SMTP session
# (the milter accepts each at end of headers, reading them only for the
# log): every recipient's decision must be logged with its message's
# Message-ID and campaign.
n=$(e2e_sink_count)
"$PY" - "$PF_PORT" >"$CM_TMP/session.out" <<'PY' || e2e_fail "session of five messages"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
s.ehlo("client.e2e.test")
for i in range(5):
    mid = "<session-%d@e2e.test>" % i
    msg = ("From: <weekly@news.example.com>\r\nTo: list@example.com\r\n"
           "Subject: weekly %d\r\nMessage-ID: %s\r\nX-Campaign-ID: week-%d\r\n"
           "\r\nbody\r\n" % (i, mid, i))
    refused = s.sendmail("weekly@news.example.com",
                         ["alice@example.com", "bob@example.com", "zed@example.org"],
                         msg.encode())
    assert sorted(refused) == ["bob@example.com", "zed@example.org"], refused
    assert all(c == 550 for c, _ in refused.values()), refused
s.quit()
print("sent 5")
PY
e2e_wait_delivered $((n + 5))
echo "ok - five envelope-typed messages in one session, two refusals each"

# ---------------------------------------- 3. the decision log
e2e_stop_milter TERM	# flushes the log
"$PY" - "$LOGDIR" "$mid" "$mid_env" "$mid_null" <<'PY' || e2e_fail "decision log"
import glob, json, sys
recs = [json.loads(l) for f in sorted(glob.glob(sys.argv[1] + "/decisions-*.jsonl"))
        for l in open(f, encoding="utf-8")]
def one(**kw):
    m = [r for r in recs if all(r.get(k) == v for k, v in kw.items())]
    assert len(m) == 1, (kw, m, recs)
    return m[0]
mid = sys.argv[2]
for rcpt, verdict, reason, action in [
        ("alice@example.com", "allow", "none", "allowed"),
        ("bob@example.com", "deny", "no-consent", "removed"),
        ("carol@example.com", "deny", "no-consent", "removed"),
        ("dave@example.net", "deny", "no-consent", "removed")]:
    r = one(message_id=mid, rcpt=rcpt)
    assert (r["verdict"], r["reason"], r["action"]) == (verdict, reason, action), r
    assert r["type"] == "offers" and r["campaign"] == "spring-42", r
    assert r["sender"] == "news@offers.example.com" and r["queue_id"], r
# envelope-typed: refused at RCPT and allowed, with the Message-ID and
# campaign of their message (read from its headers), none lost
mid_env = sys.argv[3]
r = one(type="weekly-news", rcpt="bob@example.com", message_id=mid_env)
assert (r["verdict"], r["action"]) == ("deny", "refused") and r["queue_id"], r
assert r["campaign"] == "weekly-7", r
r = one(type="weekly-news", rcpt="alice@example.com", message_id=mid_env)
assert (r["verdict"], r["action"], r["campaign"]) == ("allow", "allowed", "weekly-7"), r
for i in range(5):
    for rcpt, action in (("alice@example.com", "allowed"), ("bob@example.com", "refused"),
                         ("zed@example.org", "refused")):
        r = one(message_id="<session-%d@e2e.test>" % i, rcpt=rcpt)
        assert (r["type"], r["campaign"], r["action"]) == ("weekly-news", "week-%d" % i, action), r
        assert r["queue_id"], r
r = one(message_id=sys.argv[4], rcpt="erin@example.com")
assert (r["type"], r["verdict"], r["action"]) == ("offers", "deny", "removed"), r
r = one(message_id=sys.argv[4], rcpt="alice@example.com")
assert (r["verdict"], r["action"]) == ("allow", "allowed"), r
assert len(recs) == 6 + 15 + 2, len(recs)
print("ok - decision log: %d records with queue id, Message-ID, campaign, action" % len(recs))
PY
