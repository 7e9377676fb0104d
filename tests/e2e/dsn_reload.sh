#!/usr/bin/env bash
# End to end through a real Postfix (issue 11, item 5): a reload applies
# the dsn: section, and no DSN is lost in the switch.
#   1. dsn.target changed by a reload: the next DSN goes to the new
#      target, none to the old one;
#   2. a DSN waiting in the spool for a target that tempfails goes to
#      the new target of a reload at once (same spool: one queue, its
#      settings changed in place);
#   3. a reload to another spool: new DSNs go through the new queue, and
#      the old queue keeps sending what it holds, with its own settings,
#      until it is empty, then closes;
#   4. a reload back to a spool whose old queue still drains: that queue
#      stops and the new one takes the spool over; nothing is sent twice;
#   5. an invalid file changes nothing: DSNs keep going where they went.
# The two DSN targets are recording sinks of their own on free loopback
# ports; "tempfails" is the sink answering 451 at MAIL.
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init

e2e_programs

e2e_index_granted alice@example.com offers

e2e_start_sink
e2e_start_aux_sink dsn-a
APORT=$AUX_PORT
e2e_start_aux_sink dsn-b
BPORT=$AUX_PORT
MPORT=$(e2e_freeport)
e2e_pf_setup "inet:127.0.0.1:$MPORT"
CONF=$CM_TMP/consent-milter.yaml
# conf TARGET_PORT SPOOL: the milter's configuration.
conf() {
	cat >"$CONF.new" <<EOF
$(e2e_cm_head "$MPORT" "$DB")
dsn:
  target: "inet:$1@127.0.0.1"
  spool: "$2"
  attempts: 50
  retry_delay: 1s
  max_delay: 1s
  timeout: 5s
  reporting_mta: mx.e2e.test
newsletters:
  - id: offers
    name: "Special offers"
    consent: opt-in
    match:
      - header:
          name: X-Newsletter-Type
          value: "offers"
EOF
	mv "$CONF.new" "$CONF"
}
conf "$APORT" "$CM_TMP/spool1"
e2e_start_milter "$MPORT" "$CM" -f -c "$CONF"
e2e_pf_start

