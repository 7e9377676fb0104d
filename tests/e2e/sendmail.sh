#!/usr/bin/env bash
# End to end through a real Sendmail 8.17 (issue 6): a private instance
# unpacked from Debian's packages (never installed: it conflicts with
# Postfix; see tests/e2e/lib/sendmail.sh), on loopback, with
# INPUT_MAIL_FILTER(`consent', `S=unix:..., F=T, ...') and the recording
# sink as smart host.  The same per-recipient assertions as the Postfix
# test: RCPT refusal with the exact reply, end-of-data removal (Sendmail
# matches smfi_delrcpt by parsing the address), all removed -> refused,
# non-newsletter untouched, milter down -> 4xx (F=T), nothing lost, and
# delivered once after the milter is back.
#
# The milter listens on a unix socket, Sendmail's usual transport.  (Over
# inet: Sendmail writes the macro packet and the RCPT command as two small
# TCP segments and waits for the reply, so Nagle's algorithm and delayed
# ACKs cost about 40 ms per recipient.)
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
. "$SRCDIR/tests/e2e/lib/sendmail.sh"
e2e_init

CM=$BUILD/consent-milter
[ -x "$CM" ] || e2e_fail "$CM not built"
command -v pkg-config >/dev/null || e2e_skip "pkg-config missing"
sm_fetch

WEEKLY_FROM=weekly@news.example.com
R550='550 5.7.1'

# ---------------------------------------------------------------- set-up
# The consent index, written with the protocol tests' seed tool.
#   alice@example.com      weekly-news granted, offers granted
#   bob@example.com        weekly-news withdrawn
#   carol@example.com      offers granted
#   dave@example.net       weekly-news granted, offers withdrawn
#   "john.doe"@example.com weekly-news granted (sent quoted)
#   "john doe"@example.com nothing (the seed tool cannot write it)
#   frank@example.org      weekly-news granted, then objection to all
#   uN@bulk.example        weekly-news and offers granted for odd N
e2e_seed_tool
DB=$CM_TMP/db
mkdir -p "$DB"
{
	echo "grant alice@example.com weekly-news"
	echo "grant alice@example.com offers"
	echo "grant bob@example.com weekly-news 30"
	echo "withdraw bob@example.com weekly-news"
	echo "grant carol@example.com offers"
	echo "grant dave@example.net weekly-news"
	echo "grant dave@example.net offers 30"
	echo "withdraw dave@example.net offers"
	echo "grant john.doe@example.com weekly-news"
	echo "grant frank@example.org weekly-news"
	echo "object frank@example.org"
	for ((n = 1; n <= 1000; n += 2)); do
		echo "grant u$n@bulk.example weekly-news"
		echo "grant u$n@bulk.example offers"
	done
} | "$CM_TMP/seed" "$DB" || e2e_fail "seeding the index"
echo "ok - index seeded"

MSOCK=$CM_TMP/milter.sock
CONF=$CM_TMP/consent-milter.yaml
cat >"$CONF" <<EOF
milter:
  socket: "unix:$MSOCK"
  socket_mode: "0660"
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
"$CM" -n -c "$CONF" >"$CM_TMP/check.out" 2>&1 ||
	{ cat "$CM_TMP/check.out" >&2; e2e_fail "consent-milter -n"; }
start_milter() { sm_start_milter "$MSOCK" "$CM" -f -c "$CONF"; }
start_milter

e2e_start_sink
sm_setup "unix:$MSOCK"
grep -q "^Xconsent, S=unix:$MSOCK, F=T, " "$SM_CF" || e2e_fail "no Xconsent line with F=T in $SM_CF"
echo "ok - sendmail.cf has the filter with F=T"
sm_start

delivered=0	# messages the sink should hold so far

# expect_rcpt RESULT ADDR "CODE TEXT" [N]
expect_rcpt() {
	e2e_assert_eq "$3" "$(e2e_q rcpt "$1" "$2" "${4:-0}")" "RCPT $2: $3"
}
# ok_text ADDR: Sendmail's reply to an accepted recipient
ok_text() { printf '250 2.1.5 <%s>... Recipient ok' "$1"; }
# deny_text ADDR TYPE REASON: the refusal the client must see.  Sendmail
# puts "<rcpt>... " before the text of every RCPT reply, the milter's
# included, so the client gets the milter's exact reply
# (550 5.7.1 <rcpt>: no consent for newsletter "T" (reason)) with that
# prefix: 550 5.7.1 <rcpt>... <rcpt>: no consent ...
deny_text() { printf '%s <%s>... <%s>: no consent for newsletter "%s" (%s)' "$R550" "$1" "$1" "$2" "$3"; }
# queue_id RESULT: Sendmail's queue id from the DATA reply
queue_id() { e2e_q data "$1" | sed -n 's/^250 2\.0\.0 \([0-9A-Za-z]*\) Message accepted for delivery$/\1/p'; }

