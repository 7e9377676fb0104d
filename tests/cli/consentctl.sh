#!/usr/bin/env bash
# consentctl end to end against a temporary index: every command, its
# --json, its error paths and exit codes.
. "$(dirname "$0")/ctl-lib.bash"

step="help"
run --help; rc_is 0; out_has "usage: consentctl"
for cmd in init grant withdraw confirm suppress-domain unsuppress-domain erase \
	check show history import export dump restore bulk-update stats types \
	domains future; do
	step="help $cmd"
	run "$cmd" --help; rc_is 0; out_has "usage: consentctl"; out_has " $cmd"
done

step="usage errors"
run; rc_is 64; err_has "no command"
run frobnicate; rc_is 64; err_has "unknown command 'frobnicate'"
run --bogus; rc_is 64
c grant; rc_is 64; err_has "ADDR and TYPE expected"
c grant a@b.example weekly-news --bogus; rc_is 64
c grant a@b.example weekly-news --at yesterday; rc_is 65; err_has "--at 'yesterday'"
c grant a@b.example weekly-news --pending --confirmed; rc_is 64
c withdraw a@b.example weekly-news --all; rc_is 64
c check a@b.example; rc_is 64
c stats extra; rc_is 64
c import; rc_is 64
c import - ; rc_is 64; err_has "needs --format"
c export --format yaml; rc_is 64
c export --full --format csv; rc_is 64
c dump extra; rc_is 64
c restore; rc_is 64
c restore "$T/missing.dump"; rc_is 66

step="configuration errors"
run -c "$T/missing.yaml" stats; rc_is 66; err_has "$T/missing.yaml"
printf 'milter:\n  socket: "inet:8891@127.0.0.1"\n  bogus_key: 1\ndatabase:\n  path: "%s"\nnewsletters: []\n' "$DB" >"$T/bad.yaml"
run -c "$T/bad.yaml" stats; rc_is 78; err_has "$T/bad.yaml:3:"

step="no index yet"
c stats; rc_is 66; err_has "consentctl init"
c grant bob@example.net weekly-news; rc_is 66
c check bob@example.net weekly-news; rc_is 66
[ ! -e "$DB/data.mdb" ] || fail "a command other than init created the index"

step="init"
c init; rc_is 0; out_has "$DB"
[ -f "$DB/data.mdb" ] || fail "no data.mdb"
[ "$(stat -c %a "$DB/erasure.key")" = 600 ] || fail "erasure.key mode $(stat -c %a "$DB/erasure.key")"
c init; rc_is 0

step="grant opt-in"
c grant '<Bob@Example.NET>' weekly-news --source web-form --basis consent \
	--purpose "weekly news" --evidence "form=signup-7 ip=192.0.2.1" --at 2026-01-10T10:00:00+01:00
rc_is 0; out_has "bob@example.net: weekly-news granted"
c check bob@example.net weekly-news; rc_is 0; out_is "allow"; err_empty
c check '"Bob"@EXAMPLE.net.' weekly-news; rc_is 0; out_is "allow"
c check bob+tag@example.net weekly-news; rc_is 0; out_is "allow"
c check bob@example.net offers; rc_is 1; out_is "deny no-consent"
c check bob@example.net weekly-news --json; rc_is 0
json_check 'j == {"address": "bob@example.net", "type": "weekly-news", "verdict": "allow", "reason": None}'
c check carol@example.net offers --json; rc_is 1
json_check 'j["verdict"] == "deny" and j["reason"] == "no-consent"'

step="validity"
c check bob@example.net weekly-news --at 2027-12-31T00:00:00Z; rc_is 0; out_is "allow"
c check bob@example.net weekly-news --at 2028-01-10T09:00:00Z; rc_is 1; out_is "deny expired"

step="check errors are not decisions"
c check bob@example.net no-such-type; rc_is 65; err_has "no-such-type"
c check 'not an address' weekly-news; rc_is 65; err_has "not an address"; err_has "deny no-consent"
c check bob@example.net weekly-news --at 2026-13-01; rc_is 65; err_has "check: --at '2026-13-01'"
# a bad time in any time option is a data error (65) naming option and value
c report --since 2026-02-30T00:00:00Z; rc_is 65; err_has "--since '2026-02-30T00:00:00Z'"
c future --after soon; rc_is 65; err_has "--after 'soon'"
c link a@b.example c@b.example --at 2026-1-1; rc_is 65; err_has "--at '2026-1-1'"
run -d "$T/nonexistent" check bob@example.net weekly-news --requirement opt-in; rc_is 66

