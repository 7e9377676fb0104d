#!/usr/bin/env bash
# consentctl erase reaches every copy of an address: its records and
# history and those of its sub-addresses (tombstones left, decisions stay
# deny), its lines in the decision log (in clear, VERP and hashed), and
# the spooled DSNs about it.  Afterwards data.mdb (as it is and as
# mdb_copy -c copies it), the log files and the spool hold none of its
# spellings, and everything else is intact.
. "$SRCDIR/tests/cli/ctl-lib.bash"
command -v mdb_copy >/dev/null || { echo "skip: mdb_copy (lmdb-utils) missing"; exit 77; }
LOG=$T/log SPOOL=$T/spool KEY=$T/declog.key
mkdir -p "$LOG" "$SPOOL"
sed -i -e "s#\"/var/lib/consent-milter/decisions\"#\"$LOG\"#" \
	-e "s#\"/var/spool/consent-milter/dsn\"#\"$SPOOL\"#" \
	-e "s#\"/var/lib/consent-milter/declog.key\"#\"$KEY\"#" "$CONF"
grep -q "$SPOOL" "$CONF" && grep -q "$LOG" "$CONF" || fail "could not point log and spool at $T"

step=records
c init; rc_is 0
c grant eve@example.com weekly-news --evidence "form=eve-signup-1"; rc_is 0
c grant Eve+Promo@Example.com offers --confirmed --evidence "form=eve-promo-2"; rc_is 0
c withdraw eve+x@example.com customer-updates --source "eve-x-unsub"; rc_is 0
c grant eve+x@example.com weekly-news --evidence "form=eve-x-3"; rc_is 0
c grant adam@example.com weekly-news --evidence "form=adam-signup-9"; rc_is 0
c grant eve@example.org weekly-news; rc_is 0
c history eve+promo@example.com; rc_is 0; out_has "form=eve-promo-2"

step=log
# Decision log lines as the milter writes them (core/declog.h): in clear
# (the default before hash_recipients: true), VERP senders, and hashed
# with the key as the milter hashes the normalized recipient.
head -c 32 /dev/urandom >"$KEY"
"$PY" - "$LOG" "$KEY" <<'PY'
import hmac, hashlib, json, sys
log, key = sys.argv[1], open(sys.argv[2], "rb").read()
def h(s):
    return "hmac-sha256:" + hmac.new(key, s.encode(), hashlib.sha256).hexdigest()
recs = [
 ("2026-11-20T10:00:00Z", "news@shop.example", "eve@example.com"),
 ("2026-11-20T10:00:01Z", "news@shop.example", "adam@example.com"),
 ("2026-11-20T10:00:02Z", "news@shop.example", "EVE+Promo@Example.COM"),
 ("2026-11-21T09:00:00Z", "bounces+eve=example.com@news.example", "x1@other.example"),
 ("2026-11-21T09:00:01Z", "news@shop.example", "eve@example.org"),
 ("2026-11-21T09:00:02Z", "news@shop.example", h("eve+promo@example.com")),
 ("2026-11-21T09:00:03Z", h("news@shop.example"), h("eve+x@example.com")),
 ("2026-11-21T09:00:04Z", h("news@shop.example"), h("eve@example.com")),
 ("2026-11-21T09:00:05Z", h("news@shop.example"), h("adam@example.com")),
]
for t, snd, rcpt in recs:
    o = {"time": t, "queue_id": "Q", "message_id": "<m@x>", "sender": snd,
         "type": "weekly-news", "campaign": "c", "rcpt": rcpt,
         "verdict": "deny", "reason": "no-consent", "action": "removed"}
    with open("%s/decisions-%s.jsonl" % (log, t[:10]), "a") as f:
        f.write(json.dumps(o, separators=(",", ":")) + "\n")
