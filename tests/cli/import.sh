#!/usr/bin/env bash
# consentctl import/export: CSV (quoted commas, quotes, newlines), JSON
# Lines, YAML; a bad row is reported with its line and changes nothing;
# --dry-run, --skip-invalid; newer event wins; export -> import -> export
# is byte-identical; no progress line on a pipe.
. "$(dirname "$0")/ctl-lib.bash"

step="init"
c init; rc_is 0

step="CSV import with RFC 4180 quoting"
cat >"$T/a.csv" <<'CSV'
email,type,state,time,source,basis,purpose,evidence
alice@example.com,weekly-news,granted,2026-01-01T00:00:00Z,crm,consent,"news, weekly","form=7
ip=192.0.2.7 ""signup"""
<Bob@Example.NET>,offers,confirmed,2026-03-01T10:00:00+01:00,web,,,
carol@example.org,*,withdrawn,2026-02-01T00:00:00Z,phone,,,

dan@example.com,offers,pending,2026-02-02,web,,,
@spam.example,*,suppressed,2026-01-05T00:00:00Z,abuse,,,
CSV
printf 'eve@example.com,weekly-news,withdrawn,2026-04-01T00:00:00Z,unsubscribe-link,,,\r\n' >>"$T/a.csv"
c import "$T/a.csv"; rc_is 0
out_has "6 rows read, 6 valid, 0 invalid"; out_has "7 events applied, 0 stale"
[ -z "$err" ] || fail "stderr not empty on a pipe (progress line?)"
c show alice@example.com --json; rc_is 0
json_check 'j["records"][0]["purpose"] == "news, weekly" and j["records"][0]["evidence"] == "form=7\nip=192.0.2.7 \"signup\""'
c check bob@example.net offers; rc_is 0; out_is "allow"
c check carol@example.org weekly-news; rc_is 1; out_is "deny objection"
c check dan@example.com offers; rc_is 1; out_is "deny unconfirmed"
c check x@spam.example weekly-news; rc_is 1; out_is "deny suppressed"
c check eve@example.com customer-updates; rc_is 0
c check eve@example.com weekly-news; rc_is 1; out_is "deny withdrawn"

step="JSON Lines import"
cat >"$T/b.jsonl" <<'JSONL'
{"email":"fred@example.com","type":"weekly-news","state":"granted","time":"2026-05-01T00:00:00Z","source":"api","basis":null,"evidence":"caf\u00e9 \ud83d\ude00 \"q\" a\\b\/c"}

  {"email": "gina@example.com", "type": "offers", "state": "pending", "time": "2026-05-02T00:00:00Z"}
JSONL
c import "$T/b.jsonl"; rc_is 0; out_has "2 rows read, 2 valid"
c show fred@example.com --json
json_check 'j["records"][0]["evidence"] == "café 😀 \"q\" a\\b/c" and j["records"][0]["basis"] == "" and j["records"][0]["source"] == "api"'
c check gina@example.com offers; rc_is 1; out_is "deny unconfirmed"

step="YAML import"
cat >"$T/c.yaml" <<'YAML'
# consent from the events team
- email: hank@example.com
  type: weekly-news
  state: granted
  time: 2026-06-01T00:00:00Z
  source: "fair, booth 7"
  evidence: ~
- {email: ida@example.com, type: offers, state: confirmed, time: "2026-06-02T00:00:00Z"}
YAML
c import "$T/c.yaml"; rc_is 0; out_has "2 rows read, 2 valid"
c show hank@example.com --json; json_check 'j["records"][0]["source"] == "fair, booth 7"'
c check ida@example.com offers; rc_is 0; out_is "allow"

step="standard input"
printf '{"email":"jo@example.com","type":"weekly-news","state":"granted","time":"2026-06-03T00:00:00Z"}\n' |
	{ "$CTL" -c "$CONF" import - --format jsonl >"$T/o" 2>"$T/e"; echo $? >"$T/rc"; }
out=$(cat "$T/o"); err=$(cat "$T/e"); rc=$(cat "$T/rc")
rc_is 0; out_has "stdin: 1 rows read"
c check jo@example.com weekly-news; rc_is 0

# A bad row anywhere: FILE:LINE: reason, and the index is unchanged.
c export; rc_is 0; printf '%s\n' "$out" >"$T/before"
same_as_before() {
	c export; rc_is 0
	printf '%s\n' "$out" >"$T/after"
	cmp -s "$T/before" "$T/after" || fail "the index changed: $(diff "$T/before" "$T/after" | head -5)"
}

step="bad CSV row at line 6 (after a quoted newline)"
cat >"$T/bad.csv" <<'CSV'
email,type,state,time,source,basis,purpose,evidence
k1@example.com,weekly-news,granted,2026-07-01T00:00:00Z,,,,"two
lines"
k2@example.com,weekly-news,granted,2026-07-01T00:00:00Z,,,,
k3@example.com,weekly-news,granted,2026-07-01T00:00:00Z,,,,
not-an-address,weekly-news,granted,2026-07-01T00:00:00Z,,,,
k4@example.com,weekly-news,granted,2026-07-01T00:00:00Z,,,,
CSV
c import "$T/bad.csv"; rc_is 65
err_has "$T/bad.csv:6: email 'not-an-address'"; err_has "nothing imported"
same_as_before
c check k1@example.com weekly-news; rc_is 1
# in batches of 5 events: several batches are applied before line 6
c import --batch 5 "$T/bad.csv"; rc_is 65
err_has "$T/bad.csv:6: email 'not-an-address'"; err_has "nothing imported"
same_as_before
c check k1@example.com weekly-news; rc_is 1

for case in \
	"7|k5@example.com,weekly-news,granted,2026-13-01T00:00:00Z,,,,|time '2026-13-01T00:00:00Z'" \
	"7|k5@example.com,no-such-type,granted,2026-07-01T00:00:00Z,,,,|type 'no-such-type'" \
	"7|k5@example.com,weekly-news,maybe,2026-07-01T00:00:00Z,,,,|state 'maybe'" \
	"7|k5@example.com,weekly-news,granted,2026-07-01T00:00:00Z,,,|7 fields, the header has 8" \
	"7|k5@example.com,weekly-news,granted,,,,,|time: missing" \
	"7|k5@example.com,*,granted,2026-07-01T00:00:00Z,,,,|type '*'" \
	"7|k5@example.com,weekly-news,granted,2026-07-01T00:00:00Z,a\"b,,,|7:58: quote inside an unquoted field" \
	"7|k5@example.com,weekly-news,granted,2026-07-01T00:00:00Z,\"ab\"x,,,|7:61: unexpected character after a closing quote" \
	"7|k5@example.com,weekly-news,granted,2026-07-01T00:00:00Z,\"open,,,|7:57: quoted field opened here is never closed"; do
	IFS='|' read -r line row msg <<<"$case"
	step="bad CSV row: $msg"
	{ head -n 6 "$T/bad.csv" | grep -v not-an-address; echo "k4b@example.com,weekly-news,granted,2026-07-01T00:00:00Z,,,,"; printf '%s\n' "$row"; } >"$T/bad2.csv"
	c import "$T/bad2.csv"; rc_is 65; err_has "$T/bad2.csv:$line:"; err_has "$msg"
	same_as_before
done

step="bad CSV header"
printf 'email,type,state,time\nx@example.com,weekly-news,granted,2026-01-01\n' >"$T/h.csv"
c import "$T/h.csv"; rc_is 65; err_has "$T/h.csv:1: the header must be"
same_as_before

step="byte order mark"
printf '\357\273\277' >"$T/bom.csv"
c import "$T/bom.csv"; rc_is 65; err_has "$T/bom.csv:1: empty file"
printf '\357\273\277email,type,state,time,source,basis,purpose,evidence\r\nbom@example.com,weekly-news,granted,2026-07-01T00:00:00Z,,,,\r\n' >"$T/bom.csv"
c import --dry-run "$T/bom.csv"; rc_is 0; out_has "1 rows read, 1 valid"

step="bad JSON Lines rows"
good='{"email":"l1@example.com","type":"weekly-news","state":"granted","time":"2026-07-01T00:00:00Z"}'
for case in \
	'{"email":"l2@example.com","type":"weekly-news","state":"granted","time":"2026-07-01T00:00:00Z","x":"y"}|unknown key "x"' \
	'{"email":"l2@example.com","type":"weekly-news","state":"granted","time":"2026-07-01T00:00:00Z",}|3:96: '"'"'"'"'"' expected' \
	'{"email":"l2@example.com","type":"weekly-news","state":"granted","time":2026}|a string or null expected' \
	'{"email":"l2@example.com","type":"weekly-news","state":"granted","time":"2026-07-01T00:00:00Z","source":["a"]}|nested array' \
	'{"email":"l2@example.com","type":"weekly-news","state":"granted","time":"2026-07-01T00:00:00Z","source":true}|3:105: value expected' \
	'{"email":"l2@example.com","type":"weekly-news","state":"granted","time":"2026-07-01T00:00:00Z","source":"\ud800"}|lone\|high surrogate' \
	'{"email":"l2@example.com","type":"weekly-news","state":"granted","time":"2026-07-01T00:00:00Z","source":"a\u0000b"}|\u0000' \
	'{"email":"l2@example.com","email":"l3@example.com","type":"weekly-news","state":"granted","time":"2026-07-01T00:00:00Z"}|duplicate key' \
	'{"email":"l2@example.com","type":"weekly-news","state":"granted"}|key '"'"'time'"'"' missing' \
	'{"email":"l2@example.com","type":"weekly-news","state":"granted","time":"2026-07-01T00:00:00Z"} x|text after the object'; do
	row=${case%|*}; msg=${case##*|}
	step="bad JSONL row: $msg"
	printf '%s\n\n%s\n' "$good" "$row" >"$T/bad.jsonl"
	c import "$T/bad.jsonl"; rc_is 65; err_has "$T/bad.jsonl:3:"
	grep -qE -- "$msg" <<<"$err" || grep -qF -- "$msg" <<<"$err" || fail "stderr lacks '$msg'"
	same_as_before
done

step="bad YAML items"
cat >"$T/bad.yaml" <<'YAML'
- email: m1@example.com
  type: weekly-news
  state: granted
  time: 2026-07-01T00:00:00Z
- email: m2@example.com
  type: weekly-news
  state: granted
  time: [2026]
YAML
c import "$T/bad.yaml"; rc_is 65; err_has "$T/bad.yaml:8:9: key 'time'"
same_as_before
printf -- '- email: m1@example.com\n  type: weekly-news\n  state: granted\n  time: 2026-07-01\n- email: m2@example.com\n  type: x\n  state: granted\n  time: 2026-07-01\n  bogus: 1\n' >"$T/bad.yaml"
c import "$T/bad.yaml"; rc_is 65; err_has "$T/bad.yaml:9: unknown key 'bogus'"
printf 'email: m1@example.com\n' >"$T/bad.yaml"
c import "$T/bad.yaml"; rc_is 65; err_has "$T/bad.yaml:1:1: the document must be a list of mappings"
printf -- '- email: "m1@example.com\n' >"$T/bad.yaml"
c import "$T/bad.yaml"; rc_is 65; err_has "$T/bad.yaml:2:"; err_has "YAML syntax"
# 200 KB of nesting: stopped at the first level too many (libyaml's time
# is quadratic in the depth: reading on took tens of seconds)
"$PY" -c 'import sys; sys.stdout.write("- email: m1@example.com\n  type: offers\n  x: " + "[" * 100000 + "]" * 100000 + "\n")' >"$T/deep.yaml"
c import "$T/deep.yaml"; rc_is 65; err_has "$T/deep.yaml:3:37: nesting deeper than 32 levels"
printf '%s%s\n' "$(printf '%.0s[' $(seq 100000))" "$(printf '%.0s]' $(seq 100000))" >"$T/deep.yaml"
c import "$T/deep.yaml"; rc_is 65; err_has "$T/deep.yaml:1:34: nesting deeper than 32 levels"
same_as_before

step="--dry-run"
c import --dry-run "$T/bad.csv"; rc_is 65; out_has "1 invalid (dry run: nothing changed)"; err_has "$T/bad.csv:6:"
same_as_before
printf 'email,type,state,time,source,basis,purpose,evidence\nn1@example.com,weekly-news,granted,2026-07-01T00:00:00Z,,,,\n' >"$T/ok.csv"
c import --dry-run "$T/ok.csv"; rc_is 0; out_has "1 rows read, 1 valid, 0 invalid (dry run"
same_as_before

step="--skip-invalid"
c import --skip-invalid "$T/bad.csv"; rc_is 0
out_has "5 rows read, 4 valid, 1 invalid"; err_has "$T/bad.csv:6:"; err_has "(skipped)"
c check k1@example.com weekly-news; rc_is 0
c check k4@example.com weekly-news; rc_is 0

step="newer event wins"
printf 'email,type,state,time,source,basis,purpose,evidence\np1@example.com,weekly-news,withdrawn,2026-08-01T00:00:00Z,unsubscribe,,,\n' >"$T/w.csv"
printf 'email,type,state,time,source,basis,purpose,evidence\np1@example.com,weekly-news,granted,2026-07-01T00:00:00Z,old-crm,,,\n' >"$T/g.csv"
c import "$T/w.csv"; rc_is 0; out_has "1 events applied, 0 stale"
c import "$T/g.csv"; rc_is 0; out_has "0 events applied, 1 stale"
c check p1@example.com weekly-news; rc_is 1; out_is "deny withdrawn"
c show p1@example.com --json; json_check 'j["records"][0]["source"] == "unsubscribe"'
c import "$T/w.csv"; rc_is 0; out_has "0 events applied, 1 stale"

step="export -> import -> export is byte-identical"
# records in every state: confirmed, re-granted after withdrawal, confirmed
# then withdrawn, confirmation older than a re-grant, objections, domains
c grant q1@example.com offers --at 2026-01-01T00:00:00Z --source web --evidence 'ip=192.0.2.1, "form"'
c confirm q1@example.com offers --at 2026-01-02T00:00:00.5Z
c withdraw q1@example.com offers --at 2026-01-03T00:00:00Z
c grant q2@example.com weekly-news --at 2026-01-01T00:00:00Z
c withdraw q2@example.com weekly-news --at 2026-01-02T00:00:00Z
c grant q2@example.com weekly-news --at 2026-01-03T00:00:00Z --basis consent
c grant q3@example.com offers --confirmed --at 2026-01-01T00:00:00Z
c grant q3@example.com offers --at 2026-01-05T00:00:00Z --confirmed
c grant q4@example.com weekly-news --at 2026-01-01T00:00:00Z
c withdraw q4@example.com --all --at 2026-01-02T00:00:00Z
c suppress-domain other.example --at 2026-01-01T00:00:00Z
for fmt in csv jsonl; do
	step="round trip $fmt"
	"$CTL" -c "$CONF" export --format $fmt -o "$T/e1.$fmt" || fail "export failed"
	rm -rf "$T/db2"
	run -d "$T/db2" import "$T/e1.$fmt"; rc_is 0; out_has "0 invalid"
	run -d "$T/db2" export --format $fmt -o "$T/e2.$fmt"; rc_is 0
	cmp "$T/e1.$fmt" "$T/e2.$fmt" || fail "$fmt export differs after import: $(diff "$T/e1.$fmt" "$T/e2.$fmt" | head)"
	[ "$(wc -l <"$T/e1.$fmt")" -ge 20 ] || fail "export too short"
	run -d "$T/db2" check q4@example.com weekly-news --requirement opt-in; rc_is 1; out_is "deny objection"
done
grep -qF 'q1@example.com,offers,withdrawn,2026-01-03T00:00:00Z,web,,,"ip=192.0.2.1, ""form""",2026-01-01T00:00:00Z,2026-01-02T00:00:00.5Z,2026-01-03T00:00:00Z' "$T/e1.csv" ||
	fail "unexpected export row for q1: $(grep q1@ "$T/e1.csv")"
