#!/usr/bin/env bash
# End to end through a real Postfix (issue 5): the decision log written by
# the milter, with recipients stored as keyed hashes, and `consentctl
# report` over it, checked against the messages this test sends:
# refusals at RCPT (envelope-typed), removals at end of data
# (header-typed), allowed recipients, campaigns; no address in clear in
# the log, yet --rcpt finds each one.
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init

e2e_programs

DB=$CM_TMP/db
mkdir -p "$DB"
{
	"$CTL" -d "$DB" init &&
	"$CTL" -d "$DB" grant alice@example.com weekly-news --source e2e &&
	"$CTL" -d "$DB" grant alice@example.com offers --source e2e &&
	"$CTL" -d "$DB" grant bob@example.com weekly-news --source e2e &&
	"$CTL" -d "$DB" withdraw bob@example.com weekly-news --source e2e
} >/dev/null || e2e_fail "seeding the index"

e2e_start_sink
MPORT=$(e2e_freeport)
e2e_pf_setup "inet:127.0.0.1:$MPORT"
LOGDIR=$CM_TMP/decisions
CONF=$CM_TMP/consent-milter.yaml
cat >"$CONF" <<EOF
$(e2e_cm_head "$MPORT" "$DB")
log:
  path: "$LOGDIR"
  campaign_header: X-Campaign-ID
  hash_recipients: true
dsn:
  enabled: false
$(e2e_cm_newsletters weekly@news.example.com)
EOF
e2e_start_milter "$MPORT" "$CM" -f -c "$CONF"
e2e_pf_start

# 1: envelope-typed, campaign w47: alice allowed, bob (withdrawn) and
#    carol (no record) refused at RCPT
e2e_send "$CM_TMP/m1.json" --from weekly@news.example.com --header "X-Campaign-ID: w47" \
	--rcpt alice@example.com --rcpt Bob@Example.COM --rcpt carol@example.com
e2e_assert_match '^550 ' "$(e2e_q rcpt "$CM_TMP/m1.json" Bob@Example.COM)" "bob refused at RCPT"
e2e_assert_match '^550 ' "$(e2e_q rcpt "$CM_TMP/m1.json" carol@example.com)" "carol refused at RCPT"
mid1=$(e2e_q field "$CM_TMP/m1.json" message_id)
# 2: header-typed, campaign "spring, big": alice kept, dave removed
e2e_send "$CM_TMP/m2.json" --from news@offers.example.com \
	--header "X-Newsletter-Type: offers" --header 'X-Campaign-ID: spring, big' \
	--rcpt alice@example.com --rcpt dave@example.net
e2e_assert_match '^250 ' "$(e2e_q data "$CM_TMP/m2.json")" "the offers message is accepted"
mid2=$(e2e_q field "$CM_TMP/m2.json" message_id)
# 3: no newsletter: not a decision
e2e_send "$CM_TMP/m3.json" --from orders@shop.example.com --rcpt carol@example.com
e2e_wait_delivered 3
e2e_assert_eq alice@example.com "$(e2e_q delivered "$SINK_DIR" "$mid2")" "dave removed from the offers"
e2e_stop_milter TERM	# flushes the log
e2e_check_sanitizers

# the log: one record per decision, no address in clear
for a in alice bob carol dave example.com example.net; do
	grep -rqi "$a" "$LOGDIR" && e2e_fail "the hashed log holds '$a' in clear"
done
echo "ok - hashed log: no recipient address in clear"

R() { "$CTL" -c "$CONF" report "$@"; }
count() { R --jsonl "$@" | grep -c .; }
e2e_assert_eq 5 "$(count)" "five decisions"
e2e_assert_eq 2 "$(count --rcpt alice@example.com)" "alice: two decisions"
e2e_assert_eq 1 "$(count --rcpt '<BOB@example.com>')" "bob, found by any spelling of his address"
e2e_assert_eq 0 "$(count --rcpt erin@example.com)" "an address never sent to"
e2e_assert_eq 3 "$(count --campaign w47)" "campaign w47"
e2e_assert_eq 2 "$(count --campaign 'spring, big')" "campaign 'spring, big'"
e2e_assert_eq 2 "$(count --type weekly-news --verdict deny)" "weekly-news denied"
e2e_assert_eq 1 "$(count --reason withdrawn)" "withdrawn"
e2e_assert_eq 1 "$(count --action removed)" "removed"
e2e_assert_eq 2 "$(count --action refused)" "refused"
e2e_assert_eq 0 "$(count --since "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)")" "--since in the future"
e2e_assert_eq 5 "$(count --since "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" --until "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)")" "--since/--until around the test"
echo "ok - report filters match what was sent"

R --jsonl --rcpt bob@example.com | "$PY" -c '
import json, sys
mid = sys.argv[1]
(r,) = [json.loads(l) for l in sys.stdin]
assert (r["type"], r["campaign"], r["verdict"], r["reason"], r["action"]) == \
    ("weekly-news", "w47", "deny", "withdrawn", "refused"), r
assert r["queue_id"] and r["message_id"] == mid, (r, mid)
assert r["rcpt"].startswith("hmac-sha256:") and "bob" not in r["rcpt"], r
' "$mid1" || e2e_fail "report --jsonl --rcpt bob"
R --csv --campaign 'spring, big' | "$PY" -c '
import csv, sys
mid = sys.argv[1]
rows = list(csv.reader(sys.stdin))
assert rows[0] == ["time", "queue_id", "message_id", "sender", "type", "campaign", "rcpt",
                   "verdict", "reason", "action"], rows[0]
got = sorted((r[2], r[4], r[5], r[7], r[8], r[9]) for r in rows[1:])
assert got == [(mid, "offers", "spring, big", "allow", "none", "allowed"),
               (mid, "offers", "spring, big", "deny", "no-consent", "removed")], got
' "$mid2" || e2e_fail "report --csv --campaign"
out=$(R --summary --csv)
want=$'type,reason,action,count\r
offers,no-consent,removed,1\r
offers,none,allowed,1\r
weekly-news,no-consent,refused,1\r
weekly-news,none,allowed,1\r
weekly-news,withdrawn,refused,1\r'
e2e_assert_eq "$want" "$out" "summary by type, reason and action"
R --summary | grep -Eq '^total +- +- +5$' || e2e_fail "summary table: $(R --summary)"
echo "ok - report: JSON Lines, CSV and summary agree with the messages sent"
echo "decision log and report end to end: all assertions passed"
