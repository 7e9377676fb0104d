#!/usr/bin/env bash
# End to end through a real Postfix (issue 4, SPEC §5): a private Postfix
# instance on loopback with smtpd_milters = consent-milter and
# milter_default_action = tempfail, relaying to the recording sink.  A
# real SMTP client sends newsletters of each kind to mixed recipients; we
# assert recipient by recipient what the client was told and what reached
# the sink.
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init

CM=$BUILD/consent-milter
CTL=$BUILD/consentctl
[ -x "$CM" ] || e2e_fail "$CM not built"
[ -x "$CTL" ] || e2e_fail "$CTL not built"

WEEKLY_FROM=weekly@news.example.com
R550='550 5.7.1'

# ---------------------------------------------------------------- set-up
MPORT=$(e2e_freeport)
DB=$CM_TMP/db
mkdir -p "$DB"
CONF=$CM_TMP/consent-milter.yaml
cat >"$CONF" <<EOF
milter:
  socket: "inet:$MPORT@127.0.0.1"
  mode: enforce
  on_error: tempfail
database:
  path: "$DB"
scope:
  authenticated: true
  networks:
    - 127.0.0.0/8
addresses:
  fold_local_case: true
  subaddress_separator: "+"
unclassified_bulk: accept
$(e2e_cm_newsletters "$WEEKLY_FROM")
EOF

# (Postfix itself drops a recipient that differs from an earlier one of the
# same message only in case, so every mixed-case recipient below is the
# only spelling of its address in its message.)
# Consent records:
#   alice@example.com      weekly-news granted, offers granted
#   bob@example.com        weekly-news withdrawn
#   carol@example.com      offers granted
#   dave@example.net       weekly-news granted, offers withdrawn
#   "john doe"@example.com weekly-news granted (consentctl grant)
#   frank@example.org      weekly-news granted, then objection to all (--all)
#   uN@bulk.example        weekly-news and offers granted for odd N
T1=2026-01-01T00:00:00Z T2=2026-02-01T00:00:00Z
{
	echo "email,type,state,time,source,basis,purpose,evidence"
	echo "alice@example.com,weekly-news,granted,$T1,import,consent,newsletter,e2e"
	echo "alice@example.com,offers,granted,$T1,import,consent,offers,e2e"
	echo "bob@example.com,weekly-news,withdrawn,$T2,import,consent,newsletter,e2e"
	echo "carol@example.com,offers,granted,$T1,import,consent,offers,e2e"
	echo "dave@example.net,weekly-news,granted,$T1,import,consent,newsletter,e2e"
	echo "dave@example.net,offers,withdrawn,$T2,import,consent,offers,e2e"
	echo "frank@example.org,weekly-news,granted,$T1,import,consent,newsletter,e2e"
	for ((n = 1; n <= 1000; n += 2)); do
		echo "u$n@bulk.example,weekly-news,granted,$T1,import,consent,newsletter,e2e"
		echo "u$n@bulk.example,offers,granted,$T1,import,consent,offers,e2e"
	done
} >"$CM_TMP/consents.csv"
"$CTL" -c "$CONF" import "$CM_TMP/consents.csv" >"$CM_TMP/import.out" 2>&1 ||
	{ cat "$CM_TMP/import.out" >&2; e2e_fail "consentctl import"; }
"$CTL" -c "$CONF" grant '"john doe"@example.com' weekly-news --source e2e >"$CM_TMP/ctl.out" 2>&1 ||
	{ cat "$CM_TMP/ctl.out" >&2; e2e_fail "consentctl grant (quoted local part)"; }
"$CTL" -c "$CONF" withdraw frank@example.org --all --source e2e >"$CM_TMP/ctl.out" 2>&1 ||
	{ cat "$CM_TMP/ctl.out" >&2; e2e_fail "consentctl withdraw --all"; }
echo "ok - index created with consentctl"

"$CM" -n -c "$CONF" >"$CM_TMP/check.out" 2>&1 ||
	{ cat "$CM_TMP/check.out" >&2; e2e_fail "consent-milter -n"; }
start_milter() { e2e_start_milter "$MPORT" "$CM" -f -c "$CONF"; }
start_milter

e2e_start_sink
e2e_pf_setup "inet:127.0.0.1:$MPORT"
e2e_pf_start

delivered=0	# messages the sink should hold so far