grep -qF '@other.example,*,suppressed,2026-01-01T00:00:00Z' "$T/e1.csv" || fail "domain row missing"
out=$(cat "$T/e1.jsonl"); jsonl_check 'len(L) >= 20 and all(set(o) == {"email","type","state","time","source","basis","purpose","evidence","granted","confirmed","withdrawn"} for o in L)'

step="export errors"
c export -o "$T/no/such/dir/x.csv"; rc_is 73
c import "$T/does-not-exist.csv"; rc_is 66

step="many small batches"
awk 'BEGIN { print "email,type,state,time,source,basis,purpose,evidence";
	for (i = 0; i < 1000; i++) printf "s%d@example.com,weekly-news,%s,2026-07-01T00:00:0%dZ,,,,\n", i, i % 3 ? "granted" : "confirmed", i % 10 }' >"$T/small.csv"
c import --batch 7 "$T/small.csv"; rc_is 0
out_has "1000 rows read, 1000 valid, 0 invalid; 1334 events applied, 0 stale"
c check s999@example.com weekly-news; rc_is 0
c check s0@example.com weekly-news; rc_is 0
c import --batch 7 "$T/small.csv"; rc_is 0
out_has "0 events applied, 1334 stale"

step="kill -9 of an import: all or nothing"
awk 'BEGIN { print "email,type,state,time,source,basis,purpose,evidence";
	for (i = 0; i < 600000; i++) printf "k%d@example.com,weekly-news,granted,2026-09-01T00:00:00Z,crm,,,\n", i }' >"$T/k.csv"
