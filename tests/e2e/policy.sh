#!/usr/bin/env bash
# consent-policy end to end (issue 17): a private Postfix with
#   smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:PORT
# relaying to the recording sink.  Asserts, recipient by recipient, what
# the client was told and what reached the sink: the exact 550 reply of
# every refused recipient, every recipient of a message checked, errors
# (a sender that cannot be read, the index missing) deferred with 451,
# monitor mode delivering and logging, the log lines and decision log
# records; then with the milter beside it and
# policy.decides_envelope_types on, envelope-typed mail accepted by the
# milter at MAIL FROM while mail typed by its headers is still decided
# by the milter.
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init
e2e_programs
PD=$BUILD/consent-policy
[ -x "$PD" ] || e2e_fail "$PD not built"

WEEKLY_FROM=weekly@news.example.com
PPORT=$(e2e_freeport)
MPORT=$(e2e_freeport)
DB=$CM_TMP/db
DECLOG=$CM_TMP/declog
mkdir -p "$DB"
"$CTL" -d "$DB" init >/dev/null || e2e_fail "consentctl init"
for a in alice@example.com carol@example.com; do
	"$CTL" -d "$DB" grant "$a" weekly-news --source e2e >/dev/null || e2e_fail "grant $a"
done
"$CTL" -d "$DB" grant bob@example.com weekly-news --source e2e >/dev/null &&
	"$CTL" -d "$DB" withdraw bob@example.com weekly-news --source e2e >/dev/null ||
	e2e_fail "withdraw bob"
"$CTL" -d "$DB" grant alice@example.com offers --source e2e >/dev/null || e2e_fail "grant offers"
"$CTL" -d "$DB" grant '"john doe"@example.com' weekly-news --source e2e >/dev/null || e2e_fail "grant john doe"

# conf FILE [EXTRA-POLICY-LINES]: the configuration, enforce mode
conf() {
	{
		e2e_cm_head "$MPORT" "$DB"
		cat <<EOF
policy:
  socket: "inet:$PPORT@127.0.0.1"
  stamp: "$CM_TMP/policy.stamp"
$2
log:
  path: "$DECLOG"
  hash_recipients: false
EOF
		e2e_cm_newsletters "$WEEKLY_FROM"
	} >"$1"
}
CONF=$CM_TMP/consent.yaml
conf "$CONF" ""

PD_LOG=$CM_TMP/policy.log
PD_PID=
pd_start() {
	echo "---- $(date +%H:%M:%S) start: $*" >>"$PD_LOG"
	"$PD" -f -c "$1" >>"$PD_LOG" 2>&1 &
	PD_PID=$!
	E2E_PIDS+=("$PD_PID")
	e2e_on_exit "e2e_kill_pid $PD_PID 10"
	e2e_wait_listen "$PPORT" "$PD_PID" 20
	e2e_log "consent-policy pid $PD_PID on 127.0.0.1:$PPORT"
}
pd_stop() {
	local rc
	e2e_kill_pid "$PD_PID" 10
	rc=$?
	[ "$rc" = 0 ] || e2e_fail "consent-policy exited with status $rc on SIGTERM"
	PD_PID=
}
# wait_log FILE REGEX WHAT: wait (10 s at most) for a line in FILE
wait_log() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	e2e_fail "$3: no line matching '$2' in $1"
}
# Postfix puts its own words around the policy server's text.
deny_text() {
	echo "550 5.7.1 <$1>: Recipient address rejected: <$1>: no consent for newsletter \"$2\" ($3)"
}
defer_text() {
	echo "451 4.3.0 <$1>: Recipient address rejected: <$1>: consent check failed, try again later"
}
expect_rcpt() {
	e2e_assert_eq "$3" "$(e2e_q rcpt "$1" "$2")" "$(basename "$1" .json): RCPT $2"
}

e2e_start_sink
e2e_pf_setup ""
e2e_pf_conf "smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:$PPORT" \
	"smtpd_policy_service_default_action = 451 4.3.5 policy service unavailable"
pd_start "$CONF"
e2e_pf_start
delivered=0

# ------------------------------------ 1. enforce: every recipient decided
e2e_send "$CM_TMP/env.json" --from "$WEEKLY_FROM" \
	--rcpt alice@example.com --rcpt bob@example.com --rcpt dave@example.net \
	--rcpt Carol@Example.COM
