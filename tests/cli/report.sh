#!/usr/bin/env bash
# consentctl report: filters, table/CSV/JSON Lines output and --summary over
# a decision log; a hashed log is found by address with the key and holds
# no address in clear.
set -u
CTL=$BUILD/consentctl
PY=/usr/bin/python3
[ -x "$CTL" ] || { echo "skip: $CTL not built"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

LOG=$CM_TMP/log HLOG=$CM_TMP/hlog KEY=$CM_TMP/db/declog.key
mkdir -p "$LOG" "$HLOG" "$CM_TMP/db"
cat >"$CM_TMP/c.yaml" <<YAML
milter:
  socket: "inet:8891@127.0.0.1"
database:
  path: "$CM_TMP/db"
log:
  path: "$LOG"
newsletters: []
YAML
sed "s|path: \"$LOG\"|path: \"$HLOG\"\n  hash_recipients: true|" "$CM_TMP/c.yaml" >"$CM_TMP/h.yaml"

# Records as the milter writes them (core/declog.h), on three days; the
# hashed log stores HMAC-SHA-256 with the key, as the milter does.
head -c 32 /dev/urandom >"$KEY"
"$PY" - "$LOG" "$HLOG" "$KEY" <<'PY'
import hmac, hashlib, json, sys
log, hlog, key = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read()
recs = [
 ("2026-11-20T10:00:00Z", "Q1", "<m1@x>", "news@shop.example", "offers", "spring", "bob@y.example", "deny", "no-consent", "removed"),
 ("2026-11-20T10:00:00.5Z", "Q1", "<m1@x>", "news@shop.example", "offers", "spring", "amy@y.example", "allow", "none", "allowed"),
 ("2026-11-21T09:00:00Z", "Q2", "<m2@x>", "weekly@news.example", "weekly-news", "w47", "bob@y.example", "deny", "withdrawn", "refused"),
 ("2026-11-21T09:00:01Z", "Q2", "<m2@x>", "weekly@news.example", "weekly-news", "w47", "cy@y.example", "deny", "no-consent", "refused"),
 ("2026-11-22T08:00:00Z", "Q3", "<m3@x>", "news@shop.example", "offers", "summer", "dee@y.example", "deny", "no-consent", "removed"),
 ("2026-11-22T08:00:01Z", "Q3", "<m3@x>", "news@shop.example", "offers", "summer, \"big\"", "eve@y.example", "allow", "none", "allowed"),
]
keys = ["time", "queue_id", "message_id", "sender", "type", "campaign", "rcpt", "verdict", "reason", "action"]
def h(s):
    return "hmac-sha256:" + hmac.new(key, s.encode(), hashlib.sha256).hexdigest()
for d, hashed in ((log, False), (hlog, True)):
    for r in recs:
        o = dict(zip(keys, r))
        if hashed:
            o["rcpt"], o["sender"] = h(o["rcpt"]), h(o["sender"])
        with open("%s/decisions-%s.jsonl" % (d, r[0][:10]), "a") as f:
            f.write(json.dumps(o, separators=(",", ":")) + "\n")
PY

# count ARGS...: number of records report lists (JSON Lines)
count() { "$CTL" -c "$CM_TMP/c.yaml" report --jsonl "$@" | grep -c . ; }
check() { local want=$1; shift; got=$(count "$@"); [ "$got" = "$want" ] || fail "report $*: $got records, want $want"; }
check 6
check 4 --type offers
check 2 --type weekly-news
check 2 --rcpt bob@y.example
check 2 --rcpt "<Bob@Y.EXAMPLE>"		# normalized like the milter
check 1 --campaign spring --verdict deny
check 3 --reason no-consent
check 2 --action refused
check 2 --verdict allow
check 2 --since 2026-11-21 --until 2026-11-22
check 4 --since 2026-11-21T00:00:00Z
check 1 --until 2026-11-20T10:00:00.5Z			# exclusive
check 0 --type none
echo "ok - filters"

# formats
"$CTL" -c "$CM_TMP/c.yaml" report --jsonl --type weekly-news | "$PY" -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin]
assert [r["rcpt"] for r in rs] == ["bob@y.example", "cy@y.example"], rs
assert rs[0]["time"] == "2026-11-21T09:00:00Z" and rs[0]["queue_id"] == "Q2", rs
assert rs[0]["campaign"] == "w47" and rs[0]["action"] == "refused", rs
' || fail "--jsonl"
"$CTL" -c "$CM_TMP/c.yaml" report --csv --type offers | "$PY" -c '
import csv, sys
rows = list(csv.reader(sys.stdin))
assert rows[0] == ["time","queue_id","message_id","sender","type","campaign","rcpt","verdict","reason","action"], rows[0]
assert len(rows) == 5, rows
assert rows[4][5] == "summer, \"big\"" and rows[4][6] == "eve@y.example", rows[4]
' || fail "--csv"
out=$("$CTL" -c "$CM_TMP/c.yaml" report --type weekly-news)
[ "$(wc -l <<<"$out")" = 3 ] || fail "table: $out"
grep -Eq '^TIME +QUEUE-ID +TYPE +CAMPAIGN +RCPT +VERDICT +REASON +ACTION$' <<<"$out" || fail "table header: $out"
grep -Eq '^2026-11-21T09:00:01Z +Q2 +weekly-news +w47 +cy@y\.example +deny +no-consent +refused$' <<<"$out" || fail "table row: $out"
[ "$("$CTL" -c "$CM_TMP/c.yaml" report --format csv)" = "$("$CTL" -c "$CM_TMP/c.yaml" report --csv)" ] ||
	fail "--format csv differs from --csv"
"$CTL" -c "$CM_TMP/c.yaml" report --format xml >/dev/null 2>&1 && fail "--format xml accepted"
echo "ok - table, CSV and JSON Lines"

# summary: counts by type x reason x action
out=$("$CTL" -c "$CM_TMP/c.yaml" report --summary --csv)
want=$'type,reason,action,count\r
offers,no-consent,removed,2\r
offers,none,allowed,2\r
weekly-news,no-consent,refused,1\r
weekly-news,withdrawn,refused,1\r'
[ "$out" = "$want" ] || fail "summary: $out"
"$CTL" -c "$CM_TMP/c.yaml" report --summary | grep -Eq '^total +- +- +6$' || fail "summary table total"
echo "ok - summary"

# hashed log: nothing in clear, found with the key
grep -rq 'y\.example' "$HLOG" && fail "hashed log holds an address in clear"
got=$("$CTL" -c "$CM_TMP/h.yaml" report --jsonl --rcpt bob@y.example | grep -c .)
[ "$got" = 2 ] || fail "hashed: --rcpt found $got, want 2"
got=$("$CTL" -c "$CM_TMP/h.yaml" report --jsonl --rcpt nobody@y.example | grep -c .)
[ "$got" = 0 ] || fail "hashed: unknown address found $got"
echo "ok - hashed log: no address in clear, --rcpt finds it with the key"

# errors
"$CTL" -c "$CM_TMP/c.yaml" report --since yesterday >/dev/null 2>&1 && fail "bad --since accepted"
"$CTL" -c "$CM_TMP/c.yaml" report --action deleted >/dev/null 2>&1 && fail "bad --action accepted"
"$CTL" -c "$CM_TMP/c.yaml" report --log-dir "$CM_TMP/none" >/dev/null 2>&1; rc=$?
[ $rc = 66 ] || fail "missing log dir: exit $rc, want 66"
echo "ok - errors"