c export -o "$T/before.csv"; rc_is 0
"$CTL" -c "$CONF" import "$T/k.csv" >"$T/ko" 2>&1 &
kp=$!
sleep 0.3
kill -KILL "$kp" 2>/dev/null
wait "$kp" 2>/dev/null
grep -q "rows read" "$T/ko" && echo "note: the import ended before it was killed"
c export -o "$T/after.csv"; rc_is 0
n=$(($(wc -l <"$T/after.csv") - $(wc -l <"$T/before.csv")))
[ "$n" = 0 ] || [ "$n" = 600000 ] || fail "a killed import left $n of its 600000 rows"
c import "$T/k.csv"; rc_is 0
out_has "600000 valid"
c check k599999@example.com weekly-news; rc_is 0; out_is "allow"

step="SIGBUS (a page of the writable map failed): a clear message, nothing imported"
awk 'BEGIN { print "email,type,state,time,source,basis,purpose,evidence";
	for (i = 0; i < 600000; i++) printf "b%d@example.com,weekly-news,granted,2026-09-01T00:00:00Z,crm,,,\n", i }' >"$T/b.csv"
c export -o "$T/before.csv"; rc_is 0
"$CTL" -c "$CONF" import "$T/b.csv" >"$T/bo" 2>"$T/be" &
kp=$!
sleep 0.3
kill -BUS "$kp" 2>/dev/null
wait "$kp"
krc=$?
if grep -q "rows read" "$T/bo"; then
	echo "note: the import ended before SIGBUS"