expect_rcpt "$CM_TMP/env.json" alice@example.com "250 2.1.5 Ok"
expect_rcpt "$CM_TMP/env.json" bob@example.com "$(deny_text bob@example.com weekly-news withdrawn)"
expect_rcpt "$CM_TMP/env.json" dave@example.net "$(deny_text dave@example.net weekly-news no-consent)"
expect_rcpt "$CM_TMP/env.json" Carol@Example.COM "250 2.1.5 Ok"
e2e_assert_match '^250 ' "$(e2e_q data "$CM_TMP/env.json")" "env: DATA accepted"
delivered=$((delivered + 1))
e2e_wait_delivered $delivered
mid=$(e2e_q field "$CM_TMP/env.json" message_id)
e2e_assert_eq $'Carol@Example.COM\nalice@example.com' "$(e2e_q delivered "$SINK_DIR" "$mid")" \
	"env: exactly the consented recipients delivered"
for r in 'bob@example.com verdict=deny reason=withdrawn stage=rcpt via=policy action=reject$' \
	'dave@example.net verdict=deny reason=no-consent stage=rcpt via=policy action=reject$'; do
	wait_log "$PD_LOG" "type=weekly-news rcpt=$r" "decision line"
done
# allowed recipients are the milter's to log and record, unless it takes
# the fast path (decides_envelope_types): one decision, one record
grep -Eq 'rcpt=(alice|carol)@example.com verdict=allow' "$PD_LOG" &&
	e2e_fail "consent-policy logged an allowed recipient the milter decides too"
echo "ok - env: a decision line per refused recipient, none for the allowed"

# Postfix sends the internal form (local part unquoted): quoted again
# before deciding.  "john doe" consented; "\"alice\"" is not alice.
e2e_send "$CM_TMP/quoted.json" --from "$WEEKLY_FROM" \
	--rcpt '"john doe"@example.com' --rcpt '"\"alice\""@example.com'
expect_rcpt "$CM_TMP/quoted.json" '"john doe"@example.com' "250 2.1.5 Ok"
e2e_assert_match '^550 5\.7\.1 .*no consent for newsletter "weekly-news" \(no-consent\)' \
	"$(e2e_q rcpt "$CM_TMP/quoted.json" '"\"alice\""@example.com')" "quoted: \"alice\" is not alice"
delivered=$((delivered + 1))
e2e_wait_delivered $delivered
# a quoted sender of no newsletter type: DUNNO, not deferred
e2e_send "$CM_TMP/qsender.json" --from '"john doe"@example.org' --rcpt bob@example.com
expect_rcpt "$CM_TMP/qsender.json" bob@example.com "250 2.1.5 Ok"
delivered=$((delivered + 1))
e2e_wait_delivered $delivered

# mail of no newsletter type: DUNNO, delivered
e2e_send "$CM_TMP/plain.json" --from someone@example.org --rcpt bob@example.com --rcpt dave@example.net
e2e_assert_eq 2 "$(e2e_q rcpts "$CM_TMP/plain.json" | grep -c $'\t250\t')" "plain: every RCPT accepted"
delivered=$((delivered + 1))
e2e_wait_delivered $delivered

# mail typed only by its headers: not the policy server's to decide
e2e_send "$CM_TMP/hdr.json" --from campaigns@shop.example --rcpt bob@example.com \
	--header "X-Newsletter-Type: offers"
expect_rcpt "$CM_TMP/hdr.json" bob@example.com "250 2.1.5 Ok"
delivered=$((delivered + 1))
e2e_wait_delivered $delivered

# ------------------------------------ 2. errors defer
# a sender that cannot be normalized (local part over 64 octets)
long=$(printf 'x%.0s' $(seq 1 70))@news.example.com
e2e_send "$CM_TMP/badsender.json" --from "$long" --rcpt alice@example.com --rcpt carol@example.com
expect_rcpt "$CM_TMP/badsender.json" alice@example.com "$(defer_text alice@example.com)"
expect_rcpt "$CM_TMP/badsender.json" carol@example.com "$(defer_text carol@example.com)"
wait_log "$PD_LOG" "rcpt=carol@example.com verdict=error reason=sender-unreadable stage=rcpt via=policy action=tempfail" \
	"unreadable sender logged"

