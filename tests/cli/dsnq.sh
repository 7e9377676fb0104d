#!/usr/bin/env bash
# consentctl dsn list / resend against an SMTP sink on 127.0.0.1: a DSN
# the milter gave up on is listed with its error, resending it while the
# target refuses keeps it (exit 75), resending once the target accepts
# delivers it byte for byte and removes it from the spool.
set -u
CTL=$BUILD/consentctl
PY=/usr/bin/python3
[ -x "$CTL" ] || { echo "skip: $CTL not built"; exit 77; }
SINK_PID=
cleanup() { [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$CM_TMP/sink/sink.log" ] && tail "$CM_TMP/sink/sink.log" >&2; exit 1; }

SPOOL=$CM_TMP/spool
mkdir -p "$SPOOL" "$CM_TMP/sink"
"$PY" "$SRCDIR/tests/e2e/lib/sink.py" --dir "$CM_TMP/sink" --port 0 >/dev/null 2>&1 &
SINK_PID=$!
for _ in $(seq 100); do [ -s "$CM_TMP/sink/port" ] && break; sleep 0.05; done
PORT=$(cat "$CM_TMP/sink/port") || fail "sink did not start"
cat >"$CM_TMP/c.yaml" <<YAML
milter:
  socket: "inet:8891@127.0.0.1"
database:
  path: "$CM_TMP/db"
dsn:
  target: "inet:$PORT@127.0.0.1"
  spool: "$SPOOL"
newsletters: []
YAML

# Spool files as the milter writes them (core/dsnq.h): one given up on,
# one still pending.
MSG=$'From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\nTo: <news@shop.example>\r\nSubject: Undelivered Mail\r\n\r\n.leading dot\r\nbody\r\n'
printf 'CM-DSN 1\nrcpt: news@shop.example\nsmtputf8: 0\ncreated: 1795168800000000\nattempts: 8\nerror: RCPT TO:<news@shop.example>: 451 try later\n\n%s' "$MSG" \
	>"$SPOOL/20261120T100000.000000-aaaa-1.failed"
printf 'CM-DSN 1\nrcpt: other@shop.example\nsmtputf8: 0\ncreated: 1795168801000000\nattempts: 2\nnext: 1795169100000000\nerror: connect to 127.0.0.1 port 25: Connection refused\n\n%s' "$MSG" \
	>"$SPOOL/20261120T100001.000000-bbbb-2.dsn"

out=$("$CTL" -c "$CM_TMP/c.yaml" dsn list) || fail "dsn list"
grep -Eq '^ID +STATE +CREATED +RCPT +SIZE +ATTEMPTS +NEXT-RETRY +ERROR$' <<<"$out" || fail "list header: $out"
grep -Eq '^20261120T100000\.000000-aaaa-1 +failed +2026-11-20T10:00:00Z +news@shop\.example +[0-9]+ +8 +- +RCPT TO:<news@shop\.example>: 451 try later$' <<<"$out" ||
	fail "list (failed): $out"
grep -Eq '^20261120T100001\.000000-bbbb-2 +pending +2026-11-20T10:00:01Z +other@shop\.example +[0-9]+ +2 +2026-11-20T10:05:00Z +connect to 127\.0\.0\.1 port 25: Connection refused$' <<<"$out" || fail "list (pending): $out"
"$CTL" -c "$CM_TMP/c.yaml" dsn list --json | "$PY" -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin]
assert [r["state"] for r in rs] == ["failed", "pending"], rs
assert rs[0]["error"].endswith("451 try later"), rs
assert rs[0]["attempts"] == 8 and rs[0]["next_retry"] is None, rs
assert rs[1]["attempts"] == 2 and rs[1]["next_retry"] == "2026-11-20T10:05:00Z", rs
assert rs[1]["error"].endswith("Connection refused"), rs
' || fail "dsn list --json"
echo "ok - dsn list shows failed and pending DSNs, their attempts, next retry and last error"

# target refuses: kept, exit 75, error updated
echo "450 4.2.0 mailbox busy" >"$CM_TMP/sink/ctl/rcpt"
"$CTL" -c "$CM_TMP/c.yaml" dsn resend --all >/dev/null 2>"$CM_TMP/err"; rc=$?
[ $rc = 75 ] || fail "resend while refused: exit $rc, want 75"
grep -q "450 4.2.0 mailbox busy" "$CM_TMP/err" || fail "resend error not shown: $(cat "$CM_TMP/err")"
[ -f "$SPOOL/20261120T100000.000000-aaaa-1.failed" ] || fail "refused DSN not kept"
grep -q '^error: .*450 4.2.0 mailbox busy' "$SPOOL/20261120T100000.000000-aaaa-1.failed" || fail "error not updated"
grep -q '^attempts: 9$' "$SPOOL/20261120T100000.000000-aaaa-1.failed" || fail "attempt not counted"
echo "ok - refused: kept in the spool, exit 75"

# target accepts: delivered, removed; the pending one is left to the milter
rm -f "$CM_TMP/sink/ctl/rcpt"
"$CTL" -c "$CM_TMP/c.yaml" dsn resend --all >"$CM_TMP/out" || fail "resend: $(cat "$CM_TMP/out")"
grep -q '^20261120T100000.000000-aaaa-1 sent: accepted: 250' "$CM_TMP/out" || fail "resend output: $(cat "$CM_TMP/out")"
[ ! -e "$SPOOL/20261120T100000.000000-aaaa-1.failed" ] || fail "sent DSN still spooled"
[ -e "$SPOOL/20261120T100001.000000-bbbb-2.dsn" ] || fail "pending DSN touched by --all"
for _ in $(seq 100); do ls "$CM_TMP"/sink/msgs/*.json >/dev/null 2>&1 && break; sleep 0.05; done
"$PY" - "$CM_TMP/sink/msgs" "$MSG" <<'PY' || fail "message at the sink"
import glob, json, sys
js = sorted(glob.glob(sys.argv[1] + "/*.json"))
assert len(js) == 1, js
m = json.load(open(js[0]))
assert m["mail_from"] == "" and m["rcpts"] == ["news@shop.example"], m
data = open(sys.argv[1] + "/" + m["data"], "rb").read()
assert data == sys.argv[2].encode(), (data, sys.argv[2])
PY
echo "ok - resent from <> to the sender, byte for byte, and removed"

# by id; unknown id; bad id
"$CTL" -c "$CM_TMP/c.yaml" dsn resend 20261120T100001.000000-bbbb-2 >/dev/null || fail "resend by id"
[ -z "$(ls "$SPOOL")" ] || fail "spool not empty: $(ls "$SPOOL")"
"$CTL" -c "$CM_TMP/c.yaml" dsn resend nosuch-id >/dev/null 2>&1; rc=$?
[ $rc = 66 ] || fail "unknown id: exit $rc, want 66"
"$CTL" -c "$CM_TMP/c.yaml" dsn resend ../../etc/passwd >/dev/null 2>&1; rc=$?
[ $rc = 64 ] || fail "bad id: exit $rc, want 64"
echo "ok - resend by id, unknown and invalid ids refused"
