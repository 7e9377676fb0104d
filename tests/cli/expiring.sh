#!/usr/bin/env bash
# consentctl expiring: consents of types with valid_for (weekly-news: 730d
# in the example) that expire within a duration, soonest first; pending,
# withdrawn, objected and no-validity records are left out; CSV and JSON;
# `show` prints the same expiry per record ("never" without valid_for).
source "$(dirname "$0")/ctl-lib.bash"

now=$("$PY" -c 'import time; print(int(time.time()))')
ago() { "$PY" -c "import sys, datetime; print(datetime.datetime.fromtimestamp($now - int(sys.argv[1]) * 86400, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))" "$1"; }

step="setup"
c init; rc_is 0
c grant a@example.org weekly-news --at "$(ago 720)"; rc_is 0		# expires in 10 days
c grant b@example.org weekly-news --at "$(ago 725)"; rc_is 0		# in 5 days
c grant c@example.org weekly-news --at "$(ago 100)"; rc_is 0		# in 630 days
c grant d@example.org weekly-news --at "$(ago 740)"; rc_is 0		# expired already
c grant e@example.org weekly-news --at "$(ago 720)"; rc_is 0
c withdraw e@example.org weekly-news; rc_is 0				# withdrawn
c grant f@example.org weekly-news --at "$(ago 720)"; rc_is 0
c withdraw f@example.org --all; rc_is 0					# objection
c grant g@example.org offers --at "$(ago 720)"; rc_is 0			# no valid_for
c grant h@example.org weekly-news --pending --at "$(ago 720)"; rc_is 0	# pending

step="table, soonest first"
c expiring --within 30d; rc_is 0
[ "$(awk 'NR > 1 {print $1}' <<<"$out" | tr '\n' ' ')" = "b@example.org a@example.org " ] ||
	fail "expected b then a"
c expiring --within 3d; rc_is 0; out_is ""
c expiring --within 1000d --type weekly-news; rc_is 0; out_has c@example.org; out_lacks d@example.org

step="csv and json"
c expiring --within 30d --csv; rc_is 0
[ "$(head -1 <<<"$out")" = "address,type,expires" ] || fail "csv header"
grep -qE '^b@example\.org,weekly-news,[0-9-]+T[0-9:]+' <<<"$out" || fail "csv row"
c expiring --within 30d --json; rc_is 0
jsonl_check 'len(L) == 2 and L[0]["address"] == "b@example.org" and L[0]["type"] == "weekly-news" and L[0]["expires"] < L[1]["expires"]'

step="show prints each record's expiry (the same as expiring's)"
c expiring --within 30d --json; rc_is 0
a_exp=$("$PY" -c 'import json, sys; print([r["expires"] for r in map(json.loads, sys.stdin) if r["address"] == "a@example.org"][0])' <<<"$out")
c show a@example.org --json; rc_is 0
json_check "j['records'][0]['expires'] == '$a_exp'"
c show a@example.org; rc_is 0; out_has EXPIRES; out_has "$a_exp"
c show g@example.org --json; rc_is 0
json_check "j['records'][0]['expires'] == 'never'"
c show g@example.org; rc_is 0; out_has never
c show e@example.org --json; rc_is 0				# withdrawn: nothing in force
json_check "j['records'][0]['expires'] is None"
c show h@example.org --json; rc_is 0				# pending double opt-in
json_check "j['records'][0]['expires'] is None"
c show d@example.org --json; rc_is 0				# expired already: still its time
json_check "j['records'][0]['expires'] < '$a_exp'"

step="errors"
c expiring; rc_is 64; err_has "--within DURATION is required"
c expiring --within soon; rc_is 64
c expiring --within 1d --type nope; [ "$rc" -ne 0 ] || fail "unknown type accepted"
c expiring --within 1d --csv --json; rc_is 64
echo "consentctl expiring: selection, order, formats, errors"