step="check with -d and --requirement"
run -d "$DB" check bob@example.net weekly-news --requirement opt-in; rc_is 0; out_is "allow"
run -d "$DB" check bob@example.net weekly-news --requirement opt-in --valid-for 1d; rc_is 1; out_is "deny expired"
run -d "$DB" check bob@example.net weekly-news --requirement maybe; rc_is 64
run -c "$CONF" -d "$DB" check bob@example.net weekly-news; rc_is 0; out_is "allow"

step="double opt-in"
c grant dora@example.com offers --at 2026-02-01T00:00:00Z; rc_is 0; out_has "pending"
c check dora@example.com offers; rc_is 1; out_is "deny unconfirmed"
c confirm dora@example.com offers --at 2026-02-01T00:05:00Z; rc_is 0; out_is "dora@example.com: offers granted and confirmed"
c check dora@example.com offers; rc_is 0; out_is "allow"
c confirm nobody@example.com offers; rc_is 65; err_has "no pending or granted consent"
c grant erin@example.com offers --confirmed; rc_is 0; out_is "erin@example.com: offers granted and confirmed"
c check erin@example.com offers; rc_is 0; out_is "allow"
c withdraw erin@example.com offers --at 2026-01-01T00:00:00Z; rc_is 65; err_has "not applied"
c grant erin@example.com offers --at 2020-01-01T00:00:00Z; rc_is 65
c withdraw erin@example.com offers; rc_is 0
c confirm erin@example.com offers; rc_is 65; err_has "not applied"
c grant erin@example.com offers; rc_is 0; out_is "erin@example.com: offers pending (until confirmed)"
c check erin@example.com offers; rc_is 1; out_is "deny unconfirmed"
c grant fay@example.com weekly-news --pending; rc_is 0
c check fay@example.com weekly-news; rc_is 1; out_is "deny unconfirmed"

step="no-objection"
c check gus@example.com customer-updates; rc_is 0; out_is "allow"
c withdraw gus@example.com customer-updates; rc_is 0
c check gus@example.com customer-updates; rc_is 1; out_is "deny withdrawn"

step="withdraw and stale events"
c withdraw bob@example.net weekly-news --source phone --at 2026-06-01T00:00:00Z; rc_is 0
c check bob@example.net weekly-news; rc_is 1; out_is "deny withdrawn"
c grant bob@example.net weekly-news --at 2026-05-01T00:00:00Z; rc_is 65
err_has "not applied"; err_has "2026-05-01T00:00:00Z"
c check bob@example.net weekly-news; rc_is 1; out_is "deny withdrawn"
c grant bob@example.net weekly-news --at 2026-07-01T00:00:00Z --source web-form --basis consent; rc_is 0
c check bob@example.net weekly-news; rc_is 0; out_is "allow"

step="objection to all"
c withdraw hal@example.com --all --at 2026-03-01T00:00:00Z --source letter; rc_is 0; out_has "objection"
c check hal@example.com weekly-news; rc_is 1; out_is "deny objection"
c check hal@example.com customer-updates; rc_is 1; out_is "deny objection"
c grant hal@example.com weekly-news --at 2026-02-01T00:00:00Z; rc_is 0
out_has "weekly-news withdrawn: the objection to all marketing of 2026-03-01T00:00:00Z is newer"
c check hal@example.com weekly-news; rc_is 1; out_is "deny objection"
c grant hal@example.com weekly-news --at 2026-04-01T00:00:00Z; rc_is 0
c check hal@example.com weekly-news; rc_is 0; out_is "allow"
# the grant lifts the objection for weekly-news only
c check hal@example.com customer-updates; rc_is 1; out_is "deny objection"

