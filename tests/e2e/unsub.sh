#!/usr/bin/env bash
# One-click unsubscribe end to end (issue 14): a private Postfix with
# consent-milter, consent-web on loopback.  A newsletter to one recipient
# arrives with List-Unsubscribe (the https form) and
# List-Unsubscribe-Post; a GET of its link changes nothing; a POST of
# List-Unsubscribe=One-Click answers 200, and the next newsletter of that
# type to that recipient is refused 550 at RCPT while another type still
# reaches them; a replay adds no history event.  A confirm link: a
# newsletter of a double opt-in type (digest) to a pending recipient is
# refused at RCPT; after `consentctl link confirm` and a POST of that link
# (a GET changes nothing) the next one is delivered.
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init

CM=$BUILD/consent-milter
CTL=$BUILD/consentctl
WEB=$BUILD/consent-web
[ -x "$CM" ] || e2e_fail "$CM not built"
[ -x "$WEB" ] || e2e_fail "$WEB not built"
command -v curl >/dev/null || e2e_skip "curl not installed"

WEEKLY_FROM=weekly@news.example.com
DIGEST_FROM=digest@news.example.com
MPORT=$(e2e_freeport)
WPORT=$(e2e_freeport)
DB=$CM_TMP/db
mkdir -p "$DB"
CONF=$CM_TMP/consent-milter.yaml
{
	e2e_cm_head "$MPORT" "$DB"
	cat <<EOF
links:
  base_url: "https://news.example.com/consent"
  mailto_domain: "example.com"
  mailto_socket: "$CM_TMP/mailto.sock"
  listen: "inet:$WPORT@127.0.0.1"
EOF
	e2e_cm_newsletters "$WEEKLY_FROM"
	cat <<EOF
  - id: digest
    name: "Monthly digest"
    consent: double-opt-in
    match:
      - envelope_sender: "$DIGEST_FROM"
EOF
} >"$CONF"
"$CTL" -c "$CONF" init >"$CM_TMP/ctl.out" 2>&1 || { cat "$CM_TMP/ctl.out" >&2; e2e_fail "consentctl init"; }
for t in weekly-news offers; do
	"$CTL" -c "$CONF" grant alice@example.com "$t" >"$CM_TMP/ctl.out" 2>&1 ||
		{ cat "$CM_TMP/ctl.out" >&2; e2e_fail "consentctl grant $t"; }
done
"$CTL" -c "$CONF" grant alice@example.com digest --pending >"$CM_TMP/ctl.out" 2>&1 ||
	{ cat "$CM_TMP/ctl.out" >&2; e2e_fail "consentctl grant digest --pending"; }

e2e_start_milter "$MPORT" "$CM" -f -c "$CONF"
"$WEB" -c "$CONF" >>"$CM_TMP/web.log" 2>&1 &
WEB_PID=$!
E2E_PIDS+=("$WEB_PID")
e2e_on_exit "e2e_kill_pid $WEB_PID 10"
e2e_wait_listen "$WPORT" "$WEB_PID" 20
e2e_start_sink
e2e_pf_setup "inet:127.0.0.1:$MPORT"
e2e_pf_start

# 1. weekly-news (typed by the envelope sender) to alice alone
e2e_send "$CM_TMP/w1.json" --from "$WEEKLY_FROM" --rcpt alice@example.com --subject "Weekly 1"
e2e_assert_eq "250 2.1.5 Ok" "$(e2e_q rcpt "$CM_TMP/w1.json" alice@example.com)" "RCPT alice"
e2e_assert_match '^250 2\.0\.0 Ok' "$(e2e_q data "$CM_TMP/w1.json")" "DATA 1"
mid=$(e2e_q field "$CM_TMP/w1.json" message_id)
e2e_wait_delivered 1
lu=$(e2e_q header "$SINK_DIR" "$mid" List-Unsubscribe)
e2e_assert_match '^<https://news\.example\.com/consent/u/[A-Za-z0-9_-]+>, <mailto:unsubscribe\+[A-Za-z0-9_-]+@example\.com>$' \
	"$lu" "List-Unsubscribe with the https and the mailto form (tests/e2e/mailto.sh)"
e2e_assert_eq "List-Unsubscribe=One-Click" "$(e2e_q header "$SINK_DIR" "$mid" List-Unsubscribe-Post)" \
	"List-Unsubscribe-Post"
tok=$(sed -nE 's#^<https://[^>]*/u/([A-Za-z0-9_-]+)>.*#\1#p' <<<"$lu")
[ -n "$tok" ] || e2e_fail "no token in: $lu"
grep -qi alice <<<"$lu" && e2e_fail "address in clear in the header"

hist() { "$CTL" -c "$CONF" history alice@example.com 2>/dev/null | grep -c .; }
h0=$(hist)

