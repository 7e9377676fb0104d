#!/usr/bin/env bash
# Mailto unsubscribe (milter/mailto.c, consent-web's internal socket):
# a recipient LOCAL+TOKEN@DOMAIN with a forged, damaged or confirm token
# is refused 550 at RCPT and nothing changes; with consent-web down a
# valid one is tempfailed 451 at end of data and nothing is recorded;
# with consent-web up the withdrawal is recorded (source mailto, evidence:
# sender, client, Message-ID) before the message is discarded; a replay
# adds no history event; other recipients stay (only the token one is
# removed); links.mailto_deliver_to redirects it; mail from outside the
# scope is captured too; the List-Unsubscribe header offers the mailto
# form; at most 8 token recipients a message; monitor mode records too;
# an unreadable key ring gives 451 at RCPT; quoted, source-routed or
# spaced token addresses are captured; non-SMTP submissions are captured
# (bad tokens refused at end of data); a message decided at end of
# headers still records its token; a token recipient beside another
# gets no personal link; consent-web's 5xx gives 550, a server of
# another user 451; the token's address is not logged when hashed; a
# folded Message-ID is kept.
. "$SRCDIR/tests/milter/common.bash"
CTL=$BUILD/consentctl
WEB=$BUILD/consent-web
[ -x "$WEB" ] || { echo "skip: consent-web not built"; exit 77; }
WEB_PID=
WLOG=$CM_TMP/web.log
MSOCK=$CM_TMP/mailto.sock

build_seed
seed_standard
"$CTL" -d "$DB" link new-key >/dev/null || die "cannot create a link key"
WPORT=$(net_freeport)

links() {	# links CONFIG [DELIVER_TO]
	cat >>"$1" <<YAML
links:
  base_url: "https://news.example.com/consent"
  mailto_domain: "Example.COM"
  mailto_socket: "$MSOCK"
  listen: "inet:$WPORT@127.0.0.1"
  timeout: 5s
YAML
	[ -z "${2:-}" ] || echo "  mailto_deliver_to: \"$2\"" >>"$1"
}
start_web() {
	"$WEB" -v -c "$1" >>"$WLOG" 2>&1 &
	WEB_PID=$!
	for _ in $(seq 100); do
		[ -S "$MSOCK" ] && return 0
		kill -0 "$WEB_PID" 2>/dev/null || die "consent-web exited: $(tail -5 "$WLOG")"
		sleep 0.05
	done
	die "consent-web socket $MSOCK did not appear"
}
stop_web() {
	local rc
	kill -TERM "$WEB_PID" || die "consent-web not running"
	wait "$WEB_PID"
	rc=$?
	WEB_PID=
	[ "$rc" -eq 0 ] || die "consent-web exited with $rc"
	[ ! -e "$MSOCK" ] || die "consent-web left its socket behind"
	! grep -qE "AddressSanitizer|runtime error:|LeakSanitizer" "$WLOG" ||
		die "sanitizer report in consent-web's log"
}
FAKE_PID=
trap 'cleanup; [ -z "$WEB_PID" ] || { kill "$WEB_PID"; wait "$WEB_PID"; }; [ -z "$FAKE_PID" ] || kill "$FAKE_PID"' EXIT

# mail QID IP FROM RCPT... : one message with a Message-ID
mail() {
	local qid=$1 ip=$2 from=$3 args=(); shift 3
	for r in "$@"; do args+=(--rcpt "$r"); done
	proto --ip "$ip" --macro M i "$qid" --mail "$from" "${args[@]}" --data \
		--header Message-ID "<$qid@mua.example>" --header Subject unsubscribe \
		--eoh --eom || die "mproto failed"
}
hist() { "$CTL" -c "$CM_TMP/cm.yaml" history bob@example.net 2>/dev/null | grep -c .; }

write_config "$CM_TMP/cm.yaml" enforce tempfail reject
links "$CM_TMP/cm.yaml"
"$CTL" -c "$CM_TMP/cm.yaml" link unsubscribe bob@example.net offers >"$CM_TMP/link.out" ||
	die "consentctl link unsubscribe"
