#!/usr/bin/env bash
# Decision log on, envelope-typed newsletters (issue 5): the filter needs
# the headers only for the Message-ID and campaign of the log records, so
# it asks the MTA not to send DATA (or at least not to wait for a reply
# there), asks for no reply per header, and accepts at end of headers.
# Whatever the MTA offers, every decision is logged once, with its
# Message-ID, campaign and queue id; several messages per connection.
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
write_config "$CM_TMP/cm.yaml"
LOGDIR=$CM_TMP/decisions
cat >>"$CM_TMP/cm.yaml" <<EOF
log:
  path: "$LOGDIR"
  hash_recipients: false           # this test reads the recipients
  campaign_header: X-Campaign-ID
EOF
start_milter "$CM_TMP/cm.yaml"

# msg N CAMPAIGN: the steps of message N (alice allowed, carol refused,
# frank allowed), its headers with the campaign header among others.
msg() {
	local args=(--mail "<weekly@news.example.com>" --rcpt "<alice@example.net>"
		--rcpt "<carol@example.net>" --rcpt "<frank@example.net>" --data
		--header From "<weekly@news.example.com>" --header To "<list@example.net>"
		--header Message-ID "<m$1@news.example.com>" --header Subject "issue $1")
	[ -n "$2" ] && args+=(--header X-Campaign-ID "$2")
	args+=(--header Date "Mon, 23 Nov 2026 07:00:00 +0000" --eoh)
	printf '%s\n' "${args[@]}"
}
MACROS=(--macro R i QID1 --macro T i QID1 --macro N i QID1)

# 1. An MTA that offers everything (Postfix, Sendmail 8.14+): no DATA,
# no reply per header, ACCEPT at end of headers; two messages.
mapfile -t m1 < <(msg 1 spring-1)
mapfile -t m2 < <(msg 2 "")
out=$(proto --neg "${MACROS[@]}" "${m1[@]}" "${m2[@]}") || die "mproto failed"
neg=$(grep '^NEG' <<<"$out")
for f in NODATA NR_HDR NOBODY; do
	[[ " $neg " == *" $f "* ]] || die "negotiated without $f: $neg"
done
for f in NOHDRS NOEOH; do
	[[ " $neg " == *" $f "* ]] && die "negotiated $f: $neg"
done
expect_line "$out" 'RCPT <alice@example.net> c'
expect_line "$out" 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (no-consent)'
expect_line "$out" 'DATA - n'
expect_line "$out" 'HEADER X-Campaign-ID -'
[ "$(grep -cx 'EOH - a' <<<"$out")" = 2 ] || die "not accepted at end of headers twice: $out"
echo "ok - all offered: DATA not sent, headers without replies, ACCEPT at end of headers"

# 2. An MTA without SMFIP_NODATA: DATA is sent, without a reply.
mapfile -t m3 < <(msg 3 spring-3)
out=$(proto --neg --prot 1FFDFF "${MACROS[@]}" "${m3[@]}") || die "mproto failed"
expect_line "$out" 'DATA - -'
expect_line "$out" 'EOH - a'
echo "ok - without NODATA: DATA needs no reply, ACCEPT at end of headers"

# 3. An MTA that offers neither (no SMFIP_NODATA, no SMFIP_NR_*): every
# step is answered.
mapfile -t m4 < <(msg 4 spring-4)
out=$(proto --neg --prot 17F "${MACROS[@]}" "${m4[@]}") || die "mproto failed"
expect_line "$out" 'DATA - c'
expect_line "$out" 'HEADER Message-ID c'
expect_line "$out" 'EOH - a'
echo "ok - without NODATA and NR_*: every step answered, ACCEPT at end of headers"

stop_milter	# flushes the log
/usr/bin/python3 - "$LOGDIR" <<'PY' || die "decision log"
import glob, json, sys
recs = [json.loads(l) for f in sorted(glob.glob(sys.argv[1] + "/decisions-*.jsonl"))
        for l in open(f, encoding="utf-8")]
assert len(recs) == 12, "want 12 records (4 messages x 3 recipients), got %d: %r" % (len(recs), recs)
for n, campaign in ((1, "spring-1"), (2, None), (3, "spring-3"), (4, "spring-4")):
    mine = [r for r in recs if r["message_id"] == "<m%d@news.example.com>" % n]
    assert len(mine) == 3, (n, mine)
    got = sorted((r["rcpt"], r["verdict"], r["reason"], r["action"]) for r in mine)
    assert got == [("alice@example.net", "allow", "none", "allowed"),
                   ("carol@example.net", "deny", "no-consent", "refused"),
                   ("frank@example.net", "allow", "none", "allowed")], (n, got)
    for r in mine:
        assert r["campaign"] == campaign, (n, r)
        assert r["type"] == "weekly-news" and r["queue_id"] == "QID1", r
        assert r["sender"] == "weekly@news.example.com", r
print("ok - decision log: 12 records, one per recipient, with Message-ID and campaign")
PY

# 4. On a TCP socket DATA keeps its reply: Postfix sends DATA whatever
# was negotiated, and the headers after it wait (Nagle) for DATA's
# acknowledgement, which the filter's kernel delays by 40 ms when no
# reply carries it: one message per 45 ms on a connection.  The headers
# still come without replies, and end of headers accepts.
port=$(net_freeport)
sed "s|socket: \"unix:$SOCK\"|socket: \"inet:$port@127.0.0.1\"|" "$CM_TMP/cm.yaml" >"$CM_TMP/cm-tcp.yaml"
grep -q "inet:$port@127.0.0.1" "$CM_TMP/cm-tcp.yaml" || die "no TCP configuration"
start_milter "$CM_TMP/cm-tcp.yaml" "$port"
mapfile -t m5 < <(msg 5 spring-5)
out=$(/usr/bin/python3 "$HERE/mproto.py" "inet:$port@127.0.0.1" --neg "${MACROS[@]}" "${m5[@]}") ||
	die "mproto failed: $out"
neg=$(grep '^NEG' <<<"$out")
for f in NODATA NR_DATA; do
	[[ " $neg " == *" $f "* ]] && die "negotiated $f on a TCP socket: $neg"
done
[[ " $neg " == *" NR_HDR "* ]] || die "negotiated without NR_HDR: $neg"
expect_line "$out" 'DATA - c'
expect_line "$out" 'HEADER X-Campaign-ID -'
expect_line "$out" 'EOH - a'
stop_milter
grep -h '"message_id":"<m5@news.example.com>"' "$LOGDIR"/decisions-*.jsonl | grep -c . |
	grep -qx 3 || die "message 5 not logged once per recipient"
echo "ok - on a TCP socket DATA is answered, headers without replies, ACCEPT at end of headers"