# dsns SINK ADDR: DSNs at SINK (dsn-a, dsn-b) about removed recipient ADDR
dsns() {
	local n=0 f
	for f in "$CM_TMP/$1"/msgs/*.eml; do
		[ -e "$f" ] || continue
		grep -q "^Final-Recipient: rfc822;$2"$'\r'"\?$" "$f" && n=$((n + 1))
	done
	echo "$n"
}
# total SINK: every message at SINK
total() { find "$CM_TMP/$1/msgs" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l; }
# wait_for WHAT WANT CMD...: poll CMD until it prints WANT (30 s at most)
wait_for() {
	local what=$1 want=$2 i
	shift 2
	for ((i = 0; i < 300; i++)); do
		[ "$("$@")" = "$want" ] && return 0
		sleep 0.1
	done
	e2e_fail "after 30 s: $what (want $want, have $("$@"))"
}
logged() { grep -cE -- "$1" "$MILTER_LOG"; }
# reload: SIGUSR1, then wait until the milter has logged one more outcome
reload() {
	local n
	n=$(logged 'reloaded |reload failed')
	kill -USR1 "$MILTER_PID"
	wait_for "the milter logs the reload" $((n + 1)) logged 'reloaded |reload failed'
}
delivered=0
# send RCPT: alice@example.com (consented) and RCPT (removed, gets a DSN)
send() {
	e2e_send "$CM_TMP/send.json" --from news@offers.example.com \
		--header "X-Newsletter-Type: offers" --rcpt alice@example.com --rcpt "$1"
	[ "$(e2e_q data "$CM_TMP/send.json" | cut -c1-3)" = 250 ] ||
		e2e_fail "message not accepted: $(cat "$CM_TMP/send.json")"
	delivered=$((delivered + 1))
	e2e_wait_delivered $delivered
}

# ---------------------------------------- 1. a new target
send bob@example.com
wait_for "the first DSN reaches target A" 1 dsns dsn-a bob@example.com
conf "$BPORT" "$CM_TMP/spool1"
reload
grep -q "reload: DSN target inet:$BPORT@127.0.0.1 (was inet:$APORT@127.0.0.1)" "$MILTER_LOG" ||
	e2e_fail "the reload does not log the new DSN target"
send carol@example.com
wait_for "the DSN after the reload reaches target B" 1 dsns dsn-b carol@example.com
f=$(grep -l "^Final-Recipient: rfc822;carol@example.com" "$CM_TMP"/dsn-b/msgs/*.eml)
"$PY" "$SRCDIR/tests/cli/dsn_check.py" "$f" --sender news@offers.example.com --type offers \
	--host mx.e2e.test --header X-Newsletter-Type carol@example.com:no-consent ||
	e2e_fail "the DSN at the new target is not the DSN of the message"
e2e_assert_eq 1 "$(total dsn-a)" "nothing more reaches the old target"
echo "ok - a reload that changes dsn.target sends the next DSN to the new target"

# ---------------------------------------- 2. waiting DSN, same spool
printf '451 4.3.0 dsn-b: try again later\n' >"$CM_TMP/dsn-b/ctl/mail"
n=$(logged 'dsn id=.*: attempt [0-9]+ failed')
send dan@example.com
wait_for "the DSN for dan waits (target B tempfails)" 1 \
	eval "[ \$(logged 'dsn id=.*: attempt [0-9]+ failed') -gt $n ] && echo 1"
conf "$APORT" "$CM_TMP/spool1"
reload
wait_for "the waiting DSN reaches the new target A" 1 dsns dsn-a dan@example.com
wait_for "the spool is empty" "" ls "$CM_TMP/spool1"
e2e_assert_eq 0 "$(dsns dsn-b dan@example.com)" "the waiting DSN did not reach B as well"
rm -f "$CM_TMP/dsn-b/ctl/mail"
echo "ok - a DSN waiting for the old target goes to the new one at once"

# ---------------------------------------- 3. another spool: the old queue drains
printf '451 4.3.0 dsn-a: try again later\n' >"$CM_TMP/dsn-a/ctl/mail"
n=$(logged 'dsn id=.*: attempt [0-9]+ failed')
send erin@example.com
wait_for "the DSN for erin waits in spool1 (target A tempfails)" 1 \
	eval "[ \$(logged 'dsn id=.*: attempt [0-9]+ failed') -gt $n ] && echo 1"
conf "$BPORT" "$CM_TMP/spool2"
reload
grep -q "reload: DSN queue of $CM_TMP/spool2: new, target inet:$BPORT@127.0.0.1" "$MILTER_LOG" ||
	e2e_fail "the reload does not log the new DSN queue"
send fay@example.com
wait_for "the next DSN goes through the new queue to B" 1 dsns dsn-b fay@example.com
e2e_assert_eq 1 "$(ls "$CM_TMP/spool1" | grep -c '\.dsn$')" "the old queue still holds erin's DSN"
rm -f "$CM_TMP/dsn-a/ctl/mail"
wait_for "the old queue sends erin's DSN to its target A" 1 dsns dsn-a erin@example.com
wait_for "the old queue closes once empty" 1 logged "DSN queue of $CM_TMP/spool1: every DSN sent; closed"
e2e_assert_eq "" "$(ls "$CM_TMP/spool1")" "the old spool is empty"
e2e_assert_eq 0 "$(dsns dsn-b erin@example.com)" "erin's DSN was sent once"
echo "ok - a reload to another spool: the old queue sends what it holds, then closes"

# ---------------------------------------- 4. back to a spool whose queue drains
# spool2's queue holds a DSN for a target that tempfails; a reload moves
# to spool1, so spool2's queue drains; a reload back to spool2 takes its
# spool over: the draining queue stops, the new one sends the DSN, once.
printf '451 4.3.0 dsn-b: try again later\n' >"$CM_TMP/dsn-b/ctl/mail"
n=$(logged 'dsn id=.*: attempt [0-9]+ failed')
send hal@example.com
wait_for "the DSN for hal waits in spool2 (target B tempfails)" 1 \
	eval "[ \$(logged 'dsn id=.*: attempt [0-9]+ failed') -gt $n ] && echo 1"
conf "$APORT" "$CM_TMP/spool1"
reload
conf "$APORT" "$CM_TMP/spool2"
reload
wait_for "the draining queue hands spool2 over" 1 logged "DSN queue of $CM_TMP/spool2: handed over"
wait_for "hal's DSN reaches target A from spool2" 1 dsns dsn-a hal@example.com
wait_for "spool2 is empty" "" ls "$CM_TMP/spool2"
rm -f "$CM_TMP/dsn-b/ctl/mail"
e2e_assert_eq 0 "$(dsns dsn-b hal@example.com)" "hal's DSN was sent once"
echo "ok - a reload back to a spool whose queue drains takes the spool over, nothing sent twice"

# ---------------------------------------- 5. an invalid file changes nothing
printf 'dsn: [\n' >>"$CONF"
reload
grep -q 'reload failed; the previous policy stays in force' "$MILTER_LOG" || e2e_fail "invalid file not refused"
send gus@example.com
wait_for "after a failed reload DSNs still go to A" 1 dsns dsn-a gus@example.com
echo "ok - an invalid file changes nothing"

e2e_assert_eq 5 "$(total dsn-a)" "target A got bob's, dan's, erin's, hal's and gus's DSNs, nothing else"
e2e_assert_eq 2 "$(total dsn-b)" "target B got carol's and fay's DSNs, nothing else"
e2e_stop_milter TERM
e2e_check_sanitizers
echo "DSN reload end to end: all assertions passed"