step="domain suppression"
c suppress-domain Spam.Example --source abuse-desk --at 2026-01-01T00:00:00Z; rc_is 0; out_has "spam.example: suppressed"
c grant ivy@spam.example weekly-news; rc_is 0
c check ivy@spam.example weekly-news; rc_is 1; out_is "deny suppressed"
c domains; rc_is 0; out_has "spam.example"; out_has "abuse-desk"
c domains --json; rc_is 0
jsonl_check 'L == [{"domain": "spam.example", "since": "2026-01-01T00:00:00Z", "source": "abuse-desk"}]'
c suppress-domain 'bad..domain'; rc_is 65
c unsuppress-domain spam.example; rc_is 0
c check ivy@spam.example weekly-news; rc_is 0; out_is "allow"
c domains --json; rc_is 0; out_is ""

step="show"
c show Bob@Example.NET; rc_is 0
out_has "address:    bob@example.net"; out_has "TYPE"; out_has "weekly-news"; out_has "web-form"
c show bob@example.net --json; rc_is 0
json_check 'j["address"] == "bob@example.net" and j["found"] and not j["erased"] and len(j["records"]) == 1'
json_check 'j["records"][0]["state"] == "granted" and j["records"][0]["granted"] == "2026-07-01T00:00:00Z" and j["records"][0]["withdrawn"] == "2026-06-01T00:00:00Z"'
c show hal@example.com --json; rc_is 0
json_check 'j["objection"] is True and j["objection_time"] == "2026-03-01T00:00:00Z"'
c show nobody@example.com; rc_is 1; out_has "records:    none"
c show nobody@example.com --json; rc_is 1; json_check 'j["found"] is False and j["records"] == []'

step="history"
c history bob@example.net; rc_is 0
out_has "SEQ"; out_has "grant"; out_has "withdraw"; out_has "phone"; out_has "form=signup-7 ip=192.0.2.1"
actor=$(id -un)
out_has "$actor"
c history bob@example.net --json; rc_is 0
jsonl_check '[o["event"] for o in L] == ["grant", "withdraw", "grant"] and L[0]["at"] == "2026-01-10T09:00:00Z" and L[0]["evidence"] == "form=signup-7 ip=192.0.2.1" and L[1]["old_state"] == "granted" and L[1]["new_state"] == "withdrawn" and all(o["actor"] for o in L)'
c history nobody@example.com; rc_is 1

step="types"
c types; rc_is 0; out_has "weekly-news"; out_has "double-opt-in"
c types --json; rc_is 0
jsonl_check '[o["id"] for o in L] == ["weekly-news", "offers", "customer-updates"] and L[0]["valid_for_seconds"] == 730*86400'

step="stats"
c stats; rc_is 0; out_has "records:"; out_has "map used:"; out_has "weekly-news"
c stats --json; rc_is 0
json_check 'j["records"] >= 6 and j["addresses"] >= 6 and j["map_size"] > 0 and j["map_used"] > 0 and sum(t["records"] for t in j["by_type"]) == j["records"] and {"type": "offers", "state": "granted", "records": 1} in j["by_type"] and {"type": "customer-updates", "state": "withdrawn", "records": 1} in j["by_type"]'

step="JSON shapes (man page: JSON OUTPUT)"
# one thing: exactly one line, one object
one_object() {
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "$1: not one line"
	printf '%s' "$out" | "$PY" -c 'import json,sys; assert isinstance(json.load(sys.stdin), dict)' ||
		fail "$1: not one JSON object"
}
# a list: JSON Lines, every line an object, at least one
lines_of_objects() {
	[ -n "$out" ] || fail "$1: empty"
	printf '%s\n' "$out" | "$PY" -c 'import json,sys
for l in sys.stdin: assert isinstance(json.loads(l), dict), l' || fail "$1: not JSON Lines of objects"
}
c check bob@example.net weekly-news --json; one_object check
c show bob@example.net --json; one_object show
c stats --json; one_object stats
c history bob@example.net --json; rc_is 0; lines_of_objects history
c types --json; rc_is 0; lines_of_objects types
c export --json; rc_is 0; lines_of_objects "export --json"
json_export=$out
c export --format jsonl; rc_is 0; [ "$out" = "$json_export" ] || fail "export --json differs from --format jsonl"
# an empty list prints nothing and exits 0
mkdir -p "$T/emptylog" "$T/emptyspool"
c future --after 2999-01-01T00:00:00Z --json; rc_is 0; out_is ""
c expiring --within 1s --type offers --json; rc_is 0; out_is ""
c report --log-dir "$T/emptylog" --json; rc_is 0; out_is ""
c report --log-dir "$T/emptylog" --summary --json; rc_is 0; out_is ""
c dsn list --spool "$T/emptyspool" --json; rc_is 0; out_is ""

