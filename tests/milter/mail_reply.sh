#!/usr/bin/env bash
# milter.mail_reply: whether MAIL is negotiated without a reply
# (SMFIP_NR_MAIL).  "mail" answers MAIL at MAIL; "rcpt" always gives
# MAIL's answer at the first RCPT; "auto" (the default) chooses per
# connection by the recent mail: while most messages are answered at
# MAIL (no newsletter, out of scope), a new connection is negotiated
# with a reply to MAIL; while most go on to RCPT (newsletters), without.
# The answers are the same either way, also on a connection the MTA
# reuses without negotiating again (SMFIC_QUIT_NC), whose state does not
# know which was negotiated.
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
cfg="$CM_TMP/cm.yaml"
other=(--ip 192.0.2.7 --mail '<orders@shop.example>' --rcpt '<carol@example.net>')
news=(--mail '<weekly@news.example.com>' --rcpt '<alice@example.net>' --rcpt '<carol@example.net>')
no_consent='y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (no-consent)'
ambig=(--macro M '{auth_authen}' campaign-weekly --mail '<x@digest.example.com>')
ambig_550='y 550 5.7.1 Message matches several newsletter types "weekly-news,digest"'

negotiated() {	# negotiated OUTPUT: does NEG name NR_MAIL?
	[[ " $(grep '^NEG' <<<"$1") " == *" NR_MAIL "* ]]
}

# 1. mail: MAIL answered at MAIL, the accept and the refusal alike.
write_config "$cfg"
sed -i 's/^  on_error: .*/&\n  mail_reply: mail/' "$cfg"
echo "multiple_types: refuse" >>"$cfg"
start_milter "$cfg"
out=$(proto --neg "${other[@]}") || die "mproto failed"
negotiated "$out" && die "mail_reply: mail negotiated NR_MAIL: $out"
expect_line "$out" 'MAIL <orders@shop.example> a'
out=$(proto "${ambig[@]}" --rcpt '<alice@example.net>') || die "mproto failed"
expect_line "$out" "MAIL <x@digest.example.com> $ambig_550"
out=$(proto "${news[@]}") || die "mproto failed"
expect_line "$out" 'MAIL <weekly@news.example.com> c'
expect_line "$out" 'RCPT <alice@example.net> c'
expect_line "$out" "RCPT <carol@example.net> $no_consent"
echo "ok - mail_reply: mail answers MAIL at MAIL"

# 1b. A connection negotiated so and reused without a new negotiation
# (QUIT_NC): the MTA waits for MAIL's answer and gets it (a filter that
# took the reused connection for one without a reply to MAIL would leave
# the MTA waiting).
reuse() {	# reuse [CHURN]: two sessions on one connection, the second
		# after QUIT_NC and CHURN other connections opened and closed
	/usr/bin/python3 - "$SOCK" "$HERE" "${1:-0}" <<'PY'
import socket, struct, sys
sys.path.insert(0, sys.argv[2])
from mproto import send, recv, exchange, open_unix
s, prot = open_unix(sys.argv[1])
print("NR_MAIL", "yes" if prot & 0x4000 else "no")
for n in (1, 2):
    if n == 2:
        for _ in range(int(sys.argv[3])):
            o, _p = open_unix(sys.argv[1])
            send(o, "Q")
            o.close()
    exchange(s, prot, "C", b"client.example\0" + b"4" + struct.pack(">H", 25) + b"127.0.0.1\0")
    # the first session a newsletter (libmilter takes QUIT_NC only after
    # a message that was not refused at MAIL), the second one refused
    if n == 2:
        send(s, "D", b"M{auth_authen}\0campaign-weekly\0")
    r = exchange(s, prot, "M", b"<x@digest.example.com>\0" if n == 2 else
                 b"<weekly@news.example.com>\0")
    print("session", n, "MAIL", (r[0] + " " + r[1].rstrip(b"\0").decode()).strip() if r else "-")
    if r is None or r[0] == "c":
        r = exchange(s, prot, "R", b"<alice@example.net>\0")
        print("session", n, "RCPT", (r[0] + " " + r[1].rstrip(b"\0").decode()).strip())
    send(s, "A")
    if n == 1:
        send(s, "K")	# QUIT_NC: a new session follows on this connection
send(s, "Q")
s.close()
PY
}
out=$(reuse 2>&1) || die "client failed: $out"
expect_line "$out" "NR_MAIL no"
expect_line "$out" "session 1 MAIL c"
expect_line "$out" "session 1 RCPT c"
expect_line "$out" "session 2 MAIL $ambig_550"
echo "ok - a reused connection negotiated with a reply to MAIL gets it at MAIL"
# 1c. What was negotiated is kept for a few dozen connections only: when
# a thousand others closed meanwhile, the reused connection's state does
# not know it, MAIL answers CONTINUE (right with or without a reply) and
# the answer comes at the first RCPT.
out=$(reuse 1000 2>&1) || die "client failed: $out"
expect_line "$out" "session 2 MAIL c"
expect_line "$out" "session 2 RCPT $ambig_550"
echo "ok - a reused connection whose negotiation is forgotten: the answer at RCPT"
stop_milter