else
	[ "$krc" = 74 ] || fail "exit status $krc after SIGBUS, expected 74 (EX_IOERR)"
	grep -q "could not be written (disk full or I/O error); nothing imported" "$T/be" ||
		fail "no clear message after SIGBUS: $(cat "$T/be")"
	c export -o "$T/after.csv"; rc_is 0
	cmp -s "$T/before.csv" "$T/after.csv" || fail "the index changed after SIGBUS"
fi

step="disk full: the import is refused before anything is written"
mnt=$T/small
mkdir -p "$mnt"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=8m tmpfs "$mnt" 2>/dev/null; then
	trap 'umount "$mnt" 2>/dev/null' EXIT
	run -d "$mnt/db" init; rc_is 0
	run -d "$mnt/db" grant keep@example.com weekly-news; rc_is 0
	run -d "$mnt/db" import "$T/b.csv"; rc_is 74
	err_has "cannot begin the import"; err_has "No space left on device"
	run -d "$mnt/db" export; rc_is 0
	[ "$(grep -c . <<<"$out")" = 2 ] || fail "the index changed: $out"
	out_has "keep@example.com"
	# a file of many batches is sorted through a temporary file in
	# $TMPDIR: that disk full ends the import cleanly too
	c export -o "$T/before.csv"; rc_is 0
	TMPDIR=$mnt c import "$T/b.csv"; rc_is 74
	err_has "cannot sort the events"; err_has "No space left on device"
	err_has "nothing imported"
	c export -o "$T/after.csv"; rc_is 0
	cmp -s "$T/before.csv" "$T/after.csv" || fail "the index changed after a full TMPDIR"
	TMPDIR=$T/no/such/dir c import "$T/b.csv"; rc_is 73
	err_has "cannot create a temporary file"
	umount "$mnt" || fail "umount $mnt"
	trap - EXIT