step="bulk-update"
c bulk-update --type weekly-news --basis legitimate-interest --dry-run; rc_is 0; out_has "match"
n=$(grep -o '^[0-9]*' <<<"$out")
[ "$n" -ge 2 ] || fail "dry run matched $n records"
c show bob@example.net --json; json_check 'j["records"][0]["basis"] == "consent"'
c bulk-update --type weekly-news --state granted --basis legitimate-interest --purpose newsletter; rc_is 0; out_has "updated"
c show bob@example.net --json; json_check 'j["records"][0]["basis"] == "legitimate-interest" and j["records"][0]["purpose"] == "newsletter"'
c history bob@example.net --json; jsonl_check 'L[-1]["event"] == "update"'
c bulk-update --basis x; rc_is 64; err_has "no selection"
c bulk-update --type weekly-news; rc_is 64; err_has "no change"
c bulk-update --type nope --basis x; rc_is 65
c bulk-update --state bogus --basis x; rc_is 64
c bulk-update --granted-before 2026-03-01 --new-source legacy; rc_is 0
c show dora@example.com --json; json_check 'j["records"][0]["source"] == "legacy"'

step="erase"
grep -a -c "bob@example.net" "$DB/data.mdb" >/dev/null || fail "bob@example.net not in data.mdb before erase (test cannot detect erasure)"
c erase Bob@Example.NET; rc_is 0; out_has "erased"
n=$(grep -a -c "bob@example.net" "$DB/data.mdb")
[ "$n" -eq 0 ] || fail "bob@example.net still occurs $n times in data.mdb after erase"
"$PY" - "$DB/data.mdb" <<'PYEOF' || fail "the address is still in data.mdb (bytes)"
import sys
data = open(sys.argv[1], "rb").read()
sys.exit(1 if b"bob@example.net" in data or b"form=signup-7" in data else 0)
PYEOF
c check bob@example.net weekly-news; rc_is 1; out_is "deny suppressed"
c check bob@example.net offers; rc_is 1; out_is "deny suppressed"
c show bob@example.net; rc_is 1; out_has "erased"
c show bob@example.net --json; rc_is 1; json_check 'j["erased"] is True and j["found"] is False'
c history bob@example.net; rc_is 1
c grant bob@example.net weekly-news; rc_is 0
c check bob@example.net weekly-news; rc_is 0; out_is "allow"

step="-d without configuration"
run -d "$DB" grant zed@example.com any.type-1 --at 2026-01-01T00:00:00Z; rc_is 0
run -d "$DB" grant zed@example.com 'Bad Type'; rc_is 65
run -d "$DB" show zed@example.com --json; rc_is 0; json_check 'j["records"][0]["type"] == "any.type-1"'

step="root gives new index files to milter.user"
if [ "$(id -u)" = 0 ] && getent passwd nobody >/dev/null; then
	sed -e "s#\"$DB\"#\"$T/db3\"#" -e 's#^  user: ""#  user: "nobody"#' "$CONF" >"$T/user.yaml"
	grep -q 'user: "nobody"' "$T/user.yaml" || fail "could not set milter.user"
	run -c "$T/user.yaml" init; rc_is 0
	for f in "$T/db3" "$T/db3/data.mdb" "$T/db3/lock.mdb" "$T/db3/erasure.key"; do
		[ "$(stat -c %U "$f")" = nobody ] || fail "$f is owned by $(stat -c %U "$f"), not nobody"
	done
	[ "$(stat -c %a "$T/db3/erasure.key")" = 600 ] || fail "erasure.key mode changed"
fi

echo "consentctl commands: all assertions passed"
