#!/usr/bin/env bash
# The consent rules of consentctl(8) (CONSENT RULES) through consentctl:
# future-dated events refused from every input, records stored with such
# times before (legacy) found and overridden by an opt-out made now, an
# objection that denies every type until a grant of that type.
. "$(dirname "$0")/ctl-lib.bash"

# A policy that accepts any time, to write what an older version stored.
LEGACY=$T/legacy.yaml
sed 's/^  clock_skew: 5m$/  clock_skew: 36500d/' "$CONF" >"$LEGACY"
grep -q "clock_skew: 36500d" "$LEGACY" || { echo "could not set clock_skew in $LEGACY" >&2; exit 1; }
legacy() { run -c "$LEGACY" "$@"; }

FUTURE=2036-01-01T00:00:00Z
soon() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }

c init; rc_is 0

step="a grant dated in the future is refused, naming the time and the limit"
c grant typo@example.com weekly-news --at $FUTURE; rc_is 65
err_has "dated in the future"; err_has "grant dated $FUTURE: later than"; err_has "clock skew of 300 s"
c show typo@example.com; rc_is 1
c check typo@example.com weekly-news; rc_is 1; out_is "deny no-consent"

step="so are a withdrawal, a confirmation and an objection dated in the future"
c withdraw typo@example.com weekly-news --at $FUTURE; rc_is 65; err_has "dated in the future"
c withdraw typo@example.com --all --at $FUTURE; rc_is 65; err_has "object dated $FUTURE"
c grant typo@example.com offers --at 2026-01-01T00:00:00Z; rc_is 0
c confirm typo@example.com offers --at $FUTURE; rc_is 65; err_has "confirm dated $FUTURE"
c check typo@example.com offers; rc_is 1; out_is "deny unconfirmed"

step="--clock-skew sets the allowed skew for one command"
c --clock-skew 1h grant skew2@example.com weekly-news --at "$(soon '+30 minutes')"; rc_is 0
c --clock-skew 1m grant skew3@example.com weekly-news --at "$(soon '+3 minutes')"; rc_is 65; err_has "clock skew of 60 s"
run -d "$DB" --clock-skew 10m grant skew3@example.com weekly-news --at "$(soon '+3 minutes')"; rc_is 0
run --clock-skew soon stats; rc_is 64; err_has "--clock-skew 'soon'"

step="a time within the allowed clock skew is accepted"
c grant skew@example.com weekly-news --at "$(soon '+2 minutes')"; rc_is 0
c check skew@example.com weekly-news; rc_is 0; out_is "allow"
c grant skew@example.com customer-updates --at "$(soon '+10 minutes')"; rc_is 65

step="an import row dated in the future is a bad row: nothing imported"
printf 'email,type,state,time,source,basis,purpose,evidence\nok@example.com,weekly-news,granted,2026-01-01T00:00:00Z,crm,,,\nlate@example.com,weekly-news,granted,2099-01-01T00:00:00Z,crm,,,\n' >"$T/future.csv"
c import "$T/future.csv"; rc_is 65
err_has "$T/future.csv:3: time 2099-01-01T00:00:00Z: later than"; err_has "nothing imported"
c show ok@example.com; rc_is 1
c import --dry-run "$T/future.csv"; rc_is 65; err_has "$T/future.csv:3: time 2099-01-01T00:00:00Z"
printf '{"email":"late@example.com","type":"weekly-news","state":"granted","time":"2026-01-01T00:00:00Z","granted":"2026-01-01T00:00:00Z","confirmed":"2099-01-01T00:00:00Z"}\n' >"$T/future.jsonl"
c import "$T/future.jsonl"; rc_is 65; err_has "$T/future.jsonl:1: confirmed 2099-01-01T00:00:00Z: later than"
c show late@example.com; rc_is 1

step="a bulk update dated in the future is refused"
c bulk-update --type offers --new-source crm --at $FUTURE; rc_is 65; err_has "update dated $FUTURE"
c show typo@example.com --json; rc_is 0; json_check 'j["records"][0]["source"] == ""'

step="future lists what an older version stored with future times"
legacy grant legacy@example.com weekly-news --at $FUTURE --source crm; rc_is 0
legacy grant legacy@example.com offers --confirmed --at $FUTURE; rc_is 0
c future; rc_is 0
out_has "legacy@example.com  offers"; out_has "legacy@example.com  weekly-news  granted"; out_has "$FUTURE"
out_lacks "typo@example.com"
out_has "skew@example.com"	# within the skew, but after now
out_has "skew2@example.com"
c future --json; rc_is 0
jsonl_check 'sorted((o["address"], o["type"], o["state"], o["time"]) for o in L if not o["address"].startswith("skew")) == [("legacy@example.com", "offers", "granted", "'$FUTURE'"), ("legacy@example.com", "weekly-news", "granted", "'$FUTURE'")]'
c future --after 2037-01-01T00:00:00Z; rc_is 0; out_is ""
c check legacy@example.com weekly-news; rc_is 0; out_is "allow"

