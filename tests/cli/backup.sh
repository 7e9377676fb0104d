#!/usr/bin/env bash
# consentctl dump (export --full) and restore: an index of 1,000 records
# built through import and single commands (history of several events per
# address, erasures, objections, domain suppressions, quoted local parts,
# IDN domains) dumps, restores into a new index, and gives the same
# show --json, history and stats for every address; an erased address
# stays denied; the restored index dumps to the same file byte for byte.
# A corrupt line is FILE:LINE and restores nothing; a non-empty index is
# refused.  The plain export of a quoted local part imports again.
. "$(dirname "$0")/ctl-lib.bash"

# A second and third index with the same policy.
for n in 2 3 4; do
	sed "s#\"$DB\"#\"$T/db$n\"#" "$CONF" >"$T/policy$n.yaml"
	grep -q "$T/db$n" "$T/policy$n.yaml" || fail "no policy for db$n"
done
c2() { run -c "$T/policy2.yaml" "$@"; }
c3() { run -c "$T/policy3.yaml" "$@"; }
c4() { run -c "$T/policy4.yaml" "$@"; }

step="build: 1,000 records through import"
c init; rc_is 0
# $T/addrs: every address as given on the command line, one a line
"$PY" - "$T" <<'PY'
import json, sys
t = sys.argv[1]
addrs = []
for i in range(1000):
    if i % 50 == 7:
        addrs.append('"first last %d"@example.com' % i)
    elif i % 50 == 13:
        addrs.append('user%d@bücher.example' % i)
    else:
        addrs.append('u%d@example.%s' % (i, "com" if i % 2 else "org"))
def q(s):
    return '"' + s.replace('"', '""') + '"'
with open(t + "/addrs", "w") as f:
    f.write("".join(a + "\n" for a in addrs))
