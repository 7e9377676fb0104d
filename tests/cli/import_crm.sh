#!/usr/bin/env bash
# consentctl import of CSV files shaped like CRM exports: headers in any
# order and case, extra columns ignored (named once), ';' and tab
# delimiters (detected or given), --map for foreign names, defaults for
# missing columns, and no row silently dated "now".
. "$(dirname "$0")/ctl-lib.bash"

count_in_err() { grep -cF -- "$1" <<<"$err" || true; }

step="init"
c init; rc_is 0

step="reordered, capitalised header; an extra column named once"
cat >"$T/a.csv" <<'CSV'
Time,Phone,EMAIL,State, Type ,Source,Basis,Purpose,Evidence
2026-01-01T00:00:00Z,555-1,a1@example.com,granted,weekly-news,crm,consent,,
2026-01-02T00:00:00Z,555-2,a2@example.com,withdrawn,offers,crm,,,
CSV
c import "$T/a.csv"; rc_is 0; out_has "2 rows read, 2 valid, 0 invalid"
err_has "$T/a.csv: column 'Phone' ignored"
[ "$(count_in_err "column 'Phone' ignored")" = 1 ] || fail "Phone named more than once: $err"
c check a1@example.com weekly-news; rc_is 0; out_is "allow"
c show a1@example.com --json
json_check 'j["records"][0]["source"] == "crm" and j["records"][0]["basis"] == "consent"'
c check a2@example.com offers; rc_is 1; out_is "deny withdrawn"

step="';' detected"
printf 'email;type;state;time;source\nb1@example.com;weekly-news;granted;2026-01-03T00:00:00Z;crm, export\n' >"$T/b.csv"
c import "$T/b.csv"; rc_is 0; out_has "1 rows read, 1 valid"
c show b1@example.com --json; json_check 'j["records"][0]["source"] == "crm, export"'

step="tab detected"
printf 'email\ttype\tstate\ttime\tsource\nb2@example.com\tweekly-news\tgranted\t2026-01-03T00:00:00Z\tcrm\n' >"$T/t.csv"
c import "$T/t.csv"; rc_is 0; out_has "1 rows read, 1 valid"
c check b2@example.com weekly-news; rc_is 0

step="--delimiter given (';' and tab)"
# as many commas as semicolons: detection takes ','
printf 'email;type;state;time;source;n,o,t,e,s,x\nb3@example.com;weekly-news;granted;2026-01-03T00:00:00Z;a,b;\n' >"$T/g.csv"
c import "$T/g.csv"; rc_is 65
c import "$T/g.csv" --delimiter ';'; rc_is 0; out_has "1 rows read, 1 valid"
err_has "column 'n,o,t,e,s,x' ignored"
c show b3@example.com --json; json_check 'j["records"][0]["source"] == "a,b"'
printf 'email\ttype\tstate\ttime\tsource\tn;o;t;e;s;x\nb4@example.com\tweekly-news\tgranted\t2026-01-03T00:00:00Z\ts;1;2\t\n' >"$T/g2.csv"
c import "$T/g2.csv"; rc_is 65
c import "$T/g2.csv" --delimiter tab; rc_is 0; out_has "1 rows read, 1 valid"
c show b4@example.com --json; json_check 'j["records"][0]["source"] == "s;1;2"'
c import "$T/g2.csv" --delimiter x; rc_is 64; err_has "--delimiter 'x'"

step="--map for foreign names (repeated and comma-separated)"
cat >"$T/m.csv" <<'CSV'
E-Mail,Newsletter,Status,Date,Origin
m1@example.com,weekly-news,granted,2026-02-01T00:00:00Z,shop
CSV
c import "$T/m.csv" --map email=E-Mail,type=Newsletter --map state=status --map time=Date,source=Origin
rc_is 0; out_has "1 rows read, 1 valid"; err_empty
c show m1@example.com --json; json_check 'j["records"][0]["source"] == "shop"'

step="a bad --map"
c import "$T/m.csv" --map mail=E-Mail; rc_is 64; err_has "unknown field 'mail'"
c import "$T/m.csv" --map email; rc_is 64; err_has "--map 'email': FIELD=NAME"

step="missing columns with defaults"
printf 'Email,Time\nd1@example.com,2026-03-01T00:00:00Z\nd2@example.com,2026-03-02T00:00:00Z\n' >"$T/d.csv"
c import "$T/d.csv" --type weekly-news --state granted --source crm-2026-05 --basis consent
rc_is 0; out_has "2 rows read, 2 valid"
c show d2@example.com --json
json_check 'j["records"][0]["source"] == "crm-2026-05" and j["records"][0]["basis"] == "consent"'
c check d1@example.com weekly-news; rc_is 0; out_is "allow"

step="a required column missing without a default"
c export; rc_is 0; printf '%s\n' "$out" >"$T/before"
c import "$T/d.csv" --type weekly-news --source crm; rc_is 65
err_has "$T/d.csv:1: the header must be"; err_has "no column 'state' (or give --state VALUE)"
err_has "nothing imported"

step="a missing time without --time is refused"
printf 'email,type,state,source\nn1@example.com,weekly-news,granted,crm\n' >"$T/n.csv"
c import "$T/n.csv"; rc_is 65; err_has "$T/n.csv:1: no column 'time'"; err_has "--time TIME"
printf 'email,type,state,time,source\nn2@example.com,weekly-news,granted,2026-03-01T00:00:00Z,crm\nn3@example.com,weekly-news,granted,,crm\n' >"$T/n2.csv"
c import "$T/n2.csv"; rc_is 65; err_has "$T/n2.csv:3: time: missing"; err_has "--time TIME"
c export; rc_is 0; printf '%s\n' "$out" >"$T/after"
cmp -s "$T/before" "$T/after" || fail "the index changed"

step="--time gives rows without one their time"
c import "$T/n2.csv" --time 2026-04-01T00:00:00Z; rc_is 0; out_has "2 rows read, 2 valid"
c show n3@example.com --json; json_check '"2026-04-01" in str(j["records"][0])'
c show n2@example.com --json; json_check '"2026-03-01" in str(j["records"][0])'
c import "$T/n.csv" --time 2026-04-02T00:00:00Z; rc_is 0
c check n1@example.com weekly-news; rc_is 0
c import "$T/n.csv" --time yesterday; rc_is 65; err_has "--time 'yesterday'"

step="a --state default never turns a recorded withdrawal into a grant"
printf 'email,type,state,time,source,withdrawn\nw1@example.com,weekly-news,,2026-05-01T00:00:00Z,crm,2026-01-01T00:00:00Z\n' >"$T/wd.csv"
c export; rc_is 0; printf '%s\n' "$out" >"$T/before"
c import "$T/wd.csv" --state granted; rc_is 65
err_has "$T/wd.csv:2: no state, but a withdrawn time"
c export; rc_is 0; printf '%s\n' "$out" >"$T/after"
cmp -s "$T/before" "$T/after" || fail "the index changed"

step="a column twice"
printf 'email,Email,type,state,time,source\nx@example.com,x@example.com,weekly-news,granted,2026-01-01T00:00:00Z,crm\n' >"$T/dup.csv"
c import "$T/dup.csv"; rc_is 65; err_has "$T/dup.csv:1: columns 1 and 2 are both 'email'"

step="CSV options on another format"
printf '{"email":"y@example.com","type":"weekly-news","state":"granted","time":"2026-01-01T00:00:00Z"}\n' >"$T/y.jsonl"
c import "$T/y.jsonl" --source crm; rc_is 64; err_has "for CSV files only"

echo "consentctl import (CRM-shaped CSV): all assertions passed"