PY
chmod 0640 "$LOG"/*.jsonl
c report --rcpt eve@example.com --jsonl; rc_is 0
[ "$(grep -c . <<<"$out")" = 2 ] || fail "report finds the clear and the hashed line of eve@"

step=dsn
dsn() {	# dsn NAME RCPT: a spooled DSN (core/dsnq.h) about RCPT
	printf 'CM-DSN 1\nrcpt: news@shop.example\nsmtputf8: 0\ncreated: 1795168800000000\n\n%s' \
		$'From: MAILER-DAEMON@mx.example\r\nTo: <news@shop.example>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n--b\r\n\r\nRemoved: <'"$2"$'>\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; '"$2"$'\r\nAction: failed\r\nStatus: 5.7.1\r\n--b--\r\n' \
		>"$SPOOL/$1"
}
dsn 20261120T100000.000000-aaaa-1.dsn eve+promo@example.com
dsn 20261120T100001.000000-bbbb-2.failed EVE@example.com
dsn 20261120T100002.000000-cccc-3.dsn adam@example.com

step=erase
c erase eve@example.com; rc_is 0
out_has "eve@example.com: erased"
out_has "eve+promo@example.com: erased with it"
out_has "eve+x@example.com: erased with it"
out_has "decision log: 6 lines removed from 2 files"
out_has "DSN spool: 2 DSNs deleted"

step=decisions
for a in eve@example.com eve+promo@example.com EVE+X@example.com eve+new@example.com; do
	for t in weekly-news offers customer-updates; do
		c check "$a" "$t"; rc_is 1; out_has "deny"
	done
done
c show eve+promo@example.com --json; rc_is 1; json_check 'j["erased"] is True and j["found"] is False'
c history eve+x@example.com; rc_is 1
c check adam@example.com weekly-news; rc_is 0
c check eve@example.org weekly-news; rc_is 0
c stats --json; rc_is 0; json_check 'j["tombstones"] == 3 and j["addresses"] == 2'

step=bytes
mkdir "$T/copy"
mdb_copy -c "$DB" "$T/copy" || fail "mdb_copy"
spellings=(eve@example.com eve+promo eve+x@ eve=example.com form=eve-signup-1 form=eve-promo-2 form=eve-x-3 eve-x-unsub)
hashes=$("$PY" - "$KEY" <<'PY'
import hmac, hashlib, sys
key = open(sys.argv[1], "rb").read()
for a in ("eve@example.com", "eve+promo@example.com", "eve+x@example.com"):
    print(hmac.new(key, a.encode(), hashlib.sha256).hexdigest())
PY
)
for f in "$DB/data.mdb" "$T/copy/data.mdb" "$LOG"/* "$SPOOL"/*; do
	for s in "${spellings[@]}" $hashes; do
		! grep -a -i -q -F -- "$s" "$f" || fail "$f still holds '$s'"
	done
done
[ "$(ls "$SPOOL")" = 20261120T100002.000000-cccc-3.dsn ] || fail "spool: $(ls "$SPOOL")"
grep -q -F adam@example.com "$SPOOL"/* || fail "adam's DSN changed"
[ "$(cat "$LOG"/* | grep -c .)" = 3 ] || fail "log: $(cat "$LOG"/*)"
grep -q -F '"rcpt":"adam@example.com"' "$LOG"/decisions-2026-11-20.jsonl || fail "adam's clear line lost"
grep -q -F '"rcpt":"eve@example.org"' "$LOG"/decisions-2026-11-21.jsonl || fail "eve@example.org's line lost"
[ "$(stat -c %a "$LOG"/decisions-2026-11-21.jsonl)" = 640 ] || fail "rewritten file mode"
ls -a "$LOG" | grep -q scrub && fail "temporary file left: $(ls -a "$LOG")"
c report --rcpt adam@example.com --jsonl; rc_is 0
[ "$(grep -c . <<<"$out")" = 2 ] || fail "report still finds adam's clear and hashed lines"
c report --rcpt eve@example.com --jsonl; rc_is 0; out_is ""

step=again
# erasing again, or a sub-address alone, finds nothing more and succeeds
c erase eve@example.com; rc_is 0; out_has "decision log: 0 lines removed from 0 files"
c erase eve+other@example.com; rc_is 0
echo "ok - erase reaches the sub-addresses, the decision log and the DSN spool"