hdr = "email,type,state,time,source,basis,purpose,evidence\n"
with open(t + "/a1.csv", "w") as f:
    f.write(hdr)
    for i, a in enumerate(addrs):
        f.write("%s,weekly-news,granted,2026-01-01T00:%02d:%02dZ,web,consent,"
                "news,form=%d\n" % (q(a), i // 60 % 60, i % 60, i))
    f.write("@spam.example,*,suppressed,2026-01-05T00:00:00Z,abuse,,,\n")
with open(t + "/a2.csv", "w") as f:
    f.write(hdr)
    for i, a in enumerate(addrs):
        f.write("%s,offers,granted,2026-02-01T00:00:00Z,crm,,,\n" % q(a))
        if i % 3 == 0:
            f.write("%s,weekly-news,withdrawn,2026-03-01T00:00:00Z,"
                    "unsubscribe-link,,,\n" % q(a))
        if i % 5 == 0:
            f.write("%s,customer-updates,withdrawn,2026-03-02T00:00:00Z,"
                    "phone,,,\n" % q(a))
with open(t + "/a3.jsonl", "w") as f:
    for i, a in enumerate(addrs):
        if i % 7 == 0:
            f.write(json.dumps({"email": a, "type": "weekly-news",
                "state": "granted", "time": "2026-04-01T00:00:00Z",
                "source": 're-signup, "form"',
                "evidence": "café ☕ %d\nline 2" % i}) + "\n")
PY
c import "$T/a1.csv"; rc_is 0
c import "$T/a2.csv"; rc_is 0
c import "$T/a3.jsonl"; rc_is 0

step="build: single commands"
c confirm u1@example.com offers; rc_is 0
c grant u2@example.org offers --source api --evidence 'ip=192.0.2.2'; rc_is 0
c withdraw u4@example.org offers; rc_is 0
c withdraw u6@example.org --all; rc_is 0
c withdraw '"first last 57"@example.com' --all; rc_is 0
c grant u10@example.org offers; rc_is 0
c withdraw user63@bücher.example --all; rc_is 0
c suppress-domain spam2.example --source abuse; rc_is 0
c suppress-domain gone.example; rc_is 0
c unsuppress-domain gone.example; rc_is 0
erased=(u3@example.com '"first last 107"@example.com' user113@bücher.example
	u200@example.org u999@example.com)
for a in "${erased[@]}"; do
	c erase "$a"; rc_is 0
done
c check u3@example.com customer-updates; rc_is 1; out_has "deny"
c stats; rc_is 0; out_has "tombstones:      5"

step="plain export of quoted local parts imports again"
c export -o "$T/plain.csv"; rc_is 0
grep -qF '"""first last 7""@example.com",' "$T/plain.csv" ||
	fail "quoted local part not exported quoted"
c export --format jsonl -o "$T/plain.jsonl"; rc_is 0
grep -qF '"email":"\"first last 7\"@example.com"' "$T/plain.jsonl" ||
	fail "quoted local part not exported quoted (JSON Lines)"
c3 import "$T/plain.csv"; rc_is 0
c3 show '"first last 7"@example.com' --json; rc_is 0
json_check 'j["found"] and len(j["records"]) == 2'
c3 export -o "$T/plain3.csv"; rc_is 0
cmp -s "$T/plain.csv" "$T/plain3.csv" || fail "export, import, export differs"

step="dump"
c dump -o "$T/d1.jsonl"; rc_is 0
err_has "keep it as safe as the index"
[ "$(stat -c %a "$T/d1.jsonl")" = 600 ] || fail "dump not mode 0600"
ls "$T"/d1.jsonl.* >/dev/null 2>&1 && fail "temporary file left behind"
head -1 "$T/d1.jsonl" | grep -q '^{"dump":"consent-milter","version":1,' ||
	fail "no header line"
tail -1 "$T/d1.jsonl" | grep -q '^{"item":"end",' || fail "no end line"
grep -qF 'u3@example.com' "$T/d1.jsonl" && fail "erased address in the dump"
c export --full -o "$T/d1b.jsonl"; rc_is 0
cmp -s "$T/d1.jsonl" "$T/d1b.jsonl" || fail "export --full differs from dump"

step="restore into a new index"
c2 restore "$T/d1.jsonl"; rc_is 0
out_has "restored: "
out_has "5 tombstones"
[ "$(stat -c %a "$T/db2/erasure.key")" = 600 ] || fail "key file mode"
cmp -s "$T/db/erasure.key" "$T/db2/erasure.key" || fail "other erasure key"

step="show --json and history of every address are identical"
# (a sanitizer build, ten times slower, compares every fourth address)
every=1
case "$BUILD" in */san*) every=4 ;; esac
: >"$T/s1"; : >"$T/s2"
i=0
while IFS= read -r a; do
	i=$((i + 1))
	[ $((i % every)) -eq 0 ] || [ "$every" -eq 1 ] || continue
	for n in "" 2; do
		for what in "show --json" "history"; do
			# shellcheck disable=SC2086
			"$CTL" -d "$T/db$n" $what "$a" >>"$T/s${n:-1}" 2>&1
			echo "rc=$?" >>"$T/s${n:-1}"
		done
	done
done <"$T/addrs"
[ "$(grep -c '"found":true' "$T/s1")" -ge $((990 / every)) ] ||
	fail "addresses missing"
grep -q '"erased":true' "$T/s1" || fail "no erased address shown"
diff "$T/s1" "$T/s2" >"$T/sdiff" || { out=$(head -20 "$T/sdiff"); fail "show/history differ"; }
for d in spam.example spam2.example gone.example; do
	"$CTL" -d "$T/db" history "$d" >"$T/h1" 2>&1
	"$CTL" -d "$T/db2" history "$d" >"$T/h2" 2>&1
	cmp -s "$T/h1" "$T/h2" || fail "history of domain $d differs"
done
c domains; d1=$out; c2 domains; [ "$out" = "$d1" ] || fail "domains differ"

step="stats are equal"
strip='import json,sys; j=json.load(sys.stdin); [j.pop(k) for k in ("index","map_size","map_used","page_size")]; print(json.dumps(j, sort_keys=True))'
c stats --json; rc_is 0; s1=$(printf '%s' "$out" | "$PY" -c "$strip")
c2 stats --json; rc_is 0; s2=$(printf '%s' "$out" | "$PY" -c "$strip")
[ "$s1" = "$s2" ] || fail "stats differ: $s1 / $s2"

step="an erased address stays denied, also for a no-objection type"
for a in "${erased[@]}"; do
	c check "$a" customer-updates; rc_is 1; out_is "deny suppressed"
	c2 check "$a" customer-updates; rc_is 1; out_is "deny suppressed"
	c2 show "$a" --json; json_check 'j["erased"] is True'
done
c2 check u5@example.com customer-updates; rc_is 1
c2 check u7@example.com customer-updates; rc_is 0; out_is "allow"
c2 check x@spam.example weekly-news; rc_is 1; out_is "deny suppressed"
c2 check u6@example.org customer-updates; rc_is 1; out_is "deny objection"

step="the restored index dumps to the same file byte for byte"
c2 dump -o "$T/d2.jsonl"; rc_is 0
cmp "$T/d1.jsonl" "$T/d2.jsonl" || fail "second dump differs"

step="and keeps working: the next event goes on from the last sequence"
c2 grant u11@example.com offers; rc_is 0
c2 history u11@example.com --json
last=$(printf '%s\n' "$out" | tail -1 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["seq"])')
next=$(head -1 "$T/d1.jsonl" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["next_seq"])')
[ "$last" = "$next" ] || fail "new event seq $last, expected $next"

step="restore into a non-empty index is refused"
c2 restore "$T/d1.jsonl"; rc_is 73; err_has "not empty"
c restore "$T/d1.jsonl"; rc_is 73

step="a corrupt line: FILE:LINE and nothing restored"
awk 'NR == 500 { $0 = substr($0, 1, length($0) - 1) } { print }' \
	"$T/d1.jsonl" >"$T/bad.jsonl"
c4 restore "$T/bad.jsonl"; rc_is 65
err_has "$T/bad.jsonl:500: "; err_has "nothing restored"
c4 stats --json; rc_is 0
json_check 'j["addresses"] == 0 and j["history_events"] == 0 and j["tombstones"] == 0 and j["domains"] == 0'
# a line that parses but holds a bad item, late in the file
n=$(grep -n '"item":"record"' "$T/d1.jsonl" | tail -1 | cut -d: -f1)
sed "${n}s/\"state\":\"[a-z]*\"/\"state\":\"bogus\"/" "$T/d1.jsonl" >"$T/bad2.jsonl"
c4 restore "$T/bad2.jsonl"; rc_is 65; err_has "$T/bad2.jsonl:$n: \"state\""
n=$(grep -n '"item":"event"' "$T/d1.jsonl" | sed -n 3p | cut -d: -f1)
sed "${n}p" "$T/d1.jsonl" >"$T/dup.jsonl"
c4 restore "$T/dup.jsonl"; rc_is 65; err_has "$T/dup.jsonl:$((n + 1)): "
err_has "given twice"
c4 stats --json; rc_is 0
json_check 'j["addresses"] == 0 and j["history_events"] == 0 and j["tombstones"] == 0 and j["domains"] == 0'
sed -n '1,700p' "$T/d1.jsonl" >"$T/short.jsonl"
c4 restore "$T/short.jsonl"; rc_is 65; err_has "$T/short.jsonl:"
err_has "end line"
sed '$d' "$T/d1.jsonl" >"$T/noend.jsonl"
printf '{"item":"end","domains":0,"addresses":1,"records":0,"tombstones":0,"events":0}\n' >>"$T/noend.jsonl"
c4 restore "$T/noend.jsonl"; rc_is 65; err_has "incomplete"
c4 stats --json; json_check 'j["addresses"] == 0 and j["history_events"] == 0'
# the empty index left behind takes the dump afterwards
c4 restore "$T/d1.jsonl"; rc_is 0

step="a dump of another index is refused by an index with another key"
rm -rf "$T/db3"; c3 init; rc_is 0
c3 restore "$T/d1.jsonl"; rc_is 73; err_has "another erasure key"
exit 0