# ------------------------------------ 1. type known from the envelope sender
sm_send "$CM_TMP/env.json" --from "$WEEKLY_FROM" \
	--rcpt alice@example.com --rcpt bob@example.com --rcpt carol@example.com \
	--rcpt Dave@Example.NET --rcpt '"john.doe"@example.com' --rcpt '"john doe"@example.com' \
	--rcpt frank@example.org --rcpt alice+weekly@example.com \
	--subject "Weekly news 47" --header "List-Unsubscribe: <https://news.example.com/u>"
expect_rcpt "$CM_TMP/env.json" alice@example.com "$(ok_text alice@example.com)"
expect_rcpt "$CM_TMP/env.json" bob@example.com "$(deny_text bob@example.com weekly-news withdrawn)"
expect_rcpt "$CM_TMP/env.json" carol@example.com "$(deny_text carol@example.com weekly-news no-consent)"
expect_rcpt "$CM_TMP/env.json" Dave@Example.NET "$(ok_text Dave@Example.NET)"
expect_rcpt "$CM_TMP/env.json" '"john.doe"@example.com' "$(ok_text '"john.doe"@example.com')"
expect_rcpt "$CM_TMP/env.json" '"john doe"@example.com' "$(deny_text '"john doe"@example.com' weekly-news no-consent)"
expect_rcpt "$CM_TMP/env.json" frank@example.org "$(deny_text frank@example.org weekly-news objection)"
expect_rcpt "$CM_TMP/env.json" alice+weekly@example.com "$(ok_text alice+weekly@example.com)"
qid=$(queue_id "$CM_TMP/env.json")
[ -n "$qid" ] || e2e_fail "envelope-typed: DATA not accepted: $(e2e_q data "$CM_TMP/env.json")"
echo "ok - envelope-typed: DATA accepted as $qid"
mid_env=$(e2e_q field "$CM_TMP/env.json" message_id)
delivered=$((delivered + 1))
sm_wait_delivered $delivered
e2e_assert_eq "$(printf '%s\n' '"john.doe"@example.com' Dave@Example.NET alice+weekly@example.com alice@example.com | sort)" \
	"$(e2e_q delivered "$SINK_DIR" "$mid_env")" "envelope-typed: exactly the consented recipients delivered"
e2e_assert_eq "$WEEKLY_FROM" "$(e2e_q senders "$SINK_DIR" "$mid_env")" "envelope-typed: sender kept"
# Sendmail knows its queue id at MAIL: the RCPT-time decisions carry it.
grep -Eq "queue_id=$qid .*type=weekly-news.*rcpt=<?bob@example\.com>?.*verdict=deny.*reason=withdrawn" "$MILTER_LOG" ||
	e2e_fail "no decision log line with queue_id=$qid for bob@example.com"
echo "ok - RCPT-time decision logged with Sendmail's queue id"

# ------------------------------------ 2. type known only from a header
sm_send "$CM_TMP/hdr.json" --from campaigns@shop.example \
	--rcpt alice@example.com --rcpt bob@example.com --rcpt Carol@Example.com \
	--rcpt dave@example.net --rcpt '"john doe"@example.com' \
	--header "X-Newsletter-Type: offers" --subject "Offers of the week"
for r in alice@example.com bob@example.com Carol@Example.com dave@example.net '"john doe"@example.com'; do
	expect_rcpt "$CM_TMP/hdr.json" "$r" "$(ok_text "$r")"
done
qid=$(queue_id "$CM_TMP/hdr.json")
[ -n "$qid" ] || e2e_fail "header-typed: DATA not accepted: $(e2e_q data "$CM_TMP/hdr.json")"
echo "ok - header-typed: DATA accepted as $qid"
mid_hdr=$(e2e_q field "$CM_TMP/hdr.json" message_id)
delivered=$((delivered + 1))
sm_wait_delivered $delivered
e2e_assert_eq "$(printf '%s\n' Carol@Example.com alice@example.com | sort)" \
	"$(e2e_q delivered "$SINK_DIR" "$mid_hdr")" \
	"header-typed: unconsented removed at end of data (incl. the quoted one), consented delivered"
e2e_assert_eq "type=offers; removed=3; kept=2" "$(e2e_q header "$SINK_DIR" "$mid_hdr" X-Consent-Milter)" \
	"header-typed: trace header"