# the index missing
mv "$DB/data.mdb" "$CM_TMP/data.mdb.away"
wait_log "$PD_LOG" "data.mdb missing" "index missing noticed"
e2e_send "$CM_TMP/noindex.json" --from "$WEEKLY_FROM" --rcpt alice@example.com --rcpt bob@example.com
expect_rcpt "$CM_TMP/noindex.json" alice@example.com "$(defer_text alice@example.com)"
expect_rcpt "$CM_TMP/noindex.json" bob@example.com "$(defer_text bob@example.com)"
e2e_assert_eq none "$(e2e_q data "$CM_TMP/noindex.json")" "noindex: no DATA"
mv "$CM_TMP/data.mdb.away" "$DB/data.mdb"
wait_log "$PD_LOG" "reopened" "index back"
e2e_send "$CM_TMP/back.json" --from "$WEEKLY_FROM" --rcpt alice@example.com --rcpt bob@example.com
expect_rcpt "$CM_TMP/back.json" alice@example.com "250 2.1.5 Ok"
expect_rcpt "$CM_TMP/back.json" bob@example.com "$(deny_text bob@example.com weekly-news withdrawn)"
delivered=$((delivered + 1))
e2e_wait_delivered $delivered

# a malformed request: the error reply, the connection closed, no crash
out=$("$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"request=smtpd_access_policy\nno equals sign\n\n")
buf = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    buf += d
sys.stdout.write(buf.decode())' "$PPORT")
e2e_assert_eq $'action=451 4.3.0 Consent check failed, try again later' "$out" \
	"malformed request: error reply, then closed"
kill -0 "$PD_PID" || e2e_fail "consent-policy died"

# ------------------------------------ 3. monitor mode (reloaded by SIGHUP)
sed -e '/^milter:/a\  mode: monitor' "$CONF" >"$CM_TMP/monitor.yaml"
cp "$CM_TMP/monitor.yaml" "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
kill -HUP "$PD_PID"
wait_log "$PD_LOG" "reloaded" "reload on SIGHUP"
e2e_send "$CM_TMP/mon.json" --from "$WEEKLY_FROM" --rcpt bob@example.com --rcpt alice@example.com
e2e_assert_eq 2 "$(e2e_q rcpts "$CM_TMP/mon.json" | grep -c $'\t250\t')" "monitor: every RCPT accepted"
delivered=$((delivered + 1))
e2e_wait_delivered $delivered
mid=$(e2e_q field "$CM_TMP/mon.json" message_id)
e2e_assert_eq $'alice@example.com\nbob@example.com' "$(e2e_q delivered "$SINK_DIR" "$mid")" \
	"monitor: everyone delivered"
# monitor mode is never the fast path: the milter logs and records it
grep -q "mode=monitor" "$PD_LOG" && e2e_fail "monitor: consent-policy logged what the milter decides"
pd_stop

# ------------------------------------ 4. the decision log
recs=$(cat "$DECLOG"/decisions-*.jsonl)
qid=$(e2e_q field "$CM_TMP/env.json" queue_id)
for want in '"rcpt":"bob@example.com","verdict":"deny","reason":"withdrawn","action":"refused"' \
	'"rcpt":"dave@example.net","verdict":"deny","reason":"no-consent","action":"refused"' \
	'"rcpt":"carol@example.com","verdict":"error","reason":"sender-unreadable","action":"tempfailed"' \
	'"rcpt":"bob@example.com","verdict":"error","reason":"lookup-failed","action":"tempfailed"'; do
	grep -qF "$want" <<<"$recs" || e2e_fail "decision log: no record with $want"
done
for unwanted in '"verdict":"allow"' '"action":"monitored"'; do
	grep -qF "$unwanted" <<<"$recs" && e2e_fail "decision log: a record with $unwanted (the milter's to write)"
done
echo "ok - decision log records for deny and error, none for allow and monitor"
# Postfix knows the queue id once a recipient was accepted
grep -qF "\"queue_id\":\"$qid\",\"message_id\":null,\"sender\":\"$WEEKLY_FROM\",\"type\":\"weekly-news\",\"campaign\":null,\"rcpt\":\"dave@example.net\"" <<<"$recs" ||
	e2e_fail "decision log: dave's record without the queue id $qid"
echo "ok - decision log carries Postfix's queue id"

# ------------------------------------ 5. the milter's fast path
# 5a. only envelope types: the milter accepts the mail at MAIL FROM and
#     consent-policy decides every recipient
conf "$CM_TMP/fast.yaml" "  decides_envelope_types: true"
sed -i '/^  - id: offers$/,$d' "$CM_TMP/fast.yaml"
grep -q offers "$CM_TMP/fast.yaml" && e2e_fail "fast.yaml still has the header type"
pd_start "$CM_TMP/fast.yaml"
E2E_MILTER_LOG=$CM_TMP/milter-fast.log e2e_start_milter "$MPORT" "$CM" -f -c "$CM_TMP/fast.yaml"
e2e_pf_conf "smtpd_milters = inet:127.0.0.1:$MPORT"
e2e_pf_reload
pd_lines=$(wc -l <"$PD_LOG")
e2e_send "$CM_TMP/fast-env.json" --from "$WEEKLY_FROM" --rcpt alice@example.com --rcpt bob@example.com
expect_rcpt "$CM_TMP/fast-env.json" alice@example.com "250 2.1.5 Ok"
expect_rcpt "$CM_TMP/fast-env.json" bob@example.com "$(deny_text bob@example.com weekly-news withdrawn)"
delivered=$((delivered + 1))
e2e_wait_delivered $delivered
e2e_assert_eq alice@example.com "$(e2e_q delivered "$SINK_DIR" "$(e2e_q field "$CM_TMP/fast-env.json" message_id)")" \
	"fast path: the consented recipient delivered"
grep -q "rcpt=" "$MILTER_LOG" &&
	e2e_fail "the milter decided envelope-typed mail it should have accepted at MAIL FROM"
echo "ok - fast path: the milter accepted envelope-typed mail at MAIL FROM (no decision of its own)"
# (decision lines are written together within a moment: milter/log.h)
fast_lines() {
	tail -n +$((pd_lines + 1)) "$PD_LOG" |
		grep -c 'type=weekly-news rcpt=alice@example.com verdict=allow reason=none stage=rcpt via=policy$'
}
for ((i = 0; i < 100; i++)); do
	[ "$(fast_lines)" -ge 1 ] && break
	sleep 0.05
done
e2e_assert_eq 1 "$(fast_lines)" "fast path: consent-policy decided it"
wait_rec() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -qF "$1" "$DECLOG"/decisions-*.jsonl 2>/dev/null && return 0
		sleep 0.05
	done
	e2e_fail "decision log: no record with $1"
}
wait_rec '"rcpt":"alice@example.com","verdict":"allow","reason":"none","action":"allowed"'
echo "ok - fast path: consent-policy records the allowed recipient"
wait_log "$MILTER_LOG" "consent-policy enforces this configuration" "the interlock's first check logged"
# the interlock: consent-policy enforcing another file (one daemon
# reloaded, the other not): the milter decides every recipient itself
pd_stop
{ cat "$CM_TMP/fast.yaml"; echo "# changed, not yet reloaded by the milter"; } >"$CM_TMP/fast2.yaml"
pd_start "$CM_TMP/fast2.yaml"
e2e_send "$CM_TMP/fast-other.json" --from "$WEEKLY_FROM" --rcpt alice@example.com --rcpt bob@example.com
expect_rcpt "$CM_TMP/fast-other.json" alice@example.com "250 2.1.5 Ok"
expect_rcpt "$CM_TMP/fast-other.json" bob@example.com "$(deny_text bob@example.com weekly-news withdrawn)"
delivered=$((delivered + 1))
e2e_wait_delivered $delivered
wait_log "$MILTER_LOG" "stamp $CM_TMP/policy.stamp is for another configuration; the milter decides" \
	"interlock: another configuration logged"
