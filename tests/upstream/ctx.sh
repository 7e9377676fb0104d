#!/usr/bin/env bash
# consentctl's index open when the step after it fails (the attach of an
# index holding data recorded before it was attached): the cmocka program
# tests/upstream/test_ctlctx.c, then the same seen from the command line.
# No PostgreSQL is started: the attach is refused before any connect.
set -u
CTL=$BUILD/consentctl
T=$BUILD/tests/upstream/test_ctlctx
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$CTL" ] && [ -x "$T" ] || fail "not built (make)"
db=$CM_TMP/db
"$CTL" -d "$db" init >/dev/null || fail "init"
"$CTL" -d "$db" grant old@example.net weekly-news >/dev/null || fail "grant"
printf 'secret\n' >"$CM_TMP/pw"
chmod 0600 "$CM_TMP/pw"
cat >"$CM_TMP/c.yaml" <<YAML
milter:
  socket: "unix:$CM_TMP/milter.sock"
database:
  path: "$db"
upstream:
  conninfo: "host=127.0.0.1 port=1 dbname=none user=none"
  password_file: "$CM_TMP/pw"
  node: node-x
newsletters:
  - id: weekly-news
    name: "Weekly news"
    consent: opt-in
    match:
      - envelope_sender: "weekly@news.example.com"
YAML
if [ "${VALGRIND:-0}" = 1 ]; then
	CTX_CONFIG=$CM_TMP/c.yaml CTX_DBDIR=$db valgrind -q --error-exitcode=99 \
		--leak-check=full --errors-for-leak-kinds=definite,indirect "$T" 2>"$CM_TMP/err"
else
	CTX_CONFIG=$CM_TMP/c.yaml CTX_DBDIR=$db "$T" 2>"$CM_TMP/err"
fi
rc=$?
[ "$rc" -eq 0 ] || fail "test_ctlctx: exit $rc: $(cat "$CM_TMP/err")"
grep -q 'sync --seed' "$CM_TMP/err" || fail "the refused attach did not say to seed: $(cat "$CM_TMP/err")"

# the same refusal from the command line, for a change and for the sync
# service: exit 65, saying to seed
out=$("$CTL" -c "$CM_TMP/c.yaml" withdraw old@example.net weekly-news 2>&1)
rc=$?
[ "$rc" -eq 65 ] || fail "withdraw on an index not seeded: exit $rc: $out"
grep -q 'sync --seed' <<<"$out" || fail "withdraw: $out"
out=$(timeout 30 "$CTL" -c "$CM_TMP/c.yaml" sync --once 2>&1)
rc=$?
[ "$rc" -eq 65 ] || fail "sync --once on an index not seeded: exit $rc: $out"
grep -q 'sync --seed' <<<"$out" || fail "sync --once: $out"
out=$(timeout 30 "$CTL" -c "$CM_TMP/c.yaml" sync --follow 2>&1 </dev/null)
rc=$?
[ "$rc" -eq 65 ] || fail "sync --follow on an index not seeded: exit $rc: $out"
grep -q 'sync --seed' <<<"$out" || fail "sync --follow: $out"
echo "ok - an index whose attach is refused is closed again, its writer lock free"
exit 0