MAILTO=$(sed -n 's/^mailto://p' "$CM_TMP/link.out")
grep -qE '^unsubscribe\+[A-Za-z0-9_-]{60,90}@Example\.COM$' <<<"$MAILTO" || die "mailto link: $MAILTO"
TOK=${MAILTO#unsubscribe+}
TOK=${TOK%@*}
CTOK=$("$CTL" -c "$CM_TMP/cm.yaml" link confirm bob@example.net offers --token) || die "link confirm"
BAD=${TOK:0:30}$([ "${TOK:30:1}" = A ] && echo B || echo A)${TOK:31}
"$CTL" -c "$CM_TMP/cm.yaml" check bob@example.net offers >/dev/null || die "bob must have consent to offers"
h0=$(hist)
start_milter "$CM_TMP/cm.yaml"

# 1. bad tokens: 550 5.1.1 at RCPT, nothing recorded
for t in "$BAD" "$CTOK" "x"; do
	out=$(proto --ip 192.0.2.7 --macro M i B1 --mail "<bob@example.net>" \
		--rcpt "<unsubscribe+$t@example.com>") || die "mproto failed"
	grep -qE "^RCPT <unsubscribe\+$t@example\.com> y 550 5\.1\.1 <unsubscribe\+$t@example\.com>: not a valid unsubscribe address\$" <<<"$out" ||
		die "bad token $t not refused: $out"
done
expect_log 'mailto unsubscribe: invalid token; action=reject'
# the forms a sender's MTA may write (quoted local part, source route,
# white space) or a broken one never escape the capture
for r in "<\"unsubscribe+$BAD\"@example.com>" "<@relay.example:unsubscribe+$BAD@example.com>" \
	"< unsubscribe+$BAD@example.com>" "<\"unsubscribe+$TOK@example.com>"; do
	out=$(proto --ip 192.0.2.7 --macro M i B3 --mail "<bob@example.net>" --rcpt "$r") || die "mproto failed"
	grep -qF "RCPT $r y 550 5.1.1" <<<"$out" || die "$r not refused: $out"
done
expect_log 'mailto unsubscribe: not an unsubscribe token; action=reject'
# another local part or domain is no mailto address: passes as usual
# (accepted at DATA: nothing to record)
out=$(proto --ip 192.0.2.7 --macro M i B2 --mail "<bob@example.net>" --rcpt "<other+$TOK@example.com>" \
	--rcpt "<unsubscribe+$TOK@example.org>" --data) || die "mproto failed"
grep -q " y 550" <<<"$out" && die "not a mailto address but refused: $out"
expect_line "$out" "DATA - a"
[ "$(hist)" = "$h0" ] || die "a bad token changed the history"

# 2. consent-web down: accepted at RCPT, 451 at end of data, nothing recorded
out=$(mail D1 192.0.2.7 "<bob@example.net>" "<unsubscribe+$TOK@example.com>")
expect_line "$out" "RCPT <unsubscribe+$TOK@example.com> c"
expect_line "$out" "EOM - y 451 4.3.0 Unsubscribe not recorded yet, try again later"
expect_log "queue_id=D1 type=offers rcpt=-: mailto unsubscribe not recorded: consent-web"
[ "$(hist)" = "$h0" ] || die "recorded while consent-web was down"
"$CTL" -c "$CM_TMP/cm.yaml" check bob@example.net offers >/dev/null || die "withdrawn while consent-web was down"

# 3. consent-web up: recorded, then the message is discarded; from
# outside the scope (192.0.2.7), with the address's case and the
# domain's trailing dot as a sender's MTA may write them
start_web "$CM_TMP/cm.yaml"
out=$(mail M1 192.0.2.7 "<Bob@Example.NET>" "<UNSUBSCRIBE+$TOK@example.com.>")
expect_line "$out" "RCPT <UNSUBSCRIBE+$TOK@example.com.> c"
expect_line "$out" "EOM - d"
expect_log "queue_id=M1 type=offers rcpt=-: mailto unsubscribe recorded"
# log.hash_recipients (the default): the address the token hides is not logged
grep -q "rcpt=bob@example.net: mailto" "$LOG" && die "the token's address in the log"
[ "$(hist)" = $((h0 + 1)) ] || die "not one history event: $("$CTL" -c "$CM_TMP/cm.yaml" history bob@example.net)"
"$CTL" -c "$CM_TMP/cm.yaml" history bob@example.net | tail -1 >"$CM_TMP/h.out"
grep -q "mailto" "$CM_TMP/h.out" || die "source mailto not in: $(cat "$CM_TMP/h.out")"
for ev in 'sender=\\?"<Bob@Example.NET>' 'client=\\?"192.0.2.7' 'message-id=\\?"<M1@mua.example>'; do
	grep -qE "$ev" "$CM_TMP/h.out" || die "evidence $ev not in: $(cat "$CM_TMP/h.out")"
done
"$CTL" -c "$CM_TMP/cm.yaml" check bob@example.net offers >/dev/null && die "not withdrawn"

# 3b. a Message-ID folded after its colon is kept as evidence
T=$("$CTL" -c "$CM_TMP/cm.yaml" link unsubscribe fold@example.net offers | sed -n 's/^mailto:unsubscribe+\(.*\)@.*/\1/p')
out=$(proto --ip 192.0.2.7 --macro M i M7 --mail "<fold@example.net>" --rcpt "<unsubscribe+$T@example.com>" \
	--data --header Message-ID $'\r\n\t<folded@mua.example>' --eoh --eom) || die "mproto failed"
expect_line "$out" "EOM - d"
"$CTL" -c "$CM_TMP/cm.yaml" history fold@example.net | grep -qE 'message-id=\\?"<folded@mua.example>' ||
	die "folded Message-ID lost: $("$CTL" -c "$CM_TMP/cm.yaml" history fold@example.net)"

# 4. a replay: discarded again, no second event
out=$(mail M2 192.0.2.7 "<bob@example.net>" "<unsubscribe+$TOK@example.com>")
expect_line "$out" "EOM - d"
[ "$(hist)" = $((h0 + 1)) ] || die "a replay added an event"

# 5. another recipient too: only the token recipient is removed
out=$(mail M3 192.0.2.7 "<bob@example.net>" "<unsubscribe+$TOK@example.com>" "<list-owner@example.com>")
expect_line "$out" "DELRCPT <unsubscribe+$TOK@example.com>"
expect_line "$out" "EOM - c"
grep -q "DELRCPT <list-owner" <<<"$out" && die "the other recipient was removed: $out"

# 6. in scope, beside a newsletter check: the token recipient is not
# checked as a newsletter recipient, the other one is
out=$(proto --macro M i M4 --mail "<weekly@news.example.com>" --rcpt "<unsubscribe+$TOK@example.com>" \
	--rcpt "<dave@example.net>" --data --header Subject x --eoh --eom) || die "mproto failed"
expect_line "$out" "RCPT <unsubscribe+$TOK@example.com> c"
grep -q "^RCPT <dave@example.net> y 550 5.7.1" <<<"$out" || die "dave not refused: $out"
expect_line "$out" "EOM - d"
stop_milter

# 7. links.mailto_deliver_to: the message goes to that mailbox instead
write_config "$CM_TMP/cm.yaml" enforce tempfail reject
links "$CM_TMP/cm.yaml" "unsub-archive@example.com"
start_milter "$CM_TMP/cm.yaml"
out=$(mail M5 192.0.2.7 "<bob@example.net>" "<unsubscribe+$TOK@example.com>")
expect_line "$out" "ADDRCPT <unsub-archive@example.com>"
expect_line "$out" "DELRCPT <unsubscribe+$TOK@example.com>"
expect_line "$out" "EOM - c"
expect_log "queue_id=M5: mailto unsubscribe message delivered to unsub-archive@example.com"

# 8. the header offers the mailto form beside the https link
out=$(proto --macro M i U1 --mail "<shop@example.com>" --rcpt "<alice@example.net>" --data \
	--header X-Newsletter-Type customer-updates --eoh --eom) || die "mproto failed"
grep -qE "^ADDHEADER List-Unsubscribe: <https://news\.example\.com/consent/u/([A-Za-z0-9_-]+)>, <mailto:unsubscribe\+\1@Example\.COM>\$" <<<"$out" ||
	die "no mailto form in List-Unsubscribe: $out"
# 8b. a newsletter to alice and a token address: two recipients, so no
# personal link (alice's token would reach the unsubscribe mailbox)
out=$(proto --macro M i U2 --mail "<shop@example.com>" --rcpt "<alice@example.net>" \
	--rcpt "<unsubscribe+$TOK@example.com>" --data --header X-Newsletter-Type customer-updates \
	--header Message-ID "<u2@x>" --eoh --eom) || die "mproto failed"
grep -q "List-Unsubscribe" <<<"$out" && die "a personal link beside a token recipient: $out"
expect_line "$out" "ADDRCPT <unsub-archive@example.com>"
expect_log "queue_id=U2 type=customer-updates: .* no List-Unsubscribe link added"
stop_milter

# 9. bounds: at most 8 token recipients a message (the 9th: 452)
args=()
for i in $(seq 9); do args+=(--rcpt "<unsubscribe+$TOK@example.com>"); done
write_config "$CM_TMP/cm.yaml" monitor tempfail reject
links "$CM_TMP/cm.yaml"
mkdir -p "$CM_TMP/declog"; printf 'log:\n  path: "%s"\n  hash_recipients: false\n' "$CM_TMP/declog" >>"$CM_TMP/cm.yaml"	# the address in clear
start_milter "$CM_TMP/cm.yaml"
out=$(proto --ip 192.0.2.7 --macro M i M6 --mail "<bob@example.net>" "${args[@]}" --data \
	--header Subject x --eoh --eom) || die "mproto failed"
[ "$(grep -c "^RCPT <unsubscribe+$TOK@example.com> c\$" <<<"$out")" = 8 ] || die "not 8 kept: $out"
grep -q "^RCPT <unsubscribe+$TOK@example.com> y 452 4.5.3" <<<"$out" || die "9th not 452: $out"
# 10. monitor mode records too (a withdrawal is a request to honour)
expect_line "$out" "EOM - d"
expect_log "queue_id=M6 type=offers rcpt=bob@example.net: mailto unsubscribe recorded"
stop_milter

# 11. the key ring cannot be read: 451 at RCPT
write_config "$CM_TMP/cm.yaml" enforce tempfail reject
links "$CM_TMP/cm.yaml"
echo "  key_dir: \"$CM_TMP/no-such-keys\"" >>"$CM_TMP/cm.yaml"
start_milter "$CM_TMP/cm.yaml"
out=$(proto --ip 192.0.2.7 --macro M i K1 --mail "<bob@example.net>" \
	--rcpt "<unsubscribe+$TOK@example.com>") || die "mproto failed"
grep -q "^RCPT <unsubscribe+$TOK@example.com> y 451 4.3.0 <unsubscribe+$TOK@example.com>: unsubscribe address cannot be checked now" <<<"$out" ||
	die "no 451 without a key ring: $out"
stop_milter

# 11b. non-SMTP submissions (sendmail(1), pickup: client port 0) are
# captured too; what RCPT cannot refuse there is refused at end of data
write_config "$CM_TMP/cm.yaml" enforce tempfail reject
links "$CM_TMP/cm.yaml"
start_milter "$CM_TMP/cm.yaml"
T=$("$CTL" -c "$CM_TMP/cm.yaml" link unsubscribe ns@example.net offers | sed -n 's/^mailto:unsubscribe+\(.*\)@.*/\1/p')
out=$(proto --port 0 --macro M i N1 --mail "<ns@example.net>" --rcpt "<unsubscribe+$T@example.com>" --data \
	--header Message-ID "<n1@x>" --eoh --eom) || die "mproto failed"
expect_line "$out" "RCPT <unsubscribe+$T@example.com> c"
expect_line "$out" "EOM - d"
expect_log "queue_id=N1 type=offers rcpt=-: mailto unsubscribe recorded"
"$CTL" -c "$CM_TMP/cm.yaml" history ns@example.net | grep -q ' mailto ' || die "N1 not recorded"
out=$(proto --port 0 --macro M i N2 --mail "<ns@example.net>" --rcpt "<unsubscribe+$BAD@example.com>" \
	--rcpt "<carol@example.net>" --data --header Message-ID "<n2@x>" --eoh --eom) || die "mproto failed"
expect_line "$out" "RCPT <unsubscribe+$BAD@example.com> c"
expect_line "$out" "EOM - y 550 5.1.1 Not a valid unsubscribe address, nothing recorded"
expect_log "queue_id=N2 rcpt=.*: mailto unsubscribe: invalid token; action=reject at end of data"
stop_milter

# tok ADDR TYPE: a mailto unsubscribe token; nmailto ADDR: its mailto events
tok() {
	"$CTL" -c "$CM_TMP/cm.yaml" link unsubscribe "$1" "$2" | sed -n 's/^mailto:unsubscribe+\(.*\)@.*/\1/p'
}
nmailto() { "$CTL" -c "$CM_TMP/cm.yaml" history "$1" 2>/dev/null | grep -c ' mailto '; }

# 12. a message refused or let through at end of headers still records
# its mailto unsubscribe: never a refusal (or an accept) that loses it
many=()
for _ in $(seq 70); do many+=(--header X-Newsletter-Type offers); done
write_config "$CM_TMP/cm.yaml" monitor tempfail reject
links "$CM_TMP/cm.yaml"
start_milter "$CM_TMP/cm.yaml"
# monitor, too many classification headers: let through at EOH
T=$(tok eoh1@example.net offers)
out=$(proto --macro M i E1 --mail "<eoh1@example.net>" --rcpt "<unsubscribe+$T@example.com>" \
	--rcpt "<carol@example.net>" --data --header Message-ID "<e1@x>" "${many[@]}" --eoh --eom) ||
	die "mproto failed"
expect_line "$out" "DELRCPT <unsubscribe+$T@example.com>"
expect_line "$out" "EOM - c"
expect_log "queue_id=E1 type=offers rcpt=-: mailto unsubscribe recorded"
[ "$(nmailto eoh1@example.net)" = 1 ] || die "E1: not recorded"
stop_milter
# on_error: accept, a List-Id that cannot be read: let through at EOH
write_config "$CM_TMP/cm.yaml" enforce accept reject
links "$CM_TMP/cm.yaml"
start_milter "$CM_TMP/cm.yaml"
T=$(tok eoh2@example.net offers)
out=$(proto --macro M i E2 --macro M "{auth_authen}" someuser --mail "<eoh2@example.net>" \
	--rcpt "<unsubscribe+$T@example.com>" --data --header Message-ID "<e2@x>" \
	--header List-Id "no identifier here" --eoh --eom) || die "mproto failed"
expect_line "$out" "EOM - d"
[ "$(nmailto eoh2@example.net)" = 1 ] || die "E2: not recorded: $out"
stop_milter
# refused at EOH (unclassified bulk, several types): recorded first
write_config "$CM_TMP/cm.yaml" enforce tempfail reject
links "$CM_TMP/cm.yaml"
echo "multiple_types: refuse" >>"$CM_TMP/cm.yaml"
start_milter "$CM_TMP/cm.yaml"
T=$(tok eoh3@example.net offers)
out=$(proto --macro M i E3 --mail "<eoh3@example.net>" --rcpt "<unsubscribe+$T@example.com>" \
	--rcpt "<carol@example.net>" --data --header Message-ID "<e3@x>" --header Precedence bulk \
	--eoh) || die "mproto failed"
grep -q "^EOH - y 550 5.7.1 Bulk mail" <<<"$out" || die "E3 not refused: $out"
[ "$(nmailto eoh3@example.net)" = 1 ] || die "E3: refused, not recorded"
T=$(tok eoh4@example.net offers)
out=$(proto --macro M i E4 --mail "<eoh4@example.net>" --rcpt "<unsubscribe+$T@example.com>" \
	--rcpt "<carol@example.net>" --data --header Message-ID "<e4@x>" \
	--header X-Newsletter-Type offers --header X-Newsletter-Type customer-x --eoh) || die "mproto failed"
grep -q "^EOH - y 550 5.7.1 Message matches several" <<<"$out" || die "E4 not refused: $out"
[ "$(nmailto eoh4@example.net)" = 1 ] || die "E4: refused, not recorded"
stop_milter
# ... and with consent-web down, the refusal is a 451 (nothing lost)
stop_web
start_milter "$CM_TMP/cm.yaml"
T=$(tok eoh5@example.net offers)
out=$(proto --macro M i E5 --mail "<eoh5@example.net>" --rcpt "<unsubscribe+$T@example.com>" \
	--data --header Message-ID "<e5@x>" --header Precedence bulk --eoh) || die "mproto failed"
expect_line "$out" "EOH - y 451 4.3.0 Unsubscribe not recorded yet, try again later"
stop_milter

# 13. consent-web refuses a token for good (5xx: here a stand-in that
# answers 550, as for a token expired since RCPT): 550 for the message,
# not a 451 retried until the queue lifetime ends; a 4xx stays 451
fake_web() {	# fake_web REPLY [UID]: answer every request with REPLY
	rm -f "$MSOCK"
	/usr/bin/python3 - "$MSOCK" "$1" "${2:-}" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])