step="an objection made now takes effect over a legacy future grant: every type denied"
c withdraw legacy@example.com --all; rc_is 0; out_has "objection to all marketing recorded"
for t in weekly-news offers customer-updates; do
	c check legacy@example.com $t; rc_is 1; out_is "deny objection"
done
c show legacy@example.com --json; rc_is 0
json_check 'j["objection"] is True and all(r["state"] == "withdrawn" for r in j["records"])'
c history legacy@example.com --json; rc_is 0
jsonl_check '[(o["event"], o["type"], o["old_state"], o["new_state"]) for o in L if o["event"] == "object"] == [("object", "", "none", "withdrawn"), ("object", "offers", "granted", "withdrawn"), ("object", "weekly-news", "granted", "withdrawn")]'
c future; rc_is 0; out_lacks "legacy@example.com"

step="an objection that changes nothing is not reported as recorded"
c withdraw legacy@example.com --all --at 2026-01-01T00:00:00Z; rc_is 65; err_has "not applied"; out_lacks "recorded"
c withdraw legacy@example.com weekly-news --at 2026-01-01T00:00:00Z; rc_is 65; err_has "not applied"

step="a withdrawal made now beats a legacy future grant, and a later grant is not locked out"
legacy grant locked@example.com weekly-news --at $FUTURE; rc_is 0
c withdraw locked@example.com weekly-news; rc_is 0
c check locked@example.com weekly-news; rc_is 1; out_is "deny withdrawn"
c grant locked@example.com weekly-news --at "$(soon '+1 minute')"; rc_is 0
c check locked@example.com weekly-news; rc_is 0; out_is "allow"

step="a withdrawal or objection stored in the future is dated now by one made now"
legacy withdraw lockw@example.com weekly-news --at $FUTURE; rc_is 0
c grant lockw@example.com weekly-news; rc_is 65; err_has "not applied"
c future --json; rc_is 0
jsonl_check '("lockw@example.com", "weekly-news", "withdrawn", "'$FUTURE'") in [(o["address"], o["type"], o["state"], o["time"]) for o in L]'
c withdraw lockw@example.com weekly-news; rc_is 0
c future; rc_is 0; out_lacks "lockw@example.com"
c grant lockw@example.com weekly-news --at "$(soon '+1 minute')"; rc_is 0
c check lockw@example.com weekly-news; rc_is 0; out_is "allow"
legacy withdraw lobj@example.com --all --at $FUTURE; rc_is 0
c future; rc_is 0; out_has "lobj@example.com"
c withdraw lobj@example.com --all; rc_is 0
c future; rc_is 0; out_lacks "lobj@example.com"
c grant lobj@example.com weekly-news --at "$(soon '+1 minute')"; rc_is 0
c check lobj@example.com weekly-news; rc_is 0; out_is "allow"
c check lobj@example.com customer-updates; rc_is 1; out_is "deny objection"

step="an objection then a grant of one type lifts it for that type only"
c withdraw obj@example.com --all --at 2026-11-01T00:00:00Z; rc_is 0
c grant obj@example.com offers --confirmed --at 2026-11-05T00:00:00Z; rc_is 0
c check obj@example.com offers; rc_is 0; out_is "allow"
c check obj@example.com customer-updates; rc_is 1; out_is "deny objection"
c check obj@example.com weekly-news; rc_is 1; out_is "deny objection"
c show obj@example.com --json; rc_is 0; json_check 'j["objection"] is True'
c grant obj@example.com customer-updates --at 2026-11-06T00:00:00Z; rc_is 0
c check obj@example.com customer-updates; rc_is 0; out_is "allow"
c check obj@example.com weekly-news; rc_is 1; out_is "deny objection"

step="a grant older than the objection does not lift it"
c grant obj@example.com weekly-news --at 2026-10-01T00:00:00Z; rc_is 0
c check obj@example.com weekly-news; rc_is 1; out_is "deny objection"

step="newer event wins, a withdrawal wins a tie"
c grant tie@example.com weekly-news --at 2026-06-01T00:00:00Z; rc_is 0
c withdraw tie@example.com weekly-news --at 2026-06-01T00:00:00Z; rc_is 0
c grant tie@example.com weekly-news --at 2026-06-01T00:00:00Z; rc_is 65; err_has "not applied"
c check tie@example.com weekly-news; rc_is 1; out_is "deny withdrawn"
c grant tie@example.com weekly-news --at 2026-06-02T00:00:00Z; rc_is 0
c withdraw tie@example.com weekly-news --at 2026-05-01T00:00:00Z; rc_is 65
c check tie@example.com weekly-news; rc_is 0; out_is "allow"

echo "rules: ok"
