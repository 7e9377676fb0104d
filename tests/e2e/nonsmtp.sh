#!/usr/bin/env bash
# End to end through a real Postfix 3.7 (issue 12): mail submitted with
# the private instance's own sendmail(1) (-C DIR) passes the milter
# through non_smtpd_milters.  Postfix's cleanup emulates the SMTP stages
# for it and cannot refuse a recipient at RCPT ("can't reject recipient
# in non-smtpd(8) submission": the message would stay queued for ever),
# so an envelope-typed newsletter to one consented and one unconsented
# recipient must reach the consented one, the other gets a DSN, and
# nothing stays in the queue.  Also through smtpd: sender spellings
# that must match envelope_sender: weekly@news.example.com, and a
# newsletter typed by its sender whose header adds a second type (the
# recipients accepted at RCPT are checked for it at end of data: removed,
# DSN).
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init

CM=$BUILD/consent-milter
[ -x "$CM" ] || e2e_fail "$CM not built"
command -v pkg-config >/dev/null || e2e_skip "pkg-config missing"
[ -x /usr/sbin/sendmail ] || e2e_skip "Postfix's sendmail(1) missing"

e2e_seed_tool
DB=$CM_TMP/db
mkdir -p "$DB"
"$CM_TMP/seed" "$DB" <<'EOF2' || e2e_fail "seeding the index"
grant alice@example.com weekly-news
grant alice@example.com offers
grant bob@example.com weekly-news 30
withdraw bob@example.com weekly-news
grant carol@example.com offers
grant dave@example.com weekly-news
EOF2

e2e_start_sink
MPORT=$(e2e_freeport)
e2e_pf_setup "inet:127.0.0.1:$MPORT"
e2e_pf_conf "non_smtpd_milters = inet:127.0.0.1:$MPORT"
SPOOL=$CM_TMP/dsnspool
CONF=$CM_TMP/consent-milter.yaml
cat >"$CONF" <<EOF2
$(e2e_cm_head "$MPORT" "$DB")
dsn:
  target: "inet:$PF_PORT@127.0.0.1"
  spool: "$SPOOL"
  retry_delay: 1s
  max_delay: 2s
  reporting_mta: mx.e2e.test
$(e2e_cm_newsletters weekly@news.example.com)
EOF2
e2e_start_milter "$MPORT" "$CM" -f -c "$CONF"
e2e_pf_start

# submit MID SENDER HEADERS RCPT...: one message through sendmail(1)
submit() {
	local mid=$1 from=$2 hdrs=$3
	shift 3
	printf 'From: <%s>\nTo: list@example.com\nSubject: local submission\nMessage-ID: %s\n%s\nbody\n' \
		"$from" "$mid" "$hdrs" |
		sendmail -C "$PF_DIR/etc" -f "$from" -- "$@" ||
		e2e_fail "sendmail -C $PF_DIR/etc failed"
}

# dsns: "FILE RCPTS" of every message from <> at the sink
dsns() {
	"$PY" - "$SINK_DIR" <<'PY'
import glob, json, os, sys
for j in sorted(glob.glob(os.path.join(sys.argv[1], "msgs", "*.json"))):
    m = json.load(open(j))
    if m.get("mail_from", m.get("sender", "x")) in ("", "<>"):
        print(os.path.join(sys.argv[1], "msgs", m["data"]),
              ",".join(r["rcpt"] if isinstance(r, dict) else r for r in m["rcpts"]))
PY
}

# ------------------------------ 1. envelope-typed, one consented, one not
submit "<local-1@e2e.test>" weekly@news.example.com "" alice@example.com bob@example.com
e2e_wait_delivered 2	# the newsletter and the DSN
e2e_assert_eq alice@example.com "$(e2e_q delivered "$SINK_DIR" "<local-1@e2e.test>")" \
	"sendmail(1), envelope-typed: only the consented recipient got it"
e2e_assert_eq "type=weekly-news; removed=1; kept=1" \
	"$(e2e_q header "$SINK_DIR" "<local-1@e2e.test>" X-Consent-Milter)" "trace header"