wait_log "$MILTER_LOG" "type=weekly-news rcpt=alice@example.com verdict=allow" \
	"interlock: the milter decided the recipients itself"
echo "ok - interlock: consent-policy with another file, the milter decides"
# the same file again: the fast path again
pd_stop
[ -e "$CM_TMP/policy.stamp" ] && e2e_fail "the stamp was left behind by a stopped consent-policy"
pd_start "$CM_TMP/fast.yaml"
m_lines=$(grep -c "rcpt=" "$MILTER_LOG")
e2e_send "$CM_TMP/fast-again.json" --from "$WEEKLY_FROM" --rcpt alice@example.com
expect_rcpt "$CM_TMP/fast-again.json" alice@example.com "250 2.1.5 Ok"
delivered=$((delivered + 1))
e2e_wait_delivered $delivered
e2e_assert_eq 2 "$(grep -c "consent-policy enforces this configuration" "$MILTER_LOG")" \
	"interlock: the fast path taken again (logged once more)"
e2e_assert_eq "$m_lines" "$(grep -c "rcpt=" "$MILTER_LOG")" \
	"interlock: no decision of the milter's own on the fast path"
e2e_stop_milter TERM
# the milter was in the path: without it the same mail is deferred
e2e_send "$CM_TMP/fast-down.json" --from "$WEEKLY_FROM" --rcpt alice@example.com
e2e_assert_match '^4[0-9][0-9] ' "$(e2e_q mail "$CM_TMP/fast-down.json")" \
	"fast path: Postfix asks the milter (down: MAIL deferred)"