else
	echo "note: no tmpfs can be mounted here: the disk-full case is not run"
fi

step="progress line"
# Never on a pipe (stderr was empty above); on a terminal (script(1)) the
# line with rows/s is drawn (redrawn every 256 rows here) and erased.
if command -v script >/dev/null; then
	awk 'BEGIN { print "email,type,state,time,source,basis,purpose,evidence";
		for (i = 0; i < 600; i++) printf "r%d@example.com,weekly-news,granted,2026-09-01T00:00:00Z,,,,\n", i }' >"$T/p.csv"
	CONSENTCTL_PROGRESS_MS=0 script -qec "'$CTL' -c '$CONF' import '$T/p.csv'" "$T/typescript" >/dev/null 2>&1 </dev/null
	grep -aq "import $T/p.csv: 512 rows, .* rows/s, [0-9]*%, ETA" "$T/typescript" || fail "no progress line on a terminal: $(cat -v "$T/typescript" | head -c 600)"
	grep -aq "600 rows read, 600 valid" "$T/typescript" || fail "import under script(1) failed"
	CONSENTCTL_PROGRESS_MS=0 "$CTL" -c "$CONF" import --dry-run "$T/p.csv" >"$T/o" 2>"$T/e" </dev/null
	[ ! -s "$T/e" ] || fail "progress output on a pipe: $(cat -v "$T/e" | head -c 300)"
