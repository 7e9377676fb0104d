#!/usr/bin/env bash
# Mailto unsubscribe end to end (issue 14): a private Postfix with
# consent-milter, consent-web with its internal socket.  A newsletter to
# one recipient arrives with List-Unsubscribe offering the mailto form
# beside the https link; a mail to that LOCAL+TOKEN@DOMAIN address sent
# through Postfix is recorded (history: source mailto, with the sender,
# client and Message-ID) and discarded; the next newsletter of that type
# to that recipient is refused 550 at RCPT while another type still
# reaches them.  A damaged token is refused 550 5.1.1 at RCPT; with
# consent-web down the unsubscribe mail is tempfailed 451 (nothing
# recorded) and goes through once consent-web is back.
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init
e2e_programs
WEB=$BUILD/consent-web
[ -x "$WEB" ] || e2e_fail "$WEB not built"

WEEKLY_FROM=weekly@news.example.com
MPORT=$(e2e_freeport)
WPORT=$(e2e_freeport)
MSOCK=$CM_TMP/mailto.sock
DB=$CM_TMP/db
mkdir -p "$DB"
CONF=$CM_TMP/consent-milter.yaml
{
	e2e_cm_head "$MPORT" "$DB"
	cat <<EOF
links:
  base_url: "https://news.example.com/consent"
  mailto_domain: "example.com"
  mailto_socket: "$MSOCK"
  listen: "inet:$WPORT@127.0.0.1"
EOF
	e2e_cm_newsletters "$WEEKLY_FROM"
} >"$CONF"
"$CTL" -c "$CONF" init >"$CM_TMP/ctl.out" 2>&1 || { cat "$CM_TMP/ctl.out" >&2; e2e_fail "consentctl init"; }
for t in weekly-news offers; do
	"$CTL" -c "$CONF" grant alice@example.com "$t" >"$CM_TMP/ctl.out" 2>&1 ||
		{ cat "$CM_TMP/ctl.out" >&2; e2e_fail "consentctl grant $t"; }
done

WEB_PID=
start_web() {
	"$WEB" -v -c "$CONF" >>"$CM_TMP/web.log" 2>&1 &
	WEB_PID=$!
	E2E_PIDS+=("$WEB_PID")
	e2e_on_exit "e2e_kill_pid $WEB_PID 10"
	local i
	for ((i = 0; i < 200; i++)); do
		[ -S "$MSOCK" ] && return 0
		kill -0 "$WEB_PID" 2>/dev/null || e2e_fail "consent-web died: $(tail -5 "$CM_TMP/web.log")"
		sleep 0.05
	done
	e2e_fail "consent-web's socket $MSOCK did not appear"
}
stop_web() {
	e2e_kill_pid "$WEB_PID" 10 || e2e_fail "consent-web exit status"
	[ ! -e "$MSOCK" ] || e2e_fail "consent-web left its socket"
}
# mailto events in alice's history
mailto_events() { "$CTL" -c "$CONF" history alice@example.com 2>/dev/null | grep -c ' mailto '; }

e2e_start_milter "$MPORT" "$CM" -f -c "$CONF"
start_web
e2e_start_sink
e2e_pf_setup "inet:127.0.0.1:$MPORT"
e2e_pf_start

# 1. weekly-news to alice alone: both forms in List-Unsubscribe
e2e_send "$CM_TMP/w1.json" --from "$WEEKLY_FROM" --rcpt alice@example.com --subject "Weekly 1"
e2e_assert_match '^250 2\.0\.0 Ok' "$(e2e_q data "$CM_TMP/w1.json")" "weekly 1 accepted"
mid=$(e2e_q field "$CM_TMP/w1.json" message_id)
e2e_wait_delivered 1
lu=$(e2e_q header "$SINK_DIR" "$mid" List-Unsubscribe)
e2e_assert_match '^<https://news\.example\.com/consent/u/([A-Za-z0-9_-]+)>, <mailto:unsubscribe\+([A-Za-z0-9_-]+)@example\.com>$' \
	"$lu" "List-Unsubscribe offers https and mailto"