# expect_rcpt RESULT ADDR "CODE TEXT" [N]
expect_rcpt() {
	e2e_assert_eq "$3" "$(e2e_q rcpt "$1" "$2" "${4:-0}")" "RCPT $2: $3"
}
# deny_text ADDR TYPE REASON: the refusal the client must see
deny_text() { printf '%s <%s>: no consent for newsletter "%s" (%s)' "$R550" "$1" "$2" "$3"; }

# ------------------------------------ 1. type known from the envelope sender
e2e_send "$CM_TMP/env.json" --from "$WEEKLY_FROM" \
	--rcpt alice@example.com --rcpt bob@example.com --rcpt carol@example.com \
	--rcpt Dave@Example.NET --rcpt '"john doe"@example.com' \
	--rcpt frank@example.org --rcpt alice+weekly@example.com \
	--subject "Weekly news 47" --header "List-Unsubscribe: <https://news.example.com/u>"
expect_rcpt "$CM_TMP/env.json" alice@example.com "250 2.1.5 Ok"
expect_rcpt "$CM_TMP/env.json" bob@example.com "$(deny_text bob@example.com weekly-news withdrawn)"
expect_rcpt "$CM_TMP/env.json" carol@example.com "$(deny_text carol@example.com weekly-news no-consent)"
expect_rcpt "$CM_TMP/env.json" Dave@Example.NET "250 2.1.5 Ok"
expect_rcpt "$CM_TMP/env.json" '"john doe"@example.com' "250 2.1.5 Ok"
expect_rcpt "$CM_TMP/env.json" frank@example.org "$(deny_text frank@example.org weekly-news objection)"
expect_rcpt "$CM_TMP/env.json" alice+weekly@example.com "250 2.1.5 Ok"
e2e_assert_match '^250 2\.0\.0 Ok: queued as ' "$(e2e_q data "$CM_TMP/env.json")" "envelope-typed: DATA accepted"
# MAIL FROM goes without a wait (SMFIP_NR_MAIL): the milter's answer to a
# sender it cannot read (a local part over 64 octets, which Postfix
# passes; no rule matches it as written: on_error, tempfail) is given at
# the first RCPT and, for the recipients accepted after it, at DATA: two
# errors for the client, not one per recipient; nothing is queued.
e2e_send "$CM_TMP/unread.json" --from "$(printf 'w%.0s' {1..70})@news.example.com" \
	--rcpt alice@example.com --rcpt Dave@Example.NET --rcpt carol@example.com \
	--subject "Unreadable sender"
e2e_assert_match '^250 ' "$(e2e_q mail "$CM_TMP/unread.json")" "unreadable sender: MAIL FROM not waited for"
expect_rcpt "$CM_TMP/unread.json" alice@example.com "451 4.3.0 Consent check failed, try again later"
expect_rcpt "$CM_TMP/unread.json" Dave@Example.NET "250 2.1.5 Ok"
expect_rcpt "$CM_TMP/unread.json" carol@example.com "250 2.1.5 Ok"
e2e_assert_eq "451 4.3.0 Consent check failed, try again later" "$(e2e_q data "$CM_TMP/unread.json")" \
	"unreadable sender: DATA refused, nothing queued"
mid_env=$(e2e_q field "$CM_TMP/env.json" message_id)
delivered=$((delivered + 1))
e2e_wait_delivered $delivered
e2e_assert_eq "$(printf '%s\n' '"john doe"@example.com' Dave@Example.NET alice+weekly@example.com alice@example.com | sort)" \
	"$(e2e_q delivered "$SINK_DIR" "$mid_env")" "envelope-typed: exactly the consented recipients delivered"
e2e_assert_eq "$WEEKLY_FROM" "$(e2e_q senders "$SINK_DIR" "$mid_env")" "envelope-typed: sender kept"
grep -Eq 'type=weekly-news.*rcpt=<?bob@example\.com>?.*verdict=deny.*reason=withdrawn' "$MILTER_LOG" ||
	e2e_fail "no decision log line for bob@example.com"