# 2. GET changes nothing
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WPORT/u/$tok")
e2e_assert_eq 200 "$code" "GET the link"
e2e_assert_eq "$h0" "$(hist)" "GET recorded nothing"
"$CTL" -c "$CONF" check alice@example.com weekly-news >/dev/null || e2e_fail "GET unsubscribed"

# a damaged token: 400, nothing recorded
bad=${tok:0:20}$([ "${tok:20:1}" = A ] && echo B || echo A)${tok:21}
code=$(curl -s -o /dev/null -w '%{http_code}' -d 'List-Unsubscribe=One-Click' "http://127.0.0.1:$WPORT/u/$bad")
e2e_assert_eq 400 "$code" "damaged token refused"
e2e_assert_eq "$h0" "$(hist)" "damaged token recorded nothing"

# 3. one-click POST, as a mailbox provider sends it
code=$(curl -s -o /dev/null -w '%{http_code}' -d 'List-Unsubscribe=One-Click' "http://127.0.0.1:$WPORT/u/$tok")
e2e_assert_eq 200 "$code" "one-click POST"
e2e_assert_eq $((h0 + 1)) "$(hist)" "one history event"
code=$(curl -s -o /dev/null -w '%{http_code}' -d 'List-Unsubscribe=One-Click' "http://127.0.0.1:$WPORT/u/$tok")
e2e_assert_eq 200 "$code" "replay"
e2e_assert_eq $((h0 + 1)) "$(hist)" "replay: no second event"

# 4. the very next weekly-news to alice is refused at RCPT
e2e_send "$CM_TMP/w2.json" --from "$WEEKLY_FROM" --rcpt alice@example.com --subject "Weekly 2"
e2e_assert_eq '550 5.7.1 <alice@example.com>: no consent for newsletter "weekly-news" (withdrawn)' \
	"$(e2e_q rcpt "$CM_TMP/w2.json" alice@example.com)" "next weekly-news refused"

# 5. another type (offers, typed by a header) still reaches her, with its own link
e2e_send "$CM_TMP/o1.json" --from shop@example.com --rcpt alice@example.com \
	--subject "Offers" --header "X-Newsletter-Type: offers"
e2e_assert_match '^250 2\.0\.0 Ok' "$(e2e_q data "$CM_TMP/o1.json")" "offers accepted"
mid=$(e2e_q field "$CM_TMP/o1.json" message_id)
e2e_wait_delivered 2
e2e_assert_match '^<https://news\.example\.com/consent/u/' \
	"$(e2e_q header "$SINK_DIR" "$mid" List-Unsubscribe)" "offers carries its link"

# 6. a confirm link: the pending digest is refused until its link is POSTed
e2e_send "$CM_TMP/d1.json" --from "$DIGEST_FROM" --rcpt alice@example.com --subject "Digest 1"
e2e_assert_match '^550 5\.7\.1 .*"digest" \(unconfirmed\)' \
	"$(e2e_q rcpt "$CM_TMP/d1.json" alice@example.com)" "pending digest refused"
link=$("$CTL" -c "$CONF" link confirm alice@example.com digest 2>"$CM_TMP/ctl.err") ||
	{ cat "$CM_TMP/ctl.err" >&2; e2e_fail "consentctl link confirm"; }
e2e_assert_match '^https://news\.example\.com/consent/c/[A-Za-z0-9_-]+$' "$link" "confirm link"
ctok=${link##*/c/}
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WPORT/c/$ctok")
e2e_assert_eq 200 "$code" "GET the confirm link"
"$CTL" -c "$CONF" check alice@example.com digest >/dev/null && e2e_fail "GET confirmed"
code=$(curl -s -o /dev/null -w '%{http_code}' -d 'confirm=yes' "http://127.0.0.1:$WPORT/c/$ctok")
e2e_assert_eq 200 "$code" "POST the confirm link"
"$CTL" -c "$CONF" check alice@example.com digest >/dev/null || e2e_fail "POST did not confirm"
e2e_send "$CM_TMP/d2.json" --from "$DIGEST_FROM" --rcpt alice@example.com --subject "Digest 2"
e2e_assert_eq "250 2.1.5 Ok" "$(e2e_q rcpt "$CM_TMP/d2.json" alice@example.com)" "confirmed digest: RCPT"
e2e_assert_match '^250 2\.0\.0 Ok' "$(e2e_q data "$CM_TMP/d2.json")" "confirmed digest: DATA"
mid=$(e2e_q field "$CM_TMP/d2.json" message_id)
e2e_wait_delivered 3
e2e_assert_eq "Digest 2" "$(e2e_q header "$SINK_DIR" "$mid" Subject)" "the digest reached alice"

e2e_stop_milter
e2e_check_sanitizers
e2e_kill_pid "$WEB_PID" 10 || e2e_fail "consent-web exit status"
grep -qE 'AddressSanitizer|runtime error:' "$CM_TMP/web.log" && e2e_fail "sanitizer report in consent-web's log"
echo "ok - one-click unsubscribe and a confirm link through Postfix"
