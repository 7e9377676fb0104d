#!/usr/bin/env bash
# Self-test of the end-to-end harness (tests/e2e/lib): a private Postfix
# instance relaying to the recording sink, no milter.  Proves that a
# message reaches the sink recipient by recipient, byte-identical, that a
# message with 1,000 recipients passes, and that mail deferred by the
# relay is retried and delivered once (the retry knobs work).
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init
e2e_start_sink
e2e_pf_setup ""
e2e_pf_start

# 1. one message, three recipients, quoted and mixed-case local parts
body=$'Line one.\n.leading dot\n\nUTF-8: gr\xc3\xbc\xc3\x9fe\n'
printf '%s' "$body" >"$CM_TMP/body.txt"
e2e_send "$CM_TMP/r1.json" --from sender@example.org \
	--rcpt a@example.com --rcpt 'Bob@Example.NET' --rcpt '"john doe"@example.com' \
	--header 'X-Test: harness' --body-file "$CM_TMP/body.txt"
e2e_assert_eq "250 2.1.0 Ok" "$(e2e_q mail "$CM_TMP/r1.json")" "MAIL accepted"
for r in a@example.com 'Bob@Example.NET' '"john doe"@example.com'; do
	e2e_assert_eq "250 2.1.5 Ok" "$(e2e_q rcpt "$CM_TMP/r1.json" "$r")" "RCPT $r accepted"
done
e2e_assert_match '^250 2\.0\.0 Ok: queued as ' "$(e2e_q data "$CM_TMP/r1.json")" "DATA accepted"
mid=$(e2e_q field "$CM_TMP/r1.json" message_id)
e2e_wait_delivered 1
e2e_assert_eq $'"john doe"@example.com\nBob@Example.NET\na@example.com' \
	"$(e2e_q delivered "$SINK_DIR" "$mid")" "each recipient delivered once, as sent"
e2e_assert_eq "sender@example.org" "$(e2e_q senders "$SINK_DIR" "$mid")" "envelope sender kept"
e2e_assert_eq "harness" "$(e2e_q header "$SINK_DIR" "$mid" X-Test)" "header kept"
e2e_q body "$SINK_DIR" "$mid" >"$CM_TMP/got.txt"
printf '%s' "$body" | sed 's/$/\r/' >"$CM_TMP/want.txt"
cmp -s "$CM_TMP/want.txt" "$CM_TMP/got.txt" || e2e_fail "body changed in transit"
echo "ok - body byte-identical (dot-stuffing and 8-bit data survive)"

# 2. 1,000 recipients in one message
seq -f 'user%g@bulk.example' 1 1000 >"$CM_TMP/rcpts.txt"
e2e_send "$CM_TMP/r2.json" --from sender@example.org --rcpt-file "$CM_TMP/rcpts.txt"
e2e_assert_eq 1000 "$(e2e_q rcpts "$CM_TMP/r2.json" | grep -c $'\t250\t')" "1000 RCPTs accepted"
mid=$(e2e_q field "$CM_TMP/r2.json" message_id)
e2e_wait_delivered 2
e2e_assert_eq "$(sort "$CM_TMP/rcpts.txt")" "$(e2e_q delivered "$SINK_DIR" "$mid")" \
	"1000 recipients delivered, each once"

# 3. the relay says 4xx: Postfix keeps the message and delivers it later
e2e_sink_ctl mail "451 4.3.0 sink: try again later"
e2e_send "$CM_TMP/r3.json" --from sender@example.org --rcpt c@example.com
mid=$(e2e_q field "$CM_TMP/r3.json" message_id)
for ((i = 0; i < 100; i++)); do
	grep -q 'status=deferred' "$PF_DIR/maillog" && break
	sleep 0.1
done
grep -q 'status=deferred' "$PF_DIR/maillog" || e2e_fail "no deferral logged"
e2e_assert_eq 1 "$(e2e_queue_count)" "deferred message stays in the queue"
e2e_q has "$SINK_DIR" "$mid" && e2e_fail "deferred message delivered"
e2e_sink_ctl mail
e2e_flush
e2e_wait_delivered 3
e2e_assert_eq "c@example.com" "$(e2e_q delivered "$SINK_DIR" "$mid")" "delivered after retry, once"
e2e_assert_eq 3 "$(e2e_sink_count)" "nothing else delivered"

# 4. with a milter (the benchmark's do-nothing milter) and
#    milter_default_action = tempfail: milter down -> 4xx, nothing
#    delivered; milter back -> the resent message is delivered.
NOOP=$BUILD/bench/noop_milter
if [ ! -x "$NOOP" ]; then
	echo "# $NOOP not built: milter part skipped"
	exit 0
fi
mkdir -p "$CM_TMP/noopdb"
printf 'a@example.com\n' | "$NOOP" -d "$CM_TMP/noopdb" -l 2>/dev/null || e2e_fail "noop_milter -l"
MPORT=$(e2e_freeport)
e2e_pf_conf "smtpd_milters = inet:127.0.0.1:$MPORT"
e2e_pf_reload
e2e_start_milter "$MPORT" "$NOOP" -s "inet:$MPORT@127.0.0.1" -d "$CM_TMP/noopdb"
e2e_send "$CM_TMP/r4.json" --from sender@example.org --rcpt a@example.com --rcpt d@example.com
e2e_assert_match '^250 ' "$(e2e_q data "$CM_TMP/r4.json")" "accepted with the milter up"
e2e_wait_delivered 4
e2e_stop_milter KILL
e2e_send "$CM_TMP/r5.json" --from sender@example.org --rcpt a@example.com
r5="$(e2e_q mail "$CM_TMP/r5.json") | $(e2e_q rcpt "$CM_TMP/r5.json" a@example.com) | $(e2e_q data "$CM_TMP/r5.json")"
e2e_assert_match '^(250 [^|]*\| )*4[0-9][0-9] 4\.[0-9.]+ [^|]*(\| none ?)*$' "$r5" "milter down: the client gets 4xx ($r5)"
e2e_settle 1
e2e_assert_eq 4 "$(e2e_sink_count)" "milter down: nothing delivered"
e2e_start_milter "$MPORT" "$NOOP" -s "inet:$MPORT@127.0.0.1" -d "$CM_TMP/noopdb"
e2e_send "$CM_TMP/r6.json" --from sender@example.org --rcpt a@example.com
e2e_assert_match '^250 ' "$(e2e_q data "$CM_TMP/r6.json")" "milter back: accepted"
e2e_wait_delivered 5
e2e_assert_eq a@example.com "$(e2e_q delivered "$SINK_DIR" "$(e2e_q field "$CM_TMP/r6.json" message_id)")" \
	"milter back: delivered"
e2e_stop_milter TERM
grep -q 'lookups=1 hits=1 errors=0' "$MILTER_LOG" || e2e_fail "noop milter did not look up a@example.com once"
echo "ok - the milter looked up the recipient once"
exit 0
