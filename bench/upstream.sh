#!/usr/bin/env bash
# The shared store (issue 15): two nodes on one private PostgreSQL
# (tests/lib/pg.sh).  Prints
#   - opt-out propagation: node A's `consentctl withdraw` to node B's
#     milter's first refusal, p50/p99 over 1,000 withdrawals (target p99
#     < 1 s);
#   - sync apply throughput: `consentctl sync --once` on B receiving
#     200,000 events (target >= 100,000 events/s);
#   - bootstrap: a new empty node from a store of 1,000,000 events.
# BENCH_QUICK=1: 100 withdrawals, 20,000 and 100,000 events.
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
CTL=$BUILD/consentctl
MILTER=$BUILD/consent-milter
[ -x "$CTL" ] && [ -x "$MILTER" ] || { echo "upstream: not built"; exit 1; }
NPROP=1000 NTHRU=200000 NBOOT=1000000
if [ -n "${BENCH_QUICK:-}" ]; then NPROP=100 NTHRU=20000 NBOOT=100000; fi
CM_TMP=$(mktemp -d /tmp/cm-bench-up.XXXXXX)
. "$SRCDIR/tests/lib/pg.sh"
. "$SRCDIR/tests/lib/upnode.sh"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -f "$PG_BASE/log" ] && grep -E "FATAL|PANIC|terminated" "$PG_BASE/log" | tail -5
	pg_cleanup
	rm -rf "$CM_TMP"
}
pg_start
trap cleanup EXIT

node() {
	mkdir -p "$CM_TMP/$1/db"
	cat > "$CM_TMP/$1.yaml" <<YAML
milter:
  socket: "unix:$CM_TMP/$1/milter.sock"
database:
  path: "$CM_TMP/$1/db"
  map_size: 4GiB
scope:
  networks: [127.0.0.0/8]
upstream:
  conninfo: "$PG_CONNINFO"
  password_file: "$PG_PWFILE"
  node: bench-$1
  poll_interval: 5s
newsletters:
  - id: weekly-news
    name: "Weekly news"
    consent: opt-in
    match:
      - envelope_sender: "weekly@news.example.com"
YAML
	[ "$1" = A ] || cp "$CM_TMP/A/db/erasure.key" "$CM_TMP/$1/db/"
	"$CTL" -c "$CM_TMP/$1.yaml" init >/dev/null || exit 1
}
csv() {	# csv PREFIX N STATE TIME
	python3 -c "import sys
p, n, st, t = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
w = sys.stdout.write
w('email,type,state,time,source\n')
for i in range(n):
    w('%s%d@bench.example,weekly-news,%s,%s,bench\n' % (p, i, st, t))" "$@"
}
lag0() { ctl "$1" sync --status --json | python3 -c "import json,sys
s = json.load(sys.stdin); sys.exit(0 if s['lag_events'] == 0 else 1)"; }

node A
ctl A upstream init >/dev/null || exit 1
node B
"$MILTER" -f -c "$CM_TMP/B.yaml" >"$CM_TMP/milter-B.log" 2>&1 &
PIDS+=($!)
wait_for 10 test -S "$CM_TMP/B/milter.sock" || { echo "milter B did not start"; exit 1; }

# ---- propagation
csv p "$NPROP" granted 2026-01-01T00:00:00Z > "$CM_TMP/p.csv"
ctl A import "$CM_TMP/p.csv" >/dev/null
"$CTL" -c "$CM_TMP/B.yaml" sync --follow >"$CM_TMP/sync-B.log" 2>&1 &
syncb=$!
PIDS+=($syncb)
# as deployed: A's service sends what a command could not
"$CTL" -c "$CM_TMP/A.yaml" sync --follow >"$CM_TMP/sync-A.log" 2>&1 &
synca=$!
PIDS+=($synca)
wait_for 60 lag0 B || { echo "B did not catch up"; exit 1; }
python3 "$SRCDIR/bench/upstream_prop.py" "$CTL" "$CM_TMP/A.yaml" \
	"$CM_TMP/B/milter.sock" "$NPROP" || exit 1
kill -TERM "$syncb" "$synca"; wait "$syncb" "$synca" 2>/dev/null

# ---- apply throughput: B receives NTHRU events in one sync
csv t "$NTHRU" granted 2026-01-02T00:00:00Z > "$CM_TMP/t.csv"
t0=${EPOCHREALTIME/./}
ctl A import "$CM_TMP/t.csv" >/dev/null 2>&1
t1=${EPOCHREALTIME/./}
out=$(ctl B sync --once) || { echo "sync B failed"; exit 1; }
echo "$out" | python3 -c "import re,sys
s = sys.stdin.read()
m = re.search(r'received (\d+): (\d+) applied.*\(([0-9.]+) s\)', s)
n, a, t = int(m.group(1)), int(m.group(2)), float(m.group(3))
print('sync apply throughput: %d events received, %d applied in %.3f s: '
      '%.0f events/s (fetch from PostgreSQL and LMDB apply)' % (n, a, t, n / t))"
awk -v n="$NTHRU" -v t=$((t1 - t0)) 'BEGIN { printf "push: %d events imported at A and pushed in %.3f s (%.0f events/s)\n", n, t / 1e6, n / (t / 1e6) }'

# ---- bootstrap of a new node from a store of NBOOT events
have=$(pg_psql -tAc "SELECT count(*) FROM consent_events")
if [ "$have" -lt "$NBOOT" ]; then
	csv b $((NBOOT - have)) granted 2026-01-03T00:00:00Z > "$CM_TMP/b.csv"
	ctl A import "$CM_TMP/b.csv" >/dev/null 2>&1
fi
have=$(pg_psql -tAc "SELECT count(*) FROM consent_events")
node C
t0=${EPOCHREALTIME/./}
ctl C sync --once >/dev/null || { echo "bootstrap failed"; exit 1; }
t1=${EPOCHREALTIME/./}
recs=$(ctl C stats --json | python3 -c "import json,sys; print(json.load(sys.stdin)['records'])")
awk -v n="$have" -v r="$recs" -v t=$((t1 - t0)) 'BEGIN { printf "bootstrap: a new node from a store of %d events (%d records) in %.2f s (%.0f events/s)\n", n, r, t / 1e6, n / (t / 1e6) }'
