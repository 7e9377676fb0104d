#!/usr/bin/env bash
# End to end through a real Postfix (issue 5): DSNs that cannot be sent
# are kept and retried, never lost.
#   1. the DSN target is down (nothing listens): the DSN waits in the
#      spool as pending, and is delivered once the target is back;
#   2. the target stays down: after its attempts the DSN stays in the
#      spool as failed, `consentctl dsn list` shows it with the last
#      error, and `consentctl dsn resend` delivers it.
# The DSN target here is a recording sink of its own (started and stopped
# by this test), so that "down" is a refused connection.  Part 1 runs
# with more attempts than it can use, so that a slow machine cannot see
# the DSN given up before the target is back; part 2 restarts the milter
# with 3 attempts.  Every wait is for a condition (a log line, a spool
# state, a delivery), never for a fixed time.
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init

e2e_programs

e2e_index_granted alice@example.com offers

e2e_start_sink
MPORT=$(e2e_freeport)
e2e_pf_setup "inet:127.0.0.1:$MPORT"
DPORT=$(e2e_freeport)
DSINK=$CM_TMP/dsnsink
SPOOL=$CM_TMP/dsnspool
CONF=$CM_TMP/consent-milter.yaml
# conf ATTEMPTS: the configuration, with dsn.attempts ATTEMPTS
conf() {
	cat >"$CONF" <<EOF
$(e2e_cm_head "$MPORT" "$DB")
dsn:
  target: "inet:$DPORT@127.0.0.1"
  spool: "$SPOOL"
  attempts: $1
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
}
conf 100
e2e_start_milter "$MPORT" "$CM" -f -c "$CONF"
e2e_pf_start

DSINK_PID=
start_dsn_sink() {
	mkdir -p "$DSINK"
	"$PY" "$E2E_LIB/sink.py" --dir "$DSINK" --port "$DPORT" >>"$CM_TMP/dsnsink.log" 2>&1 &
	DSINK_PID=$!
	e2e_on_exit "e2e_kill_pid $DSINK_PID 5"
	e2e_wait_listen "$DPORT" "$DSINK_PID" 10
}
dsn_count() { [ -d "$DSINK/msgs" ] && "$PY" "$E2E_LIB/e2eq.py" count "$DSINK" || echo 0; }

# spooled STATE: number of spooled DSNs in STATE (pending or failed)
spooled() {
	"$CTL" -c "$CONF" dsn list --json >"$CM_TMP/list.json" || e2e_fail "dsn list failed"
	"$PY" - "$CM_TMP/list.json" "$1" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    if line.strip():
        d = json.loads(line)
        n += d.get("state") == sys.argv[2]
print(n)
PY
}

# wait_for WHAT CMD...: poll CMD (prints a number) until it prints 1
wait_for() {
	local what=$1 i
	shift
	for ((i = 0; i < 300; i++)); do
		[ "$("$@")" = 1 ] && return 0
		sleep 0.1
	done
	e2e_fail "after 30 s: $what"
}

# logged_retry: 1 once the log says that a second attempt failed, and why
logged_retry() {
	grep -q 'dsn id=.*: attempt 2 failed, retry in 1s: connect to 127.0.0.1 .*refused' "$MILTER_LOG" &&
		echo 1
}
# logged_sent: 1 once the log says that one DSN was delivered
logged_sent() { [ "$(grep -c 'dsn id=.*: delivered to ' "$MILTER_LOG")" = 1 ] && echo 1; }

# send RCPT...: a header-typed newsletter from news@offers.example.com
send() {
	e2e_send "$CM_TMP/send.json" --from news@offers.example.com \
		--header "X-Newsletter-Type: offers" "${@/#/--rcpt=}"
	[ "$(e2e_q data "$CM_TMP/send.json" | cut -c1-3)" = 250 ] ||
		e2e_fail "message not accepted: $(cat "$CM_TMP/send.json")"
	e2e_q field "$CM_TMP/send.json" message_id
}

# ---------------------------------------- 1. target down, then back
mid=$(send alice@example.com bob@example.com)
e2e_wait_delivered 1
e2e_assert_eq alice@example.com "$(e2e_q delivered "$SINK_DIR" "$mid")" "the consented recipient got the newsletter"
wait_for "the DSN is spooled as pending" spooled pending
# one more attempt fails (of 100, one a second: not given up meanwhile)
wait_for "the milter's log says why the DSN waits" logged_retry
e2e_assert_eq 1 "$(spooled pending)" "the DSN is still pending while the target is down"
echo "ok - target down: the DSN waits in the spool as pending; the log says why"
start_dsn_sink
wait_for "the DSN is delivered once the target is back" dsn_count
f=$(e2e_q files "$DSINK")
"$PY" "$SRCDIR/tests/cli/dsn_check.py" "$f" --sender news@offers.example.com --type offers \
	--host mx.e2e.test --header X-Newsletter-Type --header Message-ID bob@example.com:no-consent ||
	e2e_fail "the retried DSN is not the DSN of the message"
grep -q "^Message-ID: $mid" "$f" || e2e_fail "the DSN lacks the original headers"
wait_for "the milter logs the delivery" logged_sent
e2e_assert_eq "" "$(ls "$SPOOL")" "the spool is empty once the DSN is accepted"
e2e_assert_eq 1 "$(dsn_count)" "the DSN was delivered once"
echo "ok - target back: the DSN is delivered once, and leaves the spool"

# ---------------------------------------- 2. target down for good
e2e_kill_pid "$DSINK_PID" 5
e2e_stop_milter TERM
conf 3
e2e_start_milter "$MPORT" "$CM" -f -c "$CONF"
mid=$(send alice@example.com carol@example.com)
e2e_wait_delivered 2
wait_for "the DSN is given up after its attempts" spooled failed
e2e_assert_eq 0 "$(spooled pending)" "nothing else pending"
e2e_assert_eq 1 "$(dsn_count)" "no DSN delivered while the target is down"
"$CTL" -c "$CONF" dsn list >"$CM_TMP/list.txt" || e2e_fail "dsn list"
grep -q 'failed' "$CM_TMP/list.txt" && grep -q 'news@offers.example.com' "$CM_TMP/list.txt" ||
	e2e_fail "dsn list does not show the failed DSN: $(cat "$CM_TMP/list.txt")"
echo "ok - target down for good: the DSN stays in the spool as failed, and is listed"
"$CTL" -c "$CONF" dsn resend --all --target "inet:$SINK_PORT@127.0.0.1" >"$CM_TMP/resend.txt" 2>&1 ||
	e2e_fail "dsn resend: $(cat "$CM_TMP/resend.txt")"
f=$(e2e_q files "$SINK_DIR" | while read -r m; do grep -l "^Message-ID: $mid" "$m"; done | while read -r m; do
	"$PY" - "$m" <<'PY' && echo "$m"
import email, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
sys.exit(0 if m.get_content_type() == "multipart/report" else 1)
PY
done)
[ -n "$f" ] || e2e_fail "the resent DSN did not reach the sink"
"$PY" "$SRCDIR/tests/cli/dsn_check.py" "$f" --sender news@offers.example.com --type offers \
	--host mx.e2e.test --header Message-ID carol@example.com:no-consent ||
	e2e_fail "the resent DSN is not the DSN of the message"
e2e_assert_eq "" "$(ls "$SPOOL")" "the spool is empty once the DSN is resent"
echo "ok - consentctl dsn resend delivers the failed DSN"
e2e_stop_milter TERM
e2e_check_sanitizers
echo "DSN retry and spool end to end: all assertions passed"