fi

step="disk reserve: an import that fits is not refused; one that does not says why"
# A 20 MiB file system: 2.3 MB of CSV (20,000 rows) takes some 6 MiB of
# index, and the former reserve (4 x the file + 16 MiB) refused it.
M=$T/small-fs
mkdir -p "$M"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=20m tmpfs "$M" 2>/dev/null; then
	gen() {
		"$PY" -c 'import sys
n = int(sys.argv[1])
print("email,type,state,time,source,basis,purpose,evidence")
for i in range(n):
    print(f"user{i:07d}@example{i%1000}.com,offers,granted,2026-01-01T00:00:00Z,crm,consent,newsletter,form=signup-{i%97} ip=192.0.2.{i%255}")' "$1"
	}
	gen 20000 >"$T/fits.csv"
	gen 100000 >"$T/toobig.csv"
	run -d "$M/db" init; rc_is 0
	run -d "$M/db" import "$T/fits.csv"; rc1=$rc err1=$err
	run -d "$M/db" import "$T/toobig.csv"
	umount "$M"
	rc2=$rc err2=$err
	rc=$rc1 err=$err1; rc_is 0
	rc=$rc2 err=$err2; rc_is 74
	err_has "cannot allocate"; err_has "No space left on device"
	err_has "nothing imported: $M/db has "; err_has " MiB available"
fi
rmdir "$M" 2>/dev/null || true

echo "consentctl import/export: all assertions passed"