# 2. rcpt: without a reply to MAIL however much mail is answered there.
sed -i 's/^  mail_reply: .*/  mail_reply: rcpt/' "$cfg"
start_milter "$cfg"
proto --repeat 80 "${other[@]}" >/dev/null || die "mproto failed"
out=$(proto --neg "${other[@]}") || die "mproto failed"
negotiated "$out" || die "mail_reply: rcpt did not negotiate NR_MAIL: $out"
expect_line "$out" 'MAIL <orders@shop.example> -'
expect_line "$out" 'RCPT <carol@example.net> a'
# reused (QUIT_NC): still no reply to MAIL, the answer at RCPT; also
# where the negotiation was forgotten (libmilter drops MAIL's CONTINUE)
for churn in 0 1000; do
	out=$(reuse $churn 2>&1) || die "client failed: $out"
	expect_line "$out" "NR_MAIL yes"
	expect_line "$out" "session 2 MAIL -"
	expect_line "$out" "session 2 RCPT $ambig_550"
done
echo "ok - mail_reply: rcpt gives MAIL's answer at the first RCPT"
stop_milter

# 3. auto (the default): a new process starts without a reply to MAIL;
# after mostly mail answered at MAIL, with one; after mostly newsletters,
# without again.
sed -i '/^  mail_reply: /d' "$cfg"
start_milter "$cfg"
out=$(proto --neg "${news[@]}") || die "mproto failed"
negotiated "$out" || die "auto: a new process did not negotiate NR_MAIL: $out"
expect_line "$out" "RCPT <carol@example.net> $no_consent"
proto --repeat 80 "${other[@]}" >/dev/null || die "mproto failed"
out=$(proto --neg "${other[@]}") || die "mproto failed"
negotiated "$out" && die "auto: NR_MAIL after 80 messages accepted at MAIL: $out"
expect_line "$out" 'MAIL <orders@shop.example> a'
out=$(proto --neg "${news[@]}") || die "mproto failed"
expect_line "$out" 'MAIL <weekly@news.example.com> c'
expect_line "$out" "RCPT <carol@example.net> $no_consent"
out=$(proto "${ambig[@]}" --rcpt '<alice@example.net>') || die "mproto failed"
expect_line "$out" "MAIL <x@digest.example.com> $ambig_550"
proto --repeat 80 "${news[@]}" >/dev/null || die "mproto failed"
out=$(proto --neg "${other[@]}") || die "mproto failed"
negotiated "$out" || die "auto: no NR_MAIL after 80 newsletters: $out"
expect_line "$out" 'MAIL <orders@shop.example> -'
expect_line "$out" 'RCPT <carol@example.net> a'
echo "ok - mail_reply: auto follows the mail"
stop_milter

# 4. A bad value names the file, line and the values allowed.
sed -i 's/^  on_error: .*/&\n  mail_reply: sometimes/' "$cfg"
if "$MILTER" -n -c "$cfg" >"$CM_TMP/n.out" 2>&1; then
	die "mail_reply: sometimes was accepted"
fi
grep -q "cm.yaml:[0-9]*:[0-9]*: .*mail_reply" "$CM_TMP/n.out" ||
	die "no file:line: error for mail_reply: $(cat "$CM_TMP/n.out")"
echo "ok - a bad mail_reply is refused with its place"
echo "mail_reply: all checks passed"