pd_stop

# 5b. a header type too: header-typed mail is decided by the milter; a
#     header could add that type to envelope-typed mail, so the milter
#     keeps deciding that as well (the fast path does not apply)
conf "$CONF" "  decides_envelope_types: true"
pd_start "$CONF"
E2E_MILTER_LOG=$CM_TMP/milter-both.log e2e_start_milter "$MPORT" "$CM" -f -c "$CONF"
e2e_send "$CM_TMP/both-hdr.json" --from campaigns@shop.example --rcpt alice@example.com \
	--rcpt bob@example.com --header "X-Newsletter-Type: offers"
e2e_send "$CM_TMP/both-env.json" --from "$WEEKLY_FROM" --rcpt alice@example.com \
	--rcpt bob@example.com --header "X-Newsletter-Type: offers"
expect_rcpt "$CM_TMP/both-hdr.json" alice@example.com "250 2.1.5 Ok"
expect_rcpt "$CM_TMP/both-hdr.json" bob@example.com "250 2.1.5 Ok"
expect_rcpt "$CM_TMP/both-env.json" bob@example.com "$(deny_text bob@example.com weekly-news withdrawn)"
delivered=$((delivered + 2))
e2e_wait_delivered $delivered
e2e_assert_eq alice@example.com "$(e2e_q delivered "$SINK_DIR" "$(e2e_q field "$CM_TMP/both-hdr.json" message_id)")" \
	"header-typed: bob removed by the milter"
e2e_assert_eq alice@example.com "$(e2e_q delivered "$SINK_DIR" "$(e2e_q field "$CM_TMP/both-env.json" message_id)")" \
	"envelope and header typed: alice (consent to both) delivered"
wait_log "$MILTER_LOG" "type=offers rcpt=bob@example.com verdict=deny reason=no-consent stage=eom action=remove" \
	"the milter decided the header-typed mail"
wait_log "$MILTER_LOG" "type=weekly-news,offers rcpt=alice@example.com verdict=allow" \
	"the milter decided envelope-typed mail a header typed further"

e2e_stop_milter TERM

# ------------------------------------ 6. the service only at END-OF-MESSAGE
# (misplaced): a newsletter is decided there all the same, never passed
e2e_pf_conf "smtpd_milters =" "smtpd_recipient_restrictions =" \
	"smtpd_end_of_data_restrictions = check_policy_service inet:127.0.0.1:$PPORT"
e2e_pf_reload
e2e_send "$CM_TMP/eod-one.json" --from "$WEEKLY_FROM" --rcpt bob@example.com
e2e_assert_match '^550 5\.7\.1 ' "$(e2e_q data "$CM_TMP/eod-one.json")" \
	"end of data: the only recipient withdrawn, the message refused"
e2e_send "$CM_TMP/eod-two.json" --from "$WEEKLY_FROM" --rcpt alice@example.com --rcpt bob@example.com
e2e_assert_match '^451 4\.3\.0 ' "$(e2e_q data "$CM_TMP/eod-two.json")" \
	"end of data: several recipients (none sent), the message deferred"
e2e_send "$CM_TMP/eod-ok.json" --from "$WEEKLY_FROM" --rcpt alice@example.com
e2e_assert_match '^250 ' "$(e2e_q data "$CM_TMP/eod-ok.json")" "end of data: the only recipient consented"
delivered=$((delivered + 1))
e2e_wait_delivered $delivered
wait_log "$PD_LOG" "not checked at RCPT reached the policy service at END-OF-MESSAGE" \
	"end of data: the misplaced service warned about"

e2e_settle 1
e2e_assert_eq $delivered "$(e2e_sink_count)" "no unexpected message at the sink"
pd_stop
echo "ok - consent-policy stopped gracefully on SIGTERM (exit 0)"
e2e_check_sanitizers
if grep -E 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: (Address|Undefined)' "$PD_LOG" >/dev/null; then
	e2e_fail "sanitizer report in $PD_LOG"
fi
echo "ok - no sanitizer report in consent-policy's stderr"
exit 0