grep -Eq "queue_id=$qid .*type=offers.*rcpt=[^ ]*john[^ ]*doe@example\.com .*verdict=deny" "$MILTER_LOG" ||
	e2e_fail "no decision log line with queue_id=$qid for \"john doe\"@example.com"
echo "ok - end-of-data decision logged with Sendmail's queue id"

# ------------------------------------ 3. header-typed, nobody consented
sm_send "$CM_TMP/none.json" --from campaigns@shop.example \
	--rcpt bob@example.com --rcpt '"john doe"@example.com' --rcpt dave@example.net \
	--header "X-Newsletter-Type: offers"
e2e_assert_match "^$R550 " "$(e2e_q data "$CM_TMP/none.json")" "all removed: the message is refused at DATA with 550 5.7.1"
sm_settle 1
e2e_assert_eq $delivered "$(e2e_sink_count)" "all removed: nothing delivered"
e2e_q has "$SINK_DIR" "$(e2e_q field "$CM_TMP/none.json" message_id)" && e2e_fail "all removed: message reached the sink"

# ------------------------------------ 4. 1,000 recipients, half consented
seq -f 'u%g@bulk.example' 1 1000 >"$CM_TMP/bulk.txt"
awk 'NR % 2 == 1' "$CM_TMP/bulk.txt" | sort >"$CM_TMP/bulk-allowed.txt"
sm_send "$CM_TMP/bulk-env.json" --from "$WEEKLY_FROM" --rcpt-file "$CM_TMP/bulk.txt"
want=$( (awk 'NR % 2 == 1 {printf "%s\t250\t2.1.5 <%s>... Recipient ok\n", $0, $0}' "$CM_TMP/bulk.txt"
	awk 'NR % 2 == 0 {printf "%s\t550\t5.7.1 <%s>... <%s>: no consent for newsletter \"weekly-news\" (no-consent)\n", $0, $0, $0}' "$CM_TMP/bulk.txt") | sort)
e2e_assert_eq "$want" "$(e2e_q rcpts "$CM_TMP/bulk-env.json" | sort)" "1,000 recipients (envelope): each RCPT answered as decided"
e2e_assert_match '^250 ' "$(e2e_q data "$CM_TMP/bulk-env.json")" "1,000 recipients (envelope): DATA accepted"
delivered=$((delivered + 1))
sm_wait_delivered $delivered
e2e_assert_eq "$(cat "$CM_TMP/bulk-allowed.txt")" \
	"$(e2e_q delivered "$SINK_DIR" "$(e2e_q field "$CM_TMP/bulk-env.json" message_id)")" \
	"1,000 recipients (envelope): exactly the 500 consented delivered"

sm_send "$CM_TMP/bulk-hdr.json" --from campaigns@shop.example --rcpt-file "$CM_TMP/bulk.txt" \
	--header "X-Newsletter-Type: offers"
e2e_assert_eq 1000 "$(e2e_q rcpts "$CM_TMP/bulk-hdr.json" | grep -c $'\t250\t')" \
	"1,000 recipients (header): all RCPTs accepted"
e2e_assert_match '^250 ' "$(e2e_q data "$CM_TMP/bulk-hdr.json")" "1,000 recipients (header): DATA accepted"
mid=$(e2e_q field "$CM_TMP/bulk-hdr.json" message_id)
delivered=$((delivered + 1))
sm_wait_delivered $delivered
e2e_assert_eq "$(cat "$CM_TMP/bulk-allowed.txt")" "$(e2e_q delivered "$SINK_DIR" "$mid")" \
	"1,000 recipients (header): exactly the 500 consented delivered"
e2e_assert_eq "type=offers; removed=500; kept=500" "$(e2e_q header "$SINK_DIR" "$mid" X-Consent-Milter)" \
	"1,000 recipients (header): trace header"

# ------------------------------------ 5. not a newsletter: untouched
body=$'Your order 1234 has shipped.\n.a line starting with a dot\n\ttab, trailing space \nUTF-8: \xc3\xa9t\xc3\xa9\n'
printf '%s' "$body" >"$CM_TMP/order.txt"
sm_send "$CM_TMP/other.json" --from orders@shop.example \
	--rcpt bob@example.com --rcpt carol@example.com --rcpt '"john doe"@example.com' --rcpt Frank@Example.org \
	--subject "Your order" --body-file "$CM_TMP/order.txt"
for r in bob@example.com carol@example.com '"john doe"@example.com' Frank@Example.org; do
	expect_rcpt "$CM_TMP/other.json" "$r" "$(ok_text "$r")"