echo "ok - decision logged: type, rcpt, verdict, reason"
# Postfix sends the queue id only from the second RCPT on: the first
# recipient's line is held for it and carries it all the same.
qid_env=$(e2e_q data "$CM_TMP/env.json" | sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p')
[ -n "$qid_env" ] || e2e_fail "no queue id in the reply to DATA"
grep -Eq "queue_id=$qid_env type=weekly-news rcpt=alice@example\.com verdict=allow" "$MILTER_LOG" ||
	e2e_fail "the first recipient's decision line lacks queue_id=$qid_env"
echo "ok - the first recipient's decision line carries the queue id ($qid_env)"

# ------------------------------------ 2. type known only from a header
e2e_send "$CM_TMP/hdr.json" --from campaigns@shop.example \
	--rcpt alice@example.com --rcpt bob@example.com --rcpt Carol@Example.com \
	--rcpt dave@example.net --rcpt '"john doe"@example.com' \
	--header "X-Newsletter-Type: offers" --subject "Offers of the week"
for r in alice@example.com bob@example.com Carol@Example.com dave@example.net '"john doe"@example.com'; do
	expect_rcpt "$CM_TMP/hdr.json" "$r" "250 2.1.5 Ok"
done
e2e_assert_match '^250 2\.0\.0 Ok: queued as ' "$(e2e_q data "$CM_TMP/hdr.json")" "header-typed: DATA accepted"
mid_hdr=$(e2e_q field "$CM_TMP/hdr.json" message_id)
delivered=$((delivered + 1))
e2e_wait_delivered $delivered
e2e_assert_eq "$(printf '%s\n' Carol@Example.com alice@example.com | sort)" \
	"$(e2e_q delivered "$SINK_DIR" "$mid_hdr")" \
	"header-typed: unconsented removed at end of data (incl. the quoted one), consented delivered"
e2e_assert_eq "type=offers; removed=3; kept=2" "$(e2e_q header "$SINK_DIR" "$mid_hdr" X-Consent-Milter)" \
	"header-typed: trace header"

# ------------------------------------ 3. header-typed, nobody consented
e2e_send "$CM_TMP/none.json" --from campaigns@shop.example \
	--rcpt bob@example.com --rcpt '"john doe"@example.com' --rcpt dave@example.net \
	--header "X-Newsletter-Type: offers"
e2e_assert_match "^$R550 " "$(e2e_q data "$CM_TMP/none.json")" "all removed: the message is refused at DATA with 550 5.7.1"
e2e_settle 1
e2e_assert_eq $delivered "$(e2e_sink_count)" "all removed: nothing delivered"
mid_none=$(e2e_q field "$CM_TMP/none.json" message_id)
e2e_q has "$SINK_DIR" "$mid_none" && e2e_fail "all removed: message reached the sink"

# ------------------------------------ 4. 1,000 recipients, half consented
seq -f 'u%g@bulk.example' 1 1000 >"$CM_TMP/bulk.txt"
awk 'NR % 2 == 1' "$CM_TMP/bulk.txt" | sort >"$CM_TMP/bulk-allowed.txt"
awk 'NR % 2 == 0' "$CM_TMP/bulk.txt" >"$CM_TMP/bulk-denied.txt"
e2e_send "$CM_TMP/bulk-env.json" --from "$WEEKLY_FROM" --rcpt-file "$CM_TMP/bulk.txt"
e2e_q rcpts "$CM_TMP/bulk-env.json" >"$CM_TMP/bulk-env.txt"
want=$( (awk 'NR % 2 == 1 {print $0 "\t250\t2.1.5 Ok"}' "$CM_TMP/bulk.txt"
	awk 'NR % 2 == 0 {printf "%s\t550\t5.7.1 <%s>: no consent for newsletter \"weekly-news\" (no-consent)\n", $0, $0}' "$CM_TMP/bulk.txt") | sort)
e2e_assert_eq "$want" "$(sort "$CM_TMP/bulk-env.txt")" "1,000 recipients (envelope): each RCPT answered as decided"
e2e_assert_match '^250 ' "$(e2e_q data "$CM_TMP/bulk-env.json")" "1,000 recipients (envelope): DATA accepted"
delivered=$((delivered + 1))
e2e_wait_delivered $delivered
e2e_assert_eq "$(cat "$CM_TMP/bulk-allowed.txt")" \
	"$(e2e_q delivered "$SINK_DIR" "$(e2e_q field "$CM_TMP/bulk-env.json" message_id)")" \
	"1,000 recipients (envelope): exactly the 500 consented delivered"

e2e_send "$CM_TMP/bulk-hdr.json" --from campaigns@shop.example --rcpt-file "$CM_TMP/bulk.txt" \
	--header "X-Newsletter-Type: offers"
e2e_assert_eq 1000 "$(e2e_q rcpts "$CM_TMP/bulk-hdr.json" | grep -c $'\t250\t')" \
	"1,000 recipients (header): all RCPTs accepted"
e2e_assert_match '^250 ' "$(e2e_q data "$CM_TMP/bulk-hdr.json")" "1,000 recipients (header): DATA accepted"
mid=$(e2e_q field "$CM_TMP/bulk-hdr.json" message_id)
delivered=$((delivered + 1))
e2e_wait_delivered $delivered
e2e_assert_eq "$(cat "$CM_TMP/bulk-allowed.txt")" "$(e2e_q delivered "$SINK_DIR" "$mid")" \
	"1,000 recipients (header): exactly the 500 consented delivered"
e2e_assert_eq "type=offers; removed=500; kept=500" "$(e2e_q header "$SINK_DIR" "$mid" X-Consent-Milter)" \
	"1,000 recipients (header): trace header"

# ------------------------------------ 5. not a newsletter: untouched
body=$'Your order 1234 has shipped.\n.a line starting with a dot\n\ttab, trailing space \nUTF-8: \xc3\xa9t\xc3\xa9\n'
printf '%s' "$body" >"$CM_TMP/order.txt"
e2e_send "$CM_TMP/other.json" --from orders@shop.example \
	--rcpt bob@example.com --rcpt carol@example.com --rcpt '"john doe"@example.com' --rcpt Frank@Example.org \
	--subject "Your order" --body-file "$CM_TMP/order.txt"
for r in bob@example.com carol@example.com '"john doe"@example.com' Frank@Example.org; do
	expect_rcpt "$CM_TMP/other.json" "$r" "250 2.1.5 Ok"
done
mid=$(e2e_q field "$CM_TMP/other.json" message_id)
delivered=$((delivered + 1))
e2e_wait_delivered $delivered
e2e_assert_eq "$(printf '%s\n' '"john doe"@example.com' Frank@Example.org bob@example.com carol@example.com | sort)" \
	"$(e2e_q delivered "$SINK_DIR" "$mid")" "non-newsletter: every recipient delivered"
e2e_q body "$SINK_DIR" "$mid" >"$CM_TMP/order.got"
printf '%s' "$body" | sed 's/$/\r/' >"$CM_TMP/order.want"
cmp -s "$CM_TMP/order.want" "$CM_TMP/order.got" || e2e_fail "non-newsletter: body changed"
echo "ok - non-newsletter: body byte-identical"
e2e_assert_eq "" "$(e2e_q header "$SINK_DIR" "$mid" X-Consent-Milter)" "non-newsletter: no trace header"

# ------------------------------------ 6. milter down: deferred, nothing lost
# 6a. stopped between sessions: the client is told 4xx and keeps the mail
e2e_stop_milter TERM
e2e_send "$CM_TMP/down.json" --from "$WEEKLY_FROM" --rcpt alice@example.com --rcpt bob@example.com \
	--message-id "<down-1@e2e.test>"
r="$(e2e_q mail "$CM_TMP/down.json") | $(e2e_q rcpt "$CM_TMP/down.json" alice@example.com) | $(e2e_q data "$CM_TMP/down.json")"
e2e_assert_match '^(250 [^|]*\| )*4[0-9][0-9] 4\.[0-9.]+ [^|]*(\| none ?)*$' "$r" "milter stopped: 4xx to the client ($r)"
# 6b. killed in the middle of a transaction (after RCPT, before DATA)
start_milter
mkdir -p "$CM_TMP/pause"
"$PY" "$E2E_LIB/smtpclient.py" --port "$PF_PORT" --out "$CM_TMP/mid.json" \
	--from "$WEEKLY_FROM" --rcpt alice@example.com --rcpt bob@example.com --rcpt Dave@Example.NET \
	--message-id "<down-2@e2e.test>" --pause-before-data "$CM_TMP/pause" &
client=$!
e2e_on_exit "e2e_kill_pid $client 2"
for ((i = 0; i < 200; i++)); do [ -e "$CM_TMP/pause/ready" ] && break; sleep 0.05; done
[ -e "$CM_TMP/pause/ready" ] || e2e_fail "client did not reach DATA"
e2e_stop_milter KILL
touch "$CM_TMP/pause/go"
wait "$client" || e2e_fail "client failed"
E2E_DONE+="$client "
expect_rcpt "$CM_TMP/mid.json" alice@example.com "250 2.1.5 Ok"
expect_rcpt "$CM_TMP/mid.json" bob@example.com "$(deny_text bob@example.com weekly-news withdrawn)"
e2e_assert_match '^4[0-9][0-9] 4\.' "$(e2e_q data "$CM_TMP/mid.json")" "milter killed mid-transaction: DATA gets 4xx"
e2e_settle 2
e2e_assert_eq $delivered "$(e2e_sink_count)" "milter down: nothing delivered"
e2e_assert_eq 0 "$(e2e_queue_count)" "milter down: nothing queued (the client keeps it)"
# 6c. milter back: the client retries and exactly the consented get it
start_milter
for m in 1 2; do
	e2e_send "$CM_TMP/retry$m.json" --from "$WEEKLY_FROM" --rcpt alice@example.com --rcpt bob@example.com \
		--rcpt Dave@Example.NET --message-id "<down-$m@e2e.test>"
	expect_rcpt "$CM_TMP/retry$m.json" alice@example.com "250 2.1.5 Ok"
	expect_rcpt "$CM_TMP/retry$m.json" bob@example.com "$(deny_text bob@example.com weekly-news withdrawn)"
	e2e_assert_match '^250 ' "$(e2e_q data "$CM_TMP/retry$m.json")" "retry $m: accepted"
	delivered=$((delivered + 1))
	e2e_wait_delivered $delivered
	e2e_assert_eq $'Dave@Example.NET\nalice@example.com' "$(e2e_q delivered "$SINK_DIR" "<down-$m@e2e.test>")" \
		"retry $m: delivered once, to exactly the consented recipients"
done

# ------------------------------------ 7. monitor mode: decided, nothing changed
sed 's/^  mode: enforce$/  mode: monitor/' "$CONF" >"$CM_TMP/monitor.yaml"
grep -q '^  mode: monitor$' "$CM_TMP/monitor.yaml" || e2e_fail "monitor config not made"
e2e_stop_milter TERM
e2e_start_milter "$MPORT" "$CM" -f -c "$CM_TMP/monitor.yaml"
e2e_send "$CM_TMP/mon-env.json" --from "$WEEKLY_FROM" \
	--rcpt alice@example.com --rcpt bob@example.com --rcpt carol@example.com
e2e_send "$CM_TMP/mon-hdr.json" --from campaigns@shop.example \
	--rcpt alice@example.com --rcpt bob@example.com --rcpt '"john doe"@example.com' \
	--header "X-Newsletter-Type: offers"
for f in mon-env mon-hdr; do
	e2e_assert_eq 3 "$(e2e_q rcpts "$CM_TMP/$f.json" | grep -c $'\t250\t')" "monitor ($f): every RCPT accepted"
	e2e_assert_match '^250 ' "$(e2e_q data "$CM_TMP/$f.json")" "monitor ($f): DATA accepted"
done
delivered=$((delivered + 2))
e2e_wait_delivered $delivered
mid=$(e2e_q field "$CM_TMP/mon-env.json" message_id)
e2e_assert_eq $'alice@example.com\nbob@example.com\ncarol@example.com' "$(e2e_q delivered "$SINK_DIR" "$mid")" \
	"monitor (envelope): everyone delivered"
e2e_assert_eq "type=weekly-news; removed=0; kept=3; mode=monitor; denied=2" \
	"$(e2e_q header "$SINK_DIR" "$mid" X-Consent-Milter)" "monitor (envelope): trace header"
mid=$(e2e_q field "$CM_TMP/mon-hdr.json" message_id)
e2e_assert_eq $'"john doe"@example.com\nalice@example.com\nbob@example.com' "$(e2e_q delivered "$SINK_DIR" "$mid")" \
	"monitor (header): everyone delivered"
e2e_assert_eq "type=offers; removed=0; kept=3; mode=monitor; denied=2" \
	"$(e2e_q header "$SINK_DIR" "$mid" X-Consent-Milter)" "monitor (header): trace header"

# ------------------------------------ end: graceful stop, nothing else delivered
e2e_settle 1
e2e_assert_eq $delivered "$(e2e_sink_count)" "no unexpected message at the sink"
e2e_stop_milter TERM
echo "ok - milter stopped gracefully on SIGTERM (exit 0)"
e2e_check_sanitizers
exit 0
