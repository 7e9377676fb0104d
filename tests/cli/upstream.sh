#!/usr/bin/env bash
# Two nodes and one shared consent store (issue 15): a private PostgreSQL
# (tests/lib/pg.sh), two index directories sharing erasure.key, a milter
# and a `consentctl sync --follow` each.  Decisions are asked of the
# milters (tests/milter/mproto.py); every wait is for a condition, bounded.
#   withdrawal at A -> refused at B; import at B -> decided at A;
#   PostgreSQL stopped: A's opt-out refused at A at once and queued, B
#   catches up when it is back, the outbox empties, no history doubled;
#   kill -9 of a sync mid-batch and of consentctl mid-import: afterwards
#   both nodes equal, nothing lost or applied twice;
#   erase at A: PostgreSQL's dump and B's data file hold no trace;
#   conflicting events on both nodes while apart converge;
#   an index holding data before it is attached: refused until seeded.
set -u
CTL=$BUILD/consentctl
MILTER=$BUILD/consent-milter
[ -x "$CTL" ] && [ -x "$MILTER" ] || { echo "skip: not built"; exit 77; }
. "$SRCDIR/tests/lib/pg.sh"
. "$SRCDIR/tests/lib/upnode.sh"

PIDS=()
fail() {
	echo "FAIL: $*" >&2
	for f in "$CM_TMP"/*.log; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
	done
	exit 1
}
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	pg_cleanup
}
pg_start
trap cleanup EXIT


node_config() {
	local n=$1
	mkdir -p "$CM_TMP/$n"
	cat > "$CM_TMP/$n.yaml" <<YAML
milter:
  socket: "unix:$CM_TMP/$n/milter.sock"
database:
  path: "$CM_TMP/$n/db"
scope:
  networks: [127.0.0.0/8]
log:
  path: "$CM_TMP/$n/db/decisions"
upstream:
  conninfo: "$PG_CONNINFO"
  password_file: "$PG_PWFILE"
  node: node-$n
  poll_interval: 1h
newsletters:
  - id: weekly-news
    name: "Weekly news"
    consent: opt-in
    match:
      - envelope_sender: "weekly@news.example.com"
YAML
}

start_milter() {
	local n=$1
	"$MILTER" -f -c "$CM_TMP/$n.yaml" >>"$CM_TMP/milter-$n.log" 2>&1 &
	PIDS+=($!)
	eval "MILTER_$n=$!"
	wait_for 10 test -S "$CM_TMP/$n/milter.sock" || fail "milter $n did not start"
}
start_sync() {
	local n=$1; shift
	"$CTL" -c "$CM_TMP/$n.yaml" sync --follow "$@" >>"$CM_TMP/sync-$n.log" 2>&1 &
	PIDS+=($!)
	eval "SYNC_$n=$!"
}
stop_pid() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# decide NODE ADDR: allow or deny, from NODE's milter
decide() {
	local out
	out=$(/usr/bin/python3 "$SRCDIR/tests/milter/mproto.py" "unix:$CM_TMP/$1/milter.sock" \
		--macro M i "" --mail "<weekly@news.example.com>" --rcpt "<$2>") || return 2
	case $out in
	*"RCPT <$2> y 550"*) echo deny ;;
	*"RCPT <$2> c"*) echo allow ;;
	*) echo "? $out" ;;
	esac
}
is_denied() { [ "$(decide "$1" "$2")" = deny ]; }
is_allowed() { [ "$(decide "$1" "$2")" = allow ]; }
records() { ctl "$1" export | sort; }
same_records() { [ "$(records A)" = "$(records B)" ]; }
stat_of() { ctl "$1" stats --json | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }
outbox() { ctl "$1" sync --status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['outbox'])"; }
caught_up() {
	ctl "$1" sync --status --json | python3 -c "import json,sys
s = json.load(sys.stdin)
sys.exit(0 if s['reachable'] and s['lag_events'] == 0 and s['outbox'] == 0 else 1)"
}
converged() { caught_up A && caught_up B && same_records &&
	[ "$(stat_of A history_events)" = "$(stat_of B history_events)" ] &&
	[ "$(stat_of A tombstones)" = "$(stat_of B tombstones)" ]; }


# ---- set-up: the schema, node A, node B with A's key
node_config A
node_config B
ctl A upstream init >"$CM_TMP/init.log" 2>&1 || fail "upstream init: $(cat "$CM_TMP/init.log")"
ctl A init >/dev/null || fail "init A"
mkdir -p "$CM_TMP/B/db"
cp "$CM_TMP/A/db/erasure.key" "$CM_TMP/B/db/erasure.key"
ctl B init >/dev/null || fail "init B"
start_milter A
start_milter B
start_sync A
start_sync B
echo "ok - two nodes, one shared store"

# ---- withdrawal at A -> refused at B
ctl A grant alice@example.net weekly-news --source web >/dev/null 2>"$CM_TMP/err" || fail "grant at A"
[ -s "$CM_TMP/err" ] && fail "grant at A said: $(cat "$CM_TMP/err")"
wait_for 10 is_allowed B alice@example.net || fail "A's grant not allowed at B"
ctl A withdraw alice@example.net weekly-news >/dev/null || fail "withdraw at A"
is_denied A alice@example.net || fail "A's withdrawal not refused at A"
wait_for 10 is_denied B alice@example.net || fail "A's withdrawal not refused at B"
echo "ok - withdrawal at A refused at B"

# ---- a change another program writes (as consent-web does): the index
# is attached, the change goes to the outbox, A's sync sends it (woken by
# the change, long before its poll)
ctl A grant web@example.net weekly-news >/dev/null || fail "grant web"
wait_for 10 is_allowed B web@example.net || fail "web@ not at B"
"$CTL" -d "$CM_TMP/A/db" withdraw web@example.net weekly-news >/dev/null 2>&1 ||
	fail "withdraw with -d"
wait_for 10 is_denied B web@example.net || fail "a change without consentctl's push not sent"
echo "ok - a change made by another program reaches B through A's outbox"

# ---- import at B -> decided at A
{
	echo "email,type,state,time,source"
	for i in $(seq 1 50); do
		echo "imp$i@example.org,weekly-news,granted,2026-01-02T03:04:05Z,crm"
	done
	echo "gone@example.org,weekly-news,withdrawn,2026-01-02T03:04:05Z,crm"
} > "$CM_TMP/imp.csv"
ctl B import "$CM_TMP/imp.csv" >/dev/null 2>&1 || fail "import at B"
wait_for 10 is_allowed A imp50@example.org || fail "B's import not allowed at A"
is_denied A gone@example.org || fail "B's imported withdrawal not refused at A"
wait_for 10 converged || fail "nodes differ after the import"
echo "ok - import at B decided at A"

# ---- PostgreSQL stopped: opt-out at A refused at once, queued, B catches up
hist_b=$(stat_of B history_events)
ctl A grant carol@example.net weekly-news >/dev/null || fail "grant carol"
wait_for 10 is_allowed B carol@example.net || fail "carol not at B"
pg_stop
ctl A withdraw carol@example.net weekly-news >"$CM_TMP/out" 2>"$CM_TMP/err" ||
	fail "withdraw with PostgreSQL down: exit $? $(cat "$CM_TMP/err")"
grep -q "applied locally and queued" "$CM_TMP/err" || fail "no queued message: $(cat "$CM_TMP/err")"
is_denied A carol@example.net || fail "carol not refused at A at once"
is_allowed B carol@example.net || fail "B changed without the store"
[ "$(outbox A)" = 1 ] || fail "A's outbox: $(outbox A)"
ctl A sync --status >"$CM_TMP/status" 2>&1
[ $? -eq 75 ] || fail "sync --status with the store down: not exit 75"
grep -q "unreachable" "$CM_TMP/status" || fail "status: $(cat "$CM_TMP/status")"
ctl A sync --status --json 2>/dev/null | python3 -c "import json,sys
s = json.load(sys.stdin)
assert s['reachable'] is False and s['lag_events'] is None, s
assert s['outbox'] == 1 and s['outbox_oldest'], s
assert s['last_error'] and s['last_error_at'] and s['node'] == 'node-A', s" ||
	fail "sync --status --json with the store down"
ctl A sync --once >/dev/null 2>&1
[ $? -eq 75 ] || fail "sync --once with the store down: not exit 75"
pg_start
wait_for 20 is_denied B carol@example.net || fail "B did not catch up"
wait_for 10 converged || fail "nodes differ after PostgreSQL came back"
[ "$(outbox A)" = 0 ] || fail "A's outbox not empty"
[ "$(stat_of B history_events)" = $((hist_b + 2)) ] ||
	fail "B's history: $(stat_of B history_events), want $((hist_b + 2))"
n=$(pg_psql -tAc "SELECT count(*) FROM consent_events" 2>/dev/null || echo "?")
echo "ok - PostgreSQL down: refused at A at once, queued, B caught up ($n events stored)"

# ---- kill -9 of B's sync mid-batch, of consentctl mid-import
stop_pid "$SYNC_B"
{
	echo "email,type,state,time,source"
	for i in $(seq 1 20000); do
		echo "bulk$i@example.org,weekly-news,granted,2026-02-03T04:05:06Z,crm"
	done
} > "$CM_TMP/bulk.csv"
ctl A import "$CM_TMP/bulk.csv" >/dev/null 2>"$CM_TMP/err" || fail "bulk import at A: $(cat "$CM_TMP/err")"
wait_for 20 caught_up A || fail "A did not push the import"
start_sync B --batch 10
sync_b=$SYNC_B
pos_between() {
	local p
	p=$(ctl B sync --status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['lag_events'])")
	[ "$p" -gt 0 ] && [ "$p" -lt 20000 ]
}
wait_for 20 pos_between || fail "B's sync never seen mid-way"
kill -KILL "$sync_b"
wait "$sync_b" 2>/dev/null
start_sync B
wait_for 30 converged || fail "nodes differ after kill -9 of the sync"
# consentctl killed while it writes: whatever it committed is sent once
{
	echo "email,type,state,time,source"
	for i in $(seq 1 20000); do
		echo "bulk$i@example.org,weekly-news,withdrawn,2026-02-04T04:05:06Z,crm"
	done
} > "$CM_TMP/bulk2.csv"
"$CTL" -c "$CM_TMP/A.yaml" import "$CM_TMP/bulk2.csv" >/dev/null 2>&1 &
imp=$!
# killed once it has read its input: while it applies, commits or pushes
read_input() {
	! kill -0 "$imp" 2>/dev/null ||
		[ "$(awk '/^rchar/ { print $2 }' "/proc/$imp/io" 2>/dev/null || echo 0)" -ge \
		  "$(stat -c %s "$CM_TMP/bulk2.csv")" ]
}
wait_for 20 read_input || fail "the import never read its input"
kill -KILL "$imp" 2>/dev/null
wait "$imp" 2>/dev/null
imp_rc=$?
ctl A sync --once >/dev/null 2>&1
wait_for 30 converged || fail "nodes differ after kill -9 of consentctl"
echo "ok - kill -9 of a sync mid-batch and of consentctl mid-import (exit $imp_rc): both nodes equal"

# ---- erase at A: no trace in PostgreSQL or at B
ctl A grant erin.secret@example.net weekly-news --evidence "form=erin-signup" >/dev/null ||
	fail "grant erin"
wait_for 10 is_allowed B erin.secret@example.net || fail "erin not at B"
ctl A erase erin.secret@example.net >/dev/null || fail "erase at A"
wait_for 10 converged || fail "nodes differ after the erasure"
is_denied B erin.secret@example.net || fail "erased address allowed at B"
grep -qa "erin.secret" "$CM_TMP/B/db/data.mdb" && fail "B's data file holds the address"
grep -qa "erin-signup" "$CM_TMP/B/db/data.mdb" && fail "B's data file holds the evidence"
grep -qa "erin.secret" "$CM_TMP/A/db/data.mdb" && fail "A's data file holds the address"
pg_dump_db > "$CM_TMP/pg.dump" || fail "pg_dump"
grep -qa "erin.secret\|erin-signup" "$CM_TMP/pg.dump" && fail "PostgreSQL's dump holds the address"
grep -q "alice@example.net" "$CM_TMP/pg.dump" || fail "the dump holds nothing (test broken?)"
echo "ok - erase at A: PostgreSQL and B hold only the tombstone"

# ---- conflicting events on both nodes while apart converge
stop_pid "$SYNC_A"
stop_pid "$SYNC_B"
t=2026-03-01T10:00:00Z
ctl A grant dana@example.net weekly-news --at 2026-03-01T09:00:00Z >/dev/null 2>&1 || fail "grant dana"
ctl A sync --once >/dev/null 2>&1
ctl B sync --once >/dev/null 2>&1
ctl A withdraw dana@example.net weekly-news --at $t >/dev/null 2>&1 || fail "withdraw dana at A"
ctl B grant dana@example.net weekly-news --at $t --source other >/dev/null 2>&1 || fail "grant dana at B"
ctl B grant fred@example.net weekly-news --at 2026-03-01T11:00:00Z >/dev/null 2>&1
ctl A withdraw fred@example.net weekly-news --at 2026-03-01T12:00:00Z >/dev/null 2>&1
start_sync A
start_sync B
# the decision of every record (state, time of the last event, time of
# the withdrawal) is the same on both; what a lost grant would have set
# (its source, its grant time) follows the order of arrival
decisions() { records "$1" | cut -d, -f1-4,11; }
same_decisions() { caught_up A && caught_up B &&
	[ "$(decisions A)" = "$(decisions B)" ]; }
wait_for 20 same_decisions || fail "conflicting events did not converge:
$(diff <(decisions A) <(decisions B))"
is_denied A dana@example.net && is_denied B dana@example.net || fail "a tie not won by the withdrawal"
is_denied A fred@example.net && is_denied B fred@example.net || fail "the newer withdrawal lost"
echo "ok - conflicting events converge"

# ---- a new node bootstraps from a snapshot of the store
node_config C
mkdir -p "$CM_TMP/C/db"
cp "$CM_TMP/A/db/erasure.key" "$CM_TMP/C/db/erasure.key"
ctl C init >/dev/null || fail "init C"
ctl C sync --once >"$CM_TMP/out" 2>&1 || fail "bootstrap of C: $(cat "$CM_TMP/out")"
[ "$(decisions C)" = "$(decisions A)" ] || fail "C differs from A after its bootstrap:
$(diff <(decisions A) <(decisions C) | head)"
[ "$(stat_of C tombstones)" = "$(stat_of A tombstones)" ] || fail "C's tombstones"
grep -qa "erin.secret" "$CM_TMP/C/db/data.mdb" && fail "C's data file holds the erased address"
echo "ok - a new node bootstraps: $(cat "$CM_TMP/out")"

# ---- an index that held data before it was attached: refused until
# seeded; seeded, its opt-outs reach the others
node_config D
mkdir -p "$CM_TMP/D/db"
cp "$CM_TMP/A/db/erasure.key" "$CM_TMP/D/db/erasure.key"
"$CTL" -d "$CM_TMP/D/db" init >/dev/null || fail "init D"
"$CTL" -d "$CM_TMP/D/db" grant dora@example.net weekly-news >/dev/null || fail "grant dora"
"$CTL" -d "$CM_TMP/D/db" withdraw dora@example.net weekly-news >/dev/null || fail "withdraw dora"
ctl D grant doris@example.net weekly-news >"$CM_TMP/out" 2>&1
rc=$?
[ $rc -eq 65 ] || fail "attach of a non-empty index: exit $rc, want 65: $(cat "$CM_TMP/out")"
grep -q "sync --seed" "$CM_TMP/out" || fail "no hint to seed: $(cat "$CM_TMP/out")"
ctl A grant dora@example.net weekly-news --at 2021-01-01T00:00:00Z >/dev/null || fail "grant dora at A"
wait_for 10 is_allowed A dora@example.net || fail "dora's grant at A"
ctl D sync --seed --once >"$CM_TMP/out" 2>&1 || fail "sync --seed: $(cat "$CM_TMP/out")"
grep -q "attached as node node-D; 2 events of what the index held queued" "$CM_TMP/out" ||
	fail "sync --seed said: $(cat "$CM_TMP/out")"
wait_for 10 is_denied A dora@example.net || fail "D's withdrawal made before the attach not refused at A"
ctl D grant doris@example.net weekly-news >/dev/null || fail "a change at D after seeding"
echo "ok - a non-empty index is attached only by seeding; its opt-out reaches A"

# ---- detach: the index writes no outbox any more
stop_pid "$SYNC_A"
"$CTL" -d "$CM_TMP/A/db" sync --detach >"$CM_TMP/out" 2>&1 || fail "sync --detach: $(cat "$CM_TMP/out")"
grep -q "detached from the shared store; 0 unsent events dropped" "$CM_TMP/out" ||
	fail "sync --detach said: $(cat "$CM_TMP/out")"
"$CTL" -d "$CM_TMP/A/db" grant zed@example.net weekly-news >/dev/null || fail "grant after detach"
ctl A sync --status --json | python3 -c "import json,sys
s = json.load(sys.stdin); assert s['attached'] is False and s['outbox'] == 0, s" ||
	fail "still attached after sync --detach"
echo "ok - sync --detach"

grep -qE "AddressSanitizer|runtime error:|LeakSanitizer" "$CM_TMP"/*.log && fail "sanitizer report"
exit 0