[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] || e2e_fail "two different tokens: $lu"
TO=$(sed -nE 's#.*<mailto:([^>]+)>.*#\1#p' <<<"$lu")
tok=${TO#unsubscribe+}
tok=${tok%@*}
grep -qi alice <<<"$lu" && e2e_fail "address in clear in the header"

# 2. a damaged token: refused at RCPT, nothing recorded
bad=${tok:0:20}$([ "${tok:20:1}" = A ] && echo B || echo A)${tok:21}
e2e_send "$CM_TMP/b1.json" --from alice@example.com --rcpt "unsubscribe+$bad@example.com" --subject unsubscribe
e2e_assert_match '^550 5\.1\.1 <unsubscribe\+[A-Za-z0-9_-]+@example\.com>: not a valid unsubscribe address$' \
	"$(e2e_q rcpt "$CM_TMP/b1.json" "unsubscribe+$bad@example.com")" "damaged token refused at RCPT"
e2e_assert_eq 0 "$(mailto_events)" "damaged token recorded nothing"

# 3. consent-web down: 451 at end of data, nothing recorded, nothing delivered
stop_web
e2e_send "$CM_TMP/d1.json" --from alice@example.com --rcpt "$TO" --subject unsubscribe
e2e_assert_eq "250 2.1.5 Ok" "$(e2e_q rcpt "$CM_TMP/d1.json" "$TO")" "token accepted at RCPT"
e2e_assert_eq "451 4.3.0 Unsubscribe not recorded yet, try again later" \
	"$(e2e_q data "$CM_TMP/d1.json")" "consent-web down: tempfailed"
e2e_assert_eq 0 "$(mailto_events)" "nothing recorded while consent-web is down"
"$CTL" -c "$CONF" check alice@example.com weekly-news >/dev/null || e2e_fail "withdrawn while consent-web was down"

# 4. consent-web back: the mail (as the sending MTA retries it) is
# recorded, then discarded
start_web
e2e_send "$CM_TMP/m1.json" --from alice@example.com --rcpt "$TO" --subject unsubscribe
e2e_assert_match '^250 2\.0\.0 Ok' "$(e2e_q data "$CM_TMP/m1.json")" "mailto unsubscribe accepted"
umid=$(e2e_q field "$CM_TMP/m1.json" message_id)
e2e_assert_eq 1 "$(mailto_events)" "one mailto event in the history"
ev=$("$CTL" -c "$CONF" history alice@example.com | grep ' mailto ')
for want in 'withdraw  weekly-news' 'sender="<alice@example.com>"' 'client="127.0.0.1"' "message-id=\"$umid\""; do
	[[ $ev == *"$want"* ]] || e2e_fail "history lacks $want: $ev"
done
echo "ok - history: withdraw weekly-news, source mailto, sender, client, Message-ID"
e2e_wait_queue_empty
grep -q "milter-discard" "$PF_DIR/maillog" || e2e_fail "Postfix did not discard the unsubscribe mail"
e2e_assert_eq 1 "$(e2e_sink_count)" "the unsubscribe mail was not delivered"

# a replay (the same mail once more): no second event
e2e_send "$CM_TMP/m2.json" --from alice@example.com --rcpt "$TO" --subject unsubscribe
e2e_assert_match '^250 2\.0\.0 Ok' "$(e2e_q data "$CM_TMP/m2.json")" "replay accepted"
e2e_assert_eq 1 "$(mailto_events)" "replay: no second event"

# 5. the very next weekly-news to alice is refused at RCPT
e2e_send "$CM_TMP/w2.json" --from "$WEEKLY_FROM" --rcpt alice@example.com --subject "Weekly 2"
e2e_assert_eq '550 5.7.1 <alice@example.com>: no consent for newsletter "weekly-news" (withdrawn)' \
	"$(e2e_q rcpt "$CM_TMP/w2.json" alice@example.com)" "next weekly-news refused"

# 6. another type (offers) still reaches her
e2e_send "$CM_TMP/o1.json" --from shop@example.com --rcpt alice@example.com \
	--subject "Offers" --header "X-Newsletter-Type: offers"
e2e_assert_match '^250 2\.0\.0 Ok' "$(e2e_q data "$CM_TMP/o1.json")" "offers accepted"
mid=$(e2e_q field "$CM_TMP/o1.json" message_id)
e2e_wait_delivered 2
e2e_assert_eq "Offers" "$(e2e_q header "$SINK_DIR" "$mid" Subject)" "offers reached alice"

e2e_stop_milter
e2e_check_sanitizers
stop_web
grep -qE 'AddressSanitizer|runtime error:' "$CM_TMP/web.log" && e2e_fail "sanitizer report in consent-web's log"
echo "ok - mailto unsubscribe through Postfix"