done
mid=$(e2e_q field "$CM_TMP/other.json" message_id)
delivered=$((delivered + 1))
sm_wait_delivered $delivered
e2e_assert_eq "$(printf '%s\n' '"john doe"@example.com' Frank@Example.org bob@example.com carol@example.com | sort)" \
	"$(e2e_q delivered "$SINK_DIR" "$mid")" "non-newsletter: every recipient delivered"
e2e_q body "$SINK_DIR" "$mid" >"$CM_TMP/order.got"
printf '%s' "$body" | sed 's/$/\r/' >"$CM_TMP/order.want"
cmp -s "$CM_TMP/order.want" "$CM_TMP/order.got" || e2e_fail "non-newsletter: body changed"
echo "ok - non-newsletter: body byte-identical"
e2e_assert_eq "" "$(e2e_q header "$SINK_DIR" "$mid" X-Consent-Milter)" "non-newsletter: no trace header"

# ------------------------------------ 6. milter down: deferred, nothing lost
# 6a. stopped between sessions: F=T makes Sendmail answer 4xx
e2e_stop_milter TERM
sm_send "$CM_TMP/down.json" --from "$WEEKLY_FROM" --rcpt alice@example.com --rcpt bob@example.com \
	--message-id "<down-1@e2e.test>"
r="$(e2e_q mail "$CM_TMP/down.json") | $(e2e_q rcpt "$CM_TMP/down.json" alice@example.com) | $(e2e_q data "$CM_TMP/down.json")"
e2e_assert_match '^(250 [^|]*\| )*4[0-9][0-9] 4\.[0-9.]+ [^|]*(\| none ?)*$' "$r" "milter stopped: 4xx to the client ($r)"
# 6b. killed in the middle of a transaction (after RCPT, before DATA)
start_milter
mkdir -p "$CM_TMP/pause"
"$PY" "$E2E_LIB/smtpclient.py" --port "$SM_PORT" --out "$CM_TMP/mid.json" \
	--from "$WEEKLY_FROM" --rcpt alice@example.com --rcpt bob@example.com --rcpt Dave@Example.NET \
	--message-id "<down-2@e2e.test>" --pause-before-data "$CM_TMP/pause" &
client=$!
e2e_on_exit "e2e_kill_pid $client 2"
for ((i = 0; i < 200; i++)); do [ -e "$CM_TMP/pause/ready" ] && break; sleep 0.05; done
[ -e "$CM_TMP/pause/ready" ] || e2e_fail "client did not reach DATA"
e2e_stop_milter KILL
touch "$CM_TMP/pause/go"
wait "$client" || e2e_fail "client failed"
expect_rcpt "$CM_TMP/mid.json" alice@example.com "$(ok_text alice@example.com)"
expect_rcpt "$CM_TMP/mid.json" bob@example.com "$(deny_text bob@example.com weekly-news withdrawn)"
e2e_assert_match '^4[0-9][0-9] 4\.' "$(e2e_q data "$CM_TMP/mid.json")" "milter killed mid-transaction: DATA gets 4xx"
sm_settle 2
e2e_assert_eq $delivered "$(e2e_sink_count)" "milter down: nothing delivered"
e2e_assert_eq 0 "$(sm_queue_count)" "milter down: nothing queued (the client keeps it)"
# 6c. milter back: the client retries and exactly the consented get it
start_milter
for m in 1 2; do
	sm_send "$CM_TMP/retry$m.json" --from "$WEEKLY_FROM" --rcpt alice@example.com --rcpt bob@example.com \
		--rcpt Dave@Example.NET --message-id "<down-$m@e2e.test>"
	expect_rcpt "$CM_TMP/retry$m.json" alice@example.com "$(ok_text alice@example.com)"
	expect_rcpt "$CM_TMP/retry$m.json" bob@example.com "$(deny_text bob@example.com weekly-news withdrawn)"
	e2e_assert_match '^250 ' "$(e2e_q data "$CM_TMP/retry$m.json")" "retry $m: accepted"
	delivered=$((delivered + 1))
	sm_wait_delivered $delivered
	e2e_assert_eq $'Dave@Example.NET\nalice@example.com' "$(e2e_q delivered "$SINK_DIR" "<down-$m@e2e.test>")" \
		"retry $m: delivered once, to exactly the consented recipients"
done

# ------------------------------------ end: graceful stop, nothing else delivered
sm_settle 1
e2e_assert_eq $delivered "$(e2e_sink_count)" "no unexpected message at the sink"
e2e_stop_milter TERM
echo "ok - milter stopped gracefully on SIGTERM (exit 0)"
e2e_check_sanitizers
exit 0