d=$(dsns)
e2e_assert_eq 1 "$(grep -c . <<<"$d")" "one DSN"
e2e_assert_match 'weekly@news\.example\.com' "${d#* }" "the DSN goes to the envelope sender"
grep -q 'bob@example.com' "${d%% *}" || e2e_fail "the DSN does not name bob"
grep -q 'alice@example.com' "${d%% *}" && e2e_fail "the DSN names alice"
echo "ok - DSN for the removed recipient"
grep -q "can't reject recipient" "$PF_DIR/maillog" && e2e_fail "Postfix logged a RCPT rejection in a non-SMTP submission"
e2e_assert_eq 0 "$(e2e_queue_count)" "nothing stays in the queue"
grep -Eq 'queue_id=[0-9A-F]+ type=weekly-news rcpt=bob@example.com verdict=deny reason=withdrawn stage=eom action=remove' "$MILTER_LOG" ||
	e2e_fail "no end-of-data decision for bob"
echo "ok - decided at end of data with the queue id"

# ------------------------------ 2. header-typed via sendmail(1)
submit "<local-2@e2e.test>" campaigns@shop.example "X-Newsletter-Type: offers" \
	alice@example.com bob@example.com carol@example.com
e2e_wait_delivered 4
e2e_assert_eq $'alice@example.com\ncarol@example.com' "$(e2e_q delivered "$SINK_DIR" "<local-2@e2e.test>")" \
	"sendmail(1), header-typed: the consented recipients got it"
e2e_assert_eq 2 "$(dsns | grep -c .)" "a second DSN"

# ------------------------------ 3. nobody consented: refused, not stuck
n=$(e2e_sink_count)
submit "<local-3@e2e.test>" weekly@news.example.com "" bob@example.com
for ((i = 0; i < 300; i++)); do
	grep -q 'milter-reject: END-OF-MESSAGE' "$PF_DIR/maillog" && break
	sleep 0.1
done
grep -q 'milter-reject: END-OF-MESSAGE.*5\.7\.1' "$PF_DIR/maillog" || e2e_fail "no end-of-message refusal logged"
e2e_wait_queue_empty 30
e2e_q has "$SINK_DIR" "<local-3@e2e.test>" && e2e_fail "the refused message was delivered"
echo "ok - nobody left: refused at end of data, nothing queued (sink has $(( $(e2e_sink_count) - n )) new message(s): the sender's bounce)"

# ------------------------------ 4. SMTP: sender spellings of one sender
for s in '"weekly"@news.example.com' 'weekly@news.example.com.'; do
	e2e_send "$CM_TMP/s.json" --from "$s" --rcpt alice@example.com --rcpt bob@example.com
	e2e_assert_match '^550 5\.7\.1 ' "$(e2e_q rcpt "$CM_TMP/s.json" bob@example.com)" \
		"MAIL FROM:<$s>: bob refused at RCPT"
	e2e_assert_match '^250 ' "$(e2e_q rcpt "$CM_TMP/s.json" alice@example.com)" "MAIL FROM:<$s>: alice accepted"
done
e2e_wait_queue_empty 30

# ------------------------------ 5. SMTP: envelope type plus a header type
# weekly-news decided at RCPT (carol refused), offers added by a header
# and decided at end of data for those accepted (dave removed, DSN)
n=$(e2e_sink_count)
nd=$(dsns | grep -c .)
e2e_send "$CM_TMP/two.json" --from weekly@news.example.com --message-id "<two-types@e2e.test>" \
	--header "X-Newsletter-Type: offers" \
	--rcpt alice@example.com --rcpt dave@example.com --rcpt carol@example.com
e2e_assert_match '^550 5\.7\.1 .*"weekly-news" \(no-consent\)' "$(e2e_q rcpt "$CM_TMP/two.json" carol@example.com)" \
	"two types: carol refused at RCPT for weekly-news"
e2e_assert_match '^250 ' "$(e2e_q rcpt "$CM_TMP/two.json" dave@example.com)" "two types: dave accepted at RCPT"
e2e_wait_delivered $((n + 2))
e2e_assert_eq alice@example.com "$(e2e_q delivered "$SINK_DIR" "<two-types@e2e.test>")" \
	"two types: only the recipient with consent for both got it"
e2e_assert_eq "type=weekly-news,offers; removed=1; kept=1" \
	"$(e2e_q header "$SINK_DIR" "<two-types@e2e.test>" X-Consent-Milter)" "two types: trace header names both"
d=$(dsns | tail -n +$((nd + 1)))
e2e_assert_eq 1 "$(grep -c . <<<"$d")" "two types: one DSN"
grep -q 'dave@example.com' "${d%% *}" || e2e_fail "the DSN does not name dave"
echo "ok - DSN for the recipient removed for the header's type"
grep -q "can't reject recipient" "$PF_DIR/maillog" && e2e_fail "RCPT rejection in a non-SMTP submission"
e2e_stop_milter TERM
e2e_check_sanitizers
exit 0