if sys.argv[3]:
    os.setgid(int(sys.argv[3])); os.setuid(int(sys.argv[3]))
s.listen(8)
while True:
    c, _ = s.accept(); c.recv(4096); c.sendall((sys.argv[2] + "\n").encode()); c.close()
PY
	FAKE_PID=$!
	for _ in $(seq 100); do [ -S "$MSOCK" ] && return 0; sleep 0.05; done
	die "the stand-in did not listen"
}
start_milter "$CM_TMP/cm.yaml"
T=$(tok f7@example.net offers)
for reply in "550 expired token" "500 malformed request" "451 not recorded"; do
	fake_web "$reply"
	out=$(mail F7 192.0.2.7 "<f7@example.net>" "<unsubscribe+$T@example.com>")
	case $reply in
	5*) expect_line "$out" "EOM - y 550 5.1.1 Not a valid unsubscribe address, nothing recorded"
	    expect_log "queue_id=F7 type=offers rcpt=-: mailto unsubscribe refused by consent-web $MSOCK: $reply; action=reject" ;;
	*) expect_line "$out" "EOM - y 451 4.3.0 Unsubscribe not recorded yet, try again later" ;;
	esac
	kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null; FAKE_PID=
done
# a server of another user on the socket's path (its directory writable
# by someone else) is not consent-web: nothing is sent, 451
if [ "$(id -u)" = 0 ]; then
	fake_web "250 recorded" 65534
	out=$(mail F8 192.0.2.7 "<f7@example.net>" "<unsubscribe+$T@example.com>")
	expect_line "$out" "EOM - y 451 4.3.0 Unsubscribe not recorded yet, try again later"
	expect_log "queue_id=F8 type=offers rcpt=-: mailto unsubscribe not recorded: consent-web $MSOCK: the server is not of this user or root"
	kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null; FAKE_PID=
fi
stop_milter
echo "mailto: all checks passed"
